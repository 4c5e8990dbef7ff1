import { describe, expect, it } from "vitest";
import type { CaseState } from "../../src/lib/bindings/CaseState";
import { formatDate, statusLabel } from "../../src/lib/format";

describe("German formats", () => {
  it("formats dates as dd.mm.yyyy in German time", () => {
    expect(formatDate("2026-11-23T08:15:00Z")).toBe("23.11.2026");
    // 23:30 UTC on 31 Dec is already New Year in Berlin.
    expect(formatDate("2026-12-31T23:30:00Z")).toBe("01.01.2027");
  });
  it("shows unparsable input unchanged", () => {
    expect(formatDate("kein Datum")).toBe("kein Datum");
  });
  it("labels known states and passes unknown ones through", () => {
    expect(statusLabel("in_pruefung")).toBe("In Prüfung");
    // A state of a newer backend than this UI.
    expect(statusLabel("neu" as CaseState)).toBe("neu");
  });
});

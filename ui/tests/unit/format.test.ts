import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import DateField from "../../src/lib/DateField.svelte";
import type { CaseState } from "../../src/lib/bindings/CaseState";
import { assigneeName, fileType, formatDate, formatNumber, formatSize, isoToGerman, parseGermanDate, statusLabel } from "../../src/lib/format";

describe("German formats", () => {
  it("writes file sizes with German decimals", () => {
    expect(formatSize(0)).toBe("0 Byte");
    expect(formatSize(999)).toBe("999 Byte");
    expect(formatSize(1000)).toBe("1 KB");
    expect(formatSize(12_345)).toBe("12,3 KB");
    expect(formatSize(4_500_000)).toBe("4,5 MB");
    expect(formatSize(2_000_000_000)).toBe("2 GB");
  });
  it("names file types in words", () => {
    expect(fileType("application/pdf")).toBe("PDF");
    expect(fileType("IMAGE/TIFF")).toBe("Bild (TIFF)");
    expect(fileType("application/x-unbekannt")).toBe("application/x-unbekannt");
  });
  it("groups counts the German way", () => {
    expect(formatNumber(4)).toBe("4");
    expect(formatNumber(12345)).toBe("12.345");
    expect(formatNumber(1000000)).toBe("1.000.000");
  });
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

  it("reads a day typed in German order, and only real days", () => {
    expect(parseGermanDate("7.12.2026")).toBe("2026-12-07");
    expect(parseGermanDate(" 07.12.26 ")).toBe("2026-12-07");
    expect(parseGermanDate("2026-12-07")).toBe("2026-12-07");
    expect(parseGermanDate("29.02.2028")).toBe("2028-02-29");
    for (const bad of ["29.02.2027", "31.04.2026", "1.13.2026", "0.1.2026", "12/07/2026", "7.12.", "", "heute"]) {
      expect(parseGermanDate(bad), bad).toBeNull();
    }
    expect(isoToGerman("2026-12-07")).toBe("07.12.2026");
  });

  it("shows and takes dates in German order in the date field", async () => {
    const { container } = render(DateField, { props: { id: "tag", value: "2026-03-09", testid: "tag" } });
    const input = screen.getByTestId("tag") as HTMLInputElement;
    expect(input.value).toBe("09.03.2026");
    await fireEvent.input(input, { target: { value: "7.12.2026" } });
    expect(input.dataset.iso).toBe("2026-12-07");
    // Half typed: no value yet, and no complaint before the field is left.
    await fireEvent.input(input, { target: { value: "31.02.20" } });
    expect(input.dataset.iso).toBe("");
    expect(container.querySelector(".kern-error")).toBeNull();
    await fireEvent.blur(input);
    expect(screen.getByRole("alert").textContent).toContain("TT.MM.JJJJ");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    await fireEvent.input(input, { target: { value: "28.02.2026" } });
    expect(input.dataset.iso).toBe("2026-02-28");
    expect(screen.queryByRole("alert")).toBeNull();
  });
});

describe("assigneeName", () => {
  const me = { username: "sb1", displayName: "Sam Bearbeitung" };
  const workers = [{ username: "m.mueller", displayName: "Maria Müller" }];
  it("shows display names where known, else the user name", () => {
    expect(assigneeName("sb1", me, workers)).toBe("Sam Bearbeitung");
    expect(assigneeName("m.mueller", me, workers)).toBe("Maria Müller");
    expect(assigneeName("k.unbekannt", me, [])).toBe("k.unbekannt");
  });
});

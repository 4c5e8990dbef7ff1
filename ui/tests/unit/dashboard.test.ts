// The Leitung's dashboard through the real tauriBackend under mockIPC: figures shown in
// German formats, every count opens the cases behind it.
import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { mockIPC } from "@tauri-apps/api/mocks";
import Dashboard from "../../src/lib/Dashboard.svelte";
import { tauriBackend } from "../../src/lib/backend";
import type { Figures } from "../../src/lib/bindings/Figures";
import type { Group } from "../../src/lib/bindings/Group";
import type { Report } from "../../src/lib/bindings/Report";

const stats = (median: number | null) => ({ count: median === null ? 0 : 3, medianDays: median, p90Days: median === null ? null : median * 2, meanDays: median });
const figures = (decided: number, median: number | null): Figures => ({
  arrivals: 12,
  decided,
  dispatched: 2,
  decidedPerWeek: decided / 4,
  arrivalToDecision: stats(median),
  arrivalToDispatch: stats(null),
  completeToDecision: stats(null),
  completeToDispatch: stats(null),
  processing: stats(median),
  waitingForCitizen: stats(1.5),
  daysPerState: [],
  nachforderungsquote: 0.25,
  nachforderungenMean: 0.3,
});
const group = (key: string, label: string): Group => ({
  key,
  label,
  current: figures(3, 6.25),
  previous: figures(1, 10),
  backlog: { open: 4, byAge: [1, 1, 1, 1], dueSoon: 2, overdue: 1 },
});
const report: Report = {
  from: "2026-11-02",
  until: "2026-11-29",
  total: group("alle", "Alle Vorgänge"),
  byType: [group("typ:Gewerbeanmeldung", "Gewerbeanmeldung")],
  byChannel: [group("kanal:online", "online"), group("kanal:papier", "Papier")],
  weeks: [{ start: "2026-11-02", decided: 0, arrivals: 2 }],
  persons: null,
  personsSuppressed: 0,
};

describe("dashboard", () => {
  it("shows the figures and opens the cases behind a number", async () => {
    const drills: unknown[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "report":
          return report;
        case "deadline_changes":
          return [];
        case "report_cases":
          drills.push(args);
          return [{ id: "c1", fileNumber: "GEW-2026-0100007", caseType: "Gewerbeanmeldung", stateLabel: "Entschieden", receivedAt: "2026-11-03T08:00:00Z" }];
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    const opened: string[] = [];
    render(Dashboard, { backend: tauriBackend, onOpen: (id: string) => opened.push(id) });
    expect((await screen.findByTestId("kpi-median")).textContent).toBe("6,3 Tage (P90 12,5 Tage)");
    expect(screen.getAllByText("25 %").length).toBe(2);
    expect(screen.getByText(/02\.11\.2026 bis 29\.11\.2026/)).toBeTruthy();
    expect(screen.queryByTestId("dash-persons")).toBeNull();
    await fireEvent.click(screen.getByTestId("kpi-decided"));
    await waitFor(() => expect(screen.getByTestId("dash-drill").textContent).toContain("1 Vorgänge"));
    expect(drills[0]).toMatchObject({ group: "alle", metric: "decided" });
    await fireEvent.click(screen.getByRole("button", { name: "GEW-2026-0100007" }));
    expect(opened).toEqual(["c1"]);
  });

  it("lists the deadlines the legal review changed, with the old and the new date", async () => {
    mockIPC((cmd) => {
      switch (cmd) {
        case "report":
          return report;
        case "deadline_changes":
          return [{ id: "c9", fileNumber: "GEW-2026-0100009", caseType: "Gewerbeanmeldung", previous: "2027-02-26", current: "2026-11-23" }];
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    const opened: string[] = [];
    render(Dashboard, { backend: tauriBackend, onOpen: (id: string) => opened.push(id) });
    const list = await screen.findByTestId("deadline-changes");
    expect(list.textContent).toContain("1 Vorgänge");
    expect(list.textContent).toContain("26.02.2027");
    expect(list.textContent).toContain("23.11.2026");
    await fireEvent.click(screen.getByRole("button", { name: "GEW-2026-0100009" }));
    expect(opened).toEqual(["c9"]);
  });

  it("shows nothing about changed deadlines when none changed", async () => {
    mockIPC((cmd) => (cmd === "report" ? report : cmd === "deadline_changes" ? [] : Promise.reject(new Error(cmd))));
    render(Dashboard, { backend: tauriBackend, onOpen: () => {} });
    await screen.findByTestId("kpi-median");
    expect(screen.queryByTestId("deadline-changes")).toBeNull();
    expect(screen.queryByTestId("deadline-changes-error")).toBeNull();
  });
});

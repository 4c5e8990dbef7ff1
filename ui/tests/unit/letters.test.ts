// The letter panel through the real tauriBackend with Tauri's IPC replaced by mockIPC:
// draft, fee items, edited text blocks, sending, the per-case outbox.
import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { mockIPC } from "@tauri-apps/api/mocks";
import LetterPanel from "../../src/lib/LetterPanel.svelte";
import { tauriBackend } from "../../src/lib/backend";
import type { LetterRequest } from "../../src/lib/bindings/LetterRequest";
import type { LetterView } from "../../src/lib/bindings/LetterView";
import type { OutboxView } from "../../src/lib/bindings/OutboxView";
import { formatEuro } from "../../src/lib/format";

function view(req: LetterRequest, blocked: string | null, channels = ["postfach", "post"]): LetterView {
  const units = req.fees[0]?.menge ?? 1;
  const total = 3500 + units * 150;
  return {
    kinds: ["eingangsbestaetigung", "bescheid"],
    channels,
    tariff: [{ stelle: "SNB-02", bezeichnung: "Baustelleneinrichtung", art: "einheit", betragCent: 150, minCent: 0, maxCent: 0, einheit: "m² und Tag" }],
    fees: req.fees.length ? req.fees : [{ stelle: "SNB-02", betragCent: null, menge: 1, ermaessigungProzent: null, begruendung: null }],
    paidOnline: null,
    replyChannel: null,
    blocked,
    draft: {
      kind: req.kind,
      ergebnis: req.kind === "bescheid" ? "bewilligt" : null,
      betreff: "Bescheid – Sondernutzung; Ihr Antrag vom 02.11.2026",
      rechtsbehelf: "Klage",
      fees: { lines: [], totalCent: total, kassenzeichen: "(wird beim Versand vergeben)", faelligAm: "2026-12-27", bezahltReferenz: null, bezahltCent: null, rechtsgrundlagen: [] },
      blocks: [
        { key: "tenor", title: "Bescheid", text: "1. Ihrem Antrag wird stattgegeben.", editable: true },
        { key: "rechtsbehelf", title: "Rechtsbehelfsbelehrung", text: "Gegen diesen Bescheid können Sie Klage erheben.", editable: false },
      ],
    },
  };
}

describe("letters", () => {
  it("builds the request from fees and edited text, sends it and shows the outbox", async () => {
    const requests: [string, LetterRequest][] = [];
    let outbox: OutboxView[] = [];
    let blocked: string | null = null;
    mockIPC((cmd, args) => {
      const req = (args as { request: LetterRequest }).request;
      switch (cmd) {
        case "letter_view":
          requests.push([cmd, req]);
          return view(req, blocked);
        case "case_outbox":
          return outbox;
        case "send_letter":
          requests.push([cmd, req]);
          outbox = [
            { what: "Brief an das Portal (FIT-Connect-Einreichung)", state: "wartet", attempts: 0, error: null },
            { what: "Annahmeanordnung an die Kasse", state: "fehlgeschlagen", attempts: 5, error: "Kassenordner nicht erreichbar" },
          ];
          return {};
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    let sent = 0;
    render(LetterPanel, { backend: tauriBackend, caseId: "c".repeat(32), caseState: "entschieden", onSent: () => sent++ });
    // The Bescheid is chosen for a decided case; the Rechtsbehelfsbelehrung is fixed.
    expect(((await screen.findByTestId("letter-kind")) as HTMLSelectElement).value).toBe("bescheid");
    expect(screen.getByText("Gegen diesen Bescheid können Sie Klage erheben.")).toBeTruthy();
    expect(screen.queryByTestId("letter-block-rechtsbehelf")).toBeNull();
    expect(screen.getByTestId("letter-total").textContent).toBe(formatEuro(3650));
    // More units: the total is computed again by the workstation.
    await fireEvent.change(screen.getByLabelText(/Menge/), { target: { value: "10" } });
    await waitFor(() => expect(screen.getByTestId("letter-total").textContent).toBe("50,00 €"));
    await fireEvent.input(screen.getByTestId("letter-block-tenor"), { target: { value: "1. Die Sondernutzung wird erlaubt." } });
    await fireEvent.click(screen.getByTestId("letter-send"));
    await waitFor(() => expect(sent).toBe(1));
    const [, req] = requests.filter(([c]) => c === "send_letter")[0];
    expect(req.kind).toBe("bescheid");
    expect(req.kanal).toBe("postfach");
    expect(req.fees[0].menge).toBe(10);
    expect(req.edits).toEqual([{ key: "tenor", title: "Bescheid", text: "1. Die Sondernutzung wird erlaubt.", editable: true }]);
    expect(screen.getByTestId("letters-message").textContent).toContain("Portal (FIT-Connect)");
    const states = (await screen.findAllByTestId("outbox-state")).map((e) => e.textContent);
    expect(states).toEqual(["wartet", "fehlgeschlagen"]);
    expect(screen.getByText("Kassenordner nicht erreichbar")).toBeTruthy();

    // A letter that cannot go out says why and cannot be sent.
    blocked = "Es ist kein Kassenordner (HKR) eingerichtet.";
    await fireEvent.click(screen.getByTestId("letter-channel-post"));
    expect((await screen.findByTestId("letter-blocked")).textContent).toContain("Kassenordner");
    expect((screen.getByTestId("letter-send") as HTMLButtonElement).disabled).toBe(true);
  });

  it("offers the e-mail the citizen asked for first and sends by it", async () => {
    const requests: [string, LetterRequest][] = [];
    mockIPC((cmd, args) => {
      const req = (args as { request: LetterRequest }).request;
      switch (cmd) {
        case "letter_view":
          requests.push([cmd, req]);
          // The workstation blocks a channel it does not offer.
          return view(req, ["email", "postfach", "post"].includes(req.kanal) ? null : `Unbekannter Versandweg „${req.kanal}“.`, ["email", "postfach", "post"]);
        case "case_outbox":
          return [];
        case "send_letter":
          requests.push([cmd, req]);
          return {};
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(LetterPanel, { backend: tauriBackend, caseId: "c".repeat(32), caseState: "entschieden", onSent: () => {} });
    const email = (await screen.findByTestId("letter-channel-email")) as HTMLInputElement;
    await waitFor(() => expect(email.checked).toBe(true));
    expect(screen.getByLabelText("E-Mail, verschlüsselt (wie gewünscht)")).toBe(email);
    // The first view's unknown channel never shows: it was asked again for e-mail.
    expect(screen.queryByTestId("letter-blocked")).toBeNull();
    expect(requests.map(([, r]) => r.kanal)).toContain("email");
    await fireEvent.click(screen.getByTestId("letter-send"));
    await waitFor(() => expect(requests.some(([c]) => c === "send_letter")).toBe(true));
    expect(requests.find(([c]) => c === "send_letter")?.[1].kanal).toBe("email");
    expect(screen.getByTestId("letters-message").textContent).toContain("verschlüsselten Versand per E-Mail");
  });

  it("offers the BundID mailbox the citizen asked for first and sends by it", async () => {
    const requests: [string, LetterRequest][] = [];
    mockIPC((cmd, args) => {
      const req = (args as { request: LetterRequest }).request;
      switch (cmd) {
        case "letter_view":
          requests.push([cmd, req]);
          return view(req, ["bundid", "post"].includes(req.kanal) ? null : `Unbekannter Versandweg „${req.kanal}“.`, ["bundid", "post"]);
        case "case_outbox":
          return [];
        case "send_letter":
          requests.push([cmd, req]);
          return {};
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(LetterPanel, { backend: tauriBackend, caseId: "c".repeat(32), caseState: "entschieden", onSent: () => {} });
    const bundid = (await screen.findByTestId("letter-channel-bundid")) as HTMLInputElement;
    await waitFor(() => expect(bundid.checked).toBe(true));
    expect(screen.getByLabelText("BundID-Postfach (wie gewünscht)")).toBe(bundid);
    expect(screen.queryByTestId("letter-blocked")).toBeNull();
    await fireEvent.click(screen.getByTestId("letter-send"));
    await waitFor(() => expect(requests.some(([c]) => c === "send_letter")).toBe(true));
    expect(requests.find(([c]) => c === "send_letter")?.[1].kanal).toBe("bundid");
    expect(screen.getByTestId("letters-message").textContent).toContain("in das BundID-Postfach");
  });

  it("hands the preview to the case view and keeps the focus when the letter's button is gone", async () => {
    let sent = false;
    mockIPC((cmd, args) => {
      const req = (args as { request: LetterRequest }).request;
      switch (cmd) {
        case "letter_view":
          // Once sent, no further letter is foreseen in this state.
          return sent ? { ...view(req, null), kinds: [] } : view(req, null);
        case "letter_preview":
          return btoa("%PDF-1.4 Vorschau");
        case "case_outbox":
          return [];
        case "send_letter":
          sent = true;
          return {};
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    const previews: (string | null)[] = [];
    const onPreview = (pdf: Uint8Array | null) => previews.push(pdf ? new TextDecoder().decode(pdf) : null);
    const r = render(LetterPanel, { backend: tauriBackend, caseId: "c".repeat(32), caseState: "entschieden", onSent: () => {}, onPreview });
    await fireEvent.click(await screen.findByTestId("letter-preview"));
    await waitFor(() => expect(previews).toContain("%PDF-1.4 Vorschau"));
    // Shown by the case view, not in the panel.
    expect(screen.queryByTestId("letter-preview-pages")).toBeNull();
    const send = screen.getByTestId("letter-send");
    send.focus();
    await fireEvent.click(send);
    await waitFor(() => expect(sent).toBe(true));
    await r.rerender({ caseState: "versandt" });
    await screen.findByText("In diesem Bearbeitungsstand ist kein Brief vorgesehen.");
    expect(screen.queryByTestId("letter-send")).toBeNull();
    // The state moved on: the preview is withdrawn, the focus is on what happened.
    await waitFor(() => expect(previews.at(-1)).toBeNull());
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("letters-message")));
  });

  it("formats amounts like the letters do", () => {
    expect(formatEuro(123456)).toBe("1.234,56 €");
    expect(formatEuro(5)).toBe("0,05 €");
    expect(formatEuro(100000000)).toBe("1.000.000,00 €");
  });
});

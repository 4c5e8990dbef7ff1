// Installs a fake `window.__TAURI_INTERNALS__` before the app loads, so the real
// UI bundle (and its real tauriBackend) runs in a plain browser.
import type { Page } from "@playwright/test";

export async function installFakeBackend(page: Page): Promise<void> {
  await page.addInitScript(() => {
    // A test may ask for a short inactivity lock (sessionStorage survives reloads).
    const lockAfter = Number(sessionStorage.getItem("fake-lock-after") ?? "600");
    const sb = { username: "sb1", displayName: "Sam Bearbeitung", role: "sachbearbeitung", roleLabel: "Sachbearbeitung", screenLocked: false, lockAfterSeconds: lockAfter, caseKeyPending: false, scanKeyPending: false };
    let session: typeof sb | null = null;
    // Office mode: a test may start with the server's session ended.
    let officeSignedIn = sessionStorage.getItem("fake-office-expired") === null;
    const items = [
      { id: "1", fileNumber: "MB-2026-000017", caseType: "Meldebescheinigung", applicant: "Jörg Weiß", status: "eingegangen", receivedAt: "2026-11-23T08:15:00Z", deadline: null, due: null, assignedTo: null },
      { id: "2", fileNumber: "HS-2026-000004", caseType: "Hundesteuer-Anmeldung", applicant: "Ayşe Öztürk", status: "in_pruefung", receivedAt: "2026-11-20T13:02:00Z", deadline: null, due: null, assignedTo: null },
    ];
    // A test may ask for a full work list (sessionStorage survives reloads): 118 more
    // cases, their deadlines spread over November and December.
    const names = ["Schulz", "Nowak", "Yılmaz", "Becker", "Hoffmann", "Krüger"];
    const types = ["Gewerbeanmeldung", "Sondernutzung für Baustelleneinrichtung", "Erlaubnis als Immobilienmakler", "Hundesteuer-Anmeldung"];
    const many = () => sessionStorage.getItem("fake-many") === null
      ? []
      : Array.from({ length: 118 }, (_, i) => {
          const due = `2026-${i % 2 ? "11" : "12"}-${String(1 + ((i * 7) % 28)).padStart(2, "0")}`;
          return {
            id: `m${i}`,
            fileNumber: `GEW-2026-${String(100 + i).padStart(6, "0")}`,
            // The town's real names, the long ones included (they must not make a row two lines high).
            caseType: types[i % types.length],
            applicant: `Person ${names[i % names.length]} ${i}`,
            status: i % 3 ? "in_bearbeitung" : "eingegangen",
            receivedAt: `2026-11-${String(1 + (i % 19)).padStart(2, "0")}T09:${String(i % 60).padStart(2, "0")}:00Z`,
            deadline: due < "2026-12-04" ? "fristAbgelaufen" : "imPlan",
            due,
            assignedTo: i % 4 === 0 ? null : "sb1",
          };
        });
    let state = "inPruefung";
    // Office mode: one step the Rathaus-Server refused.
    const conflicts = [
      {
        seq: 3,
        at: "2026-12-03T08:15:00Z",
        fileNumber: "HS-2026-000004",
        what: "Bearbeitungsschritt",
        reason: "„Entscheiden“ wurde nicht übernommen: Der Vorgang HS-2026-000004 wurde inzwischen geändert und steht jetzt auf „In Bearbeitung“.",
        stateNow: "in_bearbeitung",
        assigneeNow: "sb1",
      },
    ];
    const notes: { at: string; author: string; text: string }[] = [];
    let mailSettings: { host: string; port: number; security: string; user: string | null; passwordSet: boolean; from: string; fromName: string | null; caSet: boolean } | null = null;
    let keyRequest: { created: string; encryptionKid: string; signatureKid: string; certified: boolean; files: string[] } | null = null;
    let adminUsers = [
      { username: "admin", displayName: "Alex Admin", role: "admin", roleLabel: "Administration", lockedUntil: null as string | null, own: true, keys: [] as string[] },
      { username: "sb1", displayName: "Sam Bearbeitung", role: "sachbearbeitung", roleLabel: "Sachbearbeitung", lockedUntil: "03.12.2026 18:45 Uhr" as string | null, own: false, keys: ["Vorgangsinhalte: freigegeben"] },
    ];
    // The administration's backup: four days old, so the warning shows.
    let backup = {
      settings: { folder: "/media/usb/amtsstube", keep: 14, intervalHours: 24, warnAfterDays: 3 } as { folder: string; keep: number; intervalHours: number; warnAfterDays: number } | null,
      keyReady: true,
      lastGood: "2026-11-29T17:00:00Z" as string | null,
      lastFile: "/media/usb/amtsstube/amtsstube-20261129-180000.sicherung.age" as string | null,
      lastBytes: 2_500_000 as number | null,
      lastError: null as string | null,
      due: true,
      warning: "Die letzte gelungene Datensicherung ist 4 Tage alt." as string | null,
    };
    const detail = () => ({
      id: "2",
      fileNumber: "HS-2026-000004",
      caseType: "Hundesteuer-Anmeldung",
      applicant: "Ayşe Öztürk",
      state,
      stateLabel: state === "inPruefung" ? "In Prüfung" : "In Bearbeitung",
      receivedAt: "2026-11-20T13:02:00Z",
      channel: "online",
      portalCaseId: "6f1c2a4e-0000-4000-8000-000000000001",
      assignedTo: "sb1",
      tasks: [] as string[],
      allowedActions: state === "inPruefung" ? ["nachfordern", "vollstaendig", "zurueckziehen", "weiterleiten"] : ["nachfordern", "entscheiden", "zurueckziehen", "weiterleiten"],
      checklist: [
        { item: "Halterdaten vollständig", checked: true, checkedBy: "sb1" },
        { item: "Rasse und Anzahl der Hunde angegeben", checked: false, checkedBy: null },
      ],
      deadlines: { target: "2026-12-04", legal: state === "inPruefung" ? null : "2027-02-23", clock: "fachfrist", legalBasis: "§ 15 Abs. 1 GewO", periodStart: state === "inPruefung" ? null : "2026-11-20", originalEnd: null, inactionFrom: "2027-02-20", status: "imPlan", extended: false, extensionPossible: false, requestWarning: null, deemedDelivery: null },
      history: [
        { at: "2026-11-20T13:02:00Z", actor: "portal", kind: "eingang", fromState: null, toState: "eingegangen", detail: null },
        { at: "2026-11-23T09:00:00Z", actor: "sb1", kind: "pruefung_beginnen", fromState: "eingegangen", toState: "in_pruefung", detail: null },
      ],
      notes,
      documents: [
        { id: "4", kind: "data", filename: null, mimeType: "application/json", size: 1_234, origin: "Antrag", addedAt: "2026-11-20T13:02:00Z" },
        { id: "5", kind: "attachment", filename: "Haftpflicht.pdf", mimeType: "application/pdf", size: 48_210, origin: "Nachreichung 1", addedAt: "2026-11-24T10:15:00Z" },
      ],
    });
    // A one-page PDF: the letter preview and the attached document.
    const onePagePdf = "JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCA1OTUgODQyXSAvQ29udGVudHMgNCAwIFIgL1Jlc291cmNlcyA8PCAvRm9udCA8PCAvRjEgNSAwIFIgPj4gPj4gPj4KZW5kb2JqCjQgMCBvYmoKPDwgL0xlbmd0aCA2MiA+PgpzdHJlYW0KQlQgL0YxIDE0IFRmIDcyIDc2MCBUZCAoRWluZ2FuZ3NiZXN0YWV0aWd1bmcgLSBWb3JzY2hhdSkgVGogRVQKZW5kc3RyZWFtCmVuZG9iago1IDAgb2JqCjw8IC9UeXBlIC9Gb250IC9TdWJ0eXBlIC9UeXBlMSAvQmFzZUZvbnQgL0hlbHZldGljYSA+PgplbmRvYmoKeHJlZgowIDYKMDAwMDAwMDAwMCA2NTUzNSBmIAowMDAwMDAwMDA5IDAwMDAwIG4gCjAwMDAwMDAwNTggMDAwMDAgbiAKMDAwMDAwMDExNSAwMDAwMCBuIAowMDAwMDAwMjQxIDAwMDAwIG4gCjAwMDAwMDAzNTMgMDAwMDAgbiAKdHJhaWxlcgo8PCAvU2l6ZSA2IC9Sb290IDEgMCBSID4+CnN0YXJ0eHJlZgo0MjMKJSVFT0YK";
    const w = window as unknown as Record<string, unknown>;
    w.__TAURI_INTERNALS__ = {
      metadata: { currentWindow: { label: "main" }, currentWebview: { label: "main", windowLabel: "main" } },
      transformCallback: () => 0,
      invoke: async (cmd: string, args: Record<string, unknown>) => {
        switch (cmd) {
          case "session":
            return session;
          case "login": {
            const r = args.request as { username: string; password: string };
            if (r.username === "sb1" && r.password === "richtig-richtig") {
              session = sb;
              return sb;
            }
            if (r.username === "scan" && r.password === "richtig-richtig") {
              session = { ...sb, username: "scan", displayName: "Sina Scan", role: "scanstelle", roleLabel: "Scanstelle" };
              return session;
            }
            if (r.username === "scan-neu" && r.password === "richtig-richtig") {
              session = { ...sb, username: "scan-neu", displayName: "Nele Scan", role: "scanstelle", roleLabel: "Scanstelle", scanKeyPending: true };
              return session;
            }
            if (r.username === "admin" && r.password === "richtig-richtig") {
              session = { ...sb, username: "admin", displayName: "Alex Admin", role: "admin", roleLabel: "Administration" };
              return session;
            }
            if (r.username === "leitung" && r.password === "richtig-richtig") {
              session = { ...sb, username: "leitung", displayName: "Lena Leitung", role: "leitung", roleLabel: "Leitung" };
              return session;
            }
            throw { code: "wrongCredentials", message: "Benutzername oder Passwort ist falsch. Noch 4 Versuch(e) bis zur Sperre." };
          }
          case "sync_status":
            return {
              configured: true,
              connectivity: "online",
              lastSuccess: "2026-11-23T13:05:00Z",
              pending: 2,
              failed: 0,
              running: true,
              progress: { phase: "abholen", done: 12, total: 40 },
              nextRun: null,
            };
          case "office_status":
            if (sessionStorage.getItem("fake-alone") !== null) {
              return { state: "allein", server: null, workstation: null, position: null, applied: null, message: "Allein an diesem PC (kein Rathaus-Server).", signedIn: false, waiting: 0, conflicts: 0 };
            }
            return {
              state: officeSignedIn ? "verbunden" : "anmeldung_abgelaufen",
              server: "https://rathaus:8443",
              workstation: "w1",
              position: 42,
              message: officeSignedIn
                ? "Verbunden mit dem Rathaus-Server https://rathaus:8443."
                : "Die Anmeldung am Rathaus-Server ist abgelaufen.",
              signedIn: officeSignedIn,
              waiting: 2,
              conflicts: conflicts.length,
            };
          case "setup_due":
            return sessionStorage.getItem("fake-setup-due") !== null;
          case "export_folder":
            return "/home/admin/Downloads";
          case "setup_recovery_sheet":
            return `${args.folder as string}/wiederherstellungsschluessel.pdf`;
          case "restore_first_run":
            sessionStorage.removeItem("fake-setup-due");
            return { createdAt: "2026-12-03T18:00:00Z", cases: 620, documents: 1400, auditIntact: true, configuration: ["gemeinde.toml"] };
          case "setup_forget_recovery":
            return null;
          case "first_run":
            sessionStorage.removeItem("fake-setup-due");
            return { recoveryKey: "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ7XK2M9PA", office: null };
          case "office_sign_in": {
            if ((args.password as string) !== "richtig-richtig") {
              throw { code: "wrongCredentials", message: "Das Passwort ist falsch (Rathaus-Server)." };
            }
            officeSignedIn = true;
            sessionStorage.removeItem("fake-office-expired");
            return { role: "sachbearbeitung", expiresAt: "2026-12-03T18:00:00Z", publishedKey: false, created: [], granted: [], holds: ["fall"], offline: false };
          }
          case "office_conflicts":
            return conflicts;
          case "office_conflict_done":
          case "office_conflict_redo": {
            const seq = args.seq as number;
            const at = conflicts.findIndex((c) => c.seq === seq);
            if (at >= 0) conflicts.splice(at, 1);
            return null;
          }
          case "sync_now":
            return { newCases: 0, followUps: 0, quarantined: 0, delivered: 2, pending: 0, failed: 0, connectivity: "online", problem: null };
          case "case_detail":
            return detail();
          case "case_action":
            state = "inBearbeitung";
            return detail();
          case "set_check":
            return null;
          case "letter_preview":
            return onePagePdf;
          case "document":
            return args.documentId === "4"
              ? { filename: null, mimeType: "application/json", contentBase64: btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify({ halter: { name: "Ayşe Öztürk", ort: "Musterstadt" }, hund: { rasse: "Mischling" } })))) }
              : { filename: "Haftpflicht.pdf", mimeType: "application/pdf", contentBase64: onePagePdf };
          case "letter_view": {
            const r = args.request as { kind: string; fees: unknown[] };
            return {
              kinds: ["eingangsbestaetigung", "gebuehrenbescheid"],
              channels: ["postfach", "post"],
              tariff: [{ stelle: "HST-02", bezeichnung: "Steuermarke (Ersatz)", art: "fest", betragCent: 500, minCent: 0, maxCent: 0, einheit: "" }],
              fees: r.fees.length ? r.fees : [{ stelle: "HST-02", betragCent: null, menge: null, ermaessigungProzent: null, begruendung: null }],
              paidOnline: null,
              blocked: null,
              draft: {
                kind: r.kind,
                ergebnis: null,
                betreff: "Eingangsbestätigung – Hundesteuer-Anmeldung; Ihr Antrag vom 20.11.2026",
                rechtsbehelf: null,
                fees: null,
                blocks: [
                  { key: "anrede", title: "", text: "Sehr geehrte Damen und Herren,", editable: true },
                  { key: "einleitung", title: "", text: "Ihr Antrag ist am 20.11.2026 bei uns eingegangen.", editable: true },
                  { key: "rechtsbehelfe", title: "Rechtsbehelfe", text: "Diese Eingangsbestätigung ist selbst keine Entscheidung.", editable: false },
                ],
              },
            };
          }
          case "report": {
            const stats = (m: number | null) => ({ count: m === null ? 0 : 9, medianDays: m, p90Days: m === null ? null : m * 2, meanDays: m });
            const figures = (d: number) => ({
              arrivals: 14, decided: d, dispatched: d - 1, decidedPerWeek: d / 4,
              arrivalToDecision: stats(6.5), arrivalToDispatch: stats(7), completeToDecision: stats(3), completeToDispatch: stats(4),
              processing: stats(5), waitingForCitizen: stats(1.5), daysPerState: [], nachforderungsquote: 0.3, nachforderungenMean: 0.4,
            });
            const group = (key: string, label: string) => ({ key, label, current: figures(12), previous: figures(9), backlog: { open: 6, byAge: [2, 2, 1, 1], dueSoon: 2, overdue: 1 } });
            return {
              from: "2026-08-25", until: "2026-11-23",
              total: group("alle", "Alle Vorgänge"),
              byType: [group("typ:Gewerbeanmeldung", "Gewerbeanmeldung"), group("typ:Meldebescheinigung", "Meldebescheinigung")],
              byChannel: [group("kanal:online", "online"), group("kanal:papier", "Papier")],
              weeks: [{ start: "2026-11-02", decided: 3, arrivals: 4 }, { start: "2026-11-09", decided: 5, arrivals: 2 }],
              persons: null, personsSuppressed: 0,
            };
          }
          case "deadline_changes":
            return [{ id: "2", fileNumber: "GEW-2026-0100007", caseType: "Gewerbeanmeldung", previous: "2027-02-26", current: "2026-11-23" }];
          case "report_cases":
            return [{ id: "2", fileNumber: "HS-2026-000004", caseType: "Hundesteuer-Anmeldung", stateLabel: "In Prüfung", receivedAt: "2026-11-20T13:02:00Z" }];
          case "case_outbox":
            return [{ what: "Eingangsbestätigung an das Portal", state: "bestätigt", attempts: 1, error: null }];
          case "scan_setup":
            return {
              procedure: "Posteingang Bürgerbüro (ersetzendes Scannen, Version 1.0 vom 01.11.2026)",
              classes: [
                { code: "antrag", name: "Anträge und Nachweise", mode: "ersetzend", protectionNeed: "Integrität hoch", fourEyes: false, fullCheck: false, samplePercent: 25 },
                { code: "gebunden", name: "Gebundene Vorlagen", mode: "nicht scannen", protectionNeed: "normal", fourEyes: false, fullCheck: false, samplePercent: 0 },
              ],
              checklist: [["vollstaendig", "Vollständig: alle Seiten des Originals sind erfasst"], ["reihenfolge", "Reihenfolge der Seiten stimmt"]],
              flags: [["kopie", "Vorlage ist eine Kopie"]],
              caseTypes: [["HST", "Hundesteuer-Anmeldung"]],
              hotFolder: "/srv/scanner",
              ocr: "Texterkennung aus: tesseract ist nicht installiert.",
            };
          case "scan_queue":
            return [
              { id: "p1", name: "antrag-1.jpg", mimeType: "image/jpeg", pages: 1, receivedAt: "2026-12-01T08:00:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: null },
              { id: "p2", name: "stapel.tif", mimeType: "image/tiff", pages: 3, receivedAt: "2026-12-01T08:01:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: null },
              { id: "p7", name: "antraege.pdf", mimeType: "application/pdf", pages: 3, receivedAt: "2026-12-01T08:02:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: null },
            ];
          case "scan_split":
            return [
              { id: "p3", name: "stapel.tif – Teil 1 von 2 (Seite 1 bis 1)", mimeType: "image/tiff", pages: 1, receivedAt: "2026-12-01T08:01:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: 1 },
              { id: "p4", name: "stapel.tif – Teil 2 von 2 (Seite 2 bis 3)", mimeType: "image/tiff", pages: 2, receivedAt: "2026-12-01T08:01:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: 2 },
            ];
          case "scan_separators":
            return [2];
          case "save_export": {
            const exp = args.export as { kind: string; copies?: number; request?: { from: string; until: string } };
            if (exp.kind === "separatorSheets") {
              if (typeof exp.copies !== "number" || exp.copies < 1 || exp.copies > 100) {
                throw { code: "invalidInput", message: "Bitte 1 bis 100 Trennblätter auf einmal drucken." };
              }
              return "/home/scan/Downloads/trennblaetter.pdf";
            }
            if (exp.kind === "releaseList") return "/home/scan/Downloads/freigabeliste-vernichtung.pdf";
            const ext = exp.kind === "reportCsv" ? "csv" : "pdf";
            return `/home/leitung/Downloads/kennzahlen-${exp.request?.from}-bis-${exp.request?.until}.${ext}`;
          }
          case "scan_split_separators":
            return [
              { id: "p5", name: "stapel.tif – Teil 1 von 2 (Seite 1 bis 1)", mimeType: "image/tiff", pages: 1, receivedAt: "2026-12-01T08:01:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: 1 },
              { id: "p6", name: "stapel.tif – Teil 2 von 2 (Seite 3 bis 3)", mimeType: "image/tiff", pages: 1, receivedAt: "2026-12-01T08:01:00Z", scanUser: "scan", batch: "ST-2026-0001", class: "Anträge und Nachweise", fullCheck: true, fourEyes: false, firstPage: 3 },
            ];
          case "scan_thumbnail":
          case "scan_page":
            // A 1×1 white PNG per page.
            return { filename: `stapel.tif – Seite ${args.page}`, mimeType: "image/png", contentBase64: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC" };
          case "scan_batches":
            return [{ id: "b1", number: "ST-2026-0001", class: "Anträge und Nachweise", box: "Karton 7", expectedPages: 3, pagesCaptured: 1, flags: [], state: "offen", products: 1, productsChecked: 0, createdAt: "2026-12-01T07:55:00Z", createdBy: "scan", released: null, destroyed: null, obstacles: ["Die Vollständigkeitsprüfung ist nicht bestanden (Seitenzahl weicht ab)."] }];
          case "scan_intake":
          case "scan_intake_log":
            return [{ name: "antrag-2.jpg", result: "eingelesen", detail: "1 Seite(n)" }];
          case "scan_product":
            // Three pages "Seite 1" … "Seite 3", each with a black bar.
            if (args.id === "p7") return { filename: "antraege.pdf", mimeType: "application/pdf", contentBase64: "JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFs0IDAgUiA2IDAgUiA4IDAgUl0gL0NvdW50IDMgPj4KZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL0ZvbnQgL1N1YnR5cGUgL1R5cGUxIC9CYXNlRm9udCAvSGVsdmV0aWNhID4+CmVuZG9iago0IDAgb2JqCjw8IC9UeXBlIC9QYWdlIC9QYXJlbnQgMiAwIFIgL01lZGlhQm94IFswIDAgNTk1IDg0Ml0gL1Jlc291cmNlcyA8PCAvRm9udCA8PCAvRjEgMyAwIFIgPj4gPj4gL0NvbnRlbnRzIDUgMCBSID4+CmVuZG9iago1IDAgb2JqCjw8IC9MZW5ndGggNjggPj4Kc3RyZWFtCkJUIC9GMSA0OCBUZiAxMDAgNjAwIFRkIChTZWl0ZSAxKSBUaiBFVCAwIDAgMCByZyAxMDAgMzAwIDMwMCA0MCByZSBmCmVuZHN0cmVhbQplbmRvYmoKNiAwIG9iago8PCAvVHlwZSAvUGFnZSAvUGFyZW50IDIgMCBSIC9NZWRpYUJveCBbMCAwIDU5NSA4NDJdIC9SZXNvdXJjZXMgPDwgL0ZvbnQgPDwgL0YxIDMgMCBSID4+ID4+IC9Db250ZW50cyA3IDAgUiA+PgplbmRvYmoKNyAwIG9iago8PCAvTGVuZ3RoIDY4ID4+CnN0cmVhbQpCVCAvRjEgNDggVGYgMTAwIDYwMCBUZCAoU2VpdGUgMikgVGogRVQgMCAwIDAgcmcgMTAwIDM2MCAzMDAgNDAgcmUgZgplbmRzdHJlYW0KZW5kb2JqCjggMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCA1OTUgODQyXSAvUmVzb3VyY2VzIDw8IC9Gb250IDw8IC9GMSAzIDAgUiA+PiA+PiAvQ29udGVudHMgOSAwIFIgPj4KZW5kb2JqCjkgMCBvYmoKPDwgL0xlbmd0aCA2OCA+PgpzdHJlYW0KQlQgL0YxIDQ4IFRmIDEwMCA2MDAgVGQgKFNlaXRlIDMpIFRqIEVUIDAgMCAwIHJnIDEwMCA0MjAgMzAwIDQwIHJlIGYKZW5kc3RyZWFtCmVuZG9iagp4cmVmCjAgMTAKMDAwMDAwMDAwMCA2NTUzNSBmIAowMDAwMDAwMDA5IDAwMDAwIG4gCjAwMDAwMDAwNTggMDAwMDAgbiAKMDAwMDAwMDEyNyAwMDAwMCBuIAowMDAwMDAwMTk3IDAwMDAwIG4gCjAwMDAwMDAzMjMgMDAwMDAgbiAKMDAwMDAwMDQ0MSAwMDAwMCBuIAowMDAwMDAwNTY3IDAwMDAwIG4gCjAwMDAwMDA2ODUgMDAwMDAgbiAKMDAwMDAwMDgxMSAwMDAwMCBuIAp0cmFpbGVyCjw8IC9TaXplIDEwIC9Sb290IDEgMCBSID4+CnN0YXJ0eHJlZgo5MjkKJSVFT0YK" };
            if (args.id !== "p1") return { filename: "stapel.tif", mimeType: "image/tiff", contentBase64: "SUkqAA==" };
            // A 1×1 white PNG.
            return { filename: "antrag-1.jpg", mimeType: "image/png", contentBase64: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC" };
          case "add_note":
            notes.push({ at: "2026-11-23T10:00:00Z", author: "sb1", text: String(args.text) });
            return null;
          case "lock_screen":
            if (session) session = { ...session, screenLocked: true };
            return null;
          case "unlock_screen":
            if (args.password !== "richtig-richtig") {
              throw { code: "wrongCredentials", message: "Benutzername oder Passwort ist falsch." };
            }
            if (session) session = { ...session, screenLocked: false };
            return session;
          case "logout":
            session = null;
            return null;
          case "work_list": {
            if (!session) throw { code: "locked", message: "Die Arbeitsstation ist gesperrt. Bitte melden Sie sich an." };
            const q = args.query as { offset: number; limit: number; view?: string; search?: string; sort?: string };
            const today = "2026-12-04";
            const in14 = "2026-12-18";
            const all = [...items, ...many()];
            const overdue = (c: (typeof all)[number]) => c.due !== null && c.due < today;
            const soon = (c: (typeof all)[number]) => c.due !== null && c.due >= today && c.due <= in14;
            const inView = (c: (typeof all)[number]) =>
              q.view === "meine" ? c.assignedTo === "sb1" : q.view === "eingang" ? c.assignedTo === null : q.view === "faellig" ? soon(c) : q.view === "ueberfaellig" ? overdue(c) : true;
            let found = all.filter(inView);
            if (q.search) {
              const words = q.search.toLowerCase().split(/\s+/);
              found = found.filter((c) => words.every((w) => `${c.fileNumber} ${c.applicant} ${c.caseType}`.toLowerCase().includes(w)));
            } else {
              const key: Record<string, (c: (typeof all)[number]) => string> = {
                eingangAlt: (c) => c.receivedAt,
                aktenzeichen: (c) => c.fileNumber,
                frist: (c) => `${c.due ?? "9999-12-31"} ${c.fileNumber}`,
                status: (c) => c.status,
                zustaendig: (c) => `${c.assignedTo === null ? 0 : 1}${c.assignedTo ?? ""}`,
              };
              const k = key[q.sort ?? ""];
              found = k ? [...found].sort((a, b) => k(a).localeCompare(k(b))) : [...found].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
            }
            const counts = {
              alle: all.length,
              meine: all.filter((c) => c.assignedTo === "sb1").length,
              eingang: all.filter((c) => c.assignedTo === null).length,
              faellig: all.filter(soon).length,
              ueberfaellig: all.filter(overdue).length,
            };
            return { items: found.slice(q.offset, q.offset + q.limit), total: found.length, counts };
          }
          case "backup_status":
            return backup;
          case "admin_users":
            return adminUsers;
          case "admin_mail_settings":
            return mailSettings;
          case "admin_set_mail_settings": {
            const m = (args as { settings: { host: string; port: number; security: string; user: string | null; password: string | null; from: string; fromName: string | null; caPem: string | null } }).settings;
            if (!m.from.includes("@")) throw { code: "invalidInput", message: `E-Mail-Einstellung ungültig: Absenderadresse „${m.from}“ ist ungültig.` };
            mailSettings = { host: m.host, port: m.port, security: m.security, user: m.user, passwordSet: m.password !== null, from: m.from, fromName: m.fromName, caSet: m.caPem !== null };
            return mailSettings;
          }
          case "admin_mail_test":
            return `Der Mailserver ${mailSettings?.host} antwortet und nimmt die Anmeldung an.`;
          case "admin_remove_mail_settings":
            mailSettings = null;
            return null;
          case "admin_bounce_settings":
            return null;
          case "admin_bundid_settings":
            return null;
          case "admin_office_connect":
            if ((args as { request: { code: string } }).request.code === "FALSCH") {
              throw { code: "forbidden", message: "Der Einmalcode ist ungültig oder abgelaufen." };
            }
            sessionStorage.removeItem("fake-alone");
            return { state: "verbunden", server: "https://rathaus:8443", workstation: "w9", position: 0, applied: null, message: "Verbunden mit dem Rathaus-Server https://rathaus:8443.", signedIn: false, waiting: 0, conflicts: 0 };
          case "admin_key_request":
            return keyRequest;
          case "admin_make_keys":
            keyRequest = { created: "2026-12-04T09:00:00Z", encryptionKid: "amtsstube-verschluesselung-1a2b3c4d", signatureKid: "amtsstube-signatur-1a2b3c4d", certified: false, files: ["/home/admin/Downloads/fit-connect-verschluesselung.csr", "/home/admin/Downloads/fit-connect-signatur.csr"] };
            return keyRequest;
          case "admin_certify_keys":
            if (keyRequest) keyRequest = { ...keyRequest, certified: true, files: ["/home/admin/Downloads/fit-connect-schluessel.json"] };
            return keyRequest;
          case "admin_portal_test_fields":
            return { ok: false, steps: [{ what: "Anmeldung am Portal", ok: true, message: "Angemeldet; 0 Einreichung(en) warten auf Abholung." }, { what: "Verschlüsselungsschlüssel des Zustellpunkts", ok: false, message: "Der Zustellpunkt verschlüsselt für den Schlüssel „alt“: Anträge wären an diesem PC nicht lesbar." }] };
          case "admin_configure_portal_fields":
            keyRequest = null;
            return null;
          case "admin_setup_steps":
            return { letterhead: false, portal: true, staff: adminUsers.length > 1, backup: !!backup.settings && !!backup.lastGood, office: false };
          case "admin_settings":
            return { lockAfterSeconds: 600, pollSeconds: 300, portalConfigured: true, hkrFolder: "/mnt/kasse", scanFolder: "/mnt/scanner", personReports: false, timestampService: null, lastTimestamp: null };
          case "admin_failed_outbox":
            return [{ id: 41, kind: "Zahlungsanforderung", attempts: 8, lastError: "Portal antwortet 503 (Wartung)" }];
          case "admin_quarantine":
            return [{ submissionId: "9a1c0000-0000-4000-8000-00000000000d", receivedAt: "2026-12-02T09:00:00Z", rejected: true, reasons: ["Die Metadaten entsprechen nicht dem Schema."] }];
          case "admin_audit_check":
            return { intact: true, entries: 1234, problems: [] };
          case "admin_portal_test":
            return {
              ok: false,
              steps: [
                { what: "Schlüssel dieser Einrichtung", ok: true, message: "Schlüssel gültig." },
                { what: "Anmeldung am Portal", ok: false, message: "Das Portal lehnt die Anmeldung ab (invalid_client): Client-ID oder Client-Secret stimmen nicht." },
              ],
            };
          case "admin_town":
            return { behoerde: "Gemeinde Musterstadt", abteilung: "Bürgerbüro", anschrift: ["Rathausplatz 1", "47110 Musterstadt"], sitz: "Musterstadt", telefon: "02151 9876-0", email: "buergerbuero@musterstadt.example", web: "", oeffnungszeiten: "", bank: "Sparkasse Musterstadt", iban: "DE02 1005 0000 0054 5404 02", bic: "BELADEBEXXX", verwaltungsgericht: "Verwaltungsgericht Düsseldorf", verwaltungsgerichtAnschrift: "Bastionstraße 39, 40213 Düsseldorf", zeichnung: "Im Auftrag" };
          case "admin_set_town":
          case "admin_configure_portal":
          case "admin_retry_outbox":
          case "admin_set_lock_after":
          case "admin_set_poll_interval":
          case "admin_set_hkr_folder":
          case "admin_set_scan_folder":
          case "admin_set_person_reports":
            return null;
          case "admin_unlock_user": {
            const name = (args as { username: string }).username;
            adminUsers = adminUsers.map((u) => (u.username === name ? { ...u, lockedUntil: null } : u));
            return null;
          }
          case "admin_set_role": {
            const a = args as { username: string; role: string };
            adminUsers = adminUsers.map((u) => (u.username === a.username ? { ...u, role: a.role } : u));
            return null;
          }
          case "admin_add_user": {
            const r = (args as { request: { username: string; displayName: string; role: string } }).request;
            adminUsers = [...adminUsers, { username: r.username, displayName: r.displayName, role: r.role, roleLabel: r.role, lockedUntil: null, own: false, keys: ["Vorgangsinhalte: wartet auf Freigabe"] }];
            return { username: r.username, displayName: r.displayName, role: r.role, active: true };
          }
          case "admin_set_password":
          case "admin_remove_user":
            return null;
          case "set_backup_settings":
            backup = { ...backup, settings: (args as { settings: typeof backup.settings }).settings };
            return null;
          case "backup_now":
            backup = { ...backup, lastGood: "2026-12-03T18:30:00Z", lastFile: "/media/usb/amtsstube/amtsstube-20261203-193000.sicherung.age", lastBytes: 3_200_000, warning: null };
            return { file: "/media/usb/amtsstube/amtsstube-20261203-193000.sicherung.age", bytes: 3_200_000, cases: 620, documents: 1400, removed: 1 };
          default:
            throw { code: "invalidInput", message: `unbekannter Befehl ${cmd}` };
        }
      },
    };
  });
}

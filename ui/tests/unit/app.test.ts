// The real App and the real tauriBackend, with Tauri's IPC replaced by mockIPC.
import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { mockIPC } from "@tauri-apps/api/mocks";
import App from "../../src/App.svelte";
import { tauriBackend } from "../../src/lib/backend";
import type { SessionInfo } from "../../src/lib/bindings/SessionInfo";
import type { WorkList } from "../../src/lib/bindings/WorkList";
import type { OfficeStatus } from "../../src/lib/bindings/OfficeStatus";
import type { OfficeConflict } from "../../src/lib/bindings/OfficeConflict";
import type { BackupStatus } from "../../src/lib/bindings/BackupStatus";
import type { BackupSettings } from "../../src/lib/bindings/BackupSettings";
import type { AdminUser } from "../../src/lib/bindings/AdminUser";

/** The sizes of the work list's views (all the same in these tests). */
const counts = (n: number) => ({ alle: n, meine: 0, eingang: n, faellig: 0, ueberfaellig: 0 });

const sb: SessionInfo = {
  username: "sb1",
  displayName: "Sam Bearbeitung",
  role: "sachbearbeitung",
  roleLabel: "Sachbearbeitung",
  screenLocked: false,
  lockAfterSeconds: 600,
  caseKeyPending: false,
  scanKeyPending: false,
};

function fakePortal(
  list: WorkList,
  sync: { reachable: boolean } = { reachable: true },
  office: OfficeStatus = {
    state: "allein",
    server: null,
    workstation: null,
    position: null,
    applied: null,
    message: "Allein an diesem PC (kein Rathaus-Server).",
    signedIn: false,
    waiting: 0,
    conflicts: 0,
  },
  conflicts: OfficeConflict[] = [],
  backup: BackupStatus = {
    settings: { folder: "/media/usb/amtsstube", keep: 14, intervalHours: 24, warnAfterDays: 3 },
    keyReady: true,
    lastGood: "2026-12-03T17:00:00Z",
    lastFile: "/media/usb/amtsstube/amtsstube-20261203-180000.sicherung.age",
    lastBytes: 2_500_000,
    lastError: null,
    due: false,
    warning: null,
  },
) {
  let session: SessionInfo | null = null;
  let synced = false;
  let opSettings = { lockAfterSeconds: 600, pollSeconds: 300, portalConfigured: true, hkrFolder: null as string | null, scanFolder: null as string | null, personReports: false, timestampService: null as string | null, lastTimestamp: null as string | null };
  let failedOutbox = [{ id: 41, kind: "Zahlungsanforderung", attempts: 8, lastError: "Portal antwortet 503 (Wartung)" }];
  let townSet = false;
  let mail: { host: string; port: number; security: string; user: string | null; passwordSet: boolean; from: string; fromName: string | null; caSet: boolean } | null = null;
  let bounce: { host: string; port: number; security: string; user: string; folder: string } | null = null;
  let bundid: { bridgeDestinationId: string; signer: string; validUntil: string; level: number } | null = null;
  let keyRequest: { created: string; encryptionKid: string; signatureKid: string; certified: boolean; files: string[] } | null = null;
  let townDetails = { behoerde: "Gemeinde Musterstadt", abteilung: "Bürgerbüro", anschrift: ["Rathausplatz 1", "47110 Musterstadt"], sitz: "Musterstadt", telefon: "02151 9876-0", email: "buergerbuero@musterstadt.example", web: "", oeffnungszeiten: "", bank: "Sparkasse Musterstadt", iban: "DE02 1005 0000 0054 5404 02", bic: "BELADEBEXXX", verwaltungsgericht: "Verwaltungsgericht Düsseldorf", verwaltungsgerichtAnschrift: "Bastionstraße 39, 40213 Düsseldorf", zeichnung: "Im Auftrag" };
  let adminUsers: AdminUser[] = [
    { username: "admin", displayName: "Alex Admin", role: "admin", roleLabel: "Administration", lockedUntil: null, own: true, keys: [] as string[] },
    { username: "sb1", displayName: "Sam Bearbeitung", role: "sachbearbeitung", roleLabel: "Sachbearbeitung", lockedUntil: "03.12.2026 18:45 Uhr", own: false, keys: ["Vorgangsinhalte: freigegeben"] },
  ];
  const calls: string[] = [];
  mockIPC((cmd, args) => {
    calls.push(cmd);
    switch (cmd) {
      case "office_status":
        return { ...office, conflicts: conflicts.length };
      case "setup_due":
        return false;
      case "backup_status":
        return backup;
      case "admin_users":
        return adminUsers;
      case "admin_settings":
        return opSettings;
      case "admin_setup_steps":
        return {
          letterhead: townSet,
          portal: opSettings.portalConfigured,
          staff: adminUsers.some((u) => u.role !== "admin"),
          backup: !!backup.settings && !!backup.lastGood,
          office: office.state !== "allein",
        };
      case "admin_set_lock_after":
        calls.push(`lock:${(args as { seconds: number }).seconds}`);
        opSettings = { ...opSettings, lockAfterSeconds: (args as { seconds: number }).seconds };
        return null;
      case "admin_set_hkr_folder": {
        const folder = (args as { folder: string }).folder;
        if (!folder.startsWith("/")) throw { code: "invalidInput", message: `Der Kassenordner ${folder} ist kein vorhandenes Verzeichnis (absoluter Pfad nötig).` };
        opSettings = { ...opSettings, hkrFolder: folder };
        return null;
      }
      case "admin_set_poll_interval":
      case "admin_set_scan_folder":
      case "admin_set_person_reports":
        calls.push(`${cmd}:${JSON.stringify(args)}`);
        return null;
      case "admin_failed_outbox":
        return failedOutbox;
      case "admin_retry_outbox":
        calls.push(`retry:${(args as { id: number }).id}`);
        failedOutbox = [];
        return null;
      case "admin_quarantine":
        return [{ submissionId: "9a1c0000-0000-4000-8000-00000000000d", receivedAt: "2026-12-02T09:00:00Z", rejected: true, reasons: ["Die Metadaten entsprechen nicht dem Schema."] }];
      case "admin_audit_check":
        return { intact: true, entries: 1234, problems: [] };
      case "admin_set_timestamp_service": {
        const { url, certPem } = args as { url: string; certPem: string };
        if (!certPem.includes("BEGIN CERTIFICATE")) throw { code: "invalidInput", message: "Das Zertifikat des Zeitstempeldienstes ist unlesbar (erwartet: PEM, „-----BEGIN CERTIFICATE-----“)." };
        calls.push(`tsa:${url}`);
        opSettings = { ...opSettings, timestampService: url || null };
        return null;
      }
      case "admin_stamp_audit":
        calls.push("stamp");
        opSettings = { ...opSettings, lastTimestamp: "Eintrag 1234 am 2026-12-05T06:00:00Z" };
        return "Zeitstempel erhalten: Eintrag 1234 bestätigt am 2026-12-05T06:00:00Z.";
      case "admin_portal_test": {
        const json = (args as { json: string | null }).json ?? "";
        const wrong = json.includes("falsch");
        return {
          ok: !wrong,
          steps: [
            { what: "Schlüssel dieser Einrichtung", ok: true, message: "Schlüssel gültig." },
            { what: "Anmeldung am Portal", ok: !wrong, message: wrong ? "Das Portal lehnt die Anmeldung ab (invalid_client): Client-ID oder Client-Secret stimmen nicht." : "Angemeldet; 3 Einreichung(en) warten auf Abholung." },
          ],
        };
      }
      case "admin_town":
        return townDetails;
      case "admin_set_town": {
        const d = (args as { details: typeof townDetails }).details;
        if (d.iban.replace(/ /g, "").length < 15) throw { code: "invalidInput", message: `Die IBAN „${d.iban}“ ist nicht gültig (Prüfziffer oder Länge).` };
        calls.push(`town:${d.behoerde}:${d.anschrift.join("|")}`);
        townDetails = { ...d, anschrift: d.anschrift.filter((l) => l.trim()) };
        townSet = true;
        return null;
      }
      case "admin_mail_settings":
        return mail;
      case "admin_set_mail_settings": {
        const m = (args as { settings: { host: string; port: number; security: string; user: string | null; password: string | null; from: string; fromName: string | null; caPem: string | null } }).settings;
        if (m.security === "keine" && m.host !== "127.0.0.1") throw { code: "invalidInput", message: "E-Mail-Einstellung ungültig: Ohne Verschlüsselung nur zu einem Mailserver auf diesem PC (127.0.0.1). Bitte STARTTLS oder TLS wählen." };
        calls.push(`mail:${m.host}:${m.port}:${m.security}:${m.user}:${m.password}:${m.from}`);
        mail = { host: m.host, port: m.port, security: m.security, user: m.user, passwordSet: m.password !== null || (mail?.passwordSet ?? false), from: m.from, fromName: m.fromName, caSet: m.caPem !== null };
        return mail;
      }
      case "admin_mail_test":
        calls.push("mail-test");
        return `Der Mailserver ${mail?.host} antwortet und nimmt die Anmeldung an.`;
      case "admin_remove_mail_settings":
        calls.push("mail-remove");
        mail = null;
        return null;
      case "admin_bounce_settings":
        return bounce;
      case "admin_set_bounce_settings": {
        const b = (args as { settings: { host: string; port: number; security: string; user: string; password: string | null; folder: string } }).settings;
        if (!b.password && !bounce) throw { code: "invalidInput", message: "Das Passwort des Postfachs fehlt." };
        calls.push(`bounce:${b.host}:${b.port}:${b.security}:${b.user}:${b.password}:${b.folder}`);
        bounce = { host: b.host, port: b.port, security: b.security, user: b.user, folder: b.folder };
        return bounce;
      }
      case "admin_bounce_test":
        calls.push("bounce-test");
        return `Das Postfach ${bounce?.folder} auf ${bounce?.host} ist lesbar.`;
      case "admin_remove_bounce_settings":
        calls.push("bounce-remove");
        bounce = null;
        return null;
      case "admin_bundid_settings":
        return bundid;
      case "admin_set_bundid_settings": {
        const b = (args as { settings: { bridgeDestinationId: string; keyPem: string; certPem: string; level: number | null } }).settings;
        if (!b.keyPem.includes("PRIVATE KEY")) throw { code: "invalidInput", message: "BPKI-Schlüssel oder -Zertifikat unbrauchbar: Schlüssel und Zertifikat gehören nicht zusammen" };
        calls.push(`bundid:${b.bridgeDestinationId}:${b.level}`);
        bundid = { bridgeDestinationId: b.bridgeDestinationId, signer: "Gemeinde Musterstadt", validUntil: "Mar  9 10:00:00 2029 GMT", level: b.level ?? 3 };
        return bundid;
      }
      case "admin_remove_bundid_settings":
        calls.push("bundid-remove");
        bundid = null;
        return null;
      case "admin_office_connect": {
        const r = (args as { request: { server: string; code: string; name: string } }).request;
        calls.push(`office-connect:${r.server}:${r.code}:${r.name}`);
        return { ...office, state: "verbunden", server: r.server, message: `Verbunden mit dem Rathaus-Server ${r.server}.` };
      }
      case "admin_key_request":
        return keyRequest;
      case "admin_make_keys":
        keyRequest = {
          created: "2026-12-04T09:00:00Z",
          encryptionKid: "amtsstube-verschluesselung-1a2b3c4d",
          signatureKid: "amtsstube-signatur-1a2b3c4d",
          certified: false,
          files: ["/home/admin/Downloads/fit-connect-verschluesselung.csr", "/home/admin/Downloads/fit-connect-signatur.csr"],
        };
        return keyRequest;
      case "admin_certify_keys": {
        const a = args as { encryption: string; signature: string };
        if (!keyRequest) throw { code: "invalidInput", message: "Es gibt keinen offenen Schlüsselantrag: bitte zuerst Schlüssel erzeugen." };
        if (!a.encryption.includes("VERSCHLUESSELUNG")) {
          throw { code: "invalidInput", message: "Zertifikat für die Verschlüsselung: Kein Zertifikat in der Datei gehört zum Schlüssel „amtsstube-verschluesselung-1a2b3c4d“ (falscher Antrag?)." };
        }
        keyRequest = { ...keyRequest, certified: true, files: ["/home/admin/Downloads/fit-connect-schluessel.json"] };
        return keyRequest;
      }
      case "admin_portal_test_fields": {
        const f = (args as { fields: { destinationId: string; clientSecret: string } }).fields;
        calls.push(`fields-test:${f.destinationId}`);
        return {
          ok: false,
          steps: [
            { what: "Anmeldung am Portal", ok: true, message: "Angemeldet; 0 Einreichung(en) warten auf Abholung." },
            { what: "Verschlüsselungsschlüssel des Zustellpunkts", ok: false, message: "Der Zustellpunkt verschlüsselt für den Schlüssel „alt“, hier ist „amtsstube-verschluesselung-1a2b3c4d“ eingerichtet: Anträge wären an diesem PC nicht lesbar." },
          ],
        };
      }
      case "admin_configure_portal_fields": {
        const f = (args as { fields: { apiUrl: string; replyDestinationId?: string } }).fields;
        calls.push(`fields-configure:${f.apiUrl}:${f.replyDestinationId ?? "-"}`);
        opSettings = { ...opSettings, portalConfigured: true };
        keyRequest = null;
        return null;
      }
      case "admin_configure_portal":
        calls.push(`configure:${(args as { json: string }).json.length}`);
        opSettings = { ...opSettings, portalConfigured: true };
        return null;
      case "admin_add_user": {
        const r = (args as { request: { username: string; displayName: string; role: string; password: string } }).request;
        if (adminUsers.some((u) => u.username === r.username)) throw { code: "conflict", message: `Der Benutzer „${r.username}“ existiert bereits.` };
        adminUsers = [...adminUsers, { username: r.username, displayName: r.displayName, role: r.role as AdminUser["role"], roleLabel: r.role, lockedUntil: null, own: false, keys: ["Vorgangsinhalte: wartet auf Freigabe"] }];
        return { username: r.username, displayName: r.displayName, role: r.role, active: true };
      }
      case "admin_set_role": {
        const a = args as { username: string; role: AdminUser["role"] };
        calls.push(`role:${a.username}:${a.role}`);
        adminUsers = adminUsers.map((u) => (u.username === a.username ? { ...u, role: a.role } : u));
        return null;
      }
      case "admin_unlock_user": {
        const a = args as { username: string };
        adminUsers = adminUsers.map((u) => (u.username === a.username ? { ...u, lockedUntil: null } : u));
        return null;
      }
      case "admin_set_password": {
        const a = args as { username: string; password: string };
        calls.push(`password:${a.username}:${a.password.length}`);
        return null;
      }
      case "set_backup_settings": {
        const settings = (args as { settings: BackupSettings }).settings;
        if (!settings.folder.startsWith("/")) {
          throw { code: "invalidInput", message: "Der Sicherungsordner muss als vollständiger Pfad angegeben werden (z. B. /media/usb/sicherung)." };
        }
        calls.push(`settings:${settings.folder}:${settings.keep}`);
        backup = { ...backup, settings, warning: backup.lastGood ? null : "Es gibt noch keine Datensicherung." };
        return null;
      }
      case "backup_now":
        backup = { ...backup, lastGood: "2026-12-03T18:30:00Z", lastFile: "/media/usb/neu/amtsstube-20261203-193000.sicherung.age", warning: null };
        return { file: "/media/usb/neu/amtsstube-20261203-193000.sicherung.age", bytes: 3_200_000, cases: 620, documents: 1400, removed: 0 };
      case "office_sync_now":
        return null;
      case "office_conflicts":
        return conflicts;
      case "office_sign_in": {
        if ((args as { password: string }).password !== "richtig-richtig") {
          throw { code: "wrongCredentials", message: "Das Passwort ist falsch (Rathaus-Server)." };
        }
        office.state = "verbunden";
        office.signedIn = true;
        return { role: "sachbearbeitung", expiresAt: "2026-12-03T18:00:00Z", publishedKey: false, created: [], granted: [], holds: ["fall"], offline: false };
      }
      case "office_conflict_done": {
        const seq = (args as { seq: number }).seq;
        conflicts.splice(conflicts.findIndex((c) => c.seq === seq), 1);
        return null;
      }
      case "office_conflict_redo": {
        const seq = (args as { seq: number }).seq;
        const c = conflicts.find((x) => x.seq === seq);
        if (c?.what === "Vorgang anlegen") {
          throw { code: "invalidInput", message: "Ein abgelehnter Papiereingang lässt sich nicht wiederholen; bitte neu aufnehmen." };
        }
        conflicts.splice(conflicts.findIndex((x) => x.seq === seq), 1);
        return null;
      }
      case "sync_status":
        return {
          configured: true,
          connectivity: synced ? (sync.reachable ? "online" : "offline") : null,
          lastSuccess: synced && sync.reachable ? "2026-11-23T13:05:00Z" : null,
          pending: 0,
          failed: 0,
          running: false,
          progress: null,
          nextRun: null,
        };
      case "sync_now":
        synced = true;
        if (sync.reachable) {
          list.items.push({
            id: "neu",
            fileNumber: "ON-2026-000099",
            caseType: "Gewerbeanmeldung",
            applicant: "Ayşe Öztürk",
            status: "eingegangen",
            receivedAt: "2026-11-23T13:05:00Z", deadline: null, due: null, assignedTo: null,
          });
          list.total += 1;
        }
        return {
          newCases: sync.reachable ? 1 : 0,
          followUps: 0,
          quarantined: 0,
          delivered: sync.reachable ? 1 : 0,
          pending: 0,
          failed: 0,
          connectivity: sync.reachable ? "online" : "offline",
          problem: sync.reachable ? null : "Keine Verbindung zum Portal (connection refused).",
        };
      case "session":
        return session;
      case "recover": {
        const a = args as { recoveryKey: string; username: string; newPassword: string };
        calls.push(`recover:${a.recoveryKey}:${a.username}:${a.newPassword}`);
        if (!a.recoveryKey.startsWith("AGE-SECRET-KEY-1RICHTIG")) throw { code: "wrongCredentials", message: "Der Wiederherstellungsschlüssel passt nicht zu diesem Datenbestand." };
        session = { ...sb, username: "admin", displayName: "Alex Admin", role: "admin", roleLabel: "Administration" };
        return session;
      }
      case "login": {
        const req = (args as { request: { username: string; password: string } }).request;
        if (req.username === "sb1" && req.password === "richtig-richtig") {
          session = sb;
          return sb;
        }
        if (req.username === "sb-langsam" && req.password === "richtig-richtig") {
          // The first login after an update: the case data are set up anew.
          return new Promise((resolve) => setTimeout(() => resolve((session = sb)), 2600));
        }
        if (req.username === "sb-neu" && req.password === "richtig-richtig") {
          session = { ...sb, username: "sb-neu", displayName: "Nele Neu", caseKeyPending: true };
          return session;
        }
        if (req.username === "admin" && req.password === "richtig-richtig") {
          session = { ...sb, username: "admin", displayName: "Alex Admin", role: "admin", roleLabel: "Administration" };
          return session;
        }
        throw { code: "wrongCredentials", message: "Benutzername oder Passwort ist falsch. Noch 4 Versuch(e) bis zur Sperre." };
      }
      case "logout":
        session = null;
        return null;
      case "work_list":
        if (!session) throw { code: "locked", message: "Die Arbeitsstation ist gesperrt. Bitte melden Sie sich an." };
        calls.push(`work_list:${JSON.stringify((args as { query: { search?: string } }).query.search ?? "")}`);
        return list;
      default:
        throw new Error(`unexpected command ${cmd}`);
    }
  });
  return calls;
}

async function login(user: string, password: string) {
  await fireEvent.input(await screen.findByLabelText("Benutzername"), { target: { value: user } });
  await fireEvent.input(screen.getByLabelText("Passwort"), { target: { value: password } });
  await fireEvent.click(screen.getByRole("button", { name: "Anmelden" }));
}

/** A caseworker logged in with one case in the work list; `rest` answers the other commands. */
function mockOneCase(item: object, detail: () => object, rest: (cmd: string, args: unknown) => unknown) {
  mockIPC((cmd, args) => {
    switch (cmd) {
      case "session":
        return sb;
      case "sync_status":
        return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
      case "work_list":
        return { items: [item], total: 1, counts: counts(1), duesPending: false };
      case "case_detail":
        return detail();
      default:
        return rest(cmd, args);
    }
  });
}

describe("Anmeldung und Arbeitskorb", () => {
  it("shows the login form first", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    expect(await screen.findByRole("heading", { name: "Anmeldung" })).toBeTruthy();
    expect(screen.queryByTestId("worklist")).toBeNull();
  });

  it("asks for both fields before calling the backend", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByRole("button", { name: "Anmelden" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Bitte geben Sie Benutzername und Passwort ein.");
    expect(calls).not.toContain("login");
  });

  it("shows the administration what it does and where, not an error about the work list", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    expect(await screen.findByRole("heading", { name: "Verwaltung" })).toBeTruthy();
    expect(screen.getByTestId("admin-home").textContent).toContain("Alex Admin");
    expect(screen.getByTestId("admin-tasks").textContent).toContain("amtsstube buero uebernehmen");
    // Alone at this PC: it can be attached to the Rathaus-Server from here.
    expect(await screen.findByTestId("office-connect")).toBeTruthy();
    await fireEvent.submit((await screen.findByTestId("office-connect-submit")).closest("form") as HTMLFormElement);
    expect((await screen.findByTestId("office-connect-error")).textContent).toContain("Einmalcode");
    expect(calls.filter((c) => c.startsWith("office-connect"))).toHaveLength(0);
    await fireEvent.input(screen.getByLabelText("Adresse des Rathaus-Servers", { selector: "#oc-server" }), { target: { value: "https://rathaus:8443" } });
    await fireEvent.input(screen.getByLabelText("Einmalcode", { selector: "#oc-code" }), { target: { value: "K7QM-4XRT-P2WD" } });
    await fireEvent.input(screen.getByLabelText(/Fingerabdruck/, { selector: "#oc-fingerprint" }), { target: { value: "ab".repeat(32) } });
    await fireEvent.input(screen.getByLabelText(/Name dieses Arbeitsplatzes/, { selector: "#oc-name" }), { target: { value: "Bürgerbüro 3" } });
    await fireEvent.submit(screen.getByTestId("office-connect-submit").closest("form") as HTMLFormElement);
    await waitFor(() => expect(screen.getByTestId("office-connect-done").textContent).toContain("Verbunden"));
    expect(calls).toContain("office-connect:https://rathaus:8443:K7QM-4XRT-P2WD:Bürgerbüro 3");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(calls).not.toContain("work_list");
    expect((await screen.findByTestId("backup-state")).textContent).toContain("amtsstube-20261203-180000.sicherung.age");
  });

  it("lets the administration unlock, reset, re-role and add users", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    const row = await screen.findByTestId("user-sb1");
    expect(row.textContent).toContain("gesperrt bis 03.12.2026 18:45 Uhr");
    expect(screen.getByTestId("user-admin").textContent).toContain("(Sie)");
    await fireEvent.click(screen.getByRole("button", { name: "Entsperren (sb1)" }));
    await waitFor(() => expect(screen.getByTestId("user-sb1").textContent).not.toContain("gesperrt bis"));
    await fireEvent.change(screen.getByLabelText("Rolle von Sam Bearbeitung"), { target: { value: "leitung" } });
    await waitFor(() => expect(calls).toContain("role:sb1:leitung"));
    expect(screen.getAllByTestId("key-sb1").map((e) => e.textContent)).toEqual(["Vorgangsinhalte: freigegeben"]);
    expect(screen.queryAllByTestId("key-admin")).toHaveLength(0);
    await fireEvent.click(screen.getByRole("button", { name: "Passwort zurücksetzen (sb1)" }));
    // The administration learns what a reset does to the colleague's keys.
    expect(screen.getByTestId("reset-keys-hint").textContent).toContain("neuen Schlüssel");
    const pw = screen.getByLabelText(/^Neues Passwort für sb1/);
    await fireEvent.input(pw, { target: { value: "kurz" } });
    await fireEvent.click(screen.getByRole("button", { name: "Passwort setzen" }));
    expect((await screen.findByTestId("users-error")).textContent).toContain("mindestens 10 Zeichen");
    await fireEvent.input(pw, { target: { value: "ganz-neues-passwort" } });
    await fireEvent.click(screen.getByRole("button", { name: "Passwort setzen" }));
    await waitFor(() => expect(calls).toContain("password:sb1:19"));
    expect(screen.getByTestId("users-done").textContent).toContain("persönlich übergeben");
    await fireEvent.input(screen.getByLabelText("Benutzername"), { target: { value: "sb1" } });
    await fireEvent.input(screen.getByLabelText("Anzeigename"), { target: { value: "Doppelt" } });
    await fireEvent.input(screen.getByLabelText(/^Erstpasswort/), { target: { value: "erstes-passwort" } });
    await fireEvent.click(screen.getByRole("button", { name: "Anlegen" }));
    expect((await screen.findByTestId("users-error")).textContent).toContain("existiert bereits");
    await fireEvent.input(screen.getByLabelText("Benutzername"), { target: { value: "m.mueller" } });
    await fireEvent.input(screen.getByLabelText("Anzeigename"), { target: { value: "Maria Müller" } });
    await fireEvent.change(screen.getByLabelText("Rolle"), { target: { value: "scanstelle" } });
    await fireEvent.input(screen.getByLabelText(/^Erstpasswort/), { target: { value: "erstes-passwort" } });
    await fireEvent.click(screen.getByRole("button", { name: "Anlegen" }));
    expect((await screen.findByTestId("user-m.mueller")).textContent).toContain("Maria Müller");
    await waitFor(() => expect((screen.getByLabelText("Benutzername") as HTMLInputElement).value).toBe(""));
  }, 15_000); // a long flow of many screens: 3–4 s alone, more on a loaded machine

  it("lets the administration set the operation, retry a failed item and check the audit chain", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    expect((await screen.findByTestId("outbox-failed")).textContent).toContain("Portal antwortet 503 (Wartung)");
    expect((await screen.findByTestId("quarantine")).textContent).toContain("Die Metadaten entsprechen nicht dem Schema.");
    await waitFor(() => expect((screen.getByLabelText(/^Bildschirmsperre nach/) as HTMLInputElement).value).toBe("10"));
    await fireEvent.input(screen.getByLabelText(/^Bildschirmsperre nach/), { target: { value: "15" } });
    await fireEvent.input(screen.getByLabelText("Austauschordner der Kasse (HKR)"), { target: { value: "kasse" } });
    const save = screen.getByRole("button", { name: "Einstellungen speichern" });
    await fireEvent.click(save);
    expect((await screen.findByTestId("operations-error")).textContent).toContain("absoluter Pfad");
    expect(calls).toContain("lock:900");
    await fireEvent.input(screen.getByLabelText("Austauschordner der Kasse (HKR)"), { target: { value: "/mnt/kasse" } });
    await fireEvent.click(save);
    await waitFor(() => expect(screen.getByTestId("operations-done").textContent).toContain("gespeichert"));
    const retry = screen.getByRole("button", { name: "Erneut versuchen (Auftrag 41)" }) as HTMLButtonElement;
    await waitFor(() => expect(retry.disabled).toBe(false));
    await fireEvent.click(retry);
    await waitFor(() => expect(calls).toContain("retry:41"));
    expect(await screen.findByTestId("outbox-empty")).toBeTruthy();
    await waitFor(() => expect((screen.getByTestId("audit-check") as HTMLButtonElement).disabled).toBe(false));
    await fireEvent.click(screen.getByTestId("audit-check"));
    expect((await screen.findByTestId("audit-result")).textContent).toContain("Protokoll unversehrt: 1234 Einträge geprüft.");
    // The time-stamping service: a certificate is required, a bad one refused in German.
    expect(screen.queryByTestId("tsa-stamp")).toBeNull();
    const saveTsa = screen.getByRole("button", { name: "Zeitstempeldienst speichern" }) as HTMLButtonElement;
    await waitFor(() => expect(saveTsa.disabled).toBe(false));
    await fireEvent.input(screen.getByLabelText(/^Adresse des Zeitstempeldienstes/), { target: { value: "http://tsa.example.de/tsr" } });
    await fireEvent.click(saveTsa);
    expect((await screen.findByTestId("operations-error")).textContent).toContain("Signaturzertifikat");
    await fireEvent.input(screen.getByLabelText(/^Signaturzertifikat des Dienstes/), { target: { value: "kein Zertifikat" } });
    await fireEvent.click(saveTsa);
    await waitFor(() => expect(screen.getByTestId("operations-error").textContent).toContain("unlesbar"));
    await waitFor(() => expect(saveTsa.disabled).toBe(false));
    await fireEvent.input(screen.getByLabelText(/^Signaturzertifikat des Dienstes/), { target: { value: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----" } });
    await fireEvent.click(saveTsa);
    await waitFor(() => expect(calls).toContain("tsa:http://tsa.example.de/tsr"));
    const stamp = (await screen.findByTestId("tsa-stamp")) as HTMLButtonElement;
    await waitFor(() => expect(stamp.disabled).toBe(false));
    await fireEvent.click(stamp);
    await waitFor(() => expect(screen.getByTestId("operations-done").textContent).toContain("Zeitstempel erhalten: Eintrag 1234"));
    expect((await screen.findByTestId("tsa-last")).textContent).toContain("Eintrag 1234");
    expect(calls).toContain("stamp");
  });

  it("sets a forgotten password anew with the recovery key and logs in", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByTestId("recover-toggle"));
    expect(screen.getByTestId("recover-toggle").getAttribute("aria-expanded")).toBe("true");
    await fireEvent.input(screen.getByLabelText(/^Wiederherstellungsschlüssel/), { target: { value: "AGE-SECRET-KEY-1FALSCH" } });
    await fireEvent.input(screen.getByLabelText(/^Neues Passwort \(/), { target: { value: "neues-passwort-1" } });
    await fireEvent.input(screen.getByLabelText("Neues Passwort wiederholen"), { target: { value: "anderes-passwort" } });
    await fireEvent.submit(screen.getByTestId("recover-form"));
    expect((await screen.findByTestId("recover-error")).textContent).toContain("stimmen nicht überein");
    expect(calls.filter((c) => c.startsWith("recover:"))).toHaveLength(0);
    await fireEvent.input(screen.getByLabelText("Neues Passwort wiederholen"), { target: { value: "neues-passwort-1" } });
    await fireEvent.submit(screen.getByTestId("recover-form"));
    await waitFor(() => expect(screen.getByTestId("recover-error").textContent).toContain("passt nicht"));
    // Nothing secret stays in the form after a try.
    expect((screen.getByLabelText(/^Wiederherstellungsschlüssel/) as HTMLInputElement).value).toBe("");
    expect((screen.getByLabelText(/^Neues Passwort \(/) as HTMLInputElement).value).toBe("");
    await fireEvent.input(screen.getByLabelText(/^Wiederherstellungsschlüssel/), { target: { value: "AGE-SECRET-KEY-1RICHTIG" } });
    await fireEvent.input(screen.getByLabelText(/^Neues Passwort \(/), { target: { value: "neues-passwort-1" } });
    await fireEvent.input(screen.getByLabelText("Neues Passwort wiederholen"), { target: { value: "neues-passwort-1" } });
    await fireEvent.submit(screen.getByTestId("recover-form"));
    expect(await screen.findByRole("heading", { name: "Verwaltung" })).toBeTruthy();
    expect(calls).toContain("recover:AGE-SECRET-KEY-1RICHTIG:admin:neues-passwort-1");
  });

  it("tests a connection file step by step and takes it over", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    const input = (await screen.findByLabelText("Verbindungsdatei (JSON)")) as HTMLInputElement;
    const wrong = new File(['{"clientSecret":"falsch"}'], "verbindung.json", { type: "application/json" });
    await fireEvent.change(input, { target: { files: [wrong] } });
    const testButton = screen.getByRole("button", { name: "Verbindung testen" }) as HTMLButtonElement;
    await waitFor(() => expect(testButton.disabled).toBe(false));
    await fireEvent.click(testButton);
    const result = await screen.findByTestId("portal-test");
    expect(result.textContent).toContain("Verbindung fehlerhaft");
    expect(result.textContent).toContain("Client-ID oder Client-Secret stimmen nicht.");
    const right = new File(['{"clientSecret":"richtig"}'], "verbindung.json", { type: "application/json" });
    await fireEvent.change(input, { target: { files: [right] } });
    await waitFor(() => expect(testButton.disabled).toBe(false));
    await fireEvent.click(testButton);
    await waitFor(() => expect(screen.getByTestId("portal-test").textContent).toContain("Verbindung in Ordnung"));
    await fireEvent.click(screen.getByTestId("portal-take-over"));
    await waitFor(() => expect(calls).toContain("configure:26"));
    expect(screen.getByTestId("portal-done").textContent).toContain("bitte jetzt löschen");
    expect(await screen.findByRole("button", { name: "Eingerichtete Verbindung testen" })).toBeTruthy();
  });

  it("makes the destination's keys, takes the PKI's certificates and connects by hand", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    await fireEvent.click(await screen.findByTestId("keys-make"));
    expect((await screen.findByTestId("keys-files")).textContent).toContain("fit-connect-verschluesselung.csr");
    expect(screen.getByTestId("keys-state").textContent).toContain("die Zertifikate der PKI stehen aus");
    const certify = screen.getByTestId("keys-certify") as HTMLButtonElement;
    expect(certify.disabled).toBe(true);
    const pem = (what: string) => new File([`-----BEGIN CERTIFICATE-----\n${what}\n-----END CERTIFICATE-----\n`], `${what.toLowerCase()}.pem`);
    // The chains swapped: the German reason.
    await fireEvent.change(screen.getByLabelText(/Zertifikatskette Verschlüsselung/), { target: { files: [pem("SIGNATUR")] } });
    await fireEvent.change(screen.getByLabelText(/Zertifikatskette Signatur/), { target: { files: [pem("VERSCHLUESSELUNG")] } });
    await waitFor(() => expect(certify.disabled).toBe(false));
    await fireEvent.click(certify);
    expect((await screen.findByTestId("keys-error")).textContent).toContain("falscher Antrag");
    await fireEvent.change(screen.getByLabelText(/Zertifikatskette Verschlüsselung/), { target: { files: [pem("VERSCHLUESSELUNG")] } });
    await fireEvent.change(screen.getByLabelText(/Zertifikatskette Signatur/), { target: { files: [pem("SIGNATUR")] } });
    await new Promise((r) => setTimeout(r, 50));
    await fireEvent.click(screen.getByTestId("keys-certify"));
    await waitFor(() => expect(screen.getByTestId("keys-files").textContent).toContain("fit-connect-schluessel.json"));
    // The fields: the environment fills the addresses.
    await fireEvent.change(await screen.findByLabelText("Umgebung vorbelegen"), { target: { value: "test" } });
    expect((screen.getByLabelText("Adresse der Submission API") as HTMLInputElement).value).toBe("https://submission-api-testing.fit-connect.fitko.dev");
    await fireEvent.input(screen.getByLabelText("Zustellpunkt-ID"), { target: { value: "865bb64e-cb25-4e6c-9a9b-6862611aef8e" } });
    await fireEvent.input(screen.getByLabelText("Client-ID"), { target: { value: "amtsstube-1" } });
    await fireEvent.input(screen.getByLabelText("Client-Secret"), { target: { value: "geheim" } });
    await fireEvent.click(screen.getByTestId("keys-test"));
    expect((await screen.findByTestId("keys-test-result")).textContent).toContain("Anträge wären an diesem PC nicht lesbar");
    expect(calls).toContain("fields-test:865bb64e-cb25-4e6c-9a9b-6862611aef8e");
    await fireEvent.click(screen.getByTestId("keys-take-over"));
    await waitFor(() => expect(calls).toContain("fields-configure:https://submission-api-testing.fit-connect.fitko.dev:-"));
    expect(screen.getByTestId("keys-done").textContent).toContain("übernommen");
    expect(screen.queryByTestId("keys-state")).toBeNull();
  });

  it("lets the administration set the letterhead, refusing a wrong IBAN", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    // The first steps: only the letterhead is open.
    await waitFor(() => expect(screen.getByTestId("first-steps-summary").textContent).toBe("Noch 1 von 4 Schritten offen."));
    expect(screen.getByRole("link", { name: /Briefkopf der Gemeinde/ }).closest("li")?.textContent).toContain("offen");
    const name = (await screen.findByLabelText("Behörde (Briefkopf)")) as HTMLInputElement;
    await waitFor(() => expect(name.value).toBe("Gemeinde Musterstadt"));
    await fireEvent.input(name, { target: { value: "Stadt Kleinhausen" } });
    await fireEvent.input(screen.getByLabelText("Anschrift (eine bis drei Zeilen)"), { target: { value: "Markt 3\n12345 Kleinhausen" } });
    await fireEvent.input(screen.getByLabelText("IBAN"), { target: { value: "DE00 1" } });
    await fireEvent.click(screen.getByRole("button", { name: "Briefkopf speichern" }));
    expect((await screen.findByTestId("town-error")).textContent).toContain("IBAN");
    await fireEvent.input(screen.getByLabelText("IBAN"), { target: { value: "DE89 3704 0044 0532 0130 00" } });
    await fireEvent.click(screen.getByRole("button", { name: "Briefkopf speichern" }));
    await waitFor(() => expect(calls).toContain("town:Stadt Kleinhausen:Markt 3|12345 Kleinhausen"));
    await waitFor(() => expect(screen.getByTestId("town-done").textContent).toContain("Briefkopf gespeichert"));
    await waitFor(() => expect(screen.getByTestId("first-steps-summary").textContent).toContain("Dieser PC ist eingerichtet"));
  });

  it("lets the administration set up the mail server, refusing an unencrypted remote one", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    expect((await screen.findByTestId("mail-state")).textContent).toContain("Noch kein Mailserver eingerichtet");
    expect((screen.getByTestId("mail-test") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(screen.getByLabelText("Mailserver (Name oder Adresse)"), { target: { value: "mail.musterstadt.example" } });
    await fireEvent.change(screen.getByLabelText("Verschlüsselung der Verbindung"), { target: { value: "keine" } });
    await fireEvent.input(screen.getByLabelText("Absenderadresse"), { target: { value: "buergerbuero@musterstadt.example" } });
    await fireEvent.click(screen.getByRole("button", { name: "E-Mail-Einstellungen speichern" }));
    expect((await screen.findByTestId("mail-error")).textContent).toContain("STARTTLS");
    await fireEvent.change(screen.getByLabelText("Verschlüsselung der Verbindung"), { target: { value: "starttls" } });
    await fireEvent.input(screen.getByLabelText("Anmeldename am Mailserver (leer: ohne Anmeldung)"), { target: { value: "rathaus" } });
    await fireEvent.input(document.getElementById("mail-password") as HTMLInputElement, { target: { value: "relay-geheim" } });
    await fireEvent.click(screen.getByRole("button", { name: "E-Mail-Einstellungen speichern" }));
    await waitFor(() => expect(calls).toContain("mail:mail.musterstadt.example:587:starttls:rathaus:relay-geheim:buergerbuero@musterstadt.example"));
    await waitFor(() => expect(screen.getByTestId("mail-state").textContent).toContain("Eingerichtet: mail.musterstadt.example:587 (STARTTLS)"));
    // The password is not shown again; the field says an empty one keeps it.
    expect((document.getElementById("mail-password") as HTMLInputElement).value).toBe("");
    expect(screen.getByText(/leer lassen: gespeichertes behalten/)).toBeTruthy();
    await fireEvent.click(screen.getByTestId("mail-test"));
    await waitFor(() => expect(screen.getByTestId("mail-done").textContent).toContain("nimmt die Anmeldung an"));
    // The mailbox the late bounces come back to: a password is needed the first time.
    expect(screen.getByTestId("bounce-state").textContent).toContain("nur sofortige Ablehnungen");
    expect((screen.getByTestId("bounce-test") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(screen.getByLabelText("Postfach-Server (IMAP)"), { target: { value: "imap.musterstadt.example" } });
    await fireEvent.input(screen.getByLabelText("Anmeldename am Postfach"), { target: { value: "buergerbuero" } });
    await fireEvent.click(screen.getByRole("button", { name: "Postfach speichern" }));
    expect((await screen.findByTestId("mail-error")).textContent).toContain("Passwort des Postfachs");
    await fireEvent.input(document.getElementById("bounce-password") as HTMLInputElement, { target: { value: "imap-geheim" } });
    await fireEvent.click(screen.getByRole("button", { name: "Postfach speichern" }));
    await waitFor(() => expect(calls).toContain("bounce:imap.musterstadt.example:993:tls:buergerbuero:imap-geheim:INBOX"));
    await waitFor(() => expect(screen.getByTestId("bounce-state").textContent).toContain("Eingerichtet: INBOX auf imap.musterstadt.example:993 (TLS)"));
    expect((document.getElementById("bounce-password") as HTMLInputElement).value).toBe("");
    await fireEvent.click(screen.getByTestId("bounce-test"));
    await waitFor(() => expect(screen.getByTestId("mail-done").textContent).toContain("ist lesbar"));
    await fireEvent.click(screen.getByTestId("bounce-remove"));
    await waitFor(() => expect(calls).toContain("bounce-remove"));
    expect(screen.getByTestId("bounce-state").textContent).toContain("Kein Postfach eingerichtet");
    await fireEvent.click(screen.getByTestId("mail-remove"));
    await waitFor(() => expect(calls).toContain("mail-remove"));
    expect(screen.getByTestId("mail-state").textContent).toContain("Noch kein Mailserver");
  });

  it("lets the administration set up the BundID bridge from PEM files, refusing a key that does not fit", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    expect((await screen.findByTestId("bundid-state")).textContent).toContain("Noch nicht eingerichtet");
    const bridge = "6f1c2a4e-0000-4000-8000-00000000b0bd";
    await fireEvent.input(screen.getByLabelText("Kennung des ZBP-Brückendienstes (Zustellpunkt-UUID von der FITKO)"), { target: { value: bridge } });
    // Without files the clerk is told what is missing; nothing is sent.
    await fireEvent.click(screen.getByRole("button", { name: "BundID-Einstellungen speichern" }));
    expect((await screen.findByTestId("bundid-error")).textContent).toContain("PEM-Dateien");
    const pick = async (label: RegExp, text: string) => {
      const input = screen.getByLabelText(label) as HTMLInputElement;
      const file = new File([text], "datei.pem", { type: "application/x-pem-file" });
      Object.defineProperty(input, "files", { value: [file], configurable: true });
      await fireEvent.change(input);
    };
    await pick(/^Privater BPKI-Schlüssel/, "-----BEGIN CERTIFICATE-----");
    await pick(/^BPKI-Zertifikat/, "-----BEGIN CERTIFICATE-----");
    await waitFor(() => expect(screen.getByTestId("bundid-files").textContent).toContain("Zertifikatsdatei gelesen"));
    await waitFor(() => expect(screen.getByTestId("bundid-files").textContent).toContain("Schlüsseldatei gelesen"));
    await fireEvent.click(screen.getByRole("button", { name: "BundID-Einstellungen speichern" }));
    await waitFor(() => expect(screen.getByTestId("bundid-error").textContent).toContain("gehören nicht zusammen"));
    await pick(/^Privater BPKI-Schlüssel/, "-----BEGIN PRIVATE KEY-----");
    await waitFor(() => expect(screen.getByTestId("bundid-files").textContent).toContain("Schlüsseldatei gelesen"));
    await fireEvent.change(screen.getByLabelText("Vertrauensniveau der Anmeldungen"), { target: { value: "4" } });
    await fireEvent.click(screen.getByRole("button", { name: "BundID-Einstellungen speichern" }));
    await waitFor(() => expect(calls).toContain(`bundid:${bridge}:4`));
    await waitFor(() => expect(screen.getByTestId("bundid-state").textContent).toContain("signiert als „Gemeinde Musterstadt“"));
    expect(screen.getByTestId("bundid-done").textContent).toContain("Gemeinde Musterstadt");
    await fireEvent.click(screen.getByTestId("bundid-remove"));
    await waitFor(() => expect(calls).toContain("bundid-remove"));
    expect(screen.getByTestId("bundid-state").textContent).toContain("Noch nicht eingerichtet");
  });

  it("warns the administration without a backup, saves the folder and backs up now", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, undefined, undefined, [], {
      settings: null,
      keyReady: true,
      lastGood: null,
      lastFile: null,
      lastBytes: null,
      lastError: null,
      due: false,
      warning: "Es ist keine Datensicherung eingerichtet: Ein Defekt dieses PCs kostet alle Vorgänge.",
    });
    render(App, { backend: tauriBackend });
    await login("admin", "richtig-richtig");
    expect((await screen.findByTestId("backup-warning")).textContent).toContain("keine Datensicherung eingerichtet");
    expect((screen.getByTestId("backup-now") as HTMLButtonElement).disabled).toBe(true);
    const folder = screen.getByLabelText(/^Sicherungsordner/);
    await fireEvent.input(folder, { target: { value: "usb" } });
    await fireEvent.click(screen.getByRole("button", { name: "Sicherungseinstellungen speichern" }));
    expect((await screen.findByTestId("backup-error")).textContent).toContain("vollständiger Pfad");
    await fireEvent.input(folder, { target: { value: "/media/usb/neu" } });
    await fireEvent.input(screen.getByLabelText("Aufbewahren (Anzahl)"), { target: { value: "7" } });
    await fireEvent.click(screen.getByRole("button", { name: "Sicherungseinstellungen speichern" }));
    await waitFor(() => expect(calls).toContain("settings:/media/usb/neu:7"));
    await waitFor(() => expect(screen.getByTestId("backup-warning").textContent).toContain("noch keine Datensicherung"));
    await waitFor(() => expect((screen.getByTestId("backup-now") as HTMLButtonElement).disabled).toBe(false));
    await fireEvent.click(screen.getByTestId("backup-now"));
    await waitFor(() => expect(screen.getByTestId("backup-done").textContent).toContain("3,2 MB, 620 Vorgänge, 1400 Dokumente"));
    await waitFor(() => expect(screen.queryByTestId("backup-warning")).toBeNull());
    expect(screen.getByTestId("backup-state").textContent).toContain("amtsstube-20261203-193000.sicherung.age");
  });

  it("shows the German error of a wrong password and clears the field", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("sb1", "falsch");
    const alert = await screen.findByTestId("login-error");
    expect(alert.textContent).toContain("Passwort ist falsch");
    expect((screen.getByLabelText("Passwort") as HTMLInputElement).value).toBe("");
  });

  it("logs in, shows the work list with German dates, logs out", async () => {
    fakePortal({
      items: [
        {
          id: "a1",
          fileNumber: "MB-2026-000017",
          caseType: "Meldebescheinigung",
          applicant: "Jörg Weiß",
          status: "eingegangen",
          receivedAt: "2026-11-23T08:15:00Z", deadline: null, due: null, assignedTo: null,
        },
      ],
      total: 1,
      counts: counts(1),
      duesPending: false,
    });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    expect(await screen.findByRole("heading", { name: "Arbeitskorb" })).toBeTruthy();
    expect(await screen.findByText("MB-2026-000017")).toBeTruthy();
    expect(screen.getByText("Jörg Weiß")).toBeTruthy();
    expect(screen.getByText("23.11.2026")).toBeTruthy();
    expect(screen.getByText("Eingegangen")).toBeTruthy();
    expect(screen.getByTestId("current-user").textContent).toContain("Sam Bearbeitung");
    expect(screen.queryByTestId("case-key-pending")).toBeNull();
    await fireEvent.click(screen.getByRole("button", { name: "Abmelden" }));
    await waitFor(() => expect(screen.queryByTestId("worklist")).toBeNull());
    expect(screen.getByRole("heading", { name: "Anmeldung" })).toBeTruthy();
  });

  it("tells a new caseworker that the case documents open after a colleague's login", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("sb-neu", "richtig-richtig");
    const note = await screen.findByTestId("case-key-pending");
    expect(note.getAttribute("role")).toBe("status");
    expect(note.textContent).toContain("noch nicht freigeschaltet");
    expect(note.textContent).toContain("Sachbearbeitung oder Leitung");
  });

  it("says why a login takes long, and stops saying it once it is done", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    await screen.findByTestId("worklist");
    expect(screen.queryByText(/dauert länger als sonst/)).toBeNull();
    await fireEvent.click(screen.getByRole("button", { name: "Abmelden" }));
    await login("sb-langsam", "richtig-richtig");
    const slow = screen.getByTestId("login-slow");
    expect(slow.getAttribute("role")).toBe("status");
    expect(slow.textContent?.trim()).toBe("");
    await waitFor(() => expect(slow.textContent).toContain("dauert länger als sonst"), { timeout: 2500 });
    expect(slow.textContent?.replace(/\s+/g, " ")).toContain("ohne dass etwas verloren geht");
    await screen.findByTestId("worklist", {}, { timeout: 3000 });
  });

  it("says so when the work list is empty", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    expect((await screen.findByTestId("worklist-empty")).textContent).toContain("Keine Vorgänge");
    // Standalone: no word about a Rathaus-Server.
    await screen.findByTestId("sync-state");
    expect(screen.queryByTestId("office-state")).toBeNull();
  });

  it("shows the Rathaus-Server's state in office mode", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, { reachable: true }, {
      state: "nicht_erreichbar",
      server: "https://rathaus:8443",
      workstation: "0b4f2c1e-0000-4000-8000-000000000001",
      position: null,
      applied: null,
      message: "Rathaus-Server nicht erreichbar (https://rathaus:8443).",
      signedIn: true,
      waiting: 3,
      conflicts: 1,
    });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    const state = await screen.findByTestId("office-state");
    expect(state.textContent).toContain("Rathaus-Server nicht erreichbar");
    expect(state.getAttribute("title")).toContain("https://rathaus:8443");
    expect(screen.getByTestId("office-waiting").textContent).toBe("3 Schritte warten");
    expect(calls).toContain("office_status");
  });

  it("signs in at the Rathaus-Server again from the status bar when its session ended", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, { reachable: true }, {
      state: "anmeldung_abgelaufen",
      server: "https://rathaus:8443",
      workstation: "0b4f2c1e-0000-4000-8000-000000000001",
      position: 12,
      applied: 12,
      message: "Die Anmeldung am Rathaus-Server ist abgelaufen.",
      signedIn: false,
      waiting: 2,
      conflicts: 0,
    });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    await fireEvent.click(await screen.findByTestId("office-sign-in"));
    const field = await screen.findByLabelText("Passwort für den Rathaus-Server");
    await fireEvent.input(field, { target: { value: "falsch-falsch" } });
    await fireEvent.submit(screen.getByTestId("office-sign-in-form"));
    await waitFor(() => expect(screen.getByTestId("sync-message").textContent).toContain("Passwort ist falsch"));
    // The form stays for another try, emptied.
    expect((screen.getByLabelText("Passwort für den Rathaus-Server") as HTMLInputElement).value).toBe("");
    await fireEvent.input(screen.getByLabelText("Passwort für den Rathaus-Server"), { target: { value: "richtig-richtig" } });
    await fireEvent.submit(screen.getByTestId("office-sign-in-form"));
    await waitFor(() => expect(screen.getByTestId("sync-message").textContent).toContain("Am Rathaus-Server angemeldet"));
    await waitFor(() => expect(screen.getByTestId("office-state").textContent).toContain("verbunden"));
    expect(screen.queryByTestId("office-sign-in")).toBeNull();
    expect(calls.filter((c) => c === "office_sign_in").length).toBe(2);
    // Signed in: "Jetzt abgleichen" starts the synchronisation at once.
    await fireEvent.click(screen.getByTestId("office-sync-now"));
    await waitFor(() => expect(screen.getByTestId("sync-message").textContent).toContain("Abgleich mit dem Rathaus-Server läuft"));
    expect(calls).toContain("office_sync_now");
  });

  it("lists the refused steps and resolves them from the Konflikte view", async () => {
    const conflicts: OfficeConflict[] = [
      {
        seq: 4,
        at: "2026-12-03T08:15:00Z",
        fileNumber: "HU-2026-00017",
        what: "Bearbeitungsschritt",
        reason: "„Entscheiden“ wurde nicht übernommen: Der Vorgang HU-2026-00017 wurde inzwischen geändert und steht jetzt auf „Entschieden“.",
        stateNow: "entschieden",
        assigneeNow: "anna",
      },
      {
        seq: 5,
        at: "2026-12-03T08:16:00Z",
        fileNumber: "PA-2026-000003",
        what: "Vorgang anlegen",
        reason: "Das Aktenzeichen PA-2026-000003 ist schon vergeben.",
        stateNow: null,
        assigneeNow: null,
      },
      {
        seq: 6,
        at: "2026-12-03T08:17:00Z",
        fileNumber: "ON-2026-000002",
        what: "Zuweisung",
        reason: "Der Vorgang ON-2026-000002 ist inzwischen ben zugewiesen.",
        stateNow: "in_pruefung",
        assigneeNow: "ben",
      },
    ];
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, { reachable: true }, {
      state: "verbunden",
      server: "https://rathaus:8443",
      workstation: "0b4f2c1e-0000-4000-8000-000000000001",
      position: 12,
      applied: 12,
      message: "Verbunden mit dem Rathaus-Server https://rathaus:8443.",
      signedIn: true,
      waiting: 0,
      conflicts: 0,
    }, conflicts);
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    const open = await screen.findByTestId("office-conflicts");
    expect(open.textContent).toContain("3 Konflikte");
    await fireEvent.click(open);
    expect(await screen.findByRole("heading", { name: "Konflikte" })).toBeTruthy();
    await waitFor(() => expect(screen.getAllByTestId("conflict-row")).toHaveLength(3));
    expect(screen.getAllByTestId("conflict-reason")[0].textContent).toContain("steht jetzt auf „Entschieden“");
    expect(screen.getByText("Entschieden, zuständig: anna")).toBeTruthy();
    expect(screen.getByText("nicht mehr sichtbar")).toBeTruthy();

    // Take the server's state for the first.
    await fireEvent.click(screen.getByRole("button", { name: "Stand übernehmen für HU-2026-00017" }));
    await waitFor(() => expect(screen.getAllByTestId("conflict-row")).toHaveLength(2));
    expect(screen.getByTestId("conflicts-message").textContent).toContain("Stand des Rathaus-Servers für HU-2026-00017 übernommen");
    // A refused paper intake cannot be redone: the reason shows, the conflict stays.
    await fireEvent.click(screen.getByRole("button", { name: "Erneut ausführen: Vorgang anlegen zu PA-2026-000003" }));
    expect((await screen.findByTestId("conflicts-error")).textContent).toContain("bitte neu aufnehmen");
    expect(screen.getAllByTestId("conflict-row")).toHaveLength(2);
    // The assignment is done again on top of the case as it is now.
    await fireEvent.click(screen.getByRole("button", { name: "Erneut ausführen: Zuweisung zu ON-2026-000002" }));
    await waitFor(() => expect(screen.getAllByTestId("conflict-row")).toHaveLength(1));
    expect(calls).toContain("office_conflict_redo");
    // Back to the work list.
    await fireEvent.click(screen.getByTestId("conflicts-close"));
    expect(await screen.findByTestId("worklist-empty")).toBeTruthy();
  });

  it("reads the work list again once this desk has applied what the server already had", async () => {
    // The server is at 15 from the start; this desk applies 14, then 15: each
    // step reloads the list, though the server's position never moves.
    const office: OfficeStatus = {
      state: "verbunden",
      server: "https://rathaus:8443",
      workstation: "0b4f2c1e-0000-4000-8000-000000000001",
      position: 15,
      applied: 13,
      message: "Verbunden mit dem Rathaus-Server https://rathaus:8443.",
      signedIn: true,
      waiting: 0,
      conflicts: 0,
    };
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, { reachable: true }, office);
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    expect(await screen.findByTestId("worklist-empty")).toBeTruthy();
    await waitFor(() => expect(calls).toContain("office_status"));
    // The clerk searches; reading the list again keeps her search.
    const field = screen.getByLabelText("Suche in Vorgängen, Notizen und Antragsdaten");
    await fireEvent.input(field, { target: { value: "Schulz" } });
    await fireEvent.submit(field.closest("form") as HTMLFormElement);
    await waitFor(() => expect(calls).toContain('work_list:"Schulz"'));
    const lists = () => calls.filter((c) => c === "work_list").length;
    const first = lists();
    office.applied = 14;
    await waitFor(() => expect(lists()).toBeGreaterThan(first), { timeout: 5000 });
    expect(calls.filter((c) => c.startsWith("work_list:")).at(-1)).toBe('work_list:"Schulz"');
    expect((screen.getByLabelText("Suche in Vorgängen, Notizen und Antragsdaten") as HTMLInputElement).value).toBe("Schulz");
    const second = lists();
    office.applied = 15;
    await waitFor(() => expect(lists()).toBeGreaterThan(second), { timeout: 5000 });
    // Caught up: no more quick asking.
    const asked = calls.filter((c) => c === "office_status").length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(calls.filter((c) => c === "office_status").length).toBe(asked);
  }, 15_000);

  it("searches again when \"Suchen\" is pressed with the same words", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    expect(await screen.findByTestId("worklist-empty")).toBeTruthy();
    const field = screen.getByLabelText("Suche in Vorgängen, Notizen und Antragsdaten");
    await fireEvent.input(field, { target: { value: "Schulz" } });
    await fireEvent.submit(field.closest("form") as HTMLFormElement);
    await waitFor(() => expect(calls.filter((c) => c === "work_list").length).toBeGreaterThanOrEqual(2));
    const before = calls.filter((c) => c === "work_list").length;
    await fireEvent.submit(field.closest("form") as HTMLFormElement);
    await waitFor(() => expect(calls.filter((c) => c === "work_list").length).toBe(before + 1));
  });

  it("says when the session at the Rathaus-Server has ended", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, { reachable: true }, {
      state: "anmeldung_abgelaufen",
      server: "https://rathaus:8443",
      workstation: "0b4f2c1e-0000-4000-8000-000000000001",
      position: 7,
      applied: 7,
      message: "Die Anmeldung am Rathaus-Server ist abgelaufen.",
      signedIn: false,
      waiting: 1,
      conflicts: 0,
    });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    const state = await screen.findByTestId("office-state");
    expect(state.textContent).toContain("Anmeldung abgelaufen");
    expect(screen.getByTestId("office-waiting").textContent).toBe("1 Schritt wartet");
  });

  it("synchronises on request, reports the result and reloads the work list", async () => {
    const calls = fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    expect(await screen.findByTestId("worklist-empty")).toBeTruthy();
    expect((await screen.findByTestId("sync-state")).textContent).toContain("noch nicht synchronisiert");
    await fireEvent.click(screen.getByRole("button", { name: "Jetzt synchronisieren" }));
    await waitFor(() => expect(screen.getByTestId("sync-message").textContent).toContain("Synchronisiert: 1 neue Anträge"));
    expect(await screen.findByText("ON-2026-000099")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("sync-state").textContent).toContain("Portal: online"));
    expect(screen.getByText(/zuletzt 23\.11\.2026, 14:05/)).toBeTruthy();
    expect(calls.filter((c) => c === "work_list").length).toBeGreaterThanOrEqual(2);
  });

  it("shows the progress of a background run and reloads the work list when it ends", async () => {
    const list: WorkList = { items: [], total: 0, counts: counts(0), duesPending: false };
    let statusCalls = 0;
    mockIPC((cmd) => {
      switch (cmd) {
        case "session":
          return sb;
        case "work_list":
          return list;
        case "sync_status": {
          statusCalls += 1;
          const running = statusCalls <= 2;
          if (!running && list.total === 0) {
            list.items.push({
              id: "bg",
              fileNumber: "ON-2026-000123",
              caseType: "Hundesteuer",
              applicant: "Jörg Weiß",
              status: "eingegangen",
              receivedAt: "2026-11-23T13:05:00Z", deadline: null, due: null, assignedTo: null,
            });
            list.total = 1;
          }
          return {
            configured: true,
            connectivity: "online",
            lastSuccess: null,
            pending: 0,
            failed: 0,
            running,
            progress: running ? { phase: "abholen", done: 12, total: 40 } : null,
            nextRun: null,
          };
        }
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    expect((await screen.findByTestId("sync-progress-label")).textContent).toContain("Anträge abholen: 12 von 40");
    expect((screen.getByRole("progressbar") as HTMLProgressElement).value).toBe(12);
    expect(await screen.findByText("ON-2026-000123", {}, { timeout: 4000 })).toBeTruthy();
    expect(screen.queryByTestId("sync-progress")).toBeNull();
    // Polled once a second while running, not in a tight loop.
    expect(statusCalls).toBeLessThan(8);
  });

  it("opens a case, ticks the checklist and requests missing documents with a deadline", async () => {
    const warning: string | null = null;
    const actions: unknown[] = [];
    const checks: unknown[] = [];
    let state = "inPruefung";
    const detail = () => ({
      id: "c".repeat(32),
      fileNumber: "GEW-2026-0100001",
      caseType: "Gewerbeanmeldung",
      applicant: "Ayşe Öztürk",
      state,
      stateLabel: state === "inPruefung" ? "In Prüfung" : "Nachgefordert",
      receivedAt: "2026-11-20T09:00:00Z",
      channel: "online",
      portalCaseId: "6f1c2a4e-0000-4000-8000-000000000001",
      replyChannel: { key: "eMail", label: "E-Mail an ayse@example.org – ohne Schlüssel: Inhalte nur per Post", available: false },
      assignedTo: "sb1",
      tasks: [],
      allowedActions: state === "inPruefung" ? ["nachfordern", "vollstaendig", "zurueckziehen", "weiterleiten"] : ["nachreichung_eingegangen"],
      checklist: [{ item: "Angaben zur Person vollständig", checked: checks.length > 0, checkedBy: checks.length > 0 ? "sb1" : null }],
      deadlines: { target: "2026-11-25", legal: null, clock: "fiktion", legalBasis: "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG NRW", periodStart: null, originalEnd: null, inactionFrom: "2027-02-20", status: "imPlan", extended: false, extensionPossible: false, requestWarning: warning, deemedDelivery: null },
      history: [],
      notes: [],
      documents: [
        { id: "1", kind: "attachment", filename: "Gewerbeanmeldung.pdf", mimeType: "application/pdf", size: 2_400_000, origin: "Antrag", addedAt: "2026-11-20T09:00:00Z" },
        { id: "2", kind: "data", filename: null, mimeType: "application/json", size: 812, origin: "Nachreichung 1", addedAt: null },
      ],
    });
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "session":
          return sb;
        case "sync_status":
          return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
        case "work_list":
          return {
            items: [
              { id: "c".repeat(32), fileNumber: "GEW-2026-0100001", caseType: "Gewerbeanmeldung", applicant: "Ayşe Öztürk", status: "in_pruefung", receivedAt: "2026-11-20T09:00:00Z", deadline: null, due: null, assignedTo: null },
            ],
            total: 1,
          };
        case "case_detail":
          return detail();
        case "set_check":
          checks.push(args);
          return null;
        case "document":
          return {
            filename: null,
            mimeType: "application/json",
            contentBase64: btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify({ antragsteller: { vorname: "Ayşe", anschrift: { ort: "Musterstadt" } } })))),
          };
        case "case_action":
          actions.push((args as { action: unknown }).action);
          state = "nachgefordert";
          return detail();
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByRole("button", { name: "Vorgang GEW-2026-0100001 öffnen" }));
    expect((await screen.findByTestId("case-applicant")).textContent).toBe("Ayşe Öztürk");
    expect(screen.getByText("25.11.2026")).toBeTruthy();
    expect(screen.getByTestId("case-legal").textContent).toContain("beginnt mit dem Eingang der vollständigen Unterlagen");
    expect(screen.getByTestId("case-clock").textContent).toContain("Genehmigungsfiktion");
    expect(screen.getByTestId("case-clock").textContent).toContain("§ 42a VwVfG NRW");
    // The citizen's reply channel, and that it cannot be served here yet.
    expect(screen.getByTestId("case-reply-channel").textContent).toContain("E-Mail an ayse@example.org");
    expect(screen.getByTestId("case-reply-channel").textContent).toContain("noch nicht geantwortet werden");
    // The documents in columns: name and type, origin, day, size in German format;
    // until one is chosen the right pane says what appears there.
    const rows = [...screen.getByTestId("case-documents").querySelectorAll("tbody tr")].map((r) =>
      [...r.querySelectorAll("td")].slice(0, 4).map((c) => c.textContent?.replace(/\s+/g, " ").trim()),
    );
    expect(rows).toEqual([
      ["Gewerbeanmeldung.pdf · PDF", "Antrag", "20.11.2026", "2,4 MB"],
      ["Antragsdaten · Daten (JSON)", "Nachreichung 1", "–", "812 Byte"],
    ]);
    expect(screen.getByTestId("case-side-hint")).toBeTruthy();
    // The application data, decoded in memory and shown as a list; its row is marked.
    await fireEvent.click(screen.getByRole("button", { name: "Antragsdaten anzeigen" }));
    expect((await screen.findByTestId("document-data")).textContent).toContain("antragsteller › anschrift › ort");
    const marked = screen.getByTestId("case-documents").querySelectorAll("tbody tr[aria-current=true]");
    expect([...marked].map((r) => r.querySelector("td")?.textContent)).toEqual(["Antragsdaten · Daten (JSON)"]);
    expect(screen.queryByTestId("case-side-hint")).toBeNull();
    expect(screen.getByTestId("document-data").textContent).toContain("Ayşe");
    await fireEvent.click(screen.getByRole("button", { name: "Dokument schließen" }));
    await fireEvent.click(screen.getByRole("checkbox", { name: /Angaben zur Person vollständig/ }));
    await waitFor(() => expect(checks).toHaveLength(1));
    // An action with reasons opens its form first.
    await fireEvent.click(screen.getByRole("button", { name: "Unterlagen nachfordern" }));
    expect(actions).toHaveLength(0);
    // The period has not started: nothing to warn about.
    expect(screen.queryByTestId("request-warning")).toBeNull();
    await fireEvent.input(screen.getByLabelText("Fehlende Unterlagen (eine je Zeile)"), { target: { value: "Handelsregisterauszug\n\nPersonalausweis" } });
    await fireEvent.input(screen.getByLabelText("Frist für die Nachreichung"), { target: { value: "7.12.2026" } });
    await fireEvent.click(screen.getByRole("button", { name: "Ausführen" }));
    await waitFor(() => expect(screen.getByTestId("case-state").textContent).toBe("Nachgefordert"));
    expect(actions).toEqual([{ action: "nachfordern", fehlend: ["Handelsregisterauszug", "Personalausweis"], frist: "2026-12-07" }]);
    expect(screen.getByTestId("case-message").textContent).toContain("Erledigt: Unterlagen nachfordern");
    // The answer on paper: the day the documents came in, today unless changed.
    await fireEvent.click(screen.getByRole("button", { name: "Nachreichung eingegangen" }));
    const day = screen.getByLabelText("Eingang der Unterlagen") as HTMLInputElement;
    // Shown in German order, whatever the web view's locale.
    expect(day.value).toMatch(/^\d{2}\.\d{2}\.\d{4}$/);
    await fireEvent.input(day, { target: { value: "30.11.2026" } });
    await fireEvent.click(screen.getByRole("button", { name: "Ausführen" }));
    await waitFor(() => expect(actions).toHaveLength(2));
    expect(actions[1]).toEqual({ action: "nachreichungEingegangen", eingang: "2026-11-30" });
    await fireEvent.click(screen.getByRole("button", { name: "Zurück zum Arbeitskorb" }));
    expect(await screen.findByRole("heading", { name: "Arbeitskorb" })).toBeTruthy();
  });

  it("warns before a request for documents while a Fiktion period runs, and shows the start and the extension", async () => {
    const warning = "Die Fiktionsfrist läuft weiter: Eine Nachforderung hält sie nicht an (§ 42a VwVfG kennt keine Hemmung). Sie endet am 15.04.2026 – in 20 Tagen. Wird bis dahin nicht entschieden, gilt die Genehmigung als erteilt.";
    const actions: unknown[] = [];
    let tasks = ["E-Mail nicht zugestellt (Zustellung abgelehnt: 550 5.1.1 Postfach unbekannt). Bitte den gespeicherten Brief (Unterlagen) ausdrucken und per Post senden, dann „Per Post versandt“ wählen."];
    mockOneCase(
      { id: "d".repeat(32), fileNumber: "MAK-2026-0100001", caseType: "Erlaubnis als Immobilienmakler", applicant: "Jürgen Weiß", status: "in_bearbeitung", receivedAt: "2026-01-15T09:00:00Z", deadline: "imPlan", due: "2026-06-15", assignedTo: "sb1" },
      () => ({
        id: "d".repeat(32), fileNumber: "MAK-2026-0100001", caseType: "Erlaubnis als Immobilienmakler", applicant: "Jürgen Weiß",
        state: "inBearbeitung", stateLabel: "In Bearbeitung", receivedAt: "2026-01-15T09:00:00Z", channel: "online", portalCaseId: null, assignedTo: "sb1",
        tasks: [...tasks],
        answers: [
          {
            letter: "Anhoerung-MAK-2026-0100001.pdf", at: "2026-12-03T09:00:00Z", kanal: "email", wanted: "eMail", fallback: false,
            state: tasks.length ? "fehlgeschlagen" : "per Post nachgesandt", error: "Zustellung abgelehnt: 550 5.1.1 Postfach unbekannt",
          },
          { letter: "Eingangsbestaetigung-MAK-2026-0100001.pdf", at: "2026-01-16T09:00:00Z", kanal: "post", wanted: "eMail", fallback: true, state: "per Post", error: null },
        ],
        allowedActions: ["nachfordern", "entscheiden"], checklist: [],
        deadlines: { target: "2026-02-16", legal: "2026-06-15", clock: "fiktion", legalBasis: "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG NRW", periodStart: "2026-01-15", originalEnd: "2026-04-15", inactionFrom: "2026-04-15", status: "imPlan", extended: true, extensionPossible: false, requestWarning: warning, deemedDelivery: null },
        history: [], notes: [], documents: [],
      }),
      (cmd, args) => {
        if (cmd === "mail_sent_by_post") {
          actions.push("post");
          tasks = [];
          return {};
        }
        if (cmd !== "case_action") throw new Error(`unexpected command ${cmd}`);
        actions.push((args as { action: unknown }).action);
        throw { code: "invalidInput", message: "Die Äußerungsfrist der Anhörung läuft bis 17.12.2026." };
      },
    );
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByRole("button", { name: "Vorgang MAK-2026-0100001 öffnen" }));
    const legal = await screen.findByTestId("case-legal");
    // What the clerk has to do first: a refused e-mail, as a task at the top.
    expect(screen.getByTestId("case-tasks").textContent).toContain("per Post senden");
    // Each answer: the way it took, whether that was the one asked for, how far it got.
    const answers = screen.getByTestId("case-answers");
    expect(answers.textContent).toContain("E-Mail (verschlüsselt)");
    expect(answers.textContent).toContain("fehlgeschlagen");
    expect(answers.textContent).toMatch(/Post\s–\sErsatzweg, gewünscht: E-Mail/);
    // Sent by post: the task is done and gone.
    await fireEvent.click(screen.getByRole("button", { name: "Per Post versandt" }));
    await waitFor(() => expect(screen.queryByTestId("case-tasks")).toBeNull());
    await waitFor(() => expect(screen.getByTestId("case-answers").textContent).toContain("per Post nachgesandt"));
    expect(actions.shift()).toBe("post");
    expect(legal.textContent).toContain("15.06.2026");
    expect(legal.textContent).toContain("Beginn 15.01.2026");
    expect(legal.textContent).toContain("verlängert, bisher 15.04.2026");
    expect(screen.queryByTestId("request-warning")).toBeNull();
    await fireEvent.click(screen.getByRole("button", { name: "Unterlagen nachfordern" }));
    expect((await screen.findByTestId("request-warning")).textContent).toContain("gilt die Genehmigung als erteilt");
    // A refusal asks for the note on the hearing (§ 28 VwVfG) and sends it with the step.
    await fireEvent.click(screen.getByRole("button", { name: "Entscheiden" }));
    expect(screen.queryByLabelText(/Anhörung \(§ 28 VwVfG\)/)).toBeNull();
    await fireEvent.change(screen.getByLabelText("Entscheidung"), { target: { value: "abgelehnt" } });
    await fireEvent.input(screen.getByLabelText(/Begründung/), { target: { value: "Führungszeugnis mit Eintrag" } });
    await fireEvent.input(await screen.findByLabelText(/Anhörung \(§ 28 VwVfG\)/), { target: { value: "Stellungnahme liegt vor" } });
    await fireEvent.click(screen.getByRole("button", { name: "Ausführen" }));
    await waitFor(() => expect(actions).toHaveLength(1));
    expect(actions[0]).toEqual({ action: "entscheiden", ergebnis: "abgelehnt", begruendung: "Führungszeugnis mit Eintrag", anhoerung_vermerk: "Stellungnahme liegt vor" });
  });

  it("records a deemed permit after the Fiktion period ran out, with the end date in the form", async () => {
    const actions: unknown[] = [];
    let state = "in_bearbeitung";
    const detail = () => ({
      id: "e".repeat(32), fileNumber: "MAK-2026-0100002", caseType: "Erlaubnis als Immobilienmakler", applicant: "Jürgen Weiß",
      state, stateLabel: state === "in_bearbeitung" ? "In Bearbeitung" : "Genehmigung gilt als erteilt",
      receivedAt: "2026-06-01T09:00:00Z", channel: "online", portalCaseId: null, assignedTo: "sb1",
      tasks: [],
      allowedActions: state === "in_bearbeitung" ? ["nachfordern", "entscheiden", "fiktion_feststellen"] : ["versenden", "abschliessen"],
      checklist: [],
      deadlines: { target: "2026-07-01", legal: "2026-09-01", clock: "fiktion", legalBasis: "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG NRW", periodStart: "2026-06-01", originalEnd: null, inactionFrom: "2026-09-01", status: state === "in_bearbeitung" ? "fiktionEingetreten" : "imPlan", extended: false, extensionPossible: false, requestWarning: null, deemedDelivery: null },
      history: [], notes: [], documents: [],
    });
    mockOneCase(
      { id: "e".repeat(32), fileNumber: "MAK-2026-0100002", caseType: "Erlaubnis als Immobilienmakler", applicant: "Jürgen Weiß", status: "in_bearbeitung", receivedAt: "2026-06-01T09:00:00Z", deadline: "fiktionEingetreten", due: "2026-09-01", assignedTo: "sb1" },
      detail,
      (cmd, args) => {
        if (cmd === "letter_view") throw { code: "invalidInput", message: "kein Brief im Test" };
        if (cmd !== "case_action") throw new Error(`unexpected command ${cmd}`);
        actions.push((args as { action: unknown }).action);
        state = "gilt_als_erteilt";
        return detail();
      },
    );
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByRole("button", { name: "Vorgang MAK-2026-0100002 öffnen" }));
    await fireEvent.click(await screen.findByRole("button", { name: "Genehmigungsfiktion feststellen" }));
    expect(actions).toHaveLength(0);
    const note = await screen.findByTestId("fiction-note");
    expect(note.textContent).toContain("01.09.2026");
    expect(note.textContent).toContain("gilt als erteilt");
    await fireEvent.click(screen.getByRole("button", { name: "Ausführen" }));
    await waitFor(() => expect(screen.getByTestId("case-state").textContent).toBe("Genehmigung gilt als erteilt"));
    expect(actions).toEqual([{ action: "fiktionFeststellen" }]);
  });

  it("locks the screen after inactivity, hides the data and unlocks with the password", async () => {
    const calls: string[] = [];
    let locked = false;
    mockIPC((cmd, args) => {
      calls.push(cmd);
      switch (cmd) {
        case "session":
          return { ...sb, lockAfterSeconds: 1, screenLocked: locked };
        case "sync_status":
          return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
        case "work_list":
          if (locked) throw { code: "locked", message: "gesperrt" };
          return { items: [{ id: "a", fileNumber: "MB-2026-0100001", caseType: "Meldebescheinigung", applicant: "Jörg Weiß", status: "eingegangen", receivedAt: "2026-11-23T08:15:00Z", deadline: null, due: null, assignedTo: null }], total: 1, counts: counts(1), duesPending: false };
        case "lock_screen":
          locked = true;
          return null;
        case "unlock_screen":
          if ((args as { password: string }).password !== "richtig-richtig") {
            throw { code: "wrongCredentials", message: "Benutzername oder Passwort ist falsch." };
          }
          locked = false;
          return { ...sb, lockAfterSeconds: 1, screenLocked: false };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    expect(await screen.findByText("Jörg Weiß")).toBeTruthy();
    expect(await screen.findByTestId("lock-screen", {}, { timeout: 4000 })).toBeTruthy();
    expect(screen.queryByText("Jörg Weiß")).toBeNull();
    expect(screen.queryByTestId("sync-bar")).toBeNull();
    await fireEvent.input(screen.getByLabelText("Passwort"), { target: { value: "falsch" } });
    await fireEvent.click(screen.getByRole("button", { name: "Entsperren" }));
    expect((await screen.findByTestId("unlock-error")).textContent).toContain("Passwort ist falsch");
    await fireEvent.input(screen.getByLabelText("Passwort"), { target: { value: "richtig-richtig" } });
    await fireEvent.click(screen.getByRole("button", { name: "Entsperren" }));
    expect(await screen.findByText("Jörg Weiß")).toBeTruthy();
    expect(calls).toContain("lock_screen");
  });

  it("lets the Leitung reassign a case with a reason", async () => {
    const assigned: unknown[] = [];
    const lt = { ...sb, username: "lt", displayName: "Lena Leitung", role: "leitung" as const, roleLabel: "Leitung" };
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "session":
          return lt;
        case "sync_status":
          return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
        case "work_list":
          return { items: [{ id: "c".repeat(32), fileNumber: "GEW-2026-0100001", caseType: "Gewerbeanmeldung", applicant: "Ayşe Öztürk", status: "in_pruefung", receivedAt: "2026-11-20T09:00:00Z", deadline: null, due: null, assignedTo: "sb1" }], total: 1, counts: counts(1), duesPending: false };
        case "case_workers":
          return [
            { username: "sb1", displayName: "Sam Bearbeitung", role: "sachbearbeitung", active: true },
            { username: "sb2", displayName: "Sina Bearbeitung", role: "sachbearbeitung", active: true },
          ];
        case "case_detail":
          return {
            id: "c".repeat(32), fileNumber: "GEW-2026-0100001", caseType: "Gewerbeanmeldung", applicant: "Ayşe Öztürk",
            state: "inPruefung", stateLabel: "In Prüfung", receivedAt: "2026-11-20T09:00:00Z", channel: "online", portalCaseId: null,
            assignedTo: assigned.length ? "sb2" : "sb1", allowedActions: [], checklist: [], tasks: [],
            deadlines: { target: null, legal: null, clock: "servicefrist", legalBasis: "", periodStart: null, originalEnd: null, inactionFrom: null, status: "imPlan", extended: false, extensionPossible: false, requestWarning: null, deemedDelivery: null },
            history: [], notes: [], documents: [],
          };
        case "assign_case":
          assigned.push((args as { request: unknown }).request);
          return null;
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByRole("button", { name: "Vorgang GEW-2026-0100001 öffnen" }));
    expect((await screen.findByTestId("case-assignee")).textContent).toBe("Sam Bearbeitung");
    await screen.findByRole("option", { name: "Sina Bearbeitung (sb2)" });
    await fireEvent.change(screen.getByLabelText("Zuweisen an"), { target: { value: "sb2" } });
    await fireEvent.input(screen.getByLabelText("Begründung (bei Umverteilung nötig)"), { target: { value: "Urlaubsvertretung" } });
    await fireEvent.click(screen.getByRole("button", { name: "Zuweisen" }));
    await waitFor(() => expect(screen.getByTestId("case-assignee").textContent).toBe("Sina Bearbeitung"));
    expect(assigned).toEqual([{ caseId: "c".repeat(32), to: "sb2", reason: "Urlaubsvertretung" }]);
  });

  it("lets the Leitung assign selected cases at once and save the view as a filter", async () => {
    const bulk: unknown[] = [];
    const saved: unknown[] = [];
    const lt = { ...sb, username: "lt", displayName: "Lena Leitung", role: "leitung" as const, roleLabel: "Leitung" };
    const row = (id: string, n: number) => ({ id, fileNumber: `GEW-2026-010000${n}`, caseType: "Gewerbeanmeldung", applicant: `Person ${n}`, status: "eingegangen", receivedAt: "2026-11-20T09:00:00Z", deadline: null, due: null, assignedTo: null });
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "session":
          return lt;
        case "sync_status":
          return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
        case "work_list":
          return { items: [row("a", 1), row("b", 2)], total: 2, counts: counts(2), duesPending: false };
        case "case_workers":
          return [{ username: "sb2", displayName: "Sina Bearbeitung", role: "sachbearbeitung", active: true }];
        case "saved_filters":
          return [];
        case "save_filter":
          saved.push((args as { filter: unknown }).filter);
          return [...saved];
        case "delete_filter": {
          const name = (args as { name: string }).name;
          saved.splice(
            saved.findIndex((f) => (f as { name: string }).name === name),
            1,
          );
          return [...saved];
        }
        case "assign_cases":
          bulk.push((args as { request: unknown }).request);
          return { assigned: 2, refused: [] };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByRole("checkbox", { name: "GEW-2026-0100001 auswählen" }));
    await fireEvent.click(screen.getByRole("checkbox", { name: "GEW-2026-0100002 auswählen" }));
    await screen.findByRole("option", { name: "Sina Bearbeitung (sb2)" });
    await fireEvent.change(screen.getByLabelText("2 ausgewählte Vorgänge zuweisen an"), { target: { value: "sb2" } });
    await fireEvent.click(screen.getByRole("button", { name: "Zuweisen" }));
    await waitFor(() => expect(screen.getByTestId("bulk-message").textContent).toContain("2 Vorgänge zugewiesen"));
    expect(bulk).toEqual([{ caseIds: ["a", "b"], to: "sb2", reason: null }]);
    await fireEvent.input(screen.getByLabelText("Aktuelle Ansicht als Filter speichern"), { target: { value: "Alle Gewerbe" } });
    await fireEvent.click(screen.getByRole("button", { name: "Filter speichern" }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(await screen.findByRole("button", { name: "Alle Gewerbe" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Filter „Alle Gewerbe“ löschen" })).toBeTruthy();
    await fireEvent.input(screen.getByLabelText("Aktuelle Ansicht als Filter speichern"), { target: { value: "Meine" } });
    await fireEvent.click(screen.getByRole("button", { name: "Filter speichern" }));
    await screen.findByRole("button", { name: "Meine" });
    // A filter deleted: its chip is gone, the focus goes to the chip in its place, then to the search field.
    const del = screen.getByRole("button", { name: "Filter „Alle Gewerbe“ löschen" });
    del.focus();
    await fireEvent.click(del);
    await waitFor(() => expect(screen.queryByRole("button", { name: "Alle Gewerbe" })).toBeNull());
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("button", { name: "Meine" })));
    await fireEvent.click(screen.getByRole("button", { name: "Filter „Meine“ löschen" }));
    await waitFor(() => expect(document.activeElement?.id).toBe("worklist-search"));
  });

  it("searches the work list", async () => {
    const queries: unknown[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "session":
          return sb;
        case "sync_status":
          return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
        case "work_list": {
          const q = (args as { query: { search?: string } }).query;
          queries.push(q);
          return q.search
            ? { items: [], total: 0, counts: counts(0), duesPending: false }
            : { items: [{ id: "a", fileNumber: "MB-2026-0100001", caseType: "Meldebescheinigung", applicant: "Jörg Weiß", status: "eingegangen", receivedAt: "2026-11-23T08:15:00Z", deadline: "imPlan", due: "2026-11-26", assignedTo: null }], total: 1, counts: counts(1), duesPending: false };
        }
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    expect(await screen.findByText("Jörg Weiß")).toBeTruthy();
    expect(screen.getByText("26.11.2026")).toBeTruthy();
    await fireEvent.input(screen.getByLabelText("Suche in Vorgängen, Notizen und Antragsdaten"), { target: { value: " Gaststätte " } });
    await fireEvent.click(screen.getByRole("button", { name: "Suchen" }));
    expect((await screen.findByTestId("worklist-empty")).textContent).toContain("Keine Vorgänge zu „Gaststätte“");
    expect(queries).toContainEqual({ offset: 0, limit: 50, search: "Gaststätte" });
    await fireEvent.click(screen.getByRole("button", { name: "Suche aufheben" }));
    expect(await screen.findByText("Jörg Weiß")).toBeTruthy();
  });

  it("says while deadlines are computed in the background and reads the list again until they are in", async () => {
    let calls = 0;
    mockIPC((cmd) => {
      switch (cmd) {
        case "session":
          return sb;
        case "sync_status":
          return { configured: false, connectivity: null, lastSuccess: null, pending: 0, failed: 0, running: false, progress: null, nextRun: null };
        case "work_list":
          calls++;
          return {
            items: [{ id: "a", fileNumber: "MB-2026-0100001", caseType: "Meldebescheinigung", applicant: "Jörg Weiß", status: "eingegangen", receivedAt: "2026-11-23T08:15:00Z", deadline: "imPlan", due: "2026-11-26", assignedTo: null }],
            total: 1,
            counts: counts(1),
            duesPending: calls < 2,
          };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    expect((await screen.findByTestId("dues-pending")).textContent).toContain("einmal neu berechnet");
    await waitFor(() => expect(screen.queryByTestId("dues-pending")).toBeNull(), { timeout: 5000 });
    expect(calls).toBe(2);
  });

  it("says calmly when the portal cannot be reached", async () => {
    fakePortal({ items: [], total: 0, counts: counts(0), duesPending: false }, { reachable: false });
    render(App, { backend: tauriBackend });
    await login("sb1", "richtig-richtig");
    await fireEvent.click(await screen.findByRole("button", { name: "Jetzt synchronisieren" }));
    await waitFor(() => expect(screen.getByTestId("sync-message").textContent).toContain("Keine Verbindung zum Portal"));
    await waitFor(() => expect(screen.getByTestId("sync-state").textContent).toContain("offline"));
  });
});

describe("Erste Einrichtung", () => {
  it("restores a backup onto a new PC from the first run", async () => {
    let provisioned = false;
    const restores: { archive: string; recoveryKey: string }[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "setup_due":
          return !provisioned;
        case "export_folder":
          return "/home/admin/Downloads";
        case "restore_first_run": {
          const a = args as { archive: string; recoveryKey: string };
          restores.push(a);
          if (!a.recoveryKey.startsWith("AGE-SECRET-KEY-1RICHTIG")) {
            throw { code: "invalidInput", message: "Der Wiederherstellungsschlüssel passt nicht zu dieser Sicherung." };
          }
          provisioned = true;
          return { createdAt: "2026-12-03T18:00:00Z", cases: 620, documents: 1400, auditIntact: true, configuration: ["gemeinde.toml"] };
        }
        case "session":
          return null;
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    await fireEvent.click(await screen.findByLabelText(/Aus einer Datensicherung wiederherstellen/));
    expect(screen.queryByLabelText(/^Passwort \(/)).toBeNull();
    await fireEvent.input(screen.getByLabelText(/Sicherungsdatei/), { target: { value: "sicherung.age" } });
    await fireEvent.input(screen.getByLabelText(/^Wiederherstellungsschlüssel/), { target: { value: "AGE-SECRET-KEY-1FALSCH" } });
    await fireEvent.submit(screen.getByTestId("setup-form"));
    expect((await screen.findByTestId("setup-error")).textContent).toContain("vollständigen Pfad");
    expect(restores).toHaveLength(0);
    await fireEvent.input(screen.getByLabelText(/Sicherungsdatei/), { target: { value: "/media/usb/amtsstube-20261203-180000.sicherung.age" } });
    await fireEvent.submit(screen.getByTestId("setup-form"));
    await waitFor(() => expect(screen.getByTestId("setup-error").textContent).toContain("passt nicht"));
    // The key is not kept after a try.
    expect((screen.getByLabelText(/^Wiederherstellungsschlüssel/) as HTMLInputElement).value).toBe("");
    await fireEvent.input(screen.getByLabelText(/^Wiederherstellungsschlüssel/), { target: { value: "AGE-SECRET-KEY-1RICHTIG" } });
    await fireEvent.submit(screen.getByTestId("setup-form"));
    expect((await screen.findByTestId("setup-restored-summary")).textContent).toContain("620 Vorgänge, 1400 Dokumente");
    expect(restores[1]).toEqual({ archive: "/media/usb/amtsstube-20261203-180000.sicherung.age", recoveryKey: "AGE-SECRET-KEY-1RICHTIG" });
    await fireEvent.click(screen.getByTestId("setup-restored-done"));
    expect(await screen.findByRole("heading", { name: "Anmeldung" })).toBeTruthy();
  });

  it("sets a PC up as a desk of the Rathaus-Server and shows the recovery key once", async () => {
    const key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ7XK2M9PA";
    let provisioned = false;
    let forgotten = false;
    const sheets: string[] = [];
    const requests: unknown[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "setup_due":
          return !provisioned;
        case "first_run": {
          const r = (args as { request: { mode: string; office?: { code: string } } }).request;
          requests.push(r);
          if (r.office?.code === "FALSCH") {
            throw { code: "forbidden", message: "Der Einmalcode ist ungültig oder abgelaufen." };
          }
          provisioned = true;
          return { recoveryKey: key, office: "Verbunden mit dem Rathaus-Server https://rathaus:8443." };
        }
        case "export_folder":
          return "/home/admin/Downloads";
        case "setup_recovery_sheet": {
          const folder = (args as { folder: string }).folder;
          sheets.push(folder);
          if (!folder.startsWith("/")) {
            throw { code: "invalidInput", message: "Bitte den Ordner als vollständigen Pfad angeben (z. B. /media/usb)." };
          }
          return `${folder}/wiederherstellungsschluessel.pdf`;
        }
        case "setup_forget_recovery":
          forgotten = true;
          return null;
        case "session":
          return null;
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    render(App, { backend: tauriBackend });
    expect(await screen.findByRole("heading", { name: "Amtsstube einrichten" })).toBeTruthy();
    await fireEvent.click(screen.getByLabelText(/An Rathaus-Server anschließen/));
    await fireEvent.input(screen.getByLabelText("Adresse des Rathaus-Servers"), { target: { value: "https://rathaus:8443" } });
    await fireEvent.input(screen.getByLabelText("Einmalcode"), { target: { value: "FALSCH" } });
    await fireEvent.input(screen.getByLabelText(/Fingerabdruck/), { target: { value: "ab".repeat(32) } });
    await fireEvent.input(screen.getByLabelText(/Name dieses Arbeitsplatzes/), { target: { value: "Bürgerbüro 2" } });
    await fireEvent.input(screen.getByLabelText(/^Passwort \(/), { target: { value: "admin-passwort-1" } });
    await fireEvent.input(screen.getByLabelText("Passwort wiederholen"), { target: { value: "anders-passwort" } });
    await fireEvent.submit(screen.getByTestId("setup-form"));
    expect((await screen.findByTestId("setup-error")).textContent).toContain("stimmen nicht überein");
    expect(requests).toHaveLength(0);
    await fireEvent.input(screen.getByLabelText(/^Passwort \(/), { target: { value: "admin-passwort-1" } });
    await fireEvent.input(screen.getByLabelText("Passwort wiederholen"), { target: { value: "admin-passwort-1" } });
    await fireEvent.submit(screen.getByTestId("setup-form"));
    await waitFor(() => expect(screen.getByTestId("setup-error").textContent).toContain("Einmalcode ist ungültig"));
    // The passwords are not kept after a try.
    expect((screen.getByLabelText(/^Passwort \(/) as HTMLInputElement).value).toBe("");
    await fireEvent.input(screen.getByLabelText("Einmalcode"), { target: { value: "K7QM-4XRT-P2WD" } });
    await fireEvent.input(screen.getByLabelText(/^Passwort \(/), { target: { value: "admin-passwort-1" } });
    await fireEvent.input(screen.getByLabelText("Passwort wiederholen"), { target: { value: "admin-passwort-1" } });
    await fireEvent.submit(screen.getByTestId("setup-form"));
    expect((await screen.findByTestId("setup-recovery-key")).textContent).toBe(key);
    expect(screen.getByTestId("setup-office-answer").textContent).toContain("Verbunden");
    expect(requests[1]).toMatchObject({ mode: "buero", admin: "admin", office: { code: "K7QM-4XRT-P2WD", name: "Bürgerbüro 2" } });
    // The sheet as PDF: into the export folder offered, or onto a stick.
    expect((screen.getByLabelText(/Ordner für das Schlüsselblatt/) as HTMLInputElement).value).toBe("/home/admin/Downloads");
    await fireEvent.input(screen.getByLabelText(/Ordner für das Schlüsselblatt/), { target: { value: "usb" } });
    await fireEvent.click(screen.getByTestId("setup-save-sheet"));
    expect((await screen.findByTestId("setup-error")).textContent).toContain("vollständigen Pfad");
    await fireEvent.input(screen.getByLabelText(/Ordner für das Schlüsselblatt/), { target: { value: "/media/usb" } });
    await fireEvent.click(screen.getByTestId("setup-save-sheet"));
    expect((await screen.findByTestId("setup-sheet-saved")).textContent).toContain("/media/usb/wiederherstellungsschluessel.pdf");
    expect(sheets).toEqual(["usb", "/media/usb"]);
    expect(forgotten).toBe(false);
    // Written down? The last eight characters, else no way on.
    await fireEvent.input(screen.getByLabelText(/letzten acht Zeichen/), { target: { value: "7XK2M9PB" } });
    await fireEvent.submit(screen.getByTestId("setup-done").closest("form") as HTMLFormElement);
    expect((await screen.findByTestId("setup-error")).textContent).toContain("letzten acht Zeichen");
    await fireEvent.input(screen.getByLabelText(/letzten acht Zeichen/), { target: { value: "7xk2m9pa" } });
    await fireEvent.submit(screen.getByTestId("setup-done").closest("form") as HTMLFormElement);
    expect(await screen.findByRole("heading", { name: "Anmeldung" })).toBeTruthy();
    expect(screen.queryByTestId("setup-recovery-key")).toBeNull();
    expect(forgotten).toBe(true);
  });
});

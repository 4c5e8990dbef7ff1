// End-to-end through the real desktop app: tauri-driver + WebKitWebDriver under
// Xvfb, the real SQLCipher store provisioned by the real `amtsstube` CLI.
// Run by `make test` (which builds the app and installs tauri-driver first).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { WebDriver, startDriver, loginThroughUi, scannedPdf } from "./webdriver.mjs";

const root = path.resolve(import.meta.dirname, "../..");
const app = process.env.AMTSSTUBE_APP ?? path.join(root, "target/debug/amtsstube-app");
const cli = process.env.AMTSSTUBE_CLI ?? path.join(root, "target/debug/amtsstube");
const driverBin = process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver");
const simBin = process.env.PORTAL_SIM ?? path.join(root, "target/debug/portal-sim");
const artifacts = path.join(root, "target/e2e");

let dataDir;
let driver;
let wd;
let sim;
let applicant;
let hkrDir;
let hotDir;
let exportDir;

/** Start the portal simulator with `count` applications; resolves to its URL. */
async function startSimulator(dir, count) {
  // Every applicant but the second asks for e-mail with an OpenPGP key of her own, the
  // second for her BundID mailbox; the simulator also plays the citizens' mail provider
  // (SMTP), opening what arrives with their keys, and the BundID bridge with its Postkorb.
  execFileSync(simBin, ["seed", "--dir", dir, "--count", String(count), "--seed", "5", "--pgp-jede", "1", "--bundid-jede", "4"]);
  const proc = spawn(simBin, ["serve", "--dir", dir, "--addr", "127.0.0.1:0", "--smtp", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  for (let i = 0; i < 100; i++) {
    const m = log.match(/http:\/\/127\.0\.0\.1:\d+/);
    if (m) return { proc, url: m[0] };
    await sleep(100);
  }
  proc.kill();
  throw new Error(`portal-sim did not start: ${log}`);
}

function amtsstube(args, input) {
  return execFileSync(cli, ["--data-dir", dataDir, ...args], { input, encoding: "utf8" });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = path.join(mkdtempSync(path.join(tmpdir(), "amtsstube-e2e-")), "daten");
  amtsstube(["init", "--scrypt-log-n", "12"], "admin-passwort-1\n");
  amtsstube(["user", "add", "sb1", "--role", "sachbearbeitung", "--display-name", "Sam Bearbeitung"], "admin-passwort-1\nsb1-passwort-1\n");
  amtsstube(["user", "add", "scan", "--role", "scanstelle", "--display-name", "Scan Stelle"], "admin-passwort-1\nscan-passwort-1\n");
  amtsstube(["user", "add", "leitung", "--role", "leitung", "--display-name", "Lena Leitung"], "admin-passwort-1\nleitung-passwort-1\n");
  amtsstube(["user", "add", "scan2", "--role", "scanstelle", "--display-name", "Sina Scan"], "admin-passwort-1\nscan2-passwort-1\n");
  // The scanner's share, set up by the administration.
  hotDir = path.join(path.dirname(dataDir), "scanner");
  mkdirSync(hotDir);
  amtsstube(["scan", "ordner", hotDir, "--as", "admin"], "admin-passwort-1\n");
  // A portal with four applications, connected as the administration would.
  sim = await startSimulator(path.join(path.dirname(dataDir), "portal"), 4);
  const settings = path.join(path.dirname(dataDir), "verbindung.json");
  writeFileSync(settings, execFileSync(simBin, ["subscriber-config", "--dir", path.join(path.dirname(dataDir), "portal"), "--url", sim.url]));
  amtsstube(["portal", "configure", "--file", settings], "admin-passwort-1\n");
  rmSync(settings);
  // The cash system's exchange folder (HKR file drop).
  hkrDir = path.join(path.dirname(dataDir), "kasse");
  mkdirSync(hkrDir);
  amtsstube(["kasse", "ordner", hkrDir], "admin-passwort-1\n");
  // Where the app saves exports (instead of the user's downloads folder).
  exportDir = path.join(path.dirname(dataDir), "export");
  driver = await startDriver({
    driver: driverBin,
    env: { AMTSSTUBE_DATA_DIR: dataDir, AMTSSTUBE_EXPORT_DIR: exportDir },
    log: path.join(artifacts, "driver.log"),
  });
  wd = new WebDriver(driver.url);
  await wd.start(app);
});

after(async () => {
  await wd?.quit();
  driver?.stop();
  // Should the app outlive its WebDriver session, it must not outlive the test.
  await sleep(500);
  try {
    execFileSync("pkill", ["-KILL", "-f", app]);
  } catch {
    // Nothing left: the normal case.
  }
  sim?.proc.kill();
  if (dataDir) rmSync(path.dirname(dataDir), { recursive: true, force: true });
});

test("log in with a wrong password: German error, no work list", async () => {
  await loginThroughUi(wd, "sb1", "falsches-passwort");
  await wd.waitFor("[data-testid=login-error]", { text: "Passwort ist falsch" });
});

test("log in, see the work list from the real store, log out", async () => {
  await wd.waitFor("#username");
  // Clear what the previous test typed.
  await wd.execute("document.getElementById('username').value=''; document.getElementById('username').dispatchEvent(new Event('input'));");
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist]");
  await wd.waitFor("[data-testid=worklist-empty]", { text: "Keine Vorgänge" });
  await wd.waitFor("[data-testid=current-user]", { text: "Sam Bearbeitung" });
  writeFileSync(path.join(artifacts, "arbeitskorb.png"), await wd.screenshot());

  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
  await wd.waitGone("[data-testid=worklist]");
});

test("synchronise through the UI: the applications arrive in the work list", async () => {
  await wd.waitFor("#username");
  await wd.execute("document.getElementById('username').value=''; document.getElementById('username').dispatchEvent(new Event('input'));");
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  // Empty, or already filled by the background scheduler's first run after the login.
  await wd.waitFor("[data-testid=worklist]");
  await wd.waitFor("[data-testid=sync-state]", { text: "Portal:" });
  await wd.click(await wd.find("[data-testid=sync-now]"));
  // The background scheduler may have fetched some already: the count is what matters.
  await wd.waitFor("[data-testid=sync-message]", { text: "Synchronisiert:", timeout: 60_000 });
  await wd.waitFor("[data-testid=sync-state]", { text: "online" });
  await wd.waitFor("[data-testid=worklist-count]", { text: "4 Vorgänge" });
  // Remember an applicant's name: it must not appear in plaintext on disk (next test).
  applicant = await wd.execute("return document.querySelector('tbody tr td:nth-child(3)').textContent.trim();");
  assert.ok(applicant.length > 3, `applicant cell: ${applicant}`);
  writeFileSync(path.join(artifacts, "arbeitskorb-synchronisiert.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
});

/** Back to an empty login form from wherever an earlier test stopped, so one
 *  failing test does not fail the ones after it. */
async function atLogin() {
  const where = await wd.execute(
    "if (document.getElementById('username')) return 'login'; const c = document.querySelector('[data-testid=case-close]'); if (c) c.click(); const l = document.querySelector('[data-testid=logout]'); if (l) { l.click(); return 'logout'; } return 'other';",
  );
  if (where !== "login") console.log(`# the previous test left the app logged in (${where}); logged out`);
  await wd.waitFor("#username");
  await wd.execute("document.getElementById('username').value=''; document.getElementById('username').dispatchEvent(new Event('input'));");
}

/** Set an input's value the way a user's typing would. */
async function fill(selector, value) {
  await wd.fill(selector, value);
}

/** Open the first case of the work list. The list reloads when a background
 *  synchronisation ends, so a row can vanish between finding and clicking it:
 *  try again then. */
async function openFirstCase() {
  for (let attempt = 0; ; attempt++) {
    try {
      await wd.click(await wd.waitFor("[data-testid=open-case]"));
      await wd.waitFor("[data-testid=case-view]", { timeout: 5_000 });
      return;
    } catch (e) {
      if (attempt >= 5) throw e;
      await sleep(500);
    }
  }
}

async function action(kind) {
  await wd.click(await wd.find(`[data-testid=action-${kind}]`));
}

// The form's "Ausführen" can sit below the 768-pixel window's edge once the case view
// shows the deadlines of its clock; WebKitWebDriver does not click there, so the
// button is pressed from the page as the checklist boxes are.
async function submitAction() {
  await wd.find("[data-testid=action-submit]");
  await wd.execute("document.querySelector('[data-testid=action-submit]').click();");
}

test("casework: checklist, Nachforderung, the citizen answers through the portal, decision", async () => {
  await atLogin();
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist-count]", { text: "4 Vorgänge" });
  await openUntouchedCase("verschlüsselt");
  await wd.waitFor("[data-testid=case-state]", { text: "Eingegangen" });
  const fc = (await wd.execute("return document.querySelector('[data-testid=case-portal-id]').textContent.trim();"));
  const caseNumber = await wd.execute("return document.querySelector('#case-title').textContent.split(' – ')[0].trim();");
  await action("pruefung_beginnen");
  await wd.waitFor("[data-testid=case-state]", { text: "In Prüfung" });
  await wd.waitFor("[data-testid=case-assignee]", { text: "Sam Bearbeitung" });
  // Tick the whole checklist.
  const items = await wd.execute("return document.querySelectorAll('[data-testid=case-checklist] input').length;");
  assert.ok(items > 0, "the case type has a checklist");
  for (let i = 0; i < items; i++) {
    await wd.execute(`document.querySelectorAll('[data-testid=case-checklist] input')[${i}].click();`);
    await wd.waitFor(`[data-testid=case-checklist] li:nth-child(${i + 1})`, { text: "abgehakt von sb1" });
  }
  await action("nachfordern");
  await fill("#fehlend", "Nachweis der Haftpflichtversicherung");
  await fill("#frist", "31.12.2026");
  await submitAction();
  await wd.waitFor("[data-testid=case-state]", { text: "Nachgefordert" });

  // The citizen sends the document through the portal.
  const res = await fetch(`${sim.url}/citizen/cases/${fc}/submissions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      filename: "Versicherungsnachweis.pdf",
      mimeType: "application/pdf",
      contentBase64: Buffer.from("%PDF-1.7 Nachweis").toString("base64"),
      note: "Anbei der Nachweis.",
    }),
  });
  assert.equal(res.status, 201);
  await wd.click(await wd.find("[data-testid=sync-now]"));
  await wd.waitFor("[data-testid=sync-message]", { text: "1 Nachreichungen", timeout: 60_000 });
  // Reopen: the answer brought the case back.
  await wd.click(await wd.find("[data-testid=case-close]"));
  await openCaseRow(caseNumber);
  await wd.waitFor("[data-testid=case-state]", { text: "In Prüfung" });
  await wd.waitFor("[data-testid=case-documents]", { text: "Versicherungsnachweis.pdf" });
  await wd.waitFor("[data-testid=case-history]", { text: "portal: Nachreichung eingegangen" });
  // Documents are shown from memory: the application data as a list, the PDF rendered.
  writeFileSync(path.join(artifacts, "vorgang-nachreichung.png"), await wd.screenshot());
  await wd.execute("document.querySelector(\"[data-testid=document-open][aria-label='Antragsdaten anzeigen']\").click();");
  await wd.waitFor("[data-testid=document-data]", { text: "antragsteller" });
  await wd.execute("document.querySelector('[data-testid=document-close]').click();");
  const pdfs = await wd.execute(
    "const b = [...document.querySelectorAll('[data-testid=document-open]')].filter((x) => /\\.pdf anzeigen$/.test(x.getAttribute('aria-label'))); if (b.length) b[0].click(); return b.length;",
  );
  assert.ok(pdfs > 0, "the case has a PDF");
  try {
    await wd.waitFor("[data-testid=document-pages] canvas", { timeout: 30_000 });
  } catch (e) {
    // Say what the viewer shows (loading, an error, another document), then open it once more.
    const shown = await wd.execute("const v = document.querySelector('[data-testid=document-viewer]'); return v ? v.textContent.replace(/\\s+/g, ' ').slice(0, 400) : '(kein Dokumentbetrachter)';");
    console.log(`# PDF preview not drawn within 30 s; the viewer shows: ${shown}`);
    await wd.execute("const c = document.querySelector('[data-testid=document-close]'); if (c) c.click();");
    await wd.waitGone("[data-testid=document-viewer]");
    await wd.execute("[...document.querySelectorAll('[data-testid=document-open]')].filter((x) => /\\.pdf anzeigen$/.test(x.getAttribute('aria-label')))[0].click();");
    await wd.waitFor("[data-testid=document-pages] canvas", { timeout: 30_000 }).catch((again) => {
      throw new Error(`${e.message}; again after reopening: ${again.message}`);
    });
  }
  // pdf.js drew the page: no error shown, and the canvas is not blank.
  let inked = 0;
  for (let i = 0; i < 50 && inked === 0; i++) {
    await sleep(200);
    inked = await wd.execute(
      "const c = document.querySelector('[data-testid=document-pages] canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 128) n++; return n;",
    );
  }
  const pdfError = await wd.execute("const e = document.querySelector('[data-testid=document-viewer] [role=alert]'); return e ? e.textContent : '';");
  assert.equal(pdfError, "", "PDF preview failed");
  assert.ok(inked > 100, `the PDF page is blank (${inked} dark pixels)`);
  await wd.execute("document.querySelector('[data-testid=document-pages] canvas').scrollIntoView();");
  writeFileSync(path.join(artifacts, "dokument-pdf.png"), await wd.screenshot());
  await wd.execute("document.querySelector('[data-testid=document-close]').click();");
  await wd.waitGone("[data-testid=document-viewer]");
  await wd.execute("window.scrollTo(0, 0);");
  await sleep(300);

  // The layout just changed (viewer closed, page scrolled): should a click land
  // before it settles, say what the page shows and try once more.
  await action("vollstaendig");
  try {
    await wd.waitFor("[data-testid=case-state]", { text: "In Bearbeitung", timeout: 5_000 });
  } catch {
    const msg = await wd.execute("return document.querySelector('[data-testid=case-message]').textContent;");
    console.log(`# first click on "Vollständigkeit feststellen" without effect; message: ${msg}`);
    await action("vollstaendig");
    await wd.waitFor("[data-testid=case-state]", { text: "In Bearbeitung" });
  }
  // The case type's clock: a statutory period with its end, or (Servicefrist) the
  // § 75 VwGO mark.
  const clock = await wd.execute("return document.querySelector('[data-testid=case-clock]').textContent.trim();");
  const legal = await wd.execute(
    "const e = document.querySelector('[data-testid=case-legal]') || document.querySelector('[data-testid=case-inaction]'); return e ? e.textContent.trim() : '';",
  );
  assert.match(legal, /\d{2}\.\d{2}\.\d{4}/, `deadline shown for "${clock}": ${legal}`);
  await action("entscheiden");
  await submitAction();
  await wd.waitFor("[data-testid=case-state]", { text: "Entschieden" });
  writeFileSync(path.join(artifacts, "vorgang-entschieden.png"), await wd.screenshot());

  // Answer: the Bescheid goes to the citizen's mailbox, the fee to the cash system.
  await wd.waitFor("[data-testid=letter-kind]");
  assert.equal(await wd.execute("return document.querySelector('[data-testid=letter-kind]').value;"), "bescheid");
  await wd.waitFor("[data-testid=letters]", { text: "Rechtsbehelfsbelehrung" });
  await wd.execute("document.querySelector('[data-testid=letter-preview]').click();");
  await wd.waitFor("[data-testid=letter-preview-pages] canvas", { timeout: 30_000 });
  // The first page is drawn (not a blank canvas): some pixel is dark.
  let drawn = false;
  for (let i = 0; i < 150 && !drawn; i++) {
    drawn = await wd.execute(
      "const c = document.querySelector('[data-testid=letter-preview-pages] canvas'); if (!c || !c.width) return false; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 128) return true; return false;",
    );
    if (!drawn) await sleep(200);
  }
  assert.ok(drawn, "the letter preview's first page was never drawn");
  writeFileSync(path.join(artifacts, "bescheid-vorschau.png"), await wd.screenshot());
  await wd.execute("document.querySelector('[data-testid=letter-send]').click();");
  await wd.waitFor("[data-testid=case-state]", { text: "Versandt", timeout: 30_000 });
  await wd.waitFor("[data-testid=letters-message]", { text: "Portal (FIT-Connect)" });
  // The background sync is woken and delivers; the case's outbox turns "bestätigt".
  await wd.waitFor("[data-testid=case-outbox]", { text: "Brief an das Portal", timeout: 30_000 });
  let reply;
  for (let i = 0; i < 120 && !reply; i++) {
    const view = await (await fetch(`${sim.url}/citizen/cases/${fc}`)).json();
    reply = view.replies.find((r) => r.state !== "incomplete");
    if (!reply) await sleep(500);
  }
  assert.ok(reply, "the reply reached the citizen's mailbox");
  assert.ok(reply.verified, JSON.stringify(reply.problems));
  assert.equal(reply.data.aktenzeichen, await wd.execute("return document.querySelector('#case-title').textContent.split(' – ')[0].trim();"));
  // The stored letter (read through the app's own IPC) is the PDF the citizen got.
  const stored = await wd.execute(`return (async () => {
    const inv = window.__TAURI_INTERNALS__.invoke;
    const fileNumber = document.querySelector('#case-title').textContent.split(' – ')[0].trim();
    const list = await inv('work_list', { query: { offset: 0, limit: 50, search: fileNumber } });
    const c = list.items.find((x) => x.fileNumber === fileNumber);
    const d = await inv('case_detail', { id: c.id });
    const letter = d.documents.find((x) => x.kind === 'letter');
    return (await inv('document', { caseId: c.id, documentId: letter.id })).contentBase64;
  })();`);
  const pdf = Buffer.from(stored, "base64");
  assert.ok(pdf.subarray(0, 5).toString() === "%PDF-", "a PDF was stored");
  assert.equal(reply.attachments[0].sha512, createHash("sha512").update(pdf).digest("hex"), "identical by hash");
  if (reply.data.kassenzeichen) {
    const files = readdirSync(hkrDir).filter((f) => !f.startsWith("."));
    for (let i = 0; i < 60 && files.length < 2; i++) {
      await sleep(500);
      files.splice(0, files.length, ...readdirSync(hkrDir).filter((f) => !f.startsWith(".")));
    }
    assert.deepEqual(files.sort(), [`AO-${reply.data.kassenzeichen}.csv`, `AO-${reply.data.kassenzeichen}.xml`]);
  }
  await wd.waitFor("[data-testid=case-outbox]", { text: "bestätigt", timeout: 30_000 });
  writeFileSync(path.join(artifacts, "vorgang-versandt.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=case-close]"));
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");

  // The scanning desk sees its own screen and no case content.
  await loginThroughUi(wd, "scan", "scan-passwort-1");
  await wd.waitFor("[data-testid=scan-desk]");
  assert.equal(await wd.execute("return document.querySelector('[data-testid=worklist]') === null && document.querySelector('[data-testid=open-case]') === null;"), true);
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
  // Every act is in the audit chain, which verifies.
  const audit = amtsstube(["audit", "verify"], "admin-passwort-1\n");
  assert.match(audit, /unversehrt/);
});

/** The letter of a case as the app stored it (read through the app's own commands). */
async function storedLetter(fileNumber) {
  const stored = await wd.execute(`return (async () => {
    const inv = window.__TAURI_INTERNALS__.invoke;
    const list = await inv('work_list', { query: { offset: 0, limit: 50, search: ${JSON.stringify(fileNumber)} } });
    const c = list.items.find((x) => x.fileNumber === ${JSON.stringify(fileNumber)});
    const d = await inv('case_detail', { id: c.id });
    const letter = d.documents.find((x) => x.kind === 'letter');
    return (await inv('document', { caseId: c.id, documentId: letter.id })).contentBase64;
  })();`);
  return Buffer.from(stored, "base64");
}

/** Open the case whose row shows `text` (the list may reload under the click). */
async function openCaseRow(text) {
  for (let attempt = 0; ; attempt++) {
    try {
      await wd.execute(`const r = [...document.querySelectorAll('tbody tr')].find((r) => r.textContent.includes(${JSON.stringify(text)})); r.querySelector('[data-testid=open-case]').click();`);
      await wd.waitFor("[data-testid=case-view]", { timeout: 5_000 });
      return;
    } catch (e) {
      if (attempt >= 5) throw e;
      await sleep(500);
    }
  }
}

/**
 * Open a case nobody has worked on yet whose citizen asked to be answered by a way
 * that shows `channel` (the list may reload under the click).
 */
async function openUntouchedCase(channel) {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const n = await wd.execute("return [...document.querySelectorAll('tbody tr')].filter((r) => r.textContent.includes('Eingegangen')).length;");
      await wd.execute(`[...document.querySelectorAll('tbody tr')].filter((r) => r.textContent.includes('Eingegangen'))[${attempt % Math.max(n, 1)}].querySelector('[data-testid=open-case]').click();`);
      await wd.waitFor("[data-testid=case-reply-channel]", { timeout: 5_000 });
      const shown = await wd.execute("return document.querySelector('[data-testid=case-reply-channel]').textContent;");
      if (shown.includes(channel)) return;
      await wd.click(await wd.find("[data-testid=case-close]"));
      await wd.waitFor("[data-testid=worklist]");
    } catch (e) {
      if (attempt >= 19) throw e;
      await sleep(500);
    }
  }
  throw new Error(`no untouched case answered by ${channel}`);
}

/** The open case from "Eingegangen" to "Entschieden" (granted), checklist ticked. */
async function decideOpenCase() {
  await action("pruefung_beginnen");
  await wd.waitFor("[data-testid=case-state]", { text: "In Prüfung" });
  const items = await wd.execute("return document.querySelectorAll('[data-testid=case-checklist] input').length;");
  for (let i = 0; i < items; i++) {
    await wd.execute(`document.querySelectorAll('[data-testid=case-checklist] input')[${i}].click();`);
    await wd.waitFor(`[data-testid=case-checklist] li:nth-child(${i + 1})`, { text: "abgehakt von sb1" });
  }
  await action("vollstaendig");
  await wd.waitFor("[data-testid=case-state]", { text: "In Bearbeitung" });
  await action("entscheiden");
  await submitAction();
  await wd.waitFor("[data-testid=case-state]", { text: "Entschieden" });
}

test("answers by e-mail: the applicant with an OpenPGP key receives the Bescheid encrypted", async () => {
  await atLogin();
  // The administration sets up the town's mail server – here the simulator's.
  const portalDir = path.join(path.dirname(dataDir), "portal");
  const smtp = JSON.parse(readFileSync(path.join(portalDir, "smtp.json"), "utf8"));
  amtsstube(
    ["email", "einrichten", "--server", "127.0.0.1", "--port", String(smtp.port), "--benutzer", smtp.user, "--absender", "buergerbuero@musterstadt.example", "--ca", path.join(portalDir, "smtp-ca.pem")],
    `admin-passwort-1\n${smtp.password}\n`,
  );
  assert.match(amtsstube(["email", "testen"], "admin-passwort-1\n"), /nimmt die Anmeldung an/);
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist-count]", { text: "4 Vorgänge" });
  // A case nobody has worked on yet.
  await openUntouchedCase("verschlüsselt");
  await wd.waitFor("[data-testid=case-reply-channel]", { text: "verschlüsselt" });
  const channel = await wd.execute("return document.querySelector('[data-testid=case-reply-channel]').textContent;");
  const address = channel.match(/E-Mail an (\S+),/)[1];
  const fileNumber = await wd.execute("return document.querySelector('#case-title').textContent.split(' – ')[0].trim();");
  const applicantName = await wd.execute("return document.querySelector('[data-testid=case-applicant]').textContent.trim();");
  await decideOpenCase();
  // The way the citizen asked for comes first and is chosen.
  await wd.waitFor("[data-testid=letter-channel-email]");
  assert.equal(await wd.execute("return document.querySelector('[data-testid=letter-channel-email]').checked;"), true);
  await wd.execute("document.querySelector('[data-testid=letter-send]').click();");
  await wd.waitFor("[data-testid=case-state]", { text: "Versandt", timeout: 30_000 });
  await wd.waitFor("[data-testid=letters-message]", { text: "verschlüsselten Versand per E-Mail" });
  // Sent electronically, it counts as delivered on the same day count as post (§ 41 Abs. 2 VwVfG).
  await wd.waitFor("[data-testid=case-delivery]", { text: "als bekanntgegeben" });
  let mail;
  for (let i = 0; i < 120 && !mail; i++) {
    const got = await (await fetch(`${sim.url}/citizen/mail`)).json();
    mail = got.find((m) => m.to === address);
    if (!mail) await sleep(500);
  }
  assert.ok(mail, "the e-mail reached the citizen's provider");
  assert.ok(mail.pgpMime, "PGP/MIME");
  assert.ok(mail.opened, `opened with the citizen's key: ${mail.problem}`);
  for (const secret of [fileNumber, applicantName.split(" ").pop()]) {
    assert.ok(!mail.subject.includes(secret), `subject without personal data: ${mail.subject}`);
  }
  assert.ok(mail.text.includes(fileNumber), "the text inside names the Aktenzeichen");
  const pdf = await storedLetter(fileNumber);
  assert.equal(mail.attachments.length, 1);
  assert.equal(mail.attachments[0].sha512, createHash("sha512").update(pdf).digest("hex"), "the stored PDF, identical by hash");
  await wd.waitFor("[data-testid=case-outbox]", { text: "Brief per E-Mail (verschlüsselt)", timeout: 30_000 });
  writeFileSync(path.join(artifacts, "vorgang-per-email.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=case-close]"));
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
});

test("answers to a BundID mailbox: the Bescheid reaches it through the bridge, the Statusmonitor follows the case", async () => {
  await atLogin();
  // The administration sets up the bridge and the town's BPKI key pair – here the simulator's.
  const portalDir = path.join(path.dirname(dataDir), "portal");
  const bpkiDir = path.join(path.dirname(dataDir), "bpki");
  const bridge = execFileSync(simBin, ["bpki", "--dir", portalDir, "--ordner", bpkiDir], { encoding: "utf8" }).trim();
  const shown = amtsstube(
    ["bundid", "einrichten", "--bruecke", bridge, "--schluessel", path.join(bpkiDir, "bpki-schluessel.pem"), "--zertifikat", path.join(bpkiDir, "bpki-zertifikat.pem")],
    "admin-passwort-1\n",
  );
  assert.match(shown, /signiert als/);
  rmSync(path.join(bpkiDir, "bpki-schluessel.pem"));
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist-count]", { text: "4 Vorgänge" });
  await openUntouchedCase("BundID-Postfach");
  const fileNumber = await wd.execute("return document.querySelector('#case-title').textContent.split(' – ')[0].trim();");
  await decideOpenCase();
  // The way the citizen asked for comes first and is chosen.
  await wd.waitFor("[data-testid=letter-channel-bundid]");
  assert.equal(await wd.execute("return document.querySelector('[data-testid=letter-channel-bundid]').checked;"), true);
  await wd.execute("document.querySelector('[data-testid=letter-send]').click();");
  await wd.waitFor("[data-testid=case-state]", { text: "Versandt", timeout: 30_000 });
  await wd.waitFor("[data-testid=letters-message]", { text: "in das BundID-Postfach" });
  let message;
  let states = [];
  for (let i = 0; i < 120 && !(message && states.includes("COMPLETED")); i++) {
    const got = await (await fetch(`${sim.url}/citizen/postkorb`)).json();
    message = got.find((e) => e.art === "nachricht" && e.reference === fileNumber);
    states = got.filter((e) => e.art === "status" && e.reference === fileNumber).map((e) => e.status);
    if (!(message && states.includes("COMPLETED"))) await sleep(500);
  }
  assert.ok(message, "the message reached the citizen's BundID mailbox");
  assert.match(message.signer, /Musterstadt/);
  assert.deepEqual(states, ["RECEIVED", "PROCESSING", "PROCESSING", "COMPLETED"], "the Statusmonitor followed the case");
  const pdf = await storedLetter(fileNumber);
  assert.equal(message.files.length, 1);
  assert.equal(message.files[0].sha512, createHash("sha512").update(pdf).digest("hex"), "the stored PDF, identical by hash");
  await wd.waitFor("[data-testid=case-outbox]", { text: "Brief an das BundID-Postfach", timeout: 30_000 });
  writeFileSync(path.join(artifacts, "vorgang-bundid.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=case-close]"));
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
});

test("a letter by post: printed at the desk, the citizen who asked for e-mail gets a notice without content", async () => {
  await atLogin();
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist-count]", { text: "4 Vorgänge" });
  await openUntouchedCase("verschlüsselt");
  const channel = await wd.execute("return document.querySelector('[data-testid=case-reply-channel]').textContent;");
  const address = channel.match(/E-Mail an (\S+),/)[1];
  const fileNumber = await wd.execute("return document.querySelector('#case-title').textContent.split(' – ')[0].trim();");
  await decideOpenCase();
  // The clerk chooses post over the e-mail the citizen asked for.
  await wd.waitFor("[data-testid=letter-channel-post]");
  await wd.execute("document.querySelector('[data-testid=letter-channel-post]').click();");
  await wd.waitFor("[data-testid=letter-send]");
  await wd.execute("document.querySelector('[data-testid=letter-send]').click();");
  await wd.waitFor("[data-testid=case-state]", { text: "Versandt", timeout: 30_000 });
  await wd.waitFor("[data-testid=letters-message]", { text: "Bitte jetzt drucken" });
  await wd.waitFor("[data-testid=case-delivery]", { text: "als bekanntgegeben" });
  let notice;
  for (let i = 0; i < 120 && !notice; i++) {
    const got = await (await fetch(`${sim.url}/citizen/mail`)).json();
    notice = got.find((m) => m.to === address);
    if (!notice) await sleep(500);
  }
  assert.ok(notice, "the notice reached the citizen's provider");
  assert.equal(notice.pgpMime, false);
  assert.equal(notice.attachments.length, 0, "no letter in the notice");
  assert.ok(notice.text.includes("per Post gesandt"), notice.text);
  assert.ok(!notice.text.includes(fileNumber) && !notice.subject.includes(fileNumber), "nothing of the case");
  await wd.waitFor("[data-testid=case-outbox]", { text: "Hinweis per E-Mail (Brief per Post)", timeout: 30_000 });
  await wd.click(await wd.find("[data-testid=case-close]"));
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
});

test("leitung: the dashboard shows the figures the reports crate computes; sachbearbeitung has none", async () => {
  // A year of history next to the synced applications.
  amtsstube(["demo-historie", "--as", "leitung", "--anzahl", "150", "--an", "sb1"], "leitung-passwort-1\n");
  await atLogin();
  await loginThroughUi(wd, "leitung", "leitung-passwort-1");
  // The Leitung's work list over every case (the README's picture of it).
  await wd.waitFor("[data-testid=worklist] tbody tr:nth-child(14)", { timeout: 30_000 });
  writeFileSync(path.join(artifacts, "arbeitskorb-leitung.png"), await wd.screenshot());
  await wd.click(await wd.waitFor("[data-testid=view-dashboard]"));
  await wd.waitFor("[data-testid=kpi-decided]", { timeout: 30_000 });
  // The period in German order on screen (whatever the web view's locale), ISO underneath.
  const shownFrom = await wd.execute("return document.querySelector('[data-testid=dash-from]').value;");
  assert.match(shownFrom, /^\d{2}\.\d{2}\.\d{4}$/);
  const from = await wd.execute("return document.querySelector('[data-testid=dash-from]').dataset.iso;");
  const until = await wd.execute("return document.querySelector('[data-testid=dash-until]').dataset.iso;");
  assert.equal(shownFrom, from.split("-").reverse().join("."));
  const shown = await wd.execute(
    "const t = (id) => document.querySelector(`[data-testid=${id}]`).textContent.trim(); return { arrivals: t('kpi-arrivals'), decided: t('kpi-decided'), open: t('kpi-open'), overdue: t('kpi-overdue'), dueSoon: t('kpi-due-soon'), median: t('kpi-median') };",
  );
  const report = JSON.parse(amtsstube(["bericht", "--von", from, "--bis", until, "--json", "--as", "leitung"], "leitung-passwort-1\n"));
  const c = report.total.current;
  assert.ok(c.arrivals > 0 && c.decided > 0, JSON.stringify(c));
  assert.deepEqual(
    { arrivals: shown.arrivals, decided: shown.decided, open: shown.open, overdue: shown.overdue, dueSoon: shown.dueSoon },
    {
      arrivals: String(c.arrivals),
      decided: String(c.decided),
      open: String(report.total.backlog.open),
      overdue: String(report.total.backlog.overdue),
      dueSoon: String(report.total.backlog.dueSoon),
    },
  );
  const median = new Intl.NumberFormat("de-DE", { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(c.arrivalToDecision.medianDays);
  assert.ok(shown.median.startsWith(`${median} Tage`), `${shown.median} vs ${median}`);
  // The chart is drawn in WebKitGTK, not just a placeholder.
  const inked = await wd.execute(
    "const c = document.querySelector('[data-testid=dash-age-chart]'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++; return n;",
  );
  assert.ok(inked > 100, `the chart is empty (${inked} pixels)`);
  // The exports are saved by the app where the page says: CSV for Excel (BOM,
  // semicolons), the PDF report for the council.
  await wd.execute("document.querySelector('[data-testid=dash-csv]').click();");
  const csvSaved = await wd.waitFor("[data-testid=dash-saved]", { text: ".csv" });
  const csvPath = (await wd.text(csvSaved)).replace(/^Gespeichert: /, "");
  assert.equal(csvPath, path.join(exportDir, `kennzahlen-${from}-bis-${until}.csv`));
  const csv = readFileSync(csvPath, "utf8");
  assert.ok(csv.startsWith("\uFEFF"), "UTF-8 with BOM");
  assert.ok(csv.includes(";"), "semicolons");
  await wd.execute("document.querySelector('[data-testid=dash-pdf]').click();");
  const pdfSaved = await wd.waitFor("[data-testid=dash-saved]", { text: ".pdf" });
  const pdfPath = (await wd.text(pdfSaved)).replace(/^Gespeichert: /, "");
  assert.equal(readFileSync(pdfPath).subarray(0, 5).toString("latin1"), "%PDF-");
  // A number opens its cases.
  await wd.execute("document.querySelector('[data-testid=kpi-decided]').click();");
  await wd.waitFor("[data-testid=dash-drill]", { text: `${c.decided} Vorgänge` });
  writeFileSync(path.join(artifacts, "kennzahlen.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
  // Sachbearbeitung: no dashboard.
  await wd.execute("document.getElementById('username').value=''; document.getElementById('username').dispatchEvent(new Event('input'));");
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist-count]");
  assert.equal(await wd.execute("return document.querySelector('[data-testid=view-dashboard]') === null;"), true);
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
});


test("scanning desk: a batch of three paper applications, QA by a second person, three TR-RESISCAN cases for the caseworkers", async () => {
  await atLogin();
  await loginThroughUi(wd, "scan", "scan-passwort-1");
  await wd.waitFor("[data-testid=scan-desk]");
  await wd.waitFor("[data-testid=scan-verfahren]", { text: "TR-RESISCAN" });
  await wd.waitFor("[data-testid=scan-ocr]", { text: "Texterkennung an" });
  // The batch: Gewerbe (integrity "sehr hoch": four eyes, every page checked), three pages.
  await fill("#scan-klasse", "gewerbe");
  await fill("#scan-karton", "Karton 2026-12-A");
  await fill("#scan-seiten", "3");
  await wd.click(await wd.find("[data-testid=scan-batch-create]"));
  await wd.waitFor("[data-testid=scan-open-batch]", { text: "0 von 3 Seiten" });
  // Separator sheets to print, saved by the app.
  await fill("#scan-sheet-copies", "3");
  await wd.execute("document.querySelector('[data-testid=scan-separator-sheets]').click();");
  await wd.waitFor("[data-testid=scan-message]", { text: "3 Trennblätter gespeichert" });
  assert.equal(readFileSync(path.join(exportDir, "trennblaetter.pdf")).subarray(0, 5).toString("latin1"), "%PDF-");
  const people = ["Karl Gruber", "Ewa Kowalski", "Hanna Schulz"];
  people.forEach((p, i) => writeFileSync(path.join(hotDir, `gewerbe-${i + 1}.pdf`), scannedPdf(["Gewerbeanmeldung", p, `Blatt ${i + 1}`])));
  // The workstation reads the share by itself (files unchanged for 2 s, a pass every 5 s).
  await wd.waitFor("[data-testid=scan-open-batch]", { text: "3 von 3 Seiten", timeout: 30_000 });
  await wd.waitFor("[data-testid=scan-intake-results]", { text: "gewerbe-3.pdf" });
  assert.equal(
    await wd.execute("return [...document.querySelectorAll('[data-testid=scan-intake-results] td')].filter((t) => t.textContent === 'eingelesen').length;"),
    3,
  );
  assert.deepEqual(readdirSync(hotDir).filter((f) => f !== "fehler"), [], "the share is empty once the scans are in the vault");
  assert.deepEqual(readdirSync(path.join(hotDir, "fehler")), [], "nothing failed");
  writeFileSync(path.join(artifacts, "scanstelle-eingang.png"), await wd.screenshot());
  // The person who scanned may not approve: four eyes.
  await wd.click(await wd.find("[data-testid=scan-tab-pruefung]"));
  await wd.waitFor("[data-testid=scan-open]");
    await wd.execute("document.querySelector('[data-testid=scan-open]').click();");
  await wd.waitFor("[data-testid=qa-desk]");
  await wd.execute("document.querySelectorAll('[data-testid=qa-checklist] input').forEach((c) => c.click());");
  await fill("#qa-antragsteller", "Jemand");
  await wd.execute("document.querySelector('[data-testid=qa-approve]').click();");
  await wd.waitFor("[data-testid=qa-message]", { text: "Vier-Augen-Prinzip" });
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");

  await atLogin();
  await loginThroughUi(wd, "scan2", "scan2-passwort-1");
  await wd.click(await wd.waitFor("[data-testid=scan-tab-pruefung]"));
  const numbers = [];
  for (let i = 0; i < 3; i++) {
    await wd.waitFor("[data-testid=scan-open]");
    await wd.execute("document.querySelector('[data-testid=scan-open]').click();");
    await wd.waitFor("[data-testid=qa-desk]");
    // The page is drawn at the QA desk.
    await wd.waitFor("[data-testid=qa-desk] [data-testid=document-pages] canvas", { timeout: 30_000 });
    const name = await wd.execute("return document.querySelector('[data-testid=qa-desk] h3').textContent;");
    const who = people[Number(name.match(/gewerbe-(\d)/)[1]) - 1];
    // Without the whole checklist the page-by-page check is not done.
    await fill("#qa-antragsteller", who);
    await fill("#qa-vorgangsart", "GEW");
    await wd.execute("document.querySelector('[data-testid=qa-approve]').click();");
    await wd.waitFor("[data-testid=qa-message]", { text: "Prüfliste" });
    if (i === 0) writeFileSync(path.join(artifacts, "scanstelle-pruefung.png"), await wd.screenshot());
    await wd.execute("document.querySelectorAll('[data-testid=qa-checklist] input').forEach((c) => { if (!c.checked) c.click(); });");
    await wd.execute("document.querySelector('[data-testid=qa-approve]').click();");
    const msg = await wd.waitFor("[data-testid=scan-message]", { text: "TR-RESISCAN" });
    numbers.push([(await wd.text(msg)).match(/Vorgang (\S+) angelegt/)[1], who]);
  }
  await wd.waitFor("[data-testid=scan-queue-empty]");
  await wd.click(await wd.find("[data-testid=scan-tab-stapel]"));
  await wd.waitFor("[data-testid=scan-batches]", { text: "3 / 3" });
  writeFileSync(path.join(artifacts, "scanstelle-stapel.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
  // Each product verifies: hash, seal and Transfervermerk.
  for (const [az] of numbers) {
    assert.match(amtsstube(["scan", "verify", az, "--as", "scan"], "scan-passwort-1\n"), /unversehrt/);
  }

  // The caseworkers find the three paper cases, flagged TR-RESISCAN.
  await atLogin();
  await loginThroughUi(wd, "sb1", "sb1-passwort-1");
  await wd.waitFor("[data-testid=worklist-count]");
  for (const [az, who] of numbers) {
    await fill("#worklist-search", az);
    await wd.execute("document.querySelector('#worklist-search').form.requestSubmit();");
    await wd.waitFor("[data-testid=worklist-count]", { text: "1 Vorgänge" });
    await wd.waitFor("tbody", { text: who, dom: true });
    await openFirstCase();
    await wd.waitFor("[data-testid=case-history]", { text: "TR-RESISCAN" });
    await wd.waitFor("[data-testid=case-documents]", { text: "Transfervermerk.xml" });
    await wd.click(await wd.find("[data-testid=case-close]"));
  }
  // The scanned text is searchable (OCR): "Blatt" stands only on the paper.
  // The recognition runs in the background: search again until it is done.
  let found = "";
  for (let i = 0; i < 60 && !found.includes("3 Vorgänge"); i++) {
    await fill("#worklist-search", i % 2 ? "Blatt" : "blatt");
    await wd.execute("document.querySelector('#worklist-search').form.requestSubmit();");
    await sleep(1000);
    found = await wd.execute("const c = document.querySelector('[data-testid=worklist-count]'); return c ? c.textContent : '';");
  }
  assert.match(found, /3 Vorgänge/, "the text of the three scans is searchable");
  writeFileSync(path.join(artifacts, "arbeitskorb-papier.png"), await wd.screenshot());
  await wd.click(await wd.find("[data-testid=logout]"));
  await wd.waitFor("#username");
});

test("the store was used for real: audit log verifies, no name in plaintext on disk", () => {
  const out = amtsstube(["audit", "verify"], "admin-passwort-1\n");
  assert.match(out, /unversehrt/);
  // No plaintext of the user's display name anywhere in the data directory.
  const walk = (d) => readdirSync(d).flatMap((f) => (statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : [path.join(d, f)]));
  for (const f of walk(dataDir)) {
    const bytes = readFileSync(f);
    assert.ok(!bytes.includes("Sam Bearbeitung"), `user name in plaintext in ${f}`);
    assert.ok(!bytes.includes(applicant), `applicant in plaintext in ${f}`);
  }
});

// A newcomer's first hour, end to end through the real app (tauri-driver +
// WebKitWebDriver under Xvfb) from an empty data directory, with no terminal:
// first run → recovery sheet saved as PDF → letterhead → portal connection file
// tested against the simulator (a wrong secret first: the German reason) and taken
// over → a caseworker created → backup folder and a first backup → log in as the
// caseworker → synchronise → open the first case.
// It counts the screens and the inputs (fields filled, files chosen, buttons
// pressed) and writes them to target/e2e/erste-einrichtung.json.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { WebDriver, startDriver, Keys } from "./webdriver.mjs";

const root = path.resolve(import.meta.dirname, "../..");
const app = process.env.AMTSSTUBE_APP ?? path.join(root, "target/debug/amtsstube-app");
const driverBin = process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver");
const simBin = process.env.PORTAL_SIM ?? path.join(root, "target/debug/portal-sim");
const artifacts = path.join(root, "target/e2e");

let work;
let dataDir;
let driver;
let wd;
let sim;

// What the newcomer did: screens seen (in order) and inputs made.
const screens = [];
let inputs = 0;
const log = [];

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
/** An element as a script argument. */
const ref = (el) => ({ [ELEMENT]: el });

function screen(name) {
  screens.push(name);
  log.push(`Bildschirm: ${name}`);
}

/** An element by its visible text (buttons have no test ids everywhere). */
async function byText(tag, text) {
  const v = await wd.cmd("POST", wd.s("/element"), { using: "xpath", value: `//${tag}[normalize-space(.)='${text}']` });
  return v[ELEMENT];
}

/** Press a button as a person does (counted). Scrolled into view first: the
 *  administration's page is longer than the window. */
async function press(el, what) {
  // Panels above may still be growing (they reload after each step of the set-up);
  // a click where the button was a moment ago lands elsewhere. Wait until it stays put.
  let last = "";
  for (let i = 0; i < 30; i++) {
    await wd.execute("arguments[0].scrollIntoView({ block: 'center' });", [ref(el)]);
    await new Promise((r) => setTimeout(r, 100));
    const now = await wd.execute("const r = arguments[0].getBoundingClientRect(); return `${Math.round(r.top)},${Math.round(r.left)},${document.body.scrollHeight}`;", [ref(el)]);
    if (now === last) break;
    last = now;
  }
  try {
    await wd.click(el);
  } catch {
    await wd.execute("arguments[0].click();", [ref(el)]);
  }
  inputs += 1;
  log.push(`Klick: ${what}`);
}

/** Fill a field (counted once, however long the text). */
async function field(selector, value) {
  const el = await wd.waitFor(selector);
  await wd.execute("arguments[0].scrollIntoView({ block: 'center' });", [ref(el)]);
  await wd.fill(selector, value);
  inputs += 1;
  log.push(`Eingabe: ${selector}`);
}

/** Choose a file in a file field (counted once). The native driver takes the
 *  path as typed text; where it does not, the file is handed over as a File. */
async function chooseFile(selector, file) {
  const el = await wd.waitFor(selector);
  await wd.execute("arguments[0].value = '';", [ref(el)]);
  let how = "WebDriver";
  try {
    await wd.type(el, file);
  } catch {
    // Handled below: no file arrived.
  }
  const chosen = await wd.execute("return arguments[0].files ? arguments[0].files.length : 0;", [ref(el)]);
  if (chosen !== 1) {
    how = "File";
    await wd.execute(
      "const dt = new DataTransfer(); dt.items.add(new File([arguments[1]], arguments[2], { type: 'application/json' })); arguments[0].files = dt.files; arguments[0].dispatchEvent(new Event('change', { bubbles: true }));",
      [ref(el), readFileSync(file, "utf8"), path.basename(file)],
    );
  }
  inputs += 1;
  log.push(`Datei gewählt (${how}): ${path.basename(file)}`);
}

async function startSimulator(dir, count) {
  execFileSync(simBin, ["seed", "--dir", dir, "--count", String(count), "--seed", "17"]);
  const proc = spawn(simBin, ["serve", "--dir", dir, "--addr", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
  let out = "";
  proc.stderr.on("data", (d) => (out += d));
  for (let i = 0; i < 100; i++) {
    const m = out.match(/http:\/\/127\.0\.0\.1:\d+/);
    if (m) return { proc, url: m[0] };
    await sleep(100);
  }
  proc.kill();
  throw new Error(`portal-sim did not start: ${out}`);
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  work = mkdtempSync(path.join(tmpdir(), "amtsstube-erstes-"));
  dataDir = path.join(work, "daten");
  sim = await startSimulator(path.join(work, "portal"), 4);
  // The connection file as the Land's self-service portal hands it out, and one
  // with a mistyped secret.
  const config = JSON.parse(execFileSync(simBin, ["subscriber-config", "--dir", path.join(work, "portal"), "--url", sim.url], { encoding: "utf8" }));
  mkdirSync(path.join(work, "Downloads"));
  writeFileSync(path.join(work, "Downloads", "verbindung-falsch.json"), JSON.stringify({ ...config, clientSecret: `${config.clientSecret}x` }));
  writeFileSync(path.join(work, "Downloads", "verbindung.json"), JSON.stringify(config));
  driver = await startDriver({
    driver: driverBin,
    port: 4464,
    env: { AMTSSTUBE_DATA_DIR: dataDir, AMTSSTUBE_EXPORT_DIR: path.join(work, "Downloads") },
    log: path.join(artifacts, "driver-erste-einrichtung.log"),
  });
  wd = new WebDriver(driver.url);
  await wd.start(app);
});

after(async () => {
  await wd?.quit();
  driver?.stop();
  await sleep(500);
  try {
    execFileSync("pkill", ["-KILL", "-f", app]);
  } catch {
    // Nothing left: the normal case.
  }
  sim?.proc.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("from an empty data directory to the first case, without a terminal: screens and inputs counted", async () => {
  const started = Date.now();
  assert.equal(existsSync(dataDir), false);

  // 1. The first run.
  await wd.waitFor("[data-testid=first-run]");
  screen("Einrichtung");
  // "Allein an diesem PC" and the user name "admin" are preselected.
  await field("#setup-password", "Admin-Passwort-2026");
  await field("#setup-repeat", "Admin-Passwort-2026");
  await press(await wd.find("[data-testid=setup-submit]"), "Einrichten");

  // 2. The recovery key: saved as PDF onto the "stick", then confirmed.
  await wd.waitFor("[data-testid=setup-recovery-key]", { timeout: 60_000 });
  screen("Wiederherstellungsschlüssel");
  const key = (await wd.text(await wd.find("[data-testid=setup-recovery-key]"))).trim();
  assert.match(key, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
  const stick = path.join(work, "usb");
  await field("#setup-sheet-folder", stick);
  await press(await wd.find("[data-testid=setup-save-sheet]"), "Als PDF speichern");
  await wd.waitFor("[data-testid=setup-sheet-saved]", { text: "wiederherstellungsschluessel.pdf" });
  const sheet = path.join(stick, "wiederherstellungsschluessel.pdf");
  assert.ok(readFileSync(sheet).subarray(0, 5).toString() === "%PDF-", "the sheet is a PDF");
  assert.equal(statSync(sheet).mode & 0o077, 0, "the sheet is the owner's only");
  const sheetText = execFileSync("pdftotext", [sheet, "-"], { encoding: "utf8" }).replace(/\s+/g, "");
  assert.ok(sheetText.includes(key), "the whole key is on the sheet");
  await field("#setup-check", key.slice(-8));
  await press(await wd.find("[data-testid=setup-done]"), "Schlüssel verwahrt");

  // 3. Log in as the administration.
  await wd.waitFor("#username");
  screen("Anmeldung");
  await field("#username", "admin");
  await field("#password", "Admin-Passwort-2026");
  await wd.type(await wd.find("#password"), Keys.ENTER);
  inputs += 1;
  log.push("Taste: Enter");
  await wd.waitFor("[data-testid=admin-home]");
  screen("Verwaltung");
  await wd.waitFor("[data-testid=first-steps-summary]", { text: "Noch 4 von 4" });

  // 4. The letterhead.
  await wd.waitFor("#town-behoerde");
  await field("#town-behoerde", "Gemeinde Kleinhausen");
  await field("#town-anschrift", "Marktplatz 1\n54321 Kleinhausen");
  await field("#town-telefon", "06543 210-0");
  await field("#town-email", "buergerbuero@kleinhausen.example");
  await field("#town-iban", "DE89 3704 0044 0532 0130 00");
  await press(await byText("button", "Briefkopf speichern"), "Briefkopf speichern");
  await wd.waitFor("[data-testid=town-done]", { text: "Briefkopf gespeichert" });

  // 5. The portal connection: the wrong file first, then the right one.
  await chooseFile("#portal-file", path.join(work, "Downloads", "verbindung-falsch.json"));
  await press(await byText("button", "Verbindung testen"), "Verbindung testen");
  await wd.waitFor("[data-testid=portal-test]", { text: "Client-ID oder Client-Secret stimmen nicht", timeout: 60_000 });
  await chooseFile("#portal-file", path.join(work, "Downloads", "verbindung.json"));
  await wd.waitGone("[data-testid=portal-test]");
  await press(await byText("button", "Verbindung testen"), "Verbindung testen");
  await wd.waitFor("[data-testid=portal-test]", { text: "Verbindung in Ordnung", timeout: 60_000 });
  await press(await wd.find("[data-testid=portal-take-over]"), "Übernehmen");
  await wd.waitFor("[data-testid=portal-done]", { text: "übernommen" });

  // 6. A caseworker.
  await field("#new-username", "m.mueller");
  await field("#new-display", "Maria Müller");
  // The role list starts with Sachbearbeitung.
  assert.equal(await wd.execute("return document.querySelector('#new-role').value;"), "sachbearbeitung");
  await field("#new-password", "Mueller-Start-2026");
  await press(await byText("button", "Anlegen"), "Anlegen");
  await wd.waitFor('[data-testid="user-m.mueller"]');

  // 7. The backup: a folder on another medium, and a first backup.
  await field("#backup-folder", path.join(work, "sicherung"));
  await press(await byText("button", "Sicherungseinstellungen speichern"), "Sicherungseinstellungen speichern");
  await wd.waitFor("[data-testid=backup-done]", { text: "Einstellungen gespeichert" });
  await press(await wd.find("[data-testid=backup-now]"), "Jetzt sichern");
  await wd.waitFor("[data-testid=backup-done]", { text: "zurückgelesen", timeout: 60_000 });
  await wd.waitFor("[data-testid=first-steps-summary]", { text: "Dieser PC ist eingerichtet" });
  assert.equal(readdirSync(path.join(work, "sicherung")).filter((f) => f.endsWith(".sicherung.age")).length, 1);
  writeFileSync(path.join(artifacts, "erste-einrichtung-verwaltung.png"), await wd.screenshot());
  await press(await wd.find("[data-testid=logout]"), "Abmelden");

  // 8. The caseworker's first case.
  await wd.waitFor("#username");
  screen("Anmeldung");
  await field("#username", "m.mueller");
  await field("#password", "Mueller-Start-2026");
  await wd.type(await wd.find("#password"), Keys.ENTER);
  inputs += 1;
  log.push("Taste: Enter");
  await wd.waitFor("[data-testid=worklist]");
  screen("Arbeitskorb");
  await press(await wd.waitFor("[data-testid=sync-now]"), "Jetzt synchronisieren");
  await wd.waitFor("[data-testid=worklist-count]", { text: "4 Vorgänge", timeout: 60_000 });
  for (let attempt = 0; ; attempt++) {
    try {
      await press(await wd.waitFor("[data-testid=open-case]"), "Vorgang öffnen");
      await wd.waitFor("[data-testid=case-view]", { timeout: 5_000 });
      break;
    } catch (e) {
      // The list reloads when a background synchronisation ends.
      inputs -= 1;
      if (attempt >= 5) throw e;
      await sleep(500);
    }
  }
  screen("Vorgang");
  await wd.waitFor("#case-title");
  writeFileSync(path.join(artifacts, "erste-einrichtung-vorgang.png"), await wd.screenshot());

  const seconds = Math.round((Date.now() - started) / 1000);
  const report = { screens: screens.length, inputs, seconds, path: screens, steps: log };
  writeFileSync(path.join(artifacts, "erste-einrichtung.json"), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`# Erste Einrichtung bis zum ersten Vorgang: ${screens.length} Bildschirme (${screens.join(" → ")}), ${inputs} Eingaben, ${seconds} s im Test`);
  // What a newcomer meets must stay short: a bound the count is held to.
  assert.ok(screens.length <= 8, `${screens.length} screens`);
  assert.ok(inputs <= 40, `${inputs} inputs`);
});

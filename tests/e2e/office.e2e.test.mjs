// Office mode end to end through the real app: a Rathaus-Server on loopback with its
// own PostgreSQL cluster, three PCs (scanning desk, caseworker, Leitung), each the
// real app under Xvfb driven by its own tauri-driver. The scanning desk approves
// three scans, the caseworker's app shows them as cases and decides one, the
// Leitung's dashboard counts it; with the server stopped both other apps keep
// working and queue their steps; with the server back the steps are applied and
// the views agree. Run by `make test`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { chmodSync, mkdtempSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { WebDriver, startDriver, loginThroughUi, scannedPdf } from "./webdriver.mjs";

const root = path.resolve(import.meta.dirname, "../..");
const bin = (name, env) => process.env[env] ?? path.join(root, "target/debug", name);
const app = bin("amtsstube-app", "AMTSSTUBE_APP");
const cliBin = bin("amtsstube", "AMTSSTUBE_CLI");
const serverBin = bin("amtsstube-server", "AMTSSTUBE_SERVER");
const clusterBin = bin("demo-cluster", "DEMO_CLUSTER");
const driverBin = process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver");
const artifacts = path.join(root, "target/e2e");

let base;
let serverDir;
let server;
let serverPort;
const desks = {
  scan: { name: "Scanstelle", port: 4470 },
  sb: { name: "Bürgerbüro", port: 4480 },
  lead: { name: "Leitung", port: 4490 },
};
const people = [
  ["leitung", "leitung"],
  ["sb1", "sachbearbeitung"],
  ["scan", "scanstelle"],
];
const pw = (user) => `${user}-passwort-1`;

function srv(args, input = "") {
  return execFileSync(serverBin, ["--verzeichnis", serverDir, ...args], { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

function cli(desk, args, input) {
  return execFileSync(cliBin, ["--data-dir", desk.dir, ...args], { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function listening(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, "127.0.0.1", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startServer() {
  // The server's log goes with the other artifacts (no personal data in it).
  const out = openSync(path.join(artifacts, "server-buero.log"), "a");
  server = spawn(serverBin, ["--verzeichnis", serverDir, "serve"], { stdio: ["ignore", out, out] });
  await listening(serverPort);
}

async function stopServer() {
  const done = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGKILL");
  await done;
  server = null;
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  for (const log of ["server-buero.log", "driver-buero-scan.log", "driver-buero-sb.log", "driver-buero-lead.log"]) {
    writeFileSync(path.join(artifacts, log), "");
  }
  base = mkdtempSync(path.join(root, "target", "e2e-buero-"));
  // As root, PostgreSQL runs as `postgres`, which must reach its cluster below here
  // (the PCs' data directories inside stay private).
  chmodSync(base, 0o755);
  serverDir = path.join(base, "server");
  const db = execFileSync(clusterBin, ["start", path.join(base, "pg"), "amtsstube"], { encoding: "utf8" }).trim();
  serverPort = await freePort();
  srv(["init", "--datenbank", db, "--name", "Testgemeinde", "--adresse", `127.0.0.1:${serverPort}`, "--rechnername", "127.0.0.1"], "admin-passwort-1\n");
  for (const [user, role] of people) srv(["user", "add", user, "--rolle", role], `${pw(user)}\n`);
  await startServer();
  // Each PC: its own store, enrolled with a one-time code.
  for (const desk of Object.values(desks)) {
    desk.dir = path.join(base, desk.name);
    cli(desk, ["init", "--scrypt-log-n", "12"], "admin-passwort-1\n");
    const out = srv(["arbeitsplatz", "code"]);
    const code = out.match(/Einmalcode: (\S+)/)[1];
    const finger = out.match(/Fingerabdruck der Büro-CA: (\S+)/)[1];
    cli(desk, ["buero", "anschliessen", "--server", `https://127.0.0.1:${serverPort}`, "--code", code, "--fingerabdruck", finger, "--name", desk.name], "admin-passwort-1\n");
  }
  desks.scan.hot = path.join(base, "scanner");
  mkdirSync(desks.scan.hot);
  cli(desks.scan, ["scan", "ordner", desks.scan.hot, "--as", "admin"], "admin-passwort-1\n");
  // The key ring: the Leitung first, then everybody, then the Leitung hands on.
  const signIn = (desk, user) => cli(desk, ["buero", "anmelden", "--as", user], `${pw(user)}\n`);
  signIn(desks.lead, "leitung");
  signIn(desks.sb, "sb1");
  signIn(desks.scan, "scan");
  signIn(desks.lead, "leitung");
  // The scanning desk leases its block of Aktenzeichen.
  cli(desks.scan, ["buero", "abgleichen", "--as", "scan"], `${pw("scan")}\n`);
  for (const [key, desk] of Object.entries(desks)) {
    desk.driver = await startDriver({
      driver: driverBin,
      port: desk.port,
      env: { AMTSSTUBE_DATA_DIR: desk.dir, AMTSSTUBE_EXPORT_DIR: path.join(base, `export-${key}`), AMTSSTUBE_LOG: "info,workstation=debug" },
      log: path.join(artifacts, `driver-buero-${key}.log`),
    });
    desk.wd = new WebDriver(desk.driver.url);
    await desk.wd.start(app);
  }
});

after(async () => {
  for (const desk of Object.values(desks)) {
    await desk.wd?.quit().catch(() => {});
    desk.driver?.stop();
  }
  await sleep(500);
  try {
    execFileSync("pkill", ["-KILL", "-f", app]);
  } catch {
    // Nothing left: the normal case.
  }
  server?.kill("SIGKILL");
  if (base) {
    try {
      execFileSync(clusterBin, ["stop", path.join(base, "pg")]);
    } catch {
      // Already stopped.
    }
    rmSync(base, { recursive: true, force: true });
  }
});

/** Wait until `check` (run in the window) returns something truthy; `act` runs in
 *  between (a search again, a view switched), as a clerk would look again. */
async function until(wd, check, { act, timeout = 150_000, what }) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await wd.execute(check);
    if (v) return v;
    if (Date.now() > end) {
      // What every desk shows, for the failure message.
      const all = [];
      for (const [key, desk] of Object.entries(desks)) {
        all.push(`${key}: ${await desk.wd.describe()}`);
        writeFileSync(path.join(artifacts, `buero-fehler-${key}.png`), await desk.wd.screenshot());
      }
      throw new Error(`${what}: ${await wd.describe()}\n${all.join("\n")}`);
    }
    if (act) await act();
    await sleep(2000);
  }
}

/** "Jetzt abgleichen" in the status bar, where the desk is signed in. */
async function syncNow(wd) {
  await wd.execute("const b = document.querySelector('[data-testid=office-sync-now]'); if (b) b.click();");
}

async function search(wd, text) {
  await wd.waitFor("#worklist-search");
  await wd.fill("#worklist-search", text);
  await wd.execute("document.querySelector('#worklist-search').form.requestSubmit();");
}

async function openCase(wd, az) {
  await search(wd, az);
  // The row of this case (the list on screen may still be the one before the search).
  const row = `[...document.querySelectorAll('tbody tr')].find((r) => r.textContent.includes('${az}'))?.querySelector('[data-testid=open-case]')`;
  await until(wd, `const a = ${row}; if (a) a.click(); return !!a;`, { timeout: 30_000, what: `the row of ${az}` });
  await wd.waitFor("[data-testid=case-view]");
  await wd.waitFor("#case-title", { text: az });
}

test("three desks on one Rathaus-Server: scans become cases, a decision is counted, offline steps converge", async () => {
  // The scanning desk: three paper applications scanned, checked and approved.
  const scan = desks.scan.wd;
  await loginThroughUi(scan, "scan", pw("scan"));
  await scan.waitFor("[data-testid=office-state]", { text: "verbunden", timeout: 60_000 });
  await scan.waitFor("[data-testid=scan-desk]");
  // The form is there once the desk's procedure is read.
  await scan.waitFor("[data-testid=scan-verfahren]", { text: "TR-RESISCAN" });
  await scan.waitFor("#scan-klasse");
  await scan.fill("#scan-klasse", "antrag");
  await scan.fill("#scan-karton", "Posteingang Büro");
  await scan.fill("#scan-seiten", "3");
  await scan.click(await scan.find("[data-testid=scan-batch-create]"));
  await scan.waitFor("[data-testid=scan-open-batch]", { text: "0 von 3 Seiten" });
  const applicants = ["Karl Gruber", "Ewa Kowalski", "Hanna Schulz"];
  applicants.forEach((p, i) => writeFileSync(path.join(desks.scan.hot, `antrag-${i + 1}.pdf`), scannedPdf(["Antrag Hundesteuer", p])));
  await scan.waitFor("[data-testid=scan-open-batch]", { text: "3 von 3 Seiten", timeout: 60_000 });
  await scan.click(await scan.find("[data-testid=scan-tab-pruefung]"));
  const numbers = [];
  for (let i = 0; i < 3; i++) {
    await scan.waitFor("[data-testid=scan-open]");
    await scan.execute("document.querySelector('[data-testid=scan-open]').click();");
    await scan.waitFor("[data-testid=qa-desk]");
    const name = await scan.execute("return document.querySelector('[data-testid=qa-desk] h3').textContent;");
    const who = applicants[Number(name.match(/antrag-(\d)/)[1]) - 1];
    await scan.fill("#qa-antragsteller", who);
    await scan.fill("#qa-vorgangsart", "HST");
    await scan.execute("document.querySelectorAll('[data-testid=qa-checklist] input').forEach((c) => { if (!c.checked) c.click(); });");
    await scan.execute("document.querySelector('[data-testid=qa-approve]').click();");
    const msg = await scan.waitFor("[data-testid=scan-message]", { text: "TR-RESISCAN" });
    numbers.push([(await scan.text(msg)).match(/Vorgang (\S+) angelegt/)[1], who]);
  }
  assert.ok(numbers.every(([az]) => az.startsWith("PA-")), JSON.stringify(numbers));
  // The scanning desk sends its cases now, through the status bar.
  await scan.waitFor("[data-testid=office-sync-now]");
  await syncNow(scan);
  writeFileSync(path.join(artifacts, "buero-scanstelle.png"), await scan.screenshot());

  // The caseworker's PC: the three paper cases arrive, names opened at the desk.
  const sb = desks.sb.wd;
  await loginThroughUi(sb, "sb1", pw("sb1"));
  await sb.waitFor("[data-testid=worklist]");
  await until(sb, "const c = document.querySelector('[data-testid=worklist-count]'); return c && c.textContent.includes('3 Vorgänge') && !document.body.innerText.includes('(verschlüsselt)');", {
    act: async () => {
      await syncNow(scan);
      await syncNow(sb);
      await search(sb, "PA-");
    },
    what: "the three scanned cases in the caseworker's work list",
  });
  for (const [, who] of numbers) await sb.waitFor("tbody", { text: who, dom: true });
  writeFileSync(path.join(artifacts, "buero-arbeitskorb.png"), await sb.screenshot());
  const [first, second, third] = numbers.map(([az]) => az);
  await openCase(sb, first);
  await sb.waitFor("[data-testid=case-documents]", { text: "Transfervermerk" });
  await sb.waitFor("[data-testid=case-state]", { text: "Eingegangen" });
  await sb.click(await sb.find("[data-testid=action-pruefung_beginnen]"));
  await sb.waitFor("[data-testid=case-state]", { text: "In Prüfung" });
  const items = await sb.execute("return document.querySelectorAll('[data-testid=case-checklist] input').length;");
  assert.ok(items > 0, "the case type has a checklist");
  for (let i = 0; i < items; i++) {
    await sb.execute(`document.querySelectorAll('[data-testid=case-checklist] input')[${i}].click();`);
    await sb.waitFor(`[data-testid=case-checklist] li:nth-child(${i + 1})`, { text: "abgehakt von sb1" });
  }
  await sb.click(await sb.find("[data-testid=action-vollstaendig]"));
  await sb.waitFor("[data-testid=case-state]", { text: "In Bearbeitung" });
  await sb.click(await sb.find("[data-testid=action-entscheiden]"));
  // The form's "Ausführen" may sit below the 768-pixel window's edge (the case's
  // left pane is long); WebKitWebDriver does not click there: pressed from the page.
  await sb.find("[data-testid=action-submit]");
  await sb.execute("document.querySelector('[data-testid=action-submit]').click();");
  await sb.waitFor("[data-testid=case-state]", { text: "Entschieden" });
  writeFileSync(path.join(artifacts, "buero-entschieden.png"), await sb.screenshot());
  await sb.click(await sb.find("[data-testid=case-close]"));

  // The Leitung's dashboard counts the decision made at the other PC.
  const lead = desks.lead.wd;
  await loginThroughUi(lead, "leitung", pw("leitung"));
  await lead.click(await lead.waitFor("[data-testid=view-dashboard]"));
  await until(lead, "const d = document.querySelector('[data-testid=kpi-decided]'); return d && d.textContent.trim() === '1';", {
    act: async () => {
      await syncNow(sb);
      await syncNow(lead);
      await lead.click(await lead.find("[data-testid=view-worklist]"));
      await lead.click(await lead.waitFor("[data-testid=view-dashboard]"));
    },
    what: "the decision in the Leitung's figures",
  });
  writeFileSync(path.join(artifacts, "buero-kennzahlen.png"), await lead.screenshot());

  // The server goes away: both PCs keep working, their steps wait.
  await stopServer();
  await openCase(sb, second);
  await sb.click(await sb.find("[data-testid=action-pruefung_beginnen]"));
  await sb.waitFor("[data-testid=case-state]", { text: "In Prüfung" });
  await sb.click(await sb.find("[data-testid=case-close]"));
  await lead.click(await lead.find("[data-testid=view-worklist]"));
  await openCase(lead, third);
  await lead.fill("#note", "Bitte Rückruf beim Antragsteller.");
  await lead.execute("document.querySelector('[data-testid=note-save]').click();");
  await lead.click(await lead.find("[data-testid=case-close]"));
  await until(sb, "const w = document.querySelector('[data-testid=office-waiting]'); return w && w.textContent.includes('Schritt') && document.querySelector('[data-testid=office-state]').textContent.includes('nicht erreichbar');", {
    what: "the caseworker's waiting step and the server away in the status bar",
  });
  writeFileSync(path.join(artifacts, "buero-offline.png"), await sb.screenshot());

  // The server is back: the steps are applied and the views agree.
  await startServer();
  await until(lead, `return [...document.querySelectorAll('tbody tr')].some((r) => r.textContent.includes('${second}') && r.textContent.includes('In Prüfung'));`, {
    act: async () => {
      await syncNow(sb);
      await syncNow(lead);
      await search(lead, "PA-");
    },
    what: "the caseworker's offline step at the Leitung's PC",
  });
  await openCase(sb, third);
  await until(sb, "const n = document.querySelector('[data-testid=case-notes]'); return n && n.textContent.includes('Bitte Rückruf beim Antragsteller.');", {
    act: async () => {
      await syncNow(lead);
      await syncNow(sb);
      await sb.click(await sb.find("[data-testid=case-close]"));
      await openCase(sb, third);
    },
    what: "the Leitung's offline note at the caseworker's PC",
  });
  await sb.click(await sb.find("[data-testid=case-close]"));
  await until(sb, "return !document.querySelector('[data-testid=office-waiting]');", { what: "nothing waiting at the caseworker's PC" });
  writeFileSync(path.join(artifacts, "buero-wieder-verbunden.png"), await sb.screenshot());
});

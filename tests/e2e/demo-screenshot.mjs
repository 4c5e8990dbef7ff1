// Used by `make demo` without a display: start the real app under tauri-driver,
// log in through the UI and save a screenshot.
// Standalone: the work list after "Jetzt synchronisieren" against the portal
// simulator. With `buero` (`make demo BUERO=1`, one call per desk): once the desk
// is signed in at the Rathaus-Server, its role's screen – the scanning desk, the
// caseworker's work list with the names opened, the Leitung's figures.
// Usage: node demo-screenshot.mjs DATA_DIR USER PASSWORD OUT.png [buero]
import { writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WebDriver, startDriver, loginThroughUi } from "./webdriver.mjs";

const [dataDir, user, password, out, mode] = process.argv.slice(2);
if (!out) {
  console.error("Aufruf: demo-screenshot.mjs DATENVERZEICHNIS BENUTZER PASSWORT AUSGABE.png [buero]");
  process.exit(2);
}
const root = path.resolve(import.meta.dirname, "../..");
const driver = await startDriver({
  driver: process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver"),
  env: { AMTSSTUBE_DATA_DIR: path.resolve(dataDir) },
});
const wd = new WebDriver(driver.url);

/** Wait until `script` (run in the window) answers true. */
async function until(script, what, timeout = 60_000) {
  const end = Date.now() + timeout;
  while (!(await wd.execute(script))) {
    if (Date.now() > end) throw new Error(`${what}: ${await wd.describe()}`);
    await sleep(500);
  }
}

async function standalone() {
  await wd.waitFor("[data-testid=worklist]");
  // Let the list finish loading before the picture is taken.
  await wd.waitFor("[data-testid=worklist-empty], [data-testid=worklist-count]");
  // "Jetzt synchronisieren" through the UI: the app talks to the portal simulator.
  await wd.waitFor("[data-testid=sync-state]", { text: "Portal:" });
  await wd.click(await wd.find("[data-testid=sync-now]"));
  await wd.waitFor("[data-testid=sync-message]", { text: "Synchronisiert", timeout: 60_000 });
  await wd.waitFor("[data-testid=sync-state]", { text: "online" });
  await wd.waitFor("[data-testid=worklist-count]");
}

async function officeDesk() {
  // The status bar: connected and signed in at the Rathaus-Server (in the background).
  await wd.waitFor("[data-testid=office-state]", { text: "verbunden", timeout: 60_000 });
  await until(
    "const t = document.querySelector('[data-testid=office-state]')?.title ?? ''; return t.startsWith('Verbunden') && !t.includes('nicht angemeldet');",
    "not signed in at the Rathaus-Server",
  );
  await wd.waitFor("[data-testid=scan-desk], [data-testid=worklist], [data-testid=view-dashboard]");
  const desk = await wd.execute(
    "return document.querySelector('[data-testid=view-dashboard]') ? 'leitung' : document.querySelector('[data-testid=scan-desk]') ? 'scan' : 'worklist';",
  );
  if (desk === "leitung") {
    await wd.click(await wd.find("[data-testid=view-dashboard]"));
    await wd.waitFor("[data-testid=dashboard]");
  } else if (desk === "worklist") {
    await wd.waitFor("[data-testid=worklist-count]", { timeout: 60_000 });
    // The names are opened once the sign-in is through and the list is read again.
    await until("return !document.body.innerText.includes('(verschlüsselt)');", "names not opened", 30_000);
  }
  // Let the screen settle (figures, list) before the picture is taken.
  await sleep(1500);
}

try {
  await wd.start(process.env.AMTSSTUBE_APP ?? path.join(root, "target/debug/amtsstube-app"));
  await loginThroughUi(wd, user, password);
  await (mode === "buero" ? officeDesk() : standalone());
  writeFileSync(out, await wd.screenshot());
} finally {
  await wd.quit();
  driver.stop();
}

// Used by `make demo BUERO=1` without a display: start the real app of one desk
// under tauri-driver, log in through the UI, wait until the desk is connected to
// the Rathaus-Server and shows its role's screen, and save a screenshot.
// Usage: node demo-office-screenshot.mjs DATA_DIR USER PASSWORD OUT.png
import { writeFileSync } from "node:fs";
import path from "node:path";
import { WebDriver, startDriver, loginThroughUi } from "./webdriver.mjs";

const [dataDir, user, password, out] = process.argv.slice(2);
if (!out) {
  console.error("Aufruf: demo-office-screenshot.mjs DATENVERZEICHNIS BENUTZER PASSWORT AUSGABE.png");
  process.exit(2);
}
const root = path.resolve(import.meta.dirname, "../..");
const driver = await startDriver({
  driver: process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver"),
  env: { AMTSSTUBE_DATA_DIR: path.resolve(dataDir) },
});
const wd = new WebDriver(driver.url);
try {
  await wd.start(process.env.AMTSSTUBE_APP ?? path.join(root, "target/debug/amtsstube-app"));
  await loginThroughUi(wd, user, password);
  // The status bar: connected to the Rathaus-Server (signed in in the background).
  await wd.waitFor("[data-testid=office-state]", { text: "verbunden", timeout: 60_000 });
  const until = Date.now() + 60_000;
  while (
    !(await wd.execute(
      "const t = document.querySelector('[data-testid=office-state]')?.title ?? ''; return t.startsWith('Verbunden') && !t.includes('nicht angemeldet');",
    ))
  ) {
    if (Date.now() > until) throw new Error(`not signed in at the Rathaus-Server: ${await wd.describe()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await wd.waitFor("[data-testid=scan-desk], [data-testid=worklist], [data-testid=view-dashboard]");
  const desk = await wd.execute(
    "return document.querySelector('[data-testid=view-dashboard]') ? 'leitung' : document.querySelector('[data-testid=scan-desk]') ? 'scan' : 'worklist';",
  );
  if (desk === "leitung") {
    // The Leitung: the figures of the whole town hall.
    await wd.click(await wd.find("[data-testid=view-dashboard]"));
    await wd.waitFor("[data-testid=dashboard]");
  } else if (desk === "worklist") {
    // The caseworker: the work list from the desk's replica, names opened.
    await wd.waitFor("[data-testid=worklist-count]", { timeout: 60_000 });
    // The names are opened once the sign-in is through and the list is read again.
    const shown = Date.now() + 30_000;
    while (await wd.execute("return document.body.innerText.includes('(verschlüsselt)');")) {
      if (Date.now() > shown) throw new Error(`names not opened: ${await wd.describe()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  // Let the screen settle (figures, list) before the picture is taken.
  await new Promise((r) => setTimeout(r, 1500));
  writeFileSync(out, await wd.screenshot());
} finally {
  await wd.quit();
  driver.stop();
}

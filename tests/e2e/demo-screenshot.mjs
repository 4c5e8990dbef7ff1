// Used by `make demo` without a display: start the real app under tauri-driver,
// log in through the UI and save a screenshot of the work list.
// Usage: node demo-screenshot.mjs DATA_DIR USER PASSWORD OUT.png
import { writeFileSync } from "node:fs";
import path from "node:path";
import { WebDriver, startDriver, loginThroughUi } from "./webdriver.mjs";

const [dataDir, user, password, out] = process.argv.slice(2);
if (!out) {
  console.error("Aufruf: demo-screenshot.mjs DATENVERZEICHNIS BENUTZER PASSWORT AUSGABE.png");
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
  await wd.waitFor("[data-testid=worklist]");
  // Let the list finish loading before the picture is taken.
  await wd.waitFor("[data-testid=worklist-empty], [data-testid=worklist-count]");
  // "Jetzt synchronisieren" through the UI: the app talks to the portal simulator.
  await wd.waitFor("[data-testid=sync-state]", { text: "Portal:" });
  await wd.click(await wd.find("[data-testid=sync-now]"));
  await wd.waitFor("[data-testid=sync-message]", { text: "Synchronisiert", timeout: 60_000 });
  await wd.waitFor("[data-testid=sync-state]", { text: "online" });
  await wd.waitFor("[data-testid=worklist-count]");
  writeFileSync(out, await wd.screenshot());
} finally {
  await wd.quit();
  driver.stop();
}

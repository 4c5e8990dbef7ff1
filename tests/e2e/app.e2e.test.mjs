// End-to-end through the real desktop app: tauri-driver + WebKitWebDriver under
// Xvfb, the real SQLCipher store provisioned by the real `amtsstube` CLI.
// Run by `make test` (which builds the app and installs tauri-driver first).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { WebDriver, startDriver, loginThroughUi } from "./webdriver.mjs";

const root = path.resolve(import.meta.dirname, "../..");
const app = process.env.AMTSSTUBE_APP ?? path.join(root, "target/debug/amtsstube-app");
const cli = process.env.AMTSSTUBE_CLI ?? path.join(root, "target/debug/amtsstube");
const driverBin = process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver");
const artifacts = path.join(root, "target/e2e");

let dataDir;
let driver;
let wd;

function amtsstube(args, input) {
  return execFileSync(cli, ["--data-dir", dataDir, ...args], { input, encoding: "utf8" });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = path.join(mkdtempSync(path.join(tmpdir(), "amtsstube-e2e-")), "daten");
  amtsstube(["init", "--scrypt-log-n", "12"], "admin-passwort-1\n");
  amtsstube(["user", "add", "sb1", "--role", "sachbearbeitung", "--display-name", "Sam Bearbeitung"], "admin-passwort-1\nsb1-passwort-1\n");
  driver = await startDriver({ driver: driverBin, env: { AMTSSTUBE_DATA_DIR: dataDir } });
  wd = new WebDriver(driver.url);
  await wd.start(app);
});

after(async () => {
  await wd?.quit();
  driver?.stop();
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

test("the store was used for real: audit log holds the logins, CLI verifies it", () => {
  const out = amtsstube(["audit", "verify"], "admin-passwort-1\n");
  assert.match(out, /unversehrt/);
  // No plaintext of the user's display name anywhere in the data directory.
  const walk = (d) => readdirSync(d).flatMap((f) => (statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : [path.join(d, f)]));
  for (const f of walk(dataDir)) {
    assert.ok(!readFileSync(f).includes("Sam Bearbeitung"), `plaintext in ${f}`);
  }
});

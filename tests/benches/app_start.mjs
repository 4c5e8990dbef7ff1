// The real desktop app at 1,000 and 100,000 cases: how long from the process start
// to a work list on screen, and how much memory all its processes hold then (the
// WebKit web and network processes included). Part of `make bench` (release build,
// under Xvfb, through tauri-driver + WebKitWebDriver like the end-to-end tests).
//
//   BENCH_APP_CASES=1000,100000  sizes (comma-separated)
//   BENCH_APP_RUNS=5             app starts per size
//
// Times are taken where they happen: the process start from /proc (10 ms steps), the
// login form and the drawn work list inside the page (`performance.timeOrigin +
// performance.now()`, after the next two animation frames, i.e. painted), the Enter
// of the login in this script – all on the machine's one wall clock. The user's typing
// is left out: "cold start" = process start → login form + Enter → work list drawn.
// Memory is the proportional set size (PSS, /proc/<pid>/smaps_rollup) of the app and
// every process below it, two seconds after the list was drawn.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WebDriver, Keys, startDriver } from "../e2e/webdriver.mjs";

const root = path.resolve(import.meta.dirname, "../..");
const app = process.env.AMTSSTUBE_APP ?? path.join(root, "target/release/amtsstube-app");
const cli = process.env.AMTSSTUBE_CLI ?? path.join(root, "target/release/amtsstube");
const driverBin = process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver");
const sizes = (process.env.BENCH_APP_CASES ?? "1000,100000").split(",").map((s) => Number(s.trim()));
const runs = Math.max(1, Number(process.env.BENCH_APP_RUNS ?? 5));
const PASSWORD = "sb1-passwort-bench";

/** Every process: pid → { ppid, comm, start (ticks since boot) }. */
function processes() {
  const out = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // comm may hold spaces and brackets: the fields after it follow the last ')'.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const rest = stat.slice(close + 2).split(" ");
      out.set(Number(name), { ppid: Number(rest[1]), comm, start: Number(rest[19]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The app's process (below the driver) and everything below it. */
function appTree(driverPid) {
  const all = processes();
  const below = (pid) => [...all].filter(([, p]) => p.ppid === pid).map(([c]) => c);
  const queue = below(driverPid);
  const tree = [];
  while (queue.length) {
    const pid = queue.shift();
    tree.push(pid);
    queue.push(...below(pid));
  }
  const appPid = tree.find((pid) => all.get(pid)?.comm.startsWith("amtsstube-app"));
  if (appPid === undefined) throw new Error("the app's process was not found below tauri-driver");
  const mine = [appPid];
  for (let i = 0; i < mine.length; i++) mine.push(...below(mine[i]));
  return { appPid, pids: mine, all };
}

/** PSS and its anonymous part (heap, not shared libraries), in kB. */
function pssKb(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (re) => Number(t.match(re)?.[1] ?? 0);
    return { pss: kb(/^Pss:\s+(\d+) kB/m), anon: kb(/^Pss_Anon:\s+(\d+) kB/m) };
  } catch {
    return { pss: 0, anon: 0 };
  }
}

const bootMs = Number(readFileSync("/proc/stat", "utf8").match(/^btime (\d+)/m)[1]) * 1000;
const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** Epoch ms at which `css` is on screen (painted), from inside the page. */
async function shownAt(wd, css, timeout = 120_000) {
  return wd.cmd("POST", wd.s("/execute/async"), {
    script: `
      const [css, timeout, done] = arguments;
      const until = performance.now() + timeout;
      const painted = () => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.timeOrigin + performance.now())));
      (function look() {
        if (document.querySelector(css)) return painted();
        if (performance.now() > until) return done(null);
        setTimeout(look, 5);
      })();`,
    args: [css, timeout],
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = [];
const first = [];
for (const n of sizes) {
  const base = mkdtempSync(path.join(tmpdir(), "amtsstube-bench-app-"));
  const dataDir = path.join(base, "daten");
  const run = (args, input) => execFileSync(cli, ["--data-dir", dataDir, ...args], { input, encoding: "utf8", maxBuffer: 64 << 20 });
  // The default scrypt work factor: the login costs what it costs at a town hall.
  run(["init"], "admin-passwort-bench\n");
  run(["user", "add", "sb1", "--role", "sachbearbeitung", "--display-name", "Sam Bearbeitung"], `admin-passwort-bench\n${PASSWORD}\n`);
  run(["user", "add", "leitung", "--role", "leitung", "--display-name", "Lena Leitung"], "admin-passwort-bench\nleitung-passwort-bench\n");
  const seeded = Date.now();
  run(["demo-historie", "--as", "leitung", "--anzahl", String(n), "--an", "sb1"], "leitung-passwort-bench\n");
  process.stderr.write(`${n} Vorgänge angelegt in ${((Date.now() - seeded) / 1000).toFixed(1)} s\n`);
  // One login before the measured ones: the background work of a first login after
  // an import (deadline keys of every case) is not what a clerk meets each morning.
  const driver = await startDriver({ driver: driverBin, env: { AMTSSTUBE_DATA_DIR: dataDir }, port: 4544 });
  const rows = [];
  try {
    for (let r = 0; r <= runs; r++) {
      const wd = new WebDriver(driver.url);
      await wd.start(app);
      try {
        const form = await shownAt(wd, "#username");
        const { appPid, all } = appTree(driver.pid);
        const started = bootMs + (all.get(appPid).start / ticks) * 1000;
        // Where the first part goes: until the web view starts loading the page, and
        // until the page's script has run (DOMContentLoaded).
        const [origin, loaded] = await wd.execute(
          "const n = performance.getEntriesByType('navigation')[0]; return [performance.timeOrigin, performance.timeOrigin + (n ? n.domContentLoadedEventEnd : 0)];",
        );
        await wd.type(await wd.find("#username"), "sb1");
        await wd.type(await wd.find("#password"), PASSWORD);
        const enter = Date.now();
        await wd.type(await wd.find("#password"), Keys.ENTER);
        const list = await shownAt(wd, "[data-testid=worklist] tbody tr");
        if (form === null || list === null) throw new Error(`no ${form === null ? "login form" : "work list"}: ${await wd.describe()}`);
        const count = await wd.execute("return document.querySelector('[data-testid=worklist-count]')?.textContent ?? '';");
        if (r === 0) {
          // The first login after the import computes every case's deadline key in
          // the background; the measured starts come after it, as on any later day.
          await wd.waitGone("[data-testid=dues-pending]", 900_000);
          const hwm = readFileSync(`/proc/${appPid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
          first.push({ n, keysMs: Date.now() - enter, peakMb: hwm ? Number(hwm[1]) / 1024 : 0 });
        }
        await sleep(2000);
        const tree = appTree(driver.pid);
        const pss = tree.pids.map((pid) => ({ comm: tree.all.get(pid)?.comm ?? "?", ...pssKb(pid) }));
        const row = {
          toPage: origin - started,
          pageLoaded: loaded - origin,
          toForm: form - started,
          toList: list - enter,
          pssMb: pss.reduce((a, p) => a + p.pss, 0) / 1024,
          parts: pss,
          count: count.trim(),
        };
        if (r > 0) rows.push(row);
        process.stderr.write(`${n}: Lauf ${r}${r === 0 ? " (Vorlauf)" : ""}: Start→Anmeldung ${row.toForm.toFixed(0)} ms, Anmeldung→Arbeitskorb ${row.toList.toFixed(0)} ms, ${row.pssMb.toFixed(0)} MB PSS (${row.count})\n`);
      } finally {
        await wd.quit();
      }
      await sleep(1000);
    }
  } finally {
    driver.stop();
    await sleep(500);
    rmSync(base, { recursive: true, force: true });
  }
  results.push({ n, rows });
}

const byComm = (rows) => {
  const sums = new Map();
  for (const r of rows) {
    for (const p of r.parts) {
      if (!p.pss) continue;
      const s = sums.get(p.comm) ?? { pss: 0, anon: 0 };
      sums.set(p.comm, { pss: s.pss + p.pss / 1024 / rows.length, anon: s.anon + p.anon / 1024 / rows.length });
    }
  }
  return [...sums].map(([c, m]) => `${c} ${m.pss.toFixed(0)} MB (${m.anon.toFixed(0)} MB anonymous)`).join(", ");
};
/**
 * What WebKitGTK itself holds on this machine: its own MiniBrowser (shipped with
 * libwebkit2gtk-4.1) showing a one-line page, all its processes (PSS) eight seconds
 * after the start, median of three – the floor under any app on this web view.
 */
async function webkitFloor() {
  const mini = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
  if (!existsSync(mini)) return null;
  const totals = [];
  for (let i = 0; i < 3; i++) {
    const child = spawn(mini, ["data:text/html,<title>Amtsstube</title><p>Anmeldung</p>"], { stdio: "ignore" });
    await sleep(8000);
    const all = processes();
    const mine = [child.pid];
    for (let k = 0; k < mine.length; k++) mine.push(...[...all].filter(([, p]) => p.ppid === mine[k]).map(([c]) => c));
    totals.push(mine.reduce((a, pid) => a + pssKb(pid).pss, 0) / 1024);
    child.kill();
    await sleep(500);
  }
  return median(totals);
}
const floorMb = await webkitFloor();

console.log(`| app (release, Xvfb, ${runs} starts per size, median) | ${results.map((r) => `${r.n.toLocaleString("en")} cases`).join(" | ")} |`);
console.log(`|---|${results.map(() => "---").join("|")}|`);
console.log(`| process start → web view starts loading the page | ${results.map((r) => `${median(r.rows.map((x) => x.toPage)).toFixed(0)} ms`).join(" | ")} |`);
console.log(`| page loaded (script run, DOMContentLoaded) | ${results.map((r) => `+${median(r.rows.map((x) => x.pageLoaded)).toFixed(0)} ms`).join(" | ")} |`);
console.log(`| process start → login form drawn | ${results.map((r) => `${median(r.rows.map((x) => x.toForm)).toFixed(0)} ms`).join(" | ")} |`);
console.log(`| login (Enter, scrypt) → work list drawn | ${results.map((r) => `${median(r.rows.map((x) => x.toList)).toFixed(0)} ms`).join(" | ")} |`);
console.log(`| cold start (sum, without typing) | ${results.map((r) => `${median(r.rows.map((x) => x.toForm + x.toList)).toFixed(0)} ms`).join(" | ")} |`);
console.log(`| memory of all processes (PSS), 2 s after the list | ${results.map((r) => `${median(r.rows.map((x) => x.pssMb)).toFixed(0)} MB`).join(" | ")} |`);
console.log(`| first login after the import: until every deadline key is stored (background) | ${first.map((f) => `${(f.keysMs / 1000).toFixed(1)} s`).join(" | ")} |`);
console.log(`| first login after the import: the app process's peak resident size (VmHWM) | ${first.map((f) => `${f.peakMb.toFixed(0)} MB`).join(" | ")} |`);
console.log(`| of which, by process (mean) | ${results.map((r) => byComm(r.rows)).join(" | ")} |`);
console.log(`| WebKitGTK's own floor: its MiniBrowser with a one-line page, all processes (PSS), median of 3 | ${floorMb === null ? "MiniBrowser not found" : `${floorMb.toFixed(0)} MB`} |`);

// A small W3C WebDriver client over fetch, enough to drive the real app through
// tauri-driver + WebKitWebDriver. Also starts and stops tauri-driver.
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import net from "node:net";
import { openSync } from "node:fs";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
export const Keys = { ENTER: "\uE007", TAB: "\uE004" };

export class WebDriver {
  constructor(base) {
    this.base = base;
    this.id = null;
  }

  async cmd(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok || (json.value && json.value.error)) {
      const v = json.value ?? {};
      const err = new Error(`WebDriver ${method} ${path}: ${v.error ?? res.status} ${v.message ?? ""}`);
      err.code = v.error;
      throw err;
    }
    return json.value;
  }

  async start(application, args = []) {
    const v = await this.cmd("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application, args } } },
    });
    this.id = v.sessionId;
  }

  s(path) {
    return `/session/${this.id}${path}`;
  }

  async find(css) {
    const v = await this.cmd("POST", this.s("/element"), { using: "css selector", value: css });
    return v[ELEMENT];
  }

  /** Wait until `css` matches (and, if given, its text contains `text`). `dom`: compare
   *  the element's text content instead of WebDriver's rendered text – WebKit's driver
   *  leaves out the text of a cell cut with an ellipsis (`text-overflow`), though the
   *  window shows it. */
  async waitFor(css, { timeout = 30_000, text, dom = false } = {}) {
    const until = Date.now() + timeout;
    const textOf = (el) => (dom ? this.execute("return arguments[0].textContent;", [{ [ELEMENT]: el }]) : this.text(el));
    let last;
    while (Date.now() < until) {
      try {
        const el = await this.find(css);
        if (text === undefined || (await textOf(el)).includes(text)) return el;
        last = new Error(`text of ${css} is "${await textOf(el)}"`);
      } catch (e) {
        last = e;
      }
      await sleep(200);
    }
    throw new Error(`Timed out waiting for ${css}${text ? ` with "${text}"` : ""}: ${last?.message}; ${await this.describe()}`);
  }

  /** What the window shows, for a failure message: a blank or half-loaded page and
   *  a screen other than the expected one look different here. */
  async describe() {
    try {
      const v = await this.execute(
        "return [document.readyState, location.href, (document.body ? document.body.innerText : '(no body)').replace(/\\s+/g, ' ').slice(0, 400)].join(' | ');",
      );
      return `page: ${v}`;
    } catch (e) {
      return `page not readable: ${e.message}`;
    }
  }

  async waitGone(css, timeout = 30_000) {
    const until = Date.now() + timeout;
    while (Date.now() < until) {
      try {
        await this.find(css);
      } catch (e) {
        if (e.code === "no such element") return;
        throw e;
      }
      await sleep(200);
    }
    throw new Error(`${css} still present`);
  }

  async click(el) {
    await this.cmd("POST", this.s(`/element/${el}/click`), {});
  }

  async type(el, text) {
    await this.cmd("POST", this.s(`/element/${el}/value`), { text });
  }

  async text(el) {
    return this.cmd("GET", this.s(`/element/${el}/text`));
  }

  async execute(script, args = []) {
    return this.cmd("POST", this.s("/execute/sync"), { script, args });
  }

  /** Set an input's value the way a user's typing would (Svelte listens to `input`). */
  async fill(selector, value) {
    await this.execute(
      `const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('input', { bubbles: true })); el.dispatchEvent(new Event('change', { bubbles: true }));`,
      [selector, value],
    );
  }

  async screenshot() {
    return Buffer.from(await this.cmd("GET", this.s("/screenshot")), "base64");
  }

  async quit() {
    if (this.id) {
      await this.cmd("DELETE", this.s("")).catch(() => {});
      this.id = null;
    }
  }
}

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

/** Start tauri-driver on a free-ish port and wait until it listens. */
export async function startDriver({ driver, env, port = 4444, log }) {
  if (await portOpen(port)) throw new Error(`port ${port} is already in use`);
  const nativePort = port + 1;
  // The driver's (and the app's) output goes to a log file, not to our stdout: a
  // process that outlives the test must not hold the test runner's pipe open.
  const out = log ? openSync(log, "a") : "ignore";
  const proc = spawn(driver, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", "/usr/bin/WebKitWebDriver"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", out, out],
  });
  const until = Date.now() + 30_000;
  // tauri-driver listens before the native driver it starts does; a session asked
  // for in between fails with a refused connection.
  while (!(await portOpen(port)) || !(await portOpen(nativePort))) {
    if (proc.exitCode !== null) throw new Error(`tauri-driver exited with ${proc.exitCode}`);
    if (Date.now() > until) {
      proc.kill("SIGKILL");
      throw new Error("tauri-driver or WebKitWebDriver did not start listening");
    }
    await sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    // The driver's process: the app and its web processes run below it.
    pid: proc.pid,
    stop: () => {
      proc.kill("SIGTERM");
    },
  };
}

/** Log in through the UI like a person: type, Tab, type, Enter. */
export async function loginThroughUi(wd, user, password) {
  const name = await wd.waitFor("#username");
  await wd.click(name);
  await wd.type(name, user);
  const pw = await wd.find("#password");
  await wd.click(pw);
  await wd.type(pw, password);
  // Under load the native driver has been seen to lose or misplace keystrokes sent
  // right after the window appeared (a failed login then counts towards the
  // lockout): what the fields hold is checked and set again where it differs.
  const held = await wd.execute("return [document.querySelector('#username').value, document.querySelector('#password').value];");
  if (held[0] !== user) await wd.fill("#username", user);
  if (held[1] !== password) await wd.fill("#password", password);
  await wd.type(await wd.find("#password"), Keys.ENTER);
}

/** A one-page PDF as a scanner would write it, with `lines` of text (ASCII). */
export function scannedPdf(lines) {
  const content = `BT /F1 14 Tf 72 770 Td 18 TL\n${lines.map((l) => `(${l}) Tj T*`).join("\n")}\nET\n`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
    `<< /Length ${content.length} >>\nstream\n${content}endstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

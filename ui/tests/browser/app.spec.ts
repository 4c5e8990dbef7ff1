import { expect, test } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { installFakeBackend } from "./fake-backend";

async function noSeriousA11yViolations(page: import("@playwright/test").Page) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const serious = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
}

/** Log in as sb1 with a work list of 120 cases (the fake backend's full list). */
async function loginWithFullList(page: import("@playwright/test").Page) {
  await page.addInitScript(() => sessionStorage.setItem("fake-many", "1"));
  await page.goto("/");
  await page.getByLabel("Benutzername").fill("sb1");
  await page.getByLabel("Passwort").fill("richtig-richtig");
  await page.keyboard.press("Enter");
}

/** Rows of the work list wholly in sight: inside the table's box and the window. */
function rowsInSight(page: import("@playwright/test").Page): Promise<number> {
  return page.evaluate(() => {
    const box = document.querySelector(".worklist-table")!.getBoundingClientRect();
    const bottom = Math.min(box.bottom, window.innerHeight);
    return [...document.querySelectorAll("[data-testid=worklist] tbody tr")].filter((r) => {
      const b = r.getBoundingClientRect();
      return b.top >= box.top && b.bottom <= bottom;
    }).length;
  });
}

test.beforeEach(async ({ page }) => {
  await installFakeBackend(page);
});

test("login screen is accessible and focused on the user name", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Anmeldung" })).toBeVisible();
  await expect(page.getByLabel("Benutzername")).toBeFocused();
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/anmeldung.png" });
});

test("keyboard only: log in, see the work list, log out", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("sb1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Arbeitskorb" })).toBeVisible();
  await expect(page.getByRole("cell", { name: "Ayşe Öztürk" })).toBeVisible();
  await expect(page.getByRole("cell", { name: "20.11.2026" })).toBeVisible();
  await expect(page.getByTestId("sync-state")).toHaveText("Portal: online");
  await expect(page.getByTestId("sync-pending")).toContainText("2 wartend");
  await expect(page.getByTestId("sync-progress-label")).toHaveText("Anträge abholen: 12 von 40");
  await expect(page.getByRole("progressbar", { name: "Anträge abholen: 12 von 40" })).toBeVisible();
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/arbeitskorb.png" });
  // Tab to "Abmelden" and press it.
  const logout = page.getByRole("button", { name: "Abmelden" });
  for (let i = 0; i < 40 && !(await logout.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(logout).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Anmeldung" })).toBeVisible();
});

test("administration: lands on what the role does and where, accessible", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("admin");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Verwaltung" })).toBeVisible();
  await expect(page.getByRole("cell", { name: "amtsstube buero uebernehmen --as LEITUNG" })).toBeVisible();
  await expect(page.getByTestId("first-steps-summary")).toHaveText("Noch 1 von 4 Schritten offen.");
  await expect(page.getByRole("link", { name: /Briefkopf der Gemeinde/ })).toBeVisible();
  // The only alert: the backup is four days old.
  await expect(page.getByRole("alert")).toHaveCount(1);
  await expect(page.getByTestId("backup-warning")).toContainText("4 Tage alt");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/verwaltung.png", fullPage: true });
  // Keyboard only: to "Jetzt sichern", Enter, and the warning is gone.
  const now = page.getByRole("button", { name: "Jetzt sichern" });
  for (let i = 0; i < 60 && !(await now.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(now).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("backup-done")).toContainText("3,2 MB, 620 Vorgänge, 1400 Dokumente");
  await expect(page.getByTestId("backup-warning")).toHaveCount(0);
  await expect(page.getByTestId("backup-state")).toContainText("amtsstube-20261203-193000.sicherung.age");
  await noSeriousA11yViolations(page);
  // Users, keyboard only: lift sb1's lockout, then add a colleague.
  await expect(page.getByTestId("user-sb1")).toContainText("gesperrt bis");
  const unlock = page.getByRole("button", { name: "Entsperren (sb1)" });
  await unlock.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("user-sb1")).not.toContainText("gesperrt bis");
  // Which keys each colleague holds or waits for.
  await expect(page.getByTestId("key-sb1")).toHaveText("Vorgangsinhalte: freigegeben");
  await page.getByLabel("Benutzername").focus();
  await page.keyboard.type("m.mueller");
  await page.keyboard.press("Tab");
  await page.keyboard.type("Maria Müller");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.type("erstes-passwort");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("user-m.mueller")).toContainText("Maria Müller");
  await expect(page.getByTestId("users-done")).toContainText("m.mueller angelegt");
  await expect(page.getByTestId("key-m.mueller")).toHaveText("Vorgangsinhalte: wartet auf Freigabe");
  // The portal connection file, tested step by step (here: a wrong secret).
  await page.getByLabel("Verbindungsdatei (JSON)").setInputFiles({ name: "verbindung.json", mimeType: "application/json", buffer: Buffer.from('{"clientSecret":"falsch"}') });
  await page.getByRole("button", { name: "Verbindung testen", exact: true }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("portal-test")).toContainText("Client-ID oder Client-Secret stimmen nicht.");
  // Operation: the failed item and the quarantine with reasons; the audit check by keyboard.
  await expect(page.getByTestId("outbox-failed")).toContainText("Portal antwortet 503");
  await expect(page.getByTestId("quarantine")).toContainText("nicht dem Schema");
  await page.getByTestId("audit-check").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("audit-result")).toContainText("Protokoll unversehrt: 1234 Einträge geprüft.");
  // The letterhead, saved by keyboard.
  await page.getByLabel("Behörde (Briefkopf)").fill("Stadt Kleinhausen");
  await page.getByRole("button", { name: "Briefkopf speichern" }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("town-done")).toContainText("Briefkopf gespeichert");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/verwaltung-betrieb.png", fullPage: true });
});

test("wrong password shows a German error", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("Benutzername").fill("sb1");
  await page.getByLabel("Passwort").fill("falsch");
  await page.getByRole("button", { name: "Anmelden" }).click();
  await expect(page.getByRole("alert")).toContainText("Passwort ist falsch");
  await expect(page.getByLabel("Passwort")).toHaveValue("");
});

test("case view: keyboard only, accessible, an action carried out", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("sb1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  const open = page.getByRole("button", { name: "Vorgang HS-2026-000004 öffnen" });
  await open.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "HS-2026-000004 – Hundesteuer-Anmeldung" })).toBeVisible();
  await expect(page.getByTestId("case-applicant")).toHaveText("Ayşe Öztürk");
  await expect(page.getByRole("checkbox", { name: /Halterdaten vollständig/ })).toBeChecked();
  // Two panes at 1366 × 768: the case on the left, documents and letters on the right.
  const main = await page.locator(".case-main").boundingBox();
  const side = await page.getByTestId("case-side").boundingBox();
  expect(side!.x).toBeGreaterThan(main!.x + main!.width - 1);
  expect(side!.y).toBeLessThan(main!.y + 50);
  await expect(page.getByTestId("case-documents")).toBeInViewport();
  // The documents in columns: every "Anzeigen" starts at the same place, next to
  // its name (one line each), the sizes right-aligned.
  const opens = await page.getByTestId("document-open").evaluateAll((bs) =>
    bs.map((b) => {
      const r = b.getBoundingClientRect();
      const name = b.closest("tr")!.querySelector("td")!.getBoundingClientRect();
      return { x: r.x, dy: Math.abs(r.y - name.y) };
    }),
  );
  expect(opens).toHaveLength(2);
  expect(new Set(opens.map((o) => Math.round(o.x))).size).toBe(1);
  for (const o of opens) expect(o.dy).toBeLessThan(8);
  await expect(page.getByTestId("case-documents").locator("td.num").first()).toHaveCSS("text-align", "right");
  // "Nachreichung 1", the day and the size never break.
  for (const col of [2, 3, 4]) {
    await expect(page.getByTestId("case-documents").locator(`tbody tr td:nth-child(${col})`).first()).toHaveCSS("white-space", "nowrap");
  }
  // The checklist's boxes are big enough to hit (KERN: 32 px).
  const box = await page.getByRole("checkbox", { name: /Halterdaten vollständig/ }).boundingBox();
  expect(box!.width).toBeGreaterThanOrEqual(24);
  expect(box!.height).toBeGreaterThanOrEqual(24);
  await page.screenshot({ path: "test-results/screens/vorgang-zwei-spalten.png" });
  // History newest first.
  await expect(page.getByTestId("case-history").locator("li").first()).toContainText("23.11.2026");
  await expect(page.getByTestId("case-history").locator("li").last()).toContainText("20.11.2026");
  // The composer opens when the clerk starts a letter.
  await expect(page.getByTestId("letter-kind")).toHaveCount(0);
  await page.getByTestId("letter-open").focus();
  await page.keyboard.press("Enter");
  // The letter panel: draft with editable and fixed blocks, the outbox of the case.
  await expect(page.getByTestId("letter-kind")).toHaveValue("eingangsbestaetigung");
  await expect(page.getByText("Diese Eingangsbestätigung ist selbst keine Entscheidung.")).toBeVisible();
  await expect(page.getByTestId("outbox-state")).toHaveText("bestätigt");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/vorgang.png", fullPage: true });
  const complete = page.getByRole("button", { name: "Vollständigkeit feststellen" });
  await complete.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("case-state")).toHaveText("In Bearbeitung");
  await expect(page.getByTestId("case-legal")).toContainText("23.02.2027");
  await page.getByLabel("Neue Notiz").fill("Rückfrage telefonisch geklärt.");
  await page.getByRole("button", { name: "Notiz speichern" }).press("Enter");
  await expect(page.getByTestId("case-notes")).toContainText("Rückfrage telefonisch geklärt.");
  // The decision form opens first; it is accessible as well.
  await page.getByRole("button", { name: "Entscheiden" }).click();
  await expect(page.getByLabel("Entscheidung")).toBeVisible();
  await noSeriousA11yViolations(page);
  await page.getByRole("button", { name: "Zurück zum Arbeitskorb" }).press("Enter");
  await expect(page.getByRole("heading", { name: "Arbeitskorb" })).toBeVisible();
});

test("inactivity lock: data hidden, lock screen accessible, unlock by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.evaluate(() => sessionStorage.setItem("fake-lock-after", "1"));
  await page.reload();
  await page.keyboard.type("sb1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Arbeitsstation gesperrt" })).toBeVisible({ timeout: 5000 });
  await expect(page.getByText("Ayşe Öztürk")).toHaveCount(0);
  await expect(page.getByLabel("Passwort")).toBeFocused();
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/gesperrt.png" });
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Arbeitskorb" })).toBeVisible();
});

test("dashboard for the Leitung: keyboard, accessible, a number opens its cases", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("leitung");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  const view = page.getByRole("button", { name: "Kennzahlen" });
  await view.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Kennzahlen", level: 1 })).toBeVisible();
  await expect(page.getByTestId("kpi-median")).toHaveText("6,5 Tage (P90 13,0 Tage)");
  // German dates in the period fields; figures right-aligned, labels left.
  await expect(page.getByTestId("dash-from")).toHaveValue(/^\d{2}\.\d{2}\.\d{4}$/);
  // The selects look like fields: a background and a bottom line like the date fields.
  for (const id of ["#dash-type", "#dash-channel"]) {
    const look = await page.locator(id).evaluate((el) => {
      // KERN draws the field on the select's wrapper.
      const c = getComputedStyle(el.parentElement!);
      return { bg: c.backgroundColor, line: parseFloat(c.borderBottomWidth) };
    });
    expect(look.bg, id).not.toBe("rgba(0, 0, 0, 0)");
    expect(look.line, id).toBeGreaterThan(0);
  }
  const align = (locator: import("@playwright/test").Locator) => locator.evaluate((el) => getComputedStyle(el).textAlign);
  expect(await align(page.getByTestId("kpi-median"))).toBe("right");
  expect(await align(page.getByTestId("dash-kpis").getByRole("rowheader").first())).toBe("left");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/kennzahlen.png", fullPage: true });
  // Exports are saved by the workstation; the page says where.
  await page.getByTestId("dash-csv").click();
  await expect(page.getByTestId("dash-saved")).toHaveText(/^Gespeichert: \/home\/leitung\/Downloads\/kennzahlen-\d{4}-\d\d-\d\d-bis-\d{4}-\d\d-\d\d\.csv$/);
  await page.getByTestId("dash-pdf").click();
  await expect(page.getByTestId("dash-saved")).toHaveText(/\.pdf$/);
  await page.getByTestId("kpi-overdue").press("Enter");
  await expect(page.getByTestId("dash-drill")).toContainText("HS-2026-000004");
  await page.getByRole("button", { name: "HS-2026-000004" }).press("Enter");
  await expect(page.getByRole("heading", { name: "HS-2026-000004 – Hundesteuer-Anmeldung" })).toBeVisible();
});

test("scanning desk: a new colleague is told when the scan products open, accessible", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("scan-neu");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Scanstelle" })).toBeVisible();
  const note = page.getByTestId("scan-key-pending");
  await expect(note).toHaveAttribute("role", "status");
  await expect(note).toContainText("noch nicht freigeschaltet");
  await expect(note).toContainText("Scanstelle oder Leitung");
  await noSeriousA11yViolations(page);
});

test("scanning desk: Eingang, QA desk and batches by keyboard, accessible", async ({ page }) => {
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.goto("/");
  await page.keyboard.type("scan");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Scanstelle" })).toBeVisible();
  await expect(page.getByTestId("scan-open-batch")).toContainText("1 von 3 Seiten");
  // Without tesseract the desk says that OCR is off.
  await expect(page.getByTestId("scan-ocr")).toContainText("Texterkennung aus");
  // A class that is not scanned cannot be chosen.
  await expect(page.locator("#scan-klasse option[value=gebunden]")).toBeDisabled();
  // Separator sheets to print: saved as PDF (the page says where), an impossible
  // number is refused.
  await page.getByLabel(/^Trennblätter/).fill("5");
  await page.getByTestId("scan-separator-sheets").click();
  await expect(page.getByTestId("scan-message")).toContainText("5 Trennblätter gespeichert: /home/scan/Downloads/trennblaetter.pdf");
  await page.getByLabel(/^Trennblätter/).fill("500");
  await page.getByTestId("scan-separator-sheets").click();
  await expect(page.getByTestId("scan-message")).toContainText("1 bis 100");
  await page.getByRole("button", { name: "Eingang jetzt einlesen" }).click();
  await expect(page.getByTestId("scan-intake-results")).toContainText("antrag-2.jpg");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/scanstelle-eingang.png" });
  await page.getByRole("tab", { name: /Qualitätssicherung/ }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("button", { name: "antrag-1.jpg prüfen" }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("qa-image")).toBeVisible();
  await expect(page.getByTestId("qa-checklist")).toContainText("alle Punkte nötig");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/scanstelle-pruefung.png" });
  // A PDF scan is checked page by page too, all its pages (not only the first ones),
  // with a page strip drawn from the PDF itself.
  await page.getByRole("button", { name: "antraege.pdf prüfen" }).click();
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 1 von 3");
  await expect(page.getByTestId("qa-desk").getByRole("img", { name: "Seite 1 von 3" })).toBeVisible();
  await page.keyboard.press("PageDown");
  await page.keyboard.press("PageDown");
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 3 von 3");
  await expect(page.getByTestId("qa-desk").getByRole("img", { name: "Seite 3 von 3" })).toBeVisible();
  await expect(page.getByTestId("qa-thumbs").locator("li")).toHaveCount(3);
  await expect(page.getByTestId("qa-thumb-2").locator("img")).toHaveJSProperty("complete", true);
  expect(await page.getByTestId("qa-thumb-2").locator("img").evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(120);
  await page.getByTestId("qa-thumb-2").click();
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 2 von 3");
  await noSeriousA11yViolations(page);
  // A TIFF is checked page by page (Bild ab / Bild auf) and split by hand.
  await page.getByRole("button", { name: "stapel.tif prüfen" }).click();
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 1 von 3");
  await page.keyboard.press("PageDown");
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 2 von 3");
  await page.keyboard.press("PageUp");
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 1 von 3");
  await page.getByRole("button", { name: "Nächste Seite" }).click();
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 2 von 3");
  // The page strip: every page as a small picture, a click shows it, a tick marks
  // where a new document begins.
  await expect(page.getByTestId("qa-thumbs").locator("li")).toHaveCount(3);
  await page.getByTestId("qa-thumb-3").click();
  await expect(page.getByTestId("qa-page-no")).toHaveText("Seite 3 von 3");
  await page.getByTestId("qa-mark-3").check();
  await expect(page.getByTestId("qa-split-pages")).toHaveValue("3");
  await page.getByTestId("qa-mark-3").uncheck();
  await expect(page.getByTestId("qa-split-pages")).toHaveValue("");
  // Separator sheets are found on request and split at after confirmation.
  await page.getByTestId("qa-find-sheets").click();
  await expect(page.getByTestId("qa-message")).toContainText("Trennblätter auf Seite 2 erkannt");
  await expect(page.getByTestId("qa-split-sheets")).toContainText("Seite 2");
  await page.getByTestId("qa-split-pages").fill("zwei");
  await page.getByTestId("qa-split").click();
  await expect(page.getByTestId("qa-message")).toContainText("als Zahlen");
  await page.getByTestId("qa-split-pages").fill("2");
  await page.getByTestId("qa-split").click();
  await expect(page.getByTestId("scan-message")).toContainText("in 2 Dokumente aufgeteilt");
  await expect(page.getByTestId("qa-desk")).toContainText("Teil 1 von 2");
  await noSeriousA11yViolations(page);
  await page.getByRole("tab", { name: "Stapel" }).click();
  await expect(page.getByTestId("scan-batches")).toContainText("Seitenzahl weicht ab");
  await noSeriousA11yViolations(page);
});

test("Konflikte (office mode): opened from the status bar, accessible, resolved by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("sb1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("office-state")).toHaveText("Rathaus-Server: verbunden");
  await expect(page.getByTestId("office-waiting")).toHaveText("2 Schritte warten");
  const open = page.getByRole("button", { name: "1 Konflikt" });
  for (let i = 0; i < 20 && !(await open.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(open).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Konflikte" })).toBeVisible();
  await expect(page.getByTestId("conflict-reason")).toContainText("steht jetzt auf „In Bearbeitung“");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/konflikte.png" });
  const redo = page.getByRole("button", { name: "Erneut ausführen: Bearbeitungsschritt zu HS-2026-000004" });
  for (let i = 0; i < 20 && !(await redo.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(redo).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("conflicts-none")).toHaveText("Keine Konflikte.");
  await expect(page.getByTestId("conflicts-message")).toContainText("wird erneut gesendet");
  await page.getByRole("button", { name: "Zurück zum Arbeitskorb" }).press("Enter");
  await expect(page.getByRole("heading", { name: "Arbeitskorb" })).toBeVisible();
});

test("Rathaus-Server session ended: signing in again from the status bar, accessible, by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.evaluate(() => sessionStorage.setItem("fake-office-expired", "1"));
  await page.reload();
  await page.keyboard.type("sb1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("office-state")).toHaveText("Rathaus-Server: Anmeldung abgelaufen");
  const open = page.getByRole("button", { name: "Am Rathaus-Server anmelden" });
  for (let i = 0; i < 20 && !(await open.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(open).toBeFocused();
  await page.keyboard.press("Enter");
  const field = page.getByLabel("Passwort für den Rathaus-Server");
  await expect(field).toBeFocused();
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/rathaus-server-anmeldung.png" });
  // Escape cancels; the button comes back.
  await page.keyboard.press("Escape");
  await expect(field).toBeHidden();
  await open.press("Enter");
  await page.keyboard.type("falsch-falsch");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("sync-message")).toContainText("Passwort ist falsch");
  await page.getByLabel("Passwort für den Rathaus-Server").fill("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("sync-message")).toContainText("Am Rathaus-Server angemeldet");
  await expect(page.getByTestId("office-state")).toHaveText("Rathaus-Server: verbunden");
  await expect(open).toBeHidden();
});

test("first run: the choice, the form and the recovery sheet are accessible and work by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.evaluate(() => sessionStorage.setItem("fake-setup-due", "1"));
  await page.reload();
  await expect(page.getByRole("heading", { name: "Amtsstube einrichten" })).toBeVisible();
  await page.getByLabel(/An Rathaus-Server anschließen/).check();
  await expect(page.getByLabel("Einmalcode")).toBeVisible();
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/einrichtung.png" });
  // A new PC from a backup: the fields, accessible.
  await page.getByLabel(/Aus einer Datensicherung wiederherstellen/).check();
  await expect(page.getByLabel(/Sicherungsdatei/)).toBeVisible();
  await noSeriousA11yViolations(page);
  await page.getByLabel(/Allein an diesem PC/).check();
  await expect(page.getByLabel("Einmalcode")).toBeHidden();
  await page.getByLabel(/^Passwort \(/).fill("admin-passwort-1");
  await page.getByLabel("Passwort wiederholen").fill("admin-passwort-1");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Wiederherstellungsschlüssel" })).toBeVisible();
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/wiederherstellungsschluessel.png" });
  // The sheet as PDF onto a stick, by keyboard: the folder field, Tab, Enter.
  await expect(page.getByLabel(/Ordner für das Schlüsselblatt/)).toHaveValue("/home/admin/Downloads");
  await page.getByLabel(/Ordner für das Schlüsselblatt/).fill("/media/usb");
  await page.keyboard.press("Tab");
  await expect(page.getByTestId("setup-save-sheet")).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("setup-sheet-saved")).toContainText("/media/usb/wiederherstellungsschluessel.pdf");
  await noSeriousA11yViolations(page);
  await page.getByLabel(/letzten acht Zeichen/).fill("7XK2M9PA");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Anmeldung" })).toBeVisible();
});

test("administration: own keys, the PKI's certificates and the connection by hand – accessible, by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("admin");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  const make = page.getByTestId("keys-make");
  await make.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("keys-files")).toContainText("fit-connect-verschluesselung.csr");
  await page.getByLabel(/Zertifikatskette Verschlüsselung/).setInputFiles({ name: "enc.pem", mimeType: "application/x-pem-file", buffer: Buffer.from("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n") });
  await page.getByLabel(/Zertifikatskette Signatur/).setInputFiles({ name: "sig.pem", mimeType: "application/x-pem-file", buffer: Buffer.from("-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n") });
  await expect(page.getByTestId("keys-certify")).toBeEnabled();
  await page.getByTestId("keys-certify").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("keys-files")).toContainText("fit-connect-schluessel.json");
  // The fields by keyboard: the environment, then Tab through the form.
  await page.getByLabel("Umgebung vorbelegen").selectOption("test");
  await expect(page.getByLabel("Adresse der Submission API")).toHaveValue("https://submission-api-testing.fit-connect.fitko.dev");
  await page.getByLabel("Zustellpunkt-ID").focus();
  await page.keyboard.type("865bb64e-cb25-4e6c-9a9b-6862611aef8e");
  await page.keyboard.press("Tab");
  await page.keyboard.type("amtsstube-1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("geheim");
  await page.getByTestId("keys-test").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("keys-test-result")).toContainText("nicht lesbar");
  await noSeriousA11yViolations(page);
  await page.getByTestId("portal-keys").screenshot({ path: "test-results/screens/eigene-schluessel.png" });
  await page.keyboard.press("Tab");
  await expect(page.getByTestId("keys-take-over")).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("keys-done")).toContainText("übernommen");
});

test("first run on a new PC: a backup restored by keyboard, the summary accessible", async ({ page }) => {
  await page.goto("/");
  await page.evaluate(() => sessionStorage.setItem("fake-setup-due", "1"));
  await page.reload();
  await page.getByLabel(/Aus einer Datensicherung wiederherstellen/).focus();
  await page.keyboard.press("Space");
  await page.getByLabel(/Sicherungsdatei/).focus();
  await page.keyboard.type("/media/usb/amtsstube-20261203-180000.sicherung.age");
  await page.keyboard.press("Tab");
  await page.keyboard.type("AGE-SECRET-KEY-1RICHTIG");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("setup-restored-summary")).toContainText("620 Vorgänge");
  await noSeriousA11yViolations(page);
  await page.getByTestId("setup-restored-done").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Anmeldung" })).toBeVisible();
});

test("forgotten password: the recovery form is accessible and opens by keyboard", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Anmeldung" })).toBeVisible();
  await page.getByTestId("recover-toggle").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("recover-form")).toBeVisible();
  await expect(page.getByTestId("recover-toggle")).toHaveAttribute("aria-expanded", "true");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await expect(page.getByLabel(/^Wiederherstellungsschlüssel/)).toBeFocused();
  await page.keyboard.type("AGE-SECRET-KEY-1FALSCH");
  await page.keyboard.press("Tab");
  await page.keyboard.type("neues-passwort-1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("neues-passwort-2");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("recover-error")).toContainText("stimmen nicht überein");
  await noSeriousA11yViolations(page);
});

test("administration of a PC alone: attached to the Rathaus-Server later, accessible, by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.evaluate(() => sessionStorage.setItem("fake-alone", "1"));
  await page.reload();
  await page.keyboard.type("admin");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("office-connect")).toBeVisible();
  await page.getByLabel("Adresse des Rathaus-Servers").focus();
  await page.keyboard.press("End");
  await page.keyboard.type("rathaus:8443");
  await page.keyboard.press("Tab");
  await page.keyboard.type("FALSCH");
  await page.keyboard.press("Tab");
  await page.keyboard.type("ab".repeat(32));
  await page.keyboard.press("Tab");
  await page.keyboard.type("Bürgerbüro 3");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("office-connect-error")).toContainText("Einmalcode ist ungültig");
  await noSeriousA11yViolations(page);
  await page.getByLabel("Einmalcode").fill("K7QM-4XRT-P2WD");
  await page.getByLabel("Einmalcode").press("Enter");
  await expect(page.getByTestId("office-connect-done")).toContainText("Verbunden mit dem Rathaus-Server");
});

test("administration: the mail server for answers by e-mail – accessible, by keyboard", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("admin");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("mail-state")).toContainText("Noch kein Mailserver");
  await page.getByLabel("Mailserver (Name oder Adresse)").focus();
  await page.keyboard.type("mail.musterstadt.example");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.type("rathaus");
  await page.keyboard.press("Tab");
  await page.keyboard.type("relay-geheim");
  await page.keyboard.press("Tab");
  await page.keyboard.type("kein-absender");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("mail-error")).toContainText("Absenderadresse");
  await noSeriousA11yViolations(page);
  await page.getByLabel("Absenderadresse").fill("buergerbuero@musterstadt.example");
  await page.getByLabel("Absenderadresse").press("Enter");
  await expect(page.getByTestId("mail-state")).toContainText("Eingerichtet: mail.musterstadt.example:587 (STARTTLS)");
  await page.getByTestId("mail-test").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("mail-done")).toContainText("nimmt die Anmeldung an");
  await noSeriousA11yViolations(page);
});

test("keyboard: ? shows the shortcuts, / searches, j/k and Enter open a case, n and Ctrl+Enter save a note, Esc goes back to its row", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.type("sb1");
  await page.keyboard.press("Tab");
  await page.keyboard.type("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("worklist")).toBeVisible();
  const blur = () => page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await blur();
  await page.keyboard.press("?");
  await expect(page.getByTestId("key-help")).toBeVisible();
  await expect(page.getByTestId("key-help-close")).toBeFocused();
  await expect(page.getByTestId("key-help")).toContainText("Strg+Enter");
  await noSeriousA11yViolations(page);
  await page.screenshot({ path: "test-results/screens/tastenkuerzel.png" });
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("key-help")).toHaveCount(0);
  // Typed into a field, "?" is a character, not the overlay.
  await page.keyboard.press("/");
  await expect(page.getByTestId("worklist-search")).toBeFocused();
  await page.keyboard.type("?");
  await expect(page.getByTestId("key-help")).toHaveCount(0);
  await expect(page.getByTestId("worklist-search")).toHaveValue("?");
  await page.getByTestId("worklist-search").fill("");
  await blur();
  const first = page.getByRole("button", { name: "Vorgang MB-2026-000017 öffnen" });
  const second = page.getByRole("button", { name: "Vorgang HS-2026-000004 öffnen" });
  await page.keyboard.press("j");
  await expect(first).toBeFocused();
  await page.keyboard.press("ArrowDown");
  await expect(second).toBeFocused();
  await page.keyboard.press("k");
  await expect(first).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("case-view")).toBeVisible();
  await blur();
  await page.keyboard.press("n");
  await expect(page.locator("#note")).toBeFocused();
  await expect(page.locator("#note")).toHaveValue("");
  await page.keyboard.type("Rückruf am Montag vereinbart");
  await page.keyboard.press("Control+Enter");
  await expect(page.getByTestId("case-message")).toContainText("Notiz gespeichert");
  await blur();
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("worklist")).toBeVisible();
  await expect(first).toBeFocused();
  // The next person at the desk starts at the top: the list does not jump to the
  // case the last one had open.
  await page.getByTestId("logout").click();
  await page.getByLabel("Benutzername").fill("sb1");
  await page.getByLabel("Passwort").fill("richtig-richtig");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("worklist")).toBeVisible();
  await expect(first).toBeVisible();
  await expect(first).not.toBeFocused();
  expect(await page.evaluate(() => (document.scrollingElement ?? document.documentElement).scrollTop)).toBe(0);
});

test("work list at 1366 × 768: one-line toolbar, views with counts, twelve rows and more, sticky header, sorting by click and by keyboard, search paged", async ({ page }) => {
  await loginWithFullList(page);
  await expect(page.getByTestId("worklist-count")).toHaveText("120 Vorgänge, angezeigt 1–50");
  // The views say how many cases each holds.
  await expect(page.getByTestId("view-alle")).toHaveText(/Alle\s+120/);
  await expect(page.getByTestId("view-meine")).toHaveText(/Meine\s+88/);
  await expect(page.getByTestId("view-eingang")).toHaveText(/Eingangskorb\s+32/);
  await page.screenshot({ path: "test-results/screens/arbeitskorb-voll.png" });
  // At least twelve rows wholly in sight without scrolling the page.
  expect(await rowsInSight(page)).toBeGreaterThanOrEqual(12);
  // Each row one line high, long case types included: numbers, states and days never wrap.
  const heights = await page.evaluate(() =>
    [...document.querySelectorAll("[data-testid=worklist] tbody tr")].map((r) => r.getBoundingClientRect().height),
  );
  expect(Math.max(...heights) - Math.min(...heights)).toBeLessThan(4);
  // The header stays in place while the list scrolls under it.
  const header = page.locator(".worklist-table thead th").first();
  const before = (await header.boundingBox())!.y;
  await page.locator(".worklist-table").evaluate((el) => el.scrollBy(0, 600));
  await expect.poll(async () => page.locator(".worklist-table").evaluate((el) => el.scrollTop)).toBeGreaterThan(0);
  expect((await header.boundingBox())!.y).toBe(before);
  // Sort by deadline with a click: the earliest first, announced to screen readers.
  await page.getByTestId("sort-frist").click();
  await expect(page.getByRole("columnheader", { name: /Frist/ })).toHaveAttribute("aria-sort", "ascending");
  await expect(page.getByTestId("worklist-deadline").first()).toContainText("08.11.2026");
  await expect(page.getByTestId("worklist-sort")).toHaveValue("frist");
  // And by keyboard: Enter on the "Eingang" header, twice for the other direction.
  await page.getByTestId("sort-eingang").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("columnheader", { name: /Eingang/ })).toHaveAttribute("aria-sort", "descending");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("columnheader", { name: /Eingang/ })).toHaveAttribute("aria-sort", "ascending");
  await expect(page.getByTestId("sort-eingang")).toBeFocused();
  // The view "Überfällig" holds only cases past their deadline.
  await page.getByTestId("view-ueberfaellig").click();
  await expect(page.getByTestId("view-ueberfaellig")).toHaveAttribute("aria-pressed", "true");
  const overdue = await page.getByTestId("view-ueberfaellig").textContent();
  const n = Number(overdue?.replace(/\D/g, ""));
  expect(n).toBeGreaterThan(0);
  await expect(page.getByTestId("worklist-count")).toContainText(`${n} Vorgänge`);
  for (const badge of await page.getByTestId("worklist-deadline").allTextContents()) expect(badge).toContain("Frist abgelaufen");
  // A search finds more than a page: counted and paged like the list.
  await page.getByTestId("view-alle").click();
  await page.getByTestId("worklist-search").fill("Person");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("worklist-count")).toHaveText("118 Vorgänge, angezeigt 1–50, nach Relevanz");
  await page.getByTestId("next-page").click();
  await expect(page.getByTestId("worklist-count")).toHaveText("118 Vorgänge, angezeigt 51–100, nach Relevanz");
  await noSeriousA11yViolations(page);
});

test("case view: j/k and the buttons step through the work list's page, focus kept, Esc back to the row of the case last seen", async ({ page }) => {
  await loginWithFullList(page);
  await expect(page.getByTestId("worklist-count")).toContainText("120 Vorgänge");
  const rows = page.getByTestId("open-case");
  const ids = await rows.evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.caseId));
  await rows.nth(1).click();
  await expect(page.getByTestId("case-place")).toHaveText("Vorgang 2 von 50 der Liste");
  // A note begun on one case does not travel to the next.
  await page.locator("#note").fill("Entwurf für diesen Vorgang");
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("j");
  await expect(page.getByTestId("case-place")).toHaveText("Vorgang 3 von 50 der Liste");
  await expect(page.locator("#note")).toHaveValue("");
  await page.keyboard.press("k");
  await page.keyboard.press("k");
  await expect(page.getByTestId("case-place")).toHaveText("Vorgang 1 von 50 der Liste");
  await expect(page.getByTestId("case-prev")).toBeDisabled();
  // "k" on the first case stays there.
  await page.keyboard.press("k");
  await expect(page.getByTestId("case-place")).toHaveText("Vorgang 1 von 50 der Liste");
  // The button keeps the focus for the next press.
  await page.getByTestId("case-next").focus();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("case-place")).toHaveText("Vorgang 2 von 50 der Liste");
  await expect(page.getByTestId("case-next")).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("case-place")).toHaveText("Vorgang 3 von 50 der Liste");
  await expect(page.getByTestId("case-next")).toBeFocused();
  await expect(page.getByRole("button", { name: /Nächster/ })).toHaveAttribute("aria-keyshortcuts", "j");
  // "a" goes to the case's next step: its first allowed action.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("a");
  await expect(page.getByRole("button", { name: "Unterlagen nachfordern" })).toBeFocused();
  // Back to the list: the row of the case last seen has the focus.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("worklist")).toBeVisible();
  await expect(page.locator(`[data-testid=open-case][data-case-id="${ids[2]}"]`)).toBeFocused();
  // The shortcuts are in the help.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("?");
  await expect(page.getByTestId("key-help")).toContainText("nächster Vorgang der Liste");
  await noSeriousA11yViolations(page);
});

test("work list at 1920 × 1080 and at 200 % zoom (1366 × 768 at 200 %: 683 × 384 CSS pixels): no page scrolling sideways, everything reachable", async ({ page }) => {
  const sideways = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.setViewportSize({ width: 1920, height: 1080 });
  await loginWithFullList(page);
  await expect(page.getByTestId("worklist-count")).toContainText("120 Vorgänge");
  expect(await rowsInSight(page)).toBeGreaterThanOrEqual(20);
  expect(await sideways()).toBeLessThanOrEqual(0);
  await page.screenshot({ path: "test-results/screens/arbeitskorb-1920.png" });
  // 200 %: the toolbar wraps, the table scrolls in its own box, the page not sideways.
  await page.setViewportSize({ width: 683, height: 384 });
  await expect(page.getByTestId("worklist-search")).toBeVisible();
  expect(await sideways()).toBeLessThanOrEqual(0);
  const search = await page.getByTestId("worklist-search").boundingBox();
  expect(search!.x + search!.width).toBeLessThanOrEqual(683);
  await page.getByTestId("view-ueberfaellig").scrollIntoViewIfNeeded();
  await expect(page.getByTestId("view-ueberfaellig")).toBeInViewport();
  // The first case opens from the keyboard.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("j");
  await expect(page.getByTestId("open-case").first()).toBeFocused();
  await expect(page.getByTestId("open-case").first()).toBeInViewport();
  await page.screenshot({ path: "test-results/screens/arbeitskorb-200-prozent.png" });
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("case-view")).toBeVisible();
  expect(await sideways()).toBeLessThanOrEqual(0);
});

test("case view: sections by key 1–5, a document or the letter preview in the right pane, focus into an action's form and kept after the action", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("Benutzername").fill("sb1");
  await page.getByLabel("Passwort").fill("richtig-richtig");
  await page.keyboard.press("Enter");
  await page.getByRole("button", { name: "Vorgang HS-2026-000004 öffnen" }).press("Enter");
  await expect(page.getByRole("heading", { name: "HS-2026-000004 – Hundesteuer-Anmeldung" })).toBeVisible();
  // The section bar names the five sections; the keys 1–5 go to them.
  await expect(page.getByTestId("case-sections").getByRole("link")).toHaveText([/^Antrag/, /^Unterlagen/, /^Schreiben/, /^Verlauf/, /^Notizen/]);
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  const sections: [string, RegExp][] = [
    ["4", /^Verlauf/],
    ["5", /^Notizen$/],
    ["3", /^Schreiben$/],
    ["2", /^Unterlagen$/],
    ["1", /^Antrag$/],
  ];
  for (const [key, name] of sections) {
    await page.keyboard.press(key);
    const heading = page.getByRole("heading", { name, level: 2 });
    await expect(heading, key).toBeFocused();
    await expect(heading, key).toBeInViewport();
  }
  // The application's data open in the right pane.
  await page.getByTestId("application-data-open").press("Enter");
  const side = page.getByTestId("case-side");
  await expect(side.getByTestId("document-data")).toContainText("Musterstadt");
  // The letter's preview takes the document's place …
  await page.getByTestId("letter-open").press("Enter");
  await page.getByTestId("letter-preview").press("Enter");
  await expect(side.getByTestId("letter-preview-pages").locator("canvas")).toHaveCount(1);
  await expect(page.getByTestId("document-viewer")).toHaveCount(0);
  await expect(side.getByTestId("letter-sheet")).toBeInViewport();
  const composer = await page.getByTestId("letters").boundingBox();
  const sheet = await side.getByTestId("letter-sheet").boundingBox();
  expect(sheet!.x).toBeGreaterThan(composer!.x + composer!.width - 1);
  await page.screenshot({ path: "test-results/screens/vorgang-briefvorschau.png" });
  // … a document opened takes it back; the way back to the preview is offered, and Esc closes the document first.
  await side.getByRole("button", { name: "Haftpflicht.pdf anzeigen" }).press("Enter");
  await expect(side.getByTestId("document-viewer")).toBeVisible();
  await expect(page.getByTestId("letter-sheet")).toHaveCount(0);
  await page.getByTestId("letter-sheet-show").press("Enter");
  await expect(side.getByTestId("letter-sheet")).toBeVisible();
  await side.getByRole("button", { name: "Haftpflicht.pdf anzeigen" }).press("Enter");
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("document-viewer")).toHaveCount(0);
  await expect(side.getByTestId("letter-sheet")).toBeVisible();
  await expect(page.getByTestId("case-view")).toBeVisible();
  // An action with a form: the focus goes to its first field …
  await page.getByTestId("action-zurueckziehen").press("Enter");
  await expect(page.getByLabel("Grund")).toBeFocused();
  await expect(page.getByLabel("Grund")).toBeInViewport();
  await page.keyboard.type("Antrag per E-Mail zurückgenommen");
  await page.keyboard.press("Enter");
  // … and after it to the line that says what happened (the form and its button are gone).
  await expect(page.getByTestId("case-message")).toHaveText("Erledigt: Rücknahme vermerken.");
  await expect(page.getByTestId("action-form")).toHaveCount(0);
  await expect(page.getByTestId("case-message")).toBeFocused();
  await noSeriousA11yViolations(page);
});

/** The sizes every main screen is checked at: the office screen, a large one, and 1366 × 768 at 200 %. */
const SIZES = [
  { name: "1366x768", width: 1366, height: 768 },
  { name: "1920x1080", width: 1920, height: 1080 },
  { name: "200-prozent", width: 683, height: 384 },
];

async function loginAs(page: import("@playwright/test").Page, user: string) {
  await page.goto("/");
  await page.getByLabel("Benutzername").fill(user);
  await page.getByLabel("Passwort").fill("richtig-richtig");
  await page.keyboard.press("Enter");
}

/** One screen at every size: no page scrolling sideways, axe-core clean, a screenshot kept per size. */
async function atEverySize(page: import("@playwright/test").Page, screen: string, ready: () => Promise<void>) {
  for (const size of SIZES) {
    await page.setViewportSize({ width: size.width, height: size.height });
    await ready();
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(sideways, `${screen} at ${size.name}`).toBeLessThanOrEqual(0);
    await noSeriousA11yViolations(page);
    await page.screenshot({ path: `test-results/screens/groessen/${screen}-${size.name}.png` });
  }
  await page.setViewportSize({ width: 1366, height: 768 });
}

test("main screens at 1366 × 768, 1920 × 1080 and 200 %: no page scrolling sideways, axe-core clean, a screenshot of each, a compact header bar", async ({ page }) => {
  // Five screens × three sizes, each with an axe-core run: more than the default 30 s on two cores.
  test.slow();
  await page.addInitScript(() => sessionStorage.setItem("fake-many", "1"));
  await loginAs(page, "sb1");
  await expect(page.getByTestId("worklist-count")).toContainText("120 Vorgänge");
  // The header bar (office and portal state, user) takes two short lines at 1366 in office mode, one at 1920.
  const header = async () => (await page.locator(".app-header").boundingBox())!.height;
  expect(await header()).toBeLessThanOrEqual(80);
  expect(await rowsInSight(page)).toBeGreaterThanOrEqual(14);
  await atEverySize(page, "arbeitskorb", () => expect(page.getByTestId("worklist")).toBeVisible());
  await page.setViewportSize({ width: 1920, height: 1080 });
  expect(await header()).toBeLessThanOrEqual(50);
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.getByRole("button", { name: "Vorgang HS-2026-000004 öffnen" }).press("Enter");
  await atEverySize(page, "vorgang", () => expect(page.getByTestId("case-documents")).toBeVisible());
  await page.getByTestId("logout").press("Enter");

  await loginAs(page, "leitung");
  await page.getByTestId("view-dashboard").press("Enter");
  await atEverySize(page, "kennzahlen", () => expect(page.getByTestId("kpi-median")).toBeVisible());
  await page.getByTestId("logout").press("Enter");

  await loginAs(page, "scan");
  await atEverySize(page, "scanstelle", () => expect(page.getByTestId("scan-open-batch")).toBeVisible());
  await page.getByTestId("logout").press("Enter");

  await loginAs(page, "admin");
  await atEverySize(page, "verwaltung", () => expect(page.getByRole("heading", { name: "Verwaltung" })).toBeVisible());
});

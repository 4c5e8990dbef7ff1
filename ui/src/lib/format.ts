import type { CaseState } from "./bindings/CaseState";

// German formats: 23.11.2026, 14:05 Uhr.
const dateFmt = new Intl.DateTimeFormat("de-DE", {
  day: "2-digit",
  month: "2-digit",
  year: "numeric",
  timeZone: "Europe/Berlin",
});

/** RFC 3339 timestamp → `dd.mm.yyyy` in German local time; unparsable input is shown as is. */
export function formatDate(rfc3339: string): string {
  const t = Date.parse(rfc3339);
  return Number.isNaN(t) ? rfc3339 : dateFmt.format(new Date(t));
}

// One label per case state (the compiler checks that none is missing).
const statusLabels: Record<CaseState, string> = {
  eingegangen: "Eingegangen",
  in_pruefung: "In Prüfung",
  nachgefordert: "Nachgefordert",
  in_bearbeitung: "In Bearbeitung",
  entschieden: "Entschieden",
  versandt: "Versandt",
  abgeschlossen: "Abgeschlossen",
  zurueckgezogen: "Zurückgezogen",
  weitergeleitet: "Weitergeleitet",
  gilt_als_erteilt: "Genehmigung gilt als erteilt",
};

export function statusLabel(status: CaseState): string {
  // A state of a newer backend than this UI is shown as it comes.
  return statusLabels[status] ?? status;
}

const timeFmt = new Intl.DateTimeFormat("de-DE", {
  day: "2-digit",
  month: "2-digit",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "Europe/Berlin",
});

/** RFC 3339 timestamp → `23.11.2026, 14:05` in German local time. */
export function formatDateTime(rfc3339: string): string {
  const t = Date.parse(rfc3339);
  return Number.isNaN(t) ? rfc3339 : timeFmt.format(new Date(t));
}

/** A calendar date `YYYY-MM-DD` → `dd.mm.yyyy` (no time zone involved). */
export function formatDay(day: string | null): string {
  if (!day) return "–";
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  return m ? `${m[3]}.${m[2]}.${m[1]}` : day;
}

const deadlineLabels: Record<string, string> = {
  imPlan: "im Plan",
  ruht: "Frist ruht (Warten auf Unterlagen)",
  zielzeitErreicht: "Zielzeit überschritten",
  fristAbgelaufen: "gesetzliche Frist abgelaufen",
  fiktionEingetreten: "Frist abgelaufen – Genehmigung gilt als erteilt (§ 42a VwVfG)",
};

const clockLabels: Record<string, string> = {
  fiktion: "Genehmigungsfiktion",
  fachfrist: "gesetzliche Frist",
  servicefrist: "keine gesetzliche Frist (Zielzeit)",
};

/** Which clock runs for a case type, in words. */
export function clockLabel(clock: string): string {
  return clockLabels[clock] ?? clock;
}

export function deadlineLabel(status: string): string {
  return deadlineLabels[status] ?? status;
}

/** Cents as German currency, as on the letters: 123456 → "1.234,56 €". */
export function formatEuro(cent: number): string {
  const sign = cent < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(cent));
  const euros = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  return `${sign}${euros},${String(abs % 100).padStart(2, "0")} €`;
}

/** Decode base64 (documents and letters come as base64 over IPC). */
export function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A chosen file's text. FileReader rather than `file.text()`: the same in every web view. */
export function readText(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result ?? ""));
    reader.onerror = () => reject(new Error("Die Datei ist nicht lesbar."));
    reader.readAsText(file);
  });
}

/** `YYYY-MM-DD` → `TT.MM.JJJJ` (anything else is shown as it is). */
export function isoToGerman(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  return m ? `${m[3]}.${m[2]}.${m[1]}` : iso;
}

/**
 * A day as typed in German order – `7.12.2026`, `07.12.26`, also `2026-12-07` – as
 * `YYYY-MM-DD`; null for anything that is not a real day (31.02., 13th month).
 * Two-digit years are 20xx.
 */
export function parseGermanDate(text: string): string | null {
  const t = text.trim();
  let d: number, m: number, y: number;
  const de = /^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})$/.exec(t);
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (de) {
    [d, m, y] = [Number(de[1]), Number(de[2]), Number(de[3])];
    if (de[3].length === 2) y += 2000;
  } else if (iso) {
    [y, m, d] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  } else {
    return null;
  }
  if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1) return null;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  if (d > days) return null;
  return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

const numberFmt = new Intl.NumberFormat("de-DE");

/** A count in German format: 12.345. */
export function formatNumber(n: number): string {
  return numberFmt.format(n);
}

const sizeFmt = new Intl.NumberFormat("de-DE", { maximumFractionDigits: 1 });

/** A file size the way a clerk reads it: 512 Byte, 12,3 KB, 4,5 MB (1 KB = 1.000 Byte). */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${numberFmt.format(bytes)} Byte`;
  if (bytes < 1_000_000) return `${sizeFmt.format(bytes / 1000)} KB`;
  if (bytes < 1_000_000_000) return `${sizeFmt.format(bytes / 1_000_000)} MB`;
  return `${sizeFmt.format(bytes / 1_000_000_000)} GB`;
}

const TYPES: Record<string, string> = {
  "application/pdf": "PDF",
  "application/json": "Daten (JSON)",
  "application/xml": "Daten (XML)",
  "text/xml": "Daten (XML)",
  "image/jpeg": "Bild (JPEG)",
  "image/png": "Bild (PNG)",
  "image/tiff": "Bild (TIFF)",
  "text/plain": "Text",
};

/** The kind of a file in words, from its MIME type (unknown ones as they are). */
export function fileType(mime: string): string {
  return TYPES[mime.toLowerCase()] ?? mime;
}

/**
 * The name to show for an assignee's user name: the logged-in user's or a colleague's
 * display name where known (the Leitung has the list of caseworkers), else the user name.
 */
export function assigneeName(
  username: string,
  me: { username: string; displayName: string },
  workers: { username: string; displayName: string }[],
): string {
  if (username === me.username) return me.displayName;
  return workers.find((w) => w.username === username)?.displayName ?? username;
}

// Keyboard shortcuts of the clerk's screens (UI brief: keyboard first). One list,
// shown in the "?" overlay; the screens handle their own keys.

export const SHORTCUTS: { keys: string; what: string; where: string }[] = [
  { keys: "?", what: "diese Übersicht öffnen", where: "überall" },
  { keys: "/", what: "Suche im Arbeitskorb", where: "Arbeitskorb" },
  { keys: "j oder ↓", what: "nächster Vorgang der Liste", where: "Arbeitskorb" },
  { keys: "k oder ↑", what: "vorheriger Vorgang der Liste", where: "Arbeitskorb" },
  { keys: "Enter", what: "Vorgang öffnen", where: "Arbeitskorb" },
  { keys: "Esc", what: "zurück zum Arbeitskorb (der Vorgang bleibt markiert)", where: "Vorgang" },
  { keys: "j", what: "nächster Vorgang der Liste", where: "Vorgang" },
  { keys: "k", what: "vorheriger Vorgang der Liste", where: "Vorgang" },
  { keys: "a", what: "zur ersten möglichen Aktion (Enter führt sie aus)", where: "Vorgang" },
  { keys: "n", what: "Notiz schreiben", where: "Vorgang" },
  { keys: "1 bis 5", what: "zum Abschnitt Antrag, Unterlagen, Schreiben, Verlauf oder Notizen", where: "Vorgang" },
  { keys: "Strg+Enter", what: "Notiz speichern", where: "Notizfeld" },
];

/** A key typed into a field, or with Ctrl/Alt/Meta, is the field's – not a shortcut. */
export function isShortcut(ev: KeyboardEvent): boolean {
  if (ev.ctrlKey || ev.altKey || ev.metaKey || ev.defaultPrevented) return false;
  const t = ev.target as HTMLElement | null;
  if (!t) return true;
  const tag = t.tagName;
  return !(tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || t.isContentEditable);
}

/** Is a dialog (help, document viewer, …) open over the screen? */
export function dialogOpen(): boolean {
  return document.querySelector("[aria-modal='true']") !== null;
}

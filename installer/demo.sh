#!/usr/bin/env bash
# `make demo`: provision a demo data directory in target/demo/ (once) and start the
# app on it. Without a display the app runs under Xvfb, is logged in through its UI
# and a screenshot of the work list is saved to target/demo/screenshot.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/target/demo"
data="$demo/daten"
cli="$root/target/debug/amtsstube"
app="$root/target/debug/amtsstube-app"

# Demo accounts: user, role, display name, password.
users=(
  "sb.mueller|sachbearbeitung|Sabine Müller|Demo-Sachbearbeitung-1"
  "sb.yilmaz|sachbearbeitung|Deniz Yılmaz|Demo-Sachbearbeitung-2"
  "leitung.schmidt|leitung|Jörg Schmidt|Demo-Leitung-1"
  "scan.weber|scanstelle|Anna Weber|Demo-Scanstelle-1"
)
admin_pw="Demo-Administration-1"

if [ ! -f "$data/store.json" ]; then
  rm -rf "$data"
  mkdir -p "$demo"
  echo "==> Richte Demo-Datenbestand in $data ein"
  printf '%s\n' "$admin_pw" | "$cli" --data-dir "$data" init --display-name "Demo-Administration" >"$demo/init.txt"
  for u in "${users[@]}"; do
    IFS='|' read -r name role display pw <<<"$u"
    printf '%s\n%s\n' "$admin_pw" "$pw" | "$cli" --data-dir "$data" user add "$name" --role "$role" --display-name "$display" >/dev/null
  done
  grep -o 'AGE-SECRET-KEY-1[A-Z0-9]*' "$demo/init.txt" >"$demo/wiederherstellungsschluessel.txt" || true
  rm -f "$demo/init.txt"
fi

echo
echo "Demo-Zugänge (Datenverzeichnis $data):"
printf '  %-18s %-16s %s\n' "Benutzer" "Rolle" "Passwort"
printf '  %-18s %-16s %s\n' "admin" "admin" "$admin_pw"
for u in "${users[@]}"; do
  IFS='|' read -r name role _display pw <<<"$u"
  printf '  %-18s %-16s %s\n' "$name" "$role" "$pw"
done
echo "  Wiederherstellungsschlüssel: $demo/wiederherstellungsschluessel.txt (nur für die Demo gespeichert)"
echo

if [ -n "${DISPLAY:-}" ]; then
  echo "==> Starte Amtsstube"
  AMTSSTUBE_DATA_DIR="$data" exec "$app"
fi

echo "==> Kein Bildschirm: starte Amtsstube unter Xvfb, melde an und speichere den Arbeitskorb"
rm -f "$demo/screenshot.png"
IFS='|' read -r name _role _display pw <<<"${users[0]}"
xvfb-run -a -s "-screen 0 1920x1080x24" dbus-run-session -- \
  node "$root/tests/e2e/demo-screenshot.mjs" "$data" "$name" "$pw" "$demo/screenshot.png"
echo "Bildschirmfoto: $demo/screenshot.png"

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
  "scan.kaya|scanstelle|Elif Kaya|Demo-Scanstelle-2"
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

# The portal simulator with realistic applications, synchronised into the demo store.
# shellcheck source=installer/demo-portal.sh
. "$root/installer/demo-portal.sh"
start_portal "$demo/portal" 40 2026 "$demo/portal.log" 4 5
trap 'kill $sim_pid 2>/dev/null || true' EXIT
url=$sim_url
settings=$sim_settings
printf '%s\n' "$admin_pw" | "$cli" --data-dir "$data" portal configure --file "$settings" >/dev/null
rm -f "$settings"
# Answers by e-mail go through the simulator's mail server (every fourth applicant
# gave an OpenPGP key); its port changes with every start.
smtp_port=$(grep -o '"port": *[0-9]*' "$demo/portal/smtp.json" | grep -o '[0-9]*$')
printf '%s\n%s\n' "$admin_pw" "rathaus-relay-1" | "$cli" --data-dir "$data" email einrichten \
  --server 127.0.0.1 --port "$smtp_port" --benutzer rathaus --absender buergerbuero@musterstadt.example \
  --absendername "Gemeinde Musterstadt – Bürgerbüro" --ca "$demo/portal/smtp-ca.pem" >/dev/null
# Late bounces come back to the sender's mailbox, which the simulator serves by IMAP.
imap_port=$(grep -o '"imapPort": *[0-9]*' "$demo/portal/smtp.json" | grep -o '[0-9]*$')
printf '%s\n%s\n' "$admin_pw" "rathaus-relay-1" | "$cli" --data-dir "$data" email postfach \
  --server 127.0.0.1 --port "$imap_port" --benutzer rathaus >/dev/null
# Answers to BundID mailboxes go through the simulator's fake ZBP bridge, signed with
# the key pair its simulated BPKI issued to the town (every fifth applicant asked for
# her mailbox). The key file is removed once it is in the encrypted store.
bridge=$("$root/target/debug/portal-sim" bpki --dir "$demo/portal" --ordner "$demo/bpki")
printf '%s\n' "$admin_pw" | "$cli" --data-dir "$data" bundid einrichten --bruecke "$bridge" \
  --schluessel "$demo/bpki/bpki-schluessel.pem" --zertifikat "$demo/bpki/bpki-zertifikat.pem" >/dev/null
rm -f "$demo/bpki/bpki-schluessel.pem"
# The town's cash system takes Annahmeanordnungen from this exchange folder (demo).
mkdir -p "$demo/kasse"
printf '%s\n' "$admin_pw" | "$cli" --data-dir "$data" kasse ordner "$demo/kasse" >/dev/null
# The scanner's share (hot folder) of the scanning desk.
mkdir -p "$demo/scanner"
printf '%s\n' "$admin_pw" | "$cli" --data-dir "$data" scan ordner "$demo/scanner" --as admin >/dev/null
IFS='|' read -r first_user _ _ first_pw <<<"${users[0]}"
echo "==> Synchronisiere mit dem Portal-Simulator ($url)"
printf '%s\n' "$first_pw" | "$cli" --data-dir "$data" sync --as "$first_user"
# Once: the Leitung spreads the new cases over every processing state (demo only).
if [ ! -f "$demo/.verteilt" ]; then
  IFS='|' read -r lead_user _ _ lead_pw <<<"${users[2]}"
  IFS='|' read -r sb2_user _ _ _ <<<"${users[1]}"
  printf '%s\n' "$lead_pw" | "$cli" --data-dir "$data" demo-verteilen --as "$lead_user" --an "$first_user" --an "$sb2_user"
  # A year of finished and running cases, so the Leitung's dashboard shows real figures.
  printf '%s\n' "$lead_pw" | "$cli" --data-dir "$data" demo-historie --as "$lead_user" --anzahl 1200 --an "$first_user" --an "$sb2_user"
  touch "$demo/.verteilt"
fi
# Once: a batch of three paper applications scanned by Anna Weber, waiting for the QA
# desk (a second person: scan.kaya).
if [ ! -f "$demo/.gescannt" ]; then
  IFS='|' read -r scan_user _ _ scan_pw <<<"${users[3]}"
  printf '%s\n' "$scan_pw" | "$cli" --data-dir "$data" scan stapel --klasse antrag --karton "Posteingang 01.12." --seiten 3 --as "$scan_user" >/dev/null
  python3 "$root/installer/demo-scans.py" "$demo/scanner"
  printf '%s\n' "$scan_pw" | "$cli" --data-dir "$data" scan einlesen --ordner "$demo/scanner" --stabil 0 --warten 10 --as "$scan_user"
  touch "$demo/.gescannt"
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
echo "  Kassenordner (Annahmeanordnungen als CSV und XML): $demo/kasse"
echo "  E-Mails an die Antragstellenden (entschlüsselt, wie sie sie sehen): $url/citizen/mail"
echo "  BundID-Postfächer und Statusmonitor der Antragstellenden (über den ZBP-Brückendienst): $url/citizen/postkorb"
echo "  Eingangsordner der Scanstelle: $demo/scanner (drei Scans warten auf die Qualitätssicherung durch scan.kaya)"
echo

if [ -n "${DISPLAY:-}" ]; then
  echo "==> Starte Amtsstube (Portal-Simulator läuft auf $url, solange die Anwendung offen ist)"
  AMTSSTUBE_DATA_DIR="$data" "$app"
  exit 0
fi

echo "==> Kein Bildschirm: starte Amtsstube unter Xvfb, melde an und speichere den Arbeitskorb"
rm -f "$demo/screenshot.png"
IFS='|' read -r name _role _display pw <<<"${users[0]}"
xvfb-run -a -s "-screen 0 1920x1080x24" dbus-run-session -- \
  node "$root/tests/e2e/demo-screenshot.mjs" "$data" "$name" "$pw" "$demo/screenshot.png"
echo "Bildschirmfoto: $demo/screenshot.png"

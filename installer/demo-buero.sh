#!/usr/bin/env bash
# `make demo BUERO=1`: the office variant. A Rathaus-Server on loopback (its own
# PostgreSQL cluster under target/demo-buero/pg), the portal simulator with demo
# applications the server picks up, and three desks – scanning desk, caseworker,
# Leitung – each its own PC (data directory) enrolled with a one-time code. With a
# display the three apps open side by side; without one each desk is started
# under Xvfb, logged in through its UI, and a screenshot saved.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo="$root/target/demo-buero"
cli="$root/target/debug/amtsstube"
srv="$root/target/debug/amtsstube-server"
cluster="$root/target/debug/demo-cluster"
app="$root/target/debug/amtsstube-app"
server_dir="$demo/server"
mkdir -p "$demo"

# People at the server: user, role, password. Each desk: directory, user.
admin_pw="Demo-Administration-1"
people=(
  "leitung.schmidt|leitung|Demo-Leitung-1"
  "sb.mueller|sachbearbeitung|Demo-Sachbearbeitung-1"
  "sb.yilmaz|sachbearbeitung|Demo-Sachbearbeitung-2"
  "scan.weber|scanstelle|Demo-Scanstelle-1"
  "scan.kaya|scanstelle|Demo-Scanstelle-2"
)
desks=(
  "platz-scanstelle|scan.weber|Scanstelle"
  "platz-sachbearbeitung|sb.mueller|Bürgerbüro 1"
  "platz-leitung|leitung.schmidt|Leitung"
)
pw_of() {
  local u
  for u in "${people[@]}"; do
    IFS='|' read -r name _ pw <<<"$u"
    [ "$name" = "$1" ] && { printf '%s\n' "$pw"; return; }
  done
  return 1
}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$cluster" stop "$demo/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "==> Starte PostgreSQL für den Rathaus-Server ($demo/pg)"
db=$("$cluster" start "$demo/pg" amtsstube)

if [ ! -f "$server_dir/.eingerichtet" ]; then
  rm -rf "$server_dir" "$demo"/platz-* "$demo/portal"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "==> Richte den Rathaus-Server ein (https://127.0.0.1:$port)"
  printf '%s\n' "$admin_pw" | "$srv" --verzeichnis "$server_dir" init --datenbank "$db" \
    --name "Gemeinde Musterstadt" --adresse "127.0.0.1:$port" --rechnername 127.0.0.1 >"$demo/init.txt"
  grep -o 'AGE-SECRET-KEY-1[A-Z0-9]*' "$demo/init.txt" >"$demo/sicherungsschluessel.txt" || true
  rm -f "$demo/init.txt"
  for u in "${people[@]}"; do
    IFS='|' read -r name role pw <<<"$u"
    printf '%s\n' "$pw" | "$srv" --verzeichnis "$server_dir" user add "$name" --rolle "$role" >/dev/null
  done
  echo "$port" >"$server_dir/.port"
  touch "$server_dir/.eingerichtet"
fi
port=$(cat "$server_dir/.port")
url="https://127.0.0.1:$port"

# shellcheck source=installer/demo-portal.sh
. "$root/installer/demo-portal.sh"
start_portal "$demo/portal" 30 2027 "$demo/portal.log"
pids+=("$sim_pid")
settings=$sim_settings
"$srv" --verzeichnis "$server_dir" portal --datei "$settings" >/dev/null
rm -f "$settings"
mkdir -p "$demo/kasse"
"$srv" --verzeichnis "$server_dir" kasse --ordner "$demo/kasse" >/dev/null

echo "==> Starte den Rathaus-Server"
"$srv" --verzeichnis "$server_dir" serve >"$demo/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done

# Each desk: its own data directory, a local administration, enrolled once.
as() { # as DESK USER ARGS… – the amtsstube CLI on that desk, the password on stdin
  local dir=$1 user=$2
  shift 2
  pw_of "$user" | "$cli" --data-dir "$demo/$dir" "$@" --as "$user"
}
for d in "${desks[@]}"; do
  IFS='|' read -r dir _user name <<<"$d"
  if [ ! -f "$demo/$dir/store.json" ]; then
    echo "==> Arbeitsplatz „$name“ wird angeschlossen"
    printf '%s\n' "$admin_pw" | "$cli" --data-dir "$demo/$dir" init --display-name "Administration ($name)" >/dev/null
    out=$("$srv" --verzeichnis "$server_dir" arbeitsplatz code)
    code=$(sed -n 's/^Einmalcode: \([^ ]*\).*/\1/p' <<<"$out")
    finger=$(sed -n 's/^Fingerabdruck der Büro-CA: //p' <<<"$out")
    printf '%s\n' "$admin_pw" | "$cli" --data-dir "$demo/$dir" buero anschliessen --server "$url" \
      --code "$code" --fingerabdruck "$finger" --name "$name" --as admin >/dev/null
  fi
done

# The keys: the Leitung first (makes the keys for case content and scans), then
# everybody (publishes their key), then the Leitung again (hands the keys on).
as platz-leitung leitung.schmidt buero anmelden >/dev/null
as platz-sachbearbeitung sb.mueller buero anmelden >/dev/null
as platz-scanstelle scan.weber buero anmelden >/dev/null
as platz-leitung leitung.schmidt buero anmelden >/dev/null
echo "==> Rathaus-Server holt die Anträge ab"
"$srv" --verzeichnis "$server_dir" abholen

if [ ! -f "$demo/.gearbeitet" ]; then
  echo "==> Erste Arbeit: Papiereingänge an der Scanstelle, Prüfungen im Bürgerbüro"
  # The first synchronisation leases the desk's block of Aktenzeichen.
  as platz-scanstelle scan.weber buero abgleichen >/dev/null
  as platz-scanstelle scan.weber buero papiereingang --art HST --antragsteller "Klaus Brandt" >/dev/null
  as platz-scanstelle scan.weber buero papiereingang --art BWP --antragsteller "Maria Jovanovic" >/dev/null
  as platz-scanstelle scan.weber buero abgleichen >/dev/null
  # Three scans in the hot folder wait for the quality check by a second person.
  mkdir -p "$demo/scanner"
  python3 "$root/installer/demo-scans.py" "$demo/scanner"
  as platz-scanstelle scan.weber scan ordner "$demo/scanner" >/dev/null 2>&1 ||
    printf '%s\n' "$admin_pw" | "$cli" --data-dir "$demo/platz-scanstelle" scan ordner "$demo/scanner" --as admin >/dev/null
  as platz-scanstelle scan.weber scan stapel --klasse antrag --karton "Posteingang 03.12." --seiten 3 >/dev/null
  as platz-scanstelle scan.weber scan einlesen --ordner "$demo/scanner" --stabil 0 --warten 10 >/dev/null
  as platz-sachbearbeitung sb.mueller buero abgleichen >/dev/null
  n=0
  for az in $(as platz-sachbearbeitung sb.mueller buero vorgaenge | grep -o 'ON-[0-9]*-[0-9]*' | sort -u | head -6); do
    as platz-sachbearbeitung sb.mueller buero schritt "$az" pruefen >/dev/null
    n=$((n + 1))
    if [ $n -le 2 ]; then
      as platz-sachbearbeitung sb.mueller buero notiz "$az" --text "Rückruf vereinbart, Unterlagen kommen per Post." >/dev/null
    fi
  done
  as platz-sachbearbeitung sb.mueller buero abgleichen >/dev/null
  touch "$demo/.gearbeitet"
fi
as platz-leitung leitung.schmidt buero abgleichen >/dev/null
as platz-scanstelle scan.weber buero abgleichen >/dev/null

echo
echo "Rathaus-Server: $url (Verzeichnis $server_dir, Protokoll $demo/server.log)"
echo "Arbeitsplätze (Datenverzeichnis, Benutzer, Passwort):"
for d in "${desks[@]}"; do
  IFS='|' read -r dir user name <<<"$d"
  printf '  %-22s %-34s %-16s %s\n' "$name" "$demo/$dir" "$user" "$(pw_of "$user")"
done
echo "  weitere Benutzer am Server: sb.yilmaz ($(pw_of sb.yilmaz)), scan.kaya ($(pw_of scan.kaya)) – melden sich an jedem Arbeitsplatz an"
echo "  Sicherungsschlüssel des Servers: $demo/sicherungsschluessel.txt (nur für die Demo gespeichert)"
echo

if [ -n "${DISPLAY:-}" ]; then
  echo "==> Starte drei Amtsstube-Fenster (Server und Portal laufen, solange sie offen sind)"
  for d in "${desks[@]}"; do
    IFS='|' read -r dir _ _ <<<"$d"
    AMTSSTUBE_DATA_DIR="$demo/$dir" "$app" &
    pids+=($!)
  done
  wait "${pids[@]:2}" || true
  exit 0
fi

echo "==> Kein Bildschirm: jeder Arbeitsplatz unter Xvfb, Anmeldung über die Oberfläche, Bildschirmfoto"
for d in "${desks[@]}"; do
  IFS='|' read -r dir user _ <<<"$d"
  rm -f "$demo/$dir.png"
  xvfb-run -a -s "-screen 0 1920x1080x24" dbus-run-session -- \
    node "$root/tests/e2e/demo-screenshot.mjs" "$demo/$dir" "$user" "$(pw_of "$user")" "$demo/$dir.png" buero
  echo "Bildschirmfoto: $demo/$dir.png"
done

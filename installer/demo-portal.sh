# Sourced by installer/demo.sh and installer/demo-buero.sh: the portal simulator
# with demo applications (seeded once), serving on a free port of 127.0.0.1 while
# the demo runs.
#   start_portal DIR COUNT SEED LOG [PGP [BUNDID]]  – sets sim_url, sim_pid and
#   sim_settings (a file with the destination's settings; the caller removes it after
#   use). With PGP every PGP-th applicant asks for e-mail with an OpenPGP key, and the
#   simulator also runs the citizens' mail server (DIR/smtp.json, DIR/smtp-ca.pem);
#   with BUNDID every BUNDID-th asks for her BundID mailbox (the simulator's fake ZBP
#   bridge takes the answers; `portal-sim bpki` hands out the town's key pair).
start_portal() {
  local dir=$1 count=$2 seed=$3 log=$4 pgp=${5:-0} bundid=${6:-0}
  local sim="$root/target/debug/portal-sim"
  if [ ! -f "$dir/keys.json" ]; then
    echo "==> Erzeuge $count Demo-Anträge im Portal-Simulator"
    "$sim" seed --dir "$dir" --count "$count" --seed "$seed" --pgp-jede "$pgp" --bundid-jede "$bundid" >/dev/null
  fi
  local smtp=()
  [ "$pgp" -gt 0 ] && smtp=(--smtp 127.0.0.1:0)
  "$sim" serve --dir "$dir" --addr 127.0.0.1:0 "${smtp[@]}" 2>"$log" &
  sim_pid=$!
  sim_url=""
  for _ in $(seq 1 100); do
    sim_url=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" || true)
    [ -n "$sim_url" ] && break
    sleep 0.1
  done
  [ -n "$sim_url" ] || { cat "$log" >&2; echo "Portal-Simulator startet nicht" >&2; exit 1; }
  sim_settings=$(mktemp)
  "$sim" subscriber-config --dir "$dir" --url "$sim_url" >"$sim_settings"
}

#!/usr/bin/env bash
# Conformance: the portal simulator's responses are checked against the official
# Submission API OpenAPI document by schemathesis (status codes, content types and
# response schemas are judged by the spec file, not by our own types).
# Used by `make test` (target test-conformance); needs `cargo build` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/tools/schemathesis"
spec="$root/src-tauri/crates/fitconnect/schemas/submission-api.v1.1.3.yaml"
sim="$root/target/debug/portal-sim"
version=4.32.5

if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$sim" seed --dir "$work/sim" --count 3 --seed 1 >/dev/null
"$sim" serve --dir "$work/sim" --addr 127.0.0.1:0 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/log" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/log"; echo "portal-sim did not start" >&2; exit 1; }

cfg=$("$sim" subscriber-config --dir "$work/sim" --url "$url")
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$cfg"; }
token=$(curl -sf -d "grant_type=client_credentials&client_id=$(field clientId)&client_secret=$(field clientSecret)" "$url/token" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")

# The operations the simulator implements. send-case-event and add-submission-attachment
# take `application/jose` bodies, which schemathesis cannot generate; the Rust
# integration tests (tests/tests/fitconnect_sim.rs) cover them.
ops=()
for op in get-info get-jwks.json get-destination-info get-destination-key get-submissions-for-pickup \
          get-submission get-submission-attachment get-case-events create-submission submit-submission; do
  ops+=(--include-operation-id "$op")
done

"$venv/bin/st" run "$spec" --url "$url" -H "Authorization: Bearer $token" \
  --checks status_code_conformance,response_schema_conformance,content_type_conformance \
  "${ops[@]}" --max-examples 25 --workers 1 --warnings off --seed 1

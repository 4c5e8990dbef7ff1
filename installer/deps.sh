#!/usr/bin/env bash
# System dependencies of Amtsstube (build, tests, demo) on Debian/Ubuntu.
# As root: installs what is missing with apt. Otherwise: prints the apt line and fails.
# Used by `make demo` and `make test`.
set -euo pipefail

PACKAGES=(
  # build
  build-essential pkg-config curl file perl libssl-dev
  # Tauri 2 / WebKitGTK
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libsoup-3.0-dev libayatana-appindicator3-dev
  # headless desktop tests and the demo screenshot
  xvfb xauth webkit2gtk-driver dbus-x11
  # browser tests (Playwright drives Debian's Chromium; no browser download)
  chromium fonts-dejavu-core
  # tests and benchmarks compare against the plain tools
  sqlite3 age
  # a local RFC 3161 time-stamping service for the audit-chain tests (openssl ts)
  openssl
  # the Rathaus-Server's record: tests start throwaway clusters (initdb + pg_ctl)
  postgresql
  # letter checks (qpdf --check, pdftotext, pdffonts, pdftoppm)
  qpdf poppler-utils
  # text recognition of scans (optional for the app: without it OCR is off)
  tesseract-ocr tesseract-ocr-deu
  # the .deb packages are checked as dpkg and the desktop see them
  desktop-file-utils
  # the Windows build (cross-compiled with mingw-w64), its installer (makensis) and
  # their tests under Wine
  mingw-w64 nsis wine wine64
  # the OpenAPI conformance run installs schemathesis into a venv
  python3 python3-venv python3-pip curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "==> Installiere Systempakete: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      exit 1
    fi
    rm -f "$log"
  else
    echo "Es fehlen Systempakete. Bitte als Administrator ausführen:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# Node.js >= 20.19 for Vite 8. Debian's own nodejs is used if nothing newer is there.
need_node() {
  command -v node >/dev/null 2>&1 || return 0
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?1:0)'
}
if need_node; then
  if [ "$(id -u)" = 0 ] && ! command -v node >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends nodejs npm
  fi
  if need_node; then
    echo "Node.js 20.19 oder neuer wird benötigt (gefunden: $(node --version 2>/dev/null || echo keins))." >&2
    echo "  Debian 13: sudo apt-get install nodejs npm" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust (stabil, 1.90 oder neuer) wird benötigt: https://rustup.rs" >&2
  exit 1
fi

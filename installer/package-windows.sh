#!/bin/bash
# Build the Windows installer with Debian's makensis (NSIS 3) from cross-built
# binaries:
#   installer/package-windows.sh [SOURCE_DIR] [OUTPUT_DIR]
# SOURCE_DIR holds amtsstube.exe and amtsstube-app.exe (default:
# target/x86_64-pc-windows-gnu/release); WebView2Loader.dll is taken from there or
# from the webview2-com-sys crate the app was built with. NO_APP=1 packs the CLI
# alone (the Wine test of the installer uses that with the debug CLI); FAST=1
# compresses with zlib instead of LZMA (seconds instead of minutes).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="${1:-$ROOT/target/x86_64-pc-windows-gnu/release}"
OUT="${2:-$ROOT/target/x86_64-pc-windows-gnu/release/bundle/nsis}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
command -v makensis >/dev/null || { echo "makensis fehlt: installer/deps.sh (Paket nsis)." >&2; exit 1; }
[ -f "$SRC/amtsstube.exe" ] || { echo "Kein Programm unter $SRC/amtsstube.exe (erst bauen: make build-windows bzw. make package-windows)." >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp "$SRC/amtsstube.exe" "$STAGE/"
defines=()
[ -n "${FAST:-}" ] && defines+=(-DFAST)
if [ -n "${NO_APP:-}" ]; then
  defines+=(-DNO_APP)
else
  [ -f "$SRC/amtsstube-app.exe" ] || { echo "Kein Programm unter $SRC/amtsstube-app.exe (erst bauen: make package-windows)." >&2; exit 1; }
  cp "$SRC/amtsstube-app.exe" "$STAGE/"
  loader="$SRC/WebView2Loader.dll"
  if [ ! -f "$loader" ]; then
    loader="$(find "$HOME/.cargo/registry/src" -path '*webview2-com-sys*/x64/WebView2Loader.dll' 2>/dev/null | sort | tail -1)"
  fi
  [ -f "$loader" ] || { echo "WebView2Loader.dll nicht gefunden." >&2; exit 1; }
  cp "$loader" "$STAGE/WebView2Loader.dll"
fi
# Without symbols: a third smaller (a crash report still names the module and offset).
for exe in "$STAGE"/*.exe; do
  x86_64-w64-mingw32-strip "$exe"
done
# Windows' Notepad reads UTF-8 with a byte-order mark and CRLF line ends.
{ printf '\xef\xbb\xbf'; sed 's/$/\r/' "$ROOT/installer/windows/LIESMICH.txt"; } > "$STAGE/LIESMICH.txt"
mkdir -p "$OUT"
out="$OUT/amtsstube-$VERSION-setup.exe"
makensis -V2 -INPUTCHARSET UTF8 \
  -DVERSION="$VERSION" -DSOURCE="$STAGE" -DOUTFILE="$out" \
  -DICON="$ROOT/src-tauri/icons/icon.ico" "${defines[@]}" \
  "$ROOT/installer/windows/amtsstube.nsi"
echo "$out"

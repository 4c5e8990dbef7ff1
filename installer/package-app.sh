#!/bin/bash
# Build the workstation's .deb (the app and the administration CLI) from built binaries:
#   installer/package-app.sh [APP_BINARY] [CLI_BINARY] [OUTPUT_DIR]
# (default: target/release/amtsstube-app and target/release/amtsstube into
# target/release/bundle/deb). PAKET_VERSION overrides the package version (tests build
# two revisions of one build to try an upgrade); DEB_COMPRESSION=none for large debug
# binaries.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
APP="${1:-$ROOT/target/release/amtsstube-app}"
CLI="${2:-$ROOT/target/release/amtsstube}"
OUT="${3:-$ROOT/target/release/bundle/deb}"
VERSION="${PAKET_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)}"
ARCH="$(dpkg --print-architecture)"
[ -x "$APP" ] || { echo "Kein Programm unter $APP (erst bauen: cargo build --release -p amtsstube-app)." >&2; exit 1; }
[ -x "$CLI" ] || { echo "Kein Programm unter $CLI (erst bauen: cargo build --release -p workstation --bin amtsstube)." >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"
install -D -m 0755 "$APP" "$STAGE/usr/bin/amtsstube-app"
install -D -m 0755 "$CLI" "$STAGE/usr/bin/amtsstube"
install -D -m 0644 "$ROOT/installer/app/amtsstube.desktop" "$STAGE/usr/share/applications/amtsstube.desktop"
for size in 32x32:32x32 128x128:128x128 256x256:128x128@2x 512x512:icon; do
    install -D -m 0644 "$ROOT/src-tauri/icons/${size#*:}.png" "$STAGE/usr/share/icons/hicolor/${size%%:*}/apps/amtsstube.png"
done
install -D -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/amtsstube/README.md"
install -D -m 0644 "$ROOT/CHANGELOG.md" "$STAGE/usr/share/doc/amtsstube/CHANGELOG.md"
install -d "$STAGE/DEBIAN"
SIZE="$(du -sk "$STAGE/usr" | awk '{print $1}')"
# No maintainer scripts: the clerks' data lies in each user's data folder
# (~/.local/share/amtsstube), which a package never touches – not on removal, not on
# purge; migrations run when the new program first opens the store. Desktop and
# icon caches are refreshed by the triggers of desktop-file-utils and hicolor-icon-theme.
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: amtsstube
Version: $VERSION
Architecture: $ARCH
Maintainer: Amtsstube <amtsstube@localhost>
Installed-Size: $SIZE
Depends: libwebkit2gtk-4.1-0, libgtk-3-0, libc6, libgcc-s1
Recommends: tesseract-ocr, tesseract-ocr-deu
Section: misc
Priority: optional
Description: Amtsstube – Arbeitsplatz für Bürgerbüros
 Online-Anträge aus FIT-Connect verschlüsselt abholen und offline bearbeiten,
 Papieranträge nach BSI TR-RESISCAN scannen, Bescheide und Gebühren über den
 Rückkanal versenden, Kennzahlen für die Leitung. Allein an einem PC oder als
 Arbeitsplatz am Rathaus-Server.
CONTROL
mkdir -p "$OUT"
DEB="$OUT/amtsstube_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"

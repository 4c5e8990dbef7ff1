#!/bin/bash
# Build the Rathaus-Server's .deb from a built binary:
#   installer/package-server.sh [BINARY] [OUTPUT_DIR]
# (default: target/release/amtsstube-server into target/release/bundle/deb).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/target/release/amtsstube-server}"
OUT="${2:-$ROOT/target/release/bundle/deb}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
ARCH="$(dpkg --print-architecture)"
[ -x "$BIN" ] || { echo "Kein Server-Programm unter $BIN (erst bauen: cargo build --release -p server)." >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"
install -D -m 0755 "$BIN" "$STAGE/usr/bin/amtsstube-server"
for unit in amtsstube-server.service amtsstube-server-sicherung.service amtsstube-server-sicherung.timer; do
    install -D -m 0644 "$ROOT/installer/server/$unit" "$STAGE/lib/systemd/system/$unit"
done
install -D -m 0644 "$ROOT/installer/server/README" "$STAGE/usr/share/doc/amtsstube-server/README"
install -d "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$ROOT/installer/server/$script" "$STAGE/DEBIAN/$script"
done
SIZE="$(du -sk "$STAGE/usr" "$STAGE/lib" | awk '{s+=$1} END {print s}')"
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: amtsstube-server
Version: $VERSION
Architecture: $ARCH
Maintainer: Amtsstube <amtsstube@localhost>
Installed-Size: $SIZE
Depends: postgresql (>= 15), postgresql-client (>= 15), adduser, libc6
Section: admin
Priority: optional
Description: Amtsstube Rathaus-Server
 Der gemeinsame Datenbestand der Arbeitsplätze eines Rathauses auf PostgreSQL:
 Abholung aus FIT-Connect, Versand, Änderungsfeed und Befehle der Arbeitsplätze
 über HTTPS mit Client-Zertifikaten. Personenbezogene Inhalte liegen nur
 verschlüsselt vor.
CONTROL
mkdir -p "$OUT"
DEB="$OUT/amtsstube-server_${VERSION}_${ARCH}.deb"
# Tests build from the large debug binary and skip the compression.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"

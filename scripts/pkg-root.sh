#!/usr/bin/env bash
# pkg-root.sh DIR - a fresh Debian 12 (bookworm) root in DIR, made once by debootstrap from the
# Debian mirror (minbase variant) and reused when DIR/.complete exists. Needs root and
# debootstrap (scripts/deps.sh --package). The package test and `make image` copy it instead of
# touching it, so it stays a fresh root.
set -euo pipefail
DIR=${1:?usage: pkg-root.sh DIR}
MIRROR=${KADET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -e "$DIR/.complete" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "pkg-root.sh: debootstrap needs root" >&2
  exit 77
fi
command -v debootstrap >/dev/null || { echo "pkg-root.sh: debootstrap is not installed" >&2; exit 77; }
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
echo "pkg-root.sh: debootstrap bookworm into $DIR (a few minutes, done once)" >&2
debootstrap --variant=minbase bookworm "$DIR.tmp" "$MIRROR" >"$DIR.log" 2>&1 ||
  { tail -20 "$DIR.log" >&2; exit 1; }
mv "$DIR.tmp" "$DIR"
touch "$DIR/.complete"

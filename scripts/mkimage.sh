#!/usr/bin/env bash
# mkimage.sh DEB OUTDIR - `make image`: a Debian 12 root (debootstrap once, scripts/pkg-root.sh)
# with debian:12-slim's dpkg path exclusions (no docs, man pages or locales), the kadet package
# and curl (the healthcheck: serve's admin listener speaks HTTPS when TLS is configured)
# installed by apt from the Debian mirror, caches emptied; then scripts/mkimage.py writes the OCI
# layout and a docker-archive. The root is kept in OUTDIR/rootfs (the test runs kadet in it).
set -euo pipefail
DEB=$(readlink -f "${1:?usage: mkimage.sh DEB OUTDIR}")
OUT=${2:?usage: mkimage.sh DEB OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/pkg-root.sh" "$ROOT/build/pkg/debian12"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
R=$OUT/rootfs
rm -rf "$R"
cp -a "$ROOT/build/pkg/debian12" "$R"
cat >"$R/etc/dpkg/dpkg.cfg.d/kadet-slim" <<'CFG'
# as debian:12-slim: no documentation, man pages or translations in the image
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
cp /etc/resolv.conf "$R/etc/resolv.conf"
cp "$DEB" "$R/tmp/kadet.deb"
chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/kadet.deb curl && apt-get clean' \
    >"$OUT/apt.log" 2>&1 || { tail -20 "$OUT/apt.log" >&2; exit 1; }
rm -f "$R/tmp/kadet.deb" "$R/etc/resolv.conf"
# a container has no systemd credentials: the key and the token are read where the TLS files
# are mounted (/etc/kadet/tls, docs/install.md)
sed -i 's#/run/credentials/kadet.service/#/etc/kadet/tls/#' "$R/etc/kadet/kadet.toml"
grep -q '^tls_key = "/etc/kadet/tls/server.key"$' "$R/etc/kadet/kadet.toml"
: >"$R/etc/resolv.conf"
VERSION=$(dpkg-deb -f "$DEB" Version)
python3 "$ROOT/scripts/mkimage.py" "$R" "$OUT" "$VERSION"

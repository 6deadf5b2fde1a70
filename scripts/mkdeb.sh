#!/usr/bin/env bash
# mkdeb.sh OUTDIR - build the kadet .deb with Debian's tools (dpkg-shlibdeps, dpkg-deb) from the
# built ./kadet and `make install-extra` (called by `make deb`; see docs/install.md).
#
#   /usr/bin/kadet (stripped), man pages (gzip -9n), bash and zsh completion, the bundled rules
#   and a sample under /usr/share/kadet, the systemd unit in /lib/systemd/system (installed, not
#   enabled or started), /etc/kadet/kadet.toml (conffile), copyright and changelog.Debian.
#   Depends: from the shared libraries the binary links (dpkg-shlibdeps) + adduser (postinst).
#   postinst makes the kadet system user and /var/lib/kadet; postrm purge removes the latter.
# libkad, kad.h and kadet.pc are not in this package (they belong in libkad0/libkad-dev).
set -euo pipefail
OUT=${1:?usage: mkdeb.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
unset MAKEFLAGS MFLAGS MAKELEVEL
VERSION=$(./kadet --version | awk '{print $2}')
DEBVER=${KADET_DEB_REVISION:-1}
MAINT=${KADET_DEB_MAINTAINER:-kadet maintainers <kadet@example.org>}
ARCH=$(dpkg --print-architecture)
PKG=kadet_${VERSION}-${DEBVER}_${ARCH}
W=$OUT/work
S=$W/$PKG
rm -rf "$W"
mkdir -p "$S/DEBIAN" "$OUT"

# files
make -s install-extra DESTDIR="$S" PREFIX=/usr ZSHCOMPDIR=/usr/share/zsh/vendor-completions \
    SYSTEMDUNITDIR=/lib/systemd/system
install -D -m 755 kadet "$S/usr/bin/kadet"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$S/usr/bin/kadet"
gzip -9n "$S"/usr/share/man/man*/*
install -D -m 644 deploy/kadet.toml.example "$S/etc/kadet/kadet.toml"
# the exceptions directory kadet.toml names (serve does not start when it is missing)
install -d -m 755 "$S/etc/kadet/exceptions"
D=$S/usr/share/doc/kadet
install -D -m 644 deploy/debian/copyright "$D/copyright"
DATE=$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
COMMIT=$(./kadet version | awk '$1 == "commit" {print $2}')
printf 'kadet (%s-%s) unstable; urgency=medium\n\n  * Built from commit %s by make deb.\n\n -- %s  %s\n' \
    "$VERSION" "$DEBVER" "$COMMIT" "$MAINT" "$DATE" | gzip -9n >"$D/changelog.Debian.gz"
chmod 644 "$D/changelog.Debian.gz"
install -D -m 644 deploy/debian/lintian-overrides "$S/usr/share/lintian/overrides/kadet"
# maintainer scripts and conffiles
install -m 755 deploy/debian/postinst deploy/debian/postrm "$S/DEBIAN/"
(cd "$S" && find etc -type f | sed 's|^|/|') >"$S/DEBIAN/conffiles"
(cd "$S" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$S/DEBIAN/md5sums"

# Depends: the shared libraries kadet links, as dpkg-shlibdeps maps them to packages
mkdir -p "$W/src/debian"
printf 'Source: kadet\n\nPackage: kadet\nArchitecture: any\n' >"$W/src/debian/control"
shlibs=$(cd "$W/src" && dpkg-shlibdeps -O "$S/usr/bin/kadet" 2>"$W/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { cat "$W/shlibdeps.log" >&2; echo "mkdeb.sh: dpkg-shlibdeps found nothing" >&2; exit 1; }
SIZE=$(du -sk --exclude=DEBIAN "$S" | cut -f1)
cat >"$S/DEBIAN/control" <<CTL
Package: kadet
Version: $VERSION-$DEBVER
Architecture: $ARCH
Maintainer: $MAINT
Installed-Size: $SIZE
Depends: $shlibs, adduser
Section: admin
Priority: optional
Description: Kubernetes audit log detection with Elastic's rules
 kadet runs Elastic Security's Kubernetes detection rules (KQL query and
 new_terms rules) on Kubernetes audit logs, without Elasticsearch: log
 files, stdin or kube-apiserver's audit webhook in, Elastic's alert
 documents out, with state that survives restarts.
 .
 This package holds the kadet command, its bundled rules, man pages, shell
 completion and a systemd unit (installed, not enabled).
CTL
find "$S" -type d -exec chmod 755 {} +
dpkg-deb --root-owner-group -Zxz --build "$S" "$OUT/$PKG.deb" >/dev/null
echo "$OUT/$PKG.deb"

#!/usr/bin/env bash
# test-package.sh DEB - `make check-package`, part 1: the .deb in a fresh Debian 12 root.
# The root is debootstrapped once into build/pkg/debian12 (scripts/pkg-root.sh) and copied for
# each run, so every run installs into a fresh root. apt resolves the package's Depends from the
# Debian mirror; man-db is added to render `man kadet-scan`.
# Then: kadet version, kadet rules check (bundled rules found by default), a scan of the bundled
# sample as the kadet user with its state in /var/lib/kadet, the unit installed and not enabled,
# `man kadet-scan`, bash completion of `kadet sc<TAB>`, and purge.
# Exit 77 (skip) when this machine cannot make the root (not root, no debootstrap).
set -uo pipefail
DEB=$(readlink -f "${1:?usage: test-package.sh DEB}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=$ROOT/build/pkg/debian12
R=$ROOT/build/pkg/root-test
fail() { echo "FAIL: $*"; exit 1; }
bash "$ROOT/scripts/pkg-root.sh" "$BASE"; rc=$?
[ $rc = 0 ] || exit $rc
rm -rf "$R"
cp -a "$BASE" "$R"
cp /etc/resolv.conf "$R/etc/resolv.conf"
cp "$DEB" "$R/tmp/kadet.deb"
# a root as a system or container has it: /proc (kadet finds its bundled rules from
# /proc/self/exe, as installed: ../share/kadet/rules beside the binary)
mount -t proc proc "$R/proc" || fail "mount /proc in the root"
trap 'umount "$R/proc" 2>/dev/null' EXIT
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
export DEBIAN_FRONTEND=noninteractive
in_root apt-get update -qq >"$R.log" 2>&1 || fail "apt-get update in the root: $(tail -5 "$R.log")"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/kadet.deb \
    >>"$R.log" 2>&1 || fail "apt-get install kadet.deb: $(tail -20 "$R.log")"
echo "installed $(basename "$DEB") in a fresh Debian 12 root"

in_root kadet version || fail "kadet version"
out=$(in_root kadet rules check 2>&1) || fail "kadet rules check: $out"
[ "$out" = "3 rules loaded from 3 files: 3 runnable, 0 unsupported; 0 errors, 0 warnings" ] ||
    fail "bundled rules not found by default: $out"
echo "kadet rules check: $out"

# the system user and its state directory; a scan as that user, state in /var/lib/kadet
in_root getent passwd kadet | grep -q '^kadet:x:[0-9]*:[0-9]*:.*:/var/lib/kadet:' || fail "no kadet system user"
[ "$(in_root stat -c %U:%a /var/lib/kadet)" = kadet:750 ] || fail "/var/lib/kadet: $(in_root stat -c %U:%a /var/lib/kadet)"
chroot --userspec=kadet:kadet "$R" env -i PATH=/usr/bin:/bin HOME=/var/lib/kadet \
    kadet scan --state /var/lib/kadet/state.db /usr/share/kadet/samples/audit-sample.jsonl.gz \
    >"$R.alerts" 2>"$R.err" || fail "scan as kadet: $(cat "$R.err")"
n=$(wc -l <"$R.alerts")
[ "$n" -gt 0 ] || fail "no alert from the bundled sample"
[ -s "$R/var/lib/kadet/state.db" ] || fail "no state in /var/lib/kadet"
echo "scan of the bundled sample as user kadet: $n alerts"

# the unit: installed, not enabled, not started
[ -f "$R/lib/systemd/system/kadet.service" ] || fail "unit not installed"
ls "$R"/etc/systemd/system/*/kadet.service >/dev/null 2>&1 && fail "unit enabled"
grep -q '^ExecStart=/usr/bin/kadet serve --config /etc/kadet/kadet.toml$' "$R/lib/systemd/system/kadet.service" ||
    fail "unit ExecStart"
[ -f "$R/etc/kadet/kadet.toml" ] || fail "no /etc/kadet/kadet.toml"
for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && grep -qx kadet "$p/comm" 2>/dev/null &&
        fail "installing started kadet (pid ${p#/proc/})"
done
echo "the unit is installed, not enabled, and no kadet runs"

# the packaged kadet.toml, once its TLS files exist, passes --check-config as the kadet user with
# the credentials where the unit's LoadCredential= puts them
mkdir -p "$R/etc/kadet/tls" "$R/run/credentials/kadet.service"
(
    cd "$R/etc/kadet/tls" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out client-ca.crt -days 2 -subj "/CN=test CA" &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 2 -subj "/CN=kadet" &&
        head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >token
) >"$R.openssl" 2>&1 || fail "openssl: $(tail -3 "$R.openssl")"
sed -n 's/^LoadCredential=//p' "$R/lib/systemd/system/kadet.service" | while IFS=: read -r name path; do
    install -m 400 "$R$path" "$R/run/credentials/kadet.service/$name"
done
chown -R "$(in_root id -u kadet):$(in_root id -g kadet)" "$R/run/credentials/kadet.service"
out=$(chroot --userspec=kadet:kadet "$R" env -i PATH=/usr/bin:/bin kadet serve --config /etc/kadet/kadet.toml \
    --check-config 2>&1) || fail "kadet serve --check-config of the packaged kadet.toml: $out"
echo "$out" | grep -q "ok: 3 rules, 1 exception paths" || fail "--check-config: $out"
echo "packaged kadet.toml: $out"
# the administrator's files (not the package's: dpkg would keep them at purge)
rm -rf "$R/etc/kadet/tls" "$R/run/credentials"

# man kadet-scan (man-db added), completion of `kadet sc<TAB>`
in_root apt-get install -y -qq --no-install-recommends man-db >>"$R.log" 2>&1 || fail "apt-get install man-db"
in_root env MANPAGER=cat MANWIDTH=100 man kadet-scan 2>"$R.err" >"$R.man" || fail "man kadet-scan: $(cat "$R.err")"
grep -q -- "--no-host-metadata" "$R.man" || fail "man kadet-scan: $(head "$R.man")"
[ -s "$R.err" ] && fail "man kadet-scan warns: $(cat "$R.err")"
in_root env MANPAGER=cat man 7 kadet-rules >/dev/null 2>&1 || fail "man 7 kadet-rules"
in_root env MANPAGER=cat man 5 kadet.toml >/dev/null 2>&1 || fail "man 5 kadet.toml"
c=$(in_root bash --norc -c 'source /usr/share/bash-completion/completions/kadet; complete -p kadet >/dev/null &&
    COMP_WORDS=(kadet sc) COMP_CWORD=1 && _kadet && echo "${COMPREPLY[*]}"')
[ "$c" = scan ] || fail "completion of kadet sc<TAB>: '$c'"
echo "man kadet-scan renders; kadet sc<TAB> completes to: $c"

# purge: no file of the package left, the state directory gone
in_root dpkg --purge kadet >>"$R.log" 2>&1 || fail "dpkg --purge"
[ -e "$R/usr/bin/kadet" ] || [ -e "$R/usr/share/kadet" ] || [ -e "$R/var/lib/kadet" ] || [ -e "$R/etc/kadet" ] &&
    fail "files left after purge"
echo "purged: no file left"

#!/usr/bin/env bash
# test-image.sh OUTDIR - `make check-package`, part 2: the image `make image` wrote. Checks the
# OCI layout (every blob's sha256 and size as its descriptors say; config: numeric non-root user,
# the state volume, a healthcheck), then runs it: with podman when it can run containers here,
# otherwise (said so) kadet inside the image's own layer, unpacked, via chroot as the image user.
set -uo pipefail
OUT=$(readlink -f "${1:?usage: test-image.sh OUTDIR}")
fail() { echo "FAIL: $*"; exit 1; }
python3 - "$OUT/oci" <<'PY' || exit 1
import hashlib, json, os, sys
oci = sys.argv[1]
def blob(d):
    p = os.path.join(oci, "blobs", "sha256", d["digest"].split(":")[1])
    b = open(p, "rb").read()
    assert "sha256:" + hashlib.sha256(b).hexdigest() == d["digest"], f"digest of {p}"
    assert len(b) == d["size"], f"size of {p}"
    return b
assert json.load(open(os.path.join(oci, "oci-layout")))["imageLayoutVersion"] == "1.0.0"
idx = json.load(open(os.path.join(oci, "index.json")))
man = json.loads(blob(idx["manifests"][0]))
cfg = json.loads(blob(man["config"]))
for l in man["layers"]:
    blob(l)
c = cfg["config"]
uid = c["User"].split(":")[0]
assert uid.isdigit() and int(uid) != 0, "User must be numeric and not root: " + c["User"]
assert "/var/lib/kadet" in c["Volumes"], "no state volume"
assert c["Healthcheck"]["Test"][0] == "CMD-SHELL" and "/healthz" in c["Healthcheck"]["Test"][1]
assert c["Entrypoint"] == ["/usr/bin/kadet"]
assert len(cfg["rootfs"]["diff_ids"]) == len(man["layers"])
print("OCI layout ok: user", c["User"], "volume /var/lib/kadet, healthcheck, digests verified")
open(os.path.join(oci, "..", "user"), "w").write(c["User"])
PY
U=$(cat "$OUT/user")
if command -v podman >/dev/null && podman info >/dev/null 2>&1; then
    podman load -q -i "$OUT/kadet-image.tar" >/dev/null || fail "podman load"
    podman run --rm "kadet:$(dpkg-deb -f "$(ls -t "$OUT"/../deb/kadet_*.deb | head -1)" Version)" version ||
        fail "podman run kadet version"
    echo "ran the image with podman"
    exit 0
fi
echo "note: this machine cannot run containers (podman $(command -v podman >/dev/null && echo 'cannot start one' || echo 'is not installed')); running kadet in the image's layer via chroot instead"
X=$OUT/unpacked
rm -rf "$X" && mkdir -p "$X"
tar -xzf "$OUT/oci/blobs/sha256/$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["manifests"][0]["digest"][7:])' "$OUT/oci/index.json" |
    xargs -I{} python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' "$OUT/oci/blobs/sha256/{}")" \
    -C "$X" --numeric-owner || fail "unpack the layer"
mount -t proc proc "$X/proc" || fail "mount /proc"
trap 'umount "$X/proc" 2>/dev/null; rm -rf "$X"' EXIT
run() { chroot --userspec="$U" "$X" env -i PATH=/usr/bin:/bin HOME=/var/lib/kadet "$@"; }
run kadet version | head -1 | grep -q '^kadet ' || fail "kadet version in the image"
[ "$(run id -u)" = "${U%%:*}" ] || fail "user"
out=$(run kadet rules check 2>&1) || fail "rules check in the image: $out"
echo "in the image as $U: $out"
run sh -c 'cd /var/lib/kadet && kadet scan --state /var/lib/kadet/state.db /usr/share/kadet/samples/audit-sample.jsonl.gz' \
    >"$OUT/alerts" 2>"$OUT/err" || fail "scan in the image: $(cat "$OUT/err")"
[ -s "$OUT/alerts" ] || fail "no alerts in the image"
echo "scan in the image: $(wc -l <"$OUT/alerts") alerts, state in /var/lib/kadet"
[ -e "$X/usr/share/man/man1/kadet-scan.1.gz" ] && fail "man pages in a slim image"
echo "image ok"

#!/usr/bin/env bash
# test-image.sh OUTDIR - `make check-package`, part 2: the image `make image` wrote. Checks the
# OCI layout (every blob's sha256 and size as its descriptors say; config: numeric non-root user,
# the state volume, a healthcheck), then runs it: with podman when it can run containers here,
# otherwise (said so) kadet inside the image's own layer, unpacked, via chroot as the image user:
# kadet version, rules check, a scan; then the image's command (Entrypoint + Cmd, its Env and
# WorkingDir) with the image's /etc/kadet/kadet.toml and TLS files where a mount puts them, in a
# network namespace of its own (the image's fixed ports): the healthcheck's exact command passes
# once serve listens, an audit POST is accepted, the state volume is written as the image user,
# and SIGTERM stops serve with exit 0.
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
hc = c["Healthcheck"]["Test"]
assert hc[0] == "CMD" and any("/healthz" in a for a in hc), hc
assert c["Entrypoint"] == ["/usr/bin/kadet"]
assert len(cfg["rootfs"]["diff_ids"]) == len(man["layers"])
print("OCI layout ok: user", c["User"], "volume /var/lib/kadet, healthcheck, digests verified")
out = os.path.join(oci, "..")
open(os.path.join(out, "user"), "w").write(c["User"])
# what a container engine runs, for the chroot run below: NUL-separated argument lists
def args(name, a):
    open(os.path.join(out, name), "wb").write(b"".join(x.encode() + b"\0" for x in a))
args("cmd", c["Entrypoint"] + c["Cmd"])
args("health", hc[1:])
args("env", c["Env"])
open(os.path.join(out, "workdir"), "w").write(c["WorkingDir"])
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

# ---- the image's command, its config, its healthcheck ------------------------------------------
command -v openssl >/dev/null || fail "openssl missing (scripts/deps.sh --test)"
run sh -c 'f=/var/lib/kadet/.w && : >$f && rm $f' || fail "the state volume is not writable as $U"
TLS=$X/etc/kadet/tls # where `-v /etc/kadet:/etc/kadet:ro` or the chart's Secret puts them
mkdir -p "$TLS"
(
    cd "$TLS" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out client-ca.crt -days 2 -subj "/CN=test CA"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out s.csr -subj "/CN=kadet"
    printf 'subjectAltName=DNS:kadet,IP:127.0.0.1\n' >s.ext
    openssl x509 -req -in s.csr -CA client-ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile s.ext
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out c.csr -subj "/CN=kube-apiserver"
    openssl x509 -req -in c.csr -CA client-ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >token
) >"$OUT/openssl.log" 2>&1 || fail "openssl: $(tail -3 "$OUT/openssl.log")"
# secrets readable by the image's group only (as a Secret mounted with fsGroup)
chown "0:${U##*:}" "$TLS/server.key" "$TLS/token" && chmod 640 "$TLS/server.key" "$TLS/token"
# the device nodes a container engine gives every container
for d in null:1:3 zero:1:5 random:1:8 urandom:1:9; do
    IFS=: read -r n ma mi <<<"$d"
    [ -e "$X/dev/$n" ] || mknod -m 666 "$X/dev/$n" c "$ma" "$mi" || fail "mknod /dev/$n"
done
mapfile -d '' CMD <"$OUT/cmd"
mapfile -d '' HEALTH <"$OUT/health"
mapfile -d '' ENV <"$OUT/env"
WD=$(cat "$OUT/workdir")
ev='{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"img-1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","objectRef":{"resource":"pods"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-05T00:00:01Z","stageTimestamp":"2026-01-05T00:00:01Z"}'
printf '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[%s]}' "$ev" >"$X/tmp/body.json"
cat >"$OUT/serve.sh" <<'SH'
# in a network namespace of its own: serve from the image's command, then the healthcheck
X=$1 U=$2 WD=$3 OUT=$4
ip link set lo up || exit 3
as_user() { chroot --userspec="$U" "$X" env -i "${ENV[@]}" "$@"; }
# a simple command, so that $! is serve itself (chroot, env and sh exec it)
chroot --userspec="$U" "$X" env -i "${ENV[@]}" sh -c 'cd "$0" && exec "$@"' "$WD" "${CMD[@]}" \
    >"$OUT/serve.out" 2>"$OUT/serve.err" &
spid=$!
trap 'kill -9 $spid 2>/dev/null' EXIT
ok=
for _ in $(seq 300); do
    kill -0 $spid 2>/dev/null || break
    if as_user "${HEALTH[@]}" 2>>"$OUT/health.err"; then ok=1; break; fi
    sleep 0.2
done
[ -n "$ok" ] || { echo "healthcheck never passed"; kill -9 $spid; exit 4; }
echo "healthcheck passed: ${HEALTH[*]}"
code=$(curl -sS -o "$OUT/post.out" -w '%{http_code}' --cacert "$X/etc/kadet/tls/client-ca.crt"     --cert "$X/etc/kadet/tls/client.crt" --key "$X/etc/kadet/tls/client.key"     --data-binary @"$X/tmp/body.json" https://127.0.0.1:8443/)
[ "$code" = 200 ] || { echo "POST to the webhook: $code $(cat "$OUT/post.out")"; kill -9 $spid; exit 5; }
echo "an audit POST with a client certificate: 200"
kill -TERM $spid
wait $spid
echo "serve exit $?"
SH
export CMD HEALTH ENV
declare -p CMD HEALTH ENV >"$OUT/arrays.sh"
unshare -n bash -c '. "$5"; . "$6" "$1" "$2" "$3" "$4"' _ "$X" "$U" "$WD" "$OUT" "$OUT/arrays.sh" "$OUT/serve.sh" \
    >"$OUT/serve.log" 2>&1
rc=$?
cat "$OUT/serve.log"
[ $rc = 0 ] || fail "the image's command (${CMD[*]}): exit $rc: $(tail -5 "$OUT/serve.err")"
grep -q "^serve exit 0$" "$OUT/serve.log" || fail "serve did not stop cleanly: $(tail -5 "$OUT/serve.err")"
[ "$(stat -c %u:%g "$X/var/lib/kadet/spool")" = "$U" ] || fail "spool not owned by $U"
[ -e "$X/var/lib/kadet/state.db" ] || fail "no state in the volume"
echo "the image's command as $U: healthcheck ok, state in the volume ($(ls "$X/var/lib/kadet" | tr '\n' ' '))"
echo "image ok"

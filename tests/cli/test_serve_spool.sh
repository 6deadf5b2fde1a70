#!/usr/bin/env bash
# test_serve_spool.sh - kadet serve's spool frames (docs/internals/serve.md "Spool"): what
# serve writes is "#KSP2" frames with a CRC-32C (checked here against the standard's check value
# and against the payloads); a spool left by an earlier version ("#KSP1", zlib's CRC-32) is read
# at start; a frame with a bad CRC, and everything after it, is cut and logged; the records
# before it are detected once.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
command -v python3 > /dev/null || { echo "skip: python3 missing (scripts/deps.sh)"; exit 77; }
mkcerts
mkrules
tls_args

# frames.py write|check DIR ...: makes a segment / checks serve's segments
cat > "$T/frames.py" <<'EOF'
import os, sys, zlib
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xffffffff
assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
def frame(version, payload, key, crc=None):
    if crc is None:
        crc = zlib.crc32(payload) if version == 1 else crc32c(payload)
    return b"#KSP%d %08x %016x %016x %08x\n" % (version, len(payload), key, 1, crc) + payload + b"\n"
if sys.argv[1] == "write":
    d, recs = sys.argv[2], [l.encode() for l in open(sys.argv[3]).read().splitlines()]
    os.makedirs(d, exist_ok=True)
    out = frame(1, recs[0], 11) + frame(2, recs[1], 12)
    out += frame(2, recs[2], 13, crc=crc32c(recs[2]) ^ 1)  # a bad CRC: cut here
    out += frame(2, recs[3], 14)                           # never read
    open(os.path.join(d, "0000000000000001.ksp"), "wb").write(out)
    print(len(frame(1, recs[0], 11) + frame(2, recs[1], 12)))
else:
    n = 0
    for name in sorted(os.listdir(sys.argv[2])):
        b = open(os.path.join(sys.argv[2], name), "rb").read()
        i = 0
        while i < len(b):
            h = b[i:i + 58].decode()
            assert h.startswith("#KSP2 ") and h[57] == "\n", h
            ln, crc = int(h[6:14], 16), int(h[49:57], 16)
            p = b[i + 58:i + 58 + ln]
            assert crc32c(p) == crc, (name, i)
            assert b[i + 58 + ln:i + 59 + ln] == b"\n"
            i += 59 + ln
            n += 1
    print(n)
EOF

# the auditIDs of the query rule's alerts, sorted, on one line
q_ids() {
    jq -r 'select(.["kibana.alert.rule.rule_id"] == "serve-q") | .kubernetes.audit.auditID' \
        "$T/alerts.jsonl" 2> /dev/null | sort | tr '\n' ' '
}

# ---- an earlier version's spool, with a bad frame ----------------------------------------------
{
    ev old1 mallory kubectl/v1.29 delete
    echo
    ev old2 mallory kubectl/v1.29 delete
    echo
    ev old3 mallory kubectl/v1.29 delete
    echo
    ev old4 mallory kubectl/v1.29 delete
    echo
} > "$T/recs"
good=$(python3 "$T/frames.py" write "$T/spool" "$T/recs") || fail "could not write the segment"
start 127.0.0.1:0 "${TLS_ARGS[@]}" --spool-dir "$T/spool" --state "$T/state.db" \
    --output "$T/alerts.jsonl"
grep -q "spool: 0000000000000001.ksp: cut at byte $good of" "$T/err" ||
    fail "the bad frame was not cut at byte $good: $(grep spool "$T/err")"
for _ in $(seq 100); do [ "$(q_ids)" = "old1 old2 " ] && break; sleep 0.1; done
ids=$(q_ids)
[ "$ids" = "old1 old2 " ] || fail "alerts for $ids, expected old1 old2 (the frames before the cut)"

# ---- serve's own frames: #KSP2 with a CRC-32C ---------------------------------------------------
evlist "$(ev new1 alice kubectl/v1.29)" "$(ev new2 bob kubectl/v1.29 delete)" > "$T/b1.json"
r=$(post "$T/b1.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "post: $r"
n=$(python3 "$T/frames.py" check "$T/spool") || fail "serve's frames do not check: $n"
[ "$n" -ge 2 ] || fail "expected serve's 2 frames in the spool, found $n"
for _ in $(seq 100); do [ "$(q_ids)" = "new2 old1 old2 " ] && break; sleep 0.1; done
[ "$(q_ids)" = "new2 old1 old2 " ] || fail "alerts for $(q_ids), expected new2 old1 old2"
stop
[ "$rc" = 0 ] || fail "SIGTERM: exit $rc"
n=$(wc -l < "$T/alerts.jsonl")

# ---- a restart reads nothing twice; --no-console serves no console -----------------------------
start 127.0.0.1:0 "${TLS_ARGS[@]}" --spool-dir "$T/spool" --state "$T/state.db" \
    --output "$T/alerts.jsonl" --no-console
grep -q "console mounted" "$T/err" && fail "--no-console: the console was mounted"
code=$(curl -sS -o /dev/null -w '%{http_code}' "${CURL_CA[@]}" -H "$(bearer)" "$URL/ui/")
[ "$code" = 404 ] || fail "--no-console: /ui/ answered $code, expected 404"
evlist "$(ev new3 carol kubectl/v1.29 delete)" > "$T/b2.json"
r=$(post "$T/b2.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "post with --no-console: $r"
for _ in $(seq 100); do [ "$(q_ids)" = "new2 new3 old1 old2 " ] && break; sleep 0.1; done
[ "$(q_ids)" = "new2 new3 old1 old2 " ] || fail "--no-console: alerts for $(q_ids)"
n=$((n + $(jq -r 'select(.kubernetes.audit.auditID == "new3") | 1' "$T/alerts.jsonl" | wc -l)))
stop
[ "$(wc -l < "$T/alerts.jsonl")" = "$n" ] || fail "alerts raised again after a restart"
echo "ok"

#!/usr/bin/env bash
# Fault injection: every way the alert output can fail outside kill -9 (tests/cli/
# test_scan_crash.sh covers that). In each case no alert is lost without an error message and
# exit 2, and a rerun with the same state gives exactly the alerts of one clean run:
#   - stdout's consumer dies (`| head -c 1`: EPIPE; SIGPIPE is ignored so kadet can say so);
#   - stdout on a full disk (/dev/full: ENOSPC);
#   - --output on a full disk (enospc_shim.c through LD_PRELOAD: mounting a tiny tmpfs needs
#     root), in the first batch and in a later one;
#   - --from-start with --output keeps the file's alerts (it used to truncate it to zero).
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$T" || exit 1
awk 'BEGIN { for (i = 0; i < 2000; i++) { s = 1772359200 + i * 60; d = strftime("%Y-%m-%dT%H:%M:%S", s, 1);
  printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"f-%06d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\",\"verb\":\"get\",\"user\":{\"username\":\"u%d\"},\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"a\",\"objectRef\":{\"resource\":\"pods\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"%s.000000Z\",\"stageTimestamp\":\"%s.100000Z\"}\n", i, i % 10, d, d } }' > in.jsonl
ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$1" | cut -d'"' -f4 | sort; }

scan ref.jsonl ref.err --state ref.db in.jsonl
[ $rc = 0 ] || fail "reference run: $(cat ref.err)"
ids ref.jsonl > ref.ids
[ "$(wc -l < ref.ids)" = 2000 ] || fail "reference run: $(wc -l < ref.ids) alerts"
# the alerts of 2000 events are ~5 MB: far more than a pipe holds, so the consumer's death is
# seen by a write of this batch

# --- stdout: the consumer dies --------------------------------------------------------------
"$K" scan --no-progress --no-host-metadata --rules q.toml --now 2026-03-02T00:00:00Z \
    --state p.db in.jsonl 2> p.err | head -c 1 > /dev/null
prc=${PIPESTATUS[0]}
[ "$prc" = 2 ] || fail "EPIPE: exit $prc (141 = killed by SIGPIPE without a word): $(cat p.err)"
grep -q 'error: <stdout>: Broken pipe: alerts not written; their batch is not committed (a rerun raises them again)' p.err ||
    fail "EPIPE: no message: $(cat p.err)"
scan p2.jsonl p2.err --state p.db in.jsonl
[ $rc = 0 ] || fail "EPIPE rerun: $(cat p2.err)"
ids p2.jsonl > p2.ids
cmp -s ref.ids p2.ids || fail "EPIPE: the rerun does not give the alerts of a clean run ($(wc -l < p2.ids))"

# --- stdout: a full disk ----------------------------------------------------------------------
scan /dev/full f.err --state f.db in.jsonl
[ $rc = 2 ] || fail "ENOSPC on stdout: exit $rc"
grep -q '<stdout>: No space left on device: alerts not written' f.err || fail "ENOSPC on stdout: $(cat f.err)"
scan f2.jsonl f2.err --state f.db in.jsonl
ids f2.jsonl > f2.ids
cmp -s ref.ids f2.ids || fail "ENOSPC on stdout: the rerun does not give the alerts of a clean run"

# --- --output: a full disk (the shim) -------------------------------------------------------
if ! cc -shared -fPIC -O1 -o shim.so "$HERE/enospc_shim.c" -ldl 2> shim.err; then
    echo "skip: cannot build the LD_PRELOAD shim: $(cat shim.err)"; exit 77
fi
# ASan must come first in the library list; the shim before it is fine for these writes
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
for case in "first 100000 50000" "later 1500000 300"; do
    set -- $case
    rm -f o.db* o.jsonl
    LD_PRELOAD=$T/shim.so KADET_SHIM_PATH=$T/o.jsonl KADET_SHIM_BYTES=$2 \
        scan /dev/null o.err --state o.db --batch "$3" --output o.jsonl in.jsonl
    [ $rc = 2 ] || fail "ENOSPC on --output ($1 batch): exit $rc: $(cat o.err)"
    grep -q "o.jsonl: No space left on device: alerts not written" o.err || fail "ENOSPC on --output: $(cat o.err)"
    [ "$(wc -c < o.jsonl)" = "$2" ] || fail "ENOSPC on --output: the shim did not fill the file"
    scan /dev/null o2.err --state o.db --batch "$3" --output o.jsonl in.jsonl
    [ $rc = 0 ] || fail "ENOSPC on --output ($1 batch): rerun: $(cat o2.err)"
    valid_json o.jsonl
    ids o.jsonl > o.ids
    cmp -s ref.ids o.ids || fail "ENOSPC on --output ($1 batch): the rerun differs from a clean run"
    cmp -s ref.jsonl o.jsonl || fail "ENOSPC on --output ($1 batch): the file differs from a clean run"
done

# --- --from-start keeps --output ------------------------------------------------------------
scan /dev/null s1.err --state s.db --output s.jsonl in.jsonl
[ $rc = 0 ] || fail "from-start: first run: $(cat s1.err)"
scan /dev/null s2.err --state s.db --output s.jsonl --from-start in.jsonl
[ $rc = 0 ] || fail "from-start: second run: $(cat s2.err)"
cmp -s ref.jsonl s.jsonl || fail "--from-start changed --output ($(wc -l < s.jsonl) lines, expected 2000)"
grep -q 'already emitted 2000' s2.err || fail "from-start: the re-read events were not recognised: $(cat s2.err)"
echo ok

#!/usr/bin/env bash
# serve.sh - `make bench-serve`: kadet serve with TLS, client-certificate auth, the durable spool
# and the bundled rules on 127.0.0.1; bench_serve posts EventLists from THREADS keep-alive TLS
# connections for SECONDS; then the server's own histograms (receipt->alert: receipt to the
# commit that wrote the alerts) are read from /metrics. Prints a RESULTS.md-ready block.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${SECONDS_RUN:-${BENCH_SECONDS:-20}}
THREADS=${THREADS:-4}
EVENTS=${EVENTS:-500}
KADET_BIN=${KADET_BIN:-./kadet} # another build to compare side by side
W=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$W"' EXIT
pid=
cd "$W"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout s.key -out s.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > s.ext
openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile s.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout c.key -out c.csr -subj "/CN=kube-apiserver" 2>/dev/null
openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days 2 2>/dev/null
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
cd - > /dev/null
$KADET_BIN serve --listen 127.0.0.1:0 --tls-cert "$W/s.pem" --tls-key "$W/s.key" \
    --client-ca "$W/ca.pem" --token-file "$W/token" --spool-dir "$W/spool" \
    --output "$W/alerts.jsonl" 2> "$W/err" &
pid=$!
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (webhook.*/\1/p' "$W/err")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$W/err"; exit 1; }
build/bench/bench_serve "https://127.0.0.1:$port/" "$W/ca.pem" "$W/c.pem" "$W/c.key" \
    "$THREADS" "$EVENTS" "$SECONDS_RUN" "$pid" > "$W/load" || true
sleep 2 # the last commits
# the server's CPU time (user + system) over the whole run: the machine is shared, so CPU per
# event is the figure to compare between runs, not wall-clock rates
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
cpu_s=$(awk -v u="$utime" -v s="$stime" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }')
curl -s --cacert "$W/ca.pem" -H "Authorization: Bearer $(cat "$W/token")" \
    "https://127.0.0.1:$port/metrics" > "$W/metrics"
kill -TERM "$pid"
wait "$pid" || true
pid=
# p50/p99 of a Prometheus histogram: the upper bound of the bucket where the rank falls
q() {
    awk -v name="$1" -v q="$2" '
        $1 ~ "^"name"_bucket" { match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5);
                                 les[n] = le; cs[n++] = $2 }
        END { tot = cs[n - 1]; for (i = 0; i < n; i++) if (cs[i] >= q * tot) { print les[i]; exit } }' "$W/metrics"
}
grep -v '^rss_sample' "$W/load"
echo "server_receipt_to_alert_p50_le_s=$(q kadet_receipt_to_alert_seconds 0.5)"
echo "server_receipt_to_alert_p99_le_s=$(q kadet_receipt_to_alert_seconds 0.99)"
echo "server_request_p99_le_s=$(q kadet_request_duration_seconds 0.99)"
echo "server_commit_p99_le_s=$(q kadet_commit_duration_seconds 0.99)"
grep -E '^kadet_(events_received_total|events_decoded_total|alerts_total|commits_total) ' "$W/metrics"
echo "alerts_lines=$(wc -l < "$W/alerts.jsonl")"
decoded=$(awk '$1 == "kadet_events_decoded_total" { print $2 }' "$W/metrics")
echo "server_cpu_s=$cpu_s"
awk -v c="$cpu_s" -v n="${decoded:-0}" 'BEGIN { if (n > 0) printf "server_cpu_us_per_event=%.2f\n", c * 1e6 / n }'
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); shared with other jobs"

# The figures of this run into bench/RESULTS.md, between the "serve-bench figures" markers of
# the serve section (the hand-written reading around them stays); RESULTS=0 leaves it alone.
if [ "${RESULTS:-1}" != 0 ] && grep -q '<!-- serve-bench figures begin -->' bench/RESULTS.md; then
    v() { sed -n "s/^$1=//p" "$W/load"; }
    {
        echo "<!-- serve-bench figures begin -->"
        echo "Last \`make bench-serve\` run: $(date -u +%Y-%m-%dT%H:%MZ), ${SECONDS_RUN} s, $THREADS threads, $EVENTS events per request, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
        echo "| measure | value |"
        echo "| --- | ---: |"
        echo "| events/s accepted (200) | $(v events_per_s) |"
        echo "| receipt → 200, p50 / p99 (client) | $(v p50_200_ms) ms / $(v p99_200_ms) ms |"
        echo "| receipt → alert, p50 / p99 (server histogram, bucket upper bound) | ≤ $(q kadet_receipt_to_alert_seconds 0.5) s / ≤ $(q kadet_receipt_to_alert_seconds 0.99) s |"
        echo "| server CPU (user + system) / events decoded | ${cpu_s} s / ${decoded:-0} |"
        echo "| server CPU per event | $(awk -v c="$cpu_s" -v n="${decoded:-0}" 'BEGIN { if (n > 0) printf "%.2f", c * 1e6 / n }') µs |"
        echo "| server RSS first / last / max | $(v rss_first_kb) / $(v rss_last_kb) / $(v rss_max_kb) kB |"
        echo "| failed requests | $(v requests_failed) |"
        echo "<!-- serve-bench figures end -->"
    } > "$W/figures"
    awk -v f="$W/figures" '
        /<!-- serve-bench figures begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- serve-bench figures end -->/ { skip = 0; next }
        !skip' bench/RESULTS.md > "$W/results" && cp "$W/results" bench/RESULTS.md
    echo "bench/RESULTS.md: serve-bench figures updated"
fi

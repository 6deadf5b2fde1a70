#!/usr/bin/env bash
# serve.sh - `make bench-serve`: kadet serve with TLS, client-certificate auth, the durable spool
# and the bundled rules on 127.0.0.1; bench_serve posts EventLists from THREADS keep-alive TLS
# connections for SECONDS_RUN seconds; then the server's own histograms (receipt->alert: receipt
# to the commit that wrote the alerts) are read from /metrics. Prints the figures of each run and
# writes them into bench/RESULTS.md (bench/section.sh; RESULTS=0 leaves it alone).
#
# Settings (environment):
#   SECONDS_RUN (or DURATION)  seconds per run (default 20; the issue's RSS run is 600)
#   THREADS, EVENTS            client threads (4), events per request (500)
#   MODES                      "sat" (post as fast as answered), "rate" (RATE events/s in all,
#                              paced) and/or "rate:N" (N events/s); default "sat rate", "rate"
#                              alone when SECONDS_RUN>=300
#   RATE                       offered events/s of the "rate" mode (default 100000)
#   KADET_BIN                  the build measured (./kadet)
#   OLD_BIN                    another build run the same way in the same invocation, each mode
#                              alternating old then new, for side-by-side figures
#   SERVE_FLAGS                extra flags for both builds (e.g. "--commit-interval 20ms")
#   ALT_FLAGS                  when set, KADET_BIN runs each mode once more with these flags too
#                              (columns alt-MODE; e.g. "--no-console")
# A run of SECONDS_RUN >= 300 writes the "serve-bench long" section (RSS over time), a shorter
# one the "serve-bench figures" section.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${DURATION:-${SECONDS_RUN:-${BENCH_SECONDS:-20}}}
THREADS=${THREADS:-4}
EVENTS=${EVENTS:-500}
RATE=${RATE:-100000}
if [ "$SECONDS_RUN" -ge 300 ]; then MODES=${MODES:-rate}; else MODES=${MODES:-sat rate}; fi
KADET_BIN=${KADET_BIN:-./kadet}
OLD_BIN=${OLD_BIN:-}
SERVE_FLAGS=${SERVE_FLAGS:-}
export KADET_RULES=${KADET_RULES:-$PWD/rules} # the same bundled rules for every build
W=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$W"' EXIT
(
    cd "$W"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout s.key -out s.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' > s.ext
    openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile s.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout c.key -out c.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days 2 2>/dev/null
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
)

# p50/p99 of a Prometheus histogram: the upper bound of the bucket where the rank falls
q() {
    awk -v name="$1" -v q="$2" '
        $1 ~ "^"name"_bucket" { match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5);
                                 les[n] = le; cs[n++] = $2 }
        END { tot = cs[n - 1]; if (tot == 0) { print "-"; exit }
              for (i = 0; i < n; i++) if (cs[i] >= q * tot) { print les[i]; exit } }' "$3"
}
metric() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }

# run LABEL BIN MODE: one server, one load; key=value lines in $W/res.LABEL
run() {
    local label=$1 bin=$2 mode=$3 flags=${4:-} R="$W/run.$1" rate=0
    [ "$mode" = rate ] && rate=$RATE
    case $mode in rate:*) rate=${mode#rate:} ;; esac
    mkdir -p "$R"
    # shellcheck disable=SC2086
    "$bin" serve --listen 127.0.0.1:0 --tls-cert "$W/s.pem" --tls-key "$W/s.key" \
        --client-ca "$W/ca.pem" --token-file "$W/token" --spool-dir "$R/spool" \
        --state "$R/state.db" --output "$R/alerts.jsonl" $SERVE_FLAGS $flags 2> "$R/err" &
    pid=$!
    local port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (webhook.*/\1/p' "$R/err")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$R/err"; exit 1; }
    build/bench/bench_serve "https://127.0.0.1:$port/" "$W/ca.pem" "$W/c.pem" "$W/c.key" \
        "$THREADS" "$EVENTS" "$SECONDS_RUN" "$pid" "$rate" > "$R/load" || true
    # wait until detection has caught up (or 30 s), so the histograms hold every record
    for _ in $(seq 60); do
        curl -s --cacert "$W/ca.pem" -H "Authorization: Bearer $(cat "$W/token")" \
            "https://127.0.0.1:$port/metrics" > "$R/metrics"
        [ "$(metric kadet_records_total "$R/metrics")" = "$(metric kadet_events_received_total "$R/metrics")" ] && break
        sleep 0.5
    done
    # the server's CPU time (user + system) over the whole run: the machine is shared, so CPU
    # per event is the figure to compare between runs, not wall-clock rates
    local utime stime cpu_s decoded
    read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
    cpu_s=$(awk -v u="$utime" -v s="$stime" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }')
    # CPU of the threads still alive, by name (kadet-detect, kadet-decode...); the connection
    # threads have ended with their connections: they are the rest of the total
    for f in /proc/"$pid"/task/*/stat; do cat "$f" 2>/dev/null; echo; done | awk -v hz="$(getconf CLK_TCK)" -v tot="$cpu_s" '
        NF { i = index($0, "("); j = index($0, ") "); name = substr($0, i + 1, j - i - 1)
             split(substr($0, j + 2), a, " "); t[name] += (a[12] + a[13]) / hz; live += (a[12] + a[13]) / hz }
        END { for (n in t) printf "thread_cpu_s.%s=%.2f\n", n, t[n]; printf "thread_cpu_s.ended=%.2f\n", tot - live }' > "$R/threads"
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
    decoded=$(metric kadet_events_decoded_total "$R/metrics")
    {
        echo "label=$label"
        echo "build=$bin"
        grep -v '^rss_sample' "$R/load"
        echo "server_receipt_to_alert_p50_le_s=$(q kadet_receipt_to_alert_seconds 0.5 "$R/metrics")"
        echo "server_receipt_to_alert_p99_le_s=$(q kadet_receipt_to_alert_seconds 0.99 "$R/metrics")"
        echo "server_request_p99_le_s=$(q kadet_request_duration_seconds 0.99 "$R/metrics")"
        echo "server_commit_p99_le_s=$(q kadet_commit_duration_seconds 0.99 "$R/metrics")"
        echo "events_received=$(metric kadet_events_received_total "$R/metrics")"
        echo "events_decoded=${decoded:-0}"
        echo "commits=$(metric kadet_commits_total "$R/metrics")"
        echo "alerts_lines=$(wc -l < "$R/alerts.jsonl")"
        echo "server_cpu_s=$cpu_s"
        cat "$R/threads"
        awk -v n="${decoded:-0}" -F= 'n > 0 && $1 == "thread_cpu_s.kadet-detect" { printf "detect_cpu_us_per_event=%.2f\n", $2 * 1e6 / n }
            n > 0 && $1 == "thread_cpu_s.kad-decode" { printf "decode_cpu_us_per_event=%.2f\n", $2 * 1e6 / n }
            n > 0 && $1 == "thread_cpu_s.ended" { printf "conn_cpu_us_per_event=%.2f\n", $2 * 1e6 / n }' "$R/threads"
        awk -v c="$cpu_s" -v n="${decoded:-0}" 'BEGIN { if (n > 0) printf "server_cpu_us_per_event=%.2f\n", c * 1e6 / n; else print "server_cpu_us_per_event=-" }'
        # RSS over time (one sample a second): after the first tenth (start-up, caches filling),
        # the median of the second quarter against the median of the last quarter, and the
        # slope of a least-squares line over the second half; flat when the last quarter's
        # median is within 5% (at least 2 MB) of the second quarter's
        sed -n 's/^rss_sample_kb=//p' "$R/load" | awk '
            { s[n++] = $1 }
            function med(a, b,   m, i, t, k) { m = 0; for (i = a; i < b; i++) t[m++] = s[i];
                for (i = 1; i < m; i++) { k = t[i]; j = i - 1; while (j >= 0 && t[j] > k) { t[j + 1] = t[j]; j-- } t[j + 1] = k }
                return m ? t[int(m / 2)] : 0 }
            END {
                if (n < 8) { print "rss_flat=- (too few samples)"; exit }
                q2 = med(int(n / 4), int(n / 2)); q4 = med(int(3 * n / 4), n)
                h = int(n / 2); sx = sy = sxx = sxy = 0; m = n - h
                for (i = h; i < n; i++) { x = i / 60; sx += x; sy += s[i]; sxx += x * x; sxy += x * s[i] }
                slope = (m * sxy - sx * sy) / (m * sxx - sx * sx)
                lim = q2 * 0.05 > 2048 ? q2 * 0.05 : 2048
                printf "rss_q2_median_kb=%d\nrss_q4_median_kb=%d\nrss_slope_kb_per_min=%.0f\n", q2, q4, slope
                printf "rss_flat=%s\n", (q4 - q2 <= lim) ? "yes" : "no"
            }'
    } > "$W/res.$label"
    sed -n 's/^rss_sample_kb=//p' "$R/load" > "$W/rss.$label"
    echo "== $label ($bin, $mode)"
    cat "$W/res.$label"
}

labels=()
for mode in $MODES; do
    if [ -n "$OLD_BIN" ]; then
        run "old-$mode" "$OLD_BIN" "$mode"
        labels+=("old-$mode")
    fi
    run "new-$mode" "$KADET_BIN" "$mode"
    labels+=("new-$mode")
    if [ -n "${ALT_FLAGS:-}" ]; then
        run "alt-$mode" "$KADET_BIN" "$mode" "$ALT_FLAGS"
        labels+=("alt-$mode")
    fi
done
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg); shared with other jobs"

[ "${RESULTS:-1}" = 0 ] && exit 0
v() { sed -n "s/^$2=//p" "$W/res.$1" | head -1; }
row() { # row TITLE KEY [SUFFIX]
    local line="| $1 |"
    for l in "${labels[@]}"; do
        local x
        x=$(v "$l" "$2")
        line="$line ${x:--}${x:+${3:-}} |"
    done
    echo "$line"
}
name="serve-bench figures"
[ "$SECONDS_RUN" -ge 300 ] && name="serve-bench long"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
{
    echo "<!-- $name begin -->"
    echo "Last \`make bench-serve\` run with SECONDS_RUN=$SECONDS_RUN: $(date -u +%Y-%m-%dT%H:%MZ), tree at $commit, $THREADS threads, $EVENTS events per request, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. Columns: build (new: KADET_BIN=$KADET_BIN${OLD_BIN:+, old: OLD_BIN=$OLD_BIN}${ALT_FLAGS:+, alt: KADET_BIN with \`$ALT_FLAGS\`}) and mode (sat: as fast as answered; rate: $RATE events/s offered, paced; rate:N: N events/s offered, paced).${SERVE_FLAGS:+ Serve flags: \`$SERVE_FLAGS\`.}"
    echo
    hdr="| measure |" sep="| --- |"
    for l in "${labels[@]}"; do hdr="$hdr $l |" sep="$sep ---: |"; done
    echo "$hdr"
    echo "$sep"
    row "events/s offered (0: saturation)" offered_events_per_s
    row "events/s accepted (200)" events_per_s
    row "receipt → 200 p50 (client)" p50_200_ms " ms"
    row "receipt → 200 p99 (client)" p99_200_ms " ms"
    row "receipt → alert p50 (server histogram, bucket bound)" server_receipt_to_alert_p50_le_s " s"
    row "receipt → alert p99 (server histogram, bucket bound)" server_receipt_to_alert_p99_le_s " s"
    row "commit p99 (bucket bound)" server_commit_p99_le_s " s"
    row "commits" commits
    row "events received" events_received
    row "events decoded" events_decoded
    row "server CPU (user + system)" server_cpu_s " s"
    row "server CPU per event" server_cpu_us_per_event " µs"
    row "of which the detection thread, per event" detect_cpu_us_per_event " µs"
    row "of which the decoding threads (kad-decode), per event" decode_cpu_us_per_event " µs"
    row "of which the connection threads (ended with the run), per event" conn_cpu_us_per_event " µs"
    row "load generator CPU per event (same cores)" client_cpu_us_per_event " µs"
    row "RSS first" rss_first_kb " kB"
    row "RSS last" rss_last_kb " kB"
    row "RSS max" rss_max_kb " kB"
    row "RSS median 2nd quarter" rss_q2_median_kb " kB"
    row "RSS median last quarter" rss_q4_median_kb " kB"
    row "RSS slope over the second half" rss_slope_kb_per_min " kB/min"
    row "RSS flat" rss_flat
    row "failed requests" requests_failed
    echo
    echo "Command: \`SECONDS_RUN=$SECONDS_RUN THREADS=$THREADS EVENTS=$EVENTS MODES=\"$MODES\" RATE=$RATE${OLD_BIN:+ OLD_BIN=$OLD_BIN}${SERVE_FLAGS:+ SERVE_FLAGS=\"$SERVE_FLAGS\"}${ALT_FLAGS:+ ALT_FLAGS=\"$ALT_FLAGS\"} make bench-serve\`."
    echo "<!-- $name end -->"
} > "$W/section"
bash bench/section.sh "$name" "$W/section"
echo "bench/RESULTS.md: $name updated"

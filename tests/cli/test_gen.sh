#!/usr/bin/env bash
# tools/kadet-gen.c: same seed -> same bytes; --events/--bytes/--days/--start honoured; every
# line an audit.k8s.io/v1 Event; --novel injects combinations never seen before, listed by
# --truth; option errors exit 1.
set -u
GEN=${KADET_GEN:-build/kadet-gen}
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
command -v jq > /dev/null || { echo "skip: jq missing"; exit 77; }
T=$(mktemp -d /tmp/kadet-gen.XXXXXX)
trap 'rm -rf "$T"' EXIT

# determinism
"$GEN" --seed 42 --events 3000 --novel 5 --out "$T/a" || fail "gen a"
"$GEN" --seed 42 --events 3000 --novel 5 > "$T/b" || fail "gen b (stdout)"
cmp -s "$T/a" "$T/b" || fail "same seed, different bytes"
"$GEN" --seed 43 --events 3000 --novel 5 --out "$T/c" || fail "gen c"
cmp -s "$T/a" "$T/c" && fail "different seeds, same bytes"
[ "$(wc -l < "$T/a")" = 3000 ] || fail "--events 3000 wrote $(wc -l < "$T/a") lines"

# every line is one audit event of the log backend's shape
jq -e -s 'length == 3000 and all(.[]; .kind == "Event" and .apiVersion == "audit.k8s.io/v1"
    and (.auditID|test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))
    and (.stage == "ResponseComplete" or .stage == "RequestReceived")
    and (.level|IN("Metadata","Request","RequestResponse")) and (.user.username|length) > 0
    and (.requestReceivedTimestamp|test("^2026-01-0[5-8]T[0-9:]{8}\\.[0-9]{6}Z$"))
    and (if .stage == "ResponseComplete"
         then (.annotations["authorization.k8s.io/decision"]|IN("allow","forbid"))
              and (.responseStatus.code|type) == "number"
         else .annotations == null end))' "$T/a" > /dev/null || fail "event shape"
jq -e -s '[.[] | select(.annotations["authorization.k8s.io/decision"] == "forbid")
           | .responseStatus.code] | length > 0 and all(. == 403)' "$T/a" > /dev/null \
  || fail "forbidden requests must be 403"
jq -e -s '[.[] | select(.level == "RequestResponse" and .stage == "ResponseComplete"
           and .responseStatus.code < 300) | .responseObject] | length > 10
           and all(type == "object")' "$T/a" > /dev/null || fail "RequestResponse bodies"
jq -e -s '[.[].userAgent] | any(startswith("kubectl/")) and any(startswith("kubelet/"))
           and any(endswith("kubernetes/$Format"))' "$T/a" > /dev/null || fail "user agents"
grep -q '\\u0026' "$T/a" || fail "Go escapes & as \\u0026 in request URIs"
# time advances and stays inside --start .. --start + --days
jq -r .requestReceivedTimestamp "$T/a" > "$T/ts"
sort -c "$T/ts" || fail "requestReceivedTimestamp not in order"
"$GEN" --events 2000 --days 0.5 --start 2025-12-31T18:00:00Z --out "$T/d" || fail "gen d"
first=$(head -1 "$T/d" | jq -r .requestReceivedTimestamp)
last=$(tail -1 "$T/d" | jq -r .requestReceivedTimestamp)
[[ $first == 2025-12-31T18:00:00* ]] || fail "--start: first event at $first"
[[ $last > 2026-01-01T05:00 && $last < 2026-01-01T07:00 ]] || fail "--days 0.5: last event at $last"

# --bytes is a ceiling, close to the size; ~1.8 KB per event
"$GEN" --bytes 2MB --out "$T/e" || fail "gen e"
size=$(stat -c %s "$T/e")
[ "$size" -le 2000000 ] && [ "$size" -gt 1980000 ] || fail "--bytes 2MB wrote $size bytes"
avg=$((size / $(wc -l < "$T/e")))
[ "$avg" -gt 1500 ] && [ "$avg" -lt 2100 ] || fail "average event size $avg"
"$GEN" --bytes 1K --out "$T/f" && [ "$(stat -c %s "$T/f")" -le 1024 ] || fail "--bytes 1K"

# novel combinations: listed by --truth, in the output, after --novel-after, never seen before
"$GEN" --seed 9 --events 20000 --days 4 --novel 12 --truth "$T/truth" --out "$T/g" || fail "gen g"
[ "$(wc -l < "$T/truth")" = 12 ] || fail "truth has $(wc -l < "$T/truth") lines"
jq -e -s 'all(.[]; .stageTimestamp > "2026-01-08") and ([.[].user_agent]|unique|length) == 12
          and any(.[]; .decision == "forbid") and any(.[]; .username == "system:anonymous")
          and any(.[]; .user_agent|startswith("curl/"))
          and any(.[]; .user_agent|startswith("python-requests/"))' "$T/truth" > /dev/null \
  || fail "truth content: $(cat "$T/truth")"
jq -r 'select(.stage == "ResponseComplete") | [.annotations["authorization.k8s.io/decision"],
       .user.username, .userAgent, .auditID] | @tsv' "$T/g" > "$T/combos"
while IFS=$'\t' read -r dec user ua id; do
  n=$(awk -F'\t' -v d="$dec" -v u="$user" -v a="$ua" '$1==d && $2==u && $3==a' "$T/combos" | wc -l)
  [ "$n" = 1 ] || fail "novel ($dec, $user, $ua) appears $n times"
  grep -q "	$id\$" "$T/combos" || fail "novel audit id $id not in the output"
done < <(jq -r '[.decision, .username, .user_agent, .auditID] | @tsv' "$T/truth")

# option errors
for args in "--bogus 1" "--events" "--events 0" "--events -5" "--bytes 1Q" "--days 0" \
            "--start yesterday" "--events 10 --bytes 1M" "--days 2 --novel-after 3"; do
  # shellcheck disable=SC2086
  "$GEN" $args > "$T/out" 2> "$T/err"; rc=$?
  [ $rc = 1 ] || fail "'$args' exit $rc (want 1)"
  [ -s "$T/err" ] || fail "'$args' printed no message"
done
"$GEN" --help | grep -q "usage: kadet-gen" || fail "--help"
exit 0

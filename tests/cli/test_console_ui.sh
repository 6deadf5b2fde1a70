#!/usr/bin/env bash
# Browser tests of the web console (tests/console/ui.mjs): Debian's chromium, headless, driven
# by puppeteer-core from the npm registry (installed into build/npm/ at test time, never
# committed; no browser download), against the console's test host (tools/console_host.c, the
# sanitizer build) fed a generated 5-day log. Logs in, compares the alert count with the API's,
# opens an alert and its baseline rows, acknowledges it and reloads, adds an exception from it
# and checks the next matching event does not alert, checks the rules page lists unsupported
# rules with reasons. Screenshots go to build/console-ui/ (docs/ui.md shows them); each run's
# layout (key elements and their widths) is compared with the previous run's.
set -u
HOST=${CONSOLE_HOST:-build/asan/console-host}
GEN=${KADET_GEN:-build/kadet-gen}
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] || { echo "skip: chromium missing (scripts/deps.sh --test installs Debian's chromium)"; exit 77; }
command -v node > /dev/null && command -v npm > /dev/null \
  || { echo "skip: node/npm missing (scripts/deps.sh --test installs them)"; exit 77; }
[ -x "$HOST" ] || { echo "skip: $HOST not built (make build/asan/console-host)"; exit 77; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
NPM_DIR=$PWD/build/npm
PUP=$NPM_DIR/node_modules/puppeteer-core/lib/esm/puppeteer/puppeteer-core.js
if [ ! -f "$PUP" ]; then
  mkdir -p "$NPM_DIR"
  # puppeteer-core never downloads a browser; PUPPETEER_SKIP_DOWNLOAD makes sure of it
  (cd "$NPM_DIR" && [ -f package.json ] || echo '{"private":true}' > package.json
   PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent puppeteer-core@24) \
    || { echo "skip: npm could not install puppeteer-core (no registry access?)"; exit 77; }
fi
[ -f "$PUP" ] || { echo "FAIL: puppeteer-core installed without $PUP"; exit 1; }

T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/host.log" ] && tail -20 "$T/host.log"; exit 1; }

mkdir -p "$T/rules" "$T/exc"
cp rules/*.toml tests/cases/rules-unsupported-type/rules/threshold.toml "$T/rules/" || fail "rules"
"$GEN" --seed 5 --days 5 --events 10000 --novel 12 --out "$T/log" || fail "gen"
echo "ui-admin-token-0123456789" > "$T/admin.tok"
echo "ui-analyst-token-0123456789" > "$T/analyst.tok"
echo "ui-reader-token-0123456789" > "$T/reader.tok"
"$HOST" --rules "$T/rules" --exceptions "$T/exc" --state "$T/state.db" --output "$T/alerts.ndjson" \
  --user boss:admin:"$T/admin.tok" --user ana:analyst:"$T/analyst.tok" \
  --user rita:read:"$T/reader.tok" --scan "$T/log" --port-file "$T/port" > "$T/host.log" 2>&1 &
pid=$!
for _ in $(seq 3000); do [ -s "$T/port" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
[ -s "$T/port" ] || fail "host did not start"

OUT=$PWD/build/console-ui
mkdir -p "$OUT"
[ -f "$OUT/layout.json" ] && cp "$OUT/layout.json" "$OUT/layout.prev.json"
URL="http://127.0.0.1:$(cat "$T/port")" TOKEN_ADMIN=$(cat "$T/admin.tok") \
  TOKEN_ANALYST=$(cat "$T/analyst.tok") TOKEN_READ=$(cat "$T/reader.tok") LOG="$T/log" \
  OUT="$OUT" PREV="$OUT/layout.prev.json" CHROMIUM="$CHROMIUM" PUPPETEER="$PUP" \
  HOME="$T" node tests/console/ui.mjs || fail "browser tests (screenshots in $OUT)"
kill "$pid"; wait "$pid"; rc=$?; pid=
[ $rc = 0 ] || fail "host exit $rc"
echo ok

#!/usr/bin/env bash
# bench/growth.sh - `make bench-growth`: how CPU time and peak RSS grow with the input (issue 19).
# kadet scan with the founding rule (state on, a new state file per run), kadet preview with the
# founding rule (streaming, the default; and --in-memory, the path before streaming, up to
# GROWTH_INMEM_MAX bytes since it holds every matching document), and kadet scan with the 29
# kuery rules of $KAD_SHARED_DATA/detection-rules/kubernetes, on generated raw audit logs of
# 0.25, 1 and 4 GiB (build/kadet-gen --bytes, into bench/data, git-ignored). Prints CPU seconds
# (user + system, /usr/bin/time), CPU seconds per GiB and peak RSS per size, checks that scan's
# RSS stays flat apart from its state, draws bench/growth.svg (bench/growth_plot.py) and writes
# the "growth" section of bench/RESULTS.md (bench/section.sh). Never part of `make check`.
#
#   GROWTH_SIZES      sizes for kadet-gen --bytes (default "250M 1G 4G")
#   GROWTH_RUNS       runs per tool and size, the median is kept (default 1)
#   GROWTH_INMEM_MAX  largest size in bytes for preview --in-memory (default 1 GiB)
#   KAD_SHARED_DATA   shared data root (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
K=$ROOT/kadet
GEN=$ROOT/build/kadet-gen
SIZES=${GROWTH_SIZES:-250M 1G 4G}
RUNS=${GROWTH_RUNS:-1}
INMEM_MAX=${GROWTH_INMEM_MAX:-1073741824}
SHARED=${KAD_SHARED_DATA:-../shared/data}
DATA=bench/data
OUT=build/bench/growth
mkdir -p "$DATA" "$OUT"
say() { printf 'growth: %s\n' "$*" >&2; }
[ -x "$K" ] && [ -x "$GEN" ] || { say "build ./kadet and build/kadet-gen first (make kadet tools)"; exit 2; }
FOUNDING=$(grep -l '^rule_id = "8a1db198-da6f-4500-b985-7fe2457300af"' rules/*.toml | head -1)
R29=$OUT/rules29
if n=$(bash bench/rules29.sh "$R29" "$SHARED"); then
  say "$n kuery rules"
else
  say "29 rules: skipped ($SHARED/detection-rules/kubernetes absent)"
fi
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c 0)

bytes_of() { # kadet-gen's units: K/M/G = 2^10.., KB/MB/GB = 10^3..
  local s=$1 n=${1%%[KMGT]*} u=${1#"${1%%[KMGT]*}"}
  case "$u" in K) echo $((n << 10));; M) echo $((n << 20));; G) echo $((n << 30));; T) echo $((n << 40));;
    KB) echo $((n * 1000));; MB) echo $((n * 1000000));; GB) echo $((n * 1000000000));; *) echo "$s";; esac
}

# the inputs: what is missing must fit on the disk (with 1 GiB to spare)
need=0
for s in $SIZES; do [ -f "$DATA/growth-$s.log" ] || need=$((need + $(bytes_of "$s"))); done
avail=$(($(df -Pk "$DATA" | awk 'NR==2 {print $4}') * 1024))
if [ "$need" -gt 0 ] && [ $((need + (1 << 30))) -gt "$avail" ]; then
  say "not enough disk for the inputs: $need bytes to generate, $avail available in $DATA"
  exit 2
fi
for s in $SIZES; do
  f=$DATA/growth-$s.log
  [ -f "$f" ] || { say "generating $f"; "$GEN" --bytes "$s" --out "$f.tmp" >/dev/null 2>&1 && mv "$f.tmp" "$f"; }
done

# one NAME SIZE CMD...: run it RUNS times under /usr/bin/time; "cpu_s rss_kb" of the median run
one() {
  local name=$1 size=$2; shift 2
  local i res=()
  for ((i = 0; i < RUNS; i++)); do
    rm -f "$OUT"/state.db "$OUT"/state.db-wal "$OUT"/state.db-shm
    /usr/bin/time -f '%U %S %M' -o "$OUT/time" "${PIN[@]}" "$@" >"$OUT/$name-$size.out" 2>"$OUT/$name-$size.err" || true
    res+=("$(awk '{printf "%.2f %d\n", $1 + $2, $3}' "$OUT/time")")
  done
  printf '%s\n' "${res[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p"
}

TSV=$OUT/growth.tsv
printf 'tool\tsize\tbytes\tcpu_s\tcpu_s_per_gib\trss_mb\talerts\n' >"$TSV"
row() { # row TOOL SIZE "cpu rss"
  local b cpu rss
  b=$(stat -c %s "$DATA/growth-$2.log")
  read -r cpu rss <<<"$3"
  awk -v t="$1" -v s="$2" -v b="$b" -v c="$cpu" -v r="$rss" -v n="$(wc -l <"$OUT/$1-$2.out")" \
    'BEGIN {printf "%s\t%s\t%s\t%s\t%.2f\t%.1f\t%s\n", t, s, b, c, c * 1073741824 / b, r / 1024, n}' >>"$TSV"
  say "$1 $2: $cpu s CPU, $((rss / 1024)) MB peak RSS"
}
STATE_MB=()
for s in $SIZES; do
  f=$DATA/growth-$s.log
  row scan-founding "$s" "$(one scan-founding "$s" "$K" scan --host-metadata --rules "$FOUNDING" --state "$OUT/state.db" "$f")"
  STATE_MB+=("$s=$(du -k "$OUT/state.db" 2>/dev/null | awk '{printf "%.1f", $1 / 1024}')")
  row preview-founding "$s" "$(one preview-founding "$s" "$K" preview --rules "$FOUNDING" "$f")"
  if [ "$(stat -c %s "$f")" -le "$INMEM_MAX" ]; then
    row preview-inmemory "$s" "$(one preview-inmemory "$s" "$K" preview --in-memory --rules "$FOUNDING" "$f")"
    cmp -s "$OUT/preview-founding-$s.out" "$OUT/preview-inmemory-$s.out" ||
      say "WARNING: preview streamed and --in-memory differ at $s"
  fi
  if [ -d "$R29" ]; then
    row scan-29rules "$s" "$(one scan-29rules "$s" "$K" scan --host-metadata --rules "$R29" --state "$OUT/state.db" "$f")"
  fi
done

python3 bench/growth_plot.py "$TSV" bench/growth.svg

# the section
first=$(echo "$SIZES" | awk '{print $1}')
last=$(echo "$SIZES" | awk '{print $NF}')
rss() { awk -F'\t' -v t="$1" -v s="$2" '$1 == t && $2 == s {print $6}' "$TSV"; }
SEC=$OUT/section.md
{
  echo "<!-- growth begin -->"
  echo "## Growth with input size (issue 19, \`make bench-growth\`)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
  echo "kadet $(git rev-parse --short HEAD), inputs \`build/kadet-gen --bytes SIZE\` (raw audit events),"
  echo "${RUNS} run(s) per point (median), pinned to core 0 when taskset exists. CPU = user + system"
  echo "seconds of \`/usr/bin/time\`; RSS = its peak resident set. Plot: bench/growth.svg."
  echo
  echo "| tool | size | bytes | CPU s | CPU s per GiB | peak RSS MB | alerts |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  tail -n +2 "$TSV" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}'
  echo
  echo "Scan's state file after each size (founding rule): ${STATE_MB[*]} (MB)."
  a=$(rss scan-founding "$first") b=$(rss scan-founding "$last")
  echo "Scan RSS, founding rule: $a MB at $first, $b MB at $last"
  echo "(ratio $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}')); preview (streaming): $(rss preview-founding "$first") MB"
  echo "at $first, $(rss preview-founding "$last") MB at $last."
  echo "<!-- growth end -->"
} >"$SEC"
cat "$SEC"
bash bench/section.sh growth "$SEC"

#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages kadet's build, tests, demo and benchmarks need.
# Idempotent: it checks each package with dpkg and runs `apt-get update` + `apt-get install`
# only when something is missing. Called by make targets and .ci/run; safe to run by hand.
set -euo pipefail

PKGS=(
  build-essential make pkg-config       # compiler and make
  libsqlite3-dev sqlite3                 # embedded state store (+ shell for users)
  zlib1g-dev                             # .gz input
  libmicrohttpd-dev                      # webhook receiver
  libcurl4-gnutls-dev                    # HTTP client (tests, forwarding)
  curl                                   # tests/cli/test_scan_listen.sh posts with it
  libhiredis-dev redis-server            # shared state across instances
  clang-14 libclang-rt-14-dev            # fuzzing (libFuzzer) and sanitizer runtimes
  clang-format clang-tidy cppcheck       # make format-check / make lint
  valgrind                               # make valgrind
  jq                                     # benchmarks compare against it; tests use it
)
# Benchmark-only packages are installed by `make bench` (scripts/deps.sh --bench).
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(libsimdjson-dev g++ gnuplot-nox hyperfine time)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

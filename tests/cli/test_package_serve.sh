#!/usr/bin/env bash
# kadet serve as packaged (issue 21): the configuration's one source of truth is the settings
# table of serve/srv_config.c; docs/config.md and the man page kadet.toml(5) made from it name
# every key of that table (and the [[user]] keys), and serve knows every key they name. The
# example configuration, installed by `make install-extra` into a staged root and its paths
# pointed into that root, passes `kadet serve --check-config`, which also refuses a key that
# does not match its certificate, an unwritable state and a missing exceptions directory. The
# systemd unit passes `systemd-analyze verify` (when systemd's tools are installed), and its
# ExecStart, run as systemd would run it (LoadCredential= copies, StateDirectory=,
# WorkingDirectory=, UMask=), starts serve: /healthz and /readyz answer on the admin listener,
# a client-certificate POST is accepted, and SIGTERM stops it with exit 0.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
unset MAKEFLAGS MFLAGS MAKELEVEL KADET_RULES
[ -f build/man/.stamp ] || { echo "skip: build/man missing (make man)"; exit 77; }

# ---- every key, from the settings table, in the docs and the man page, and back -------------
keys=$(sed -n 's/^ *[SL]("\([a-z_]*\)",.*/\1/p' serve/srv_config.c)
[ "$(echo "$keys" | wc -l)" -ge 30 ] || fail "settings table not found in serve/srv_config.c: $keys"
LC_ALL=C.UTF-8 MANWIDTH=200 man -l build/man/man5/kadet.toml.5 2>/dev/null | col -b >"$T/man5"
[ -s "$T/man5" ] || fail "kadet.toml(5) does not render"
for k in $keys; do
    flag=--${k//_/-}
    grep -qE "^\| \`$k\` \| \`$flag( |\`)" docs/config.md ||
        fail "docs/config.md's settings table has no row for $k ($flag)"
    grep -qE "(^|[^a-z_])$k([^a-z_]|$)" "$T/man5" || fail "kadet.toml(5) lacks $k"
    grep -qE -- "$flag([^a-z-]|$)" "$T/man5" || fail "kadet.toml(5) lacks $flag"
done
for k in name role token_file cert_cn; do
    grep -q "^$k = " <(sed -n '/^## Users/,/^## /p' docs/config.md) || fail "[[user]] key $k not in docs/config.md"
done
# what the docs name, serve knows: a float is the wrong type for every key, so the error names
# the key as known ("KEY: expected ..."), never "unknown setting"
doc_keys=$(sed -n 's/^| `\([a-z_]*\)` | `--.*/\1/p' docs/config.md)
for k in $doc_keys; do
    printf '%s = 1.5\n' "$k" >"$T/one.toml"
    "$K" serve --config "$T/one.toml" --check-config >/dev/null 2>"$T/e1"
    [ $? = 1 ] || fail "$k = 1.5 accepted"
    grep -q "one.toml:1:1: error: $k: expected" "$T/e1" || fail "serve does not know $k: $(cat "$T/e1")"
done
printf 'bogus_key = "x"\n' >"$T/one.toml"
"$K" serve --config "$T/one.toml" --check-config >/dev/null 2>"$T/e1"
grep -q "one.toml:1:1: error: unknown setting 'bogus_key'" "$T/e1" || fail "an unknown key: $(cat "$T/e1")"
echo "$(echo "$keys" | wc -l) settings: in docs/config.md and kadet.toml(5), known to serve"

# ---- the installed example configuration, in a staged root -------------------------------------
R=$T/root
make -s install-extra DESTDIR="$R" PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system >"$T/make.log" 2>&1 ||
    fail "make install-extra: $(cat "$T/make.log")"
install -D -m 755 "$K" "$R/usr/bin/kadet"
mkcerts
mkdir -p "$R/etc/kadet/tls" "$R/etc/kadet/exceptions"
cp "$T/tls/server.pem" "$R/etc/kadet/tls/server.crt"
cp "$T/tls/server.key" "$R/etc/kadet/tls/server.key"
cp "$T/tls/ca.pem" "$R/etc/kadet/tls/client-ca.crt"
cp "$T/tls/token" "$R/etc/kadet/tls/token"
# every absolute path into the root; the ports chosen by the system (other tests run beside)
sed -e "/^listen_path/!s#\"/#\"$R/#g" -e 's/:8443"/:0"/' -e 's/:9090"/:0"/' "$R/usr/share/kadet/kadet.toml.example" \
    >"$R/etc/kadet/kadet.toml"
grep -q "^tls_key = \"$R/run/credentials/kadet.service/server.key\"" "$R/etc/kadet/kadet.toml" ||
    fail "the example's key is not the unit's credential"
U=$R/lib/systemd/system/kadet.service
# what systemd does before ExecStart: LoadCredential=NAME:PATH copies, StateDirectory=
CRED=$R/run/credentials/kadet.service
mkdir -p "$CRED"
while IFS=: read -r name path; do
    install -m 400 "$R$path" "$CRED/$name" || fail "LoadCredential=$name:$path"
done < <(sed -n 's/^LoadCredential=//p' "$U")
[ -s "$CRED/server.key" ] && [ -s "$CRED/token" ] || fail "the unit does not load the key and the token"
sd=$(sed -n 's/^StateDirectory=//p' "$U")
sdmode=$(sed -n 's/^StateDirectoryMode=//p' "$U")
install -d -m "${sdmode:-0755}" "$R/var/lib/$sd"
wd=$(sed -n 's/^WorkingDirectory=//p' "$U")
umask_=$(sed -n 's/^UMask=//p' "$U")
exec_line=$(sed -n 's/^ExecStart=//p' "$U")
[ "$exec_line" = "/usr/bin/kadet serve --config /etc/kadet/kadet.toml" ] || fail "ExecStart: $exec_line"
args=()
for w in $exec_line; do
    case $w in /*) w=$R$w ;; esac
    args+=("$w")
done

out=$(cd "$R$wd" && "${args[@]}" --check-config 2>"$T/e1") || fail "--check-config of the example: $(cat "$T/e1")"
echo "$out" | grep -q ": ok: 3 rules, 1 exception paths; webhook 0.0.0.0:0 (https, client certificates or token); admin 127.0.0.1:0" ||
    fail "--check-config summary: $out"
echo "kadet serve --check-config (the unit's command line): $out"
[ -z "$(ls -A "$R/var/lib/$sd")" ] || fail "--check-config made files: $(ls -A "$R/var/lib/$sd")"

# ---- --check-config refuses what serve would fail on -----------------------------------------
chk() { "${args[@]}" --check-config "$@" >/dev/null 2>"$T/e1"; }
chk --tls-key "$T/tls/client.key"
[ $? = 1 ] || fail "a key of another certificate accepted"
grep -q -- "--tls-cert $R/etc/kadet/tls/server.crt with --tls-key $T/tls/client.key: " "$T/e1" ||
    fail "key mismatch message: $(cat "$T/e1")"
chk --client-ca "$T/tls/token"
[ $? = 1 ] || fail "a CA file without a certificate accepted"
grep -q -- "--client-ca $T/tls/token: " "$T/e1" || fail "CA message: $(cat "$T/e1")"
chk --state "$T/nodir/state.db"
[ $? = 1 ] || fail "a state in a missing directory accepted"
grep -q "state $T/nodir/state.db cannot be made in $T/nodir: No such file or directory" "$T/e1" ||
    fail "state message: $(cat "$T/e1")"
chk --exceptions "$T/no-exceptions"
[ $? = 1 ] || fail "a missing exceptions directory accepted"
grep -q "no-exceptions" "$T/e1" || fail "exceptions message: $(cat "$T/e1")"

# ---- systemd-analyze verify -------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # ExecStart's binary must exist where the unit names it: verify a copy naming the staged one
    sed "s#^ExecStart=/#ExecStart=$R/#" "$U" >"$T/kadet.service"
    SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$T/kadet.service" >"$T/verify" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$T/verify")"
    grep -v "^$" "$T/verify" | grep -v "Failed to put bus name\|Cannot add dependency job" |
        grep -i "kadet.service" && fail "systemd-analyze verify warns about the unit"
    echo "systemd-analyze verify: ok"
else
    echo "note: systemd-analyze not installed (scripts/deps.sh --package): unit not verified"
fi

# ---- the unit's ExecStart serves, answers /healthz, stops on SIGTERM --------------------------
(cd "$R$wd" && umask "${umask_:-0022}" && exec "${args[@]}") >"$T/stdout" 2>"$T/err" &
pid=$!
for _ in $(seq 600); do
    ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) (admin.*/\1/p' "$T/err" | head -1)
    HOOK=$(sed -n 's/.*listening on 0\.0\.0\.0:\([0-9][0-9]*\) (webhook.*/\1/p' "$T/err" | head -1)
    [ -n "$ADMIN" ] && [ -n "$HOOK" ] && break
    kill -0 "$pid" 2>/dev/null || fail "serve from the unit's ExecStart exited: $(cat "$T/err")"
    sleep 0.1
done
[ -n "$ADMIN" ] && [ -n "$HOOK" ] || fail "no 'listening on' lines: $(cat "$T/err")"
head -1 "$T/err" | jq -e .msg >/dev/null || fail "log_format json of the example: $(head -1 "$T/err")"
[ "$(curl -sS "${CURL_CA[@]}" "https://127.0.0.1:$ADMIN/healthz")" = ok ] || fail "/healthz"
for _ in $(seq 300); do
    [ "$(curl -sS -o /dev/null -w '%{http_code}' "${CURL_CA[@]}" "https://127.0.0.1:$ADMIN/readyz")" = 200 ] && break
    sleep 0.1
done
[ "$(curl -sS -o /dev/null -w '%{http_code}' "${CURL_CA[@]}" "https://127.0.0.1:$ADMIN/readyz")" = 200 ] || fail "/readyz"
evlist "$(ev u1 alice kubectl/v1.29)" >"$T/b.json"
URL=https://127.0.0.1:$HOOK
r=$(post "$T/b.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "POST with a client certificate: $r"
r=$(post "$T/b.json")
[ "${r%% *}" = 401 ] || fail "POST without credentials: $r"
kill -TERM "$pid"
stop_s=$(sed -n 's/^TimeoutStopSec=//p' "$U")
for _ in $(seq $((${stop_s:-90} * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "serve still running TimeoutStopSec=$stop_s after SIGTERM"
wait "$pid"
rc=$?
pid=
[ $rc = 0 ] || fail "exit $rc after SIGTERM"
grep -q '"msg":"stopped"' "$T/err" || fail "no 'stopped' line: $(tail -3 "$T/err")"
[ -s "$R/var/lib/$sd/state.db" ] || fail "no state in the state directory"
perm=$(stat -c %a "$R/var/lib/$sd/state.db")
[ $((8#$perm & 8#027)) = 0 ] || fail "state.db mode $perm under UMask=$umask_"
echo "the unit's ExecStart: served /healthz on 127.0.0.1:$ADMIN, took a POST, SIGTERM -> exit 0 (state.db mode $perm)"
echo "ok"

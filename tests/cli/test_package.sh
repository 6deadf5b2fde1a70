#!/usr/bin/env bash
# Packaging (issue 21): `kadet version`; the man pages (build/man, scripts/mkman.py) hold every
# option of each subcommand's --help and render without warnings; the bash completion offers
# subcommands, options and rule ids (compgen in a bash subshell); the zsh completion parses;
# `make install-extra` + `make uninstall-extra` (with `install`/`uninstall` when the Makefile
# has them) into a DESTDIR leave no file behind, and the installed kadet finds the bundled rules
# by default. The .deb, the image and the Helm chart are tested by `make check-package`.
set -u
K=${KADET:-./kadet}
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset MAKEFLAGS MFLAGS MAKELEVEL KADET_RULES

# ---- kadet version ---------------------------------------------------------------------------
"$K" version >"$T/v" || fail "version exit $?"
for lib in commit sqlite zlib libmicrohttpd gnutls curl hiredis; do
    grep -qE "^$lib +[^ ]" "$T/v" || fail "version has no $lib line: $(cat "$T/v")"
done
grep -qE '^sqlite +3\.[0-9]+\.[0-9]+$' "$T/v" || fail "sqlite version: $(cat "$T/v")"
grep -qE '^gnutls +3\.[0-9]+' "$T/v" || fail "gnutls (loaded by libmicrohttpd): $(cat "$T/v")"
if git rev-parse HEAD >/dev/null 2>&1; then
    c=$(git rev-parse --short=12 HEAD)
    grep -qE "^commit +$c(-dirty)?$" "$T/v" || fail "commit is not $c: $(cat "$T/v")"
fi

# ---- man pages ---------------------------------------------------------------------------------
[ -f build/man/.stamp ] || fail "build/man missing (make man)"
cmds=$("$K" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' | grep -v '^help$')
[ -n "$cmds" ] || fail "no subcommands in --help"
render() { LC_ALL=C.UTF-8 MANWIDTH=200 man --warnings -l "$1" 2>"$T/warn" | col -b; }
opts_of() { grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[^-]*//' | sort -u; }
for c in $cmds; do
    page=build/man/man1/kadet-$c.1
    [ -f "$page" ] || fail "no man page for $c"
    render "$page" >"$T/page" || fail "man -l $page"
    [ -s "$T/warn" ] && fail "$page renders with warnings: $(cat "$T/warn")"
    "$K" help "$c" | opts_of >"$T/opts"
    while read -r o; do
        grep -qe "$o\b" "$T/page" || fail "kadet-$c(1) lacks $o from 'kadet help $c'"
    done <"$T/opts"
    echo "kadet-$c(1): $(wc -l <"$T/opts") options"
done
for page in build/man/man1/kadet.1 build/man/man5/kadet.toml.5 build/man/man7/kadet-rules.7; do
    render "$page" >"$T/page" || fail "man -l $page"
    [ -s "$T/warn" ] && fail "$page renders with warnings: $(cat "$T/warn")"
    [ "$(wc -l <"$T/page")" -gt 20 ] || fail "$page is nearly empty"
done
"$K" --help | opts_of | while read -r o; do
    grep -qe "$o\b" <(render build/man/man1/kadet.1) || fail "kadet(1) lacks $o"
done || exit 1
# kadet.toml(5) names every flag of its settings table; the example config is the doc's example
sed -n '/^```toml/,/^```/p' docs/config.md | sed '1d;$d' >"$T/doc.toml"
grep -v '^#' deploy/kadet.toml.example | sed '/^$/d' >"$T/ex.toml"
diff "$T/doc.toml" "$T/ex.toml" >/dev/null || fail "deploy/kadet.toml.example differs from docs/config.md's example"

# ---- install, the installed tree, uninstall ----------------------------------------------------
D=$T/dest
targets=install-extra
untargets=uninstall-extra
if make -n install >/dev/null 2>&1; then targets="install install-extra"; untargets="uninstall uninstall-extra"; fi
make -s $targets DESTDIR="$D" PREFIX=/usr/local >"$T/make.log" 2>&1 || fail "make $targets: $(cat "$T/make.log")"
[ -x "$D/usr/local/bin/kadet" ] || install -D -m 755 kadet "$D/usr/local/bin/kadet"
for f in share/man/man1/kadet-scan.1 share/man/man7/kadet-rules.7 share/man/man5/kadet.toml.5 \
    share/bash-completion/completions/kadet share/zsh/site-functions/_kadet lib/systemd/system/kadet.service \
    share/kadet/rules/kubernetes_unusual_decision_by_user_agent.toml share/kadet/kadet.toml.example \
    share/kadet/samples/audit-sample.jsonl.gz; do
    [ -f "$D/usr/local/$f" ] || fail "not installed: $f"
done
grep -q '^ExecStart=/usr/local/bin/kadet serve --config /usr/local/etc/kadet/kadet.toml$' \
    "$D/usr/local/lib/systemd/system/kadet.service" || fail "unit ExecStart"
out=$("$D/usr/local/bin/kadet" rules check 2>&1) || fail "installed kadet rules check: $out"
[ "$out" = "3 rules loaded from 3 files: 3 runnable, 0 unsupported; 0 errors, 0 warnings" ] ||
    fail "installed kadet does not find the bundled rules: $out"
"$D/usr/local/bin/kadet" scan --no-state "$D/usr/local/share/kadet/samples/audit-sample.jsonl.gz" \
    >"$T/alerts" 2>/dev/null || fail "scan of the bundled sample"
[ "$(wc -l <"$T/alerts")" -gt 0 ] || fail "no alert from the bundled sample"

# ---- bash completion (compgen in a bash subshell, as after `kadet sc<TAB>`) --------------------
complete_words() { # LINE... -> the completions of the last word
    PATH="$D/usr/local/bin:$PATH" bash --norc --noprofile -c '
        source "$0" || exit 9
        complete -p kadet >/dev/null || exit 8
        COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        _kadet; printf "%s\n" "${COMPREPLY[@]}"' "$D/usr/local/share/bash-completion/completions/kadet" "$@"
}
[ "$(complete_words kadet sc)" = scan ] || fail "kadet sc<TAB>: $(complete_words kadet sc)"
complete_words kadet "" | grep -qx rules || fail "kadet <TAB> lacks rules"
[ "$(complete_words kadet scan --ru)" = --rules ] || fail "kadet scan --ru<TAB>"
complete_words kadet scan --no- | grep -qx -- --no-host-metadata || fail "kadet scan --no-<TAB>"
[ "$(complete_words kadet rules ch)" = check ] || fail "kadet rules ch<TAB>"
complete_words kadet rules show 8a1 | grep -qx 8a1db198-da6f-4500-b985-7fe2457300af ||
    fail "rule ids: $(complete_words kadet rules show 8a1)"
complete_words kadet state terms --rule "" | grep -qx 4b77d382-b78e-4aae-85a0-8841b80e4fc4 ||
    fail "--rule ids"
complete_words kadet scan --format "" | grep -qx ecs || fail "--format values"
mkdir -p "$T/files" && touch "$T/files/audit-one.log"
complete_words kadet scan "$T/files/audit-" | grep -qx "$T/files/audit-one.log" || fail "file completion"
if command -v zsh >/dev/null; then
    zsh -n "$D/usr/local/share/zsh/site-functions/_kadet" || fail "_kadet does not parse"
else
    echo "note: zsh not installed, zsh completion not parsed"
fi

make -s $untargets DESTDIR="$D" PREFIX=/usr/local >"$T/make.log" 2>&1 || fail "make $untargets: $(cat "$T/make.log")"
[ "$targets" = install-extra ] && rm -f "$D/usr/local/bin/kadet"
left=$(find "$D" -type f -o -type l)
[ -z "$left" ] || fail "left behind after uninstall: $left"
echo "ok"

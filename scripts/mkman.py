#!/usr/bin/env python3
"""mkman.py - kadet's man pages and shell completions, generated from one source of truth.

The text of every page comes from where it is maintained:
  kadet(1), kadet-CMD(1)   the binary's own help (`kadet --help`, `kadet help CMD`), the text
                           --help prints, so the page cannot drift from it;
  kadet-rules(7)           docs/rules.md (rule and exception formats);
  kadet.toml(5)            docs/config.md (serve's configuration file).
Only the short headers and SEE ALSO lists below are written here.

The completions (bash and zsh) are generated from the same help text: subcommands, the
sub-subcommands of rules and state, every option of each subcommand, and whether an option takes
an argument. Rule ids are asked of `kadet rules list` when completing.

usage: mkman.py --kadet BIN --out DIR [--version V] [--date YYYY-MM-DD]
  writes DIR/man1/kadet.1, DIR/man1/kadet-CMD.1, DIR/man5/kadet.toml.5, DIR/man7/kadet-rules.7,
  DIR/completion/kadet.bash and DIR/completion/_kadet
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Hand-written per page: one-line description override (else the command's summary) and SEE ALSO.
SEE_ALSO = {
    "kadet": ["kadet-rules(7)", "kadet.toml(5)"],
    "scan": ["kadet-rules(1)", "kadet-state(1)", "kadet-outputs(1)", "kadet-rules(7)"],
    "serve": ["kadet.toml(5)", "kadet-scan(1)", "kadet-state(1)", "kadet-outputs(1)"],
    "rules": ["kadet-rules(7)", "kadet-scan(1)"],
    "state": ["kadet-scan(1)"],
    "hunt": ["kadet-scan(1)", "kadet-ecs(1)"],
    "ecs": ["kadet-hunt(1)"],
    "preview": ["kadet-scan(1)", "kadet-rules(7)"],
    "version": [],
    "outputs": ["kadet-scan(1)", "kadet.toml(5)"],
}
OPT_RE = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")


def run(kadet, *args):
    return subprocess.run([kadet, *args], check=True, capture_output=True, text=True).stdout


def esc(s):
    """Escape text for roff: backslashes, hyphens (so options render as ASCII '-')."""
    return s.replace("\\", "\\e").replace("-", "\\-")


def line_start(s):
    """Protect a line that would start with a control character."""
    return "\\&" + s if s[:1] in (".", "'") else s


def inline_md(s):
    """Markdown inline markup to roff: `code` and **bold** bold, [text](url) text."""
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", s)):
        if i % 2:
            out.append("\\fB" + esc(part[1:-1]) + "\\fR")
            continue
        part = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", part)
        part = esc(part)
        part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
        part = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", part)
        out.append(part)
    return "".join(out)


def header(name, section, title, version, date):
    return [
        f'.TH "{name.upper()}" "{section}" "{date}" "kadet {version}" "{title}"',
        ".nh",  # no hyphenation: options stay whole words
        ".ad l",
    ]


def see_also(refs):
    if not refs:
        return []
    parts = []
    for r in refs:
        m = re.match(r"(.*)\((\d)\)$", r)
        parts.append(f"\\fB{esc(m.group(1))}\\fR({m.group(2)})")
    return [".SH SEE ALSO", ", ".join(parts)]


# ---- help text -> roff ------------------------------------------------------------------------


def paragraphs(text):
    para = []
    for ln in text.split("\n"):
        if ln.strip():
            para.append(ln.rstrip())
        elif para:
            yield para
            para = []
    if para:
        yield para


def indent(s):
    return len(s) - len(s.lstrip(" "))


def split_entry(ln, col):
    """Split an entry line into term and description at the description column (or the first
    run of two spaces)."""
    if col and len(ln) > col and ln[col - 1] == " " and ln[:col].strip():
        return ln[:col].strip(), ln[col:].strip()
    m = re.match(r"\s*(\S(?:.*?\S)?)(?:\s{2,}(.*))?$", ln)
    return m.group(1), (m.group(2) or "")


def help_body(paras):
    """Roff for the paragraphs after the synopsis: plain ones as text, indented ones as a list
    of tagged entries (term, description)."""
    out = []
    for para in paras:
        base = indent(para[0])
        if base == 0:
            out.append(".PP")
            out.extend(line_start(esc(ln)) for ln in para)
            continue
        # description column: the deepest indent (continuation lines of descriptions)
        conts = [indent(ln) for ln in para if indent(ln) > base]
        col = max(conts) if conts else 0
        for ln in para:
            if indent(ln) <= base or (col and indent(ln) < col):
                term, desc = split_entry(ln, col)
                out.append(".TP")
                out.append("\\fB" + esc(term) + "\\fR")
                if desc:
                    out.append(line_start(esc(desc)))
            else:
                out.append(line_start(esc(ln.strip())))
    return out


def split_usage(text):
    """The synopsis (the usage lines) and the rest of a help text."""
    lines = text.rstrip("\n").split("\n")
    syn = []
    i = 0
    while i < len(lines) and lines[i].strip():
        syn.append(re.sub(r"^usage: ", "", lines[i]).rstrip() if i == 0 else lines[i].rstrip())
        i += 1
    return syn, "\n".join(lines[i:])


def cmd_page(name, summary, text, version, date):
    syn, rest = split_usage(text)
    out = header(f"kadet-{name}", 1, "kadet manual", version, date)
    out += [".SH NAME", f"kadet\\-{esc(name)} \\- {esc(summary)}", ".SH SYNOPSIS", ".nf"]
    out += [line_start(esc(s[7:] if s.startswith("       ") else s)) for s in syn]
    out += [".fi", ".SH DESCRIPTION"]
    out += help_body(paragraphs(rest))
    out += see_also(["kadet(1)"] + SEE_ALSO.get(name, []))
    return "\n".join(out) + "\n"


def top_page(text, cmds, version, date):
    syn, rest = split_usage(text)
    out = header("kadet", 1, "kadet manual", version, date)
    out += [".SH NAME", "kadet \\- run Elastic's Kubernetes detection rules on Kubernetes audit logs"]
    out += [".SH SYNOPSIS", ".nf"] + [line_start(esc(s[7:] if s.startswith("       ") else s)) for s in syn] + [".fi"]
    out += [".SH DESCRIPTION"] + help_body(paragraphs(rest))
    out += [".SH FILES",
            ".TP", "\\fI/usr/share/kadet/rules\\fR",
            "the bundled rules (under the installation prefix), used when no \\fB\\-\\-rules\\fR "
            "is given; \\fBKADET_RULES\\fR overrides it",
            ".TP", "\\fI~/.local/state/kadet/state.db\\fR",
            "the default state file (\\fB$XDG_STATE_HOME/kadet/state.db\\fR)"]
    out += [".SH ENVIRONMENT", ".TP", "\\fBKADET_RULES\\fR", "the default rules directory"]
    out += see_also([f"kadet-{c}(1)" for c, _ in cmds] + SEE_ALSO["kadet"])
    return "\n".join(out) + "\n"


# ---- Markdown -> roff (the subset docs/ uses) -------------------------------------------------


def md_page(path, name, section, summary, refs, version, date):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = header(name, section, "kadet manual", version, date)
    out += [".SH NAME", f"{esc(name)} \\- {esc(summary)}"]
    i = 0
    text_open = False
    started = False
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            out += [".PP", ".RS 4", ".nf"]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_start(esc(lines[i])))
                i += 1
            out += [".fi", ".RE"]
            i += 1
            text_open = False
            continue
        if ln.startswith("# "):
            out.append(".SH DESCRIPTION")
            started = True
        elif ln.startswith("## "):
            out.append(".SH " + inline_md(ln[3:]).upper())
            text_open = False
        elif ln.startswith("### "):
            out.append(".SS " + inline_md(ln[4:]))
            text_open = False
        elif ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i].strip())[1:-1]]
                rows.append([c.replace("\\|", "|") for c in cells])
                i += 1
            head, body = rows[0], [r for r in rows[1:] if not re.match(r"^-+$", r[0])]
            for r in body:
                out += [".TP", inline_md(r[0])]
                rest = [f"{inline_md(h)}: {inline_md(c)}" for h, c in zip(head[1:], r[1:]) if c]
                out.append(line_start("; ".join(rest)) if rest else "")
            text_open = False
            continue
        elif re.match(r"^\s*[-*] ", ln):
            out += [".IP \\(bu 2", line_start(inline_md(re.sub(r"^\s*[-*] ", "", ln)))]
            text_open = True
        elif re.match(r"^\s*\d+\. ", ln):
            m = re.match(r"^\s*(\d+)\. (.*)", ln)
            out += [f".IP {m.group(1)}. 4", line_start(inline_md(m.group(2)))]
            text_open = True
        elif not ln.strip():
            text_open = False
        else:
            if not started:
                out.append(".SH DESCRIPTION")
                started = True
            if not text_open and not ln.startswith("  "):
                out.append(".PP")
            out.append(line_start(inline_md(ln.strip())))
            text_open = True
        i += 1
    out += see_also(refs)
    return "\n".join(out) + "\n"


# ---- completions ------------------------------------------------------------------------------


def options_of(text):
    """Every option of a help text, and which take an argument (the word after it in the
    synopsis or option list is upper case or a choice list)."""
    opts = {}
    for m in re.finditer(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)(?:[ =]([A-Z][A-Z:_]*|[a-z]+\|[a-z|]+))?",
                         text):
        o, arg = m.group(1), m.group(2)
        if o in ("-", "--"):
            continue
        opts[o] = opts.get(o, False) or bool(arg)
    return opts


def subwords(name, text):
    """The sub-subcommands of `rules` and `state` (from their synopsis)."""
    syn, _ = split_usage(text)
    words = []
    for s in syn:
        m = re.match(rf"\s*kadet {name} ([a-z]+)\b", s)
        if m and m.group(1) not in words:
            words.append(m.group(1))
    return words


def bash_completion(cmds, helps):
    names = " ".join(c for c, _ in cmds) + " help"
    out = ["# bash completion for kadet - generated by scripts/mkman.py from `kadet help CMD`",
           "# (subcommands, options, option arguments); rule ids come from `kadet rules list`.",
           "_kadet_rule_ids()", "{",
           "    \"${COMP_WORDS[0]}\" rules list 2>/dev/null | awk 'NR > 1 { print $1 }'", "}", "",
           "_kadet()", "{",
           "    local cur prev cmd sub opts args words",
           "    cur=${COMP_WORDS[COMP_CWORD]}",
           "    prev=${COMP_WORDS[COMP_CWORD-1]}",
           "    COMPREPLY=()",
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then",
           f"        COMPREPLY=($(compgen -W '{names} --help --version' -- \"$cur\"))",
           "        return 0", "    fi",
           "    cmd=${COMP_WORDS[1]}",
           "    sub=${COMP_WORDS[2]:-}",
           "    case $cmd in"]
    for c, _ in cmds:
        opts = options_of(helps[c])
        takes = sorted(o for o, a in opts.items() if a)
        subs = subwords(c, helps[c])
        out.append(f"    {c})")
        out.append(f"        opts='{' '.join(sorted(opts))}'")
        out.append(f"        args='{' '.join(takes)}'")
        out.append(f"        words='{' '.join(subs)}'")
        out.append("        ;;")
    out += ["    help)",
            f"        COMPREPLY=($(compgen -W '{' '.join(c for c, _ in cmds)}' -- \"$cur\"))",
            "        return 0 ;;",
            "    *) return 0 ;;", "    esac",
            "    if [ -n \"$words\" ] && [ \"$COMP_CWORD\" -eq 2 ]; then",
            "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))",
            "        return 0", "    fi",
            "    case \" $args \" in",
            "    *\" $prev \"*)",
            "        case $prev in",
            "        --rule) COMPREPLY=($(compgen -W \"$(_kadet_rule_ids)\" -- \"$cur\")) ;;",
            "        --format) COMPREPLY=($(compgen -W 'auto audit ecs' -- \"$cur\")) ;;",
            "        --ingested) COMPREPLY=($(compgen -W 'now none' -- \"$cur\")) ;;",
            "        --timestamp) COMPREPLY=($(compgen -W 'stage request received' -- \"$cur\")) ;;",
            "        --rules|-r|--exceptions|-e|--state|-s|--output|-o|--follow|--config)",
            "            COMPREPLY=($(compgen -f -- \"$cur\")) ;;",
            "        *) ;;",
            "        esac",
            "        return 0 ;;", "    esac",
            "    if [[ $cur == -* ]]; then",
            "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))",
            "    elif [ \"$cmd\" = rules ] && { [ \"$sub\" = show ] || [ \"$sub\" = guide ]; }; then",
            "        COMPREPLY=($(compgen -W \"$(_kadet_rule_ids)\" -- \"$cur\") $(compgen -f -- \"$cur\"))",
            "    else",
            "        COMPREPLY=($(compgen -f -- \"$cur\"))",
            "    fi",
            "    return 0", "}",
            "complete -o filenames -F _kadet kadet", ""]
    return "\n".join(out)


def zsh_quote(s):
    return s.replace("'", "'\\''").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:")


def zsh_completion(cmds, helps):
    out = ["#compdef kadet",
           "# zsh completion for kadet - generated by scripts/mkman.py from `kadet help CMD`",
           "# (subcommands, options, option arguments); rule ids come from `kadet rules list`.",
           "",
           "_kadet_rule_ids() {",
           "  local -a ids",
           "  ids=(${(f)\"$(${words[1]} rules list 2>/dev/null | awk 'NR > 1 { print $1 }')\"})",
           "  _describe 'rule id' ids",
           "}",
           "",
           "_kadet() {",
           "  local -a cmds",
           "  cmds=("]
    for c, s in cmds:
        out.append(f"    '{c}:{zsh_quote(s)}'")
    out += ["    'help:show help for a command'", "  )",
            "  if (( CURRENT == 2 )); then",
            "    _describe 'kadet command' cmds",
            "    return", "  fi",
            "  local -a opts subs",
            "  case ${words[2]} in"]
    for c, _ in cmds:
        opts = options_of(helps[c])
        specs = []
        for o in sorted(opts):
            if opts[o]:
                action = "_kadet_rule_ids" if o == "--rule" else "_files"
                specs.append(f"'{o}[]:{o.lstrip('-')}:{action}'")
            else:
                specs.append(f"'{o}[]'")
        out.append(f"  {c})")
        out.append(f"    opts=({' '.join(specs)})")
        out.append(f"    subs=({' '.join(subwords(c, helps[c]))})")
        out.append("    ;;")
    out += ["  help) _describe 'kadet command' cmds; return ;;",
            "  *) return ;;", "  esac",
            "  if (( CURRENT == 3 && ${#subs} )); then",
            "    compadd -a subs",
            "    return", "  fi",
            "  if [[ ${words[2]} == rules && ( ${words[3]} == show || ${words[3]} == guide ) ]]; then",
            "    _arguments -s $opts '*:rule:_kadet_rule_ids'",
            "  else",
            "    _arguments -s $opts '*:file:_files'",
            "  fi",
            "}",
            "",
            "_kadet \"$@\"", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kadet", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--version", default="")
    ap.add_argument("--date", default="")
    a = ap.parse_args()
    top = run(a.kadet, "--help")
    version = a.version or run(a.kadet, "--version").split()[-1]
    cmds = []
    for m in re.finditer(r"^  ([a-z]+) +(.*)$", top, re.M):
        if m.group(1) != "help":
            cmds.append((m.group(1), m.group(2)))
    helps = {c: run(a.kadet, "help", c) for c, _ in cmds}
    pages = {"man1/kadet.1": top_page(top, cmds, version, a.date)}
    for c, s in cmds:
        pages[f"man1/kadet-{c}.1"] = cmd_page(c, s, helps[c], version, a.date)
    pages["man7/kadet-rules.7"] = md_page(
        os.path.join(ROOT, "docs/rules.md"), "kadet-rules", 7,
        "detection rule and exception file formats kadet reads",
        ["kadet-rules(1)", "kadet-scan(1)"], version, a.date)
    pages["man5/kadet.toml.5"] = md_page(
        os.path.join(ROOT, "docs/config.md"), "kadet.toml", 5,
        "configuration file of kadet serve", ["kadet(1)", "kadet-scan(1)", "kadet-rules(7)"],
        version, a.date)
    pages["completion/kadet.bash"] = bash_completion(cmds, helps)
    pages["completion/_kadet"] = zsh_completion(cmds, helps)
    for rel, text in pages.items():
        p = os.path.join(a.out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(p + ".tmp", p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

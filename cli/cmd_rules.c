/*
 * cmd_rules.c - `kadet rules check|list|show|guide`: validate, list and explain rule files.
 *
 * check prints every diagnostic of the load (errors and warnings, `file:line:col:` first) on
 * stderr and a summary line on stdout, and exits 1 when any error was found. list prints one
 * line per loaded rule. show prints the normalized rule (rule_dump) and the fields its compiled
 * query reads. guide renders the rule's Markdown investigation guide for a terminal. Rules
 * come from libkad's kad_rules (load, diagnostics, kad_rules_info, kad_rules_dump).
 */
#include "cmd.h"
#include "kad.h"
#include "rulesdir.h"
#include "strbuf.h"
#include "suggest.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct cmd cmd_rules;

struct opts {
    const char *exceptions[64];
    int n_exc;
    const char *rules; /* --rules PATH for show/guide */
    bool quiet;        /* check: errors only */
    bool strict;       /* check: warnings are errors */
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"exceptions", required_argument, NULL, 'e'},
        {"rules", required_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"strict", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+e:r:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (o->n_exc == 64)
                return cmd_usage_error(&cmd_rules, "too many --exceptions files");
            o->exceptions[o->n_exc++] = optarg;
            break;
        case 'r': o->rules = optarg; break;
        case 'q': o->quiet = true; break;
        case 'S': o->strict = true; break;
        default:
            if (optopt)
                return cmd_usage_error(&cmd_rules, "option '-%c' needs an argument or is unknown",
                                       optopt);
            return cmd_unknown_option(&cmd_rules, longopts, argv[optind - 1]);
        }
    }
    if (o->rules && !cli_rules_path_ok("rules", "--rules", o->rules))
        return EXIT_USAGE;
    for (int i = 0; i < o->n_exc; i++)
        if (!cli_rules_path_ok("rules", "--exceptions", o->exceptions[i]))
            return EXIT_USAGE;
    return -1;
}

/* Load PATHs (or the bundled directory) and the --exceptions files. */
static kad_rules *load(int n, char **paths, const struct opts *o, int *rc)
{
    kad_rules *rs = kad_rules_new();
    *rc = KAD_OK;
    if (n == 0) {
        const char *dir = o->rules ? o->rules : cli_rules_dir();
        if (kad_rules_load(rs, dir, NULL) != KAD_OK)
            *rc = KAD_ERULE;
    }
    for (int i = 0; i < n; i++)
        if (kad_rules_load(rs, paths[i], NULL) != KAD_OK)
            *rc = KAD_ERULE;
    for (int i = 0; i < o->n_exc; i++)
        if (kad_rules_load_exceptions(rs, o->exceptions[i], NULL) != KAD_OK)
            *rc = KAD_ERULE;
    return rs;
}

static size_t print_diags(const kad_rules *rs, bool errors_only, size_t *warnings)
{
    size_t errors = 0;
    *warnings = 0;
    for (size_t i = 0; i < kad_rules_diag_count(rs); i++) {
        int is_error = 0;
        kad_rules_diag(rs, i, &is_error);
        if (is_error)
            errors++;
        else
            (*warnings)++;
        if (errors_only && !is_error)
            continue;
        char buf[1024];
        kad_rules_diag_format(rs, i, buf, sizeof buf);
        fprintf(stderr, "%s\n", buf);
    }
    return errors;
}

static kad_rule_info info(const kad_rules *rs, size_t i)
{
    kad_rule_info r;
    kad_rules_info(rs, i, &r);
    return r;
}

/* ---- check ----------------------------------------------------------------------------------- */

static int do_check(int n, char **paths, const struct opts *o)
{
    int rc;
    kad_rules *rs = load(n, paths, o, &rc);
    kad_rules_lint(rs, o->strict ? KAD_LINT_STRICT : 0);
    size_t warnings, errors = print_diags(rs, o->quiet, &warnings);
    size_t runnable = 0, count = kad_rules_count(rs);
    for (size_t i = 0; i < count; i++)
        runnable += info(rs, i).kind != KAD_RULE_OTHER;
    size_t files = kad_rules_file_count(rs);
    printf("%zu rule%s loaded from %zu file%s: %zu runnable, %zu unsupported", count,
           count == 1 ? "" : "s", files, files == 1 ? "" : "s", runnable, count - runnable);
    if (o->n_exc)
        printf("; %zu exception list%s", kad_rules_exc_count(rs),
               kad_rules_exc_count(rs) == 1 ? "" : "s");
    printf("; %zu error%s, %zu warning%s\n", errors, errors == 1 ? "" : "s", warnings,
           warnings == 1 ? "" : "s");
    kad_rules_unref(rs);
    return errors ? EXIT_USAGE : EXIT_OK;
}

/* ---- list ------------------------------------------------------------------------------------ */

static int do_list(int n, char **paths, const struct opts *o)
{
    int rc;
    kad_rules *rs = load(n, paths, o, &rc);
    size_t warnings, errors = print_diags(rs, true, &warnings);
    printf("%-36s  %-9s  %-3s  %-8s  %4s  %s\n", "RULE_ID", "TYPE", "RUN", "SEVERITY", "RISK",
           "NAME");
    for (size_t i = 0; i < kad_rules_count(rs); i++) {
        kad_rule_info r = info(rs, i);
        printf("%-36s  %-9s  %-3s  %-8s  %4d  %s\n", r.rule_id, r.type,
               r.kind == KAD_RULE_OTHER ? "no" : "yes", r.severity, r.risk_score, r.name);
    }
    if (errors)
        fprintf(stderr, "kadet rules: %zu error%s (see 'kadet rules check')\n", errors,
                errors == 1 ? "" : "s");
    kad_rules_unref(rs);
    return errors ? EXIT_USAGE : EXIT_OK;
}

/* ---- show / guide: find the rule ------------------------------------------------------------- */

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Load what `what` names: a file (all its rules), or an id/name inside --rules or the bundled
   directory. Returns the set (caller frees) and in *one the index of the named rule (SIZE_MAX
   for a file: show them all). */
static kad_rules *find_rules(const char *what, const struct opts *o, size_t *one)
{
    int rc;
    *one = SIZE_MAX;
    if (is_file(what)) {
        char *p = (char *)what;
        kad_rules *rs = load(1, &p, o, &rc);
        size_t w;
        print_diags(rs, false, &w);
        return rs;
    }
    kad_rules *rs = load(0, NULL, o, &rc);
    if (kad_rules_lookup(rs, what, one) != KAD_OK) {
        *one = SIZE_MAX;
        fprintf(stderr, "kadet rules: no rule with id or name '%s' in %s\n", what,
                o->rules ? o->rules : cli_rules_dir());
        kad_rules_unref(rs);
        return NULL;
    }
    return rs;
}

static void show_one(const kad_rules *rs, size_t i)
{
    kad_rule_info r = info(rs, i);
    printf("file: %s:%d\n", r.file, r.line);
    char *dump = kad_rules_dump(rs, i);
    if (dump)
        fputs(dump, stdout);
    kad_free(dump);
    if (r.compiled) {
        fputs("query fields:", stdout);
        for (size_t k = 0; k < r.query_fields; k++)
            printf(" %s", kad_rules_query_field(rs, i, k));
        printf("%s\n", r.query_needs_all ? " (and the whole document)" : "");
    }
    if (r.exceptions)
        printf("exception lists: %zu\n", r.exceptions);
}

static int do_show(const char *what, const struct opts *o)
{
    size_t one;
    kad_rules *rs = find_rules(what, o, &one);
    if (!rs)
        return EXIT_USAGE;
    if (one != SIZE_MAX) {
        show_one(rs, one);
    } else {
        for (size_t i = 0; i < kad_rules_count(rs); i++) {
            if (i)
                putchar('\n');
            show_one(rs, i);
        }
    }
    int ok = one != SIZE_MAX || kad_rules_count(rs) > 0;
    kad_rules_unref(rs);
    return ok ? EXIT_OK : EXIT_USAGE;
}

/* ---- guide: Markdown for a terminal ---------------------------------------------------------- */

struct term {
    int width;
    bool tty;
    struct strbuf para;       /* paragraph being filled */
    const char *first, *rest; /* indents */
};

static size_t u8len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Inline markup: **bold** becomes bold on a terminal and plain otherwise. */
static void inline_md(struct term *t, const char *s, size_t n, struct strbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == '*' && s[i + 1] == '*') {
            const char *end = NULL;
            for (size_t k = i + 2; k + 1 < n; k++)
                if (s[k] == '*' && s[k + 1] == '*') {
                    end = s + k;
                    break;
                }
            if (end) {
                if (t->tty)
                    sb_adds(out, "\033[1m");
                sb_add(out, s + i + 2, (size_t)(end - (s + i + 2)));
                if (t->tty)
                    sb_adds(out, "\033[0m");
                i = (size_t)(end - s) + 1;
                continue;
            }
        }
        sb_addc(out, s[i]);
    }
}

static void flush_para(struct term *t)
{
    if (t->para.len == 0)
        return;
    struct strbuf txt = {0};
    inline_md(t, t->para.ptr, t->para.len, &txt);
    const char *indent = t->first;
    size_t col = 0, line_start = 1;
    const char *s = txt.ptr;
    size_t n = txt.len, i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        size_t w = i;
        while (w < n && s[w] != ' ')
            w++;
        if (w == i)
            break;
        size_t wl = u8len(s + i, w - i);
        if (!line_start && col + 1 + wl > (size_t)t->width) {
            putchar('\n');
            line_start = 1;
            indent = t->rest;
        }
        if (line_start) {
            fputs(indent, stdout);
            col = strlen(indent);
            line_start = 0;
        } else {
            putchar(' ');
            col++;
        }
        fwrite(s + i, 1, w - i, stdout);
        col += wl;
        i = w;
    }
    putchar('\n');
    sb_fini(&txt);
    sb_reset(&t->para);
}

static void para_add(struct term *t, const char *s, size_t n)
{
    if (t->para.len)
        sb_addc(&t->para, ' ');
    sb_add(&t->para, s, n);
}

/*
 * A small Markdown subset, as investigation guides use it: # headings, paragraphs, "- " and
 * "1. " list items (with continuation paragraphs and indented code inside), "> " quotes,
 * fenced and indented code blocks, **bold**. Text is re-wrapped to the terminal width.
 */
static void render_markdown(const char *md, int width, bool tty)
{
    struct term t = {.width = width, .tty = tty, .first = "", .rest = ""};
    bool fence = false, blank = true, code = false;
    int list = -1; /* content indent of the current list item, -1 outside lists */
    static char num[16];
    const char *p = md;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *line = p;
        p += n + (e ? 1 : 0);
        size_t ind = 0;
        while (ind < n && line[ind] == ' ')
            ind++;
        const char *s = line + ind;
        size_t sn = n - ind;
        const char *li = list >= 0 ? t.rest : "";
        if (sn >= 3 && strncmp(s, "```", 3) == 0) {
            flush_para(&t);
            fence = !fence;
            continue;
        }
        if (fence) {
            printf("%s    %.*s\n", li, (int)n, line);
            continue;
        }
        if (sn == 0) {
            flush_para(&t);
            blank = true;
            continue;
        }
        int base = list >= 0 ? list : 0;
        if ((blank || code) && (int)ind >= base + 4) {
            flush_para(&t);
            if (blank && !code)
                putchar('\n');
            printf("%s    %.*s\n", li, (int)(n - (size_t)base - 4), line + base + 4);
            code = true;
            blank = false;
            continue;
        }
        code = false;
        bool was_blank = blank;
        blank = false;
        if (ind == 0 && was_blank && !((s[0] == '-' || s[0] == '*') && sn > 1 && s[1] == ' ') &&
            !(s[0] >= '0' && s[0] <= '9'))
            list = -1;
        if (s[0] == '#') {
            flush_para(&t);
            list = -1;
            size_t lvl = 0;
            while (lvl < sn && s[lvl] == '#')
                lvl++;
            const char *h = s + lvl;
            size_t hn = sn - lvl;
            while (hn && *h == ' ')
                h++, hn--;
            printf("\n%s%.*s%s\n", tty ? "\033[1m" : "", (int)hn, h, tty ? "\033[0m" : "");
            size_t ul = u8len(h, hn);
            for (size_t i = 0; i < ul; i++)
                putchar(lvl <= 2 ? '=' : '-');
            putchar('\n');
            continue;
        }
        if ((s[0] == '-' || s[0] == '*') && sn > 1 && s[1] == ' ') {
            flush_para(&t);
            if (was_blank && list < 0)
                putchar('\n');
            t.first = "  - ";
            t.rest = "    ";
            list = (int)ind + 2;
            para_add(&t, s + 2, sn - 2);
            continue;
        }
        size_t d = 0;
        while (d < sn && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d && d + 1 < sn && s[d] == '.' && s[d + 1] == ' ') {
            flush_para(&t);
            if (was_blank && list < 0)
                putchar('\n');
            snprintf(num, sizeof num, "  %.*s. ", (int)d, s);
            t.first = num;
            t.rest = "     ";
            list = (int)(ind + d + 2);
            para_add(&t, s + d + 2, sn - d - 2);
            continue;
        }
        if (s[0] == '>') {
            if (!t.para.len || strcmp(t.first, "  | ") != 0) {
                flush_para(&t);
                t.first = t.rest = "  | ";
            }
            const char *q = s + 1;
            size_t qn = sn - 1;
            while (qn && *q == ' ')
                q++, qn--;
            if (qn)
                para_add(&t, q, qn);
            continue;
        }
        if (was_blank || t.para.len == 0) {
            flush_para(&t);
            if (was_blank)
                putchar('\n');
            if (list >= 0 && ind > 0)
                t.first = t.rest; /* a paragraph continuing the list item */
            else
                t.first = t.rest = "";
        }
        para_add(&t, s, sn);
    }
    flush_para(&t);
    sb_fini(&t.para);
}

static int do_guide(const char *what, const struct opts *o)
{
    size_t one;
    kad_rules *rs = find_rules(what, o, &one);
    if (!rs)
        return EXIT_USAGE;
    if (one == SIZE_MAX)
        one = 0;
    kad_rule_info r;
    if (kad_rules_info(rs, one, &r) != KAD_OK) {
        fprintf(stderr, "kadet rules: no rule loaded from %s\n", what);
        kad_rules_unref(rs);
        return EXIT_USAGE;
    }
    bool tty = isatty(STDOUT_FILENO);
    int width = 80;
    const char *cols = getenv("COLUMNS");
    if (cols && atoi(cols) >= 40)
        width = atoi(cols) > 120 ? 120 : atoi(cols);
    printf("%s%s%s\n", tty ? "\033[1m" : "", r.name, tty ? "\033[0m" : "");
    printf("%s: %s, severity %s, risk %d\n", r.rule_id, r.type, r.severity, r.risk_score);
    if (r.kind == KAD_RULE_NEW_TERMS) {
        printf("new terms over %s:\n", r.history_window_start);
        for (size_t i = 0; i < r.new_terms_fields; i++)
            printf("  - %s\n", kad_rules_new_terms_field(rs, one, i));
    }
    if (r.note)
        render_markdown(r.note, width, tty);
    else
        printf("\n(this rule has no investigation guide)\n");
    if (r.setup) {
        printf("\n");
        render_markdown(r.setup, width, tty);
    }
    kad_rules_unref(rs);
    return EXIT_OK;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static int run(int argc, char **argv)
{
    if (argc < 2)
        return cmd_usage_error(&cmd_rules, "missing subcommand (check, list, show, guide)");
    const char *sub = argv[1];
    struct opts o = {0};
    int rc = parse_opts(argc - 1, argv + 1, &o);
    if (rc >= 0)
        return rc;
    int n = argc - 1 - optind;
    char **rest = argv + 1 + optind;
    if (strcmp(sub, "check") == 0)
        return do_check(n, rest, &o);
    if (strcmp(sub, "list") == 0)
        return do_list(n, rest, &o);
    if (strcmp(sub, "show") == 0 || strcmp(sub, "guide") == 0) {
        if (n != 1)
            return cmd_usage_error(&cmd_rules, "%s needs exactly one rule id, name or file", sub);
        return sub[0] == 's' ? do_show(rest[0], &o) : do_guide(rest[0], &o);
    }
    static const char *const subs[] = {"check", "list", "show", "guide", NULL};
    const char *guess = cli_suggest(sub, subs);
    if (guess)
        return cmd_usage_error(&cmd_rules, "unknown subcommand '%s'; did you mean '%s'?", sub,
                               guess);
    return cmd_usage_error(&cmd_rules, "unknown subcommand '%s' (check, list, show, guide)", sub);
}

const struct cmd cmd_rules = {
    .name = "rules",
    .summary = "check, list, show and explain detection rules",
    .usage =
        "usage: kadet rules check [--exceptions FILE]... [-q] [--strict] [PATH...]\n"
        "       kadet rules list [--exceptions FILE]... [PATH...]\n"
        "       kadet rules show [--rules PATH] [--exceptions FILE]... ID|NAME|FILE\n"
        "       kadet rules guide [--rules PATH] ID|NAME|FILE\n"
        "\n"
        "PATH is a rule file or a directory searched for *.toml files (recursively). Without\n"
        "PATH, the bundled rules are used: $KADET_RULES, else rules/ beside the kadet binary,\n"
        "else the installed share/kadet/rules.\n"
        "\n"
        "  check   load the rules and print every problem as FILE:LINE:COL: error|warning: ...\n"
        "          on stderr, then a summary line; exit 1 when there is an error. Lints\n"
        "          queries (unknown fields) and exceptions (rules they name not loaded).\n"
        "          -q, --quiet  print errors only (warnings are still counted)\n"
        "          --strict     warnings are errors\n"
        "  list    one line per rule: id, type, whether kadet runs it, severity, risk, name\n"
        "  show    the rule as kadet understood it: normalized fields, compiled query, the\n"
        "          fields it reads\n"
        "  guide   the rule's investigation guide, formatted for a terminal\n"
        "\n"
        "  -e, --exceptions FILE  load exception lists (kadet, detection-rules or Kibana\n"
        "                         format; repeatable) and check them too\n"
        "  -r, --rules PATH       where show and guide look for ID or NAME\n"
        "\n"
        "Exit status: 0 ok, 1 a rule or exceptions file has an error, or usage error.\n",
    .run = run,
};

/*
 * cmd_state.c - `kadet state stats|terms|propose|prune|reset`: inspect and maintain the
 * new-terms state file (docs/cli.md, docs/internals/state.md); `propose` prints learned
 * allow-list proposals as a detection-rules exception file (../shared/spec/exceptions.md).
 *
 * stats and terms open the state read-only, so they work while `kadet scan` or `serve` writes
 * it. prune and reset open it for writing and refuse to create a file that does not exist.
 * This command includes src/state/state.h directly (listed in docs/internals/cli-includes.txt):
 * the inspection API is internal until the public kad.h state API lands.
 */
#include "cmd.h"
#include "kad.h"
#include "statepath.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/jsonw.h"
#include "base/vec.h"
#include "state/state.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

extern const struct cmd cmd_state;

#define MAX_CONDS 16

struct opts {
    const char *sub;
    const char *state;
    const char *rule;
    bool json, yes, all, stale, all_baselines, state_init;
    int64_t older_than_ms;
    size_t limit;
    int64_t min_days; /* propose */
    struct st_cond conds[MAX_CONDS];
    size_t nconds;
    char state_buf[4096];
};

/* ---- small helpers --------------------------------------------------------------------- */

static void fmt_time(int64_t ms, char *buf, size_t n)
{
    if (ms == ST_TIME_NONE) {
        snprintf(buf, n, "-");
        return;
    }
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, n, "%" PRId64, ms);
        return;
    }
    size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (len + 6 <= n)
        snprintf(buf + len, n - len, ".%03uZ", (unsigned)frac % 1000u);
}

static void fmt_dur(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0)
        snprintf(buf, n, "-");
    else if (ms % 86400000 == 0)
        snprintf(buf, n, "%" PRId64 "d", ms / 86400000);
    else if (ms % 3600000 == 0)
        snprintf(buf, n, "%" PRId64 "h", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(buf, n, "%" PRId64 "m", ms / 60000);
    else
        snprintf(buf, n, "%" PRId64 "ms", ms);
}

static void fmt_bytes(int64_t b, char *buf, size_t n)
{
    if (b < 10 * 1024)
        snprintf(buf, n, "%" PRId64 " B", b);
    else if (b < 10 * 1024 * 1024)
        snprintf(buf, n, "%.1f KiB", (double)b / 1024);
    else
        snprintf(buf, n, "%.1f MiB", (double)b / (1024 * 1024));
}

/* "10d", "36h", "1d12h", "90m", "30s", "500ms", "2w" -> milliseconds; -1 if malformed. */
static int64_t parse_duration(const char *s)
{
    int64_t total = 0;
    if (!*s)
        return -1;
    while (*s) {
        if (*s < '0' || *s > '9')
            return -1;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            if (v > INT64_MAX / 10 - 10)
                return -1;
            v = v * 10 + (*s++ - '0');
        }
        int64_t unit;
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1;
            s += 2;
        } else {
            switch (*s) {
            case 's': unit = 1000; break;
            case 'm': unit = 60000; break;
            case 'h': unit = 3600000; break;
            case 'd': unit = 86400000; break;
            case 'w': unit = 7 * 86400000LL; break;
            default: return -1;
            }
            s++;
        }
        if (v > (INT64_MAX - total) / unit)
            return -1;
        total += v * unit;
    }
    return total;
}

static int runtime_error(const kad_err *e)
{
    char m[600];
    kad_err_format(e, m, sizeof(m));
    fprintf(stderr, "kadet state: %s\n", m);
    return EXIT_RUNTIME;
}

/* ---- option parsing -------------------------------------------------------------------- */

static int parse_where(struct opts *o, const char *arg)
{
    if (o->nconds == MAX_CONDS)
        return cmd_usage_error(&cmd_state, "at most %d --where conditions", MAX_CONDS);
    const char *eq = strpbrk(arg, "=~");
    if (!eq || eq == arg)
        return cmd_usage_error(&cmd_state, "--where wants FIELD=VALUE or FIELD~SUBSTRING, not '%s'",
                               arg);
    struct st_cond *c = &o->conds[o->nconds++];
    /* the field name is copied into the argument's own storage: cut it at the operator */
    char *field = (char *)arg;
    c->substring = *eq == '~';
    field[eq - arg] = '\0';
    c->field = field;
    c->value = eq + 1;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    if (argc < 2)
        return cmd_usage_error(&cmd_state,
                               "missing subcommand (stats, terms, propose, prune or reset)");
    o->sub = argv[1];
    if (strcmp(o->sub, "stats") && strcmp(o->sub, "terms") && strcmp(o->sub, "prune") &&
        strcmp(o->sub, "reset") && strcmp(o->sub, "propose"))
        return cmd_usage_error(&cmd_state, "unknown subcommand '%s'", o->sub);
    for (int i = 2; i < argc; i++) {
        char *a = argv[i];
        char *val = NULL;
        char name[64];
        char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof(name)) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a);
        }
        bool flag = true;
        if (strcmp(name, "--json") == 0)
            o->json = true;
        else if (strcmp(name, "--yes") == 0)
            o->yes = true;
        else if (strcmp(name, "--all") == 0)
            o->all = true;
        else if (strcmp(name, "--stale") == 0)
            o->stale = true;
        else if (strcmp(name, "--state-init") == 0)
            o->state_init = true;
        else if (strcmp(name, "--all-baselines") == 0)
            o->all_baselines = true;
        else
            flag = false;
        if (flag) {
            if (val)
                return cmd_usage_error(&cmd_state, "option '%s' takes no value", name);
            continue;
        }
        if (strcmp(name, "--state") && strcmp(name, "--rule") && strcmp(name, "--where") &&
            strcmp(name, "--older-than") && strcmp(name, "--limit") && strcmp(name, "--min-days"))
            return cmd_usage_error(&cmd_state, "unknown option '%s'", a);
        if (!val) {
            if (i + 1 >= argc)
                return cmd_usage_error(&cmd_state, "option '%s' needs a value", name);
            val = argv[++i];
        }
        if (strcmp(name, "--state") == 0) {
            o->state = val;
        } else if (strcmp(name, "--rule") == 0) {
            o->rule = val;
        } else if (strcmp(name, "--where") == 0) {
            int rc = parse_where(o, val);
            if (rc)
                return rc;
        } else if (strcmp(name, "--older-than") == 0) {
            o->older_than_ms = parse_duration(val);
            if (o->older_than_ms <= 0)
                return cmd_usage_error(&cmd_state,
                                       "bad duration '%s' (examples: 10d, 36h, 1d12h, 90m)", val);
        } else {
            bool days = strcmp(name, "--min-days") == 0;
            char *end;
            errno = 0;
            unsigned long long n = strtoull(val, &end, 10);
            if (errno || *end || !*val || val[0] == '-' || (days && (n == 0 || n > 36500)))
                return cmd_usage_error(&cmd_state, "bad %s '%s'", name, val);
            if (days)
                o->min_days = (int64_t)n;
            else
                o->limit = (size_t)n;
        }
    }
    bool is_terms = strcmp(o->sub, "terms") == 0, is_prune = strcmp(o->sub, "prune") == 0,
         is_reset = strcmp(o->sub, "reset") == 0;
    if (o->nconds && !is_terms)
        return cmd_usage_error(&cmd_state, "--where is an option of 'state terms'");
    if (o->limit && !is_terms)
        return cmd_usage_error(&cmd_state, "--limit is an option of 'state terms'");
    if ((o->older_than_ms || o->stale) && !is_prune)
        return cmd_usage_error(&cmd_state, "--older-than and --stale are options of 'state prune'");
    if ((o->yes || o->all) && !is_reset)
        return cmd_usage_error(&cmd_state, "--yes and --all are options of 'state reset'");
    if (o->state_init && !is_prune && !is_reset)
        return cmd_usage_error(&cmd_state, "--state-init is an option of 'state prune' and "
                                           "'state reset'");
    if (o->all_baselines && !is_terms)
        return cmd_usage_error(&cmd_state, "--all-baselines is an option of 'state terms'");
    if (o->min_days && strcmp(o->sub, "propose") != 0)
        return cmd_usage_error(&cmd_state, "--min-days is an option of 'state propose'");
    if (o->json && (is_prune || is_reset || strcmp(o->sub, "propose") == 0))
        return cmd_usage_error(&cmd_state,
                               "--json is an option of 'state stats' and 'state terms'");
    if (o->rule && strcmp(o->sub, "stats") == 0)
        return cmd_usage_error(&cmd_state, "--rule is not an option of 'state stats'");
    if (is_reset) {
        if (!o->rule == !o->all)
            return cmd_usage_error(&cmd_state, "reset wants either --rule ID or --all");
    }
    if (!o->state) {
        o->state = cli_default_state_path(o->state_buf, sizeof(o->state_buf));
        if (!o->state)
            return cmd_usage_error(&cmd_state, "default state path too long; use --state FILE");
    }
    return 0;
}

static int open_state(const struct opts *o, enum st_mode mode, struct st_store **st)
{
    kad_err e;
    kad_err_clear(&e);
    struct stat sb;
    if (mode == ST_OPEN_RW && stat(o->state, &sb) != 0) {
        /* maintenance never creates a state */
        fprintf(stderr, "kadet state: cannot open state '%s': %s\n", o->state, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (st_open_flags(st, o->state, mode, o->state_init ? ST_OPEN_INIT : 0, &e) != 0)
        return runtime_error(&e);
    return 0;
}

/* ---- stats ----------------------------------------------------------------------------- */

struct stats_ctx {
    kx_jsonw *w; /* NULL: text */
    int n;
};

static void fields_text(const struct st_rule_info *r, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->nfields && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%.*s", i ? ", " : "", (int)r->fields[i].len,
                                r->fields[i].ptr);
    if (!r->nfields)
        snprintf(buf, n, "-");
}

static int stats_rule(const struct st_rule_info *r, void *ud)
{
    struct stats_ctx *c = ud;
    char wm[40], win[32], first[40], last[40], hash[24];
    fmt_time(r->watermark, wm, sizeof(wm));
    fmt_dur(r->window_ms, win, sizeof(win));
    fmt_time(r->first_loaded, first, sizeof(first));
    fmt_time(r->last_loaded, last, sizeof(last));
    snprintf(hash, sizeof(hash), "%016" PRIx64, r->logic_hash);
    if (!c->w) {
        char f[1024];
        fields_text(r, f, sizeof(f));
        if (c->n++ == 0)
            printf("\n%-38s %-8s %-16s %9s %7s %-24s %6s\n", "RULE ID", "BASELINE", "LOGIC HASH",
                   "TERMS", "ALERTS", "WATERMARK", "WINDOW");
        printf("%-38s %-8s %-16s %9" PRIu64 " %7" PRIu64 " %-24s %6s\n", r->rule_id,
               r->current ? "current" : "stale", hash, r->terms, r->alerts, wm, win);
        printf("    %s; fields: %s; first loaded %s\n", r->name[0] ? r->name : "(no name)", f,
               first);
        return 0;
    }
    kx_jsonw *w = c->w;
    kx_jsonw_obj_begin(w);
    kx_jsonw_keyc(w, "rule_id");
    kx_jsonw_strc(w, r->rule_id);
    kx_jsonw_keyc(w, "name");
    kx_jsonw_strc(w, r->name);
    kx_jsonw_keyc(w, "logic_hash");
    kx_jsonw_strc(w, hash);
    kx_jsonw_keyc(w, "current");
    kx_jsonw_bool(w, r->current);
    kx_jsonw_keyc(w, "fields");
    kx_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->nfields; i++)
        kx_jsonw_str(w, r->fields[i].ptr, r->fields[i].len);
    kx_jsonw_arr_end(w);
    kx_jsonw_keyc(w, "window_ms");
    kx_jsonw_int(w, r->window_ms);
    kx_jsonw_keyc(w, "terms");
    kx_jsonw_int(w, (int64_t)r->terms);
    kx_jsonw_keyc(w, "alerts");
    kx_jsonw_int(w, (int64_t)r->alerts);
    kx_jsonw_keyc(w, "watermark");
    if (r->watermark == ST_TIME_NONE)
        kx_jsonw_null(w);
    else
        kx_jsonw_strc(w, wm);
    kx_jsonw_keyc(w, "first_loaded");
    kx_jsonw_strc(w, first);
    kx_jsonw_keyc(w, "last_loaded");
    kx_jsonw_strc(w, last);
    kx_jsonw_obj_end(w);
    return 0;
}

static int stats_pos(const char *source, const struct st_pos *p, void *ud)
{
    struct stats_ctx *c = ud;
    if (!c->w) {
        if (c->n++ == 0)
            printf("\ninput positions:\n");
        printf("  %s: offset %" PRId64 ", line %" PRId64 "\n", source, p->offset, p->line);
        return 0;
    }
    kx_jsonw_obj_begin(c->w);
    kx_jsonw_keyc(c->w, "source");
    kx_jsonw_strc(c->w, source);
    kx_jsonw_keyc(c->w, "offset");
    kx_jsonw_int(c->w, p->offset);
    kx_jsonw_keyc(c->w, "line");
    kx_jsonw_int(c->w, p->line);
    kx_jsonw_obj_end(c->w);
    return 0;
}

static int stats_counter(const char *name, int64_t value, void *ud)
{
    struct stats_ctx *c = ud;
    if (!c->w) {
        if (c->n++ == 0)
            printf("\ncounters:\n");
        printf("  %-40s %" PRId64 "\n", name, value);
        return 0;
    }
    kx_jsonw_keyc(c->w, name);
    kx_jsonw_int(c->w, value);
    return 0;
}

static int do_stats(struct st_store *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    struct st_stats s;
    if (st_stats_get(st, &s, &e))
        return runtime_error(&e);
    char db[32], wal[32];
    fmt_bytes(s.db_bytes, db, sizeof(db));
    fmt_bytes(s.wal_bytes, wal, sizeof(wal));
    int rc;
    if (!o->json) {
        printf("state:        %s (%s, wal %s)\n", o->state, db, wal);
        printf("baselines:    %" PRIu64 "\n", s.rules);
        printf("combinations: %" PRIu64 "\n", s.terms);
        printf("alert ids:    %" PRIu64 "\n", s.alerts);
        printf("inputs:       %" PRIu64 "\n", s.positions);
        struct stats_ctx c = {0};
        if (st_rules_each(st, NULL, stats_rule, &c, &e) != 0)
            return runtime_error(&e);
        c.n = 0;
        if (st_positions_each(st, stats_pos, &c, &e) != 0)
            return runtime_error(&e);
        c.n = 0;
        st_counters_each(st, stats_counter, &c);
        return EXIT_OK;
    }
    kx_buf b;
    kx_buf_init(&b, (size_t)1 << 30);
    kx_jsonw w;
    kx_jsonw_init(&w, &b);
    struct stats_ctx c = {.w = &w};
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "path");
    kx_jsonw_strc(&w, o->state);
    kx_jsonw_keyc(&w, "db_bytes");
    kx_jsonw_int(&w, s.db_bytes);
    kx_jsonw_keyc(&w, "wal_bytes");
    kx_jsonw_int(&w, s.wal_bytes);
    kx_jsonw_keyc(&w, "baselines");
    kx_jsonw_int(&w, (int64_t)s.rules);
    kx_jsonw_keyc(&w, "combinations");
    kx_jsonw_int(&w, (int64_t)s.terms);
    kx_jsonw_keyc(&w, "alert_ids");
    kx_jsonw_int(&w, (int64_t)s.alerts);
    kx_jsonw_keyc(&w, "rules");
    kx_jsonw_arr_begin(&w);
    rc = st_rules_each(st, NULL, stats_rule, &c, &e);
    kx_jsonw_arr_end(&w);
    kx_jsonw_keyc(&w, "inputs");
    kx_jsonw_arr_begin(&w);
    if (rc == 0)
        rc = st_positions_each(st, stats_pos, &c, &e);
    kx_jsonw_arr_end(&w);
    kx_jsonw_keyc(&w, "counters");
    kx_jsonw_obj_begin(&w);
    st_counters_each(st, stats_counter, &c);
    kx_jsonw_obj_end(&w);
    kx_jsonw_obj_end(&w);
    if (rc == 0)
        printf("%s\n", b.ptr);
    kx_buf_fini(&b);
    return rc ? runtime_error(&e) : EXIT_OK;
}

/* ---- terms ----------------------------------------------------------------------------- */

#define TERMS_BUFFER_ROWS 2000
#define TERMS_COL_MAX 60

struct terms_ctx {
    const struct opts *o;
    uint32_t last_rid;
    bool any_rule;
    uint64_t n;
    kx_buf line;
    /* text mode: rows of the current rule, buffered to align the columns */
    const struct st_rule_info *rule;
    char rule_hdr[512];
    char *hdr[ST_COMPONENTS_MAX];
    size_t ncols;
    KX_VEC(char *) rows; /* "first\x1flast\x1falert\x1fc1\x1fc2..." */
};

/* Column title: the last segment of a field name, or the last two for generic last words
   ("user_agent.original"). */
static char *short_field(kx_str f)
{
    size_t i = f.len, cut = 0;
    int seen = 0;
    while (i > 0) {
        char ch = f.ptr[i - 1];
        if (ch == '.' || ch == '/') {
            kx_str last = {f.ptr + i, f.len - i};
            if (seen == 0 && (kx_str_eqc(last, "original") || kx_str_eqc(last, "name") ||
                              kx_str_eqc(last, "id"))) {
                seen = 1;
                i--;
                continue;
            }
            cut = i;
            break;
        }
        i--;
    }
    return kx_strndup(f.ptr + cut, f.len - cut);
}

static size_t field_width(const char *s)
{
    size_t n = 0;
    for (; *s && *s != '\x1f'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80; /* count UTF-8 characters, not bytes */
    return n;
}

static void flush_rows(struct terms_ctx *c)
{
    size_t ncol = 3 + c->ncols, w[3 + ST_COMPONENTS_MAX] = {10, 9, 5};
    for (size_t j = 0; j < c->ncols; j++)
        w[3 + j] = field_width(c->hdr[j]);
    for (size_t i = 0; i < c->rows.len; i++) {
        const char *p = c->rows.ptr[i];
        for (size_t j = 0; j < ncol && p; j++) {
            size_t fw = field_width(p);
            if (fw > w[j])
                w[j] = fw > TERMS_COL_MAX ? TERMS_COL_MAX : fw;
            p = strchr(p, '\x1f');
            p = p ? p + 1 : NULL;
        }
    }
    if (c->rule_hdr[0]) {
        printf("%s", c->rule_hdr);
        const char *titles[3] = {"FIRST SEEN", "LAST SEEN", "ALERT"};
        for (size_t j = 0; j < ncol; j++) {
            const char *t = j < 3 ? titles[j] : c->hdr[j - 3];
            printf("%s%s%*s", j ? "  " : "", t, j + 1 < ncol ? (int)(w[j] - field_width(t)) : 0,
                   "");
        }
        printf("\n");
        c->rule_hdr[0] = '\0';
    }
    for (size_t i = 0; i < c->rows.len; i++) {
        const char *p = c->rows.ptr[i];
        for (size_t j = 0; j < ncol && p; j++) {
            const char *e = strchr(p, '\x1f');
            size_t len = e ? (size_t)(e - p) : strlen(p), fw = field_width(p);
            int pad = j + 1 < ncol && fw < w[j] ? (int)(w[j] - fw) : 0;
            printf("%s%.*s%*s", j ? "  " : "", (int)len, p, pad, "");
            p = e ? e + 1 : NULL;
        }
        printf("\n");
        kx_free(c->rows.ptr[i]);
    }
    c->rows.len = 0;
}

static void end_rule(struct terms_ctx *c)
{
    flush_rows(c);
    for (size_t j = 0; j < c->ncols; j++)
        kx_free(c->hdr[j]);
    c->ncols = 0;
}

static void term_json(struct terms_ctx *c, const struct st_term_info *t, const char *first,
                      const char *last)
{
    const struct st_rule_info *r = t->rule;
    kx_buf_reset(&c->line);
    kx_jsonw w;
    kx_jsonw_init(&w, &c->line);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "rule_id");
    kx_jsonw_strc(&w, r->rule_id);
    kx_jsonw_keyc(&w, "rule_name");
    kx_jsonw_strc(&w, r->name);
    kx_jsonw_keyc(&w, "first_seen");
    kx_jsonw_strc(&w, first);
    kx_jsonw_keyc(&w, "last_seen");
    kx_jsonw_strc(&w, last);
    kx_jsonw_keyc(&w, "alerted");
    kx_jsonw_bool(&w, t->term.alerted);
    kx_jsonw_keyc(&w, "terms");
    kx_jsonw_obj_begin(&w);
    for (size_t i = 0; i < t->ncomps; i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        if (i < r->nfields)
            kx_jsonw_key(&w, r->fields[i].ptr, r->fields[i].len);
        else
            kx_jsonw_keyc(&w, idx);
        kx_jsonw_str(&w, t->comps[i].ptr, t->comps[i].len);
    }
    kx_jsonw_obj_end(&w);
    kx_jsonw_obj_end(&w);
    if (kx_jsonw_error(&w) == 0)
        printf("%s\n", c->line.ptr);
}

static int term_row(const struct st_term_info *t, void *ud)
{
    struct terms_ctx *c = ud;
    const struct st_rule_info *r = t->rule;
    char first[40], last[40];
    fmt_time(t->term.first_seen, first, sizeof(first));
    fmt_time(t->term.last_seen, last, sizeof(last));
    c->n++;
    if (c->o->json) {
        term_json(c, t, first, last);
        return 0;
    }
    if (!c->any_rule || r->rid != c->last_rid) {
        if (c->any_rule)
            end_rule(c);
        snprintf(c->rule_hdr, sizeof(c->rule_hdr), "%s== %s  %s%s\n", c->any_rule ? "\n" : "",
                 r->rule_id, r->name, r->current ? "" : "  (stale baseline)");
        c->ncols = r->nfields;
        for (size_t j = 0; j < r->nfields; j++)
            c->hdr[j] = short_field(r->fields[j]);
        c->any_rule = true;
        c->last_rid = r->rid;
    }
    kx_buf_reset(&c->line);
    kx_buf_addf(&c->line, "%s\x1f%s\x1f%s", first, last, t->term.alerted ? "yes" : "no");
    for (size_t i = 0; i < t->ncomps && i < c->ncols; i++) {
        kx_buf_addc(&c->line, '\x1f');
        if (t->comps[i].len == 0)
            kx_buf_adds(&c->line, "\"\"");
        /* control bytes would break the table: show them escaped */
        for (size_t j = 0; j < t->comps[i].len; j++) {
            unsigned char ch = (unsigned char)t->comps[i].ptr[j];
            if (ch < 0x20 || ch == 0x7f)
                kx_buf_addf(&c->line, "\\x%02x", ch);
            else
                kx_buf_addc(&c->line, (char)ch);
        }
    }
    KX_VEC_PUSH(&c->rows, kx_strdup(c->line.ptr));
    if (c->rows.len >= TERMS_BUFFER_ROWS)
        flush_rows(c);
    return 0;
}

static int do_terms(struct st_store *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    struct st_filter f = {.rule_id = o->rule,
                          .all_baselines = o->all_baselines,
                          .conds = o->conds,
                          .nconds = o->nconds,
                          .limit = o->limit};
    struct terms_ctx c = {.o = o};
    kx_buf_init(&c.line, (size_t)1 << 26);
    int rc = st_terms_each(st, &f, term_row, &c, &e);
    if (c.any_rule)
        end_rule(&c);
    KX_VEC_FREE(&c.rows);
    kx_buf_fini(&c.line);
    if (rc)
        return runtime_error(&e);
    if (!o->json && c.n == 0)
        fprintf(stderr, "kadet state: no combinations%s\n",
                o->rule || o->nconds ? " match" : " in this state");
    return EXIT_OK;
}

/* ---- prune and reset ------------------------------------------------------------------- */

static int do_prune(struct st_store *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    struct st_prune_opts po = {
        .rule_id = o->rule, .older_than_ms = o->older_than_ms, .stale = o->stale};
    struct st_prune_result r;
    if (st_prune(st, &po, &r, &e))
        return runtime_error(&e);
    printf("pruned %" PRIu64 " combinations, %" PRIu64 " alert ids, %" PRIu64 " stale baselines\n",
           r.terms, r.alerts, r.rules);
    return EXIT_OK;
}

static int do_reset(struct st_store *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    uint64_t n = 0;
    if (st_reset(st, o->rule, &n, &e))
        return runtime_error(&e);
    if (o->rule)
        printf("reset rule %s: %" PRIu64 " combinations removed\n", o->rule, n);
    else
        printf("reset: %" PRIu64 " combinations removed; rules, alert ids, input positions and "
               "counters cleared\n",
               n);
    return EXIT_OK;
}

/* ---- propose ----------------------------------------------------------------------------- */

/*
 * Learned allow-list proposals (../shared/spec/exceptions.md): combinations of new-terms values
 * that stayed in use through a rule's whole baseline, printed as a detection-rules exception
 * file (format 1) for review; nothing is ever applied on its own. The state keeps only the
 * first and last time each combination was seen, so "through the whole baseline" means: first
 * seen within a day of the baseline's earliest combination, last seen within a day of its
 * watermark, in a baseline that spans at least --min-days (default: the rule's history window,
 * else 7 days).
 */
#define PROPOSE_SLACK_MS 86400000LL

struct propose_rule {
    char *rule_id, *name;
    char **fields;
    size_t nfields;
    int64_t window_ms, start, watermark;
    size_t stable;
};

struct propose_ctx {
    const struct opts *o;
    KX_VEC(struct propose_rule) rules;
    bool print; /* second pass: write the chosen rule's items */
    const struct propose_rule *chosen;
    kx_buf out;
};

static struct propose_rule *propose_find(struct propose_ctx *c, const char *rule_id)
{
    for (size_t i = 0; i < c->rules.len; i++)
        if (strcmp(c->rules.ptr[i].rule_id, rule_id) == 0)
            return &c->rules.ptr[i];
    return NULL;
}

/* Append s as a TOML basic string. */
static void toml_str(kx_buf *b, const char *s, size_t n)
{
    kx_buf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            kx_buf_addc(b, '\\');
            kx_buf_addc(b, (char)ch);
        } else if (ch == '\n') {
            kx_buf_adds(b, "\\n");
        } else if (ch == '\t') {
            kx_buf_adds(b, "\\t");
        } else if (ch < 0x20 || ch == 0x7F) {
            kx_buf_addf(b, "\\u%04X", ch);
        } else {
            kx_buf_addc(b, (char)ch);
        }
    }
    kx_buf_addc(b, '"');
}

static void toml_key_str(kx_buf *b, const char *key, const char *s)
{
    kx_buf_addf(b, "%s = ", key);
    toml_str(b, s, strlen(s));
    kx_buf_addc(b, '\n');
}

static bool propose_stable(const struct opts *o, const struct propose_rule *r,
                           const struct st_term *t)
{
    int64_t min = o->min_days > 0    ? o->min_days * 86400000LL
                  : r->window_ms > 0 ? r->window_ms
                                     : 7 * 86400000LL;
    return r->watermark != ST_TIME_NONE && r->watermark - r->start >= min &&
           t->first_seen - r->start <= PROPOSE_SLACK_MS &&
           r->watermark - t->last_seen <= PROPOSE_SLACK_MS;
}

static void propose_header(struct propose_ctx *c, const struct propose_rule *r)
{
    kx_buf *b = &c->out;
    char day[16] = "1970/01/01", from[40], to[40], list_name[512], list_id[512];
    time_t s = (time_t)(r->watermark / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm))
        strftime(day, sizeof(day), "%Y/%m/%d", &tm);
    fmt_time(r->start, from, sizeof(from));
    fmt_time(r->watermark, to, sizeof(to));
    snprintf(list_name, sizeof(list_name), "kadet proposals: %s", r->name);
    snprintf(list_id, sizeof(list_id), "kadet-proposals-%s", r->rule_id);
    kx_buf_addf(b,
                "# Exception items proposed by `kadet state propose`: combinations of this rule's\n"
                "# new-terms values seen through its whole baseline,\n"
                "# from %s to %s.\n"
                "# kadet never applies them on its own: review, then pass this file with\n"
                "# --exceptions.\n\n[metadata]\n",
                from, to);
    kx_buf_addf(b, "creation_date = \"%s\"\n", day);
    toml_key_str(b, "list_name", list_name);
    kx_buf_adds(b, "rule_ids = [");
    toml_str(b, r->rule_id, strlen(r->rule_id));
    kx_buf_adds(b, "]\nrule_names = [");
    toml_str(b, r->name, strlen(r->name));
    kx_buf_addf(b, "]\nupdated_date = \"%s\"\n\n[[exceptions]]\n\n[exceptions.container]\n", day);
    toml_key_str(b, "description", "Combinations kadet saw through the whole baseline");
    toml_key_str(b, "list_id", list_id);
    toml_key_str(b, "name", list_name);
    kx_buf_adds(b, "namespace_type = \"single\"\ntype = \"detection\"\n");
}

static void propose_item(struct propose_ctx *c, const struct propose_rule *r,
                         const struct st_term_info *t)
{
    kx_buf *b = &c->out;
    char first[40], last[40], text[600];
    fmt_time(t->term.first_seen, first, sizeof(first));
    fmt_time(t->term.last_seen, last, sizeof(last));
    kx_buf_adds(b, "\n[[exceptions.items]]\ncomments = []\n");
    snprintf(text, sizeof(text), "first seen %s, last seen %s", first, last);
    toml_key_str(b, "description", text);
    snprintf(text, sizeof(text), "kadet-proposal-%zu", r->stable);
    toml_key_str(b, "item_id", text);
    snprintf(text, sizeof(text), "kadet-proposals-%s", r->rule_id);
    toml_key_str(b, "list_id", text);
    kx_buf_adds(b, "name = ");
    kx_buf nm;
    kx_buf_init(&nm, 0);
    for (size_t i = 0; i < t->ncomps && i < r->nfields; i++)
        kx_buf_addf(&nm, "%s%s=%.*s", i ? ", " : "", r->fields[i], (int)t->comps[i].len,
                    t->comps[i].ptr);
    toml_str(b, nm.ptr ? nm.ptr : "", nm.len);
    kx_buf_fini(&nm);
    kx_buf_adds(b, "\ntags = [\"kadet-proposal\"]\ntype = \"simple\"\n");
    for (size_t i = 0; i < t->ncomps && i < r->nfields; i++) {
        kx_buf_adds(b, "\n[[exceptions.items.entries]]\n");
        toml_key_str(b, "field", r->fields[i]);
        kx_buf_adds(b, "operator = \"included\"\ntype = \"match\"\nvalue = ");
        toml_str(b, t->comps[i].ptr, t->comps[i].len);
        kx_buf_addc(b, '\n');
    }
}

static int propose_term(const struct st_term_info *t, void *ud)
{
    struct propose_ctx *c = ud;
    const struct st_rule_info *ri = t->rule;
    struct propose_rule *r = propose_find(c, ri->rule_id);
    if (!c->print) {
        if (r) {
            if (t->term.first_seen < r->start)
                r->start = t->term.first_seen;
            return 0;
        }
        struct propose_rule nr = {0};
        nr.rule_id = kx_strdup(ri->rule_id);
        nr.name = kx_strdup(ri->name ? ri->name : ri->rule_id);
        nr.nfields = ri->nfields;
        nr.fields = kx_malloc((ri->nfields ? ri->nfields : 1) * sizeof(*nr.fields));
        for (size_t i = 0; i < ri->nfields; i++) {
            nr.fields[i] = kx_malloc(ri->fields[i].len + 1);
            memcpy(nr.fields[i], ri->fields[i].ptr, ri->fields[i].len);
            nr.fields[i][ri->fields[i].len] = '\0';
        }
        nr.window_ms = ri->window_ms;
        nr.watermark = ri->watermark;
        nr.start = t->term.first_seen;
        KX_VEC_PUSH(&c->rules, nr);
        return 0;
    }
    if (r != c->chosen || !propose_stable(c->o, r, &t->term))
        return 0;
    r->stable++;
    if (r->stable == 1)
        propose_header(c, r);
    propose_item(c, r, t);
    return 0;
}

static int do_propose(struct st_store *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    struct propose_ctx c = {.o = o};
    kx_buf_init(&c.out, 0);
    kx_buf keep;
    kx_buf_init(&keep, 0);
    struct st_filter f = {.rule_id = o->rule};
    int rc = st_terms_each(st, &f, propose_term, &c, &e) ? runtime_error(&e) : EXIT_OK;
    size_t with = 0;
    c.print = true;
    for (size_t i = 0; i < c.rules.len && !rc; i++) {
        c.chosen = &c.rules.ptr[i];
        kx_buf_reset(&c.out);
        if (st_terms_each(st, &f, propose_term, &c, &e)) {
            rc = runtime_error(&e);
        } else if (c.rules.ptr[i].stable && with++ == 0) {
            kx_buf_reset(&keep);
            kx_buf_add(&keep, c.out.ptr, c.out.len);
        }
    }
    if (!rc && with == 1) {
        fwrite(keep.ptr, 1, keep.len, stdout);
    } else if (!rc && with > 1) {
        fprintf(stderr, "kadet state: proposals for %zu rules; choose one with --rule ID:\n", with);
        for (size_t i = 0; i < c.rules.len; i++)
            if (c.rules.ptr[i].stable)
                fprintf(stderr, "  %s  %zu item%s  %s\n", c.rules.ptr[i].rule_id,
                        c.rules.ptr[i].stable, c.rules.ptr[i].stable == 1 ? "" : "s",
                        c.rules.ptr[i].name);
        rc = EXIT_USAGE;
    } else if (!rc) {
        fprintf(stderr, "kadet state: no combination was seen through a whole baseline%s\n",
                o->min_days > 0 ? " of that length" : "");
    }
    for (size_t i = 0; i < c.rules.len; i++) {
        for (size_t k = 0; k < c.rules.ptr[i].nfields; k++)
            kx_free(c.rules.ptr[i].fields[k]);
        kx_free(c.rules.ptr[i].fields);
        kx_free(c.rules.ptr[i].rule_id);
        kx_free(c.rules.ptr[i].name);
    }
    KX_VEC_FREE(&c.rules);
    kx_buf_fini(&c.out);
    kx_buf_fini(&keep);
    return rc;
}

static int run(int argc, char **argv)
{
    if (cmd_wants_help(&cmd_state, argc, argv))
        return EXIT_OK;
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.sub || !o.state) /* parse_opts sets both when it returns 0 (for the analyzer) */
        return EXIT_USAGE;
    bool writes = strcmp(o.sub, "prune") == 0 || strcmp(o.sub, "reset") == 0;
    if (strcmp(o.sub, "reset") == 0 && !o.yes) {
        fprintf(stderr, "kadet state: reset deletes %s from '%s'; add --yes to confirm\n",
                o.rule ? "the rule's baselines" : "everything", o.state);
        return EXIT_USAGE;
    }
    struct st_store *st;
    if ((rc = open_state(&o, writes ? ST_OPEN_RW : ST_OPEN_RO, &st)) != 0)
        return rc;
    if (strcmp(o.sub, "stats") == 0)
        rc = do_stats(st, &o);
    else if (strcmp(o.sub, "terms") == 0)
        rc = do_terms(st, &o);
    else if (strcmp(o.sub, "prune") == 0)
        rc = do_prune(st, &o);
    else if (strcmp(o.sub, "propose") == 0)
        rc = do_propose(st, &o);
    else
        rc = do_reset(st, &o);
    st_close(st);
    fflush(stdout);
    return rc;
}

const struct cmd cmd_state = {
    .name = "state",
    .summary = "inspect and maintain the new-terms state (stats, terms, propose, prune, reset)",
    .usage =
        "usage: kadet state stats [--state FILE] [--json]\n"
        "       kadet state terms [--state FILE] [--rule ID] [--where FIELD=VALUE]...\n"
        "                         [--where FIELD~SUBSTRING]... [--all-baselines] [--limit N]\n"
        "                         [--json]\n"
        "       kadet state propose [--state FILE] [--rule ID] [--min-days N]\n"
        "       kadet state prune [--state FILE [--state-init]] [--rule ID] [--older-than DUR]\n"
        "                         [--stale]\n"
        "       kadet state reset [--state FILE [--state-init]] (--rule ID | --all) --yes\n"
        "\n"
        "The state file holds, per new_terms rule, every combination of new-terms values seen,\n"
        "with first and last seen (event time), plus input positions, emitted alert ids and\n"
        "counters. Default file: $XDG_STATE_HOME/kadet/state.db (~/.local/state/kadet/state.db).\n"
        "\n"
        "  stats   baselines (rule id + logic hash), combinations, alert ids, sizes, watermarks\n"
        "          (largest event time seen), input positions, counters\n"
        "  terms   combinations with first/last seen, one table per rule, or NDJSON with --json.\n"
        "          --where FIELD=VALUE keeps combinations whose FIELD equals VALUE; FIELD~SUB\n"
        "          those containing SUB. FIELD is a new-terms field of the rule, or its last\n"
        "          part: --where username=alice --rule 8a1db198-da6f-4500-b985-7fe2457300af\n"
        "          lists every user agent and decision seen for alice.\n"
        "  propose print exception items for review (a detection-rules exception file) for\n"
        "          the combinations seen through a rule's whole baseline: first seen within a\n"
        "          day of its start, last seen within a day of its watermark, in a baseline of\n"
        "          at least N days (default: the rule's history window, else 7). One rule per\n"
        "          file: with several, choose with --rule. kadet never applies them itself.\n"
        "  prune   forget combinations last seen more than the rule's window (or --older-than\n"
        "          DUR, e.g. 10d, 36h, 1d12h) before the rule's watermark; --stale also drops\n"
        "          baselines of rule versions that are no longer current\n"
        "  reset   delete one rule's baselines (--rule) or everything (--all); needs --yes\n"
        "\n"
        "prune and reset refuse a state file that exists but is empty (0 bytes), as scan does;\n"
        "--state-init makes it an empty state instead (reset --all --state-init starts anew).\n"
        "\n"
        "stats, terms and propose open the file read-only and work while kadet scan or serve "
        "runs.\n"
        "Exit status: 0 ok, 1 usage error, 2 runtime error (missing or unreadable state).\n",
    .run = run,
};

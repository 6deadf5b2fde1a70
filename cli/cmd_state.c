/*
 * cmd_state.c - `kadet state stats|terms|propose|prune|reset|export|import`: inspect, maintain
 * and move the
 * new-terms state, a file or a redis:// URL (docs/cli.md, docs/state-redis.md,
 * docs/internals/state.md); `propose` prints learned
 * allow-list proposals as a detection-rules exception file (docs/rules.md).
 *
 * stats and terms open the state read-only, so they work while `kadet scan` writes
 * it. prune and reset open it for writing and refuse to create a file that does not exist.
 * Everything goes through libkad's kad_state (include/kad.h); this file formats.
 */
#include "cmd.h"
#include "kad.h"
#include "statepath.h"
#include "strbuf.h"
#include "suggest.h"

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
    const char *password_file; /* --state-password-file (redis://) */
    const char *file;          /* import: FILE or "-" */
    const char *rule;
    const char *outbox; /* stats: --outbox FILE (default STATE.outbox) */
    bool json, yes, all, stale, all_baselines, state_init;
    int64_t older_than_ms;
    size_t limit;
    int64_t min_days; /* propose */
    kad_state_cond conds[MAX_CONDS];
    size_t nconds;
    char state_buf[4096];
};

/* ---- small helpers --------------------------------------------------------------------- */

static void fmt_time(int64_t ms, char *buf, size_t n)
{
    if (ms == KAD_TIME_NONE) {
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
    kad_state_cond *c = &o->conds[o->nconds++];
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
        return cmd_usage_error(
            &cmd_state,
            "missing subcommand (stats, terms, propose, prune, reset, export or import)");
    o->sub = argv[1];
    if (strcmp(o->sub, "stats") && strcmp(o->sub, "terms") && strcmp(o->sub, "prune") &&
        strcmp(o->sub, "reset") && strcmp(o->sub, "propose") && strcmp(o->sub, "export") &&
        strcmp(o->sub, "import")) {
        static const char *const subs[] = {"stats", "terms",  "propose", "prune",
                                           "reset", "export", "import",  NULL};
        const char *guess = cli_suggest(o->sub, subs);
        if (guess)
            return cmd_usage_error(&cmd_state, "unknown subcommand '%s'; did you mean '%s'?",
                                   o->sub, guess);
        return cmd_usage_error(&cmd_state, "unknown subcommand '%s'", o->sub);
    }
    for (int i = 2; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(o->sub, "import") == 0 && (a[0] != '-' || strcmp(a, "-") == 0)) {
            if (o->file)
                return cmd_usage_error(&cmd_state, "import reads one FILE");
            o->file = a;
            continue;
        }
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
        if (strcmp(name, "--state") && strcmp(name, "--state-password-file") &&
            strcmp(name, "--rule") && strcmp(name, "--where") && strcmp(name, "--older-than") &&
            strcmp(name, "--limit") && strcmp(name, "--min-days") && strcmp(name, "--outbox")) {
            static const struct option known[] = {
                {"json", 0, NULL, 0},       {"yes", 0, NULL, 0},
                {"all", 0, NULL, 0},        {"stale", 0, NULL, 0},
                {"state-init", 0, NULL, 0}, {"all-baselines", 0, NULL, 0},
                {"state", 1, NULL, 0},      {"state-password-file", 1, NULL, 0},
                {"rule", 1, NULL, 0},       {"where", 1, NULL, 0},
                {"older-than", 1, NULL, 0}, {"limit", 1, NULL, 0},
                {"min-days", 1, NULL, 0},   {"outbox", 1, NULL, 0},
                {NULL, 0, NULL, 0},
            };
            return cmd_unknown_option(&cmd_state, known, a);
        }
        if (!val) {
            if (i + 1 >= argc)
                return cmd_usage_error(&cmd_state, "option '%s' needs a value", name);
            val = argv[++i];
        }
        if (strcmp(name, "--state") == 0) {
            o->state = val;
        } else if (strcmp(name, "--state-password-file") == 0) {
            o->password_file = val;
        } else if (strcmp(name, "--outbox") == 0) {
            o->outbox = val;
        } else if (strcmp(name, "--rule") == 0) {
            o->rule = val;
        } else if (strcmp(name, "--where") == 0) {
            int rc = parse_where(o, val);
            if (rc)
                return rc;
        } else if (strcmp(name, "--older-than") == 0) {
            if (kad_duration_parse(val, &o->older_than_ms, NULL) != KAD_OK)
                o->older_than_ms = -1;
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
    if (o->outbox && strcmp(o->sub, "stats") != 0)
        return cmd_usage_error(&cmd_state, "--outbox is an option of 'state stats'");
    if (o->rule && strcmp(o->sub, "stats") == 0)
        return cmd_usage_error(&cmd_state, "--rule is not an option of 'state stats'");
    if (is_reset) {
        if (!o->rule == !o->all)
            return cmd_usage_error(&cmd_state, "reset wants either --rule ID or --all");
    }
    if (strcmp(o->sub, "import") == 0 && !o->file)
        return cmd_usage_error(&cmd_state, "import wants a FILE (or - for stdin)");
    if ((strcmp(o->sub, "export") == 0 || strcmp(o->sub, "import") == 0) && o->rule)
        return cmd_usage_error(&cmd_state, "export and import move the whole state (no --rule)");
    if (o->password_file && !cli_state_is_url(o->state))
        return cmd_usage_error(&cmd_state, "--state-password-file is for --state redis://...");
    if (!o->state) {
        o->state = cli_default_state_path(o->state_buf, sizeof(o->state_buf));
        if (!o->state)
            return cmd_usage_error(&cmd_state, "default state path too long; use --state FILE");
    }
    return 0;
}

static int open_state(const struct opts *o, int mode, kad_state **st)
{
    kad_err e;
    kad_err_clear(&e);
    struct stat sb;
    if (mode == KAD_STATE_RW && strcmp(o->sub, "import") != 0 && !cli_state_is_url(o->state) &&
        stat(o->state, &sb) != 0) {
        /* maintenance never creates a state file */
        fprintf(stderr, "kadet state: cannot open state '%s': %s\n", o->state, strerror(errno));
        return EXIT_RUNTIME;
    }
    kad_state_opts so = {.mode = mode, .init = o->state_init};
    char pass[1024];
    if (o->password_file) {
        if (cli_read_password_file("kadet state", o->password_file, pass, sizeof(pass)) != 0)
            return EXIT_RUNTIME;
        so.password = pass;
    }
    int rc = kad_state_open(st, o->state, &so, &e);
    explicit_bzero(pass, sizeof(pass));
    if (rc != 0)
        return runtime_error(&e);
    return 0;
}

/* ---- stats ----------------------------------------------------------------------------- */

struct stats_ctx {
    kad_json *w; /* NULL: text */
    int n;
};

static void fields_text(const kad_state_rule *r, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->nfields && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%.*s", i ? ", " : "", (int)r->field_lens[i],
                                r->fields[i]);
    if (!r->nfields)
        snprintf(buf, n, "-");
}

static int stats_rule(const kad_state_rule *r, void *ud)
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
    kad_json *w = c->w;
    kad_json_obj_begin(w);
    kad_json_keyc(w, "rule_id");
    kad_json_strc(w, r->rule_id);
    kad_json_keyc(w, "name");
    kad_json_strc(w, r->name);
    kad_json_keyc(w, "logic_hash");
    kad_json_strc(w, hash);
    kad_json_keyc(w, "current");
    kad_json_bool(w, r->current);
    kad_json_keyc(w, "fields");
    kad_json_arr_begin(w);
    for (size_t i = 0; i < r->nfields; i++)
        kad_json_str(w, r->fields[i], r->field_lens[i]);
    kad_json_arr_end(w);
    kad_json_keyc(w, "window_ms");
    kad_json_int(w, r->window_ms);
    kad_json_keyc(w, "terms");
    kad_json_int(w, (int64_t)r->terms);
    kad_json_keyc(w, "alerts");
    kad_json_int(w, (int64_t)r->alerts);
    kad_json_keyc(w, "watermark");
    if (r->watermark == KAD_TIME_NONE)
        kad_json_null(w);
    else
        kad_json_strc(w, wm);
    kad_json_keyc(w, "first_loaded");
    kad_json_strc(w, first);
    kad_json_keyc(w, "last_loaded");
    kad_json_strc(w, last);
    kad_json_obj_end(w);
    return 0;
}

static int stats_pos(const char *source, int64_t offset, int64_t line, void *ud)
{
    struct stats_ctx *c = ud;
    if (!c->w) {
        if (c->n++ == 0)
            printf("\ninput positions:\n");
        printf("  %s: offset %" PRId64 ", line %" PRId64 "\n", source, offset, line);
        return 0;
    }
    kad_json_obj_begin(c->w);
    kad_json_keyc(c->w, "source");
    kad_json_strc(c->w, source);
    kad_json_keyc(c->w, "offset");
    kad_json_int(c->w, offset);
    kad_json_keyc(c->w, "line");
    kad_json_int(c->w, line);
    kad_json_obj_end(c->w);
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
    kad_json_keyc(c->w, name);
    kad_json_int(c->w, value);
    return 0;
}

/* The outputs' delivery counters from the outbox beside the state (written by scan --sink and
   serve's sinks); nothing when there is no outbox. */
struct outbox_ctx {
    kad_json *w;
    int n;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stats_output(const kad_outbox_output *x, void *ud)
{
    struct outbox_ctx *c = ud;
    int64_t age = x->pending && x->oldest_ms ? wall_ms() - x->oldest_ms : 0;
    if (!c->w) {
        if (c->n++ == 0)
            printf("%-40s %9s %8s %7s %8s %8s %9s\n", "  OUTPUT", "DELIVERED", "RETRIED", "FAILED",
                   "FILTERED", "PENDING", "OLDEST");
        char a[32];
        fmt_dur(age, a, sizeof(a));
        printf("  %-38s %9" PRId64 " %8" PRId64 " %7" PRId64 " %8" PRId64 " %8" PRId64 " %9s\n",
               x->name, x->delivered, x->retried, x->failed, x->filtered, x->pending,
               x->pending ? a : "-");
        return;
    }
    kad_json *w = c->w;
    kad_json_obj_begin(w);
    kad_json_keyc(w, "name");
    kad_json_strc(w, x->name);
    kad_json_keyc(w, "delivered");
    kad_json_int(w, x->delivered);
    kad_json_keyc(w, "retried");
    kad_json_int(w, x->retried);
    kad_json_keyc(w, "failed");
    kad_json_int(w, x->failed);
    kad_json_keyc(w, "filtered");
    kad_json_int(w, x->filtered);
    kad_json_keyc(w, "queue_depth");
    kad_json_int(w, x->pending);
    kad_json_keyc(w, "oldest_pending_age_ms");
    kad_json_int(w, age);
    kad_json_obj_end(w);
}

static const char *outbox_path(const struct opts *o, char *buf, size_t n)
{
    if (o->outbox)
        return o->outbox;
    snprintf(buf, n, "%s.outbox", o->state);
    struct stat sb;
    return stat(buf, &sb) == 0 ? buf : NULL;
}

static int do_stats(kad_state *st, const struct opts *o)
{
    char obuf[4200];
    const char *box = outbox_path(o, obuf, sizeof(obuf));
    kad_err e;
    kad_err_clear(&e);
    kad_state_stats s;
    if (kad_state_stats_get(st, &s, &e))
        return runtime_error(&e);
    char db[32], wal[32];
    fmt_bytes(s.db_bytes, db, sizeof(db));
    fmt_bytes(s.wal_bytes, wal, sizeof(wal));
    int rc;
    if (!o->json) {
        if (kad_state_shared(st))
            printf("state:        %s (shared)\n", kad_state_location(st));
        else
            printf("state:        %s (%s, wal %s)\n", o->state, db, wal);
        printf("baselines:    %" PRIu64 "\n", s.baselines);
        printf("combinations: %" PRIu64 "\n", s.combinations);
        printf("alert ids:    %" PRIu64 "\n", s.alert_ids);
        printf("inputs:       %" PRIu64 "\n", s.inputs);
        struct stats_ctx c = {0};
        if (kad_state_rules(st, NULL, stats_rule, &c, &e) != 0)
            return runtime_error(&e);
        c.n = 0;
        if (kad_state_inputs(st, stats_pos, &c, &e) != 0)
            return runtime_error(&e);
        c.n = 0;
        kad_state_counters(st, stats_counter, &c);
        if (box) {
            printf("\noutputs (outbox %s):\n", box);
            struct outbox_ctx oc = {0};
            if (kad_outbox_stats(box, stats_output, &oc, &e) != KAD_OK)
                return runtime_error(&e);
            if (!oc.n)
                printf("  none\n");
        }
        return EXIT_OK;
    }
    kad_json *w = kad_json_new();
    struct stats_ctx c = {.w = w};
    kad_json_obj_begin(w);
    kad_json_keyc(w, "path");
    kad_json_strc(w, kad_state_shared(st) ? kad_state_location(st) : o->state);
    kad_json_keyc(w, "db_bytes");
    kad_json_int(w, s.db_bytes);
    kad_json_keyc(w, "wal_bytes");
    kad_json_int(w, s.wal_bytes);
    kad_json_keyc(w, "baselines");
    kad_json_int(w, (int64_t)s.baselines);
    kad_json_keyc(w, "combinations");
    kad_json_int(w, (int64_t)s.combinations);
    kad_json_keyc(w, "alert_ids");
    kad_json_int(w, (int64_t)s.alert_ids);
    kad_json_keyc(w, "rules");
    kad_json_arr_begin(w);
    rc = kad_state_rules(st, NULL, stats_rule, &c, &e);
    kad_json_arr_end(w);
    kad_json_keyc(w, "inputs");
    kad_json_arr_begin(w);
    if (rc == 0)
        rc = kad_state_inputs(st, stats_pos, &c, &e);
    kad_json_arr_end(w);
    kad_json_keyc(w, "counters");
    kad_json_obj_begin(w);
    kad_state_counters(st, stats_counter, &c);
    kad_json_obj_end(w);
    if (box && rc == 0) {
        kad_json_keyc(w, "outbox");
        kad_json_strc(w, box);
        kad_json_keyc(w, "outputs");
        kad_json_arr_begin(w);
        struct outbox_ctx oc = {.w = w};
        rc = kad_outbox_stats(box, stats_output, &oc, &e);
        kad_json_arr_end(w);
    }
    kad_json_obj_end(w);
    if (rc == 0)
        printf("%s\n", kad_json_text(w, NULL));
    kad_json_free(w);
    return rc ? runtime_error(&e) : EXIT_OK;
}

/* ---- terms ----------------------------------------------------------------------------- */

#define TERMS_BUFFER_ROWS 2000
#define TERMS_COL_MAX 60

struct terms_ctx {
    const struct opts *o;
    bool any_rule;
    uint64_t n;
    struct strbuf line;
    kad_json *json;
    /* text mode: rows of the current rule, buffered to align the columns */
    char last_rule[512];
    uint64_t last_hash;
    char rule_hdr[512];
    char *hdr[KAD_STATE_FIELDS_MAX];
    size_t ncols;
    char **rows; /* "first\x1flast\x1falert\x1fc1\x1fc2..." */
    size_t nrows, caprows;
};

/* Column title: the last segment of a field name, or the last two for generic last words
   ("user_agent.original"). */
static bool seg_is(const char *p, size_t n, const char *w)
{
    return n == strlen(w) && memcmp(p, w, n) == 0;
}

static char *short_field(const char *fp, size_t flen)
{
    size_t i = flen, cut = 0;
    int seen = 0;
    while (i > 0) {
        char ch = fp[i - 1];
        if (ch == '.' || ch == '/') {
            const char *lp = fp + i;
            size_t ln = flen - i;
            if (seen == 0 &&
                (seg_is(lp, ln, "original") || seg_is(lp, ln, "name") || seg_is(lp, ln, "id"))) {
                seen = 1;
                i--;
                continue;
            }
            cut = i;
            break;
        }
        i--;
    }
    return strndup(fp + cut, flen - cut);
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
    size_t ncol = 3 + c->ncols, w[3 + KAD_STATE_FIELDS_MAX] = {10, 9, 5};
    for (size_t j = 0; j < c->ncols; j++)
        w[3 + j] = field_width(c->hdr[j]);
    for (size_t i = 0; i < c->nrows; i++) {
        const char *p = c->rows[i];
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
    for (size_t i = 0; i < c->nrows; i++) {
        const char *p = c->rows[i];
        for (size_t j = 0; j < ncol && p; j++) {
            const char *e = strchr(p, '\x1f');
            size_t len = e ? (size_t)(e - p) : strlen(p), fw = field_width(p);
            int pad = j + 1 < ncol && fw < w[j] ? (int)(w[j] - fw) : 0;
            printf("%s%.*s%*s", j ? "  " : "", (int)len, p, pad, "");
            p = e ? e + 1 : NULL;
        }
        printf("\n");
        free(c->rows[i]);
    }
    c->nrows = 0;
}

static void end_rule(struct terms_ctx *c)
{
    flush_rows(c);
    for (size_t j = 0; j < c->ncols; j++)
        free(c->hdr[j]);
    c->ncols = 0;
}

static void term_json(struct terms_ctx *c, const kad_state_term *t, const char *first,
                      const char *last)
{
    const kad_state_rule *r = t->rule;
    kad_json *w = c->json;
    kad_json_reset(w);
    kad_json_obj_begin(w);
    kad_json_keyc(w, "rule_id");
    kad_json_strc(w, r->rule_id);
    kad_json_keyc(w, "rule_name");
    kad_json_strc(w, r->name);
    kad_json_keyc(w, "first_seen");
    kad_json_strc(w, first);
    kad_json_keyc(w, "last_seen");
    kad_json_strc(w, last);
    kad_json_keyc(w, "alerted");
    kad_json_bool(w, t->alerted);
    kad_json_keyc(w, "terms");
    kad_json_obj_begin(w);
    for (size_t i = 0; i < t->ncomps; i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        if (i < r->nfields)
            kad_json_key(w, r->fields[i], r->field_lens[i]);
        else
            kad_json_keyc(w, idx);
        kad_json_str(w, t->values[i], t->lens[i]);
    }
    kad_json_obj_end(w);
    kad_json_obj_end(w);
    if (kad_json_error(w) == 0)
        printf("%s\n", kad_json_text(w, NULL));
}

static int term_row(const kad_state_term *t, void *ud)
{
    struct terms_ctx *c = ud;
    const kad_state_rule *r = t->rule;
    char first[40], last[40];
    fmt_time(t->first_seen, first, sizeof(first));
    fmt_time(t->last_seen, last, sizeof(last));
    c->n++;
    if (c->o->json) {
        term_json(c, t, first, last);
        return 0;
    }
    if (!c->any_rule || r->logic_hash != c->last_hash || strcmp(r->rule_id, c->last_rule) != 0) {
        if (c->any_rule)
            end_rule(c);
        snprintf(c->rule_hdr, sizeof(c->rule_hdr), "%s== %s  %s%s\n", c->any_rule ? "\n" : "",
                 r->rule_id, r->name, r->current ? "" : "  (stale baseline)");
        c->ncols = r->nfields;
        for (size_t j = 0; j < r->nfields; j++)
            c->hdr[j] = short_field(r->fields[j], r->field_lens[j]);
        c->any_rule = true;
        c->last_hash = r->logic_hash;
        snprintf(c->last_rule, sizeof(c->last_rule), "%s", r->rule_id);
    }
    sb_reset(&c->line);
    sb_addf(&c->line, "%s\x1f%s\x1f%s", first, last, t->alerted ? "yes" : "no");
    for (size_t i = 0; i < t->ncomps && i < c->ncols; i++) {
        sb_addc(&c->line, '\x1f');
        if (t->lens[i] == 0)
            sb_adds(&c->line, "\"\"");
        /* control bytes would break the table: show them escaped */
        for (size_t j = 0; j < t->lens[i]; j++) {
            unsigned char ch = (unsigned char)t->values[i][j];
            if (ch < 0x20 || ch == 0x7f)
                sb_addf(&c->line, "\\x%02x", ch);
            else
                sb_addc(&c->line, (char)ch);
        }
    }
    if (c->nrows == c->caprows) {
        c->caprows = c->caprows ? 2 * c->caprows : 64;
        c->rows = realloc(c->rows, c->caprows * sizeof(*c->rows));
        if (!c->rows) {
            fputs("kadet: out of memory\n", stderr);
            exit(EXIT_RUNTIME);
        }
    }
    c->rows[c->nrows++] = strdup(c->line.ptr ? c->line.ptr : "");
    if (c->nrows >= TERMS_BUFFER_ROWS)
        flush_rows(c);
    return 0;
}

static int do_terms(kad_state *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    kad_state_filter f = {.rule_id = o->rule,
                          .all_baselines = o->all_baselines,
                          .conds = o->conds,
                          .nconds = o->nconds,
                          .limit = o->limit};
    struct terms_ctx c = {.o = o, .json = kad_json_new()};
    int rc = kad_state_terms(st, &f, term_row, &c, &e);
    if (c.any_rule)
        end_rule(&c);
    free(c.rows);
    sb_fini(&c.line);
    kad_json_free(c.json);
    if (rc)
        return runtime_error(&e);
    if (!o->json && c.n == 0)
        fprintf(stderr, "kadet state: no combinations%s\n",
                o->rule || o->nconds ? " match" : " in this state");
    return EXIT_OK;
}

/* ---- prune and reset ------------------------------------------------------------------- */

static int do_prune(kad_state *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    kad_state_prune_opts po = {
        .rule_id = o->rule, .older_than_ms = o->older_than_ms, .stale = o->stale};
    kad_state_prune_result r;
    if (kad_state_prune(st, &po, &r, &e))
        return runtime_error(&e);
    printf("pruned %" PRIu64 " combinations, %" PRIu64 " alert ids, %" PRIu64 " stale baselines\n",
           r.terms, r.alerts, r.baselines);
    return EXIT_OK;
}

static int do_reset(kad_state *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    uint64_t n = 0;
    if (kad_state_reset(st, o->rule, &n, &e))
        return runtime_error(&e);
    if (o->rule)
        printf("reset rule %s: %" PRIu64 " combinations removed\n", o->rule, n);
    else
        printf("reset: %" PRIu64 " combinations removed; rules, alert ids, input positions and "
               "counters cleared\n",
               n);
    return EXIT_OK;
}

/* ---- export and import ------------------------------------------------------------------- */

static int export_line(const char *line, size_t len, void *ud)
{
    (void)ud;
    fwrite(line, 1, len, stdout);
    return putchar('\n') == EOF ? -1 : 0;
}

static int do_export(kad_state *st)
{
    kad_err e;
    kad_err_clear(&e);
    kad_state_io_result r;
    int rc = kad_state_export(st, export_line, NULL, &r, &e);
    if (rc < 0 && e.code == KAD_OK) {
        fprintf(stderr, "kadet state: export: cannot write to stdout\n");
        return EXIT_RUNTIME;
    }
    if (rc)
        return runtime_error(&e);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "kadet state: export: cannot write to stdout\n");
        return EXIT_RUNTIME;
    }
    fprintf(stderr,
            "exported %" PRIu64 " baselines, %" PRIu64 " combinations, %" PRIu64 " alert ids\n",
            r.baselines, r.terms, r.alerts);
    return EXIT_OK;
}

static int do_import(kad_state *st, const struct opts *o)
{
    FILE *f = strcmp(o->file, "-") == 0 ? stdin : fopen(o->file, "rb");
    if (!f) {
        fprintf(stderr, "kadet state: import: %s: %s\n", o->file, strerror(errno));
        return EXIT_RUNTIME;
    }
    struct strbuf text = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sb_add(&text, buf, n);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        fprintf(stderr, "kadet state: import: %s: read error\n", o->file);
        sb_fini(&text);
        return EXIT_RUNTIME;
    }
    kad_err e;
    kad_err_clear(&e);
    kad_state_io_result r;
    int rc = kad_state_import(st, text.ptr ? text.ptr : "", text.len, &r, &e);
    sb_fini(&text);
    if (rc)
        return runtime_error(&e);
    printf("imported %" PRIu64 " baselines, %" PRIu64 " combinations, %" PRIu64 " alert ids\n",
           r.baselines, r.terms, r.alerts);
    return EXIT_OK;
}

/* ---- propose ----------------------------------------------------------------------------- */

/* Learned allow-list proposals (kad_state_propose): printed when one rule has some; with
   several, the rules are listed and one must be chosen with --rule. */
struct propose_ctx {
    struct strbuf first; /* the first rule's exception file */
    struct strbuf list;  /* "  ID  N items  NAME" lines */
};

static int propose_one(const kad_proposal *p, const char *toml, size_t len, void *ud)
{
    struct propose_ctx *c = ud;
    if (!c->first.len)
        sb_add(&c->first, toml, len);
    sb_addf(&c->list, "  %s  %zu item%s  %s\n", p->rule_id, p->items, p->items == 1 ? "" : "s",
            p->name);
    return 0;
}

static int do_propose(kad_state *st, const struct opts *o)
{
    kad_err e;
    kad_err_clear(&e);
    struct propose_ctx c = {{0}, {0}};
    int with = kad_state_propose(st, o->rule, o->min_days > 0 ? o->min_days * 86400000LL : 0,
                                 propose_one, &c, &e);
    int rc = EXIT_OK;
    if (with < 0) {
        rc = runtime_error(&e);
    } else if (with == 1) {
        fwrite(c.first.ptr, 1, c.first.len, stdout);
    } else if (with > 1) {
        fprintf(stderr, "kadet state: proposals for %d rules; choose one with --rule ID:\n", with);
        fputs(c.list.ptr, stderr);
        rc = EXIT_USAGE;
    } else {
        fprintf(stderr, "kadet state: no combination was seen through a whole baseline%s\n",
                o->min_days > 0 ? " of that length" : "");
    }
    sb_fini(&c.first);
    sb_fini(&c.list);
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
    bool writes =
        strcmp(o.sub, "prune") == 0 || strcmp(o.sub, "reset") == 0 || strcmp(o.sub, "import") == 0;
    if (strcmp(o.sub, "reset") == 0 && !o.yes) {
        const char *shown = o.state, *at = strrchr(o.state, '@');
        if (cli_state_is_url(o.state) && at) /* no password on the screen */
            shown = at + 1;
        fprintf(stderr, "kadet state: reset deletes %s from '%s'; add --yes to confirm\n",
                o.rule ? "the rule's baselines" : "everything", shown);
        return EXIT_USAGE;
    }
    kad_state *st;
    if ((rc = open_state(&o, writes ? KAD_STATE_RW : KAD_STATE_RO, &st)) != 0)
        return rc;
    if (strcmp(o.sub, "stats") == 0)
        rc = do_stats(st, &o);
    else if (strcmp(o.sub, "terms") == 0)
        rc = do_terms(st, &o);
    else if (strcmp(o.sub, "prune") == 0)
        rc = do_prune(st, &o);
    else if (strcmp(o.sub, "propose") == 0)
        rc = do_propose(st, &o);
    else if (strcmp(o.sub, "export") == 0)
        rc = do_export(st);
    else if (strcmp(o.sub, "import") == 0)
        rc = do_import(st, &o);
    else
        rc = do_reset(st, &o);
    kad_state_close(st);
    fflush(stdout);
    return rc;
}

const struct cmd cmd_state = {
    .name = "state",
    .summary = "inspect and maintain the new-terms state (stats, terms, propose, prune, reset)",
    .usage =
        "usage: kadet state stats [--state FILE] [--outbox FILE] [--json]\n"
        "       kadet state terms [--state FILE] [--rule ID] [--where FIELD=VALUE]...\n"
        "                         [--where FIELD~SUBSTRING]... [--all-baselines] [--limit N]\n"
        "                         [--json]\n"
        "       kadet state propose [--state FILE] [--rule ID] [--min-days N]\n"
        "       kadet state prune [--state FILE [--state-init]] [--rule ID] [--older-than DUR]\n"
        "                         [--stale]\n"
        "       kadet state reset [--state FILE [--state-init]] (--rule ID | --all) --yes\n"
        "       kadet state export [--state FILE|URL] > FILE\n"
        "       kadet state import [--state FILE|URL] FILE|-\n"
        "\n"
        "--state takes a state file or a Redis URL shared by several running kadets,\n"
        "redis://[USER[:PASSWORD]@]HOST[:PORT][/DB][?instance=NAME] (docs/state-redis.md;\n"
        "rediss:// for TLS: &ca=FILE, &cert=FILE&key=FILE, &servername=NAME);\n"
        "--state-password-file FILE gives its password (the file's first line).\n"
        "\n"
        "The state file holds, per new_terms rule, every combination of new-terms values seen,\n"
        "with first and last seen (event time), plus input positions, emitted alert ids and\n"
        "counters. Default file: $XDG_STATE_HOME/kadet/state.db (~/.local/state/kadet/state.db).\n"
        "\n"
        "  stats   baselines (rule id + logic hash), combinations, alert ids, sizes, watermarks\n"
        "          (largest event time seen), input positions, counters, and per output of the\n"
        "          outbox (STATE.outbox or --outbox FILE; scan --sink, serve's sinks) alerts\n"
        "          delivered, retried, failed (dead-lettered), filtered, pending, oldest age\n"
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
        "  export  write every baseline, combination and alert id as NDJSON on stdout\n"
        "  import  read an export into the state (a new file is created): moves a state\n"
        "          between a file and Redis (docs/state-redis.md)\n"
        "\n"
        "prune and reset refuse a state file that exists but is empty (0 bytes), as scan does;\n"
        "--state-init makes it an empty state instead (reset --all --state-init starts anew).\n"
        "\n"
        "stats, terms and propose open the file read-only and work while kadet scan runs.\n"
        "Exit status: 0 ok, 1 usage error, 2 runtime error (missing or unreadable state).\n",
    .run = run,
};

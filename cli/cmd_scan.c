/*
 * cmd_scan.c - `kadet scan`: run the loaded rules over audit logs (files, .gz, stdin, or the
 * audit webhook with --listen), write alerts as NDJSON (or a table) and a summary per rule.
 *
 * The engine and its policy (input positions and resume keys, batches, the commit order and
 * fsync, pruning, the webhook's per-request commit, truncating --output on resume) are
 * libkad's kad_engine (include/kad.h, docs/internals/engine.md). This file parses options,
 * calls the API and formats: the table, the progress bar, the summary, the webhook answers.
 */
#include "cmd.h"
#include "decodeopt.h"
#include "kad.h"
#include "listen.h"
#include "rulesdir.h"
#include "statepath.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const struct cmd cmd_scan;

#define MAX_PATHS 64
#define TABLE_ROW_MAX 65536 /* > the largest combination (8 KiB) and a rule name */

struct scan {
    /* options */
    const char *rules[MAX_PATHS];
    size_t nrules;
    const char *exceptions[MAX_PATHS];
    size_t nexceptions;
    const char *state_path;
    bool no_state;
    bool learn;
    bool table;
    bool from_start;
    bool no_baseline;
    kad_decode_opts dec; /* host metadata on by default (issue 3), clocks */
    int progress;        /* -1 auto, 0 off, 1 on */
    int format;          /* KAD_FORMAT_* */
    const char *output;
    int64_t now_ms;
    long batch;
    const char *listen; /* --listen HOST:PORT: the audit webhook receiver instead of FILEs */
    const char *listen_path;
    size_t max_body;
    /* run */
    kad_rules *rs;
    kad_state *st;
    kad_engine *e;
    double last_flush;
    int rc;
    /* progress */
    bool show_progress;
    int64_t total_bytes, done_bytes;
    double t0, last_draw;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void print_err(const kad_err *err)
{
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err_format(err, msg, sizeof(msg));
    fprintf(stderr, "kadet: %s\n", msg);
}

/* ============================================================================================ */
/* Progress                                                                                     */
/* ============================================================================================ */

static void progress(struct scan *s, bool final)
{
    if (!s->show_progress)
        return;
    double t = now_s();
    if (!final && t - s->last_draw < 0.2)
        return;
    s->last_draw = t;
    kad_engine_stats c;
    kad_engine_stats_get(s->e, &c);
    double el = t - s->t0;
    double mb = (double)c.bytes / 1e6;
    if (s->total_bytes > 0) {
        double frac =
            (double)(s->done_bytes + (c.input_offset - c.input_base)) / (double)s->total_bytes;
        if (frac > 1)
            frac = 1;
        int w = 30, fill = (int)(frac * w);
        char bar[40];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %8.1f MB %7.1f MB/s %llu alerts ", bar, (int)(frac * 100), mb,
                el > 0 ? mb / el : 0.0, (unsigned long long)c.alerts);
    } else {
        fprintf(stderr, "\r%llu records %8.1f MB %7.1f MB/s %llu alerts ",
                (unsigned long long)c.records, mb, el > 0 ? mb / el : 0.0,
                (unsigned long long)c.alerts);
    }
    if (final)
        fputs("\r\033[K", stderr);
}

static void on_record(void *ud) { progress(ud, false); }

/* ============================================================================================ */
/* The table (--table)                                                                          */
/* ============================================================================================ */

struct row {
    char b[TABLE_ROW_MAX];
    size_t n;
};
static struct row row; /* one alert's line (the engine calls on_alert on one thread) */

static void row_addc(struct row *r, char c)
{
    if (r->n < sizeof(r->b))
        r->b[r->n++] = c;
}

static void row_adds(struct row *r, const char *s)
{
    while (*s)
        row_addc(r, *s++);
}

static void table_cell(struct row *r, const char *p, size_t n, int width)
{
    if (width > 0 && n > (size_t)width)
        n = (size_t)width;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        row_addc(r, (c == '\n' || c == '\t' || c == '\r') ? ' ' : c);
    }
    for (int i = (int)n; i < width; i++)
        row_addc(r, ' ');
}

static int on_alert(const kad_alert *a, void *ud)
{
    struct scan *s = ud;
    struct row *r = &row;
    r->n = 0;
    char t[32];
    kad_time_format(a->event_ms == KAD_TIME_NONE ? 0 : a->event_ms, t);
    t[19] = '\0';
    table_cell(r, t, strlen(t), 20);
    row_addc(r, ' ');
    const char *sev = a->severity ? a->severity : "-";
    table_cell(r, sev, strlen(sev), 7);
    row_addc(r, ' ');
    if (a->user_len)
        table_cell(r, a->user, a->user_len, 44);
    else
        table_cell(r, "-", 1, 44);
    row_addc(r, ' ');
    if (a->nterms) {
        for (size_t i = 0; i < a->nterms; i++) {
            const char *f = a->term_fields ? a->term_fields[i] : NULL;
            if (f && strstr(f, "user") && !strstr(f, "user_agent"))
                continue; /* already in the user column */
            if (i)
                row_adds(r, " | ");
            table_cell(r, a->terms[i], a->term_lens[i], 0);
        }
    } else {
        row_adds(r, a->rule_name ? a->rule_name : "");
    }
    row_addc(r, '\n');
    return kad_engine_output(s->e, r->b, r->n, NULL) == KAD_OK ? KAD_ALERT_TAKEN : KAD_ELIMIT;
}

/* ============================================================================================ */
/* The audit webhook receiver (--listen; HTTP in cli/listen.c)                                  */
/* ============================================================================================ */

/*
 * One POSTed body (on the HTTP thread; the only thread touching *s until the server stops):
 * kad_engine_body runs and commits it before the answer.
 */
static int on_body(void *ctx, const struct cli_listen_req *rq, char *reply, size_t size, bool *stop)
{
    struct scan *s = ctx;
    if (kad_engine_failed(s->e)) {
        *stop = true;
        snprintf(reply, size, "kadet: stopping after an error (see its stderr)\n");
        return 500;
    }
    kad_body_result res;
    kad_err err;
    kad_err_clear(&err);
    int rc = kad_engine_body(s->e, rq->body, rq->len, rq->n, rq->peer, &res, &err);
    if (rc == KAD_ESYNTAX && !kad_engine_failed(s->e)) {
        /* not JSON at all: 400 (a framed batch with bad records is answered 200 instead, or
           kube-apiserver would send it again forever) */
        char msg[KAD_ERR_MSG_MAX + 512];
        kad_err_format(&err, msg, sizeof(msg));
        snprintf(reply, size, "request %llu from %s: %s\n", (unsigned long long)rq->n, rq->peer,
                 msg);
        return 400;
    }
    if (rc != KAD_OK) {
        print_err(&err);
        s->rc = EXIT_RUNTIME;
        *stop = true;
        snprintf(reply, size, "kadet: stopping after an error (see its stderr)\n");
        return 500;
    }
    double t = now_s();
    if (t - s->last_flush >= 60) { /* "N more suppressed" once a minute at most */
        kad_engine_log_flush(s->e);
        s->last_flush = t;
    }
    snprintf(reply, size, "{\"records\":%llu,\"events\":%llu,\"skipped\":%llu,\"alerts\":%llu}\n",
             (unsigned long long)res.records, (unsigned long long)res.events,
             (unsigned long long)res.skipped, (unsigned long long)res.alerts);
    return 200;
}

/* ============================================================================================ */
/* Setup and summary                                                                            */
/* ============================================================================================ */

static int load_rules(struct scan *s)
{
    s->rs = kad_rules_new();
    if (s->nrules == 0) {
        /* the same search as `kadet rules` (cli/rulesdir.c, docs/rules.md) */
        const char *d = cli_rules_dir();
        s->rules[s->nrules++] = d;
    }
    int bad = 0;
    for (size_t i = 0; i < s->nrules; i++)
        bad |= kad_rules_load(s->rs, s->rules[i], NULL) != KAD_OK;
    for (size_t i = 0; i < s->nexceptions; i++)
        bad |= kad_rules_load_exceptions(s->rs, s->exceptions[i], NULL) != KAD_OK;
    for (size_t i = 0; i < kad_rules_diag_count(s->rs); i++) {
        int is_error = 0;
        const kad_err *d = kad_rules_diag(s->rs, i, &is_error);
        char msg[KAD_ERR_MSG_MAX + 512];
        kad_err_format(d, msg, sizeof(msg));
        if (!is_error && strstr(msg, "unsupported rule type"))
            continue; /* counted in the summary ("loaded and skipped") */
        if (!is_error) {
            /* kad_err_format writes "error:"; say warning for warnings */
            char *p = strstr(msg, "error: ");
            if (p) {
                fprintf(stderr, "%.*swarning: %s\n", (int)(p - msg), msg, p + 7);
                continue;
            }
        }
        fprintf(stderr, "%s\n", msg);
    }
    if (bad) {
        fprintf(stderr, "kadet: scan: rules have errors (see above); nothing scanned\n");
        return EXIT_USAGE;
    }
    if (kad_rules_count(s->rs) == 0) {
        fprintf(stderr, "kadet: scan: no rules found in the given paths\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void report_baselines(struct scan *s)
{
    for (size_t i = 0; i < kad_engine_rule_count(s->e); i++) {
        kad_rule_stats st;
        kad_rule_info r;
        kad_engine_rule_stats(s->e, i, &st);
        kad_rules_info(s->rs, i, &r);
        if (st.baseline == KAD_BASELINE_CHANGED)
            fprintf(stderr,
                    "kadet: rule '%s' (%s): its logic (query, fields, window or exceptions) "
                    "changed: starting a new baseline (the old one is kept until `kadet state "
                    "prune --stale`)\n",
                    r.name, r.rule_id);
        else if (st.baseline == KAD_BASELINE_REVERTED)
            fprintf(stderr,
                    "kadet: rule '%s' (%s): its logic changed back to an earlier version: "
                    "resuming that baseline\n",
                    r.name, r.rule_id);
    }
}

/* Rules that test host.* fields never match raw audit events under --no-host-metadata (the
   2025 founding rule tests host.os.type): say so once, before scanning. */
static void host_hint(struct scan *s)
{
    if (!s->dec.no_host || s->format == KAD_FORMAT_ECS)
        return;
    for (size_t i = 0; i < kad_engine_rule_count(s->e); i++) {
        const char *f = kad_engine_rule_reads(s->e, i, "host.");
        if (f) {
            kad_rule_info r;
            kad_rules_info(s->rs, i, &r);
            fprintf(stderr,
                    "kadet: note: rule '%s' reads %s; with --no-host-metadata raw audit "
                    "events carry no host.* fields (by default kadet adds this machine's, "
                    "as Elastic Agent does without the `forwarded` tag)\n",
                    r.name, f);
            return;
        }
    }
}

static void summary(struct scan *s, double secs)
{
    kad_engine_stats c;
    kad_engine_stats_get(s->e, &c);
    double mb = (double)c.bytes / 1e6;
    fprintf(stderr, "kadet scan: %llu records, %llu events, %llu skipped",
            (unsigned long long)c.records, (unsigned long long)c.events,
            (unsigned long long)c.skipped);
    if (c.skipped)
        fprintf(stderr, " (invalid JSON or not an event: %llu, too large: %llu, other: %llu)",
                (unsigned long long)c.skipped_syntax, (unsigned long long)c.skipped_limit,
                (unsigned long long)c.skipped_other);
    if (c.not_format)
        fprintf(stderr, ", %llu not in --format", (unsigned long long)c.not_format);
    if (c.pruned)
        fprintf(stderr, ", %llu combinations forgotten (older than twice their window)",
                (unsigned long long)c.pruned);
    fprintf(stderr, "; %.1f MB in %.2f s (%.0f MB/s)\n", mb, secs, secs > 0 ? mb / secs : 0.0);
    fprintf(stderr, "%-56s %10s %10s %8s %s\n", "rule", "matched", "excepted",
            s->learn ? "would" : "alerts", "notes");
    size_t not_run = 0;
    for (size_t i = 0; i < kad_engine_rule_count(s->e); i++) {
        kad_rule_stats st;
        kad_engine_rule_stats(s->e, i, &st);
        if (!st.runs) {
            not_run++;
            continue;
        }
        kad_rule_info r;
        kad_rules_info(s->rs, i, &r);
        char name[57];
        snprintf(name, sizeof(name), "%s", r.name ? r.name : r.rule_id);
        fprintf(stderr, "%-56s %10llu %10llu %8llu", name, (unsigned long long)st.matched,
                (unsigned long long)st.excepted,
                (unsigned long long)(s->learn ? st.would_alert : st.alerts));
        const struct {
            const char *what;
            uint64_t n;
        } notes[] = {
            {"max_signals cut", st.max_signals_cut},
            {"already emitted", st.duplicates},
            {"suppressed", st.suppressed},
            {"no value", st.no_terms},
            {"no time", st.no_time},
            {"too late", st.too_late},
        };
        for (size_t k = 0; k < sizeof(notes) / sizeof(notes[0]); k++)
            if (notes[k].n)
                fprintf(stderr, " %s %llu;", notes[k].what, (unsigned long long)notes[k].n);
        fputc('\n', stderr);
    }
    size_t runs = kad_engine_rule_count(s->e) - not_run;
    if (runs > 1)
        fprintf(stderr, "(prefilter: %zu of %zu rules indexed by an exact term)\n",
                kad_engine_prefilter_indexed(s->e), runs);
    if (not_run)
        fprintf(stderr,
                "(%zu rules of types kadet does not run (eql, esql, threshold, ...) "
                "were loaded and skipped)\n",
                not_run);
    if (s->learn)
        fprintf(stderr, "learn: baseline recorded, no alerts written; 'would' is how many "
                        "alerts a scan of the same input would have raised\n");
    char *w = kad_engine_warnings(s->e);
    if (w && *w)
        fputs(w, stderr);
    kad_free(w);
}

static void log_sink(int lvl, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "kadet: %s%s\n",
            lvl == KAD_LOG_ERROR  ? "error: "
            : lvl == KAD_LOG_WARN ? "warning: "
                                  : "",
            msg);
}

/* Open the state (default: the same file as `kadet state`) and lock it for this scan. */
static int open_state(struct scan *s)
{
    char sbuf[PATH_MAX];
    const char *spath = s->state_path;
    if (!s->no_state && !spath) {
        /* cli/statepath.c: XDG, else HOME, else ./ */
        spath = cli_default_state_path(sbuf, sizeof(sbuf));
        if (!spath) {
            fprintf(stderr, "kadet: scan: the default state path is too long: give --state "
                            "FILE or --no-state\n");
            return EXIT_USAGE;
        }
    }
    kad_err err;
    kad_err_clear(&err);
    kad_state_opts so = {s->no_state ? KAD_STATE_MEM : KAD_STATE_RW};
    if (kad_state_open(&s->st, spath, &so, &err) != KAD_OK) {
        print_err(&err);
        return EXIT_RUNTIME;
    }
    if (!s->no_state && kad_state_lock(s->st, &err) != KAD_OK) {
        fprintf(stderr, "kadet: %s\n", err.msg); /* one scan per state file */
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* One FILE (or stdin); false when the scan must stop (a state, output or engine failure). */
static bool scan_one(struct scan *s, const char *path)
{
    struct stat sb;
    bool regular = strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    kad_err err;
    kad_err_clear(&err);
    int rc = kad_engine_scan(s->e, path, &err);
    if (rc == KAD_ENOTFOUND && !kad_engine_failed(s->e)) {
        fprintf(stderr, "kadet: %s\n", err.msg); /* other inputs go on */
        s->rc = EXIT_RUNTIME;
        return true;
    }
    if (rc != KAD_OK) {
        print_err(&err);
        s->rc = EXIT_RUNTIME;
    }
    if (regular) {
        kad_engine_stats c;
        kad_engine_stats_get(s->e, &c);
        s->done_bytes += sb.st_size - c.input_base;
    }
    return !kad_engine_failed(s->e);
}

/* ============================================================================================ */
/* Command                                                                                      */
/* ============================================================================================ */

enum {
    OPT_RULES = 256,
    OPT_EXC,
    OPT_STATE,
    OPT_NOSTATE,
    OPT_LEARN,
    OPT_FORMAT,
    OPT_OUTPUT,
    OPT_TABLE,
    OPT_NOW,
    OPT_BATCH,
    OPT_FROMSTART,
    OPT_PROGRESS,
    OPT_NOPROGRESS,
    OPT_NOBASELINE,
    OPT_LISTEN,
    OPT_LISTEN_PATH,
    OPT_MAX_BODY,
};

static const struct option longopts[] = {
    {"rules", required_argument, NULL, OPT_RULES},
    {"exceptions", required_argument, NULL, OPT_EXC},
    {"state", required_argument, NULL, OPT_STATE},
    {"no-state", no_argument, NULL, OPT_NOSTATE},
    {"learn", no_argument, NULL, OPT_LEARN},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"table", no_argument, NULL, OPT_TABLE},
    {"now", required_argument, NULL, OPT_NOW},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"from-start", no_argument, NULL, OPT_FROMSTART},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NOPROGRESS},
    {"no-baseline", no_argument, NULL, OPT_NOBASELINE},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"listen-path", required_argument, NULL, OPT_LISTEN_PATH},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"host-metadata", no_argument, NULL, CLI_HOST_ON},
    {"no-host-metadata", no_argument, NULL, CLI_HOST_OFF},
    {"host-name", required_argument, NULL, CLI_HOST_NAME},
    {"host-os-type", required_argument, NULL, CLI_HOST_OS_TYPE},
    {"ingested", required_argument, NULL, CLI_DEC_INGESTED},
    {"timestamp", required_argument, NULL, CLI_DEC_TIMESTAMP},
    {NULL, 0, NULL, 0},
};

static int parse_args(struct scan *s, int argc, char **argv)
{
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+r:s:o:", longopts, NULL)) != -1) {
        int dc = cli_decode_opt(&s->dec, c, optarg);
        if (dc < 0)
            return cmd_usage_error(&cmd_scan, "%s, not '%s'", cli_decode_usage(c), optarg);
        if (dc > 0)
            continue;
        switch (c) {
        case 'r':
        case OPT_RULES:
            if (s->nrules == MAX_PATHS)
                return cmd_usage_error(&cmd_scan, "too many --rules");
            s->rules[s->nrules++] = optarg;
            break;
        case OPT_EXC:
            if (s->nexceptions == MAX_PATHS)
                return cmd_usage_error(&cmd_scan, "too many --exceptions");
            s->exceptions[s->nexceptions++] = optarg;
            break;
        case 's':
        case OPT_STATE:
            s->state_path = optarg; /* the last of --state/--no-state wins */
            s->no_state = false;
            break;
        case OPT_NOSTATE:
            s->no_state = true;
            s->state_path = NULL;
            break;
        case OPT_LEARN: s->learn = true; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                s->format = KAD_FORMAT_AUTO;
            else if (strcmp(optarg, "audit") == 0)
                s->format = KAD_FORMAT_AUDIT;
            else if (strcmp(optarg, "ecs") == 0)
                s->format = KAD_FORMAT_ECS;
            else
                return cmd_usage_error(&cmd_scan, "--format: expected auto, audit or ecs, got '%s'",
                                       optarg);
            break;
        case 'o':
        case OPT_OUTPUT: s->output = optarg; break;
        case OPT_TABLE: s->table = true; break;
        case OPT_NOW:
            if (!kad_time_parse(optarg, strlen(optarg), &s->now_ms))
                return cmd_usage_error(&cmd_scan, "--now: not a date-time: '%s'", optarg);
            break;
        case OPT_BATCH: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1)
                return cmd_usage_error(&cmd_scan, "--batch: expected a positive number");
            s->batch = v;
            break;
        }
        case OPT_FROMSTART: s->from_start = true; break;
        case OPT_PROGRESS: s->progress = 1; break;
        case OPT_NOPROGRESS: s->progress = 0; break;
        case OPT_NOBASELINE: s->no_baseline = true; break;
        case OPT_LISTEN: {
            char msg[512];
            if (!cli_listen_addr_ok(optarg, msg, sizeof(msg)))
                return cmd_usage_error(&cmd_scan, "%s", msg);
            s->listen = optarg;
            break;
        }
        case OPT_LISTEN_PATH:
            if (optarg[0] != '/')
                return cmd_usage_error(&cmd_scan,
                                       "--listen-path: expected a path starting "
                                       "with '/', got '%s'",
                                       optarg);
            s->listen_path = optarg;
            break;
        case OPT_MAX_BODY: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            unsigned shift = 0;
            if (*end == 'K' || *end == 'k')
                shift = 10;
            else if (*end == 'M' || *end == 'm')
                shift = 20;
            else if (*end == 'G' || *end == 'g')
                shift = 30;
            if (shift)
                end++;
            if (*end || end == optarg || optarg[0] == '-' || errno || v < 1 ||
                v > ((unsigned long long)SIZE_MAX >> 1 >> shift))
                return cmd_usage_error(&cmd_scan,
                                       "--max-body: expected a positive number of bytes "
                                       "(suffix K, M or G allowed), got '%s'",
                                       optarg);
            s->max_body = (size_t)(v << shift);
            break;
        }
        case ':': return cmd_usage_error(&cmd_scan, "option '%s' needs a value", argv[optind - 1]);
        default: return cmd_usage_error(&cmd_scan, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (s->table && s->output)
        return cmd_usage_error(&cmd_scan, "--table writes to stdout; it excludes --output");
    if (s->listen && optind < argc)
        return cmd_usage_error(&cmd_scan, "--listen receives events over HTTP; it takes no "
                                          "FILE arguments");
    if (!s->listen && (s->listen_path || s->max_body))
        return cmd_usage_error(&cmd_scan, "--listen-path and --max-body need --listen");
    return -1;
}

static int run(int argc, char **argv)
{
    struct scan s;
    memset(&s, 0, sizeof(s));
    s.progress = -1;
    s.now_ms = KAD_TIME_NONE;
    s.batch = 50000;
    s.rc = EXIT_OK;
    int prc = parse_args(&s, argc, argv);
    if (prc >= 0)
        return prc;
    kad_log_set_sink(log_sink, NULL, KAD_LOG_WARN);

    int code = load_rules(&s);
    if (code == EXIT_OK)
        code = open_state(&s);
    if (code != EXIT_OK) {
        kad_state_close(s.st);
        kad_rules_unref(s.rs);
        return code;
    }
    kad_engine_opts o = {
        .rules = s.rs,
        .state = s.st,
        .decode = s.dec,
        .format = s.format,
        .learn = s.learn,
        .no_baseline = s.no_baseline,
        .now_ms = s.now_ms,
        .batch = s.batch,
        .from_start = s.from_start,
        .output_path = s.output,
        .output_fd = 1,
        .on_alert = s.table ? on_alert : NULL,
        .on_record = on_record,
        .ud = &s,
    };
    kad_err err;
    kad_err_clear(&err);
    if (kad_engine_new(&s.e, &o, &err) != KAD_OK) {
        print_err(&err);
        s.rc = EXIT_RUNTIME;
        goto out;
    }
    report_baselines(&s);
    host_hint(&s);
    if (s.table && !s.learn)
        printf("%-20s %-7s %-44s %s\n", "event time (UTC)", "sev", "user", "new terms / rule");
    fflush(stdout);

    const char *stdin_only[] = {"-"};
    char **inputs = argv + optind;
    int ninputs = argc - optind;
    if (ninputs == 0) {
        inputs = (char **)stdin_only;
        ninputs = 1;
    }
    for (int i = 0; i < ninputs; i++) {
        struct stat sb;
        if (strcmp(inputs[i], "-") != 0 && stat(inputs[i], &sb) == 0 && S_ISREG(sb.st_mode))
            s.total_bytes += sb.st_size;
    }
    s.show_progress =
        s.progress == 1 || (s.progress == -1 && isatty(2) && s.total_bytes > (32 << 20));
    s.t0 = now_s();
    if (s.listen) {
        s.show_progress = false;
        s.last_flush = s.t0;
        struct cli_listen_opts lo = {
            .addr = s.listen,
            .path = s.listen_path,
            .max_body = s.max_body,
            .banner = "kadet scan",
            .on_body = on_body,
            .ctx = &s,
        };
        if (cli_listen_run(&lo) != EXIT_OK && !kad_engine_failed(s.e)) {
            s.rc = EXIT_RUNTIME; /* could not bind (reason printed): nothing was received */
            goto out;
        }
        ninputs = 0;
    }
    for (int i = 0; i < ninputs; i++)
        if (!scan_one(&s, inputs[i]))
            break;
    progress(&s, true);
    if (!kad_engine_failed(s.e) && kad_engine_commit(s.e, &err) != KAD_OK) {
        print_err(&err);
        s.rc = EXIT_RUNTIME;
    }
    kad_engine_log_flush(s.e);
    summary(&s, now_s() - s.t0);
    kad_engine_stats c;
    kad_engine_stats_get(s.e, &c);
    if (s.listen && c.refused)
        fprintf(stderr, "kadet scan: %llu requests refused (not JSON)\n",
                (unsigned long long)c.refused);
    /* --listen: skipped records were answered and reported per request; only a state or
       output failure makes the exit status 2 */
    if (c.skipped && s.rc == EXIT_OK && !s.listen)
        s.rc = EXIT_RUNTIME;
out:
    kad_engine_free(s.e);
    kad_state_close(s.st);
    kad_rules_unref(s.rs);
    return s.rc;
}

const struct cmd cmd_scan = {
    .name = "scan",
    .summary = "run the rules over audit logs: alerts to stdout, state kept across runs",
    .usage =
        "usage: kadet scan [--rules PATH]... [--exceptions FILE]... [--state FILE | --no-state]\n"
        "                  [--learn] [--format auto|audit|ecs] [--output FILE | --table]\n"
        "                  [--now TIME] [--batch N] [--from-start] [--no-baseline]\n"
        "                  [--no-host-metadata] [--host-name NAME] [--host-os-type TYPE]\n"
        "                  [--ingested now|none] [--timestamp stage|request|received]\n"
        "                  [--progress | --no-progress] [FILE...|-]\n"
        "       kadet scan --listen HOST:PORT [--listen-path PATH] [--max-body BYTES] [...]\n"
        "\n"
        "Evaluate every loaded query and new_terms rule on Kubernetes audit logs (raw\n"
        "audit.k8s.io events, EventLists, or ECS documents; plain or .gz; '-' or no FILE reads\n"
        "stdin) and write one alert per line as NDJSON, in the format Elastic writes\n"
        "(docs/alerts.md). A summary per rule goes to stderr.\n"
        "\n"
        "  -r, --rules PATH       rule file or directory (repeatable; default: bundled rules/)\n"
        "      --exceptions FILE  exception list (detection-rules TOML, Kibana NDJSON export,\n"
        "                         or kadet's shorthand; repeatable)\n"
        "  -s, --state FILE       state database (default $XDG_STATE_HOME/kadet/state.db,\n"
        "                         ~/.local/state/kadet/state.db)\n"
        "      --no-state         keep the state in memory only\n"
        "      --learn            build the baseline without alerting; print per rule how many\n"
        "                         alerts the same input would have raised\n"
        "      --format F         input: auto (default), audit (raw audit events only) or ecs\n"
        "  -o, --output FILE      write alerts to FILE; after a crash a rerun resumes it exactly\n"
        "      --table            print alerts as a readable table instead of NDJSON\n"
        "      --now TIME         use TIME as the alert @timestamp (reproducible output)\n"
        "      --batch N          commit the state every N records (default 50000)\n"
        "      --from-start       ignore remembered input positions (already emitted alerts\n"
        "                         are still not repeated)\n"
        "      --no-baseline      leave kadet.baseline out of alerts\n"
        "      --no-host-metadata leave host.* out of raw audit events (default: add this\n"
        "                         machine's, as Elastic Agent does without the `forwarded` tag;\n"
        "                         rules that test host.os.type need it); --host-metadata is\n"
        "                         the default and still accepted\n"
        "      --host-name NAME   host.name and host.hostname (default: this machine's)\n"
        "      --host-os-type T   host.os.type (default: from uname, e.g. linux)\n"
        "      --ingested now|none  event.ingested of raw events: the time kadet reads them\n"
        "                         (whole seconds, as for live input) or none (default: none,\n"
        "                         so event time falls back to @timestamp)\n"
        "      --timestamp SRC    @timestamp of raw events: stage (stageTimestamp, default),\n"
        "                         request (requestReceivedTimestamp) or received (now)\n"
        "      --progress, --no-progress  progress bar on stderr (default: on a terminal)\n"
        "      --listen HOST:PORT receive kube-apiserver's audit webhook (POSTed EventLists)\n"
        "                         instead of reading FILEs; each request is committed before\n"
        "                         its 200; runs until SIGINT/SIGTERM (docs/deployment.md).\n"
        "                         Port 0 picks a free port. No TLS: bind to 127.0.0.1 or put\n"
        "                         a TLS proxy in front\n"
        "      --listen-path PATH the path POSTs are accepted on (default /); GET /healthz\n"
        "                         answers ok\n"
        "      --max-body BYTES   larger request bodies get 413 (default 64M; K, M, G)\n"
        "\n"
        "Inputs already read (same file, up to the remembered offset) are skipped, so running\n"
        "the same command again only processes what was appended.\n"
        "Exit status: 0 ok, 1 usage or rule errors, 2 runtime error (unreadable input,\n"
        "skipped records, state failure; with --listen: bind or state failure only).\n",
    .run = run,
};

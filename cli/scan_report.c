/*
 * scan_report.c - what `kadet scan` prints besides NDJSON alerts (scan_report.h): the progress
 * bar, the --table rows, the notes before scanning and the summary per rule after.
 */
#include "scan_report.h"

#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TABLE_ROW_MAX 65536 /* > the largest combination (8 KiB) and a rule name */

double scan_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ============================================================================================ */
/* Progress                                                                                     */
/* ============================================================================================ */

void scan_progress(struct scan_view *s, bool final)
{
    if (!s->show_progress)
        return;
    double t = scan_now();
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

void scan_on_record(void *ud) { scan_progress(ud, false); }

/* ============================================================================================ */
/* The table (--table)                                                                          */
/* ============================================================================================ */

struct row {
    char b[TABLE_ROW_MAX];
    size_t n;
};
static struct row row;       /* one alert's line (the engine calls on_alert on one thread) */
static struct row terms_row; /* its new terms, before they are fitted into the row */

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

/* Characters (UTF-8 code points) in p[0..n): the table's idea of display width. */
static size_t chars(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* The length of the first `keep` characters of p[0..n). */
static size_t char_prefix(const char *p, size_t n, size_t keep)
{
    size_t i = 0, c = 0;
    for (; i < n; i++) {
        if (((unsigned char)p[i] & 0xC0) != 0x80 && c++ == keep)
            break;
    }
    return i;
}

/* A cell of `width` characters (0: as long as the value): longer values end with "…". */
static void table_cell(struct row *r, const char *p, size_t n, int width)
{
    size_t w = chars(p, n);
    bool cut = width > 0 && w > (size_t)width;
    if (cut) {
        n = char_prefix(p, n, (size_t)width - 1);
        w = (size_t)width - 1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        row_addc(r, (c == '\n' || c == '\t' || c == '\r') ? ' ' : c);
    }
    if (cut) {
        row_adds(r, "\xe2\x80\xa6"); /* U+2026 */
        w++;
    }
    for (size_t i = w; width > 0 && i < (size_t)width; i++)
        row_addc(r, ' ');
}

/* Once: how many new_terms rules run, and the width rows must fit in. */
static void table_setup(struct scan_view *s)
{
    s->table_ready = true;
    for (size_t i = 0; i < kad_rules_count(s->rs); i++) {
        kad_rule_info ri;
        if (kad_rules_info(s->rs, i, &ri) == KAD_OK && ri.runnable && ri.kind == KAD_RULE_NEW_TERMS)
            s->nt_rules++;
    }
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;
    struct winsize ws;
    if (v <= 0 && isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0)
        v = ws.ws_col;
    s->columns = v >= 40 ? (size_t)v : 0; /* narrower: not cut */
}

int scan_table_alert(const kad_alert *a, void *ud)
{
    struct scan_view *s = ud;
    if (!s->table_ready)
        table_setup(s);
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
    const char *name = a->rule_name ? a->rule_name : "";
    if (a->nterms) {
        struct row *tr = &terms_row;
        tr->n = 0;
        for (size_t i = 0; i < a->nterms; i++) {
            const char *f = a->term_fields ? a->term_fields[i] : NULL;
            if (f && strstr(f, "user") && !strstr(f, "user_agent"))
                continue; /* already in the user column */
            if (tr->n)
                row_adds(tr, " | ");
            table_cell(tr, a->terms[i], a->term_lens[i], 0);
        }
        /* with several new_terms rules, which one found these terms: "[NAME]" after them; the
           terms give way first when the row must fit $COLUMNS */
        size_t tail = s->nt_rules > 1 ? chars(name, strlen(name)) + 3 : 0;
        size_t used = chars(r->b, r->n), tw = chars(tr->b, tr->n);
        if (s->columns && used + tw + tail > s->columns && s->columns > used + tail + 8)
            table_cell(r, tr->b, tr->n, (int)(s->columns - used - tail));
        else
            table_cell(r, tr->b, tr->n, 0);
        if (tail) {
            /* the cell padding may have left spaces: cut them */
            while (r->n && r->b[r->n - 1] == ' ')
                r->n--;
            row_adds(r, "  [");
            table_cell(r, name, strlen(name), 0);
            row_addc(r, ']');
        }
    } else {
        table_cell(r, name, strlen(name), 0);
    }
    if (s->columns && chars(r->b, r->n) > s->columns) {
        /* the row within $COLUMNS: cut at a character, then "…" */
        r->n = char_prefix(r->b, r->n, s->columns - 1);
        row_adds(r, "\xe2\x80\xa6");
    }
    row_addc(r, '\n');
    return kad_engine_output(s->e, r->b, r->n, NULL) == KAD_OK ? KAD_ALERT_TAKEN : KAD_ELIMIT;
}

static void report_baselines(const struct scan_view *s)
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
static void host_hint(const struct scan_view *s)
{
    if (!s->no_host || s->format == KAD_FORMAT_ECS)
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

void scan_summary(const struct scan_view *s, double secs)
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
    if (c.not_audit)
        fprintf(stderr, ", %llu not Kubernetes audit events (ignored)",
                (unsigned long long)c.not_audit);
    if (c.bad_time)
        fprintf(stderr, ", %llu with a time that is not a date", (unsigned long long)c.bad_time);
    if (c.pruned)
        fprintf(stderr, ", %llu combinations forgotten (older than twice their window)",
                (unsigned long long)c.pruned);
    fprintf(stderr, "; %.1f MB in %.2f s (%.0f MB/s)\n", mb, secs, secs > 0 ? mb / secs : 0.0);
    fprintf(stderr, "%-56s %10s %10s %8s %s\n", "rule", "matched", "excepted",
            s->learn ? "would" : "alerts", "notes");
    size_t not_run = 0;
    uint64_t no_time = 0;
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
            {"future", st.future},
        };
        no_time += st.no_time;
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
                "(%zu rules of types kadet does not run (threshold, machine_learning, ...) "
                "were loaded and skipped)\n",
                not_run);
    if (no_time)
        fprintf(stderr,
                "(no time: matching events without a usable @timestamp or event.ingested; a "
                "new_terms rule cannot place them in its window and skips them. Remedy: "
                "--timestamp received gives raw events the time kadet reads them (--timestamp "
                "request: their requestReceivedTimestamp; --ingested now: event.ingested, for "
                "rules with timestamp_override = event.ingested))\n");
    if (s->learn)
        fprintf(stderr, "learn: baseline recorded, no alerts written; 'would' is how many "
                        "alerts a scan of the same input would have raised\n");
    char *w = kad_engine_warnings(s->e);
    if (w && *w)
        fputs(w, stderr);
    kad_free(w);
}

void scan_notes(const struct scan_view *s)
{
    report_baselines(s);
    host_hint(s);
}

/* ============================================================================================ */
/* The audit webhook receiver (--listen; HTTP in serve/srv_listen.c)                           */
/* ============================================================================================ */

/*
 * One POSTed body (on the HTTP thread; the only thread touching *s until the server stops):
 * kad_engine_body runs and commits it before the answer.
 */
int scan_on_body(void *ctx, const struct cli_listen_req *rq, char *reply, size_t size, bool *stop)
{
    struct scan_view *s = ctx;
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
        scan_print_err(&err);
        s->rc = EXIT_RUNTIME;
        *stop = true;
        snprintf(reply, size, "kadet: stopping after an error (see its stderr)\n");
        return 500;
    }
    double t = scan_now();
    if (t - s->last_flush >= 60) { /* "N more suppressed" once a minute at most */
        kad_engine_log_flush(s->e);
        s->last_flush = t;
    }
    snprintf(reply, size, "{\"records\":%llu,\"events\":%llu,\"skipped\":%llu,\"alerts\":%llu}\n",
             (unsigned long long)res.records, (unsigned long long)res.events,
             (unsigned long long)res.skipped, (unsigned long long)res.alerts);
    return 200;
}

void scan_print_err(const kad_err *err)
{
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err_format(err, msg, sizeof(msg));
    fprintf(stderr, "kadet: %s\n", msg);
}

/* The rules' diagnostics: errors as they are, warnings as warnings, unsupported types left to
   the summary. */
void scan_print_diags(const kad_rules *rs)
{
    for (size_t i = 0; i < kad_rules_diag_count(rs); i++) {
        int is_error = 0;
        const kad_err *d = kad_rules_diag(rs, i, &is_error);
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
}

/*
 * srv_metrics.c - GET /metrics in the Prometheus text format (version 0.0.4). Counters of the
 * HTTP side are atomics bumped by the connection threads; the engine's counters come from the
 * snapshot the detection thread publishes after each commit (the engine is not thread-safe).
 */
#include "serve.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bucket upper bounds in microseconds */
static const int64_t bounds_us[SRV_HIST_BUCKETS] = {500,     1000,    2500,    5000,    10000,
                                                    25000,   50000,   100000,  250000,  500000,
                                                    1000000, 2500000, 5000000, 10000000};

void srv_hist_observe(struct srv_hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t i = 0;
    while (i < SRV_HIST_BUCKETS && us > bounds_us[i])
        i++;
    atomic_fetch_add(&h->bucket[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, (uint64_t)us);
}

struct out {
    char *p;
    size_t len, cap;
    bool oom;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
    if (o->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *b = realloc(o->p, cap);
        if (!b) {
            o->oom = true;
            return;
        }
        o->p = b;
        o->cap = cap;
    }
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    outf(o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void gauge(struct out *o, const char *name, const char *help, double v)
{
    outf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

static void hist(struct out *o, const char *name, const char *help, struct srv_hist *h)
{
    outf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < SRV_HIST_BUCKETS; i++) {
        cum += atomic_load(&h->bucket[i]);
        outf(o, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)bounds_us[i] / 1e6, cum);
    }
    cum += atomic_load(&h->bucket[SRV_HIST_BUCKETS]);
    outf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    outf(o, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, (double)atomic_load(&h->sum_us) / 1e6,
         name, atomic_load(&h->count));
}

/* A label value: backslash, quote and newline escaped. */
static void label(struct out *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            outf(o, "\\%c", *v);
        else if (*v == '\n')
            outf(o, "\\n");
        else
            outf(o, "%c", *v);
    }
}

static void per_rule(struct out *o, const struct srv_snap *sn, const char *name, const char *help,
                     size_t off)
{
    outf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < sn->nrules; i++) {
        outf(o, "%s{rule_id=\"", name);
        label(o, sn->rules[i].rule_id);
        outf(o, "\"} %" PRIu64 "\n", *(const uint64_t *)((const char *)&sn->rules[i] + off));
    }
}

char *srv_metrics_text(struct srv *s)
{
    struct out o = {.p = malloc(16384), .cap = 16384};
    if (!o.p)
        return NULL;
    o.p[0] = '\0';
    struct srv_metrics *m = &s->m;
    outf(&o, "# HELP kadet_webhook_requests_total Webhook requests by answer.\n"
             "# TYPE kadet_webhook_requests_total counter\n");
    struct {
        const char *code;
        _Atomic uint64_t *v;
    } codes[] = {{"200", &m->req_ok},        {"400", &m->req_bad},       {"401", &m->req_unauth},
                 {"403", &m->req_forbidden}, {"413", &m->req_too_large}, {"503", &m->req_full},
                 {"500", &m->req_error}};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        outf(&o, "kadet_webhook_requests_total{code=\"%s\"} %" PRIu64 "\n", codes[i].code,
             atomic_load(codes[i].v));
    counter(&o, "kadet_http_not_found_total", "Requests for unknown paths (404).",
            atomic_load(&m->req_notfound));
    counter(&o, "kadet_events_received_total", "Records (audit events) accepted into the spool.",
            atomic_load(&m->records_received));
    counter(&o, "kadet_events_duplicate_total",
            "Records dropped as resent (auditID and stage seen recently).",
            atomic_load(&m->records_dup));
    counter(&o, "kadet_received_bytes_total", "Request body bytes received (as sent).",
            atomic_load(&m->bytes_received));
    gauge(&o, "kadet_inflight_body_bytes", "Bytes of request bodies being received.",
          (double)atomic_load(&m->inflight_bytes));
    gauge(&o, "kadet_http_connections", "Open HTTP connections.",
          (double)atomic_load(&m->connections));
    counter(&o, "kadet_http_timeouts_total",
            "Connections closed because a request's headers or body did not arrive in time "
            "(--header-timeout, --body-timeout).",
            atomic_load(&m->timeouts));
    hist(&o, "kadet_request_duration_seconds",
         "Webhook request: body received to answer (includes the spool fsync).", &m->request);
    hist(&o, "kadet_commit_duration_seconds", "Engine commits (output fsync and state).",
         &m->commit);
    hist(&o, "kadet_receipt_to_alert_seconds",
         "Record received to committed (its alerts written and durable).", &m->receipt_alert);
    gauge(&o, "kadet_spool_bytes", "Bytes in the spool.", (double)srv_spool_bytes(s->spool));
    gauge(&o, "kadet_spool_segments", "Segment files in the spool.",
          (double)srv_spool_segments(s->spool));
    gauge(&o, "kadet_spool_max_bytes", "--spool-max.", (double)s->cfg.spool_max);
    counter(&o, "kadet_reloads_total", "Successful reloads.", atomic_load(&m->reloads_ok));
    counter(&o, "kadet_reload_failures_total", "Reloads refused (the old rules kept running).",
            atomic_load(&m->reloads_failed));
    counter(&o, "kadet_output_errors_total", "Failed commits or alert writes.",
            atomic_load(&m->output_errors));

    pthread_mutex_lock(&s->mu);
    const struct srv_snap *sn = &s->snap;
    const kad_engine_stats *es = &sn->es;
    counter(&o, "kadet_records_total", "Records run by the engine.", es->records);
    counter(&o, "kadet_events_decoded_total", "Audit events decoded.", es->events);
    outf(&o,
         "# HELP kadet_events_skipped_total Records skipped, by reason.\n"
         "# TYPE kadet_events_skipped_total counter\n"
         "kadet_events_skipped_total{reason=\"syntax\"} %" PRIu64 "\n"
         "kadet_events_skipped_total{reason=\"limit\"} %" PRIu64 "\n"
         "kadet_events_skipped_total{reason=\"other\"} %" PRIu64 "\n"
         "kadet_events_skipped_total{reason=\"not_format\"} %" PRIu64 "\n",
         es->skipped_syntax, es->skipped_limit, es->skipped_other, es->not_format);
    counter(&o, "kadet_alerts_total", "Alerts written.", es->alerts);
    counter(&o, "kadet_commits_total", "Engine commits.", es->commits);
    gauge(&o, "kadet_state_combinations", "New-terms combinations in the state.",
          (double)sn->combinations);
    per_rule(&o, sn, "kadet_rule_matched_total", "Events matching the rule's query.",
             offsetof(struct srv_rule_snap, matched));
    per_rule(&o, sn, "kadet_rule_alerts_total", "Alerts of the rule.",
             offsetof(struct srv_rule_snap, alerts));
    per_rule(&o, sn, "kadet_rule_excepted_total", "Matches removed by exception lists.",
             offsetof(struct srv_rule_snap, excepted));
    per_rule(&o, sn, "kadet_rule_suppressed_total", "Alerts suppressed.",
             offsetof(struct srv_rule_snap, suppressed));
    per_rule(&o, sn, "kadet_rule_too_late_total", "Events older than the rule's watermark.",
             offsetof(struct srv_rule_snap, too_late));
    per_rule(&o, sn, "kadet_rule_future_total", "Events stamped in the future (clock skew).",
             offsetof(struct srv_rule_snap, future));
    pthread_mutex_unlock(&s->mu);
    if (s->st && kad_state_shared(s->st)) { /* srv_stateguard.c */
        struct srv_guard_stats g;
        srv_guard_metrics(s, &g);
        gauge(&o, "kadet_state_up",
              "1 while the state server answers, 0 during an outage (webhook posts get 503).",
              g.up ? 1.0 : 0.0);
        counter(&o, "kadet_state_connections_lost_total",
                "Connections to the state server lost (one per outage).", g.lost);
        counter(&o, "kadet_state_reconnects_total",
                "Connections to the state server reopened after a loss.", g.reconnects);
        counter(&o, "kadet_state_outages_total",
                "Outages that outlasted the store's retries: the engine was dropped.", g.outages);
        counter(&o, "kadet_state_recoveries_total",
                "Engines reopened after an outage (resumed from the last commit).", g.recoveries);
        counter(&o, "kadet_state_reconnect_attempts_total",
                "Attempts to reach the state server during outages.", g.attempts);
        counter(&o, "kadet_webhook_state_refused_total",
                "Webhook posts answered 503 because the state server was unreachable.", g.refused);
    }
    pthread_mutex_lock(&s->src_mu); /* reloads replace the follower and the outputs */
    if (s->follow) {                /* the file source */
        kad_follow_stats fs;
        uint64_t queued, errors;
        srv_follow_metrics(s, &fs, &queued, &errors);
        counter(&o, "kadet_follow_records_total", "Records read from the followed files.",
                fs.records);
        counter(&o, "kadet_follow_bytes_total", "Bytes read from the followed files.", fs.bytes);
        counter(&o, "kadet_follow_files_total", "Files opened (live and rotated).", fs.files);
        counter(&o, "kadet_follow_rotations_total",
                "Live files that left their path (rename, delete).", fs.rotations);
        counter(&o, "kadet_follow_truncations_total",
                "Live files truncated in place (copytruncate).", fs.truncations);
        counter(&o, "kadet_follow_missed_total",
                "Rotated files read in full (their content was never seen).", fs.missed);
        counter(&o, "kadet_follow_lost_total",
                "Truncations whose copy was not found (lines may be lost).", fs.lost);
        counter(&o, "kadet_follow_errors_total", "Read errors and over-long lines skipped.",
                errors);
        gauge(&o, "kadet_follow_queue_records", "Records read, waiting for the detection thread.",
              (double)queued);
    }
    if (s->outs) { /* the sinks (kad_outputs: thread-safe) */
        char *om = kad_outputs_metrics(s->outs);
        if (om) {
            outf(&o, "%s", om);
            kad_free(om);
        } else {
            o.oom = true;
        }
    }
    pthread_mutex_unlock(&s->src_mu);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}

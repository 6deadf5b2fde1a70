/*
 * kad_outputs.c - kad.h's outputs: sink specs and [[sink]] tables into src/output's manager,
 * the engine's outbox appends, metrics, `kadet outputs test`, the outbox's stats.
 * docs/internals/outputs.md.
 */
#include "api_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct kad_outputs {
    struct out_mgr *mgr;
    struct out_spec *specs;
    size_t n;
    pthread_mutex_t mu; /* the producer's outbox connection (engines on several threads) */
    pthread_cond_t free_cv; /* the producer's batch was released */
    const void *owner;      /* the engine whose batch is open, under mu */
};

/* ---- specs from flags and [[sink]] tables ------------------------------------------------- */

struct specs {
    struct out_spec *v;
    size_t n;
    const char *config;
    kad_err *err;
};

static int add_spec(struct specs *s, struct out_spec *sp, kad_err *err)
{
    if (s->n == OUT_MAX_OUTPUTS) {
        out_spec_fini(sp);
        return kx_err_setf(err, KAD_ELIMIT, "more than %d outputs", OUT_MAX_OUTPUTS);
    }
    s->v[s->n++] = *sp;
    return KAD_OK;
}

/* One [[sink]] table: type + target (or spec = "TYPE:TARGET,..."), the rest options. */
static int on_table(const struct rule_cfg_kv *kv, size_t n, uint32_t line, void *ud)
{
    struct specs *s = ud;
    const char *type = NULL, *target = NULL, *spec = NULL;
    const struct rule_cfg_kv *spec_kv = NULL;
    const char *keys[RULE_CFG_KV_MAX], *vals[RULE_CFG_KV_MAX];
    size_t idx[RULE_CFG_KV_MAX], nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, "type") == 0)
            type = kv[i].val;
        else if (strcmp(kv[i].key, "target") == 0)
            target = kv[i].val;
        else if (strcmp(kv[i].key, "spec") == 0)
            spec = kv[i].val, spec_kv = &kv[i];
        else
            keys[nk] = kv[i].key, vals[nk] = kv[i].val, idx[nk++] = i;
    }
    struct out_spec sp;
    kad_err e;
    kad_err_clear(&e);
    int rc;
    if (spec) {
        if (type || target || nk)
            return kx_err_atlc(s->err, KAD_EINVAL, s->config, line, 1, -1,
                               "[[sink]]: 'spec' excludes 'type', 'target' and other keys");
        rc = out_spec_parse(&sp, spec, s->config, &e);
        if (rc)
            return kx_err_atlc(s->err, rc, s->config, spec_kv->line,
                               spec_kv->col + (e.offset > 0 ? (uint32_t)e.offset : 0), -1, "%s",
                               e.msg);
        return add_spec(s, &sp, s->err);
    }
    if (!type)
        return kx_err_atlc(s->err, KAD_EINVAL, s->config, line, 1, -1,
                           "[[sink]]: 'type' (elasticsearch, webhook, slack, syslog, file, "
                           "stdout) or 'spec' is required");
    char head[OUT_SPEC_MAX + 64];
    snprintf(head, sizeof(head), "%s%s%s", type, target ? ":" : "", target ? target : "");
    size_t bad = SIZE_MAX;
    rc = out_spec_from_fields(&sp, head, keys, vals, nk, s->config, &bad, &e);
    if (rc) {
        /* the option's value, else the target or the type the error is in */
        const struct rule_cfg_kv *at = NULL;
        uint32_t col = 0;
        size_t tl = strlen(type);
        if (bad != SIZE_MAX) {
            at = &kv[idx[bad]];
            col = e.offset > 0 ? (uint32_t)e.offset : 0;
        }
        for (size_t i = 0; i < n && !at; i++)
            if (strcmp(kv[i].key, target && e.offset > (int64_t)tl ? "target" : "type") == 0) {
                at = &kv[i];
                col = e.offset > (int64_t)tl ? (uint32_t)(e.offset - (int64_t)tl - 1) : 0;
            }
        if (!at) /* not reached: the type is given */
            return kx_err_atlc(s->err, rc, s->config, line, 1, -1, "%s", e.msg);
        return kx_err_atlc(s->err, rc, s->config, at->line, at->col + col, -1, "%s", e.msg);
    }
    return add_spec(s, &sp, s->err);
}

static void specs_free(struct out_spec *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out_spec_fini(&v[i]);
    kx_free(v);
}

static int parse_specs(const kad_outputs_opts *o, struct specs *s, kad_err *err)
{
    s->v = kx_calloc(OUT_MAX_OUTPUTS, sizeof(*s->v));
    s->n = 0;
    s->err = err;
    int rc = KAD_OK;
    for (size_t i = 0; i < o->nspecs && !rc; i++) {
        struct out_spec sp;
        rc = out_spec_parse(&sp, o->specs[i], "--sink", err);
        if (!rc)
            rc = add_spec(s, &sp, err);
    }
    if (!rc && o->config_path) {
        s->config = o->config_path;
        rc = rule_config_tables(o->config_path, "sink", on_table, s, err);
    }
    for (size_t i = 0; i < s->n && !rc; i++)
        for (size_t j = 0; j < i && !rc; j++)
            if (strcmp(s->v[i].name, s->v[j].name) == 0)
                rc = kx_err_setf(err, KAD_EINVAL, "two outputs named '%s': give one a name= option",
                                 s->v[i].name);
    if (rc) {
        specs_free(s->v, s->n);
        s->v = NULL;
        s->n = 0;
    }
    return rc;
}

int kad_outputs_check(const kad_outputs_opts *o, kad_err *err)
{
    struct specs s = {0};
    int rc = parse_specs(o, &s, err);
    specs_free(s.v, s.n);
    return rc;
}

int kad_outputs_new(kad_outputs **out, const kad_outputs_opts *o, kad_err *err)
{
    *out = NULL;
    if (!o || !o->outbox_path)
        return kx_err_setf(err, KAD_EINVAL, "kad_outputs_new: an outbox path is required");
    struct specs s = {0};
    int rc = parse_specs(o, &s, err);
    if (rc)
        return rc;
    kad_outputs *ko = kx_calloc(1, sizeof(*ko));
    pthread_mutex_init(&ko->mu, NULL);
    pthread_cond_init(&ko->free_cv, NULL);
    ko->specs = s.v;
    ko->n = s.n;
    struct out_opts oo = {
        .outbox_path = o->outbox_path,
        .dead_letter = o->dead_letter,
        .hostname = o->hostname,
    };
    rc = out_mgr_new(&ko->mgr, &oo, ko->specs, ko->n, err);
    if (!rc)
        rc = out_mgr_start(ko->mgr, err);
    if (rc) {
        kad_outputs_free(ko);
        return rc;
    }
    *out = ko;
    return KAD_OK;
}

size_t kad_outputs_count(const kad_outputs *o) { return o ? o->n : 0; }

int64_t kad_outputs_drain(kad_outputs *o, int timeout_ms)
{
    if (!o)
        return 0;
    pthread_mutex_lock(&o->mu);
    int64_t left = out_mgr_drain(o->mgr, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_unlock(&o->mu);
    return left;
}

int kad_outputs_stats(kad_outputs *o, size_t i, kad_output_stats *out)
{
    if (!o || i >= o->n)
        return KAD_ENOTFOUND;
    struct out_metrics m[OUT_MAX_OUTPUTS];
    out_mgr_metrics(o->mgr, m, OUT_MAX_OUTPUTS);
    memset(out, 0, sizeof(*out));
    out->name = o->specs[i].name;
    out->type = out_type_name(o->specs[i].type);
    out->delivered = m[i].delivered;
    out->retried = m[i].retried;
    out->failed = m[i].failed;
    out->filtered = m[i].filtered;
    out->queue_depth = m[i].queue_depth;
    out->oldest_age_ms = m[i].oldest_age_ms;
    snprintf(out->last_error, sizeof(out->last_error), "%s", m[i].last_error);
    return KAD_OK;
}

/* A Prometheus label value: \ " and newline escaped. */
static void label(kx_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            kx_buf_addc(b, '\\'), kx_buf_addc(b, *v);
        else if (*v == '\n')
            kx_buf_add(b, "\\n", 2);
        else
            kx_buf_addc(b, *v);
    }
}

char *kad_outputs_metrics(kad_outputs *o)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"kadet_output_delivered_total", "counter", "Alerts delivered, per output."},
        {"kadet_output_retried_total", "counter", "Failed delivery attempts that are retried."},
        {"kadet_output_failed_total", "counter", "Alerts written to the dead-letter file."},
        {"kadet_output_filtered_total", "counter", "Alerts skipped by the output's filters."},
        {"kadet_output_queue_depth", "gauge", "Alerts in the outbox not yet delivered."},
        {"kadet_output_oldest_pending_seconds", "gauge",
         "Age of the oldest alert not yet delivered (0: none)."},
    };
    kx_buf b;
    kx_buf_init(&b, (size_t)16 << 20);
    size_t n = kad_outputs_count(o);
    kad_output_stats *st = kx_calloc(n ? n : 1, sizeof(*st));
    for (size_t i = 0; i < n; i++)
        kad_outputs_stats(o, i, &st[i]);
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        kx_buf_addf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
                    fam[f].type);
        for (size_t i = 0; i < n; i++) {
            kx_buf_addf(&b, "%s{output=\"", fam[f].name);
            label(&b, st[i].name);
            kx_buf_add(&b, "\"} ", 3);
            switch (f) {
            case 0: kx_buf_addf(&b, "%" PRIu64 "\n", st[i].delivered); break;
            case 1: kx_buf_addf(&b, "%" PRIu64 "\n", st[i].retried); break;
            case 2: kx_buf_addf(&b, "%" PRIu64 "\n", st[i].failed); break;
            case 3: kx_buf_addf(&b, "%" PRIu64 "\n", st[i].filtered); break;
            case 4: kx_buf_addf(&b, "%" PRId64 "\n", st[i].queue_depth); break;
            default: kx_buf_addf(&b, "%.3f\n", (double)st[i].oldest_age_ms / 1000.0); break;
            }
        }
    }
    kx_free(st);
    return kx_buf_take(&b, NULL);
}

void kad_outputs_free(kad_outputs *o)
{
    if (!o)
        return;
    out_mgr_free(o->mgr);
    specs_free(o->specs, o->n);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->free_cv);
    kx_free(o);
}

/* ---- the engine's side -------------------------------------------------------------------- */

/* Take the producer's batch for owner (opening it): 0, or the error (mutex held either way). */
static int own_batch(kad_outputs *o, const void *owner, kad_err *err)
{
    while (o->owner && o->owner != owner)
        pthread_cond_wait(&o->free_cv, &o->mu);
    if (o->owner)
        return 0;
    int rc = out_box_begin(out_mgr_box(o->mgr), err);
    if (!rc)
        o->owner = owner;
    return rc;
}

static void release_batch(kad_outputs *o)
{
    o->owner = NULL;
    pthread_cond_broadcast(&o->free_cv);
}

int api_outputs_stage(kad_outputs *o, const void *owner, const char *recs, size_t len,
                      kad_err *err)
{
    pthread_mutex_lock(&o->mu);
    int rc = own_batch(o, owner, err);
    if (!rc && len) {
        int r = out_box_append_records(out_mgr_box(o->mgr), recs, len, err);
        rc = r < 0 ? r : 0;
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

int api_outputs_commit(kad_outputs *o, const void *owner, const char *recs, size_t len,
                       int64_t *batch, kad_err *err)
{
    *batch = 0;
    pthread_mutex_lock(&o->mu);
    struct out_box *b = out_mgr_box(o->mgr);
    int rc = own_batch(o, owner, err);
    if (!rc && len) {
        int r = out_box_append_records(b, recs, len, err);
        rc = r < 0 ? r : 0;
    }
    if (!rc) {
        int64_t before = out_box_last_batch(b);
        rc = out_box_commit(b, err);
        if (!rc && out_box_last_batch(b) != before)
            *batch = out_box_last_batch(b);
    } else if (o->owner == owner) {
        out_box_rollback(b);
    }
    if (o->owner == owner)
        release_batch(o);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

void api_outputs_rollback(kad_outputs *o, const void *owner)
{
    pthread_mutex_lock(&o->mu);
    if (o->owner == owner) {
        out_box_rollback(out_mgr_box(o->mgr));
        release_batch(o);
    }
    pthread_mutex_unlock(&o->mu);
}

void api_outputs_notify(kad_outputs *o, int64_t batch)
{
    if (batch) {
        pthread_mutex_lock(&o->mu);
        out_box_confirm(out_mgr_box(o->mgr), batch);
        pthread_mutex_unlock(&o->mu);
    }
    out_mgr_notify(o->mgr);
}

/* ---- kadet outputs test ------------------------------------------------------------------- */

int kad_outputs_test(const kad_outputs_opts *o, const char *alert_json, size_t len,
                     void (*fn)(const char *name, int rc, const char *msg, void *ud), void *ud,
                     kad_err *err)
{
    struct specs s = {0};
    int rc = parse_specs(o, &s, err);
    if (rc)
        return rc;
    char sample[2048];
    if (!alert_json) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char when[40];
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        int n = snprintf(
            sample, sizeof(sample),
            "{\"@timestamp\":\"%s.%03ldZ\",\"kibana.alert.uuid\":\"kadet-test-%lld-%ld\","
            "\"kibana.alert.rule.rule_id\":\"kadet-outputs-test\","
            "\"kibana.alert.rule.name\":\"kadet outputs test\","
            "\"kibana.alert.severity\":\"low\",\"kibana.alert.risk_score\":21,"
            "\"kibana.alert.reason\":\"a test alert sent by kadet outputs test\","
            "\"kibana.alert.rule.tags\":[\"kadet\",\"test\"],"
            "\"kibana.alert.rule.note\":\"## Triage and analysis\\n\\nThis is a test alert: "
            "nothing to investigate.\\n\",\"kibana.alert.status\":\"active\","
            "\"kibana.alert.workflow_status\":\"open\",\"event.kind\":\"signal\","
            "\"user\":{\"name\":\"kadet\"}}",
            when, ts.tv_nsec / 1000000, (long long)ts.tv_sec, (long)getpid());
        alert_json = sample;
        len = (size_t)n;
    }
    int last = KAD_OK;
    for (size_t i = 0; i < s.n; i++) {
        kad_err e;
        kad_err_clear(&e);
        int r = out_send_once(&s.v[i], alert_json, len, &e);
        if (r)
            last = r;
        if (fn)
            fn(s.v[i].name, r, r ? e.msg : "delivered", ud);
    }
    specs_free(s.v, s.n);
    if (last)
        kx_err_setf(err, last, "some outputs did not accept the test alert");
    return last;
}

/* ---- state stats -------------------------------------------------------------------------- */

struct stats_ud {
    void (*fn)(const kad_outbox_output *o, void *ud);
    void *ud;
};

static void on_stats(const struct out_box_output_stats *s, void *ud)
{
    struct stats_ud *u = ud;
    kad_outbox_output o = {
        .name = s->name,
        .cursor = s->cursor,
        .pending = s->pending,
        .oldest_ms = s->oldest_ms,
        .delivered = s->delivered,
        .retried = s->retried,
        .failed = s->failed,
        .filtered = s->filtered,
    };
    u->fn(&o, u->ud);
}

void kad_outbox_remove(const char *path)
{
    if (path)
        out_box_remove(path);
}

int kad_outbox_stats(const char *path, void (*fn)(const kad_outbox_output *o, void *ud), void *ud,
                     kad_err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kx_err_setf(err, KAD_ENOTFOUND, "%s: no outbox", path);
    struct stats_ud u = {fn, ud};
    return out_box_stats(path, on_stats, &u, err);
}

/*
 * test_preview.c - unit tests of preview's scheduled executions (detect/preview.c) and of alert
 * suppression (detect/suppress.c), on hand-built rules and documents, without the rule loader
 * or KQL (every document is eligible unless it says "x": true). End-to-end scenarios with TOML
 * rules live in tests/preview/ and run through the CLI.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "detect/detect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN 60000LL
#define T0 (1700000000000LL) /* base time of the tests */

struct fx {
    kx_arena a;
    struct rule r;
    const char *fields[3];
    const char *group[3];
    struct pv_doc docs[64];
    char ids[64][16];
    size_t n;
    struct pv_result res;
};

static void fx_init(struct fx *f, enum rule_type type)
{
    memset(f, 0, sizeof(*f));
    kx_arena_init(&f->a, 4096, 0);
    f->r.type = type;
    f->r.rule_id = "rule-1";
    f->r.name = "Test";
    f->r.from_ms = 6 * MIN;
    f->r.interval_ms = 5 * MIN;
    f->r.max_signals = 100;
    f->r.history_window_ms = 10 * 24 * 60 * MIN;
    f->r.history_window_abs_ms = INT64_MIN;
    f->r.new_terms_fields.v = f->fields;
    f->r.suppress_group_by.v = f->group;
    pv_result_init(&f->res);
}

static void fx_fini(struct fx *f)
{
    pv_result_fini(&f->res);
    kx_arena_fini(&f->a);
}

/* A document at T0 + min minutes (fractional allowed) */
static void doc(struct fx *f, double min, const char *json)
{
    struct pv_doc *d = &f->docs[f->n];
    d->doc = ev_json_parse(&f->a, json, strlen(json), "<t>", NULL);
    ASSERT_NOT_NULL(d->doc);
    snprintf(f->ids[f->n], sizeof(f->ids[f->n]), "d%zu", f->n);
    d->id = f->ids[f->n];
    d->ts = d->timestamp = T0 + (int64_t)(min * MIN);
    const struct ev_node *x = ev_member(d->doc, "x", 1);
    d->eligible = !(x && x->type == EV_TRUE);
    f->n++;
}

static int run(struct fx *f, double end_min, uint32_t n, double interval_min)
{
    struct pv_opts o = {T0 + (int64_t)(end_min * MIN), n, (int64_t)(interval_min * MIN)};
    return pv_run(&f->r, f->docs, f->n, &o, &f->res, NULL);
}

/* "d1:[\"b\"]@0 d3:[\"c\"]@1" - alerts as doc id, new terms, execution index */
static const char *alerts(struct fx *f)
{
    static char out[2048];
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < f->res.alerts.len && o < sizeof(out) - 200; i++) {
        const struct pv_alert *a = &f->res.alerts.ptr[i];
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s:%s@%u", o ? " " : "",
                              f->docs[a->doc].id, a->new_terms_json ? a->new_terms_json : "-",
                              a->exec);
        if (a->sup_terms_json)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "#%llu",
                                  (unsigned long long)a->sup_docs_count);
    }
    return out;
}

static const char *msgs(struct fx *f)
{
    static char out[1024];
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < f->res.msgs.len && o < sizeof(out) - 200; i++)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s@%lld", o ? "|" : "",
                              f->res.msgs.ptr[i].is_error ? "E" : "W",
                              (long long)((f->res.msgs.ptr[i].exec_ms - T0) / MIN));
    return out;
}

TEST(preview_single_field)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    doc(&f, -60, "{\"user\":\"alice\"}");
    doc(&f, -2, "{\"user\":\"alice\"}");
    doc(&f, -1, "{\"user\":\"bob\"}");
    doc(&f, -0.5, "{\"user\":\"bob\"}");
    doc(&f, -3, "{\"user\":\"carol\",\"x\":true}"); /* excepted: never history nor alert */
    doc(&f, 1, "{\"user\":\"dave\"}");              /* after the execution */
    ASSERT_OK(run(&f, 0, 1, 5));
    ASSERT_STR_EQ(alerts(&f), "d2:[\"bob\"]@0");
    ASSERT_STR_EQ(msgs(&f), "");
    fx_fini(&f);
}

TEST(preview_boundary_at_from)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    doc(&f, -6, "{\"user\":\"a\"}"); /* exactly at from: a is not new */
    doc(&f, -1, "{\"user\":\"a\"}");
    doc(&f, -6, "{\"user\":\"b\"}"); /* only occurrence at from: not new either */
    doc(&f, -5.99, "{\"user\":\"c\"}");
    doc(&f, 0, "{\"user\":\"d\"}"); /* exactly at `to`: inside */
    ASSERT_OK(run(&f, 0, 1, 5));
    ASSERT_STR_EQ(alerts(&f), "d3:[\"c\"]@0 d4:[\"d\"]@0");
    fx_fini(&f);
}

TEST(preview_overlap_minute_once)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    doc(&f, -5.5, "{\"user\":\"a\"}"); /* seen by executions at -5 and 0 */
    doc(&f, -2, "{\"user\":\"b\"}");
    ASSERT_OK(run(&f, 0, 2, 5));
    ASSERT_STR_EQ(alerts(&f), "d0:[\"a\"]@0 d1:[\"b\"]@1");
    fx_fini(&f);
}

TEST(preview_multi_field_arrays)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "h";
    f.fields[1] = "u";
    f.r.new_terms_fields.n = 2;
    doc(&f, -60, "{\"h\":\"h1\",\"u\":\"u1\"}");
    doc(&f, -3, "{\"h\":[\"h1\",\"h2\",\"h1\"],\"u\":[\"u1\",\"u2\"]}");
    doc(&f, -2, "{\"h\":\"h3\"}");            /* u missing: no combination */
    doc(&f, -1, "{\"h\":\"h3\",\"u\":null}"); /* null: no combination */
    doc(&f, -1, "{\"u\":\"u3\"}");
    doc(&f, -1, "{\"h\":\"h3\",\"u\":[]}");
    ASSERT_OK(run(&f, 0, 1, 5));
    /* composite key order; h3/u3 never formed across documents */
    ASSERT_STR_EQ(alerts(&f), "d1:[\"h1\",\"u2\"]@0 d1:[\"h2\",\"u1\"]@0 d1:[\"h2\",\"u2\"]@0");
    fx_fini(&f);
}

TEST(preview_value_identity)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "id";
    f.r.new_terms_fields.n = 1;
    static char big[1100];
    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"id\":\"", 7);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    doc(&f, -60, "{\"id\":\"1\"}");
    doc(&f, -1, "{\"id\":1}");    /* the same term as "1" */
    doc(&f, -1, "{\"id\":true}"); /* a boolean term */
    doc(&f, -1, big);             /* 1093 characters: over ignore_above, no term */
    ASSERT_OK(run(&f, 0, 1, 5));
    ASSERT_STR_EQ(alerts(&f), "d2:[true]@0");
    fx_fini(&f);
}

TEST(preview_max_signals)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    f.r.max_signals = 2;
    doc(&f, -1, "{\"user\":\"c\"}");
    doc(&f, -1, "{\"user\":\"a\"}");
    ASSERT_OK(run(&f, 0, 1, 5));
    ASSERT_STR_EQ(alerts(&f), "d1:[\"a\"]@0 d0:[\"c\"]@0");
    ASSERT_STR_EQ(msgs(&f), ""); /* exactly the limit: no warning */
    pv_result_fini(&f.res);
    pv_result_init(&f.res);
    doc(&f, -1, "{\"user\":\"b\"}");
    doc(&f, -1, "{\"user\":\"b\"}"); /* b has doc_count 2: first in single-field order */
    ASSERT_OK(run(&f, 0, 1, 5));
    ASSERT_STR_EQ(alerts(&f), "d2:[\"b\"]@0 d1:[\"a\"]@0");
    ASSERT_STR_EQ(msgs(&f), "W@0");
    fx_fini(&f);
}

TEST(preview_history_window_error)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    f.r.history_window_ms = 6 * MIN;
    doc(&f, -1, "{\"user\":\"a\"}");
    ASSERT_OK(run(&f, 0, 1, 5));
    ASSERT_STR_EQ(alerts(&f), "");
    ASSERT_STR_EQ(msgs(&f), "E@0");
    fx_fini(&f);
}

TEST(preview_query_rule)
{
    struct fx f;
    fx_init(&f, RULE_QUERY);
    f.r.max_signals = 2;
    doc(&f, -5.5, "{}");
    doc(&f, -4, "{\"x\":true}");
    doc(&f, -3, "{}");
    doc(&f, -2, "{}");
    ASSERT_OK(run(&f, 0, 2, 5));
    /* execution at -5 sees d0; at 0, d0 is a duplicate, d2 and d3 fill the budget exactly */
    ASSERT_STR_EQ(alerts(&f), "d0:-@0 d2:-@1 d3:-@1");
    ASSERT_STR_EQ(msgs(&f), "");
    fx_fini(&f);
}

TEST(preview_suppression_per_execution)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    f.group[0] = "host";
    f.r.suppress_group_by.n = 1;
    doc(&f, -8, "{\"user\":\"a\",\"host\":\"h1\"}");
    doc(&f, -7, "{\"user\":\"b\",\"host\":\"h1\"}");
    doc(&f, -3, "{\"user\":\"c\",\"host\":\"h1\"}");
    doc(&f, -2, "{\"user\":\"d\",\"host\":\"h1\"}");
    doc(&f, -1, "{\"user\":\"e\"}");
    doc(&f, -1, "{\"user\":\"f\"}");
    ASSERT_OK(run(&f, 0, 2, 5));
    /* exec -5: a (b merged); exec 0: c (d merged), e (f merged: missing host = null group) */
    ASSERT_STR_EQ(alerts(&f), "d0:[\"a\"]@0#1 d2:[\"c\"]@1#1 d4:[\"e\"]@1#1");
    ASSERT_STR_EQ(f.res.alerts.ptr[2].sup_terms_json, "[{\"field\":\"host\",\"value\":null}]");
    ASSERT_STR_EQ(f.res.alerts.ptr[0].sup_terms_json, "[{\"field\":\"host\",\"value\":[\"h1\"]}]");
    ASSERT_EQ(f.res.alerts.ptr[0].sup_start_ms, T0 - 8 * MIN);
    ASSERT_EQ(f.res.alerts.ptr[0].sup_end_ms, T0 - 7 * MIN);
    fx_fini(&f);
}

TEST(preview_suppression_duration)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    f.group[0] = "host";
    f.r.suppress_group_by.n = 1;
    f.r.suppress_duration_ms = 60 * MIN;
    f.r.suppress_missing = RULE_DO_NOT_SUPPRESS_MISSING;
    doc(&f, -8, "{\"user\":\"a\",\"host\":\"h1\"}");
    doc(&f, -5.5, "{\"user\":\"b\",\"host\":\"h1\"}"); /* overlap: counted once */
    doc(&f, -3, "{\"user\":\"c\",\"host\":\"h1\"}");
    doc(&f, -1, "{\"user\":\"e\"}");
    doc(&f, -1, "{\"user\":\"f\"}");
    ASSERT_OK(run(&f, 0, 2, 5));
    /* one alert for h1 across both executions: a + b + c; e and f plain alerts */
    ASSERT_STR_EQ(alerts(&f), "d0:[\"a\"]@0#2 d3:[\"e\"]@1 d4:[\"f\"]@1");
    ASSERT_EQ(f.res.alerts.ptr[0].sup_end_ms, T0 - 3 * MIN);
    ASSERT_EQ(f.res.alerts.ptr[0].last_detected_ms, T0);
    ASSERT_EQ(f.res.alerts.ptr[0].exec_ms, T0 - 5 * MIN);
    fx_fini(&f);
}

TEST(preview_suppression_budget)
{
    struct fx f;
    fx_init(&f, RULE_NEW_TERMS);
    f.fields[0] = "user";
    f.r.new_terms_fields.n = 1;
    f.group[0] = "host";
    f.r.suppress_group_by.n = 1;
    f.r.max_signals = 2;
    static char j[10][64];
    for (int i = 0; i < 10; i++) {
        snprintf(j[i], sizeof(j[i]), "{\"user\":\"u%d\",\"host\":\"h\"}", i);
        doc(&f, -1, j[i]);
    }
    ASSERT_OK(run(&f, 0, 1, 5));
    /* 1 created + 9 suppressed >= 5 x 2: Elastic's suppression warning */
    ASSERT_STR_EQ(alerts(&f), "d0:[\"u0\"]@0#9");
    ASSERT_STR_EQ(msgs(&f), "W@0");
    ASSERT(strstr(f.res.msgs.ptr[0].text, "created or suppressed") != NULL);
    fx_fini(&f);
}

TEST(preview_doc_id)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kx_buf b;
    kx_buf_init(&b, 0);
    const char *j1 = "{\"_id\":\"abc\",\"kubernetes\":{\"audit\":{\"auditID\":\"x\"}}}";
    ASSERT_OK(det_doc_id(ev_json_parse(&a, j1, strlen(j1), "t", NULL), &b));
    ASSERT_STR_EQ(b.ptr, "abc");
    kx_buf_reset(&b);
    const char *j2 =
        "{\"kubernetes\":{\"audit\":{\"auditID\":\"x\",\"stage\":\"ResponseComplete\"}}}";
    ASSERT_OK(det_doc_id(ev_json_parse(&a, j2, strlen(j2), "t", NULL), &b));
    ASSERT_STR_EQ(b.ptr, "x-ResponseComplete");
    kx_buf_reset(&b);
    const char *j3 = "{\"a\":1}";
    ASSERT_OK(det_doc_id(ev_json_parse(&a, j3, strlen(j3), "t", NULL), &b));
    ASSERT_EQ(b.len, 17);
    kx_buf_fini(&b);
    kx_arena_fini(&a);
}

/*
 * test_detect.c - unit tests of the streaming engine's pieces that need no rule loader: event
 * times, alert ids, the alert document and Elastic's reason template (detect/det_alert.c), and
 * the engine itself on hand-built rules with compiled KQL and an in-memory state store.
 * End-to-end behaviour (files, state across runs, exceptions) is in tests/cases/.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "detect/detect.h"

#include <stdio.h>
#include <string.h>

TEST(detect_parse_time)
{
    int64_t ms;
    ASSERT(det_parse_time("2026-03-01T10:00:00Z", 20, &ms));
    ASSERT_EQ(ms, 1772359200000LL);
    ASSERT(det_parse_time("2026-03-01T10:00:00.123456Z", 27, &ms));
    ASSERT_EQ(ms, 1772359200123LL);
    ASSERT(det_parse_time("2026-03-01T12:00:00+02:00", 25, &ms));
    ASSERT_EQ(ms, 1772359200000LL);
    ASSERT(det_parse_time("1772359200123", 13, &ms));
    ASSERT_EQ(ms, 1772359200123LL);
    ASSERT(!det_parse_time("yesterday", 9, &ms));
    ASSERT(!det_parse_time("", 0, &ms));
    char buf[32];
    det_fmt_time(1772359200123LL, buf);
    ASSERT_STR_EQ(buf, "2026-03-01T10:00:00.123Z");
}

TEST(detect_alert_uuid_stable)
{
    char a[33], b[33], c[33], d[33];
    det_alert_uuid("rule", "5:alice,", 8, "id-1", 4, a);
    det_alert_uuid("rule", "5:alice,", 8, "id-1", 4, b);
    det_alert_uuid("rule", "5:alice,", 8, "id-2", 4, c);
    det_alert_uuid("rule2", "5:alice,", 8, "id-1", 4, d);
    ASSERT_EQ(strlen(a), 32);
    ASSERT_STR_EQ(a, b);
    ASSERT(strcmp(a, c) != 0);
    ASSERT(strcmp(a, d) != 0);
    /* pinned: ids are part of the state and of users' alert stores; they must never drift */
    det_alert_uuid("8a1db198-da6f-4500-b985-7fe2457300af", "", 0, "x-ResponseComplete", 18, a);
    det_alert_uuid("8a1db198-da6f-4500-b985-7fe2457300af", "", 0, "x-ResponseComplete", 18, b);
    ASSERT_STR_EQ(a, b);
}

static void fake_rule(struct rule *r, const char *name, const char *sev)
{
    memset(r, 0, sizeof(*r));
    r->type = RULE_QUERY;
    r->type_name = "query";
    r->rule_id = "r-1";
    r->name = name;
    r->severity = sev;
    r->risk_score = 47;
    r->max_signals = 100;
    r->threat_json = "[]";
    r->history_window_abs_ms = INT64_MIN;
}

static char *alert_with(const char *json, const struct rule *r, kx_buf *reason)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct ev_node *doc = ev_json_parse(&a, json, strlen(json), "<t>", NULL);
    ASSERT_NOT_NULL(doc);
    struct det_alert_extra x = {
        .timestamp_ms = 1772359200000LL,
        .last_detected_ms = DET_TIME_NONE,
        .event_ms = DET_TIME_NONE,
        .uuid = "0123",
        .intended_ms = DET_TIME_NONE,
        .reason = reason,
    };
    kx_buf out;
    kx_buf_init(&out, 1 << 20);
    ASSERT_OK(det_alert_write(&out, r, doc, &x, NULL));
    kx_arena_fini(&a);
    return kx_buf_take(&out, NULL);
}

static char *alert_for(const char *json, kx_buf *reason)
{
    struct rule r;
    fake_rule(&r, "My rule", "high");
    return alert_with(json, &r, reason);
}

TEST(detect_reason_template)
{
    kx_buf reason;
    kx_buf_init(&reason, 4096);
    char *s = alert_for("{\"@timestamp\":\"2026-03-01T10:00:00Z\"}", &reason);
    ASSERT_STR_EQ(reason.ptr, "event created high alert My rule.");
    kx_free(s);
    s = alert_for(
        "{\"event\":{\"category\":[\"authentication\"]},\"source\":{\"ip\":\"8.42.77.171\"},"
        "\"user\":{\"name\":\"root\"},\"host\":{\"name\":\"zeek-1\"}}",
        &reason);
    ASSERT_STR_EQ(reason.ptr, "authentication event with source 8.42.77.171 by root on zeek-1 "
                              "created high alert My rule.");
    kx_free(s);
    s = alert_for(
        "{\"process\":{\"name\":\"sh\",\"parent\":{\"name\":\"bash\"}},\"source\":{\"ip\":"
        "\"1.2.3.4\",\"port\":80},\"destination\":{\"ip\":[\"5.6.7.8\",\"9.9.9.9\"]},"
        "\"user\":{\"name\":\"-\"},\"host\":{\"name\":\"\"}}",
        &reason);
    /* a port that is a JSON number has no `length` in Elastic's check: absent */
    ASSERT_STR_EQ(reason.ptr, "event with process sh, parent process bash, source 1.2.3.4 "
                              "destination 5.6.7.8, 9.9.9.9 created high alert My rule.");
    kx_free(s);
    kx_buf_fini(&reason);
}

/* Elastic's getFieldTemplateValue and lodash getOr, case by case (semantics.md, "The alert
 * document"). */
TEST(detect_reason_value_rules)
{
    static const struct {
        const char *doc, *want;
    } c[] = {
        /* arrays are joined; an array port is present */
        {"{\"source\":{\"ip\":[\"1.2.3.4\"],\"port\":[443]}}",
         "event with source 1.2.3.4:443, created high alert My rule."},
        /* ["-"] and [] are absent, ["", "x"] is joined as is */
        {"{\"user\":{\"name\":[\"-\"]},\"host\":{\"name\":[]}}",
         "event created high alert My rule."},
        {"{\"user\":{\"name\":[\"\",\"x\"]}}", "event by , x created high alert My rule."},
        /* booleans and objects have no length: absent */
        {"{\"user\":{\"name\":true},\"host\":{\"name\":{\"a\":1}}}",
         "event created high alert My rule."},
        /* a flat dotted key is found as one key */
        {"{\"user.name\":\"alice\",\"host\":{\"name\":\"h1\"}}",
         "event by alice on h1 created high alert My rule."},
        /* the text "null" selects the template's null case, but still counts for " with" */
        {"{\"source\":{\"ip\":\"null\"},\"user\":{\"name\":\"null\"}}",
         "event with created high alert My rule."},
        /* arrays of objects are not walked (lodash get) */
        {"{\"user\":[{\"name\":\"bob\"}]}", "event created high alert My rule."},
        /* event.category string and array */
        {"{\"event\":{\"category\":[\"a\",\"b\"]},\"file\":{\"name\":\"f\"}}",
         "a, b event with file f, created high alert My rule."},
    };
    kx_buf reason;
    kx_buf_init(&reason, 4096);
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char *s = alert_for(c[i].doc, &reason);
        ASSERT_STR_EQ(reason.ptr, c[i].want);
        kx_free(s);
    }
    kx_buf_fini(&reason);
}

TEST(detect_alert_document_shape)
{
    char *s =
        alert_for("{\"@timestamp\":\"2026-03-01T09:00:00Z\",\"kibana\":{\"x\":1},\"signal\":1,"
                  "\"event\":{\"kind\":\"event\",\"dataset\":\"k\"},\"empty\":{},"
                  "\"kubernetes\":{\"audit\":{\"auditID\":\"a1\",\"stage\":\"ResponseComplete\"}}}",
                  NULL);
    /* source copied without kibana*, signal*, event.kind, empty objects and its @timestamp */
    ASSERT(strstr(s, "\"kibana\":") == NULL);
    ASSERT(strstr(s, "\"signal\":") == NULL);
    ASSERT(strstr(s, "\"empty\"") == NULL);
    ASSERT(strstr(s, "\"event\":{\"dataset\":\"k\"}") != NULL);
    ASSERT(strstr(s, "\"@timestamp\":\"2026-03-01T10:00:00.000Z\"") != NULL);
    ASSERT(strstr(s, "\"event.kind\":\"signal\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.original_event.kind\":\"event\"") != NULL);
    /* Elastic: new Date(@timestamp).toISOString() */
    ASSERT(strstr(s, "\"kibana.alert.original_time\":\"2026-03-01T09:00:00.000Z\"") != NULL);
    /* scheduled runs: intended time = @timestamp; execution timestamp = write time */
    ASSERT(strstr(s, "\"kibana.alert.intended_timestamp\":\"2026-03-01T10:00:00.000Z\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.rule.execution.timestamp\":\"2026-03-01T10:00:00.000Z\"") !=
           NULL);
    ASSERT(strstr(s, "\"kibana.alert.ancestors\":[{\"id\":\"a1-ResponseComplete\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.rule.rule_type_id\":\"siem.queryRule\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.uuid\":\"0123\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.new_terms\"") == NULL);
    kx_free(s);

    /* Elasticsearch metadata (_id, _index) is not source: ancestors carry them, the body not */
    s = alert_for(
        "{\"_id\":\"d1\",\"_index\":\"logs-x\",\"@timestamp\":\"2026-03-01T10:00:00+01:00\","
        "\"user\":{\"name\":\"a\"}}",
        NULL);
    ASSERT(strstr(s, "\"kibana.alert.ancestors\":[{\"id\":\"d1\",\"type\":\"event\",\"index\":"
                     "\"logs-x\",\"depth\":0}]") != NULL);
    ASSERT(strstr(s, "\"_id\"") == NULL);
    ASSERT(strstr(s, "\"_index\"") == NULL);
    /* time zones are converted to UTC; epoch milliseconds are dates too */
    ASSERT(strstr(s, "\"kibana.alert.original_time\":\"2026-03-01T09:00:00.000Z\"") != NULL);
    kx_free(s);
    s = alert_for("{\"@timestamp\":1772355600000}", NULL);
    ASSERT(strstr(s, "\"kibana.alert.original_time\":\"2026-03-01T09:00:00.000Z\"") != NULL);
    kx_free(s);
    s = alert_for("{\"@timestamp\":\"not a date\"}", NULL);
    ASSERT(strstr(s, "\"kibana.alert.original_time\"") == NULL);
    kx_free(s);
}

TEST(detect_alert_rule_fields)
{
    struct rule r;
    fake_rule(&r, "My rule", "high");
    r.license = "Elastic License v2";
    r.rule_name_override = "rule.title";
    r.building_block_type = "default";
    r.timestamp_override = "event.ingested";
    kx_buf reason;
    kx_buf_init(&reason, 4096);
    char *s = alert_with("{\"rule\":{\"title\":\"Override name\"},\"user\":{\"name\":\"u\"}}", &r,
                         &reason);
    ASSERT(strstr(s, "\"kibana.alert.rule.license\":\"Elastic License v2\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.rule.building_block_type\":\"default\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.rule.name\":\"Override name\"") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.rule.meta.ruleNameOverridden\":true") != NULL);
    ASSERT(strstr(s, "\"kibana.alert.rule.rule_name_override\":\"rule.title\"") != NULL);
    ASSERT_STR_EQ(reason.ptr, "event by u created high alert Override name.");
    /* parameters carry the rule's params in snake_case */
    ASSERT(strstr(s, "\"license\":\"Elastic License v2\"") != NULL);
    ASSERT(strstr(s, "\"risk_score_mapping\":[]") != NULL);
    ASSERT(strstr(s, "\"severity_mapping\":[]") != NULL);
    ASSERT(strstr(s, "\"immutable\":true") != NULL);
    ASSERT(strstr(s, "\"exceptions_list\":[]") != NULL);
    ASSERT(strstr(s, "\"timestamp_override\":\"event.ingested\"") != NULL);
    /* an optional param the rule does not set is absent, as in Elastic's stored params */
    ASSERT(strstr(s, "timestamp_override_fallback_disabled") == NULL);
    kx_free(s);
    /* without the field in the source: the rule's own name, no meta */
    s = alert_with("{\"user\":{\"name\":\"u\"}}", &r, &reason);
    ASSERT(strstr(s, "\"kibana.alert.rule.name\":\"My rule\"") != NULL);
    ASSERT(strstr(s, "ruleNameOverridden") == NULL);
    kx_free(s);
    kx_buf_fini(&reason);
}

/* ---- the engine on hand-built rules ------------------------------------------------------- */

struct sink {
    int n;
    char uuids[16][33];
    char terms[16][64];
};

static int on_alert(const struct det_alert *a, void *ud)
{
    struct sink *k = ud;
    if (k->n < 16) {
        snprintf(k->uuids[k->n], 33, "%s", a->uuid);
        k->terms[k->n][0] = '\0';
        for (size_t i = 0; i < a->nterms; i++) {
            size_t l = strlen(k->terms[k->n]);
            snprintf(k->terms[k->n] + l, 64 - l, "%s%.*s", i ? "|" : "", (int)a->terms[i].len,
                     a->terms[i].ptr);
        }
    }
    k->n++;
    return 0;
}

static const char *const NT_RULE =
    "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
    "updated_date = \"2026/01/01\"\n\n[rule]\nauthor = [\"t\"]\ndescription = \"t\"\n"
    "language = \"kuery\"\nname = \"nt\"\nrisk_score = 21\nrule_id = \"nt-1\"\n"
    "severity = \"low\"\ntype = \"new_terms\"\nquery = "
    "'kubernetes.audit.stage:\"ResponseComplete\"'\n"
    "\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.name\", \"ua\"]\n"
    "[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\n"
    "value = \"now-10d\"\n";

static void feed(struct det_engine *e, struct st_store *st, kx_arena *a, const char *json)
{
    struct ev_node *doc = ev_json_parse(a, json, strlen(json), "<t>", NULL);
    ASSERT_NOT_NULL(doc);
    struct det_event ev = {.doc = doc, .raw = json, .raw_len = strlen(json)};
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(det_process(e, &ev, NULL));
    ASSERT_OK(st_commit(st, NULL));
    kx_arena_reset(a);
}

/* NT_RULE written to path and loaded (the caller removes the file). */
static struct rule_set *load_nt_rule(const char *path)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(NT_RULE, f);
    fclose(f);
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, path));
    return rs;
}

TEST(detect_engine_new_terms)
{
    char path[] = "build/test_detect_rule.toml";
    struct rule_set *rs = load_nt_rule(path);
    struct st_store *st = NULL;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    struct sink k;
    memset(&k, 0, sizeof(k));
    struct det_opts o = {.rules = rs, .state = st, .now_ms = 0, .on_alert = on_alert, .ud = &k};
    ASSERT_OK(st_begin(st, NULL));
    struct det_engine *e = det_new(&o, NULL);
    ASSERT_NOT_NULL(e);
    ASSERT_OK(st_commit(st, NULL));
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *base = "\"kubernetes\":{\"audit\":{\"stage\":\"ResponseComplete\",\"auditID\":";
    char buf[512];
#define DOC(id, ts, user, ua)                                                                      \
    (snprintf(buf, sizeof(buf),                                                                    \
              "{%s\"%s\"}},\"@timestamp\":\"%s\",\"user\":{\"name\":%s},\"ua\":%s}", base, id, ts, \
              user, ua),                                                                           \
     buf)
    feed(e, st, &a, DOC("1", "2026-03-01T00:00:00Z", "\"alice\"", "\"k/1\""));           /* new */
    feed(e, st, &a, DOC("2", "2026-03-05T00:00:00Z", "\"alice\"", "\"k/1\""));           /* known */
    feed(e, st, &a, DOC("3", "2026-03-16T00:00:00Z", "\"alice\"", "\"k/1\""));           /* 11 d */
    feed(e, st, &a, DOC("4", "2026-03-16T00:00:00Z", "[\"a\",\"b\"]", "[\"x\",\"x\"]")); /* 2 */
    feed(e, st, &a, DOC("5", "2026-03-16T00:00:00Z", "null", "\"k/1\""));                /* none */
    feed(e, st, &a, DOC("6", "2026-03-16T00:00:00Z", "\"alice\"", "\"\""));              /* "" */
    /* a replay of document 1 with its old time: more than W before the watermark, too late */
    feed(e, st, &a, DOC("1", "2026-03-01T00:00:00Z", "\"alice\"", "\"k/1\""));
    /* a replay of document 3: known, and its alert id was emitted */
    feed(e, st, &a, DOC("3", "2026-03-16T00:00:00Z", "\"alice\"", "\"k/1\""));
#undef DOC
    ASSERT_EQ(k.n, 5);
    ASSERT_STR_EQ(k.terms[0], "alice|k/1");
    ASSERT_STR_EQ(k.terms[1], "alice|k/1");
    ASSERT_STR_EQ(k.terms[2], "a|x");
    ASSERT_STR_EQ(k.terms[3], "b|x");
    ASSERT_STR_EQ(k.terms[4], "alice|");
    ASSERT(strcmp(k.uuids[0], k.uuids[1]) != 0);
    struct det_rule_stats s;
    det_rule_stats(e, 0, &s);
    ASSERT_EQ(s.matched, 7);
    ASSERT_EQ(s.too_late, 1);
    ASSERT_EQ(s.alerts, 5);
    ASSERT_EQ(s.no_terms, 1);
    kx_arena_fini(&a);
    det_free(e);
    st_close(st);
    rule_set_free(rs);
    remove(path);
}

/* One event from the future (a skewed node clock, or a forged 2099 time) must not blind the rule:
   with det_opts.future_ms it counts as `future` and, the rule having seen nothing yet, is set
   aside; later events are judged normally. Without the limit (0) the old behaviour remains: the
   watermark jumps to 2099 and every later event is too late. */
static void run_future(int64_t future_ms, uint64_t want_alerts, uint64_t want_future,
                       uint64_t want_late)
{
    char path[] = "build/test_detect_future.toml";
    struct rule_set *rs = load_nt_rule(path);
    struct st_store *st = NULL;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    struct sink k;
    memset(&k, 0, sizeof(k));
    struct det_opts o = {
        .rules = rs, .state = st, .on_alert = on_alert, .ud = &k, .future_ms = future_ms};
    ASSERT_OK(st_begin(st, NULL));
    struct det_engine *e = det_new(&o, NULL);
    ASSERT_NOT_NULL(e);
    ASSERT_OK(st_commit(st, NULL));
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    static const char *const docs[] = {
        "{\"kubernetes\":{\"audit\":{\"stage\":\"ResponseComplete\",\"auditID\":\"f1\"}},"
        "\"@timestamp\":\"2099-01-01T00:00:00Z\",\"user\":{\"name\":\"eve\"},\"ua\":\"x\"}",
        "{\"kubernetes\":{\"audit\":{\"stage\":\"ResponseComplete\",\"auditID\":\"f2\"}},"
        "\"@timestamp\":\"2026-03-01T00:01:00Z\",\"user\":{\"name\":\"bob\"},\"ua\":\"y\"}",
        "{\"kubernetes\":{\"audit\":{\"stage\":\"ResponseComplete\",\"auditID\":\"f3\"}},"
        "\"@timestamp\":\"2026-03-01T00:02:00Z\",\"user\":{\"name\":\"carol\"},\"ua\":\"z\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        struct ev_node *doc = ev_json_parse(&a, docs[i], strlen(docs[i]), "<t>", NULL);
        ASSERT_NOT_NULL(doc);
        struct det_event ev = {.doc = doc,
                               .raw = docs[i],
                               .raw_len = strlen(docs[i]),
                               .read_ms = 1772323200000LL /* 2026-03-01T00:00:00Z */};
        ASSERT_OK(st_begin(st, NULL));
        ASSERT_OK(det_process(e, &ev, NULL));
        ASSERT_OK(st_commit(st, NULL));
        kx_arena_reset(&a);
    }
    struct det_rule_stats s;
    det_rule_stats(e, 0, &s);
    ASSERT_EQ(s.alerts, want_alerts);
    ASSERT_EQ(s.future, want_future);
    ASSERT_EQ(s.too_late, want_late);
    kx_arena_fini(&a);
    det_free(e);
    st_close(st);
    rule_set_free(rs);
    remove(path);
}

TEST(detect_future_event_does_not_blind)
{
    run_future(15 * 60 * 1000, 2, 1, 0);
    run_future(0, 1, 0, 2);
}

/*
 * test_event_decode.c - the decoder, the ECS mapping, the extractor and the record reader:
 * unit cases, Elastic's pipeline tests (../shared/data/elastic-audit-pipeline), every real
 * audit file under ../shared/data, and the differential test extractor vs full parse.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers -------------------------------------------------------------------------------- */

struct vals {
    kx_buf b;
};

static bool vals_visit(const struct ev_node *v, bool partial, void *ctx)
{
    kx_buf *b = ctx;
    if (b->len)
        kx_buf_addc(b, ',');
    if (partial)
        kx_buf_addc(b, '~');
    if (v->type == EV_OBJECT || v->type == EV_ARRAY)
        ev_json_dump(v, b);
    else if (v->type == EV_TRUE || v->type == EV_FALSE)
        kx_buf_adds(b, v->type == EV_TRUE ? "true" : "false");
    else
        kx_buf_add(b, v->str, v->len);
    return false;
}

/* All values of path in doc, comma-joined, into b (reset first). */
static const char *vals(kx_buf *b, const struct ev_node *doc, const char *path)
{
    kx_buf_reset(b);
    kx_buf_add(b, "", 0);
    ev_values(doc, path, strlen(path), vals_visit, b);
    return b->ptr;
}

/* Decode a one-event JSON text with a full decoder; returns the event (arena-owned). */
static int decode1(struct ev_decoder *d, kx_arena *a, const char *json, struct ev_event *ev,
                   kad_err *err)
{
    struct ev_record rec = {json, strlen(json), "<t>", 1, 1, 0};
    return ev_decode(d, a, &rec, ev, err);
}

/* ---- mapping unit cases --------------------------------------------------------------------- */

TEST(event_ecs_mapping)
{
    struct ev_decoder_opts o = {.ingested = EV_INGESTED_NOW, .now_ms = 1700000000999};
    struct ev_host h = {.name = "n1", .os_type = "linux"};
    o.host = &h;
    struct ev_decoder *d = ev_decoder_new(&o);
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kx_buf b;
    kx_buf_init(&b, 0);
    struct ev_event ev;
    kad_err err;
    const char *j =
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"a1\",\"stage\":"
        "\"ResponseComplete\",\"verb\":\"get\",\"user\":{\"username\":\"bob\",\"uid\":\"\","
        "\"extra\":{}},\"sourceIPs\":[\"10.0.0.1\",\"::1\"],\"userAgent\":\"curl/8\","
        "\"objectRef\":{\"resource\":\"pods\",\"apiGroup\":\"\"},\"requestObject\":{\"metadata\":"
        "{\"name\":\"x\"},\"spec\":{\"a\":1}},\"annotations\":{\"authorization.k8s.io/decision\":"
        "\"forbid\",\"pod-security.kubernetes.io/enforce-policy\":\"privileged:latest\","
        "\"authorization.k8s.io/reason\":\"\"},\"stageTimestamp\":\"2025-03-04T06:22:18.822532Z\"}";
    ASSERT_OK(decode1(d, &a, j, &ev, &err));
    ASSERT_EQ(ev.format, EV_FMT_K8S);
    ASSERT_EQ(ev.ts_ms, 1741069338822);
    ASSERT_EQ(ev.ingested_ms, 1700000000000);
    ASSERT_EQ(ev.audit_id.len, 2);
    ASSERT_STR_EQ(vals(&b, ev.doc, "@timestamp"), "2025-03-04T06:22:18.822Z");
    ASSERT_STR_EQ(vals(&b, ev.doc, "event.ingested"), "2023-11-14T22:13:20Z");
    ASSERT_STR_EQ(vals(&b, ev.doc, "event.outcome"), "failure");
    ASSERT_STR_EQ(vals(&b, ev.doc, "event.action"), "get");
    ASSERT_STR_EQ(vals(&b, ev.doc, "kubernetes.audit.annotations.authorization_k8s_io/decision"),
                  "forbid");
    ASSERT_STR_EQ(
        vals(&b, ev.doc, "kubernetes.audit.annotations.pod-security_kubernetes_io/enforce-policy"),
        "privileged:latest");
    ASSERT_STR_EQ(vals(&b, ev.doc, "kubernetes.audit.annotations.authorization_k8s_io/reason"), "");
    ASSERT_STR_EQ(vals(&b, ev.doc, "kubernetes.audit.objectRef.apiGroup"), "");
    ASSERT_STR_EQ(vals(&b, ev.doc, "kubernetes.audit.user.extra"), "");
    ASSERT_STR_EQ(vals(&b, ev.doc, "kubernetes.audit.requestObject"), "{\"spec\":{\"a\":1}}");
    ASSERT_STR_EQ(vals(&b, ev.doc, "user.name"), "bob");
    ASSERT_STR_EQ(vals(&b, ev.doc, "user.id"), "");
    ASSERT_STR_EQ(vals(&b, ev.doc, "related.user"), "bob");
    ASSERT_STR_EQ(vals(&b, ev.doc, "source.ip"), "10.0.0.1,::1");
    ASSERT_STR_EQ(vals(&b, ev.doc, "related.ip"), "10.0.0.1,::1");
    ASSERT_STR_EQ(vals(&b, ev.doc, "user_agent.original"), "curl/8");
    ASSERT_STR_EQ(vals(&b, ev.doc, "data_stream.dataset"), "kubernetes.audit_logs");
    ASSERT_STR_EQ(vals(&b, ev.doc, "event.dataset"), "kubernetes.audit_logs");
    ASSERT_STR_EQ(vals(&b, ev.doc, "host.os.type"), "linux");
    ASSERT_STR_EQ(vals(&b, ev.doc, "host.name"), "n1");
    ASSERT_STR_EQ(vals(&b, ev.doc, "orchestrator.resource.type"), "pods");
    kx_arena_reset(&a);

    /* an invalid IP leaves source.ip out; v1beta1 timestamp becomes stageTimestamp */
    j = "{\"apiVersion\":\"audit.k8s.io/v1beta1\",\"auditID\":\"b\",\"sourceIPs\":[\"1.2.3.4\","
        "\"nope\"],\"timestamp\":\"2017-09-11T19:55:05Z\",\"metadata\":{\"creationTimestamp\":"
        "\"2017-09-11T19:55:05Z\"}}";
    ASSERT_OK(decode1(d, &a, j, &ev, &err));
    ASSERT_STR_EQ(vals(&b, ev.doc, "source.ip"), "");
    ASSERT_STR_EQ(vals(&b, ev.doc, "kubernetes.audit.stageTimestamp"), "2017-09-11T19:55:05Z");
    ASSERT_EQ(ev.ts_ms, 1505159705000);
    kx_arena_reset(&a);

    /* not an audit event: positioned error */
    ASSERT_EQ(decode1(d, &a, "{\"kind\": 0}", &ev, &err), KAD_EUNSUPPORTED);
    ASSERT_EQ(err.line, 1);
    ASSERT_EQ(err.col, 1);
    ASSERT_EQ(decode1(d, &a, "{\"kind\": }", &ev, &err), KAD_ESYNTAX);
    ASSERT_EQ(err.col, 10);
    /* an ECS document is taken as is */
    ASSERT_OK(decode1(d, &a,
                      "{\"@timestamp\":\"2022-08-31T08:09:57.520Z\",\"kubernetes\":{\"audit\":{"
                      "\"auditID\":\"z\",\"stage\":\"ResponseComplete\"}},\"event\":{\"ingested\":"
                      "\"2022-08-31T08:09:58Z\"}}",
                      &ev, &err));
    ASSERT_EQ(ev.format, EV_FMT_ECS);
    ASSERT_EQ(ev.ts_ms, 1661933397520);
    ASSERT_EQ(ev.ingested_ms, 1661933398000);
    ASSERT_EQ(ev.stage.len, 16);
    ASSERT_STR_EQ(vals(&b, ev.doc, "host.os.type"), "");
    kx_arena_fini(&a);
    kx_buf_fini(&b);
    ev_decoder_free(d);
}

struct collect_ctx {
    kx_buf b;
    int events, errors;
    kad_err last;
};

static int collect_event(void *ctx, const struct ev_event *ev)
{
    struct collect_ctx *c = ctx;
    kx_buf t1, t2;
    kx_buf_init(&t1, 0);
    kx_buf_init(&t2, 0);
    kx_buf_addf(&c->b, "%u:%s:%s;", ev->item, vals(&t1, ev->doc, "kubernetes.audit.kind"),
                vals(&t2, ev->doc, "orchestrator.api_version"));
    kx_buf_fini(&t1);
    kx_buf_fini(&t2);
    c->events++;
    return 0;
}

static void collect_error(void *ctx, const kad_err *err)
{
    struct collect_ctx *c = ctx;
    c->errors++;
    c->last = *err;
}

TEST(event_decode_lists)
{
    struct ev_decoder *d = ev_decoder_new(NULL);
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct collect_ctx c;
    memset(&c, 0, sizeof(c));
    kx_buf_init(&c.b, 0);
    struct ev_sink sink = {collect_event, collect_error, &c};
    const char *body = "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},"
                       "\"items\":[{\"auditID\":\"1\",\"verb\":\"get\"},{\"level\":\"x\"},5]}";
    struct ev_record rec = {body, strlen(body), "webhook", 3, 1, 100};
    ASSERT_OK(ev_decode_record(d, &a, &rec, &sink));
    ASSERT_STR_EQ(c.b.ptr, "0:Event:audit.k8s.io/v1;1:Event:audit.k8s.io/v1;");
    ASSERT_EQ(c.errors, 1);
    ASSERT_EQ(c.last.line, 3);
    ASSERT(strstr(c.last.msg, "item 2:") != NULL);
    kx_buf_reset(&c.b);
    const char *arr =
        "[{\"kind\":\"Event\",\"auditID\":\"1\"},{\"kind\":\"Event\",\"auditID\":\"2\"}]";
    rec = (struct ev_record){arr, strlen(arr), "f", 1, 1, 0};
    ASSERT_OK(ev_decode_record(d, &a, &rec, &sink));
    ASSERT_STR_EQ(c.b.ptr, "0:Event:;1:Event:;");
    struct ev_event ev;
    kad_err err;
    ASSERT_EQ(ev_decode(d, &a, &rec, &ev, &err), KAD_EUNSUPPORTED);
    kx_buf_fini(&c.b);
    kx_arena_fini(&a);
    ev_decoder_free(d);
}

/* Per-record shapes beyond audit events (ecs-mapping.md, "Formats and detection"). */
TEST(event_detect_more_shapes)
{
    struct ev_decoder *d = ev_decoder_new(NULL);
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    struct ev_event ev;
    kad_err err;
    /* legacy text format: reported as such */
    ASSERT_EQ(decode1(d, &a,
                      "2017-09-11T19:55:05.123456789Z AUDIT: id=\"0\" stage=\"ResponseComplete\" "
                      "ip=\"127.0.0.1\" method=\"list\" user=\"admin\"",
                      &ev, &err),
              KAD_EUNSUPPORTED);
    ASSERT(strstr(err.msg, "legacy audit log line") != NULL);
    /* an ECS document without kubernetes.*: as it is */
    ASSERT_OK(decode1(d, &a,
                      "{\"@timestamp\":\"2026-03-01T10:00:00+01:00\",\"host\":{\"name\":\"h\"}}",
                      &ev, &err));
    ASSERT_EQ(ev.format, EV_FMT_ECS);
    ASSERT_EQ(ev.ts_ms, 1772355600000LL);
    ASSERT_OK(decode1(d, &a, "{\"user.name\":\"u\",\"@timestamp\":1772355600000}", &ev, &err));
    ASSERT_EQ(ev.format, EV_FMT_ECS);
    ASSERT_EQ(ev.ts_ms, 1772355600000LL);
    /* a cloud envelope: the event in message */
    ASSERT_OK(decode1(
        d, &a,
        "{\"message\":\"{\\\"kind\\\":\\\"Event\\\",\\\"auditID\\\":\\\"m1\\\","
        "\\\"stage\\\":\\\"ResponseComplete\\\"}\",\"input\":{\"type\":\"aws-cloudwatch\"}}",
        &ev, &err));
    ASSERT_EQ(ev.format, EV_FMT_K8S);
    ASSERT_EQ(ev.audit_id.len, 2);
    /* plain unknown JSON is still an error */
    ASSERT_EQ(decode1(d, &a, "{\"a\":1}", &ev, &err), KAD_EUNSUPPORTED);
    kx_arena_fini(&a);
    ev_decoder_free(d);
}

TEST(event_time)
{
    int64_t ms;
    ASSERT(ev_time_parse("1970-01-01T00:00:00Z", 20, &ms));
    ASSERT_EQ(ms, 0);
    ASSERT(ev_time_parse("2025-10-07T16:19:19.647880072Z", 30, &ms));
    char buf[32];
    ev_time_fmt_ms(ms, buf);
    ASSERT_STR_EQ(buf, "2025-10-07T16:19:19.647Z");
    ASSERT(ev_time_parse("2025-10-07T18:19:19+02:00", 25, &ms));
    ev_time_fmt_s(ms, buf);
    ASSERT_STR_EQ(buf, "2025-10-07T16:19:19Z");
    ASSERT(ev_time_parse("1969-12-31T23:59:59.5Z", 22, &ms));
    ASSERT_EQ(ms, -500);
    ev_time_fmt_ms(ms, buf);
    ASSERT_STR_EQ(buf, "1969-12-31T23:59:59.500Z");
    ASSERT_FALSE(ev_time_parse("2025-13-01T00:00:00Z", 20, &ms));
    ASSERT_FALSE(ev_time_parse("2025-01-01T00:00:00Zx", 21, &ms));
    ASSERT_FALSE(ev_time_parse("yesterday", 9, &ms));
    /* Elasticsearch's strict_date_optional_time: partial dates and times, offsets +HHmm, +HH */
    static const struct {
        const char *s, *want;
    } ok[] = {
        {"2026-03-01", "2026-03-01T00:00:00.000Z"},
        {"2026-03", "2026-03-01T00:00:00.000Z"},
        {"2026", "2026-01-01T00:00:00.000Z"},
        {"2026-03-01T10", "2026-03-01T10:00:00.000Z"},
        {"2026-03-01T10:05", "2026-03-01T10:05:00.000Z"},
        {"2026-03-01T10:05Z", "2026-03-01T10:05:00.000Z"},
        {"2026-03-01T10:05:06.7+0130", "2026-03-01T08:35:06.700Z"},
        {"2026-03-01T10:05:06-05", "2026-03-01T15:05:06.000Z"},
        {"2026-03-01T00:00:00.999999999-00:00", "2026-03-01T00:00:00.999Z"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ASSERT(ev_time_parse(ok[i].s, strlen(ok[i].s), &ms));
        ev_time_fmt_ms(ms, buf);
        ASSERT_STR_EQ(buf, ok[i].want);
    }
    static const char *const bad[] = {"2026-3-01",
                                      "2026-03-01T1",
                                      "2026-03-01T10:05:06.Z",
                                      "2026-03-01T10:05+1",
                                      "2026-03-01T10:05+25:00",
                                      "20260301",
                                      "2026-03-01T24:00:00Z",
                                      ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_FALSE(ev_time_parse(bad[i], strlen(bad[i]), &ms));
}

/* ---- extractor ------------------------------------------------------------------------------ */

static const char *extract(kx_buf *b, const char *json, const char *const *paths)
{
    struct ev_paths *p = ev_paths_new();
    for (size_t i = 0; paths[i]; i++)
        ev_paths_add(p, paths[i], strlen(paths[i]), strcmp(paths[i], "stop") ? 0 : EV_PATH_ABORT);
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    bool aborted;
    struct ev_node *n = ev_json_extract(&a, json, strlen(json), p, NULL, "<t>", &aborted, &err);
    kx_buf_reset(b);
    if (n)
        ev_json_dump(n, b);
    else if (aborted)
        kx_buf_adds(b, "ABORT");
    else
        kx_buf_addf(b, "ERR %u:%u %s", err.line, err.col, err.msg);
    kx_arena_fini(&a);
    ev_paths_free(p);
    return b->ptr;
}

TEST(event_extract)
{
    kx_buf b;
    kx_buf_init(&b, 0);
    const char *const p1[] = {"a.b", "c", "stop", NULL};
    ASSERT_STR_EQ(
        extract(&b, "{\"a\":{\"b\":1,\"x\":[1,{\"y\":2}]},\"c\":[3,{\"d\":4}],\"e\":5}", p1),
        "{\"a\":{\"b\":1},\"c\":[3,{\"d\":4}]}");
    /* dotted keys, arrays of objects, partial captures */
    ASSERT_STR_EQ(extract(&b, "{\"a.b\":1,\"a\":[{\"b\":2},{\"z\":0},7],\"c.d\":{\"e\":1}}", p1),
                  "{\"a.b\":1,\"a\":[{\"b\":2}],\"c.d\":{\"e\":1}}");
    ASSERT_STR_EQ(extract(&b, "{\"x\":1,\"stop\":2}", p1), "ABORT");
    ASSERT_STR_EQ(extract(&b, "[1]", p1), "ABORT");
    /* skipped parts are still validated, with the full parser's messages */
    ASSERT_STR_EQ(extract(&b, "{\"x\":[1,2,}", p1),
                  "ERR 1:11 unexpected closing bracket, expected a value");
    ASSERT_STR_EQ(extract(&b, "{\"x\":\"\xff\"}", p1), "ERR 1:7 invalid UTF-8 in string");
    ASSERT_STR_EQ(extract(&b, "{\"x\":{}}  x", p1),
                  "ERR 1:11 unexpected content after the JSON value");
    /* escaped keys match after unescaping */
    ASSERT_STR_EQ(extract(&b, "{\"\\u0063\":\"v\\u0026\"}", p1), "{\"c\":\"v&\"}");
    kx_buf_fini(&b);
}

/* ---- Elastic pipeline conformance ----------------------------------------------------------- */

/*
 * Fields of the expected documents that are compared (ecs-mapping.md, "Conformance"): all of them,
 * both ways, except what the pipeline test cannot show or configures: event.original and tags
 * (the test's preserve_original_event config; Fleet's final pipeline drops event.original),
 * and what the agent and the final pipeline add (data_stream.*, event.dataset, host.*,
 * event.ingested). @timestamp is compared when the expected document has it (AKS `time`).
 */
static bool compared(const char *path, const struct ev_node *want)
{
    static const char *const skip[] = {"event.original", "tags",           "data_stream",
                                       "event.dataset",  "event.ingested", "host"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(*skip); i++) {
        size_t n = strlen(skip[i]);
        if (strncmp(path, skip[i], n) == 0 && (path[n] == '.' || path[n] == 0))
            return false;
    }
    if (strcmp(path, "@timestamp") == 0)
        return ev_member(want, "@timestamp", 10) != NULL;
    return true;
}

/* Collect leaf paths of doc (arrays flattened) into paths[] (arena strings). */
static void leaf_paths(kx_arena *a, const struct ev_node *n, char *prefix, size_t plen,
                       const char **paths, size_t *np, size_t max)
{
    if (n->type == EV_OBJECT) {
        for (const struct ev_node *c = n->child; c; c = c->next) {
            char buf[1024];
            int k =
                snprintf(buf, sizeof(buf), "%.*s%s%s", (int)plen, prefix, plen ? "." : "", c->key);
            leaf_paths(a, c, buf, (size_t)k, paths, np, max);
        }
    } else if (n->type == EV_ARRAY) {
        for (const struct ev_node *c = n->child; c; c = c->next)
            leaf_paths(a, c, prefix, plen, paths, np, max);
    } else if (*np < max) {
        for (size_t i = 0; i < *np; i++)
            if (strcmp(paths[i], prefix) == 0)
                return;
        paths[(*np)++] = kx_arena_strndup(a, prefix, plen);
    }
}

/* Compare the compared fields of got and want both ways; detail gets the first difference. */
static bool same_fields(kx_arena *a, const struct ev_node *want, const struct ev_node *got,
                        char *detail, size_t dsize)
{
    const char *paths[512];
    size_t np = 0;
    char pre[1] = "";
    leaf_paths(a, want, pre, 0, paths, &np, 512);
    leaf_paths(a, got, pre, 0, paths, &np, 512);
    kx_buf w, g;
    kx_buf_init(&w, 0);
    kx_buf_init(&g, 0);
    bool ok = true;
    for (size_t i = 0; i < np && ok; i++) {
        if (!compared(paths[i], want))
            continue;
        vals(&w, want, paths[i]);
        vals(&g, got, paths[i]);
        if (strcmp(w.ptr, g.ptr) != 0) {
            snprintf(detail, dsize, "%s: want [%s] got [%s]", paths[i], w.ptr, g.ptr);
            ok = false;
        }
    }
    kx_buf_fini(&w);
    kx_buf_fini(&g);
    return ok;
}

struct conf_ctx {
    kx_arena *a;
    const struct ev_node *want; /* expected array */
    const struct ev_node *cur;
    const char *name;
    int n;
};

static int conf_event(void *ctx, const struct ev_event *ev)
{
    struct conf_ctx *c = ctx;
    char name[256], detail[1024] = "";
    snprintf(name, sizeof(name), "%s#%d", c->name, c->n++);
    if (!c->cur) {
        t_case(false, name, "more events than expected documents");
        return 0;
    }
    t_case(same_fields(c->a, c->cur, ev->doc, detail, sizeof(detail)), name, detail);
    c->cur = c->cur->next;
    return 0;
}

static void conf_error(void *ctx, const kad_err *err)
{
    struct conf_ctx *c = ctx;
    char name[256], msg[512];
    snprintf(name, sizeof(name), "%s#%d", c->name, c->n++);
    kad_err_format(err, msg, sizeof(msg));
    t_case(false, name, msg);
    if (c->cur)
        c->cur = c->cur->next;
}

TEST(event_elastic_pipeline)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: Elastic pipeline tests not run");
    static const char *const logs[] = {"test-audit.log", "test-kube-audit.log"};
    struct ev_decoder *d = ev_decoder_new(NULL);
    kx_arena a, ea;
    kx_arena_init(&a, 1 << 16, 0);
    kx_arena_init(&ea, 1 << 16, 0);
    for (size_t i = 0; i < 2; i++) {
        char path[1024], epath[1100];
        snprintf(path, sizeof(path), "%s/elastic-audit-pipeline/%s", root, logs[i]);
        snprintf(epath, sizeof(epath), "%s-expected.json", path);
        size_t elen;
        char *etext = t_read_file(epath, &elen);
        if (!etext)
            t_skip("%s absent", epath);
        struct ev_node *exp = ev_json_parse(&ea, etext, elen, epath, NULL);
        ASSERT_NOT_NULL(exp);
        const struct ev_node *want = ev_member(exp, "expected", 8);
        ASSERT_NOT_NULL(want);
        struct conf_ctx c = {&ea, want, want->child, logs[i], 0};
        struct ev_sink sink = {conf_event, conf_error, &c};
        struct ev_reader *r;
        ASSERT_OK(ev_reader_open(&r, path, 0, NULL));
        struct ev_record rec;
        while (ev_reader_next(r, &rec, NULL) == 1) {
            ev_decode_record(d, &a, &rec, &sink);
            kx_arena_reset(&a);
        }
        ev_reader_close(r);
        t_case(c.cur == NULL, logs[i], "fewer events than expected documents");
        kx_free(etext);
        kx_arena_reset(&ea);
    }
    kx_arena_fini(&a);
    kx_arena_fini(&ea);
    ev_decoder_free(d);
}

/* ---- every real audit file decodes; fast == full on each ------------------------------------ */

/* Fields compared between the extractor path and the full path. */
static const char *const diff_fields[] = {
    "kubernetes.audit.annotations.authorization_k8s_io/decision",
    "kubernetes.audit.user.username",
    "user_agent.original",
    "data_stream.dataset",
    "event.dataset",
    "kubernetes.audit.stage",
    "kubernetes.audit.verb",
    "kubernetes.audit.objectRef.resource",
    "kubernetes.audit.objectRef.subresource",
    "kubernetes.audit.objectRef.namespace",
    "kubernetes.audit.user.groups",
    "kubernetes.audit.impersonatedUser.username",
    "kubernetes.audit.requestObject.spec.containers.securityContext.privileged",
    "kubernetes.audit.requestObject.spec.hostNetwork",
    "kubernetes.audit.requestObject.metadata.name",
    "kubernetes.audit.responseStatus.code",
    "kubernetes.audit.user.extra.authentication.kubernetes.io/pod-name",
    "host.os.type",
    "event.outcome",
    "event.action",
    "source.ip",
    "related.user",
    "user.name",
    "orchestrator.resource.type",
    "@timestamp",
    "kubernetes.audit.annotations",
    NULL,
};

struct diff_ctx {
    kx_arena *full_a;
    struct ev_decoder *full;
    const char *name;
    int n;
    bool expect_error;
};

/* Compare one fast-decoded event with the full decode of the same record. */
static bool diff_one(struct diff_ctx *c, const struct ev_event *fast, char *detail, size_t dsize)
{
    struct ev_event full;
    kad_err err;
    if (ev_decode(c->full, c->full_a, fast->rec, &full, &err)) {
        snprintf(detail, dsize, "full decode failed: %s", err.msg);
        return false;
    }
    kx_buf w, g;
    kx_buf_init(&w, 0);
    kx_buf_init(&g, 0);
    bool ok = fast->ts_ms == full.ts_ms && fast->stage.len == full.stage.len &&
              fast->audit_id.len == full.audit_id.len;
    if (!ok)
        snprintf(detail, dsize, "metadata differs");
    for (size_t i = 0; ok && diff_fields[i]; i++) {
        vals(&w, full.doc, diff_fields[i]);
        vals(&g, fast->doc, diff_fields[i]);
        if (strcmp(w.ptr, g.ptr) != 0) {
            snprintf(detail, dsize, "%s: full [%s] fast [%s]", diff_fields[i], w.ptr, g.ptr);
            ok = false;
        }
    }
    kx_buf_fini(&w);
    kx_buf_fini(&g);
    kx_arena_reset(c->full_a);
    return ok;
}

static int diff_event(void *ctx, const struct ev_event *ev)
{
    struct diff_ctx *c = ctx;
    char name[512], detail[1024] = "";
    snprintf(name, sizeof(name), "%s#%d", c->name, c->n++);
    bool ok = ev->item > 0 || ev->format != EV_FMT_K8S || diff_one(c, ev, detail, sizeof(detail));
    t_case(ok && !c->expect_error, name, c->expect_error ? "decoded, expected an error" : detail);
    return 0;
}

static void diff_error(void *ctx, const kad_err *err)
{
    struct diff_ctx *c = ctx;
    char name[512], msg[512];
    snprintf(name, sizeof(name), "%s#%d", c->name, c->n++);
    kad_err_format(err, msg, sizeof(msg));
    t_case(c->expect_error, name, msg);
}

static void decode_dir(const char *dir, struct ev_decoder *fast, struct diff_ctx *c, kx_arena *a)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    struct dirent *de;
    while ((de = readdir(dh))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (!((l > 5 && strcmp(nm + l - 5, ".json") == 0) ||
              (l > 4 && strcmp(nm + l - 4, ".log") == 0)))
            continue;
        if (strstr(nm, "expected"))
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, nm);
        struct ev_reader *r;
        if (ev_reader_open(&r, path, 0, NULL))
            continue;
        c->name = nm;
        c->n = 0;
        /* Falco's fal_01_003.json is the fuzz fixture {"kind": 0}: it must be rejected */
        c->expect_error = strcmp(nm, "fal_01_003.json") == 0;
        struct ev_sink sink = {diff_event, diff_error, c};
        struct ev_record rec;
        while (ev_reader_next(r, &rec, NULL) == 1) {
            ev_decode_record(fast, a, &rec, &sink);
            kx_arena_reset(a);
        }
        ev_reader_close(r);
    }
    closedir(dh);
}

TEST(event_real_files)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: real audit files not decoded");
    struct ev_host h = {.os_type = "linux"};
    struct ev_decoder_opts o = {.host = &h};
    struct ev_decoder *fast = ev_decoder_new(&o);
    struct ev_decoder *full = ev_decoder_new(&o);
    for (size_t i = 0; diff_fields[i]; i++)
        ASSERT_OK(ev_decoder_need(fast, diff_fields[i], strlen(diff_fields[i])));
    kx_arena a, fa;
    kx_arena_init(&a, 1 << 16, 0);
    kx_arena_init(&fa, 1 << 16, 0);
    struct diff_ctx c = {.full_a = &fa, .full = full};
    static const char *const dirs[] = {
        "falcosecurity-falco-k8s_audit", "crowdsecurity-hub-k8s-audit", "liggitt-audit2rbac",
        "elastic-audit-pipeline", "elastic-audit-pipeline/variants/0b97ab02"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", root, dirs[i]);
        decode_dir(dir, fast, &c, &a);
    }
    const struct ev_decode_stats *st = ev_decoder_stats(fast);
    ASSERT(st->fast > 80); /* the raw events took the extractor path */
    kx_arena_fini(&a);
    kx_arena_fini(&fa);
    ev_decoder_free(fast);
    ev_decoder_free(full);
}

/* ---- the fast path builds only the ECS fields declared paths reach -------------------------- */

/*
 * A decoder that declared one path gives, for that path, the values of the full decode; the
 * ECS fields no declared path reaches are left out of its document (ev_map_opts.skip), so
 * that an event no rule alerts on costs no mapping of fields nobody reads.
 */
TEST(event_fast_skips_unread_ecs_fields)
{
    static const char *const events[] = {
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"a1\",\"stage\":"
        "\"ResponseComplete\",\"verb\":\"get\",\"user\":{\"username\":\"bob\",\"uid\":\"u-1\"},"
        "\"sourceIPs\":[\"10.0.0.1\",\"::1\",\"10.0.0.1\"],\"userAgent\":\"curl/8\","
        "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"ns1\",\"name\":\"p\"},"
        "\"annotations\":{\"authorization.k8s.io/decision\":\"forbid\"},"
        "\"stageTimestamp\":\"2026-01-05T10:00:00.123456Z\"}",
        /* empty and null values: pruned in both, "" is missing */
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"a2\",\"stage\":"
        "\"ResponseComplete\",\"verb\":\"\",\"user\":{\"username\":\"\",\"uid\":null},"
        "\"sourceIPs\":[\"not an ip\"],\"userAgent\":\"\",\"objectRef\":{},"
        "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"},"
        "\"requestReceivedTimestamp\":\"2026-01-05T10:00:00Z\"}",
        /* no user agent, one IP, no annotations, a bad time */
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"a3\",\"stage\":"
        "\"RequestReceived\",\"user\":{\"username\":\"system:x\"},\"sourceIPs\":\"10.1.1.1\","
        "\"stageTimestamp\":\"yesterday\"}",
    };
    static const char *const paths[] = {
        "@timestamp", "event", "event.kind", "event.action", "event.outcome", "event.dataset",
        "event.ingested", "data_stream", "data_stream.namespace", "user", "user.name", "user.id",
        "user_agent.original", "source.ip", "client.ip", "related", "related.ip", "related.user",
        "orchestrator", "orchestrator.resource.type", "orchestrator.cluster.name", "host",
        "host.os.type", "kubernetes.audit.user.username", "kubernetes.audit.stage",
    };
    struct ev_host h = {.name = "n1", .os_type = "linux"};
    struct ev_decoder_opts o = {
        .host = &h, .ingested = EV_INGESTED_NOW, .now_ms = 1700000000999, .cluster_name = "c1"};
    struct ev_decoder *full = ev_decoder_new(&o);
    kx_arena a, fa;
    kx_arena_init(&a, 1 << 16, 0);
    kx_arena_init(&fa, 1 << 16, 0);
    kx_buf w, g;
    kx_buf_init(&w, 0);
    kx_buf_init(&g, 0);
    for (size_t p = 0; p < sizeof(paths) / sizeof(*paths); p++) {
        struct ev_decoder *fast = ev_decoder_new(&o);
        ASSERT_OK(ev_decoder_need(fast, paths[p], strlen(paths[p])));
        for (size_t i = 0; i < sizeof(events) / sizeof(*events); i++) {
            struct ev_event fe, we;
            kad_err err;
            ASSERT_OK(decode1(fast, &a, events[i], &fe, &err));
            ASSERT_OK(decode1(full, &fa, events[i], &we, &err));
            ASSERT(fe.partial && !we.partial);
            ASSERT(fe.ts_ms == we.ts_ms && fe.ingested_ms == we.ingested_ms);
            vals(&w, we.doc, paths[p]);
            vals(&g, fe.doc, paths[p]);
            ASSERT_STR_EQ(g.ptr, w.ptr);
            /* what the path does not reach is not built */
            uint32_t bits = ev_emit_bits(paths[p], strlen(paths[p]));
            if (!(bits & EV_EMIT_DATA_STREAM))
                ASSERT(!ev_member(fe.doc, "data_stream", 11));
            if (!(bits & EV_EMIT_ORCH))
                ASSERT(!ev_member(fe.doc, "orchestrator", 12));
            if (!(bits & EV_EMIT_RELATED))
                ASSERT(!ev_member(fe.doc, "related", 7));
            if (!(bits & EV_EMIT_TIMESTAMP))
                ASSERT(!ev_member(fe.doc, "@timestamp", 10));
            kx_arena_reset(&a);
            kx_arena_reset(&fa);
        }
        ev_decoder_free(fast);
    }
    ASSERT(ev_emit_bits("user", 4) == EV_EMIT_USER);
    ASSERT(ev_emit_bits("user_agent.original", 19) == EV_EMIT_USER_AGENT);
    ASSERT(ev_emit_bits("event", 5) == (EV_EMIT_EV_KIND | EV_EMIT_EV_ACTION | EV_EMIT_EV_OUTCOME |
                                        EV_EMIT_EV_DATASET | EV_EMIT_EV_INGESTED));
    ASSERT(ev_emit_bits("kubernetes.audit.verb", 21) == 0);
    ASSERT(ev_emit_bits("hostname", 8) == 0);
    kx_buf_fini(&w);
    kx_buf_fini(&g);
    kx_arena_fini(&a);
    kx_arena_fini(&fa);
    ev_decoder_free(full);
}

/* ---- reader --------------------------------------------------------------------------------- */

static const char *read_all(const char *content, size_t len, bool gz, size_t max)
{
    static char out[4096];
    char path[] = "/tmp/kadet-reader-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return "mkstemp failed";
    if (gz) {
        gzFile g = gzdopen(dup(fd), "wb");
        gzwrite(g, content, (unsigned)len);
        gzclose(g);
    } else if (write(fd, content, len) != (ssize_t)len) {
        close(fd);
        return "write failed";
    }
    close(fd);
    struct ev_reader *r;
    kad_err err;
    out[0] = '\0';
    if (ev_reader_open(&r, path, max, &err) == KAD_OK) {
        struct ev_record rec;
        int rc;
        while ((rc = ev_reader_next(r, &rec, &err)) != 0) {
            size_t n = strlen(out);
            if (rc < 0)
                snprintf(out + n, sizeof(out) - n, "[E%lu:%lu]", (unsigned long)err.line,
                         (unsigned long)err.col);
            else
                snprintf(out + n, sizeof(out) - n, "[%lu:%lu@%lu %.*s]", (unsigned long)rec.line,
                         (unsigned long)rec.col, (unsigned long)rec.offset, (int)rec.len, rec.ptr);
            if (rc == KAD_EIO)
                break;
        }
        ev_reader_close(r);
    }
    unlink(path);
    return out;
}

TEST(event_reader_framing)
{
    const char *s = "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":3}";
    ASSERT_STR_EQ(read_all(s, strlen(s), false, 0),
                  "[1:1@0 {\"a\":1}][4:1@13 {\"b\":2}\r][5:1@22 {\"c\":3}]");
    ASSERT_STR_EQ(read_all(s, strlen(s), true, 0),
                  "[1:1@0 {\"a\":1}][4:1@13 {\"b\":2}\r][5:1@22 {\"c\":3}]");
    /* a truncated line costs one record, not the rest of the file */
    s = "{\"a\":1}\n{\"b\":[\n{\"c\":3}\n";
    ASSERT_STR_EQ(read_all(s, strlen(s), false, 0),
                  "[1:1@0 {\"a\":1}][2:1@8 {\"b\":[][3:1@15 {\"c\":3}]");
    /* pretty-printed documents */
    s = "[\n  {\"a\": \"]\"},\n  {\"b\": 2}\n]\n{\n \"c\": 3\n}\n";
    ASSERT_STR_EQ(read_all(s, strlen(s), false, 0),
                  "[1:1@0 [\n  {\"a\": \"]\"},\n  {\"b\": 2}\n]][5:1@29 {\n \"c\": 3\n}]");
    /* maximum record length: error with position, then the next line */
    s = "{\"a\":1}\n{\"long\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n{\"c\":3}\n";
    ASSERT_STR_EQ(read_all(s, strlen(s), false, 20), "[1:1@0 {\"a\":1}][E2:1][3:1@61 {\"c\":3}]");
    ASSERT_STR_EQ(read_all("", 0, false, 0), "");
}

struct frame_ctx {
    char out[512];
};

static int frame_rec(void *ctx, const struct ev_record *rec)
{
    struct frame_ctx *c = ctx;
    size_t n = strlen(c->out);
    snprintf(c->out + n, sizeof(c->out) - n, "[%lu %.*s]", (unsigned long)rec->line, (int)rec->len,
             rec->ptr);
    return 0;
}

TEST(event_frame_buffer)
{
    struct frame_ctx c = {""};
    const char *s = "{\"a\":1}\n{\"b\":2}";
    ASSERT_OK(ev_frame_buffer(s, strlen(s), "webhook", 0, frame_rec, NULL, &c));
    ASSERT_STR_EQ(c.out, "[1 {\"a\":1}][2 {\"b\":2}]");
}

/* Every record (or error) of a reader, with its position, appended to out. */
static void drain(struct ev_reader *r, kx_buf *out)
{
    struct ev_record rec;
    kad_err err;
    int rc;
    while ((rc = ev_reader_next(r, &rec, &err)) != 0) {
        if (rc < 0) {
            kx_buf_addf(out, "[E%d %lu:%lu]", rc, (unsigned long)err.line, (unsigned long)err.col);
            if (rc == KAD_EIO) {
                kx_buf_addf(out, "[%s]", err.msg);
                break;
            }
            continue;
        }
        kx_buf_addf(out, "[%lu:%lu@%lu ", (unsigned long)rec.line, (unsigned long)rec.col,
                    (unsigned long)rec.offset);
        kx_buf_add(out, rec.ptr, rec.len);
        kx_buf_addc(out, ']');
    }
}

TEST(event_reader_plain_gz_pipe_identical)
{
    /* ~3 MB: many buffer refills, a 1.5 MB line (the buffer grows), a line over the maximum,
       blank lines, \r\n, no newline at the end */
    kx_buf in;
    kx_buf_init(&in, 8u << 20);
    for (int i = 0; i < 20000; i++)
        kx_buf_addf(&in, "{\"n\":%d,\"pad\":\"%.*s\"}%s", i, i % 97,
                    "abcdefghijklmnopqrstuvwxyz"
                    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu",
                    i % 5 == 0 ? "\r\n\n" : "\n");
    kx_buf_adds(&in, "{\"big\":\"");
    for (int i = 0; i < 1500000; i++)
        kx_buf_addc(&in, 'x');
    kx_buf_adds(&in, "\"}\n{\"over\":\"");
    for (int i = 0; i < 2500000; i++)
        kx_buf_addc(&in, 'y');
    kx_buf_adds(&in, "\"}\n");
    for (int i = 0; i < 10000; i++)
        kx_buf_addf(&in, "{\"m\":%d}\n", i);
    kx_buf_adds(&in, "{\"last\":true}");

    char plain[] = "/tmp/kadet-reader-XXXXXX", gz[] = "/tmp/kadet-readgz-XXXXXX";
    int fd = mkstemp(plain);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, in.ptr, in.len), (ssize_t)in.len);
    close(fd);
    fd = mkstemp(gz);
    ASSERT_TRUE(fd >= 0);
    gzFile g = gzdopen(fd, "wb");
    ASSERT_EQ(gzwrite(g, in.ptr, (unsigned)in.len), (int)in.len);
    gzclose(g);

    kx_buf a, b, c;
    kx_buf_init(&a, 64u << 20);
    kx_buf_init(&b, 64u << 20);
    kx_buf_init(&c, 64u << 20);
    struct ev_reader *r;
    ASSERT_OK(ev_reader_open(&r, plain, 2u << 20, NULL));
    drain(r, &a);
    ev_reader_close(r);
    ASSERT_OK(ev_reader_open(&r, gz, 2u << 20, NULL));
    drain(r, &b);
    ev_reader_close(r);
    ASSERT_EQ(a.len, b.len);
    ASSERT_MEM_EQ(a.ptr, b.ptr, a.len);
    /* through a pipe (not seekable), fed by a child */
    int p[2];
    ASSERT_OK(pipe(p));
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        size_t off = 0;
        while (off < in.len) {
            ssize_t k = write(p[1], in.ptr + off, in.len - off);
            if (k <= 0)
                _exit(1);
            off += (size_t)k;
        }
        _exit(0);
    }
    close(p[1]);
    ASSERT_OK(ev_reader_open_fd(&r, p[0], "<pipe>", 2u << 20, NULL));
    drain(r, &c);
    ev_reader_close(r);
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_EQ(a.len, c.len);
    ASSERT_MEM_EQ(a.ptr, c.ptr, a.len);
    /* a long record was reported and the last one is there */
    ASSERT_NOT_NULL(strstr(a.ptr, "{\"last\":true}]"));
    ASSERT_NOT_NULL(strstr(a.ptr, "[1:1@0 {\"n\":0,"));
    ASSERT_NOT_NULL(strstr(a.ptr, "[E-"));
    ASSERT_NOT_NULL(strstr(a.ptr, "{\"m\":0}]"));
    /* the plain reader also starts at the descriptor's position, like zlib does */
    fd = open(plain, O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    ASSERT_OK(ev_reader_open_fd(&r, fd, plain, 2u << 20, NULL));
    kx_buf_reset(&c);
    drain(r, &c);
    ev_reader_close(r);
    close(fd);
    ASSERT_EQ(a.len, c.len);
    unlink(plain);
    unlink(gz);
    kx_buf_fini(&a);
    kx_buf_fini(&b);
    kx_buf_fini(&c);
    kx_buf_fini(&in);
}

/* gzip bytes of text (one member) into out. */
static void gz_member(const char *text, size_t len, kx_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uLong bound = deflateBound(&z, (uLong)len);
    size_t at = out->len;
    for (uLong i = 0; i < bound; i++)
        kx_buf_addc(out, 0);
    z.next_in = (unsigned char *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = (unsigned char *)out->ptr + at;
    z.avail_out = (uInt)bound;
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = at + (size_t)z.total_out;
    deflateEnd(&z);
}

/* Records of bytes written into a pipe by a child, `step` bytes per write. */
static void drain_pipe(const char *bytes, size_t len, size_t step, kx_buf *out)
{
    int p[2];
    ASSERT_OK(pipe(p));
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        for (size_t off = 0; off < len;) {
            size_t n = len - off < step ? len - off : step;
            ssize_t k = write(p[1], bytes + off, n);
            if (k <= 0)
                _exit(1);
            off += (size_t)k;
        }
        _exit(0);
    }
    close(p[1]);
    struct ev_reader *r;
    ASSERT_OK(ev_reader_open_fd(&r, p[0], "<pipe>", 0, NULL));
    drain(r, out);
    kad_err w;
    int wc = ev_reader_warning(r, &w);
    if (wc)
        kx_buf_addf(out, "[W%d @%lld %s]", wc, (long long)w.offset, w.msg);
    ev_reader_close(r);
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
}

/*
 * gzip through a pipe, inflated by the reader itself: several members (as `cat a.gz b.gz`
 * makes), bytes trickling in 7 at a time, trailing bytes that are not a member (ignored, as
 * gzread ignores them), a truncated member (an error after the records before it).
 */
TEST(event_reader_gzip_stream)
{
    kx_buf text, gz, want, got;
    kx_buf_init(&text, 0);
    kx_buf_init(&gz, 0);
    kx_buf_init(&want, 0);
    kx_buf_init(&got, 0);
    for (int i = 0; i < 3000; i++)
        kx_buf_addf(&text, "{\"n\":%d,\"s\":\"%.*s\"}\n", i, i % 50,
                    "0123456789012345678901234567890123456789012345678901234567890123456789");
    size_t half = text.len / 2;
    while (text.ptr[half - 1] != '\n')
        half++;
    gz_member(text.ptr, half, &gz);
    gz_member(text.ptr + half, text.len - half, &gz);
    drain_pipe(text.ptr, text.len, 4096, &want);
    drain_pipe(gz.ptr, gz.len, 7, &got);
    ASSERT_EQ(want.len, got.len);
    ASSERT_MEM_EQ(want.ptr, got.ptr, want.len);
    /* trailing garbage after the last member: the records, then the warning */
    kx_buf_reset(&got);
    size_t gzlen = gz.len;
    kx_buf_adds(&gz, "not gzip\n");
    drain_pipe(gz.ptr, gz.len, 65536, &got);
    ASSERT(got.len > want.len);
    ASSERT_MEM_EQ(want.ptr, got.ptr, want.len);
    char w[200];
    snprintf(w, sizeof(w),
             "[W%d @%zu trailing garbage after the gzip data at byte %zu (compressed) ignored]",
             EV_WARN_GZIP_TRAILING, gzlen, gzlen);
    ASSERT_STR_EQ(got.ptr + want.len, w);
    /* garbage that starts with the magic's first byte but is no gzip header: the same */
    gz.len = gzlen;
    kx_buf_add(&gz, "\x1f\x00\x01\x02", 4);
    kx_buf_reset(&got);
    drain_pipe(gz.ptr, gz.len, 65536, &got);
    ASSERT_MEM_EQ(want.ptr, got.ptr, want.len);
    ASSERT_STR_EQ(got.ptr + want.len, w);
    /* no garbage, no warning */
    gz.len = gzlen;
    kx_buf_reset(&got);
    drain_pipe(gz.ptr, gz.len, 65536, &got);
    ASSERT_EQ(got.len, want.len);
    /* truncated: the records of the first member, then the error naming it */
    kx_buf_reset(&gz);
    gz_member(text.ptr, half, &gz);
    kx_buf_reset(&got);
    drain_pipe(gz.ptr, gz.len - 10, 65536, &got);
    ASSERT_NOT_NULL(strstr(got.ptr, "{\"n\":0,"));
    char err[32];
    snprintf(err, sizeof(err), "[E%d ", KAD_EIO);
    ASSERT_NOT_NULL(strstr(got.ptr, err));
    ASSERT_NOT_NULL(strstr(got.ptr, "truncated gzip stream: the compressed data ends at byte"));
    kx_buf_fini(&text);
    kx_buf_fini(&gz);
    kx_buf_fini(&want);
    kx_buf_fini(&got);
}

struct idle_probe {
    int go_fd; /* written to by the idle callback: tells the writer to go on */
    int calls;
};

static void idle_probe(void *ctx)
{
    struct idle_probe *p = ctx;
    p->calls++;
    if (write(p->go_fd, "g", 1) != 1)
        p->go_fd = -1;
}

/*
 * The idle callback runs when the reader would wait: the writer sends one line, then waits
 * for the callback's signal before it sends the second. Without the callback the writer
 * gives up after 10 s and sends a line saying so, which fails the test (no hang either way).
 */
TEST(event_reader_idle)
{
    int data[2], go[2];
    ASSERT_OK(pipe(data));
    ASSERT_OK(pipe(go));
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(data[0]);
        close(go[1]);
        if (write(data[1], "{\"a\":1}\n", 8) != 8)
            _exit(1);
        struct pollfd pf = {.fd = go[0], .events = POLLIN};
        const char *second =
            poll(&pf, 1, 10000) == 1 ? "{\"b\":\"signalled\"}\n" : "{\"b\":\"timed out\"}\n";
        if (write(data[1], second, strlen(second)) != (ssize_t)strlen(second))
            _exit(1);
        _exit(0);
    }
    close(data[1]);
    close(go[0]);
    struct idle_probe probe = {.go_fd = go[1]};
    struct ev_reader *r;
    ASSERT_OK(ev_reader_open_fd(&r, data[0], "<pipe>", 0, NULL));
    ev_reader_set_idle(r, idle_probe, &probe);
    kx_buf out;
    kx_buf_init(&out, 0);
    drain(r, &out);
    ev_reader_close(r);
    close(data[0]);
    close(go[1]);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_NOT_NULL(strstr(out.ptr, "{\"a\":1}"));
    ASSERT_NOT_NULL(strstr(out.ptr, "signalled"));
    ASSERT_TRUE(probe.calls >= 1);
    kx_buf_fini(&out);
}

/* A regular file never waits: no idle calls. */
TEST(event_reader_idle_not_for_files)
{
    char path[] = "/tmp/kadet-idle-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, "{\"a\":1}\n{\"b\":2}\n", 16), 16);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    struct idle_probe probe = {.go_fd = -1};
    struct ev_reader *r;
    ASSERT_OK(ev_reader_open_fd(&r, fd, path, 0, NULL));
    ev_reader_set_idle(r, idle_probe, &probe);
    kx_buf out;
    kx_buf_init(&out, 0);
    drain(r, &out);
    ev_reader_close(r);
    close(fd);
    unlink(path);
    ASSERT_EQ(probe.calls, 0);
    ASSERT_NOT_NULL(strstr(out.ptr, "{\"b\":2}"));
    kx_buf_fini(&out);
}

/* Map one raw event with host metadata, either built per event (mo.host_tree NULL, the old way)
   or linked from the prebuilt subtree; returns the dumped document. */
static void map_with_host(const char *raw, const struct ev_host *h, bool keep_empty, bool prebuilt,
                          kx_buf *out)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 1 << 20);
    struct ev_node *root = ev_json_parse(&a, raw, strlen(raw), "t", NULL);
    ASSERT_NOT_NULL(root);
    struct ev_decoder_opts o = {.keep_empty = keep_empty, .host = h};
    struct ev_host_tree t;
    ev_ecs_host_tree(&t, h, keep_empty);
    struct ev_map_opts mo = {
        .o = &o, .host = h, .host_tree = prebuilt ? &t : NULL, .ns = "default"};
    struct ev_event ev;
    ASSERT_OK(ev_ecs_map(&a, root, EV_FMT_K8S, &mo, &ev, NULL, NULL));
    kx_buf_reset(out);
    ASSERT_OK(ev_json_dump(ev.doc, out));
    kx_arena_fini(&a);
}

TEST(event_host_tree_same_as_per_event)
{
    static const char raw[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\","
                              "\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"verb\":\"get\","
                              "\"stageTimestamp\":\"2026-01-05T10:00:00.123456Z\","
                              "\"user\":{\"username\":\"alice\"},\"userAgent\":\"\"}";
    const struct ev_host hosts[] = {
        {.name = "n1", .hostname = "n1", .os_type = "linux"},
        {.name = "n1", .id = "", .architecture = "x86_64", .os_type = "", .os_kernel = "6.1"},
        {.name = "", .hostname = "", .os_type = "", .os_name = ""}, /* all empty */
        {.id = "only-id"},                                          /* no os */
        {.os_codename = "bookworm"},                                /* os only */
        {0},                                                        /* nothing */
        {.name = "a",
         .hostname = "b",
         .id = "c",
         .architecture = "d",
         .os_type = "e",
         .os_family = "f",
         .os_name = "g",
         .os_platform = "h",
         .os_kernel = "i",
         .os_version = "j",
         .os_codename = "k"}, /* every member: EV_HOST_NODES */
    };
    kx_buf x, y;
    kx_buf_init(&x, 1 << 20);
    kx_buf_init(&y, 1 << 20);
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        for (int keep = 0; keep < 2; keep++) {
            map_with_host(raw, &hosts[i], keep, false, &x);
            map_with_host(raw, &hosts[i], keep, true, &y);
            if (x.len != y.len || memcmp(x.ptr, y.ptr, x.len) != 0)
                t_fail(__FILE__, __LINE__, "host %zu keep_empty %d:\n%s\n%s", i, keep, x.ptr,
                       y.ptr);
        }
    }
    /* the decoder links the same subtree into every document */
    struct ev_decoder_opts o = {.host = &hosts[1]};
    struct ev_decoder *d = ev_decoder_new(&o);
    kx_arena a;
    kx_arena_init(&a, 4096, 1 << 20);
    for (int k = 0; k < 3; k++) {
        struct ev_record rec = {.ptr = raw, .len = strlen(raw), .origin = "t", .line = 1, .col = 1};
        struct ev_event ev;
        ASSERT_OK(ev_decode(d, &a, &rec, &ev, NULL));
        kx_buf_reset(&x);
        ASSERT_OK(ev_json_dump(ev.doc, &x));
        ASSERT_NOT_NULL(strstr(x.ptr, "\"host\":{\"name\":\"n1\",\"architecture\":\"x86_64\","
                                      "\"os\":{\"kernel\":\"6.1\"}}"));
        kx_arena_reset(&a);
    }
    kx_arena_fini(&a);
    ev_decoder_free(d);
    kx_buf_fini(&x);
    kx_buf_fini(&y);
}

/* ---- lookup memo -------------------------------------------------------------------------- */

struct vis_log {
    kx_buf *out;
    int stop_at; /* stop after this many visits (-1: never) */
    int seen;
    struct ev_memo *inner; /* look a path up again from inside the visitor */
    const struct ev_node *root;
};

static bool log_visit(const struct ev_node *v, bool partial, void *ctx)
{
    struct vis_log *l = ctx;
    kx_buf_addf(l->out, "%s%d:%.*s;", partial ? "~" : "", v->type,
                v->type == EV_STRING || v->type == EV_NUMBER ? (int)v->len : 0,
                v->type == EV_STRING || v->type == EV_NUMBER ? v->str : "");
    if (l->inner) {
        struct vis_log in = {l->out, -1, 0, NULL, NULL};
        kx_buf_adds(l->out, "(");
        ev_values_memo(l->inner, l->root, "a.b", 3, log_visit, &in);
        kx_buf_adds(l->out, ")");
    }
    return ++l->seen == l->stop_at;
}

TEST(event_values_memo_same_visits)
{
    static const char doc[] =
        "{\"a\":{\"b\":[1,\"x\",null,{\"c\":true}],\"b.c\":\"dotted\"},\"a.b\":\"lit\","
        "\"a.b.c\":{\"d\":1},\"n\":null,\"arr\":[{\"k\":\"v1\"},{\"k\":\"v2\"},[{\"k\":\"v3\"}]],"
        "\"e\":\"\",\"big\":[" /* 600 values: more than the memo holds */
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,"
        "0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9]}";
    static const char *const paths[] = {"a",   "a.b", "a.b.c", "a.b.c.d", "n",   "arr.k",
                                        "arr", "e",   "big",   "missing", "a.x", ""};
    kx_arena a;
    kx_arena_init(&a, 4096, 1 << 20);
    struct ev_node *root = ev_json_parse(&a, doc, strlen(doc), "t", NULL);
    ASSERT_NOT_NULL(root);
    static struct ev_memo memo;
    kx_buf want, got;
    kx_buf_init(&want, 1 << 20);
    kx_buf_init(&got, 1 << 20);
    /* every path, every stop position, in several orders over one memo: the same visits */
    for (int order = 0; order < 3; order++) {
        ev_memo_reset(&memo, root);
        for (int stop = -1; stop < 5; stop++) {
            for (size_t j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
                size_t i = order == 0   ? j
                           : order == 1 ? sizeof(paths) / sizeof(paths[0]) - 1 - j
                                        : (j * 5) % (sizeof(paths) / sizeof(paths[0]));
                /* a copy of the path text: found by content, not by pointer */
                char p[16];
                snprintf(p, sizeof(p), "%s", paths[i]);
                const char *path = stop % 2 ? paths[i] : p;
                kx_buf_reset(&want);
                kx_buf_reset(&got);
                struct vis_log lw = {&want, stop, 0, NULL, NULL};
                struct vis_log lg = {&got, stop, 0, NULL, NULL};
                bool rw = ev_values(root, paths[i], strlen(paths[i]), log_visit, &lw);
                bool rg = ev_values_memo(&memo, root, path, strlen(path), log_visit, &lg);
                ASSERT_EQ(rw, rg);
                if (want.len != got.len || memcmp(want.ptr, got.ptr, want.len) != 0)
                    t_fail(__FILE__, __LINE__, "path '%s' stop %d: %s vs %s", paths[i], stop,
                           want.ptr ? want.ptr : "", got.ptr ? got.ptr : "");
            }
        }
    }
    /* a visitor that looks values up again (not memoised while a walk is recorded) */
    ev_memo_reset(&memo, root);
    kx_buf_reset(&want);
    kx_buf_reset(&got);
    static struct ev_memo other;
    ev_memo_reset(&other, NULL);
    struct vis_log lw = {&want, -1, 0, &other, root};
    struct vis_log lg = {&got, -1, 0, &memo, root};
    ev_values(root, "arr.k", 5, log_visit, &lw);
    ev_values_memo(&memo, root, "arr.k", 5, log_visit, &lg);
    ASSERT_STR_EQ(got.ptr, want.ptr);
    kx_buf_reset(&got);
    lg.seen = 0;
    ev_values_memo(&memo, root, "arr.k", 5, log_visit, &lg); /* replay: same nested lookups */
    ASSERT_STR_EQ(got.ptr, want.ptr);
    /* more distinct paths than the memo holds: the rest are walked, still right */
    ev_memo_reset(&memo, root);
    for (int k = 0; k < EV_MEMO_PATHS + 10; k++) {
        static char many[EV_MEMO_PATHS + 10][16];
        if (k >= EV_MEMO_PATHS)
            snprintf(many[k], sizeof(many[k]), "%s", k % 2 ? "a.b" : "arr.k"); /* not kept */
        else
            snprintf(many[k], sizeof(many[k]), "x%d", k);
        kx_buf_reset(&want);
        kx_buf_reset(&got);
        struct vis_log w = {&want, -1, 0, NULL, NULL}, g = {&got, -1, 0, NULL, NULL};
        ev_values(root, many[k], strlen(many[k]), log_visit, &w);
        ev_values_memo(&memo, root, many[k], strlen(many[k]), log_visit, &g);
        ASSERT_EQ(want.len, got.len);
        ASSERT_MEM_EQ(want.ptr, got.ptr, want.len);
    }
    ASSERT_EQ(memo.npaths, EV_MEMO_PATHS);
    /* another root (or none) is looked up directly */
    kx_buf_reset(&got);
    struct vis_log g = {&got, -1, 0, NULL, NULL};
    ev_memo_reset(&memo, NULL);
    ev_values_memo(&memo, root, "a.b", 3, log_visit, &g);
    ASSERT_EQ(memo.npaths, 0);
    ev_values_memo(NULL, root, "a.b", 3, log_visit, &g);
    kx_buf_fini(&want);
    kx_buf_fini(&got);
    kx_arena_fini(&a);
}

/* ---- tests/ecs: one raw event per case, expected values per field -----------------------------
 */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the files of dir ending in suffix (suffix removed unless keep), at most max;
   returns the count. The names are kx_strndup'd. */
static size_t list_cases(const char *dir, const char *suffix, bool keep, char **names, size_t max)
{
    DIR *d = opendir(dir);
    size_t nn = 0, sl = strlen(suffix);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && nn < max) {
        size_t l = strlen(de->d_name);
        if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
            names[nn++] = kx_strndup(de->d_name, keep ? l : l - sl);
    }
    if (d)
        closedir(d);
    qsort(names, nn, sizeof(*names), cmp_str);
    return nn;
}

TEST(event_ecs_cases)
{
    char *names[256];
    size_t nn = list_cases("tests/ecs", ".json", false, names, 256);
    ASSERT(nn >= 8);
    struct ev_decoder_opts o = {.now_ms = 1700000000999};
    struct ev_decoder *d = ev_decoder_new(&o);
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kx_buf b, why;
    kx_buf_init(&b, 0);
    kx_buf_init(&why, 0);
    for (size_t k = 0; k < nn; k++) {
        char path[512];
        size_t jl, el, n;
        snprintf(path, sizeof path, "tests/ecs/%s.json", names[k]);
        char *json = t_read_file(path, &jl);
        snprintf(path, sizeof path, "tests/ecs/%s.expect", names[k]);
        char *exp = t_read_file(path, &el);
        ASSERT(json && exp);
        while (jl && json[jl - 1] == '\n')
            json[--jl] = '\0';
        struct ev_event ev;
        kad_err err;
        kad_err_clear(&err);
        kx_buf_reset(&why);
        bool ok = decode1(d, &a, json, &ev, &err) == KAD_OK;
        if (!ok)
            kx_buf_addf(&why, "decode failed: %s", err.msg);
        char **lines = t_split_lines(exp, &n);
        for (size_t i = 0; ok && i < n; i++) {
            char *l = lines[i], *sep = strstr(l, ": ");
            if (!*l || *l == '#')
                continue;
            if (!sep && l[strlen(l) - 1] == ':')
                sep = l + strlen(l) - 1;
            ASSERT_NOT_NULL(sep);
            *sep = '\0';
            const char *want = sep[1] ? sep + 2 : "";
            const char *got = vals(&b, ev.doc, l);
            if (strcmp(got, want) != 0) {
                kx_buf_addf(&why, "%s.expect:%zu: %s\n  expected: %s\n  got:      %s", names[k],
                            i + 1, l, want, got);
                ok = false;
            }
        }
        snprintf(path, sizeof path, "tests/ecs/%s", names[k]);
        t_case(ok, path, why.ptr);
        kx_free(lines);
        kx_free(json);
        kx_free(exp);
        kx_free(names[k]);
        kx_arena_reset(&a);
    }
    kx_arena_fini(&a);
    kx_buf_fini(&b);
    kx_buf_fini(&why);
    ev_decoder_free(d);
}

static bool count_one(const struct ev_node *v, bool partial, void *ctx)
{
    (void)v;
    (void)partial;
    ++*(size_t *)ctx;
    return false;
}

/* Issue 22: every array of the mapping is built in linear time. 200k addresses took minutes
   when each append walked the list; `make bench-ecs` runs ten times the reported size. */
TEST(event_ecs_huge_source_ips)
{
    const size_t n = 200000;
    kx_buf j;
    kx_buf_init(&j, 0);
    kx_buf_adds(&j, "{\"kind\":\"Event\",\"auditID\":\"x\",\"user\":{\"username\":\"u\"},"
                    "\"sourceIPs\":[");
    for (size_t i = 0; i < n; i++) {
        size_t v = i % 2 ? i - 1 : i; /* every address twice */
        kx_buf_addf(&j, "%s\"10.%zu.%zu.%zu\"", i ? "," : "", (v >> 16) & 255, (v >> 8) & 255,
                    v & 255);
    }
    kx_buf_adds(&j, "]}");
    struct ev_decoder_opts o = {.now_ms = 1, .lim = {.max_size = (size_t)64 << 20}};
    struct ev_decoder *d = ev_decoder_new(&o);
    kx_arena a;
    kx_arena_init(&a, 1 << 20, 0);
    struct ev_record rec = {j.ptr, j.len, "<t>", 1, 1, 0};
    struct ev_event ev;
    kad_err err;
    ASSERT_OK(ev_decode(d, &a, &rec, &ev, &err));
    size_t src = 0, cli = 0, rel = 0;
    ev_values(ev.doc, "source.ip", 9, count_one, &src);
    ev_values(ev.doc, "client.ip", 9, count_one, &cli);
    ev_values(ev.doc, "related.ip", 10, count_one, &rel);
    ASSERT_EQ(src, n);
    ASSERT_EQ(cli, n);
    ASSERT_EQ(rel, n / 2);
    kx_arena_fini(&a);
    ev_decoder_free(d);
    kx_buf_fini(&j);
}

/* ---- tests/shapes: real-world input shapes, through the reader and the decoder ----------------
 */

static void shape_line_err(kx_buf *out, const char *kind, const kad_err *e)
{
    kx_buf_addf(out, "%s %lu:%lu: %s\n", kind, (unsigned long)e->line, (unsigned long)e->col,
                e->msg);
}

static int shape_event(void *ctx, const struct ev_event *ev)
{
    kx_buf *out = ctx, t;
    kx_buf_init(&t, 0);
    char ts[32] = "-";
    if (ev->ts_ms != EV_TIME_NONE)
        ev_time_fmt_ms(ev->ts_ms, ts);
    kx_buf_addf(out, "event %lu:%lu %.*s %s %s\n", (unsigned long)ev->rec->line,
                (unsigned long)ev->rec->col, (int)ev->audit_id.len,
                ev->audit_id.ptr ? ev->audit_id.ptr : "", vals(&t, ev->doc, "user.name"), ts);
    kx_buf_fini(&t);
    return 0;
}

static void shape_error(void *ctx, const kad_err *e) { shape_line_err(ctx, "error", e); }

static void shape_warning(void *ctx, int code, const kad_err *w)
{
    char kind[64];
    snprintf(kind, sizeof kind, "warning %s", ev_warn_name(code));
    shape_line_err(ctx, kind, w);
}

TEST(event_shapes_cases)
{
    char *names[128];
    size_t nn = list_cases("tests/shapes", ".in", false, names, 128);
    nn += list_cases("tests/shapes", ".in.gz", true, names + nn, 128 - nn);
    ASSERT(nn >= 8);
    const char *upd = getenv("KAD_UPDATE_EXPECT");
    for (size_t k = 0; k < nn; k++) {
        char in[512], exp[512];
        size_t nl = strlen(names[k]);
        bool gz = nl > 6 && strcmp(names[k] + nl - 6, ".in.gz") == 0;
        snprintf(in, sizeof in, "tests/shapes/%s%s", names[k], gz ? "" : ".in");
        snprintf(exp, sizeof exp, "tests/shapes/%.*s.expect", (int)(gz ? nl - 6 : nl), names[k]);
        struct ev_decoder_opts o = {.now_ms = 1700000000999};
        struct ev_decoder *d = ev_decoder_new(&o);
        kx_buf out;
        kx_buf_init(&out, 0);
        ev_decoder_set_warning(d, shape_warning, &out);
        struct ev_sink sink = {shape_event, shape_error, &out};
        kx_arena a;
        kx_arena_init(&a, 4096, 0);
        struct ev_reader *r;
        kad_err err;
        ASSERT_OK(ev_reader_open(&r, in, 0, &err));
        struct ev_record rec;
        int rc;
        while ((rc = ev_reader_next(r, &rec, &err)) != 0) {
            if (rc < 0) {
                shape_line_err(&out, "error", &err);
                if (rc == KAD_EIO)
                    break;
                continue;
            }
            ev_decode_record(d, &a, &rec, &sink);
            kx_arena_reset(&a);
        }
        int wc = ev_reader_warning(r, &err);
        if (wc) {
            char kind[64];
            snprintf(kind, sizeof kind, "warning %s", ev_warn_name(wc));
            shape_line_err(&out, kind, &err);
        }
        ev_reader_close(r);
        kx_arena_fini(&a);
        ev_decoder_free(d);
        bool ok;
        kx_buf why;
        kx_buf_init(&why, 0);
        if (upd && *upd) {
            FILE *f = fopen(exp, "w");
            ASSERT_NOT_NULL(f);
            fwrite(out.ptr ? out.ptr : "", 1, out.len, f);
            fclose(f);
            ok = true;
        } else {
            size_t len;
            char *want = t_read_file(exp, &len);
            ok = want && len == out.len && memcmp(want, out.ptr ? out.ptr : "", len) == 0;
            if (!ok)
                kx_buf_addf(&why, "%s differs; got:\n%s", exp, out.ptr ? out.ptr : "");
            kx_free(want);
        }
        t_case(ok, in, why.ptr);
        kx_buf_fini(&why);
        kx_buf_fini(&out);
        kx_free(names[k]);
    }
}

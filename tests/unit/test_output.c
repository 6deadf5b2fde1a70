/*
 * test_output.c - alert delivery (src/output/): the sink spec cases (tests/output/spec.cases),
 * the formats as pure functions, the outbox, and delivery against real receivers started on
 * 127.0.0.1 (tests/output/receiver.py for HTTP and the Elasticsearch bulk protocol; UDP and TCP
 * syslog receivers in this file).
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "output/out_int.h"
#include "output/output.h"
#include "test.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* The bound of every wait for a condition (a receiver ready, alerts delivered): generous, so a
   loaded machine (CI: 2 cores running the whole suite) only makes a test slower, never fail.
   No test waits a fixed time and then assumes something happened. */
#define LONG_MS 600000

/* Wait until `path` exists (bounded by LONG_MS); true when it does. */
static bool wait_file(const char *path)
{
    struct stat sb;
    for (int i = 0; i < LONG_MS / 10; i++) {
        if (stat(path, &sb) == 0)
            return true;
        usleep(10 * 1000);
    }
    return false;
}

static void tmpdir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/kadet-out-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
}

static void rmdir_r(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT_OK(system(cmd));
}

/* An alert as the engine writes it (the keys the outputs read). */
static const char *mk_alert(kx_buf *b, const char *id, const char *rule, const char *sev,
                            const char *extra)
{
    kx_buf_reset(b);
    kx_buf_addf(b,
                "{\"@timestamp\":\"2026-03-01T10:00:00.000Z\",\"user\":{\"name\":\"alice\"},"
                "\"kibana.alert.uuid\":\"%s\",\"kibana.alert.rule.rule_id\":\"%s\","
                "\"kibana.alert.rule.name\":\"Rule %s\",\"kibana.alert.severity\":\"%s\","
                "\"kibana.alert.rule.tags\":[\"Domain: Kubernetes\",\"Tactic: Discovery\"],"
                "\"kibana.alert.new_terms\":[\"alice\",\"kubectl/1.29\"],"
                "\"kibana.alert.reason\":\"event by alice created %s alert Rule %s.\","
                "\"kibana.alert.rule.note\":\"## Triage\\n\\n### Investigation steps\\n\\n"
                "- Check who alice is.\\n- Compare with her usual agents.\\n- Look at the "
                "decision.\\n- Fourth step.\\n\"%s%s}",
                id, rule, rule, sev, sev, rule, extra ? "," : "", extra ? extra : "");
    return b->ptr;
}

struct rcv {
    pid_t pid;
    int port;
    char log[300];
};

/* Start tests/output/receiver.py with `args` (NULL-terminated); port 0 = any. */
static void rcv_start(struct rcv *r, const char *dir, int port, const char *const *args)
{
    int p[2];
    ASSERT_OK(pipe(p));
    snprintf(r->log, sizeof(r->log), "%s/requests.jsonl", dir);
    char portarg[16], store[300];
    snprintf(portarg, sizeof(portarg), "%d", port);
    snprintf(store, sizeof(store), "%s/es-store", dir);
    const char *argv[32] = {
        "python3", "tests/output/receiver.py", "--log", r->log, "--port", portarg, "--store",
        store};
    size_t n = 8;
    for (size_t i = 0; args && args[i] && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char line[32] = {0};
    ssize_t got = 0;
    struct pollfd pf = {p[0], POLLIN, 0};
    while (got < (ssize_t)sizeof(line) - 1 && poll(&pf, 1, LONG_MS) > 0) {
        ssize_t k = read(p[0], line + got, sizeof(line) - 1 - (size_t)got);
        if (k <= 0)
            break;
        got += k;
        if (memchr(line, '\n', (size_t)got))
            break;
    }
    close(p[0]);
    r->pid = pid;
    r->port = atoi(line);
    if (r->port <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        t_skip("python3 receiver did not start (python3 missing?)");
    }
}

static void rcv_stop(struct rcv *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

static int count_in(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *slurp(const char *path)
{
    size_t n;
    char *s = t_read_file(path, &n);
    return s ? s : kx_strdup("");
}

/* ---- sink specs: tests/output/spec.cases -------------------------------------------------- */

/*
 * Each case is one line: `ok SPEC` followed by `= field value` lines that must hold, or
 * `err OFFSET SPEC` (the error's byte offset). '#' lines are comments.
 */
static const char *spec_field(const struct out_spec *s, const char *f, char *tmp, size_t n)
{
    if (!strcmp(f, "type"))
        return out_type_name(s->type);
    if (!strcmp(f, "name"))
        return s->name;
    if (!strcmp(f, "target"))
        return s->target;
    if (!strcmp(f, "host"))
        return s->host;
    if (!strcmp(f, "port"))
        return s->port;
    if (!strcmp(f, "index"))
        return s->index;
    if (!strcmp(f, "api_key"))
        return s->api_key;
    if (!strcmp(f, "secret"))
        return s->secret;
    if (!strcmp(f, "header0"))
        return s->nheaders ? s->headers[0] : "";
    if (!strcmp(f, "rules"))
        snprintf(tmp, n, "%zu", s->nrules);
    else if (!strcmp(f, "tags"))
        snprintf(tmp, n, "%zu", s->ntags);
    else if (!strcmp(f, "proto"))
        snprintf(tmp, n, "%d", (int)s->proto);
    else if (!strcmp(f, "rotate"))
        snprintf(tmp, n, "%lld", (long long)s->rotate);
    else if (!strcmp(f, "min_severity"))
        snprintf(tmp, n, "%d", s->min_severity);
    else if (!strcmp(f, "batch"))
        snprintf(tmp, n, "%d", s->batch_count);
    else if (!strcmp(f, "attempts"))
        snprintf(tmp, n, "%d", s->max_attempts);
    else if (!strcmp(f, "array"))
        snprintf(tmp, n, "%d", (int)s->array);
    else
        return "?field";
    return tmp;
}

TEST(output_spec_cases)
{
    size_t len, nl;
    char *text = t_read_file("tests/output/spec.cases", &len);
    ASSERT_NOT_NULL(text);
    char **lines = t_split_lines(text, &nl);
    struct out_spec s = {0};
    bool have = false;
    int cases = 0;
    char name[200];
    for (size_t i = 0; i < nl; i++) {
        char *l = lines[i];
        if (!l[0] || l[0] == '#')
            continue;
        if (!strncmp(l, "= ", 2)) {
            char *f = l + 2, *v = strchr(f, ' ');
            ASSERT(have && v);
            *v++ = 0;
            char tmp[64];
            const char *got = spec_field(&s, f, tmp, sizeof(tmp));
            char detail[600];
            snprintf(detail, sizeof(detail), "line %zu: %s = '%s', want '%s'", i + 1, f,
                     got ? got : "(null)", v);
            snprintf(name, sizeof(name), "spec line %zu %s", i + 1, f);
            t_case(got && !strcmp(got, v), name, detail);
            continue;
        }
        if (have)
            out_spec_fini(&s), have = false;
        kad_err e = {0};
        cases++;
        if (!strncmp(l, "ok ", 3)) {
            int rc = out_spec_parse(&s, l + 3, "--sink", &e);
            snprintf(name, sizeof(name), "spec line %zu ok", i + 1);
            t_case(rc == 0, name, e.msg);
            have = rc == 0;
        } else if (!strncmp(l, "err ", 4)) {
            char *sp = strchr(l + 4, ' ');
            ASSERT_NOT_NULL(sp);
            long off = strtol(l + 4, NULL, 10);
            int rc = out_spec_parse(&s, sp + 1, "--sink", &e);
            char detail[600];
            snprintf(detail, sizeof(detail), "line %zu: rc %d offset %lld (want %ld): %s", i + 1,
                     rc, (long long)e.offset, off, e.msg);
            snprintf(name, sizeof(name), "spec line %zu err", i + 1);
            t_case(rc != 0 && e.offset == off && e.col == (uint32_t)off + 1, name, detail);
            if (rc == 0)
                out_spec_fini(&s);
        } else {
            t_fail(__FILE__, __LINE__, "spec.cases line %zu: bad line", i + 1);
        }
    }
    if (have)
        out_spec_fini(&s);
    ASSERT(cases >= 20);
    kx_free(lines);
    kx_free(text);
}

/* ---- formats ------------------------------------------------------------------------------ */

static struct out_spec spec_of(const char *text)
{
    struct out_spec s;
    kad_err e = {0};
    if (out_spec_parse(&s, text, "test", &e))
        t_fail(__FILE__, __LINE__, "%s: %s", text, e.msg);
    return s;
}

/* Retries: the delay doubles per attempt up to backoff_max, each jittered in [delay/2, delay]. */
TEST(output_backoff_exponential_with_jitter)
{
    struct out_spec s = spec_of("stdout,backoff=100,backoff_max=1000");
    unsigned seed = 7;
    const int64_t want[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int a = 1; a <= 7; a++) {
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 400; k++) {
            int64_t d = out_backoff_ms(&s, a, &seed);
            ASSERT(d >= want[a - 1] / 2 && d <= want[a - 1]);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* jittered: spread over most of [delay/2, delay], not one value */
        ASSERT(lo < want[a - 1] / 2 + want[a - 1] / 8 && hi > want[a - 1] - want[a - 1] / 8);
    }
    out_spec_fini(&s);
}

TEST(output_alert_and_filters)
{
    kx_arena ar;
    kx_arena_init(&ar, 4096, 0);
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    struct out_alert a;
    mk_alert(&b, "id1", "r1", "medium", NULL);
    ASSERT_OK(out_alert_parse(&a, &ar, b.ptr, b.len, NULL));
    ASSERT_STR_EQ(a.id, "id1");
    ASSERT_STR_EQ(a.rule_id, "r1");
    ASSERT_STR_EQ(a.user, "alice");
    ASSERT_EQ(a.sev, 2);
    ASSERT_EQ(a.ntags, 2);
    ASSERT_EQ(a.nnew_terms, 2);
    ASSERT_STR_EQ(a.new_terms[1], "kubectl/1.29");
    struct out_spec s = spec_of("stdout,min_severity=high");
    ASSERT_FALSE(out_filter_pass(&s, &a));
    out_spec_fini(&s);
    s = spec_of("stdout,min_severity=medium,rule=r0,rule=r1");
    ASSERT_TRUE(out_filter_pass(&s, &a));
    out_spec_fini(&s);
    s = spec_of("stdout,rule=r0");
    ASSERT_FALSE(out_filter_pass(&s, &a));
    out_spec_fini(&s);
    s = spec_of("stdout,tag=Tactic: Discovery");
    ASSERT_TRUE(out_filter_pass(&s, &a));
    out_spec_fini(&s);
    s = spec_of("stdout,tag=Tactic: Execution");
    ASSERT_FALSE(out_filter_pass(&s, &a));
    out_spec_fini(&s);
    kad_err e = {0};
    ASSERT_EQ(out_alert_parse(&a, &ar, "{\"a\":1}", 7, &e), KAD_EINVAL);
    ASSERT_EQ(out_alert_parse(&a, &ar, "{\"a\":", 5, &e), KAD_ESYNTAX);
    kx_buf_fini(&b);
    kx_arena_fini(&ar);
}

TEST(output_es_bulk_format)
{
    kx_arena ar;
    kx_arena_init(&ar, 4096, 0);
    struct out_alert a[2];
    const char *d0 = "{\"kibana.alert.uuid\":\"u0\",\"x\":1}",
               *d1 = "{\"kibana.alert.uuid\":\"u\\\"1\",\"x\":2}";
    ASSERT_OK(out_alert_parse(&a[0], &ar, d0, strlen(d0), NULL));
    ASSERT_OK(out_alert_parse(&a[1], &ar, d1, strlen(d1), NULL));
    struct out_spec s = spec_of("elasticsearch:http://es:9200,index=logs-kadet.alerts-default");
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    ASSERT_OK(out_fmt_es_bulk(&s, a, 2, &b));
    ASSERT_STR_EQ(b.ptr,
                  "{\"create\":{\"_index\":\"logs-kadet.alerts-default\",\"_id\":\"u0\"}}\n"
                  "{\"kibana.alert.uuid\":\"u0\",\"x\":1}\n"
                  "{\"create\":{\"_index\":\"logs-kadet.alerts-default\",\"_id\":\"u\\\"1\"}}\n"
                  "{\"kibana.alert.uuid\":\"u\\\"1\",\"x\":2}\n");
    out_spec_fini(&s);
    kx_buf_fini(&b);
    kx_arena_fini(&ar);
}

TEST(output_es_bulk_response)
{
    /* the documented shape: errors true, one item per action, in order */
    const char *resp =
        "{\"took\":30,\"errors\":true,\"items\":["
        "{\"create\":{\"_index\":\"i\",\"_id\":\"1\",\"_version\":1,\"result\":\"created\","
        "\"status\":201}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"2\",\"status\":409,\"error\":{\"type\":"
        "\"version_conflict_engine_exception\",\"reason\":\"[2]: version conflict, document "
        "already exists\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"3\",\"status\":429,\"error\":{\"type\":"
        "\"es_rejected_execution_exception\",\"reason\":\"rejected\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"4\",\"status\":503,\"error\":{\"type\":"
        "\"unavailable_shards_exception\",\"reason\":\"primary shard is not active\"}}},"
        "{\"create\":{\"_index\":\"i\",\"_id\":\"5\",\"status\":400,\"error\":{\"type\":"
        "\"mapper_parsing_exception\",\"reason\":\"failed to parse field [a]\"}}}]}";
    struct out_item_result r[5];
    ASSERT_OK(out_es_bulk_items(resp, strlen(resp), r, 5, NULL));
    ASSERT_EQ(r[0].v, OUT_V_DONE);
    ASSERT_EQ(r[1].v, OUT_V_DONE);
    ASSERT_EQ(r[2].v, OUT_V_RETRY);
    ASSERT_EQ(r[3].v, OUT_V_RETRY);
    ASSERT_EQ(r[4].v, OUT_V_DEAD);
    ASSERT_EQ(r[4].status, 400);
    ASSERT_STR_EQ(r[4].reason, "mapper_parsing_exception: failed to parse field [a]");
    kad_err e = {0};
    ASSERT_EQ(out_es_bulk_items(resp, strlen(resp), r, 4, &e), KAD_ESYNTAX);
    ASSERT(strstr(e.msg, "5 items for 4 sent"));
    ASSERT_EQ(out_es_bulk_items("{\"took\":1}", 10, r, 1, &e), KAD_ESYNTAX);
    ASSERT_EQ(out_es_bulk_items("{\"items\":[{\"create\":{}}]}", 25, r, 1, &e), KAD_ESYNTAX);
}

TEST(output_webhook_slack_syslog_format)
{
    /* RFC 4231 test case 2 */
    char sig[72];
    ASSERT_OK(out_hmac_sha256_hex("Jefe", "what do ya want for nothing?", 28, sig));
    ASSERT_STR_EQ(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    kx_arena ar;
    kx_arena_init(&ar, 4096, 0);
    kx_buf a1, a2, b;
    kx_buf_init(&a1, 1 << 20);
    kx_buf_init(&a2, 1 << 20);
    kx_buf_init(&b, 1 << 20);
    struct out_alert a[2];
    mk_alert(&a1, "id1", "r1", "critical", NULL);
    mk_alert(&a2, "id2", "r<2>", "low", NULL);
    ASSERT_OK(out_alert_parse(&a[0], &ar, a1.ptr, a1.len, NULL));
    ASSERT_OK(out_alert_parse(&a[1], &ar, a2.ptr, a2.len, NULL));

    struct out_spec s = spec_of("webhook:http://h/x,batch_format=array");
    ASSERT_OK(out_fmt_webhook(&s, a, 2, &b));
    ASSERT(b.ptr[0] == '[' && b.ptr[b.len - 1] == ']' && b.len == a1.len + a2.len + 3);
    out_spec_fini(&s);
    kx_buf_reset(&b);
    s = spec_of("webhook:http://h/x");
    ASSERT_OK(out_fmt_webhook(&s, a, 1, &b));
    ASSERT_STR_EQ(b.ptr, a1.ptr);
    out_spec_fini(&s);

    kx_buf_reset(&b);
    ASSERT_OK(out_fmt_slack(&a[1], NULL, &b));
    ASSERT(strstr(b.ptr, "*Rule r&lt;2&gt;* (low)"));
    ASSERT(strstr(b.ptr, "*User:* alice"));
    ASSERT(strstr(b.ptr, "*New terms:* `alice`, `kubectl/1.29`"));
    ASSERT(strstr(b.ptr, "*Reason:* event by alice"));
    ASSERT(strstr(b.ptr, "*First steps:*\\n• Check who alice is.\\n• Compare with her usual "
                         "agents.\\n• Look at the decision.\\n_alert id2_"));
    kx_buf_reset(&b);
    ASSERT_OK(out_fmt_slack(&a[1], "Steps\n1. Only this.", &b));
    ASSERT(strstr(b.ptr, "• Only this.\\n_alert"));

    s = spec_of("syslog:tcp://127.0.0.1:514,facility=4");
    kx_buf_reset(&b);
    ASSERT_OK(out_fmt_syslog(&s, &a[0], "node 1", true, &b));
    char want[200];
    snprintf(want, sizeof(want),
             "<34>1 2026-03-01T10:00:00.000Z node1 kadet - alert [kadet@32473 id=\"id1\" "
             "rule=\"r1\"] {");
    char *sp = strchr(b.ptr, ' ');
    ASSERT(sp && strtoul(b.ptr, NULL, 10) == b.len - (size_t)(sp + 1 - b.ptr));
    ASSERT(!strncmp(sp + 1, want, strlen(want)));
    ASSERT(!strcmp(b.ptr + b.len - a1.len, a1.ptr));
    out_spec_fini(&s);

    kx_buf_fini(&a1);
    kx_buf_fini(&a2);
    kx_buf_fini(&b);
    kx_arena_fini(&ar);
}

/* ---- the outbox --------------------------------------------------------------------------- */

TEST(output_outbox_append_once)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/outbox.db", dir);
    struct out_box *b;
    ASSERT_OK(out_box_open(&b, path, NULL));
    kad_err e = {0};
    ASSERT_EQ(out_box_append(b, "x", "{}", 2, &e), KAD_EINVAL); /* no batch */
    ASSERT_OK(out_box_begin(b, NULL));
    ASSERT_EQ(out_box_append(b, "a", "{\"n\":1}", 7, NULL), 1);
    ASSERT_EQ(out_box_append(b, "b", "{\"n\":2}", 7, NULL), 1);
    ASSERT_EQ(out_box_append(b, "a", "{\"n\":1}", 7, NULL), 0);
    ASSERT_OK(out_box_commit(b, NULL));
    /* a rolled-back batch leaves nothing */
    ASSERT_OK(out_box_begin(b, NULL));
    ASSERT_EQ(out_box_append(b, "c", "{}", 2, NULL), 1);
    out_box_rollback(b);
    out_box_close(b);
    ASSERT_OK(out_box_open(&b, path, NULL));
    ASSERT_OK(out_box_begin(b, NULL));
    ASSERT_EQ(out_box_append(b, "b", "{\"n\":2}", 7, NULL), 0); /* replayed */
    ASSERT_EQ(out_box_append(b, "c", "{}", 2, NULL), 1);
    ASSERT_OK(out_box_commit(b, NULL));
    out_box_close(b);
    /* not an outbox */
    char other[160];
    snprintf(other, sizeof(other), "%s/other.db", dir);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'PRAGMA application_id=7; CREATE TABLE t(x)'", other);
    if (system(cmd) == 0) {
        ASSERT_EQ(out_box_open(&b, other, &e), KAD_ESTATE);
        ASSERT(strstr(e.msg, "not a kadet outbox"));
    }
    rmdir_r(dir);
}

struct seen_rows {
    char ids[16][16];
    int64_t seq[16];
    int n;
};

static bool on_row(int64_t seq, int64_t created, const char *id, const char *json, size_t len,
                   void *ud)
{
    struct seen_rows *s = ud;
    if (s->n < 16) {
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", json ? id : "(missing)");
        s->seq[s->n++] = seq;
    }
    return true;
}

/* Records `ID TAB JSON NEWLINE` (the engine's path), confirmation, and the reader's position. */
TEST(output_outbox_records_and_confirm)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/outbox.db", dir);
    struct out_box *b, *r;
    kad_err e = {0};
    ASSERT_OK(out_box_open(&b, path, NULL));
    ASSERT_OK(out_box_begin(b, NULL));
    static const char ab[] = "a\t{\"n\":1}\nb\t{\"n\":2}\n";
    ASSERT_EQ(out_box_append_records(b, ab, strlen(ab), NULL), 2);
    ASSERT_OK(out_box_commit(b, NULL));
    int64_t first = out_box_last_batch(b);
    ASSERT_EQ(first, 1);
    /* not confirmed (the state's commit "failed"): a replay of a finds it */
    ASSERT_OK(out_box_begin(b, NULL));
    static const char ac[] = "a\t{\"n\":1}\nc\t{\"n\":3}\n";
    ASSERT_EQ(out_box_append_records(b, ac, strlen(ac), NULL), 1);
    ASSERT_EQ(out_box_append_records(b, "x{}\n", 4, &e), KAD_EINVAL); /* no tab */
    ASSERT(strstr(e.msg, "byte 0"));
    ASSERT_EQ(out_box_append_records(b, "d\t{}", 4, &e), KAD_EINVAL); /* no newline */
    ASSERT_OK(out_box_commit(b, NULL));
    ASSERT_EQ(out_box_last_batch(b), 3);
    out_box_confirm(b, out_box_last_batch(b));
    out_box_close(b);
    /* a new process: batch 1 is still unconfirmed, batch 3 was confirmed at close */
    ASSERT_OK(out_box_open(&b, path, NULL));
    ASSERT_OK(out_box_begin(b, NULL));
    ASSERT_EQ(out_box_append(b, "b", "{\"n\":2}", 7, NULL), 0);
    ASSERT_EQ(out_box_append(b, "c", "{\"n\":3}", 7, NULL), 1); /* confirmed: not kept */
    ASSERT_EQ(out_box_append(b, "e", "{\"n\":5}", 7, NULL), 1);
    ASSERT_OK(out_box_commit(b, NULL));
    ASSERT_EQ(out_box_last_batch(b), 4);
    /* the reader: every alert in order, then from where it stopped */
    ASSERT_OK(box_open(&r, path, NULL));
    struct seen_rows s = {0};
    ASSERT_OK(box_rows(r, 0, 100, 1 << 20, on_row, &s, NULL));
    ASSERT_EQ(s.n, 5);
    static const char *const want[] = {"a", "b", "c", "c", "e"};
    for (int i = 0; i < 5; i++) {
        ASSERT_STR_EQ(s.ids[i], want[i]);
        ASSERT_EQ(s.seq[i], i + 1);
    }
    memset(&s, 0, sizeof(s));
    ASSERT_OK(box_rows(r, 1, 2, 1 << 20, on_row, &s, NULL)); /* from the middle of batch 1 */
    ASSERT_EQ(s.n, 2);
    ASSERT_STR_EQ(s.ids[0], "b");
    ASSERT_STR_EQ(s.ids[1], "c");
    memset(&s, 0, sizeof(s));
    ASSERT_OK(box_rows(r, 3, 100, 1 << 20, on_row, &s, NULL)); /* where it stopped */
    ASSERT_EQ(s.n, 2);
    ASSERT_EQ(s.seq[0], 4);
    int64_t count, oldest;
    ASSERT_OK(box_pending(r, 2, &count, &oldest));
    ASSERT_EQ(count, 3);
    ASSERT(oldest > 0);
    ASSERT_OK(box_pending(r, 5, &count, &oldest));
    ASSERT_EQ(count, 0);
    /* a segment cut short by hand: its alerts are reported missing, in order */
    char seg[200];
    snprintf(seg, sizeof(seg), "%s.docs-000001", path);
    ASSERT_EQ(truncate(seg, 3), 0);
    memset(&s, 0, sizeof(s));
    ASSERT_OK(box_rows(r, 0, 100, 1 << 20, on_row, &s, NULL));
    ASSERT_EQ(s.n, 5);
    ASSERT_STR_EQ(s.ids[0], "(missing)");
    ASSERT_EQ(s.seq[4], 5);
    out_box_close(r);
    out_box_close(b);
    rmdir_r(dir);
}

/* ---- delivery ----------------------------------------------------------------------------- */

/* Commit alerts alert-FROM .. alert-(TO-1) in one outbox batch; 0, or -1 (nothing committed). */
static int produce_rc(struct out_mgr *m, int from, int to, const char *sev, const char *extra)
{
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    struct out_box *box = out_mgr_box(m);
    int rc = out_box_begin(box, NULL) ? -1 : 0;
    for (int i = from; i < to && !rc; i++) {
        char id[32], rule[8];
        snprintf(id, sizeof(id), "alert-%04d", i);
        snprintf(rule, sizeof(rule), "r%d", i % 3);
        mk_alert(&b, id, rule, sev, extra);
        rc = out_box_append(box, id, b.ptr, b.len, NULL) == 1 ? 0 : -1;
    }
    if (rc)
        out_box_rollback(box);
    else
        rc = out_box_commit(box, NULL) ? -1 : 0;
    out_mgr_notify(m);
    kx_buf_fini(&b);
    return rc;
}

static void produce(struct out_mgr *m, int from, int to, const char *sev, const char *extra)
{
    ASSERT_OK(produce_rc(m, from, to, sev, extra));
}

static struct out_mgr *mgr_new(const char *dir, const char *const *specs, size_t n)
{
    struct out_spec s[8];
    char path[160];
    snprintf(path, sizeof(path), "%s/outbox.db", dir);
    for (size_t i = 0; i < n; i++)
        s[i] = spec_of(specs[i]);
    struct out_opts o = {.outbox_path = path, .hostname = "testhost", .poll_ms = 50};
    struct out_mgr *m;
    kad_err e = {0};
    int rc = out_mgr_new(&m, &o, s, n, &e);
    for (size_t i = 0; i < n; i++)
        out_spec_fini(&s[i]);
    if (rc)
        t_fail(__FILE__, __LINE__, "out_mgr_new: %s", e.msg);
    ASSERT_OK(out_mgr_start(m, NULL));
    return m;
}

/* Every alert-NNNN in [0, n) stored exactly once by the receiver, and per rule in order. */
static void check_stored_once(const char *log, int n)
{
    char *t = slurp(log);
    int last[3] = {-1, -1, -1};
    for (const char *p = t; (p = strstr(p, "\"stored\": [")); p++) {
        const char *end = strchr(p, ']');
        for (const char *q = p; (q = strstr(q, "alert-")) && q < end; q++) {
            int i = atoi(q + 6);
            if (i <= last[i % 3]) { /* in order per rule, never twice */
                kx_free(t);
                t_fail(__FILE__, __LINE__, "alert-%04d stored out of order or twice", i);
            }
            last[i % 3] = i;
        }
    }
    for (int i = 0; i < n; i++) {
        char id[40];
        snprintf(id, sizeof(id), "\"alert-%04d\"", i);
        int c = 0;
        for (const char *p = t; (p = strstr(p, "\"stored\": [")); p++) {
            const char *end = strchr(p, ']');
            const char *q = strstr(p, id);
            c += q && q < end;
        }
        if (c != 1) {
            kx_free(t); /* the failure path frees what it read (no leak report) */
            t_fail(__FILE__, __LINE__, "%s stored %d times", id, c);
        }
    }
    kx_free(t);
}

TEST(output_es_partial_failures_and_auth)
{
    char dir[64], url[128], dl[160];
    tmpdir(dir, sizeof(dir));
    const char *args[] = {"--auth",     "ApiKey c2VjcmV0", "--reject", "alert-0004", "--busy-once",
                          "alert-0002", "--fail",          "1",        "--status",   "503",
                          NULL};
    struct rcv r;
    rcv_start(&r, dir, 0, args);
    snprintf(url, sizeof(url),
             "elasticsearch:http://127.0.0.1:%d,api_key=c2VjcmV0,index=kadet-test,backoff=20",
             r.port);
    const char *specs[] = {url};
    struct out_mgr *m = mgr_new(dir, specs, 1);
    produce(m, 0, 10, "high", NULL);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    struct out_metrics mt;
    ASSERT_EQ(out_mgr_metrics(m, &mt, 1), 1);
    ASSERT_EQ(mt.delivered, 9);
    ASSERT_EQ(mt.failed, 1);
    ASSERT(mt.retried >= 2); /* the 503, then alert-0002's 429 */
    ASSERT_EQ(mt.queue_depth, 0);
    out_mgr_free(m);
    rcv_stop(&r);
    char *log = slurp(r.log);
    ASSERT_EQ(count_in(log, "\"status\": 503"), 1);
    ASSERT(count_in(log, "\"ctype\": \"application/x-ndjson\"") >= 2);
    ASSERT(count_in(log, "\"path\": \"/_bulk\"") >= 2);
    kx_free(log);
    snprintf(dl, sizeof(dl), "%s/outbox.db.dead", dir);
    char *dead = slurp(dl);
    ASSERT_EQ(count_in(dead, "\n"), 1);
    ASSERT(strstr(dead, "mapper_parsing_exception: failed to parse field [x]"));
    ASSERT(strstr(dead, "\"kibana.alert.uuid\":\"alert-0004\""));
    kx_free(dead);
    /* every other alert exactly once (alert-0004 never) */
    char *t = slurp(r.log);
    ASSERT_EQ(count_in(t, "\"alert-0004\""), 0);
    kx_free(t);
    rmdir_r(dir);
}

TEST(output_receiver_down_then_up)
{
    char dir[64], url[128];
    tmpdir(dir, sizeof(dir));
    struct rcv r;
    rcv_start(&r, dir, 0, NULL);
    int port = r.port;
    rcv_stop(&r); /* down: connections are refused */
    snprintf(url, sizeof(url),
             "elasticsearch:http://127.0.0.1:%d,batch=7,backoff=20,backoff_max=200,attempts=1000",
             port);
    const char *specs[] = {url};
    struct out_mgr *m = mgr_new(dir, specs, 1);
    for (int b = 0; b < 6; b++)
        produce(m, b * 10, b * 10 + 10, "high", NULL);
    /* wait (bounded) for a refused attempt and a measurable age, not a fixed time */
    struct out_metrics mt;
    for (int i = 0; i < LONG_MS / 10; i++) {
        out_mgr_metrics(m, &mt, 1);
        if (mt.retried >= 1 && mt.oldest_age_ms > 0)
            break;
        usleep(10 * 1000);
    }
    ASSERT_EQ(mt.delivered, 0);
    ASSERT(mt.retried >= 1);
    ASSERT(mt.queue_depth > 0 && mt.oldest_age_ms > 0);
    rcv_start(&r, dir, port, NULL); /* up again */
    produce(m, 60, 70, "high", NULL);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    out_mgr_metrics(m, &mt, 1);
    ASSERT_EQ(mt.delivered, 70);
    ASSERT_EQ(mt.failed, 0);
    out_mgr_free(m);
    /* a restart on the same outbox delivers nothing again */
    m = mgr_new(dir, specs, 1);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    out_mgr_metrics(m, &mt, 1);
    ASSERT_EQ(mt.delivered, 0);
    out_mgr_free(m);
    rcv_stop(&r);
    check_stored_once(r.log, 70);
    rmdir_r(dir);
}

TEST(output_webhook_slack_delivery)
{
    char dir[64], hook[200], slack[200];
    tmpdir(dir, sizeof(dir));
    const char *args[] = {"--secret", "s3cret", "--fail", "1", "--status", "500", NULL};
    struct rcv r;
    rcv_start(&r, dir, 0, args);
    snprintf(hook, sizeof(hook),
             "webhook:http://127.0.0.1:%d/hook,secret=s3cret,batch_format=array,batch=4,"
             "header=X-Team: sec,backoff=20,min_severity=high",
             r.port);
    snprintf(slack, sizeof(slack), "slack:http://127.0.0.1:%d/slack,backoff=20,rule=r1", r.port);
    const char *specs[] = {hook, slack};
    struct out_mgr *m = mgr_new(dir, specs, 2);
    produce(m, 0, 6, "critical", NULL);
    produce(m, 6, 8, "low", NULL);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    struct out_metrics mt[2];
    ASSERT_EQ(out_mgr_metrics(m, mt, 2), 2);
    ASSERT_EQ(mt[0].delivered, 6);
    ASSERT_EQ(mt[0].filtered, 2);
    ASSERT_EQ(mt[1].delivered, 3); /* alerts 1, 4, 7 are rule r1 */
    ASSERT_EQ(mt[0].retried + mt[1].retried, 1);
    out_mgr_free(m);
    rcv_stop(&r);
    char *log = slurp(r.log);
    /* webhook: the 500'd batch again, then batches of at most 4, signed */
    ASSERT(count_in(log, "\"path\": \"/hook\"") >= 2);
    int hooks = 0;
    for (char *l = log; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        if (strstr(l, "\"path\": \"/hook\"")) {
            ASSERT(strstr(l, "\"sig_ok\": true"));
            ASSERT(strstr(l, "\"team\": \"sec\"")); /* the extra header */
            hooks++;
        }
        if (nl)
            *nl = '\n';
    }
    ASSERT(hooks >= 2); /* 6 alerts in batches of 4 (plus the 500 when it hit this output) */
    ASSERT(count_in(log, "\"path\": \"/slack\"") >= 3);
    ASSERT(strstr(log, "First steps"));
    kx_free(log);
    rmdir_r(dir);
}

/* A UDP or TCP syslog receiver on 127.0.0.1: returns the socket, its port in *port. */
static int sys_listen(int type, int *port)
{
    int fd = socket(AF_INET, type, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
    socklen_t l = sizeof(a);
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &l));
    if (type == SOCK_STREAM)
        ASSERT_OK(listen(fd, 4));
    *port = ntohs(a.sin_port);
    return fd;
}

TEST(output_syslog_udp_tcp)
{
    char dir[64], udp[100], tcp[100];
    tmpdir(dir, sizeof(dir));
    int up, tp;
    int ufd = sys_listen(SOCK_DGRAM, &up), tfd = sys_listen(SOCK_STREAM, &tp);
    snprintf(udp, sizeof(udp), "syslog:udp://127.0.0.1:%d", up);
    snprintf(tcp, sizeof(tcp), "syslog:tcp://127.0.0.1:%d,batch=10", tp);
    const char *specs[] = {udp, tcp};
    struct out_mgr *m = mgr_new(dir, specs, 2);
    produce(m, 0, 3, "medium", NULL);
    /* UDP: one RFC 5424 message per datagram */
    for (int i = 0; i < 3; i++) {
        char d[8192];
        struct pollfd pf = {ufd, POLLIN, 0};
        ASSERT(poll(&pf, 1, LONG_MS) == 1);
        ssize_t n = recv(ufd, d, sizeof(d) - 1, 0);
        ASSERT(n > 0);
        d[n] = 0;
        char want[80];
        snprintf(want, sizeof(want), "<132>1 2026-03-01T10:00:00.000Z testhost kadet - alert");
        ASSERT(!strncmp(d, want, strlen(want)));
        snprintf(want, sizeof(want), "\"kibana.alert.uuid\":\"alert-%04d\"", i);
        ASSERT(strstr(d, want));
        ASSERT(d[n - 1] == '}');
    }
    /* TCP: octet counting */
    struct pollfd pf = {tfd, POLLIN, 0};
    ASSERT(poll(&pf, 1, LONG_MS) == 1);
    int c = accept(tfd, NULL, NULL);
    ASSERT(c >= 0);
    char buf[65536];
    size_t got = 0;
    int msgs = 0;
    for (size_t pos = 0; msgs < 3;) {
        pf = (struct pollfd){c, POLLIN, 0};
        ASSERT(poll(&pf, 1, LONG_MS) == 1);
        ssize_t n = read(c, buf + got, sizeof(buf) - got - 1);
        ASSERT(n > 0);
        got += (size_t)n;
        buf[got] = 0;
        for (;;) {
            char *sp = memchr(buf + pos, ' ', got - pos);
            if (!sp)
                break;
            size_t len = strtoul(buf + pos, NULL, 10);
            size_t start = (size_t)(sp + 1 - buf);
            if (start + len > got)
                break;
            ASSERT(!strncmp(buf + start, "<132>1 ", 7));
            ASSERT(buf[start + len - 1] == '}');
            pos = start + len;
            msgs++;
        }
    }
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    out_mgr_free(m);
    close(c);
    close(ufd);
    close(tfd);
    rmdir_r(dir);
}

TEST(output_file_rotation_and_dead_letter)
{
    char dir[64], spec[200], path[160], rot[170];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/alerts.ndjson", dir);
    snprintf(spec, sizeof(spec), "file:%s,rotate=4k,keep=2", path);
    /* a webhook nobody listens on, 2 attempts: dead-lettered with the reason */
    const char *specs[] = {spec, "webhook:http://127.0.0.1:9/x,attempts=2,backoff=10,"
                                 "timeout=2000,dead_letter=DL"};
    char dlspec[300];
    snprintf(dlspec, sizeof(dlspec),
             "webhook:http://127.0.0.1:9/x,attempts=2,backoff=10,timeout=2000,"
             "dead_letter=%s/dl.ndjson",
             dir);
    specs[1] = dlspec;
    struct out_mgr *m = mgr_new(dir, specs, 2);
    produce(m, 0, 12, "high", NULL); /* ~900 bytes each: rotates */
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    struct out_metrics mt[2];
    out_mgr_metrics(m, mt, 2);
    ASSERT_EQ(mt[0].delivered, 12);
    ASSERT_EQ(mt[1].failed, 12);
    out_mgr_free(m);
    struct stat sb;
    ASSERT_OK(stat(path, &sb));
    ASSERT(sb.st_size <= 4096);
    snprintf(rot, sizeof(rot), "%s.1", path);
    ASSERT_OK(stat(rot, &sb));
    ASSERT(sb.st_size <= 4096);
    snprintf(rot, sizeof(rot), "%s.3", path);
    ASSERT(stat(rot, &sb) != 0); /* keep=2 */
    snprintf(rot, sizeof(rot), "%s/dl.ndjson", dir);
    char *dl = slurp(rot);
    ASSERT_EQ(count_in(dl, "\n"), 12);
    ASSERT(strstr(dl, "after 2 attempts"));
    kx_free(dl);
    rmdir_r(dir);
}

/* A receiver that does not answer (--hold: until a file exists) neither blocks the producer nor
   the other output: 100 alerts are committed and the file output delivers them all while the
   webhook's first request is still waiting (no timing: the hold lasts until the test ends it). */
TEST(output_slow_receiver_does_not_block_the_producer)
{
    char dir[64], url[128], hold[128];
    tmpdir(dir, sizeof(dir));
    snprintf(hold, sizeof(hold), "%s/release", dir);
    const char *args[] = {"--hold", hold, NULL};
    struct rcv r;
    rcv_start(&r, dir, 0, args);
    snprintf(url, sizeof(url), "webhook:http://127.0.0.1:%d/slow,timeout=600000", r.port);
    const char *specs[] = {url, "file:/dev/null"};
    struct out_mgr *m = mgr_new(dir, specs, 2);
    for (int b = 0; b < 5; b++)
        produce(m, b * 20, b * 20 + 20, "high", NULL);
    /* the other output is not held up by the held one */
    struct out_metrics mt[2];
    for (int i = 0; i < 60000 && (out_mgr_metrics(m, mt, 2), mt[1].delivered < 100); i++)
        usleep(10 * 1000);
    ASSERT_EQ(mt[1].delivered, 100);
    ASSERT_EQ(mt[0].delivered, 0); /* its first request is still held */
    ASSERT_EQ(out_mgr_drain(m, 0), 100); /* a bounded wait: still pending, reported */
    FILE *f = fopen(hold, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_EQ(out_mgr_drain(m, 600000), 0);
    out_mgr_metrics(m, mt, 2);
    ASSERT_EQ(mt[0].delivered, 100);
    out_mgr_free(m);
    rcv_stop(&r);
    rmdir_r(dir);
}

/* A webhook receiver holding every answer until h->hold exists (receiver.py --hold), in a new
   directory, and a manager with that one output. */
struct held {
    char dir[64], url[128], hold[128];
    struct rcv r;
};

static struct out_mgr *held_start(struct held *h)
{
    tmpdir(h->dir, sizeof(h->dir));
    snprintf(h->hold, sizeof(h->hold), "%s/release", h->dir);
    const char *args[] = {"--hold", h->hold, NULL};
    rcv_start(&h->r, h->dir, 0, args);
    snprintf(h->url, sizeof(h->url), "webhook:http://127.0.0.1:%d/held,timeout=3600000",
             h->r.port);
    const char *specs[] = {h->url};
    return mgr_new(h->dir, specs, 1);
}

/* The receiver answers from now on. */
static void held_release(struct held *h)
{
    FILE *f = fopen(h->hold, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
}

/* Wait for every alert delivered (n of them), then stop m and the receiver. */
static void held_finish(struct held *h, struct out_mgr *m, uint64_t n)
{
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    struct out_metrics mt[1];
    out_mgr_metrics(m, mt, 1);
    ASSERT_EQ(mt[0].delivered, n);
    out_mgr_free(m);
    rcv_stop(&h->r);
    rmdir_r(h->dir);
}

/* A request in flight holds nothing the producer needs: no SQLite lock (the producer's busy
   timeout is 0 here, so one busy wait would fail its commit at once) and no mutex (notify
   would block). 5 batches commit while the output's first request is held by the receiver (no
   timing: the hold lasts until the test ends it). */
TEST(output_request_in_flight_holds_no_lock)
{
    struct held h;
    struct out_mgr *m = held_start(&h);
    char waiting[160];
    snprintf(waiting, sizeof(waiting), "%s.waiting", h.hold);
    produce(m, 0, 1, "high", NULL);
    ASSERT(wait_file(waiting)); /* the first request is in flight */
    sqlite3_busy_timeout(out_mgr_box(m)->db, 0);
    for (int b = 0; b < 5; b++)
        produce(m, 1 + b * 20, 21 + b * 20, "high", NULL);
    ASSERT_EQ(out_mgr_drain(m, 0), 101);
    held_release(&h);
    held_finish(&h, m, 101);
}

/* out_mgr_free does not wait for a receiver that does not answer: the request in flight is
   aborted, and a new manager on the outbox sends it again. */
TEST(output_free_aborts_a_request_in_flight)
{
    struct held h;
    struct out_mgr *m = held_start(&h);
    produce(m, 0, 3, "high", NULL);
    out_mgr_free(m); /* would wait up to an hour (timeout=) if it joined the request */
    held_release(&h);
    const char *specs[] = {h.url};
    m = mgr_new(h.dir, specs, 1);
    held_finish(&h, m, 3);
}

/* The producer of output_kill9_during_delivery, in a child: commits alert-0000 .. alert-0039 in
   4 batches, says so on `fd`, and waits to be killed. Never returns (an ASSERT here would run
   the rest of the suite in the child): any failure exits without writing to `fd`. */
static _Noreturn void kill9_child(const char *dir, const char *spec, int fd)
{
    struct out_spec s = spec_of(spec);
    char path[160];
    snprintf(path, sizeof(path), "%s/outbox.db", dir);
    struct out_opts o = {.outbox_path = path, .hostname = "testhost", .poll_ms = 50};
    struct out_mgr *m;
    int rc = out_mgr_new(&m, &o, &s, 1, NULL);
    out_spec_fini(&s);
    if (rc || out_mgr_start(m, NULL))
        _exit(1);
    for (int b = 0; b < 4; b++)
        if (produce_rc(m, b * 10, b * 10 + 10, "high", NULL))
            _exit(1);
    if (write(fd, "c", 1) != 1)
        _exit(1);
    for (;;)
        pause();
}

/* kill -9 during delivery, then a restart on the same outbox: nothing lost, and the only
   resends are the bulk creates of the batch in flight, which the receiver answers with 409.
   No timing: the child reports its 40 alerts committed, the receiver answers the first 2
   requests and holds the 3rd (--hold-from 3), and the kill comes when that 3rd one is waiting.
   (A fixed sleep before the kill used to let a loaded machine kill the child before it had
   committed alerts 10..39, which were then rightly never delivered: "alert-0010 stored 0
   times".) */
TEST(output_kill9_during_delivery)
{
    char dir[64], url[160], hold[128], waiting[140];
    tmpdir(dir, sizeof(dir));
    snprintf(hold, sizeof(hold), "%s/release", dir);
    snprintf(waiting, sizeof(waiting), "%s.waiting", hold);
    const char *args[] = {"--hold", hold, "--hold-from", "3", NULL};
    struct rcv r;
    rcv_start(&r, dir, 0, args);
    snprintf(url, sizeof(url), "elasticsearch:http://127.0.0.1:%d,batch=4,backoff=20", r.port);
    const char *specs[] = {url};
    /* the cursor exists before the child produces (a new output starts at the end) */
    out_mgr_free(mgr_new(dir, specs, 1));
    int p[2];
    ASSERT_OK(pipe(p));
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        kill9_child(dir, url, p[1]);
    }
    close(p[1]);
    char c = 0;
    struct pollfd pf = {p[0], POLLIN, 0};
    bool committed = poll(&pf, 1, LONG_MS) == 1 && read(p[0], &c, 1) == 1 && c == 'c';
    close(p[0]);
    bool in_flight = committed && wait_file(waiting);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (!committed || !in_flight) {
        rcv_stop(&r);
        rmdir_r(dir);
        t_fail(__FILE__, __LINE__, "%s", !committed ? "the child did not commit its 40 alerts"
                                                    : "no request reached the receiver");
    }
    char *log = slurp(r.log);
    int before = count_in(log, "\"path\": \"/_bulk\"");
    kx_free(log);
    /* requests 1 and 2 were answered; the 3rd was in flight when the child died */
    if (before != 2) {
        rcv_stop(&r);
        rmdir_r(dir);
        t_fail(__FILE__, __LINE__, "%d bulk requests answered before the kill, not 2", before);
    }
    FILE *f = fopen(hold, "w"); /* from now on the receiver answers at once */
    ASSERT_NOT_NULL(f);
    fclose(f);
    struct out_mgr *m = mgr_new(dir, specs, 1);
    int64_t left = out_mgr_drain(m, LONG_MS);
    out_mgr_free(m);
    rcv_stop(&r);
    if (left != 0) {
        rmdir_r(dir);
        t_fail(__FILE__, __LINE__, "%lld alerts still pending after the restart", (long long)left);
    }
    check_stored_once(r.log, 40);
    rmdir_r(dir);
}

static int free_port(int type)
{
    int port, fd = sys_listen(type, &port);
    close(fd);
    return port;
}

/* rsyslogd (Debian's rsyslog) as the receiver: UDP and TCP with octet counting; rsyslog's
   parse of each message (facility, severity 2 = crit, HOSTNAME, APP-NAME, MSGID, SD, MSG). */
TEST(output_syslog_rsyslogd)
{
    if (system("command -v rsyslogd >/dev/null 2>&1") != 0)
        t_skip("rsyslogd not installed (scripts/deps.sh --test installs rsyslog)");
    char dir[64], conf[128], out[128], cmd[512], udp[100], tcp[100];
    tmpdir(dir, sizeof(dir));
    int up = free_port(SOCK_DGRAM), tp = free_port(SOCK_STREAM);
    snprintf(conf, sizeof(conf), "%s/rsyslog.conf", dir);
    snprintf(out, sizeof(out), "%s/received.log", dir);
    FILE *f = fopen(conf, "w");
    ASSERT_NOT_NULL(f);
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"64k\")\n"
            "module(load=\"imudp\")\nmodule(load=\"imtcp\")\n"
            "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\")\n"
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n"
            "template(name=\"t\" type=\"string\" string=\"%%inputname%% %%syslogfacility%% "
            "%%syslogseverity%% %%hostname%% %%app-name%% %%msgid%% %%structured-data%% "
            "%%msg%%\\n\")\n"
            "*.* action(type=\"omfile\" file=\"%s\" template=\"t\")\n",
            dir, up, tp, out);
    fclose(f);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        snprintf(cmd, sizeof(cmd), "%s/rsyslogd.pid", dir);
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        execlp("rsyslogd", "rsyslogd", "-n", "-f", conf, "-i", cmd, (char *)NULL);
        _exit(127);
    }
    /* ready when the TCP port accepts */
    bool ready = false;
    for (int i = 0; i < LONG_MS / 50 && !ready; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)tp),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ready = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (!ready)
            usleep(50 * 1000);
    }
    if (!ready) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        rmdir_r(dir);
        t_skip("rsyslogd did not start");
    }
    snprintf(udp, sizeof(udp), "syslog:udp://127.0.0.1:%d", up);
    snprintf(tcp, sizeof(tcp), "syslog:tcp://127.0.0.1:%d,batch=10,facility=1", tp);
    const char *specs[] = {udp, tcp};
    struct out_mgr *m = mgr_new(dir, specs, 2);
    produce(m, 0, 5, "critical", NULL);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    out_mgr_free(m);
    char *got = NULL;
    for (int i = 0; i < LONG_MS / 50; i++) { /* rsyslogd writes asynchronously */
        kx_free(got);
        got = slurp(out);
        if (count_in(got, "\n") >= 10)
            break;
        usleep(50 * 1000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    ASSERT_EQ(count_in(got, "imudp 16 2 testhost kadet alert [kadet@32473 id=\"alert-"), 5);
    ASSERT_EQ(count_in(got, "imtcp 1 2 testhost kadet alert [kadet@32473 id=\"alert-"), 5);
    for (int i = 0; i < 5; i++) {
        char want[120];
        snprintf(want, sizeof(want),
                 "id=\"alert-%04d\" rule=\"r%d\"] {\"@timestamp\":\"2026-03-01T10:00:00.000Z\"", i,
                 i % 3);
        ASSERT_EQ(count_in(got, want), 2);
    }
    kx_free(got);
    rmdir_r(dir);
}

/* flush=: a partial batch waits for more alerts (up to flush ms), a full one goes at once, and
   drain sends what waits. */
TEST(output_batch_by_time)
{
    char dir[64], url[200];
    tmpdir(dir, sizeof(dir));
    struct rcv r;
    rcv_start(&r, dir, 0, NULL);
    snprintf(url, sizeof(url),
             "webhook:http://127.0.0.1:%d/b,batch_format=array,batch=4,flush=60000,user=u,"
             "password=p",
             r.port);
    const char *specs[] = {url};
    struct out_mgr *m = mgr_new(dir, specs, 1);
    produce(m, 0, 2, "high", NULL);
    usleep(300 * 1000);
    char *log = slurp(r.log);
    ASSERT_EQ(count_in(log, "\"path\": \"/b\""), 0); /* waiting for a fuller batch */
    kx_free(log);
    produce(m, 2, 4, "high", NULL);
    struct out_metrics mt;
    for (int i = 0; i < LONG_MS / 50 && (out_mgr_metrics(m, &mt, 1), mt.delivered < 4); i++)
        usleep(50 * 1000);
    ASSERT_EQ(mt.delivered, 4); /* full: sent without waiting for flush */
    produce(m, 4, 5, "high", NULL);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    out_mgr_free(m);
    rcv_stop(&r);
    log = slurp(r.log);
    ASSERT_EQ(count_in(log, "\"path\": \"/b\""), 2);
    ASSERT_EQ(count_in(log, "\"auth\": \"Basic dTpw\""), 2); /* base64("u:p") */
    kx_free(log);
    rmdir_r(dir);
}

struct stats_seen {
    int n;
    int64_t pending;
    char names[2][128];
};

static void on_stats(const struct out_box_output_stats *o, void *ud)
{
    struct stats_seen *s = ud;
    if (s->n < 2)
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", o->name);
    s->n++;
    s->pending += o->pending;
    ASSERT(o->pending == 0 || o->oldest_ms > 0);
}

/* `kadet outputs test` (out_send_once) and `kadet state stats` (out_box_stats). */
TEST(output_send_once_and_stats)
{
    char dir[64], ok[160], bad[160], path[128];
    tmpdir(dir, sizeof(dir));
    const char *args[] = {"--auth", "ApiKey k", NULL};
    struct rcv r;
    rcv_start(&r, dir, 0, args);
    snprintf(ok, sizeof(ok), "elasticsearch:http://127.0.0.1:%d,api_key=k,name=es", r.port);
    snprintf(bad, sizeof(bad), "webhook:http://127.0.0.1:%d/x,name=hook", r.port);
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    mk_alert(&b, "sample-1", "r1", "low", NULL);
    struct out_spec s = spec_of(ok);
    ASSERT_OK(out_send_once(&s, b.ptr, b.len, NULL));
    ASSERT_OK(out_send_once(&s, b.ptr, b.len, NULL)); /* 409: there already, fine */
    out_spec_fini(&s);
    s = spec_of(bad);
    kad_err e = {0};
    ASSERT_EQ(out_send_once(&s, b.ptr, b.len, &e), KAD_EIO);
    ASSERT(strstr(e.msg, "HTTP 401"));
    out_spec_fini(&s);
    kx_buf_fini(&b);
    rcv_stop(&r);

    /* two outputs, one unreachable: its alerts stay pending in the outbox */
    const char *specs[] = {"file:/dev/null,name=null",
                           "webhook:http://127.0.0.1:9/x,name=down,backoff=60000"};
    struct out_mgr *m = mgr_new(dir, specs, 2);
    produce(m, 0, 3, "high", NULL);
    /* the file output's 3 delivered (bounded wait, not a fixed 500 ms): the other 3 pending */
    int64_t left = -1;
    for (int i = 0; i < LONG_MS / 1000 && left != 3; i++)
        left = out_mgr_drain(m, 1000);
    ASSERT_EQ(left, 3);
    out_mgr_free(m);
    snprintf(path, sizeof(path), "%s/outbox.db", dir);
    struct stats_seen seen = {0};
    ASSERT_OK(out_box_stats(path, on_stats, &seen, NULL));
    ASSERT_EQ(seen.n, 2);
    ASSERT_STR_EQ(seen.names[0], "down");
    ASSERT_STR_EQ(seen.names[1], "null");
    ASSERT_EQ(seen.pending, 3);
    rmdir_r(dir);
}

/* A certificate for 127.0.0.1 made with openssl(1); false when openssl is missing. */
static bool make_cert(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s/key.pem' -out '%s/cert.pem' "
             "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             dir, dir);
    return system(cmd) == 0;
}

/* HTTPS with ca= (verified), and refused without it; syslog over TLS (tls://, RFC 5425
   octet counting) to a TLS receiver. */
TEST(output_tls_https_and_syslog)
{
    char dir[64], cert[128], key[128], spec[300];
    tmpdir(dir, sizeof(dir));
    if (!make_cert(dir)) {
        rmdir_r(dir);
        t_skip("openssl(1) not available to make a test certificate");
    }
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    struct rcv r;
    rcv_start(&r, dir, 0, args);
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    mk_alert(&b, "tls-1", "r1", "low", NULL);
    snprintf(spec, sizeof(spec), "webhook:https://127.0.0.1:%d/tls,ca=%s", r.port, cert);
    struct out_spec s = spec_of(spec);
    kad_err e = {0};
    ASSERT_OK(out_send_once(&s, b.ptr, b.len, &e));
    out_spec_fini(&s);
    snprintf(spec, sizeof(spec), "webhook:https://127.0.0.1:%d/tls", r.port);
    s = spec_of(spec);
    ASSERT_EQ(out_send_once(&s, b.ptr, b.len, &e), KAD_EIO); /* not trusted */
    out_spec_fini(&s);
    rcv_stop(&r);
    char *log = slurp(r.log);
    ASSERT_EQ(count_in(log, "\"path\": \"/tls\""), 1);
    kx_free(log);
    unlink(r.log);

    const char *sargs[] = {"--syslog-tls", "--tls-cert", cert, "--tls-key", key, NULL};
    rcv_start(&r, dir, 0, sargs);
    snprintf(spec, sizeof(spec), "syslog:tls://127.0.0.1:%d,ca=%s,batch=5", r.port, cert);
    char untrusted[200];
    snprintf(untrusted, sizeof(untrusted), "syslog:tls://127.0.0.1:%d", r.port);
    s = spec_of(untrusted);
    ASSERT_EQ(out_send_once(&s, b.ptr, b.len, &e), KAD_EIO);
    ASSERT(strstr(e.msg, "TLS"));
    out_spec_fini(&s);
    const char *specs[] = {spec};
    struct out_mgr *m = mgr_new(dir, specs, 1);
    produce(m, 0, 4, "high", NULL);
    ASSERT_EQ(out_mgr_drain(m, LONG_MS), 0);
    out_mgr_free(m);
    for (int i = 0; i < LONG_MS / 50; i++) { /* the receiver logs after reading */
        log = slurp(r.log);
        int n = count_in(log, "{\"syslog\": \"<131>1 2026-03-01T10:00:00.000Z testhost kadet");
        kx_free(log);
        if (n == 4)
            break;
        ASSERT(i < LONG_MS / 50 - 1);
        usleep(50 * 1000);
    }
    rcv_stop(&r);
    kx_buf_fini(&b);
    rmdir_r(dir);
}

/* ---- the public API (kad.h) --------------------------------------------------------------- */

#include "api/api_int.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

/* [[sink]] tables: options as keys (values with commas, arrays for repeatable options), `spec`,
   and errors at the value's line:col. */
TEST(output_api_config_tables)
{
    char dir[64], cfg[128], text[1024];
    tmpdir(dir, sizeof(dir));
    snprintf(cfg, sizeof(cfg), "%s/kadet.toml", dir);
    kad_err e;
    struct {
        const char *toml;
        int code;
        const char *where; /* "line:col" of the error, NULL: ok */
        const char *msg;
    } cases[] = {
        {"listen = \"x\"\n[[sink]]\ntype = \"webhook\"\ntarget = \"http://h/x\"\n"
         "header = [\"X-A: 1, 2\", \"X-B: 3\"]\npassword = \"p,q\"\nuser = \"u\"\n"
         "attempts = 3\n[[sink]]\nspec = \"file:/dev/null,name=f\"\n",
         0, NULL, NULL},
        {"[[sink]]\ntype = \"webhook\"\ntarget = \"ftp://x\"\n", KAD_ESYNTAX, ":3:11:",
         "http:// or https:// URL"},
        {"[[sink]]\ntype = \"webhook\"\ntarget = \"http://x\"\nattempts = 0\n", KAD_EINVAL,
         ":4:12:", "attempts: expected 1-1000"},
        {"[[sink]]\ntype = \"nosuch\"\n", KAD_EINVAL, ":2:9:", "unknown sink type 'nosuch'"},
        {"[[sink]]\ntarget = \"http://x\"\n", KAD_EINVAL, ":1:1:", "'type'"},
        {"[[sink]]\ntype = \"file\"\ntarget = \"/dev/null\"\nrotate = 1.5\n", KAD_EINVAL,
         ":4:10:", "expected a string"},
        {"[[sink]]\nspec = \"file:/x,keep=0\"\n", KAD_EINVAL, ":2:", "keep: expected 1-100"},
        {"sink = 1\n", KAD_EINVAL, ":1:8:", "array of tables"},
        {"[[sink]]\nspec = \"stdout\"\n[[sink]]\nspec = \"stdout\"\n", KAD_EINVAL, NULL,
         "two outputs named 'stdout'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(cfg, cases[i].toml);
        kad_err_clear(&e);
        kad_outputs_opts o = {.config_path = cfg};
        int rc = kad_outputs_check(&o, &e);
        kad_err_format(&e, text, sizeof(text));
        if (rc != cases[i].code)
            t_fail(__FILE__, __LINE__, "case %zu: rc %d, want %d (%s)", i, rc, cases[i].code,
                   text);
        if (cases[i].where && !strstr(text, cases[i].where))
            t_fail(__FILE__, __LINE__, "case %zu: '%s' lacks %s", i, text, cases[i].where);
        if (cases[i].msg && !strstr(text, cases[i].msg))
            t_fail(__FILE__, __LINE__, "case %zu: '%s' lacks '%s'", i, text, cases[i].msg);
    }
    kad_outputs_opts missing = {.config_path = "/nonexistent/kadet.toml"};
    ASSERT_EQ(kad_outputs_check(&missing, &e), KAD_ENOTFOUND);
    rmdir_r(dir);
}

/* kad_outputs_new on an outbox, the engine's append (api_outputs_append), drain, stats, the
   Prometheus lines, and the outbox's totals read back by kad_outbox_stats. */
struct box_seen {
    int n;
    int64_t delivered, filtered, pending;
};

static void on_box(const kad_outbox_output *o, void *ud)
{
    struct box_seen *s = ud;
    if (strcmp(o->name, "all") == 0) {
        s->delivered = o->delivered;
        s->pending = o->pending;
    } else {
        s->filtered = o->filtered;
    }
    s->n++;
}

TEST(output_api_outputs_metrics_and_stats)
{
    char dir[64], box[128], f1[128], f2[128], s1[200], s2[200];
    tmpdir(dir, sizeof(dir));
    snprintf(box, sizeof(box), "%s/state.db.outbox", dir);
    snprintf(f1, sizeof(f1), "%s/all.jsonl", dir);
    snprintf(f2, sizeof(f2), "%s/crit.jsonl", dir);
    snprintf(s1, sizeof(s1), "file:%s,name=all", f1);
    snprintf(s2, sizeof(s2), "file:%s,name=crit \"x\",min_severity=critical", f2);
    const char *specs[] = {s1, s2};
    kad_outputs_opts o = {.outbox_path = box, .specs = specs, .nspecs = 2};
    kad_outputs *ko = NULL;
    kad_err e;
    kad_err_clear(&e);
    ASSERT_OK(kad_outputs_new(&ko, &o, &e));
    ASSERT_EQ(kad_outputs_count(ko), 2);
    kx_buf alerts, a;
    kx_buf_init(&alerts, 1 << 20);
    kx_buf_init(&a, 1 << 16);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "api-%d", i);
        mk_alert(&a, id, "r1", i == 2 ? "critical" : "low", NULL);
        kx_buf_add(&alerts, id, strlen(id));
        kx_buf_addc(&alerts, '\t');
        kx_buf_add(&alerts, a.ptr, a.len);
        kx_buf_addc(&alerts, '\n');
    }
    int64_t batch = 0, again = 0;
    /* staged in two parts, committed; then the state's commit "failed" (no notify) and the
       batch is replayed: nothing twice */
    size_t half = (size_t)((const char *)memchr(alerts.ptr, '\n', alerts.len) - alerts.ptr) + 1;
    ASSERT_OK(api_outputs_stage(ko, &batch, alerts.ptr, half, &e));
    ASSERT_OK(api_outputs_commit(ko, &batch, alerts.ptr + half, alerts.len - half, &batch, &e));
    ASSERT(batch > 0);
    ASSERT_OK(api_outputs_commit(ko, &again, alerts.ptr, alerts.len, &again, &e));
    ASSERT_EQ(again, 0);
    api_outputs_notify(ko, batch);
    ASSERT_EQ(kad_outputs_drain(ko, 600000), 0);
    kad_output_stats st;
    ASSERT_OK(kad_outputs_stats(ko, 0, &st));
    ASSERT_STR_EQ(st.name, "all");
    ASSERT_STR_EQ(st.type, "file");
    ASSERT_EQ(st.delivered, 3);
    ASSERT_OK(kad_outputs_stats(ko, 1, &st));
    ASSERT_EQ(st.delivered, 1);
    ASSERT_EQ(st.filtered, 2);
    ASSERT_EQ(kad_outputs_stats(ko, 2, &st), KAD_ENOTFOUND);
    char *m = kad_outputs_metrics(ko);
    ASSERT(strstr(m, "# TYPE kadet_output_delivered_total counter\n"));
    ASSERT(strstr(m, "kadet_output_delivered_total{output=\"all\"} 3\n"));
    ASSERT(strstr(m, "kadet_output_delivered_total{output=\"crit \\\"x\\\"\"} 1\n"));
    ASSERT(strstr(m, "kadet_output_filtered_total{output=\"crit \\\"x\\\"\"} 2\n"));
    ASSERT(strstr(m, "kadet_output_queue_depth{output=\"all\"} 0\n"));
    ASSERT(strstr(m, "# TYPE kadet_output_oldest_pending_seconds gauge\n"));
    kad_free(m);
    kad_outputs_free(ko);
    char *got = slurp(f1);
    ASSERT_EQ(count_in(got, "\n"), 3);
    kx_free(got);
    struct box_seen seen = {0};
    ASSERT_OK(kad_outbox_stats(box, on_box, &seen, &e));
    ASSERT_EQ(seen.n, 2);
    ASSERT_EQ(seen.delivered, 3);
    ASSERT_EQ(seen.pending, 0);
    ASSERT_EQ(seen.filtered, 2);
    char nobox[160];
    snprintf(nobox, sizeof(nobox), "%s/none.outbox", dir);
    ASSERT_EQ(kad_outbox_stats(nobox, on_box, &seen, &e), KAD_ENOTFOUND);
    kx_buf_fini(&alerts);
    kx_buf_fini(&a);
    rmdir_r(dir);
}

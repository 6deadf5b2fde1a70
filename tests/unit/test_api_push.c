/*
 * test_api_push.c - kad_engine_push (include/kad.h, src/api/kad_feedpipe.c; design in
 * docs/internals/pipeline.md "Pushing records"): records pushed to an engine with decoding
 * threads give the alerts, counts and committed positions of the same records fed one by one
 * with kad_engine_feed_at, byte for byte, across source switches, commits and position reads
 * in the middle, a decode set other than 0, and invalid records; a restart resumes at the
 * positions committed.
 */
#include "kad.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const RULES =
    "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
    "updated_date = \"2026/01/01\"\n\n[rule]\nauthor = [\"kadet tests\"]\n"
    "description = \"api push\"\nlanguage = \"kuery\"\nname = \"api push new terms\"\n"
    "risk_score = 21\nrule_id = \"api-push-nt\"\nseverity = \"low\"\ntype = \"new_terms\"\n"
    "query = 'kubernetes.audit.stage:\"ResponseComplete\"'\n\n[rule.new_terms]\n"
    "field = \"new_terms_fields\"\nvalue = [\"kubernetes.audit.user.username\", "
    "\"user_agent.original\"]\n[[rule.new_terms.history_window_start]]\n"
    "field = \"history_window_start\"\nvalue = \"now-10d\"\n";

#define NREC 300

/* Record i: an audit event (12 users x 5 agents over 5 hours), every 37th invalid JSON. */
static char *record(int i, size_t *len)
{
    char *b = malloc(1024);
    ASSERT_NOT_NULL(b);
    int n;
    if (i % 37 == 36)
        n = snprintf(b, 1024, "{\"kind\":\"Event\",\"auditID\":\"bad-%d\",", i);
    else
        n = snprintf(
            b, 1024,
            "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
            "\"auditID\":\"id-%04d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api\","
            "\"verb\":\"get\",\"user\":{\"username\":\"user%d\"},\"userAgent\":\"agent/%d\","
            "\"responseStatus\":{\"code\":200},"
            "\"stageTimestamp\":\"2026-03-01T%02d:%02d:00.000000Z\","
            "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}",
            i, (i * 7) % 12, (i * 5) % 7 % 5, i / 60, i % 60);
    *len = (size_t)n;
    return b;
}

struct result {
    char *out;
    kad_engine_stats st;
    int64_t pos[3];
};

static void paths(const char *dir, char *state, char *out, size_t size)
{
    snprintf(state, size, "%s/state.db", dir);
    snprintf(out, size, "%s/out.jsonl", dir);
}

static kad_engine *open_engine(const char *dir, int threads, kad_state **st)
{
    char state[512], out[512];
    paths(dir, state, out, sizeof(state));
    kad_rules *rs = kad_rules_new();
    ASSERT_OK(kad_rules_load_text(rs, "push.toml", RULES, strlen(RULES), NULL));
    kad_state_opts so = {.mode = KAD_STATE_RW};
    ASSERT_OK(kad_state_open(st, state, &so, NULL));
    kad_engine_opts o = {
        .rules = rs,
        .state = *st,
        .decode = {.no_host = 1},
        .now_ms = 1767225600000, /* 2026-01-01T00:00:00Z */
        .batch = 40,
        .output_path = out,
        .output_fd = -1,
        .threads = threads,
    };
    kad_engine *e;
    ASSERT_OK(kad_engine_new(&e, &o, NULL));
    kad_rules_unref(rs);
    return e;
}

static const char *const SOURCES[3] = {"spool:a", "spool:b", "spool:c"};

/* Records [from, to) in order; record i belongs to source i / 100 at offset (i % 100) * 1000;
   every 50th is fed with decode set `alt`; a commit after record 120 and a position read after
   record 170. push: kad_engine_push, else kad_engine_feed_with. */
static void run_range(kad_engine *e, int from, int to, bool push, int alt)
{
    for (int i = from; i < to; i++) {
        size_t len;
        char *b = record(i, &len);
        kad_record r = {b, len, "push", 0, 0, (uint64_t)(i % 100) * 1000};
        int dec = i % 50 == 49 ? alt : 0;
        int64_t t = 1772344800000 + i; /* 2026-03-01T06:00:00Z: after every event */
        kad_err err;
        kad_err_clear(&err);
        int rc = push ? kad_engine_push(e, SOURCES[i / 100], &r, t, dec, &err)
                      : kad_engine_feed_with(e, SOURCES[i / 100], &r, t, dec, &err);
        ASSERT_FALSE(kad_engine_failed(e));
        (void)rc; /* a bad record is skipped and counted, not an error of the engine */
        free(b);  /* pushed records are copied */
        if (i == 120)
            ASSERT_OK(kad_engine_commit(e, NULL));
        if (i == 170) {
            int64_t off, line;
            ASSERT_OK(kad_engine_position(e, SOURCES[1], &off, &line, NULL));
            ASSERT_EQ(off, 70 * 1000 + (int64_t)len);
        }
    }
}

static void run(const char *dir, int threads, bool push, struct result *res)
{
    char state[512], out[512], p[600];
    paths(dir, state, out, sizeof(state));
    const char *const names[] = {"state.db", "state.db-wal", "state.db-shm", "out.jsonl"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    kad_state *st;
    kad_engine *e = open_engine(dir, threads, &st);
    kad_decode_opts alt = {.no_host = 1, .cluster_name = "other"};
    int alt_id = kad_engine_decode_add(e, &alt, NULL);
    ASSERT_EQ(alt_id, 1);
    run_range(e, 0, 200, push, alt_id);
    ASSERT_OK(push ? kad_engine_push_wait(e, NULL) : KAD_OK);
    ASSERT_OK(kad_engine_commit(e, NULL));
    kad_engine_stats_get(e, &res->st);
    kad_engine_free(e);
    kad_state_close(st);
    /* a restart resumes where the commit left each source, then runs the rest */
    e = open_engine(dir, threads, &st);
    ASSERT_EQ(kad_engine_decode_add(e, &alt, NULL), 1);
    for (int s = 0; s < 2; s++) {
        int64_t line;
        ASSERT_OK(kad_engine_position(e, SOURCES[s], &res->pos[s], &line, NULL));
    }
    run_range(e, 200, NREC, push, alt_id);
    ASSERT_OK(kad_engine_commit(e, NULL));
    int64_t line;
    ASSERT_OK(kad_engine_position(e, SOURCES[2], &res->pos[2], &line, NULL));
    kad_engine_stats s2;
    kad_engine_stats_get(e, &s2);
    res->st.records += s2.records;
    res->st.events += s2.events;
    res->st.skipped += s2.skipped;
    res->st.alerts += s2.alerts;
    kad_engine_free(e);
    kad_state_close(st);
    res->out = t_read_file(out, NULL);
    ASSERT_NOT_NULL(res->out);
}

TEST(api_push_equals_feed)
{
    char dir[] = "/tmp/kad-api-push.XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    struct result one, pushed[3];
    run(dir, 0, false, &one);
    ASSERT(one.st.alerts > 20);       /* the comparison means something */
    ASSERT_EQ(one.st.skipped, 8);     /* the invalid records: 36, 73, ... 295 */
    ASSERT_EQ(one.st.records, NREC);  /* every record ran once */
    const int threads[3] = {0, 2, 4}; /* 0: no pipe, push is feed_with */
    for (int k = 0; k < 3; k++) {
        run(dir, threads[k], true, &pushed[k]);
        ASSERT_STR_EQ(pushed[k].out, one.out);
        ASSERT_EQ(pushed[k].st.records, one.st.records);
        ASSERT_EQ(pushed[k].st.events, one.st.events);
        ASSERT_EQ(pushed[k].st.skipped, one.st.skipped);
        ASSERT_EQ(pushed[k].st.alerts, one.st.alerts);
        for (int s = 0; s < 3; s++)
            ASSERT_EQ(pushed[k].pos[s], one.pos[s]);
        free(pushed[k].out);
    }
    free(one.out);
    char p[600];
    const char *const names[] = {"state.db", "state.db-wal", "state.db-shm", "out.jsonl"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

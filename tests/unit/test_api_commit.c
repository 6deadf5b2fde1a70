/*
 * test_api_commit.c - the commit protocol of kad_engine (include/kad.h, docs/internals/engine.md)
 * through the public API only: an engine killed with SIGKILL at every kind of kill point
 * (KADET_TEST_CRASH, compiled into test builds: in a batch, after an output file's write and
 * fsync but before the transaction, right after the transaction), then run again on the same
 * state and output, ends with exactly the output of one uninterrupted run, byte for byte.
 * With an output descriptor (stdout), a kill inside a batch loses nothing either: what the
 * killed run wrote plus what the rerun writes is the uninterrupted run's output.
 * tests/cli/test_scan_crash.sh checks the same through the CLI.
 */
#include "kad.h"
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const RULES =
    "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
    "updated_date = \"2026/01/01\"\n\n[rule]\nauthor = [\"kadet tests\"]\n"
    "description = \"api commit\"\nlanguage = \"kuery\"\nname = \"api commit new terms\"\n"
    "risk_score = 21\nrule_id = \"api-nt\"\nseverity = \"low\"\ntype = \"new_terms\"\n"
    "query = 'kubernetes.audit.stage:\"ResponseComplete\"'\n\n[rule.new_terms]\n"
    "field = \"new_terms_fields\"\nvalue = [\"kubernetes.audit.user.username\", "
    "\"user_agent.original\"]\n[[rule.new_terms.history_window_start]]\n"
    "field = \"history_window_start\"\nvalue = \"now-10d\"\n";

/* 240 events over 4 hours: 12 users x 5 agents, so new combinations keep appearing. */
static void write_input(const char *path)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    for (int i = 0; i < 240; i++) {
        fprintf(f,
                "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
                "\"auditID\":\"id-%04d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api\","
                "\"verb\":\"get\",\"user\":{\"username\":\"user%d\"},\"userAgent\":\"agent/%d\","
                "\"responseStatus\":{\"code\":200},"
                "\"stageTimestamp\":\"2026-03-01T%02d:%02d:00.000000Z\","
                "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}\n",
                i, (i * 7) % 12, (i * 5) % 7 % 5, i / 60, i % 60);
    }
    fclose(f);
}

struct run {
    const char *dir;
    int fd; /* -1: output file out.jsonl; else this descriptor */
};

/* One scan of in.jsonl on state.db; returns the kad_engine_scan code. */
static int scan(const struct run *r)
{
    char state[512], out[512], in[512];
    snprintf(state, sizeof(state), "%s/state.db", r->dir);
    snprintf(out, sizeof(out), "%s/out.jsonl", r->dir);
    snprintf(in, sizeof(in), "%s/in.jsonl", r->dir);
    kad_rules *rs = kad_rules_new();
    ASSERT_OK(kad_rules_load_text(rs, "api.toml", RULES, strlen(RULES), NULL));
    kad_state *st;
    kad_state_opts so = {.mode = KAD_STATE_RW};
    ASSERT_OK(kad_state_open(&st, state, &so, NULL));
    kad_engine_opts o = {
        .rules = rs,
        .state = st,
        .decode = {.no_host = 1},
        .now_ms = 1767225600000, /* 2026-01-01T00:00:00Z */
        .batch = 7,
        .output_path = r->fd < 0 ? out : NULL,
        .output_fd = r->fd,
    };
    kad_engine *e;
    kad_err err;
    ASSERT_OK(kad_engine_new(&e, &o, &err));
    kad_rules_unref(rs); /* the engine holds its own reference */
    int rc = kad_engine_scan(e, in, &err);
    if (rc == KAD_OK)
        rc = kad_engine_commit(e, &err);
    kad_engine_free(e);
    kad_state_close(st);
    return rc;
}

static void reset_dir(const char *dir)
{
    char p[512];
    const char *const names[] = {"state.db", "state.db-wal", "state.db-shm", "out.jsonl"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
}

/* Run a scan in a child with KADET_TEST_CRASH=spec; it must die by SIGKILL. */
static void crash(const struct run *r, const char *spec)
{
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        setenv("KADET_TEST_CRASH", spec, 1);
        scan(r);
        _exit(0); /* the kill point was not reached */
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        t_fail(__FILE__, __LINE__, "%s: the engine was not killed (status %d)", spec, status);
}

static char *read_out(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    char *s = t_read_file(p, NULL);
    ASSERT_NOT_NULL(s);
    return s;
}

TEST(api_commit_protocol_kill_points)
{
#ifndef KAD_TEST_HOOKS
    t_skip("kill points are compiled into test builds only (-DKAD_TEST_HOOKS)");
#else
    char dir[] = "/tmp/kad-api-commit.XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char in[512];
    snprintf(in, sizeof(in), "%s/in.jsonl", dir);
    write_input(in);
    struct run file = {dir, -1};

    ASSERT_OK(scan(&file));
    char *ref = read_out(dir, "out.jsonl");
    size_t nalerts = 0;
    for (char *p = ref; *p; p++)
        nalerts += *p == '\n';
    ASSERT(nalerts >= 20); /* the kill points below fall inside the run */

    /* output file: every kill point, then the same scan again = the uninterrupted output */
    const char *const specs[] = {"record:1",           "record:30",          "record:239",
                                 "commit:1:written",   "commit:1:committed", "commit:5:written",
                                 "commit:5:committed", "commit:34:written",  "commit:35:committed"};
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        reset_dir(dir);
        crash(&file, specs[i]);
        ASSERT_OK(scan(&file));
        char *got = read_out(dir, "out.jsonl");
        if (strcmp(got, ref) != 0)
            t_fail(__FILE__, __LINE__, "%s: output after the rerun differs from one run", specs[i]);
        kad_free(got);
    }

    /* two kills in a row, then a clean run */
    reset_dir(dir);
    crash(&file, "commit:3:written");
    crash(&file, "record:100");
    ASSERT_OK(scan(&file));
    char *got = read_out(dir, "out.jsonl");
    ASSERT(strcmp(got, ref) == 0);
    kad_free(got);

    /* output descriptor: killed inside a batch, nothing is lost or written twice */
    char stream[512];
    snprintf(stream, sizeof(stream), "%s/stream.jsonl", dir);
    const char *const inside[] = {"record:30", "record:200"};
    for (size_t i = 0; i < 2; i++) {
        reset_dir(dir);
        int fd = open(stream, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        ASSERT(fd >= 0);
        struct run desc = {dir, fd};
        crash(&desc, inside[i]);
        ASSERT_OK(scan(&desc));
        close(fd);
        char *all = read_out(dir, "stream.jsonl");
        if (strcmp(all, ref) != 0)
            t_fail(__FILE__, __LINE__, "%s: descriptor output differs from one run", inside[i]);
        kad_free(all);
    }
    kad_free(ref);
    reset_dir(dir);
    unlink(in);
    unlink(stream);
    rmdir(dir);
#endif
}

/* kad_engine_feed with a source key: the position after the last fed record is committed with
   the batch, and read back by a new engine on the same state. */
TEST(api_feed_positions)
{
    char dir[] = "/tmp/kad-api-feed.XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char state[512];
    snprintf(state, sizeof(state), "%s/state.db", dir);
    const char *ev = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\","
                     "\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"get\","
                     "\"user\":{\"username\":\"u\"},\"userAgent\":\"x\","
                     "\"stageTimestamp\":\"2026-03-01T00:00:00Z\"}";
    size_t len = strlen(ev);
    for (int round = 0; round < 2; round++) {
        kad_rules *rs = kad_rules_new();
        ASSERT_OK(kad_rules_load_text(rs, "api.toml", RULES, strlen(RULES), NULL));
        kad_state *st;
        kad_state_opts so = {.mode = KAD_STATE_RW};
        ASSERT_OK(kad_state_open(&st, state, &so, NULL));
        kad_engine_opts o = {
            .rules = rs, .state = st, .decode = {.no_host = 1}, .batch = 3, .output_fd = -1};
        kad_engine *e;
        ASSERT_OK(kad_engine_new(&e, &o, NULL));
        kad_rules_unref(rs);
        int64_t off = -1, line = -1;
        if (round == 0) {
            ASSERT_EQ(kad_engine_position(e, "queue:7", &off, &line, NULL), KAD_ENOTFOUND);
            for (int i = 0; i < 10; i++) {
                kad_record r = {ev, len, "queue", (uint64_t)i + 1, 1, (uint64_t)i * (len + 1)};
                ASSERT_OK(kad_engine_feed(e, "queue:7", &r, NULL));
            }
            ASSERT_OK(kad_engine_commit(e, NULL));
        } else {
            ASSERT_OK(kad_engine_position(e, "queue:7", &off, &line, NULL));
            ASSERT_EQ(off, 9 * (int64_t)(len + 1) + (int64_t)len);
            ASSERT_EQ(line, 10);
        }
        kad_engine_free(e);
        kad_state_close(st);
    }
    reset_dir(dir);
    rmdir(dir);
}

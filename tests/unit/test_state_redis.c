/*
 * test_state_redis.c - what only the Redis store does (the behaviour every store shares is in
 * test_state_ops.c, whose "redis" row runs against the server t_redis_suite_url starts): URLs,
 * several instances on one server deciding "new" and claiming alerts once (also from two
 * threads at once), a claim left pending by a crash, AUTH, reconnecting after
 * a drop and after a server restart, round trips per 1,000 events. Each test starts its own
 * redis-server on 127.0.0.1 (t_redis.h) and skips when redis-server is not installed.
 */
#include "t_redis.h"
#include "test.h"

#include "base/buf.h"
#include "state/state.h"
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY INT64_C(86400000)
#define T0 INT64_C(1767225600000)

/* ---- servers ------------------------------------------------------------------------------ */

#define MAX_SERVERS 16
static struct t_redis *live[MAX_SERVERS];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool t_redis_available(void) { return system("command -v redis-server >/dev/null 2>&1") == 0; }

static int any_free_port(void);

/* A free port below 50000 (a cluster node also listens on port + 10000). */
static int free_port(void)
{
    for (int i = 0; i < 200; i++) {
        int p = any_free_port();
        if (p < 50000)
            return p;
    }
    t_fail(__FILE__, __LINE__, "no free port below 50000");
}

static int any_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        t_fail(__FILE__, __LINE__, "cannot find a free port");
    close(fd);
    return ntohs(a.sin_port);
}

static long server_pid(const struct t_redis *r)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/pid", r->dir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

static void stop_all(void)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (live[i])
            t_redis_stop(live[i]);
}

/* The stores' local files (positions, counters: docs/internals/state.md) go to a temporary
   XDG_STATE_HOME of this process, removed at exit; `empty` removes what they hold. */
static char local_home[64];

static void local_rm(void)
{
    if (!local_home[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", local_home);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", local_home);
}

static void local_files(bool empty)
{
    if (!local_home[0]) {
        snprintf(local_home, sizeof(local_home), "/tmp/kadet-rlocal-XXXXXX");
        if (!mkdtemp(local_home))
            t_fail(__FILE__, __LINE__, "mkdtemp");
        setenv("XDG_STATE_HOME", local_home, 1);
        atexit(local_rm);
    } else if (empty) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/kadet'", local_home);
        if (system(cmd) != 0)
            t_fail(__FILE__, __LINE__, "cannot empty %s", local_home);
    }
}

void t_redis_start(struct t_redis *r, int port, const char *extra)
{
    static bool hooked;
    if (!hooked) {
        atexit(stop_all);
        hooked = true;
    }
    local_files(false);
    if (!port) {
        snprintf(r->dir, sizeof(r->dir), "/tmp/kadet-redis-XXXXXX");
        if (!mkdtemp(r->dir))
            t_fail(__FILE__, __LINE__, "mkdtemp");
        port = free_port();
    }
    r->port = port;
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", port);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "redis-server --bind 127.0.0.1 --port %d --save '' --appendonly no --dir %s "
             "--daemonize yes --pidfile %s/pid --logfile %s/log %s",
             port, r->dir, r->dir, r->dir, extra ? extra : "");
    if (system(cmd) != 0)
        t_fail(__FILE__, __LINE__, "cannot start: %s", cmd);
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (!live[i] || live[i] == r) {
            live[i] = r;
            break;
        }
    }
    for (int i = 0; i < 750; i++) { /* up to 15 s (a loaded machine) */
        redisContext *c = redisConnect("127.0.0.1", port);
        bool up = c && !c->err;
        if (c)
            redisFree(c);
        if (up && server_pid(r) > 0)
            return;
        sleep_ms(20);
    }
    t_fail(__FILE__, __LINE__, "redis-server on port %d did not come up (%s/log)", port, r->dir);
}

/* Stop the process, keep the directory (for a restart on the same port). */
static void stop_process(struct t_redis *r)
{
    long pid = server_pid(r);
    if (pid <= 0)
        return;
    kill((pid_t)pid, SIGTERM);
    for (int i = 0; i < 250 && kill((pid_t)pid, 0) == 0; i++)
        sleep_ms(20);
    char path[128];
    snprintf(path, sizeof(path), "%s/pid", r->dir);
    unlink(path);
}

void t_redis_stop(struct t_redis *r)
{
    stop_process(r);
    for (int i = 0; i < MAX_SERVERS; i++)
        if (live[i] == r)
            live[i] = NULL;
    if (r->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}

const char *t_redis_suite_url(void)
{
    static struct t_redis suite;
    static int state; /* 0 not tried, 1 up, -1 absent */
    const char *env = getenv("KADET_TEST_REDIS");
    if (env && *env) {
        local_files(true);
        struct st_store *st = NULL;
        kad_err e;
        if (st_open(&st, env, ST_OPEN_RW, &e) != 0)
            t_fail(__FILE__, __LINE__, "KADET_TEST_REDIS=%s: %s", env, e.msg);
        if (st_reset(st, NULL, NULL, &e) != 0)
            t_fail(__FILE__, __LINE__, "KADET_TEST_REDIS=%s: reset: %s", env, e.msg);
        st_close(st);
        return env;
    }
    if (state == 0) {
        state = t_redis_available() ? 1 : -1;
        if (state > 0)
            t_redis_start(&suite, 0, NULL);
        else
            printf("skip the Redis store's tests: redis-server is not installed "
                   "(scripts/deps.sh --test)\n");
    }
    if (state < 0)
        return NULL;
    redisContext *c = redisConnect("127.0.0.1", suite.port);
    redisReply *r = c && !c->err ? redisCommand(c, "FLUSHALL") : NULL;
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    if (!ok)
        t_fail(__FILE__, __LINE__, "cannot empty the test's Redis server");
    local_files(true);
    return suite.url;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static struct t_redis *need_server(struct t_redis *r, const char *extra)
{
    if (!t_redis_available())
        return NULL;
    t_redis_start(r, 0, extra);
    return r;
}

static struct st_store *ropen(const char *url, const char *suffix)
{
    char u[256];
    snprintf(u, sizeof(u), "%s%s", url, suffix ? suffix : "");
    struct st_store *st = NULL;
    kad_err e;
    kad_err_clear(&e);
    if (st_open(&st, u, ST_OPEN_RW, &e) != 0)
        t_fail(__FILE__, __LINE__, "open %s: %s", u, e.msg);
    return st;
}

static const char *const fields[] = {"user.name", "user_agent.original"};

static uint32_t reg(struct st_store *st, const char *id, int64_t window)
{
    struct st_rule_def d = {.rule_id = id,
                            .name = id,
                            .logic_hash = 7,
                            .fields = fields,
                            .nfields = 2,
                            .window_ms = window};
    uint32_t rid;
    kad_err e;
    if (st_rule_register(st, &d, &rid, NULL, &e) != 0)
        t_fail(__FILE__, __LINE__, "register: %s", e.msg);
    return rid;
}

static void enc(kx_buf *b, const char *user, int i)
{
    char agent[32];
    snprintf(agent, sizeof(agent), "agent-%d", i);
    kx_str v[2] = {kx_str_c(user), kx_str_c(agent)};
    kx_buf_reset(b);
    if (st_combo_encode(b, v, 2, NULL) != 0)
        t_fail(__FILE__, __LINE__, "encode");
}

/* ---- URLs --------------------------------------------------------------------------------- */

TEST(state_redis_url_errors)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"redis://127.0.0.1:6379?ca=/x.crt", "need rediss://"},
        {"rediss://127.0.0.1:6379?cert=/c.crt", "both cert=FILE and key=FILE"},
        {"rediss://127.0.0.1:6379?key=/c.key&ca=/x.crt", "both cert=FILE and key=FILE"},
        {"rediss://127.0.0.1:6379?ca=", "unknown parameter"},
        {"rediss://127.0.0.1:6379?ca=%zz", "escape"},
        {"redis://a:1,rediss://b:2", "mix redis:// and rediss://"},
        {"rediss://a:1,redis://b:2", "mix redis:// and rediss://"},
        {"redis://", "no host"},
        {"redis://127.0.0.1:0", "port"},
        {"redis://127.0.0.1:70000", "port"},
        {"redis://127.0.0.1:x", "port"},
        {"redis://a:1,", "empty host"},
        {"redis://a:1,,b:2", "empty host"},
        {"redis://127.0.0.1:6379/x", "database"},
        {"redis://127.0.0.1:6379/0?color=red", "unknown parameter"},
        {"redis://127.0.0.1:6379/0?instance=", "unknown parameter"},
        {"redis://127.0.0.1:6379/0?reconnect_ms=-1", "reconnect_ms= takes milliseconds"},
        {"redis://127.0.0.1:6379/0?reconnect_ms=5s", "reconnect_ms= takes milliseconds"},
        {"redis://127.0.0.1:6379/0?timeout_ms=99", "timeout_ms= takes milliseconds"},
        {"redis://127.0.0.1:6379/0?timeout_ms=", "timeout_ms= takes milliseconds"},
        {"redis://user@127.0.0.1:6379", "needs a password"},
        {"redis://:pa%zzss@127.0.0.1:6379", "escape"},
        {"redis://[::1:6379", "']'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct st_store *st = NULL;
        kad_err e;
        kad_err_clear(&e);
        int rc = st_open(&st, cases[i].url, ST_OPEN_RW, &e);
        if (rc != KAD_EINVAL || !strstr(e.msg, cases[i].want))
            t_fail(__FILE__, __LINE__, "%s: rc %d, '%s' (want '%s')", cases[i].url, rc, e.msg,
                   cases[i].want);
        ASSERT_NULL(st);
    }
    /* the password never shows in messages */
    struct st_store *st = NULL;
    kad_err e;
    ASSERT_EQ(st_open(&st, "redis://u:sekrit@127.0.0.1:1/0", ST_OPEN_RW, &e), KAD_EUNAVAIL);
    ASSERT(strstr(e.msg, "sekrit") == NULL);
    ASSERT(strstr(e.msg, "u:***@127.0.0.1:1") != NULL);
}

TEST(state_redis_seeds_first_reachable)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    char url[256];
    /* port 1 refuses; the second seed answers (and may repeat the scheme) */
    snprintf(url, sizeof(url), "redis://127.0.0.1:1,redis://127.0.0.1:%d/3", srv.port);
    struct st_store *st = ropen(url, NULL);
    uint32_t r = reg(st, "seeds", DAY);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    enc(&b, "alice", 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0, NULL, NULL), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    /* database 3 holds it, database 0 not */
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    redisReply *x = redisCommand(c, "EXISTS kadet:baselines");
    ASSERT_EQ(x->integer, 0);
    freeReplyObject(x);
    x = redisCommand(c, "SELECT 3");
    freeReplyObject(x);
    x = redisCommand(c, "EXISTS kadet:baselines");
    ASSERT_EQ(x->integer, 1);
    freeReplyObject(x);
    redisFree(c);
    kx_buf_fini(&b);
    t_redis_stop(&srv);
}

/* ---- several instances ------------------------------------------------------------------- */

struct racer {
    const char *url;
    int n;
    int news, claims;
    char err[320];
};

static void *race(void *arg)
{
    struct racer *ra = arg;
    struct st_store *st = NULL;
    kad_err e;
    if (st_open(&st, ra->url, ST_OPEN_RW, &e) != 0) {
        snprintf(ra->err, sizeof(ra->err), "open: %s", e.msg);
        return NULL;
    }
    struct st_rule_def d = {
        .rule_id = "race", .logic_hash = 7, .fields = fields, .nfields = 2, .window_ms = DAY};
    uint32_t rid;
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    if (st_rule_register(st, &d, &rid, NULL, &e) != 0 || st_begin(st, &e) != 0) {
        snprintf(ra->err, sizeof(ra->err), "%s", e.msg);
    } else {
        for (int i = 0; i < ra->n; i++) {
            enc(&b, "racer", i);
            int rc = st_observe(st, rid, b.ptr, b.len, T0 + i, NULL, &e);
            if (rc < 0) {
                snprintf(ra->err, sizeof(ra->err), "observe: %s", e.msg);
                break;
            }
            ra->news += rc == ST_SEEN_NEW;
            char id[32];
            snprintf(id, sizeof(id), "alert-%d", i);
            rc = st_alert_claim(st, rid, b.ptr, b.len, id, T0 + i, &e);
            if (rc < 0) {
                snprintf(ra->err, sizeof(ra->err), "claim: %s", e.msg);
                break;
            }
            ra->claims += rc;
        }
        if (!ra->err[0] && st_commit(st, &e) != 0)
            snprintf(ra->err, sizeof(ra->err), "commit: %s", e.msg);
    }
    kx_buf_fini(&b);
    st_close(st);
    return NULL;
}

TEST(state_redis_two_instances_one_new_one_claim)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    char ua[200], ub[200];
    snprintf(ua, sizeof(ua), "%s/0?instance=a", srv.url);
    snprintf(ub, sizeof(ub), "%s/0?instance=b", srv.url);
    /* one after the other: the second sees what the first stored */
    struct st_store *a = ropen(ua, NULL), *b = ropen(ub, NULL);
    uint32_t ra = reg(a, "two", DAY), rb = reg(b, "two", DAY);
    ASSERT_EQ(ra, rb); /* the rid is the server's */
    kx_buf k;
    kx_buf_init(&k, ST_KEY_MAX + 1);
    enc(&k, "alice", 1);
    ASSERT_OK(st_begin(a, NULL));
    ASSERT_OK(st_begin(b, NULL));
    ASSERT_EQ(st_observe(a, ra, k.ptr, k.len, T0, NULL, NULL), ST_SEEN_NEW);
    struct st_term prev;
    ASSERT_EQ(st_observe(b, rb, k.ptr, k.len, T0, &prev, NULL), ST_SEEN_KNOWN);
    ASSERT_EQ(prev.first_seen, T0); /* the engine's cue: same event, not alerted yet */
    ASSERT(!prev.alerted);
    ASSERT_EQ(st_alert_claim(b, rb, k.ptr, k.len, "x1", T0, NULL), 1);
    ASSERT_EQ(st_alert_claim(a, ra, k.ptr, k.len, "x1", T0, NULL), 0);
    ASSERT_EQ(st_alert_claim(b, rb, k.ptr, k.len, "x1", T0, NULL), 0); /* already this batch's */
    ASSERT_EQ(st_alert_emitted(a, "x1", NULL), 1);
    ASSERT_OK(st_commit(a, NULL));
    ASSERT_OK(st_commit(b, NULL));
    /* b's watermark moved with a's observation too: it is the server's */
    ASSERT_EQ(st_watermark(b, rb), T0);

    /* a claim left pending by a crash: the same instance claims it again on its next run,
       any other instance does not */
    ASSERT_OK(st_begin(a, NULL));
    ASSERT_EQ(st_alert_claim(a, ra, NULL, 0, "crash", T0, NULL), 1);
    st_test_redis_drop(a); /* the process dies: no rollback reaches the server */
    st_close(a);
    ASSERT_OK(st_begin(b, NULL));
    ASSERT_EQ(st_alert_claim(b, rb, NULL, 0, "crash", T0, NULL), 0);
    st_rollback(b);
    a = ropen(ua, NULL);
    ASSERT_OK(st_begin(a, NULL));
    ASSERT_EQ(st_alert_claim(a, ra, NULL, 0, "crash", T0, NULL), 1);
    ASSERT_OK(st_commit(a, NULL));
    ASSERT_OK(st_begin(a, NULL));
    ASSERT_EQ(st_alert_claim(a, ra, NULL, 0, "crash", T0, NULL), 0); /* settled */
    /* a rollback releases the batch's claims: another instance can take them */
    ASSERT_EQ(st_alert_claim(a, ra, NULL, 0, "given-back", T0, NULL), 1);
    st_rollback(a);
    ASSERT_EQ(st_alert_emitted(b, "given-back", NULL), 0);
    ASSERT_OK(st_begin(b, NULL));
    ASSERT_EQ(st_alert_claim(b, rb, NULL, 0, "given-back", T0, NULL), 1);
    ASSERT_OK(st_commit(b, NULL));
    st_close(a);
    st_close(b);

    /* two threads (two connections) racing over the same 300 combinations */
    enum { N = 300 };
    struct racer r1 = {.url = ua, .n = N}, r2 = {.url = ub, .n = N};
    pthread_t t1, t2;
    ASSERT_OK(pthread_create(&t1, NULL, race, &r1));
    ASSERT_OK(pthread_create(&t2, NULL, race, &r2));
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ASSERT_STR_EQ(r1.err, "");
    ASSERT_STR_EQ(r2.err, "");
    ASSERT_EQ(r1.news + r2.news, N);
    ASSERT_EQ(r1.claims + r2.claims, N);
    kx_buf_fini(&k);
    t_redis_stop(&srv);
}

/* ---- AUTH --------------------------------------------------------------------------------- */

TEST(state_redis_auth)
{
    struct t_redis srv;
    if (!need_server(&srv, "--requirepass s3cret"))
        t_skip("redis-server is not installed");
    char u[256];
    struct st_store *st = NULL;
    kad_err e;
    snprintf(u, sizeof(u), "redis://127.0.0.1:%d", srv.port);
    ASSERT_EQ(st_open(&st, u, ST_OPEN_RW, &e), KAD_ESTATE);
    ASSERT(strstr(e.msg, "requires a password") != NULL);
    snprintf(u, sizeof(u), "redis://:wrong@127.0.0.1:%d", srv.port);
    ASSERT_EQ(st_open(&st, u, ST_OPEN_RW, &e), KAD_ESTATE);
    ASSERT(strstr(e.msg, "authentication failed") != NULL);
    ASSERT(strstr(e.msg, "wrong") == NULL);
    snprintf(u, sizeof(u), "redis://:s3cret@127.0.0.1:%d", srv.port);
    st = ropen(u, NULL);
    ASSERT(strstr(st_path(st), ":***@127.0.0.1:") != NULL);
    ASSERT(strstr(st_path(st), "s3cret") == NULL);
    uint32_t r = reg(st, "auth", DAY);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    enc(&b, "alice", 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0, NULL, NULL), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    /* an ACL user with its password (%-escaped in the URL) */
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    redisReply *x = redisCommand(c, "AUTH s3cret");
    freeReplyObject(x);
    x = redisCommand(c, "ACL SETUSER kadet on >p@ss ~* +@all");
    ASSERT(x && x->type != REDIS_REPLY_ERROR);
    freeReplyObject(x);
    redisFree(c);
    snprintf(u, sizeof(u), "redis://kadet:p%%40ss@127.0.0.1:%d", srv.port);
    st = ropen(u, NULL);
    ASSERT_EQ(reg(st, "auth", DAY), r);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0 + 1, NULL, NULL), ST_SEEN_KNOWN);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    kx_buf_fini(&b);
    t_redis_stop(&srv);
}

/* cluster mode: test_state_redis_cluster.c */

/* ---- reconnecting ----------------------------------------------------------------------- */

static int64_t t_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TEST(state_redis_reconnects)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    /* reconnect_ms: a window that covers the restart below, and a prompt error at the end */
    struct st_store *st = ropen(srv.url, "?reconnect_ms=3000&timeout_ms=2000");
    uint32_t r = reg(st, "recon", DAY);
    struct st_conn cn;
    st_conn_get(st, &cn);
    ASSERT(cn.up);
    ASSERT_EQ(cn.lost, 0);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    enc(&b, "alice", 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0, NULL, NULL), ST_SEEN_NEW);
    ASSERT_OK(st_pos_set(st, "in", 10, 1, NULL));
    ASSERT_OK(st_commit(st, NULL));
    /* the connection drops: the next call reconnects and goes on */
    st_test_redis_drop(st);
    ASSERT_OK(st_begin(st, NULL));
    enc(&b, "alice", 2);
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0, NULL, NULL), ST_SEEN_NEW);
    /* the server restarts (empty: no persistence in this test): the scripts are gone too */
    stop_process(&srv);
    t_redis_start(&srv, srv.port, NULL);
    enc(&b, "alice", 3); /* (alice 2 is in the batch's cache: KNOWN without asking) */
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0, NULL, NULL), ST_SEEN_NEW);
    ASSERT_OK(st_pos_set(st, "in", 20, 2, NULL));
    ASSERT_OK(st_commit(st, NULL));
    struct st_pos p;
    ASSERT_OK(st_pos_get(st, "in", &p, NULL));
    ASSERT_EQ(p.offset, 20);
    /* the server goes away for good: a clear error after the retries */
    stop_process(&srv);
    ASSERT_OK(st_begin(st, NULL));
    kad_err e;
    int64_t t0 = t_mono_ms();
    ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0 + 1, NULL, &e), KAD_EUNAVAIL);
    ASSERT(strstr(e.msg, "unreachable") != NULL);
    ASSERT(strstr(e.msg, "reconnect_ms=") != NULL);
    ASSERT(t_mono_ms() - t0 >= 3000); /* the whole window was tried */
    /* the connection's status, for other threads (serve's readiness) */
    st_conn_get(st, &cn);
    ASSERT(!cn.up);
    ASSERT(cn.lost >= 1);
    ASSERT(cn.why[0] != '\0');
    uint64_t lost = cn.lost, back = cn.reconnects;
    /* a ping is one attempt, without the backoff */
    t0 = t_mono_ms();
    ASSERT_EQ(st_ping(st, &e), KAD_EUNAVAIL);
    ASSERT(t_mono_ms() - t0 < 2500);
    st_rollback(st);
    /* back: a ping reconnects, the status says so */
    t_redis_start(&srv, srv.port, NULL);
    ASSERT_OK(st_ping(st, NULL));
    st_conn_get(st, &cn);
    ASSERT(cn.up);
    ASSERT_EQ(cn.lost, lost);
    ASSERT_EQ(cn.reconnects, back + 1);
    st_close(st);
    kx_buf_fini(&b);
    t_redis_stop(&srv);
}

/* ---- round trips ------------------------------------------------------------------------- */

TEST(state_redis_round_trips_per_1000_events)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    struct st_store *st = ropen(srv.url, NULL);
    uint32_t r = reg(st, "rtt", DAY);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    /* 1,000 events over 50 combinations, as audit logs repeat users and agents; time moves
       forward one ms per event, so each repeat widens last_seen (a write on the server) */
    uint64_t before = st_test_round_trips(st);
    ASSERT_OK(st_begin(st, NULL));
    int news = 0;
    for (int i = 0; i < 1000; i++) {
        enc(&b, "user", i % 50);
        news += st_observe(st, r, b.ptr, b.len, T0 + i, NULL, NULL) == ST_SEEN_NEW;
        ASSERT_OK(st_pos_set(st, "in", i, i, NULL));
    }
    ASSERT_OK(st_commit(st, NULL));
    uint64_t rising = st_test_round_trips(st) - before;
    ASSERT_EQ(news, 50);
    /* the same 1,000 events again (a replay): all inside [first, last], answered by the
       batch's cache after the first round trip per combination */
    before = st_test_round_trips(st);
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < 1000; i++) {
        enc(&b, "user", i % 50);
        ASSERT_EQ(st_observe(st, r, b.ptr, b.len, T0 + i, NULL, NULL), ST_SEEN_KNOWN);
    }
    ASSERT_OK(st_commit(st, NULL));
    uint64_t replay = st_test_round_trips(st) - before;
    printf("redis round trips per 1,000 events: %llu (time rising), %llu (replay)\n",
           (unsigned long long)rising, (unsigned long long)replay);
    /* one per combination (its first observation in the batch); the 950 widenings after it
       are answered locally and sent in the pipelines of the next round trips and the commit */
    ASSERT(rising <= 51);
    ASSERT(replay <= 51); /* one per combination, one for the commit */
    /* and the widenings did reach the server: every combination's last_seen is its last event
       (a second store reads it) */
    struct st_store *o = ropen(srv.url, "?instance=other");
    uint32_t ro = reg(o, "rtt", DAY);
    for (int u = 0; u < 50; u++) {
        struct st_term t;
        enc(&b, "user", u);
        ASSERT_EQ(st_lookup(o, ro, b.ptr, b.len, &t), 1);
        ASSERT_EQ(t.first_seen, T0 + u);
        ASSERT_EQ(t.last_seen, T0 + 950 + u);
    }
    /* a later event within the window of a combination's last_seen in a new batch: KNOWN */
    ASSERT_OK(st_begin(o, NULL));
    enc(&b, "user", 7);
    ASSERT_EQ(st_observe(o, ro, b.ptr, b.len, T0 + 2000, NULL, NULL), ST_SEEN_KNOWN);
    ASSERT_EQ(st_observe(o, ro, b.ptr, b.len, T0 + 3000, NULL, NULL), ST_SEEN_KNOWN); /* queued */
    /* and beyond the window of the last one seen: the server decides (FORGOTTEN) */
    ASSERT_EQ(st_observe(o, ro, b.ptr, b.len, T0 + 3000 + DAY + 1, NULL, NULL), ST_SEEN_FORGOTTEN);
    ASSERT_OK(st_commit(o, NULL));
    st_close(o);
    st_close(st);
    kx_buf_fini(&b);
    t_redis_stop(&srv);
}

/* ---- a crash between the steps of a batch ---------------------------------------------- */

/* The engine's rule for a store without atomic batches (docs/internals/state.md, "Batches"):
   raise on NEW/FORGOTTEN, or on KNOWN when this very event made the term; the claim decides. */
static int raise_alert(struct st_store *st, uint32_t rid, kx_buf *b, int64_t ts, const char *id)
{
    struct st_term prev;
    int rc = st_observe(st, rid, b->ptr, b->len, ts, &prev, NULL);
    if (rc < 0)
        t_fail(__FILE__, __LINE__, "observe: %d", rc);
    if (rc == ST_SEEN_KNOWN && prev.first_seen != ts)
        return 0;
    rc = st_alert_claim(st, rid, b->ptr, b->len, id, ts, NULL);
    if (rc < 0)
        t_fail(__FILE__, __LINE__, "claim: %d", rc);
    return rc;
}

/* In a forked child: open url, register rule `rule`, begin, claim alert `id` for the
   combination in b, set position "in" to 100. The store (batch open), or NULL on a failure. */
static struct st_store *child_batch(const char *url, const char *rule, kx_buf *b, const char *id)
{
    struct st_store *st = NULL;
    kad_err e;
    uint32_t rid;
    struct st_rule_def d = {
        .rule_id = rule, .logic_hash = 7, .fields = fields, .nfields = 2, .window_ms = DAY};
    if (st_open(&st, url, ST_OPEN_RW, &e) || st_rule_register(st, &d, &rid, NULL, &e) ||
        st_begin(st, &e) || raise_alert(st, rid, b, T0, id) != 1 ||
        st_pos_set(st, "in", 100, 1, &e))
        return NULL;
    return st;
}

TEST(state_redis_crash_before_commit_alerts_once)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    char uc[200], ud[200];
    snprintf(uc, sizeof(uc), "%s?instance=c", srv.url);
    snprintf(ud, sizeof(ud), "%s?instance=d", srv.url);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    enc(&b, "mallory", 1);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) { /* observes, claims, writes its position, dies before st_commit */
        if (!child_batch(uc, "crash", &b, "crash-1"))
            _exit(3);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* another instance gets the same event (a webhook retry): it does not alert */
    struct st_store *d = ropen(ud, NULL);
    uint32_t rd = reg(d, "crash", DAY);
    ASSERT_OK(st_begin(d, NULL));
    ASSERT_EQ(raise_alert(d, rd, &b, T0, "crash-1"), 0);
    ASSERT_OK(st_commit(d, NULL));
    /* the crashed instance restarts: its position did not move, it reprocesses the event and
       emits the alert (its output of the crashed batch was truncated away) */
    struct st_store *c = ropen(uc, NULL);
    uint32_t rc = reg(c, "crash", DAY);
    struct st_pos p;
    ASSERT_EQ(st_pos_get(c, "in", &p, NULL), KAD_ENOTFOUND);
    ASSERT_OK(st_begin(c, NULL));
    ASSERT_EQ(raise_alert(c, rc, &b, T0, "crash-1"), 1);
    ASSERT_OK(st_pos_set(c, "in", 100, 1, NULL));
    ASSERT_OK(st_commit(c, NULL));
    /* and once only: a second rerun, or the other instance, finds it settled */
    ASSERT_OK(st_begin(c, NULL));
    ASSERT_EQ(raise_alert(c, rc, &b, T0, "crash-1"), 0);
    st_rollback(c);
    ASSERT_OK(st_begin(d, NULL));
    ASSERT_EQ(raise_alert(d, rd, &b, T0, "crash-1"), 0);
    st_rollback(d);
    st_close(c);
    st_close(d);
    kx_buf_fini(&b);
    t_redis_stop(&srv);
}

/* The value of a string key ("" when absent), into out. */
static void redis_get(int port, const char *key, char *out, size_t n)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *x = c && !c->err ? redisCommand(c, "GET %s", key) : NULL;
    snprintf(out, n, "%s", x && x->type == REDIS_REPLY_STRING ? x->str : "");
    if (x)
        freeReplyObject(x);
    if (c)
        redisFree(c);
}

static void redis_do(int port, const char *cmd, long long *out);
static long long count_keys(int port, const char *pattern);

/*
 * The instance's local file: positions committed there, not on the server; a crash after the
 * local commit and before the claims are settled on the server (KADET_TEST_REDIS_CRASH=1:settle)
 * leaves them pending under the instance's name (another instance does not take them) and the
 * next open settles them; positions kept on the server by an older kadet move into the file;
 * a second process of one instance is refused; local= names another file.
 */
TEST(state_redis_local_file_and_commit_protocol)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    char ue[200], uf[200], um[200], other[300];
    snprintf(ue, sizeof(ue), "%s?instance=e", srv.url);
    snprintf(uf, sizeof(uf), "%s?instance=f", srv.url);
    snprintf(um, sizeof(um), "%s?instance=m", srv.url);
    snprintf(other, sizeof(other), "%s&local=%s/other.db", um, srv.dir);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    enc(&b, "eve", 1);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) { /* claims, commits locally, dies before settling on the server */
        setenv("KADET_TEST_REDIS_CRASH", "1:settle", 1);
        struct st_store *st = child_batch(ue, "loc", &b, "loc-1");
        if (!st)
            _exit(3);
        st_commit(st, NULL);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char v[64];
    redis_get(srv.port, "kadet:alert:loc-1", v, sizeof(v));
    ASSERT_STR_EQ(v, "e:p");
    /* another instance gets the same event: claimed, not emitted */
    struct st_store *f = ropen(uf, NULL);
    uint32_t rf = reg(f, "loc", DAY);
    ASSERT_OK(st_begin(f, NULL));
    ASSERT_EQ(raise_alert(f, rf, &b, T0, "loc-1"), 0);
    ASSERT_OK(st_commit(f, NULL));
    /* e restarts: its position is committed (locally), its claim settled at open */
    struct st_store *e = ropen(ue, NULL);
    redis_get(srv.port, "kadet:alert:loc-1", v, sizeof(v));
    ASSERT_STR_EQ(v, "e:c");
    struct st_pos p;
    ASSERT_OK(st_pos_get(e, "in", &p, NULL));
    ASSERT_EQ(p.offset, 100);
    uint32_t re = reg(e, "loc", DAY);
    ASSERT_OK(st_begin(e, NULL));
    ASSERT_EQ(raise_alert(e, re, &b, T0, "loc-1"), 0); /* a retry of the event: once only */
    st_rollback(e);
    ASSERT_EQ(count_keys(srv.port, "{kadet:i:*"), 0); /* nothing of the instances' own there */
    /* positions and counters an older kadet kept on the server move into the local file */
    redisContext *rc = redisConnect("127.0.0.1", srv.port);
    redisReply *x = rc && !rc->err ? redisCommand(rc, "HSET %s %s %s", "{kadet:i:m}:pos", "src",
                                                  "10 1")
                                   : NULL;
    ASSERT(x && x->type == REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    redisFree(rc);
    redis_do(srv.port, "HSET {kadet:i:m}:cnt events 5", NULL);
    struct st_store *m = ropen(um, NULL);
    ASSERT_OK(st_pos_get(m, "src", &p, NULL));
    ASSERT_EQ(p.offset, 10);
    ASSERT_EQ(st_counter_get(m, "events"), 5);
    ASSERT_EQ(count_keys(srv.port, "{kadet:i:*"), 0);
    /* a second process (or store) of instance m on this host: refused */
    struct st_store *m2 = NULL;
    kad_err err;
    ASSERT_EQ(st_open(&m2, um, ST_OPEN_RW, &err), KAD_EINVAL);
    ASSERT(strstr(err.msg, "instance 'm' runs already on this host") != NULL);
    /* local= names another file: nothing recorded there */
    struct st_store *o = ropen(other, NULL);
    ASSERT_EQ(st_pos_get(o, "src", &p, NULL), KAD_ENOTFOUND);
    st_close(o);
    st_close(m);
    st_close(e);
    st_close(f);
    kx_buf_fini(&b);
    t_redis_stop(&srv);
}

/* ---- failover --------------------------------------------------------------------------- */

static void redis_do(int port, const char *cmd, long long *out)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *x = c && !c->err ? redisCommand(c, cmd) : NULL;
    if (!x || x->type == REDIS_REPLY_ERROR)
        t_fail(__FILE__, __LINE__, "port %d: %s: %s", port, cmd, x ? x->str : "no reply");
    if (out)
        *out = x->integer;
    freeReplyObject(x);
    redisFree(c);
}

TEST(state_redis_failover_to_a_promoted_replica)
{
    struct t_redis a, b;
    if (!need_server(&a, NULL))
        t_skip("redis-server is not installed");
    char extra[64], url[200];
    snprintf(extra, sizeof(extra), "--replicaof 127.0.0.1 %d", a.port);
    t_redis_start(&b, 0, extra);
    /* a replica alone is no place to write */
    struct st_store *st = NULL;
    kad_err e;
    ASSERT_EQ(st_open(&st, b.url, ST_OPEN_RW, &e), KAD_EUNAVAIL);
    ASSERT(strstr(e.msg, "replica") != NULL);
    /* the replica listed first: the master is found */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d,127.0.0.1:%d", b.port, a.port);
    st = ropen(url, NULL);
    uint32_t r = reg(st, "failover", DAY);
    kx_buf k;
    kx_buf_init(&k, ST_KEY_MAX + 1);
    enc(&k, "alice", 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, r, k.ptr, k.len, T0, NULL, NULL), ST_SEEN_NEW);
    ASSERT_EQ(st_alert_claim(st, r, k.ptr, k.len, "fo-1", T0, NULL), 1);
    ASSERT_OK(st_commit(st, NULL));
    long long acked = 0;
    for (int i = 0; i < 100 && acked < 1; i++)
        redis_do(a.port, "WAIT 1 100", &acked);
    ASSERT_EQ(acked, 1);
    /* the master dies, the replica is promoted (what Sentinel or an operator does) */
    stop_process(&a);
    redis_do(b.port, "REPLICAOF NO ONE", NULL);
    ASSERT_OK(st_begin(st, NULL));
    enc(&k, "alice", 1);
    ASSERT_EQ(st_observe(st, r, k.ptr, k.len, T0 + 1, NULL, NULL), ST_SEEN_KNOWN);
    ASSERT_EQ(st_alert_claim(st, r, k.ptr, k.len, "fo-1", T0, NULL), 0);
    enc(&k, "bob", 1);
    ASSERT_EQ(st_observe(st, r, k.ptr, k.len, T0 + 1, NULL, NULL), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    kx_buf_fini(&k);
    t_redis_stop(&b);
    t_redis_stop(&a);
}

/* ---- one rule's keys ---------------------------------------------------------------------- */

static long long count_keys(int port, const char *pattern)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *x = redisCommand(c, "KEYS %s", pattern);
    long long n = x && x->type == REDIS_REPLY_ARRAY ? (long long)x->elements : -1;
    if (x)
        freeReplyObject(x);
    redisFree(c);
    return n;
}

TEST(state_redis_reset_and_prune_touch_one_rule)
{
    struct t_redis srv;
    if (!need_server(&srv, NULL))
        t_skip("redis-server is not installed");
    struct st_store *st = ropen(srv.url, NULL);
    uint32_t a = reg(st, "rule-a", DAY), b = reg(st, "rule-b", DAY);
    kx_buf k;
    kx_buf_init(&k, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < 30; i++) {
        enc(&k, "u", i);
        ASSERT_EQ(st_observe(st, a, k.ptr, k.len, T0 + i, NULL, NULL), ST_SEEN_NEW);
        ASSERT_EQ(st_observe(st, b, k.ptr, k.len, T0 + i, NULL, NULL), ST_SEEN_NEW);
    }
    enc(&k, "u", 0);
    ASSERT_EQ(st_alert_claim(st, a, k.ptr, k.len, "alert-a", T0, NULL), 1);
    ASSERT_EQ(st_alert_claim(st, b, k.ptr, k.len, "alert-b", T0, NULL), 1);
    ASSERT_OK(st_commit(st, NULL));
    /* every key of a baseline carries its hash tag; terms expire after twice the window */
    ASSERT_EQ(count_keys(srv.port, "{kadet:rule-a:*}:t:*"), 30);
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    enc(&k, "u", 3);
    redisReply *x = redisCommand(c, "PTTL {kadet:rule-a:0000000000000007}:t:%b", k.ptr, k.len);
    ASSERT(x && x->type == REDIS_REPLY_INTEGER && x->integer > DAY && x->integer <= 2 * DAY);
    freeReplyObject(x);
    redisFree(c);
    /* prune rule-a with --older-than 10 ms: its terms before T0 + 19 go, rule-b keeps all */
    struct st_prune_opts po = {.rule_id = "rule-a", .older_than_ms = 10};
    struct st_prune_result pr;
    ASSERT_OK(st_prune(st, &po, &pr, NULL));
    ASSERT_EQ(pr.terms, 19);
    ASSERT_EQ(pr.alerts, 1);
    ASSERT_EQ(count_keys(srv.port, "{kadet:rule-a:*}:t:*"), 11);
    ASSERT_EQ(count_keys(srv.port, "{kadet:rule-b:*}:t:*"), 30);
    ASSERT_EQ(count_keys(srv.port, "kadet:alert:alert-a"), 0);
    /* reset rule-b: its keys go, rule-a's stay */
    uint64_t removed = 0;
    ASSERT_OK(st_reset(st, "rule-b", &removed, NULL));
    ASSERT_EQ(removed, 30);
    ASSERT_EQ(count_keys(srv.port, "{kadet:rule-b:*}:t:*"), 0);
    ASSERT_EQ(count_keys(srv.port, "{kadet:rule-b:*}:[za]"), 0);
    ASSERT_EQ(count_keys(srv.port, "kadet:alert:alert-b"), 0);
    ASSERT_EQ(count_keys(srv.port, "{kadet:rule-a:*}:t:*"), 11);
    st_close(st);
    kx_buf_fini(&k);
    t_redis_stop(&srv);
}

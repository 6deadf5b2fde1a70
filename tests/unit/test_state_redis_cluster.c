/*
 * test_state_redis_cluster.c - the Redis store on a Redis Cluster (state_redis_cluster.c): key
 * slots (CRC16, hash tags), a cluster node without slots, and a two-master cluster whose slot
 * holding a baseline moves to the other master under an open store (MOVED followed, the map
 * read again, the term still known there). The six-node cluster with replicas, several
 * instances and a master killed: tests/cli/test_state_redis_cluster.sh. Each test starts its
 * own redis-server processes (t_redis.h) and skips when redis-server is not installed.
 */
#include "t_redis.h"
#include "test.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "state/state.h"
#include "state/state_redis_cluster.h"
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY INT64_C(86400000)
#define T0 INT64_C(1767225600000)

TEST(state_redis_cluster_key_slots)
{
    /* CRC16/XMODEM of "123456789" is 0x31c3 (the check value); the slot is it mod 16384 */
    ASSERT_EQ(rdc_key_slot("123456789", 9), 0x31c3u);
    ASSERT_EQ(rdc_key_slot("foo", 3), 12182u);
    ASSERT_EQ(rdc_key_slot("bar", 3), 5061u);
    /* a hash tag: the bytes between the first '{' and the next '}', when not empty */
    ASSERT_EQ(rdc_key_slot("{user1000}.following", 21), rdc_key_slot("user1000", 8));
    ASSERT_EQ(rdc_key_slot("{user1000}.followers", 21), rdc_key_slot("user1000", 8));
    ASSERT_EQ(rdc_key_slot("foo{}{bar}", 10), rdc_key_slot("foo{}{bar}", 10));
    ASSERT(rdc_key_slot("foo{}{bar}", 10) != rdc_key_slot("bar", 3));
    ASSERT_EQ(rdc_key_slot("foo{{bar}}zap", 13), rdc_key_slot("{bar", 4));
    ASSERT_EQ(rdc_key_slot("foo{bar}{zap}", 13), rdc_key_slot("bar", 3));
    /* a baseline's keys share one slot */
    ASSERT_EQ(rdc_key_slot("{kadet:r1:0000000000000007}:t:x", 31),
              rdc_key_slot("{kadet:r1:0000000000000007}:m", 29));
}

/* ---- a cluster made by hand ------------------------------------------------------------------ */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* hiredis formats %b (binary keys): no printf format check */
static redisReply *cmd(int port, const char *fmt, ...);
static redisReply *cmd(int port, const char *fmt, ...)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err)
        t_fail(__FILE__, __LINE__, "connect to %d", port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    if (!r)
        t_fail(__FILE__, __LINE__, "no reply from %d", port);
    return r;
}

static void cmd_ok(int port, const char *what, redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR)
        t_fail(__FILE__, __LINE__, "%d: %s: %s", port, what, r->str);
    freeReplyObject(r);
}

static void myid(int port, char out[64])
{
    redisReply *r = cmd(port, "CLUSTER MYID");
    snprintf(out, 64, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

static bool state_ok(int port)
{
    redisReply *r = cmd(port, "CLUSTER INFO");
    bool ok = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;
    freeReplyObject(r);
    return ok;
}

/* A store on url with rule `rule` (one field) registered, "alice" encoded into k (kx_buf_fini
   it), and "alice" observed NEW and alert `id` claimed in an open batch. */
static struct st_store *open_claimed(const char *url, const char *rule, uint32_t *rid, kx_buf *k,
                                     const char *id)
{
    struct st_store *st = NULL;
    kad_err e;
    if (st_open(&st, url, ST_OPEN_RW, &e) != 0)
        t_fail(__FILE__, __LINE__, "open %s: %s", url, e.msg);
    static const char *const fields[] = {"user.name"};
    struct st_rule_def d = {.rule_id = rule, .name = rule, .logic_hash = 7, .fields = fields,
                            .nfields = 1, .window_ms = DAY};
    if (st_rule_register(st, &d, rid, NULL, &e) != 0)
        t_fail(__FILE__, __LINE__, "register: %s", e.msg);
    kx_buf_init(k, ST_KEY_MAX + 1);
    kx_str v = kx_str_c("alice");
    if (st_combo_encode(k, &v, 1, NULL) != 0 || st_begin(st, NULL) != 0 ||
        st_observe(st, *rid, k->ptr, k->len, T0, NULL, NULL) != ST_SEEN_NEW ||
        st_alert_claim(st, *rid, k->ptr, k->len, id, T0, &e) != 1)
        t_fail(__FILE__, __LINE__, "first observation and claim on %s", url);
    return st;
}

#define CLUSTER_ARGS "--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000"

TEST(state_redis_cluster_without_slots)
{
    if (!t_redis_available())
        t_skip("redis-server is not installed");
    struct t_redis a;
    t_redis_start(&a, 0, CLUSTER_ARGS);
    struct st_store *st = NULL;
    kad_err e;
    ASSERT_EQ(st_open(&st, a.url, ST_OPEN_RW, &e), KAD_EUNAVAIL);
    ASSERT(strstr(e.msg, "Redis Cluster") != NULL);
    ASSERT(strstr(e.msg, "no slot") != NULL);
    ASSERT_NULL(st);
    t_redis_stop(&a);
}

TEST(state_redis_cluster_follows_a_moved_slot)
{
    if (!t_redis_available())
        t_skip("redis-server is not installed");
    struct t_redis a, b;
    t_redis_start(&a, 0, CLUSTER_ARGS);
    t_redis_start(&b, 0, CLUSTER_ARGS);
    cmd_ok(a.port, "ADDSLOTSRANGE", cmd(a.port, "CLUSTER ADDSLOTSRANGE 0 16383"));
    cmd_ok(b.port, "MEET", cmd(b.port, "CLUSTER MEET 127.0.0.1 %d", a.port));
    for (int i = 0; i < 500 && !(state_ok(a.port) && state_ok(b.port)); i++)
        sleep_ms(20);
    ASSERT(state_ok(a.port) && state_ok(b.port));
    /* b has no slot: the store learns the map from it and goes to a */
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?instance=t", b.port);
    uint32_t rid;
    kx_buf k;
    kad_err e;
    struct st_store *st =
        open_claimed(url, "moving", &rid, &k, "0123456789abcdef0123456789abcdef");
    kx_str v;
    ASSERT_OK(st_commit(st, NULL));

    /* the baseline's slot moves from a to b, with its keys */
    unsigned slot = rdc_key_slot("{kadet:moving:0000000000000007}", 31);
    char ida[64], idb[64];
    myid(a.port, ida);
    myid(b.port, idb);
    cmd_ok(b.port, "IMPORTING", cmd(b.port, "CLUSTER SETSLOT %u IMPORTING %s", slot, ida));
    cmd_ok(a.port, "MIGRATING", cmd(a.port, "CLUSTER SETSLOT %u MIGRATING %s", slot, idb));
    redisReply *keys = cmd(a.port, "CLUSTER GETKEYSINSLOT %u 100", slot);
    ASSERT(keys->type == REDIS_REPLY_ARRAY && keys->elements >= 3);
    for (size_t i = 0; i < keys->elements; i++)
        cmd_ok(a.port, "MIGRATE",
               cmd(a.port, "MIGRATE 127.0.0.1 %d %b 0 5000", b.port, keys->element[i]->str,
                   keys->element[i]->len));
    freeReplyObject(keys);
    cmd_ok(a.port, "SETSLOT NODE", cmd(a.port, "CLUSTER SETSLOT %u NODE %s", slot, idb));
    cmd_ok(b.port, "SETSLOT NODE", cmd(b.port, "CLUSTER SETSLOT %u NODE %s", slot, idb));

    /* the store still maps the slot to a: a answers MOVED, the store follows it to b */
    uint64_t before = st_test_round_trips(st);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, rid, k.ptr, k.len, T0 + 1, NULL, NULL), ST_SEEN_KNOWN);
    ASSERT_OK(st_commit(st, NULL));
    ASSERT(st_test_round_trips(st) >= before + 2); /* the redirected wave and the new one */
    ASSERT_EQ(st_alert_emitted(st, "0123456789abcdef0123456789abcdef", &e), 1);
    redisReply *on_b = cmd(b.port, "CLUSTER COUNTKEYSINSLOT %u", slot);
    ASSERT(on_b->type == REDIS_REPLY_INTEGER && on_b->integer >= 3);
    freeReplyObject(on_b);
    /* a new combination of the moved baseline is created on b */
    v = kx_str_c("bob");
    ASSERT_OK(st_combo_encode(&k, &v, 1, NULL));
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_observe(st, rid, k.ptr, k.len, T0 + 2, NULL, NULL), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    on_b = cmd(b.port, "CLUSTER COUNTKEYSINSLOT %u", slot);
    ASSERT(on_b->type == REDIS_REPLY_INTEGER && on_b->integer >= 4);
    freeReplyObject(on_b);
    /* prune and reset reach the claims on whichever master holds them */
    uint64_t terms = 0;
    ASSERT_OK(st_reset(st, NULL, &terms, &e));
    ASSERT_EQ(terms, 2);
    ASSERT_EQ(st_alert_emitted(st, "0123456789abcdef0123456789abcdef", &e), 0);
    st_close(st);
    kx_buf_fini(&k);
    t_redis_stop(&b);
    t_redis_stop(&a);
}

/* ---- ?wait=N ------------------------------------------------------------------------------------ */

TEST(state_redis_wait_option)
{
    static const char *const bad[] = {"redis://h:1/?wait=x", "redis://h:1/?wait=17",
                                      "redis://h:1/?wait_ms=0", "redis://h:1/?wait=1&wait_ms=",
                                      "redis://h:1/?wait=-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *shown = NULL;
        kad_err e;
        ASSERT_EQ(st_redis_url_check(bad[i], &shown, &e), KAD_EINVAL);
        ASSERT(strstr(e.msg, "wait") != NULL);
        kx_free(shown);
    }
    if (!t_redis_available())
        t_skip("redis-server is not installed");
    /* a master with one replica: WAIT 1 is answered 1; the claim and the commit wait for it */
    struct t_redis m, r;
    /* no delay before the replica's first sync (Redis 7 waits 5 s for more replicas by default,
       as long as the WAIT below), and the test waits until the replica is in sync */
    t_redis_start(&m, 0, "--repl-diskless-sync-delay 0");
    char extra[64];
    snprintf(extra, sizeof(extra), "--replicaof 127.0.0.1 %d", m.port);
    t_redis_start(&r, 0, extra);
    bool synced = false;
    for (int i = 0; i < 1500 && !synced; i++) { /* up to 30 s (a loaded machine) */
        redisReply *info = cmd(r.port, "INFO replication");
        synced = info->type == REDIS_REPLY_STRING &&
                 strstr(info->str, "master_link_status:up") != NULL;
        freeReplyObject(info);
        if (!synced)
            sleep_ms(20);
    }
    ASSERT(synced);
    char url[160];
    snprintf(url, sizeof(url), "%s/?instance=w&wait=1&wait_ms=5000", m.url);
    uint32_t rid;
    kx_buf k;
    struct st_store *st = open_claimed(url, "w", &rid, &k, "00000000000000000000000000000abc");
    /* the claim's pipeline waited for the replica: it has the claim now */
    redisReply *got = cmd(r.port, "GET kadet:alert:00000000000000000000000000000abc");
    ASSERT(got->type == REDIS_REPLY_STRING && strcmp(got->str, "w:p") == 0);
    freeReplyObject(got);
    ASSERT_OK(st_commit(st, NULL));
    got = cmd(r.port, "GET kadet:alert:00000000000000000000000000000abc");
    ASSERT(got->type == REDIS_REPLY_STRING && strcmp(got->str, "w:c") == 0);
    freeReplyObject(got);
    st_close(st);
    kx_buf_fini(&k);
    t_redis_stop(&r);
    t_redis_stop(&m);
}

/*
 * state_redis.c - the Redis store (struct st_ops st_redis_ops), selected by a
 * `redis://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...][/DB][?instance=NAME]` URL: several kadet
 * instances share one baseline on one Redis server (hiredis, synchronous, one connection per
 * store), or on a Redis Cluster (state_redis_cluster.c routes the store's pipelines).
 *
 * What is decided on the server, in one step each: the first-seen decision of a combination (a
 * Lua script: read last-seen, apply the rule's window exactly as the SQLite store does, write
 * first/last seen and the rule's watermark, return the decision and the previous term) and the
 * claim of an alert id (a script around SET NX PX). Positions and counters are this instance's
 * own: they live in a local file on this host (state_redis_local.c), committed before the
 * batch's alert claims are settled on the server. There is no rollback across a batch (no
 * ST_CAP_ATOMIC_BATCH): observations stay, pending claims are released. Key layout, commit
 * protocol, what a crash between steps does, and measurements: docs/internals/state.md.
 */
#include "state/state_int.h"
#include "state/state_redis_cluster.h"
#include "state/state_redis_local.h"
#include "state/state_redis_tls.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RD_SEEDS_MAX 16
#define RD_RECONNECT_MS 30000L /* ?reconnect_ms= default: retries with backoff this long */
#define RD_TIMEOUT_MS 10000L   /* ?timeout_ms= default: a read or write that waits longer fails */
#define RD_CHUNK 512        /* GETs pipelined per round trip when reading terms */
#define RD_PRUNE_CHUNK 1000 /* members a prune script handles per call */
#define RD_DEFER_MAX 1024   /* observations queued before they are sent on their own */
#define RD_WAIT_MS 1000     /* ?wait=N without wait_ms= */
#define RD_QUERY_ALERT_TTL_MS (INT64_C(30) * 86400000) /* alert ids of rules without window */

/* ======================================================================================== */
/* Server-side scripts                                                                      */
/* ======================================================================================== */

enum { RS_OBSERVE, RS_MARK, RS_CLAIM, RS_SETTLE, RS_PRUNE, RS__COUNT };

/* A term's value: "first_seen last_seen flags[ origin]" (decimal, epoch ms; flags 1 = alerted;
   origin: 16 hex digits, st_observe_by's, for the life that began at first_seen). Lua
   numbers are doubles: exact for epoch milliseconds (below 2^53). */
static const char *const scripts[RS__COUNT] = {
    /* KEYS: term, terms zset, meta; ARGV: ts, window (<= 0: never forget), ttl ms (0: none),
       combination, origin (16 hex digits, "" = none: kept with a life that starts here).
       Returns {decision, prev first, prev last, prev flags, watermark, prev origin}. */
    [RS_OBSERVE] =
        "local ts = tonumber(ARGV[1]) local w = tonumber(ARGV[2]) local ttl = tonumber(ARGV[3])\n"
        "local wm = tonumber(redis.call('HGET', KEYS[3], 'wm'))\n"
        "if not wm or ts > wm then redis.call('HSET', KEYS[3], 'wm', ARGV[1]) wm = ts end\n"
        "local function put(f, l, fl, o)\n"
        "  local v = string.format('%.0f %.0f %d', f, l, fl)\n"
        "  if o ~= '' then v = v .. ' ' .. o end\n"
        "  if ttl > 0 then redis.call('SET', KEYS[1], v, 'PX', ttl)\n"
        "  else redis.call('SET', KEYS[1], v) end\n"
        "  redis.call('ZADD', KEYS[2], l, ARGV[4])\n"
        "  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end\n"
        "end\n"
        "local v = redis.call('GET', KEYS[1])\n"
        "if not v then put(ts, ts, 0, ARGV[5]) return {0, 0, 0, 0, wm, ''} end\n"
        "local f, l, fl, o = string.match(v, '^(%-?%d+) (%-?%d+) (%d+) ?(%x*)$')\n"
        "if not f then return redis.error_reply('kadet: malformed term value') end\n"
        "f = tonumber(f) l = tonumber(l) fl = tonumber(fl)\n"
        "if w > 0 and ts > l and ts - l > w then put(ts, ts, 0, ARGV[5]) return {1, f, l, fl, wm, "
        "o} "
        "end\n"
        "if ts >= f and ts <= l then return {2, f, l, fl, wm, o} end\n"
        "local nf, nl = f, l\n"
        "if ts > nl then nl = ts end\n"
        "if ts < nf then nf = ts end\n"
        "put(nf, nl, fl, o)\n"
        "return {2, f, l, fl, wm, o}\n",
    /* KEYS: term. Sets the alerted flag, keeping the expiry. */
    [RS_MARK] = "local v = redis.call('GET', KEYS[1])\n"
                "if not v then return 0 end\n"
                "local f, l, o = string.match(v, '^(%-?%d+) (%-?%d+) %d+(.*)$')\n"
                "if not f then return 0 end\n"
                "redis.call('SET', KEYS[1], f .. ' ' .. l .. ' 1' .. o, 'KEEPTTL')\n"
                "return 1\n",
    /* KEYS: alert id; ARGV: "<instance>:p", ttl ms (0: none). 1 claimed now, 2 claimed by this
       instance before and not settled, 0 claimed by someone else (or settled). */
    [RS_CLAIM] =
        "local v = redis.call('GET', KEYS[1])\n"
        "if not v then\n"
        "  if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
        "  else redis.call('SET', KEYS[1], ARGV[1]) end\n"
        "  return 1\n"
        "end\n"
        "if v == ARGV[1] then return 2 end\n"
        "return 0\n",
    /* KEYS: alert id; ARGV: "<instance>:p", then "<instance>:c" (commit) or "" (release). */
    [RS_SETTLE] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                  "if ARGV[2] == '' then redis.call('DEL', KEYS[1])\n"
                  "else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end\n"
                  "return 1\n",
    /* KEYS: a zset (terms by last_seen, or alert ids by ts); ARGV: prefix of the members' keys,
       cut-off ("all" or a number: members scored below it), limit, "t" when the members are
       terms (their value's last_seen is checked, not only the score). Deletes at most `limit`
       members and their keys; returns {members looked at, keys that existed}. */
    [RS_PRUNE] =
        "local all = ARGV[2] == 'all'\n"
        "local m\n"
        "if all then m = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)\n"
        "else m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0,\n"
        "  tonumber(ARGV[3])) end\n"
        "local n = 0\n"
        "for _, c in ipairs(m) do\n"
        "  local k = ARGV[1] .. c\n"
        "  local keep = false\n"
        "  if not all and ARGV[4] == 't' then\n"
        "    local v = redis.call('GET', k)\n"
        "    local l = v and tonumber(string.match(v, '^%-?%d+ (%-?%d+)'))\n"
        "    if l and l >= tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], l, c) keep = true "
        "end\n"
        "  end\n"
        "  if not keep then\n"
        "    n = n + redis.call('DEL', k)\n"
        "    redis.call('ZREM', KEYS[1], c)\n"
        "  end\n"
        "end\n"
        "return {#m, n}\n",
};

/* ======================================================================================== */
/* The store                                                                                */
/* ======================================================================================== */

struct rd_rule {
    uint32_t rid;
    char *rule_id;
    char *tag; /* "{kadet:<rule id>:<logic hash>}" */
    int64_t window_ms;
    int64_t watermark;
    bool has_pivot;
    uint32_t pivot;
};

struct rd_pos {
    char *source;
    int64_t offset, line;
};

struct rd_seed {
    char *host;
    int port;
};

struct st_redis {
    struct st_store base; /* first */
    redisContext *c;
    struct rdc *cl; /* a Redis Cluster (then c is NULL): state_redis_cluster.c */
    int wait_n, wait_ms; /* ?wait=N[&wait_ms=MS]: WAIT N MS at each commit */
    uint64_t wait_short; /* WAITs answered with fewer replicas */
    struct rd_seed seeds[RD_SEEDS_MAX];
    size_t nseeds;
    struct rd_tls tls; /* rediss:// and its parameters (state_redis_tls.c) */
    char *user, *pass, *inst;
    size_t user_off; /* where the user starts in the URL (messages) */
    int db;
    char *pos_key, *cnt_key, *claim_pend, *claim_done;
    char *local_path;       /* ?local=PATH, else derived (local_default) */
    struct rd_local *local; /* positions, counters, the last batch's claims until settled */
    bool unsettled;         /* the local file lists claims the server has not settled yet */
    char sha[RS__COUNT][41];
    KX_VEC(struct rd_rule) rules;
    KX_VEC(uint32_t) by_rid; /* rid -> index in rules + 1 */
    KX_VEC(struct rd_pos) pend_pos;
    st_cnt_vec counters;
    KX_VEC(char *) claims; /* alert ids this batch claimed */
    KX_VEC(struct rdl_blob) blobs; /* rule blobs set in this batch (rule: the tag, owned) */
    struct st_index known; /* this batch's answers: [first, last] per combination */
    KX_VEC(struct rd_args) deferred; /* observations answered locally, sent with the next
                                        round trip (rd_run) or at commit */
    uint64_t round_trips;
    char last_err[256];
    long reconnect_ms; /* ?reconnect_ms=: how long a lost server is retried (RD_RECONNECT_MS) */
    long timeout_ms;   /* ?timeout_ms=: one read or write (RD_TIMEOUT_MS) */
    /* the connection's status for other threads (st_conn_get: serve's readiness) */
    atomic_int conn_up;
    _Atomic uint64_t conn_lost, conn_reconnects;
    pthread_mutex_t conn_mu; /* conn_why */
    char conn_why[200];
};

static struct st_redis *rd_of(struct st_store *st) { return (struct st_redis *)st; }

/* The connection was lost (why): counted once per outage. */
static void conn_down(struct st_redis *st, const char *why)
{
    pthread_mutex_lock(&st->conn_mu);
    snprintf(st->conn_why, sizeof(st->conn_why), "%s", why);
    pthread_mutex_unlock(&st->conn_mu);
    if (atomic_exchange(&st->conn_up, 0))
        atomic_fetch_add(&st->conn_lost, 1);
}

/* An exchange with the server succeeded. */
static void conn_ok(struct st_redis *st)
{
    if (!atomic_exchange(&st->conn_up, 1))
        atomic_fetch_add(&st->conn_reconnects, 1);
}

static void conn_note(void *ud, const char *why) { conn_down(ud, why); }

static void ra_init(struct rd_args *a)
{
    a->n = 0;
    a->script = -1;
}

static void ra_add(struct rd_args *a, const void *p, size_t n)
{
    KX_BUG_ON(a->n >= RD_ARGS_MAX);
    a->v[a->n] = kx_malloc(n + 1);
    if (n)
        memcpy(a->v[a->n], p, n);
    a->v[a->n][n] = '\0';
    a->l[a->n++] = n;
}

static void ra_adds(struct rd_args *a, const char *s) { ra_add(a, s, strlen(s)); }

static void ra_addf(struct rd_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ra_addf(struct rd_args *a, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(tmp)) { /* longer: format again into the right size */
        char *big = kx_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        ra_add(a, big, (size_t)n);
        kx_free(big);
        return;
    }
    ra_add(a, tmp, (size_t)n);
}

/* "<tag><suffix><bytes>" as one argument. */
static void ra_key(struct rd_args *a, const char *tag, const char *suffix, const void *p, size_t n)
{
    size_t tl = strlen(tag), sl = strlen(suffix);
    char *k = kx_malloc(tl + sl + n + 1);
    memcpy(k, tag, tl);
    memcpy(k + tl, suffix, sl);
    if (n)
        memcpy(k + tl + sl, p, n);
    ra_add(a, k, tl + sl + n);
    kx_free(k);
}

/* EVALSHA of script s with nkeys keys (the keys and arguments follow). */
static void ra_script(struct rd_args *a, struct st_redis *st, int s, int nkeys)
{
    ra_init(a);
    a->script = s;
    ra_adds(a, "EVALSHA");
    ra_adds(a, st->sha[s]);
    ra_addf(a, "%d", nkeys);
}

static void ra_free(struct rd_args *a)
{
    for (int i = 0; i < a->n; i++)
        kx_free(a->v[i]);
    a->n = 0;
}

static void ra_free_all(struct rd_args *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ra_free(&a[i]);
}

static void replies_free(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i])
            freeReplyObject(r[i]);
        r[i] = NULL;
    }
}

static int fail(struct st_redis *st, kad_err *err, const char *what, const char *detail)
{
    return kx_err_setf(err, KAD_ESTATE, "state %s: %s: %s", st->base.path, what, detail);
}

/* The reply is an error: KAD_ESTATE with its text. */
static int reply_fail(struct st_redis *st, const redisReply *r, kad_err *err, const char *what)
{
    return fail(st, err, what, r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
}

static bool is_err(const redisReply *r) { return !r || r->type == REDIS_REPLY_ERROR; }

/* An integer reply, or a string holding one; def otherwise. */
static int64_t rd_int(const redisReply *r, int64_t def)
{
    if (!r)
        return def;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING) {
        int64_t v;
        if (kx_str_to_i64((kx_str){r->str, r->len}, &v))
            return v;
    }
    return def;
}

/* ---- connecting ------------------------------------------------------------------------- */

/* A plain connection that the server dropped: maybe its TLS port. */
static const char *rd_plain_hint(const redisContext *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s (a TLS port? then rediss://)", c->errstr);
    return buf;
}

static redisReply *cmd1(redisContext *c, int argc, const char **argv)
{
    return rd_io_command(c, argc, argv);
}

/*
 * Open a connection to one node: authenticate, select the database, check it answers PING,
 * load the scripts. 0 and *out; 1 unreachable (why says why); < 0 a failure that retrying does
 * not cure (authentication, a bad database). Also the cluster's way to reach a node (rdc_dial_fn).
 */
static int rd_dial(void *ud, const char *host, int port, redisContext **out, char *why,
                   size_t whylen, kad_err *err)
{
    struct st_redis *st = ud;
    redisContext *c;
    int cr = rd_io_connect(&st->tls, host, port, &c, why, whylen);
    if (cr < 0) /* TLS: a certificate refused, a file that cannot be loaded */
        return kx_err_setf(err, KAD_ESTATE, "state %s: %s", st->base.path, why);
    if (cr > 0)
        return 1;
    struct timeval cmd_tv = {st->timeout_ms / 1000, (st->timeout_ms % 1000) * 1000};
    rd_io_set_timeout(c, cmd_tv);
    int rc = 0;
    redisReply *r = NULL;
    if (st->pass) {
        const char *av[3] = {"AUTH", st->user ? st->user : st->pass, st->pass};
        r = cmd1(c, st->user ? 3 : 2, av);
        if (is_err(r))
            rc = fail(st, err, "authentication failed", r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
    }
    if (rc == 0 && st->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", st->db);
        const char *av[2] = {"SELECT", db};
        r = cmd1(c, 2, av);
        if (is_err(r))
            rc = fail(st, err,
                      st->cl || (r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "cluster"))
                          ? "a Redis Cluster has only database 0 (remove /DB from the URL)"
                          : "cannot select the database",
                      r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
    }
    char r_busy[120] = "";
    if (rc == 0) {
        const char *av[1] = {"PING"};
        r = cmd1(c, 1, av);
        if (r && r->type == REDIS_REPLY_ERROR &&
            (strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0))
            snprintf(r_busy, sizeof(r_busy), "%.110s", r->str);
        if (is_err(r))
            rc = fail(st, err,
                      r && strncmp(r->str, "NOAUTH", 6) == 0
                          ? "the server requires a password (in the URL or a password file)"
                          : "the server does not answer PING",
                      r                 ? r->str
                      : rd_io_is_tls(c) ? c->errstr
                                        : rd_plain_hint(c, why, whylen));
        if (r)
            freeReplyObject(r);
    }
    for (int s = 0; rc == 0 && s < RS__COUNT; s++) {
        const char *av[3] = {"SCRIPT", "LOAD", scripts[s]};
        r = cmd1(c, 3, av);
        if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
            memcpy(st->sha[s], r->str, 41);
        else
            rc = fail(st, err, "cannot load kadet's scripts", r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
    }
    if (rc && c->err) { /* the connection failed meanwhile (a node going down): retry */
        snprintf(why, whylen, "%s:%d: %s", host, port, c->errstr);
        rc = 1;
    } else if (rc && r_busy[0]) { /* restarting: loading its data; retry */
        snprintf(why, whylen, "%s:%d: %s", host, port, r_busy);
        if (err)
            kad_err_clear(err);
        rc = 1;
    }
    if (rc) {
        rd_io_free(c);
        return rc;
    }
    st->round_trips += 2 + (st->pass != NULL) + (st->db != 0);
    *out = c;
    return 0;
}

/*
 * Connect to the first reachable seed (rd_dial); a seed in cluster mode makes this store a
 * cluster client (state_redis_cluster.c: every node is then reached through the slot map); a
 * replica is skipped by a writing store. 0 connected; 1 no seed reachable (retry later; err
 * says why); < 0 a failure that retrying does not cure.
 */
static int rd_connect(struct st_redis *st, kad_err *err)
{
    char why[200] = "no seed";
    for (size_t i = 0; i < st->nseeds; i++) {
        redisContext *c = NULL;
        int rc = rd_dial(st, st->seeds[i].host, st->seeds[i].port, &c, why, sizeof(why), err);
        if (rc > 0)
            continue;
        if (rc < 0)
            return rc;
        st->round_trips++;
        if (rdc_detect(c)) {
            if (st->db) {
                rd_io_free(c);
                return fail(st, err, "connected",
                            "a Redis Cluster has only database 0 (remove /DB from the URL)");
            }
            const char *hosts[RD_SEEDS_MAX];
            int ports[RD_SEEDS_MAX];
            for (size_t k = 0; k < st->nseeds; k++) {
                hosts[k] = st->seeds[k].host;
                ports[k] = st->seeds[k].port;
            }
            st->round_trips++;
            return rdc_open(&st->cl, c, st->seeds[i].host, st->seeds[i].port, hosts, ports,
                            st->nseeds, rd_dial, st, st->base.path, err);
        }
        st->round_trips++; /* ROLE (counted also when not asked) */
        if (st->base.mode != ST_OPEN_RO) {
            /* a replica (the old master after a failover, or a seed listed for the day the
               master fails) cannot take writes: try the next seed */
            const char *av[1] = {"ROLE"};
            redisReply *r = cmd1(c, 1, av);
            bool replica = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                           r->element[0]->type == REDIS_REPLY_STRING &&
                           strcmp(r->element[0]->str, "master") != 0;
            if (r)
                freeReplyObject(r);
            if (replica) {
                snprintf(why, sizeof(why), "%s:%d is a replica (no seed is a master)",
                         st->seeds[i].host, st->seeds[i].port);
                rd_io_free(c);
                continue;
            }
        }
        st->c = c;
        return 0;
    }
    snprintf(st->last_err, sizeof(st->last_err), "%s", why);
    kx_err_setf(err, KAD_EUNAVAIL, "state %s: Redis unreachable: %s", st->base.path, why);
    return 1;
}

static void drop_connection(struct st_redis *st)
{
    if (st->c)
        rd_io_free(st->c);
    st->c = NULL;
    if (st->cl)
        rdc_drop(st->cl);
}

/*
 * hiredis writes with write(2): a write to a connection the server closed raises SIGPIPE,
 * which would kill the process. The library does not own the process's signal dispositions,
 * so SIGPIPE is blocked in this thread during the I/O and a SIGPIPE it raised is consumed.
 */
struct pipe_guard {
    sigset_t old;
    bool was_pending;
};

static void pipe_block(struct pipe_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    g->was_pending = sigismember(&pend, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_restore(struct pipe_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    if (!g->was_pending && sigismember(&pend, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/*
 * Send n commands in one pipeline and read their n replies (one round trip). A dropped
 * connection is reopened with backoff and the whole pipeline sent again (every command kadet
 * pipelines is idempotent or, for observe and claim, safe to repeat: docs/internals/state.md).
 * A script the server lost (NOSCRIPT: restarted, SCRIPT FLUSH) is sent again as EVAL.
 * Replies are the caller's to free (replies_free); error replies are returned as replies.
 */
static int rd_run_io(struct st_redis *st, struct rd_args *cmds, size_t n, redisReply **rep,
                     kad_err *err);

static int rd_run(struct st_redis *st, struct rd_args *cmds, size_t n, redisReply **rep,
                  kad_err *err)
{
    struct pipe_guard g;
    pipe_block(&g);
    int rc;
    size_t d = st->deferred.len;
    if (d == 0) {
        rc = rd_run_io(st, cmds, n, rep, err);
    } else {
        /* the observations answered locally go first, in the same pipeline (in the order
           they were made); their replies are checked and dropped */
        struct rd_args *all = kx_calloc(d + n + 1, sizeof(*all));
        redisReply **r = kx_calloc(d + n + 1, sizeof(*r));
        memcpy(all, st->deferred.ptr, d * sizeof(*all));
        if (n)
            memcpy(all + d, cmds, n * sizeof(*all));
        st->deferred.len = 0;
        rc = rd_run_io(st, all, d + n, r, err);
        for (size_t i = 0; rc == 0 && i < d; i++) {
            if (is_err(r[i]) || r[i]->type != REDIS_REPLY_ARRAY || r[i]->elements < 1)
                rc = reply_fail(st, r[i], err, "cannot observe");
            else if (rd_int(r[i]->element[0], -1) != ST_SEEN_KNOWN)
                /* only a prune or reset of the term between two observations of this batch
                   can do that: the event made it anew (docs/internals/state.md) */
                kx_log(KX_LOG_WARN, "state %s: a combination answered KNOWN was gone on the "
                       "server (a prune or reset meanwhile)", st->base.path);
        }
        if (rc == 0) {
            replies_free(r, d);
            if (n)
                memcpy(rep, r + d, n * sizeof(*rep));
        } else {
            replies_free(r, d + n);
        }
        ra_free_all(all, d);
        if (n)
            memcpy(cmds, all + d, n * sizeof(*all)); /* NOSCRIPT may have rewritten them */
        kx_free(all);
        kx_free(r);
    }
    pipe_restore(&g);
    return rc;
}

/* Send the queued observations now (one round trip; none when nothing is queued). */
static int deferred_flush(struct st_redis *st, kad_err *err)
{
    return st->deferred.len ? rd_run(st, NULL, 0, NULL, err) : 0;
}

static void deferred_drop(struct st_redis *st)
{
    ra_free_all(st->deferred.ptr, st->deferred.len);
    st->deferred.len = 0;
}

static int rd_run_io(struct st_redis *st, struct rd_args *cmds, size_t n, redisReply **rep,
                     kad_err *err)
{
    for (size_t i = 0; i < n; i++)
        rep[i] = NULL;
    int64_t deadline = -1; /* from the first failure: ?reconnect_ms= */
    for (int attempt = 0; !st->cl; attempt++) {
        if (attempt) {
            conn_down(st, st->last_err);
            if (deadline < 0)
                deadline = rd_mono_ms() + st->reconnect_ms;
            if (rd_mono_ms() >= deadline)
                return kx_err_setf(err, KAD_EUNAVAIL,
                                   "state %s: Redis unreachable after %d attempts in %ld ms "
                                   "(reconnect_ms=): %s",
                                   st->base.path, attempt, st->reconnect_ms, st->last_err);
            rd_backoff_sleep(attempt - 1, deadline);
        }
        if (!st->c) {
            int rc = rd_connect(st, err);
            if (rc < 0)
                return rc;
            if (rc > 0)
                continue;
            if (st->cl) { /* the server became a cluster node */
                rdc_set_retry(st->cl, st->reconnect_ms, conn_note);
                break;
            }
        }
        bool io = false;
        for (size_t i = 0; i < n && !io; i++)
            io = redisAppendCommandArgv(st->c, cmds[i].n, (const char **)cmds[i].v, cmds[i].l) !=
                 REDIS_OK;
        for (size_t i = 0; i < n && !io; i++) {
            void *r = NULL;
            if (rd_io_get_reply(st->c, &r) != REDIS_OK)
                io = true;
            rep[i] = r;
        }
        for (size_t i = 0; i < n && !io; i++) {
            /* the server became a replica (a failover demoted it): find the master; a server
               loading its data after a restart (LOADING) or a replica without its master
               (MASTERDOWN): retry later */
            if (rep[i] && rep[i]->type == REDIS_REPLY_ERROR &&
                strncmp(rep[i]->str, "READONLY", 8) == 0) {
                io = true;
                snprintf(st->c->errstr, sizeof(st->c->errstr), "%s", "the server is a replica");
            } else if (rep[i] && rep[i]->type == REDIS_REPLY_ERROR &&
                       (strncmp(rep[i]->str, "LOADING", 7) == 0 ||
                        strncmp(rep[i]->str, "MASTERDOWN", 10) == 0)) {
                io = true;
                snprintf(st->c->errstr, sizeof(st->c->errstr), "%.120s", rep[i]->str);
            }
        }
        if (io) {
            snprintf(st->last_err, sizeof(st->last_err), "%s",
                     st->c->errstr[0] ? st->c->errstr : "connection lost");
            kx_log(KX_LOG_WARN, "state %s: %s; reconnecting", st->base.path, st->last_err);
            replies_free(rep, n);
            drop_connection(st);
            continue;
        }
        st->round_trips++;
        conn_ok(st);
        break;
    }
    if (st->cl) { /* routed to the cluster's masters */
        int rc = rdc_exchange(st->cl, cmds, n, rep, &st->round_trips, err);
        if (rc) {
            if (rc == KAD_EUNAVAIL)
                conn_down(st, err ? err->msg : "Redis Cluster unreachable");
            return rc;
        }
        conn_ok(st);
    }
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].script < 0 || !rep[i] || rep[i]->type != REDIS_REPLY_ERROR ||
            strncmp(rep[i]->str, "NOSCRIPT", 8) != 0)
            continue;
        freeReplyObject(rep[i]);
        rep[i] = NULL;
        kx_free(cmds[i].v[0]);
        kx_free(cmds[i].v[1]);
        cmds[i].v[0] = kx_strdup("EVAL");
        cmds[i].l[0] = 4;
        cmds[i].v[1] = kx_strdup(scripts[cmds[i].script]);
        cmds[i].l[1] = strlen(scripts[cmds[i].script]);
        cmds[i].script = -1;
        int rc = rd_run(st, &cmds[i], 1, &rep[i], err);
        if (rc) {
            replies_free(rep, n);
            return rc;
        }
    }
    return 0;
}

/* One command: its reply in *out (freed by the caller), or an error (also for error replies). */
static int rd_one(struct st_redis *st, struct rd_args *a, redisReply **out, kad_err *err,
                  const char *what)
{
    int rc = rd_run(st, a, 1, out, err);
    ra_free(a);
    if (rc)
        return rc;
    if (is_err(*out)) {
        rc = reply_fail(st, *out, err, what);
        replies_free(out, 1);
    }
    return rc;
}

/* n commands in one round trip (rd_run); the arguments are freed; an error reply is an error
   (KAD_ESTATE "<what>: <its text>", every reply freed). */
static int rd_pipe(struct st_redis *st, struct rd_args *c, size_t n, redisReply **r, kad_err *err,
                   const char *what)
{
    int rc = rd_run(st, c, n, r, err);
    ra_free_all(c, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (is_err(r[i]))
            rc = reply_fail(st, r[i], err, what);
    if (rc)
        replies_free(r, n);
    return rc;
}

/* A command of string arguments (NULL-terminated list) as rd_one. */
static int rd_cmd(struct st_redis *st, redisReply **out, kad_err *err, const char *what, ...)
{
    struct rd_args a;
    ra_init(&a);
    va_list ap;
    va_start(ap, what);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        ra_adds(&a, s);
    va_end(ap);
    return rd_one(st, &a, out, err, what);
}

/* ---- the URL ------------------------------------------------------------------------------ */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decoded copy of [p, p+n); NULL when an escape is malformed. */
static char *pct_decode(const char *p, size_t n)
{
    char *o = kx_malloc(n + 1), *q = o;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            if (i + 2 >= n) {
                kx_free(o);
                return NULL;
            }
            int h = hexval((unsigned char)p[i + 1]), l = hexval((unsigned char)p[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                kx_free(o);
                return NULL;
            }
            *q++ = (char)(h * 16 + l);
            i += 2;
        } else {
            *q++ = p[i];
        }
    }
    *q = '\0';
    return o;
}

/* The URL without its password (for messages and st_path). */
static char *redact(const char *url)
{
    const char *s = strstr(url, "://");
    const char *auth = s ? s + 3 : url;
    const char *end = auth + strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon)
        return kx_strdup(url);
    size_t head = (size_t)(colon + 1 - url);
    size_t tail = strlen(at);
    char *o = kx_malloc(head + 3 + tail + 1);
    memcpy(o, url, head);
    memcpy(o + head, "***", 3);
    memcpy(o + head + 3, at, tail + 1);
    return o;
}

static int url_fail(kad_err *err, const char *shown, size_t off, const char *what)
{
    return kx_err_setf(err, KAD_EINVAL, "state URL '%s': at byte %zu: %s", shown, off, what);
}

/*
 * redis://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]...][/DB][?instance=NAME]. A seed after a
 * comma may repeat "redis://". Offsets in messages count bytes of the redacted URL's prefix,
 * which is the URL's own up to the password.
 */
static int parse_url(struct st_redis *st, const char *url, kad_err *err)
{
    const char *shown = st->base.path;
    bool tls = strncmp(url, "rediss://", 9) == 0;
    const char *again = tls ? ",rediss://" : ",redis://", *other = tls ? ",redis://" : ",rediss://";
    const char *mixed = strstr(url, other);
    if (mixed)
        return url_fail(err, shown, (size_t)(mixed + 1 - url),
                        "the seeds mix redis:// and rediss:// (TLS is for all of them or none)");
    if (strstr(url, again)) {
        /* seeds that repeat the scheme: parse the URL without the repetitions */
        char *copy = kx_strdup(url), *q;
        size_t sl = strlen(again) - 1;
        while ((q = strstr(copy, again)) != NULL)
            memmove(q + 1, q + 1 + sl, strlen(q + 1 + sl) + 1);
        int rc = parse_url(st, copy, err);
        kx_free(copy);
        return rc;
    }
    st->tls.on = tls;
    const char *p = url + (tls ? 9 : 8); /* after redis:// or rediss:// */
    size_t alen = strcspn(p, "/?");
    const char *aend = p + alen;
    const char *at = NULL;
    for (const char *q = p; q < aend; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (uend > p && !(st->user = pct_decode(p, (size_t)(uend - p))))
            return url_fail(err, shown, (size_t)(p - url), "malformed %-escape in the user");
        if (colon && !(st->pass = pct_decode(colon + 1, (size_t)(at - colon - 1))))
            return url_fail(err, shown, (size_t)(colon + 1 - url),
                            "malformed %-escape in the password");
        if (st->pass && !*st->pass) {
            kx_free(st->pass);
            st->pass = NULL;
        }
        st->user_off = (size_t)(p - url);
        p = at + 1;
    }
    while (p < aend) {
        const char *e = p;
        while (e < aend && *e != ',')
            e++;
        if (e == p)
            return url_fail(err, shown, (size_t)(p - url), "empty host");
        if (st->nseeds == RD_SEEDS_MAX)
            return url_fail(err, shown, (size_t)(p - url), "more than 16 seed nodes");
        const char *h = p, *hend, *colon;
        if (*p == '[') { /* [IPv6]:port */
            hend = memchr(p, ']', (size_t)(e - p));
            if (!hend)
                return url_fail(err, shown, (size_t)(p - url), "'[' without ']'");
            h = p + 1;
            colon = hend + 1 < e && hend[1] == ':' ? hend + 1 : NULL;
            if (!colon && hend + 1 != e)
                return url_fail(err, shown, (size_t)(hend + 1 - url), "expected ':PORT'");
        } else {
            colon = memchr(p, ':', (size_t)(e - p));
            hend = colon ? colon : e;
        }
        if (hend == h)
            return url_fail(err, shown, (size_t)(p - url), "empty host");
        long port = 6379;
        if (colon) {
            char *pe;
            port = strtol(colon + 1, &pe, 10);
            if (pe != e || colon + 1 == e || port < 1 || port > 65535)
                return url_fail(err, shown, (size_t)(colon + 1 - url),
                                "the port is a number from 1 to 65535");
        }
        st->seeds[st->nseeds].host = kx_strndup(h, (size_t)(hend - h));
        st->seeds[st->nseeds++].port = (int)port;
        p = e < aend ? e + 1 : e;
        if (e < aend && p == aend)
            return url_fail(err, shown, (size_t)(p - url), "empty host after ','");
    }
    if (st->nseeds == 0)
        return url_fail(err, shown, (size_t)(p - url), "no host");
    if (*p == '/') {
        p++;
        size_t dl = strcspn(p, "?");
        if (dl) {
            char *de;
            long db = strtol(p, &de, 10);
            if (de != p + dl || db < 0 || db > 100000)
                return url_fail(err, shown, (size_t)(p - url),
                                "the database is a number (0 to 100000)");
            st->db = (int)db;
        }
        p += dl;
    }
    const char *query = p;
    if (*p == '?') {
        p++;
        while (*p) {
            char **slot;
            size_t kl;
            size_t l = strcspn(p, "&");
            if (strncmp(p, "instance=", 9) == 0 && l > 9) {
                kx_free(st->inst);
                st->inst = pct_decode(p + 9, l - 9);
                if (!st->inst || strlen(st->inst) > 200)
                    return url_fail(err, shown, (size_t)(p - url),
                                    "instance= needs a name of 1 to 200 bytes");
            } else if (strncmp(p, "local=", 6) == 0 && l > 6) {
                kx_free(st->local_path);
                st->local_path = pct_decode(p + 6, l - 6);
                if (!st->local_path)
                    return url_fail(err, shown, (size_t)(p - url), "malformed %-escape in local=");
            } else if (strncmp(p, "wait=", 5) == 0 || strncmp(p, "wait_ms=", 8) == 0) {
                bool ms = p[4] == '_';
                const char *v = p + (ms ? 8 : 5);
                char *e;
                long x = strtol(v, &e, 10);
                if (e != p + l || e == v || x < (ms ? 1 : 0) || x > (ms ? 60000 : 16))
                    return url_fail(err, shown, (size_t)(v - url),
                                    ms ? "wait_ms= takes milliseconds from 1 to 60000"
                                       : "wait= takes a number of replicas from 0 to 16");
                *(ms ? &st->wait_ms : &st->wait_n) = (int)x;
            } else if (strncmp(p, "reconnect_ms=", 13) == 0 || strncmp(p, "timeout_ms=", 11) == 0) {
                bool rc_ms = p[0] == 'r';
                const char *v = p + (rc_ms ? 13 : 11);
                char *e;
                long x = strtol(v, &e, 10);
                if (e != p + l || e == v || x < (rc_ms ? 0 : 100) ||
                    x > (rc_ms ? 86400000 : 600000))
                    return url_fail(err, shown, (size_t)(v - url),
                                    rc_ms ? "reconnect_ms= takes milliseconds from 0 to 86400000"
                                          : "timeout_ms= takes milliseconds from 100 to 600000");
                *(rc_ms ? &st->reconnect_ms : &st->timeout_ms) = x;
            } else if ((slot = rd_tls_slot(&st->tls, p, l, &kl)) != NULL) {
                kx_free(*slot);
                if (!(*slot = pct_decode(p + kl, l - kl)))
                    return url_fail(err, shown, (size_t)(p - url), "malformed %-escape");
            } else {
                return url_fail(err, shown, (size_t)(p - url),
                                "unknown parameter (instance=NAME, local=PATH, wait=N, "
                                "wait_ms=MS, reconnect_ms=MS, timeout_ms=MS; with rediss://: "
                                "ca=FILE, cert=FILE, key=FILE, servername=NAME)");
            }
            p += l;
            if (*p == '&')
                p++;
        }
    }
    const char *tw = rd_tls_check(&st->tls);
    if (tw)
        return url_fail(err, shown, (size_t)(query - url), tw);
    return 0;
}

/* A user (ACL) needs a password: from the URL or given to st_open_auth. */
static int user_check(struct st_redis *st, kad_err *err)
{
    if (st->user && !st->pass)
        return url_fail(err, st->base.path, st->user_off,
                        "a user needs a password (USER:PASSWORD@, or a password file)");
    return 0;
}

int st_redis_url_check(const char *url, char **shown, kad_err *err)
{
    struct st_redis *st = kx_calloc(1, sizeof(*st));
    st->base.path = redact(url);
    int rc = strncmp(url, "redis://", 8) == 0 || strncmp(url, "rediss://", 9) == 0
                 ? parse_url(st, url, err)
                 : kx_err_setf(err, KAD_EINVAL, "'%s' is not a redis:// URL", st->base.path);
    if (rc == 0)
        rc = user_check(st, err);
    *shown = st->base.path;
    for (size_t i = 0; i < st->nseeds; i++)
        kx_free(st->seeds[i].host);
    kx_free(st->user);
    kx_free(st->pass);
    kx_free(st->inst);
    kx_free(st->local_path);
    rd_tls_fini(&st->tls);
    kx_free(st);
    return rc;
}

/* ---- open and close ----------------------------------------------------------------------- */

static void rd_close(struct st_store *base_);

/* "{kadet:i:<instance>}:<what>": the instance's own keys share one slot. */
static char *inst_key(const char *inst, const char *what)
{
    size_t n = strlen(inst) + strlen(what) + 16;
    char *k = kx_malloc(n);
    snprintf(k, n, "{kadet:i:%s}:%s", inst, what);
    return k;
}

static bool parse_pos(const char *s, size_t n, struct st_pos *out)
{
    char buf[64];
    long long o, l;
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (sscanf(buf, "%lld %lld", &o, &l) != 2)
        return false;
    out->offset = o;
    out->line = l;
    return true;
}

/*
 * The local file's default: $XDG_STATE_HOME (else ~/.local/state) /kadet/redis/
 * <host>_<port>_<db>_<instance>.db, after the first seed and the instance name ('/' and bytes
 * below '!' %-escaped), so one host's instances of several servers do not mix. NULL when
 * neither variable is set.
 */
static char *local_default(const struct st_redis *st)
{
    const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    kx_buf b;
    kx_buf_init(&b, 8192);
    if (x && *x)
        kx_buf_addf(&b, "%s/kadet/redis/", x);
    else if (home && *home)
        kx_buf_addf(&b, "%s/.local/state/kadet/redis/", home);
    else {
        kx_buf_fini(&b);
        return NULL;
    }
    char name[512];
    snprintf(name, sizeof(name), "%s_%d_%d_%s", st->seeds[0].host, st->seeds[0].port, st->db,
             st->inst);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '/' || *p == '%' || *p < '!')
            kx_buf_addf(&b, "%%%02X", *p);
        else
            kx_buf_add(&b, p, 1);
    }
    kx_buf_addf(&b, ".db");
    char *out = kx_strndup(b.ptr, b.len);
    kx_buf_fini(&b);
    return out;
}

static int cnt_load(const char *name, int64_t v, int64_t unused, void *ud)
{
    (void)unused;
    struct st_counter c = {.value = v};
    size_t n = strlen(name);
    if (n == 0 || n > ST_COUNTER_NAME_MAX)
        return 0;
    memcpy(c.name, name, n);
    KX_VEC_PUSH((st_cnt_vec *)ud, c);
    return 0;
}

/*
 * An instance that has never committed to its local file: take its positions and counters
 * from the server, where kadet kept them before they moved to the local file, and delete them
 * there once the local file has them.
 */
static int migrate(struct st_redis *st, kad_err *err)
{
    struct rd_args c[2];
    redisReply *r[2];
    ra_init(&c[0]);
    ra_adds(&c[0], "HGETALL");
    ra_adds(&c[0], st->pos_key);
    ra_init(&c[1]);
    ra_adds(&c[1], "HGETALL");
    ra_adds(&c[1], st->cnt_key);
    int rc = rd_pipe(st, c, 2, r, err, "cannot read the instance's positions");
    if (rc)
        return rc;
    KX_VEC(struct rdl_pos) pos = {0};
    for (size_t i = 0; r[0]->type == REDIS_REPLY_ARRAY && i + 1 < r[0]->elements; i += 2) {
        struct st_pos sp;
        if (parse_pos(r[0]->element[i + 1]->str, r[0]->element[i + 1]->len, &sp)) {
            struct rdl_pos x = {r[0]->element[i]->str, sp.offset, sp.line};
            KX_VEC_PUSH(&pos, x);
        }
    }
    for (size_t i = 0; r[1]->type == REDIS_REPLY_ARRAY && i + 1 < r[1]->elements; i += 2)
        cnt_load(r[1]->element[i]->str, rd_int(r[1]->element[i + 1], 0), 0, &st->counters);
    bool had = pos.len || st->counters.len;
    struct rdl_batch b = {.inst = st->inst, .pos = pos.ptr, .npos = pos.len,
                          .cnt = st->counters.ptr, .ncnt = st->counters.len, .all_counters = true};
    rc = rdl_commit(st->local, &b, err);
    KX_VEC_FREE(&pos);
    replies_free(r, 2);
    if (rc == 0 && had)
        rc = rd_cmd(st, &r[0], err, "cannot delete the instance's old keys", "DEL", st->pos_key,
                    st->cnt_key, (char *)NULL);
    if (rc == 0 && had)
        replies_free(r, 1);
    return rc;
}

static size_t add_settles(struct st_redis *st, struct rd_args *c, char *const *ids, size_t n,
                          bool commit, bool eval);

static int id_collect(const char *id, int64_t u1, int64_t u2, void *ud)
{
    (void)u1;
    (void)u2;
    char *d = kx_strdup(id);
    KX_VEC_PUSH((KX_VEC(char *) *)ud, d);
    return 0;
}

/*
 * Settle (<instance>:c) the claims the local file lists as committed but maybe not settled
 * (a crash or an unreachable server between the local commit and the settlement), then empty
 * the list. Idempotent: a claim settled already is left as it is.
 */
static int settle_unsettled(struct st_redis *st, kad_err *err)
{
    KX_VEC(char *) ids = {0};
    int rc = rdl_unsettled(st->local, id_collect, &ids, err);
    if (rc == 0 && ids.len) {
        struct rd_args *c = kx_calloc(ids.len, sizeof(*c));
        redisReply **r = kx_calloc(ids.len, sizeof(*r));
        size_t n = add_settles(st, c, ids.ptr, ids.len, true, false);
        if ((rc = rd_pipe(st, c, n, r, err, "cannot settle the last batch's alert claims")) == 0)
            replies_free(r, n);
        kx_free(c);
        kx_free(r);
    }
    if (rc == 0 && ids.len)
        rc = rdl_settled(st->local, err);
    for (size_t i = 0; i < ids.len; i++)
        kx_free(ids.ptr[i]);
    KX_VEC_FREE(&ids);
    if (rc == 0)
        st->unsettled = false;
    return rc;
}

/* rd_open's flag for st_redis_conn_open: a plain connection (the console's triage store) that
   opens no local file, so it neither takes the instance's lock nor settles its claims */
#define RD_CONN_ONLY 0x40000000u

static int rd_open(struct st_store **out, const char *path, enum st_mode mode, unsigned flags,
                   const char *password, kad_err *err)
{
    bool conn_only = (flags & RD_CONN_ONLY) != 0;
    struct st_redis *st = kx_calloc(1, sizeof(*st));
    char *shown = redact(path);
    st_base_init(&st->base, &st_redis_ops, mode, shown);
    kx_free(shown);
    idx_init(&st->known);
    st->reconnect_ms = RD_RECONNECT_MS;
    st->timeout_ms = RD_TIMEOUT_MS;
    atomic_init(&st->conn_up, 1);
    pthread_mutex_init(&st->conn_mu, NULL);
    int rc = parse_url(st, path, err);
    if (rc == 0 && password) { /* --state-password-file: replaces the URL's */
        kx_free(st->pass);
        st->pass = *password ? kx_strdup(password) : NULL;
    }
    if (rc == 0)
        rc = user_check(st, err);
    if (rc == 0 && !st->inst) {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "kadet");
        host[sizeof(host) - 1] = '\0';
        st->inst = kx_strdup(host);
    }
    if (rc == 0 && !conn_only && !st->local_path && !(st->local_path = local_default(st)))
        rc = kx_err_setf(err, KAD_EINVAL,
                         "state %s: no place for the instance's local file (neither "
                         "XDG_STATE_HOME nor HOME is set): add ?local=PATH to the URL",
                         st->base.path);
    if (rc == 0) {
        st->pos_key = inst_key(st->inst, "pos");
        st->cnt_key = inst_key(st->inst, "cnt");
        size_t n = strlen(st->inst) + 3;
        st->claim_pend = kx_malloc(n);
        st->claim_done = kx_malloc(n);
        snprintf(st->claim_pend, n, "%s:p", st->inst);
        snprintf(st->claim_done, n, "%s:c", st->inst);
        /* opening fails at once when no seed answers (kadet says so and exits); a connection
           lost later is reopened with backoff (rd_run) */
        struct pipe_guard g;
        pipe_block(&g);
        int c = rd_connect(st, err);
        pipe_restore(&g);
        rc = c > 0 ? KAD_EUNAVAIL : c;
        if (rc == 0 && st->cl)
            rdc_set_retry(st->cl, st->reconnect_ms, conn_note);
    }
    bool created = false;
    if (rc == 0 && !conn_only)
        rc = rdl_open(&st->local, st->local_path, mode == ST_OPEN_RO, st->inst, &created, err);
    if (rc == 0 && !conn_only && created)
        rc = migrate(st, err);
    else if (rc == 0 && !conn_only)
        rc = rdl_counters(st->local, cnt_load, &st->counters, err);
    /* a crash between the last local commit and the settlement: settle now, before any event
       is processed (a retry of those events must find the claims settled) */
    if (rc == 0 && !conn_only && mode != ST_OPEN_RO)
        rc = settle_unsettled(st, err);
    if (rc) {
        rd_close(&st->base);
        return rc;
    }
    *out = &st->base;
    return 0;
}

static void blobs_clear(struct st_redis *st)
{
    for (size_t i = 0; i < st->blobs.len; i++) {
        kx_free((char *)st->blobs.ptr[i].rule);
        kx_free((void *)st->blobs.ptr[i].data);
    }
    st->blobs.len = 0;
}

static void claims_clear(struct st_redis *st)
{
    for (size_t i = 0; i < st->claims.len; i++)
        kx_free(st->claims.ptr[i]);
    st->claims.len = 0;
}

static void pend_clear(struct st_redis *st)
{
    for (size_t i = 0; i < st->pend_pos.len; i++)
        kx_free(st->pend_pos.ptr[i].source);
    st->pend_pos.len = 0;
}

static void rd_close(struct st_store *base_)
{
    struct st_redis *st = rd_of(base_);
    drop_connection(st);
    rdc_close(st->cl);
    for (size_t i = 0; i < st->nseeds; i++)
        kx_free(st->seeds[i].host);
    for (size_t i = 0; i < st->rules.len; i++) {
        kx_free(st->rules.ptr[i].rule_id);
        kx_free(st->rules.ptr[i].tag);
    }
    KX_VEC_FREE(&st->rules);
    KX_VEC_FREE(&st->by_rid);
    pend_clear(st);
    KX_VEC_FREE(&st->pend_pos);
    claims_clear(st);
    KX_VEC_FREE(&st->claims);
    blobs_clear(st);
    KX_VEC_FREE(&st->blobs);
    KX_VEC_FREE(&st->counters);
    idx_fini(&st->known);
    deferred_drop(st);
    KX_VEC_FREE(&st->deferred);
    kx_free(st->user);
    kx_free(st->pass);
    kx_free(st->inst);
    kx_free(st->pos_key);
    kx_free(st->cnt_key);
    kx_free(st->claim_pend);
    kx_free(st->claim_done);
    kx_free(st->local_path);
    rd_tls_fini(&st->tls);
    rdl_close(st->local);
    pthread_mutex_destroy(&st->conn_mu);
    st_base_fini(&st->base);
    kx_free(st);
}

/* ======================================================================================== */
/* Rules                                                                                    */
/* ======================================================================================== */

/* "{kadet:<rule id, with '{', '}', '%' and bytes below '!' %-escaped>:<16 hex digits>}" */
static char *make_tag(const char *rule_id, uint64_t hash)
{
    size_t n = strlen(rule_id);
    char *t = kx_malloc(n * 3 + 40), *q = t;
    q += sprintf(q, "{kadet:");
    for (const unsigned char *p = (const unsigned char *)rule_id; *p; p++) {
        if (*p == '{' || *p == '}' || *p == '%' || *p < '!')
            q += sprintf(q, "%%%02X", *p);
        else
            *q++ = (char)*p;
    }
    sprintf(q, ":%016llx}", (unsigned long long)hash);
    return t;
}

/* The field of kadet:baselines naming a baseline: "<16 hex digits>:<rule id>". */
static void ra_bfield(struct rd_args *a, const char *rule_id, uint64_t hash)
{
    ra_addf(a, "%016llx:%s", (unsigned long long)hash, rule_id);
}

static struct rd_rule *rule_get(struct st_redis *st, uint32_t rid)
{
    if (rid >= st->by_rid.len || st->by_rid.ptr[rid] == 0)
        return NULL;
    return &st->rules.ptr[st->by_rid.ptr[rid] - 1];
}

static int rd_rule_register(struct st_store *base_, const struct st_rule_def *def, uint32_t *rid,
                            enum st_baseline *status, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_args c[6];
    redisReply *r[6];
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)def->logic_hash);
    ra_init(&c[0]);
    ra_adds(&c[0], "HGET");
    ra_adds(&c[0], "kadet:baselines");
    ra_bfield(&c[0], def->rule_id, def->logic_hash);
    ra_init(&c[1]);
    ra_adds(&c[1], "HGET");
    ra_adds(&c[1], "kadet:current");
    ra_adds(&c[1], def->rule_id);
    int rc = rd_pipe(st, c, 2, r, err, "cannot read rules");
    if (rc)
        return rc;
    int64_t id = rd_int(r[0], -1);
    bool any = r[1]->type == REDIS_REPLY_STRING;
    bool is_current = any && r[1]->len == 16 && memcmp(r[1]->str, hex, 16) == 0;
    bool found = id >= 0;
    replies_free(r, 2);
    if (!found) {
        /* a new rid; another instance registering the same baseline at once wins HSETNX */
        ra_init(&c[0]);
        ra_adds(&c[0], "INCR");
        ra_adds(&c[0], "kadet:rid");
        if ((rc = rd_one(st, &c[0], &r[0], err, "cannot allocate a rule id")) != 0)
            return rc;
        int64_t nid = rd_int(r[0], -1);
        replies_free(r, 1);
        ra_init(&c[0]);
        ra_adds(&c[0], "HSETNX");
        ra_adds(&c[0], "kadet:baselines");
        ra_bfield(&c[0], def->rule_id, def->logic_hash);
        ra_addf(&c[0], "%lld", (long long)nid);
        ra_init(&c[1]);
        ra_adds(&c[1], "HGET");
        ra_adds(&c[1], "kadet:baselines");
        ra_bfield(&c[1], def->rule_id, def->logic_hash);
        if ((rc = rd_pipe(st, c, 2, r, err, "cannot register a rule")) != 0)
            return rc;
        id = rd_int(r[1], -1);
        replies_free(r, 2);
        if (id < 0 || id > UINT32_MAX - 1)
            return fail(st, err, "cannot register a rule", "bad rule id in kadet:baselines");
    }
    char *tag = make_tag(def->rule_id, def->logic_hash);
    kx_buf fields;
    kx_buf_init(&fields, ST_KEY_MAX + 1);
    kx_str comps[ST_COMPONENTS_MAX] = {{0}};
    for (size_t i = 0; i < def->nfields; i++)
        comps[i] = kx_str_c(def->fields[i]);
    if (def->nfields && (rc = st_combo_encode(&fields, comps, def->nfields, err)) != 0) {
        kx_buf_fini(&fields);
        kx_free(tag);
        return rc;
    }
    int64_t now = st_now_ms();
    ra_init(&c[0]);
    ra_adds(&c[0], "HSET");
    ra_adds(&c[0], "kadet:current");
    ra_adds(&c[0], def->rule_id);
    ra_adds(&c[0], hex);
    ra_init(&c[1]);
    ra_adds(&c[1], "HSET");
    ra_key(&c[1], tag, ":m", NULL, 0);
    ra_adds(&c[1], "rule_id");
    ra_adds(&c[1], def->rule_id);
    ra_adds(&c[1], "name");
    ra_adds(&c[1], def->name ? def->name : "");
    ra_adds(&c[1], "hash");
    ra_adds(&c[1], hex);
    ra_adds(&c[1], "fields");
    ra_add(&c[1], fields.ptr ? fields.ptr : "", fields.len);
    ra_adds(&c[1], "window");
    ra_addf(&c[1], "%lld", (long long)def->window_ms);
    ra_adds(&c[1], "last_loaded");
    ra_addf(&c[1], "%lld", (long long)now);
    ra_adds(&c[1], "rid");
    ra_addf(&c[1], "%lld", (long long)id);
    ra_adds(&c[1], "pivot");
    ra_addf(&c[1], "%lld", def->has_pivot ? (long long)def->pivot : -1LL);
    ra_init(&c[2]);
    ra_adds(&c[2], "HSETNX");
    ra_key(&c[2], tag, ":m", NULL, 0);
    ra_adds(&c[2], "first_loaded");
    ra_addf(&c[2], "%lld", (long long)now);
    ra_init(&c[3]);
    ra_adds(&c[3], "HGET");
    ra_key(&c[3], tag, ":m", NULL, 0);
    ra_adds(&c[3], "wm");
    kx_buf_fini(&fields);
    if ((rc = rd_pipe(st, c, 4, r, err, "cannot write rules")) != 0) {
        kx_free(tag);
        return rc;
    }
    int64_t wm = r[3]->type == REDIS_REPLY_STRING ? rd_int(r[3], ST_TIME_NONE) : ST_TIME_NONE;
    replies_free(r, 4);
    struct rd_rule *m = rule_get(st, (uint32_t)id);
    if (!m) {
        struct rd_rule nr = {.rid = (uint32_t)id, .rule_id = kx_strdup(def->rule_id), .tag = tag};
        KX_VEC_PUSH(&st->rules, nr);
        while (st->by_rid.len <= (size_t)id)
            KX_VEC_PUSH(&st->by_rid, 0);
        st->by_rid.ptr[id] = (uint32_t)st->rules.len;
        m = &st->rules.ptr[st->rules.len - 1];
    } else {
        kx_free(tag);
    }
    m->window_ms = def->window_ms;
    m->watermark = wm;
    m->has_pivot = def->has_pivot;
    m->pivot = def->has_pivot ? (uint32_t)def->pivot : 0;
    if (rid)
        *rid = (uint32_t)id;
    if (status)
        *status = !any         ? ST_BASELINE_NEW
                  : !found     ? ST_BASELINE_CHANGED
                  : is_current ? ST_BASELINE_KEPT
                               : ST_BASELINE_REVERTED;
    return 0;
}

static int rd_rule_preload(struct st_store *base_, uint32_t rid, kad_err *err)
{
    /* nothing to load: the server answers each combination */
    if (!rule_get(rd_of(base_), rid))
        return kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
    return 0;
}

static int64_t rd_watermark(const struct st_store *base_, uint32_t rid)
{
    const struct rd_rule *m = rule_get((struct st_redis *)base_, rid);
    return m ? m->watermark : ST_TIME_NONE;
}

/* ======================================================================================== */
/* Batches                                                                                  */
/* ======================================================================================== */

static void rd_rollback(struct st_store *base_);

static void batch_forget(struct st_redis *st)
{
    blobs_clear(st);
    deferred_drop(st);
    pend_clear(st);
    claims_clear(st);
    st_cnt_settle(&st->counters, false);
    if (st->known.live)
        idx_fini(&st->known);
}

static int rd_begin(struct st_store *base_, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    batch_forget(st);
    /* the last commit could not settle its claims (the server was away): settle them before
       this batch claims anything, so that a retry of their events finds them settled */
    return st->unsettled ? settle_unsettled(st, err) : 0;
}

/* SETTLE each of ids[0..n): "<inst>:c" (commit) or released (rollback), into c[0..n).
   `eval`: as EVAL with the script's text (inside MULTI, where a NOSCRIPT could not be
   retried), else EVALSHA. */
static size_t add_settles(struct st_redis *st, struct rd_args *c, char *const *ids, size_t n,
                          bool commit, bool eval)
{
    for (size_t i = 0; i < n; i++) {
        if (eval) {
            ra_init(&c[i]);
            ra_adds(&c[i], "EVAL");
            ra_adds(&c[i], scripts[RS_SETTLE]);
            ra_adds(&c[i], "1");
        } else {
            ra_script(&c[i], st, RS_SETTLE, 1);
        }
        ra_key(&c[i], "kadet:alert:", "", ids[i], strlen(ids[i]));
        ra_adds(&c[i], st->claim_pend);
        ra_adds(&c[i], commit ? st->claim_done : "");
    }
    return n;
}

#ifdef KAD_TEST_HOOKS
/* KADET_TEST_REDIS_CRASH=N[:STEP]: SIGKILL in the Nth commit of this store at STEP: "local"
   (the default: before the local file's transaction), "settle" (the local file committed, the
   claims not settled on the server), "done" (both). tests/cli/test_state_redis.sh: the commit
   protocol. */
static void crash_point(const char *step)
{
    static long n;
    const char *v = getenv("KADET_TEST_REDIS_CRASH");
    if (!v)
        return;
    if (strcmp(step, "local") == 0)
        n++;
    const char *c = strchr(v, ':');
    if (atol(v) == n && strcmp(c ? c + 1 : "local", step) == 0)
        raise(SIGKILL);
}
#else
static void crash_point(const char *step) { (void)step; }
#endif

/* WAIT wait_n wait_ms as c (?wait=N: the writes so far on N replicas before going on). */
static void ra_wait(struct st_redis *st, struct rd_args *c)
{
    ra_init(c);
    ra_adds(c, "WAIT");
    ra_addf(c, "%d", st->wait_n);
    ra_addf(c, "%d", st->wait_ms ? st->wait_ms : RD_WAIT_MS);
}

/* WAIT's answer: fewer replicas than asked is a warning (once per store), not an error: the
   writes are on the master, only less safe from a failover. */
static void wait_check(struct st_redis *st, const redisReply *r)
{
    int64_t got = rd_int(r, -1);
    if (got >= st->wait_n)
        return;
    st->wait_short++;
    if (st->wait_short == 1)
        kx_log(KX_LOG_WARN,
               "state %s: WAIT: %lld of %d replicas acknowledged the batch's writes within %d "
               "ms (%s); further shortfalls are counted, not reported",
               st->base.path, (long long)got, st->wait_n, st->wait_ms ? st->wait_ms : RD_WAIT_MS,
               r && r->type == REDIS_REPLY_ERROR ? r->str : "a failover can lose them");
}

/* The queued observations sent and, with ?wait=N, acknowledged by N replicas (one round trip,
   none when nothing is queued and no WAIT is asked). */
static int flush_and_wait(struct st_redis *st, kad_err *err)
{
    if (st->wait_n <= 0)
        return deferred_flush(st, err);
    struct rd_args a;
    ra_wait(st, &a);
    redisReply *r = NULL;
    int rc = rd_run(st, &a, 1, &r, err);
    ra_free(&a);
    if (rc == 0)
        wait_check(st, r);
    replies_free(&r, 1);
    return rc;
}

/*
 * The commit protocol (docs/internals/state.md, "Batches, and the commit protocol"): the
 * batch's observations and claims are on the server already (claims pending under this
 * instance's name).
 *   1. the local file, in one transaction: positions (with the output's length), counters,
 *      and the batch's claimed ids as the "unsettled" list;
 *   2. the server: each claim settled, "<inst>:p" -> "<inst>:c" (one pipelined round trip);
 *   3. the unsettled list is emptied by the next commit's transaction (or at open).
 * The batch is committed once 1 is: a failure in 2 (the server away) leaves the claims
 * pending under this instance's name, which no other instance takes, and the next begin (or
 * open, after a crash) settles them before anything else.
 */
static int rd_commit(struct st_store *base_, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rdl_pos *pos = kx_calloc(st->pend_pos.len + 1, sizeof(*pos));
    for (size_t i = 0; i < st->pend_pos.len; i++)
        pos[i] = (struct rdl_pos){st->pend_pos.ptr[i].source, st->pend_pos.ptr[i].offset,
                                  st->pend_pos.ptr[i].line};
    struct rdl_batch b = {.inst = st->inst,
                          .pos = pos,
                          .npos = st->pend_pos.len,
                          .cnt = st->counters.ptr,
                          .ncnt = st->counters.len,
                          .claims = st->claims.ptr,
                          .nclaims = st->claims.len,
                          .blobs = st->blobs.ptr,
                          .nblobs = st->blobs.len};
    crash_point("local");
    /* the observations still queued reach the server before the positions move past them */
    int rc = flush_and_wait(st, err);
    if (rc == 0)
        rc = rdl_commit(st->local, &b, err);
    kx_free(pos);
    if (rc) {
        rd_rollback(base_);
        return rc;
    }
    st_cnt_settle(&st->counters, true);
    crash_point("settle");
    if (st->claims.len) {
        struct rd_args *c = kx_calloc(st->claims.len + 1, sizeof(*c));
        redisReply **r = kx_calloc(st->claims.len + 1, sizeof(*r));
        size_t n = add_settles(st, c, st->claims.ptr, st->claims.len, true, false);
        if (st->wait_n > 0) /* the settlements on the replicas too, in the same round trip */
            ra_wait(st, &c[n++]);
        kad_err serr;
        kad_err_clear(&serr);
        if (rd_pipe(st, c, n, r, &serr, "cannot settle the batch's alert claims") == 0) {
            if (st->wait_n > 0)
                wait_check(st, r[n - 1]);
            replies_free(r, n);
        } else {
            st->unsettled = true;
            char msg[KAD_ERR_MSG_MAX + 64];
            kad_err_format(&serr, msg, sizeof(msg));
            kx_log(KX_LOG_WARN, "%s (committed; settled by the next batch)", msg);
        }
        kx_free(c);
        kx_free(r);
    }
    crash_point("done");
    batch_forget(st);
    st->base.in_batch = false;
    return 0;
}

static void rd_rollback(struct st_store *base_)
{
    struct st_redis *st = rd_of(base_);
    if (st->claims.len && (st->c || st->cl)) {
        /* release the batch's pending claims (best effort: a claim left pending is settled by
           this instance's next run, docs/internals/state.md) */
        struct rd_args *c = kx_calloc(st->claims.len, sizeof(*c));
        redisReply **r = kx_calloc(st->claims.len, sizeof(*r));
        size_t n = add_settles(st, c, st->claims.ptr, st->claims.len, false, false);
        if (rd_run(st, c, n, r, NULL) == 0)
            replies_free(r, n);
        ra_free_all(c, n);
        kx_free(c);
        kx_free(r);
    }
    batch_forget(st);
    st->base.in_batch = false;
}

/* ======================================================================================== */
/* Terms                                                                                    */
/* ======================================================================================== */

static int check_rule(struct st_redis *st, uint32_t rid, struct rd_rule **m, kad_err *err)
{
    if (!(*m = rule_get(st, rid)))
        return kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
    return 0;
}

static int64_t term_ttl(int64_t window_ms)
{
    if (window_ms <= 0)
        return 0;
    return window_ms > INT64_MAX / 4 ? INT64_MAX / 2 : 2 * window_ms;
}

/* Remember this batch's answer for (rid, combo): [first, last] on the server after it. */
static void known_put(struct st_redis *st, uint32_t rid, const void *combo, size_t len,
                      int64_t first, int64_t last, bool alerted)
{
    uint64_t h = idx_hash(rid, combo, len);
    struct st_rec *r = idx_find(&st->known, rid, combo, len, h);
    if (!r)
        r = idx_insert(&st->known, rid, combo, len, h);
    r->first_seen = first;
    r->last_seen = last;
    r->flags = alerted ? REC_ALERTED : 0;
}

/* 16 hex digits, or "" for 0. */
static void origin_hex(uint64_t origin, char out[17])
{
    if (origin)
        snprintf(out, 17, "%016llx", (unsigned long long)origin);
    else
        out[0] = '\0';
}

/* The origin of a term value or a script's reply: 16 hex digits, else 0. */
static uint64_t origin_parse(const char *s, size_t n)
{
    if (n != 16)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval((unsigned char)s[i]);
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

static int rd_observe(struct st_store *base_, uint32_t rid, const void *combo, size_t len,
                      int64_t ts, uint64_t origin, struct st_term *prev, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_rule *m;
    int rc = check_rule(st, rid, &m, err);
    if (rc)
        return rc;
    /* answered before in this batch and inside what the server had then: the server would
       say KNOWN without writing (another instance can only have widened it since); an event
       at first_seen asks the server, whose answer carries the life's origin */
    struct st_rec *k = idx_find(&st->known, rid, combo, len, idx_hash(rid, combo, len));
    if (k && ts >= k->first_seen && ts <= k->last_seen && (!origin || ts != k->first_seen)) {
        if (prev) {
            prev->first_seen = k->first_seen;
            prev->last_seen = k->last_seen;
            prev->alerted = (k->flags & REC_ALERTED) != 0;
        }
        return ST_SEEN_KNOWN;
    }
    struct rd_args a;
    ra_script(&a, st, RS_OBSERVE, 3);
    ra_key(&a, m->tag, ":t:", combo, len);
    ra_key(&a, m->tag, ":z", NULL, 0);
    ra_key(&a, m->tag, ":m", NULL, 0);
    ra_addf(&a, "%lld", (long long)ts);
    ra_addf(&a, "%lld", (long long)m->window_ms);
    ra_addf(&a, "%lld", (long long)term_ttl(m->window_ms));
    ra_add(&a, combo, len);
    char ohex[17];
    origin_hex(origin, ohex);
    ra_adds(&a, ohex);
    /* answered before in this batch, and ts outside what the server had then but within the
       window of its last_seen: the server can only answer KNOWN (widening), whatever another
       instance did since (it can only have moved last_seen later, or begun a new life at a
       time after last_seen + W), and the life's origin is not this event's (a life this event
       began would have ts inside the interval). The answer is given now; the write is queued
       and rides along with the next round trip (or the commit). */
    if (k && (ts < k->first_seen || ts > k->last_seen) &&
        (m->window_ms <= 0 || ts <= k->last_seen || ts - k->last_seen <= m->window_ms)) {
        if (prev) {
            prev->first_seen = k->first_seen;
            prev->last_seen = k->last_seen;
            prev->alerted = (k->flags & REC_ALERTED) != 0;
            prev->origin = 0;
        }
        if (ts < k->first_seen)
            k->first_seen = ts;
        else
            k->last_seen = ts;
        if (m->watermark == ST_TIME_NONE || ts > m->watermark)
            m->watermark = ts;
        KX_VEC_PUSH(&st->deferred, a);
        if (st->deferred.len >= RD_DEFER_MAX && (rc = deferred_flush(st, err)) != 0)
            return rc;
        return ST_SEEN_KNOWN;
    }
    redisReply *r;
    if ((rc = rd_one(st, &a, &r, err, "cannot observe")) != 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        replies_free(&r, 1);
        return fail(st, err, "cannot observe", "unexpected reply from the script");
    }
    int dec = (int)rd_int(r->element[0], -1);
    struct st_term p = {
        .first_seen = rd_int(r->element[1], 0),
        .last_seen = rd_int(r->element[2], 0),
        .alerted = (rd_int(r->element[3], 0) & REC_ALERTED) != 0,
        .origin = r->element[5]->type == REDIS_REPLY_STRING
                      ? origin_parse(r->element[5]->str, r->element[5]->len)
                      : 0,
    };
    int64_t wm = rd_int(r->element[4], ts);
    replies_free(&r, 1);
    if (dec < ST_SEEN_NEW || dec > ST_SEEN_KNOWN)
        return fail(st, err, "cannot observe", "unexpected decision from the script");
    if (m->watermark == ST_TIME_NONE || wm > m->watermark)
        m->watermark = wm;
    if (prev)
        *prev = p;
    if (dec == ST_SEEN_KNOWN)
        known_put(st, rid, combo, len, ts < p.first_seen ? ts : p.first_seen,
                  ts > p.last_seen ? ts : p.last_seen, p.alerted);
    else
        known_put(st, rid, combo, len, ts, ts, false);
    return dec;
}

/* Parse "first last flags". */
static bool parse_term(const char *s, size_t n, struct st_term *t)
{
    char buf[80];
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    long long f, l;
    unsigned fl;
    char o[17] = "";
    int got = sscanf(buf, "%lld %lld %u %16s", &f, &l, &fl, o);
    if (got < 3)
        return false;
    t->first_seen = f;
    t->last_seen = l;
    t->alerted = (fl & REC_ALERTED) != 0;
    t->origin = got == 4 ? origin_parse(o, strlen(o)) : 0;
    return true;
}

static int rd_lookup(struct st_store *base_, uint32_t rid, const void *combo, size_t len,
                     struct st_term *out)
{
    struct st_redis *st = rd_of(base_);
    struct rd_rule *m = rule_get(st, rid);
    if (!m)
        return 0;
    struct rd_args a;
    ra_init(&a);
    ra_adds(&a, "GET");
    ra_key(&a, m->tag, ":t:", combo, len);
    redisReply *r;
    if (rd_one(st, &a, &r, NULL, "cannot read terms") != 0)
        return 0;
    struct st_term t;
    int found = r->type == REDIS_REPLY_STRING && parse_term(r->str, r->len, &t);
    replies_free(&r, 1);
    if (found && out)
        *out = t;
    return found;
}

/* ======================================================================================== */
/* Alerts, positions, counters                                                              */
/* ======================================================================================== */

static int rd_alert_claim(struct st_store *base_, uint32_t rid, const void *combo, size_t len,
                          const char *alert_id, int64_t ts, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_rule *m = rule_get(st, rid);
    if (combo && !m)
        return kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
    int64_t ttl = m ? term_ttl(m->window_ms) : RD_QUERY_ALERT_TTL_MS;
    struct rd_args c[4];
    redisReply *r[4];
    size_t n = 2;
    ra_script(&c[0], st, RS_CLAIM, 1);
    ra_key(&c[0], "kadet:alert:", "", alert_id, strlen(alert_id));
    ra_adds(&c[0], st->claim_pend);
    ra_addf(&c[0], "%lld", (long long)ttl);
    ra_init(&c[1]);
    ra_adds(&c[1], "ZADD");
    if (m)
        ra_key(&c[1], m->tag, ":a", NULL, 0);
    else
        ra_adds(&c[1], "kadet:qalerts");
    ra_addf(&c[1], "%lld", (long long)ts);
    ra_adds(&c[1], alert_id);
    if (combo) {
        ra_script(&c[2], st, RS_MARK, 1);
        ra_key(&c[2], m->tag, ":t:", combo, len);
        n = 3;
    }
    /* ?wait=N: the claim (and the term before it) on N replicas before the alert is emitted;
       a failover meanwhile makes the pipeline go again to the new master */
    if (st->wait_n > 0)
        ra_wait(st, &c[n++]);
    int rc = rd_pipe(st, c, n, r, err, "cannot record alert");
    if (rc)
        return rc;
    if (st->wait_n > 0)
        wait_check(st, r[n - 1]);
    int64_t v = rd_int(r[0], 0);
    replies_free(r, n);
    if (combo) {
        uint64_t h = idx_hash(rid, combo, len);
        struct st_rec *k = idx_find(&st->known, rid, combo, len, h);
        if (k)
            k->flags |= REC_ALERTED;
    }
    if (v == 2) { /* pending under this instance's name: ours unless this batch has it */
        for (size_t i = 0; i < st->claims.len; i++)
            if (strcmp(st->claims.ptr[i], alert_id) == 0)
                return 0;
        v = 1;
    }
    if (v == 1) {
        char *id = kx_strdup(alert_id);
        KX_VEC_PUSH(&st->claims, id);
    }
    return v == 1;
}

static int rd_alert_emitted(struct st_store *base_, const char *alert_id, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_args a;
    ra_init(&a);
    ra_adds(&a, "EXISTS");
    ra_key(&a, "kadet:alert:", "", alert_id, strlen(alert_id));
    redisReply *r;
    int rc = rd_one(st, &a, &r, err, "cannot read alerts");
    if (rc)
        return rc;
    int v = rd_int(r, 0) > 0;
    replies_free(&r, 1);
    return v;
}

static int rd_pos_set(struct st_store *base_, const char *source, int64_t offset, int64_t line,
                      kad_err *err)
{
    (void)err;
    struct st_redis *st = rd_of(base_);
    for (size_t i = 0; i < st->pend_pos.len; i++) {
        if (strcmp(st->pend_pos.ptr[i].source, source) == 0) {
            st->pend_pos.ptr[i].offset = offset;
            st->pend_pos.ptr[i].line = line;
            return 0;
        }
    }
    struct rd_pos p = {kx_strdup(source), offset, line};
    KX_VEC_PUSH(&st->pend_pos, p);
    return 0;
}

static int pos_one(const char *source, int64_t offset, int64_t line, void *ud)
{
    (void)source;
    struct st_pos *p = ud;
    p->offset = offset;
    p->line = line;
    return 1;
}

static int rd_pos_get(struct st_store *base_, const char *source, struct st_pos *out, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    for (size_t i = 0; i < st->pend_pos.len; i++) {
        if (strcmp(st->pend_pos.ptr[i].source, source) == 0) {
            out->offset = st->pend_pos.ptr[i].offset;
            out->line = st->pend_pos.ptr[i].line;
            return 0;
        }
    }
    int rc = rdl_positions(st->local, source, pos_one, out, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return kx_err_setf(err, KAD_ENOTFOUND, "no position recorded for '%s'", source);
    return 0;
}

struct pos_item {
    char *source;
    struct st_pos pos;
};
typedef KX_VEC(struct pos_item) pos_items;

static int pos_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pos_item *)a)->source, ((const struct pos_item *)b)->source);
}

static int pos_collect(const char *source, int64_t offset, int64_t line, void *ud)
{
    struct pos_item it = {kx_strdup(source), {offset, line}};
    KX_VEC_PUSH((pos_items *)ud, it);
    return 0;
}

/* The committed positions (the local file) overlaid with the open batch's, by source. */
static int pos_all(struct st_redis *st, pos_items *items, kad_err *err)
{
    int rc = rdl_positions(st->local, NULL, pos_collect, items, err);
    for (size_t i = 0; rc == 0 && i < st->pend_pos.len; i++) {
        const struct rd_pos *p = &st->pend_pos.ptr[i];
        size_t j = 0;
        while (j < items->len && strcmp(items->ptr[j].source, p->source) != 0)
            j++;
        if (j == items->len)
            pos_collect(p->source, p->offset, p->line, items);
        else
            items->ptr[j].pos = (struct st_pos){p->offset, p->line};
    }
    return rc;
}

static void pos_free(pos_items *items)
{
    for (size_t i = 0; i < items->len; i++)
        kx_free(items->ptr[i].source);
    KX_VEC_FREE(items);
}

static int rd_positions_each(struct st_store *base_,
                             int (*fn)(const char *source, const struct st_pos *pos, void *ud),
                             void *ud, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    pos_items items = {0};
    int rc = pos_all(st, &items, err);
    if (rc == 0 && items.len > 1)
        qsort(items.ptr, items.len, sizeof(items.ptr[0]), pos_cmp);
    for (size_t i = 0; i < items.len && rc == 0; i++)
        rc = fn(items.ptr[i].source, &items.ptr[i].pos, ud);
    pos_free(&items);
    return rc;
}

static int rd_counter_add(struct st_store *base_, const char *name, int64_t delta, kad_err *err)
{
    (void)err;
    st_cnt_add(&rd_of(base_)->counters, name, delta);
    return 0;
}

static int64_t rd_counter_get(struct st_store *base_, const char *name)
{
    return st_cnt_get(&rd_of(base_)->counters, name);
}

static int rd_counters_each(struct st_store *base_,
                            int (*fn)(const char *name, int64_t value, void *ud), void *ud)
{
    return st_cnt_each(&rd_of(base_)->counters, fn, ud);
}

/* ======================================================================================== */
/* Inspection: baselines and terms                                                          */
/* ======================================================================================== */

struct rd_base {
    struct st_rule_info info;
    char *rule_id, *name, *fields, *tag;
    uint64_t hash;
};
typedef KX_VEC(struct rd_base) rd_bases;

static void bases_free(rd_bases *b)
{
    for (size_t i = 0; i < b->len; i++) {
        kx_free(b->ptr[i].rule_id);
        kx_free(b->ptr[i].name);
        kx_free(b->ptr[i].fields);
        kx_free(b->ptr[i].tag);
    }
    KX_VEC_FREE(b);
}

static int base_cmp(const void *a, const void *b)
{
    const struct rd_base *x = a, *y = b;
    int c = strcmp(x->rule_id, y->rule_id);
    return c ? c : (x->info.rid > y->info.rid) - (x->info.rid < y->info.rid);
}

static char *hget_dup(const redisReply *h, const char *field, size_t *len)
{
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        if (strcmp(h->element[i]->str, field) == 0) {
            if (len)
                *len = h->element[i + 1]->len;
            return kx_strndup(h->element[i + 1]->str, h->element[i + 1]->len);
        }
    }
    if (len)
        *len = 0;
    return kx_strdup("");
}

static int64_t hget_int(const redisReply *h, const char *field, int64_t def)
{
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (strcmp(h->element[i]->str, field) == 0)
            return rd_int(h->element[i + 1], def);
    return def;
}

/* Every baseline on the server (rule_id NULL) or of one rule id, with its meta data and, when
   counts, its numbers of terms and alerts; ordered by rule id, then rid. */
static int bases_collect(struct st_redis *st, const char *rule_id, bool counts, rd_bases *out,
                         kad_err *err)
{
    struct rd_args c[2];
    redisReply *r[2];
    ra_init(&c[0]);
    ra_adds(&c[0], "HGETALL");
    ra_adds(&c[0], "kadet:baselines");
    ra_init(&c[1]);
    ra_adds(&c[1], "HGETALL");
    ra_adds(&c[1], "kadet:current");
    int rc = rd_pipe(st, c, 2, r, err, "cannot read rules");
    if (rc)
        return rc;
    for (size_t i = 0; r[0]->type == REDIS_REPLY_ARRAY && i + 1 < r[0]->elements; i += 2) {
        const redisReply *f = r[0]->element[i];
        if (f->len < 18 || f->str[16] != ':')
            continue;
        const char *rid_s = f->str + 17;
        if (rule_id && strcmp(rid_s, rule_id) != 0)
            continue;
        struct rd_base b;
        memset(&b, 0, sizeof(b));
        b.hash = strtoull(f->str, NULL, 16);
        b.rule_id = kx_strdup(rid_s);
        b.tag = make_tag(b.rule_id, b.hash);
        b.info.rid = (uint32_t)rd_int(r[0]->element[i + 1], 0);
        for (size_t j = 0; r[1]->type == REDIS_REPLY_ARRAY && j + 1 < r[1]->elements; j += 2)
            if (strcmp(r[1]->element[j]->str, b.rule_id) == 0)
                b.info.current = strncmp(r[1]->element[j + 1]->str, f->str, 16) == 0;
        KX_VEC_PUSH(out, b);
    }
    replies_free(r, 2);
    if (out->len == 0)
        return 0;
    /* meta data (and counts) of every baseline: one pipeline */
    size_t per = counts ? 3 : 1, n = out->len * per;
    struct rd_args *cm = kx_calloc(n, sizeof(*cm));
    redisReply **rm = kx_calloc(n, sizeof(*rm));
    for (size_t i = 0; i < out->len; i++) {
        struct rd_args *a = &cm[i * per];
        ra_init(a);
        ra_adds(a, "HGETALL");
        ra_key(a, out->ptr[i].tag, ":m", NULL, 0);
        if (counts) {
            ra_init(a + 1);
            ra_adds(a + 1, "ZCARD");
            ra_key(a + 1, out->ptr[i].tag, ":z", NULL, 0);
            ra_init(a + 2);
            ra_adds(a + 2, "ZCARD");
            ra_key(a + 2, out->ptr[i].tag, ":a", NULL, 0);
        }
    }
    rc = rd_run(st, cm, n, rm, err);
    ra_free_all(cm, n);
    for (size_t i = 0; rc == 0 && i < out->len; i++) {
        struct rd_base *b = &out->ptr[i];
        const redisReply *h = rm[i * per];
        if (is_err(h)) {
            rc = reply_fail(st, h, err, "cannot read rules");
            break;
        }
        size_t flen;
        b->name = hget_dup(h, "name", NULL);
        b->fields = hget_dup(h, "fields", &flen);
        b->info.rule_id = b->rule_id;
        b->info.name = b->name;
        b->info.logic_hash = b->hash;
        int nf = flen ? st_combo_decode(b->fields, flen, b->info.fields, ST_COMPONENTS_MAX) : 0;
        b->info.nfields = nf > 0 ? (size_t)nf : 0;
        b->info.window_ms = hget_int(h, "window", 0);
        b->info.first_loaded = hget_int(h, "first_loaded", 0);
        b->info.last_loaded = hget_int(h, "last_loaded", 0);
        b->info.watermark = hget_int(h, "wm", ST_TIME_NONE);
        const struct rd_rule *m = rule_get(st, b->info.rid);
        if (m && strcmp(m->tag, b->tag) == 0 && m->watermark != ST_TIME_NONE &&
            (b->info.watermark == ST_TIME_NONE || m->watermark > b->info.watermark))
            b->info.watermark = m->watermark;
        if (counts) {
            b->info.terms = (uint64_t)rd_int(rm[i * per + 1], 0);
            b->info.alerts = (uint64_t)rd_int(rm[i * per + 2], 0);
        }
    }
    replies_free(rm, n);
    kx_free(cm);
    kx_free(rm);
    if (rc) {
        bases_free(out);
        return rc;
    }
    qsort(out->ptr, out->len, sizeof(out->ptr[0]), base_cmp);
    return 0;
}

static int rd_rules_each(struct st_store *base_, const char *rule_id, st_rule_fn fn, void *ud,
                         kad_err *err)
{
    rd_bases b = {0};
    int rc = bases_collect(rd_of(base_), rule_id, true, &b, err);
    for (size_t i = 0; rc == 0 && i < b.len; i++)
        rc = fn(&b.ptr[i].info, ud);
    bases_free(&b);
    return rc;
}

struct rd_term {
    char *combo;
    size_t len;
    struct st_term t;
};
typedef KX_VEC(struct rd_term) rd_terms;

static void terms_free(rd_terms *t)
{
    for (size_t i = 0; i < t->len; i++)
        kx_free(t->ptr[i].combo);
    KX_VEC_FREE(t);
}

static int term_cmp(const void *a, const void *b)
{
    const struct rd_term *x = a, *y = b;
    if (x->t.first_seen != y->t.first_seen)
        return x->t.first_seen < y->t.first_seen ? -1 : 1;
    int c = memcmp(x->combo, y->combo, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Every term of the baseline with tag `tag` (members of its zset whose key still exists),
   sorted by first_seen, then combination. */
static int terms_load(struct st_redis *st, const char *tag, rd_terms *out, kad_err *err)
{
    struct rd_args a;
    ra_init(&a);
    ra_adds(&a, "ZRANGE");
    ra_key(&a, tag, ":z", NULL, 0);
    ra_adds(&a, "0");
    ra_adds(&a, "-1");
    redisReply *z;
    int rc = rd_one(st, &a, &z, err, "cannot read terms");
    if (rc)
        return rc;
    size_t n = z->type == REDIS_REPLY_ARRAY ? z->elements : 0;
    struct rd_args *c = kx_calloc(RD_CHUNK, sizeof(*c));
    redisReply **r = kx_calloc(RD_CHUNK, sizeof(*r));
    for (size_t i = 0; i < n && rc == 0; i += RD_CHUNK) {
        size_t k = n - i < RD_CHUNK ? n - i : RD_CHUNK;
        for (size_t j = 0; j < k; j++) {
            ra_init(&c[j]);
            ra_adds(&c[j], "GET");
            ra_key(&c[j], tag, ":t:", z->element[i + j]->str, z->element[i + j]->len);
        }
        rc = rd_run(st, c, k, r, err);
        ra_free_all(c, k);
        for (size_t j = 0; rc == 0 && j < k; j++) {
            struct rd_term t;
            if (!r[j] || r[j]->type != REDIS_REPLY_STRING ||
                !parse_term(r[j]->str, r[j]->len, &t.t))
                continue; /* expired */
            t.len = z->element[i + j]->len;
            t.combo = kx_strndup(z->element[i + j]->str, t.len);
            KX_VEC_PUSH(out, t);
        }
        if (rc == 0)
            replies_free(r, k);
    }
    kx_free(c);
    kx_free(r);
    freeReplyObject(z);
    if (rc) {
        terms_free(out);
        return rc;
    }
    if (out->len > 1)
        qsort(out->ptr, out->len, sizeof(out->ptr[0]), term_cmp);
    return 0;
}

static int rd_terms_each(struct st_store *base_, const struct st_filter *f, st_term_fn fn, void *ud,
                         kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    int idx[ST_COMPONENTS_MAX * 4];
    if (f && f->nconds > sizeof(idx) / sizeof(idx[0]))
        return kx_err_setf(err, KAD_ELIMIT, "too many conditions");
    rd_bases b = {0};
    int rc = bases_collect(st, f ? f->rule_id : NULL, false, &b, err);
    size_t emitted = 0;
    for (size_t i = 0; rc == 0 && i < b.len; i++) {
        const struct st_rule_info *ri = &b.ptr[i].info;
        if (!st_filter_wants(f, ri) || !st_filter_resolve(f, ri, idx))
            continue;
        rd_terms t = {0};
        if ((rc = terms_load(st, b.ptr[i].tag, &t, err)) != 0)
            break;
        for (size_t j = 0; rc == 0 && j < t.len; j++) {
            struct st_term_info ti = {.rule = ri, .term = t.ptr[j].t};
            int n = st_combo_decode(t.ptr[j].combo, t.ptr[j].len, ti.comps, ST_COMPONENTS_MAX);
            if (n < 0)
                continue;
            ti.ncomps = (size_t)n;
            if (!st_filter_match(f, idx, &ti))
                continue;
            rc = fn(&ti, ud);
            if (f && f->limit && ++emitted >= f->limit)
                break;
        }
        terms_free(&t);
        if (f && f->limit && emitted >= f->limit)
            break;
    }
    bases_free(&b);
    return rc;
}

static int rd_pivot_each(struct st_store *base_, uint32_t rid, const void *value, size_t len,
                         st_term_fn fn, void *ud, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_rule *m;
    int rc = check_rule(st, rid, &m, err);
    if (rc)
        return rc;
    if (!m->has_pivot)
        return kx_err_setf(err, KAD_EINVAL, "rule '%s' has no pivot", m->rule_id);
    rd_terms t = {0};
    if ((rc = terms_load(st, m->tag, &t, err)) != 0)
        return rc;
    struct st_rule_info ri = {.rid = rid,
                              .rule_id = m->rule_id,
                              .window_ms = m->window_ms,
                              .watermark = m->watermark,
                              .current = true};
    for (size_t j = 0; rc == 0 && j < t.len; j++) {
        struct st_term_info ti = {.rule = &ri, .term = t.ptr[j].t};
        int n = st_combo_decode(t.ptr[j].combo, t.ptr[j].len, ti.comps, ST_COMPONENTS_MAX);
        if (n <= (int)m->pivot || ti.comps[m->pivot].len != len ||
            (len && memcmp(ti.comps[m->pivot].ptr, value, len) != 0))
            continue;
        ti.ncomps = (size_t)n;
        rc = fn(&ti, ud);
    }
    terms_free(&t);
    return rc;
}

/* The alert ids of one zset (a baseline's, or the query rules' without baseline: rid 0). */
static int alerts_of(struct st_redis *st, const char *zkey, uint32_t rid,
                     int (*fn)(const struct st_alert_info *a, void *ud), void *ud, kad_err *err)
{
    redisReply *r;
    int rc = rd_cmd(st, &r, err, "cannot read alerts", "ZRANGE", zkey, "0", "-1", "WITHSCORES",
                    (char *)NULL);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        struct st_alert_info a = {
            .alert_id = r->element[i]->str,
            .rid = rid,
            .ts = (int64_t)strtod(r->element[i + 1]->str ? r->element[i + 1]->str : "0", NULL),
        };
        rc = fn(&a, ud);
    }
    freeReplyObject(r);
    return rc;
}

static int rd_alerts_each(struct st_store *base_,
                          int (*fn)(const struct st_alert_info *a, void *ud), void *ud,
                          kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    rd_bases b = {0};
    int rc = bases_collect(st, NULL, false, &b, err);
    for (size_t i = 0; rc == 0 && i < b.len; i++) {
        size_t n = strlen(b.ptr[i].tag) + 3;
        char *k = kx_malloc(n);
        snprintf(k, n, "%s:a", b.ptr[i].tag);
        rc = alerts_of(st, k, b.ptr[i].info.rid, fn, ud, err);
        kx_free(k);
    }
    bases_free(&b);
    if (rc == 0)
        rc = alerts_of(st, "kadet:qalerts", 0, fn, ud, err);
    return rc;
}

static int rd_stats(struct st_store *base_, struct st_stats *out, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    out->round_trips = st->round_trips;
    rd_bases b = {0};
    int rc = bases_collect(st, NULL, true, &b, err);
    if (rc)
        return rc;
    out->rules = b.len;
    for (size_t i = 0; i < b.len; i++) {
        out->terms += b.ptr[i].info.terms;
        out->alerts += b.ptr[i].info.alerts;
    }
    bases_free(&b);
    struct rd_args a;
    ra_init(&a);
    ra_adds(&a, "ZCARD");
    ra_adds(&a, "kadet:qalerts");
    redisReply *r;
    if ((rc = rd_one(st, &a, &r, err, "cannot count alerts")) != 0)
        return rc;
    out->alerts += (uint64_t)rd_int(r, 0);
    replies_free(&r, 1);
    pos_items items = {0};
    rc = pos_all(st, &items, err);
    out->positions = items.len;
    pos_free(&items);
    return rc;
}

/* ======================================================================================== */
/* Maintenance                                                                              */
/* ======================================================================================== */

/* prune_zset of alert ids in a cluster: their claims (kadet:alert:<id>) live in other slots
   than the zset, where a script cannot reach them: read a chunk of members, delete their
   claims and the members (one pipeline, routed), until none is left below cut. */
static int prune_claims_routed(struct st_redis *st, const char *zkey, const char *cut,
                               kad_err *err)
{
    for (;;) {
        struct rd_args a;
        ra_init(&a);
        bool all = strcmp(cut, "all") == 0;
        ra_adds(&a, all ? "ZRANGE" : "ZRANGEBYSCORE");
        ra_adds(&a, zkey);
        ra_adds(&a, all ? "0" : "-inf");
        if (all) {
            ra_addf(&a, "%d", RD_PRUNE_CHUNK - 1);
        } else {
            ra_addf(&a, "(%s", cut);
            ra_adds(&a, "LIMIT");
            ra_adds(&a, "0");
            ra_addf(&a, "%d", RD_PRUNE_CHUNK);
        }
        redisReply *m;
        int rc = rd_one(st, &a, &m, err, "cannot prune");
        if (rc)
            return rc;
        size_t n = m->type == REDIS_REPLY_ARRAY ? m->elements : 0;
        struct rd_args *c = kx_calloc(2 * n + 1, sizeof(*c));
        redisReply **r = kx_calloc(2 * n + 1, sizeof(*r));
        for (size_t i = 0; i < n; i++) {
            ra_init(&c[2 * i]);
            ra_adds(&c[2 * i], "DEL");
            ra_key(&c[2 * i], "kadet:alert:", "", m->element[i]->str, m->element[i]->len);
            ra_init(&c[2 * i + 1]);
            ra_adds(&c[2 * i + 1], "ZREM");
            ra_adds(&c[2 * i + 1], zkey);
            ra_add(&c[2 * i + 1], m->element[i]->str, m->element[i]->len);
        }
        freeReplyObject(m);
        if (n && (rc = rd_pipe(st, c, 2 * n, r, err, "cannot prune")) == 0)
            replies_free(r, 2 * n);
        kx_free(c);
        kx_free(r);
        if (rc || n < RD_PRUNE_CHUNK)
            return rc;
    }
}

/* Run the prune script on zset `zkey` until it has nothing more below `cut` ("all": every
   member); *keys += the member keys that existed. */
static int prune_zset(struct st_redis *st, const char *zkey, const char *prefix, const char *cut,
                      bool terms, uint64_t *keys, kad_err *err)
{
    if (st->cl && !terms)
        return prune_claims_routed(st, zkey, cut, err);
    for (;;) {
        struct rd_args a;
        ra_script(&a, st, RS_PRUNE, 1);
        ra_adds(&a, zkey);
        ra_adds(&a, prefix);
        ra_adds(&a, cut);
        ra_addf(&a, "%d", RD_PRUNE_CHUNK);
        ra_adds(&a, terms ? "t" : "a");
        redisReply *r;
        int rc = rd_one(st, &a, &r, err, "cannot prune");
        if (rc)
            return rc;
        int64_t seen =
            r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? rd_int(r->element[0], 0) : 0;
        if (keys && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            *keys += (uint64_t)rd_int(r->element[1], 0);
        replies_free(&r, 1);
        if (seen < RD_PRUNE_CHUNK)
            return 0;
    }
}

/* Delete the terms and alert ids of baseline b (cut "all"), or those below cut; *terms += the
   terms deleted. */
static int prune_base(struct st_redis *st, const struct rd_base *b, const char *cut,
                      uint64_t *terms, kad_err *err)
{
    size_t tl = strlen(b->tag) + 8;
    char *z = kx_malloc(tl), *pre = kx_malloc(tl), *az = kx_malloc(tl);
    snprintf(z, tl, "%s:z", b->tag);
    snprintf(pre, tl, "%s:t:", b->tag);
    snprintf(az, tl, "%s:a", b->tag);
    int rc = prune_zset(st, z, pre, cut, true, terms, err);
    if (rc == 0)
        rc = prune_zset(st, az, "kadet:alert:", cut, false, NULL, err);
    kx_free(z);
    kx_free(pre);
    kx_free(az);
    return rc;
}

/* Alerts removed = the alert zset's members below cut: counted before pruning. */
static int count_alerts(struct st_redis *st, const char *tag, const char *cut, uint64_t *n,
                        kad_err *err)
{
    struct rd_args a;
    ra_init(&a);
    ra_adds(&a, "ZCOUNT");
    ra_key(&a, tag, ":a", NULL, 0);
    ra_adds(&a, "-inf");
    if (strcmp(cut, "all") == 0)
        ra_adds(&a, "+inf");
    else
        ra_addf(&a, "(%s", cut);
    redisReply *r;
    int rc = rd_one(st, &a, &r, err, "cannot count alerts");
    if (rc == 0) {
        *n += (uint64_t)rd_int(r, 0);
        replies_free(&r, 1);
    }
    return rc;
}

/* Delete what remains of baseline b's keys and its entry (stale baselines, reset). */
static int drop_base(struct st_redis *st, const struct rd_base *b, bool keep_entry, kad_err *err)
{
    struct rd_args c[3];
    redisReply *r[3];
    size_t n = 1;
    ra_init(&c[0]);
    ra_adds(&c[0], "DEL");
    ra_key(&c[0], b->tag, ":z", NULL, 0);
    ra_key(&c[0], b->tag, ":a", NULL, 0);
    if (keep_entry) {
        ra_init(&c[1]);
        ra_adds(&c[1], "HDEL");
        ra_key(&c[1], b->tag, ":m", NULL, 0);
        ra_adds(&c[1], "wm");
        n = 2;
    } else {
        ra_key(&c[0], b->tag, ":m", NULL, 0);
        ra_init(&c[1]);
        ra_adds(&c[1], "HDEL");
        ra_adds(&c[1], "kadet:baselines");
        ra_bfield(&c[1], b->rule_id, b->hash);
        n = 2;
        if (b->info.current) { /* the rule's current baseline goes: the rule id is unknown */
            ra_init(&c[2]);
            ra_adds(&c[2], "HDEL");
            ra_adds(&c[2], "kadet:current");
            ra_adds(&c[2], b->rule_id);
            n = 3;
        }
    }
    int rc = rd_pipe(st, c, n, r, err, "cannot delete a baseline");
    if (rc == 0)
        replies_free(r, n);
    return rc;
}

static bool registered(struct st_redis *st, const struct rd_base *b)
{
    const struct rd_rule *m = rule_get(st, b->info.rid);
    return m && strcmp(m->tag, b->tag) == 0;
}

static int rd_prune(struct st_store *base_, const struct st_prune_opts *o,
                    struct st_prune_result *res, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    rd_bases b = {0};
    int rc = bases_collect(st, o->rule_id, false, &b, err);
    if (rc)
        return rc;
    if (o->rule_id && b.len == 0) {
        bases_free(&b);
        return kx_err_setf(err, KAD_ENOTFOUND, "no rule '%s' in the state", o->rule_id);
    }
    for (size_t i = 0; rc == 0 && i < b.len; i++) {
        const struct rd_base *x = &b.ptr[i];
        if (o->stale && !x->info.current && !registered(st, x)) {
            if ((rc = count_alerts(st, x->tag, "all", &res->alerts, err)) == 0 &&
                (rc = prune_base(st, x, "all", &res->terms, err)) == 0 &&
                (rc = drop_base(st, x, false, err)) == 0)
                res->rules++;
            continue;
        }
        int64_t w = o->older_than_ms > 0 ? o->older_than_ms : x->info.window_ms;
        int64_t wm = x->info.watermark;
        if (w <= 0 || wm == ST_TIME_NONE || wm < INT64_MIN + w + 1)
            continue;
        char cut[32];
        snprintf(cut, sizeof(cut), "%lld", (long long)(wm - w));
        if ((rc = count_alerts(st, x->tag, cut, &res->alerts, err)) == 0)
            rc = prune_base(st, x, cut, &res->terms, err);
    }
    bases_free(&b);
    if (st->known.live)
        idx_fini(&st->known);
    return rc;
}

static int rd_reset(struct st_store *base_, const char *rule_id, uint64_t *terms_removed,
                    kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    rd_bases b = {0};
    int rc = bases_collect(st, rule_id, false, &b, err);
    if (rc)
        return rc;
    if (rule_id && b.len == 0) {
        bases_free(&b);
        return kx_err_setf(err, KAD_ENOTFOUND, "no rule '%s' in the state", rule_id);
    }
    for (size_t i = 0; rc == 0 && i < b.len; i++) {
        const struct rd_base *x = &b.ptr[i];
        bool reg = registered(st, x);
        if ((rc = prune_base(st, x, "all", terms_removed, err)) == 0)
            rc = drop_base(st, x, reg, err);
        struct rd_rule *m = reg ? rule_get(st, x->info.rid) : NULL;
        if (m)
            m->watermark = ST_TIME_NONE;
    }
    bases_free(&b);
    if (rc == 0 && !rule_id) {
        rc = prune_zset(st, "kadet:qalerts", "kadet:alert:", "all", false, NULL, err);
        if (rc == 0) { /* this instance's positions and counters: its local file */
            rc = rdl_reset(st->local, err);
            st->counters.len = 0;
        }
    }
    if (st->known.live)
        idx_fini(&st->known);
    return rc;
}

uint64_t st_round_trips(const struct st_store *st)
{
    return st->ops == &st_redis_ops ? ((const struct st_redis *)st)->round_trips : 0;
}

void st_conn_get(const struct st_store *base, struct st_conn *out)
{
    memset(out, 0, sizeof(*out));
    out->up = true;
    if (base->ops != &st_redis_ops)
        return;
    struct st_redis *st = (struct st_redis *)base;
    out->up = atomic_load(&st->conn_up) != 0;
    out->lost = atomic_load(&st->conn_lost);
    out->reconnects = atomic_load(&st->conn_reconnects);
    pthread_mutex_lock(&st->conn_mu);
    snprintf(out->why, sizeof(out->why), "%s", st->conn_why);
    pthread_mutex_unlock(&st->conn_mu);
}

int st_ping(struct st_store *base, kad_err *err)
{
    if (base->ops != &st_redis_ops)
        return 0;
    struct st_redis *st = rd_of(base);
    long keep = st->reconnect_ms;
    st->reconnect_ms = 0; /* one attempt: no backoff */
    if (st->cl)
        rdc_set_retry(st->cl, 0, conn_note);
    redisReply *r = NULL;
    int rc = rd_cmd(st, &r, err, "PING", "PING", (const char *)NULL);
    if (rc == 0)
        replies_free(&r, 1);
    st->reconnect_ms = keep;
    if (st->cl)
        rdc_set_retry(st->cl, keep, conn_note);
    return rc;
}

#ifdef KAD_TEST_HOOKS
uint64_t st_test_round_trips(const struct st_store *st) { return st_round_trips(st); }

void st_test_redis_drop(struct st_store *st)
{
    if (st->ops == &st_redis_ops)
        drop_connection(rd_of(st));
}
#endif

/* ---- a connection of the alert index's own (state_int.h, st_redis_conn) ---------------- */

int st_redis_conn_open(struct st_redis_conn **out, const char *url, const char *password,
                       char **prefix, kad_err *err)
{
    *out = NULL;
    *prefix = NULL;
    struct st_store *base = NULL;
    int rc = rd_open(&base, url, ST_OPEN_RW, RD_CONN_ONLY, password, err);
    if (rc)
        return rc;
    *prefix = inst_key(rd_of(base)->inst, "");
    *out = (struct st_redis_conn *)base;
    return 0;
}

const char *st_redis_conn_url(const struct st_redis_conn *c)
{
    return ((const struct st_redis *)c)->base.path;
}

int st_redis_conn_run(struct st_redis_conn *c, size_t n, const int *argc,
                      const char *const *const *argv, redisReply **rep, kad_err *err)
{
    struct st_redis *st = (struct st_redis *)c;
    for (size_t i = 0; i < n; i++)
        if (argc[i] < 1 || argc[i] > RD_ARGS_MAX)
            return kx_err_setf(err, KAD_EINVAL, "a Redis command of %d arguments", argc[i]);
    struct rd_args *a = kx_calloc(n ? n : 1, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        ra_init(&a[i]);
        for (int k = 0; k < argc[i]; k++)
            ra_adds(&a[i], argv[i][k]);
    }
    int rc = rd_run(st, a, n, rep, err);
    ra_free_all(a, n);
    kx_free(a);
    return rc;
}

void st_redis_conn_close(struct st_redis_conn *c)
{
    if (c)
        rd_close(&((struct st_redis *)c)->base);
}

/* ---- rule blobs: this instance's, in its local file (docs/internals/state.md) ------------- */

static int rd_blob_set(struct st_store *base_, uint32_t rid, const void *data, size_t len,
                       kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_rule *m = rule_get(st, rid);
    if (!m)
        return kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
    if (!st->local)
        return kx_err_setf(err, KAD_EUNSUPPORTED, "state %s: no local file", st->base.path);
    void *copy = kx_malloc(len + 1);
    if (len)
        memcpy(copy, data, len);
    for (size_t i = 0; i < st->blobs.len; i++)
        if (strcmp(st->blobs.ptr[i].rule, m->tag) == 0) {
            kx_free((void *)st->blobs.ptr[i].data);
            st->blobs.ptr[i].data = copy;
            st->blobs.ptr[i].len = len;
            return 0;
        }
    struct rdl_blob b = {kx_strdup(m->tag), copy, len};
    KX_VEC_PUSH(&st->blobs, b);
    return 0;
}

static int rd_blob_get(struct st_store *base_, uint32_t rid, kx_buf *out, kad_err *err)
{
    struct st_redis *st = rd_of(base_);
    struct rd_rule *m = rule_get(st, rid);
    if (!m || !st->local)
        return KAD_ENOTFOUND;
    for (size_t i = 0; i < st->blobs.len; i++)
        if (strcmp(st->blobs.ptr[i].rule, m->tag) == 0) {
            kx_buf_reset(out);
            return st->blobs.ptr[i].len &&
                           kx_buf_add(out, st->blobs.ptr[i].data, st->blobs.ptr[i].len) != 0
                       ? kx_err_setf(err, KAD_ELIMIT, "a rule blob too large")
                       : 0;
        }
    return rdl_blob_get(st->local, m->tag, out, err);
}

/* ======================================================================================== */
/* The table                                                                                */
/* ======================================================================================== */

const struct st_ops st_redis_ops = {
    .name = "redis",
    .caps = 0, /* no rollback across a batch: observe and claims are decided on the server */
    .open = rd_open,
    .close = rd_close,
    .rule_register = rd_rule_register,
    .rule_preload = rd_rule_preload,
    .watermark = rd_watermark,
    .begin = rd_begin,
    .commit = rd_commit,
    .rollback = rd_rollback,
    .observe = rd_observe,
    .alerts_each = rd_alerts_each,
    .lookup = rd_lookup,
    .alert_claim = rd_alert_claim,
    .alert_emitted = rd_alert_emitted,
    .pos_set = rd_pos_set,
    .pos_get = rd_pos_get,
    .positions_each = rd_positions_each,
    .counter_add = rd_counter_add,
    .counter_get = rd_counter_get,
    .counters_each = rd_counters_each,
    .stats = rd_stats,
    .rules_each = rd_rules_each,
    .terms_each = rd_terms_each,
    .pivot_each = rd_pivot_each,
    .prune = rd_prune,
    .reset = rd_reset,
    .blob_set = rd_blob_set,
    .blob_get = rd_blob_get,
};

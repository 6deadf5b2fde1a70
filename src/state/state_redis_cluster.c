/*
 * state_redis_cluster.c - Redis Cluster for the Redis store (state_redis.c): the slot map read
 * with CLUSTER SLOTS, each command of a pipeline sent to the master owning its key's slot (the
 * nodes' pipelines written first, then their replies read: one round trip for all of them),
 * MOVED (the map is read again) and ASK (ASKING, then the command at the node named) followed,
 * TRYAGAIN, CLUSTERDOWN, READONLY and lost nodes retried with backoff while a failover
 * promotes a replica. The store's key layout keeps every script's keys in one slot (one hash
 * tag per baseline; docs/internals/state.md, "Redis Cluster").
 */
#include "state/state_redis_cluster.h"
#include "state/state_redis_tls.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RDC_SLOTS 16384
#define RDC_WINDOW_MS 30000L /* waves retried with backoff this long (rdc_set_retry) */
#define RDC_HOPS 16    /* redirections followed without a backoff */
#define RDC_NODES_MAX 256

struct rdc_node {
    char *host;
    int port;
    redisContext *c;
    bool dirty; /* written to since its last WAIT */
    /* this wave */
    bool sent, failed;
};

struct rdc {
    KX_VEC(struct rdc_node) nodes;
    int32_t slot[RDC_SLOTS]; /* node index, -1 unknown */
    size_t nseeds;           /* nodes[0..nseeds) are the URL's seeds */
    size_t masters;
    bool stale; /* read the slot map before the next wave */
    rdc_dial_fn dial;
    void *ud;
    char *path;
    char last_err[200];
    long window_ms;                          /* rdc_set_retry */
    void (*note)(void *ud, const char *why); /* a wave failed and is retried */
};

/* ---- slots ------------------------------------------------------------------------------- */

static uint16_t crc16(const unsigned char *p, size_t n)
{
    /* CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection (Redis Cluster's) */
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned rdc_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open + 1 - key);
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return crc16((const unsigned char *)open + 1, (size_t)(close - open - 1)) &
                   (RDC_SLOTS - 1);
    }
    return crc16((const unsigned char *)key, len) & (RDC_SLOTS - 1);
}

/* The slot of a command's key, -1 for a command without key (MULTI, EXEC, WAIT, PING...). */
static int cmd_slot(const struct rd_args *a)
{
    if (a->n < 2)
        return -1;
    const char *c = a->v[0];
    if (strcasecmp(c, "EVAL") == 0 || strcasecmp(c, "EVALSHA") == 0)
        return a->n >= 4 && atoi(a->v[2]) > 0 ? (int)rdc_key_slot(a->v[3], a->l[3]) : -1;
    if (strcasecmp(c, "WAIT") == 0 || strcasecmp(c, "SCRIPT") == 0 ||
        strcasecmp(c, "CLUSTER") == 0 || strcasecmp(c, "INFO") == 0 ||
        strcasecmp(c, "PING") == 0)
        return -1;
    return (int)rdc_key_slot(a->v[1], a->l[1]);
}

/* ---- nodes and the map --------------------------------------------------------------------- */

static int node_get(struct rdc *cl, const char *host, size_t hlen, int port)
{
    for (size_t i = 0; i < cl->nodes.len; i++)
        if (cl->nodes.ptr[i].port == port && strlen(cl->nodes.ptr[i].host) == hlen &&
            memcmp(cl->nodes.ptr[i].host, host, hlen) == 0)
            return (int)i;
    if (cl->nodes.len >= RDC_NODES_MAX)
        return -1;
    struct rdc_node nd = {.host = kx_strndup(host, hlen), .port = port};
    KX_VEC_PUSH(&cl->nodes, nd);
    return (int)cl->nodes.len - 1;
}

static void node_drop(struct rdc_node *nd)
{
    if (nd->c)
        rd_io_free(nd->c);
    nd->c = NULL;
}

/* Connected node i: 0; 1 unreachable (last_err); < 0 fatal (err). */
static int node_connect(struct rdc *cl, int i, kad_err *err)
{
    struct rdc_node *nd = &cl->nodes.ptr[i];
    if (nd->c)
        return 0;
    char why[200];
    int rc = cl->dial(cl->ud, nd->host, nd->port, &nd->c, why, sizeof(why), err);
    if (rc > 0)
        snprintf(cl->last_err, sizeof(cl->last_err), "%s", why);
    return rc;
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the node (created if new). */
static int redirect_node(struct rdc *cl, const char *s, int *slot)
{
    const char *sp = strchr(s, ' ');
    if (!sp)
        return -1;
    char *e;
    long sl = strtol(sp + 1, &e, 10);
    if (*e != ' ' || sl < 0 || sl >= RDC_SLOTS)
        return -1;
    const char *hp = e + 1, *colon = strrchr(hp, ':');
    if (!colon)
        return -1;
    long port = strtol(colon + 1, &e, 10);
    if (port < 1 || port > 65535)
        return -1;
    const char *h = hp, *hend = colon;
    if (*h == '[' && hend > h + 1 && hend[-1] == ']') { /* [IPv6]:port */
        h++;
        hend--;
    }
    *slot = (int)sl;
    return node_get(cl, h, (size_t)(hend - h), (int)port);
}

/* CLUSTER SLOTS from node i into the map: 0 read; 1 not from this node. */
static int map_from(struct rdc *cl, int i)
{
    const char *av[2] = {"CLUSTER", "SLOTS"};
    redisReply *r = rd_io_command(cl->nodes.ptr[i].c, 2, av);
    if (!r) {
        snprintf(cl->last_err, sizeof(cl->last_err), "%s:%d: %s", cl->nodes.ptr[i].host,
                 cl->nodes.ptr[i].port, cl->nodes.ptr[i].c->errstr);
        node_drop(&cl->nodes.ptr[i]);
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        snprintf(cl->last_err, sizeof(cl->last_err), "%s:%d: CLUSTER SLOTS: %s",
                 cl->nodes.ptr[i].host, cl->nodes.ptr[i].port,
                 r->type == REDIS_REPLY_ERROR ? r->str : "no slot assigned");
        freeReplyObject(r);
        return 1;
    }
    for (size_t s = 0; s < RDC_SLOTS; s++)
        cl->slot[s] = -1;
    KX_VEC(int) seen = {0};
    char *asked = kx_strdup(cl->nodes.ptr[i].host);
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        const redisReply *m = e->element[2];
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        if (m->element[0]->type != REDIS_REPLY_STRING || lo < 0 || hi >= RDC_SLOTS || lo > hi)
            continue;
        /* an empty host is the node asked's; "?" an unknown one */
        const char *h = m->element[0]->len ? m->element[0]->str : asked;
        if (strcmp(h, "?") == 0)
            continue;
        int nd = node_get(cl, h, strlen(h), (int)m->element[1]->integer);
        if (nd < 0)
            continue;
        for (long long s = lo; s <= hi; s++)
            cl->slot[s] = nd;
        bool dup = false;
        for (size_t j = 0; j < seen.len; j++)
            dup |= seen.ptr[j] == nd;
        if (!dup)
            KX_VEC_PUSH(&seen, nd);
    }
    cl->masters = seen.len;
    KX_VEC_FREE(&seen);
    kx_free(asked);
    freeReplyObject(r);
    cl->stale = false;
    return 0;
}

/* Read the slot map from the first node that answers (connected ones first): 0, 1 none did
   (last_err), < 0 fatal. */
static int map_refresh(struct rdc *cl, kad_err *err)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cl->nodes.len; i++) {
            if ((pass == 0) != (cl->nodes.ptr[i].c != NULL))
                continue;
            int rc = node_connect(cl, (int)i, err);
            if (rc < 0)
                return rc;
            if (rc == 0 && map_from(cl, (int)i) == 0)
                return 0;
        }
    }
    return 1;
}

bool rdc_detect(redisContext *c)
{
    const char *av[2] = {"CLUSTER", "INFO"};
    redisReply *r = rd_io_command(c, 2, av);
    bool yes = r && r->type == REDIS_REPLY_STRING;
    if (r)
        freeReplyObject(r);
    return yes;
}

int rdc_open(struct rdc **out, redisContext *c, const char *host, int port,
             const char *const *seed_hosts, const int *seed_ports, size_t nseeds,
             rdc_dial_fn dial, void *ud, const char *path, kad_err *err)
{
    struct rdc *cl = kx_calloc(1, sizeof(*cl));
    cl->dial = dial;
    cl->ud = ud;
    cl->path = kx_strdup(path);
    cl->window_ms = RDC_WINDOW_MS;
    for (size_t i = 0; i < nseeds; i++)
        node_get(cl, seed_hosts[i], strlen(seed_hosts[i]), seed_ports[i]);
    cl->nseeds = cl->nodes.len;
    int first = node_get(cl, host, strlen(host), port);
    cl->nodes.ptr[first].c = c;
    int rc = map_from(cl, first);
    if (rc == 0 && cl->masters == 0) {
        snprintf(cl->last_err, sizeof(cl->last_err), "no slot is assigned to a master");
        rc = 1;
    }
    if (rc) {
        rc = kx_err_setf(err, KAD_EUNAVAIL, "state %s: Redis Cluster: %s", path, cl->last_err);
        rdc_close(cl);
        return rc;
    }
    *out = cl;
    return 0;
}

size_t rdc_masters(const struct rdc *cl) { return cl->masters; }

void rdc_drop(struct rdc *cl)
{
    for (size_t i = 0; i < cl->nodes.len; i++)
        node_drop(&cl->nodes.ptr[i]);
}

void rdc_close(struct rdc *cl)
{
    if (!cl)
        return;
    for (size_t i = 0; i < cl->nodes.len; i++) {
        node_drop(&cl->nodes.ptr[i]);
        kx_free(cl->nodes.ptr[i].host);
    }
    KX_VEC_FREE(&cl->nodes);
    kx_free(cl->path);
    kx_free(cl);
}

/* ---- one pipeline, routed ------------------------------------------------------------------- */

void rdc_set_retry(struct rdc *cl, long window_ms, void (*note)(void *ud, const char *why))
{
    cl->window_ms = window_ms;
    cl->note = note;
}

int64_t rd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rd_backoff_sleep(int attempt, int64_t deadline_ms)
{
    static _Thread_local uint64_t seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20 ^ (uint64_t)(uintptr_t)&seed ^ (uint64_t)getpid()) | 1;
    }
    seed ^= seed << 13; /* xorshift64 */
    seed ^= seed >> 7;
    seed ^= seed << 17;
    long ms = 50L << (attempt < 5 ? attempt : 5);
    if (ms > 1000)
        ms = 1000;
    ms = ms / 2 + (long)(seed % (uint64_t)(ms / 2 + 1));
    int64_t left = deadline_ms - rd_mono_ms();
    if (left < ms)
        ms = left > 0 ? (long)left : 0;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A unit: one command, or MULTI ... EXEC (sent together to one node). */
struct unit {
    size_t first, n;
    int slot;  /* -1: none */
    int ask;   /* node named by ASK, -1 */
    int node;  /* this wave's target, -1 */
    bool wait; /* WAIT: to every dirty master */
    bool done;
};

static bool is_cmd(const struct rd_args *a, const char *name)
{
    return a->n > 0 && strcasecmp(a->v[0], name) == 0;
}

/* What an error reply asks for: 0 nothing (a reply), 1 MOVED, 2 ASK, 3 retry after backoff. */
static int redirection(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ERROR)
        return 0;
    if (strncmp(r->str, "MOVED ", 6) == 0)
        return 1;
    if (strncmp(r->str, "ASK ", 4) == 0)
        return 2;
    static const char *const again[] = {"TRYAGAIN", "CLUSTERDOWN", "READONLY", "MASTERDOWN",
                                        "LOADING", "EXECABORT"};
    for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++)
        if (strncmp(r->str, again[i], strlen(again[i])) == 0)
            return 3;
    return 0;
}

static int any_node(struct rdc *cl)
{
    for (size_t s = 0; s < RDC_SLOTS; s++)
        if (cl->slot[s] >= 0)
            return cl->slot[s];
    return -1;
}

static bool append(redisContext *c, const struct rd_args *a)
{
    return redisAppendCommandArgv(c, a->n, (const char **)a->v, a->l) == REDIS_OK;
}

static bool flush(redisContext *c) { return rd_io_flush(c) == REDIS_OK; }

static void node_fail(struct rdc *cl, struct rdc_node *nd)
{
    snprintf(cl->last_err, sizeof(cl->last_err), "%s:%d: %s", nd->host, nd->port,
             nd->c && nd->c->errstr[0] ? nd->c->errstr : "connection lost");
    kx_log(KX_LOG_WARN, "state %s: %s; finding the cluster's masters again", cl->path,
           cl->last_err);
    node_drop(nd);
    nd->failed = true;
    cl->stale = true;
}

static struct unit *units_of(struct rd_args *cmds, size_t n, size_t *nu)
{
    struct unit *u = kx_calloc(n + 1, sizeof(*u));
    size_t k = 0;
    int prev_slot = -1;
    for (size_t i = 0; i < n;) {
        struct unit *x = &u[k++];
        x->first = i;
        x->n = 1;
        x->ask = -1;
        x->wait = is_cmd(&cmds[i], "WAIT");
        if (is_cmd(&cmds[i], "MULTI"))
            while (i + x->n < n && !is_cmd(&cmds[i + x->n - 1], "EXEC") &&
                   !(x->n > 1 && is_cmd(&cmds[i + x->n - 1], "DISCARD")))
                x->n++;
        x->slot = -1;
        for (size_t j = i; j < i + x->n && x->slot < 0; j++)
            x->slot = cmd_slot(&cmds[j]);
        if (x->slot < 0 && !x->wait)
            x->slot = prev_slot;
        prev_slot = x->slot;
        i += x->n;
    }
    *nu = k;
    return u;
}

int rdc_exchange(struct rdc *cl, struct rd_args *cmds, size_t n, redisReply **rep,
                 uint64_t *round_trips, kad_err *err)
{
    size_t nu;
    struct unit *u = units_of(cmds, n, &nu);
    for (size_t i = 0; i < n; i++)
        rep[i] = NULL;
    int tries = 0, hops = 0, rc = 0;
    int64_t deadline = -1; /* from the first failed wave: cl->window_ms */
    bool need_backoff = false;
    redisReply **tmp = kx_calloc(n + 1, sizeof(*tmp));
    for (;;) {
        size_t left = 0;
        for (size_t k = 0; k < nu; k++)
            left += !u[k].done;
        if (left == 0)
            break;
        if (need_backoff || hops > RDC_HOPS) {
            if (deadline < 0)
                deadline = rd_mono_ms() + cl->window_ms;
            if (need_backoff && cl->note)
                cl->note(cl->ud, cl->last_err);
            if (rd_mono_ms() >= deadline) {
                rc = kx_err_setf(err, KAD_EUNAVAIL,
                                 "state %s: Redis Cluster unreachable after %d attempts in %ld "
                                 "ms (reconnect_ms=): %s",
                                 cl->path, tries + 1, cl->window_ms, cl->last_err);
                break;
            }
            rd_backoff_sleep(tries++, deadline);
            hops = 0;
        }
        need_backoff = false;
        if (cl->stale) {
            int m = map_refresh(cl, err);
            if (m < 0) {
                rc = m;
                break;
            }
            if (m > 0) {
                need_backoff = true;
                continue;
            }
        }
        for (size_t i = 0; i < cl->nodes.len; i++)
            cl->nodes.ptr[i].sent = cl->nodes.ptr[i].failed = false;
        /* targets; connect */
        bool any_wait = false;
        for (size_t k = 0; k < nu; k++) {
            struct unit *x = &u[k];
            x->node = -1;
            if (x->done)
                continue;
            if (x->wait) {
                any_wait = true;
                continue;
            }
            int nd = x->ask >= 0 ? x->ask : x->slot >= 0 ? cl->slot[x->slot] : any_node(cl);
            if (nd < 0) { /* a slot without master: the map is being changed */
                snprintf(cl->last_err, sizeof(cl->last_err), "slot %d has no master", x->slot);
                cl->stale = need_backoff = true;
                continue;
            }
            int c = cl->nodes.ptr[nd].failed ? 1 : node_connect(cl, nd, err);
            if (c < 0) {
                rc = c;
                goto out;
            }
            if (c > 0) {
                cl->nodes.ptr[nd].failed = true;
                cl->stale = need_backoff = true;
                continue;
            }
            x->node = nd;
            cl->nodes.ptr[nd].dirty = true; /* to be waited for */
        }
        /* WAIT goes to the masters written to (by this wave too), or to one of them */
        if (any_wait) {
            bool dirty = false;
            for (size_t i = 0; i < cl->nodes.len; i++)
                dirty |= cl->nodes.ptr[i].dirty && cl->nodes.ptr[i].c;
            if (!dirty) {
                int nd = any_node(cl);
                if (nd >= 0 && node_connect(cl, nd, err) == 0)
                    cl->nodes.ptr[nd].dirty = true;
            }
        }
        /* write every node's pipeline, in the commands' order */
        for (size_t k = 0; k < nu; k++) {
            struct unit *x = &u[k];
            if (x->node < 0)
                continue;
            struct rdc_node *nd = &cl->nodes.ptr[x->node];
            if (nd->failed)
                continue;
            bool ok = true;
            if (x->ask >= 0) {
                const char *av[1] = {"ASKING"};
                ok = redisAppendCommandArgv(nd->c, 1, av, NULL) == REDIS_OK;
            }
            for (size_t j = x->first; ok && j < x->first + x->n; j++)
                ok = append(nd->c, &cmds[j]);
            if (!ok)
                node_fail(cl, nd);
            nd->sent = true;
        }
        for (size_t k = 0; any_wait && k < nu; k++) {
            if (!u[k].wait || u[k].done)
                continue;
            for (size_t i = 0; i < cl->nodes.len; i++) {
                struct rdc_node *nd = &cl->nodes.ptr[i];
                if (!nd->dirty || !nd->c || nd->failed)
                    continue;
                if (!append(nd->c, &cmds[u[k].first]))
                    node_fail(cl, nd);
                nd->sent = true;
            }
        }
        bool sent = false;
        for (size_t i = 0; i < cl->nodes.len; i++) {
            struct rdc_node *nd = &cl->nodes.ptr[i];
            if (nd->sent && !nd->failed && !flush(nd->c))
                node_fail(cl, nd);
            sent |= nd->sent;
        }
        if (sent && round_trips)
            ++*round_trips;
        /* read the replies, node by node, in the order written */
        for (size_t k = 0; k < nu; k++) {
            struct unit *x = &u[k];
            if (x->node < 0)
                continue;
            struct rdc_node *nd = &cl->nodes.ptr[x->node];
            bool ok = !nd->failed;
            if (ok && x->ask >= 0) {
                void *r = NULL;
                ok = rd_io_get_reply(nd->c, &r) == REDIS_OK;
                if (r)
                    freeReplyObject(r);
            }
            for (size_t j = x->first; j < x->first + x->n; j++) {
                void *r = NULL;
                if (ok)
                    ok = rd_io_get_reply(nd->c, &r) == REDIS_OK;
                tmp[j] = r;
            }
            if (!ok) {
                if (!nd->failed)
                    node_fail(cl, nd);
                need_backoff = true;
                for (size_t j = x->first; j < x->first + x->n; j++)
                    if (tmp[j]) {
                        freeReplyObject(tmp[j]);
                        tmp[j] = NULL;
                    }
                continue;
            }
            int what = 0, slot = -1, to = -1;
            for (size_t j = x->first; j < x->first + x->n && !what; j++) {
                what = redirection(tmp[j]);
                if (what == 1 || what == 2)
                    to = redirect_node(cl, tmp[j]->str, &slot);
                if (what == 3)
                    snprintf(cl->last_err, sizeof(cl->last_err), "%s:%d: %s", nd->host,
                             nd->port, tmp[j]->str);
            }
            if (what == 0) {
                for (size_t j = x->first; j < x->first + x->n; j++)
                    rep[j] = tmp[j];
                x->done = true;
                continue;
            }
            for (size_t j = x->first; j < x->first + x->n; j++)
                if (tmp[j]) {
                    freeReplyObject(tmp[j]);
                    tmp[j] = NULL;
                }
            x->ask = -1;
            if (what == 1 && to >= 0) {
                cl->slot[slot] = to;
                cl->stale = true; /* a slot moved: others probably did too */
                hops++;
            } else if (what == 2 && to >= 0) {
                x->ask = to;
                hops++;
            } else {
                cl->stale = true;
                need_backoff = true;
            }
        }
        /* WAIT: every node it went to answered, the smallest count is the reply */
        for (size_t k = 0; any_wait && k < nu; k++) {
            struct unit *x = &u[k];
            if (!x->wait || x->done)
                continue;
            redisReply *best = NULL;
            bool all = true;
            for (size_t i = 0; i < cl->nodes.len; i++) {
                struct rdc_node *nd = &cl->nodes.ptr[i];
                if (!nd->sent || !nd->dirty)
                    continue;
                void *r = NULL;
                if (nd->failed || rd_io_get_reply(nd->c, &r) != REDIS_OK) {
                    if (!nd->failed)
                        node_fail(cl, nd);
                    all = false;
                    continue;
                }
                redisReply *rr = r;
                if (rr->type == REDIS_REPLY_INTEGER)
                    nd->dirty = false;
                if (!best || (rr->type == REDIS_REPLY_INTEGER &&
                              (best->type != REDIS_REPLY_INTEGER || rr->integer < best->integer))) {
                    if (best)
                        freeReplyObject(best);
                    best = rr;
                } else {
                    freeReplyObject(rr);
                }
            }
            if (all && best) {
                rep[x->first] = best;
                x->done = true;
            } else {
                if (best)
                    freeReplyObject(best);
                need_backoff = true;
            }
        }
    }
out:
    if (rc)
        for (size_t i = 0; i < n; i++)
            if (rep[i]) {
                freeReplyObject(rep[i]);
                rep[i] = NULL;
            }
    kx_free(tmp);
    kx_free(u);
    return rc;
}

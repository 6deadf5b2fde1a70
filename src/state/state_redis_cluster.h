/*
 * state_redis_cluster.h - private to the Redis store: one command as the store builds it
 * (struct rd_args), and Redis Cluster support (state_redis_cluster.c): the slot map, routing
 * of a pipeline to the masters that own its keys' slots, MOVED / ASK redirections, retries of
 * TRYAGAIN / CLUSTERDOWN and of lost nodes with backoff, and WAIT sent to the masters a
 * pipeline wrote to. docs/internals/state.md, "Redis Cluster".
 */
#ifndef KAD_STATE_REDIS_CLUSTER_H
#define KAD_STATE_REDIS_CLUSTER_H

#include "state/state_int.h"

#include <hiredis/hiredis.h>

#define RD_ARGS_MAX 24

/* One command: arguments owned (copied). */
struct rd_args {
    int n;
    int script; /* RS_* when this is an EVALSHA, else -1 */
    char *v[RD_ARGS_MAX];
    size_t l[RD_ARGS_MAX];
};

/*
 * Opens a connection to one node, ready for commands (authenticated, scripts loaded): 0 and
 * *out; 1 when the node cannot be reached (why says so); < 0 a failure that retrying does not
 * cure (err). The store's (state_redis.c, rd_dial).
 */
typedef int (*rdc_dial_fn)(void *ud, const char *host, int port, redisContext **out, char *why,
                           size_t whylen, kad_err *err);

struct rdc;

/* The hash slot of a key (CRC16 of the key, or of its hash tag: the bytes between the first
   '{' and the next '}' when there are any, modulo 16384). */
unsigned rdc_key_slot(const char *key, size_t len);

/* Whether the node behind c runs in cluster mode (CLUSTER INFO answers). */
bool rdc_detect(redisContext *c);

/*
 * Cluster mode on connection c (to seed host:port, which answered CLUSTER INFO; c is taken
 * over): reads the slot map. The other seeds are kept to find the cluster again when every
 * node known is lost. 0, or an error (err; c freed).
 */
int rdc_open(struct rdc **out, redisContext *c, const char *host, int port,
             const char *const *seed_hosts, const int *seed_ports, size_t nseeds,
             rdc_dial_fn dial, void *ud, const char *path, kad_err *err);

/*
 * Send n commands, each to the master of its key's slot (a MULTI ... EXEC span goes as one
 * unit to the slot of its first key; a keyless command to the slot of the unit before it, or
 * any master; WAIT to every master written to since its last WAIT, the smallest answer kept),
 * the nodes' pipelines in parallel: one round trip (*round_trips += 1 per wave). Redirections
 * are followed, the slot map read again after MOVED or a lost node, TRYAGAIN / CLUSTERDOWN /
 * lost nodes retried with backoff for the store's reconnect_ms (30 s by default); then
 * KAD_EUNAVAIL. rep[i] is command i's
 * reply (error replies other than redirections are replies).
 */
int rdc_exchange(struct rdc *cl, struct rd_args *cmds, size_t n, redisReply **rep,
                 uint64_t *round_trips, kad_err *err);

/* How long rdc_exchange retries before KAD_EUNAVAIL (the URL's reconnect_ms=), and who hears
   of a wave that failed and is retried (note(ud, why), the store: its connection status). */
void rdc_set_retry(struct rdc *cl, long window_ms, void (*note)(void *ud, const char *why));

/* Reconnection, shared by the store and the cluster: the sleep before retry `attempt` (0, 1,
   ...): 50 ms doubling to 1 s, at a random point of its upper half ("equal jitter"), so that
   instances that lost the server together do not retry in step; never past deadline_ms
   (rd_mono_ms's clock). */
void rd_backoff_sleep(int attempt, int64_t deadline_ms);
int64_t rd_mono_ms(void);

/* The number of masters in the slot map, and of known nodes connected. */
size_t rdc_masters(const struct rdc *cl);

/* Close every node's connection (they are reopened on use; tests). */
void rdc_drop(struct rdc *cl);
void rdc_close(struct rdc *cl);

#endif

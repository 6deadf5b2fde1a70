/*
 * state_redis_local.h - private to the Redis store: its local file (one SQLite database per
 * instance on this host) with the instance's input positions, counters and the alert claims
 * of its last committed batch until the server has them settled (state_redis_local.c).
 */
#ifndef KAD_STATE_REDIS_LOCAL_H
#define KAD_STATE_REDIS_LOCAL_H

#include "state/state_int.h"

struct rd_local;

struct rdl_pos {
    const char *source;
    int64_t offset, line;
};

/* What one commit writes, in one local transaction. */
struct rdl_batch {
    const char *inst;
    const struct rdl_pos *pos;
    size_t npos;
    const struct st_counter *cnt; /* value + pending is written for those with pending != 0 */
    size_t ncnt;
    bool all_counters;  /* write every counter (a migration), not only the changed ones */
    char *const *claims; /* the batch's claimed alert ids: replace the unsettled list */
    size_t nclaims;
    const struct rdl_blob *blobs; /* rule blobs set in the batch (st_blob_set) */
    size_t nblobs;
};

/* A rule's blob (the saved state of an EQL sequence or ES|QL rule), by the rule's tag. */
struct rdl_blob {
    const char *rule;
    const void *data;
    size_t len;
};

/* Open (RW: create, with parent directories, and lock; RO: a missing file is an empty one).
   *created: nothing has ever been committed to it. */
int rdl_open(struct rd_local **out, const char *path, bool ro, const char *inst, bool *created,
             kad_err *err);
void rdl_close(struct rd_local *l);
const char *rdl_path(const struct rd_local *l);
int rdl_commit(struct rd_local *l, const struct rdl_batch *b, kad_err *err);
/* The unsettled list is empty (the server has settled every claim in it). */
int rdl_settled(struct rd_local *l, kad_err *err);
/* source NULL: every position, by source; else that one only (fn not called: none). */
int rdl_positions(struct rd_local *l, const char *source,
                  int (*fn)(const char *source, int64_t offset, int64_t line, void *ud), void *ud,
                  kad_err *err);
int rdl_counters(struct rd_local *l, int (*fn)(const char *name, int64_t v, int64_t unused, void *ud),
                 void *ud, kad_err *err);
int rdl_unsettled(struct rd_local *l, int (*fn)(const char *id, int64_t u1, int64_t u2, void *ud),
                  void *ud, kad_err *err);
/* The blob of rule `rule` into out (replacing its content): 0, KAD_ENOTFOUND, or an error. */
int rdl_blob_get(struct rd_local *l, const char *rule, kx_buf *out, kad_err *err);
/* Delete every position and counter. */
int rdl_reset(struct rd_local *l, kad_err *err);

#endif

/*
 * out_int.h - private to src/output/: the outbox's worker side and the transports.
 */
#ifndef KAD_OUT_INT_H
#define KAD_OUT_INT_H

#include "output/output.h"
#include <sqlite3.h>
#include <stdatomic.h>

struct out_box {
    sqlite3 *db;
    sqlite3_stmt *ins, *max_seq, *rows, *cur_get, *cur_set, *pending, *oldest, *prune, *count,
        *seg_add;
    char *path;
    bool in_batch;
    /* the producer: the documents go to segment files (PATH.docs-NNNNNN), the rows only say
       where; a batch's documents are written (and fdatasync'ed) before the rows commit */
    int wfd;          /* the segment being appended to, -1 = not open yet */
    int64_t wseg;     /* its number */
    int64_t wsize;    /* its committed size: the next batch is written there */
    int64_t wflushed; /* bytes of the open batch already written after wsize */
    kx_buf wbuf;      /* the batch's documents not written yet, each followed by a newline */
    /* the reader (a delivery thread) */
    int rfd;
    int64_t rseg;
    kx_buf rbuf;
};

/* Open the outbox file (create the schema) on a connection of its own. */
int box_open(struct out_box **b, const char *path, kad_err *err);
/* The cursor of output `name`, created at the current end of the outbox when missing. */
int box_cursor(struct out_box *b, const char *name, int64_t *cursor, kad_err *err);
int box_cursor_set(struct out_box *b, const char *name, int64_t cursor, kad_err *err);
/* Rows after `after`, in order, until `max` rows or `max_bytes`; fn returns false to stop.
   json is NULL (len 0) when the row's document cannot be read from its segment file. */
int box_rows(struct out_box *b, int64_t after, int max, int64_t max_bytes,
             bool (*fn)(int64_t seq, int64_t created, const char *id, const char *json,
                        size_t len, void *ud),
             void *ud, kad_err *err);
/* Pending rows after `after` and the wall ms of the oldest (0 = none). */
int box_pending(struct out_box *b, int64_t after, int64_t *count, int64_t *oldest_ms);
/* Add to output `name`'s persisted counters: delivered, retried, failed, filtered. */
int box_count(struct out_box *b, const char *name, const int64_t d[4], kad_err *err);
/* Delete rows every output has passed (seq <= upto, and older than an hour), then the segment
   files no row refers to any more (never the newest: the producer appends to it). */
int box_prune(struct out_box *b, int64_t upto, kad_err *err);

/* ---- transports (out_send.c) -------------------------------------------------------------- */

/* The result of one attempt for a batch: per-item verdicts (ES), or one for the whole batch. */
struct out_conn; /* per-output transport state (curl handle, socket, file) */
struct out_conn *conn_new(const struct out_spec *s, const char *hostname);
void conn_free(struct out_conn *c);
/* While *flag is false nothing changes; once it is set, an HTTP request in flight is aborted
   within about a second (out_mgr_free does not wait for a slow receiver). */
void conn_set_abort(struct out_conn *c, const atomic_bool *flag);
/* After setting the flag: shut down the HTTP socket in flight, so the request fails at once. */
void conn_abort(struct out_conn *c);
/*
 * Deliver n alerts; res[i] gets each alert's verdict. Returns 0 when every verdict is filled
 * (some may be RETRY or DEAD), else the error for the whole attempt (retryable unless
 * *permanent), reason in err.
 */
int conn_send(struct out_conn *c, const struct out_alert *a, size_t n, struct out_item_result *res,
              bool *permanent, kad_err *err);

int64_t out_now_ms(void);
/* The delay before retry number `attempts` (1 = after the first failure): backoff= doubled per
   attempt, capped at backoff_max=, then jittered uniformly in [delay/2, delay]. */
int64_t out_backoff_ms(const struct out_spec *s, int attempts, unsigned *seed);

#endif

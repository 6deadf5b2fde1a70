/*
 * out_int.h - private to src/output/: the outbox's worker side and the transports.
 */
#ifndef KAD_OUT_INT_H
#define KAD_OUT_INT_H

#include "output/output.h"
#include <sqlite3.h>
#include <stdatomic.h>

/* A set of alert ids: each kept in `ids` followed by a newline (so `ids` is also the blob of a
   batch's ids); tab: open addressing, offset + 1 into ids, 0 = empty. */
struct out_idset {
    kx_buf ids;
    uint32_t *tab;
    size_t cap, n;
};

/* A row of `batches`. */
struct out_batch {
    int64_t first, n, seg, off, len, created;
};

/* The reader's position: alert `next` of batch bt starts at byte pos of its segment. */
struct out_rd {
    bool ok;
    struct out_batch bt;
    int64_t next, pos;
};

enum {
    Q_BATCH_ADD, Q_LAST, Q_FIRST, Q_AT, Q_AFTER, Q_CONFIRM, Q_PRUNE, Q_LEG_MAX, Q_LEG_ROWS,
    Q_LEG_PENDING, Q_LEG_PRUNE, Q_CUR_GET, Q_CUR_SET, Q_COUNT, Q_SEG_ADD, BOX_NSTMT
};

struct out_box {
    sqlite3 *db;
    sqlite3_stmt *st[BOX_NSTMT];
    char *path;
    int64_t legacy_max; /* the last row of an outbox from before batches (0: none) */
    bool in_batch;
    /* the producer: records go to segment files (PATH.docs-NNNNNN); a batch's records are
       written (and fdatasync'ed) before its row commits */
    int wfd;          /* the segment being appended to, -1 = not open yet */
    int64_t wseg;     /* its number */
    int64_t wsize;    /* its committed size: the next batch is written there */
    int64_t wflushed; /* bytes of the open batch already written after wsize */
    kx_buf wbuf;      /* records not written yet */
    int64_t bn;       /* alerts in the open batch */
    struct out_idset bset; /* their ids */
    struct out_idset old;  /* ids a replay may repeat (out_box_begin) */
    bool old_loaded;
    int64_t uc_first; /* the last batch committed here, until confirmed (0: none) */
    kx_buf uc_ids;    /* its ids */
    int64_t last_first;
    int64_t *confirm; /* batches confirmed, written with the next commit */
    size_t nconfirm, confirm_cap;
    /* the reader (a delivery thread) */
    int rfd;
    int64_t rseg;
    kx_buf rbuf;
    struct out_rd rd;
    bool rows_stable; /* the last box_rows' documents stay valid until the next call */
};

typedef bool box_row_fn(int64_t seq, int64_t created, const char *id, const char *json,
                        size_t len, void *ud);

/* Step a one-integer statement and reset it. */
int64_t box_one(sqlite3_stmt *s, bool *found);
/* Open the outbox file (create the schema) on a connection of its own. */
int box_open(struct out_box **b, const char *path, kad_err *err);
/* Another connection to an outbox file box_open has set up (no schema, no write). */
int box_attach(struct out_box **b, const char *path, kad_err *err);
/* The cursor of output `name`, created at the current end of the outbox when missing. */
int box_cursor(struct out_box *b, const char *name, int64_t *cursor, kad_err *err);
int box_cursor_set(struct out_box *b, const char *name, int64_t cursor, kad_err *err);
/* Alerts after `after`, in order, until `max` of them or `max_bytes`; fn returns false to stop.
   json is NULL (len 0) when the alert's record cannot be read from its segment file. id and
   json (NUL-terminated) stay valid until the next call on b: the records are read in chunks
   into one buffer, and the position where a call stops is kept for the next one. */
int box_rows(struct out_box *b, int64_t after, int max, int64_t max_bytes, box_row_fn *fn,
             void *ud, kad_err *err);
/* Pending alerts after `after` and the wall ms of the oldest (0 = none). */
int box_pending(struct out_box *b, int64_t after, int64_t *count, int64_t *oldest_ms);
/* Add to output `name`'s persisted counters: delivered, retried, failed, filtered. */
int box_count(struct out_box *b, const char *name, const int64_t d[4], kad_err *err);
/* Delete batches every output has passed (up to seq `upto`, and older than an hour), then the
   segment files no batch refers to any more (never the newest: the producer appends to it). */
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

/*
 * out_box.c - the outbox: an SQLite file (WAL) beside the state. The producer appends alerts
 * in a batch committed before the state's batch; each output's cursor is a row of `cursors`,
 * moved by the delivery worker on its own connection. docs/internals/outputs.md.
 */
#include "output/out_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BOX_APP_ID 0x6b61646f /* "kado" */

/* Rows: where each alert document is. Documents written by this version are in segment files
   (`seg` > 0: PATH.docs-NNNNNN, at `off`, `len` bytes); `doc` holds those of outbox files
   written before segments existed (seg = 0). `segs`: the segment files that exist. */
static const char box_schema[] = "CREATE TABLE IF NOT EXISTS outbox("
                                 " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                 " alert_id TEXT NOT NULL UNIQUE,"
                                 " created INTEGER NOT NULL,"
                                 " doc TEXT NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS cursors("
                                 " output TEXT PRIMARY KEY,"
                                 " seq INTEGER NOT NULL,"
                                 " updated INTEGER NOT NULL,"
                                 " delivered INTEGER NOT NULL DEFAULT 0,"
                                 " retried INTEGER NOT NULL DEFAULT 0,"
                                 " failed INTEGER NOT NULL DEFAULT 0,"
                                 " filtered INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
                                 "CREATE TABLE IF NOT EXISTS segs(seg INTEGER PRIMARY KEY);";
static const char box_seg_columns[] = "ALTER TABLE outbox ADD COLUMN seg INTEGER NOT NULL DEFAULT 0;"
                                      "ALTER TABLE outbox ADD COLUMN off INTEGER NOT NULL DEFAULT 0;"
                                      "ALTER TABLE outbox ADD COLUMN len INTEGER NOT NULL DEFAULT 0;";

/* A segment file starts when the current one has this many bytes (at a batch's start). */
#define BOX_SEG_MAX ((int64_t)64 << 20)
/* A batch's documents are written out whenever this many are buffered. */
#define BOX_WBUF_FLUSH ((size_t)1 << 20)

int64_t out_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int box_fail(struct out_box *b, kad_err *err, const char *what)
{
    return kx_err_setf(err, KAD_ESTATE, "outbox %s: %s: %s", b->path, what,
                       b->db ? sqlite3_errmsg(b->db) : "out of memory");
}

static void box_free(struct out_box *b)
{
    sqlite3_stmt *ss[] = {b->ins,     b->max_seq, b->rows,  b->cur_get, b->cur_set,
                          b->pending, b->oldest,  b->prune, b->count, b->seg_add};
    for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++)
        sqlite3_finalize(ss[i]);
    sqlite3_close(b->db);
    if (b->wfd >= 0)
        close(b->wfd);
    if (b->rfd >= 0)
        close(b->rfd);
    kx_buf_fini(&b->wbuf);
    kx_buf_fini(&b->rbuf);
    kx_free(b->path);
    kx_free(b);
}

int box_open(struct out_box **out, const char *path, kad_err *err)
{
    *out = NULL;
    struct out_box *b = kx_calloc(1, sizeof(*b));
    b->path = kx_strdup(path);
    b->wfd = b->rfd = -1;
    kx_buf_init(&b->wbuf, BOX_WBUF_FLUSH + OUT_ALERT_MAX + 2);
    kx_buf_init(&b->rbuf, (size_t)OUT_ALERT_MAX + 1);
    int rc = sqlite3_open_v2(
        path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(b->db, 10000);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE; %s"
             "COMMIT;",
             box_schema);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    sqlite3_stmt *s = NULL;
    /* an outbox from before segment files: add their columns (old rows keep `doc`) */
    if (rc == SQLITE_OK && sqlite3_prepare_v2(b->db, "SELECT seg FROM outbox LIMIT 0", -1, &s,
                                              NULL) != SQLITE_OK) {
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %sCOMMIT;", box_seg_columns);
        rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    }
    sqlite3_finalize(s);
    s = NULL;
    int64_t app = 0;
    if (rc == SQLITE_OK &&
        sqlite3_prepare_v2(b->db, "PRAGMA application_id", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        app = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_OK && app == 0) {
        snprintf(sql, sizeof(sql), "PRAGMA application_id=%d", BOX_APP_ID);
        rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
        app = BOX_APP_ID;
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        int r = box_fail(b, err, "cannot open");
        box_free(b);
        return r;
    }
    if (app != BOX_APP_ID) {
        int r = kx_err_setf(err, KAD_ESTATE, "%s: not a kadet outbox file", path);
        box_free(b);
        return r;
    }
    static const char cursor_upsert[] =
        "INSERT INTO cursors(output, seq, updated) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(output) DO UPDATE SET seq = excluded.seq, updated = excluded.updated";
    static const char *const sqls[] = {
        "INSERT OR IGNORE INTO outbox(alert_id, created, doc, seg, off, len)"
        " VALUES(?1, ?2, '', ?3, ?4, ?5)",
        "SELECT coalesce(max(seq), 0) FROM outbox",
        "SELECT seq, doc, created, seg, off, len, alert_id FROM outbox WHERE seq > ?1"
        " ORDER BY seq LIMIT ?2",
        "SELECT seq FROM cursors WHERE output = ?1",
        cursor_upsert,
        "SELECT count(*) FROM outbox WHERE seq > ?1",
        "SELECT created FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT 1",
        "DELETE FROM outbox WHERE seq <= ?1 AND created < ?2",
        "UPDATE cursors SET delivered = delivered + ?2, retried = retried + ?3,"
        " failed = failed + ?4, filtered = filtered + ?5 WHERE output = ?1",
        "INSERT OR IGNORE INTO segs(seg) VALUES(?1)",
    };
    sqlite3_stmt **dst[] = {&b->ins,     &b->max_seq, &b->rows,  &b->cur_get, &b->cur_set,
                            &b->pending, &b->oldest,  &b->prune, &b->count,   &b->seg_add};
    for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++)
        if (sqlite3_prepare_v3(b->db, sqls[i], -1, SQLITE_PREPARE_PERSISTENT, dst[i], NULL) !=
            SQLITE_OK) {
            int r = box_fail(b, err, "cannot prepare");
            box_free(b);
            return r;
        }
    *out = b;
    return 0;
}

int out_box_open(struct out_box **b, const char *path, kad_err *err)
{
    return box_open(b, path, err);
}

void out_box_close(struct out_box *b)
{
    if (!b)
        return;
    if (b->in_batch)
        out_box_rollback(b);
    box_free(b);
}

static void seg_path(const struct out_box *b, int64_t seg, char *out, size_t cap)
{
    snprintf(out, cap, "%s.docs-%06lld", b->path, (long long)seg);
}

/* The segment this batch appends to: the newest one (opened at the first batch), or a new one
   when it is full. Inside the batch's transaction (segs gets its number). */
static int seg_for_batch(struct out_box *b, kad_err *err)
{
    if (b->wfd >= 0 && b->wsize < BOX_SEG_MAX)
        return 0;
    if (b->wfd < 0) {
        sqlite3_stmt *s = NULL;
        b->wseg = 1;
        if (sqlite3_prepare_v2(b->db, "SELECT max(seg) FROM segs", -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
            b->wseg = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    } else {
        close(b->wfd);
        b->wfd = -1;
        b->wseg++;
    }
    char p[4200];
    seg_path(b, b->wseg, p, sizeof(p));
    b->wfd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (b->wfd < 0)
        return kx_err_setf(err, KAD_ESTATE, "outbox %s: %s", p, strerror(errno));
    off_t end = lseek(b->wfd, 0, SEEK_END); /* bytes of a batch that did not commit: skipped */
    b->wsize = end < 0 ? 0 : (int64_t)end;
    return 0;
}

/* pwrite all of it at off: 0 or an errno. */
static int seg_write(struct out_box *b, int64_t off, const char *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(b->wfd, p + done, n - done, (off_t)(off + (int64_t)done));
        if (w < 0 && errno != EINTR)
            return errno;
        if (w > 0)
            done += (size_t)w;
    }
    return 0;
}

int out_box_begin(struct out_box *b, kad_err *err)
{
    if (b->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "outbox: batch already open");
    if (sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return box_fail(b, err, "cannot begin");
    int rc = seg_for_batch(b, err);
    if (!rc) {
        sqlite3_bind_int64(b->seg_add, 1, b->wseg);
        int r = sqlite3_step(b->seg_add);
        sqlite3_reset(b->seg_add);
        if (r != SQLITE_DONE)
            rc = box_fail(b, err, "cannot record a segment");
    }
    if (rc) {
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    kx_buf_reset(&b->wbuf);
    b->wflushed = 0;
    b->in_batch = true;
    return 0;
}

int out_box_append(struct out_box *b, const char *alert_id, const char *json, size_t len,
                   kad_err *err)
{
    if (!b->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "outbox: append needs a batch");
    if (len > OUT_ALERT_MAX)
        return kx_err_setf(err, KAD_ELIMIT, "outbox: alert of %zu bytes (at most %u)", len,
                           OUT_ALERT_MAX);
    if (!alert_id || !alert_id[0])
        return kx_err_setf(err, KAD_EINVAL, "outbox: alert without an id");
    sqlite3_bind_text(b->ins, 1, alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b->ins, 2, out_now_ms());
    sqlite3_bind_int64(b->ins, 3, b->wseg);
    sqlite3_bind_int64(b->ins, 4, b->wsize + b->wflushed + (int64_t)b->wbuf.len);
    sqlite3_bind_int64(b->ins, 5, (int64_t)len);
    int rc = sqlite3_step(b->ins);
    sqlite3_reset(b->ins);
    if (rc != SQLITE_DONE)
        return box_fail(b, err, "cannot append");
    if (sqlite3_changes(b->db) == 0)
        return 0; /* the id is there: its document too */
    if (kx_buf_add(&b->wbuf, json, len) != KAD_OK || kx_buf_addc(&b->wbuf, '\n') != KAD_OK)
        return kx_err_setf(err, KAD_ELIMIT, "outbox: an alert of %zu bytes", len);
    /* written as the batch goes (the buffer stays small and its pages warm); made durable and
       referenced only by the commit */
    if (b->wbuf.len >= BOX_WBUF_FLUSH) {
        int en = seg_write(b, b->wsize + b->wflushed, b->wbuf.ptr, b->wbuf.len);
        if (en)
            return kx_err_setf(err, KAD_ESTATE, "outbox segment %lld: %s", (long long)b->wseg,
                               strerror(en));
        b->wflushed += (int64_t)b->wbuf.len;
        kx_buf_reset(&b->wbuf);
    }
    return 1;
}

int out_box_commit(struct out_box *b, kad_err *err)
{
    if (!b->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "outbox: no batch to commit");
    b->in_batch = false;
    /* the documents first, durably: a committed row always finds its document */
    int en = seg_write(b, b->wsize + b->wflushed, b->wbuf.ptr, b->wbuf.len);
    if (!en && (b->wbuf.len || b->wflushed) && fdatasync(b->wfd) != 0 && errno != EINVAL)
        en = errno;
    if (en) {
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        char p[4200];
        seg_path(b, b->wseg, p, sizeof(p));
        return kx_err_setf(err, KAD_ESTATE, "outbox %s: %s", p, strerror(en));
    }
    if (sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int r = box_fail(b, err, "cannot commit");
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    b->wsize += b->wflushed + (int64_t)b->wbuf.len;
    b->wflushed = 0;
    kx_buf_reset(&b->wbuf);
    return 0;
}

void out_box_rollback(struct out_box *b)
{
    if (!b->in_batch)
        return;
    b->in_batch = false;
    kx_buf_reset(&b->wbuf);
    b->wflushed = 0; /* what was written is overwritten by the next batch */
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- the worker's side -------------------------------------------------------------------- */

static int64_t one_int(struct out_box *b, sqlite3_stmt *s, bool *found)
{
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (found)
        *found = rc == SQLITE_ROW;
    sqlite3_reset(s);
    (void)b;
    return v;
}

int box_cursor(struct out_box *b, const char *name, int64_t *cursor, kad_err *err)
{
    bool found;
    sqlite3_bind_text(b->cur_get, 1, name, -1, SQLITE_TRANSIENT);
    *cursor = one_int(b, b->cur_get, &found);
    if (found)
        return 0;
    *cursor = one_int(b, b->max_seq, NULL); /* a new output starts at the end */
    return box_cursor_set(b, name, *cursor, err);
}

int box_cursor_set(struct out_box *b, const char *name, int64_t cursor, kad_err *err)
{
    sqlite3_bind_text(b->cur_set, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(b->cur_set, 2, cursor);
    sqlite3_bind_int64(b->cur_set, 3, out_now_ms());
    int rc = sqlite3_step(b->cur_set);
    sqlite3_reset(b->cur_set);
    return rc == SQLITE_DONE ? 0 : box_fail(b, err, "cannot move a cursor");
}

/* Row r's document (its segment file, or `doc` for rows from before segments); NULL when the
   segment file lacks it. */
static const char *row_doc(struct out_box *b, sqlite3_stmt *r, size_t *len)
{
    int64_t seg = sqlite3_column_int64(r, 3);
    if (seg <= 0) {
        *len = (size_t)sqlite3_column_bytes(r, 1);
        const char *doc = (const char *)sqlite3_column_text(r, 1);
        return doc ? doc : "";
    }
    int64_t off = sqlite3_column_int64(r, 4), want = sqlite3_column_int64(r, 5);
    *len = 0;
    if (want < 0 || want > OUT_ALERT_MAX)
        return NULL;
    if (b->rfd < 0 || b->rseg != seg) {
        if (b->rfd >= 0)
            close(b->rfd);
        char p[4200];
        seg_path(b, seg, p, sizeof(p));
        b->rfd = open(p, O_RDONLY | O_CLOEXEC);
        b->rseg = seg;
        if (b->rfd < 0)
            return NULL;
    }
    kx_buf_reset(&b->rbuf);
    if (kx_buf_reserve(&b->rbuf, (size_t)want + 1) != KAD_OK)
        return NULL;
    size_t got = 0;
    while (got < (size_t)want) {
        ssize_t n = pread(b->rfd, b->rbuf.ptr + got, (size_t)want - got, (off_t)(off + (int64_t)got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        got += (size_t)n;
    }
    b->rbuf.ptr[got] = 0;
    *len = got;
    return b->rbuf.ptr;
}

int box_rows(struct out_box *b, int64_t after, int max, int64_t max_bytes,
             bool (*fn)(int64_t seq, int64_t created, const char *id, const char *json,
                        size_t len, void *ud),
             void *ud, kad_err *err)
{
    sqlite3_bind_int64(b->rows, 1, after);
    sqlite3_bind_int(b->rows, 2, max);
    int rc;
    int64_t bytes = 0;
    int n = 0;
    while ((rc = sqlite3_step(b->rows)) == SQLITE_ROW) {
        int64_t seg = sqlite3_column_int64(b->rows, 3);
        size_t len = seg > 0 ? (size_t)sqlite3_column_int64(b->rows, 5)
                             : (size_t)sqlite3_column_bytes(b->rows, 1);
        if (n > 0 && bytes + (int64_t)len > max_bytes)
            break;
        const char *doc = row_doc(b, b->rows, &len);
        bytes += (int64_t)len;
        n++;
        const char *id = (const char *)sqlite3_column_text(b->rows, 6);
        if (!fn(sqlite3_column_int64(b->rows, 0), sqlite3_column_int64(b->rows, 2), id ? id : "",
                doc, len, ud))
            break;
    }
    sqlite3_reset(b->rows);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return box_fail(b, err, "cannot read");
    return 0;
}

int box_pending(struct out_box *b, int64_t after, int64_t *count, int64_t *oldest_ms)
{
    sqlite3_bind_int64(b->pending, 1, after);
    *count = one_int(b, b->pending, NULL);
    sqlite3_bind_int64(b->oldest, 1, after);
    *oldest_ms = one_int(b, b->oldest, NULL);
    return 0;
}

int box_prune(struct out_box *b, int64_t upto, kad_err *err)
{
    /* delivered rows stay an hour: a state batch that failed to commit after its outbox batch
       did is replayed with the same ids, which must still be found (docs: "Protocol") */
    sqlite3_bind_int64(b->prune, 1, upto);
    sqlite3_bind_int64(b->prune, 2, out_now_ms() - 3600 * 1000);
    int rc = sqlite3_step(b->prune);
    sqlite3_reset(b->prune);
    if (rc != SQLITE_DONE)
        return box_fail(b, err, "cannot prune");
    /* segment files below the oldest row's, except the newest (the producer's) */
    sqlite3_stmt *s = NULL;
    int64_t segs[64];
    int n = 0;
    if (sqlite3_prepare_v2(b->db,
                           "SELECT seg FROM segs WHERE seg < (SELECT max(seg) FROM segs)"
                           " AND seg < coalesce((SELECT seg FROM outbox WHERE seg > 0 ORDER BY seq LIMIT 1),"
                           " (SELECT max(seg) FROM segs)) ORDER BY seg LIMIT 64",
                           -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return box_fail(b, err, "cannot list segments");
    }
    while (n < 64 && sqlite3_step(s) == SQLITE_ROW)
        segs[n++] = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    for (int i = 0; i < n; i++) {
        char p[4200], sql[64];
        seg_path(b, segs[i], p, sizeof(p));
        if (unlink(p) != 0 && errno != ENOENT)
            return kx_err_setf(err, KAD_ESTATE, "outbox %s: %s", p, strerror(errno));
        snprintf(sql, sizeof(sql), "DELETE FROM segs WHERE seg = %lld", (long long)segs[i]);
        if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return box_fail(b, err, "cannot forget a segment");
    }
    return 0;
}

int box_count(struct out_box *b, const char *name, const int64_t d[4], kad_err *err)
{
    sqlite3_bind_text(b->count, 1, name, -1, SQLITE_STATIC);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(b->count, 2 + i, d[i]);
    int rc = sqlite3_step(b->count);
    sqlite3_reset(b->count);
    return rc == SQLITE_DONE ? 0 : box_fail(b, err, "cannot count");
}

void out_box_remove(const char *path)
{
    char p[4200 + 300];
    static const char *const side[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, side[i]);
        unlink(p);
    }
    /* segments: PATH.docs-NNNNNN, whatever numbers are left */
    const char *slash = strrchr(path, '/');
    char dir[4200];
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, base, bl) == 0 && strncmp(de->d_name + bl, ".docs-", 6) == 0) {
            snprintf(p, sizeof(p), "%s%s%s", slash ? "" : "./", slash ? dir : "", de->d_name);
            unlink(p);
        }
    closedir(d);
}

int out_box_stats(const char *path, void (*fn)(const struct out_box_output_stats *o, void *ud),
                  void *ud, kad_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            db,
            "SELECT c.output, c.seq, (SELECT count(*) FROM outbox o WHERE o.seq > c.seq),"
            " (SELECT o.created FROM outbox o WHERE o.seq > c.seq ORDER BY o.seq LIMIT 1),"
            " c.delivered, c.retried, c.failed, c.filtered"
            " FROM cursors c ORDER BY c.output",
            -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct out_box_output_stats o = {0};
        snprintf(o.name, sizeof(o.name), "%s", (const char *)sqlite3_column_text(s, 0));
        o.cursor = sqlite3_column_int64(s, 1);
        o.pending = sqlite3_column_int64(s, 2);
        o.oldest_ms = sqlite3_column_int64(s, 3);
        o.delivered = sqlite3_column_int64(s, 4);
        o.retried = sqlite3_column_int64(s, 5);
        o.failed = sqlite3_column_int64(s, 6);
        o.filtered = sqlite3_column_int64(s, 7);
        fn(&o, ud);
        rc = SQLITE_OK;
    }
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = kx_err_setf(err, KAD_ESTATE, "outbox %s: %s", path,
                          db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ret;
}

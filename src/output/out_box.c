/*
 * out_box.c - the outbox: an append-only log of alert records in segment files
 * (PATH.docs-NNNNNN, `ID TAB JSON NEWLINE`), indexed by an SQLite file (WAL) with one row per
 * committed producer batch (`batches`), and each output's cursor (`cursors`), moved by the
 * delivery worker on its own connection. docs/internals/outputs.md.
 */
#include "output/out_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BOX_APP_ID 0x6b61646f /* "kado" */
#define BOX_APP_ID_STR "1801544815"

/* `batches`: one row per committed batch; its alerts have sequence numbers first..first+n-1
   and are the records of segment `seg` at [off, off+len). `ids`: the batch's alert ids (each
   followed by a newline) until the producer learns that the state committed with the batch
   (out_box_confirm); a batch replayed after a crash finds them there. `outbox`: the rows of
   outbox files written before batches existed (one per alert; read, never written). */
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
                                 "CREATE TABLE IF NOT EXISTS segs(seg INTEGER PRIMARY KEY);"
                                 "CREATE TABLE IF NOT EXISTS batches("
                                 " first INTEGER PRIMARY KEY,"
                                 " n INTEGER NOT NULL,"
                                 " seg INTEGER NOT NULL,"
                                 " off INTEGER NOT NULL,"
                                 " len INTEGER NOT NULL,"
                                 " created INTEGER NOT NULL,"
                                 " ids BLOB);";
static const char box_seg_columns[] = "ALTER TABLE outbox ADD COLUMN seg INTEGER NOT NULL DEFAULT 0;"
                                      "ALTER TABLE outbox ADD COLUMN off INTEGER NOT NULL DEFAULT 0;"
                                      "ALTER TABLE outbox ADD COLUMN len INTEGER NOT NULL DEFAULT 0;";

/* A segment file starts when the current one has this many bytes (at a batch's start). */
#define BOX_SEG_MAX ((int64_t)64 << 20)
/* A batch's records are written out whenever this many are buffered (small: its pages stay
   warm; an 8 MB buffer was thousands of page faults per run). */
#define BOX_WBUF_FLUSH ((size_t)256 << 10)
/* The reader's pread size. */
#define BOX_READ_CHUNK ((int64_t)256 << 10)
/* Bytes of an alert id (a UUID has 36). */
#define BOX_ID_MAX 256

int64_t out_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a set of alert ids (dedup) ------------------------------------------------------------ */

static uint64_t id_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void idset_init(struct out_idset *s) { kx_buf_init(&s->ids, (size_t)1 << 34); }

static void idset_clear(struct out_idset *s)
{
    kx_buf_reset(&s->ids);
    if (s->n)
        memset(s->tab, 0, s->cap * sizeof(*s->tab));
    s->n = 0;
}

static void idset_fini(struct out_idset *s)
{
    kx_buf_fini(&s->ids);
    kx_free(s->tab);
    memset(s, 0, sizeof(*s));
}

static bool idset_find(const struct out_idset *s, const char *id, size_t n, uint64_t h,
                       size_t *slot)
{
    size_t i = (size_t)h & (s->cap - 1);
    for (;; i = (i + 1) & (s->cap - 1)) {
        uint32_t v = s->tab[i];
        if (!v) {
            *slot = i;
            return false;
        }
        const char *e = s->ids.ptr + (v - 1);
        if (memcmp(e, id, n) == 0 && e[n] == '\n')
            return true;
    }
}

static bool idset_has(const struct out_idset *s, const char *id, size_t n)
{
    size_t slot;
    return s->n && idset_find(s, id, n, id_hash(id, n), &slot);
}

/* Add id (kept in s->ids followed by a newline): false when it was there. */
static int idset_add(struct out_idset *s, const char *id, size_t n, bool *added)
{
    if (s->ids.len + n + 1 >= UINT32_MAX)
        return KAD_ELIMIT;
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        uint32_t *t = kx_calloc(nc, sizeof(*t));
        for (size_t i = 0; i < s->cap; i++)
            if (s->tab[i]) {
                const char *e = s->ids.ptr + (s->tab[i] - 1);
                size_t l = (size_t)((const char *)memchr(e, '\n', BOX_ID_MAX + 1) - e);
                size_t j = (size_t)id_hash(e, l) & (nc - 1);
                while (t[j])
                    j = (j + 1) & (nc - 1);
                t[j] = s->tab[i];
            }
        kx_free(s->tab);
        s->tab = t;
        s->cap = nc;
    }
    size_t slot;
    *added = !idset_find(s, id, n, id_hash(id, n), &slot);
    if (!*added)
        return KAD_OK;
    uint32_t off = (uint32_t)s->ids.len + 1;
    if (kx_buf_add(&s->ids, id, n) != KAD_OK || kx_buf_addc(&s->ids, '\n') != KAD_OK)
        return KAD_ELIMIT;
    s->tab[slot] = off;
    s->n++;
    return KAD_OK;
}

/* Add each id of a blob (ids each followed by a newline). */
static void idset_add_blob(struct out_idset *s, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t l = nl ? (size_t)(nl - p) : n;
        bool added;
        if (l && l <= BOX_ID_MAX)
            idset_add(s, p, l, &added);
        l += nl ? 1 : 0;
        p += l;
        n -= l;
    }
}

/* ---- open, close ---------------------------------------------------------------------------- */

static int box_fail(struct out_box *b, kad_err *err, const char *what)
{
    return kx_err_setf(err, KAD_ESTATE, "outbox %s: %s: %s", b->path, what,
                       b->db ? sqlite3_errmsg(b->db) : "out of memory");
}

static void box_free(struct out_box *b)
{
    for (size_t i = 0; i < BOX_NSTMT; i++)
        sqlite3_finalize(b->st[i]);
    sqlite3_close(b->db);
    if (b->wfd >= 0)
        close(b->wfd);
    if (b->rfd >= 0)
        close(b->rfd);
    kx_buf_fini(&b->wbuf);
    kx_buf_fini(&b->rbuf);
    kx_buf_fini(&b->uc_ids);
    idset_fini(&b->bset);
    idset_fini(&b->old);
    kx_free(b->confirm);
    kx_free(b->path);
    kx_free(b);
}

static const char *const box_sqls[BOX_NSTMT] = {
    [Q_BATCH_ADD] = "INSERT INTO batches(first, n, seg, off, len, created, ids)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_LAST] = "SELECT first + n - 1 FROM batches ORDER BY first DESC LIMIT 1",
    [Q_FIRST] = "SELECT first FROM batches ORDER BY first LIMIT 1",
    [Q_AT] = "SELECT first, n, seg, off, len, created FROM batches WHERE first <= ?1"
             " ORDER BY first DESC LIMIT 1",
    [Q_AFTER] = "SELECT first, n, seg, off, len, created FROM batches WHERE first >= ?1"
                " ORDER BY first LIMIT 1",
    [Q_CONFIRM] = "UPDATE batches SET ids = NULL WHERE first = ?1",
    [Q_PRUNE] = "DELETE FROM batches WHERE first + n - 1 <= ?1 AND created < ?2",
    [Q_LEG_MAX] = "SELECT coalesce(max(seq), 0) FROM outbox",
    [Q_LEG_ROWS] = "SELECT seq, doc, created, seg, off, len, alert_id FROM outbox WHERE seq > ?1"
                   " ORDER BY seq LIMIT ?2",
    [Q_LEG_PENDING] = "SELECT count(*), coalesce(min(created), 0) FROM outbox WHERE seq > ?1",
    [Q_LEG_PRUNE] = "DELETE FROM outbox WHERE seq <= ?1 AND created < ?2",
    [Q_CUR_GET] = "SELECT seq FROM cursors WHERE output = ?1",
    [Q_CUR_SET] = "INSERT INTO cursors(output, seq, updated) VALUES(?1, ?2, ?3)"
                  " ON CONFLICT(output) DO UPDATE SET seq = excluded.seq, updated = excluded.updated",
    [Q_COUNT] = "UPDATE cursors SET delivered = delivered + ?2, retried = retried + ?3,"
                " failed = failed + ?4, filtered = filtered + ?5 WHERE output = ?1",
    [Q_SEG_ADD] = "INSERT OR IGNORE INTO segs(seg) VALUES(?1)",
};

/* Statement q of a connection, prepared at its first use (the producer and the delivery
   threads use different ones); NULL when it cannot be (its step then fails). */
static sqlite3_stmt *stmt_of(sqlite3 *db, sqlite3_stmt **st, int q)
{
    if (!st[q] &&
        sqlite3_prepare_v3(db, box_sqls[q], -1, SQLITE_PREPARE_PERSISTENT, &st[q], NULL) != SQLITE_OK) {
        sqlite3_finalize(st[q]);
        st[q] = NULL;
    }
    return st[q];
}

/* The statements pending_of uses. */
static int prepare_pending(sqlite3 *db, sqlite3_stmt **st)
{
    static const int qs[] = {Q_LAST, Q_FIRST, Q_AT, Q_LEG_PENDING};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
        if (!stmt_of(db, st, qs[i]))
            return -1;
    return 0;
}

/* Open the outbox file. `create`: create it (and its schema) when missing, check that it is an
   outbox, bring an older one's tables up to date (the producer's connection: one write
   transaction for a new file); else open an outbox that such a connection has set up (the
   delivery threads': no schema statements, no write). */
static int box_open_as(struct out_box **out, const char *path, bool create, kad_err *err)
{
    *out = NULL;
    struct out_box *b = kx_calloc(1, sizeof(*b));
    b->path = kx_strdup(path);
    b->wfd = b->rfd = -1;
    kx_buf_init(&b->wbuf, BOX_WBUF_FLUSH + OUT_ALERT_MAX + BOX_ID_MAX + 2);
    kx_buf_init(&b->rbuf, (size_t)1 << 34);
    kx_buf_init(&b->uc_ids, (size_t)1 << 34);
    idset_init(&b->bset);
    idset_init(&b->old);
    int rc = sqlite3_open_v2(path, &b->db,
                             SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(b->db, 10000);
        /* closing does not checkpoint: the last connection to close would copy the WAL into
           the file and fsync it at every exit; the next opener reads the WAL as it is, and the
           delivery threads' connections checkpoint as they go (out_mgr.c) */
        sqlite3_db_config(b->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    }
    sqlite3_stmt *s = NULL;
    int64_t app = 0;
    if (rc == SQLITE_OK &&
        (rc = sqlite3_prepare_v2(b->db, "PRAGMA application_id", -1, &s, NULL)) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        app = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (rc == SQLITE_OK && app != 0 && app != BOX_APP_ID) {
        int r = kx_err_setf(err, KAD_ESTATE, "%s: not a kadet outbox file", path);
        box_free(b);
        return r;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(b->db,
                          create ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                 : "PRAGMA synchronous=NORMAL;",
                          NULL, NULL, NULL);
    char sql[2048];
    if (rc == SQLITE_OK && create) {
        /* the schema and the file's mark in one transaction */
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %s%s COMMIT;", box_schema,
                 app == 0 ? "PRAGMA application_id=" BOX_APP_ID_STR ";" : "");
        rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    }
    /* an outbox from before segment files: add their columns (old rows keep `doc`) */
    if (rc == SQLITE_OK && create && sqlite3_prepare_v2(b->db, "SELECT seg FROM outbox LIMIT 0", -1,
                                                        &s, NULL) != SQLITE_OK) {
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %sCOMMIT;", box_seg_columns);
        rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_OK && !create && app != BOX_APP_ID) {
        int r = kx_err_setf(err, KAD_ESTATE, "%s: not a kadet outbox file", path);
        box_free(b);
        return r;
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        int r = box_fail(b, err, "cannot open");
        box_free(b);
        return r;
    }
    /* rows of an outbox from before batches: read first, never written again */
    b->legacy_max = box_one(stmt_of(b->db, b->st, Q_LEG_MAX), NULL);
    *out = b;
    return 0;
}

int box_open(struct out_box **out, const char *path, kad_err *err)
{
    return box_open_as(out, path, true, err);
}

int box_attach(struct out_box **out, const char *path, kad_err *err)
{
    return box_open_as(out, path, false, err);
}

int out_box_open(struct out_box **b, const char *path, kad_err *err)
{
    return box_open(b, path, err);
}

/* Write the batches confirmed since the last commit (their ids are no longer needed). */
static int write_confirms(struct out_box *b)
{
    for (size_t i = 0; i < b->nconfirm; i++) {
        sqlite3_bind_int64(stmt_of(b->db, b->st, Q_CONFIRM), 1, b->confirm[i]);
        int r = sqlite3_step(stmt_of(b->db, b->st, Q_CONFIRM));
        sqlite3_reset(stmt_of(b->db, b->st, Q_CONFIRM));
        if (r != SQLITE_DONE)
            return -1;
    }
    b->nconfirm = 0;
    return 0;
}

void out_box_close(struct out_box *b)
{
    if (!b)
        return;
    if (b->in_batch)
        out_box_rollback(b);
    if (b->nconfirm && sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        if (write_confirms(b) == 0)
            sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
        else
            sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    }
    box_free(b);
}

/* ---- the producer --------------------------------------------------------------------------- */

int64_t box_one(sqlite3_stmt *s, bool *found)
{
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (found)
        *found = rc == SQLITE_ROW;
    sqlite3_reset(s);
    return v;
}

static void seg_path(const struct out_box *b, int64_t seg, char *out, size_t cap)
{
    snprintf(out, cap, "%s.docs-%06lld", b->path, (long long)seg);
}

/* The segment this batch appends to: the newest one (opened at the first batch), or a new one
   when it is full. Recorded in `segs` by the batch's commit. */
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

/* pwrite all of it at the batch's end: 0 or an error. */
static int seg_write(struct out_box *b, const char *p, size_t n, kad_err *err)
{
    int64_t off = b->wsize + b->wflushed;
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(b->wfd, p + done, n - done, (off_t)(off + (int64_t)done));
        if (w < 0 && errno != EINTR)
            return kx_err_setf(err, KAD_ESTATE, "outbox segment %lld: %s", (long long)b->wseg,
                               strerror(errno));
        if (w > 0)
            done += (size_t)w;
    }
    b->wflushed += (int64_t)n;
    return 0;
}

static int wb_add(struct out_box *b, const char *p, size_t n)
{
    if (kx_buf_add(&b->wbuf, p, n) != KAD_OK)
        return KAD_ELIMIT;
    return 0;
}

static int wbuf_flush(struct out_box *b, kad_err *err)
{
    if (!b->wbuf.len)
        return 0;
    int rc = seg_write(b, b->wbuf.ptr, b->wbuf.len, err);
    kx_buf_reset(&b->wbuf);
    return rc;
}

/* The ids a replayed batch may repeat: batches whose state commit was not confirmed (by an
   earlier process; in this one, see out_box_begin) and the last hour's rows of an outbox from
   before batches. Loaded at the producer's first batch. */
static void load_old_ids(struct out_box *b)
{
    b->old_loaded = true;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(b->db, "SELECT ids FROM batches WHERE ids IS NOT NULL", -1, &s,
                           NULL) == SQLITE_OK)
        while (sqlite3_step(s) == SQLITE_ROW)
            idset_add_blob(&b->old, (const char *)sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    sqlite3_finalize(s);
    s = NULL;
    if (b->legacy_max &&
        sqlite3_prepare_v2(b->db, "SELECT alert_id FROM outbox WHERE created >= ?1", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, out_now_ms() - 3600 * 1000);
        while (sqlite3_step(s) == SQLITE_ROW) {
            bool added;
            size_t l = (size_t)sqlite3_column_bytes(s, 0);
            if (l && l <= BOX_ID_MAX)
                idset_add(&b->old, (const char *)sqlite3_column_text(s, 0), l, &added);
        }
    }
    sqlite3_finalize(s);
}

int out_box_begin(struct out_box *b, kad_err *err)
{
    if (b->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "outbox: batch already open");
    if (!b->old_loaded)
        load_old_ids(b);
    if (b->uc_first) {
        /* the last batch committed here was not confirmed: its state commit failed, and a new
           engine may replay it */
        idset_add_blob(&b->old, b->uc_ids.ptr, b->uc_ids.len);
        b->uc_first = 0;
    }
    int rc = seg_for_batch(b, err);
    if (rc)
        return rc;
    kx_buf_reset(&b->wbuf);
    idset_clear(&b->bset);
    b->wflushed = 0;
    b->bn = 0;
    b->in_batch = true;
    return 0;
}

/* Is this id new to the batch and the outbox? 1 yes (recorded), 0 no, < 0 error. */
static int take_id(struct out_box *b, const char *id, size_t n, kad_err *err)
{
    if (!n || n > BOX_ID_MAX || memchr(id, '\t', n) || memchr(id, '\n', n))
        return kx_err_setf(err, KAD_EINVAL, "outbox: alert id of %zu bytes (1 to %d, no tab or "
                                            "newline)",
                           n, BOX_ID_MAX);
    if (idset_has(&b->old, id, n))
        return 0;
    bool added;
    if (idset_add(&b->bset, id, n, &added) != KAD_OK)
        return kx_err_setf(err, KAD_ELIMIT, "outbox: too many alert ids in one batch");
    if (!added)
        return 0;
    b->bn++;
    return 1;
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
    if (memchr(json, '\n', len))
        return kx_err_setf(err, KAD_EINVAL, "outbox: an alert document of more than one line");
    size_t il = strlen(alert_id);
    int r = take_id(b, alert_id, il, err);
    if (r <= 0)
        return r; /* 0: the id is there: its document too */
    if (wb_add(b, alert_id, il) || wb_add(b, "\t", 1) || wb_add(b, json, len) || wb_add(b, "\n", 1))
        return kx_err_setf(err, KAD_ELIMIT, "outbox: an alert of %zu bytes", len);
    /* written as the batch goes; made durable and referenced only by the commit */
    if (b->wbuf.len >= BOX_WBUF_FLUSH && wbuf_flush(b, err))
        return err ? err->code : KAD_ESTATE;
    return 1;
}

/* Add a run of records to the batch: a large run is written as it is, a small one copied into
   the buffer (written when it fills). */
static int add_run(struct out_box *b, const char *p, size_t n, kad_err *err)
{
    if (n >= BOX_WBUF_FLUSH / 4) { /* large enough to be written from the caller's bytes */
        if (wbuf_flush(b, err))
            return err ? err->code : KAD_ESTATE;
        return seg_write(b, p, n, err);
    }
    while (n) {
        size_t room = BOX_WBUF_FLUSH > b->wbuf.len ? BOX_WBUF_FLUSH - b->wbuf.len : 0;
        size_t k = n < room ? n : room;
        if (k && wb_add(b, p, k))
            return kx_err_setf(err, KAD_ELIMIT, "outbox: out of memory");
        p += k;
        n -= k;
        if (b->wbuf.len >= BOX_WBUF_FLUSH && wbuf_flush(b, err))
            return err ? err->code : KAD_ESTATE;
    }
    return 0;
}

int out_box_append_records(struct out_box *b, const char *recs, size_t len, kad_err *err)
{
    if (!b->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "outbox: append needs a batch");
    int added = 0;
    const char *p = recs, *end = recs + len, *run = recs;
    while (p < end) {
        size_t left = (size_t)(end - p);
        const char *tab = memchr(p, '\t', left < BOX_ID_MAX + 1 ? left : BOX_ID_MAX + 1);
        const char *nl = tab ? memchr(tab + 1, '\n', (size_t)(end - tab - 1)) : NULL;
        if (!tab || !nl || memchr(p, '\n', (size_t)(tab - p)))
            return kx_err_setf(err, KAD_EINVAL, "outbox: record at byte %zu: not ID TAB JSON "
                                                "NEWLINE",
                               (size_t)(p - recs));
        if ((size_t)(nl - tab - 1) > OUT_ALERT_MAX)
            return kx_err_setf(err, KAD_ELIMIT, "outbox: alert of %zu bytes (at most %u)",
                               (size_t)(nl - tab - 1), OUT_ALERT_MAX);
        int r = take_id(b, p, (size_t)(tab - p), err);
        if (r < 0)
            return r;
        if (r == 0) { /* there already: keep what precedes it, skip it */
            if (add_run(b, run, (size_t)(p - run), err))
                return err ? err->code : KAD_ESTATE;
            run = nl + 1;
        } else {
            added++;
        }
        p = nl + 1;
    }
    if (add_run(b, run, (size_t)(p - run), err))
        return err ? err->code : KAD_ESTATE;
    return added;
}

int out_box_commit(struct out_box *b, kad_err *err)
{
    if (!b->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "outbox: no batch to commit");
    b->in_batch = false;
    /* the records first, durably: a committed batch always finds its records */
    kad_err e;
    kad_err_clear(&e);
    if (wbuf_flush(b, &e)) {
        b->wflushed = 0;
        if (err)
            *err = e;
        return e.code;
    }
    if (b->wflushed && fdatasync(b->wfd) != 0 && errno != EINVAL) {
        char p[4200];
        seg_path(b, b->wseg, p, sizeof(p));
        b->wflushed = 0;
        return kx_err_setf(err, KAD_ESTATE, "outbox %s: %s", p, strerror(errno));
    }
    if (!b->bn && !b->nconfirm) {
        b->wflushed = 0;
        return 0;
    }
    int64_t first = 0;
    bool ok = sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    if (ok && b->bn) {
        /* numbered in the transaction: after every batch and every row of an older outbox */
        int64_t last = box_one(stmt_of(b->db, b->st, Q_LAST), NULL);
        first = (last > b->legacy_max ? last : b->legacy_max) + 1;
        sqlite3_bind_int64(stmt_of(b->db, b->st, Q_SEG_ADD), 1, b->wseg);
        ok = sqlite3_step(stmt_of(b->db, b->st, Q_SEG_ADD)) == SQLITE_DONE;
        sqlite3_reset(stmt_of(b->db, b->st, Q_SEG_ADD));
        sqlite3_stmt *s = stmt_of(b->db, b->st, Q_BATCH_ADD);
        sqlite3_bind_int64(s, 1, first);
        sqlite3_bind_int64(s, 2, b->bn);
        sqlite3_bind_int64(s, 3, b->wseg);
        sqlite3_bind_int64(s, 4, b->wsize);
        sqlite3_bind_int64(s, 5, b->wflushed);
        sqlite3_bind_int64(s, 6, out_now_ms());
        sqlite3_bind_blob(s, 7, b->bset.ids.ptr, (int)b->bset.ids.len, SQLITE_STATIC);
        ok = ok && sqlite3_step(s) == SQLITE_DONE;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    size_t nconfirm = b->nconfirm;
    ok = ok && write_confirms(b) == 0;
    if (!ok || sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int r = box_fail(b, err, "cannot commit");
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
        b->nconfirm = nconfirm; /* written with the next batch */
        b->wflushed = 0;
        return r;
    }
    b->wsize += b->wflushed;
    b->wflushed = 0;
    if (b->bn) {
        /* until out_box_confirm: its ids are what a replay would repeat */
        b->uc_first = first;
        kx_buf_reset(&b->uc_ids);
        if (kx_buf_add(&b->uc_ids, b->bset.ids.ptr, b->bset.ids.len) != KAD_OK)
            b->uc_first = 0;
        b->last_first = first;
    }
    return 0;
}

int64_t out_box_last_batch(const struct out_box *b) { return b->last_first; }

void out_box_confirm(struct out_box *b, int64_t first)
{
    if (!first)
        return;
    if (first == b->uc_first)
        b->uc_first = 0;
    if (b->nconfirm == b->confirm_cap) {
        b->confirm_cap = b->confirm_cap ? b->confirm_cap * 2 : 16;
        b->confirm = kx_realloc(b->confirm, b->confirm_cap * sizeof(*b->confirm));
    }
    b->confirm[b->nconfirm++] = first;
}

void out_box_rollback(struct out_box *b)
{
    if (!b->in_batch)
        return;
    b->in_batch = false;
    kx_buf_reset(&b->wbuf);
    b->wflushed = 0; /* what was written is overwritten by the next batch */
}

/* ---- the worker's side -------------------------------------------------------------------- */

int box_cursor(struct out_box *b, const char *name, int64_t *cursor, kad_err *err)
{
    bool found;
    sqlite3_bind_text(stmt_of(b->db, b->st, Q_CUR_GET), 1, name, -1, SQLITE_TRANSIENT);
    *cursor = box_one(stmt_of(b->db, b->st, Q_CUR_GET), &found);
    if (found)
        return 0;
    /* a new output starts at the end */
    int64_t last = box_one(stmt_of(b->db, b->st, Q_LAST), NULL);
    *cursor = last > b->legacy_max ? last : b->legacy_max;
    return box_cursor_set(b, name, *cursor, err);
}

int box_cursor_set(struct out_box *b, const char *name, int64_t cursor, kad_err *err)
{
    sqlite3_stmt *s = stmt_of(b->db, b->st, Q_CUR_SET);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, cursor);
    sqlite3_bind_int64(s, 3, out_now_ms());
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : box_fail(b, err, "cannot move a cursor");
}

/* Open segment seg for reading (the reader's descriptor): false when it is missing. */
static bool seg_open_read(struct out_box *b, int64_t seg)
{
    if (b->rfd >= 0 && b->rseg == seg)
        return true;
    if (b->rfd >= 0)
        close(b->rfd);
    char p[4200];
    seg_path(b, seg, p, sizeof(p));
    b->rfd = open(p, O_RDONLY | O_CLOEXEC);
    b->rseg = seg;
    return b->rfd >= 0;
}

/* pread up to n bytes at off into p: the count, or -1. */
static ssize_t seg_read(struct out_box *b, char *p, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(b->rfd, p + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Row r's document (its segment file, or `doc` for rows from before segments); NULL when the
   segment file lacks it. */
static const char *legacy_doc(struct out_box *b, sqlite3_stmt *r, size_t *len)
{
    int64_t seg = sqlite3_column_int64(r, 3);
    if (seg <= 0) {
        *len = (size_t)sqlite3_column_bytes(r, 1);
        const char *doc = (const char *)sqlite3_column_text(r, 1);
        return doc ? doc : "";
    }
    int64_t off = sqlite3_column_int64(r, 4), want = sqlite3_column_int64(r, 5);
    *len = 0;
    if (want < 0 || want > OUT_ALERT_MAX || !seg_open_read(b, seg))
        return NULL;
    kx_buf_reset(&b->rbuf);
    if (kx_buf_reserve(&b->rbuf, (size_t)want + 1) != KAD_OK ||
        seg_read(b, b->rbuf.ptr, (size_t)want, off) != (ssize_t)want)
        return NULL;
    b->rbuf.ptr[want] = 0;
    *len = (size_t)want;
    return b->rbuf.ptr;
}

/* Rows of an outbox from before batches (one SQLite row per alert). */
static int legacy_rows(struct out_box *b, int64_t after, int max, int64_t max_bytes,
                       box_row_fn *fn, void *ud, kad_err *err)
{
    sqlite3_stmt *s = stmt_of(b->db, b->st, Q_LEG_ROWS);
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2, max);
    int rc;
    int64_t bytes = 0;
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seg = sqlite3_column_int64(s, 3);
        size_t len = seg > 0 ? (size_t)sqlite3_column_int64(s, 5) : (size_t)sqlite3_column_bytes(s, 1);
        if (n > 0 && bytes + (int64_t)len > max_bytes)
            break;
        const char *doc = legacy_doc(b, s, &len);
        bytes += (int64_t)len;
        n++;
        const char *id = (const char *)sqlite3_column_text(s, 6);
        if (!fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 2), id ? id : "", doc, len,
                ud))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return box_fail(b, err, "cannot read");
    return 0;
}

static void batch_row(sqlite3_stmt *s, struct out_batch *bt)
{
    int64_t *f[] = {&bt->first, &bt->n, &bt->seg, &bt->off, &bt->len, &bt->created};
    for (int i = 0; i < 6; i++)
        *f[i] = sqlite3_column_int64(s, i);
}

/* The batch holding seq (or, when none does, the first one after it) into *bt; false: none.
   The two queries read two snapshots: a batch starting at seq may be committed between them,
   so the second one asks for `first >= seq` (with `>`, a reader that found no batch at first
   skipped the whole first batch when it appeared in between: seen under load). */
static bool batch_at(struct out_box *b, int64_t seq, struct out_batch *bt)
{
    sqlite3_stmt *s = stmt_of(b->db, b->st, Q_AT);
    sqlite3_bind_int64(s, 1, seq);
    bool found = sqlite3_step(s) == SQLITE_ROW;
    if (found) {
        batch_row(s, bt);
        found = bt->first + bt->n > seq;
    }
    sqlite3_reset(s);
    if (found)
        return true;
    s = stmt_of(b->db, b->st, Q_AFTER);
    sqlite3_bind_int64(s, 1, seq);
    found = sqlite3_step(s) == SQLITE_ROW;
    if (found)
        batch_row(s, bt);
    sqlite3_reset(s);
    return found;
}

/* Move the read position (b->rd) forward to seq `want` inside its batch, reading the records
   before it. False when the segment cannot be read. */
static bool skip_to(struct out_box *b, int64_t want)
{
    struct out_rd *r = &b->rd;
    int64_t end = r->bt.off + r->bt.len, scan = r->pos;
    if (!seg_open_read(b, r->bt.seg) || kx_buf_reserve(&b->rbuf, (size_t)BOX_READ_CHUNK) != KAD_OK)
        return false;
    while (r->next < want) {
        int64_t n = end - scan < BOX_READ_CHUNK ? end - scan : BOX_READ_CHUNK;
        ssize_t got = n > 0 ? seg_read(b, b->rbuf.ptr, (size_t)n, scan) : -1;
        if (got <= 0)
            return false;
        const char *p = b->rbuf.ptr, *e = p + got, *nl;
        while (r->next < want && (nl = memchr(p, '\n', (size_t)(e - p)))) {
            if (nl > p) /* an empty line is not a record */
                r->next++;
            p = nl + 1;
            r->pos = scan + (p - b->rbuf.ptr);
        }
        scan += got;
    }
    return true;
}

int box_rows(struct out_box *b, int64_t after, int max, int64_t max_bytes, box_row_fn *fn,
             void *ud, kad_err *err)
{
    b->rows_stable = after >= b->legacy_max;
    if (after < b->legacy_max)
        return legacy_rows(b, after, max, max_bytes, fn, ud, err);
    struct out_rd *r = &b->rd;
    int64_t want = after + 1;
    /* where the previous call stopped, else from the batch's start */
    if (!(r->ok && r->next == want && want < r->bt.first + r->bt.n)) {
        r->ok = false;
        if (!batch_at(b, want, &r->bt))
            return 0; /* nothing after `after` */
        r->next = r->bt.first;
        r->pos = r->bt.off;
        if (want > r->next && !skip_to(b, want)) {
            /* cannot be read: the rest of this batch is missing */
            for (int64_t q = want; q < r->bt.first + r->bt.n; q++)
                if (!fn(q, r->bt.created, "", NULL, 0, ud))
                    break;
            return 0;
        }
        r->ok = true;
    }
    /* read into one buffer that is not moved during this call: the documents handed to fn stay
       valid until the next call */
    int64_t budget = max_bytes < ((int64_t)64 << 20) ? max_bytes : ((int64_t)64 << 20);
    size_t cap = (size_t)budget + OUT_ALERT_MAX + (size_t)BOX_READ_CHUNK + (BOX_ID_MAX + 2) * (size_t)max;
    kx_buf_reset(&b->rbuf);
    if (kx_buf_reserve(&b->rbuf, cap) != KAD_OK)
        return kx_err_setf(err, KAD_ELIMIT, "outbox: a read of %zu bytes", cap);
    char *buf = b->rbuf.ptr;
    size_t used = 0, q = 0; /* bytes read; the next record's start */
    int64_t bytes = 0;
    int n = 0;
    for (;;) {
        if (r->next >= r->bt.first + r->bt.n) { /* the next batch */
            struct out_batch nb;
            if (!batch_at(b, r->bt.first + r->bt.n, &nb))
                break;
            r->bt = nb;
            r->next = nb.first;
            r->pos = nb.off;
            used = q; /* a batch ends at a record's end */
        }
        int64_t end = r->bt.off + r->bt.len, readpos = r->pos + (int64_t)(used - q);
        if (q == used || !memchr(buf + q, '\n', used - q)) {
            /* no complete record buffered: read on */
            int64_t want_n = end - readpos < BOX_READ_CHUNK ? end - readpos : BOX_READ_CHUNK;
            if ((int64_t)(cap - 1 - used) < want_n)
                want_n = (int64_t)(cap - 1 - used);
            ssize_t got = -1;
            if (want_n > 0 && seg_open_read(b, r->bt.seg))
                got = seg_read(b, buf + used, (size_t)want_n, readpos);
            if (want_n <= 0 && end > readpos)
                break; /* the read budget is spent */
            if (got <= 0) {
                /* the segment lacks the batch's records (removed or cut by hand) */
                int64_t last = r->bt.first + r->bt.n;
                while (r->next < last) {
                    int64_t seq = r->next++;
                    if (!fn(seq, r->bt.created, "", NULL, 0, ud))
                        return 0;
                }
                used = q;
                continue;
            }
            used += (size_t)got;
            continue;
        }
        char *rec = buf + q;
        char *nl = memchr(rec, '\n', used - q);
        if (nl == rec) { /* an empty line: not a record */
            q++;
            r->pos++;
            continue;
        }
        char *tab = memchr(rec, '\t', (size_t)(nl - rec));
        size_t len = tab ? (size_t)(nl - tab - 1) : 0;
        if (n > 0 && bytes + (int64_t)len > max_bytes)
            break;
        int64_t seq = r->next++;
        r->pos += nl + 1 - rec;
        q += (size_t)(nl + 1 - rec);
        *nl = 0;
        bool more;
        if (!tab) {
            more = fn(seq, r->bt.created, "", NULL, 0, ud); /* not a record: reported missing */
        } else {
            *tab = 0;
            bytes += (int64_t)len;
            n++;
            more = fn(seq, r->bt.created, rec, tab + 1, len, ud);
        }
        if (!more || n >= max)
            break;
    }
    return 0;
}

/* Pending alerts after `after` and the wall ms of the oldest, with the read statements of a
   connection (st: Q_LAST, Q_FIRST, Q_AT, Q_LEG_PENDING). */
static void pending_of(sqlite3_stmt **st, int64_t legacy_max, int64_t after, int64_t *count,
                       int64_t *oldest_ms)
{
    *count = 0;
    *oldest_ms = 0;
    if (after < legacy_max) {
        sqlite3_stmt *s = st[Q_LEG_PENDING];
        sqlite3_bind_int64(s, 1, after);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *count = sqlite3_column_int64(s, 0);
            *oldest_ms = sqlite3_column_int64(s, 1);
        }
        sqlite3_reset(s);
        after = legacy_max;
    }
    bool found;
    int64_t last = box_one(st[Q_LAST], &found);
    if (!found || last <= after)
        return;
    int64_t first = box_one(st[Q_FIRST], NULL);
    int64_t from = after + 1 > first ? after + 1 : first; /* batches are numbered without gaps */
    *count += last - from + 1;
    if (*oldest_ms)
        return;
    sqlite3_stmt *s = st[Q_AT];
    sqlite3_bind_int64(s, 1, from);
    if (sqlite3_step(s) == SQLITE_ROW)
        *oldest_ms = sqlite3_column_int64(s, 5);
    sqlite3_reset(s);
}

int box_pending(struct out_box *b, int64_t after, int64_t *count, int64_t *oldest_ms)
{
    *count = *oldest_ms = 0;
    if (prepare_pending(b->db, b->st))
        return -1;
    pending_of(b->st, b->legacy_max, after, count, oldest_ms);
    return 0;
}

int box_prune(struct out_box *b, int64_t upto, kad_err *err)
{
    /* delivered batches stay an hour (docs: "Protocol"), so their unconfirmed ids are still
       found by a replay */
    int64_t before = out_now_ms() - 3600 * 1000;
    for (int q = 0; q < 2; q++) {
        sqlite3_stmt *s = stmt_of(b->db, b->st, q ? Q_LEG_PRUNE : Q_PRUNE);
        if (q && !b->legacy_max)
            break;
        sqlite3_bind_int64(s, 1, upto);
        sqlite3_bind_int64(s, 2, before);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return box_fail(b, err, "cannot prune");
    }
    /* segment files below the oldest batch's (or older row's), except the newest (the
       producer's) */
    sqlite3_stmt *s = NULL;
    int64_t segs[64];
    int n = 0;
    if (sqlite3_prepare_v2(
            b->db,
            "SELECT seg FROM segs WHERE seg < (SELECT max(seg) FROM segs)"
            " AND seg < coalesce((SELECT seg FROM outbox WHERE seg > 0 ORDER BY seq LIMIT 1),"
            " (SELECT seg FROM batches ORDER BY first LIMIT 1), (SELECT max(seg) FROM segs))"
            " ORDER BY seg LIMIT 64",
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
    sqlite3_stmt *s = stmt_of(b->db, b->st, Q_COUNT);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(s, 2 + i, d[i]);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
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
    sqlite3_stmt *s = NULL, *st[BOX_NSTMT] = {0};
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    int64_t legacy_max = 0;
    bool has_batches = false;
    if (rc == SQLITE_OK) {
        /* an outbox from before batches has no `batches` table: only its rows count */
        sqlite3_stmt *t = NULL;
        has_batches = sqlite3_prepare_v2(db, "SELECT 1 FROM batches LIMIT 0", -1, &t, NULL) ==
                      SQLITE_OK;
        sqlite3_finalize(t);
        t = NULL;
        if (sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM outbox", -1, &t, NULL) ==
            SQLITE_OK)
            legacy_max = box_one(t, NULL);
        sqlite3_finalize(t);
    }
    if (rc == SQLITE_OK && has_batches && prepare_pending(db, st))
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT output, seq, delivered, retried, failed, filtered"
                                " FROM cursors ORDER BY output",
                                -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct out_box_output_stats o = {0};
        snprintf(o.name, sizeof(o.name), "%s", (const char *)sqlite3_column_text(s, 0));
        o.cursor = sqlite3_column_int64(s, 1);
        o.delivered = sqlite3_column_int64(s, 2);
        o.retried = sqlite3_column_int64(s, 3);
        o.failed = sqlite3_column_int64(s, 4);
        o.filtered = sqlite3_column_int64(s, 5);
        if (has_batches) {
            pending_of(st, legacy_max, o.cursor, &o.pending, &o.oldest_ms);
        } else if (o.cursor < legacy_max) {
            sqlite3_stmt *t = NULL;
            if (sqlite3_prepare_v2(db, box_sqls[Q_LEG_PENDING], -1, &t, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(t, 1, o.cursor);
                if (sqlite3_step(t) == SQLITE_ROW) {
                    o.pending = sqlite3_column_int64(t, 0);
                    o.oldest_ms = sqlite3_column_int64(t, 1);
                }
            }
            sqlite3_finalize(t);
        }
        fn(&o, ud);
        rc = SQLITE_OK;
    }
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = kx_err_setf(err, KAD_ESTATE, "outbox %s: %s", path,
                          db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(s);
    for (size_t i = 0; i < BOX_NSTMT; i++)
        sqlite3_finalize(st[i]);
    sqlite3_close(db);
    return ret;
}

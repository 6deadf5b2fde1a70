/*
 * state_redis_local.c - the Redis store's local file: what belongs to one kadet instance and
 * no other (its input positions, its counters, and the alert claims of its last committed
 * batch until Redis has them settled) in a small SQLite database on this host, beside nothing
 * shared. The commit protocol between it and the server is in docs/internals/state.md, "The
 * Redis store", "Batches, and the commit protocol".
 *
 * The file is locked (flock, exclusive, for writing stores) for as long as the store is open:
 * two processes with the same instance name on one host would take each other's claims for
 * their own; the second one is refused.
 */
#include "state/state_redis_local.h"

#include "base/alloc.h"
#include "base/err.h"
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct rd_local {
    sqlite3 *db;
    int lock_fd;
    char *path;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS positions(source TEXT PRIMARY KEY, byte_offset INTEGER,"
    " line_no INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS unsettled(alert_id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS blobs(rule TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;";

static int lfail(struct rd_local *l, kad_err *err, const char *what)
{
    return kx_err_setf(err, KAD_ESTATE, "local state '%s': %s: %s", l->path, what,
                       l->db ? sqlite3_errmsg(l->db) : "cannot open");
}

/* mkdir -p of the directory part of path (mode 0700). */
static int parents(const char *path, kad_err *err)
{
    char *d = kx_strdup(path);
    int rc = 0;
    for (char *p = d + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(d, 0700) != 0 && errno != EEXIST)
            rc = kx_err_setf(err, KAD_EIO, "cannot create directory '%s': %s", d, strerror(errno));
        *p = '/';
    }
    kx_free(d);
    return rc;
}

void rdl_close(struct rd_local *l)
{
    if (!l)
        return;
    if (l->db)
        sqlite3_close(l->db);
    if (l->lock_fd >= 0)
        close(l->lock_fd);
    kx_free(l->path);
    kx_free(l);
}

int rdl_open(struct rd_local **out, const char *path, bool ro, const char *inst, bool *created,
             kad_err *err)
{
    *out = NULL;
    *created = false;
    struct rd_local *l = kx_calloc(1, sizeof(*l));
    l->lock_fd = -1;
    l->path = kx_strdup(path);
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (ro && !exists) { /* nothing recorded by this instance on this host */
        *out = l;
        return 0;
    }
    int rc = ro ? 0 : parents(path, err);
    if (rc == 0 && !ro) {
        l->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (l->lock_fd < 0)
            rc = kx_err_setf(err, KAD_EIO, "local state '%s': %s", path, strerror(errno));
        else if (flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0)
            rc = kx_err_setf(err, KAD_EINVAL,
                             "local state '%s' is in use by another kadet: instance '%s' runs "
                             "already on this host (each running instance needs its own "
                             "?instance=NAME)",
                             path, inst);
    }
    if (rc == 0) {
        int fl = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        if (sqlite3_open_v2(path, &l->db, fl | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
            rc = lfail(l, err, "cannot open");
    }
    if (rc == 0) {
        sqlite3_busy_timeout(l->db, 5000);
        if (!ro && sqlite3_exec(l->db, schema, NULL, NULL, NULL) != SQLITE_OK)
            rc = lfail(l, err, "cannot create its tables");
    }
    if (rc == 0 && !ro) {
        /* "created": this instance has no local record yet (a new file, or a file made
           before anything was committed): its positions may still be on the server */
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(l->db, "SELECT v FROM meta WHERE k = 'instance'", -1, &s, NULL) !=
            SQLITE_OK)
            rc = lfail(l, err, "cannot read");
        else {
            *created = sqlite3_step(s) != SQLITE_ROW;
            sqlite3_finalize(s);
        }
    }
    if (rc) {
        rdl_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

const char *rdl_path(const struct rd_local *l) { return l->path; }

/* One statement with text arguments (NULL-terminated) and an optional integer pair. */
static int exec_s(struct rd_local *l, const char *sql, const char *a, const int64_t *i1,
                  const int64_t *i2, kad_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK)
        return lfail(l, err, "cannot write");
    int k = 1;
    if (a)
        sqlite3_bind_text(s, k++, a, -1, SQLITE_STATIC);
    if (i1)
        sqlite3_bind_int64(s, k++, *i1);
    if (i2)
        sqlite3_bind_int64(s, k++, *i2);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : lfail(l, err, "cannot write");
    sqlite3_finalize(s);
    return rc;
}

int rdl_commit(struct rd_local *l, const struct rdl_batch *b, kad_err *err)
{
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return lfail(l, err, "cannot begin");
    int rc = exec_s(l, "INSERT OR REPLACE INTO meta VALUES('instance', ?)", b->inst, NULL, NULL,
                    err);
    for (size_t i = 0; rc == 0 && i < b->npos; i++)
        rc = exec_s(l, "INSERT OR REPLACE INTO positions VALUES(?, ?, ?)", b->pos[i].source,
                    &b->pos[i].offset, &b->pos[i].line, err);
    for (size_t i = 0; rc == 0 && i < b->ncnt; i++) {
        if (!b->cnt[i].pending && !b->all_counters)
            continue;
        int64_t v = b->cnt[i].value + b->cnt[i].pending;
        rc = exec_s(l, "INSERT OR REPLACE INTO counters VALUES(?, ?)", b->cnt[i].name, &v, NULL,
                    err);
    }
    /* the previous batch's claims were settled before this batch began (rd_begin) */
    if (rc == 0)
        rc = exec_s(l, "DELETE FROM unsettled", NULL, NULL, NULL, err);
    for (size_t i = 0; rc == 0 && i < b->nclaims; i++)
        rc = exec_s(l, "INSERT OR IGNORE INTO unsettled VALUES(?)", b->claims[i], NULL, NULL, err);
    for (size_t i = 0; rc == 0 && i < b->nblobs; i++) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO blobs VALUES(?, ?)", -1, &s, NULL) !=
            SQLITE_OK) {
            rc = lfail(l, err, "cannot write");
            break;
        }
        sqlite3_bind_text(s, 1, b->blobs[i].rule, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(s, 2, b->blobs[i].len ? b->blobs[i].data : "", b->blobs[i].len,
                            SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : lfail(l, err, "cannot write");
        sqlite3_finalize(s);
    }
    if (rc == 0 && sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = lfail(l, err, "cannot commit");
    if (rc)
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int rdl_blob_get(struct rd_local *l, const char *rule, kx_buf *out, kad_err *err)
{
    sqlite3_stmt *s;
    /* a file of an older kadet opened read-only has no blobs table: no blob */
    if (sqlite3_prepare_v2(l->db, "SELECT data FROM blobs WHERE rule = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return KAD_ENOTFOUND;
    sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        kx_buf_reset(out);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        const void *p = sqlite3_column_blob(s, 0);
        rc = n && kx_buf_add(out, p, n) != 0
                 ? kx_err_setf(err, KAD_ELIMIT, "a rule blob of %zu bytes", n)
                 : 0;
    } else {
        rc = rc == SQLITE_DONE ? KAD_ENOTFOUND : lfail(l, err, "cannot read");
    }
    sqlite3_finalize(s);
    return rc;
}

int rdl_settled(struct rd_local *l, kad_err *err)
{
    return exec_s(l, "DELETE FROM unsettled", NULL, NULL, NULL, err);
}

/* Rows of a two-column query to fn (text, integer, integer or NULL). */
static int each_row(struct rd_local *l, const char *sql, const char *arg,
                    int (*fn)(const char *k, int64_t a, int64_t b, void *ud), void *ud,
                    kad_err *err)
{
    if (!l->db)
        return 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK)
        return lfail(l, err, "cannot read");
    if (arg)
        sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        rc = fn(k ? k : "", sqlite3_column_int64(s, 1),
                sqlite3_column_count(s) > 2 ? sqlite3_column_int64(s, 2) : 0, ud);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = lfail(l, err, "cannot read");
    sqlite3_finalize(s);
    return rc;
}

int rdl_positions(struct rd_local *l, const char *source,
                  int (*fn)(const char *source, int64_t offset, int64_t line, void *ud), void *ud,
                  kad_err *err)
{
    return each_row(l,
                    source ? "SELECT source, byte_offset, line_no FROM positions WHERE source = ?"
                           : "SELECT source, byte_offset, line_no FROM positions ORDER BY source",
                    source, fn, ud, err);
}

int rdl_counters(struct rd_local *l, int (*fn)(const char *name, int64_t v, int64_t unused, void *ud),
                 void *ud, kad_err *err)
{
    return each_row(l, "SELECT name, value FROM counters", NULL, fn, ud, err);
}

int rdl_unsettled(struct rd_local *l, int (*fn)(const char *id, int64_t u1, int64_t u2, void *ud),
                  void *ud, kad_err *err)
{
    return each_row(l, "SELECT alert_id, 0 FROM unsettled", NULL, fn, ud, err);
}

int rdl_reset(struct rd_local *l, kad_err *err)
{
    if (!l->db)
        return 0;
    if (sqlite3_exec(l->db, "DELETE FROM positions; DELETE FROM counters;", NULL, NULL, NULL) !=
        SQLITE_OK)
        return lfail(l, err, "cannot reset");
    return 0;
}

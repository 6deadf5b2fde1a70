/*
 * state_schema.c - the SQLite store's file format: the schema, its creation in a new (or
 * explicitly initialised) file, the checks made on opening (another application's file, a
 * newer kadet's schema, an empty, truncated or non-SQLite file) and the migration of older
 * schemas. The format and the history of versions: docs/internals/state.md.
 */
#include "state/state_int.h"

#include "base/err.h"
#include "base/log.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Schema 4 (ST_SCHEMA_VERSION). Schema 2 (one hour on main, 2026-11-29) had rules.pivot,
   terms.pivot and an index on (rid, pivot); schema 3 (2026-11-29 to 2026-12-07) had one table
   terms(rid, pivot, combo, first_seen, last_seen, flags) keyed by (rid, pivot, combo), so new
   combinations landed at random places of a 130-byte-per-row B-tree and every commit rewrote
   most of its pages. Schema 4 appends rows in insertion order (docs/internals/state.md). */

static const char schema_sql[] = "CREATE TABLE rules("
                                 " rid INTEGER PRIMARY KEY,"
                                 " rule_id TEXT NOT NULL,"
                                 " logic_hash INTEGER NOT NULL,"
                                 " name TEXT NOT NULL DEFAULT '',"
                                 " fields BLOB NOT NULL DEFAULT '',"
                                 " window_ms INTEGER NOT NULL DEFAULT 0,"
                                 " first_loaded INTEGER NOT NULL,"
                                 " last_loaded INTEGER NOT NULL,"
                                 " watermark INTEGER,"
                                 " current INTEGER NOT NULL DEFAULT 1,"
                                 " pivot INTEGER,"
                                 " UNIQUE(rule_id, logic_hash));"
                                 "CREATE TABLE alerts("
                                 " alert_id TEXT PRIMARY KEY,"
                                 " rid INTEGER NOT NULL,"
                                 " combo BLOB,"
                                 " ts INTEGER NOT NULL) WITHOUT ROWID;"
                                 "CREATE INDEX alerts_by_rule ON alerts(rid, ts);"
                                 "CREATE TABLE positions("
                                 " source TEXT PRIMARY KEY,"
                                 " byte_offset INTEGER NOT NULL,"
                                 " line_no INTEGER NOT NULL,"
                                 " updated INTEGER NOT NULL) WITHOUT ROWID;"
                                 "CREATE TABLE counters("
                                 " name TEXT PRIMARY KEY,"
                                 " value INTEGER NOT NULL) WITHOUT ROWID;";

/*
 * The combinations (schema 4), in two rowid tables that grow at their end:
 *  - terms_key: what never changes (the rule, the combination, the hashes of its pivot
 *    component and of the whole combination, st_disk_hash), with the only index written at
 *    random places, terms_by_hash (rid, phash, khash: ~20 bytes per row): a combination is
 *    found by its hashes and then compared, one pivot value's combinations are one range;
 *  - terms_seen: what a commit updates (first_seen, last_seen, flags), ~25 bytes per row under
 *    the same id, so a commit that touches every combination rewrites a narrow table in rowid
 *    order instead of the keys.
 * The view terms has schema 3's columns except the pivot: readers (and the sqlite3 shell,
 * `SELECT CAST(combo AS TEXT) FROM terms`) read it as they read the table before.
 */
static const char terms_sql[] = "CREATE TABLE terms_key("
                                " id INTEGER PRIMARY KEY,"
                                " rid INTEGER NOT NULL,"
                                " phash INTEGER NOT NULL,"
                                " khash INTEGER NOT NULL,"
                                " combo BLOB NOT NULL);"
                                "CREATE INDEX terms_by_hash ON terms_key(rid, phash, khash);"
                                "CREATE TABLE terms_seen("
                                " id INTEGER PRIMARY KEY,"
                                " rid INTEGER NOT NULL,"
                                " first_seen INTEGER NOT NULL,"
                                " last_seen INTEGER NOT NULL,"
                                " flags INTEGER NOT NULL DEFAULT 0);"
                                "CREATE VIEW terms(rid, combo, first_seen, last_seen, flags) AS"
                                " SELECT k.rid, k.combo, s.first_seen, s.last_seen, s.flags"
                                " FROM terms_key k JOIN terms_seen s ON s.id = k.id;";

/* From schema 1, 2 or 3: the rows of terms are copied into the new tables, numbered in the old
   table's (rid, combo) order. A schema 1 row gets phash 0, and its rule's pivot NULL, so
   registration keys them (see backfill); schema 2 and 3 rows keep their pivot (its hash). A
   schema 2 index goes with the old table. Format: rules column, terms_sql, pivot, pivot, version. */
static const char migrate_sql[] =
    "%s"
    "ALTER TABLE terms RENAME TO terms_old;"
    "%s"
    "INSERT INTO terms_key(id, rid, phash, khash, combo)"
    " SELECT row_number() OVER w, rid, kadet_hash(%s), kadet_hash(combo), combo"
    " FROM terms_old WINDOW w AS (ORDER BY rid, combo) ORDER BY 1;"
    "INSERT INTO terms_seen(id, rid, first_seen, last_seen, flags)"
    " SELECT row_number() OVER w, rid, first_seen, last_seen, flags"
    " FROM terms_old WINDOW w AS (ORDER BY rid, combo) ORDER BY 1;"
    "DROP TABLE terms_old;"
    "PRAGMA user_version = %d;";

/* ======================================================================================== */
/* Schema checks and migration                                                              */
/* ======================================================================================== */

/* The schema in an empty database, in one transaction (rolled back on failure). */
static int create_schema(sqlite3 *db)
{
    char sql[sizeof(schema_sql) + sizeof(terms_sql) + 128];
    snprintf(sql, sizeof(sql),
             "BEGIN;%s%sPRAGMA user_version = %d;PRAGMA application_id = %d;COMMIT;", schema_sql,
             terms_sql, ST_SCHEMA_VERSION, ST_APPLICATION_ID);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/*
 * A new state file appears complete: the schema is written under a temporary name beside it
 * (PATH.init-PID, in WAL mode, closed, so nothing else is left beside it) and hard-linked into
 * place, which fails if PATH appeared meanwhile (then that file is used). So a crash or a full
 * disk while creating never leaves an empty PATH that the next open would refuse. Where hard
 * links are not possible the caller creates the file in place, as SQLite does.
 */
int st_schema_create_file(const char *path, bool *created, kad_err *err)
{
    *created = false;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.init-%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return 0;
    unlink(tmp); /* left by an earlier process of the same pid */
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = create_schema(db);
    int ret = 0;
    if (rc != SQLITE_OK)
        ret = kx_err_setf(err, KAD_ESTATE, "cannot create state '%s': %s", path,
                          db ? sqlite3_errmsg(db) : "out of memory");
    if (sqlite3_close(db) != SQLITE_OK && ret == 0)
        ret = kx_err_setf(err, KAD_ESTATE, "cannot create state '%s': closing failed", path);
    if (ret == 0 && link(tmp, path) == 0)
        *created = true;
    else if (ret == 0 && errno == EEXIST)
        *created = true; /* another process made it first: open theirs */
    unlink(tmp);
    return ret;
}

static int pragma_int(struct st_sql *st, const char *sql, int64_t *out, kad_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read the schema");
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return st_sql_fail(st, err, "cannot read the schema");
    return 0;
}

/* Schema 1, 2 or 3 -> 4, in one transaction; another writer may have done it meanwhile. */
static int migrate(struct st_sql *st, kad_err *err)
{
    int64_t ver = 0;
    int rc = st_exec(st, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    if ((rc = pragma_int(st, "PRAGMA user_version", &ver, err)) == 0 && ver >= 1 &&
        ver < ST_SCHEMA_VERSION) {
        char sql[sizeof(migrate_sql) + sizeof(terms_sql) + 128];
        snprintf(sql, sizeof(sql), migrate_sql,
                 ver == 1 ? "ALTER TABLE rules ADD COLUMN pivot INTEGER;" : "", terms_sql,
                 ver == 1 ? "NULL" : "pivot", ST_SCHEMA_VERSION);
        rc = st_exec(st, sql, err);
    }
    if (rc == 0)
        rc = st_exec(st, "COMMIT", err);
    if (rc)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    else
        kx_log(KX_LOG_INFO, "state %s: schema %lld upgraded to %d", st->base.path, (long long)ver,
               ST_SCHEMA_VERSION);
    return rc;
}

int st_schema_check(struct st_sql *st, bool may_create, bool zero_bytes, kad_err *err)
{
    int64_t ver = 0, app = 0, ntables = 0; /* set on success; initialised for the analyzer */
    int rc;
    if ((rc = pragma_int(st, "PRAGMA user_version", &ver, err)) ||
        (rc = pragma_int(st, "PRAGMA application_id", &app, err)) ||
        (rc = pragma_int(st, "SELECT count(*) FROM sqlite_master", &ntables, err)))
        return rc;
    if (ntables == 0 && ver == 0 && app == 0) {
        if (st->base.mode == ST_OPEN_RO)
            return kx_err_setf(err, KAD_ESTATE, "%s: empty database, not a kadet state",
                               st->base.path);
        if (!may_create)
            return kx_err_setf(err, KAD_ESTATE,
                               "state '%s' exists but is empty (%s): refusing to start a new "
                               "state in its place, which would raise every known alert again; "
                               "restore it from a backup, or start anew on purpose "
                               "(kadet: --state-init)",
                               st->base.path, zero_bytes ? "0 bytes" : "no tables");
        if (create_schema(st->db) != SQLITE_OK)
            return st_sql_fail(st, err, "cannot create the schema");
        st->schema = ST_SCHEMA_VERSION;
        return 0;
    }
    if (app != ST_APPLICATION_ID)
        return kx_err_setf(err, KAD_ESTATE, "%s: not a kadet state file", st->base.path);
    if (ver > ST_SCHEMA_VERSION)
        return kx_err_setf(err, KAD_ESTATE,
                           "%s: state schema version %lld is newer than this kadet (%d)",
                           st->base.path, (long long)ver, ST_SCHEMA_VERSION);
    st->schema = (int)ver;
    if (ver >= 1 && ver < ST_SCHEMA_VERSION && st->base.mode != ST_OPEN_RO) {
        if ((rc = migrate(st, err)) == 0)
            st->schema = ST_SCHEMA_VERSION;
        return rc;
    }
    return 0; /* read-only inspection reads every version (the view terms has its columns) */
}

/* ======================================================================================== */
/* The file before SQLite reads it                                                          */
/* ======================================================================================== */

static uint32_t be(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * An existing, non-empty state file must be an SQLite database of the size its header says.
 * SQLite itself would take a file cut short by a copy or a full disk for a database and fail
 * later, on the first page it cannot read. The header's page count is only trusted when
 * SQLite marks it valid (bytes 24 and 92 equal), and not while a -wal file holds frames: a
 * checkpoint interrupted by a crash may leave the file shorter than page 1 says, and the
 * next open completes it from the WAL.
 */
int st_schema_file_check(const char *path, int64_t size, kad_err *err)
{
    unsigned char h[100];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return kx_err_setf(err, KAD_EIO, "cannot open state '%s': %s", path, strerror(e));
    }
    ssize_t n = size >= (int64_t)sizeof(h) ? read(fd, h, sizeof(h)) : 0;
    close(fd);
    if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0)
        return kx_err_setf(err, KAD_ESTATE,
                           "state '%s' (%lld bytes) is not an SQLite database: damaged, cut "
                           "short, or another kind of file; kadet leaves it as it is",
                           path, (long long)size);
    uint32_t psize = be(h + 16, 2);
    uint64_t pages = be(h + 28, 4), bytes = (psize == 1 ? 65536 : psize) * pages;
    char wal[4096];
    struct stat sb;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    bool frames = stat(wal, &sb) == 0 && sb.st_size > 0;
    if (!frames && pages && be(h + 24, 4) == be(h + 92, 4) && (uint64_t)size < bytes)
        return kx_err_setf(err, KAD_ESTATE,
                           "state '%s' is truncated: %lld bytes, its header says %llu; restore "
                           "it from a backup (kadet leaves it as it is)",
                           path, (long long)size, (unsigned long long)bytes);
    return 0;
}

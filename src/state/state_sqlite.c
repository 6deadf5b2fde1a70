/*
 * state_sqlite.c - the SQLite store (struct st_ops st_sqlite_ops): open/close, rule
 * registration (baselines keyed by rule id + logic hash), batches with an undo log, the
 * new-terms step (observe), alert ids, input positions and counters. It also serves
 * ST_OPEN_MEM (an SQLite :memory: database, terms only in the index).
 *
 * The in-memory index (state_index.c) is the authority while the store is open for writing;
 * every record a batch touches is logged once in the undo log, which doubles as the list of
 * dirty records that commit writes to SQLite, in the same transaction as the alert ids,
 * positions, watermarks and counters of the batch. Inspection and maintenance (stats, terms,
 * prune, reset) are in state_query.c, the pivot in state_pivot.c, the schema and its checks in
 * state_schema.c. The contract every store follows (what state.c has checked before calling):
 * struct st_ops in state_int.h. Protocol and schema: docs/internals/state.md.
 */
#include "state/state_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The terms statements are schema 4's (state_schema.c): ?phash and ?khash are st_disk_hash
   values (st_rec_phash, of the combination). */
static const char *const stmt_sql[SQ__COUNT] = {
    [SQ_TERM_INSERT_KEY] = "INSERT INTO terms_key(rid, phash, khash, combo) VALUES(?1, ?2, ?3, ?4)",
    [SQ_TERM_INSERT_SEEN] = "INSERT INTO terms_seen(id, rid, first_seen, last_seen, flags) "
                            "VALUES(?1, ?2, ?3, ?4, ?5)",
    [SQ_TERM_UPDATE] = "UPDATE terms_seen SET first_seen = ?2, last_seen = ?3, flags = ?4 "
                       "WHERE id = ?1",
    [SQ_ALERT_INSERT] = "INSERT OR IGNORE INTO alerts(alert_id, rid, combo, ts) "
                        "VALUES(?1, ?2, ?3, ?4)",
    [SQ_ALERT_GET] = "SELECT 1 FROM alerts WHERE alert_id = ?1",
    [SQ_POS_SET] = "INSERT INTO positions(source, byte_offset, line_no, updated) "
                   "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(source) DO UPDATE SET "
                   "byte_offset = ?2, line_no = ?3, updated = ?4",
    [SQ_POS_GET] = "SELECT byte_offset, line_no FROM positions WHERE source = ?1",
    [SQ_COUNTER_SET] = "INSERT INTO counters(name, value) VALUES(?1, ?2) "
                       "ON CONFLICT(name) DO UPDATE SET value = ?2",
    [SQ_WATERMARK_SET] = "UPDATE rules SET watermark = ?2 WHERE rid = ?1",
    /* a rule's rows through the index (a small part of a big file) */
    [SQ_TERMS_OF_RULE] = "SELECT k.id, k.combo, s.first_seen, s.last_seen, s.flags "
                         "FROM terms_key k JOIN terms_seen s ON s.id = k.id WHERE k.rid = ?1",
    /* or both tables read in rowid order, merged by id (most of the file: sequential reads) */
    [SQ_TERMS_KEYS_SCAN] = "SELECT id, combo FROM terms_key NOT INDEXED WHERE rid = ?1",
    [SQ_TERMS_SEEN_SCAN] = "SELECT id, first_seen, last_seen, flags FROM terms_seen "
                           "WHERE rid = ?1",
    [SQ_TERMS_MAX_ID] = "SELECT max(id) FROM terms_seen",
    [SQ_TERMS_COUNT] = "SELECT count(*) FROM terms_key WHERE rid = ?1",
    [SQ_TERM_GET] = "SELECT k.id, s.first_seen, s.last_seen, s.flags "
                    "FROM terms_key k JOIN terms_seen s ON s.id = k.id "
                    "WHERE k.rid = ?1 AND k.phash = ?2 AND k.khash = ?3 AND k.combo = ?4",
    [SQ_PIVOT_TERMS] = "SELECT k.combo, s.first_seen, s.last_seen, s.flags, k.id "
                       "FROM terms_key k JOIN terms_seen s ON s.id = k.id "
                       "WHERE k.rid = ?1 AND k.phash = ?2",
};

/* ======================================================================================== */
/* Small helpers                                                                            */
/* ======================================================================================== */

int64_t st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int st_sql_fail(struct st_sql *st, kad_err *err, const char *what)
{
    kx_err_setf(err, KAD_ESTATE, "state %s: %s: %s", st->base.path ? st->base.path : "(memory)",
                what, st->db ? sqlite3_errmsg(st->db) : "cannot open");
    return KAD_ESTATE; /* never 0, visibly (the analyzer cannot see into kx_err_setf) */
}

#ifdef KAD_TEST_HOOKS
void st_test_fail_after(struct st_store *st, unsigned long n)
{
    if (st->ops == &st_sqlite_ops)
        sql_of(st)->fail_after = n;
}
#endif

int st_exec(struct st_sql *st, const char *sql, kad_err *err)
{
    if (st_injected(st))
        return kx_err_setf(err, KAD_ESTATE, "state: injected failure before '%s'", sql);
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, sql);
    return 0;
}

int st_step_done(struct st_sql *st, sqlite3_stmt *s, kad_err *err, const char *what)
{
    if (st_injected(st)) {
        sqlite3_clear_bindings(s);
        return kx_err_setf(err, KAD_ESTATE, "state: injected failure: %s", what);
    }
    int rc = sqlite3_step(s);
    int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : st_sql_fail(st, err, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

struct st_rule_mem *st_rule_mem_get(struct st_sql *st, uint32_t rid)
{
    if (rid >= st->by_rid.len || st->by_rid.ptr[rid] == 0)
        return NULL;
    return &st->rules.ptr[st->by_rid.ptr[rid] - 1];
}

/* ======================================================================================== */
/* Open and close                                                                           */
/* ======================================================================================== */

static void sql_close(struct st_store *base_);
static void sql_rollback(struct st_store *base_);

/* mkdir -p of the directory part of path. */
static int make_parents(const char *path, kad_err *err)
{
    char *d = kx_strdup(path);
    for (char *p = d + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(d, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            kx_err_setf(err, KAD_EIO, "cannot create directory '%s': %s", d, strerror(e));
            kx_free(d);
            return KAD_EIO;
        }
        *p = '/';
    }
    kx_free(d);
    return 0;
}

static int load_counters(struct st_sql *st, kad_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "SELECT name, value FROM counters", -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read counters");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct st_counter c = {0};
        snprintf(c.name, sizeof(c.name), "%s", (const char *)sqlite3_column_text(s, 0));
        c.value = sqlite3_column_int64(s, 1);
        KX_VEC_PUSH(&st->counters, c);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : st_sql_fail(st, err, "cannot read counters");
}

/*
 * Before SQLite touches a file (which could write to it: journal mode, schema): a missing file
 * is created with its schema (RW, st_schema_create_file; RO: KAD_ENOTFOUND); an existing empty
 * one is not taken for a new state
 * unless the caller asked for it (ST_OPEN_INIT), since the committed alert ids, positions and
 * baselines it should hold are gone; a non-empty one must look like an intact SQLite file.
 * *may_create says whether the schema may be created in it.
 */
static int check_file(const char *path, enum st_mode mode, unsigned flags, bool *may_create,
                      bool *zero, kad_err *err)
{
    struct stat sb;
    *may_create = true;
    *zero = false;
    if (stat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT && mode == ST_OPEN_RW) {
            bool created;
            int rc = make_parents(path, err);
            return rc ? rc : st_schema_create_file(path, &created, err);
        }
        return kx_err_setf(err, e == ENOENT ? KAD_ENOTFOUND : KAD_EIO, "cannot open state '%s': %s",
                           path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode))
        return kx_err_setf(err, KAD_EIO, "cannot open state '%s': is a directory", path);
    *may_create = (flags & ST_OPEN_INIT) != 0;
    *zero = sb.st_size == 0;
    if (sb.st_size == 0) {
        if (mode == ST_OPEN_RO || *may_create)
            return 0; /* RO: "empty database, not a kadet state" from the schema check */
        return kx_err_setf(err, KAD_ESTATE,
                           "state '%s' exists but is empty (0 bytes): refusing to start a new "
                           "state in its place, which would raise every known alert again; "
                           "restore it from a backup, or start anew on purpose "
                           "(kadet: --state-init)",
                           path);
    }
    if (!S_ISREG(sb.st_mode))
        return 0; /* a device or pipe: SQLite says what it makes of it */
    return st_schema_file_check(path, (int64_t)sb.st_size, err);
}

static int sql_open(struct st_store **out, const char *path, enum st_mode mode, unsigned oflags,
                    const char *password, kad_err *err)
{
    (void)password; /* a file has none (st_open_auth refuses one) */
    struct st_sql *st = kx_calloc(1, sizeof(*st));
    st_base_init(&st->base, &st_sqlite_ops, mode, mode == ST_OPEN_MEM ? NULL : path);
    idx_init(&st->idx);
    piv_init(&st->piv);
    int rc = 0, flags;
    bool may_create = true, zero = false;
    const char *file;
    if (mode == ST_OPEN_MEM) {
        file = ":memory:";
        flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
    } else {
        file = path;
        if ((rc = check_file(path, mode, oflags, &may_create, &zero, err)) != 0)
            goto fail;
        flags =
            mode == ST_OPEN_RO ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    }
    if (sqlite3_open_v2(file, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = kx_err_setf(err, KAD_ESTATE, "cannot open state '%s': %s", file,
                         st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (piv_sql_functions(st->db) != SQLITE_OK) {
        rc = st_sql_fail(st, err, "cannot define functions");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (mode == ST_OPEN_RW) {
        /* WAL: readers (`kadet state`) never block the writer; synchronous=NORMAL is durable
           against process crashes (kill -9); see docs/internals/state.md for power loss. */
        if ((rc = st_exec(st, "PRAGMA journal_mode=WAL", err)) ||
            (rc = st_exec(st, "PRAGMA synchronous=NORMAL", err)))
            goto fail;
        /* Checkpoint after 64 MiB of WAL, not SQLite's 4 MiB: a commit of many new
           combinations rewrites most pages of the index terms_by_hash, and with the default
           every such commit was followed by a checkpoint copying them into the file again
           (and two fsyncs); now one checkpoint copies the pages of several commits once.
           Commits stay as durable as before (synchronous=NORMAL: no fsync at a commit either
           way); the WAL is cut back to 64 MiB after a checkpoint. Measured in
           docs/internals/state.md. */
        if ((rc = st_exec(st, "PRAGMA wal_autocheckpoint=16384", err)) ||
            (rc = st_exec(st, "PRAGMA journal_size_limit=67108864", err)))
            goto fail;
    }
    if (mode != ST_OPEN_MEM) {
        /* a larger page cache and memory-mapped reads: terms are keyed by random-looking
           blobs, so big stores touch pages all over the B-tree (docs/internals/state.md) */
        if ((rc = st_exec(st, "PRAGMA cache_size=-65536", err)) ||
            (rc = st_exec(st, "PRAGMA mmap_size=1073741824", err)))
            goto fail;
    }
    if ((rc = st_schema_check(st, may_create, zero, err)) != 0)
        goto fail;
    /* rule blobs (st_blob_set): a table added without a schema version, since older kadets
       neither read nor mind it; created here for files made before it existed */
    if (mode != ST_OPEN_RO && (rc = st_exec(st, BLOBS_SQL, err)) != 0)
        goto fail;
    if (mode != ST_OPEN_RO) {
        for (int i = 0; i < SQ__COUNT; i++) {
            if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->sq[i],
                                   NULL) != SQLITE_OK) {
                rc = st_sql_fail(st, err, "cannot prepare statements");
                goto fail;
            }
        }
    }
    if ((rc = load_counters(st, err)) != 0)
        goto fail;
    *out = &st->base;
    return 0;
fail:
    sql_close(&st->base);
    return rc;
}

static void sql_close(struct st_store *base_)
{
    struct st_sql *st = sql_of(base_);
    for (int i = 0; i < SQ__COUNT; i++)
        sqlite3_finalize(st->sq[i]);
    if (st->db)
        sqlite3_close(st->db);
    idx_fini(&st->idx);
    piv_cache_drop(st);
    piv_fini(&st->piv);
    KX_VEC_FREE(&st->piv_keys);
    KX_VEC_FREE(&st->piv_items);
    for (size_t i = 0; i < st->rules.len; i++)
        kx_free(st->rules.ptr[i].rule_id);
    KX_VEC_FREE(&st->rules);
    KX_VEC_FREE(&st->by_rid);
    KX_VEC_FREE(&st->undo);
    KX_VEC_FREE(&st->counters);
    st_base_fini(&st->base);
    kx_free(st);
}

/* ======================================================================================== */
/* Rules                                                                                    */
/* ======================================================================================== */

/* Rows are staged in batches: each record's slot is prefetched while the next rows are read,
   then the batch is placed (a combination already loaded lazily, possibly changed since, is
   kept). */
enum { LOAD_BATCH = 32 };
struct loader {
    struct st_index *ix;
    uint32_t rid;
    size_t nb;
    struct idx_staged batch[LOAD_BATCH];
};

static void load_row(struct loader *L, int64_t id, const void *k, size_t len, int64_t first,
                     int64_t last, int64_t flags)
{
    if (len == 0 || len > ST_KEY_MAX)
        return; /* not written by kadet: ignore rather than fail the whole load */
    struct st_rec *r =
        idx_stage(L->ix, L->rid, k, len, idx_hash(L->rid, k, len), &L->batch[L->nb++]);
    r->id = id;
    r->first_seen = first;
    r->last_seen = last;
    r->flags = (uint8_t)(flags & REC_PERSIST_MASK);
    if (L->nb == LOAD_BATCH) {
        idx_place_staged(L->ix, L->batch, L->nb);
        L->nb = 0;
        idx_reserve(L->ix, LOAD_BATCH);
    }
}

/* Both tables in rowid order, each filtered by rid, merged by id: sequential reads of the
   file, whatever order the combinations were inserted in. */
static int load_scan(struct st_sql *st, struct loader *L)
{
    sqlite3_stmt *k = st->sq[SQ_TERMS_KEYS_SCAN], *v = st->sq[SQ_TERMS_SEEN_SCAN];
    sqlite3_bind_int64(k, 1, L->rid);
    sqlite3_bind_int64(v, 1, L->rid);
    int rk, rv = sqlite3_step(v);
    while ((rk = sqlite3_step(k)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(k, 0);
        while (rv == SQLITE_ROW && sqlite3_column_int64(v, 0) < id)
            rv = sqlite3_step(v);
        if (rv != SQLITE_ROW)
            break;
        if (sqlite3_column_int64(v, 0) != id)
            continue; /* no terms_seen row: not written by kadet */
        load_row(L, id, sqlite3_column_blob(k, 1), (size_t)sqlite3_column_bytes(k, 1),
                 sqlite3_column_int64(v, 1), sqlite3_column_int64(v, 2),
                 sqlite3_column_int64(v, 3));
    }
    bool ok = (rk == SQLITE_ROW || rk == SQLITE_DONE) && (rv == SQLITE_ROW || rv == SQLITE_DONE);
    sqlite3_reset(k);
    sqlite3_reset(v);
    return ok ? 0 : -1;
}

static int load_rule_terms(struct st_sql *st, uint32_t rid, kad_err *err)
{
    /* Size the table for the whole baseline first, so the load never rehashes on the way. */
    sqlite3_stmt *s = st->sq[SQ_TERMS_COUNT];
    sqlite3_bind_int64(s, 1, rid);
    int rc = sqlite3_step(s);
    int64_t rows = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return st_sql_fail(st, err, "cannot count terms");
    s = st->sq[SQ_TERMS_MAX_ID];
    rc = sqlite3_step(s);
    int64_t ids = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return st_sql_fail(st, err, "cannot count terms");
    if (rows > 0)
        idx_reserve(&st->idx, (size_t)rows);
    struct loader L = {.ix = &st->idx, .rid = rid};
    idx_reserve(&st->idx, LOAD_BATCH);
    /* a rule holding a quarter of the ids or more: scan both tables; else its index range */
    if (rows * 4 >= ids) {
        rc = load_scan(st, &L) == 0 ? SQLITE_DONE : SQLITE_ERROR;
    } else {
        s = st->sq[SQ_TERMS_OF_RULE];
        sqlite3_bind_int64(s, 1, rid);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            load_row(&L, sqlite3_column_int64(s, 0), sqlite3_column_blob(s, 1),
                     (size_t)sqlite3_column_bytes(s, 1), sqlite3_column_int64(s, 2),
                     sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4));
        sqlite3_reset(s);
    }
    idx_place_staged(&st->idx, L.batch, L.nb);
    return rc == SQLITE_DONE ? 0 : st_sql_fail(st, err, "cannot load terms");
}

static int sql_rule_preload(struct st_store *base_, uint32_t rid, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    struct st_rule_mem *m = st_rule_mem_get(st, rid);
    if (!m)
        return kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
    if (m->complete)
        return 0;
    int rc = load_rule_terms(st, rid, err);
    if (rc == 0)
        m->complete = true;
    return rc;
}

int st_reload_index(struct st_sql *st, kad_err *err)
{
    (void)err;
    KX_BUG_ON(st->base.mode == ST_OPEN_MEM); /* the index is all a MEM store has */
    idx_fini(&st->idx);  /* leaves an empty index of a new generation (no idx_init: see there) */
    piv_clear(&st->piv); /* its records are gone; a file store lists only unsaved ones */
    piv_cache_drop(st);
    for (size_t i = 0; i < st->rules.len; i++)
        st->rules.ptr[i].complete = false;
    return 0;
}

static void remember(struct st_sql *st, struct st_rule_mem *m, struct st_rec *r)
{
    m->last = r;
    m->last_gen = st->idx.gen;
}

/*
 * Index miss on a baseline that is not fully loaded: fetch the combination from SQLite and
 * keep it in the index (clean). NULL when the database does not have it either.
 */
static struct st_rec *fetch_term(struct st_sql *st, struct st_rule_mem *m, const void *key,
                                 size_t len, uint64_t h, kad_err *err, int *rc)
{
    *rc = 0;
    if (m->complete)
        return NULL;
    sqlite3_stmt *s = st->sq[SQ_TERM_GET];
    sqlite3_bind_int64(s, 1, m->rid);
    sqlite3_bind_int64(s, 2, st_rec_phash(st, m->rid, key, len));
    sqlite3_bind_int64(s, 3, st_disk_hash(key, len));
    sqlite3_bind_blob(s, 4, key, (int)len, SQLITE_STATIC);
    struct st_rec *r = NULL;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        r = idx_insert(&st->idx, m->rid, key, len, h);
        r->id = sqlite3_column_int64(s, 0);
        r->first_seen = sqlite3_column_int64(s, 1);
        r->last_seen = sqlite3_column_int64(s, 2);
        r->flags = (uint8_t)(sqlite3_column_int64(s, 3) & REC_PERSIST_MASK);
    } else if (step != SQLITE_DONE) {
        *rc = st_sql_fail(st, err, "cannot read terms");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r;
}

/*
 * Key every stored combination of baseline `rid` by its pivot value (phash 0 when pivot < 0):
 * once per baseline of a migrated schema 1 file (rows copied with phash 0), or when a rule's
 * pivot changed. One UPDATE through kadet_component and kadet_hash (state_pivot.c); SQLite
 * moves each row's entry to its new place in the index terms_by_hash. MEM stores keep no terms
 * in SQLite.
 */
static int backfill(struct st_sql *st, int64_t rid, int64_t pivot, kad_err *err)
{
    if (st->base.mode == ST_OPEN_MEM)
        return 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE terms_key SET phash = kadet_hash(kadet_component(combo, ?2)) "
                           "WHERE rid = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot index terms by pivot");
    sqlite3_bind_int64(s, 1, rid);
    if (pivot >= 0)
        sqlite3_bind_int64(s, 2, pivot);
    int rc = st_injected(st) ? SQLITE_IOERR : sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return st_sql_fail(st, err, "cannot index terms by pivot");
    int n = sqlite3_changes(st->db);
    st->piv_backfilled += (uint64_t)n;
    if (n > 0)
        kx_log(KX_LOG_INFO, "state %s: %d combinations of baseline %lld keyed by pivot",
               st->base.path, n, (long long)rid);
    return 0;
}

static int register_rows(struct st_sql *st, const struct st_rule_def *def, uint32_t *rid,
                         enum st_baseline *status, int64_t *watermark, kad_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0;
    int64_t found = -1, found_wm = ST_TIME_NONE, found_pivot = -1;
    int64_t pivot = def->has_pivot ? (int64_t)def->pivot : -1;
    bool found_current = false, any = false;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT rid, logic_hash, current, watermark, pivot FROM rules "
                           "WHERE rule_id = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read rules");
    sqlite3_bind_text(s, 1, def->rule_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        any = true;
        if ((uint64_t)sqlite3_column_int64(s, 1) == def->logic_hash) {
            found = sqlite3_column_int64(s, 0);
            found_current = sqlite3_column_int64(s, 2) != 0;
            found_wm = sqlite3_column_type(s, 3) == SQLITE_NULL ? ST_TIME_NONE
                                                                : sqlite3_column_int64(s, 3);
            found_pivot =
                sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 4);
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return st_sql_fail(st, err, "cannot read rules");

    kx_buf fields;
    kx_buf_init(&fields, ST_KEY_MAX + 1);
    kx_str comps[ST_COMPONENTS_MAX] = {{0}};
    size_t nf = def->nfields < ST_COMPONENTS_MAX ? def->nfields : ST_COMPONENTS_MAX;
    for (size_t i = 0; i < nf; i++)
        comps[i] = kx_str_c(def->fields[i]);
    if (nf && (rc = st_combo_encode(&fields, comps, nf, err)) != 0) {
        kx_buf_fini(&fields);
        return rc;
    }
    int64_t now = st_now_ms();
    const char *sql =
        found >= 0 ? "UPDATE rules SET name = ?2, fields = ?3, window_ms = ?4, last_loaded = ?5, "
                     "current = 1, pivot = ?8 WHERE rid = ?6"
                   : "INSERT INTO rules(rule_id, logic_hash, name, fields, window_ms, "
                     "first_loaded, last_loaded, current, pivot) "
                     "VALUES(?1, ?7, ?2, ?3, ?4, ?5, ?5, 1, ?8)";
    rc = 0;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        kx_buf_fini(&fields);
        return st_sql_fail(st, err, "cannot write rules");
    }
    sqlite3_bind_text(s, 1, def->rule_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, def->name ? def->name : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, fields.ptr ? fields.ptr : "", (int)fields.len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, def->window_ms);
    sqlite3_bind_int64(s, 5, now);
    sqlite3_bind_int64(s, 6, found);
    sqlite3_bind_int64(s, 7, (int64_t)def->logic_hash);
    if (pivot >= 0)
        sqlite3_bind_int64(s, 8, pivot);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = st_sql_fail(st, err, "cannot write rules");
    sqlite3_finalize(s);
    kx_buf_fini(&fields);
    if (rc)
        return rc;
    if (found >= 0 && found_pivot != pivot) {
        /* a rollback of the batch would undo the re-keying but not the rule's pivot in memory */
        if (st->base.in_batch && st->base.mode != ST_OPEN_MEM)
            return kx_err_setf(err, KAD_EINVAL,
                               "rule '%s': its pivot changes; register it outside a state batch",
                               def->rule_id);
        if ((rc = backfill(st, found, pivot, err)) != 0)
            return rc;
    }
    *rid = (uint32_t)(found >= 0 ? found : sqlite3_last_insert_rowid(st->db));
    *watermark = found >= 0 ? found_wm : ST_TIME_NONE;
    *status = !any            ? ST_BASELINE_NEW
              : found < 0     ? ST_BASELINE_CHANGED
              : found_current ? ST_BASELINE_KEPT
                              : ST_BASELINE_REVERTED;
    if (sqlite3_prepare_v2(st->db, "UPDATE rules SET current = 0 WHERE rule_id = ?1 AND rid != ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot write rules");
    sqlite3_bind_text(s, 1, def->rule_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, *rid);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = st_sql_fail(st, err, "cannot write rules");
    sqlite3_finalize(s);
    return rc;
}

static int sql_rule_register(struct st_store *base_, const struct st_rule_def *def, uint32_t *rid,
                             enum st_baseline *status, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    int rc;
    enum st_baseline stat = ST_BASELINE_NEW;
    int64_t wm = ST_TIME_NONE;
    uint32_t id = 0;
    if ((rc = st_exec(st, "SAVEPOINT st_register", err)) != 0)
        return rc;
    rc = register_rows(st, def, &id, &stat, &wm, err);
    if (rc) {
        sqlite3_exec(st->db, "ROLLBACK TO st_register; RELEASE st_register", NULL, NULL, NULL);
        return rc;
    }
    if ((rc = st_exec(st, "RELEASE st_register", err)) != 0)
        return rc;
    struct st_rule_mem *m = st_rule_mem_get(st, id);
    if (!m) {
        struct st_rule_mem nm = {.rid = id, .rule_id = kx_strdup(def->rule_id), .watermark = wm};
        KX_VEC_PUSH(&st->rules, nm);
        while (st->by_rid.len <= id)
            KX_VEC_PUSH(&st->by_rid, 0);
        st->by_rid.ptr[id] = (uint32_t)st->rules.len;
        m = &st->rules.ptr[st->rules.len - 1];
        /* a fresh baseline is complete (empty); an existing one loads lazily, so reopening
           a big state is immediate (st_rule_preload loads it all at once) */
        m->complete =
            st->base.mode == ST_OPEN_MEM || stat == ST_BASELINE_NEW || stat == ST_BASELINE_CHANGED;
    }
    m->window_ms = def->window_ms;
    bool repivot = m->has_pivot != def->has_pivot || (def->has_pivot && m->pivot != def->pivot);
    m->has_pivot = def->has_pivot;
    m->pivot = def->has_pivot ? (uint32_t)def->pivot : 0;
    if (repivot && st->idx.live)
        piv_rebuild(st); /* registered again with another pivot: list its records anew */
    if (rid)
        *rid = id;
    if (status)
        *status = stat;
    return 0;
}

static int64_t sql_watermark(const struct st_store *base_, uint32_t rid)
{
    const struct st_sql *st = csql_of(base_);
    const struct st_rule_mem *m = st_rule_mem_get((struct st_sql *)st, rid);
    return m ? m->watermark : ST_TIME_NONE;
}

/* ======================================================================================== */
/* Batches                                                                                  */
/* ======================================================================================== */

static int sql_begin(struct st_store *base_, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    int rc = st_exec(st, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    for (size_t i = 0; i < st->rules.len; i++) {
        st->rules.ptr[i].wm_saved = st->rules.ptr[i].watermark;
        st->rules.ptr[i].wm_dirty = false;
    }
    st->base.in_batch = true;
    st->reload_on_rollback = false;
    return 0;
}

static void undo_push(struct st_sql *st, struct st_rec *r, bool inserted)
{
    struct st_undo u = {.rec = r,
                        .first_seen = r->first_seen,
                        .last_seen = r->last_seen,
                        .flags = r->flags,
                        .inserted = inserted};
    KX_VEC_PUSH(&st->undo, u);
    r->flags |= REC_DIRTY;
}

/* Empty the undo log; a log grown by one huge batch (a bulk --learn) is given back. */
static void undo_clear(struct st_sql *st)
{
    st->undo.len = 0;
    if (st->undo.cap > 4096)
        KX_VEC_FREE(&st->undo);
}

/* The order of the writes: updates of saved rows by id (terms_seen's rowid order), then new
   rows by (rid, phash, khash), the order of the index terms_by_hash, so each of its pages is
   written once while hot; new rows get ascending ids at the end of both tables. */
static int undo_cmp(const void *a, const void *b)
{
    const struct st_undo *u = a, *v = b;
    const struct st_rec *x = u->rec, *y = v->rec;
    bool nx = (x->flags & REC_UNSAVED) != 0, ny = (y->flags & REC_UNSAVED) != 0;
    if (nx != ny)
        return nx ? 1 : -1;
    if (!nx)
        return (x->id > y->id) - (x->id < y->id);
    if (x->rid != y->rid)
        return x->rid < y->rid ? -1 : 1;
    if (u->ph != v->ph)
        return u->ph < v->ph ? -1 : 1;
    return (u->kh > v->kh) - (u->kh < v->kh);
}

/* The id of a saved record that has none (none should: every record read from SQLite or
   written to it gets its row's id); 0 when the row is not there either. */
static int64_t row_id(struct st_sql *st, const struct st_rec *r)
{
    sqlite3_stmt *s = st->sq[SQ_TERM_GET];
    sqlite3_bind_int64(s, 1, r->rid);
    sqlite3_bind_int64(s, 2, st_rec_phash(st, r->rid, r->key, r->klen));
    sqlite3_bind_int64(s, 3, st_disk_hash(r->key, r->klen));
    sqlite3_bind_blob(s, 4, r->key, r->klen, SQLITE_STATIC);
    int64_t id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return id;
}

/* Write one dirty record: an update of its terms_seen row, or (new) a row in both tables. */
static int write_rec(struct st_sql *st, struct st_rec *r, const struct st_undo *u, kad_err *err)
{
    int rc;
    if (!(r->flags & REC_UNSAVED) && !r->id)
        r->id = row_id(st, r);
    if (r->id) {
        sqlite3_stmt *s = st->sq[SQ_TERM_UPDATE];
        sqlite3_bind_int64(s, 1, r->id);
        sqlite3_bind_int64(s, 2, r->first_seen);
        sqlite3_bind_int64(s, 3, r->last_seen);
        sqlite3_bind_int64(s, 4, r->flags & REC_PERSIST_MASK);
        return st_step_done(st, s, err, "cannot write terms");
    }
    sqlite3_stmt *s = st->sq[SQ_TERM_INSERT_KEY];
    sqlite3_bind_int64(s, 1, r->rid);
    sqlite3_bind_int64(s, 2, u->ph);
    sqlite3_bind_int64(s, 3, u->kh);
    sqlite3_bind_blob(s, 4, r->key, r->klen, SQLITE_STATIC);
    if ((rc = st_step_done(st, s, err, "cannot write terms")) != 0)
        return rc;
    int64_t id = sqlite3_last_insert_rowid(st->db);
    s = st->sq[SQ_TERM_INSERT_SEEN];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, r->rid);
    sqlite3_bind_int64(s, 3, r->first_seen);
    sqlite3_bind_int64(s, 4, r->last_seen);
    sqlite3_bind_int64(s, 5, r->flags & REC_PERSIST_MASK);
    if ((rc = st_step_done(st, s, err, "cannot write terms")) != 0)
        return rc;
    r->id = id; /* a rollback of the batch drops the index (reload_on_rollback) */
    return 0;
}

int st_flush_dirty(struct st_sql *st, kad_err *err)
{
    /* MEM stores keep no terms in SQLite: the undo log stays, so rollback still works */
    if (st->base.mode == ST_OPEN_MEM)
        return 0;
    for (size_t i = 0; i < st->undo.len; i++) {
        struct st_undo *u = &st->undo.ptr[i];
        const struct st_rec *r = u->rec;
        if (r->flags & REC_UNSAVED) {
            u->ph = st_rec_phash(st, r->rid, r->key, r->klen);
            u->kh = st_disk_hash(r->key, r->klen);
        }
    }
    /* every record appears once in the log, so the order is free */
    if (st->undo.len > 1)
        qsort(st->undo.ptr, st->undo.len, sizeof(struct st_undo), undo_cmp);
    for (size_t i = 0; i < st->undo.len; i++) {
        struct st_rec *r = st->undo.ptr[i].rec;
        r->flags &= (uint8_t)~REC_DIRTY;
        if (r->flags & REC_DEAD)
            continue;
        int rc = write_rec(st, r, &st->undo.ptr[i], err);
        if (rc == 0)
            r->flags &= (uint8_t)~REC_UNSAVED;
        if (rc) {
            /* keep the remaining records marked so a rollback still restores them */
            for (size_t j = i + 1; j < st->undo.len; j++)
                st->undo.ptr[j].rec->flags |= REC_DIRTY;
            return rc;
        }
    }
    if (st->undo.len)
        st->reload_on_rollback = true;
    undo_clear(st);
    piv_clear(&st->piv); /* it listed only unsaved records */
    return 0;
}

static int write_batch_meta(struct st_sql *st, kad_err *err)
{
    int rc;
    for (size_t i = 0; i < st->rules.len; i++) {
        struct st_rule_mem *m = &st->rules.ptr[i];
        if (!m->wm_dirty)
            continue;
        sqlite3_stmt *s = st->sq[SQ_WATERMARK_SET];
        sqlite3_bind_int64(s, 1, m->rid);
        sqlite3_bind_int64(s, 2, m->watermark);
        if ((rc = st_step_done(st, s, err, "cannot write watermarks")) != 0)
            return rc;
    }
    for (size_t i = 0; i < st->counters.len; i++) {
        struct st_counter *c = &st->counters.ptr[i];
        if (!c->pending)
            continue;
        sqlite3_stmt *s = st->sq[SQ_COUNTER_SET];
        sqlite3_bind_text(s, 1, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, c->value + c->pending);
        if ((rc = st_step_done(st, s, err, "cannot write counters")) != 0)
            return rc;
    }
    return 0;
}

static int sql_commit(struct st_store *base_, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    int rc;
    if ((rc = st_flush_dirty(st, err)) != 0 || (rc = write_batch_meta(st, err)) != 0 ||
        (rc = st_exec(st, "COMMIT", err)) != 0) {
        sql_rollback(base_);
        return rc;
    }
    st->base.in_batch = false;
    for (size_t i = 0; i < st->undo.len; i++) /* MEM mode keeps its undo log until here */
        st->undo.ptr[i].rec->flags &= (uint8_t)~REC_DIRTY;
    undo_clear(st);
    for (size_t i = 0; i < st->rules.len; i++)
        st->rules.ptr[i].wm_dirty = false;
    st_cnt_settle(&st->counters, true);
    return 0;
}

static void sql_rollback(struct st_store *base_)
{
    struct st_sql *st = sql_of(base_);
    if (!st->base.in_batch)
        return;
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    piv_cache_drop(st); /* times go back: the cached groups' order and bounds no longer hold */
    /* undo newest first, so a record inserted then modified ends deleted */
    for (size_t i = st->undo.len; i-- > 0;) {
        struct st_undo *u = &st->undo.ptr[i];
        if (u->inserted) {
            idx_delete(&st->idx, u->rec);
        } else {
            u->rec->first_seen = u->first_seen;
            u->rec->last_seen = u->last_seen;
            u->rec->flags = u->flags;
        }
    }
    undo_clear(st);
    if (st->base.mode != ST_OPEN_MEM)
        piv_clear(&st->piv); /* the unsaved records it listed are gone */
    for (size_t i = 0; i < st->rules.len; i++) {
        st->rules.ptr[i].watermark = st->rules.ptr[i].wm_saved;
        st->rules.ptr[i].wm_dirty = false;
    }
    st_cnt_settle(&st->counters, false);
    st->base.in_batch = false;
    if (st->reload_on_rollback) {
        /* part of the batch was already written to SQLite and the undo log is gone: the
           rolled-back database is the truth, so rebuild the index from it */
        st->reload_on_rollback = false;
        if (st_reload_index(st, NULL) != 0)
            kx_log(KX_LOG_ERROR, "state: cannot reload the index after a rollback");
    }
}

/* ======================================================================================== */
/* Terms                                                                                    */
/* ======================================================================================== */

/*
 * The record of (m->rid, key), from the rule's last-combination cache, the index, or SQLite
 * (lazy baselines); NULL when unknown (*rc < 0 on a database error). Most matching events of a
 * rule repeat its previous combination, so a byte comparison with the last record found saves
 * hashing and probing. The cache holds a record pointer, valid while the index generation it
 * was taken in lasts (idx_delete, idx_compact and idx_fini start a new one).
 */
/* The last record matches key (len bytes): its last 8 bytes first, which in a stream of
   different combinations of one rule differ far more often than the first (a common prefix:
   "5:allow,35:system:serviceaccount:..."), so a miss costs a few instructions. */
static inline bool last_is(const struct st_rec *r, const void *key, size_t len)
{
    if (r->klen != len)
        return false;
    if (len >= 8 && idx_rd64(r->key + len - 8) != idx_rd64((const unsigned char *)key + len - 8))
        return false;
    return memcmp(r->key, key, len) == 0;
}

/* find_rec's index miss: the lazy load from SQLite, out of the hot path. */
static __attribute__((noinline)) struct st_rec *find_rec_slow(struct st_sql *st,
                                                              struct st_rule_mem *m,
                                                              const void *key, size_t len,
                                                              uint64_t h, kad_err *err, int *rc)
{
    struct st_rec *r = fetch_term(st, m, key, len, h, err, rc);
    if (r)
        remember(st, m, r);
    return r;
}

static inline __attribute__((always_inline)) struct st_rec *
find_rec(struct st_sql *st, struct st_rule_mem *m, const void *key, size_t len, uint64_t *h,
         kad_err *err, int *rc)
{
    *rc = 0;
    struct st_rec *r = m->last;
    if (r && m->last_gen == st->idx.gen && last_is(r, key, len))
        return r;
    if (!*h) /* 0: not hashed yet (every caller sets *h: the batch's hash, or 0) */
        *h = idx_hash(m->rid, key, len);
    r = idx_find(&st->idx, m->rid, key, len, *h);
    if (!r)
        return m->complete ? NULL : find_rec_slow(st, m, key, len, *h, err, rc);
    remember(st, m, r);
    return r;
}

static int check_rule(struct st_sql *st, uint32_t rid, struct st_rule_mem **m, kad_err *err)
{
    if (!(*m = st_rule_mem_get(st, rid)))
        return kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
    return 0;
}

/* sql_observe with the key's idx_hash `h` (0: not computed yet). */
static int observe_hashed(struct st_sql *st, uint32_t rid, const void *combo, size_t len,
                          int64_t ts, struct st_term *prev, uint64_t h, kad_err *err)
{
    struct st_rule_mem *m;
    int rc = check_rule(st, rid, &m, err);
    if (rc)
        return rc;
    if (m->watermark == ST_TIME_NONE || ts > m->watermark) {
        m->watermark = ts;
        m->wm_dirty = true;
    }
    struct st_rec *r = find_rec(st, m, combo, len, &h, err, &rc);
    if (!r && rc)
        return rc;
    if (!r) {
        if (prev)
            memset(prev, 0, sizeof(*prev));
        r = idx_insert(&st->idx, rid, combo, len, h);
        remember(st, m, r);
        r->first_seen = r->last_seen = ts;
        undo_push(st, r, true);
        if (st->base.mode != ST_OPEN_MEM)
            r->flags |= REC_UNSAVED; /* until st_flush_dirty writes it */
        piv_add(st, r);
        piv_cache_note(st, r, true);
        return ST_SEEN_NEW;
    }
    if (prev) {
        prev->first_seen = r->first_seen;
        prev->last_seen = r->last_seen;
        prev->alerted = (r->flags & REC_ALERTED) != 0;
    }
    /* ts - last_seen > W, written to avoid overflow on extreme timestamps */
    bool forgotten = m->window_ms > 0 && ts > r->last_seen &&
                     (uint64_t)ts - (uint64_t)r->last_seen > (uint64_t)m->window_ms;
    if (!forgotten && ts >= r->first_seen && ts <= r->last_seen)
        return ST_SEEN_KNOWN; /* nothing changes: keep the record clean */
    if (!(r->flags & REC_DIRTY))
        undo_push(st, r, false);
    if (forgotten) {
        r->first_seen = r->last_seen = ts;
        r->flags &= (uint8_t)~REC_ALERTED;
        piv_cache_note(st, r, false);
        return ST_SEEN_FORGOTTEN;
    }
    if (ts > r->last_seen)
        r->last_seen = ts;
    if (ts < r->first_seen) {
        r->first_seen = ts;
        piv_cache_note(st, r, false);
    }
    return ST_SEEN_KNOWN;
}

static int sql_observe(struct st_store *base_, uint32_t rid, const void *combo, size_t len,
                       int64_t ts, uint64_t origin, struct st_term *prev, kad_err *err)
{
    (void)origin; /* batches are atomic: the engine never needs to recognise its own event */
    return observe_hashed(sql_of(base_), rid, combo, len, ts, prev, 0, err);
}

/* sql_lookup with the key's idx_hash `h` (0: not computed yet). */
static int lookup_hashed(struct st_sql *st, uint32_t rid, const void *combo, size_t len,
                         struct st_term *out, uint64_t h)
{
    struct st_rule_mem *m;
    int rc;
    if (check_rule(st, rid, &m, NULL) != 0)
        return 0;
    struct st_rec *r = find_rec(st, m, combo, len, &h, NULL, &rc);
    if (!r)
        return 0;
    if (out) {
        out->first_seen = r->first_seen;
        out->last_seen = r->last_seen;
        out->alerted = (r->flags & REC_ALERTED) != 0;
    }
    return 1;
}

static int sql_lookup(struct st_store *base_, uint32_t rid, const void *combo, size_t len,
                      struct st_term *out)
{
    return lookup_hashed(sql_of(base_), rid, combo, len, out, 0);
}

/*
 * Batches: per group of PROBE_GROUP probes, hash every key and prefetch its slot, then
 * prefetch the record each slot names, then answer the probes one by one in order through the
 * ordinary path (so the answers are those of single calls, repeats and inserts included). A
 * lookup in a large index is two dependent cache misses (slot, then record); done this way, a
 * group's misses overlap (measured: groups of 32 beat groups of 16 (-8%) and a software pipeline of distance 8, whose
 * record prefetch often waited for a slot line still on its way). Prefetches are hints: a
 * probe whose lines did not arrive (or whose slot moved because an earlier probe grew the
 * table) only waits longer.
 */
#ifndef PROBE_GROUP
#define PROBE_GROUP 32
#endif

static int run_probes(struct st_sql *st, struct st_probe *p, size_t n, bool observe,
                      size_t *found, kad_err *err)
{
    uint64_t h[PROBE_GROUP];
    for (size_t g = 0; g < n; g += PROBE_GROUP) {
        size_t k = n - g < PROBE_GROUP ? n - g : PROBE_GROUP;
        struct st_probe *q = p + g;
        for (size_t i = 0; i < k; i++) {
            /* a hash of 0 is computed again by find_rec: harmless */
            h[i] = idx_hash(q[i].rid, q[i].combo, q[i].len);
            idx_prefetch_slot(&st->idx, h[i]);
        }
        for (size_t i = 0; i < k; i++)
            idx_prefetch_rec(&st->idx, h[i]);
        for (size_t i = 0; i < k; i++) {
            if (observe) {
                int rc = q[i].result = observe_hashed(st, q[i].rid, q[i].combo, q[i].len,
                                                      q[i].ts, q[i].prev, h[i], err);
                if (rc < 0)
                    return rc;
            } else {
                q[i].result = lookup_hashed(st, q[i].rid, q[i].combo, q[i].len, q[i].prev, h[i]);
                *found += (size_t)q[i].result;
            }
        }
    }
    return 0;
}

static int sql_observe_batch(struct st_store *base_, struct st_probe *p, size_t n, kad_err *err)
{
    size_t found = 0;
    return run_probes(sql_of(base_), p, n, true, &found, err);
}

static size_t sql_lookup_batch(struct st_store *base_, struct st_probe *p, size_t n)
{
    size_t found = 0;
    (void)run_probes(sql_of(base_), p, n, false, &found, NULL);
    return found;
}

/* ======================================================================================== */
/* Alerts, positions, counters                                                              */
/* ======================================================================================== */

/* INSERT OR IGNORE: the row changed when the id was not recorded yet (claimed now). */
static int sql_alert_claim(struct st_store *base_, uint32_t rid, const void *combo, size_t len,
                           const char *alert_id, int64_t ts, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    if (combo) {
        struct st_rule_mem *m;
        int rc = check_rule(st, rid, &m, err);
        if (rc)
            return rc;
        uint64_t h = 0; /* find_rec computes it */
        struct st_rec *r = find_rec(st, m, combo, len, &h, err, &rc);
        if (!r && rc)
            return rc;
        if (r && !(r->flags & REC_ALERTED)) {
            if (!(r->flags & REC_DIRTY))
                undo_push(st, r, false);
            r->flags |= REC_ALERTED;
        }
    }
    sqlite3_stmt *s = st->sq[SQ_ALERT_INSERT];
    sqlite3_bind_text(s, 1, alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, rid);
    if (combo)
        sqlite3_bind_blob(s, 3, combo, (int)len, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_int64(s, 4, ts);
    int rc = st_step_done(st, s, err, "cannot record alert");
    return rc ? rc : sqlite3_changes(st->db) > 0;
}

static int sql_alerts_each(struct st_store *base_,
                           int (*fn)(const struct st_alert_info *a, void *ud), void *ud,
                           kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT alert_id, rid, ts FROM alerts ORDER BY rid, ts, alert_id", -1,
                           &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read alerts");
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
        struct st_alert_info a = {
            .alert_id = (const char *)sqlite3_column_text(s, 0),
            .rid = (uint32_t)sqlite3_column_int64(s, 1),
            .ts = sqlite3_column_int64(s, 2),
        };
        if (a.alert_id)
            rc = fn(&a, ud);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = st_sql_fail(st, err, "cannot read alerts");
    sqlite3_finalize(s);
    return rc;
}

static int sql_alert_emitted(struct st_store *base_, const char *alert_id, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    sqlite3_stmt *s = st->sq[SQ_ALERT_GET];
    sqlite3_bind_text(s, 1, alert_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW    ? 1
              : rc == SQLITE_DONE ? 0
                                  : st_sql_fail(st, err, "cannot read alerts");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

static int sql_pos_set(struct st_store *base_, const char *source, int64_t offset, int64_t line,
                       kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    sqlite3_stmt *s = st->sq[SQ_POS_SET];
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, offset);
    sqlite3_bind_int64(s, 3, line);
    sqlite3_bind_int64(s, 4, st_now_ms());
    return st_step_done(st, s, err, "cannot record input position");
}

static int sql_pos_get(struct st_store *base_, const char *source, struct st_pos *out, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    sqlite3_stmt *s = st->sq[SQ_POS_GET], *own = NULL;
    if (!s) { /* read-only stores have no prepared statements */
        if (sqlite3_prepare_v2(st->db, stmt_sql[SQ_POS_GET], -1, &own, NULL) != SQLITE_OK)
            return st_sql_fail(st, err, "cannot read input positions");
        s = own;
    }
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        out->offset = sqlite3_column_int64(s, 0);
        out->line = sqlite3_column_int64(s, 1);
    } else if (rc == SQLITE_DONE) {
        ret = kx_err_setf(err, KAD_ENOTFOUND, "no position recorded for '%s'", source);
    } else {
        ret = st_sql_fail(st, err, "cannot read input positions");
    }
    if (own) {
        sqlite3_finalize(own);
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return ret;
}

static int sql_blob_set(struct st_store *base_, uint32_t rid, const void *data, size_t len,
                        kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    if (len > INT32_MAX)
        return kx_err_setf(err, KAD_ELIMIT, "rule blob of %zu bytes is too large", len);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO blobs(rid, data) VALUES(?1, ?2) "
                           "ON CONFLICT(rid) DO UPDATE SET data = ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot write rule state");
    sqlite3_bind_int64(s, 1, rid);
    sqlite3_bind_blob(s, 2, len ? data : "", (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : st_sql_fail(st, err, "cannot write rule state");
    sqlite3_finalize(s);
    return rc;
}

static int sql_blob_get(struct st_store *base_, uint32_t rid, kx_buf *out, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    sqlite3_stmt *s = NULL;
    /* a read-only store of a file older than the table has none: nothing stored */
    if (sqlite3_prepare_v2(st->db, "SELECT data FROM blobs WHERE rid = ?1", -1, &s, NULL) !=
        SQLITE_OK)
        return kx_err_setf(err, KAD_ENOTFOUND, "no rule state stored");
    sqlite3_bind_int64(s, 1, rid);
    int rc = sqlite3_step(s), ret;
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        ret = n > 0 && kx_buf_add(out, p, (size_t)n) != KAD_OK
                  ? kx_err_setf(err, KAD_ELIMIT, "rule state of %d bytes does not fit", n)
                  : 0;
    } else if (rc == SQLITE_DONE) {
        ret = kx_err_setf(err, KAD_ENOTFOUND, "no rule state stored");
    } else {
        ret = st_sql_fail(st, err, "cannot read rule state");
    }
    sqlite3_finalize(s);
    return ret;
}

static int sql_counter_add(struct st_store *base_, const char *name, int64_t delta, kad_err *err)
{
    (void)err; /* limits were checked by the front; adding in memory cannot fail */
    st_cnt_add(&sql_of(base_)->counters, name, delta);
    return 0;
}

static int64_t sql_counter_get(struct st_store *base_, const char *name)
{
    return st_cnt_get(&sql_of(base_)->counters, name);
}

static int sql_counters_each(struct st_store *base_,
                             int (*fn)(const char *name, int64_t value, void *ud), void *ud)
{
    return st_cnt_each(&sql_of(base_)->counters, fn, ud);
}

static int sql_positions_each(struct st_store *base_,
                              int (*fn)(const char *source, const struct st_pos *pos, void *ud),
                              void *ud, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT source, byte_offset, line_no FROM positions ORDER BY source", -1,
                           &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read input positions");
    int step, rc = 0;
    while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
        struct st_pos p = {sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2)};
        rc = fn((const char *)sqlite3_column_text(s, 0), &p, ud);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = st_sql_fail(st, err, "cannot read input positions");
    sqlite3_finalize(s);
    return rc;
}

/* ======================================================================================== */
/* The table                                                                                */
/* ======================================================================================== */

const struct st_ops st_sqlite_ops = {
    .name = "sqlite",
    .caps = ST_CAP_ATOMIC_BATCH,
    .open = sql_open,
    .close = sql_close,
    .rule_register = sql_rule_register,
    .rule_preload = sql_rule_preload,
    .watermark = sql_watermark,
    .begin = sql_begin,
    .commit = sql_commit,
    .rollback = sql_rollback,
    .observe = sql_observe,
    .alerts_each = sql_alerts_each,
    .lookup = sql_lookup,
    .alert_claim = sql_alert_claim,
    .alert_emitted = sql_alert_emitted,
    .pos_set = sql_pos_set,
    .pos_get = sql_pos_get,
    .positions_each = sql_positions_each,
    .counter_add = sql_counter_add,
    .counter_get = sql_counter_get,
    .counters_each = sql_counters_each,
    .stats = sql_stats_get,
    .rules_each = sql_rules_each,
    .terms_each = sql_terms_each,
    .pivot_each = sql_pivot_each,
    .pivot_count = sql_pivot_count,
    .prune = sql_prune,
    .reset = sql_reset,
    .blob_set = sql_blob_set,
    .blob_get = sql_blob_get,
    .observe_batch = sql_observe_batch,
    .lookup_batch = sql_lookup_batch,
};

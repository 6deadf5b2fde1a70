/*
 * state_alerts.c - the alert index (state.h, "The alert index"; kad_alerts in include/kad.h):
 * committed alert documents indexed for the console, and their triage status
 * (kibana.alert.workflow_status), in an SQLite database beside the state (STATE.alerts).
 *
 * The document's fields are read by SQLite's JSON functions when a line is added (id, times,
 * rule, severity, user, reason, new terms); the document itself is kept as written. Pages are
 * keyset pages on (time_ms DESC, id DESC), so alerts inserted while someone pages never move
 * the rows of the pages that follow. The workflow table holds the current status; every change
 * is also appended to workflow_log.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "state/state.h"
#include "state/state_int.h"

#include <hiredis/hiredis.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

struct st_alerts {
    sqlite3 *db;
    char *path; /* NULL in memory */
    /* a redis:// state: the index is in memory and the workflow status is kept in Redis, in
       the hash PREFIX"wf" (alert id -> JSON status, note, by, time_ms) and the list
       PREFIX"wflog" (every change), loaded into the workflow table at open */
    struct st_redis_conn *rc;
    char *wf_key, *log_key;
    char *shown; /* "URL HASHKEY" for kad_alerts_path */
};

static const char alerts_schema[] =
    "CREATE TABLE IF NOT EXISTS alerts("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, rule_id TEXT NOT NULL, rule_name TEXT NOT NULL,"
    " severity TEXT NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, terms TEXT NOT NULL,"
    " doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time_ms DESC, id DESC);"
    "CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule_id, time_ms);"
    "CREATE INDEX IF NOT EXISTS alerts_user ON alerts(user, time_ms);"
    "CREATE TABLE IF NOT EXISTS workflow(id TEXT PRIMARY KEY, status TEXT NOT NULL,"
    " note TEXT NOT NULL, by TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS workflow_log(id TEXT NOT NULL, status TEXT NOT NULL,"
    " note TEXT NOT NULL, by TEXT NOT NULL, updated_ms INTEGER NOT NULL);";

/* The indexed columns, read by SQLite's JSON functions from the document ?1 (dotted keys as
   Elastic writes kibana.*, nested ECS objects); ISO 8601 times become epoch milliseconds through
   julianday, which reads the "Z" and the fraction. */
/* clang-format off */
static const char insert_sql[] =
    "INSERT OR IGNORE INTO alerts(id, time_ms, created_ms, rule_id, rule_name, severity, user,"
    " reason, terms, doc)"
    " SELECT json_extract(d, '$.\"kibana.alert.uuid\"'),"
    "  COALESCE(CAST(round((julianday(json_extract(d, '$.\"kibana.alert.original_time\"'))"
    "   - 2440587.5) * 86400000.0) AS INTEGER),"
    "   CAST(round((julianday(json_extract(d, '$.\"@timestamp\"')) - 2440587.5) * 86400000.0)"
    "   AS INTEGER), 0),"
    "  COALESCE(CAST(round((julianday(json_extract(d, '$.\"@timestamp\"')) - 2440587.5)"
    "   * 86400000.0) AS INTEGER), 0),"
    "  COALESCE(json_extract(d, '$.\"kibana.alert.rule.rule_id\"'), ''),"
    "  COALESCE(json_extract(d, '$.\"kibana.alert.rule.name\"'), ''),"
    "  COALESCE(json_extract(d, '$.\"kibana.alert.severity\"'), ''),"
    "  COALESCE(json_extract(d, '$.user.name'), json_extract(d, '$.kubernetes.audit.user.username'),"
    "   json_extract(d, '$.\"user.name\"'), ''),"
    "  COALESCE(json_extract(d, '$.\"kibana.alert.reason\"'), ''),"
    "  COALESCE((SELECT group_concat(value, char(31))"
    "   FROM json_each(d, '$.\"kibana.alert.new_terms\"')), ''),"
    "  d"
    " FROM (SELECT ?1 AS d)";
/* clang-format on */

static int fail(struct st_alerts *a, kad_err *err, const char *what)
{
    return kx_err_setf(err, KAD_ESTATE, "alert index %s: %s: %s",
                       a->path ? a->path : ":memory:", what, sqlite3_errmsg(a->db));
}

static int redis_open(struct st_alerts **out, const char *url, kad_err *err);

int st_alerts_open(struct st_alerts **out, const char *state_path, kad_err *err)
{
    *out = NULL;
    if (state_path && (strncmp(state_path, "redis://", 8) == 0 ||
                       strncmp(state_path, "rediss://", 9) == 0))
        return redis_open(out, state_path, err);
    struct st_alerts *a = kx_calloc(1, sizeof(*a));
    const char *file = ":memory:";
    if (state_path) {
        size_t n = strlen(state_path);
        a->path = kx_malloc(n + 8);
        memcpy(a->path, state_path, n);
        memcpy(a->path + n, ".alerts", 8);
        file = a->path;
    }
    int rc;
    if (sqlite3_open_v2(file, &a->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = kx_err_setf(err, KAD_ESTATE, "cannot open alert index '%s': %s", file,
                         a->db ? sqlite3_errmsg(a->db) : "out of memory");
        st_alerts_close(a);
        return rc;
    }
    sqlite3_busy_timeout(a->db, 5000);
    const char *init = state_path ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" : "";
    if (sqlite3_exec(a->db, init, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(a->db, alerts_schema, NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(a, err, "cannot create its tables");
        st_alerts_close(a);
        return rc;
    }
    *out = a;
    return KAD_OK;
}

void st_alerts_close(struct st_alerts *a)
{
    if (!a)
        return;
    sqlite3_close(a->db);
    st_redis_conn_close(a->rc);
    kx_free(a->wf_key);
    kx_free(a->log_key);
    kx_free(a->shown);
    kx_free(a->path);
    kx_free(a);
}

const char *st_alerts_path(const struct st_alerts *a) { return a->rc ? a->shown : a->path; }

/* The workflow statuses kept in Redis into the (memory) workflow table. */
static int redis_load(struct st_alerts *a, kad_err *err)
{
    const int argc[1] = {2};
    const char *av[2] = {"HGETALL", a->wf_key};
    const char *const *argv[1] = {av};
    redisReply *r = NULL;
    int rc = st_redis_conn_run(a->rc, 1, argc, argv, &r, err);
    if (rc)
        return rc;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        rc = kx_err_setf(err, KAD_ESTATE, "alert index %s: cannot read %s: %s", a->shown,
                         a->wf_key, r && r->type == REDIS_REPLY_ERROR ? r->str : "not a hash");
        if (r)
            freeReplyObject(r);
        return rc;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT OR REPLACE INTO workflow(id, status, note, by, updated_ms)"
                           " SELECT ?1, json_extract(?2, '$.status'),"
                           " COALESCE(json_extract(?2, '$.note'), ''),"
                           " COALESCE(json_extract(?2, '$.by'), ''),"
                           " COALESCE(json_extract(?2, '$.time_ms'), 0)"
                           " WHERE json_valid(?2) AND json_extract(?2, '$.status')"
                           " IN ('open', 'acknowledged', 'closed')",
                           -1, &s, NULL) != SQLITE_OK)
        rc = fail(a, err, "cannot prepare");
    for (size_t i = 0; rc == 0 && i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, k->str, (int)k->len, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, v->str, (int)v->len, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = fail(a, err, "cannot load the workflow status");
    }
    sqlite3_finalize(s);
    freeReplyObject(r);
    return rc;
}

static int redis_open(struct st_alerts **out, const char *url, kad_err *err)
{
    struct st_alerts *a = NULL;
    int rc = st_alerts_open(&a, NULL, err);
    if (rc)
        return rc;
    char *prefix = NULL;
    rc = st_redis_conn_open(&a->rc, url, NULL, &prefix, err);
    if (rc == 0) {
        size_t n = strlen(prefix) + 8;
        a->wf_key = kx_malloc(n);
        a->log_key = kx_malloc(n);
        snprintf(a->wf_key, n, "%swf", prefix);
        snprintf(a->log_key, n, "%swflog", prefix);
        kx_free(prefix);
        const char *u = st_redis_conn_url(a->rc);
        n = strlen(u) + strlen(a->wf_key) + 2;
        a->shown = kx_malloc(n);
        snprintf(a->shown, n, "%s %s", u, a->wf_key);
        rc = redis_load(a, err);
    }
    if (rc) {
        st_alerts_close(a);
        return rc;
    }
    *out = a;
    return KAD_OK;
}

/* The changes of one triage call (the rows of the memory workflow table for ids) into Redis:
   one MULTI/EXEC of an HSET and an RPUSH per id. */
static int redis_store(struct st_alerts *a, const char *const *ids, size_t n, kad_err *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT json_object('status', status, 'note', note, 'by', by,"
                           " 'time_ms', updated_ms), json_object('id', id, 'status', status,"
                           " 'note', note, 'by', by, 'time_ms', updated_ms)"
                           " FROM workflow WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(a, err, "cannot prepare");
    size_t nc = 2 * n + 2;
    int *argc = kx_calloc(nc, sizeof(*argc));
    const char **av = kx_calloc(4 * nc, sizeof(*av));
    const char *const **argv = kx_calloc(nc, sizeof(*argv));
    char **own = kx_calloc(2 * n + 1, sizeof(*own));
    int rc = 0;
    argc[0] = 1;
    av[0] = "MULTI";
    argv[0] = &av[0];
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, ids[i], -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_ROW) {
            rc = fail(a, err, "cannot read the workflow status");
            break;
        }
        own[2 * i] = kx_strdup((const char *)sqlite3_column_text(s, 0));
        own[2 * i + 1] = kx_strdup((const char *)sqlite3_column_text(s, 1));
        const char **h = &av[4 * (1 + 2 * i)], **l = &av[4 * (2 + 2 * i)];
        h[0] = "HSET", h[1] = a->wf_key, h[2] = ids[i], h[3] = own[2 * i];
        l[0] = "RPUSH", l[1] = a->log_key, l[2] = own[2 * i + 1];
        argc[1 + 2 * i] = 4, argv[1 + 2 * i] = h;
        argc[2 + 2 * i] = 3, argv[2 + 2 * i] = l;
    }
    sqlite3_finalize(s);
    av[4 * (nc - 1)] = "EXEC";
    argc[nc - 1] = 1;
    argv[nc - 1] = &av[4 * (nc - 1)];
    redisReply **rep = kx_calloc(nc, sizeof(*rep));
    if (rc == 0)
        rc = st_redis_conn_run(a->rc, nc, argc, argv, rep, err);
    if (rc == 0) {
        const redisReply *x = rep[nc - 1];
        if (!x || x->type != REDIS_REPLY_ARRAY)
            rc = kx_err_setf(err, KAD_ESTATE, "alert index %s: the workflow status was not "
                             "stored: %s", a->shown,
                             x && x->type == REDIS_REPLY_ERROR ? x->str : "transaction aborted");
        for (size_t i = 0; rc == 0 && x && i < x->elements; i++)
            if (x->element[i]->type == REDIS_REPLY_ERROR)
                rc = kx_err_setf(err, KAD_ESTATE, "alert index %s: %s", a->shown,
                                 x->element[i]->str);
        for (size_t i = 0; i < nc; i++)
            if (rep[i])
                freeReplyObject(rep[i]);
    }
    for (size_t i = 0; i < 2 * n; i++)
        kx_free(own[i]);
    kx_free(own);
    kx_free(rep);
    kx_free(argv);
    kx_free(av);
    kx_free(argc);
    return rc;
}

/* 1 when the text is a JSON object with a string kibana.alert.uuid (CASE evaluates lazily: the
   JSON functions never see malformed text, which would be an SQL error). */
static const char check_sql[] =
    "SELECT CASE WHEN json_valid(?1) THEN CASE WHEN json_type(?1) = 'object' THEN"
    " json_type(?1, '$.\"kibana.alert.uuid\"') IS 'text' ELSE 0 END ELSE 0 END";

int st_alerts_add(struct st_alerts *a, const char *ndjson, size_t len, size_t *added, size_t *bad,
                  kad_err *err)
{
    size_t n_added = 0, n_bad = 0;
    sqlite3_stmt *s = NULL, *chk = NULL;
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(a, err, "cannot begin");
    if (sqlite3_prepare_v2(a->db, insert_sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, check_sql, -1, &chk, NULL) != SQLITE_OK)
        goto db_fail;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(ndjson + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - ndjson) : len;
        size_t b = i, e = end;
        while (b < e && (ndjson[b] == ' ' || ndjson[b] == '\t' || ndjson[b] == '\r'))
            b++;
        while (e > b && (ndjson[e - 1] == ' ' || ndjson[e - 1] == '\t' || ndjson[e - 1] == '\r'))
            e--;
        i = end + 1;
        if (b == e)
            continue;
        if (e - b > 0x7fffffff) {
            n_bad++;
            continue;
        }
        sqlite3_reset(chk);
        sqlite3_bind_text(chk, 1, ndjson + b, (int)(e - b), SQLITE_STATIC);
        if (sqlite3_step(chk) != SQLITE_ROW)
            goto db_fail;
        if (!sqlite3_column_int(chk, 0)) {
            n_bad++;
            continue;
        }
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, ndjson + b, (int)(e - b), SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto db_fail;
        if (sqlite3_changes(a->db) == 1)
            n_added++; /* else an id already indexed */
    }
    sqlite3_finalize(s);
    sqlite3_finalize(chk);
    if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = fail(a, err, "cannot commit");
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (added)
        *added = n_added;
    if (bad)
        *bad = n_bad;
    return KAD_OK;
db_fail:;
    int rc = fail(a, err, "cannot index alerts");
    sqlite3_finalize(s);
    sqlite3_finalize(chk);
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- queries ------------------------------------------------------------------------------- */

/* A statement built from a filter: the SQL text and its parameters, bound in order. */
enum { P_TEXT, P_INT };
struct param {
    int kind;
    const char *s;
    int64_t i;
};
struct query {
    kx_buf sql;
    struct param p[48];
    int np;
    kx_buf scratch; /* paths and LIKE patterns, NUL-separated */
    size_t offs[32];
    int noffs;
};

static void q_text(struct query *q, const char *s)
{
    q->p[q->np++] = (struct param){.kind = P_TEXT, .s = s};
}
static void q_int(struct query *q, int64_t v)
{
    q->p[q->np++] = (struct param){.kind = P_INT, .i = v};
}
/* A string kept in scratch; its parameter is bound from the final buffer. */
static void q_own(struct query *q, const char *s, size_t n)
{
    q->offs[q->noffs++] = q->scratch.len;
    kx_buf_add(&q->scratch, s, n);
    kx_buf_addc(&q->scratch, '\0');
    q->p[q->np++] = (struct param){.kind = P_TEXT, .s = NULL, .i = q->noffs - 1};
}

/* The JSON path of a dotted field in a nested document: $."a"."b"."c". */
static void q_path(struct query *q, const char *field, bool flat)
{
    kx_buf b;
    kx_buf_init(&b, 4096);
    kx_buf_adds(&b, "$");
    const char *p = field;
    while (*p) {
        const char *dot = flat ? NULL : strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        kx_buf_adds(&b, ".\"");
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '"' || p[i] == '\\')
                kx_buf_addc(&b, '\\');
            kx_buf_addc(&b, p[i]);
        }
        kx_buf_addc(&b, '"');
        p += n;
        if (*p == '.')
            p++;
    }
    q_own(q, b.ptr, b.len);
    kx_buf_fini(&b);
}

static int q_where(struct query *q, const kad_alert_filter *f, kad_err *err)
{
    kx_buf_adds(&q->sql, " WHERE 1");
    if (f->rule) {
        kx_buf_adds(&q->sql, " AND (a.rule_id = ? OR a.rule_name = ?)");
        q_text(q, f->rule);
        q_text(q, f->rule);
    }
    if (f->severity) {
        kx_buf_adds(&q->sql, " AND a.severity = ?");
        q_text(q, f->severity);
    }
    if (f->user) {
        kx_buf_adds(&q->sql, " AND a.user = ?");
        q_text(q, f->user);
    }
    if (f->status) {
        kx_buf_adds(&q->sql, " AND COALESCE(w.status, 'open') = ?");
        q_text(q, f->status);
    }
    if (f->text && *f->text) {
        kx_buf b;
        kx_buf_init(&b, 8192);
        kx_buf_addc(&b, '%');
        for (const char *p = f->text; *p; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                kx_buf_addc(&b, '\\');
            kx_buf_addc(&b, *p);
        }
        kx_buf_addc(&b, '%');
        int e = kx_buf_error(&b);
        if (!e) {
            kx_buf_adds(&q->sql, " AND a.doc LIKE ? ESCAPE '\\'");
            q_own(q, b.ptr, b.len);
        }
        kx_buf_fini(&b);
        if (e)
            return kx_err_setf(err, KAD_ELIMIT, "text filter longer than 8 KiB");
    }
    if (f->from_ms != KAD_TIME_NONE) {
        kx_buf_adds(&q->sql, " AND a.time_ms >= ?");
        q_int(q, f->from_ms);
    }
    if (f->to_ms != KAD_TIME_NONE) {
        kx_buf_adds(&q->sql, " AND a.time_ms < ?");
        q_int(q, f->to_ms);
    }
    if (f->created_from_ms != KAD_TIME_NONE) {
        kx_buf_adds(&q->sql, " AND a.created_ms >= ?");
        q_int(q, f->created_from_ms);
    }
    if (f->nconds > 8)
        return kx_err_setf(err, KAD_ELIMIT, "more than 8 field conditions");
    for (size_t i = 0; i < f->nconds; i++) {
        /* the value as a dotted key (flat, as Elastic writes kibana.*) or nested ECS */
        kx_buf_adds(&q->sql, " AND COALESCE(json_extract(a.doc, ?), json_extract(a.doc, ?)) = ?");
        q_path(q, f->conds[i].field, true);
        q_path(q, f->conds[i].field, false);
        q_text(q, f->conds[i].value);
    }
    if (f->after_id) {
        kx_buf_adds(&q->sql, " AND (a.time_ms < ? OR (a.time_ms = ? AND a.id < ?))");
        q_int(q, f->after_ms);
        q_int(q, f->after_ms);
        q_text(q, f->after_id);
    }
    return KAD_OK;
}

static int q_prepare(struct st_alerts *a, struct query *q, sqlite3_stmt **s, kad_err *err)
{
    if (kx_buf_error(&q->sql) || kx_buf_error(&q->scratch))
        return kx_err_setf(err, KAD_ELIMIT, "alert query too long");
    if (sqlite3_prepare_v2(a->db, q->sql.ptr, -1, s, NULL) != SQLITE_OK)
        return fail(a, err, "cannot prepare a query");
    for (int i = 0; i < q->np; i++) {
        const struct param *p = &q->p[i];
        if (p->kind == P_INT)
            sqlite3_bind_int64(*s, i + 1, p->i);
        else if (p->s)
            sqlite3_bind_text(*s, i + 1, p->s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_text(*s, i + 1, q->scratch.ptr + q->offs[p->i], -1, SQLITE_STATIC);
    }
    return KAD_OK;
}

static void q_init(struct query *q)
{
    memset(q, 0, sizeof(*q));
    kx_buf_init(&q->sql, 65536);
    kx_buf_init(&q->scratch, 65536);
}
static void q_fini(struct query *q)
{
    kx_buf_fini(&q->sql);
    kx_buf_fini(&q->scratch);
}

static const char row_cols[] =
    "SELECT a.id, a.rule_id, a.rule_name, a.severity, a.user, a.reason, a.terms, a.time_ms,"
    " a.created_ms, COALESCE(w.status, 'open'), COALESCE(w.note, ''), COALESCE(w.by, ''),"
    " w.updated_ms, a.doc, a.seq FROM alerts a LEFT JOIN workflow w ON w.id = a.id";

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static int each_row(struct st_alerts *a, sqlite3_stmt *s,
                    int (*fn)(const kad_alert_row *r, void *ud), void *ud, size_t *rows,
                    kad_err *err)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        kad_alert_row r = {
            .id = col(s, 0),
            .rule_id = col(s, 1),
            .rule_name = col(s, 2),
            .severity = col(s, 3),
            .user = col(s, 4),
            .reason = col(s, 5),
            .terms = col(s, 6),
            .time_ms = sqlite3_column_int64(s, 7),
            .created_ms = sqlite3_column_int64(s, 8),
            .status = col(s, 9),
            .note = col(s, 10),
            .status_by = col(s, 11),
            .status_ms = sqlite3_column_type(s, 12) == SQLITE_NULL ? KAD_TIME_NONE
                                                                   : sqlite3_column_int64(s, 12),
            .doc = col(s, 13),
            .doc_len = (size_t)sqlite3_column_bytes(s, 13),
            .seq = (uint64_t)sqlite3_column_int64(s, 14),
        };
        if (rows)
            (*rows)++;
        int stop = fn(&r, ud);
        if (stop)
            return stop;
    }
    return rc == SQLITE_DONE ? KAD_OK : fail(a, err, "cannot read alerts");
}

int st_alerts_find(struct st_alerts *a, const kad_alert_filter *f,
                   int (*fn)(const kad_alert_row *r, void *ud), void *ud, kad_err *err)
{
    struct query q;
    q_init(&q);
    sqlite3_stmt *s = NULL;
    kx_buf_adds(&q.sql, row_cols);
    int rc = q_where(&q, f, err);
    if (rc == KAD_OK) {
        kx_buf_adds(&q.sql, " ORDER BY a.time_ms DESC, a.id DESC");
        if (f->limit)
            kx_buf_addf(&q.sql, " LIMIT %zu", f->limit);
        rc = q_prepare(a, &q, &s, err);
    }
    if (rc == KAD_OK)
        rc = each_row(a, s, fn, ud, NULL, err);
    sqlite3_finalize(s);
    q_fini(&q);
    return rc;
}

int st_alerts_count(struct st_alerts *a, const kad_alert_filter *f, uint64_t *n, kad_err *err)
{
    struct query q;
    q_init(&q);
    sqlite3_stmt *s = NULL;
    *n = 0;
    kx_buf_adds(&q.sql, "SELECT count(*) FROM alerts a LEFT JOIN workflow w ON w.id = a.id");
    int rc = q_where(&q, f, err);
    if (rc == KAD_OK)
        rc = q_prepare(a, &q, &s, err);
    if (rc == KAD_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            *n = (uint64_t)sqlite3_column_int64(s, 0);
        else
            rc = fail(a, err, "cannot count alerts");
    }
    sqlite3_finalize(s);
    q_fini(&q);
    return rc;
}

int st_alerts_get(struct st_alerts *a, const char *id, int (*fn)(const kad_alert_row *r, void *ud),
                  void *ud, kad_err *err)
{
    sqlite3_stmt *s = NULL;
    char sql[sizeof(row_cols) + 32];
    snprintf(sql, sizeof(sql), "%s WHERE a.id = ?", row_cols);
    if (sqlite3_prepare_v2(a->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fail(a, err, "cannot prepare a query");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    size_t rows = 0;
    int rc = each_row(a, s, fn, ud, &rows, err);
    sqlite3_finalize(s);
    if (rc == KAD_OK && rows == 0)
        return kx_err_setf(err, KAD_ENOTFOUND, "no alert %s", id);
    return rc;
}

int st_alerts_histogram(struct st_alerts *a, const kad_alert_filter *f, int64_t bucket_ms,
                        int (*fn)(int64_t bucket, const char *rule_name, const char *severity,
                                  uint64_t n, void *ud),
                        void *ud, kad_err *err)
{
    if (bucket_ms <= 0)
        return kx_err_setf(err, KAD_EINVAL, "histogram bucket must be positive");
    struct query q;
    q_init(&q);
    sqlite3_stmt *s = NULL;
    kx_buf_addf(&q.sql,
                "SELECT (a.time_ms / %lld) * %lld AS b, a.rule_name, a.severity, count(*)"
                " FROM alerts a LEFT JOIN workflow w ON w.id = a.id",
                (long long)bucket_ms, (long long)bucket_ms);
    kad_alert_filter g = *f;
    g.after_id = NULL;
    g.limit = 0;
    int rc = q_where(&q, &g, err);
    if (rc == KAD_OK) {
        kx_buf_adds(&q.sql,
                    " GROUP BY b, a.rule_name, a.severity ORDER BY b, a.rule_name, a.severity");
        rc = q_prepare(a, &q, &s, err);
    }
    if (rc == KAD_OK) {
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            int stop = fn(sqlite3_column_int64(s, 0), col(s, 1), col(s, 2),
                          (uint64_t)sqlite3_column_int64(s, 3), ud);
            if (stop) {
                rc = stop;
                break;
            }
        }
        if (rc == KAD_OK && r != SQLITE_DONE)
            rc = fail(a, err, "cannot read the histogram");
    }
    sqlite3_finalize(s);
    q_fini(&q);
    return rc;
}

int st_alerts_set_status(struct st_alerts *a, const char *const *ids, size_t n, const char *status,
                         const char *note, const char *by, int64_t now_ms, size_t *changed,
                         kad_err *err)
{
    if (!status ||
        (strcmp(status, "open") && strcmp(status, "acknowledged") && strcmp(status, "closed")))
        return kx_err_setf(err, KAD_EINVAL,
                           "workflow status must be open, acknowledged or closed, not '%s'",
                           status ? status : "");
    if (changed)
        *changed = 0;
    sqlite3_stmt *chk = NULL, *up = NULL, *log = NULL;
    int rc = KAD_OK;
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(a, err, "cannot begin");
    if (sqlite3_prepare_v2(a->db, "SELECT 1 FROM alerts WHERE id = ?", -1, &chk, NULL) ||
        sqlite3_prepare_v2(a->db,
                           "INSERT OR REPLACE INTO workflow(id, status, note, by, updated_ms)"
                           " VALUES(?, ?, ?, ?, ?)",
                           -1, &up, NULL) ||
        sqlite3_prepare_v2(a->db,
                           "INSERT INTO workflow_log(id, status, note, by, updated_ms)"
                           " VALUES(?, ?, ?, ?, ?)",
                           -1, &log, NULL)) {
        rc = fail(a, err, "cannot prepare");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(chk);
        sqlite3_bind_text(chk, 1, ids[i], -1, SQLITE_STATIC);
        int r = sqlite3_step(chk);
        if (r == SQLITE_DONE) {
            rc = kx_err_setf(err, KAD_ENOTFOUND, "no alert %s", ids[i]);
            goto out;
        }
        if (r != SQLITE_ROW) {
            rc = fail(a, err, "cannot read alerts");
            goto out;
        }
        sqlite3_stmt *ss[2] = {up, log};
        for (int k = 0; k < 2; k++) {
            sqlite3_reset(ss[k]);
            sqlite3_bind_text(ss[k], 1, ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(ss[k], 2, status, -1, SQLITE_STATIC);
            sqlite3_bind_text(ss[k], 3, note ? note : "", -1, SQLITE_STATIC);
            sqlite3_bind_text(ss[k], 4, by ? by : "", -1, SQLITE_STATIC);
            sqlite3_bind_int64(ss[k], 5, now_ms);
            if (sqlite3_step(ss[k]) != SQLITE_DONE) {
                rc = fail(a, err, "cannot write the workflow status");
                goto out;
            }
        }
        if (changed)
            (*changed)++;
    }
out:
    sqlite3_finalize(chk);
    sqlite3_finalize(up);
    sqlite3_finalize(log);
    /* a redis:// state: Redis first, the memory table only when Redis has taken it */
    if (rc == KAD_OK && a->rc)
        rc = redis_store(a, ids, n, err);
    if (rc == KAD_OK && sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(a, err, "cannot commit");
    if (rc != KAD_OK) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        if (changed)
            *changed = 0;
    }
    return rc;
}

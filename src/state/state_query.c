/*
 * state_query.c - inspection and maintenance of the state store: stats, the list of
 * baselines, iteration over combinations with filters, pruning by watermark and reset.
 *
 * Inspection reads SQLite (so `kadet state` works read-only while a writer runs); a writer
 * calling it inside a batch first writes its dirty records into the open transaction so it
 * sees its own changes. MEM stores keep terms only in the index, which is read instead.
 */
#include "state/state_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ======================================================================================== */
/* Baselines (rows of the rules table), collected into owned copies                          */
/* ======================================================================================== */

struct rule_row {
    struct st_rule_info info; /* strings point into the fields below */
    char *rule_id;
    char *name;
    char *fields;
};
typedef KX_VEC(struct rule_row) rule_rows;

static void rows_free(rule_rows *v)
{
    for (size_t i = 0; i < v->len; i++) {
        kx_free(v->ptr[i].rule_id);
        kx_free(v->ptr[i].name);
        kx_free(v->ptr[i].fields);
    }
    KX_VEC_FREE(v);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const char *p = (const char *)sqlite3_column_blob(s, i);
    return kx_strndup(p ? p : "", (size_t)sqlite3_column_bytes(s, i));
}

/* Count the index's live records per rid (MEM stores, whose terms are not in SQLite). */
static uint64_t *mem_counts(struct st_sql *st, size_t *n)
{
    *n = st->by_rid.len;
    uint64_t *c = kx_calloc(*n ? *n : 1, sizeof(uint64_t));
    size_t ch = 0, off = 0;
    struct st_rec *r;
    while ((r = idx_next(&st->idx, &ch, &off)) != NULL)
        if (r->rid < *n)
            c[r->rid]++;
    return c;
}

static int collect_rules(struct st_sql *st, const char *rule_id, bool counts, rule_rows *out,
                         kad_err *err)
{
    /* schema 4 counts a rule's combinations in the index terms_by_hash; a read-only older file
       has the table terms */
    const char *sql_counts =
        st->schema >= 4
            ? "SELECT rid, rule_id, name, logic_hash, fields, window_ms, first_loaded, "
              "last_loaded, watermark, current, (SELECT count(*) FROM terms_key t "
              "WHERE t.rid = r.rid), (SELECT count(*) FROM alerts a WHERE a.rid = r.rid) "
              "FROM rules r WHERE ?1 IS NULL OR rule_id = ?1 ORDER BY rule_id, rid"
            : "SELECT rid, rule_id, name, logic_hash, fields, window_ms, first_loaded, "
              "last_loaded, watermark, current, (SELECT count(*) FROM terms t "
              "WHERE t.rid = r.rid), (SELECT count(*) FROM alerts a WHERE a.rid = r.rid) "
              "FROM rules r WHERE ?1 IS NULL OR rule_id = ?1 ORDER BY rule_id, rid";
    const char *sql_plain =
        "SELECT rid, rule_id, name, logic_hash, fields, window_ms, first_loaded, last_loaded, "
        "watermark, current, 0, 0 FROM rules r "
        "WHERE ?1 IS NULL OR rule_id = ?1 ORDER BY rule_id, rid";
    int rc;
    if (counts && st->base.in_batch && (rc = st_flush_dirty(st, err)) != 0)
        return rc;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, counts ? sql_counts : sql_plain, -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read rules");
    if (rule_id)
        sqlite3_bind_text(s, 1, rule_id, -1, SQLITE_STATIC);
    size_t nmc = 0;
    uint64_t *mc = counts && st->base.mode == ST_OPEN_MEM ? mem_counts(st, &nmc) : NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct rule_row row;
        memset(&row, 0, sizeof(row));
        row.rule_id = col_dup(s, 1);
        row.name = col_dup(s, 2);
        row.fields = col_dup(s, 4);
        struct st_rule_info *in = &row.info;
        in->rid = (uint32_t)sqlite3_column_int64(s, 0);
        in->rule_id = row.rule_id;
        in->name = row.name;
        in->logic_hash = (uint64_t)sqlite3_column_int64(s, 3);
        int nf = st_combo_decode(row.fields, strlen(row.fields), in->fields, ST_COMPONENTS_MAX);
        in->nfields = nf > 0 ? (size_t)nf : 0;
        in->window_ms = sqlite3_column_int64(s, 5);
        in->first_loaded = sqlite3_column_int64(s, 6);
        in->last_loaded = sqlite3_column_int64(s, 7);
        in->watermark =
            sqlite3_column_type(s, 8) == SQLITE_NULL ? ST_TIME_NONE : sqlite3_column_int64(s, 8);
        in->current = sqlite3_column_int64(s, 9) != 0;
        in->terms = (uint64_t)sqlite3_column_int64(s, 10);
        in->alerts = (uint64_t)sqlite3_column_int64(s, 11);
        const struct st_rule_mem *m = st_rule_mem_get(st, in->rid);
        if (m)
            in->watermark = m->watermark; /* newer than the database inside a batch */
        if (mc)
            in->terms = in->rid < nmc ? mc[in->rid] : 0;
        KX_VEC_PUSH(out, row);
    }
    sqlite3_finalize(s);
    kx_free(mc);
    if (rc != SQLITE_DONE) {
        rows_free(out);
        return st_sql_fail(st, err, "cannot read rules");
    }
    return 0;
}

int sql_rules_each(struct st_store *base_, const char *rule_id, st_rule_fn fn, void *ud,
                   kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    rule_rows rows = {0};
    int rc = collect_rules(st, rule_id, true, &rows, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < rows.len && rc == 0; i++)
        rc = fn(&rows.ptr[i].info, ud);
    rows_free(&rows);
    return rc;
}

/* ======================================================================================== */
/* Stats                                                                                    */
/* ======================================================================================== */

static int count_sql(struct st_sql *st, const char *sql, uint64_t *out, kad_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot count");
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : st_sql_fail(st, err, "cannot count");
}

static int64_t file_size(const char *path, const char *suffix)
{
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int sql_stats_get(struct st_store *base_, struct st_stats *out, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    int rc;
    if (st->base.in_batch && (rc = st_flush_dirty(st, err)) != 0)
        return rc;
    if ((rc = count_sql(st, "SELECT count(*) FROM rules", &out->rules, err)) ||
        (rc = count_sql(st, "SELECT count(*) FROM alerts", &out->alerts, err)) ||
        (rc = count_sql(st, "SELECT count(*) FROM positions", &out->positions, err)))
        return rc;
    if (st->base.mode == ST_OPEN_MEM)
        out->terms = st->idx.live;
    else if ((rc = count_sql(st,
                             st->schema >= 4 ? "SELECT count(*) FROM terms_seen"
                                             : "SELECT count(*) FROM terms",
                             &out->terms, err)) != 0)
        return rc;
    if (st->base.path) {
        out->db_bytes = file_size(st->base.path, "");
        out->wal_bytes = file_size(st->base.path, "-wal");
    }
    out->mem_terms = st->idx.live;
    out->mem_keys = st->idx.key_bytes;
    out->mem_bytes =
        idx_mem_bytes(&st->idx) + st->undo.cap * sizeof(struct st_undo) + piv_mem_bytes(&st->piv);
    out->mem_overhead =
        st->idx.live ? (double)(out->mem_bytes - out->mem_keys) / (double)st->idx.live : 0.0;
    return 0;
}

/* ======================================================================================== */
/* Terms                                                                                    */
/* ======================================================================================== */

static bool contains(kx_str hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= hay.len; i++)
        if (hay.ptr[i] == needle[0] && memcmp(hay.ptr + i, needle, n) == 0)
            return true;
    return false;
}

/*
 * Index of the rule's field named `name`: the exact name, else the one field that ends with
 * it at a '.' or '/' boundary ("username" or "user.username" for
 * "kubernetes.audit.user.username", "decision" for "...authorization_k8s_io/decision").
 * -1 when none or ambiguous.
 */
static int field_index(const struct st_rule_info *r, const char *name)
{
    kx_str n = kx_str_c(name);
    int found = -1;
    for (size_t j = 0; j < r->nfields; j++)
        if (kx_str_eq(r->fields[j], n))
            return (int)j;
    for (size_t j = 0; j < r->nfields; j++) {
        kx_str f = r->fields[j];
        if (n.len && n.len < f.len && kx_str_ends(f, n) &&
            (f.ptr[f.len - n.len - 1] == '.' || f.ptr[f.len - n.len - 1] == '/')) {
            if (found >= 0)
                return -1;
            found = (int)j;
        }
    }
    return found;
}

/* Component index each condition refers to for this rule; false if a field is unknown. */
bool st_filter_resolve(const struct st_filter *f, const struct st_rule_info *r, int *idx)
{
    for (size_t i = 0; f && i < f->nconds; i++) {
        const struct st_cond *c = &f->conds[i];
        idx[i] = -1;
        if (!c->field) {
            idx[i] = c->index;
        } else {
            idx[i] = field_index(r, c->field);
        }
        if (idx[i] < 0)
            return false;
    }
    return true;
}

bool st_filter_match(const struct st_filter *f, const int *idx, const struct st_term_info *t)
{
    for (size_t i = 0; f && i < f->nconds; i++) {
        const struct st_cond *c = &f->conds[i];
        if ((size_t)idx[i] >= t->ncomps)
            return false;
        kx_str v = t->comps[idx[i]];
        if (c->substring ? !contains(v, c->value) : !kx_str_eqc(v, c->value))
            return false;
    }
    return true;
}

bool st_filter_wants(const struct st_filter *f, const struct st_rule_info *r)
{
    return r->current || (f && f->all_baselines);
}

static int terms_mem(struct st_sql *st, const struct st_filter *f, rule_rows *rows, st_term_fn fn,
                     void *ud)
{
    size_t nc = f ? f->nconds : 0;
    int *idx = kx_calloc(rows->len * (nc ? nc : 1), sizeof(int));
    bool *ok = kx_calloc(rows->len ? rows->len : 1, sizeof(bool));
    for (size_t i = 0; i < rows->len; i++)
        ok[i] = st_filter_wants(f, &rows->ptr[i].info) &&
                st_filter_resolve(f, &rows->ptr[i].info, idx + i * nc);
    size_t ch = 0, off = 0, emitted = 0;
    struct st_rec *r;
    int rc = 0;
    while (rc == 0 && (r = idx_next(&st->idx, &ch, &off)) != NULL) {
        size_t i;
        for (i = 0; i < rows->len && rows->ptr[i].info.rid != r->rid; i++)
            ;
        if (i == rows->len || !ok[i])
            continue;
        struct st_term_info t = {.rule = &rows->ptr[i].info};
        int n = st_combo_decode(r->key, r->klen, t.comps, ST_COMPONENTS_MAX);
        if (n < 0)
            continue;
        t.ncomps = (size_t)n;
        t.term.first_seen = r->first_seen;
        t.term.last_seen = r->last_seen;
        t.term.alerted = (r->flags & REC_ALERTED) != 0;
        if (!st_filter_match(f, idx + i * nc, &t))
            continue;
        rc = fn(&t, ud);
        if (f && f->limit && ++emitted >= f->limit)
            break;
    }
    kx_free(idx);
    kx_free(ok);
    return rc;
}

static int terms_sql(struct st_sql *st, const struct st_filter *f, rule_rows *rows, st_term_fn fn,
                     void *ud, kad_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT combo, first_seen, last_seen, flags FROM terms WHERE rid = ?1 "
                           "ORDER BY first_seen, combo",
                           -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot read terms");
    int idx[ST_COMPONENTS_MAX * 4];
    size_t emitted = 0;
    int rc = 0;
    if (f && f->nconds > sizeof(idx) / sizeof(idx[0])) {
        sqlite3_finalize(s);
        return kx_err_setf(err, KAD_ELIMIT, "too many conditions");
    }
    for (size_t i = 0; i < rows->len && rc == 0; i++) {
        const struct st_rule_info *ri = &rows->ptr[i].info;
        if (!st_filter_wants(f, ri) || !st_filter_resolve(f, ri, idx))
            continue;
        sqlite3_bind_int64(s, 1, ri->rid);
        int step;
        while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
            struct st_term_info t = {.rule = ri};
            int n = st_combo_decode(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                                    t.comps, ST_COMPONENTS_MAX);
            if (n < 0)
                continue;
            t.ncomps = (size_t)n;
            t.term.first_seen = sqlite3_column_int64(s, 1);
            t.term.last_seen = sqlite3_column_int64(s, 2);
            t.term.alerted = (sqlite3_column_int64(s, 3) & REC_ALERTED) != 0;
            if (!st_filter_match(f, idx, &t))
                continue;
            rc = fn(&t, ud);
            if (f && f->limit && ++emitted >= f->limit) {
                step = SQLITE_DONE;
                break;
            }
        }
        sqlite3_reset(s);
        if (rc == 0 && f && f->limit && emitted >= f->limit)
            break;
        if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
            rc = st_sql_fail(st, err, "cannot read terms");
    }
    sqlite3_finalize(s);
    return rc;
}

int sql_terms_each(struct st_store *base_, const struct st_filter *f, st_term_fn fn, void *ud,
                   kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    rule_rows rows = {0};
    int rc;
    if (st->base.in_batch && (rc = st_flush_dirty(st, err)) != 0)
        return rc;
    if ((rc = collect_rules(st, f ? f->rule_id : NULL, false, &rows, err)) != 0)
        return rc;
    if (st->base.mode == ST_OPEN_MEM)
        rc = terms_mem(st, f, &rows, fn, ud);
    else
        rc = terms_sql(st, f, &rows, fn, ud, err);
    rows_free(&rows);
    return rc;
}

/* ======================================================================================== */
/* Prune and reset                                                                          */
/* ======================================================================================== */

static int exec_rid(struct st_sql *st, const char *sql, uint32_t rid, int64_t arg,
                    uint64_t *changes, kad_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return st_sql_fail(st, err, "cannot delete");
    sqlite3_bind_int64(s, 1, rid);
    sqlite3_bind_int64(s, 2, arg);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return st_sql_fail(st, err, "cannot delete");
    if (changes)
        *changes += (uint64_t)sqlite3_changes(st->db);
    return 0;
}

/* Delete rule rid's combinations (schema 4: from both tables), all of them or those last seen
   before `cut`; *changes counts the combinations. */
static int delete_terms(struct st_sql *st, uint32_t rid, bool all, int64_t cut,
                        uint64_t *changes, kad_err *err)
{
    int rc;
    if (all) {
        if ((rc = exec_rid(st, "DELETE FROM terms_seen WHERE rid = ?1 AND ?2 = ?2", rid, 0, NULL,
                           err)) == 0)
            rc = exec_rid(st, "DELETE FROM terms_key WHERE rid = ?1 AND ?2 = ?2", rid, 0,
                          changes, err);
        return rc;
    }
    if ((rc = exec_rid(st,
                       "DELETE FROM terms_key WHERE id IN (SELECT id FROM terms_seen "
                       "WHERE rid = ?1 AND last_seen < ?2)",
                       rid, cut, NULL, err)) == 0)
        rc = exec_rid(st, "DELETE FROM terms_seen WHERE rid = ?1 AND last_seen < ?2", rid, cut,
                      changes, err);
    return rc;
}

/* Delete index records whose rid has a cut-off and whose last_seen is below it. */
static uint64_t prune_index(struct st_sql *st, const int64_t *cut, size_t ncut)
{
    piv_cache_drop(st); /* records may die */
    uint64_t n = 0;
    size_t ch = 0, off = 0;
    struct st_rec *r;
    while ((r = idx_next(&st->idx, &ch, &off)) != NULL) {
        if (r->rid < ncut && cut[r->rid] != INT64_MIN && r->last_seen < cut[r->rid]) {
            idx_delete(&st->idx, r);
            n++;
        }
    }
    if (st->undo.len == 0 && st->idx.dead_bytes * 2 > st->idx.rec_bytes) {
        idx_compact(&st->idx);
        piv_rebuild(st); /* every record moved */
    }
    return n;
}

static int prune_rows(struct st_sql *st, const struct st_prune_opts *o, rule_rows *rows,
                      int64_t *cut, struct st_prune_result *res, kad_err *err)
{
    int rc;
    for (size_t i = 0; i < rows->len; i++) {
        const struct st_rule_info *ri = &rows->ptr[i].info;
        bool registered = st_rule_mem_get(st, ri->rid) != NULL;
        if (o->stale && !ri->current && !registered) {
            if ((rc = delete_terms(st, ri->rid, true, 0, &res->terms, err)) ||
                (rc = exec_rid(st, "DELETE FROM alerts WHERE rid = ?1 AND ?2 = ?2", ri->rid, 0,
                               &res->alerts, err)) ||
                (rc = exec_rid(st, "DELETE FROM blobs WHERE rid = ?1 AND ?2 = ?2", ri->rid, 0, NULL,
                               err)) ||
                (rc = exec_rid(st, "DELETE FROM rules WHERE rid = ?1 AND ?2 = ?2", ri->rid, 0, NULL,
                               err)))
                return rc;
            res->rules++;
            continue;
        }
        int64_t w = o->older_than_ms > 0 ? o->older_than_ms : ri->window_ms;
        if (w <= 0 || ri->watermark == ST_TIME_NONE || ri->watermark < INT64_MIN + w + 1)
            continue;
        int64_t c = ri->watermark - w;
        if (ri->rid < st->by_rid.len)
            cut[ri->rid] = c;
        if ((rc = delete_terms(st, ri->rid, false, c,
                               st->base.mode == ST_OPEN_MEM ? NULL : &res->terms, err)) ||
            (rc = exec_rid(st, "DELETE FROM alerts WHERE rid = ?1 AND ts < ?2", ri->rid, c,
                           &res->alerts, err)))
            return rc;
    }
    return 0;
}

int sql_prune(struct st_store *base_, const struct st_prune_opts *o, struct st_prune_result *res,
              kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    rule_rows rows = {0};
    int rc;
    bool own = !st->base.in_batch;
    if (!own && (rc = st_flush_dirty(st, err)) != 0)
        return rc;
    if ((rc = collect_rules(st, o->rule_id, false, &rows, err)) != 0)
        return rc;
    if (o->rule_id && rows.len == 0) {
        rows_free(&rows);
        return kx_err_setf(err, KAD_ENOTFOUND, "no rule '%s' in the state", o->rule_id);
    }
    if (own && (rc = st_exec(st, "BEGIN IMMEDIATE", err)) != 0) {
        rows_free(&rows);
        return rc;
    }
    size_t ncut = st->by_rid.len;
    int64_t *cut = kx_malloc((ncut ? ncut : 1) * sizeof(int64_t));
    for (size_t i = 0; i < ncut; i++)
        cut[i] = INT64_MIN;
    rc = prune_rows(st, o, &rows, cut, res, err);
    if (rc == 0 && own)
        rc = st_exec(st, "COMMIT", err);
    if (rc) {
        if (own)
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        uint64_t n = prune_index(st, cut, ncut);
        if (st->base.mode == ST_OPEN_MEM)
            res->terms += n;
    }
    kx_free(cut);
    rows_free(&rows);
    return rc;
}

static int reset_rows(struct st_sql *st, rule_rows *rows, bool all, uint64_t *removed, kad_err *err)
{
    int rc;
    for (size_t i = 0; i < rows->len; i++) {
        uint32_t rid = rows->ptr[i].info.rid;
        struct st_rule_mem *m = st_rule_mem_get(st, rid);
        if ((rc = delete_terms(st, rid, true, 0, removed, err)) ||
            (rc = exec_rid(st, "DELETE FROM alerts WHERE rid = ?1 AND ?2 = ?2", rid, 0, NULL,
                           err)) ||
            (rc = exec_rid(st, "DELETE FROM blobs WHERE rid = ?1 AND ?2 = ?2", rid, 0, NULL, err)))
            return rc;
        if (m) {
            rc = exec_rid(st, "UPDATE rules SET watermark = NULL WHERE rid = ?1 AND ?2 = ?2", rid,
                          0, NULL, err);
            m->watermark = ST_TIME_NONE;
        } else {
            rc = exec_rid(st, "DELETE FROM rules WHERE rid = ?1 AND ?2 = ?2", rid, 0, NULL, err);
        }
        if (rc)
            return rc;
    }
    if (all) {
        if ((rc = st_exec(st, "DELETE FROM positions; DELETE FROM counters", err)) != 0)
            return rc;
        st->counters.len = 0;
    }
    return 0;
}

int sql_reset(struct st_store *base_, const char *rule_id, uint64_t *terms_removed, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    uint64_t removed = 0;
    rule_rows rows = {0};
    int rc = collect_rules(st, rule_id, false, &rows, err);
    if (rc)
        return rc;
    if (rule_id && rows.len == 0) {
        rows_free(&rows);
        return kx_err_setf(err, KAD_ENOTFOUND, "no rule '%s' in the state", rule_id);
    }
    if ((rc = st_exec(st, "BEGIN IMMEDIATE", err)) == 0) {
        rc = reset_rows(st, &rows, rule_id == NULL, &removed, err);
        if (rc == 0)
            rc = st_exec(st, "COMMIT", err);
        if (rc)
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc == 0) {
        size_t ncut = st->by_rid.len;
        int64_t *cut = kx_malloc((ncut ? ncut : 1) * sizeof(int64_t));
        for (size_t i = 0; i < ncut; i++)
            cut[i] = INT64_MIN;
        for (size_t i = 0; i < rows.len; i++)
            if (rows.ptr[i].info.rid < ncut)
                cut[rows.ptr[i].info.rid] = INT64_MAX;
        uint64_t n = prune_index(st, cut, ncut);
        if (st->base.mode == ST_OPEN_MEM)
            removed += n;
        kx_free(cut);
    }
    rows_free(&rows);
    if (rc == 0 && terms_removed)
        *terms_removed = removed;
    return rc;
}

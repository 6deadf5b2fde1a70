/*
 * state_pivot.c - the pivot of a rule's combinations (kadet.baseline's user) and st_pivot_each:
 * every combination of one rule with one pivot value, at a cost proportional to that value's
 * combinations instead of the rule's.
 *
 * Two halves, merged by the query:
 *  - SQLite: terms_key's index terms_by_hash is (rid, phash, khash), phash being the
 *    st_disk_hash of the pivot component's bytes (state_sqlite.c writes it with every row), so
 *    one value's combinations are one index range (rows of another value of the same hash are
 *    skipped here); rows of a migrated schema 1 file are keyed when their rule registers
 *    (state_sqlite.c, backfill);
 *  - memory: a map (rid, pivot bytes) -> records. In MEM stores it lists every record (the
 *    index is all there is); in file stores only the records inserted since the dirty records
 *    were last written (REC_UNSAVED), which SQLite cannot return yet.
 * st_pivot_each reads SQLite's rows, replaces each by the index's record when the index holds
 * one (the index is the authority: it may be dirty), adds the unsaved records, and sorts.
 * What this file does not do: choose the pivot (st_rule_def.pivot), write or flush anything.
 */
#include "state/state_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================================== */
/* Components                                                                               */
/* ======================================================================================== */

bool st_combo_part(const void *key, size_t len, size_t i, kx_str *out)
{
    kx_str comps[ST_COMPONENTS_MAX];
    int n = st_combo_decode(key, len, comps, ST_COMPONENTS_MAX);
    if (n < 0 || i >= (size_t)n)
        return false;
    *out = comps[i];
    return true;
}

bool st_rec_pivot(struct st_sql *st, const struct st_rec *r, kx_str *out)
{
    const struct st_rule_mem *m = st_rule_mem_get(st, r->rid);
    return m && m->has_pivot && st_combo_part(r->key, r->klen, m->pivot, out);
}

/* kadet_component(combo, i): component i of an encoded combination as a blob, NULL when
   there is none (or i is NULL). Only the backfill uses it; the schema never refers to it, so
   the sqlite3 shell can still read and write the file. */
static void sql_component(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_int64 i = sqlite3_value_int64(argv[1]);
    const void *k = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    kx_str c;
    if (!k || i < 0 || !st_combo_part(k, (size_t)n, (size_t)i, &c))
        sqlite3_result_null(ctx);
    else if (c.len == 0)
        sqlite3_result_zeroblob(ctx, 0);
    else
        sqlite3_result_blob(ctx, c.ptr, (int)c.len, SQLITE_TRANSIENT);
}

/*
 * st_disk_hash: 8 bytes at a time, read little-endian whatever the machine, each multiplied
 * into the state and mixed; the last 1-7 bytes with the length; a final avalanche, folded to 31
 * bits so SQLite stores it in 4 bytes. Fixed forever for schema 4 (docs/internals/state.md).
 */
static uint64_t le64(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

uint32_t st_disk_hash(const void *p, size_t n)
{
    if (n == 0)
        return 0;
    const uint8_t *b = p;
    uint64_t h = 0x243f6a8885a308d3ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h = (h ^ le64(b + i, 8)) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    h = (h ^ le64(b + i, n - i) ^ ((uint64_t)(n - i) << 56)) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 32;
    return (uint32_t)(h & 0x7fffffffu);
}

uint32_t st_rec_phash(struct st_sql *st, uint32_t rid, const void *key, size_t len)
{
    const struct st_rule_mem *m = st_rule_mem_get(st, rid);
    kx_str pv;
    if (m && m->has_pivot && st_combo_part(key, len, m->pivot, &pv))
        return st_disk_hash(pv.ptr, pv.len);
    return 0;
}

/* kadet_hash(blob): st_disk_hash of its bytes (0 for NULL or x''). Used by the migration to
   schema 4 and the backfill, never by the schema itself (the shell needs no function). */
static void sql_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *k = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    sqlite3_result_int64(ctx, k && n > 0 ? (sqlite3_int64)st_disk_hash(k, (size_t)n) : 0);
}

int piv_sql_functions(sqlite3 *db)
{
    int rc = sqlite3_create_function_v2(db, "kadet_component", 2,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                        NULL, sql_component, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "kadet_hash", 1,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                        NULL, sql_hash, NULL, NULL, NULL);
    return rc;
}

/* ======================================================================================== */
/* The map                                                                                  */
/* ======================================================================================== */

void piv_init(struct st_pivots *p) { memset(p, 0, sizeof(*p)); }

void piv_fini(struct st_pivots *p)
{
    kx_free(p->slots);
    KX_VEC_FREE(&p->groups);
    KX_VEC_FREE(&p->recs);
    KX_VEC_FREE(&p->next);
    piv_init(p);
}

void piv_clear(struct st_pivots *p)
{
    if (p->cap > 8192) { /* grown by one large batch: give it back */
        piv_fini(p);
        return;
    }
    if (p->cap && p->groups.len)
        memset(p->slots, 0, p->cap * sizeof(uint32_t));
    p->groups.len = p->recs.len = p->next.len = 0;
}

uint64_t piv_mem_bytes(const struct st_pivots *p)
{
    return (uint64_t)p->cap * sizeof(uint32_t) +
           (uint64_t)p->groups.cap * sizeof(struct st_piv_group) +
           (uint64_t)p->recs.cap * sizeof(struct st_rec *) +
           (uint64_t)p->next.cap * sizeof(uint32_t);
}

static bool group_is(const struct st_piv_group *g, uint64_t h, uint32_t rid, kx_str v)
{
    return g->h == h && g->rid == rid && g->len == v.len && memcmp(g->val, v.ptr, v.len) == 0;
}

/* The group of (rid, v), or NULL. */
static struct st_piv_group *group_find(const struct st_pivots *p, uint32_t rid, kx_str v,
                                       uint64_t h)
{
    if (!p->cap)
        return NULL;
    size_t mask = p->cap - 1;
    for (size_t i = h & mask; p->slots[i]; i = (i + 1) & mask) {
        struct st_piv_group *g = &p->groups.ptr[p->slots[i] - 1];
        if (group_is(g, h, rid, v))
            return g;
    }
    return NULL;
}

static void slot_place(struct st_pivots *p, uint64_t h, uint32_t gi)
{
    size_t mask = p->cap - 1, i = h & mask;
    while (p->slots[i])
        i = (i + 1) & mask;
    p->slots[i] = gi + 1;
}

static void grow(struct st_pivots *p)
{
    size_t ncap = p->cap ? p->cap * 2 : 64;
    kx_free(p->slots);
    p->slots = kx_calloc(ncap, sizeof(uint32_t));
    p->cap = ncap;
    for (size_t i = 0; i < p->groups.len; i++)
        slot_place(p, p->groups.ptr[i].h, (uint32_t)i);
}

void piv_add(struct st_sql *st, struct st_rec *r)
{
    struct st_pivots *p = &st->piv;
    kx_str v;
    if (!st_rec_pivot(st, r, &v))
        return;
    KX_BUG_ON(p->recs.len >= UINT32_MAX - 1 || p->groups.len >= UINT32_MAX - 1);
    uint64_t h = idx_hash(r->rid, v.ptr, v.len);
    struct st_piv_group *g = group_find(p, r->rid, v, h);
    if (!g) {
        if ((p->groups.len + 1) * 4 > p->cap * 3)
            grow(p);
        struct st_piv_group ng = {
            .h = h, .val = (const uint8_t *)v.ptr, .len = (uint32_t)v.len, .rid = r->rid};
        KX_VEC_PUSH(&p->groups, ng);
        slot_place(p, h, (uint32_t)(p->groups.len - 1));
        g = &p->groups.ptr[p->groups.len - 1];
    }
    KX_VEC_PUSH(&p->recs, r);
    KX_VEC_PUSH(&p->next, g->head);
    g->head = (uint32_t)p->recs.len;
}

void piv_rebuild(struct st_sql *st)
{
    piv_cache_drop(st); /* records moved, or the pivot changed */
    piv_clear(&st->piv);
    bool mem = st->base.mode == ST_OPEN_MEM;
    size_t ch = 0, off = 0;
    struct st_rec *r;
    while ((r = idx_next(&st->idx, &ch, &off)) != NULL)
        if (mem || (r->flags & REC_UNSAVED))
            piv_add(st, r);
}

/* ======================================================================================== */
/* The query                                                                                */
/* ======================================================================================== */

/* A combination read from SQLite: its key is copied (the row's blob lives until the next step). */
static void item_copy(struct st_sql *st, const void *key, size_t klen, int64_t id, int64_t first,
                      int64_t last, uint8_t flags)
{
    struct st_piv_item it = {.key = (const uint8_t *)(uintptr_t)st->piv_keys.len,
                             .id = id,
                             .first_seen = first,
                             .last_seen = last,
                             .klen = (uint16_t)klen,
                             .flags = flags,
                             .copied = true};
    KX_VEC_GROW(&st->piv_keys, klen);
    memcpy(st->piv_keys.ptr + st->piv_keys.len, key, klen);
    st->piv_keys.len += klen;
    KX_VEC_PUSH(&st->piv_items, it);
}

/* A record of the index: its key stays put during the call (the store is not modified). */
static void item_rec(struct st_sql *st, const struct st_rec *r)
{
    struct st_piv_item it = {.key = r->key,
                             .first_seen = r->first_seen,
                             .last_seen = r->last_seen,
                             .klen = r->klen,
                             .flags = r->flags};
    KX_VEC_PUSH(&st->piv_items, it);
}

/* st_terms_each's order: first_seen, then the key as SQLite orders blobs. */
static int item_cmp(const void *a, const void *b)
{
    const struct st_piv_item *x = a, *y = b;
    if (x->first_seen != y->first_seen)
        return x->first_seen < y->first_seen ? -1 : 1;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Whether the key's pivot component (rule m's) is v: a row of the same pivot hash may hold
   another value. */
static bool pivot_is(const struct st_rule_mem *m, const void *k, size_t kl, kx_str v)
{
    kx_str pv = {"", 0};
    if (m && m->has_pivot && !st_combo_part(k, kl, m->pivot, &pv))
        pv.len = 0;
    return pv.len == v.len && (v.len == 0 || memcmp(pv.ptr, v.ptr, v.len) == 0);
}

/* SQLite's rows of (rid, v) (one range of the index terms_by_hash: rid, then the pivot's
   st_disk_hash), each replaced by the index's record if the index holds it. */
static int pivot_rows(struct st_sql *st, uint32_t rid, kx_str v, kad_err *err)
{
    const struct st_rule_mem *m = st_rule_mem_get(st, rid);
    sqlite3_stmt *s = st->sq[SQ_PIVOT_TERMS];
    sqlite3_bind_int64(s, 1, rid);
    sqlite3_bind_int64(s, 2, st_disk_hash(v.ptr, v.len));
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        st->piv_cost.rows++;
        const void *k = sqlite3_column_blob(s, 0);
        size_t kl = (size_t)sqlite3_column_bytes(s, 0);
        if (!k || kl == 0 || kl > ST_KEY_MAX)
            continue; /* not written by kadet */
        if (!pivot_is(m, k, kl, v))
            continue; /* another value of the same hash */
        struct st_rec *r = idx_find(&st->idx, rid, k, kl, idx_hash(rid, k, kl));
        if (r && (r->flags & REC_UNSAVED))
            continue; /* cannot happen (not written yet); the map lists it */
        if (r)
            item_rec(st, r);
        else
            item_copy(st, k, kl, sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 1),
                      sqlite3_column_int64(s, 2),
                      (uint8_t)(sqlite3_column_int64(s, 3) & REC_PERSIST_MASK));
    }
    st->piv_cost.fullscan_steps =
        (uint64_t)sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    st->piv_cost.vm_steps = (uint64_t)sqlite3_stmt_status(s, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return step == SQLITE_DONE ? 0 : st_sql_fail(st, err, "cannot read terms");
}

/* Records of the map for (rid, v): all live ones (MEM), the unsaved ones (file stores). */
static void pivot_records(struct st_sql *st, uint32_t rid, kx_str v)
{
    const struct st_pivots *p = &st->piv;
    const struct st_piv_group *g = group_find(p, rid, v, idx_hash(rid, v.ptr, v.len));
    bool mem = st->base.mode == ST_OPEN_MEM;
    for (uint32_t e = g ? g->head : 0; e; e = p->next.ptr[e - 1]) {
        const struct st_rec *r = p->recs.ptr[e - 1];
        st->piv_cost.records++;
        if ((r->flags & REC_DEAD) || (!mem && !(r->flags & REC_UNSAVED)))
            continue;
        item_rec(st, r);
    }
}

/* The chain lists a group newest first: reversed, a scan in event order is already sorted. */
static void reverse(struct st_piv_item *v, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        struct st_piv_item t = v[i];
        v[i] = v[j - 1];
        v[j - 1] = t;
    }
}

static bool sorted(const struct st_piv_item *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (item_cmp(&v[i - 1], &v[i]) > 0)
            return false;
    return true;
}

/* The combinations of (rid, v) into st->piv_items, in st_pivot_each's order. */
static int collect(struct st_sql *st, uint32_t rid, kx_str v, kad_err *err)
{
    memset(&st->piv_cost, 0, sizeof(st->piv_cost));
    st->piv_items.len = 0;
    st->piv_keys.len = 0;
    int rc;
    if (st->base.mode != ST_OPEN_MEM && (rc = pivot_rows(st, rid, v, err)) != 0)
        return rc;
    size_t from_sql = st->piv_items.len;
    pivot_records(st, rid, v);
    reverse(st->piv_items.ptr + from_sql, st->piv_items.len - from_sql);
    for (size_t i = 0; i < from_sql; i++) {
        struct st_piv_item *it = &st->piv_items.ptr[i];
        if (it->copied)
            it->key = st->piv_keys.ptr + (uintptr_t)it->key;
    }
    if (!sorted(st->piv_items.ptr, st->piv_items.len))
        qsort(st->piv_items.ptr, st->piv_items.len, sizeof(struct st_piv_item), item_cmp);
    return 0;
}

/* Give a huge pivot value's scratch back. */
static void scratch_trim(struct st_sql *st)
{
    if (st->piv_items.cap > ((size_t)1 << 20)) {
        KX_VEC_FREE(&st->piv_items);
        KX_VEC_FREE(&st->piv_keys);
    }
}

/* ---- cached groups (struct st_piv_cache) ---------------------------------------------------- */

static void cache_free(struct st_sql *st, struct st_piv_cache *c)
{
    if (!c->val)
        return;
    kx_free(c->val);
    KX_VEC_FREE(&c->recs);
    memset(c, 0, sizeof(*c));
    st->pcache_live--;
}

void piv_cache_drop(struct st_sql *st)
{
    for (size_t i = 0; i < ST_PIV_CACHE_N && st->pcache_live; i++)
        cache_free(st, &st->pcache[i]);
}

static struct st_piv_cache *cache_find(struct st_sql *st, uint32_t rid, kx_str v, uint64_t h)
{
    for (size_t i = 0; i < ST_PIV_CACHE_N && st->pcache_live; i++) {
        struct st_piv_cache *c = &st->pcache[i];
        if (c->val && c->h == h && c->rid == rid && c->len == v.len &&
            memcmp(c->val, v.ptr, v.len) == 0)
            return c->gen == st->idx.gen ? c : NULL; /* records died or moved since: stale */
    }
    return NULL;
}

static struct st_rec *rec_of_key(const uint8_t *key)
{
    return (struct st_rec *)(uintptr_t)(key - offsetof(struct st_rec, key));
}

/* item_cmp's order on records. */
static int rec_cmp(const void *a, const void *b)
{
    const struct st_rec *x = *(struct st_rec *const *)a, *y = *(struct st_rec *const *)b;
    if (x->first_seen != y->first_seen)
        return x->first_seen < y->first_seen ? -1 : 1;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Cache the group just collected into st->piv_items (sorted): rows read from SQLite are
   loaded into the index first, as a lazy lookup would load them. */
static struct st_piv_cache *cache_build(struct st_sql *st, uint32_t rid, kx_str v, uint64_t h)
{
    for (size_t i = 0; i < ST_PIV_CACHE_N; i++) /* a stale copy of this group goes first */
        if (st->pcache[i].val && st->pcache[i].h == h && st->pcache[i].rid == rid)
            cache_free(st, &st->pcache[i]);
    struct st_piv_cache *c = &st->pcache[st->pcache_next];
    st->pcache_next = (st->pcache_next + 1) % ST_PIV_CACHE_N;
    cache_free(st, c);
    size_t n = st->piv_items.len;
    KX_VEC_GROW(&c->recs, n);
    c->min_last = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct st_piv_item *it = &st->piv_items.ptr[i];
        kx_str comps[ST_COMPONENTS_MAX];
        if (st_combo_decode(it->key, it->klen, comps, ST_COMPONENTS_MAX) < 0)
            continue; /* never visited by st_pivot_each, so not counted either */
        struct st_rec *r;
        if (it->copied) {
            r = idx_insert(&st->idx, rid, it->key, it->klen, idx_hash(rid, it->key, it->klen));
            r->id = it->id;
            r->first_seen = it->first_seen;
            r->last_seen = it->last_seen;
            r->flags = it->flags;
        } else {
            r = rec_of_key(it->key);
        }
        c->recs.ptr[c->recs.len++] = r;
        if (r->last_seen < c->min_last)
            c->min_last = r->last_seen;
    }
    c->val = kx_malloc(v.len ? v.len : 1);
    if (v.len)
        memcpy(c->val, v.ptr, v.len);
    c->len = v.len;
    c->h = h;
    c->rid = rid;
    c->unsorted = false;
    c->gen = st->idx.gen;
    st->pcache_live++;
    return c;
}

void piv_cache_note(struct st_sql *st, struct st_rec *r, bool inserted)
{
    kx_str v;
    if (!st->pcache_live || !st_rec_pivot(st, r, &v))
        return;
    struct st_piv_cache *c = cache_find(st, r->rid, v, idx_hash(r->rid, v.ptr, v.len));
    if (!c)
        return;
    if (!inserted) {
        c->unsorted = true; /* first_seen moved */
        return;
    }
    if (c->recs.len && rec_cmp(&c->recs.ptr[c->recs.len - 1], &r) > 0)
        c->unsorted = true;
    KX_VEC_PUSH(&c->recs, r);
    if (r->last_seen < c->min_last)
        c->min_last = r->last_seen;
}

/*
 * The cached group of (rid, v), cached now if it is large enough; NULL (*rc 0) for a small
 * group, whose combinations are then in st->piv_items, sorted.
 */
static struct st_piv_cache *group_get(struct st_sql *st, uint32_t rid, kx_str v, kad_err *err,
                                      int *rc)
{
    uint64_t h = idx_hash(rid, v.ptr, v.len);
    struct st_piv_cache *c = cache_find(st, rid, v, h);
    *rc = 0;
    if (c) {
        memset(&st->piv_cost, 0, sizeof(st->piv_cost));
        return c;
    }
    if ((*rc = collect(st, rid, v, err)) != 0 || st->piv_items.len < ST_PIV_CACHE_MIN)
        return NULL;
    return cache_build(st, rid, v, h);
}

/* The rule of a pivot query and the group of (rid, value), as group_get (*rc: errors). */
static struct st_piv_cache *query_group(struct st_sql *st, uint32_t rid, const void *value,
                                        size_t len, struct st_rule_mem **m, kad_err *err, int *rc)
{
    if (!(*m = st_rule_mem_get(st, rid))) {
        *rc = kx_err_setf(err, KAD_ENOTFOUND, "rule %u is not registered in this state", rid);
        return NULL;
    }
    if (!(*m)->has_pivot) {
        *rc = kx_err_setf(err, KAD_EINVAL, "rule '%s' has no pivot", (*m)->rule_id);
        return NULL;
    }
    kx_str v = {value ? (const char *)value : "", value ? len : 0};
    return group_get(st, rid, v, err, rc);
}

static int call_fn(const struct st_rule_info *ri, const uint8_t *key, size_t klen,
                   int64_t first_seen, int64_t last_seen, uint8_t flags, st_term_fn fn, void *ud)
{
    struct st_term_info t = {.rule = ri};
    int n = st_combo_decode(key, klen, t.comps, ST_COMPONENTS_MAX);
    if (n < 0)
        return 0;
    t.ncomps = (size_t)n;
    t.term.first_seen = first_seen;
    t.term.last_seen = last_seen;
    t.term.alerted = (flags & REC_ALERTED) != 0;
    return fn(&t, ud);
}

int sql_pivot_each(struct st_store *base_, uint32_t rid, const void *value, size_t len,
                   st_term_fn fn, void *ud, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    struct st_rule_mem *m;
    int rc;
    struct st_piv_cache *c = query_group(st, rid, value, len, &m, err, &rc);
    if (rc)
        return rc;
    struct st_rule_info ri = {.rid = rid,
                              .rule_id = m->rule_id,
                              .name = "",
                              .window_ms = m->window_ms,
                              .watermark = m->watermark,
                              .current = true};
    if (c) {
        if (c->unsorted) {
            qsort(c->recs.ptr, c->recs.len, sizeof(struct st_rec *), rec_cmp);
            c->unsorted = false;
        }
        /* fn may stop early: only what it reads is visited */
        for (size_t i = 0; i < c->recs.len && rc == 0; i++) {
            const struct st_rec *r = c->recs.ptr[i];
            st->piv_cost.records++;
            if (!(r->flags & REC_DEAD))
                rc = call_fn(&ri, r->key, r->klen, r->first_seen, r->last_seen, r->flags, fn, ud);
        }
    } else {
        for (size_t i = 0; i < st->piv_items.len && rc == 0; i++) {
            const struct st_piv_item *it = &st->piv_items.ptr[i];
            rc = call_fn(&ri, it->key, it->klen, it->first_seen, it->last_seen, it->flags, fn, ud);
        }
    }
    scratch_trim(st);
    return rc;
}

int sql_pivot_count(struct st_store *base_, uint32_t rid, const void *value, size_t len,
                    int64_t min_last_seen, uint64_t *n, kad_err *err)
{
    struct st_sql *st = sql_of(base_);
    struct st_rule_mem *m;
    int rc;
    *n = 0;
    struct st_piv_cache *c = query_group(st, rid, value, len, &m, err, &rc);
    if (rc)
        return rc;
    uint64_t k = 0;
    if (c && min_last_seen <= c->min_last) {
        k = c->recs.len; /* none is older: no need to look (the common case of a flood) */
    } else if (c) {
        int64_t lo = INT64_MAX;
        for (size_t i = 0; i < c->recs.len; i++) {
            const struct st_rec *r = c->recs.ptr[i];
            k += r->last_seen >= min_last_seen;
            if (r->last_seen < lo)
                lo = r->last_seen;
        }
        c->min_last = lo; /* the exact minimum now */
    } else {
        for (size_t i = 0; i < st->piv_items.len; i++) {
            const struct st_piv_item *it = &st->piv_items.ptr[i];
            /* as st_pivot_each: entries whose key does not decode are not visited */
            kx_str comps[ST_COMPONENTS_MAX];
            if (it->last_seen >= min_last_seen &&
                st_combo_decode(it->key, it->klen, comps, ST_COMPONENTS_MAX) >= 0)
                k++;
        }
    }
    *n = k;
    scratch_trim(st);
    return 0;
}

#ifdef KAD_TEST_HOOKS
void st_test_pivot_cost(const struct st_store *st, struct st_pivot_cost *out)
{
    memset(out, 0, sizeof(*out));
    if (st->ops == &st_sqlite_ops)
        *out = csql_of(st)->piv_cost;
}
#endif

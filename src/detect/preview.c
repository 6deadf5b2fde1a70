/*
 * preview.c - Elastic's scheduled rule executions replayed exactly (`kadet preview`).
 *
 * Executions run at end - (N-1)*interval, ..., end. Each evaluates, for a new_terms rule, the
 * new-terms predicate of docs/preview.md over [from, T] with history [H, T];
 * for a query rule, every eligible document in [from, T]. Alerts already created for the same
 * (document, combination) are not created again (§1.7); max_signals truncates with Elastic's
 * warning (§4.1); alert suppression goes through suppress.c (§4.2), page by page as Elastic's
 * createAlertsHook calls it.
 *
 * Speed: documents are sorted once by (event time, input order) and every combination keeps
 * its sorted list of occurrences, so an execution costs the documents of its own range plus a
 * binary search per candidate, not a pass over the whole history.
 *
 * Not here: reading input, matching the query and exceptions, computing event times (the caller
 * prepares struct pv_doc), and writing alert documents (the engine's builder).
 */
#include "detect/det_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/map.h"
#include "base/str.h"
#include "eql/eql.h"
#include "esql/esql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PV_PAGE_SINGLE 10000u /* V1 phase-1 composite page, one hook call per page */
#define PV_PAGE_MULTI 500u    /* V1 multi-field batch, one hook call per batch */
#define PV_KIBANA_MAX_ALERTS 1000
#define PV_MAX_RULE_GAP_RATIO 4 /* catch-up tuples at most */

static const char MAX_SIGNALS_WARNING[] =
    "This rule reached the maximum alert limit for the rule execution. Some alerts were not "
    "created.";
static const char SUPPRESSED_WARNING[] =
    "This rule reached the maximum alert limit for the rule execution. Some alerts were not "
    "created or suppressed.";
static const char HISTORY_ERROR[] =
    "History window size is smaller than rule interval + additional lookback, "
    "'historyWindowStart' must be earlier than 'from'";

void pv_result_init(struct pv_result *res) { memset(res, 0, sizeof(*res)); }

void pv_result_fini(struct pv_result *res)
{
    for (size_t i = 0; i < res->alerts.len; i++) {
        kx_free(res->alerts.ptr[i].new_terms_json);
        kx_free(res->alerts.ptr[i].sup_terms_json);
        kx_free(res->alerts.ptr[i].seq);
        kx_free(res->alerts.ptr[i].row_json);
    }
    for (size_t i = 0; i < res->msgs.len; i++)
        kx_free(res->msgs.ptr[i].text);
    KX_VEC_FREE(&res->alerts);
    KX_VEC_FREE(&res->msgs);
}

static void msg(struct pv_result *res, int64_t t, bool is_error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void msg(struct pv_result *res, int64_t t, bool is_error, const char *fmt, ...)
{
    kx_buf b;
    kx_buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    kx_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    struct pv_msg m = {t, is_error, kx_buf_take(&b, NULL)};
    KX_VEC_PUSH(&res->msgs, m);
    kx_buf_fini(&b);
}

/* ============================================================================================
 * Combinations: values of the new-terms fields, encoded as keys
 *
 * A value is encoded as a tag byte ('s' string, 'n' number, 'b' boolean), a 4-byte length
 * and its text (number text; "true"/"false"). A combination key is its fields' values one
 * after another, so keys compare per field. Combinations are identified by their texts only
 * (the tags zeroed), as a keyword field indexes them: "1" and 1 are the same term, as in the
 * engine; the first occurrence's types are kept for kibana.alert.new_terms.
 * ============================================================================================ */

struct combo {
    const char *key;
    uint32_t klen;
    uint32_t stamp;       /* the last tuple (run.pass) that listed it as a candidate */
    KX_VEC(uint32_t) occ; /* positions in the window, from occ_head */
    size_t occ_head;
    int64_t last_old; /* time of the latest occurrence dropped from the window */
};

/* A value of a key: its tag and text (det_field_terms gave it, det_terms.c). */
static void put_value(kx_buf *b, const struct det_val *v)
{
    char tag = v->type == EV_STRING ? 's' : v->type == EV_NUMBER ? 'n' : 'b';
    const char *p = v->s.ptr;
    uint32_t len = (uint32_t)v->s.len;
    unsigned char hdr[5] = {(unsigned char)tag, (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                            (unsigned char)len};
    kx_buf_add(b, hdr, 5);
    kx_buf_add(b, p, len);
}

/* Next value of a key: tag, bytes, length; returns the offset after it. */
static size_t get_value(const char *key, size_t off, char *tag, const char **p, uint32_t *len)
{
    const unsigned char *h = (const unsigned char *)key + off;
    *tag = (char)h[0];
    *len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
    *p = key + off + 5;
    return off + 5 + *len;
}

/* Composite-aggregation order: per field, numbers numerically, strings by bytes. */
static int cmp_keys(const struct combo *a, const struct combo *b)
{
    size_t oa = 0, ob = 0;
    while (oa < a->klen && ob < b->klen) {
        char ta, tb;
        const char *pa, *pb;
        uint32_t la, lb;
        oa = get_value(a->key, oa, &ta, &pa, &la);
        ob = get_value(b->key, ob, &tb, &pb, &lb);
        if (ta != tb)
            return ta < tb ? -1 : 1;
        if (ta == 'n') {
            char x[64], y[64];
            snprintf(x, sizeof(x), "%.*s", (int)la, pa);
            snprintf(y, sizeof(y), "%.*s", (int)lb, pb);
            double dx = strtod(x, NULL), dy = strtod(y, NULL);
            if (dx != dy)
                return dx < dy ? -1 : 1;
            continue;
        }
        int c = memcmp(pa, pb, la < lb ? la : lb);
        if (c)
            return c;
        if (la != lb)
            return la < lb ? -1 : 1;
    }
    return 0;
}

/* kibana.alert.new_terms of a combination, written as the engine writes it (det_terms_json). */
static char *combo_json(const struct combo *c)
{
    KX_VEC(struct det_val) vals = {0};
    for (size_t off = 0; off < c->klen;) {
        char tag;
        const char *p;
        uint32_t len;
        off = get_value(c->key, off, &tag, &p, &len);
        struct det_val v = {{p, len},
                            tag == 's'           ? EV_STRING
                            : tag == 'n'         ? EV_NUMBER
                            : len && p[0] == 't' ? EV_TRUE
                                                 : EV_FALSE};
        KX_VEC_PUSH(&vals, v);
    }
    kx_buf b;
    kx_buf_init(&b, 0);
    kx_jsonw w;
    kx_jsonw_init(&w, &b);
    det_terms_json(&w, vals.ptr, vals.len);
    KX_VEC_FREE(&vals);
    char *s = kx_buf_take(&b, NULL);
    kx_buf_fini(&b);
    return s;
}

/* ============================================================================================
 * The run: the window of documents the executions still need, and the combinations
 *
 * Documents enter a reorder buffer (pend, sorted by event time then input order) and move into
 * the window when an execution needs them; each gets the next absolute position, so positions
 * follow (event time, input order). An execution looks only at positions whose time is in its
 * range; after it, the documents older than every later range can go (prune): a combination
 * keeps the time of its latest pruned occurrence (last_old), which is all the new-terms
 * predicate needs of them (every pruned occurrence is before `from` of every later range).
 * pv_run puts every document in before the first execution and prunes nothing.
 * ============================================================================================ */

/* One eligible document with an event time, in the window or the reorder buffer. */
struct wdoc {
    struct pv_doc d;
    uint64_t ref;         /* the caller's reference (input order): ties, alerts */
    struct pv_clone *own; /* released when the window drops it; NULL: borrowed */
    uint32_t *cids;       /* its combinations (new_terms), cn of them (wcids: c1 when 1) */
    uint32_t cn, c1;
};

static const uint32_t *wcids(const struct wdoc *w) { return w->cn == 1 ? &w->c1 : w->cids; }

struct run {
    const struct rule *r;
    struct pv_result *res;
    kx_arena arena;
    KX_VEC(struct wdoc) pend; /* reorder buffer, sorted by (ts, ref) from pend_head */
    size_t pend_head;
    KX_VEC(struct wdoc) win; /* the window: position base + i is win.ptr[head + i] */
    size_t head;
    uint32_t base;
    int64_t moved_to; /* every document with ts <= moved_to is in the window */
    /* new terms: the combinations */
    KX_VEC(struct combo) combos;
    kx_map cmap;
    struct det_terms *fv; /* scratch for one document's values */
    size_t *odo;
    kx_buf key, ident;
    /* alerts already created: (position, combination) */
    kx_map emitted;
    void (*on_ref)(void *ctx, uint64_t ref, const char *id);
    void *ctx;
    /* suppression */
    bool suppress;
    struct sup_store sup;
    /* per execution (T: its time, the alerts' @timestamp) and per tuple (from, to, H) */
    uint32_t exec;
    uint32_t pass; /* 1 + number of tuples run so far (candidate stamps) */
    int64_t T, from, to, H;
    size_t max_signals, created, suppressed;
    bool truncated;
};

static size_t win_end(const struct run *u) { return u->base + (u->win.len - u->head); }

static struct wdoc *W(const struct run *u, size_t p) { return &u->win.ptr[u->head + (p - u->base)]; }

static const struct pv_doc *D(const struct run *u, size_t p) { return &W(u, p)->d; }

static int64_t TS(const struct run *u, size_t p) { return W(u, p)->d.ts; }

/* The caller's reference of position p, told to on_ref (an alert names it). */
static size_t REF(struct run *u, size_t p)
{
    const struct wdoc *w = W(u, p);
    if (u->on_ref)
        u->on_ref(u->ctx, w->ref, w->d.id);
    return (size_t)w->ref;
}

static int cmp_wdoc(const struct wdoc *x, const struct wdoc *y)
{
    if (x->d.ts != y->d.ts)
        return x->d.ts < y->d.ts ? -1 : 1;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* Into the reorder buffer, in (ts, ref) order (documents come nearly sorted: from the end). */
static void pend_insert(struct run *u, const struct wdoc *w)
{
    KX_VEC_PUSH(&u->pend, *w);
    size_t i = u->pend.len - 1;
    while (i > u->pend_head && cmp_wdoc(&u->pend.ptr[i - 1], w) > 0) {
        u->pend.ptr[i] = u->pend.ptr[i - 1];
        i--;
    }
    u->pend.ptr[i] = *w;
}

/* First position with ts >= t (win_end when none). */
static size_t lower_pos(const struct run *u, int64_t t)
{
    size_t lo = u->base, hi = win_end(u);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (TS(u, mid) < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First position with ts > t. */
static size_t upper_pos(const struct run *u, int64_t t)
{
    size_t lo = u->base, hi = win_end(u);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (TS(u, mid) <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The combinations of the document at position p (just appended to the window). */
static int doc_combos(struct run *u, size_t p, kad_err *err)
{
    const struct rule *r = u->r;
    struct wdoc *w = W(u, p);
    size_t nf = r->new_terms_fields.n;
    uint64_t total = 1;
    for (size_t f = 0; f < nf; f++) {
        total *= det_field_terms(NULL, w->d.doc, r->new_terms_fields.v[f], &u->fv[f]);
        if (total > PV_MAX_COMBOS)
            return kx_err_setf(err, KAD_ELIMIT,
                               "document %zu has more than %u new-terms combinations",
                               (size_t)w->ref + 1, PV_MAX_COMBOS);
    }
    if (total == 0 || nf == 0)
        return KAD_OK;
    w->cids = total == 1 ? NULL : kx_malloc(total * sizeof(*w->cids));
    memset(u->odo, 0, nf * sizeof(*u->odo));
    for (;;) {
        kx_buf_reset(&u->key);
        kx_buf_reset(&u->ident);
        for (size_t f = 0; f < nf; f++)
            put_value(&u->key, &u->fv[f].v[u->odo[f]]);
        kx_buf_add(&u->ident, u->key.ptr, u->key.len);
        for (size_t off = 0; off < u->ident.len;) {
            char tag;
            const char *vp;
            uint32_t vl;
            size_t next = get_value(u->ident.ptr, off, &tag, &vp, &vl);
            u->ident.ptr[off] = 0;
            off = next;
        }
        void *v = kx_map_get(&u->cmap, u->ident.ptr, u->ident.len, NULL);
        uint32_t cid;
        if (v) {
            cid = (uint32_t)((uintptr_t)v - 1);
        } else {
            struct combo c;
            memset(&c, 0, sizeof(c));
            c.key = kx_arena_memdup(&u->arena, u->key.ptr, u->key.len);
            c.klen = (uint32_t)u->key.len;
            c.last_old = EV_TIME_NONE;
            KX_VEC_PUSH(&u->combos, c);
            cid = (uint32_t)(u->combos.len - 1);
            kx_map_put(&u->cmap, u->ident.ptr, u->ident.len, (void *)(uintptr_t)(cid + 1));
        }
        if (total == 1)
            w->c1 = cid;
        else
            w->cids[w->cn] = cid;
        w->cn++;
        KX_VEC_PUSH(&u->combos.ptr[cid].occ, (uint32_t)p);
        size_t f = nf;
        while (f > 0) {
            f--;
            if (++u->odo[f] < u->fv[f].n)
                break;
            u->odo[f] = 0;
            if (f == 0)
                return KAD_OK;
        }
    }
}

/* Move the buffered documents with ts <= t into the window (in order). */
static int move_upto(struct run *u, int64_t t, kad_err *err)
{
    int rc = KAD_OK;
    while (rc == KAD_OK && u->pend_head < u->pend.len && u->pend.ptr[u->pend_head].d.ts <= t) {
        if (win_end(u) >= UINT32_MAX - 1)
            return kx_err_setf(err, KAD_ELIMIT, "too many documents");
        KX_VEC_PUSH(&u->win, u->pend.ptr[u->pend_head++]);
        if (u->r->type == RULE_NEW_TERMS)
            rc = doc_combos(u, win_end(u) - 1, err);
    }
    if (u->pend_head == u->pend.len) {
        u->pend.len = u->pend_head = 0;
    } else if (u->pend_head > 1024 && u->pend_head * 2 > u->pend.len) {
        memmove(u->pend.ptr, u->pend.ptr + u->pend_head,
                (u->pend.len - u->pend_head) * sizeof(*u->pend.ptr));
        u->pend.len -= u->pend_head;
        u->pend_head = 0;
    }
    if (t > u->moved_to)
        u->moved_to = t;
    return rc;
}

static void wdoc_fini(struct wdoc *w)
{
    kx_free(w->cids);
    if (w->own)
        pv_clone_unref(w->own);
}

/* Drop the window's documents with ts < t: no later range reaches them. */
static void prune_before(struct run *u, int64_t t)
{
    while (u->head < u->win.len && u->win.ptr[u->head].d.ts < t) {
        struct wdoc *w = &u->win.ptr[u->head];
        for (uint32_t k = 0; k < w->cn; k++) {
            struct combo *c = &u->combos.ptr[wcids(w)[k]];
            while (c->occ_head < c->occ.len && c->occ.ptr[c->occ_head] == u->base)
                c->occ_head++;
            c->last_old = w->d.ts;
            if (c->occ_head == c->occ.len) {
                c->occ.len = c->occ_head = 0;
            } else if (c->occ_head >= 16 && c->occ_head * 2 > c->occ.len) {
                memmove(c->occ.ptr, c->occ.ptr + c->occ_head,
                        (c->occ.len - c->occ_head) * sizeof(*c->occ.ptr));
                c->occ.len -= c->occ_head;
                c->occ_head = 0;
            }
        }
        wdoc_fini(w);
        u->head++;
        u->base++;
    }
    if (u->head == u->win.len) {
        u->win.len = u->head = 0;
    } else if (u->head > 1024 && u->head * 2 > u->win.len) {
        memmove(u->win.ptr, u->win.ptr + u->head, (u->win.len - u->head) * sizeof(*u->win.ptr));
        u->win.len -= u->head;
        u->head = 0;
    }
}

static void run_init(struct run *u, const struct rule *r, struct pv_result *res)
{
    memset(u, 0, sizeof(*u));
    u->r = r;
    u->res = res;
    u->moved_to = INT64_MIN;
    kx_arena_init(&u->arena, 1 << 16, 0);
    kx_map_init(&u->cmap);
    kx_map_init(&u->emitted);
    sup_store_init(&u->sup);
    u->suppress = r->suppress_group_by.n > 0;
    size_t nf = r->new_terms_fields.n;
    u->fv = kx_calloc(nf ? nf : 1, sizeof(*u->fv));
    for (size_t f = 0; f < nf; f++)
        u->fv[f].max = SIZE_MAX; /* growable, unbounded: PV_MAX_COMBOS is the limit */
    u->odo = kx_calloc(nf ? nf : 1, sizeof(*u->odo));
    kx_buf_init(&u->key, 0);
    kx_buf_init(&u->ident, 0);
}

static void run_fini(struct run *u)
{
    for (size_t i = u->head; i < u->win.len; i++)
        wdoc_fini(&u->win.ptr[i]);
    for (size_t i = u->pend_head; i < u->pend.len; i++)
        wdoc_fini(&u->pend.ptr[i]);
    KX_VEC_FREE(&u->win);
    KX_VEC_FREE(&u->pend);
    for (size_t i = 0; i < u->combos.len; i++)
        KX_VEC_FREE(&u->combos.ptr[i].occ);
    KX_VEC_FREE(&u->combos);
    for (size_t f = 0; f < u->r->new_terms_fields.n; f++)
        kx_free(u->fv[f].v);
    kx_free(u->fv);
    kx_free(u->odo);
    kx_buf_fini(&u->key);
    kx_buf_fini(&u->ident);
    kx_map_fini(&u->cmap);
    kx_map_fini(&u->emitted);
    sup_store_fini(&u->sup);
    kx_arena_fini(&u->arena);
}

/* ============================================================================================
 * Alert creation (Elastic's bulkCreate and bulk create with suppression)
 * ============================================================================================ */

struct cand {
    uint32_t doc;   /* index in docs */
    uint32_t combo; /* combination id, UINT32_MAX for query rules */
};

static bool was_emitted(struct run *u, const struct cand *c)
{
    uint32_t k[2] = {c->doc, c->combo};
    return kx_map_get(&u->emitted, k, sizeof(k), NULL) != NULL;
}

static size_t add_alert(struct run *u, const struct cand *c)
{
    uint32_t k[2] = {c->doc, c->combo};
    kx_map_put(&u->emitted, k, sizeof(k), (void *)1);
    struct pv_alert a;
    memset(&a, 0, sizeof(a));
    a.doc = REF(u, c->doc);
    a.exec = u->exec;
    a.exec_ms = a.last_detected_ms = u->T;
    a.new_terms_json = c->combo == UINT32_MAX ? NULL : combo_json(&u->combos.ptr[c->combo]);
    a.sup_idx = SIZE_MAX;
    KX_VEC_PUSH(&u->res->alerts, a);
    u->created++;
    return u->res->alerts.len - 1;
}

/* bulkCreate (alertWithPersistence): duplicates out, then at most max_signals - created. */
static void plain_create(struct run *u, const struct cand *c, size_t n, bool *truncated)
{
    size_t budget = u->max_signals > u->created ? u->max_signals - u->created : 0;
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (was_emitted(u, &c[i]))
            continue;
        if (fresh == budget) {
            *truncated = true;
            return;
        }
        fresh++;
        add_alert(u, &c[i]);
    }
}

/*
 * executeBulkCreateAlerts over n candidates, whatever the rule type: unsuppressible first
 * (doNotSuppress), then the suppressible. The caller's callbacks say whether candidate i was
 * created already (dup), give its document for the terms and its suppression time, and create
 * it (plain: up to the remaining max_signals; sup: created by suppression, terms handed over).
 * The budget for stopping is mult x max_signals (created + suppressed).
 */
struct sup_ops {
    const struct ev_node *(*doc)(struct run *u, size_t i, int64_t *ts, void *ctx);
    bool (*dup)(struct run *u, size_t i, void *ctx);
    void (*plain)(struct run *u, const size_t *idx, size_t n, void *ctx);
    void (*create)(struct run *u, size_t i, size_t sup_idx, char *terms, void *ctx);
    size_t mult;
};

static void sup_create(struct run *u, size_t n, const struct sup_ops *op, void *ctx)
{
    const struct rule *r = u->r;
    KX_VEC(size_t) plain = {0};
    KX_VEC(struct sup_cand) sc = {0};
    char **terms = kx_calloc(n ? n : 1, sizeof(*terms));
    kx_buf tb;
    kx_buf_init(&tb, 0);
    for (size_t i = 0; i < n; i++) {
        int64_t ts = EV_TIME_NONE;
        const struct ev_node *doc = op->doc(u, i, &ts, ctx);
        kx_buf_reset(&tb);
        bool missing = false;
        sup_terms(r, doc, &tb, &missing);
        if (missing && r->suppress_missing == RULE_DO_NOT_SUPPRESS_MISSING) {
            KX_VEC_PUSH(&plain, i);
            continue;
        }
        if (op->dup(u, i, ctx))
            continue; /* filterDuplicateAlerts */
        struct sup_cand c;
        memset(&c, 0, sizeof(c));
        c.user = i;
        c.ts_ms = ts;
        sup_instance_id(r, tb.ptr, tb.len, c.instance_id);
        KX_VEC_PUSH(&sc, c);
        terms[i] = kx_buf_take(&tb, NULL);
    }
    if (plain.len)
        op->plain(u, plain.ptr, plain.len, ctx);
    if (sc.len) {
        struct sup_exec x;
        memset(&x, 0, sizeof(x));
        x.exec_id = u->exec;
        x.now_ms = u->T;
        x.per_execution = r->suppress_duration_ms == 0;
        x.window_start_ms = x.per_execution ? u->from : u->T - r->suppress_duration_ms;
        x.max_alerts = u->max_signals > u->created ? u->max_signals - u->created : 0;
        size_t before = u->sup.alerts.len;
        sup_batch(&u->sup, sc.ptr, sc.len, &x, NULL, &u->suppressed);
        /* alerts in creation order: the store appended them in that order */
        for (size_t k = before; k < u->sup.alerts.len; k++) {
            size_t i = u->sup.alerts.ptr[k].user; /* index of the candidate */
            op->create(u, i, k, terms[i], ctx);
            terms[i] = NULL;
        }
    }
    for (size_t j = 0; j < n; j++)
        kx_free(terms[j]);
    kx_free(terms);
    KX_VEC_FREE(&sc);
    KX_VEC_FREE(&plain);
    kx_buf_fini(&tb);
    size_t budget = op->mult * u->max_signals;
    if (u->suppressed + u->created >= budget || u->created >= u->max_signals)
        u->truncated = true;
}

static const struct ev_node *q_doc(struct run *u, size_t i, int64_t *ts, void *ctx)
{
    const struct cand *c = ctx;
    *ts = D(u, c[i].doc)->ts;
    return D(u, c[i].doc)->doc;
}

static bool q_dup(struct run *u, size_t i, void *ctx)
{
    return was_emitted(u, (const struct cand *)ctx + i);
}

static void q_plain(struct run *u, const size_t *idx, size_t n, void *ctx)
{
    const struct cand *c = ctx;
    struct cand *v = kx_malloc((n ? n : 1) * sizeof(*v));
    for (size_t k = 0; k < n; k++)
        v[k] = c[idx[k]];
    bool ignored = false;
    plain_create(u, v, n, &ignored);
    kx_free(v);
}

static void q_create(struct run *u, size_t i, size_t sup_idx, char *terms, void *ctx)
{
    size_t ai = add_alert(u, (const struct cand *)ctx + i);
    struct pv_alert *a = &u->res->alerts.ptr[ai];
    a->sup_idx = sup_idx;
    a->sup_terms_json = terms;
}

static void suppressed_create(struct run *u, const struct cand *c, size_t n)
{
    static const struct sup_ops ops = {q_doc, q_dup, q_plain, q_create, SUP_MULTIPLIER};
    sup_create(u, n, &ops, (void *)c);
}

/* One createAlertsHook call; sets u->truncated (and the warning) when the run must stop. */
static void hook(struct run *u, const struct cand *c, size_t n)
{
    if (n == 0)
        return;
    if (u->suppress) {
        suppressed_create(u, c, n);
        if (u->truncated)
            msg(u->res, u->T, false, "%s", SUPPRESSED_WARNING);
        return;
    }
    bool truncated = false;
    plain_create(u, c, n, &truncated);
    if (truncated) {
        u->truncated = true;
        msg(u->res, u->T, false, "%s", MAX_SIGNALS_WARNING);
    }
}

/* ============================================================================================
 * Executions
 * ============================================================================================ */

static struct run *g_cmp_run; /* qsort context */

static int cmp_cand_key(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return cmp_keys(&g_cmp_run->combos.ptr[x], &g_cmp_run->combos.ptr[y]);
}

/* single field, phase 3 terms aggregation order: doc_count desc, then key asc */
static int cmp_new_single(const void *a, const void *b)
{
    const size_t *x = a, *y = b; /* triples [doc_count, combo, position] */
    size_t cx = x[0], cy = y[0];
    if (cx != cy)
        return cx > cy ? -1 : 1;
    return cmp_keys(&g_cmp_run->combos.ptr[x[1]], &g_cmp_run->combos.ptr[y[1]]);
}

/* Index in c->occ of the first occurrence at or after time t (occ.len when none). */
static size_t occ_lower(const struct run *u, const struct combo *c, int64_t t, bool after)
{
    size_t lo = c->occ_head, hi = c->occ.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = TS(u, c->occ.ptr[mid]);
        if (v < t || (after && v == t))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Occurrences of c with time in [a, b]: the phase-3 doc_count of a single-field term. */
static size_t count_in(const struct run *u, const struct combo *c, int64_t a, int64_t b)
{
    return occ_lower(u, c, b, true) - occ_lower(u, c, a, false);
}

static void exec_new_terms(struct run *u)
{
    size_t lo = lower_pos(u, u->from), hi = upper_pos(u, u->to);
    KX_VEC(uint32_t) cands = {0};
    for (size_t p = lo; p < hi; p++) {
        const struct wdoc *w = W(u, p);
        for (uint32_t k = 0; k < w->cn; k++) {
            struct combo *c = &u->combos.ptr[wcids(w)[k]];
            if (c->stamp == u->pass)
                continue;
            c->stamp = u->pass;
            KX_VEC_PUSH(&cands, wcids(w)[k]);
        }
    }
    g_cmp_run = u;
    if (cands.len)
        qsort(cands.ptr, cands.len, sizeof(*cands.ptr), cmp_cand_key);
    bool single = u->r->new_terms_fields.n == 1;
    size_t page = single ? PV_PAGE_SINGLE : PV_PAGE_MULTI;
    KX_VEC(struct cand) out = {0};
    KX_VEC(size_t) pairs = {0};
    for (size_t s = 0; s < cands.len && !u->truncated; s += page) {
        size_t e = s + page < cands.len ? s + page : cands.len;
        out.len = pairs.len = 0;
        for (size_t i = s; i < e; i++) {
            const struct combo *c = &u->combos.ptr[cands.ptr[i]];
            if (c->last_old != EV_TIME_NONE && c->last_old >= u->H)
                continue; /* seen in [H, from] (before the window): not new */
            size_t oi = occ_lower(u, c, u->H, false);
            uint32_t p0 = oi < c->occ.len ? c->occ.ptr[oi] : UINT32_MAX;
            if (p0 == UINT32_MAX || TS(u, p0) <= u->from)
                continue; /* seen in [H, from]: not new */
            if (single) {
                KX_VEC_PUSH(&pairs, count_in(u, c, u->from, u->to));
                KX_VEC_PUSH(&pairs, (size_t)cands.ptr[i]);
                KX_VEC_PUSH(&pairs, (size_t)p0);
            } else {
                struct cand cd = {p0, cands.ptr[i]};
                KX_VEC_PUSH(&out, cd);
            }
        }
        if (single) {
            /* sort triples [doc_count, combo, position] by the first two */
            size_t nt = pairs.len / 3;
            size_t *tri = pairs.ptr;
            /* qsort on triples: element size 3 * size_t, comparator reads the first two */
            if (nt)
                qsort(tri, nt, 3 * sizeof(size_t), cmp_new_single);
            for (size_t i = 0; i < nt; i++) {
                struct cand cd = {(uint32_t)tri[3 * i + 2], (uint32_t)tri[3 * i + 1]};
                KX_VEC_PUSH(&out, cd);
            }
        }
        if (!u->suppress) {
            hook(u, out.ptr, out.len);
        } else {
            /* with suppression Elastic creates in chunks of 5 x max_signals candidates and
               checks its budget (created + suppressed) after each (semantics.md, "Alert
               suppression") */
            size_t chunk = SUP_MULTIPLIER * (u->max_signals ? u->max_signals : 1);
            for (size_t c0 = 0; c0 < out.len && !u->truncated; c0 += chunk)
                hook(u, out.ptr + c0, c0 + chunk < out.len ? chunk : out.len - c0);
        }
    }
    g_cmp_run = NULL;
    KX_VEC_FREE(&cands);
    KX_VEC_FREE(&out);
    KX_VEC_FREE(&pairs);
}

static const struct run *g_q_run; /* qsort context */

/* query rules: sorted by the override (documents without it last), then time, input order */
static int cmp_query(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    const struct pv_doc *dx = D(g_q_run, x->doc), *dy = D(g_q_run, y->doc);
    if (dx->has_override != dy->has_override)
        return dx->has_override ? -1 : 1;
    if (dx->ts != dy->ts)
        return dx->ts < dy->ts ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static void exec_query(struct run *u)
{
    size_t lo = lower_pos(u, u->from), hi = upper_pos(u, u->to);
    KX_VEC(struct cand) out = {0};
    for (size_t p = lo; p < hi; p++) {
        struct cand cd = {(uint32_t)p, UINT32_MAX};
        KX_VEC_PUSH(&out, cd);
    }
    bool override = u->r->timestamp_override != NULL;
    if (override && out.len) {
        g_q_run = u;
        qsort(out.ptr, out.len, sizeof(*out.ptr), cmp_query);
        g_q_run = NULL;
    }
    if (!u->suppress) {
        hook(u, out.ptr, out.len);
    } else {
        /* search_after pages of max_signals documents, one bulk create each */
        size_t page = u->max_signals ? u->max_signals : 1;
        for (size_t s = 0; s < out.len && !u->truncated; s += page)
            hook(u, out.ptr + s, s + page < out.len ? page : out.len - s);
    }
    KX_VEC_FREE(&out);
}

/*
 * EQL sequences (eql.md §10.1, §10.3): each tuple runs the sequence query over the eligible
 * documents whose event time is in [from, to], in @timestamp order, with a fresh matcher (an
 * execution sees nothing outside its window). Elasticsearch returns the latest max_signals
 * sequences; each gives a shell alert and one building block per event, all with ids that
 * depend on the events only, so a sequence re-found by a later tuple is a duplicate.
 */
struct seq_found {
    KX_VEC(uint32_t) h;   /* the handles of every match, flattened */
    KX_VEC(uint32_t) off; /* start of each match in h; a final entry closes the last */
};

static void seq_found_cb(void *ctx, const struct eql_seq_match *m)
{
    struct seq_found *f = ctx;
    KX_VEC_PUSH(&f->off, (uint32_t)f->h.len);
    for (uint32_t i = 0; i < m->n; i++)
        if (m->h[i] != EQL_SEQ_MISSING) /* a missing-event stage has no event */
            KX_VEC_PUSH(&f->h, (uint32_t)m->h[i]);
}

static int cmp_seq_time(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t tx = D(g_q_run, x)->timestamp, ty = D(g_q_run, y)->timestamp;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    uint64_t rx = W(g_q_run, x)->ref, ry = W(g_q_run, y)->ref; /* input order */
    return rx < ry ? -1 : rx > ry;
}

static void exec_sequence(struct run *u)
{
    size_t lo = lower_pos(u, u->from), hi = upper_pos(u, u->to);
    size_t n = hi - lo;
    uint32_t *in = kx_malloc((n ? n : 1) * sizeof(*in));
    for (size_t p = lo; p < hi; p++)
        in[p - lo] = (uint32_t)p;
    g_q_run = u;
    if (n)
        qsort(in, n, sizeof(*in), cmp_seq_time); /* sequences order by @timestamp */
    g_q_run = NULL;
    struct eql_seq_opts so = {.max_keys = 0, .lateness_ms = 0, .window_ms = 0};
    struct eql_seq *s = eql_seq_new(u->r->eql, &so);
    struct seq_found f;
    memset(&f, 0, sizeof(f));
    for (size_t i = 0; s && i < n; i++) {
        const struct pv_doc *d = D(u, in[i]);
        if (d->timestamp != EV_TIME_NONE)
            eql_seq_feed(s, d->doc, d->timestamp, in[i], seq_found_cb, &f);
    }
    if (s)
        eql_seq_tick(s, INT64_MAX, seq_found_cb, &f); /* the window holds nothing more */
    eql_seq_free(s);
    KX_VEC_PUSH(&f.off, (uint32_t)f.h.len);
    size_t nm = f.off.len - 1;
    if (u->max_signals > 0 && nm >= u->max_signals)
        msg(u->res, u->T, false, "%s", MAX_SIGNALS_WARNING);      /* hits.total >= max_signals */
    size_t first = nm > u->max_signals ? nm - u->max_signals : 0; /* tail */
    for (size_t m = first; m < nm; m++) {
        uint32_t a0 = f.off.ptr[m], cnt = f.off.ptr[m + 1] - a0;
        if (cnt == 0)
            continue;
        const uint32_t *ev = f.h.ptr + a0;
        if (kx_map_get(&u->emitted, ev, cnt * sizeof(*ev), NULL))
            continue; /* the same sequence, found by an earlier tuple: same ids */
        kx_map_put(&u->emitted, ev, cnt * sizeof(*ev), (void *)1);
        for (int32_t pos = -1; pos < (int32_t)cnt; pos++) {
            struct pv_alert a;
            memset(&a, 0, sizeof(a));
            a.doc = REF(u, ev[pos < 0 ? 0 : pos]);
            a.exec = u->exec;
            a.exec_ms = a.last_detected_ms = u->T;
            a.sup_idx = SIZE_MAX;
            a.seq = kx_malloc(cnt * sizeof(*a.seq));
            for (uint32_t k = 0; k < cnt; k++)
                a.seq[k] = REF(u, ev[k]);
            a.seq_n = cnt;
            a.seq_pos = pos;
            KX_VEC_PUSH(&u->res->alerts, a);
        }
        u->created++;
    }
    KX_VEC_FREE(&f.h);
    KX_VEC_FREE(&f.off);
    kx_free(in);
}

/*
 * ES|QL (esql.md §7): each tuple runs the query with NOW() = the execution time. A rule with
 * STATS gets the window's eligible documents in one run and one alert per row (the first
 * max_signals rows), whose id holds the tuple: an aggregate re-found by a later execution is a
 * new alert, as in Kibana. A rule without STATS gives one alert per row with the document
 * under it; its id is the document's (and the row's text when the document gives several
 * rows), so overlapping executions create it once. With a SORT or LIMIT the window's documents
 * go through one run (the rows carry their document as a tag); without, each document runs
 * alone (as `kadet scan` does), which gives the same rows. max_signals counts the new alerts
 * of the execution; alert suppression goes through sup_create as for query rules.
 */
static struct esql_doc pv_esql_doc(const struct pv_doc *d)
{
    const struct ev_node *ix = ev_first(d->doc, "_index", EV_STRING);
    struct esql_doc e = {
        .doc = d->doc,
        .id = {d->id, strlen(d->id)},
        .index = ix ? (kx_str){ix->str, ix->len} : (kx_str){NULL, 0},
        .version = 1,
    };
    return e;
}

/* One result row of an execution: its document (SIZE_MAX for an aggregate), text, id key. */
struct ecand {
    size_t doc;
    char *row; /* owned until pushed */
    size_t len;
    bool multi;
    int64_t ts;
    kx_buf key; /* emitted-map key of a row rule's alert (empty for aggregates) */
};

struct ecands {
    KX_VEC(struct ecand) v;
    kx_arena ar; /* alert bodies for suppression terms */
};

static size_t esql_push(struct run *u, struct ecand *c)
{
    struct pv_alert a;
    memset(&a, 0, sizeof(a));
    a.doc = c->doc == SIZE_MAX ? SIZE_MAX : REF(u, c->doc);
    a.exec = u->exec;
    a.exec_ms = a.last_detected_ms = u->T;
    a.sup_idx = SIZE_MAX;
    a.row_json = c->row;
    c->row = NULL;
    a.row_multi = c->multi;
    a.win_from = u->from;
    a.win_to = u->to;
    KX_VEC_PUSH(&u->res->alerts, a);
    u->created++;
    if (c->key.len)
        kx_map_put(&u->emitted, c->key.ptr, c->key.len, (void *)1);
    return u->res->alerts.len - 1;
}

static bool e_dup(struct run *u, size_t i, void *ctx)
{
    const struct ecand *c = &((struct ecands *)ctx)->v.ptr[i];
    return c->key.len && kx_map_get(&u->emitted, c->key.ptr, c->key.len, NULL);
}

static const struct ev_node *e_doc(struct run *u, size_t i, int64_t *ts, void *ctx)
{
    struct ecands *E = ctx;
    const struct ecand *c = &E->v.ptr[i];
    *ts = c->ts;
    /* the terms come from the alert's body: the row over its source document (Kibana's
       mergeEsqlResultInSource), or the aggregate row alone */
    return det_esql_alert_doc(&E->ar, c->row, c->len,
                              c->doc == SIZE_MAX ? NULL : D(u, c->doc)->doc, NULL);
}

static void e_plain(struct run *u, const size_t *idx, size_t n, void *ctx)
{
    struct ecands *E = ctx;
    for (size_t k = 0; k < n && u->created < u->max_signals; k++)
        if (!e_dup(u, idx[k], ctx))
            esql_push(u, &E->v.ptr[idx[k]]);
}

static void e_create(struct run *u, size_t i, size_t sup_idx, char *terms, void *ctx)
{
    size_t ai = esql_push(u, &((struct ecands *)ctx)->v.ptr[i]);
    struct pv_alert *a = &u->res->alerts.ptr[ai];
    a->sup_idx = sup_idx;
    a->sup_terms_json = terms;
}

/* Count how many rows each document gave (a document giving several: the row is in the id). */
static void esql_keys(struct ecands *E)
{
    kx_map cnt;
    kx_map_init(&cnt);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < E->v.len; i++) {
            struct ecand *c = &E->v.ptr[i];
            if (c->doc == SIZE_MAX)
                continue;
            uint32_t di = (uint32_t)c->doc;
            uintptr_t n = (uintptr_t)kx_map_get(&cnt, &di, sizeof(di), NULL);
            if (pass == 0) {
                kx_map_put(&cnt, &di, sizeof(di), (void *)(n + 1));
                continue;
            }
            c->multi = n > 1;
            kx_buf_add(&c->key, &di, sizeof(di));
            if (c->multi)
                kx_buf_add(&c->key, c->row, c->len);
        }
    kx_map_fini(&cnt);
}

static int esql_add_rows(struct run *u, struct ecands *E, const struct esql_result *res, size_t doc,
                         kad_err *err)
{
    kx_buf row;
    kx_buf_init(&row, 0);
    int rc = KAD_OK;
    for (size_t i = 0; rc == KAD_OK && i < res->nrows; i++) {
        rc = det_esql_row_text(res, i, &row, err);
        if (rc != KAD_OK)
            break;
        struct ecand c;
        memset(&c, 0, sizeof(c));
        c.doc = doc != SIZE_MAX - 1 ? doc : res->tags[i] ? (size_t)(res->tags[i] - 1) : SIZE_MAX;
        c.len = row.len;
        c.row = kx_strndup(row.ptr, row.len);
        c.ts = c.doc == SIZE_MAX ? u->T : D(u, c.doc)->ts;
        kx_buf_init(&c.key, 0);
        KX_VEC_PUSH(&E->v, c);
    }
    kx_buf_fini(&row);
    return rc;
}

static int exec_esql(struct run *u, kad_err *err)
{
    const struct rule *r = u->r;
    size_t lo = lower_pos(u, u->from), hi = upper_pos(u, u->to);
    struct ecands E;
    memset(&E, 0, sizeof(E));
    kx_arena_init(&E.ar, 1 << 14, 0);
    int rc = KAD_OK;
    bool agg = esql_is_aggregating(r->esql);
    if (agg || esql_sorts_or_limits(r->esql)) {
        /* one run over the window: the query's SORT/LIMIT (or STATS) decide across documents;
           each row knows its document by its tag (1 + index) */
        struct esql_run *run = esql_run_new(r->esql, u->T);
        for (size_t p = lo; p < hi && rc == KAD_OK; p++) {
            struct esql_doc d = pv_esql_doc(D(u, p));
            d.tag = p + 1;
            rc = esql_run_feed(run, &d, err);
        }
        struct esql_result res;
        if (rc == KAD_OK)
            rc = esql_run_finish(run, &res, err);
        if (rc == KAD_OK)
            rc = esql_add_rows(u, &E, &res, agg ? SIZE_MAX : SIZE_MAX - 1, err);
        esql_run_free(run);
    } else {
        /* a pipeline of per-document commands: each document alone (as `kadet scan`), which
           is the window's run without the implicit 1000-row cap */
        for (size_t p = lo; p < hi && rc == KAD_OK; p++) {
            uint32_t di = (uint32_t)p;
            struct esql_doc d = pv_esql_doc(D(u, di));
            struct esql_run *run = esql_run_new(r->esql, u->T);
            struct esql_result res;
            rc = esql_run_feed(run, &d, err);
            if (rc == KAD_OK)
                rc = esql_run_finish(run, &res, err);
            if (rc == KAD_OK)
                rc = esql_add_rows(u, &E, &res, di, err);
            esql_run_free(run);
        }
    }
    if (rc == KAD_OK)
        esql_keys(&E);
    size_t found = 0;
    if (rc == KAD_OK && u->suppress) {
        /* Kibana's bulk create with suppression in memory, multiplier 1 (ES|QL has no pages) */
        static const struct sup_ops ops = {e_doc, e_dup, e_plain, e_create, 1};
        sup_create(u, E.v.len, &ops, &E);
        if (u->truncated)
            msg(u->res, u->T, false, "%s", SUPPRESSED_WARNING);
    } else if (rc == KAD_OK) {
        for (size_t i = 0; i < E.v.len; i++) {
            if (e_dup(u, i, &E))
                continue; /* created by an earlier execution: the same id */
            found++;
            if (u->created < u->max_signals) /* `| limit max_signals + 1`: the extra warns */
                esql_push(u, &E.v.ptr[i]);
        }
        if (u->max_signals > 0 && found > u->max_signals)
            msg(u->res, u->T, false, "%s", MAX_SIGNALS_WARNING);
    }
    for (size_t i = 0; i < E.v.len; i++) {
        kx_free(E.v.ptr[i].row);
        kx_buf_fini(&E.v.ptr[i].key);
    }
    KX_VEC_FREE(&E.v);
    kx_arena_fini(&E.ar);
    return rc;
}

/*
 * Kibana's range tuples for a run at T after a run at prev (INT64_MIN: none): the gap is the
 * time between the runs minus the range's length; it is covered by up to 4 catch-up tuples, each
 * one rule interval earlier than the one after it, and what is still not covered is reported.
 */
struct pv_tuples {
    uint32_t catchup;     /* catch-up tuples before the run's own range */
    int64_t remaining_ms; /* the gap they leave uncovered (> 0: Elastic's error) */
};

static void pv_tuples(int64_t prev, int64_t T, int64_t from_ms, int64_t to_ms, int64_t interval_ms,
                      struct pv_tuples *out)
{
    out->catchup = 0;
    out->remaining_ms = 0;
    if (prev == INT64_MIN || interval_ms <= 0)
        return;
    int64_t gap = (T - prev) - (to_ms - from_ms);
    if (gap <= 0)
        return;
    int64_t ratio = (gap + interval_ms - 1) / interval_ms;
    out->catchup = (uint32_t)(ratio < PV_MAX_RULE_GAP_RATIO ? ratio : PV_MAX_RULE_GAP_RATIO);
    int64_t rest = gap - (int64_t)out->catchup * interval_ms;
    out->remaining_ms = rest > 0 ? rest : 0;
}

/* JavaScript's Math.round for the positive values used here. */
static int64_t js_round(double x) { return (int64_t)(x + 0.5); }

/*
 * A duration as moment.js's humanize() words it (no suffix, English, default thresholds):
 * seconds, minutes, hours, days, months (30.436875 days on average) and years, each rounded.
 */
static void pv_humanize(int64_t ms, char *out, size_t size)
{
    double s = (double)ms / 1000.0, days = (double)ms / 864e5;
    int64_t sec = js_round(s), min = js_round(s / 60.0), hrs = js_round(s / 3600.0),
            d = js_round(days), mon = js_round(days * 4800.0 / 146097.0),
            yrs = js_round(days * 400.0 / 146097.0);
    if (sec <= 44)
        snprintf(out, size, "a few seconds");
    else if (sec < 45)
        snprintf(out, size, "%lld seconds", (long long)sec);
    else if (min <= 1)
        snprintf(out, size, "a minute");
    else if (min < 45)
        snprintf(out, size, "%lld minutes", (long long)min);
    else if (hrs <= 1)
        snprintf(out, size, "an hour");
    else if (hrs < 22)
        snprintf(out, size, "%lld hours", (long long)hrs);
    else if (d <= 1)
        snprintf(out, size, "a day");
    else if (d < 26)
        snprintf(out, size, "%lld days", (long long)d);
    else if (mon <= 1)
        snprintf(out, size, "a month");
    else if (mon < 11)
        snprintf(out, size, "%lld months", (long long)mon);
    else if (yrs <= 1)
        snprintf(out, size, "a year");
    else
        snprintf(out, size, "%lld years", (long long)yrs);
}

bool pv_runs(const struct rule *r)
{
    return r->type == RULE_QUERY || r->type == RULE_NEW_TERMS || (r->type == RULE_EQL && r->eql) ||
           (r->type == RULE_ESQL && r->esql);
}

bool pv_needs_every_doc(const struct rule *r)
{
    return det_rule_is_sequence(r) || (r->type == RULE_ESQL && r->esql);
}

/* The checks every run makes before its first execution. */
static int run_check(const struct rule *r, uint32_t invocations, int64_t interval, kad_err *err)
{
    if (!pv_runs(r))
        return kx_err_setf(err, KAD_EINVAL,
                           "rule '%s': preview runs query, new_terms, EQL and ES|QL rules",
                           r->rule_id ? r->rule_id : "?");
    if (det_rule_is_sequence(r) && r->suppress_group_by.n > 0) /* as `kadet scan` */
        return kx_err_setf(err, KAD_EINVAL,
                           "rule '%s': alert suppression is not supported for EQL sequence rules",
                           r->rule_id ? r->rule_id : "?");
    if (invocations == 0)
        return kx_err_setf(err, KAD_EINVAL, "preview needs at least one invocation");
    if (interval <= 0)
        return kx_err_setf(err, KAD_EINVAL, "interval must be positive");
    return KAD_OK;
}

/*
 * The latest `to` of execution T's tuples (the documents it needs are those with ts <= it),
 * and the earliest `from` any of them can have (documents before it are history only).
 * False when the window cannot be evaluated (the execution only reports an error).
 */
static bool exec_range(const struct rule *r, int64_t T, int64_t *from, int64_t *to)
{
    struct rule_window w;
    if (rule_exec_window(r, T, &w, NULL) != KAD_OK)
        return false;
    *to = w.to_ms;
    int64_t shift = (int64_t)PV_MAX_RULE_GAP_RATIO * (r->interval_ms > 0 ? r->interval_ms : 0);
    *from = w.from_ms > INT64_MIN + shift ? w.from_ms - shift : INT64_MIN;
    return true;
}

/* Execution e at T (prev: the previous execution's time, INT64_MIN for the first): its
   catch-up tuples, then its own range. The documents of its ranges are in the window. */
static int run_exec(struct run *u, uint32_t e, int64_t T, int64_t prev, kad_err *err)
{
    const struct rule *r = u->r;
    struct pv_result *res = u->res;
    size_t max_signals = r->max_signals > 0 ? (size_t)r->max_signals : 0;
    bool capped = max_signals > PV_KIBANA_MAX_ALERTS;
    u->exec = e;
    u->T = T;
    struct rule_window w;
    kad_err werr;
    kad_err_clear(&werr);
    if (rule_exec_window(r, u->T, &w, &werr) != KAD_OK) {
        /* Elastic's text for its own check; ours for a time kadet cannot evaluate */
        msg(res, u->T, true, "%s", w.history_late || !werr.msg[0] ? HISTORY_ERROR : werr.msg);
        return KAD_OK;
    }
    if (capped)
        msg(res, u->T, false,
            "The rule's max alerts per run setting (%zu) is greater than the Kibana alerting "
            "limit (%d). The rule will only write a maximum of %d alerts per rule run.",
            max_signals, PV_KIBANA_MAX_ALERTS, PV_KIBANA_MAX_ALERTS);
    struct pv_tuples tp;
    pv_tuples(prev, u->T, w.from_ms, w.to_ms, r->interval_ms, &tp);
    if (tp.remaining_ms > 0) {
        char human[64];
        pv_humanize(tp.remaining_ms, human, sizeof(human));
        msg(res, u->T, true,
            "%s (%lldms) were not queried between this rule execution and the last "
            "execution, so signals may have been missed. Consider increasing your look "
            "behind time or adding more Kibana instances",
            human, (long long)tp.remaining_ms);
    }
    /* the catch-up tuples oldest first, then the run's own range; each a full execution
       with its own max_signals; the dedup of created alerts spans them all */
    int rc = KAD_OK;
    for (uint32_t k = tp.catchup + 1; k-- > 0 && rc == KAD_OK;) {
        int64_t shift = (int64_t)k * r->interval_ms;
        u->from = w.from_ms - shift;
        u->to = w.to_ms - shift;
        u->created = u->suppressed = 0;
        u->truncated = false;
        u->pass++;
        u->max_signals = capped ? PV_KIBANA_MAX_ALERTS : max_signals;
        if (r->type == RULE_NEW_TERMS) {
            u->H = w.history_ms;
            if (k > 0 && r->history_window_start &&
                rule_datemath_eval(r->history_window_start, u->to, &u->H, NULL) != KAD_OK)
                u->H = w.history_ms;
            exec_new_terms(u);
        } else if (r->type == RULE_ESQL) {
            rc = exec_esql(u, err);
        } else if (r->type == RULE_EQL && eql_is_sequence(r->eql)) {
            exec_sequence(u);
        } else {
            exec_query(u);
        }
        res->suppressed += u->suppressed;
    }
    return rc;
}

/* The suppression fields as they stand after the last execution. */
static void run_sup_final(struct run *u)
{
    struct pv_result *res = u->res;
    for (size_t i = 0; i < res->alerts.len; i++) {
        struct pv_alert *a = &res->alerts.ptr[i];
        if (a->sup_idx == SIZE_MAX || a->sup_idx >= u->sup.alerts.len || !a->sup_terms_json)
            continue;
        const struct sup_alert *s = &u->sup.alerts.ptr[a->sup_idx];
        memcpy(a->instance_id, s->instance_id, sizeof(a->instance_id));
        a->sup_start_ms = s->start_ms;
        a->sup_end_ms = s->end_ms;
        a->sup_docs_count = s->docs_count;
        a->last_detected_ms = s->last_detected_ms;
        a->sup_idx = SIZE_MAX; /* the store is gone after this call */
    }
}

static const struct pv_doc *g_sort_docs; /* qsort has no context argument */

static int cmp_ord(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t tx = g_sort_docs[x].ts, ty = g_sort_docs[y].ts;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return x < y ? -1 : x > y;
}

int pv_run(const struct rule *r, const struct pv_doc *docs, size_t n, const struct pv_opts *o,
           struct pv_result *res, kad_err *err)
{
    int64_t interval = o && o->interval_ms > 0 ? o->interval_ms : r->interval_ms;
    int rc = run_check(r, o ? o->invocations : 0, interval > 0 ? interval : 1, err);
    if (rc != KAD_OK)
        return rc;
    if (n > UINT32_MAX - 1)
        return kx_err_setf(err, KAD_ELIMIT, "too many documents");
    if (interval <= 0)
        return kx_err_setf(err, KAD_EINVAL, "interval must be positive");

    struct run u;
    run_init(&u, r, res);
    /* every eligible document with a time, sorted by (ts, input order), in the window */
    uint32_t *ord = kx_malloc((n ? n : 1) * sizeof(*ord));
    size_t nord = 0;
    for (size_t i = 0; i < n; i++)
        if (docs[i].eligible && docs[i].ts != EV_TIME_NONE)
            ord[nord++] = (uint32_t)i;
    g_sort_docs = docs;
    if (nord)
        qsort(ord, nord, sizeof(*ord), cmp_ord);
    g_sort_docs = NULL;
    KX_VEC_GROW(&u.pend, nord);
    for (size_t p = 0; p < nord; p++) {
        struct wdoc w;
        memset(&w, 0, sizeof(w));
        w.d = docs[ord[p]];
        w.ref = ord[p];
        u.pend.ptr[u.pend.len++] = w;
    }
    kx_free(ord);
    rc = move_upto(&u, INT64_MAX, err);

    int64_t prev_T = INT64_MIN;
    for (uint32_t e = 0; e < o->invocations && rc == KAD_OK; e++) {
        int64_t T = o->end_ms - (int64_t)(o->invocations - 1 - e) * interval;
        rc = run_exec(&u, e, T, prev_T, err);
        prev_T = T;
    }
    run_sup_final(&u);
    run_fini(&u);
    return rc;
}

/* ============================================================================================
 * Streaming
 * ============================================================================================ */

#define PV_AUTO_MAX_TICKS 1000000 /* kad_preview's cap of --end auto executions */

struct pv_stream {
    struct run u;
    struct pv_stream_opts so;
    int64_t iv;
    uint32_t e;       /* executions run */
    int64_t next_T;   /* the next execution's time (auto: once the first is known) */
    int64_t prev_T;   /* INT64_MIN before the first */
    bool started;     /* auto: first tick chosen */
    bool done;        /* fixed schedule: every execution ran */
    int64_t lo, hi;   /* earliest and latest event time added */
    int status;       /* KAD_OK, PV_EORDER or the error of an execution */
    size_t held_max;
};

static int64_t tick_ceil(int64_t t, int64_t iv)
{
    int64_t f = t - ((t % iv) + iv) % iv;
    return f < t ? f + iv : f;
}

int pv_stream_new(const struct rule *r, const struct pv_stream_opts *so, struct pv_result *res,
                  struct pv_stream **out, kad_err *err)
{
    *out = NULL;
    int64_t iv = so->o.interval_ms > 0 ? so->o.interval_ms : r->interval_ms;
    if (so->auto_end && iv <= 0)
        iv = 300000;
    int rc = run_check(r, so->auto_end ? 1 : so->o.invocations, iv, err);
    if (rc != KAD_OK)
        return rc;
    struct pv_stream *s = kx_calloc(1, sizeof(*s));
    run_init(&s->u, r, res);
    s->u.on_ref = so->on_ref;
    s->u.ctx = so->ctx;
    s->so = *so;
    s->iv = iv;
    s->prev_T = INT64_MIN;
    s->lo = INT64_MAX;
    s->hi = INT64_MIN;
    if (!so->auto_end) {
        s->started = true;
        s->next_T = so->o.end_ms - (int64_t)(so->o.invocations - 1) * iv;
    }
    *out = s;
    return KAD_OK;
}

/* Run the next execution if its documents are all in (final: at the end of input). */
static int stream_step(struct pv_stream *s, bool final, bool *ran, kad_err *err)
{
    struct run *u = &s->u;
    *ran = false;
    if (s->done)
        return KAD_OK;
    if (!s->started && s->lo > s->hi)
        return KAD_OK; /* no document yet */
    /* auto: the first tick follows the earliest document, which may still come (within the
       reorder window): chosen when the first execution runs */
    int64_t T = s->started ? s->next_T : tick_ceil(s->lo, s->iv), from = 0, to = 0;
    bool ranged = exec_range(u->r, T, &from, &to);
    if (s->so.auto_end) {
        if (final ? T > tick_ceil(s->hi, s->iv) : T > s->hi)
            return KAD_OK; /* after the last tick, or not known to be before it yet */
        if ((T - tick_ceil(s->lo, s->iv)) / s->iv >= PV_AUTO_MAX_TICKS)
            return PV_EORDER; /* kad_preview keeps the last ticks only: run in memory */
    }
    if (!final && ranged && !(to < INT64_MAX - s->so.lag_ms && s->hi > to + s->so.lag_ms)) {
        /* documents of its range may still come; those before every range it and later
           executions look at are history only: into the combinations, out of memory */
        if (s->started && from > INT64_MIN + 1 && s->hi - s->so.lag_ms > INT64_MIN + 1) {
            int64_t safe = s->hi - s->so.lag_ms;
            int rc = move_upto(u, safe < from - 1 ? safe : from - 1, err);
            if (rc != KAD_OK)
                return rc;
            prune_before(u, from);
        }
        return KAD_OK;
    }
    s->started = true;
    int rc = move_upto(u, ranged ? to : s->u.moved_to, err);
    if (rc == KAD_OK)
        rc = run_exec(u, s->e, T, s->prev_T, err);
    if (rc != KAD_OK)
        return rc;
    *ran = true;
    s->e++;
    s->prev_T = T;
    s->next_T = T + s->iv;
    if (!s->so.auto_end && s->e == s->so.o.invocations) {
        s->done = true;
        prune_before(u, INT64_MAX);
        return KAD_OK;
    }
    if (exec_range(u->r, s->next_T, &from, &to))
        prune_before(u, from);
    return KAD_OK;
}

static int stream_run(struct pv_stream *s, bool final, kad_err *err)
{
    bool ran = true;
    while (s->status == KAD_OK && ran)
        s->status = stream_step(s, final, &ran, err);
    return s->status;
}

int pv_stream_add(struct pv_stream *s, const struct pv_doc *d, uint64_t ref, struct pv_clone *c,
                  kad_err *err)
{
    if (s->status != KAD_OK)
        return s->status;
    if (!d->eligible || d->ts == EV_TIME_NONE)
        return KAD_OK;
    if (d->ts <= s->u.moved_to)
        return s->status = PV_EORDER; /* an execution that ran needed it */
    if (s->hi > INT64_MIN + s->so.lag_ms && d->ts < s->hi - s->so.lag_ms)
        return s->status = PV_EORDER; /* later than the reorder window allows */
    s->lo = d->ts < s->lo ? d->ts : s->lo;
    s->hi = d->ts > s->hi ? d->ts : s->hi;
    if (s->done)
        return KAD_OK;
    struct wdoc w;
    memset(&w, 0, sizeof(w));
    w.d = *d;
    w.ref = ref;
    w.own = c;
    if (c) {
        pv_clone_ref(c);
        w.d.doc = pv_clone_doc(c);
        w.d.id = pv_clone_id(c);
    }
    pend_insert(&s->u, &w);
    size_t held = (s->u.win.len - s->u.head) + (s->u.pend.len - s->u.pend_head);
    s->held_max = held > s->held_max ? held : s->held_max;
    return stream_run(s, false, err);
}

int pv_stream_finish(struct pv_stream *s, uint64_t *executions, bool *no_docs, kad_err *err)
{
    *no_docs = s->so.auto_end && s->lo > s->hi;
    int rc = stream_run(s, true, err);
    *executions = s->e;
    if (rc == KAD_OK)
        run_sup_final(&s->u);
    return rc;
}

size_t pv_stream_held(const struct pv_stream *s) { return s->held_max; }

void pv_stream_free(struct pv_stream *s)
{
    if (!s)
        return;
    run_fini(&s->u);
    kx_free(s);
}

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
    KX_VEC(uint32_t) occ; /* positions in the sorted document order */
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
 * The run: indexes shared by every execution
 * ============================================================================================ */

struct run {
    const struct rule *r;
    const struct pv_doc *docs;
    struct pv_result *res;
    kx_arena arena;
    /* documents with an event time that are eligible, sorted by (ts, input order) */
    uint32_t *ord;
    int64_t *ots;
    size_t nord;
    /* new terms: combinations of each sorted document (CSR) and the combinations */
    uint32_t *cstart;
    KX_VEC(uint32_t) cids;
    KX_VEC(struct combo) combos;
    kx_map cmap;
    /* alerts already created: (document, combination) */
    kx_map emitted;
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

static const struct pv_doc *g_sort_docs; /* qsort has no context argument */

static int cmp_ord(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t tx = g_sort_docs[x].ts, ty = g_sort_docs[y].ts;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void build_order(struct run *u, size_t n)
{
    u->ord = kx_malloc((n ? n : 1) * sizeof(*u->ord));
    for (size_t i = 0; i < n; i++)
        if (u->docs[i].eligible && u->docs[i].ts != EV_TIME_NONE)
            u->ord[u->nord++] = (uint32_t)i;
    g_sort_docs = u->docs;
    if (u->nord)
        qsort(u->ord, u->nord, sizeof(*u->ord), cmp_ord);
    g_sort_docs = NULL;
    u->ots = kx_malloc((u->nord ? u->nord : 1) * sizeof(*u->ots));
    for (size_t p = 0; p < u->nord; p++)
        u->ots[p] = u->docs[u->ord[p]].ts;
}

/* First position with ots >= t (nord when none). */
static size_t lower_pos(const struct run *u, int64_t t)
{
    size_t lo = 0, hi = u->nord;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->ots[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First position with ots > t. */
static size_t upper_pos(const struct run *u, int64_t t)
{
    size_t lo = 0, hi = u->nord;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->ots[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int build_combos(struct run *u, kad_err *err)
{
    const struct rule *r = u->r;
    size_t nf = r->new_terms_fields.n;
    struct det_terms *fv = kx_calloc(nf ? nf : 1, sizeof(*fv));
    for (size_t f = 0; f < nf; f++)
        fv[f].max = SIZE_MAX; /* growable, unbounded: PV_MAX_COMBOS is the limit */
    size_t *odo = kx_calloc(nf ? nf : 1, sizeof(*odo));
    kx_buf key, ident;
    kx_buf_init(&key, 0);
    kx_buf_init(&ident, 0);
    int rc = KAD_OK;
    u->cstart = kx_malloc((u->nord + 1) * sizeof(*u->cstart));
    for (size_t p = 0; p < u->nord && rc == KAD_OK; p++) {
        u->cstart[p] = (uint32_t)u->cids.len;
        const struct ev_node *doc = u->docs[u->ord[p]].doc;
        uint64_t total = 1;
        for (size_t f = 0; f < nf; f++) {
            total *= det_field_terms(NULL, doc, r->new_terms_fields.v[f], &fv[f]);
            if (total > PV_MAX_COMBOS) {
                rc = kx_err_setf(err, KAD_ELIMIT,
                                 "document %zu has more than %u new-terms combinations",
                                 (size_t)u->ord[p] + 1, PV_MAX_COMBOS);
                break;
            }
        }
        if (rc != KAD_OK || total == 0 || nf == 0)
            continue;
        memset(odo, 0, nf * sizeof(*odo));
        for (;;) {
            kx_buf_reset(&key);
            kx_buf_reset(&ident);
            for (size_t f = 0; f < nf; f++)
                put_value(&key, &fv[f].v[odo[f]]);
            kx_buf_add(&ident, key.ptr, key.len);
            for (size_t off = 0; off < ident.len;) {
                char tag;
                const char *vp;
                uint32_t vl;
                size_t next = get_value(ident.ptr, off, &tag, &vp, &vl);
                ident.ptr[off] = 0;
                off = next;
            }
            void *v = kx_map_get(&u->cmap, ident.ptr, ident.len, NULL);
            uint32_t cid;
            if (v) {
                cid = (uint32_t)((uintptr_t)v - 1);
            } else {
                struct combo c;
                memset(&c, 0, sizeof(c));
                c.key = kx_arena_memdup(&u->arena, key.ptr, key.len);
                c.klen = (uint32_t)key.len;
                KX_VEC_PUSH(&u->combos, c);
                cid = (uint32_t)(u->combos.len - 1);
                kx_map_put(&u->cmap, ident.ptr, ident.len, (void *)(uintptr_t)(cid + 1));
            }
            KX_VEC_PUSH(&u->cids, cid);
            KX_VEC_PUSH(&u->combos.ptr[cid].occ, (uint32_t)p);
            size_t f = nf;
            while (f > 0) {
                f--;
                if (++odo[f] < fv[f].n)
                    break;
                odo[f] = 0;
                if (f == 0)
                    goto done;
            }
        }
    done:;
    }
    u->cstart[u->nord] = (uint32_t)u->cids.len;
    for (size_t f = 0; f < nf; f++)
        kx_free(fv[f].v);
    kx_free(fv);
    kx_free(odo);
    kx_buf_fini(&key);
    kx_buf_fini(&ident);
    return rc;
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
    a.doc = c->doc;
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
    *ts = u->docs[c[i].doc].ts;
    return u->docs[c[i].doc].doc;
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
    size_t lo = 0, hi = c->occ.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = u->ots[c->occ.ptr[mid]];
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
    for (size_t p = lo; p < hi; p++)
        for (uint32_t k = u->cstart[p]; k < u->cstart[p + 1]; k++) {
            struct combo *c = &u->combos.ptr[u->cids.ptr[k]];
            if (c->stamp == u->pass)
                continue;
            c->stamp = u->pass;
            KX_VEC_PUSH(&cands, u->cids.ptr[k]);
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
            size_t oi = occ_lower(u, c, u->H, false);
            uint32_t p0 = oi < c->occ.len ? c->occ.ptr[oi] : UINT32_MAX;
            if (p0 == UINT32_MAX || u->ots[p0] <= u->from)
                continue; /* seen in [H, from]: not new */
            if (single) {
                KX_VEC_PUSH(&pairs, count_in(u, c, u->from, u->to));
                KX_VEC_PUSH(&pairs, (size_t)cands.ptr[i]);
                KX_VEC_PUSH(&pairs, (size_t)p0);
            } else {
                struct cand cd = {u->ord[p0], cands.ptr[i]};
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
                struct cand cd = {u->ord[tri[3 * i + 2]], (uint32_t)tri[3 * i + 1]};
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

static const struct pv_doc *g_q_docs;

/* query rules: sorted by the override (documents without it last), then time, input order */
static int cmp_query(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    const struct pv_doc *dx = &g_q_docs[x->doc], *dy = &g_q_docs[y->doc];
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
        struct cand cd = {u->ord[p], UINT32_MAX};
        KX_VEC_PUSH(&out, cd);
    }
    bool override = u->r->timestamp_override != NULL;
    if (override && out.len) {
        g_q_docs = u->docs;
        qsort(out.ptr, out.len, sizeof(*out.ptr), cmp_query);
        g_q_docs = NULL;
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
    int64_t tx = g_q_docs[x].timestamp, ty = g_q_docs[y].timestamp;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void exec_sequence(struct run *u)
{
    size_t lo = lower_pos(u, u->from), hi = upper_pos(u, u->to);
    size_t n = hi - lo;
    uint32_t *in = kx_malloc((n ? n : 1) * sizeof(*in));
    for (size_t p = lo; p < hi; p++)
        in[p - lo] = u->ord[p];
    g_q_docs = u->docs;
    if (n)
        qsort(in, n, sizeof(*in), cmp_seq_time); /* sequences order by @timestamp */
    g_q_docs = NULL;
    struct eql_seq_opts so = {.max_keys = 0, .lateness_ms = 0, .window_ms = 0};
    struct eql_seq *s = eql_seq_new(u->r->eql, &so);
    struct seq_found f;
    memset(&f, 0, sizeof(f));
    for (size_t i = 0; s && i < n; i++) {
        const struct pv_doc *d = &u->docs[in[i]];
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
            a.doc = ev[pos < 0 ? 0 : pos];
            a.exec = u->exec;
            a.exec_ms = a.last_detected_ms = u->T;
            a.sup_idx = SIZE_MAX;
            a.seq = kx_malloc(cnt * sizeof(*a.seq));
            memcpy(a.seq, ev, cnt * sizeof(*ev));
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
    a.doc = c->doc;
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
                              c->doc == SIZE_MAX ? NULL : u->docs[c->doc].doc, NULL);
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
        c.ts = c.doc == SIZE_MAX ? u->T : u->docs[c.doc].ts;
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
            struct esql_doc d = pv_esql_doc(&u->docs[u->ord[p]]);
            d.tag = u->ord[p] + 1;
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
            uint32_t di = u->ord[p];
            struct esql_doc d = pv_esql_doc(&u->docs[di]);
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

int pv_run(const struct rule *r, const struct pv_doc *docs, size_t n, const struct pv_opts *o,
           struct pv_result *res, kad_err *err)
{
    if (!pv_runs(r))
        return kx_err_setf(err, KAD_EINVAL,
                           "rule '%s': preview runs query, new_terms, EQL and ES|QL rules",
                           r->rule_id ? r->rule_id : "?");
    if (det_rule_is_sequence(r) && r->suppress_group_by.n > 0) /* as `kadet scan` */
        return kx_err_setf(err, KAD_EINVAL,
                           "rule '%s': alert suppression is not supported for EQL sequence rules",
                           r->rule_id ? r->rule_id : "?");
    if (!o || o->invocations == 0)
        return kx_err_setf(err, KAD_EINVAL, "preview needs at least one invocation");
    if (n > UINT32_MAX - 1)
        return kx_err_setf(err, KAD_ELIMIT, "too many documents");
    int64_t interval = o->interval_ms > 0 ? o->interval_ms : r->interval_ms;
    if (interval <= 0)
        return kx_err_setf(err, KAD_EINVAL, "interval must be positive");

    struct run u;
    memset(&u, 0, sizeof(u));
    u.r = r;
    u.docs = docs;
    u.res = res;
    kx_arena_init(&u.arena, 1 << 16, 0);
    kx_map_init(&u.cmap);
    kx_map_init(&u.emitted);
    sup_store_init(&u.sup);
    u.suppress = r->suppress_group_by.n > 0;
    build_order(&u, n);
    int rc = KAD_OK;
    if (r->type == RULE_NEW_TERMS)
        rc = build_combos(&u, err);

    size_t max_signals = r->max_signals > 0 ? (size_t)r->max_signals : 0;
    bool capped = max_signals > PV_KIBANA_MAX_ALERTS;
    int64_t prev_T = INT64_MIN;
    for (uint32_t e = 0; e < o->invocations && rc == KAD_OK; e++) {
        u.exec = e;
        u.T = o->end_ms - (int64_t)(o->invocations - 1 - e) * interval;
        int64_t prev = prev_T;
        prev_T = u.T;
        struct rule_window w;
        kad_err werr;
        kad_err_clear(&werr);
        if (rule_exec_window(r, u.T, &w, &werr) != KAD_OK) {
            /* Elastic's text for its own check; ours for a time kadet cannot evaluate */
            msg(res, u.T, true, "%s", w.history_late || !werr.msg[0] ? HISTORY_ERROR : werr.msg);
            continue;
        }
        if (capped)
            msg(res, u.T, false,
                "The rule's max alerts per run setting (%zu) is greater than the Kibana alerting "
                "limit (%d). The rule will only write a maximum of %d alerts per rule run.",
                max_signals, PV_KIBANA_MAX_ALERTS, PV_KIBANA_MAX_ALERTS);
        struct pv_tuples tp;
        pv_tuples(prev, u.T, w.from_ms, w.to_ms, r->interval_ms, &tp);
        if (tp.remaining_ms > 0) {
            char human[64];
            pv_humanize(tp.remaining_ms, human, sizeof(human));
            msg(res, u.T, true,
                "%s (%lldms) were not queried between this rule execution and the last "
                "execution, so signals may have been missed. Consider increasing your look "
                "behind time or adding more Kibana instances",
                human, (long long)tp.remaining_ms);
        }
        /* the catch-up tuples oldest first, then the run's own range; each a full execution
           with its own max_signals; the dedup of created alerts spans them all */
        for (uint32_t k = tp.catchup + 1; k-- > 0 && rc == KAD_OK;) {
            int64_t shift = (int64_t)k * r->interval_ms;
            u.from = w.from_ms - shift;
            u.to = w.to_ms - shift;
            u.created = u.suppressed = 0;
            u.truncated = false;
            u.pass++;
            u.max_signals = capped ? PV_KIBANA_MAX_ALERTS : max_signals;
            if (r->type == RULE_NEW_TERMS) {
                u.H = w.history_ms;
                if (k > 0 && r->history_window_start &&
                    rule_datemath_eval(r->history_window_start, u.to, &u.H, NULL) != KAD_OK)
                    u.H = w.history_ms;
                exec_new_terms(&u);
            } else if (r->type == RULE_ESQL) {
                rc = exec_esql(&u, err);
            } else if (r->type == RULE_EQL && eql_is_sequence(r->eql)) {
                exec_sequence(&u);
            } else {
                exec_query(&u);
            }
            res->suppressed += u.suppressed;
        }
    }

    /* suppression fields as they stand after the last execution */
    for (size_t i = 0; i < res->alerts.len; i++) {
        struct pv_alert *a = &res->alerts.ptr[i];
        if (a->sup_idx == SIZE_MAX || a->sup_idx >= u.sup.alerts.len || !a->sup_terms_json)
            continue;
        const struct sup_alert *s = &u.sup.alerts.ptr[a->sup_idx];
        memcpy(a->instance_id, s->instance_id, sizeof(a->instance_id));
        a->sup_start_ms = s->start_ms;
        a->sup_end_ms = s->end_ms;
        a->sup_docs_count = s->docs_count;
        a->last_detected_ms = s->last_detected_ms;
        a->sup_idx = SIZE_MAX; /* the store is gone after this call */
    }

    for (size_t i = 0; i < u.combos.len; i++)
        KX_VEC_FREE(&u.combos.ptr[i].occ);
    KX_VEC_FREE(&u.combos);
    KX_VEC_FREE(&u.cids);
    kx_free(u.cstart);
    kx_free(u.ord);
    kx_free(u.ots);
    kx_map_fini(&u.cmap);
    kx_map_fini(&u.emitted);
    sup_store_fini(&u.sup);
    kx_arena_fini(&u.arena);
    return rc;
}

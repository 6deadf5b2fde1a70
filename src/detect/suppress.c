/*
 * suppress.c - Elastic's alert suppression (docs/preview.md, "Alert suppression") over alerts kept
 * in memory, and the stable document id.
 *
 * One sup_batch() call is one of Elastic's "bulk create with suppression" calls, in the same
 * order of steps: candidates already counted by an alert of an earlier execution are dropped
 * (their time is not after that alert's suppression end), the rest are grouped in memory by
 * instance id after a stable sort on time (the first of a group is kept, the others add
 * docs_count + 1 and raise the end), then each group either updates an existing alert (same
 * execution only when suppressing per execution) or becomes a new alert, up to max_alerts.
 *
 * It does not decide which candidates exist (preview and the engine do), does not filter
 * duplicate alert ids (the caller does, before the batch, as Elastic does) and writes no
 * alert document (the engine's builder does, reading the stored fields).
 */
#include "detect/detect.h"

#include "base/alloc.h"
#include "base/jsonw.h"
#include "base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================================
 * Document id
 * ============================================================================================ */

int det_doc_id(const struct ev_node *doc, kx_buf *out)
{
    const struct ev_node *id = doc && doc->type == EV_OBJECT ? ev_member(doc, "_id", 3) : NULL;
    if (id && (id->type == EV_STRING || id->type == EV_NUMBER))
        return kx_buf_add(out, id->str, id->len);
    kx_str audit = ev_first_str(doc, "kubernetes.audit.auditID");
    kx_str stage = ev_first_str(doc, "kubernetes.audit.stage");
    if (audit.len) {
        int rc = kx_buf_add(out, audit.ptr, audit.len);
        if (rc == KAD_OK && stage.len) {
            rc = kx_buf_addc(out, '-');
            if (rc == KAD_OK)
                rc = kx_buf_add(out, stage.ptr, stage.len);
        }
        return rc;
    }
    kx_buf j;
    kx_buf_init(&j, 0);
    ev_json_dump(doc, &j);
    uint64_t h = kx_hash64(j.ptr ? j.ptr : "", j.len, 0x6b61646574ULL);
    kx_buf_fini(&j);
    return kx_buf_addf(out, "h%016llx", (unsigned long long)h);
}

/* ============================================================================================
 * Suppression terms and instance id
 * ============================================================================================ */

struct leaf_list {
    KX_VEC(const struct ev_node *) v;
};

static bool collect_leaf(const struct ev_node *v, bool partial, void *ctx)
{
    struct leaf_list *l = ctx;
    if (!partial && v->type != EV_OBJECT)
        KX_VEC_PUSH(&l->v, v);
    return false;
}

/* The text JavaScript's String(v) gives for a leaf, as far as the sort needs it. */
static kx_str leaf_text(const struct ev_node *v)
{
    switch (v->type) {
    case EV_TRUE: return KX_STR_LIT("true");
    case EV_FALSE: return KX_STR_LIT("false");
    default: return (kx_str){v->str, v->len};
    }
}

static int cmp_leaf(const void *a, const void *b)
{
    const struct ev_node *x = *(const struct ev_node *const *)a;
    const struct ev_node *y = *(const struct ev_node *const *)b;
    return kx_str_cmp(leaf_text(x), leaf_text(y));
}

static void write_leaf(kx_jsonw *w, const struct ev_node *v)
{
    switch (v->type) {
    case EV_TRUE:
    case EV_FALSE: kx_jsonw_bool(w, v->type == EV_TRUE); break;
    case EV_NUMBER: kx_jsonw_raw(w, v->str, v->len); break;
    default: kx_jsonw_str(w, v->str, v->len); break;
    }
}

int sup_terms(const struct rule *r, const struct ev_node *doc, kx_buf *out, bool *missing)
{
    kx_jsonw w;
    kx_jsonw_init(&w, out);
    struct leaf_list l = {0};
    bool miss = false;
    kx_jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->suppress_group_by.n; i++) {
        const char *f = r->suppress_group_by.v[i];
        l.v.len = 0;
        ev_values(doc, f, strlen(f), collect_leaf, &l);
        kx_jsonw_obj_begin(&w);
        kx_jsonw_keyc(&w, "field");
        kx_jsonw_strc(&w, f);
        kx_jsonw_keyc(&w, "value");
        if (l.v.len == 0) {
            miss = true;
            kx_jsonw_null(&w);
        } else {
            /* qsort is not stable, but equal texts of different types are the only ties and
               JavaScript's sort keeps them in document order: do an insertion sort instead */
            for (size_t a = 1; a < l.v.len; a++)
                for (size_t b = a; b > 0 && cmp_leaf(&l.v.ptr[b - 1], &l.v.ptr[b]) > 0; b--) {
                    const struct ev_node *t = l.v.ptr[b - 1];
                    l.v.ptr[b - 1] = l.v.ptr[b];
                    l.v.ptr[b] = t;
                }
            kx_jsonw_arr_begin(&w);
            for (size_t k = 0; k < l.v.len; k++)
                write_leaf(&w, l.v.ptr[k]);
            kx_jsonw_arr_end(&w);
        }
        kx_jsonw_obj_end(&w);
    }
    kx_jsonw_arr_end(&w);
    KX_VEC_FREE(&l.v);
    if (missing)
        *missing = miss;
    return kx_jsonw_error(&w);
}

void sup_instance_id(const struct rule *r, const char *terms, size_t len, char out[SUP_ID_LEN + 1])
{
    const char *rid = r->rule_id ? r->rule_id : "";
    uint64_t h1 = kx_hash64(terms, len, 0x73757070ULL);
    uint64_t h2 = kx_hash64(terms, len, 0x72657373ULL);
    h1 = kx_hash64(rid, strlen(rid), h1);
    h2 = kx_hash64(rid, strlen(rid), h2 ^ 0x9e3779b97f4a7c15ULL);
    snprintf(out, SUP_ID_LEN + 1, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

/* ============================================================================================
 * Store and batches
 * ============================================================================================ */

void sup_store_init(struct sup_store *s)
{
    memset(s, 0, sizeof(*s));
    kx_map_init(&s->index);
}

void sup_store_fini(struct sup_store *s)
{
    KX_VEC_FREE(&s->alerts);
    kx_map_fini(&s->index);
}

/* The alert an existing-alerts search would return for this instance id, or NULL. */
static struct sup_alert *existing(struct sup_store *s, const char *iid, const struct sup_exec *x)
{
    void *v = kx_map_get(&s->index, iid, SUP_ID_LEN, NULL);
    if (!v)
        return NULL;
    struct sup_alert *a = &s->alerts.ptr[(size_t)(uintptr_t)v - 1];
    return a->alert_start_ms >= x->window_start_ms ? a : NULL;
}

/* Stable sort by time: merge sort on an index array (qsort is not stable). */
static void msort(size_t *v, size_t *tmp, size_t n, const struct sup_cand *c)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    msort(v, tmp, h, c);
    msort(v + h, tmp, n - h, c);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = c[v[j]].ts_ms < c[v[i]].ts_ms ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof(*v));
}

void sup_batch(struct sup_store *s, struct sup_cand *c, size_t n, const struct sup_exec *x,
               size_t *created, size_t *suppressed)
{
    size_t *keep = kx_malloc((n ? n : 1) * sizeof(*keep));
    size_t *tmp = kx_malloc((n ? n : 1) * sizeof(*tmp));
    size_t nk = 0, n_created = 0, n_suppressed = 0;

    /* 1. drop candidates an alert of an earlier execution already counted */
    for (size_t i = 0; i < n; i++) {
        struct sup_alert *e = existing(s, c[i].instance_id, x);
        if (e && e->exec_id != x->exec_id && e->end_ms >= c[i].ts_ms) {
            c[i].fate = SUP_DROPPED;
            c[i].alert = (size_t)(e - s->alerts.ptr);
            continue;
        }
        keep[nk++] = i;
    }

    /* 2. in memory: stable sort by time, first of each instance id is the group's alert */
    msort(keep, tmp, nk, c);
    kx_map groups; /* instance id -> 1 + position in keep of the group's first */
    kx_map_init(&groups);
    uint64_t *count = kx_calloc(nk ? nk : 1, sizeof(*count));
    int64_t *end = kx_malloc((nk ? nk : 1) * sizeof(*end));
    size_t *owner = kx_malloc((nk ? nk : 1) * sizeof(*owner));
    for (size_t k = 0; k < nk; k++) {
        struct sup_cand *cd = &c[keep[k]];
        void *g = kx_map_get(&groups, cd->instance_id, SUP_ID_LEN, NULL);
        if (g) {
            size_t first = (size_t)(uintptr_t)g - 1;
            count[first] += 1;
            if (cd->ts_ms > end[first])
                end[first] = cd->ts_ms;
            owner[k] = first;
            n_suppressed++;
        } else {
            kx_map_put(&groups, cd->instance_id, SUP_ID_LEN, (void *)(uintptr_t)(k + 1));
            end[k] = cd->ts_ms;
            owner[k] = k;
        }
    }

    /* 3. each group updates an existing alert or becomes a new one */
    for (size_t k = 0; k < nk; k++) {
        if (owner[k] != k)
            continue;
        struct sup_cand *cd = &c[keep[k]];
        struct sup_alert *e = existing(s, cd->instance_id, x);
        if (e && x->per_execution && e->exec_id != x->exec_id)
            e = NULL;
        if (e) {
            e->docs_count += count[k] + 1;
            if (e->end_ms < end[k])
                e->end_ms = end[k];
            if (e->exec_id == x->exec_id && e->start_ms >= cd->ts_ms)
                e->start_ms = cd->ts_ms;
            e->last_detected_ms = x->now_ms;
            cd->fate = SUP_MERGED;
            cd->alert = (size_t)(e - s->alerts.ptr);
            n_suppressed++;
            continue;
        }
        if (x->max_alerts && n_created >= x->max_alerts) {
            cd->fate = SUP_TRUNCATED;
            cd->alert = SIZE_MAX;
            continue;
        }
        struct sup_alert a;
        memset(&a, 0, sizeof(a));
        memcpy(a.instance_id, cd->instance_id, SUP_ID_LEN + 1);
        a.start_ms = cd->ts_ms;
        a.end_ms = end[k];
        a.docs_count = count[k];
        a.alert_start_ms = a.last_detected_ms = x->now_ms;
        a.exec_id = x->exec_id;
        a.user = cd->user;
        KX_VEC_PUSH(&s->alerts, a);
        size_t idx = s->alerts.len - 1;
        kx_map_put(&s->index, a.instance_id, SUP_ID_LEN, (void *)(uintptr_t)(idx + 1));
        cd->fate = SUP_CREATED;
        cd->alert = idx;
        n_created++;
    }
    for (size_t k = 0; k < nk; k++) {
        if (owner[k] == k)
            continue;
        const struct sup_cand *first = &c[keep[owner[k]]];
        struct sup_cand *cd = &c[keep[k]];
        cd->fate = first->fate == SUP_TRUNCATED ? SUP_TRUNCATED : SUP_MERGED;
        cd->alert = first->alert;
    }

    kx_map_fini(&groups);
    kx_free(count);
    kx_free(end);
    kx_free(owner);
    kx_free(keep);
    kx_free(tmp);
    if (created)
        *created += n_created;
    if (suppressed)
        *suppressed += n_suppressed;
}

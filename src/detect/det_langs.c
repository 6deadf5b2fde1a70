/*
 * det_langs.c - EQL sequences and ES|QL rules in the streaming engine (det_engine.c calls
 * det_lang_event for each event that passed a rule's exceptions; EQL event queries run in
 * det_engine.c like query rules). docs/internals/engine.md, "EQL and ES|QL rules".
 *
 * EQL sequences: src/eql's matcher (eql_seq) names events by handles; this file keeps the
 * documents of the events the matcher holds (compact JSON, by handle), builds the alerts of a
 * completed sequence as Kibana writes them (a shell alert, then one building-block alert per
 * event, joined by kibana.alert.group.id) and saves matcher and documents as the rule's blob
 * in the state store (det_save, before every commit).
 *
 * ES|QL: each execution of Elastic's schedule, at the ticks T = k * interval, evaluates the
 * query over the documents whose event time is in [T - lookback, T] with NOW() = T.
 *   - A query without STATS is evaluated per document, at arrival, with NOW() = the first
 *     tick that covers it: its rows are the rows every execution that sees the document
 *     produces, and the alert id (rule, document id, row) de-duplicates the overlap.
 *   - A query with STATS keeps one partial run (esql_run) per open window: a document goes to
 *     every window that contains it (esql_run_feed_many runs the row stage once). A window is
 *     evaluated when the watermark (the largest event time seen) passes its T, or det_flush's
 *     time does; its rows become alerts with ids from (rule, window, row). Later documents of a
 *     closed window are counted as too late. The open windows are saved like sequences.
 */
#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/vec.h"
#include "det_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LANG_MAGIC "KDLANG1"   /* 8 bytes with the NUL */
#define SEQ_GC_EVERY 4096      /* events between drops of documents no sequence holds */
#define ESQL_MAX_WINDOWS 20000 /* open windows of one rule (lookback / interval) */

struct seq_doc {
    uint64_t h;
    int64_t ts; /* ES|QL: the event time (sequences: unused) */
    char *json; /* compact JSON of the whole document */
    size_t len;
    char *id; /* det_doc_id */
};

struct win {
    int64_t t; /* the execution time: the window is [t - lookback, t] */
    struct esql_run *run;
};

struct wcount {
    int64_t t;  /* an execution */
    uint64_t n; /* alerts it created (its max_signals budget) */
};

struct seq_match {
    uint64_t *h;
    uint32_t n;
    int64_t last_ts;
};

struct det_lang {
    /* EQL sequence */
    struct eql_seq *seq;
    uint64_t next_handle;
    KX_VEC(struct seq_doc) docs; /* ascending handles */
    KX_VEC(struct seq_match) matches;
    uint32_t since_gc;
    /* the event being fed (its handle's document is not stored yet) */
    uint64_t cur_h;
    const struct det_event *cur_ev;
    /* ES|QL (esql: any ES|QL rule; windowed: runs per window, aggregating or with SORT/LIMIT;
       a windowed row rule keeps the documents its windows' rows come from in docs, by tag) */
    bool esql, windowed;
    KX_VEC(struct wcount) cnt; /* ascending t */
    int64_t interval, lookback;
    int64_t closed; /* the largest T evaluated (INT64_MIN: none) */
    int64_t watermark;
    KX_VEC(struct win) wins; /* ascending t */
    struct esql_run **feed;  /* scratch for esql_run_feed_many */
    /* per alert */
    kx_arena arena;
    kx_buf buf, ids, anc;
};

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ============================================================================================ */
/* Documents                                                                                    */
/* ============================================================================================ */

static struct ev_node *node_new(kx_arena *a, uint8_t type)
{
    struct ev_node *n = kx_arena_zalloc(a, sizeof *n);
    if (n)
        n->type = type;
    return n;
}

static bool scalar_eq(const struct ev_node *a, const struct ev_node *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == EV_STRING || a->type == EV_NUMBER)
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    return a->type != EV_ARRAY && a->type != EV_OBJECT;
}

static void append_child(struct ev_node *parent, struct ev_node *c, struct ev_node **last)
{
    c->next = NULL;
    if (*last)
        (*last)->next = c;
    else
        parent->child = c;
    *last = c;
    parent->len++;
}

/* Does `v` (a scalar) occur in x (a scalar, or an array's scalar elements)? */
static bool occurs(const struct ev_node *v, const struct ev_node *x)
{
    if (x->type != EV_ARRAY)
        return scalar_eq(v, x);
    for (const struct ev_node *c = x->child; c; c = c->next)
        if (scalar_eq(v, c))
            return true;
    return false;
}

/*
 * Kibana's objectArrayIntersection of n >= 1 values (the shell alert's body): objects keep the
 * keys present in all, recursively (an object left empty is dropped); arrays keep the elements
 * present in all (a scalar facing an array counts as a one-element array), even when none
 * remains; scalars are kept when strictly equal. NULL: nothing in common.
 */
static struct ev_node *intersect(kx_arena *a, const struct ev_node *const *v, size_t n,
                                 const char *key, uint32_t klen, bool top)
{
    bool obj = true, arr = false;
    for (size_t i = 0; i < n; i++) {
        obj &= v[i]->type == EV_OBJECT;
        arr |= v[i]->type == EV_ARRAY;
    }
    struct ev_node *out = NULL, *last = NULL;
    if (obj) {
        out = node_new(a, EV_OBJECT);
        const struct ev_node **sub = kx_arena_alloc(a, n * sizeof *sub);
        if (!out || !sub)
            return NULL;
        for (const struct ev_node *m = v[0]->child; m; m = m->next) {
            sub[0] = m;
            bool all = true;
            for (size_t i = 1; i < n && all; i++) {
                sub[i] = ev_member(v[i], m->key, m->klen);
                all = sub[i] != NULL;
            }
            struct ev_node *c = all ? intersect(a, sub, n, m->key, m->klen, false) : NULL;
            if (c)
                append_child(out, c, &last);
        }
        if (!out->child && !top)
            return NULL;
    } else if (arr) {
        for (size_t i = 0; i < n; i++)
            if (v[i]->type == EV_OBJECT)
                return NULL;
        out = node_new(a, EV_ARRAY);
        if (!out)
            return NULL;
        const struct ev_node *first = v[0];
        for (const struct ev_node *c = first->type == EV_ARRAY ? first->child : first; c;
             c = first->type == EV_ARRAY ? c->next : NULL) {
            if (c->type == EV_ARRAY || c->type == EV_OBJECT)
                continue;
            bool all = true;
            for (size_t i = 1; i < n && all; i++)
                all = occurs(c, v[i]);
            struct ev_node *e = all ? node_new(a, c->type) : NULL;
            if (e) {
                e->str = c->str;
                e->len = c->len;
                append_child(out, e, &last);
            }
        }
    } else {
        for (size_t i = 1; i < n; i++)
            if (!scalar_eq(v[0], v[i]))
                return NULL;
        out = node_new(a, v[0]->type);
        if (!out)
            return NULL;
        out->str = v[0]->str;
        out->len = v[0]->len;
    }
    out->key = key;
    out->klen = klen;
    return out;
}

/* Remove what `path` names in obj: a member with that exact key, or inside the object members
   named by a prefix of it (merge_esql_result_in_source: the path's value goes first). */
static void remove_path(struct ev_node *obj, const char *path, size_t n)
{
    if (!obj || obj->type != EV_OBJECT)
        return;
    struct ev_node **pp = &obj->child;
    while (*pp) {
        struct ev_node *m = *pp;
        if (m->klen == n && memcmp(m->key, path, n) == 0) {
            *pp = m->next;
            obj->len--;
            continue;
        }
        if (m->klen < n && path[m->klen] == '.' && memcmp(m->key, path, m->klen) == 0)
            remove_path(m, path + m->klen + 1, n - m->klen - 1);
        pp = &m->next;
    }
}

/* ============================================================================================ */
/* Lifecycle and persistence                                                                    */
/* ============================================================================================ */

static struct eql_seq_opts seq_opts(const struct rule *r)
{
    /* the look-back bounds sequences without maxspan (a run sees events of one window) */
    struct eql_seq_opts o = {.max_keys = 0, .lateness_ms = 0, .window_ms = r->from_ms};
    return o;
}

static void docs_clear(struct det_lang *l)
{
    for (size_t i = 0; i < l->docs.len; i++) {
        kx_free(l->docs.ptr[i].json);
        kx_free(l->docs.ptr[i].id);
    }
    l->docs.len = 0;
}

static void wins_clear(struct det_lang *l)
{
    for (size_t i = 0; i < l->wins.len; i++)
        esql_run_free(l->wins.ptr[i].run);
    l->wins.len = 0;
}

void det_lang_free(struct det_lang *l)
{
    if (!l)
        return;
    eql_seq_free(l->seq);
    docs_clear(l);
    KX_VEC_FREE(&l->docs);
    for (size_t i = 0; i < l->matches.len; i++)
        kx_free(l->matches.ptr[i].h);
    KX_VEC_FREE(&l->matches);
    wins_clear(l);
    KX_VEC_FREE(&l->wins);
    KX_VEC_FREE(&l->cnt);
    kx_free(l->feed);
    kx_arena_fini(&l->arena);
    kx_buf_fini(&l->buf);
    kx_buf_fini(&l->ids);
    kx_buf_fini(&l->anc);
    kx_free(l);
}

static void put64(kx_buf *b, uint64_t v) { kx_buf_add(b, &v, 8); }

struct rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static const void *take(struct rd *d, size_t n)
{
    if (d->bad || n > d->n - d->off) {
        d->bad = true;
        return NULL;
    }
    const void *p = d->p + d->off;
    d->off += n;
    return p;
}

static uint64_t get64(struct rd *d)
{
    uint64_t v = 0;
    const void *p = take(d, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

static bool is_seq(const struct rule *r) { return r->type == RULE_EQL && eql_is_sequence(r->eql); }

/* The rule's state as bytes (docs/internals/engine.md): magic, then for a sequence the next
   handle, the documents (handle, id, JSON) and the matcher's bytes; for ES|QL the last
   evaluated tick, the watermark and each open window (T, the run's bytes). */
static int lang_save(const struct det_lang *l, const struct rule *r, kx_buf *b)
{
    kx_buf_add(b, LANG_MAGIC, 8);
    if (is_seq(r)) {
        put64(b, l->next_handle);
        put64(b, l->docs.len);
        for (size_t i = 0; i < l->docs.len; i++) {
            const struct seq_doc *d = &l->docs.ptr[i];
            put64(b, d->h);
            put64(b, strlen(d->id));
            kx_buf_adds(b, d->id);
            put64(b, d->len);
            kx_buf_add(b, d->json, d->len);
        }
        size_t at = b->len;
        put64(b, 0);
        if (eql_seq_save(l->seq, b) != KAD_OK)
            return KAD_ELIMIT;
        uint64_t n = b->len - at - 8;
        if (b->ptr)
            memcpy(b->ptr + at, &n, 8);
    } else {
        put64(b, (uint64_t)l->closed);
        put64(b, (uint64_t)l->watermark);
        put64(b, l->wins.len);
        kx_buf tmp;
        kx_buf_init(&tmp, 0);
        for (size_t i = 0; i < l->wins.len; i++) {
            kx_buf_reset(&tmp);
            if (esql_run_save(l->wins.ptr[i].run, &tmp) != KAD_OK) {
                kx_buf_fini(&tmp);
                return KAD_ELIMIT;
            }
            put64(b, (uint64_t)l->wins.ptr[i].t);
            put64(b, tmp.len);
            kx_buf_add(b, tmp.ptr, tmp.len);
        }
        kx_buf_fini(&tmp);
        /* then the executions' alert counts, the next tag and the kept documents */
        put64(b, l->cnt.len);
        for (size_t i = 0; i < l->cnt.len; i++) {
            put64(b, (uint64_t)l->cnt.ptr[i].t);
            put64(b, l->cnt.ptr[i].n);
        }
        put64(b, l->next_handle);
        put64(b, l->docs.len);
        for (size_t i = 0; i < l->docs.len; i++) {
            const struct seq_doc *d = &l->docs.ptr[i];
            put64(b, d->h);
            put64(b, (uint64_t)d->ts);
            put64(b, strlen(d->id));
            kx_buf_adds(b, d->id);
            put64(b, d->len);
            kx_buf_add(b, d->json, d->len);
        }
    }
    return kx_buf_error(b);
}

static int lang_restore(struct det_lang *l, const struct rule *r, const void *p, size_t n,
                        kad_err *err)
{
    struct rd d = {p, n, 0, false};
    const char *m = take(&d, 8);
    if (!m || memcmp(m, LANG_MAGIC, 8) != 0)
        return kx_err_setf(err, KAD_ESTATE, "rule '%s': stored state is not kadet's", r->rule_id);
    if (is_seq(r)) {
        l->next_handle = get64(&d);
        uint64_t nd = get64(&d);
        for (uint64_t i = 0; i < nd && !d.bad; i++) {
            struct seq_doc sd = {.h = get64(&d)};
            uint64_t il = get64(&d);
            const char *ip = take(&d, il);
            uint64_t jl = get64(&d);
            const char *jp = take(&d, jl);
            if (d.bad)
                break;
            sd.id = kx_strndup(ip, il);
            sd.json = kx_strndup(jp, jl);
            sd.len = jl;
            KX_VEC_PUSH(&l->docs, sd);
        }
        uint64_t sl = get64(&d);
        const void *sp = take(&d, sl);
        if (d.bad)
            return kx_err_setf(err, KAD_ESTATE, "rule '%s': stored sequences are truncated",
                               r->rule_id);
        struct eql_seq_opts o = seq_opts(r);
        struct eql_seq *s = eql_seq_restore(r->eql, &o, sp, sl, err);
        if (!s)
            return KAD_ESTATE;
        eql_seq_free(l->seq);
        l->seq = s;
        return KAD_OK;
    }
    l->closed = (int64_t)get64(&d);
    l->watermark = (int64_t)get64(&d);
    uint64_t nw = get64(&d);
    for (uint64_t i = 0; i < nw && !d.bad; i++) {
        int64_t t = (int64_t)get64(&d);
        uint64_t len = get64(&d);
        const void *rp = take(&d, len);
        if (d.bad)
            break;
        struct esql_run *run = esql_run_new(r->esql, t);
        if (esql_run_restore(run, rp, len, err) != KAD_OK) {
            esql_run_free(run);
            return KAD_ESTATE;
        }
        struct win w = {t, run};
        KX_VEC_PUSH(&l->wins, w);
    }
    if (!d.bad && d.off < d.n) { /* absent from a state written before they were kept */
        uint64_t nc = get64(&d);
        for (uint64_t i = 0; i < nc && !d.bad; i++) {
            struct wcount c = {(int64_t)get64(&d), get64(&d)};
            KX_VEC_PUSH(&l->cnt, c);
        }
        l->next_handle = get64(&d);
        uint64_t nd = get64(&d);
        for (uint64_t i = 0; i < nd && !d.bad; i++) {
            struct seq_doc sd = {.h = get64(&d), .ts = (int64_t)get64(&d)};
            uint64_t il = get64(&d);
            const char *ip = take(&d, il);
            uint64_t jl = get64(&d);
            const char *jp = take(&d, jl);
            if (d.bad)
                break;
            sd.id = kx_strndup(ip, il);
            sd.json = kx_strndup(jp, jl);
            sd.len = jl;
            KX_VEC_PUSH(&l->docs, sd);
        }
    }
    if (d.bad)
        return kx_err_setf(err, KAD_ESTATE, "rule '%s': stored windows are truncated", r->rule_id);
    return KAD_OK;
}

int det_lang_new(struct det_engine *e, struct det_rule *dr, kad_err *err)
{
    const struct rule *r = dr->r;
    struct det_lang *l = kx_calloc(1, sizeof *l);
    dr->lang = l;
    kx_arena_init(&l->arena, 64 * 1024, 0);
    kx_buf_init(&l->buf, 0);
    kx_buf_init(&l->ids, 0);
    kx_buf_init(&l->anc, 0);
    l->closed = INT64_MIN;
    l->watermark = INT64_MIN;
    l->interval = r->interval_ms > 0 ? r->interval_ms : 300000;
    l->lookback = r->from_ms > 0 ? r->from_ms : 360000;
    if (is_seq(r)) {
        struct eql_seq_opts o = seq_opts(r);
        l->seq = eql_seq_new(r->eql, &o);
    } else if (r->type == RULE_ESQL) {
        l->esql = true;
        l->windowed = esql_is_aggregating(r->esql) || esql_sorts_or_limits(r->esql);
        int64_t n = l->lookback / l->interval + 2;
        if (n > ESQL_MAX_WINDOWS)
            return kx_err_setf(err, KAD_ELIMIT,
                               "rule '%s': look-back %lld ms over interval %lld ms gives more "
                               "than %d open windows",
                               r->rule_id, (long long)l->lookback, (long long)l->interval,
                               ESQL_MAX_WINDOWS);
        if (l->windowed)
            l->feed = kx_calloc((size_t)n, sizeof *l->feed);
    } else {
        return KAD_OK; /* event queries keep no state */
    }
    kx_buf b;
    kx_buf_init(&b, 0);
    kad_err gerr;
    int rc = st_blob_get(e->o.state, dr->rid, &b, &gerr);
    if (rc == KAD_OK)
        rc = lang_restore(l, r, b.ptr, b.len, err);
    else if (rc == KAD_ENOTFOUND || rc == KAD_EUNSUPPORTED)
        rc = KAD_OK; /* a new rule, or a store without blobs (the state lives in memory) */
    else if (err)
        *err = gerr;
    kx_buf_fini(&b);
    return rc;
}

/* ============================================================================================ */
/* EQL sequences                                                                                */
/* ============================================================================================ */

static struct seq_doc *doc_find(struct det_lang *l, uint64_t h)
{
    size_t lo = 0, hi = l->docs.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->docs.ptr[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->docs.len && l->docs.ptr[lo].h == h ? &l->docs.ptr[lo] : NULL;
}

static void on_match(void *ctx, const struct eql_seq_match *m)
{
    struct det_lang *l = ctx;
    struct seq_match sm = {kx_malloc(m->n * sizeof(uint64_t) + 1), m->n, m->last_ts};
    memcpy(sm.h, m->h, m->n * sizeof(uint64_t));
    KX_VEC_PUSH(&l->matches, sm);
}

static void mark_live(void *ctx, uint64_t h)
{
    struct det_lang *l = ctx;
    struct seq_doc *d = doc_find(l, h);
    if (d)
        d->len |= (size_t)1 << (sizeof(size_t) * 8 - 1);
}

/* Drop the documents no partial sequence (no open ES|QL window's row) holds. */
static void docs_gc(struct det_lang *l)
{
    const size_t live = (size_t)1 << (sizeof(size_t) * 8 - 1);
    if (l->seq)
        eql_seq_handles(l->seq, mark_live, l);
    for (size_t i = 0; i < l->wins.len; i++)
        esql_run_tags(l->wins.ptr[i].run, mark_live, l);
    size_t j = 0;
    for (size_t i = 0; i < l->docs.len; i++) {
        struct seq_doc d = l->docs.ptr[i];
        if (d.len & live) {
            d.len &= ~live;
            l->docs.ptr[j++] = d;
        } else {
            kx_free(d.json);
            kx_free(d.id);
        }
    }
    l->docs.len = j;
    l->since_gc = 0;
}

/* One event of a sequence: its document (the current event's, or a stored one parsed into the
   alert arena) and id. */
static const struct ev_node *seq_event(struct det_engine *e, struct det_lang *l, uint64_t h,
                                       const char **id, kad_err *err)
{
    if (h == l->cur_h && l->cur_ev) {
        kx_str s = det_event_id(e, l->cur_ev);
        *id = kx_arena_strndup(&l->arena, s.ptr ? s.ptr : "", s.len);
        return det_full_doc(l->cur_ev);
    }
    struct seq_doc *d = doc_find(l, h);
    if (!d) {
        kx_err_setf(err, KAD_ESTATE, "sequence event %llu has no stored document",
                    (unsigned long long)h);
        return NULL;
    }
    *id = d->id;
    return ev_json_parse(&l->arena, d->json, d->len, "sequence state", err);
}

static void anc_event(kx_jsonw *w, const char *id, const struct ev_node *doc)
{
    kx_jsonw_obj_begin(w);
    kx_jsonw_keyc(w, "id");
    kx_jsonw_strc(w, id);
    kx_jsonw_keyc(w, "type");
    kx_jsonw_strc(w, "event");
    const struct ev_node *ix = ev_member(doc, "_index", 6);
    if (ix && ix->type == EV_STRING) {
        kx_jsonw_keyc(w, "index");
        kx_jsonw_str(w, ix->str, ix->len);
    }
    kx_jsonw_keyc(w, "depth");
    kx_jsonw_int(w, 0);
    kx_jsonw_obj_end(w);
}

/* The identity of one sequence's alerts (docs/alerts.md): building-block ids bb[i], the shell's
   ancestors as JSON text in anc and the shell id; ids_buf and sbuf are scratch. Shared by scan
   and preview. */
int det_seq_ids(const struct rule *r, const struct ev_node *const *docs, const char *const *ids,
                uint32_t n, char (*bb)[33], char shell[33], kx_buf *anc, kx_buf *ids_buf,
                kx_buf *sbuf, kad_err *err)
{
    const char *rid = r->rule_id ? r->rule_id : "";
    /* building-block ids: a hash of every event's (id, index, rule) and the position */
    kx_buf_reset(ids_buf);
    for (uint32_t i = 0; i < n; i++) {
        kx_buf_adds(ids_buf, ids[i]);
        const struct ev_node *ix = ev_member(docs[i], "_index", 6);
        if (ix && ix->type == EV_STRING)
            kx_buf_add(ids_buf, ix->str, ix->len);
        kx_buf_adds(ids_buf, rid);
    }
    kx_buf_reset(anc);
    kx_jsonw jw;
    kx_jsonw_init(&jw, anc);
    kx_jsonw_arr_begin(&jw);
    kx_buf_reset(sbuf); /* the shell id's input: each ancestor's id and index */
    for (uint32_t i = 0; i < n; i++) {
        char pos[24];
        int pl = snprintf(pos, sizeof pos, "%u", i);
        det_alert_uuid(rid, ids_buf->ptr, ids_buf->len, pos, (size_t)pl, bb[i]);
        anc_event(&jw, ids[i], docs[i]);
        kx_jsonw_obj_begin(&jw);
        kx_jsonw_keyc(&jw, "id");
        kx_jsonw_strc(&jw, bb[i]);
        kx_jsonw_keyc(&jw, "type");
        kx_jsonw_strc(&jw, "signal");
        kx_jsonw_keyc(&jw, "index");
        kx_jsonw_strc(&jw, "");
        kx_jsonw_keyc(&jw, "depth");
        kx_jsonw_int(&jw, 1);
        kx_jsonw_keyc(&jw, "rule");
        kx_jsonw_strc(&jw, rid);
        kx_jsonw_obj_end(&jw);
        kx_buf_adds(sbuf, ids[i]);
        const struct ev_node *ix = ev_member(docs[i], "_index", 6);
        if (ix && ix->type == EV_STRING)
            kx_buf_add(sbuf, ix->str, ix->len);
        kx_buf_adds(sbuf, bb[i]);
    }
    kx_jsonw_arr_end(&jw);
    if (kx_jsonw_error(&jw) != KAD_OK || kx_buf_error(sbuf) || kx_buf_error(ids_buf))
        return kx_err_setf(err, KAD_ENOMEM, "out of memory");
    det_alert_uuid(rid, sbuf->ptr, sbuf->len, "shell", 5, shell);
    return KAD_OK;
}

/* The shell alert's body: the recursive intersection of the events (arena a). */
struct ev_node *det_seq_body(kx_arena *a, const struct ev_node *const *docs, uint32_t n)
{
    return intersect(a, docs, n, NULL, 0, true);
}

/* The alerts of one completed sequence: the shell, then a building block per event. */
static int seq_alerts(struct det_engine *e, struct det_rule *dr, const struct seq_match *m,
                      kad_err *err)
{
    struct det_lang *l = dr->lang;
    const struct rule *r = dr->r;
    kx_arena_reset(&l->arena);
    const struct ev_node **docs = kx_arena_alloc(&l->arena, (m->n + 1) * sizeof *docs);
    const char **ids = kx_arena_alloc(&l->arena, (m->n + 1) * sizeof *ids);
    if (!docs || !ids)
        return kx_err_setf(err, KAD_ENOMEM, "out of memory");
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->h[i] == EQL_SEQ_MISSING)
            continue; /* a missing-event stage has no event, hence no building block */
        docs[n] = seq_event(e, l, m->h[i], &ids[n], err);
        if (!docs[n])
            return KAD_ESTATE;
        n++;
    }
    if (n == 0)
        return KAD_OK;
    char(*bb)[33] = kx_arena_alloc(&l->arena, n * sizeof *bb);
    if (!bb)
        return kx_err_setf(err, KAD_ENOMEM, "out of memory");
    char shell[33];
    int src = det_seq_ids(r, docs, ids, n, bb, shell, &l->anc, &l->ids, &l->buf, err);
    if (src != KAD_OK)
        return src;

    int64_t ts = m->last_ts;
    bool claimed;
    int ad = det_alert_admit(e, dr, NULL, 0, shell, ts, &claimed, err);
    if (ad <= 0)
        return ad;
    if (!det_budget(e, dr, ts))
        return KAD_OK;
    if (e->o.learn) {
        dr->st.would_alert++;
        return KAD_OK;
    }
    struct ev_node *body = det_seq_body(&l->arena, docs, n);
    if (!body)
        return kx_err_setf(err, KAD_ENOMEM, "out of memory");
    int64_t now = e->o.now_ms == DET_TIME_NONE ? wall_ms() : e->o.now_ms;
    struct det_alert_extra x = {
        .timestamp_ms = now,
        .last_detected_ms = DET_TIME_NONE,
        .event_ms = ts,
        .uuid = shell,
        .intended_ms = DET_TIME_NONE,
        .group_id = shell,
        .ancestors_json = l->anc.ptr,
        .depth = 2,
        .original_ms = now, /* Kibana reads it from the first building block: its creation */
        .claimed = claimed,
    };
    int rc = det_emit(e, dr, body, &x, 0, "", 0, ts, err);
    for (uint32_t i = 0; i < n && rc == KAD_OK; i++) {
        struct det_alert_extra b = {
            .timestamp_ms = now,
            .last_detected_ms = DET_TIME_NONE,
            .event_ms = ts,
            .uuid = bb[i],
            .doc_id = ids[i],
            .intended_ms = DET_TIME_NONE,
            .group_id = shell,
            .building_block = true,
            .group_index = (int)i,
        };
        rc = det_emit(e, dr, docs[i], &b, 0, "", 0, ts, err);
    }
    return rc;
}

static int seq_drain(struct det_engine *e, struct det_rule *dr, kad_err *err)
{
    struct det_lang *l = dr->lang;
    int rc = KAD_OK;
    for (size_t i = 0; i < l->matches.len; i++) {
        if (rc == KAD_OK)
            rc = seq_alerts(e, dr, &l->matches.ptr[i], err);
        kx_free(l->matches.ptr[i].h);
    }
    l->matches.len = 0;
    return rc;
}

static int seq_event_in(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                        kad_err *err)
{
    struct det_lang *l = dr->lang;
    int64_t at = det_timestamp(e, ev); /* sequences order by @timestamp */
    if (at == DET_TIME_NONE) {
        dr->st.no_time++;
        return KAD_OK;
    }
    struct eql_seq_stats before, after;
    eql_seq_get_stats(l->seq, &before);
    uint64_t h = l->next_handle++;
    l->cur_h = h;
    l->cur_ev = ev;
    if (eql_seq_feed(l->seq, ev->doc, at, h, on_match, l) == KAD_ELIMIT)
        dr->st.combos_limited++;
    int rc = seq_drain(e, dr, err);
    eql_seq_get_stats(l->seq, &after);
    if (rc == KAD_OK && after.placed != before.placed) {
        /* a partial sequence holds the event: keep its document for the alerts */
        kx_buf_reset(&l->buf);
        kx_str id = det_event_id(e, ev);
        if (ev_json_dump(det_full_doc(ev), &l->buf) != KAD_OK) {
            rc = kx_err_setf(err, KAD_ELIMIT, "rule '%s': event too large to keep", dr->r->rule_id);
        } else {
            struct seq_doc d = {h, 0, kx_strndup(l->buf.ptr, l->buf.len), l->buf.len,
                                kx_strndup(id.ptr ? id.ptr : "", id.len)};
            KX_VEC_PUSH(&l->docs, d);
        }
    }
    l->cur_ev = NULL;
    l->cur_h = UINT64_MAX;
    if (++l->since_gc >= SEQ_GC_EVERY)
        docs_gc(l);
    return rc;
}

/* ============================================================================================ */
/* ES|QL                                                                                        */
/* ============================================================================================ */

static struct esql_doc esql_doc_of(struct det_engine *e, const struct det_event *ev,
                                   const struct rule *r)
{
    const struct ev_node *doc = esql_needs_all(r->esql) ? det_full_doc(ev) : ev->doc;
    kx_str id = det_event_id(e, ev);
    kx_str ix = det_first(doc, "_index");
    struct esql_doc d = {
        .doc = doc,
        .id = {id.ptr ? id.ptr : "", id.len},
        .index = ix,
        .version = 1,
    };
    return d;
}

int det_esql_row_text(const struct esql_result *res, size_t i, kx_buf *out, kad_err *err)
{
    struct esql_result one = *res;
    one.nrows = 1;
    one.rows = &res->rows[i];
    kx_buf_reset(out);
    if (esql_result_ndjson(&one, out) != KAD_OK || kx_buf_error(out) != KAD_OK)
        return kx_err_setf(err, KAD_ELIMIT, "ES|QL row too large");
    return KAD_OK; /* with its newline: the alert ids hash the text as written */
}

static bool is_meta(const struct ev_node *m)
{
    return (m->klen == 3 && memcmp(m->key, "_id", 3) == 0) ||
           (m->klen == 6 && memcmp(m->key, "_index", 6) == 0) ||
           (m->klen == 8 && memcmp(m->key, "_version", 8) == 0);
}

struct ev_node *det_esql_alert_doc(kx_arena *a, const char *row_text, size_t n,
                                   const struct ev_node *source, kad_err *err)
{
    while (n && (row_text[n - 1] == '\n' || row_text[n - 1] == '\r'))
        n--;
    struct ev_node *row = ev_json_parse(a, row_text, n, "ES|QL row", err);
    if (!row || row->type != EV_OBJECT)
        return NULL;
    if (source) {
        struct ev_node *doc = pv_doc_copy(a, source);
        if (!doc || doc->type != EV_OBJECT) {
            kx_err_setf(err, KAD_ENOMEM, "out of memory");
            return NULL;
        }
        struct ev_node *last = NULL;
        struct ev_node *c = row->child;
        while (c) {
            struct ev_node *next = c->next;
            if (!is_meta(c)) {
                remove_path(doc, c->key, c->klen);
                last = doc->child;
                while (last && last->next)
                    last = last->next;
                append_child(doc, c, &last);
            }
            c = next;
        }
        return doc;
    }
    struct ev_node **pp = &row->child;
    while (*pp) {
        if (is_meta(*pp)) {
            *pp = (*pp)->next;
            row->len--;
        } else {
            pp = &(*pp)->next;
        }
    }
    return row;
}

/* max_signals per execution: charge one alert to the first execution in [first, last] with
   budget left (Elastic's executions each create at most max_signals; a row an execution could
   not create is a candidate again in the next one whose window holds it). */
static bool esql_budget(struct det_rule *dr, int64_t first, int64_t last)
{
    struct det_lang *l = dr->lang;
    uint64_t max = dr->r->max_signals > 0 ? (uint64_t)dr->r->max_signals : 100;
    size_t k = 0;
    for (int64_t t = first; t <= last; t += l->interval) {
        while (k < l->cnt.len && l->cnt.ptr[k].t < t)
            k++;
        if (k == l->cnt.len || l->cnt.ptr[k].t != t) {
            struct wcount c = {t, 0};
            KX_VEC_GROW(&l->cnt, 1);
            memmove(l->cnt.ptr + k + 1, l->cnt.ptr + k, (l->cnt.len - k) * sizeof *l->cnt.ptr);
            l->cnt.ptr[k] = c;
            l->cnt.len++;
        }
        if (l->cnt.ptr[k].n < max) {
            l->cnt.ptr[k].n++;
            return true;
        }
    }
    dr->st.max_signals_cut++;
    return false;
}

/* Forget the counts of executions no document can reach any more (event time order). */
static void esql_counts_prune(struct det_lang *l, int64_t ts)
{
    size_t k = 0;
    while (k < l->cnt.len && l->cnt.ptr[k].t < ts - l->interval)
        k++;
    if (k) {
        memmove(l->cnt.ptr, l->cnt.ptr + k, (l->cnt.len - k) * sizeof *l->cnt.ptr);
        l->cnt.len -= k;
    }
}

/* One result row as an alert: a row rule's alert is the source document with the row's
   columns written over it (flat dotted keys), an aggregating rule's the row alone. The row
   belongs to the executions [t, last] (a row rule's document is in every window holding it);
   multi: its document gave several rows (the row's text is then part of the id). */
static int esql_row_alert(struct det_engine *e, struct det_rule *dr, const struct esql_result *res,
                          size_t i, const struct ev_node *source, const char *doc_id, bool multi,
                          int64_t t, int64_t last, int64_t ts, kad_err *err)
{
    struct det_lang *l = dr->lang;
    const struct rule *r = dr->r;
    if (det_esql_row_text(res, i, &l->buf, err) != KAD_OK)
        return KAD_ELIMIT;
    struct ev_node *doc = det_esql_alert_doc(&l->arena, l->buf.ptr, l->buf.len, source, err);
    if (!doc)
        return KAD_ELIMIT;
    char uuid[33];
    if (source) {
        /* Kibana: hash of the document's _id, _version, _index and the rule (and the values
           of expanded columns: a second row of one document adds its text) */
        const char *combo = multi ? l->buf.ptr : "";
        det_alert_uuid(r->rule_id, combo, multi ? l->buf.len : 0, doc_id, strlen(doc_id), uuid);
    } else {
        det_esql_window_uuid(r, t - l->lookback, t, l->buf.ptr, l->buf.len, uuid);
    }
    bool claimed;
    int ad = det_alert_admit(e, dr, NULL, 0, uuid, ts, &claimed, err);
    if (ad <= 0)
        return ad;
    struct det_alert_extra x = {
        .timestamp_ms = e->o.now_ms,
        .last_detected_ms = DET_TIME_NONE,
        .event_ms = ts,
        .uuid = uuid,
        .doc_id = source ? doc_id : NULL,
        .intended_ms = DET_TIME_NONE,
        .claimed = claimed,
    };
    char inst[SUP_ID_LEN + 1];
    /* suppression time: the source document's, else the execution's (Kibana's fallback) */
    if (r->suppress_group_by.n > 0 &&
        det_suppress(e, dr, doc, source ? ts : t, t, t - l->lookback, &x, inst))
        return KAD_OK;
    if (!esql_budget(dr, t, last))
        return KAD_OK;
    if (e->o.learn) {
        dr->st.would_alert++;
        return KAD_OK;
    }
    return det_emit(e, dr, doc, &x, 0, "", 0, ts, err);
}

static void esql_warning(struct det_rule *dr, const struct esql_result *res)
{
    if (res->warnings && res->first_warning && dr->st.combos_limited++ == 0)
        kx_log(KX_LOG_WARN, "rule '%s': ES|QL: %s", dr->r->rule_id, res->first_warning);
}

void det_esql_window_uuid(const struct rule *r, int64_t from, int64_t to, const char *row, size_t n,
                          char uuid[33])
{
    /* kadet's id: the rule, the window and the row (Kibana uses the row's index) */
    char win[48];
    int wl = snprintf(win, sizeof win, "%lld:%lld", (long long)from, (long long)to);
    det_alert_uuid(r->rule_id, win, (size_t)wl, row, n, uuid);
}

/* A row rule without SORT/LIMIT: the document alone, NOW() = the first tick that covers it;
   its rows are candidates of every execution whose window holds it. */
static int esql_rows(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                     int64_t ts, kad_err *err)
{
    struct det_lang *l = dr->lang;
    const struct rule *r = dr->r;
    int64_t t = (floor_div(ts - 1, l->interval) + 1) * l->interval;
    int64_t last = floor_div(ts + l->lookback, l->interval) * l->interval;
    struct esql_doc d = esql_doc_of(e, ev, r);
    struct esql_run *run = esql_run_new(r->esql, t);
    struct esql_result res;
    int rc = esql_run_feed(run, &d, err);
    if (rc == KAD_OK)
        rc = esql_run_finish(run, &res, err);
    if (rc == KAD_OK) {
        esql_warning(dr, &res);
        kx_arena_reset(&l->arena);
        char *id = kx_arena_strndup(&l->arena, d.id.ptr, d.id.len);
        const struct ev_node *src = det_full_doc(ev);
        for (size_t i = 0; i < res.nrows && rc == KAD_OK && id; i++)
            rc = esql_row_alert(e, dr, &res, i, src, id, res.nrows > 1, t, last, ts, err);
    }
    esql_run_free(run);
    if (ts > l->watermark) {
        l->watermark = ts;
        esql_counts_prune(l, ts);
    }
    return rc;
}

/* The rows of one closed window of a row rule with SORT/LIMIT, in the query's order: each
   over its stored source document; max_signals of this execution. */
static int esql_close_rows(struct det_engine *e, struct det_rule *dr, const struct win *w,
                           const struct esql_result *res, kad_err *err)
{
    struct det_lang *l = dr->lang;
    kx_map cnt;
    kx_map_init(&cnt);
    for (size_t i = 0; i < res->nrows; i++) {
        uintptr_t n = (uintptr_t)kx_map_get(&cnt, &res->tags[i], 8, NULL);
        kx_map_put(&cnt, &res->tags[i], 8, (void *)(n + 1));
    }
    int rc = KAD_OK;
    for (size_t i = 0; i < res->nrows && rc == KAD_OK; i++) {
        kx_arena_reset(&l->arena);
        struct seq_doc *sd = doc_find(l, res->tags[i]);
        if (!sd) {
            rc = kx_err_setf(err, KAD_ESTATE, "rule '%s': ES|QL row of document %llu not kept",
                             dr->r->rule_id, (unsigned long long)res->tags[i]);
            break;
        }
        const struct ev_node *src = ev_json_parse(&l->arena, sd->json, sd->len, "ES|QL state", err);
        if (!src)
            break;
        bool multi = (uintptr_t)kx_map_get(&cnt, &res->tags[i], 8, NULL) > 1;
        rc = esql_row_alert(e, dr, res, i, src, sd->id, multi, w->t, w->t, sd->ts, err);
    }
    kx_map_fini(&cnt);
    return rc;
}

/* Evaluate the open windows with T <= upto, oldest first. */
static int esql_close(struct det_engine *e, struct det_rule *dr, int64_t upto, kad_err *err)
{
    struct det_lang *l = dr->lang;
    bool agg = esql_is_aggregating(dr->r->esql);
    size_t k = 0;
    int rc = KAD_OK;
    while (k < l->wins.len && l->wins.ptr[k].t <= upto && rc == KAD_OK) {
        struct win *w = &l->wins.ptr[k];
        struct esql_result res;
        rc = esql_run_finish(w->run, &res, err);
        if (rc == KAD_OK) {
            esql_warning(dr, &res);
            if (!agg)
                rc = esql_close_rows(e, dr, w, &res, err);
            for (size_t i = 0; agg && i < res.nrows && rc == KAD_OK; i++) {
                kx_arena_reset(&l->arena);
                rc = esql_row_alert(e, dr, &res, i, NULL, NULL, false, w->t, w->t, w->t, err);
            }
        }
        esql_run_free(w->run);
        if (w->t > l->closed)
            l->closed = w->t;
        k++;
    }
    if (k) {
        memmove(l->wins.ptr, l->wins.ptr + k, (l->wins.len - k) * sizeof *l->wins.ptr);
        l->wins.len -= k;
        esql_counts_prune(l, l->closed);
    }
    return rc;
}

/* A windowed rule: the document goes to every window [T - lookback, T] holding ts. */
static int esql_windows(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                        int64_t ts, kad_err *err)
{
    struct det_lang *l = dr->lang;
    const struct rule *r = dr->r;
    int64_t first = (floor_div(ts - 1, l->interval) + 1) * l->interval; /* smallest T >= ts */
    int64_t last = floor_div(ts + l->lookback, l->interval) * l->interval;
    if (first <= l->closed)
        first = (floor_div(l->closed, l->interval) + 1) * l->interval;
    if (first > last) {
        dr->st.too_late++; /* every window holding it was evaluated already */
        return KAD_OK;
    }
    size_t nf = 0, k = 0;
    for (int64_t t = first; t <= last; t += l->interval) {
        while (k < l->wins.len && l->wins.ptr[k].t < t)
            k++;
        if (k == l->wins.len || l->wins.ptr[k].t != t) {
            struct win w = {t, esql_run_new(r->esql, t)};
            KX_VEC_GROW(&l->wins, 1);
            memmove(l->wins.ptr + k + 1, l->wins.ptr + k, (l->wins.len - k) * sizeof *l->wins.ptr);
            l->wins.ptr[k] = w;
            l->wins.len++;
        }
        l->feed[nf++] = l->wins.ptr[k].run;
    }
    struct esql_doc d = esql_doc_of(e, ev, r);
    bool rows = !esql_is_aggregating(r->esql);
    uint64_t kept = 0;
    if (rows) {
        d.tag = l->next_handle++;
        for (size_t i = 0; i < nf; i++)
            kept += esql_run_kept(l->feed[i]);
    }
    int rc = esql_run_feed_many(l->feed, nf, &d, err);
    for (size_t i = 0; rows && i < nf; i++)
        kept -= esql_run_kept(l->feed[i]);
    if (rc == KAD_OK && rows && kept != 0) {
        /* a window keeps a row of it: keep the document for that row's alert */
        kx_buf_reset(&l->buf);
        if (ev_json_dump(det_full_doc(ev), &l->buf) != KAD_OK) {
            rc = kx_err_setf(err, KAD_ELIMIT, "rule '%s': event too large to keep", r->rule_id);
        } else {
            struct seq_doc sd = {d.tag, ts, kx_strndup(l->buf.ptr, l->buf.len), l->buf.len,
                                 kx_strndup(d.id.ptr, d.id.len)};
            KX_VEC_PUSH(&l->docs, sd);
        }
    }
    if (rows && ++l->since_gc >= SEQ_GC_EVERY)
        docs_gc(l);
    if (ts > l->watermark)
        l->watermark = ts;
    /* Elastic's execution at T sees the documents up to T: once a later one arrived, the
       windows up to it are complete */
    if (rc == KAD_OK && l->wins.len && l->wins.ptr[0].t < l->watermark)
        rc = esql_close(e, dr, l->watermark - 1, err);
    return rc;
}

/* ============================================================================================ */
/* Engine hooks                                                                                 */
/* ============================================================================================ */

int det_lang_event(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                   int64_t ts, kad_err *err)
{
    const struct rule *r = dr->r;
    if (is_seq(r))
        return seq_event_in(e, dr, ev, err);
    if (r->type != RULE_ESQL)
        return KAD_OK;
    if (dr->lang->windowed)
        return esql_windows(e, dr, ev, ts, err);
    return esql_rows(e, dr, ev, ts, err);
}

int det_save(struct det_engine *e, kad_err *err)
{
    kx_buf b;
    kx_buf_init(&b, 0);
    int rc = KAD_OK;
    for (size_t i = 0; i < e->nrules && rc == KAD_OK; i++) {
        struct det_rule *dr = &e->rules[i];
        struct det_lang *l = dr->lang;
        if (!l || (!l->seq && !l->esql))
            continue;
        if (l->seq || l->windowed)
            docs_gc(l);
        kx_buf_reset(&b);
        if (lang_save(l, dr->r, &b) != KAD_OK) {
            rc = kx_err_setf(err, KAD_ELIMIT, "rule '%s': state too large to save", dr->r->rule_id);
            break;
        }
        kad_err serr;
        rc = st_blob_set(e->o.state, dr->rid, b.ptr ? b.ptr : "", b.len, &serr);
        if (rc == KAD_EUNSUPPORTED) {
            rc = KAD_OK; /* kept in memory only (docs/internals/engine.md) */
        } else if (rc != KAD_OK && err) {
            *err = serr;
        }
    }
    kx_buf_fini(&b);
    return rc;
}

int det_flush(struct det_engine *e, int64_t now_ms, kad_err *err)
{
    int rc = KAD_OK;
    for (size_t i = 0; i < e->nrules && rc == KAD_OK; i++) {
        struct det_rule *dr = &e->rules[i];
        struct det_lang *l = dr->lang;
        if (!l)
            continue;
        /* EQL sequences follow event time only: moving their watermark to the wall clock
           would expire every partial sequence of a replayed log, so a later scan could not
           complete one (a trailing missing-event window closes with later events) */
        if (l->feed)
            rc = esql_close(e, dr, now_ms, err);
    }
    return rc;
}

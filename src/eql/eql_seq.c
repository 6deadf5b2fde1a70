/*
 * eql_seq.c - the sequence matcher: Elasticsearch's per-key state machine in its event-by-event
 * form (docs/internals/eql.md "Sequences").
 *
 * Per join key: at most one partial sequence per completed positive stage (the latest wins),
 * the ordinal of the latest `until` event and of the latest event of each missing-event
 * stage. Events are fed in order; an event may advance a partial sequence only when its
 * ordinal (@timestamp ms, then arrival) is strictly greater than the sequence's last one.
 * Stages are visited from the highest to the lowest, so one event never fills two consecutive
 * stages of one sequence. maxspan is inclusive and measured from the first event.
 *
 * Missing-event stages (`![ ]`): between positive stages i and j, no matching event with the
 * same key strictly between them; leading, none in [last - maxspan, first); trailing, none in
 * (last, first + maxspan], so a sequence with a trailing missing stage is reported only once
 * the watermark has passed first + maxspan (+ lateness) without one.
 *
 * The state is kept in plain heap structures and serialised explicitly (eql_seq_save /
 * eql_seq_restore), so an engine can persist it with its input offsets.
 */
#include "eql.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/map.h"
#include "base/str.h"
#include "base/vec.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_TUPLES 64  /* join-key tuples of one event (multi-valued keys: cartesian product) */
#define MAX_KEYVALS 64 /* distinct values of one key field */
#define MAX_WAITING 100000
#define SWEEP_EVERY 1024

struct ord {
    int64_t ts;
    uint64_t seq;
};

static int ord_cmp(struct ord a, struct ord b)
{
    if (a.ts != b.ts)
        return a.ts < b.ts ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

struct part {
    struct ord first, last;
    bool has_lead;
    int64_t lead_ts; /* latest leading-missing event before the first one */
    uint32_t n;      /* positive events so far */
    uint64_t h[];    /* npos */
};

struct key {
    struct part **pend; /* npos - 1 */
    bool has_until;
    struct ord until;
    bool *has_miss; /* nmiss */
    struct ord *miss;
};

struct wait {
    char *k;
    size_t klen;
    struct part *p;
};

struct eql_seq {
    const struct eql_query *q;
    struct eql_seq_opts o;
    uint64_t qhash;
    uint32_t npos, nmiss, nout;
    const struct eql_term **pos;  /* positive stages, runs expanded */
    const struct eql_term **miss; /* missing stages */
    uint32_t *miss_after;         /* positive stages before each missing stage */
    uint32_t *pos_out, *miss_out; /* slot in the reported handle list */
    uint64_t *out;
    kx_map keys;
    KX_VEC(struct wait) waiting;
    uint64_t seq;
    int64_t watermark;
    uint32_t since_sweep;
    bool dropped;
    struct eql_seq_stats st;
    struct ev_memo memo;
};

/* ---- setup ------------------------------------------------------------------------------------
 */

static uint64_t query_hash(const struct eql_query *q)
{
    kx_buf b;
    kx_buf_init(&b, 0);
    eql_dump(q, &b);
    uint64_t h = kx_hash64(b.ptr ? b.ptr : "", b.len, 0x65716c73);
    kx_buf_fini(&b);
    return h;
}

struct eql_seq *eql_seq_new(const struct eql_query *q, const struct eql_seq_opts *opts)
{
    if (!q || !q->sequence)
        return NULL;
    struct eql_seq *s = kx_calloc(1, sizeof *s);
    if (opts)
        s->o = *opts;
    if (!s->o.max_keys)
        s->o.max_keys = 100000;
    if (s->o.lateness_ms < 0)
        s->o.lateness_ms = 0;
    s->q = q;
    s->qhash = query_hash(q);
    uint32_t total = 0;
    for (uint32_t i = 0; i < q->nterms; i++)
        total += q->terms[i].runs;
    s->pos = kx_calloc(total, sizeof *s->pos);
    s->miss = kx_calloc(total, sizeof *s->miss);
    s->miss_after = kx_calloc(total, sizeof *s->miss_after);
    s->pos_out = kx_calloc(total, sizeof *s->pos_out);
    s->miss_out = kx_calloc(total, sizeof *s->miss_out);
    s->out = kx_calloc(total, sizeof *s->out);
    for (uint32_t i = 0; i < q->nterms; i++) {
        const struct eql_term *t = &q->terms[i];
        for (uint32_t r = 0; r < t->runs; r++) {
            if (t->missing) {
                s->miss[s->nmiss] = t;
                s->miss_after[s->nmiss] = s->npos;
                s->miss_out[s->nmiss++] = s->nout++;
            } else {
                s->pos[s->npos] = t;
                s->pos_out[s->npos++] = s->nout++;
            }
        }
    }
    kx_map_init(&s->keys);
    s->watermark = INT64_MIN;
    return s;
}

static void key_free(struct eql_seq *s, struct key *k)
{
    if (!k)
        return;
    for (uint32_t i = 0; i + 1 < s->npos; i++)
        if (k->pend[i]) {
            kx_free(k->pend[i]);
            s->st.partials--;
        }
    kx_free(k->pend);
    kx_free(k->has_miss);
    kx_free(k->miss);
    kx_free(k);
}

void eql_seq_free(struct eql_seq *s)
{
    if (!s)
        return;
    size_t it = 0;
    const char *kk;
    size_t kl;
    void *v;
    while (kx_map_next(&s->keys, &it, &kk, &kl, &v))
        key_free(s, v);
    kx_map_fini(&s->keys);
    for (size_t i = 0; i < s->waiting.len; i++) {
        kx_free(s->waiting.ptr[i].k);
        kx_free(s->waiting.ptr[i].p);
    }
    KX_VEC_FREE(&s->waiting);
    kx_free(s->pos);
    kx_free(s->miss);
    kx_free(s->miss_after);
    kx_free(s->pos_out);
    kx_free(s->miss_out);
    kx_free(s->out);
    kx_free(s);
}

static struct key *key_new(struct eql_seq *s)
{
    struct key *k = kx_calloc(1, sizeof *k);
    k->pend = kx_calloc(s->npos ? s->npos : 1, sizeof *k->pend);
    k->has_miss = kx_calloc(s->nmiss ? s->nmiss : 1, sizeof *k->has_miss);
    k->miss = kx_calloc(s->nmiss ? s->nmiss : 1, sizeof *k->miss);
    return k;
}

static struct part *part_new(struct eql_seq *s)
{
    struct part *p = kx_calloc(1, sizeof *p + s->npos * sizeof(uint64_t));
    s->st.partials++;
    return p;
}

static void part_drop(struct eql_seq *s, struct part *p)
{
    if (p) {
        kx_free(p);
        s->st.partials--;
    }
}

/* ---- join keys --------------------------------------------------------------------------------
 */

struct kv {
    kx_buf *vals; /* encoded values, each prefixed by its u32 length */
    uint32_t n;
    bool over;
};

static void enc_val(kx_buf *b, const struct eql_val *v)
{
    char num[64];
    switch (v->t) {
    case EQL_V_STR:
        kx_buf_addc(b, 's');
        kx_buf_add(b, v->s, v->len);
        return;
    case EQL_V_BOOL: kx_buf_addc(b, v->b ? 't' : 'f'); return;
    case EQL_V_INT: snprintf(num, sizeof num, "n%lld", (long long)v->i); break;
    case EQL_V_DBL:
        if (v->d == floor(v->d) && fabs(v->d) < 9e15)
            snprintf(num, sizeof num, "n%lld", (long long)v->d);
        else
            snprintf(num, sizeof num, "n%.17g", v->d);
        break;
    default: kx_buf_addc(b, 'z'); return;
    }
    kx_buf_adds(b, num);
}

static bool key_fn(const struct ev_node *v, bool partial, void *ctx)
{
    struct kv *c = ctx;
    struct eql_val x;
    if (partial || !eql_val_from_node(v, &x))
        return false;
    kx_buf one;
    kx_buf_init(&one, 0);
    enc_val(&one, &x);
    /* dedupe */
    size_t i = 0;
    for (uint32_t k = 0; k < c->n; k++) {
        uint32_t l;
        memcpy(&l, c->vals->ptr + i, 4);
        if (l == one.len && memcmp(c->vals->ptr + i + 4, one.ptr, l) == 0) {
            kx_buf_fini(&one);
            return false;
        }
        i += 4 + l;
    }
    if (c->n >= MAX_KEYVALS) {
        c->over = true;
        kx_buf_fini(&one);
        return true;
    }
    uint32_t l = (uint32_t)one.len;
    kx_buf_add(c->vals, &l, 4);
    kx_buf_add(c->vals, one.ptr, one.len);
    c->n++;
    kx_buf_fini(&one);
    return false;
}

/*
 * The key tuples of `doc` for term t into *out: each tuple is u32 length + bytes (the tuple
 * being, per key, u32 length + encoded value). Returns the count (0: a non-optional key is
 * missing, the event does not take part).
 */
static uint32_t tuples(struct eql_seq *s, const struct eql_term *t, const struct ev_node *doc,
                       struct ev_memo *memo, kx_buf *out)
{
    kx_buf vals[16];
    struct kv kv[16];
    uint32_t nk = t->nkeys < 16 ? t->nkeys : 16;
    uint32_t count = 1;
    for (uint32_t i = 0; i < nk; i++) {
        kx_buf_init(&vals[i], 0);
        kv[i] = (struct kv){.vals = &vals[i]};
        const struct eql_node *f = t->keys[i];
        ev_values_memo(memo, doc, f->path, f->plen, key_fn, &kv[i]);
        if (kv[i].n == 0 && f->optional) {
            uint32_t l = 1;
            kx_buf_add(&vals[i], &l, 4);
            kx_buf_addc(&vals[i], 'z');
            kv[i].n = 1;
        }
        if (kv[i].over)
            s->dropped = true;
        count = kv[i].n == 0 ? 0 : count * kv[i].n > MAX_TUPLES ? MAX_TUPLES + 1 : count * kv[i].n;
    }
    if (count > MAX_TUPLES) {
        s->dropped = true;
        count = MAX_TUPLES;
    }
    uint32_t made = 0;
    if (count) {
        uint32_t idx[16] = {0};
        for (; made < count;) {
            kx_buf tup;
            kx_buf_init(&tup, 0);
            for (uint32_t i = 0; i < nk; i++) {
                size_t off = 0;
                uint32_t l = 0;
                for (uint32_t k = 0; k <= idx[i]; k++) {
                    memcpy(&l, vals[i].ptr + off, 4);
                    if (k < idx[i])
                        off += 4 + l;
                }
                kx_buf_add(&tup, vals[i].ptr + off, 4 + l);
            }
            uint32_t tl = (uint32_t)tup.len;
            kx_buf_add(out, &tl, 4);
            kx_buf_add(out, tup.ptr ? tup.ptr : "", tup.len);
            kx_buf_fini(&tup);
            made++;
            /* next combination */
            uint32_t i = 0;
            while (i < nk && ++idx[i] == kv[i].n)
                idx[i++] = 0;
            if (i == nk)
                break;
        }
    }
    for (uint32_t i = 0; i < nk; i++)
        kx_buf_fini(&vals[i]);
    return made;
}

/* Iterate the tuples written by tuples(). */
static bool next_tuple(const kx_buf *b, size_t *off, const char **k, size_t *klen)
{
    if (*off + 4 > b->len)
        return false;
    uint32_t l;
    memcpy(&l, b->ptr + *off, 4);
    *k = b->ptr + *off + 4;
    *klen = l;
    *off += 4 + l;
    return true;
}

int eql_seq_key_text(const char *key, size_t klen, kx_buf *out)
{
    int rc = kx_buf_addc(out, '[');
    size_t i = 0;
    bool first = true;
    while (i + 4 <= klen && rc == KAD_OK) {
        uint32_t l;
        memcpy(&l, key + i, 4);
        i += 4;
        if (l == 0 || i + l > klen)
            break;
        if (!first)
            rc = kx_buf_adds(out, ", ");
        first = false;
        char t = key[i];
        if (t == 's')
            rc = rc ? rc : eql_quote(out, key + i + 1, l - 1);
        else if (t == 'n')
            rc = rc ? rc : kx_buf_add(out, key + i + 1, l - 1);
        else
            rc = rc ? rc : kx_buf_adds(out, t == 't' ? "true" : t == 'f' ? "false" : "null");
        i += l;
    }
    return rc ? rc : kx_buf_addc(out, ']');
}

/* ---- state ------------------------------------------------------------------------------------
 */

static bool key_empty(const struct eql_seq *s, const struct key *k)
{
    for (uint32_t i = 0; i + 1 < s->npos; i++)
        if (k->pend[i])
            return false;
    for (uint32_t i = 0; i < s->nmiss; i++)
        if (k->has_miss[i])
            return false;
    return true;
}

static int64_t horizon(const struct eql_seq *s) { return s->o.lateness_ms; }

/* Drop what can no longer complete; remove empty keys. */
static void sweep(struct eql_seq *s)
{
    s->since_sweep = 0;
    if (s->watermark == INT64_MIN)
        return;
    KX_VEC(char *) del = {0};
    KX_VEC(size_t) dl = {0};
    size_t it = 0;
    const char *kk;
    size_t kl;
    void *v;
    int64_t w = s->watermark - horizon(s);
    while (kx_map_next(&s->keys, &it, &kk, &kl, &v)) {
        struct key *k = v;
        bool any = false;
        for (uint32_t i = 0; i + 1 < s->npos; i++) {
            struct part *p = k->pend[i];
            if (!p)
                continue;
            if ((s->q->maxspan_ms && w > p->first.ts + s->q->maxspan_ms) ||
                (s->o.window_ms && w > p->first.ts + s->o.window_ms)) {
                part_drop(s, p);
                k->pend[i] = NULL;
                s->st.expired++;
            } else {
                any = true;
            }
        }
        if (!any)
            k->has_until = false;
        for (uint32_t i = 0; i < s->nmiss; i++)
            if (k->has_miss[i] && (!any || s->miss_after[i] == 0) &&
                w > k->miss[i].ts + s->q->maxspan_ms)
                k->has_miss[i] = false;
        if (key_empty(s, k)) {
            KX_VEC_PUSH(&del, kx_strndup(kk, kl));
            KX_VEC_PUSH(&dl, kl);
        }
    }
    for (size_t i = 0; i < del.len; i++) {
        key_free(s, kx_map_get(&s->keys, del.ptr[i], dl.ptr[i], NULL));
        kx_map_del(&s->keys, del.ptr[i], dl.ptr[i]);
        kx_free(del.ptr[i]);
    }
    KX_VEC_FREE(&del);
    KX_VEC_FREE(&dl);
}

/* Make room for one more key: sweep, then evict the key whose oldest partial is oldest. */
static void make_room(struct eql_seq *s)
{
    if (s->keys.len < s->o.max_keys)
        return;
    sweep(s);
    while (s->keys.len >= s->o.max_keys) {
        size_t it = 0, best_l = 0;
        const char *kk, *best = NULL;
        size_t kl;
        void *v;
        int64_t oldest = INT64_MAX;
        while (kx_map_next(&s->keys, &it, &kk, &kl, &v)) {
            const struct key *k = v;
            int64_t o = INT64_MIN + 1;
            for (uint32_t i = 0; i + 1 < s->npos; i++)
                if (k->pend[i] && (o == INT64_MIN + 1 || k->pend[i]->first.ts < o))
                    o = k->pend[i]->first.ts;
            if (!best || o < oldest) {
                best = kk;
                best_l = kl;
                oldest = o;
            }
        }
        char *copy = kx_strndup(best, best_l);
        struct key *k = kx_map_get(&s->keys, copy, best_l, NULL);
        for (uint32_t i = 0; i + 1 < s->npos; i++)
            s->st.evicted += k->pend[i] != NULL;
        key_free(s, k);
        kx_map_del(&s->keys, copy, best_l);
        kx_free(copy);
        s->dropped = true;
    }
}

static struct key *key_get(struct eql_seq *s, const char *k, size_t kl, bool create)
{
    struct key *x = kx_map_get(&s->keys, k, kl, NULL);
    if (x || !create)
        return x;
    make_room(s);
    x = key_new(s);
    kx_map_put(&s->keys, k, kl, x);
    return x;
}

static void emit(struct eql_seq *s, const char *k, size_t kl, const struct part *p, eql_seq_fn fn,
                 void *ctx)
{
    for (uint32_t i = 0; i < s->nout; i++)
        s->out[i] = EQL_SEQ_MISSING;
    for (uint32_t i = 0; i < s->npos; i++)
        s->out[s->pos_out[i]] = p->h[i];
    struct eql_seq_match m = {.h = s->out,
                              .n = s->nout,
                              .key = k,
                              .klen = kl,
                              .first_ts = p->first.ts,
                              .last_ts = p->last.ts};
    s->st.matches++;
    if (fn)
        fn(ctx, &m);
}

static bool has_trailing(const struct eql_seq *s)
{
    for (uint32_t i = 0; i < s->nmiss; i++)
        if (s->miss_after[i] == s->npos)
            return true;
    return false;
}

/* p (removed from the state) has matched its last positive stage. */
static void complete(struct eql_seq *s, const char *k, size_t kl, struct part *p, eql_seq_fn fn,
                     void *ctx)
{
    if (p->has_lead && p->lead_ts >= p->last.ts - s->q->maxspan_ms) {
        part_drop(s, p);
        return;
    }
    if (has_trailing(s)) {
        if (s->waiting.len >= MAX_WAITING) {
            s->dropped = true;
            s->st.evicted++;
            part_drop(s, p);
            return;
        }
        struct wait w = {kx_strndup(k, kl), kl, p};
        KX_VEC_PUSH(&s->waiting, w);
        return;
    }
    emit(s, k, kl, p, fn, ctx);
    part_drop(s, p);
}

static void flush_waiting(struct eql_seq *s, eql_seq_fn fn, void *ctx)
{
    size_t j = 0;
    int64_t w = s->watermark - horizon(s);
    for (size_t i = 0; i < s->waiting.len; i++) {
        struct wait *x = &s->waiting.ptr[i];
        if (w > x->p->first.ts + s->q->maxspan_ms) {
            emit(s, x->k, x->klen, x->p, fn, ctx);
            part_drop(s, x->p);
            kx_free(x->k);
        } else {
            s->waiting.ptr[j++] = *x;
        }
    }
    s->waiting.len = j;
}

static void advance(struct eql_seq *s, uint32_t st, const char *kb, size_t kl, struct ord o,
                    uint64_t handle, eql_seq_fn fn, void *ctx)
{
    const struct eql_query *q = s->q;
    if (st == 0) {
        struct key *k = key_get(s, kb, kl, s->npos > 1);
        struct part *p = part_new(s);
        p->first = p->last = o;
        p->h[0] = handle;
        p->n = 1;
        s->st.placed++;
        for (uint32_t m = 0; k && m < s->nmiss; m++)
            if (s->miss_after[m] == 0 && k->has_miss[m] &&
                (!p->has_lead || k->miss[m].ts > p->lead_ts)) {
                p->has_lead = true;
                p->lead_ts = k->miss[m].ts;
            }
        if (s->npos == 1) {
            complete(s, kb, kl, p, fn, ctx);
            return;
        }
        part_drop(s, k->pend[0]);
        k->pend[0] = p;
        return;
    }
    struct key *k = key_get(s, kb, kl, false);
    if (!k || !k->pend[st - 1] || ord_cmp(k->pend[st - 1]->last, o) >= 0)
        return;
    struct part *p = k->pend[st - 1];
    k->pend[st - 1] = NULL;
    bool ok = true;
    int64_t w = s->watermark - horizon(s);
    if (q->maxspan_ms && (o.ts - p->first.ts > q->maxspan_ms || w > p->first.ts + q->maxspan_ms))
        ok = false; /* too late, or already expired (whether swept or not) */
    else if (s->o.window_ms && w > p->first.ts + s->o.window_ms)
        ok = false;
    else if (q->maxspan_ms && o.ts - p->first.ts > q->maxspan_ms)
        ok = false;
    else if (s->o.window_ms && o.ts - p->first.ts > s->o.window_ms)
        ok = false;
    else if (k->has_until && ord_cmp(k->until, p->last) > 0)
        ok = false;
    for (uint32_t m = 0; ok && m < s->nmiss; m++)
        if (s->miss_after[m] == st && k->has_miss[m] && ord_cmp(k->miss[m], p->last) > 0)
            ok = false;
    if (!ok) {
        part_drop(s, p);
        return;
    }
    p->h[p->n++] = handle;
    p->last = o;
    s->st.placed++;
    if (st == s->npos - 1) {
        complete(s, kb, kl, p, fn, ctx);
    } else {
        part_drop(s, k->pend[st]);
        k->pend[st] = p;
    }
}

int eql_seq_feed(struct eql_seq *s, const struct ev_node *doc, int64_t ts_ms, uint64_t handle,
                 eql_seq_fn fn, void *ctx)
{
    if (ts_ms == EV_TIME_NONE)
        return KAD_OK;
    s->dropped = false;
    s->st.events++;
    struct ord o = {ts_ms, ++s->seq};
    if (ts_ms > s->watermark)
        s->watermark = ts_ms;
    struct ev_memo *memo = &s->memo;
    ev_memo_reset(memo, doc);
    kx_buf tb;
    kx_buf_init(&tb, 0);
    /* filter results per term (runs repeat a term) */
    const struct eql_term *seen[EQL_MAX_STAGES];
    bool res[EQL_MAX_STAGES];
    uint32_t nseen = 0;
    for (uint32_t st = s->npos; st-- > 0;) {
        const struct eql_term *t = s->pos[st];
        bool hit = false, found = false;
        for (uint32_t i = 0; i < nseen && !found; i++)
            if (seen[i] == t)
                found = true, hit = res[i];
        if (!found) {
            hit = eql_filter_match(&t->f, doc, memo);
            seen[nseen] = t;
            res[nseen++] = hit;
        }
        if (!hit)
            continue;
        tb.len = 0;
        tuples(s, t, doc, memo, &tb);
        size_t off = 0;
        const char *kb;
        size_t kl;
        while (next_tuple(&tb, &off, &kb, &kl))
            advance(s, st, kb, kl, o, handle, fn, ctx);
    }
    if (s->q->until && eql_filter_match(&s->q->until->f, doc, memo)) {
        tb.len = 0;
        tuples(s, s->q->until, doc, memo, &tb);
        size_t off = 0;
        const char *kb;
        size_t kl;
        while (next_tuple(&tb, &off, &kb, &kl)) {
            struct key *k = key_get(s, kb, kl, false);
            if (k) {
                k->has_until = true;
                k->until = o;
            }
        }
    }
    for (uint32_t m = 0; m < s->nmiss; m++) {
        if (!eql_filter_match(&s->miss[m]->f, doc, memo))
            continue;
        tb.len = 0;
        tuples(s, s->miss[m], doc, memo, &tb);
        size_t off = 0;
        const char *kb;
        size_t kl;
        while (next_tuple(&tb, &off, &kb, &kl)) {
            if (s->miss_after[m] == s->npos) {
                size_t j = 0;
                for (size_t i = 0; i < s->waiting.len; i++) {
                    struct wait *w = &s->waiting.ptr[i];
                    if (w->klen == kl && memcmp(w->k, kb, kl) == 0 && ord_cmp(o, w->p->last) > 0 &&
                        o.ts <= w->p->first.ts + s->q->maxspan_ms) {
                        part_drop(s, w->p);
                        kx_free(w->k);
                    } else {
                        s->waiting.ptr[j++] = *w;
                    }
                }
                s->waiting.len = j;
                continue;
            }
            struct key *k = key_get(s, kb, kl, s->miss_after[m] == 0);
            if (k) {
                k->has_miss[m] = true;
                k->miss[m] = o;
            }
        }
    }
    kx_buf_fini(&tb);
    ev_memo_reset(memo, NULL);
    flush_waiting(s, fn, ctx);
    if (++s->since_sweep >= SWEEP_EVERY)
        sweep(s);
    return s->dropped ? KAD_ELIMIT : KAD_OK;
}

void eql_seq_tick(struct eql_seq *s, int64_t now_ms, eql_seq_fn fn, void *ctx)
{
    if (now_ms > s->watermark)
        s->watermark = now_ms;
    flush_waiting(s, fn, ctx);
    sweep(s);
}

void eql_seq_handles(const struct eql_seq *s, void (*fn)(void *ctx, uint64_t h), void *ctx)
{
    size_t it = 0;
    const char *kb;
    size_t kl;
    void *v;
    while (kx_map_next(&s->keys, &it, &kb, &kl, &v)) {
        const struct key *k = v;
        for (uint32_t st = 0; st + 1 < s->npos; st++)
            for (uint32_t i = 0; k->pend[st] && i < k->pend[st]->n; i++)
                fn(ctx, k->pend[st]->h[i]);
    }
    for (size_t w = 0; w < s->waiting.len; w++)
        for (uint32_t i = 0; i < s->waiting.ptr[w].p->n; i++)
            fn(ctx, s->waiting.ptr[w].p->h[i]);
}

void eql_seq_get_stats(const struct eql_seq *s, struct eql_seq_stats *st)
{
    *st = s->st;
    st->keys = s->keys.len;
}

/* ---- serialisation ----------------------------------------------------------------------------
 */

#define MAGIC "EQLSEQ1"

static void put64(kx_buf *b, uint64_t v) { kx_buf_add(b, &v, 8); }
static void put32(kx_buf *b, uint32_t v) { kx_buf_add(b, &v, 4); }
static void put_ord(kx_buf *b, struct ord o)
{
    put64(b, (uint64_t)o.ts);
    put64(b, o.seq);
}

static void put_part(const struct eql_seq *s, kx_buf *b, const struct part *p)
{
    put_ord(b, p->first);
    put_ord(b, p->last);
    kx_buf_addc(b, p->has_lead);
    put64(b, (uint64_t)p->lead_ts);
    put32(b, p->n);
    for (uint32_t i = 0; i < p->n && i < s->npos; i++)
        put64(b, p->h[i]);
}

int eql_seq_save(const struct eql_seq *s, kx_buf *out)
{
    kx_buf b;
    kx_buf_init(&b, 0);
    kx_buf_add(&b, MAGIC, 8);
    put64(&b, s->qhash);
    put64(&b, s->seq);
    put64(&b, (uint64_t)s->watermark);
    put64(&b, s->st.events);
    put64(&b, s->st.matches);
    put64(&b, s->st.expired);
    put64(&b, s->st.evicted);
    put32(&b, (uint32_t)s->keys.len);
    size_t it = 0;
    const char *kk;
    size_t kl;
    void *v;
    while (kx_map_next(&s->keys, &it, &kk, &kl, &v)) {
        const struct key *k = v;
        put32(&b, (uint32_t)kl);
        kx_buf_add(&b, kk, kl);
        kx_buf_addc(&b, k->has_until);
        put_ord(&b, k->until);
        for (uint32_t i = 0; i < s->nmiss; i++) {
            kx_buf_addc(&b, k->has_miss[i]);
            put_ord(&b, k->miss[i]);
        }
        for (uint32_t i = 0; i + 1 < s->npos; i++) {
            kx_buf_addc(&b, k->pend[i] != NULL);
            if (k->pend[i])
                put_part(s, &b, k->pend[i]);
        }
    }
    put32(&b, (uint32_t)s->waiting.len);
    for (size_t i = 0; i < s->waiting.len; i++) {
        put32(&b, (uint32_t)s->waiting.ptr[i].klen);
        kx_buf_add(&b, s->waiting.ptr[i].k, s->waiting.ptr[i].klen);
        put_part(s, &b, s->waiting.ptr[i].p);
    }
    int rc = kx_buf_add(out, b.ptr, b.len);
    kx_buf_fini(&b);
    return rc;
}

struct rd {
    const unsigned char *p;
    size_t len, i;
    bool bad;
    size_t bad_at;
};

static bool need(struct rd *r, size_t n)
{
    if (r->bad)
        return false;
    if (r->len - r->i < n) {
        r->bad = true;
        r->bad_at = r->i;
        return false;
    }
    return true;
}

static uint64_t get64(struct rd *r)
{
    uint64_t v = 0;
    if (need(r, 8)) {
        memcpy(&v, r->p + r->i, 8);
        r->i += 8;
    }
    return v;
}

static uint32_t get32(struct rd *r)
{
    uint32_t v = 0;
    if (need(r, 4)) {
        memcpy(&v, r->p + r->i, 4);
        r->i += 4;
    }
    return v;
}

static bool getb(struct rd *r)
{
    if (!need(r, 1))
        return false;
    unsigned char c = r->p[r->i];
    if (c > 1) {
        r->bad = true;
        r->bad_at = r->i;
    }
    r->i++;
    return c == 1;
}

static struct ord get_ord(struct rd *r)
{
    struct ord o;
    o.ts = (int64_t)get64(r);
    o.seq = get64(r);
    return o;
}

static struct part *get_part(struct eql_seq *s, struct rd *r, uint32_t want_min, uint32_t want_max)
{
    struct part *p = part_new(s);
    p->first = get_ord(r);
    p->last = get_ord(r);
    p->has_lead = getb(r);
    p->lead_ts = (int64_t)get64(r);
    size_t at = r->i;
    p->n = get32(r);
    if (!r->bad && (p->n < want_min || p->n > want_max || p->n > s->npos)) {
        r->bad = true;
        r->bad_at = at;
    }
    for (uint32_t i = 0; i < p->n && !r->bad; i++)
        p->h[i] = get64(r);
    return p;
}

struct eql_seq *eql_seq_restore(const struct eql_query *q, const struct eql_seq_opts *opts,
                                const void *data, size_t len, kad_err *err)
{
    struct eql_seq *s = eql_seq_new(q, opts);
    if (!s) {
        kx_err_setf(err, KAD_EINVAL, "not a sequence query");
        return NULL;
    }
    struct rd r = {.p = data, .len = len};
    if (len < 16 || memcmp(data, MAGIC, 8) != 0) {
        kx_err_setf(err, KAD_ESYNTAX, "sequence state: not an EQL sequence state (bad magic)");
        eql_seq_free(s);
        return NULL;
    }
    r.i = 8;
    if (get64(&r) != s->qhash) {
        kx_err_setf(err, KAD_EINVAL,
                    "sequence state: saved for a different query (the rule's query changed)");
        eql_seq_free(s);
        return NULL;
    }
    s->seq = get64(&r);
    s->watermark = (int64_t)get64(&r);
    s->st.events = get64(&r);
    s->st.matches = get64(&r);
    s->st.expired = get64(&r);
    s->st.evicted = get64(&r);
    uint32_t nkeys = get32(&r);
    for (uint32_t i = 0; i < nkeys && !r.bad; i++) {
        size_t at = r.i;
        uint32_t kl = get32(&r);
        if (!need(&r, kl))
            break;
        const char *kb = (const char *)r.p + r.i;
        r.i += kl;
        if (kx_map_get(&s->keys, kb, kl, NULL)) {
            r.bad = true;
            r.bad_at = at;
            break;
        }
        struct key *k = key_new(s);
        kx_map_put(&s->keys, kb, kl, k);
        k->has_until = getb(&r);
        k->until = get_ord(&r);
        for (uint32_t m = 0; m < s->nmiss; m++) {
            k->has_miss[m] = getb(&r);
            k->miss[m] = get_ord(&r);
        }
        for (uint32_t st = 0; st + 1 < s->npos && !r.bad; st++)
            if (getb(&r))
                k->pend[st] = get_part(s, &r, st + 1, st + 1);
    }
    uint32_t nw = r.bad ? 0 : get32(&r);
    if (nw > MAX_WAITING && !r.bad) {
        r.bad = true;
        r.bad_at = r.i - 4;
    }
    for (uint32_t i = 0; i < nw && !r.bad; i++) {
        uint32_t kl = get32(&r);
        if (!need(&r, kl))
            break;
        struct wait w = {kx_strndup((const char *)r.p + r.i, kl), kl, NULL};
        r.i += kl;
        w.p = get_part(s, &r, s->npos, s->npos);
        KX_VEC_PUSH(&s->waiting, w);
    }
    if (!r.bad && r.i != len) {
        r.bad = true;
        r.bad_at = r.i;
    }
    if (r.bad) {
        kx_err_setf(err, KAD_ESYNTAX, "sequence state: malformed at byte offset %zu", r.bad_at);
        if (err)
            err->offset = (int64_t)r.bad_at;
        eql_seq_free(s);
        return NULL;
    }
    return s;
}

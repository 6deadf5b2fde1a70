/*
 * fuzz_eql_eval.c - an EQL query, then JSON documents, one per line.
 *
 * Event queries: evaluation is deterministic, does not allocate (the allocation hook aborts if
 * it does), agrees with the memoised lookups, and for `any where C` the query
 * `any where not (C)` (compiled from the canonical text) gives the opposite answer.
 * Sequences: the documents are fed one second apart; feeding them again with the matcher's
 * state saved, freed and restored after every document reports the same sequences.
 */
#include "fuzz.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "eql/eql.h"
#include "event/event.h"

#include <stdlib.h>
#include <string.h>

static void no_alloc(size_t size)
{
    (void)size;
    abort(); /* eql_match allocated */
}

static void record(void *ctx, const struct eql_seq_match *m)
{
    kx_buf *b = ctx;
    for (uint32_t i = 0; i < m->n; i++)
        kx_buf_addf(b, "%llu,", (unsigned long long)m->h[i]);
    kx_buf_addc(b, ';');
}

static void check_event(kx_arena *a, const struct eql_query *q, const struct eql_query *nq,
                        const struct ev_node *doc)
{
    kx_alloc_fail_after(1);
    kx_alloc_set_oom(no_alloc);
    bool r1 = eql_match(q, doc), r2 = eql_match(q, doc);
    static struct ev_memo memo;
    ev_memo_reset(&memo, doc);
    bool m1 = eql_match_memo(q, doc, &memo), m2 = eql_match_memo(q, doc, &memo);
    bool rn = nq ? eql_match_memo(nq, doc, &memo) : !r1;
    ev_memo_reset(&memo, NULL);
    kx_alloc_fail_after(0);
    kx_alloc_set_oom(NULL);
    (void)a;
    if (r1 != r2 || m1 != r1 || m2 != r1 || rn == r1)
        abort();
}

static struct eql_seq *restart(const struct eql_query *q, struct eql_seq *s)
{
    kx_buf st;
    kx_buf_init(&st, 0);
    if (eql_seq_save(s, &st) != KAD_OK)
        abort();
    eql_seq_free(s);
    struct eql_seq *r = eql_seq_restore(q, NULL, st.ptr, st.len, NULL);
    if (!r)
        abort();
    kx_buf_fini(&st);
    return r;
}

FUZZ_TARGET(eql_eval)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    if (!nl)
        return 0;
    size_t qlen = (size_t)(nl - s);
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    struct eql_query *q = eql_compile(&a, s, qlen, "<query>", NULL);
    if (!q) {
        kx_arena_fini(&a);
        return 0;
    }
    struct eql_query *nq = NULL;
    if (!eql_is_sequence(q) && !q->ev.category) {
        kx_buf neg;
        kx_buf_init(&neg, 1 << 24);
        kx_buf_adds(&neg, "any where not (");
        eql_node_dump(q->ev.cond, &neg);
        kx_buf_adds(&neg, ")");
        nq = eql_compile(&a, neg.ptr, neg.len, "<neg>", NULL);
        kx_buf_fini(&neg);
        if (!nq)
            abort();
    }
    struct eql_seq *s1 = eql_is_sequence(q) ? eql_seq_new(q, NULL) : NULL;
    struct eql_seq *s2 = eql_is_sequence(q) ? eql_seq_new(q, NULL) : NULL;
    kx_buf g1, g2;
    kx_buf_init(&g1, 0);
    kx_buf_init(&g2, 0);
    const char *p = nl + 1, *end = s + size;
    uint64_t h = 0;
    while (p < end && h < 64) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
        struct ev_node *doc = ev_json_parse(&a, p, l, "<doc>", NULL);
        if (doc && doc->type == EV_OBJECT) {
            h++;
            if (s1) {
                eql_seq_feed(s1, doc, (int64_t)(h / 2) * 1000, h, record, &g1);
                eql_seq_feed(s2, doc, (int64_t)(h / 2) * 1000, h, record, &g2);
                s2 = restart(q, s2);
            } else {
                check_event(&a, q, nq, doc);
            }
        }
        p = e ? e + 1 : end;
    }
    if (s1) {
        eql_seq_tick(s1, INT64_MAX / 4, record, &g1);
        eql_seq_tick(s2, INT64_MAX / 4, record, &g2);
        if (g1.len != g2.len || (g1.len && memcmp(g1.ptr, g2.ptr, g1.len) != 0))
            abort();
    }
    eql_seq_free(s1);
    eql_seq_free(s2);
    kx_buf_fini(&g1);
    kx_buf_fini(&g2);
    kx_arena_fini(&a);
    return 0;
}

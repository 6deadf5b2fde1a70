/*
 * fuzz_kql_eval.c - a KQL query and a JSON document, split at the first newline.
 *
 * Checks beyond "no crash, no leak": evaluation is deterministic (run twice), it does not
 * allocate (the allocation hook fails the test if it does), and `not Q` is always the opposite
 * of `Q` on the same document.
 */
#include "fuzz.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"
#include "kql/kql.h"

#include <stdlib.h>
#include <string.h>

static void no_alloc(size_t size)
{
    (void)size;
    abort(); /* kql_match allocated */
}

FUZZ_TARGET(kql_eval)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    if (!nl)
        return 0;
    size_t qlen = (size_t)(nl - s);
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    struct kql_query *q = kql_compile(&a, s, qlen, "<query>", NULL);
    struct ev_node *doc = q ? ev_json_parse(&a, nl + 1, size - qlen - 1, "<doc>", NULL) : NULL;
    if (q && doc) {
        /* the negation, compiled from text so the two queries share nothing */
        kx_buf neg;
        kx_buf_init(&neg, 1 << 24);
        kx_buf_adds(&neg, "not (");
        struct kql_query *nq = NULL;
        if (q->root->kind != KQL_ALL && kql_fmt(q, &neg) == KAD_OK &&
            kx_buf_adds(&neg, ")") == KAD_OK)
            nq = kql_compile(&a, neg.ptr, neg.len, "<neg>", NULL);
        kx_buf_fini(&neg);
        kx_alloc_fail_after(1);
        kx_alloc_set_oom(no_alloc);
        bool r1 = kql_match(q, doc), r2 = kql_match(q, doc);
        bool rn = nq ? kql_match(nq, doc) : !r1;
        /* a lookup memo shared by the query and its negation changes no answer */
        static struct ev_memo memo;
        ev_memo_reset(&memo, doc);
        bool m1 = kql_match_memo(q, doc, &memo);
        bool mn = nq ? kql_match_memo(nq, doc, &memo) : !m1;
        bool m2 = kql_match_memo(q, doc, &memo);
        ev_memo_reset(&memo, NULL);
        if (m1 != r1 || m2 != r1 || mn != rn)
            abort();
        kx_alloc_fail_after(0);
        kx_alloc_set_oom(NULL);
        if (r1 != r2 || rn == r1)
            abort();
    }
    kx_arena_fini(&a);
    return 0;
}

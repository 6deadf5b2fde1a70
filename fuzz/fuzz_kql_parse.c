/*
 * fuzz_kql_parse.c - the KQL parser on arbitrary bytes.
 *
 * Checks beyond "no crash, no leak": compile either returns a query or fills a positioned
 * error (never both, never neither, column inside the input); a query's canonical dump,
 * written back as KQL with kql_fmt and parsed again, gives the same dump (the round trip that
 * keeps the dump, the writer and the escape rules honest); evaluating against an empty
 * document is deterministic.
 */
#include "fuzz.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "kql/kql.h"

#include <stdlib.h>
#include <string.h>

FUZZ_TARGET(kql_parse)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    kad_err err;
    kad_err_clear(&err);
    const char *src = (const char *)data;
    struct kql_query *q = kql_compile(&a, src, size, "<query>", &err);
    if (!q) {
        if (err.code == KAD_OK || err.offset < 0 || (size_t)err.offset > size || err.line == 0)
            abort();
        kx_buf ctx;
        kx_buf_init(&ctx, 1 << 22);
        if (kql_err_context(src, size, &err, &ctx) != KAD_OK || !memchr(ctx.ptr, '^', ctx.len))
            abort();
        kx_buf_fini(&ctx);
        kx_arena_fini(&a);
        return 0;
    }
    if (err.code != KAD_OK)
        abort();
    kx_buf d1, d2, f;
    kx_buf_init(&d1, 1 << 24);
    kx_buf_init(&d2, 1 << 24);
    kx_buf_init(&f, 1 << 24);
    if (kql_dump(q, &d1) != KAD_OK || kql_fmt(q, &f) != KAD_OK)
        abort();
    struct kql_query *q2 = kql_compile(&a, f.ptr ? f.ptr : "", f.len, "<fmt>", &err);
    if (!q2 || kql_dump(q2, &d2) != KAD_OK || strcmp(d1.ptr, d2.ptr) != 0)
        abort();
    for (size_t i = 0; i < kql_field_count(q); i++)
        if (!kql_field(q, i))
            abort();
    struct ev_node empty = {.type = EV_OBJECT};
    if (kql_match(q, &empty) != kql_match(q2, &empty))
        abort();
    kx_buf_fini(&d1);
    kx_buf_fini(&d2);
    kx_buf_fini(&f);
    kx_arena_fini(&a);
    return 0;
}

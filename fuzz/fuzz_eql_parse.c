/*
 * fuzz_eql_parse.c - the EQL parser on arbitrary bytes.
 *
 * Checks beyond "no crash, no leak": compile either returns a query or fills a positioned
 * error (never both, never neither, offset inside the input); a query's canonical text
 * (eql_dump) parses again to the same text; every field it reports is a string.
 */
#include "fuzz.h"

#include "base/arena.h"
#include "base/buf.h"
#include "eql/eql.h"

#include <stdlib.h>
#include <string.h>

FUZZ_TARGET(eql_parse)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    kad_err err;
    kad_err_clear(&err);
    const char *src = (const char *)data;
    struct eql_query *q = eql_compile(&a, src, size, "<query>", &err);
    if (!q) {
        if (err.code == KAD_OK || err.offset < 0 || (size_t)err.offset > size || err.line == 0 ||
            err.col == 0 || !err.msg[0])
            abort();
        kx_arena_fini(&a);
        return 0;
    }
    if (err.code != KAD_OK)
        abort();
    kx_buf d1, d2;
    kx_buf_init(&d1, 1 << 24);
    kx_buf_init(&d2, 1 << 24);
    if (eql_dump(q, &d1) != KAD_OK)
        abort();
    struct eql_query *q2 = eql_compile(&a, d1.ptr, d1.len, "<dump>", &err);
    if (!q2 || eql_dump(q2, &d2) != KAD_OK || d1.len != d2.len ||
        memcmp(d1.ptr, d2.ptr, d1.len) != 0 || eql_is_sequence(q) != eql_is_sequence(q2))
        abort();
    for (size_t i = 0; i < eql_field_count(q); i++)
        if (!eql_field(q, i))
            abort();
    kx_buf_fini(&d1);
    kx_buf_fini(&d2);
    kx_arena_fini(&a);
    return 0;
}

/*
 * fuzz_esql_parse.c - the ES|QL compiler on arbitrary bytes, and every program it accepts run.
 *
 * Checks beyond "no crash, no leak, no undefined behaviour": compile either returns a program or
 * fills a positioned error (code set, offset inside the input, line >= 1), never both; a
 * program's dump is deterministic; the program runs over a few fixed documents (nulls,
 * multi-values, nested objects, long strings for the regular-expression matcher), and running
 * it again with its state saved and restored after the first document gives the same rows.
 */
#include "fuzz.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "esql/esql.h"
#include "event/event.h"

#include <stdlib.h>
#include <string.h>

static const char *const docs[] = {
    "{\"a\":\"x\",\"b\":[\"1\",\"2\"],\"n\":3,\"@timestamp\":\"2025-01-01T00:00:00Z\","
    "\"source\":{\"ip\":\"10.0.0.1\"},\"s\":\"GET /api/v1 200 a=b&c=d%20e+f\"}",
    "{\"a\":null,\"b\":[],\"n\":\"x\",\"kubernetes\":{\"audit\":{\"sourceIPs\":[\"::1\",\"10.0.0."
    "2\"],"
    "\"responseStatus\":{\"code\":403},\"user\":{\"username\":\"system:anonymous\"}}}}",
    "{\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"t\":[\"b\",\"a\",\"b\"],\"a\":\"\"}",
};

static char *run(const struct esql_prog *p, kx_arena *a, size_t split)
{
    kx_buf out;
    kx_buf_init(&out, 1 << 24);
    struct esql_run *r = esql_run_new(p, 1735689600000);
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        if (i == split) {
            kx_buf st;
            kx_buf_init(&st, 0);
            if (esql_run_save(r, &st) != KAD_OK)
                abort();
            esql_run_free(r);
            r = esql_run_new(p, 1735689600000);
            if (esql_run_restore(r, st.ptr, st.len, NULL) != KAD_OK)
                abort();
            kx_buf_fini(&st);
        }
        struct ev_node *doc = ev_json_parse(a, docs[i], strlen(docs[i]), "<doc>", NULL);
        if (!doc)
            abort();
        struct esql_doc d = {doc, KX_STR_LIT("id"), KX_STR_LIT("idx"), 1, 0};
        if (esql_run_feed(r, &d, NULL) != KAD_OK) {
            esql_run_free(r);
            kx_buf_fini(&out);
            return NULL; /* a limit: allowed, but then both runs must hit it */
        }
    }
    struct esql_result res;
    if (esql_run_finish(r, &res, NULL) == KAD_OK)
        esql_result_ndjson(&res, &out);
    else
        kx_buf_adds(&out, "(limit)");
    esql_run_free(r);
    char *s = kx_strndup(out.ptr ? out.ptr : "", out.len);
    kx_buf_fini(&out);
    return s;
}

FUZZ_TARGET(esql_parse)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    kad_err err;
    kad_err_clear(&err);
    const char *src = (const char *)data;
    struct esql_prog *p = esql_compile(&a, src, size, "<query>", &err);
    if (!p) {
        if (err.code == KAD_OK || err.offset < 0 || (size_t)err.offset > size || err.line == 0)
            abort();
        kx_arena_fini(&a);
        return 0;
    }
    if (err.code != KAD_OK)
        abort();
    kx_buf d1, d2;
    kx_buf_init(&d1, 1 << 24);
    kx_buf_init(&d2, 1 << 24);
    esql_dump(p, &d1);
    esql_dump(p, &d2);
    if (d1.len != d2.len || (d1.len && memcmp(d1.ptr, d2.ptr, d1.len) != 0))
        abort();
    for (size_t i = 0; i < esql_field_count(p); i++)
        if (!esql_field(p, i))
            abort();
    kx_arena docs_arena;
    kx_arena_init(&docs_arena, 4096, 0);
    char *r1 = run(p, &docs_arena, SIZE_MAX);
    char *r2 = run(p, &docs_arena, 1);
    if ((r1 == NULL) != (r2 == NULL) || (r1 && strcmp(r1, r2) != 0))
        abort();
    kx_free(r1);
    kx_free(r2);
    kx_arena_fini(&docs_arena);
    kx_buf_fini(&d1);
    kx_buf_fini(&d2);
    kx_arena_fini(&a);
    return 0;
}

/*
 * fuzz_json.c - the JSON reader on arbitrary bytes: full parse and extractor.
 *
 * Checks beyond "no crash, no leak": a parse gives a tree or a positioned error, never both;
 * a tree dumps to JSON that parses again to the same dump (round trip); the extractor accepts
 * exactly what the full parse accepts (for objects) and reports the same error position; the
 * values it extracts equal the full tree's for every compiled path; and, wrapped as the
 * value of a key the extractor skips, the bytes get the same verdict and error offset from the
 * extractor's skips as from the parser.
 */
#include "fuzz.h"

#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"

#include <stdlib.h>
#include <string.h>

static const char *const paths[] = {"a", "a.b", "kind", "user.username", "x.y.z", "annotations"};

static bool dump_visit(const struct ev_node *v, bool partial, void *ctx)
{
    kx_buf *b = ctx;
    kx_buf_addc(b, partial ? '~' : ' ');
    ev_json_dump(v, b);
    return false;
}

static void values_of(const struct ev_node *root, kx_buf *b)
{
    kx_buf_reset(b);
    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
        kx_buf_addc(b, '|');
        ev_values(root, paths[i], strlen(paths[i]), dump_visit, b);
    }
}

FUZZ_TARGET(json)
{
    const char *s = (const char *)data;
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    kad_err err;
    kad_err_clear(&err);
    struct ev_node *root = ev_json_parse(&a, s, size, "<fuzz>", &err);
    if (root ? err.code != KAD_OK : (err.code == KAD_OK || err.line == 0 || err.offset < 0))
        abort();
    kx_buf d1, d2, v1, v2;
    kx_buf_init(&d1, 0);
    kx_buf_init(&d2, 0);
    kx_buf_init(&v1, 0);
    kx_buf_init(&v2, 0);
    if (root) {
        if (ev_json_dump(root, &d1))
            abort();
        struct ev_node *again = ev_json_parse(&a, d1.ptr, d1.len, "<dump>", NULL);
        if (!again || ev_json_dump(again, &d2) || d1.len != d2.len ||
            memcmp(d1.ptr, d2.ptr, d1.len) != 0)
            abort();
    }
    struct ev_paths *p = ev_paths_new();
    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++)
        ev_paths_add(p, paths[i], strlen(paths[i]), 0);
    kad_err xerr;
    kad_err_clear(&xerr);
    bool aborted;
    struct ev_node *x = ev_json_extract(&a, s, size, p, NULL, "<fuzz>", &aborted, &xerr);
    if (!aborted) {
        if (!x != !root)
            abort(); /* the extractor and the parser must agree on validity */
        if (!x && (xerr.code != err.code || xerr.offset != err.offset))
            abort();
        if (x) {
            values_of(root, &v1);
            values_of(x, &v2);
            if (v1.len != v2.len || memcmp(v1.ptr, v2.ptr, v1.len) != 0)
                abort();
        }
    }
    /*
     * The same bytes where the extractor skips them (the value of a key on no path, inside an
     * array): the skips must accept exactly what the parser accepts, errors at the same offset.
     */
    kx_buf w;
    kx_buf_init(&w, 0);
    kx_buf_add(&w, "{\"s\":[", 6);
    kx_buf_add(&w, s, size);
    kx_buf_add(&w, "]}", 2);
    kad_err_clear(&err);
    kad_err_clear(&xerr);
    root = ev_json_parse(&a, w.ptr, w.len, "<fuzz>", &err);
    x = ev_json_extract(&a, w.ptr, w.len, p, NULL, "<fuzz>", &aborted, &xerr);
    if (aborted || !x != !root)
        abort();
    if (!x && (xerr.code != err.code || xerr.offset != err.offset))
        abort();
    kx_buf_fini(&w);
    ev_paths_free(p);
    kx_buf_fini(&d1);
    kx_buf_fini(&d2);
    kx_buf_fini(&v1);
    kx_buf_fini(&v2);
    kx_arena_fini(&a);
    return 0;
}

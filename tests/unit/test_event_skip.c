/*
 * test_event_skip.c - the extractor's skipping of unneeded values against the full parser.
 *
 * ev_json_extract skips what no compiled path needs with three skips (event_json.c): 64-byte
 * blocks for containers, a token loop, and the careful skip that words the errors. A skip that
 * accepted one invalid document, or rejected a valid one, or put an error elsewhere than the
 * parser does, would show here: every document below is put where the extractor skips it
 * (the value of an unneeded key, after 0 to 63 bytes of padding inside an array so that block
 * boundaries fall everywhere) and the extractor's verdict, error code and error offset must
 * equal the full parser's on the same text.
 *
 * The block skip has an AVX2 and an SSE version (event_skip.inc): the hand-written documents
 * and the real events are compared through both.
 *
 * Inputs: JSONTestSuite (every file, when ../shared/data is there), hand-written documents
 * with escapes, numbers, literals, whitespace and nesting, a real audit event when the data is
 * there, and every single-byte mutation (replace, insert, delete) and truncation of those.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skipper {
    kx_arena a;
    struct ev_paths *paths;
    kx_buf doc;
    unsigned long compared;
};

static void skipper_init(struct skipper *s)
{
    kx_arena_init(&s->a, 1 << 16, 0);
    s->paths = ev_paths_new();
    ev_paths_add(s->paths, "keep", 4, 0); /* the skipped key ("skip") is not on any path */
    kx_buf_init(&s->doc, 0);
    s->compared = 0;
}

static void skipper_fini(struct skipper *s)
{
    kx_buf_fini(&s->doc);
    ev_paths_free(s->paths);
    kx_arena_fini(&s->a);
}

/*
 * Wrap text as {"keep":1,"skip":[<pad spaces>TEXT]} and compare extractor and parser.
 * Returns false and fills detail on the first disagreement.
 */
static bool agree_at(struct skipper *s, const char *text, size_t len, unsigned pad, char *detail,
                     size_t dsize)
{
    kx_buf *d = &s->doc;
    kx_buf_reset(d);
    kx_buf_add(d, "{\"keep\":1,\"skip\":[", 18);
    for (unsigned i = 0; i < pad; i++)
        kx_buf_addc(d, ' ');
    kx_buf_add(d, text, len);
    kx_buf_add(d, "]}", 2);
    kad_err pe, xe;
    kad_err_clear(&pe);
    kad_err_clear(&xe);
    bool aborted = false;
    const struct ev_node *full = ev_json_parse(&s->a, d->ptr, d->len, "<t>", &pe);
    const struct ev_node *x =
        ev_json_extract(&s->a, d->ptr, d->len, s->paths, NULL, "<t>", &aborted, &xe);
    kx_arena_reset(&s->a);
    s->compared++;
    bool ok = !aborted && !full == !x && (full || (pe.code == xe.code && pe.offset == xe.offset));
    if (!ok)
        snprintf(detail, dsize,
                 "pad %u, %zu bytes: parse %s (%d at %lld: %s), extract %s (%d at %lld: %s)", pad,
                 len, full ? "ok" : "error", pe.code, (long long)pe.offset, pe.msg,
                 x         ? "ok"
                 : aborted ? "aborted"
                           : "error",
                 xe.code, (long long)xe.offset, xe.msg);
    return ok;
}

static const unsigned pads[] = {0, 1, 7, 15, 16, 31, 47, 62, 63};

static bool agree(struct skipper *s, const char *text, size_t len, char *detail, size_t dsize)
{
    for (size_t i = 0; i < sizeof(pads) / sizeof(*pads); i++)
        if (!agree_at(s, text, len, pads[i], detail, dsize))
            return false;
    return true;
}

/* Every single-byte replacement, insertion and deletion, and every truncation, of text. */
static bool agree_mutated(struct skipper *s, const char *text, size_t len, char *detail,
                          size_t dsize)
{
    static const char repl[] = {'"', '\\', '{',  '}',  '[',  ']',        ',',
                                ':', ' ',  '\n', '\t', '1',  '-',        'e',
                                'u', 'x',  '/',  0x01, 0x7f, (char)0xc3, (char)0xa9};
    char *m = kx_malloc(len + 2);
    bool ok = agree(s, text, len, detail, dsize);
    for (size_t k = 0; ok && k <= len; k++) {
        ok = agree_at(s, text, k, pads[k % 9], detail, dsize); /* truncation */
        for (size_t r = 0; ok && r < sizeof(repl); r++) {
            if (k < len) { /* replace */
                memcpy(m, text, len);
                m[k] = repl[r];
                ok = agree_at(s, m, len, pads[(k + r) % 9], detail, dsize);
            }
            if (ok) { /* insert */
                memcpy(m, text, k);
                m[k] = repl[r];
                memcpy(m + k + 1, text + k, len - k);
                ok = agree_at(s, m, len + 1, pads[(k + r + 4) % 9], detail, dsize);
            }
        }
        if (ok && k < len) { /* delete */
            memcpy(m, text, k);
            memcpy(m + k, text + k + 1, len - k - 1);
            ok = agree_at(s, m, len - 1, pads[k % 9], detail, dsize);
        }
    }
    kx_free(m);
    return ok;
}

TEST(event_skip_cases)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"a\":1}",
        "[1,-2.5e+3,0,0.0,1E9,true,false,null,\"s\"]",
        "{\"a\":{\"b\":[{\"c\":\"d\"},{},[]],\"e\":\"f\\\"g\"},\"h\":[[[[]]]]}",
        "{\"esc\":\"\\\\\\\"\\/\\b\\f\\n\\r\\t\\u0026\\uD83D\\uDE00\",\"k\\\"ey\":\"\\\\\"}",
        " { \"a\" : [ 1 , 2 ] ,\n\t\"b\" :\r\n{ } } ",
        "{\"long\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\\\",\"n\":12345678901234567890}",
        "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"x\":[\"\xc3\xa9\"]}",
        "[\"\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\"
        "\\\\\"]",
        "{\"status\":{\"$setElementOrder/conditions\":[{\"type\":\"MemoryPressure\"},{\"type\":"
        "\"Ready\"}],\"conditions\":[{\"lastHeartbeatTime\":\"2026-01-05T00:00:00Z\",\"type\":"
        "\"MemoryPressure\"}]},\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/"
        "last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"v1\\\",\\\"kind\\\":\\\"Pod\\\"}"
        "\\n\"}}}",
    };
    struct skipper s;
    skipper_init(&s);
    char name[64], detail[512];
    /* both versions of the block skip (AVX2 where the CPU has it, SSE) */
    for (int sse = 0; sse < 2; sse++) {
        ev_test_skip_sse = sse;
        for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
            snprintf(name, sizeof(name), "skip mutations of doc %zu%s", i, sse ? " (SSE)" : "");
            detail[0] = 0;
            t_case(agree_mutated(&s, docs[i], strlen(docs[i]), detail, sizeof(detail)), name,
                   detail);
        }
    }
    ev_test_skip_sse = false;
    /* nesting around the block skip's 64 levels and the default limit of 512 */
    kx_buf deep;
    kx_buf_init(&deep, 0);
    static const unsigned depths[] = {62, 63, 64, 65, 200, 509, 510, 511, 600};
    for (size_t i = 0; i < sizeof(depths) / sizeof(*depths); i++) {
        kx_buf_reset(&deep);
        for (unsigned k = 0; k < depths[i]; k++)
            kx_buf_add(&deep, k % 2 ? "{\"k\":" : "[", k % 2 ? 5 : 1);
        for (unsigned k = depths[i]; k-- > 0;)
            kx_buf_addc(&deep, k % 2 ? '}' : ']');
        snprintf(name, sizeof(name), "skip nesting %u", depths[i]);
        detail[0] = 0;
        t_case(agree(&s, deep.ptr, deep.len, detail, sizeof(detail)), name, detail);
    }
    kx_buf_fini(&deep);
    ASSERT(s.compared > 10000);
    skipper_fini(&s);
}

TEST(event_skip_suite)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: JSONTestSuite skip comparison not run");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/JSONTestSuite/test_parsing", root);
    DIR *d = opendir(dir);
    if (!d)
        t_skip("%s absent", dir);
    struct skipper s;
    skipper_init(&s);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        const char *fn = de->d_name;
        size_t fl = strlen(fn);
        if (fl < 6 || strcmp(fn + fl - 5, ".json") != 0)
            continue;
        char path[2048], detail[512] = "";
        snprintf(path, sizeof(path), "%s/%s", dir, fn);
        size_t len;
        char *text = t_read_file(path, &len);
        if (!text)
            continue;
        /* big files (deep nesting tests) once; small ones with all their mutations */
        bool ok = len > 512 ? agree(&s, text, len, detail, sizeof(detail))
                            : agree_mutated(&s, text, len, detail, sizeof(detail));
        char name[300];
        snprintf(name, sizeof(name), "skip %s", fn);
        t_case(ok, name, detail);
        kx_free(text);
        n++;
    }
    closedir(d);
    skipper_fini(&s);
    ASSERT(n > 300);
}

/* Real audit events (the first line of three files of ../shared/data) and their mutations. */
TEST(event_skip_real)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: real audit event skip comparison not run");
    static const char *const files[] = {
        "elastic-audit-pipeline/test-audit.log",
        "crowdsecurity-hub-k8s-audit/k8s-audit-pod-exec-file.log",
        "falcosecurity-falco-k8s_audit/create_configmap.json",
    };
    struct skipper s;
    skipper_init(&s);
    int found = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        char fp[2048];
        snprintf(fp, sizeof(fp), "%s/%s", root, files[i]);
        size_t len;
        char *text = t_read_file(fp, &len);
        if (!text)
            continue;
        const char *nl = memchr(text, '\n', len);
        size_t ll = nl ? (size_t)(nl - text) : len;
        char name[300], detail[512] = "";
        for (int sse = 0; sse < 2; sse++) {
            ev_test_skip_sse = sse;
            snprintf(name, sizeof(name), "skip mutations of %s:1%s", files[i], sse ? " (SSE)" : "");
            t_case(agree_mutated(&s, text, ll, detail, sizeof(detail)), name, detail);
        }
        ev_test_skip_sse = false;
        found++;
        kx_free(text);
    }
    skipper_fini(&s);
    if (!found)
        t_skip("none of the audit files under %s found", root);
}

/*
 * test_event.c - unit tests of the event module: the JSON reader (tree parse, errors with
 * positions, limits), ev_values (kql.md §5.1), and the JSONTestSuite conformance driver.
 * Decoder, ECS mapping and extractor tests live in test_event_decode.c.
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

/* Parse and dump back; returns a static copy of the dump or of "ERR line:col msg". */
static const char *roundtrip(const char *json)
{
    static char out[4096];
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    struct ev_node *n = ev_json_parse(&a, json, strlen(json), "<t>", &err);
    if (!n) {
        snprintf(out, sizeof(out), "ERR %u:%u %s", err.line, err.col, err.msg);
    } else {
        kx_buf b;
        kx_buf_init(&b, 0);
        ev_json_dump(n, &b);
        snprintf(out, sizeof(out), "%s", b.ptr);
        kx_buf_fini(&b);
    }
    kx_arena_fini(&a);
    return out;
}

TEST(event_json_basic)
{
    ASSERT_STR_EQ(roundtrip(" {\"a\" : [1, -2.5e3, true, false, null, \"x\"], \"b\":{}} "),
                  "{\"a\":[1,-2.5e3,true,false,null,\"x\"],\"b\":{}}");
    ASSERT_STR_EQ(roundtrip("\"s\""), "\"s\"");
    ASSERT_STR_EQ(roundtrip("0"), "0");
    ASSERT_STR_EQ(roundtrip("[]"), "[]");
    /* duplicate keys are all kept, in document order */
    ASSERT_STR_EQ(roundtrip("{\"k\":1,\"k\":2}"), "{\"k\":1,\"k\":2}");
}

TEST(event_json_escapes)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *j =
        "{\"u\":\"a\\u0026b\",\"s\":\"\\ud83d\\ude00\",\"l\":\"\\ud800x\",\"z\":\"a\\u0000b\","
        "\"e\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"m\":\"\xc2\xb5s\"}";
    struct ev_node *n = ev_json_parse(&a, j, strlen(j), "<t>", NULL);
    ASSERT_NOT_NULL(n);
    const struct ev_node *u = ev_member(n, "u", 1);
    ASSERT_STR_EQ(u->str, "a&b");
    ASSERT_EQ(u->len, 3);
    ASSERT_STR_EQ(ev_member(n, "s", 1)->str, "\xf0\x9f\x98\x80");
    ASSERT_STR_EQ(ev_member(n, "l", 1)->str, "\xef\xbf\xbdx");
    const struct ev_node *z = ev_member(n, "z", 1);
    ASSERT_EQ(z->len, 3);
    ASSERT_MEM_EQ(z->str, "a\0b", 3);
    ASSERT_STR_EQ(ev_member(n, "e", 1)->str, "\"\\/\b\f\n\r\t");
    ASSERT_STR_EQ(ev_member(n, "m", 1)->str, "\xc2\xb5s");
    kx_arena_fini(&a);
}

TEST(event_json_errors)
{
    ASSERT_STR_EQ(roundtrip("{\"a\":1,}"), "ERR 1:8 expected a string key in object");
    ASSERT_STR_EQ(roundtrip("[1,\n 2 3]"), "ERR 2:4 expected ',' or ']' in array");
    ASSERT_STR_EQ(roundtrip("{\"a\" 1}"), "ERR 1:6 expected ':' after object key");
    ASSERT_STR_EQ(roundtrip("[01]"), "ERR 1:3 invalid number: leading zero");
    ASSERT_STR_EQ(roundtrip("[1.]"), "ERR 1:4 invalid number: expected a digit after '.'");
    ASSERT_STR_EQ(roundtrip("\"a\\x\""), "ERR 1:4 invalid escape in string");
    ASSERT_STR_EQ(roundtrip("\"a\tb\""), "ERR 1:3 unescaped control character in string");
    ASSERT_STR_EQ(roundtrip("\"\xc0\xaf\""), "ERR 1:2 invalid UTF-8 in string");
    ASSERT_STR_EQ(roundtrip("\"\xed\xa0\x80\""), "ERR 1:2 invalid UTF-8 in string");
    ASSERT_STR_EQ(roundtrip("\"abc"), "ERR 1:5 unterminated string");
    ASSERT_STR_EQ(roundtrip("{} x"), "ERR 1:4 unexpected content after the JSON value");
    ASSERT_STR_EQ(roundtrip(""), "ERR 1:1 unexpected end of input, expected a value");
    ASSERT_STR_EQ(roundtrip("[tru]"), "ERR 1:2 unexpected character, expected a value");
    ASSERT_STR_EQ(roundtrip("{\"a\":"), "ERR 1:6 unexpected end of input, expected a value");
    ASSERT_STR_EQ(roundtrip("\xef\xbb\xbf{}"), "ERR 1:1 unexpected character, expected a value");
}

TEST(event_json_limits)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    char deep[2000];
    memset(deep, '[', sizeof(deep));
    kad_err err;
    kad_err_clear(&err);
    ASSERT_NULL(ev_json_parse(&a, deep, sizeof(deep), "<t>", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    ASSERT_EQ(err.col, EV_JSON_MAX_DEPTH + 1);
    struct ev_json_limits lim = {.max_depth = 2, .max_size = 0};
    ASSERT_NOT_NULL(ev_json_parse_lim(&a, "[[1]]", 5, &lim, "<t>", &err));
    ASSERT_NULL(ev_json_parse_lim(&a, "[[[1]]]", 7, &lim, "<t>", &err));
    ASSERT_STR_EQ(err.msg, "nesting deeper than 2 levels");
    lim = (struct ev_json_limits){.max_depth = 0, .max_size = 4};
    ASSERT_NULL(ev_json_parse_lim(&a, "[1,2]", 5, &lim, "<t>", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    ASSERT_EQ(err.offset, 4);
    kx_arena_fini(&a);
    /* an arena maximum gives KAD_ELIMIT, not a crash */
    kx_arena_init(&a, 256, 512);
    ASSERT_NULL(ev_json_parse(&a, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]", 37, "<t>", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    kx_arena_fini(&a);
}

/* ---- ev_values ----------------------------------------------------------------------------- */

struct collect {
    char out[512];
};

static bool collect_visit(const struct ev_node *v, bool partial, void *ctx)
{
    struct collect *c = ctx;
    size_t n = strlen(c->out);
    const char *txt = v->type == EV_STRING || v->type == EV_NUMBER ? v->str
                      : v->type == EV_TRUE                         ? "true"
                      : v->type == EV_FALSE                        ? "false"
                      : v->type == EV_OBJECT                       ? "{}"
                                                                   : "?";
    snprintf(c->out + n, sizeof(c->out) - n, "%s%s%s", n ? "," : "", partial ? "~" : "", txt);
    return false;
}

static const char *values(const char *json, const char *path)
{
    static struct collect c;
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct ev_node *n = ev_json_parse(&a, json, strlen(json), "<t>", NULL);
    c.out[0] = '\0';
    if (n)
        ev_values(n, path, strlen(path), collect_visit, &c);
    else
        strcpy(c.out, "PARSE ERROR");
    kx_arena_fini(&a);
    return c.out;
}

TEST(event_values_paths)
{
    ASSERT_STR_EQ(values("{\"a\":{\"b\":{\"c\":1}}}", "a.b.c"), "1");
    ASSERT_STR_EQ(values("{\"a.b\":{\"c\":1}}", "a.b.c"), "1");
    ASSERT_STR_EQ(values("{\"a\":{\"b.c\":1}}", "a.b.c"), "1");
    ASSERT_STR_EQ(values("{\"a.b.c\":1}", "a.b.c"), "1");
    ASSERT_STR_EQ(values("{\"a\":{\"b\":{\"c\":1}},\"a.b.c\":2}", "a.b.c"), "1,2");
    ASSERT_STR_EQ(values("{\"a\":[{\"b\":1},{\"b\":[2,[3,null]]},{\"c\":4}]}", "a.b"), "1,2,3");
    ASSERT_STR_EQ(values("{\"a\":{\"bc\":1}}", "a.b"), "");
    ASSERT_STR_EQ(values("{\"a.b\":\"c\"}", "a"), "~c");
    ASSERT_STR_EQ(values("{\"a.b\":null}", "a"), "");
    ASSERT_STR_EQ(values("{\"a\":{\"x\":1}}", "a"), "{}");
    ASSERT_STR_EQ(values("{\"a\":null}", "a"), "");
    ASSERT_STR_EQ(values("[{\"a\":1},{\"a\":2}]", "a"), "1,2");
    ASSERT_STR_EQ(values("{\"k\":{\"authorization_k8s_io/decision\":\"allow\"}}",
                         "k.authorization_k8s_io/decision"),
                  "allow");
    ASSERT_STR_EQ(values("{\"a\":true,\"b\":false}", "b"), "false");
}

TEST(event_values_helpers)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *j = "{\"a\":{\"b\":[null,{\"c\":\"x\"}]},\"e\":{},\"f\":[null]}";
    struct ev_node *n = ev_json_parse(&a, j, strlen(j), "<t>", NULL);
    ASSERT_NOT_NULL(n);
    kx_str s = ev_first_str(n, "a.b.c");
    ASSERT_EQ(s.len, 1);
    ASSERT_MEM_EQ(s.ptr, "x", 1);
    ASSERT_NULL(ev_first_str(n, "a.b.d").ptr);
    ASSERT(ev_has_value(ev_member(n, "a", 1)));
    ASSERT_FALSE(ev_has_value(ev_member(n, "e", 1)));
    ASSERT_FALSE(ev_has_value(ev_member(n, "f", 1)));
    kx_arena_fini(&a);
}

/* ---- JSONTestSuite ------------------------------------------------------------------------- */

TEST(event_json_suite)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: JSONTestSuite not run");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/JSONTestSuite/test_parsing", root);
    DIR *d = opendir(dir);
    if (!d)
        t_skip("%s absent", dir);
    struct dirent *de;
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    int n = 0;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (strlen(name) < 6 || strcmp(name + strlen(name) - 5, ".json") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        size_t len;
        char *text = t_read_file(path, &len);
        if (!text)
            continue;
        kad_err err;
        kad_err_clear(&err);
        struct ev_node *node = ev_json_parse(&a, text, len, name, &err);
        char detail[512];
        snprintf(detail, sizeof(detail), "%u:%u %s", err.line, err.col, err.msg);
        if (name[0] == 'y')
            t_case(node != NULL, name, detail);
        else if (name[0] == 'n')
            t_case(node == NULL && err.line > 0 && err.col > 0 && err.offset >= 0 &&
                       (size_t)err.offset <= len,
                   name, node ? "accepted" : "rejected without a position");
        else
            t_case(true, name, NULL); /* i_: either answer, no crash (ASan watches) */
        kx_arena_reset(&a);
        kx_free(text);
        n++;
    }
    closedir(d);
    kx_arena_fini(&a);
    ASSERT(n > 300);
}

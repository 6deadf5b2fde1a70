/*
 * test_kql.c - KQL tests: the data-driven drivers for tests/kql/parse.test, eval.test,
 * accept/y_*.kql, reject/n_*.kql and the examples in docs/kql.md, plus unit tests for what
 * those files cannot express (field lists, limits, error context, multi-line positions).
 *
 * File format of parse.test and eval.test (jq.test style): blocks separated by blank lines;
 * a line starting with '#' is a comment.
 *   parse block:  QUERY / CANONICAL-DUMP
 *   fail block:   %%FAIL / QUERY / EXACT-ERROR (as kad_err_format prints it)
 *   eval block:   QUERY / then pairs DOCUMENT-JSON / true|false (one case per pair)
 * Every parse case is also written back with kql_fmt and parsed again: the dump must not
 * change (the round trip the parse fuzzer checks).
 */
#include "test.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "event/event.h"
#include "kql/kql.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* Compile q and write its dump, or its formatted error, into out (a kx_malloc'd string). */
static char *compile_text(const char *q, size_t len, bool *ok)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    kx_buf b;
    kx_buf_init(&b, 1 << 22);
    struct kql_query *k = kql_compile(&a, q, len, "<query>", &err);
    if (k) {
        kql_dump(k, &b);
        *ok = true;
    } else {
        char m[512];
        kad_err_format(&err, m, sizeof(m));
        kx_buf_adds(&b, m);
        *ok = false;
    }
    kx_arena_fini(&a);
    char *s = kx_strdup(b.ptr ? b.ptr : "");
    kx_buf_fini(&b);
    return s;
}

/* parse -> fmt -> parse: returns NULL when the dumps agree, else a description. */
static char *roundtrip(const char *q, size_t len)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kx_buf d1, d2, f;
    kx_buf_init(&d1, 1 << 22);
    kx_buf_init(&d2, 1 << 22);
    kx_buf_init(&f, 1 << 22);
    char *bad = NULL;
    struct kql_query *k = kql_compile(&a, q, len, "<query>", NULL);
    if (k) {
        kql_dump(k, &d1);
        kql_fmt(k, &f);
        struct kql_query *k2 = kql_compile(&a, f.ptr ? f.ptr : "", f.len, "<query>", NULL);
        if (k2)
            kql_dump(k2, &d2);
        if (!k2 || strcmp(d1.ptr, d2.ptr) != 0) {
            bad = kx_malloc(d1.len + d2.len + f.len + 64);
            sprintf(bad, "round trip via `%s`: %s != %s", f.ptr ? f.ptr : "", d1.ptr,
                    k2 ? d2.ptr : "(error)");
        }
    }
    kx_buf_fini(&d1);
    kx_buf_fini(&d2);
    kx_buf_fini(&f);
    kx_arena_fini(&a);
    return bad;
}

static void case_name(char *buf, size_t cap, const char *file, size_t line, const char *q)
{
    snprintf(buf, cap, "%s:%zu: %.60s", file, line, q);
}

/* ---- parse.test --------------------------------------------------------------------------- */

static void run_parse_file(const char *path)
{
    size_t len, n;
    char *text = t_read_file(path, &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    size_t i = 0;
    while (i < n) {
        if (ln[i][0] == '\0' || ln[i][0] == '#') {
            i++;
            continue;
        }
        bool fail = strcmp(ln[i], "%%FAIL") == 0;
        if (fail)
            i++;
        if (i + 1 >= n) {
            t_case(false, path, "truncated block at end of file");
            break;
        }
        const char *q = ln[i], *want = ln[i + 1];
        char name[256], detail[8192];
        case_name(name, sizeof(name), path, i + 1, q);
        bool ok;
        char *got = compile_text(q, strlen(q), &ok);
        if (ok == fail || strcmp(got, want) != 0) {
            snprintf(detail, sizeof(detail), "got:      %s\n     expected: %s", got, want);
            t_case(false, name, detail);
        } else {
            char *rt = fail ? NULL : roundtrip(q, strlen(q));
            t_case(rt == NULL, name, rt);
            kx_free(rt);
        }
        kx_free(got);
        i += 2;
    }
    kx_free(ln);
    kx_free(text);
}

TEST(kql_parse_file) { run_parse_file("tests/kql/parse.test"); }

/* ---- eval.test ---------------------------------------------------------------------------- */

static int eval_one(const char *q, const char *doc, bool *result, char *why, size_t cap)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    int rc = 0;
    struct kql_query *k = kql_compile(&a, q, strlen(q), "<query>", &err);
    struct ev_node *d = k ? ev_json_parse(&a, doc, strlen(doc), "<doc>", &err) : NULL;
    if (!k || !d) {
        kad_err_format(&err, why, cap);
        rc = -1;
    } else {
        *result = kql_match(k, d);
        if (kql_match(k, d) != *result) {
            snprintf(why, cap, "evaluation is not deterministic");
            rc = -1;
        }
        /* through a lookup memo: recording, then replaying, gives the same answer */
        static struct ev_memo memo;
        ev_memo_reset(&memo, d);
        if (kql_match_memo(k, d, &memo) != *result || kql_match_memo(k, d, &memo) != *result) {
            snprintf(why, cap, "kql_match_memo differs from kql_match");
            rc = -1;
        }
        ev_memo_reset(&memo, NULL);
    }
    kx_arena_fini(&a);
    return rc;
}

static void run_eval_file(const char *path)
{
    size_t len, n;
    char *text = t_read_file(path, &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    size_t i = 0;
    while (i < n) {
        if (ln[i][0] == '\0' || ln[i][0] == '#') {
            i++;
            continue;
        }
        const char *q = ln[i++];
        while (i + 1 < n && ln[i][0] != '\0' && ln[i][0] != '#') {
            const char *doc = ln[i], *want = ln[i + 1];
            char name[256], why[1024];
            case_name(name, sizeof(name), path, i + 1, q);
            bool res = false;
            if (strcmp(want, "true") != 0 && strcmp(want, "false") != 0) {
                snprintf(why, sizeof(why), "expected true or false, got '%s'", want);
                t_case(false, name, why);
            } else if (eval_one(q, doc, &res, why, sizeof(why)) != 0) {
                t_case(false, name, why);
            } else {
                snprintf(why, sizeof(why), "doc %s: got %s", doc, res ? "true" : "false");
                t_case(res == (strcmp(want, "true") == 0), name, why);
            }
            i += 2;
        }
    }
    kx_free(ln);
    kx_free(text);
}

TEST(kql_eval_file) { run_eval_file("tests/kql/eval.test"); }

/* ---- accept / reject ---------------------------------------------------------------------- */

#include <dirent.h>

static void run_dir(const char *dir, const char *prefix, bool want_ok)
{
    DIR *d = opendir(dir);
    ASSERT_NOT_NULL(d);
    struct dirent *e;
    char **names = NULL;
    size_t nn = 0, cap = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 64;
            names = kx_realloc(names, cap * sizeof(*names));
        }
        names[nn++] = kx_strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < nn; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        size_t len;
        char *q = t_read_file(path, &len);
        bool ok = false;
        char *got = q ? compile_text(q, len, &ok) : kx_strdup("unreadable");
        char *rt = ok ? roundtrip(q, len) : NULL;
        t_case(q && ok == want_ok && !rt, names[i], rt ? rt : got);
        kx_free(rt);
        kx_free(got);
        kx_free(q);
        kx_free(names[i]);
    }
    kx_free(names);
}

TEST(kql_accept_files) { run_dir("tests/kql/accept", "y_", true); }
TEST(kql_reject_files) { run_dir("tests/kql/reject", "n_", false); }

/* ---- docs/kql.md examples ----------------------------------------------------------------- */

/*
 * docs/kql.md marks its examples with fenced blocks whose info string is `kql-ast`,
 * `kql-error` or `kql-eval`:
 *   kql-ast:    QUERY line, then `=> DUMP`
 *   kql-error:  QUERY line, then `=> ERROR`
 *   kql-eval:   QUERY line, then lines `DOC => true|false`
 */
TEST(kql_doc_examples)
{
    size_t len, n;
    char *text = t_read_file("docs/kql.md", &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    size_t blocks = 0;
    for (size_t i = 0; i < n; i++) {
        int kind = strcmp(ln[i], "```kql-ast") == 0     ? 1
                   : strcmp(ln[i], "```kql-error") == 0 ? 2
                   : strcmp(ln[i], "```kql-eval") == 0  ? 3
                                                        : 0;
        if (!kind)
            continue;
        blocks++;
        size_t end = i + 1;
        while (end < n && strcmp(ln[end], "```") != 0)
            end++;
        char name[256], detail[4096];
        if (end >= n || end < i + 3) {
            snprintf(name, sizeof(name), "docs/kql.md:%zu", i + 1);
            t_case(false, name, "example block needs a query and at least one => line");
            break;
        }
        const char *q = ln[i + 1];
        for (size_t j = i + 2; j < end; j++) {
            snprintf(name, sizeof(name), "docs/kql.md:%zu: %.50s", j + 1, q);
            const char *arrow = strstr(ln[j], "=> ");
            if (!arrow) {
                t_case(false, name, "line without `=> `");
                continue;
            }
            if (kind == 3) {
                char doc[2048], why[1024];
                size_t dl = (size_t)(arrow - ln[j]);
                snprintf(doc, sizeof(doc), "%.*s", (int)dl, ln[j]);
                bool res = false;
                if (eval_one(q, doc, &res, why, sizeof(why)) != 0) {
                    t_case(false, name, why);
                    continue;
                }
                snprintf(why, sizeof(why), "got %s", res ? "true" : "false");
                t_case(strcmp(arrow + 3, res ? "true" : "false") == 0, name, why);
            } else {
                bool ok;
                char *got = compile_text(q, strlen(q), &ok);
                snprintf(detail, sizeof(detail), "got: %s", got);
                t_case(ok == (kind == 1) && strcmp(got, arrow + 3) == 0, name, detail);
                kx_free(got);
            }
        }
        i = end;
    }
    kx_free(ln);
    kx_free(text);
    ASSERT(blocks > 10);
}

/* ---- fields.test (kql_field_refs) ---------------------------------------------------------- */

static int add_ref(void *ctx, const struct kql_field_ref *r)
{
    kx_buf *b = ctx;
    kx_buf_addf(b, "%s%.*s@%zu%s%s", b->len ? " " : "", (int)r->len, r->path, r->offset,
                r->pattern ? "/p" : "", r->nested ? "/n" : "");
    return KAD_OK;
}

static int stop_at_second(void *ctx, const struct kql_field_ref *r)
{
    return ++*(int *)ctx == 2 ? 42 : KAD_OK;
}

TEST(kql_field_refs_file)
{
    const char *path = "tests/kql/fields.test";
    size_t len, n, blocks = 0;
    char *text = t_read_file(path, &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    for (size_t i = 0; i + 1 < n; i++) {
        if (ln[i][0] == '\0' || ln[i][0] == '#')
            continue;
        const char *q = ln[i], *want = ln[i + 1];
        char name[256];
        case_name(name, sizeof(name), path, i + 1, q);
        kx_arena a;
        kx_arena_init(&a, 4096, 0);
        kx_buf got;
        kx_buf_init(&got, 1 << 16);
        struct kql_query *k = kql_compile(&a, q, strlen(q), "<query>", NULL);
        if (k)
            kql_field_refs(k, add_ref, &got);
        const char *g = !k ? "(error)" : got.len ? got.ptr : "-";
        char detail[1024];
        snprintf(detail, sizeof(detail), "got:      %s\n     expected: %s", g, want);
        t_case(strcmp(g, want) == 0, name, detail);
        kx_buf_fini(&got);
        kx_arena_fini(&a);
        blocks++;
        i++;
    }
    kx_free(ln);
    kx_free(text);
    ASSERT(blocks >= 10);
    /* a callback's non-zero answer stops the walk and is returned */
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct kql_query *k = kql_compile(&a, "a:1 and b:2 and c:3", 19, NULL, NULL);
    int calls = 0;
    ASSERT_EQ(kql_field_refs(k, stop_at_second, &calls), 42);
    ASSERT_EQ(calls, 2);
    kx_arena_fini(&a);
}

/* ---- unit tests --------------------------------------------------------------------------- */

TEST(kql_fields)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *q = "a.b:x and not (c:1 or a.b:y) and d > 5 and n:{ inner:z }";
    struct kql_query *k = kql_compile(&a, q, strlen(q), NULL, NULL);
    ASSERT_NOT_NULL(k);
    ASSERT_EQ(kql_field_count(k), 4);
    ASSERT_STR_EQ(kql_field(k, 0), "a.b");
    ASSERT_STR_EQ(kql_field(k, 1), "c");
    ASSERT_STR_EQ(kql_field(k, 2), "d");
    ASSERT_STR_EQ(kql_field(k, 3), "n");
    ASSERT_NULL(kql_field(k, 4));
    ASSERT_FALSE(kql_needs_all(k));
    k = kql_compile(&a, "a:1 or user.*:x", 15, NULL, NULL);
    ASSERT(k && kql_needs_all(k));
    k = kql_compile(&a, "a:1 or hello", 12, NULL, NULL);
    ASSERT(k && kql_needs_all(k));
    kx_arena_fini(&a);
}

TEST(kql_error_position_multiline)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *q = "a:b and\n  c:(d or\n  e:f";
    kad_err err;
    kad_err_clear(&err);
    ASSERT_NULL(kql_compile(&a, q, strlen(q), "rule.toml", &err));
    ASSERT_EQ(err.code, KAD_ESYNTAX);
    ASSERT_EQ(err.line, 3);
    ASSERT_EQ(err.col, 4);
    kx_buf b;
    kx_buf_init(&b, 4096);
    ASSERT_OK(kql_err_context(q, strlen(q), &err, &b));
    ASSERT_STR_EQ(b.ptr, "  e:f\n   ^\n");
    kx_buf_fini(&b);
    kx_arena_fini(&a);
}

TEST(kql_error_context_tabs_utf8)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *q = "\t\xc3\xa9:x )";
    kad_err err;
    kad_err_clear(&err);
    ASSERT_NULL(kql_compile(&a, q, strlen(q), NULL, &err));
    kx_buf b;
    kx_buf_init(&b, 4096);
    ASSERT_OK(kql_err_context(q, strlen(q), &err, &b));
    ASSERT_STR_EQ(b.ptr, "\t\xc3\xa9:x )\n\t    ^\n");
    kx_buf_fini(&b);
    kx_arena_fini(&a);
}

TEST(kql_limits)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    /* nesting */
    size_t depth = KQL_MAX_DEPTH + 1;
    char *q = kx_malloc(depth * 2 + 8);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        q[n++] = '(';
    q[n++] = 'a';
    for (size_t i = 0; i < depth; i++)
        q[n++] = ')';
    kad_err_clear(&err);
    ASSERT_NULL(kql_compile(&a, q, n, NULL, &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    /* one level less is fine */
    ASSERT_NOT_NULL(kql_compile(&a, q + 1, n - 2, NULL, &err));
    kx_free(q);
    /* length */
    kad_err_clear(&err);
    char *big = kx_malloc((size_t)KQL_MAX_LEN + 1);
    memset(big, 'a', (size_t)KQL_MAX_LEN + 1);
    ASSERT_NULL(kql_compile(&a, big, (size_t)KQL_MAX_LEN + 1, NULL, &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    kx_free(big);
    /* UTF-8 */
    kad_err_clear(&err);
    ASSERT_NULL(kql_compile(&a, "a:\xff", 3, NULL, &err));
    ASSERT_EQ(err.code, KAD_EINVAL);
    ASSERT_EQ(err.col, 3);
    /* an arena maximum is a limit, not a crash */
    kx_arena small;
    kx_arena_init(&small, 64, 64);
    kad_err_clear(&err);
    ASSERT_NULL(kql_compile(&small, "a:b and c:d and e:f", 19, NULL, &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    kx_arena_fini(&small);
    kx_arena_fini(&a);
}

/* Long runs of spaces inside a literal must not make parsing quadratic, and deep-but-allowed
 * nesting must not make it exponential. */
TEST(kql_parse_is_linear)
{
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    size_t n = 400000;
    char *q = kx_malloc(n + 8);
    memcpy(q, "a:x", 3);
    memset(q + 3, ' ', n - 4);
    q[n - 1] = 'y';
    ASSERT_NOT_NULL(kql_compile(&a, q, n, NULL, NULL));
    size_t d = KQL_MAX_DEPTH - 1;
    n = 0;
    for (size_t i = 0; i < d; i++)
        n += (size_t)sprintf(q + n, "(not ");
    n += (size_t)sprintf(q + n, "a:b");
    for (size_t i = 0; i < d; i++)
        q[n++] = ')';
    ASSERT_NOT_NULL(kql_compile(&a, q, n, NULL, NULL));
    kx_free(q);
    kx_arena_fini(&a);
}

/* The seed rule and every shipped kuery rule compile (their exact semantics are in eval.test). */
TEST(kql_shipped_rules_compile)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data is absent");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/detection-rules/kubernetes", root);
    DIR *d = opendir(dir);
    if (!d)
        t_skip("%s is absent", dir);
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".toml"))
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *text = t_read_file(path, NULL);
        if (!text || !strstr(text, "language = \"kuery\"")) {
            kx_free(text);
            continue;
        }
        /* the query is the only '''-string in these files */
        char *s = strstr(text, "query = '''");
        char *end = s ? strstr(s + 11, "'''") : NULL;
        char detail[1024] = "";
        bool ok = s && end;
        if (ok) {
            kx_arena a;
            kx_arena_init(&a, 4096, 0);
            kad_err err;
            kad_err_clear(&err);
            ok = kql_compile(&a, s + 11, (size_t)(end - s - 11), e->d_name, &err) != NULL;
            if (!ok)
                kad_err_format(&err, detail, sizeof(detail));
            kx_arena_fini(&a);
        }
        t_case(ok, e->d_name, detail);
        seen++;
        kx_free(text);
    }
    closedir(d);
    ASSERT(seen >= 29);
}

/* kql_fmt writes KQL that parses back to the same tree (parse.test checks every case; this
 * pins the text itself). */
TEST(kql_fmt_text)
{
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"a:b", "\"a\":\"b\""},
        {"a:(b or c*) and not d:{ e > 1 }",
         "(\"a\":\"b\" or \"a\":c*) and not \"d\":{ \"e\" > \"1\" }"},
        {"a:x\\*y* or hello", "\"a\":x\\*y* or \"hello\""},
        {"not (not a:true)", "not (not \"a\":true)"},
        {"user.*:\"x\\\"y\"", "user.*:\"x\\\"y\""},
        {"a:* \\u0020b*", "\"a\":*\\u0020\\u0020b*"},
        {"", ""},
    };
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kql_query *k = kql_compile(&a, cases[i].q, strlen(cases[i].q), NULL, NULL);
        ASSERT_NOT_NULL(k);
        kx_buf b;
        kx_buf_init(&b, 4096);
        ASSERT_OK(kql_fmt(k, &b));
        ASSERT_STR_EQ(b.ptr ? b.ptr : "", cases[i].want);
        kx_buf_fini(&b);
    }
    kx_arena_fini(&a);
}

/* A dump that does not fit the caller's buffer is KAD_ELIMIT, not a truncated success. */
TEST(kql_dump_limit)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct kql_query *k = kql_compile(&a, "a:(b or c or d)", 15, NULL, NULL);
    ASSERT_NOT_NULL(k);
    kx_buf b;
    kx_buf_init(&b, 16);
    ASSERT_EQ(kql_dump(k, &b), KAD_ELIMIT);
    kx_buf_fini(&b);
    kx_arena_fini(&a);
}

/* Things a one-line test file cannot hold: raw newlines in quotes, keywords on their own line,
 * CRLF line ends (the rules' queries are multi-line). */
TEST(kql_multiline_queries)
{
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"a:\"x\ny\"", "(is \"a\" \"x\\ny\")"},
        {"a:1\nand\nb:1", "(and (is \"a\" \"1\") (is \"b\" \"1\"))"},
        {"a:1\r\nand\r\nnot b:(\r\n  x or\r\n  y\r\n)\r\n",
         "(and (is \"a\" \"1\") (not (or (is \"b\" \"x\") (is \"b\" \"y\"))))"},
        {"\n\n", "(matchall)"},
        {"a:x\n", "(is \"a\" \"x\")"},
    };
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kad_err err;
        kad_err_clear(&err);
        struct kql_query *k = kql_compile(&a, cases[i].q, strlen(cases[i].q), NULL, &err);
        ASSERT_NOT_NULL(k);
        kx_buf b;
        kx_buf_init(&b, 4096);
        ASSERT_OK(kql_dump(k, &b));
        ASSERT_STR_EQ(b.ptr, cases[i].want);
        kx_buf_fini(&b);
    }
    kx_arena_fini(&a);
}

/*
 * Large value lists are indexed (KQL_GROUP_INDEX_MIN and more literals: exact texts hashed,
 * numbers sorted, wildcards/exists/CIDR tested one by one) and an AND's `not f:x` children are
 * grouped the same way. Differential: every query must answer as the OR (the AND of NOTs) of
 * its literals compiled one query each, on documents with strings, numbers, booleans, arrays,
 * objects and missing fields.
 */
TEST(kql_large_groups_equal_one_by_one)
{
    static const char *const lits[] = {
        "alice",
        "\"bob\"",
        "1",
        "2.0",
        "-3",
        "1e2",
        "true",
        "false",
        "null",
        "*",
        "ad*",
        "*ce",
        "*l*",
        "10.0.0.0/8",
        "\"2001:db8::/32\"",
        "\"x y\"",
        "0",
        "0.5",
        "007",
        "9007199254740993",
        "9007199254740992",
        "\"\"",
        "carol",
        "dave",
        "eve",
        "frank",
        "a*e",
    };
    static const char *const docs[] = {
        "{\"f\":\"alice\"}",
        "{\"f\":\"bob\"}",
        "{\"f\":1}",
        "{\"f\":\"1\"}",
        "{\"f\":2}",
        "{\"f\":\"2\"}",
        "{\"f\":-3.0}",
        "{\"f\":100}",
        "{\"f\":true}",
        "{\"f\":\"true\"}",
        "{\"f\":false}",
        "{\"f\":null}",
        "{\"f\":\"adam\"}",
        "{\"f\":\"grace\"}",
        "{\"f\":\"10.1.2.3\"}",
        "{\"f\":\"2001:db8::1\"}",
        "{\"f\":\"x y\"}",
        "{\"f\":0}",
        "{\"f\":0.5}",
        "{\"f\":7}",
        "{\"f\":9007199254740993}",
        "{\"f\":9007199254740992}",
        "{\"f\":\"\"}",
        "{\"f\":[\"zed\",\"eve\"]}",
        "{\"f\":[]}",
        "{\"f\":{\"g\":1}}",
        "{\"g\":\"alice\"}",
        "{}",
        "{\"f\":\"mallory\"}",
        "{\"f\":[3,\"dave\"]}",
        "{\"f\":\"ae\"}",
        "{\"f\":1.0}",
        "{\"f\":\"1e2\"}",
    };
    const size_t nl = sizeof(lits) / sizeof(*lits), nd = sizeof(docs) / sizeof(*docs);
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    int checked = 0, matched = 0;
    /* sizes around the index threshold; each variant draws its own subset of the literals
       (with repeats), and odd variants leave out the broad ones (`*`, `*l*`) that would match
       almost everything and hide a wrong index */
    for (size_t size = KQL_GROUP_INDEX_MIN - 2; size <= 3 * nl; size += 5) {
        for (unsigned variant = 0; variant < 8; variant++) {
            bool neg = variant & 2;
            const char *pick[3 * 27 + 1];
            size_t np = 0;
            for (size_t i = 0; np < size && i < 40 * size; i++) {
                const char *l = lits[(i * 7 + size * 3 + variant * 5) % nl];
                if ((variant & 1) && (strcmp(l, "*") == 0 || strcmp(l, "*l*") == 0))
                    continue;
                if ((variant & 4) && (i % 3 == 1))
                    continue;
                pick[np++] = l;
            }
            kx_buf q;
            kx_buf_init(&q, 0);
            if (!neg)
                kx_buf_adds(&q, "f:(");
            for (size_t i = 0; i < np; i++) {
                if (neg)
                    kx_buf_addf(&q, "%snot f:%s", i ? " and " : "", pick[i]);
                else
                    kx_buf_addf(&q, "%s%s", i ? " or " : "", pick[i]);
            }
            if (!neg)
                kx_buf_adds(&q, ")");
            ASSERT_OK(kx_buf_error(&q));
            struct kql_query *big = kql_compile(&a, q.ptr, q.len, NULL, NULL);
            ASSERT_NOT_NULL(big);
            for (size_t d = 0; d < nd; d++) {
                kad_err err;
                struct ev_node *doc = ev_json_parse(&a, docs[d], strlen(docs[d]), "<doc>", &err);
                ASSERT_NOT_NULL(doc);
                bool any = false;
                for (size_t i = 0; i < np && !any; i++) {
                    char one[128];
                    int n = snprintf(one, sizeof(one), "f:%s", pick[i]);
                    struct kql_query *k = kql_compile(&a, one, (size_t)n, NULL, NULL);
                    ASSERT_NOT_NULL(k);
                    any = kql_match(k, doc);
                }
                bool want = neg ? !any : any;
                if (kql_match(big, doc) != want)
                    t_fail(__FILE__, __LINE__, "%s on %s: expected %s", q.ptr, docs[d],
                           want ? "true" : "false");
                checked++;
                matched += any;
            }
            kx_buf_fini(&q);
        }
    }
    /* both answers occur often enough for the comparison to mean something */
    ASSERT(matched > checked / 5 && matched < checked * 4 / 5);
    ASSERT(checked > 2000);
    kx_arena_fini(&a);
}

/* 100,000 distinct fields and a 100,000-value list compile in linear time (a hash of the
   fields and of the groups' paths, not a scan per field); benchmarks time them, this only
   checks the result. */
TEST(kql_many_fields_and_values)
{
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    kx_buf q;
    kx_buf_init(&q, KQL_MAX_LEN);
    for (int i = 0; i < 60000; i++)
        kx_buf_addf(&q, "%sf%d:%d", i ? " or " : "", i, i);
    ASSERT_OK(kx_buf_error(&q));
    struct kql_query *k = kql_compile(&a, q.ptr, q.len, NULL, NULL);
    ASSERT_NOT_NULL(k);
    ASSERT_EQ(kql_field_count(k), 60000);
    kad_err err;
    struct ev_node *doc = ev_json_parse(&a, "{\"f59999\":59999}", 16, "<doc>", &err);
    ASSERT_NOT_NULL(doc);
    ASSERT(kql_match(k, doc));
    kx_buf_reset(&q);
    kx_buf_adds(&q, "f:(");
    for (int i = 0; i < 100000; i++)
        kx_buf_addf(&q, "%s%d", i ? " or " : "", i);
    kx_buf_adds(&q, ")");
    ASSERT_OK(kx_buf_error(&q));
    k = kql_compile(&a, q.ptr, q.len, NULL, NULL);
    ASSERT_NOT_NULL(k);
    doc = ev_json_parse(&a, "{\"f\":[100000,\"99999\"]}", 22, "<doc>", &err);
    ASSERT(kql_match(k, doc));
    doc = ev_json_parse(&a, "{\"f\":[100000,\"x\"]}", 18, "<doc>", &err);
    ASSERT(!kql_match(k, doc));
    kx_buf_fini(&q);
    kx_arena_fini(&a);
}

/*
 * test_eql.c - EQL tests: the data-driven drivers for tests/eql/parse.test, eval.test,
 * seq.test and the examples in docs/eql.md, plus unit tests for what those files cannot
 * express (the shipped rules, state serialisation, limits).
 *
 * File formats (jq.test style): blocks separated by blank lines; '#' starts a comment line.
 *   parse.test:  QUERY / CANONICAL-DUMP, or %%FAIL / QUERY / EXACT-ERROR (kad_err_format).
 *                Every dump is parsed again and must give itself (the fuzzer's round trip).
 *   eval.test:   QUERY / then pairs DOCUMENT-JSON / true|false (one case per pair).
 *   seq.test:    QUERY / then lines, each one of
 *                  {...}            an event (its handle is its 1-based number in the block)
 *                  %restart         save the matcher's state, free it, restore it
 *                  %tick TIME       time passes (eql_seq_tick) up to an ISO time
 *                  => SEQS          the sequences completed so far since the last `=>`:
 *                                   `none`, or space-separated lists `1,2` (`-` = missing)
 *                Each block is run twice: as written, and with a restart after every event;
 *                the results must be the same.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "eql/eql.h"
#include "event/event.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *compile_text(const char *q, size_t len, bool *ok)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    kx_buf b;
    kx_buf_init(&b, 1 << 22);
    struct eql_query *k = eql_compile(&a, q, len, "<query>", &err);
    if (k) {
        eql_dump(k, &b);
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

static void case_name(char *buf, size_t cap, const char *file, size_t line, const char *q)
{
    snprintf(buf, cap, "%s:%zu: %.60s", file, line, q);
}

/* ---- parse.test ----------------------------------------------------------------------------- */

static size_t parse_cases;

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
        parse_cases++;
        if (ok == fail || strcmp(got, want) != 0) {
            snprintf(detail, sizeof(detail), "got:      %s\n     expected: %s", got, want);
            t_case(false, name, detail);
        } else if (!fail) {
            bool ok2;
            char *again = compile_text(got, strlen(got), &ok2);
            snprintf(detail, sizeof(detail), "round trip: %s", again);
            t_case(ok2 && strcmp(again, got) == 0, name, detail);
            kx_free(again);
        } else {
            t_case(true, name, NULL);
        }
        kx_free(got);
        i += 2;
    }
    kx_free(ln);
    kx_free(text);
}

TEST(eql_parse_file)
{
    parse_cases = 0;
    run_parse_file("tests/eql/parse.test");
    ASSERT(parse_cases >= 150);
}

/* ---- eval.test ------------------------------------------------------------------------------ */

static int eval_one(const char *q, const char *doc, bool *result, char *why, size_t cap)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    int rc = 0;
    struct eql_query *k = eql_compile(&a, q, strlen(q), "<query>", &err);
    struct ev_node *d = k ? ev_json_parse(&a, doc, strlen(doc), "<doc>", &err) : NULL;
    if (!k || !d) {
        kad_err_format(&err, why, cap);
        rc = -1;
    } else if (eql_is_sequence(k)) {
        snprintf(why, cap, "a sequence in eval.test");
        rc = -1;
    } else {
        *result = eql_match(k, d);
        static struct ev_memo memo;
        ev_memo_reset(&memo, d);
        if (eql_match_memo(k, d, &memo) != *result || eql_match_memo(k, d, &memo) != *result) {
            snprintf(why, cap, "eql_match_memo differs from eql_match");
            rc = -1;
        }
        ev_memo_reset(&memo, NULL);
    }
    kx_arena_fini(&a);
    return rc;
}

static size_t eval_cases;

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
            eval_cases++;
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

TEST(eql_eval_file)
{
    eval_cases = 0;
    run_eval_file("tests/eql/eval.test");
    run_eval_file("tests/eql/rules.test");
    ASSERT(eval_cases >= 150);
}

/* ---- seq.test ------------------------------------------------------------------------------- */

static void on_match(void *ctx, const struct eql_seq_match *m)
{
    kx_buf *b = ctx;
    if (b->len)
        kx_buf_addc(b, ' ');
    for (uint32_t i = 0; i < m->n; i++) {
        if (i)
            kx_buf_addc(b, ',');
        if (m->h[i] == EQL_SEQ_MISSING)
            kx_buf_addc(b, '-');
        else
            kx_buf_addf(b, "%llu", (unsigned long long)m->h[i]);
    }
}

static struct eql_seq *restart(const struct eql_query *q, struct eql_seq *s, char *why, size_t cap)
{
    kx_buf st;
    kx_buf_init(&st, 0);
    eql_seq_save(s, &st);
    eql_seq_free(s);
    kad_err err;
    kad_err_clear(&err);
    struct eql_seq *r = eql_seq_restore(q, NULL, st.ptr, st.len, &err);
    if (!r)
        kad_err_format(&err, why, cap);
    kx_buf_fini(&st);
    return r;
}

/* Run one block (lines [from, to)); every_event: restart after each event. */
static void run_seq_block(const char *path, char **ln, size_t from, size_t to, bool every_event)
{
    const char *q = ln[from];
    char name[256], why[1024];
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    struct eql_query *k = eql_compile(&a, q, strlen(q), "<query>", &err);
    case_name(name, sizeof name, path, from + 1, q);
    if (!k || !eql_is_sequence(k)) {
        if (!k)
            kad_err_format(&err, why, sizeof why);
        else
            snprintf(why, sizeof why, "not a sequence");
        t_case(false, name, why);
        kx_arena_fini(&a);
        return;
    }
    struct eql_seq *s = eql_seq_new(k, NULL);
    kx_buf got;
    kx_buf_init(&got, 0);
    uint64_t handle = 0;
    for (size_t i = from + 1; i < to && s; i++) {
        const char *l = ln[i];
        case_name(name, sizeof name, path, i + 1, every_event ? "(restart after each event)" : q);
        if (l[0] == '{') {
            kx_arena ea;
            kx_arena_init(&ea, 4096, 0);
            struct ev_node *d = ev_json_parse(&ea, l, strlen(l), "<event>", &err);
            handle++;
            if (!d) {
                kad_err_format(&err, why, sizeof why);
                t_case(false, name, why);
            } else {
                int64_t ts = EV_TIME_NONE;
                kx_str t = ev_first_str(d, "@timestamp");
                if (t.ptr && !ev_time_parse(t.ptr, t.len, &ts))
                    ts = EV_TIME_NONE;
                eql_seq_feed(s, d, ts, handle, on_match, &got);
            }
            kx_arena_fini(&ea);
            if (every_event)
                s = restart(k, s, why, sizeof why);
        } else if (strcmp(l, "%restart") == 0) {
            s = restart(k, s, why, sizeof why);
        } else if (strncmp(l, "%tick ", 6) == 0) {
            int64_t ts;
            if (!ev_time_parse(l + 6, strlen(l + 6), &ts))
                t_case(false, name, "bad %tick time");
            else
                eql_seq_tick(s, ts, on_match, &got);
        } else if (strncmp(l, "=> ", 3) == 0) {
            const char *want = strcmp(l + 3, "none") == 0 ? "" : l + 3;
            const char *g = got.ptr ? got.ptr : "";
            snprintf(why, sizeof why, "got: %s\n     expected: %s", *g ? g : "none", l + 3);
            t_case(strcmp(g, want) == 0, name, why);
            got.len = 0;
            if (got.ptr)
                got.ptr[0] = 0;
        } else {
            snprintf(why, sizeof why, "unknown line '%s'", l);
            t_case(false, name, why);
        }
    }
    if (!s)
        t_case(false, name, why);
    if (got.len) {
        snprintf(why, sizeof why, "sequences after the last '=>': %s", got.ptr);
        t_case(false, name, why);
    }
    kx_buf_fini(&got);
    eql_seq_free(s);
    kx_arena_fini(&a);
}

static size_t seq_blocks;

static void run_seq_file(const char *path)
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
        size_t end = i;
        while (end < n && ln[end][0] != '\0' && ln[end][0] != '#')
            end++;
        run_seq_block(path, ln, i, end, false);
        run_seq_block(path, ln, i, end, true);
        seq_blocks++;
        i = end;
    }
    kx_free(ln);
    kx_free(text);
}

TEST(eql_seq_file)
{
    seq_blocks = 0;
    run_seq_file("tests/eql/seq.test");
    ASSERT(seq_blocks >= 20);
}

/* ---- the shipped rules ---------------------------------------------------------------------- */

#include "rule/rule.h"

/* Dumps of every query line (a line after a blank or comment line) of a test file. */
static bool dump_in_file(const char *path, const char *want)
{
    size_t len, n;
    char *text = t_read_file(path, &len);
    if (!text)
        return false;
    char **ln = t_split_lines(text, &n);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        if (ln[i][0] == '\0' || ln[i][0] == '#' || ln[i][0] == '{' || ln[i][0] == '=' ||
            ln[i][0] == '%')
            continue;
        if (i > 0 && ln[i - 1][0] != '\0' && ln[i - 1][0] != '#')
            continue;
        bool ok;
        char *d = compile_text(ln[i], strlen(ln[i]), &ok);
        found = ok && strcmp(d, want) == 0;
        kx_free(d);
    }
    kx_free(ln);
    kx_free(text);
    return found;
}

/* Elastic's five Kubernetes EQL rules compile, and rules.test / seq.test test exactly their
   queries (the one-line copies there compile to the same canonical text). */
TEST(eql_shipped_rules)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: Elastic's Kubernetes rules not loaded");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/detection-rules/kubernetes", root);
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, dir));
    size_t n = 0, seqs = 0;
    for (size_t i = 0; i < rule_set_count(rs); i++) {
        const struct rule *r = rule_set_get(rs, i);
        if (strcmp(r->type_name, "eql") != 0)
            continue;
        n++;
        ASSERT_NOT_NULL(r->eql);
        ASSERT_EQ(r->type, RULE_EQL);
        kx_buf b;
        kx_buf_init(&b, 0);
        ASSERT_OK(eql_dump(r->eql, &b));
        bool seq = eql_is_sequence(r->eql);
        seqs += seq;
        bool found = dump_in_file(seq ? "tests/eql/seq.test" : "tests/eql/rules.test", b.ptr);
        t_case(found, r->name, b.ptr);
        kx_buf_fini(&b);
    }
    ASSERT_EQ(n, 5);
    ASSERT_EQ(seqs, 1);
    rule_set_free(rs);
}

/* ---- unit tests ----------------------------------------------------------------------------- */

TEST(eql_fields)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *q = "sequence by user.name [process where a.b == 1 and length(c) > 2] by d "
                    "[any where a.b == 2] by e";
    struct eql_query *k = eql_compile(&a, q, strlen(q), "<query>", NULL);
    ASSERT_NOT_NULL(k);
    const char *want[] = {"@timestamp", "event.category", "a.b", "c", "user.name", "d", "e"};
    ASSERT_EQ(eql_field_count(k), 7);
    for (size_t i = 0; i < 7; i++)
        ASSERT_STR_EQ(eql_field(k, i), want[i]);
    ASSERT_NULL(eql_field(k, 7));
    bool tail = true;
    ASSERT_EQ(eql_pipe_limit(k, &tail), -1);
    const char *p = "any where true | tail 7 | head 3";
    k = eql_compile(&a, p, strlen(p), "<query>", NULL);
    ASSERT_EQ(eql_pipe_limit(k, &tail), 3);
    ASSERT_FALSE(tail);
    kx_arena_fini(&a);
}

TEST(eql_error_position_multiline)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    const char *q = "any where a == 1 and\n  /* comment */ b == \"x\" and\n\tc ==";
    ASSERT_NULL(eql_compile(&a, q, strlen(q), "<query>", &err));
    ASSERT_EQ(err.code, KAD_ESYNTAX);
    ASSERT_EQ(err.line, 3);
    ASSERT_EQ(err.col, 6);
    ASSERT_EQ(err.offset, (int64_t)strlen(q));
    kx_arena_fini(&a);
}

TEST(eql_limits)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kx_buf b;
    kx_buf_init(&b, 0);
    /* parentheses build no node: 200 are fine, 600 hit the parser's recursion guard */
    for (int n = 200; n <= 600; n += 400) {
        b.len = 0;
        kx_buf_adds(&b, "any where ");
        for (int i = 0; i < n; i++)
            kx_buf_addc(&b, '(');
        kx_buf_adds(&b, "a == 1");
        for (int i = 0; i < n; i++)
            kx_buf_addc(&b, ')');
        kad_err_clear(&err);
        struct eql_query *k = eql_compile(&a, b.ptr, b.len, "<query>", &err);
        ASSERT((k != NULL) == (n == 200));
        ASSERT_EQ(err.code, n == 200 ? KAD_OK : KAD_ELIMIT);
    }
    /* the tree is at most EQL_MAX_DEPTH deep: 98 nots over a comparison and its operands */
    for (int n = 98; n <= 99; n++) {
        b.len = 0;
        kx_buf_adds(&b, "any where ");
        for (int i = 0; i < n; i++)
            kx_buf_adds(&b, "not ");
        kx_buf_adds(&b, "a == 1");
        kad_err_clear(&err);
        struct eql_query *k = eql_compile(&a, b.ptr, b.len, "<query>", &err);
        ASSERT((k != NULL) == (n == 98));
    }
    ASSERT_EQ(err.code, KAD_ELIMIT);
    ASSERT_STR_EQ(err.msg, "expression nested deeper than 100 levels");
    /* not valid UTF-8 */
    kad_err_clear(&err);
    ASSERT_NULL(eql_compile(&a, "any where a == \"\xff\"", 19, "<query>", &err));
    ASSERT_EQ(err.code, KAD_EINVAL);
    ASSERT_EQ(err.offset, 16);
    /* longer than EQL_MAX_LEN */
    char *big = kx_malloc(EQL_MAX_LEN + 2);
    memset(big, ' ', EQL_MAX_LEN + 1);
    kad_err_clear(&err);
    ASSERT_NULL(eql_compile(&a, big, EQL_MAX_LEN + 1, "<query>", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    kx_free(big);
    /* too many distinct fields in one expression */
    const char *q = "any where concat(a, b, c, d, e, f, g, h, i) == \"x\"";
    kad_err_clear(&err);
    ASSERT_NULL(eql_compile(&a, q, strlen(q), "<query>", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    /* unsupported constructs are KAD_EUNSUPPORTED */
    const char *s = "sample by a [any where true] [any where true]";
    kad_err_clear(&err);
    ASSERT_NULL(eql_compile(&a, s, strlen(s), "<query>", &err));
    ASSERT_EQ(err.code, KAD_EUNSUPPORTED);
    kx_buf_fini(&b);
    kx_arena_fini(&a);
}

static void count_fn(void *ctx, const struct eql_seq_match *m)
{
    (void)m;
    (*(int *)ctx)++;
}

static struct ev_node *doc_of(kx_arena *a, const char *json)
{
    return ev_json_parse(a, json, strlen(json), "<doc>", NULL);
}

TEST(eql_seq_restore_errors)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *q1 = "sequence by u [any where x == 1] [any where x == 2]";
    const char *q2 = "sequence by u [any where x == 1] [any where x == 3]";
    struct eql_query *k1 = eql_compile(&a, q1, strlen(q1), "<q>", NULL);
    struct eql_query *k2 = eql_compile(&a, q2, strlen(q2), "<q>", NULL);
    const char *ev = "any where true";
    ASSERT_NULL(eql_seq_new(eql_compile(&a, ev, strlen(ev), "<q>", NULL), NULL));
    struct eql_seq *s = eql_seq_new(k1, NULL);
    int n = 0;
    ASSERT_OK(eql_seq_feed(s, doc_of(&a, "{\"u\":\"a\",\"x\":1}"), 1000, 7, count_fn, &n));
    kx_buf st;
    kx_buf_init(&st, 0);
    ASSERT_OK(eql_seq_save(s, &st));
    kad_err err;
    kad_err_clear(&err);
    /* another query */
    ASSERT_NULL(eql_seq_restore(k2, NULL, st.ptr, st.len, &err));
    ASSERT_EQ(err.code, KAD_EINVAL);
    /* every truncation is refused with an offset */
    for (size_t cut = 0; cut < st.len; cut++) {
        kad_err_clear(&err);
        struct eql_seq *r = eql_seq_restore(k1, NULL, st.ptr, cut, &err);
        ASSERT_NULL(r);
        ASSERT_EQ(err.code, KAD_ESYNTAX);
    }
    /* trailing bytes */
    kx_buf_addc(&st, 0);
    kad_err_clear(&err);
    ASSERT_NULL(eql_seq_restore(k1, NULL, st.ptr, st.len, &err));
    ASSERT_EQ(err.offset, (int64_t)st.len - 1);
    st.len--;
    struct eql_seq *r = eql_seq_restore(k1, NULL, st.ptr, st.len, &err);
    ASSERT_NOT_NULL(r);
    ASSERT_OK(eql_seq_feed(r, doc_of(&a, "{\"u\":\"a\",\"x\":2}"), 2000, 8, count_fn, &n));
    ASSERT_EQ(n, 1);
    struct eql_seq_stats ss;
    eql_seq_get_stats(r, &ss);
    ASSERT_EQ(ss.events, 2);
    ASSERT_EQ(ss.matches, 1);
    ASSERT_EQ(ss.partials, 0);
    eql_seq_free(r);
    eql_seq_free(s);
    kx_buf_fini(&st);
    kx_arena_fini(&a);
}

TEST(eql_seq_bounded)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    const char *q = "sequence by u with maxspan=1m [any where x == 1] [any where x == 2]";
    struct eql_query *k = eql_compile(&a, q, strlen(q), "<q>", NULL);
    struct eql_seq_opts o = {.max_keys = 100};
    struct eql_seq *s = eql_seq_new(k, &o);
    int n = 0, limited = 0;
    char json[64];
    /* 1000 keys inside one minute: the cap holds, the oldest are evicted and counted */
    for (int i = 0; i < 1000; i++) {
        snprintf(json, sizeof json, "{\"u\":\"k%d\",\"x\":1}", i);
        limited +=
            eql_seq_feed(s, doc_of(&a, json), 1000 + i, (uint64_t)i, count_fn, &n) == KAD_ELIMIT;
    }
    struct eql_seq_stats ss;
    eql_seq_get_stats(s, &ss);
    ASSERT(ss.keys <= 100);
    ASSERT_EQ(ss.evicted, 900);
    ASSERT_EQ(limited, 900);
    /* the newest keys are still there */
    ASSERT_OK(eql_seq_feed(s, doc_of(&a, "{\"u\":\"k999\",\"x\":2}"), 2000, 5000, count_fn, &n));
    ASSERT_EQ(n, 1);
    /* time passes: everything expires, the keys go */
    eql_seq_tick(s, 1000000, count_fn, &n);
    eql_seq_get_stats(s, &ss);
    ASSERT_EQ(ss.keys, 0);
    ASSERT_EQ(ss.partials, 0);
    ASSERT_EQ(ss.expired, 99);
    /* key text */
    kx_buf b;
    kx_buf_init(&b, 0);
    const char key[] = "\x06\0\0\0salice\x03\0\0\0n42\x01\0\0\0z";
    ASSERT_OK(eql_seq_key_text(key, sizeof key - 1, &b));
    ASSERT_STR_EQ(b.ptr, "[\"alice\", 42, null]");
    kx_buf_fini(&b);
    eql_seq_free(s);
    kx_arena_fini(&a);
}

/* ---- docs/eql.md examples ------------------------------------------------------------------- */

/*
 * docs/eql.md marks its examples with fenced blocks whose info string is
 *   eql-ast:    QUERY line, then `=> DUMP`
 *   eql-error:  QUERY line, then `=> ERROR`
 *   eql-eval:   QUERY line, then lines `DOC => true|false`
 *   eql-seq:    QUERY line, event lines, then `=> SEQS` (as in seq.test)
 */
TEST(eql_doc_examples)
{
    size_t len, n;
    char *text = t_read_file("docs/eql.md", &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    size_t blocks = 0;
    for (size_t i = 0; i < n; i++) {
        int kind = strcmp(ln[i], "```eql-ast") == 0     ? 1
                   : strcmp(ln[i], "```eql-error") == 0 ? 2
                   : strcmp(ln[i], "```eql-eval") == 0  ? 3
                   : strcmp(ln[i], "```eql-seq") == 0   ? 4
                                                        : 0;
        if (!kind)
            continue;
        blocks++;
        size_t end = i + 1;
        while (end < n && strcmp(ln[end], "```") != 0)
            end++;
        char name[256], detail[4096];
        if (end >= n || end < i + 3) {
            snprintf(name, sizeof(name), "docs/eql.md:%zu", i + 1);
            t_case(false, name, "example block needs a query and at least one => line");
            break;
        }
        if (kind == 4) {
            run_seq_block("docs/eql.md", ln, i + 1, end, false);
            run_seq_block("docs/eql.md", ln, i + 1, end, true);
            i = end;
            continue;
        }
        const char *q = ln[i + 1];
        for (size_t j = i + 2; j < end; j++) {
            snprintf(name, sizeof(name), "docs/eql.md:%zu: %.50s", j + 1, q);
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
    ASSERT(blocks > 20);
}

/*
 * test_esql.c - ES|QL tests: the drivers of the tests/esql case files and of the examples in
 * docs/esql.md, plus unit tests for what those files cannot express (save/restore of a
 * window, limits, the Kubernetes rules compiling).
 *
 * Case files: blocks separated by blank lines, '#' lines are comments. Each block is one case:
 *   q: QUERY LINE            (several q: lines are joined with newlines)
 *   rule: FILE.toml          (instead of q: the query of an Elastic Kubernetes rule from the
 *                             shared data; the case is skipped when it is absent)
 *   now: ISO-DATE            (NOW(); default 2025-01-01T00:00:00Z)
 *   d: DOCUMENT              (one JSON document per line; _id doc<N>, _index logs-test, _version 1)
 *   r: ROW                   (expected NDJSON rows, in order; `r: -` = no rows)
 *   w: TEXT                  (the first runtime warning must contain TEXT)
 *   e: ERROR                 (compile must fail with exactly this kad_err_format text)
 *   p: DUMP                  (compile must succeed with exactly this esql_dump text)
 * Every evaluation case is also run a second time with its state saved after the first half
 * of the documents and restored into a fresh run: the rows must be the same.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "esql/esql.h"
#include "event/event.h"
#include "rule/rule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tcase {
    kx_buf q;
    const char *rule;
    const char *now;
    const char *err, *dump, *warn;
    const char *docs[64];
    size_t ndocs;
    kx_buf rows;
    bool has_rows;
};

static char *rule_query(const char *file)
{
    const char *root = t_shared_data();
    if (!root)
        return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/detection-rules/kubernetes/%s", root, file);
    struct rule_set *rs = rule_set_new();
    char *q = NULL;
    if (rule_set_load(rs, path) == KAD_OK && rule_set_count(rs) == 1)
        q = kx_strdup(rule_set_get(rs, 0)->query);
    rule_set_free(rs);
    return q;
}

/* Run q over docs; split = index where the state is saved and restored (SIZE_MAX: never). */
static int run_query(const struct esql_prog *p, int64_t now, const char *const *docs, size_t n,
                     size_t split, kx_buf *out, char *warn, size_t wcap, char *why, size_t ycap)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct esql_run *r = esql_run_new(p, now);
    kad_err err;
    kad_err_clear(&err);
    int rc = 0;
    char idbuf[64][32];
    for (size_t i = 0; i < n && !rc; i++) {
        if (i == split) {
            kx_buf st;
            kx_buf_init(&st, 0);
            esql_run_save(r, &st);
            esql_run_free(r);
            r = esql_run_new(p, now);
            if (esql_run_restore(r, st.ptr, st.len, &err) != KAD_OK) {
                snprintf(why, ycap, "restore: %s", err.msg);
                rc = -1;
            }
            kx_buf_fini(&st);
            if (rc)
                break;
        }
        struct ev_node *doc = ev_json_parse(&a, docs[i], strlen(docs[i]), "<doc>", &err);
        if (!doc) {
            snprintf(why, ycap, "document %zu: %s", i + 1, err.msg);
            rc = -1;
            break;
        }
        snprintf(idbuf[i], sizeof idbuf[i], "doc%zu", i + 1);
        struct esql_doc d = {doc, kx_str_c(idbuf[i]), KX_STR_LIT("logs-test"), 1, i + 1};
        if (esql_run_feed(r, &d, &err) != KAD_OK) {
            snprintf(why, ycap, "feed: %s", err.msg);
            rc = -1;
        }
    }
    struct esql_result res;
    if (!rc && esql_run_finish(r, &res, &err) != KAD_OK) {
        snprintf(why, ycap, "finish: %s", err.msg);
        rc = -1;
    }
    if (!rc) {
        esql_result_ndjson(&res, out);
        snprintf(warn, wcap, "%s", res.first_warning ? res.first_warning : "");
    }
    esql_run_free(r);
    kx_arena_fini(&a);
    return rc;
}

static void run_case(const char *file, size_t line, struct tcase *c)
{
    char name[300], detail[8192];
    const char *qsrc = c->q.ptr ? c->q.ptr : "";
    char *owned = NULL;
    if (c->rule) {
        owned = rule_query(c->rule);
        if (!owned) {
            printf("  skip %s:%zu: shared data absent (%s)\n", file, line, c->rule);
            return;
        }
        qsrc = owned;
    }
    snprintf(name, sizeof name, "%s:%zu: %.60s", file, line, c->rule ? c->rule : qsrc);
    for (char *s = name; *s; s++)
        if (*s == '\n')
            *s = ' ';
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kad_err err;
    kad_err_clear(&err);
    struct esql_prog *p = esql_compile(&a, qsrc, strlen(qsrc), "<query>", &err);
    if (c->err) {
        char m[1024] = "(compiled)";
        if (!p)
            kad_err_format(&err, m, sizeof m);
        snprintf(detail, sizeof detail, "got: %s\nwant: %s", m, c->err);
        t_case(!p && strcmp(m, c->err) == 0, name, detail);
    } else if (!p) {
        char m[1024];
        kad_err_format(&err, m, sizeof m);
        snprintf(detail, sizeof detail, "compile failed: %s", m);
        t_case(false, name, detail);
    } else if (c->dump) {
        kx_buf b;
        kx_buf_init(&b, 0);
        esql_dump(p, &b);
        snprintf(detail, sizeof detail, "got:  %s\nwant: %s", b.ptr ? b.ptr : "", c->dump);
        t_case(b.ptr && strcmp(b.ptr, c->dump) == 0, name, detail);
        kx_buf_fini(&b);
    } else {
        int64_t now = 1735689600000; /* 2025-01-01T00:00:00Z */
        if (c->now && !ev_time_parse(c->now, strlen(c->now), &now)) {
            t_case(false, name, "bad now:");
            goto out;
        }
        kx_buf got, got2;
        kx_buf_init(&got, 0);
        kx_buf_init(&got2, 0);
        char warn[256] = "", warn2[256], why[512] = "";
        int rc = run_query(p, now, c->docs, c->ndocs, SIZE_MAX, &got, warn, sizeof warn, why,
                           sizeof why);
        if (!rc)
            rc = run_query(p, now, c->docs, c->ndocs, c->ndocs / 2, &got2, warn2, sizeof warn2, why,
                           sizeof why);
        const char *g = got.ptr ? got.ptr : "", *w = c->rows.ptr ? c->rows.ptr : "";
        bool ok = rc == 0 && strcmp(g, w) == 0;
        if (ok && strcmp(g, got2.ptr ? got2.ptr : "") != 0) {
            ok = false;
            snprintf(why, sizeof why, "save/restore gave other rows:\n%s",
                     got2.ptr ? got2.ptr : "");
        }
        if (ok && c->warn && !strstr(warn, c->warn)) {
            ok = false;
            snprintf(why, sizeof why, "warning [%s] does not contain [%s]", warn, c->warn);
        }
        if (ok && !c->warn && warn[0]) {
            ok = false;
            snprintf(why, sizeof why, "unexpected warning [%s]", warn);
        }
        snprintf(detail, sizeof detail, "%s\ngot:\n%swant:\n%s", why, g, w);
        t_case(ok, name, detail);
        kx_buf_fini(&got);
        kx_buf_fini(&got2);
    }
out:
    kx_arena_fini(&a);
    kx_free(owned);
}

static size_t run_file(const char *path)
{
    size_t len, n, cases = 0;
    char *text = t_read_file(path, &len);
    if (!text)
        t_fail(__FILE__, __LINE__, "cannot read %s", path);
    char **ln = t_split_lines(text, &n);
    for (size_t i = 0; i < n;) {
        while (i < n && (ln[i][0] == 0 || ln[i][0] == '#'))
            i++;
        if (i >= n)
            break;
        struct tcase c;
        memset(&c, 0, sizeof c);
        kx_buf_init(&c.q, 0);
        kx_buf_init(&c.rows, 0);
        size_t start = i;
        for (; i < n && ln[i][0]; i++) {
            const char *l = ln[i];
            if (l[0] == '#')
                continue;
            if (strcmp(l, "q:") == 0) {
                if (c.q.len)
                    kx_buf_addc(&c.q, '\n');
            } else if (strncmp(l, "q: ", 3) == 0) {
                if (c.q.len)
                    kx_buf_addc(&c.q, '\n');
                kx_buf_adds(&c.q, l + 3);
            } else if (strncmp(l, "rule: ", 6) == 0) {
                c.rule = l + 6;
            } else if (strncmp(l, "now: ", 5) == 0) {
                c.now = l + 5;
            } else if (strncmp(l, "d: ", 3) == 0 && c.ndocs < 64) {
                c.docs[c.ndocs++] = l + 3;
            } else if (strncmp(l, "r: ", 3) == 0) {
                c.has_rows = true;
                if (strcmp(l + 3, "-") != 0) {
                    kx_buf_adds(&c.rows, l + 3);
                    kx_buf_addc(&c.rows, '\n');
                }
            } else if (strncmp(l, "w: ", 3) == 0) {
                c.warn = l + 3;
            } else if (strncmp(l, "e: ", 3) == 0) {
                c.err = l + 3;
            } else if (strncmp(l, "p: ", 3) == 0) {
                c.dump = l + 3;
            } else {
                char nm[300];
                snprintf(nm, sizeof nm, "%s:%zu", path, i + 1);
                t_case(false, nm, "unknown line (q: rule: now: d: r: w: e: p:)");
            }
        }
        if (!c.err && !c.dump && !c.has_rows) {
            char nm[300];
            snprintf(nm, sizeof nm, "%s:%zu", path, start + 1);
            t_case(false, nm, "case without r:, e: or p:");
        } else {
            run_case(path, start + 1, &c);
            cases++;
        }
        kx_buf_fini(&c.q);
        kx_buf_fini(&c.rows);
    }
    kx_free(ln);
    kx_free(text);
    return cases;
}

TEST(esql_eval_file) { ASSERT(run_file("tests/esql/eval.test") >= 150); }
TEST(esql_functions_file) { ASSERT(run_file("tests/esql/functions.test") >= 50); }
TEST(esql_rules_file) { ASSERT(run_file("tests/esql/rules.test") >= 22); }
TEST(esql_parse_file) { ASSERT(run_file("tests/esql/parse.test") >= 30); }

/*
 * docs/esql.md: fenced blocks with the info string `esql-test` hold a case in the same format
 * as the .test files (q:/d:/r:/e:/p: lines), so every example in the document is run.
 */
TEST(esql_doc_examples)
{
    size_t len, n;
    char *text = t_read_file("docs/esql.md", &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    kx_buf tmp;
    kx_buf_init(&tmp, 0);
    size_t blocks = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ln[i], "```esql-test") != 0)
            continue;
        for (i++; i < n && strcmp(ln[i], "```") != 0; i++) {
            kx_buf_adds(&tmp, ln[i]);
            kx_buf_addc(&tmp, '\n');
        }
        kx_buf_addc(&tmp, '\n');
        blocks++;
    }
    FILE *f = fopen("build/esql_doc_examples.test", "w");
    ASSERT_NOT_NULL(f);
    fwrite(tmp.ptr, 1, tmp.len, f);
    fclose(f);
    size_t cases = run_file("build/esql_doc_examples.test");
    ASSERT_EQ(cases, blocks);
    ASSERT(blocks >= 10);
    kx_buf_fini(&tmp);
    kx_free(ln);
    kx_free(text);
}

/* ---- unit tests -------------------------------------------------------------------------- */

TEST(esql_kubernetes_rules_compile)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: Elastic's Kubernetes rules not loaded");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/detection-rules/kubernetes", root);
    struct rule_set *rs = rule_set_new();
    rule_set_load(rs, dir);
    size_t esql = 0, agg = 0;
    for (size_t i = 0; i < rule_set_count(rs); i++) {
        const struct rule *r = rule_set_get(rs, i);
        if (strcmp(r->type_name, "esql") != 0)
            continue;
        esql++;
        ASSERT_NOT_NULL(r->esql);
        ASSERT_EQ(r->type, RULE_ESQL);
        agg += esql_is_aggregating(r->esql);
    }
    for (size_t i = 0; i < rule_set_diag_count(rs); i++)
        ASSERT(!rule_set_diag(rs, i)->is_error);
    ASSERT_EQ(esql, 11);
    ASSERT_EQ(agg, 5);
    rule_set_free(rs);
}

static struct esql_prog *compile_ok(kx_arena *a, const char *q)
{
    kad_err err;
    kad_err_clear(&err);
    struct esql_prog *p = esql_compile(a, q, strlen(q), "<q>", &err);
    if (!p)
        t_fail(__FILE__, __LINE__, "compile: %s", err.msg);
    return p;
}

static void feed_json(struct esql_run *r, kx_arena *a, const char *json)
{
    kad_err err;
    kad_err_clear(&err);
    struct ev_node *doc = ev_json_parse(a, json, strlen(json), "<doc>", &err);
    ASSERT_NOT_NULL(doc);
    struct esql_doc d = {doc, {NULL, 0}, {NULL, 0}, 0, 0};
    ASSERT_OK(esql_run_feed(r, &d, &err));
}

/* A threshold met inside one window and not across two: the state of one window does not leak
   into the next, and a window saved and restored in the middle gives the same answer. */
TEST(esql_window_threshold_and_restart)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct esql_prog *p = compile_ok(
        &a,
        "FROM logs | STATS n = COUNT(*), names = COUNT_DISTINCT(name) BY user | WHERE names >= 3");
    kx_arena docs;
    kx_arena_init(&docs, 4096, 0);
    const char *w1[] = {"{\"user\":\"a\",\"name\":\"s1\"}", "{\"user\":\"a\",\"name\":\"s2\"}"};
    const char *w2[] = {"{\"user\":\"a\",\"name\":\"s3\"}"};
    /* two windows of 2 + 1 names: no row */
    for (int w = 0; w < 2; w++) {
        struct esql_run *r = esql_run_new(p, 0);
        const char **d = w ? w2 : w1;
        for (int i = 0; i < (w ? 1 : 2); i++)
            feed_json(r, &docs, d[i]);
        struct esql_result res;
        ASSERT_OK(esql_run_finish(r, &res, NULL));
        ASSERT_EQ(res.nrows, 0);
        esql_run_free(r);
    }
    /* one window of 3 names, saved and restored after each document: one row */
    struct esql_run *r = esql_run_new(p, 0);
    const char *all[] = {w1[0], w1[1], w2[0]};
    for (int i = 0; i < 3; i++) {
        feed_json(r, &docs, all[i]);
        kx_buf st;
        kx_buf_init(&st, 0);
        ASSERT_OK(esql_run_save(r, &st));
        esql_run_free(r);
        r = esql_run_new(p, 0);
        ASSERT_OK(esql_run_restore(r, st.ptr, st.len, NULL));
        kx_buf_fini(&st);
    }
    struct esql_result res;
    ASSERT_OK(esql_run_finish(r, &res, NULL));
    ASSERT_EQ(res.nrows, 1);
    kx_buf out;
    kx_buf_init(&out, 0);
    esql_result_ndjson(&res, &out);
    ASSERT_STR_EQ(out.ptr, "{\"n\":3,\"names\":3,\"user\":\"a\"}\n");
    kx_buf_fini(&out);
    esql_run_free(r);
    kx_arena_fini(&docs);
    kx_arena_fini(&a);
}

TEST(esql_restore_rejects_bad_state)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct esql_prog *p = compile_ok(&a, "FROM logs | STATS c = VALUES(x) BY y");
    struct esql_prog *q = compile_ok(&a, "FROM logs | STATS c = VALUES(x) BY z");
    kx_arena docs;
    kx_arena_init(&docs, 4096, 0);
    struct esql_run *r = esql_run_new(p, 0);
    feed_json(r, &docs, "{\"x\":\"1\",\"y\":\"2\"}");
    kx_buf st;
    kx_buf_init(&st, 0);
    ASSERT_OK(esql_run_save(r, &st));
    esql_run_free(r);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < st.len; cut++) {
        struct esql_run *t = esql_run_new(p, 0);
        kad_err err;
        kad_err_clear(&err);
        ASSERT_EQ(esql_run_restore(t, st.ptr, cut, &err), KAD_EINVAL);
        esql_run_free(t);
    }
    /* another query's state is refused */
    struct esql_run *t = esql_run_new(q, 0);
    kad_err err;
    kad_err_clear(&err);
    ASSERT_EQ(esql_run_restore(t, st.ptr, st.len, &err), KAD_EINVAL);
    ASSERT(strstr(err.msg, "another query") != NULL);
    esql_run_free(t);
    kx_buf_fini(&st);
    kx_arena_fini(&docs);
    kx_arena_fini(&a);
}

TEST(esql_limits)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    kx_buf q;
    kx_buf_init(&q, 0);
    kx_buf_adds(&q, "FROM x | WHERE ");
    for (int i = 0; i < ESQL_MAX_DEPTH + 5; i++)
        kx_buf_addc(&q, '(');
    kad_err err;
    kad_err_clear(&err);
    ASSERT_NULL(esql_compile(&a, q.ptr, q.len, "<q>", &err));
    ASSERT_EQ(err.code, KAD_ELIMIT);
    /* a pattern that would be exponential for a naive backtracker stays linear */
    struct esql_prog *p = compile_ok(&a, "FROM x | WHERE s RLIKE \"\"\"(a|aa)*(a|aa)*b\"\"\"");
    struct esql_run *r = esql_run_new(p, 0);
    kx_arena docs;
    kx_arena_init(&docs, 4096, 0);
    char doc[4200];
    strcpy(doc, "{\"s\":\"");
    memset(doc + 6, 'a', 4000);
    strcpy(doc + 4006, "\"}");
    feed_json(r, &docs, doc);
    struct esql_result res;
    ASSERT_OK(esql_run_finish(r, &res, NULL));
    ASSERT_EQ(res.nrows, 0);
    esql_run_free(r);
    kx_arena_fini(&docs);
    kx_buf_fini(&q);
    kx_arena_fini(&a);
}

/* Without LIMIT a query returns at most 1000 rows (with a warning); LIMIT raises it. */
TEST(esql_implicit_limit)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct esql_prog *p = compile_ok(&a, "FROM logs | KEEP n");
    struct esql_prog *q = compile_ok(&a, "FROM logs | LIMIT 1500 | KEEP n");
    kx_arena docs;
    kx_arena_init(&docs, 4096, 0);
    struct esql_run *r = esql_run_new(p, 0), *s = esql_run_new(q, 0);
    for (int i = 0; i < 1200; i++) {
        feed_json(r, &docs, "{\"n\":\"1\"}");
        feed_json(s, &docs, "{\"n\":\"1\"}");
    }
    struct esql_result res;
    ASSERT_OK(esql_run_finish(r, &res, NULL));
    ASSERT_EQ(res.nrows, ESQL_DEFAULT_LIMIT);
    ASSERT(res.first_warning && strstr(res.first_warning, "1000 rows"));
    ASSERT_OK(esql_run_finish(s, &res, NULL));
    ASSERT_EQ(res.nrows, 1200);
    ASSERT_EQ(res.warnings, 0);
    esql_run_free(r);
    esql_run_free(s);
    kx_arena_fini(&docs);
    kx_arena_fini(&a);
}

/* SORT directly followed by LIMIT keeps only its top rows as it goes (bounded memory) and
   gives exactly the full stable sort's first k rows, ties in arrival order; each row carries
   its document's tag through SORT, LIMIT and KEEP; a save/restore keeps the tags. */
TEST(esql_sort_limit_topk_tags)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct esql_prog *p =
        compile_ok(&a, "FROM logs | EVAL n = TO_LONG(v) | SORT n DESC | LIMIT 5 | KEEP n");
    struct esql_prog *full =
        compile_ok(&a, "FROM logs | EVAL n = TO_LONG(v) | SORT n DESC | KEEP n");
    ASSERT(esql_sorts_or_limits(p));
    ASSERT(!esql_sorts_or_limits(compile_ok(&a, "FROM logs | WHERE v == \"1\" | KEEP v")));
    kx_arena docs;
    kx_arena_init(&docs, 4096, 0);
    struct esql_run *r = esql_run_new(p, 0), *f = esql_run_new(full, 0);
    kad_err err;
    kad_err_clear(&err);
    for (int i = 0; i < 1000; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"v\":%d}", (i * 37) % 101); /* values repeat: ties */
        struct ev_node *doc = ev_json_parse(&docs, json, strlen(json), "<doc>", &err);
        ASSERT_NOT_NULL(doc);
        struct esql_doc d = {doc, {NULL, 0}, {NULL, 0}, 0, (uint64_t)i + 1};
        ASSERT_OK(esql_run_feed(r, &d, &err));
        ASSERT_OK(esql_run_feed(f, &d, &err));
        if (i == 500) { /* the kept rows survive a save and restore, tags included */
            kx_buf b;
            kx_buf_init(&b, 0);
            ASSERT_OK(esql_run_save(r, &b));
            esql_run_free(r);
            r = esql_run_new(p, 0);
            ASSERT_OK(esql_run_restore(r, b.ptr, b.len, &err));
            kx_buf_fini(&b);
        }
    }
    struct esql_result res, fres;
    ASSERT_OK(esql_run_finish(r, &res, NULL));
    ASSERT_OK(esql_run_finish(f, &fres, NULL));
    ASSERT_EQ(res.nrows, 5);
    for (size_t i = 0; i < 5; i++) {
        ASSERT_EQ(res.rows[i][0].v[0].u.i, fres.rows[i][0].v[0].u.i);
        ASSERT_EQ(res.tags[i], fres.tags[i]);
        /* tag i + 1 was fed value (i * 37) % 101 */
        ASSERT_EQ((int64_t)(((res.tags[i] - 1) * 37) % 101), res.rows[i][0].v[0].u.i);
    }
    ASSERT_EQ(res.rows[0][0].v[0].u.i, 100);
    ASSERT(res.tags[0] < res.tags[1]); /* the two 100s in arrival order */
    esql_run_free(r);
    esql_run_free(f);
    kx_arena_fini(&docs);
    kx_arena_fini(&a);
}

TEST(esql_program_info)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct esql_prog *p = compile_ok(
        &a, "FROM logs-*, other METADATA _id | WHERE KQL(\"x.y:1\") AND a == \"b\" | KEEP c");
    ASSERT_EQ(esql_index_count(p), 2);
    ASSERT_STR_EQ(esql_index(p, 0), "logs-*");
    ASSERT_STR_EQ(esql_index(p, 1), "other");
    ASSERT_FALSE(esql_is_aggregating(p));
    /* fields: the columns read, then the fields KQL() reads */
    ASSERT_EQ(esql_field_count(p), 3);
    ASSERT_STR_EQ(esql_field(p, 0), "a");
    ASSERT_STR_EQ(esql_field(p, 1), "c");
    ASSERT_STR_EQ(esql_field(p, 2), "x.y");
    ASSERT_FALSE(esql_needs_all(p));
    /* a run can be finished only once, and not fed after */
    struct esql_run *r = esql_run_new(p, 0);
    struct esql_result res;
    ASSERT_OK(esql_run_finish(r, &res, NULL));
    ASSERT_EQ(esql_run_finish(r, &res, NULL), KAD_EINVAL);
    struct esql_doc d = {NULL, {NULL, 0}, {NULL, 0}, 0, 0};
    ASSERT_EQ(esql_run_feed(r, &d, NULL), KAD_EINVAL);
    esql_run_free(r);
    kx_arena_fini(&a);
}

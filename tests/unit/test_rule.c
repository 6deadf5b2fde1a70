/*
 * test_rule.c - the rule loader: tests/rules/good (normalized form), tests/rules/bad (exact
 * diagnostics), the shipped rules/, Elastic's Kubernetes rules and seed history from
 * ../shared/data, date math, exceptions in the three formats.
 *
 * Expected files: tests/rules/good/NAME.expect and tests/rules/shipped/NAME.expect hold the
 * diagnostics (if any) then rule_dump() of each rule; tests/rules/bad/NAME.expect holds the
 * diagnostics, one per line. Paths in them are relative to tests/rules/ (or to the repository
 * for rules/). Run with KAD_UPDATE_EXPECT=1 to (re)write the .expect files, then review the diff.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "rule/rule.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- data-driven cases ----------------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.toml names in dir (without the extension); returns the count. */
static size_t list_toml(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    size_t n = 0, cap = 0;
    char **v = NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".toml") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = kx_realloc(v, cap * sizeof *v);
        }
        v[n++] = kx_strndup(de->d_name, l - 5);
    }
    if (d)
        closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_name);
    *out = v;
    return n;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kx_free(v[i]);
    kx_free(v);
}

/* Diagnostics of rs, one per line, with `strip` removed from the start of paths. */
static void diags_text(const struct rule_set *rs, const char *strip, kx_buf *out)
{
    for (size_t i = 0; i < rule_set_diag_count(rs); i++) {
        char line[1024];
        rule_diag_format(rule_set_diag(rs, i), line, sizeof line);
        const char *p = line;
        if (strncmp(p, strip, strlen(strip)) == 0)
            p += strlen(strip);
        kx_buf_addf(out, "%s\n", p);
    }
}

/* Compare got with the file (or write it when KAD_UPDATE_EXPECT is set). */
static bool check_expect(const char *path, const kx_buf *got, kx_buf *why)
{
    const char *upd = getenv("KAD_UPDATE_EXPECT");
    if (upd && *upd) {
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(got->ptr ? got->ptr : "", 1, got->len, f);
            fclose(f);
        }
        return true;
    }
    size_t len;
    char *want = t_read_file(path, &len);
    if (!want) {
        kx_buf_addf(why, "missing %s; got:\n%s", path, got->ptr ? got->ptr : "");
        return false;
    }
    bool ok = len == got->len && memcmp(want, got->ptr ? got->ptr : "", len) == 0;
    if (!ok) {
        /* show the first differing line */
        const char *g = got->ptr ? got->ptr : "", *a = want, *b = g;
        while (*a && *a == *b)
            a++, b++;
        while (a > want && a[-1] != '\n')
            a--;
        while (b > g && b[-1] != '\n')
            b--;
        kx_buf_addf(why, "%s differs\n  expected: %.*s\n  got:      %.*s", path,
                    (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
    }
    kx_free(want);
    return ok;
}

/* dir/NAME.toml for every NAME: load, build the text, compare with expdir/NAME.expect. */
static void run_dir(const char *dir, const char *expdir, const char *strip, bool want_errors)
{
    char **names;
    size_t n = list_toml(dir, &names);
    if (n == 0)
        t_fail(__FILE__, __LINE__, "no cases in %s", dir);
    for (size_t i = 0; i < n; i++) {
        char path[1024], exp[1024], cname[1200];
        snprintf(path, sizeof path, "%s/%s.toml", dir, names[i]);
        snprintf(exp, sizeof exp, "%s/%s.expect", expdir, names[i]);
        snprintf(cname, sizeof cname, "%s", path);
        struct rule_set *rs = rule_set_new();
        int rc = rule_set_load(rs, path);
        kx_buf got, why;
        kx_buf_init(&got, 1 << 22);
        kx_buf_init(&why, 1 << 16);
        diags_text(rs, strip, &got);
        bool ok = true;
        if (want_errors) {
            ok = rc == KAD_ERULE && rule_set_count(rs) == 0;
            if (!ok)
                kx_buf_addf(&why, "expected a failed load with no rule (rc %d, %zu rules)\n", rc,
                            rule_set_count(rs));
        } else {
            ok = rc == KAD_OK && rule_set_count(rs) >= 1;
            if (!ok)
                kx_buf_addf(&why, "expected a clean load:\n%s", got.ptr ? got.ptr : "");
            for (size_t k = 0; k < rule_set_count(rs); k++)
                rule_dump(rule_set_get(rs, k), &got);
        }
        ok = check_expect(exp, &got, &why) && ok;
        t_case(ok, cname, why.ptr);
        kx_buf_fini(&got);
        kx_buf_fini(&why);
        rule_set_free(rs);
    }
    free_list(names, n);
}

TEST(rules_good_cases) { run_dir("tests/rules/good", "tests/rules/good", "tests/rules/", false); }

TEST(rules_bad_cases) { run_dir("tests/rules/bad", "tests/rules/bad", "tests/rules/", true); }

TEST(rules_shipped_load) { run_dir("rules", "tests/rules/shipped", "", false); }

/* ---- lint: tests/rules/lint/NAME.toml (+ NAME.exceptions.toml / .ndjson) -> NAME.expect ------ */

static bool exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

TEST(rules_lint_cases)
{
    const char *dir = "tests/rules/lint";
    char **names;
    size_t n = list_toml(dir, &names), cases = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l > 11 && strcmp(names[i] + l - 11, ".exceptions") == 0)
            continue;
        char path[1024], exp[1024];
        snprintf(path, sizeof path, "%s/%s.toml", dir, names[i]);
        snprintf(exp, sizeof exp, "%s/%s.expect", dir, names[i]);
        struct rule_set *rs = rule_set_new();
        int rc = rule_set_load(rs, path);
        static const char *const exc_ext[] = {".exceptions.toml", ".exceptions.ndjson"};
        for (size_t k = 0; k < 2; k++) {
            char ep[1100];
            snprintf(ep, sizeof ep, "%s/%s%s", dir, names[i], exc_ext[k]);
            if (exists(ep) && rule_set_load_exceptions(rs, ep) != KAD_OK)
                rc = KAD_ERULE;
        }
        bool strict = strncmp(names[i], "strict_", 7) == 0;
        size_t before = rule_set_diag_count(rs);
        int lrc = rule_set_lint(rs, strict ? RULE_LINT_STRICT : 0);
        kx_buf got, why;
        kx_buf_init(&got, 1 << 20);
        kx_buf_init(&why, 1 << 16);
        diags_text(rs, "tests/rules/", &got);
        /* loads have no error; lint adds warnings (errors only under strict) */
        bool ok = rc == KAD_OK && rule_set_count(rs) >= 1 &&
                  lrc == (strict && rule_set_diag_count(rs) ? KAD_ERULE : KAD_OK);
        if (!ok)
            kx_buf_addf(&why, "load rc %d with %zu diagnostics, lint rc %d\n", rc, before, lrc);
        ok = check_expect(exp, &got, &why) && ok;
        t_case(ok, path, why.ptr);
        kx_buf_fini(&got);
        kx_buf_fini(&why);
        rule_set_free(rs);
        cases++;
    }
    free_list(names, n);
    ASSERT(cases >= 8);
}

TEST(rules_field_known)
{
    ASSERT(rule_field_known("kubernetes.audit.verb"));
    ASSERT(rule_field_known("kubernetes.audit"));                /* object */
    ASSERT(rule_field_known("kubernetes.audit.user.extra.a/b")); /* extra.* */
    ASSERT(rule_field_known("kubernetes.audit.requestObject.spec.volumes.hostPath.path"));
    ASSERT(rule_field_known("labels.team")); /* ECS object */
    ASSERT(rule_field_known("@timestamp"));
    ASSERT(rule_field_known("user_agent.original.text")); /* multi-field */
    ASSERT(!rule_field_known("kubernetes.audti.stage"));
    ASSERT(!rule_field_known("kubernetes.audit.ver"));
    ASSERT(!rule_field_known("kubernetes.audit.verb.x"));
    ASSERT(!rule_field_known("kubernetes.audit.user.extr"));
    ASSERT(!rule_field_known(""));
}

/* ---- Elastic's rules from ../shared/data ----------------------------------------------------- */

TEST(rules_elastic_kubernetes_directory)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: Elastic's Kubernetes rules not loaded");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/detection-rules/kubernetes", root);
    struct rule_set *rs = rule_set_new();
    int rc = rule_set_load(rs, dir);
    size_t errors = 0, unsupported_warnings = 0, runnable = 0, unsupported = 0, eql = 0, esql = 0;
    for (size_t i = 0; i < rule_set_diag_count(rs); i++) {
        const struct rule_diag *d = rule_set_diag(rs, i);
        if (d->is_error) {
            char buf[1024];
            rule_diag_format(d, buf, sizeof buf);
            printf("     %s\n", buf);
            errors++;
        } else if (strstr(d->err.msg, "unsupported rule type")) {
            unsupported_warnings++;
        }
    }
    for (size_t i = 0; i < rule_set_count(rs); i++) {
        const struct rule *r = rule_set_get(rs, i);
        if (r->type == RULE_UNSUPPORTED) {
            unsupported++;
        } else if (r->type == RULE_EQL) {
            eql++;
            ASSERT_STR_EQ(r->language, "eql");
            ASSERT_NOT_NULL(r->eql);
        } else if (r->type == RULE_ESQL) {
            esql++;
            ASSERT_STR_EQ(r->language, "esql");
            ASSERT_NOT_NULL(r->esql);
        } else {
            runnable++;
            ASSERT_STR_EQ(r->language, "kuery");
            ASSERT_NOT_NULL(r->kql);
        }
    }
    ASSERT_EQ(errors, 0);
    ASSERT_EQ(rc, KAD_OK);
    ASSERT_EQ(rule_set_count(rs), 45);
    ASSERT_EQ(runnable, 29);
    ASSERT_EQ(eql, 5);
    ASSERT_EQ(esql, 11);
    ASSERT_EQ(unsupported, 0);
    ASSERT_EQ(unsupported_warnings, 0);
    rule_set_free(rs);
}

TEST(rules_elastic_seed_history)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent: seed history not loaded");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/detection-rules/seed-history", root);
    char **names;
    size_t n = list_toml(dir, &names);
    ASSERT(n >= 6);
    for (size_t i = 0; i < n; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.toml", dir, names[i]);
        struct rule_set *rs = rule_set_new();
        int rc = rule_set_load(rs, path);
        const struct rule *r = rule_set_get(rs, 0);
        bool ok = rc == KAD_OK && rule_set_diag_count(rs) == 0 && r && r->type == RULE_NEW_TERMS &&
                  r->kql && r->new_terms_fields.n == 3 &&
                  r->history_window_ms == 10LL * 86400 * 1000 && r->from_ms == 360000 &&
                  strcmp(r->timestamp_override, "event.ingested") == 0 && r->risk_score == 21;
        char detail[1024] = "";
        if (rule_set_diag_count(rs))
            rule_diag_format(rule_set_diag(rs, 0), detail, sizeof detail);
        t_case(ok, path, detail);
        rule_set_free(rs);
    }
    free_list(names, n);
}

/* A new set with ../shared/data/REL loaded without error (the test is skipped without it). */
static struct rule_set *load_shared(const char *rel)
{
    const char *root = t_shared_data();
    if (!root)
        t_skip("../shared/data absent");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, path));
    return rs;
}

/* Lint over Elastic's rules: the one field the published lists lack is the only warning
   (docs/rules.md "Lint"); the seed history lints clean. */
TEST(rules_elastic_lint)
{
    struct rule_set *rs = load_shared("detection-rules/kubernetes");
    size_t before = rule_set_diag_count(rs);
    ASSERT_OK(rule_set_lint(rs, 0));
    ASSERT_EQ(rule_set_diag_count(rs) - before, 1);
    const struct rule_diag *d = rule_set_diag(rs, before);
    ASSERT(!d->is_error);
    ASSERT(strstr(d->err.origin, "persistence_cluster_admin_rolebinding_created.toml") != NULL);
    ASSERT_EQ(d->err.line, 67);
    ASSERT_EQ(d->err.col, 36);
    ASSERT(strstr(d->err.msg, "unknown field 'kubernetes.audit.requestObject.roleRef.name'"));
    rule_set_free(rs);
    rs = load_shared("detection-rules/seed-history");
    ASSERT(rule_set_count(rs) >= 6);
    before = rule_set_diag_count(rs); /* the versions share one rule_id: duplicate warnings */
    ASSERT_OK(rule_set_lint(rs, 0));
    ASSERT_EQ(rule_set_diag_count(rs), before);
    rule_set_free(rs);
}

TEST(rules_seed_same_logic_as_shipped)
{
    struct rule_set *rs = load_shared("detection-rules/seed-history/2025-07-22_2a73a572fb.toml");
    ASSERT_OK(rule_set_load(rs, "rules/kubernetes_unusual_decision_by_user_agent.toml"));
    ASSERT_EQ(rule_set_count(rs), 2);
    const struct rule *a = rule_set_get(rs, 0), *b = rule_set_get(rs, 1);
    ASSERT_EQ(a->logic_hash, b->logic_hash);
    ASSERT_STR_EQ(a->threat_json, b->threat_json);
    ASSERT_STR_EQ(a->severity, b->severity);
    ASSERT_EQ(a->risk_score, b->risk_score);
    ASSERT_STR_EQ(a->timestamp_override, b->timestamp_override);
    rule_set_free(rs);
}

/* ---- date math ------------------------------------------------------------------------------- */

TEST(rules_datemath)
{
    int64_t ms;
    bool abs;
    ASSERT_OK(rule_parse_datemath("now-10d", &ms, &abs, NULL));
    ASSERT_EQ(ms, -864000000LL);
    ASSERT_FALSE(abs);
    ASSERT_OK(rule_parse_datemath("now-6m", &ms, &abs, NULL));
    ASSERT_EQ(ms, -360000);
    ASSERT_OK(rule_parse_datemath("now", &ms, &abs, NULL));
    ASSERT_EQ(ms, 0);
    ASSERT_OK(rule_parse_datemath("now-1d-12h", &ms, &abs, NULL));
    ASSERT_EQ(ms, -(36LL * 3600 * 1000));
    ASSERT_OK(rule_parse_datemath("now+30s", &ms, &abs, NULL));
    ASSERT_EQ(ms, 30000);
    ASSERT_OK(rule_parse_datemath("2026-01-01T00:00:00Z", &ms, &abs, NULL));
    ASSERT(abs);
    ASSERT_EQ(ms, 1767225600000LL);
    ASSERT_OK(rule_parse_datemath("2026-01-01T01:00:00.250+01:00", &ms, &abs, NULL));
    ASSERT_EQ(ms, 1767225600250LL);
    ASSERT_OK(rule_parse_datemath("2026-01-01", &ms, &abs, NULL));
    ASSERT_EQ(ms, 1767225600000LL);
    ASSERT_OK(rule_parse_datemath("1550608920000", &ms, &abs, NULL));
    ASSERT(abs);
    ASSERT_EQ(ms, 1550608920000LL);
    /* the fixed form: rounding adds nothing, a month is 30 days */
    ASSERT_OK(rule_parse_datemath("now-10d/d", &ms, &abs, NULL));
    ASSERT_EQ(ms, -864000000LL);
    ASSERT_OK(rule_parse_datemath("now-1M", &ms, &abs, NULL));
    ASSERT_EQ(ms, -30LL * 86400000);
    ASSERT_EQ(rule_parse_datemath("now-10x", &ms, &abs, NULL), KAD_EINVAL);
    ASSERT_EQ(rule_parse_datemath("yesterday", &ms, &abs, NULL), KAD_EINVAL);
    ASSERT_EQ(rule_parse_datemath("2026-13-01", &ms, &abs, NULL), KAD_EINVAL);
    ASSERT_EQ(rule_parse_datemath("x = 1\ny", &ms, &abs, NULL), KAD_EINVAL);
    ASSERT_OK(rule_parse_duration("5m", &ms, NULL));
    ASSERT_EQ(ms, 300000);
    ASSERT_OK(rule_parse_duration("2d", &ms, NULL));
    ASSERT_EQ(ms, 172800000);
    ASSERT_EQ(rule_parse_duration("0m", &ms, NULL), KAD_EINVAL);
    ASSERT_EQ(rule_parse_duration("5", &ms, NULL), KAD_EINVAL);
    ASSERT_EQ(rule_parse_duration("5mm", &ms, NULL), KAD_EINVAL);
}

/* tests/rules/datemath.test: NOW <tab> EXPR <tab> RESULT | %%FAIL message */
TEST(rules_datemath_cases)
{
    size_t len, n;
    char *text = t_read_file("tests/rules/datemath.test", &len);
    ASSERT_NOT_NULL(text);
    char **lines = t_split_lines(text, &n);
    size_t cases = 0;
    for (size_t i = 0; i < n; i++) {
        char *l = lines[i];
        if (!*l || *l == '#')
            continue;
        char *t1 = strchr(l, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            t_fail(__FILE__, __LINE__, "datemath.test:%zu: expected NOW<tab>EXPR<tab>RESULT",
                   i + 1);
        *t1 = *t2 = '\0';
        int64_t now, out = 0;
        ASSERT(ev_time_parse(l, strlen(l), &now));
        kad_err e;
        kad_err_clear(&e);
        char got[300], name[300];
        if (rule_datemath_eval(t1 + 1, now, &out, &e) == KAD_OK)
            ev_time_fmt_ms(out, got);
        else
            snprintf(got, sizeof got, "%%%%FAIL %s", e.msg);
        snprintf(name, sizeof name, "datemath.test:%zu: %s at %s", i + 1, t1 + 1, l);
        char why[700];
        snprintf(why, sizeof why, "expected %s\n  got      %s", t2 + 1, got);
        t_case(strcmp(got, t2 + 1) == 0, name, why);
        cases++;
    }
    ASSERT(cases > 20);
    kx_free(lines);
    kx_free(text);
}

/* tests/rules/window/NAME.toml + NAME.expect: "NOW: from F to T history H" or the error that
   rule_exec_window gives at NOW (rule paths relative to tests/rules/). */
TEST(rules_exec_window_cases)
{
    char **names;
    size_t nn = list_toml("tests/rules/window", &names);
    ASSERT(nn >= 3);
    for (size_t k = 0; k < nn; k++) {
        char path[512], exp[512];
        snprintf(path, sizeof path, "tests/rules/window/%s.toml", names[k]);
        snprintf(exp, sizeof exp, "tests/rules/window/%s.expect", names[k]);
        struct rule_set *rs = rule_set_new();
        int rc = rule_set_load(rs, path);
        size_t len, n;
        char *text = t_read_file(exp, &len);
        bool ok = rc == KAD_OK && rule_set_count(rs) == 1 && text;
        kx_buf why;
        kx_buf_init(&why, 1 << 16);
        if (!ok)
            diags_text(rs, "", &why);
        char **lines = text ? t_split_lines(text, &n) : NULL;
        for (size_t i = 0; ok && i < n; i++) {
            char *l = lines[i], *colon = strstr(l, "Z: ");
            if (!*l || *l == '#')
                continue;
            ASSERT_NOT_NULL(colon);
            int64_t now;
            ASSERT(ev_time_parse(l, (size_t)(colon + 1 - l), &now));
            struct rule_window w;
            kad_err e;
            kad_err_clear(&e);
            char got[1024];
            if (rule_exec_window(rule_set_get(rs, 0), now, &w, &e) == KAD_OK) {
                char f[32], t[32], h[32] = "-";
                ev_time_fmt_ms(w.from_ms, f);
                ev_time_fmt_ms(w.to_ms, t);
                if (w.history_ms != INT64_MIN)
                    ev_time_fmt_ms(w.history_ms, h);
                snprintf(got, sizeof got, "from %s to %s history %s", f, t, h);
            } else {
                const char *o = e.origin;
                if (strncmp(o, "tests/rules/", 12) == 0)
                    o += 12;
                snprintf(got, sizeof got, "%s:%u:%u: error: %s", o, e.line, e.col, e.msg);
            }
            if (strcmp(got, colon + 3) != 0) {
                kx_buf_addf(&why, "%s line %zu\n  expected: %s\n  got:      %s", exp, i + 1,
                            colon + 3, got);
                ok = false;
            }
        }
        t_case(ok, path, why.ptr);
        kx_buf_fini(&why);
        kx_free(lines);
        kx_free(text);
        rule_set_free(rs);
    }
    free_list(names, nn);
}

TEST(rules_set_lookup_and_missing_path)
{
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, "rules"));
    ASSERT_EQ(rule_set_count(rs), 3);
    ASSERT_NOT_NULL(rule_set_find(rs, "8a1db198-da6f-4500-b985-7fe2457300af"));
    ASSERT_NOT_NULL(rule_set_lookup(rs, "Kubernetes Forbidden Request from Unusual User Agent"));
    ASSERT_NULL(rule_set_find(rs, "nope"));
    ASSERT_EQ(rule_set_load(rs, "tests/rules/does-not-exist"), KAD_ERULE);
    ASSERT_EQ(rule_set_count(rs), 3);
    char buf[512];
    rule_diag_format(rule_set_diag(rs, rule_set_diag_count(rs) - 1), buf, sizeof buf);
    ASSERT_STR_EQ(buf, "tests/rules/does-not-exist: error: cannot open: No such file or directory");
    rule_set_free(rs);
}

/* ---- exceptions ------------------------------------------------------------------------------ */

#include "event/event.h"

#define FOUNDING "8a1db198-da6f-4500-b985-7fe2457300af"
#define FORBIDDEN "4b77d382-b78e-4aae-85a0-8841b80e4fc4"
#define ANONYMOUS "63c057cc-339a-11ed-a261-0242ac120002"
#define T2026_01_15 1768435200000LL
#define T2026_04_01 1775001600000LL

static bool excepted(const struct rule_set *rs, const char *rule_id, const char *json, int64_t ts)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct ev_node *doc = ev_json_parse(&a, json, strlen(json), "<test>", NULL);
    if (!doc)
        t_fail(__FILE__, __LINE__, "bad test JSON: %s", json);
    bool r = rule_excepted(rs, rule_set_find(rs, rule_id), doc, ts);
    kx_arena_fini(&a);
    return r;
}

static struct rule_set *load_with_exceptions(const char *exc, int want_rc)
{
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, "rules"));
    int rc = rule_set_load_exceptions(rs, exc);
    if (rc != want_rc) {
        for (size_t i = 0; i < rule_set_diag_count(rs); i++) {
            char buf[512];
            rule_diag_format(rule_set_diag(rs, i), buf, sizeof buf);
            printf("     %s\n", buf);
        }
        t_fail(__FILE__, __LINE__, "rule_set_load_exceptions(%s) = %d", exc, rc);
    }
    return rs;
}

TEST(rules_exceptions_shorthand_lists)
{
    struct rule_set *rs = load_with_exceptions("tests/rules/exceptions/kadet_shorthand.toml", 0);
    ASSERT_EQ(rule_set_exc_count(rs), 3);
    ASSERT_STR_EQ(rule_set_exc_describe(rs, 1),
                  "trusted-agents: 1 item (tests/rules/exceptions/kadet_shorthand.toml)");
    ASSERT_EQ(rule_set_find(rs, FOUNDING)->exc_n, 2); /* its own + "*" */
    ASSERT_EQ(rule_set_find(rs, ANONYMOUS)->exc_n, 1);
    ASSERT_EQ(rule_set_find(rs, FORBIDDEN)->exc_n, 2);
    /* value list, for every rule; CRLF and blank lines in the list file are handled */
    ASSERT(excepted(rs, ANONYMOUS, "{\"user_agent\":{\"original\":\"kube-probe/1.30\"}}", 0));
    ASSERT(excepted(rs, ANONYMOUS, "{\"user_agent.original\":\"Prometheus/2.51.0\"}", 0));
    ASSERT_FALSE(excepted(rs, ANONYMOUS, "{\"user_agent\":{\"original\":\"kube-probe/1.31\"}}", 0));
    ASSERT_FALSE(excepted(rs, ANONYMOUS, "{\"user_agent\":{\"original\":\"KUBE-PROBE/1.30\"}}", 0));
    ASSERT_FALSE(excepted(rs, ANONYMOUS, "{\"user_agent\":{}}", 0));
    /* expiry */
    const char *ci = "{\"kubernetes\":{\"audit\":{\"user\":{\"username\":"
                     "\"system:serviceaccount:ci:runner\"}}}}";
    ASSERT(excepted(rs, FORBIDDEN, ci, T2026_01_15));
    ASSERT_FALSE(excepted(rs, FORBIDDEN, ci, T2026_04_01));
    ASSERT_FALSE(excepted(rs, ANONYMOUS, ci, T2026_01_15)); /* not attached to it */
    rule_set_free(rs);
}

TEST(rules_exceptions_detection_rules_format)
{
    struct rule_set *rs =
        load_with_exceptions("tests/rules/exceptions/detection_rules_format.toml", 0);
    /* the value-list item is reported with Elastic's warning text */
    char buf[512];
    ASSERT_EQ(rule_set_diag_count(rs), 1);
    rule_diag_format(rule_set_diag(rs, 0), buf, sizeof buf);
    ASSERT_STR_EQ(buf, "tests/rules/exceptions/detection_rules_format.toml:85:1: warning: The "
                       "following exceptions won't be applied to rule execution: trusted ips "
                       "value list");
    ASSERT_EQ(rule_set_find(rs, ANONYMOUS)->exc_n, 1); /* rule_ids */
    ASSERT_EQ(rule_set_find(rs, FORBIDDEN)->exc_n, 1); /* rule_names */
    ASSERT_EQ(rule_set_find(rs, FOUNDING)->exc_n, 0);
    /* match_any + wildcard with '?' */
    ASSERT(excepted(rs, ANONYMOUS,
                    "{\"kubernetes\":{\"audit\":{\"requestURI\":\"/metrics\"}},"
                    "\"user_agent\":{\"original\":\"Prometheus/2.5.1\"}}",
                    0));
    ASSERT_FALSE(excepted(rs, ANONYMOUS,
                          "{\"kubernetes\":{\"audit\":{\"requestURI\":\"/metrics\"}},"
                          "\"user_agent\":{\"original\":\"Prometheus/2.51.0\"}}",
                          0));
    ASSERT_FALSE(excepted(rs, FOUNDING,
                          "{\"kubernetes\":{\"audit\":{\"requestURI\":\"/metrics\"}},"
                          "\"user_agent\":{\"original\":\"Prometheus/2.5.1\"}}",
                          0));
    /* excluded operator: everything but deletes */
    const char *get = "{\"kubernetes\":{\"audit\":{\"verb\":\"get\",\"user\":{\"username\":"
                      "\"system:serviceaccount:backup:velero\"}}}}";
    const char *del = "{\"kubernetes\":{\"audit\":{\"verb\":\"delete\",\"user\":{\"username\":"
                      "\"system:serviceaccount:backup:velero\"}}}}";
    ASSERT(excepted(rs, FORBIDDEN, get, 0));
    ASSERT_FALSE(excepted(rs, FORBIDDEN, del, 0));
    /* nested: both sub-entries must hold on the same element */
    ASSERT(excepted(rs, FORBIDDEN,
                    "{\"kubernetes\":{\"audit\":{\"impersonatedUser\":[{\"username\":\"x\"},"
                    "{\"username\":\"system:serviceaccount:ops:impersonator\",\"uid\":\"1\"}]}}}",
                    0));
    ASSERT_FALSE(excepted(rs, FORBIDDEN,
                          "{\"kubernetes\":{\"audit\":{\"impersonatedUser\":[{\"uid\":\"1\"},"
                          "{\"username\":\"system:serviceaccount:ops:impersonator\"}]}}}",
                          0));
    rule_set_free(rs);
}

TEST(rules_exceptions_kibana_export)
{
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, "tests/rules/good/new_terms_full.toml")); /* names the list */
    ASSERT_OK(rule_set_load_exceptions(rs, "tests/rules/exceptions/kibana_export.ndjson"));
    ASSERT_EQ(rule_set_exc_count(rs), 1);
    ASSERT_EQ(rule_set_diag_count(rs), 0);
    const char *id = rule_set_get(rs, 0)->rule_id;
    ASSERT_EQ(rule_set_get(rs, 0)->exc_n, 0); /* the rule names k8s-trusted-agents */
    rule_set_free(rs);

    rs = rule_set_new();
    ASSERT_OK(rule_set_load_exceptions(rs, "tests/rules/exceptions/kibana_export.ndjson"));
    ASSERT_OK(rule_set_load(rs, "tests/rules/good/query_minimal.toml"));
    ASSERT_EQ(rule_set_get(rs, 0)->exc_n, 0);
    rule_set_free(rs);
    (void)id;

    /* attach through a rule whose exceptions_list names k8s-kibana-list */
    rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, "tests/rules/exceptions/rule_with_kibana_list.toml"));
    ASSERT_OK(rule_set_load_exceptions(rs, "tests/rules/exceptions/kibana_export.ndjson"));
    const struct rule *r = rule_set_get(rs, 0);
    ASSERT_EQ(r->exc_n, 1);
    const char *ksm = "{\"kubernetes\":{\"audit\":{\"verb\":\"watch\"}},"
                      "\"user_agent\":{\"original\":\"kube-state-metrics/v2.12.0\"}}";
    ASSERT(excepted(rs, r->rule_id, ksm, T2026_04_01));
    ASSERT_FALSE(excepted(rs, r->rule_id,
                          "{\"kubernetes\":{\"audit\":{\"verb\":\"delete\"}},"
                          "\"user_agent\":{\"original\":\"kube-state-metrics/v2.12.0\"}}",
                          T2026_04_01));
    /* the exists item applies before its expire_time only */
    const char *any = "{\"kubernetes\":{\"audit\":{\"user\":{\"username\":\"alice\"}}}}";
    ASSERT(excepted(rs, r->rule_id, any, T2026_01_15));
    ASSERT_FALSE(excepted(rs, r->rule_id, any, T2026_04_01));
    rule_set_free(rs);
}

TEST(rules_exceptions_bad_files)
{
    struct rule_set *rs = rule_set_new();
    ASSERT_EQ(rule_set_load_exceptions(rs, "tests/rules/exceptions/bad_shorthand.toml"), KAD_ERULE);
    ASSERT_EQ(rule_set_load_exceptions(rs, "tests/rules/exceptions/bad_entries.ndjson"), KAD_ERULE);
    kx_buf got;
    kx_buf_init(&got, 1 << 20);
    diags_text(rs, "tests/rules/", &got);
    kx_buf why;
    kx_buf_init(&why, 1 << 16);
    bool ok = check_expect("tests/rules/exceptions/bad.expect", &got, &why);
    if (!ok)
        t_fail(__FILE__, __LINE__, "%s", why.ptr);
    kx_buf_fini(&got);
    kx_buf_fini(&why);
    rule_set_free(rs);
}

TEST(rules_exceptions_kql_query)
{
    struct rule_set *rs = load_with_exceptions("tests/rules/exceptions/kadet_shorthand.toml", 0);
    const char *argo =
        "{\"kubernetes\":{\"audit\":{\"user\":{\"username\":"
        "\"system:serviceaccount:argocd:argocd-application-controller\"}}},"
        "\"user_agent\":{\"original\":\"argocd-application-controller/v2.10.4+f5d63a5\"}}";
    ASSERT(excepted(rs, FOUNDING, argo, 0));
    ASSERT_FALSE(excepted(rs, FORBIDDEN, argo, 0)); /* the item names the founding rule only */
    /* the same user agent from another identity is not excepted */
    const char *other = "{\"kubernetes\":{\"audit\":{\"user\":{\"username\":\"mallory\"}}},"
                        "\"user_agent\":{\"original\":\"argocd-application-controller/v2.10.4\"}}";
    ASSERT_FALSE(excepted(rs, FOUNDING, other, 0));
    rule_set_free(rs);
}

TEST(rules_exceptions_bad_kql_position)
{
    struct rule_set *rs = rule_set_new();
    ASSERT_EQ(rule_set_load_exceptions(rs, "tests/rules/exceptions/bad_query.toml"), KAD_ERULE);
    ASSERT_EQ(rule_set_diag_count(rs), 1);
    char buf[512];
    rule_diag_format(rule_set_diag(rs, 0), buf, sizeof buf);
    ASSERT(strncmp(buf, "tests/rules/exceptions/bad_query.toml:4:44: error: exception 'x': query: ",
                   70) == 0);
    rule_set_free(rs);
}

/* ---- tests/rules/exceptions/entries.test: one Elastic exception item against documents ------ */

/* Load ITEM (a Kibana item line without list_id/item_id) into a rule set whose only rule names
 * the list; NULL (with why) when the item does not load. */
static struct rule_set *exc_item_set(const char *item, char *why, size_t cap)
{
    struct rule_set *rs = rule_set_new();
    if (rule_set_load(rs, "tests/rules/exceptions/rule_with_kibana_list.toml") != KAD_OK) {
        snprintf(why, cap, "cannot load the test rule");
        rule_set_free(rs);
        return NULL;
    }
    const char *brace = strchr(item, '{');
    size_t n = strlen(item) + 128;
    char *line = kx_malloc(n);
    snprintf(line, n, "{\"list_id\":\"k8s-kibana-list\",\"item_id\":\"t\",%s",
             brace ? brace + 1 : "");
    char path[] = "/tmp/kadet-exc-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f && fputs(line, f) >= 0;
    if (f)
        ok &= fclose(f) == 0;
    kx_free(line);
    int rc = ok ? rule_set_load_exceptions(rs, path) : -1;
    if (fd >= 0)
        unlink(path);
    if (rc != KAD_OK) {
        snprintf(why, cap, "the item does not load (%d)", rc);
        rule_set_free(rs);
        return NULL;
    }
    return rs;
}

TEST(rules_exceptions_entries_file)
{
    const char *file = "tests/rules/exceptions/entries.test";
    size_t len, n;
    char *text = t_read_file(file, &len);
    ASSERT_NOT_NULL(text);
    char **ln = t_split_lines(text, &n);
    for (size_t i = 0; i < n;) {
        if (ln[i][0] == '\0' || ln[i][0] == '#') {
            i++;
            continue;
        }
        const char *item = ln[i++];
        char why[1024];
        struct rule_set *rs = exc_item_set(item, why, sizeof why);
        const struct rule *r = rs ? rule_set_get(rs, 0) : NULL;
        for (; i + 1 < n && ln[i][0] != '\0' && ln[i][0] != '#'; i += 2) {
            const char *doc = ln[i], *want = ln[i + 1];
            char name[256];
            snprintf(name, sizeof name, "%s:%zu: %.70s", file, i + 1, item);
            if (!rs) {
                t_case(false, name, why);
                continue;
            }
            bool res = excepted(rs, r->rule_id, doc, 0);
            snprintf(why, sizeof why, "doc %s: got %s", doc, res ? "true" : "false");
            t_case(res == (strcmp(want, "true") == 0), name, why);
        }
        if (rs)
            rule_set_free(rs);
    }
    kx_free(ln);
    kx_free(text);
}

/* A rule file with 20,000 unknown keys: every warning at its own line, in order (the line index
   and the sort of diagnostics keep this linear; 100,000 took 74 s before). */
TEST(rules_many_diagnostics_positioned)
{
    kx_buf b;
    kx_buf_init(&b, 0);
    kx_buf_adds(&b, "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
                    "updated_date = \"2026/01/01\"\n[rule]\n");
    const uint32_t first_line = 6, n = 20000;
    for (uint32_t i = 0; i < n; i++)
        kx_buf_addf(&b, "unknown_key_%u = 1\n", i);
    kx_buf_adds(&b, "author = [\"t\"]\ndescription = \"d\"\nindex = [\"logs-*\"]\n"
                    "language = \"kuery\"\nlicense = \"Elastic License v2\"\nname = \"n\"\n"
                    "risk_score = 1\nrule_id = \"many-diags\"\nseverity = \"low\"\n"
                    "type = \"query\"\nquery = \"a:b\"\n");
    char path[] = "/tmp/kadet-diags-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, b.ptr, b.len), (ssize_t)b.len);
    close(fd);
    struct rule_set *rs = rule_set_new();
    ASSERT_OK(rule_set_load(rs, path));
    ASSERT_EQ(rule_set_count(rs), 1);
    ASSERT_EQ(rule_set_diag_count(rs), n);
    for (uint32_t i = 0; i < n; i++) {
        const struct rule_diag *d = rule_set_diag(rs, i);
        ASSERT_EQ(d->err.line, first_line + i);
        ASSERT_EQ(d->err.col, 1);
    }
    rule_set_free(rs);
    unlink(path);
    kx_buf_fini(&b);
}

/*
 * test_preview_cases.c - driver of the preview scenarios in tests/preview/<name>/:
 *
 *   rule.toml     the rule (Elastic's TOML format)
 *   input.jsonl   the documents (ECS documents or raw audit events)
 *   args          the preview arguments, one line (e.g. --end 2026-01-01T00:10:00Z)
 *   expected      the alerts and messages, one per line (see below)
 *   status        optional expected exit status (default 0)
 *
 * `kadet preview --rules rule.toml ARGS input.jsonl` runs inside the scenario folder (so args
 * may name other files there, e.g. --exceptions exceptions.toml). Each alert is reduced to
 *
 *   @timestamp ancestor-id new-terms [shell=[ANCESTOR-IDS]|bb=N] [user=USER.NAME (ES|QL)]
 *              [sup docs_count=N start=T end=T terms=JSON]
 *
 * and each message on standard error to `warning|error EXECUTION-TIME TEXT`, in output order
 * (alerts first, then messages). Each folder is one test case.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/vec.h"
#include "event/event.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct vals {
    kx_buf *out;
    int n;
};

static bool dump_val(const struct ev_node *v, bool partial, void *ctx)
{
    struct vals *l = ctx;
    if (partial)
        return false;
    if (l->n++)
        kx_buf_addc(l->out, ',');
    ev_json_dump(v, l->out);
    return false;
}

/* Append the values of path as a JSON array (or "-" when there is none). */
static void values(const struct ev_node *doc, const char *path, kx_buf *out)
{
    kx_buf tmp;
    kx_buf_init(&tmp, 0);
    struct vals l = {&tmp, 0};
    ev_values(doc, path, strlen(path), dump_val, &l);
    if (l.n == 0)
        kx_buf_adds(out, "-");
    else
        kx_buf_addf(out, "[%s]", tmp.ptr);
    kx_buf_fini(&tmp);
}

static void str_field(const struct ev_node *doc, const char *path, kx_buf *out)
{
    kx_str s = ev_first_str(doc, path);
    if (s.ptr)
        kx_buf_add(out, s.ptr, s.len);
    else
        kx_buf_adds(out, "-");
}

static void reduce_alert(const char *line, kx_buf *out)
{
    kx_arena a;
    kx_arena_init(&a, 4096, 0);
    struct ev_node *doc = ev_json_parse(&a, line, strlen(line), "<alert>", NULL);
    if (!doc) {
        kx_buf_addf(out, "BAD JSON: %s\n", line);
        kx_arena_fini(&a);
        return;
    }
    str_field(doc, "@timestamp", out);
    kx_buf_addc(out, ' ');
    str_field(doc, "kibana.alert.ancestors.id", out);
    kx_buf_addc(out, ' ');
    values(doc, "kibana.alert.new_terms", out);
    if (ev_first(doc, "kibana.alert.group.id", EV_STRING)) {
        /* an EQL sequence alert: the shell (its events' ids) or a building block (position) */
        const struct ev_node *gi = ev_first(doc, "kibana.alert.group.index", EV_NUMBER);
        if (gi) {
            kx_buf_addf(out, " bb=%.*s", (int)gi->len, gi->str);
        } else {
            kx_buf_adds(out, " shell=");
            values(doc, "kibana.alert.ancestors.id", out);
        }
    }
    kx_str rt = ev_first_str(doc, "kibana.alert.rule.type");
    if (rt.ptr && rt.len == 4 && memcmp(rt.ptr, "esql", 4) == 0) {
        /* an ES|QL alert: the row's user.name (source document or aggregate row) */
        kx_buf_adds(out, " user=");
        values(doc, "user.name", out);
    }
    const struct ev_node *dc = ev_first(doc, "kibana.alert.suppression.docs_count", EV_NUMBER);
    if (dc) {
        kx_buf_addf(out, " sup docs_count=%.*s start=", (int)dc->len, dc->str);
        str_field(doc, "kibana.alert.suppression.start", out);
        kx_buf_adds(out, " end=");
        str_field(doc, "kibana.alert.suppression.end", out);
        kx_buf_adds(out, " terms=");
        const struct ev_node *t = NULL;
        for (const struct ev_node *m = doc->child; m; m = m->next)
            if (m->key && strcmp(m->key, "kibana.alert.suppression.terms") == 0)
                t = m;
        if (t)
            ev_json_dump(t, out);
        else
            values(doc, "kibana.alert.suppression.terms", out);
    }
    kx_buf_addc(out, '\n');
    kx_arena_fini(&a);
}

/* "kadet preview: rule 'X' execution at T: warning: TEXT" -> "warning T TEXT" */
static void reduce_stderr(const char *text, kx_buf *out)
{
    const char *p = text;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *at = strstr(p, " execution at ");
        if (at && at < p + len) {
            const char *t = at + 14;
            const char *colon = strstr(t, ": ");
            if (colon && colon < p + len) {
                const char *kind = colon + 2;
                const char *colon2 = strstr(kind, ": ");
                if (colon2 && colon2 < p + len)
                    kx_buf_addf(out, "%.*s %.*s %.*s\n", (int)(colon2 - kind), kind,
                                (int)(colon - t), t, (int)(p + len - colon2 - 2), colon2 + 2);
            }
        }
        p = eol ? eol + 1 : NULL;
    }
}

static char *trim_line(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = 0;
    return s;
}

static void run_case(const char *root, const char *name, const char *kadet)
{
    kx_buf dirb, pb;
    kx_buf_init(&dirb, 0);
    kx_buf_init(&pb, 0);
    kx_buf_addf(&dirb, "%s/%s", root, name);
    const char *dir = dirb.ptr;
    kx_buf_addf(&pb, "%s/args", dir);
    char *args = t_read_file(pb.ptr, NULL);
    kx_buf_reset(&pb);
    kx_buf_addf(&pb, "%s/expected", dir);
    char *expected = t_read_file(pb.ptr, NULL);
    kx_buf_reset(&pb);
    kx_buf_addf(&pb, "%s/status", dir);
    char *status_s = t_read_file(pb.ptr, NULL);
    kx_buf_fini(&pb);
    int want_status = status_s ? atoi(status_s) : 0;
    kx_free(status_s);
    if (!args || !expected) {
        t_case(false, name, "args or expected missing");
        kx_free(args);
        kx_free(expected);
        kx_buf_fini(&dirb);
        return;
    }
    trim_line(args);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), ".");
    kx_buf errb;
    kx_buf_init(&errb, 0);
    kx_buf_addf(&errb, "%s/build/preview-%s.stderr", cwd, name);
    const char *errfile = errb.ptr;
    kx_buf cmd;
    kx_buf_init(&cmd, 0);
    kx_buf_addf(&cmd, "cd '%s' && '%s' preview --rules rule.toml %s input.jsonl 2>'%s'", dir, kadet,
                args, errfile);
    kx_buf got;
    kx_buf_init(&got, 0);
    FILE *p = popen(cmd.ptr, "r");
    char *line = NULL;
    size_t cap = 0;
    while (p && getline(&line, &cap, p) > 0)
        reduce_alert(trim_line(line), &got);
    free(line); /* allocated by getline */
    int st = p ? pclose(p) : -1;
    int code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char *err = t_read_file(errfile, NULL);
    reduce_stderr(err, &got);
    kx_buf detail;
    kx_buf_init(&detail, 0);
    bool ok = got.ptr && strcmp(got.ptr, expected) == 0 && code == want_status;
    if (!ok)
        kx_buf_addf(&detail, "exit %d (want %d)\n--- got:\n%s--- expected:\n%s--- stderr:\n%s",
                    code, want_status, got.ptr ? got.ptr : "", expected, err ? err : "");
    t_case(ok, name, detail.ptr);
    kx_buf_fini(&detail);
    kx_free(err);
    kx_buf_fini(&errb);
    kx_buf_fini(&got);
    kx_buf_fini(&cmd);
    kx_free(args);
    kx_free(expected);
    kx_buf_fini(&dirb);
}

TEST(preview_scenarios)
{
    const char *root = "tests/preview";
    char kadet[PATH_MAX];
    if (!realpath(t_kadet(), kadet))
        t_skip("no kadet binary at %s", t_kadet());
    char absroot[PATH_MAX];
    if (!realpath(root, absroot))
        t_skip("no %s", root);
    DIR *d = opendir(absroot);
    ASSERT_NOT_NULL(d);
    KX_VEC(char *) names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            KX_VEC_PUSH(&names, kx_strdup(e->d_name));
    closedir(d);
    qsort(names.ptr, names.len, sizeof(*names.ptr), cmp_str);
    for (size_t i = 0; i < names.len; i++) {
        run_case(absroot, names.ptr[i], kadet);
        kx_free(names.ptr[i]);
    }
    KX_VEC_FREE(&names);
}

/* ============================================================================================
 * Property: preview and scan agree (docs/preview.md, "Streaming versus scheduled").
 *
 * A generated 12-day log of 40 users x 6 user agents (new terms on both fields) where every gap
 * between two occurrences of a combination is longer than the 5-minute interval and none is
 * within ten minutes of the 10-day history window; preview runs executions every 5 minutes
 * over the whole log. Both commands must then raise the same (document, combination) alerts.
 * ============================================================================================ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

struct gen_ev {
    int64_t t;
    int user, agent;
    bool noise;
};

static int cmp_gen(const void *a, const void *b)
{
    const struct gen_ev *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* Reduced alerts of one command, sorted: "ancestor new_terms" per line. */
static char *reduced_sorted(const char *cmd, int *code)
{
    FILE *p = popen(cmd, "r");
    KX_VEC(char *) lines = {0};
    char *line = NULL;
    size_t cap = 0;
    while (p && getline(&line, &cap, p) > 0) {
        kx_buf b;
        kx_buf_init(&b, 0);
        reduce_alert(trim_line(line), &b);
        /* drop the @timestamp (the commands time alerts differently), add the alert uuid */
        char *sp = b.ptr ? strchr(b.ptr, ' ') : NULL;
        const char *u = strstr(line, "\"kibana.alert.uuid\":\"");
        kx_buf l2;
        kx_buf_init(&l2, 0);
        kx_buf_addf(&l2, "%.34s %s", u ? u + 20 : "-", sp ? sp + 1 : "\n");
        KX_VEC_PUSH(&lines, kx_buf_take(&l2, NULL));
        kx_buf_fini(&l2);
        kx_buf_fini(&b);
    }
    free(line); /* allocated by getline */
    int st = p ? pclose(p) : -1;
    *code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (lines.len)
        qsort(lines.ptr, lines.len, sizeof(*lines.ptr), cmp_str);
    kx_buf out;
    kx_buf_init(&out, 0);
    for (size_t i = 0; i < lines.len; i++) {
        kx_buf_adds(&out, lines.ptr[i]);
        kx_free(lines.ptr[i]);
    }
    KX_VEC_FREE(&lines);
    char *s = kx_buf_take(&out, NULL);
    kx_buf_fini(&out);
    return s;
}

TEST(preview_scan_agree)
{
    char kadet[PATH_MAX];
    if (!realpath(t_kadet(), kadet))
        t_skip("no kadet binary at %s", t_kadet());
    kx_buf cmd;
    kx_buf_init(&cmd, 0);
    kx_buf_addf(&cmd, "'%s' help scan >/dev/null 2>&1", kadet);
    if (system(cmd.ptr) != 0) {
        kx_buf_fini(&cmd);
        t_skip("kadet scan is not available yet");
    }

    const int64_t MINUTE = 60000, DAY = 1440 * MINUTE, W = 10 * DAY;
    const int64_t start = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    const int64_t span = 12 * DAY;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    KX_VEC(struct gen_ev) evs = {0};
    for (int u = 0; u < 40; u++)
        for (int a = 0; a < 6; a++) {
            if (rng_next(&seed) % 3 == 0)
                continue; /* not every user uses every agent */
            int64_t t = start + 1 + (int64_t)(rng_next(&seed) % (uint64_t)(span / 2));
            while (t < start + span) {
                struct gen_ev e = {t, u, a, false};
                KX_VEC_PUSH(&evs, e);
                uint64_t r = rng_next(&seed) % 100;
                int64_t gap;
                if (r < 60)
                    gap = 7 * MINUTE + (int64_t)(rng_next(&seed) % (uint64_t)(3 * 60 * MINUTE));
                else if (r < 95)
                    gap = (int64_t)(rng_next(&seed) % (uint64_t)(3 * DAY)) + 7 * MINUTE;
                else
                    gap = W + 11 * MINUTE + (int64_t)(rng_next(&seed) % (uint64_t)DAY);
                if (gap > W - 10 * MINUTE && gap < W + 10 * MINUTE)
                    gap = W + 11 * MINUTE;
                t += gap;
            }
        }
    for (int i = 0; i < 300; i++) { /* events the query does not match: neither side sees them */
        struct gen_ev e = {start + 1 + (int64_t)(rng_next(&seed) % (uint64_t)span), i % 30, i % 5,
                           true};
        KX_VEC_PUSH(&evs, e);
    }
    qsort(evs.ptr, evs.len, sizeof(*evs.ptr), cmp_gen);

    char cwd[PATH_MAX];
    ASSERT_NOT_NULL(getcwd(cwd, sizeof(cwd)));
    kx_buf logp, rulep;
    kx_buf_init(&logp, 0);
    kx_buf_init(&rulep, 0);
    kx_buf_addf(&logp, "%s/build/preview-scan-log.jsonl", cwd);
    kx_buf_addf(&rulep, "%s/build/preview-scan-rule.toml", cwd);
    FILE *f = fopen(logp.ptr, "w");
    ASSERT_NOT_NULL(f);
    int64_t last = start;
    for (size_t i = 0; i < evs.len; i++) {
        char ts[32];
        ev_time_fmt_ms(evs.ptr[i].t, ts);
        fprintf(f,
                "{\"_id\":\"e%zu\",\"@timestamp\":\"%s\",\"kubernetes\":{\"audit\":{\"verb\":"
                "\"get\"}},\"event\":{\"dataset\":\"%s\"},\"user\":{\"name\":\"user%d\"},"
                "\"user_agent\":{\"original\":\"agent/%d\"}}\n",
                i, ts, evs.ptr[i].noise ? "other" : "kubernetes.audit_logs", evs.ptr[i].user,
                evs.ptr[i].agent);
        last = evs.ptr[i].t;
    }
    fclose(f);
    f = fopen(rulep.ptr, "w");
    ASSERT_NOT_NULL(f);
    fputs("[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
          "updated_date = \"2026/01/01\"\n\n[rule]\nauthor = [\"kadet tests\"]\n"
          "description = \"Preview and scan agree.\"\nname = \"preview_scan_agree\"\n"
          "risk_score = 21\nrule_id = \"pv-scan-agree\"\nseverity = \"low\"\n"
          "type = \"new_terms\"\nlanguage = \"kuery\"\n"
          "query = 'event.dataset:\"kubernetes.audit_logs\"'\n\n[rule.new_terms]\n"
          "field = \"new_terms_fields\"\nvalue = [\"user.name\", \"user_agent.original\"]\n"
          "history_window_start = \"now-10d\"\n",
          f);
    fclose(f);

    /* executions every 5 minutes from `start` to past the last event */
    int64_t iv = 5 * MINUTE;
    int64_t end = start + ((last - start) / iv + 2) * iv;
    long n = (long)((end - start) / iv) + 1;
    char endts[32];
    ev_time_fmt_ms(end, endts);
    int c1, c2;
    kx_buf_reset(&cmd);
    kx_buf_addf(&cmd,
                "'%s' scan --no-state --now 2026-02-01T00:00:00Z --rules '%s' '%s' 2>/dev/null",
                kadet, rulep.ptr, logp.ptr);
    char *scan = reduced_sorted(cmd.ptr, &c1);
    kx_buf_reset(&cmd);
    kx_buf_addf(&cmd, "'%s' preview --rules '%s' --end %s --invocations %ld '%s' 2>/dev/null",
                kadet, rulep.ptr, endts, n, logp.ptr);
    char *prev = reduced_sorted(cmd.ptr, &c2);
    size_t nalerts = 0;
    for (const char *p = prev; p && *p; p++)
        nalerts += *p == '\n';
    const char *a = scan ? scan : "", *b = prev ? prev : "";
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    bool same = a[i] == b[i];
    while (i > 0 && a[i - 1] != '\n')
        i--;
    char diff[256];
    snprintf(diff, sizeof(diff), "scan:    %.100s\n  preview: %.100s", a + i, b + i);
    kx_free(scan);
    kx_free(prev);
    kx_buf_fini(&cmd);
    kx_buf_fini(&logp);
    kx_buf_fini(&rulep);
    KX_VEC_FREE(&evs);
    ASSERT_EQ(c1, 0);
    ASSERT_EQ(c2, 0);
    if (nalerts < 100) /* the log must exercise first sightings and forgetting */
        t_fail(__FILE__, __LINE__, "only %zu alerts", nalerts);
    if (!same)
        t_fail(__FILE__, __LINE__, "scan and preview differ at:\n  %s", diff);
}

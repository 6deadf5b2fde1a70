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
 *   @timestamp ancestor-id new-terms [sup docs_count=N start=T end=T terms=JSON]
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
    kad_buf *out;
    int n;
};

static bool dump_val(const struct ev_node *v, bool partial, void *ctx)
{
    struct vals *l = ctx;
    if (partial)
        return false;
    if (l->n++)
        kad_buf_addc(l->out, ',');
    ev_json_dump(v, l->out);
    return false;
}

/* Append the values of path as a JSON array (or "-" when there is none). */
static void values(const struct ev_node *doc, const char *path, kad_buf *out)
{
    kad_buf tmp;
    kad_buf_init(&tmp, 0);
    struct vals l = {&tmp, 0};
    ev_values(doc, path, strlen(path), dump_val, &l);
    if (l.n == 0)
        kad_buf_adds(out, "-");
    else
        kad_buf_addf(out, "[%s]", tmp.ptr);
    kad_buf_fini(&tmp);
}

static void str_field(const struct ev_node *doc, const char *path, kad_buf *out)
{
    kad_str s = ev_first_str(doc, path);
    if (s.ptr)
        kad_buf_add(out, s.ptr, s.len);
    else
        kad_buf_adds(out, "-");
}

static void reduce_alert(const char *line, kad_buf *out)
{
    kad_arena a;
    kad_arena_init(&a, 4096, 0);
    struct ev_node *doc = ev_json_parse(&a, line, strlen(line), "<alert>", NULL);
    if (!doc) {
        kad_buf_addf(out, "BAD JSON: %s\n", line);
        kad_arena_fini(&a);
        return;
    }
    str_field(doc, "@timestamp", out);
    kad_buf_addc(out, ' ');
    str_field(doc, "kibana.alert.ancestors.id", out);
    kad_buf_addc(out, ' ');
    values(doc, "kibana.alert.new_terms", out);
    const struct ev_node *dc = ev_first(doc, "kibana.alert.suppression.docs_count", EV_NUMBER);
    if (dc) {
        kad_buf_addf(out, " sup docs_count=%.*s start=", (int)dc->len, dc->str);
        str_field(doc, "kibana.alert.suppression.start", out);
        kad_buf_adds(out, " end=");
        str_field(doc, "kibana.alert.suppression.end", out);
        kad_buf_adds(out, " terms=");
        const struct ev_node *t = NULL;
        for (const struct ev_node *m = doc->child; m; m = m->next)
            if (m->key && strcmp(m->key, "kibana.alert.suppression.terms") == 0)
                t = m;
        if (t)
            ev_json_dump(t, out);
        else
            values(doc, "kibana.alert.suppression.terms", out);
    }
    kad_buf_addc(out, '\n');
    kad_arena_fini(&a);
}

/* "kadet preview: rule 'X' execution at T: warning: TEXT" -> "warning T TEXT" */
static void reduce_stderr(const char *text, kad_buf *out)
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
                    kad_buf_addf(out, "%.*s %.*s %.*s\n", (int)(colon2 - kind), kind,
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
    kad_buf dirb, pb;
    kad_buf_init(&dirb, 0);
    kad_buf_init(&pb, 0);
    kad_buf_addf(&dirb, "%s/%s", root, name);
    const char *dir = dirb.ptr;
    kad_buf_addf(&pb, "%s/args", dir);
    char *args = t_read_file(pb.ptr, NULL);
    kad_buf_reset(&pb);
    kad_buf_addf(&pb, "%s/expected", dir);
    char *expected = t_read_file(pb.ptr, NULL);
    kad_buf_reset(&pb);
    kad_buf_addf(&pb, "%s/status", dir);
    char *status_s = t_read_file(pb.ptr, NULL);
    kad_buf_fini(&pb);
    int want_status = status_s ? atoi(status_s) : 0;
    kad_free(status_s);
    if (!args || !expected) {
        t_case(false, name, "args or expected missing");
        kad_free(args);
        kad_free(expected);
        kad_buf_fini(&dirb);
        return;
    }
    trim_line(args);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), ".");
    kad_buf errb;
    kad_buf_init(&errb, 0);
    kad_buf_addf(&errb, "%s/build/preview-%s.stderr", cwd, name);
    const char *errfile = errb.ptr;
    kad_buf cmd;
    kad_buf_init(&cmd, 0);
    kad_buf_addf(&cmd, "cd '%s' && '%s' preview --rules rule.toml %s input.jsonl 2>'%s'", dir,
                 kadet, args, errfile);
    kad_buf got;
    kad_buf_init(&got, 0);
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
    kad_buf detail;
    kad_buf_init(&detail, 0);
    bool ok = got.ptr && strcmp(got.ptr, expected) == 0 && code == want_status;
    if (!ok)
        kad_buf_addf(&detail, "exit %d (want %d)\n--- got:\n%s--- expected:\n%s--- stderr:\n%s", code,
                     want_status, got.ptr ? got.ptr : "", expected, err ? err : "");
    t_case(ok, name, detail.ptr);
    kad_buf_fini(&detail);
    kad_free(err);
    kad_buf_fini(&errb);
    kad_buf_fini(&got);
    kad_buf_fini(&cmd);
    kad_free(args);
    kad_free(expected);
    kad_buf_fini(&dirb);
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
    KAD_VEC(char *) names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            KAD_VEC_PUSH(&names, kad_strdup(e->d_name));
    closedir(d);
    qsort(names.ptr, names.len, sizeof(*names.ptr), cmp_str);
    for (size_t i = 0; i < names.len; i++) {
        run_case(absroot, names.ptr[i], kadet);
        kad_free(names.ptr[i]);
    }
    KAD_VEC_FREE(&names);
}

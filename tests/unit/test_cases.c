/*
 * test_cases.c - driver of the end-to-end engine cases tests/cases/<name>/ (DESIGN 4.9,
 * suricata-verify style). Each case directory holds:
 *
 *   rules/            rule files (always passed as --rules rules)
 *   input.jsonl       input (used when there is no `steps` file)
 *   args              optional: extra scan arguments for the single run (one line)
 *   steps             optional: one scan per line, each line the arguments and inputs of that
 *                     run; all runs share one state file (restarts, baselines across runs)
 *   exit              optional: the expected exit status of every run (default 0)
 *   stderr            optional: lines that must each appear in the runs' stderr
 *   keys              optional: extra alert keys to keep in the projection (one per line)
 *   expected.jsonl    the alerts, projected (below), in output order
 *
 * Every run is `kadet scan --no-progress --now 2026-01-01T00:00:00Z --state S --rules rules ...`
 * from inside the case directory. Each alert is projected to {"rule", "doc", "time",
 * "new_terms"} plus the `keys`, so expected files stay short and reviewable by hand; volatile
 * fields (@timestamp) are pinned by --now anyway. KAD_CASES_UPDATE=1 rewrites expected.jsonl
 * (review the diff before committing).
 */
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/jsonw.h"
#include "event/event.h"
#include "test.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define CASES_DIR "tests/cases"

static char *read_opt(const char *dir, const char *name)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return t_read_file(p, NULL);
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static void put_value(kx_jsonw *w, kx_buf *tmp, const struct ev_node *v)
{
    kx_buf_reset(tmp);
    if (v)
        ev_json_dump(v, tmp);
    else
        kx_buf_adds(tmp, "null");
    kx_jsonw_raw(w, tmp->ptr, tmp->len);
}

/* Project one alert line; appends one line to out. */
static bool project(const char *line, size_t len, const char *keys, kx_buf *out)
{
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    kad_err err;
    struct ev_node *doc = ev_json_parse(&a, line, len, "<alert>", &err);
    if (!doc) {
        kx_buf_adds(out, "NOT JSON: ");
        kx_buf_add(out, line, len);
        kx_buf_addc(out, '\n');
        kx_arena_fini(&a);
        return false;
    }
    kx_buf tmp;
    kx_buf_init(&tmp, 1 << 24);
    kx_jsonw w;
    kx_jsonw_init(&w, out);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "rule");
    put_value(&w, &tmp, ev_member(doc, "kibana.alert.rule.rule_id", 25));
    const struct ev_node *anc = ev_member(doc, "kibana.alert.ancestors", 22);
    const struct ev_node *id = anc && anc->child ? ev_member(anc->child, "id", 2) : NULL;
    kx_jsonw_keyc(&w, "doc");
    put_value(&w, &tmp, id);
    kx_jsonw_keyc(&w, "time");
    put_value(&w, &tmp, ev_member(doc, "kadet.event_time", 16));
    const struct ev_node *nt = ev_member(doc, "kibana.alert.new_terms", 22);
    if (nt) {
        kx_jsonw_keyc(&w, "new_terms");
        put_value(&w, &tmp, nt);
    }
    if (keys) {
        const char *k = keys;
        while (*k) {
            const char *e = strchr(k, '\n');
            size_t kl = e ? (size_t)(e - k) : strlen(k);
            if (kl) {
                const struct ev_node *v = ev_member(doc, k, kl);
                kx_jsonw_key(&w, k, kl);
                put_value(&w, &tmp, v);
            }
            k += kl + (e != NULL);
        }
    }
    kx_jsonw_obj_end(&w);
    kx_buf_addc(out, '\n');
    kx_buf_fini(&tmp);
    kx_arena_fini(&a);
    return true;
}

static int run_scan(const char *dir, const char *kadet, const char *work, const char *rules,
                    const char *args)
{
    char cmd[PATH_MAX * 8 + 8192];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && '%s' scan --no-progress --now 2026-01-01T00:00:00Z --state '%s/state.db' "
             "%s %s >> '%s/out.jsonl' 2>> '%s/stderr.txt'",
             dir, kadet, work, rules, args, work, work);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static bool run_case(const char *name, char *detail, size_t dsize)
{
    char dir[PATH_MAX], work[PATH_MAX], kadet[PATH_MAX], p[PATH_MAX + 64];
    snprintf(dir, sizeof(dir), "%s/%s", CASES_DIR, name);
    snprintf(p, sizeof(p), "build/cases/%s", name);
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", p, p);
    if (system(cmd) != 0 || !realpath(p, work) || !realpath(t_kadet(), kadet)) {
        snprintf(detail, dsize, "cannot prepare %s or find %s", p, t_kadet());
        return false;
    }
    char *args = read_opt(dir, "args");
    char *steps = read_opt(dir, "steps");
    char *exitf = read_opt(dir, "exit");
    char *errf = read_opt(dir, "stderr");
    char *keys = read_opt(dir, "keys");
    char *shared = read_opt(dir, "shared-rules");
    int want = exitf ? atoi(exitf) : 0;
    bool ok = true;
    detail[0] = '\0';
    char rules[PATH_MAX * 4] = "";
    snprintf(p, sizeof(p), "%s/rules", dir);
    struct stat sb;
    if (stat(p, &sb) == 0)
        snprintf(rules, sizeof(rules), "--rules rules");
    if (shared) {
        const char *sd = t_shared_data();
        char sdabs[PATH_MAX];
        if (!sd || !realpath(sd, sdabs)) {
            printf("skip %s: ../shared/data is absent\n", name);
            snprintf(detail, dsize, "skipped");
            goto done;
        }
        char *save = NULL;
        for (char *line = strtok_r(shared, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            size_t l = strlen(rules);
            if (*line)
                snprintf(rules + l, sizeof(rules) - l, " --rules '%s/%s'", sdabs, line);
        }
    }
    if (steps) {
        char *save = NULL;
        int n = 0;
        for (char *line = strtok_r(steps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!*line || *line == '#')
                continue;
            n++;
            int rc = run_scan(dir, kadet, work, rules, line);
            if (rc != want && ok) {
                snprintf(detail, dsize, "step %d (%s): exit %d, expected %d (see %s/stderr.txt)", n,
                         line, rc, want, work);
                ok = false;
            }
        }
    } else {
        char a[8192];
        if (args)
            chomp(args);
        snprintf(a, sizeof(a), "%s input.jsonl", args ? args : "");
        int rc = run_scan(dir, kadet, work, rules, a);
        if (rc != want) {
            snprintf(detail, dsize, "exit %d, expected %d (see %s/stderr.txt)", rc, want, work);
            ok = false;
        }
    }
    if (errf) {
        snprintf(p, sizeof(p), "%s/stderr.txt", work);
        char *got = t_read_file(p, NULL);
        char *save = NULL;
        for (char *line = strtok_r(errf, "\n", &save); line && ok;
             line = strtok_r(NULL, "\n", &save)) {
            if (*line && (!got || !strstr(got, line))) {
                snprintf(detail, dsize, "stderr lacks \"%s\" (see %s/stderr.txt)", line, work);
                ok = false;
            }
        }
        kx_free(got);
    }
    snprintf(p, sizeof(p), "%s/out.jsonl", work);
    size_t olen = 0;
    char *outs = t_read_file(p, &olen);
    kx_buf proj;
    kx_buf_init(&proj, (size_t)1 << 28);
    kx_buf_adds(&proj, ""); /* allocated even when there are no alerts */
    for (char *s = outs; s && *s;) {
        char *e = strchr(s, '\n');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l)
            project(s, l, keys, &proj);
        s += l + (e != NULL);
    }
    snprintf(p, sizeof(p), "%s/expected.jsonl", dir);
    if (getenv("KAD_CASES_UPDATE")) {
        FILE *f = fopen(p, "wb");
        if (f) {
            fwrite(proj.ptr, 1, proj.len, f);
            fclose(f);
        }
    } else if (ok) {
        char *exp = t_read_file(p, NULL);
        if (!exp || strcmp(exp, proj.ptr) != 0) {
            snprintf(p, sizeof(p), "%s/projected.jsonl", work);
            FILE *f = fopen(p, "wb");
            if (f) {
                fwrite(proj.ptr, 1, proj.len, f);
                fclose(f);
            }
            snprintf(detail, dsize, "alerts differ: diff %s/expected.jsonl %s", dir, p);
            ok = false;
        }
        kx_free(exp);
    }
    kx_buf_fini(&proj);
    kx_free(outs);
done:
    kx_free(shared);
    kx_free(args);
    kx_free(steps);
    kx_free(exitf);
    kx_free(errf);
    kx_free(keys);
    return ok;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

TEST(cases)
{
    DIR *d = opendir(CASES_DIR);
    if (!d)
        t_skip("no %s directory", CASES_DIR);
    char *names[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        struct stat sb;
        snprintf(p, sizeof(p), "%s/%s", CASES_DIR, e->d_name);
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            names[n++] = kx_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_name);
    for (size_t i = 0; i < n; i++) {
        char detail[PATH_MAX * 3];
        bool ok = run_case(names[i], detail, sizeof(detail));
        t_case(ok, names[i], detail);
        kx_free(names[i]);
    }
}

/*
 * run.c - kadet's test runner: unit tests (TEST functions collected into build/gen/
 * test_list.h), data-driven drivers (which report each case with t_case), the shell CLI tests
 * (tests/cli/test_*.sh, run against $KADET) and the fuzz corpus replay (every file under
 * fuzz/corpus/<target>/ through the target's entry point).
 *
 * Prints one line per test or case and ends with the plain line `N passed, N failed`
 * (`, N skipped` when some were skipped). Exit status: 0 when nothing failed.
 *
 * Options: --filter SUBSTR (run tests whose name contains SUBSTR), --list, --no-cli,
 * --no-fuzz, -q (print failures and the summary only).
 */
#include "test.h"

#include "base/alloc.h"
#include "fuzz.h"
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define X(name) void test_##name(void);
#include "test_list.h"
#undef X
#define X(name) int fuzz_##name(const uint8_t *data, size_t size);
#include "fuzz_list.h"
#undef X

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
#define X(name) {#name, test_##name},
#include "test_list.h"
#undef X
    {NULL, NULL},
};

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} fuzzers[] = {
#define X(name) {#name, fuzz_##name},
#include "fuzz_list.h"
#undef X
    {NULL, NULL},
};

static unsigned long n_pass, n_fail, n_skip;
static int quiet;
static jmp_buf jb;
static int in_test;
static char fail_msg[4096];
static char skip_msg[1024];
static const char *cur_test;
static unsigned long cur_cases;

void t_fail(const char *file, int line, const char *fmt, ...)
{
    int n = snprintf(fail_msg, sizeof(fail_msg), "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_msg + n, sizeof(fail_msg) - (size_t)n, fmt, ap);
    va_end(ap);
    if (in_test)
        longjmp(jb, 1);
    fprintf(stderr, "%s\n", fail_msg);
    exit(1);
}

void t_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(skip_msg, sizeof(skip_msg), fmt, ap);
    va_end(ap);
    if (in_test)
        longjmp(jb, 2);
    exit(0);
}

bool t_case(bool ok, const char *name, const char *detail)
{
    cur_cases++;
    if (ok) {
        n_pass++;
        if (!quiet)
            printf("ok   %s/%s\n", cur_test, name);
    } else {
        n_fail++;
        printf("FAIL %s/%s\n", cur_test, name);
        if (detail && *detail)
            printf("     %s\n", detail);
    }
    fflush(stdout);
    return ok;
}

const char *t_shared_data(void)
{
    static char path[4096];
    const char *env = getenv("KAD_SHARED_DATA");
    snprintf(path, sizeof(path), "%s", env && *env ? env : "../shared/data");
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return path;
}

const char *t_kadet(void)
{
    const char *k = getenv("KADET");
    return k && *k ? k : "./kadet";
}

char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = kx_malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = kx_realloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char **t_split_lines(char *text, size_t *n)
{
    size_t cap = 64;
    char **v = kx_malloc(cap * sizeof(*v));
    *n = 0;
    for (char *p = text; *p;) {
        char *e = strchr(p, '\n');
        if (*n == cap) {
            cap *= 2;
            v = kx_realloc(v, cap * sizeof(*v));
        }
        v[(*n)++] = p;
        if (!e)
            break;
        *e = '\0';
        p = e + 1;
    }
    return v;
}

static void run_one(const char *name, void (*fn)(void))
{
    cur_test = name;
    cur_cases = 0;
    fail_msg[0] = skip_msg[0] = '\0';
    in_test = 1;
    int r = setjmp(jb);
    if (r == 0) {
        fn();
        in_test = 0;
        if (cur_cases == 0) {
            n_pass++;
            if (!quiet)
                printf("ok   %s\n", name);
        }
    } else if (r == 1) {
        in_test = 0;
        n_fail++;
        printf("FAIL %s\n     %s\n", name, fail_msg);
    } else {
        in_test = 0;
        n_skip++;
        printf("skip %s: %s\n", name, skip_msg);
    }
    fflush(stdout);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted names of the regular files in dir that start with prefix and end with suffix. */
static char **list_dir(const char *dir, const char *prefix, const char *suffix, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), pl = strlen(prefix), sl = strlen(suffix);
        if (e->d_name[0] == '.' || l < pl + sl || strncmp(e->d_name, prefix, pl) != 0 ||
            strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = kx_realloc(v, cap * sizeof(*v));
        }
        v[(*n)++] = kx_strdup(e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kx_free(v[i]);
    kx_free(v);
}

/* Each tests/cli/test_*.sh is one test: exit 0 passes, 77 skips, anything else fails. */
static void run_cli(const char *filter)
{
    size_t n;
    char **files = list_dir("tests/cli", "test_", ".sh", &n);
    for (size_t i = 0; i < n; i++) {
        char name[512];
        snprintf(name, sizeof(name), "cli/%s", files[i]);
        if (filter && !strstr(name, filter))
            continue;
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "bash tests/cli/%s > build/cli-%s.log 2>&1", files[i], files[i]);
        int st = system(cmd);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        if (code == 0) {
            n_pass++;
            if (!quiet)
                printf("ok   %s\n", name);
        } else if (code == 77) {
            n_skip++;
            printf("skip %s (see build/cli-%s.log)\n", name, files[i]);
        } else {
            n_fail++;
            printf("FAIL %s (exit %d)\n", name, code);
            char log[512];
            snprintf(log, sizeof(log), "build/cli-%s.log", files[i]);
            char *text = t_read_file(log, NULL);
            if (text) {
                printf("---- %s ----\n%s\n----\n", log, text);
                kx_free(text);
            }
        }
        fflush(stdout);
    }
    free_list(files, n);
}

/* Replay fuzz/corpus/<target>/ * through each target: one test per target. */
static void run_fuzz_replay(const char *filter)
{
    for (size_t t = 0; fuzzers[t].name; t++) {
        char name[256], dir[512];
        snprintf(name, sizeof(name), "fuzz_replay/%s", fuzzers[t].name);
        if (filter && !strstr(name, filter))
            continue;
        snprintf(dir, sizeof(dir), "fuzz/corpus/%s", fuzzers[t].name);
        size_t n;
        char **files = list_dir(dir, "", "", &n);
        for (size_t i = 0; i < n; i++) {
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            size_t len;
            char *data = t_read_file(path, &len);
            if (data) {
                fuzzers[t].fn((const uint8_t *)data, len);
                kx_free(data);
            }
        }
        free_list(files, n);
        n_pass++;
        if (!quiet)
            printf("ok   %s (%zu inputs)\n", name, n);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int no_cli = 0, no_fuzz = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (strcmp(argv[i], "--list") == 0) {
            for (size_t t = 0; tests[t].name; t++)
                printf("%s\n", tests[t].name);
            return 0;
        } else if (strcmp(argv[i], "--no-cli") == 0) {
            no_cli = 1;
        } else if (strcmp(argv[i], "--no-fuzz") == 0) {
            no_fuzz = 1;
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else {
            fprintf(stderr, "usage: run [--filter SUBSTR] [--list] [--no-cli] [--no-fuzz] [-q]\n");
            return 2;
        }
    }
    for (size_t t = 0; tests[t].name; t++) {
        if (filter && !strstr(tests[t].name, filter))
            continue;
        run_one(tests[t].name, tests[t].fn);
    }
    if (!no_fuzz)
        run_fuzz_replay(filter);
    if (!no_cli)
        run_cli(filter);
    if (n_skip)
        printf("%lu passed, %lu failed, %lu skipped\n", n_pass, n_fail, n_skip);
    else
        printf("%lu passed, %lu failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

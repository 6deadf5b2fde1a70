/*
 * ruleset.c - a set of rules from one or more loads: the arena that owns them, the
 * diagnostics, directory walking, lookups.
 *
 * Loading never stops at the first problem: every file of a directory is read and every problem
 * becomes one diagnostic (Suricata counts good and bad signatures the same way). A rule with an
 * error is not added to the set; a warning does not keep it out. This file does not parse
 * anything itself (rule_load.c reads rules, rule_exceptions.c exception files).
 */
#include "rule/rule_int.h"

#include "base/alloc.h"
#include "base/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct rule_set *rule_set_new(void)
{
    struct rule_set *rs = kx_calloc(1, sizeof *rs);
    kx_arena_init(&rs->arena, 64 * 1024, 0);
    return rs;
}

void rule_set_free(struct rule_set *rs)
{
    if (!rs)
        return;
    KX_VEC_FREE(&rs->rules);
    KX_VEC_FREE(&rs->diags);
    KX_VEC_FREE(&rs->lists);
    kx_lines_fini(&rs->lines);
    kx_arena_fini(&rs->arena);
    kx_free(rs);
}

char *rs_strdup(struct rule_set *rs, const char *s)
{
    return s ? kx_arena_strndup(&rs->arena, s, strlen(s)) : NULL;
}

/* ---- diagnostics ----------------------------------------------------------------------------- */

static void add_diag(struct rule_set *rs, bool is_error, const char *origin, uint32_t line,
                     uint32_t col, int64_t offset, const char *fmt, va_list ap)
{
    struct rule_diag d = {.is_error = is_error};
    kad_err_clear(&d.err);
    d.err.code = is_error ? KAD_ERULE : KAD_OK;
    d.err.origin = rs_strdup(rs, origin);
    d.err.line = line;
    d.err.col = col;
    d.err.offset = offset;
    vsnprintf(d.err.msg, sizeof d.err.msg, fmt, ap);
    KX_VEC_PUSH(&rs->diags, d);
    if (is_error)
        rs->had_error = true;
}

void rs_diag(struct rule_set *rs, bool is_error, const char *origin, const char *text, size_t len,
             size_t offset, const char *fmt, ...)
{
    uint32_t line = 0, col = 0;
    if (text)
        kx_lines_locate(&rs->lines, text, len, offset, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    add_diag(rs, is_error, origin, line, col, text ? (int64_t)offset : -1, fmt, ap);
    va_end(ap);
}

void rs_diag_lc(struct rule_set *rs, bool is_error, const char *origin, uint32_t line, uint32_t col,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_diag(rs, is_error, origin, line, col, -1, fmt, ap);
    va_end(ap);
}

static void diag_plain(struct rule_set *rs, bool is_error, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void diag_plain(struct rule_set *rs, bool is_error, const char *origin, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_diag(rs, is_error, origin, 0, 0, -1, fmt, ap);
    va_end(ap);
}

void rs_diag_err(struct rule_set *rs, bool is_error, const kad_err *e)
{
    rs_diag_lc(rs, is_error, e->origin, e->line, e->col, "%s", e->msg);
    rs->diags.ptr[rs->diags.len - 1].err.offset = e->offset;
}

int rule_diag_format(const struct rule_diag *d, char *buf, size_t size)
{
    const kad_err *e = &d->err;
    const char *kind = d->is_error ? "error" : "warning";
    const char *o = e->origin && e->origin[0] ? e->origin : NULL;
    if (o && e->line && e->col)
        return snprintf(buf, size, "%s:%u:%u: %s: %s", o, e->line, e->col, kind, e->msg);
    if (o && e->line)
        return snprintf(buf, size, "%s:%u: %s: %s", o, e->line, kind, e->msg);
    if (o)
        return snprintf(buf, size, "%s: %s: %s", o, kind, e->msg);
    return snprintf(buf, size, "%s: %s", kind, e->msg);
}

size_t rule_set_diag_count(const struct rule_set *rs) { return rs->diags.len; }

const struct rule_diag *rule_set_diag(const struct rule_set *rs, size_t i)
{
    return i < rs->diags.len ? &rs->diags.ptr[i] : NULL;
}

/* ---- files ----------------------------------------------------------------------------------- */

char *rs_read_file(struct rule_set *rs, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_plain(rs, true, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    kx_buf b;
    kx_buf_init(&b, RULE_MAX_FILE);
    char chunk[16384];
    size_t r;
    bool too_big = false;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (kx_buf_add(&b, chunk, r) != KAD_OK) {
            too_big = true;
            break;
        }
    }
    bool rerr = ferror(f);
    fclose(f);
    if (too_big || rerr) {
        if (too_big)
            diag_plain(rs, true, path, "file larger than %zu bytes", RULE_MAX_FILE);
        else
            diag_plain(rs, true, path, "read error");
        kx_buf_fini(&b);
        return NULL;
    }
    if (!b.ptr)
        kx_buf_addc(&b, 0), b.len = 0;
    return kx_buf_take(&b, len);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .toml file (for exceptions also .ndjson and .json) below dir, sorted, recursively. */
static void walk(struct rule_set *rs, const char *dir, bool exceptions,
                 void (*fn)(struct rule_set *, const char *, bool), int depth)
{
    if (depth > 16) {
        diag_plain(rs, true, dir, "directories nested too deeply");
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        diag_plain(rs, true, dir, "cannot open directory: %s", strerror(errno));
        return;
    }
    KX_VEC(char *) names = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        KX_VEC_PUSH(&names, kx_strdup(de->d_name));
    }
    closedir(d);
    if (names.len)
        qsort(names.ptr, names.len, sizeof *names.ptr, cmp_str);
    for (size_t i = 0; i < names.len; i++) {
        size_t n = strlen(dir) + strlen(names.ptr[i]) + 2;
        char *path = kx_malloc(n);
        snprintf(path, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names.ptr[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            walk(rs, path, exceptions, fn, depth + 1);
        } else {
            size_t l = strlen(path);
            bool want = l > 5 && strcmp(path + l - 5, ".toml") == 0;
            if (exceptions)
                want = want || (l > 7 && strcmp(path + l - 7, ".ndjson") == 0) ||
                       (l > 5 && strcmp(path + l - 5, ".json") == 0);
            if (want)
                fn(rs, path, false);
        }
        kx_free(path);
        kx_free(names.ptr[i]);
    }
    KX_VEC_FREE(&names);
}

static void load_rule_file(struct rule_set *rs, const char *path, bool unused)
{
    size_t len;
    char *text = rs_read_file(rs, path, &len);
    rs->files++;
    if (text)
        rule_load_text(rs, path, text, len);
    kx_free(text);
}

static void load_exc_file(struct rule_set *rs, const char *path, bool unused)
{
    size_t len;
    char *text = rs_read_file(rs, path, &len);
    if (text)
        rule_exc_load_text(rs, path, text, len);
    kx_free(text);
}

static int load_path(struct rule_set *rs, const char *path, bool exceptions)
{
    size_t before = rs->diags.len;
    struct stat st;
    if (stat(path, &st) != 0) {
        diag_plain(rs, true, path, "cannot open: %s", strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        walk(rs, path, exceptions, exceptions ? load_exc_file : load_rule_file, 0);
    } else if (exceptions) {
        load_exc_file(rs, path, false);
    } else {
        load_rule_file(rs, path, false);
    }
    rule_exc_attach(rs);
    for (size_t i = before; i < rs->diags.len; i++)
        if (rs->diags.ptr[i].is_error)
            return KAD_ERULE;
    return KAD_OK;
}

int rule_set_load(struct rule_set *rs, const char *path) { return load_path(rs, path, false); }

int rule_set_load_text(struct rule_set *rs, const char *origin, const char *text, size_t len)
{
    size_t before = rs->diags.len;
    char *copy = kx_strndup(text, len); /* the loader reads a NUL-terminated text */
    rule_load_text(rs, origin, copy, len);
    kx_free(copy);
    rule_exc_attach(rs);
    for (size_t i = before; i < rs->diags.len; i++)
        if (rs->diags.ptr[i].is_error)
            return KAD_ERULE;
    return KAD_OK;
}

int rule_set_load_exceptions(struct rule_set *rs, const char *path)
{
    return load_path(rs, path, true);
}

/* ---- lookups --------------------------------------------------------------------------------- */

size_t rule_set_count(const struct rule_set *rs) { return rs->rules.len; }

size_t rule_set_file_count(const struct rule_set *rs) { return rs->files; }

const struct rule *rule_set_get(const struct rule_set *rs, size_t i)
{
    return i < rs->rules.len ? rs->rules.ptr[i] : NULL;
}

const struct rule *rule_set_find(const struct rule_set *rs, const char *rule_id)
{
    for (size_t i = 0; i < rs->rules.len; i++)
        if (rs->rules.ptr[i]->rule_id && strcmp(rs->rules.ptr[i]->rule_id, rule_id) == 0)
            return rs->rules.ptr[i];
    return NULL;
}

const struct rule *rule_set_lookup(const struct rule_set *rs, const char *id_or_name)
{
    const struct rule *r = rule_set_find(rs, id_or_name);
    for (size_t i = 0; !r && i < rs->rules.len; i++)
        if (strcmp(rs->rules.ptr[i]->name, id_or_name) == 0)
            r = rs->rules.ptr[i];
    return r;
}

size_t rule_set_exc_count(const struct rule_set *rs) { return rs->lists.len; }

const char *rule_set_exc_describe(const struct rule_set *rs, size_t i)
{
    return i < rs->lists.len ? rs->lists.ptr[i]->describe : NULL;
}

/*
 * err.c - the error code table (generated from KAD_ERRNO_MAP in include/kad.h), kad_err
 * filling and formatting, and byte offset -> line:col conversion.
 */
#include "err.h"

#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kad_strerror(int code)
{
    switch (code) {
    case KAD_OK: return "success";
#define X(name, val, desc)                                                                         \
    case KAD_##name: return desc;
        KAD_ERRNO_MAP(X)
#undef X
    default: return "unknown error";
    }
}

const char *kad_err_name(int code)
{
    switch (code) {
    case KAD_OK: return "KAD_OK";
#define X(name, val, desc)                                                                         \
    case KAD_##name: return "KAD_" #name;
        KAD_ERRNO_MAP(X)
#undef X
    default: return "KAD_EUNKNOWN";
    }
}

const char *kad_version(void) { return KAD_VERSION; }

void kad_err_clear(kad_err *err)
{
    if (!err)
        return;
    err->code = KAD_OK;
    err->origin = NULL;
    err->line = err->col = 0;
    err->offset = -1;
    err->msg[0] = '\0';
}

static int vset(kad_err *err, int code, const char *origin, uint32_t line, uint32_t col,
                int64_t offset, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->origin = origin;
    err->line = line;
    err->col = col;
    err->offset = offset;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    /* curl's failf rule: no trailing newline in messages */
    size_t n = strlen(err->msg);
    while (n && err->msg[n - 1] == '\n')
        err->msg[--n] = '\0';
    return code;
}

int kx_err_setf(kad_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, err ? err->origin : NULL, 0, 0, -1, fmt, ap);
    va_end(ap);
    return code;
}

int kx_err_at(kad_err *err, int code, const char *origin, const char *text, size_t text_len,
              size_t offset, const char *fmt, ...)
{
    uint32_t line = 0, col = 0;
    if (text)
        kx_locate(text, text_len, offset, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, origin, line, col, (int64_t)offset, fmt, ap);
    va_end(ap);
    return code;
}

int kx_err_atlc(kad_err *err, int code, const char *origin, uint32_t line, uint32_t col,
                int64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, origin, line, col, offset, fmt, ap);
    va_end(ap);
    return code;
}

void kx_locate(const char *text, size_t len, size_t offset, uint32_t *line, uint32_t *col)
{
    if (offset > len)
        offset = len;
    uint32_t l = 1;
    size_t bol = 0;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            l++;
            bol = i + 1;
        }
    }
    *line = l;
    *col = (uint32_t)(offset - bol + 1);
}

void kx_lines_forget(struct kx_lines *li)
{
    li->text = NULL;
    li->len = 0;
    li->n = 0;
}

void kx_lines_fini(struct kx_lines *li)
{
    kx_free(li->start);
    li->start = NULL;
    li->cap = 0;
    kx_lines_forget(li);
}

static void lines_push(struct kx_lines *li, size_t start)
{
    if (li->n == li->cap) {
        li->cap = li->cap ? li->cap * 2 : 64;
        li->start = kx_realloc(li->start, li->cap * sizeof(*li->start));
    }
    li->start[li->n++] = start;
}

static void lines_build(struct kx_lines *li, const char *text, size_t len)
{
    li->text = text;
    li->len = len;
    li->n = 0;
    lines_push(li, 0);
    const char *end = text + len;
    for (const char *p = text; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines_push(li, (size_t)(p - text) + 1);
}

void kx_lines_locate(struct kx_lines *li, const char *text, size_t len, size_t offset,
                     uint32_t *line, uint32_t *col)
{
    if (li->text != text || li->len != len || li->n == 0)
        lines_build(li, text, len);
    if (offset > len)
        offset = len;
    size_t lo = 0, hi = li->n; /* last start <= offset */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (li->start[mid] <= offset)
            lo = mid;
        else
            hi = mid;
    }
    *line = (uint32_t)(lo + 1);
    *col = (uint32_t)(offset - li->start[lo] + 1);
}

int kad_err_format(const kad_err *err, char *buf, size_t size)
{
    const char *origin = err->origin && err->origin[0] ? err->origin : NULL;
    const char *msg = err->msg[0] ? err->msg : kad_strerror(err->code);
    if (origin && err->line && err->col)
        return snprintf(buf, size, "%s:%u:%u: error: %s", origin, err->line, err->col, msg);
    if (origin && err->line)
        return snprintf(buf, size, "%s:%u: error: %s", origin, err->line, msg);
    if (origin)
        return snprintf(buf, size, "%s: error: %s", origin, msg);
    return snprintf(buf, size, "error: %s", msg);
}

_Noreturn void kx_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "kadet: internal error at %s:%d: %s\n", file, line, what);
    abort();
}

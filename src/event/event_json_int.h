/*
 * event_json_int.h - private to src/event/: what the JSON parser (event_json.c) and the
 * single-pass extractor (event_extract.c) share: the parser state, its error reporting, the
 * bump allocation of nodes and strings, the object/array punctuation, and the full parse of one
 * value (the extractor builds the members on its paths with it). Other modules include
 * event/event.h only.
 */
#ifndef KAD_EVENT_JSON_INT_H
#define KAD_EVENT_JSON_INT_H

#include "event/event.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/err.h"
#include "event_lex.inc"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct jp {
    kx_arena *a;
    const char *s;   /* start of the document (for offsets) */
    const char *end; /* one past the last byte */
    const char *origin;
    kad_err *err;
    uint32_t depth;
    uint32_t max_depth;
    int rc;
    char *bump, *bump_end; /* current block taken from the arena (see jalloc) */
};

/* Records the first error (code, message at byte `at`) and returns NULL. */
void *ev_jp_fail_at(struct jp *j, int code, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A lexer error (event_lex.inc) through ev_jp_fail_at. */
void *ev_jp_fail_lex(struct jp *j, const struct lex_err *le);
/* The full parse of one value at p into *out; the position after it, or NULL (error set). */
const char *ev_jp_parse_value(struct jp *j, const char *p, struct ev_node *out);

/*
 * Small allocations (nodes, strings) are bumped out of blocks taken from the arena: an
 * inlined pointer bump instead of a call per node, which was a tenth of the extractor's
 * instructions. Big strings go to the arena directly. Everything still dies with the arena.
 */
#define JBLOCK 4096

static inline void *jalloc(struct jp *j, size_t n, size_t align)
{
    uintptr_t p = ((uintptr_t)j->bump + (align - 1)) & ~(uintptr_t)(align - 1);
    if (j->bump && p + n <= (uintptr_t)j->bump_end) {
        j->bump = (char *)(p + n);
        return (void *)p;
    }
    if (n > JBLOCK / 4)
        return kx_arena_alloc(j->a, n);
    char *b = kx_arena_alloc(j->a, JBLOCK);
    if (!b) /* near the arena's maximum: what is left may still fit this one */
        return kx_arena_alloc(j->a, n);
    j->bump = b + n;
    j->bump_end = b + JBLOCK;
    return b;
}

static inline struct ev_node *new_node(struct jp *j, const char *at)
{
    struct ev_node *n = jalloc(j, sizeof(*n), _Alignof(struct ev_node));
    if (!n)
        return ev_jp_fail_at(j, KAD_ELIMIT, at, "%s", "document too large for the event arena");
    memset(n, 0, sizeof(*n));
    return n;
}

/* Copy (and unescape) the string whose body is raw[0..rawlen); NUL-terminated. */
static inline char *copy_string(struct jp *j, const char *raw, size_t rawlen, bool has_esc,
                                uint32_t *outlen)
{
    *outlen = 0;
    char *d = jalloc(j, rawlen + 1, 1);
    if (!d)
        return ev_jp_fail_at(j, KAD_ELIMIT, raw, "%s", "document too large for the event arena");
    size_t n = has_esc ? lex_unescape(raw, rawlen, d) : (memcpy(d, raw, rawlen), rawlen);
    d[n] = '\0';
    *outlen = (uint32_t)n;
    return d;
}

/* At an object key: p must be at its opening quote. */
static inline const char *key_start(struct jp *j, const char *p)
{
    if (p >= j->end)
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", "unexpected end of input in object");
    if (*p != '"')
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", "expected a string key in object");
    return p;
}

/* After an object key: skip the ':' and the whitespace around it. */
static inline const char *after_key(struct jp *j, const char *p)
{
    p = lex_ws(p, j->end);
    if (p >= j->end || *p != ':')
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", "expected ':' after object key");
    return lex_ws(p + 1, j->end);
}

/*
 * After a member or element: returns the position after ',' (with *more set) or after the
 * closing bracket (*more clear), or NULL with the error.
 */
static inline const char *after_item(struct jp *j, const char *p, char close, bool *more)
{
    const char *what = close == '}' ? "object" : "array";
    p = lex_ws(p, j->end);
    *more = p < j->end && *p == ',';
    if (*more)
        return lex_ws(p + 1, j->end);
    if (p < j->end && *p == close)
        return p + 1;
    if (p >= j->end)
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "unexpected end of input in %s", what);
    return ev_jp_fail_at(j, KAD_ESYNTAX, p, "expected ',' or '%c' in %s", close, what);
}

#endif

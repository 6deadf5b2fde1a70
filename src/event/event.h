/*
 * event.h - the event view the rest of the engine sees (owned by the events module).
 *
 * CONTRACT FIXED BY THE FOUNDATION (other modules code against it; the events module may add
 * to this header but must not change what is here without updating its users):
 *
 *   - A decoded document is a tree of `struct ev_node` allocated in an arena (normally the
 *     per-event arena). Every pointer in it is valid until that arena is reset or finished.
 *   - Strings are decoded (escapes resolved, UTF-8 validated) and NUL-terminated; `len` is
 *     their byte length (a string may contain U+0000, so always use len).
 *   - Numbers keep their source text in `str`/`len` (e.g. "1.50"), so KQL can compare text
 *     for string-vs-literal cases and parse numerically when needed.
 *   - Object members keep document order; duplicate keys are all kept (lookup sees all).
 *
 * ev_values() implements ../shared/spec/kql.md §5.1 (dotted paths through nested objects,
 * literal dotted keys, arrays flattened, null contributes nothing).
 */
#ifndef KAD_EVENT_H
#define KAD_EVENT_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ev_type {
    EV_NULL = 0,
    EV_FALSE,
    EV_TRUE,
    EV_NUMBER,
    EV_STRING,
    EV_ARRAY,
    EV_OBJECT,
};

struct ev_node {
    uint8_t type;          /* enum ev_type */
    uint32_t klen;         /* byte length of key */
    uint32_t len;          /* EV_STRING/EV_NUMBER: byte length of str; ARRAY/OBJECT: children */
    const char *key;       /* member key (decoded, NUL-terminated) or NULL outside objects */
    const char *str;       /* EV_STRING: decoded bytes; EV_NUMBER: number text; else NULL */
    struct ev_node *child; /* ARRAY/OBJECT: first child, NULL when empty */
    struct ev_node *next;  /* next sibling in the parent, NULL at the end */
};

/*
 * Called for each value found for a path. Leaves are EV_STRING/EV_NUMBER/EV_TRUE/EV_FALSE;
 * EV_OBJECT is passed for objects found at the path (they count only for "exists" and nested
 * queries). `partial` is true when the value is an object reached only through a longer literal
 * key (`{"a.b":1}` seen from path `a`): it exists but is not a value of the path.
 * Arrays are never passed (their elements are); nulls are never passed.
 * Return true to stop the walk.
 */
typedef bool (*ev_visit_fn)(const struct ev_node *v, bool partial, void *ctx);

/*
 * Walk every value of dotted `path` (path[0..len)) under `root` (an object, or an array of
 * objects). Returns true when the visitor stopped the walk. Does not allocate.
 */
bool ev_values(const struct ev_node *root, const char *path, size_t len, ev_visit_fn fn, void *ctx);

/*
 * For a partial hit (`{"a.b": {...}}` seen from path `a`), `v` is the value of the longer key
 * (never null; arrays are flattened as usual). It proves that the path names an object holding
 * something, so it counts for "exists" only when ev_has_value(v) is true.
 */

/* True when v is, or contains somewhere, a non-null leaf (kql.md §5.4 "exists"). */
bool ev_has_value(const struct ev_node *v);
/* Member `key` of object obj (the first when duplicated), or NULL. Borrowed from the tree. */
const struct ev_node *ev_member(const struct ev_node *obj, const char *key, size_t klen);
/* First value of dotted `path` (NUL-terminated) whose type is `type`, or NULL. */
const struct ev_node *ev_first(const struct ev_node *root, const char *path, uint8_t type);
/* First string value of `path` ({NULL,0} when there is none); borrowed from the tree. */
kad_str ev_first_str(const struct ev_node *root, const char *path);

/* ============================================================================================
 * JSON reader (event_json.c): strict RFC 8259 into an ev_node tree.
 *
 * Strings are UTF-8 checked and unescaped; a lone surrogate escape becomes U+FFFD. Numbers
 * keep their text. Errors: KAD_ESYNTAX (bad JSON) or KAD_ELIMIT (depth, size, arena maximum),
 * with err->offset the byte offset of the offending byte in s and line:col computed from s.
 * ============================================================================================ */

#define EV_JSON_MAX_DEPTH 512               /* default nesting limit */
#define EV_JSON_MAX_SIZE ((size_t)64 << 20) /* default document size limit */

struct ev_json_limits {
    uint32_t max_depth; /* 0 = EV_JSON_MAX_DEPTH */
    size_t max_size;    /* 0 = EV_JSON_MAX_SIZE */
};

/*
 * Parse the whole of s[0..n) (s need not be NUL-terminated) into a tree allocated in `a`.
 * Returns the root (valid until `a` is reset) or NULL with err filled. `origin` is borrowed
 * into err.
 */
struct ev_node *ev_json_parse(kad_arena *a, const char *s, size_t n, const char *origin,
                              kad_err *err);
struct ev_node *ev_json_parse_lim(kad_arena *a, const char *s, size_t n,
                                  const struct ev_json_limits *lim, const char *origin,
                                  kad_err *err);
/* Append the compact JSON text of n to out (keys in tree order). KAD_ELIMIT when out is full. */
int ev_json_dump(const struct ev_node *n, kad_buf *out);

#endif

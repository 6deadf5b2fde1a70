/*
 * jsonw.h - small streaming JSON writer into a kad_buf (alerts, ECS documents, --json output).
 *
 * Escaping is done here and nowhere else. The writer tracks nesting and inserts commas; keys
 * and strings are written from byte slices (invalid UTF-8 is replaced by U+FFFD so the output
 * is always valid JSON). Errors (buffer limit) are sticky: check kad_jsonw_error at the end.
 */
#ifndef KAD_BASE_JSONW_H
#define KAD_BASE_JSONW_H

#include "buf.h"
#include <stdbool.h>
#include <stdint.h>

#define KAD_JSONW_DEPTH 64

typedef struct kad_jsonw {
    kad_buf *out;
    int depth;
    bool need_comma[KAD_JSONW_DEPTH];
    bool after_key;
    int err;
} kad_jsonw;

void kad_jsonw_init(kad_jsonw *w, kad_buf *out);
void kad_jsonw_obj_begin(kad_jsonw *w);
void kad_jsonw_obj_end(kad_jsonw *w);
void kad_jsonw_arr_begin(kad_jsonw *w);
void kad_jsonw_arr_end(kad_jsonw *w);
void kad_jsonw_key(kad_jsonw *w, const char *k, size_t n);
void kad_jsonw_keyc(kad_jsonw *w, const char *k);
void kad_jsonw_str(kad_jsonw *w, const char *s, size_t n);
void kad_jsonw_strc(kad_jsonw *w, const char *s);
void kad_jsonw_int(kad_jsonw *w, int64_t v);
void kad_jsonw_double(kad_jsonw *w, double v);
void kad_jsonw_bool(kad_jsonw *w, bool v);
void kad_jsonw_null(kad_jsonw *w);
/* Insert already-valid JSON text as one value (the caller guarantees validity). */
void kad_jsonw_raw(kad_jsonw *w, const char *json, size_t n);
/* Insert already-valid object members (`"k":v,"k2":v2`, e.g. a cached part of a document written
   by another kad_jsonw) into the object being written. n == 0 adds nothing. */
void kad_jsonw_members_raw(kad_jsonw *w, const char *members, size_t n);
/* Append the JSON-escaped form of s (without quotes) to b. */
int kad_json_escape(kad_buf *b, const char *s, size_t n);
int kad_jsonw_error(const kad_jsonw *w);

#endif

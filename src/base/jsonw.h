/*
 * jsonw.h - small streaming JSON writer into a kx_buf (alerts, ECS documents, --json output).
 *
 * Escaping is done here and nowhere else. The writer tracks nesting and inserts commas; keys
 * and strings are written from byte slices (invalid UTF-8 is replaced by U+FFFD so the output
 * is always valid JSON). Errors (buffer limit) are sticky: check kx_jsonw_error at the end.
 */
#ifndef KX_BASE_JSONW_H
#define KX_BASE_JSONW_H

#include "buf.h"
#include <stdbool.h>
#include <stdint.h>

#define KX_JSONW_DEPTH 64

typedef struct kx_jsonw {
    kx_buf *out;
    int depth;
    bool need_comma[KX_JSONW_DEPTH];
    bool after_key;
    int err;
} kx_jsonw;

void kx_jsonw_init(kx_jsonw *w, kx_buf *out);
void kx_jsonw_obj_begin(kx_jsonw *w);
void kx_jsonw_obj_end(kx_jsonw *w);
void kx_jsonw_arr_begin(kx_jsonw *w);
void kx_jsonw_arr_end(kx_jsonw *w);
void kx_jsonw_key(kx_jsonw *w, const char *k, size_t n);
void kx_jsonw_keyc(kx_jsonw *w, const char *k);
void kx_jsonw_str(kx_jsonw *w, const char *s, size_t n);
void kx_jsonw_strc(kx_jsonw *w, const char *s);
void kx_jsonw_int(kx_jsonw *w, int64_t v);
void kx_jsonw_double(kx_jsonw *w, double v);
void kx_jsonw_bool(kx_jsonw *w, bool v);
void kx_jsonw_null(kx_jsonw *w);
/* Insert already-valid JSON text as one value (the caller guarantees validity). */
void kx_jsonw_raw(kx_jsonw *w, const char *json, size_t n);
/* Insert already-valid object members (`"k":v,"k2":v2`, e.g. a cached part of a document written
   by another kx_jsonw) into the object being written. n == 0 adds nothing. */
void kx_jsonw_members_raw(kx_jsonw *w, const char *members, size_t n);
/* Append the JSON-escaped form of s (without quotes) to b. */
int kx_json_escape(kx_buf *b, const char *s, size_t n);
int kx_jsonw_error(const kx_jsonw *w);

#endif

/*
 * det_terms.c - the terms of an event: the one definition shared by the streaming engine
 * (det_engine.c, the new-terms step) and preview (preview.c, the combinations of a document).
 *
 * A field's terms are the values a keyword field would index for it (semantics.md, "Terms of a
 * document"): strings as written, numbers by their JSON text, booleans as "true"/"false"; an array
 * gives each of its elements; objects and null are no terms; a string longer than the mapping's
 * ignore_above (DET_IGNORE_ABOVE characters) is not indexed and so is no term; duplicates
 * (by text: "1" and 1 are one term) collapse to the first occurrence, whose type is kept for
 * kibana.alert.new_terms.
 */
#include "det_int.h"

#include "base/alloc.h"
#include "base/jsonw.h"

#include <string.h>

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

static bool collect(const struct ev_node *v, bool partial, void *ctx)
{
    struct det_terms *t = ctx;
    if (partial)
        return false;
    struct det_val x;
    switch (v->type) {
    case EV_STRING:
        if (v->len > DET_IGNORE_ABOVE && utf8_chars(v->str, v->len) > DET_IGNORE_ABOVE)
            return false; /* not indexed: behaves as missing (semantics.md, "Terms of a document")
                           */
        x = (struct det_val){{v->str, v->len}, EV_STRING};
        break;
    case EV_NUMBER: x = (struct det_val){{v->str, v->len}, EV_NUMBER}; break;
    case EV_TRUE: x = (struct det_val){KX_STR_LIT("true"), EV_TRUE}; break;
    case EV_FALSE: x = (struct det_val){KX_STR_LIT("false"), EV_FALSE}; break;
    default: return false; /* objects and null are not terms */
    }
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].s.len == x.s.len && memcmp(t->v[i].s.ptr, x.s.ptr, x.s.len) == 0)
            return false; /* an array's duplicates collapse (keyword doc values are a set) */
    if (t->n == t->max) {
        t->cut = true;
        return true;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8;
        t->v = kx_realloc(t->v, nc * sizeof(*t->v)); /* only a growable list gets here */
        t->cap = nc;
    }
    t->v[t->n++] = x;
    return false;
}

size_t det_field_terms(struct ev_memo *m, const struct ev_node *doc, const char *path,
                       struct det_terms *t)
{
    t->n = 0;
    t->cut = false;
    ev_values_memo(m, doc, path, strlen(path), collect, t);
    return t->n;
}

void det_terms_json(kx_jsonw *w, const struct det_val *vals, size_t n)
{
    kx_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        if (vals[i].type == EV_NUMBER)
            kx_jsonw_raw(w, vals[i].s.ptr, vals[i].s.len);
        else if (vals[i].type == EV_TRUE || vals[i].type == EV_FALSE)
            kx_jsonw_bool(w, vals[i].type == EV_TRUE);
        else
            kx_jsonw_str(w, vals[i].s.ptr, vals[i].s.len);
    }
    kx_jsonw_arr_end(w);
}

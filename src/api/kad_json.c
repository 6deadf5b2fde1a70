/*
 * kad_json.c - kad_json (include/kad.h): the library's JSON writer (base/jsonw) for clients.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/jsonw.h"

struct kad_json {
    kx_buf b;
    kx_jsonw w;
};

kad_json *kad_json_new(void)
{
    kad_json *j = kx_calloc(1, sizeof(*j));
    kx_buf_init(&j->b, (size_t)1 << 30);
    kx_jsonw_init(&j->w, &j->b);
    return j;
}

void kad_json_free(kad_json *j)
{
    if (!j)
        return;
    kx_buf_fini(&j->b);
    kx_free(j);
}

void kad_json_reset(kad_json *j)
{
    kx_buf_reset(&j->b);
    kx_jsonw_init(&j->w, &j->b);
}

void kad_json_obj_begin(kad_json *j) { kx_jsonw_obj_begin(&j->w); }
void kad_json_obj_end(kad_json *j) { kx_jsonw_obj_end(&j->w); }
void kad_json_arr_begin(kad_json *j) { kx_jsonw_arr_begin(&j->w); }
void kad_json_arr_end(kad_json *j) { kx_jsonw_arr_end(&j->w); }
void kad_json_key(kad_json *j, const char *k, size_t n) { kx_jsonw_key(&j->w, k, n); }
void kad_json_keyc(kad_json *j, const char *k) { kx_jsonw_keyc(&j->w, k); }
void kad_json_str(kad_json *j, const char *s, size_t n) { kx_jsonw_str(&j->w, s, n); }
void kad_json_strc(kad_json *j, const char *s) { kx_jsonw_strc(&j->w, s); }
void kad_json_int(kad_json *j, int64_t v) { kx_jsonw_int(&j->w, v); }
void kad_json_bool(kad_json *j, int v) { kx_jsonw_bool(&j->w, v != 0); }
void kad_json_null(kad_json *j) { kx_jsonw_null(&j->w); }

const char *kad_json_text(const kad_json *j, size_t *len)
{
    kad_json *m = (kad_json *)j;
    if (kx_buf_addc(&m->b, '\0') == KAD_OK)
        m->b.len--; /* NUL-terminated, not counted */
    if (len)
        *len = j->b.len;
    return j->b.ptr ? j->b.ptr : "";
}

int kad_json_error(const kad_json *j) { return kx_jsonw_error(&j->w); }

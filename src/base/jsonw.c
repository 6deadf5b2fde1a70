/*
 * jsonw.c - streaming JSON writer. The single place where JSON escaping happens: control
 * characters, quote and backslash are escaped; invalid UTF-8 is replaced by U+FFFD so every
 * document kadet writes is valid JSON whatever the input bytes were.
 */
#include "jsonw.h"

#include "kad.h"
#include "str.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

void kx_jsonw_init(kx_jsonw *w, kx_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

static void put(kx_jsonw *w, const char *s, size_t n)
{
    if (!w->err)
        w->err = kx_buf_add(w->out, s, n);
}

/* Comma handling before a value or a key. */
static void pre_value(kx_jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth])
            put(w, ",", 1);
        w->need_comma[w->depth] = true;
    }
}

static void open_(kx_jsonw *w, char c)
{
    pre_value(w);
    put(w, &c, 1);
    if (w->depth + 1 >= KX_JSONW_DEPTH) {
        w->err = KAD_ELIMIT;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_(kx_jsonw *w, char c)
{
    put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

void kx_jsonw_obj_begin(kx_jsonw *w) { open_(w, '{'); }
void kx_jsonw_obj_end(kx_jsonw *w) { close_(w, '}'); }
void kx_jsonw_arr_begin(kx_jsonw *w) { open_(w, '['); }
void kx_jsonw_arr_end(kx_jsonw *w) { close_(w, ']'); }

int kx_json_escape(kx_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, run = 0;
    int rc = KAD_OK;
    while (i < n && !rc) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        if (run) {
            rc = kx_buf_add(b, s + i - run, run);
            run = 0;
            if (rc)
                break;
        }
        if (c >= 0x80) {
            /* validate one sequence only (the lead byte gives its length) */
            size_t sl = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (sl <= n - i && kx_utf8_check(s + i, sl) == sl) {
                rc = kx_buf_add(b, s + i, sl);
                i += sl;
            } else {
                rc = kx_buf_add(b, "\xef\xbf\xbd", 3);
                i++;
            }
            continue;
        }
        char esc[7];
        size_t en = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            en = 6;
        }
        rc = kx_buf_add(b, esc, en);
        i++;
    }
    if (!rc && run)
        rc = kx_buf_add(b, s + i - run, run);
    return rc;
}

static void str_(kx_jsonw *w, const char *s, size_t n)
{
    put(w, "\"", 1);
    if (!w->err)
        w->err = kx_json_escape(w->out, s, n);
    put(w, "\"", 1);
}

void kx_jsonw_members_raw(kx_jsonw *w, const char *members, size_t n)
{
    if (n == 0)
        return;
    pre_value(w);
    put(w, members, n);
}

void kx_jsonw_key(kx_jsonw *w, const char *k, size_t n)
{
    pre_value(w);
    str_(w, k, n);
    put(w, ":", 1);
    w->after_key = true;
}

void kx_jsonw_keyc(kx_jsonw *w, const char *k) { kx_jsonw_key(w, k, strlen(k)); }

void kx_jsonw_str(kx_jsonw *w, const char *s, size_t n)
{
    pre_value(w);
    str_(w, s, n);
}

void kx_jsonw_strc(kx_jsonw *w, const char *s) { kx_jsonw_str(w, s, strlen(s)); }

void kx_jsonw_int(kx_jsonw *w, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    pre_value(w);
    put(w, tmp, (size_t)n);
}

void kx_jsonw_double(kx_jsonw *w, double v)
{
    char tmp[40];
    int n;
    if (!isfinite(v))
        n = snprintf(tmp, sizeof(tmp), "null");
    else
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    pre_value(w);
    put(w, tmp, (size_t)n);
}

void kx_jsonw_bool(kx_jsonw *w, bool v)
{
    pre_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void kx_jsonw_null(kx_jsonw *w)
{
    pre_value(w);
    put(w, "null", 4);
}

void kx_jsonw_raw(kx_jsonw *w, const char *json, size_t n)
{
    pre_value(w);
    put(w, json, n);
}

int kx_jsonw_error(const kx_jsonw *w) { return w->err; }

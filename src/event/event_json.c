/*
 * event_json.c - kadet's own JSON reader: the full parse into an arena-backed ev_node tree.
 *
 * Strict RFC 8259: only the four JSON whitespace bytes, no comments, no trailing commas, no
 * leading zeros, no NaN/Infinity, no BOM, raw UTF-8 validated (no overlongs, no encoded
 * surrogates), control characters must be escaped. `\u` escapes are decoded to UTF-8; a lone
 * surrogate escape (legal in the RFC grammar, not representable in UTF-8) becomes U+FFFD, as
 * Go's decoder does. Depth and size have hard limits; every error carries the byte offset of
 * the offending byte, turned into line:col by kx_err_at.
 *
 * The lexical primitives (string scan, number scan, whitespace) are static inline in
 * event_lex.inc, and the parser state with its allocation and punctuation helpers in
 * event_json_int.h, so that the single-pass extractor (event_extract.c) shares them without a
 * call. This file does not look at field names or audit semantics; see event_decode.c for that.
 */
#include "event_json_int.h"

#include "base/jsonw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void *ev_jp_fail_at(struct jp *j, int code, const char *at, const char *fmt, ...)
{
    if (j->rc)
        return NULL;
    j->rc = code;
    char msg[KAD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kx_err_at(j->err, code, j->origin, j->s, (size_t)(j->end - j->s), (size_t)(at - j->s), "%s",
              msg);
    return NULL;
}

void *ev_jp_fail_lex(struct jp *j, const struct lex_err *le)
{
    return ev_jp_fail_at(j, le->code, le->at, "%s", le->msg);
}

static const char *parse_string_into(struct jp *j, const char *p, const char **str, uint32_t *len)
{
    /* p is at the opening quote */
    struct lex_err le;
    bool esc = false;
    const char *body = p + 1;
    const char *q = lex_string(body, j->end, &esc, &le);
    if (!q)
        return ev_jp_fail_lex(j, &le);
    if ((size_t)(q - body) > UINT32_MAX)
        return ev_jp_fail_at(j, KAD_ELIMIT, p, "%s", "string too long");
    *str = copy_string(j, body, (size_t)(q - body), esc, len);
    if (!*str)
        return NULL;
    return q + 1;
}

static const char *parse_object(struct jp *j, const char *p, struct ev_node *out)
{
    out->type = EV_OBJECT;
    struct ev_node **tail = &out->child;
    p = lex_ws(p + 1, j->end);
    if (p < j->end && *p == '}')
        return p + 1;
    for (;;) {
        if (!key_start(j, p))
            return NULL;
        struct ev_node *m = new_node(j, p);
        if (!m)
            return NULL;
        p = parse_string_into(j, p, &m->key, &m->klen);
        if (!p)
            return NULL;
        if (!(p = after_key(j, p)))
            return NULL;
        p = ev_jp_parse_value(j, p, m);
        if (!p)
            return NULL;
        *tail = m;
        tail = &m->next;
        out->len++;
        bool more;
        if (!(p = after_item(j, p, '}', &more)) || !more)
            return p;
    }
}

static const char *parse_array(struct jp *j, const char *p, struct ev_node *out)
{
    out->type = EV_ARRAY;
    struct ev_node **tail = &out->child;
    p = lex_ws(p + 1, j->end);
    if (p < j->end && *p == ']')
        return p + 1;
    for (;;) {
        struct ev_node *e = new_node(j, p);
        if (!e)
            return NULL;
        p = ev_jp_parse_value(j, p, e);
        if (!p)
            return NULL;
        *tail = e;
        tail = &e->next;
        out->len++;
        bool more;
        if (!(p = after_item(j, p, ']', &more)) || !more)
            return p;
    }
}

const char *ev_jp_parse_value(struct jp *j, const char *p, struct ev_node *out)
{
    if (p >= j->end)
        return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", "unexpected end of input, expected a value");
    switch (*p) {
    case '"': out->type = EV_STRING; return parse_string_into(j, p, &out->str, &out->len);
    case '{':
    case '[': {
        if (++j->depth > j->max_depth)
            return ev_jp_fail_at(j, KAD_ELIMIT, p, "nesting deeper than %u levels", j->max_depth);
        const char *q = *p == '{' ? parse_object(j, p, out) : parse_array(j, p, out);
        j->depth--;
        return q;
    }
    case 't':
        if (j->end - p >= 4 && memcmp(p, "true", 4) == 0) {
            out->type = EV_TRUE;
            return p + 4;
        }
        break;
    case 'f':
        if (j->end - p >= 5 && memcmp(p, "false", 5) == 0) {
            out->type = EV_FALSE;
            return p + 5;
        }
        break;
    case 'n':
        if (j->end - p >= 4 && memcmp(p, "null", 4) == 0) {
            out->type = EV_NULL;
            return p + 4;
        }
        break;
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            struct lex_err le;
            const char *q = lex_number(p, j->end, &le);
            if (!q)
                return ev_jp_fail_lex(j, &le);
            out->type = EV_NUMBER;
            uint32_t n;
            out->str = copy_string(j, p, (size_t)(q - p), false, &n);
            out->len = n;
            return out->str ? q : NULL;
        }
        break;
    }
    return ev_jp_fail_at(j, KAD_ESYNTAX, p, "%s", lex_bad_char_msg(*p));
}

struct ev_node *ev_json_parse_lim(kx_arena *a, const char *s, size_t n,
                                  const struct ev_json_limits *lim, const char *origin,
                                  kad_err *err)
{
    struct jp j = {.a = a, .s = s, .end = s + n, .origin = origin, .err = err};
    j.max_depth = lim && lim->max_depth ? lim->max_depth : EV_JSON_MAX_DEPTH;
    size_t max_size = lim && lim->max_size ? lim->max_size : EV_JSON_MAX_SIZE;
    if (n > max_size)
        return ev_jp_fail_at(&j, KAD_ELIMIT, s + max_size, "document larger than %zu bytes",
                             max_size);
    struct ev_node *root = new_node(&j, s);
    if (!root)
        return NULL;
    const char *p = lex_ws(s, j.end);
    p = ev_jp_parse_value(&j, p, root);
    if (!p)
        return NULL;
    p = lex_ws(p, j.end);
    if (p != j.end)
        return ev_jp_fail_at(&j, KAD_ESYNTAX, p, "%s", "unexpected content after the JSON value");
    return root;
}

struct ev_node *ev_json_parse(kx_arena *a, const char *s, size_t n, const char *origin,
                              kad_err *err)
{
    return ev_json_parse_lim(a, s, n, NULL, origin, err);
}

/* ---- writing a tree back as JSON ------------------------------------------------------------ */

static int dump(const struct ev_node *n, kx_buf *out)
{
    int rc = KAD_OK;
    switch (n->type) {
    case EV_NULL: return kx_buf_add(out, "null", 4);
    case EV_TRUE: return kx_buf_add(out, "true", 4);
    case EV_FALSE: return kx_buf_add(out, "false", 5);
    case EV_NUMBER: return kx_buf_add(out, n->str, n->len);
    case EV_STRING:
        if ((rc = kx_buf_addc(out, '"')) || (rc = kx_json_escape(out, n->str, n->len)))
            return rc;
        return kx_buf_addc(out, '"');
    case EV_ARRAY:
    case EV_OBJECT: {
        bool obj = n->type == EV_OBJECT;
        if ((rc = kx_buf_addc(out, obj ? '{' : '[')))
            return rc;
        for (const struct ev_node *c = n->child; c; c = c->next) {
            if (c != n->child && (rc = kx_buf_addc(out, ',')))
                return rc;
            if (obj) {
                if ((rc = kx_buf_addc(out, '"')) || (rc = kx_json_escape(out, c->key, c->klen)) ||
                    (rc = kx_buf_add(out, "\":", 2)))
                    return rc;
            }
            if ((rc = dump(c, out)))
                return rc;
        }
        return kx_buf_addc(out, obj ? '}' : ']');
    }
    }
    return KAD_EINVAL;
}

int ev_json_dump(const struct ev_node *n, kx_buf *out)
{
    if (!n)
        return kx_buf_add(out, "null", 4);
    return dump(n, out);
}

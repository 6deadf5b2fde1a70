/*
 * kql_ast.c - text forms of a parsed query: the canonical s-expression dump (tests, `rules
 * show`), KQL written back from the tree (round-trip fuzzing, `explain`), and the source line
 * with a caret under an error's column.
 *
 * Canonical dump (documented in docs/kql.md):
 *   (matchall) | (or Q Q ...) | (and Q Q ...) | (not Q)
 *   (is FIELD VALUE) | (range FIELD lt|lte|gt|gte VALUE) | (nested FIELD Q)
 *   FIELD, VALUE: "text" | true | false | null | * | (prefix "t") | (suffix "t") | (infix "t")
 *                 | (wildcard "seg" "seg" ...)
 * Strings are JSON-escaped. Whether a string was quoted in the query is not shown: in kadet a
 * quoted and an unquoted string compare the same way (spec section 5.2), so both spell the same
 * query. A range compares the literal's text, so a wildcard literal in a range is shown as its
 * text with '*'.
 */
#include "kql.h"

#include "base/alloc.h"

#include <string.h>

int kql_wild_class(const struct kql_lit *l)
{
    if (l->type != KQL_L_WILD)
        return l->type == KQL_L_NULL ? KQL_V_NEVER : KQL_V_EXACT;
    if (l->nseg == 2) {
        if (l->seg[0].len == 0 && l->seg[1].len == 0)
            return KQL_V_EXISTS;
        if (l->seg[1].len == 0)
            return KQL_V_PREFIX;
        if (l->seg[0].len == 0)
            return KQL_V_SUFFIX;
    }
    if (l->nseg == 3 && l->seg[0].len == 0 && l->seg[2].len == 0)
        return KQL_V_INFIX;
    return KQL_V_GENERAL;
}

/* A lone surrogate kept in its 3-byte form by kql_lex.c: ED A0..BF xx. */
static bool is_surrogate(const unsigned char *s, size_t left)
{
    return left >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF;
}

static unsigned surrogate_unit(const unsigned char *s)
{
    return ((unsigned)(s[0] & 0x0F) << 12) | ((unsigned)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
}

static int json_str(kx_buf *b, const char *s, size_t n)
{
    int rc = kx_buf_addc(b, '"');
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && rc == KAD_OK; i++) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = kx_buf_add(b, e, 2);
        } else if (c == '\n') {
            rc = kx_buf_adds(b, "\\n");
        } else if (c == '\t') {
            rc = kx_buf_adds(b, "\\t");
        } else if (c == '\r') {
            rc = kx_buf_adds(b, "\\r");
        } else if (c < 0x20 || c == 0x7F) {
            rc = kx_buf_addf(b, "\\u%04x", c);
        } else if (is_surrogate(u + i, n - i)) {
            rc = kx_buf_addf(b, "\\u%04x", surrogate_unit(u + i));
            i += 2;
        } else {
            rc = kx_buf_addc(b, (char)c);
        }
    }
    return rc ? rc : kx_buf_addc(b, '"');
}

static int lit_dump(kx_buf *b, const struct kql_lit *l, bool text_only)
{
    switch (l->type) {
    case KQL_L_TRUE: return kx_buf_adds(b, "true");
    case KQL_L_FALSE: return kx_buf_adds(b, "false");
    case KQL_L_NULL: return kx_buf_adds(b, "null");
    case KQL_L_STRING: return json_str(b, l->text, l->len);
    default: break;
    }
    if (text_only)
        return json_str(b, l->text, l->len);
    int rc;
    switch (kql_wild_class(l)) {
    case KQL_V_EXISTS: return kx_buf_addc(b, '*');
    case KQL_V_PREFIX:
        rc = kx_buf_adds(b, "(prefix ");
        rc = rc ? rc : json_str(b, l->seg[0].ptr, l->seg[0].len);
        break;
    case KQL_V_SUFFIX:
        rc = kx_buf_adds(b, "(suffix ");
        rc = rc ? rc : json_str(b, l->seg[1].ptr, l->seg[1].len);
        break;
    case KQL_V_INFIX:
        rc = kx_buf_adds(b, "(infix ");
        rc = rc ? rc : json_str(b, l->seg[1].ptr, l->seg[1].len);
        break;
    default:
        rc = kx_buf_adds(b, "(wildcard");
        for (uint32_t i = 0; i < l->nseg && !rc; i++) {
            rc = kx_buf_addc(b, ' ');
            rc = rc ? rc : json_str(b, l->seg[i].ptr, l->seg[i].len);
        }
        break;
    }
    return rc ? rc : kx_buf_addc(b, ')');
}

static const char *const op_name[] = {"lt", "lte", "gt", "gte"};
static const char *const op_text[] = {"<", "<=", ">", ">="};

int kql_node_dump(const struct kql_node *n, kx_buf *b)
{
    int rc = KAD_OK;
    switch (n->kind) {
    case KQL_ALL: return kx_buf_adds(b, "(matchall)");
    case KQL_OR:
    case KQL_AND:
    case KQL_NOT:
        rc = kx_buf_adds(b, n->kind == KQL_OR ? "(or" : n->kind == KQL_AND ? "(and" : "(not");
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            rc = kx_buf_addc(b, ' ');
            rc = rc ? rc : kql_node_dump(n->kid[i], b);
        }
        break;
    case KQL_IS:
        rc = kx_buf_adds(b, "(is ");
        rc = rc ? rc : lit_dump(b, &n->field, false);
        rc = rc ? rc : kx_buf_addc(b, ' ');
        rc = rc ? rc : lit_dump(b, &n->value, false);
        break;
    case KQL_RANGE:
        rc = kx_buf_adds(b, "(range ");
        rc = rc ? rc : lit_dump(b, &n->field, false);
        rc = rc ? rc : kx_buf_addf(b, " %s ", op_name[n->op & 3]);
        rc = rc ? rc : lit_dump(b, &n->value, true);
        break;
    case KQL_NESTED:
        rc = kx_buf_adds(b, "(nested ");
        rc = rc ? rc : lit_dump(b, &n->field, false);
        rc = rc ? rc : kx_buf_addc(b, ' ');
        rc = rc ? rc : kql_node_dump(n->kid[0], b);
        break;
    default: break;
    }
    return rc ? rc : kx_buf_addc(b, ')');
}

int kql_dump(const struct kql_query *q, kx_buf *out) { return kql_node_dump(q->root, out); }

/* ---- required equality terms (kql_required_terms) ----------------------------------------- */

/* An is-test of a string field name and a string literal, both valid UTF-8. */
static bool string_is(const struct kql_node *n)
{
    return n->kind == KQL_IS && n->field.type == KQL_L_STRING && n->value.type == KQL_L_STRING &&
           kx_utf8_check(n->field.text, n->field.len) == n->field.len &&
           kx_utf8_check(n->value.text, n->value.len) == n->value.len;
}

static void required_conjunct(const struct kql_node *c, kql_term_fn fn, void *ud)
{
    if (string_is(c)) {
        kx_str v = {c->value.text, c->value.len};
        fn(c->field.text, c->field.len, &v, 1, ud);
        return;
    }
    if (c->kind != KQL_OR || c->n == 0)
        return;
    const struct kql_node *f0 = c->kid[0];
    for (uint32_t i = 0; i < c->n; i++) {
        const struct kql_node *k = c->kid[i];
        if (!string_is(k) || k->field.len != f0->field.len ||
            memcmp(k->field.text, f0->field.text, f0->field.len) != 0)
            return;
    }
    kx_str *vals = kx_malloc(c->n * sizeof(*vals));
    for (uint32_t i = 0; i < c->n; i++)
        vals[i] = (kx_str){c->kid[i]->value.text, c->kid[i]->value.len};
    fn(f0->field.text, f0->field.len, vals, c->n, ud);
    kx_free(vals);
}

void kql_required_terms(const struct kql_query *q, kql_term_fn fn, void *ud)
{
    const struct kql_node *root = q->root;
    if (root->kind == KQL_AND) {
        for (uint32_t i = 0; i < root->n; i++)
            required_conjunct(root->kid[i], fn, ud);
    } else {
        required_conjunct(root, fn, ud);
    }
}

/* ---- KQL text from the tree --------------------------------------------------------------- */

/* A quoted KQL string: only `"` and `\` need escaping; control characters and lone surrogates
 * are written as \uXXXX so the text stays on one line and valid UTF-8. */
static int kql_quoted(kx_buf *b, const char *s, size_t n)
{
    int rc = kx_buf_addc(b, '"');
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && rc == KAD_OK; i++) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = kx_buf_add(b, e, 2);
        } else if (c < 0x20) {
            rc = kx_buf_addf(b, "\\u%04x", c);
        } else if (is_surrogate(u + i, n - i)) {
            rc = kx_buf_addf(b, "\\u%04x", surrogate_unit(u + i));
            i += 2;
        } else {
            rc = kx_buf_addc(b, (char)c);
        }
    }
    return rc ? rc : kx_buf_addc(b, '"');
}

/* One segment of an unquoted literal: escape every special character, write whitespace and
 * control characters as \uXXXX, and spell the n of any `not` as \u006e, so no keyword can
 * start inside or at the end of the literal and nothing is trimmed. */
static int kql_unquoted(kx_buf *b, const char *s, size_t n)
{
    int rc = KAD_OK;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && rc == KAD_OK; i++) {
        unsigned char c = u[i];
        if (strchr("\\():<>\"*{}", c) && c) {
            char e[2] = {'\\', (char)c};
            rc = kx_buf_add(b, e, 2);
        } else if (c <= 0x20 || c == 0x7F) {
            rc = kx_buf_addf(b, "\\u%04x", c);
        } else if ((c | 0x20) == 'n' && i + 2 < n && (u[i + 1] | 0x20) == 'o' &&
                   (u[i + 2] | 0x20) == 't') {
            /* `not` followed by the space we write after the literal would be the keyword */
            rc = kx_buf_addf(b, "\\u%04x", c);
        } else if (c == 0xC2 && i + 1 < n && u[i + 1] == 0xA0) {
            rc = kx_buf_adds(b, "\\u00a0");
            i++;
        } else if (is_surrogate(u + i, n - i)) {
            rc = kx_buf_addf(b, "\\u%04x", surrogate_unit(u + i));
            i += 2;
        } else {
            rc = kx_buf_addc(b, (char)c);
        }
    }
    return rc;
}

static int lit_fmt(kx_buf *b, const struct kql_lit *l, bool text_only)
{
    switch (l->type) {
    case KQL_L_TRUE: return kx_buf_adds(b, "true");
    case KQL_L_FALSE: return kx_buf_adds(b, "false");
    case KQL_L_NULL: return kx_buf_adds(b, "null");
    case KQL_L_STRING: return kql_quoted(b, l->text, l->len);
    default: break;
    }
    if (text_only)
        return kql_quoted(b, l->text, l->len);
    int rc = KAD_OK;
    for (uint32_t i = 0; i < l->nseg && !rc; i++) {
        if (i)
            rc = kx_buf_addc(b, '*');
        rc = rc ? rc : kql_unquoted(b, l->seg[i].ptr, l->seg[i].len);
    }
    return rc;
}

static int node_fmt(const struct kql_node *n, kx_buf *b)
{
    int rc = KAD_OK;
    switch (n->kind) {
    case KQL_ALL: return KAD_OK;
    case KQL_OR:
    case KQL_AND:
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            const struct kql_node *k = n->kid[i];
            bool paren = k->kind == KQL_OR || k->kind == KQL_AND;
            if (i)
                rc = kx_buf_adds(b, n->kind == KQL_OR ? " or " : " and ");
            rc = rc ? rc : paren ? kx_buf_addc(b, '(') : KAD_OK;
            rc = rc ? rc : node_fmt(k, b);
            rc = rc ? rc : paren ? kx_buf_addc(b, ')') : KAD_OK;
        }
        return rc;
    case KQL_NOT: {
        const struct kql_node *k = n->kid[0];
        bool paren = k->kind == KQL_OR || k->kind == KQL_AND || k->kind == KQL_NOT;
        rc = kx_buf_adds(b, paren ? "not (" : "not ");
        rc = rc ? rc : node_fmt(k, b);
        return rc ? rc : paren ? kx_buf_addc(b, ')') : KAD_OK;
    }
    case KQL_IS:
        if (n->field.type != KQL_L_NULL) {
            rc = lit_fmt(b, &n->field, false);
            rc = rc ? rc : kx_buf_addc(b, ':');
        }
        return rc ? rc : lit_fmt(b, &n->value, false);
    case KQL_RANGE:
        rc = lit_fmt(b, &n->field, false);
        rc = rc ? rc : kx_buf_addf(b, " %s ", op_text[n->op & 3]);
        return rc ? rc : lit_fmt(b, &n->value, true);
    case KQL_NESTED:
        rc = lit_fmt(b, &n->field, false);
        rc = rc ? rc : kx_buf_adds(b, ":{ ");
        rc = rc ? rc : node_fmt(n->kid[0], b);
        return rc ? rc : kx_buf_adds(b, " }");
    default: return KAD_OK;
    }
}

int kql_fmt(const struct kql_query *q, kx_buf *out) { return node_fmt(q->root, out); }

/* ---- error context ------------------------------------------------------------------------ */

int kql_err_context(const char *src, size_t len, const kad_err *err, kx_buf *out)
{
    if (!err || err->offset < 0 || !src)
        return KAD_OK;
    size_t off = (size_t)err->offset;
    if (off > len)
        off = len;
    size_t bol = off, eol = off;
    while (bol > 0 && src[bol - 1] != '\n')
        bol--;
    while (eol < len && src[eol] != '\n')
        eol++;
    int rc = kx_buf_add(out, src + bol, eol - bol);
    rc = rc ? rc : kx_buf_addc(out, '\n');
    for (size_t i = bol; i < off && !rc; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '\t')
            rc = kx_buf_addc(out, '\t');
        else if ((c & 0xC0) != 0x80)
            rc = kx_buf_addc(out, ' ');
    }
    rc = rc ? rc : kx_buf_adds(out, "^\n");
    return rc;
}

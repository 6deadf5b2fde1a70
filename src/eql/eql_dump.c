/*
 * eql_dump.c - the canonical text of a compiled query: EQL again, every operator
 * parenthesised, `!=` and `not in` shown as the `not` they compile to, `x == null` as
 * `(x == null)`, strings re-escaped, fields plain when they can be and backquoted otherwise.
 * Parsing a dump gives the same dump (the round trip tests and the fuzzer check).
 */
#include "eql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eql_quote(kx_buf *out, const char *s, size_t len)
{
    int rc = kx_buf_addc(out, '"');
    for (size_t i = 0; i < len && rc == KAD_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rc = kx_buf_adds(out, "\\\""); break;
        case '\\': rc = kx_buf_adds(out, "\\\\"); break;
        case '\n': rc = kx_buf_adds(out, "\\n"); break;
        case '\r': rc = kx_buf_adds(out, "\\r"); break;
        case '\t': rc = kx_buf_adds(out, "\\t"); break;
        case '\b': rc = kx_buf_adds(out, "\\b"); break;
        case '\f': rc = kx_buf_adds(out, "\\f"); break;
        default: rc = c < 0x20 ? kx_buf_addf(out, "\\u{%02x}", c) : kx_buf_addc(out, (char)c);
        }
    }
    return rc ? rc : kx_buf_addc(out, '"');
}

static bool is_keyword(const char *s, size_t len)
{
    static const char *const kw[] = {"and",      "any",  "by",    "false", "in",  "join",  "like",
                                     "maxspan",  "not",  "null",  "of",    "or",  "regex", "sample",
                                     "sequence", "true", "until", "where", "with"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strlen(kw[i]) == len && memcmp(kw[i], s, len) == 0)
            return true;
    return false;
}

/* A plain identifier: [A-Za-z_@][A-Za-z0-9_]*, not a keyword. */
static bool plain_ident(const char *s, size_t len)
{
    if (!len || is_keyword(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool al = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!(al || (i == 0 && c == '@') || (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static int dump_path(kx_buf *out, const char *p, size_t len)
{
    bool plain = true;
    size_t st = 0;
    for (size_t i = 0; i <= len && plain; i++)
        if (i == len || p[i] == '.') {
            plain = plain_ident(p + st, i - st);
            st = i + 1;
        }
    if (plain)
        return kx_buf_add(out, p, len);
    int rc = kx_buf_addc(out, '`');
    for (size_t i = 0; i < len && rc == KAD_OK; i++)
        rc = p[i] == '`' ? kx_buf_adds(out, "``") : kx_buf_addc(out, p[i]);
    return rc ? rc : kx_buf_addc(out, '`');
}

static int dump_val(kx_buf *out, const struct eql_val *v)
{
    switch (v->t) {
    case EQL_V_NULL: return kx_buf_adds(out, "null");
    case EQL_V_BOOL: return kx_buf_adds(out, v->b ? "true" : "false");
    case EQL_V_INT: return kx_buf_addf(out, "%lld", (long long)v->i);
    case EQL_V_DBL: {
        if (isinf(v->d))
            return kx_buf_adds(out, "1e999");
        char b[64];
        for (int p = 1; p <= 17; p++) {
            snprintf(b, sizeof b, "%.*g", p, v->d);
            if (strtod(b, NULL) == v->d)
                break;
        }
        if (!strpbrk(b, ".e"))
            strcat(b, ".0");
        return kx_buf_adds(out, b);
    }
    default: return eql_quote(out, v->s, v->len);
    }
}

static const char *const cmp_txt[] = {"==", "!=", "<", "<=", ">", ">="};

int eql_node_dump(const struct eql_node *n, kx_buf *out)
{
    int rc = KAD_OK;
    switch (n->kind) {
    case EQL_N_CONST: return dump_val(out, &n->v);
    case EQL_N_FIELD:
        if (n->optional)
            rc = kx_buf_addc(out, '?');
        return rc ? rc : dump_path(out, n->path, n->plen);
    case EQL_N_AND:
    case EQL_N_OR:
        rc = kx_buf_addc(out, '(');
        for (uint32_t i = 0; i < n->n && rc == KAD_OK; i++) {
            if (i)
                rc = kx_buf_adds(out, n->kind == EQL_N_AND ? " and " : " or ");
            rc = rc ? rc : eql_node_dump(n->kid[i], out);
        }
        return rc ? rc : kx_buf_addc(out, ')');
    case EQL_N_NOT:
        rc = kx_buf_adds(out, "(not ");
        rc = rc ? rc : eql_node_dump(n->kid[0], out);
        return rc ? rc : kx_buf_addc(out, ')');
    case EQL_N_ISNULL:
        rc = kx_buf_addc(out, '(');
        rc = rc ? rc : eql_node_dump(n->kid[0], out);
        return rc ? rc : kx_buf_adds(out, " == null)");
    case EQL_N_CMP:
    case EQL_N_ARITH: {
        char op[3] = {(char)n->op, 0, 0};
        rc = kx_buf_addc(out, '(');
        rc = rc ? rc : eql_node_dump(n->kid[0], out);
        rc = rc ? rc : kx_buf_addf(out, " %s ", n->kind == EQL_N_CMP ? cmp_txt[n->op] : op);
        rc = rc ? rc : eql_node_dump(n->kid[1], out);
        return rc ? rc : kx_buf_addc(out, ')');
    }
    case EQL_N_NEG:
        rc = kx_buf_adds(out, "(-");
        rc = rc ? rc : eql_node_dump(n->kid[0], out);
        return rc ? rc : kx_buf_addc(out, ')');
    case EQL_N_IN:
    case EQL_N_MATCH: {
        static const char *const mops[] = {":", "like", "regex"};
        rc = kx_buf_addc(out, '(');
        rc = rc ? rc : eql_node_dump(n->kid[0], out);
        if (n->kind == EQL_N_IN)
            rc = rc ? rc : kx_buf_adds(out, n->ci ? " in~ (" : " in (");
        else
            rc = rc ? rc
                    : kx_buf_addf(out, " %s%s %s", mops[n->op],
                                  n->ci && n->op != EQL_M_COLON ? "~" : "", n->listed ? "(" : "");
        for (uint32_t i = 1; i < n->n && rc == KAD_OK; i++) {
            if (i > 1)
                rc = kx_buf_adds(out, ", ");
            rc = rc ? rc : eql_node_dump(n->kid[i], out);
        }
        if (n->kind == EQL_N_IN || n->listed)
            rc = rc ? rc : kx_buf_addc(out, ')');
        return rc ? rc : kx_buf_addc(out, ')');
    }
    case EQL_N_CALL:
        rc = kx_buf_addf(out, "%s%s(", eql_fn_name(n->op), n->ci ? "~" : "");
        for (uint32_t i = 0; i < n->n && rc == KAD_OK; i++) {
            if (i)
                rc = kx_buf_adds(out, ", ");
            rc = rc ? rc : eql_node_dump(n->kid[i], out);
        }
        return rc ? rc : kx_buf_addc(out, ')');
    default: return kx_buf_adds(out, "?");
    }
}

static int dump_filter(const struct eql_filter *f, kx_buf *out)
{
    int rc;
    if (!f->category)
        rc = kx_buf_adds(out, "any");
    else if (!f->cat_string && plain_ident(f->category, f->catlen))
        rc = kx_buf_add(out, f->category, f->catlen);
    else
        rc = eql_quote(out, f->category, f->catlen);
    rc = rc ? rc : kx_buf_adds(out, " where ");
    return rc ? rc : eql_node_dump(f->cond, out);
}

static int dump_keys(kx_buf *out, struct eql_node *const *k, uint32_t n)
{
    int rc = n ? kx_buf_adds(out, " by ") : KAD_OK;
    for (uint32_t i = 0; i < n && rc == KAD_OK; i++) {
        if (i)
            rc = kx_buf_adds(out, ", ");
        rc = rc ? rc : eql_node_dump(k[i], out);
    }
    return rc;
}

static int dump_term(const struct eql_query *q, const struct eql_term *t, kx_buf *out)
{
    int rc = kx_buf_adds(out, t->missing ? " ![" : " [");
    rc = rc ? rc : dump_filter(&t->f, out);
    rc = rc ? rc : kx_buf_addc(out, ']');
    rc = rc ? rc : dump_keys(out, t->keys + q->nseqkeys, t->nown);
    if (t->runs_written)
        rc = rc ? rc : kx_buf_addf(out, " with runs=%u", t->runs);
    return rc;
}

int eql_dump(const struct eql_query *q, kx_buf *out)
{
    int rc;
    if (!q->sequence) {
        rc = dump_filter(&q->ev, out);
    } else {
        rc = kx_buf_adds(out, "sequence");
        rc = rc ? rc : dump_keys(out, q->seqkeys, q->nseqkeys);
        if (q->maxspan_ms)
            rc = rc ? rc
                    : kx_buf_addf(out, " with maxspan=%lld%s", (long long)q->maxspan_n,
                                  q->maxspan_unit);
        for (uint32_t i = 0; i < q->nterms && rc == KAD_OK; i++)
            rc = dump_term(q, &q->terms[i], out);
        if (q->until) {
            rc = rc ? rc : kx_buf_adds(out, " until");
            rc = rc ? rc : dump_term(q, q->until, out);
        }
    }
    for (uint32_t i = 0; i < q->npipes && rc == KAD_OK; i++)
        rc = kx_buf_addf(out, " | %s %lld", q->pipes[i].tail ? "tail" : "head",
                         (long long)q->pipes[i].n);
    return rc;
}

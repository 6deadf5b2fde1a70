/*
 * kql_parse.c - recursive-descent port of Kibana's KQL grammar (grammar.peggy, restated in
 * docs/internals/kql.md) that builds the AST in the caller's arena.
 *
 * Each grammar rule is one function that returns a node (or true) on success and NULL (false)
 * on failure with the position restored, so ordered choice is "try, restore, try the next" as
 * in the PEG. Two things differ from a literal transcription, neither observable:
 *   - `X (Op X)+ / X` is parsed as `X (Op X)*`: same language, same tree, but without parsing
 *     X twice (which would be exponential in the nesting depth);
 *   - the keyword look-ahead inside literals caches whitespace runs (kql_lex.c) so it is linear.
 *
 * Errors are reported the way peggy does, which is what Kibana shows: the furthest position
 * where any rule failed and the sorted set of what was expected there. Named rules (fieldName,
 * value, literal, whitespace, OR, AND, NOT) are silent inside and contribute their name. The
 * message is Kibana's: `expected "(", NOT, value but ")" found`.
 *
 * Not done here: classification of wildcards, numbers and CIDR blocks (kql_compile.c).
 */
#include "kql.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/vec.h"
#include <stdio.h>
#include <string.h>

/* Expectations, in the order peggy's sorted descriptions put them. */
enum {
    EXP_LPAREN,
    EXP_RPAREN,
    EXP_COLON,
    EXP_LT,
    EXP_LTE,
    EXP_GT,
    EXP_GTE,
    EXP_LBRACE,
    EXP_RBRACE,
    EXP_AND,
    EXP_NOT,
    EXP_OR,
    EXP_END,
    EXP_FIELD,
    EXP_LITERAL,
    EXP_VALUE,
    EXP_WS,
    EXP_COUNT
};

static const char *const exp_text[EXP_COUNT] = {
    "\"(\"",        "\")\"",      "\":\"",   "\"<\"", "\"<=\"",     "\">\"",
    "\">=\"",       "\"{\"",      "\"}\"",   "AND",   "NOT",        "OR",
    "end of input", "field name", "literal", "value", "whitespace",
};

struct parser {
    struct kql_lex lx;
    size_t pos;
    kx_arena *a;
    int silent;
    size_t fail_pos;
    uint32_t expected; /* bit set of EXP_* at fail_pos */
    int depth;
    int hard; /* a non-grammar error stops everything: KAD_ELIMIT */
    size_t hard_pos;
    const char *hard_msg;
};

typedef KX_VEC(struct kql_node *) node_vec;

/* ---- failure bookkeeping (peg$fail) ---------------------------------------------------- */

static void fail_at(struct parser *p, size_t pos, int e)
{
    if (p->silent)
        return;
    if (pos < p->fail_pos)
        return;
    if (pos > p->fail_pos) {
        p->fail_pos = pos;
        p->expected = 0;
    }
    p->expected |= 1u << e;
}

static void hard_error(struct parser *p, const char *msg)
{
    if (!p->hard) {
        p->hard = KAD_ELIMIT;
        p->hard_pos = p->pos;
        p->hard_msg = msg;
    }
}

static void *alloc(struct parser *p, size_t n)
{
    void *m = kx_arena_zalloc(p->a, n);
    if (!m)
        hard_error(p, "query needs more memory than the rule set allows");
    return m;
}

/* ---- terminals ---------------------------------------------------------------------------- */

/* Space* (each failed Space records "whitespace"). */
static void spaces(struct parser *p)
{
    size_t n;
    while ((n = kql_lex_space(&p->lx, p->pos)) > 0)
        p->pos += n;
    fail_at(p, p->pos, EXP_WS);
}

static bool ch(struct parser *p, char c, int e)
{
    if (p->pos < p->lx.len && p->lx.s[p->pos] == c) {
        p->pos++;
        return true;
    }
    fail_at(p, p->pos, e);
    return false;
}

static bool kw(struct parser *p, int e)
{
    size_t end = e == EXP_OR    ? kql_lex_or(&p->lx, p->pos)
                 : e == EXP_AND ? kql_lex_and(&p->lx, p->pos)
                                : kql_lex_not(&p->lx, p->pos);
    if (end) {
        p->pos = end;
        return true;
    }
    fail_at(p, p->pos, e);
    return false;
}

/* ---- literals ----------------------------------------------------------------------------- */

/* Build the literal from the decoded text in p->lx: JS trim (unquoted only), then null / true /
 * false / wildcard / string, as the grammar's UnquotedLiteral action does. */
static bool make_lit(struct parser *p, bool quoted, struct kql_lit *out)
{
    struct kql_lex *lx = &p->lx;
    size_t b = 0, e = lx->olen;
    memset(out, 0, sizeof(*out));
    out->quoted = quoted;
    if (!quoted) {
        size_t lo = lx->nmarks ? lx->marks[0] : e, n;
        while (b < lo && (n = kql_js_space(lx->out + b, e - b)) > 0 && b + n <= lo)
            b += n;
        size_t hi = lx->nmarks ? lx->marks[lx->nmarks - 1] : b;
        for (bool again = true; again;) {
            again = false;
            for (size_t k = 1; k <= 3; k++) {
                if (e >= hi + k && e - k >= b && kql_js_space(lx->out + e - k, k) == k) {
                    e -= k;
                    again = true;
                    break;
                }
            }
        }
    }
    const char *t = lx->out + b;
    size_t tl = e - b;
    if (!quoted && lx->nmarks == 0) {
        if (tl == 4 && memcmp(t, "null", 4) == 0)
            out->type = KQL_L_NULL;
        else if (tl == 4 && memcmp(t, "true", 4) == 0)
            out->type = KQL_L_TRUE;
        else if (tl == 5 && memcmp(t, "false", 5) == 0)
            out->type = KQL_L_FALSE;
    }
    if (!quoted && lx->nmarks > 0) {
        out->type = KQL_L_WILD;
        out->nseg = (uint32_t)lx->nmarks + 1;
        out->seg = alloc(p, out->nseg * sizeof(kx_str));
        char *joined = alloc(p, tl + lx->nmarks + 1);
        if (!out->seg || !joined)
            return false;
        size_t prev = b, jl = 0;
        for (size_t i = 0; i <= lx->nmarks; i++) {
            size_t end = i < lx->nmarks ? lx->marks[i] : e;
            char *segp = joined + jl;
            memcpy(segp, lx->out + prev, end - prev);
            jl += end - prev;
            out->seg[i] = (kx_str){segp, end - prev};
            out->seglen += end - prev;
            if (i < lx->nmarks)
                joined[jl++] = '*';
            prev = end;
        }
        joined[jl] = '\0';
        out->text = joined;
        out->len = jl;
        return true;
    }
    char *s = kx_arena_strndup(p->a, t, tl);
    if (!s) {
        hard_error(p, "query needs more memory than the rule set allows");
        return false;
    }
    out->text = s;
    out->len = tl;
    return true;
}

/* Literal <- QuotedString / UnquotedLiteral, as the named rule `e` (fieldName, value,
 * literal). */
static bool literal(struct parser *p, struct kql_lit *out, int e)
{
    size_t start = p->pos;
    bool ok;
    p->silent++;
    if (kql_lex_quoted(&p->lx, &p->pos))
        ok = make_lit(p, true, out);
    else if (kql_lex_unquoted(&p->lx, &p->pos))
        ok = make_lit(p, false, out);
    else
        ok = false;
    p->silent--;
    if (!ok) {
        p->pos = start;
        fail_at(p, start, e);
    } else {
        /* an unquoted literal's text is trimmed: point at its first character */
        size_t at = start, n;
        while (!out->quoted && at < p->pos && (n = kql_js_space(p->lx.s + at, p->pos - at)) > 0)
            at += n;
        out->off = (uint32_t)at;
    }
    return ok;
}

/* ---- node constructors ---------------------------------------------------------------- */

static struct kql_node *mk(struct parser *p, int kind)
{
    struct kql_node *n = alloc(p, sizeof(*n));
    if (n)
        n->kind = (uint8_t)kind;
    return n;
}

static struct kql_node *mk_list(struct parser *p, int kind, node_vec *v)
{
    if (v->len == 1) {
        struct kql_node *only = v->ptr[0];
        KX_VEC_FREE(v);
        return only;
    }
    struct kql_node *n = mk(p, kind);
    struct kql_node **kid = alloc(p, v->len * sizeof(*kid));
    if (!n || !kid) {
        KX_VEC_FREE(v);
        return NULL;
    }
    memcpy(kid, v->ptr, v->len * sizeof(*kid));
    n->kid = kid;
    n->n = (uint32_t)v->len;
    KX_VEC_FREE(v);
    return n;
}

static struct kql_node *mk_unary(struct parser *p, int kind, struct kql_node *child)
{
    struct kql_node *n = mk(p, kind);
    struct kql_node **kid = alloc(p, sizeof(*kid));
    if (!n || !kid)
        return NULL;
    kid[0] = child;
    n->kid = kid;
    n->n = 1;
    return n;
}

/* ---- value lists (FieldValueExpression's right side; the field is distributed) ------------ */

static struct kql_node *or_list(struct parser *p, const struct kql_lit *f);

static bool enter(struct parser *p)
{
    if (++p->depth > KQL_MAX_DEPTH) {
        hard_error(p, "query nests deeper than 100 levels");
        return false;
    }
    return true;
}

/* Value "value": the is() node for field f. */
static struct kql_node *value_is(struct parser *p, const struct kql_lit *f)
{
    struct kql_lit v;
    if (!literal(p, &v, EXP_VALUE))
        return NULL;
    struct kql_node *n = mk(p, KQL_IS);
    if (!n)
        return NULL;
    if (f)
        n->field = *f;
    else
        n->field.type = KQL_L_NULL;
    n->value = v;
    return n;
}

/* ListOfValues <- '(' Space* OrListOfValues Space* ')' / Value */
static struct kql_node *list_of_values(struct parser *p, const struct kql_lit *f)
{
    size_t start = p->pos;
    if (ch(p, '(', EXP_LPAREN)) {
        if (!enter(p))
            return NULL;
        spaces(p);
        struct kql_node *r = or_list(p, f);
        p->depth--;
        if (p->hard)
            return NULL;
        if (r) {
            spaces(p);
            if (ch(p, ')', EXP_RPAREN))
                return r;
        }
        p->pos = start;
    }
    return value_is(p, f);
}

/* NotListOfValues <- Not ListOfValues / ListOfValues */
static struct kql_node *not_list(struct parser *p, const struct kql_lit *f)
{
    size_t start = p->pos;
    if (kw(p, EXP_NOT)) {
        struct kql_node *r = list_of_values(p, f);
        if (r)
            return mk_unary(p, KQL_NOT, r);
        if (p->hard)
            return NULL;
        p->pos = start;
    }
    return list_of_values(p, f);
}

/* AndListOfValues / OrListOfValues: X (Op X)* with the operand rule `sub`. */
static struct kql_node *op_list(struct parser *p, const struct kql_lit *f, int op,
                                struct kql_node *(*sub)(struct parser *, const struct kql_lit *))
{
    struct kql_node *head = sub(p, f);
    if (!head)
        return NULL;
    node_vec v = {0};
    KX_VEC_PUSH(&v, head);
    for (;;) {
        size_t save = p->pos;
        if (!kw(p, op))
            break;
        struct kql_node *n = sub(p, f);
        if (!n) {
            p->pos = save;
            break;
        }
        KX_VEC_PUSH(&v, n);
    }
    if (p->hard) {
        KX_VEC_FREE(&v);
        return NULL;
    }
    return mk_list(p, op == EXP_OR ? KQL_OR : KQL_AND, &v);
}

static struct kql_node *and_list(struct parser *p, const struct kql_lit *f)
{
    return op_list(p, f, EXP_AND, not_list);
}

static struct kql_node *or_list(struct parser *p, const struct kql_lit *f)
{
    return op_list(p, f, EXP_OR, and_list);
}

/* ---- queries ------------------------------------------------------------------------------ */

static struct kql_node *or_query(struct parser *p);

/* FieldRangeExpression <- Field Space* RangeOp Space* Literal */
static struct kql_node *range_expr(struct parser *p)
{
    size_t start = p->pos;
    struct kql_lit f, v;
    if (!literal(p, &f, EXP_FIELD))
        return NULL;
    spaces(p);
    int op = -1;
    const char *s = p->lx.s + p->pos;
    size_t left = p->lx.len - p->pos;
    if (left >= 2 && s[0] == '<' && s[1] == '=')
        op = KQL_LTE;
    else if (left >= 2 && s[0] == '>' && s[1] == '=')
        op = KQL_GTE;
    else if (left >= 1 && s[0] == '<')
        op = KQL_LT;
    else if (left >= 1 && s[0] == '>')
        op = KQL_GT;
    if (op < 0) {
        fail_at(p, p->pos, EXP_LTE);
        fail_at(p, p->pos, EXP_GTE);
        fail_at(p, p->pos, EXP_LT);
        fail_at(p, p->pos, EXP_GT);
        p->pos = start;
        return NULL;
    }
    p->pos += (op == KQL_LTE || op == KQL_GTE) ? 2 : 1;
    spaces(p);
    if (!literal(p, &v, EXP_LITERAL)) {
        p->pos = start;
        return NULL;
    }
    struct kql_node *n = mk(p, KQL_RANGE);
    if (!n)
        return NULL;
    n->op = (uint8_t)op;
    n->field = f;
    n->value = v;
    return n;
}

/* FieldValueExpression <- Field Space* ':' Space* ListOfValues */
static struct kql_node *value_expr(struct parser *p)
{
    size_t start = p->pos;
    struct kql_lit f;
    if (!literal(p, &f, EXP_FIELD))
        return NULL;
    spaces(p);
    if (ch(p, ':', EXP_COLON)) {
        spaces(p);
        struct kql_node *r = list_of_values(p, &f);
        if (r || p->hard)
            return r;
    }
    p->pos = start;
    return NULL;
}

/* Expression <- FieldRangeExpression / FieldValueExpression / ValueExpression */
static struct kql_node *expression(struct parser *p)
{
    struct kql_node *n = range_expr(p);
    if (n || p->hard)
        return n;
    n = value_expr(p);
    if (n || p->hard)
        return n;
    return value_is(p, NULL);
}

/* NestedQuery <- Field Space* ':' Space* '{' Space* OrQuery Space* '}' / Expression */
static struct kql_node *nested_query(struct parser *p)
{
    size_t start = p->pos;
    struct kql_lit f;
    if (literal(p, &f, EXP_FIELD)) {
        spaces(p);
        if (ch(p, ':', EXP_COLON)) {
            spaces(p);
            if (ch(p, '{', EXP_LBRACE)) {
                if (!enter(p))
                    return NULL;
                spaces(p);
                struct kql_node *q = or_query(p);
                p->depth--;
                if (p->hard)
                    return NULL;
                if (q) {
                    spaces(p);
                    if (ch(p, '}', EXP_RBRACE)) {
                        struct kql_node *n = mk_unary(p, KQL_NESTED, q);
                        if (n)
                            n->field = f;
                        return n;
                    }
                }
            }
        }
        p->pos = start;
    }
    return expression(p);
}

/* SubQuery <- '(' Space* OrQuery Space* ')' / NestedQuery */
static struct kql_node *sub_query(struct parser *p)
{
    size_t start = p->pos;
    if (ch(p, '(', EXP_LPAREN)) {
        if (!enter(p))
            return NULL;
        spaces(p);
        struct kql_node *q = or_query(p);
        p->depth--;
        if (p->hard)
            return NULL;
        if (q) {
            spaces(p);
            if (ch(p, ')', EXP_RPAREN))
                return q;
        }
        p->pos = start;
    }
    return nested_query(p);
}

/* NotQuery <- Not SubQuery / SubQuery */
static struct kql_node *not_query(struct parser *p)
{
    size_t start = p->pos;
    if (kw(p, EXP_NOT)) {
        struct kql_node *q = sub_query(p);
        if (q)
            return mk_unary(p, KQL_NOT, q);
        if (p->hard)
            return NULL;
        p->pos = start;
    }
    return sub_query(p);
}

static struct kql_node *op_query(struct parser *p, int op, struct kql_node *(*sub)(struct parser *))
{
    struct kql_node *head = sub(p);
    if (!head)
        return NULL;
    node_vec v = {0};
    KX_VEC_PUSH(&v, head);
    for (;;) {
        size_t save = p->pos;
        if (!kw(p, op))
            break;
        struct kql_node *n = sub(p);
        if (!n) {
            p->pos = save;
            break;
        }
        KX_VEC_PUSH(&v, n);
    }
    if (p->hard) {
        KX_VEC_FREE(&v);
        return NULL;
    }
    return mk_list(p, op == EXP_OR ? KQL_OR : KQL_AND, &v);
}

static struct kql_node *and_query(struct parser *p) { return op_query(p, EXP_AND, not_query); }
static struct kql_node *or_query(struct parser *p) { return op_query(p, EXP_OR, and_query); }

/* ---- entry -------------------------------------------------------------------------------- */

/* Write the character at pos the way Kibana's message quotes it, escaping control bytes. */
static void found_text(const char *s, size_t len, size_t pos, char *out, size_t cap)
{
    if (pos >= len) {
        snprintf(out, cap, "end of input");
        return;
    }
    unsigned char c = (unsigned char)s[pos];
    if (c == '\n')
        snprintf(out, cap, "\"\\n\"");
    else if (c == '\t')
        snprintf(out, cap, "\"\\t\"");
    else if (c == '\r')
        snprintf(out, cap, "\"\\r\"");
    else if (c < 0x20 || c == 0x7F)
        snprintf(out, cap, "\"\\x%02X\"", c);
    else {
        size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (pos + n > len)
            n = len - pos;
        snprintf(out, cap, "\"%.*s\"", (int)n, s + pos);
    }
}

struct kql_node *kql_parse(kx_arena *a, const char *src, size_t len, const char *origin,
                           kad_err *err)
{
    if (!origin)
        origin = "<query>";
    if (len > KQL_MAX_LEN) {
        kx_err_at(err, KAD_ELIMIT, origin, src, len, KQL_MAX_LEN, "query is longer than %u bytes",
                  KQL_MAX_LEN);
        return NULL;
    }
    size_t bad = kx_utf8_check(src, len);
    if (bad < len) {
        kx_err_at(err, KAD_EINVAL, origin, src, len, bad, "query is not valid UTF-8");
        return NULL;
    }
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.lx.s = src;
    p.lx.len = len;
    p.lx.out = kx_malloc(len + 1);
    p.lx.marks = kx_malloc((len + 1) * sizeof(size_t));
    p.lx.high_end = SIZE_MAX;
    p.a = a;

    spaces(&p);
    size_t before = p.pos;
    struct kql_node *root = or_query(&p);
    if (!root)
        p.pos = before;
    spaces(&p);
    if (!p.hard && p.pos < len)
        fail_at(&p, p.pos, EXP_END);
    kx_free(p.lx.out);
    kx_free(p.lx.marks);

    if (p.hard) {
        kx_err_at(err, p.hard, origin, src, len, p.hard_pos, "%s", p.hard_msg);
        return NULL;
    }
    if (p.pos < len) {
        char msg[KAD_ERR_MSG_MAX], found[16];
        size_t n = (size_t)snprintf(msg, sizeof(msg), "expected ");
        bool first = true;
        for (int e = 0; e < EXP_COUNT; e++) {
            if (!(p.expected & (1u << e)))
                continue;
            n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s%s", first ? "" : ", ", exp_text[e]);
            first = false;
        }
        found_text(src, len, p.fail_pos, found, sizeof(found));
        /* Kibana's message, plus what it means when the quote found is never closed */
        bool open_quote = p.fail_pos < len && src[p.fail_pos] == '"';
        for (size_t i = p.fail_pos + 1; open_quote && i < len; i++) {
            if (src[i] == '\\')
                i++;
            else if (src[i] == '"')
                open_quote = false;
        }
        kx_err_at(err, KAD_ESYNTAX, origin, src, len, p.fail_pos, "%s but %s found%s", msg, found,
                  open_quote ? " (a quoted string that is never closed starts here)" : "");
        return NULL;
    }
    if (!root) {
        root = mk(&p, KQL_ALL);
        if (!root) {
            kx_err_at(err, p.hard, origin, src, len, 0, "%s", p.hard_msg);
            return NULL;
        }
    }
    return root;
}

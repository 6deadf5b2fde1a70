/*
 * eql_parse.c - recursive-descent parser for Elasticsearch's EQL grammar (restated in
 * docs/internals/eql.md "Grammar"), building the tree in the caller's arena.
 *
 * Binding, loosest first: or, and, not, comparison (not chained), + -, * / %, unary + -,
 * then a primary with an optional predicate (`in`, `not in`, `:`, `like`, `regex` and their ~
 * forms). Errors name the offending token and what was expected there; constructs kadet does
 * not run (sample, join, process relationships, array indexes, pipes other than head and tail)
 * are KAD_EUNSUPPORTED with a message that says so.
 */
#include "eql.h"

#include "base/err.h"
#include "base/vec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ps {
    kx_arena *a;
    const char *src;
    size_t len;
    const char *origin;
    kad_err *err;
    struct eql_token *t;
    size_t n, i;
    int depth;
    bool failed;
};

static const struct eql_token *cur(struct ps *P) { return &P->t[P->i]; }
static int peek(struct ps *P, size_t k) { return P->t[P->i + k < P->n ? P->i + k : P->n - 1].t; }

static void perr(struct ps *P, int code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void perr(struct ps *P, int code, size_t at, const char *fmt, ...)
{
    if (P->failed)
        return;
    P->failed = true;
    va_list ap;
    va_start(ap, fmt);
    eql_verr(P->err, code, P->origin, P->src, P->len, at, fmt, ap);
    va_end(ap);
}

/* The current token as the error message shows it. */
static void found(struct ps *P, char *buf, size_t cap)
{
    const struct eql_token *t = cur(P);
    if (t->t == ET_EOF)
        snprintf(buf, cap, "end of input");
    else
        snprintf(buf, cap, "'%.*s'", (int)(t->end - t->pos > 40 ? 40 : t->end - t->pos),
                 P->src + t->pos);
}

static void expected(struct ps *P, const char *what)
{
    char f[64];
    found(P, f, sizeof f);
    perr(P, KAD_ESYNTAX, cur(P)->pos, "expected %s, found %s", what, f);
}

static bool accept(struct ps *P, int t)
{
    if (cur(P)->t != t)
        return false;
    P->i++;
    return true;
}

static bool expect(struct ps *P, int t, const char *what)
{
    if (accept(P, t))
        return true;
    expected(P, what);
    return false;
}

static struct eql_node *node(struct ps *P, int kind, size_t pos)
{
    struct eql_node *n = kx_arena_zalloc(P->a, sizeof *n);
    if (!n) {
        perr(P, KAD_ELIMIT, pos, "query too large for the rule arena");
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->pos = (uint32_t)pos;
    return n;
}

static bool set_kids(struct ps *P, struct eql_node *n, struct eql_node **k, size_t cnt)
{
    n->kid = kx_arena_memdup(P->a, k, cnt * sizeof *k);
    n->n = (uint32_t)cnt;
    if (!n->kid && cnt) {
        perr(P, KAD_ELIMIT, n->pos, "query too large for the rule arena");
        return false;
    }
    return true;
}

static struct eql_node *binary(struct ps *P, int kind, int op, struct eql_node *l,
                               struct eql_node *r)
{
    if (!l || !r)
        return NULL;
    struct eql_node *n = node(P, kind, l->pos);
    if (!n)
        return NULL;
    n->op = (uint8_t)op;
    struct eql_node *k[2] = {l, r};
    return set_kids(P, n, k, 2) ? n : NULL;
}

static struct eql_node *bool_expr(struct ps *P);

/* ---- constants and fields ------------------------------------------------------------------ */

static bool is_constant(int t)
{
    return t == ET_NULL || t == ET_TRUE || t == ET_FALSE || t == ET_STRING || t == ET_INT ||
           t == ET_DEC || t == ET_BADSTR;
}

static struct eql_node *constant(struct ps *P)
{
    const struct eql_token *t = cur(P);
    struct eql_node *n = node(P, EQL_N_CONST, t->pos);
    if (!n)
        return NULL;
    switch (t->t) {
    case ET_NULL: n->v.t = EQL_V_NULL; break;
    case ET_TRUE:
    case ET_FALSE:
        n->v.t = EQL_V_BOOL;
        n->v.b = t->t == ET_TRUE;
        break;
    case ET_STRING:
        n->v.t = EQL_V_STR;
        n->v.s = t->s;
        n->v.len = t->len;
        break;
    case ET_BADSTR:
        perr(P, KAD_ESYNTAX, t->pos,
             "strings use double quotes (\"...\") or raw strings (\"\"\"...\"\"\"), not %s",
             P->src[t->pos] == '?' ? "?\"...\"" : "single quotes");
        return NULL;
    case ET_INT: {
        /* the smallest integer type that holds it, else a double */
        uint64_t u = 0;
        bool over = false;
        for (size_t i = 0; i < t->len; i++) {
            uint64_t d = (uint64_t)(t->s[i] - '0');
            if (u > (UINT64_MAX - d) / 10)
                over = true;
            u = u * 10 + d;
        }
        if (!over && u <= (uint64_t)INT64_MAX) {
            n->v.t = EQL_V_INT;
            n->v.i = (int64_t)u;
        } else {
            n->v.t = EQL_V_DBL;
            n->v.d = strtod(t->s, NULL);
        }
        break;
    }
    case ET_DEC:
        n->v.t = EQL_V_DBL;
        n->v.d = strtod(t->s, NULL);
        break;
    default: expected(P, "a constant (string, number, true, false or null)"); return NULL;
    }
    P->i++;
    return n;
}

/* field = [?] ident { . ident } ; the path is the parts joined with dots */
static struct eql_node *field(struct ps *P, bool in_keys)
{
    size_t pos = cur(P)->pos;
    bool opt = accept(P, ET_QMARK);
    kx_buf b;
    kx_buf_init(&b, EQL_MAX_LEN);
    for (;;) {
        const struct eql_token *t = cur(P);
        if (t->t != ET_IDENT && t->t != ET_QIDENT) {
            kx_buf_fini(&b);
            if (t->t >= ET_AND && t->t <= ET_WITH)
                perr(P, KAD_ESYNTAX, t->pos,
                     "'%.*s' is a keyword: write a field with this name in backquotes (`%.*s`)",
                     (int)(t->end - t->pos), P->src + t->pos, (int)(t->end - t->pos),
                     P->src + t->pos);
            else
                expected(P, "a field name");
            return NULL;
        }
        kx_buf_add(&b, t->s, t->len);
        P->i++;
        if (cur(P)->t != ET_DOT)
            break;
        P->i++;
        kx_buf_addc(&b, '.');
    }
    struct eql_node *n = node(P, EQL_N_FIELD, pos);
    if (n) {
        n->optional = opt;
        n->path = kx_arena_strndup(P->a, b.ptr, b.len);
        n->plen = b.len;
        if (!n->path) {
            perr(P, KAD_ELIMIT, pos, "query too large for the rule arena");
            n = NULL;
        }
    }
    kx_buf_fini(&b);
    if (n && !in_keys && cur(P)->t == ET_LBRACK)
        perr(P, KAD_EUNSUPPORTED, cur(P)->pos, "array indexes are not supported");
    if (n && cur(P)->t == ET_OF)
        perr(P, KAD_EUNSUPPORTED, cur(P)->pos, "process relationships ('of') are not supported");
    return P->failed ? NULL : n;
}

/* ---- expressions --------------------------------------------------------------------------- */

/*
 * After '(': the items up to ')' become n's children, after `first` when given. Items are
 * expressions, or constants when `constants`; an empty list only when allow_empty.
 */
static bool item_list(struct ps *P, struct eql_node *n, struct eql_node *first, bool constants,
                      bool allow_empty)
{
    KX_VEC(struct eql_node *) k = {0};
    if (first)
        KX_VEC_PUSH(&k, first);
    if (!(allow_empty && accept(P, ET_RPAREN))) {
        do {
            if (constants && !is_constant(cur(P)->t)) {
                expected(P, "a constant pattern");
                break;
            }
            struct eql_node *e = constants ? constant(P) : bool_expr(P);
            if (!e)
                break;
            KX_VEC_PUSH(&k, e);
        } while (accept(P, ET_COMMA));
        if (!P->failed)
            expect(P, ET_RPAREN, "',' or ')'");
    }
    if (!P->failed)
        set_kids(P, n, k.ptr, k.len);
    KX_VEC_FREE(&k);
    return !P->failed;
}

static struct eql_node *call(struct ps *P)
{
    const struct eql_token *t = cur(P);
    struct eql_node *n = node(P, EQL_N_CALL, t->pos);
    if (!n)
        return NULL;
    n->ci = t->t == ET_TIDENT;
    n->path = t->s; /* the name as written; eql_compile resolves it */
    n->plen = t->len;
    P->i += 2; /* name ( */
    return item_list(P, n, NULL, false, true) ? n : NULL;
}

static struct eql_node *primary(struct ps *P)
{
    const struct eql_token *t = cur(P);
    if (is_constant(t->t))
        return constant(P);
    if ((t->t == ET_IDENT || t->t == ET_TIDENT) && peek(P, 1) == ET_LPAREN)
        return call(P);
    if (t->t == ET_TIDENT) {
        perr(P, KAD_ESYNTAX, t->pos, "'%s~' must be followed by '(' (a case-insensitive function)",
             t->s);
        return NULL;
    }
    if (t->t == ET_IDENT || t->t == ET_QIDENT || t->t == ET_QMARK)
        return field(P, false);
    if (t->t == ET_LPAREN) {
        P->i++;
        struct eql_node *e = bool_expr(P);
        if (e && !expect(P, ET_RPAREN, "')'"))
            return NULL;
        return e;
    }
    if (t->t >= ET_AND && t->t <= ET_WITH && t->t != ET_NOT) {
        char f[64];
        found(P, f, sizeof f);
        perr(P, KAD_ESYNTAX, t->pos,
             "expected an expression, found %s (a keyword: write a field with this name in "
             "backquotes)",
             f);
        return NULL;
    }
    expected(P, "an expression");
    return NULL;
}

/* The right side of : like regex: a constant or a parenthesised list of constants. */
static struct eql_node *pattern_pred(struct ps *P, struct eql_node *lhs, int mop, bool ci)
{
    struct eql_node *n = node(P, EQL_N_MATCH, lhs->pos);
    if (!n)
        return NULL;
    n->op = (uint8_t)mop;
    n->ci = ci;
    if (accept(P, ET_LPAREN)) {
        n->listed = 1;
        return item_list(P, n, lhs, true, false) ? n : NULL;
    }
    if (!is_constant(cur(P)->t)) {
        expected(P, "a constant or a list of constants in parentheses");
        return NULL;
    }
    struct eql_node *k[2] = {lhs, constant(P)};
    return k[1] && set_kids(P, n, k, 2) ? n : NULL;
}

static struct eql_node *in_pred(struct ps *P, struct eql_node *lhs, bool neg, bool ci)
{
    struct eql_node *n = node(P, EQL_N_IN, lhs->pos);
    if (!n)
        return NULL;
    n->ci = ci;
    if (!expect(P, ET_LPAREN, "'(' after 'in'") || !item_list(P, n, lhs, false, false))
        return NULL;
    if (!neg)
        return n;
    struct eql_node *x = node(P, EQL_N_NOT, lhs->pos);
    return x && set_kids(P, x, &n, 1) ? x : NULL;
}

static struct eql_node *primary_pred(struct ps *P)
{
    struct eql_node *p = primary(P);
    if (!p)
        return NULL;
    int tok = P->t[P->i].t;
    switch (tok) {
    case ET_IN:
    case ET_INI: P->i++; return in_pred(P, p, false, tok == ET_INI);
    case ET_NOT:
        if (peek(P, 1) == ET_IN || peek(P, 1) == ET_INI) {
            P->i += 2;
            return in_pred(P, p, true, P->t[P->i - 1].t == ET_INI);
        }
        perr(P, KAD_ESYNTAX, cur(P)->pos,
             "only 'in' may follow 'not' here: write 'not <field> like ...' instead of "
             "'<field> not like ...'");
        return NULL;
    case ET_COLON: P->i++; return pattern_pred(P, p, EQL_M_COLON, true);
    case ET_LIKE:
    case ET_LIKEI: P->i++; return pattern_pred(P, p, EQL_M_LIKE, tok == ET_LIKEI);
    case ET_REGEX:
    case ET_REGEXI: P->i++; return pattern_pred(P, p, EQL_M_REGEX, tok == ET_REGEXI);
    default: return p;
    }
}

static bool deeper(struct ps *P)
{
    /* a guard for the parser's own recursion; the nesting of the tree is checked in
       eql_compile.c, so that a query and its canonical text have the same limit */
    if (++P->depth > 5 * EQL_MAX_DEPTH) {
        perr(P, KAD_ELIMIT, cur(P)->pos, "expression nested deeper than %d levels", EQL_MAX_DEPTH);
        return false;
    }
    return true;
}

static struct eql_node *unary(struct ps *P)
{
    int t = cur(P)->t;
    if (t == ET_PLUS || t == ET_MINUS) {
        size_t pos = cur(P)->pos;
        P->i++;
        if (!deeper(P))
            return NULL;
        struct eql_node *e = unary(P);
        P->depth--;
        if (!e || t == ET_PLUS)
            return e;
        struct eql_node *n = node(P, EQL_N_NEG, pos);
        return n && set_kids(P, n, &e, 1) ? n : NULL;
    }
    if (!deeper(P))
        return NULL;
    struct eql_node *e = primary_pred(P);
    P->depth--;
    return e;
}

static struct eql_node *mult(struct ps *P)
{
    struct eql_node *l = unary(P);
    while (l && (cur(P)->t == ET_STAR || cur(P)->t == ET_SLASH || cur(P)->t == ET_PCT)) {
        int op = cur(P)->t == ET_STAR ? '*' : cur(P)->t == ET_SLASH ? '/' : '%';
        P->i++;
        l = binary(P, EQL_N_ARITH, op, l, unary(P));
    }
    return l;
}

static struct eql_node *additive(struct ps *P)
{
    struct eql_node *l = mult(P);
    while (l && (cur(P)->t == ET_PLUS || cur(P)->t == ET_MINUS)) {
        int op = cur(P)->t == ET_PLUS ? '+' : '-';
        P->i++;
        l = binary(P, EQL_N_ARITH, op, l, mult(P));
    }
    return l;
}

static int cmp_op(int t)
{
    switch (t) {
    case ET_EQ: return EQL_EQ;
    case ET_NE: return EQL_NE;
    case ET_LT: return EQL_LT;
    case ET_LE: return EQL_LE;
    case ET_GT: return EQL_GT;
    case ET_GE: return EQL_GE;
    default: return -1;
    }
}

static struct eql_node *value_expr(struct ps *P)
{
    struct eql_node *l = additive(P);
    if (!l)
        return NULL;
    if (cur(P)->t == ET_ASSIGN) {
        perr(P, KAD_ESYNTAX, cur(P)->pos, "'=' is not a comparison: use '==' (or ':')");
        return NULL;
    }
    int op = cmp_op(cur(P)->t);
    if (op < 0)
        return l;
    P->i++;
    struct eql_node *n = binary(P, EQL_N_CMP, op, l, additive(P));
    if (n && cmp_op(cur(P)->t) >= 0) {
        perr(P, KAD_ESYNTAX, cur(P)->pos,
             "comparisons cannot be chained: use 'and' between two comparisons");
        return NULL;
    }
    return n;
}

static struct eql_node *not_expr(struct ps *P)
{
    if (cur(P)->t == ET_NOT) {
        size_t pos = cur(P)->pos;
        P->i++;
        if (!deeper(P))
            return NULL;
        struct eql_node *e = not_expr(P);
        P->depth--;
        if (!e)
            return NULL;
        struct eql_node *n = node(P, EQL_N_NOT, pos);
        return n && set_kids(P, n, &e, 1) ? n : NULL;
    }
    return value_expr(P);
}

static struct eql_node *and_expr(struct ps *P)
{
    struct eql_node *l = not_expr(P);
    while (l && cur(P)->t == ET_AND) {
        P->i++;
        l = binary(P, EQL_N_AND, 0, l, not_expr(P));
    }
    return l;
}

static struct eql_node *bool_expr(struct ps *P)
{
    if (!deeper(P))
        return NULL;
    struct eql_node *l = and_expr(P);
    while (l && cur(P)->t == ET_OR) {
        P->i++;
        l = binary(P, EQL_N_OR, 0, l, and_expr(P));
    }
    if (l && cur(P)->t == ET_IDENT &&
        (strcmp(cur(P)->s, "AND") == 0 || strcmp(cur(P)->s, "OR") == 0 ||
         strcmp(cur(P)->s, "NOT") == 0)) {
        char lower[4] = {0};
        for (int i = 0; i < 3 && cur(P)->s[i]; i++)
            lower[i] = (char)(cur(P)->s[i] | 0x20);
        perr(P, KAD_ESYNTAX, cur(P)->pos, "keywords are lowercase: write '%s', not '%s'", lower,
             cur(P)->s);
        return NULL;
    }
    P->depth--;
    return l;
}

/* ---- queries -------------------------------------------------------------------------------- */

static bool event_filter(struct ps *P, struct eql_filter *f)
{
    const struct eql_token *t = cur(P);
    if (t->t == ET_ANY) {
        P->i++;
    } else if (t->t == ET_IDENT || t->t == ET_STRING) {
        f->category = t->s;
        f->catlen = t->len;
        f->cat_string = t->t == ET_STRING;
        P->i++;
    } else if (t->t == ET_BADSTR) {
        constant(P);
        return false;
    } else {
        expected(P, "'any', an event category or a string");
        return false;
    }
    if (cur(P)->t == ET_OF) {
        perr(P, KAD_EUNSUPPORTED, cur(P)->pos, "process relationships ('of') are not supported");
        return false;
    }
    if (cur(P)->t == ET_IDENT && strcmp(cur(P)->s, "WHERE") == 0) {
        perr(P, KAD_ESYNTAX, cur(P)->pos, "keywords are lowercase: write 'where', not 'WHERE'");
        return false;
    }
    if (!expect(P, ET_WHERE, "'where'"))
        return false;
    f->cond = bool_expr(P);
    return f->cond != NULL;
}

static bool join_keys(struct ps *P, struct eql_node ***keys, uint32_t *n)
{
    KX_VEC(struct eql_node *) k = {0};
    do {
        int t = cur(P)->t;
        if (!((t == ET_IDENT || t == ET_QIDENT || t == ET_QMARK) && peek(P, 1) != ET_LPAREN)) {
            perr(P, KAD_ESYNTAX, cur(P)->pos, "a join key must be a field");
            break;
        }
        struct eql_node *e = field(P, true);
        if (!e)
            break;
        KX_VEC_PUSH(&k, e);
    } while (accept(P, ET_COMMA));
    if (!P->failed) {
        *keys = kx_arena_memdup(P->a, k.ptr, k.len * sizeof *k.ptr);
        *n = (uint32_t)k.len;
    }
    KX_VEC_FREE(&k);
    return !P->failed;
}

static bool seq_term(struct ps *P, struct eql_term *t, bool is_until)
{
    size_t pos = cur(P)->pos;
    if (accept(P, ET_MISSING)) {
        if (is_until) {
            perr(P, KAD_ESYNTAX, pos, "'until' takes '[', not '!['");
            return false;
        }
        t->missing = true;
    } else if (!expect(P, ET_LBRACK, "'['")) {
        return false;
    }
    if (!event_filter(P, &t->f) || !expect(P, ET_RBRACK, "']'"))
        return false;
    t->runs = 1;
    if (accept(P, ET_BY) && !join_keys(P, &t->keys, &t->nown))
        return false;
    t->nkeys = t->nown;
    if (cur(P)->t == ET_WITH) {
        size_t wpos = cur(P)->pos;
        P->i++;
        const struct eql_token *k = cur(P);
        if (k->t == ET_MAXSPAN) {
            perr(P, KAD_ESYNTAX, k->pos,
                 "maxspan belongs to the sequence ('sequence [by ...] with maxspan=...'), not "
                 "to a stage");
            return false;
        }
        if (k->t != ET_IDENT || strcmp(k->s, "runs") != 0) {
            perr(P, KAD_ESYNTAX, k->t == ET_IDENT ? k->pos : wpos,
                 "a stage accepts only 'with runs=N'");
            return false;
        }
        P->i++;
        if (!expect(P, ET_ASSIGN, "'='"))
            return false;
        const struct eql_token *v = cur(P);
        long long r = v->t == ET_INT && v->len < 6 ? atoll(v->s) : -1;
        if (v->t != ET_INT || r < 1 || r > EQL_MAX_RUNS) {
            perr(P, KAD_ESYNTAX, v->pos, "runs must be an integer between 1 and %d", EQL_MAX_RUNS);
            return false;
        }
        if (is_until || t->missing) {
            perr(P, KAD_ESYNTAX, k->pos, "'with runs' is not allowed on %s stage",
                 is_until ? "the until" : "a missing-event");
            return false;
        }
        P->i++;
        t->runs = (uint32_t)r;
        t->runs_written = true;
    }
    return true;
}

static bool maxspan(struct ps *P, struct eql_query *q)
{
    P->i++; /* with */
    if (!expect(P, ET_MAXSPAN, "'maxspan'") || !expect(P, ET_ASSIGN, "'='"))
        return false;
    const struct eql_token *v = cur(P);
    if (v->t == ET_DEC) {
        perr(P, KAD_ESYNTAX, v->pos, "maxspan must be a whole number, not %s", v->s);
        return false;
    }
    if (v->t != ET_INT) {
        expected(P, "a number after 'maxspan='");
        return false;
    }
    P->i++;
    uint64_t n = 0;
    for (size_t i = 0; i < v->len && n < (1ull << 40); i++)
        n = n * 10 + (uint64_t)(v->s[i] - '0');
    const struct eql_token *u = cur(P);
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (u->t != ET_IDENT || u->pos != v->end) {
        perr(P, KAD_ESYNTAX, v->pos, "no time unit specified, did you mean [s] as in [%ss]?", v->s);
        return false;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(u->s, units[i].u) == 0) {
            if (n == 0 || n > (uint64_t)(INT64_MAX / 2) / (uint64_t)units[i].ms) {
                perr(P, KAD_ESYNTAX, v->pos, "maxspan must be positive and at most 100 years");
                return false;
            }
            q->maxspan_ms = (int64_t)n * units[i].ms;
            if (q->maxspan_ms > 100ll * 365 * 86400000) {
                perr(P, KAD_ESYNTAX, v->pos, "maxspan must be positive and at most 100 years");
                return false;
            }
            q->maxspan_n = (int64_t)n;
            q->maxspan_unit = units[i].u;
            P->i++;
            return true;
        }
    }
    perr(P, KAD_ESYNTAX, u->pos, "unknown time unit '%s' (ms, s, m, h or d)", u->s);
    return false;
}

static bool sequence(struct ps *P, struct eql_query *q)
{
    q->sequence = true;
    P->i++;
    if (accept(P, ET_BY) && !join_keys(P, &q->seqkeys, &q->nseqkeys))
        return false;
    if (cur(P)->t == ET_WITH) {
        if (!maxspan(P, q))
            return false;
        if (cur(P)->t == ET_BY) {
            perr(P, KAD_ESYNTAX, cur(P)->pos, "'by' must come before 'with maxspan' in a sequence");
            return false;
        }
    }
    KX_VEC(struct eql_term) terms = {0};
    while (cur(P)->t == ET_LBRACK || cur(P)->t == ET_MISSING) {
        struct eql_term t = {0};
        if (!seq_term(P, &t, false))
            break;
        KX_VEC_PUSH(&terms, t);
    }
    if (!P->failed && terms.len == 0)
        expected(P, "'[' (a sequence stage)");
    if (!P->failed && cur(P)->t == ET_UNTIL) {
        P->i++;
        q->until = kx_arena_zalloc(P->a, sizeof *q->until);
        if (q->until)
            seq_term(P, q->until, true);
    }
    if (!P->failed) {
        q->terms = kx_arena_memdup(P->a, terms.ptr, terms.len * sizeof *terms.ptr);
        q->nterms = (uint32_t)terms.len;
    }
    KX_VEC_FREE(&terms);
    return !P->failed;
}

static bool pipes(struct ps *P, struct eql_query *q)
{
    KX_VEC(__typeof__(*q->pipes)) v = {0};
    while (!P->failed && accept(P, ET_PIPE)) {
        const struct eql_token *t = cur(P);
        if (t->t != ET_IDENT) {
            expected(P, "a pipe name (head or tail)");
            break;
        }
        bool head = strcmp(t->s, "head") == 0, tail = strcmp(t->s, "tail") == 0;
        if (!head && !tail) {
            static const char *const known[] = {"count", "filter", "sort", "unique",
                                                "unique_count"};
            bool k = false;
            for (size_t i = 0; i < 5; i++)
                k = k || strcmp(t->s, known[i]) == 0;
            if (k)
                perr(P, KAD_EUNSUPPORTED, t->pos,
                     "pipe [%s] is not supported (only head and tail are)", t->s);
            else
                perr(P, KAD_ESYNTAX, t->pos, "unrecognized pipe [%s]", t->s);
            break;
        }
        P->i++;
        const struct eql_token *n = cur(P);
        if (n->t != ET_INT || n->len > 18) {
            perr(P, KAD_ESYNTAX, n->pos,
                 "pipe [%s] takes one non-negative integer, as in '| %s 10'", t->s, t->s);
            break;
        }
        P->i++;
        __typeof__(*q->pipes) p = {.tail = tail, .n = atoll(n->s)};
        KX_VEC_PUSH(&v, p);
    }
    if (!P->failed && v.len) {
        q->pipes = kx_arena_memdup(P->a, v.ptr, v.len * sizeof *v.ptr);
        q->npipes = (uint32_t)v.len;
    }
    KX_VEC_FREE(&v);
    return !P->failed;
}

struct eql_query *eql_parse(kx_arena *a, const char *src, size_t len, const char *origin,
                            kad_err *err)
{
    struct eql_token *toks;
    size_t ntoks;
    if (eql_lex(a, src, len, origin, &toks, &ntoks, err) != KAD_OK)
        return NULL;
    struct ps P = {
        .a = a, .src = src, .len = len, .origin = origin, .err = err, .t = toks, .n = ntoks};
    struct eql_query *q = kx_arena_zalloc(a, sizeof *q);
    if (!q) {
        kx_err_at(err, KAD_ELIMIT, origin, src, len, 0, "query too large for the rule arena");
        return NULL;
    }
    const struct eql_token *t = cur(&P);
    switch (t->t) {
    case ET_SEQUENCE: sequence(&P, q); break;
    case ET_SAMPLE:
        perr(&P, KAD_EUNSUPPORTED, t->pos,
             "sample queries are not supported by kadet (event queries and sequences are)");
        break;
    case ET_JOIN: perr(&P, KAD_EUNSUPPORTED, t->pos, "join queries are not supported"); break;
    case ET_EOF:
        perr(&P, KAD_ESYNTAX, t->pos, "empty query: expected 'any where ...' or 'sequence ...'");
        break;
    default: event_filter(&P, &q->ev); break;
    }
    if (!P.failed)
        pipes(&P, q);
    if (!P.failed && cur(&P)->t != ET_EOF) {
        char f[64];
        found(&P, f, sizeof f);
        perr(&P, KAD_ESYNTAX, cur(&P)->pos, "unexpected %s after the end of the query%s", f,
             q->sequence ? "" : " (missing 'and' or 'or'?)");
    }
    return P.failed ? NULL : q;
}

/*
 * esql_parse.c - ES|QL text -> compiled program.
 *
 * Two passes. The parser (recursive descent over the modal lexer of esql_lex.c) builds the
 * commands with unresolved names and collects every column name the query reads. The
 * compiler then walks the commands with the current table layout: FROM's layout is the
 * METADATA columns plus one source column per name read (typed by the field schema below,
 * loaded from each document on first use), and every command turns its input layout into its
 * output layout (names resolved to column indexes, types checked, string literals cast where
 * a date/ip/boolean is expected, LIKE/RLIKE/GROK/DISSECT/KQL patterns compiled). Every error
 * is positioned at the offending byte of the query.
 */
#include "esql/esql_int.h"

#include "base/err.h"
#include "base/jsonw.h"
#include "base/vec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- field schema --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t type;
} schema[] = {
    {"@timestamp", ESQL_DATE},
    {"event.ingested", ESQL_DATE},
    {"event.created", ESQL_DATE},
    {"event.start", ESQL_DATE},
    {"event.end", ESQL_DATE},
    {"event.duration", ESQL_LONG},
    {"kubernetes.audit.requestReceivedTimestamp", ESQL_DATE},
    {"kubernetes.audit.stageTimestamp", ESQL_DATE},
    {"kubernetes.audit.responseStatus.code", ESQL_INT},
    {"kubernetes.audit.sourceIPs", ESQL_TEXT},
    {"kubernetes.audit.user.groups", ESQL_TEXT},
    {"kubernetes.audit.impersonatedUser.groups", ESQL_TEXT},
    {"kubernetes.audit.responseStatus.message", ESQL_TEXT},
    {"source.ip", ESQL_IP},
    {"destination.ip", ESQL_IP},
    {"client.ip", ESQL_IP},
    {"server.ip", ESQL_IP},
    {"host.ip", ESQL_IP},
    {"related.ip", ESQL_IP},
    {"source.port", ESQL_LONG},
    {"destination.port", ESQL_LONG},
    {"http.response.status_code", ESQL_LONG},
    {"message", ESQL_TEXT},
};

int esql_field_type(const char *name)
{
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
        if (strcmp(schema[i].name, name) == 0)
            return schema[i].type;
    return ESQL_KEYWORD;
}

/* ---- parser state --------------------------------------------------------------------------- */

struct P {
    struct lexer lx;
    kx_arena *a;
    kad_err *err;
    const char *origin;
    size_t pos; /* after t */
    struct tok t;
    int mode;
    int depth;
    bool failed;
    struct esql_prog *prog;
    KX_VEC(const char *) names;    /* column names read, first use order */
    KX_VEC(const char *) kqlnames; /* fields read by KQL() */
    KX_VEC(struct esql_cmd) cmds;
    uint32_t now_cmd; /* first command calling NOW() */
};

static bool perr(struct P *P, size_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool perr(struct P *P, size_t off, int code, const char *fmt, ...)
{
    if (P->failed)
        return false;
    P->failed = true;
    char m[KAD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    kx_err_at(P->err, code, P->origin, P->lx.s, P->lx.len, off, "%s", m);
    return false;
}

static bool next(struct P *P)
{
    if (P->failed)
        return false;
    if (!esql_lex(&P->lx, &P->pos, P->mode, &P->t)) {
        P->failed = true;
        return false;
    }
    return true;
}

static const char *tok_desc(const struct tok *t, char *buf, size_t cap)
{
    if (t->kind == T_EOF)
        return "end of query";
    snprintf(buf, cap, "'%.40s'", t->text ? t->text : "");
    return buf;
}

static bool expected(struct P *P, const char *what)
{
    char b[64];
    return perr(P, P->t.pos, KAD_ESYNTAX, "expected %s, found %s", what,
                tok_desc(&P->t, b, sizeof b));
}

static bool kw(struct P *P, const char *k) { return esql_tok_kw(&P->t, k); }

static void note_name(struct P *P, const char *name)
{
    for (size_t i = 0; i < P->names.len; i++)
        if (strcmp(P->names.ptr[i], name) == 0)
            return;
    KX_VEC_PUSH(&P->names, name);
}

static struct esql_expr *new_expr(struct P *P, int kind, uint32_t pos)
{
    struct esql_expr *e = kx_arena_zalloc(P->a, sizeof *e);
    if (!e) {
        perr(P, pos, KAD_ELIMIT, "query too large");
        return NULL;
    }
    e->kind = (uint8_t)kind;
    e->pos = pos;
    e->col = -1;
    return e;
}

static const char *const reserved[] = {"and",  "or",   "not",   "is", "in", "like",  "rlike",
                                       "null", "true", "false", "by", "as", "where", NULL};
static bool is_reserved(const struct tok *t)
{
    for (int i = 0; reserved[i]; i++)
        if (esql_tok_kw(t, reserved[i]))
            return true;
    return false;
}

/* ---- literals ---------------------------------------------------------------------------- */

static struct esql_sv *sv1(struct P *P)
{
    struct esql_sv *v = kx_arena_zalloc(P->a, sizeof *v);
    if (!v)
        perr(P, P->t.pos, KAD_ELIMIT, "query too large");
    return v;
}

struct unit {
    const char *names[5];
    int kind; /* 0 period months, 1 period days, 2 duration ms */
    int64_t mul;
};
static const struct unit units[] = {
    {{"year", "years", "y", "yr", "yrs"}, 0, 12},
    {{"quarter", "quarters", "q", NULL, NULL}, 0, 3},
    {{"month", "months", "mo", NULL, NULL}, 0, 1},
    {{"week", "weeks", "w", NULL, NULL}, 1, 7},
    {{"day", "days", "d", NULL, NULL}, 1, 1},
    {{"hour", "hours", "h", NULL, NULL}, 2, 3600000},
    {{"minute", "minutes", "min", "m", NULL}, 2, 60000},
    {{"second", "seconds", "sec", "s", NULL}, 2, 1000},
    {{"millisecond", "milliseconds", "ms", NULL, NULL}, 2, 1},
};

static const struct unit *find_unit(const struct tok *t)
{
    if (t->kind != T_IDENT || t->quoted)
        return NULL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        for (int k = 0; k < 5 && units[i].names[k]; k++)
            if (esql_tok_kw(t, units[i].names[k]))
                return &units[i];
    return NULL;
}

static struct esql_expr *parse_number(struct P *P)
{
    struct esql_expr *e = new_expr(P, EX_LIT, P->t.pos);
    struct esql_sv *v = sv1(P);
    if (!e || !v)
        return NULL;
    e->is_const = true;
    e->lit.n = 1;
    e->lit.v = v;
    e->end = P->t.end;
    if (P->t.kind == T_DEC) {
        v->u.d = strtod(P->t.text, NULL);
        e->type = e->lit.type = ESQL_DOUBLE;
        next(P);
        return e;
    }
    errno = 0;
    char *end;
    unsigned long long u = strtoull(P->t.text, &end, 10);
    bool big = errno == ERANGE || u > INT64_MAX;
    if (big) {
        v->u.d = strtod(P->t.text, NULL);
        e->type = ESQL_DOUBLE;
    } else {
        v->u.i = (int64_t)u;
        e->type = u <= INT32_MAX ? ESQL_INT : ESQL_LONG;
    }
    /* a time span: integer + unit */
    size_t save = P->pos;
    struct tok st = P->t;
    if (!next(P))
        return NULL;
    const struct unit *un = find_unit(&P->t);
    if (un && !big) {
        int64_t x = v->u.i;
        if (un->kind == 2) {
            if (x > INT64_MAX / un->mul) {
                perr(P, st.pos, KAD_EINVAL, "time span %s too large", st.text);
                return NULL;
            }
            v->u.i = x * un->mul;
            e->type = ESQL_DURATION;
        } else {
            if (x * un->mul > INT32_MAX) {
                perr(P, st.pos, KAD_EINVAL, "time span %s too large", st.text);
                return NULL;
            }
            memset(v, 0, sizeof *v);
            if (un->kind == 0)
                v->u.per.months = (int32_t)(x * un->mul);
            else
                v->u.per.days = (int32_t)(x * un->mul);
            e->type = ESQL_PERIOD;
        }
        e->end = P->t.end;
        next(P);
    } else if (!un) {
        P->pos = save;
        P->t = st;
        next(P);
    } else {
        perr(P, st.pos, KAD_EINVAL, "time span %s too large", st.text);
        return NULL;
    }
    e->lit.type = e->type;
    return e;
}

/* ---- expressions --------------------------------------------------------------------------- */

static struct esql_expr *parse_bexpr(struct P *P);

static bool enter(struct P *P)
{
    if (++P->depth > ESQL_MAX_DEPTH)
        return perr(P, P->t.pos, KAD_ELIMIT, "expression nested deeper than %d", ESQL_MAX_DEPTH);
    return true;
}

static struct esql_expr *parse_call(struct P *P, struct tok name)
{
    /* P->t is '(' */
    struct esql_expr *e = new_expr(P, EX_FN, name.pos);
    if (!e)
        return NULL;
    e->name = name.text;
    e->fn = esql_fn_find(name.text, name.len);
    if (!e->fn) {
        perr(P, name.pos, KAD_EUNSUPPORTED, "unknown function [%s]", name.text);
        return NULL;
    }
    if ((e->fn->flags & FN_NOW) && P->cmds.len < P->now_cmd)
        P->now_cmd = (uint32_t)P->cmds.len; /* the command being parsed */
    KX_VEC(struct esql_expr *) args = {0};
    if (!next(P))
        return NULL;
    if (P->t.kind == T_STAR) {
        e->star = true;
        next(P);
    } else if (P->t.kind != T_RPAREN) {
        for (;;) {
            struct esql_expr *a = parse_bexpr(P);
            if (!a) {
                KX_VEC_FREE(&args);
                return NULL;
            }
            KX_VEC_PUSH(&args, a);
            if (P->t.kind != T_COMMA)
                break;
            next(P);
        }
    }
    if (P->t.kind != T_RPAREN) {
        KX_VEC_FREE(&args);
        expected(P, "',' or ')'");
        return NULL;
    }
    e->end = P->t.end;
    e->narg = (uint32_t)args.len;
    e->arg = args.len ? kx_arena_memdup(P->a, args.ptr, args.len * sizeof *args.ptr) : NULL;
    KX_VEC_FREE(&args);
    next(P);
    return e;
}

static struct esql_expr *parse_primary(struct P *P)
{
    struct tok t = P->t;
    struct esql_expr *e = NULL;
    switch (t.kind) {
    case T_INT:
    case T_DEC: return parse_number(P);
    case T_STRING:
        e = new_expr(P, EX_LIT, t.pos);
        struct esql_sv *v = sv1(P);
        if (!e || !v)
            return NULL;
        v->u.s.p = t.text;
        v->u.s.n = t.len;
        e->type = e->lit.type = ESQL_KEYWORD;
        e->lit.n = 1;
        e->lit.v = v;
        e->strlit = e->is_const = true;
        e->end = t.end;
        next(P);
        return e;
    case T_LPAREN:
        next(P);
        e = parse_bexpr(P);
        if (!e)
            return NULL;
        if (P->t.kind != T_RPAREN) {
            expected(P, "')'");
            return NULL;
        }
        e->end = P->t.end;
        next(P);
        return e;
    case T_LBRACK: {
        e = new_expr(P, EX_LIST, t.pos);
        KX_VEC(struct esql_expr *) items = {0};
        next(P);
        while (e && P->t.kind != T_RBRACK) {
            struct esql_expr *x = parse_primary(P);
            if (!x || !x->is_const || x->kind == EX_LIST) {
                if (x)
                    perr(P, x->pos, KAD_ESYNTAX, "list items must be constants");
                KX_VEC_FREE(&items);
                return NULL;
            }
            KX_VEC_PUSH(&items, x);
            if (P->t.kind == T_COMMA)
                next(P);
            else if (P->t.kind != T_RBRACK) {
                KX_VEC_FREE(&items);
                expected(P, "',' or ']'");
                return NULL;
            }
        }
        if (!e) {
            KX_VEC_FREE(&items);
            return NULL;
        }
        e->narg = (uint32_t)items.len;
        e->arg = items.len ? kx_arena_memdup(P->a, items.ptr, items.len * sizeof *items.ptr) : NULL;
        KX_VEC_FREE(&items);
        e->end = P->t.end;
        e->is_const = true;
        next(P);
        return e;
    }
    case T_PARAM:
        perr(P, t.pos, KAD_EUNSUPPORTED, "query parameters (?) are not supported");
        return NULL;
    case T_IDENT:
        if (esql_tok_kw(&t, "null") || esql_tok_kw(&t, "true") || esql_tok_kw(&t, "false")) {
            e = new_expr(P, EX_LIT, t.pos);
            if (!e)
                return NULL;
            e->is_const = true;
            e->end = t.end;
            if (esql_tok_kw(&t, "null")) {
                e->type = ESQL_NULL;
            } else {
                struct esql_sv *b = sv1(P);
                if (!b)
                    return NULL;
                b->u.i = esql_tok_kw(&t, "true");
                e->type = e->lit.type = ESQL_BOOL;
                e->lit.n = 1;
                e->lit.v = b;
            }
            next(P);
            return e;
        }
        if (is_reserved(&t))
            break;
        {
            size_t save = P->pos;
            if (!next(P))
                return NULL;
            if (P->t.kind == T_LPAREN && !t.quoted && !strchr(t.text, '.'))
                return parse_call(P, t);
            P->pos = save;
            P->t = t;
            e = new_expr(P, EX_COL, t.pos);
            if (!e)
                return NULL;
            e->name = t.text;
            e->end = t.end;
            note_name(P, t.text);
            next(P);
            return e;
        }
    default: break;
    }
    expected(P, "an expression");
    return NULL;
}

static const struct {
    const char *name;
    uint8_t type;
} cast_types[] = {
    {"keyword", ESQL_KEYWORD}, {"string", ESQL_KEYWORD}, {"text", ESQL_KEYWORD},
    {"integer", ESQL_INT},     {"int", ESQL_INT},        {"long", ESQL_LONG},
    {"double", ESQL_DOUBLE},   {"boolean", ESQL_BOOL},   {"bool", ESQL_BOOL},
    {"datetime", ESQL_DATE},   {"date", ESQL_DATE},      {"ip", ESQL_IP},
};

static struct esql_expr *parse_postfix(struct P *P)
{
    struct esql_expr *e = parse_primary(P);
    while (e && P->t.kind == T_CAST) {
        next(P);
        int ty = -1;
        for (size_t i = 0; i < sizeof cast_types / sizeof cast_types[0]; i++)
            if (esql_tok_kw(&P->t, cast_types[i].name))
                ty = cast_types[i].type;
        if (ty < 0) {
            if (P->t.kind == T_IDENT)
                perr(P, P->t.pos, KAD_EUNSUPPORTED, "unsupported conversion to [%s]", P->t.text);
            else
                expected(P, "a type name");
            return NULL;
        }
        struct esql_expr *c = new_expr(P, EX_CAST, e->pos);
        if (!c)
            return NULL;
        c->type = (uint8_t)ty;
        c->arg = kx_arena_alloc(P->a, sizeof *c->arg);
        if (!c->arg)
            return NULL;
        c->arg[0] = e;
        c->narg = 1;
        c->end = P->t.end;
        c->pos = P->t.pos;
        e = c;
        next(P);
    }
    return e;
}

static struct esql_expr *unary(struct P *P, int kind, struct esql_expr *a, uint32_t pos)
{
    struct esql_expr *e = new_expr(P, kind, pos);
    if (!e || !a)
        return NULL;
    e->arg = kx_arena_alloc(P->a, sizeof *e->arg);
    if (!e->arg)
        return NULL;
    e->arg[0] = a;
    e->narg = 1;
    e->end = a->end;
    return e;
}

static struct esql_expr *binary(struct P *P, int kind, int op, struct esql_expr *a,
                                struct esql_expr *b, uint32_t pos)
{
    if (!a || !b)
        return NULL;
    struct esql_expr *e = new_expr(P, kind, pos);
    if (!e)
        return NULL;
    e->op = (uint8_t)op;
    e->arg = kx_arena_alloc(P->a, 2 * sizeof *e->arg);
    if (!e->arg)
        return NULL;
    e->arg[0] = a;
    e->arg[1] = b;
    e->narg = 2;
    e->end = b->end;
    return e;
}

static struct esql_expr *parse_unary(struct P *P)
{
    if (P->t.kind == T_MINUS || P->t.kind == T_PLUS) {
        struct tok t = P->t;
        if (!enter(P))
            return NULL;
        next(P);
        struct esql_expr *a = parse_unary(P);
        P->depth--;
        if (t.kind == T_PLUS || !a)
            return a;
        if (a->kind == EX_LIT && a->lit.n && (a->type == ESQL_INT || a->type == ESQL_LONG) &&
            a->lit.v->u.i != INT64_MIN) {
            struct esql_sv *v = (struct esql_sv *)a->lit.v;
            v->u.i = -v->u.i;
            if (a->type == ESQL_LONG && v->u.i >= INT32_MIN)
                a->type = a->lit.type = ESQL_INT;
            a->pos = t.pos;
            return a;
        }
        if (a->kind == EX_LIT && a->lit.n && a->type == ESQL_DOUBLE) {
            struct esql_sv *v = (struct esql_sv *)a->lit.v;
            v->u.d = -v->u.d;
            a->pos = t.pos;
            return a;
        }
        return unary(P, EX_NEG, a, t.pos);
    }
    return parse_postfix(P);
}

static struct esql_expr *parse_term(struct P *P)
{
    struct esql_expr *e = parse_unary(P);
    while (e && (P->t.kind == T_STAR || P->t.kind == T_SLASH || P->t.kind == T_PERCENT)) {
        int op = P->t.kind == T_STAR ? OP_MUL : P->t.kind == T_SLASH ? OP_DIV : OP_MOD;
        uint32_t pos = P->t.pos;
        next(P);
        e = binary(P, EX_ARITH, op, e, parse_unary(P), pos);
    }
    return e;
}

static struct esql_expr *parse_arith(struct P *P)
{
    struct esql_expr *e = parse_term(P);
    while (e && (P->t.kind == T_PLUS || P->t.kind == T_MINUS)) {
        int op = P->t.kind == T_PLUS ? OP_ADD : OP_SUB;
        uint32_t pos = P->t.pos;
        next(P);
        e = binary(P, EX_ARITH, op, e, parse_term(P), pos);
    }
    return e;
}

static struct esql_expr *parse_vexpr(struct P *P)
{
    struct esql_expr *e = parse_arith(P);
    int op = -1;
    switch (P->t.kind) {
    case T_EQEQ: op = OP_EQ; break;
    case T_NEQ: op = OP_NEQ; break;
    case T_LT: op = OP_LT; break;
    case T_LTE: op = OP_LTE; break;
    case T_GT: op = OP_GT; break;
    case T_GTE: op = OP_GTE; break;
    case T_EQ:
        if (e)
            perr(P, P->t.pos, KAD_ESYNTAX, "'=' is not a comparison: use '=='");
        return NULL;
    default: return e;
    }
    uint32_t pos = P->t.pos;
    next(P);
    e = binary(P, EX_CMP, op, e, parse_arith(P), pos);
    if (e && (P->t.kind == T_EQEQ || P->t.kind == T_NEQ || P->t.kind == T_LT ||
              P->t.kind == T_LTE || P->t.kind == T_GT || P->t.kind == T_GTE)) {
        perr(P, P->t.pos, KAD_ESYNTAX, "comparisons cannot be chained");
        return NULL;
    }
    return e;
}

static struct esql_expr *string_lit(struct P *P)
{
    if (P->t.kind != T_STRING) {
        expected(P, "a string pattern");
        return NULL;
    }
    return parse_primary(P);
}

/* At '(': "(" item ("," item)* ")" into x->arg after `first`. */
static bool paren_list(struct P *P, struct esql_expr *x, struct esql_expr *first,
                       struct esql_expr *(*item)(struct P *))
{
    KX_VEC(struct esql_expr *) args = {0};
    KX_VEC_PUSH(&args, first);
    next(P);
    for (;;) {
        struct esql_expr *s = item(P);
        if (!s)
            break;
        KX_VEC_PUSH(&args, s);
        if (P->t.kind != T_COMMA)
            break;
        next(P);
    }
    if (!P->failed && P->t.kind != T_RPAREN)
        expected(P, "',' or ')'");
    x->narg = (uint32_t)args.len;
    x->arg = kx_arena_memdup(P->a, args.ptr, args.len * sizeof *args.ptr);
    KX_VEC_FREE(&args);
    if (P->failed)
        return false;
    x->end = P->t.end;
    return next(P);
}

static struct esql_expr *parse_pred(struct P *P)
{
    struct esql_expr *e = parse_vexpr(P);
    if (!e)
        return NULL;
    bool neg = false;
    uint32_t pos = P->t.pos;
    if (kw(P, "not")) {
        size_t save = P->pos;
        struct tok t = P->t;
        next(P);
        if (kw(P, "like") || kw(P, "rlike") || kw(P, "in")) {
            neg = true;
        } else {
            P->pos = save;
            P->t = t;
            return e;
        }
    }
    if (kw(P, "like") || kw(P, "rlike")) {
        bool rl = kw(P, "rlike");
        struct esql_expr *x = new_expr(P, rl ? EX_RLIKE : EX_LIKE, pos);
        if (!x)
            return NULL;
        x->neg = neg;
        next(P);
        if (!rl && P->t.kind == T_LPAREN)
            return paren_list(P, x, e, string_lit) ? x : NULL;
        struct esql_expr *s = string_lit(P);
        x->arg = s ? kx_arena_alloc(P->a, 2 * sizeof *x->arg) : NULL;
        if (!x->arg)
            return NULL;
        x->arg[0] = e;
        x->arg[1] = s;
        x->narg = 2;
        x->end = s->end;
        return x;
    }
    if (kw(P, "in")) {
        struct esql_expr *x = new_expr(P, EX_IN, pos);
        if (!x)
            return NULL;
        x->neg = neg;
        next(P);
        if (P->t.kind != T_LPAREN) {
            expected(P, "'(' after IN");
            return NULL;
        }
        return paren_list(P, x, e, parse_vexpr) ? x : NULL;
    }
    if (kw(P, "is")) {
        next(P);
        bool n = false;
        if (kw(P, "not")) {
            n = true;
            next(P);
        }
        if (!kw(P, "null")) {
            expected(P, "NULL");
            return NULL;
        }
        struct esql_expr *x = unary(P, EX_ISNULL, e, pos);
        if (!x)
            return NULL;
        x->neg = n;
        x->end = P->t.end;
        next(P);
        return x;
    }
    return e;
}

static struct esql_expr *parse_not(struct P *P)
{
    if (kw(P, "not")) {
        uint32_t pos = P->t.pos;
        if (!enter(P))
            return NULL;
        next(P);
        struct esql_expr *a = parse_not(P);
        P->depth--;
        return unary(P, EX_NOT, a, pos);
    }
    return parse_pred(P);
}

static struct esql_expr *parse_and(struct P *P)
{
    struct esql_expr *e = parse_not(P);
    while (e && kw(P, "and")) {
        uint32_t pos = P->t.pos;
        next(P);
        e = binary(P, EX_AND, 0, e, parse_not(P), pos);
    }
    return e;
}

static struct esql_expr *parse_bexpr(struct P *P)
{
    if (!enter(P))
        return NULL;
    struct esql_expr *e = parse_and(P);
    while (e && kw(P, "or")) {
        uint32_t pos = P->t.pos;
        next(P);
        e = binary(P, EX_OR, 0, e, parse_and(P), pos);
    }
    P->depth--;
    return e;
}

/* ---- commands ---------------------------------------------------------------------------- */

/* [name =] expr ; name defaults to the expression's source text */
static bool parse_named(struct P *P, struct named *f)
{
    memset(f, 0, sizeof *f);
    f->drop = -1;
    f->pos = P->t.pos;
    if (P->t.kind == T_IDENT && !is_reserved(&P->t)) {
        size_t save = P->pos;
        struct tok t = P->t;
        next(P);
        if (P->t.kind == T_EQ) {
            f->name = t.text;
            next(P);
        } else {
            P->pos = save;
            P->t = t;
        }
    }
    uint32_t start = P->t.pos;
    f->e = parse_bexpr(P);
    if (!f->e)
        return false;
    if (!f->name) {
        /* the source text, comments and surrounding blanks left as written */
        size_t b = start, e = f->e->end;
        if (e < b)
            e = b;
        f->name = kx_arena_strndup(P->a, P->lx.s + b, e - b);
    }
    return f->name != NULL;
}

/* named (, named)* ; with `filter`, each may be followed by WHERE cond (STATS aggregates) */
static bool parse_named_list(struct P *P, bool filter, struct named **out, uint32_t *n)
{
    KX_VEC(struct named) v = {0};
    bool ok = true;
    for (;;) {
        struct named f;
        if (!parse_named(P, &f)) {
            ok = false;
            break;
        }
        if (filter && kw(P, "where")) {
            next(P);
            f.filter = parse_bexpr(P);
            if (!f.filter) {
                ok = false;
                break;
            }
        }
        KX_VEC_PUSH(&v, f);
        if (P->t.kind != T_COMMA)
            break;
        next(P);
    }
    *n = (uint32_t)v.len;
    *out = v.len ? kx_arena_memdup(P->a, v.ptr, v.len * sizeof *v.ptr) : NULL;
    KX_VEC_FREE(&v);
    return ok;
}

static bool parse_fields(struct P *P, struct esql_cmd *c, bool agg)
{
    if (!(agg && (kw(P, "by") || P->t.kind == T_PIPE || P->t.kind == T_EOF)) &&
        !parse_named_list(P, agg, &c->f, &c->nf))
        return false;
    if (agg && kw(P, "by")) {
        next(P);
        if (!parse_named_list(P, false, &c->by, &c->nby))
            return false;
    }
    if (agg && !c->nf && !c->nby)
        return expected(P, "an aggregate or BY");
    if (!agg && !c->nf)
        return expected(P, "an expression");
    return true;
}

static bool parse_patterns(struct P *P, struct esql_cmd *c, bool rename)
{
    KX_VEC(const char *) v = {0};
    KX_VEC(uint32_t) pp = {0};
    bool ok = true;
    for (;;) {
        if (P->t.kind != T_IDENT && P->t.kind != T_PAT) {
            ok = expected(P, "a column name");
            break;
        }
        if (rename) {
            struct tok a = P->t;
            if (a.kind == T_PAT) {
                ok = perr(P, a.pos, KAD_EUNSUPPORTED, "RENAME does not take patterns");
                break;
            }
            next(P);
            struct tok b;
            if (kw(P, "as")) {
                next(P);
                b = P->t;
                if (b.kind != T_IDENT) {
                    ok = expected(P, "a column name");
                    break;
                }
            } else if (P->t.kind == T_EQ) {
                /* new = old */
                next(P);
                b = a;
                a = P->t;
                if (a.kind != T_IDENT) {
                    ok = expected(P, "a column name");
                    break;
                }
            } else {
                ok = expected(P, "AS");
                break;
            }
            KX_VEC_PUSH(&v, a.text);
            KX_VEC_PUSH(&pp, a.pos);
            KX_VEC_PUSH(&v, b.text);
            KX_VEC_PUSH(&pp, b.pos);
            note_name(P, a.text);
        } else {
            KX_VEC_PUSH(&v, P->t.text);
            KX_VEC_PUSH(&pp, P->t.pos);
            if (P->t.kind == T_IDENT)
                note_name(P, P->t.text);
        }
        next(P);
        if (P->t.kind != T_COMMA)
            break;
        next(P);
    }
    c->npat = (uint32_t)v.len;
    c->pat = v.len ? kx_arena_memdup(P->a, v.ptr, v.len * sizeof *v.ptr) : NULL;
    c->ppos = pp.len ? kx_arena_memdup(P->a, pp.ptr, pp.len * sizeof *pp.ptr) : NULL;
    KX_VEC_FREE(&v);
    KX_VEC_FREE(&pp);
    return ok && !P->failed;
}

static bool parse_command(struct P *P, struct esql_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->pos = P->t.pos;
    c->mvcol = -1;
    struct tok t = P->t;
    if (t.kind != T_IDENT)
        return expected(P, "a command");
    if (esql_tok_kw(&t, "keep") || esql_tok_kw(&t, "drop") || esql_tok_kw(&t, "rename")) {
        c->kind = esql_tok_kw(&t, "keep") ? C_KEEP : esql_tok_kw(&t, "drop") ? C_DROP : C_RENAME;
        P->mode = M_PROJECT;
        next(P);
        bool ok = parse_patterns(P, c, c->kind == C_RENAME);
        P->mode = M_EXPR;
        return ok;
    }
    next(P);
    if (esql_tok_kw(&t, "where")) {
        c->kind = C_WHERE;
        c->e = parse_bexpr(P);
        return c->e != NULL;
    }
    if (esql_tok_kw(&t, "eval")) {
        c->kind = C_EVAL;
        return parse_fields(P, c, false);
    }
    if (esql_tok_kw(&t, "stats")) {
        c->kind = C_STATS;
        P->prog->aggregating = true;
        return parse_fields(P, c, true);
    }
    if (esql_tok_kw(&t, "sort")) {
        c->kind = C_SORT;
        KX_VEC(struct sortkey) v = {0};
        for (;;) {
            struct sortkey k = {0};
            k.e = parse_bexpr(P);
            if (!k.e)
                break;
            if (kw(P, "asc")) {
                next(P);
            } else if (kw(P, "desc")) {
                k.desc = true;
                next(P);
            }
            k.nulls_first = k.desc;
            if (kw(P, "nulls")) {
                next(P);
                if (kw(P, "first"))
                    k.nulls_first = true;
                else if (kw(P, "last"))
                    k.nulls_first = false;
                else {
                    expected(P, "FIRST or LAST");
                    break;
                }
                next(P);
            }
            KX_VEC_PUSH(&v, k);
            if (P->t.kind != T_COMMA)
                break;
            next(P);
        }
        c->nsk = (uint32_t)v.len;
        c->sk = v.len ? kx_arena_memdup(P->a, v.ptr, v.len * sizeof *v.ptr) : NULL;
        KX_VEC_FREE(&v);
        return !P->failed;
    }
    if (esql_tok_kw(&t, "limit")) {
        c->kind = C_LIMIT;
        if (P->t.kind != T_INT)
            return expected(P, "an integer");
        char *end;
        errno = 0;
        unsigned long long n = strtoull(P->t.text, &end, 10);
        if (errno || n > INT32_MAX)
            return perr(P, P->t.pos, KAD_EINVAL, "LIMIT %s is too large", P->t.text);
        c->limit = (int64_t)n;
        P->prog->has_limit = true;
        return next(P);
    }
    if (esql_tok_kw(&t, "grok") || esql_tok_kw(&t, "dissect")) {
        bool grok = esql_tok_kw(&t, "grok");
        c->kind = grok ? C_GROK : C_DISSECT;
        c->e = parse_postfix(P);
        if (!c->e)
            return false;
        if (P->t.kind != T_STRING)
            return expected(P, "a pattern string");
        struct tok pt = P->t;
        char msg[256];
        msg[0] = 0;
        if (grok) {
            c->grok = esql_grok_compile(P->a, pt.text, pt.len, msg, sizeof msg);
            if (!c->grok)
                return perr(P, pt.pos, KAD_EINVAL, "GROK pattern: %s", msg);
        } else {
            c->dis = esql_dissect_compile(P->a, pt.text, pt.len, msg, sizeof msg);
            if (!c->dis)
                return perr(P, pt.pos, KAD_EINVAL, "DISSECT pattern: %s", msg);
        }
        next(P);
        if (grok && P->t.kind == T_COMMA)
            return perr(P, P->t.pos, KAD_EUNSUPPORTED, "GROK takes one pattern");
        if (!grok && P->t.kind == T_IDENT && !is_reserved(&P->t)) {
            if (!esql_tok_kw(&P->t, "append_separator"))
                return perr(P, P->t.pos, KAD_EINVAL,
                            "unknown DISSECT option [%s] (APPEND_SEPARATOR)", P->t.text);
            next(P);
            if (P->t.kind != T_EQ)
                return expected(P, "'='");
            next(P);
            if (P->t.kind != T_STRING)
                return expected(P, "a string");
            c->dis->sep = P->t.text;
            next(P);
        }
        return !P->failed;
    }
    if (esql_tok_kw(&t, "mv_expand")) {
        c->kind = C_MVEXPAND;
        if (P->t.kind != T_IDENT || is_reserved(&P->t))
            return expected(P, "a column name");
        c->pat = kx_arena_alloc(P->a, sizeof *c->pat);
        c->ppos = kx_arena_alloc(P->a, sizeof *c->ppos);
        if (!c->pat || !c->ppos)
            return perr(P, P->t.pos, KAD_ELIMIT, "query too large");
        c->pat[0] = P->t.text;
        c->ppos[0] = P->t.pos;
        c->npat = 1;
        note_name(P, P->t.text);
        return next(P);
    }
    static const char *const other[] = {
        "enrich",       "lookup",     "row",    "show",   "from",    "inlinestats", "fork",
        "change_point", "completion", "sample", "rerank", "metrics", NULL};
    for (int i = 0; other[i]; i++)
        if (esql_tok_kw(&t, other[i]))
            return perr(P, t.pos, KAD_EUNSUPPORTED, "command %s is not supported", t.text);
    return perr(P, t.pos, KAD_ESYNTAX, "unknown command [%s]", t.text);
}

static bool parse_query(struct P *P)
{
    P->mode = M_EXPR;
    if (!next(P))
        return false;
    if (!kw(P, "from")) {
        if (kw(P, "row") || kw(P, "show") || kw(P, "metrics") || kw(P, "ts"))
            return perr(P, P->t.pos, KAD_EUNSUPPORTED, "source command %s is not supported",
                        P->t.text);
        return expected(P, "FROM");
    }
    P->mode = M_SOURCE;
    next(P);
    KX_VEC(const char *) idx = {0};
    KX_VEC(const char *) meta = {0};
    while (P->t.kind == T_PAT && !esql_tok_kw(&P->t, "metadata")) {
        KX_VEC_PUSH(&idx, P->t.text);
        next(P);
        if (P->t.kind != T_COMMA)
            break;
        next(P);
    }
    if (!idx.len && !P->failed)
        expected(P, "an index pattern");
    if (!P->failed && esql_tok_kw(&P->t, "metadata")) {
        P->mode = M_EXPR;
        next(P);
        for (;;) {
            if (P->t.kind != T_IDENT) {
                expected(P, "a metadata field");
                break;
            }
            if (strcmp(P->t.text, "_id") && strcmp(P->t.text, "_index") &&
                strcmp(P->t.text, "_version")) {
                if (P->t.text[0] == '_')
                    perr(P, P->t.pos, KAD_EUNSUPPORTED,
                         "metadata field [%s] is not supported (_id, _index, _version)", P->t.text);
                else
                    perr(P, P->t.pos, KAD_EINVAL, "unknown metadata field [%s]", P->t.text);
                break;
            }
            KX_VEC_PUSH(&meta, P->t.text);
            next(P);
            if (P->t.kind != T_COMMA)
                break;
            next(P);
        }
    }
    P->prog->nindex = (uint32_t)idx.len;
    P->prog->index = idx.len ? kx_arena_memdup(P->a, idx.ptr, idx.len * sizeof *idx.ptr) : NULL;
    P->prog->nmeta = (uint32_t)meta.len;
    P->prog->meta = meta.len ? kx_arena_memdup(P->a, meta.ptr, meta.len * sizeof *meta.ptr) : NULL;
    KX_VEC_FREE(&idx);
    KX_VEC_FREE(&meta);
    P->mode = M_EXPR;
    while (!P->failed) {
        if (P->t.kind == T_EOF)
            return true;
        if (P->t.kind != T_PIPE)
            return expected(P, "'|'");
        next(P);
        struct esql_cmd c;
        if (!parse_command(P, &c))
            return false;
        KX_VEC_PUSH(&P->cmds, c);
        if (P->cmds.len > 1000)
            return perr(P, c.pos, KAD_ELIMIT, "more than 1000 commands");
    }
    return false;
}

/* ---- compile: names and types ------------------------------------------------------------ */

static int find_col(const struct layout *L, const char *name)
{
    for (uint32_t i = L->n; i-- > 0;)
        if (strcmp(L->c[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool esql_is_numeric(int t) { return t == ESQL_INT || t == ESQL_LONG || t == ESQL_DOUBLE; }
bool esql_is_string(int t) { return t == ESQL_KEYWORD || t == ESQL_TEXT; }

/* Cast a string literal to type `to` at compile time. */
static bool cast_lit(struct P *P, struct esql_expr *e, int to)
{
    if (!e->strlit || e->lit.n != 1)
        return true;
    struct esql_sv *v = sv1(P);
    if (!v)
        return false;
    struct ectx X = {.a = P->a};
    if (!esql_convert(&X, ESQL_KEYWORD, e->lit.v, to, v))
        return perr(P, e->pos, KAD_EINVAL, "cannot convert string [%.*s] to [%s]",
                    (int)(e->lit.v->u.s.n > 60 ? 60 : e->lit.v->u.s.n), e->lit.v->u.s.p,
                    esql_type_name(to));
    e->lit.v = v;
    e->type = e->lit.type = (uint8_t)to;
    e->strlit = false;
    return true;
}

static bool castable_target(int t) { return t == ESQL_DATE || t == ESQL_IP || t == ESQL_BOOL; }

/* Are values of types a and b comparable? */
static bool comparable(int a, int b)
{
    if (a == ESQL_NULL || b == ESQL_NULL)
        return true;
    if (esql_is_numeric(a) && esql_is_numeric(b))
        return true;
    if (esql_is_string(a) && esql_is_string(b))
        return true;
    return a == b;
}

static bool expr_text(struct P *P, const struct esql_expr *e, char *buf, size_t cap)
{
    size_t b = e->pos, n = e->end > e->pos ? e->end - e->pos : 0;
    if (n > 60)
        n = 60;
    snprintf(buf, cap, "%.*s", (int)n, P->lx.s + b);
    return true;
}

static bool resolve(struct P *P, const struct layout *L, struct esql_expr *e, bool agg_ok);

static bool resolve_kids(struct P *P, const struct layout *L, struct esql_expr *e, bool agg_ok)
{
    for (uint32_t i = 0; i < e->narg; i++)
        if (!resolve(P, L, e->arg[i], agg_ok))
            return false;
    return true;
}

static bool want_bool(struct P *P, const struct esql_expr *e, const char *what)
{
    if (e->type == ESQL_BOOL || e->type == ESQL_NULL)
        return true;
    char b[80];
    expr_text(P, e, b, sizeof b);
    return perr(P, e->pos, KAD_EINVAL, "%s must be boolean, [%s] is [%s]", what, b,
                esql_type_name(e->type));
}

static int widen(int a, int b)
{
    if (a == ESQL_DOUBLE || b == ESQL_DOUBLE)
        return ESQL_DOUBLE;
    if (a == ESQL_LONG || b == ESQL_LONG)
        return ESQL_LONG;
    return ESQL_INT;
}

static bool compile_kql(struct P *P, struct esql_expr *e)
{
    struct esql_expr *s = e->narg == 1 ? e->arg[0] : NULL;
    if (!s || s->kind != EX_LIT || !esql_is_string(s->type) || s->lit.n != 1)
        return perr(P, e->pos, KAD_EINVAL, "KQL() takes one string literal");
    kad_err ke;
    kad_err_clear(&ke);
    struct kql_query *q = kql_compile(P->a, s->lit.v->u.s.p, s->lit.v->u.s.n, P->origin, &ke);
    if (!q) {
        /* place the error inside the string literal (exact for """...""") */
        size_t off = s->pos + 1;
        if (s->pos + 2 < P->lx.len && P->lx.s[s->pos + 1] == '"' && P->lx.s[s->pos + 2] == '"')
            off = s->pos + 3;
        if (ke.offset >= 0)
            off += (size_t)ke.offset;
        return perr(P, off, KAD_EINVAL, "KQL: %s", ke.msg);
    }
    e->aux = q;
    P->prog->uses_kql = true;
    if (kql_needs_all(q))
        P->prog->needs_all = true;
    for (size_t i = 0; i < kql_field_count(q); i++)
        KX_VEC_PUSH(&P->kqlnames, kql_field(q, i));
    e->type = ESQL_BOOL;
    return true;
}

static bool resolve(struct P *P, const struct layout *L, struct esql_expr *e, bool agg_ok)
{
    char b1[80], b2[80];
    switch (e->kind) {
    case EX_LIT:
    case EX_LIST:
        if (e->kind == EX_LIST) {
            int t = ESQL_NULL;
            for (uint32_t i = 0; i < e->narg; i++) {
                int u = e->arg[i]->type;
                if (t == ESQL_NULL)
                    t = u;
                else if (u != ESQL_NULL && !comparable(t, u))
                    return perr(P, e->arg[i]->pos, KAD_EINVAL,
                                "list items must have one type: [%s] and [%s]", esql_type_name(t),
                                esql_type_name(u));
                else if (esql_is_numeric(t) && esql_is_numeric(u))
                    t = widen(t, u);
            }
            e->type = (uint8_t)t;
        }
        return true;
    case EX_COL: {
        int c = find_col(L, e->name);
        if (c < 0)
            return perr(P, e->pos, KAD_EINVAL, "Unknown column [%s]", e->name);
        e->col = c;
        e->type = L->c[c].type;
        return true;
    }
    case EX_AND:
    case EX_OR:
    case EX_NOT:
        if (!resolve_kids(P, L, e, false))
            return false;
        for (uint32_t i = 0; i < e->narg; i++)
            if (!want_bool(P, e->arg[i],
                           e->kind == EX_NOT   ? "the argument of NOT"
                           : e->kind == EX_AND ? "an operand of AND"
                                               : "an operand of OR"))
                return false;
        e->type = ESQL_BOOL;
        return true;
    case EX_ISNULL:
        if (!resolve_kids(P, L, e, false))
            return false;
        e->type = ESQL_BOOL;
        return true;
    case EX_CMP: {
        if (!resolve_kids(P, L, e, false))
            return false;
        struct esql_expr *a = e->arg[0], *b = e->arg[1];
        if (castable_target(a->type) && !cast_lit(P, b, a->type))
            return false;
        if (castable_target(b->type) && !cast_lit(P, a, b->type))
            return false;
        if (!comparable(a->type, b->type) || a->type == ESQL_PERIOD || a->type == ESQL_DURATION) {
            expr_text(P, a, b1, sizeof b1);
            expr_text(P, b, b2, sizeof b2);
            return perr(P, e->pos, KAD_EINVAL,
                        "cannot compare [%s] of type [%s] with [%s] of type [%s]", b1,
                        esql_type_name(a->type), b2, esql_type_name(b->type));
        }
        if ((a->type == ESQL_BOOL || b->type == ESQL_BOOL) && e->op != OP_EQ && e->op != OP_NEQ)
            return perr(P, e->pos, KAD_EINVAL, "booleans only compare with == and !=");
        e->type = ESQL_BOOL;
        return true;
    }
    case EX_ARITH: {
        if (!resolve_kids(P, L, e, false))
            return false;
        int a = e->arg[0]->type, b = e->arg[1]->type;
        bool span_b = b == ESQL_PERIOD || b == ESQL_DURATION;
        bool span_a = a == ESQL_PERIOD || a == ESQL_DURATION;
        if (a == ESQL_NULL || b == ESQL_NULL) {
            e->type = (uint8_t)(a == ESQL_NULL ? b : a);
            if (span_a || span_b)
                e->type = ESQL_DATE;
            if (e->type == ESQL_NULL || esql_is_numeric(e->type) || e->type == ESQL_DATE)
                return true;
        } else if (esql_is_numeric(a) && esql_is_numeric(b)) {
            e->type = (uint8_t)widen(a, b);
            return true;
        } else if (a == ESQL_DATE && span_b && (e->op == OP_ADD || e->op == OP_SUB)) {
            e->type = ESQL_DATE;
            return true;
        } else if (span_a && b == ESQL_DATE && e->op == OP_ADD) {
            struct esql_expr *t = e->arg[0];
            e->arg[0] = e->arg[1];
            e->arg[1] = t;
            e->type = ESQL_DATE;
            return true;
        }
        static const char ops[] = "+-*/%";
        return perr(P, e->pos, KAD_EINVAL, "cannot apply [%c] to [%s] and [%s]", ops[e->op],
                    esql_type_name(a), esql_type_name(b));
    }
    case EX_NEG:
        if (!resolve_kids(P, L, e, false))
            return false;
        e->type = e->arg[0]->type;
        if (!esql_is_numeric(e->type) && e->type != ESQL_NULL && e->type != ESQL_DURATION &&
            e->type != ESQL_PERIOD)
            return perr(P, e->pos, KAD_EINVAL, "cannot negate [%s]", esql_type_name(e->type));
        return true;
    case EX_IN: {
        if (!resolve_kids(P, L, e, false))
            return false;
        int t = e->arg[0]->type;
        for (uint32_t i = 1; i < e->narg; i++) {
            struct esql_expr *x = e->arg[i];
            if (castable_target(t) && !cast_lit(P, x, t))
                return false;
            if (!comparable(t, x->type)) {
                expr_text(P, x, b1, sizeof b1);
                return perr(P, x->pos, KAD_EINVAL,
                            "IN list item [%s] of type [%s] does not match [%s]", b1,
                            esql_type_name(x->type), esql_type_name(t));
            }
        }
        e->type = ESQL_BOOL;
        return true;
    }
    case EX_LIKE:
    case EX_RLIKE: {
        if (!resolve(P, L, e->arg[0], false))
            return false;
        int t = e->arg[0]->type;
        if (!esql_is_string(t) && t != ESQL_NULL) {
            expr_text(P, e->arg[0], b1, sizeof b1);
            return perr(P, e->arg[0]->pos, KAD_EINVAL, "%s needs a string, [%s] is [%s]",
                        e->kind == EX_LIKE ? "LIKE" : "RLIKE", b1, esql_type_name(t));
        }
        if (e->kind == EX_RLIKE) {
            const struct esql_expr *s = e->arg[1];
            char msg[200];
            size_t ep = 0;
            e->aux = esql_re_compile(P->a, s->lit.v->u.s.p, s->lit.v->u.s.n, RE_LUCENE, msg,
                                     sizeof msg, &ep);
            if (!e->aux)
                return perr(P, s->pos, KAD_EINVAL, "RLIKE pattern: %s", msg);
        }
        e->type = ESQL_BOOL;
        return true;
    }
    case EX_CAST: {
        if (!resolve_kids(P, L, e, false))
            return false;
        struct esql_expr *a = e->arg[0];
        if (a->strlit && a->type != e->type && !esql_is_string(e->type)) {
            uint8_t t = e->type;
            if (!cast_lit(P, a, t))
                return false;
        }
        int f = a->type;
        bool ok = f == ESQL_NULL || f == e->type || esql_is_string(f) || esql_is_string(e->type) ||
                  (esql_is_numeric(f) &&
                   (esql_is_numeric(e->type) || e->type == ESQL_BOOL || e->type == ESQL_DATE)) ||
                  (f == ESQL_BOOL && esql_is_numeric(e->type)) ||
                  (f == ESQL_DATE && esql_is_numeric(e->type));
        if (!ok)
            return perr(P, e->pos, KAD_EINVAL, "cannot convert [%s] to [%s]", esql_type_name(f),
                        esql_type_name(e->type));
        return true;
    }
    case EX_FN: {
        if (e->fn->flags & FN_AGG) {
            if (!agg_ok)
                return perr(P, e->pos, KAD_EINVAL,
                            "aggregate function [%s] is only allowed in STATS", e->name);
        }
        if (strcmp(e->fn->name, "kql") == 0)
            return compile_kql(P, e);
        if (!resolve_kids(P, L, e, false))
            return false;
        char msg[200];
        uint32_t ep = e->pos;
        if (!esql_fn_check(e, P->a, msg, sizeof msg, &ep))
            return perr(P, ep, KAD_EINVAL, "%s", msg);
        return true;
    }
    }
    return perr(P, e->pos, KAD_EINVAL, "internal: unknown expression");
}

/* Layout helpers. */
static bool lay_copy(struct P *P, struct layout *dst, const struct layout *src, uint32_t extra)
{
    dst->c = kx_arena_alloc(P->a, (src->n + extra + 1) * sizeof *dst->c);
    if (!dst->c)
        return perr(P, 0, KAD_ELIMIT, "query too large");
    memcpy(dst->c, src->c, src->n * sizeof *dst->c);
    dst->n = src->n;
    return true;
}

/* Remove column i (if >= 0) and append col. */
static void lay_replace_append(struct layout *L, int i, struct lcol col)
{
    if (i >= 0) {
        memmove(&L->c[i], &L->c[i + 1], (L->n - (uint32_t)i - 1) * sizeof *L->c);
        L->n--;
    }
    L->c[L->n++] = col;
}

static bool name_match(const char *pat, const char *name)
{
    return kx_glob_match(kx_str_c(pat), kx_str_c(name));
}

static bool compile_project(struct P *P, struct esql_cmd *c, const struct layout *in)
{
    uint32_t *best = kx_arena_alloc(P->a, (in->n + 1) * sizeof *best);
    int *rank = kx_arena_alloc(P->a, (in->n + 1) * sizeof *rank);
    c->map = kx_arena_alloc(P->a, (in->n + 1) * sizeof *c->map);
    c->out.c = kx_arena_alloc(P->a, (in->n + 1) * sizeof *c->out.c);
    if (!best || !rank || !c->map || !c->out.c)
        return perr(P, c->pos, KAD_ELIMIT, "query too large");
    for (uint32_t i = 0; i < in->n; i++)
        rank[i] = 0;
    for (uint32_t p = 0; p < c->npat; p++) {
        const char *pat = c->pat[p];
        bool wild = strchr(pat, '*') != NULL;
        bool any = false;
        for (uint32_t i = 0; i < in->n; i++) {
            if (!name_match(pat, in->c[i].name))
                continue;
            any = true;
            int r = !wild ? 3 : strcmp(pat, "*") == 0 ? 1 : 2;
            if (r >= rank[i]) {
                rank[i] = r;
                best[i] = p;
            }
        }
        if (!any && !wild)
            return perr(P, c->ppos[p], KAD_EINVAL, "Unknown column [%s]", pat);
    }
    c->out.n = 0;
    if (c->kind == C_KEEP) {
        for (uint32_t p = 0; p < c->npat; p++)
            for (uint32_t i = 0; i < in->n; i++)
                if (rank[i] && best[i] == p) {
                    c->map[c->out.n] = i;
                    c->out.c[c->out.n++] = in->c[i];
                }
    } else {
        for (uint32_t i = 0; i < in->n; i++)
            if (!rank[i]) {
                c->map[c->out.n] = i;
                c->out.c[c->out.n++] = in->c[i];
            }
    }
    return true;
}

static bool compile_rename(struct P *P, struct esql_cmd *c, const struct layout *in)
{
    struct layout L;
    if (!lay_copy(P, &L, in, 0))
        return false;
    uint32_t *map = kx_arena_alloc(P->a, (in->n + 1) * sizeof *map);
    if (!map)
        return perr(P, c->pos, KAD_ELIMIT, "query too large");
    for (uint32_t i = 0; i < in->n; i++)
        map[i] = i;
    for (uint32_t k = 0; k + 1 < c->npat; k += 2) {
        int o = find_col(&L, c->pat[k]);
        if (o < 0)
            return perr(P, c->ppos[k], KAD_EINVAL, "Unknown column [%s]", c->pat[k]);
        L.c[o].name = c->pat[k + 1];
        for (uint32_t i = 0; i < L.n; i++)
            if ((int)i != o && strcmp(L.c[i].name, c->pat[k + 1]) == 0) {
                memmove(&L.c[i], &L.c[i + 1], (L.n - i - 1) * sizeof *L.c);
                memmove(&map[i], &map[i + 1], (L.n - i - 1) * sizeof *map);
                L.n--;
                if ((int)i < o)
                    o--;
                i--;
            }
    }
    c->out = L;
    c->map = map;
    return true;
}

static bool compile_stats(struct P *P, struct esql_cmd *c, const struct layout *in)
{
    c->out.c = kx_arena_alloc(P->a, (c->nf + c->nby + 1) * sizeof *c->out.c);
    if (!c->out.c)
        return perr(P, c->pos, KAD_ELIMIT, "query too large");
    /* keys first (they may be expressions over the input) */
    for (uint32_t k = 0; k < c->nby; k++) {
        struct named *f = &c->by[k];
        if (!resolve(P, in, f->e, false))
            return false;
        if (f->e->type == ESQL_PERIOD || f->e->type == ESQL_DURATION)
            return perr(P, f->e->pos, KAD_EINVAL, "cannot group by a time span");
    }
    for (uint32_t k = 0; k < c->nf; k++) {
        struct named *f = &c->f[k];
        struct esql_expr *e = f->e;
        if (e->kind != EX_FN || !(e->fn->flags & FN_AGG))
            return perr(P, e->pos,
                        e->kind == EX_FN || e->kind == EX_COL ? KAD_EINVAL : KAD_EUNSUPPORTED,
                        "expected an aggregate function (COUNT, SUM, ...) in STATS");
        if (!resolve(P, in, e, true))
            return false;
        for (uint32_t i = 0; i < e->narg; i++)
            if (e->arg[i]->kind == EX_FN && (e->arg[i]->fn->flags & FN_AGG))
                return perr(P, e->arg[i]->pos, KAD_EINVAL, "aggregates cannot be nested");
        if (f->filter &&
            (!resolve(P, in, f->filter, false) || !want_bool(P, f->filter, "a STATS WHERE")))
            return false;
        e->agg = k;
    }
    c->nagg = c->nf;
    c->out.n = 0;
    for (uint32_t k = 0; k < c->nf; k++) {
        bool shadow = false;
        for (uint32_t j = k + 1; j < c->nf; j++)
            if (strcmp(c->f[j].name, c->f[k].name) == 0)
                shadow = true;
        for (uint32_t j = 0; j < c->nby; j++)
            if (strcmp(c->by[j].name, c->f[k].name) == 0)
                shadow = true;
        c->f[k].skip = shadow;
        if (!shadow)
            c->out.c[c->out.n++] = (struct lcol){c->f[k].name, c->f[k].e->type, 0, NULL};
    }
    for (uint32_t k = 0; k < c->nby; k++) {
        struct named *f = &c->by[k];
        int t = f->e->type == ESQL_TEXT ? ESQL_TEXT : f->e->type;
        c->out.c[c->out.n++] = (struct lcol){f->name, (uint8_t)t, 0, NULL};
    }
    return true;
}

static bool compile_cmd(struct P *P, struct esql_cmd *c, const struct layout *in)
{
    switch (c->kind) {
    case C_WHERE:
        c->out = *in;
        return resolve(P, in, c->e, false) && want_bool(P, c->e, "the WHERE condition");
    case C_EVAL: {
        struct layout L;
        if (!lay_copy(P, &L, in, c->nf))
            return false;
        for (uint32_t k = 0; k < c->nf; k++) {
            struct named *f = &c->f[k];
            if (!resolve(P, &L, f->e, false))
                return false;
            f->drop = find_col(&L, f->name);
            lay_replace_append(&L, f->drop, (struct lcol){f->name, f->e->type, 0, NULL});
        }
        c->out = L;
        return true;
    }
    case C_STATS: return compile_stats(P, c, in);
    case C_KEEP:
    case C_DROP: return compile_project(P, c, in);
    case C_RENAME: return compile_rename(P, c, in);
    case C_SORT:
        c->out = *in;
        for (uint32_t k = 0; k < c->nsk; k++) {
            if (!resolve(P, in, c->sk[k].e, false))
                return false;
            int t = c->sk[k].e->type;
            if (t == ESQL_PERIOD || t == ESQL_DURATION)
                return perr(P, c->sk[k].e->pos, KAD_EINVAL, "cannot sort by a time span");
        }
        return true;
    case C_LIMIT: c->out = *in; return true;
    case C_GROK:
    case C_DISSECT: {
        if (!resolve(P, in, c->e, false))
            return false;
        if (!esql_is_string(c->e->type) && c->e->type != ESQL_NULL)
            return perr(P, c->e->pos, KAD_EINVAL, "%s input must be a string, not [%s]",
                        c->kind == C_GROK ? "GROK" : "DISSECT", esql_type_name(c->e->type));
        uint32_t n = c->kind == C_GROK ? c->grok->nout : c->dis->nout;
        const char **outs = c->kind == C_GROK ? c->grok->outs : c->dis->outs;
        struct layout L;
        if (!lay_copy(P, &L, in, n))
            return false;
        c->drops = kx_arena_alloc(P->a, (n + 1) * sizeof *c->drops);
        if (!c->drops)
            return perr(P, c->pos, KAD_ELIMIT, "query too large");
        for (uint32_t k = 0; k < n; k++) {
            int t = c->kind == C_GROK ? c->grok->otype[k] : ESQL_KEYWORD;
            c->drops[k] = find_col(&L, outs[k]);
            lay_replace_append(&L, c->drops[k], (struct lcol){outs[k], (uint8_t)t, 0, NULL});
        }
        c->out = L;
        return true;
    }
    case C_MVEXPAND:
        c->out = *in;
        c->mvcol = find_col(in, c->pat[0]);
        if (c->mvcol < 0)
            return perr(P, c->ppos[0], KAD_EINVAL, "Unknown column [%s]", c->pat[0]);
        return true;
    }
    return false;
}

int esql_parse(kx_arena *a, struct esql_prog *p, const char *origin, kad_err *err)
{
    struct P P;
    memset(&P, 0, sizeof P);
    P.a = a;
    P.err = err;
    P.origin = origin;
    P.prog = p;
    P.now_cmd = UINT32_MAX;
    P.lx = (struct lexer){.a = a, .s = p->src, .len = p->len, .origin = origin, .err = err};
    bool ok = parse_query(&P);
    if (ok) {
        p->ncmd = (uint32_t)P.cmds.len;
        p->now_cmd = P.now_cmd;
        p->cmd =
            P.cmds.len ? kx_arena_memdup(a, P.cmds.ptr, P.cmds.len * sizeof *P.cmds.ptr) : NULL;
        /* FROM layout: metadata, then the source names read */
        struct layout L;
        L.c = kx_arena_alloc(a, (p->nmeta + 1) * sizeof *L.c);
        L.n = 0;
        for (uint32_t i = 0; L.c && i < p->nmeta; i++) {
            const char *m = p->meta[i];
            bool dup = find_col(&L, m) >= 0;
            if (!dup)
                L.c[L.n++] = (struct lcol){
                    m, (uint8_t)(strcmp(m, "_version") == 0 ? ESQL_LONG : ESQL_KEYWORD),
                    (uint8_t)(strcmp(m, "_id") == 0      ? META_ID
                              : strcmp(m, "_index") == 0 ? META_INDEX
                                                         : META_VERSION),
                    NULL};
        }
        p->from = L;
        L.c = kx_arena_alloc(a, (p->nmeta + P.names.len + 1) * sizeof *L.c);
        if (L.c) {
            memcpy(L.c, p->from.c, p->nmeta * sizeof *L.c);
            for (size_t i = 0; i < P.names.len; i++) {
                const char *nm = P.names.ptr[i];
                if (find_col(&L, nm) >= 0)
                    continue;
                L.c[L.n++] = (struct lcol){nm, (uint8_t)esql_field_type(nm), META_NONE, nm};
            }
            p->from = L;
            const struct layout *cur = &p->from;
            for (uint32_t i = 0; i < p->ncmd && ok; i++) {
                ok = compile_cmd(&P, &p->cmd[i], cur);
                cur = &p->cmd[i].out;
            }
        }
        if (!L.c && !P.failed)
            perr(&P, 0, KAD_ELIMIT, "query too large");
        ok = ok && !P.failed;
        if (ok) {
            p->nfields = 0;
            p->fields = kx_arena_alloc(a, (P.names.len + P.kqlnames.len + 1) * sizeof *p->fields);
            for (size_t i = 0; p->fields && i < P.names.len; i++)
                p->fields[p->nfields++] = P.names.ptr[i];
            for (size_t i = 0; p->fields && i < P.kqlnames.len; i++) {
                bool dup = false;
                for (uint32_t j = 0; j < p->nfields; j++)
                    dup = dup || strcmp(p->fields[j], P.kqlnames.ptr[i]) == 0;
                if (!dup)
                    p->fields[p->nfields++] = P.kqlnames.ptr[i];
            }
        }
    }
    KX_VEC_FREE(&P.names);
    KX_VEC_FREE(&P.kqlnames);
    KX_VEC_FREE(&P.cmds);
    return ok ? KAD_OK : (err && err->code ? err->code : KAD_ESYNTAX);
}

/* ---- public ------------------------------------------------------------------------------ */

struct esql_prog *esql_compile(kx_arena *a, const char *src, size_t len, const char *origin,
                               kad_err *err)
{
    if (len > ESQL_MAX_LEN) {
        kx_err_setf(err, KAD_ELIMIT, "ES|QL query longer than %u bytes", ESQL_MAX_LEN);
        return NULL;
    }
    size_t bad = kx_utf8_check(src, len);
    if (bad != len) {
        kx_err_at(err, KAD_EINVAL, origin, src, len, bad, "query is not valid UTF-8");
        return NULL;
    }
    struct esql_prog *p = kx_arena_zalloc(a, sizeof *p);
    char *copy = kx_arena_strndup(a, src, len);
    if (!p || !copy) {
        kx_err_setf(err, KAD_ELIMIT, "ES|QL query too large");
        return NULL;
    }
    p->src = copy;
    p->len = len;
    if (esql_parse(a, p, origin, err) != KAD_OK)
        return NULL;
    return p;
}

bool esql_is_aggregating(const struct esql_prog *p) { return p->aggregating; }
size_t esql_index_count(const struct esql_prog *p) { return p->nindex; }
const char *esql_index(const struct esql_prog *p, size_t i)
{
    return i < p->nindex ? p->index[i] : NULL;
}
size_t esql_field_count(const struct esql_prog *p) { return p->nfields; }
const char *esql_field(const struct esql_prog *p, size_t i)
{
    return i < p->nfields ? p->fields[i] : NULL;
}
bool esql_needs_all(const struct esql_prog *p) { return p->needs_all; }

/* ---- dump -------------------------------------------------------------------------------- */

static void dump_expr(const struct esql_expr *e, kx_buf *b)
{
    static const char *const cmp[] = {"==", "!=", "<", "<=", ">", ">="};
    static const char *const ar[] = {"+", "-", "*", "/", "%"};
    switch (e->kind) {
    case EX_LIT:
        if (!e->lit.n) {
            kx_buf_adds(b, "null");
        } else if (esql_is_string(e->type)) {
            kx_buf_addc(b, '"');
            kx_json_escape(b, e->lit.v->u.s.p, e->lit.v->u.s.n);
            kx_buf_addc(b, '"');
        } else {
            esql_sv_fmt(e->type, e->lit.v, b);
            kx_buf_addf(b, ":%s", esql_type_name(e->type));
        }
        return;
    case EX_COL: kx_buf_addf(b, "%s:%s", e->name, esql_type_name(e->type)); return;
    default: break;
    }
    const char *op = "?";
    switch (e->kind) {
    case EX_FN: op = e->fn->name; break;
    case EX_AND: op = "and"; break;
    case EX_OR: op = "or"; break;
    case EX_NOT: op = "not"; break;
    case EX_CMP: op = cmp[e->op]; break;
    case EX_ARITH: op = ar[e->op]; break;
    case EX_NEG: op = "neg"; break;
    case EX_IN: op = e->neg ? "not-in" : "in"; break;
    case EX_LIKE: op = e->neg ? "not-like" : "like"; break;
    case EX_RLIKE: op = e->neg ? "not-rlike" : "rlike"; break;
    case EX_ISNULL: op = e->neg ? "is-not-null" : "is-null"; break;
    case EX_CAST: op = "cast"; break;
    case EX_LIST: op = "list"; break;
    }
    kx_buf_addf(b, "(%s", op);
    if (e->star)
        kx_buf_adds(b, " *");
    for (uint32_t i = 0; i < e->narg; i++) {
        kx_buf_addc(b, ' ');
        dump_expr(e->arg[i], b);
    }
    kx_buf_addc(b, ')');
    if (e->kind == EX_CAST || e->kind == EX_FN)
        kx_buf_addf(b, ":%s", esql_type_name(e->type));
}

int esql_dump(const struct esql_prog *p, kx_buf *b)
{
    static const char *const names[] = {"where", "eval",  "stats", "keep",    "drop",     "rename",
                                        "sort",  "limit", "grok",  "dissect", "mv_expand"};
    kx_buf_adds(b, "from");
    for (uint32_t i = 0; i < p->nindex; i++)
        kx_buf_addf(b, "%s%s", i ? "," : " ", p->index[i]);
    for (uint32_t i = 0; i < p->nmeta; i++)
        kx_buf_addf(b, "%s%s", i ? "," : " metadata ", p->meta[i]);
    for (uint32_t ci = 0; ci < p->ncmd; ci++) {
        const struct esql_cmd *c = &p->cmd[ci];
        kx_buf_addf(b, " | %s", names[c->kind]);
        switch (c->kind) {
        case C_WHERE:
            kx_buf_addc(b, ' ');
            dump_expr(c->e, b);
            break;
        case C_EVAL:
        case C_STATS:
            for (uint32_t k = 0; k < c->nf; k++) {
                kx_buf_addf(b, "%s%s=", k ? ", " : " ", c->f[k].name);
                dump_expr(c->f[k].e, b);
                if (c->f[k].filter) {
                    kx_buf_adds(b, " where ");
                    dump_expr(c->f[k].filter, b);
                }
            }
            for (uint32_t k = 0; k < c->nby; k++) {
                kx_buf_addf(b, "%s%s=", k ? ", " : " by ", c->by[k].name);
                dump_expr(c->by[k].e, b);
            }
            break;
        case C_SORT:
            for (uint32_t k = 0; k < c->nsk; k++) {
                kx_buf_adds(b, k ? ", " : " ");
                dump_expr(c->sk[k].e, b);
                kx_buf_addf(b, " %s nulls %s", c->sk[k].desc ? "desc" : "asc",
                            c->sk[k].nulls_first ? "first" : "last");
            }
            break;
        case C_LIMIT: kx_buf_addf(b, " %lld", (long long)c->limit); break;
        case C_GROK:
        case C_DISSECT:
            kx_buf_addc(b, ' ');
            dump_expr(c->e, b);
            break;
        default: break;
        }
        if (c->kind != C_WHERE && c->kind != C_SORT && c->kind != C_LIMIT) {
            kx_buf_adds(b, " ->");
            for (uint32_t k = 0; k < c->out.n; k++)
                kx_buf_addf(b, "%s%s:%s", k ? ", " : " ", c->out.c[k].name,
                            esql_type_name(c->out.c[k].type));
        }
    }
    return KAD_OK;
}

/*
 * eql_regex.c - the Lucene regular-expression subset EQL's `regex` operator needs
 * (docs/internals/eql.md "regex"): . * + ? {n} {n,} {n,m} | ( ) [ ] with ranges and ^
 * negation, \ escapes and "..." literal quoting; anchored at both ends, matched over UTF-8 code
 * points. Lucene's optional operators (@ & ~ # <n-m>) are rejected rather than guessed.
 *
 * The pattern is compiled to a Thompson NFA and run as a Pike VM (no backtracking), so
 * matching is linear in the subject for every pattern: no regex can stall the engine.
 */
#include "eql.h"

#include "base/alloc.h"
#include <string.h>

#define RE_MAX_PROG 2048 /* instructions after repetition expansion */
#define RE_MAX_NODES 4096

enum { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_MATCH };

struct re_inst {
    uint8_t op;
    uint8_t neg;   /* CLASS */
    uint32_t x, y; /* CHAR: code point in x; CLASS: first range x, count y; SPLIT: x, y; JMP x */
};

struct eql_re {
    struct re_inst *prog;
    uint32_t n;
    uint32_t (*ranges)[2];
    bool ci;
};

/* ---- parse into a small tree ---------------------------------------------------------------- */

enum { R_EMPTY, R_CHAR, R_ANY, R_CLASS, R_CAT, R_ALT, R_REP };

struct rn {
    uint8_t k;
    uint8_t neg;
    uint32_t c;      /* CHAR */
    uint32_t r0, nr; /* CLASS ranges */
    int a, b;        /* CAT/ALT children; REP: a */
    int min, max;    /* REP; max -1 = unbounded */
};

struct rp {
    const char *s;
    size_t len, i;
    struct rn nodes[RE_MAX_NODES];
    int nn;
    uint32_t ranges[RE_MAX_PROG][2];
    uint32_t nranges;
    const char *msg;
    size_t at;
    int depth;
};

static int mknode(struct rp *P, int k)
{
    if (P->nn >= RE_MAX_NODES) {
        P->msg = "pattern too long";
        P->at = P->i;
        return -1;
    }
    memset(&P->nodes[P->nn], 0, sizeof P->nodes[0]);
    P->nodes[P->nn].k = (uint8_t)k;
    return P->nn++;
}

static int bad(struct rp *P, const char *msg)
{
    if (!P->msg) {
        P->msg = msg;
        P->at = P->i;
    }
    return -1;
}

static int cat(struct rp *P, int a, int b)
{
    if (a < 0)
        return b;
    int n = mknode(P, R_CAT);
    if (n >= 0) {
        P->nodes[n].a = a;
        P->nodes[n].b = b;
    }
    return n;
}

static int alt_expr(struct rp *P);

static bool add_range(struct rp *P, uint32_t lo, uint32_t hi)
{
    if (P->nranges >= RE_MAX_PROG) {
        bad(P, "too many class ranges");
        return false;
    }
    P->ranges[P->nranges][0] = lo;
    P->ranges[P->nranges][1] = hi;
    P->nranges++;
    return true;
}

static int class_expr(struct rp *P)
{
    int n = mknode(P, R_CLASS);
    if (n < 0)
        return -1;
    P->i++; /* [ */
    if (P->i < P->len && P->s[P->i] == '^') {
        P->nodes[n].neg = 1;
        P->i++;
    }
    P->nodes[n].r0 = P->nranges;
    bool first = true;
    while (P->i < P->len && (P->s[P->i] != ']' || first)) {
        first = false;
        if (P->s[P->i] == '\\')
            P->i++;
        if (P->i >= P->len)
            break;
        uint32_t lo = eql_utf8_next(P->s, P->len, &P->i), hi = lo;
        if (P->i + 1 < P->len && P->s[P->i] == '-' && P->s[P->i + 1] != ']') {
            P->i++;
            if (P->s[P->i] == '\\')
                P->i++;
            if (P->i >= P->len)
                break;
            hi = eql_utf8_next(P->s, P->len, &P->i);
            if (hi < lo)
                return bad(P, "invalid range in character class");
        }
        if (!add_range(P, lo, hi))
            return -1;
    }
    if (P->i >= P->len)
        return bad(P, "unterminated character class");
    P->i++; /* ] */
    P->nodes[n].nr = P->nranges - P->nodes[n].r0;
    return n;
}

static int atom(struct rp *P)
{
    char c = P->s[P->i];
    int n;
    switch (c) {
    case '(':
        P->i++;
        if (++P->depth > 100)
            return bad(P, "groups nested too deep");
        n = alt_expr(P);
        P->depth--;
        if (n < 0 && P->msg)
            return -1;
        if (P->i >= P->len || P->s[P->i] != ')')
            return bad(P, "missing ')'");
        P->i++;
        return n < 0 ? mknode(P, R_EMPTY) : n;
    case '[': return class_expr(P);
    case '.': P->i++; return mknode(P, R_ANY);
    case '"': {
        size_t start = P->i++;
        int acc = -1;
        while (P->i < P->len && P->s[P->i] != '"') {
            int ch = mknode(P, R_CHAR);
            if (ch < 0)
                return -1;
            P->nodes[ch].c = eql_utf8_next(P->s, P->len, &P->i);
            acc = cat(P, acc, ch);
        }
        if (P->i >= P->len) {
            P->i = start;
            return bad(P, "unterminated \"...\" literal");
        }
        P->i++;
        return acc < 0 ? mknode(P, R_EMPTY) : acc;
    }
    case '\\':
        P->i++;
        if (P->i >= P->len)
            return bad(P, "pattern ends with '\\'");
        n = mknode(P, R_CHAR);
        if (n >= 0)
            P->nodes[n].c = eql_utf8_next(P->s, P->len, &P->i);
        return n;
    case '@':
    case '&':
    case '~':
    case '#':
    case '<':
        return bad(P, "Lucene's optional operators (@ & ~ # <n-m>) are not supported: escape the "
                      "character with \\");
    case '*':
    case '+':
    case '?':
    case '{': return bad(P, "repetition operator with nothing to repeat");
    default:
        n = mknode(P, R_CHAR);
        if (n >= 0)
            P->nodes[n].c = eql_utf8_next(P->s, P->len, &P->i);
        return n;
    }
}

static bool number(struct rp *P, int *v)
{
    if (P->i >= P->len || P->s[P->i] < '0' || P->s[P->i] > '9')
        return false;
    long x = 0;
    while (P->i < P->len && P->s[P->i] >= '0' && P->s[P->i] <= '9' && x < 100000)
        x = x * 10 + (P->s[P->i++] - '0');
    *v = (int)x;
    return true;
}

static int repeat(struct rp *P)
{
    int a = atom(P);
    while (a >= 0 && P->i < P->len) {
        char c = P->s[P->i];
        int min, max;
        if (c == '*')
            min = 0, max = -1;
        else if (c == '+')
            min = 1, max = -1;
        else if (c == '?')
            min = 0, max = 1;
        else if (c == '{') {
            P->i++;
            if (!number(P, &min))
                return bad(P, "expected a number after '{'");
            max = min;
            if (P->i < P->len && P->s[P->i] == ',') {
                P->i++;
                if (!number(P, &max))
                    max = -1;
            }
            if (P->i >= P->len || P->s[P->i] != '}')
                return bad(P, "expected '}'");
            if (max >= 0 && max < min)
                return bad(P, "invalid repetition {n,m}: m < n");
            if (min > 1000 || max > 1000)
                return bad(P, "repetition count above 1000");
        } else {
            break;
        }
        P->i++;
        int r = mknode(P, R_REP);
        if (r < 0)
            return -1;
        P->nodes[r].a = a;
        P->nodes[r].min = min;
        P->nodes[r].max = max;
        a = r;
    }
    return a;
}

static int concat_expr(struct rp *P)
{
    int acc = -1;
    while (P->i < P->len && P->s[P->i] != '|' && P->s[P->i] != ')') {
        int x = repeat(P);
        if (x < 0)
            return -1;
        acc = cat(P, acc, x);
        if (acc < 0)
            return -1;
    }
    return acc < 0 ? mknode(P, R_EMPTY) : acc;
}

static int alt_expr(struct rp *P)
{
    int a = concat_expr(P);
    while (a >= 0 && P->i < P->len && P->s[P->i] == '|') {
        P->i++;
        int b = concat_expr(P);
        if (b < 0)
            return -1;
        int n = mknode(P, R_ALT);
        if (n < 0)
            return -1;
        P->nodes[n].a = a;
        P->nodes[n].b = b;
        a = n;
    }
    return a;
}

/* ---- emit ------------------------------------------------------------------------------------ */

struct em {
    struct rp *P;
    struct re_inst prog[RE_MAX_PROG];
    uint32_t n;
    bool over;
};

static uint32_t emit(struct em *E, uint8_t op, uint32_t x, uint32_t y)
{
    if (E->n >= RE_MAX_PROG) {
        E->over = true;
        return 0;
    }
    E->prog[E->n] = (struct re_inst){.op = op, .x = x, .y = y};
    return E->n++;
}

static void gen(struct em *E, int id)
{
    if (E->over)
        return;
    const struct rn *r = &E->P->nodes[id];
    switch (r->k) {
    case R_EMPTY: break;
    case R_CHAR: emit(E, I_CHAR, r->c, 0); break;
    case R_ANY: emit(E, I_ANY, 0, 0); break;
    case R_CLASS: {
        uint32_t p = emit(E, I_CLASS, r->r0, r->nr);
        if (!E->over)
            E->prog[p].neg = r->neg;
        break;
    }
    case R_CAT:
        gen(E, r->a);
        gen(E, r->b);
        break;
    case R_ALT: {
        uint32_t s = emit(E, I_SPLIT, 0, 0);
        E->prog[s].x = E->n;
        gen(E, r->a);
        uint32_t j = emit(E, I_JMP, 0, 0);
        if (E->over)
            return;
        E->prog[s].y = E->n;
        gen(E, r->b);
        E->prog[j].x = E->n;
        break;
    }
    case R_REP:
        for (int i = 0; i < r->min && !E->over; i++)
            gen(E, r->a);
        if (r->max < 0) {
            uint32_t s = emit(E, I_SPLIT, 0, 0);
            E->prog[s].x = E->n;
            gen(E, r->a);
            emit(E, I_JMP, s, 0);
            if (!E->over)
                E->prog[s].y = E->n;
        } else {
            uint32_t splits[1001];
            int k = 0;
            for (int i = r->min; i < r->max && !E->over; i++) {
                splits[k] = emit(E, I_SPLIT, 0, 0);
                E->prog[splits[k]].x = E->n;
                k++;
                gen(E, r->a);
            }
            for (int i = 0; i < k && !E->over; i++)
                E->prog[splits[i]].y = E->n;
        }
        break;
    }
}

struct eql_re *eql_re_compile(kx_arena *a, const char *pat, size_t len, bool ci, size_t *errpos,
                              const char **errmsg)
{
    struct rp *P = kx_calloc(1, sizeof *P); /* large: kept off the stack and the arena */
    struct em *E = kx_calloc(1, sizeof *E);
    struct eql_re *re = NULL;
    P->s = pat;
    P->len = len;
    int root = alt_expr(P);
    if (root >= 0 && P->i < P->len)
        bad(P, "unbalanced ')'");
    if (P->msg) {
        *errmsg = P->msg;
        *errpos = P->at;
        goto out;
    }
    E->P = P;
    gen(E, root);
    emit(E, I_MATCH, 0, 0);
    if (E->over) {
        *errmsg = "pattern too large after expanding repetitions";
        *errpos = 0;
        goto out;
    }
    re = kx_arena_zalloc(a, sizeof *re);
    if (!re) {
        *errmsg = "query too large for the rule arena";
        goto out;
    }
    re->prog = kx_arena_memdup(a, E->prog, E->n * sizeof E->prog[0]);
    re->n = E->n;
    re->ranges =
        P->nranges ? kx_arena_memdup(a, P->ranges, P->nranges * sizeof P->ranges[0]) : NULL;
    re->ci = ci;
    if (!re->prog) {
        *errmsg = "query too large for the rule arena";
        re = NULL;
    }
out:
    kx_free(P);
    kx_free(E);
    return re;
}

/* ---- match ----------------------------------------------------------------------------------- */

static bool in_class(const struct eql_re *re, const struct re_inst *in, uint32_t c)
{
    bool hit = false;
    for (uint32_t i = 0; i < in->y && !hit; i++) {
        uint32_t lo = re->ranges[in->x + i][0], hi = re->ranges[in->x + i][1];
        hit = c >= lo && c <= hi;
        if (!hit && re->ci) {
            uint32_t f = eql_fold(c);
            for (uint32_t u = lo; u <= hi && u - lo < 512 && !hit; u++)
                hit = eql_fold(u) == f;
        }
    }
    return hit != (in->neg != 0);
}

struct tl {
    uint32_t *pc;
    uint32_t n;
};

static void addthread(const struct eql_re *re, struct tl *l, uint32_t *mark, uint32_t gen,
                      uint32_t pc, uint32_t *stack)
{
    uint32_t sp = 0;
    stack[sp++] = pc;
    while (sp) {
        pc = stack[--sp];
        if (mark[pc] == gen)
            continue;
        mark[pc] = gen;
        const struct re_inst *in = &re->prog[pc];
        if (in->op == I_JMP) {
            stack[sp++] = in->x;
        } else if (in->op == I_SPLIT) {
            stack[sp++] = in->y;
            stack[sp++] = in->x;
        } else {
            l->pc[l->n++] = pc;
        }
    }
}

bool eql_re_match(const struct eql_re *re, const char *s, size_t len)
{
    uint32_t a[RE_MAX_PROG], b[RE_MAX_PROG], mark[RE_MAX_PROG], stack[2 * RE_MAX_PROG + 2];
    memset(mark, 0, re->n * sizeof mark[0]);
    struct tl cl = {a, 0}, nl = {b, 0};
    uint32_t gen = 1;
    addthread(re, &cl, mark, gen, 0, stack);
    size_t i = 0;
    while (i < len && cl.n) {
        uint32_t c = eql_utf8_next(s, len, &i);
        uint32_t fc = re->ci ? eql_fold(c) : c;
        gen++;
        nl.n = 0;
        for (uint32_t k = 0; k < cl.n; k++) {
            const struct re_inst *in = &re->prog[cl.pc[k]];
            bool ok = false;
            if (in->op == I_CHAR)
                ok = re->ci ? eql_fold(in->x) == fc : in->x == c;
            else if (in->op == I_ANY)
                ok = true;
            else if (in->op == I_CLASS)
                ok = in_class(re, in, c);
            if (ok)
                addthread(re, &nl, mark, gen, cl.pc[k] + 1, stack);
        }
        struct tl t = cl;
        cl = nl;
        nl = t;
    }
    if (i < len)
        return false;
    for (uint32_t k = 0; k < cl.n; k++)
        if (re->prog[cl.pc[k]].op == I_MATCH)
            return true;
    return false;
}

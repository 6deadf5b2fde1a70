/*
 * eql_compile.c - the checks Elasticsearch makes after parsing, and the preparation of the
 * tree for evaluation (docs/internals/eql.md "Compilation"):
 *   - functions resolved case-insensitively, `~` only on the case-aware ones, argument counts;
 *   - a literal on the left of a comparison moved to the right; field-to-field comparisons
 *     rejected;
 *   - in boolean context: `!=` becomes not(==), `x == null` a missing test, and every maximal
 *     non-boolean subtree a leaf whose distinct fields get binding slots;
 *   - patterns checked (strings only) and regexes compiled;
 *   - sequences: stage counts, runs, join-key counts, maxspan with missing events.
 */
#include "eql.h"

#include "base/err.h"
#include "base/str.h"
#include "base/vec.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    uint8_t min, max; /* max 255 = unbounded */
    bool ci;          /* accepts ~ */
} fns[EQL_F_COUNT_] = {
    [EQL_F_ADD] = {"add", 2, 2, false},
    [EQL_F_BETWEEN] = {"between", 3, 4, true},
    [EQL_F_CIDRMATCH] = {"cidrMatch", 2, 255, false},
    [EQL_F_CONCAT] = {"concat", 1, 255, false},
    [EQL_F_DIVIDE] = {"divide", 2, 2, false},
    [EQL_F_ENDSWITH] = {"endsWith", 2, 2, true},
    [EQL_F_INDEXOF] = {"indexOf", 2, 3, true},
    [EQL_F_LENGTH] = {"length", 1, 1, false},
    [EQL_F_MODULO] = {"modulo", 2, 2, false},
    [EQL_F_MULTIPLY] = {"multiply", 2, 2, false},
    [EQL_F_NUMBER] = {"number", 1, 2, false},
    [EQL_F_STARTSWITH] = {"startsWith", 2, 2, true},
    [EQL_F_STRING] = {"string", 1, 1, false},
    [EQL_F_STRINGCONTAINS] = {"stringContains", 2, 2, true},
    [EQL_F_SUBSTRING] = {"substring", 2, 3, false},
    [EQL_F_SUBTRACT] = {"subtract", 2, 2, false},
};

const char *eql_fn_name(int f) { return f >= 0 && f < EQL_F_COUNT_ ? fns[f].name : "?"; }

struct cp {
    kx_arena *a;
    const char *src;
    size_t len;
    const char *origin;
    kad_err *err;
    bool failed;
    KX_VEC(const char *) fields;
};

static void cerr(struct cp *C, int code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cerr(struct cp *C, int code, size_t at, const char *fmt, ...)
{
    if (C->failed)
        return;
    C->failed = true;
    va_list ap;
    va_start(ap, fmt);
    eql_verr(C->err, code, C->origin, C->src, C->len, at, fmt, ap);
    va_end(ap);
}

static void add_field(struct cp *C, const char *p)
{
    for (size_t i = 0; i < C->fields.len; i++)
        if (strcmp(C->fields.ptr[i], p) == 0)
            return;
    KX_VEC_PUSH(&C->fields, p);
}

static bool has_field(const struct eql_node *n)
{
    if (n->kind == EQL_N_FIELD)
        return true;
    for (uint32_t i = 0; i < n->n; i++)
        if (has_field(n->kid[i]))
            return true;
    return false;
}

static bool is_const(const struct eql_node *n, int vt)
{
    return n->kind == EQL_N_CONST && (vt < 0 || n->v.t == vt);
}

/* Value-context checks and preparation of a subtree (functions, comparisons, patterns). */
static void prep_value(struct cp *C, struct eql_node *n)
{
    if (C->failed)
        return;
    for (uint32_t i = 0; i < n->n; i++)
        prep_value(C, n->kid[i]);
    if (C->failed)
        return;
    switch (n->kind) {
    case EQL_N_FIELD: {
        add_field(C, n->path);
        static const char *const ips[] = {"source.ip", "client.ip", "related.ip", "destination.ip",
                                          "host.ip"};
        for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++)
            n->ip = n->ip || strcmp(n->path, ips[i]) == 0;
        break;
    }
    case EQL_N_CALL: {
        int f = -1;
        for (int i = 0; i < EQL_F_COUNT_; i++)
            if (strcasecmp(fns[i].name, n->path) == 0)
                f = i;
        if (f < 0) {
            cerr(C, KAD_ESYNTAX, n->pos, "unknown function '%s%s'", n->path, n->ci ? "~" : "");
            return;
        }
        if (n->ci && !fns[f].ci) {
            cerr(C, KAD_ESYNTAX, n->pos, "function '%s' has no case-insensitive form ('%s~')",
                 fns[f].name, n->path);
            return;
        }
        if (n->n < fns[f].min || (fns[f].max != 255 && n->n > fns[f].max)) {
            if (fns[f].max == 255)
                cerr(C, KAD_ESYNTAX, n->pos, "%s takes at least %u argument%s, not %u", fns[f].name,
                     fns[f].min, fns[f].min == 1 ? "" : "s", n->n);
            else if (fns[f].min == fns[f].max)
                cerr(C, KAD_ESYNTAX, n->pos, "%s takes %u argument%s, not %u", fns[f].name,
                     fns[f].min, fns[f].min == 1 ? "" : "s", n->n);
            else
                cerr(C, KAD_ESYNTAX, n->pos, "%s takes %u to %u arguments, not %u", fns[f].name,
                     fns[f].min, fns[f].max, n->n);
            return;
        }
        n->op = (uint8_t)f;
        if (f == EQL_F_NUMBER && n->n == 2 && !is_const(n->kid[1], EQL_V_INT) &&
            !is_const(n->kid[1], EQL_V_NULL)) {
            cerr(C, KAD_ESYNTAX, n->kid[1]->pos, "the base of number() must be an integer literal");
            return;
        }
        if (f == EQL_F_NUMBER && n->n == 2 && is_const(n->kid[1], EQL_V_INT) &&
            (n->kid[1]->v.i < 2 || n->kid[1]->v.i > 36)) {
            cerr(C, KAD_ESYNTAX, n->kid[1]->pos, "the base of number() must be between 2 and 36");
            return;
        }
        if (f == EQL_F_CIDRMATCH)
            for (uint32_t i = 1; i < n->n; i++)
                if (!is_const(n->kid[i], EQL_V_STR)) {
                    cerr(C, KAD_ESYNTAX, n->kid[i]->pos,
                         "cidrMatch takes CIDR blocks as string literals");
                    return;
                }
        break;
    }
    case EQL_N_CMP: {
        struct eql_node *l = n->kid[0], *r = n->kid[1];
        if (has_field(l) && has_field(r)) {
            cerr(C, KAD_ESYNTAX, n->pos,
                 "comparisons against fields are not supported (one side must be a constant "
                 "expression)");
            return;
        }
        if (!has_field(l) && has_field(r)) {
            static const uint8_t flip[] = {[EQL_EQ] = EQL_EQ, [EQL_NE] = EQL_NE, [EQL_LT] = EQL_GT,
                                           [EQL_LE] = EQL_GE, [EQL_GT] = EQL_LT, [EQL_GE] = EQL_LE};
            n->kid[0] = r;
            n->kid[1] = l;
            n->op = flip[n->op];
        }
        break;
    }
    case EQL_N_IN:
        for (uint32_t i = 1; i < n->n; i++)
            if (has_field(n->kid[i])) {
                cerr(C, KAD_ESYNTAX, n->kid[i]->pos,
                     "comparisons against fields are not supported ('in' takes constants)");
                return;
            }
        break;
    case EQL_N_MATCH:
        if (n->op == EQL_M_COLON && n->n == 2 && n->kid[1]->v.t != EQL_V_STR) {
            /* `f : 5` is a plain equality */
            n->kind = EQL_N_CMP;
            n->op = EQL_EQ;
            n->ci = 0;
            break;
        }
        for (uint32_t i = 1; i < n->n; i++)
            if (n->kid[i]->v.t != EQL_V_STR) {
                cerr(C, KAD_ESYNTAX, n->kid[i]->pos, "'%s' takes string patterns",
                     n->op == EQL_M_COLON  ? ":"
                     : n->op == EQL_M_LIKE ? "like"
                                           : "regex");
                return;
            }
        if (n->op == EQL_M_REGEX) {
            n->re = kx_arena_zalloc(C->a, n->n * sizeof *n->re);
            for (uint32_t i = 1; n->re && i < n->n; i++) {
                size_t at = 0;
                const char *msg = NULL;
                n->re[i] = eql_re_compile(C->a, n->kid[i]->v.s, n->kid[i]->v.len, n->ci, &at, &msg);
                if (!n->re[i]) {
                    cerr(C, KAD_ESYNTAX, n->kid[i]->pos, "invalid regex at character %zu: %s",
                         at + 1, msg ? msg : "?");
                    return;
                }
            }
            if (!n->re)
                cerr(C, KAD_ELIMIT, n->pos, "query too large for the rule arena");
        }
        break;
    default: break;
    }
}

/* Depth of the tree under n; the first node found deeper than EQL_MAX_DEPTH in *deep. */
static uint32_t depth(const struct eql_node *n, uint32_t level, const struct eql_node **deep)
{
    if (level > EQL_MAX_DEPTH) {
        if (!*deep)
            *deep = n;
        return level;
    }
    uint32_t d = level;
    for (uint32_t i = 0; i < n->n && !*deep; i++) {
        uint32_t k = depth(n->kid[i], level + 1, deep);
        d = k > d ? k : d;
    }
    return d;
}

static void check_depth(struct cp *C, const struct eql_node *n)
{
    const struct eql_node *deep = NULL;
    depth(n, 1, &deep);
    if (deep)
        cerr(C, KAD_ELIMIT, deep->pos, "expression nested deeper than %d levels", EQL_MAX_DEPTH);
}

/* Give each distinct field path in a leaf its binding slot. */
typedef KX_VEC(const char *) pathvec;

static void slots(struct cp *C, struct eql_node *leaf, struct eql_node *n, pathvec *paths)
{
    if (n->kind == EQL_N_FIELD) {
        uint32_t i = 0;
        while (i < paths->len && strcmp(paths->ptr[i], n->path) != 0)
            i++;
        if (i == paths->len)
            KX_VEC_PUSH(paths, n->path);
        n->slot = i;
    }
    for (uint32_t i = 0; i < n->n; i++)
        slots(C, leaf, n->kid[i], paths);
}

static bool is_null_const(const struct eql_node *n) { return is_const(n, EQL_V_NULL); }

static struct eql_node *mk(struct cp *C, int kind, struct eql_node *kid)
{
    struct eql_node *n = kx_arena_zalloc(C->a, sizeof *n);
    struct eql_node **k = kx_arena_alloc(C->a, sizeof *k);
    if (!n || !k) {
        cerr(C, KAD_ELIMIT, kid->pos, "query too large for the rule arena");
        return kid;
    }
    k[0] = kid;
    n->kind = (uint8_t)kind;
    n->pos = kid->pos;
    n->kid = k;
    n->n = 1;
    return n;
}

/* Flatten nested and/or of the same kind into one n-ary node. */
static void flatten(struct cp *C, struct eql_node *n)
{
    uint32_t cnt = 0;
    for (uint32_t i = 0; i < n->n; i++)
        cnt += n->kid[i]->kind == n->kind ? n->kid[i]->n : 1;
    if (cnt == n->n)
        return;
    struct eql_node **k = kx_arena_alloc(C->a, cnt * sizeof *k);
    if (!k) {
        cerr(C, KAD_ELIMIT, n->pos, "query too large for the rule arena");
        return;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        if (n->kid[i]->kind == n->kind)
            for (uint32_t m = 0; m < n->kid[i]->n; m++)
                k[j++] = n->kid[i]->kid[m];
        else
            k[j++] = n->kid[i];
    }
    n->kid = k;
    n->n = cnt;
}

/* Boolean context: returns the (possibly rewritten) node. */
static struct eql_node *prep_bool(struct cp *C, struct eql_node *n)
{
    if (C->failed)
        return n;
    if (n->kind == EQL_N_AND || n->kind == EQL_N_OR || n->kind == EQL_N_NOT) {
        for (uint32_t i = 0; i < n->n; i++)
            n->kid[i] = prep_bool(C, n->kid[i]);
        if (n->kind != EQL_N_NOT)
            flatten(C, n);
        return n;
    }
    prep_value(C, n);
    if (C->failed)
        return n;
    bool neg = false;
    if (n->kind == EQL_N_CMP && n->op == EQL_NE) {
        n->op = EQL_EQ;
        neg = true;
    }
    if (n->kind == EQL_N_CMP && n->op == EQL_EQ && is_null_const(n->kid[1])) {
        n->kind = EQL_N_ISNULL;
        n->n = 1;
    }
    n->leaf = 1;
    pathvec paths = {0};
    slots(C, n, n, &paths);
    n->nslots = (uint32_t)paths.len;
    if (paths.len > 8)
        cerr(C, KAD_ELIMIT, n->pos, "an expression reads at most 8 distinct fields");
    n->fpaths = paths.len ? kx_arena_memdup(C->a, paths.ptr, paths.len * sizeof *paths.ptr) : NULL;
    if (paths.len && !n->fpaths)
        cerr(C, KAD_ELIMIT, n->pos, "query too large for the rule arena");
    KX_VEC_FREE(&paths);
    return neg ? mk(C, EQL_N_NOT, n) : n;
}

static void prep_filter(struct cp *C, struct eql_filter *f)
{
    if (f->category)
        add_field(C, "event.category");
    f->cond = prep_bool(C, f->cond);
    if (!C->failed)
        check_depth(C, f->cond); /* on the prepared tree, which its canonical text gives again */
}

static void prep_term(struct cp *C, struct eql_query *q, struct eql_term *t)
{
    prep_filter(C, &t->f);
    struct eql_node **k = kx_arena_alloc(C->a, (q->nseqkeys + t->nown + 1) * sizeof *k);
    if (!k) {
        cerr(C, KAD_ELIMIT, 0, "query too large for the rule arena");
        return;
    }
    for (uint32_t i = 0; i < q->nseqkeys; i++)
        k[i] = q->seqkeys[i];
    for (uint32_t i = 0; i < t->nown; i++)
        k[q->nseqkeys + i] = t->keys[i];
    for (uint32_t i = 0; i < q->nseqkeys + t->nown; i++)
        add_field(C, k[i]->path);
    t->keys = k;
    t->nkeys = q->nseqkeys + t->nown;
    if (t->nkeys > 16)
        cerr(C, KAD_ELIMIT, k[16]->pos, "a sequence stage has at most 16 join keys");
}

int eql_prepare(kx_arena *a, struct eql_query *q, const char *src, size_t len, const char *origin,
                kad_err *err)
{
    struct cp C = {.a = a, .src = src, .len = len, .origin = origin, .err = err};
    if (!q->sequence) {
        prep_filter(&C, &q->ev);
    } else {
        add_field(&C, "@timestamp");
        uint32_t total = 0, positive = 0;
        bool missing = false;
        for (uint32_t i = 0; i < q->nterms && !C.failed; i++) {
            prep_term(&C, q, &q->terms[i]);
            total += q->terms[i].runs;
            positive += q->terms[i].missing ? 0 : q->terms[i].runs;
            missing = missing || q->terms[i].missing;
        }
        if (q->until && !C.failed)
            prep_term(&C, q, q->until);
        size_t at = q->nterms ? q->terms[0].f.cond->pos : 0;
        if (C.failed) {
        } else if (total < 2) {
            cerr(&C, KAD_ESYNTAX, at, "a sequence needs at least two stages");
        } else if (total > EQL_MAX_STAGES) {
            cerr(&C, KAD_ELIMIT, at, "a sequence has at most %d stages (runs included)",
                 EQL_MAX_STAGES);
        } else if (positive == 0) {
            cerr(&C, KAD_ESYNTAX, at, "a sequence needs at least one stage that is not '!['");
        } else if (missing && !q->maxspan_ms) {
            cerr(&C, KAD_ESYNTAX, at, "a sequence with missing events ('![') needs 'with maxspan'");
        }
        for (uint32_t i = 1; i <= q->nterms && !C.failed; i++) {
            const struct eql_term *t = i < q->nterms ? &q->terms[i] : q->until;
            if (t && t->nkeys != q->terms[0].nkeys)
                cerr(&C, KAD_ESYNTAX, t->f.cond->pos,
                     "%s has %u join key%s, the first stage has %u: every stage needs the same "
                     "number",
                     i < q->nterms ? "this stage" : "until", t->nkeys, t->nkeys == 1 ? "" : "s",
                     q->terms[0].nkeys);
        }
    }
    if (!C.failed) {
        q->fields =
            C.fields.len ? kx_arena_memdup(a, C.fields.ptr, C.fields.len * sizeof(char *)) : NULL;
        q->nfields = C.fields.len;
        if (C.fields.len && !q->fields)
            cerr(&C, KAD_ELIMIT, 0, "query too large for the rule arena");
    }
    KX_VEC_FREE(&C.fields);
    return C.failed ? (err ? err->code : KAD_ESYNTAX) : KAD_OK;
}

struct eql_query *eql_compile(kx_arena *a, const char *src, size_t len, const char *origin,
                              kad_err *err)
{
    kad_err local;
    if (!err) {
        kad_err_clear(&local);
        err = &local;
    }
    if (len > EQL_MAX_LEN) {
        kx_err_at(err, KAD_ELIMIT, origin, src, len, EQL_MAX_LEN, "query is longer than %u bytes",
                  EQL_MAX_LEN);
        return NULL;
    }
    size_t bad = kx_utf8_check(src, len);
    if (bad != len) {
        kx_err_at(err, KAD_EINVAL, origin, src, len, bad, "query is not valid UTF-8");
        return NULL;
    }
    struct eql_query *q = eql_parse(a, src, len, origin, err);
    if (!q || eql_prepare(a, q, src, len, origin, err) != KAD_OK)
        return NULL;
    return q;
}

bool eql_is_sequence(const struct eql_query *q) { return q->sequence; }
size_t eql_field_count(const struct eql_query *q) { return q->nfields; }
const char *eql_field(const struct eql_query *q, size_t i)
{
    return i < q->nfields ? q->fields[i] : NULL;
}
int64_t eql_pipe_limit(const struct eql_query *q, bool *tail)
{
    if (!q->npipes)
        return -1;
    if (tail)
        *tail = q->pipes[q->npipes - 1].tail;
    int64_t n = q->pipes[0].n;
    for (uint32_t i = 1; i < q->npipes; i++)
        n = q->pipes[i].n < n ? q->pipes[i].n : n;
    return n;
}

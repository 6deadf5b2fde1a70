/*
 * kql_eval.c - evaluate a compiled query against one document (docs/internals/kql.md
 * section 5). No allocation, no failure: a missing field or a type mismatch is a non-match.
 *
 * Every leaf test (is, exists, wildcard, range) asks "does ANY value of the field satisfy it"
 * and stops at the first that does; and/or/not combine those document-level answers. Plain
 * field paths are looked up with ev_values() (dotted keys, arrays flattened); field-name
 * patterns and free text walk the whole document once, building each leaf's dotted path in a
 * stack buffer.
 *
 * Wildcards: `*` only, anchored, case-sensitive, bytes (a `*`-only pattern cannot split a UTF-8
 * character). A pattern is a list of literal segments, so an escaped `\*` is just a byte of a
 * segment; matching takes the first segment as a prefix, the last as a suffix and finds the
 * middle ones left to right, which is exact for `*`-only globs and never backtracks
 * (O(len(text) * len(pattern)) worst case). base/str.h's kx_glob_match cannot be used: it has no
 * way to say "a literal star".
 */
#include "kql.h"

#include "base/str.h"

#include <string.h>

#define WALK_MAX_PATH 1024 /* leaves with longer dotted paths are not seen by patterns */
#define WALK_MAX_DEPTH 128 /* nor are leaves deeper than this */

static bool eval(const struct kql_node *n, const struct ev_node *doc, struct ev_memo *memo);

/* ---- wildcards ---------------------------------------------------------------------------- */

/* First occurrence of needle (n > 0 bytes) in hay, or NULL (memmem is a GNU extension). */
static const char *find(const char *hay, size_t len, const char *needle, size_t n)
{
    const char *end = hay + len;
    while ((size_t)(end - hay) >= n) {
        const char *c = memchr(hay, needle[0], (size_t)(end - hay) - n + 1);
        if (!c)
            return NULL;
        if (memcmp(c, needle, n) == 0)
            return c;
        hay = c + 1;
    }
    return NULL;
}

static bool seg_match(const kx_str *seg, uint32_t nseg, const char *s, size_t len)
{
    const kx_str first = seg[0], last = seg[nseg - 1];
    if (len < first.len + last.len)
        return false;
    if (memcmp(s, first.ptr, first.len) != 0 || memcmp(s + len - last.len, last.ptr, last.len) != 0)
        return false;
    const char *p = s + first.len;
    size_t left = len - first.len - last.len;
    for (uint32_t i = 1; i + 1 < nseg; i++) {
        if (seg[i].len == 0)
            continue;
        const char *hit = find(p, left, seg[i].ptr, seg[i].len);
        if (!hit)
            return false;
        left -= (size_t)(hit - p) + seg[i].len;
        p = hit + seg[i].len;
    }
    return true;
}

static bool wild_match(const struct kql_lit *l, const char *s, size_t len)
{
    switch (l->vclass) {
    case KQL_V_PREFIX: return len >= l->seg[0].len && memcmp(s, l->seg[0].ptr, l->seg[0].len) == 0;
    case KQL_V_SUFFIX:
        return len >= l->seg[1].len &&
               memcmp(s + len - l->seg[1].len, l->seg[1].ptr, l->seg[1].len) == 0;
    case KQL_V_INFIX:
        return l->seg[1].len == 0 || find(s, len, l->seg[1].ptr, l->seg[1].len) != NULL;
    default: return seg_match(l->seg, l->nseg, s, len);
    }
}

/* ---- leaf comparisons --------------------------------------------------------------------- */

/* Compare a document number with a numeric literal: <0, 0, >0; false when the document text
 * is not a number we can read. */
static bool num_cmp(const struct ev_node *v, const struct kql_lit *l, int *out)
{
    double d;
    int64_t i;
    bool is_int;
    if (!kql_parse_number(v->str, v->len, &d, &i, &is_int))
        return false;
    if (is_int && l->is_int)
        *out = (i > l->inum) - (i < l->inum);
    else
        *out = (d > l->num) - (d < l->num);
    return true;
}

static bool in_cidr(const struct ev_node *v, const struct kql_lit *l)
{
    uint8_t ip[16];
    if (v->len > 45 || !kql_parse_ip(v->str, v->len, ip))
        return false;
    unsigned bits = l->cidr_bits, full = bits / 8;
    if (memcmp(ip, l->net, full) != 0)
        return false;
    if (bits % 8 == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF00u >> (bits % 8));
    return (ip[full] & mask) == l->net[full];
}

/* is(field, value) for one value v of the field. */
static bool test_is(const struct kql_lit *l, const struct ev_node *v, bool partial)
{
    switch (l->vclass) {
    case KQL_V_EXISTS: return (partial || v->type == EV_OBJECT) ? ev_has_value(v) : true;
    case KQL_V_NEVER: return false;
    case KQL_V_EXACT:
        if (partial)
            return false;
        switch (v->type) {
        case EV_STRING:
            if (v->len == l->len && memcmp(v->str, l->text, l->len) == 0)
                return true;
            return l->is_cidr && in_cidr(v, l);
        case EV_NUMBER: {
            int c;
            return l->is_num && num_cmp(v, l, &c) && c == 0;
        }
        case EV_TRUE: return l->bool_text == 2;
        case EV_FALSE: return l->bool_text == 1;
        default: return false;
        }
    default: return !partial && v->type == EV_STRING && wild_match(l, v->str, v->len);
    }
}

static bool test_range(const struct kql_node *n, const struct ev_node *v, bool partial)
{
    const struct kql_lit *l = &n->value;
    if (partial || l->type == KQL_L_NULL)
        return false;
    int c;
    switch (v->type) {
    case EV_NUMBER:
        if (!l->is_num || !num_cmp(v, l, &c))
            return false;
        break;
    case EV_STRING: {
        size_t m = v->len < l->len ? v->len : l->len;
        c = memcmp(v->str, l->text, m);
        if (c == 0)
            c = (v->len > l->len) - (v->len < l->len);
        break;
    }
    case EV_TRUE:
    case EV_FALSE:
        if (!l->bool_text)
            return false;
        c = (v->type == EV_TRUE) - (l->bool_text == 2);
        break;
    default: return false;
    }
    switch (n->op) {
    case KQL_LT: return c < 0;
    case KQL_LTE: return c <= 0;
    case KQL_GT: return c > 0;
    default: return c >= 0;
    }
}

/* The test of node n (is, range or nested) on one value of its field. */
static bool test_value(const struct kql_node *n, const struct ev_node *v, bool partial)
{
    switch (n->kind) {
    case KQL_IS: return test_is(&n->value, v, partial);
    case KQL_RANGE: return test_range(n, v, partial);
    default: return !partial && v->type == EV_OBJECT && eval(n->kid[0], v, NULL);
    }
}

static bool visit(const struct ev_node *v, bool partial, void *ctx)
{
    return test_value(ctx, v, partial);
}

/* An indexed group (kql.h): the answer of test_is over every literal, from the index. */
static bool indexed_match(const struct kql_group *g, const struct ev_node *v, bool partial)
{
    if (!partial) {
        switch (v->type) {
        case EV_STRING: {
            uint32_t h = (uint32_t)kx_hash64(v->str, v->len, 0) & g->hmask;
            for (const struct kql_lit *l; (l = g->hash[h]) != NULL; h = (h + 1) & g->hmask)
                if (l->len == v->len && memcmp(l->text, v->str, v->len) == 0)
                    return true;
            break;
        }
        case EV_NUMBER: {
            double d;
            int64_t i;
            bool is_int;
            if (!g->nnums || !kql_parse_number(v->str, v->len, &d, &i, &is_int))
                break;
            uint32_t lo = 0, hi = g->nnums; /* first literal with num >= d */
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (g->nums[mid]->num < d)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            /* equal as doubles is necessary for equal (two int64 equal as integers are equal as
               doubles too); num_cmp decides */
            for (; lo < g->nnums && g->nums[lo]->num == d; lo++) {
                int c;
                if (num_cmp(v, g->nums[lo], &c) && c == 0)
                    return true;
            }
            break;
        }
        case EV_TRUE:
            if (g->has_true)
                return true;
            break;
        case EV_FALSE:
            if (g->has_false)
                return true;
            break;
        default: break;
        }
    }
    for (uint32_t i = 0; i < g->nother; i++)
        if (test_is(g->other[i], v, partial))
            return true;
    return false;
}

static bool visit_group(const struct ev_node *v, bool partial, void *ctx)
{
    const struct kql_group *g = ctx;
    if (g->hash)
        return indexed_match(g, v, partial);
    for (uint32_t i = 0; i < g->n; i++)
        if (test_is(g->val[i], v, partial))
            return true;
    return false;
}

/* ---- field-name patterns and free text: walk every value with its dotted path ------------ */

struct walk {
    const struct kql_node *n;
    char path[WALK_MAX_PATH];
};

static bool walk_value(struct walk *w, const struct ev_node *v, size_t plen, int depth);

static bool path_matches(const struct walk *w, size_t plen)
{
    const struct kql_node *n = w->n;
    if (n->fclass == KQL_F_ANY)
        return true;
    return seg_match(n->field.seg, n->field.nseg, w->path, plen);
}

static bool walk_object(struct walk *w, const struct ev_node *obj, size_t plen, int depth)
{
    for (const struct ev_node *m = obj->child; m; m = m->next) {
        size_t nl = plen + (plen ? 1 : 0) + m->klen;
        if (nl > sizeof(w->path))
            continue;
        if (plen)
            w->path[plen] = '.';
        memcpy(w->path + nl - m->klen, m->key, m->klen);
        if (walk_value(w, m, nl, depth + 1))
            return true;
    }
    return false;
}

static bool walk_value(struct walk *w, const struct ev_node *v, size_t plen, int depth)
{
    if (depth > WALK_MAX_DEPTH)
        return false;
    switch (v->type) {
    case EV_NULL: return false;
    case EV_ARRAY:
        for (const struct ev_node *c = v->child; c; c = c->next)
            if (walk_value(w, c, plen, depth + 1))
                return true;
        return false;
    case EV_OBJECT:
        /* Kibana expands patterns against the data view's leaf fields; only nested queries
         * look at objects. */
        if (w->n->kind == KQL_NESTED && plen && path_matches(w, plen) &&
            eval(w->n->kid[0], v, NULL))
            return true;
        return walk_object(w, v, plen, depth);
    default:
        return w->n->kind != KQL_NESTED && plen && path_matches(w, plen) &&
               test_value(w->n, v, false);
    }
}

/* ---- boolean structure -------------------------------------------------------------------- */

static bool eval(const struct kql_node *n, const struct ev_node *doc, struct ev_memo *memo)
{
    switch (n->kind) {
    case KQL_ALL: return true;
    case KQL_OR:
        for (uint32_t i = 0; i < n->ngrp; i++)
            if (ev_values_memo(memo, doc, n->grp[i].path, n->grp[i].len, visit_group,
                               (void *)&n->grp[i]))
                return true;
        for (uint32_t i = 0; i < n->nrest; i++)
            if (eval(n->rest[i], doc, memo))
                return true;
        return false;
    case KQL_AND:
        /* negated groups: `not f:a and not f:b` holds when no value of f is a or b */
        for (uint32_t i = 0; i < n->ngrp; i++)
            if (ev_values_memo(memo, doc, n->grp[i].path, n->grp[i].len, visit_group,
                               (void *)&n->grp[i]))
                return false;
        for (uint32_t i = 0; i < n->nrest; i++)
            if (!eval(n->rest[i], doc, memo))
                return false;
        return true;
    case KQL_NOT: return !eval(n->kid[0], doc, memo);
    default: break;
    }
    if (n->all)
        return true;
    if (n->fclass == KQL_F_PATH)
        return ev_values_memo(memo, doc, n->field.text, n->field.len, visit, (void *)n);
    struct walk w;
    w.n = n;
    return walk_value(&w, doc, 0, 0);
}

bool kql_match(const struct kql_query *q, const struct ev_node *doc)
{
    if (!q || !doc)
        return false;
    return eval(q->root, doc, NULL);
}

bool kql_match_memo(const struct kql_query *q, const struct ev_node *doc, struct ev_memo *memo)
{
    if (!q || !doc)
        return false;
    return eval(q->root, doc, memo);
}

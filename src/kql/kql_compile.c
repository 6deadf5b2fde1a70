/*
 * kql_compile.c - turn a parsed tree into something cheap to evaluate: classify every field
 * (path, pattern, any) and value (exact, exists, prefix, suffix, infix, general wildcard,
 * never), pre-parse numeric literals, booleans and CIDR blocks, and collect the distinct field
 * paths for the extractor. Everything lives in the caller's arena.
 *
 * It does not evaluate (kql_eval.c) and it never rejects a query: every tree the grammar
 * accepts compiles.
 */
#include "kql.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/map.h"
#include "base/str.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* [+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)? over the whole text (spec 5.2). */
bool kql_parse_number(const char *s, size_t len, double *d, int64_t *i, bool *is_int)
{
    size_t p = 0;
    if (p < len && (s[p] == '+' || s[p] == '-'))
        p++;
    size_t int_start = p;
    while (p < len && s[p] >= '0' && s[p] <= '9')
        p++;
    size_t ndig = p - int_start;
    bool plain = true;
    if (p < len && s[p] == '.') {
        plain = false;
        p++;
        size_t f = p;
        while (p < len && s[p] >= '0' && s[p] <= '9')
            p++;
        ndig += p - f;
    }
    if (ndig == 0)
        return false;
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        plain = false;
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        size_t e = p;
        while (p < len && s[p] >= '0' && s[p] <= '9')
            p++;
        if (p == e)
            return false;
    }
    if (p != len)
        return false;
    char buf[128];
    if (len >= sizeof(buf))
        return false; /* far longer than any number a document carries */
    memcpy(buf, s, len);
    buf[len] = '\0';
    *d = strtod(buf, NULL);
    *is_int = false;
    if (plain) {
        const char *q = buf + (buf[0] == '+');
        char *end;
        errno = 0;
        long long v = strtoll(q, &end, 10);
        if (*end == '\0' && errno == 0) {
            *i = v;
            *is_int = true;
        }
    }
    return true;
}

bool kql_parse_ip(const char *s, size_t len, uint8_t out[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xFF;
        memcpy(out + 12, v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

/* "a.b.c.d/N" or "v6/N": the network (masked) and prefix length in IPv6 bits. */
static bool parse_cidr(struct kql_lit *l)
{
    const char *slash = memchr(l->text, '/', l->len);
    if (!slash)
        return false;
    size_t iplen = (size_t)(slash - l->text), plen = l->len - iplen - 1;
    if (plen == 0 || plen > 3)
        return false;
    unsigned bits = 0;
    for (size_t k = 0; k < plen; k++) {
        char c = slash[1 + k];
        if (c < '0' || c > '9')
            return false;
        bits = bits * 10 + (unsigned)(c - '0');
    }
    bool v4 = memchr(l->text, ':', iplen) == NULL;
    if (!kql_parse_ip(l->text, iplen, l->net))
        return false;
    if (v4) {
        if (bits > 32)
            return false;
        bits += 96;
    } else if (bits > 128) {
        return false;
    }
    for (unsigned b = bits; b < 128; b++)
        l->net[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
    l->cidr_bits = (uint8_t)bits;
    l->is_cidr = 1;
    return true;
}

static void prepare_value(struct kql_lit *v)
{
    v->vclass = (uint8_t)kql_wild_class(v);
    if (v->type == KQL_L_NULL)
        return;
    if (v->len == 4 && memcmp(v->text, "true", 4) == 0)
        v->bool_text = 2;
    else if (v->len == 5 && memcmp(v->text, "false", 5) == 0)
        v->bool_text = 1;
    bool is_int = false;
    if (kql_parse_number(v->text, v->len, &v->num, &v->inum, &is_int)) {
        v->is_num = 1;
        v->is_int = is_int;
    }
    if (v->type == KQL_L_STRING)
        parse_cidr(v);
}

static void prepare_field(struct kql_node *n)
{
    switch (n->field.type) {
    case KQL_L_NULL: n->fclass = KQL_F_ANY; break;
    case KQL_L_WILD: n->fclass = KQL_F_PATTERN; break;
    default: n->fclass = KQL_F_PATH; break;
    }
}

struct prep {
    kx_arena *a;
    struct kql_query *q;
    size_t cap;
    kx_map fields; /* the query's fields seen so far (a query may name 100,000) */
};

static int add_field(struct prep *p, const char *path)
{
    struct kql_query *q = p->q;
    if (!kx_map_put(&p->fields, path, strlen(path), NULL))
        return KAD_OK;
    if (q->nfields == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        const char **nf = kx_arena_alloc(p->a, nc * sizeof(*nf));
        if (!nf)
            return KAD_ELIMIT;
        if (q->nfields)
            memcpy(nf, q->fields, q->nfields * sizeof(*nf));
        q->fields = nf;
        p->cap = nc;
    }
    q->fields[q->nfields++] = path;
    return KAD_OK;
}

static bool groupable(const struct kql_node *k)
{
    return k->kind == KQL_IS && k->fclass == KQL_F_PATH && !k->all;
}

/* The `is` node an OR child (itself) or an AND child (`not is`) contributes to a group. */
static const struct kql_node *group_member(const struct kql_node *k, bool negated)
{
    if (negated)
        return k->kind == KQL_NOT && groupable(k->kid[0]) ? k->kid[0] : NULL;
    return groupable(k) ? k : NULL;
}

static int cmp_num(const void *a, const void *b)
{
    double x = (*(const struct kql_lit *const *)a)->num,
           y = (*(const struct kql_lit *const *)b)->num;
    return (x > y) - (x < y);
}

/* The index of a large group (struct kql_group). */
static int index_group(kx_arena *a, struct kql_group *g)
{
    uint32_t slots = 2;
    while (slots < 2 * g->n)
        slots *= 2;
    g->hash = kx_arena_zalloc(a, slots * sizeof(*g->hash));
    g->nums = kx_arena_alloc(a, g->n * sizeof(*g->nums));
    g->other = kx_arena_alloc(a, g->n * sizeof(*g->other));
    if (!g->hash || !g->nums || !g->other)
        return KAD_ELIMIT;
    g->hmask = slots - 1;
    for (uint32_t i = 0; i < g->n; i++) {
        const struct kql_lit *l = g->val[i];
        if (l->vclass == KQL_V_NEVER)
            continue;
        if (l->vclass != KQL_V_EXACT || l->is_cidr || (l->is_num && l->num != l->num)) {
            g->other[g->nother++] = l;
            continue;
        }
        g->has_true |= l->bool_text == 2;
        g->has_false |= l->bool_text == 1;
        if (l->is_num)
            g->nums[g->nnums++] = l;
        uint32_t h = (uint32_t)kx_hash64(l->text, l->len, 0) & g->hmask;
        while (g->hash[h] &&
               !(g->hash[h]->len == l->len && memcmp(g->hash[h]->text, l->text, l->len) == 0))
            h = (h + 1) & g->hmask;
        g->hash[h] = l;
    }
    qsort(g->nums, g->nnums, sizeof(*g->nums), cmp_num);
    return KAD_OK;
}

/*
 * A value list `f:(a or b or c ...)` becomes an OR of `is` nodes on the same path; the rules
 * have lists of 30 values. Group them so evaluation looks the path up once and tests each value
 * of the field against the literals (an index for large groups), instead of one lookup per
 * literal. The same for an AND's `not f:a and not f:b ...` (negated groups). The tree itself
 * (and so the dump) is unchanged; only kql_eval.c reads grp/rest.
 */
static int group_kids(struct prep *p, struct kql_node *n, bool negated)
{
    uint32_t ng = 0, nr = 0;
    struct kql_group *grp = kx_arena_zalloc(p->a, n->n * sizeof(*grp));
    struct kql_node **rest = kx_arena_alloc(p->a, n->n * sizeof(*rest));
    uint32_t *count = kx_calloc(n->n, sizeof(*count));
    uint32_t *gof = kx_calloc(n->n, sizeof(*gof));
    kx_map paths;
    kx_map_init(&paths);
    int rc = grp && rest ? KAD_OK : KAD_ELIMIT;
    /* first pass: the group of each member and the size of each group */
    for (uint32_t i = 0; i < n->n && !rc; i++) {
        const struct kql_node *k = group_member(n->kid[i], negated);
        if (!k)
            continue;
        bool found;
        void *v = kx_map_get(&paths, k->field.text, k->field.len, &found);
        uint32_t g = found ? (uint32_t)(uintptr_t)v : ng++;
        if (!found)
            kx_map_put(&paths, k->field.text, k->field.len, (void *)(uintptr_t)g);
        gof[i] = g;
        count[g]++;
    }
    for (uint32_t g = 0; g < ng && !rc; g++) {
        grp[g].val = kx_arena_alloc(p->a, count[g] * sizeof(*grp[g].val));
        grp[g].negated = negated;
        if (!grp[g].val)
            rc = KAD_ELIMIT;
    }
    for (uint32_t i = 0; i < n->n && !rc; i++) {
        const struct kql_node *k = group_member(n->kid[i], negated);
        if (!k) {
            rest[nr++] = n->kid[i];
            continue;
        }
        struct kql_group *g = &grp[gof[i]];
        g->path = k->field.text;
        g->len = k->field.len;
        g->val[g->n++] = &k->value;
    }
    for (uint32_t g = 0; g < ng && !rc; g++)
        if (grp[g].n >= KQL_GROUP_INDEX_MIN)
            rc = index_group(p->a, &grp[g]);
    kx_map_fini(&paths);
    kx_free(count);
    kx_free(gof);
    if (rc)
        return rc;
    n->grp = grp;
    n->ngrp = ng;
    n->rest = rest;
    n->nrest = nr;
    return KAD_OK;
}

/* `top` is false inside a nested query, whose field names are relative to the nested path. */
static int prepare(struct prep *p, struct kql_node *n, bool top)
{
    int rc = KAD_OK;
    switch (n->kind) {
    case KQL_OR:
    case KQL_AND:
    case KQL_NOT:
        for (uint32_t i = 0; i < n->n && !rc; i++)
            rc = prepare(p, n->kid[i], top);
        if (!rc && n->kind != KQL_NOT)
            rc = group_kids(p, n, n->kind == KQL_AND);
        return rc;
    case KQL_IS:
    case KQL_RANGE:
    case KQL_NESTED:
        prepare_field(n);
        if (n->kind != KQL_NESTED)
            prepare_value(&n->value);
        if (n->kind == KQL_IS && n->value.vclass == KQL_V_EXISTS &&
            (n->fclass == KQL_F_ANY ||
             (n->fclass == KQL_F_PATTERN && kql_wild_class(&n->field) == KQL_V_EXISTS)))
            n->all = 1; /* `*:*` and free-text `*`: Kibana's match_all */
        if (top && n->fclass == KQL_F_PATH)
            rc = add_field(p, n->field.text);
        else if (top)
            p->q->needs_all = true;
        if (!rc && n->kind == KQL_NESTED)
            rc = prepare(p, n->kid[0], false);
        return rc;
    default: return KAD_OK;
    }
}

int kql_prepare(kx_arena *a, struct kql_query *q, kad_err *err)
{
    struct prep p = {a, q, 0, {0}};
    kx_map_init(&p.fields);
    int rc = prepare(&p, q->root, true);
    kx_map_fini(&p.fields);
    if (rc)
        return kx_err_setf(err, rc, "query needs more memory than the rule set allows");
    return KAD_OK;
}

struct kql_query *kql_compile(kx_arena *a, const char *src, size_t len, const char *origin,
                              kad_err *err)
{
    struct kql_node *root = kql_parse(a, src, len, origin, err);
    if (!root)
        return NULL;
    struct kql_query *q = kx_arena_zalloc(a, sizeof(*q));
    if (!q) {
        kx_err_setf(err, KAD_ELIMIT, "query needs more memory than the rule set allows");
        return NULL;
    }
    q->root = root;
    if (kql_prepare(a, q, err))
        return NULL;
    return q;
}

size_t kql_field_count(const struct kql_query *q) { return q->nfields; }
const char *kql_field(const struct kql_query *q, size_t i)
{
    return i < q->nfields ? q->fields[i] : NULL;
}
bool kql_needs_all(const struct kql_query *q) { return q->needs_all; }

/* ---- field references (kql_field_refs) ---------------------------------------------------- */

struct refs {
    int (*fn)(void *ctx, const struct kql_field_ref *ref);
    void *ctx;
    kx_buf path; /* the enclosing nested paths, each followed by '.' */
    size_t last; /* offset of the last name reported, SIZE_MAX before the first */
};

static int walk_refs(struct refs *w, const struct kql_node *n)
{
    if (n->kind == KQL_OR || n->kind == KQL_AND || n->kind == KQL_NOT) {
        for (uint32_t i = 0; i < n->n; i++) {
            int rc = walk_refs(w, n->kid[i]);
            if (rc)
                return rc;
        }
        return KAD_OK;
    }
    if (n->kind != KQL_IS && n->kind != KQL_RANGE && n->kind != KQL_NESTED)
        return KAD_OK;
    if (!n->field.text)
        return KAD_OK; /* free text: no field */
    size_t off = n->field.off + (n->field.quoted ? 1 : 0);
    size_t keep = w->path.len;
    if (kx_buf_add(&w->path, n->field.text, n->field.len) || kx_buf_addc(&w->path, 0))
        return KAD_ELIMIT;
    int rc = KAD_OK;
    if (off != w->last) {
        w->last = off;
        struct kql_field_ref ref = {w->path.ptr, w->path.len - 1, off, n->fclass == KQL_F_PATTERN,
                                    n->kind == KQL_NESTED};
        rc = w->fn(w->ctx, &ref);
    }
    if (!rc && n->kind == KQL_NESTED) {
        w->path.ptr[w->path.len - 1] = '.';
        rc = walk_refs(w, n->kid[0]);
    }
    w->path.len = keep;
    return rc;
}

int kql_field_refs(const struct kql_query *q, int (*fn)(void *ctx, const struct kql_field_ref *ref),
                   void *ctx)
{
    struct refs w = {fn, ctx, {0}, SIZE_MAX};
    kx_buf_init(&w.path, (size_t)KQL_MAX_LEN + 2);
    int rc = walk_refs(&w, q->root);
    kx_buf_fini(&w.path);
    return rc;
}

/*
 * det_prefilter.c - index rules by cheap equality terms, so that an event is evaluated only
 * against the rules that can match it (DESIGN 4.1 step 3, Suricata's prefilter idea).
 *
 * For each rule, the conjuncts of its query that are `field:value` or `field:(v1 or v2 ...)`
 * with exact strings come from a walk over the compiled query (kql_required_terms). Values that
 * KQL could match other than byte-for-byte (number-like, true/false, CIDR blocks) are not used. The
 * rule is filed under ONE of them (the most selective-looking: fewest values, dataset fields last
 * since every event of a data stream carries the same dataset). A rule with no such conjunct is
 * always a candidate.
 *
 * Per event: for each indexed field (a handful), the document's string values at that field are
 * looked up in the field's value map; each hit ORs a bitset of rules into the candidates. The
 * bitsets live in one array; maps hold offsets into it. No allocation per event.
 *
 * What this file does not do: evaluate anything beyond the lookup; kql_match still decides.
 */
#include "base/alloc.h"
#include "base/vec.h"
#include "det_int.h"

#include <string.h>

struct pf_field {
    const char *path;
    size_t len;
    kx_map values; /* value bytes -> (void *)(uintptr_t)(1 + word offset in masks) */
};

struct det_prefilter {
    kx_arena arena; /* picked terms */
    struct pf_field *fields;
    size_t nfields;
    uint64_t *always; /* rules with no indexable term */
    KX_VEC(uint64_t) masks;
    size_t nwords;
    size_t indexed;
};

/* The chosen term of one rule while the index is built. */
struct pick {
    const char *field;
    const kx_str *values;
    size_t n;
    int score;
};

/*
 * Cost of filing a rule under field:(values): the expected share of events carrying one of the
 * values, roughly. Most audit events are `ResponseComplete`, `allow`, and get/list/watch, and
 * every event of the stream has the same dataset, so those terms filter almost nothing; a
 * resource or a rarer verb or decision does.
 */
static int value_cost(const char *field, kx_str v)
{
    if (strstr(field, "dataset") || strstr(field, "data_stream"))
        return 1000;
    if (kx_str_eqc(v, "ResponseComplete") || kx_str_eqc(v, "allow"))
        return 500;
    if (kx_str_eqc(v, "get") || kx_str_eqc(v, "list") || kx_str_eqc(v, "watch"))
        return 100;
    return 1;
}

static int term_score(const char *field, const kx_str *values, size_t n)
{
    int s = 0;
    for (size_t i = 0; i < n; i++)
        s += value_cost(field, values[i]);
    return s;
}

/* A value KQL matches only by byte equality with a string leaf. */
static bool exact_value(kx_str v)
{
    if (v.len == 0 || kx_str_eqc(v, "true") || kx_str_eqc(v, "false"))
        return false;
    bool numlike = true, ipish = true;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            numlike = false;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '.' || c == ':' || c == '/'))
            ipish = false;
    }
    if (numlike)
        return false; /* a number literal also matches JSON numbers */
    if (ipish && memchr(v.ptr, '/', v.len))
        return false; /* a CIDR block matches addresses inside it */
    return true;
}

struct term_ctx {
    kx_arena *a;
    struct pick *p;
};

/* One required term of the query: kept when every value is exact and it scores best so far
   (its field and values are copied into the arena, the picks outlive the walk). */
static void on_term(const char *field, size_t flen, const kx_str *values, size_t n, void *ud)
{
    struct term_ctx *c = ud;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (!exact_value(values[i]))
            return;
    char *f = kx_arena_strndup(c->a, field, flen);
    kx_str *vals = kx_arena_memdup(c->a, values, n * sizeof(*values));
    if (!f || !vals)
        return;
    int s = term_score(f, vals, n);
    if (!c->p->field || s < c->p->score)
        *c->p = (struct pick){f, vals, n, s};
}

/* The best exact-value conjunct of q; p->field NULL when none. */
static void required_terms(kx_arena *a, const struct kql_query *q, struct pick *p)
{
    struct term_ctx c = {a, p};
    kql_required_terms(q, on_term, &c);
}

static struct pf_field *field_get(struct det_prefilter *pf, const char *path)
{
    for (size_t i = 0; i < pf->nfields; i++)
        if (strcmp(pf->fields[i].path, path) == 0)
            return &pf->fields[i];
    pf->fields = kx_realloc(pf->fields, (pf->nfields + 1) * sizeof(*pf->fields));
    struct pf_field *f = &pf->fields[pf->nfields++];
    f->path = path;
    f->len = strlen(path);
    kx_map_init(&f->values);
    return f;
}

static void index_rule(struct det_prefilter *pf, size_t rule, const struct pick *p)
{
    struct pf_field *f = field_get(pf, p->field);
    for (size_t k = 0; k < p->n; k++) {
        bool found = false;
        void *v = kx_map_get(&f->values, p->values[k].ptr, p->values[k].len, &found);
        size_t off;
        if (found) {
            off = (size_t)(uintptr_t)v - 1;
        } else {
            off = pf->masks.len;
            KX_VEC_GROW(&pf->masks, pf->nwords);
            memset(pf->masks.ptr + off, 0, pf->nwords * sizeof(uint64_t));
            pf->masks.len += pf->nwords;
            kx_map_put(&f->values, p->values[k].ptr, p->values[k].len,
                       (void *)(uintptr_t)(off + 1));
        }
        pf->masks.ptr[off + rule / 64] |= (uint64_t)1 << (rule % 64);
    }
}

struct det_prefilter *det_pf_new(struct det_engine *e)
{
    struct det_prefilter *pf = kx_calloc(1, sizeof(*pf));
    pf->nwords = e->nwords ? e->nwords : 1;
    kx_arena_init(&pf->arena, 16 * 1024, 0);
    pf->always = kx_calloc(pf->nwords, sizeof(uint64_t));
    for (size_t i = 0; i < e->nrules; i++) {
        struct det_rule *dr = &e->rules[i];
        if (!dr->runs)
            continue;
        struct pick p = {NULL, NULL, 0, 0};
        if (!e->o.no_prefilter && dr->r->kql) /* EQL and ES|QL rules: always candidates */
            required_terms(&pf->arena, dr->r->kql, &p);
        if (p.field && p.n <= 64) {
            index_rule(pf, i, &p);
            pf->indexed++;
        } else {
            pf->always[i / 64] |= (uint64_t)1 << (i % 64);
        }
    }
    return pf;
}

void det_pf_free(struct det_prefilter *pf)
{
    if (!pf)
        return;
    for (size_t i = 0; i < pf->nfields; i++)
        kx_map_fini(&pf->fields[i].values);
    kx_free(pf->fields);
    kx_free(pf->always);
    KX_VEC_FREE(&pf->masks);
    kx_arena_fini(&pf->arena);
    kx_free(pf);
}

size_t det_pf_indexed(const struct det_prefilter *pf) { return pf->indexed; }

struct hit_ctx {
    const struct det_prefilter *pf;
    const struct pf_field *f;
    uint64_t *cand;
};

static bool on_value(const struct ev_node *v, bool partial, void *ctx)
{
    struct hit_ctx *c = ctx;
    if (partial || v->type != EV_STRING)
        return false;
    bool found = false;
    void *p = kx_map_get(&c->f->values, v->str, v->len, &found);
    if (found) {
        const uint64_t *m = c->pf->masks.ptr + ((size_t)(uintptr_t)p - 1);
        for (size_t w = 0; w < c->pf->nwords; w++)
            c->cand[w] |= m[w];
    }
    return false;
}

size_t det_pf_field_count(const struct det_prefilter *pf) { return pf->nfields; }

kx_str det_pf_field(const struct det_prefilter *pf, size_t i)
{
    return (kx_str){pf->fields[i].path, pf->fields[i].len};
}

void det_pf_candidates(const struct det_prefilter *pf, const struct ev_node *doc, uint64_t *cand,
                       size_t nwords, struct ev_memo *memo)
{
    memcpy(cand, pf->always, nwords * sizeof(uint64_t));
    for (size_t i = 0; i < pf->nfields; i++) {
        struct hit_ctx c = {pf, &pf->fields[i], cand};
        ev_values_memo(memo, doc, pf->fields[i].path, pf->fields[i].len, on_value, &c);
    }
}

/*
 * det_prefilter.c - index rules by cheap equality terms, so that an event is evaluated only
 * against the rules that can match it (DESIGN 4.1 step 3, Suricata's prefilter idea).
 *
 * For each rule the KQL module reports the conjuncts of its query that are `field:value` or
 * `field:(v1 or v2 ...)` with exact strings (kql_required_terms). The rule is filed under ONE
 * of them (the most selective-looking: fewest values, dataset fields last since every event of
 * a data stream carries the same dataset). A rule with no such conjunct is always a candidate.
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
    kad_map values; /* value bytes -> (void *)(uintptr_t)(1 + word offset in masks) */
};

struct det_prefilter {
    struct pf_field *fields;
    size_t nfields;
    uint64_t *always; /* rules with no indexable term */
    KAD_VEC(uint64_t) masks;
    size_t nwords;
    size_t indexed;
};

/* The chosen term of one rule while the index is built. */
struct pick {
    const char *field;
    const kad_str *values;
    size_t n;
    int score;
};

#ifdef KQL_REQUIRED_TERMS
static int term_score(const char *field, size_t n)
{
    int s = (int)n;
    if (strstr(field, "dataset") || strstr(field, "data_stream"))
        s += 1000; /* matches every event of the stream: nearly useless as a filter */
    return s;
}

static void on_term(const char *field, const kad_str *values, size_t n, void *ud)
{
    struct pick *p = ud;
    if (n == 0)
        return;
    int s = term_score(field, n);
    if (!p->field || s < p->score)
        *p = (struct pick){field, values, n, s};
}
#endif

static struct pf_field *field_get(struct det_prefilter *pf, const char *path)
{
    for (size_t i = 0; i < pf->nfields; i++)
        if (strcmp(pf->fields[i].path, path) == 0)
            return &pf->fields[i];
    pf->fields = kad_realloc(pf->fields, (pf->nfields + 1) * sizeof(*pf->fields));
    struct pf_field *f = &pf->fields[pf->nfields++];
    f->path = path;
    f->len = strlen(path);
    kad_map_init(&f->values);
    return f;
}

static void index_rule(struct det_prefilter *pf, size_t rule, const struct pick *p)
{
    struct pf_field *f = field_get(pf, p->field);
    for (size_t k = 0; k < p->n; k++) {
        bool found = false;
        void *v = kad_map_get(&f->values, p->values[k].ptr, p->values[k].len, &found);
        size_t off;
        if (found) {
            off = (size_t)(uintptr_t)v - 1;
        } else {
            off = pf->masks.len;
            KAD_VEC_GROW(&pf->masks, pf->nwords);
            memset(pf->masks.ptr + off, 0, pf->nwords * sizeof(uint64_t));
            pf->masks.len += pf->nwords;
            kad_map_put(&f->values, p->values[k].ptr, p->values[k].len,
                        (void *)(uintptr_t)(off + 1));
        }
        pf->masks.ptr[off + rule / 64] |= (uint64_t)1 << (rule % 64);
    }
}

struct det_prefilter *det_pf_new(struct det_engine *e)
{
    struct det_prefilter *pf = kad_calloc(1, sizeof(*pf));
    pf->nwords = e->nwords ? e->nwords : 1;
    pf->always = kad_calloc(pf->nwords, sizeof(uint64_t));
    for (size_t i = 0; i < e->nrules; i++) {
        struct det_rule *dr = &e->rules[i];
        if (!dr->runs)
            continue;
        struct pick p = {NULL, NULL, 0, 0};
#ifdef KQL_REQUIRED_TERMS
        kql_required_terms(dr->r->kql, on_term, &p);
#endif
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
        kad_map_fini(&pf->fields[i].values);
    kad_free(pf->fields);
    kad_free(pf->always);
    KAD_VEC_FREE(&pf->masks);
    kad_free(pf);
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
    void *p = kad_map_get(&c->f->values, v->str, v->len, &found);
    if (found) {
        const uint64_t *m = c->pf->masks.ptr + ((size_t)(uintptr_t)p - 1);
        for (size_t w = 0; w < c->pf->nwords; w++)
            c->cand[w] |= m[w];
    }
    return false;
}

void det_pf_candidates(const struct det_prefilter *pf, const struct ev_node *doc, uint64_t *cand,
                       size_t nwords)
{
    memcpy(cand, pf->always, nwords * sizeof(uint64_t));
    for (size_t i = 0; i < pf->nfields; i++) {
        struct hit_ctx c = {pf, &pf->fields[i], cand};
        ev_values(doc, pf->fields[i].path, pf->fields[i].len, on_value, &c);
    }
}

/*
 * det_match.c - the stateless part of det_process, on any thread: for one event, the rules the
 * prefilter lets through, whether each one's query matches, and the terms of the new-terms
 * fields of the matching new_terms rules. All of it depends on the event and the rule set
 * only, so a scan that decodes on several threads (src/api/kad_pipe.c) computes it next to the
 * decode, on the worker that already has the document in its caches; det_process, given the
 * result (det_event.verdict), then applies only what needs the state and the order of events
 * (event times against watermarks, exceptions, new-terms observations, alert ids, suppression,
 * budgets, EQL sequences, ES|QL windows). docs/internals/pipeline.md.
 *
 * Thread safety: a matcher belongs to one thread. It reads the engine's rules (the compiled
 * queries) and its prefilter index, which nothing writes after det_new, and writes only its own
 * scratch and the arena it is given. No global mutable state.
 */
#include "base/alloc.h"
#include "det_int.h"

#include <string.h>

struct det_matcher {
    const struct det_engine *e;
    uint64_t *cand; /* scratch: the prefilter's candidates */
    struct ev_memo memo;
    struct det_val vals[DET_VALUES_MAX]; /* scratch: one field's terms */
};

struct det_matcher *det_matcher_new(const struct det_engine *e)
{
    struct det_matcher *m = kx_calloc(1, sizeof(*m));
    m->e = e;
    m->cand = kx_calloc(e->nwords ? e->nwords : 1, sizeof(uint64_t));
    return m;
}

void det_matcher_free(struct det_matcher *m)
{
    if (!m)
        return;
    kx_free(m->cand);
    kx_free(m);
}

/* The terms of rule r's new-terms fields into a (stops at the first field without any, as
   run_new_terms does). NULL when the arena is full. */
static struct det_vterms *rule_terms(struct det_matcher *m, const struct rule *r,
                                     const struct ev_node *doc, size_t index, kx_arena *a)
{
    struct det_vterms *t = kx_arena_zalloc(a, sizeof(*t));
    if (!t)
        return NULL;
    t->rule = index;
    for (size_t f = 0; f < r->new_terms_fields.n && f < 3; f++) {
        struct det_terms c = {m->vals, 0, DET_VALUES_MAX, DET_VALUES_MAX, false};
        det_field_terms(&m->memo, doc, r->new_terms_fields.v[f], &c);
        t->n[f] = c.n;
        t->cut[f] = c.cut;
        if (c.n == 0)
            break;
        t->v[f] = kx_arena_memdup(a, m->vals, c.n * sizeof(m->vals[0]));
        if (!t->v[f])
            return NULL;
    }
    return t;
}

const struct det_verdict *det_match(struct det_matcher *m, const struct ev_node *doc,
                                    kx_arena *a)
{
    const struct det_engine *e = m->e;
    if (!doc)
        return NULL;
    size_t nw = e->nwords;
    struct det_verdict *v = kx_arena_zalloc(a, sizeof(*v));
    uint64_t *bits = kx_arena_zalloc(a, 2 * (nw ? nw : 1) * sizeof(uint64_t));
    if (!v || !bits)
        return NULL;
    v->cand = bits;
    v->match = bits + nw;
    ev_memo_reset(&m->memo, e->use_memo ? doc : NULL);
    det_pf_candidates(e->pf, doc, m->cand, nw, &m->memo);
    size_t nterms = 0;
    for (size_t w = 0; w < nw; w++) {
        uint64_t b = m->cand[w];
        while (b) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(b);
            b &= b - 1;
            const struct det_rule *dr = &e->rules[i];
            if (!dr->runs)
                continue;
            bits[w] |= (uint64_t)1 << (i % 64);
            if (!det_query_match(dr->r, doc, &m->memo))
                continue;
            bits[nw + w] |= (uint64_t)1 << (i % 64);
            nterms += dr->r->type == RULE_NEW_TERMS;
            v->query |= dr->r->type == RULE_QUERY ||
                        (dr->r->type == RULE_EQL && !eql_is_sequence(dr->r->eql));
        }
    }
    if (nterms) {
        v->terms = kx_arena_alloc(a, nterms * sizeof(*v->terms));
        if (!v->terms)
            goto full;
        for (size_t i = 0; i < e->nrules; i++) {
            if (!(v->match[i / 64] >> (i % 64) & 1) || e->rules[i].r->type != RULE_NEW_TERMS)
                continue;
            v->terms[v->nterms] = rule_terms(m, e->rules[i].r, doc, i, a);
            if (!v->terms[v->nterms])
                goto full;
            v->nterms++;
        }
    }
    ev_memo_reset(&m->memo, NULL); /* the document's arena is the caller's to reset */
    return v;
full:
    ev_memo_reset(&m->memo, NULL);
    return NULL; /* det_process evaluates the event itself */
}

bool det_verdict_query(const struct det_verdict *v) { return v && v->query; }

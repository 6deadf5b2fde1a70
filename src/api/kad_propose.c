/*
 * kad_propose.c - kad_state_propose (include/kad.h): learned allow-list proposals.
 *
 * The state keeps only the first and last time each combination was seen, so "through the
 * whole baseline" means: first seen within a day of the baseline's earliest combination, last
 * seen within a day of its watermark, in a baseline that spans at least min_ms (default: the
 * rule's history window, else 7 days). Nothing is ever applied on its own: the text is an
 * exception file (rule_exc_write_*) for a person to review.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/vec.h"

#include <string.h>

#define PROPOSE_SLACK_MS 86400000LL

struct propose_rule {
    char *rule_id, *name;
    char **fields;
    size_t nfields;
    int64_t window_ms, start, watermark;
    size_t stable;
};

struct propose_ctx {
    int64_t min_ms;
    KX_VEC(struct propose_rule) rules;
    bool print; /* second pass: write the chosen rule's items */
    const struct propose_rule *chosen;
    kx_buf out;
};

static struct propose_rule *propose_find(struct propose_ctx *c, const char *rule_id)
{
    for (size_t i = 0; i < c->rules.len; i++)
        if (strcmp(c->rules.ptr[i].rule_id, rule_id) == 0)
            return &c->rules.ptr[i];
    return NULL;
}

static bool propose_stable(const struct propose_ctx *c, const struct propose_rule *r,
                           const struct st_term *t)
{
    int64_t min = c->min_ms > 0 ? c->min_ms : r->window_ms > 0 ? r->window_ms : 7 * 86400000LL;
    return r->watermark != ST_TIME_NONE && r->watermark - r->start >= min &&
           t->first_seen - r->start <= PROPOSE_SLACK_MS &&
           r->watermark - t->last_seen <= PROPOSE_SLACK_MS;
}

static struct rule_exc_proposal proposal(const struct propose_rule *r)
{
    struct rule_exc_proposal p = {r->rule_id, r->name,  (const char *const *)r->fields,
                                  r->nfields, r->start, r->watermark};
    return p;
}

static int propose_term(const struct st_term_info *t, void *ud)
{
    struct propose_ctx *c = ud;
    const struct st_rule_info *ri = t->rule;
    struct propose_rule *r = propose_find(c, ri->rule_id);
    if (!c->print) {
        if (r) {
            if (t->term.first_seen < r->start)
                r->start = t->term.first_seen;
            return 0;
        }
        struct propose_rule nr = {0};
        nr.rule_id = kx_strdup(ri->rule_id);
        nr.name = kx_strdup(ri->name ? ri->name : ri->rule_id);
        nr.nfields = ri->nfields;
        nr.fields = kx_malloc((ri->nfields ? ri->nfields : 1) * sizeof(*nr.fields));
        for (size_t i = 0; i < ri->nfields; i++)
            nr.fields[i] = kx_strndup(ri->fields[i].ptr, ri->fields[i].len);
        nr.window_ms = ri->window_ms;
        nr.watermark = ri->watermark;
        nr.start = t->term.first_seen;
        KX_VEC_PUSH(&c->rules, nr);
        return 0;
    }
    if (r != c->chosen || !propose_stable(c, r, &t->term))
        return 0;
    r->stable++;
    struct rule_exc_proposal p = proposal(r);
    if (r->stable == 1)
        rule_exc_write_header(&c->out, &p);
    rule_exc_write_item(&c->out, &p, r->stable, t->term.first_seen, t->term.last_seen, t->comps,
                        t->ncomps);
    return 0;
}

int kad_state_propose(kad_state *s, const char *rule_id, int64_t min_ms,
                      int (*fn)(const kad_proposal *p, const char *toml, size_t len, void *ud),
                      void *ud, kad_err *err)
{
    struct propose_ctx c = {.min_ms = min_ms};
    kx_buf_init(&c.out, 0);
    struct st_filter f = {.rule_id = rule_id};
    int rc = st_terms_each(s->st, &f, propose_term, &c, err);
    int with = 0;
    c.print = true;
    for (size_t i = 0; i < c.rules.len && rc == KAD_OK; i++) {
        c.chosen = &c.rules.ptr[i];
        kx_buf_reset(&c.out);
        rc = st_terms_each(s->st, &f, propose_term, &c, err);
        if (rc == KAD_OK && c.rules.ptr[i].stable) {
            with++;
            kad_proposal p = {c.rules.ptr[i].rule_id, c.rules.ptr[i].name, c.rules.ptr[i].stable};
            int stop = fn ? fn(&p, c.out.ptr ? c.out.ptr : "", c.out.len, ud) : 0;
            if (stop)
                break;
        }
    }
    for (size_t i = 0; i < c.rules.len; i++) {
        for (size_t k = 0; k < c.rules.ptr[i].nfields; k++)
            kx_free(c.rules.ptr[i].fields[k]);
        kx_free(c.rules.ptr[i].fields);
        kx_free(c.rules.ptr[i].rule_id);
        kx_free(c.rules.ptr[i].name);
    }
    KX_VEC_FREE(&c.rules);
    kx_buf_fini(&c.out);
    return rc == KAD_OK ? with : rc;
}

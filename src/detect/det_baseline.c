/*
 * det_baseline.c - `kadet.baseline`: what the state knew about the alert's user when the alert
 * was raised (the other combinations of the same rule with the same user value, with first and
 * last seen), so an analyst can triage without a second query. Elastic has no equivalent.
 *
 * The pivot is the rule's user field (det_engine.c picks it: `...username`, `user.name`,
 * `user.id`); rules without one, or with a single new-terms field, get no baseline.
 * What this file does not do: decide anything; it only reads the state (st_pivot_each, whose
 * cost follows the user's combinations, not the rule's).
 */
#include "base/jsonw.h"
#include "det_int.h"

#include <string.h>

struct base_ctx {
    kx_jsonw *w;
    const struct det_rule *dr;
    const struct det_val *vals;
    size_t n;
    size_t shown;
    int64_t ts;     /* event time of the alert */
    int64_t window; /* W, 0 = never forget */
};

/* Forgotten (not pruned yet): the state no longer knows it. */
static bool forgotten(const struct base_ctx *c, int64_t last_seen)
{
    return c->window > 0 && c->ts - last_seen > c->window;
}

static int on_term(const struct st_term_info *t, void *ud)
{
    struct base_ctx *c = ud;
    const struct rule *r = c->dr->r;
    if (t->ncomps != c->n)
        return 0;
    bool same = true;
    for (size_t i = 0; i < c->n && same; i++)
        same = kx_str_eq(t->comps[i], c->vals[i].s);
    if (same)
        return 0; /* the combination this alert is about */
    if (forgotten(c, t->term.last_seen))
        return 0;
    c->shown++;
    kx_jsonw *w = c->w;
    char ts[32];
    kx_jsonw_obj_begin(w);
    for (size_t i = 0; i < t->ncomps && i < r->new_terms_fields.n; i++) {
        if (i == c->dr->user_field)
            continue;
        kx_jsonw_keyc(w, r->new_terms_fields.v[i]);
        kx_jsonw_str(w, t->comps[i].ptr, t->comps[i].len);
    }
    det_fmt_time(t->term.first_seen, ts);
    kx_jsonw_keyc(w, "first_seen");
    kx_jsonw_strc(w, ts);
    det_fmt_time(t->term.last_seen, ts);
    kx_jsonw_keyc(w, "last_seen");
    kx_jsonw_strc(w, ts);
    kx_jsonw_keyc(w, "alerted");
    kx_jsonw_bool(w, t->term.alerted);
    kx_jsonw_obj_end(w);
    return c->shown >= DET_BASELINE_MAX; /* enough: st_pivot_count gave the total */
}

int det_baseline_json(struct det_engine *e, const struct det_rule *dr, const struct det_val *vals,
                      size_t n, const void *combo, size_t clen, int64_t ts, kx_buf *out,
                      kad_err *err)
{
    const struct rule *r = dr->r;
    kx_str u = vals[dr->user_field].s;
    kx_buf_reset(out);
    if (memchr(u.ptr, '\0', u.len))
        return KAD_OK; /* no baseline for such a user value (as when this was a text filter) */
    kx_jsonw jw;
    kx_jsonw *w = &jw;
    kx_jsonw_init(w, out);
    kx_jsonw_obj_begin(w);
    kx_jsonw_keyc(w, "field");
    kx_jsonw_strc(w, r->new_terms_fields.v[dr->user_field]);
    kx_jsonw_keyc(w, "value");
    kx_jsonw_str(w, u.ptr, u.len);
    kx_jsonw_keyc(w, "seen");
    kx_jsonw_arr_begin(w);
    struct base_ctx c = {.w = w, .dr = dr, .vals = vals, .n = n, .ts = ts, .window = dr->window_ms};
    /* The user's other combinations the state still knows: those with last_seen >= ts - W,
       minus this alert's own. The state's pivot of this rule is the user field (det_engine.c):
       cost follows this user's combinations, not the rule's; the walk stops after the first
       DET_BASELINE_MAX shown, so a user with thousands of combinations costs about as much
       per alert as one with a few (the count comes from the state's cached group). */
    int64_t min_last = INT64_MIN;
    if (c.window > 0 && ts > INT64_MIN + c.window)
        min_last = ts - c.window;
    uint64_t known = 0;
    struct st_term self;
    int rc = st_pivot_count(e->o.state, dr->rid, u.ptr, u.len, min_last, &known, err);
    if (rc == 0 && known > 0 && st_lookup(e->o.state, dr->rid, combo, clen, &self) == 1 &&
        !forgotten(&c, self.last_seen))
        known--; /* the combination this alert is about */
    if (rc == 0)
        rc = st_pivot_each(e->o.state, dr->rid, u.ptr, u.len, on_term, &c, err);
    kx_jsonw_arr_end(w);
    kx_jsonw_keyc(w, "known_combinations");
    kx_jsonw_int(w, (int64_t)known);
    kx_jsonw_keyc(w, "truncated");
    kx_jsonw_bool(w, known > c.shown);
    kx_jsonw_obj_end(w);
    if (rc < 0)
        return rc;
    if (kx_jsonw_error(w) != KAD_OK)
        kx_buf_reset(out); /* too large: leave the baseline out */
    return KAD_OK;
}

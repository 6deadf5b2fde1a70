/*
 * kad_state.c - kad_state (include/kad.h) over the state module's store.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int kad_state_open(kad_state **out, const char *location, const kad_state_opts *o, kad_err *err)
{
    *out = NULL;
    int mode = o ? o->mode : KAD_STATE_RW;
    enum st_mode m = mode == KAD_STATE_RO    ? ST_OPEN_RO
                     : mode == KAD_STATE_MEM ? ST_OPEN_MEM
                                             : ST_OPEN_RW;
    struct st_store *st = NULL;
    int rc = st_open_auth(&st, location, m, o && o->init ? ST_OPEN_INIT : 0, o ? o->password : NULL,
                          err);
    if (rc != KAD_OK)
        return rc;
    kad_state *s = kx_calloc(1, sizeof(*s));
    s->st = st;
    s->lock_fd = -1;
    s->mode = mode;
    *out = s;
    return KAD_OK;
}

void kad_state_close(kad_state *s)
{
    if (!s)
        return;
    st_close(s->st);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    kx_free(s);
}

const char *kad_state_location(const kad_state *s) { return st_path(s->st); }

int kad_state_shared(const kad_state *s) { return st_shared(s->st); }

uint64_t kad_state_round_trips(const kad_state *s) { return st_round_trips(s->st); }

void kad_state_conn_get(const kad_state *s, kad_state_conn *out)
{
    struct st_conn c;
    st_conn_get(s->st, &c);
    memset(out, 0, sizeof(*out));
    out->up = c.up;
    out->lost = c.lost;
    out->reconnects = c.reconnects;
    snprintf(out->why, sizeof(out->why), "%s", c.why);
}

int kad_state_ping(kad_state *s, kad_err *err) { return st_ping(s->st, err); }

int kad_state_lock(kad_state *s, kad_err *err)
{
    const char *path = st_path(s->st);
    if (s->mode == KAD_STATE_MEM || !path || s->lock_fd >= 0 || st_shared(s->st))
        return KAD_OK;
    char lk[PATH_MAX + 8];
    snprintf(lk, sizeof(lk), "%s.lock", path);
    int fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", lk, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return kx_err_setf(err, KAD_EBUSY, "state %s is in use by another kadet process", path);
    }
    s->lock_fd = fd;
    return KAD_OK;
}

int kad_state_stats_get(kad_state *s, kad_state_stats *out, kad_err *err)
{
    struct st_stats st;
    memset(out, 0, sizeof(*out));
    int rc = st_stats_get(s->st, &st, err);
    if (rc != KAD_OK)
        return rc;
    out->baselines = st.rules;
    out->combinations = st.terms;
    out->alert_ids = st.alerts;
    out->inputs = st.positions;
    out->db_bytes = st.db_bytes;
    out->wal_bytes = st.wal_bytes;
    out->mem_terms = st.mem_terms;
    out->mem_bytes = st.mem_bytes;
    out->mem_keys = st.mem_keys;
    out->mem_overhead = st.mem_overhead;
    return KAD_OK;
}

/* st_rule_info -> kad_state_rule (field views kept in *v for the callback's duration). */
struct rule_view {
    kad_state_rule r;
    const char *f[ST_COMPONENTS_MAX];
    size_t fl[ST_COMPONENTS_MAX];
};

static void rule_view(const struct st_rule_info *i, struct rule_view *v)
{
    memset(v, 0, sizeof(*v));
    for (size_t k = 0; k < i->nfields && k < ST_COMPONENTS_MAX; k++) {
        v->f[k] = i->fields[k].ptr;
        v->fl[k] = i->fields[k].len;
    }
    v->r.rule_id = i->rule_id;
    v->r.name = i->name;
    v->r.logic_hash = i->logic_hash;
    v->r.fields = v->f;
    v->r.field_lens = v->fl;
    v->r.nfields = i->nfields;
    v->r.window_ms = i->window_ms;
    v->r.first_loaded = i->first_loaded;
    v->r.last_loaded = i->last_loaded;
    v->r.watermark = i->watermark == ST_TIME_NONE ? KAD_TIME_NONE : i->watermark;
    v->r.current = i->current;
    v->r.terms = i->terms;
    v->r.alerts = i->alerts;
}

struct rules_ctx {
    int (*fn)(const kad_state_rule *r, void *ud);
    void *ud;
};

static int rules_cb(const struct st_rule_info *i, void *ud)
{
    struct rules_ctx *c = ud;
    struct rule_view v;
    rule_view(i, &v);
    return c->fn(&v.r, c->ud);
}

int kad_state_rules(kad_state *s, const char *rule_id, int (*fn)(const kad_state_rule *r, void *ud),
                    void *ud, kad_err *err)
{
    struct rules_ctx c = {fn, ud};
    return st_rules_each(s->st, rule_id, rules_cb, &c, err);
}

struct terms_ctx {
    int (*fn)(const kad_state_term *t, void *ud);
    void *ud;
};

static int terms_cb(const struct st_term_info *t, void *ud)
{
    struct terms_ctx *c = ud;
    struct rule_view v;
    rule_view(t->rule, &v);
    const char *vals[ST_COMPONENTS_MAX];
    size_t lens[ST_COMPONENTS_MAX];
    size_t n = t->ncomps < ST_COMPONENTS_MAX ? t->ncomps : ST_COMPONENTS_MAX;
    for (size_t k = 0; k < n; k++) {
        vals[k] = t->comps[k].ptr;
        lens[k] = t->comps[k].len;
    }
    kad_state_term kt = {&v.r,           vals, lens, n, t->term.first_seen, t->term.last_seen,
                         t->term.alerted};
    return c->fn(&kt, c->ud);
}

int kad_state_terms(kad_state *s, const kad_state_filter *f,
                    int (*fn)(const kad_state_term *t, void *ud), void *ud, kad_err *err)
{
    struct st_cond conds[64];
    if (f->nconds > sizeof(conds) / sizeof(conds[0]))
        return kx_err_setf(err, KAD_ELIMIT, "more than 64 conditions");
    for (size_t i = 0; i < f->nconds; i++) {
        conds[i].field = f->conds[i].field;
        conds[i].index = 0;
        conds[i].value = f->conds[i].value;
        conds[i].substring = f->conds[i].substring;
    }
    struct st_filter sf = {f->rule_id, f->all_baselines, conds, f->nconds, f->limit};
    struct terms_ctx c = {fn, ud};
    return st_terms_each(s->st, &sf, terms_cb, &c, err);
}

struct inputs_ctx {
    int (*fn)(const char *source, int64_t offset, int64_t line, void *ud);
    void *ud;
};

static int inputs_cb(const char *source, const struct st_pos *pos, void *ud)
{
    struct inputs_ctx *c = ud;
    return c->fn(source, pos->offset, pos->line, c->ud);
}

int kad_state_inputs(kad_state *s,
                     int (*fn)(const char *source, int64_t offset, int64_t line, void *ud),
                     void *ud, kad_err *err)
{
    struct inputs_ctx c = {fn, ud};
    return st_positions_each(s->st, inputs_cb, &c, err);
}

int kad_state_position(kad_state *s, const char *source, int64_t *offset, int64_t *line,
                       kad_err *err)
{
    struct st_pos pos;
    int rc = st_pos_get(s->st, source, &pos, err);
    if (rc != KAD_OK)
        return rc;
    *offset = pos.offset;
    *line = pos.line;
    return KAD_OK;
}

int kad_state_counters(kad_state *s, int (*fn)(const char *name, int64_t v, void *ud), void *ud)
{
    return st_counters_each(s->st, fn, ud);
}

int kad_state_prune(kad_state *s, const kad_state_prune_opts *o, kad_state_prune_result *out,
                    kad_err *err)
{
    struct st_prune_opts po = {o->rule_id, o->older_than_ms, o->stale};
    struct st_prune_result pr;
    memset(&pr, 0, sizeof(pr));
    int rc = st_prune(s->st, &po, &pr, err);
    if (out) {
        out->terms = pr.terms;
        out->alerts = pr.alerts;
        out->baselines = pr.rules;
    }
    return rc;
}

int kad_state_reset(kad_state *s, const char *rule_id, uint64_t *terms_removed, kad_err *err)
{
    return st_reset(s->st, rule_id, terms_removed, err);
}

/*
 * state.c - the state store's front: what every store implementation shares. st_open picks
 * the implementation (a file or memory: the SQLite store; a redis:// URL: the Redis store),
 * and each st_* function checks state.h's contract (read-only stores, "needs a batch",
 * combination and name limits, rule definitions) before calling the store's operation through
 * its table (struct st_ops, state_int.h, where the contract between the two is written). Also
 * the combination encoding, which is the same for every store.
 */
#include "state/state_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================================== */
/* Opening                                                                                  */
/* ======================================================================================== */

void st_base_init(struct st_store *base, const struct st_ops *ops, enum st_mode mode,
                  const char *path)
{
    memset(base, 0, sizeof(*base));
    base->ops = ops;
    base->mode = mode;
    base->path = path ? kx_strdup(path) : NULL;
}

void st_base_fini(struct st_store *base)
{
    kx_free(base->path);
    base->path = NULL;
}

void st_cnt_add(st_cnt_vec *c, const char *name, int64_t delta)
{
    for (size_t i = 0; i < c->len; i++) {
        if (strcmp(c->ptr[i].name, name) == 0) {
            c->ptr[i].pending += delta;
            return;
        }
    }
    struct st_counter n = {.pending = delta};
    snprintf(n.name, sizeof(n.name), "%s", name);
    KX_VEC_PUSH(c, n);
}

int64_t st_cnt_get(const st_cnt_vec *c, const char *name)
{
    for (size_t i = 0; i < c->len; i++)
        if (strcmp(c->ptr[i].name, name) == 0)
            return c->ptr[i].value + c->ptr[i].pending;
    return 0;
}

static int counter_cmp(const void *a, const void *b)
{
    return strcmp(((const struct st_counter *)a)->name, ((const struct st_counter *)b)->name);
}

int st_cnt_each(st_cnt_vec *c, int (*fn)(const char *name, int64_t value, void *ud), void *ud)
{
    if (c->len > 1)
        qsort(c->ptr, c->len, sizeof(c->ptr[0]), counter_cmp);
    int rc = 0;
    for (size_t i = 0; i < c->len && rc == 0; i++)
        rc = fn(c->ptr[i].name, c->ptr[i].value + c->ptr[i].pending, ud);
    return rc;
}

void st_cnt_settle(st_cnt_vec *c, bool commit)
{
    for (size_t i = 0; i < c->len; i++) {
        if (commit)
            c->ptr[i].value += c->ptr[i].pending;
        c->ptr[i].pending = 0;
    }
}

static bool has_scheme(const char *path, const char *scheme)
{
    return path && strncmp(path, scheme, strlen(scheme)) == 0;
}

int st_open_flags(struct st_store **out, const char *path, enum st_mode mode, unsigned flags,
                  kad_err *err)
{
    return st_open_auth(out, path, mode, flags, NULL, err);
}

int st_open_auth(struct st_store **out, const char *path, enum st_mode mode, unsigned flags,
                 const char *password, kad_err *err)
{
    *out = NULL;
    if (mode != ST_OPEN_MEM && (!path || !*path))
        return kx_err_setf(err, KAD_EINVAL, "no state file given");
    if (mode != ST_OPEN_MEM && (has_scheme(path, "redis://") || has_scheme(path, "rediss://")))
        return st_redis_ops.open(out, path, mode, flags, password, err);
    if (password && mode != ST_OPEN_MEM)
        return kx_err_setf(err, KAD_EINVAL, "a state password is for a redis:// state, not '%s'",
                           path);
    return st_sqlite_ops.open(out, mode == ST_OPEN_MEM ? NULL : path, mode, flags, NULL, err);
}

int st_open(struct st_store **out, const char *path, enum st_mode mode, kad_err *err)
{
    return st_open_flags(out, path, mode, 0, err);
}

void st_close(struct st_store *st)
{
    if (!st)
        return;
    st_rollback(st);
    st->ops->close(st);
}

enum st_mode st_mode_get(const struct st_store *st) { return st->mode; }
const char *st_path(const struct st_store *st) { return st->path; }
bool st_in_batch(const struct st_store *st) { return st->in_batch; }

static int read_only(const struct st_store *st, kad_err *err)
{
    return kx_err_setf(err, KAD_EINVAL, "state '%s' is open read-only", st->path);
}

/* 0 when `len` bytes can be a combination. */
static int check_len(size_t len, kad_err *err)
{
    if (len == 0)
        return kx_err_setf(err, KAD_EINVAL, "empty combination");
    if (len > ST_KEY_MAX)
        return kx_err_setf(err, KAD_ELIMIT, "combination of %zu bytes is larger than %d", len,
                           ST_KEY_MAX);
    return 0;
}

/* ======================================================================================== */
/* Rules and batches                                                                        */
/* ======================================================================================== */

int st_rule_register(struct st_store *st, const struct st_rule_def *def, uint32_t *rid,
                     enum st_baseline *status, kad_err *err)
{
    if (st->mode == ST_OPEN_RO)
        return read_only(st, err);
    if (!def->rule_id || !*def->rule_id)
        return kx_err_setf(err, KAD_EINVAL, "rule without rule_id");
    if (def->nfields > ST_COMPONENTS_MAX)
        return kx_err_setf(err, KAD_EINVAL, "rule '%s': more than %d new-terms fields",
                           def->rule_id, ST_COMPONENTS_MAX);
    if (def->has_pivot && def->pivot >= def->nfields)
        return kx_err_setf(err, KAD_EINVAL, "rule '%s': pivot %zu is not one of its %zu fields",
                           def->rule_id, def->pivot, def->nfields);
    return st->ops->rule_register(st, def, rid, status, err);
}

int st_rule_preload(struct st_store *st, uint32_t rid, kad_err *err)
{
    return st->ops->rule_preload(st, rid, err);
}

int64_t st_watermark(const struct st_store *st, uint32_t rid)
{
    return st->ops->watermark(st, rid);
}

int st_begin(struct st_store *st, kad_err *err)
{
    if (st->mode == ST_OPEN_RO)
        return read_only(st, err);
    if (st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "a state batch is already open");
    int rc = st->ops->begin(st, err);
    if (rc == 0)
        st->in_batch = true;
    return rc;
}

int st_commit(struct st_store *st, kad_err *err)
{
    if (!st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "no state batch is open");
    int rc = st->ops->commit(st, err);
    st->in_batch = false; /* committed, or rolled back by the store */
    return rc;
}

void st_rollback(struct st_store *st)
{
    if (!st->in_batch)
        return;
    st->ops->rollback(st);
    st->in_batch = false;
}

/* ======================================================================================== */
/* Terms, alerts, positions, counters                                                       */
/* ======================================================================================== */

/* st_observe_by's refusals, out of its hot path (so that it needs no stack frame). */
static __attribute__((noinline)) int observe_refused(const struct st_store *st, size_t len,
                                                     kad_err *err)
{
    int rc = check_len(len, err);
    return rc ? rc : kx_err_setf(err, KAD_EINVAL, "st_observe outside a state batch");
}

int st_observe_by(struct st_store *st, uint32_t rid, const void *combo, size_t len, int64_t ts,
                  uint64_t origin, struct st_term *prev, kad_err *err)
{
    if (len - 1 >= ST_KEY_MAX || !st->in_batch)
        return observe_refused(st, len, err);
    if (prev)
        memset(prev, 0, sizeof(*prev));
    return st->ops->observe(st, rid, combo, len, ts, origin, prev, err);
}

int st_observe(struct st_store *st, uint32_t rid, const void *combo, size_t len, int64_t ts,
               struct st_term *prev, kad_err *err)
{
    return st_observe_by(st, rid, combo, len, ts, 0, prev, err);
}

bool st_shared(const struct st_store *st) { return !(st->ops->caps & ST_CAP_ATOMIC_BATCH); }

int st_lookup(struct st_store *st, uint32_t rid, const void *combo, size_t len, struct st_term *out)
{
    if (len - 1 >= ST_KEY_MAX) /* 0 or too long (check_len, without an error to fill): a call
                                  here would cost every lookup a stack frame */
        return 0;
    return st->ops->lookup(st, rid, combo, len, out);
}

int st_observe_batch(struct st_store *st, struct st_probe *p, size_t n, kad_err *err)
{
    if (!st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "st_observe outside a state batch");
    /* a probe the contract refuses ends the batch there, as the calls one by one would */
    size_t ok = 0;
    for (; ok < n && check_len(p[ok].len, NULL) == 0; ok++)
        if (p[ok].prev)
            memset(p[ok].prev, 0, sizeof(*p[ok].prev));
    int rc = 0;
    if (st->ops->observe_batch) {
        rc = st->ops->observe_batch(st, p, ok, err);
    } else {
        for (size_t i = 0; i < ok && rc >= 0; i++)
            rc = p[i].result = st->ops->observe(st, p[i].rid, p[i].combo, p[i].len, p[i].ts,
                                                p[i].origin, p[i].prev, err);
    }
    if (rc >= 0 && ok < n)
        rc = p[ok].result = check_len(p[ok].len, err);
    return rc < 0 ? rc : 0;
}

size_t st_lookup_batch(struct st_store *st, struct st_probe *p, size_t n)
{
    size_t found = 0;
    bool all_ok = true;
    for (size_t i = 0; i < n; i++)
        all_ok &= check_len(p[i].len, NULL) == 0;
    if (st->ops->lookup_batch && all_ok)
        return st->ops->lookup_batch(st, p, n);
    for (size_t i = 0; i < n; i++)
        found += (size_t)(p[i].result = st_lookup(st, p[i].rid, p[i].combo, p[i].len, p[i].prev));
    return found;
}

int st_alert_claim(struct st_store *st, uint32_t rid, const void *combo, size_t len,
                   const char *alert_id, int64_t ts, kad_err *err)
{
    if (!st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "st_alert_record outside a state batch");
    if (!alert_id || !*alert_id)
        return kx_err_setf(err, KAD_EINVAL, "empty alert id");
    int rc;
    if (combo && len && (rc = check_len(len, err)) != 0)
        return rc;
    return st->ops->alert_claim(st, rid, combo && len ? combo : NULL, combo ? len : 0, alert_id, ts,
                                err);
}

int st_alert_record(struct st_store *st, uint32_t rid, const void *combo, size_t len,
                    const char *alert_id, int64_t ts, kad_err *err)
{
    int rc = st_alert_claim(st, rid, combo, len, alert_id, ts, err);
    return rc < 0 ? rc : 0;
}

int st_alert_emitted(struct st_store *st, const char *alert_id, kad_err *err)
{
    if (st->mode == ST_OPEN_RO)
        return kx_err_setf(err, KAD_EINVAL, "state is open read-only");
    return st->ops->alert_emitted(st, alert_id, err);
}

int st_pos_set(struct st_store *st, const char *source, int64_t offset, int64_t line, kad_err *err)
{
    if (!st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "st_pos_set outside a state batch");
    return st->ops->pos_set(st, source, offset, line, err);
}

int st_blob_set(struct st_store *st, uint32_t rid, const void *data, size_t len, kad_err *err)
{
    if (!st->ops->blob_set)
        return kx_err_setf(err, KAD_EUNSUPPORTED, "the %s state store keeps no rule blobs",
                           st->ops->name);
    if (!st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "st_blob_set outside a state batch");
    return st->ops->blob_set(st, rid, data, len, err);
}

int st_blob_get(struct st_store *st, uint32_t rid, kx_buf *out, kad_err *err)
{
    if (!st->ops->blob_get)
        return kx_err_setf(err, KAD_EUNSUPPORTED, "the %s state store keeps no rule blobs",
                           st->ops->name);
    return st->ops->blob_get(st, rid, out, err);
}

int st_pos_get(struct st_store *st, const char *source, struct st_pos *out, kad_err *err)
{
    return st->ops->pos_get(st, source, out, err);
}

int st_positions_each(struct st_store *st,
                      int (*fn)(const char *source, const struct st_pos *pos, void *ud), void *ud,
                      kad_err *err)
{
    return st->ops->positions_each(st, fn, ud, err);
}

int st_counter_add(struct st_store *st, const char *name, int64_t delta, kad_err *err)
{
    if (st->mode == ST_OPEN_RO)
        return read_only(st, err);
    size_t n = strlen(name);
    if (n == 0 || n > ST_COUNTER_NAME_MAX)
        return kx_err_setf(err, KAD_ELIMIT, "counter name of %zu bytes (1 to %d allowed)", n,
                           ST_COUNTER_NAME_MAX);
    return st->ops->counter_add(st, name, delta, err);
}

int64_t st_counter_get(struct st_store *st, const char *name)
{
    return st->ops->counter_get(st, name);
}

int st_counters_each(struct st_store *st, int (*fn)(const char *name, int64_t value, void *ud),
                     void *ud)
{
    return st->ops->counters_each(st, fn, ud);
}

/* ======================================================================================== */
/* Inspection and maintenance                                                               */
/* ======================================================================================== */

int st_stats_get(struct st_store *st, struct st_stats *out, kad_err *err)
{
    memset(out, 0, sizeof(*out));
    return st->ops->stats(st, out, err);
}

int st_rules_each(struct st_store *st, const char *rule_id, st_rule_fn fn, void *ud, kad_err *err)
{
    return st->ops->rules_each(st, rule_id, fn, ud, err);
}

int st_terms_each(struct st_store *st, const struct st_filter *f, st_term_fn fn, void *ud,
                  kad_err *err)
{
    return st->ops->terms_each(st, f, fn, ud, err);
}

int st_pivot_each(struct st_store *st, uint32_t rid, const void *value, size_t len, st_term_fn fn,
                  void *ud, kad_err *err)
{
    return st->ops->pivot_each(st, rid, value, len, fn, ud, err);
}

struct pivot_counter {
    int64_t min_last_seen;
    uint64_t n;
};

static int count_term(const struct st_term_info *t, void *ud)
{
    struct pivot_counter *c = ud;
    c->n += t->term.last_seen >= c->min_last_seen;
    return 0;
}

int st_pivot_count(struct st_store *st, uint32_t rid, const void *value, size_t len,
                   int64_t min_last_seen, uint64_t *n, kad_err *err)
{
    *n = 0;
    if (st->ops->pivot_count)
        return st->ops->pivot_count(st, rid, value, len, min_last_seen, n, err);
    struct pivot_counter c = {.min_last_seen = min_last_seen};
    int rc = st->ops->pivot_each(st, rid, value, len, count_term, &c, err);
    *n = c.n;
    return rc;
}

int st_prune(struct st_store *st, const struct st_prune_opts *o, struct st_prune_result *res,
             kad_err *err)
{
    struct st_prune_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    if (st->mode == ST_OPEN_RO)
        return read_only(st, err);
    return st->ops->prune(st, o, res, err);
}

int st_reset(struct st_store *st, const char *rule_id, uint64_t *terms_removed, kad_err *err)
{
    if (st->mode == ST_OPEN_RO)
        return read_only(st, err);
    if (st->in_batch)
        return kx_err_setf(err, KAD_EINVAL, "st_reset inside a state batch");
    uint64_t removed = 0;
    int rc = st->ops->reset(st, rule_id, &removed, err);
    if (rc == 0 && terms_removed)
        *terms_removed = removed;
    return rc;
}

/* ======================================================================================== */
/* Names and the combination encoding                                                       */
/* ======================================================================================== */

const char *st_baseline_name(enum st_baseline b)
{
    switch (b) {
    case ST_BASELINE_NEW: return "new";
    case ST_BASELINE_KEPT: return "kept";
    case ST_BASELINE_CHANGED: return "changed";
    case ST_BASELINE_REVERTED: return "reverted";
    }
    return "?";
}

/* ======================================================================================== */
/* Combination encoding                                                                     */
/* ======================================================================================== */

/* Decimal digits of n into out (no terminator); returns the count. */
static size_t put_len(char *out, size_t n)
{
    char t[24];
    size_t i = sizeof(t);
    do {
        t[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    memcpy(out, t + i, sizeof(t) - i);
    return sizeof(t) - i;
}

int st_combo_encode(kx_buf *dst, const kx_str *comps, size_t n, kad_err *err)
{
    if (n == 0 || n > ST_COMPONENTS_MAX)
        return kx_err_setf(err, KAD_EINVAL, "a combination has 1 to %d components, not %zu",
                           ST_COMPONENTS_MAX, n);
    size_t total = 0;
    char num[24];
    for (size_t i = 0; i < n; i++) {
        if (comps[i].len > ST_KEY_MAX)
            return kx_err_setf(err, KAD_ELIMIT, "new-terms value of %zu bytes is larger than %d",
                               comps[i].len, ST_KEY_MAX);
        total += put_len(num, comps[i].len) + 2 + comps[i].len;
    }
    if (total > ST_KEY_MAX)
        return kx_err_setf(err, KAD_ELIMIT,
                           "new-terms combination of %zu bytes is larger than %d bytes", total,
                           ST_KEY_MAX);
    if (kx_buf_reserve(dst, total) != 0)
        return kx_err_setf(err, KAD_ELIMIT, "combination buffer full");
    /* one pass of memcpy: this runs for every combination of every matching event */
    char *p = dst->ptr + dst->len;
    for (size_t i = 0; i < n; i++) {
        p += put_len(p, comps[i].len);
        *p++ = ':';
        if (comps[i].len)
            memcpy(p, comps[i].ptr, comps[i].len);
        p += comps[i].len;
        *p++ = ',';
    }
    dst->len += total;
    dst->ptr[dst->len] = '\0';
    return 0;
}

int st_combo_decode(const void *key, size_t len, kx_str *comps, size_t max)
{
    const char *p = key, *end = p + len;
    size_t n = 0;
    if (len == 0)
        return -1;
    while (p < end) {
        size_t l = 0, digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits && l == 0)
                return -1; /* leading zero: not canonical */
            l = l * 10 + (size_t)(*p - '0');
            if (l > ST_KEY_MAX)
                return -1;
            p++;
            digits++;
        }
        if (!digits || p >= end || *p != ':')
            return -1;
        p++;
        if ((size_t)(end - p) < l + 1 || p[l] != ',' || n >= max)
            return -1;
        comps[n].ptr = p;
        comps[n].len = l;
        n++;
        p += l + 1;
    }
    return (int)n;
}

int st_alerts_each(struct st_store *st, int (*fn)(const struct st_alert_info *a, void *ud),
                   void *ud, kad_err *err)
{
    return st->ops->alerts_each(st, fn, ud, err);
}

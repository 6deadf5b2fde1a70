/*
 * kad_state_io.c - kad_state_export and kad_state_import (include/kad.h): a state's baselines,
 * combinations and alert ids as NDJSON, so a baseline moves between a state file and a Redis
 * server (`kadet state export|import`). The format is docs/state-redis.md's "Moving a
 * baseline"; it goes through the state module's front (state.h) only, so it works between any
 * two stores.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "event/event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_VERSION 1
#define IMPORT_BATCH 5000 /* items per state batch while importing */

/* ---- export ------------------------------------------------------------------------------ */

struct xbase {
    uint32_t rid;
    char *rule_id;
    uint64_t hash;
};

struct xctx {
    kad_state *s;
    int (*fn)(const char *line, size_t len, void *ud);
    void *ud;
    kx_buf line;
    KX_VEC(struct xbase) bases;
    uint64_t *count;
};

static int emit(struct xctx *c, kx_jsonw *w)
{
    if (kx_jsonw_error(w) != KAD_OK)
        return 0; /* cannot happen: the buffer grows (no limit) */
    return c->fn(c->line.ptr, c->line.len, c->ud);
}

static void w_hash(kx_jsonw *w, uint64_t h)
{
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, h);
    kx_jsonw_strc(w, hex);
}

static int x_rule(const struct st_rule_info *r, void *ud)
{
    struct xctx *c = ud;
    struct xbase b = {r->rid, kx_strdup(r->rule_id), r->logic_hash};
    KX_VEC_PUSH(&c->bases, b);
    kx_jsonw w;
    kx_buf_reset(&c->line);
    kx_jsonw_init(&w, &c->line);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "baseline");
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "rule_id");
    kx_jsonw_strc(&w, r->rule_id);
    kx_jsonw_keyc(&w, "logic_hash");
    w_hash(&w, r->logic_hash);
    kx_jsonw_keyc(&w, "name");
    kx_jsonw_strc(&w, r->name ? r->name : "");
    kx_jsonw_keyc(&w, "fields");
    kx_jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->nfields; i++)
        kx_jsonw_str(&w, r->fields[i].ptr, r->fields[i].len);
    kx_jsonw_arr_end(&w);
    kx_jsonw_keyc(&w, "window_ms");
    kx_jsonw_int(&w, r->window_ms);
    kx_jsonw_keyc(&w, "current");
    kx_jsonw_bool(&w, r->current);
    kx_jsonw_keyc(&w, "watermark");
    if (r->watermark == ST_TIME_NONE)
        kx_jsonw_null(&w);
    else
        kx_jsonw_int(&w, r->watermark);
    kx_jsonw_obj_end(&w);
    kx_jsonw_obj_end(&w);
    c->count[0]++;
    return emit(c, &w);
}

static int x_term(const struct st_term_info *t, void *ud)
{
    struct xctx *c = ud;
    kx_jsonw w;
    kx_buf_reset(&c->line);
    kx_jsonw_init(&w, &c->line);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "term");
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "rule_id");
    kx_jsonw_strc(&w, t->rule->rule_id);
    kx_jsonw_keyc(&w, "logic_hash");
    w_hash(&w, t->rule->logic_hash);
    kx_jsonw_keyc(&w, "values");
    kx_jsonw_arr_begin(&w);
    for (size_t i = 0; i < t->ncomps; i++)
        kx_jsonw_str(&w, t->comps[i].ptr, t->comps[i].len);
    kx_jsonw_arr_end(&w);
    kx_jsonw_keyc(&w, "first_seen");
    kx_jsonw_int(&w, t->term.first_seen);
    kx_jsonw_keyc(&w, "last_seen");
    kx_jsonw_int(&w, t->term.last_seen);
    kx_jsonw_keyc(&w, "alerted");
    kx_jsonw_bool(&w, t->term.alerted);
    kx_jsonw_obj_end(&w);
    kx_jsonw_obj_end(&w);
    c->count[1]++;
    return emit(c, &w);
}

static int x_alert(const struct st_alert_info *a, void *ud)
{
    struct xctx *c = ud;
    const struct xbase *b = NULL;
    for (size_t i = 0; i < c->bases.len && !b; i++)
        if (c->bases.ptr[i].rid == a->rid)
            b = &c->bases.ptr[i];
    kx_jsonw w;
    kx_buf_reset(&c->line);
    kx_jsonw_init(&w, &c->line);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "alert");
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "id");
    kx_jsonw_strc(&w, a->alert_id);
    kx_jsonw_keyc(&w, "rule_id");
    if (b)
        kx_jsonw_strc(&w, b->rule_id);
    else
        kx_jsonw_null(&w);
    kx_jsonw_keyc(&w, "logic_hash");
    if (b)
        w_hash(&w, b->hash);
    else
        kx_jsonw_null(&w);
    kx_jsonw_keyc(&w, "ts");
    kx_jsonw_int(&w, a->ts);
    kx_jsonw_obj_end(&w);
    kx_jsonw_obj_end(&w);
    c->count[2]++;
    return emit(c, &w);
}

int kad_state_export(kad_state *s, int (*fn)(const char *line, size_t len, void *ud), void *ud,
                     kad_state_io_result *res, kad_err *err)
{
    kad_state_io_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    struct xctx c = {.s = s, .fn = fn, .ud = ud};
    uint64_t counts[3] = {0, 0, 0};
    c.count = counts;
    kx_buf_init(&c.line, 0);
    char head[64];
    int n = snprintf(head, sizeof(head), "{\"kadet_state_export\":%d}", EXPORT_VERSION);
    int rc = fn(head, (size_t)n, ud);
    if (rc == 0)
        rc = st_rules_each(s->st, NULL, x_rule, &c, err);
    struct st_filter f = {.all_baselines = true};
    if (rc == 0)
        rc = st_terms_each(s->st, &f, x_term, &c, err);
    if (rc == 0)
        rc = st_alerts_each(s->st, x_alert, &c, err);
    for (size_t i = 0; i < c.bases.len; i++)
        kx_free(c.bases.ptr[i].rule_id);
    KX_VEC_FREE(&c.bases);
    kx_buf_fini(&c.line);
    res->baselines = counts[0];
    res->terms = counts[1];
    res->alerts = counts[2];
    return rc;
}

/* ---- import ------------------------------------------------------------------------------ */

struct ibase {
    char *rule_id;
    uint64_t hash;
    uint32_t rid;
};

struct ictx {
    struct st_store *st;
    KX_VEC(struct ibase) bases;
    kx_buf combo;
    const char *text;
    size_t len;
};

static const char *jstr(const struct ev_node *o, const char *key)
{
    const struct ev_node *v = o ? ev_member(o, key, strlen(key)) : NULL;
    return v && v->type == EV_STRING ? v->str : NULL;
}

static bool jint(const struct ev_node *o, const char *key, int64_t *out)
{
    const struct ev_node *v = o ? ev_member(o, key, strlen(key)) : NULL;
    if (!v || v->type != EV_NUMBER)
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v->str, &end, 10);
    if (errno || end != v->str + v->len)
        return false;
    *out = x;
    return true;
}

static bool jhash(const struct ev_node *o, uint64_t *out)
{
    const char *h = jstr(o, "logic_hash");
    char *end;
    if (!h || strlen(h) != 16)
        return false;
    errno = 0;
    *out = strtoull(h, &end, 16);
    return !errno && *end == '\0';
}

static const struct ibase *find_base(const struct ictx *c, const char *rule_id, uint64_t hash)
{
    for (size_t i = 0; i < c->bases.len; i++)
        if (c->bases.ptr[i].hash == hash && strcmp(c->bases.ptr[i].rule_id, rule_id) == 0)
            return &c->bases.ptr[i];
    return NULL;
}

static int bad(const struct ictx *c, size_t off, kad_err *err, const char *what)
{
    return kx_err_at(err, KAD_ESYNTAX, "<import>", c->text, c->len, off, "%s", what);
}

static int i_baseline(struct ictx *c, const struct ev_node *b, size_t off, kad_err *err)
{
    const char *rule_id = jstr(b, "rule_id"), *name = jstr(b, "name");
    uint64_t hash;
    int64_t window = 0;
    const struct ev_node *fields = b ? ev_member(b, "fields", 6) : NULL;
    if (!rule_id || !*rule_id || !jhash(b, &hash) || !jint(b, "window_ms", &window) || !fields ||
        fields->type != EV_ARRAY || fields->len > ST_COMPONENTS_MAX)
        return bad(c, off, err,
                   "a baseline needs rule_id, logic_hash (16 hex digits), fields (at most 8) "
                   "and window_ms");
    const char *names[ST_COMPONENTS_MAX];
    size_t n = 0;
    for (const struct ev_node *f = fields->child; f; f = f->next) {
        if (f->type != EV_STRING)
            return bad(c, off, err, "baseline fields are strings");
        names[n++] = f->str;
    }
    struct st_rule_def def = {
        .rule_id = rule_id,
        .name = name ? name : "",
        .logic_hash = hash,
        .fields = n ? names : NULL,
        .nfields = n,
        .window_ms = window,
    };
    uint32_t rid;
    enum st_baseline status;
    int rc = st_rule_register(c->st, &def, &rid, &status, err);
    if (rc)
        return rc;
    struct ibase ib = {kx_strdup(rule_id), hash, rid};
    KX_VEC_PUSH(&c->bases, ib);
    return 0;
}

static int i_term(struct ictx *c, const struct ev_node *t, size_t off, kad_err *err)
{
    const char *rule_id = jstr(t, "rule_id");
    uint64_t hash;
    int64_t first, last;
    const struct ev_node *vals = t ? ev_member(t, "values", 6) : NULL;
    if (!rule_id || !jhash(t, &hash) || !jint(t, "first_seen", &first) ||
        !jint(t, "last_seen", &last) || first > last || !vals || vals->type != EV_ARRAY ||
        vals->len == 0 || vals->len > ST_COMPONENTS_MAX)
        return bad(c, off, err,
                   "a term needs rule_id, logic_hash, values (1 to 8 strings) and first_seen <= "
                   "last_seen");
    const struct ibase *b = find_base(c, rule_id, hash);
    if (!b)
        return bad(c, off, err, "a term before its baseline line");
    kx_str comps[ST_COMPONENTS_MAX];
    size_t n = 0;
    for (const struct ev_node *v = vals->child; v; v = v->next) {
        if (v->type != EV_STRING)
            return bad(c, off, err, "term values are strings");
        comps[n++] = (kx_str){v->str, v->len};
    }
    kx_buf_reset(&c->combo);
    int rc = st_combo_encode(&c->combo, comps, n, err);
    /* last_seen first, then first_seen: the second widens the term back to first_seen (an
       event earlier than last_seen is never "forgotten"), which is the whole record */
    if (rc == 0)
        rc = st_observe(c->st, b->rid, c->combo.ptr, c->combo.len, last, NULL, err);
    if (rc >= 0 && first < last)
        rc = st_observe(c->st, b->rid, c->combo.ptr, c->combo.len, first, NULL, err);
    return rc < 0 ? rc : 0;
}

static int i_alert(struct ictx *c, const struct ev_node *a, size_t off, kad_err *err)
{
    const char *id = jstr(a, "id"), *rule_id = jstr(a, "rule_id");
    int64_t ts;
    if (!id || !*id || !jint(a, "ts", &ts))
        return bad(c, off, err, "an alert needs id and ts");
    uint32_t rid = 0;
    uint64_t hash;
    if (rule_id) {
        const struct ibase *b = jhash(a, &hash) ? find_base(c, rule_id, hash) : NULL;
        if (!b)
            return bad(c, off, err, "an alert before its baseline line");
        rid = b->rid;
    }
    int rc = st_alert_claim(c->st, rid, NULL, 0, id, ts, err);
    return rc < 0 ? rc : 0;
}

int kad_state_import(kad_state *s, const char *text, size_t len, kad_state_io_result *res,
                     kad_err *err)
{
    kad_state_io_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    if (st_in_batch(s->st))
        return kx_err_setf(err, KAD_EINVAL, "import while a batch is open");
    struct ictx c = {.st = s->st, .text = text, .len = len};
    kx_buf_init(&c.combo, 0);
    kx_arena arena;
    kx_arena_init(&arena, 1 << 16, 0);
    int rc = st_begin(s->st, err);
    bool header = false;
    uint64_t in_batch = 0;
    size_t off = 0;
    while (rc == 0 && off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t l = end - off;
        while (l && (text[off + l - 1] == '\r' || text[off + l - 1] == ' '))
            l--;
        if (l) {
            kx_arena_reset(&arena);
            kad_err perr;
            const struct ev_node *doc = ev_json_parse(&arena, text + off, l, "<import>", &perr);
            if (!doc || doc->type != EV_OBJECT) {
                rc = bad(&c, off, err, "not a JSON object");
                break;
            }
            const struct ev_node *v;
            if (!header) {
                int64_t ver;
                if (!jint(doc, "kadet_state_export", &ver) || ver != EXPORT_VERSION) {
                    rc = bad(&c, off, err,
                             "not a kadet state export (first line {\"kadet_state_export\":1})");
                    break;
                }
                header = true;
            } else if ((v = ev_member(doc, "baseline", 8)) != NULL) {
                rc = i_baseline(&c, v, off, err);
                res->baselines++;
            } else if ((v = ev_member(doc, "term", 4)) != NULL) {
                rc = i_term(&c, v, off, err);
                res->terms++;
            } else if ((v = ev_member(doc, "alert", 5)) != NULL) {
                rc = i_alert(&c, v, off, err);
                res->alerts++;
            } else {
                rc = bad(&c, off, err, "expected a baseline, term or alert line");
            }
            if (rc == 0 && ++in_batch == IMPORT_BATCH) {
                in_batch = 0;
                rc = st_commit(s->st, err);
                if (rc == 0)
                    rc = st_begin(s->st, err);
            }
        }
        off = end + 1;
    }
    if (rc == 0 && !header)
        rc = bad(&c, 0, err, "empty: not a kadet state export");
    if (rc == 0)
        rc = st_commit(s->st, err);
    else
        st_rollback(s->st);
    for (size_t i = 0; i < c.bases.len; i++)
        kx_free(c.bases.ptr[i].rule_id);
    KX_VEC_FREE(&c.bases);
    kx_buf_fini(&c.combo);
    kx_arena_fini(&arena);
    return rc;
}

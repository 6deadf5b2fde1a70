/*
 * console_api.c - the console's JSON API under /api/v1/ (docs/api.md): alerts (list, timeline,
 * export, detail, triage), baselines, proposals, rules, exceptions, health. Every handler runs
 * after console.c authenticated the caller and checked the CSRF token of state-changing
 * requests; the role checks are here. Request bodies are application/x-www-form-urlencoded.
 */
#include "console_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS ((int64_t)86400000)

/* ---- parameters ---------------------------------------------------------------------------- */

/* 400 for a parameter the endpoint does not know (a typo must not widen a query silently). */
static int check_params(srv_resp *rs, const char *qs, size_t len, const char *const *allowed)
{
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - qs) : len;
        const char *eq = memchr(qs + i, '=', end - i);
        size_t kend = eq ? (size_t)(eq - qs) : end;
        bool ok = kend == i;
        for (size_t k = 0; !ok && allowed[k]; k++)
            ok = strlen(allowed[k]) == kend - i && memcmp(allowed[k], qs + i, kend - i) == 0;
        if (!ok) {
            con_error(rs, 400, "unknown parameter '%.*s'", (int)(kend - i > 64 ? 64 : kend - i),
                      qs + i);
            return -1;
        }
        i = end + 1;
    }
    return 0;
}

static void json_time(kad_json *w, const char *key, int64_t ms)
{
    kad_json_keyc(w, key);
    if (ms == KAD_TIME_NONE) {
        kad_json_null(w);
        return;
    }
    char t[40];
    kad_time_format(ms, t);
    kad_json_strc(w, t);
}

static void json_kv(kad_json *w, const char *key, const char *v)
{
    kad_json_keyc(w, key);
    if (v)
        kad_json_strc(w, v);
    else
        kad_json_null(w);
}

/* The strings a filter points to, owned. */
struct filter_args {
    char *rule, *severity, *user, *status, *text, *after_id;
};
static void filter_args_free(struct filter_args *a)
{
    free(a->rule);
    free(a->severity);
    free(a->user);
    free(a->status);
    free(a->text);
    free(a->after_id);
}

static int parse_time_param(srv_resp *rs, const char *qs, size_t len, const char *name,
                            int64_t *out)
{
    char *v = con_param(qs, len, name, 0);
    if (!v)
        return 0;
    int ok = *v && kad_time_parse(v, strlen(v), out);
    if (!ok)
        con_error(rs, 400, "%s: '%.64s' is not a time (RFC 3339 or epoch milliseconds)", name, v);
    free(v);
    return ok ? 0 : -1;
}

static int parse_limit(srv_resp *rs, const char *qs, size_t len, size_t def, size_t max,
                       size_t *out)
{
    *out = def;
    char *lim = con_param(qs, len, "limit", 0);
    if (!lim)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(lim, &end, 10);
    bool bad = !*lim || *end || errno || v < 1 || (size_t)v > max;
    free(lim);
    if (bad)
        return con_error(rs, 400, "limit: a number from 1 to %zu", max), -1;
    *out = (size_t)v;
    return 0;
}

static bool one_of(const char *v, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (!strcmp(v, set[i]))
            return true;
    return false;
}

static const char *const severities[] = {"low", "medium", "high", "critical", NULL};
static const char *const statuses[] = {"open", "acknowledged", "closed", NULL};

/* The list filters: rule, severity, user, status, q, from, to, limit, after. */
static int parse_filter(srv_resp *rs, const char *qs, size_t len, kad_alert_filter *f,
                        struct filter_args *a, size_t def_limit)
{
    kad_alert_filter_init(f);
    memset(a, 0, sizeof(*a));
    f->rule = a->rule = con_param(qs, len, "rule", 0);
    f->severity = a->severity = con_param(qs, len, "severity", 0);
    f->user = a->user = con_param(qs, len, "user", 0);
    f->status = a->status = con_param(qs, len, "status", 0);
    f->text = a->text = con_param(qs, len, "q", 0);
    if (f->rule && !*f->rule)
        f->rule = NULL;
    if (f->user && !*f->user)
        f->user = NULL;
    if (f->severity && *f->severity && !one_of(f->severity, severities))
        return con_error(rs, 400, "severity: '%.32s' is not low, medium, high or critical",
                         f->severity),
               -1;
    if (f->severity && !*f->severity)
        f->severity = NULL;
    if (f->status && *f->status && !one_of(f->status, statuses))
        return con_error(rs, 400, "status: '%.32s' is not open, acknowledged or closed", f->status),
               -1;
    if (f->status && !*f->status)
        f->status = NULL;
    if (f->text && strlen(f->text) > 1024)
        return con_error(rs, 400, "q: longer than 1024 bytes"), -1;
    if (parse_time_param(rs, qs, len, "from", &f->from_ms) ||
        parse_time_param(rs, qs, len, "to", &f->to_ms))
        return -1;
    if (f->from_ms != KAD_TIME_NONE && f->to_ms != KAD_TIME_NONE && f->from_ms >= f->to_ms)
        return con_error(rs, 400, "from must be before to"), -1;
    if (parse_limit(rs, qs, len, def_limit, CON_PAGE_MAX, &f->limit))
        return -1;
    char *after = con_param(qs, len, "after", 0);
    if (after) {
        /* the cursor is "TIME_MS:ID" of the previous page's last alert */
        char *colon = strchr(after, ':');
        char *end = NULL;
        long long ms = 0;
        if (colon) {
            errno = 0;
            ms = strtoll(after, &end, 10);
        }
        if (!colon || end != colon || errno || !colon[1] || strlen(colon + 1) > 64) {
            free(after);
            return con_error(rs, 400, "after: a cursor as given in next (TIME_MS:ID)"), -1;
        }
        f->after_ms = ms;
        a->after_id = strdup(colon + 1);
        f->after_id = a->after_id;
        free(after);
    }
    return 0;
}

/* ---- alert rows ---------------------------------------------------------------------------- */

static void json_terms(kad_json *w, const char *terms)
{
    kad_json_arr_begin(w);
    if (*terms) {
        const char *p = terms;
        for (;;) {
            const char *sep = strchr(p, '\x1f');
            size_t n = sep ? (size_t)(sep - p) : strlen(p);
            kad_json_str(w, p, n);
            if (!sep)
                break;
            p = sep + 1;
        }
    }
    kad_json_arr_end(w);
}

static void json_row(kad_json *w, const kad_alert_row *r)
{
    kad_json_obj_begin(w);
    json_kv(w, "id", r->id);
    json_time(w, "time", r->time_ms);
    json_time(w, "created", r->created_ms);
    json_kv(w, "rule_id", r->rule_id);
    json_kv(w, "rule_name", r->rule_name);
    json_kv(w, "severity", r->severity);
    json_kv(w, "user", r->user);
    json_kv(w, "reason", r->reason);
    kad_json_keyc(w, "new_terms");
    json_terms(w, r->terms);
    json_kv(w, "workflow_status", r->status);
    json_kv(w, "note", r->note);
    json_kv(w, "status_by", r->status_by);
    json_time(w, "status_time", r->status_ms);
    kad_json_obj_end(w);
}

struct list_ctx {
    kad_json *w;
    size_t n;
    int64_t last_ms;
    char last_id[72];
};

/* check_params + parse_filter on the request's query string; nonzero when rs holds the 400 (a is
   freed then) */
static int query_filter(const srv_req *rq, srv_resp *rs, const char *const *allowed,
                        kad_alert_filter *f, struct filter_args *a, size_t def_limit)
{
    size_t ql = strlen(rq->query);
    if (check_params(rs, rq->query, ql, allowed))
        return 1;
    if (parse_filter(rs, rq->query, ql, f, a, def_limit)) {
        filter_args_free(a);
        return 1;
    }
    return 0;
}

static int list_row(const kad_alert_row *r, void *ud)
{
    struct list_ctx *l = ud;
    json_row(l->w, r);
    l->n++;
    l->last_ms = r->time_ms;
    snprintf(l->last_id, sizeof(l->last_id), "%s", r->id);
    return 0;
}

static int alerts_list(struct console *c, const srv_req *rq, srv_resp *rs)
{
    static const char *const allowed[] = {"rule", "severity", "user",  "status", "q",
                                          "from", "to",       "limit", "after",  NULL};
    kad_alert_filter f;
    struct filter_args a;
    if (query_filter(rq, rs, allowed, &f, &a, 50))
        return 0;
    kad_json *w = kad_json_new();
    kad_err err;
    kad_err_clear(&err);
    uint64_t total = 0;
    struct list_ctx l = {.w = w};
    pthread_mutex_lock(&c->idx_mu);
    /* the total ignores the cursor: the count of the whole filtered list */
    kad_alert_filter all = f;
    all.after_id = NULL;
    int rc = kad_alerts_count(c->idx, &all, &total, &err);
    if (rc == KAD_OK) {
        kad_json_obj_begin(w);
        kad_json_keyc(w, "total");
        kad_json_int(w, (int64_t)total);
        kad_json_keyc(w, "alerts");
        kad_json_arr_begin(w);
        rc = kad_alerts_find(c->idx, &f, list_row, &l, &err);
        kad_json_arr_end(w);
    }
    pthread_mutex_unlock(&c->idx_mu);
    if (rc == KAD_OK) {
        kad_json_keyc(w, "next");
        if (l.n == f.limit) {
            char cur[128];
            snprintf(cur, sizeof(cur), "%lld:%s", (long long)l.last_ms, l.last_id);
            kad_json_strc(w, cur);
        } else {
            kad_json_null(w);
        }
        kad_json_obj_end(w);
        con_json(rs, 200, w);
    } else {
        con_error(rs, 500, "%s", err.msg);
    }
    kad_json_free(w);
    filter_args_free(&a);
    return 0;
}

static int hist_row(int64_t bucket, const char *rule, const char *sev, uint64_t n, void *ud)
{
    kad_json *w = ud;
    kad_json_obj_begin(w);
    json_time(w, "t", bucket);
    json_kv(w, "rule_name", rule);
    json_kv(w, "severity", sev);
    kad_json_keyc(w, "n");
    kad_json_int(w, (int64_t)n);
    kad_json_obj_end(w);
    return 0;
}

static int alerts_timeline(struct console *c, const srv_req *rq, srv_resp *rs)
{
    static const char *const allowed[] = {"rule", "severity", "user",   "status", "q",
                                          "from", "to",       "bucket", NULL};
    kad_alert_filter f;
    struct filter_args a;
    if (query_filter(rq, rs, allowed, &f, &a, 0))
        return 0;
    int64_t bucket = 3600 * 1000;
    char *b = con_param(rq->query, strlen(rq->query), "bucket", 0);
    if (b) {
        kad_err e;
        kad_err_clear(&e);
        int bad =
            kad_duration_parse(b, &bucket, &e) != KAD_OK || bucket < 60000 || bucket > 31 * DAY_MS;
        free(b);
        if (bad) {
            filter_args_free(&a);
            return con_error(rs, 400, "bucket: a duration from 1m to 31d (e.g. 1h)");
        }
    }
    kad_json *w = kad_json_new();
    kad_err err;
    kad_err_clear(&err);
    kad_json_obj_begin(w);
    kad_json_keyc(w, "bucket_ms");
    kad_json_int(w, bucket);
    kad_json_keyc(w, "buckets");
    kad_json_arr_begin(w);
    pthread_mutex_lock(&c->idx_mu);
    int rc = kad_alerts_histogram(c->idx, &f, bucket, hist_row, w, &err);
    pthread_mutex_unlock(&c->idx_mu);
    kad_json_arr_end(w);
    kad_json_obj_end(w);
    if (rc == KAD_OK)
        con_json(rs, 200, w);
    else
        con_error(rs, 500, "%s", err.msg);
    kad_json_free(w);
    filter_args_free(&a);
    return 0;
}

/* NDJSON export: the alert documents with their current workflow status. */
struct export_ctx {
    char *buf;
    size_t len, cap;
    bool oom;
};
static int export_row(const kad_alert_row *r, void *ud)
{
    struct export_ctx *x = ud;
    size_t n = 0;
    char *doc = kad_alert_row_export(r, &n);
    if (!doc || x->len + n + 2 > (size_t)256 << 20) {
        kad_free(doc);
        x->oom = true;
        return 1;
    }
    if (x->len + n + 2 > x->cap) {
        size_t cap = (x->len + n + 2) * 2;
        char *b = realloc(x->buf, cap);
        if (!b) {
            kad_free(doc);
            x->oom = true;
            return 1;
        }
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, doc, n);
    x->len += n;
    x->buf[x->len++] = '\n';
    x->buf[x->len] = '\0';
    kad_free(doc);
    return 0;
}

static int alerts_export(struct console *c, const srv_req *rq, srv_resp *rs)
{
    static const char *const allowed[] = {"rule", "severity", "user",  "status", "q",
                                          "from", "to",       "limit", "after",  NULL};
    kad_alert_filter f;
    struct filter_args a;
    if (query_filter(rq, rs, allowed, &f, &a, 0))
        return 0;
    struct export_ctx x = {0};
    kad_err err;
    kad_err_clear(&err);
    pthread_mutex_lock(&c->idx_mu);
    int rc = kad_alerts_find(c->idx, &f, export_row, &x, &err);
    pthread_mutex_unlock(&c->idx_mu);
    filter_args_free(&a);
    if (x.oom) {
        free(x.buf);
        return con_error(rs, 413, "export larger than 256 MiB: narrow it (from, to, rule)");
    }
    if (rc != KAD_OK) {
        free(x.buf);
        return con_error(rs, 500, "%s", err.msg);
    }
    rs->status = 200;
    rs->content_type = "application/x-ndjson";
    rs->body = x.buf ? x.buf : strdup("");
    rs->body_len = x.len;
    return 0;
}

/* ---- one alert ----------------------------------------------------------------------------- */

/* A copy of one row (the callback's pointers die with it). */
struct row_copy {
    char *id, *rule_id, *rule_name, *user, *terms, *doc, *status, *note;
    size_t doc_len;
    int64_t time_ms;
    kad_alert_row row; /* pointing into the copies */
};
static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }
static int copy_row(const kad_alert_row *r, void *ud)
{
    struct row_copy *c = ud;
    c->row = *r;
    c->row.id = c->id = dup_or_empty(r->id);
    c->row.rule_id = c->rule_id = dup_or_empty(r->rule_id);
    c->row.rule_name = c->rule_name = dup_or_empty(r->rule_name);
    c->row.user = c->user = dup_or_empty(r->user);
    c->row.terms = c->terms = dup_or_empty(r->terms);
    c->row.status = c->status = dup_or_empty(r->status);
    c->row.note = c->note = dup_or_empty(r->note);
    c->doc = malloc(r->doc_len + 1);
    if (c->doc) {
        memcpy(c->doc, r->doc, r->doc_len);
        c->doc[r->doc_len] = '\0';
        c->doc_len = r->doc_len;
    }
    c->row.doc = c->doc ? c->doc : "";
    c->row.doc_len = c->doc ? r->doc_len : 0;
    c->row.severity = c->row.reason = c->row.status_by = ""; /* not kept */
    c->time_ms = r->time_ms;
    return 0;
}
static void row_copy_free(struct row_copy *c)
{
    free(c->id);
    free(c->rule_id);
    free(c->rule_name);
    free(c->user);
    free(c->terms);
    free(c->doc);
    free(c->status);
    free(c->note);
}

static int get_copy(struct console *c, const char *id, struct row_copy *out, kad_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->idx_mu);
    int rc = kad_alerts_get(c->idx, id, copy_row, out, err);
    pthread_mutex_unlock(&c->idx_mu);
    return rc;
}

/* The rule's loaded definition, referenced; NULL when serve has none or no such rule. */
static kad_rules *rule_of(struct console *c, const char *rule_id, size_t *index)
{
    kad_rules *rs = c->sv.rules_get ? c->sv.rules_get(c->sv.sv) : NULL;
    if (rs && kad_rules_lookup(rs, rule_id, index) != KAD_OK) {
        kad_rules_unref(rs);
        return NULL;
    }
    return rs;
}

struct near_ctx {
    kad_json *w;
    const char *self;
};
static int near_row(const kad_alert_row *r, void *ud)
{
    struct near_ctx *n = ud;
    if (strcmp(r->id, n->self) != 0)
        json_row(n->w, r);
    return 0;
}

struct term_ctx {
    kad_json *w;
    size_t n, max;
    int64_t lo, hi; /* only combinations whose seen span meets [lo, hi] (lo NONE: all) */
    bool truncated;
};
static int term_row(const kad_state_term *t, void *ud)
{
    struct term_ctx *x = ud;
    if (x->lo != KAD_TIME_NONE && (t->last_seen < x->lo || t->first_seen > x->hi))
        return 0;
    if (x->n >= x->max) {
        x->truncated = true;
        return 1;
    }
    x->n++;
    kad_json *w = x->w;
    kad_json_obj_begin(w);
    json_kv(w, "rule_id", t->rule->rule_id);
    json_kv(w, "rule_name", t->rule->name);
    kad_json_keyc(w, "fields");
    kad_json_arr_begin(w);
    for (size_t i = 0; i < t->rule->nfields; i++)
        kad_json_str(w, t->rule->fields[i], t->rule->field_lens[i]);
    kad_json_arr_end(w);
    kad_json_keyc(w, "values");
    kad_json_arr_begin(w);
    for (size_t i = 0; i < t->ncomps; i++)
        kad_json_str(w, t->values[i], t->lens[i]);
    kad_json_arr_end(w);
    json_time(w, "first_seen", t->first_seen);
    json_time(w, "last_seen", t->last_seen);
    kad_json_keyc(w, "alerted");
    kad_json_bool(w, t->alerted);
    kad_json_obj_end(w);
    return 0;
}

/* Combinations of the state that pass the conditions, as a JSON array into w. */
static int state_terms(struct console *c, const kad_state_cond *conds, size_t n,
                       const char *rule_id, struct term_ctx *x, kad_err *err)
{
    if (!c->sv.state_location) {
        err->code = KAD_ENOTFOUND;
        snprintf(err->msg, sizeof(err->msg), "serve has no state");
        return KAD_ENOTFOUND;
    }
    kad_state *st = NULL;
    kad_state_opts o = {.mode = KAD_STATE_RO};
    int rc = kad_state_open(&st, c->sv.state_location, &o, err);
    if (rc != KAD_OK)
        return rc;
    kad_state_filter f = {.rule_id = rule_id, .conds = conds, .nconds = n};
    kad_json_arr_begin(x->w);
    rc = kad_state_terms(st, &f, term_row, x, err);
    kad_json_arr_end(x->w);
    kad_state_close(st);
    return rc < 0 ? rc : KAD_OK;
}

/* The text a kad_json holds so far with `"document":null}` at its end, that null replaced by the
   raw document: kad_json writes no raw JSON. */
static int json_with_document(srv_resp *rs, kad_json *w, const char *doc, size_t doc_len)
{
    size_t n = 0;
    const char *t = kad_json_text(w, &n);
    if (kad_json_error(w) != KAD_OK || n < 5 || memcmp(t + n - 5, "null}", 5) != 0)
        return con_error(rs, 500, "cannot build the answer");
    char *b = malloc(n - 5 + doc_len + 2);
    if (!b)
        return con_error(rs, 500, "out of memory");
    memcpy(b, t, n - 5);
    memcpy(b + n - 5, doc, doc_len);
    b[n - 5 + doc_len] = '}';
    b[n - 4 + doc_len] = '\0';
    rs->status = 200;
    rs->content_type = "application/json";
    rs->body = b;
    rs->body_len = n - 4 + doc_len;
    return 0;
}

static int alert_detail(struct console *c, const srv_req *rq, const char *id, srv_resp *rs)
{
    if (rq->query[0])
        return con_error(rs, 400, "unknown parameter: /api/v1/alerts/{id} takes none");
    kad_err err;
    kad_err_clear(&err);
    kad_json *w = kad_json_new();
    pthread_mutex_lock(&c->idx_mu);
    kad_json_obj_begin(w);
    kad_json_keyc(w, "alert");
    struct list_ctx l = {.w = w};
    int rc = kad_alerts_get(c->idx, id, list_row, &l, &err);
    pthread_mutex_unlock(&c->idx_mu);
    if (rc != KAD_OK) {
        kad_json_free(w);
        return con_error(rs, rc == KAD_ENOTFOUND ? 404 : 500, "%s", err.msg);
    }
    struct row_copy rc_;
    if (get_copy(c, id, &rc_, &err) != KAD_OK) {
        kad_json_free(w);
        row_copy_free(&rc_);
        return con_error(rs, 500, "%s", err.msg);
    }
    /* the rule: its guide, new-terms fields, file */
    size_t ri = 0;
    kad_rules *rules = rule_of(c, rc_.rule_id, &ri);
    kad_json_keyc(w, "rule");
    if (rules) {
        kad_rule_info info;
        kad_rules_info(rules, ri, &info);
        kad_json_obj_begin(w);
        json_kv(w, "rule_id", info.rule_id);
        json_kv(w, "name", info.name);
        json_kv(w, "type", info.type);
        json_kv(w, "description", info.description);
        json_kv(w, "note", info.note);
        json_kv(w, "file", info.file);
        kad_json_keyc(w, "new_terms_fields");
        kad_json_arr_begin(w);
        for (size_t k = 0; k < info.new_terms_fields; k++)
            kad_json_strc(w, kad_rules_new_terms_field(rules, ri, k));
        kad_json_arr_end(w);
        kad_json_obj_end(w);
        kad_rules_unref(rules);
    } else {
        kad_json_null(w);
    }
    /* the same user's other alerts, and the combinations the state saw, within +-1 h */
    const int64_t hour = 3600 * 1000;
    kad_json_keyc(w, "nearby_alerts");
    kad_json_arr_begin(w);
    if (*rc_.user) {
        kad_alert_filter f;
        kad_alert_filter_init(&f);
        f.user = rc_.user;
        f.from_ms = rc_.time_ms - hour;
        f.to_ms = rc_.time_ms + hour + 1;
        f.limit = 100;
        struct near_ctx n = {.w = w, .self = rc_.id};
        pthread_mutex_lock(&c->idx_mu);
        kad_alerts_find(c->idx, &f, near_row, &n, &err);
        pthread_mutex_unlock(&c->idx_mu);
    }
    kad_json_arr_end(w);
    kad_json_keyc(w, "nearby_combinations");
    if (*rc_.user) {
        kad_state_cond cond = {.field = "username", .value = rc_.user};
        struct term_ctx x = {
            .w = w, .max = 200, .lo = rc_.time_ms - hour, .hi = rc_.time_ms + hour};
        kad_err e2;
        kad_err_clear(&e2);
        if (state_terms(c, &cond, 1, NULL, &x, &e2) != KAD_OK)
            kad_json_null(w);
    } else {
        kad_json_null(w);
    }
    kad_json_keyc(w, "document");
    kad_json_null(w);
    kad_json_obj_end(w);
    size_t dn = 0;
    char *doc = kad_alert_row_export(&rc_.row, &dn);
    if (doc)
        json_with_document(rs, w, doc, dn);
    else
        con_error(rs, 500, "out of memory");
    kad_free(doc);
    kad_json_free(w);
    row_copy_free(&rc_);
    return 0;
}

/* ---- recent input -------------------------------------------------------------------------- */

/* The recent-input store's events of user in [from, to] nearest to center, as the answer. */
static int input_answer(struct console *c, srv_resp *rs, const char *user, int64_t from,
                        int64_t to, int64_t center, size_t limit, const char *alert_id)
{
    if (!c->input)
        return con_error(rs, 503, "the recent-input store is not running (see serve's log)");
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    json_kv(w, "alert", alert_id);
    json_kv(w, "user", user);
    json_time(w, "from", from == INT64_MIN + 1 ? KAD_TIME_NONE : from);
    json_time(w, "to", to == INT64_MAX ? KAD_TIME_NONE : to);
    kad_json_keyc(w, "input");
    kad_json_null(w);
    kad_json_obj_end(w);
    size_t n = 0;
    const char *t = kad_json_text(w, &n);
    struct sbuf b = {0};
    con_sb_add(&b, t, n - 5); /* without its "null}" */
    kad_json_free(w);
    con_input_find(c->input, user, from, to, center, limit, &b);
    con_sb_adds(&b, "}");
    if (b.oom) {
        free(b.p);
        return con_error(rs, 500, "out of memory");
    }
    rs->status = 200;
    rs->content_type = "application/json";
    rs->body = b.p;
    rs->body_len = b.len;
    return 0;
}

/* GET /api/v1/alerts/{id}/events?window=1h&limit=200: the alert's user's events around it. */
static int alert_events(struct console *c, const srv_req *rq, const char *id, srv_resp *rs)
{
    static const char *const allowed[] = {"window", "limit", NULL};
    size_t ql = strlen(rq->query);
    if (check_params(rs, rq->query, ql, allowed))
        return 0;
    int64_t win = 3600 * 1000;
    char *wv = con_param(rq->query, ql, "window", 0);
    if (wv) {
        kad_err e;
        kad_err_clear(&e);
        int bad = kad_duration_parse(wv, &win, &e) != KAD_OK || win < 1000 || win > DAY_MS;
        free(wv);
        if (bad)
            return con_error(rs, 400, "window: a duration from 1s to 24h (e.g. 1h)");
    }
    size_t limit;
    if (parse_limit(rs, rq->query, ql, 200, 1000, &limit))
        return 0;
    kad_err err;
    kad_err_clear(&err);
    struct row_copy r;
    int rc = get_copy(c, id, &r, &err);
    if (rc != KAD_OK) {
        row_copy_free(&r);
        return con_error(rs, rc == KAD_ENOTFOUND ? 404 : 500, "%s", err.msg);
    }
    if (!*r.user)
        con_error(rs, 422, "alert %.64s names no user", id);
    else
        input_answer(c, rs, r.user, r.time_ms - win, r.time_ms + win, r.time_ms, limit, r.id);
    row_copy_free(&r);
    return 0;
}

/* GET /api/v1/input?user=U&from=T&to=T&limit=N: a user's events in the recent-input store. */
static int input_lookup(struct console *c, const srv_req *rq, srv_resp *rs)
{
    static const char *const allowed[] = {"user", "from", "to", "limit", NULL};
    size_t ql = strlen(rq->query);
    if (check_params(rs, rq->query, ql, allowed))
        return 0;
    int64_t from = INT64_MIN + 1, to = INT64_MAX;
    size_t limit;
    if (parse_time_param(rs, rq->query, ql, "from", &from) ||
        parse_time_param(rs, rq->query, ql, "to", &to) ||
        parse_limit(rs, rq->query, ql, 200, 1000, &limit))
        return 0;
    if (from >= to)
        return con_error(rs, 400, "from must be before to");
    char *user = con_param(rq->query, ql, "user", 0);
    if (!user || !*user) {
        free(user);
        return con_error(rs, 400, "user: whose events (user.name)");
    }
    int64_t center = to == INT64_MAX ? con_now_ms() : to;
    input_answer(c, rs, user, from, to, center, limit, NULL);
    free(user);
    return 0;
}

static int triage(struct console *c, const srv_req *rq, const struct con_auth *au, srv_resp *rs)
{
    if (au->role < SRV_ROLE_ANALYST)
        return con_error(rs, 403, "triage needs the analyst or admin role (you: read)");
    if (c->idx_in_memory)
        return con_error(rs, 501,
                         "triage is not available: this state keeps no alert index, so a "
                         "status would be lost at the next restart");
    static const char *const allowed[] = {"id", "status", "note", NULL};
    const char *b = rq->body ? rq->body : "";
    size_t bl = rq->body ? rq->body_len : 0;
    if (check_params(rs, b, bl, allowed))
        return 0;
    char *status = con_param(b, bl, "status", 0);
    char *note = con_param(b, bl, "note", 0);
    const char *ids[1000];
    size_t n = 0;
    char *id;
    int ret = 0;
    while (n < 1000 && (id = con_param(b, bl, "id", n)) != NULL)
        ids[n++] = id;
    if (!status || !one_of(status, statuses))
        ret = con_error(rs, 400, "status: open, acknowledged or closed");
    else if (n == 0)
        ret = con_error(rs, 400, "id: at least one alert id");
    else if (n == 1000 && (id = con_param(b, bl, "id", n)) != NULL) {
        free(id);
        ret = con_error(rs, 400, "id: at most 999 alerts per call");
    } else if (note && strlen(note) > 4096)
        ret = con_error(rs, 400, "note: longer than 4096 bytes");
    else {
        kad_err err;
        kad_err_clear(&err);
        size_t changed = 0;
        pthread_mutex_lock(&c->idx_mu);
        int rc = kad_alerts_set_status(c->idx, ids, n, status, note ? note : "", au->principal,
                                       con_now_ms(), &changed, &err);
        pthread_mutex_unlock(&c->idx_mu);
        if (rc == KAD_ENOTFOUND)
            ret = con_error(rs, 404, "%s (nothing changed)", err.msg);
        else if (rc != KAD_OK)
            ret = con_error(rs, 500, "%s", err.msg);
        else {
            kad_json *w = kad_json_new();
            kad_json_obj_begin(w);
            kad_json_keyc(w, "changed");
            kad_json_int(w, (int64_t)changed);
            json_kv(w, "workflow_status", status);
            kad_json_obj_end(w);
            con_json(rs, 200, w);
            kad_json_free(w);
        }
    }
    for (size_t i = 0; i < n; i++)
        free((char *)ids[i]);
    free(status);
    free(note);
    return ret;
}

/* ---- baselines and proposals --------------------------------------------------------------- */

static int baseline(struct console *c, const srv_req *rq, srv_resp *rs)
{
    static const char *const allowed[] = {"user", "user_agent", "decision", "rule", "limit", NULL};
    size_t ql = strlen(rq->query);
    if (check_params(rs, rq->query, ql, allowed))
        return 0;
    static const char *const keys[] = {"user", "user_agent", "decision"};
    static const char *const fields[] = {"username", "user_agent.original", "decision"};
    char *vals[3] = {0};
    kad_state_cond conds[3];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        vals[i] = con_param(rq->query, ql, keys[i], 0);
        if (vals[i] && *vals[i])
            conds[n++] = (kad_state_cond){.field = fields[i], .value = vals[i]};
    }
    char *rule = con_param(rq->query, ql, "rule", 0);
    char *lim = con_param(rq->query, ql, "limit", 0);
    long max = 500;
    if (lim) {
        char *end;
        max = strtol(lim, &end, 10);
        if (!*lim || *end || max < 1 || max > 5000)
            max = -1;
    }
    if (n == 0 || max < 0) {
        for (int i = 0; i < 3; i++)
            free(vals[i]);
        free(rule);
        free(lim);
        return con_error(rs, 400,
                         max < 0 ? "limit: a number from 1 to 5000"
                                 : "give user, user_agent or decision");
    }
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "combinations");
    struct term_ctx x = {.w = w, .max = (size_t)max, .lo = KAD_TIME_NONE};
    kad_err err;
    kad_err_clear(&err);
    int rc = state_terms(c, conds, n, rule && *rule ? rule : NULL, &x, &err);
    if (rc == KAD_OK) {
        kad_json_keyc(w, "truncated");
        kad_json_bool(w, x.truncated);
        kad_json_obj_end(w);
        con_json(rs, 200, w);
    } else {
        con_error(rs, rc == KAD_ENOTFOUND ? 404 : 500, "%s", err.msg);
    }
    kad_json_free(w);
    for (int i = 0; i < 3; i++)
        free(vals[i]);
    free(rule);
    free(lim);
    return 0;
}

struct prop_ctx {
    kad_json *w;
    const char *want; /* a rule id: keep its text only */
    char *text;
};
static int prop_row(const kad_proposal *p, const char *toml, size_t len, void *ud)
{
    struct prop_ctx *x = ud;
    if (x->want) {
        if (!strcmp(p->rule_id, x->want) && !x->text) {
            x->text = malloc(len + 1);
            if (x->text) {
                memcpy(x->text, toml, len);
                x->text[len] = '\0';
            }
        }
        return 0;
    }
    kad_json_obj_begin(x->w);
    json_kv(x->w, "rule_id", p->rule_id);
    json_kv(x->w, "rule_name", p->name);
    kad_json_keyc(x->w, "items");
    kad_json_int(x->w, (int64_t)p->items);
    kad_json_keyc(x->w, "toml");
    kad_json_str(x->w, toml, len);
    kad_json_obj_end(x->w);
    return 0;
}

static int proposals_run(struct console *c, struct prop_ctx *x, kad_err *err)
{
    if (!c->sv.state_location) {
        err->code = KAD_ENOTFOUND;
        snprintf(err->msg, sizeof(err->msg), "serve has no state");
        return KAD_ENOTFOUND;
    }
    kad_state *st = NULL;
    kad_state_opts o = {.mode = KAD_STATE_RO};
    int rc = kad_state_open(&st, c->sv.state_location, &o, err);
    if (rc != KAD_OK)
        return rc;
    rc = kad_state_propose(st, NULL, 0, prop_row, x, err);
    kad_state_close(st);
    return rc < 0 ? rc : KAD_OK;
}

/* ---- exceptions ---------------------------------------------------------------------------- */

/* The first exception path that is a directory: where the console writes its files. */
static const char *exc_dir(struct console *c)
{
    for (size_t i = 0; i < c->sv.n_exception_paths; i++) {
        struct stat sb;
        if (c->sv.exception_paths[i] && stat(c->sv.exception_paths[i], &sb) == 0 &&
            S_ISDIR(sb.st_mode))
            return c->sv.exception_paths[i];
    }
    return NULL;
}

/* A TOML basic string. */
static void sb_toml(struct sbuf *b, const char *s)
{
    con_sb_adds(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            con_sb_add(b, e, 2);
        } else if (*p == '\n') {
            con_sb_adds(b, "\\n");
        } else if (*p == '\t') {
            con_sb_adds(b, "\\t");
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(e, sizeof(e), "\\u%04X", *p);
            con_sb_adds(b, e);
        } else {
            con_sb_add(b, (const char *)p, 1);
        }
    }
    con_sb_adds(b, "\"");
}
static void sb_kv(struct sbuf *b, const char *k, const char *v)
{
    con_sb_adds(b, k);
    con_sb_adds(b, " = ");
    sb_toml(b, v);
    con_sb_adds(b, "\n");
}

/* Write text to DIR/NAME atomically (temporary file, fsync, rename). */
static int write_file(const char *dir, const char *name, const char *text, size_t len, char *path,
                      size_t size, char *msg, size_t msize)
{
    char tmp[4096];
    snprintf(path, size, "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(msg, msize, "%.180s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(msg, msize, "%.180s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(msg, msize, "%.180s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Reload serve's rules after writing `path`; on failure the file is removed and serve reloaded
   again, so a rejected exception never stays behind. */
static int reload_with(struct console *c, const char *path, char *msg, size_t msize)
{
    if (!c->sv.reload) {
        snprintf(msg, msize, "written; this server cannot reload: restart it");
        return 0;
    }
    if (c->sv.reload(c->sv.sv, msg, msize) == 0)
        return 0;
    unlink(path);
    char again[256];
    c->sv.reload(c->sv.sv, again, sizeof(again));
    return -1;
}

/* What an exception from alert `id` starts with: the new-terms fields and values (new_terms
   rules), else the user. */
struct prefill {
    char *fields[8], *values[8];
    size_t n;
};
static void prefill_free(struct prefill *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->fields[i]);
        free(p->values[i]);
    }
    p->n = 0;
}
static void prefill_of(struct console *c, const struct row_copy *r, struct prefill *p)
{
    memset(p, 0, sizeof(*p));
    size_t ri = 0;
    kad_rules *rules = rule_of(c, r->rule_id, &ri);
    kad_rule_info info;
    if (rules && kad_rules_info(rules, ri, &info) == KAD_OK && info.new_terms_fields > 0 &&
        *r->terms) {
        const char *v = r->terms;
        for (size_t k = 0; k < info.new_terms_fields && k < 8; k++) {
            const char *sep = strchr(v, '\x1f');
            size_t n = sep ? (size_t)(sep - v) : strlen(v);
            p->fields[p->n] = strdup(kad_rules_new_terms_field(rules, ri, k));
            p->values[p->n] = strndup(v, n);
            p->n++;
            if (!sep)
                break;
            v = sep + 1;
        }
    } else if (*r->user) {
        p->fields[0] = strdup("user.name");
        p->values[0] = strdup(r->user);
        p->n = 1;
    }
    if (rules)
        kad_rules_unref(rules);
}

static int64_t would_suppress(struct console *c, const char *rule_id, char *const *fields,
                              char *const *values, size_t n, kad_err *err)
{
    kad_alert_cond conds[8];
    for (size_t i = 0; i < n && i < 8; i++)
        conds[i] = (kad_alert_cond){.field = fields[i], .value = values[i]};
    kad_alert_filter f;
    kad_alert_filter_init(&f);
    f.rule = rule_id;
    f.conds = conds;
    f.nconds = n;
    uint64_t cnt = 0;
    pthread_mutex_lock(&c->idx_mu);
    int rc = kad_alerts_count(c->idx, &f, &cnt, err);
    pthread_mutex_unlock(&c->idx_mu);
    return rc == KAD_OK ? (int64_t)cnt : -1;
}

static void json_entries(kad_json *w, char *const *fields, char *const *values, size_t n)
{
    kad_json_keyc(w, "entries");
    kad_json_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        kad_json_obj_begin(w);
        json_kv(w, "field", fields[i]);
        json_kv(w, "value", values[i]);
        kad_json_obj_end(w);
    }
    kad_json_arr_end(w);
}

static int exc_prefill(struct console *c, const srv_req *rq, srv_resp *rs)
{
    static const char *const allowed[] = {"alert", NULL};
    size_t ql = strlen(rq->query);
    if (check_params(rs, rq->query, ql, allowed))
        return 0;
    char *id = con_param(rq->query, ql, "alert", 0);
    if (!id || !*id) {
        free(id);
        return con_error(rs, 400, "alert: the id of the alert to start from");
    }
    kad_err err;
    kad_err_clear(&err);
    struct row_copy r;
    int rc = get_copy(c, id, &r, &err);
    free(id);
    if (rc != KAD_OK) {
        row_copy_free(&r);
        return con_error(rs, rc == KAD_ENOTFOUND ? 404 : 500, "%s", err.msg);
    }
    struct prefill p;
    prefill_of(c, &r, &p);
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    json_kv(w, "alert", r.id);
    json_kv(w, "rule_id", r.rule_id);
    json_kv(w, "rule_name", r.rule_name);
    json_entries(w, p.fields, p.values, p.n);
    json_time(w, "expires", con_now_ms() + 90 * DAY_MS);
    kad_json_keyc(w, "would_suppress");
    kad_json_int(w, would_suppress(c, r.rule_id, p.fields, p.values, p.n, &err));
    json_kv(w, "directory", exc_dir(c));
    kad_json_obj_end(w);
    con_json(rs, 200, w);
    kad_json_free(w);
    prefill_free(&p);
    row_copy_free(&r);
    return 0;
}

static bool safe_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

static int exc_add(struct console *c, const srv_req *rq, const struct con_auth *au, srv_resp *rs)
{
    if (au->role < SRV_ROLE_ANALYST)
        return con_error(rs, 403, "adding exceptions needs the analyst or admin role");
    static const char *const allowed[] = {"alert", "field",   "value", "expires",
                                          "note",  "dry_run", NULL};
    const char *b = rq->body ? rq->body : "";
    size_t bl = rq->body ? rq->body_len : 0;
    if (check_params(rs, b, bl, allowed))
        return 0;
    char *id = con_param(b, bl, "alert", 0);
    char *expires = con_param(b, bl, "expires", 0);
    char *note = con_param(b, bl, "note", 0);
    char *dry = con_param(b, bl, "dry_run", 0);
    char *fields[9] = {0}, *values[9] = {0};
    size_t n = 0;
    while (n < 9 && (fields[n] = con_param(b, bl, "field", n)) != NULL) {
        values[n] = con_param(b, bl, "value", n);
        n++;
    }
    struct row_copy r;
    memset(&r, 0, sizeof(r));
    kad_err err;
    kad_err_clear(&err);
    int64_t exp_ms = KAD_TIME_NONE;
    bool dry_run = dry && (!strcmp(dry, "1") || !strcmp(dry, "true"));
    int rc;
    if (!id || !*id) {
        con_error(rs, 400, "alert: the id of the alert the exception comes from");
        goto out;
    }
    if (n == 0 || n > 8) {
        con_error(rs, 400, "field/value: from 1 to 8 entries");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!values[i] || !*fields[i] || strlen(fields[i]) > 256 || strlen(values[i]) > 4096) {
            con_error(rs, 400, "entry %zu: a field (up to 256 bytes) and its value (up to 4 KiB)",
                      i + 1);
            goto out;
        }
    }
    if (note && strlen(note) > 4096) {
        con_error(rs, 400, "note: longer than 4096 bytes");
        goto out;
    }
    if (expires && *expires &&
        (!kad_time_parse(expires, strlen(expires), &exp_ms) || exp_ms <= con_now_ms())) {
        con_error(rs, 400, "expires: a future time (RFC 3339), or empty for none");
        goto out;
    }
    if ((rc = get_copy(c, id, &r, &err)) != KAD_OK) {
        con_error(rs, rc == KAD_ENOTFOUND ? 404 : 500, "%s", err.msg);
        goto out;
    }
    int64_t would = would_suppress(c, r.rule_id, fields, values, n, &err);
    const char *dir = exc_dir(c);
    char path[4096] = "", msg[256] = "";
    bool written = false, reloaded = false;
    if (!dry_run) {
        if (!dir) {
            con_error(rs, 409,
                      "serve was given no exceptions directory to write to "
                      "(exceptions = [\"DIR\"] in its configuration)");
            goto out;
        }
        char stamp[32], day[16], name[200], list_id[160], iso[40];
        int64_t now = con_now_ms();
        time_t secs = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
        strftime(day, sizeof(day), "%Y/%m/%d", &tm);
        char rid[48];
        size_t k = 0;
        for (const char *p = r.rule_id; *p && k < sizeof(rid) - 1; p++)
            rid[k++] = safe_name_char(*p) ? *p : '_';
        rid[k] = '\0';
        char aid[17];
        k = 0;
        for (const char *p = r.id; *p && k < 16; p++)
            aid[k++] = safe_name_char(*p) ? *p : '_';
        aid[k] = '\0';
        snprintf(name, sizeof(name), "console-%s-%s-%s.toml", rid, stamp, aid);
        snprintf(list_id, sizeof(list_id), "kadet-console-%s-%s", stamp, aid);
        struct sbuf t = {0};
        con_sb_adds(&t, "# Written by kadet's console from alert ");
        con_sb_adds(&t, r.id);
        con_sb_adds(&t, " by ");
        con_sb_adds(&t, au->principal);
        con_sb_adds(&t, ".\n\n[metadata]\n");
        sb_kv(&t, "creation_date", day);
        char lname[300];
        snprintf(lname, sizeof(lname), "kadet console: %s", r.rule_name);
        sb_kv(&t, "list_name", lname);
        con_sb_adds(&t, "rule_ids = [");
        sb_toml(&t, r.rule_id);
        con_sb_adds(&t, "]\nrule_names = [");
        sb_toml(&t, r.rule_name);
        con_sb_adds(&t, "]\n");
        sb_kv(&t, "updated_date", day);
        con_sb_adds(&t, "\n[[exceptions]]\n\n[exceptions.container]\n");
        sb_kv(&t, "description", "Exceptions added in kadet's console");
        sb_kv(&t, "list_id", list_id);
        sb_kv(&t, "name", lname);
        con_sb_adds(&t, "namespace_type = \"single\"\ntype = \"detection\"\n");
        con_sb_adds(&t, "\n[[exceptions.items]]\ncomments = []\n");
        sb_kv(&t, "description", note && *note ? note : "added from an alert in kadet's console");
        if (exp_ms != KAD_TIME_NONE) {
            kad_time_format(exp_ms, iso);
            sb_kv(&t, "expire_time", iso);
        }
        sb_kv(&t, "item_id", list_id);
        sb_kv(&t, "list_id", list_id);
        char iname[600];
        size_t in = 0;
        iname[0] = '\0';
        for (size_t i = 0; i < n && in < sizeof(iname); i++)
            in += (size_t)snprintf(iname + in, sizeof(iname) - in, "%s%s=%s", i ? ", " : "",
                                   fields[i], values[i]);
        sb_kv(&t, "name", iname);
        con_sb_adds(&t, "tags = [\"kadet-console\"]\ntype = \"simple\"\n");
        for (size_t i = 0; i < n; i++) {
            con_sb_adds(&t, "\n[[exceptions.items.entries]]\n");
            sb_kv(&t, "field", fields[i]);
            con_sb_adds(&t, "operator = \"included\"\ntype = \"match\"\n");
            sb_kv(&t, "value", values[i]);
        }
        if (t.oom) {
            free(t.p);
            con_error(rs, 500, "out of memory");
            goto out;
        }
        int wr = write_file(dir, name, t.p, t.len, path, sizeof(path), msg, sizeof(msg));
        free(t.p);
        if (wr != 0) {
            con_error(rs, 500, "%s", msg);
            goto out;
        }
        written = true;
        if (reload_with(c, path, msg, sizeof(msg)) != 0) {
            con_error(rs, 422, "the exception was rejected (file removed): %s", msg);
            goto out;
        }
        reloaded = c->sv.reload != NULL;
    }
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "would_suppress");
    kad_json_int(w, would);
    json_entries(w, fields, values, n);
    kad_json_keyc(w, "written");
    kad_json_bool(w, written);
    json_kv(w, "file", written ? path : NULL);
    kad_json_keyc(w, "reloaded");
    kad_json_bool(w, reloaded);
    json_kv(w, "message", msg[0] ? msg : NULL);
    kad_json_obj_end(w);
    con_json(rs, written ? 201 : 200, w);
    kad_json_free(w);
out:
    row_copy_free(&r);
    free(id);
    free(expires);
    free(note);
    free(dry);
    for (size_t i = 0; i < 9; i++) {
        free(fields[i]);
        free(values[i]);
    }
    return 0;
}

static int exc_list(struct console *c, srv_resp *rs)
{
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    json_kv(w, "directory", exc_dir(c));
    kad_json_keyc(w, "paths");
    kad_json_arr_begin(w);
    for (size_t i = 0; i < c->sv.n_exception_paths; i++)
        kad_json_strc(w, c->sv.exception_paths[i]);
    kad_json_arr_end(w);
    kad_json_keyc(w, "lists");
    kad_json_arr_begin(w);
    kad_rules *rules = c->sv.rules_get ? c->sv.rules_get(c->sv.sv) : NULL;
    for (size_t i = 0; rules && i < kad_rules_exc_count(rules); i++)
        kad_json_strc(w, kad_rules_exc_describe(rules, i));
    if (rules)
        kad_rules_unref(rules);
    kad_json_arr_end(w);
    kad_json_obj_end(w);
    con_json(rs, 200, w);
    kad_json_free(w);
    return 0;
}

static int proposals(struct console *c, const srv_req *rq, const struct con_auth *au, srv_resp *rs)
{
    kad_err err;
    kad_err_clear(&err);
    if (!strcmp(rq->method, "GET")) {
        kad_json *w = kad_json_new();
        kad_json_obj_begin(w);
        kad_json_keyc(w, "proposals");
        kad_json_arr_begin(w);
        struct prop_ctx x = {.w = w};
        int rc = proposals_run(c, &x, &err);
        kad_json_arr_end(w);
        kad_json_obj_end(w);
        if (rc == KAD_OK)
            con_json(rs, 200, w);
        else
            con_error(rs, rc == KAD_ENOTFOUND ? 404 : 500, "%s", err.msg);
        kad_json_free(w);
        return 0;
    }
    if (au->role < SRV_ROLE_ANALYST)
        return con_error(rs, 403, "accepting proposals needs the analyst or admin role");
    static const char *const allowed[] = {"rule", NULL};
    const char *b = rq->body ? rq->body : "";
    size_t bl = rq->body ? rq->body_len : 0;
    if (check_params(rs, b, bl, allowed))
        return 0;
    char *rule = con_param(b, bl, "rule", 0);
    if (!rule || !*rule) {
        free(rule);
        return con_error(rs, 400, "rule: the rule_id whose proposals to accept");
    }
    const char *dir = exc_dir(c);
    struct prop_ctx x = {.want = rule};
    int rc = dir ? proposals_run(c, &x, &err) : KAD_OK;
    char path[4096], msg[256] = "", name[128];
    if (!dir)
        con_error(rs, 409, "serve was given no exceptions directory to write to");
    else if (rc != KAD_OK)
        con_error(rs, 500, "%s", err.msg);
    else if (!x.text)
        con_error(rs, 404, "no proposals for rule %.64s", rule);
    else {
        size_t k = 0;
        for (const char *p = rule; *p && k < 64; p++)
            name[k++] = safe_name_char(*p) ? *p : '_';
        snprintf(name + k, sizeof(name) - k, ".toml");
        char fname[160];
        snprintf(fname, sizeof(fname), "console-proposals-%s", name);
        if (write_file(dir, fname, x.text, strlen(x.text), path, sizeof(path), msg, sizeof(msg)))
            con_error(rs, 500, "%s", msg);
        else if (reload_with(c, path, msg, sizeof(msg)) != 0)
            con_error(rs, 422, "the proposals were rejected (file removed): %s", msg);
        else {
            kad_json *w = kad_json_new();
            kad_json_obj_begin(w);
            json_kv(w, "file", path);
            json_kv(w, "message", msg[0] ? msg : NULL);
            kad_json_obj_end(w);
            con_json(rs, 201, w);
            kad_json_free(w);
        }
    }
    free(x.text);
    free(rule);
    return 0;
}

/* ---- rules and health ---------------------------------------------------------------------- */

static int rules_list(struct console *c, srv_resp *rs)
{
    kad_rules *rules = c->sv.rules_get ? c->sv.rules_get(c->sv.sv) : NULL;
    if (!rules)
        return con_error(rs, 503, "no rules loaded yet");
    kad_json *w = kad_json_new();
    int64_t now = con_now_ms();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "rules");
    kad_json_arr_begin(w);
    kad_err err;
    for (size_t i = 0; i < kad_rules_count(rules); i++) {
        kad_rule_info info;
        if (kad_rules_info(rules, i, &info) != KAD_OK)
            continue;
        kad_json_obj_begin(w);
        json_kv(w, "rule_id", info.rule_id);
        json_kv(w, "name", info.name);
        json_kv(w, "type", info.type);
        json_kv(w, "language", info.language);
        json_kv(w, "severity", info.severity);
        kad_json_keyc(w, "risk_score");
        kad_json_int(w, info.risk_score);
        json_kv(w, "status", info.runnable ? "running" : "unsupported");
        json_kv(w, "reason", info.runnable ? NULL : info.not_runnable);
        json_kv(w, "description", info.description);
        json_kv(w, "query", info.query);
        json_kv(w, "note", info.note);
        json_kv(w, "file", info.file);
        kad_json_keyc(w, "line");
        kad_json_int(w, info.line);
        kad_json_keyc(w, "new_terms_fields");
        kad_json_arr_begin(w);
        for (size_t k = 0; k < info.new_terms_fields; k++)
            kad_json_strc(w, kad_rules_new_terms_field(rules, i, k));
        kad_json_arr_end(w);
        json_kv(w, "history_window_start", info.history_window_start);
        kad_json_keyc(w, "exceptions");
        kad_json_int(w, (int64_t)info.exceptions);
        static const int64_t spans[2] = {DAY_MS, 7 * DAY_MS};
        static const char *const keys[2] = {"alerts_24h", "alerts_7d"};
        for (int s = 0; s < 2; s++) {
            kad_alert_filter f;
            kad_alert_filter_init(&f);
            f.rule = info.rule_id;
            f.created_from_ms = now - spans[s];
            uint64_t n = 0;
            kad_err_clear(&err);
            pthread_mutex_lock(&c->idx_mu);
            kad_alerts_count(c->idx, &f, &n, &err);
            pthread_mutex_unlock(&c->idx_mu);
            kad_json_keyc(w, keys[s]);
            kad_json_int(w, (int64_t)n);
        }
        kad_json_obj_end(w);
    }
    kad_json_arr_end(w);
    kad_json_keyc(w, "diagnostics");
    kad_json_arr_begin(w);
    for (size_t i = 0; i < kad_rules_diag_count(rules); i++) {
        char line[1024];
        kad_rules_diag_format(rules, i, line, sizeof(line));
        kad_json_strc(w, line);
    }
    kad_json_arr_end(w);
    kad_json_keyc(w, "files");
    kad_json_int(w, (int64_t)kad_rules_file_count(rules));
    kad_json_obj_end(w);
    kad_rules_unref(rules);
    con_json(rs, 200, w);
    kad_json_free(w);
    return 0;
}

static int rules_reload(struct console *c, const struct con_auth *au, srv_resp *rs)
{
    if (au->role < SRV_ROLE_ADMIN)
        return con_error(rs, 403, "reloading needs the admin role");
    if (!c->sv.reload)
        return con_error(rs, 501, "this server cannot reload");
    char msg[256] = "";
    int rc = c->sv.reload(c->sv.sv, msg, sizeof(msg));
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "ok");
    kad_json_bool(w, rc == 0);
    json_kv(w, "message", msg);
    kad_json_obj_end(w);
    con_json(rs, rc == 0 ? 200 : 422, w);
    kad_json_free(w);
    return 0;
}

static int counter_row(const char *name, int64_t v, void *ud)
{
    kad_json *w = ud;
    kad_json_keyc(w, name);
    kad_json_int(w, v);
    return 0;
}

static int health(struct console *c, srv_resp *rs)
{
    kad_json *w = kad_json_new();
    kad_err err;
    kad_err_clear(&err);
    kad_json_obj_begin(w);
    uint64_t n = 0;
    kad_alert_filter f;
    kad_alert_filter_init(&f);
    pthread_mutex_lock(&c->idx_mu);
    kad_alerts_count(c->idx, &f, &n, &err);
    json_kv(w, "alert_index", kad_alerts_path(c->idx));
    kad_json_keyc(w, "triage");
    kad_json_bool(w, !c->idx_in_memory);
    pthread_mutex_unlock(&c->idx_mu);
    kad_json_keyc(w, "alerts_indexed");
    kad_json_int(w, (int64_t)n);
    json_kv(w, "state", c->sv.state_location);
    json_kv(w, "output", c->sv.output_path);
    kad_json_keyc(w, "state_stats");
    kad_state *st = NULL;
    kad_state_opts o = {.mode = KAD_STATE_RO};
    kad_state_stats ss;
    if (c->sv.state_location && kad_state_open(&st, c->sv.state_location, &o, &err) == KAD_OK &&
        kad_state_stats_get(st, &ss, &err) == KAD_OK) {
        kad_json_obj_begin(w);
        kad_json_keyc(w, "baselines");
        kad_json_int(w, (int64_t)ss.baselines);
        kad_json_keyc(w, "combinations");
        kad_json_int(w, (int64_t)ss.combinations);
        kad_json_keyc(w, "alert_ids");
        kad_json_int(w, (int64_t)ss.alert_ids);
        kad_json_keyc(w, "inputs");
        kad_json_int(w, (int64_t)ss.inputs);
        kad_json_keyc(w, "db_bytes");
        kad_json_int(w, ss.db_bytes);
        kad_json_keyc(w, "counters");
        kad_json_obj_begin(w);
        kad_state_counters(st, counter_row, w);
        kad_json_obj_end(w);
        kad_json_obj_end(w);
    } else {
        kad_json_null(w);
    }
    kad_state_close(st);
    kad_json_keyc(w, "metrics");
    char *m = c->sv.metrics_text ? c->sv.metrics_text(c->sv.sv) : NULL;
    if (m)
        kad_json_strc(w, m);
    else
        kad_json_null(w);
    free(m);
    kad_json_obj_end(w);
    con_json(rs, 200, w);
    kad_json_free(w);
    return 0;
}

/* ---- routing ------------------------------------------------------------------------------- */

int con_api(struct console *c, const srv_req *rq, const struct con_auth *au, srv_resp *rs)
{
    const char *p = rq->path + strlen("/api/v1/");
    bool get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
    if (!strcmp(p, "alerts"))
        return get ? alerts_list(c, rq, rs) : con_error(rs, 405, "/api/v1/alerts: GET");
    if (!strcmp(p, "alerts/timeline"))
        return get ? alerts_timeline(c, rq, rs) : con_error(rs, 405, "GET only");
    if (!strcmp(p, "alerts/export"))
        return get ? alerts_export(c, rq, rs) : con_error(rs, 405, "GET only");
    if (!strcmp(p, "alerts/triage"))
        return post ? triage(c, rq, au, rs) : con_error(rs, 405, "POST only");
    size_t pl = strlen(p);
    if (!strncmp(p, "alerts/", 7) && pl > 14 && !strcmp(p + pl - 7, "/events")) {
        char id[65];
        size_t il = pl - 14;
        if (il > 64 || memchr(p + 7, '/', il))
            return con_error(rs, 400, "not an alert id: '%.*s'", (int)(il > 64 ? 64 : il), p + 7);
        memcpy(id, p + 7, il);
        id[il] = '\0';
        return get ? alert_events(c, rq, id, rs) : con_error(rs, 405, "GET only");
    }
    if (!strcmp(p, "input"))
        return get ? input_lookup(c, rq, rs) : con_error(rs, 405, "GET only");
    if (!strncmp(p, "alerts/", 7)) {
        const char *id = p + 7;
        if (!*id || strlen(id) > 64 || strchr(id, '/'))
            return con_error(rs, 400, "not an alert id: '%.64s'", id);
        return get ? alert_detail(c, rq, id, rs) : con_error(rs, 405, "GET only");
    }
    if (!strcmp(p, "baseline"))
        return get ? baseline(c, rq, rs) : con_error(rs, 405, "GET only");
    if (!strcmp(p, "proposals"))
        return get || post ? proposals(c, rq, au, rs) : con_error(rs, 405, "GET or POST");
    if (!strcmp(p, "rules"))
        return get ? rules_list(c, rs) : con_error(rs, 405, "GET only");
    if (!strcmp(p, "rules/reload"))
        return post ? rules_reload(c, au, rs) : con_error(rs, 405, "POST only");
    if (!strcmp(p, "exceptions"))
        return get    ? exc_list(c, rs)
               : post ? exc_add(c, rq, au, rs)
                      : con_error(rs, 405, "GET or POST");
    if (!strcmp(p, "exceptions/prefill"))
        return get ? exc_prefill(c, rq, rs) : con_error(rs, 405, "GET only");
    if (!strcmp(p, "health"))
        return get ? health(c, rs) : con_error(rs, 405, "GET only");
    return con_error(rs, 404, "no API endpoint %s", rq->path);
}

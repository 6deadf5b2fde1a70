/*
 * det_engine.c - the per-event flow of the detection engine:
 *
 *     prefilter -> kql_match -> event time -> exceptions -> rule-type step -> alert
 *
 * The rule-type step for `new_terms` follows docs/internals/engine.md (streaming):
 * the values of each new-terms field are collected (arrays flattened, duplicates collapsed,
 * null/missing -> no value, objects ignored), their cartesian product is formed, and each
 * combination is observed in the state store, which says NEW, FORGOTTEN (last seen more than W
 * before) or KNOWN. NEW and FORGOTTEN raise an alert unless max_signals for the current minute
 * of event time is spent or the same alert id was already emitted (a replay).
 *
 * What this file does not do: build the alert JSON (det_alert.c), index rules by terms
 * (det_prefilter.c), decode records or manage batches (the caller).
 *
 * No allocation per event: all scratch (value arrays, key and alert buffers) lives in the
 * engine and is reused.
 */
#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "det_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ============================================================================================ */
/* Time                                                                                         */
/* ============================================================================================ */

bool det_parse_time(const char *s, size_t len, int64_t *ms)
{
    /* strict_date_optional_time first ("2026" is a year), then epoch_millis, as Elasticsearch's
       default date format `strict_date_optional_time||epoch_millis` tries them */
    if (ev_time_parse(s, len, ms))
        return true;
    return len > 0 && len < 16 && s[0] >= '0' && s[0] <= '9' && memchr(s, '-', len) == NULL &&
           kx_str_to_i64((kx_str){s, len}, ms);
}

size_t det_fmt_time(int64_t ms, char *out) { return ev_time_fmt_ms(ms, out); }

/* ============================================================================================ */
/* Document helpers                                                                             */
/* ============================================================================================ */

struct first_ctx {
    kx_str out;
};

static bool first_leaf(const struct ev_node *v, bool partial, void *ctx)
{
    struct first_ctx *c = ctx;
    if (partial)
        return false;
    if (v->type == EV_STRING || v->type == EV_NUMBER) {
        c->out = (kx_str){v->str, v->len};
        return true;
    }
    return false;
}

kx_str det_first(const struct ev_node *doc, const char *path)
{
    struct first_ctx c = {{NULL, 0}};
    ev_values(doc, path, strlen(path), first_leaf, &c);
    return c.out;
}

/* Event time for a rule: its timestamp_override when the document has it (and parses), else
   @timestamp unless the fallback is disabled. Cached per event and field. */
static int64_t field_time(struct det_engine *e, const struct ev_node *doc, const char *field)
{
    for (size_t i = 0; i < e->ntcache; i++)
        if (e->tcache[i].field == field || strcmp(e->tcache[i].field, field) == 0)
            return e->tcache[i].ms;
    int64_t ms = DET_TIME_NONE;
    struct first_ctx c = {{NULL, 0}};
    ev_values_memo(&e->memo, doc, field, strlen(field), first_leaf, &c); /* = det_first */
    kx_str v = c.out;
    if (v.ptr && !det_parse_time(v.ptr, v.len, &ms))
        ms = DET_TIME_NONE;
    if (e->ntcache < sizeof(e->tcache) / sizeof(e->tcache[0])) {
        e->tcache[e->ntcache].field = field;
        e->tcache[e->ntcache].ms = ms;
        e->ntcache++;
    }
    return ms;
}

int64_t det_event_time(struct det_engine *e, const struct det_event *ev, const struct rule *r)
{
    const char *o = r->timestamp_override;
    if (o && strcmp(o, "@timestamp") != 0) {
        int64_t t = ev->times_known && strcmp(o, "event.ingested") == 0 ? ev->ingested_ms
                                                                        : field_time(e, ev->doc, o);
        if (t != DET_TIME_NONE || r->timestamp_override_fallback_disabled)
            return t;
    }
    return det_timestamp(e, ev);
}

int64_t det_timestamp(struct det_engine *e, const struct det_event *ev)
{
    return ev->times_known ? ev->timestamp_ms : field_time(e, ev->doc, "@timestamp");
}

/* ============================================================================================ */
/* Engine lifecycle                                                                             */
/* ============================================================================================ */

static void add_field(struct det_engine *e, const char *f)
{
    for (size_t i = 0; i < e->nfields; i++)
        if (strcmp(e->fields[i], f) == 0)
            return;
    e->fields = kx_realloc(e->fields, (e->nfields + 1) * sizeof(*e->fields));
    e->fields[e->nfields++] = f;
}

static void add_field_cb(const char *path, void *ud) { add_field(ud, path); }

bool det_rule_fields(const struct rule *r, void (*fn)(const char *path, void *ud), void *ud)
{
    /* Exceptions read fields of their own; the rule module does not list them (yet), so a
       rule with exceptions attached gets whole documents. */
    bool some =
        r->exc_n == 0 && ((r->kql && !kql_needs_all(r->kql)) || (r->type == RULE_EQL && r->eql) ||
                          (r->type == RULE_ESQL && r->esql && !esql_needs_all(r->esql)));
    if (!fn)
        return some;
    for (size_t k = 0; r->kql && k < kql_field_count(r->kql); k++)
        fn(kql_field(r->kql, k), ud);
    for (size_t k = 0; r->type == RULE_EQL && r->eql && k < eql_field_count(r->eql); k++)
        fn(eql_field(r->eql, k), ud);
    for (size_t k = 0; r->type == RULE_ESQL && r->esql && k < esql_field_count(r->esql); k++)
        fn(esql_field(r->esql, k), ud);
    if (r->timestamp_override)
        fn(r->timestamp_override, ud);
    for (size_t k = 0; k < r->new_terms_fields.n; k++)
        fn(r->new_terms_fields.v[k], ud);
    for (size_t k = 0; k < r->suppress_group_by.n; k++)
        fn(r->suppress_group_by.v[k], ud);
    return some;
}

bool det_rule_is_sequence(const struct rule *r)
{
    return r->type == RULE_EQL && r->eql && eql_is_sequence(r->eql);
}

bool det_query_match(const struct rule *r, const struct ev_node *doc, struct ev_memo *memo)
{
    if (r->type == RULE_EQL)
        return eql_is_sequence(r->eql) || eql_match_memo(r->eql, doc, memo);
    return r->type == RULE_ESQL || kql_match_memo(r->kql, doc, memo);
}

bool det_rule_match(const struct rule *r, const struct ev_node *doc)
{
    if (r->type == RULE_EQL)
        return r->eql && !eql_is_sequence(r->eql) && eql_match(r->eql, doc);
    return r->kql && kql_match(r->kql, doc);
}

/* The new-terms field that names the user (kadet.baseline pivots on it), or SIZE_MAX. */
static size_t user_field(const struct rule *r)
{
    if (r->new_terms_fields.n < 2)
        return SIZE_MAX;
    for (size_t i = 0; i < r->new_terms_fields.n; i++) {
        const char *f = r->new_terms_fields.v[i];
        const char *last = strrchr(f, '.');
        last = last ? last + 1 : f;
        if (strstr(f, "user_agent"))
            continue;
        if (strcmp(last, "username") == 0 || strstr(f, "user.name") || strstr(f, "user.id"))
            return i;
    }
    return SIZE_MAX;
}

/* Count a path read per event: *reads++, and *distinct++ when it is new to seen[]. */
static void count_read(kx_str p, kx_str *seen, size_t *nseen, size_t max, size_t *reads)
{
    (*reads)++;
    for (size_t i = 0; i < *nseen; i++)
        if (kx_str_eq(seen[i], p))
            return;
    if (*nseen < max)
        seen[(*nseen)++] = p;
}

/*
 * The lookup memo (ev_values_memo) saves a walk for each repeated read of a path in one event
 * and costs a little on every read; it pays when the readers (prefilter, each running rule's
 * query, new-terms fields, timestamp overrides) read the same paths about 1.5 times or more on
 * average (many rules), not for one rule reading mostly different paths. Answers are the same
 * either way: this only chooses the faster way to get them.
 */
static bool memo_pays(const struct det_engine *e)
{
    enum { MAXP = 512 };
    kx_str seen[MAXP];
    size_t nseen = 0, reads = 0;
    for (size_t i = 0; i < det_pf_field_count(e->pf); i++)
        count_read(det_pf_field(e->pf, i), seen, &nseen, MAXP, &reads);
    for (size_t i = 0; i < e->nrules; i++) {
        const struct rule *r = e->rules[i].r;
        if (!e->rules[i].runs)
            continue;
        for (size_t k = 0; r->kql && k < kql_field_count(r->kql); k++)
            count_read(kx_str_c(kql_field(r->kql, k)), seen, &nseen, MAXP, &reads);
        if (r->type == RULE_NEW_TERMS)
            for (size_t k = 0; k < r->new_terms_fields.n; k++)
                count_read(kx_str_c(r->new_terms_fields.v[k]), seen, &nseen, MAXP, &reads);
    }
    return nseen > 0 && reads * 2 >= nseen * 3;
}

/*
 * Elastic checks the time range of every execution (rule_exec_window: `from`/`to` as date math,
 * new_terms' history window starting before `from`) and fails the execution when it does not
 * hold. A scan has no executions, so a rule whose executions would fail now is reported once,
 * at start, with its position (the scan still runs it over the events it reads).
 */
static void exec_window_check(const struct rule *r, int64_t now_ms)
{
    if (now_ms == DET_TIME_NONE) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        now_ms = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
    }
    struct rule_window w;
    kad_err err;
    kad_err_clear(&err);
    if (rule_exec_window(r, now_ms, &w, &err) == KAD_OK)
        return;
    kx_log(KX_LOG_WARN,
           "%s:%u:%u: %s (Elastic's executions of this rule fail with this error; kadet scans "
           "with it)",
           err.origin ? err.origin : "", err.line, err.col, err.msg);
}

struct det_engine *det_new(const struct det_opts *o, kad_err *err)
{
    struct det_engine *e = kx_calloc(1, sizeof(*e));
    e->o = *o;
    e->nrules = rule_set_count(o->rules);
    e->rules = kx_calloc(e->nrules ? e->nrules : 1, sizeof(*e->rules));
    e->nwords = (e->nrules + 63) / 64;
    e->cand = kx_calloc(e->nwords ? e->nwords : 1, sizeof(uint64_t));
    kx_buf_init(&e->combo, ST_KEY_MAX + 64);
    kx_buf_init(&e->docid, 64 * 1024);

    /* new terms as a JSON array: the values fit in one state key, and escaping makes a byte
       at most 6 (\u00XX) */
    kx_buf_init(&e->nterms, ST_KEY_MAX * 6 + 64);
    kx_buf_init(&e->baseline, 1 << 20);
    kx_buf_init(&e->alert, DET_ALERT_MAX);
    kx_buf_init(&e->reason, DET_REASON_MAX);
    kx_buf_init(&e->scratch, 64 * 1024);
    kx_buf_init(&e->supterms, DET_ALERT_MAX);

    /* The fields read from the event's own (possibly partial) document besides the rules':
       the event time and the document id (det_event_id). The alert (its reason, the source
       document, kibana.alert.original_time...) is written from the whole document
       (det_full_doc: the second decode when the first one extracted fields), so the fields
       only alerts read are not asked of the first decode. */
    static const char *const id_fields[] = {
        "@timestamp",
        "_id",
        "kubernetes.audit.auditID",
        "kubernetes.audit.stage",
    };
    for (size_t i = 0; i < sizeof(id_fields) / sizeof(id_fields[0]); i++)
        add_field(e, id_fields[i]);

    for (size_t i = 0; i < e->nrules; i++) {
        const struct rule *r = rule_set_get(o->rules, i);
        struct det_rule *dr = &e->rules[i];
        dr->r = r;
        dr->index = i;
        dr->baseline = -1;
        dr->user_field = SIZE_MAX;
        dr->minute = DET_TIME_NONE;
        dr->runs = (r->kql && (r->type == RULE_QUERY ||
                               (r->type == RULE_NEW_TERMS && r->new_terms_fields.n >= 1 &&
                                r->new_terms_fields.n <= 3))) ||
                   (r->type == RULE_EQL && r->eql) || (r->type == RULE_ESQL && r->esql);
        if (!dr->runs)
            continue;
        exec_window_check(r, o->now_ms);
        if (!det_rule_fields(r, add_field_cb, e))
            e->needs_all = true;
        struct st_rule_def def = {
            .rule_id = r->rule_id,
            .name = r->name,
            .logic_hash = r->logic_hash,
            .fields = NULL,
            .nfields = 0,
            .window_ms = 0,
        };
        if (r->type == RULE_NEW_TERMS) {
            def.fields = r->new_terms_fields.v;
            def.nfields = r->new_terms_fields.n;
            /* An absolute history start never forgets (docs/internals/engine.md). */
            def.window_ms = r->history_window_abs_ms == INT64_MIN ? r->history_window_ms : 0;
            if (def.window_ms < 0)
                def.window_ms = -def.window_ms;
            dr->user_field = user_field(r);
            dr->window_ms = def.window_ms;
            /* the state indexes combinations by user for kadet.baseline (st_pivot_each) */
            def.has_pivot = dr->user_field != SIZE_MAX;
            def.pivot = def.has_pivot ? dr->user_field : 0;
        }
        enum st_baseline b = ST_BASELINE_NEW;
        if (st_rule_register(o->state, &def, &dr->rid, &b, err) != KAD_OK) {
            det_free(e);
            return NULL;
        }
        dr->baseline = (int)b;
        uint64_t h = kx_hash64(r->rule_id, strlen(r->rule_id), 0);
        snprintf(dr->cname_m, sizeof(dr->cname_m), "det.minute.%016llx", (unsigned long long)h);
        snprintf(dr->cname_n, sizeof(dr->cname_n), "det.count.%016llx", (unsigned long long)h);
        int64_t m = st_counter_get(o->state, dr->cname_m);
        if (m != 0) {
            dr->minute = m - 1;
            dr->minute_count = (int)st_counter_get(o->state, dr->cname_n);
        }
        if ((r->type == RULE_EQL || r->type == RULE_ESQL) && det_lang_new(e, dr, err) != KAD_OK) {
            det_free(e);
            return NULL;
        }
    }
    e->pf = det_pf_new(e);
    e->use_memo = memo_pays(e);
    return e;
}

void det_free(struct det_engine *e)
{
    if (!e)
        return;
    det_pf_free(e->pf);
    for (size_t i = 0; i < e->nrules; i++) {
        kx_buf_fini(&e->rules[i].rule_frag);
        det_lang_free(e->rules[i].lang);
        if (e->rules[i].sup_on)
            sup_store_fini(&e->rules[i].sup);
    }
    kx_free(e->rules);
    kx_free(e->cand);
    kx_free(e->fields);
    kx_buf_fini(&e->combo);
    kx_buf_fini(&e->docid);

    kx_buf_fini(&e->nterms);
    kx_buf_fini(&e->baseline);
    kx_buf_fini(&e->alert);
    kx_buf_fini(&e->reason);
    kx_buf_fini(&e->scratch);
    kx_buf_fini(&e->supterms);
    kx_free(e);
}

int64_t det_rule_window(const struct det_engine *e, size_t i)
{
    return i < e->nrules ? e->rules[i].window_ms : 0;
}

int det_rule_baseline(const struct det_engine *e, size_t i)
{
    return i < e->nrules ? e->rules[i].baseline : -1;
}

bool det_rule_runs(const struct det_engine *e, size_t i)
{
    return i < e->nrules && e->rules[i].runs;
}

size_t det_field_count(const struct det_engine *e) { return e->nfields; }

const char *det_field(const struct det_engine *e, size_t i)
{
    return i < e->nfields ? e->fields[i] : NULL;
}

bool det_needs_all(const struct det_engine *e) { return e->needs_all; }

size_t det_prefilter_indexed(const struct det_engine *e) { return det_pf_indexed(e->pf); }

size_t det_rule_count(const struct det_engine *e) { return e->nrules; }

const struct rule *det_rule(const struct det_engine *e, size_t i)
{
    return i < e->nrules ? e->rules[i].r : NULL;
}

void det_rule_stats(const struct det_engine *e, size_t i, struct det_rule_stats *out)
{
    if (i < e->nrules)
        *out = e->rules[i].st;
    else
        memset(out, 0, sizeof(*out));
}

void det_warnings(const struct det_engine *e, kx_buf *out)
{
    for (size_t i = 0; i < e->nrules; i++) {
        const struct det_rule *dr = &e->rules[i];
        if (dr->st.max_signals_cut == 0)
            continue;
        kx_buf_addf(out,
                    "rule '%s': This rule reached the maximum alert limit for the rule "
                    "execution. Some alerts were not created. (max_signals %d per minute of "
                    "event time; %llu alerts not created in %llu minutes)\n",
                    dr->r->name ? dr->r->name : dr->r->rule_id, dr->r->max_signals,
                    (unsigned long long)dr->st.max_signals_cut,
                    (unsigned long long)dr->cut_minutes);
    }
}

/* ============================================================================================ */
/* Alert ids and the alert budget                                                               */
/* ============================================================================================ */

/* max_signals per minute of event time. True when the alert may be created. The minute and its
   count go to state counters, committed with the batch (a crash rolls them back with it). */
bool det_budget(struct det_engine *e, struct det_rule *dr, int64_t ts)
{
    int64_t minute = ts == DET_TIME_NONE ? DET_TIME_NONE
                     : ts >= 0           ? ts / 60000
                                         : -((-ts + 59999) / 60000);
    if (minute != dr->minute) {
        if (minute != DET_TIME_NONE) {
            int64_t old = dr->minute == DET_TIME_NONE ? 0 : dr->minute + 1;
            st_counter_add(e->o.state, dr->cname_m, minute + 1 - old, NULL);
            st_counter_add(e->o.state, dr->cname_n, -(int64_t)dr->minute_count, NULL);
        }
        dr->minute = minute;
        dr->minute_count = 0;
        dr->minute_warned = false;
    }
    int max = dr->r->max_signals > 0 ? dr->r->max_signals : 100;
    if (dr->minute_count >= max) {
        dr->st.max_signals_cut++;
        if (!dr->minute_warned) {
            dr->minute_warned = true;
            dr->cut_minutes++;
        }
        return false;
    }
    dr->minute_count++;
    if (minute != DET_TIME_NONE)
        st_counter_add(e->o.state, dr->cname_n, 1, NULL);
    return true;
}

const struct ev_node *det_full_doc(const struct det_event *ev)
{
    const struct ev_node *d = ev->full ? ev->full(ev->full_ctx) : NULL;
    return d ? d : ev->doc;
}

/* The current event's document id (computed once per event). */
kx_str det_event_id(struct det_engine *e, const struct det_event *ev)
{
    if (!e->have_docid) {
        kx_buf_reset(&e->docid);
        kx_str aid = det_first(ev->doc, "kubernetes.audit.auditID");
        det_doc_id(aid.len || det_first(ev->doc, "_id").len ? ev->doc : det_full_doc(ev),
                   &e->docid);
        e->have_docid = true;
    }
    return (kx_str){e->docid.ptr, e->docid.len};
}

/*
 * Alert suppression (semantics.md, "Alert suppression") in a stream, through suppress.c: one candidate per
 * bulk create, the execution time is the event time. With a duration, an alert of the same
 * group created within [ts - duration, ts] absorbs the candidate; without one ("per rule
 * execution"), an execution is the rule's interval bucket of the event time. An ES|QL rule
 * passes its execution exec_t (the window [from_t, exec_t]) instead: the execution is that
 * tick, and without a duration alerts of an earlier execution still count the documents of
 * its window (DET_TIME_NONE: the event time, as above). Returns true when
 * the candidate was absorbed (counted, no alert); else fills the suppression members of *x
 * (left unset for doNotSuppress documents missing a group_by field) using e->supterms.
 */
bool det_suppress(struct det_engine *e, struct det_rule *dr, const struct ev_node *doc, int64_t ts,
                  int64_t exec_t, int64_t from_t, struct det_alert_extra *x,
                  char inst[SUP_ID_LEN + 1])
{
    const struct rule *r = dr->r;
    if (!dr->sup_on) {
        sup_store_init(&dr->sup);
        dr->sup_on = true;
    }
    bool missing = false;
    kx_buf_reset(&e->supterms);
    if (sup_terms(r, doc, &e->supterms, &missing) != KAD_OK)
        return false; /* terms too large to group: an ordinary alert */
    if (missing && r->suppress_missing == RULE_DO_NOT_SUPPRESS_MISSING)
        return false;
    struct sup_cand c;
    memset(&c, 0, sizeof(c));
    c.ts_ms = ts;
    sup_instance_id(r, e->supterms.ptr, e->supterms.len, c.instance_id);
    int64_t iv = r->interval_ms > 0 ? r->interval_ms : 300000;
    int64_t now = exec_t == DET_TIME_NONE ? ts : exec_t;
    int64_t bucket = now >= 0 ? now / iv : -((-now + iv - 1) / iv);
    int64_t start = exec_t == DET_TIME_NONE ? bucket * iv : from_t;
    struct sup_exec se = {
        .exec_id = (uint64_t)bucket,
        .now_ms = now,
        .window_start_ms = r->suppress_duration_ms ? now - r->suppress_duration_ms : start,
        .per_execution = r->suppress_duration_ms == 0,
        .max_alerts = 0,
    };
    sup_batch(&dr->sup, &c, 1, &se, NULL, NULL);
    if (c.fate != SUP_CREATED) {
        dr->st.suppressed++;
        return true;
    }
    const struct sup_alert *sa = &dr->sup.alerts.ptr[c.alert];
    memcpy(inst, c.instance_id, SUP_ID_LEN + 1);
    x->instance_id = inst;
    x->sup_terms_json = e->supterms.ptr; /* kx_buf keeps it NUL-terminated */
    x->sup_start_ms = sa->start_ms;
    x->sup_end_ms = sa->end_ms;
    x->sup_docs_count = sa->docs_count;
    return false;
}

int det_alert_admit(struct det_engine *e, struct det_rule *dr, const void *combo, size_t clen,
                    const char *uuid, int64_t ts, bool *claimed, kad_err *err)
{
    *claimed = false;
    if (e->o.learn)
        return 1;
    if (st_shared(e->o.state)) {
        /* a store shared by several instances: claim the id first, so two instances (or a
           retry on another replica) never both emit it; a claimed alert that suppression or
           max_signals then drops stays claimed, as the instance that decided so would drop it
           again (docs/internals/state.md, "Batches") */
        int rc = st_alert_claim(e->o.state, dr->rid, combo, clen, uuid,
                                ts == DET_TIME_NONE ? 0 : ts, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            dr->st.duplicates++;
        *claimed = rc == 1;
        return rc;
    }
    int rc = st_alert_emitted(e->o.state, uuid, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        dr->st.duplicates++;
    return rc == 0;
}

/*
 * One alert candidate: dedupe by id, suppress (alert_suppression), apply the budget, build and
 * hand out the alert, record it.
 * Returns KAD_OK, a state error or KAD_EIO (callback stop).
 */
static int raise_alert(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                       const struct det_val *vals, size_t n, const void *combo, size_t clen,
                       int64_t ts, kad_err *err)
{
    const struct rule *r = dr->r;
    char uuid[33];
    kx_str id = det_event_id(e, ev);
    det_alert_uuid(r->rule_id, combo, clen, id.ptr, id.len, uuid);
    bool claimed;
    int ad = det_alert_admit(e, dr, combo, clen, uuid, ts, &claimed, err);
    if (ad <= 0)
        return ad;
    struct det_alert_extra x = {
        .timestamp_ms = e->o.now_ms,
        .last_detected_ms = DET_TIME_NONE,
        .event_ms = ts,
        .uuid = uuid,
        .doc_id = NULL,
        .intended_ms = DET_TIME_NONE,
        .reason = &e->reason,
        .claimed = claimed,
    };
    char inst[SUP_ID_LEN + 1];
    if (r->suppress_group_by.n > 0 && ts != DET_TIME_NONE &&
        det_suppress(e, dr, det_full_doc(ev), ts, DET_TIME_NONE, 0, &x, inst))
        return KAD_OK;
    if (!det_budget(e, dr, ts))
        return KAD_OK;
    if (e->o.learn) {
        dr->st.would_alert++;
        return KAD_OK;
    }
    const char *nt = NULL;
    if (r->type == RULE_NEW_TERMS) {
        kx_jsonw jw;
        kx_buf_reset(&e->nterms);
        kx_jsonw_init(&jw, &e->nterms);
        det_terms_json(&jw, vals, n);
        if (kx_jsonw_error(&jw) != KAD_OK) /* cannot happen: sized for the worst case above */
            return kx_err_setf(err, kx_jsonw_error(&jw),
                               "rule '%s': new terms larger than %zu bytes",
                               r->rule_id ? r->rule_id : "", e->nterms.max);
        nt = e->nterms.ptr;
    }
    const char *bl = NULL;
    if (r->type == RULE_NEW_TERMS && dr->user_field != SIZE_MAX && !e->o.no_baseline) {
        int rc = det_baseline_json(e, dr, vals, n, combo, clen, ts, &e->baseline, err);
        if (rc != KAD_OK)
            return rc;
        bl = e->baseline.len ? e->baseline.ptr : NULL;
    }
    x.new_terms_json = nt;
    x.baseline_json = bl;
    x.doc_id = e->docid.ptr; /* kx_buf keeps it NUL-terminated */
    for (size_t i = 0; i < n && i < 3; i++)
        e->terms[i] = vals[i].s;
    return det_emit(e, dr, det_full_doc(ev), &x, n, combo, clen, ts, err);
}

int det_emit(struct det_engine *e, struct det_rule *dr, const struct ev_node *doc,
             struct det_alert_extra *x, size_t nterms, const void *combo, size_t clen, int64_t ts,
             kad_err *err)
{
    const struct rule *r = dr->r;
    if (!dr->rule_frag.ptr) {
        kx_buf_init(&dr->rule_frag, DET_ALERT_MAX);
        if (det_alert_rule_fragment(r, &dr->rule_frag) != KAD_OK)
            kx_buf_reset(&dr->rule_frag);
    }
    x->rule_fragment = dr->rule_frag.len ? dr->rule_frag.ptr : NULL;
    x->rule_fragment_len = dr->rule_frag.len;
    x->reason = &e->reason;
    kx_buf_reset(&e->alert);
    int rc = det_alert_write(&e->alert, r, doc, x, err);
    if (rc != KAD_OK)
        return rc;
    kx_str user = det_first(doc, "user.name");
    if (!user.len)
        user = det_first(doc, "kubernetes.audit.user.username");
    struct det_alert a = {
        .rule = r,
        .rule_index = dr->index,
        .uuid = x->uuid,
        .json = e->alert.ptr,
        .len = e->alert.len,
        .event_ms = ts,
        .reason = e->reason.ptr,
        .terms = e->terms,
        .nterms = nterms,
        .original_time = det_first(doc, "@timestamp"),
        .user = user,
        .source_ip = det_first(doc, "source.ip"),
    };
    if (e->o.on_alert && e->o.on_alert(&a, e->o.ud) != 0)
        return kx_err_setf(err, KAD_EIO, "alert output failed");
    dr->st.alerts++;
    if (x->claimed)
        return KAD_OK;
    return st_alert_record(e->o.state, dr->rid, combo, clen, x->uuid, ts == DET_TIME_NONE ? 0 : ts,
                           err);
}

/* ============================================================================================ */
/* new_terms                                                                                    */
/* ============================================================================================ */

/*
 * The origin st_observe_by keeps with a combination for a shared store: the first 64 bits of
 * the alert id this event would have for it (rule id, combination, document id), never 0. The
 * same event seen again (a retry, another instance, a rerun after a crash) has the same one; a
 * different event in the same millisecond has another.
 */
static uint64_t event_origin(struct det_engine *e, struct det_rule *dr, const struct det_event *ev)
{
    char uuid[33];
    kx_str id = det_event_id(e, ev);
    det_alert_uuid(dr->r->rule_id, e->combo.ptr, e->combo.len, id.ptr, id.len, uuid);
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = uuid[i];
        v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v ? v : 1;
}

/* ts: the event's time (alerts); state_ts: the time the state records (clamped, process());
   vt: the rule's terms from det_match (det_event.verdict), or NULL: read here. */
static int run_new_terms(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                         const struct det_vterms *vt, int64_t ts, int64_t state_ts, kad_err *err)
{
    const struct rule *r = dr->r;
    size_t nf = r->new_terms_fields.n;
    size_t total = 1;
    bool cut = false;
    const struct det_val *vals[3];
    for (size_t f = 0; f < nf; f++) {
        if (vt) {
            vals[f] = vt->v[f];
            e->nvals[f] = vt->n[f];
            cut |= vt->cut[f];
        } else {
            const char *path = r->new_terms_fields.v[f];
            struct det_terms c = {e->vals[f], 0, DET_VALUES_MAX, DET_VALUES_MAX, false};
            det_field_terms(&e->memo, ev->doc, path, &c);
            vals[f] = e->vals[f];
            e->nvals[f] = c.n;
            cut |= c.cut;
        }
        if (e->nvals[f] == 0) {
            dr->st.no_terms++;
            return KAD_OK; /* C(d) is empty when any field has no value */
        }
        total = total > DET_COMBOS_MAX ? total : total * e->nvals[f];
    }
    if (total > DET_COMBOS_MAX) {
        cut = true;
        total = DET_COMBOS_MAX;
    }
    if (cut)
        dr->st.combos_limited++;

    bool shared = st_shared(e->o.state);
    /* odometer over the cartesian product, first field slowest (composite key order) */
    size_t idx[3] = {0, 0, 0};
    struct det_val cur[3];
    kx_str comps[3];
    for (size_t k = 0; k < total; k++) {
        for (size_t f = 0; f < nf; f++) {
            cur[f] = vals[f][idx[f]];
            comps[f] = cur[f].s;
        }
        kx_buf_reset(&e->combo);
        kad_err kerr;
        if (st_combo_encode(&e->combo, comps, nf, &kerr) != KAD_OK) {
            dr->st.combos_limited++; /* too large a combination: not a term */
        } else {
            struct st_term prev;
            uint64_t origin = shared ? event_origin(e, dr, ev) : 0;
            int rc = st_observe_by(e->o.state, dr->rid, e->combo.ptr, e->combo.len, state_ts,
                                   origin, &prev, err);
            if (rc < 0)
                return rc;
            /* a shared store: KNOWN with this very event as the life's origin means an earlier
               attempt or another instance observed it first; its alert is raised again and the
               alert id's claim decides who emits it */
            if (rc == ST_SEEN_NEW || rc == ST_SEEN_FORGOTTEN ||
                (shared && rc == ST_SEEN_KNOWN && prev.origin == origin)) {
                rc = raise_alert(e, dr, ev, cur, nf, e->combo.ptr, e->combo.len, ts, err);
                if (rc != KAD_OK)
                    return rc;
            }
        }
        for (size_t f = nf; f-- > 0;) {
            if (++idx[f] < e->nvals[f])
                break;
            idx[f] = 0;
        }
    }
    return KAD_OK;
}

/* ============================================================================================ */
/* Per event                                                                                    */
/* ============================================================================================ */

static int process(struct det_engine *e, const struct det_event *ev, kad_err *err);

int det_process(struct det_engine *e, const struct det_event *ev, kad_err *err)
{
    if (!ev->doc)
        return KAD_OK;
    ev_memo_reset(&e->memo, e->use_memo ? ev->doc : NULL); /* NULL root: plain lookups */
    int rc = process(e, ev, err);
    ev_memo_reset(&e->memo, NULL); /* the document's arena is the caller's to reset */
    return rc;
}

static int process(struct det_engine *e, const struct det_event *ev, kad_err *err)
{
    e->ntcache = 0;
    e->have_docid = false;
    const struct det_verdict *v = ev->verdict;
    size_t vt = 0; /* the next of v->terms */
    if (!v)
        det_pf_candidates(e->pf, ev->doc, e->cand, e->nwords, &e->memo);
    for (size_t w = 0; w < e->nwords; w++) {
        uint64_t bits = v ? v->cand[w] : e->cand[w];
        while (bits) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            struct det_rule *dr = &e->rules[i];
            if (!dr->runs)
                continue;
            const struct rule *r = dr->r;
            dr->st.candidates++;
            if (v ? !(v->match[w] >> (i % 64) & 1) : !det_query_match(r, ev->doc, &e->memo))
                continue; /* EQL sequences and ES|QL rules match in det_lang_event */
            const struct det_vterms *terms = NULL;
            if (v && r->type == RULE_NEW_TERMS) {
                while (vt < v->nterms && v->terms[vt]->rule < i)
                    vt++;
                if (vt < v->nterms && v->terms[vt]->rule == i)
                    terms = v->terms[vt];
            }
            int64_t ts = det_event_time(e, ev, r);
            if (ts == DET_TIME_NONE && (r->type == RULE_NEW_TERMS || r->type == RULE_ESQL ||
                                        r->timestamp_override_fallback_disabled)) {
                dr->st.no_time++; /* not in any time range Elastic would search */
                continue;
            }
            if (rule_excepted(e->o.rules, r, ev->doc, ts == DET_TIME_NONE ? 0 : ts)) {
                dr->st.excepted++;
                continue;
            }
            int64_t state_ts = ts;
            if (e->o.future_ms > 0 && ev->read_ms != 0 && ts != DET_TIME_NONE &&
                ts - ev->read_ms > e->o.future_ms) {
                /* From the future (a skewed or forged clock): it must not move the watermark,
                   or every later event would be "too late". A new_terms rule judges and
                   records it at the rule's watermark (the latest time seen), or sets it aside
                   while the rule has seen nothing yet; a query rule alerts as usual. */
                if (dr->st.future++ == 0) {
                    char tb[32], rb[32];
                    ev_time_fmt_ms(ts, tb);
                    ev_time_fmt_ms(ev->read_ms, rb);
                    kx_log(KX_LOG_WARN,
                           "rule '%s': an event is stamped %s, more than %lld s after it was read "
                           "(%s): a skewed or forged clock; counted as 'future', judged at the "
                           "latest time the rule has seen",
                           r->name      ? r->name
                           : r->rule_id ? r->rule_id
                                        : "?",
                           tb, (long long)(e->o.future_ms / 1000), rb);
                }
                if (r->type == RULE_NEW_TERMS) {
                    int64_t wm = st_watermark(e->o.state, dr->rid);
                    if (wm == ST_TIME_NONE)
                        continue;
                    state_ts = wm;
                }
            }
            if (r->type == RULE_NEW_TERMS && dr->window_ms > 0) {
                /* Beyond the state's horizon: combinations last seen before watermark - 2W may
                   have been pruned, so an event older than watermark - W cannot be judged the
                   same way whenever pruning ran. It is skipped (docs/internals/engine.md). */
                int64_t wm = st_watermark(e->o.state, dr->rid);
                if (wm != ST_TIME_NONE && ts < wm - dr->window_ms) {
                    dr->st.too_late++;
                    continue;
                }
            }
            dr->st.matched++;
            int rc;
            if (r->type == RULE_QUERY || (r->type == RULE_EQL && !eql_is_sequence(r->eql)))
                rc = raise_alert(e, dr, ev, NULL, 0, "", 0, ts, err);
            else if (r->type == RULE_NEW_TERMS)
                rc = run_new_terms(e, dr, ev, terms, ts, state_ts, err);
            else
                rc = det_lang_event(e, dr, ev, ts, err);
            if (rc != KAD_OK)
                return rc;
        }
    }
    return KAD_OK;
}

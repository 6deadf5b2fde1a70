/*
 * det_alert.c - the alert document, as Elastic's detection engine writes it
 * (docs/alerts.md): the source ECS document copied with its nested structure
 * (minus top-level kibana*, signal*, threshold_result keys, its event.kind and empty objects),
 * then flat `kibana.alert.*` keys, then kadet's own `kadet.*` keys (the baseline the state
 * knew for the user). Key order is fixed, so equal inputs give byte-equal alerts.
 *
 * What this file does not do: decide whether to alert (det_engine.c) or write the document
 * anywhere (the callback does). The format is documented for users in docs/alerts.md.
 */
#include "base/err.h"
#include "base/jsonw.h"
#include "det_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ============================================================================================ */
/* Source document                                                                              */
/* ============================================================================================ */

static bool is_empty_container(const struct ev_node *n)
{
    return (n->type == EV_OBJECT || n->type == EV_ARRAY) && n->child == NULL;
}

/*
 * How much of the source document an alert copies. Unlimited at first; when the alert would pass
 * DET_ALERT_MAX (a poison pill: the same record would stop every rerun), det_alert_write writes
 * it again with strings cut and arrays shortened, as Elasticsearch's ignore_above keeps an
 * oversized value out of the index while the document stays indexable, and records what it cut
 * under kadet.truncated (docs/alerts.md "Limits").
 */
struct src_cap {
    size_t str_max; /* longer strings keep their first str_max bytes (UTF-8 boundary) and "…" */
    size_t arr_max; /* longer arrays keep their first arr_max values */
    uint64_t strings, values; /* strings cut, array values dropped */
};

static void write_capped_str(kx_jsonw *w, const char *s, size_t n, struct src_cap *cap)
{
    if (n <= cap->str_max) {
        kx_jsonw_str(w, s, n);
        return;
    }
    size_t cut = cap->str_max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--; /* s[cut] starts a character: keep what is before it */
    kx_buf t;
    kx_buf_init(&t, cut + 4);
    kx_buf_add(&t, s, cut);
    kx_buf_adds(&t, "\xe2\x80\xa6"); /* U+2026 */
    kx_jsonw_str(w, t.ptr ? t.ptr : "", t.len);
    kx_buf_fini(&t);
    cap->strings++;
}

static void write_node(kx_jsonw *w, const struct ev_node *n, int depth, struct src_cap *cap)
{
    switch (n->type) {
    case EV_NULL: kx_jsonw_null(w); break;
    case EV_TRUE: kx_jsonw_bool(w, true); break;
    case EV_FALSE: kx_jsonw_bool(w, false); break;
    case EV_NUMBER: kx_jsonw_raw(w, n->str, n->len); break;
    case EV_STRING: write_capped_str(w, n->str, n->len, cap); break;
    case EV_ARRAY:
    case EV_OBJECT:
        if (depth >= KX_JSONW_DEPTH - 4) {
            kx_jsonw_null(w); /* deeper than the writer allows: cut */
            break;
        }
        if (n->type == EV_ARRAY)
            kx_jsonw_arr_begin(w);
        else
            kx_jsonw_obj_begin(w);
        size_t k = 0;
        for (const struct ev_node *c = n->child; c; c = c->next) {
            if (is_empty_container(c))
                continue;
            if (n->type == EV_ARRAY && k++ >= cap->arr_max) {
                cap->values++;
                continue;
            }
            if (n->type == EV_OBJECT)
                kx_jsonw_key(w, c->key, c->klen);
            write_node(w, c, depth + 1, cap);
        }
        if (n->type == EV_ARRAY)
            kx_jsonw_arr_end(w);
        else
            kx_jsonw_obj_end(w);
        break;
    }
}

static bool key_starts(const struct ev_node *m, const char *prefix)
{
    size_t n = strlen(prefix);
    return m->klen >= n && memcmp(m->key, prefix, n) == 0;
}

static bool key_is(const struct ev_node *m, const char *k)
{
    return m->klen == strlen(k) && memcmp(m->key, k, m->klen) == 0;
}

/* Elasticsearch metadata fields a document may carry at top level (e.g. `_id` in an exported
   hit): never part of `_source`, so never copied into the alert. */
static bool is_metadata_key(const struct ev_node *m)
{
    static const char *const meta[] = {"_id",      "_index",        "_version", "_seq_no",
                                       "_routing", "_primary_term", "_score",   "_ignored"};
    if (m->klen < 2 || m->key[0] != '_')
        return false;
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
        if (key_is(m, meta[i]))
            return true;
    return false;
}

static void write_source(kx_jsonw *w, const struct ev_node *doc, struct src_cap *cap)
{
    for (const struct ev_node *m = doc->child; m; m = m->next) {
        if (key_is(m, "@timestamp") || key_starts(m, "kibana") || key_starts(m, "signal") ||
            key_starts(m, "threshold_result") || key_is(m, "event.kind") || is_metadata_key(m) ||
            is_empty_container(m))
            continue;
        if (key_is(m, "event") && m->type == EV_OBJECT) {
            bool any = false;
            for (const struct ev_node *c = m->child; c; c = c->next)
                any |= !key_is(c, "kind") && !is_empty_container(c);
            if (!any)
                continue;
            kx_jsonw_keyc(w, "event");
            kx_jsonw_obj_begin(w);
            for (const struct ev_node *c = m->child; c; c = c->next) {
                if (key_is(c, "kind") || is_empty_container(c))
                    continue;
                kx_jsonw_key(w, c->key, c->klen);
                write_node(w, c, 2, cap);
            }
            kx_jsonw_obj_end(w);
            continue;
        }
        kx_jsonw_key(w, m->key, m->klen);
        write_node(w, m, 1, cap);
    }
}

/* kibana.alert.original_event.<path> for every leaf (or array) under the source `event`. */
static void write_flat(kx_jsonw *w, kx_buf *key, size_t base, const struct ev_node *n, int depth,
                       struct src_cap *cap)
{
    for (const struct ev_node *c = n->child; c; c = c->next) {
        if (is_empty_container(c))
            continue;
        key->len = base;
        kx_buf_addc(key, '.');
        kx_buf_add(key, c->key, c->klen);
        if (c->type == EV_OBJECT && depth < 16) {
            write_flat(w, key, key->len, c, depth + 1, cap);
            continue;
        }
        kx_jsonw_key(w, key->ptr, key->len);
        write_node(w, c, 2, cap);
    }
}

static void write_original(kx_jsonw *w, kx_buf *key, const struct ev_node *doc, const char *src,
                           const char *dst, struct src_cap *cap)
{
    for (const struct ev_node *m = doc->child; m; m = m->next) {
        if (!key_is(m, src) || m->type != EV_OBJECT)
            continue;
        kx_buf_reset(key);
        kx_buf_adds(key, dst);
        write_flat(w, key, key->len, m, 0, cap);
    }
}

/* ============================================================================================ */
/* Reason (Elastic's template, semantics.md, "The alert document")                               */
/* ============================================================================================ */

/*
 * Elastic reads each reason field with lodash `getOr(null, path, _source)`: the whole dotted path
 * as one top-level key first, else one member per path segment (the last of duplicate keys, as
 * JSON.parse keeps). Arrays are not walked into.
 */
static const struct ev_node *last_member(const struct ev_node *obj, const char *k, size_t n)
{
    const struct ev_node *found = NULL;
    for (const struct ev_node *m = obj->child; m; m = m->next)
        if (m->klen == n && memcmp(m->key, k, n) == 0)
            found = m;
    return found;
}

static const struct ev_node *lodash_get(const struct ev_node *doc, const char *path)
{
    if (!doc || doc->type != EV_OBJECT)
        return NULL;
    const struct ev_node *n = last_member(doc, path, strlen(path));
    if (n)
        return n;
    n = doc;
    for (const char *p = path; n;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (n->type != EV_OBJECT)
            return NULL;
        n = last_member(n, p, len);
        if (!dot)
            break;
        p = dot + 1;
    }
    return n;
}

/* JavaScript's String(v) for an array element (Array.prototype.join). */
static void js_join_elem(kx_buf *b, const struct ev_node *v)
{
    switch (v->type) {
    case EV_STRING:
    case EV_NUMBER: kx_buf_add(b, v->str, v->len); break;
    case EV_TRUE: kx_buf_adds(b, "true"); break;
    case EV_FALSE: kx_buf_adds(b, "false"); break;
    case EV_NULL: break;
    case EV_OBJECT: kx_buf_adds(b, "[object Object]"); break;
    case EV_ARRAY:
        for (const struct ev_node *c = v->child; c; c = c->next) {
            if (c != v->child)
                kx_buf_addc(b, ',');
            js_join_elem(b, c);
        }
        break;
    }
}

/*
 * Elastic's getFieldTemplateValue: absent when the value is missing, null, "", has no length
 * (a number, a boolean, an object) or is an empty array, or is "-" / ["-"]; arrays are joined
 * with ", ". The text "null" then selects the template's `null` case as an absent value does.
 * reason_node returns the value when it is present, NULL when absent.
 */
static const struct ev_node *reason_node(const struct ev_node *doc, const char *path)
{
    const struct ev_node *v = lodash_get(doc, path);
    if (!v)
        return NULL;
    if (v->type == EV_STRING) {
        if (v->len == 0 || (v->len == 1 && v->str[0] == '-'))
            return NULL;
    } else if (v->type == EV_ARRAY) {
        const struct ev_node *c = v->child;
        if (!c || (!c->next && c->type == EV_STRING && c->len == 1 && c->str[0] == '-'))
            return NULL;
    } else {
        return NULL;
    }
    return v;
}

/*
 * One value's text is cut at DET_REASON_VALUE_MAX bytes (at a UTF-8 boundary) and marked with
 * an ellipsis: a hostile event (thousands of forwarded-for addresses in source.ip) must not make
 * the reason, and so the alert, unbounded. Below the cut the text is Elastic's exactly
 * (docs/alerts.md).
 */

/* Cut what was appended since `at` to DET_REASON_VALUE_MAX bytes, at a UTF-8 boundary, with an
   ellipsis; appending stops early at the cut, so the cost is bounded too. */
static void cut_value(kx_buf *b, size_t at)
{
    if (kx_buf_error(b) || b->len - at <= DET_REASON_VALUE_MAX)
        return;
    size_t cut = at + DET_REASON_VALUE_MAX;
    while (cut > at && ((unsigned char)b->ptr[cut] & 0xC0) == 0x80)
        cut--;
    kx_buf_truncate(b, cut);
    kx_buf_adds(b, "\xe2\x80\xa6"); /* U+2026 */
}

static void reason_value_add(kx_buf *b, const struct ev_node *v)
{
    size_t at = b->len;
    if (v->type == EV_STRING) {
        kx_buf_add(b, v->str, v->len <= DET_REASON_VALUE_MAX ? v->len : DET_REASON_VALUE_MAX + 1);
    } else {
        for (const struct ev_node *c = v->child; c && b->len - at <= DET_REASON_VALUE_MAX;
             c = c->next) {
            if (c != v->child)
                kx_buf_adds(b, ", ");
            js_join_elem(b, c);
        }
    }
    cut_value(b, at);
}

/* One `{x, select, null {} other {PRE<x>POST}}` of the template. */
static void reason_part(kx_buf *b, const struct ev_node *doc, const char *field, const char *pre,
                        const char *post)
{
    const struct ev_node *v = reason_node(doc, field);
    if (!v)
        return;
    size_t mark = b->len;
    kx_buf_adds(b, pre);
    size_t at = b->len;
    reason_value_add(b, v);
    if (b->len - at == 4 && memcmp(b->ptr + at, "null", 4) == 0) {
        kx_buf_truncate(b, mark);
        return;
    }
    kx_buf_adds(b, post);
}

/*
 * The reason template. " with" follows "event" when any field of interest is present (even one
 * whose text selects the `null` case), so presence is decided first and the text is written in
 * one pass, never moved. Every value and the name are bounded (cut_value), so the whole text
 * fits DET_REASON_MAX; the buffer's sticky error is still checked by the caller.
 */
static void build_reason(kx_buf *b, const struct ev_node *doc, const struct rule *r,
                         const char *name)
{
    static const struct {
        const char *field, *pre, *post;
    } parts[] = {
        {"process.name", " process ", ","}, {"process.parent.name", " parent process ", ","},
        {"file.name", " file ", ","},       {"source.ip", " source ", ""},
        {"source.port", ":", ","},          {"destination.ip", " destination ", ""},
        {"destination.port", ":", ","},
    };
    const size_t nparts = sizeof(parts) / sizeof(parts[0]);
    bool interest = false;
    for (size_t i = 0; i < nparts && !interest; i++)
        interest = reason_node(doc, parts[i].field) != NULL;
    kx_buf_reset(b);
    reason_part(b, doc, "event.category", "", " ");
    kx_buf_adds(b, interest ? "event with" : "event");
    for (size_t i = 0; i < nparts; i++)
        reason_part(b, doc, parts[i].field, parts[i].pre, parts[i].post);
    reason_part(b, doc, "user.name", " by ", "");
    reason_part(b, doc, "host.name", " on ", "");
    kx_buf_addf(b, " created %s alert ", r->severity ? r->severity : "low");
    size_t at = b->len, n = strlen(name);
    kx_buf_add(b, name, n <= DET_REASON_VALUE_MAX ? n : DET_REASON_VALUE_MAX + 1);
    cut_value(b, at);
    kx_buf_addc(b, '.');
}

/* ============================================================================================ */
/* Rule fields                                                                                  */
/* ============================================================================================ */

static void kv_str(kx_jsonw *w, const char *k, const char *v)
{
    if (!v)
        return;
    kx_jsonw_keyc(w, k);
    kx_jsonw_strc(w, v);
}

static void kv_list(kx_jsonw *w, const char *k, const struct rule_strlist *l)
{
    kx_jsonw_keyc(w, k);
    kx_jsonw_arr_begin(w);
    for (size_t i = 0; i < l->n; i++)
        kx_jsonw_strc(w, l->v[i]);
    kx_jsonw_arr_end(w);
}

static void kv_empty_arr(kx_jsonw *w, const char *k)
{
    kx_jsonw_keyc(w, k);
    kx_jsonw_arr_begin(w);
    kx_jsonw_arr_end(w);
}

static void write_threat(kx_jsonw *w, const struct rule *r)
{
    const char *t = r->threat_json && r->threat_json[0] ? r->threat_json : "[]";
    kx_jsonw_raw(w, t, strlen(t));
}

static void kv_bool(kx_jsonw *w, const char *k, bool v)
{
    kx_jsonw_keyc(w, k);
    kx_jsonw_bool(w, v);
}

static void write_exceptions_list(kx_jsonw *w, const char *k, const struct rule *r)
{
    kx_jsonw_keyc(w, k);
    kx_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->exceptions_list.n; i++) {
        kx_jsonw_obj_begin(w);
        kv_str(w, "list_id", r->exceptions_list.v[i]);
        kx_jsonw_obj_end(w);
    }
    kx_jsonw_arr_end(w);
}

/* kibana.alert.rule.parameters: the rule's params in snake_case (semantics.md, "The alert
   document"); undefined optional ones are left out as Elastic leaves them out. */
static void write_parameters(kx_jsonw *w, const struct rule *r)
{
    kx_jsonw_obj_begin(w);
    kv_list(w, "author", &r->author);
    kv_str(w, "building_block_type", r->building_block_type);
    kv_str(w, "description", r->description);
    kv_list(w, "false_positives", &r->false_positives);
    kv_str(w, "from", r->from ? r->from : "now-6m");
    kv_str(w, "license", r->license);
    kx_jsonw_keyc(w, "max_signals");
    kx_jsonw_int(w, r->max_signals);
    kv_str(w, "note", r->note);
    kv_list(w, "references", &r->references);
    kx_jsonw_keyc(w, "risk_score");
    kx_jsonw_int(w, r->risk_score);
    kv_empty_arr(w, "risk_score_mapping");
    kv_str(w, "rule_id", r->rule_id);
    kv_str(w, "rule_name_override", r->rule_name_override);
    kv_str(w, "setup", r->setup);
    kv_str(w, "severity", r->severity);
    kv_empty_arr(w, "severity_mapping");
    kx_jsonw_keyc(w, "threat");
    write_threat(w, r);
    kv_str(w, "timestamp_override", r->timestamp_override);
    /* an optional param: Elastic's prebuilt rules do not set it, so it is absent unless true */
    if (r->timestamp_override_fallback_disabled)
        kv_bool(w, "timestamp_override_fallback_disabled", true);
    kv_str(w, "to", r->to ? r->to : "now");
    kv_str(w, "version", r->version);
    write_exceptions_list(w, "exceptions_list", r);
    kv_bool(w, "immutable", true);
    kv_str(w, "type", r->type_name);
    kv_str(w, "language", r->language);
    kv_str(w, "query", r->query);
    kv_list(w, "index", &r->index);
    if (r->type == RULE_NEW_TERMS) {
        kv_list(w, "new_terms_fields", &r->new_terms_fields);
        kv_str(w, "history_window_start", r->history_window_start);
    }
    kx_jsonw_obj_end(w);
}

/* The kibana.alert.rule.* members that depend on the rule only (cacheable, see
   det_alert_rule_fragment); name is the rule name or its rule_name_override value. */
static void write_rule(kx_jsonw *w, const struct rule *r, const char *name)
{
    bool nt = r->type == RULE_NEW_TERMS;
    const char *category = nt                     ? "New Terms Rule"
                           : r->type == RULE_EQL  ? "Event Correlation Rule"
                           : r->type == RULE_ESQL ? "ES|QL Rule"
                                                  : "Custom Query Rule";
    const char *type_id = nt                     ? "siem.newTermsRule"
                          : r->type == RULE_EQL  ? "siem.eqlRule"
                          : r->type == RULE_ESQL ? "siem.esqlRule"
                                                 : "siem.queryRule";
    kv_empty_arr(w, "kibana.alert.rule.actions");
    kv_list(w, "kibana.alert.rule.author", &r->author);
    kv_str(w, "kibana.alert.rule.building_block_type", r->building_block_type);
    kv_str(w, "kibana.alert.rule.category", category);
    kv_str(w, "kibana.alert.rule.consumer", "siem");
    kv_str(w, "kibana.alert.rule.description", r->description);
    kv_bool(w, "kibana.alert.rule.enabled", true);
    write_exceptions_list(w, "kibana.alert.rule.exceptions_list", r);
    kv_list(w, "kibana.alert.rule.false_positives", &r->false_positives);
    kv_str(w, "kibana.alert.rule.from", r->from ? r->from : "now-6m");
    kv_bool(w, "kibana.alert.rule.immutable", true);
    kv_list(w, "kibana.alert.rule.indices", &r->index);
    kv_str(w, "kibana.alert.rule.interval", r->interval ? r->interval : "5m");
    kv_str(w, "kibana.alert.rule.license", r->license);
    kx_jsonw_keyc(w, "kibana.alert.rule.max_signals");
    kx_jsonw_int(w, r->max_signals);
    if (name != r->name)
        kv_bool(w, "kibana.alert.rule.meta.ruleNameOverridden", true);
    kv_str(w, "kibana.alert.rule.name", name);
    kv_str(w, "kibana.alert.rule.note", r->note);
    kx_jsonw_keyc(w, "kibana.alert.rule.parameters");
    write_parameters(w, r);
    kv_str(w, "kibana.alert.rule.producer", "siem");
    kv_list(w, "kibana.alert.rule.references", &r->references);
    kx_jsonw_keyc(w, "kibana.alert.rule.risk_score");
    kx_jsonw_int(w, r->risk_score);
    kv_empty_arr(w, "kibana.alert.rule.risk_score_mapping");
    kv_str(w, "kibana.alert.rule.rule_id", r->rule_id);
    kv_str(w, "kibana.alert.rule.rule_name_override", r->rule_name_override);
    kv_str(w, "kibana.alert.rule.rule_type_id", type_id);
    kv_str(w, "kibana.alert.rule.severity", r->severity);
    kv_empty_arr(w, "kibana.alert.rule.severity_mapping");
    kv_list(w, "kibana.alert.rule.tags", &r->tags);
    kx_jsonw_keyc(w, "kibana.alert.rule.threat");
    write_threat(w, r);
    kv_str(w, "kibana.alert.rule.timestamp_override", r->timestamp_override);
    kv_str(w, "kibana.alert.rule.to", r->to ? r->to : "now");
    kv_str(w, "kibana.alert.rule.type", r->type_name ? r->type_name : (nt ? "new_terms" : "query"));
    kv_str(w, "kibana.alert.rule.uuid", r->rule_id);
    kv_str(w, "kibana.alert.rule.version", r->version);
}

/* ============================================================================================ */
/* Ids                                                                                          */
/* ============================================================================================ */

void det_alert_uuid(const char *rule_id, const void *combo, size_t combo_len, const char *doc_id,
                    size_t doc_id_len, char out[33])
{
    /* Two chained 64-bit hashes over "rule_id \n combo \n doc_id": stable across runs and
       machines (kx_hash64 is), 128 bits so collisions are not a practical concern. */
    uint64_t h1 = 0x6b61646574ULL, h2;
    const char *rid = rule_id ? rule_id : "";
    h1 = kx_hash64(rid, strlen(rid) + 1, h1);
    h1 = kx_hash64(combo, combo_len, h1);
    h1 = kx_hash64(doc_id, doc_id_len, h1 ^ 0x0aULL);
    h2 = kx_hash64(rid, strlen(rid) + 1, h1 ^ 0x9e3779b97f4a7c15ULL);
    h2 = kx_hash64(combo, combo_len, h2);
    h2 = kx_hash64(doc_id, doc_id_len, h2 ^ 0x0aULL);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

/* ============================================================================================ */
/* The document                                                                                 */
/* ============================================================================================ */

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void kv_time(kx_jsonw *w, const char *k, int64_t ms)
{
    char t[32];
    det_fmt_time(ms, t);
    kv_str(w, k, t);
}

/* The source @timestamp as epoch ms (first value; an ISO date or epoch milliseconds). */
static int64_t original_time(const struct ev_node *doc)
{
    const struct ev_node *v = lodash_get(doc, "@timestamp");
    if (v && v->type == EV_ARRAY)
        v = v->child;
    int64_t ms;
    if (v && (v->type == EV_STRING || v->type == EV_NUMBER) && det_parse_time(v->str, v->len, &ms))
        return ms;
    return DET_TIME_NONE;
}

/*
 * kibana.alert.rule.name: the value of the rule's rule_name_override field in the source when it
 * is a string (Elastic's buildRuleNameFromMapping: lodash get, io-ts string), else the rule
 * name. The returned pointer is r->name exactly when there is no override, so the cached
 * fragment can be used.
 */
static const char *rule_name(const struct rule *r, const struct ev_node *doc, kx_buf *tmp)
{
    const char *name = r->name ? r->name : "";
    const struct ev_node *v = r->rule_name_override ? lodash_get(doc, r->rule_name_override) : NULL;
    if (!v || v->type != EV_STRING)
        return r->name ? r->name : name;
    kx_buf_reset(tmp);
    kx_buf_add(tmp, v->str, v->len);
    return tmp->ptr ? tmp->ptr : "";
}

/* [{id, type: "event", index, depth: 0}]: the source document as the alert's one ancestor. */
static void write_ancestor(kx_jsonw *w, kx_buf *key, const struct ev_node *doc, const char *doc_id)
{
    kx_jsonw_arr_begin(w);
    kx_jsonw_obj_begin(w);
    kx_jsonw_keyc(w, "id");
    if (doc_id) {
        kx_jsonw_strc(w, doc_id);
    } else {
        kx_buf_reset(key);
        det_doc_id(doc, key);
        kx_jsonw_str(w, key->ptr, key->len);
    }
    kv_str(w, "type", "event");
    const struct ev_node *index = doc->type == EV_OBJECT ? last_member(doc, "_index", 6) : NULL;
    if (index && index->type == EV_STRING) {
        kx_jsonw_keyc(w, "index");
        kx_jsonw_str(w, index->str, index->len);
    }
    kx_jsonw_keyc(w, "depth");
    kx_jsonw_int(w, 0);
    kx_jsonw_obj_end(w);
    kx_jsonw_arr_end(w);
}

int det_alert_rule_fragment(const struct rule *r, kx_buf *out)
{
    kx_jsonw jw;
    kx_jsonw_init(&jw, out);
    size_t start = out->len;
    kx_jsonw_obj_begin(&jw);
    write_rule(&jw, r, r->name ? r->name : "");
    kx_jsonw_obj_end(&jw);
    if (kx_jsonw_error(&jw) != KAD_OK)
        return kx_jsonw_error(&jw);
    /* drop the braces: members only */
    memmove(out->ptr + start, out->ptr + start + 1, out->len - start - 2);
    out->len -= 2;
    out->ptr[out->len] = '\0';
    return KAD_OK;
}

static int write_doc(kx_buf *out, const struct rule *r, const struct ev_node *doc,
                     const struct det_alert_extra *x, struct src_cap *cap, kad_err *err)
{
    kx_jsonw jw;
    kx_jsonw *w = &jw;
    kx_jsonw_init(w, out);
    int64_t now = x->timestamp_ms == DET_TIME_NONE ? wall_ms() : x->timestamp_ms;
    /* 0 also means "same as @timestamp" (preview's zero-initialised extras) */
    int64_t last = x->last_detected_ms == DET_TIME_NONE || x->last_detected_ms == 0
                       ? now
                       : x->last_detected_ms;
    kx_buf namebuf;
    kx_buf_init(&namebuf, 0);
    kx_buf reason_local;
    kx_buf *reason = x->reason;
    if (!reason) {
        kx_buf_init(&reason_local, DET_REASON_MAX);
        reason = &reason_local;
    }
    const char *name = rule_name(r, doc, &namebuf);
    build_reason(reason, doc, r, name);

    kx_jsonw_obj_begin(w);
    if (doc->type == EV_OBJECT)
        write_source(w, doc, cap);
    kv_time(w, "@timestamp", now);
    kv_str(w, "event.kind", "signal");
    kx_buf key; /* flattened original_event keys and the ancestor id: bounded by the document */
    kx_buf_init(&key, DET_ALERT_MAX);
    write_original(w, &key, doc, "event", "kibana.alert.original_event", cap);
    write_original(w, &key, doc, "data_stream", "kibana.alert.original_data_stream", cap);

    if (x->building_block)
        kv_str(w, "kibana.alert.building_block_type", "default");
    kx_jsonw_keyc(w, "kibana.alert.ancestors");
    if (x->ancestors_json)
        kx_jsonw_raw(w, x->ancestors_json, strlen(x->ancestors_json));
    else
        write_ancestor(w, &key, doc, x->doc_id);
    int key_err = kx_buf_error(&key);
    kx_buf_fini(&key);
    kx_jsonw_keyc(w, "kibana.alert.depth");
    kx_jsonw_int(w, x->depth > 0 ? x->depth : 1);
    if (x->group_id) {
        kv_str(w, "kibana.alert.group.id", x->group_id);
        if (x->building_block) {
            kx_jsonw_keyc(w, "kibana.alert.group.index");
            kx_jsonw_int(w, x->group_index);
        }
    }
    if (x->instance_id)
        kv_str(w, "kibana.alert.instance.id", x->instance_id);
    /* scheduled runs: the alert's @timestamp; manual runs: the run's intended time */
    kv_time(w, "kibana.alert.intended_timestamp",
            x->intended_ms != DET_TIME_NONE && x->intended_ms != 0 ? x->intended_ms : now);
    kv_time(w, "kibana.alert.last_detected", last);
    if (x->new_terms_json) {
        kx_jsonw_keyc(w, "kibana.alert.new_terms");
        kx_jsonw_raw(w, x->new_terms_json, strlen(x->new_terms_json));
    }
    /* Elastic: new Date(source @timestamp).toISOString(); left out when it is not a date */
    int64_t ot = x->original_ms ? x->original_ms : original_time(doc);
    if (ot != DET_TIME_NONE)
        kv_time(w, "kibana.alert.original_time", ot);
    kx_jsonw_keyc(w, "kibana.alert.reason");
    kx_jsonw_str(w, reason->ptr, reason->len);
    kx_jsonw_keyc(w, "kibana.alert.risk_score");
    kx_jsonw_int(w, r->risk_score);
    if (x->rule_fragment && name == r->name) {
        kx_jsonw_members_raw(w, x->rule_fragment, x->rule_fragment_len);
    } else {
        write_rule(w, r, name);
    }
    kv_time(w, "kibana.alert.rule.execution.timestamp", now);
    kv_str(w, "kibana.alert.rule.execution.type",
           x->execution_type ? x->execution_type : "scheduled");
    if (x->execution_uuid)
        kv_str(w, "kibana.alert.rule.execution.uuid", x->execution_uuid);
    kv_str(w, "kibana.alert.severity", r->severity);
    kv_time(w, "kibana.alert.start", now);
    kv_str(w, "kibana.alert.status", "active");
    if (x->instance_id) {
        kx_jsonw_keyc(w, "kibana.alert.suppression.docs_count");
        kx_jsonw_int(w, (int64_t)x->sup_docs_count);
        kv_time(w, "kibana.alert.suppression.end", x->sup_end_ms);
        kv_time(w, "kibana.alert.suppression.start", x->sup_start_ms);
        if (x->sup_terms_json) {
            kx_jsonw_keyc(w, "kibana.alert.suppression.terms");
            kx_jsonw_raw(w, x->sup_terms_json, strlen(x->sup_terms_json));
        }
    }
    kv_str(w, "kibana.alert.uuid", x->uuid);
    kv_empty_arr(w, "kibana.alert.workflow_assignee_ids");
    kv_str(w, "kibana.alert.workflow_status", "open");
    kv_empty_arr(w, "kibana.alert.workflow_tags");
    kx_jsonw_keyc(w, "kibana.space_ids");
    kx_jsonw_arr_begin(w);
    kx_jsonw_strc(w, "default");
    kx_jsonw_arr_end(w);
    if (x->event_ms != DET_TIME_NONE)
        kv_time(w, "kadet.event_time", x->event_ms);
    if (x->baseline_json) {
        kx_jsonw_keyc(w, "kadet.baseline");
        kx_jsonw_raw(w, x->baseline_json, strlen(x->baseline_json));
    }
    if (cap->strings || cap->values) {
        kx_jsonw_keyc(w, "kadet.truncated");
        kx_jsonw_obj_begin(w);
        kx_jsonw_keyc(w, "strings");
        kx_jsonw_int(w, (int64_t)cap->strings);
        kx_jsonw_keyc(w, "string_max_bytes");
        kx_jsonw_int(w, (int64_t)cap->str_max);
        kx_jsonw_keyc(w, "array_values_dropped");
        kx_jsonw_int(w, (int64_t)cap->values);
        kx_jsonw_keyc(w, "array_max_values");
        kx_jsonw_int(w, (int64_t)cap->arr_max);
        kx_jsonw_obj_end(w);
    }
    kx_jsonw_obj_end(w);
    int reason_err = kx_buf_error(reason);
    if (reason == &reason_local)
        kx_buf_fini(&reason_local);
    kx_buf_fini(&namebuf);
    if (key_err != KAD_OK)
        return kx_err_setf(err, key_err, "alert field name longer than %zu bytes", DET_ALERT_MAX);
    if (reason_err != KAD_OK) /* cannot happen: every part of the reason is bounded */
        return kx_err_setf(err, reason_err, "alert reason larger than %zu bytes", DET_REASON_MAX);
    if (kx_jsonw_error(w) != KAD_OK)
        return kx_err_setf(err, KAD_ELIMIT, "alert document larger than %zu bytes", out->max);
    return KAD_OK;
}

/*
 * The alert document into out (appended at out->len). When it passes out's limit
 * (DET_ALERT_MAX), the source's values are copied with the caps of DET_CAPS, each smaller than
 * the last, until it fits: an oversized event still gives its alert (with kadet.truncated)
 * instead of stopping every run at the same record.
 */
int det_alert_write(kx_buf *out, const struct rule *r, const struct ev_node *doc,
                    const struct det_alert_extra *x, kad_err *err)
{
    static const struct {
        size_t str_max, arr_max;
    } caps[] = {
        {SIZE_MAX, SIZE_MAX},
        {DET_CAP_STRING_MAX, DET_CAP_ARRAY_MAX},
        {1024, 64},
    };
    size_t start = out->len;
    int rc = KAD_OK;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        struct src_cap cap = {caps[i].str_max, caps[i].arr_max, 0, 0};
        rc = write_doc(out, r, doc, x, &cap, err);
        if (rc != KAD_ELIMIT || kx_buf_error(out) != KAD_ELIMIT || start != 0)
            return rc;
        kx_buf_reset(out); /* too large: again with smaller caps */
        if (err)
            kad_err_clear(err);
    }
    return kx_err_setf(err, KAD_ELIMIT, "alert document larger than %zu bytes", out->max);
}

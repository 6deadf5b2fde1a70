/*
 * rule_load.c - one detection-rules TOML file -> one struct rule, with every problem reported.
 *
 * The format is elastic/detection-rules': a [metadata] table and a [rule] table (plus an
 * optional [transform] table, which kadet ignores). Keys are checked against the schema tables
 * below (redis's static_configs[] / nginx's ngx_command_t idea): unknown keys are warnings,
 * wrong types and missing required keys are errors. Then values are validated as Elastic does
 * (severity, risk score, date math, 1-3 distinct new-terms fields, history window before
 * `from`), and the query is compiled with kql_compile(); a KQL error is placed at the line and
 * column of the offending character inside the .toml file.
 *
 * Loading goes on after an error so that all problems of a file are reported at once; a rule
 * with any error is not added to the set. The file is parsed into a scratch arena; everything a
 * rule keeps is copied into the set's arena.
 */
#include "rule/rule_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schema ---------------------------------------------------------------------------------- */

enum {
    T_STR = 1,
    T_STRS,        /* array of strings */
    T_STR_OR_STRS, /* string or array of strings */
    T_INT,
    T_BOOL,
    T_TABLE,
    T_TABLES, /* array of tables */
    T_ARRAY,  /* array of anything */
};

enum {
    REQ = 1,     /* always required */
    REQ_KQL = 2, /* required when the rule type runs a query */
};

struct key_def {
    const char *key;
    uint8_t type;
    uint8_t flags;
};

static const struct key_def metadata_keys[] = {
    {"creation_date", T_STR, REQ},
    {"updated_date", T_STR, REQ},
    {"maturity", T_STR, REQ},
    {"integration", T_STR_OR_STRS, 0},
    {"min_stack_version", T_STR, 0},
    {"min_stack_comments", T_STR, 0},
    {"deprecation_date", T_STR, 0},
    {"comments", T_STR, 0},
    {"query_schema_validation", T_BOOL, 0},
    {"bypass_bbr_timing", T_BOOL, 0},
    {"promotion", T_BOOL, 0},
    {"os_type_list", T_STRS, 0},
    {NULL, 0, 0},
};

static const struct key_def rule_keys[] = {
    /* common to every rule type */
    {"author", T_STRS, REQ},
    {"description", T_STR, REQ},
    {"name", T_STR, REQ},
    {"risk_score", T_INT, REQ},
    {"rule_id", T_STR, REQ},
    {"severity", T_STR, REQ},
    {"type", T_STR, REQ},
    {"license", T_STR, 0},
    {"from", T_STR, 0},
    {"to", T_STR, 0},
    {"interval", T_STR, 0},
    {"max_signals", T_INT, 0},
    {"index", T_STRS, 0},
    {"data_view_id", T_STR, 0},
    {"timestamp_override", T_STR, 0},
    {"timestamp_override_fallback_disabled", T_BOOL, 0},
    {"tags", T_STRS, 0},
    {"references", T_STRS, 0},
    {"false_positives", T_STRS, 0},
    {"note", T_STR, 0},
    {"setup", T_STR, 0},
    {"threat", T_TABLES, 0},
    {"exceptions_list", T_TABLES, 0},
    {"building_block_type", T_STR, 0},
    {"enabled", T_BOOL, 0},
    {"meta", T_TABLE, 0},
    {"output_index", T_STR, 0},
    {"namespace", T_STR, 0},
    {"related_integrations", T_TABLES, 0},
    {"required_fields", T_TABLES, 0},
    {"risk_score_mapping", T_TABLES, 0},
    {"severity_mapping", T_TABLES, 0},
    {"rule_name_override", T_STR, 0},
    {"timeline_id", T_STR, 0},
    {"timeline_title", T_STR, 0},
    {"version", T_INT, 0},
    {"investigation_fields", T_TABLE, 0},
    {"alert_suppression", T_TABLE, 0},
    {"actions", T_ARRAY, 0},
    {"throttle", T_STR, 0},
    /* query-like types */
    {"language", T_STR, REQ_KQL},
    {"query", T_STR, REQ_KQL},
    {"filters", T_ARRAY, 0},
    /* new_terms */
    {"new_terms", T_TABLE, 0},
    /* types kadet loads but does not run */
    {"threshold", T_TABLE, 0},
    {"event_category_override", T_STR, 0},
    {"tiebreaker_field", T_STR, 0},
    {"timestamp_field", T_STR, 0},
    {"anomaly_threshold", T_INT, 0},
    {"machine_learning_job_id", T_STR_OR_STRS, 0},
    {"threat_index", T_STRS, 0},
    {"threat_query", T_STR, 0},
    {"threat_mapping", T_TABLES, 0},
    {"threat_filters", T_ARRAY, 0},
    {"threat_indicator_path", T_STR, 0},
    {"threat_language", T_STR, 0},
    {"concurrent_searches", T_INT, 0},
    {"items_per_search", T_INT, 0},
    {NULL, 0, 0},
};

static const char *const top_tables[] = {"metadata", "rule", "transform", NULL};

/* ---- one file being loaded ------------------------------------------------------------------- */

struct ld {
    struct rule_set *rs;
    const char *path;
    const char *text;
    size_t len;
    const char *label; /* rule name for messages, or NULL */
    int errors;
    struct rule *r;
};

static void vdiag(struct ld *L, bool is_error, size_t offset, const char *fmt, va_list ap)
{
    char msg[KAD_ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (L->label)
        rs_diag(L->rs, is_error, L->path, L->text, L->len, offset, "rule '%s': %s", L->label, msg);
    else
        rs_diag(L->rs, is_error, L->path, L->text, L->len, offset, "%s", msg);
    if (is_error)
        L->errors++;
}

__attribute__((format(printf, 3, 4))) static void error_at(struct ld *L, size_t offset,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(L, true, offset, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void warn_at(struct ld *L, size_t offset,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(L, false, offset, fmt, ap);
    va_end(ap);
}

/* Offset of the key naming `v` in table t (for messages about that value), else of v. */
static size_t key_pos(const struct toml_value *t, const struct toml_value *v)
{
    if (!v)
        return t->offset;
    for (size_t i = 0; t && i < t->len; i++)
        if (t->u.members[i].val == v)
            return t->u.members[i].offset;
    return v->offset;
}

static const char *a_kind(int type)
{
    switch (type) {
    case T_STR: return "a string";
    case T_STRS: return "an array of strings";
    case T_STR_OR_STRS: return "a string or an array of strings";
    case T_INT: return "an integer";
    case T_BOOL: return "a boolean";
    case T_TABLE: return "a table";
    case T_TABLES: return "an array of tables";
    default: return "an array";
    }
}

static const char *a_toml(int type)
{
    switch (type) {
    case TOML_STRING: return "a string";
    case TOML_INTEGER: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOL: return "a boolean";
    case TOML_ARRAY: return "an array";
    case TOML_TABLE: return "a table";
    default: return "a date";
    }
}

static bool all_items(const struct toml_value *v, int type, size_t *bad)
{
    for (size_t i = 0; i < v->len; i++) {
        if (v->u.items[i]->type != type) {
            *bad = i;
            return false;
        }
    }
    return true;
}

/* Type of v against the schema; reports and returns false on mismatch. */
static bool check_type(struct ld *L, const char *qual, const char *key, size_t pos,
                       const struct toml_value *v, int want)
{
    size_t bad = 0;
    bool ok;
    switch (want) {
    case T_STR: ok = v->type == TOML_STRING; break;
    case T_INT: ok = v->type == TOML_INTEGER; break;
    case T_BOOL: ok = v->type == TOML_BOOL; break;
    case T_TABLE: ok = v->type == TOML_TABLE; break;
    case T_ARRAY: ok = v->type == TOML_ARRAY; break;
    case T_STRS:
    case T_TABLES:
    case T_STR_OR_STRS:
        if (want == T_STR_OR_STRS && v->type == TOML_STRING)
            return true;
        if (v->type != TOML_ARRAY) {
            ok = false;
            break;
        }
        if (!all_items(v, want == T_TABLES ? TOML_TABLE : TOML_STRING, &bad)) {
            error_at(L, pos, "key '%s%s' must be %s (item %zu is %s)", qual, key, a_kind(want),
                     bad + 1, a_toml(v->u.items[bad]->type));
            return false;
        }
        return true;
    default: ok = false; break;
    }
    if (!ok)
        error_at(L, pos, "key '%s%s' must be %s, not %s", qual, key, a_kind(want), a_toml(v->type));
    return ok;
}

static const struct key_def *find_def(const struct key_def *defs, const char *key, size_t klen)
{
    for (; defs->key; defs++)
        if (strlen(defs->key) == klen && memcmp(defs->key, key, klen) == 0)
            return defs;
    return NULL;
}

/* Unknown keys (warnings) and types (errors) of every member of t. */
static void check_members(struct ld *L, const struct toml_value *t, const struct key_def *defs,
                          const char *qual)
{
    for (size_t i = 0; i < t->len; i++) {
        const struct toml_member *m = &t->u.members[i];
        const struct key_def *d = find_def(defs, m->key, m->klen);
        if (!d)
            warn_at(L, m->offset, "unknown key '%s%s' (ignored)", qual, m->key);
        else
            check_type(L, qual, d->key, m->offset, m->val, d->type);
    }
}

static void check_required(struct ld *L, const struct toml_value *t, const struct key_def *defs,
                           const char *qual, bool runs_kql)
{
    for (; defs->key; defs++) {
        bool req = (defs->flags & REQ) || ((defs->flags & REQ_KQL) && runs_kql);
        if (req && !toml_get(t, defs->key))
            error_at(L, t->offset, "missing required key '%s%s'", qual, defs->key);
    }
}

/* Typed getters: NULL/default when absent or of the wrong type (already reported). */
static const char *get_str(struct ld *L, const struct toml_value *t, const char *key)
{
    const struct toml_value *v = toml_get(t, key);
    if (!v || v->type != TOML_STRING)
        return NULL;
    return kx_arena_strndup(&L->rs->arena, v->u.s, v->len);
}

static struct rule_strlist get_strs(struct ld *L, const struct toml_value *t, const char *key)
{
    struct rule_strlist out = {NULL, 0};
    const struct toml_value *v = toml_get(t, key);
    if (v && v->type == TOML_STRING) {
        out.v = kx_arena_alloc(&L->rs->arena, sizeof *out.v);
        out.v[0] = kx_arena_strndup(&L->rs->arena, v->u.s, v->len);
        out.n = 1;
        return out;
    }
    size_t bad;
    if (!v || v->type != TOML_ARRAY || !all_items(v, TOML_STRING, &bad))
        return out;
    out.v = kx_arena_alloc(&L->rs->arena, (v->len ? v->len : 1) * sizeof *out.v);
    for (size_t i = 0; i < v->len; i++)
        out.v[i] = kx_arena_strndup(&L->rs->arena, v->u.items[i]->u.s, v->u.items[i]->len);
    out.n = v->len;
    return out;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* ---- metadata -------------------------------------------------------------------------------- */

static bool is_slash_date(const char *s)
{
    /* YYYY/MM/DD */
    if (strlen(s) != 10 || s[4] != '/' || s[7] != '/')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static void load_metadata(struct ld *L, const struct toml_value *meta)
{
    static const char *const maturities[] = {"development", "experimental", "beta",
                                             "production",  "deprecated",   NULL};
    struct rule *r = L->r;
    check_members(L, meta, metadata_keys, "metadata.");
    check_required(L, meta, metadata_keys, "metadata.", false);
    r->creation_date = get_str(L, meta, "creation_date");
    r->updated_date = get_str(L, meta, "updated_date");
    r->maturity = get_str(L, meta, "maturity");
    r->integration = get_strs(L, meta, "integration");
    const char *dk[] = {"creation_date", "updated_date", "deprecation_date"};
    for (size_t i = 0; i < 3; i++) {
        const struct toml_value *v = toml_get(meta, dk[i]);
        if (v && v->type == TOML_STRING && !is_slash_date(v->u.s))
            error_at(L, key_pos(meta, v), "metadata.%s must be a date written YYYY/MM/DD, not '%s'",
                     dk[i], v->u.s);
    }
    if (r->maturity && !in_list(r->maturity, maturities))
        error_at(L, key_pos(meta, toml_get(meta, "maturity")),
                 "metadata.maturity must be one of development, experimental, beta, production, "
                 "deprecated, not '%s'",
                 r->maturity);
}

/* ---- threat (MITRE ATT&CK mapping) ----------------------------------------------------------- */

/* One {id, name, reference} entry; written to w. Returns false on a problem (reported). */
static bool attack_entry(struct ld *L, const struct toml_value *t, const char *what, kx_jsonw *w)
{
    static const char *const keys[] = {"id", "name", "reference"};
    bool ok = true;
    for (size_t i = 0; i < 3; i++) {
        const struct toml_value *v = toml_get(t, keys[i]);
        if (!v) {
            error_at(L, t->offset, "%s: missing required key '%s'", what, keys[i]);
            ok = false;
        } else if (v->type != TOML_STRING) {
            error_at(L, key_pos(t, v), "%s: key '%s' must be a string, not %s", what, keys[i],
                     a_toml(v->type));
            ok = false;
        } else {
            kx_jsonw_keyc(w, keys[i]);
            kx_jsonw_str(w, v->u.s, v->len);
        }
    }
    return ok;
}

static void load_threat(struct ld *L, const struct toml_value *rule)
{
    kx_buf b;
    /* the threat text comes from the file: escaping makes a byte at most 6, so it always fits */
    kx_buf_init(&b, RULE_MAX_FILE * 6 + 64);
    kx_jsonw w;
    kx_jsonw_init(&w, &b);
    kx_jsonw_arr_begin(&w);
    const struct toml_value *threat = toml_get(rule, "threat");
    size_t bad;
    if (threat && threat->type == TOML_ARRAY && all_items(threat, TOML_TABLE, &bad)) {
        for (size_t i = 0; i < threat->len; i++) {
            const struct toml_value *t = threat->u.items[i];
            char what[64];
            snprintf(what, sizeof what, "threat[%zu]", i + 1);
            kx_jsonw_obj_begin(&w);
            const struct toml_value *fw = toml_get(t, "framework");
            if (!fw || fw->type != TOML_STRING) {
                error_at(L, fw ? key_pos(t, fw) : t->offset,
                         "%s: key 'framework' must be a string such as \"MITRE ATT&CK\"", what);
            } else {
                kx_jsonw_keyc(&w, "framework");
                kx_jsonw_str(&w, fw->u.s, fw->len);
            }
            const struct toml_value *tac = toml_get(t, "tactic");
            if (!tac || tac->type != TOML_TABLE) {
                error_at(L, tac ? key_pos(t, tac) : t->offset, "%s: missing table 'tactic'", what);
            } else {
                char w2[80];
                snprintf(w2, sizeof w2, "%s.tactic", what);
                kx_jsonw_keyc(&w, "tactic");
                kx_jsonw_obj_begin(&w);
                attack_entry(L, tac, w2, &w);
                kx_jsonw_obj_end(&w);
            }
            const struct toml_value *tech = toml_get(t, "technique");
            kx_jsonw_keyc(&w, "technique");
            kx_jsonw_arr_begin(&w);
            if (tech && (tech->type != TOML_ARRAY || !all_items(tech, TOML_TABLE, &bad))) {
                error_at(L, key_pos(t, tech), "%s: key 'technique' must be an array of tables",
                         what);
            } else {
                for (size_t k = 0; tech && k < tech->len; k++) {
                    const struct toml_value *te = tech->u.items[k];
                    char w2[96];
                    snprintf(w2, sizeof w2, "%s.technique[%zu]", what, k + 1);
                    kx_jsonw_obj_begin(&w);
                    attack_entry(L, te, w2, &w);
                    const struct toml_value *sub = toml_get(te, "subtechnique");
                    if (sub && (sub->type != TOML_ARRAY || !all_items(sub, TOML_TABLE, &bad))) {
                        error_at(L, key_pos(te, sub),
                                 "%s: key 'subtechnique' must be an array of tables", w2);
                    } else if (sub) {
                        kx_jsonw_keyc(&w, "subtechnique");
                        kx_jsonw_arr_begin(&w);
                        for (size_t s = 0; s < sub->len; s++) {
                            char w3[160];
                            snprintf(w3, sizeof w3, "%s.subtechnique[%zu]", w2, s + 1);
                            kx_jsonw_obj_begin(&w);
                            attack_entry(L, sub->u.items[s], w3, &w);
                            kx_jsonw_obj_end(&w);
                        }
                        kx_jsonw_arr_end(&w);
                    }
                    kx_jsonw_obj_end(&w);
                }
            }
            kx_jsonw_arr_end(&w);
            kx_jsonw_obj_end(&w);
        }
    }
    kx_jsonw_arr_end(&w);
    bool ok = b.ptr && kx_jsonw_error(&w) == KAD_OK; /* alerts insert it as raw JSON */
    L->r->threat_json = kx_arena_strndup(&L->rs->arena, ok ? b.ptr : "[]", ok ? b.len : 2);
    kx_buf_fini(&b);
}

/* ---- exceptions_list, alert_suppression ------------------------------------------------------ */

static void load_exceptions_list(struct ld *L, const struct toml_value *rule)
{
    const struct toml_value *el = toml_get(rule, "exceptions_list");
    size_t bad;
    if (!el || el->type != TOML_ARRAY || !all_items(el, TOML_TABLE, &bad))
        return;
    struct rule_strlist *out = &L->r->exceptions_list;
    out->v = kx_arena_alloc(&L->rs->arena, (el->len ? el->len : 1) * sizeof *out->v);
    for (size_t i = 0; i < el->len; i++) {
        const struct toml_value *e = el->u.items[i];
        const struct toml_value *id = toml_get(e, "list_id");
        if (!id || id->type != TOML_STRING) {
            error_at(L, id ? key_pos(e, id) : e->offset,
                     "exceptions_list[%zu]: key 'list_id' must be a string", i + 1);
            continue;
        }
        out->v[out->n++] = kx_arena_strndup(&L->rs->arena, id->u.s, id->len);
    }
}

static void load_suppression(struct ld *L, const struct toml_value *rule)
{
    const struct toml_value *as = toml_get(rule, "alert_suppression");
    if (!as || as->type != TOML_TABLE)
        return;
    struct rule *r = L->r;
    const struct toml_value *gb = toml_get(as, "group_by");
    size_t bad;
    if (!gb || gb->type != TOML_ARRAY || !all_items(gb, TOML_STRING, &bad) || gb->len < 1 ||
        gb->len > 3)
        error_at(L, gb ? key_pos(as, gb) : as->offset,
                 "alert_suppression.group_by must list 1 to 3 field names");
    else
        r->suppress_group_by = get_strs(L, as, "group_by");
    const struct toml_value *du = toml_get(as, "duration");
    if (du) {
        const struct toml_value *val = toml_get(du, "value"), *unit = toml_get(du, "unit");
        int64_t mult = 0;
        if (unit && unit->type == TOML_STRING)
            mult = strcmp(unit->u.s, "s") == 0   ? 1000
                   : strcmp(unit->u.s, "m") == 0 ? 60000
                   : strcmp(unit->u.s, "h") == 0 ? 3600000
                                                 : 0;
        if (du->type != TOML_TABLE || !val || val->type != TOML_INTEGER || val->u.i <= 0 ||
            val->u.i > 1000000 || !mult)
            error_at(L, key_pos(as, du),
                     "alert_suppression.duration must be a table { value = N, unit = \"s\"|\"m\"|"
                     "\"h\" }");
        else
            r->suppress_duration_ms = val->u.i * mult;
    }
    const struct toml_value *mf = toml_get(as, "missing_fields_strategy");
    if (mf) {
        if (mf->type == TOML_STRING && strcmp(mf->u.s, "suppress") == 0)
            r->suppress_missing = RULE_SUPPRESS_MISSING;
        else if (mf->type == TOML_STRING && strcmp(mf->u.s, "doNotSuppress") == 0)
            r->suppress_missing = RULE_DO_NOT_SUPPRESS_MISSING;
        else
            error_at(L, key_pos(as, mf),
                     "alert_suppression.missing_fields_strategy must be \"suppress\" or "
                     "\"doNotSuppress\"");
    }
    for (size_t i = 0; i < as->len; i++) {
        const char *k = as->u.members[i].key;
        if (strcmp(k, "group_by") && strcmp(k, "duration") && strcmp(k, "missing_fields_strategy"))
            warn_at(L, as->u.members[i].offset, "unknown key 'alert_suppression.%s' (ignored)", k);
    }
}

/* ---- schedule and new terms ------------------------------------------------------------------ */

/* line:col of byte offset pos of the file being loaded */
static void locate(struct ld *L, size_t pos, uint32_t *line, uint32_t *col)
{
    kx_locate(L->text, L->len, pos, line, col);
}

static void load_schedule(struct ld *L, const struct toml_value *rule)
{
    struct rule *r = L->r;
    kad_err e;
    kad_err_clear(&e);
    r->from = get_str(L, rule, "from");
    if (!r->from)
        r->from = "now-6m";
    int64_t ms;
    bool abs, exact;
    const struct toml_value *fv = toml_get(rule, "from");
    size_t fpos = fv ? key_pos(rule, fv) : rule->offset;
    r->from_abs_ms = INT64_MIN;
    if (fv)
        locate(L, fpos, &r->from_line, &r->from_col);
    if (rule_datemath_info(r->from, &ms, &abs, &exact, &e) != KAD_OK)
        error_at(L, fpos, "from: %s", e.msg);
    else if (abs)
        r->from_abs_ms = ms; /* a fixed start: the range grows with each execution */
    else if (ms >= 0)
        error_at(L, fpos, "from must be a time before now such as now-6m, not '%s'", r->from);
    else
        r->from_ms = -ms;

    r->to = get_str(L, rule, "to");
    if (!r->to)
        r->to = "now";
    const struct toml_value *tv = toml_get(rule, "to");
    if (tv)
        locate(L, key_pos(rule, tv), &r->to_line, &r->to_col);
    if (rule_parse_datemath(r->to, &ms, &abs, &e) != KAD_OK)
        error_at(L, key_pos(rule, tv), "to: %s", e.msg);

    r->interval = get_str(L, rule, "interval");
    if (!r->interval)
        r->interval = "5m";
    const struct toml_value *iv = toml_get(rule, "interval");
    if (rule_parse_duration(r->interval, &r->interval_ms, &e) != KAD_OK)
        error_at(L, key_pos(rule, iv), "interval: %s", e.msg);

    r->max_signals = 100;
    const struct toml_value *mv = toml_get(rule, "max_signals");
    if (mv && mv->type == TOML_INTEGER) {
        if (mv->u.i < 1 || mv->u.i > 100000)
            error_at(L, key_pos(rule, mv), "max_signals must be between 1 and 100000, not %lld",
                     (long long)mv->u.i);
        else
            r->max_signals = (int)mv->u.i;
    }
}

static const char *hws_value(struct ld *L, const struct toml_value *nt,
                             const struct toml_value **pos)
{
    const struct toml_value *h = toml_get(nt, "history_window_start");
    *pos = h;
    if (!h)
        return NULL;
    if (h->type == TOML_STRING)
        return h->u.s;
    /* detection-rules writes [[rule.new_terms.history_window_start]] field/value pairs */
    size_t bad;
    if (h->type == TOML_ARRAY && h->len == 1 && all_items(h, TOML_TABLE, &bad)) {
        const struct toml_value *e = h->u.items[0];
        const struct toml_value *f = toml_get(e, "field"), *v = toml_get(e, "value");
        if (f && f->type == TOML_STRING && strcmp(f->u.s, "history_window_start") == 0 && v &&
            v->type == TOML_STRING) {
            *pos = v;
            return v->u.s;
        }
    }
    error_at(L, key_pos(nt, h),
             "new_terms.history_window_start must be one table { field = "
             "\"history_window_start\", value = \"now-10d\" }");
    return "";
}

static void load_new_terms(struct ld *L, const struct toml_value *rule)
{
    struct rule *r = L->r;
    const struct toml_value *nt = toml_get(rule, "new_terms");
    if (!nt) {
        error_at(L, rule->offset,
                 "missing required key 'new_terms' (a new_terms rule needs "
                 "[rule.new_terms])");
        return;
    }
    if (nt->type != TOML_TABLE)
        return; /* reported by the schema check */
    const struct toml_value *f = toml_get(nt, "field");
    if (!f)
        error_at(L, nt->offset, "missing required key 'new_terms.field'");
    else if (f->type != TOML_STRING || strcmp(f->u.s, "new_terms_fields") != 0)
        error_at(L, key_pos(nt, f), "new_terms.field must be \"new_terms_fields\"");
    const struct toml_value *v = toml_get(nt, "value");
    size_t bad;
    if (!v) {
        error_at(L, nt->offset, "missing required key 'new_terms.value'");
    } else if (v->type != TOML_ARRAY || !all_items(v, TOML_STRING, &bad)) {
        error_at(L, key_pos(nt, v), "new_terms.value must be an array of field names");
    } else if (v->len < 1 || v->len > 3) {
        error_at(L, key_pos(nt, v), "new_terms.value must list 1 to 3 fields, not %zu", v->len);
    } else {
        bool ok = true;
        for (size_t i = 0; i < v->len; i++) {
            if (v->u.items[i]->len == 0) {
                error_at(L, key_pos(nt, v), "new_terms.value: field %zu is empty", i + 1);
                ok = false;
            }
            for (size_t j = 0; j < i; j++)
                if (strcmp(v->u.items[i]->u.s, v->u.items[j]->u.s) == 0) {
                    error_at(L, key_pos(nt, v),
                             "new_terms.value lists field '%s' twice: the fields must be "
                             "distinct",
                             v->u.items[i]->u.s);
                    ok = false;
                }
        }
        if (ok)
            r->new_terms_fields = get_strs(L, nt, "value");
    }
    const struct toml_value *hpos;
    const char *h = hws_value(L, nt, &hpos);
    r->history_window_abs_ms = INT64_MIN;
    if (!h) {
        error_at(L, nt->offset, "missing required key 'new_terms.history_window_start'");
    } else if (*h) {
        size_t pos = hpos->type == TOML_STRING ? hpos->offset : key_pos(nt, hpos);
        r->history_window_start = kx_arena_strndup(&L->rs->arena, h, strlen(h));
        kad_err e;
        kad_err_clear(&e);
        int64_t ms;
        bool abs;
        bool exact, from_abs = false, from_exact = false;
        int64_t fms;
        locate(L, pos, &r->hws_line, &r->hws_col);
        if (rule_datemath_info(r->from, &fms, &from_abs, &from_exact, NULL) != KAD_OK)
            from_exact = false;
        if (rule_datemath_info(h, &ms, &abs, &exact, &e) != KAD_OK) {
            error_at(L, pos,
                     "new_terms.history_window_start: Failed to parse "
                     "'historyWindowStart': %s",
                     e.msg);
        } else if (abs) {
            r->history_window_abs_ms = ms;
        } else if (ms >= 0) {
            error_at(L, pos,
                     "new_terms.history_window_start must be a time before now such as "
                     "now-10d, not '%s'",
                     h);
        } else {
            r->history_window_ms = -ms;
            /* Elastic's validateHistoryWindowStart: history start must be before `from`. When
               both are fixed offsets from now the answer is the same at every execution and the
               rule is refused here, as Kibana refuses to save it; otherwise (an absolute time,
               rounding, months) it depends on the execution's time: rule_exec_window. */
            if (exact && !from_abs && from_exact && r->from_ms > 0 &&
                r->history_window_ms <= r->from_ms)
                error_at(L, pos,
                         "History window size is smaller than rule interval + additional "
                         "lookback, 'historyWindowStart' must be earlier than 'from' (%s is "
                         "not earlier than %s)",
                         h, r->from);
        }
    }
    for (size_t i = 0; i < nt->len; i++) {
        const char *k = nt->u.members[i].key;
        if (strcmp(k, "field") && strcmp(k, "value") && strcmp(k, "history_window_start"))
            warn_at(L, nt->u.members[i].offset, "unknown key 'new_terms.%s' (ignored)", k);
    }
}

/* ---- query ----------------------------------------------------------------------------------- */

size_t rule_kql_err_pos(const char *text, size_t len, const struct toml_value *qv, const kad_err *e)
{
    const char *q = qv->u.s;
    size_t off = 0;
    if (e->offset >= 0) {
        off = (size_t)e->offset;
    } else if (e->line >= 1 && e->col >= 1) {
        uint32_t line = 1;
        size_t i = 0;
        while (i < qv->len && line < e->line)
            if (q[i++] == '\n')
                line++;
        off = i + e->col - 1;
    }
    /* "end of input" errors point just after the last token, not at the closing quotes */
    size_t end = qv->len;
    while (end &&
           (q[end - 1] == ' ' || q[end - 1] == '\t' || q[end - 1] == '\n' || q[end - 1] == '\r'))
        end--;
    if (off > end)
        off = end;
    return toml_str_source_offset(text, len, qv, off);
}

static void compile_eql(struct ld *L, const struct toml_value *qv)
{
    struct rule *r = L->r;
    kad_err e;
    kad_err_clear(&e);
    r->eql = eql_compile(&L->rs->arena, r->query, strlen(r->query), L->path, &e);
    if (!r->eql)
        error_at(L, rule_kql_err_pos(L->text, L->len, qv, &e), "query: %s",
                 e.msg[0] ? e.msg : kad_strerror(e.code));
}

static void compile_query(struct ld *L, const struct toml_value *qv)
{
    struct rule *r = L->r;
    kad_err e;
    kad_err_clear(&e);
    r->kql = kql_compile(&L->rs->arena, r->query, strlen(r->query), L->path, &e);
    if (!r->kql)
        error_at(L, rule_kql_err_pos(L->text, L->len, qv, &e), "query: %s",
                 e.msg[0] ? e.msg : kad_strerror(e.code));
    else
        rule_lint_collect(L->rs, r, L->text, L->len, qv);
}

static void compile_esql(struct ld *L, const struct toml_value *qv)
{
    struct rule *r = L->r;
    kad_err e;
    kad_err_clear(&e);
    r->esql = esql_compile(&L->rs->arena, r->query, strlen(r->query), L->path, &e);
    if (!r->esql)
        error_at(L, rule_kql_err_pos(L->text, L->len, qv, &e), "query: %s",
                 e.msg[0] ? e.msg : kad_strerror(e.code));
}

/* ---- logic hash ------------------------------------------------------------------------------ */

static uint64_t mix(uint64_t h, const char *s)
{
    s = s ? s : "";
    h = kx_hash64(s, strlen(s), h);
    return kx_hash64("\x1f", 1, h);
}

static void compute_logic_hash(struct rule *r)
{
    uint64_t h = 0x6b616465746c6f67ull;
    h = mix(h, r->type_name);
    h = mix(h, r->language);
    kx_str q = kx_str_trim(kx_str_c(r->query ? r->query : ""));
    h = kx_hash64(q.ptr, q.len, h);
    h = mix(h, "|fields");
    for (size_t i = 0; i < r->new_terms_fields.n; i++)
        h = mix(h, r->new_terms_fields.v[i]);
    h = mix(h, "|window");
    h = mix(h, r->history_window_start);
    h = mix(h, "|exceptions");
    for (size_t i = 0; i < r->exceptions_list.n; i++)
        h = mix(h, r->exceptions_list.v[i]);
    r->logic_hash = h;
}

/* ---- the rule -------------------------------------------------------------------------------- */

static void load_rule_table(struct ld *L, const struct toml_value *rule)
{
    static const char *const severities[] = {"low", "medium", "high", "critical", NULL};
    struct rule *r = L->r;
    const struct toml_value *tv = toml_get(rule, "type");
    const struct rule_type_def *def = NULL;
    if (tv && tv->type == TOML_STRING) {
        def = rule_type_find(tv->u.s);
        if (!def)
            error_at(L, key_pos(rule, tv),
                     "unknown rule type '%s' (known: query, new_terms, eql, esql, threshold, "
                     "machine_learning, threat_match, saved_query)",
                     tv->u.s);
    }
    check_members(L, rule, rule_keys, "");
    check_required(L, rule, rule_keys, "", def ? def->runs_kql || def->runs_eql : false);

    r->type_name = get_str(L, rule, "type");
    r->type = def ? def->type : RULE_UNSUPPORTED;
    r->rule_id = get_str(L, rule, "rule_id");
    r->name = get_str(L, rule, "name");
    r->description = get_str(L, rule, "description");
    r->severity = get_str(L, rule, "severity");
    r->language = get_str(L, rule, "language");
    r->query = get_str(L, rule, "query");
    r->note = get_str(L, rule, "note");
    r->setup = get_str(L, rule, "setup");
    r->license = get_str(L, rule, "license");
    r->timestamp_override = get_str(L, rule, "timestamp_override");
    r->building_block_type = get_str(L, rule, "building_block_type");
    r->rule_name_override = get_str(L, rule, "rule_name_override");
    r->index = get_strs(L, rule, "index");
    r->tags = get_strs(L, rule, "tags");
    r->references = get_strs(L, rule, "references");
    r->false_positives = get_strs(L, rule, "false_positives");
    r->author = get_strs(L, rule, "author");
    const struct toml_value *v;
    r->enabled = true;
    if ((v = toml_get(rule, "enabled")) && v->type == TOML_BOOL)
        r->enabled = v->u.b;
    if ((v = toml_get(rule, "timestamp_override_fallback_disabled")) && v->type == TOML_BOOL)
        r->timestamp_override_fallback_disabled = v->u.b;

    if (r->name && !r->name[0])
        error_at(L, key_pos(rule, toml_get(rule, "name")), "name must not be empty");
    if (r->rule_id && !r->rule_id[0])
        error_at(L, key_pos(rule, toml_get(rule, "rule_id")), "rule_id must not be empty");
    if ((v = toml_get(rule, "risk_score")) && v->type == TOML_INTEGER) {
        if (v->u.i < 0 || v->u.i > 100)
            error_at(L, key_pos(rule, v), "risk_score must be between 0 and 100, not %lld",
                     (long long)v->u.i);
        else
            r->risk_score = (int)v->u.i;
    }
    if (r->severity && !in_list(r->severity, severities))
        error_at(L, key_pos(rule, toml_get(rule, "severity")),
                 "severity must be one of low, medium, high, critical, not '%s'", r->severity);
    if ((v = toml_get(rule, "version")) && v->type == TOML_INTEGER) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v->u.i);
        r->version = rs_strdup(L->rs, buf);
    } else {
        r->version = r->updated_date;
    }
    if (r->timestamp_override && !r->timestamp_override[0])
        error_at(L, key_pos(rule, toml_get(rule, "timestamp_override")),
                 "timestamp_override must not be empty");

    load_schedule(L, rule);
    load_threat(L, rule);
    load_exceptions_list(L, rule);
    load_suppression(L, rule);
    if (r->type == RULE_NEW_TERMS)
        load_new_terms(L, rule);

    const struct toml_value *qv = toml_get(rule, "query");
    if (def && def->runs_kql && r->language && qv && qv->type == TOML_STRING) {
        if (strcmp(r->language, "kuery") == 0) {
            compile_query(L, qv);
        } else if (strcmp(r->language, "lucene") == 0) {
            if (!L->errors)
                warn_at(L, key_pos(rule, toml_get(rule, "language")),
                        "query language 'lucene' is not supported: rule loaded, not run");
            r->type = RULE_UNSUPPORTED;
        } else {
            error_at(L, key_pos(rule, toml_get(rule, "language")),
                     "language must be \"kuery\" (or \"lucene\") for a %s rule, not '%s'",
                     r->type_name, r->language);
        }
    }
    bool esql = def && strcmp(def->name, "esql") == 0;
    if (esql && qv && qv->type == TOML_STRING) {
        if (!r->language || strcmp(r->language, "esql") != 0)
            error_at(L, key_pos(rule, toml_get(rule, r->language ? "language" : "query")),
                     "language must be \"esql\" for an esql rule, not '%s'",
                     r->language ? r->language : "(none)");
        else
            compile_esql(L, qv);
    } else if (esql) {
        error_at(L, key_pos(rule, tv), "an esql rule needs a query");
    }
    if (def && def->runs_eql && r->language && qv && qv->type == TOML_STRING) {
        if (strcmp(r->language, "eql") == 0)
            compile_eql(L, qv);
        else
            error_at(L, key_pos(rule, toml_get(rule, "language")),
                     "language must be \"eql\" for an eql rule, not '%s'", r->language);
    }
    if ((r->type == RULE_EQL && !r->eql) || (r->type == RULE_ESQL && !r->esql))
        r->type = RULE_UNSUPPORTED; /* no compiled query (an error was reported) */
    if (r->type == RULE_EQL && eql_is_sequence(r->eql) && r->suppress_group_by.n > 0 &&
        !L->errors) {
        /* Kibana suppresses sequences only behind an experimental flag, on the shell alert;
           how it writes the building blocks of suppressed sequences is not known */
        warn_at(L, key_pos(rule, toml_get(rule, "alert_suppression")),
                "alert suppression is not supported for EQL sequence rules: rule loaded, not run");
        r->type = RULE_UNSUPPORTED;
    }
    if (def && def->type == RULE_UNSUPPORTED && !L->errors)
        warn_at(L, key_pos(rule, tv), "unsupported rule type '%s': rule loaded, not run",
                r->type_name);
    compute_logic_hash(r);
}

/* Diagnostics of one file in line/column order (insertion sort: stable, and lists are short). */
struct diag_key {
    uint32_t line, col;
    size_t i;
};

static int cmp_diag_key(const void *a, const void *b)
{
    const struct diag_key *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i); /* stable: equal positions keep their order */
}

/* The file's diagnostics in position order (a file may have 100,000: sort keys, not records). */
static void sort_diags(struct rule_set *rs, size_t first)
{
    size_t n = rs->diags.len - first;
    if (n < 2)
        return;
    struct rule_diag *d = rs->diags.ptr + first;
    struct diag_key *k = kx_malloc(n * sizeof(*k));
    for (size_t i = 0; i < n; i++)
        k[i] = (struct diag_key){d[i].err.line, d[i].err.col, i};
    qsort(k, n, sizeof(*k), cmp_diag_key);
    struct rule_diag *tmp = kx_malloc(n * sizeof(*tmp));
    for (size_t i = 0; i < n; i++)
        tmp[i] = d[k[i].i];
    memcpy(d, tmp, n * sizeof(*d));
    kx_free(tmp);
    kx_free(k);
}

static void load_text(struct ld *L);

void rule_load_text(struct rule_set *rs, const char *path, const char *text, size_t len)
{
    struct ld L = {.rs = rs, .path = path, .text = text, .len = len};
    size_t first = rs->diags.len;
    load_text(&L);
    kx_lines_forget(&rs->lines); /* the text is the caller's and goes away */
    sort_diags(rs, first);
}

static void load_text(struct ld *Lp)
{
    struct ld L = *Lp;
    struct rule_set *rs = L.rs;
    const char *path = L.path, *text = L.text;
    size_t len = L.len;
    kx_arena scratch;
    kx_arena_init(&scratch, 64 * 1024, 16 * RULE_MAX_FILE);
    kad_err e;
    kad_err_clear(&e);
    const struct toml_value *root = toml_parse(&scratch, text, len, path, &e);
    if (!root) {
        rs_diag_err(rs, true, &e);
        kx_arena_fini(&scratch);
        return;
    }
    const struct toml_value *rule = toml_get(root, "rule");
    const struct toml_value *meta = toml_get(root, "metadata");
    if (rule && rule->type == TOML_TABLE) {
        const struct toml_value *nv = toml_get(rule, "name");
        if (nv && nv->type == TOML_STRING && nv->len && nv->len < 120)
            L.label = nv->u.s;
    }
    for (size_t i = 0; i < root->len; i++) {
        const struct toml_member *m = &root->u.members[i];
        if (!in_list(m->key, top_tables))
            warn_at(&L, m->offset, "unknown top-level key '%s' (ignored)", m->key);
        else if (m->val->type != TOML_TABLE)
            error_at(&L, m->offset, "'%s' must be a table, not %s", m->key, a_toml(m->val->type));
    }
    if (!rule || rule->type != TOML_TABLE) {
        if (!rule)
            error_at(&L, 0, "missing the [rule] table: not a detection rule file");
        kx_arena_fini(&scratch);
        return;
    }
    struct rule *r = kx_arena_zalloc(&rs->arena, sizeof *r);
    L.r = r;
    r->path = rs_strdup(rs, path);
    uint32_t line, col;
    kx_locate(text, len, rule->offset, &line, &col);
    r->line = (int)line;
    if (!meta)
        error_at(&L, 0, "missing the [metadata] table (creation_date, updated_date, maturity)");
    else if (meta->type == TOML_TABLE)
        load_metadata(&L, meta);
    load_rule_table(&L, rule);
    if (L.errors == 0) {
        const struct rule *dup = r->rule_id ? rule_set_find(rs, r->rule_id) : NULL;
        if (dup)
            warn_at(&L, key_pos(rule, toml_get(rule, "rule_id")),
                    "rule_id '%s' is also used by %s:%d (rule '%s')", r->rule_id, dup->path,
                    dup->line, dup->name);
        KX_VEC_PUSH(&rs->rules, r);
    }
    kx_arena_fini(&scratch);
}

/*
 * rule.h - Elastic detection rules loaded from TOML (owned by the rules module).
 *
 * CONTRACT FIXED BY THE FOUNDATION: the detect engine, preview and the CLI read `struct rule`
 * and call the functions below. The rules module may add fields and functions, but must keep
 * these names and meanings.
 *
 * Ownership: a ruleset owns everything reachable from its rules (one arena). Rule pointers and
 * every string in them are valid until rule_set_free(). Strings are NUL-terminated UTF-8.
 * Durations are milliseconds. Missing optional strings are NULL.
 */
#ifndef KAD_RULE_H
#define KAD_RULE_H

#include "base/arena.h"
#include "base/buf.h"
#include "eql/eql.h"
#include "esql/esql.h"
#include "event/event.h"
#include "kad.h"
#include "kql/kql.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rule_type {
    RULE_QUERY = 0,
    RULE_NEW_TERMS,
    RULE_UNSUPPORTED, /* threshold, machine_learning, ...: loaded, never run */
    RULE_EQL,         /* type eql with a compiled query (struct rule.eql) */
    RULE_ESQL,        /* type esql with a compiled query (struct rule.esql) */
};

enum rule_missing_strategy { RULE_SUPPRESS_MISSING = 0, RULE_DO_NOT_SUPPRESS_MISSING };

struct rule_exc_list;

struct rule_strlist {
    const char **v;
    size_t n;
};

struct rule {
    const char *path; /* file it was loaded from */
    enum rule_type type;
    const char *type_name; /* as written: "new_terms", "query", "eql", ... */
    const char *rule_id;
    const char *name;
    const char *description;
    const char *severity;  /* low | medium | high | critical */
    int risk_score;        /* 0..100 */
    const char *language;  /* "kuery" for the rules kadet runs */
    const char *query;     /* source text */
    struct kql_query *kql; /* compiled query (NULL for unsupported types) */
    struct eql_query *eql; /* type eql: the compiled EQL query */
    const char *note;      /* investigation guide (Markdown) */
    const char *version;   /* metadata.updated_date or rule.version when present */
    struct rule_strlist index, tags, references, false_positives, author;
    const char *from;               /* as written, default "now-6m" */
    int64_t from_ms;                /* look-back from the execution time, e.g. 360000 */
    const char *interval;           /* as written, default "5m" */
    int64_t interval_ms;            /* e.g. 300000 */
    int max_signals;                /* default 100 */
    const char *timestamp_override; /* e.g. "event.ingested", or NULL */
    bool timestamp_override_fallback_disabled;
    /* new_terms */
    struct rule_strlist new_terms_fields; /* 1..3 distinct field paths */
    const char *history_window_start;     /* as written, e.g. "now-10d" */
    int64_t history_window_ms;            /* e.g. 864000000 (relative form) */
    int64_t history_window_abs_ms;        /* absolute ISO start, epoch ms; INT64_MIN if relative */
    /* MITRE mapping and other metadata rendered once as JSON (arrays/objects), for alerts */
    const char *threat_json;             /* kibana.alert.rule.threat, "[]" when none */
    struct rule_strlist exceptions_list; /* list ids named by the rule */
    /* alert suppression (NULL group_by.n == 0 when absent) */
    struct rule_strlist suppress_group_by;
    int64_t suppress_duration_ms; /* 0 = per execution */
    enum rule_missing_strategy suppress_missing;
    /* stable hash of the logic (query, type, new-terms fields, window, exceptions) and of the
       whole rule; state is keyed by logic_hash */
    uint64_t logic_hash;

    /* ---- added by the rules module ---- */
    int line;          /* position of the [rule] table in `path` (1-based) */
    const char *to;    /* as written, default "now" */
    const char *setup; /* setup guide (Markdown) or NULL */
    const char *license;
    const char *maturity;      /* metadata.maturity */
    const char *creation_date; /* metadata.creation_date, "YYYY/MM/DD" */
    const char *updated_date;  /* metadata.updated_date */
    const char *building_block_type;
    const char *rule_name_override;
    bool enabled; /* default true */
    struct rule_strlist integration;
    /* exception lists attached to this rule (set by rule_set_load/_load_exceptions; valid until
       the next load call on the set) */
    const struct rule_exc_list *const *exc;
    size_t exc_n;
    /* absolute `from` (epoch ms) when it is a date rather than now-...; INT64_MIN otherwise
       (then from_ms is the look-back); the exact range of one execution is rule_exec_window's */
    int64_t from_abs_ms;
    /* where from, to and history_window_start are written in `path` (0 when defaulted) */
    uint32_t from_line, from_col, to_line, to_col, hws_line, hws_col;
    /* the fields the KQL query names, with their line:col in `path` (rule_set_lint) */
    const struct rule_qfield *qfields;
    size_t qfield_n;
    /* type esql, language esql: the compiled query */
    struct esql_prog *esql;
};

/* One diagnostic of a load: file:line:col: error|warning: message. */
struct rule_diag {
    bool is_error;
    kad_err err; /* origin = file path (owned by the set), line/col, message */
};

struct rule_set;
struct rule_exc_list;
struct rule_qfield;

/* A new empty set. Never NULL. */
struct rule_set *rule_set_new(void);
void rule_set_free(struct rule_set *rs);
/*
 * Load a .toml file or every *.toml below a directory (recursively, sorted). Keeps going past
 * bad files and bad rules; every problem is recorded as a diagnostic. Returns KAD_OK when no
 * error diagnostic was added, KAD_ERULE otherwise (warnings alone do not fail).
 */
int rule_set_load(struct rule_set *rs, const char *path);
/* The same for the TOML text[0..len) of one file named `origin` in diagnostics (copied). */
int rule_set_load_text(struct rule_set *rs, const char *origin, const char *text, size_t len);
size_t rule_set_count(const struct rule_set *rs);
const struct rule *rule_set_get(const struct rule_set *rs, size_t i);
/* By rule_id, or NULL. */
const struct rule *rule_set_find(const struct rule_set *rs, const char *rule_id);
size_t rule_set_diag_count(const struct rule_set *rs);
const struct rule_diag *rule_set_diag(const struct rule_set *rs, size_t i);

/*
 * Exceptions (docs/rules.md), loaded from --exceptions files into the set and
 * attached to rules by list id, rule_ids or rule_names. Returns the same codes as
 * rule_set_load (diagnostics recorded in the set).
 */
int rule_set_load_exceptions(struct rule_set *rs, const char *path);
/* True when an exception attached to r excludes doc at event time ts_ms (epoch ms). */
bool rule_excepted(const struct rule_set *rs, const struct rule *r, const struct ev_node *doc,
                   int64_t ts_ms);

/* Parse Elastic date math relative to now ("now-10d", "now-6m", "now") into a negative
 * offset in ms, or an absolute ISO-8601 time into epoch ms (*absolute = true). The offset is
 * the fixed form (a month is 30 days, rounding adds nothing); see rule_datemath_eval. */
int rule_parse_datemath(const char *s, int64_t *ms, bool *absolute, kad_err *err);

/* Evaluate Elastic date math exactly at now_ms (epoch ms, UTC): "now-6m", "now/d",
 * "now-1M", "2019-02-19T20:42:00.000Z", "2019-02-19", "1550608920000",
 * "2019-02-19||-1d/d" (docs/internals/rules.md). KAD_EINVAL with a message otherwise. */
int rule_datemath_eval(const char *s, int64_t now_ms, int64_t *out, kad_err *err);

/* The time range of one execution of a rule, epoch ms. */
struct rule_window {
    int64_t from_ms;    /* `from` evaluated at now (inclusive) */
    int64_t to_ms;      /* `to` evaluated at now (inclusive) */
    int64_t history_ms; /* new_terms: history_window_start evaluated at to_ms; else INT64_MIN */
    bool history_late;  /* the failure is Elastic's check (history start not before from) */
};
/*
 * Resolve r's from, to and (new_terms) history_window_start for an execution started at now_ms,
 * as Kibana does at each run: from and to relative to now, the history start relative to the
 * range's end. Then Kibana's execution-time check: the history start (relative to now) must be
 * before `from`. On failure KAD_ERULE with err positioned at the key in the rule file
 * (origin = r->path, line:col of history_window_start) and Elastic's message; *w is filled as
 * far as it could be. Scan and preview call it per execution (preview: per tuple).
 */
int rule_exec_window(const struct rule *r, int64_t now_ms, struct rule_window *w, kad_err *err);

/* ---- added by the rules module ---------------------------------------------------------- */

/*
 * kadet's one duration grammar (rule_duration.c): <number><unit> terms, units ms, s, m, h, d, w.
 * rule_parse_span: the option form ("10d", "1d12h", "500ms", "2w", zero allowed), for every
 * duration option. rule_parse_duration: the schedule form of a rule's interval (one positive
 * term in s, m, h, d: "30s", "5m", "1h", "2d"). KAD_EINVAL (err says why) otherwise.
 */
int rule_parse_duration(const char *s, int64_t *ms, kad_err *err);
int rule_parse_span(const char *s, int64_t *ms, kad_err *err);

/*
 * An exception file proposing allow-list items (rule_exc_write.c; `kadet state propose`): the
 * detection-rules TOML format (format 1 of docs/rules.md) that rule_set_load_exceptions reads.
 * rule_exc_write_header once per file, then rule_exc_write_item per combination (item_no from
 * 1; values[i] is the value of fields[i]). Times are epoch ms.
 */
struct rule_exc_proposal {
    const char *rule_id, *name;
    const char *const *fields;
    size_t nfields;
    int64_t from_ms, to_ms; /* the baseline the items were seen through */
};
void rule_exc_write_header(kx_buf *b, const struct rule_exc_proposal *p);
void rule_exc_write_item(kx_buf *b, const struct rule_exc_proposal *p, size_t item_no,
                         int64_t first_seen, int64_t last_seen, const kx_str *values, size_t n);

/* Number of files read by the loads so far (directories count their *.toml files). */
size_t rule_set_file_count(const struct rule_set *rs);
/* Rule by rule_id, else by exact name, else NULL. */
const struct rule *rule_set_lookup(const struct rule_set *rs, const char *id_or_name);

/* `origin:line:col: error|warning: message` into buf (snprintf semantics). */
int rule_diag_format(const struct rule_diag *d, char *buf, size_t size);

/*
 * The normalized form of a loaded rule (tests/rules/good/ *.expect, `kadet rules show`): one
 * `key: value` line per field in a fixed order, the compiled query as kql_dump() prints it.
 * Appends to out; KAD_ELIMIT when out is full.
 */
int rule_dump(const struct rule *r, kx_buf *out);

/*
 * Lint the loaded set (docs/rules.md "Lint"), once, after the rule and exception loads: every
 * field a KQL query names is checked against the ECS and Kubernetes audit-log field lists
 * (data/fields/, built in), an unknown one is a warning at its line:col with the nearest known
 * field when it is close; an exception list that names a rule id or name no loaded rule has
 * (or, attached by list id only, that no rule uses) is a warning. Other query languages are
 * skipped. RULE_LINT_STRICT then turns every warning of the set into an error. Returns
 * KAD_ERULE when the set has an error diagnostic, KAD_OK otherwise.
 */
#define RULE_LINT_STRICT 1u
int rule_set_lint(struct rule_set *rs, unsigned flags);
/* Whether `field` is a known field (a listed one, an object above one, or below an object,
   flattened or nested field); exported for tests. */
bool rule_field_known(const char *field);

/* Exception lists loaded into the set, for `kadet rules check --exceptions` and tests. */
size_t rule_set_exc_count(const struct rule_set *rs);
/* "LIST_ID: N items (FILE)" of list i; NULL past the end. Valid until rule_set_free(). */
const char *rule_set_exc_describe(const struct rule_set *rs, size_t i);

/* kad_conf_parse (include/kad.h): a configuration document's settings through the TOML reader. */
int rule_conf_walk(const char *text, size_t len, const char *origin,
                   int (*fn)(const kad_conf_item *it, void *ud, kad_err *err), void *ud,
                   kad_err *err);

/*
 * kadet's configuration file (TOML, docs/config.md): every table of the array of tables
 * `name` (`[[sink]]`), in file order, as key/value strings: a string as is, an integer or a
 * boolean as written in decimal / true / false, an array of strings as one pair per item (the
 * key repeated). fn gets the pairs (borrowed for the call) with each value's line and column;
 * a nonzero return stops and is returned. Other value types are an error at their position.
 * KAD_ENOTFOUND when the file cannot be read (err->msg "PATH: reason").
 */
struct rule_cfg_kv {
    const char *key, *val;
    uint32_t line, col; /* of the value */
};
#define RULE_CFG_KV_MAX 128
int rule_config_tables(const char *path, const char *name,
                       int (*fn)(const struct rule_cfg_kv *kv, size_t n, uint32_t line, void *ud),
                       void *ud, kad_err *err);

#endif

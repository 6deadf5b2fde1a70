/*
 * detect.h - the detect module's only header: the streaming engine (owned by the engine
 * helper), Elastic's scheduled executions replayed (`preview`) and alert suppression (owned by
 * preview; docs/preview.md and docs/internals/engine.md).
 */
#ifndef KAD_DETECT_H
#define KAD_DETECT_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/str.h"
#include "base/vec.h"
#include "event/event.h"
#include "kad.h"
#include "rule/rule.h"
#include "state/state.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef EV_TIME_NONE /* event.h defines it once the events module's time functions land */
#define EV_TIME_NONE INT64_MIN
#endif

/* ============================================================================================
 * The streaming engine (det_engine.c, det_prefilter.c, det_alert.c, det_baseline.c; owned by
 * the engine helper): per event, prefilter -> compiled KQL -> exceptions -> rule-type step
 * (query: alert; new_terms: first-seen check in the state store, semantics.md "Streaming
 * mode") -> alert. It reads no files and writes no output: the caller (cmd_scan) frames and
 * decodes records, owns the st_store batch and receives finished alert JSON in a callback.
 * docs/internals/engine.md, docs/alerts.md.
 * ============================================================================================ */

#define DET_TIME_NONE INT64_MIN /* == EV_TIME_NONE */

/* One alert, valid only during the callback. */
struct det_alert {
    const struct rule *rule;
    size_t rule_index;      /* index in the rule set */
    const char *uuid;       /* kibana.alert.uuid (NUL-terminated hex) */
    const char *json;       /* the whole alert document, one line, no newline */
    size_t len;             /* of json */
    int64_t event_ms;       /* event time ts(d) used for the new-terms step */
    const char *reason;     /* kibana.alert.reason */
    const kx_str *terms;    /* kibana.alert.new_terms values (new_terms rules), in field order */
    size_t nterms;          /* 0 for query rules */
    kx_str original_time;   /* source @timestamp text */
    kx_str user, source_ip; /* user.name / source.ip (or the audit fields), may be empty */
};

/* Return nonzero to stop processing (det_process then returns KAD_EIO). */
typedef int (*det_alert_fn)(const struct det_alert *a, void *ud);

struct det_opts {
    const struct rule_set *rules; /* borrowed; must outlive the engine */
    struct st_store *state;       /* borrowed; ST_OPEN_RW or ST_OPEN_MEM */
    bool learn;                   /* observe into the state, never alert (count would-be alerts) */
    bool no_baseline;             /* leave kadet.baseline out of alerts */
    bool no_prefilter;            /* every rule is a candidate (tests: same alerts either way) */
    int64_t now_ms;               /* alert @timestamp; DET_TIME_NONE = the wall clock per alert */
    /* Clock skew: an event stamped more than this after the time it was read (det_event.read_ms)
       counts as `future` (a warning on the first per rule), and a new_terms rule judges and
       records it at its watermark (set aside while it has none), so one event from a skewed
       clock (or forged, 2099) never moves the watermark and cannot make every later event "too
       late". 0 = no limit. */
    int64_t future_ms;
    det_alert_fn on_alert;
    void *ud;
};

/* Counters per rule (det_rule_stats). */
struct det_rule_stats {
    uint64_t candidates;      /* events the prefilter let through to kql_match */
    uint64_t matched;         /* query matched and no exception */
    uint64_t excepted;        /* query matched but an exception excluded the event */
    uint64_t no_time;         /* no usable event time (override missing, fallback disabled) */
    uint64_t no_terms;        /* matched but some new-terms field had no value */
    uint64_t alerts;          /* alerts handed to the callback */
    uint64_t would_alert;     /* --learn: alerts that a scan would have raised */
    uint64_t max_signals_cut; /* alerts not created because of max_signals per minute */
    uint64_t duplicates;      /* alert ids already emitted earlier (replayed input) */
    uint64_t combos_limited;  /* documents whose cartesian product was cut at the limit */
    uint64_t too_late;        /* new_terms: event time more than W before the watermark */
    uint64_t future;          /* event time more than det_opts.future_ms after its read time */
    uint64_t suppressed;      /* alerts merged into an earlier one (alert_suppression) */
};

struct det_engine;

/*
 * Create an engine over a loaded rule set: registers every runnable rule with the state store
 * (st_rule_register: baselines keyed by the rule's logic hash) and builds the prefilter index.
 * Rules of unsupported types (eql, esql, threshold, ...) are kept but never run.
 * Returns NULL with err filled (KAD_ESTATE from the store).
 */
struct det_engine *det_new(const struct det_opts *o, kad_err *err);
void det_free(struct det_engine *e);

/* The history window W of rule i in ms (new_terms; 0 = never forget or not new_terms). */
int64_t det_rule_window(const struct det_engine *e, size_t i);
/* What st_rule_register said about rule i (ST_BASELINE_*), or -1 when the rule does not run. */
int det_rule_baseline(const struct det_engine *e, size_t i);
/* True when rule i runs (query or new_terms with a compiled query). */
bool det_rule_runs(const struct det_engine *e, size_t i);

/*
 * Fields the engine reads from a document (union of the rules' query fields, new-terms
 * fields, timestamp fields, @timestamp and the fields of the document id), for a decoder that
 * extracts only what is needed; alerts read the whole document (det_event.full). *all is true when some rule needs the whole document. Strings are
 * valid as long as the rule set.
 */
size_t det_field_count(const struct det_engine *e);
/*
 * The one definition of the fields a rule reads from a document, shared by the streaming
 * engine and preview: its query's fields, its timestamp override, its new-terms fields and its
 * suppression group_by fields, in that order, each passed to fn (which may be NULL; a field may
 * come twice). Returns false when the rule needs whole documents instead (no compiled query, a
 * query that reads every field, or exceptions attached, which may read any field).
 */
bool det_rule_fields(const struct rule *r, void (*fn)(const char *path, void *ud), void *ud);
const char *det_field(const struct det_engine *e, size_t i);
bool det_needs_all(const struct det_engine *e);

/* One decoded event. */
struct det_event {
    const struct ev_node *doc; /* the ECS document (an object) */
    const char *raw;           /* the source record bytes (identity fallback), may be NULL */
    size_t raw_len;
    /*
     * Optional: when the doc holds only the fields det_field() asked for, full() returns the
     * whole document (for the alert's source copy); NULL when doc is already complete.
     */
    const struct ev_node *(*full)(void *ctx);
    void *full_ctx;
    /* Optional: the decoder's parsed @timestamp and event.ingested (DET_TIME_NONE = absent),
       trusted when times_known is true, so the engine does not parse them again. */
    bool times_known;
    int64_t timestamp_ms, ingested_ms;
    /* Optional: when the record was read (ms since the epoch; 0 = unknown): the reference of
       det_opts.future_ms. */
    int64_t read_ms;
    /* Optional: det_match's result for doc (computed on another thread), or NULL: det_process
       then skips the prefilter, the queries and the new-terms fields' terms. */
    const struct det_verdict *verdict;
};

/*
 * The stateless part of det_process (det_match.c): which rules the prefilter lets through,
 * whose query matches, and the new-terms fields' terms of the matching new_terms rules. A
 * matcher belongs to one thread (any thread: it only reads the engine's rules and prefilter,
 * which do not change after det_new) and must not outlive the engine. det_match allocates its
 * result in arena a (valid until a is reset; the terms point into doc, which must live as
 * long); NULL when a is full (det_process then evaluates the event itself). Passing the result
 * as det_event.verdict gives exactly the results of det_process without it.
 */
struct det_matcher;
struct det_verdict;
struct det_matcher *det_matcher_new(const struct det_engine *e);
void det_matcher_free(struct det_matcher *m);
const struct det_verdict *det_match(struct det_matcher *m, const struct ev_node *doc,
                                    kx_arena *a);
/* True when v says a query rule (or an EQL event query) matched: the event alerts unless an
   exception, a duplicate id, suppression or max_signals stops it (its whole document will
   likely be needed). */
bool det_verdict_query(const struct det_verdict *v);

/*
 * Run every candidate rule on one event. Must be called inside an st_begin/st_commit batch of
 * the state store given to det_new. Alerts go to the callback before this returns.
 * Returns KAD_OK, a state error (KAD_ESTATE/KAD_ELIMIT, err filled) or KAD_EIO when the
 * callback asked to stop. Never fails because of the event's content.
 */
int det_process(struct det_engine *e, const struct det_event *ev, kad_err *err);

/*
 * EQL sequence and ES|QL rules keep state between events (partial sequences with their
 * documents, the open windows' partial aggregates): det_save writes it to the state store in
 * the open batch (call it before every st_commit, so it commits with the input positions and
 * alert ids), det_flush says that time has passed to now_ms (the end of the input): ES|QL
 * windows ending at or before it are evaluated (EQL sequences follow event time only).
 * docs/internals/engine.md.
 */
int det_save(struct det_engine *e, kad_err *err);
int det_flush(struct det_engine *e, int64_t now_ms, kad_err *err);

/*
 * Flush per-minute bookkeeping and return the warnings the run produced so far (one line per
 * rule that hit max_signals, Elastic's text) appended to out.
 */
void det_warnings(const struct det_engine *e, kx_buf *out);

void det_rule_stats(const struct det_engine *e, size_t i, struct det_rule_stats *out);
/* Rules the prefilter indexed by an exact term (the others are candidates for every event). */
size_t det_prefilter_indexed(const struct det_engine *e);
size_t det_rule_count(const struct det_engine *e);
const struct rule *det_rule(const struct det_engine *e, size_t i);

/* ============================================================================================ */
/* The alert document (det_alert.c), shared by scan and preview                                 */
/* ============================================================================================ */

/* What varies per alert. All borrowed for the call. */
struct det_alert_extra {
    int64_t timestamp_ms;       /* @timestamp and kibana.alert.start; DET_TIME_NONE = wall clock */
    int64_t last_detected_ms;   /* kibana.alert.last_detected; DET_TIME_NONE = timestamp_ms */
    int64_t event_ms;           /* kadet.event_time (ts(d)); DET_TIME_NONE = left out */
    const char *uuid;           /* kibana.alert.uuid (required) */
    const char *doc_id;         /* kibana.alert.ancestors[0].id; NULL = det_doc_id(doc) */
    const char *new_terms_json; /* kibana.alert.new_terms as JSON array text; NULL = query */
    const char *execution_uuid; /* kibana.alert.rule.execution.uuid; NULL = left out */
    const char *execution_type; /* "scheduled" (NULL) or "manual" */
    int64_t intended_ms;        /* kibana.alert.intended_timestamp; DET_TIME_NONE = left out */
    /* alert suppression (semantics.md, "Alert suppression"); instance_id NULL = not a suppressed
     * alert */
    const char *instance_id;
    const char *sup_terms_json; /* [{"field":..,"value":..}] */
    int64_t sup_start_ms, sup_end_ms;
    uint64_t sup_docs_count;
    const char *baseline_json; /* kadet.baseline object text; NULL = left out */
    /* det_alert_rule_fragment(r) computed once and reused (NULL = written for this alert) */
    const char *rule_fragment;
    size_t rule_fragment_len;
    kx_buf *reason; /* optional: receives kibana.alert.reason (reset first) */
    /* EQL sequences (docs/alerts.md): group_id NULL = not part of a sequence; a building block
       has building_block set and its 0-based group_index; the shell has neither */
    const char *group_id;
    bool building_block;
    int group_index;
    const char *ancestors_json; /* kibana.alert.ancestors as JSON array text; NULL = the doc's */
    int depth;                  /* kibana.alert.depth; 0 = 1 */
    int64_t original_ms;        /* kibana.alert.original_time; 0 = the doc's @timestamp */
    /* the id was claimed in a shared store (the claim is its record): det_emit records nothing */
    bool claimed;
};

/*
 * Append one alert document (one JSON object, no newline) for source document `doc` of rule
 * `r` to out. Returns KAD_OK, or KAD_ELIMIT when out reaches its maximum (out is then left
 * with a partial document: reset it).
 */
int det_alert_write(kx_buf *out, const struct rule *r, const struct ev_node *doc,
                    const struct det_alert_extra *x, kad_err *err);

/*
 * Append the kibana.alert.rule.* members that depend on the rule only (`"k":v,...`, no braces)
 * to out: computed once per rule and passed as det_alert_extra.rule_fragment, it saves writing
 * (and escaping) the rule's description and guide for every alert. KAD_ELIMIT when out is full.
 */
int det_alert_rule_fragment(const struct rule *r, kx_buf *out);

/*
 * kibana.alert.uuid: 32 hex digits, a hash of rule id, the encoded combination (st_combo_encode;
 * empty for query rules) and the document id. out must hold 33 bytes.
 */
void det_alert_uuid(const char *rule_id, const void *combo, size_t combo_len, const char *doc_id,
                    size_t doc_id_len, char out[33]);

/*
 * Parse an ECS date: RFC 3339 / ISO 8601 ("2026-03-01T10:00:00.123456Z", offsets "+02:00",
 * date only "2026-03-01") or a JSON number of epoch milliseconds. Fractions below 1 ms are
 * truncated. Returns false on anything else.
 */
bool det_parse_time(const char *s, size_t len, int64_t *ms);
/* Format epoch ms as "2026-03-01T10:00:00.123Z" into out (>= 32 bytes); returns the length. */
size_t det_fmt_time(int64_t ms, char *out);

/* ============================================================================================
 * Stable document identity (owned by preview).
 * ============================================================================================ */

/*
 * Append the stable id of an ECS document to out: its `_id` when present, else
 * `<kubernetes.audit.auditID>-<kubernetes.audit.stage>` (a raw audit event decoded to ECS; the
 * stage alone when there is no auditID), else "h" + 16 hex digits of a hash of the document's
 * compact JSON. The same document always gets the same id. KAD_ELIMIT when out is full.
 */
int det_doc_id(const struct ev_node *doc, kx_buf *out);

/* ============================================================================================
 * Alert suppression (suppress.c, owned by preview): semantics.md, "Alert suppression", Elastic's
 * alertWithSuppression + suppressAlertsInMemory + executeBulkCreateAlerts, over alerts kept in
 * memory. Used by preview (one batch per page of an execution) and by scan.
 * ============================================================================================ */

#define SUP_ID_LEN 32 /* hex digits of kibana.alert.instance.id */
#define SUP_MULTIPLIER 5

/*
 * kibana.alert.suppression.terms of doc for rule r, as JSON text appended to out:
 * [{"field":"f","value":[v...]|null}, ...] in group_by order, values sorted as JavaScript's
 * default sort does (by string form), null when the field has no value. *missing (optional)
 * is set when some group_by field has no value. KAD_ELIMIT when out is full.
 */
int sup_terms(const struct rule *r, const struct ev_node *doc, kx_buf *out, bool *missing);
/* kibana.alert.instance.id: hash of the terms text and the rule id (SUP_ID_LEN hex + NUL). */
void sup_instance_id(const struct rule *r, const char *terms, size_t len, char out[SUP_ID_LEN + 1]);

/* One created alert that can absorb later candidates (suppression fields as Elastic stores). */
struct sup_alert {
    char instance_id[SUP_ID_LEN + 1];
    int64_t start_ms, end_ms; /* kibana.alert.suppression.start / end */
    uint64_t docs_count;      /* kibana.alert.suppression.docs_count */
    int64_t alert_start_ms;   /* kibana.alert.start (creation time) */
    int64_t last_detected_ms; /* kibana.alert.last_detected */
    uint64_t exec_id;         /* execution that created it */
    size_t user;              /* the caller's reference of the candidate that created it */
};

enum sup_fate {
    SUP_CREATED = 0, /* a new alert, store index in `alert` */
    SUP_MERGED,      /* counted into alert `alert` (in memory or an existing one) */
    SUP_DROPPED,     /* already counted by an alert of an earlier execution */
    SUP_TRUNCATED,   /* would have been a new alert, but max_alerts was reached */
};

struct sup_cand {
    /* in */
    size_t user;   /* caller's reference (e.g. index of the candidate) */
    int64_t ts_ms; /* suppression time: event time of the document */
    char instance_id[SUP_ID_LEN + 1];
    /* out */
    enum sup_fate fate;
    size_t alert; /* SUP_CREATED / SUP_MERGED: index in the store */
};

struct sup_exec {
    uint64_t exec_id;
    int64_t now_ms;          /* execution time: alert.start and last_detected of changes */
    int64_t window_start_ms; /* existing alerts with alert.start >= this can absorb */
    bool per_execution;      /* no duration: merge only into alerts of this execution */
    size_t max_alerts;       /* budget for new alerts; 0 = no limit (as Elastic's `maxAlerts &&`) */
};

struct sup_store {
    KX_VEC(struct sup_alert) alerts;
    kx_map index; /* instance id -> 1 + index of its latest alert */
};

void sup_store_init(struct sup_store *s);
void sup_store_fini(struct sup_store *s);
/*
 * One bulk create of candidates c[0..n) (already free of duplicate alert ids). Fills each
 * candidate's fate; adds the created alerts to the store in creation order (sorted by ts,
 * stable) and updates merged ones. *created and *suppressed (optional) are incremented by the
 * number of new alerts and by Elastic's suppressed count (in-memory merges + groups merged
 * into existing alerts).
 */
void sup_batch(struct sup_store *s, struct sup_cand *c, size_t n, const struct sup_exec *x,
               size_t *created, size_t *suppressed);

/* ============================================================================================
 * Preview (preview.c, owned by preview): Elastic's scheduled executions replayed exactly.
 * ============================================================================================ */

/* The rules preview runs: query, new_terms and EQL event queries (which it runs as query rules:
   one alert per matching document). */
bool pv_runs(const struct rule *r);
/* One EQL sequence's alert identity (det_langs.c, docs/alerts.md), shared by scan and preview:
   building-block ids bb[i], the shell's ancestors as JSON text (anc) and the shell id; ids_buf
   and sbuf are scratch. det_seq_body: the shell's body, the events' recursive intersection. */
int det_seq_ids(const struct rule *r, const struct ev_node *const *docs, const char *const *ids,
                uint32_t n, char (*bb)[33], char shell[33], kx_buf *anc, kx_buf *ids_buf,
                kx_buf *sbuf, kad_err *err);
struct ev_node *det_seq_body(kx_arena *a, const struct ev_node *const *docs, uint32_t n);
/* ES|QL rows as alerts (det_langs.c), shared by scan and preview: row i of res as one JSON
   object text (out reset first); the alert body for a row text: the source document with the
   row's columns over it (flat dotted keys), or with source NULL (an aggregating rule) the row
   without _id/_index/_version; an aggregating row's alert id from its window and row text.
   The row text ends in a newline, which the ids include. */
struct esql_result;
int det_esql_row_text(const struct esql_result *res, size_t i, kx_buf *out, kad_err *err);
struct ev_node *det_esql_alert_doc(kx_arena *a, const char *row_text, size_t n,
                                   const struct ev_node *source, kad_err *err);
void det_esql_window_uuid(const struct rule *r, int64_t from, int64_t to, const char *row, size_t n,
                          char uuid[33]);
/* The rule is an EQL sequence rule. */
bool det_rule_is_sequence(const struct rule *r);
/* The rule's query matches doc: KQL, or an EQL event query (false for sequences and ES|QL). */
bool det_rule_match(const struct rule *r, const struct ev_node *doc);

/* One input document as preview sees it (prepared by the caller for one rule). */
struct pv_doc {
    const struct ev_node *doc; /* ECS document, borrowed */
    const char *id;            /* stable id (det_doc_id), borrowed */
    int64_t ts;                /* event time ts(d) (§3), EV_TIME_NONE: in no range */
    int64_t timestamp;         /* @timestamp (kibana.alert.original_time), EV_TIME_NONE */
    bool has_override;         /* ts came from the timestamp override field */
    bool eligible;             /* matches the query and no exception (§1.4, §4.3) */
};

struct pv_opts {
    int64_t end_ms;       /* time of the last execution */
    uint32_t invocations; /* number of executions, >= 1 */
    int64_t interval_ms;  /* 0: the rule's interval */
};

/* One alert as it stands after the last execution. */
struct pv_alert {
    size_t doc;      /* the document's reference (pv_run: index into the pv_doc array) */
    uint32_t exec;   /* execution that created it (0-based) */
    int64_t exec_ms; /* its time: @timestamp, kibana.alert.start */
    int64_t last_detected_ms;
    char *new_terms_json; /* kibana.alert.new_terms (owned by the result), NULL for query */
    /* suppression: sup_terms_json NULL when the alert is not a suppressed one */
    char *sup_terms_json; /* owned by the result */
    char instance_id[SUP_ID_LEN + 1];
    int64_t sup_start_ms, sup_end_ms;
    uint64_t sup_docs_count;
    size_t sup_idx; /* internal: index in the rule's suppression store, SIZE_MAX when none */
    /* EQL sequence: the events' document references (owned, NULL otherwise); seq_pos -1 for
       the shell alert, else the building block's 0-based position */
    size_t *seq;
    uint32_t seq_n;
    int32_t seq_pos;
    /* ES|QL: the result row as JSON object text (owned, NULL otherwise); an aggregating
       rule's alert has no source document (doc is SIZE_MAX) and the execution's range */
    char *row_json;
    bool row_multi; /* the document gave several rows: the row's text is part of the id */
    int64_t win_from, win_to;
};

struct pv_msg {
    int64_t exec_ms; /* execution time it belongs to */
    bool is_error;   /* the execution failed (nothing created) */
    char *text;      /* Elastic's text (owned) */
};

struct pv_result {
    KX_VEC(struct pv_alert) alerts; /* creation order */
    KX_VEC(struct pv_msg) msgs;     /* warnings and errors, in execution order */
    size_t suppressed;              /* Elastic's suppressed count, all executions */
};

void pv_result_init(struct pv_result *res);
void pv_result_fini(struct pv_result *res);

/*
 * Run the executions end - (N-1)*interval, ..., end of rule r (any type pv_runs accepts) over
 * docs[0..n) (input order = tie-break). Results are appended to res. KAD_EINVAL for a rule type
 * preview cannot run or a bad option; KAD_ELIMIT when a document has more than
 * PV_MAX_COMBOS combinations (err says which). Execution failures that Elastic reports per run
 * (history window not before `from`) are pv_msg errors, not return codes.
 */
#define PV_MAX_COMBOS 1000000u
int pv_run(const struct rule *r, const struct pv_doc *docs, size_t n, const struct pv_opts *o,
           struct pv_result *res, kad_err *err);

/*
 * Streaming preview (preview.c): one rule's executions over documents added in (nearly) event
 * time order, keeping only what the executions still to run need: the documents of their
 * ranges, and for new_terms each combination's latest occurrence before them (history is
 * state-like). An execution runs once a document later than its range's end by more than the
 * reorder window `lag_ms` was added (or at pv_stream_finish); a document that comes after an
 * execution it belongs to makes the stream fail (pv_stream_add returns PV_EORDER): the caller
 * then runs pv_run over every document (docs/preview.md, "Memory").
 *
 * auto_end: o->end_ms and o->invocations are ignored; the executions are Elastic's scheduler's
 * ticks over the documents (multiples of the interval from the first at or after the earliest
 * document to the first at or after the latest), as kad_preview's --end auto.
 */
#define PV_EORDER 1 /* not a kad_code: the stream cannot go on, run pv_run instead */
struct pv_stream;
struct pv_clone; /* a refcounted copy of one document and its id */
struct pv_stream_opts {
    struct pv_opts o;
    bool auto_end;
    int64_t lag_ms; /* reorder window */
    /* an alert names the document (ref, id): the caller keeps what it needs to write it */
    void (*on_ref)(void *ctx, uint64_t ref, const char *id);
    void *ctx;
};
int pv_stream_new(const struct rule *r, const struct pv_stream_opts *so, struct pv_result *res,
                  struct pv_stream **out, kad_err *err);
/* Add document d (eligible, with an event time; its doc and id live in c, which the stream
   references while it needs them) with reference ref (increasing in input order). KAD_OK,
   PV_EORDER (out of order: the stream is void), or an error of an execution. */
int pv_stream_add(struct pv_stream *s, const struct pv_doc *d, uint64_t ref, struct pv_clone *c,
                  kad_err *err);
/* The executions still to run. *executions: how many ran in all; *no_docs: auto_end and no
   document (nothing ran). PV_EORDER when the stream is void. */
int pv_stream_finish(struct pv_stream *s, uint64_t *executions, bool *no_docs, kad_err *err);
void pv_stream_free(struct pv_stream *s);
/* The most documents the stream held at once (window and reorder buffer). */
size_t pv_stream_held(const struct pv_stream *s);

/* A copy of doc and its id in one allocation, with one reference (NULL when out of memory). */
struct pv_clone *pv_clone_new(const struct ev_node *doc, const char *id);
const struct ev_node *pv_clone_doc(const struct pv_clone *c);
const char *pv_clone_id(const struct pv_clone *c);
void pv_clone_ref(struct pv_clone *c);
void pv_clone_unref(struct pv_clone *c);

/* Deep copy of a document tree into arena a (NULL when the arena's maximum is reached). */
struct ev_node *pv_doc_copy(kx_arena *a, const struct ev_node *doc);
/* Append one alert of rule r for document d as a JSON object (no newline). */
int pv_alert_write(kx_buf *out, const struct rule *r, const struct pv_doc *d,
                   const struct pv_alert *a);
/* Append one alert of EQL sequence rule r (a->seq set) whose events are dv[0..a->seq_n). */
int pv_seq_alert_write(kx_buf *out, const struct rule *r, const struct pv_doc *dv,
                       const struct pv_alert *a);
/* Append one alert of ES|QL rule r (a->row_json set); d: its source document (NULL for an
   aggregating rule's row). */
int pv_esql_alert_write(kx_buf *out, const struct rule *r, const struct pv_doc *d,
                        const struct pv_alert *a);
/* The rule keeps no single-document match: every document is an input of its executions. */
bool pv_needs_every_doc(const struct rule *r);
/* A date field's value as epoch ms (RFC 3339 text or epoch-ms number), EV_TIME_NONE if none. */
int64_t pv_field_time(const struct ev_node *doc, const char *path);
/*
 * Fill *out for document doc (and its stable id, both borrowed) under rule r of set rs: event
 * time with r's timestamp override and fallback, @timestamp, eligibility (query and exceptions).
 */
void pv_doc_prepare(const struct rule_set *rs, const struct rule *r, const struct ev_node *doc,
                    const char *id, struct pv_doc *out);

#endif

/*
 * detect.h - the detect module's only header: the streaming engine (owned by the engine
 * helper), Elastic's scheduled executions replayed (`preview`) and alert suppression (owned by
 * preview; ../shared/spec/new-terms.md §1.3-§1.7, §4).
 */
#ifndef KAD_DETECT_H
#define KAD_DETECT_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/vec.h"
#include "event/event.h"
#include "kad.h"
#include "rule/rule.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef EV_TIME_NONE /* event.h defines it once the events module's time functions land */
#define EV_TIME_NONE INT64_MIN
#endif

/* ============================================================================================
 * Stable document identity (owned by preview).
 * ============================================================================================ */

/*
 * Append the stable id of an ECS document to out: its `_id` when present, else
 * `<kubernetes.audit.auditID>-<kubernetes.audit.stage>` (a raw audit event decoded to ECS; the
 * stage alone when there is no auditID), else "h" + 16 hex digits of a hash of the document's
 * compact JSON. The same document always gets the same id. KAD_ELIMIT when out is full.
 */
int det_doc_id(const struct ev_node *doc, kad_buf *out);

/* ============================================================================================
 * Alert suppression (suppress.c, owned by preview): new-terms.md §4.2, Elastic's
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
int sup_terms(const struct rule *r, const struct ev_node *doc, kad_buf *out, bool *missing);
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
    KAD_VEC(struct sup_alert) alerts;
    kad_map index; /* instance id -> 1 + index of its latest alert */
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
    size_t doc;      /* index into the pv_doc array */
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
};

struct pv_msg {
    int64_t exec_ms; /* execution time it belongs to */
    bool is_error;   /* the execution failed (nothing created) */
    char *text;      /* Elastic's text (owned) */
};

struct pv_result {
    KAD_VEC(struct pv_alert) alerts; /* creation order */
    KAD_VEC(struct pv_msg) msgs;     /* warnings and errors, in execution order */
    size_t suppressed;               /* Elastic's suppressed count, all executions */
};

void pv_result_init(struct pv_result *res);
void pv_result_fini(struct pv_result *res);

/*
 * Run the executions end - (N-1)*interval, ..., end of rule r (query or new_terms) over
 * docs[0..n) (input order = tie-break). Results are appended to res. KAD_EINVAL for a rule type
 * preview cannot run or a bad option; KAD_ELIMIT when a document has more than
 * PV_MAX_COMBOS combinations (err says which). Execution failures that Elastic reports per run
 * (history window not before `from`) are pv_msg errors, not return codes.
 */
#define PV_MAX_COMBOS 1000000u
int pv_run(const struct rule *r, const struct pv_doc *docs, size_t n, const struct pv_opts *o,
           struct pv_result *res, kad_err *err);

#endif

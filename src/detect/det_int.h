/*
 * det_int.h - private to src/detect/: the engine's structures shared by det_engine.c (the
 * per-event flow), det_prefilter.c (rule index by equality terms) and det_alert.c (the alert
 * document). Other modules include detect.h only.
 */
#ifndef KAD_DET_INT_H
#define KAD_DET_INT_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/jsonw.h"
#include "base/map.h"
#include "detect.h"

/* Per new-terms field: distinct values of one document (semantics.md, "Terms of a document"). */
#define DET_VALUES_MAX 256
/* Cartesian product of one document: larger products are cut (counted per rule). */
#define DET_COMBOS_MAX 65536
/* Keyword fields are mapped with ignore_above 1024 (characters): longer values are not terms. */
#define DET_IGNORE_ABOVE 1024
/* Entries shown in kadet.baseline. */
#define DET_BASELINE_MAX 20
/* Largest alert document. */
#define DET_ALERT_MAX ((size_t)16 << 20)
/* An alert over DET_ALERT_MAX is written again with the source's strings cut at
   DET_CAP_STRING_MAX bytes and its arrays cut at DET_CAP_ARRAY_MAX values (det_alert.c). */
#define DET_CAP_STRING_MAX ((size_t)32 << 10)
#define DET_CAP_ARRAY_MAX ((size_t)10000)
/* The alert reason: each field value (and the rule name) in it is cut at DET_REASON_VALUE_MAX
   bytes with an ellipsis, so the whole text (12 values at most) always fits DET_REASON_MAX. */
#define DET_REASON_VALUE_MAX ((size_t)32 << 10)
#define DET_REASON_MAX ((size_t)1 << 20)

struct det_val {
    kx_str s;     /* value text (numbers: their JSON text; booleans: "true"/"false") */
    uint8_t type; /* EV_STRING, EV_NUMBER, EV_TRUE, EV_FALSE */
};

/*
 * The terms of one field of a document, the one definition shared by the engine and preview
 * (det_terms.c, semantics.md, "Terms of a document"). v holds cap values; a list that starts with
 * cap < max grows (kx_realloc, the owner frees v) up to max; past max, cut is set and the rest is
 * not read.
 */
struct det_terms {
    struct det_val *v;
    size_t n;
    size_t cap;
    size_t max;
    bool cut;
};
/* Fills t (from t->v[0]) with the terms of doc's field path, through the memo m (may be
   NULL); returns t->n. */
size_t det_field_terms(struct ev_memo *m, const struct ev_node *doc, const char *path,
                       struct det_terms *t);
/* kibana.alert.new_terms: the values of one combination as a JSON array (numbers as numbers,
   booleans as booleans, strings as strings). */
void det_terms_json(kx_jsonw *w, const struct det_val *vals, size_t n);

struct det_rule {
    const struct rule *r;
    size_t index;
    bool runs;
    uint32_t rid;      /* state rule id */
    int baseline;      /* enum st_baseline, or -1 */
    size_t user_field; /* new-terms field used to pivot kadet.baseline, or SIZE_MAX */
    int64_t window_ms; /* W given to the state (0 = never forget) */
    kx_buf rule_frag;  /* det_alert_rule_fragment, built at the first alert */
    /* max_signals per minute of event time; minute and count are mirrored in two state
       counters (cname_m = minute + 1, cname_n = count) so a resumed scan continues the budget
       of the minute it was in, exactly as one uninterrupted run */
    int64_t minute;
    int minute_count;
    char cname_m[40], cname_n[40];
    bool minute_warned;
    uint64_t cut_minutes;
    struct det_rule_stats st;
    /* alert suppression (rule has alert_suppression): suppress.c's store, in memory only */
    bool sup_on;
    struct sup_store sup;
    /* EQL and ES|QL rules: sequence matcher or windows (det_langs.c) */
    struct det_lang *lang;
};

struct det_prefilter;

struct det_engine {
    struct det_opts o;
    struct det_rule *rules;
    size_t nrules;
    struct det_prefilter *pf;
    uint64_t *cand; /* candidate bitset of the current event */
    size_t nwords;
    /* fields the engine reads */
    const char **fields;
    size_t nfields;
    bool needs_all;
    /* per-event scratch */
    struct det_val vals[3][DET_VALUES_MAX];
    size_t nvals[3];
    kx_buf combo;    /* encoded combination */
    kx_buf alert;    /* alert document */
    kx_buf reason;   /* reason text */
    kx_buf scratch;  /* baseline value etc. */
    kx_buf supterms; /* kibana.alert.suppression.terms JSON */
    kx_buf docid;    /* document id of the current event */
    bool have_docid;
    kx_buf nterms;   /* kibana.alert.new_terms JSON */
    kx_buf baseline; /* kadet.baseline JSON */
    kx_str terms[3];
    /* event-time cache of the current event */
    struct {
        const char *field;
        int64_t ms;
    } tcache[8];
    size_t ntcache;
    /* field lookups of the current event, shared by the prefilter, the queries and the
       new-terms step (reset at the start and the end of det_process) */
    struct ev_memo memo;
    bool use_memo; /* paths are read often enough per event for the memo to pay (det_new) */
};

/* det_match.c: the stateless part of one event (det_match), in the caller's arena. */
struct det_vterms {
    size_t rule;                /* the rule's index */
    size_t n[3];                /* terms per new-terms field (0: none; later fields not read) */
    bool cut[3];                /* the field had more than DET_VALUES_MAX terms */
    const struct det_val *v[3]; /* the terms */
};
struct det_verdict {
    const uint64_t *cand;  /* rules that run and that the prefilter let through (nwords) */
    const uint64_t *match; /* of those, the ones whose query matched (det_query_match) */
    struct det_vterms **terms; /* the matching new_terms rules' terms, in rule order */
    size_t nterms;
    bool query; /* a query rule (or an EQL event query) matched: an alert is likely */
};
/* Rule r's query (KQL, or an EQL event query) on doc; EQL sequences and ES|QL rules always
   "match" here (det_lang_event decides). Pure: the one evaluation det_process and det_match
   share. */
bool det_query_match(const struct rule *r, const struct ev_node *doc, struct ev_memo *memo);

/* det_prefilter.c */
struct det_prefilter *det_pf_new(struct det_engine *e);
void det_pf_free(struct det_prefilter *pf);
/* Fill e->cand for doc. */
void det_pf_candidates(const struct det_prefilter *pf, const struct ev_node *doc, uint64_t *cand,
                       size_t nwords, struct ev_memo *memo);
/* The indexed fields (paths the prefilter reads per event). */
size_t det_pf_field_count(const struct det_prefilter *pf);
kx_str det_pf_field(const struct det_prefilter *pf, size_t i);
/* Number of rules indexed by a term (the others are always candidates). */
size_t det_pf_indexed(const struct det_prefilter *pf);

/* det_engine.c, shared with det_langs.c */
/* Event time ts(d) of rule r (timestamp_override, fallback @timestamp), and @timestamp. */
int64_t det_event_time(struct det_engine *e, const struct det_event *ev, const struct rule *r);
int64_t det_timestamp(struct det_engine *e, const struct det_event *ev);
/* The current event's document id (det_doc_id; computed once per event, in e->docid). */
kx_str det_event_id(struct det_engine *e, const struct det_event *ev);
/* The whole document of the event (the second decode when the first extracted fields). */
const struct ev_node *det_full_doc(const struct det_event *ev);
/* max_signals per minute of event time: true when one more alert may be created. */
bool det_budget(struct det_engine *e, struct det_rule *dr, int64_t ts);
/*
 * Whether alert `uuid` may be emitted, asked before it is built, by every rule type: 1 yes, 0
 * no (a duplicate, counted in dr's duplicates), < 0 a state error. A store shared by several
 * instances (redis://) claims the id atomically (*claimed: the claim is its record, det_emit
 * records nothing); another store checks that it was not emitted before. combo: the new_terms
 * combination, NULL for other rules. Under --learn: 1, nothing asked.
 */
int det_alert_admit(struct det_engine *e, struct det_rule *dr, const void *combo, size_t clen,
                    const char *uuid, int64_t ts, bool *claimed, kad_err *err);
/* Alert suppression of one candidate (det_engine.c): true when absorbed; else the suppression
   members of *x are set (inst holds the instance id). exec_t: an ES|QL execution time with
   its window start from_t, or DET_TIME_NONE (the event time ts is the execution time). */
bool det_suppress(struct det_engine *e, struct det_rule *dr, const struct ev_node *doc, int64_t ts,
                  int64_t exec_t, int64_t from_t, struct det_alert_extra *x,
                  char inst[SUP_ID_LEN + 1]);
/* Write alert x (uuid, times and the rest filled by the caller) for doc, hand it to the
   callback and record its id for rule dr (combo: the state's combination, "" for none). No
   dedupe, budget or --learn check: the caller's. */
int det_emit(struct det_engine *e, struct det_rule *dr, const struct ev_node *doc,
             struct det_alert_extra *x, size_t nterms, const void *combo, size_t clen, int64_t ts,
             kad_err *err);

/* det_langs.c: EQL sequences and ES|QL rules */
struct det_lang;
/* State of rule dr (type eql or esql), restored from the state store's blob of the rule. */
int det_lang_new(struct det_engine *e, struct det_rule *dr, kad_err *err);
void det_lang_free(struct det_lang *l);
/* One event that passed the rule's exceptions (ts: its event time). */
int det_lang_event(struct det_engine *e, struct det_rule *dr, const struct det_event *ev,
                   int64_t ts, kad_err *err);

/* det_baseline.c: kadet.baseline of an alert as a JSON object into out (empty when none). */
int det_baseline_json(struct det_engine *e, const struct det_rule *dr, const struct det_val *vals,
                      size_t n, const void *combo, size_t clen, int64_t ts, kx_buf *out,
                      kad_err *err);

/* First string (or number) leaf at path, {NULL,0} when none. */
kx_str det_first(const struct ev_node *doc, const char *path);

#endif

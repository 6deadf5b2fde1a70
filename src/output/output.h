/*
 * output.h - alert delivery (issue 14): sink specs, per-sink formatting, a durable outbox and a
 * delivery worker. Design: docs/internals/outputs.md.
 *
 * Layers, each usable alone:
 *   1. out_spec_parse: `TYPE:TARGET[,key=value...]` into a struct out_spec (errors positioned
 *      at the byte offset in the spec text).
 *   2. out_alert_parse + out_fmt_* : pure functions from alerts to the bytes each sink sends,
 *      and out_es_bulk_items, the verdict per item of an Elasticsearch _bulk response.
 *   3. struct out_box: the outbox, segment files of alert records the producer appends to inside
 *      its batch, indexed by an SQLite file with a row per batch (committed before the state's
 *      batch; the ids of a batch whose state commit is not confirmed are kept, so a batch
 *      replayed after a crash appends nothing twice).
 *   4. struct out_mgr: the outputs, each with a delivery thread and a cursor in the outbox of its
 *      own (a slow output delays no other); retries with exponential backoff and jitter; a
 *      dead-letter file; metrics.
 */
#ifndef KAD_OUTPUT_H
#define KAD_OUTPUT_H

#include "base/arena.h"
#include "base/buf.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ======================================================================================== */
/* Sink specs                                                                                 */
/* ======================================================================================== */

enum out_type { OUT_ES = 1, OUT_WEBHOOK, OUT_SLACK, OUT_SYSLOG, OUT_FILE, OUT_STDOUT };
enum out_syslog_proto { OUT_SYS_UDP = 1, OUT_SYS_TCP, OUT_SYS_TLS, OUT_SYS_UNIX };

#define OUT_SPEC_MAX 4096         /* bytes of one spec */
#define OUT_SPEC_LIST_MAX 32      /* rule=, tag=, header= entries of one spec */
#define OUT_MAX_OUTPUTS 32        /* outputs of one out_mgr */
#define OUT_ALERT_MAX (16u << 20) /* bytes of one alert document */

struct out_spec {
    enum out_type type;
    char *text;   /* the spec as given */
    char *name;   /* name=, else TYPE:TARGET (the cursor's key: keep it stable) */
    char *target; /* URL, path, or (syslog) the address after the scheme */
    /* syslog */
    enum out_syslog_proto proto;
    char *host, *port; /* udp/tcp/tls; unix: target is the socket path */
    int facility;      /* facility= (0..23), default 16 (local0) */
    /* HTTP sinks */
    char *index;   /* elasticsearch: index= (index or data stream), default "kadet-alerts" */
    char *api_key; /* api_key= (Authorization: ApiKey ...) */
    char *user;    /* user= and password=: basic auth */
    char *password;
    char *ca_file;                    /* ca= */
    char *secret;                     /* webhook: secret= (HMAC-SHA256 of the body) */
    char *sig_header;                 /* signature_header=, default X-Kadet-Signature */
    char *headers[OUT_SPEC_LIST_MAX]; /* header=Name: value */
    size_t nheaders;
    bool array; /* webhook: batch=array (one POST per batch, a JSON array), else one per alert */
    /* file */
    int64_t rotate; /* rotate=SIZE (bytes, k/m/g suffixes), 0 = never */
    int keep;       /* keep= rotated files (default 5) */
    /* batching and retries */
    int batch_count;     /* batch= alerts (ES default 500; webhook array 100; else 1) */
    int64_t batch_bytes; /* batch_bytes= (default 5m) */
    int batch_ms;        /* flush= ms: wait that long for a fuller batch (default 0) */
    int max_attempts;    /* attempts= (default 8) */
    int backoff_ms;      /* backoff= first delay ms (default 500) */
    int backoff_max_ms;  /* backoff_max= (default 60000) */
    int timeout_ms;      /* timeout= per request (default 10000) */
    char *dead_letter;   /* dead_letter=PATH (default: the manager's) */
    /* filters */
    int min_severity;               /* min_severity= low|medium|high|critical; 0 = all */
    char *rules[OUT_SPEC_LIST_MAX]; /* rule=RULE_ID (any of them) */
    size_t nrules;
    char *tags[OUT_SPEC_LIST_MAX]; /* tag=TAG (any of them) */
    size_t ntags;
};

/* Parse `text`. Errors: KAD_ESYNTAX / KAD_EINVAL / KAD_ELIMIT with err->offset the byte offset
   in text and err->origin `origin` (e.g. "--sink"). On failure *s is left empty. */
int out_spec_parse(struct out_spec *s, const char *text, const char *origin, kad_err *err);
/* The same from a configuration table ([[sink]]): `head` is "TYPE:TARGET" (or "stdout"), each
   keys[i]=vals[i] an option as in a spec (a value may hold commas). On an option's error *bad
   is its index (err->offset is then the offset in vals[*bad]), else SIZE_MAX. */
int out_spec_from_fields(struct out_spec *s, const char *head, const char *const *keys,
                         const char *const *vals, size_t n, const char *origin, size_t *bad,
                         kad_err *err);
/* Deep copy (free d with out_spec_fini). */
void out_spec_copy(struct out_spec *d, const struct out_spec *s);
void out_spec_fini(struct out_spec *s);
const char *out_type_name(enum out_type t);

/* ======================================================================================== */
/* Alerts and formatting (pure functions)                                                     */
/* ======================================================================================== */

#define OUT_NEW_TERMS_MAX 8

/* What the filters and formats read from one alert. Strings point into the arena or the json. */
struct out_alert {
    const char *json; /* the alert document (one line, no newline) */
    size_t len;
    int64_t seq;    /* outbox sequence (0 outside the outbox) */
    const char *id; /* kibana.alert.uuid */
    const char *rule_id, *rule_name, *severity, *reason, *user, *timestamp, *note;
    int sev; /* 1 low .. 4 critical, 0 unknown */
    const char *tags[OUT_SPEC_LIST_MAX];
    size_t ntags;
    const char *new_terms[OUT_NEW_TERMS_MAX];
    size_t nnew_terms;
};

/* Severity name -> 1..4 (0: unknown). */
int out_severity(const char *name, size_t len);
/* Read an alert document (KAD_ESYNTAX for bad JSON, KAD_EINVAL without kibana.alert.uuid). */
int out_alert_parse(struct out_alert *a, kx_arena *ar, const char *json, size_t len, kad_err *err);
/* Does the alert pass the spec's filters? */
bool out_filter_pass(const struct out_spec *s, const struct out_alert *a);

/* Elasticsearch _bulk body: per alert `{"create":{"_index":INDEX,"_id":UUID}}\n` + doc + `\n`. */
int out_fmt_es_bulk(const struct out_spec *s, const struct out_alert *a, size_t n, kx_buf *out);

enum out_verdict { OUT_V_DONE = 0, OUT_V_RETRY, OUT_V_DEAD };
struct out_item_result {
    enum out_verdict v;
    int status;       /* the item's HTTP status */
    char reason[300]; /* for RETRY and DEAD: error type and reason */
};
/*
 * The per-item verdicts of a _bulk response (HTTP 200) for n items sent in that order:
 * 2xx and 409 (version conflict: the document is there) DONE, 429 and 5xx RETRY, other 4xx
 * DEAD. KAD_ESYNTAX when the body is not a bulk response or has a different number of items.
 */
int out_es_bulk_items(const char *body, size_t len, struct out_item_result *res, size_t n,
                      kad_err *err);

/* Webhook body: the alert as is (n == 1 and !s->array) or a JSON array of them. */
int out_fmt_webhook(const struct out_spec *s, const struct out_alert *a, size_t n, kx_buf *out);
/* "sha256=" + hex HMAC-SHA256(secret, body) into out (72 bytes with the NUL). */
int out_hmac_sha256_hex(const char *secret, const void *body, size_t len, char out[72]);
/* Slack incoming-webhook message for one alert; `guide` is the investigation guide (markdown,
   may be NULL: then the alert's kibana.alert.rule.note); its first steps are listed. */
int out_fmt_slack(const struct out_alert *a, const char *guide, kx_buf *out);
/* RFC 5424 message, the alert JSON as MSG; `octet_count`: RFC 6587 "LEN SP" framing (TCP). */
int out_fmt_syslog(const struct out_spec *s, const struct out_alert *a, const char *hostname,
                   bool octet_count, kx_buf *out);

/* ======================================================================================== */
/* The outbox                                                                                 */
/* ======================================================================================== */

struct out_box;
/* Open (create) the outbox file. */
int out_box_open(struct out_box **b, const char *path, kad_err *err);
void out_box_close(struct out_box *b);
/* A batch of appends: begin, append*, commit (or rollback). Commit before the state's commit;
   after the state's commit, out_box_confirm(b, out_box_last_batch(b)). */
int out_box_begin(struct out_box *b, kad_err *err);
/* Append one alert (`alert_id` its kibana.alert.uuid, as the engine computed it; the document
   is not searched for it; one line). 1: appended, 0: this id is in the batch already, or in a
   batch that was not confirmed (a batch replayed after a crash between the outbox's commit and
   the state's). */
int out_box_append(struct out_box *b, const char *alert_id, const char *json, size_t len,
                   kad_err *err);
/* The same for records `ID TAB JSON NEWLINE`, back to back, written as they are (no copy);
   returns how many were appended, or < 0. */
int out_box_append_records(struct out_box *b, const char *recs, size_t len, kad_err *err);
int out_box_commit(struct out_box *b, kad_err *err);
/* The first sequence number of the last batch committed on b (0: none). */
int64_t out_box_last_batch(const struct out_box *b);
/* The state committed with batch `first`: a replay will not repeat its ids (so they are not
   kept). Written with the next commit (or at close). */
void out_box_confirm(struct out_box *b, int64_t first);
void out_box_rollback(struct out_box *b);

struct out_box_output_stats {
    char name[128];
    int64_t cursor;
    int64_t pending;
    int64_t oldest_ms; /* wall ms of the oldest pending alert, 0 = none */
    int64_t delivered, retried, failed, filtered; /* totals over every run */
};
/* Delete the outbox file, its -wal and -shm, and its segment files (nothing may have it open). */
void out_box_remove(const char *path);
/* Per-output cursors of an outbox file, read-only (for `kadet state stats`); fn per output. */
int out_box_stats(const char *path, void (*fn)(const struct out_box_output_stats *o, void *ud),
                  void *ud, kad_err *err);

/* ======================================================================================== */
/* Outputs and the delivery worker                                                            */
/* ======================================================================================== */

struct out_metrics {
    const char *name;
    uint64_t delivered, retried, failed, filtered;
    int64_t queue_depth;
    int64_t oldest_age_ms; /* age of the oldest pending alert, 0 = none */
    char last_error[300];
};

struct out_opts {
    const char *outbox_path; /* the outbox file */
    const char *dead_letter; /* default dead-letter file (NDJSON), NULL = "<outbox>.dead" */
    const char *hostname;    /* syslog HOSTNAME, NULL = gethostname */
    int poll_ms;             /* worker wake-up without notify, default 200 */
};

struct out_mgr;
/* Outputs for `specs` (copied); registers each output's cursor (a new output starts at the end
   of the outbox). The worker is not running yet. */
int out_mgr_new(struct out_mgr **m, const struct out_opts *o, const struct out_spec *specs,
                size_t n, kad_err *err);
/* The producer's handle on the outbox (owned by the manager; use from one thread). */
struct out_box *out_mgr_box(struct out_mgr *m);
int out_mgr_start(struct out_mgr *m, kad_err *err);
/* New alerts were committed: wake the worker. Never blocks on delivery. */
void out_mgr_notify(struct out_mgr *m);
/* Wait until nothing is pending for any output or timeout_ms passed; returns what is still
   pending (0: all delivered or dead-lettered). The producer's call: it reads the outbox on the
   producer's connection (`kadet scan` before exit, bounded by --sink-timeout). */
int64_t out_mgr_drain(struct out_mgr *m, int timeout_ms);
/* Copy up to n outputs' metrics (name borrowed from the manager); returns the number of outputs. */
size_t out_mgr_metrics(struct out_mgr *m, struct out_metrics *out, size_t n);
/* Stop the delivery threads (an HTTP request in flight is aborted within about a second; it is
   sent again by the next manager on the outbox) and free everything. */
void out_mgr_free(struct out_mgr *m);

/* Send one alert to one output now, without the outbox (`kadet outputs test`): 0 delivered,
   else the error with the receiver's answer in err. */
int out_send_once(const struct out_spec *s, const char *json, size_t len, kad_err *err);

#endif

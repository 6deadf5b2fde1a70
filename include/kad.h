/*
 * kad.h - the public API of libkad, the kadet detection engine.
 *
 * This is the only project header that the CLI (cli/), the examples (examples/) and other
 * programs include; everything in src/ is private to the library. The CLI is libkad's first
 * client: every `kadet` subcommand parses its options, calls these functions and formats
 * what they return. docs/internals/README.md shows the architecture on one page.
 *
 * Conventions (in the spirit of sqlite3.h and jq.h):
 *   - Handles are opaque (kad_rules, kad_state, kad_engine, ...); each has a constructor that
 *     returns KAD_OK and the handle through an out parameter (or the handle, NULL on failure)
 *     and a destructor that accepts NULL.
 *   - Every function that can fail takes `kad_err *err` last (NULL allowed) and returns a KAD_E*
 *     code (negative; KAD_OK is 0). err->origin:line:col positions input and rule errors.
 *   - Strings are NUL-terminated UTF-8 unless a length is given. Pointers returned by the
 *     library are borrowed (valid as documented at each function) unless the function says the
 *     caller frees them with kad_free().
 *   - Times are epoch milliseconds (int64_t); KAD_TIME_NONE is "absent".
 *
 * Threading: no global state except the log sink (kad_log_set_sink) and the host metadata cache.
 * A kad_rules may be shared by any number of engines and threads once loaded (it is read-only
 * then; kad_rules_ref/unref are atomic). Every other handle (state, engine, decoder, query
 * match state, reader) is used by one thread at a time: a service runs one engine (with its own
 * kad_state) per worker thread.
 */
#ifndef KAD_H
#define KAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KAD_API __attribute__((visibility("default")))
#else
#define KAD_API
#endif

#define KAD_VERSION "0.1.0"

/*
 * The error codes, defined once. Each entry: name, value, short description.
 * Codes are negative; KAD_OK is 0. OS failures carry errno in the message, not in the code.
 * KAD_EUNAVAIL: a state server (redis://) could not be reached, or has no master, after the
 * store's reconnection attempts (the URL's reconnect_ms=, 30 s of backoff by default): a
 * temporary condition, unlike KAD_ESTATE. The batch in progress is lost (its alert claims are given
 * back when the server returns); a webhook answers 503 so that kube-apiserver sends the events
 * again.
 */
#define KAD_ERRNO_MAP(X)                                                                           \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EIO, -3, "input/output error")                                                               \
    X(ESYNTAX, -4, "syntax error")                                                                 \
    X(ERULE, -5, "invalid rule")                                                                   \
    X(ESTATE, -6, "state store error")                                                             \
    X(ELIMIT, -7, "limit exceeded")                                                                \
    X(ENOTFOUND, -8, "not found")                                                                  \
    X(EUNSUPPORTED, -9, "unsupported")                                                             \
    X(EEOF, -10, "unexpected end of input")                                                        \
    X(EBUSY, -11, "in use by another process")                                                     \
    X(EUNAVAIL, -12, "state server unavailable")

enum kad_code {
    KAD_OK = 0,
#define KAD_ERR_ENUM(name, val, desc) KAD_##name = (val),
    KAD_ERRNO_MAP(KAD_ERR_ENUM)
#undef KAD_ERR_ENUM
};

#define KAD_ERR_MSG_MAX 256

/*
 * The detail of one failure, supplied by the caller. `origin` is borrowed: it must outlive the
 * kad_err (it is normally a file path, "<query>", "<stdin>" or "webhook"). line and col are
 * 1-based, 0 when unknown; offset is the byte offset from the start of the origin, -1 when
 * unknown.
 */
typedef struct kad_err {
    int code;
    const char *origin;
    uint32_t line;
    uint32_t col;
    int64_t offset;
    char msg[KAD_ERR_MSG_MAX];
} kad_err;

/* Short description of a code ("syntax error"); never NULL. */
KAD_API const char *kad_strerror(int code);
/* Name of a code ("KAD_ESYNTAX"); never NULL. */
KAD_API const char *kad_err_name(int code);
/* Reset to "no error". */
KAD_API void kad_err_clear(kad_err *err);
/*
 * Format as `origin:line:col: error: message` (parts that are unknown are left out) into buf.
 * Returns the length that the full text needs, like snprintf.
 */
KAD_API int kad_err_format(const kad_err *err, char *buf, size_t size);

KAD_API const char *kad_version(void);

/* Free memory the library handed over (documented per function). NULL is a no-op. */
KAD_API void kad_free(void *p);

/* ============================================================================================
 * Time
 * ============================================================================================ */

#define KAD_TIME_NONE INT64_MIN

/* Parse an ECS date (RFC 3339 "2026-03-01T10:00:00.123Z", offsets, date only) or epoch ms
   digits into *ms. Returns 1 when it is one, 0 otherwise. */
KAD_API int kad_time_parse(const char *s, size_t len, int64_t *ms);
/* "2026-03-01T10:00:00.123Z" into out (>= 32 bytes); returns the length. */
KAD_API size_t kad_time_format(int64_t ms, char *out);
/* A duration as options write it: one or more <number><unit> terms, units ms, s, m, h, d, w
   ("10d", "1d12h", "500ms") into *ms. KAD_EINVAL otherwise. */
KAD_API int kad_duration_parse(const char *s, int64_t *ms, kad_err *err);
/* A byte count as options write it: a positive number with an optional K, M or G suffix (powers
   of 1024: "64M") into *out. Returns 1 when it is one, 0 otherwise. */
KAD_API int kad_bytes_parse(const char *s, size_t *out);
/* A rule schedule interval: the one-term subset in s, m, h, d ("5m"), as rules write it. */
KAD_API int kad_interval_parse(const char *s, int64_t *ms, kad_err *err);

/* ============================================================================================
 * Logging: the library reports warnings (e.g. rate-limited skipped records) through one
 * process-wide sink; without one they go to stderr as "kadet: warning: ...".
 * ============================================================================================ */

enum { KAD_LOG_ERROR = 0, KAD_LOG_WARN, KAD_LOG_INFO, KAD_LOG_DEBUG };
typedef void (*kad_log_fn)(int level, const char *msg, void *ud);
/* Messages up to max_level (KAD_LOG_WARN: errors and warnings) go to fn. Not thread-safe: set
   it before starting threads. */
KAD_API void kad_log_set_sink(kad_log_fn fn, void *ud, int max_level);

/* ============================================================================================
 * JSON text: a small writer (commas, escaping, invalid UTF-8 replaced by U+FFFD), for programs
 * that print what the library returns as JSON (the CLI's --json outputs).
 * ============================================================================================ */

typedef struct kad_json kad_json;
KAD_API kad_json *kad_json_new(void);
KAD_API void kad_json_free(kad_json *w);
/* Start again with an empty text. */
KAD_API void kad_json_reset(kad_json *w);
KAD_API void kad_json_obj_begin(kad_json *w);
KAD_API void kad_json_obj_end(kad_json *w);
KAD_API void kad_json_arr_begin(kad_json *w);
KAD_API void kad_json_arr_end(kad_json *w);
KAD_API void kad_json_key(kad_json *w, const char *k, size_t n);
KAD_API void kad_json_keyc(kad_json *w, const char *k);
KAD_API void kad_json_str(kad_json *w, const char *s, size_t n);
KAD_API void kad_json_strc(kad_json *w, const char *s);
KAD_API void kad_json_int(kad_json *w, int64_t v);
KAD_API void kad_json_bool(kad_json *w, int v);
KAD_API void kad_json_null(kad_json *w);
/* The text so far (NUL-terminated; valid until the next call on w) and the first error
   (KAD_ELIMIT, KAD_ENOMEM), KAD_OK when none. */
KAD_API const char *kad_json_text(const kad_json *w, size_t *len);
KAD_API int kad_json_error(const kad_json *w);

/* ============================================================================================
 * Configuration files (TOML, e.g. kadet serve's kadet.toml): the settings of one document,
 * one callback per key, so that a program validates its own keys against the library's TOML
 * 1.0 parser. Top-level keys have table NULL; keys of a [table] have its name and index 0; keys
 * of an array of tables ([[user]]) have its name and the element's index. Deeper nesting, and
 * values other than a string, integer, boolean or array of strings, come as KAD_CONF_OTHER.
 * ============================================================================================ */

enum { KAD_CONF_STRING = 1, KAD_CONF_INT, KAD_CONF_BOOL, KAD_CONF_STRINGS, KAD_CONF_OTHER };
typedef struct kad_conf_item {
    const char *table; /* NULL for a top-level key */
    size_t index;      /* element of an array of tables, else 0 */
    const char *key;
    int type;                /* KAD_CONF_* */
    const char *str;         /* STRING */
    int64_t num;             /* INT; BOOL: 0 or 1 */
    const char *const *strs; /* STRINGS: nstrs strings */
    size_t nstrs;
    const char *type_name; /* the TOML type ("float", "table", ...) for messages */
    uint32_t line, col;    /* of the key in the document */
} kad_conf_item;
/*
 * Parse text (origin names it in messages) and call fn for every setting, in document order;
 * everything is valid during the call only. fn returns KAD_OK or a code (it fills err: stop).
 * KAD_ESYNTAX (err positioned) when the text is not TOML.
 */
KAD_API int kad_conf_parse(const char *text, size_t len, const char *origin,
                           int (*fn)(const kad_conf_item *it, void *ud, kad_err *err), void *ud,
                           kad_err *err);

/* ============================================================================================
 * Rules: Elastic detection rules (TOML) and exception lists.
 *
 * A kad_rules is built by loads (before it is shared), then read by engines, previews and
 * listings. It is reference-counted: kad_rules_new returns one reference; every engine takes its
 * own (kad_rules_ref) and drops it when freed, so a service can load a new set, swap it in for
 * the next batches and drop its own reference while earlier batches still run on the old one.
 * Loading into a set that another holder references is not allowed (KAD_EINVAL).
 * ============================================================================================ */

typedef struct kad_rules kad_rules;

KAD_API kad_rules *kad_rules_new(void);
KAD_API kad_rules *kad_rules_ref(kad_rules *rs);
KAD_API void kad_rules_unref(kad_rules *rs);

/*
 * Load a .toml file, or every *.toml below a directory (recursively, sorted). Bad files and
 * bad rules do not stop the load: each problem is a diagnostic (kad_rules_diag). Returns
 * KAD_OK when the load added no error diagnostic, KAD_ERULE otherwise (err: the first error).
 */
KAD_API int kad_rules_load(kad_rules *rs, const char *path, kad_err *err);
/* The same for TOML text in memory; origin names it in diagnostics (copied). */
KAD_API int kad_rules_load_text(kad_rules *rs, const char *origin, const char *text, size_t len,
                                kad_err *err);
/* Exception lists (detection-rules TOML, Kibana NDJSON export or kadet's shorthand). */
KAD_API int kad_rules_load_exceptions(kad_rules *rs, const char *path, kad_err *err);

/*
 * Lint the loaded rules once, after the loads (docs/rules.md "Lint": query fields checked
 * against the ECS and Kubernetes audit field lists, exception lists naming no loaded rule):
 * warnings added to the diagnostics. With KAD_LINT_STRICT every warning of the set becomes an
 * error. Returns KAD_ERULE when the set has an error diagnostic, KAD_OK otherwise.
 */
#define KAD_LINT_STRICT 1u
KAD_API int kad_rules_lint(kad_rules *rs, unsigned flags);

/* Diagnostics of every load so far, in order. *is_error: error (1) or warning (0). */
KAD_API size_t kad_rules_diag_count(const kad_rules *rs);
KAD_API const kad_err *kad_rules_diag(const kad_rules *rs, size_t i, int *is_error);
/* `origin:line:col: error|warning: message` into buf (snprintf semantics). */
KAD_API int kad_rules_diag_format(const kad_rules *rs, size_t i, char *buf, size_t size);

KAD_API size_t kad_rules_count(const kad_rules *rs);
/* Files read by the loads (directories count their *.toml files). */
KAD_API size_t kad_rules_file_count(const kad_rules *rs);
/* Index of the rule with this rule_id, else this exact name: KAD_OK, or KAD_ENOTFOUND. */
KAD_API int kad_rules_lookup(const kad_rules *rs, const char *id_or_name, size_t *index);

/* What `kadet rules list|show|guide` print of one rule. Strings are borrowed from the set
   (valid while it is referenced); absent ones are NULL. */
enum { KAD_RULE_QUERY = 0, KAD_RULE_NEW_TERMS, KAD_RULE_OTHER, KAD_RULE_EQL, KAD_RULE_ESQL };
typedef struct kad_rule_info {
    const char *rule_id, *name, *description;
    int kind;             /* KAD_RULE_*: OTHER types (threshold, ...) are loaded, never run */
    const char *type;     /* as written: "query", "new_terms", "eql", ... */
    const char *language; /* "kuery", ... */
    const char *severity; /* low | medium | high | critical */
    int risk_score;
    const char *query;        /* source text */
    const char *note;         /* investigation guide (Markdown) */
    const char *setup;        /* setup guide (Markdown) */
    const char *file;         /* the file it was loaded from */
    int line;                 /* of its [rule] table */
    int runnable;             /* 1: kadet runs it (a compiled KQL, EQL or ES|QL query) */
    const char *not_runnable; /* why not, when runnable is 0 */
    int max_signals;
    int64_t interval_ms, from_ms;
    size_t new_terms_fields;          /* number of new-terms fields (kad_rules_new_terms_field) */
    const char *history_window_start; /* new_terms: as written ("now-10d") */
    int compiled;                     /* the query was compiled (KQL) */
    size_t query_fields;              /* fields the compiled query reads (kad_rules_query_field) */
    int query_needs_all; /* the query reads every field (free text, wildcard field names) */
    size_t exceptions;   /* exception lists attached */
    uint64_t logic_hash; /* keys the rule's new-terms baseline in the state */
} kad_rule_info;

KAD_API int kad_rules_info(const kad_rules *rs, size_t i, kad_rule_info *out);
KAD_API const char *kad_rules_new_terms_field(const kad_rules *rs, size_t i, size_t k);
KAD_API const char *kad_rules_query_field(const kad_rules *rs, size_t i, size_t k);
/* The normalised form of rule i (`kadet rules show`): one `key: value` line per field in a
   fixed order; the caller frees it with kad_free. NULL when out of memory. */
KAD_API char *kad_rules_dump(const kad_rules *rs, size_t i);
/* Exception lists loaded: count and "LIST_ID: N items (FILE)" of list i (borrowed). */
KAD_API size_t kad_rules_exc_count(const kad_rules *rs);
KAD_API const char *kad_rules_exc_describe(const kad_rules *rs, size_t i);

/* ============================================================================================
 * State: the new-terms baselines, emitted alert ids and input positions that make a restart
 * resume exactly. Behind it is a table of store operations inside the library (SQLite today).
 * ============================================================================================ */

typedef struct kad_state kad_state;

enum kad_state_mode {
    KAD_STATE_RW = 0, /* create if needed (and missing parent directories) */
    KAD_STATE_RO,     /* inspection; the store must exist (KAD_ENOTFOUND), writes fail */
    KAD_STATE_MEM,    /* nothing persists: everything dies with kad_state_close */
};

typedef struct kad_state_opts {
    int mode; /* enum kad_state_mode */
    /* KAD_STATE_RW: accept an existing empty file (0 bytes) as a new state; without it that is
       KAD_ESTATE, since starting anew would raise every alert of the lost state again */
    int init;
    /* a redis:// location: the password to authenticate with (replaces the URL's; the URL's
       user, if any, is kept); NULL: the URL's. KAD_EINVAL with a file path */
    const char *password;
} kad_state_opts;

/*
 * Open the store at `location`: a file path (SQLite), or a Redis server shared by several
 * kadet instances: redis://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]...][/DB][?instance=NAME]
 * (docs/state-redis.md). location may be NULL for KAD_STATE_MEM. On success *out owns the
 * store; close it with kad_state_close after every engine using it is freed. An unreachable
 * server: KAD_EUNAVAIL.
 */
KAD_API int kad_state_open(kad_state **out, const char *location, const kad_state_opts *o,
                           kad_err *err);
KAD_API void kad_state_close(kad_state *st);
/* The location given to kad_state_open (NULL for MEM; a URL's password replaced by ***). */
KAD_API const char *kad_state_location(const kad_state *st);
/* 1 when the store is shared by several kadet instances (redis://), 0 for a file or memory. */
KAD_API int kad_state_shared(const kad_state *st);
/* Round trips to the server this handle made so far (shared stores; 0 for a file or memory). */
KAD_API uint64_t kad_state_round_trips(const kad_state *st);
/* The server connection of a shared store (redis://), readable from any thread while another
   thread uses the handle (kadet serve's /readyz and 503s): up 1 while the last exchange with
   the server succeeded (always 1 for a file or memory); lost: connections lost so far (one per
   outage); reconnects: outages that ended; why: the last loss's reason ("" when none). */
typedef struct kad_state_conn {
    int up;
    uint64_t lost, reconnects;
    char why[200];
} kad_state_conn;
KAD_API void kad_state_conn_get(const kad_state *st, kad_state_conn *out);
/* One attempt to reach the server of a shared store, without the reconnection backoff: KAD_OK
   or KAD_EUNAVAIL (a file or memory: KAD_OK). Same threading rule as the handle's other calls. */
KAD_API int kad_state_ping(kad_state *st, kad_err *err);
/*
 * Take an exclusive advisory lock on LOCATION.lock until kad_state_close (released by the
 * kernel when the process dies, kill -9 included), so two scans never interleave their batches
 * in one state. KAD_EBUSY when another process holds it, KAD_EIO when the lock file cannot be
 * opened; err->msg is then the whole message (no origin). A no-op for MEM stores and shared
 * stores (redis://: instances share it by design; the server decides between them).
 */
KAD_API int kad_state_lock(kad_state *st, kad_err *err);

typedef struct kad_state_stats {
    uint64_t baselines, combinations, alert_ids, inputs;
    int64_t db_bytes, wal_bytes;
    uint64_t mem_terms, mem_bytes, mem_keys;
    double mem_overhead;
} kad_state_stats;
KAD_API int kad_state_stats_get(kad_state *st, kad_state_stats *out, kad_err *err);

/* Most new-terms fields (components of a combination) a baseline has. */
#define KAD_STATE_FIELDS_MAX 8

/* One baseline (a rule's logic) as the state holds it; borrowed during the callback. */
typedef struct kad_state_rule {
    const char *rule_id, *name;
    uint64_t logic_hash;
    const char *const *fields; /* nfields new-terms field names */
    const size_t *field_lens;
    size_t nfields;
    int64_t window_ms;
    int64_t first_loaded, last_loaded, watermark; /* watermark KAD_TIME_NONE: nothing seen */
    int current;
    uint64_t terms, alerts;
} kad_state_rule;
/* Every baseline, by rule id then age; rule_id NULL = all. fn returns nonzero to stop (that
   value is returned). */
KAD_API int kad_state_rules(kad_state *st, const char *rule_id,
                            int (*fn)(const kad_state_rule *r, void *ud), void *ud, kad_err *err);

typedef struct kad_state_cond {
    const char *field; /* a new-terms field, or a unique suffix of one ("username") */
    const char *value;
    int substring; /* value occurs in the component (else equality) */
} kad_state_cond;
typedef struct kad_state_term {
    const kad_state_rule *rule;
    const char *const *values; /* ncomps values (not NUL-terminated: use lens) */
    const size_t *lens;
    size_t ncomps;
    int64_t first_seen, last_seen;
    int alerted;
} kad_state_term;
typedef struct kad_state_filter {
    const char *rule_id; /* NULL = every rule */
    int all_baselines;   /* also baselines that are not current */
    const kad_state_cond *conds;
    size_t nconds;
    size_t limit; /* 0 = no limit */
} kad_state_filter;
/* The combinations that match f, by rule then combination. */
KAD_API int kad_state_terms(kad_state *st, const kad_state_filter *f,
                            int (*fn)(const kad_state_term *t, void *ud), void *ud, kad_err *err);
/* Input positions (source key, offset, line) and counters, in key order. */
KAD_API int kad_state_inputs(kad_state *st,
                             int (*fn)(const char *source, int64_t offset, int64_t line, void *ud),
                             void *ud, kad_err *err);
KAD_API int kad_state_counters(kad_state *st, int (*fn)(const char *name, int64_t v, void *ud),
                               void *ud);
/* One input position (the committed one, or the one set in the open batch of the engine using
   this handle): KAD_OK, KAD_ENOTFOUND. A follower thread can read committed positions through
   its own handle (kad_state_open KAD_STATE_RO on the same location) while another thread's
   engine writes: kad_follow_opts.position. */
KAD_API int kad_state_position(kad_state *st, const char *source, int64_t *offset, int64_t *line,
                               kad_err *err);

typedef struct kad_state_prune_opts {
    const char *rule_id;   /* NULL = every rule */
    int64_t older_than_ms; /* forget combinations last seen this long before the watermark */
    int stale;             /* drop baselines that are no longer current instead */
} kad_state_prune_opts;
typedef struct kad_state_prune_result {
    uint64_t terms, alerts, baselines;
} kad_state_prune_result;
KAD_API int kad_state_prune(kad_state *st, const kad_state_prune_opts *o,
                            kad_state_prune_result *out, kad_err *err);
/* Forget every baseline of rule_id (NULL: the whole store: rules, terms, alert ids, positions,
   counters). *terms_removed (optional): combinations removed. Not while an engine runs. */
KAD_API int kad_state_reset(kad_state *st, const char *rule_id, uint64_t *terms_removed,
                            kad_err *err);

/*
 * Moving a state between stores (a state file and a Redis server: `kadet state export|import`).
 * kad_state_export calls fn with each line (no newline) of an NDJSON text: a header
 * {"kadet_state_export":1}, every baseline, every combination, every alert id (format:
 * docs/state-redis.md, "Moving a baseline"). kad_state_import reads such a text into a state
 * opened for writing (outside an engine's use), registering each baseline and recording its
 * combinations (first and last seen) and alert ids, in batches; a malformed line stops it with
 * KAD_ESYNTAX and its position (the batches before it stay). res (optional) counts the items.
 */
typedef struct kad_state_io_result {
    uint64_t baselines, terms, alerts;
} kad_state_io_result;
KAD_API int kad_state_export(kad_state *st, int (*fn)(const char *line, size_t len, void *ud),
                             void *ud, kad_state_io_result *res, kad_err *err);
KAD_API int kad_state_import(kad_state *st, const char *text, size_t len, kad_state_io_result *res,
                             kad_err *err);

/*
 * Learned allow-list proposals: combinations of new-terms values that stayed in use through a
 * rule's whole baseline (first seen within a day of its earliest combination, last seen within
 * a day of its watermark, in a baseline spanning at least min_ms: 0 = the rule's history
 * window, else 7 days), as a detection-rules exception file to review. fn is called once per
 * rule that has some (rule_id NULL = every rule), with the file's text (valid during the call).
 * Returns the number of such rules (>= 0) or a negative code.
 */
typedef struct kad_proposal {
    const char *rule_id, *name;
    size_t items;
} kad_proposal;
KAD_API int kad_state_propose(kad_state *st, const char *rule_id, int64_t min_ms,
                              int (*fn)(const kad_proposal *p, const char *toml, size_t len,
                                        void *ud),
                              void *ud, kad_err *err);

/* ============================================================================================
 * Alert index: the alerts a service committed, indexed for a console (filters, keyset pages,
 * a timeline) with their triage status (kibana.alert.workflow_status: open, acknowledged,
 * closed) and a note. It lives beside a file state, in LOCATION.alerts (an SQLite database of
 * its own: the engine holds its state's write transaction between commits, and triage must not
 * wait for a batch); a NULL location keeps it in memory. With a redis:// state the index is in
 * memory (rebuilt by its user, e.g. from the alerts file) and the workflow status is kept in
 * Redis under the instance's key prefix, read back at open. One thread at a time per handle;
 * several handles and processes may share the file (SQLite WAL). docs/internals/console.md,
 * "The alert index".
 * ============================================================================================ */

typedef struct kad_alerts kad_alerts;
/* Open (creating it when missing) the index of the state at state_location. */
KAD_API int kad_alerts_open(kad_alerts **out, const char *state_location, kad_err *err);
KAD_API void kad_alerts_close(kad_alerts *a);
/* The index's file (NULL in memory). */
KAD_API const char *kad_alerts_path(const kad_alerts *a);

/*
 * Index alert documents: NDJSON, each line one alert as the engine writes it. An id already
 * indexed is skipped (re-adding a whole alerts file is harmless). Lines that are not JSON
 * objects with kibana.alert.uuid are counted in *bad (optional) and skipped. *added (optional):
 * alerts new to the index. One transaction.
 */
KAD_API int kad_alerts_add(kad_alerts *a, const char *ndjson, size_t len, size_t *added,
                           size_t *bad, kad_err *err);

/* One indexed alert, borrowed during the callback. time_ms is the event time
   (kibana.alert.original_time), else the alert's @timestamp (created_ms). terms: the
   kibana.alert.new_terms values separated by '\x1f' ("" for query rules). */
typedef struct kad_alert_row {
    const char *id, *rule_id, *rule_name, *severity, *user, *reason, *terms;
    int64_t time_ms, created_ms;
    const char *status;           /* workflow status: "open" until triaged */
    const char *note, *status_by; /* "" when none */
    int64_t status_ms;            /* KAD_TIME_NONE when never triaged */
    const char *doc;              /* the document as indexed */
    size_t doc_len;
    uint64_t seq; /* insertion order (1, 2, ...) */
} kad_alert_row;

/* An exact field condition on the alert document: field a dotted ECS name ("user.name",
   "kubernetes.audit.user.username"), value compared as text. */
typedef struct kad_alert_cond {
    const char *field, *value;
} kad_alert_cond;

/* Which alerts: every set member must hold (NULL / KAD_TIME_NONE / 0 = any). */
typedef struct kad_alert_filter {
    const char *rule;     /* rule_id or rule name */
    const char *severity; /* low | medium | high | critical */
    const char *user;
    const char *status;          /* open | acknowledged | closed */
    const char *text;            /* occurs in the document (ASCII case-insensitive) */
    int64_t from_ms, to_ms;      /* time_ms in [from, to) */
    int64_t created_from_ms;     /* created_ms >= this */
    const kad_alert_cond *conds; /* ncond field conditions */
    size_t nconds;
    /* keyset page: order is time_ms then id, newest first; alerts after the cursor (the last
       row of the previous page: time_ms, id) only. after_id NULL: from the newest. */
    int64_t after_ms;
    const char *after_id;
    size_t limit; /* 0 = no limit */
} kad_alert_filter;
/* Set every member to "any" (times KAD_TIME_NONE). */
KAD_API void kad_alert_filter_init(kad_alert_filter *f);

/* The alerts that pass f, newest first; fn returns nonzero to stop (that value is returned). */
KAD_API int kad_alerts_find(kad_alerts *a, const kad_alert_filter *f,
                            int (*fn)(const kad_alert_row *r, void *ud), void *ud, kad_err *err);
KAD_API int kad_alerts_count(kad_alerts *a, const kad_alert_filter *f, uint64_t *n, kad_err *err);
/* One alert by id: KAD_OK after fn, KAD_ENOTFOUND. */
KAD_API int kad_alerts_get(kad_alerts *a, const char *id,
                           int (*fn)(const kad_alert_row *r, void *ud), void *ud, kad_err *err);
/* Counts of the alerts that pass f per time bucket (time_ms rounded down to bucket_ms), rule
   name and severity, by bucket. */
KAD_API int kad_alerts_histogram(kad_alerts *a, const kad_alert_filter *f, int64_t bucket_ms,
                                 int (*fn)(int64_t bucket, const char *rule_name,
                                           const char *severity, uint64_t n, void *ud),
                                 void *ud, kad_err *err);
/*
 * Triage: set the workflow status (open, acknowledged, closed; else KAD_EINVAL) and note of
 * every id, by `by` at now_ms, in one transaction; every change is also kept in a history. An
 * unknown id fails the whole call (KAD_ENOTFOUND, err names it). *changed (optional): ids set.
 */
KAD_API int kad_alerts_set_status(kad_alerts *a, const char *const *ids, size_t n,
                                  const char *status, const char *note, const char *by,
                                  int64_t now_ms, size_t *changed, kad_err *err);
/* The document with kibana.alert.workflow_status set to the row's status (exports); the caller
   frees it with kad_free. */
KAD_API char *kad_alert_row_export(const kad_alert_row *r, size_t *len);

/* ============================================================================================
 * Input: reading records (NDJSON lines or JSON texts framed across lines; plain or gzip) from
 * files, stdin or memory, with their positions; and decoding them into ECS documents.
 * ============================================================================================ */

/* One framed record: an audit event, an EventList, a JSON array or an ECS document. */
typedef struct kad_record {
    const char *data; /* not NUL-terminated */
    size_t len;
    const char *origin; /* path, "<stdin>", "webhook" */
    uint64_t line;      /* 1-based line of data[0] (0 unknown) */
    uint32_t col;
    uint64_t offset; /* byte offset of data[0] in the (decompressed) source */
} kad_record;

typedef struct kad_reader kad_reader;
typedef struct kad_reader_opts {
    size_t max_record; /* 0 = 16 MiB; longer records are skipped with KAD_ELIMIT */
    /* called whenever the reader is about to wait on a quiet pipe or terminal (never for
       regular files): a streaming caller flushes or commits there; must not use the reader */
    void (*on_idle)(void *ud);
    void *ud;
} kad_reader_opts;
/* path "-" = stdin. KAD_EIO with the system's reason when it cannot be opened. */
KAD_API int kad_reader_open(kad_reader **out, const char *path, const kad_reader_opts *o,
                            kad_err *err);
/* 1 a record (valid until the next call), 0 the end, KAD_ELIMIT a record over the maximum
   (skipped, err positioned, reading goes on) or KAD_EIO (stop). */
KAD_API int kad_reader_next(kad_reader *r, kad_record *rec, kad_err *err);
KAD_API void kad_reader_close(kad_reader *r);

/* Host metadata (Elastic Agent's add_host_metadata) and clocks for raw audit events. */
enum { KAD_TS_STAGE = 0, KAD_TS_REQUEST, KAD_TS_RECEIVED };
enum { KAD_INGESTED_NONE = 0, KAD_INGESTED_NOW };
typedef struct kad_decode_opts {
    int no_host;              /* add no host.* (default: this machine's) */
    const char *host_name;    /* override host.name and host.hostname */
    const char *host_os_type; /* override host.os.type */
    int timestamp;            /* KAD_TS_*: where @timestamp of raw events comes from */
    int ingested;             /* KAD_INGESTED_*: event.ingested of raw events */
    int keep_empty;           /* keep null, "", {} and [] (Elastic's pipeline drops them) */
    const char *ns;           /* data_stream.namespace (default "default") */
    size_t max_record;        /* per record (0 = 64 MiB documents, 16 MiB lines) */
    /* orchestrator.cluster.name of raw audit events that do not carry one (a source's cluster:
       kadet serve --cluster-name); NULL = none */
    const char *cluster_name;
} kad_decode_opts;

enum { KAD_FMT_UNKNOWN = 0, KAD_FMT_K8S, KAD_FMT_GKE, KAD_FMT_AKS, KAD_FMT_ECS };

/* One decoded event, valid during the callback only. */
typedef struct kad_event kad_event;
KAD_API int kad_event_format(const kad_event *ev);
KAD_API const kad_record *kad_event_record(const kad_event *ev);
/* The ECS document as compact JSON (the decoder's buffer; valid during the callback). */
KAD_API const char *kad_event_json(const kad_event *ev, size_t *len);

typedef struct kad_decoder kad_decoder;
typedef struct kad_decode_sink {
    /* each event of a record (an EventList gives several); nonzero stops (returned) */
    int (*on_event)(void *ud, const kad_event *ev);
    /* each bad record or item, positioned; decoding goes on */
    void (*on_error)(void *ud, const kad_err *err);
    void *ud;
} kad_decode_sink;
KAD_API int kad_decoder_new(kad_decoder **out, const kad_decode_opts *o, kad_err *err);
KAD_API void kad_decoder_free(kad_decoder *d);
/* Declare a field the caller reads (hunt: the query's); until the first call documents are
   complete. kad_decoder_need_all: complete documents again. */
KAD_API int kad_decoder_need(kad_decoder *d, const char *field, size_t len);
KAD_API void kad_decoder_need_all(kad_decoder *d);
/* Decode every event of one record (as the raw audit, GKE, AKS or ECS form it is in). */
KAD_API int kad_decode(kad_decoder *d, const kad_record *rec, const kad_decode_sink *sink);
/* The record as one plain JSON document (hunt --format ecs): no mapping, no host. */
KAD_API int kad_decode_plain(kad_decoder *d, const kad_record *rec, const kad_decode_sink *sink);

/* ============================================================================================
 * Following live audit logs (`tail -F` with exact resume): docs/internals/follow.md.
 *
 * A follower reads one or more log paths as their writer appends to them and hands out every
 * complete line once, across rotation by rename (logrotate's audit.log.1, kube-apiserver's
 * audit-2026-12-07T16-27-44.123.log), copytruncate, gzip'ed rotated files (.gz) and deletion.
 * Each record comes with a resume key naming the file's CONTENT, not its name: "fp:" and a hash
 * of its first line (at least 64 and at most 4096 bytes), the same for the live file, its
 * renamed copy, its copytruncate copy and its gzip'ed copy. The caller passes that key to
 * kad_engine_feed_at, so positions are committed per content; after a restart or a rotation
 * the follower asks kad_follow_opts.position for each file it finds and continues at the
 * committed offset in whichever file now holds that content. A last line without its newline is
 * never handed out while the file may still grow. One thread at a time per follower, except
 * kad_follow_interrupt.
 * ============================================================================================ */

typedef struct kad_follow kad_follow;

typedef struct kad_follow_opts {
    /* the committed position of a resume key (kad_engine_position): KAD_OK with *offset (the
       byte after the last record run) and *line (that record's line), or KAD_ENOTFOUND. NULL:
       nothing is known (the live files are read from their start). Called from
       kad_follow_next, on the follower's thread, only for content this follower has not read
       yet (at start-up and after rotations): when the engine runs on another thread, answer
       from a kad_state handle of the follower's own (kad_state_position) instead of the
       engine, which is one-thread-at-a-time. */
    int (*position)(void *ud, const char *key, int64_t *offset, int64_t *line);
    void *ud;
    size_t max_record; /* 0 = 16 MiB; longer lines are skipped with KAD_ELIMIT */
    /* how long a file that left its path (renamed or deleted) is still read for late writes,
       and how long a copytruncate copy is waited for (0 = 2000 ms) */
    int rotate_grace_ms;
    /* how often paths are checked when no inotify event came (0 = 250 ms; inotify is used when
       the system has it, polling only otherwise) */
    int poll_ms;
} kad_follow_opts;

/* One record handed out by kad_follow_next; everything is valid until the next call. */
typedef struct kad_follow_rec {
    kad_record rec;     /* origin: the file's name when it was opened */
    const char *source; /* resume key of the file's content: for kad_engine_feed_at */
    int64_t read_ms;    /* wall clock (epoch ms) when the record was read */
} kad_follow_rec;

/* Counters (a /metrics endpoint, tests). */
typedef struct kad_follow_stats {
    uint64_t records, bytes;
    uint64_t files;       /* files opened (live and rotated) */
    uint64_t rotations;   /* live files that left their path (rename, delete) */
    uint64_t truncations; /* live files replaced in place (copytruncate, `> file`) */
    uint64_t copies;      /* rotated copies finished after a truncation */
    uint64_t missed;      /* rotated files read in full because their content was never seen */
    uint64_t lost;        /* truncations whose copy was not found: lines may be lost (warned) */
} kad_follow_stats;

/*
 * Follow paths (NULL-terminated, at least one; a path need not exist yet). On start each
 * path's directory is searched for its rotated files; the newest file (rotated or live) whose
 * content has a known position is resumed there, and every file rotated after it is read in
 * full before the live file. With no known position, rotated files are left alone and the live
 * file is read from its start. KAD_EINVAL for no path or a path without a file name.
 */
KAD_API int kad_follow_open(kad_follow **out, const char *const *paths, const kad_follow_opts *o,
                            kad_err *err);
/*
 * The next record of any followed path, waiting up to timeout_ms (0: do not wait; negative:
 * until there is one or kad_follow_interrupt). 1: a record in *out; 0: none in that time (or
 * interrupted, or a signal arrived); KAD_ELIMIT: a line over max_record was skipped (err
 * positioned); KAD_EIO: a file could not be read (err says which; the follower goes on with the
 * others). After a negative code, call again: the follower never stops by itself.
 */
KAD_API int kad_follow_next(kad_follow *f, kad_follow_rec *out, int timeout_ms, kad_err *err);
/* Make a kad_follow_next that waits (now or next) return 0 soon; callable from any thread or
   a signal handler. */
KAD_API void kad_follow_interrupt(kad_follow *f);
KAD_API void kad_follow_stats_get(const kad_follow *f, kad_follow_stats *out);
KAD_API void kad_follow_close(kad_follow *f);

/* ============================================================================================
 * Queries (hunt): compile KQL once, match it against decoded events.
 * ============================================================================================ */

typedef struct kad_query kad_query;
/*
 * Compile KQL text. On error NULL, err positioned in "<query>" and, when ctx is not NULL, *ctx
 * receives the query line with a caret under the error (free with kad_free).
 */
KAD_API kad_query *kad_query_compile(const char *text, size_t len, kad_err *err, char **ctx);
KAD_API void kad_query_free(kad_query *q);
KAD_API size_t kad_query_field_count(const kad_query *q);
KAD_API const char *kad_query_field(const kad_query *q, size_t i);
KAD_API int kad_query_needs_all(const kad_query *q);
/* Declare the query's fields to a decoder (or all of them, when it needs every field). */
KAD_API void kad_query_need(const kad_query *q, kad_decoder *d);
KAD_API int kad_query_match(const kad_query *q, const kad_event *ev);
/* Query languages of kad_query_compile_lang (hunt --language). */
enum { KAD_LANG_KUERY = 0, KAD_LANG_EQL, KAD_LANG_ESQL };
/* kad_query_compile for a language: KQL, an EQL query (docs/eql.md; an event query is matched
   with kad_query_match, a sequence fed with kad_query_feed) or an ES|QL query (docs/esql.md). */
KAD_API kad_query *kad_query_compile_lang(int lang, const char *text, size_t len, kad_err *err,
                                          char **ctx);
KAD_API int kad_query_language(const kad_query *q);
/* ES|QL: feed one event to the query (one execution over every event fed, NOW() = now_ms of
   the first call); kad_query_match is 0 for ES|QL. KAD_ELIMIT when a limit of the run is hit. */
KAD_API int kad_query_feed(kad_query *q, const kad_event *ev, int64_t now_ms, kad_err *err);
/* EQL sequence queries: kad_query_feed takes the events in @timestamp order (those without
   one are ignored, as Elasticsearch cannot order them); kad_query_rows returns one NDJSON line
   per sequence found ({"sequence": N, "join_keys": [...], "events": [{"_id", "_source"}...]},
   _source the input record, or the ECS document after kad_query_keep_ecs(q, 1)) or, with
   as_table, a table of one row per event (sequence, stage, @timestamp, _id, the query's
   fields); *nrows is the number of sequences. */
KAD_API int kad_query_is_sequence(const kad_query *q);
KAD_API void kad_query_keep_ecs(kad_query *q, int ecs);
/* ES|QL: finish and return the result rows as NDJSON (one object per row, null cells left
   out) or, with as_table, a text table; *nrows (optional) the number of rows. Free with
   kad_free. Call once; NULL with err on failure. */
KAD_API char *kad_query_rows(kad_query *q, int as_table, size_t *nrows, kad_err *err);

/* ============================================================================================
 * Preview: Elastic's scheduled executions of query and new_terms rules replayed over documents
 * (docs/preview.md): N executions at END - (N-1)*INTERVAL, ..., END, each over the rule's own
 * look-back and history window. No state: files in event-time order are streamed (only what
 * later executions need is held), other input is held in memory for the run (docs/preview.md,
 * "Memory").
 * ============================================================================================ */

typedef struct kad_preview_opts {
    kad_rules *rules;
    const char *rule;       /* only this rule id or name; NULL = every query/new_terms rule */
    kad_decode_opts decode; /* host metadata; timestamp KAD_TS_STAGE or KAD_TS_REQUEST */
    int64_t end_ms;         /* the last execution; KAD_TIME_NONE = replay over event time */
    uint32_t invocations;   /* executions (0 = 1); only with end_ms */
    int64_t interval_ms;    /* 0 = each rule's interval */
    /* each alert document (one line, no newline), rule by rule, in creation order */
    void (*on_alert)(const char *json, size_t len, void *ud);
    /* what Elastic reports per execution and per rule ("rule 'ID': ..."), in order */
    void (*on_message)(const char *text, void *ud);
    /* each unreadable input and bad record (positioned) */
    void (*on_error)(const kad_err *err, void *ud);
    void *ud;
    /* files are replayed streaming, holding only what later executions need (docs/preview.md,
       "Memory"), when their documents come in event-time order give or take reorder_ms
       (0 = one hour); otherwise, or with in_memory, every matching document is held */
    int64_t reorder_ms;
    int in_memory;
} kad_preview_opts;

typedef struct kad_preview_result {
    uint64_t events;     /* documents read */
    uint64_t kept;       /* matching some rule's query */
    uint64_t executions; /* over all rules */
    uint64_t alerts;
    uint64_t skipped;     /* bad records */
    uint64_t exec_errors; /* executions that failed as Elastic reports them */
    uint64_t rule_errors; /* rules that could not be run (e.g. too many combinations) */
    int input_errors;     /* some input could not be read */
    int streamed;         /* the executions ran streaming (docs/preview.md, "Memory") */
    uint64_t held;        /* documents held at most (streamed: the sum of each rule's peak) */
} kad_preview_result;

/* Run the preview over files (NULL-terminated; NULL or empty = stdin). KAD_ENOTFOUND when
   opts.rule names no rule; otherwise KAD_OK and *res (problems are counted there). */
KAD_API int kad_preview_run(const kad_preview_opts *o, const char *const *files,
                            kad_preview_result *res, kad_err *err);

/* ============================================================================================
 * Engine: rules + state + options; records in, alerts out, commits that make it all durable.
 *
 * The commit protocol (docs/internals/engine.md): alerts found since the last commit are kept
 * pending. With an output file (kad_engine_opts.output_path), a commit writes them, fdatasyncs
 * the file, then commits {state, input positions, output length, alert ids} in one
 * transaction; opening the engine truncates the file to its committed length, so a rerun after
 * kill -9 gives exactly the alerts of one uninterrupted run. With an output descriptor (stdout)
 * the alerts are written first and the transaction commits after: a write that fails (EPIPE,
 * ENOSPC) fails the engine with the batch uncommitted, so a rerun raises it again, and a crash
 * between the two writes that batch again (at least once, never lost). Ignore SIGPIPE to get
 * the EPIPE error instead of dying. Without output only the sink sees
 * alerts (at detection time, before the commit that records their ids).
 * ============================================================================================ */

typedef struct kad_engine kad_engine;

/* One alert, valid during the callback. */
typedef struct kad_alert {
    const char *json; /* the alert document, one line, no newline */
    size_t len;
    const char *id;      /* kibana.alert.uuid */
    const char *rule_id; /* the rule's rule_id */
    const char *rule_name;
    const char *severity; /* may be NULL */
    size_t rule_index;    /* in the kad_rules */
    int64_t event_ms;     /* event time, KAD_TIME_NONE when unknown */
    int64_t timestamp_ms; /* @timestamp of the alert */
    /* for short forms (a table): the user and, for new_terms rules, the new terms */
    const char *user;
    size_t user_len;
    size_t nterms;
    const char *const *terms; /* nterms values (use term_lens) */
    const size_t *term_lens;
    const char *const *term_fields; /* the rule's new-terms fields */
} kad_alert;

enum {
    KAD_ALERT_WRITE = 0, /* the engine writes the alert's NDJSON line to its output */
    KAD_ALERT_TAKEN = 1, /* the callback wrote its own text (kad_engine_output) or nothing */
};

enum { KAD_FORMAT_AUTO = 0, KAD_FORMAT_AUDIT, KAD_FORMAT_ECS };

#define KAD_FUTURE_DEFAULT_MS ((int64_t)15 * 60 * 1000)

typedef struct kad_engine_opts {
    kad_rules *rules; /* referenced by the engine (kad_rules_ref) */
    kad_state *state; /* borrowed; must outlive the engine; one engine per state */
    kad_decode_opts decode;
    int format;      /* KAD_FORMAT_*: events of another form are counted and ignored */
    int learn;       /* build the baseline, never alert (count would-be alerts) */
    int no_baseline; /* leave kadet.baseline out of alerts */
    int64_t now_ms;  /* alert @timestamp; KAD_TIME_NONE: the wall clock */
    /* clock skew: an event stamped more than this after the time its record was read counts as
       `future` (a warning, kad_rule_stats.future); new_terms rules judge it at the latest time
       they have seen and it never moves their watermark, so one event from a skewed clock or a
       forged 2099 cannot blind a rule. 0: the default KAD_FUTURE_DEFAULT_MS; negative: off */
    int64_t future_ms;
    long batch;     /* records per commit (0 = 50000) */
    int from_start; /* ignore remembered input positions (the output keeps its alerts) */
    /* output: a file (exact resume) or a descriptor (written after each commit); neither:
       output_fd -1 */
    const char *output_path;
    int output_fd;
    /* called at detection time (inside kad_engine_feed/scan/body); return KAD_ALERT_* or a
       negative code to stop with an error */
    int (*on_alert)(const kad_alert *a, void *ud);
    /* called after every record while scanning an input (a progress display) */
    void (*on_record)(void *ud);
    void *ud;
    /* outputs (kad_outputs_new; borrowed, must outlive the engine; NULL: none): each commit
       appends the batch's alerts to their outbox before the state's transaction, then wakes
       their delivery threads (the "Outputs" section below) */
    struct kad_outputs *outputs;
    /* kad_engine_scan's decoding threads: 0 or 1 decodes on the calling thread; N > 1 decodes
       on N - 1 worker threads and the calling thread (at most 64), while detection, state,
       alerts and commits stay on the calling thread in input order, so the alerts, counts,
       positions and warnings are those of one thread. kad_engine_push uses them too;
       kad_engine_feed and kad_engine_body always decode on the calling thread. */
    int threads;
} kad_engine_opts;

/* Open an engine: registers the runnable rules with the state (a rule whose logic changed
   starts a new baseline), opens the output (truncating it to its committed length) and begins
   the first batch. */
KAD_API int kad_engine_new(kad_engine **out, const kad_engine_opts *o, kad_err *err);
/* Roll back what was not committed and free (the rules reference is dropped). */
KAD_API void kad_engine_free(kad_engine *e);

/* Append text to the pending output (from on_alert with KAD_ALERT_TAKEN, or a header). */
KAD_API int kad_engine_output(kad_engine *e, const char *text, size_t len, kad_err *err);

/*
 * Scan one input (a path, "-" = stdin; plain or gzip): resume after its remembered position
 * (regular files), run every record, commit every `batch` records and at the end, forget
 * combinations older than twice their window. Bad records are skipped, counted and logged
 * (rate-limited warnings). Returns KAD_OK when it was read to the end; KAD_ENOTFOUND when it
 * could not be opened (err->msg "PATH: reason", no origin); KAD_EIO when it could not be read
 * further (err positioned; what was read is committed); the caller may go on with other inputs
 * after those. When kad_engine_failed() is true afterwards, the error is a state, output or
 * engine failure: stop.
 */
KAD_API int kad_engine_scan(kad_engine *e, const char *path, kad_err *err);

/* Counts of one kad_engine_body call (what the webhook answers). */
typedef struct kad_body_result {
    uint64_t records, events, skipped, alerts;
} kad_body_result;
/*
 * One in-memory body (a webhook POST: an EventList, a JSON array or NDJSON), framed and run
 * like an input, then committed before returning, so the caller answers only once its alerts
 * and state are durable. request_id and peer name it in skipped-record warnings. KAD_ESYNTAX
 * (err positioned, nothing run) when it is not JSON at all.
 */
KAD_API int kad_engine_body(kad_engine *e, const char *body, size_t len, uint64_t request_id,
                            const char *peer, kad_body_result *res, kad_err *err);

/*
 * Run one record from your own reader (or a queue). `source` (NULL: none) is the input's resume
 * key, at most 1024 bytes: the position after the record (rec->offset + rec->len, rec->line) is
 * committed with the batch under that key, and kad_engine_position reads it back, so a caller
 * that feeds records resumes exactly as kad_engine_scan does. Commits when the batch is full.
 */
KAD_API int kad_engine_feed(kad_engine *e, const char *source, const kad_record *rec, kad_err *err);
/* The committed (or pending in the open batch) position of source: KAD_OK, KAD_ENOTFOUND. */
KAD_API int kad_engine_position(kad_engine *e, const char *source, int64_t *offset, int64_t *line,
                                kad_err *err);
/*
 * kad_engine_feed for a record read earlier (a queue, a follower): read_ms is when its bytes
 * were read (epoch ms; KAD_TIME_NONE = now). It is the record's read time: the reference of
 * future_ms and, with KAD_INGESTED_NOW / KAD_TS_RECEIVED, the event.ingested / @timestamp
 * stamped on raw events, so a record that waited in a queue keeps the time it arrived.
 * Records of several sources may be interleaved in one batch: each source's last position is
 * committed with it.
 */
KAD_API int kad_engine_feed_at(kad_engine *e, const char *source, const kad_record *rec,
                               int64_t read_ms, kad_err *err);
/*
 * Per-source decode options (kadet serve's per-listener and per-file host.* and cluster): add
 * another set of host.* (no_host, host_name, host_os_type) and orchestrator.cluster.name
 * (cluster_name) for the records fed with kad_engine_feed_with; every other field of d is
 * ignored (the engine's kad_engine_opts.decode decides). Returns its number (1, 2, ...) or a
 * negative code. 0 names kad_engine_opts.decode itself.
 */
KAD_API int kad_engine_decode_add(kad_engine *e, const kad_decode_opts *d, kad_err *err);
/* kad_engine_feed_at decoding the record with the options numbered `decode`. */
KAD_API int kad_engine_feed_with(kad_engine *e, const char *source, const kad_record *rec,
                                 int64_t read_ms, int decode, kad_err *err);
/*
 * kad_engine_feed_with, decoded in parallel (kad_engine_opts.threads > 1): the record is copied
 * and may run after the call returns. Decoding happens on the engine's worker threads (and on
 * the calling thread); detection, state, alerts (on_alert) and positions on the calling thread
 * in push order, inside later kad_engine_push calls and kad_engine_push_wait. Every other call
 * on the engine (commit, feed, position, scan, body, flush) runs what was pushed first, so the
 * results are those of kad_engine_feed_with. Records of one source are pushed back to back;
 * another source, a decode set other than 0, or threads <= 1 run one record at a time.
 */
KAD_API int kad_engine_push(kad_engine *e, const char *source, const kad_record *rec,
                            int64_t read_ms, int decode, kad_err *err);
/* Run every pushed record now: KAD_OK, or the engine's failure. */
KAD_API int kad_engine_push_wait(kad_engine *e, kad_err *err);
/* Commit now (see the protocol above). */
KAD_API int kad_engine_commit(kad_engine *e, kad_err *err);
/* The inputs have ended and time has passed to now_ms (KAD_TIME_NONE: the wall clock; not
   kad_engine_opts.now_ms, which only stamps alerts): ES|QL rules evaluate their open windows
   ending at or before it (documents of those windows read later count as too late; EQL
   sequences follow event time only). The alerts go to the pending output like any others
   (the next commit writes them). */
KAD_API int kad_engine_flush(kad_engine *e, int64_t now_ms, kad_err *err);
/*
 * Reopen output_path (logrotate's convention on SIGHUP after it renamed the file): commit, then
 * write to a file opened anew under that name (created if missing, appended to), whose length
 * is committed at once. A no-op for a descriptor output. KAD_EIO when it cannot be opened: the
 * alerts keep going to the file already open (not a failure of the engine).
 */
KAD_API int kad_engine_reopen_output(kad_engine *e, kad_err *err);
/* True after a state or output failure: every later call fails. */
KAD_API int kad_engine_failed(const kad_engine *e);
/* Log the "N more suppressed" line of the rate-limited skipped-record warnings, if any. */
KAD_API void kad_engine_log_flush(kad_engine *e);

/* Engine counters (a /metrics endpoint reads them between calls). */
typedef struct kad_engine_stats {
    uint64_t records, events, bytes;
    uint64_t skipped, skipped_syntax, skipped_limit, skipped_other;
    uint64_t not_format;                    /* events of another form than opts.format */
    uint64_t refused;                       /* kad_engine_body calls refused (not JSON) */
    uint64_t alerts;                        /* alerts handed to on_alert / the output */
    uint64_t matched, excepted, suppressed; /* summed over the rules */
    uint64_t pruned; /* combinations forgotten (older than twice their window) */
    uint64_t commits;
    int64_t input_offset; /* bytes of the current input consumed (progress) */
    int64_t input_base;   /* where the current input was resumed from */
    /* warnings (logged with their positions, rate-limited; not counted in skipped): records
       that are not Kubernetes audit events (e.g. GKE cluster operations), events whose time is
       not a date (no @timestamp: see --ingested now), inputs with data after their gzip end */
    uint64_t not_audit, bad_time, gzip_trailing;
} kad_engine_stats;
KAD_API void kad_engine_stats_get(const kad_engine *e, kad_engine_stats *out);

enum { KAD_BASELINE_NEW = 0, KAD_BASELINE_KEPT, KAD_BASELINE_CHANGED, KAD_BASELINE_REVERTED };
typedef struct kad_rule_stats {
    int runs;     /* 0: a rule type kadet does not run */
    int baseline; /* KAD_BASELINE_*, -1 when the rule does not run */
    uint64_t candidates, matched, excepted, no_time, no_terms, alerts, would_alert;
    uint64_t max_signals_cut, duplicates, combos_limited, too_late, suppressed;
    uint64_t future; /* events stamped past their read time + kad_engine_opts.future_ms */
} kad_rule_stats;
/* Rules in kad_rules order. */
KAD_API size_t kad_engine_rule_count(const kad_engine *e);
KAD_API void kad_engine_rule_stats(const kad_engine *e, size_t i, kad_rule_stats *out);
/* The first field rule i reads that starts with prefix (e.g. "host."), or NULL. */
KAD_API const char *kad_engine_rule_reads(const kad_engine *e, size_t i, const char *prefix);
/* Rules the prefilter indexes by an exact term. */
KAD_API size_t kad_engine_prefilter_indexed(const kad_engine *e);
/* The run's warnings (max_signals hits, Elastic's text), one per line; free with kad_free. */
KAD_API char *kad_engine_warnings(const kad_engine *e);

/* ============================================================================================
 * Outputs: alerts delivered to Elasticsearch, webhooks, Slack, syslog, files or stdout through
 * a durable outbox (docs/alerts.md "Delivering alerts", docs/internals/outputs.md).
 *
 * The outbox is an SQLite file. An engine with kad_engine_opts.outputs set appends each batch's
 * alerts to it in the commit protocol: after the output file's fdatasync, before the state's
 * transaction (alert ids are unique in the outbox, so a batch replayed after a crash between
 * the two appends nothing twice). Each output has a delivery thread and a cursor of its own in
 * the outbox: a slow output delays neither detection nor the other outputs. Failed attempts
 * are retried with exponential backoff and jitter; after `attempts=` or on a permanent error
 * the alert goes to the dead-letter file (NDJSON: output, time_ms, reason, alert).
 *
 * A sink spec is `TYPE:TARGET[,key=value...]` (elasticsearch:URL, webhook:URL, slack:URL,
 * syslog:udp://HOST:PORT|tcp://...|tls://...|unix:PATH, file:PATH, stdout); a configuration
 * file's `[[sink]]` table has `type`, `target` (or `spec`) and the same options as keys
 * (docs/config.md). Thread safety: several engines (threads) may share one kad_outputs;
 * kad_outputs_stats/metrics may be called from any thread.
 * ============================================================================================ */

typedef struct kad_outputs kad_outputs;

typedef struct kad_outputs_opts {
    const char *outbox_path;  /* the outbox file (created when missing); required by _new */
    const char *dead_letter;  /* default dead-letter file; NULL: OUTBOX_PATH.dead */
    const char *hostname;     /* syslog HOSTNAME; NULL: gethostname() */
    const char *const *specs; /* sink specs (origin "--sink" in errors) */
    size_t nspecs;
    const char *config_path; /* a TOML file whose [[sink]] tables are outputs too; NULL: none */
} kad_outputs_opts;

/* Parse the specs and the config's [[sink]] tables, open the outbox (each new output's cursor
   starts at its end) and start one delivery thread per output. Errors are positioned: a spec
   at its byte offset (col = offset + 1), a config table at its file:line:col. A config without
   [[sink]] tables and no specs gives a kad_outputs with no output (count 0). */
KAD_API int kad_outputs_new(kad_outputs **out, const kad_outputs_opts *o, kad_err *err);
/* Parse and check the specs and config only (usage errors before anything is opened). */
KAD_API int kad_outputs_check(const kad_outputs_opts *o, kad_err *err);
/* Number of outputs. */
KAD_API size_t kad_outputs_count(const kad_outputs *o);
/* Wait until every committed alert is delivered or dead-lettered, or timeout_ms passed;
   returns the number still pending (0: all done). Alerts left pending stay in the outbox and
   are delivered by the next kad_outputs on the same file. */
KAD_API int64_t kad_outputs_drain(kad_outputs *o, int timeout_ms);

typedef struct kad_output_stats {
    const char *name;                    /* the output's name= (its cursor's key) */
    const char *type;                    /* "elasticsearch", "webhook", ... */
    uint64_t delivered, retried, failed; /* since kad_outputs_new; failed = dead-lettered */
    uint64_t filtered;                   /* skipped by the output's filters */
    int64_t queue_depth;                 /* alerts after the output's cursor */
    int64_t oldest_age_ms;               /* age of the oldest pending alert, 0 = none */
    char last_error[300];                /* the last failed attempt's reason, "" = none */
} kad_output_stats;
/* Output i's counters (i < kad_outputs_count). Queue depth and age are refreshed by the
   delivery thread after each pass. */
KAD_API int kad_outputs_stats(kad_outputs *o, size_t i, kad_output_stats *out);
/* Every output's counters as Prometheus text exposition lines (# HELP, # TYPE and one sample
   per output, label output="NAME"): kadet_output_delivered_total, kadet_output_retried_total,
   kadet_output_failed_total, kadet_output_filtered_total, kadet_output_queue_depth,
   kadet_output_oldest_pending_seconds. Free with kad_free. */
KAD_API char *kad_outputs_metrics(kad_outputs *o);
/* Stop the delivery threads and free. An HTTP request in flight is aborted within about a
   second (a slow receiver does not delay exit); it and every pending alert stay in the outbox
   for the next kad_outputs on the same file. */
KAD_API void kad_outputs_free(kad_outputs *o);

/* `kadet outputs test`: send one sample alert (alert_json, or a built-in sample when NULL) to
   each output of the specs and config, one attempt each, no outbox and no filters; fn gets
   each output's name and outcome (rc KAD_OK, else the error with the receiver's answer).
   Returns KAD_OK when every output accepted it, else the last failure's code. */
KAD_API int kad_outputs_test(const kad_outputs_opts *o, const char *alert_json, size_t len,
                             void (*fn)(const char *name, int rc, const char *msg, void *ud),
                             void *ud, kad_err *err);

/* Per output of an outbox file, read-only (`kadet state stats`): totals over every run. */
typedef struct kad_outbox_output {
    const char *name;
    int64_t cursor;    /* outbox sequence delivered up to */
    int64_t pending;   /* alerts after the cursor */
    int64_t oldest_ms; /* creation time of the oldest pending, 0 = none */
    int64_t delivered, retried, failed, filtered; /* totals over every run */
} kad_outbox_output;
/* KAD_ENOTFOUND when the file does not exist. */
/* Delete an outbox: the file, SQLite's -wal and -shm beside it, and its document segments
   (PATH.docs-NNNNNN). For a temporary outbox at exit; nothing may have it open. */
KAD_API void kad_outbox_remove(const char *path);
KAD_API int kad_outbox_stats(const char *path, void (*fn)(const kad_outbox_output *o, void *ud),
                             void *ud, kad_err *err);

#ifdef __cplusplus
}
#endif
#endif

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
    X(EBUSY, -11, "in use by another process")

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
enum { KAD_RULE_QUERY = 0, KAD_RULE_NEW_TERMS, KAD_RULE_OTHER };
typedef struct kad_rule_info {
    const char *rule_id, *name, *description;
    int kind;             /* KAD_RULE_*: OTHER types (eql, esql, ...) are loaded, never run */
    const char *type;     /* as written: "query", "new_terms", "eql", ... */
    const char *language; /* "kuery", ... */
    const char *severity; /* low | medium | high | critical */
    int risk_score;
    const char *query;        /* source text */
    const char *note;         /* investigation guide (Markdown) */
    const char *setup;        /* setup guide (Markdown) */
    const char *file;         /* the file it was loaded from */
    int line;                 /* of its [rule] table */
    int runnable;             /* 1: kadet runs it (query and new_terms with a compiled KQL query) */
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
} kad_state_opts;

/*
 * Open the store at `location`: a file path (SQLite). Later releases add URLs (redis://...)
 * here without changing callers. location may be NULL for KAD_STATE_MEM. On success *out owns
 * the store; close it with kad_state_close after every engine using it is freed.
 */
KAD_API int kad_state_open(kad_state **out, const char *location, const kad_state_opts *o,
                           kad_err *err);
KAD_API void kad_state_close(kad_state *st);
/* The location given to kad_state_open (NULL for MEM). */
KAD_API const char *kad_state_location(const kad_state *st);
/*
 * Take an exclusive advisory lock on LOCATION.lock until kad_state_close (released by the
 * kernel when the process dies, kill -9 included), so two scans never interleave their batches
 * in one state. KAD_EBUSY when another process holds it, KAD_EIO when the lock file cannot be
 * opened; err->msg is then the whole message (no origin). A no-op for MEM stores.
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

/* ============================================================================================
 * Preview: Elastic's scheduled executions of query and new_terms rules replayed over documents
 * (docs/preview.md): N executions at END - (N-1)*INTERVAL, ..., END, each over the rule's own
 * look-back and history window. No state: everything is in memory for the run.
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
 * the transaction commits first and the alerts are written after: an alert id is never written
 * twice; a crash between the two loses that batch's alerts. Without output only the sink sees
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
    int from_start; /* ignore remembered input positions and output length */
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
/* Commit now (see the protocol above). */
KAD_API int kad_engine_commit(kad_engine *e, kad_err *err);
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

#ifdef __cplusplus
}
#endif
#endif

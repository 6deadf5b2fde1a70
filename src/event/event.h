/*
 * event.h - the event view the rest of the engine sees (owned by the events module).
 *
 * CONTRACT FIXED BY THE FOUNDATION (other modules code against it; the events module may add
 * to this header but must not change what is here without updating its users):
 *
 *   - A decoded document is a tree of `struct ev_node` allocated in an arena (normally the
 *     per-event arena). Every pointer in it is valid until that arena is reset or finished.
 *   - Strings are decoded (escapes resolved, UTF-8 validated) and NUL-terminated; `len` is
 *     their byte length (a string may contain U+0000, so always use len).
 *   - Numbers keep their source text in `str`/`len` (e.g. "1.50"), so KQL can compare text
 *     for string-vs-literal cases and parse numerically when needed.
 *   - Object members keep document order; duplicate keys are all kept (lookup sees all).
 *
 * ev_values() implements docs/internals/kql.md's field lookup (dotted paths through nested objects,
 * literal dotted keys, arrays flattened, null contributes nothing).
 */
#ifndef KAD_EVENT_H
#define KAD_EVENT_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ev_type {
    EV_NULL = 0,
    EV_FALSE,
    EV_TRUE,
    EV_NUMBER,
    EV_STRING,
    EV_ARRAY,
    EV_OBJECT,
};

struct ev_node {
    uint8_t type;          /* enum ev_type */
    uint32_t klen;         /* byte length of key */
    uint32_t len;          /* EV_STRING/EV_NUMBER: byte length of str; ARRAY/OBJECT: children */
    const char *key;       /* member key (decoded, NUL-terminated) or NULL outside objects */
    const char *str;       /* EV_STRING: decoded bytes; EV_NUMBER: number text; else NULL */
    struct ev_node *child; /* ARRAY/OBJECT: first child, NULL when empty */
    struct ev_node *next;  /* next sibling in the parent, NULL at the end */
};

/*
 * Called for each value found for a path. Leaves are EV_STRING/EV_NUMBER/EV_TRUE/EV_FALSE;
 * EV_OBJECT is passed for objects found at the path (they count only for "exists" and nested
 * queries). `partial` is true when the value is an object reached only through a longer literal
 * key (`{"a.b":1}` seen from path `a`): it exists but is not a value of the path.
 * Arrays are never passed (their elements are); nulls are never passed.
 * Return true to stop the walk.
 */
typedef bool (*ev_visit_fn)(const struct ev_node *v, bool partial, void *ctx);

/*
 * Walk every value of dotted `path` (path[0..len)) under `root` (an object, or an array of
 * objects). Returns true when the visitor stopped the walk. Does not allocate.
 */
bool ev_values(const struct ev_node *root, const char *path, size_t len, ev_visit_fn fn, void *ctx);

/*
 * Memo of ev_values results for one document: each distinct path is walked once, later calls
 * for the same path text replay the recorded visits (the same values, in the same order, with
 * the same `partial` flags, stopping where the visitor stops; the first walk of a path goes to
 * its end even when its visitor stops early, so that the record is complete), so callers that look
 * the same fields up several times per document (prefilter, each rule's query, new-terms) pay one
 * walk. The caller owns the memo (no allocation: fixed capacity; paths or values beyond it are
 * simply walked every time). It is valid for one document: call ev_memo_reset with the document's
 * root before its first lookup, and again (or with NULL) before that root's arena is reset. The
 * document must not change in between, and each `path` must stay valid until the next reset
 * (it is kept, not copied: pass compiled or literal paths). A visitor may look values up
 * again (that lookup is simply not memoised).
 */
#define EV_MEMO_PATHS 64
#define EV_MEMO_VALS 512
struct ev_memo {
    const struct ev_node *root; /* NULL: memo off */
    uint32_t npaths, nvals;
    bool busy; /* recording a walk */
    struct {
        const char *path;
        uint32_t len, first, n; /* values v[first, first + n) */
    } p[EV_MEMO_PATHS];
    struct {
        const struct ev_node *v;
        bool partial;
    } v[EV_MEMO_VALS];
};
void ev_memo_reset(struct ev_memo *m, const struct ev_node *root);
/* ev_values through the memo; exactly ev_values when m is NULL or root is not m's root. */
bool ev_values_memo_(struct ev_memo *m, const struct ev_node *root, const char *path, size_t len,
                     ev_visit_fn fn, void *ctx);
static inline bool ev_values_memo(struct ev_memo *m, const struct ev_node *root, const char *path,
                                  size_t len, ev_visit_fn fn, void *ctx)
{
    if (!m || !root || root != m->root) /* off: no call in between */
        return ev_values(root, path, len, fn, ctx);
    return ev_values_memo_(m, root, path, len, fn, ctx);
}

/*
 * For a partial hit (`{"a.b": {...}}` seen from path `a`), `v` is the value of the longer key
 * (never null; arrays are flattened as usual). It proves that the path names an object holding
 * something, so it counts for "exists" only when ev_has_value(v) is true.
 */

/* True when v is, or contains somewhere, a non-null leaf (kql.md §5.4 "exists"). */
bool ev_has_value(const struct ev_node *v);
/* Member `key` of object obj (the first when duplicated), or NULL. Borrowed from the tree. */
const struct ev_node *ev_member(const struct ev_node *obj, const char *key, size_t klen);
/* First value of dotted `path` (NUL-terminated) whose type is `type`, or NULL. */
const struct ev_node *ev_first(const struct ev_node *root, const char *path, uint8_t type);
/* First string value of `path` ({NULL,0} when there is none); borrowed from the tree. */
kx_str ev_first_str(const struct ev_node *root, const char *path);

/* ============================================================================================
 * JSON reader (event_json.c): strict RFC 8259 into an ev_node tree.
 *
 * Strings are UTF-8 checked and unescaped; a lone surrogate escape becomes U+FFFD. Numbers
 * keep their text. Errors: KAD_ESYNTAX (bad JSON) or KAD_ELIMIT (depth, size, arena maximum),
 * with err->offset the byte offset of the offending byte in s and line:col computed from s.
 * ============================================================================================ */

#define EV_JSON_MAX_DEPTH 512               /* default nesting limit */
#define EV_JSON_MAX_SIZE ((size_t)64 << 20) /* default document size limit */

struct ev_json_limits {
    uint32_t max_depth; /* 0 = EV_JSON_MAX_DEPTH */
    size_t max_size;    /* 0 = EV_JSON_MAX_SIZE */
};

/*
 * Parse the whole of s[0..n) (s need not be NUL-terminated) into a tree allocated in `a`.
 * Returns the root (valid until `a` is reset) or NULL with err filled. `origin` is borrowed
 * into err.
 */
struct ev_node *ev_json_parse(kx_arena *a, const char *s, size_t n, const char *origin,
                              kad_err *err);
struct ev_node *ev_json_parse_lim(kx_arena *a, const char *s, size_t n,
                                  const struct ev_json_limits *lim, const char *origin,
                                  kad_err *err);
/* Append the compact JSON text of n to out (keys in tree order). KAD_ELIMIT when out is full. */
int ev_json_dump(const struct ev_node *n, kx_buf *out);

/* ============================================================================================
 * Single-pass extractor (event_extract.c): validate a whole document like ev_json_parse, but build
 * only the members on a set of dotted paths (compiled once into a trie). Everything else is
 * checked and skipped without allocation.
 * ============================================================================================ */

#define EV_PATH_CAPTURE 1u /* build the whole value found at this path */
#define EV_PATH_ABORT 2u   /* stop: the caller must use the full parse for this document */

struct ev_paths;

struct ev_paths *ev_paths_new(void);
void ev_paths_free(struct ev_paths *p);
/*
 * Add dotted path[0..len) with EV_PATH_* flags (0 = CAPTURE). Paths are split at dots; a JSON
 * key containing dots matches the same way ev_values() does. Adding "a" and "a.b" captures all
 * of "a". KAD_EINVAL for an empty path.
 */
int ev_paths_add(struct ev_paths *p, const char *path, size_t len, unsigned flags);
/* Number of distinct paths added. */
size_t ev_paths_count(const struct ev_paths *p);
/*
 * Extract from s[0..n), which must be a JSON object. Returns an object holding only the members
 * (recursively, arrays kept as arrays) that lie on a CAPTURE path; empty objects and arrays
 * along the way are left out. Returns NULL with *aborted = true (and err clear) when the
 * document is not an object or an ABORT path was met: the caller then uses ev_json_parse. Other
 * NULL returns are errors exactly as ev_json_parse would report them.
 */
struct ev_node *ev_json_extract(kx_arena *a, const char *s, size_t n, const struct ev_paths *paths,
                                const struct ev_json_limits *lim, const char *origin, bool *aborted,
                                kad_err *err);
#ifdef KAD_TEST_HOOKS
/* Tests: true makes the extractor's block skip use its SSE version where AVX2 would run. */
extern bool ev_test_skip_sse;
#endif

/* ============================================================================================
 * Time (event_time.c). Event times are epoch milliseconds (int64); EV_TIME_NONE when absent.
 * ============================================================================================ */

#define EV_TIME_NONE INT64_MIN

/*
 * Parse an ISO 8601 date as Elasticsearch's `strict_date_optional_time` does
 * ("2025-03-04T06:22:18.822532Z", "...+02:00", "...+0200", "2025-03-04", "2025-03-04T06:22";
 * also a space instead of 'T'; no zone = UTC) into epoch ms, fractions truncated. False when
 * not a date.
 */
bool ev_time_parse(const char *s, size_t n, int64_t *ms);
/* "2025-03-04T06:22:18.822Z" (millisecond precision, UTC) into buf; returns the length. */
size_t ev_time_fmt_ms(int64_t ms, char buf[32]);
/* "2025-03-04T06:22:18Z" (whole seconds, UTC; Elastic's event.ingested form). */
size_t ev_time_fmt_s(int64_t ms, char buf[32]);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31), and back. */
int64_t ev_days_from_civil(int64_t y, unsigned m, unsigned d);
void ev_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* ============================================================================================
 * Records and decoding (event_decode.c, event_ecs.c).
 *
 * A record is one framed unit of input: an NDJSON line, a JSON text spanning several lines, or
 * a webhook body. It may hold one audit event, an EventList, a JSON array of events, or an ECS
 * document. Decoding turns each event in it into the ECS document Elastic's Kubernetes
 * integration would store (docs/internals/ecs-mapping.md).
 * ============================================================================================ */

struct ev_record {
    const char *ptr; /* the bytes (not NUL-terminated) */
    size_t len;
    const char *origin; /* file name, "<stdin>", "webhook"; borrowed */
    uint64_t line;      /* 1-based line of ptr[0] in the origin (0 = unknown) */
    uint32_t col;       /* 1-based column of ptr[0] */
    uint64_t offset;    /* byte offset of ptr[0] in the (decompressed) origin */
};

enum ev_format {
    EV_FMT_UNKNOWN = 0,
    EV_FMT_K8S,  /* raw audit.k8s.io/v1 (or v1beta1) Event */
    EV_FMT_GKE,  /* Cloud Logging LogEntry with protoPayload */
    EV_FMT_AKS,  /* Azure diagnostic record, Event in properties.log */
    EV_FMT_ECS,  /* already an ECS document: taken as is */
    EV_FMT_LIST, /* EventList or JSON array: decoded item by item */
};

/* Name of a format ("k8s", "gke", "aks", "ecs", "list", "unknown"). */
const char *ev_format_name(int fmt);

/* host.* fields (Elastic Agent's add_host_metadata). NULL members are left out. */
struct ev_host {
    const char *name, *hostname, *id, *architecture;
    const char *os_type, *os_family, *os_name, *os_platform, *os_kernel, *os_version, *os_codename;
};

/*
 * Fill h from this machine (uname, /etc/os-release, /etc/machine-id). Strings point into
 * `store` (size bytes); fields that cannot be found stay NULL.
 */
void ev_host_detect(struct ev_host *h, char *store, size_t size);

enum { EV_INGESTED_NONE = 0, EV_INGESTED_NOW = 1 };

/* Where a raw event's @timestamp comes from (semantics.md "Two clocks"; AKS records always
   use the record's `time`, as Elastic's pipeline does). Each falls back to the others' audit
   timestamps when its own is missing. */
enum {
    EV_TS_STAGE = 0, /* stageTimestamp, else v1beta1 timestamp, else requestReceivedTimestamp */
    EV_TS_REQUEST,   /* requestReceivedTimestamp, else stageTimestamp, else timestamp */
    EV_TS_RECEIVED,  /* the time kadet decoded the event (as Elastic Agent's filestream) */
};

struct ev_decoder_opts {
    int ingested;               /* EV_INGESTED_NONE (default) or EV_INGESTED_NOW */
    int timestamp;              /* EV_TS_STAGE (default), EV_TS_REQUEST or EV_TS_RECEIVED */
    int64_t now_ms;             /* clock for event.ingested; 0 = the real clock */
    const struct ev_host *host; /* host.* to add to decoded raw events; NULL = none; copied */
    bool keep_empty;            /* keep null, "", {} and [] (Elastic's pipeline drops them) */
    const char *ns;             /* data_stream.namespace (default "default"); copied */
    struct ev_json_limits lim;  /* per record */
    const char *cluster_name;   /* orchestrator.cluster.name when the event has none; copied */
};

/* One decoded event. Everything is valid until the arena given to the decode is reset. */
struct ev_event {
    struct ev_node *doc;         /* the ECS document (an object) */
    int format;                  /* enum ev_format of the source (never EV_FMT_LIST) */
    kx_str audit_id;             /* kubernetes.audit.auditID, {NULL,0} when absent */
    kx_str stage;                /* kubernetes.audit.stage */
    int64_t ts_ms;               /* @timestamp, EV_TIME_NONE when absent */
    int64_t ingested_ms;         /* event.ingested, EV_TIME_NONE when absent */
    const struct ev_record *rec; /* the record it came from */
    uint32_t item;               /* index in an EventList/array record, else 0 */
    bool partial;                /* doc holds only the fields asked with ev_decoder_need */
    /* EV_WARN_BAD_TIME when the event has a time field that is not a date and so no
       @timestamp (warn_field names it); 0 otherwise */
    int warn;
    const char *warn_field;
};

struct ev_sink {
    /* Called for each event; return nonzero to stop (that value is returned by the decode). */
    int (*on_event)(void *ctx, const struct ev_event *ev);
    /* Called for each bad record or item, with a positioned error; decoding goes on. */
    void (*on_error)(void *ctx, const kad_err *err);
    void *ctx;
};

struct ev_decode_stats {
    uint64_t records, events, errors;
    uint64_t fast;     /* events decoded by the extractor */
    uint64_t full;     /* events decoded by a full parse */
    uint64_t skipped;  /* records/items that are not Kubernetes audit events (EV_WARN_NOT_AUDIT) */
    uint64_t bad_time; /* events whose time could not be parsed (EV_WARN_BAD_TIME) */
};

struct ev_decoder;

struct ev_decoder *ev_decoder_new(const struct ev_decoder_opts *o);
void ev_decoder_free(struct ev_decoder *d);
/*
 * Declare an ECS field path the caller will read (e.g. from kql_field()). Until the first call
 * the decoder builds full documents; after it, raw audit events are decoded by the extractor
 * and their documents hold (at least) every declared field with exactly the values a full
 * decode gives. Call before the first decode. KAD_EINVAL for an empty path.
 */
int ev_decoder_need(struct ev_decoder *d, const char *path, size_t len);
/* Full documents again (a query needs every field: field patterns, free text, output). */
void ev_decoder_need_all(struct ev_decoder *d);
/*
 * Decode every event of one record into arena `a` and pass each to sink->on_event. Bad input
 * (invalid JSON, not an audit event, limits) goes to sink->on_error with origin:line:col of the
 * record's bytes and is counted; it is not returned. Returns KAD_OK or on_event's nonzero
 * value. The caller resets `a` after the call (events of a list share the arena).
 */
int ev_decode_record(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec,
                     const struct ev_sink *sink);
/*
 * Decode a record holding exactly one event into *out. KAD_EUNSUPPORTED for an EventList or an
 * array (use ev_decode_record); other errors as above, returned in err.
 */
int ev_decode(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec, struct ev_event *out,
              kad_err *err);
const struct ev_decode_stats *ev_decoder_stats(const struct ev_decoder *d);
/* Pin the clock used for event.ingested and --timestamp received (ev_decoder_opts.now_ms) to
   ms; 0 = the real clock again. Lets two decoders of one record agree on its receive time. */
void ev_decoder_set_now(struct ev_decoder *d, int64_t ms);
/*
 * Warnings of the decoder (ev_decode_record): fn(ctx, code, w) for a record or item skipped on
 * purpose (EV_WARN_NOT_AUDIT) and for an event delivered with a problem (EV_WARN_BAD_TIME,
 * called just before its on_event), with a positioned message (origin:line:col of the record).
 * Counted in the stats (skipped, bad_time) with or without fn. NULL turns it off.
 */
void ev_decoder_set_warning(struct ev_decoder *d, void (*fn)(void *ctx, int code, const kad_err *w),
                            void *ctx);

/*
 * Internal to the event module (event_decode.c calls event_ecs.c): map one parsed value of
 * format fmt (K8S, GKE, AKS or ECS) into *out, in place in `a`. Errors are positioned at the
 * record's start.
 */
/*
 * The constant host.* subtree, built once per decoder by ev_ecs_host_tree (already pruned when
 * empty values are dropped) and linked into each document under a new `host` node. Strings
 * point into the ev_host given to ev_ecs_host_tree, which must outlive the tree and every
 * document linked to it; the nodes themselves are shared by those documents and never edited.
 */
#define EV_HOST_NODES 12
struct ev_host_tree {
    struct ev_node n[EV_HOST_NODES];
    struct ev_node *first; /* host's first member, NULL when it has none */
    uint32_t count;        /* host's members */
    bool add;              /* false: no `host` member at all (it would be pruned) */
};
void ev_ecs_host_tree(struct ev_host_tree *t, const struct ev_host *h, bool keep_empty);

/*
 * The ECS fields the mapping builds (ev_map_opts.skip): a decoder whose caller declared the
 * fields it reads (ev_decoder_need) leaves out, on its fast path, those no declared path
 * reaches (a path reaches a field when one is the other or a dot-prefix of it). The fields it
 * builds have the values and the order of a full decode; kubernetes.audit is never left out.
 */
enum {
    EV_EMIT_TIMESTAMP = 1u << 0,   /* @timestamp's text (ev_event.ts_ms is always set) */
    EV_EMIT_EV_KIND = 1u << 1,     /* event.kind */
    EV_EMIT_EV_ACTION = 1u << 2,   /* event.action */
    EV_EMIT_EV_OUTCOME = 1u << 3,  /* event.outcome */
    EV_EMIT_EV_DATASET = 1u << 4,  /* event.dataset */
    EV_EMIT_EV_INGESTED = 1u << 5, /* event.ingested */
    EV_EMIT_DATA_STREAM = 1u << 6, /* data_stream.* */
    EV_EMIT_USER = 1u << 7,        /* user.name, user.id */
    EV_EMIT_USER_AGENT = 1u << 8,  /* user_agent.original */
    EV_EMIT_SOURCE = 1u << 9,      /* source.ip */
    EV_EMIT_CLIENT = 1u << 10,     /* client.ip */
    EV_EMIT_RELATED = 1u << 11,    /* related.ip, related.user */
    EV_EMIT_ORCH = 1u << 12,       /* orchestrator.* */
    EV_EMIT_HOST = 1u << 13,       /* host.* */
    EV_EMIT_ALL = (1u << 14) - 1,
};
/* The EV_EMIT_* bits of the ECS fields dotted path[0..len) reaches. */
uint32_t ev_emit_bits(const char *path, size_t len);

struct ev_map_opts {
    uint32_t skip; /* EV_EMIT_* bits of fields not to build; 0 = the whole document */
    const struct ev_decoder_opts *o;
    const struct ev_host *host;
    const struct ev_host_tree *host_tree; /* when set, used instead of building from host */
    const char *ns;
    kx_str list_api_version; /* EventList items: the list's apiVersion */
    int64_t now_ms;
};
int ev_ecs_map(kx_arena *a, struct ev_node *raw, int fmt, const struct ev_map_opts *mo,
               struct ev_event *out, const struct ev_record *rec, kad_err *err);

/* A Cloud Logging record (EV_FMT_GKE) is a Kubernetes audit event when protoPayload.serviceName
   is k8s.io (without a serviceName: a methodName io.k8s.*, or a log name saying cluster
   audit). Otherwise false with the reason in why (GKE cluster operations, other services). */
bool ev_gke_is_audit(const struct ev_node *raw, char *why, size_t size);

/* Detect the format of a parsed JSON value (the rules of ecs-mapping.md, "Formats and detection").
 */
int ev_detect(const struct ev_node *root);

/* ============================================================================================
 * Reading records from files, stdin and .gz (event_reader.c).
 *
 * NDJSON: each line is a record (a last line without a newline included, \r\n accepted,
 * blank lines skipped). When the first record of a stream is not complete on its line (a
 * pretty-printed document or array), the stream is read as a sequence of JSON texts instead,
 * each framed by bracket matching across lines. gzip input is detected by its magic bytes.
 * ============================================================================================ */

#define EV_MAX_RECORD ((size_t)16 << 20) /* default maximum record (line) length */

struct ev_reader;

/*
 * Open `path` ("-" = stdin) for reading records; max_record 0 = EV_MAX_RECORD. The origin of
 * records and errors is the path ("<stdin>" for "-"). KAD_EIO with errno text on failure.
 */
int ev_reader_open(struct ev_reader **r, const char *path, size_t max_record, kad_err *err);
/* Same over an open descriptor (not closed by ev_reader_close); origin is borrowed. */
int ev_reader_open_fd(struct ev_reader **r, int fd, const char *origin, size_t max_record,
                      kad_err *err);
/*
 * Next record into *rec (valid until the next call). Returns 1 for a record, 0 at the end,
 * KAD_ELIMIT for a record over the maximum (skipped; err positioned; reading may go on), or
 * KAD_EIO (stop). An unterminated JSON text at the end is returned as a record (the parser
 * then reports where it ends).
 */
int ev_reader_next(struct ev_reader *r, struct ev_record *rec, kad_err *err);
/*
 * Call fn(ctx) whenever the reader is about to wait for input: before a read(2) on a pipe,
 * terminal or socket when nothing is ready (never for regular files). A streaming caller
 * commits and flushes there, so what it has processed is out while the input is quiet.
 * fn must not call the reader. NULL turns it off.
 */
void ev_reader_set_idle(struct ev_reader *r, void (*fn)(void *ctx), void *ctx);
void ev_reader_close(struct ev_reader *r);
/*
 * Follow mode (kad_follow): the descriptor is a live log whose read position is `offset` (the
 * byte offset of the stream, for record offsets) at 1-based `line`. The end of the file then
 * does not end the stream: ev_reader_next returns EV_AGAIN while no complete record is there
 * (a last line without its newline is kept and waited for), and reads on when called again
 * after the file grew. No gzip detection. ev_reader_follow_end turns it off (the file will not
 * grow: a rotated file drained), so its last line comes out even without a newline.
 */
#define EV_AGAIN 2
void ev_reader_follow(struct ev_reader *r, uint64_t offset, uint64_t line);
void ev_reader_follow_end(struct ev_reader *r);
/*
 * Follow mode: fn(ctx) is called after each read(2) that returned bytes; false means the file's
 * content was replaced in place (copytruncate) so the bytes may not continue the stream: they
 * are dropped and the reader returns EV_AGAIN from then on.
 */
void ev_reader_set_check(struct ev_reader *r, bool (*fn)(void *ctx), void *ctx);
/* Byte offset (of the decompressed stream) up to which records were handed out or skipped. */
uint64_t ev_reader_offset(const struct ev_reader *r);

/* Warnings of a reader: conditions that lose no record but that the user must hear about. */
enum ev_warn {
    EV_WARN_NONE = 0,
    EV_WARN_GZIP_TRAILING = 1, /* bytes after the last gzip member were ignored */
    EV_WARN_NOT_AUDIT = 2,     /* a record of another service (e.g. a GKE cluster operation or
                                  a CloudWatch control message): skipped */
    EV_WARN_BAD_TIME = 3,      /* an event whose time is not a date: no @timestamp (Elastic
                                  refuses such a document; --ingested now gives it a time) */
};
/* "gzip-trailing-garbage", "not-audit", "bad-time" (for counters and messages). */
const char *ev_warn_name(int code);
/*
 * The reader's warning so far (EV_WARN_*; 0 = none), with its positioned message in *w
 * (origin, offset in the compressed input) when w is not NULL. Check it after the last record:
 * `path: warning: trailing garbage after the gzip data at byte N (compressed) ignored`.
 */
int ev_reader_warning(const struct ev_reader *r, kad_err *w);

/*
 * Frame an in-memory buffer (e.g. a webhook body) the same way: fn is called per record.
 * Returns KAD_OK, fn's nonzero value, or a framing error (also passed to on_error).
 */
int ev_frame_buffer(const char *buf, size_t len, const char *origin, size_t max_record,
                    int (*fn)(void *ctx, const struct ev_record *rec),
                    void (*on_error)(void *ctx, const kad_err *err), void *ctx);

#endif

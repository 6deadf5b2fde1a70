/*
 * eql.h - the EQL module's only header for other modules (owned by the EQL module).
 *
 * Elasticsearch's Event Query Language as Elastic's detection rules use it: event queries
 * (`any where ...`, `<category> where ...`) and sequences (`sequence by ... with maxspan=...
 * [..] [..] until [..]`), with Elasticsearch's semantics for fields, nulls, arrays and case.
 * Hand-written lexer and recursive-descent parser (eql_lex.c, eql_parse.c), compilation into
 * an evaluable tree (eql_compile.c), evaluation against one document (eql_eval.c, the same
 * event view KQL uses: struct ev_node, event.h) and an engine-independent sequence matcher
 * with explicit serialisation of its state (eql_seq.c). User reference: docs/eql.md;
 * internals: docs/internals/eql.md.
 *
 *   struct eql_query *eql_compile(kx_arena *a, const char *src, size_t len,
 *                                 const char *origin, kad_err *err);
 *       Parse and compile. All memory comes from `a` and lives as long as it does. On error
 *       returns NULL and fills err with origin:line:col (1-based, bytes; err->offset is the
 *       byte offset into src). Codes: KAD_ESYNTAX (grammar, unknown function, bad argument),
 *       KAD_EUNSUPPORTED (sample, join, process relationships, array indexes, pipes other
 *       than head/tail), KAD_ELIMIT (EQL_MAX_LEN, EQL_MAX_DEPTH, arena maximum), KAD_EINVAL
 *       (src is not valid UTF-8).
 *   bool eql_match(const struct eql_query *q, const struct ev_node *doc);
 *       An event query against one document: never allocates, never fails. False for a
 *       sequence (use struct eql_seq).
 *   int eql_dump(const struct eql_query *q, kx_buf *out);
 *       The canonical text of the query: EQL that parses back to the same dump (every
 *       expression parenthesised, `!=` and `not in` written as `not`, literals normalised).
 */
#ifndef KAD_EQL_H
#define KAD_EQL_H

#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"
#include "kad.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eql_query;

#define EQL_MAX_LEN (1u << 20) /* bytes of query text */
#define EQL_MAX_DEPTH 100      /* nesting of expressions */
#define EQL_MAX_RUNS 100       /* `with runs=N` */
#define EQL_MAX_STAGES 256     /* sequence stages after runs expansion */

struct eql_query *eql_compile(kx_arena *a, const char *src, size_t len, const char *origin,
                              kad_err *err);
bool eql_match(const struct eql_query *q, const struct ev_node *doc);
/* eql_match with the field lookups going through `memo` (event.h; NULL = eql_match). */
bool eql_match_memo(const struct eql_query *q, const struct ev_node *doc, struct ev_memo *memo);
int eql_dump(const struct eql_query *q, kx_buf *out);
/* True for a sequence query. */
bool eql_is_sequence(const struct eql_query *q);
/* The distinct field paths the query reads (conditions, categories, join keys; for a sequence
   also @timestamp), in order of first use; valid as long as the arena. */
size_t eql_field_count(const struct eql_query *q);
const char *eql_field(const struct eql_query *q, size_t i);
/* `| head N` / `| tail N`: the last such pipe's N, or -1 when the query has none;
 *tail tells which. */
int64_t eql_pipe_limit(const struct eql_query *q, bool *tail);

/* ---------------------------------------------------------------------------------------------
 * Sequences (eql_seq.c): a state machine per join key, fed events in order.
 *
 * The matcher never sees documents after eql_seq_feed returns: each event is named by an
 * opaque 64-bit handle chosen by the caller (e.g. the engine's id of the stored document), and
 * a completed sequence is reported as its list of handles, one per stage in stage order, with
 * EQL_SEQ_MISSING in the slots of missing-event (`![ ]`) stages. Memory is bounded: partial
 * sequences older than maxspan (plus the lateness) are dropped, and the number of live keys is
 * capped (the oldest partial sequence is evicted, and counted).
 * ------------------------------------------------------------------------------------------- */

#define EQL_SEQ_MISSING UINT64_MAX

struct eql_seq;

struct eql_seq_opts {
    size_t max_keys;     /* live join keys, 0 = 100000 */
    int64_t lateness_ms; /* how late an event may arrive and still advance a sequence (>= 0) */
    int64_t window_ms;   /* 0 = none; else a partial sequence is also dropped once the
                            watermark passes its first event + window (rule look-back) */
};

struct eql_seq_match {
    const uint64_t *h; /* n handles, stage order; EQL_SEQ_MISSING for `![ ]` stages */
    uint32_t n;
    const char *key; /* the join key tuple, encoded (eql_seq_key_text renders it) */
    size_t klen;
    int64_t first_ts, last_ts; /* @timestamp of the first and last positive events */
};
typedef void (*eql_seq_fn)(void *ctx, const struct eql_seq_match *m);

struct eql_seq_stats {
    uint64_t events;   /* fed */
    uint64_t matches;  /* completed sequences reported */
    uint64_t keys;     /* live join keys now */
    uint64_t partials; /* live partial sequences now */
    uint64_t expired;  /* partial sequences dropped by maxspan / window */
    uint64_t evicted;  /* partial sequences dropped by the max_keys cap */
    uint64_t placed;   /* times an event's handle entered a partial or completed sequence */
};

/* A matcher for sequence query q (which must outlive it); NULL if q is not a sequence. */
struct eql_seq *eql_seq_new(const struct eql_query *q, const struct eql_seq_opts *opts);
void eql_seq_free(struct eql_seq *s);
/*
 * Feed one event (ts_ms: its @timestamp in ms, EV_TIME_NONE when absent: the event is then
 * ignored, as Elasticsearch cannot order it). Completed sequences are passed to fn before the
 * call returns (also trailing-missing sequences whose window the event's time closes).
 * Returns KAD_OK, or KAD_ELIMIT when a limit dropped state (counted in the stats).
 */
int eql_seq_feed(struct eql_seq *s, const struct ev_node *doc, int64_t ts_ms, uint64_t handle,
                 eql_seq_fn fn, void *ctx);
/* Time passes without events (watermark = now_ms): expire state, emit sequences whose
   trailing missing-event window has closed. */
void eql_seq_tick(struct eql_seq *s, int64_t now_ms, eql_seq_fn fn, void *ctx);
void eql_seq_get_stats(const struct eql_seq *s, struct eql_seq_stats *st);
/* Call fn with every handle the matcher still holds (partial sequences and completed ones
   waiting for a trailing missing-event window), possibly several times each: a caller that
   keeps documents by handle may drop the others. */
void eql_seq_handles(const struct eql_seq *s, void (*fn)(void *ctx, uint64_t h), void *ctx);
/* Append the key tuple as text, e.g. `["alice", 42, null]`. */
int eql_seq_key_text(const char *key, size_t klen, kx_buf *out);
/*
 * The matcher's whole state as bytes (appended to out), and back. The bytes carry a hash of
 * the query's canonical text: restoring against a different query is KAD_EINVAL. Malformed
 * bytes are KAD_ESYNTAX with the byte offset. Restore returns a new matcher (free it with
 * eql_seq_free) or NULL with err filled.
 */
int eql_seq_save(const struct eql_seq *s, kx_buf *out);
struct eql_seq *eql_seq_restore(const struct eql_query *q, const struct eql_seq_opts *opts,
                                const void *data, size_t len, kad_err *err);

/* ---------------------------------------------------------------------------------------------
 * Module internals, shared by the src/eql files only. Other modules must not use anything below.
 * ------------------------------------------------------------------------------------------- */

/* Tokens (eql_lex.c). */
enum eql_tok {
    ET_EOF = 0,
    ET_IDENT,  /* identifier; also a keyword-looking word that is not a keyword */
    ET_QIDENT, /* `backquoted` */
    ET_TIDENT, /* name~ */
    ET_STRING,
    ET_BADSTR, /* 'single' or ?"..." : lexed only to be rejected */
    ET_INT,
    ET_DEC,
    /* keywords */
    ET_AND,
    ET_ANY,
    ET_BY,
    ET_FALSE,
    ET_IN,
    ET_INI, /* in~ */
    ET_JOIN,
    ET_LIKE,
    ET_LIKEI,
    ET_MAXSPAN,
    ET_NOT,
    ET_NULL,
    ET_OF,
    ET_OR,
    ET_REGEX,
    ET_REGEXI,
    ET_SAMPLE,
    ET_SEQUENCE,
    ET_TRUE,
    ET_UNTIL,
    ET_WHERE,
    ET_WITH,
    /* punctuation */
    ET_COLON,
    ET_EQ,
    ET_NE,
    ET_LT,
    ET_LE,
    ET_GT,
    ET_GE,
    ET_PLUS,
    ET_MINUS,
    ET_STAR,
    ET_SLASH,
    ET_PCT,
    ET_DOT,
    ET_COMMA,
    ET_LBRACK,
    ET_RBRACK,
    ET_LPAREN,
    ET_RPAREN,
    ET_PIPE,
    ET_QMARK,
    ET_MISSING, /* ![ */
    ET_ASSIGN,  /* = */
};

struct eql_token {
    uint8_t t;     /* enum eql_tok */
    uint32_t pos;  /* byte offset in the source */
    uint32_t end;  /* byte offset just after it */
    const char *s; /* decoded text (IDENT, QIDENT, TIDENT without '~', STRING), NUL-terminated */
    size_t len;
};

/* Tokenise src into *toks (arena), ending with ET_EOF. */
int eql_lex(kx_arena *a, const char *src, size_t len, const char *origin, struct eql_token **toks,
            size_t *ntoks, kad_err *err);
const char *eql_tok_name(int t); /* "'and'", "'=='", "identifier", ... */
/* kx_err_at with a va_list (the parser's and the compiler's error reporting). */
int eql_verr(kad_err *err, int code, const char *origin, const char *src, size_t len, size_t at,
             const char *fmt, va_list ap);

/* Values (eql_eval.c). */
enum eql_vt { EQL_V_NULL = 0, EQL_V_BOOL, EQL_V_INT, EQL_V_DBL, EQL_V_STR };
struct eql_val {
    uint8_t t;
    bool b;
    int64_t i;
    double d;
    const char *s;
    size_t len;
};

enum eql_nk {
    EQL_N_CONST,
    EQL_N_FIELD,
    EQL_N_AND,
    EQL_N_OR,
    EQL_N_NOT,
    EQL_N_CMP,   /* op: enum eql_cmp */
    EQL_N_IN,    /* kid[0] in (kid[1..]); ci */
    EQL_N_MATCH, /* kid[0] : / like / regex patterns; op: enum eql_mop; ci */
    EQL_N_ARITH, /* op: + - * / % */
    EQL_N_NEG,   /* unary minus */
    EQL_N_CALL,  /* op: enum eql_fn; ci */
    EQL_N_ISNULL /* compiled `x == null` (doc level: missing) */
};

enum eql_cmp { EQL_EQ, EQL_NE, EQL_LT, EQL_LE, EQL_GT, EQL_GE };
enum eql_mop { EQL_M_COLON, EQL_M_LIKE, EQL_M_REGEX };
enum eql_fn {
    EQL_F_ADD,
    EQL_F_BETWEEN,
    EQL_F_CIDRMATCH,
    EQL_F_CONCAT,
    EQL_F_DIVIDE,
    EQL_F_ENDSWITH,
    EQL_F_INDEXOF,
    EQL_F_LENGTH,
    EQL_F_MODULO,
    EQL_F_MULTIPLY,
    EQL_F_NUMBER,
    EQL_F_STARTSWITH,
    EQL_F_STRING,
    EQL_F_STRINGCONTAINS,
    EQL_F_SUBSTRING,
    EQL_F_SUBTRACT,
    EQL_F_COUNT_
};
const char *eql_fn_name(int f);

/* A compiled regex (Lucene syntax subset) as a Thompson NFA program. */
struct eql_re;
struct eql_re *eql_re_compile(kx_arena *a, const char *pat, size_t len, bool ci, size_t *errpos,
                              const char **errmsg);
bool eql_re_match(const struct eql_re *re, const char *s, size_t len);

struct eql_node {
    uint8_t kind; /* enum eql_nk */
    uint8_t op;
    uint8_t ci;       /* case-insensitive form (~ or :) */
    uint8_t optional; /* FIELD: ?field */
    uint8_t leaf;     /* compiled: a document-level leaf (boolean context, not and/or/not) */
    uint8_t ip;       /* FIELD: a known IP field (source.ip, client.ip, related.ip) */
    uint8_t listed;   /* MATCH: patterns were written as a list */
    uint32_t pos;     /* byte offset of the node's first token */
    uint32_t n;       /* children */
    struct eql_node **kid;
    struct eql_val v; /* CONST */
    const char *path; /* FIELD */
    size_t plen;
    uint32_t slot;       /* FIELD: index in the enclosing leaf's bindings */
    struct eql_re **re;  /* MATCH/REGEX: one per pattern (kid[1..]) */
    const char **fpaths; /* leaf: its distinct field paths (nslots) */
    uint32_t nslots;
};

/* One `[category where cond]` (or the whole event query). */
struct eql_filter {
    const char *category; /* NULL = any */
    size_t catlen;
    bool cat_string; /* written as a string */
    struct eql_node *cond;
};

struct eql_term {
    struct eql_filter f;
    struct eql_node **keys; /* FIELD nodes: the sequence's `by` then the term's */
    uint32_t nkeys, nown;   /* nown: the term's own keys (the rest come from the sequence) */
    uint32_t runs;          /* 1 unless `with runs=N` */
    bool missing;           /* ![ ] */
    bool runs_written;
};

struct eql_query {
    bool sequence;
    struct eql_filter ev; /* event query */
    /* sequence */
    struct eql_node **seqkeys;
    uint32_t nseqkeys;
    int64_t maxspan_ms; /* 0 = none */
    int64_t maxspan_n;  /* as written */
    const char *maxspan_unit;
    struct eql_term *terms; /* as written (runs not expanded) */
    uint32_t nterms;
    struct eql_term *until; /* NULL = none */
    /* pipes */
    struct {
        bool tail;
        int64_t n;
    } * pipes;
    uint32_t npipes;
    /* fields read */
    const char **fields;
    size_t nfields;
};

/* eql_parse.c: the grammar, building the tree; eql_compile.c: checks and preparation. */
struct eql_query *eql_parse(kx_arena *a, const char *src, size_t len, const char *origin,
                            kad_err *err);
int eql_prepare(kx_arena *a, struct eql_query *q, const char *src, size_t len, const char *origin,
                kad_err *err);

/* eql_eval.c */
bool eql_filter_match(const struct eql_filter *f, const struct ev_node *doc, struct ev_memo *memo);
/* Compare two values under EQL's dynamic typing (docs/internals/eql.md): 0 equal, <0, >0;
   2 when they are not comparable (types) for ordering, or not equal for eq. */
bool eql_val_eq(const struct eql_val *a, const struct eql_val *b, bool ci);
/* A document leaf value (string, number or bool) as an eql_val; false for other nodes. */
bool eql_val_from_node(const struct ev_node *v, struct eql_val *out);
/* Case folding and wildcard matching over UTF-8 code points (the input is valid UTF-8). */
uint32_t eql_fold(uint32_t cp);
uint32_t eql_utf8_next(const char *s, size_t len, size_t *i); /* decode at *i, advance */
bool eql_like(const char *pat, size_t plen, const char *s, size_t len, bool ci);

/* eql_dump.c */
int eql_node_dump(const struct eql_node *n, kx_buf *out);
int eql_quote(kx_buf *out, const char *s, size_t len);

#endif

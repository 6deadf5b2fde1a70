/*
 * kql.h - the KQL module's only header for other modules (owned by the KQL module).
 *
 * KQL ("kuery") is parsed with a hand-written port of Kibana's PEG grammar
 * (../shared/spec/kql.md section 2), compiled once (field paths, wildcard classes, numbers,
 * CIDR blocks prepared) and evaluated against one document (struct ev_node, event.h) without
 * allocating. Semantics: spec section 5; user reference: docs/kql.md; internals:
 * docs/internals/kql.md.
 *
 * CONTRACT FIXED BY THE FOUNDATION (the rules and detect modules code against these names; the
 * KQL module may add functions here but must keep these):
 *
 *   struct kql_query *kql_compile(kx_arena *a, const char *src, size_t len,
 *                                 const char *origin, kad_err *err);
 *       Parse and compile. All memory comes from `a` (the ruleset arena) and lives as long as
 *       it does. On error returns NULL and fills err with origin:line:col (1-based, bytes;
 *       err->offset is the byte offset into src) and Kibana-style "expected ..." wording.
 *       Codes: KAD_ESYNTAX (grammar), KAD_ELIMIT (query longer than KQL_MAX_LEN, nesting
 *       deeper than KQL_MAX_DEPTH, or the arena's maximum reached), KAD_EINVAL (src is not
 *       valid UTF-8).
 *   bool kql_match(const struct kql_query *q, const struct ev_node *doc);
 *       Evaluate against one document (event.h). Never allocates, never fails: a missing field
 *       or a type mismatch is a non-match. `doc` is an object (or an array of objects).
 *   int kql_dump(const struct kql_query *q, kx_buf *out);
 *       Append the canonical s-expression of the query (tests, `kadet rules show`); returns
 *       KAD_OK or KAD_ELIMIT when `out` reaches its maximum. Format: docs/kql.md "Canonical
 *       form".
 *   size_t kql_field_count(const struct kql_query *q);
 *   const char *kql_field(const struct kql_query *q, size_t i);
 *       The distinct field paths the query reads (for the extractor's path trie), in order of
 *       first use. A path means "the whole value at this path" (objects included: exists and
 *       nested queries look inside). A field-name pattern or free text needs the whole
 *       document: kql_needs_all() is then true. Strings are valid as long as the arena.
 *   bool kql_needs_all(const struct kql_query *q);
 */
#ifndef KAD_KQL_H
#define KAD_KQL_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "event/event.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kql_query;

#define KQL_MAX_LEN (1u << 20) /* bytes of query text */
#define KQL_MAX_DEPTH 100      /* nesting of (), value lists and {} */

struct kql_query *kql_compile(kx_arena *a, const char *src, size_t len, const char *origin,
                              kad_err *err);
bool kql_match(const struct kql_query *q, const struct ev_node *doc);
int kql_dump(const struct kql_query *q, kx_buf *out);
size_t kql_field_count(const struct kql_query *q);
const char *kql_field(const struct kql_query *q, size_t i);
bool kql_needs_all(const struct kql_query *q);
/*
 * kql_match, with the document's field lookups going through `memo` (event.h ev_values_memo:
 * reset for `doc` by the caller; NULL = kql_match). Same answers; the detection engine shares
 * one memo between the prefilter, every rule's query and the new-terms step of an event.
 */
bool kql_match_memo(const struct kql_query *q, const struct ev_node *doc, struct ev_memo *memo);

/*
 * Every field name the query writes, in source order, with where it is written (rule lint).
 * A name that several values share (`f:(a or b)`) is reported once; free text (no field) is
 * not reported. Inside a nested query `a:{ b:c }` the path is the full one ("a.b"). `path` is
 * NUL-terminated and valid during the call only; `offset` is the byte offset in the compiled
 * text of the name's first character (after the quote of a quoted name). Stops at the first
 * non-zero value fn returns and returns it; KAD_OK otherwise.
 */
struct kql_field_ref {
    const char *path;
    size_t len;
    size_t offset;
    bool pattern; /* a field-name pattern (unescaped '*') */
    bool nested;  /* the field of a nested query `path:{...}` */
};
int kql_field_refs(const struct kql_query *q, int (*fn)(void *ctx, const struct kql_field_ref *ref),
                   void *ctx);

/*
 * Append the query written back as KQL text that parses to the same canonical dump (used by
 * the round-trip fuzzer and `explain`). Strings are written quoted, wildcards unquoted with
 * every special character escaped. Returns KAD_OK or KAD_ELIMIT.
 */
int kql_fmt(const struct kql_query *q, kx_buf *out);

/*
 * Append the source line that holds err->offset and, under it, a caret at that column (jq and
 * Kibana show errors this way):
 *
 *     user.name:(alice or
 *                         ^
 *
 * Tabs in the line are kept in the padding so the caret lines up; multibyte characters count
 * as one column. `src`/`len` is the text that was compiled. Appends nothing when err has no
 * offset. Returns KAD_OK or KAD_ELIMIT.
 */
int kql_err_context(const char *src, size_t len, const kad_err *err, kx_buf *out);

/* ---------------------------------------------------------------------------------------------
 * Module internals, shared by the src/kql files only. Other modules must not use anything below.
 * ------------------------------------------------------------------------------------------- */

enum kql_kind { KQL_ALL, KQL_OR, KQL_AND, KQL_NOT, KQL_IS, KQL_RANGE, KQL_NESTED };

/* What a literal is after the grammar's tree building (spec section 2). */
enum kql_ltype {
    KQL_L_STRING, /* text (quoted or not) */
    KQL_L_TRUE,   /* unquoted true */
    KQL_L_FALSE,  /* unquoted false */
    KQL_L_NULL,   /* unquoted null */
    KQL_L_WILD,   /* unquoted with at least one unescaped '*': segments */
};

/* Compiled class of a value (set by kql_compile). */
enum kql_vclass {
    KQL_V_EXACT,   /* string/true/false: compare by the leaf's JSON type */
    KQL_V_NEVER,   /* null literal: matches nothing */
    KQL_V_EXISTS,  /* lone '*' */
    KQL_V_PREFIX,  /* "abc*" */
    KQL_V_SUFFIX,  /* "*abc" */
    KQL_V_INFIX,   /* "*abc*" (also "**") */
    KQL_V_GENERAL, /* anything else with '*' */
};

enum kql_fclass {
    KQL_F_PATH,    /* a plain dotted path */
    KQL_F_PATTERN, /* a field-name pattern (unescaped '*') */
    KQL_F_ANY,     /* no field (free text) or the literal null: every leaf */
};

enum kql_op { KQL_LT, KQL_LTE, KQL_GT, KQL_GTE };

struct kql_lit {
    uint8_t type;    /* enum kql_ltype */
    uint8_t quoted;  /* came from "..." (kept; it does not change kadet's evaluation) */
    uint8_t vclass;  /* enum kql_vclass (values) */
    uint8_t is_num;  /* text is a number per spec 5.2 */
    uint8_t is_int;  /* ... and a plain integer that fits int64 */
    uint8_t is_cidr; /* text is an IPv4/IPv6 CIDR block */
    uint8_t cidr_bits;
    uint8_t bool_text; /* 0: no; 1: text is "false"; 2: text is "true" */
    uint32_t off;      /* byte offset in the source where the literal starts (its quote) */
    const char *text;  /* decoded text; WILD: segments joined with '*' */
    size_t len;
    kx_str *seg; /* WILD: nseg >= 2 segments around the wildcards */
    uint32_t nseg;
    size_t seglen; /* WILD: sum of segment lengths (shortest possible match) */
    double num;
    int64_t inum;
    uint8_t net[16]; /* CIDR network (IPv4 as ::ffff:a.b.c.d) */
};

/*
 * An OR's children that test the same plain path, evaluated with one lookup (compiled); or an
 * AND's `not` children that do (`negated`: the AND holds only when no value matches, De Morgan).
 * A group of KQL_GROUP_INDEX_MIN literals or more is indexed so a value costs one hash probe
 * and a binary search instead of a test per literal: exact texts in an open-addressing table,
 * numeric literals sorted by value, and the literals no index can answer (wildcards, exists,
 * CIDR blocks) in `other`.
 */
#define KQL_GROUP_INDEX_MIN 16
struct kql_group {
    const char *path;
    size_t len;
    const struct kql_lit **val; /* the children's values */
    uint32_t n;
    uint8_t negated;
    uint8_t has_true, has_false; /* indexed: some exact literal is the text true / false */
    const struct kql_lit **hash; /* indexed: NULL or exact literals by text; hmask + 1 slots */
    uint32_t hmask;
    const struct kql_lit **nums; /* indexed: numeric exact literals sorted by num */
    uint32_t nnums;
    const struct kql_lit **other; /* indexed: the literals tested one by one */
    uint32_t nother;
};

struct kql_node {
    uint8_t kind;   /* enum kql_kind */
    uint8_t op;     /* KQL_RANGE: enum kql_op */
    uint8_t fclass; /* enum kql_fclass */
    uint8_t all;    /* IS: `*:*` or free-text `*`: matches every document */
    uint32_t n;     /* OR/AND: number of children; NOT/NESTED: 1 */
    struct kql_node **kid;
    struct kql_lit field; /* IS/RANGE/NESTED */
    struct kql_lit value; /* IS/RANGE */
    /* OR (compiled): `is` children on one path grouped; the other children in `rest`.
       AND (compiled): `not is` children on one path grouped (negated); the others in `rest` */
    struct kql_group *grp;
    uint32_t ngrp, nrest;
    struct kql_node **rest;
};

struct kql_query {
    struct kql_node *root;
    const char **fields;
    size_t nfields;
    bool needs_all;
};

/*
 * kql_lex.c: the character-level pieces of the grammar (Space, the keyword look-ahead, quoted
 * and unquoted literals with their escapes). There are no tokens: Kibana's keyword rules are
 * context-sensitive, so the parser calls these at a byte position and backtracks freely.
 */
struct kql_lex {
    const char *s;
    size_t len;
    size_t run_start, run_end; /* cached whitespace run (keeps the look-ahead linear) */
    char *out;                 /* decoded literal (capacity len + 1; decoding never grows) */
    size_t olen;
    size_t *marks; /* unquoted: offsets in out where an unescaped '*' stood */
    size_t nmarks;
    size_t high_end; /* out length right after a \u high surrogate, or SIZE_MAX */
};
/* Byte length of a grammar Space ([ \t\r\n\u00A0]) at pos, 0 when none. */
size_t kql_lex_space(const struct kql_lex *lx, size_t pos);
/* Or / And / Not at pos: the end of the match, or 0 when it does not match. */
size_t kql_lex_or(struct kql_lex *lx, size_t pos);
size_t kql_lex_and(struct kql_lex *lx, size_t pos);
size_t kql_lex_not(const struct kql_lex *lx, size_t pos);
/* QuotedString / UnquotedLiteral at *pos: decode into lx->out (and marks), advance *pos. */
bool kql_lex_quoted(struct kql_lex *lx, size_t *pos);
bool kql_lex_unquoted(struct kql_lex *lx, size_t *pos);

/* kql_parse.c: Kibana's grammar; returns the root or NULL with err filled. */
struct kql_node *kql_parse(kx_arena *a, const char *src, size_t len, const char *origin,
                           kad_err *err);
/* kql_compile.c: classify and prepare every literal in the tree; collect fields. */
int kql_prepare(kx_arena *a, struct kql_query *q, kad_err *err);
/* kql_ast.c */
int kql_wild_class(const struct kql_lit *l); /* enum kql_vclass of a literal */
int kql_node_dump(const struct kql_node *n, kx_buf *out);
/* kql_compile.c: helpers shared with kql_eval.c */
bool kql_parse_number(const char *s, size_t len, double *d, int64_t *i, bool *is_int);
bool kql_parse_ip(const char *s, size_t len, uint8_t out[16]);
/* JavaScript String.prototype.trim whitespace: byte length of such a character at s, or 0. */
size_t kql_js_space(const char *s, size_t len);

#endif

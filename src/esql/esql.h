/*
 * esql.h - the ES|QL module's only header for other modules (owned by the ES|QL module).
 *
 * ES|QL (Elasticsearch's piped query language) as Elastic's ES|QL detection rules use it:
 * a query is compiled once (parsed, names resolved, types checked: every problem is an error
 * at line:col of the query text) into a program, and a program runs over a batch of documents
 * (event.h trees) producing a table of typed columns. User reference: docs/esql.md;
 * internals: docs/internals/esql.md.
 *
 *   struct esql_prog *esql_compile(kx_arena *a, const char *src, size_t len,
 *                                  const char *origin, kad_err *err);
 *       All memory from `a`. NULL on error with err->offset (byte offset into src) and
 *       err->line/col (1-based) set; codes KAD_ESYNTAX (grammar), KAD_EINVAL (types, names,
 *       bad patterns), KAD_EUNSUPPORTED (valid ES|QL kadet does not implement), KAD_ELIMIT.
 *
 * Execution is incremental so that a caller can run tumbling windows with bounded memory:
 *
 *   struct esql_run *r = esql_run_new(prog, now_ms);    one window (NOW() = now_ms)
 *   esql_run_feed(r, &doc, err);                         each document, in any order
 *   esql_run_finish(r, &result, err);                    the window's result table
 *   esql_run_free(r);
 *
 * Until the first STATS or SORT a document is processed on arrival (WHERE, EVAL, GROK ...);
 * STATS folds the rows into per-group partial aggregates, SORT keeps the rows. finish runs the
 * rest of the pipeline. esql_run_save/esql_run_restore write and read that partial state
 * (the window's groups or kept rows), so a window can be persisted and resumed after a restart.
 */
#ifndef KAD_ESQL_H
#define KAD_ESQL_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "event/event.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESQL_MAX_LEN (1u << 20) /* bytes of query text */
#define ESQL_MAX_DEPTH 200      /* expression nesting */
#define ESQL_DEFAULT_LIMIT 1000 /* implicit LIMIT of a query without one */
#define ESQL_MAX_LIMIT 10000    /* largest LIMIT */
#define ESQL_MAX_GROUPS 100000  /* STATS groups per run; more are dropped with a warning */
#define ESQL_MAX_DISTINCT 10000 /* values per VALUES/COUNT_DISTINCT state; more: warning */
#define ESQL_MAX_ROWS 1000000   /* rows kept by a run (SORT, output) */
#define ESQL_MAX_MV 10000       /* values in one multi-valued cell */

enum esql_type {
    ESQL_NULL = 0,
    ESQL_BOOL,
    ESQL_INT, /* integer (32 bits) */
    ESQL_LONG,
    ESQL_DOUBLE,
    ESQL_KEYWORD,
    ESQL_TEXT,
    ESQL_IP,
    ESQL_DATE,     /* epoch milliseconds, UTC */
    ESQL_PERIOD,   /* date_period: months and days */
    ESQL_DURATION, /* time_duration: milliseconds */
    ESQL_NTYPES
};
/* "keyword", "integer", ... */
const char *esql_type_name(int type);

/* One value. Strings are borrowed from the run (valid until the run is freed). */
struct esql_sv {
    union {
        int64_t i; /* BOOL (0/1), INT, LONG, DATE, DURATION */
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
        uint8_t ip[16]; /* IPv6; IPv4 as ::ffff:a.b.c.d */
        struct {
            int32_t months, days;
        } per;
    } u;
};

/* A cell: null (n == 0), one value or a multi-value of one type. */
struct esql_cell {
    uint8_t type; /* enum esql_type of the column */
    uint32_t n;
    const struct esql_sv *v;
};

struct esql_colinfo {
    const char *name;
    uint8_t type;
};

struct esql_result {
    uint32_t ncols;
    const struct esql_colinfo *cols;
    size_t nrows;
    const struct esql_cell *const *rows; /* rows[r][c] */
    const uint64_t *tags;                /* tags[r]: the esql_doc.tag row r came from (0 for
                                            STATS rows) */
    uint64_t warnings;                   /* runtime warnings (null results, caps) */
    const char *first_warning;           /* text of the first, or NULL */
};

/* A document and its metadata (METADATA _id, _index, _version). */
struct esql_doc {
    const struct ev_node *doc;
    kx_str id, index; /* {NULL,0}: null */
    int64_t version;  /* <= 0: null */
    uint64_t tag;     /* the caller's reference, carried by the rows made from it */
};

struct esql_prog;
struct esql_run;

struct esql_prog *esql_compile(kx_arena *a, const char *src, size_t len, const char *origin,
                               kad_err *err);
/* Kibana's test: the query has a STATS command. */
bool esql_is_aggregating(const struct esql_prog *p);
/* The index patterns of FROM and the METADATA names, as written. */
size_t esql_index_count(const struct esql_prog *p);
const char *esql_index(const struct esql_prog *p, size_t i);
/* Document fields the query reads (paths for the extractor); needs_all: KEEP * / KQL(). */
size_t esql_field_count(const struct esql_prog *p);
const char *esql_field(const struct esql_prog *p, size_t i);
bool esql_needs_all(const struct esql_prog *p);
/* Canonical text of the compiled pipeline (tests, `rules show`). */
int esql_dump(const struct esql_prog *p, kx_buf *out);

struct esql_run *esql_run_new(const struct esql_prog *p, int64_t now_ms);
void esql_run_set_now(struct esql_run *r, int64_t now_ms);
/* Feed one document. Errors only for limits (KAD_ELIMIT); bad values are null + warning. */
int esql_run_feed(struct esql_run *r, const struct esql_doc *d, kad_err *err);
/*
 * Feed one document to n runs of the same program (windows with different NOW()): the
 * commands before the first STATS or SORT run once and their rows go to every run, when
 * those commands neither call NOW() nor LIMIT; otherwise each run is fed on its own. Same
 * results as n esql_run_feed calls. Returns the first error.
 */
int esql_run_feed_many(struct esql_run *const *runs, size_t n, const struct esql_doc *d,
                       kad_err *err);
/* Finish: the result is valid until esql_run_free. Call once. */
int esql_run_finish(struct esql_run *r, struct esql_result *res, kad_err *err);
/* Partial state (before finish) to bytes, and back into a fresh run of the same program. */
int esql_run_save(const struct esql_run *r, kx_buf *out);
int esql_run_restore(struct esql_run *r, const void *p, size_t n, kad_err *err);
void esql_run_free(struct esql_run *r);
/* Rows kept so far by the run (by a SORT or as output): a feed that changed it kept a row of
   that document. esql_run_tags calls fn with the tag of every kept row (a document still
   referenced). A SORT directly followed by LIMIT k keeps at most 2k + 64 rows. */
uint64_t esql_run_kept(const struct esql_run *r);
void esql_run_tags(const struct esql_run *r, void (*fn)(void *ctx, uint64_t tag), void *ctx);
/* The pipeline has a SORT or a LIMIT (rows of one document depend on the others). */
bool esql_sorts_or_limits(const struct esql_prog *p);

/* One NDJSON line per row ({"col": value, ...}; null cells left out, multi-values as arrays,
   dates ISO-8601 with milliseconds, ips as text). */
int esql_result_ndjson(const struct esql_result *res, kx_buf *out);
/* Append a value as text (TO_STRING's form). */
int esql_sv_fmt(int type, const struct esql_sv *v, kx_buf *out);

#endif

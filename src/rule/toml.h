/*
 * toml.h - TOML 1.0 reader (private to the rule module; kadet's configuration borrows it).
 *
 * toml_parse() reads one whole document into a tree of `struct toml_value` allocated in a
 * caller-supplied arena. It implements all of TOML 1.0.0: every value type, dotted keys,
 * inline tables, arrays of tables, the four string forms, offset/local date-times, local dates
 * and local times, and the rules against defining a key or a table twice. It does not write
 * TOML and does not accept TOML 1.1 extensions (newlines in inline tables, \e, \xHH,
 * seconds-less times).
 *
 * Errors: the first problem stops the parse; `err` gets `origin:line:col` (1-based, columns
 * count bytes) and a message. See docs/internals/toml.md.
 */
#ifndef KAD_RULE_TOML_H
#define KAD_RULE_TOML_H

#include "base/arena.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toml_type {
    TOML_STRING = 1,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    TOML_DATE_LOCAL,     /* 1979-05-27 */
    TOML_TIME_LOCAL,     /* 07:32:00 */
    TOML_ARRAY,
    TOML_TABLE,
};

/* The parts a date/time kind does not have are zero. */
struct toml_datetime {
    int year, month, day;
    int hour, minute, second;
    uint32_t nanosecond; /* fraction digits past the 9th are dropped */
    int offset_min;      /* minutes east of UTC (TOML_DATETIME only) */
    uint8_t frac_digits; /* fraction digits as written (0 = none) */
};

struct toml_value;

struct toml_member {
    const char *key; /* decoded, NUL-terminated (may hold U+0000: use klen) */
    size_t klen;
    size_t offset; /* byte offset of the key in the document */
    struct toml_value *val;
};

/* How a string was written (for toml_str_source_offset and diagnostics). */
enum toml_str_kind { TOML_STR_BASIC = 0, TOML_STR_LITERAL, TOML_STR_ML_BASIC, TOML_STR_ML_LITERAL };

struct toml_value {
    uint8_t type;     /* enum toml_type */
    uint8_t flags;    /* private to toml.c */
    uint8_t str_kind; /* enum toml_str_kind, for TOML_STRING */
    size_t offset;    /* byte offset of the value; for strings, of the first content byte */
    size_t len;       /* STRING: bytes; ARRAY: items; TABLE: members */
    union {
        const char *s; /* decoded, NUL-terminated */
        int64_t i;
        double f;
        bool b;
        struct toml_datetime dt;
        struct toml_value **items;
        struct toml_member *members; /* in document order */
    } u;
    /* tables: capacity and lookup index (private) */
    size_t cap;
    uint32_t *index;
    size_t index_cap;
};

/* Maximum nesting of arrays and inline tables, and of parts in one dotted key. */
#define TOML_MAX_DEPTH 128
#define TOML_MAX_KEY_PARTS 128

/*
 * Parse text[0..len) (need not be NUL-terminated). Returns the root table, allocated in `a`
 * and valid until the arena is reset or finished, or NULL with `err` filled: KAD_ESYNTAX for
 * malformed TOML and redefinitions, KAD_ELIMIT when TOML_MAX_DEPTH / TOML_MAX_KEY_PARTS or the
 * arena's maximum is exceeded. `origin` (borrowed) names the document in messages.
 */
const struct toml_value *toml_parse(kx_arena *a, const char *text, size_t len, const char *origin,
                                    kad_err *err);

/* Member of a table by key, or NULL (also when `table` is NULL or not a table). */
const struct toml_value *toml_get(const struct toml_value *table, const char *key);
const struct toml_value *toml_getn(const struct toml_value *table, const char *key, size_t klen);

/* "string", "integer", "float", "boolean", "offset datetime", "local datetime", "local date",
   "local time", "array", "table". */
const char *toml_type_name(int type);

/*
 * For a string value of the document `text` (the same bytes given to toml_parse), the byte
 * offset in `text` of the source character that produced byte `off` of the decoded string
 * (off == len maps to the closing delimiter). Used to place errors found inside a string (a
 * KQL query) at their line and column in the file.
 */
size_t toml_str_source_offset(const char *text, size_t len, const struct toml_value *v, size_t off);

/* Epoch milliseconds of a TOML_DATETIME (local kinds are taken as UTC; a local time counts
   from 1970-01-01). */
int64_t toml_datetime_epoch_ms(const struct toml_value *v);

/*
 * RFC 3339 text of a date/time value into buf (NUL-terminated, truncated to size): the
 * normalized form toml-test uses ('T', 'Z' for a zero offset, milliseconds kept as written).
 * Returns the length the full text needs.
 */
int toml_datetime_fmt(const struct toml_value *v, char *buf, size_t size);

#endif

/*
 * toml.c - TOML 1.0.0 reader: text -> tree of struct toml_value in an arena.
 *
 * A single pass over the bytes, recursive descent for values (arrays and inline tables nest,
 * bounded by TOML_MAX_DEPTH). The whole document is checked to be UTF-8 up front, so the rest
 * of the reader works on bytes. Tables carry flags that encode TOML's definition rules:
 *
 *   IMPLICIT   created as a parent by a [header] ([a.b] creates a): may be defined later by
 *              its own [header] once, and may be extended by dotted keys;
 *   EXPLICIT   defined by a [header] or as an element of an array of tables: never again;
 *   DOTTED     created (or extended) by dotted keys: may not be the target of a [header];
 *   FROZEN     an inline table or a static array: complete when written, never extended;
 *   AOT        the array of an [[array.of.tables]].
 *
 * This is the object-based equivalent of the path-based rules in the spec and of toml-test's
 * invalid/table cases (docs/internals/toml.md explains the cases).
 *
 * Not done here: writing TOML, TOML 1.1 syntax, keeping comments or formatting.
 */
#include "rule/toml.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    F_IMPLICIT = 1 << 0,
    F_EXPLICIT = 1 << 1,
    F_DOTTED = 1 << 2,
    F_FROZEN = 1 << 3,
    F_AOT = 1 << 4,
};

struct keypart {
    const char *s; /* decoded, in the arena */
    size_t len;
    size_t offset;
};

struct parser {
    kx_arena *a;
    const char *s;
    size_t n;
    size_t p;
    const char *origin;
    kad_err *err;
    struct toml_value *root;
    struct toml_value *cur; /* table of the current [section] */
    int depth;
    kx_buf sb; /* scratch for decoding strings */
    struct keypart parts[TOML_MAX_KEY_PARTS];
};

/* ---- errors ---------------------------------------------------------------------------------- */

/* Report a syntax error at `at`. Use through fail(), which yields KAD_ESYNTAX visibly, so that
   the analyzer (which does not inline variadic functions) sees that error paths return nonzero. */
__attribute__((format(printf, 3, 4))) static void fail_report(struct parser *ps, size_t at,
                                                              const char *fmt, ...)
{
    char msg[KAD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kx_err_at(ps->err, KAD_ESYNTAX, ps->origin, ps->s, ps->n, at, "%s", msg);
}
#define fail(ps, at, ...) (fail_report((ps), (at), __VA_ARGS__), KAD_ESYNTAX)

static int fail_limit(struct parser *ps, size_t at, const char *what)
{
    kx_err_at(ps->err, KAD_ELIMIT, ps->origin, ps->s, ps->n, at, "%s", what);
    return KAD_ELIMIT;
}

/* Printable description of the byte at p for "unexpected ..." messages. */
static const char *describe(struct parser *ps, size_t p, char buf[16])
{
    if (p >= ps->n)
        return "end of file";
    unsigned char c = (unsigned char)ps->s[p];
    if (c == '\n' || (c == '\r' && p + 1 < ps->n && ps->s[p + 1] == '\n'))
        return "end of line";
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, 16, "'%c'", c);
    else if (c == ' ')
        return "' '";
    else if (c == '\t')
        return "a tab";
    else if (c < 0x80)
        snprintf(buf, 16, "byte 0x%02x", c);
    else
        return "a non-ASCII character";
    return buf;
}

/* ---- allocation ------------------------------------------------------------------------------ */

static void *alloc(struct parser *ps, size_t n)
{
    void *p = kx_arena_zalloc(ps->a, n);
    if (!p)
        fail_limit(ps, ps->p, "document too large for its memory limit");
    return p;
}

static struct toml_value *new_value(struct parser *ps, int type, size_t offset)
{
    struct toml_value *v = alloc(ps, sizeof *v);
    if (v) {
        v->type = (uint8_t)type;
        v->offset = offset;
    }
    return v;
}

/* ---- tables ---------------------------------------------------------------------------------- */

static uint64_t key_hash(const char *k, size_t n) { return kx_hash64(k, n, 0x746f6d6cu); }

/* Index slot value is member index + 1; 0 = empty. Built once a table has 8 members. */
static int table_reindex(struct parser *ps, struct toml_value *t, size_t cap)
{
    uint32_t *ix = alloc(ps, cap * sizeof *ix);
    if (!ix)
        return KAD_ELIMIT;
    for (size_t i = 0; i < t->len; i++) {
        size_t h = (size_t)key_hash(t->u.members[i].key, t->u.members[i].klen) & (cap - 1);
        while (ix[h])
            h = (h + 1) & (cap - 1);
        ix[h] = (uint32_t)(i + 1);
    }
    t->index = ix;
    t->index_cap = cap;
    return KAD_OK;
}

static struct toml_member *table_find(const struct toml_value *t, const char *k, size_t n)
{
    if (t->index) {
        size_t h = (size_t)key_hash(k, n) & (t->index_cap - 1);
        while (t->index[h]) {
            struct toml_member *m = &t->u.members[t->index[h] - 1];
            if (m->klen == n && memcmp(m->key, k, n) == 0)
                return m;
            h = (h + 1) & (t->index_cap - 1);
        }
        return NULL;
    }
    for (size_t i = 0; i < t->len; i++) {
        struct toml_member *m = &t->u.members[i];
        if (m->klen == n && memcmp(m->key, k, n) == 0)
            return m;
    }
    return NULL;
}

static int table_add(struct parser *ps, struct toml_value *t, const struct keypart *k,
                     struct toml_value *v)
{
    if (t->len == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4;
        struct toml_member *m = alloc(ps, nc * sizeof *m);
        if (!m)
            return KAD_ELIMIT;
        if (t->len)
            memcpy(m, t->u.members, t->len * sizeof *m);
        t->u.members = m;
        t->cap = nc;
    }
    t->u.members[t->len++] = (struct toml_member){k->s, k->len, k->offset, v};
    if (t->len >= 8 && t->len * 2 > t->index_cap)
        return table_reindex(ps, t, t->index_cap ? t->index_cap * 2 : 32);
    if (t->index) {
        size_t h = (size_t)key_hash(k->s, k->len) & (t->index_cap - 1);
        while (t->index[h])
            h = (h + 1) & (t->index_cap - 1);
        t->index[h] = (uint32_t)t->len;
    }
    return KAD_OK;
}

static int array_add(struct parser *ps, struct toml_value *arr, struct toml_value *v)
{
    if (arr->len == arr->cap) {
        size_t nc = arr->cap ? arr->cap * 2 : 4;
        struct toml_value **items = alloc(ps, nc * sizeof *items);
        if (!items)
            return KAD_ELIMIT;
        if (arr->len)
            memcpy(items, arr->u.items, arr->len * sizeof *items);
        arr->u.items = items;
        arr->cap = nc;
    }
    arr->u.items[arr->len++] = v;
    return KAD_OK;
}

/* ---- whitespace, comments, newlines ---------------------------------------------------------- */

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->n && (ps->s[ps->p] == ' ' || ps->s[ps->p] == '\t'))
        ps->p++;
}

static bool at_newline(const struct parser *ps)
{
    return ps->p < ps->n && (ps->s[ps->p] == '\n' || (ps->s[ps->p] == '\r' && ps->p + 1 < ps->n &&
                                                      ps->s[ps->p + 1] == '\n'));
}

static void eat_newline(struct parser *ps) { ps->p += ps->s[ps->p] == '\r' ? 2 : 1; }

/* TOML forbids control characters other than tab in comments and strings. */
static bool is_control(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

static int bad_control(struct parser *ps, size_t at, const char *where)
{
    unsigned char c = (unsigned char)ps->s[at];
    if (c == '\r')
        return fail(ps, at, "carriage return not followed by a line feed %s", where);
    if (c == '\n')
        return fail(ps, at, "unexpected end of line %s", where);
    return fail(ps, at, "control character 0x%02x is not allowed %s", c, where);
}

/* At '#': skip to the end of line (not consuming it). */
static int skip_comment(struct parser *ps)
{
    ps->p++;
    while (ps->p < ps->n && !at_newline(ps)) {
        if (is_control((unsigned char)ps->s[ps->p]))
            return bad_control(ps, ps->p, "in a comment");
        ps->p++;
    }
    return KAD_OK;
}

/* Whitespace, comments and newlines (inside arrays). */
static int skip_ws_nl(struct parser *ps)
{
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->n)
            return KAD_OK;
        if (ps->s[ps->p] == '#') {
            int rc = skip_comment(ps);
            if (rc)
                return rc;
        } else if (at_newline(ps)) {
            eat_newline(ps);
        } else {
            return KAD_OK;
        }
    }
}

/* After a key/value pair or a header: whitespace, an optional comment, then end of line. */
static int expect_eol(struct parser *ps, const char *after)
{
    char b[16];
    skip_ws(ps);
    if (ps->p < ps->n && ps->s[ps->p] == '#') {
        int rc = skip_comment(ps);
        if (rc)
            return rc;
    }
    if (ps->p >= ps->n)
        return KAD_OK;
    if (at_newline(ps)) {
        eat_newline(ps);
        return KAD_OK;
    }
    return fail(ps, ps->p, "expected a new line after %s, found %s", after, describe(ps, ps->p, b));
}

/* ---- strings --------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode the string whose content starts at `start` (after the opening delimiter and, for
 * multi-line strings, after the trimmed first newline) into ps->sb. On success *end is the
 * offset just past the closing delimiter. When `stop_out` is not SIZE_MAX, decoding stops as
 * soon as the output reaches stop_out bytes and *end is the source offset reached (mapping
 * mode, used by toml_str_source_offset; errors are not reported then).
 */
static int decode_string(struct parser *ps, int kind, size_t start, size_t *end, size_t stop_out)
{
    const char *s = ps->s;
    size_t n = ps->n, p = start;
    bool ml = kind == TOML_STR_ML_BASIC || kind == TOML_STR_ML_LITERAL;
    bool basic = kind == TOML_STR_BASIC || kind == TOML_STR_ML_BASIC;
    char q = basic ? '"' : '\'';
    kx_buf *out = &ps->sb;

    size_t emit_at = p; /* source offset of the character being decoded (mapping mode) */
    kx_buf_reset(out);
    for (;;) {
        if (out->len > stop_out) {
            *end = emit_at;
            return KAD_OK;
        }
        emit_at = p;
        if (p >= n)
            return fail(ps, start - (ml ? 3 : 1), "unterminated string");
        unsigned char c = (unsigned char)s[p];
        if (c == (unsigned char)q) {
            if (!ml) {
                *end = stop_out == SIZE_MAX ? p + 1 : p;
                return KAD_OK;
            }
            size_t k = 0;
            while (p + k < n && s[p + k] == q)
                k++;
            if (k >= 3) {
                if (k > 5)
                    return fail(ps, p + 5, "too many quotes at the end of a multi-line string");
                for (size_t i = 0; i < k - 3; i++) {
                    if (out->len >= stop_out) {
                        *end = p + i;
                        return KAD_OK;
                    }
                    if (kx_buf_addc(out, q))
                        return fail_limit(ps, p, "string too long");
                }
                *end = stop_out == SIZE_MAX ? p + k : p + k - 3;
                return KAD_OK;
            }
            for (size_t i = 0; i < k; i++) {
                if (out->len >= stop_out) {
                    *end = p + i;
                    return KAD_OK;
                }
                if (kx_buf_addc(out, q))
                    return fail_limit(ps, p, "string too long");
            }
            p += k;
            continue;
        }
        if (c == '\n' || (c == '\r' && p + 1 < n && s[p + 1] == '\n')) {
            if (!ml)
                return fail(ps, p, "unterminated string: end of line before the closing quote");
            if (kx_buf_addc(out, '\n'))
                return fail_limit(ps, p, "string too long");
            p += c == '\r' ? 2 : 1;
            continue;
        }
        if (is_control(c))
            return bad_control(ps, p, "in a string");
        if (c != '\\' || !basic) {
            if (kx_buf_addc(out, (char)c))
                return fail_limit(ps, p, "string too long");
            p++;
            continue;
        }
        /* escape */
        size_t esc = p;
        if (p + 1 >= n)
            return fail(ps, start - (ml ? 3 : 1), "unterminated string");
        char e = s[p + 1];
        char ch = 0;
        switch (e) {
        case 'b': ch = '\b'; break;
        case 't': ch = '\t'; break;
        case 'n': ch = '\n'; break;
        case 'f': ch = '\f'; break;
        case 'r': ch = '\r'; break;
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case 'u':
        case 'U': {
            int nd = e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int i = 0; i < nd; i++) {
                int h = p + 2 + (size_t)i < n ? hexval(s[p + 2 + i]) : -1;
                if (h < 0)
                    return fail(ps, esc, "invalid escape: \\%c needs %d hexadecimal digits", e, nd);
                cp = cp * 16 + (uint32_t)h;
            }
            char u8[4];
            int ul = (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : kx_utf8_encode(cp, u8);
            if (ul == 0)
                return fail(ps, esc, "invalid escape: U+%04X is not a Unicode scalar value", cp);
            if (kx_buf_add(out, u8, (size_t)ul))
                return fail_limit(ps, p, "string too long");
            p += 2 + (size_t)nd;
            continue;
        }
        default:
            if (ml) {
                /* line-ending backslash: \ [ws] newline, then all whitespace and newlines */
                size_t q2 = p + 1;
                while (q2 < n && (s[q2] == ' ' || s[q2] == '\t'))
                    q2++;
                if (q2 < n &&
                    (s[q2] == '\n' || (s[q2] == '\r' && q2 + 1 < n && s[q2 + 1] == '\n'))) {
                    for (;;) {
                        if (q2 < n && (s[q2] == ' ' || s[q2] == '\t' || s[q2] == '\n'))
                            q2++;
                        else if (q2 + 1 < n && s[q2] == '\r' && s[q2 + 1] == '\n')
                            q2 += 2;
                        else
                            break;
                    }
                    p = q2;
                    continue;
                }
            }
            if ((unsigned char)e >= 0x21 && (unsigned char)e < 0x7f)
                return fail(ps, esc, "invalid escape sequence '\\%c'", e);
            return fail(ps, esc, "invalid escape sequence: backslash before %s",
                        e == ' ' || e == '\t' ? "whitespace" : "a special character");
        }
        if (kx_buf_addc(out, ch))
            return fail_limit(ps, p, "string too long");
        p += 2;
    }
}

/* At an opening quote: classify, decode, build the value. */
static int parse_string(struct parser *ps, struct toml_value **out, bool key)
{
    size_t open = ps->p;
    char q = ps->s[open];
    int kind = q == '"' ? TOML_STR_BASIC : TOML_STR_LITERAL;
    size_t start = open + 1;
    if (open + 2 < ps->n && ps->s[open + 1] == q && ps->s[open + 2] == q) {
        if (key)
            return fail(ps, open, "a multi-line string cannot be a key");
        kind = q == '"' ? TOML_STR_ML_BASIC : TOML_STR_ML_LITERAL;
        start = open + 3;
        if (start < ps->n && ps->s[start] == '\n')
            start++;
        else if (start + 1 < ps->n && ps->s[start] == '\r' && ps->s[start + 1] == '\n')
            start += 2;
    }
    size_t end;
    int rc = decode_string(ps, kind, start, &end, SIZE_MAX);
    if (rc)
        return rc;
    struct toml_value *v = new_value(ps, TOML_STRING, start);
    if (!v)
        return KAD_ELIMIT;
    v->str_kind = (uint8_t)kind;
    v->len = ps->sb.len;
    v->u.s = kx_arena_strndup(ps->a, ps->sb.ptr ? ps->sb.ptr : "", ps->sb.len);
    if (!v->u.s)
        return fail_limit(ps, open, "document too large for its memory limit");
    ps->p = end;
    *out = v;
    return KAD_OK;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static bool is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* key = simple-key *( ws '.' ws simple-key ); fills ps->parts, returns the count in *np. */
static int parse_key(struct parser *ps, size_t *np)
{
    size_t k = 0;
    char b[16];
    for (;;) {
        if (k == TOML_MAX_KEY_PARTS)
            return fail_limit(ps, ps->p, "dotted key has too many parts");
        size_t at = ps->p;
        struct keypart *kp = &ps->parts[k];
        if (at < ps->n && (ps->s[at] == '"' || ps->s[at] == '\'')) {
            struct toml_value *v;
            int rc = parse_string(ps, &v, true);
            if (rc)
                return rc;
            *kp = (struct keypart){v->u.s, v->len, at};
        } else {
            size_t e = at;
            while (e < ps->n && is_bare(ps->s[e]))
                e++;
            if (e == at)
                return fail(ps, at, "expected a key, found %s", describe(ps, at, b));
            const char *s = kx_arena_strndup(ps->a, ps->s + at, e - at);
            if (!s)
                return fail_limit(ps, at, "document too large for its memory limit");
            *kp = (struct keypart){s, e - at, at};
            ps->p = e;
        }
        k++;
        size_t save = ps->p;
        skip_ws(ps);
        if (ps->p < ps->n && ps->s[ps->p] == '.') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        ps->p = save;
        *np = k;
        return KAD_OK;
    }
}

/* "a.b.c" of parts[0..n) for messages (quoted parts shown as written is overkill: plain). */
static const char *key_text(struct parser *ps, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        int w = snprintf(buf + o, size - o, "%s%.*s", i ? "." : "", (int)ps->parts[i].len,
                         ps->parts[i].s);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (o >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
    return buf;
}

/* "an integer", "a string", ... for messages. */
static const char *a_type(int type)
{
    switch (type) {
    case TOML_STRING: return "a string";
    case TOML_INTEGER: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOL: return "a boolean";
    case TOML_DATETIME: return "an offset datetime";
    case TOML_DATETIME_LOCAL: return "a local datetime";
    case TOML_DATE_LOCAL: return "a local date";
    case TOML_TIME_LOCAL: return "a local time";
    case TOML_ARRAY: return "an array";
    default: return "a table";
    }
}

/* ---- values ---------------------------------------------------------------------------------- */

static int parse_value(struct parser *ps, struct toml_value **out);
static int parse_keyval(struct parser *ps, struct toml_value *table);

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool digits_at(const struct parser *ps, size_t p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p + i >= ps->n || !is_digit(ps->s[p + i]))
            return false;
    return true;
}

static int num2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* HH:MM:SS[.frac] at ps->p. */
static int parse_time(struct parser *ps, struct toml_datetime *dt)
{
    size_t p = ps->p;
    const char *s = ps->s;
    if (!digits_at(ps, p, 2) || p + 2 >= ps->n || s[p + 2] != ':' || !digits_at(ps, p + 3, 2) ||
        p + 5 >= ps->n || s[p + 5] != ':' || !digits_at(ps, p + 6, 2))
        return fail(ps, p, "invalid time: expected HH:MM:SS");
    dt->hour = num2(s + p);
    dt->minute = num2(s + p + 3);
    dt->second = num2(s + p + 6);
    if (dt->hour > 23)
        return fail(ps, p, "invalid time: hour %d is out of range", dt->hour);
    if (dt->minute > 59)
        return fail(ps, p + 3, "invalid time: minute %d is out of range", dt->minute);
    if (dt->second > 60)
        return fail(ps, p + 6, "invalid time: second %d is out of range", dt->second);
    p += 8;
    if (p < ps->n && s[p] == '.') {
        p++;
        if (!digits_at(ps, p, 1))
            return fail(ps, p, "invalid time: expected digits after '.'");
        uint32_t ns = 0;
        int nd = 0;
        while (p < ps->n && is_digit(s[p])) {
            if (nd < 9) {
                ns = ns * 10 + (uint32_t)(s[p] - '0');
            }
            nd++;
            p++;
        }
        for (int i = nd; i < 9; i++)
            ns *= 10;
        dt->nanosecond = ns;
        dt->frac_digits = (uint8_t)(nd > 9 ? 9 : nd);
    }
    ps->p = p;
    return KAD_OK;
}

/* Date, date-time, or time starting at ps->p (already recognised by shape). */
static int parse_datetime(struct parser *ps, struct toml_value **out)
{
    size_t start = ps->p;
    const char *s = ps->s;
    struct toml_datetime dt = {0};
    int type;
    int rc;
    if (ps->p + 2 < ps->n && s[ps->p + 2] == ':') {
        if ((rc = parse_time(ps, &dt)))
            return rc;
        type = TOML_TIME_LOCAL;
    } else {
        size_t p = ps->p;
        dt.year = (s[p] - '0') * 1000 + (s[p + 1] - '0') * 100 + num2(s + p + 2);
        if (!digits_at(ps, p + 5, 2) || p + 7 >= ps->n || s[p + 7] != '-' ||
            !digits_at(ps, p + 8, 2))
            return fail(ps, p, "invalid date: expected YYYY-MM-DD");
        dt.month = num2(s + p + 5);
        dt.day = num2(s + p + 8);
        if (dt.month < 1 || dt.month > 12)
            return fail(ps, p + 5, "invalid date: month %d is out of range", dt.month);
        if (dt.day < 1 || dt.day > days_in_month(dt.year, dt.month))
            return fail(ps, p + 8, "invalid date: day %d is out of range", dt.day);
        p += 10;
        type = TOML_DATE_LOCAL;
        bool has_time = false;
        if (p < ps->n && (s[p] == 'T' || s[p] == 't')) {
            has_time = true;
        } else if (p + 1 < ps->n && s[p] == ' ' && is_digit(s[p + 1])) {
            has_time = true;
        }
        ps->p = p;
        if (has_time) {
            ps->p = p + 1;
            if ((rc = parse_time(ps, &dt)))
                return rc;
            type = TOML_DATETIME_LOCAL;
            p = ps->p;
            if (p < ps->n && (s[p] == 'Z' || s[p] == 'z')) {
                type = TOML_DATETIME;
                ps->p = p + 1;
            } else if (p < ps->n && (s[p] == '+' || s[p] == '-')) {
                if (!digits_at(ps, p + 1, 2) || p + 3 >= ps->n || s[p + 3] != ':' ||
                    !digits_at(ps, p + 4, 2))
                    return fail(ps, p, "invalid time offset: expected +HH:MM or -HH:MM");
                int oh = num2(s + p + 1), om = num2(s + p + 4);
                if (oh > 23 || om > 59)
                    return fail(ps, p, "invalid time offset: out of range");
                dt.offset_min = (oh * 60 + om) * (s[p] == '-' ? -1 : 1);
                type = TOML_DATETIME;
                ps->p = p + 6;
            }
        }
    }
    struct toml_value *v = new_value(ps, type, start);
    if (!v)
        return KAD_ELIMIT;
    v->u.dt = dt;
    *out = v;
    return KAD_OK;
}

/* Digits of `base` with '_' only between two digits; [p, e). Returns false when malformed. */
static bool valid_digits(const char *s, size_t p, size_t e, int base)
{
    if (p >= e)
        return false;
    for (size_t i = p; i < e; i++) {
        char c = s[i];
        if (c == '_') {
            if (i == p || i + 1 == e || s[i - 1] == '_' || s[i + 1] == '_')
                return false;
            continue;
        }
        int d = hexval(c);
        if (d < 0 || d >= base)
            return false;
    }
    return true;
}

static bool is_num_char(char c) { return is_bare(c) || c == '+' || c == '.'; }

static int parse_number(struct parser *ps, struct toml_value **out)
{
    size_t start = ps->p, e = start;
    const char *s = ps->s;
    while (e < ps->n && is_num_char(s[e]))
        e++;
    size_t len = e - start;
    char tok[256];
    if (len == 0) {
        char b[16];
        return fail(ps, start, "expected a value, found %s", describe(ps, start, b));
    }
    if (len >= sizeof tok)
        return fail(ps, start, "invalid number: too long");
    memcpy(tok, s + start, len);
    tok[len] = 0;

    struct toml_value *v;
    const char *t = tok;
    if (t[0] == '+' || t[0] == '-')
        t++;
    if (strcmp(t, "inf") == 0 || strcmp(t, "nan") == 0) {
        if (!(v = new_value(ps, TOML_FLOAT, start)))
            return KAD_ELIMIT;
        v->u.f = t[0] == 'i' ? INFINITY : NAN;
        if (tok[0] == '-')
            v->u.f = -v->u.f;
        ps->p = e;
        *out = v;
        return KAD_OK;
    }
    if (t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        int base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        if (t != tok)
            return fail(ps, start, "invalid integer: a sign is not allowed before 0%c", t[1]);
        if (!valid_digits(tok, 2, len, base))
            return fail(ps, start, "invalid %s integer '%s'",
                        base == 16  ? "hexadecimal"
                        : base == 8 ? "octal"
                                    : "binary",
                        tok);
        uint64_t u = 0;
        for (size_t i = 2; i < len; i++) {
            if (tok[i] == '_')
                continue;
            uint64_t d = (uint64_t)hexval(tok[i]);
            if (u > (UINT64_MAX - d) / (uint64_t)base || u * (uint64_t)base + d > INT64_MAX)
                return fail(ps, start, "integer '%s' is out of range", tok);
            u = u * (uint64_t)base + d;
        }
        if (!(v = new_value(ps, TOML_INTEGER, start)))
            return KAD_ELIMIT;
        v->u.i = (int64_t)u;
        ps->p = e;
        *out = v;
        return KAD_OK;
    }
    /* decimal: int [frac] [exp] */
    size_t ip = (size_t)(t - tok), ie = ip;
    while (ie < len && (is_digit(tok[ie]) || tok[ie] == '_'))
        ie++;
    if (!valid_digits(tok, ip, ie, 10))
        return fail(ps, start, "invalid number '%s'", tok);
    if (tok[ip] == '0' && ie - ip > 1)
        return fail(ps, start, "invalid number '%s': leading zeros are not allowed", tok);
    size_t q = ie;
    bool is_float = false;
    if (q < len && tok[q] == '.') {
        size_t fs = ++q;
        while (q < len && (is_digit(tok[q]) || tok[q] == '_'))
            q++;
        if (!valid_digits(tok, fs, q, 10))
            return fail(ps, start, "invalid float '%s': expected digits after '.'", tok);
        is_float = true;
    }
    if (q < len && (tok[q] == 'e' || tok[q] == 'E')) {
        q++;
        if (q < len && (tok[q] == '+' || tok[q] == '-'))
            q++;
        size_t es = q;
        while (q < len && (is_digit(tok[q]) || tok[q] == '_'))
            q++;
        if (!valid_digits(tok, es, q, 10))
            return fail(ps, start, "invalid float '%s': bad exponent", tok);
        is_float = true;
    }
    if (q != len)
        return fail(ps, start, "invalid value '%s'", tok);
    char clean[256];
    size_t cl = 0;
    for (size_t i = 0; i < len; i++)
        if (tok[i] != '_')
            clean[cl++] = tok[i];
    clean[cl] = 0;
    if (is_float) {
        if (!(v = new_value(ps, TOML_FLOAT, start)))
            return KAD_ELIMIT;
        v->u.f = strtod(clean, NULL);
    } else {
        int64_t iv;
        if (!kx_str_to_i64(
                (kx_str){clean[0] == '+' ? clean + 1 : clean, clean[0] == '+' ? cl - 1 : cl}, &iv))
            return fail(ps, start, "integer '%s' is out of range", tok);
        if (!(v = new_value(ps, TOML_INTEGER, start)))
            return KAD_ELIMIT;
        v->u.i = iv;
    }
    ps->p = e;
    *out = v;
    return KAD_OK;
}

static int parse_array(struct parser *ps, struct toml_value **out)
{
    char b[16];
    struct toml_value *arr = new_value(ps, TOML_ARRAY, ps->p);
    if (!arr)
        return KAD_ELIMIT;
    arr->flags = F_FROZEN;
    ps->p++;
    int rc;
    for (;;) {
        if ((rc = skip_ws_nl(ps)))
            return rc;
        if (ps->p < ps->n && ps->s[ps->p] == ']') {
            ps->p++;
            break;
        }
        struct toml_value *v;
        if ((rc = parse_value(ps, &v)) || (rc = array_add(ps, arr, v)))
            return rc;
        if ((rc = skip_ws_nl(ps)))
            return rc;
        if (ps->p < ps->n && ps->s[ps->p] == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->n && ps->s[ps->p] == ']') {
            ps->p++;
            break;
        }
        if (ps->p >= ps->n)
            return fail(ps, arr->offset, "unterminated array: missing ']'");
        return fail(ps, ps->p, "expected ',' or ']' in array, found %s", describe(ps, ps->p, b));
    }
    *out = arr;
    return KAD_OK;
}

static int parse_inline_table(struct parser *ps, struct toml_value **out)
{
    char b[16];
    struct toml_value *t = new_value(ps, TOML_TABLE, ps->p);
    if (!t)
        return KAD_ELIMIT;
    ps->p++;
    skip_ws(ps);
    int rc;
    if (ps->p < ps->n && ps->s[ps->p] == '}') {
        ps->p++;
    } else {
        for (;;) {
            if ((rc = parse_keyval(ps, t)))
                return rc;
            skip_ws(ps);
            if (ps->p < ps->n && ps->s[ps->p] == ',') {
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->n && ps->s[ps->p] == '}')
                    return fail(ps, ps->p, "trailing comma is not allowed in an inline table");
                if (ps->p >= ps->n || at_newline(ps) || ps->s[ps->p] == '#')
                    return fail(ps, ps->p,
                                "an inline table must be on one line (expected a key "
                                "after ',')");
                continue;
            }
            if (ps->p < ps->n && ps->s[ps->p] == '}') {
                ps->p++;
                break;
            }
            if (ps->p >= ps->n || at_newline(ps))
                return fail(ps, ps->p,
                            "expected ',' or '}' in inline table, found %s "
                            "(an inline table must be on one line)",
                            describe(ps, ps->p, b));
            return fail(ps, ps->p, "expected ',' or '}' in inline table, found %s",
                        describe(ps, ps->p, b));
        }
    }
    t->flags = F_FROZEN;
    *out = t;
    return KAD_OK;
}

static bool match_word(const struct parser *ps, const char *w)
{
    size_t n = strlen(w);
    return ps->n - ps->p >= n && memcmp(ps->s + ps->p, w, n) == 0 &&
           (ps->p + n == ps->n || !is_num_char(ps->s[ps->p + n]));
}

static int parse_value(struct parser *ps, struct toml_value **out)
{
    char b[16];
    if (ps->p >= ps->n || at_newline(ps))
        return fail(ps, ps->p, "expected a value, found %s", describe(ps, ps->p, b));
    char c = ps->s[ps->p];
    int rc;
    switch (c) {
    case '"':
    case '\'': return parse_string(ps, out, false);
    case '[':
    case '{':
        if (++ps->depth > TOML_MAX_DEPTH)
            return fail_limit(ps, ps->p, "arrays and inline tables nested too deeply");
        rc = c == '[' ? parse_array(ps, out) : parse_inline_table(ps, out);
        ps->depth--;
        return rc;
    case 't':
    case 'f':
        if (match_word(ps, c == 't' ? "true" : "false")) {
            struct toml_value *v = new_value(ps, TOML_BOOL, ps->p);
            if (!v)
                return KAD_ELIMIT;
            v->u.b = c == 't';
            ps->p += c == 't' ? 4 : 5;
            *out = v;
            return KAD_OK;
        }
        break;
    default: break;
    }
    if (digits_at(ps, ps->p, 4) && ps->p + 4 < ps->n && ps->s[ps->p + 4] == '-')
        return parse_datetime(ps, out);
    if (digits_at(ps, ps->p, 2) && ps->p + 2 < ps->n && ps->s[ps->p + 2] == ':')
        return parse_datetime(ps, out);
    if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n')
        return parse_number(ps, out);
    if (is_bare(c)) {
        size_t e = ps->p;
        while (e < ps->n && is_num_char(ps->s[e]))
            e++;
        return fail(ps, ps->p, "invalid value '%.*s' (strings must be quoted)",
                    (int)(e - ps->p > 40 ? 40 : e - ps->p), ps->s + ps->p);
    }
    return fail(ps, ps->p, "expected a value, found %s", describe(ps, ps->p, b));
}

/* ---- key/value pairs and headers ------------------------------------------------------------- */

static int parse_keyval(struct parser *ps, struct toml_value *table)
{
    char b[16], kb[128];
    size_t np;
    int rc = parse_key(ps, &np);
    if (rc)
        return rc;
    skip_ws(ps);
    if (ps->p >= ps->n || ps->s[ps->p] != '=')
        return fail(ps, ps->p, "expected '=' after key '%s', found %s",
                    key_text(ps, np, kb, sizeof kb), describe(ps, ps->p, b));
    ps->p++;
    skip_ws(ps);
    /* parts[] is reused by nested inline tables: keep our own copy of the path. */
    struct keypart local[8], *parts = local;
    if (np > 8) {
        parts = alloc(ps, np * sizeof *parts);
        if (!parts)
            return KAD_ELIMIT;
    }
    memcpy(parts, ps->parts, np * sizeof *parts);

    struct toml_value *v;
    if ((rc = parse_value(ps, &v)))
        return rc;
    memcpy(ps->parts, parts, np * sizeof *parts); /* for key_text in messages */

    struct toml_value *t = table;
    for (size_t i = 0; i + 1 < np; i++) {
        struct toml_member *m = table_find(t, parts[i].s, parts[i].len);
        if (!m) {
            struct toml_value *child = new_value(ps, TOML_TABLE, parts[i].offset);
            if (!child || table_add(ps, t, &parts[i], child))
                return KAD_ELIMIT;
            child->flags = F_DOTTED;
            t = child;
            continue;
        }
        struct toml_value *x = m->val;
        if (x->type != TOML_TABLE)
            return fail(ps, parts[i].offset, "cannot use '%s' as a table: it is already %s",
                        key_text(ps, i + 1, kb, sizeof kb), a_type(x->type));
        if (x->flags & F_FROZEN)
            return fail(ps, parts[i].offset,
                        "cannot add keys to inline table '%s' after its definition",
                        key_text(ps, i + 1, kb, sizeof kb));
        if (x->flags & F_EXPLICIT)
            return fail(ps, parts[i].offset,
                        "cannot add keys to table '%s' with dotted keys: it is defined by a "
                        "[header]",
                        key_text(ps, i + 1, kb, sizeof kb));
        x->flags = (uint8_t)((x->flags & ~F_IMPLICIT) | F_DOTTED);
        t = x;
    }
    struct keypart *last = &parts[np - 1];
    if (table_find(t, last->s, last->len))
        return fail(ps, last->offset, "duplicate key '%s'", key_text(ps, np, kb, sizeof kb));
    return table_add(ps, t, last, v) ? KAD_ELIMIT : KAD_OK;
}

/* At '[': a [table] or [[array of tables]] header. */
static int parse_header(struct parser *ps)
{
    char b[16], kb[128];
    size_t open = ps->p;
    bool aot = ps->p + 1 < ps->n && ps->s[ps->p + 1] == '[';
    ps->p += aot ? 2 : 1;
    skip_ws(ps);
    size_t np;
    int rc = parse_key(ps, &np);
    if (rc)
        return rc;
    skip_ws(ps);
    if (ps->p >= ps->n || ps->s[ps->p] != ']' ||
        (aot && (ps->p + 1 >= ps->n || ps->s[ps->p + 1] != ']')))
        return fail(ps, ps->p, "expected '%s' to close the header of '%s', found %s",
                    aot ? "]]" : "]", key_text(ps, np, kb, sizeof kb), describe(ps, ps->p, b));
    ps->p += aot ? 2 : 1;

    struct toml_value *t = ps->root;
    for (size_t i = 0; i + 1 < np; i++) {
        struct keypart *kp = &ps->parts[i];
        struct toml_member *m = table_find(t, kp->s, kp->len);
        if (!m) {
            struct toml_value *child = new_value(ps, TOML_TABLE, kp->offset);
            if (!child || table_add(ps, t, kp, child))
                return KAD_ELIMIT;
            child->flags = F_IMPLICIT;
            t = child;
            continue;
        }
        struct toml_value *x = m->val;
        if (x->type == TOML_ARRAY && (x->flags & F_AOT)) {
            t = x->u.items[x->len - 1];
            continue;
        }
        if (x->type != TOML_TABLE)
            return fail(ps, kp->offset, "cannot use '%s' as a table: it is already %s",
                        key_text(ps, i + 1, kb, sizeof kb), a_type(x->type));
        if (x->flags & F_FROZEN)
            return fail(ps, kp->offset, "cannot add a table to inline table '%s'",
                        key_text(ps, i + 1, kb, sizeof kb));
        t = x;
    }
    struct keypart *kp = &ps->parts[np - 1];
    struct toml_member *m = table_find(t, kp->s, kp->len);
    const char *name = key_text(ps, np, kb, sizeof kb);
    if (!aot) {
        if (!m) {
            struct toml_value *child = new_value(ps, TOML_TABLE, open);
            if (!child || table_add(ps, t, kp, child))
                return KAD_ELIMIT;
            child->flags = F_EXPLICIT;
            ps->cur = child;
            return expect_eol(ps, "a table header");
        }
        struct toml_value *x = m->val;
        if (x->type == TOML_TABLE && (x->flags & F_IMPLICIT)) {
            x->flags = F_EXPLICIT;
            ps->cur = x;
            return expect_eol(ps, "a table header");
        }
        if (x->type == TOML_ARRAY && (x->flags & F_AOT))
            return fail(ps, open, "table '%s' is already defined as an array of tables", name);
        if (x->type != TOML_TABLE)
            return fail(ps, open, "cannot define table '%s': it is already %s", name,
                        a_type(x->type));
        if (x->flags & F_FROZEN)
            return fail(ps, open, "table '%s' is already defined as an inline table", name);
        if (x->flags & F_DOTTED)
            return fail(ps, open, "table '%s' is already defined by dotted keys", name);
        return fail(ps, open, "table '%s' is defined twice", name);
    }
    struct toml_value *arr;
    if (!m) {
        arr = new_value(ps, TOML_ARRAY, open);
        if (!arr || table_add(ps, t, kp, arr))
            return KAD_ELIMIT;
        arr->flags = F_AOT;
    } else {
        arr = m->val;
        if (arr->type != TOML_ARRAY || !(arr->flags & F_AOT)) {
            if (arr->type == TOML_ARRAY)
                return fail(ps, open, "cannot append to static array '%s' with [[%s]]", name, name);
            return fail(ps, open, "cannot define array of tables '%s': it is already %s", name,
                        a_type(arr->type));
        }
    }
    struct toml_value *elem = new_value(ps, TOML_TABLE, open);
    if (!elem || array_add(ps, arr, elem))
        return KAD_ELIMIT;
    elem->flags = F_EXPLICIT;
    ps->cur = elem;
    return expect_eol(ps, "a table header");
}

/* ---- document -------------------------------------------------------------------------------- */

const struct toml_value *toml_parse(kx_arena *a, const char *text, size_t len, const char *origin,
                                    kad_err *err)
{
    struct parser ps = {
        .a = a, .s = text, .n = len, .origin = origin ? origin : "<toml>", .err = err};
    size_t bad = kx_utf8_check(text, len);
    if (bad < len) {
        fail_report(&ps, bad, "invalid UTF-8");
        return NULL;
    }
    ps.root = new_value(&ps, TOML_TABLE, 0);
    if (!ps.root)
        return NULL;
    ps.cur = ps.root;
    kx_buf_init(&ps.sb, len + 16);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        ps.p = 3;
    int rc = KAD_OK;
    while (rc == KAD_OK) {
        skip_ws(&ps);
        if (ps.p >= ps.n)
            break;
        char c = ps.s[ps.p];
        if (c == '#')
            rc = skip_comment(&ps);
        else if (at_newline(&ps))
            eat_newline(&ps);
        else if (c == '[')
            rc = parse_header(&ps);
        else if (c == '\r')
            rc = bad_control(&ps, ps.p, "between lines");
        else if ((rc = parse_keyval(&ps, ps.cur)) == KAD_OK)
            rc = expect_eol(&ps, "a value");
    }
    kx_buf_fini(&ps.sb);
    return rc ? NULL : ps.root;
}

/* ---- queries --------------------------------------------------------------------------------- */

const struct toml_value *toml_getn(const struct toml_value *table, const char *key, size_t klen)
{
    if (!table || table->type != TOML_TABLE)
        return NULL;
    struct toml_member *m = table_find(table, key, klen);
    return m ? m->val : NULL;
}

const struct toml_value *toml_get(const struct toml_value *table, const char *key)
{
    return toml_getn(table, key, strlen(key));
}

const char *toml_type_name(int type)
{
    switch (type) {
    case TOML_STRING: return "string";
    case TOML_INTEGER: return "integer";
    case TOML_FLOAT: return "float";
    case TOML_BOOL: return "boolean";
    case TOML_DATETIME: return "offset datetime";
    case TOML_DATETIME_LOCAL: return "local datetime";
    case TOML_DATE_LOCAL: return "local date";
    case TOML_TIME_LOCAL: return "local time";
    case TOML_ARRAY: return "array";
    case TOML_TABLE: return "table";
    default: return "value";
    }
}

size_t toml_str_source_offset(const char *text, size_t len, const struct toml_value *v, size_t off)
{
    if (!v || v->type != TOML_STRING || v->offset > len)
        return v ? v->offset : 0;
    if (v->str_kind == TOML_STR_LITERAL || v->str_kind == TOML_STR_ML_LITERAL) {
        /* literal strings are the source bytes, except CRLF -> LF in multi-line ones */
        if (v->str_kind == TOML_STR_LITERAL)
            return v->offset + (off > v->len ? v->len : off);
    }
    struct parser ps = {.s = text, .n = len, .origin = "", .err = NULL};
    kx_buf_init(&ps.sb, len + 16);
    size_t end = v->offset;
    if (decode_string(&ps, v->str_kind, v->offset, &end, off) != KAD_OK)
        end = v->offset;
    kx_buf_fini(&ps.sb);
    return end;
}

static int64_t days_from_civil(int y, int m, int d)
{
    /* proleptic Gregorian, days since 1970-01-01 */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t toml_datetime_epoch_ms(const struct toml_value *v)
{
    const struct toml_datetime *dt = &v->u.dt;
    int64_t days = v->type == TOML_TIME_LOCAL ? 0 : days_from_civil(dt->year, dt->month, dt->day);
    int64_t s = days * 86400 + dt->hour * 3600 + dt->minute * 60 + dt->second;
    if (v->type == TOML_DATETIME)
        s -= (int64_t)dt->offset_min * 60;
    return s * 1000 + dt->nanosecond / 1000000;
}

int toml_datetime_fmt(const struct toml_value *v, char *buf, size_t size)
{
    const struct toml_datetime *dt = &v->u.dt;
    char date[24] = "", time[48] = "", off[16] = "";
    if (v->type != TOML_TIME_LOCAL)
        snprintf(date, sizeof date, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
    if (v->type != TOML_DATE_LOCAL) {
        int w = snprintf(time, sizeof time, "%s%02d:%02d:%02d",
                         v->type == TOML_TIME_LOCAL ? "" : "T", dt->hour, dt->minute, dt->second);
        if (dt->frac_digits && w > 0) {
            char frac[16];
            snprintf(frac, sizeof frac, "%09u", (unsigned)dt->nanosecond);
            frac[dt->frac_digits] = 0;
            snprintf(time + w, sizeof time - (size_t)w, ".%s", frac);
        }
    }
    if (v->type == TOML_DATETIME) {
        if (dt->offset_min == 0)
            snprintf(off, sizeof off, "Z");
        else
            snprintf(off, sizeof off, "%c%02d:%02d", dt->offset_min < 0 ? '-' : '+',
                     abs(dt->offset_min) / 60, abs(dt->offset_min) % 60);
    }
    return snprintf(buf, size, "%s%s%s", date, time, off);
}

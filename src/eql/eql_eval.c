/*
 * eql_eval.c - evaluation of a compiled EQL condition against one document
 * (docs/internals/eql.md "Evaluation").
 *
 * Elasticsearch runs a where-condition as a Query DSL filter: and/or/not are document-level
 * boolean logic, and every other maximal subtree (a "leaf": comparison, in, like, regex, a
 * function call) is true when some combination of its fields' values satisfies it. A missing
 * or null field gives no value, so a leaf over it is false, and `not` of it is true. `x ==
 * null` is compiled into a missing test. Values are bound one at a time (each field of a leaf
 * has a slot), so arrays are "any element" throughout, functions included.
 *
 * No allocation: field values are collected into fixed arrays and strings built by functions
 * (concat, string) go to a per-evaluation scratch buffer; going past either limit makes the
 * value null (documented limits).
 */
#include "eql.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 8      /* distinct fields in one leaf (checked at compile time) */
#define MAX_VALUES 256   /* values of one field considered per leaf */
#define MAX_COMBOS 65536 /* bindings tried per leaf */
#define SCRATCH 8192     /* bytes of strings built per binding */

struct env {
    const struct ev_node *doc;
    struct ev_memo *memo;
    const struct ev_node **vals[MAX_SLOTS];
    uint32_t nvals[MAX_SLOTS];
    struct eql_val bind[MAX_SLOTS];
    const struct eql_node *leaf;
    char scratch[SCRATCH];
    size_t used;
};

/* ---- case folding, UTF-8 -------------------------------------------------------------------- */

uint32_t eql_fold(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c | 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
        return c + 32;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

uint32_t eql_utf8_next(const char *s, size_t len, size_t *i)
{
    unsigned char c = (unsigned char)s[*i];
    uint32_t cp;
    int extra;
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if (c >= 0xF0)
        cp = c & 0x07, extra = 3;
    else if (c >= 0xE0)
        cp = c & 0x0F, extra = 2;
    else
        cp = c & 0x1F, extra = 1;
    (*i)++;
    while (extra-- && *i < len)
        cp = (cp << 6) | ((unsigned char)s[(*i)++] & 0x3F);
    return cp;
}

/* Does s[i..] start with p (case-folded when ci)? *end gets the end in s. */
static bool starts_at(const char *s, size_t len, size_t i, const char *p, size_t plen, bool ci,
                      size_t *end)
{
    if (!ci) {
        if (len - i < plen || memcmp(s + i, p, plen) != 0)
            return false;
        *end = i + plen;
        return true;
    }
    size_t j = 0;
    while (j < plen) {
        if (i >= len)
            return false;
        if (eql_fold(eql_utf8_next(s, len, &i)) != eql_fold(eql_utf8_next(p, plen, &j)))
            return false;
    }
    *end = i;
    return true;
}

static bool str_eq(const char *a, size_t al, const char *b, size_t bl, bool ci)
{
    size_t end;
    if (!ci)
        return al == bl && memcmp(a, b, al) == 0;
    return starts_at(a, al, 0, b, bl, true, &end) && end == al;
}

/* Glob over code points: * any run, ? one code point; with esc, \ makes the next literal. */
static bool glob(const char *p, size_t pl, const char *s, size_t sl, bool ci, bool esc)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sl) {
        if (pi < pl && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < pl) {
            size_t pj = pi, sj = si;
            bool any = p[pi] == '?';
            if (esc && p[pj] == '\\' && pj + 1 < pl)
                pj++;
            uint32_t pc = eql_utf8_next(p, pl, &pj);
            uint32_t sc = eql_utf8_next(s, sl, &sj);
            if (any || pc == sc || (ci && eql_fold(pc) == eql_fold(sc))) {
                pi = pj;
                si = sj;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        pi = star_p;
        eql_utf8_next(s, sl, &star_s);
        si = star_s;
    }
    while (pi < pl && p[pi] == '*')
        pi++;
    return pi == pl;
}

bool eql_like(const char *pat, size_t plen, const char *s, size_t len, bool ci)
{
    return glob(pat, plen, s, len, ci, false);
}

/* ---- values -----------------------------------------------------------------------------------
 */

static bool parse_num(const char *s, size_t len, struct eql_val *out)
{
    if (len == 0 || len > 400)
        return false;
    char buf[401];
    memcpy(buf, s, len);
    buf[len] = 0;
    bool isint = true;
    for (size_t i = 0; i < len; i++)
        if (!((buf[i] >= '0' && buf[i] <= '9') || (i == 0 && buf[i] == '-')))
            isint = false;
    if (isint && len > (buf[0] == '-' ? 1u : 0u) && len < 19) {
        out->t = EQL_V_INT;
        out->i = strtoll(buf, NULL, 10);
        return true;
    }
    char *end;
    double d = strtod(buf, &end);
    if (*end || end == buf || buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' ||
        (buf[0] != '-' && buf[0] != '+' && buf[0] != '.' && (buf[0] < '0' || buf[0] > '9')))
        return false;
    out->t = EQL_V_DBL;
    out->d = d;
    return true;
}

bool eql_val_from_node(const struct ev_node *v, struct eql_val *out)
{
    memset(out, 0, sizeof *out);
    switch (v->type) {
    case EV_STRING:
        out->t = EQL_V_STR;
        out->s = v->str;
        out->len = v->len;
        return true;
    case EV_NUMBER:
        if (!parse_num(v->str, v->len, out)) {
            out->t = EQL_V_DBL;
            out->d = strtod(v->str, NULL);
        }
        return true;
    case EV_TRUE:
    case EV_FALSE:
        out->t = EQL_V_BOOL;
        out->b = v->type == EV_TRUE;
        return true;
    default: return false;
    }
}

static bool is_num(const struct eql_val *v) { return v->t == EQL_V_INT || v->t == EQL_V_DBL; }
static double dbl(const struct eql_val *v) { return v->t == EQL_V_INT ? (double)v->i : v->d; }

/* A numeric view of v (numbers, and strings holding numbers). */
static bool as_num(const struct eql_val *v, struct eql_val *out)
{
    if (is_num(v)) {
        *out = *v;
        return true;
    }
    return v->t == EQL_V_STR && parse_num(v->s, v->len, out);
}

static int num_cmp(const struct eql_val *a, const struct eql_val *b)
{
    if (a->t == EQL_V_INT && b->t == EQL_V_INT)
        return a->i < b->i ? -1 : a->i > b->i;
    double x = dbl(a), y = dbl(b);
    if (isnan(x) || isnan(y))
        return 2;
    return x < y ? -1 : x > y;
}

/* -1/0/1, or 2 when the values cannot be ordered (or compared) */
static int val_cmp(const struct eql_val *a, const struct eql_val *b)
{
    if (a->t == EQL_V_STR && b->t == EQL_V_STR) {
        size_t n = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->s, b->s, n);
        return c ? (c < 0 ? -1 : 1) : a->len < b->len ? -1 : a->len > b->len;
    }
    struct eql_val x, y;
    if ((is_num(a) || is_num(b)) && as_num(a, &x) && as_num(b, &y))
        return num_cmp(&x, &y);
    return 2;
}

bool eql_val_eq(const struct eql_val *a, const struct eql_val *b, bool ci)
{
    if (a->t == EQL_V_NULL || b->t == EQL_V_NULL)
        return false;
    if (a->t == EQL_V_STR && b->t == EQL_V_STR)
        return str_eq(a->s, a->len, b->s, b->len, ci);
    if (a->t == EQL_V_BOOL || b->t == EQL_V_BOOL) {
        const struct eql_val *bo = a->t == EQL_V_BOOL ? a : b, *o = bo == a ? b : a;
        if (o->t == EQL_V_BOOL)
            return o->b == bo->b;
        if (o->t == EQL_V_STR)
            return str_eq(o->s, o->len, bo->b ? "true" : "false", bo->b ? 4 : 5, false);
        return false;
    }
    return val_cmp(a, b) == 0;
}

/* IPv4 or IPv6 text into 16 bytes (IPv4 mapped); false when not an address. */
static bool parse_ip(const char *s, size_t len, uint8_t out[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xFF;
        memcpy(out + 12, v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

/* Is ip inside cidr (an address, or address/bits)? -1 when cidr is not a block. */
static int in_cidr(const uint8_t ip[16], const char *c, size_t clen)
{
    const char *slash = memchr(c, '/', clen);
    uint8_t net[16];
    size_t alen = slash ? (size_t)(slash - c) : clen;
    if (!parse_ip(c, alen, net))
        return -1;
    bool v4 = memchr(c, ':', alen) == NULL;
    int bits = 128;
    if (slash) {
        bits = 0;
        size_t i = alen + 1;
        if (i >= clen || clen - i > 3)
            return -1;
        for (; i < clen; i++) {
            if (c[i] < '0' || c[i] > '9')
                return -1;
            bits = bits * 10 + (c[i] - '0');
        }
        if (bits > (v4 ? 32 : 128))
            return -1;
        if (v4)
            bits += 96;
    }
    for (int b = 0; b < bits; b++) {
        int m = 0x80 >> (b % 8);
        if ((ip[b / 8] & m) != (net[b / 8] & m))
            return 0;
    }
    return 1;
}

/* ---- strings built during evaluation --------------------------------------------------------- */

static char *scratch(struct env *E, size_t n)
{
    if (SCRATCH - E->used < n)
        return NULL;
    char *p = E->scratch + E->used;
    E->used += n;
    return p;
}

/* Java's Double.toString, closely enough: shortest round-trip digits, ".0" for whole numbers,
   E notation outside [1e-3, 1e7). */
static size_t fmt_double(double d, char *out, size_t cap)
{
    if (isnan(d))
        return (size_t)snprintf(out, cap, "NaN");
    if (isinf(d))
        return (size_t)snprintf(out, cap, d < 0 ? "-Infinity" : "Infinity");
    double ad = fabs(d);
    char tmp[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (ad == 0 || (ad >= 1e-3 && ad < 1e7)) {
        int e = ad == 0 ? 0 : (int)floor(log10(ad));
        int decimals = prec - 1 - e;
        if (decimals < 1)
            decimals = 1;
        size_t n = (size_t)snprintf(out, cap, "%.*f", decimals, d);
        while (n > 2 && out[n - 1] == '0' && out[n - 2] != '.')
            out[--n] = 0;
        return n;
    }
    /* mantissa E exponent */
    char *e = strchr(tmp, 'e');
    int ex = atoi(e + 1);
    *e = 0;
    size_t n = (size_t)snprintf(out, cap, "%s%sE%d", tmp, strchr(tmp, '.') ? "" : ".0", ex);
    return n;
}

/* v as text into the scratch buffer (or itself for strings); false when out of room or null. */
static bool stringify(struct env *E, const struct eql_val *v, const char **s, size_t *len)
{
    char buf[64];
    size_t n;
    switch (v->t) {
    case EQL_V_STR:
        *s = v->s;
        *len = v->len;
        return true;
    case EQL_V_BOOL:
        *s = v->b ? "true" : "false";
        *len = v->b ? 4 : 5;
        return true;
    case EQL_V_INT: n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)v->i); break;
    case EQL_V_DBL: n = fmt_double(v->d, buf, sizeof buf); break;
    default: return false;
    }
    char *p = scratch(E, n);
    if (!p)
        return false;
    memcpy(p, buf, n);
    *s = p;
    *len = n;
    return true;
}

/* UTF-16 code units of s[0..len) */
static size_t u16len(const char *s, size_t len)
{
    size_t n = 0, i = 0;
    while (i < len)
        n += eql_utf8_next(s, len, &i) >= 0x10000 ? 2 : 1;
    return n;
}

/* Byte offset of UTF-16 position u (clamped to len). */
static size_t u16off(const char *s, size_t len, size_t u)
{
    size_t i = 0, n = 0;
    while (i < len && n < u) {
        n += eql_utf8_next(s, len, &i) >= 0x10000 ? 2 : 1;
    }
    return i;
}

/* First occurrence of p in s at or after byte from; SIZE_MAX when none. */
static size_t find(const char *s, size_t len, size_t from, const char *p, size_t plen, bool ci,
                   size_t *end)
{
    for (size_t i = from; i <= len; i++) {
        if (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        if (starts_at(s, len, i, p, plen, ci, end))
            return i;
        if (i == len)
            break;
    }
    return SIZE_MAX;
}

static size_t rfind(const char *s, size_t len, size_t from, const char *p, size_t plen, bool ci,
                    size_t *end)
{
    size_t best = SIZE_MAX, e;
    for (size_t i = from; i <= len; i++) {
        if (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        if (starts_at(s, len, i, p, plen, ci, &e)) {
            best = i;
            *end = e;
        }
    }
    return best;
}

/* ---- expression evaluation ------------------------------------------------------------------- */

static struct eql_val eval(struct env *E, const struct eql_node *n);

static struct eql_val vnull(void) { return (struct eql_val){.t = EQL_V_NULL}; }
static struct eql_val vbool(bool b) { return (struct eql_val){.t = EQL_V_BOOL, .b = b}; }
static struct eql_val vint(int64_t i) { return (struct eql_val){.t = EQL_V_INT, .i = i}; }
static struct eql_val vstr(const char *s, size_t len)
{
    return (struct eql_val){.t = EQL_V_STR, .s = s, .len = len};
}

static struct eql_val arith(int op, const struct eql_val *a0, const struct eql_val *b0)
{
    struct eql_val a, b;
    if (!as_num(a0, &a) || !as_num(b0, &b))
        return vnull();
    if (a.t == EQL_V_INT && b.t == EQL_V_INT) {
        int64_t r;
        switch (op) {
        case '+': return __builtin_add_overflow(a.i, b.i, &r) ? vnull() : vint(r);
        case '-': return __builtin_sub_overflow(a.i, b.i, &r) ? vnull() : vint(r);
        case '*': return __builtin_mul_overflow(a.i, b.i, &r) ? vnull() : vint(r);
        case '/': return b.i == 0 || (a.i == INT64_MIN && b.i == -1) ? vnull() : vint(a.i / b.i);
        default: return b.i == 0 || (a.i == INT64_MIN && b.i == -1) ? vnull() : vint(a.i % b.i);
        }
    }
    double x = dbl(&a), y = dbl(&b), r;
    switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    case '/':
        if (y == 0)
            return vnull();
        r = x / y;
        break;
    default:
        if (y == 0)
            return vnull();
        r = fmod(x, y);
        break;
    }
    return (struct eql_val){.t = EQL_V_DBL, .d = r};
}

/* number(s[, base]) */
static struct eql_val to_number(const struct eql_val *v, int base)
{
    if (is_num(v))
        return *v;
    if (v->t != EQL_V_STR)
        return vnull();
    const char *s = v->s;
    size_t len = v->len;
    while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, len--;
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (!len || len > 200)
        return vnull();
    char buf[201];
    memcpy(buf, s, len);
    buf[len] = 0;
    const char *p = buf;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    if (base == 0) {
        struct eql_val out;
        if (!parse_num(buf[0] == '+' ? buf + 1 : buf, len - (buf[0] == '+'), &out))
            return vnull();
        return out;
    }
    if (!*p)
        return vnull();
    uint64_t acc = 0;
    for (; *p; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'Z' ? *p - 'A' + 10
                                         : 99;
        if (d >= base || acc > (uint64_t)INT64_MAX / (uint64_t)base)
            return vnull();
        acc = acc * (uint64_t)base + (uint64_t)d;
        if (acc > (uint64_t)INT64_MAX)
            return vnull();
    }
    return vint(neg ? -(int64_t)acc : (int64_t)acc);
}

static struct eql_val call(struct env *E, const struct eql_node *n)
{
    struct eql_val a[4];
    uint32_t na = n->n < 4 ? n->n : 4;
    if (n->op != EQL_F_CONCAT && n->op != EQL_F_CIDRMATCH)
        for (uint32_t i = 0; i < na; i++)
            a[i] = eval(E, n->kid[i]);
    bool ci = n->ci;
    switch (n->op) {
    case EQL_F_ADD: return arith('+', &a[0], &a[1]);
    case EQL_F_SUBTRACT: return arith('-', &a[0], &a[1]);
    case EQL_F_MULTIPLY: return arith('*', &a[0], &a[1]);
    case EQL_F_DIVIDE: return arith('/', &a[0], &a[1]);
    case EQL_F_MODULO: return arith('%', &a[0], &a[1]);
    case EQL_F_LENGTH:
        return a[0].t == EQL_V_STR ? vint((int64_t)u16len(a[0].s, a[0].len)) : vnull();
    case EQL_F_STRING: {
        const char *s;
        size_t len;
        return stringify(E, &a[0], &s, &len) ? vstr(s, len) : vnull();
    }
    case EQL_F_NUMBER: {
        int base = 0;
        if (n->n == 2 && a[1].t == EQL_V_INT)
            base = (int)a[1].i;
        return to_number(&a[0], base);
    }
    case EQL_F_CONCAT: {
        size_t start = E->used, total = 0;
        char *out = E->scratch + start;
        for (uint32_t i = 0; i < n->n; i++) {
            struct eql_val v = eval(E, n->kid[i]);
            const char *s;
            size_t len;
            if (v.t == EQL_V_NULL)
                return vnull();
            size_t mark = E->used;
            if (!stringify(E, &v, &s, &len))
                return vnull();
            E->used = mark; /* number text is copied below */
            if (SCRATCH - (start + total) < len)
                return vnull();
            memmove(out + total, s, len);
            total += len;
            E->used = start + total;
        }
        return vstr(out, total);
    }
    case EQL_F_CIDRMATCH: {
        struct eql_val ip = eval(E, n->kid[0]);
        uint8_t b[16];
        if (ip.t != EQL_V_STR)
            return vnull();
        if (!parse_ip(ip.s, ip.len, b))
            return vbool(false);
        for (uint32_t i = 1; i < n->n; i++)
            if (in_cidr(b, n->kid[i]->v.s, n->kid[i]->v.len) == 1)
                return vbool(true);
        return vbool(false);
    }
    default: break;
    }
    /* string functions: null in, null out */
    for (uint32_t i = 0; i < na; i++)
        if (a[i].t == EQL_V_NULL && !(n->op == EQL_F_INDEXOF && i == 2))
            return vnull();
    if (a[0].t != EQL_V_STR || a[1].t != EQL_V_STR)
        if (n->op != EQL_F_SUBSTRING || a[0].t != EQL_V_STR)
            return vnull();
    const char *s = a[0].s;
    size_t len = a[0].len, end;
    bool lit = n->kid[0]->kind == EQL_N_FIELD && n->kid[1]->kind == EQL_N_CONST;
    switch (n->op) {
    case EQL_F_STARTSWITH: return vbool(starts_at(s, len, 0, a[1].s, a[1].len, ci, &end));
    case EQL_F_ENDSWITH:
        if (lit && strpbrk(a[1].s, "*?\\")) {
            /* a wildcard query `*lit` (the literal is not escaped by Elasticsearch) */
            char *p = scratch(E, a[1].len + 1);
            if (!p)
                return vnull();
            p[0] = '*';
            memcpy(p + 1, a[1].s, a[1].len);
            return vbool(glob(p, a[1].len + 1, s, len, ci, true));
        }
        for (size_t i = 0; i <= len; i++)
            if (!(i < len && ((unsigned char)s[i] & 0xC0) == 0x80) &&
                starts_at(s, len, i, a[1].s, a[1].len, ci, &end) && end == len)
                return vbool(true);
        return vbool(false);
    case EQL_F_STRINGCONTAINS:
        if (lit && strpbrk(a[1].s, "*?\\")) {
            char *p = scratch(E, a[1].len + 2);
            if (!p)
                return vnull();
            p[0] = '*';
            memcpy(p + 1, a[1].s, a[1].len);
            p[a[1].len + 1] = '*';
            return vbool(glob(p, a[1].len + 2, s, len, ci, true));
        }
        return vbool(find(s, len, 0, a[1].s, a[1].len, ci, &end) != SIZE_MAX);
    case EQL_F_INDEXOF: {
        int64_t start = 0;
        if (n->n == 3 && a[2].t != EQL_V_NULL) {
            if (a[2].t != EQL_V_INT)
                return vnull();
            start = a[2].i < 0 ? 0 : a[2].i;
        }
        size_t ulen = u16len(s, len);
        if ((uint64_t)start > ulen)
            return vnull();
        size_t from = u16off(s, len, (size_t)start);
        size_t at = find(s, len, from, a[1].s, a[1].len, ci, &end);
        return at == SIZE_MAX ? vnull() : vint((int64_t)u16len(s, at));
    }
    case EQL_F_BETWEEN: {
        if (a[2].t != EQL_V_STR)
            return vnull();
        bool greedy = false;
        if (n->n == 4) {
            if (a[3].t != EQL_V_BOOL)
                return vnull();
            greedy = a[3].b;
        }
        if (len == 0)
            return vstr(s, 0);
        size_t l = find(s, len, 0, a[1].s, a[1].len, ci, &end);
        if (l == SIZE_MAX)
            return vstr(s, 0);
        size_t from = end, rend;
        size_t r = greedy ? rfind(s, len, from, a[2].s, a[2].len, ci, &rend)
                          : find(s, len, from, a[2].s, a[2].len, ci, &rend);
        if (r == SIZE_MAX)
            return vstr(s, 0);
        return vstr(s + from, r - from);
    }
    case EQL_F_SUBSTRING: {
        if (a[1].t != EQL_V_INT || (n->n == 3 && a[2].t != EQL_V_INT))
            return vnull();
        int64_t ulen = (int64_t)u16len(s, len);
        int64_t st = a[1].i, en = n->n == 3 ? a[2].i : ulen;
        if (st < 0)
            st = st + ulen < 0 ? 0 : st + ulen;
        if (en < 0)
            en = en + ulen < 0 ? 0 : en + ulen;
        if (st > ulen)
            st = ulen;
        if (en > ulen)
            en = ulen;
        if (en <= st)
            return vstr(s, 0);
        size_t b0 = u16off(s, len, (size_t)st), b1 = u16off(s, len, (size_t)en);
        return vstr(s + b0, b1 - b0);
    }
    default: return vnull();
    }
}

static struct eql_val cmp(struct env *E, const struct eql_node *n)
{
    struct eql_val a = eval(E, n->kid[0]), b = eval(E, n->kid[1]);
    if (a.t == EQL_V_NULL || b.t == EQL_V_NULL)
        return vnull();
    if (n->kid[0]->kind == EQL_N_FIELD && n->kid[0]->ip && a.t == EQL_V_STR && b.t == EQL_V_STR &&
        (n->op == EQL_EQ || n->op == EQL_NE)) {
        uint8_t ip[16];
        int r;
        if (parse_ip(a.s, a.len, ip) && (r = in_cidr(ip, b.s, b.len)) >= 0)
            return vbool((r == 1) == (n->op == EQL_EQ));
    }
    if (n->op == EQL_EQ)
        return vbool(eql_val_eq(&a, &b, n->ci));
    if (n->op == EQL_NE)
        return vbool(!eql_val_eq(&a, &b, n->ci));
    if (a.t == EQL_V_BOOL || b.t == EQL_V_BOOL)
        return vbool(false);
    int c = val_cmp(&a, &b);
    if (c == 2)
        return vbool(false);
    switch (n->op) {
    case EQL_LT: return vbool(c < 0);
    case EQL_LE: return vbool(c <= 0);
    case EQL_GT: return vbool(c > 0);
    default: return vbool(c >= 0);
    }
}

static struct eql_val eval(struct env *E, const struct eql_node *n)
{
    switch (n->kind) {
    case EQL_N_CONST: return n->v;
    case EQL_N_FIELD: return E->bind[n->slot];
    case EQL_N_AND:
    case EQL_N_OR: {
        bool any_null = false;
        for (uint32_t i = 0; i < n->n; i++) {
            struct eql_val v = eval(E, n->kid[i]);
            if (v.t != EQL_V_BOOL)
                any_null = true;
            else if (v.b == (n->kind == EQL_N_OR))
                return vbool(v.b);
        }
        return any_null ? vnull() : vbool(n->kind == EQL_N_AND);
    }
    case EQL_N_NOT: {
        struct eql_val v = eval(E, n->kid[0]);
        return v.t == EQL_V_BOOL ? vbool(!v.b) : vnull();
    }
    case EQL_N_CMP: return cmp(E, n);
    case EQL_N_ISNULL: return vbool(eval(E, n->kid[0]).t == EQL_V_NULL);
    case EQL_N_IN: {
        struct eql_val a = eval(E, n->kid[0]);
        if (a.t == EQL_V_NULL)
            return vnull();
        for (uint32_t i = 1; i < n->n; i++) {
            struct eql_val b = eval(E, n->kid[i]);
            if (eql_val_eq(&a, &b, n->ci))
                return vbool(true);
        }
        return vbool(false);
    }
    case EQL_N_MATCH: {
        struct eql_val a = eval(E, n->kid[0]);
        if (a.t == EQL_V_NULL)
            return vnull();
        if (a.t != EQL_V_STR)
            return vbool(false);
        for (uint32_t i = 1; i < n->n; i++) {
            const struct eql_val *p = &n->kid[i]->v;
            bool hit = n->op == EQL_M_REGEX ? eql_re_match(n->re[i], a.s, a.len)
                                            : glob(p->s, p->len, a.s, a.len, n->ci, false);
            if (hit)
                return vbool(true);
        }
        return vbool(false);
    }
    case EQL_N_ARITH: {
        struct eql_val a = eval(E, n->kid[0]), b = eval(E, n->kid[1]);
        return arith(n->op, &a, &b);
    }
    case EQL_N_NEG: {
        struct eql_val a = eval(E, n->kid[0]), x;
        if (!as_num(&a, &x))
            return vnull();
        if (x.t == EQL_V_INT)
            return x.i == INT64_MIN ? vnull() : vint(-x.i);
        x.d = -x.d;
        return x;
    }
    case EQL_N_CALL: return call(E, n);
    default: return vnull();
    }
}

/* ---- leaves and the document-level logic ---------------------------------------------------- */

struct collect {
    const struct ev_node **v;
    uint32_t n;
};

static bool collect_fn(const struct ev_node *v, bool partial, void *ctx)
{
    struct collect *c = ctx;
    if (partial || v->type == EV_OBJECT || v->type == EV_ARRAY || v->type == EV_NULL)
        return false;
    if (c->n >= MAX_VALUES)
        return true;
    c->v[c->n++] = v;
    return false;
}

/* Try every binding of slots [k..): true when the leaf holds for one. */
static bool bindings(struct env *E, uint32_t k, uint32_t *budget)
{
    const struct eql_node *leaf = E->leaf;
    if (k == leaf->nslots) {
        if (*budget == 0)
            return false;
        (*budget)--;
        E->used = 0;
        struct eql_val v = eval(E, leaf);
        return leaf->kind == EQL_N_ISNULL ? !v.b : v.t == EQL_V_BOOL && v.b;
    }
    for (uint32_t i = 0; i < E->nvals[k]; i++) {
        if (!eql_val_from_node(E->vals[k][i], &E->bind[k]))
            continue;
        if (bindings(E, k + 1, budget))
            return true;
    }
    return false;
}

static bool leaf_match(struct env *E, const struct eql_node *leaf)
{
    const struct ev_node *store[MAX_SLOTS][MAX_VALUES];
    for (uint32_t k = 0; k < leaf->nslots && k < MAX_SLOTS; k++) {
        struct collect c = {store[k], 0};
        ev_values_memo(E->memo, E->doc, leaf->fpaths[k], strlen(leaf->fpaths[k]), collect_fn, &c);
        E->vals[k] = store[k];
        E->nvals[k] = c.n;
    }
    E->leaf = leaf;
    uint32_t budget = MAX_COMBOS;
    /* ISNULL: true when no binding gives a value ("some binding is non-null" is the leaf) */
    bool some = bindings(E, 0, &budget);
    return leaf->kind == EQL_N_ISNULL ? !some : some;
}

static bool cond(struct env *E, const struct eql_node *n)
{
    switch (n->kind) {
    case EQL_N_AND:
        for (uint32_t i = 0; i < n->n; i++)
            if (!cond(E, n->kid[i]))
                return false;
        return true;
    case EQL_N_OR:
        for (uint32_t i = 0; i < n->n; i++)
            if (cond(E, n->kid[i]))
                return true;
        return false;
    case EQL_N_NOT: return !cond(E, n->kid[0]);
    default: return leaf_match(E, n);
    }
}

struct catctx {
    const char *c;
    size_t len;
};

static bool cat_fn(const struct ev_node *v, bool partial, void *ctx)
{
    const struct catctx *c = ctx;
    return !partial && v->type == EV_STRING && v->len == c->len &&
           memcmp(v->str, c->c, c->len) == 0;
}

bool eql_filter_match(const struct eql_filter *f, const struct ev_node *doc, struct ev_memo *memo)
{
    if (f->category) {
        struct catctx c = {f->category, f->catlen};
        if (!ev_values_memo(memo, doc, "event.category", 14, cat_fn, &c))
            return false;
    }
    struct env *E = &(struct env){.doc = doc, .memo = memo};
    return cond(E, f->cond);
}

bool eql_match_memo(const struct eql_query *q, const struct ev_node *doc, struct ev_memo *memo)
{
    return !q->sequence && eql_filter_match(&q->ev, doc, memo);
}

bool eql_match(const struct eql_query *q, const struct ev_node *doc)
{
    return eql_match_memo(q, doc, NULL);
}

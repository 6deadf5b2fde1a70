/*
 * esql_func.c - the function table: type checking and evaluation of scalar, multi-value and
 * aggregate functions (aggregates are only typed here; esql_eval.c folds them).
 *
 * Argument classes in the table: s string (keyword/text), n numeric, i integer/long, d date,
 * p ip, b boolean, t time span, a any, c constant string. A string literal given where a date,
 * ip or boolean is expected is converted at compile time. Result codes: k keyword, b boolean,
 * i integer, l long, d double, D date, P ip, 0 the first argument's type (text gives keyword
 * for string functions), W the common type of the value arguments, S SUM's type.
 */
#include "esql/esql_int.h"

#include "base/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static bool str_out(struct ectx *X, struct esql_sv *out, const char *p, size_t n)
{
    char *s = kx_arena_strndup(X->a, p, n);
    if (!s)
        return false;
    out->u.s.p = s;
    out->u.s.n = n;
    return true;
}

static size_t cplen(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    size_t l = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return i + l <= n ? l : 1;
}

static size_t cpcount(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i += cplen(s, n, i))
        k++;
    return k;
}

/* byte offset of code point index k (clamped to n) */
static size_t cpoff(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (k-- && i < n)
        i += cplen(s, n, i);
    return i;
}

static double num(int t, const struct esql_sv *v)
{
    return t == ESQL_DOUBLE ? v->u.d : (double)v->u.i;
}

#define S0 (a[0].u.s.p)
#define N0 (a[0].u.s.n)
#define S1 (a[1].u.s.p)
#define N1 (a[1].u.s.n)
#define ATYPE(k) (e->arg[k]->type)

/* ---- string functions -------------------------------------------------------------------------
 */

static bool f_starts_with(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                          struct esql_sv *o)
{
    (void)X, (void)e;
    o->u.i = N1 <= N0 && memcmp(S0, S1, N1) == 0;
    return true;
}
static bool f_ends_with(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                        struct esql_sv *o)
{
    (void)X, (void)e;
    o->u.i = N1 <= N0 && memcmp(S0 + N0 - N1, S1, N1) == 0;
    return true;
}
/* Case mapping of ASCII, Latin-1, Greek and Cyrillic letters (each keeps its UTF-8 length). */
static uint32_t case_cp(uint32_t c, bool up)
{
    if (up) {
        if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) ||
            (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
            return c - 32;
        if (c >= 0x450 && c <= 0x45F)
            return c - 80;
        return c;
    }
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
        (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

static bool f_case_map(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                       struct esql_sv *o)
{
    bool up = e->fn->name[3] == 'u';
    char *s = kx_arena_strndup(X->a, S0, N0);
    if (!s)
        return false;
    for (size_t i = 0; i < N0;) {
        size_t l = cplen(S0, N0, i);
        unsigned char c0 = (unsigned char)S0[i];
        if (l == 1) {
            s[i] = (char)case_cp(c0, up);
        } else if (l == 2) {
            uint32_t cp = ((uint32_t)(c0 & 0x1F) << 6) | ((unsigned char)S0[i + 1] & 0x3F);
            uint32_t m = case_cp(cp, up);
            if (m != cp && m >= 0x80 && m < 0x800) {
                s[i] = (char)(0xC0 | (m >> 6));
                s[i + 1] = (char)(0x80 | (m & 0x3F));
            }
        }
        i += l;
    }
    o->u.s.p = s;
    o->u.s.n = N0;
    return true;
}
static bool f_length(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                     struct esql_sv *o)
{
    (void)X, (void)e;
    o->u.i = (int64_t)cpcount(S0, N0);
    return true;
}
static bool f_substring(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                        struct esql_sv *o)
{
    int64_t len = (int64_t)cpcount(S0, N0), st = a[1].u.i;
    int64_t cnt = e->narg > 2 ? a[2].u.i : len;
    if (cnt < 0) {
        esql_warn(X, "SUBSTRING: length must not be negative");
        return false;
    }
    if (st == 0)
        st = 1;
    if (st < 0)
        st = len + st + 1;
    if (st < 1)
        st = 1;
    if (st > len)
        return str_out(X, o, "", 0);
    int64_t end = cnt > len - (st - 1) ? len : st - 1 + cnt;
    size_t b = cpoff(S0, N0, (size_t)(st - 1)), en = cpoff(S0, N0, (size_t)end);
    return str_out(X, o, S0 + b, en - b);
}
static bool f_left_right(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                         struct esql_sv *o)
{
    int64_t len = (int64_t)cpcount(S0, N0), k = a[1].u.i;
    if (k < 0)
        k = 0;
    if (k > len)
        k = len;
    bool left = e->name[0] == 'l' || e->name[0] == 'L';
    size_t b = left ? 0 : cpoff(S0, N0, (size_t)(len - k));
    size_t en = left ? cpoff(S0, N0, (size_t)k) : N0;
    return str_out(X, o, S0 + b, en - b);
}
static bool f_reverse(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                      struct esql_sv *o)
{
    (void)e;
    char *s = kx_arena_alloc(X->a, N0 + 1);
    if (!s)
        return false;
    size_t w = N0;
    for (size_t i = 0; i < N0;) {
        size_t l = cplen(S0, N0, i);
        w -= l;
        memcpy(s + w, S0 + i, l);
        i += l;
    }
    s[N0] = 0;
    o->u.s.p = s;
    o->u.s.n = N0;
    return true;
}
static bool f_repeat(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                     struct esql_sv *o)
{
    (void)e;
    int64_t k = a[1].u.i;
    if (k < 0 || (N0 && (uint64_t)k > (1u << 20) / N0)) {
        esql_warn(X, "REPEAT: count %lld out of range", (long long)k);
        return false;
    }
    char *s = kx_arena_alloc(X->a, N0 * (size_t)k + 1);
    if (!s)
        return false;
    for (int64_t i = 0; i < k; i++)
        memcpy(s + (size_t)i * N0, S0, N0);
    s[N0 * (size_t)k] = 0;
    o->u.s.p = s;
    o->u.s.n = N0 * (size_t)k;
    return true;
}
static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static bool f_trim(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                   struct esql_sv *o)
{
    char k = e->name[0] | 0x20;
    size_t b = 0, en = N0;
    if (k != 'r')
        while (b < en && is_ws(S0[b]))
            b++;
    if (k != 'l')
        while (en > b && is_ws(S0[en - 1]))
            en--;
    return str_out(X, o, S0 + b, en - b);
}
static bool f_concat(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                     struct esql_sv *o)
{
    kx_buf b;
    kx_buf_init(&b, 1 << 24);
    for (uint32_t i = 0; i < e->narg; i++)
        kx_buf_add(&b, a[i].u.s.p, a[i].u.s.n);
    bool ok = str_out(X, o, b.ptr ? b.ptr : "", b.len);
    kx_buf_fini(&b);
    return ok;
}
static bool f_locate(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                     struct esql_sv *o)
{
    (void)X;
    int64_t st = e->narg > 2 ? a[2].u.i : 1;
    if (st < 1)
        st = 1;
    size_t from = cpoff(S0, N0, (size_t)(st - 1));
    o->u.i = 0;
    for (size_t i = from; i + N1 <= N0; i += cplen(S0, N0, i))
        if (memcmp(S0 + i, S1, N1) == 0) {
            o->u.i = (int64_t)cpcount(S0, i) + 1;
            break;
        }
    return true;
}

/* java.net.URLDecoder.decode(s, UTF-8): '+' is a space, %XX bytes; a bad % escape fails. */
static bool f_url_decode(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                         struct esql_sv *o)
{
    (void)e;
    kx_buf b;
    kx_buf_init(&b, N0 * 3 + 16);
    for (size_t i = 0; i < N0; i++) {
        char c = S0[i];
        if (c == '+') {
            kx_buf_addc(&b, ' ');
        } else if (c == '%') {
            int h = i + 2 < N0 ? esql_hexval(S0[i + 1]) : -1;
            int l = h >= 0 ? esql_hexval(S0[i + 2]) : -1;
            if (h < 0 || l < 0) {
                kx_buf_fini(&b);
                esql_warn(X, i + 2 < N0
                                 ? "URL_DECODE: illegal hex characters in escape (%%) pattern"
                                 : "URL_DECODE: incomplete trailing escape (%%) pattern");
                return false;
            }
            kx_buf_addc(&b, (char)(h * 16 + l));
            i += 2;
        } else {
            kx_buf_addc(&b, c);
        }
    }
    /* invalid UTF-8 sequences become U+FFFD */
    kx_buf u;
    kx_buf_init(&u, b.len * 3 + 16);
    const char *s = b.ptr ? b.ptr : "";
    size_t n = b.len;
    while (n) {
        size_t bad = kx_utf8_check(s, n);
        kx_buf_add(&u, s, bad);
        if (bad == n)
            break;
        kx_buf_add(&u, "\xEF\xBF\xBD", 3);
        s += bad + 1;
        n -= bad + 1;
    }
    bool ok = str_out(X, o, u.ptr ? u.ptr : "", u.len);
    kx_buf_fini(&b);
    kx_buf_fini(&u);
    return ok;
}
static bool f_url_encode(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                         struct esql_sv *o)
{
    (void)e;
    kx_buf b;
    kx_buf_init(&b, N0 * 3 + 16);
    for (size_t i = 0; i < N0; i++) {
        unsigned char c = (unsigned char)S0[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '-' || c == '*' || c == '_')
            kx_buf_addc(&b, (char)c);
        else if (c == ' ')
            kx_buf_addc(&b, '+');
        else
            kx_buf_addf(&b, "%%%02X", c);
    }
    bool ok = str_out(X, o, b.ptr ? b.ptr : "", b.len);
    kx_buf_fini(&b);
    return ok;
}

/* Java Matcher.replaceAll: $n group references, \x literal x. */
static bool f_replace(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                      struct esql_sv *o)
{
    const struct re_prog *re = e->aux;
    if (!re) {
        char msg[160];
        size_t ep;
        re = esql_re_compile(X->a, S1, N1, RE_JAVA, msg, sizeof msg, &ep);
        if (!re) {
            esql_warn(X, "REPLACE: %s", msg);
            return false;
        }
    }
    const char *rp = a[2].u.s.p;
    size_t rn = a[2].u.s.n;
    uint32_t nc = esql_re_ncaps(re);
    long cs[2 * 32], *caps = nc <= 32 ? cs : kx_arena_alloc(X->a, 2 * nc * sizeof *caps);
    if (!caps)
        return false;
    kx_buf b;
    kx_buf_init(&b, 1 << 24);
    size_t pos = 0, last = 0;
    bool ok = true;
    while (pos <= N0) {
        int r = esql_re_search(re, S0, N0, pos, caps);
        if (r < 0) {
            esql_warn(X, "REPLACE: pattern too costly");
            ok = false;
            break;
        }
        if (r == 0)
            break;
        size_t ms = (size_t)caps[0], me = (size_t)caps[1];
        kx_buf_add(&b, S0 + last, ms - last);
        for (size_t i = 0; i < rn; i++) {
            if (rp[i] == '\\' && i + 1 < rn) {
                kx_buf_addc(&b, rp[++i]);
            } else if (rp[i] == '$' && i + 1 < rn && rp[i + 1] >= '0' && rp[i + 1] <= '9') {
                uint32_t g = (uint32_t)(rp[++i] - '0');
                while (i + 1 < rn && rp[i + 1] >= '0' && rp[i + 1] <= '9' &&
                       g * 10 + (uint32_t)(rp[i + 1] - '0') < nc)
                    g = g * 10 + (uint32_t)(rp[++i] - '0');
                if (g >= nc) {
                    esql_warn(X, "REPLACE: no group %u", g);
                    ok = false;
                    break;
                }
                if (caps[2 * g] >= 0)
                    kx_buf_add(&b, S0 + caps[2 * g], (size_t)(caps[2 * g + 1] - caps[2 * g]));
            } else if (rp[i] == '$' || rp[i] == '\\') {
                esql_warn(X, "REPLACE: illegal group reference in the replacement");
                ok = false;
                break;
            } else {
                kx_buf_addc(&b, rp[i]);
            }
        }
        if (!ok)
            break;
        last = me;
        if (me == ms) {
            if (me < N0)
                kx_buf_add(&b, S0 + me, cplen(S0, N0, me));
            pos = me + (me < N0 ? cplen(S0, N0, me) : 1);
            last = pos > N0 ? N0 : pos;
        } else {
            pos = me;
        }
    }
    if (ok) {
        if (last < N0)
            kx_buf_add(&b, S0 + last, N0 - last);
        ok = str_out(X, o, b.ptr ? b.ptr : "", b.len);
    }
    kx_buf_fini(&b);
    return ok;
}

static void c_split(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                    struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
    if (!a[0].n || !a[1].n || a[0].n > 1 || a[1].n > 1) {
        if (a[0].n > 1 || a[1].n > 1)
            esql_warn(X, "single-value function encountered multi-value");
        return;
    }
    const char *s = a[0].v[0].u.s.p, *d = a[1].v[0].u.s.p;
    size_t n = a[0].v[0].u.s.n, dn = a[1].v[0].u.s.n;
    size_t cnt = 1;
    if (dn)
        for (size_t i = 0; i + dn <= n; i++)
            if (memcmp(s + i, d, dn) == 0) {
                cnt++;
                i += dn - 1;
            }
    if (cnt > ESQL_MAX_MV) {
        esql_warn(X, "SPLIT: more than %d values", ESQL_MAX_MV);
        return;
    }
    struct esql_sv *v = esql_sv_new(X->a, (uint32_t)cnt);
    if (!v)
        return;
    uint32_t m = 0;
    size_t st = 0;
    if (dn)
        for (size_t i = 0; i + dn <= n; i++)
            if (memcmp(s + i, d, dn) == 0) {
                v[m].u.s.p = s + st;
                v[m++].u.s.n = i - st;
                st = i + dn;
                i += dn - 1;
            }
    v[m].u.s.p = s + st;
    v[m++].u.s.n = n - st;
    *out = (struct esql_cell){e->type, m, v};
}

/* ---- conversion ------------------------------------------------------------------------------ */

static bool f_convert(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                      struct esql_sv *o)
{
    if (esql_convert(X, ATYPE(0), &a[0], e->type, o))
        return true;
    kx_buf b;
    kx_buf_init(&b, 256);
    esql_sv_fmt(ATYPE(0), &a[0], &b);
    esql_warn(X, "cannot convert [%.*s] to [%s]", (int)(b.len > 80 ? 80 : b.len),
              b.ptr ? b.ptr : "", esql_type_name(e->type));
    kx_buf_fini(&b);
    return false;
}

/* ---- conditional ----------------------------------------------------------------------------- */

static bool conv_to(struct ectx *X, int from, const struct esql_cell *c, int to,
                    struct esql_cell *out)
{
    *out = *c;
    out->type = (uint8_t)to;
    if (from == to || !c->n || (esql_is_string(from) && esql_is_string(to)))
        return true;
    struct esql_sv *v = esql_sv_new(X->a, c->n);
    if (!v)
        return false;
    for (uint32_t i = 0; i < c->n; i++)
        if (!esql_convert(X, from, &c->v[i], to, &v[i]))
            return false;
    out->v = v;
    return true;
}

static void c_case(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                   struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
    uint32_t i = 0;
    for (; i + 1 < e->narg; i += 2) {
        const struct esql_cell *c = &a[i];
        if (c->n > 1) {
            esql_warn(X, "CASE expects a single-valued boolean: treating result as false");
            continue;
        }
        if (c->n == 1 && c->v[0].u.i) {
            conv_to(X, ATYPE(i + 1), &a[i + 1], e->type, out);
            return;
        }
    }
    if (i < e->narg)
        conv_to(X, ATYPE(i), &a[i], e->type, out);
}

static void c_coalesce(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                       struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
    for (uint32_t i = 0; i < e->narg; i++)
        if (a[i].n) {
            conv_to(X, ATYPE(i), &a[i], e->type, out);
            return;
        }
}

static void c_greatest(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                       struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
    bool gr = e->name[0] == 'g' || e->name[0] == 'G';
    struct esql_sv best;
    bool has = false;
    for (uint32_t i = 0; i < e->narg; i++) {
        struct esql_cell c;
        if (!a[i].n)
            return; /* null if any argument is null */
        if (!conv_to(X, ATYPE(i), &a[i], e->type, &c))
            return;
        for (uint32_t k = 0; k < c.n; k++) {
            int cmp = has ? esql_sv_cmp(e->type, &c.v[k], &best) : 0;
            if (!has || (gr ? cmp > 0 : cmp < 0)) {
                best = c.v[k];
                has = true;
            }
        }
    }
    struct esql_sv *v = esql_sv_new(X->a, 1);
    if (v && has) {
        *v = best;
        *out = (struct esql_cell){e->type, 1, v};
    }
}

/* ---- math --------------------------------------------------------------------------------------
 */

static bool f_abs(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                  struct esql_sv *o)
{
    if (e->type == ESQL_DOUBLE) {
        o->u.d = fabs(a[0].u.d);
        return true;
    }
    if (a[0].u.i == INT64_MIN || (e->type == ESQL_INT && a[0].u.i == INT32_MIN)) {
        esql_warn(X, "ABS overflow");
        return false;
    }
    o->u.i = a[0].u.i < 0 ? -a[0].u.i : a[0].u.i;
    return true;
}
static bool f_ceil_floor(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                         struct esql_sv *o)
{
    (void)X;
    if (e->type != ESQL_DOUBLE) {
        *o = a[0];
        return true;
    }
    o->u.d = (e->name[0] | 0x20) == 'c' ? ceil(a[0].u.d) : floor(a[0].u.d);
    return true;
}
static bool f_round(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                    struct esql_sv *o)
{
    (void)X;
    int64_t dg = e->narg > 1 ? a[1].u.i : 0;
    if (e->type == ESQL_DOUBLE) {
        if (dg > 300 || dg < -300) {
            o->u.d = dg > 0 ? a[0].u.d : 0;
            return true;
        }
        double p = pow(10, (double)dg);
        double x = a[0].u.d * p;
        x = x < 0 ? -floor(-x + 0.5) : floor(x + 0.5);
        o->u.d = x / p;
        return true;
    }
    if (dg >= 0) {
        *o = a[0];
        return true;
    }
    int64_t p = 1;
    for (int64_t k = 0; k < -dg && p <= INT64_MAX / 10; k++)
        p *= 10;
    int64_t v = a[0].u.i, r = v / p * p, rem = v - r;
    if (rem * 2 >= p)
        r += p;
    else if (-rem * 2 >= p)
        r -= p;
    o->u.i = r;
    return true;
}
static bool f_math1(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                    struct esql_sv *o)
{
    double x = e->narg ? num(ATYPE(0), &a[0]) : 0, r;
    const char *n = e->fn->name;
    if (strcmp(n, "sqrt") == 0)
        r = sqrt(x);
    else if (strcmp(n, "log10") == 0)
        r = x > 0 ? log10(x) : NAN;
    else if (strcmp(n, "exp") == 0)
        r = exp(x);
    else if (strcmp(n, "signum") == 0)
        r = x > 0 ? 1 : x < 0 ? -1 : 0;
    else if (strcmp(n, "pi") == 0)
        r = M_PI;
    else if (strcmp(n, "e") == 0)
        r = M_E;
    else if (strcmp(n, "pow") == 0)
        r = pow(x, num(ATYPE(1), &a[1]));
    else
        r = NAN;
    if (isnan(r) || isinf(r)) {
        esql_warn(X, "%s: result out of range", e->name);
        return false;
    }
    o->u.d = r;
    return true;
}

/* ---- dates
 * --------------------------------------------------------------------------------------- */

static bool f_now(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                  struct esql_sv *o)
{
    (void)e, (void)a;
    o->u.i = X->now;
    return true;
}

static int64_t floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static bool trunc_date(int64_t ms, const struct esql_sv *span, int stype, int64_t *out)
{
    if (stype == ESQL_DURATION) {
        if (span->u.i <= 0)
            return false;
        *out = floordiv(ms, span->u.i) * span->u.i;
        return true;
    }
    int32_t months = span->u.per.months, days = span->u.per.days;
    if ((months && days) || (months <= 0 && days <= 0))
        return false;
    if (days) {
        int64_t d = floordiv(ms, 86400000);
        if (days == 7) { /* weeks start on Monday; 1970-01-01 was a Thursday */
            *out = (floordiv(d - 4, 7) * 7 + 4) * 86400000;
            return true;
        }
        *out = floordiv(d, days) * days * 86400000;
        return true;
    }
    /* months since year 0 */
    char b[32];
    ev_time_fmt_ms(ms, b);
    int64_t y = strtoll(b, NULL, 10);
    int64_t m = (b[5] - '0') * 10 + (b[6] - '0') - 1;
    int64_t tot = y * 12 + m;
    tot = floordiv(tot, months) * months;
    char iso[96];
    snprintf(iso, sizeof iso, "%04lld-%02lld-01T00:00:00Z", (long long)floordiv(tot, 12),
             (long long)(tot - floordiv(tot, 12) * 12 + 1));
    return ev_time_parse(iso, strlen(iso), out);
}

static bool f_date_trunc(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                         struct esql_sv *o)
{
    bool bucket = (e->name[0] | 0x20) == 'b';
    const struct esql_sv *span = bucket ? &a[1] : &a[0];
    const struct esql_sv *date = bucket ? &a[0] : &a[1];
    if (!trunc_date(date->u.i, span, bucket ? ATYPE(1) : ATYPE(0), &o->u.i)) {
        esql_warn(X, "%s: bad time span", e->name);
        return false;
    }
    return true;
}

static bool date_parts(int64_t ms, int64_t p[8])
{
    char b[32];
    ev_time_fmt_ms(ms, b);
    if (b[0] < '0' || b[0] > '9')
        return false;
    p[0] = strtoll(b, NULL, 10);
    const char *t = strchr(b + 1, '-');
    if (!t)
        return false;
    p[1] = strtoll(t + 1, NULL, 10);
    p[2] = strtoll(t + 4, NULL, 10);
    p[3] = strtoll(t + 7, NULL, 10);
    p[4] = strtoll(t + 10, NULL, 10);
    p[5] = strtoll(t + 13, NULL, 10);
    p[6] = strtoll(t + 16, NULL, 10);
    int64_t d = floordiv(ms, 86400000);
    p[7] = ((d + 3) % 7 + 7) % 7 + 1; /* ISO day of week, Monday = 1 */
    return true;
}

static bool f_date_extract(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                           struct esql_sv *o)
{
    static const struct {
        const char *name;
        int idx;
    } parts[] = {{"year", 0},
                 {"month_of_year", 1},
                 {"day_of_month", 2},
                 {"hour_of_day", 3},
                 {"minute_of_hour", 4},
                 {"second_of_minute", 5},
                 {"milli_of_second", 6},
                 {"day_of_week", 7},
                 {"day_of_year", 8},
                 {"epoch_day", 9},
                 {"aligned_week_of_year", 10}};
    int64_t p[8];
    if (!date_parts(a[1].u.i, p))
        return false;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++)
        if (kx_str_eq_nocase((kx_str){S0, N0}, kx_str_c(parts[k].name))) {
            int i = parts[k].idx;
            if (i < 8)
                o->u.i = p[i];
            else if (i == 9)
                o->u.i = floordiv(a[1].u.i, 86400000);
            else {
                char iso[32];
                snprintf(iso, sizeof iso, "%04lld-01-01", (long long)p[0]);
                int64_t jan1;
                ev_time_parse(iso, strlen(iso), &jan1);
                int64_t doy = floordiv(a[1].u.i - jan1, 86400000) + 1;
                o->u.i = i == 8 ? doy : (doy - 1) / 7 + 1;
            }
            return true;
        }
    (void)e;
    esql_warn(X, "DATE_EXTRACT: unknown part [%.*s]", (int)N0, S0);
    return false;
}

static bool f_date_diff(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                        struct esql_sv *o)
{
    (void)e;
    static const struct {
        const char *n[4];
        int64_t ms;
    } u[] = {{{"millisecond", "milliseconds", "ms", NULL}, 1},
             {{"second", "seconds", "ss", "s"}, 1000},
             {{"minute", "minutes", "mi", "n"}, 60000},
             {{"hour", "hours", "hh", NULL}, 3600000},
             {{"day", "days", "dd", "d"}, 86400000},
             {{"week", "weeks", "wk", "ww"}, 604800000},
             {{"month", "months", "mm", "m"}, -1},
             {{"quarter", "quarters", "qq", "q"}, -3},
             {{"year", "years", "yyyy", "yy"}, -12}};
    int64_t d1 = a[1].u.i, d2 = a[2].u.i;
    for (size_t k = 0; k < sizeof u / sizeof u[0]; k++)
        for (int j = 0; j < 4 && u[k].n[j]; j++)
            if (kx_str_eq_nocase((kx_str){S0, N0}, kx_str_c(u[k].n[j]))) {
                int64_t r;
                if (u[k].ms > 0) {
                    r = (d2 - d1) / u[k].ms;
                } else {
                    int64_t p1[8], p2[8];
                    date_parts(d1, p1);
                    date_parts(d2, p2);
                    int64_t months = (p2[0] - p1[0]) * 12 + (p2[1] - p1[1]);
                    /* whole months only: step back when the day/time is not reached */
                    int64_t t1 = esql_date_add(d1, (int32_t)months, 0, 1);
                    if (months > 0 && t1 > d2)
                        months--;
                    else if (months < 0 && t1 < d2)
                        months++;
                    r = months / -u[k].ms;
                }
                if (r < INT32_MIN || r > INT32_MAX) {
                    esql_warn(X, "DATE_DIFF: integer overflow");
                    return false;
                }
                o->u.i = r;
                return true;
            }
    esql_warn(X, "DATE_DIFF: unknown unit [%.*s]", (int)N0, S0);
    return false;
}

/* DATE_FORMAT with a Java-style pattern subset: yyyy yy MM dd HH mm ss SSS, 'literal'. */
static bool f_date_format(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                          struct esql_sv *o)
{
    int64_t ms = e->narg == 2 ? a[1].u.i : a[0].u.i;
    if (e->narg == 1) {
        char b[32];
        size_t l = ev_time_fmt_ms(ms, b);
        return str_out(X, o, b, l);
    }
    int64_t p[8];
    if (!date_parts(ms, p))
        return false;
    kx_buf b;
    kx_buf_init(&b, 1024);
    for (size_t i = 0; i < N0;) {
        char c = S0[i];
        size_t r = i;
        while (r < N0 && S0[r] == c)
            r++;
        size_t k = r - i;
        if (c == '\'') {
            size_t j = i + 1;
            while (j < N0 && S0[j] != '\'')
                kx_buf_addc(&b, S0[j++]);
            i = j + 1;
            continue;
        }
        switch (c) {
        case 'y':
        case 'u':
            kx_buf_addf(&b, k == 2 ? "%02lld" : "%04lld", (long long)(k == 2 ? p[0] % 100 : p[0]));
            break;
        case 'M': kx_buf_addf(&b, k >= 2 ? "%02lld" : "%lld", (long long)p[1]); break;
        case 'd': kx_buf_addf(&b, k >= 2 ? "%02lld" : "%lld", (long long)p[2]); break;
        case 'H': kx_buf_addf(&b, k >= 2 ? "%02lld" : "%lld", (long long)p[3]); break;
        case 'm': kx_buf_addf(&b, k >= 2 ? "%02lld" : "%lld", (long long)p[4]); break;
        case 's': kx_buf_addf(&b, k >= 2 ? "%02lld" : "%lld", (long long)p[5]); break;
        case 'S': kx_buf_addf(&b, "%03lld", (long long)p[6]); break;
        case 'X':
        case 'Z': kx_buf_adds(&b, c == 'X' ? "Z" : "+0000"); break;
        default:
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                kx_buf_fini(&b);
                esql_warn(X, "DATE_FORMAT: unsupported pattern letter '%c'", c);
                return false;
            }
            kx_buf_add(&b, S0 + i, k);
        }
        i = r;
    }
    bool ok = str_out(X, o, b.ptr ? b.ptr : "", b.len);
    kx_buf_fini(&b);
    return ok;
}

static bool f_date_parse(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                         struct esql_sv *o)
{
    const struct esql_sv *s = e->narg == 2 ? &a[1] : &a[0];
    if (ev_time_parse(s->u.s.p, s->u.s.n, &o->u.i))
        return true;
    esql_warn(X, "DATE_PARSE: cannot parse [%.*s]", (int)(s->u.s.n > 60 ? 60 : s->u.s.n), s->u.s.p);
    return false;
}

/* ---- ip
 * ------------------------------------------------------------------------------------------ */

static bool cidr_has(const uint8_t ip[16], const char *s, size_t n)
{
    const char *sl = memchr(s, '/', n);
    uint8_t net[16];
    size_t al = sl ? (size_t)(sl - s) : n;
    if (!esql_parse_ip(s, al, net))
        return false;
    bool v4 = !memchr(s, ':', al);
    long bits = v4 ? 32 : 128;
    if (sl) {
        char *end;
        char tmp[8];
        size_t bl = n - al - 1;
        if (!bl || bl >= sizeof tmp)
            return false;
        memcpy(tmp, sl + 1, bl);
        tmp[bl] = 0;
        bits = strtol(tmp, &end, 10);
        if (*end || bits < 0 || bits > (v4 ? 32 : 128))
            return false;
    }
    if (v4)
        bits += 96;
    for (long i = 0; i < bits; i++) {
        int b = (int)(i / 8), m = 0x80 >> (i % 8);
        if ((ip[b] & m) != (net[b] & m))
            return false;
    }
    return true;
}

static void c_cidr_match(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                         struct esql_cell *out)
{
    *out = (struct esql_cell){ESQL_BOOL, 0, NULL};
    if (!a[0].n)
        return;
    if (a[0].n > 1) {
        esql_warn(X, "single-value function encountered multi-value");
        return;
    }
    bool m = false;
    for (uint32_t i = 1; i < e->narg && !m; i++)
        for (uint32_t k = 0; k < a[i].n && !m; k++)
            m = cidr_has(a[0].v[0].u.ip, a[i].v[k].u.s.p, a[i].v[k].u.s.n);
    struct esql_sv *v = esql_sv_new(X->a, 1);
    if (v) {
        v->u.i = m;
        *out = (struct esql_cell){ESQL_BOOL, 1, v};
    }
}

/* ---- multi-values
 * -------------------------------------------------------------------------------- */

static struct esql_sv *copy_vals(struct ectx *X, const struct esql_cell *c)
{
    struct esql_sv *v = esql_sv_new(X->a, c->n);
    if (v)
        memcpy(v, c->v, c->n * sizeof *v);
    return v;
}

static void c_mv(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                 struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
    const char *n = e->fn->name;
    const struct esql_cell *c = &a[0];
    int t = ATYPE(0);
    if (strcmp(n, "mv_append") == 0) {
        if (!a[0].n || !a[1].n)
            return;
        struct esql_cell x, y;
        if (!conv_to(X, t, &a[0], e->type, &x) || !conv_to(X, ATYPE(1), &a[1], e->type, &y))
            return;
        struct esql_sv *v = esql_sv_new(X->a, x.n + y.n);
        if (!v)
            return;
        memcpy(v, x.v, x.n * sizeof *v);
        memcpy(v + x.n, y.v, y.n * sizeof *v);
        *out = (struct esql_cell){e->type, x.n + y.n, v};
        return;
    }
    if (!c->n)
        return;
    struct esql_sv *v = esql_sv_new(X->a, c->n > 0 ? c->n : 1);
    if (!v)
        return;
    if (strcmp(n, "mv_count") == 0) {
        v->u.i = c->n;
        *out = (struct esql_cell){ESQL_INT, 1, v};
    } else if (strcmp(n, "mv_first") == 0 || strcmp(n, "mv_last") == 0) {
        *v = c->v[n[3] == 'f' ? 0 : c->n - 1];
        *out = (struct esql_cell){e->type, 1, v};
    } else if (strcmp(n, "mv_min") == 0 || strcmp(n, "mv_max") == 0) {
        *v = c->v[0];
        for (uint32_t i = 1; i < c->n; i++) {
            int cmp = esql_sv_cmp(t, &c->v[i], v);
            if (n[4] == 'i' ? cmp < 0 : cmp > 0)
                *v = c->v[i];
        }
        *out = (struct esql_cell){e->type, 1, v};
    } else if (strcmp(n, "mv_dedupe") == 0 || strcmp(n, "mv_sort") == 0) {
        struct esql_sv *w = copy_vals(X, c);
        if (!w)
            return;
        uint32_t m;
        bool desc =
            e->narg > 1 && a[1].n &&
            kx_str_eq_nocase((kx_str){a[1].v[0].u.s.p, a[1].v[0].u.s.n}, KX_STR_LIT("desc"));
        if (e->narg > 1 && a[1].n && !desc &&
            !kx_str_eq_nocase((kx_str){a[1].v[0].u.s.p, a[1].v[0].u.s.n}, KX_STR_LIT("asc"))) {
            esql_warn(X, "MV_SORT: order must be ASC or DESC");
            return;
        }
        if (n[3] == 'd') {
            /* keep the first occurrence order */
            m = 0;
            for (uint32_t i = 0; i < c->n; i++) {
                bool dup = false;
                for (uint32_t j = 0; j < m && !dup; j++)
                    dup = esql_sv_cmp(t, &w[j], &c->v[i]) == 0;
                if (!dup)
                    w[m++] = c->v[i];
            }
        } else {
            esql_cell_sort(t, w, c->n, false, &m);
            if (desc)
                for (uint32_t i = 0; i < m / 2; i++) {
                    struct esql_sv x = w[i];
                    w[i] = w[m - 1 - i];
                    w[m - 1 - i] = x;
                }
        }
        *out = (struct esql_cell){e->type, m, w};
    } else if (strcmp(n, "mv_sum") == 0 || strcmp(n, "mv_avg") == 0) {
        double ds = 0;
        int64_t is = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            ds += num(t, &c->v[i]);
            if (t != ESQL_DOUBLE && __builtin_add_overflow(is, c->v[i].u.i, &is)) {
                esql_warn(X, "MV_SUM overflow");
                return;
            }
        }
        if (n[3] == 'a')
            v->u.d = ds / c->n;
        else if (e->type == ESQL_DOUBLE)
            v->u.d = ds;
        else
            v->u.i = is;
        if (e->type == ESQL_INT && (is > INT32_MAX || is < INT32_MIN)) {
            esql_warn(X, "MV_SUM overflow");
            return;
        }
        *out = (struct esql_cell){e->type, 1, v};
    } else if (strcmp(n, "mv_median") == 0) {
        struct esql_sv *w = copy_vals(X, c);
        uint32_t m;
        if (!w)
            return;
        esql_cell_sort(t, w, c->n, false, &m);
        if (m % 2)
            *v = w[m / 2];
        else if (t == ESQL_DOUBLE)
            v->u.d = (w[m / 2 - 1].u.d + w[m / 2].u.d) / 2;
        else
            v->u.i = floordiv(w[m / 2 - 1].u.i + w[m / 2].u.i, 2);
        *out = (struct esql_cell){e->type, 1, v};
    } else if (strcmp(n, "mv_concat") == 0) {
        if (!a[1].n || a[1].n > 1)
            return;
        kx_buf b;
        kx_buf_init(&b, 1 << 24);
        for (uint32_t i = 0; i < c->n; i++) {
            if (i)
                kx_buf_add(&b, a[1].v[0].u.s.p, a[1].v[0].u.s.n);
            kx_buf_add(&b, c->v[i].u.s.p, c->v[i].u.s.n);
        }
        if (str_out(X, v, b.ptr ? b.ptr : "", b.len))
            *out = (struct esql_cell){ESQL_KEYWORD, 1, v};
        kx_buf_fini(&b);
    } else if (strcmp(n, "mv_slice") == 0) {
        if (!a[1].n || (e->narg > 2 && !a[2].n))
            return;
        int64_t n0 = c->n, s = a[1].v[0].u.i, en = e->narg > 2 ? a[2].v[0].u.i : s;
        if (s < 0)
            s += n0;
        if (en < 0)
            en += n0;
        if (s < 0 || s >= n0 || en < s)
            return;
        if (en >= n0)
            en = n0 - 1;
        *out = (struct esql_cell){e->type, (uint32_t)(en - s + 1), c->v + s};
    }
}

/* ---- the table
 * ------------------------------------------------------------------------------------ */

#define SC(f) f, NULL
#define CE(f) NULL, f

static const struct esql_fn fns[] = {
    /* strings */
    {"starts_with", 2, 2, 0, "ss", 'b', SC(f_starts_with)},
    {"ends_with", 2, 2, 0, "ss", 'b', SC(f_ends_with)},
    {"to_lower", 1, 1, 0, "s", 'k', SC(f_case_map)},
    {"to_upper", 1, 1, 0, "s", 'k', SC(f_case_map)},
    {"length", 1, 1, 0, "s", 'i', SC(f_length)},
    {"substring", 2, 3, 0, "sii", 'k', SC(f_substring)},
    {"left", 2, 2, 0, "si", 'k', SC(f_left_right)},
    {"right", 2, 2, 0, "si", 'k', SC(f_left_right)},
    {"reverse", 1, 1, 0, "s", 'k', SC(f_reverse)},
    {"repeat", 2, 2, 0, "si", 'k', SC(f_repeat)},
    {"trim", 1, 1, 0, "s", 'k', SC(f_trim)},
    {"ltrim", 1, 1, 0, "s", 'k', SC(f_trim)},
    {"rtrim", 1, 1, 0, "s", 'k', SC(f_trim)},
    {"concat", 2, 255, 0, "s", 'k', SC(f_concat)},
    {"locate", 2, 3, 0, "ssi", 'i', SC(f_locate)},
    {"replace", 3, 3, 0, "sss", 'k', SC(f_replace)},
    {"split", 2, 2, FN_CELL, "ss", 'k', CE(c_split)},
    {"url_decode", 1, 1, FN_EACH, "s", 'k', SC(f_url_decode)},
    {"url_encode", 1, 1, FN_EACH, "s", 'k', SC(f_url_encode)},
    /* conversion */
    {"to_string", 1, 1, FN_EACH, "a", 'k', SC(f_convert)},
    {"to_str", 1, 1, FN_EACH, "a", 'k', SC(f_convert)},
    {"to_integer", 1, 1, FN_EACH, "a", 'i', SC(f_convert)},
    {"to_int", 1, 1, FN_EACH, "a", 'i', SC(f_convert)},
    {"to_long", 1, 1, FN_EACH, "a", 'l', SC(f_convert)},
    {"to_double", 1, 1, FN_EACH, "a", 'd', SC(f_convert)},
    {"to_dbl", 1, 1, FN_EACH, "a", 'd', SC(f_convert)},
    {"to_boolean", 1, 1, FN_EACH, "a", 'b', SC(f_convert)},
    {"to_bool", 1, 1, FN_EACH, "a", 'b', SC(f_convert)},
    {"to_datetime", 1, 1, FN_EACH, "a", 'D', SC(f_convert)},
    {"to_dt", 1, 1, FN_EACH, "a", 'D', SC(f_convert)},
    {"to_ip", 1, 1, FN_EACH, "a", 'P', SC(f_convert)},
    /* conditional */
    {"case", 1, 255, FN_CELL, "a", 'C', CE(c_case)},
    {"coalesce", 1, 255, FN_CELL, "a", 'W', CE(c_coalesce)},
    {"greatest", 1, 255, FN_CELL, "a", 'W', CE(c_greatest)},
    {"least", 1, 255, FN_CELL, "a", 'W', CE(c_greatest)},
    /* math */
    {"abs", 1, 1, 0, "n", '0', SC(f_abs)},
    {"ceil", 1, 1, 0, "n", '0', SC(f_ceil_floor)},
    {"floor", 1, 1, 0, "n", '0', SC(f_ceil_floor)},
    {"round", 1, 2, 0, "ni", '0', SC(f_round)},
    {"pow", 2, 2, 0, "nn", 'd', SC(f_math1)},
    {"sqrt", 1, 1, 0, "n", 'd', SC(f_math1)},
    {"log10", 1, 1, 0, "n", 'd', SC(f_math1)},
    {"exp", 1, 1, 0, "n", 'd', SC(f_math1)},
    {"signum", 1, 1, 0, "n", 'd', SC(f_math1)},
    {"pi", 0, 0, 0, "", 'd', SC(f_math1)},
    {"e", 0, 0, 0, "", 'd', SC(f_math1)},
    /* dates */
    {"now", 0, 0, FN_NOW, "", 'D', SC(f_now)},
    {"date_trunc", 2, 2, 0, "td", 'D', SC(f_date_trunc)},
    {"bucket", 2, 2, 0, "dt", 'D', SC(f_date_trunc)},
    {"date_extract", 2, 2, 0, "sd", 'l', SC(f_date_extract)},
    {"date_diff", 3, 3, 0, "sdd", 'i', SC(f_date_diff)},
    {"date_format", 1, 2, 0, "sd", 'k', SC(f_date_format)},
    {"date_parse", 1, 2, 0, "ss", 'D', SC(f_date_parse)},
    /* ip */
    {"cidr_match", 2, 255, FN_CELL, "ps", 'b', CE(c_cidr_match)},
    /* multi-values */
    {"mv_count", 1, 1, FN_CELL, "a", 'i', CE(c_mv)},
    {"mv_first", 1, 1, FN_CELL, "a", '0', CE(c_mv)},
    {"mv_last", 1, 1, FN_CELL, "a", '0', CE(c_mv)},
    {"mv_min", 1, 1, FN_CELL, "a", '0', CE(c_mv)},
    {"mv_max", 1, 1, FN_CELL, "a", '0', CE(c_mv)},
    {"mv_dedupe", 1, 1, FN_CELL, "a", '0', CE(c_mv)},
    {"mv_sort", 1, 2, FN_CELL, "ac", '0', CE(c_mv)},
    {"mv_sum", 1, 1, FN_CELL, "n", '0', CE(c_mv)},
    {"mv_avg", 1, 1, FN_CELL, "n", 'd', CE(c_mv)},
    {"mv_median", 1, 1, FN_CELL, "n", '0', CE(c_mv)},
    {"mv_concat", 2, 2, FN_CELL, "ss", 'k', CE(c_mv)},
    {"mv_slice", 2, 3, FN_CELL, "aii", '0', CE(c_mv)},
    {"mv_append", 2, 2, FN_CELL, "a", 'W', CE(c_mv)},
    /* full text */
    {"kql", 1, 1, FN_DOC, "c", 'b', NULL, NULL},
    /* aggregates */
    {"count", 0, 1, FN_AGG, "a", 'l', NULL, NULL},
    {"count_distinct", 1, 2, FN_AGG, "ai", 'l', NULL, NULL},
    {"values", 1, 1, FN_AGG, "a", 'V', NULL, NULL},
    {"min", 1, 1, FN_AGG, "a", 'V', NULL, NULL},
    {"max", 1, 1, FN_AGG, "a", 'V', NULL, NULL},
    {"sum", 1, 1, FN_AGG, "n", 'S', NULL, NULL},
    {"avg", 1, 1, FN_AGG, "n", 'd', NULL, NULL},
};

const struct esql_fn *esql_fn_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (kx_str_eq_nocase((kx_str){name, len}, kx_str_c(fns[i].name)))
            return &fns[i];
    return NULL;
}

/* ---- type checking ------------------------------------------------------------------------------
 */

static bool cast_arg(struct esql_expr *x, kx_arena *a, int to, char *msg, size_t cap, uint32_t *ep)
{
    if (!x->strlit || x->lit.n != 1 || x->type == to)
        return true;
    struct esql_sv *v = esql_sv_new(a, 1);
    struct ectx X = {.a = a};
    if (!v || !esql_convert(&X, ESQL_KEYWORD, x->lit.v, to, v)) {
        snprintf(msg, cap, "cannot convert string [%.*s] to [%s]",
                 (int)(x->lit.v->u.s.n > 60 ? 60 : x->lit.v->u.s.n), x->lit.v->u.s.p,
                 esql_type_name(to));
        *ep = x->pos;
        return false;
    }
    x->lit.v = v;
    x->lit.type = x->type = (uint8_t)to;
    x->strlit = false;
    return true;
}

static bool compatible(int a, int b)
{
    return a == b || a == ESQL_NULL || b == ESQL_NULL ||
           (esql_is_numeric(a) && esql_is_numeric(b)) || (esql_is_string(a) && esql_is_string(b));
}

static int common(int a, int b)
{
    if (a == ESQL_NULL)
        return b;
    if (b == ESQL_NULL)
        return a;
    if (esql_is_numeric(a) && esql_is_numeric(b))
        return a == ESQL_DOUBLE || b == ESQL_DOUBLE ? ESQL_DOUBLE
               : a == ESQL_LONG || b == ESQL_LONG   ? ESQL_LONG
                                                    : ESQL_INT;
    if (esql_is_string(a) && esql_is_string(b))
        return a == b ? a : ESQL_KEYWORD;
    return a;
}

/* A common type of args[from, step...]: false when they do not agree. */
static bool common_of(struct esql_expr *e, uint32_t from, uint32_t step, int *out, char *msg,
                      size_t cap, uint32_t *ep)
{
    int t = ESQL_NULL;
    for (uint32_t i = from; i < e->narg; i += step) {
        int u = e->arg[i]->type;
        if (!compatible(t, u)) {
            snprintf(msg, cap, "%s: arguments must have one type, [%s] and [%s]", e->name,
                     esql_type_name(t), esql_type_name(u));
            *ep = e->arg[i]->pos;
            return false;
        }
        t = common(t, u);
    }
    *out = t;
    return true;
}

bool esql_fn_check(struct esql_expr *e, kx_arena *ar, char *msg, size_t cap, uint32_t *ep)
{
    const struct esql_fn *f = e->fn;
    *ep = e->pos;
    if (e->star && !(f->flags & FN_AGG && strcmp(f->name, "count") == 0)) {
        snprintf(msg, cap, "%s(*) is not valid: only COUNT(*)", e->name);
        return false;
    }
    if (!e->star && (e->narg < f->min || (f->max != 255 && e->narg > f->max))) {
        if (f->min == f->max)
            snprintf(msg, cap, "%s takes %u argument%s, not %u", e->name, f->min,
                     f->min == 1 ? "" : "s", e->narg);
        else
            snprintf(msg, cap, "%s takes %u to %u arguments, not %u", e->name, f->min, f->max,
                     e->narg);
        return false;
    }
    const char *args = f->args;
    /* DATE_FORMAT(date) and DATE_PARSE(string): the optional format comes first */
    if (e->narg == 1 && (strcmp(f->name, "date_format") == 0 || strcmp(f->name, "date_parse") == 0))
        args++;
    size_t na = strlen(args);
    for (uint32_t i = 0; i < e->narg; i++) {
        struct esql_expr *x = e->arg[i];
        char cls = na ? args[i < na ? i : na - 1] : 'a';
        int t = x->type;
        bool ok = true;
        const char *want = NULL;
        switch (cls) {
        case 's':
            ok = esql_is_string(t);
            want = "a string";
            break;
        case 'c':
            ok = esql_is_string(t) && x->is_const;
            want = "a string constant";
            break;
        case 'n':
            ok = esql_is_numeric(t);
            want = "a number";
            break;
        case 'i':
            ok = t == ESQL_INT || t == ESQL_LONG;
            want = "an integer";
            break;
        case 'd':
            if (!cast_arg(x, ar, ESQL_DATE, msg, cap, ep))
                return false;
            t = x->type;
            ok = t == ESQL_DATE;
            want = "a date";
            break;
        case 'p':
            if (!cast_arg(x, ar, ESQL_IP, msg, cap, ep))
                return false;
            t = x->type;
            ok = t == ESQL_IP;
            want = "an ip";
            break;
        case 'b':
            ok = t == ESQL_BOOL;
            want = "a boolean";
            break;
        case 't':
            ok = t == ESQL_PERIOD || t == ESQL_DURATION;
            want = "a time span (e.g. 1 hour)";
            break;
        default:
            ok = t != ESQL_PERIOD && t != ESQL_DURATION;
            want = "a value";
            break;
        }
        if (!ok && t != ESQL_NULL) {
            snprintf(msg, cap, "argument %u of %s must be %s, not [%s]", i + 1, e->name, want,
                     esql_type_name(t));
            *ep = x->pos;
            return false;
        }
    }
    int t0 = e->narg ? e->arg[0]->type : ESQL_NULL;
    int rt = ESQL_NULL;
    switch (f->ret) {
    case 'k': rt = ESQL_KEYWORD; break;
    case 'b': rt = ESQL_BOOL; break;
    case 'i': rt = ESQL_INT; break;
    case 'l': rt = ESQL_LONG; break;
    case 'd': rt = ESQL_DOUBLE; break;
    case 'D': rt = ESQL_DATE; break;
    case 'P': rt = ESQL_IP; break;
    case '0': rt = t0 == ESQL_TEXT ? ESQL_KEYWORD : t0; break;
    case 'V': rt = t0; break;
    case 'S': rt = t0 == ESQL_DOUBLE ? ESQL_DOUBLE : ESQL_LONG; break;
    case 'W':
        if (!common_of(e, 0, 1, &rt, msg, cap, ep))
            return false;
        break;
    case 'C': {
        for (uint32_t i = 0; i + 1 < e->narg; i += 2)
            if (e->arg[i]->type != ESQL_BOOL && e->arg[i]->type != ESQL_NULL) {
                snprintf(msg, cap, "CASE conditions must be boolean, not [%s]",
                         esql_type_name(e->arg[i]->type));
                *ep = e->arg[i]->pos;
                return false;
            }
        int t = ESQL_NULL;
        for (uint32_t i = 1; i < e->narg; i += 2) {
            int u = e->arg[i]->type;
            if (!compatible(t, u)) {
                snprintf(msg, cap, "CASE values must have one type, [%s] and [%s]",
                         esql_type_name(t), esql_type_name(u));
                *ep = e->arg[i]->pos;
                return false;
            }
            t = common(t, u);
        }
        if (e->narg % 2) {
            int u = e->arg[e->narg - 1]->type;
            if (!compatible(t, u)) {
                snprintf(msg, cap, "CASE values must have one type, [%s] and [%s]",
                         esql_type_name(t), esql_type_name(u));
                *ep = e->arg[e->narg - 1]->pos;
                return false;
            }
            t = common(t, u);
        }
        rt = t;
        break;
    }
    }
    if (strcmp(f->name, "to_string") == 0 || strcmp(f->name, "to_str") == 0)
        rt = ESQL_KEYWORD;
    e->type = (uint8_t)rt;
    if (f->flags & FN_AGG) {
        static const char *const an[] = {"",    "count", "count_distinct", "values", "min", "max",
                                         "sum", "avg"};
        for (uint8_t k = 1; k < sizeof an / sizeof an[0]; k++)
            if (strcmp(f->name, an[k]) == 0)
                e->op = k;
        if ((e->op == A_MIN || e->op == A_MAX) && (t0 == ESQL_PERIOD || t0 == ESQL_DURATION)) {
            snprintf(msg, cap, "%s does not take a time span", e->name);
            return false;
        }
    }
    if (strcmp(f->name, "replace") == 0 && e->arg[1]->is_const && e->arg[1]->lit.n == 1) {
        size_t rp;
        const struct esql_sv *p = e->arg[1]->lit.v;
        e->aux = esql_re_compile(ar, p->u.s.p, p->u.s.n, RE_JAVA, msg, cap, &rp);
        if (!e->aux) {
            char m2[200];
            snprintf(m2, sizeof m2, "REPLACE pattern: %s", msg);
            snprintf(msg, cap, "%s", m2);
            *ep = e->arg[1]->pos;
            return false;
        }
    }
    return true;
}

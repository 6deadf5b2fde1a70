/*
 * esql_eval.c - values, expressions and the pipeline.
 *
 * A row is an array of cells in the layout of the command it enters. Source columns are read
 * from the document only when first used (an unloaded cell remembers its FROM column). A
 * document enters command 0 and flows through the commands until one that needs all rows:
 * STATS folds the row into its groups, SORT keeps it; rows that pass every command are kept
 * as output. esql_run_finish then releases the STATS groups and SORT rows, in command order,
 * into the rest of the pipeline.
 *
 * Null and multi-value rules (docs/internals/esql.md): every comparison, arithmetic operator,
 * LIKE/RLIKE and single-value function gives null on a null input, and null plus a warning on a
 * multi-valued one; WHERE keeps only true; AND/OR are three-valued.
 */
#include "esql/esql_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/map.h"
#include "base/vec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"null",   "boolean",     "integer",      "long",
                                         "double", "keyword",     "text",         "ip",
                                         "date",   "date_period", "time_duration"};

const char *esql_type_name(int t)
{
    return t >= 0 && t < ESQL_NTYPES ? type_names[t] : "unsupported";
}

struct row {
    const struct esql_doc *doc;
    struct esql_cell *c;
    uint32_t n;
    uint64_t tag; /* the source document's esql_doc.tag (0 for STATS rows) */
};

struct agg {
    int64_t cnt, isum;
    double dsum;
    bool ovf, has;
    struct esql_sv best;
    kx_map *set;
    uint32_t nset;
};

struct group {
    struct esql_cell *key;
    struct agg *agg;
};

struct cstate {
    int64_t seen;               /* LIMIT */
    KX_VEC(struct row) rows;    /* SORT */
    kx_arena *ar;               /* SORT followed by LIMIT: the kept rows (compacted) */
    kx_map *idx;                /* STATS: key bytes -> group */
    KX_VEC(struct group *) grp; /* STATS, first-seen order */
    bool any;                   /* STATS: some row entered */
};

struct esql_run {
    const struct esql_prog *p;
    kx_arena arena;   /* the run's rows and groups */
    kx_arena scratch; /* one document */
    int64_t now;
    uint64_t warnings;
    char first_warning[256];
    struct cstate *cs;
    KX_VEC(struct row) out;
    uint64_t out_dropped;
    uint64_t kept; /* rows kept so far (SORT, output) */
    bool finishing, finished;
    kad_err *err;
    int status;
    /* esql_run_feed_many: the runs that receive the rows reaching the first STATS/SORT */
    struct esql_run *const *fan;
    size_t nfan;
};

void esql_warn(struct ectx *X, const char *fmt, ...)
{
    if (!X->run)
        return;
    if (X->run->warnings++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(X->run->first_warning, sizeof X->run->first_warning, fmt, ap);
        va_end(ap);
    }
}

struct esql_sv *esql_sv_new(kx_arena *a, uint32_t n)
{
    return kx_arena_alloc(a, (n ? n : 1) * sizeof(struct esql_sv));
}

/* ---- values ------------------------------------------------------------------------------- */

int esql_sv_cmp(int type, const struct esql_sv *a, const struct esql_sv *b)
{
    switch (type) {
    case ESQL_DOUBLE: return a->u.d < b->u.d ? -1 : a->u.d > b->u.d ? 1 : 0;
    case ESQL_KEYWORD:
    case ESQL_TEXT: {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n ? 1 : 0;
    }
    case ESQL_IP: {
        int c = memcmp(a->u.ip, b->u.ip, 16);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case ESQL_PERIOD:
        if (a->u.per.months != b->u.per.months)
            return a->u.per.months < b->u.per.months ? -1 : 1;
        return a->u.per.days < b->u.per.days ? -1 : a->u.per.days > b->u.per.days ? 1 : 0;
    default: return a->u.i < b->u.i ? -1 : a->u.i > b->u.i ? 1 : 0;
    }
}

/* Stable merge sort of values (no global comparison state). */
static void sv_msort(int type, struct esql_sv *v, struct esql_sv *tmp, uint32_t n)
{
    if (n < 2)
        return;
    if (n <= 16) {
        for (uint32_t i = 1; i < n; i++) {
            struct esql_sv x = v[i];
            uint32_t j = i;
            while (j > 0 && esql_sv_cmp(type, &v[j - 1], &x) > 0) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    uint32_t h = n / 2;
    sv_msort(type, v, tmp, h);
    sv_msort(type, v + h, tmp, n - h);
    uint32_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = esql_sv_cmp(type, &v[j], &v[i]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

void esql_cell_sort(int type, struct esql_sv *v, uint32_t n, bool dedupe, uint32_t *outn)
{
    if (n > 16) {
        struct esql_sv *tmp = kx_malloc(n * sizeof *tmp);
        sv_msort(type, v, tmp, n);
        kx_free(tmp);
    } else {
        sv_msort(type, v, NULL, n);
    }
    uint32_t m = n;
    if (dedupe && n) {
        m = 1;
        for (uint32_t i = 1; i < n; i++)
            if (esql_sv_cmp(type, &v[m - 1], &v[i]) != 0)
                v[m++] = v[i];
    }
    *outn = m;
}

bool esql_cell_eq(const struct esql_cell *a, const struct esql_cell *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (esql_sv_cmp(a->type, &a->v[i], &b->v[i]) != 0)
            return false;
    return true;
}

bool esql_parse_ip(const char *s, size_t n, uint8_t out[16])
{
    uint8_t b[16] = {0};
    /* IPv4 */
    bool v4 = memchr(s, ':', n) == NULL;
    if (v4) {
        unsigned part = 0, val = 0, digits = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i == n || s[i] == '.') {
                if (!digits || part > 3)
                    return false;
                b[12 + part++] = (uint8_t)val;
                val = digits = 0;
                if (i < n && i + 1 == n)
                    return false;
                continue;
            }
            if (s[i] < '0' || s[i] > '9' || ++digits > 3)
                return false;
            if (digits > 1 && val == 0)
                return false; /* leading zero */
            val = val * 10 + (unsigned)(s[i] - '0');
            if (val > 255)
                return false;
        }
        if (part != 4)
            return false;
        b[10] = b[11] = 0xff;
        memcpy(out, b, 16);
        return true;
    }
    /* IPv6 */
    int groups = 0, gap = -1;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
        if (n == 2) {
            memset(out, 0, 16);
            return true;
        }
    } else if (n && s[0] == ':') {
        return false;
    }
    while (i < n) {
        size_t j = i;
        unsigned val = 0;
        while (j < n && j - i < 5 && s[j] != ':' && s[j] != '.') {
            char c = s[j];
            int h = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (h < 0)
                return false;
            val = val * 16 + (unsigned)h;
            j++;
        }
        if (j < n && s[j] == '.') { /* embedded IPv4 */
            uint8_t t[16];
            if (groups > 6 || memchr(s + i, ':', n - i) || !esql_parse_ip(s + i, n - i, t))
                return false;
            memcpy(b + 2 * groups, t + 12, 4);
            groups += 2;
            i = n;
            break;
        }
        if (j == i || j - i > 4 || groups >= 8)
            return false;
        b[2 * groups] = (uint8_t)(val >> 8);
        b[2 * groups + 1] = (uint8_t)val;
        groups++;
        i = j;
        if (i < n) {
            i++; /* ':' */
            if (i < n && s[i] == ':') {
                if (gap >= 0)
                    return false;
                gap = groups;
                i++;
                if (i == n)
                    break;
            } else if (i == n) {
                return false;
            }
        }
    }
    if (gap >= 0) {
        if (groups >= 8)
            return false;
        int move = groups - gap;
        memmove(b + 16 - 2 * move, b + 2 * gap, (size_t)(2 * move));
        memset(b + 2 * gap, 0, (size_t)(16 - 2 * move - 2 * gap));
    } else if (groups != 8) {
        return false;
    }
    memcpy(out, b, 16);
    return true;
}

static void fmt_ip(const uint8_t *ip, kx_buf *out)
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(ip, pre, 12) == 0) {
        kx_buf_addf(out, "%u.%u.%u.%u", ip[12], ip[13], ip[14], ip[15]);
        return;
    }
    unsigned g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    int best = -1, bl = 0;
    for (int i = 0; i < 8;) {
        if (g[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && !g[j])
            j++;
        if (j - i > bl && j - i >= 2) {
            best = i;
            bl = j - i;
        }
        i = j;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            kx_buf_adds(out, "::");
            i += bl - 1;
            continue;
        }
        if (i && i != best + bl)
            kx_buf_addc(out, ':');
        kx_buf_addf(out, "%x", g[i]);
    }
}

/* Java's Double.toString: shortest digits that read back; plain notation for 1e-3 <= |d| < 1e7,
   else d.dddE[-]n. */
static void fmt_double(double d, kx_buf *out)
{
    if (isnan(d) || isinf(d)) {
        kx_buf_adds(out, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == 0) {
        kx_buf_adds(out, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char b[48];
    for (int p = 0; p <= 17; p++) {
        snprintf(b, sizeof b, "%.*e", p, d);
        if (strtod(b, NULL) == d)
            break;
    }
    char dig[32];
    size_t nd = 0;
    const char *q = b;
    bool neg = *q == '-';
    if (neg)
        q++;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < sizeof dig - 1)
            dig[nd++] = *q;
    int ex = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    dig[nd] = 0;
    if (neg)
        kx_buf_addc(out, '-');
    double ad = fabs(d);
    if (ad >= 1e-3 && ad < 1e7) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++)
                kx_buf_addc(out, (size_t)i < nd ? dig[i] : '0');
            kx_buf_addc(out, '.');
            if ((size_t)ex + 1 < nd)
                kx_buf_add(out, dig + ex + 1, nd - (size_t)ex - 1);
            else
                kx_buf_addc(out, '0');
        } else {
            kx_buf_adds(out, "0.");
            for (int i = 0; i < -ex - 1; i++)
                kx_buf_addc(out, '0');
            kx_buf_add(out, dig, nd);
        }
        return;
    }
    kx_buf_addc(out, dig[0]);
    kx_buf_addc(out, '.');
    if (nd > 1)
        kx_buf_add(out, dig + 1, nd - 1);
    else
        kx_buf_addc(out, '0');
    kx_buf_addf(out, "E%d", ex);
}

int esql_sv_fmt(int type, const struct esql_sv *v, kx_buf *out)
{
    char b[40];
    switch (type) {
    case ESQL_BOOL: return kx_buf_adds(out, v->u.i ? "true" : "false");
    case ESQL_INT:
    case ESQL_LONG: return kx_buf_addf(out, "%lld", (long long)v->u.i);
    case ESQL_DOUBLE: fmt_double(v->u.d, out); break;
    case ESQL_KEYWORD:
    case ESQL_TEXT: return kx_buf_add(out, v->u.s.p, v->u.s.n);
    case ESQL_IP: fmt_ip(v->u.ip, out); break;
    case ESQL_DATE: {
        size_t l = ev_time_fmt_ms(v->u.i, b);
        return kx_buf_add(out, b, l);
    }
    case ESQL_PERIOD: return kx_buf_addf(out, "P%dM%dD", v->u.per.months, v->u.per.days);
    case ESQL_DURATION:
        return kx_buf_addf(out, "PT%lld.%03lldS", (long long)(v->u.i / 1000),
                           (long long)llabs(v->u.i % 1000));
    default: break;
    }
    return KAD_OK;
}

static bool parse_num(const char *s, size_t n, double *d, int64_t *i, bool *isint)
{
    char b[64];
    if (!n || n >= sizeof b)
        return false;
    memcpy(b, s, n);
    b[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(b, &end, 10);
    if (*end == 0 && errno == 0 && (b[0] == '-' || b[0] == '+' || (b[0] >= '0' && b[0] <= '9'))) {
        *i = v;
        *d = (double)v;
        *isint = true;
        return true;
    }
    double x = strtod(b, &end);
    if (*end || end == b || isnan(x) || isinf(x) || b[0] == ' ')
        return false;
    *d = x;
    *isint = false;
    return true;
}

bool esql_convert(struct ectx *X, int from, const struct esql_sv *v, int to, struct esql_sv *out)
{
    memset(out, 0, sizeof *out);
    if (from == to || (esql_is_string(from) && esql_is_string(to))) {
        *out = *v;
        return true;
    }
    if (esql_is_string(to)) {
        kx_buf b;
        kx_buf_init(&b, 1 << 20);
        esql_sv_fmt(from, v, &b);
        out->u.s.n = b.len;
        out->u.s.p = kx_arena_strndup(X->a, b.ptr ? b.ptr : "", b.len);
        kx_buf_fini(&b);
        return out->u.s.p != NULL;
    }
    double d = 0;
    int64_t i = 0;
    bool isint = false;
    if (esql_is_string(from)) {
        const char *s = v->u.s.p;
        size_t n = v->u.s.n;
        switch (to) {
        case ESQL_BOOL:
            out->u.i = kx_str_eq_nocase((kx_str){s, n}, KX_STR_LIT("true"));
            return true;
        case ESQL_IP: return esql_parse_ip(s, n, out->u.ip);
        case ESQL_DATE: return ev_time_parse(s, n, &out->u.i);
        default:
            if (!parse_num(s, n, &d, &i, &isint))
                return false;
            break;
        }
    } else if (from == ESQL_DOUBLE) {
        d = v->u.d;
    } else if (from == ESQL_INT || from == ESQL_LONG || from == ESQL_DATE || from == ESQL_BOOL) {
        i = v->u.i;
        d = (double)i;
        isint = true;
    } else {
        return false;
    }
    switch (to) {
    case ESQL_DOUBLE: out->u.d = d; return true;
    case ESQL_BOOL: out->u.i = isint ? i != 0 : d != 0; return true;
    case ESQL_INT:
    case ESQL_LONG:
    case ESQL_DATE:
        if (!isint) {
            if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18))
                return false;
            i = (int64_t)d;
        }
        if (to == ESQL_INT && (i < INT32_MIN || i > INT32_MAX))
            return false;
        out->u.i = i;
        return true;
    default: return false;
    }
}

/* Calendar arithmetic (UTC): add months (the day clamped to the month's length) and days.
   The date is split and rebuilt through the event module's ISO-8601 functions. */
int64_t esql_date_add(int64_t ms, int32_t months, int32_t days, int sign)
{
    if (months) {
        char b[32], iso[128];
        size_t n = ev_time_fmt_ms(ms, b);
        long long y, mo, d;
        if (n >= 23 && sscanf(b, "%lld-%lld-%lld", &y, &mo, &d) == 3) {
            long long tot = y * 12 + (mo - 1) + (long long)sign * months;
            y = tot >= 0 ? tot / 12 : -((-tot + 11) / 12);
            mo = tot - y * 12 + 1;
            static const int ml[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
            int lim = ml[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
            if (d > lim)
                d = lim;
            snprintf(iso, sizeof iso, "%04lld-%02lld-%02lld%s", y, mo, d, b + n - 14);
            int64_t t;
            if (y >= 0 && y <= 9999 && ev_time_parse(iso, strlen(iso), &t))
                ms = t;
        }
    }
    int64_t r;
    if (__builtin_add_overflow(ms, (int64_t)sign * days * 86400000, &r))
        r = sign * days > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ---- documents ------------------------------------------------------------------------------ */

struct loadctx {
    struct ectx *X;
    int type;
    KX_VEC(struct esql_sv) v;
};

static bool load_visit(const struct ev_node *n, bool partial, void *ctx)
{
    struct loadctx *L = ctx;
    if (partial || n->type == EV_OBJECT || L->v.len >= ESQL_MAX_MV)
        return false;
    struct esql_sv v, s;
    memset(&v, 0, sizeof v);
    const char *txt = n->type == EV_TRUE ? "true" : n->type == EV_FALSE ? "false" : n->str;
    size_t tl = n->type == EV_TRUE ? 4 : n->type == EV_FALSE ? 5 : n->len;
    s.u.s.p = txt;
    s.u.s.n = tl;
    bool ok;
    switch (L->type) {
    case ESQL_KEYWORD:
    case ESQL_TEXT:
        v = s;
        ok = true;
        break;
    case ESQL_DATE:
        if (n->type == EV_NUMBER) {
            double d;
            int64_t i;
            bool isint;
            ok = parse_num(txt, tl, &d, &i, &isint);
            v.u.i = isint ? i : (int64_t)d;
        } else {
            ok = n->type == EV_STRING && ev_time_parse(txt, tl, &v.u.i);
        }
        break;
    case ESQL_BOOL:
        ok = n->type == EV_TRUE || n->type == EV_FALSE ||
             (n->type == EV_STRING &&
              (kx_str_eqc((kx_str){txt, tl}, "true") || kx_str_eqc((kx_str){txt, tl}, "false")));
        v.u.i = txt[0] == 't';
        break;
    default:
        ok = (n->type == EV_NUMBER || n->type == EV_STRING) &&
             esql_convert(L->X, ESQL_KEYWORD, &s, L->type, &v);
        break;
    }
    if (ok)
        KX_VEC_PUSH(&L->v, v);
    return false;
}

static void load_source(struct ectx *X, const struct esql_doc *d, const struct lcol *col,
                        struct esql_cell *out)
{
    out->type = col->type;
    out->n = 0;
    out->v = NULL;
    if (col->meta) {
        struct esql_sv *v = esql_sv_new(X->a, 1);
        if (!v)
            return;
        if (col->meta == META_VERSION) {
            if (d->version <= 0)
                return;
            v->u.i = d->version;
        } else {
            kx_str s = col->meta == META_ID ? d->id : d->index;
            if (!s.ptr)
                return;
            v->u.s.p = s.ptr;
            v->u.s.n = s.len;
        }
        out->v = v;
        out->n = 1;
        return;
    }
    if (!d->doc)
        return;
    struct loadctx L = {X, col->type, {0}};
    ev_values(d->doc, col->src, strlen(col->src), load_visit, &L);
    if (L.v.len) {
        uint32_t n = (uint32_t)L.v.len;
        if (col->type != ESQL_TEXT && n > 1)
            esql_cell_sort(col->type, L.v.ptr, n, col->type == ESQL_KEYWORD || col->type == ESQL_IP,
                           &n);
        struct esql_sv *v = esql_sv_new(X->a, n);
        if (v) {
            memcpy(v, L.v.ptr, n * sizeof *v);
            out->v = v;
            out->n = n;
        }
    }
    KX_VEC_FREE(&L.v);
}

static const struct esql_cell *cell_at(struct ectx *X, struct row *r, uint32_t i)
{
    struct esql_cell *c = &r->c[i];
    if (c->type == ESQL_UNLOADED) {
        const struct lcol *col = &X->run->p->from.c[c->n];
        if (r->doc)
            load_source(X, r->doc, col, c);
        else
            *c = (struct esql_cell){col->type, 0, NULL};
    }
    return c;
}

/* ---- expressions ---------------------------------------------------------------------------- */

static void ev(struct ectx *X, struct row *r, const struct esql_expr *e, struct esql_cell *out);

static void set_null(const struct esql_expr *e, struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
}

static void set_bool(struct esql_cell *out, struct ectx *X, bool b)
{
    struct esql_sv *v = esql_sv_new(X->a, 1);
    *out = (struct esql_cell){ESQL_BOOL, v ? 1 : 0, v};
    if (v)
        v->u.i = b;
}

static bool single(struct ectx *X, const struct esql_expr *e, const struct esql_cell *c)
{
    if (c->n > 1) {
        char b[64];
        size_t n = e->end > e->pos ? e->end - e->pos : 0;
        snprintf(b, sizeof b, "%.*s", (int)(n > 40 ? 40 : n),
                 X->run ? X->run->p->src + e->pos : "");
        esql_warn(X, "single-value function encountered multi-value in [%s]", b);
        return false;
    }
    return c->n == 1;
}

/* 1 true, 0 false, -1 null */
static int truth(struct ectx *X, const struct esql_expr *e, const struct esql_cell *c)
{
    if (c->n == 0)
        return -1;
    if (!single(X, e, c))
        return -1;
    return c->v[0].u.i ? 1 : 0;
}

static int cmp_vals(int ta, const struct esql_sv *a, int tb, const struct esql_sv *b)
{
    if (esql_is_numeric(ta) && esql_is_numeric(tb) && ta != tb) {
        if (ta == ESQL_DOUBLE || tb == ESQL_DOUBLE) {
            double x = ta == ESQL_DOUBLE ? a->u.d : (double)a->u.i;
            double y = tb == ESQL_DOUBLE ? b->u.d : (double)b->u.i;
            return x < y ? -1 : x > y ? 1 : 0;
        }
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i ? 1 : 0;
    }
    if (esql_is_string(ta))
        return esql_sv_cmp(ESQL_KEYWORD, a, b);
    return esql_sv_cmp(ta, a, b);
}

static bool cmp_true(int op, int c)
{
    switch (op) {
    case OP_EQ: return c == 0;
    case OP_NEQ: return c != 0;
    case OP_LT: return c < 0;
    case OP_LTE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

static void ev_arith(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                     const struct esql_cell *b, struct esql_cell *out)
{
    set_null(e, out);
    if (!a->n || !b->n)
        return;
    if (!single(X, e, a) || !single(X, e, b))
        return;
    struct esql_sv *v = esql_sv_new(X->a, 1);
    if (!v)
        return;
    const struct esql_sv *x = &a->v[0], *y = &b->v[0];
    if (e->type == ESQL_DATE) {
        int sign = e->op == OP_SUB ? -1 : 1;
        if (b->type == ESQL_DURATION) {
            if (__builtin_add_overflow(x->u.i, sign * y->u.i, &v->u.i)) {
                esql_warn(X, "date arithmetic overflow");
                return;
            }
        } else {
            v->u.i = esql_date_add(x->u.i, y->u.per.months, y->u.per.days, sign);
        }
        *out = (struct esql_cell){e->type, 1, v};
        return;
    }
    if ((e->op == OP_DIV || e->op == OP_MOD) &&
        (b->type == ESQL_DOUBLE ? y->u.d == 0 : y->u.i == 0)) {
        esql_warn(X, "/ by zero");
        return;
    }
    if (e->type == ESQL_DOUBLE) {
        double p = a->type == ESQL_DOUBLE ? x->u.d : (double)x->u.i;
        double q = b->type == ESQL_DOUBLE ? y->u.d : (double)y->u.i;
        double r;
        switch (e->op) {
        case OP_ADD: r = p + q; break;
        case OP_SUB: r = p - q; break;
        case OP_MUL: r = p * q; break;
        case OP_DIV: r = p / q; break;
        default: r = fmod(p, q); break;
        }
        if (isnan(r) || isinf(r)) {
            esql_warn(X, "arithmetic overflow");
            return;
        }
        v->u.d = r;
    } else {
        int64_t p = x->u.i, q = y->u.i, r = 0;
        bool ovf = false;
        switch (e->op) {
        case OP_ADD: ovf = __builtin_add_overflow(p, q, &r); break;
        case OP_SUB: ovf = __builtin_sub_overflow(p, q, &r); break;
        case OP_MUL: ovf = __builtin_mul_overflow(p, q, &r); break;
        case OP_DIV:
            if (p == INT64_MIN && q == -1)
                ovf = true;
            else
                r = p / q;
            break;
        default: r = q == -1 ? 0 : p % q; break;
        }
        if (!ovf && e->type == ESQL_INT && (r < INT32_MIN || r > INT32_MAX))
            ovf = true;
        if (ovf) {
            esql_warn(X, "%s overflow", esql_type_name(e->type));
            return;
        }
        v->u.i = r;
    }
    *out = (struct esql_cell){e->type, 1, v};
}

static void ev_in(struct ectx *X, struct row *r, const struct esql_expr *e, struct esql_cell *out)
{
    struct esql_cell a;
    ev(X, r, e->arg[0], &a);
    set_null(e, out);
    out->type = ESQL_BOOL;
    if (!a.n || !single(X, e->arg[0], &a))
        return;
    bool any_null = false, all_null = true, found = false;
    for (uint32_t i = 1; i < e->narg && !found; i++) {
        struct esql_cell b;
        ev(X, r, e->arg[i], &b);
        if (!b.n) {
            any_null = true;
            continue;
        }
        all_null = false;
        if (b.n > 1) {
            single(X, e->arg[i], &b);
            continue;
        }
        found = cmp_vals(a.type, &a.v[0], b.type, &b.v[0]) == 0;
    }
    if (found) {
        set_bool(out, X, !e->neg);
        return;
    }
    if (all_null || any_null)
        return;
    set_bool(out, X, e->neg);
}

static void ev_cast(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                    struct esql_cell *out)
{
    set_null(e, out);
    if (!a->n)
        return;
    struct esql_sv *v = esql_sv_new(X->a, a->n);
    if (!v)
        return;
    uint32_t m = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        if (esql_convert(X, a->type, &a->v[i], e->type, &v[m]))
            m++;
        else {
            kx_buf b;
            kx_buf_init(&b, 200);
            esql_sv_fmt(a->type, &a->v[i], &b);
            esql_warn(X, "cannot convert [%.*s] to [%s]", (int)(b.len > 80 ? 80 : b.len),
                      b.ptr ? b.ptr : "", esql_type_name(e->type));
            kx_buf_fini(&b);
        }
    }
    if (m)
        *out = (struct esql_cell){e->type, m, v};
}

static void ev_fn(struct ectx *X, struct row *r, const struct esql_expr *e, struct esql_cell *out)
{
    const struct esql_fn *f = e->fn;
    set_null(e, out);
    if (f->flags & FN_DOC) {
        if (!X->doc || !X->doc->doc)
            return;
        {
            set_bool(out, X, kql_match(e->aux, X->doc->doc));
            return;
        }
    }
    struct esql_cell stack[8],
        *a = e->narg <= 8 ? stack : kx_arena_alloc(X->a, e->narg * sizeof *a);
    if (!a)
        return;
    for (uint32_t i = 0; i < e->narg; i++)
        ev(X, r, e->arg[i], &a[i]);
    if (f->flags & FN_CELL) {
        f->ce(X, e, a, out);
        return;
    }
    struct esql_sv sv[8], *s = e->narg <= 8 ? sv : kx_arena_alloc(X->a, e->narg * sizeof *s);
    if (!s)
        return;
    for (uint32_t i = (f->flags & FN_EACH) ? 1 : 0; i < e->narg; i++) {
        if (!a[i].n || !single(X, e->arg[i], &a[i]))
            return;
        s[i] = a[i].v[0];
    }
    if (f->flags & FN_EACH) {
        if (!e->narg || !a[0].n)
            return;
        struct esql_sv *v = esql_sv_new(X->a, a[0].n);
        if (!v)
            return;
        uint32_t m = 0;
        for (uint32_t k = 0; k < a[0].n; k++) {
            s[0] = a[0].v[k];
            if (f->sc(X, e, s, &v[m]))
                m++;
        }
        if (m)
            *out = (struct esql_cell){e->type, m, v};
        return;
    }
    struct esql_sv *v = esql_sv_new(X->a, 1);
    if (v && f->sc(X, e, s, v))
        *out = (struct esql_cell){e->type, 1, v};
}

static void ev(struct ectx *X, struct row *r, const struct esql_expr *e, struct esql_cell *out)
{
    struct esql_cell a, b;
    switch (e->kind) {
    case EX_LIT:
        *out = e->lit;
        out->type = e->type;
        return;
    case EX_LIST: {
        struct esql_sv *v = esql_sv_new(X->a, e->narg);
        uint32_t m = 0;
        for (uint32_t i = 0; v && i < e->narg; i++)
            if (e->arg[i]->lit.n) {
                struct esql_sv x = e->arg[i]->lit.v[0];
                if (e->type == ESQL_DOUBLE && e->arg[i]->type != ESQL_DOUBLE)
                    x.u.d = (double)x.u.i;
                v[m++] = x;
            }
        *out = (struct esql_cell){e->type, m, m ? v : NULL};
        return;
    }
    case EX_COL:
        *out = *cell_at(X, r, (uint32_t)e->col);
        out->type = e->type;
        return;
    case EX_AND:
    case EX_OR: {
        ev(X, r, e->arg[0], &a);
        int x = truth(X, e->arg[0], &a);
        bool and = e->kind == EX_AND;
        if (x == (and? 0 : 1)) {
            set_bool(out, X, !and);
            return;
        }
        ev(X, r, e->arg[1], &b);
        int y = truth(X, e->arg[1], &b);
        if (y == (and? 0 : 1)) {
            set_bool(out, X, !and);
            return;
        }
        if (x < 0 || y < 0) {
            set_null(e, out);
            return;
        }
        {
            set_bool(out, X, and);
            return;
        }
    }
    case EX_NOT: {
        ev(X, r, e->arg[0], &a);
        int x = truth(X, e->arg[0], &a);
        if (x < 0) {
            set_null(e, out);
            return;
        }
        {
            set_bool(out, X, !x);
            return;
        }
    }
    case EX_ISNULL:
        ev(X, r, e->arg[0], &a);
        {
            set_bool(out, X, (a.n == 0) != e->neg);
            return;
        }
    case EX_CMP:
        ev(X, r, e->arg[0], &a);
        ev(X, r, e->arg[1], &b);
        if (!a.n || !b.n || !single(X, e, &a) || !single(X, e, &b)) {
            set_null(e, out);
            return;
        }
        {
            set_bool(out, X, cmp_true(e->op, cmp_vals(a.type, &a.v[0], b.type, &b.v[0])));
            return;
        }
    case EX_ARITH:
        ev(X, r, e->arg[0], &a);
        ev(X, r, e->arg[1], &b);
        {
            ev_arith(X, e, &a, &b, out);
            return;
        }
    case EX_NEG: {
        ev(X, r, e->arg[0], &a);
        set_null(e, out);
        if (!a.n || !single(X, e, &a))
            return;
        struct esql_sv *v = esql_sv_new(X->a, 1);
        if (!v)
            return;
        *v = a.v[0];
        if (e->type == ESQL_DOUBLE)
            v->u.d = -v->u.d;
        else if (e->type == ESQL_PERIOD) {
            v->u.per.months = -v->u.per.months;
            v->u.per.days = -v->u.per.days;
        } else if (v->u.i == INT64_MIN || (e->type == ESQL_INT && v->u.i == INT32_MIN)) {
            esql_warn(X, "%s overflow", esql_type_name(e->type));
            return;
        } else
            v->u.i = -v->u.i;
        *out = (struct esql_cell){e->type, 1, v};
        return;
    }
    case EX_IN: {
        ev_in(X, r, e, out);
        return;
    }
    case EX_LIKE:
    case EX_RLIKE: {
        ev(X, r, e->arg[0], &a);
        if (!a.n || !single(X, e, &a)) {
            set_null(e, out);
            return;
        }
        const char *s = a.v[0].u.s.p;
        size_t n = a.v[0].u.s.n;
        bool m = false;
        if (e->kind == EX_LIKE) {
            for (uint32_t i = 1; i < e->narg && !m; i++)
                m = esql_like(e->arg[i]->lit.v->u.s.p, e->arg[i]->lit.v->u.s.n, s, n);
        } else {
            int rr = esql_re_full(e->aux, s, n);
            if (rr < 0) {
                esql_warn(X, "RLIKE: pattern too costly on a value of %zu bytes", n);
                {
                    set_null(e, out);
                    return;
                }
            }
            m = rr == 1;
        }
        {
            set_bool(out, X, m != e->neg);
            return;
        }
    }
    case EX_CAST:
        ev(X, r, e->arg[0], &a);
        {
            ev_cast(X, e, &a, out);
            return;
        }
    case EX_FN: {
        ev_fn(X, r, e, out);
        return;
    }
    }
    set_null(e, out);
}

/* ---- rows ------------------------------------------------------------------------------------ */

static struct esql_cell *cells_new(kx_arena *a, uint32_t n)
{
    return kx_arena_alloc(a, (n ? n : 1) * sizeof(struct esql_cell));
}

static bool copy_cell(kx_arena *a, struct esql_cell *dst, const struct esql_cell *src)
{
    *dst = *src;
    if (!src->n)
        return true;
    struct esql_sv *v = esql_sv_new(a, src->n);
    if (!v)
        return false;
    memcpy(v, src->v, src->n * sizeof *v);
    if (esql_is_string(src->type))
        for (uint32_t i = 0; i < src->n; i++) {
            v[i].u.s.p = kx_arena_memdup(a, src->v[i].u.s.p, src->v[i].u.s.n + 1);
            if (!v[i].u.s.p)
                return false;
        }
    dst->v = v;
    return true;
}

/* Deep copy into arena a, every source cell loaded. */
static bool keep_row(struct ectx *X, kx_arena *a, struct row *r, struct row *dst)
{
    dst->doc = NULL;
    dst->tag = r->doc ? r->doc->tag : r->tag;
    dst->n = r->n;
    dst->c = cells_new(a, r->n);
    if (!dst->c)
        return false;
    for (uint32_t i = 0; i < r->n; i++)
        if (!copy_cell(a, &dst->c[i], cell_at(X, r, i)))
            return false;
    X->run->kept++;
    return true;
}

static int limit_fail(struct esql_run *R, const char *what)
{
    if (R->status == KAD_OK) {
        R->status = KAD_ELIMIT;
        kx_err_setf(R->err, KAD_ELIMIT, "ES|QL: %s", what);
    }
    return R->status;
}

static void fold(struct ectx *X, uint32_t ci, struct row *r);
static void push(struct ectx *X, uint32_t ci, struct row *r);
static void sort_compact(struct ectx *X, uint32_t ci, size_t k);

/* A SORT directly followed by LIMIT k keeps only its k first rows: k, else -1. */
static int64_t sort_topk(const struct esql_prog *p, uint32_t ci)
{
    return ci + 1 < p->ncmd && p->cmd[ci + 1].kind == C_LIMIT ? p->cmd[ci + 1].limit : -1;
}

static const struct layout *in_layout(const struct esql_prog *p, uint32_t ci)
{
    return ci ? &p->cmd[ci - 1].out : &p->from;
}

static void push(struct ectx *X, uint32_t ci, struct row *r)
{
    struct esql_run *R = X->run;
    const struct esql_prog *p = R->p;
    if (R->status)
        return;
    if (ci == p->ncmd) {
        if (!p->has_limit && R->out.len >= ESQL_DEFAULT_LIMIT) {
            R->out_dropped++;
            return;
        }
        if (R->out.len >= ESQL_MAX_ROWS) {
            limit_fail(R, "more than 1000000 result rows");
            return;
        }
        struct row k;
        if (!keep_row(X, &R->arena, r, &k)) {
            limit_fail(R, "out of memory for result rows");
            return;
        }
        KX_VEC_PUSH(&R->out, k);
        return;
    }
    const struct esql_cmd *c = &p->cmd[ci];
    if (R->fan && (c->kind == C_STATS || c->kind == C_SORT)) {
        /* fan out: the same row into every run of esql_run_feed_many, each with its NOW() */
        struct esql_run *const *fan = R->fan;
        size_t nfan = R->nfan;
        R->fan = NULL;
        for (size_t k = 0; k < nfan; k++) {
            struct ectx Y = {X->a, fan[k], X->doc, fan[k]->now};
            fan[k]->err = R->err;
            push(&Y, ci, r);
        }
        R->fan = fan;
        return;
    }
    struct cstate *cs = &R->cs[ci];
    struct esql_cell v;
    switch (c->kind) {
    case C_WHERE:
        ev(X, r, c->e, &v);
        if (truth(X, c->e, &v) == 1)
            push(X, ci + 1, r);
        return;
    case C_EVAL: {
        struct esql_cell *cc = cells_new(X->a, r->n + c->nf);
        if (!cc) {
            (void)limit_fail(R, "out of memory");
            return;
        }
        memcpy(cc, r->c, r->n * sizeof *cc);
        struct row t = {r->doc, cc, r->n, r->tag};
        for (uint32_t k = 0; k < c->nf; k++) {
            ev(X, &t, c->f[k].e, &v);
            v.type = c->f[k].e->type;
            if (c->f[k].drop >= 0) {
                memmove(&cc[c->f[k].drop], &cc[c->f[k].drop + 1],
                        (t.n - (uint32_t)c->f[k].drop - 1) * sizeof *cc);
                t.n--;
            }
            cc[t.n++] = v;
        }
        push(X, ci + 1, &t);
        return;
    }
    case C_STATS: fold(X, ci, r); return;
    case C_KEEP:
    case C_DROP:
    case C_RENAME: {
        struct esql_cell *cc = cells_new(X->a, c->out.n);
        if (!cc) {
            (void)limit_fail(R, "out of memory");
            return;
        }
        for (uint32_t k = 0; k < c->out.n; k++)
            cc[k] = r->c[c->map[k]];
        struct row t = {r->doc, cc, c->out.n, r->tag};
        push(X, ci + 1, &t);
        return;
    }
    case C_SORT: {
        if (cs->rows.len >= ESQL_MAX_ROWS) {
            (void)limit_fail(R, "more than 1000000 rows to sort");
            return;
        }
        int64_t k = sort_topk(p, ci);
        if (k >= 0 && !cs->ar) {
            cs->ar = kx_calloc(1, sizeof *cs->ar);
            kx_arena_init(cs->ar, 16 << 10, 0);
        }
        struct row kr;
        if (!keep_row(X, cs->ar ? cs->ar : &R->arena, r, &kr)) {
            (void)limit_fail(R, "out of memory for sorted rows");
            return;
        }
        KX_VEC_PUSH(&cs->rows, kr);
        if (k >= 0 && cs->rows.len >= 2 * (size_t)k + 64)
            sort_compact(X, ci, (size_t)k);
        return;
    }
    case C_LIMIT:
        if (cs->seen >= c->limit)
            return;
        cs->seen++;
        push(X, ci + 1, r);
        return;
    case C_GROK:
    case C_DISSECT: {
        uint32_t no = c->kind == C_GROK ? c->grok->nout : c->dis->nout;
        struct esql_cell *o = cells_new(X->a, no);
        struct esql_cell *cc = cells_new(X->a, r->n + no);
        if (!o || !cc) {
            (void)limit_fail(R, "out of memory");
            return;
        }
        for (uint32_t k = 0; k < no; k++)
            o[k] =
                (struct esql_cell){c->kind == C_GROK ? c->grok->otype[k] : ESQL_KEYWORD, 0, NULL};
        ev(X, r, c->e, &v);
        for (uint32_t i = 0; i < v.n; i++) {
            if (c->kind == C_GROK) {
                bool m;
                esql_grok_match(X, c->grok, v.v[i].u.s.p, v.v[i].u.s.n, o, &m);
            } else if (v.n == 1) {
                esql_dissect_match(X, c->dis, v.v[i].u.s.p, v.v[i].u.s.n, o);
            } else {
                single(X, c->e, &v);
            }
        }
        memcpy(cc, r->c, r->n * sizeof *cc);
        uint32_t n = r->n;
        for (uint32_t k = 0; k < no; k++) {
            if (c->drops[k] >= 0) {
                memmove(&cc[c->drops[k]], &cc[c->drops[k] + 1],
                        (n - (uint32_t)c->drops[k] - 1) * sizeof *cc);
                n--;
            }
            cc[n++] = o[k];
        }
        struct row t = {r->doc, cc, n, r->tag};
        push(X, ci + 1, &t);
        return;
    }
    case C_MVEXPAND: {
        const struct esql_cell *m = cell_at(X, r, (uint32_t)c->mvcol);
        if (m->n <= 1) {
            push(X, ci + 1, r);
            return;
        }
        struct esql_cell mc = *m;
        for (uint32_t i = 0; i < mc.n && !R->status; i++) {
            struct esql_cell *cc = cells_new(X->a, r->n);
            if (!cc) {
                (void)limit_fail(R, "out of memory");
                return;
            }
            memcpy(cc, r->c, r->n * sizeof *cc);
            cc[c->mvcol] = (struct esql_cell){mc.type, 1, &mc.v[i]};
            struct row t = {r->doc, cc, r->n, r->tag};
            push(X, ci + 1, &t);
        }
        return;
    }
    }
}

/* ---- STATS ------------------------------------------------------------------------------------
 */

static int agg_type(const struct esql_expr *e) { return e->narg ? e->arg[0]->type : ESQL_NULL; }

/* Bytes of one value as a set/map key. */
static void sv_key(int type, const struct esql_sv *v, kx_buf *b)
{
    if (esql_is_string(type))
        kx_buf_add(b, v->u.s.p, v->u.s.n);
    else if (type == ESQL_IP)
        kx_buf_add(b, v->u.ip, 16);
    else
        kx_buf_add(b, &v->u, 8);
}

static void sv_from_key(int type, const char *k, size_t n, struct esql_sv *v)
{
    memset(v, 0, sizeof *v);
    if (esql_is_string(type)) {
        v->u.s.p = k;
        v->u.s.n = n;
    } else if (type == ESQL_IP) {
        memcpy(v->u.ip, k, 16);
    } else {
        memcpy(&v->u, k, 8);
    }
}

static bool agg_set_add(struct ectx *X, struct agg *g, int type, const struct esql_sv *v)
{
    if (!g->set) {
        g->set = kx_malloc(sizeof *g->set);
        kx_map_init(g->set);
    }
    kx_buf b;
    kx_buf_init(&b, 0);
    sv_key(type, v, &b);
    bool found;
    kx_map_get(g->set, b.ptr ? b.ptr : "", b.len, &found);
    if (!found) {
        if (g->nset >= ESQL_MAX_DISTINCT) {
            esql_warn(X, "more than %d distinct values in an aggregate: the rest ignored",
                      ESQL_MAX_DISTINCT);
        } else {
            kx_map_put(g->set, b.ptr ? b.ptr : "", b.len, NULL);
            g->nset++;
        }
    }
    kx_buf_fini(&b);
    return true;
}

static void agg_update(struct ectx *X, const struct esql_expr *e, struct agg *g,
                       const struct esql_cell *a)
{
    struct esql_run *R = X->run;
    int t = agg_type(e);
    switch (e->op) {
    case A_COUNT: g->cnt += e->star || !e->narg ? 1 : a->n; return;
    case A_COUNT_DISTINCT:
    case A_VALUES:
        for (uint32_t i = 0; i < a->n; i++)
            agg_set_add(X, g, t, &a->v[i]);
        return;
    case A_MIN:
    case A_MAX:
        for (uint32_t i = 0; i < a->n; i++) {
            int c = g->has ? esql_sv_cmp(t, &a->v[i], &g->best) : 0;
            if (!g->has || (e->op == A_MIN ? c < 0 : c > 0)) {
                g->best = a->v[i];
                if (esql_is_string(t)) {
                    g->best.u.s.p = kx_arena_memdup(&R->arena, a->v[i].u.s.p, a->v[i].u.s.n + 1);
                    if (!g->best.u.s.p) {
                        limit_fail(R, "out of memory");
                        return;
                    }
                }
                g->has = true;
            }
        }
        return;
    case A_SUM:
    case A_AVG:
        for (uint32_t i = 0; i < a->n; i++) {
            g->cnt++;
            if (t == ESQL_DOUBLE || e->op == A_AVG)
                g->dsum += t == ESQL_DOUBLE ? a->v[i].u.d : (double)a->v[i].u.i;
            else if (__builtin_add_overflow(g->isum, a->v[i].u.i, &g->isum))
                g->ovf = true;
        }
        return;
    }
}

static struct group *group_get(struct ectx *X, uint32_t ci, const struct esql_cell *key)
{
    struct esql_run *R = X->run;
    const struct esql_cmd *c = &R->p->cmd[ci];
    struct cstate *cs = &R->cs[ci];
    kx_buf b;
    kx_buf_init(&b, 0);
    for (uint32_t k = 0; k < c->nby; k++) {
        uint8_t hdr[2] = {key[k].type, (uint8_t)key[k].n};
        kx_buf_add(&b, hdr, 2);
        if (key[k].n) {
            kx_buf b2;
            kx_buf_init(&b2, 0);
            sv_key(key[k].type, &key[k].v[0], &b2);
            uint32_t l = (uint32_t)b2.len;
            kx_buf_add(&b, &l, 4);
            kx_buf_add(&b, b2.ptr ? b2.ptr : "", b2.len);
            kx_buf_fini(&b2);
        }
    }
    if (!cs->idx) {
        cs->idx = kx_malloc(sizeof *cs->idx);
        kx_map_init(cs->idx);
    }
    struct group *g = kx_map_get(cs->idx, b.ptr ? b.ptr : "", b.len, NULL);
    if (!g) {
        if (cs->grp.len >= ESQL_MAX_GROUPS) {
            esql_warn(X, "more than %d STATS groups: the rest dropped", ESQL_MAX_GROUPS);
            kx_buf_fini(&b);
            return NULL;
        }
        g = kx_arena_zalloc(&R->arena, sizeof *g);
        if (g) {
            g->key = cells_new(&R->arena, c->nby);
            g->agg = kx_arena_zalloc(&R->arena, (c->nf + 1) * sizeof *g->agg);
        }
        bool ok = g && g->key && g->agg;
        for (uint32_t k = 0; ok && k < c->nby; k++)
            ok = copy_cell(&R->arena, &g->key[k], &key[k]);
        if (!ok) {
            limit_fail(R, "out of memory for STATS groups");
            kx_buf_fini(&b);
            return NULL;
        }
        kx_map_put(cs->idx, b.ptr ? b.ptr : "", b.len, g);
        KX_VEC_PUSH(&cs->grp, g);
    }
    kx_buf_fini(&b);
    return g;
}

static void fold(struct ectx *X, uint32_t ci, struct row *r)
{
    struct esql_run *R = X->run;
    const struct esql_cmd *c = &R->p->cmd[ci];
    R->cs[ci].any = true;
    struct esql_cell *key = cells_new(X->a, c->nby + 1);
    struct esql_cell *arg = cells_new(X->a, c->nf + 1);
    bool *use = kx_arena_alloc(X->a, c->nf + 1);
    if (!key || !arg || !use) {
        (void)limit_fail(R, "out of memory");
        return;
    }
    for (uint32_t k = 0; k < c->nby; k++)
        ev(X, r, c->by[k].e, &key[k]);
    for (uint32_t k = 0; k < c->nf; k++) {
        const struct named *f = &c->f[k];
        use[k] = true;
        if (f->filter) {
            struct esql_cell fv;
            ev(X, r, f->filter, &fv);
            use[k] = truth(X, f->filter, &fv) == 1;
        }
        arg[k] = (struct esql_cell){0, 0, NULL};
        if (use[k] && f->e->narg && !f->e->star)
            ev(X, r, f->e->arg[0], &arg[k]);
    }
    /* every combination of key values (a null key is one group) */
    uint64_t combos = 1;
    for (uint32_t k = 0; k < c->nby; k++)
        combos *= key[k].n ? key[k].n : 1;
    if (combos > 100000) {
        esql_warn(X, "a row falls in %llu STATS groups: ignored", (unsigned long long)combos);
        return;
    }
    struct esql_cell *one = cells_new(X->a, c->nby + 1);
    if (!one) {
        (void)limit_fail(R, "out of memory");
        return;
    }
    for (uint64_t m = 0; m < combos; m++) {
        uint64_t q = m;
        for (uint32_t k = 0; k < c->nby; k++) {
            uint32_t n = key[k].n ? key[k].n : 1;
            one[k] = (struct esql_cell){key[k].type, key[k].n ? 1 : 0,
                                        key[k].n ? &key[k].v[q % n] : NULL};
            q /= n;
        }
        struct group *g = group_get(X, ci, one);
        if (!g)
            return;
        for (uint32_t k = 0; k < c->nf; k++)
            if (use[k])
                agg_update(X, c->f[k].e, &g->agg[k], &arg[k]);
    }
}

static void agg_result(struct ectx *X, const struct esql_expr *e, const struct agg *g,
                       struct esql_cell *out)
{
    *out = (struct esql_cell){e->type, 0, NULL};
    struct esql_sv *v = NULL;
    int t = agg_type(e);
    switch (e->op) {
    case A_COUNT:
    case A_COUNT_DISTINCT:
        v = esql_sv_new(X->a, 1);
        if (v)
            v->u.i = e->op == A_COUNT ? g->cnt : (int64_t)g->nset;
        break;
    case A_VALUES: {
        if (!g->nset)
            return;
        v = esql_sv_new(X->a, g->nset);
        uint32_t m = 0;
        size_t it = 0;
        const char *k;
        size_t kl;
        void *val;
        while (v && kx_map_next(g->set, &it, &k, &kl, &val))
            sv_from_key(t, k, kl, &v[m++]);
        if (!v)
            return;
        esql_cell_sort(t, v, m, false, &m);
        *out = (struct esql_cell){e->type, m, v};
        return;
    }
    case A_MIN:
    case A_MAX:
        if (!g->has)
            return;
        v = esql_sv_new(X->a, 1);
        if (v)
            *v = g->best;
        break;
    case A_SUM:
        if (!g->cnt)
            return;
        if (g->ovf) {
            esql_warn(X, "long overflow in SUM");
            return;
        }
        v = esql_sv_new(X->a, 1);
        if (v) {
            if (e->type == ESQL_DOUBLE)
                v->u.d = g->dsum;
            else
                v->u.i = g->isum;
        }
        break;
    case A_AVG:
        if (!g->cnt)
            return;
        v = esql_sv_new(X->a, 1);
        if (v)
            v->u.d = g->dsum / (double)g->cnt;
        break;
    }
    if (v)
        *out = (struct esql_cell){e->type, 1, v};
}

static void stats_flush(struct ectx *X, uint32_t ci)
{
    struct esql_run *R = X->run;
    const struct esql_cmd *c = &R->p->cmd[ci];
    struct cstate *cs = &R->cs[ci];
    struct agg empty;
    memset(&empty, 0, sizeof empty);
    size_t ng = cs->grp.len;
    bool synth = ng == 0 && c->nby == 0; /* no BY and no rows: one row */
    for (size_t gi = 0; gi < (synth ? 1 : ng) && !R->status; gi++) {
        const struct group *g = synth ? NULL : cs->grp.ptr[gi];
        struct esql_cell *cc = cells_new(X->a, c->out.n);
        if (!cc) {
            (void)limit_fail(R, "out of memory");
            return;
        }
        uint32_t n = 0;
        for (uint32_t k = 0; k < c->nf; k++)
            if (!c->f[k].skip)
                agg_result(X, c->f[k].e, g ? &g->agg[k] : &empty, &cc[n++]);
        for (uint32_t k = 0; k < c->nby; k++)
            cc[n++] = g->key[k];
        struct row t = {NULL, cc, n, 0};
        push(X, ci + 1, &t);
    }
}

/* ---- SORT ----------------------------------------------------------------------------------- */

struct sortctx {
    struct ectx *X;
    const struct esql_cmd *c;
    struct esql_cell *keys; /* nrows x nsk */
};

static int key_cmp(const struct sortkey *k, const struct esql_cell *a, const struct esql_cell *b)
{
    if (!a->n || !b->n) {
        if (!a->n && !b->n)
            return 0;
        int c = !a->n ? 1 : -1; /* null after everything */
        return k->nulls_first ? -c : c;
    }
    /* multi-values: lowest ascending, highest descending */
    const struct esql_sv *x = &a->v[0], *y = &b->v[0];
    for (uint32_t i = 1; i < a->n; i++)
        if ((esql_sv_cmp(a->type, &a->v[i], x) < 0) != k->desc)
            x = &a->v[i];
    for (uint32_t i = 1; i < b->n; i++)
        if ((esql_sv_cmp(b->type, &b->v[i], y) < 0) != k->desc)
            y = &b->v[i];
    int c = cmp_vals(a->type, x, b->type, y);
    return k->desc ? -c : c;
}

/* The kept rows' order (stable), allocated from X->a; NULL on failure (status set). */
static size_t *sort_order(struct ectx *X, uint32_t ci)
{
    struct esql_run *R = X->run;
    const struct esql_cmd *c = &R->p->cmd[ci];
    struct cstate *cs = &R->cs[ci];
    size_t n = cs->rows.len;
    struct esql_cell *keys = n ? kx_arena_alloc(X->a, n * c->nsk * sizeof *keys) : NULL;
    size_t *ord = kx_arena_alloc(X->a, (n ? n : 1) * sizeof *ord);
    size_t *tmp = n ? kx_arena_alloc(X->a, n * sizeof *tmp) : NULL;
    if (!ord || (n && (!keys || !tmp))) {
        (void)limit_fail(R, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        ord[i] = i;
        for (uint32_t k = 0; k < c->nsk; k++)
            ev(X, &cs->rows.ptr[i], c->sk[k].e, &keys[i * c->nsk + k]);
    }
    /* stable merge sort of the row order */
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                int cmp = 0;
                for (uint32_t k = 0; k < c->nsk && !cmp; k++)
                    cmp =
                        key_cmp(&c->sk[k], &keys[ord[i] * c->nsk + k], &keys[ord[j] * c->nsk + k]);
                tmp[o++] = cmp <= 0 ? ord[i++] : ord[j++];
            }
            while (i < mid)
                tmp[o++] = ord[i++];
            while (j < hi)
                tmp[o++] = ord[j++];
        }
        memcpy(ord, tmp, n * sizeof *ord);
    }
    return ord;
}

static void sort_flush(struct ectx *X, uint32_t ci)
{
    struct esql_run *R = X->run;
    struct cstate *cs = &R->cs[ci];
    size_t *ord = sort_order(X, ci);
    for (size_t i = 0; ord && i < cs->rows.len && !R->status; i++)
        push(X, ci + 1, &cs->rows.ptr[ord[i]]);
}

/* SORT + LIMIT k: keep the k first rows in sort order (ties in arrival order, as the stable
   full sort), copied into a fresh arena, so a run keeps at most 2k + 64 rows there. */
static void sort_compact(struct ectx *X, uint32_t ci, size_t k)
{
    struct esql_run *R = X->run;
    struct cstate *cs = &R->cs[ci];
    size_t *ord = sort_order(X, ci);
    if (!ord)
        return;
    size_t n = cs->rows.len < k ? cs->rows.len : k;
    kx_arena *na = kx_calloc(1, sizeof *na);
    kx_arena_init(na, 16 << 10, 0);
    struct row *nr = kx_malloc((n ? n : 1) * sizeof *nr);
    for (size_t i = 0; i < n; i++) {
        const struct row *o = &cs->rows.ptr[ord[i]];
        nr[i] = (struct row){NULL, cells_new(na, o->n), o->n, o->tag};
        for (uint32_t j = 0; nr[i].c && j < o->n; j++)
            if (!copy_cell(na, &nr[i].c[j], &o->c[j]))
                nr[i].c = NULL;
        if (!nr[i].c) {
            (void)limit_fail(R, "out of memory for sorted rows");
            break;
        }
    }
    if (!R->status) {
        memcpy(cs->rows.ptr, nr, n * sizeof *nr);
        cs->rows.len = n;
        if (cs->ar) {
            kx_arena_fini(cs->ar);
            kx_free(cs->ar);
        }
        cs->ar = na;
    } else {
        kx_arena_fini(na);
        kx_free(na);
    }
    kx_free(nr);
}

/* ---- runs --------------------------------------------------------------------------------------
 */

struct esql_run *esql_run_new(const struct esql_prog *p, int64_t now_ms)
{
    struct esql_run *R = kx_calloc(1, sizeof *R);
    R->p = p;
    R->now = now_ms;
    kx_arena_init(&R->arena, 64 << 10, 0);
    kx_arena_init(&R->scratch, 16 << 10, 256u << 20);
    R->cs = kx_calloc(p->ncmd + 1, sizeof *R->cs);
    return R;
}

void esql_run_set_now(struct esql_run *R, int64_t now_ms) { R->now = now_ms; }

int esql_run_feed(struct esql_run *R, const struct esql_doc *d, kad_err *err)
{
    if (R->finished)
        return kx_err_setf(err, KAD_EINVAL, "ES|QL: run already finished");
    R->err = err;
    kx_arena_reset(&R->scratch);
    struct ectx X = {&R->scratch, R, d, R->now};
    const struct layout *L = &R->p->from;
    struct row r = {d, cells_new(&R->scratch, L->n), L->n, d->tag};
    if (!r.c)
        return limit_fail(R, "out of memory");
    for (uint32_t i = 0; i < L->n; i++)
        r.c[i] = (struct esql_cell){ESQL_UNLOADED, i, NULL};
    push(&X, 0, &r);
    int st = R->status;
    R->err = NULL;
    return st;
}

int esql_run_feed_many(struct esql_run *const *runs, size_t n, const struct esql_doc *d,
                       kad_err *err)
{
    if (n == 0)
        return KAD_OK;
    const struct esql_prog *p = runs[0]->p;
    bool shared = n > 1;
    for (uint32_t ci = 0; ci < p->ncmd && shared; ci++) {
        if (p->cmd[ci].kind == C_STATS || p->cmd[ci].kind == C_SORT)
            break;
        if (p->cmd[ci].kind == C_LIMIT || p->now_cmd <= ci)
            shared = false;
    }
    for (size_t k = 0; k < n && shared; k++)
        if (runs[k]->p != p || runs[k]->finished || runs[k]->status)
            shared = false;
    if (!shared) {
        int first = KAD_OK;
        for (size_t k = 0; k < n; k++) {
            int rc = esql_run_feed(runs[k], d, err);
            if (rc != KAD_OK && first == KAD_OK)
                first = rc;
        }
        return first;
    }
    struct esql_run *R = runs[0];
    R->fan = runs;
    R->nfan = n;
    int rc = esql_run_feed(R, d, err);
    R->fan = NULL;
    R->nfan = 0;
    for (size_t k = 1; k < n; k++) {
        runs[k]->err = NULL;
        if (runs[k]->status && rc == KAD_OK)
            rc = runs[k]->status;
    }
    return rc;
}

int esql_run_finish(struct esql_run *R, struct esql_result *res, kad_err *err)
{
    memset(res, 0, sizeof *res);
    if (R->finished)
        return kx_err_setf(err, KAD_EINVAL, "ES|QL: run already finished");
    R->finished = true;
    R->err = err;
    struct ectx X = {&R->arena, R, NULL, R->now};
    const struct esql_prog *p = R->p;
    for (uint32_t ci = 0; ci < p->ncmd && !R->status; ci++) {
        if (p->cmd[ci].kind == C_STATS)
            stats_flush(&X, ci);
        else if (p->cmd[ci].kind == C_SORT)
            sort_flush(&X, ci);
    }
    if (R->status)
        return R->status;
    const struct layout *L = in_layout(p, p->ncmd);
    struct esql_colinfo *cols = kx_arena_alloc(&R->arena, (L->n + 1) * sizeof *cols);
    const struct esql_cell **rows = kx_arena_alloc(&R->arena, (R->out.len + 1) * sizeof *rows);
    uint64_t *tags = kx_arena_alloc(&R->arena, (R->out.len + 1) * sizeof *tags);
    if (!cols || !rows || !tags)
        return limit_fail(R, "out of memory");
    for (uint32_t i = 0; i < L->n; i++)
        cols[i] = (struct esql_colinfo){L->c[i].name, L->c[i].type};
    for (size_t i = 0; i < R->out.len; i++) {
        rows[i] = R->out.ptr[i].c;
        tags[i] = R->out.ptr[i].tag;
    }
    res->tags = tags;
    res->ncols = L->n;
    res->cols = cols;
    res->nrows = R->out.len;
    res->rows = rows;
    if (R->out_dropped)
        esql_warn(&X, "no LIMIT: the result was cut to %d rows", ESQL_DEFAULT_LIMIT);
    res->warnings = R->warnings;
    res->first_warning = R->warnings ? R->first_warning : NULL;
    return KAD_OK;
}

void esql_run_free(struct esql_run *R)
{
    if (!R)
        return;
    for (uint32_t ci = 0; ci < R->p->ncmd; ci++) {
        struct cstate *cs = &R->cs[ci];
        KX_VEC_FREE(&cs->rows);
        if (cs->ar) {
            kx_arena_fini(cs->ar);
            kx_free(cs->ar);
        }
        for (size_t g = 0; g < cs->grp.len; g++)
            for (uint32_t k = 0; k < R->p->cmd[ci].nf; k++)
                if (cs->grp.ptr[g]->agg[k].set) {
                    kx_map_fini(cs->grp.ptr[g]->agg[k].set);
                    kx_free(cs->grp.ptr[g]->agg[k].set);
                }
        KX_VEC_FREE(&cs->grp);
        if (cs->idx) {
            kx_map_fini(cs->idx);
            kx_free(cs->idx);
        }
    }
    KX_VEC_FREE(&R->out);
    kx_free(R->cs);
    kx_arena_fini(&R->arena);
    kx_arena_fini(&R->scratch);
    kx_free(R);
}

uint64_t esql_run_kept(const struct esql_run *R) { return R->kept; }

void esql_run_tags(const struct esql_run *R, void (*fn)(void *ctx, uint64_t tag), void *ctx)
{
    for (size_t i = 0; i < R->out.len; i++)
        fn(ctx, R->out.ptr[i].tag);
    for (uint32_t ci = 0; ci < R->p->ncmd; ci++)
        for (size_t i = 0; i < R->cs[ci].rows.len; i++)
            fn(ctx, R->cs[ci].rows.ptr[i].tag);
}

bool esql_sorts_or_limits(const struct esql_prog *p)
{
    for (uint32_t ci = 0; ci < p->ncmd; ci++)
        if (p->cmd[ci].kind == C_SORT || p->cmd[ci].kind == C_LIMIT)
            return true;
    return false;
}

/* ---- save / restore ----------------------------------------------------------------------- */

#define SAVE_MAGIC "KESQL2" /* KESQL1: the same without row tags */

static void w_u32(kx_buf *b, uint32_t v) { kx_buf_add(b, &v, 4); }
static void w_u64(kx_buf *b, uint64_t v) { kx_buf_add(b, &v, 8); }
static void w_sv(kx_buf *b, int type, const struct esql_sv *v)
{
    if (esql_is_string(type)) {
        w_u32(b, (uint32_t)v->u.s.n);
        kx_buf_add(b, v->u.s.p, v->u.s.n);
    } else if (type == ESQL_IP) {
        kx_buf_add(b, v->u.ip, 16);
    } else {
        kx_buf_add(b, &v->u, 8);
    }
}
static void w_cell(kx_buf *b, const struct esql_cell *c)
{
    kx_buf_addc(b, (char)c->type);
    w_u32(b, c->n);
    for (uint32_t i = 0; i < c->n; i++)
        w_sv(b, c->type, &c->v[i]);
}
static void w_rows(kx_buf *b, const struct row *r, size_t n)
{
    w_u64(b, n);
    for (size_t i = 0; i < n; i++) {
        w_u32(b, r[i].n);
        w_u64(b, r[i].tag);
        for (uint32_t k = 0; k < r[i].n; k++)
            w_cell(b, &r[i].c[k]);
    }
}

int esql_run_save(const struct esql_run *R, kx_buf *out)
{
    const struct esql_prog *p = R->p;
    kx_buf_add(out, SAVE_MAGIC, 6);
    w_u64(out, kx_hash64(p->src, p->len, 0));
    w_u64(out, R->warnings);
    w_u64(out, R->out_dropped);
    w_rows(out, R->out.ptr, R->out.len);
    for (uint32_t ci = 0; ci < p->ncmd; ci++) {
        const struct cstate *cs = &R->cs[ci];
        const struct esql_cmd *c = &p->cmd[ci];
        w_u64(out, (uint64_t)cs->seen);
        w_rows(out, cs->rows.ptr, cs->rows.len);
        kx_buf_addc(out, (char)cs->any);
        w_u64(out, cs->grp.len);
        for (size_t g = 0; g < cs->grp.len; g++) {
            const struct group *gr = cs->grp.ptr[g];
            for (uint32_t k = 0; k < c->nby; k++)
                w_cell(out, &gr->key[k]);
            for (uint32_t k = 0; k < c->nf; k++) {
                const struct agg *a = &gr->agg[k];
                int t = agg_type(c->f[k].e);
                w_u64(out, (uint64_t)a->cnt);
                w_u64(out, (uint64_t)a->isum);
                kx_buf_add(out, &a->dsum, 8);
                kx_buf_addc(out, (char)(a->ovf | a->has << 1));
                if (a->has)
                    w_sv(out, t, &a->best);
                w_u32(out, a->nset);
                size_t it = 0;
                const char *key;
                size_t kl;
                void *val;
                while (a->set && kx_map_next(a->set, &it, &key, &kl, &val)) {
                    w_u32(out, (uint32_t)kl);
                    kx_buf_add(out, key, kl);
                }
            }
        }
    }
    return out->len && !kx_buf_reserve(out, 0) ? KAD_OK : KAD_ELIMIT;
}

struct rd {
    const uint8_t *p;
    size_t n, i;
    bool bad;
};
static bool r_bytes(struct rd *d, void *dst, size_t n)
{
    if (d->bad || d->n - d->i < n) {
        d->bad = true;
        return false;
    }
    memcpy(dst, d->p + d->i, n);
    d->i += n;
    return true;
}
static uint32_t r_u32(struct rd *d)
{
    uint32_t v = 0;
    r_bytes(d, &v, 4);
    return v;
}
static uint64_t r_u64(struct rd *d)
{
    uint64_t v = 0;
    r_bytes(d, &v, 8);
    return v;
}
static bool r_sv(struct rd *d, kx_arena *a, int type, struct esql_sv *v)
{
    memset(v, 0, sizeof *v);
    if (esql_is_string(type)) {
        uint32_t l = r_u32(d);
        if (d->bad || d->n - d->i < l)
            return !(d->bad = true);
        v->u.s.p = kx_arena_strndup(a, (const char *)d->p + d->i, l);
        v->u.s.n = l;
        d->i += l;
        return v->u.s.p != NULL || !(d->bad = true);
    }
    if (type == ESQL_IP)
        return r_bytes(d, v->u.ip, 16);
    return r_bytes(d, &v->u, 8);
}
static bool r_cell(struct rd *d, kx_arena *a, struct esql_cell *c)
{
    uint8_t t = 0;
    r_bytes(d, &t, 1);
    uint32_t n = r_u32(d);
    if (d->bad || t >= ESQL_NTYPES || n > ESQL_MAX_MV || n > d->n - d->i)
        return !(d->bad = true);
    struct esql_sv *v = n ? esql_sv_new(a, n) : NULL;
    if (n && !v)
        return !(d->bad = true);
    for (uint32_t i = 0; i < n; i++)
        if (!r_sv(d, a, t, &v[i]))
            return false;
    *c = (struct esql_cell){t, n, v};
    return true;
}
static bool r_rows(struct rd *d, kx_arena *a, void *vecp, uint32_t want, bool tags)
{
    KX_VEC(struct row) *v = vecp;
    uint64_t n = r_u64(d);
    if (n > ESQL_MAX_ROWS || n > d->n - d->i)
        return !(d->bad = true);
    for (uint64_t i = 0; i < n && !d->bad; i++) {
        uint32_t nc = r_u32(d);
        if (nc != want || nc > d->n - d->i)
            return !(d->bad = true);
        struct row r = {NULL, cells_new(a, nc), nc, tags ? r_u64(d) : 0};
        if (!r.c || d->bad)
            return !(d->bad = true);
        for (uint32_t k = 0; k < nc; k++)
            if (!r_cell(d, a, &r.c[k]))
                return false;
        KX_VEC_PUSH(v, r);
    }
    return !d->bad;
}

int esql_run_restore(struct esql_run *R, const void *buf, size_t n, kad_err *err)
{
    const struct esql_prog *p = R->p;
    struct rd d = {buf, n, 0, false};
    char magic[6];
    bool ok = !R->finished && !R->out.len && r_bytes(&d, magic, 6);
    bool tags = ok && memcmp(magic, SAVE_MAGIC, 6) == 0;
    if (!ok || (!tags && memcmp(magic, "KESQL1", 6) != 0))
        return kx_err_setf(err, KAD_EINVAL, "ES|QL state: not a fresh run or not a saved state");
    if (r_u64(&d) != kx_hash64(p->src, p->len, 0))
        return kx_err_setf(err, KAD_EINVAL, "ES|QL state: saved by another query");
    struct ectx X = {&R->arena, R, NULL, R->now};
    R->warnings = r_u64(&d);
    R->out_dropped = r_u64(&d);
    r_rows(&d, &R->arena, &R->out, in_layout(p, p->ncmd)->n, tags);
    for (uint32_t ci = 0; ci < p->ncmd && !d.bad; ci++) {
        struct cstate *cs = &R->cs[ci];
        const struct esql_cmd *c = &p->cmd[ci];
        cs->seen = (int64_t)r_u64(&d);
        r_rows(&d, &R->arena, &cs->rows, in_layout(p, ci)->n, tags);
        uint8_t any = 0;
        r_bytes(&d, &any, 1);
        cs->any = any;
        uint64_t ng = r_u64(&d);
        if (ng > ESQL_MAX_GROUPS || (ng && c->kind != C_STATS))
            d.bad = true;
        for (uint64_t g = 0; g < ng && !d.bad; g++) {
            struct esql_cell *key = cells_new(&R->arena, c->nby);
            for (uint32_t k = 0; key && k < c->nby; k++)
                r_cell(&d, &R->arena, &key[k]);
            if (!key || d.bad)
                break;
            struct group *gr = group_get(&X, ci, key);
            if (!gr) {
                d.bad = true;
                break;
            }
            for (uint32_t k = 0; k < c->nf && !d.bad; k++) {
                struct agg *a = &gr->agg[k];
                int t = agg_type(c->f[k].e);
                a->cnt = (int64_t)r_u64(&d);
                a->isum = (int64_t)r_u64(&d);
                r_bytes(&d, &a->dsum, 8);
                uint8_t fl = 0;
                r_bytes(&d, &fl, 1);
                a->ovf = fl & 1;
                a->has = (fl >> 1) & 1;
                if (a->has)
                    r_sv(&d, &R->arena, t, &a->best);
                uint32_t ns = r_u32(&d);
                if (ns > ESQL_MAX_DISTINCT)
                    d.bad = true;
                for (uint32_t s = 0; s < ns && !d.bad; s++) {
                    uint32_t l = r_u32(&d);
                    if (d.bad || l > d.n - d.i) {
                        d.bad = true;
                        break;
                    }
                    struct esql_sv v;
                    sv_from_key(t, (const char *)d.p + d.i, l, &v);
                    if (!esql_is_string(t) && l != (t == ESQL_IP ? 16u : 8u)) {
                        d.bad = true;
                        break;
                    }
                    agg_set_add(&X, a, t, &v);
                    d.i += l;
                }
            }
        }
    }
    if (d.bad || d.i != d.n || R->status)
        return kx_err_setf(err, KAD_EINVAL, "ES|QL state: truncated or corrupt at byte %zu", d.i);
    return KAD_OK;
}

/* ---- output ------------------------------------------------------------------------------------
 */

static void json_sv(kx_jsonw *w, int type, const struct esql_sv *v, kx_buf *tmp)
{
    switch (type) {
    case ESQL_BOOL: kx_jsonw_bool(w, v->u.i != 0); return;
    case ESQL_INT:
    case ESQL_LONG: kx_jsonw_int(w, v->u.i); return;
    case ESQL_DOUBLE:
        if (isnan(v->u.d) || isinf(v->u.d)) {
            kx_jsonw_null(w);
            return;
        }
        kx_buf_reset(tmp);
        fmt_double(v->u.d, tmp);
        kx_jsonw_raw(w, tmp->ptr, tmp->len);
        return;
    case ESQL_KEYWORD:
    case ESQL_TEXT: kx_jsonw_str(w, v->u.s.p, v->u.s.n); return;
    default:
        kx_buf_reset(tmp);
        esql_sv_fmt(type, v, tmp);
        kx_jsonw_str(w, tmp->ptr ? tmp->ptr : "", tmp->len);
        return;
    }
}

int esql_result_ndjson(const struct esql_result *res, kx_buf *out)
{
    kx_buf tmp;
    kx_buf_init(&tmp, 1 << 20);
    for (size_t r = 0; r < res->nrows; r++) {
        kx_jsonw w;
        kx_jsonw_init(&w, out);
        kx_jsonw_obj_begin(&w);
        for (uint32_t c = 0; c < res->ncols; c++) {
            const struct esql_cell *cell = &res->rows[r][c];
            if (!cell->n)
                continue;
            kx_jsonw_keyc(&w, res->cols[c].name);
            if (cell->n == 1) {
                json_sv(&w, cell->type, &cell->v[0], &tmp);
            } else {
                kx_jsonw_arr_begin(&w);
                for (uint32_t i = 0; i < cell->n; i++)
                    json_sv(&w, cell->type, &cell->v[i], &tmp);
                kx_jsonw_arr_end(&w);
            }
        }
        kx_jsonw_obj_end(&w);
        if (kx_jsonw_error(&w) || kx_buf_addc(out, '\n')) {
            kx_buf_fini(&tmp);
            return KAD_ELIMIT;
        }
    }
    kx_buf_fini(&tmp);
    return KAD_OK;
}

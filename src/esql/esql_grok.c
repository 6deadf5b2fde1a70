/*
 * esql_grok.c - GROK and DISSECT patterns, and LIKE wildcards.
 *
 * GROK: %{NAME}, %{NAME:field} and %{NAME:field:int|float} references to a built-in pattern
 * library are expanded into an Oniguruma-dialect regular expression (esql_re.c), with raw
 * regular-expression text and (?<name>...) groups allowed in between. The library below is
 * kadet's own, written to the same names and meanings as Elasticsearch's core patterns
 * (docs/internals/esql.md lists them). Captures become keyword columns (integer/double with a
 * type suffix), appended in alphabetical order; no match leaves them null.
 *
 * DISSECT: %{key} fields separated by literal delimiters, matched left to right; %{} and
 * %{?key} skip, %{+key} appends (with APPEND_SEPARATOR, ordered by /n), %{key->} skips a run of
 * repeated delimiters after the value.
 */
#include "esql/esql_int.h"

#include "base/buf.h"
#include "base/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *def;
} lib[] = {
    {"USERNAME", "[a-zA-Z0-9._-]+"},
    {"USER", "%{USERNAME}"},
    {"INT", "(?:[+-]?(?:[0-9]+))"},
    {"BASE10NUM", "(?<![0-9.+-])(?>[+-]?(?:(?:[0-9]+(?:\\.[0-9]+)?)|(?:\\.[0-9]+)))"},
    {"NUMBER", "(?:%{BASE10NUM})"},
    {"BASE16NUM", "(?<![0-9A-Fa-f])(?:[+-]?(?:0x)?(?:[0-9A-Fa-f]+))"},
    {"POSINT", "\\b(?:[1-9][0-9]*)\\b"},
    {"NONNEGINT", "\\b(?:[0-9]+)\\b"},
    {"WORD", "\\b\\w+\\b"},
    {"NOTSPACE", "\\S+"},
    {"SPACE", "\\s*"},
    {"DATA", ".*?"},
    {"GREEDYDATA", ".*"},
    {"QUOTEDSTRING", "(?>\"(?:\\\\.|[^\\\\\"]+)*\"|\"\"|'(?:\\\\.|[^\\\\']+)*'|'')"},
    {"QS", "%{QUOTEDSTRING}"},
    {"UUID", "[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}"},
    {"IPV4", "(?<![0-9])(?:(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\\.(?:[0-1]?[0-9]{1,2}|2[0-4]"
             "[0-9]|25[0-5])\\.(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\\.(?:[0-1]?[0-9]{1,2}|2["
             "0-4][0-9]|25[0-5]))(?![0-9])"},
    {"IPV6", "(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-"
             "Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4})"
             "{1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1"
             ",3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}"
             "|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))"},
    {"IP", "(?:%{IPV6}|%{IPV4})"},
    {"HOSTNAME", "\\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*"
                 "(?:\\.?|\\b)"},
    {"IPORHOST", "(?:%{IP}|%{HOSTNAME})"},
    {"HOSTPORT", "%{IPORHOST}:%{POSINT}"},
    {"URIPROTO", "[A-Za-z](?:[A-Za-z0-9+\\-.]+)+"},
    {"URIPATH", "(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\\-]*)+"},
    {"URIQUERY", "[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\\-\\[\\]<>]*"},
    {"LOGLEVEL", "(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo?(?:rm"
                 "ation)?|INFO?(?:RMATION)?|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:"
                 "OR)?|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:E"
                 "NCY)?|[Ee]merg(?:ency)?)"},
    {"YEAR", "(?>\\d\\d){1,2}"},
    {"MONTHNUM", "(?:0?[1-9]|1[0-2])"},
    {"MONTHDAY", "(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"},
    {"HOUR", "(?:2[0123]|[01]?[0-9])"},
    {"MINUTE", "(?:[0-5][0-9])"},
    {"SECOND", "(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)"},
    {"ISO8601_TIMEZONE", "(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))"},
    {"TIMESTAMP_ISO8601",
     "%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?"},
    {"EMAILLOCALPART", "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*"},
    {"EMAILADDRESS", "%{EMAILLOCALPART}@%{HOSTNAME}"},
};

struct gx {
    kx_buf out;
    KX_VEC(const char *) sem;
    KX_VEC(uint8_t) type;
    kx_arena *a;
    char *msg;
    size_t cap;
    bool failed;
};

static bool gfail(struct gx *G, const char *fmt, const char *arg)
{
    if (!G->failed)
        snprintf(G->msg, G->cap, fmt, arg);
    G->failed = true;
    return false;
}

static bool expand(struct gx *G, const char *p, size_t n, int depth)
{
    if (depth > 20)
        return gfail(G, "pattern %s refers to itself", "");
    for (size_t i = 0; i < n && !G->failed;) {
        if (p[i] == '\\' && i + 1 < n) {
            kx_buf_add(&G->out, p + i, 2);
            i += 2;
            continue;
        }
        if (p[i] != '%' || i + 1 >= n || p[i + 1] != '{') {
            kx_buf_addc(&G->out, p[i++]);
            continue;
        }
        const char *b = p + i + 2;
        const char *e = memchr(b, '}', n - (size_t)(b - p));
        if (!e)
            return gfail(G, "unterminated %%{%s", "");
        char spec[256];
        size_t sl = (size_t)(e - b);
        if (sl >= sizeof spec)
            return gfail(G, "%%{...} too long%s", "");
        memcpy(spec, b, sl);
        spec[sl] = 0;
        char *sem = strchr(spec, ':'), *ty = NULL;
        if (sem) {
            *sem++ = 0;
            ty = strchr(sem, ':');
            if (ty)
                *ty++ = 0;
            if (!*sem)
                return gfail(G, "empty field name in %%{%s:}", spec);
        }
        const char *def = NULL;
        for (size_t k = 0; k < sizeof lib / sizeof lib[0]; k++)
            if (strcmp(lib[k].name, spec) == 0)
                def = lib[k].def;
        if (!def)
            return gfail(G, "unknown grok pattern [%s]", spec);
        uint8_t t = ESQL_KEYWORD;
        if (ty) {
            if (strcmp(ty, "int") == 0)
                t = ESQL_INT;
            else if (strcmp(ty, "float") == 0)
                t = ESQL_DOUBLE;
            else
                return gfail(G, "unknown grok type [%s] (int or float)", ty);
        }
        if (sem) {
            KX_VEC_PUSH(&G->sem, kx_arena_strndup(G->a, sem, strlen(sem)));
            KX_VEC_PUSH(&G->type, t);
            kx_buf_addf(&G->out, "(?<_kg%zu>", G->sem.len - 1);
        } else {
            kx_buf_adds(&G->out, "(?:");
        }
        if (!expand(G, def, strlen(def), depth + 1))
            return false;
        kx_buf_addc(&G->out, ')');
        i = (size_t)(e - p) + 1;
    }
    return !G->failed;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct grok *esql_grok_compile(kx_arena *a, const char *pat, size_t len, char *msg, size_t cap)
{
    struct gx G = {.a = a, .msg = msg, .cap = cap};
    kx_buf_init(&G.out, ESQL_MAX_LEN * 4);
    struct grok *g = NULL;
    if (!expand(&G, pat, len, 0))
        goto out;
    size_t ep;
    struct re_prog *re =
        esql_re_compile(a, G.out.ptr ? G.out.ptr : "", G.out.len, RE_ONIG, msg, cap, &ep);
    if (!re)
        goto out;
    g = kx_arena_zalloc(a, sizeof *g);
    uint32_t ncap = esql_re_ncaps(re);
    const char **names = kx_arena_zalloc(a, (ncap + 1) * sizeof *names);
    uint8_t *types = kx_arena_zalloc(a, ncap + 1);
    g->grp2out = kx_arena_zalloc(a, (ncap + 1) * sizeof *g->grp2out);
    g->outs = kx_arena_zalloc(a, (ncap + 1) * sizeof *g->outs);
    g->otype = kx_arena_zalloc(a, ncap + 1);
    if (!g || !names || !types || !g->grp2out || !g->outs || !g->otype) {
        snprintf(msg, cap, "pattern too large");
        g = NULL;
        goto out;
    }
    g->re = re;
    for (uint32_t k = 1; k < ncap; k++) {
        const char *nm = esql_re_capname(re, k);
        types[k] = ESQL_KEYWORD;
        if (nm && strncmp(nm, "_kg", 3) == 0) {
            size_t si = (size_t)strtoul(nm + 3, NULL, 10);
            names[k] = G.sem.ptr[si];
            types[k] = G.type.ptr[si];
        } else {
            names[k] = nm;
        }
        bool dup = false;
        for (uint32_t j = 0; j < g->nout && names[k]; j++)
            dup = dup || strcmp(g->outs[j], names[k]) == 0;
        if (names[k] && !dup)
            g->outs[g->nout++] = names[k];
    }
    qsort(g->outs, g->nout, sizeof *g->outs, cmp_name);
    for (uint32_t k = 0; k < ncap; k++) {
        g->grp2out[k] = -1;
        for (uint32_t j = 0; k && names[k] && j < g->nout; j++)
            if (strcmp(g->outs[j], names[k]) == 0) {
                g->grp2out[k] = (int32_t)j;
                if (!g->otype[j])
                    g->otype[j] = types[k];
            }
    }
out:
    kx_buf_fini(&G.out);
    KX_VEC_FREE(&G.sem);
    KX_VEC_FREE(&G.type);
    return g;
}

void esql_grok_match(struct ectx *X, const struct grok *g, const char *s, size_t n,
                     struct esql_cell *out, bool *matched)
{
    uint32_t ncap = esql_re_ncaps(g->re);
    long caps[2 * 64];
    long *cp = ncap <= 64 ? caps : kx_arena_alloc(X->a, 2 * ncap * sizeof *cp);
    *matched = false;
    if (!cp)
        return;
    int r = esql_re_search(g->re, s, n, 0, cp);
    if (r < 0)
        esql_warn(X, "GROK: pattern too costly on a value of %zu bytes", n);
    if (r != 1)
        return;
    *matched = true;
    for (uint32_t k = 1; k < ncap; k++) {
        int32_t o = g->grp2out[k];
        if (o < 0 || cp[2 * k] < 0 || cp[2 * k + 1] < 0)
            continue;
        struct esql_sv v;
        const char *vs = s + cp[2 * k];
        size_t vn = (size_t)(cp[2 * k + 1] - cp[2 * k]);
        struct esql_sv str = {.u.s = {vs, vn}};
        if (g->otype[o] == ESQL_KEYWORD) {
            v = str;
        } else if (!esql_convert(X, ESQL_KEYWORD, &str, g->otype[o], &v)) {
            continue;
        }
        struct esql_sv *nv = esql_sv_new(X->a, out[o].n + 1);
        if (!nv)
            return;
        if (out[o].n)
            memcpy(nv, out[o].v, out[o].n * sizeof *nv);
        nv[out[o].n] = v;
        out[o].v = nv;
        out[o].n++;
        out[o].type = g->otype[o];
    }
}

/* ---- DISSECT ------------------------------------------------------------------------------ */

struct dissect *esql_dissect_compile(kx_arena *a, const char *pat, size_t len, char *msg,
                                     size_t cap)
{
    struct dissect *d = kx_arena_zalloc(a, sizeof *d);
    if (!d) {
        snprintf(msg, cap, "pattern too large");
        return NULL;
    }
    KX_VEC(struct dis_key) keys = {0};
    KX_VEC(const char *) outs = {0};
    size_t i = 0;
    /* leading literal */
    const char *f = len ? strstr(pat, "%{") : NULL;
    size_t first = f && (size_t)(f - pat) < len ? (size_t)(f - pat) : len;
    d->lead = pat;
    d->llen = first;
    i = first;
    bool ok = true;
    while (i < len && ok) {
        /* at "%{" */
        const char *e = memchr(pat + i, '}', len - i);
        if (!e) {
            snprintf(msg, cap, "unterminated %%{ at offset %zu", i);
            ok = false;
            break;
        }
        struct dis_key k = {0};
        const char *b = pat + i + 2;
        size_t kl = (size_t)(e - b);
        if (kl >= 2 && b[kl - 2] == '-' && b[kl - 1] == '>') {
            k.pad = 1;
            kl -= 2;
        }
        if (kl && (b[0] == '*' || b[0] == '&')) {
            snprintf(msg, cap, "reference keys (%%{*name}, %%{&name}) are not supported");
            ok = false;
            break;
        }
        if (kl && b[0] == '?') {
            b++;
            kl--;
        } else if (kl && b[0] == '+') {
            k.append = 1;
            b++;
            kl--;
            const char *sl = memchr(b, '/', kl);
            if (sl) {
                k.order = (uint32_t)strtoul(sl + 1, NULL, 10);
                kl = (size_t)(sl - b);
            }
            if (!kl) {
                snprintf(msg, cap, "empty append key");
                ok = false;
                break;
            }
            k.name = kx_arena_strndup(a, b, kl);
        } else if (kl) {
            k.name = kx_arena_strndup(a, b, kl);
        }
        i = (size_t)(e - pat) + 1;
        const char *nx = NULL;
        for (size_t j = i; j + 1 < len; j++)
            if (pat[j] == '%' && pat[j + 1] == '{') {
                nx = pat + j;
                break;
            }
        size_t dend = nx ? (size_t)(nx - pat) : len;
        k.delim = pat + i;
        k.dlen = dend - i;
        if (nx && !k.dlen) {
            snprintf(msg, cap, "keys need a delimiter between them (offset %zu)", i);
            ok = false;
            break;
        }
        i = dend;
        if (k.name) {
            bool dup = false;
            for (size_t j = 0; j < outs.len; j++)
                dup = dup || strcmp(outs.ptr[j], k.name) == 0;
            if (!dup)
                KX_VEC_PUSH(&outs, k.name);
        }
        KX_VEC_PUSH(&keys, k);
    }
    if (ok && !keys.len) {
        snprintf(msg, cap, "pattern has no %%{key}");
        ok = false;
    }
    if (ok) {
        d->nk = (uint32_t)keys.len;
        d->k = kx_arena_memdup(a, keys.ptr, keys.len * sizeof *keys.ptr);
        d->nout = (uint32_t)outs.len;
        d->outs = outs.len ? kx_arena_memdup(a, outs.ptr, outs.len * sizeof *outs.ptr) : NULL;
        d->sep = "";
    }
    KX_VEC_FREE(&keys);
    KX_VEC_FREE(&outs);
    return ok ? d : NULL;
}

static const char *find(const char *s, size_t n, const char *d, size_t dl)
{
    if (dl == 0 || dl > n)
        return NULL;
    for (size_t i = 0; i + dl <= n; i++)
        if (memcmp(s + i, d, dl) == 0)
            return s + i;
    return NULL;
}

bool esql_dissect_match(struct ectx *X, const struct dissect *d, const char *s, size_t n,
                        struct esql_cell *out)
{
    if (n < d->llen || memcmp(s, d->lead, d->llen) != 0)
        return false;
    size_t pos = d->llen;
    kx_str *val = kx_arena_alloc(X->a, (d->nk + 1) * sizeof *val);
    if (!val)
        return false;
    for (uint32_t i = 0; i < d->nk; i++) {
        const struct dis_key *k = &d->k[i];
        if (!k->dlen) {
            val[i] = (kx_str){s + pos, n - pos};
            pos = n;
            continue;
        }
        const char *e = find(s + pos, n - pos, k->delim, k->dlen);
        if (!e)
            return false;
        val[i] = (kx_str){s + pos, (size_t)(e - (s + pos))};
        pos = (size_t)(e - s) + k->dlen;
        if (k->pad)
            while (pos + k->dlen <= n && memcmp(s + pos, k->delim, k->dlen) == 0)
                pos += k->dlen;
    }
    /* assemble outputs (appends in /n order, then pattern order) */
    for (uint32_t o = 0; o < d->nout; o++) {
        kx_buf b;
        kx_buf_init(&b, n + 1 + d->nk * (strlen(d->sep) + 1));
        uint32_t cnt = 0;
        for (uint32_t pass = 0; pass < 2; pass++)
            for (uint32_t ord = 0; ord <= 64; ord++)
                for (uint32_t i = 0; i < d->nk; i++) {
                    const struct dis_key *k = &d->k[i];
                    if (!k->name || strcmp(k->name, d->outs[o]) != 0)
                        continue;
                    bool ordered = k->order > 0;
                    if (pass == 0 && (!ordered || k->order != ord))
                        continue;
                    if (pass == 1 && (ordered || ord != 0))
                        continue;
                    if (!k->append) {
                        b.len = 0;
                        cnt = 0;
                    }
                    if (cnt++)
                        kx_buf_adds(&b, d->sep);
                    kx_buf_add(&b, val[i].ptr, val[i].len);
                }
        struct esql_sv *v = esql_sv_new(X->a, 1);
        if (!v) {
            kx_buf_fini(&b);
            return false;
        }
        v->u.s.p = kx_arena_strndup(X->a, b.ptr ? b.ptr : "", b.len);
        v->u.s.n = b.len;
        kx_buf_fini(&b);
        out[o] = (struct esql_cell){ESQL_KEYWORD, 1, v};
    }
    return true;
}

/* ---- LIKE ---------------------------------------------------------------------------------- */

static size_t cplen(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    size_t l = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return i + l <= n ? l : 1;
}

bool esql_like(const char *p, size_t pn, const char *s, size_t n)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < n) {
        if (pi < pn && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < pn) {
            if (p[pi] == '?') {
                pi++;
                si += cplen(s, n, si);
                continue;
            }
            size_t q = pi;
            if (p[q] == '\\' && q + 1 < pn)
                q++;
            size_t l = cplen(p, pn, q);
            if (si + l <= n && memcmp(p + q, s + si, l) == 0) {
                pi = q + l;
                si += l;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        pi = star_p;
        star_s += cplen(s, n, star_s);
        si = star_s;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

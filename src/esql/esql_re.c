/*
 * esql_re.c - the three regular-expression dialects ES|QL exposes, on one matcher.
 *
 *   RLIKE    Lucene RegExp with every optional operator: whole-string match, '.' matches
 *            newline, `&` intersection, `~` complement, `@` any string, `#` empty language,
 *            `"..."` literal text, `<n-m>` numeric interval, no anchors, no lazy quantifiers.
 *   REPLACE  java.util.regex (the common subset: groups, classes, lazy and possessive
 *            quantifiers, \b, look-around), '.' excludes line terminators.
 *   GROK     Oniguruma (Ruby syntax) as Joni: the same subset plus (?<name>...) groups.
 *
 * A pattern is parsed into a tree and compiled into a small instruction program (one per
 * sub-expression that needs its own run: atomic groups, look-around, intersection and
 * complement operands). The matcher is a backtracking machine with an explicit stack and a
 * visited set of (instruction, position) pairs: without back-references a state that failed
 * once fails again, so a run is O(instructions x length) and no pattern is exponential. A step
 * budget bounds the remaining cases (nested sub-runs); running out is reported as -1.
 */
#include "esql/esql_int.h"

#include "base/alloc.h"
#include "base/vec.h"

#include <stdio.h>
#include <string.h>

#define RE_MAX_INS 50000
#define RE_MAX_DEPTH 100
#define RE_BUDGET 20000000L
#define RE_LOOKBEHIND_MAX 256 /* code points a look-behind may span */

enum op {
    I_CHAR,
    I_ANY,
    I_ANYNL,
    I_CLASS,
    I_SPLIT,
    I_JMP,
    I_SAVE,
    I_MATCH,
    I_FAIL,
    I_BOL,
    I_EOL,
    I_BEGIN,
    I_END,
    I_ENDNL,
    I_WORDB,
    I_NWORDB,
    I_ATOMIC,
    I_AHEAD,
    I_NAHEAD,
    I_BEHIND,
    I_NBEHIND,
    I_INTER,
    I_COMPL,
    I_NUMRANGE,
    I_ANYSTR,
};

struct range {
    uint32_t lo, hi;
};
struct cls {
    struct range *r;
    uint32_t n;
    bool neg;
};

struct ins {
    uint8_t op;
    uint32_t x, y; /* char / targets / class index / sub-program / save slot */
    int64_t lo, hi;
};

struct sub {
    struct ins *ins;
    uint32_t n;
};

struct re_prog {
    struct sub *sub;
    uint32_t nsub;
    struct cls *cls;
    uint32_t ncls;
    uint32_t ncap; /* groups including 0 */
    const char **names;
    int dialect;
};

/* ---- tree ------------------------------------------------------------------------------- */

enum node_kind {
    N_EMPTY,
    N_CHAR,
    N_ANY,
    N_CLASS,
    N_CAT,
    N_ALT,
    N_REP,
    N_GROUP, /* capture */
    N_ATOMIC,
    N_LOOK, /* ahead/behind, neg */
    N_INTER,
    N_COMPL,
    N_ASSERT, /* x = I_BOL ... */
    N_FAIL,
    N_ANYSTR,
    N_NUMRANGE,
};

struct node {
    uint8_t kind;
    bool greedy, behind, neg, nl;
    uint32_t c; /* char, class index, group number, assert op */
    int32_t min, max;
    int64_t lo, hi;
    struct node *a, *b; /* children (CAT/ALT/INTER: binary) */
};

struct rp {
    kx_arena *ar;
    const char *s;
    size_t n, i;
    int dialect;
    char *msg;
    size_t cap;
    size_t errpos;
    bool failed;
    int depth;
    KX_VEC(struct cls) cls;
    KX_VEC(const char *) names;
    uint32_t ncap;
};

static struct node *rfail(struct rp *R, const char *m)
{
    if (!R->failed) {
        snprintf(R->msg, R->cap, "%s at offset %zu", m, R->i);
        R->errpos = R->i;
    }
    R->failed = true;
    return NULL;
}

static struct node *nn(struct rp *R, int kind)
{
    struct node *x = kx_arena_zalloc(R->ar, sizeof *x);
    if (!x)
        return rfail(R, "pattern too large");
    x->kind = (uint8_t)kind;
    return x;
}

static struct node *bin(struct rp *R, int kind, struct node *a, struct node *b)
{
    if (!a || !b)
        return NULL;
    struct node *x = nn(R, kind);
    if (x) {
        x->a = a;
        x->b = b;
    }
    return x;
}

static uint32_t decode(const char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = (unsigned char)s[i];
    int k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    *len = 1;
    if (c < 0x80 || k == 0 || i + (size_t)k >= n)
        return c;
    uint32_t cp = c & (0x3Fu >> k);
    for (int j = 1; j <= k; j++) {
        unsigned char d = (unsigned char)s[i + (size_t)j];
        if ((d & 0xC0) != 0x80)
            return c;
        cp = (cp << 6) | (d & 0x3F);
    }
    *len = (size_t)k + 1;
    return cp;
}

static bool more(struct rp *R) { return R->i < R->n; }
static char peekc(struct rp *R) { return R->i < R->n ? R->s[R->i] : 0; }

static uint32_t add_class(struct rp *R, struct range *r, uint32_t n, bool neg)
{
    struct cls c = {n ? kx_arena_memdup(R->ar, r, n * sizeof *r) : NULL, n, neg};
    KX_VEC_PUSH(&R->cls, c);
    return (uint32_t)R->cls.len - 1;
}

/* Shorthand class letter -> ranges; false if not a shorthand. */
struct rangevec {
    KX_VEC(struct range) v;
};

static bool shorthand(struct rp *R, char c, void *vp, bool *neg)
{
    struct rangevec *v = vp;
    char l = (char)(c | 0x20);
    *neg = c >= 'A' && c <= 'Z';
    if (l == 'd') {
        KX_VEC_PUSH(&v->v, ((struct range){'0', '9'}));
    } else if (l == 's') {
        KX_VEC_PUSH(&v->v, ((struct range){' ', ' '}));
        KX_VEC_PUSH(&v->v, ((struct range){'\t', '\n'}));
        KX_VEC_PUSH(&v->v, ((struct range){'\r', '\r'}));
        if (R->dialect != RE_LUCENE) {
            KX_VEC_PUSH(&v->v, ((struct range){'\v', '\f'}));
        }
    } else if (l == 'w') {
        KX_VEC_PUSH(&v->v, ((struct range){'0', '9'}));
        KX_VEC_PUSH(&v->v, ((struct range){'A', 'Z'}));
        KX_VEC_PUSH(&v->v, ((struct range){'_', '_'}));
        KX_VEC_PUSH(&v->v, ((struct range){'a', 'z'}));
    } else if (l == 'h' && R->dialect == RE_ONIG) {
        KX_VEC_PUSH(&v->v, ((struct range){'0', '9'}));
        KX_VEC_PUSH(&v->v, ((struct range){'A', 'F'}));
        KX_VEC_PUSH(&v->v, ((struct range){'a', 'f'}));
    } else {
        return false;
    }
    return true;
}

int esql_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* An escaped literal character after '\' (Java/Onig); -1 on error, -2 not a literal. */
static int64_t esc_char(struct rp *R)
{
    char c = peekc(R);
    switch (c) {
    case 't': R->i++; return '\t';
    case 'n': R->i++; return '\n';
    case 'r': R->i++; return '\r';
    case 'f': R->i++; return '\f';
    case 'e': R->i++; return 0x1B;
    case 'a': R->i++; return 7;
    case '0': {
        R->i++;
        int v = 0;
        for (int k = 0; k < 3 && peekc(R) >= '0' && peekc(R) <= '7'; k++)
            v = v * 8 + (R->s[R->i++] - '0');
        return v;
    }
    case 'x': {
        R->i++;
        int v = 0, k = 0;
        if (peekc(R) == '{') {
            R->i++;
            while (more(R) && peekc(R) != '}' && esql_hexval(peekc(R)) >= 0 && k < 8) {
                v = v * 16 + esql_hexval(R->s[R->i++]);
                k++;
            }
            if (peekc(R) != '}' || !k || v > 0x10FFFF)
                return -1;
            R->i++;
            return v;
        }
        for (; k < 2 && esql_hexval(peekc(R)) >= 0; k++)
            v = v * 16 + esql_hexval(R->s[R->i++]);
        return k == 2 ? v : -1;
    }
    case 'u': {
        R->i++;
        int v = 0, k = 0;
        for (; k < 4 && esql_hexval(peekc(R)) >= 0; k++)
            v = v * 16 + esql_hexval(R->s[R->i++]);
        return k == 4 ? v : -1;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9'))
            return -2;
        if (!more(R))
            return -1;
        {
            size_t l;
            uint32_t cp = decode(R->s, R->n, R->i, &l);
            R->i += l;
            return cp;
        }
    }
}

static uint32_t next_cp(struct rp *R)
{
    size_t l;
    uint32_t cp = decode(R->s, R->n, R->i, &l);
    R->i += l;
    return cp;
}

/* [...] after '['. */
static struct node *parse_class(struct rp *R)
{
    KX_VEC(struct range) v = {0};
    bool neg = false;
    if (peekc(R) == '^') {
        neg = true;
        R->i++;
    }
    bool first = true;
    while (more(R) && (peekc(R) != ']' || (first && R->dialect != RE_LUCENE))) {
        first = false;
        int64_t lo;
        if (peekc(R) == '[' && R->dialect != RE_LUCENE) {
            static const struct {
                const char *name;
                const char *set;
            } posix[] = {{"[:alpha:]", "AZaz"},   {"[:digit:]", "09"},
                         {"[:alnum:]", "AZaz09"}, {"[:upper:]", "AZ"},
                         {"[:lower:]", "az"},     {"[:xdigit:]", "AFaf09"},
                         {"[:space:]", "  \t\r"}, {"[:punct:]", "!/:@[`{~"}};
            bool got = false;
            for (size_t k = 0; k < sizeof posix / sizeof posix[0]; k++) {
                size_t l = strlen(posix[k].name);
                if (R->i + l <= R->n && memcmp(R->s + R->i, posix[k].name, l) == 0) {
                    for (const char *p = posix[k].set; *p; p += 2)
                        KX_VEC_PUSH(&v, ((struct range){(uint8_t)p[0], (uint8_t)p[1]}));
                    R->i += l;
                    got = true;
                }
            }
            if (got)
                continue;
            KX_VEC_FREE(&v);
            return rfail(R, "nested character classes are not supported");
        }
        if (peekc(R) == '&' && R->i + 1 < R->n && R->s[R->i + 1] == '&' &&
            R->dialect != RE_LUCENE) {
            KX_VEC_FREE(&v);
            return rfail(R, "class intersection (&&) is not supported");
        }
        if (peekc(R) == '\\') {
            R->i++;
            bool sn;
            size_t before = v.len;
            if (more(R) && shorthand(R, peekc(R), (void *)&v, &sn)) {
                R->i++;
                if (sn) {
                    KX_VEC_FREE(&v);
                    return rfail(R, "negated shorthand inside a class is not supported");
                }
                (void)before;
                continue;
            }
            if (R->dialect == RE_LUCENE) {
                if (!more(R)) {
                    KX_VEC_FREE(&v);
                    return rfail(R, "pattern ends with '\\'");
                }
                lo = next_cp(R);
            } else {
                lo = esc_char(R);
                if (lo < 0) {
                    KX_VEC_FREE(&v);
                    return rfail(R, "invalid escape in a character class");
                }
            }
        } else {
            lo = next_cp(R);
        }
        int64_t hi = lo;
        if (peekc(R) == '-' && R->i + 1 < R->n && R->s[R->i + 1] != ']') {
            R->i++;
            if (peekc(R) == '\\') {
                R->i++;
                hi = R->dialect == RE_LUCENE ? (more(R) ? (int64_t)next_cp(R) : -1) : esc_char(R);
            } else {
                hi = next_cp(R);
            }
            if (hi < lo) {
                KX_VEC_FREE(&v);
                return rfail(R, "bad character range");
            }
        }
        KX_VEC_PUSH(&v, ((struct range){(uint32_t)lo, (uint32_t)hi}));
    }
    if (peekc(R) != ']') {
        KX_VEC_FREE(&v);
        return rfail(R, "expected ']'");
    }
    R->i++;
    struct node *x = nn(R, N_CLASS);
    if (x)
        x->c = add_class(R, v.ptr, (uint32_t)v.len, neg);
    KX_VEC_FREE(&v);
    return x;
}

static struct node *class_node(struct rp *R, char c)
{
    KX_VEC(struct range) v = {0};
    bool neg;
    shorthand(R, c, (void *)&v, &neg);
    struct node *x = nn(R, N_CLASS);
    if (x)
        x->c = add_class(R, v.ptr, (uint32_t)v.len, neg);
    KX_VEC_FREE(&v);
    return x;
}

static struct node *char_node(struct rp *R, uint32_t cp)
{
    struct node *x = nn(R, N_CHAR);
    if (x)
        x->c = cp;
    return x;
}

static bool parse_int(struct rp *R, int64_t *out)
{
    size_t st = R->i;
    int64_t v = 0;
    while (more(R) && peekc(R) >= '0' && peekc(R) <= '9') {
        v = v * 10 + (R->s[R->i++] - '0');
        if (v > 100000000000LL)
            return false;
    }
    *out = v;
    return R->i > st;
}

/* Quantifier after an atom; returns the atom when there is none. */
static struct node *quantify(struct rp *R, struct node *a)
{
    while (a && more(R)) {
        char c = peekc(R);
        int32_t mn, mx;
        size_t save = R->i;
        if (c == '*') {
            mn = 0;
            mx = -1;
            R->i++;
        } else if (c == '+') {
            mn = 1;
            mx = -1;
            R->i++;
        } else if (c == '?') {
            mn = 0;
            mx = 1;
            R->i++;
        } else if (c == '{') {
            R->i++;
            int64_t lo, hi;
            if (!parse_int(R, &lo)) {
                if (R->dialect == RE_LUCENE)
                    return rfail(R, "expected a number after '{'");
                R->i = save; /* a literal '{' */
                return a;
            }
            hi = lo;
            if (peekc(R) == ',') {
                R->i++;
                if (!parse_int(R, &hi))
                    hi = -1;
            }
            if (peekc(R) != '}') {
                if (R->dialect == RE_LUCENE)
                    return rfail(R, "expected '}'");
                R->i = save;
                return a;
            }
            R->i++;
            if (lo > 1000 || hi > 1000 || (hi >= 0 && hi < lo))
                return rfail(R, "bad repetition count (at most 1000)");
            mn = (int32_t)lo;
            mx = (int32_t)hi;
        } else {
            return a;
        }
        struct node *q = nn(R, N_REP);
        if (!q)
            return NULL;
        q->a = a;
        q->min = mn;
        q->max = mx;
        q->greedy = true;
        if (R->dialect != RE_LUCENE && peekc(R) == '?') {
            q->greedy = false;
            R->i++;
        } else if (R->dialect != RE_LUCENE && peekc(R) == '+') {
            R->i++;
            struct node *at = nn(R, N_ATOMIC);
            if (!at)
                return NULL;
            at->a = q;
            q = at;
        }
        a = q;
    }
    return a;
}

/* ---- Java / Oniguruma ------------------------------------------------------------------- */

static struct node *j_alt(struct rp *R);

static struct node *j_atom(struct rp *R)
{
    char c = peekc(R);
    if (c == '(') {
        R->i++;
        struct node *g;
        if (peekc(R) == '?') {
            R->i++;
            char d = peekc(R);
            int kind = -1;
            bool behind = false, neg = false;
            const char *name = NULL;
            if (d == ':') {
                R->i++;
                kind = N_EMPTY;
            } else if (d == '>') {
                R->i++;
                kind = N_ATOMIC;
            } else if (d == '=' || d == '!') {
                R->i++;
                kind = N_LOOK;
                neg = d == '!';
            } else if (d == '<' && R->i + 1 < R->n &&
                       (R->s[R->i + 1] == '=' || R->s[R->i + 1] == '!')) {
                neg = R->s[R->i + 1] == '!';
                R->i += 2;
                kind = N_LOOK;
                behind = true;
            } else if (d == '<' || (d == 'P' && R->i + 1 < R->n && R->s[R->i + 1] == '<')) {
                R->i += d == 'P' ? 2 : 1;
                size_t st = R->i;
                while (more(R) && peekc(R) != '>')
                    R->i++;
                if (!more(R) || R->i == st)
                    return rfail(R, "bad group name");
                name = kx_arena_strndup(R->ar, R->s + st, R->i - st);
                R->i++;
                kind = N_GROUP;
            } else {
                return rfail(R, "unsupported group construct (?...)");
            }
            uint32_t num = 0;
            if (kind == N_GROUP) {
                num = ++R->ncap;
                while (R->names.len < num)
                    KX_VEC_PUSH(&R->names, NULL);
                R->names.ptr[num - 1] = name;
            }
            struct node *in = j_alt(R);
            if (!in)
                return NULL;
            if (peekc(R) != ')')
                return rfail(R, "expected ')'");
            R->i++;
            if (kind == N_EMPTY)
                return in;
            g = nn(R, kind);
            if (!g)
                return NULL;
            g->a = in;
            g->c = num;
            g->behind = behind;
            g->neg = neg;
            return g;
        }
        uint32_t num = ++R->ncap;
        while (R->names.len < num)
            KX_VEC_PUSH(&R->names, NULL);
        struct node *in = j_alt(R);
        if (!in)
            return NULL;
        if (peekc(R) != ')')
            return rfail(R, "expected ')'");
        R->i++;
        g = nn(R, N_GROUP);
        if (g) {
            g->a = in;
            g->c = num;
        }
        return g;
    }
    if (c == '[') {
        R->i++;
        return parse_class(R);
    }
    if (c == '.') {
        R->i++;
        return nn(R, N_ANY);
    }
    if (c == '^' || c == '$') {
        R->i++;
        struct node *x = nn(R, N_ASSERT);
        if (x)
            x->c = c == '^' ? (R->dialect == RE_ONIG ? I_BOL : I_BEGIN)
                            : (R->dialect == RE_ONIG ? I_EOL : I_ENDNL);
        return x;
    }
    if (c == '\\') {
        R->i++;
        if (!more(R))
            return rfail(R, "pattern ends with '\\'");
        char d = peekc(R);
        bool sn;
        KX_VEC(struct range) tmp = {0};
        bool is_sh = shorthand(R, d, (void *)&tmp, &sn);
        KX_VEC_FREE(&tmp);
        if (is_sh) {
            R->i++;
            return class_node(R, d);
        }
        int as = d == 'b'   ? I_WORDB
                 : d == 'B' ? I_NWORDB
                 : d == 'A' ? I_BEGIN
                 : d == 'z' ? I_END
                 : d == 'Z' ? I_ENDNL
                            : -1;
        if (as >= 0) {
            R->i++;
            struct node *x = nn(R, N_ASSERT);
            if (x)
                x->c = (uint32_t)as;
            return x;
        }
        int64_t cp = esc_char(R);
        if (cp == -2)
            return rfail(R, "unsupported escape");
        if (cp < 0)
            return rfail(R, "bad escape");
        return char_node(R, (uint32_t)cp);
    }
    if (c == '*' || c == '+' || c == '?')
        return rfail(R, "dangling quantifier");
    if (c == ')')
        return rfail(R, "unmatched ')'");
    return char_node(R, next_cp(R));
}

static struct node *j_cat(struct rp *R)
{
    struct node *e = nn(R, N_EMPTY);
    while (e && more(R) && peekc(R) != '|' && peekc(R) != ')') {
        struct node *a = quantify(R, j_atom(R));
        e = a ? bin(R, N_CAT, e, a) : NULL;
    }
    return e;
}

static struct node *j_alt(struct rp *R)
{
    if (++R->depth > RE_MAX_DEPTH)
        return rfail(R, "pattern nested too deeply");
    struct node *e = j_cat(R);
    while (e && peekc(R) == '|') {
        R->i++;
        e = bin(R, N_ALT, e, j_cat(R));
    }
    R->depth--;
    return e;
}

/* ---- Lucene ------------------------------------------------------------------------------ */

static struct node *l_union(struct rp *R);

static struct node *l_simple(struct rp *R)
{
    if (!more(R))
        return rfail(R, "unexpected end of pattern");
    char c = peekc(R);
    if (c == '.') {
        R->i++;
        struct node *x = nn(R, N_ANY);
        if (x)
            x->nl = true;
        return x;
    }
    if (c == '#') {
        R->i++;
        return nn(R, N_FAIL);
    }
    if (c == '@') {
        R->i++;
        return nn(R, N_ANYSTR);
    }
    if (c == '"') {
        R->i++;
        size_t st = R->i;
        while (more(R) && peekc(R) != '"')
            R->i++;
        if (!more(R))
            return rfail(R, "expected '\"'");
        size_t en = R->i;
        R->i++;
        struct node *e = nn(R, N_EMPTY);
        for (size_t k = st; e && k < en;) {
            size_t l;
            uint32_t cp = decode(R->s, en, k, &l);
            k += l;
            e = bin(R, N_CAT, e, char_node(R, cp));
        }
        return e;
    }
    if (c == '(') {
        R->i++;
        if (peekc(R) == ')') {
            R->i++;
            return nn(R, N_EMPTY);
        }
        struct node *e = l_union(R);
        if (e && peekc(R) != ')')
            return rfail(R, "expected ')'");
        R->i++;
        return e;
    }
    if (c == '<') {
        size_t save = R->i;
        R->i++;
        int64_t lo, hi;
        if (parse_int(R, &lo) && peekc(R) == '-' && (R->i++, parse_int(R, &hi)) &&
            peekc(R) == '>') {
            R->i++;
            struct node *x = nn(R, N_NUMRANGE);
            if (x) {
                x->lo = lo < hi ? lo : hi;
                x->hi = lo < hi ? hi : lo;
            }
            return x;
        }
        R->i = save;
        return rfail(R, "bad numeric interval <n-m>");
    }
    if (c == '\\') {
        R->i++;
        if (!more(R))
            return rfail(R, "pattern ends with '\\'");
        char d = peekc(R);
        if (d && strchr("dDsSwW", d)) {
            R->i++;
            return class_node(R, d);
        }
        if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z'))
            return rfail(R, "invalid escape (\\ before a letter other than d D s S w W)");
        return char_node(R, next_cp(R));
    }
    return char_node(R, next_cp(R));
}

static struct node *l_compl(struct rp *R)
{
    if (peekc(R) == '~') {
        R->i++;
        if (++R->depth > RE_MAX_DEPTH)
            return rfail(R, "pattern nested too deeply");
        struct node *a = l_compl(R);
        R->depth--;
        if (!a)
            return NULL;
        struct node *x = nn(R, N_COMPL);
        if (x)
            x->a = a;
        return x;
    }
    if (peekc(R) == '[') {
        R->i++;
        return parse_class(R);
    }
    return l_simple(R);
}

static struct node *l_concat(struct rp *R)
{
    struct node *e = quantify(R, l_compl(R));
    while (e && more(R) && peekc(R) != ')' && peekc(R) != '|' && peekc(R) != '&')
        e = bin(R, N_CAT, e, quantify(R, l_compl(R)));
    return e;
}

static struct node *l_inter(struct rp *R)
{
    struct node *e = l_concat(R);
    if (e && peekc(R) == '&') {
        R->i++;
        if (++R->depth > RE_MAX_DEPTH)
            return rfail(R, "pattern nested too deeply");
        e = bin(R, N_INTER, e, l_inter(R));
        R->depth--;
    }
    return e;
}

static struct node *l_union(struct rp *R)
{
    if (++R->depth > RE_MAX_DEPTH)
        return rfail(R, "pattern nested too deeply");
    struct node *e = l_inter(R);
    if (e && peekc(R) == '|') {
        R->i++;
        e = bin(R, N_ALT, e, l_union(R));
    }
    R->depth--;
    return e;
}

/* ---- compile ----------------------------------------------------------------------------- */

struct cp {
    struct rp *R;
    KX_VEC(struct sub) subs;
    bool failed;
};

struct emitter {
    KX_VEC(struct ins) v;
};

static uint32_t emit(struct cp *C, struct emitter *E, uint8_t op, uint32_t x, uint32_t y)
{
    if (E->v.len >= RE_MAX_INS) {
        if (!C->failed)
            rfail(C->R, "pattern too complex");
        C->failed = true;
        return 0;
    }
    KX_VEC_PUSH(&E->v, ((struct ins){op, x, y, 0, 0}));
    return (uint32_t)E->v.len - 1;
}

static uint32_t new_sub(struct cp *C, const struct node *n);

static void gen(struct cp *C, struct emitter *E, const struct node *n)
{
    if (C->failed)
        return;
    switch (n->kind) {
    case N_EMPTY: break;
    case N_CHAR: emit(C, E, I_CHAR, n->c, 0); break;
    case N_ANY: emit(C, E, n->nl ? I_ANYNL : I_ANY, 0, 0); break;
    case N_CLASS: emit(C, E, I_CLASS, n->c, 0); break;
    case N_FAIL: emit(C, E, I_FAIL, 0, 0); break;
    case N_ANYSTR: emit(C, E, I_ANYSTR, 0, 0); break;
    case N_ASSERT: emit(C, E, (uint8_t)n->c, 0, 0); break;
    case N_CAT:
        gen(C, E, n->a);
        gen(C, E, n->b);
        break;
    case N_ALT: {
        uint32_t s = emit(C, E, I_SPLIT, 0, 0);
        gen(C, E, n->a);
        uint32_t j = emit(C, E, I_JMP, 0, 0);
        uint32_t b = (uint32_t)E->v.len;
        gen(C, E, n->b);
        if (C->failed)
            return;
        E->v.ptr[s].x = s + 1;
        E->v.ptr[s].y = b;
        E->v.ptr[j].x = (uint32_t)E->v.len;
        break;
    }
    case N_GROUP:
        emit(C, E, I_SAVE, 2 * n->c, 0);
        gen(C, E, n->a);
        emit(C, E, I_SAVE, 2 * n->c + 1, 0);
        break;
    case N_REP: {
        for (int32_t k = 0; k < n->min && !C->failed; k++)
            gen(C, E, n->a);
        if (n->max < 0) {
            uint32_t s = emit(C, E, I_SPLIT, 0, 0);
            size_t body = E->v.len;
            gen(C, E, n->a);
            emit(C, E, I_JMP, s, 0);
            if (C->failed)
                return;
            uint32_t after = (uint32_t)E->v.len;
            E->v.ptr[s].x = n->greedy ? (uint32_t)body : after;
            E->v.ptr[s].y = n->greedy ? after : (uint32_t)body;
        } else {
            uint32_t opt = (uint32_t)(n->max - n->min);
            KX_VEC(uint32_t) fix = {0};
            for (uint32_t k = 0; k < opt && !C->failed; k++) {
                uint32_t s = emit(C, E, I_SPLIT, 0, 0);
                KX_VEC_PUSH(&fix, s);
                gen(C, E, n->a);
            }
            if (!C->failed) {
                uint32_t after = (uint32_t)E->v.len;
                for (size_t k = 0; k < fix.len; k++) {
                    struct ins *in = &E->v.ptr[fix.ptr[k]];
                    in->x = n->greedy ? fix.ptr[k] + 1 : after;
                    in->y = n->greedy ? after : fix.ptr[k] + 1;
                }
            }
            KX_VEC_FREE(&fix);
        }
        break;
    }
    case N_ATOMIC: emit(C, E, I_ATOMIC, new_sub(C, n->a), 0); break;
    case N_LOOK:
        emit(C, E, n->behind ? (n->neg ? I_NBEHIND : I_BEHIND) : (n->neg ? I_NAHEAD : I_AHEAD),
             new_sub(C, n->a), 0);
        break;
    case N_INTER: {
        uint32_t a = new_sub(C, n->a);
        uint32_t b = new_sub(C, n->b);
        emit(C, E, I_INTER, a, b);
        break;
    }
    case N_COMPL: emit(C, E, I_COMPL, new_sub(C, n->a), 0); break;
    case N_NUMRANGE: {
        uint32_t k = emit(C, E, I_NUMRANGE, 0, 0);
        if (!C->failed) {
            E->v.ptr[k].lo = n->lo;
            E->v.ptr[k].hi = n->hi;
        }
        break;
    }
    }
}

static uint32_t new_sub(struct cp *C, const struct node *n)
{
    KX_VEC_PUSH(&C->subs, ((struct sub){NULL, 0}));
    uint32_t id = (uint32_t)C->subs.len - 1;
    struct emitter E = {0};
    gen(C, &E, n);
    emit(C, &E, I_MATCH, 0, 0);
    C->subs.ptr[id].ins =
        E.v.len ? kx_arena_memdup(C->R->ar, E.v.ptr, E.v.len * sizeof *E.v.ptr) : NULL;
    C->subs.ptr[id].n = (uint32_t)E.v.len;
    if (!C->subs.ptr[id].ins && !C->failed) {
        rfail(C->R, "pattern too large");
        C->failed = true;
    }
    KX_VEC_FREE(&E.v);
    return id;
}

struct re_prog *esql_re_compile(kx_arena *a, const char *pat, size_t len, int dialect, char *msg,
                                size_t msgcap, size_t *errpos)
{
    struct rp R = {.ar = a, .s = pat, .n = len, .dialect = dialect, .msg = msg, .cap = msgcap};
    struct node *root = dialect == RE_LUCENE ? l_union(&R) : j_alt(&R);
    if (root && more(&R))
        rfail(&R, peekc(&R) == ')' ? "unmatched ')'" : "unexpected character");
    struct re_prog *p = NULL;
    if (!R.failed) {
        struct cp C = {.R = &R};
        if (dialect != RE_LUCENE) {
            struct node *g = nn(&R, N_GROUP);
            if (g) {
                g->a = root;
                g->c = 0;
                root = g;
            }
        }
        new_sub(&C, root);
        if (!R.failed) {
            p = kx_arena_zalloc(a, sizeof *p);
            if (p) {
                p->nsub = (uint32_t)C.subs.len;
                p->sub = kx_arena_memdup(a, C.subs.ptr, C.subs.len * sizeof *C.subs.ptr);
                p->ncls = (uint32_t)R.cls.len;
                p->cls =
                    R.cls.len ? kx_arena_memdup(a, R.cls.ptr, R.cls.len * sizeof *R.cls.ptr) : NULL;
                p->ncap = R.ncap + 1;
                p->names = R.names.len
                               ? kx_arena_memdup(a, R.names.ptr, R.names.len * sizeof *R.names.ptr)
                               : NULL;
                p->dialect = dialect;
                if (!p->sub)
                    p = NULL;
            }
        }
        KX_VEC_FREE(&C.subs);
    }
    if (errpos)
        *errpos = R.errpos;
    KX_VEC_FREE(&R.cls);
    KX_VEC_FREE(&R.names);
    return p;
}

uint32_t esql_re_ncaps(const struct re_prog *p) { return p->ncap; }
const char *esql_re_capname(const struct re_prog *p, uint32_t k)
{
    return k >= 1 && k < p->ncap && p->names ? p->names[k - 1] : NULL;
}

/* ---- matcher ------------------------------------------------------------------------------ */

enum { MODE_FIRST, MODE_EXACT, MODE_ALL };

struct mt {
    const struct re_prog *p;
    const char *s;
    size_t n;
    long *caps; /* may be NULL */
    long budget;
    bool oob;
};

struct frame {
    uint32_t pc;
    long pos; /* restore: -1 - slot */
    long old;
};

static bool is_word_at(const char *s, size_t n, long i)
{
    if (i < 0 || (size_t)i >= n)
        return false;
    char c = s[i];
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool class_has(const struct cls *c, uint32_t cp)
{
    bool in = false;
    for (uint32_t i = 0; i < c->n && !in; i++)
        in = cp >= c->r[i].lo && cp <= c->r[i].hi;
    return in != c->neg;
}

/* Previous code point boundary. */
static long prev_pos(const char *s, long i)
{
    i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static int run(struct mt *M, uint32_t sub, long start, int mode, long want, long *end,
               uint8_t *ends, uint8_t *memo_in);

/* Push candidate positions (ascending preference order reversed onto the stack). */
struct framevec {
    KX_VEC(struct frame) v;
};
static void push_frame(void *sp, uint32_t pc, long pos, long old)
{
    struct framevec *st = sp;
    KX_VEC_PUSH(&st->v, ((struct frame){pc, pos, old}));
}

static int run(struct mt *M, uint32_t sub, long start, int mode, long want, long *end,
               uint8_t *ends, uint8_t *memo_in)
{
    const struct sub *S = &M->p->sub[sub];
    size_t n = M->n;
    const char *s = M->s;
    size_t cells = (size_t)S->n * (n + 1);
    uint8_t *memo = memo_in;
    bool own = false;
    if (!memo && cells / 8 < (4u << 20)) {
        memo = kx_calloc(cells / 8 + 1, 1);
        own = true;
    }
    KX_VEC(struct frame) st = {0};
    push_frame((void *)&st, 0, start, 0);
    int result = 0;
    while (st.len) {
        struct frame f = st.ptr[--st.len];
        if (f.pos < 0) {
            if (M->caps)
                M->caps[-1 - f.pos] = f.old;
            continue;
        }
        uint32_t pc = f.pc;
        long pos = f.pos;
        for (;;) {
            if (--M->budget < 0) {
                M->oob = true;
                result = -1;
                goto done;
            }
            if (memo) {
                size_t bit = (size_t)pc * (n + 1) + (size_t)pos;
                if (memo[bit >> 3] & (1u << (bit & 7)))
                    break;
                memo[bit >> 3] |= (uint8_t)(1u << (bit & 7));
            }
            const struct ins *I = &S->ins[pc];
            size_t l = 0;
            uint32_t cp = 0;
            if ((size_t)pos < n)
                cp = decode(s, n, (size_t)pos, &l);
            switch (I->op) {
            case I_CHAR:
                if ((size_t)pos >= n || cp != I->x)
                    goto fail;
                pos += (long)l;
                pc++;
                continue;
            case I_ANY:
                if ((size_t)pos >= n || cp == '\n' ||
                    (M->p->dialect == RE_JAVA &&
                     (cp == '\r' || cp == 0x85 || cp == 0x2028 || cp == 0x2029)))
                    goto fail;
                pos += (long)l;
                pc++;
                continue;
            case I_ANYNL:
                if ((size_t)pos >= n)
                    goto fail;
                pos += (long)l;
                pc++;
                continue;
            case I_CLASS:
                if ((size_t)pos >= n || !class_has(&M->p->cls[I->x], cp))
                    goto fail;
                pos += (long)l;
                pc++;
                continue;
            case I_SPLIT:
                push_frame((void *)&st, I->y, pos, 0);
                pc = I->x;
                continue;
            case I_JMP: pc = I->x; continue;
            case I_SAVE:
                if (M->caps) {
                    push_frame((void *)&st, 0, -1 - (long)I->x, M->caps[I->x]);
                    M->caps[I->x] = pos;
                }
                pc++;
                continue;
            case I_FAIL: goto fail;
            case I_BOL:
                if (pos != 0 && s[pos - 1] != '\n')
                    goto fail;
                pc++;
                continue;
            case I_EOL:
                if ((size_t)pos != n && s[pos] != '\n')
                    goto fail;
                pc++;
                continue;
            case I_BEGIN:
                if (pos != 0)
                    goto fail;
                pc++;
                continue;
            case I_END:
                if ((size_t)pos != n)
                    goto fail;
                pc++;
                continue;
            case I_ENDNL:
                if (!((size_t)pos == n || ((size_t)pos == n - 1 && s[pos] == '\n')))
                    goto fail;
                pc++;
                continue;
            case I_WORDB:
            case I_NWORDB: {
                bool b = is_word_at(s, n, pos - 1) != is_word_at(s, n, pos);
                if (b != (I->op == I_WORDB))
                    goto fail;
                pc++;
                continue;
            }
            case I_ATOMIC:
            case I_AHEAD:
            case I_NAHEAD: {
                long e2;
                int r = run(M, I->x, pos, MODE_FIRST, 0, &e2, NULL, NULL);
                if (r < 0) {
                    result = -1;
                    goto done;
                }
                if (I->op == I_NAHEAD ? r : !r)
                    goto fail;
                if (I->op == I_ATOMIC)
                    pos = e2;
                pc++;
                continue;
            }
            case I_BEHIND:
            case I_NBEHIND: {
                bool found = false;
                long k = pos;
                for (int steps = 0; steps <= RE_LOOKBEHIND_MAX && !found; steps++) {
                    long e2;
                    int r = run(M, I->x, k, MODE_EXACT, pos, &e2, NULL, NULL);
                    if (r < 0) {
                        result = -1;
                        goto done;
                    }
                    found = r == 1;
                    if (k == 0)
                        break;
                    k = prev_pos(s, k);
                }
                if (found != (I->op == I_BEHIND))
                    goto fail;
                pc++;
                continue;
            }
            case I_INTER:
            case I_COMPL:
            case I_ANYSTR:
            case I_NUMRANGE: {
                /* candidate ends, pushed so that the longest is tried first */
                uint8_t *cand = kx_calloc(n + 2, 1);
                if (I->op == I_INTER) {
                    long e2;
                    if (run(M, I->x, pos, MODE_ALL, 0, &e2, cand, NULL) < 0) {
                        kx_free(cand);
                        result = -1;
                        goto done;
                    }
                    for (size_t j = (size_t)pos; j <= n; j++)
                        if (cand[j]) {
                            int r = run(M, I->y, pos, MODE_EXACT, (long)j, &e2, NULL, NULL);
                            if (r < 0) {
                                kx_free(cand);
                                result = -1;
                                goto done;
                            }
                            cand[j] = (uint8_t)r;
                        }
                } else if (I->op == I_COMPL) {
                    for (size_t j = (size_t)pos; j <= n; j++) {
                        if (j < n && ((unsigned char)s[j] & 0xC0) == 0x80)
                            continue;
                        long e2;
                        int r = run(M, I->x, pos, MODE_EXACT, (long)j, &e2, NULL, NULL);
                        if (r < 0) {
                            kx_free(cand);
                            result = -1;
                            goto done;
                        }
                        cand[j] = !r;
                    }
                } else if (I->op == I_ANYSTR) {
                    for (size_t j = (size_t)pos; j <= n; j++)
                        cand[j] = j == n || ((unsigned char)s[j] & 0xC0) != 0x80;
                } else {
                    int64_t v = 0;
                    for (size_t j = (size_t)pos; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
                        v = v * 10 + (s[j] - '0');
                        if (v > I->hi && v > 0)
                            break;
                        cand[j + 1] = v >= I->lo && v <= I->hi;
                    }
                }
                for (size_t j = (size_t)pos; j <= n; j++)
                    if (cand[j])
                        push_frame((void *)&st, pc + 1, (long)j, 0);
                kx_free(cand);
                goto fail;
            }
            case I_MATCH:
                if (mode == MODE_FIRST) {
                    *end = pos;
                    result = 1;
                    goto done;
                }
                if (mode == MODE_EXACT) {
                    if (pos == want) {
                        *end = pos;
                        result = 1;
                        goto done;
                    }
                    goto fail;
                }
                ends[pos] = 1;
                result = 1;
                goto fail;
            }
        fail:
            break;
        }
    }
done:
    KX_VEC_FREE(&st);
    if (own)
        kx_free(memo);
    return result;
}

int esql_re_full(const struct re_prog *p, const char *s, size_t n)
{
    struct mt M = {p, s, n, NULL, RE_BUDGET, false};
    long e;
    return run(&M, 0, 0, MODE_EXACT, (long)n, &e, NULL, NULL);
}

int esql_re_search(const struct re_prog *p, const char *s, size_t n, size_t from, long *caps)
{
    struct mt M = {p, s, n, caps, RE_BUDGET, false};
    size_t cells = (size_t)p->sub[0].n * (n + 1);
    uint8_t *memo = cells / 8 < (4u << 20) ? kx_calloc(cells / 8 + 1, 1) : NULL;
    int r = 0;
    for (size_t st = from; st <= n; st++) {
        if (st < n && ((unsigned char)s[st] & 0xC0) == 0x80)
            continue;
        for (uint32_t k = 0; k < 2 * p->ncap; k++)
            caps[k] = -1;
        long e;
        r = run(&M, 0, (long)st, MODE_FIRST, 0, &e, NULL, memo);
        if (r != 0)
            break;
    }
    kx_free(memo);
    return r;
}

/*
 * eql_lex.c - EQL's tokens (docs/internals/eql.md "Lexer"): whitespace and comments (block
 * comments nest), lowercase keywords, identifiers, `backquoted` identifiers, name~ function
 * names, double-quoted strings with their escapes, """raw""" strings, integers and decimals.
 * Single-quoted and ?"..." strings are lexed as ET_BADSTR so that the parser can reject them
 * with a precise message.
 */
#include "eql.h"

#include "base/err.h"
#include "base/str.h"
#include "base/vec.h"
#include <stdio.h>
#include <string.h>

static const struct {
    const char *w;
    uint8_t t;
} keywords[] = {
    {"and", ET_AND},     {"any", ET_ANY},         {"by", ET_BY},
    {"false", ET_FALSE}, {"in", ET_IN},           {"join", ET_JOIN},
    {"like", ET_LIKE},   {"maxspan", ET_MAXSPAN}, {"not", ET_NOT},
    {"null", ET_NULL},   {"of", ET_OF},           {"or", ET_OR},
    {"regex", ET_REGEX}, {"sample", ET_SAMPLE},   {"sequence", ET_SEQUENCE},
    {"true", ET_TRUE},   {"until", ET_UNTIL},     {"where", ET_WHERE},
    {"with", ET_WITH},
};

const char *eql_tok_name(int t)
{
    static const char *const names[] = {
        [ET_EOF] = "end of input",  [ET_IDENT] = "identifier",
        [ET_QIDENT] = "identifier", [ET_TIDENT] = "function name",
        [ET_STRING] = "string",     [ET_BADSTR] = "string",
        [ET_INT] = "number",        [ET_DEC] = "number",
        [ET_AND] = "'and'",         [ET_ANY] = "'any'",
        [ET_BY] = "'by'",           [ET_FALSE] = "'false'",
        [ET_IN] = "'in'",           [ET_INI] = "'in~'",
        [ET_JOIN] = "'join'",       [ET_LIKE] = "'like'",
        [ET_LIKEI] = "'like~'",     [ET_MAXSPAN] = "'maxspan'",
        [ET_NOT] = "'not'",         [ET_NULL] = "'null'",
        [ET_OF] = "'of'",           [ET_OR] = "'or'",
        [ET_REGEX] = "'regex'",     [ET_REGEXI] = "'regex~'",
        [ET_SAMPLE] = "'sample'",   [ET_SEQUENCE] = "'sequence'",
        [ET_TRUE] = "'true'",       [ET_UNTIL] = "'until'",
        [ET_WHERE] = "'where'",     [ET_WITH] = "'with'",
        [ET_COLON] = "':'",         [ET_EQ] = "'=='",
        [ET_NE] = "'!='",           [ET_LT] = "'<'",
        [ET_LE] = "'<='",           [ET_GT] = "'>'",
        [ET_GE] = "'>='",           [ET_PLUS] = "'+'",
        [ET_MINUS] = "'-'",         [ET_STAR] = "'*'",
        [ET_SLASH] = "'/'",         [ET_PCT] = "'%'",
        [ET_DOT] = "'.'",           [ET_COMMA] = "','",
        [ET_LBRACK] = "'['",        [ET_RBRACK] = "']'",
        [ET_LPAREN] = "'('",        [ET_RPAREN] = "')'",
        [ET_PIPE] = "'|'",          [ET_QMARK] = "'?'",
        [ET_MISSING] = "'!['",      [ET_ASSIGN] = "'='",
    };
    return t >= 0 && t <= ET_ASSIGN && names[t] ? names[t] : "token";
}

int eql_verr(kad_err *err, int code, const char *origin, const char *src, size_t len, size_t at,
             const char *fmt, va_list ap)
{
    char m[KAD_ERR_MSG_MAX];
    vsnprintf(m, sizeof m, fmt, ap);
    return kx_err_at(err, code, origin, src, len, at, "%s", m);
}

struct lx {
    kx_arena *a;
    const char *s;
    size_t len, i;
    const char *origin;
    kad_err *err;
};

static int fail(struct lx *L, size_t at, const char *fmt, const char *arg)
{
    return kx_err_at(L->err, KAD_ESYNTAX, L->origin, L->s, L->len, at, fmt, arg);
}

static bool is_id0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_id(char c) { return is_id0(c) || (c >= '0' && c <= '9'); }
static bool is_dig(char c) { return c >= '0' && c <= '9'; }

/* Whitespace and comments; KAD_OK or an error for an unterminated block comment. */
static int skip_space(struct lx *L)
{
    for (;;) {
        char c = L->i < L->len ? L->s[L->i] : 0;
        if (L->i < L->len && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
            L->i++;
        } else if (c == '/' && L->i + 1 < L->len && L->s[L->i + 1] == '/') {
            while (L->i < L->len && L->s[L->i] != '\n')
                L->i++;
        } else if (c == '/' && L->i + 1 < L->len && L->s[L->i + 1] == '*') {
            size_t start = L->i, depth = 0;
            while (L->i < L->len) {
                if (L->s[L->i] == '/' && L->i + 1 < L->len && L->s[L->i + 1] == '*') {
                    depth++;
                    L->i += 2;
                } else if (L->s[L->i] == '*' && L->i + 1 < L->len && L->s[L->i + 1] == '/') {
                    L->i += 2;
                    if (--depth == 0)
                        break;
                } else {
                    L->i++;
                }
            }
            if (depth)
                return fail(L, start, "unterminated comment%s", "");
        } else {
            return KAD_OK;
        }
    }
}

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

/* "..." at L->i: decode into the token. */
static int lex_string(struct lx *L, struct eql_token *t)
{
    size_t start = L->i;
    if (L->i + 2 < L->len && L->s[L->i + 1] == '"' && L->s[L->i + 2] == '"') {
        /* raw string: up to the first """ on the same line, plus up to two more quotes */
        size_t j = L->i + 3;
        while (j + 2 < L->len && !(L->s[j] == '"' && L->s[j + 1] == '"' && L->s[j + 2] == '"')) {
            if (L->s[j] == '\n' || L->s[j] == '\r')
                return fail(L, start,
                            "unterminated raw string (\"\"\"...\"\"\" must be on one line)%s", "");
            j++;
        }
        if (j + 2 >= L->len)
            return fail(L, start, "unterminated raw string%s", "");
        size_t end = j + 3;
        for (int k = 0; k < 2 && end < L->len && L->s[end] == '"'; k++)
            end++;
        t->t = ET_STRING;
        t->s = kx_arena_strndup(L->a, L->s + start + 3, end - start - 6);
        t->len = end - start - 6;
        L->i = end;
        return t->s ? KAD_OK
                    : kx_err_at(L->err, KAD_ELIMIT, L->origin, L->s, L->len, start,
                                "query too large for the rule arena");
    }
    char *out = kx_arena_alloc(L->a, L->len - L->i + 1);
    if (!out)
        return kx_err_at(L->err, KAD_ELIMIT, L->origin, L->s, L->len, start,
                         "query too large for the rule arena");
    size_t o = 0, j = L->i + 1;
    for (;;) {
        if (j >= L->len || L->s[j] == '\n' || L->s[j] == '\r')
            return fail(L, start, "unterminated string%s", "");
        char c = L->s[j];
        if (c == '"')
            break;
        if (c != '\\') {
            out[o++] = c;
            j++;
            continue;
        }
        if (j + 1 >= L->len)
            return fail(L, start, "unterminated string%s", "");
        char e = L->s[j + 1];
        const char *map = strchr("btnfr\"'\\", e);
        if (e && map) {
            static const char val[] = "\b\t\n\f\r\"'\\";
            out[o++] = val[map - "btnfr\"'\\"];
            j += 2;
            continue;
        }
        if (e == 'u' && j + 2 < L->len && L->s[j + 2] == '{') {
            size_t k = j + 3;
            uint32_t cp = 0;
            int nd = 0;
            while (k < L->len && hexval(L->s[k]) >= 0 && nd < 9) {
                cp = cp * 16 + (uint32_t)hexval(L->s[k]);
                k++;
                nd++;
            }
            if (k >= L->len || L->s[k] != '}' || nd < 2 || nd > 8)
                return fail(L, j, "invalid unicode escape: \\u{...} takes 2 to 8 hex digits%s", "");
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return fail(L, j, "invalid unicode code point in escape%s", "");
            o += (size_t)kx_utf8_encode(cp, out + o);
            j = k + 1;
            continue;
        }
        char esc[3] = {'\\', e, 0};
        return fail(L, j, "illegal escape sequence '%s' in string", esc);
    }
    out[o] = 0;
    t->t = ET_STRING;
    t->s = out;
    t->len = o;
    L->i = j + 1;
    return KAD_OK;
}

/* 'single' or ?"..." strings: skipped so that the parser rejects them. */
static void skip_bad_string(struct lx *L, char q)
{
    size_t j = L->i + 1;
    while (j < L->len && L->s[j] != q && L->s[j] != '\n') {
        if (L->s[j] == '\\' && j + 1 < L->len)
            j++;
        j++;
    }
    L->i = j < L->len && L->s[j] == q ? j + 1 : j;
}

static int lex_one(struct lx *L, struct eql_token *t)
{
    const char *s = L->s;
    size_t i = L->i, n = L->len;
    char c = s[i], d = i + 1 < n ? s[i + 1] : 0;
    t->pos = (uint32_t)i;
    if (is_id0(c) || c == '@') {
        size_t j = i + 1;
        while (j < n && is_id(s[j]))
            j++;
        for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
            if (strlen(keywords[k].w) == j - i && memcmp(keywords[k].w, s + i, j - i) == 0) {
                t->t = keywords[k].t;
                if (j < n && s[j] == '~' &&
                    (t->t == ET_IN || t->t == ET_LIKE || t->t == ET_REGEX)) {
                    t->t = t->t == ET_IN ? ET_INI : t->t == ET_LIKE ? ET_LIKEI : ET_REGEXI;
                    j++;
                }
                L->i = j;
                return KAD_OK;
            }
        }
        t->t = ET_IDENT;
        t->s = kx_arena_strndup(L->a, s + i, j - i);
        t->len = j - i;
        if (j < n && s[j] == '~' && c != '@' && c != '_') {
            t->t = ET_TIDENT;
            j++;
        }
        L->i = j;
        return t->s ? KAD_OK
                    : kx_err_at(L->err, KAD_ELIMIT, L->origin, s, n, i,
                                "query too large for the rule arena");
    }
    if (is_dig(c) || (c == '.' && is_dig(d))) {
        size_t j = i;
        bool dec = false;
        while (j < n && is_dig(s[j]))
            j++;
        if (j < n && s[j] == '.') {
            dec = true;
            j++;
            while (j < n && is_dig(s[j]))
                j++;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (s[k] == '+' || s[k] == '-'))
                k++;
            if (k < n && is_dig(s[k])) {
                dec = true;
                j = k;
                while (j < n && is_dig(s[j]))
                    j++;
            }
        }
        t->t = dec ? ET_DEC : ET_INT;
        t->s = kx_arena_strndup(L->a, s + i, j - i);
        t->len = j - i;
        L->i = j;
        return t->s ? KAD_OK
                    : kx_err_at(L->err, KAD_ELIMIT, L->origin, s, n, i,
                                "query too large for the rule arena");
    }
    if (c == '`') {
        char *out = kx_arena_alloc(L->a, n - i + 1);
        if (!out)
            return kx_err_at(L->err, KAD_ELIMIT, L->origin, s, n, i,
                             "query too large for the rule arena");
        size_t o = 0, j = i + 1;
        for (;;) {
            if (j >= n)
                return fail(L, i, "unterminated backquoted identifier%s", "");
            if (s[j] == '`') {
                if (j + 1 < n && s[j + 1] == '`') {
                    out[o++] = '`';
                    j += 2;
                    continue;
                }
                break;
            }
            out[o++] = s[j++];
        }
        if (o == 0)
            return fail(L, i, "empty backquoted identifier%s", "");
        out[o] = 0;
        t->t = ET_QIDENT;
        t->s = out;
        t->len = o;
        L->i = j + 1;
        return KAD_OK;
    }
    if (c == '"')
        return lex_string(L, t);
    if (c == '\'' || (c == '?' && (d == '"' || d == '\''))) {
        L->i = c == '?' ? i + 1 : i;
        skip_bad_string(L, c == '?' ? d : c);
        t->t = ET_BADSTR;
        return KAD_OK;
    }
    static const struct {
        const char *p;
        uint8_t t;
    } punct[] = {
        {"==", ET_EQ},    {"!=", ET_NE},    {"<=", ET_LE},    {">=", ET_GE},    {"![", ET_MISSING},
        {":", ET_COLON},  {"<", ET_LT},     {">", ET_GT},     {"+", ET_PLUS},   {"-", ET_MINUS},
        {"*", ET_STAR},   {"/", ET_SLASH},  {"%", ET_PCT},    {".", ET_DOT},    {",", ET_COMMA},
        {"[", ET_LBRACK}, {"]", ET_RBRACK}, {"(", ET_LPAREN}, {")", ET_RPAREN}, {"|", ET_PIPE},
        {"?", ET_QMARK},  {"=", ET_ASSIGN},
    };
    for (size_t k = 0; k < sizeof punct / sizeof punct[0]; k++) {
        size_t pl = strlen(punct[k].p);
        if (i + pl <= n && memcmp(s + i, punct[k].p, pl) == 0) {
            t->t = punct[k].t;
            L->i = i + pl;
            return KAD_OK;
        }
    }
    char ch[8] = {0};
    size_t cl = 1;
    while (i + cl < n && cl < 4 && ((unsigned char)s[i + cl] & 0xC0) == 0x80)
        cl++;
    memcpy(ch, s + i, cl);
    if (c == '!')
        return fail(L, i, "unexpected '!': use '!=' or 'not'%s", "");
    return fail(L, i, "unexpected character '%s'", ch);
}

int eql_lex(kx_arena *a, const char *src, size_t len, const char *origin, struct eql_token **toks,
            size_t *ntoks, kad_err *err)
{
    struct lx L = {.a = a, .s = src, .len = len, .origin = origin, .err = err};
    KX_VEC(struct eql_token) v = {0};
    int rc;
    for (;;) {
        if ((rc = skip_space(&L)) != KAD_OK)
            goto out;
        struct eql_token t = {0};
        if (L.i >= len) {
            t.t = ET_EOF;
            t.pos = t.end = (uint32_t)len;
            KX_VEC_PUSH(&v, t);
            break;
        }
        if ((rc = lex_one(&L, &t)) != KAD_OK)
            goto out;
        t.end = (uint32_t)L.i;
        KX_VEC_PUSH(&v, t);
    }
    *toks = kx_arena_memdup(a, v.ptr, v.len * sizeof *v.ptr);
    *ntoks = v.len;
    rc = *toks ? KAD_OK
               : kx_err_at(err, KAD_ELIMIT, origin, src, len, 0,
                           "query too large for the rule arena");
out:
    KX_VEC_FREE(&v);
    return rc;
}

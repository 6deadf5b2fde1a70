/*
 * esql_lex.c - ES|QL tokens. The lexer is modal, as Elasticsearch's: after FROM it reads index
 * patterns, after KEEP/DROP/RENAME name patterns (with '*'), elsewhere expressions. The parser
 * asks for one token at a byte position in the mode it is in; there is no token stream.
 *
 * Comments (`// ...` and nesting `/ * ... * /`) and whitespace separate tokens in every mode.
 * Strings: "..." with the escapes \t \n \r \" \\ only and no raw line breaks; """...""" raw,
 * on one line, and up to two more '"' after the closing """ belong to the value.
 */
#include "esql/esql_int.h"

#include "base/err.h"

#include <string.h>

static bool fail(struct lexer *lx, size_t pos, const char *msg)
{
    if (!lx->failed)
        kx_err_at(lx->err, KAD_ESYNTAX, lx->origin, lx->s, lx->len, pos, "%s", msg);
    lx->failed = true;
    return false;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_idc(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

/* Skip whitespace and comments; false on an unterminated block comment. */
static bool skip_space(struct lexer *lx, size_t *pos)
{
    const char *s = lx->s;
    size_t i = *pos, n = lx->len;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
            i++;
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
            while (i < n && s[i] != '\n' && s[i] != '\r')
                i++;
            continue;
        }
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            size_t start = i, depth = 0;
            while (i < n) {
                if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (i + 1 < n && s[i] == '*' && s[i + 1] == '/') {
                    i += 2;
                    if (--depth == 0)
                        break;
                } else {
                    i++;
                }
            }
            if (depth)
                return fail(lx, start, "unterminated comment");
            continue;
        }
        break;
    }
    *pos = i;
    return true;
}

static bool lex_string(struct lexer *lx, size_t *pos, struct tok *t)
{
    const char *s = lx->s;
    size_t i = *pos, n = lx->len;
    if (i + 2 < n && s[i + 1] == '"' && s[i + 2] == '"') { /* """raw""" */
        size_t b = i + 3, j = b;
        while (j + 2 < n && !(s[j] == '"' && s[j + 1] == '"' && s[j + 2] == '"')) {
            if (s[j] == '\r' || s[j] == '\n')
                return fail(lx, j, "line break inside a \"\"\" string");
            j++;
        }
        if (j + 2 >= n)
            return fail(lx, i, "unterminated \"\"\" string");
        size_t e = j;
        j += 3;
        for (int k = 0; k < 2 && j < n && s[j] == '"'; k++) {
            j++;
            e++;
        }
        t->text = kx_arena_strndup(lx->a, s + b, e - b);
        t->len = e - b;
        *pos = j;
        return t->text != NULL || fail(lx, i, "query too large");
    }
    char *out = kx_arena_alloc(lx->a, n - i + 1);
    if (!out)
        return fail(lx, i, "query too large");
    size_t o = 0, j = i + 1;
    for (;;) {
        if (j >= n)
            return fail(lx, i, "unterminated string");
        char c = s[j];
        if (c == '"')
            break;
        if (c == '\r' || c == '\n')
            return fail(lx, j, "line break inside a string (use \\n)");
        if (c == '\\') {
            char e = j + 1 < n ? s[j + 1] : 0;
            switch (e) {
            case 't': out[o++] = '\t'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case '"': out[o++] = '"'; break;
            case '\\': out[o++] = '\\'; break;
            default:
                return fail(lx, j,
                            "invalid escape sequence in a string (only \\t \\n \\r \\\" \\\\; "
                            "use \"\"\"...\"\"\" for regular expressions)");
            }
            j += 2;
            continue;
        }
        out[o++] = c;
        j++;
    }
    out[o] = 0;
    t->text = out;
    t->len = o;
    *pos = j + 1;
    return true;
}

/* One part of a name: unquoted identifier or `quoted`; appends to b. */
static bool name_part(struct lexer *lx, size_t *pos, kx_buf *b, bool pattern, bool *quoted)
{
    const char *s = lx->s;
    size_t i = *pos, n = lx->len;
    if (i < n && s[i] == '`') {
        size_t j = i + 1;
        for (;;) {
            if (j >= n)
                return fail(lx, i, "unterminated `quoted` name");
            if (s[j] == '`') {
                if (j + 1 < n && s[j + 1] == '`') {
                    kx_buf_addc(b, '`');
                    j += 2;
                    continue;
                }
                break;
            }
            kx_buf_addc(b, s[j++]);
        }
        *quoted = true;
        *pos = j + 1;
        return true;
    }
    size_t j = i;
    if (pattern) {
        while (j < n && (is_idc(s[j]) || s[j] == '@' || s[j] == '*'))
            j++;
    } else if (j < n && is_alpha(s[j])) {
        while (j < n && is_idc(s[j]))
            j++;
    } else if (j < n && (s[j] == '_' || s[j] == '@')) {
        j++;
        while (j < n && is_idc(s[j]))
            j++;
        if (j == i + 1)
            return fail(lx, i, "a name needs a letter or digit after '_' or '@'");
    }
    if (j == i)
        return fail(lx, i, "expected a name");
    kx_buf_add(b, s + i, j - i);
    *pos = j;
    return true;
}

static bool part_start(const struct lexer *lx, size_t i, bool pattern)
{
    if (i >= lx->len)
        return false;
    char c = lx->s[i];
    return is_alpha(c) || c == '_' || c == '@' || c == '`' ||
           (pattern && (c == '*' || is_digit(c)));
}

static bool lex_name(struct lexer *lx, size_t *pos, struct tok *t, bool pattern)
{
    kx_buf b;
    kx_buf_init(&b, ESQL_MAX_LEN);
    bool quoted = false;
    size_t i = *pos;
    bool ok = name_part(lx, &i, &b, pattern, &quoted);
    while (ok && i + 1 < lx->len && lx->s[i] == '.' && part_start(lx, i + 1, pattern)) {
        kx_buf_addc(&b, '.');
        i++;
        ok = name_part(lx, &i, &b, pattern, &quoted);
    }
    if (ok) {
        t->text = kx_arena_strndup(lx->a, b.ptr ? b.ptr : "", b.len);
        t->len = b.len;
        t->quoted = quoted;
        t->kind = pattern && memchr(t->text, '*', t->len) ? T_PAT : T_IDENT;
        if (!t->text)
            ok = fail(lx, *pos, "query too large");
        if (ok && !t->len)
            ok = fail(lx, *pos, "empty name");
    }
    kx_buf_fini(&b);
    *pos = i;
    return ok;
}

bool esql_lex(struct lexer *lx, size_t *pos, int mode, struct tok *t)
{
    memset(t, 0, sizeof *t);
    if (!skip_space(lx, pos))
        return false;
    const char *s = lx->s;
    size_t i = *pos, n = lx->len;
    t->pos = (uint32_t)i;
    bool ok = true;
    if (i >= n) {
        t->kind = T_EOF;
        t->end = t->pos;
        return true;
    }
    char c = s[i], d = i + 1 < n ? s[i + 1] : 0;
    if (c == '|') {
        t->kind = T_PIPE;
        i++;
    } else if (c == ',') {
        t->kind = T_COMMA;
        i++;
    } else if (mode == M_SOURCE) {
        if (c == '"') {
            t->kind = T_PAT;
            ok = lex_string(lx, &i, t);
        } else {
            size_t j = i;
            while (j < n && !strchr(" \t\r\n,|\"`", s[j]) &&
                   !(s[j] == '/' && j + 1 < n && (s[j + 1] == '/' || s[j + 1] == '*')))
                j++;
            t->kind = T_PAT;
            t->text = kx_arena_strndup(lx->a, s + i, j - i);
            t->len = j - i;
            i = j;
        }
    } else if (part_start(lx, i, mode == M_PROJECT)) {
        ok = lex_name(lx, &i, t, mode == M_PROJECT);
    } else if (c == '"') {
        t->kind = T_STRING;
        ok = lex_string(lx, &i, t);
    } else if (is_digit(c) || (c == '.' && is_digit(d))) {
        size_t j = i;
        bool dec = false;
        while (j < n && is_digit(s[j]))
            j++;
        if (j < n && s[j] == '.' && !(j + 1 < n && (is_alpha(s[j + 1]) || s[j + 1] == '_'))) {
            dec = true;
            j++;
            while (j < n && is_digit(s[j]))
                j++;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (s[k] == '+' || s[k] == '-'))
                k++;
            if (k < n && is_digit(s[k])) {
                dec = true;
                j = k;
                while (j < n && is_digit(s[j]))
                    j++;
            }
        }
        t->kind = dec ? T_DEC : T_INT;
        t->text = kx_arena_strndup(lx->a, s + i, j - i);
        t->len = j - i;
        i = j;
    } else {
        static const struct {
            const char *op;
            uint8_t kind;
        } ops[] = {{"==", T_EQEQ},   {"!=", T_NEQ},   {"<=", T_LTE},   {">=", T_GTE},
                   {"::", T_CAST},   {"=", T_EQ},     {"<", T_LT},     {">", T_GT},
                   {"+", T_PLUS},    {"-", T_MINUS},  {"*", T_STAR},   {"/", T_SLASH},
                   {"%", T_PERCENT}, {"(", T_LPAREN}, {")", T_RPAREN}, {"[", T_LBRACK},
                   {"]", T_RBRACK},  {".", T_DOT},    {"?", T_PARAM}};
        t->kind = T_BAD;
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            size_t l = strlen(ops[k].op);
            if (i + l <= n && memcmp(s + i, ops[k].op, l) == 0) {
                t->kind = ops[k].kind;
                i += l;
                break;
            }
        }
        if (t->kind == T_BAD)
            i++;
    }
    if (!ok)
        return false;
    if (!t->text) {
        t->text = kx_arena_strndup(lx->a, s + t->pos, i - t->pos);
        t->len = i - t->pos;
    }
    t->end = (uint32_t)i;
    *pos = i;
    return true;
}

bool esql_tok_kw(const struct tok *t, const char *kw)
{
    if ((t->kind != T_IDENT && t->kind != T_PAT) || t->quoted)
        return false;
    return kx_str_eq_nocase((kx_str){t->text, t->len}, kx_str_c(kw));
}

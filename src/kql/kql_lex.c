/*
 * kql_lex.c - the character-level rules of Kibana's KQL grammar: Space, the keywords Or / And /
 * Not (also used as the `!Keyword` look-ahead inside unquoted literals), QuotedString and
 * UnquotedLiteral with all their escapes (docs/kql.md, docs/internals/kql.md).
 *
 * There is deliberately no tokenizer: whether `not` is a keyword depends on what follows it and
 * where it stands (`a:nothing`, `notes:x`, `a:can not` are plain text), so the parser calls these
 * functions at a byte position and backtracks like a PEG. They never record expectations: in the
 * grammar every literal sits inside a named rule (value, fieldName, literal), which is silent.
 *
 * The input has been checked to be valid UTF-8 before parsing. `\uXXXX` escapes give UTF-16 code
 * units; a high/low pair is joined into one UTF-8 character and a lone surrogate is kept as its
 * 3-byte (WTF-8) form, which no valid UTF-8 document value can equal.
 */
#include "kql.h"

#include <string.h>

size_t kql_lex_space(const struct kql_lex *lx, size_t pos)
{
    if (pos >= lx->len)
        return 0;
    unsigned char c = (unsigned char)lx->s[pos];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
        return 1;
    if (c == 0xC2 && pos + 1 < lx->len && (unsigned char)lx->s[pos + 1] == 0xA0)
        return 2;
    return 0;
}

/* End of the run of Space characters that starts at pos. Cached, so that scanning an unquoted
 * literal with many spaces (each of which asks "does ` or ` start here?") stays linear. */
static size_t space_run_end(struct kql_lex *lx, size_t pos)
{
    if (pos >= lx->run_start && pos < lx->run_end)
        return lx->run_end;
    size_t e = pos, n;
    while ((n = kql_lex_space(lx, e)) > 0)
        e += n;
    lx->run_start = pos;
    lx->run_end = e;
    return e;
}

static bool word_at(const struct kql_lex *lx, size_t pos, const char *w, size_t n)
{
    if (pos + n > lx->len)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = lx->s[pos + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != w[i])
            return false;
    }
    return true;
}

/* Space+ WORD Space+ (Or, And). */
static size_t spaced_word(struct kql_lex *lx, size_t pos, const char *w, size_t n)
{
    if (kql_lex_space(lx, pos) == 0)
        return 0;
    size_t p = space_run_end(lx, pos);
    if (!word_at(lx, p, w, n))
        return 0;
    p += n;
    if (kql_lex_space(lx, p) == 0)
        return 0;
    return space_run_end(lx, p);
}

size_t kql_lex_or(struct kql_lex *lx, size_t pos) { return spaced_word(lx, pos, "or", 2); }
size_t kql_lex_and(struct kql_lex *lx, size_t pos) { return spaced_word(lx, pos, "and", 3); }

size_t kql_lex_not(const struct kql_lex *lx, size_t pos)
{
    if (!word_at(lx, pos, "not", 3))
        return 0;
    size_t p = pos + 3, n;
    if (kql_lex_space(lx, p) == 0)
        return 0;
    while ((n = kql_lex_space(lx, p)) > 0)
        p += n;
    return p;
}

/* Keyword <- Or / And / Not, as a look-ahead. */
static bool keyword_at(struct kql_lex *lx, size_t pos)
{
    if (kql_lex_space(lx, pos))
        return kql_lex_or(lx, pos) || kql_lex_and(lx, pos);
    return kql_lex_not(lx, pos) != 0;
}

static bool is_special(char c)
{
    return c == '\\' || c == '(' || c == ')' || c == ':' || c == '<' || c == '>' || c == '"' ||
           c == '*' || c == '{' || c == '}';
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

/* `u` HEX HEX HEX HEX at pos (after the backslash): the code unit, or -1. */
static long unicode_escape(const struct kql_lex *lx, size_t pos)
{
    if (pos + 5 > lx->len || lx->s[pos] != 'u')
        return -1;
    long v = 0;
    for (size_t i = 1; i <= 4; i++) {
        int h = hexval(lx->s[pos + i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put(struct kql_lex *lx, const char *p, size_t n)
{
    memcpy(lx->out + lx->olen, p, n);
    lx->olen += n;
}

/* Append one UTF-16 code unit: join it with a preceding high surrogate into a 4-byte UTF-8
 * character, otherwise write it as UTF-8 (lone surrogates in their 3-byte form). The source
 * spelling `\uXXXX` is 6 bytes and the output at most 4 (or 1 more for the pair's second half
 * replacing 3 with 4 bytes: 12 source bytes, 4 output bytes), so out never overflows. */
static void put_unit(struct kql_lex *lx, unsigned u)
{
    if (u >= 0xDC00 && u <= 0xDFFF && lx->high_end == lx->olen && lx->olen >= 3) {
        const unsigned char *h = (const unsigned char *)lx->out + lx->olen - 3;
        unsigned hi =
            ((unsigned)(h[0] & 0x0F) << 12) | ((unsigned)(h[1] & 0x3F) << 6) | (h[2] & 0x3F);
        uint32_t cp = 0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00);
        lx->olen -= 3;
        char b[4];
        int n = kx_utf8_encode(cp, b);
        put(lx, b, (size_t)n);
        lx->high_end = SIZE_MAX;
        return;
    }
    char b[3];
    size_t n;
    if (u < 0x80) {
        b[0] = (char)u;
        n = 1;
    } else if (u < 0x800) {
        b[0] = (char)(0xC0 | (u >> 6));
        b[1] = (char)(0x80 | (u & 0x3F));
        n = 2;
    } else {
        b[0] = (char)(0xE0 | (u >> 12));
        b[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        b[2] = (char)(0x80 | (u & 0x3F));
        n = 3;
    }
    put(lx, b, n);
    lx->high_end = (u >= 0xD800 && u <= 0xDBFF) ? lx->olen : SIZE_MAX;
}

/* Length of the UTF-8 character at pos (the input is valid UTF-8). */
static size_t char_len(const struct kql_lex *lx, size_t pos)
{
    unsigned char c = (unsigned char)lx->s[pos];
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    return pos + n <= lx->len ? n : lx->len - pos;
}

/* EscapedWhitespace at pos (a backslash): the character, or 0. */
static char escaped_ws(const struct kql_lex *lx, size_t pos)
{
    if (pos + 1 >= lx->len || lx->s[pos] != '\\')
        return 0;
    switch (lx->s[pos + 1]) {
    case 't': return '\t';
    case 'r': return '\r';
    case 'n': return '\n';
    default: return 0;
    }
}

bool kql_lex_quoted(struct kql_lex *lx, size_t *pos)
{
    size_t p = *pos;
    if (p >= lx->len || lx->s[p] != '"')
        return false;
    p++;
    lx->olen = 0;
    lx->nmarks = 0;
    lx->high_end = SIZE_MAX;
    while (p < lx->len) {
        char c = lx->s[p], w;
        long u;
        if (c == '"') {
            *pos = p + 1;
            return true;
        }
        if ((w = escaped_ws(lx, p)) != 0) {
            put(lx, &w, 1);
            p += 2;
        } else if (c == '\\' && (u = unicode_escape(lx, p + 1)) >= 0) {
            put_unit(lx, (unsigned)u);
            p += 6;
            continue;
        } else if (c == '\\' && p + 1 < lx->len && (lx->s[p + 1] == '\\' || lx->s[p + 1] == '"')) {
            put(lx, &lx->s[p + 1], 1);
            p += 2;
        } else {
            size_t n = char_len(lx, p);
            put(lx, lx->s + p, n);
            p += n;
        }
        lx->high_end = SIZE_MAX;
    }
    return false; /* unterminated */
}

bool kql_lex_unquoted(struct kql_lex *lx, size_t *pos)
{
    size_t p = *pos;
    lx->olen = 0;
    lx->nmarks = 0;
    lx->high_end = SIZE_MAX;
    while (p < lx->len) {
        char c = lx->s[p], w;
        long u;
        if (c == '\\') {
            if ((w = escaped_ws(lx, p)) != 0) {
                put(lx, &w, 1);
                p += 2;
            } else if (p + 1 < lx->len && is_special(lx->s[p + 1])) {
                put(lx, &lx->s[p + 1], 1);
                p += 2;
            } else if ((u = unicode_escape(lx, p + 1)) >= 0) {
                put_unit(lx, (unsigned)u);
                p += 6;
                continue;
            } else if (word_at(lx, p + 1, "or", 2)) {
                put(lx, lx->s + p + 1, 2);
                p += 3;
            } else if (word_at(lx, p + 1, "and", 3) || word_at(lx, p + 1, "not", 3)) {
                put(lx, lx->s + p + 1, 3);
                p += 4;
            } else {
                break; /* a backslash that starts no escape ends the literal */
            }
        } else if (c == '*') {
            lx->marks[lx->nmarks++] = lx->olen;
            p++;
        } else if (is_special(c) || keyword_at(lx, p)) {
            break;
        } else {
            size_t n = char_len(lx, p);
            put(lx, lx->s + p, n);
            p += n;
        }
        lx->high_end = SIZE_MAX;
    }
    if (p == *pos)
        return false;
    *pos = p;
    return true;
}

size_t kql_js_space(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0)
        return 0;
    if ((u[0] >= 0x09 && u[0] <= 0x0D) || u[0] == ' ')
        return 1;
    if (len >= 2 && u[0] == 0xC2 && u[1] == 0xA0)
        return 2;
    if (len < 3)
        return 0;
    if ((u[0] == 0xE1 && u[1] == 0x9A && u[2] == 0x80) || /* U+1680 */
        (u[0] == 0xE2 && u[1] == 0x80 &&
         (u[2] <= 0x8A || u[2] == 0xA8 || u[2] == 0xA9 || u[2] == 0xAF) &&
         u[2] >= 0x80) ||                                 /* U+2000.. */
        (u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0x9F) || /* U+205F */
        (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80) || /* U+3000 */
        (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF))   /* U+FEFF */
        return 3;
    return 0;
}

/*
 * str.c - slices, glob matching, hashing and UTF-8 helpers shared by every module.
 */
#include "str.h"

#include <string.h>

kx_str kx_str_c(const char *s) { return (kx_str){s, s ? strlen(s) : 0}; }

bool kx_str_eq(kx_str a, kx_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool kx_str_eqc(kx_str a, const char *s) { return kx_str_eq(a, kx_str_c(s)); }

int kx_str_cmp(kx_str a, kx_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool kx_str_starts(kx_str s, kx_str p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr, p.ptr, p.len) == 0);
}

bool kx_str_ends(kx_str s, kx_str p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr + s.len - p.len, p.ptr, p.len) == 0);
}

long kx_str_chr(kx_str s, char c)
{
    if (!s.len)
        return -1;
    const char *p = memchr(s.ptr, c, s.len);
    return p ? (long)(p - s.ptr) : -1;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

kx_str kx_str_trim(kx_str s)
{
    while (s.len && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

bool kx_str_eq_nocase(kx_str a, kx_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower(a.ptr[i]) != lower(b.ptr[i]))
            return false;
    return true;
}

/*
 * Classic greedy matcher with one backtrack point: on a mismatch after a '*', retry the
 * pattern after that '*' one byte further in the subject. Each '*' only moves forward, so the
 * cost is bounded by len(s) * len(pat) and never explodes on patterns like "*a*a*a*b".
 */
bool kx_glob_match(kx_str pat, kx_str s)
{
    size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
    while (i < s.len) {
        if (p < pat.len && pat.ptr[p] == '*') {
            star_p = p++;
            star_i = i;
        } else if (p < pat.len && pat.ptr[p] == s.ptr[i]) {
            p++;
            i++;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (p < pat.len && pat.ptr[p] == '*')
        p++;
    return p == pat.len;
}

uint64_t kx_hash64(const void *p, size_t n, uint64_t seed)
{
    /* FNV-1a 64 with a final avalanche (splitmix64 finaliser) so low bits are usable for
       power-of-two tables. Stable across runs: state keys depend on it. */
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

size_t kx_utf8_check(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i < n)
            return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n;
    }
    return len;
}

int kx_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp <= 0x10ffff) {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
    }
    return 0;
}

bool kx_str_to_i64(kx_str s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return false;
    uint64_t v = 0;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9')
            return false;
        unsigned d = (unsigned)(c - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/*
 * str.h - string slices and small string helpers.
 *
 * A kx_str is a borrowed {ptr,len} view; it is not NUL-terminated and owns nothing. Its
 * lifetime is that of the memory it points into (stated by whoever hands it out).
 */
#ifndef KX_BASE_STR_H
#define KX_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kx_str {
    const char *ptr;
    size_t len;
} kx_str;

#define KX_STR_LIT(s) ((kx_str){(s), sizeof(s) - 1})

kx_str kx_str_c(const char *s);
bool kx_str_eq(kx_str a, kx_str b);
bool kx_str_eqc(kx_str a, const char *s);
int kx_str_cmp(kx_str a, kx_str b);
bool kx_str_starts(kx_str s, kx_str prefix);
bool kx_str_ends(kx_str s, kx_str suffix);
/* First index of c in s, or -1. */
long kx_str_chr(kx_str s, char c);
kx_str kx_str_trim(kx_str s);
/* ASCII case-insensitive equality. */
bool kx_str_eq_nocase(kx_str a, kx_str b);

/*
 * Glob match where '*' matches any sequence of bytes (also empty, also newlines) and every
 * other byte matches itself. Iterative with single backtrack point: O(len(s) * len(pat)) worst
 * case, never exponential.
 */
bool kx_glob_match(kx_str pat, kx_str s);

/* 64-bit FNV-1a style hash used by maps and state keys (stable across runs and machines). */
uint64_t kx_hash64(const void *p, size_t n, uint64_t seed);

/* Validate UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). Returns the byte offset
 * of the first invalid sequence, or len when valid. */
size_t kx_utf8_check(const char *s, size_t len);
/* Encode a code point; returns the bytes written (1..4), 0 if cp is invalid. */
int kx_utf8_encode(uint32_t cp, char out[4]);

/* Parse a signed decimal integer filling the whole slice; false on overflow/garbage. */
bool kx_str_to_i64(kx_str s, int64_t *out);

#endif

/*
 * str.h - string slices and small string helpers.
 *
 * A kad_str is a borrowed {ptr,len} view; it is not NUL-terminated and owns nothing. Its
 * lifetime is that of the memory it points into (stated by whoever hands it out).
 */
#ifndef KAD_BASE_STR_H
#define KAD_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kad_str {
    const char *ptr;
    size_t len;
} kad_str;

#define KAD_STR_LIT(s) ((kad_str){(s), sizeof(s) - 1})

kad_str kad_str_c(const char *s);
bool kad_str_eq(kad_str a, kad_str b);
bool kad_str_eqc(kad_str a, const char *s);
int kad_str_cmp(kad_str a, kad_str b);
bool kad_str_starts(kad_str s, kad_str prefix);
bool kad_str_ends(kad_str s, kad_str suffix);
/* First index of c in s, or -1. */
long kad_str_chr(kad_str s, char c);
kad_str kad_str_trim(kad_str s);
/* ASCII case-insensitive equality. */
bool kad_str_eq_nocase(kad_str a, kad_str b);

/*
 * Glob match where '*' matches any sequence of bytes (also empty, also newlines) and every
 * other byte matches itself. Iterative with single backtrack point: O(len(s) * len(pat)) worst
 * case, never exponential.
 */
bool kad_glob_match(kad_str pat, kad_str s);

/* 64-bit FNV-1a style hash used by maps and state keys (stable across runs and machines). */
uint64_t kad_hash64(const void *p, size_t n, uint64_t seed);

/* Validate UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). Returns the byte offset
 * of the first invalid sequence, or len when valid. */
size_t kad_utf8_check(const char *s, size_t len);
/* Encode a code point; returns the bytes written (1..4), 0 if cp is invalid. */
int kad_utf8_encode(uint32_t cp, char out[4]);

/* Parse a signed decimal integer filling the whole slice; false on overflow/garbage. */
bool kad_str_to_i64(kad_str s, int64_t *out);

#endif

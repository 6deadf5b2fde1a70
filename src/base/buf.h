/*
 * buf.h - growable byte buffer with a mandatory maximum size (curl's dynbuf idea).
 *
 * The caller provides the struct (kx_buf_init/kx_buf_fini). The content is always
 * NUL-terminated so it can be used as a C string. Appending past `max` fails with KAD_ELIMIT
 * and leaves the content unchanged.
 *
 * Errors are sticky (like kx_jsonw's): after the first failed append or reserve, every later
 * append is a no-op that returns the same code, so a caller that builds a text with many appends
 * checks kx_buf_error once at the end instead of after each call, and no failed append can be
 * silently skipped in the middle of a text. kx_buf_reset, kx_buf_fini and kx_buf_take clear it.
 */
#ifndef KX_BASE_BUF_H
#define KX_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct kx_buf {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max;
    int err; /* first failure (KAD_ELIMIT), 0 while none */
} kx_buf;

void kx_buf_init(kx_buf *b, size_t max);
void kx_buf_fini(kx_buf *b);
void kx_buf_reset(kx_buf *b);
int kx_buf_add(kx_buf *b, const void *p, size_t n);
int kx_buf_adds(kx_buf *b, const char *s);
int kx_buf_addc(kx_buf *b, char c);
int kx_buf_addf(kx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kx_buf_vaddf(kx_buf *b, const char *fmt, va_list ap);
/* Make room for n more bytes without changing len. A failure is sticky like an append's: a
   caller that writes into the reserved room itself must check the result. */
int kx_buf_reserve(kx_buf *b, size_t n);
/* The sticky error: 0 (KAD_OK) or the code of the first failed append since the last reset. */
int kx_buf_error(const kx_buf *b);
/* Cut the content to len bytes (no-op when len >= the length); the error is kept. */
void kx_buf_truncate(kx_buf *b, size_t len);
/* Hand the content to the caller (free it with kx_free) and reset the buffer. */
char *kx_buf_take(kx_buf *b, size_t *len);

#endif

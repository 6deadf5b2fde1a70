/*
 * buf.h - growable byte buffer with a mandatory maximum size (curl's dynbuf idea).
 *
 * The caller provides the struct (kx_buf_init/kx_buf_fini). The content is always
 * NUL-terminated so it can be used as a C string. Appending past `max` fails with KAD_ELIMIT
 * and leaves the buffer unchanged.
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
} kx_buf;

void kx_buf_init(kx_buf *b, size_t max);
void kx_buf_fini(kx_buf *b);
void kx_buf_reset(kx_buf *b);
int kx_buf_add(kx_buf *b, const void *p, size_t n);
int kx_buf_adds(kx_buf *b, const char *s);
int kx_buf_addc(kx_buf *b, char c);
int kx_buf_addf(kx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kx_buf_vaddf(kx_buf *b, const char *fmt, va_list ap);
/* Make room for n more bytes without changing len. */
int kx_buf_reserve(kx_buf *b, size_t n);
/* Hand the content to the caller (free it with kx_free) and reset the buffer. */
char *kx_buf_take(kx_buf *b, size_t *len);

#endif

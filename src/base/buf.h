/*
 * buf.h - growable byte buffer with a mandatory maximum size (curl's dynbuf idea).
 *
 * The caller provides the struct (kad_buf_init/kad_buf_fini). The content is always
 * NUL-terminated so it can be used as a C string. Appending past `max` fails with KAD_ELIMIT
 * and leaves the buffer unchanged.
 */
#ifndef KAD_BASE_BUF_H
#define KAD_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct kad_buf {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max;
} kad_buf;

void kad_buf_init(kad_buf *b, size_t max);
void kad_buf_fini(kad_buf *b);
void kad_buf_reset(kad_buf *b);
int kad_buf_add(kad_buf *b, const void *p, size_t n);
int kad_buf_adds(kad_buf *b, const char *s);
int kad_buf_addc(kad_buf *b, char c);
int kad_buf_addf(kad_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kad_buf_vaddf(kad_buf *b, const char *fmt, va_list ap);
/* Make room for n more bytes without changing len. */
int kad_buf_reserve(kad_buf *b, size_t n);
/* Hand the content to the caller (free it with kad_free) and reset the buffer. */
char *kad_buf_take(kad_buf *b, size_t *len);

#endif

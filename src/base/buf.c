/*
 * buf.c - growable byte buffer with a hard maximum. Exceeding the maximum is KAD_ELIMIT and
 * leaves the content as it was, so a caller can report the record and go on. The error is
 * sticky until the next reset (buf.h).
 */
#include "buf.h"

#include "alloc.h"
#include "kad.h"
#include <stdio.h>
#include <string.h>

void kx_buf_init(kx_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : (size_t)1 << 40;
    b->err = 0;
}

void kx_buf_fini(kx_buf *b)
{
    kx_free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

void kx_buf_reset(kx_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

int kx_buf_error(const kx_buf *b) { return b->err; }

void kx_buf_truncate(kx_buf *b, size_t len)
{
    if (b->ptr && len < b->len) {
        b->len = len;
        b->ptr[len] = '\0';
    }
}

int kx_buf_reserve(kx_buf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (n > b->max || b->len > b->max - n)
        return b->err = KAD_ELIMIT;
    size_t need = b->len + n + 1; /* + NUL */
    if (need <= b->cap)
        return KAD_OK;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need)
        nc *= 2;
    if (nc > b->max + 1)
        nc = b->max + 1;
    b->ptr = kx_realloc(b->ptr, nc);
    b->cap = nc;
    b->ptr[b->len] = '\0';
    return KAD_OK;
}

int kx_buf_add(kx_buf *b, const void *p, size_t n)
{
    int rc = kx_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return KAD_OK;
}

int kx_buf_adds(kx_buf *b, const char *s) { return kx_buf_add(b, s, strlen(s)); }

int kx_buf_addc(kx_buf *b, char c) { return kx_buf_add(b, &c, 1); }

int kx_buf_vaddf(kx_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (b->err)
        return b->err;
    if (n < 0)
        return b->err = KAD_EINVAL;
    if ((size_t)n < sizeof(small))
        return kx_buf_add(b, small, (size_t)n);
    int rc = kx_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return KAD_OK;
}

int kx_buf_addf(kx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = kx_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *kx_buf_take(kx_buf *b, size_t *len)
{
    b->err = 0;
    if (!b->ptr)
        kx_buf_reserve(b, 0);
    char *p = b->ptr;
    if (len)
        *len = b->len;
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->err = 0;
    return p;
}

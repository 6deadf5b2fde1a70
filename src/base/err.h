/*
 * err.h - internal helpers around the public kad_err (include/kad.h).
 *
 * kx_err_set* fill a caller-supplied kad_err (NULL allowed: then nothing is recorded) and
 * return the code, so error paths read `return kx_err_setf(err, KAD_ESYNTAX, ...);`.
 */
#ifndef KX_BASE_ERR_H
#define KX_BASE_ERR_H

#include "kad.h"
#include <stddef.h>

int kx_err_setf(kad_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, with a position; line/col computed from `text` (the origin's bytes) and `offset`. */
int kx_err_at(kad_err *err, int code, const char *origin, const char *text, size_t text_len,
              size_t offset, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Same, with a position given as line/col (offset -1 when unknown). */
int kx_err_atlc(kad_err *err, int code, const char *origin, uint32_t line, uint32_t col,
                int64_t offset, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Turn a byte offset into a 1-based line and column (columns count bytes). */
void kx_locate(const char *text, size_t len, size_t offset, uint32_t *line, uint32_t *col);

/* Broken invariant: print and abort. Never used for bad input. */
#define KX_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (cond)                                                                                  \
            kx_bug(__FILE__, __LINE__, #cond);                                                     \
    } while (0)
_Noreturn void kx_bug(const char *file, int line, const char *what);

#endif

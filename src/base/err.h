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
/* Turn a byte offset into a 1-based line and column (columns count bytes). O(offset): for
   many positions in one text use kx_lines. */
void kx_locate(const char *text, size_t len, size_t offset, uint32_t *line, uint32_t *col);

/*
 * The line starts of one text, for locating many offsets in it in O(log lines) each (a rule
 * file with 100,000 diagnostics). Zero-initialise; kx_lines_locate builds the index on first
 * use for a text and rebuilds it when called with another text/len. The text is borrowed:
 * call kx_lines_forget before it is freed (another text may later get the same address), and
 * kx_lines_fini to free the index.
 */
struct kx_lines {
    const char *text;
    size_t len;
    size_t *start; /* start[i] = offset of line i + 1 */
    size_t n, cap;
};
void kx_lines_locate(struct kx_lines *li, const char *text, size_t len, size_t offset,
                     uint32_t *line, uint32_t *col);
void kx_lines_forget(struct kx_lines *li);
void kx_lines_fini(struct kx_lines *li);

/* Broken invariant: print and abort. Never used for bad input. */
#define KX_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (cond)                                                                                  \
            kx_bug(__FILE__, __LINE__, #cond);                                                     \
    } while (0)
_Noreturn void kx_bug(const char *file, int line, const char *what);

#endif

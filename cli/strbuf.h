/*
 * strbuf.h - a growable text buffer for the CLI's formatting (the library's own buffer is
 * private to it: the CLI includes only kad.h among the project's headers). Out of memory is
 * fatal here: the CLI prints and exits 2.
 */
#ifndef KAD_CLI_STRBUF_H
#define KAD_CLI_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *ptr; /* NUL-terminated once something was added */
    size_t len, cap;
};

void sb_add(struct strbuf *b, const char *p, size_t n);
void sb_addc(struct strbuf *b, char c);
void sb_adds(struct strbuf *b, const char *s);
void sb_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_reset(struct strbuf *b);
void sb_fini(struct strbuf *b);

#endif

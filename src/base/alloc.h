/*
 * alloc.h - the one allocation choke point of libkad.
 *
 * All library allocation goes through these functions; raw malloc/free are banned in src/
 * (scripts/check-src.sh enforces it). Policy (docs/internals/memory.md): allocation failure is
 * not propagated; kad_malloc and friends call the out-of-memory handler, which reports the
 * failed size and aborts. Tests can install a handler and a fail-after-N countdown to check
 * that the handler is reached.
 */
#ifndef KAD_BASE_ALLOC_H
#define KAD_BASE_ALLOC_H

#include <stddef.h>

/* Never return NULL (size 0 is treated as 1). */
void *kad_malloc(size_t size);
void *kad_calloc(size_t n, size_t size);
void *kad_realloc(void *p, size_t size);
char *kad_strndup(const char *s, size_t n);
char *kad_strdup(const char *s);
void kad_free(void *p);

/* Called when an allocation fails; must not return (the default prints and aborts). */
typedef void (*kad_oom_fn)(size_t size);
void kad_alloc_set_oom(kad_oom_fn fn);
/* Testing aid: make the Nth next allocation fail (0 disables). */
void kad_alloc_fail_after(unsigned long n);

#endif

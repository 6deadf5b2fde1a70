/*
 * alloc.h - the one allocation choke point of libkad.
 *
 * All library allocation goes through these functions; raw malloc/free are banned in src/
 * (scripts/check-src.sh enforces it). Policy (docs/internals/memory.md): allocation failure is
 * not propagated; kx_malloc and friends call the out-of-memory handler, which reports the
 * failed size and aborts. Tests can install a handler and a fail-after-N countdown to check
 * that the handler is reached.
 */
#ifndef KX_BASE_ALLOC_H
#define KX_BASE_ALLOC_H

#include <stddef.h>

/* Never return NULL (size 0 is treated as 1). */
void *kx_malloc(size_t size);
void *kx_calloc(size_t n, size_t size);
void *kx_realloc(void *p, size_t size);
char *kx_strndup(const char *s, size_t n);
char *kx_strdup(const char *s);
/* size bytes aligned to `align` (a power of two, a multiple of sizeof(void *)); kx_free frees. */
void *kx_malloc_aligned(size_t align, size_t size);
void kx_free(void *p);

/* Called when an allocation fails; must not return (the default prints and aborts). */
typedef void (*kx_oom_fn)(size_t size);
void kx_alloc_set_oom(kx_oom_fn fn);
/* Testing aid: make the Nth next allocation fail (0 disables). */
void kx_alloc_fail_after(unsigned long n);

#endif

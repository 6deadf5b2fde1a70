/*
 * alloc.c - the allocation choke point. Every library allocation passes here so the policy
 * (abort on exhaustion, see docs/internals/memory.md) and the test hook live in one place.
 * This is the only file in src/ allowed to call malloc/realloc/free.
 */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void default_oom(size_t size)
{
    fprintf(stderr, "kadet: out of memory (allocating %zu bytes)\n", size);
    abort();
}

/* Process-wide hooks: set by tests before any work, never concurrently. */
static kx_oom_fn oom_fn = default_oom;
static unsigned long fail_countdown;

void kx_alloc_set_oom(kx_oom_fn fn) { oom_fn = fn ? fn : default_oom; }
void kx_alloc_fail_after(unsigned long n) { fail_countdown = n; }

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

static void *checked(void *p, size_t size)
{
    if (!p) {
        oom_fn(size);
        abort(); /* the handler must not return */
    }
    return p;
}

void *kx_malloc(size_t size)
{
    if (size == 0)
        size = 1;
    return checked(should_fail() ? NULL : malloc(size), size);
}

void *kx_calloc(size_t n, size_t size)
{
    if (n == 0 || size == 0)
        n = size = 1;
    if (size && n > (size_t)-1 / size)
        return checked(NULL, (size_t)-1);
    return checked(should_fail() ? NULL : calloc(n, size), n * size);
}

void *kx_realloc(void *p, size_t size)
{
    if (size == 0)
        size = 1;
    return checked(should_fail() ? NULL : realloc(p, size), size);
}

char *kx_strndup(const char *s, size_t n)
{
    char *d = kx_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kx_strdup(const char *s) { return kx_strndup(s, strlen(s)); }

void *kx_malloc_aligned(size_t align, size_t size)
{
    void *p = NULL;
    if (size == 0)
        size = 1;
    if (!should_fail() && posix_memalign(&p, align, size) != 0)
        p = NULL;
    return checked(p, size);
}

void kx_free(void *p) { free(p); }

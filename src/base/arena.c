/*
 * arena.c - bump allocator. Chunks are linked newest first; reset keeps the newest chunk
 * (usually the largest) so a per-event arena reaches a steady state with no malloc at all.
 */
#include "arena.h"

#include "alloc.h"
#include <stdint.h>
#include <string.h>

struct kx_arena_chunk {
    struct kx_arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

void kx_arena_init(kx_arena *a, size_t chunk_size, size_t max)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->used_total = 0;
    a->max = max;
}

void kx_arena_fini(kx_arena *a)
{
    struct kx_arena_chunk *c = a->head;
    while (c) {
        struct kx_arena_chunk *n = c->next;
        kx_free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}

void kx_arena_reset(kx_arena *a)
{
    struct kx_arena_chunk *keep = a->head;
    if (keep) {
        struct kx_arena_chunk *c = keep->next;
        while (c) {
            struct kx_arena_chunk *n = c->next;
            kx_free(c);
            c = n;
        }
        keep->next = NULL;
        keep->used = 0;
    }
    a->used_total = 0;
}

void *kx_arena_alloc(kx_arena *a, size_t size)
{
    size_t need = ALIGN16(size ? size : 1);
    if (need < size)
        return NULL;
    if (a->max && (need > a->max || a->used_total > a->max - need))
        return NULL;
    struct kx_arena_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t csize = a->chunk_size;
        if (c && c->size >= csize)
            csize = c->size * 2; /* grow geometrically so big events settle in one chunk */
        while (csize < need)
            csize *= 2;
        c = kx_malloc(sizeof(*c) + csize);
        c->size = csize;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used_total += need;
    return p;
}

void *kx_arena_zalloc(kx_arena *a, size_t size)
{
    void *p = kx_arena_alloc(a, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *kx_arena_strndup(kx_arena *a, const char *s, size_t n)
{
    char *d = kx_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *kx_arena_memdup(kx_arena *a, const void *p, size_t n)
{
    void *d = kx_arena_alloc(a, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

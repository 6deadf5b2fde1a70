/*
 * arena.h - bump allocator for things that die together.
 *
 * Lifetimes used in libkad: the ruleset arena (ASTs, compiled queries, rule strings; freed when
 * the ruleset goes) and the per-event arena (decoded event view and scratch; reset after each
 * event). Memory from an arena is valid until kx_arena_reset or kx_arena_fini on that arena.
 * Allocations are 16-byte aligned. An arena may have a hard maximum (0 = unlimited); an
 * allocation past it returns NULL, which callers report as KAD_ELIMIT.
 */
#ifndef KX_BASE_ARENA_H
#define KX_BASE_ARENA_H

#include <stddef.h>

struct kx_arena_chunk;

typedef struct kx_arena {
    struct kx_arena_chunk *head; /* current chunk; older chunks follow */
    size_t chunk_size;           /* default size of a new chunk */
    size_t used_total;           /* bytes handed out since the last reset */
    size_t max;                  /* hard maximum of used_total, 0 = none */
} kx_arena;

void kx_arena_init(kx_arena *a, size_t chunk_size, size_t max);
void kx_arena_fini(kx_arena *a);
/* Forget every allocation but keep the first chunk for reuse. */
void kx_arena_reset(kx_arena *a);
/* Returns NULL only when the arena's maximum would be exceeded. */
void *kx_arena_alloc(kx_arena *a, size_t size);
void *kx_arena_zalloc(kx_arena *a, size_t size);
/* Copy of s[0..n) plus a NUL terminator. */
char *kx_arena_strndup(kx_arena *a, const char *s, size_t n);
void *kx_arena_memdup(kx_arena *a, const void *p, size_t n);

#endif

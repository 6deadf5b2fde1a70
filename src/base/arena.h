/*
 * arena.h - bump allocator for things that die together.
 *
 * Lifetimes used in libkad: the ruleset arena (ASTs, compiled queries, rule strings; freed when
 * the ruleset goes) and the per-event arena (decoded event view and scratch; reset after each
 * event). Memory from an arena is valid until kad_arena_reset or kad_arena_fini on that arena.
 * Allocations are 16-byte aligned. An arena may have a hard maximum (0 = unlimited); an
 * allocation past it returns NULL, which callers report as KAD_ELIMIT.
 */
#ifndef KAD_BASE_ARENA_H
#define KAD_BASE_ARENA_H

#include <stddef.h>

struct kad_arena_chunk;

typedef struct kad_arena {
    struct kad_arena_chunk *head; /* current chunk; older chunks follow */
    size_t chunk_size;            /* default size of a new chunk */
    size_t used_total;            /* bytes handed out since the last reset */
    size_t max;                   /* hard maximum of used_total, 0 = none */
} kad_arena;

void kad_arena_init(kad_arena *a, size_t chunk_size, size_t max);
void kad_arena_fini(kad_arena *a);
/* Forget every allocation but keep the first chunk for reuse. */
void kad_arena_reset(kad_arena *a);
/* Returns NULL only when the arena's maximum would be exceeded. */
void *kad_arena_alloc(kad_arena *a, size_t size);
void *kad_arena_zalloc(kad_arena *a, size_t size);
/* Copy of s[0..n) plus a NUL terminator. */
char *kad_arena_strndup(kad_arena *a, const char *s, size_t n);
void *kad_arena_memdup(kad_arena *a, const void *p, size_t n);

#endif

/*
 * map.h - open-addressing hash map with byte-string keys (linear probing, tombstones).
 *
 * Keys are copied into the map (kx_map owns them); values are opaque pointers the caller
 * owns. Iteration order is unspecified. Lookups do not allocate.
 */
#ifndef KX_BASE_MAP_H
#define KX_BASE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kx_map_slot;

typedef struct kx_map {
    struct kx_map_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t len;  /* live entries */
    size_t used; /* live + tombstones */
} kx_map;

void kx_map_init(kx_map *m);
void kx_map_fini(kx_map *m);
/* Insert or replace. Returns true when the key was new. */
bool kx_map_put(kx_map *m, const void *key, size_t klen, void *val);
/* Borrowed value or NULL; `found` (optional) tells a stored NULL from absence. */
void *kx_map_get(const kx_map *m, const void *key, size_t klen, bool *found);
bool kx_map_del(kx_map *m, const void *key, size_t klen);
/* Iterate: start with *it = 0; returns false at the end. key/val are borrowed. */
bool kx_map_next(const kx_map *m, size_t *it, const char **key, size_t *klen, void **val);

#endif

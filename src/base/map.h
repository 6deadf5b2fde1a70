/*
 * map.h - open-addressing hash map with byte-string keys (linear probing, tombstones).
 *
 * Keys are copied into the map (kad_map owns them); values are opaque pointers the caller
 * owns. Iteration order is unspecified. Lookups do not allocate.
 */
#ifndef KAD_BASE_MAP_H
#define KAD_BASE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kad_map_slot;

typedef struct kad_map {
    struct kad_map_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t len;  /* live entries */
    size_t used; /* live + tombstones */
} kad_map;

void kad_map_init(kad_map *m);
void kad_map_fini(kad_map *m);
/* Insert or replace. Returns true when the key was new. */
bool kad_map_put(kad_map *m, const void *key, size_t klen, void *val);
/* Borrowed value or NULL; `found` (optional) tells a stored NULL from absence. */
void *kad_map_get(const kad_map *m, const void *key, size_t klen, bool *found);
bool kad_map_del(kad_map *m, const void *key, size_t klen);
/* Iterate: start with *it = 0; returns false at the end. key/val are borrowed. */
bool kad_map_next(const kad_map *m, size_t *it, const char **key, size_t *klen, void **val);

#endif

/*
 * map.c - open addressing with linear probing. Deletion leaves tombstones; the table is
 * rebuilt (doubling when live entries need it) once live + tombstones pass 70% of capacity.
 */
#include "map.h"

#include "alloc.h"
#include "str.h"
#include <string.h>

struct kx_map_slot {
    char *key; /* NULL = empty; TOMB = deleted */
    size_t klen;
    uint64_t hash;
    void *val;
};

static char tomb_marker;
#define TOMB (&tomb_marker)

void kx_map_init(kx_map *m) { memset(m, 0, sizeof(*m)); }

void kx_map_fini(kx_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            kx_free(m->slots[i].key);
    kx_free(m->slots);
    memset(m, 0, sizeof(*m));
}

static struct kx_map_slot *find(const kx_map *m, const void *key, size_t klen, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct kx_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

static void rehash(kx_map *m, size_t ncap)
{
    struct kx_map_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = kx_calloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->used = m->len;
    for (size_t i = 0; i < ocap; i++) {
        struct kx_map_slot *s = &old[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (ncap - 1);
        m->slots[j] = *s;
    }
    kx_free(old);
}

bool kx_map_put(kx_map *m, const void *key, size_t klen, void *val)
{
    uint64_t h = kx_hash64(key, klen, 0);
    struct kx_map_slot *s = find(m, key, klen, h);
    if (s) {
        s->val = val;
        return false;
    }
    if ((m->used + 1) * 10 > m->cap * 7) {
        size_t ncap = m->cap ? m->cap : 16;
        while ((m->len + 1) * 10 > ncap * 5)
            ncap *= 2;
        rehash(m, ncap);
    }
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = kx_strndup(key, klen);
    m->slots[i].klen = klen;
    m->slots[i].hash = h;
    m->slots[i].val = val;
    m->len++;
    return true;
}

void *kx_map_get(const kx_map *m, const void *key, size_t klen, bool *found)
{
    struct kx_map_slot *s = find(m, key, klen, kx_hash64(key, klen, 0));
    if (found)
        *found = s != NULL;
    return s ? s->val : NULL;
}

bool kx_map_del(kx_map *m, const void *key, size_t klen)
{
    struct kx_map_slot *s = find(m, key, klen, kx_hash64(key, klen, 0));
    if (!s)
        return false;
    kx_free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->len--;
    return true;
}

bool kx_map_next(const kx_map *m, size_t *it, const char **key, size_t *klen, void **val)
{
    for (; *it < m->cap; (*it)++) {
        struct kx_map_slot *s = &m->slots[*it];
        if (s->key && s->key != TOMB) {
            if (key)
                *key = s->key;
            if (klen)
                *klen = s->klen;
            if (val)
                *val = s->val;
            (*it)++;
            return true;
        }
    }
    return false;
}

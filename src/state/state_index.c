/*
 * state_index.c - the in-memory hash index of the state store: (rule, combination) ->
 * first/last seen and flags.
 *
 * Layout, chosen for bytes per combination (target <= 64 beyond the key bytes, measured in
 * docs/internals/state.md):
 *  - records (struct st_rec: 32-byte header + key, padded to 8) are packed into chunks (16 KiB
 *    doubling up to 2 MiB, from 2 MiB on in transparent huge pages where allowed),
 *    so there is no per-record malloc header and no pointer per record;
 *  - the table is an array of 8-byte slots, open addressing with linear probing, load factor
 *    at most 3/4. A slot holds a 24-bit tag (high hash bits) and a 40-bit record reference
 *    (chunk number, offset / 8), so most mismatches are rejected without touching the record.
 * Deletion marks the record dead and leaves a tombstone; idx_compact rebuilds both when the
 * caller decides (after pruning). This file does no I/O and knows nothing about SQLite.
 */
#include "state/state_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include <string.h>
#include <sys/mman.h>

#define CHUNK_SIZE ((size_t)2 << 20) /* one transparent huge page (big_alloc) */
#define OFF_BITS IDX_OFF_BITS        /* CHUNK_SIZE / 8 */
#define REF_BITS IDX_REF_BITS
#define REF_MASK IDX_REF_MASK
#define MAX_CHUNKS ((size_t)1 << (REF_BITS - OFF_BITS - 1))
#define HDR_SIZE (sizeof(struct st_rec))

static size_t rec_size(size_t klen) { return (HDR_SIZE + klen + 7) & ~(size_t)7; }

/* Chunks grow from 16 KiB to 1 MiB, so a small store does not pay for a big chunk, and are 2 MiB
   (huge pages, big_alloc) from the 32nd on (~27 MB of records), where the unused end of the last
   chunk is a few bytes per combination. Offsets stay below 2 MiB, which is what a slot's
   reference has room for. */
static size_t chunk_cap(size_t i)
{
    return i >= 32 ? CHUNK_SIZE : i >= 6 ? CHUNK_SIZE / 2 : (size_t)16384 << i;
}

/* Fault a new block of 1 MiB or more (a full chunk, a large slot table) in with one system call
   instead of one page fault per 4 KiB page as it fills (a preload of 1 M combinations touches
   ~130 MB; on a VM each fault is costly). Advisory: failure or an old kernel changes nothing. */
static void prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    if (n < ((size_t)1 << 20))
        return;
    uintptr_t pg = 4096, a = ((uintptr_t)p + pg - 1) & ~(pg - 1),
              e = ((uintptr_t)p + n) & ~(pg - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

/*
 * n bytes for chunks and slot tables. From 2 MiB up, aligned to 2 MiB and marked for
 * transparent huge pages (where the kernel allows them, e.g. THP "madvise" or "always"): the
 * index is read at random (a lookup touches one slot and one record), and with 4 KiB pages a
 * large index misses the TLB on nearly every probe; 130 MB of index is 65 huge pages. Advisory:
 * without THP nothing changes but the alignment.
 */
static void *big_alloc(size_t n)
{
    if (n < CHUNK_SIZE)
        return kx_malloc(n);
    void *p = kx_malloc_aligned(CHUNK_SIZE, n);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void idx_init(struct st_index *ix) { memset(ix, 0, sizeof(*ix)); }

void idx_fini(struct st_index *ix)
{
    for (size_t i = 0; i < ix->nchunks; i++)
        kx_free(ix->chunks[i]);
    kx_free(ix->chunks);
    kx_free(ix->chunk_used);
    kx_free(ix->slots);
    uint64_t gen = ix->gen + 1;
    memset(ix, 0, sizeof(*ix));
    ix->gen = gen; /* record pointers taken before are stale */
}

void idx_prefetch_slot(const struct st_index *ix, uint64_t h)
{
    if (ix->cap)
        __builtin_prefetch(&ix->slots[h & (ix->cap - 1)]);
}

void idx_prefetch_rec(const struct st_index *ix, uint64_t h)
{
    if (!ix->cap)
        return;
    /* the first candidate of the probe sequence within a few slots; a miss only costs the
       prefetch (the real probe, idx_find, decides) */
    size_t mask = ix->cap - 1;
    uint64_t tag = idx_tag(h);
    for (size_t i = h & mask, k = 0; k < 4; i = (i + 1) & mask, k++) {
        uint64_t s = ix->slots[i];
        if (s == 0)
            return;
        if (s == IDX_TOMB || (s >> REF_BITS) != tag)
            continue;
        const char *r = (const char *)idx_deref(ix, s);
        __builtin_prefetch(r);
        __builtin_prefetch(r + 64); /* a record with its key is often 100-150 bytes */
        __builtin_prefetch(r + 127); /* and, 8-aligned, a 128-byte one spans three lines */
        return;
    }
}

static void place(struct st_index *ix, uint64_t h, uint64_t ref)
{
    size_t mask = ix->cap - 1;
    size_t i = h & mask;
    while (ix->slots[i] != 0 && ix->slots[i] != IDX_TOMB)
        i = (i + 1) & mask;
    if (ix->slots[i] == 0)
        ix->used++;
    ix->slots[i] = (idx_tag(h) << REF_BITS) | (ref + 1);
}

static void rehash(struct st_index *ix, size_t ncap)
{
    uint64_t *old = ix->slots;
    size_t ocap = ix->cap;
    ix->slots = big_alloc(ncap * sizeof(uint64_t));
    prefault(ix->slots, ncap * sizeof(uint64_t));
    memset(ix->slots, 0, ncap * sizeof(uint64_t));
    ix->cap = ncap;
    ix->used = 0;
    for (size_t i = 0; i < ocap; i++) {
        uint64_t s = old[i];
        if (s == 0 || s == IDX_TOMB)
            continue;
        struct st_rec *r = idx_deref(ix, s);
        place(ix, idx_hash(r->rid, r->key, r->klen), (s & REF_MASK) - 1);
    }
    kx_free(old);
}

void idx_reserve(struct st_index *ix, size_t n)
{
    if ((ix->used + n) * 4 <= ix->cap * 3)
        return;
    size_t ncap = ix->cap ? ix->cap : 64;
    while ((ix->live + n) * 2 > ncap)
        ncap *= 2;
    rehash(ix, ncap);
}

/* A new record for (rid, key) at the end of the last chunk; not yet reachable from a slot. */
static struct st_rec *new_rec(struct st_index *ix, uint32_t rid, const void *key, size_t len,
                              uint64_t *ref)
{
    KX_BUG_ON(len > UINT16_MAX);
    size_t sz = rec_size(len);
    if (!ix->nchunks || ix->chunk_used[ix->nchunks - 1] + sz > chunk_cap(ix->nchunks - 1)) {
        KX_BUG_ON(ix->nchunks + 1 >= MAX_CHUNKS);
        if (ix->nchunks == ix->chunks_cap) {
            ix->chunks_cap = ix->chunks_cap ? ix->chunks_cap * 2 : 16;
            ix->chunks = kx_realloc(ix->chunks, ix->chunks_cap * sizeof(*ix->chunks));
            ix->chunk_used = kx_realloc(ix->chunk_used, ix->chunks_cap * sizeof(uint32_t));
        }
        ix->chunks[ix->nchunks] = big_alloc(chunk_cap(ix->nchunks));
        prefault(ix->chunks[ix->nchunks], chunk_cap(ix->nchunks));
        ix->chunk_used[ix->nchunks] = 0;
        ix->nchunks++;
    }
    size_t c = ix->nchunks - 1;
    size_t off = ix->chunk_used[c];
    struct st_rec *r = (struct st_rec *)(ix->chunks[c] + off);
    memset(r, 0, HDR_SIZE);
    r->rid = rid;
    r->klen = (uint16_t)len;
    memcpy(r->key, key, len);
    memset(r->key + len, 0, sz - HDR_SIZE - len); /* padding: keep every byte defined */
    ix->chunk_used[c] = (uint32_t)(off + sz);
    ix->live++;
    ix->key_bytes += len;
    ix->rec_bytes += sz;
    *ref = ((uint64_t)c << OFF_BITS) | (off >> 3);
    return r;
}

struct st_rec *idx_insert(struct st_index *ix, uint32_t rid, const void *key, size_t len,
                          uint64_t h)
{
    idx_reserve(ix, 1);
    uint64_t ref;
    struct st_rec *r = new_rec(ix, rid, key, len, &ref);
    place(ix, h, ref);
    return r;
}

struct st_rec *idx_stage(struct st_index *ix, uint32_t rid, const void *key, size_t len, uint64_t h,
                         struct idx_staged *out)
{
    struct st_rec *r = new_rec(ix, rid, key, len, &out->ref);
    out->rec = r;
    out->h = h;
    __builtin_prefetch(&ix->slots[h & (ix->cap - 1)]);
    return r;
}

void idx_place_staged(struct st_index *ix, const struct idx_staged *st, size_t n)
{
    size_t mask = ix->cap - 1;
    for (size_t k = 0; k < n; k++) {
        struct st_rec *nr = st[k].rec;
        uint64_t h = st[k].h, tag = idx_tag(h);
        size_t free_at = SIZE_MAX, i = h & mask;
        bool dup = false;
        for (;; i = (i + 1) & mask) {
            uint64_t s = ix->slots[i];
            if (s == 0)
                break;
            if (s == IDX_TOMB) {
                if (free_at == SIZE_MAX)
                    free_at = i;
                continue;
            }
            if ((s >> REF_BITS) != tag)
                continue;
            struct st_rec *r = idx_deref(ix, s);
            if (r->rid == nr->rid && r->klen == nr->klen &&
                memcmp(r->key, nr->key, nr->klen) == 0) {
                dup = true;
                break;
            }
        }
        if (dup) { /* the index already has it: the staged copy is dead weight */
            nr->flags |= REC_DEAD;
            ix->live--;
            ix->key_bytes -= nr->klen;
            ix->dead_bytes += rec_size(nr->klen);
            continue;
        }
        if (free_at == SIZE_MAX) {
            free_at = i;
            ix->used++;
        }
        ix->slots[free_at] = (tag << REF_BITS) | (st[k].ref + 1);
    }
}

void idx_delete(struct st_index *ix, struct st_rec *rec)
{
    if (!ix->cap || (rec->flags & REC_DEAD))
        return;
    uint64_t h = idx_hash(rec->rid, rec->key, rec->klen);
    size_t mask = ix->cap - 1;
    for (size_t i = h & mask; ix->slots[i] != 0; i = (i + 1) & mask) {
        uint64_t s = ix->slots[i];
        if (s != IDX_TOMB && idx_deref(ix, s) == rec) {
            ix->slots[i] = IDX_TOMB;
            rec->flags |= REC_DEAD;
            ix->gen++;
            ix->live--;
            ix->key_bytes -= rec->klen;
            ix->dead_bytes += rec_size(rec->klen);
            return;
        }
    }
    KX_BUG_ON(1); /* a live record is always reachable from its hash */
}

struct st_rec *idx_next(struct st_index *ix, size_t *chunk, size_t *off)
{
    while (*chunk < ix->nchunks) {
        if (*off >= ix->chunk_used[*chunk]) {
            (*chunk)++;
            *off = 0;
            continue;
        }
        struct st_rec *r = (struct st_rec *)(ix->chunks[*chunk] + *off);
        *off += rec_size(r->klen);
        if (!(r->flags & REC_DEAD))
            return r;
    }
    return NULL;
}

void idx_compact(struct st_index *ix)
{
    struct st_index n;
    idx_init(&n);
    size_t c = 0, off = 0;
    struct st_rec *r;
    while ((r = idx_next(ix, &c, &off)) != NULL) {
        struct st_rec *m =
            idx_insert(&n, r->rid, r->key, r->klen, idx_hash(r->rid, r->key, r->klen));
        m->id = r->id;
        m->first_seen = r->first_seen;
        m->last_seen = r->last_seen;
        m->flags = r->flags;
    }
    uint64_t gen = ix->gen + 1;
    idx_fini(ix);
    *ix = n;
    ix->gen = gen; /* every record moved */
}

uint64_t idx_mem_bytes(const struct st_index *ix)
{
    uint64_t chunks = 0;
    for (size_t i = 0; i < ix->nchunks; i++)
        chunks += chunk_cap(i);
    return (uint64_t)ix->cap * sizeof(uint64_t) + chunks +
           (uint64_t)ix->chunks_cap * (sizeof(uint8_t *) + sizeof(uint32_t));
}

/*
 * state_int.h - private to src/state/: the store struct shared by state.c (open, rules,
 * batches, observations), state_index.c (the in-memory hash index) and state_query.c
 * (inspection and maintenance). Nothing outside src/state/ includes this file; the module's
 * contract is state.h.
 */
#ifndef KAD_STATE_INT_H
#define KAD_STATE_INT_H

#include "base/vec.h"
#include "state/state.h"
#include <sqlite3.h>

/* ---- the in-memory index (state_index.c) -------------------------------------------------- */

/* Record flags. ALERTED is persisted (terms.flags); the others live only in memory. */
#define REC_ALERTED 0x01u
#define REC_PERSIST_MASK 0x0fu
#define REC_UNSAVED 0x20u /* file stores: inserted, not yet written to SQLite */
#define REC_DIRTY 0x40u   /* in the current batch's undo log */
#define REC_DEAD 0x80u    /* deleted; its bytes are reclaimed by the next compaction */

/*
 * One combination: 24 bytes of header, then the key bytes, padded to 8. Records live in 1 MiB
 * chunks and never move while a batch has pointers to them (compaction runs only when the
 * undo log is empty).
 */
struct st_rec {
    int64_t first_seen;
    int64_t last_seen;
    uint32_t rid;
    uint16_t klen;
    uint8_t flags;
    uint8_t pad;
    uint8_t key[];
};

struct st_index {
    uint64_t *slots; /* 0 empty, IDX_TOMB deleted, else (tag << 40) | (ref + 1) */
    size_t cap;      /* power of two, or 0 */
    size_t live;     /* live records */
    size_t used;     /* live + tombstones */
    uint8_t **chunks;
    uint32_t *chunk_used; /* bytes used in each chunk */
    size_t nchunks;
    size_t chunks_cap;
    uint64_t key_bytes;  /* sum of live klen */
    uint64_t rec_bytes;  /* bytes of all records, live or dead */
    uint64_t dead_bytes; /* bytes of dead records */
    uint64_t gen;        /* bumped when a record may die or move (delete, compact, fini) */
};

void idx_init(struct st_index *ix);
/* Free everything; leaves an empty index (as idx_init) whose generation is one more. */
void idx_fini(struct st_index *ix);
uint64_t idx_hash(uint32_t rid, const void *key, size_t len);
/* The live record for (rid, key) or NULL. `h` is idx_hash(rid, key, len). */
struct st_rec *idx_find(struct st_index *ix, uint32_t rid, const void *key, size_t len, uint64_t h);
/* Insert a record known to be absent; fields other than rid/key are zeroed. */
struct st_rec *idx_insert(struct st_index *ix, uint32_t rid, const void *key, size_t len,
                          uint64_t h);
/* Make room for n more records without growing the table in between. */
void idx_reserve(struct st_index *ix, size_t n);
/*
 * Bulk loading in two steps, so the slot of each record is prefetched while the next rows are
 * read: idx_stage stores a record (not yet findable) and prefetches its slot; after a batch,
 * idx_place_staged makes each findable, or marks it dead when the index already holds the same
 * (rid, key) (loaded lazily before: that one is kept). Reserve room for the batch first (no
 * table growth between the two steps).
 */
struct idx_staged {
    struct st_rec *rec;
    uint64_t h, ref;
};
struct st_rec *idx_stage(struct st_index *ix, uint32_t rid, const void *key, size_t len, uint64_t h,
                         struct idx_staged *out);
void idx_place_staged(struct st_index *ix, const struct idx_staged *st, size_t n);
/* Delete a live record (its slot becomes a tombstone, the record is marked dead). */
void idx_delete(struct st_index *ix, struct st_rec *rec);
/* Iterate live records: start with *chunk = *off = 0; NULL at the end. */
struct st_rec *idx_next(struct st_index *ix, size_t *chunk, size_t *off);
/* Rebuild without dead records and tombstones (invalidates every st_rec pointer). */
void idx_compact(struct st_index *ix);
/* Bytes held: slots, chunks and bookkeeping arrays. */
uint64_t idx_mem_bytes(const struct st_index *ix);

/* ---- the pivot map (state_pivot.c) -------------------------------------------------------- */

/* All records of one (rid, pivot value) in the map, newest first. */
struct st_piv_group {
    uint64_t h;
    const uint8_t *val; /* the pivot bytes, inside the key of the group's first record */
    uint32_t len;
    uint32_t rid;
    uint32_t head; /* entry index + 1; 0 = none */
};

/*
 * (rid, pivot value) -> records. MEM stores: every record of a rule with a pivot. File stores:
 * only REC_UNSAVED records (SQLite's primary key range has the others), emptied whenever
 * the dirty records are written. Entries are record pointers: valid while records do not move,
 * so idx_compact and idx_fini are followed by piv_rebuild. Dead records stay listed and are
 * skipped by readers.
 */
struct st_pivots {
    uint32_t *slots; /* group index + 1; 0 = empty */
    size_t cap;      /* power of two, or 0 */
    KX_VEC(struct st_piv_group) groups;
    KX_VEC(struct st_rec *) recs; /* entries */
    KX_VEC(uint32_t) next;        /* next entry of the same group + 1; 0 = end */
};

/* ---- the store ---------------------------------------------------------------------------- */

struct st_rule_mem {
    uint32_t rid;
    char *rule_id;
    int64_t window_ms;
    int64_t watermark;
    int64_t wm_saved; /* watermark at st_begin, for rollback */
    bool wm_dirty;
    bool complete;  /* every combination of this baseline is in the index (else: lazy) */
    bool has_pivot; /* st_rule_def.has_pivot / pivot */
    uint32_t pivot;
    /* last record found or inserted for this rule (see find_rec in state.c), valid while
       the index's generation is last_gen */
    struct st_rec *last;
    uint64_t last_gen;
};

struct st_undo {
    struct st_rec *rec;
    int64_t first_seen;
    int64_t last_seen;
    uint8_t flags;
    bool inserted;
    uint16_t poff, plen; /* the record's pivot within its key, set by st_flush_dirty to sort */
};

/* One combination found by st_pivot_each, before sorting (32 bytes: sorted by value). */
struct st_piv_item {
    const uint8_t *key; /* the record's key, or (copied) an offset into piv_keys until resolved */
    int64_t first_seen;
    int64_t last_seen;
    uint16_t klen;
    uint8_t flags;
    bool copied; /* key is in piv_keys */
};

struct st_counter {
    char name[64];
    int64_t value;   /* committed */
    int64_t pending; /* added since the last commit */
};

enum {
    SQ_TERM_UPSERT,
    SQ_ALERT_INSERT,
    SQ_ALERT_GET,
    SQ_POS_SET,
    SQ_POS_GET,
    SQ_COUNTER_SET,
    SQ_WATERMARK_SET,
    SQ_TERMS_OF_RULE,
    SQ_TERMS_COUNT,
    SQ_TERM_GET,
    SQ_PIVOT_TERMS,
    SQ__COUNT
};

struct st_store {
    enum st_mode mode;
    char *path;
    sqlite3 *db;
    sqlite3_stmt *sq[SQ__COUNT];
    struct st_index idx;
    KX_VEC(struct st_rule_mem) rules; /* registered in this session */
    KX_VEC(uint32_t) by_rid;          /* rid -> index in rules + 1 (0 = not registered) */
    KX_VEC(struct st_undo) undo;      /* also the list of dirty records */
    KX_VEC(struct st_counter) counters;
    struct st_pivots piv;
    KX_VEC(uint8_t) piv_keys;             /* st_pivot_each's scratch: copied keys */
    KX_VEC(struct st_piv_item) piv_items; /* and what to sort */
    struct st_pivot_cost piv_cost;        /* of the last st_pivot_each */
    uint64_t piv_backfilled;              /* terms rows given a pivot by registrations (tests) */
    bool in_batch;
    bool reload_on_rollback;  /* the undo log was flushed inside this batch */
    unsigned long fail_after; /* st_test_fail_after countdown, 0 = off */
};

/* Helpers shared by state.c and state_query.c. */
int st_sql_fail(struct st_store *st, kad_err *err, const char *what);
int st_exec(struct st_store *st, const char *sql, kad_err *err);
struct st_rule_mem *st_rule_mem_get(struct st_store *st, uint32_t rid);
/* Write the dirty records of the open batch into its transaction and empty the undo log. */
int st_flush_dirty(struct st_store *st, kad_err *err);
/* Drop the index; registered rules load their combinations again, lazily, from the database. */
int st_reload_index(struct st_store *st, kad_err *err);
int64_t st_now_ms(void);

/* state_pivot.c */
/* Component i of an encoded combination; false when the bytes hold no such component. */
bool st_combo_part(const void *key, size_t len, size_t i, kx_str *out);
/* The rule's pivot value of a record; false when the rule has none (or the key is short). */
bool st_rec_pivot(struct st_store *st, const struct st_rec *r, kx_str *out);
void piv_init(struct st_pivots *p);
void piv_fini(struct st_pivots *p);
/* Forget every entry (a large map is given back). */
void piv_clear(struct st_pivots *p);
/* List a record under its rule's pivot value (nothing when the rule has none). */
void piv_add(struct st_store *st, struct st_rec *r);
/* Rebuild from the index: every live record (MEM) or every REC_UNSAVED one (file stores). */
void piv_rebuild(struct st_store *st);
uint64_t piv_mem_bytes(const struct st_pivots *p);
/* Define kadet_component(combo, i) on a connection (backfill of terms.pivot). */
int piv_sql_functions(sqlite3 *db);

#endif

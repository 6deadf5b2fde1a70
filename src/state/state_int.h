/*
 * state_int.h - private to src/state/: the table of operations a store implements (struct
 * st_ops), the part of a store every implementation shares (struct st_store), and the SQLite
 * implementation's own structures (the in-memory index, the pivot map, struct st_sql) shared by
 * its files (state_sqlite.c, state_schema.c, state_index.c, state_query.c, state_pivot.c).
 * Nothing outside src/state/ includes this file except the module's unit tests; the module's
 * contract is state.h.
 */
#ifndef KAD_STATE_INT_H
#define KAD_STATE_INT_H

#include "base/vec.h"
#include "state/state.h"
#include <sqlite3.h>
#include <string.h>

/* ======================================================================================== */
/* The table of operations (the contract between state.c and a store implementation)        */
/* ======================================================================================== */

/*
 * A store implementation is one `const struct st_ops` and the functions it points to: the
 * SQLite store (state_sqlite.c, with the in-memory index in front; it also serves ST_OPEN_MEM)
 * and the Redis store (state_redis.c, `redis://...` URLs). state.c holds what every
 * store shares: opening by path or URL, the checks of state.h's contract (argument limits,
 * read-only stores, "needs a batch"), batch bookkeeping and the combination encoding. So an
 * operation is only called with:
 *   - st an open store of this implementation (the implementation's struct begins with
 *     `struct st_store base`, so it converts st to its own type);
 *   - combinations of 1..ST_KEY_MAX bytes (an st_combo_encode result), non-empty alert ids,
 *     counter names of 1..ST_COUNTER_NAME_MAX bytes, rule definitions already validated
 *     (rule_id non-empty,
 *     nfields <= ST_COMPONENTS_MAX, pivot < nfields);
 *   - a writable store (not ST_OPEN_RO) for register, begin, alert_emitted, counter_add,
 *     prune and reset;
 *   - an open batch for observe, alert_claim and pos_set; no open batch for begin and reset.
 * The implementation still checks what only it knows: whether a rid is registered
 * (KAD_ENOTFOUND), whether a rule id exists in the store (prune, reset).
 *
 * Ownership and lifetimes: open allocates the store (with kx_malloc & co.), initialises `base`
 * with st_base_init and returns it in *out; close frees everything it owns (state.c rolls an
 * open batch back first). Every pointer an operation receives (paths, combinations, rule
 * definitions, alert ids, source names, filters) is borrowed for the call only: the store
 * copies what it keeps. Pointers passed to callbacks (st_rule_info, st_term_info and their
 * strings and components) are valid during the callback only; a callback must not call the
 * store (except pure reads of the arguments). rids are the store's and stay valid until close.
 *
 * Errors: 0 or a negative KAD_E* with `err` filled (err may be NULL), as state.h says per
 * function: KAD_ESTATE for the store's own failures (database or server errors, with its text),
 * KAD_EIO for the file system or the network, KAD_ENOTFOUND for unknown rids, rule ids or
 * sources, KAD_EINVAL for misuse the front cannot see. After a failed commit the store has
 * rolled the batch back (base.in_batch false). lookup and counter_get return 0 on errors.
 *
 * Transactions: begin opens a batch, commit makes it durable, rollback abandons it; state.c
 * keeps base.in_batch (set after a successful begin, cleared after commit, failed or not, and
 * after rollback; the implementation may read it). With ST_CAP_ATOMIC_BATCH (SQLite, MEM)
 * everything between begin and commit -- observations, alert claims, positions, counters,
 * watermarks -- is one transaction: all of it survives a crash after commit returns, none of it
 * before, and rollback restores exactly the state at begin, in memory and on disk. A store without
 * it (a server shared by several kadet instances) decides observe and alert_claim on the server
 * when they are called (visible to the other instances at once, never undone by rollback) and
 * commits the rest (positions, counters, deferred last_seen updates) at commit; the engine's
 * protocol for such a store: docs/internals/state.md, "The Redis store", "Batches".
 *
 * Which operations must be synchronous, which may be deferred or pipelined:
 *   - observe is one atomic step per combination: look it up, apply the window, insert or
 *     update, and return the decision (NEW, FORGOTTEN, KNOWN). Its result is needed at once
 *     (it decides the alert), so it is synchronous; on a server it is one script (e.g. a Redis
 *     Lua script over one hash field: read, compare with the window, write, return). The
 *     SQLite store decides it in the in-memory index, which is the authority while the store
 *     has its one writer, and writes the changed records at commit.
 *   - alert_claim is one atomic step too ("insert this alert id unless present; was it
 *     absent?"), the only way two instances can agree on who emits an alert (SET NX). Its
 *     result is needed at once.
 *   - pos_set, counter_add and the last_seen/first_seen widening of KNOWN combinations return
 *     nothing the engine waits for: a store may buffer or pipeline them until commit (the
 *     SQLite store writes terms and counters at commit, positions at once into the open
 *     transaction). Input positions are local: they name this host's files (dev:inode:path) and
 *     output, so a shared store keys them per instance (or keeps them in a local file).
 *   - reads (lookup, alert_emitted, pos_get, watermark, counter_get) see the open batch's own
 *     changes; iterations (rules_each, terms_each, pivot_each, positions_each, counters_each)
 *     and stats see them too, and may be slow (they are for inspection and kadet.baseline).
 */
#define ST_CAP_ATOMIC_BATCH 0x1u /* rollback undoes every operation of the batch */

struct st_ops {
    const char *name; /* "sqlite" (files and MEM), later "redis": for messages and tests */
    unsigned caps;    /* ST_CAP_* */
    /* path: a file (RW, RO), NULL (MEM), or the URL that selected this store */
    /* password: st_open_auth's (NULL: none, or the URL's); stores without one ignore it */
    int (*open)(struct st_store **out, const char *path, enum st_mode mode, unsigned flags,
                const char *password, kad_err *err);
    void (*close)(struct st_store *st);
    int (*rule_register)(struct st_store *st, const struct st_rule_def *def, uint32_t *rid,
                         enum st_baseline *status, kad_err *err);
    int (*rule_preload)(struct st_store *st, uint32_t rid, kad_err *err);
    int64_t (*watermark)(const struct st_store *st, uint32_t rid);
    int (*begin)(struct st_store *st, kad_err *err);
    int (*commit)(struct st_store *st, kad_err *err);
    void (*rollback)(struct st_store *st);
    /* origin: st_observe_by's (0: none); a store without ST_CAP_ATOMIC_BATCH keeps it with the
       combination's life and returns it in prev->origin */
    int (*observe)(struct st_store *st, uint32_t rid, const void *combo, size_t len, int64_t ts,
                   uint64_t origin, struct st_term *prev, kad_err *err);
    int (*lookup)(struct st_store *st, uint32_t rid, const void *combo, size_t len,
                  struct st_term *out);
    /* 1: claimed now, 0: the id was already recorded, < 0: error (combo NULL: query rule) */
    int (*alert_claim)(struct st_store *st, uint32_t rid, const void *combo, size_t len,
                       const char *alert_id, int64_t ts, kad_err *err);
    int (*alert_emitted)(struct st_store *st, const char *alert_id, kad_err *err);
    int (*pos_set)(struct st_store *st, const char *source, int64_t offset, int64_t line,
                   kad_err *err);
    int (*pos_get)(struct st_store *st, const char *source, struct st_pos *out, kad_err *err);
    int (*positions_each)(struct st_store *st,
                          int (*fn)(const char *source, const struct st_pos *pos, void *ud),
                          void *ud, kad_err *err);
    int (*counter_add)(struct st_store *st, const char *name, int64_t delta, kad_err *err);
    int64_t (*counter_get)(struct st_store *st, const char *name);
    int (*counters_each)(struct st_store *st, int (*fn)(const char *name, int64_t value, void *ud),
                         void *ud);
    int (*stats)(struct st_store *st, struct st_stats *out, kad_err *err);
    int (*rules_each)(struct st_store *st, const char *rule_id, st_rule_fn fn, void *ud,
                      kad_err *err);
    int (*terms_each)(struct st_store *st, const struct st_filter *f, st_term_fn fn, void *ud,
                      kad_err *err);
    int (*pivot_each)(struct st_store *st, uint32_t rid, const void *value, size_t len,
                      st_term_fn fn, void *ud, kad_err *err);
    int (*alerts_each)(struct st_store *st, int (*fn)(const struct st_alert_info *a, void *ud),
                       void *ud, kad_err *err);
    /* Optional (NULL: the front counts through pivot_each): st_pivot_count. */
    int (*pivot_count)(struct st_store *st, uint32_t rid, const void *value, size_t len,
                       int64_t min_last_seen, uint64_t *n, kad_err *err);
    int (*prune)(struct st_store *st, const struct st_prune_opts *o, struct st_prune_result *res,
                 kad_err *err);
    int (*reset)(struct st_store *st, const char *rule_id, uint64_t *terms_removed, kad_err *err);
    /* Optional (NULL: the front answers KAD_EUNSUPPORTED): one opaque blob per registered rule,
       written in the open batch (undone by its rollback), read back with the batch's own
       change; reset and stale pruning delete it with the rule's other rows. */
    int (*blob_set)(struct st_store *st, uint32_t rid, const void *data, size_t len, kad_err *err);
    int (*blob_get)(struct st_store *st, uint32_t rid, kx_buf *out, kad_err *err);
    /* Optional (NULL: the front calls observe / lookup for each probe, in order):
       st_observe_batch and st_lookup_batch, with the same answers as those calls. The front
       has checked the batch (observe) and every probe's length, and zeroed every prev. */
    int (*observe_batch)(struct st_store *st, struct st_probe *p, size_t n, kad_err *err);
    size_t (*lookup_batch)(struct st_store *st, struct st_probe *p, size_t n);
};

/* What every store begins with. */
struct st_store {
    const struct st_ops *ops;
    enum st_mode mode;
    char *path; /* owned copy of the path or URL (NULL for MEM) */
    bool in_batch;
};

/* Named counters as both stores keep them in memory (state.c): the committed value and what
   the open batch added. st_cnt_each sorts by name and stops at a nonzero return of fn;
   st_cnt_settle adds the pending deltas to the values (commit) or drops them. */
struct st_counter {
    char name[ST_COUNTER_NAME_MAX + 1];
    int64_t value;   /* committed */
    int64_t pending; /* added since the last commit */
};
typedef KX_VEC(struct st_counter) st_cnt_vec;
void st_cnt_add(st_cnt_vec *c, const char *name, int64_t delta);
int64_t st_cnt_get(const st_cnt_vec *c, const char *name);
int st_cnt_each(st_cnt_vec *c, int (*fn)(const char *name, int64_t value, void *ud), void *ud);
void st_cnt_settle(st_cnt_vec *c, bool commit);

/* Fill `base` (path is copied; NULL stays NULL). */
void st_base_init(struct st_store *base, const struct st_ops *ops, enum st_mode mode,
                  const char *path);
/* Free what st_base_init allocated. */
void st_base_fini(struct st_store *base);

/* The SQLite store (state_sqlite.c). */
extern const struct st_ops st_sqlite_ops;
/* The Redis store (state_redis.c): redis:// URLs. */
extern const struct st_ops st_redis_ops;
/* Parse a redis:// URL as opening would, without connecting: 0 or KAD_EINVAL (err says
   where); *shown receives the URL with its password replaced (kx_free it). For the fuzz
   target. */
int st_redis_url_check(const char *url, char **shown, kad_err *err);
/* A connection of its own to a redis:// state's server, for the alert index (state_alerts.c):
   opened as the state opens its own (URL, password replacing the URL's, database, ACL user, a
   master that takes writes); *prefix receives the instance's key prefix "{kadet:i:NAME}:"
   (kx_free it). st_redis_conn_run pipelines n commands (command i: argc[i] string arguments)
   in one round trip, reconnecting as the state does; the n replies are the caller's
   (freeReplyObject; error replies are replies). st_redis_conn_url: the URL, password hidden. */
struct st_redis_conn;
struct redisReply;
int st_redis_conn_open(struct st_redis_conn **out, const char *url, const char *password,
                       char **prefix, kad_err *err);
const char *st_redis_conn_url(const struct st_redis_conn *c);
int st_redis_conn_run(struct st_redis_conn *c, size_t n, const int *argc,
                      const char *const *const *argv, struct redisReply **rep, kad_err *err);
void st_redis_conn_close(struct st_redis_conn *c);

/* Shared by the stores' terms_each (state_query.c): the component index of each condition of
   f for rule r (false when a field is unknown to it), whether term t passes them, whether the
   filter wants rule r's baseline at all (current, or all_baselines). */
bool st_filter_resolve(const struct st_filter *f, const struct st_rule_info *r, int *idx);
bool st_filter_match(const struct st_filter *f, const int *idx, const struct st_term_info *t);
bool st_filter_wants(const struct st_filter *f, const struct st_rule_info *r);

/* ---- the in-memory index (state_index.c) -------------------------------------------------- */

/* Record flags. ALERTED is persisted (terms.flags); the others live only in memory. */
#define REC_ALERTED 0x01u
#define REC_PERSIST_MASK 0x0fu
#define REC_UNSAVED 0x20u /* file stores: inserted, not yet written to SQLite */
#define REC_DIRTY 0x40u   /* in the current batch's undo log */
#define REC_DEAD 0x80u    /* deleted; its bytes are reclaimed by the next compaction */

/*
 * One combination: 32 bytes of header, then the key bytes, padded to 8. Records live in 2 MiB
 * chunks and never move while a batch has pointers to them (compaction runs only when the
 * undo log is empty). id: the row's id in the file store's terms_key/terms_seen tables (schema
 * 4), 0 while the record is not in SQLite (REC_UNSAVED, and always in MEM stores).
 */
struct st_rec {
    int64_t id;
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

/* A slot: 0 empty, IDX_TOMB deleted, else (tag << IDX_REF_BITS) | (ref + 1), ref = (chunk <<
   IDX_OFF_BITS) | (offset in the chunk / 8). */
#define IDX_OFF_BITS 18
#define IDX_REF_BITS 40
#define IDX_REF_MASK ((UINT64_C(1) << IDX_REF_BITS) - 1)
#define IDX_TOMB UINT64_MAX

static inline uint64_t idx_rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t idx_rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The 128-bit product of a and b, its two halves xored: every bit of the result depends on
   every bit of both inputs (one `mul` on x86-64). */
static inline uint64_t idx_fold_mul(uint64_t a, uint64_t b)
{
    __extension__ typedef unsigned __int128 u128; /* GCC and Clang on 64-bit targets */
    u128 p = (u128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/*
 * The index's own hash of (rid, key), 32 bytes per step: a step multiplies (128 bits, folded)
 * 8 key bytes xored with a constant by the next 8 xored with the state, and xors in a second
 * product of the next 16 bytes (each xored with a constant), independent of the first, so the
 * two multiply in parallel. A key of 94 bytes costs ~60 instructions (the MurmurHash3-style word
 * loop before it: ~170, and a chain of 12 dependent steps). The last 1..16 bytes are
 * read as one block (overlapping the previous one) and the length is mixed in twice, so keys
 * differing only in length differ. A product is 0 when a factor is: the constants xored into
 * key words have a 0xff byte, which UTF-8 text never holds, so that factor is
 * not 0 for text (a product of 0 would drop the earlier blocks: a collision, which costs a
 * longer probe, never a wrong answer, since keys are always compared). The low bits pick the
 * slot, the high 24 bits are the slot's tag; the last fold mixes both from every input bit.
 *
 * Inline: it is most of a lookup's instructions. Never persisted and never leaves this process,
 * so it may depend on the byte order and may change between versions; kx_hash64 (byte by byte,
 * stable) stays what alert ids, logic hashes and counter names use, and st_disk_hash (fixed by
 * the file format) what the file stores.
 */
static inline __attribute__((always_inline)) uint64_t idx_hash(uint32_t rid, const void *key,
                                                                size_t len)
{
    const uint64_t k0 = UINT64_C(0xa0761d6478bd642f), k1 = UINT64_C(0xe7037ed1ff5a0cb5),
                   k2 = UINT64_C(0x8ebc6af0ffb5a4c1), k3 = UINT64_C(0x589965cc75374cc3);
    const unsigned char *p = key;
    uint64_t h = ((uint64_t)rid << 32 | (uint64_t)len) ^ k0, a, b;
    size_t n = len;
    if (n > 16) {
        for (; n > 32; p += 32, n -= 32) /* two independent products per step */
            h = idx_fold_mul(idx_rd64(p) ^ k1, idx_rd64(p + 8) ^ h) ^
                idx_fold_mul(idx_rd64(p + 16) ^ k2, idx_rd64(p + 24) ^ k3);
        if (n > 16) {
            h = idx_fold_mul(idx_rd64(p) ^ k1, idx_rd64(p + 8) ^ h);
            p += 16;
            n -= 16;
        }
        a = idx_rd64(p + n - 16);
        b = idx_rd64(p + n - 8);
    } else if (n >= 8) {
        a = idx_rd64(p);
        b = idx_rd64(p + n - 8);
    } else if (n >= 4) {
        a = idx_rd32(p);
        b = idx_rd32(p + n - 4);
    } else if (n > 0) {
        a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
        b = 0;
    } else {
        a = b = 0;
    }
    h = idx_fold_mul(a ^ k2, b ^ h ^ k3);
    return idx_fold_mul(h ^ (uint64_t)len, k0 ^ k3);
}

static inline struct st_rec *idx_deref(const struct st_index *ix, uint64_t slot)
{
    uint64_t ref = (slot & IDX_REF_MASK) - 1;
    return (struct st_rec *)(ix->chunks[ref >> IDX_OFF_BITS] +
                             ((ref & ((UINT64_C(1) << IDX_OFF_BITS) - 1)) << 3));
}

static inline uint64_t idx_tag(uint64_t h) { return h >> IDX_REF_BITS; }

/* The live record for (rid, key) or NULL. `h` is idx_hash(rid, key, len). Inline: the hot
   path of every lookup and observe. */
static inline struct st_rec *idx_find(const struct st_index *ix, uint32_t rid, const void *key,
                                      size_t len, uint64_t h)
{
    if (!ix->cap)
        return NULL;
    size_t mask = ix->cap - 1;
    uint64_t tag = idx_tag(h);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t s = ix->slots[i];
        if (s == 0)
            return NULL;
        if (s == IDX_TOMB || (s >> IDX_REF_BITS) != tag)
            continue;
        struct st_rec *r = idx_deref(ix, s);
        if (r->rid == rid && r->klen == len && memcmp(r->key, key, len) == 0)
            return r;
    }
}
/* Prefetch hints for a later idx_find with hash h: the slot where its probe starts, then
   (once that line has arrived) the record of the first slot whose tag matches. No effect on
   results; they only start the memory loads early. */
void idx_prefetch_slot(const struct st_index *ix, uint64_t h);
void idx_prefetch_rec(const struct st_index *ix, uint64_t h);
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

/*
 * One large pivot group (rid, pivot value) listed in full and kept in st_pivot_each's order
 * between calls, so that a user who floods a rule with new combinations costs linear time in
 * kadet.baseline instead of quadratic (state_pivot.c). Every record of the group is in the
 * index (rows read from SQLite are loaded into it, as lazy lookups do), so entries are record
 * pointers whose fields are always current; new records of the group are appended by observe,
 * a changed first_seen marks the list unsorted. Valid while the index generation is `gen`;
 * rollback, prune, reset, reload and re-pivoting drop every cached group.
 */
struct st_piv_cache {
    uint8_t *val; /* owned copy of the pivot value; NULL = slot unused */
    size_t len;
    uint64_t h;
    uint32_t rid;
    bool unsorted;
    int64_t min_last; /* a lower bound of every entry's last_seen (last_seen only grows) */
    uint64_t gen;
    KX_VEC(struct st_rec *) recs;
};
#define ST_PIV_CACHE_N 8    /* groups cached at once (round robin) */
#define ST_PIV_CACHE_MIN 32 /* smaller groups are listed from scratch each time */

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
    uint32_t ph, kh; /* the record's st_disk_hash of pivot and key, set by st_flush_dirty */
};

/* One combination found by st_pivot_each, before sorting (40 bytes: sorted by value). */
struct st_piv_item {
    const uint8_t *key; /* the record's key, or (copied) an offset into piv_keys until resolved */
    int64_t id;         /* copied rows: the row's id (st_rec.id) */
    int64_t first_seen;
    int64_t last_seen;
    uint16_t klen;
    uint8_t flags;
    bool copied; /* key is in piv_keys */
};

enum {
    SQ_TERM_INSERT_KEY,
    SQ_TERM_INSERT_SEEN,
    SQ_TERM_UPDATE,
    SQ_ALERT_INSERT,
    SQ_ALERT_GET,
    SQ_POS_SET,
    SQ_POS_GET,
    SQ_COUNTER_SET,
    SQ_WATERMARK_SET,
    SQ_TERMS_OF_RULE,
    SQ_TERMS_KEYS_SCAN,
    SQ_TERMS_SEEN_SCAN,
    SQ_TERMS_MAX_ID,
    SQ_TERMS_COUNT,
    SQ_TERM_GET,
    SQ_PIVOT_TERMS,
    SQ__COUNT
};

/* The rule blobs table (st_blob_set), created on opening a writable store. */
#define BLOBS_SQL "CREATE TABLE IF NOT EXISTS blobs(rid INTEGER PRIMARY KEY, data BLOB NOT NULL)"

/* The SQLite store: state_sqlite.c, state_schema.c, state_query.c, state_pivot.c. */
struct st_sql {
    struct st_store base; /* first: a struct st_store * of this store converts to st_sql * */
    sqlite3 *db;
    sqlite3_stmt *sq[SQ__COUNT];
    struct st_index idx;
    KX_VEC(struct st_rule_mem) rules; /* registered in this session */
    KX_VEC(uint32_t) by_rid;          /* rid -> index in rules + 1 (0 = not registered) */
    KX_VEC(struct st_undo) undo;      /* also the list of dirty records */
    st_cnt_vec counters;
    struct st_pivots piv;
    KX_VEC(uint8_t) piv_keys;             /* st_pivot_each's scratch: copied keys */
    KX_VEC(struct st_piv_item) piv_items; /* and what to sort */
    struct st_pivot_cost piv_cost;        /* of the last st_pivot_each */
    uint64_t piv_backfilled;              /* terms rows given a pivot by registrations (tests) */
    struct st_piv_cache pcache[ST_PIV_CACHE_N];
    unsigned pcache_next;     /* next slot to reuse */
    unsigned pcache_live;     /* slots in use */
    int schema;               /* the file's schema version (older ones only when read-only) */
    bool reload_on_rollback;  /* the undo log was flushed inside this batch */
    unsigned long fail_after; /* st_test_fail_after countdown, 0 = off */
};

/* The SQLite store of a struct st_store (which must be one). */
static inline struct st_sql *sql_of(struct st_store *st) { return (struct st_sql *)st; }
static inline const struct st_sql *csql_of(const struct st_store *st)
{
    return (const struct st_sql *)st;
}

/* state_sqlite.c: helpers shared by the SQLite store's files. */
int st_sql_fail(struct st_sql *st, kad_err *err, const char *what);
int st_exec(struct st_sql *st, const char *sql, kad_err *err);
/* Run a prepared statement that returns no rows, then reset it. */
int st_step_done(struct st_sql *st, sqlite3_stmt *s, kad_err *err, const char *what);
struct st_rule_mem *st_rule_mem_get(struct st_sql *st, uint32_t rid);
/* Write the dirty records of the open batch into its transaction and empty the undo log. */
int st_flush_dirty(struct st_sql *st, kad_err *err);
/* Drop the index; registered rules load their combinations again, lazily, from the database. */
int st_reload_index(struct st_sql *st, kad_err *err);
int64_t st_now_ms(void);
#ifdef KAD_TEST_HOOKS
/* Failure injection (st_test_fail_after): true when this database write must fail. */
static inline bool st_injected(struct st_sql *st)
{
    return st->fail_after && --st->fail_after == 0;
}
#else
#define st_injected(st) ((void)(st), false)
#endif

/* state_schema.c: the schema, creation, version checks and migration. */
#define ST_SCHEMA_VERSION 4
#define ST_APPLICATION_ID 0x6b616474 /* "kadt" */
/*
 * Check the schema of a freshly opened database: create it in an empty database when
 * `may_create` (never RO; else an error naming the file, `zero_bytes` saying how it was empty),
 * refuse other applications' files and newer versions, migrate older ones when writable.
 */
int st_schema_check(struct st_sql *st, bool may_create, bool zero_bytes, kad_err *err);
/* Create a missing state file with its schema, atomically (*created false: the file system
   has no hard links; the caller creates it in place). */
int st_schema_create_file(const char *path, bool *created, kad_err *err);
/* An existing file of `size` bytes (> 0) must be an SQLite database, not cut short. */
int st_schema_file_check(const char *path, int64_t size, kad_err *err);

/* state_query.c and state_pivot.c: the SQLite store's operations defined there. */
int sql_stats_get(struct st_store *base_, struct st_stats *out, kad_err *err);
int sql_rules_each(struct st_store *base_, const char *rule_id, st_rule_fn fn, void *ud,
                   kad_err *err);
int sql_terms_each(struct st_store *base_, const struct st_filter *f, st_term_fn fn, void *ud,
                   kad_err *err);
int sql_prune(struct st_store *base_, const struct st_prune_opts *o, struct st_prune_result *res,
              kad_err *err);
int sql_reset(struct st_store *base_, const char *rule_id, uint64_t *terms_removed, kad_err *err);
int sql_pivot_each(struct st_store *base_, uint32_t rid, const void *value, size_t len,
                   st_term_fn fn, void *ud, kad_err *err);
int sql_pivot_count(struct st_store *base_, uint32_t rid, const void *value, size_t len,
                    int64_t min_last_seen, uint64_t *n, kad_err *err);

/* state_pivot.c */
/* Component i of an encoded combination; false when the bytes hold no such component. */
bool st_combo_part(const void *key, size_t len, size_t i, kx_str *out);
/* The rule's pivot value of a record; false when the rule has none (or the key is short). */
bool st_rec_pivot(struct st_sql *st, const struct st_rec *r, kx_str *out);
void piv_init(struct st_pivots *p);
void piv_fini(struct st_pivots *p);
/* Forget every entry (a large map is given back). */
void piv_clear(struct st_pivots *p);
/* List a record under its rule's pivot value (nothing when the rule has none). */
void piv_add(struct st_sql *st, struct st_rec *r);
/* Rebuild from the index: every live record (MEM) or every REC_UNSAVED one (file stores). */
void piv_rebuild(struct st_sql *st);
uint64_t piv_mem_bytes(const struct st_pivots *p);
/* Forget every cached pivot group (struct st_piv_cache); frees them. */
void piv_cache_drop(struct st_sql *st);
/* Record r changed: inserted (appended to its cached group) or its first_seen moved (the group
   is re-sorted when next read). Nothing when no group is cached. */
void piv_cache_note(struct st_sql *st, struct st_rec *r, bool inserted);
/* Define kadet_component(combo, i) and kadet_hash(blob) on a connection (backfill of
   terms_key.phash, migration). */
int piv_sql_functions(sqlite3 *db);
/* The 31-bit hash stored in terms_key.phash and .khash (schema 4): a function of the bytes
   alone, the same on every machine and in every version (it is on disk); 0 for no bytes. */
uint32_t st_disk_hash(const void *p, size_t n);
/* terms_key.phash of a record of rule m: the hash of its pivot component (0: no pivot). */
uint32_t st_rec_phash(struct st_sql *st, uint32_t rid, const void *key, size_t len);

#endif

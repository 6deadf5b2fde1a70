/*
 * state.h - the new-terms state store: which combinations of new-terms values each rule has
 * seen, when, and whether they raised an alert; plus the input positions and emitted alert ids
 * that make a restart after kill -9 resume exactly.
 *
 * Shape: these functions are the front (state.c); each checks the contract written here and
 * calls the store's implementation through a table of operations (struct st_ops in
 * state_int.h, which states what an implementation must do: ownership, transactions, which
 * operations are atomic and which may be deferred). The one implementation today is SQLite
 * (state_sqlite.c): an in-memory hash index (rule + combination -> first/last seen, flags) in
 * front of SQLite (WAL mode, one transaction per batch); the index is the authority while a
 * store is open for writing, SQLite its durable copy, written at st_commit. It also serves
 * ST_OPEN_MEM. The Redis store (state_redis.c, `redis://` URLs) is the second implementation:
 * several kadet instances share one baseline. Layout, durability protocol and measurements:
 * docs/internals/state.md.
 *
 * What this module does not do: evaluate queries, compute alert ids or choose the history
 * window (the caller passes the rule's window at registration).
 *
 * Threading: a store is used by one thread at a time. Several processes may open the same file:
 * one writer, any number of read-only readers (SQLite WAL rules).
 *
 * Errors: functions that can fail take `kad_err *err` last (NULL allowed) and return 0 or a
 * negative KAD_E* code: KAD_EINVAL for API misuse (no open batch, read-only store), KAD_ESTATE
 * for SQLite failures (message carries SQLite's text), KAD_EIO for the file system,
 * KAD_ELIMIT when a combination is too large, KAD_ENOTFOUND for unknown rules or sources.
 */
#ifndef KAD_STATE_H
#define KAD_STATE_H

#include "base/buf.h"
#include "base/str.h"
#include "kad.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest encoded combination (sum of components plus their length prefixes). */
#define ST_KEY_MAX 8192
/* Most components in one combination (Elastic allows 3 new-terms fields). */
#define ST_COMPONENTS_MAX 8
/* "No event time yet" (e.g. the watermark of a rule that has seen nothing). */
#define ST_TIME_NONE INT64_MIN

struct st_store;

/* ======================================================================================== */
/* Opening and closing                                                                      */
/* ======================================================================================== */

enum st_mode {
    ST_OPEN_RW = 0, /* create the file (and missing parent directories) if needed */
    ST_OPEN_RO,     /* inspection (`kadet state`); the file must exist; writes fail */
    ST_OPEN_MEM,    /* --no-state: nothing touches the disk; everything dies with st_close */
};

/* st_open_flags flag, RW: an existing empty file (0 bytes, or an SQLite database without
   tables) becomes a new state instead of an error. */
#define ST_OPEN_INIT 0x1u

/*
 * Open a store. `path` is the database file for RW and RO (ignored for MEM, may be NULL).
 * On success *out owns the store; close it with st_close. RO on a missing file gives
 * KAD_ENOTFOUND; a file that is not a kadet state (or a newer schema) gives KAD_ESTATE.
 * RW creates a missing file, but an existing one must hold a kadet state: an empty file (0
 * bytes: a copy that failed, a full disk, `> state.db`) is KAD_ESTATE unless `flags` has
 * ST_OPEN_INIT, since starting anew would raise every alert of the lost state again; a file
 * that is not an SQLite database, or shorter than its header says (truncated), is KAD_ESTATE
 * whatever the flags (kadet never writes over it). A `redis://` path opens the Redis store
 * (URL syntax and what it does differently: docs/internals/state.md; `rediss://` is TLS); a
 * malformed URL is KAD_EINVAL, an unreachable server KAD_EUNAVAIL, a failed AUTH or a server
 * certificate refused KAD_ESTATE.
 */
int st_open_flags(struct st_store **out, const char *path, enum st_mode mode, unsigned flags,
                  kad_err *err);
/* st_open_flags with a password for a server store (redis://: it replaces the URL's; the
   user, if any, stays the URL's). NULL: none. A password with a file path is KAD_EINVAL. */
int st_open_auth(struct st_store **out, const char *path, enum st_mode mode, unsigned flags,
                 const char *password, kad_err *err);
/* st_open_flags with flags 0. */
int st_open(struct st_store **out, const char *path, enum st_mode mode, kad_err *err);
/* Close; an open batch is rolled back (like a crash, minus the crash). NULL is a no-op. */
void st_close(struct st_store *st);
enum st_mode st_mode_get(const struct st_store *st);
/* The path given to st_open (NULL for MEM). Valid until st_close. */
const char *st_path(const struct st_store *st);

/* ======================================================================================== */
/* Combinations: length-prefixed components ("5:allow,5:alice,")                            */
/* ======================================================================================== */

/*
 * A combination is stored as netstrings: for each component its decimal byte length, ':',
 * the bytes, ','. The encoding is injective, keeps components recoverable and is readable in
 * the sqlite3 shell (`SELECT CAST(combo AS TEXT) FROM terms`).
 *
 * st_combo_encode appends the encoding of comps[0..n) to dst (which is not reset). Fails with
 * KAD_ELIMIT if the encoding would pass ST_KEY_MAX (dst is then unchanged) and KAD_EINVAL if
 * n is 0 or above ST_COMPONENTS_MAX.
 */
int st_combo_encode(kx_buf *dst, const kx_str *comps, size_t n, kad_err *err);
/*
 * Split an encoded combination into at most `max` components (slices into `key`, valid as
 * long as key is). Returns the number of components, or -1 if the bytes are not a valid
 * encoding (or hold more than `max` components).
 */
int st_combo_decode(const void *key, size_t len, kx_str *comps, size_t max);

/* ======================================================================================== */
/* Rules                                                                                    */
/* ======================================================================================== */

struct st_rule_def {
    const char *rule_id;       /* Elastic's rule_id */
    const char *name;          /* for humans; editing it keeps the baseline */
    uint64_t logic_hash;       /* struct rule.logic_hash: query, fields, window, exceptions */
    const char *const *fields; /* new-terms field names, in order (may be NULL when nfields 0) */
    size_t nfields;
    int64_t window_ms; /* history window W; <= 0 means "never forget" */
    /* The component st_pivot_each looks combinations up by (kadet.baseline: the user), when
       has_pivot; zero-initialised = no pivot. The state keys combinations by it: changing it
       re-keys the stored baseline once, outside a batch only (KAD_EINVAL inside one). */
    bool has_pivot;
    size_t pivot; /* 0-based component index, < nfields */
};

enum st_baseline {
    ST_BASELINE_NEW = 0, /* the rule id was never seen by this store */
    ST_BASELINE_KEPT,    /* same rule id and logic hash as last time: baseline kept */
    ST_BASELINE_CHANGED, /* the logic changed: a new, empty baseline starts */
    ST_BASELINE_REVERTED /* the logic changed back to one seen before: that baseline resumes */
};
/* "new", "kept", "changed", "reverted". */
const char *st_baseline_name(enum st_baseline b);

/*
 * Register a rule for this session. The baseline is keyed by (rule_id, logic_hash); *rid
 * receives the small id used by every other call (valid until st_close). An existing baseline
 * is loaded into the index lazily (each combination on its first lookup), so reopening a large
 * state is immediate; st_rule_preload loads it all at once. The name, fields and window are updated
 * to the given ones; the previous baseline of a changed rule is kept on disk, marked not current
 * (`kadet state prune --stale` removes it). Works inside or outside a batch. RO stores: KAD_EINVAL.
 */
int st_rule_register(struct st_store *st, const struct st_rule_def *def, uint32_t *rid,
                     enum st_baseline *status, kad_err *err);
/* Load every combination of a registered rule's baseline into the index now (one scan). */
int st_rule_preload(struct st_store *st, uint32_t rid, kad_err *err);

/* ======================================================================================== */
/* Batches                                                                                  */
/* ======================================================================================== */

/*
 * Writes happen inside a batch: st_begin, then observations, alert ids and positions, then
 * st_commit, which makes all of it durable in one SQLite transaction (or none of it, after a
 * crash). st_rollback undoes the batch in SQLite and in the index. Nested batches: KAD_EINVAL.
 * The durability protocol the engine follows is in docs/internals/state.md.
 */
int st_begin(struct st_store *st, kad_err *err);
int st_commit(struct st_store *st, kad_err *err);
void st_rollback(struct st_store *st);
bool st_in_batch(const struct st_store *st);

/* ======================================================================================== */
/* Terms                                                                                    */
/* ======================================================================================== */

struct st_term {
    int64_t first_seen; /* event time, epoch ms */
    int64_t last_seen;
    bool alerted; /* an alert was recorded for the current life of this combination */
    /* shared stores (st_shared): the origin st_observe_by was given when this life of the
       combination began (NEW or FORGOTTEN), 0 when none was given; always 0 for SQLite */
    uint64_t origin;
};

enum st_seen {
    ST_SEEN_NEW = 0,       /* unknown: now stored with first_seen = last_seen = ts */
    ST_SEEN_FORGOTTEN = 1, /* known, but ts - last_seen > W: first_seen = last_seen = ts */
    ST_SEEN_KNOWN = 2,     /* known inside the window: first/last widened to include ts */
};

/*
 * The new-terms step of semantics.md, "Time and state" for one combination `combo` (an
 * st_combo_encode result) of rule `rid` at event time `ts`: look it up, update it, and say whether
 * it is new. NEW and FORGOTTEN are the cases that raise an alert; for them the alerted flag starts
 * false until st_alert_record. A FORGOTTEN combination restarts its first_seen (as if it had been
 * pruned), so results do not depend on when pruning ran. `prev` (optional) receives the state
 * before the call (zeroed for NEW). The rule's watermark becomes max(watermark, ts).
 * Returns an enum st_seen value (>= 0) or a negative error (no batch: KAD_EINVAL).
 */
int st_observe(struct st_store *st, uint32_t rid, const void *combo, size_t len, int64_t ts,
               struct st_term *prev, kad_err *err);
/*
 * st_observe that also records `origin` (nonzero: the event's identity for this rule and
 * combination, e.g. the first 64 bits of its alert id) with a combination that starts a life
 * (NEW, FORGOTTEN); prev->origin returns the stored one. With a shared store this tells the
 * caller that a KNOWN answer is its own event, already observed by an earlier attempt or by
 * another instance (docs/internals/state.md, "Batches"). Stores that keep no origin (SQLite,
 * whose batches are atomic) ignore it.
 */
int st_observe_by(struct st_store *st, uint32_t rid, const void *combo, size_t len, int64_t ts,
                  uint64_t origin, struct st_term *prev, kad_err *err);
/*
 * True for a store shared by several kadet instances (Redis): observe and alert claims are
 * decided on the server when called and a rollback does not undo observations, so the engine
 * claims each alert id before emitting it (st_alert_claim) and raises the alert of a KNOWN
 * combination whose origin is its own event. False for SQLite and MEM (atomic batches).
 */
bool st_shared(const struct st_store *st);
/* Round trips to the server so far (shared stores; 0 for the others): a cheap counter. */
uint64_t st_round_trips(const struct st_store *st);
/* The connection of a shared store, for other threads than the one using the store (serve's
   readiness): up while the last exchange succeeded (always for a file or memory), losses
   and reconnections so far, the last loss's reason. */
struct st_conn {
    bool up;
    uint64_t lost, reconnects;
    char why[200];
};
void st_conn_get(const struct st_store *st, struct st_conn *out);
/* One attempt to reach the server (PING), no retries: 0, or KAD_EUNAVAIL (files, memory: 0). */
int st_ping(struct st_store *st, kad_err *err);
/* Read-only lookup: 1 and *out filled when known, 0 when not (or on a database error). No
   batch needed. */
int st_lookup(struct st_store *st, uint32_t rid, const void *combo, size_t len,
              struct st_term *out);
/*
 * Batches of observations or lookups, for callers that have several at hand (an engine batch,
 * a preload check): the answers are exactly those of calling st_observe_by / st_lookup on each
 * probe in order (a combination repeated in the batch sees its earlier probes), but the store
 * may first hash every key and prefetch what the answers will read, so that memory latencies
 * overlap instead of adding up (the SQLite store does, as a pipeline).
 */
struct st_probe {
    uint32_t rid;
    const void *combo; /* an st_combo_encode result, borrowed for the call */
    size_t len;
    int64_t ts;            /* observe: the event time */
    uint64_t origin;       /* observe: as st_observe_by's (0: none) */
    struct st_term *prev;  /* optional: st_observe's prev, st_lookup's out */
    int result;            /* set: enum st_seen (observe) or 1/0 (lookup) */
};
/* Each probe as st_observe_by, in order. 0, or the first error (that probe's result is the
   error too; the probes before it are done, those after it untouched). Needs a batch. */
int st_observe_batch(struct st_store *st, struct st_probe *p, size_t n, kad_err *err);
/* Each probe as st_lookup, in order. Returns how many were found. No batch needed. */
size_t st_lookup_batch(struct st_store *st, struct st_probe *p, size_t n);
/* Largest event time st_observe has seen for the rule, or ST_TIME_NONE. */
int64_t st_watermark(const struct st_store *st, uint32_t rid);

/* ======================================================================================== */
/* Alerts and input positions (committed with the state they belong to)                     */
/* ======================================================================================== */

/*
 * Record that alert `alert_id` (NUL-terminated, e.g. kibana.alert.uuid) was emitted for
 * combination `combo` of rule `rid` (combo NULL/len 0 for query rules) from an event at `ts`.
 * Sets the term's alerted flag. Recording the same id twice is harmless. Needs a batch.
 */
int st_alert_record(struct st_store *st, uint32_t rid, const void *combo, size_t len,
                    const char *alert_id, int64_t ts, kad_err *err);
/*
 * st_alert_record that says whether this call recorded the id: 1 when it was not recorded
 * before (the caller emits the alert), 0 when it was (another batch or instance emitted it),
 * < 0 on error. One atomic step: the way to decide who emits an alert when a store is shared.
 */
int st_alert_claim(struct st_store *st, uint32_t rid, const void *combo, size_t len,
                   const char *alert_id, int64_t ts, kad_err *err);
/* 1 if alert_id was recorded (committed, or earlier in the open batch), 0 if not, < 0 error. */
int st_alert_emitted(struct st_store *st, const char *alert_id, kad_err *err);

struct st_pos {
    int64_t offset; /* bytes consumed from the start of the source */
    int64_t line;   /* lines consumed */
};
/*
 * Remember how far source `source` (an opaque identity such as "dev:inode:path", or
 * "out:PATH" for an output file's committed length) has been consumed. Needs a batch.
 */
int st_pos_set(struct st_store *st, const char *source, int64_t offset, int64_t line, kad_err *err);
/* The committed (or set in the open batch) position of `source`; KAD_ENOTFOUND if none. */
int st_pos_get(struct st_store *st, const char *source, struct st_pos *out, kad_err *err);

/* ======================================================================================== */
/* Rule blobs: state of a rule that is not combinations (EQL sequences, ES|QL windows)      */
/* ======================================================================================== */

/*
 * One opaque byte string per registered rule, committed with the batch it was set in (so it
 * always matches the input positions and alert ids of the same commit). Setting replaces the
 * previous value (len 0 stores an empty value); it needs a batch. Get appends the value to
 * out: KAD_OK, or KAD_ENOTFOUND when the rule has none. Reset and stale pruning delete it with
 * the rule's baseline. A store without blobs (Redis) answers KAD_EUNSUPPORTED.
 */
int st_blob_set(struct st_store *st, uint32_t rid, const void *data, size_t len, kad_err *err);
int st_blob_get(struct st_store *st, uint32_t rid, kx_buf *out, kad_err *err);

/* ======================================================================================== */
/* Counters (persisted at commit; e.g. "events.read", "records.skipped.too_long")           */
/* ======================================================================================== */

#define ST_COUNTER_NAME_MAX 63
/* Add delta to a named counter (name <= ST_COUNTER_NAME_MAX bytes, else KAD_ELIMIT). No batch
   needed: pending deltas are written by the next st_commit and dropped by st_rollback. */
int st_counter_add(struct st_store *st, const char *name, int64_t delta, kad_err *err);
/* Current value including pending deltas; 0 for unknown names. */
int64_t st_counter_get(struct st_store *st, const char *name);
/* Every counter (value including pending deltas), in name order. fn as for st_rules_each. */
int st_counters_each(struct st_store *st, int (*fn)(const char *name, int64_t value, void *ud),
                     void *ud);
/* Every recorded input position, in source order (committed, plus the open batch's). */
int st_positions_each(struct st_store *st,
                      int (*fn)(const char *source, const struct st_pos *pos, void *ud), void *ud,
                      kad_err *err);

/* ======================================================================================== */
/* Inspection: stats, rules, terms                                                          */
/* ======================================================================================== */

struct st_stats {
    uint64_t rules;       /* baselines (rows of the rules table), current or not */
    uint64_t terms;       /* combinations on disk (plus uncommitted new ones in the index) */
    uint64_t alerts;      /* recorded alert ids */
    uint64_t positions;   /* input sources with a position */
    int64_t db_bytes;     /* database file size (0 for MEM) */
    int64_t wal_bytes;    /* -wal file size */
    uint64_t mem_terms;   /* combinations in the in-memory index */
    uint64_t mem_bytes;   /* bytes the index holds (slots, record chunks, undo log) */
    uint64_t mem_keys;    /* of which encoded combination bytes */
    double mem_overhead;  /* (mem_bytes - mem_keys) / mem_terms: bytes per combination */
    uint64_t round_trips; /* Redis: round trips to the server by this store so far (read
                             before this call's own), 0 for SQLite */
};
int st_stats_get(struct st_store *st, struct st_stats *out, kad_err *err);

struct st_rule_info {
    uint32_t rid;
    const char *rule_id;
    const char *name;
    uint64_t logic_hash;
    kx_str fields[ST_COMPONENTS_MAX];
    size_t nfields;
    int64_t window_ms;
    int64_t first_loaded; /* wall clock, epoch ms */
    int64_t last_loaded;
    int64_t watermark; /* ST_TIME_NONE when nothing was seen */
    bool current;      /* the latest logic registered for this rule id */
    uint64_t terms;
    uint64_t alerts;
};
/* Called once per item; strings are valid only during the call. Return nonzero to stop (that
   value is then returned by the iterating function). */
typedef int (*st_rule_fn)(const struct st_rule_info *r, void *ud);
/* Every baseline, ordered by rule id then rid. `rule_id` NULL = all. */
int st_rules_each(struct st_store *st, const char *rule_id, st_rule_fn fn, void *ud, kad_err *err);

/* One condition on a component, named by field (or by index when field is NULL). */
struct st_cond {
    const char *field; /* a new-terms field of the rule, or a unique suffix of one at a '.'
                          or '/' boundary ("username"); NULL to use index */
    int index;         /* 0-based component index when field is NULL */
    const char *value;
    bool substring; /* value occurs in the component (else: equality) */
};

struct st_filter {
    const char *rule_id; /* NULL = every rule */
    bool all_baselines;  /* also baselines that are not current */
    const struct st_cond *conds;
    size_t nconds; /* all must hold; a condition naming a field the rule lacks fails */
    size_t limit;  /* 0 = no limit */
};

struct st_term_info {
    const struct st_rule_info *rule;
    kx_str comps[ST_COMPONENTS_MAX];
    size_t ncomps;
    struct st_term term;
};
typedef int (*st_term_fn)(const struct st_term_info *t, void *ud);
/*
 * Every combination passing the filter, with first/last seen. Reads the database (committed
 * state, plus the open batch's changes when called by the writer); in MEM mode reads the
 * index. Order: by rule, then first_seen, then combination (MEM: unspecified).
 */
int st_terms_each(struct st_store *st, const struct st_filter *f, st_term_fn fn, void *ud,
                  kad_err *err);

/*
 * Every combination of registered rule `rid` whose pivot component (st_rule_def.pivot) is the
 * `len` bytes at `value`, with first/last seen and alerted flag: the committed state plus the
 * open batch's changes (MEM and file stores alike), read without writing anything. Order:
 * first_seen, then the encoded combination (bytes, a prefix first), as st_terms_each.
 * Cost: proportional to that pivot value's combinations, not to the rule's (terms' primary key
 * starts with (rid, pivot); an in-memory map; docs/internals/state.md). t->rule has only rid,
 * rule_id, window_ms, watermark and current filled. fn must not modify the store; a nonzero
 * return stops and is returned. Unknown rid: KAD_ENOTFOUND; a rule without pivot: KAD_EINVAL.
 */
int st_pivot_each(struct st_store *st, uint32_t rid, const void *value, size_t len, st_term_fn fn,
                  void *ud, kad_err *err);
/*
 * How many of the combinations st_pivot_each would visit for (rid, value) have last_seen >=
 * min_last_seen (INT64_MIN: all of them). With st_pivot_each stopping early (fn returning
 * nonzero), a caller that shows the first few of a pivot value's combinations and counts the
 * rest (kadet.baseline) pays for what it shows, not for all of them: the SQLite store keeps
 * the last few large pivot values listed in order between calls, updated as combinations are
 * observed, and answers the count from a lower bound of their last_seen when it can (a user
 * flooding a rule with new combinations then costs linear time, not quadratic). Other stores
 * count through st_pivot_each. Same errors as st_pivot_each.
 */
int st_pivot_count(struct st_store *st, uint32_t rid, const void *value, size_t len,
                   int64_t min_last_seen, uint64_t *n, kad_err *err);

/* One recorded alert id: its baseline (rid, as st_rules_each reports it) and event time. */
struct st_alert_info {
    const char *alert_id;
    uint32_t rid;
    int64_t ts;
};
/* Every recorded alert id (committed, plus the open batch's), by rid, then time, then id (Redis:
   by rid, then time). fn's nonzero return stops and is returned. For `kadet state export`. */
int st_alerts_each(struct st_store *st, int (*fn)(const struct st_alert_info *a, void *ud),
                   void *ud, kad_err *err);

/* ======================================================================================== */
/* Maintenance                                                                              */
/* ======================================================================================== */

struct st_prune_opts {
    const char *rule_id;   /* NULL = every rule */
    int64_t older_than_ms; /* > 0: remove terms with watermark - last_seen > this; else W */
    bool stale;            /* also delete baselines that are not current */
};
struct st_prune_result {
    uint64_t terms;  /* combinations removed */
    uint64_t alerts; /* alert ids removed (those older than the same cut-off) */
    uint64_t rules;  /* stale baselines removed */
};
/*
 * Forget combinations whose last_seen is more than the window (or older_than_ms) before their
 * rule's watermark (the largest event time seen: pruning follows event time, not the wall
 * clock, so a replay of old logs prunes as the live run would have). Works inside a batch
 * (then it commits with it) or outside (its own transaction). RO: KAD_EINVAL.
 */
int st_prune(struct st_store *st, const struct st_prune_opts *o, struct st_prune_result *res,
             kad_err *err);
/*
 * Delete the baselines of `rule_id` (every baseline, current or not, with their alerts), or,
 * when rule_id is NULL, everything: rules, terms, alerts, positions and counters. Not inside a
 * batch (KAD_EINVAL). Rules registered in this session stay registered, with empty baselines.
 * KAD_ENOTFOUND when rule_id names no baseline.
 */
int st_reset(struct st_store *st, const char *rule_id, uint64_t *terms_removed, kad_err *err);

/* ======================================================================================== */
/* The alert index (state_alerts.c): kad_alerts of include/kad.h                            */
/* ======================================================================================== */

/*
 * The alerts a service committed, indexed for the console, with their triage status, in an
 * SQLite database of its own beside a file state (STATE.alerts; NULL: in memory), because the
 * engine holds the state's write transaction between its commits. The filter, row and
 * condition types are kad.h's; the semantics are those written there (kad_alerts_*).
 */
struct st_alerts;
int st_alerts_open(struct st_alerts **out, const char *state_path, kad_err *err);
void st_alerts_close(struct st_alerts *a);
const char *st_alerts_path(const struct st_alerts *a);
int st_alerts_add(struct st_alerts *a, const char *ndjson, size_t len, size_t *added, size_t *bad,
                  kad_err *err);
int st_alerts_find(struct st_alerts *a, const kad_alert_filter *f,
                   int (*fn)(const kad_alert_row *r, void *ud), void *ud, kad_err *err);
int st_alerts_count(struct st_alerts *a, const kad_alert_filter *f, uint64_t *n, kad_err *err);
int st_alerts_get(struct st_alerts *a, const char *id, int (*fn)(const kad_alert_row *r, void *ud),
                  void *ud, kad_err *err);
int st_alerts_histogram(struct st_alerts *a, const kad_alert_filter *f, int64_t bucket_ms,
                        int (*fn)(int64_t bucket, const char *rule_name, const char *severity,
                                  uint64_t n, void *ud),
                        void *ud, kad_err *err);
int st_alerts_set_status(struct st_alerts *a, const char *const *ids, size_t n, const char *status,
                         const char *note, const char *by, int64_t now_ms, size_t *changed,
                         kad_err *err);

/* ======================================================================================== */
/* Testing aid: only in builds with KAD_TEST_HOOKS (the test runner and the binaries `make     */
/* check` runs; never in libkad.a or ./kadet)                                                */
/* ======================================================================================== */

/* What the last st_pivot_each visited: SQLite rows and in-memory records read, and the pivot
   query's sqlite3_stmt_status counters (full-scan steps, VM steps). For tests that check the
   cost follows one pivot value's combinations, not the rule's. */
struct st_pivot_cost {
    uint64_t rows;
    uint64_t records;
    uint64_t fullscan_steps;
    uint64_t vm_steps;
};

#ifdef KAD_TEST_HOOKS
/* Make the nth next database write (statement or transaction command) fail with KAD_ESTATE,
   like SQLite's faulty VFS; 0 disables. For unit tests of error paths. */
void st_test_fail_after(struct st_store *st, unsigned long n);
/* The cost of the last st_pivot_each (zeroes for stores that do not count). */
void st_test_pivot_cost(const struct st_store *st, struct st_pivot_cost *out);
/* Round trips to the server so far (the Redis store; 0 for the others). */
uint64_t st_test_round_trips(const struct st_store *st);
/* Close the store's server connection as if the network dropped it (Redis; no-op otherwise):
   the next operation reconnects. */
void st_test_redis_drop(struct st_store *st);
#endif /* KAD_TEST_HOOKS */

#endif

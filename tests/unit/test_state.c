/*
 * test_state.c - unit tests of src/state/: combination encoding, the new-terms step of
 * semantics.md, "Time and state", batches (commit, rollback, crash before commit in a forked
 * child), reopen, baselines keyed by logic hash, alert ids, positions, counters, inspection
 * filters, prune, reset, read-only opening and the index's bytes per combination.
 */
#include "test.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "state/state.h"
#include "state/state_int.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY_MS INT64_C(86400000)

/* ---- helpers --------------------------------------------------------------------------- */

struct tdir {
    char dir[64];
    char db[128];
};

static void tdir_make(struct tdir *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/kadet-state-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(t->dir));
    snprintf(t->db, sizeof(t->db), "%s/sub/state.db", t->dir);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Encode up to three components into b (reset first); returns b's bytes. */
static const char *combo3(kx_buf *b, const char *a, const char *c, const char *d)
{
    kx_str v[3] = {kx_str_c(a), kx_str_c(c), kx_str_c(d ? d : "")};
    kx_buf_reset(b);
    ASSERT_OK(st_combo_encode(b, v, d ? 3 : 2, NULL));
    return b->ptr;
}

static const char *const nt_fields[] = {
    "kubernetes.audit.annotations.authorization_k8s_io/decision",
    "kubernetes.audit.user.username",
    "user_agent.original",
};

static uint32_t reg(struct st_store *st, const char *id, uint64_t hash, enum st_baseline *status)
{
    struct st_rule_def d = {.rule_id = id,
                            .name = "Kubernetes Unusual Decision by User Agent",
                            .logic_hash = hash,
                            .fields = nt_fields,
                            .nfields = 3,
                            .window_ms = 10 * DAY_MS};
    uint32_t rid = 0;
    kad_err e;
    kad_err_clear(&e);
    int rc = st_rule_register(st, &d, &rid, status, &e);
    if (rc)
        t_fail(__FILE__, __LINE__, "register: %s", e.msg);
    return rid;
}

static int observe(struct st_store *st, uint32_t rid, kx_buf *b, const char *dec, const char *user,
                   const char *ua, int64_t ts)
{
    combo3(b, dec, user, ua);
    return st_observe(st, rid, b->ptr, b->len, ts, NULL, NULL);
}

/* ---- combinations ---------------------------------------------------------------------- */

TEST(state_combo_roundtrip)
{
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    kx_str v[3] = {KX_STR_LIT("allow"), KX_STR_LIT(""), {"a,b:c\0d", 7}};
    ASSERT_OK(st_combo_encode(&b, v, 3, NULL));
    ASSERT_EQ(b.len, strlen("5:allow,0:,7:a,b:c") + 3);
    kx_str out[4];
    ASSERT_EQ(st_combo_decode(b.ptr, b.len, out, 4), 3);
    ASSERT(kx_str_eqc(out[0], "allow"));
    ASSERT_EQ(out[1].len, 0);
    ASSERT_EQ(out[2].len, 7);
    ASSERT_MEM_EQ(out[2].ptr, "a,b:c\0d", 7);
    /* too few slots, garbage, truncation, leading zeros */
    ASSERT_EQ(st_combo_decode(b.ptr, b.len, out, 2), -1);
    ASSERT_EQ(st_combo_decode("5:allow", 7, out, 4), -1);
    ASSERT_EQ(st_combo_decode("x:a,", 4, out, 4), -1);
    ASSERT_EQ(st_combo_decode("05:allow,", 9, out, 4), -1);
    ASSERT_EQ(st_combo_decode("", 0, out, 4), -1);
    ASSERT_EQ(st_combo_decode("99999999999999999999:a,", 23, out, 4), -1);
    kx_buf_fini(&b);
}

TEST(state_combo_limits)
{
    kx_buf b;
    kx_buf_init(&b, 4 * ST_KEY_MAX);
    char *big = kx_malloc(ST_KEY_MAX);
    memset(big, 'x', ST_KEY_MAX);
    kx_str v[2] = {{big, ST_KEY_MAX - 10}, {big, 100}};
    kad_err e;
    kad_err_clear(&e);
    ASSERT_EQ(st_combo_encode(&b, v, 2, &e), KAD_ELIMIT);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(st_combo_encode(&b, v, 0, NULL), KAD_EINVAL);
    ASSERT_EQ(st_combo_encode(&b, v, ST_COMPONENTS_MAX + 1, NULL), KAD_EINVAL);
    v[0].len = ST_KEY_MAX - 16;
    ASSERT_OK(st_combo_encode(&b, v, 1, NULL));
    ASSERT(b.len <= ST_KEY_MAX);
    kx_free(big);
    kx_buf_fini(&b);
}

/* ---- the new-terms step ---------------------------------------------------------------- */

TEST(state_observe_policy)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    uint32_t rid = reg(st, "r1", 42, NULL);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", 1000), KAD_EINVAL); /* no batch */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_watermark(st, rid), ST_TIME_NONE);
    int64_t t0 = 1700000000000;
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", t0), ST_SEEN_NEW);
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", t0 + 5), ST_SEEN_KNOWN);
    /* late event: known, widens first_seen, no second alert */
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", t0 - 60000), ST_SEEN_KNOWN);
    struct st_term t;
    combo3(&b, "allow", "alice", "curl/8");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_EQ(t.first_seen, t0 - 60000);
    ASSERT_EQ(t.last_seen, t0 + 5);
    ASSERT_FALSE(t.alerted);
    ASSERT_EQ(st_watermark(st, rid), t0 + 5);
    /* 9 days later: still known; then 10 days + 1 ms after that: forgotten */
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", t0 + 5 + 9 * DAY_MS), ST_SEEN_KNOWN);
    int64_t t9 = t0 + 5 + 9 * DAY_MS;
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", t9 + 10 * DAY_MS), ST_SEEN_KNOWN);
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "curl/8", t9 + 20 * DAY_MS + 1),
              ST_SEEN_FORGOTTEN);
    combo3(&b, "allow", "alice", "curl/8");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_EQ(t.first_seen, t9 + 20 * DAY_MS + 1);
    /* components are distinct: a different decision is a different combination */
    ASSERT_EQ(observe(st, rid, &b, "forbid", "alice", "curl/8", t0), ST_SEEN_NEW);
    struct st_term prev;
    combo3(&b, "forbid", "alice", "curl/8");
    ASSERT_EQ(st_observe(st, rid, b.ptr, b.len, t0 + 1, &prev, NULL), ST_SEEN_KNOWN);
    ASSERT_EQ(prev.first_seen, t0);
    ASSERT_EQ(st_observe(st, 999, b.ptr, b.len, t0, NULL, NULL), KAD_ENOTFOUND);
    ASSERT_EQ(st_observe(st, rid, b.ptr, 0, t0, NULL, NULL), KAD_EINVAL);
    ASSERT_OK(st_commit(st, NULL));
    kx_buf_fini(&b);
    st_close(st);
}

TEST(state_alert_flag_and_ids)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    uint32_t rid = reg(st, "r1", 1, NULL);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, rid, &b, "allow", "bob", "python-requests/2.31", 5000), ST_SEEN_NEW);
    ASSERT_EQ(st_alert_emitted(st, "abc", NULL), 0);
    ASSERT_OK(st_alert_record(st, rid, b.ptr, b.len, "abc", 5000, NULL));
    ASSERT_OK(st_alert_record(st, rid, b.ptr, b.len, "abc", 5000, NULL)); /* idempotent */
    ASSERT_OK(st_alert_record(st, 77, NULL, 0, "query-rule-alert", 5000, NULL));
    ASSERT_EQ(st_alert_emitted(st, "abc", NULL), 1);
    ASSERT_EQ(st_alert_emitted(st, "query-rule-alert", NULL), 1);
    struct st_term t;
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_TRUE(t.alerted);
    ASSERT_OK(st_commit(st, NULL));
    ASSERT_EQ(st_alert_record(st, rid, b.ptr, b.len, "x", 1, NULL), KAD_EINVAL); /* no batch */
    kx_buf_fini(&b);
    st_close(st);
}

/* ---- durability ------------------------------------------------------------------------ */

TEST(state_reopen_keeps_everything)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    kad_err e;
    kad_err_clear(&e);
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, &e)); /* creates sub/ */
    enum st_baseline bs;
    uint32_t rid = reg(st, "8a1db198", 0xfeedULL << 40, &bs);
    ASSERT_EQ(bs, ST_BASELINE_NEW);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < 500; i++) {
        char ua[32];
        snprintf(ua, sizeof(ua), "agent/%d", i);
        ASSERT_EQ(observe(st, rid, &b, "allow", "alice", ua, 1000 + i), ST_SEEN_NEW);
    }
    combo3(&b, "allow", "alice", "agent/7");
    ASSERT_OK(st_alert_record(st, rid, b.ptr, b.len, "id-7", 1007, NULL));
    ASSERT_OK(st_pos_set(st, "2049:1234:/var/log/audit.log", 98765, 500, NULL));
    ASSERT_OK(st_counter_add(st, "events.read", 500, NULL));
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);

    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, &e));
    ASSERT_EQ(reg(st, "8a1db198", 0xfeedULL << 40, &bs), rid);
    ASSERT_EQ(bs, ST_BASELINE_KEPT);
    ASSERT_EQ(st_watermark(st, rid), 1499);
    ASSERT_EQ(st_counter_get(st, "events.read"), 500);
    struct st_pos p;
    ASSERT_OK(st_pos_get(st, "2049:1234:/var/log/audit.log", &p, NULL));
    ASSERT_EQ(p.offset, 98765);
    ASSERT_EQ(p.line, 500);
    ASSERT_EQ(st_pos_get(st, "nope", &p, NULL), KAD_ENOTFOUND);
    ASSERT_EQ(st_alert_emitted(st, "id-7", NULL), 1);
    struct st_term t;
    combo3(&b, "allow", "alice", "agent/7");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_TRUE(t.alerted);
    ASSERT_EQ(t.first_seen, 1007);
    combo3(&b, "allow", "alice", "agent/8");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_FALSE(t.alerted);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "agent/499", 2000), ST_SEEN_KNOWN);
    ASSERT_EQ(observe(st, rid, &b, "allow", "alice", "agent/500", 2000), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.terms, 501);
    ASSERT_EQ(s.mem_terms, 4); /* loaded lazily: only what was looked up */
    ASSERT_OK(st_rule_preload(st, rid, NULL));
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.mem_terms, 501);
    combo3(&b, "allow", "alice", "agent/500");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_EQ(t.first_seen, 2000);
    ASSERT_EQ(st_rule_preload(st, 12345, NULL), KAD_ENOTFOUND);
    ASSERT_EQ(s.rules, 1);
    ASSERT_EQ(s.alerts, 1);
    ASSERT_EQ(s.positions, 1);
    ASSERT(s.db_bytes > 0);
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/* st_blob_set/get: one blob per rule, committed with the batch, undone by a rollback, kept
   across a reopen, deleted by a reset of the rule; MEM stores keep them too. */
TEST(state_rule_blobs)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    enum st_baseline bs;
    uint32_t r1 = reg(st, "blob-1", 1, &bs), r2 = reg(st, "blob-2", 2, &bs);
    kx_buf b;
    kx_buf_init(&b, 0);
    ASSERT_EQ(st_blob_get(st, r1, &b, NULL), KAD_ENOTFOUND);
    ASSERT_EQ(st_blob_set(st, r1, "x", 1, NULL), KAD_EINVAL); /* no batch */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(st_blob_set(st, r1, "first\0bytes", 11, NULL));
    ASSERT_OK(st_blob_set(st, r2, "", 0, NULL));
    ASSERT_OK(st_blob_get(st, r1, &b, NULL)); /* the open batch's own value */
    ASSERT_EQ(b.len, 11);
    ASSERT(memcmp(b.ptr, "first\0bytes", 11) == 0);
    ASSERT_OK(st_commit(st, NULL));
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(st_blob_set(st, r1, "second", 6, NULL));
    st_rollback(st);
    kx_buf_reset(&b);
    ASSERT_OK(st_blob_get(st, r1, &b, NULL));
    ASSERT_EQ(b.len, 11); /* the rollback undid the replacement */
    st_close(st);

    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    ASSERT_EQ(reg(st, "blob-1", 1, &bs), r1);
    ASSERT_EQ(reg(st, "blob-2", 2, &bs), r2);
    kx_buf_reset(&b);
    ASSERT_OK(st_blob_get(st, r1, &b, NULL));
    ASSERT_EQ(b.len, 11);
    kx_buf_reset(&b);
    ASSERT_OK(st_blob_get(st, r2, &b, NULL)); /* an empty value is a value */
    ASSERT_EQ(b.len, 0);
    uint64_t removed = 0;
    ASSERT_OK(st_reset(st, "blob-1", &removed, NULL));
    ASSERT_EQ(st_blob_get(st, r1, &b, NULL), KAD_ENOTFOUND);
    ASSERT_OK(st_blob_get(st, r2, &b, NULL));
    st_close(st);

    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    uint32_t m = reg(st, "blob-mem", 3, &bs);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(st_blob_set(st, m, "mem", 3, NULL));
    ASSERT_OK(st_commit(st, NULL));
    kx_buf_reset(&b);
    ASSERT_OK(st_blob_get(st, m, &b, NULL));
    ASSERT_EQ(b.len, 3);
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_rollback_restores_index_and_db)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    uint32_t rid = reg(st, "r", 7, NULL);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, rid, &b, "allow", "u", "a", 100), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(st_begin(st, NULL), KAD_EINVAL); /* no nesting */
    ASSERT_EQ(observe(st, rid, &b, "allow", "u", "a", 200), ST_SEEN_KNOWN);
    ASSERT_EQ(observe(st, rid, &b, "allow", "u", "b", 200), ST_SEEN_NEW);
    ASSERT_OK(st_alert_record(st, rid, b.ptr, b.len, "alert-b", 200, NULL));
    ASSERT_OK(st_pos_set(st, "src", 10, 1, NULL));
    ASSERT_OK(st_counter_add(st, "n", 3, NULL));
    st_rollback(st);
    struct st_term t;
    combo3(&b, "allow", "u", "a");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1);
    ASSERT_EQ(t.last_seen, 100);
    combo3(&b, "allow", "u", "b");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 0);
    ASSERT_EQ(st_watermark(st, rid), 100);
    ASSERT_EQ(st_alert_emitted(st, "alert-b", NULL), 0);
    struct st_pos p;
    ASSERT_EQ(st_pos_get(st, "src", &p, NULL), KAD_ENOTFOUND);
    ASSERT_EQ(st_counter_get(st, "n"), 0);
    /* the same after a rollback that follows an in-batch flush (stats reads the database) */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, rid, &b, "allow", "u", "c", 300), ST_SEEN_NEW);
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.terms, 2);
    st_rollback(st);
    combo3(&b, "allow", "u", "c");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 0);
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.terms, 1);
    combo3(&b, "allow", "u", "a");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, &t), 1); /* reloaded lazily */
    ASSERT_EQ(t.last_seen, 100);
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/* Child: commit batch 1, write batch 2 (terms, alert, position) and die without committing. */
static void crash_child(const char *db)
{
    struct st_store *st;
    if (st_open(&st, db, ST_OPEN_RW, NULL))
        _exit(3);
    uint32_t rid = reg(st, "crashy", 9, NULL);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    if (st_begin(st, NULL) || observe(st, rid, &b, "allow", "u", "committed", 1) != ST_SEEN_NEW ||
        st_pos_set(st, "in", 100, 1, NULL) || st_commit(st, NULL))
        _exit(4);
    if (st_begin(st, NULL))
        _exit(5);
    for (int i = 0; i < 2000; i++) {
        char ua[32];
        snprintf(ua, sizeof(ua), "lost/%d", i);
        observe(st, rid, &b, "allow", "u", ua, 2 + i);
    }
    st_alert_record(st, rid, b.ptr, b.len, "lost-alert", 5, NULL);
    st_pos_set(st, "in", 99999, 2001, NULL);
    struct st_stats s;
    st_stats_get(st, &s, NULL); /* forces the dirty terms into the open transaction */
    _exit(0);                   /* no commit, no close: like kill -9 */
}

TEST(state_crash_before_commit_loses_the_batch_only)
{
    struct tdir d;
    tdir_make(&d);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0)
        crash_child(d.db);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);

    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    enum st_baseline bs;
    uint32_t rid = reg(st, "crashy", 9, &bs);
    ASSERT_EQ(bs, ST_BASELINE_KEPT);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    combo3(&b, "allow", "u", "committed");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, NULL), 1);
    combo3(&b, "allow", "u", "lost/0");
    ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, NULL), 0);
    ASSERT_EQ(st_alert_emitted(st, "lost-alert", NULL), 0);
    struct st_pos p;
    ASSERT_OK(st_pos_get(st, "in", &p, NULL));
    ASSERT_EQ(p.offset, 100);
    ASSERT_EQ(st_watermark(st, rid), 1);
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.terms, 1);
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/* ---- baselines ------------------------------------------------------------------------- */

TEST(state_logic_change_starts_new_baseline)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    enum st_baseline bs;
    uint32_t r1 = reg(st, "rule", 100, &bs);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 1), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);

    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    uint32_t r2 = reg(st, "rule", 200, &bs);
    ASSERT_EQ(bs, ST_BASELINE_CHANGED);
    ASSERT(r2 != r1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r2, &b, "allow", "u", "a", 2), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);

    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    ASSERT_EQ(reg(st, "rule", 100, &bs), r1);
    ASSERT_EQ(bs, ST_BASELINE_REVERTED);
    combo3(&b, "allow", "u", "a");
    struct st_term t;
    ASSERT_EQ(st_lookup(st, r1, b.ptr, b.len, &t), 1);
    ASSERT_EQ(t.first_seen, 1);
    ASSERT_STR_EQ(st_baseline_name(ST_BASELINE_REVERTED), "reverted");
    /* prune --stale removes the baseline of logic 200, which is not current now */
    struct st_prune_opts po = {.stale = true};
    struct st_prune_result pr;
    ASSERT_OK(st_prune(st, &po, &pr, NULL));
    ASSERT_EQ(pr.rules, 1);
    ASSERT_EQ(pr.terms, 1);
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.rules, 1);
    ASSERT_EQ(s.terms, 1);
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/* ---- inspection ------------------------------------------------------------------------ */

struct collect {
    char out[2048];
    int n;
};

static int collect_term(const struct st_term_info *t, void *ud)
{
    struct collect *c = ud;
    size_t l = strlen(c->out);
    snprintf(c->out + l, sizeof(c->out) - l, "%s%.*s|%.*s@%lld", c->n ? ";" : "",
             (int)t->comps[1].len, t->comps[1].ptr, (int)t->comps[2].len, t->comps[2].ptr,
             (long long)t->term.first_seen);
    c->n++;
    return 0;
}

static void fill_terms(struct st_store *st, uint32_t rid, kx_buf *b)
{
    ASSERT_OK(st_begin(st, NULL));
    observe(st, rid, b, "allow", "alice", "kubectl/v1.29", 30);
    observe(st, rid, b, "allow", "alice", "curl/8.5", 10);
    observe(st, rid, b, "forbid", "alice", "curl/8.5", 20);
    observe(st, rid, b, "allow", "bob", "kubectl/v1.29", 40);
    observe(st, rid, b, "allow", "alice-admin", "python-requests/2", 50);
    ASSERT_OK(st_commit(st, NULL));
}

static void check_filters(struct st_store *st)
{
    struct collect c = {{0}, 0};
    struct st_cond eq = {.field = "kubernetes.audit.user.username", .value = "alice"};
    struct st_filter f = {.rule_id = "r", .conds = &eq, .nconds = 1};
    ASSERT_OK(st_terms_each(st, &f, collect_term, &c, NULL));
    ASSERT_EQ(c.n, 3);
    if (st_mode_get(st) != ST_OPEN_MEM) /* ordered by first_seen */
        ASSERT_STR_EQ(c.out, "alice|curl/8.5@10;alice|curl/8.5@20;alice|kubectl/v1.29@30");
    struct st_cond sub = {.field = NULL, .index = 1, .value = "alice", .substring = true};
    memset(&c, 0, sizeof(c));
    f.conds = &sub;
    ASSERT_OK(st_terms_each(st, &f, collect_term, &c, NULL));
    ASSERT_EQ(c.n, 4);
    struct st_cond two[2] = {{.field = "user_agent.original", .value = "curl", .substring = true},
                             {.index = 0, .value = "forbid"}};
    memset(&c, 0, sizeof(c));
    f.conds = two;
    f.nconds = 2;
    ASSERT_OK(st_terms_each(st, &f, collect_term, &c, NULL));
    ASSERT_STR_EQ(c.out, "alice|curl/8.5@20");
    struct st_cond unknown = {.field = "no.such.field", .value = "x"};
    memset(&c, 0, sizeof(c));
    f.conds = &unknown;
    f.nconds = 1;
    ASSERT_OK(st_terms_each(st, &f, collect_term, &c, NULL));
    ASSERT_EQ(c.n, 0);
    struct st_filter all = {.limit = 2};
    memset(&c, 0, sizeof(c));
    ASSERT_OK(st_terms_each(st, &all, collect_term, &c, NULL));
    ASSERT_EQ(c.n, 2);
    memset(&c, 0, sizeof(c));
    ASSERT_OK(st_terms_each(st, NULL, collect_term, &c, NULL));
    ASSERT_EQ(c.n, 5);
}

TEST(state_terms_filters_file_and_mem)
{
    struct tdir d;
    tdir_make(&d);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    for (int mode = 0; mode < 2; mode++) {
        struct st_store *st;
        ASSERT_OK(st_open(&st, d.db, mode ? ST_OPEN_MEM : ST_OPEN_RW, NULL));
        uint32_t rid = reg(st, "r", 5, NULL);
        fill_terms(st, rid, &b);
        check_filters(st);
        st_close(st);
    }
    /* read-only inspection of the file */
    struct st_store *ro;
    ASSERT_OK(st_open(&ro, d.db, ST_OPEN_RO, NULL));
    check_filters(ro);
    ASSERT_EQ(st_begin(ro, NULL), KAD_EINVAL);
    ASSERT_EQ(st_counter_add(ro, "x", 1, NULL), KAD_EINVAL);
    struct st_prune_opts po = {0};
    ASSERT_EQ(st_prune(ro, &po, NULL, NULL), KAD_EINVAL);
    st_close(ro);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

static int count_rule(const struct st_rule_info *r, void *ud)
{
    (*(int *)ud)++;
    ASSERT_EQ(r->nfields, 3);
    ASSERT(kx_str_eqc(r->fields[2], "user_agent.original"));
    ASSERT_EQ(r->terms, 5);
    ASSERT_EQ(r->watermark, 50);
    ASSERT_TRUE(r->current);
    return 0;
}

TEST(state_rules_each_reports_baselines)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    fill_terms(st, reg(st, "r", 5, NULL), &b);
    int n = 0;
    ASSERT_OK(st_rules_each(st, NULL, count_rule, &n, NULL));
    ASSERT_EQ(n, 1);
    n = 0;
    ASSERT_OK(st_rules_each(st, "other", count_rule, &n, NULL));
    ASSERT_EQ(n, 0);
    st_close(st);
    kx_buf_fini(&b);
}

/* ---- maintenance ----------------------------------------------------------------------- */

TEST(state_prune_by_window_and_age)
{
    struct tdir d;
    tdir_make(&d);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    for (int mode = 0; mode < 2; mode++) {
        struct st_store *st;
        ASSERT_OK(st_open(&st, d.db, mode ? ST_OPEN_MEM : ST_OPEN_RW, NULL));
        uint32_t rid = reg(st, "p", 3, NULL);
        ASSERT_OK(st_begin(st, NULL));
        for (int i = 0; i < 30; i++) {
            char ua[16];
            snprintf(ua, sizeof(ua), "ua%d", i);
            ASSERT_EQ(observe(st, rid, &b, "allow", "u", ua, i * DAY_MS), ST_SEEN_NEW);
            if (i == 3) {
                combo3(&b, "allow", "u", ua);
                ASSERT_OK(st_alert_record(st, rid, b.ptr, b.len, "old-alert", i * DAY_MS, NULL));
            }
        }
        ASSERT_OK(st_commit(st, NULL));
        /* watermark 29 d, W 10 d: last_seen < 19 d goes (0..18) */
        struct st_prune_opts po = {.rule_id = "p"};
        struct st_prune_result pr;
        ASSERT_OK(st_prune(st, &po, &pr, NULL));
        ASSERT_EQ(pr.terms, 19);
        ASSERT_EQ(pr.alerts, 1);
        ASSERT_EQ(st_alert_emitted(st, "old-alert", NULL), 0);
        combo3(&b, "allow", "u", "ua18");
        ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, NULL), 0);
        combo3(&b, "allow", "u", "ua19");
        ASSERT_EQ(st_lookup(st, rid, b.ptr, b.len, NULL), 1);
        /* --older-than 2 days, inside a batch */
        ASSERT_OK(st_begin(st, NULL));
        ASSERT_EQ(observe(st, rid, &b, "allow", "u", "fresh", 29 * DAY_MS), ST_SEEN_NEW);
        po.older_than_ms = 2 * DAY_MS;
        ASSERT_OK(st_prune(st, &po, &pr, NULL));
        ASSERT_EQ(pr.terms, 8); /* 19..26 */
        ASSERT_OK(st_commit(st, NULL));
        struct st_stats s;
        ASSERT_OK(st_stats_get(st, &s, NULL));
        ASSERT_EQ(s.terms, 4); /* 27, 28, 29, fresh */
        ASSERT_EQ(s.mem_terms, 4);
        po.rule_id = "missing";
        ASSERT_EQ(st_prune(st, &po, &pr, NULL), KAD_ENOTFOUND);
        st_close(st);
        if (!mode) { /* the file agrees after reopening */
            ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
            ASSERT_OK(st_rule_preload(st, reg(st, "p", 3, NULL), NULL));
            ASSERT_OK(st_stats_get(st, &s, NULL));
            ASSERT_EQ(s.terms, 4);
            ASSERT_EQ(s.mem_terms, 4);
            st_close(st);
        }
    }
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_reset_rule_and_all)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    uint32_t r1 = reg(st, "r", 5, NULL);
    fill_terms(st, r1, &b);
    uint32_t r2 = reg(st, "q", 6, NULL);
    fill_terms(st, r2, &b);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(st_pos_set(st, "src", 1, 1, NULL));
    ASSERT_EQ(st_reset(st, "r", NULL, NULL), KAD_EINVAL); /* not inside a batch */
    ASSERT_OK(st_commit(st, NULL));
    uint64_t removed = 0;
    ASSERT_OK(st_reset(st, "r", &removed, NULL));
    ASSERT_EQ(removed, 5);
    ASSERT_EQ(st_reset(st, "nope", &removed, NULL), KAD_ENOTFOUND);
    combo3(&b, "allow", "bob", "kubectl/v1.29");
    ASSERT_EQ(st_lookup(st, r1, b.ptr, b.len, NULL), 0);
    ASSERT_EQ(st_lookup(st, r2, b.ptr, b.len, NULL), 1);
    ASSERT_EQ(st_watermark(st, r1), ST_TIME_NONE);
    /* r stays registered and usable */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r1, &b, "allow", "bob", "kubectl/v1.29", 1), ST_SEEN_NEW);
    ASSERT_OK(st_counter_add(st, "c", 1, NULL));
    ASSERT_OK(st_commit(st, NULL));
    ASSERT_OK(st_reset(st, NULL, &removed, NULL));
    ASSERT_EQ(removed, 6);
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.terms, 0);
    ASSERT_EQ(s.mem_terms, 0);
    ASSERT_EQ(s.positions, 0);
    ASSERT_EQ(st_counter_get(st, "c"), 0);
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/* ---- opening --------------------------------------------------------------------------- */

TEST(state_open_errors)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st = NULL;
    kad_err e;
    kad_err_clear(&e);
    ASSERT_EQ(st_open(&st, d.db, ST_OPEN_RO, &e), KAD_ENOTFOUND);
    ASSERT_NULL(st);
    ASSERT_EQ(st_open(&st, NULL, ST_OPEN_RW, &e), KAD_EINVAL);
    ASSERT_EQ(st_open(&st, d.dir, ST_OPEN_RW, &e), KAD_EIO); /* a directory */
    char junk[160];
    snprintf(junk, sizeof(junk), "%s/junk.db", d.dir);
    FILE *f = fopen(junk, "w");
    ASSERT_NOT_NULL(f);
    fputs("this is not a database, just some text that is long enough to look like a header "
          "of something else entirely.\n",
          f);
    fclose(f);
    ASSERT_EQ(st_open(&st, junk, ST_OPEN_RW, &e), KAD_ESTATE);
    ASSERT_EQ(st_open(&st, junk, ST_OPEN_RO, &e), KAD_ESTATE);
    /* another application's SQLite file */
    char other[160];
    snprintf(other, sizeof(other), "%s/other.db", d.dir);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'CREATE TABLE t(x)' 2>/dev/null", other);
    if (system(cmd) == 0) {
        ASSERT_EQ(st_open(&st, other, ST_OPEN_RW, &e), KAD_ESTATE);
        ASSERT(strstr(e.msg, "not a kadet state") != NULL);
    }
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, &e));
    ASSERT_EQ(st_mode_get(st), ST_OPEN_RW);
    ASSERT_STR_EQ(st_path(st), d.db);
    ASSERT_EQ(st_counter_add(st, "", 1, NULL), KAD_ELIMIT);
    ASSERT_EQ(st_commit(st, NULL), KAD_EINVAL);
    st_close(st);
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RO, &e));
    struct st_rule_def def = {.rule_id = "x", .logic_hash = 1};
    ASSERT_EQ(st_rule_register(st, &def, NULL, NULL, NULL), KAD_EINVAL);
    st_close(st);
    st_close(NULL);
    rm_rf(d.dir);
}

/* ---- the index ------------------------------------------------------------------------- */

TEST(state_index_many_terms_and_overhead)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    uint32_t ra = reg(st, "a", 1, NULL), rb = reg(st, "b", 2, NULL);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    enum { N = 60000 };
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < N; i++) {
        char user[32], ua[64];
        snprintf(user, sizeof(user), "user-%d@example.com", i % 997);
        snprintf(ua, sizeof(ua), "kubectl/v1.%d.%d (linux/amd64) kubernetes/%x", i % 31, i, i);
        ASSERT_EQ(observe(st, i % 2 ? ra : rb, &b, "allow", user, ua, i), ST_SEEN_NEW);
    }
    ASSERT_OK(st_commit(st, NULL));
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.mem_terms, N);
    if (s.mem_overhead > 64.0)
        t_fail(__FILE__, __LINE__, "overhead %.1f bytes per combination (keys %llu, bytes %llu)",
               s.mem_overhead, (unsigned long long)s.mem_keys, (unsigned long long)s.mem_bytes);
    /* prune half of the terms of both rules, compaction keeps the survivors reachable */
    struct st_prune_opts po = {.older_than_ms = N / 2};
    struct st_prune_result pr;
    ASSERT_OK(st_prune(st, &po, &pr, NULL));
    ASSERT(pr.terms > N / 2 - 4 && pr.terms < N / 2 + 4);
    ASSERT_OK(st_begin(st, NULL));
    int known = 0, fresh = 0;
    for (int i = 0; i < N; i++) {
        char user[32], ua[64];
        snprintf(user, sizeof(user), "user-%d@example.com", i % 997);
        snprintf(ua, sizeof(ua), "kubectl/v1.%d.%d (linux/amd64) kubernetes/%x", i % 31, i, i);
        int r = observe(st, i % 2 ? ra : rb, &b, "allow", user, ua, N);
        known += r == ST_SEEN_KNOWN;
        fresh += r == ST_SEEN_NEW;
    }
    ASSERT_EQ(known + fresh, N);
    ASSERT_EQ((uint64_t)fresh, pr.terms);
    st_rollback(st);
    ASSERT_OK(st_stats_get(st, &s, NULL));
    ASSERT_EQ(s.mem_terms, N - pr.terms);
    st_close(st);
    kx_buf_fini(&b);
}

/* ---- failure injection ----------------------------------------------------------------- */

/* One batch: A known again, B new with an alert id, a position and a counter. Returns 0 when
   every step and the commit succeeded; on the first failure rolls back and returns it. */
static int failing_batch(struct st_store *st, uint32_t rid, kx_buf *b)
{
    int rc;
    if ((rc = st_begin(st, NULL)) != 0)
        return rc;
    if ((rc = observe(st, rid, b, "allow", "u", "A", 5000)) < 0 ||
        (rc = observe(st, rid, b, "forbid", "u", "B", 5000)) < 0 ||
        (rc = st_alert_record(st, rid, b->ptr, b->len, "alert-B", 5000, NULL)) != 0 ||
        (rc = st_pos_set(st, "src", 777, 7, NULL)) != 0 ||
        (rc = st_counter_add(st, "events", 2, NULL)) != 0) {
        st_rollback(st);
        return rc;
    }
    return st_commit(st, NULL); /* rolls back by itself on failure */
}

/* The store holds exactly the first batch (committed) or also the second. */
static void check_all_or_nothing(struct st_store *st, uint32_t rid, kx_buf *b, bool second)
{
    struct st_term t;
    struct st_pos p;
    combo3(b, "allow", "u", "A");
    ASSERT_EQ(st_lookup(st, rid, b->ptr, b->len, &t), 1);
    ASSERT_EQ(t.last_seen, second ? 5000 : 1000);
    combo3(b, "forbid", "u", "B");
    ASSERT_EQ(st_lookup(st, rid, b->ptr, b->len, &t), second ? 1 : 0);
    if (second)
        ASSERT_TRUE(t.alerted);
    ASSERT_EQ(st_alert_emitted(st, "alert-B", NULL), second ? 1 : 0);
    ASSERT_EQ(st_pos_get(st, "src", &p, NULL), second ? 0 : KAD_ENOTFOUND);
    ASSERT_EQ(st_counter_get(st, "events"), second ? 2 : 0);
    ASSERT_EQ(st_watermark(st, rid), second ? 5000 : 1000);
}

TEST(state_injected_failures_are_all_or_nothing)
{
    struct tdir d;
    tdir_make(&d);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    int successes = 0;
    for (unsigned long n = 1; n < 40 && successes < 2; n++) {
        rm_rf(d.dir);
        tdir_make(&d);
        struct st_store *st;
        ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
        uint32_t rid = reg(st, "r", 1, NULL);
        ASSERT_OK(st_begin(st, NULL));
        ASSERT_EQ(observe(st, rid, &b, "allow", "u", "A", 1000), ST_SEEN_NEW);
        ASSERT_OK(st_commit(st, NULL));
        st_test_fail_after(st, n);
        int rc = failing_batch(st, rid, &b);
        st_test_fail_after(st, 0);
        ASSERT(rc == 0 || rc == KAD_ESTATE);
        successes += rc == 0;
        check_all_or_nothing(st, rid, &b, rc == 0);
        st_close(st);
        /* and the file says the same */
        ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
        ASSERT_EQ(reg(st, "r", 1, NULL), rid);
        check_all_or_nothing(st, rid, &b, rc == 0);
        st_close(st);
    }
    ASSERT_EQ(successes, 2); /* the countdown went past every write of the batch */
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/* ---- the last-combination cache and the index's own hash ------------------------------- */

TEST(state_last_combination_cache)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    uint32_t r1 = reg(st, "r1", 1, NULL), r2 = reg(st, "r2", 2, NULL);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    /* alternating combinations and rules: each answer as without a cache */
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 100), ST_SEEN_NEW);
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 100), ST_SEEN_KNOWN);
    ASSERT_EQ(observe(st, r2, &b, "allow", "u", "a", 100), ST_SEEN_NEW); /* same bytes, rule 2 */
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "b", 101), ST_SEEN_NEW);
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 102), ST_SEEN_KNOWN);
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "b", 103), ST_SEEN_KNOWN);
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "ab", 103), ST_SEEN_NEW); /* longer key */
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 104), ST_SEEN_KNOWN);
    /* the repeated combination still updates last_seen and the watermark */
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 105), ST_SEEN_KNOWN);
    struct st_term t;
    combo3(&b, "allow", "u", "a");
    ASSERT_EQ(st_lookup(st, r1, b.ptr, b.len, &t), 1);
    ASSERT_EQ(t.first_seen, 100);
    ASSERT_EQ(t.last_seen, 105);
    ASSERT_EQ(st_watermark(st, r1), 105);
    /* forgotten after the window, repeated or not */
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 105 + 11 * DAY_MS), ST_SEEN_FORGOTTEN);
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "a", 105 + 11 * DAY_MS), ST_SEEN_KNOWN);
    ASSERT_OK(st_alert_record(st, r1, b.ptr, b.len, "al-a", 105, NULL));
    ASSERT_EQ(st_lookup(st, r1, b.ptr, b.len, &t), 1);
    ASSERT_TRUE(t.alerted);
    ASSERT_OK(st_commit(st, NULL));
    /* a rollback deletes the batch's new record the cache points to: NEW again after it */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "c", 200), ST_SEEN_NEW);
    st_rollback(st);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "c", 200), ST_SEEN_NEW);
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "c", 201), ST_SEEN_KNOWN);
    ASSERT_OK(st_commit(st, NULL));
    /* prune (deletes records, may compact the index) then the same combination again */
    struct st_prune_opts po;
    memset(&po, 0, sizeof(po));
    po.older_than_ms = 1;
    struct st_prune_result pr;
    ASSERT_OK(st_prune(st, &po, &pr, NULL));
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "c", 300 + 12 * DAY_MS), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    /* a reset rule forgets everything, cache included */
    ASSERT_OK(st_reset(st, "r1", NULL, NULL));
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, r1, &b, "allow", "u", "c", 400 + 12 * DAY_MS), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_index_hash_reserve_and_staging)
{
    /* the hash reads 8 bytes at a time: the same bytes at any alignment hash the same, and
       every length 0..40 (tails of 0..7 bytes) is distinct from its neighbours */
    char a[64], c[64 + 7];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= 40; len++) {
        for (size_t off = 1; off < 8; off++) {
            memcpy(c + off, a, len);
            ASSERT_EQ(idx_hash(3, c + off, len), idx_hash(3, a, len));
        }
        if (len)
            ASSERT_TRUE(idx_hash(3, a, len) != idx_hash(3, a, len - 1));
        ASSERT_TRUE(idx_hash(3, a, len) != idx_hash(4, a, len));
    }
    struct st_index ix;
    idx_init(&ix);
    idx_reserve(&ix, 5000);
    size_t cap = ix.cap;
    char k[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            int n = snprintf(k, sizeof(k), "key-%d", i);
            uint64_t h = idx_hash(1, k, (size_t)n);
            struct st_rec *r = idx_find(&ix, 1, k, (size_t)n, h);
            ASSERT_EQ(r != NULL, round == 1);
            if (!r)
                r = idx_insert(&ix, 1, k, (size_t)n, h);
            ASSERT_EQ(r->klen, n);
            ASSERT_MEM_EQ(r->key, k, (size_t)n);
            ASSERT_TRUE(idx_find(&ix, 1, k, (size_t)n, idx_hash(1, k, (size_t)n)) == r);
            ASSERT_NULL(idx_find(&ix, 2, k, (size_t)n, idx_hash(2, k, (size_t)n)));
        }
    }
    ASSERT_EQ(ix.cap, cap); /* reserved once: no rehash on the way */
    ASSERT_EQ(ix.live, 5000);
    /* a deleted record's slot (tombstone) is reused, and the generation moves */
    uint64_t gen = ix.gen;
    struct st_rec *r = idx_find(&ix, 1, "key-7", 5, idx_hash(1, "key-7", 5));
    idx_delete(&ix, r);
    ASSERT_TRUE(ix.gen != gen);
    ASSERT_NULL(idx_find(&ix, 1, "key-7", 5, idx_hash(1, "key-7", 5)));
    r = idx_insert(&ix, 1, "key-7", 5, idx_hash(1, "key-7", 5));
    ASSERT_EQ(ix.live, 5000);
    /* bulk loading: staged records are placed in one go; a staged copy of a record the index
       already holds is dropped (the old one stays), new ones become findable */
    struct idx_staged stg[3];
    idx_reserve(&ix, 3);
    struct st_rec *old = idx_find(&ix, 1, "key-9", 5, idx_hash(1, "key-9", 5));
    old->last_seen = 99;
    idx_stage(&ix, 1, "key-9", 5, idx_hash(1, "key-9", 5), &stg[0])->last_seen = 1;
    idx_stage(&ix, 1, "new-a", 5, idx_hash(1, "new-a", 5), &stg[1])->last_seen = 2;
    idx_stage(&ix, 2, "key-9", 5, idx_hash(2, "key-9", 5), &stg[2])->last_seen = 3;
    ASSERT_NULL(idx_find(&ix, 1, "new-a", 5, idx_hash(1, "new-a", 5))); /* not yet */
    idx_place_staged(&ix, stg, 3);
    ASSERT_EQ(ix.live, 5002);
    ASSERT_TRUE(idx_find(&ix, 1, "key-9", 5, idx_hash(1, "key-9", 5)) == old);
    ASSERT_EQ(old->last_seen, 99);
    ASSERT_TRUE(stg[0].rec->flags & REC_DEAD);
    ASSERT_EQ(idx_find(&ix, 1, "new-a", 5, idx_hash(1, "new-a", 5))->last_seen, 2);
    ASSERT_EQ(idx_find(&ix, 2, "key-9", 5, idx_hash(2, "key-9", 5))->last_seen, 3);
    size_t ch = 0, off = 0, live = 0;
    while (idx_next(&ix, &ch, &off))
        live++;
    ASSERT_EQ(live, 5002);
    gen = ix.gen;
    idx_compact(&ix);
    ASSERT_TRUE(ix.gen != gen);
    ASSERT_EQ(ix.live, 5002);
    gen = ix.gen;
    idx_fini(&ix);
    ASSERT_TRUE(ix.gen != gen);
    ASSERT_EQ(ix.live, 0);
}

TEST(state_index_hash_spreads_similar_keys)
{
    /* The index takes the slot from the hash's low bits and the 24-bit tag from its high bits:
       keys of the founding rule's shape, which share most of their bytes and differ in a few
       digits, must spread over both. 65,536 such keys into 4,096 buckets (16 expected per
       bucket; a fair hash stays far below 48) by the low 12 bits and by the top 12 bits. */
    enum { N = 65536, B = 4096 };
    static uint32_t lo[B], hi[B];
    memset(lo, 0, sizeof(lo));
    memset(hi, 0, sizeof(hi));
    char k[160];
    for (unsigned i = 0; i < N; i++) {
        int n = snprintf(k, sizeof(k),
                         "5:allow,33:system:serviceaccount:ns-%04u:sa-%02u,40:kubectl/v1.%u.%u "
                         "(linux/amd64) kubernetes/%06x,",
                         i % 7919, i % 13, i % 29, i / 29 % 1000, i);
        uint64_t h = idx_hash(1, k, (size_t)n);
        lo[h & (B - 1)]++;
        hi[h >> 52]++;
    }
    uint32_t max_lo = 0, max_hi = 0;
    for (int b = 0; b < B; b++) {
        max_lo = lo[b] > max_lo ? lo[b] : max_lo;
        max_hi = hi[b] > max_hi ? hi[b] : max_hi;
    }
    ASSERT_TRUE(max_lo < 48);
    ASSERT_TRUE(max_hi < 48);
    /* every single-bit change of a 94-byte key, at every position (the 32- and 16-byte steps
       and the overlapping tail), changes the slot bits and the tag */
    char a[94];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (char)('0' + i % 43);
    uint64_t h0 = idx_hash(1, a, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++) {
        for (int bit = 0; bit < 8; bit++) {
            a[i] = (char)(a[i] ^ (1 << bit));
            uint64_t h = idx_hash(1, a, sizeof(a));
            a[i] = (char)(a[i] ^ (1 << bit));
            ASSERT_TRUE((h & 0xfffff) != (h0 & 0xfffff));
            ASSERT_TRUE((h >> 40) != (h0 >> 40));
        }
    }
    /* keys of every length up to 80 that differ only in their last byte differ */
    for (size_t len = 1; len <= 80; len++) {
        memset(k, 'x', len);
        uint64_t x = idx_hash(1, k, len);
        k[len - 1] = 'y';
        ASSERT_TRUE(idx_hash(1, k, len) != x);
    }
}

/* ---- pivot: the combinations of one user (kadet.baseline) ------------------------------ */

static uint32_t reg_pivot(struct st_store *st, const char *id, size_t pivot, int64_t window)
{
    struct st_rule_def d = {.rule_id = id,
                            .name = id,
                            .logic_hash = 7,
                            .fields = nt_fields,
                            .nfields = 3,
                            .window_ms = window,
                            .has_pivot = true,
                            .pivot = pivot};
    uint32_t rid = 0;
    kad_err e;
    kad_err_clear(&e);
    if (st_rule_register(st, &d, &rid, NULL, &e))
        t_fail(__FILE__, __LINE__, "register: %s", e.msg);
    return rid;
}

/* One term as a line: the encoded combination, first and last seen, alerted. */
static void term_line(kx_buf *out, const struct st_term_info *t)
{
    kx_buf k;
    kx_buf_init(&k, ST_KEY_MAX + 1);
    ASSERT_OK(st_combo_encode(&k, t->comps, t->ncomps, NULL));
    kx_buf_add(out, k.ptr, k.len);
    kx_buf_addf(out, "|%lld|%lld|%d\n", (long long)t->term.first_seen, (long long)t->term.last_seen,
                t->term.alerted);
    kx_buf_fini(&k);
}

static int pivot_line(const struct st_term_info *t, void *ud)
{
    term_line(ud, t);
    return 0;
}

struct ref_terms {
    KX_VEC(struct ref_term {
        int64_t first;
        char *line;
        size_t len;
    })
    v;
};

static int ref_add(const struct st_term_info *t, void *ud)
{
    struct ref_terms *r = ud;
    kx_buf b;
    kx_buf_init(&b, 2 * ST_KEY_MAX);
    term_line(&b, t);
    struct ref_term x = {t->term.first_seen, NULL, 0};
    x.line = kx_buf_take(&b, &x.len);
    KX_VEC_PUSH(&r->v, x);
    kx_buf_fini(&b);
    return 0;
}

/* first_seen, then the line (which starts with the combination; '|' sorts after digits and
   ':', so a combination that is a prefix of another still sorts first as in SQLite) */
static int ref_cmp(const void *a, const void *b)
{
    const struct ref_term *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    size_t kx = (size_t)(strchr(x->line, '|') - x->line),
           ky = (size_t)(strchr(y->line, '|') - y->line);
    int c = memcmp(x->line, y->line, kx < ky ? kx : ky);
    return c ? c : (kx > ky) - (kx < ky);
}

/* st_terms_each (the reference: a scan of the whole rule) with one equality on `index`,
   sorted as st_pivot_each promises, as lines. */
static void ref_lines(struct st_store *st, const char *rule_id, int index, const char *value,
                      kx_buf *out)
{
    struct ref_terms r = {{0}};
    struct st_cond c = {.index = index, .value = value};
    struct st_filter f = {.rule_id = rule_id, .conds = &c, .nconds = 1};
    ASSERT_OK(st_terms_each(st, &f, ref_add, &r, NULL));
    if (r.v.len > 1)
        qsort(r.v.ptr, r.v.len, sizeof(r.v.ptr[0]), ref_cmp);
    kx_buf_reset(out);
    for (size_t i = 0; i < r.v.len; i++) {
        kx_buf_add(out, r.v.ptr[i].line, r.v.len ? r.v.ptr[i].len : 0);
        kx_free(r.v.ptr[i].line);
    }
    KX_VEC_FREE(&r.v);
}

static const char *const pv_users[] = {"u0", "u1", "u2", "u3", "", "x,1:y", "u6"};
static const char *const pv_agents[] = {"a0", "a1/2.0", "a2", "curl/8", "kubectl/v1"};
#define PV_NU (sizeof(pv_users) / sizeof(pv_users[0]))
#define PV_NA (sizeof(pv_agents) / sizeof(pv_agents[0]))

struct pv {
    unsigned many;  /* > 0: half the agents drawn from `many` generated names (large groups) */
    size_t largest; /* lines of the largest user group compared */
    int64_t now;    /* event time of the latest observation */
    struct st_store *st;
    enum st_mode mode;
    const char *db;
    uint32_t ru, ra, rn; /* pivot on the user, on the agent, no pivot */
    kx_buf got[PV_NU + PV_NA];
    kx_buf want;
    int compared;
};

static void pv_open(struct pv *p)
{
    ASSERT_OK(st_open(&p->st, p->db, p->mode, NULL));
    p->ru = reg_pivot(p->st, "ru", 1, 10 * DAY_MS);
    p->ra = reg_pivot(p->st, "ra", 2, 0);
    p->rn = reg(p->st, "rn", 3, NULL);
}

static int pivot_line_upto(const struct st_term_info *t, void *ud)
{
    kx_buf *out = ud;
    term_line(out, t);
    size_t lines = 0;
    for (size_t i = 0; i < out->len; i++)
        lines += out->ptr[i] == '\n';
    return lines >= 5; /* stop after five */
}

/* User i's reference lines `want`: st_pivot_count for a few cut-offs, and a walk that stops
   early is a prefix of the full listing. */
static void pv_count_check(struct pv *p, size_t i, const kx_buf *want)
{
    const char *v = pv_users[i];
    const int64_t cuts[] = {INT64_MIN, p->now - 10 * DAY_MS, p->now - 2 * DAY_MS, p->now + 1};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        uint64_t n = 0, expect = 0;
        for (const char *l = want->ptr; l && l < want->ptr + want->len;) {
            const char *nl = memchr(l, '\n', (size_t)(want->ptr + want->len - l));
            const char *bar = memchr(l, '|', (size_t)(nl - l));
            long long first, last;
            int alerted;
            ASSERT(bar && sscanf(bar, "|%lld|%lld|%d", &first, &last, &alerted) == 3);
            expect += last >= cuts[c];
            l = nl + 1;
        }
        ASSERT_OK(st_pivot_count(p->st, p->ru, v, strlen(v), cuts[c], &n, NULL));
        ASSERT_EQ(n, expect);
        if (c == 0) {
            size_t lines = (size_t)n;
            if (lines > p->largest)
                p->largest = lines;
        }
    }
    kx_buf part;
    kx_buf_init(&part, 1 << 16);
    int rc = st_pivot_each(p->st, p->ru, v, strlen(v), pivot_line_upto, &part, NULL);
    ASSERT(rc == 0 || rc == 1);
    ASSERT(part.len <= want->len && (!part.len || memcmp(part.ptr, want->ptr, part.len) == 0));
    kx_buf_fini(&part);
}

/* Every user of ru and every agent of ra: st_pivot_each equals the reference. The pivot
   queries run first (a reference in a file store flushes the dirty records). */
static void pv_compare(struct pv *p)
{
    for (size_t i = 0; i < PV_NU + PV_NA; i++) {
        bool user = i < PV_NU;
        const char *v = user ? pv_users[i] : pv_agents[i - PV_NU];
        kx_buf_reset(&p->got[i]);
        ASSERT_OK(
            st_pivot_each(p->st, user ? p->ru : p->ra, v, strlen(v), pivot_line, &p->got[i], NULL));
    }
    for (size_t i = 0; i < PV_NU + PV_NA; i++) {
        bool user = i < PV_NU;
        ref_lines(p->st, user ? "ru" : "ra", user ? 1 : 2,
                  user ? pv_users[i] : pv_agents[i - PV_NU], &p->want);
        /* (an empty listing may never have allocated its buffer) */
        ASSERT_STR_EQ(p->got[i].ptr ? p->got[i].ptr : "", p->want.ptr ? p->want.ptr : "");
        if (user)
            pv_count_check(p, i, &p->want);
    }
    p->compared++;
}

/* Several users and agents, late events (first_seen moves back), gaps longer than the window
   (forgotten combinations restart), alert flags, rollbacks, prunes (and MEM compaction),
   preloads and reopening (lazy loading): compared inside batches and between them. */
static void pivot_scenario(enum st_mode mode, const char *db, unsigned many)
{
    struct pv p = {.mode = mode, .db = db, .many = many};
    for (size_t i = 0; i < PV_NU + PV_NA; i++)
        kx_buf_init(&p.got[i], 1 << 20);
    kx_buf_init(&p.want, 1 << 20);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    pv_open(&p);
    uint32_t x = 12345;
    int64_t ts = 1767225600000; /* 2026-01-01 */
    char id[32];
    for (int batch = 0; batch < 14; batch++) {
        ASSERT_OK(st_begin(p.st, NULL));
        for (int i = 0; i < 60; i++) {
            x = x * 1103515245u + 12345u;
            uint32_t r = x >> 8;
            ts += (r % 5 == 0) ? 11 * DAY_MS : 3600 * 1000;
            int64_t t = (r % 7 == 0) ? ts - 3 * DAY_MS : ts; /* late event */
            const char *dec = r % 4 == 0 ? "forbid" : "allow";
            const char *u = pv_users[(r / 7) % PV_NU], *a = pv_agents[(r / 61) % PV_NA];
            char gen[16];
            if (many && r % 2) { /* few users, many agents: groups above ST_PIV_CACHE_MIN */
                u = pv_users[(r / 7) % 2];
                snprintf(gen, sizeof(gen), "g%u", (r / 13) % many);
                a = gen;
            }
            if (t > p.now)
                p.now = t;
            combo3(&b, dec, u, a);
            int s1 = st_observe(p.st, p.ru, b.ptr, b.len, t, NULL, NULL);
            int s2 = st_observe(p.st, p.ra, b.ptr, b.len, t, NULL, NULL);
            int s3 = st_observe(p.st, p.rn, b.ptr, b.len, t, NULL, NULL);
            ASSERT(s1 >= 0 && s2 >= 0 && s3 >= 0);
            snprintf(id, sizeof(id), "al-%d-%d", batch, i);
            if (s1 != ST_SEEN_KNOWN && r % 3)
                ASSERT_OK(st_alert_record(p.st, p.ru, b.ptr, b.len, id, t, NULL));
            if (i % 23 == 22)
                pv_compare(&p);
        }
        pv_compare(&p); /* the whole batch unsaved (file) or dirty (MEM) */
        if (batch % 5 == 3) {
            st_rollback(p.st);
        } else {
            ASSERT_OK(st_commit(p.st, NULL));
        }
        pv_compare(&p);
        if (batch % 4 == 1) {
            struct st_prune_opts po = {.older_than_ms = 5 * DAY_MS};
            ASSERT_OK(st_prune(p.st, &po, NULL, NULL));
            pv_compare(&p);
        }
        if (mode != ST_OPEN_MEM && batch % 3 == 2) {
            st_close(p.st);
            pv_open(&p); /* lazy: the index starts empty */
            if (batch % 2)
                ASSERT_OK(st_rule_preload(p.st, p.ru, NULL));
            pv_compare(&p);
        }
    }
    /* wrong uses */
    kad_err e;
    ASSERT_EQ(st_pivot_each(p.st, p.rn, "u0", 2, pivot_line, &p.want, &e), KAD_EINVAL);
    ASSERT_EQ(st_pivot_each(p.st, 999, "u0", 2, pivot_line, &p.want, &e), KAD_ENOTFOUND);
    /* reset: nothing left to list */
    uint64_t removed = 0;
    ASSERT_OK(st_reset(p.st, "ru", &removed, NULL));
    ASSERT(removed > 0);
    kx_buf_reset(&p.want);
    ASSERT_OK(st_pivot_each(p.st, p.ru, "u0", 2, pivot_line, &p.want, NULL));
    ASSERT_EQ(p.want.len, 0);
    pv_compare(&p);
    ASSERT(p.compared > 40);
    if (many)
        ASSERT(p.largest >= ST_PIV_CACHE_MIN); /* the cached path was compared too */
    st_close(p.st);
    for (size_t i = 0; i < PV_NU + PV_NA; i++)
        kx_buf_fini(&p.got[i]);
    kx_buf_fini(&p.want);
    kx_buf_fini(&b);
}

TEST(state_pivot_equals_a_scan_of_the_rule)
{
    struct tdir d;
    tdir_make(&d);
    pivot_scenario(ST_OPEN_RW, d.db, 0);
    pivot_scenario(ST_OPEN_MEM, NULL, 0);
    unlink(d.db);
    pivot_scenario(ST_OPEN_RW, d.db, 60); /* large groups: kept listed between calls */
    pivot_scenario(ST_OPEN_MEM, NULL, 60);
    rm_rf(d.dir);
}

/* Fill `nusers` users x 3 agents, then the probe user: 4 combinations committed, 3 more in the
   open batch. What one st_pivot_each of the probe cost. */
static void pivot_cost(enum st_mode mode, const char *db, int nusers, struct st_pivot_cost *cost)
{
    struct st_store *st;
    kx_buf b, out;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    kx_buf_init(&out, 1 << 16);
    char u[32], a[32];
    ASSERT_OK(st_open(&st, db, mode, NULL));
    uint32_t rid = reg_pivot(st, "ru", 1, 0);
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < nusers; i++) {
        snprintf(u, sizeof(u), "user-%d", i);
        for (int k = 0; k < 3; k++) {
            snprintf(a, sizeof(a), "agent-%d", k);
            ASSERT_EQ(observe(st, rid, &b, "allow", u, a, i), ST_SEEN_NEW);
        }
    }
    for (int k = 0; k < 4; k++) {
        snprintf(a, sizeof(a), "agent-%d", k);
        ASSERT_EQ(observe(st, rid, &b, "allow", "probe", a, k), ST_SEEN_NEW);
    }
    ASSERT_OK(st_commit(st, NULL));
    if (mode != ST_OPEN_MEM) { /* reopen: everything is in SQLite only */
        st_close(st);
        ASSERT_OK(st_open(&st, db, mode, NULL));
        rid = reg_pivot(st, "ru", 1, 0);
    }
    ASSERT_OK(st_begin(st, NULL));
    for (int k = 4; k < 7; k++) {
        snprintf(a, sizeof(a), "agent-%d", k);
        ASSERT_EQ(observe(st, rid, &b, "forbid", "probe", a, 100 + k), ST_SEEN_NEW);
    }
    ASSERT_EQ(observe(st, rid, &b, "allow", "probe", "agent-0", 200), ST_SEEN_KNOWN); /* dirty */
    ASSERT_OK(st_pivot_each(st, rid, "probe", 5, pivot_line, &out, NULL));
    st_test_pivot_cost(st, cost);
    int lines = 0;
    for (size_t i = 0; i < out.len; i++)
        lines += out.ptr[i] == '\n';
    ASSERT_EQ(lines, 7);
    /* the dirty record's last_seen comes from the index, not from the committed row */
    ASSERT(strstr(out.ptr, "7:agent-0,|0|200|0\n") != NULL);
    st_commit(st, NULL);
    st_close(st);
    kx_buf_fini(&b);
    kx_buf_fini(&out);
}

/* n observations of "flood" with agent-i at t0 + i hours (i from `from`), as NEW or KNOWN. */
static void flood(struct st_store *st, uint32_t rid, kx_buf *b, int from, int n, int64_t t0,
                  int want)
{
    char a[32];
    for (int i = from; i < from + n; i++) {
        snprintf(a, sizeof(a), "agent-%d", i);
        ASSERT_EQ(observe(st, rid, b, "allow", "flood", a, t0 + i * 3600000), want);
    }
}

static uint64_t count_since(struct st_store *st, uint32_t rid, int64_t cut)
{
    uint64_t n = 0;
    ASSERT_OK(st_pivot_count(st, rid, "flood", 5, cut, &n, NULL));
    return n;
}

/* st_pivot_count on a large group (kept listed between calls): cut-offs at and around the
   oldest last_seen, after last_seen moves, across commits, rollbacks and reopening. */
static void pivot_count_scenario(enum st_mode mode, const char *db)
{
    const int64_t t0 = 1767225600000, h = 3600000;
    struct st_store *st;
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_open(&st, db, mode, NULL));
    uint32_t rid = reg_pivot(st, "ru", 1, 0);
    ASSERT_OK(st_begin(st, NULL));
    flood(st, rid, &b, 0, 100, t0, ST_SEEN_NEW); /* last_seen = t0 + i h */
    ASSERT_EQ(count_since(st, rid, INT64_MIN), 100);
    ASSERT_EQ(count_since(st, rid, t0), 100);
    ASSERT_EQ(count_since(st, rid, t0 + 1), 99);
    ASSERT_EQ(count_since(st, rid, t0 + 50 * h), 50);
    ASSERT_EQ(count_since(st, rid, t0 + 99 * h), 1);
    ASSERT_EQ(count_since(st, rid, t0 + 99 * h + 1), 0);
    flood(st, rid, &b, 100, 20, t0, ST_SEEN_NEW); /* appended to the listed group */
    ASSERT_EQ(count_since(st, rid, t0), 120);
    ASSERT_EQ(count_since(st, rid, t0 + 110 * h), 10);
    ASSERT_OK(st_commit(st, NULL));
    ASSERT_EQ(count_since(st, rid, t0 + 1), 119);
    ASSERT_OK(st_begin(st, NULL));
    flood(st, rid, &b, 0, 10, t0 + 200 * h, ST_SEEN_KNOWN); /* agents 0-9 seen again */
    ASSERT_EQ(count_since(st, rid, t0), 120);
    ASSERT_EQ(count_since(st, rid, t0 + 10 * h), 120);
    ASSERT_EQ(count_since(st, rid, t0 + 10 * h + 1), 119);
    ASSERT_EQ(count_since(st, rid, t0 + 200 * h), 10);
    st_rollback(st); /* agents 0-9 back at t0 + i h */
    ASSERT_EQ(count_since(st, rid, t0 + 1), 119);
    ASSERT_EQ(count_since(st, rid, t0 + 200 * h), 0);
    if (mode != ST_OPEN_MEM) {
        st_close(st);
        ASSERT_OK(st_open(&st, db, mode, NULL));
        rid = reg_pivot(st, "ru", 1, 0);
        ASSERT_EQ(count_since(st, rid, t0 + 1), 119);
        ASSERT_EQ(count_since(st, rid, t0 + 119 * h), 1);
    }
    /* a walk stopped early shows the oldest first */
    kx_buf part;
    kx_buf_init(&part, 1 << 16);
    ASSERT_EQ(st_pivot_each(st, rid, "flood", 5, pivot_line_upto, &part, NULL), 1);
    ASSERT(part.len > 0 && strncmp(part.ptr, "5:allow,5:flood,7:agent-0,|", 27) == 0);
    kx_buf_fini(&part);
    st_close(st);
    kx_buf_fini(&b);
}

TEST(state_pivot_count_of_a_large_group)
{
    struct tdir d;
    tdir_make(&d);
    pivot_count_scenario(ST_OPEN_RW, d.db);
    pivot_count_scenario(ST_OPEN_MEM, NULL);
    rm_rf(d.dir);
}

TEST(state_pivot_cost_follows_the_user_not_the_rule)
{
    struct tdir d;
    tdir_make(&d);
    struct st_pivot_cost small, big;
    for (int m = 0; m < 2; m++) {
        enum st_mode mode = m ? ST_OPEN_MEM : ST_OPEN_RW;
        pivot_cost(mode, d.db, 10, &small);
        unlink(d.db);
        pivot_cost(mode, d.db, 4000, &big);
        unlink(d.db);
        if (mode == ST_OPEN_MEM) { /* all 7 from the map, nothing from SQLite */
            ASSERT_EQ(big.rows, 0);
            ASSERT_EQ(big.records, 7);
        } else { /* 4 rows of the (rid, pivot) key range, 3 unsaved records from the map */
            ASSERT_EQ(big.rows, 4);
            ASSERT_EQ(big.records, 3);
            ASSERT_EQ(big.fullscan_steps, 0);
            ASSERT(big.vm_steps > 0);
        }
        /* 12,000 combinations of other users change nothing */
        ASSERT_EQ(big.rows, small.rows);
        ASSERT_EQ(big.records, small.records);
        ASSERT_EQ(big.vm_steps, small.vm_steps);
    }
    rm_rf(d.dir);
}

/* The schema kadet wrote before the pivot (version 1), verbatim. */
static const char schema_v1[] = "CREATE TABLE rules("
                                " rid INTEGER PRIMARY KEY,"
                                " rule_id TEXT NOT NULL,"
                                " logic_hash INTEGER NOT NULL,"
                                " name TEXT NOT NULL DEFAULT '',"
                                " fields BLOB NOT NULL DEFAULT '',"
                                " window_ms INTEGER NOT NULL DEFAULT 0,"
                                " first_loaded INTEGER NOT NULL,"
                                " last_loaded INTEGER NOT NULL,"
                                " watermark INTEGER,"
                                " current INTEGER NOT NULL DEFAULT 1,"
                                " UNIQUE(rule_id, logic_hash));"
                                "CREATE TABLE terms("
                                " rid INTEGER NOT NULL,"
                                " combo BLOB NOT NULL,"
                                " first_seen INTEGER NOT NULL,"
                                " last_seen INTEGER NOT NULL,"
                                " flags INTEGER NOT NULL DEFAULT 0,"
                                " PRIMARY KEY(rid, combo)) WITHOUT ROWID;"
                                "CREATE TABLE alerts("
                                " alert_id TEXT PRIMARY KEY,"
                                " rid INTEGER NOT NULL,"
                                " combo BLOB,"
                                " ts INTEGER NOT NULL) WITHOUT ROWID;"
                                "CREATE INDEX alerts_by_rule ON alerts(rid, ts);"
                                "CREATE TABLE positions("
                                " source TEXT PRIMARY KEY,"
                                " byte_offset INTEGER NOT NULL,"
                                " line_no INTEGER NOT NULL,"
                                " updated INTEGER NOT NULL) WITHOUT ROWID;"
                                "CREATE TABLE counters("
                                " name TEXT PRIMARY KEY,"
                                " value INTEGER NOT NULL) WITHOUT ROWID;"
                                "PRAGMA application_id = 1801544820;";
/* What schema 2 (on main for an hour) added to it. */
static const char schema_v2_more[] = "ALTER TABLE rules ADD COLUMN pivot INTEGER;"
                                     "ALTER TABLE terms ADD COLUMN pivot BLOB;"
                                     "CREATE INDEX terms_by_pivot ON terms(rid, pivot)"
                                     " WHERE pivot IS NOT NULL;";

static int64_t db_int(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    ASSERT_EQ(sqlite3_open(db, &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* A state as kadet schema `ver` left it, then opened by this one. */
static void migrate_case(int ver)
{
    struct tdir d;
    tdir_make(&d);
    snprintf(d.db, sizeof(d.db), "%s/old.db", d.dir);
    /* one baseline of 300 combinations (schema 2: with its pivot, the user), an alert id, an
       input position and a counter */
    sqlite3 *h;
    ASSERT_EQ(sqlite3_open(d.db, &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    if (ver == 2)
        ASSERT_EQ(sqlite3_exec(h, schema_v2_more, NULL, NULL, NULL), SQLITE_OK);
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", ver);
    ASSERT_EQ(sqlite3_exec(h, pragma, NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(h,
                     "INSERT INTO rules(rid, rule_id, logic_hash, name, fields, window_ms,"
                     " first_loaded, last_loaded, watermark, current) VALUES(1, 'ru', 7, 'ru', "
                     "'58:kubernetes.audit.annotations.authorization_k8s_io/decision,"
                     "30:kubernetes.audit.user.username,19:user_agent.original,', "
                     "864000000, 1, 1, 5000, 1);"
                     "INSERT INTO alerts VALUES('old-alert', 1, NULL, 3);"
                     "INSERT INTO positions VALUES('dev:1:/var/log/audit.log', 4096, 10, 1);"
                     "INSERT INTO counters VALUES('events.read', 10);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_stmt *ins;
    if (ver == 2)
        ASSERT_EQ(sqlite3_exec(h, "UPDATE rules SET pivot = 1", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(h,
                                 ver == 2 ? "INSERT INTO terms VALUES(1, ?1, ?2, ?3, ?4, ?5)"
                                          : "INSERT INTO terms VALUES(1, ?1, ?2, ?3, ?4)",
                                 -1, &ins, NULL),
              SQLITE_OK);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    char u[32], a[32];
    for (int i = 0; i < 300; i++) {
        snprintf(u, sizeof(u), "user-%d", i % 50);
        snprintf(a, sizeof(a), "agent-%d", i / 50);
        combo3(&b, i % 7 ? "allow" : "forbid", u, a);
        sqlite3_bind_blob(ins, 1, b.ptr, (int)b.len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, 1000 - i);
        sqlite3_bind_int64(ins, 3, 2000 + i);
        sqlite3_bind_int64(ins, 4, i % 2);
        if (ver == 2)
            sqlite3_bind_blob(ins, 5, u, (int)strlen(u), SQLITE_TRANSIENT); /* as kadet did */
        ASSERT_EQ(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_close(h);

    /* read-only inspection leaves it as it is */
    struct st_store *st;
    struct st_stats stats;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RO, NULL));
    ASSERT_OK(st_stats_get(st, &stats, NULL));
    ASSERT_EQ(stats.terms, 300);
    st_close(st);
    ASSERT_EQ(db_int(d.db, "PRAGMA user_version"), ver);

    /* a writer upgrades it; the rule's baseline is kept and keyed by user once (schema 2
       rows already were) */
    enum st_baseline status;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    ASSERT_EQ(db_int(d.db, "PRAGMA user_version"), ST_SCHEMA_VERSION);
    struct st_rule_def def = {.rule_id = "ru",
                              .name = "ru",
                              .logic_hash = 7,
                              .fields = nt_fields,
                              .nfields = 3,
                              .window_ms = 10 * DAY_MS,
                              .has_pivot = true,
                              .pivot = 1};
    uint32_t rid;
    ASSERT_OK(st_rule_register(st, &def, &rid, &status, NULL));
    ASSERT_EQ(status, ST_BASELINE_KEPT);
    ASSERT_EQ(rid, 1);
    ASSERT_EQ(sql_of(st)->piv_backfilled, ver == 1 ? 300 : 0);
    ASSERT_EQ(st_watermark(st, rid), 5000);
    ASSERT_EQ(st_counter_get(st, "events.read"), 10);
    ASSERT_EQ(st_alert_emitted(st, "old-alert", NULL), 1);
    struct st_pos pos;
    ASSERT_OK(st_pos_get(st, "dev:1:/var/log/audit.log", &pos, NULL));
    ASSERT_EQ(pos.offset, 4096);
    kx_buf got, want;
    kx_buf_init(&got, 1 << 20);
    kx_buf_init(&want, 1 << 20);
    ASSERT_OK(st_pivot_each(st, rid, "user-7", 6, pivot_line, &got, NULL));
    ref_lines(st, "ru", 1, "user-7", &want);
    ASSERT_STR_EQ(got.ptr, want.ptr);
    ASSERT(want.len > 0);
    /* new combinations get their pivot with their row */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, rid, &b, "allow", "user-7", "brand-new", 3000), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    ASSERT_EQ(db_int(d.db, "SELECT count(*) FROM terms"), 301);
    char q[128];
    snprintf(q, sizeof(q), "SELECT count(*) FROM terms_key WHERE rid = 1 AND phash = %u",
             (unsigned)st_disk_hash("user-7", 6));
    ASSERT_EQ(db_int(d.db, q), 7);

    /* once: the next run keys nothing; a changed pivot (the agent) re-keys */
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    ASSERT_OK(st_rule_register(st, &def, &rid, &status, NULL));
    ASSERT_EQ(sql_of(st)->piv_backfilled, 0);
    def.pivot = 2;
    ASSERT_OK(st_begin(st, NULL)); /* not inside a batch (its rollback would undo the keys) */
    ASSERT_EQ(st_rule_register(st, &def, &rid, &status, NULL), KAD_EINVAL);
    st_rollback(st);
    ASSERT_OK(st_rule_register(st, &def, &rid, &status, NULL));
    ASSERT_EQ(sql_of(st)->piv_backfilled, 301);
    kx_buf_reset(&got);
    ASSERT_OK(st_pivot_each(st, rid, "agent-3", 7, pivot_line, &got, NULL));
    ref_lines(st, "ru", 2, "agent-3", &want);
    ASSERT_STR_EQ(got.ptr, want.ptr);
    ASSERT(want.len > 0);
    st_close(st);
    kx_buf_fini(&got);
    kx_buf_fini(&want);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_pivot_migrates_schema_1_and_2_files)
{
    migrate_case(1);
    migrate_case(2);
}

/* ---- issue 22: an existing empty, non-SQLite or truncated file is not a new state --------- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int64_t file_bytes(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

TEST(state_open_refuses_empty_and_truncated_files)
{
    struct tdir d;
    tdir_make(&d);
    char p[192];
    struct st_store *st = NULL;
    kad_err e;
    kad_err_clear(&e);
    /* 0 bytes: an error naming the file, the file untouched; ST_OPEN_INIT makes a state */
    snprintf(p, sizeof(p), "%s/zero.db", d.dir);
    write_file(p, "", 0);
    ASSERT_EQ(st_open(&st, p, ST_OPEN_RW, &e), KAD_ESTATE);
    ASSERT_NULL(st);
    ASSERT(strstr(e.msg, p) && strstr(e.msg, "empty (0 bytes)"));
    ASSERT_EQ(file_bytes(p), 0);
    ASSERT_EQ(st_open(&st, p, ST_OPEN_RO, &e), KAD_ESTATE);
    ASSERT_OK(st_open_flags(&st, p, ST_OPEN_RW, ST_OPEN_INIT, &e));
    enum st_baseline bs;
    uint32_t rid = reg(st, "r", 1, &bs);
    ASSERT_EQ(bs, ST_BASELINE_NEW);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_EQ(observe(st, rid, &b, "allow", "u", "a", 1), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    /* once it holds a state, ST_OPEN_INIT changes nothing */
    ASSERT_OK(st_open_flags(&st, p, ST_OPEN_RW, ST_OPEN_INIT, &e));
    ASSERT_EQ(reg(st, "r", 1, &bs), rid);
    ASSERT_EQ(bs, ST_BASELINE_KEPT);
    st_close(st);
    /* an SQLite database without tables (what an interrupted creation leaves): the same */
    snprintf(p, sizeof(p), "%s/notables.db", d.dir);
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open(p, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA user_version=0", NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(st_open(&st, p, ST_OPEN_RW, &e), KAD_ESTATE);
    ASSERT(strstr(e.msg, "exists but is empty (no tables)") != NULL);
    ASSERT_OK(st_open_flags(&st, p, ST_OPEN_RW, ST_OPEN_INIT, &e));
    st_close(st);
    /* a missing file is still created, without ST_OPEN_INIT, complete from the start (its
       schema is written under a temporary name, then linked into place) */
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, &e));
    ASSERT_EQ(db_int(d.db, "PRAGMA application_id"), 0x6b616474);
    char sub[160];
    snprintf(sub, sizeof(sub), "%s/sub", d.dir);
    DIR *dir = opendir(sub);
    ASSERT_NOT_NULL(dir);
    for (struct dirent *de; (de = readdir(dir)) != NULL;)
        if (strstr(de->d_name, ".init-"))
            t_fail(__FILE__, __LINE__, "temporary file %s left behind", de->d_name);
    closedir(dir);
    rid = reg(st, "r", 1, NULL);
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < 300; i++) {
        char ua[32];
        snprintf(ua, sizeof(ua), "agent/%d", i);
        ASSERT_EQ(observe(st, rid, &b, "allow", "u", ua, i), ST_SEEN_NEW);
    }
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
    /* cut short (no WAL beside it): refused, with or without ST_OPEN_INIT, and left alone */
    size_t n;
    char *whole = t_read_file(d.db, &n);
    ASSERT_NOT_NULL(whole);
    ASSERT(n > 8192);
    snprintf(p, sizeof(p), "%s/cut.db", d.dir);
    write_file(p, whole, 4096);
    ASSERT_EQ(st_open_flags(&st, p, ST_OPEN_RW, ST_OPEN_INIT, &e), KAD_ESTATE);
    ASSERT(strstr(e.msg, "is truncated: 4096 bytes") != NULL);
    ASSERT_EQ(st_open(&st, p, ST_OPEN_RO, &e), KAD_ESTATE);
    ASSERT_EQ(file_bytes(p), 4096);
    /* ... but with WAL frames beside it the header may be ahead of the file (a checkpoint cut
       by a crash): no verdict then, SQLite decides */
    char wal[224];
    snprintf(wal, sizeof(wal), "%s-wal", p);
    write_file(wal, "x", 1);
    kad_err_clear(&e);
    st_open(&st, p, ST_OPEN_RO, &e);
    st_close(st);
    st = NULL;
    ASSERT(strstr(e.msg, "is truncated") == NULL);
    unlink(wal);
    /* not SQLite at all (under 100 bytes, or another header) */
    snprintf(p, sizeof(p), "%s/short.db", d.dir);
    write_file(p, "SQLite format 3", 15);
    ASSERT_EQ(st_open_flags(&st, p, ST_OPEN_RW, ST_OPEN_INIT, &e), KAD_ESTATE);
    ASSERT(strstr(e.msg, "(15 bytes) is not an SQLite database") != NULL);
    memset(whole, 'x', 16);
    write_file(p, whole, n);
    ASSERT_EQ(st_open(&st, p, ST_OPEN_RW, &e), KAD_ESTATE);
    ASSERT(strstr(e.msg, "is not an SQLite database") != NULL);
    /* a Redis URL is not a file name: nothing listens on port 1 (plain or TLS) */
    ASSERT_EQ(st_open(&st, "redis://127.0.0.1:1/0", ST_OPEN_RW, &e), KAD_EUNAVAIL);
    ASSERT(strstr(e.msg, "Redis unreachable") != NULL);
    ASSERT_EQ(st_open(&st, "rediss://127.0.0.1:1/0", ST_OPEN_RW, &e), KAD_EUNAVAIL);
    ASSERT(strstr(e.msg, "Redis unreachable") != NULL);
    ASSERT_EQ(access("redis:", F_OK), -1); /* no directory made for it */
    ASSERT_EQ(access("rediss:", F_OK), -1);
    kx_free(whole);
    kx_buf_fini(&b);
    rm_rf(d.dir);
}

/*
 * test_state.c - unit tests of src/state/: combination encoding, the new-terms step of
 * time-and-state.md, batches (commit, rollback, crash before commit in a forked child),
 * reopen, baselines keyed by logic hash, alert ids, positions, counters, inspection filters,
 * prune, reset, read-only opening and the index's bytes per combination.
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
static const char *combo3(kad_buf *b, const char *a, const char *c, const char *d)
{
    kad_str v[3] = {kad_str_c(a), kad_str_c(c), kad_str_c(d ? d : "")};
    kad_buf_reset(b);
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

static int observe(struct st_store *st, uint32_t rid, kad_buf *b, const char *dec, const char *user,
                   const char *ua, int64_t ts)
{
    combo3(b, dec, user, ua);
    return st_observe(st, rid, b->ptr, b->len, ts, NULL, NULL);
}

/* ---- combinations ---------------------------------------------------------------------- */

TEST(state_combo_roundtrip)
{
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
    kad_str v[3] = {KAD_STR_LIT("allow"), KAD_STR_LIT(""), {"a,b:c\0d", 7}};
    ASSERT_OK(st_combo_encode(&b, v, 3, NULL));
    ASSERT_EQ(b.len, strlen("5:allow,0:,7:a,b:c") + 3);
    kad_str out[4];
    ASSERT_EQ(st_combo_decode(b.ptr, b.len, out, 4), 3);
    ASSERT(kad_str_eqc(out[0], "allow"));
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
    kad_buf_fini(&b);
}

TEST(state_combo_limits)
{
    kad_buf b;
    kad_buf_init(&b, 4 * ST_KEY_MAX);
    char *big = kad_malloc(ST_KEY_MAX);
    memset(big, 'x', ST_KEY_MAX);
    kad_str v[2] = {{big, ST_KEY_MAX - 10}, {big, 100}};
    kad_err e;
    kad_err_clear(&e);
    ASSERT_EQ(st_combo_encode(&b, v, 2, &e), KAD_ELIMIT);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(st_combo_encode(&b, v, 0, NULL), KAD_EINVAL);
    ASSERT_EQ(st_combo_encode(&b, v, ST_COMPONENTS_MAX + 1, NULL), KAD_EINVAL);
    v[0].len = ST_KEY_MAX - 16;
    ASSERT_OK(st_combo_encode(&b, v, 1, NULL));
    ASSERT(b.len <= ST_KEY_MAX);
    kad_free(big);
    kad_buf_fini(&b);
}

/* ---- the new-terms step ---------------------------------------------------------------- */

TEST(state_observe_policy)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    uint32_t rid = reg(st, "r1", 42, NULL);
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
    st_close(st);
}

TEST(state_alert_flag_and_ids)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    uint32_t rid = reg(st, "r1", 1, NULL);
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_rollback_restores_index_and_db)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    uint32_t rid = reg(st, "r", 7, NULL);
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
    rm_rf(d.dir);
}

/* Child: commit batch 1, write batch 2 (terms, alert, position) and die without committing. */
static void crash_child(const char *db)
{
    struct st_store *st;
    if (st_open(&st, db, ST_OPEN_RW, NULL))
        _exit(3);
    uint32_t rid = reg(st, "crashy", 9, NULL);
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
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

static void fill_terms(struct st_store *st, uint32_t rid, kad_buf *b)
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
    rm_rf(d.dir);
}

static int count_rule(const struct st_rule_info *r, void *ud)
{
    (*(int *)ud)++;
    ASSERT_EQ(r->nfields, 3);
    ASSERT(kad_str_eqc(r->fields[2], "user_agent.original"));
    ASSERT_EQ(r->terms, 5);
    ASSERT_EQ(r->watermark, 50);
    ASSERT_TRUE(r->current);
    return 0;
}

TEST(state_rules_each_reports_baselines)
{
    struct st_store *st;
    ASSERT_OK(st_open(&st, NULL, ST_OPEN_MEM, NULL));
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
    fill_terms(st, reg(st, "r", 5, NULL), &b);
    int n = 0;
    ASSERT_OK(st_rules_each(st, NULL, count_rule, &n, NULL));
    ASSERT_EQ(n, 1);
    n = 0;
    ASSERT_OK(st_rules_each(st, "other", count_rule, &n, NULL));
    ASSERT_EQ(n, 0);
    st_close(st);
    kad_buf_fini(&b);
}

/* ---- maintenance ----------------------------------------------------------------------- */

TEST(state_prune_by_window_and_age)
{
    struct tdir d;
    tdir_make(&d);
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_reset_rule_and_all)
{
    struct tdir d;
    tdir_make(&d);
    struct st_store *st;
    ASSERT_OK(st_open(&st, d.db, ST_OPEN_RW, NULL));
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
}

/* ---- failure injection ----------------------------------------------------------------- */

/* One batch: A known again, B new with an alert id, a position and a counter. Returns 0 when
   every step and the commit succeeded; on the first failure rolls back and returns it. */
static int failing_batch(struct st_store *st, uint32_t rid, kad_buf *b)
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
static void check_all_or_nothing(struct st_store *st, uint32_t rid, kad_buf *b, bool second)
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
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
    kad_buf b;
    kad_buf_init(&b, ST_KEY_MAX + 1);
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
    kad_buf_fini(&b);
    rm_rf(d.dir);
}

TEST(state_index_hash_and_find_or_insert)
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
            bool found = true;
            struct st_rec *r =
                idx_find_or_insert(&ix, 1, k, (size_t)n, idx_hash(1, k, (size_t)n), &found);
            ASSERT_EQ(found, round == 1);
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
    bool found = true;
    r = idx_find_or_insert(&ix, 1, "key-7", 5, idx_hash(1, "key-7", 5), &found);
    ASSERT_FALSE(found);
    ASSERT_EQ(ix.live, 5000);
    gen = ix.gen;
    idx_compact(&ix);
    ASSERT_TRUE(ix.gen != gen);
    ASSERT_EQ(ix.live, 5000);
    gen = ix.gen;
    idx_fini(&ix);
    ASSERT_TRUE(ix.gen != gen);
    ASSERT_EQ(ix.live, 0);
}

/*
 * test_state_ops.c - the behaviour every state store must have, run through state.h against
 * each store implementation (struct st_ops, src/state/state_int.h): the SQLite store on a file
 * and in memory (ST_OPEN_MEM), and the Redis store against a redis-server the tests start on
 * 127.0.0.1 (or KADET_TEST_REDIS, a scratch server; skipped with a message when redis-server
 * is not installed: t_redis.h). What only one
 * implementation does (the index's layout, SQLite's schema, the pivot's cost) is tested in
 * test_state.c.
 *
 * Each TEST runs one behaviour against every kind, so a failure names the behaviour; the kind
 * is in the message (t_fail through CHECK).
 */
#include "t_redis.h"
#include "test.h"

#include "base/buf.h"
#include "state/state.h"
#include "state/state_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY INT64_C(86400000)
#define T0 INT64_C(1767225600000) /* 2026-01-01 */

struct kind {
    const char *name;
    enum st_mode mode; /* RW (a file or URL) or MEM */
    const char *env;   /* the URL comes from this variable; skipped when unset */
    bool durable;      /* reopening finds what was committed */
    char dir[64];
    char path[512];
};

static struct kind kinds[] = {
    {.name = "sqlite-file", .mode = ST_OPEN_RW, .durable = true},
    {.name = "mem", .mode = ST_OPEN_MEM},
    {.name = "redis", .mode = ST_OPEN_RW, .env = "KADET_TEST_REDIS", .durable = true},
};

static const struct kind *cur; /* for messages */

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            t_fail(__FILE__, __LINE__, "[%s] assertion failed: %s", cur->name, #c);                \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long c_a_ = (long long)(a), c_b_ = (long long)(b);                                    \
        if (c_a_ != c_b_)                                                                          \
            t_fail(__FILE__, __LINE__, "[%s] %s == %s: %lld != %lld", cur->name, #a, #b, c_a_,     \
                   c_b_);                                                                          \
    } while (0)

static struct st_store *kopen(struct kind *k)
{
    struct st_store *st = NULL;
    kad_err e;
    kad_err_clear(&e);
    if (st_open(&st, k->mode == ST_OPEN_MEM ? NULL : k->path, k->mode, &e) != 0)
        t_fail(__FILE__, __LINE__, "[%s] open: %s", k->name, e.msg);
    return st;
}

static const char *const fields[] = {"decision", "user.name", "user_agent.original"};

static uint32_t kreg(struct st_store *st, const char *id, uint64_t hash, int64_t window,
                     enum st_baseline *status)
{
    struct st_rule_def d = {.rule_id = id,
                            .name = id,
                            .logic_hash = hash,
                            .fields = fields,
                            .nfields = 3,
                            .window_ms = window,
                            .has_pivot = true,
                            .pivot = 1};
    uint32_t rid = 0;
    kad_err e;
    kad_err_clear(&e);
    if (st_rule_register(st, &d, &rid, status, &e) != 0)
        t_fail(__FILE__, __LINE__, "[%s] register %s: %s", cur->name, id, e.msg);
    return rid;
}

/* The encoded combination (decision, user, agent) in b. */
static kx_buf *combo(kx_buf *b, const char *dec, const char *user, const char *agent)
{
    kx_str v[3] = {kx_str_c(dec), kx_str_c(user), kx_str_c(agent)};
    kx_buf_reset(b);
    if (st_combo_encode(b, v, 3, NULL) != 0)
        t_fail(__FILE__, __LINE__, "encode");
    return b;
}

static int obs(struct st_store *st, uint32_t rid, kx_buf *b, const char *user, const char *agent,
               int64_t ts)
{
    combo(b, "allow", user, agent);
    return st_observe(st, rid, b->ptr, b->len, ts, NULL, NULL);
}

static int look(struct st_store *st, uint32_t rid, kx_buf *b, const char *user, const char *agent,
                struct st_term *t)
{
    combo(b, "allow", user, agent);
    return st_lookup(st, rid, b->ptr, b->len, t);
}

/* Run fn against every kind that is available, each with a fresh store location. */
static void for_each_kind(void (*fn)(struct kind *k, kx_buf *b))
{
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    int ran = 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct kind *k = &kinds[i];
        cur = k;
        k->dir[0] = '\0';
        if (k->env) {
            const char *url = t_redis_suite_url(); /* $KADET_TEST_REDIS or a server of ours */
            if (!url)
                continue;
            snprintf(k->path, sizeof(k->path), "%s", url);
        } else if (k->mode == ST_OPEN_RW) {
            snprintf(k->dir, sizeof(k->dir), "/tmp/kadet-stops-XXXXXX");
            ASSERT_NOT_NULL(mkdtemp(k->dir));
            snprintf(k->path, sizeof(k->path), "%s/state.db", k->dir);
        }
        fn(k, &b);
        ran++;
        if (k->dir[0]) {
            char cmd[160];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
            if (system(cmd) != 0)
                t_fail(__FILE__, __LINE__, "cannot remove %s", k->dir);
        }
    }
    ASSERT(ran >= 2);
    kx_buf_fini(&b);
}

/* ---- the new-terms decision ------------------------------------------------------------ */

static void b_observe(struct kind *k, kx_buf *b)
{
    struct st_store *st = kopen(k);
    uint32_t r = kreg(st, "obs", 1, 10 * DAY, NULL), forever = kreg(st, "forever", 2, 0, NULL);
    CHECK(r != forever);
    CHECK_EQ(st_watermark(st, r), ST_TIME_NONE);
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0), KAD_EINVAL); /* no batch */
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0), ST_SEEN_NEW);
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0 + 1000), ST_SEEN_KNOWN);
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0 - 1000), ST_SEEN_KNOWN); /* late: no alert */
    CHECK_EQ(obs(st, forever, b, "alice", "curl", T0), ST_SEEN_NEW);    /* rules are separate */
    struct st_term t, prev;
    CHECK_EQ(look(st, r, b, "alice", "curl", &t), 1);
    CHECK_EQ(t.first_seen, T0 - 1000);
    CHECK_EQ(t.last_seen, T0 + 1000);
    CHECK(!t.alerted);
    CHECK_EQ(st_watermark(st, r), T0 + 1000);
    /* exactly the window after last_seen: known; one ms more: forgotten, restarted */
    combo(b, "allow", "alice", "curl");
    CHECK_EQ(st_observe(st, r, b->ptr, b->len, T0 + 1000 + 10 * DAY, &prev, NULL), ST_SEEN_KNOWN);
    CHECK_EQ(prev.last_seen, T0 + 1000);
    int64_t last = T0 + 1000 + 10 * DAY;
    CHECK_EQ(st_observe(st, r, b->ptr, b->len, last + 10 * DAY + 1, &prev, NULL),
             ST_SEEN_FORGOTTEN);
    CHECK_EQ(prev.first_seen, T0 - 1000);
    CHECK_EQ(look(st, r, b, "alice", "curl", &t), 1);
    CHECK_EQ(t.first_seen, last + 10 * DAY + 1);
    CHECK_EQ(t.last_seen, last + 10 * DAY + 1);
    /* a window <= 0 never forgets */
    CHECK_EQ(obs(st, forever, b, "alice", "curl", T0 + 3650 * DAY), ST_SEEN_KNOWN);
    /* NEW leaves prev zeroed */
    combo(b, "allow", "bob", "curl");
    memset(&prev, 0x55, sizeof(prev));
    CHECK_EQ(st_observe(st, r, b->ptr, b->len, T0, &prev, NULL), ST_SEEN_NEW);
    CHECK_EQ(prev.first_seen, 0);
    CHECK(!prev.alerted);
    CHECK_EQ(st_watermark(st, r), last + 10 * DAY + 1); /* an older event keeps it */
    /* errors: unknown rule, empty and oversized combinations */
    CHECK_EQ(st_observe(st, 4242, b->ptr, b->len, T0, NULL, NULL), KAD_ENOTFOUND);
    CHECK_EQ(st_observe(st, r, b->ptr, 0, T0, NULL, NULL), KAD_EINVAL);
    CHECK_EQ(st_observe(st, r, b->ptr, ST_KEY_MAX + 1, T0, NULL, NULL), KAD_ELIMIT);
    CHECK_EQ(st_lookup(st, 4242, b->ptr, b->len, &t), 0);
    ASSERT_OK(st_commit(st, NULL));
    CHECK_EQ(look(st, r, b, "bob", "curl", &t), 1);
    CHECK_EQ(look(st, r, b, "carol", "curl", &t), 0);
    st_close(st);
}

TEST(state_ops_observe_decisions) { for_each_kind(b_observe); }

/* ---- alert ids --------------------------------------------------------------------------- */

static void b_claim(struct kind *k, kx_buf *b)
{
    struct st_store *st = kopen(k);
    uint32_t r = kreg(st, "claim", 1, 10 * DAY, NULL);
    combo(b, "allow", "alice", "curl");
    CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "a1", T0, NULL), KAD_EINVAL); /* no batch */
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0), ST_SEEN_NEW);
    CHECK_EQ(st_alert_emitted(st, "a1", NULL), 0);
    CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "a1", T0, NULL), 1);
    CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "a1", T0, NULL), 0);
    CHECK_EQ(st_alert_record(st, r, b->ptr, b->len, "a1", T0, NULL), 0);
    CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "", T0, NULL), KAD_EINVAL);
    CHECK_EQ(st_alert_emitted(st, "a1", NULL), 1);
    struct st_term t;
    CHECK_EQ(st_lookup(st, r, b->ptr, b->len, &t), 1);
    CHECK(t.alerted);
    /* a query rule's alert: no combination, any rid */
    CHECK_EQ(st_alert_claim(st, 77, NULL, 0, "q1", T0, NULL), 1);
    CHECK_EQ(st_alert_claim(st, 77, NULL, 0, "q1", T0, NULL), 0);
    ASSERT_OK(st_commit(st, NULL));
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(st_alert_claim(st, 77, NULL, 0, "q1", T0, NULL), 0); /* committed */
    CHECK_EQ(st_alert_claim(st, 77, NULL, 0, "q2", T0, NULL), 1);
    st_rollback(st);
    if (st->ops->caps & ST_CAP_ATOMIC_BATCH) {
        CHECK_EQ(st_alert_emitted(st, "q2", NULL), 0); /* the claim went with the batch */
        ASSERT_OK(st_begin(st, NULL));
        CHECK_EQ(st_alert_claim(st, 77, NULL, 0, "q2", T0, NULL), 1);
        ASSERT_OK(st_commit(st, NULL));
    }
    /* FORGOTTEN clears the alerted flag: the new life alerts again */
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0 + 11 * DAY), ST_SEEN_FORGOTTEN);
    CHECK_EQ(st_lookup(st, r, b->ptr, b->len, &t), 1);
    CHECK(!t.alerted);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
}

TEST(state_ops_alert_claims) { for_each_kind(b_claim); }

/* ---- batches ----------------------------------------------------------------------------- */

static void b_batches(struct kind *k, kx_buf *b)
{
    struct st_store *st = kopen(k);
    uint32_t r = kreg(st, "batch", 1, 10 * DAY, NULL);
    CHECK_EQ(st_commit(st, NULL), KAD_EINVAL);
    CHECK_EQ(st_pos_set(st, "in", 1, 1, NULL), KAD_EINVAL);
    CHECK(!st_in_batch(st));
    ASSERT_OK(st_begin(st, NULL));
    CHECK(st_in_batch(st));
    CHECK_EQ(st_begin(st, NULL), KAD_EINVAL);
    CHECK_EQ(st_reset(st, NULL, NULL, NULL), KAD_EINVAL);
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0), ST_SEEN_NEW);
    ASSERT_OK(st_pos_set(st, "in", 100, 1, NULL));
    ASSERT_OK(st_counter_add(st, "events", 1, NULL));
    ASSERT_OK(st_commit(st, NULL));
    CHECK(!st_in_batch(st));

    /* a batch abandoned: rollback, then a batch left open at close (like a crash) */
    for (int how = 0; how < 2; how++) {
        ASSERT_OK(st_begin(st, NULL));
        CHECK_EQ(obs(st, r, b, "alice", "curl", T0 + 5000), ST_SEEN_KNOWN);
        /* a store without atomic batches keeps the observation of the abandoned batch (the
           other instances saw it) but gives its alert claims back */
        bool atomic = (st->ops->caps & ST_CAP_ATOMIC_BATCH) != 0;
        CHECK_EQ(obs(st, r, b, "bob", "wget", T0 + 5000),
                 atomic || how == 0 ? ST_SEEN_NEW : ST_SEEN_KNOWN);
        CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "lost", T0, NULL), 1);
        ASSERT_OK(st_pos_set(st, "in", 999, 9, NULL));
        ASSERT_OK(st_counter_add(st, "events", 5, NULL));
        CHECK_EQ(st_counter_get(st, "events"), 6); /* pending deltas count */
        if (how == 0) {
            st_rollback(st);
            CHECK(!st_in_batch(st));
        } else {
            st_close(st);
            if (!k->durable)
                break;
            st = kopen(k);
            CHECK_EQ(kreg(st, "batch", 1, 10 * DAY, NULL), r);
        }
        if (!(st->ops->caps & ST_CAP_ATOMIC_BATCH))
            continue;
        struct st_term t;
        struct st_pos p;
        CHECK_EQ(look(st, r, b, "alice", "curl", &t), 1);
        CHECK_EQ(t.last_seen, T0);
        CHECK_EQ(look(st, r, b, "bob", "wget", &t), 0);
        CHECK_EQ(st_alert_emitted(st, "lost", NULL), 0);
        ASSERT_OK(st_pos_get(st, "in", &p, NULL));
        CHECK_EQ(p.offset, 100);
        CHECK_EQ(st_counter_get(st, "events"), 1);
        CHECK_EQ(st_watermark(st, r), T0);
    }
    if (k->durable)
        st_close(st);
}

TEST(state_ops_batches_commit_or_vanish) { for_each_kind(b_batches); }

/* ---- positions and counters -------------------------------------------------------------- */

struct lines {
    char buf[1024];
};

static int pos_line(const char *source, const struct st_pos *p, void *ud)
{
    struct lines *l = ud;
    size_t n = strlen(l->buf);
    snprintf(l->buf + n, sizeof(l->buf) - n, "%s=%lld/%lld;", source, (long long)p->offset,
             (long long)p->line);
    return 0;
}

static int counter_line(const char *name, int64_t v, void *ud)
{
    struct lines *l = ud;
    size_t n = strlen(l->buf);
    snprintf(l->buf + n, sizeof(l->buf) - n, "%s=%lld;", name, (long long)v);
    return strcmp(name, "stop") == 0 ? 7 : 0;
}

static void b_positions(struct kind *k, kx_buf *b)
{
    (void)b;
    struct st_store *st = kopen(k);
    struct st_pos p;
    CHECK_EQ(st_pos_get(st, "in", &p, NULL), KAD_ENOTFOUND);
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(st_pos_set(st, "2049:77:/var/log/b.log", 10, 1, NULL));
    ASSERT_OK(st_pos_set(st, "2049:76:/var/log/a.log", 20, 2, NULL));
    ASSERT_OK(st_pos_set(st, "2049:77:/var/log/b.log", 30, 3, NULL)); /* replaces */
    ASSERT_OK(st_counter_add(st, "zeta", 2, NULL));
    ASSERT_OK(st_counter_add(st, "alpha", -4, NULL));
    ASSERT_OK(st_counter_add(st, "zeta", 3, NULL));
    char name[ST_COUNTER_NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    CHECK_EQ(st_counter_add(st, name, 1, NULL), KAD_ELIMIT);
    name[ST_COUNTER_NAME_MAX] = '\0';
    ASSERT_OK(st_counter_add(st, name, 1, NULL));
    CHECK_EQ(st_counter_add(st, "", 1, NULL), KAD_ELIMIT);
    ASSERT_OK(st_commit(st, NULL));
    for (int reopen = 0; reopen < 1 + k->durable; reopen++) {
        if (reopen) {
            st_close(st);
            st = kopen(k);
        }
        ASSERT_OK(st_pos_get(st, "2049:77:/var/log/b.log", &p, NULL));
        CHECK_EQ(p.offset, 30);
        CHECK_EQ(p.line, 3);
        struct lines l = {{0}};
        ASSERT_OK(st_positions_each(st, pos_line, &l, NULL));
        ASSERT_STR_EQ(l.buf, "2049:76:/var/log/a.log=20/2;2049:77:/var/log/b.log=30/3;");
        memset(&l, 0, sizeof(l));
        ASSERT_OK(st_counters_each(st, counter_line, &l));
        char want[256];
        snprintf(want, sizeof(want), "alpha=-4;%s=1;zeta=5;", name);
        ASSERT_STR_EQ(l.buf, want);
        CHECK_EQ(st_counter_get(st, "zeta"), 5);
        CHECK_EQ(st_counter_get(st, "unknown"), 0);
    }
    /* a nonzero return stops an iteration and is returned */
    ASSERT_OK(st_begin(st, NULL));
    ASSERT_OK(st_counter_add(st, "stop", 1, NULL));
    struct lines l = {{0}};
    CHECK_EQ(st_counters_each(st, counter_line, &l), 7);
    ASSERT_STR_EQ(strstr(l.buf, "stop="), "stop=1;");
    st_rollback(st);
    CHECK_EQ(st_counter_get(st, "stop"), 0);
    st_close(st);
}

TEST(state_ops_positions_and_counters) { for_each_kind(b_positions); }

/* ---- baselines ------------------------------------------------------------------------------ */

static void b_baselines(struct kind *k, kx_buf *b)
{
    struct st_store *st = kopen(k);
    enum st_baseline bs;
    uint32_t r1 = kreg(st, "base", 100, 10 * DAY, &bs);
    CHECK_EQ(bs, ST_BASELINE_NEW);
    CHECK_EQ(kreg(st, "base", 100, 10 * DAY, &bs), r1);
    CHECK_EQ(bs, ST_BASELINE_KEPT);
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r1, b, "alice", "curl", T0), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    uint32_t r2 = kreg(st, "base", 200, 10 * DAY, &bs); /* the logic changed */
    CHECK_EQ(bs, ST_BASELINE_CHANGED);
    CHECK(r2 != r1);
    CHECK_EQ(look(st, r2, b, "alice", "curl", NULL), 0); /* a new, empty baseline */
    if (k->durable) {
        st_close(st);
        st = kopen(k);
    }
    CHECK_EQ(kreg(st, "base", 100, 10 * DAY, &bs), r1);
    CHECK_EQ(bs, ST_BASELINE_REVERTED);
    CHECK_EQ(look(st, r1, b, "alice", "curl", NULL), 1);
    ASSERT_OK(st_rule_preload(st, r1, NULL));
    CHECK_EQ(st_rule_preload(st, 4242, NULL), KAD_ENOTFOUND);
    CHECK_EQ(st_watermark(st, r1), T0);
    struct st_rule_def bad = {.rule_id = "", .logic_hash = 1};
    CHECK_EQ(st_rule_register(st, &bad, NULL, NULL, NULL), KAD_EINVAL);
    bad.rule_id = "x";
    bad.has_pivot = true;
    CHECK_EQ(st_rule_register(st, &bad, NULL, NULL, NULL), KAD_EINVAL); /* pivot >= nfields */
    st_close(st);
}

TEST(state_ops_baselines_by_logic) { for_each_kind(b_baselines); }

/* ---- inspection --------------------------------------------------------------------------- */

static int term_line(const struct st_term_info *t, void *ud)
{
    struct lines *l = ud;
    size_t n = strlen(l->buf);
    snprintf(l->buf + n, sizeof(l->buf) - n, "%s:%.*s/%.*s@%lld%s;", t->rule->rule_id,
             (int)t->comps[1].len, t->comps[1].ptr, (int)t->comps[2].len, t->comps[2].ptr,
             (long long)(t->term.first_seen - T0), t->term.alerted ? "!" : "");
    return 0;
}

static int rule_line(const struct st_rule_info *r, void *ud)
{
    struct lines *l = ud;
    size_t n = strlen(l->buf);
    snprintf(l->buf + n, sizeof(l->buf) - n, "%s:%llu/%llu%s;", r->rule_id,
             (unsigned long long)r->terms, (unsigned long long)r->alerts,
             r->current ? "" : "(old)");
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ';'-terminated entries of l sorted (st_terms_each's order is the store's: MEM's is
   unspecified). */
static const char *sorted(struct lines *l)
{
    static char out[sizeof(l->buf)];
    char *v[64], *save = NULL;
    size_t n = 0;
    for (char *p = strtok_r(l->buf, ";", &save); p && n < 64; p = strtok_r(NULL, ";", &save))
        v[n++] = p;
    qsort(v, n, sizeof(v[0]), str_cmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, sizeof(out) - len, "%s;", v[i]);
    }
    return out;
}

static void b_inspect(struct kind *k, kx_buf *b)
{
    struct st_store *st = kopen(k);
    uint32_t r = kreg(st, "insp", 1, 10 * DAY, NULL), q = kreg(st, "other", 1, 10 * DAY, NULL);
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r, b, "alice", "kubectl", T0 + 3), ST_SEEN_NEW);
    CHECK_EQ(obs(st, r, b, "alice", "curl", T0 + 1), ST_SEEN_NEW);
    CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "al", T0, NULL), 1);
    CHECK_EQ(obs(st, r, b, "bob", "curl", T0 + 2), ST_SEEN_NEW);
    CHECK_EQ(obs(st, q, b, "alice", "curl", T0), ST_SEEN_NEW);
    ASSERT_OK(st_pos_set(st, "in", 1, 1, NULL));
    for (int committed = 0; committed < 2; committed++) {
        /* inside the batch the writer sees its own changes; then the committed state */
        if (committed)
            ASSERT_OK(st_commit(st, NULL));
        struct lines l = {{0}};
        struct st_cond alice = {.field = "name", .value = "alice"};
        struct st_filter f = {.rule_id = "insp", .conds = &alice, .nconds = 1};
        ASSERT_OK(st_terms_each(st, &f, term_line, &l, NULL));
        ASSERT_STR_EQ(sorted(&l), "insp:alice/curl@1!;insp:alice/kubectl@3;");
        memset(&l, 0, sizeof(l));
        ASSERT_OK(st_pivot_each(st, r, "alice", 5, term_line, &l, NULL)); /* in first_seen order */
        ASSERT_STR_EQ(l.buf, "insp:alice/curl@1!;insp:alice/kubectl@3;");
        memset(&l, 0, sizeof(l));
        struct st_filter lim = {.limit = 2};
        ASSERT_OK(st_terms_each(st, &lim, term_line, &l, NULL));
        size_t entries = 0;
        for (const char *p = l.buf; *p; p++)
            entries += *p == ';';
        CHECK_EQ(entries, 2);
        memset(&l, 0, sizeof(l));
        ASSERT_OK(st_rules_each(st, NULL, rule_line, &l, NULL));
        ASSERT_STR_EQ(l.buf, "insp:3/1;other:1/0;");
        struct st_stats s;
        ASSERT_OK(st_stats_get(st, &s, NULL));
        CHECK_EQ(s.rules, 2);
        CHECK_EQ(s.terms, 4);
        CHECK_EQ(s.alerts, 1);
        CHECK_EQ(s.positions, 1);
    }
    CHECK_EQ(st_pivot_each(st, 4242, "x", 1, term_line, NULL, NULL), KAD_ENOTFOUND);
    st_close(st);
}

TEST(state_ops_inspection_sees_the_batch) { for_each_kind(b_inspect); }

/* ---- prune and reset ---------------------------------------------------------------------- */

static void b_prune_reset(struct kind *k, kx_buf *b)
{
    struct st_store *st = kopen(k);
    uint32_t r = kreg(st, "pr", 1, 10 * DAY, NULL), q = kreg(st, "keep", 1, 0, NULL);
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r, b, "old", "curl", T0), ST_SEEN_NEW);
    CHECK_EQ(st_alert_claim(st, r, b->ptr, b->len, "old-alert", T0, NULL), 1);
    CHECK_EQ(obs(st, r, b, "new", "curl", T0 + 20 * DAY), ST_SEEN_NEW);
    CHECK_EQ(obs(st, q, b, "old", "curl", T0), ST_SEEN_NEW);
    CHECK_EQ(obs(st, q, b, "new", "curl", T0 + 20 * DAY), ST_SEEN_NEW);
    ASSERT_OK(st_counter_add(st, "c", 1, NULL));
    ASSERT_OK(st_commit(st, NULL));
    struct st_prune_result pr;
    struct st_prune_opts po = {.rule_id = "nope"};
    CHECK_EQ(st_prune(st, &po, &pr, NULL), KAD_ENOTFOUND);
    po.rule_id = NULL; /* every rule by its window: "keep" never forgets */
    ASSERT_OK(st_prune(st, &po, &pr, NULL));
    CHECK_EQ(pr.terms, 1);
    CHECK_EQ(pr.alerts, 1);
    CHECK_EQ(look(st, r, b, "old", "curl", NULL), 0);
    CHECK_EQ(look(st, r, b, "new", "curl", NULL), 1);
    CHECK_EQ(look(st, q, b, "old", "curl", NULL), 1);
    CHECK_EQ(st_alert_emitted(st, "old-alert", NULL), 0);
    /* inside a batch it commits with it; --older-than applies to every rule */
    ASSERT_OK(st_begin(st, NULL));
    po.older_than_ms = DAY;
    ASSERT_OK(st_prune(st, &po, &pr, NULL));
    CHECK_EQ(pr.terms, 1);
    ASSERT_OK(st_commit(st, NULL));
    CHECK_EQ(look(st, q, b, "old", "curl", NULL), 0);
    uint64_t removed = 99;
    CHECK_EQ(st_reset(st, "nope", &removed, NULL), KAD_ENOTFOUND);
    ASSERT_OK(st_reset(st, "pr", &removed, NULL));
    CHECK_EQ(removed, 1);
    CHECK_EQ(look(st, r, b, "new", "curl", NULL), 0);
    CHECK_EQ(look(st, q, b, "new", "curl", NULL), 1);
    CHECK_EQ(st_watermark(st, r), ST_TIME_NONE);
    ASSERT_OK(st_reset(st, NULL, &removed, NULL));
    CHECK_EQ(removed, 1);
    CHECK_EQ(st_counter_get(st, "c"), 0);
    struct st_stats s;
    ASSERT_OK(st_stats_get(st, &s, NULL));
    CHECK_EQ(s.terms, 0);
    /* registered rules stay usable after a reset */
    ASSERT_OK(st_begin(st, NULL));
    CHECK_EQ(obs(st, r, b, "new", "curl", T0), ST_SEEN_NEW);
    ASSERT_OK(st_commit(st, NULL));
    st_close(st);
}

TEST(state_ops_prune_and_reset) { for_each_kind(b_prune_reset); }

/* ---- batches of observations and lookups ------------------------------------------------ */

/* Probe i of a script: a combination from a small pool (so repeats, inside one group and
   across groups), times that move forward, sometimes back (late events) and sometimes past the
   window (forgotten). Keys are stored in keys[i] (each its own buffer). */
#define NPROBE 300
static void script(kx_buf *keys, int64_t *ts)
{
    uint64_t x = 12345;
    int64_t t = T0;
    for (int i = 0; i < NPROBE; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        char user[32], agent[32];
        snprintf(user, sizeof(user), "user-%u", (unsigned)(x >> 33) % 7);
        snprintf(agent, sizeof(agent), "agent-%u", (unsigned)(x >> 40) % (i < 150 ? 5 : 40));
        unsigned step = (unsigned)(x >> 50) % 16;
        t += step == 0 ? 11 * DAY : step == 1 ? -2 * DAY : 60000;
        ts[i] = t;
        kx_buf_init(&keys[i], 64);
        combo(&keys[i], "allow", user, agent);
    }
}

static void b_probe_batches(struct kind *k, kx_buf *b)
{
    (void)b;
    static kx_buf keys[NPROBE];
    static int64_t ts[NPROBE];
    static struct st_probe p[NPROBE];
    static struct st_term prev[NPROBE];
    script(keys, ts);
    struct st_store *st = kopen(k);
    uint32_t one = kreg(st, "one-by-one", 11, 10 * DAY, NULL),
             bat = kreg(st, "batched", 12, 10 * DAY, NULL);
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < NPROBE; i++)
        p[i] = (struct st_probe){.rid = bat, .combo = keys[i].ptr, .len = keys[i].len,
                                 .ts = ts[i], .prev = &prev[i], .result = -999};
    /* three calls of different sizes: groups cut at different places */
    CHECK_EQ(st_observe_batch(st, p, 7, NULL), 0);
    CHECK_EQ(st_observe_batch(st, p + 7, 100, NULL), 0);
    CHECK_EQ(st_observe_batch(st, p + 107, NPROBE - 107, NULL), 0);
    int news = 0, forgotten = 0, known = 0;
    for (int i = 0; i < NPROBE; i++) {
        struct st_term t;
        memset(&t, 0x55, sizeof(t));
        int want = st_observe(st, one, keys[i].ptr, keys[i].len, ts[i], &t, NULL);
        CHECK_EQ(p[i].result, want);
        CHECK_EQ(prev[i].first_seen, t.first_seen);
        CHECK_EQ(prev[i].last_seen, t.last_seen);
        CHECK_EQ(prev[i].alerted, t.alerted);
        news += want == ST_SEEN_NEW;
        forgotten += want == ST_SEEN_FORGOTTEN;
        known += want == ST_SEEN_KNOWN;
    }
    if (!(news > 20 && forgotten > 2 && known > 50)) /* the script covers every answer */
        t_fail(__FILE__, __LINE__, "[%s] script: %d new, %d forgotten, %d known", cur->name,
               news, forgotten, known);
    CHECK_EQ(st_watermark(st, bat), st_watermark(st, one));
    ASSERT_OK(st_commit(st, NULL));
    /* lookups: the batched rule's records equal the other's, unknown ones are 0 */
    for (int i = 0; i < NPROBE; i++) {
        p[i].rid = i % 3 ? bat : 4242;
        p[i].result = -999;
    }
    size_t found = st_lookup_batch(st, p, NPROBE), want_found = 0;
    for (int i = 0; i < NPROBE; i++) {
        struct st_term t;
        int w = i % 3 ? st_lookup(st, one, keys[i].ptr, keys[i].len, &t) : 0;
        want_found += (size_t)w;
        CHECK_EQ(p[i].result, w);
        if (w) {
            CHECK_EQ(prev[i].first_seen, t.first_seen);
            CHECK_EQ(prev[i].last_seen, t.last_seen);
        }
    }
    CHECK_EQ(found, want_found);
    /* an error stops the batch at that probe, as the calls one by one would */
    ASSERT_OK(st_begin(st, NULL));
    for (int i = 0; i < 40; i++)
        p[i] = (struct st_probe){.rid = bat, .combo = keys[i].ptr, .len = keys[i].len,
                                 .ts = ts[NPROBE - 1] + 1000 + i, .result = -999};
    p[20].len = 0;
    CHECK_EQ(st_observe_batch(st, p, 40, NULL), KAD_EINVAL);
    CHECK_EQ(p[20].result, KAD_EINVAL);
    CHECK(p[19].result >= 0);
    CHECK_EQ(p[21].result, -999);
    p[20].len = keys[20].len;
    p[30].rid = 4242;
    CHECK_EQ(st_observe_batch(st, p + 20, 20, NULL), KAD_ENOTFOUND);
    CHECK_EQ(p[30].result, KAD_ENOTFOUND);
    CHECK(p[29].result >= 0);
    CHECK_EQ(p[31].result, -999);
    st_rollback(st);
    CHECK_EQ(st_observe_batch(st, p, 1, NULL), KAD_EINVAL); /* no batch */
    st_close(st);
    for (int i = 0; i < NPROBE; i++)
        kx_buf_fini(&keys[i]);
}

TEST(state_ops_batches_answer_as_single_calls) { for_each_kind(b_probe_batches); }

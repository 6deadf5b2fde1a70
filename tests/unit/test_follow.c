/*
 * test_follow.c - kad_follow (include/kad.h, docs/internals/follow.md) through the public API:
 * the test is the log writer and the log rotator, and calls kad_follow_next between its steps,
 * so every interleaving is chosen, not timed. A small table stands in for the engine's committed
 * positions (kad_follow_opts.position), filled from the records handed out as kad_engine_feed
 * would commit them. Checked: each line comes out once, in order, complete; the resume key is
 * the same for a file, its renamed copy, its copytruncate copy and its gzip'ed copy; a restart
 * continues at the recorded positions in whichever file holds the content now.
 * tests/cli/test_follow.sh checks the same through `kadet scan --follow` with a live engine.
 */
#include "kad.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the stand-in for the engine's committed positions -------------------------------------- */

#define KEYS_MAX 64
struct positions {
    char key[KEYS_MAX][128];
    int64_t off[KEYS_MAX], line[KEYS_MAX];
    int n;
};

static int pos_get(void *ud, const char *key, int64_t *off, int64_t *line)
{
    struct positions *p = ud;
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->key[i], key) == 0) {
            *off = p->off[i];
            *line = p->line[i];
            return KAD_OK;
        }
    return KAD_ENOTFOUND;
}

static void pos_set(struct positions *p, const char *key, int64_t off, int64_t line)
{
    int i;
    for (i = 0; i < p->n && strcmp(p->key[i], key) != 0; i++)
        ;
    if (i == p->n) {
        ASSERT(p->n < KEYS_MAX);
        snprintf(p->key[p->n++], sizeof(p->key[0]), "%s", key);
    }
    p->off[i] = off;
    p->line[i] = line;
}

/* ---- files ----------------------------------------------------------------------------------- */

static char dir[64];
static char live[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kadet-follow-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(live, sizeof(live), "%s/audit.log", dir);
}

static void cleanup(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), fmt, a, b);
    ASSERT_EQ(system(cmd), 0);
}

/* Line n: a JSON object longer than a fingerprint's minimum. */
static void append_raw(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

static void append(const char *path, int first, int count)
{
    FILE *f = fopen(path, "a");
    ASSERT_NOT_NULL(f);
    for (int i = first; i < first + count; i++)
        fprintf(f,
                "{\"n\":%d,\"pad\":\"an audit event stands here, long enough to fingerprint\"}\n",
                i);
    fclose(f);
}

/* ---- reading ----------------------------------------------------------------------------------
 */

struct got {
    int n[4096];
    char key[4096][80];
    int count;
};

/* Next record within a generous time (files changed just before are seen by the next call; the
   grace times in these tests are a few ms). -1 when none came. */
static int next_n(kad_follow *f, struct positions *p, struct got *g)
{
    for (int tries = 0; tries < 200; tries++) {
        kad_follow_rec r;
        kad_err err;
        kad_err_clear(&err);
        int rc = kad_follow_next(f, &r, 10, &err);
        ASSERT(rc >= 0);
        if (rc == 0)
            continue;
        int n = -1;
        ASSERT_EQ(sscanf(r.rec.data, "{\"n\":%d", &n), 1);
        ASSERT(r.rec.data[r.rec.len - 1] == '}'); /* complete, newline not included */
        ASSERT(r.read_ms > 0);
        if (p)
            pos_set(p, r.source, (int64_t)(r.rec.offset + r.rec.len), (int64_t)r.rec.line);
        if (g) {
            ASSERT(g->count < 4096);
            g->n[g->count] = n;
            snprintf(g->key[g->count++], sizeof(g->key[0]), "%s", r.source);
        }
        return n;
    }
    return -1;
}

/* Expect records first..first+count-1 in order, then nothing more for now. */
static void expect(kad_follow *f, struct positions *p, struct got *g, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        int n = next_n(f, p, g);
        if (n != i)
            t_fail(__FILE__, __LINE__, "expected record %d, got %d", i, n);
    }
    kad_follow_rec r;
    kad_err err;
    int rc = kad_follow_next(f, &r, 30, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "expected nothing after record %d, got rc %d (%.40s)",
               first + count - 1, rc, rc == 1 ? r.rec.data : "");
}

static kad_follow *open_follow(struct positions *p)
{
    const char *paths[] = {live, NULL};
    kad_follow_opts o = {.position = p ? pos_get : NULL, .ud = p, .rotate_grace_ms = 5};
    kad_follow *f;
    kad_err err;
    ASSERT_OK(kad_follow_open(&f, paths, &o, &err));
    return f;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

TEST(follow_partial_line_and_short_file)
{
    setup();
    kad_follow *f = open_follow(NULL);
    expect(f, NULL, NULL, 0, 0); /* no file yet */
    /* shorter than a fingerprint: not read yet */
    append_raw(live, "{\"n\":0}\n");
    expect(f, NULL, NULL, 0, 0);
    append(live, 1, 2);
    expect(f, NULL, NULL, 0, 3);
    /* a line in two writes: handed out once, complete */
    append_raw(live, "{\"n\":3,\"pad\":\"half a li");
    expect(f, NULL, NULL, 3, 0);
    append_raw(live, "ne, then the rest of it\"}\n");
    expect(f, NULL, NULL, 3, 1);
    /* a line over max_record is skipped with KAD_ELIMIT, the next one comes */
    kad_follow_close(f);
    const char *paths[] = {live, NULL};
    kad_follow_opts o = {.max_record = 100, .rotate_grace_ms = 5};
    ASSERT_OK(kad_follow_open(&f, paths, &o, NULL));
    expect(f, NULL, NULL, 0, 4);
    char big[300];
    memset(big, 'x', sizeof(big));
    snprintf(big, sizeof(big), "{\"n\":4,\"pad\":\"%0250d\"}\n", 0);
    append_raw(live, big);
    append(live, 5, 1);
    kad_follow_rec r;
    kad_err err;
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++)
        rc = kad_follow_next(f, &r, 10, &err);
    ASSERT_EQ(rc, KAD_ELIMIT);
    expect(f, NULL, NULL, 5, 1);
    kad_follow_close(f);
    cleanup();
}

TEST(follow_rename_rotation_keeps_the_key)
{
    setup();
    struct positions p = {.n = 0};
    struct got g = {.count = 0};
    kad_follow *f = open_follow(&p);
    append(live, 0, 10);
    expect(f, &p, &g, 0, 10);
    /* logrotate: renamed, a late write to the old file, then a new file */
    char r1[160];
    snprintf(r1, sizeof(r1), "%s.1", live);
    ASSERT_OK(rename(live, r1));
    append(r1, 10, 5);
    append(live, 15, 5);
    expect(f, &p, &g, 10, 10);
    for (int i = 1; i < 15; i++)
        ASSERT_STR_EQ(g.key[i], g.key[0]); /* renamed: the same content key */
    ASSERT(strcmp(g.key[15], g.key[0]) != 0);
    /* kube-apiserver naming, gzip'ed at once */
    char kb[200];
    snprintf(kb, sizeof(kb), "%s/audit-2026-12-07T16-27-44.123.log", dir);
    append(live, 20, 5);
    ASSERT_OK(rename(live, kb));
    sh("gzip '%s'%s", kb, "");
    append(live, 25, 5);
    expect(f, &p, &g, 20, 10);
    kad_follow_stats st;
    kad_follow_stats_get(f, &st);
    ASSERT_EQ(st.rotations, 2);
    ASSERT_EQ(st.records, 30);
    kad_follow_close(f);
    cleanup();
}

TEST(follow_copytruncate_finishes_the_gzip_copy)
{
    setup();
    struct positions p = {.n = 0};
    struct got g = {.count = 0};
    kad_follow *f = open_follow(&p);
    append(live, 0, 10);
    expect(f, &p, &g, 0, 10);
    append(live, 10, 5); /* not read yet when the copy is made */
    /* copytruncate with compress: the copy exists only as .1.gz when the follower looks */
    sh("cp '%s' '%s.1'", live, live);
    sh("gzip '%s.1'%s", live, "");
    ASSERT_OK(truncate(live, 0));
    append(live, 15, 30); /* more bytes than before the truncation */
    expect(f, &p, &g, 10, 35);
    for (int i = 0; i < 15; i++)
        ASSERT_STR_EQ(g.key[i], g.key[0]); /* the .gz copy carries the live file's key */
    ASSERT(strcmp(g.key[15], g.key[0]) != 0);
    kad_follow_stats st;
    kad_follow_stats_get(f, &st);
    ASSERT_EQ(st.truncations, 1);
    ASSERT_EQ(st.copies, 1);
    ASSERT_EQ(st.lost, 0);
    kad_follow_close(f);
    cleanup();
}

TEST(follow_truncation_without_copy_is_counted)
{
    setup();
    kad_follow *f = open_follow(NULL);
    append(live, 0, 10);
    expect(f, NULL, NULL, 0, 10);
    ASSERT_OK(truncate(live, 0));
    append(live, 10, 3);
    expect(f, NULL, NULL, 10, 3);
    kad_follow_stats st;
    kad_follow_stats_get(f, &st);
    ASSERT_EQ(st.truncations, 1);
    ASSERT_EQ(st.lost, 1);
    kad_follow_close(f);
    cleanup();
}

TEST(follow_restart_resumes_where_the_content_is)
{
    setup();
    struct positions p = {.n = 0};
    kad_follow *f = open_follow(&p);
    append(live, 0, 10);
    expect(f, &p, NULL, 0, 10);
    append(live, 10, 6);
    ASSERT_EQ(next_n(f, &p, NULL), 10); /* then "killed": 11..15 were not handed out */
    kad_follow_close(f);
    /* while down: renamed (kube-apiserver), gzip'ed, a new file rotated too, a third live */
    char a[200], b[200];
    snprintf(a, sizeof(a), "%s/audit-2026-12-07T10-00-00.000.log", dir);
    snprintf(b, sizeof(b), "%s/audit-2026-12-07T11-00-00.000.log", dir);
    ASSERT_OK(rename(live, a));
    sh("gzip '%s'%s", a, "");
    append(live, 16, 4);
    ASSERT_OK(rename(live, b));
    append(live, 20, 3);
    f = open_follow(&p);
    expect(f, &p, NULL, 11, 12);
    kad_follow_close(f);
    /* a restart with nothing new reads nothing; one after a copytruncate finishes the copy */
    f = open_follow(&p);
    expect(f, &p, NULL, 0, 0);
    kad_follow_close(f);
    append(live, 23, 2);
    sh("cp '%s' '%s.1'", live, live);
    ASSERT_OK(truncate(live, 0));
    append(live, 25, 2);
    f = open_follow(&p);
    expect(f, &p, NULL, 23, 4);
    kad_follow_close(f);
    /* without any known position: rotated files are left alone, the live file read whole */
    f = open_follow(NULL);
    expect(f, NULL, NULL, 25, 2);
    kad_follow_close(f);
    cleanup();
}

TEST(follow_interrupt_and_bad_paths)
{
    setup();
    kad_follow *f = open_follow(NULL);
    kad_follow_interrupt(f);
    kad_follow_rec r;
    ASSERT_EQ(kad_follow_next(f, &r, -1, NULL), 0); /* returns instead of waiting forever */
    kad_follow_close(f);
    const char *none[] = {NULL};
    kad_err err;
    ASSERT_EQ(kad_follow_open(&f, none, NULL, &err), KAD_EINVAL);
    const char *dirpath[] = {"/tmp/", NULL};
    ASSERT_EQ(kad_follow_open(&f, dirpath, NULL, &err), KAD_EINVAL);
    cleanup();
}

/* The engine side: records of two sources interleaved in one batch commit both positions, and
   another handle on the same state (a follower thread's) reads them once committed. */
TEST(follow_engine_commits_every_source_of_a_batch)
{
    setup();
    static const char rules[] =
        "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n"
        "updated_date = \"2026/01/01\"\n\n[rule]\nauthor = [\"kadet tests\"]\n"
        "description = \"d\"\nlanguage = \"kuery\"\nname = \"n\"\nrisk_score = 21\n"
        "rule_id = \"follow-q\"\nseverity = \"low\"\ntype = \"query\"\n"
        "query = 'kubernetes.audit.verb:\"delete\"'\n";
    kad_rules *rs = kad_rules_new();
    ASSERT_OK(kad_rules_load_text(rs, "follow.toml", rules, sizeof(rules) - 1, NULL));
    char db[160];
    snprintf(db, sizeof(db), "%s/state.db", dir);
    kad_state *st, *ro;
    kad_state_opts so = {.mode = KAD_STATE_RW};
    ASSERT_OK(kad_state_open(&st, db, &so, NULL));
    kad_engine_opts eo = {.rules = rs, .state = st, .output_fd = -1, .batch = 1000};
    eo.decode.no_host = 1;
    kad_engine *e;
    ASSERT_OK(kad_engine_new(&e, &eo, NULL));
    static const char ev[] = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":"
                             "\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"get\"}";
    kad_record r = {.data = ev, .len = sizeof(ev) - 1, .origin = "t", .line = 1, .col = 1};
    r.offset = 0;
    ASSERT_OK(kad_engine_feed_at(e, "fp:a", &r, 1000, NULL));
    r.offset = 100;
    ASSERT_OK(kad_engine_feed_at(e, "fp:b", &r, KAD_TIME_NONE, NULL));
    r.offset = 200;
    r.line = 3;
    ASSERT_OK(kad_engine_feed_at(e, "fp:a", &r, KAD_TIME_NONE, NULL));
    r.offset = 300;
    r.line = 2;
    ASSERT_OK(kad_engine_feed_at(e, "fp:b", &r, KAD_TIME_NONE, NULL));
    int64_t off, line;
    ASSERT_OK(kad_engine_position(e, "fp:b", &off, &line, NULL)); /* the open batch's */
    ASSERT_EQ(off, 300 + (int64_t)r.len);
    ASSERT_OK(kad_engine_commit(e, NULL));
    kad_state_opts ros = {.mode = KAD_STATE_RO};
    ASSERT_OK(kad_state_open(&ro, db, &ros, NULL));
    ASSERT_OK(kad_state_position(ro, "fp:a", &off, &line, NULL));
    ASSERT_EQ(off, 200 + (int64_t)r.len);
    ASSERT_EQ(line, 3);
    ASSERT_OK(kad_state_position(ro, "fp:b", &off, &line, NULL));
    ASSERT_EQ(off, 300 + (int64_t)r.len);
    ASSERT_EQ(kad_state_position(ro, "fp:c", &off, &line, NULL), KAD_ENOTFOUND);
    kad_state_close(ro);
    kad_engine_free(e);
    kad_state_close(st);
    kad_rules_unref(rs);
    cleanup();
}

/*
 * srv_follow.c - the file source (docs/internals/serve.md "Sources"): one thread follows every
 * --follow path with kad_follow and hands copies of its records (a record is valid only until
 * the next kad_follow_next) to the detection thread through a bounded queue; when the queue is
 * full the follow thread waits (backpressure: the files are the buffer). The detection thread
 * feeds each with kad_engine_feed_at under the record's resume key, so a file's position is
 * committed with the batch that ran its records. The follower learns committed positions (at
 * start and for content it meets after a rotation) from a read-only kad_state handle of its own,
 * never from the engine, which is the detection thread's alone and is replaced by reloads.
 *
 * SIGTERM: srv_follow_stop interrupts the follower and joins its thread; records still queued
 * are run by the detection thread's drain; a record dropped by the stopping follower was never
 * fed, so its position is not committed and it is read at the next start.
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#define FQ_MAX_RECS 4096
#define FQ_MAX_BYTES ((size_t)64 << 20)

struct fq_item {
    char *data; /* data, then origin and source, NUL-separated, one allocation */
    size_t len;
    const char *origin, *source;
    uint64_t line, offset;
    int64_t read_ms;
};

struct srv_follow {
    struct srv *s;
    kad_follow *f;
    kad_state *ro; /* the follower's own read-only handle on the state */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t space;
    struct fq_item q[FQ_MAX_RECS];
    size_t head, n, bytes;
    bool stop, exited;
    kad_follow_stats stats; /* copied by the follow thread (kad_follow is one-thread) */
    uint64_t errors;
};

static int ro_position(void *ud, const char *key, int64_t *offset, int64_t *line)
{
    struct srv_follow *fw = ud;
    return kad_state_position(fw->ro, key, offset, line, NULL);
}

static bool push(struct srv_follow *fw, const kad_follow_rec *r)
{
    const char *origin = r->rec.origin ? r->rec.origin : "";
    size_t ol = strlen(origin), sl = strlen(r->source);
    char *buf = malloc(r->rec.len + 1 + ol + 1 + sl + 1);
    if (!buf)
        return false;
    memcpy(buf, r->rec.data, r->rec.len);
    buf[r->rec.len] = '\0';
    memcpy(buf + r->rec.len + 1, origin, ol + 1);
    memcpy(buf + r->rec.len + 1 + ol + 1, r->source, sl + 1);
    struct fq_item it = {.data = buf,
                         .len = r->rec.len,
                         .origin = buf + r->rec.len + 1,
                         .source = buf + r->rec.len + 1 + ol + 1,
                         .line = r->rec.line,
                         .offset = r->rec.offset,
                         .read_ms = r->read_ms};
    pthread_mutex_lock(&fw->mu);
    while (!fw->stop && (fw->n == FQ_MAX_RECS || (fw->n && fw->bytes + it.len > FQ_MAX_BYTES)))
        pthread_cond_wait(&fw->space, &fw->mu);
    if (fw->stop) { /* never fed: read again at the next start */
        pthread_mutex_unlock(&fw->mu);
        free(buf);
        return false;
    }
    fw->q[(fw->head + fw->n) % FQ_MAX_RECS] = it;
    fw->n++;
    fw->bytes += it.len;
    pthread_mutex_unlock(&fw->mu);
    srv_spool_wake(fw->s->spool); /* the detection thread may wait for the spool */
    return true;
}

static void *follow_main(void *arg)
{
    prctl(PR_SET_NAME, "kadet-follow", 0, 0, 0); /* per-thread CPU in top, perf, bench/serve.sh */
    struct srv_follow *fw = arg;
    for (;;) {
        pthread_mutex_lock(&fw->mu);
        bool stop = fw->stop;
        pthread_mutex_unlock(&fw->mu);
        if (stop)
            break;
        kad_follow_rec r;
        kad_err err;
        kad_err_clear(&err);
        int rc = kad_follow_next(fw->f, &r, 500, &err);
        if (rc == 1)
            push(fw, &r);
        else if (rc < 0) {
            char line[1024];
            kad_err_format(&err, line, sizeof(line));
            srv_log(KAD_LOG_WARN, "follow: %s", line);
        }
        kad_follow_stats st;
        kad_follow_stats_get(fw->f, &st);
        pthread_mutex_lock(&fw->mu);
        fw->stats = st;
        if (rc < 0)
            fw->errors++;
        pthread_mutex_unlock(&fw->mu);
    }
    pthread_mutex_lock(&fw->mu);
    fw->exited = true;
    pthread_mutex_unlock(&fw->mu);
    srv_spool_wake(fw->s->spool);
    return NULL;
}

/* A follower on paths, its thread started. */
static int follow_new(struct srv *s, const char *const *paths_in, size_t n, struct srv_follow **out,
                      kad_err *err)
{
    *out = NULL;
    struct srv_follow *fw = calloc(1, sizeof(*fw));
    if (!fw) {
        err->code = KAD_ENOMEM;
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return KAD_ENOMEM;
    }
    fw->s = s;
    pthread_mutex_init(&fw->mu, NULL);
    pthread_cond_init(&fw->space, NULL);
    kad_state_opts so = {.mode = KAD_STATE_RO, .init = 0};
    int rc = kad_state_open(&fw->ro, s->cfg.state, &so, err);
    const char *paths[SRV_MAX_PATHS + 1];
    for (size_t i = 0; i < n && i < SRV_MAX_PATHS; i++)
        paths[i] = paths_in[i];
    paths[n < SRV_MAX_PATHS ? n : SRV_MAX_PATHS] = NULL;
    kad_follow_opts fo = {.position = ro_position, .ud = fw, .max_record = s->cfg.max_record};
    if (rc == KAD_OK)
        rc = kad_follow_open(&fw->f, paths, &fo, err);
    if (rc == KAD_OK && pthread_create(&fw->thread, NULL, follow_main, fw) != 0) {
        err->code = rc = KAD_ENOMEM;
        snprintf(err->msg, sizeof(err->msg), "cannot start the follow thread");
    }
    if (rc != KAD_OK) {
        if (fw->f)
            kad_follow_close(fw->f);
        if (fw->ro)
            kad_state_close(fw->ro);
        pthread_mutex_destroy(&fw->mu);
        pthread_cond_destroy(&fw->space);
        free(fw);
        return rc;
    }
    fw->started = true;
    *out = fw;
    return KAD_OK;
}

int srv_follow_start(struct srv *s, kad_err *err)
{
    if (!s->cfg.nfollow)
        return KAD_OK;
    return follow_new(s, (const char *const *)s->cfg.follow, s->cfg.nfollow, &s->follow, err);
}

int srv_follow_pop(struct srv *s, struct srv_follow_rec *out)
{
    struct srv_follow *fw = s->follow;
    if (!fw)
        return 0;
    pthread_mutex_lock(&fw->mu);
    if (!fw->n) {
        pthread_mutex_unlock(&fw->mu);
        return 0;
    }
    struct fq_item it = fw->q[fw->head];
    fw->head = (fw->head + 1) % FQ_MAX_RECS;
    fw->n--;
    fw->bytes -= it.len;
    pthread_cond_signal(&fw->space);
    pthread_mutex_unlock(&fw->mu);
    free(out->buf);
    out->buf = it.data;
    out->rec = (kad_record){.data = it.data,
                            .len = it.len,
                            .origin = it.origin,
                            .line = it.line,
                            .col = 0,
                            .offset = it.offset};
    out->source = it.source;
    out->read_ms = it.read_ms;
    return 1;
}

bool srv_follow_idle(struct srv *s)
{
    struct srv_follow *fw = s->follow;
    if (!fw)
        return true;
    pthread_mutex_lock(&fw->mu);
    bool idle = fw->exited && fw->n == 0;
    pthread_mutex_unlock(&fw->mu);
    return idle;
}

static void srv_follow_stop_fw(struct srv_follow *fw)
{
    if (!fw || !fw->started)
        return;
    pthread_mutex_lock(&fw->mu);
    fw->stop = true;
    pthread_cond_broadcast(&fw->space);
    pthread_mutex_unlock(&fw->mu);
    kad_follow_interrupt(fw->f);
    pthread_join(fw->thread, NULL);
    fw->started = false;
}

void srv_follow_stop(struct srv *s) { srv_follow_stop_fw(s->follow); }

static void follow_destroy(struct srv_follow *fw)
{
    for (size_t i = 0; i < fw->n; i++)
        free(fw->q[(fw->head + i) % FQ_MAX_RECS].data);
    kad_follow_close(fw->f);
    kad_state_close(fw->ro);
    pthread_mutex_destroy(&fw->mu);
    pthread_cond_destroy(&fw->space);
    free(fw);
}

void srv_follow_free(struct srv *s)
{
    struct srv_follow *fw = s->follow;
    if (!fw)
        return;
    srv_follow_stop(s);
    pthread_mutex_lock(&s->src_mu);
    s->follow = NULL;
    pthread_mutex_unlock(&s->src_mu);
    follow_destroy(fw);
}

int srv_follow_replace(struct srv *s, const char *const *paths, size_t n, kad_err *err)
{
    struct srv_follow *nf = NULL;
    if (n) {
        int rc = follow_new(s, paths, n, &nf, err);
        if (rc != KAD_OK)
            return rc;
    }
    pthread_mutex_lock(&s->src_mu);
    struct srv_follow *old = s->follow;
    s->follow = nf;
    pthread_mutex_unlock(&s->src_mu);
    if (old) {
        srv_follow_stop_fw(old);
        follow_destroy(old);
    }
    return KAD_OK;
}

void srv_follow_metrics(struct srv *s, kad_follow_stats *st, uint64_t *queued, uint64_t *errors)
{
    struct srv_follow *fw = s->follow;
    pthread_mutex_lock(&fw->mu);
    *st = fw->stats;
    *queued = fw->n;
    *errors = fw->errors;
    pthread_mutex_unlock(&fw->mu);
}

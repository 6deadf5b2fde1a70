/*
 * out_mgr.c - the outputs and their delivery thread: per-output cursors over the outbox,
 * batches, retries with exponential backoff and jitter, the dead-letter file, metrics.
 * docs/internals/outputs.md.
 */
#include "output/out_int.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/log.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The delivery threads' nice value. */
#define OUT_WORKER_NICE 10

struct output {
    struct out_spec spec;
    struct out_conn *conn;
    int64_t cursor;
    int attempts;         /* failed attempts of the batch at the cursor */
    int64_t next_try;     /* monotonic ms; 0 = now */
    bool hold;            /* next_try is a flush= wait (a full batch goes at once), not a backoff */
    int64_t pub_cursor;   /* cursor, under mgr.mu (for out_mgr_drain and pruning) */
    struct out_metrics m; /* under mgr.mu */
    int64_t oldest_ms;    /* wall ms of the oldest pending alert, under mgr.mu (0 = none) */
    uint64_t saved[4];    /* delivered, retried, failed, filtered as persisted (worker only) */
    /* the output's delivery thread and what only it uses */
    struct out_mgr *mgr;
    pthread_t th;
    bool started;
    bool notified; /* under mgr.mu */
    unsigned seed;
    struct out_box *wb; /* its own outbox connection */
    kx_arena ar;        /* the batch being delivered */
    struct out_alert *batch;
    struct out_item_result *res;
    /* the output reads the alert's fields (Slack, syslog, filters); else it sends the document
       as is with the outbox row's id, and the delivery thread does not read it at all */
    bool parse;
};

struct out_mgr {
    struct out_box *prod; /* the producer's connection */
    struct output *o;
    size_t n;
    char *dead_letter;
    char hostname[256];
    int poll_ms;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t moved; /* a worker finished a pass (out_mgr_drain waits on it) */
    bool stop;
    bool draining; /* out_mgr_drain waits: send partial batches at once (flush=) */
    atomic_bool abort; /* out_mgr_free: give up HTTP requests in flight */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_REALTIME time `ms` from now (pthread_cond_timedwait's deadline). */
static struct timespec in_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    return ts;
}

int out_mgr_new(struct out_mgr **out, const struct out_opts *opts, const struct out_spec *specs,
                size_t n, kad_err *err)
{
    *out = NULL;
    if (n > OUT_MAX_OUTPUTS)
        return kx_err_setf(err, KAD_ELIMIT, "%zu outputs (at most %d)", n, OUT_MAX_OUTPUTS);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[i].name, specs[j].name) == 0)
                return kx_err_setf(err, KAD_EINVAL,
                                   "two outputs named '%s': give one a name= option",
                                   specs[i].name);
    struct out_mgr *m = kx_calloc(1, sizeof(*m));
    atomic_init(&m->abort, false);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    pthread_cond_init(&m->moved, NULL);
    m->poll_ms = opts->poll_ms > 0 ? opts->poll_ms : 0;
    if (opts->hostname)
        snprintf(m->hostname, sizeof(m->hostname), "%s", opts->hostname);
    else if (gethostname(m->hostname, sizeof(m->hostname) - 1) != 0)
        snprintf(m->hostname, sizeof(m->hostname), "-");
    if (opts->dead_letter) {
        m->dead_letter = kx_strdup(opts->dead_letter);
    } else {
        size_t l = strlen(opts->outbox_path) + 8;
        m->dead_letter = kx_malloc(l);
        snprintf(m->dead_letter, l, "%s.dead", opts->outbox_path);
    }
    int rc = box_open(&m->prod, opts->outbox_path, err);
    /* the producer never checkpoints the WAL (the engine's commit would wait for the copy and
       its fsyncs); the delivery threads' connections do, after their cursor writes */
    if (!rc)
        sqlite3_wal_autocheckpoint(m->prod->db, 0);
    m->o = kx_calloc(n ? n : 1, sizeof(*m->o));
    m->n = n;
    /* every output's cursor (a new one at the end of the outbox) in one transaction of the
       producer's connection, before its first batch */
    bool txn = !rc && n && sqlite3_exec(m->prod->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = box_cursor(m->prod, specs[i].name, &m->o[i].cursor, err);
    if (txn && sqlite3_exec(m->prod->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK &&
        !rc)
        rc = kx_err_setf(err, KAD_ESTATE, "outbox %s: cannot register the outputs: %s",
                         opts->outbox_path, sqlite3_errmsg(m->prod->db));
    for (size_t i = 0; i < n && !rc; i++) {
        struct output *o = &m->o[i];
        out_spec_copy(&o->spec, &specs[i]);
        o->m.name = o->spec.name;
        o->conn = conn_new(&o->spec, m->hostname);
        conn_set_abort(o->conn, &m->abort);
        o->mgr = m;
        o->parse = o->spec.type == OUT_SLACK || o->spec.type == OUT_SYSLOG ||
                   o->spec.min_severity > 0 || o->spec.nrules > 0 || o->spec.ntags > 0;
        o->seed = (unsigned)getpid() ^ (unsigned)mono_ms() ^ (unsigned)i * 2654435761u;
        kx_arena_init(&o->ar, 1 << 20, 0);
        o->batch = kx_calloc((size_t)o->spec.batch_count, sizeof(*o->batch));
        o->res = kx_calloc((size_t)o->spec.batch_count, sizeof(*o->res));
        rc = box_attach(&o->wb, opts->outbox_path, err);
        o->pub_cursor = o->cursor;
    }
    if (rc) {
        out_mgr_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

struct out_box *out_mgr_box(struct out_mgr *m) { return m->prod; }

/* ---- dead letters ------------------------------------------------------------------------- */

static void dead_letter(struct out_mgr *m, struct output *o, const char *json, size_t len,
                        const char *reason)
{
    const char *path = o->spec.dead_letter ? o->spec.dead_letter : m->dead_letter;
    kx_buf b;
    kx_buf_init(&b, OUT_ALERT_MAX + 4096);
    kx_jsonw w;
    kx_jsonw_init(&w, &b);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "output");
    kx_jsonw_strc(&w, o->spec.name);
    kx_jsonw_keyc(&w, "time_ms");
    kx_jsonw_int(&w, out_now_ms());
    kx_jsonw_keyc(&w, "reason");
    kx_jsonw_strc(&w, reason);
    kx_jsonw_keyc(&w, "alert");
    kx_jsonw_raw(&w, json, len);
    kx_jsonw_obj_end(&w);
    kx_buf_addc(&b, '\n');
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || kx_buf_error(&b) || write(fd, b.ptr, b.len) != (ssize_t)b.len)
        kx_log(KX_LOG_ERROR, "output %s: cannot write the dead-letter file %s: %s", o->spec.name,
               path, fd < 0 ? strerror(errno) : "short write");
    else
        kx_log(KX_LOG_WARN, "output %s: alert dead-lettered to %s: %s", o->spec.name, path, reason);
    if (fd >= 0)
        close(fd);
    kx_buf_fini(&b);
    pthread_mutex_lock(&m->mu);
    o->m.failed++;
    snprintf(o->m.last_error, sizeof(o->m.last_error), "%s", reason);
    pthread_mutex_unlock(&m->mu);
}

/* ---- one step of one output --------------------------------------------------------------- */

struct load {
    struct out_mgr *m;
    struct output *o;
    int n;
    int64_t last_seq;      /* last row read, passing or not */
    int64_t first_created; /* wall ms the first passing alert was appended */
};

static bool load_row(int64_t seq, int64_t created, const char *id, const char *json, size_t len,
                     void *ud)
{
    struct load *l = ud;
    struct out_mgr *m = l->m;
    if (atomic_load(&m->abort))
        return false; /* out_mgr_free waits: stop reading (step sends nothing) */
    struct out_alert *a = &l->o->batch[l->n];
    kad_err e = {0};
    if (!json) { /* its segment file was removed or cut short by hand */
        char why[300];
        snprintf(why, sizeof(why), "alert %.100s: its document is missing from the outbox", id);
        dead_letter(m, l->o, "null", 4, why);
        l->last_seq = seq;
        return true;
    }
    bool take = true;
    if (!l->o->parse) { /* the document as is: nothing of it is read (output.parse) */
        memset(a, 0, sizeof(*a));
        a->len = len;
        if (l->o->wb->rows_stable) { /* valid until the next box_rows: no copy */
            a->json = json;
            a->id = id;
        } else {
            a->json = kx_arena_memdup(&l->o->ar, json, len + 1);
            a->id = kx_arena_memdup(&l->o->ar, id, strlen(id) + 1);
        }
    } else if (out_alert_parse(a, &l->o->ar, kx_arena_memdup(&l->o->ar, json, len + 1), len,
                               &e)) {
        dead_letter(m, l->o, json, len, e.msg); /* cannot happen for what the engine writes */
        take = false;
    } else if (!out_filter_pass(&l->o->spec, a)) {
        pthread_mutex_lock(&m->mu);
        l->o->m.filtered++;
        pthread_mutex_unlock(&m->mu);
        take = false;
    }
    if (take) {
        a->seq = seq;
        if (!l->n)
            l->first_created = created;
        l->n++;
    }
    l->last_seq = seq;
    return l->n < l->o->spec.batch_count;
}

int64_t out_backoff_ms(const struct out_spec *s, int attempts, unsigned *seed)
{
    int64_t d = s->backoff_ms;
    for (int i = 1; i < attempts && d < s->backoff_max_ms; i++)
        d *= 2;
    if (d > s->backoff_max_ms)
        d = s->backoff_max_ms;
    /* jitter: uniformly in [d/2, d] */
    return d / 2 + (int64_t)(rand_r(seed) % (unsigned)(d / 2 + 1));
}

/* Deliver the next batch of one output; true when the cursor moved. */
static bool step(struct out_mgr *m, struct output *o)
{
    if (o->next_try && !o->hold && mono_ms() < o->next_try)
        return false;
    o->hold = false;
    kx_arena_reset(&o->ar);
    struct load l = {m, o, 0, o->cursor, 0};
    kad_err e = {0};
    if (box_rows(o->wb, o->cursor, o->spec.batch_count * 4, o->spec.batch_bytes, load_row, &l,
                 &e)) {
        kx_log(KX_LOG_ERROR, "output %s: %s", o->spec.name, e.msg);
        return false;
    }
    if (l.last_seq == o->cursor || atomic_load(&m->abort))
        return false; /* nothing pending, or out_mgr_free waits for this thread */
    int64_t new_cursor = l.last_seq;
    if (l.n > 0 && l.n < o->spec.batch_count && o->spec.batch_ms > 0) {
        /* flush=: wait up to batch_ms after the first alert for a fuller batch */
        int64_t left = l.first_created + o->spec.batch_ms - out_now_ms();
        pthread_mutex_lock(&m->mu);
        bool draining = m->draining;
        pthread_mutex_unlock(&m->mu);
        if (left > 0 && !draining) {
            o->next_try = mono_ms() + left;
            o->hold = true;
            return false;
        }
    }
    if (l.n > 0) {
        bool permanent = false;
        int rc = conn_send(o->conn, o->batch, (size_t)l.n, o->res, &permanent, &e);
        if (rc && atomic_load(&m->abort))
            return false; /* aborted by out_mgr_free: not an attempt (sent again next run) */
        o->attempts++;
        bool give_up = permanent || o->attempts >= o->spec.max_attempts;
        if (rc && !give_up) {
            pthread_mutex_lock(&m->mu);
            o->m.retried++;
            snprintf(o->m.last_error, sizeof(o->m.last_error), "%s", e.msg);
            pthread_mutex_unlock(&m->mu);
            o->next_try = mono_ms() + out_backoff_ms(&o->spec, o->attempts, &o->seed);
            return false;
        }
        uint64_t delivered = 0;
        for (int i = 0; i < l.n; i++) {
            struct out_item_result *r = &o->res[i];
            if (rc) {
                char why[300];
                snprintf(why, sizeof(why), "%s after %d attempt%s", e.msg, o->attempts,
                         o->attempts == 1 ? "" : "s");
                dead_letter(m, o, o->batch[i].json, o->batch[i].len, why);
            } else if (r->v == OUT_V_DONE) {
                delivered++;
            } else if (r->v == OUT_V_DEAD || give_up) {
                dead_letter(m, o, o->batch[i].json, o->batch[i].len, r->reason);
            } else { /* RETRY: this one and what follows are sent again */
                new_cursor = o->batch[i].seq - 1;
                pthread_mutex_lock(&m->mu);
                o->m.retried++;
                o->m.delivered += delivered;
                snprintf(o->m.last_error, sizeof(o->m.last_error), "%s", r->reason);
                pthread_mutex_unlock(&m->mu);
                delivered = 0;
                o->next_try = mono_ms() + out_backoff_ms(&o->spec, o->attempts, &o->seed);
                break;
            }
        }
        pthread_mutex_lock(&m->mu);
        o->m.delivered += delivered;
        pthread_mutex_unlock(&m->mu);
        if (new_cursor == l.last_seq) {
            o->attempts = 0;
            o->next_try = 0;
        }
    }
    if (new_cursor != o->cursor) {
        if (box_cursor_set(o->wb, o->spec.name, new_cursor, &e)) {
            kx_log(KX_LOG_ERROR, "output %s: %s", o->spec.name, e.msg);
            return false;
        }
        o->cursor = new_cursor;
        pthread_mutex_lock(&m->mu);
        o->pub_cursor = new_cursor;
        pthread_mutex_unlock(&m->mu);
        return true;
    }
    return false;
}

static void update_metrics(struct output *o)
{
    struct out_mgr *m = o->mgr;
    int64_t count = 0, oldest = 0;
    box_pending(o->wb, o->cursor, &count, &oldest);
    pthread_mutex_lock(&m->mu);
    o->m.queue_depth = count;
    o->oldest_ms = count ? oldest : 0; /* its age is computed when read (out_mgr_metrics) */
    pthread_cond_broadcast(&m->moved);
    pthread_mutex_unlock(&m->mu);
}

static bool stopping(struct out_mgr *m)
{
    pthread_mutex_lock(&m->mu);
    bool stop = m->stop;
    pthread_mutex_unlock(&m->mu);
    return stop;
}

/* Delete rows every output has passed (and that are old enough: box_prune). */
static void prune(struct output *o)
{
    struct out_mgr *m = o->mgr;
    pthread_mutex_lock(&m->mu);
    int64_t lo = o->pub_cursor;
    for (size_t i = 0; i < m->n; i++)
        lo = m->o[i].pub_cursor < lo ? m->o[i].pub_cursor : lo;
    pthread_mutex_unlock(&m->mu);
    kad_err e = {0};
    if (box_prune(o->wb, lo, &e))
        kx_log(KX_LOG_WARN, "outbox: %s", e.msg);
}

/* Add what the counters gained since the last call to the outbox's totals (state stats). */
static void persist_counts(struct output *o)
{
    struct out_mgr *m = o->mgr;
    pthread_mutex_lock(&m->mu);
    uint64_t now[4] = {o->m.delivered, o->m.retried, o->m.failed, o->m.filtered};
    pthread_mutex_unlock(&m->mu);
    int64_t d[4];
    bool any = false;
    for (int i = 0; i < 4; i++) {
        d[i] = (int64_t)(now[i] - o->saved[i]);
        any |= d[i] != 0;
    }
    kad_err e = {0};
    if (!any)
        return;
    if (box_count(o->wb, o->spec.name, d, &e)) {
        kx_log(KX_LOG_WARN, "output %s: %s", o->spec.name, e.msg);
        return;
    }
    memcpy(o->saved, now, sizeof(now));
}

/* One thread per output: a slow or failing output never delays another. */
static void *worker(void *ud)
{
    struct output *o = ud;
    struct out_mgr *m = o->mgr;
    uint64_t passes = 0;
    /* detection first: this thread formats, sends and waits; on a busy machine it runs when
       the engine's thread does not need the CPU (Linux: a thread's own nice value) */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && nice_now < OUT_WORKER_NICE)
        setpriority(PRIO_PROCESS, tid, OUT_WORKER_NICE);
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        o->notified = false;
        pthread_mutex_unlock(&m->mu);
        bool moved = false;
        while (!stopping(m) && step(m, o)) {
            moved = true;
            persist_counts(o);
        }
        persist_counts(o);
        if (atomic_load(&m->abort))
            return NULL; /* out_mgr_free waits: no pruning, no metrics (on a busy machine this
                      thread, at nice 10, runs seldom, and the exit would wait for it) */
        if (moved && ++passes % 16 == 1)
            prune(o);
        update_metrics(o);
        /* sleep until notified, or until the retry (flush=) time; no polling unless asked */
        bool timed = m->poll_ms > 0;
        int64_t wait = m->poll_ms, now = mono_ms();
        if (o->next_try && (!timed || o->next_try - now < wait)) {
            wait = o->next_try - now;
            timed = true;
        }
        pthread_mutex_lock(&m->mu);
        if (!m->stop && !o->notified && !timed) {
            pthread_cond_wait(&m->wake, &m->mu);
        } else if (!m->stop && !o->notified && wait > 0) {
            struct timespec ts = in_ms(wait);
            pthread_cond_timedwait(&m->wake, &m->mu, &ts);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int out_mgr_start(struct out_mgr *m, kad_err *err)
{
    if (m->running)
        return 0;
    m->running = true;
    for (size_t i = 0; i < m->n; i++) {
        int e = pthread_create(&m->o[i].th, NULL, worker, &m->o[i]);
        if (e)
            return kx_err_setf(err, KAD_EIO, "cannot start the delivery thread of %s: %s",
                               m->o[i].spec.name, strerror(e));
        m->o[i].started = true;
    }
    return 0;
}

static void notify_locked(struct out_mgr *m)
{
    for (size_t i = 0; i < m->n; i++)
        m->o[i].notified = true;
    pthread_cond_broadcast(&m->wake);
}

void out_mgr_notify(struct out_mgr *m)
{
    pthread_mutex_lock(&m->mu);
    notify_locked(m);
    pthread_mutex_unlock(&m->mu);
}

int64_t out_mgr_drain(struct out_mgr *m, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms, pending = 0;
    pthread_mutex_lock(&m->mu);
    m->draining = true;
    notify_locked(m);
    for (;;) {
        /* counted here, on the producer's connection (drain is the producer's call): the
           workers' metrics are stale while a request is in flight */
        pending = 0;
        for (size_t i = 0; i < m->n; i++) {
            int64_t count = 0, oldest;
            box_pending(m->prod, m->o[i].pub_cursor, &count, &oldest);
            pending += count;
        }
        int64_t left = deadline - mono_ms();
        if (!m->running || pending == 0 || left <= 0)
            break;
        /* until a worker finishes a pass (or the deadline): no polling */
        struct timespec ts = in_ms(left);
        pthread_cond_timedwait(&m->moved, &m->mu, &ts);
    }
    m->draining = false;
    pthread_mutex_unlock(&m->mu);
    return pending;
}

size_t out_mgr_metrics(struct out_mgr *m, struct out_metrics *out, size_t n)
{
    int64_t now = out_now_ms();
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n && i < m->n; i++) {
        out[i] = m->o[i].m;
        out[i].oldest_age_ms = m->o[i].oldest_ms ? now - m->o[i].oldest_ms : 0;
    }
    pthread_mutex_unlock(&m->mu);
    return m->n;
}

void out_mgr_free(struct out_mgr *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    atomic_store(&m->abort, true); /* a request in flight is aborted (sent again next run) */
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < m->n; i++)
        if (m->o[i].conn)
            conn_abort(m->o[i].conn);
    for (size_t i = 0; i < m->n; i++)
        if (m->o[i].started)
            pthread_join(m->o[i].th, NULL);
    for (size_t i = 0; i < m->n; i++) {
        struct output *o = &m->o[i];
        if (o->mgr) { /* set up */
            out_box_close(o->wb);
            kx_free(o->batch);
            kx_free(o->res);
            kx_arena_fini(&o->ar);
        }
        conn_free(o->conn);
        out_spec_fini(&o->spec);
    }
    kx_free(m->o);
    out_box_close(m->prod);
    kx_free(m->dead_letter);
    pthread_cond_destroy(&m->wake);
    pthread_cond_destroy(&m->moved);
    pthread_mutex_destroy(&m->mu);
    kx_free(m);
}

int out_send_once(const struct out_spec *s, const char *json, size_t len, kad_err *err)
{
    kx_arena ar;
    kx_arena_init(&ar, 1 << 16, 0);
    struct out_alert a;
    struct out_item_result r = {0};
    int rc = out_alert_parse(&a, &ar, json, len, err);
    if (!rc) {
        struct out_conn *c = conn_new(s, NULL);
        bool permanent;
        rc = conn_send(c, &a, 1, &r, &permanent, err);
        if (!rc && r.v != OUT_V_DONE)
            rc = kx_err_setf(err, KAD_EIO, "%s: %s", s->name, r.reason);
        conn_free(c);
    }
    kx_arena_fini(&ar);
    return rc;
}

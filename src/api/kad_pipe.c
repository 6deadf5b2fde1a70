/*
 * kad_pipe.c - the parallel decode of kad_engine_scan (kad_engine_opts.threads > 1; design in
 * docs/internals/pipeline.md).
 *
 * The calling thread frames records (the reader) and copies them into batches; worker threads
 * decode whole batches (ops->decode: JSON parse, extraction, ECS mapping) into per-record
 * outcomes (events, errors, warnings, in the order the decoder produced them); the calling
 * thread replays the batches strictly in input order through ops->record (detection, state,
 * alerts, positions, commits). When the ring is full and the oldest batch is not decoded yet,
 * the calling thread decodes a waiting batch itself instead of sleeping.
 *
 * Lifetimes: a batch's record bytes (`data`), decoded documents (`arena`) and error texts
 * (`errs`) live from its filling until its replay returns; then the batch is reset and reused.
 * At most PIPE_RING batches exist, each holding at most PIPE_BYTES of records (or one record
 * over that), so memory does not grow with the input.
 *
 * States (under mu): FREE -> FILL (the calling thread copies records in) -> READY (submitted)
 * -> BUSY (one thread decodes it) -> DONE -> replayed -> FREE. Only the calling thread fills,
 * replays and resets; a BUSY batch belongs to the one thread decoding it.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/vec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define PIPE_RECORDS 32                       /* records per batch */
#define PIPE_BYTES ((size_t)64 << 10)         /* record bytes per batch (one record may pass) */
#define PIPE_RING_PER_THREAD 3                /* batches in flight per thread */
#define PIPE_RECORD_ARENA ((size_t)256 << 20) /* decoded bytes per record, as the engine's arena   \
                                               */
#define PIPE_THREADS_MAX 64

enum { B_FREE = 0, B_FILL, B_READY, B_BUSY, B_DONE };

struct pipe_item {
    struct ev_record rec; /* rec.ptr set when the batch is submitted (data no longer grows) */
    size_t off;           /* the record's bytes at data.ptr + off */
    int64_t read_ms;
    uint32_t first, n; /* its outcomes: outs[first, first + n) */
    bool reader_err;   /* not a record: a framing error of the reader (one ERROR outcome) */
};

struct pipe_batch {
    int state;
    kx_buf data;
    KX_VEC(struct pipe_item) items;
    KX_VEC(struct api_pipe_out) outs;
    KX_VEC(kad_err *) errs; /* the texts of the error and warning outcomes */
    kx_arena arena;
};

struct api_pipe {
    const struct api_pipe_ops *ops;
    void *ud;
    int nworkers, nctx;
    pthread_t *th;
    void **wctx; /* nworkers + 1 decode contexts; [0] is the calling thread's */
    struct worker_arg {
        struct api_pipe *p;
        void *wctx;
    } * args;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a batch became READY, or quit */
    pthread_cond_t done; /* a batch became DONE */
    struct pipe_batch *ring;
    size_t nring;
    size_t head;    /* the oldest submitted batch */
    size_t pending; /* submitted, not replayed yet: ring[head .. head + pending) */
    size_t tail;    /* the batch being filled or the next one to fill */
    bool filling;   /* ring[tail] is FILL */
    bool quit;
    bool stopped; /* ops->record asked to stop: nothing more is replayed until discarded */
    /* KADET_PIPE_CPU (a benchmark's measure of the serial part, bench/threads.sh): CPU seconds
       of the workers (added as each one ends) and of the calling thread's own decoding */
    const char *cpu_file;
    double cpu_workers, cpu_caller_decode;
    uint64_t batches, caller_batches;
};

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- decoding one batch (any thread) ------------------------------------------------------ */

struct collect {
    struct pipe_batch *b;
    const struct api_pipe_ops *ops;
    void *wctx;
};

static int col_event(void *ctx, const struct ev_event *ev)
{
    struct collect *c = ctx;
    struct api_pipe_out o = {.kind = API_PIPE_EVENT, .ev = *ev};
    if (c->ops->event_aux)
        o.aux = c->ops->event_aux(c->wctx, &c->b->arena, ev);
    KX_VEC_PUSH(&c->b->outs, o);
    return 0;
}

static void col_err(struct collect *c, int kind, int code, const kad_err *err)
{
    kad_err *copy = kx_malloc(sizeof(*copy));
    *copy = *err;
    KX_VEC_PUSH(&c->b->errs, copy);
    struct api_pipe_out o = {.kind = kind, .code = code, .err = copy};
    KX_VEC_PUSH(&c->b->outs, o);
}

static void col_error(void *ctx, const kad_err *err) { col_err(ctx, API_PIPE_ERROR, 0, err); }

static void col_warning(void *ctx, int code, const kad_err *w)
{
    col_err(ctx, API_PIPE_WARNING, code, w);
}

static void decode_batch(struct api_pipe *p, struct pipe_batch *b, void *wctx)
{
    struct collect c = {b, p->ops, wctx};
    struct ev_sink sink = {col_event, col_error, &c};
    for (size_t i = 0; i < b->items.len; i++) {
        struct pipe_item *it = &b->items.ptr[i];
        if (it->reader_err)
            continue;
        it->first = (uint32_t)b->outs.len;
        /* the same limit per record as one arena reset after each record would give */
        b->arena.max = b->arena.used_total + PIPE_RECORD_ARENA;
        p->ops->decode(wctx, &b->arena, &it->rec, it->read_ms, &sink, col_warning, &c);
        it->n = (uint32_t)(b->outs.len - it->first);
    }
}

/* The oldest READY batch, or NULL (under mu). */
static struct pipe_batch *find_ready(struct api_pipe *p)
{
    for (size_t k = 0; k < p->pending; k++) {
        struct pipe_batch *b = &p->ring[(p->head + k) % p->nring];
        if (b->state == B_READY)
            return b;
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    prctl(PR_SET_NAME, "kad-decode", 0, 0, 0); /* its CPU apart in top, perf, bench/serve.sh */
    struct worker_arg *a = arg;
    struct api_pipe *p = a->p;
    pthread_mutex_lock(&p->mu);
    while (!p->quit) {
        struct pipe_batch *b = find_ready(p);
        if (!b) {
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        b->state = B_BUSY;
        pthread_mutex_unlock(&p->mu);
        decode_batch(p, b, a->wctx);
        pthread_mutex_lock(&p->mu);
        b->state = B_DONE;
        p->batches++;
        pthread_cond_signal(&p->done);
    }
    if (p->cpu_file)
        p->cpu_workers += thread_cpu();
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the calling thread ------------------------------------------------------------------- */

static void batch_reset(struct pipe_batch *b)
{
    for (size_t i = 0; i < b->errs.len; i++)
        kx_free(b->errs.ptr[i]);
    b->errs.len = 0;
    b->items.len = 0;
    b->outs.len = 0;
    kx_buf_reset(&b->data);
    kx_arena_reset(&b->arena);
    b->arena.max = 0;
    b->state = B_FREE;
}

/* Replay a DONE batch in order (without mu). Returns nonzero when ops->record stopped. */
static int replay(struct api_pipe *p, struct pipe_batch *b)
{
    for (size_t i = 0; i < b->items.len; i++) {
        const struct pipe_item *it = &b->items.ptr[i];
        int stop = p->ops->record(p->ud, it->reader_err ? NULL : &it->rec, it->read_ms,
                                  b->outs.ptr + it->first, it->n);
        if (stop)
            return stop;
    }
    return 0;
}

/*
 * One step of the calling thread's work (under mu): replay the oldest batch when it is decoded,
 * else decode a waiting batch, else (block) wait for a worker. Returns nonzero when the replay
 * stopped.
 */
static int step(struct api_pipe *p, bool block)
{
    if (p->pending == 0)
        return 0;
    struct pipe_batch *h = &p->ring[p->head];
    if (h->state == B_DONE) {
        pthread_mutex_unlock(&p->mu);
        int stop = replay(p, h);
        pthread_mutex_lock(&p->mu);
        if (stop) {
            p->stopped = true;
            return stop;
        }
        batch_reset(h);
        p->head = (p->head + 1) % p->nring;
        p->pending--;
        return 0;
    }
    struct pipe_batch *b = find_ready(p);
    if (b) {
        b->state = B_BUSY;
        pthread_mutex_unlock(&p->mu);
        double t0 = p->cpu_file ? thread_cpu() : 0;
        decode_batch(p, b, p->wctx[0]);
        if (p->cpu_file)
            p->cpu_caller_decode += thread_cpu() - t0;
        pthread_mutex_lock(&p->mu);
        b->state = B_DONE;
        p->batches++;
        p->caller_batches++;
        return 0;
    }
    if (block)
        pthread_cond_wait(&p->done, &p->mu);
    return 0;
}

/* The batch to copy the next record into (waits for a free one, working meanwhile). */
static struct pipe_batch *fill_batch(struct api_pipe *p)
{
    if (p->filling)
        return &p->ring[p->tail];
    pthread_mutex_lock(&p->mu);
    while (!p->stopped && p->pending == p->nring)
        step(p, true);
    struct pipe_batch *b = NULL;
    if (!p->stopped) {
        b = &p->ring[p->tail];
        b->state = B_FILL;
        p->filling = true;
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

static int submit(struct api_pipe *p)
{
    struct pipe_batch *b = &p->ring[p->tail];
    for (size_t i = 0; i < b->items.len; i++)
        b->items.ptr[i].rec.ptr = b->data.ptr + b->items.ptr[i].off;
    pthread_mutex_lock(&p->mu);
    b->state = B_READY;
    p->filling = false;
    p->tail = (p->tail + 1) % p->nring;
    p->pending++;
    pthread_cond_signal(&p->work);
    /* replay what is decoded already: keeps the ring short and the alerts flowing */
    int stop = 0;
    while (!stop && !p->stopped && p->pending && p->ring[p->head].state == B_DONE)
        stop = step(p, false);
    pthread_mutex_unlock(&p->mu);
    return stop || p->stopped;
}

static int add_item(struct api_pipe *p, const struct ev_record *rec, const struct pipe_item *it,
                    const kad_err *err)
{
    if (p->stopped)
        return 1;
    struct pipe_batch *b = fill_batch(p);
    if (!b)
        return 1;
    struct pipe_item item = *it;
    if (rec) {
        item.off = b->data.len;
        item.rec = *rec;
        item.rec.ptr = NULL;
        if (kx_buf_add(&b->data, rec->ptr, rec->len) != KAD_OK) {
            /* cannot happen (the buffer has no maximum): counted as a skipped record */
            kad_err lim;
            kad_err_clear(&lim);
            kx_err_setf(&lim, KAD_ELIMIT, "record of %zu bytes: no memory", rec->len);
            item.reader_err = true;
            err = &lim;
        }
    }
    if (item.reader_err) {
        struct collect c = {b, p->ops, NULL};
        item.first = (uint32_t)b->outs.len;
        col_err(&c, API_PIPE_ERROR, 0, err);
        item.n = 1;
    }
    KX_VEC_PUSH(&b->items, item);
    if (b->items.len >= PIPE_RECORDS || b->data.len >= PIPE_BYTES)
        return submit(p);
    return 0;
}

int api_pipe_add(struct api_pipe *p, const struct ev_record *rec, int64_t read_ms)
{
    struct pipe_item it = {.read_ms = read_ms};
    return add_item(p, rec, &it, NULL);
}

int api_pipe_add_error(struct api_pipe *p, const kad_err *err)
{
    struct pipe_item it = {.reader_err = true};
    return add_item(p, NULL, &it, err);
}

int api_pipe_drain(struct api_pipe *p)
{
    if (p->stopped)
        return 1;
    if (p->filling) {
        if (p->ring[p->tail].items.len) {
            if (submit(p))
                return 1;
        } else {
            p->ring[p->tail].state = B_FREE;
            p->filling = false;
        }
    }
    pthread_mutex_lock(&p->mu);
    while (!p->stopped && p->pending)
        step(p, true);
    int stop = p->stopped;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

void api_pipe_discard(struct api_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < p->nring; i++)
            busy |= p->ring[i].state == B_BUSY;
        if (!busy)
            break;
        pthread_cond_wait(&p->done, &p->mu);
    }
    for (size_t i = 0; i < p->nring; i++)
        batch_reset(&p->ring[i]);
    p->head = p->tail = p->pending = 0;
    p->filling = p->stopped = false;
    pthread_mutex_unlock(&p->mu);
}

int api_pipe_threads_max(void) { return PIPE_THREADS_MAX; }

struct api_pipe *api_pipe_new(const struct api_pipe_ops *ops, void *ud, int threads)
{
    if (threads < 2)
        return NULL;
    if (threads > PIPE_THREADS_MAX)
        threads = PIPE_THREADS_MAX;
    struct api_pipe *p = kx_calloc(1, sizeof(*p));
    p->ops = ops;
    p->ud = ud;
    p->nworkers = threads - 1;
    const char *cf = getenv("KADET_PIPE_CPU");
    p->cpu_file = cf && *cf ? cf : NULL;
    p->nring = (size_t)threads * PIPE_RING_PER_THREAD;
    p->ring = kx_calloc(p->nring, sizeof(*p->ring));
    for (size_t i = 0; i < p->nring; i++) {
        kx_buf_init(&p->ring[i].data, 0);
        kx_arena_init(&p->ring[i].arena, (size_t)1 << 20, 0);
    }
    p->nctx = threads;
    p->wctx = kx_calloc((size_t)threads, sizeof(*p->wctx));
    for (int i = 0; i < threads; i++)
        p->wctx[i] = ops->worker_new(ud);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = kx_calloc((size_t)p->nworkers, sizeof(*p->th));
    p->args = kx_calloc((size_t)p->nworkers, sizeof(*p->args));
    int started = 0;
    for (int i = 0; i < p->nworkers; i++) {
        p->args[i] = (struct worker_arg){p, p->wctx[i + 1]};
        if (pthread_create(&p->th[i], NULL, worker_main, &p->args[i]) != 0)
            break; /* fewer workers: the calling thread decodes what they do not */
        started++;
    }
    p->nworkers = started;
    return p;
}

void api_pipe_free(struct api_pipe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->th[i], NULL);
    if (p->cpu_file) { /* one line per pipe: see cpu_file */
        FILE *f = fopen(p->cpu_file, "a");
        if (f) {
            fprintf(f,
                    "caller_cpu %.3f caller_decode %.3f workers_cpu %.3f workers %d batches "
                    "%llu caller_batches %llu\n",
                    thread_cpu(), p->cpu_caller_decode, p->cpu_workers, p->nworkers,
                    (unsigned long long)p->batches, (unsigned long long)p->caller_batches);
            fclose(f);
        }
    }
    for (size_t i = 0; i < p->nring; i++) {
        batch_reset(&p->ring[i]);
        kx_buf_fini(&p->ring[i].data);
        kx_arena_fini(&p->ring[i].arena);
        KX_VEC_FREE(&p->ring[i].items);
        KX_VEC_FREE(&p->ring[i].outs);
        KX_VEC_FREE(&p->ring[i].errs);
    }
    for (int i = 0; i < p->nctx; i++)
        p->ops->worker_free(p->wctx[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    kx_free(p->ring);
    kx_free(p->th);
    kx_free(p->args);
    kx_free(p->wctx);
    kx_free(p);
}

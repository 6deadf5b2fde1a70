/*
 * kad_engine.c - kad_engine (include/kad.h): the scan pipeline and its durability policy.
 *
 * Per input: reader (records with byte offsets) -> decoder (raw audit event -> ECS, only the
 * fields the rules need) -> det_process -> alerts into a pending buffer. Every batch (opts.batch
 * records, or when the pending alerts grow large, or at the end of an input, or when a streamed
 * input goes quiet) is committed with the protocol of docs/internals/engine.md:
 *
 *   output file:  write pending alerts, fdatasync, then commit {state, input position, output
 *                 length, alert ids} in one transaction. kad_engine_new truncates the output to
 *                 its committed length, so after kill -9 a rerun gives exactly the alerts of one
 *                 uninterrupted run (none lost, none twice).
 *   descriptor:   write, then commit: a batch whose alerts could not be written (the consumer
 *                 of a pipe died, a full disk) is not committed and the engine fails, so no
 *                 alert is lost without an error; a crash in the instant between the write and
 *                 the commit writes that batch again on the rerun (at least once).
 *
 * Test builds (-DKAD_TEST_HOOKS, the sanitizer build that `make check` runs) read
 * KADET_TEST_CRASH (kill points, below) and KADET_NO_PREFILTER; release builds have neither.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PENDING_SOFT ((size_t)8 << 20)
#define OUTBOX_STAGE ((size_t)256 << 10)
#define PRUNE_EVERY 20
#define BATCH_DEFAULT 50000
#define WEBHOOK_ORIGIN "webhook"

struct kad_engine {
    kad_engine_opts o;
    kad_rules *rules;
    struct st_store *st;
    struct det_engine *det;
    struct ev_decoder *dec, *full_dec;
    struct alt_dec { /* kad_engine_decode_add: another source's host.* and cluster */
        struct ev_decoder *dec, *full_dec;
    } * alt;
    size_t nalt;
    struct api_pipe *pipe; /* opts.threads > 1: kad_engine_scan decodes in parallel (kad_pipe.c) */
    bool pushing;          /* kad_engine_push (kad_feedpipe.c) has records in the pipe */
    kx_arena arena, full_arena;
    struct ev_decoder_opts dopts;
    int64_t read_ms; /* when the record being processed was read (wall clock) */
    /* output */
    int out_fd;
    bool out_file, out_own;
    char *out_key;
    int64_t out_len;
    kx_buf pending;
    kx_buf outbox; /* alerts for kad_engine_opts.outputs not staged yet: ID TAB JSON NEWLINE ... */
    bool outbox_open;      /* alerts of this batch were staged into the outbox's batch */
    size_t outbox_bytes;   /* bytes of this batch's alerts for the outbox, staged or not */
    int64_t outbox_batch;  /* the outbox batch committed with the state, to confirm */
    /* the input being read */
    const char *in_key; /* NULL or in_keybuf */
    char in_keybuf[PATH_MAX + 96];
    int64_t in_offset, in_base, in_line;
    const struct ev_record *rec; /* = the record being decoded, else NULL */
    long in_batch;
    uint64_t batches;
    kad_engine_stats c;
    kx_log_limit errlim;
    kx_log_limit warnlim[3]; /* the decoder's and reader's warnings: not-audit, bad-time, gzip */
    /* kad_engine_body: the request being run (req_peer NULL otherwise) */
    uint64_t req_n, req_records;
    const char *req_peer;
    /* term views of the alert being handed to on_alert */
    const char *tv[ST_COMPONENTS_MAX];
    size_t tl[ST_COMPONENTS_MAX];
    bool failed;
    kad_err fail;
};

/* ============================================================================================ */
/* Kill points for the crash tests (test builds only)                                          */
/* ============================================================================================ */

/*
 * KADET_TEST_CRASH="record:N" kills the process with SIGKILL after the Nth record;
 * "commit:N:written" after the Nth commit's alerts were written to the output file but before
 * the transaction; "commit:N:committed" right after the Nth transaction (before a descriptor
 * output is written). tests/cli/test_scan_crash.sh and tests/unit/test_api_commit.c reach every
 * point of the protocol with it.
 */
#ifdef KAD_TEST_HOOKS
static struct {
    int kind; /* 0 none, 1 record, 2 commit */
    long n;
    int phase; /* 1 written, 2 committed */
} crash;

static void crash_init(void)
{
    const char *c = getenv("KADET_TEST_CRASH");
    char phase[16] = "";
    crash.kind = 0;
    if (!c)
        return;
    if (sscanf(c, "record:%ld", &crash.n) == 1)
        crash.kind = 1;
    else if (sscanf(c, "commit:%ld:%15s", &crash.n, phase) == 2) {
        crash.kind = 2;
        crash.phase = strcmp(phase, "committed") == 0 ? 2 : 1;
    }
}

static void crash_at(int kind, long n, int phase)
{
    if (crash.kind == kind && crash.n == n && (kind == 1 || crash.phase == phase))
        raise(SIGKILL);
}
#define NO_PREFILTER() (getenv("KADET_NO_PREFILTER") != NULL)
/* tests/cli/test_scan_fastpath.sh: whole documents for every event (no extractor path) */
#define FULL_DOCS() (getenv("KADET_FULL_DOCS") != NULL)
#else
static void crash_init(void) {}
static void crash_at(int kind, long n, int phase)
{
    (void)kind;
    (void)n;
    (void)phase;
}
#define NO_PREFILTER() false
#define FULL_DOCS() false
#endif

/* ============================================================================================ */
/* Small helpers                                                                                */
/* ============================================================================================ */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A state, output or engine failure: remembered, and every later call fails with it. */
static int fail(kad_engine *e, int rc, const kad_err *err)
{
    if (!e->failed) {
        e->failed = true;
        if (err)
            e->fail = *err;
        else
            kx_err_setf(&e->fail, rc, "%s", kad_strerror(rc));
        if (e->fail.code == KAD_OK)
            e->fail.code = rc;
    }
    return e->fail.code;
}

static int failed_rc(const kad_engine *e, kad_err *err)
{
    if (err)
        *err = e->fail;
    return e->fail.code ? e->fail.code : KAD_EIO;
}

/* ============================================================================================ */
/* Batches and the durability protocol                                                          */
/* ============================================================================================ */

/* Forget new-terms combinations last seen more than 2W before their rule's watermark. Twice the
   window, because the engine still judges events back to watermark - W (its horizon), and a
   combination they could meet must still be there: so results never depend on when pruning ran
   (docs/internals/engine.md). Query rules keep their alert ids (replays stay de-duplicated). */
static int prune(kad_engine *e, kad_err *err)
{
    for (size_t i = 0; i < det_rule_count(e->det); i++) {
        int64_t w = det_rule_window(e->det, i);
        if (!det_rule_runs(e->det, i) || w <= 0)
            continue;
        struct st_prune_opts po = {det_rule(e->det, i)->rule_id, 2 * w, false};
        struct st_prune_result pr;
        memset(&pr, 0, sizeof(pr));
        int rc = st_prune(e->st, &po, &pr, err);
        if (rc != KAD_OK && rc != KAD_ENOTFOUND)
            return rc;
        e->c.pruned += pr.terms;
    }
    return KAD_OK;
}

static int commit(kad_engine *e, kad_err *err)
{
    int rc;
    /* EQL sequences and ES|QL windows: their state commits with this batch */
    if ((rc = det_save(e->det, err)) != KAD_OK)
        return rc;
    if (e->pending.len && e->out_fd >= 0) {
        /* the alerts first, for a file and a descriptor alike: a batch whose alerts could not
           all be written (EPIPE: the consumer died; ENOSPC; EIO) is not committed, so a rerun
           raises them again instead of losing them (docs/internals/engine.md) */
        if (write_all(e->out_fd, e->pending.ptr, e->pending.len) != 0) {
            int en = errno;
            return kx_err_setf(err, KAD_EIO,
                               "%s: %s: alerts not written; their batch is not committed (a "
                               "rerun raises them again)",
                               e->o.output_path ? e->o.output_path : "<stdout>", strerror(en));
        }
        if (e->out_file) {
            e->out_len += (int64_t)e->pending.len;
            if (fdatasync(e->out_fd) != 0 && errno != EINVAL)
                return kx_err_setf(err, KAD_EIO, "%s: %s", e->o.output_path, strerror(errno));
            /* the committed length is the file's: after a copytruncate it restarts near 0 */
            struct stat osb;
            if (fstat(e->out_fd, &osb) == 0 && osb.st_size < e->out_len)
                e->out_len = osb.st_size;
        }
    }
    kx_buf_reset(&e->pending);
    /* the outbox before the state: a crash between the two replays the batch, and the outbox
       ignores the alert ids it has (docs/internals/outputs.md) */
    bool ob = e->o.outputs && (e->outbox.len || e->outbox_open);
    if (ob) {
        rc = api_outputs_commit(e->o.outputs, e, e->outbox.ptr, e->outbox.len, &e->outbox_batch,
                                err);
        e->outbox_open = false;
        if (rc != KAD_OK)
            return rc;
    }
    e->c.commits++;
    crash_at(2, (long)e->c.commits, 1);
    if (e->out_file && e->out_key && (rc = st_pos_set(e->st, e->out_key, e->out_len, 0, err)))
        return rc;
    if (e->in_key && (rc = st_pos_set(e->st, e->in_key, e->in_offset, e->in_line, err)))
        return rc;
    if ((rc = st_commit(e->st, err)) != KAD_OK)
        return rc;
    crash_at(2, (long)e->c.commits, 2);
    if (ob) {
        kx_buf_reset(&e->outbox);
        e->outbox_bytes = 0;
        api_outputs_notify(e->o.outputs, e->outbox_batch);
    }
    e->in_batch = 0;
    if ((rc = st_begin(e->st, err)) != KAD_OK)
        return rc;
    /* Forget combinations older than their window before the watermark (semantics.md, "Time and
       state"): every PRUNE_EVERY batches and at the end of each input; it commits with the next
       batch. */
    if (++e->batches % PRUNE_EVERY == 0)
        return prune(e, err);
    return KAD_OK;
}

static int commit_or_fail(kad_engine *e, kad_err *err)
{
    if (e->failed)
        return failed_rc(e, err);
    kad_err cerr;
    kad_err_clear(&cerr);
    int rc = commit(e, &cerr);
    if (rc != KAD_OK) {
        fail(e, rc, &cerr);
        return failed_rc(e, err);
    }
    return KAD_OK;
}

int kad_engine_commit(kad_engine *e, kad_err *err)
{
    api_engine_push_run(e);
    return commit_or_fail(e, err);
}

static int64_t wall_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int kad_engine_flush(kad_engine *e, int64_t now_ms, kad_err *err)
{
    api_engine_push_run(e);
    if (e->failed)
        return failed_rc(e, err);
    if (now_ms == KAD_TIME_NONE)
        now_ms = wall_now_ms(); /* not opts.now_ms: that one only stamps alerts */
    kad_err ferr;
    kad_err_clear(&ferr);
    int rc = det_flush(e->det, now_ms, &ferr);
    if (rc != KAD_OK) {
        fail(e, rc, &ferr);
        return failed_rc(e, err);
    }
    return KAD_OK;
}

int kad_engine_reopen_output(kad_engine *e, kad_err *err)
{
    if (e->failed)
        return failed_rc(e, err);
    if (!e->out_own)
        return KAD_OK; /* a descriptor (stdout) or no output: nothing to reopen */
    int rc = commit_or_fail(e, err);
    if (rc != KAD_OK)
        return rc;
    int fd = open(e->o.output_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND, 0644);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        /* not fatal: alerts keep going to the file that is open */
        rc = kx_err_setf(err, KAD_EIO, "%s: cannot reopen: %s", e->o.output_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    close(e->out_fd);
    e->out_fd = fd;
    if (e->out_file)
        e->out_len = sb.st_size;
    /* commit at once the new file's length, so a restart does not compare the new file with
       the old one's */
    return commit_or_fail(e, err);
}

int kad_engine_failed(const kad_engine *e) { return e->failed; }

/* ============================================================================================ */
/* Alerts                                                                                       */
/* ============================================================================================ */

static int on_alert(const struct det_alert *a, void *ud)
{
    kad_engine *e = ud;
    e->c.alerts++;
    int take = KAD_ALERT_WRITE;
    if (e->o.on_alert) {
        const struct rule *r = a->rule;
        size_t n = a->nterms < ST_COMPONENTS_MAX ? a->nterms : ST_COMPONENTS_MAX;
        for (size_t i = 0; i < n; i++) {
            e->tv[i] = a->terms[i].ptr;
            e->tl[i] = a->terms[i].len;
        }
        kad_alert ka = {
            .json = a->json,
            .len = a->len,
            .id = a->uuid,
            .rule_id = r->rule_id,
            .rule_name = r->name,
            .severity = r->severity,
            .rule_index = a->rule_index,
            .event_ms = a->event_ms == DET_TIME_NONE ? KAD_TIME_NONE : a->event_ms,
            .timestamp_ms = e->o.now_ms,
            .user = a->user.ptr,
            .user_len = a->user.len,
            .nterms = n,
            .terms = e->tv,
            .term_lens = e->tl,
            .term_fields = r->new_terms_fields.v,
        };
        take = e->o.on_alert(&ka, e->o.ud);
        if (take < 0)
            return 1;
    }
    if (e->o.outputs) {
        /* the outbox's record format: written as it is (api_outputs_stage) */
        size_t before = e->outbox.len;
        if (kx_buf_add(&e->outbox, a->uuid, strlen(a->uuid)) != KAD_OK ||
            kx_buf_addc(&e->outbox, '\t') != KAD_OK ||
            kx_buf_add(&e->outbox, a->json, a->len) != KAD_OK ||
            kx_buf_addc(&e->outbox, '\n') != KAD_OK)
            return 1;
        e->outbox_bytes += e->outbox.len - before;
    }
    if (take == KAD_ALERT_WRITE && (kx_buf_add(&e->pending, a->json, a->len) != KAD_OK ||
                                    kx_buf_addc(&e->pending, '\n') != KAD_OK))
        return 1;
    return 0;
}

int kad_engine_output(kad_engine *e, const char *text, size_t len, kad_err *err)
{
    if (kx_buf_add(&e->pending, text, len) != KAD_OK)
        return kx_err_setf(err, KAD_ELIMIT, "pending output over its limit");
    return KAD_OK;
}

/* ============================================================================================ */
/* Decoding                                                                                     */
/* ============================================================================================ */

struct full_ctx {
    kad_engine *e;
    uint32_t item;
    bool done;
    const struct ev_node *doc;
};

static int full_on_event(void *ctx, const struct ev_event *ev)
{
    struct full_ctx *c = ctx;
    if (ev->item == c->item) {
        c->doc = ev->doc;
        return 1;
    }
    return 0;
}

static void full_on_error(void *ctx, const kad_err *err)
{
    (void)ctx;
    (void)err;
}

/* The whole document of the current event (decoded again, only when an alert needs it). */
static const struct ev_node *full_get(void *ctx)
{
    struct full_ctx *c = ctx;
    if (!c->done) {
        c->done = true;
        kx_arena_reset(&c->e->full_arena);
        struct ev_sink sink = {full_on_event, full_on_error, c};
        ev_decode_record(c->e->full_dec, &c->e->full_arena, c->e->rec, &sink);
    }
    return c->doc;
}

/* An event of the other format than --format asks for: counted, not detected. */
static bool wrong_format(int format, const struct ev_event *ev)
{
    return (format == KAD_FORMAT_AUDIT && ev->format == EV_FMT_ECS) ||
           (format == KAD_FORMAT_ECS && ev->format != EV_FMT_ECS);
}

struct pipe_aux;
static const struct det_verdict *aux_verdict(const struct pipe_aux *x);
static const struct ev_node *aux_full(const struct pipe_aux *x);
static const struct ev_node *given_full(void *ctx);

/* One decoded event through detection; aux: what a worker computed for it (pipe_event_aux),
   or NULL. */
static int detect_event(kad_engine *e, const struct ev_event *ev, const struct pipe_aux *aux)
{
    if (wrong_format(e->o.format, ev)) {
        e->c.not_format++;
        return 0;
    }
    e->c.events++;
    struct full_ctx fc = {e, ev->item, false, NULL};
    const struct ev_node *full = aux_full(aux);
    struct det_event de = {
        .doc = ev->doc,
        .raw = e->rec->ptr,
        .raw_len = e->rec->len,
        .full = !ev->partial ? NULL : full ? given_full : full_get,
        .full_ctx = full ? (void *)full : (void *)&fc,
        .times_known = true,
        .timestamp_ms = ev->ts_ms,
        .ingested_ms = ev->ingested_ms,
        .read_ms = e->read_ms,
        .verdict = aux_verdict(aux),
    };
    kad_err err;
    kad_err_clear(&err);
    int rc = det_process(e->det, &de, &err);
    if (rc != KAD_OK) {
        fail(e, rc, &err);
        return 1;
    }
    return 0;
}

static int on_event(void *ctx, const struct ev_event *ev) { return detect_event(ctx, ev, NULL); }

static void count_skip(kad_engine *e, const kad_err *err)
{
    e->c.skipped++;
    if (err->code == KAD_ESYNTAX)
        e->c.skipped_syntax++;
    else if (err->code == KAD_ELIMIT)
        e->c.skipped_limit++;
    else
        e->c.skipped_other++;
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err_format(err, msg, sizeof(msg));
    if (e->req_peer)
        kx_log_limited(&e->errlim, KX_LOG_WARN, "request %llu from %s: %s (record skipped)",
                       (unsigned long long)e->req_n, e->req_peer, msg);
    else
        kx_log_limited(&e->errlim, KX_LOG_WARN, "skipped record: %s", msg);
}

static void on_error(void *ctx, const kad_err *err) { count_skip(ctx, err); }

/*
 * A warning of the decoder (a record skipped on purpose: not a Kubernetes audit event; an event
 * whose time is not a date) or of the reader (gzip trailing data): counted and logged with its
 * position, rate-limited per kind. None of them makes the record "skipped" (an error).
 */
static void log_warning(kad_engine *e, int code, const kad_err *w)
{
    size_t k;
    switch (code) {
    case EV_WARN_NOT_AUDIT:
        e->c.not_audit++;
        k = 0;
        break;
    case EV_WARN_BAD_TIME:
        e->c.bad_time++;
        k = 1;
        break;
    case EV_WARN_GZIP_TRAILING:
        e->c.gzip_trailing++;
        k = 2;
        break;
    default: return;
    }
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err_format(w, msg, sizeof(msg));
    char *p = strstr(msg, "error: "); /* kad_err_format says error; this is a warning */
    if (p)
        memmove(p, p + 7, strlen(p + 7) + 1);
    if (e->req_peer)
        kx_log_limited(&e->warnlim[k], KX_LOG_WARN, "request %llu from %s: %s",
                       (unsigned long long)e->req_n, e->req_peer, msg);
    else
        kx_log_limited(&e->warnlim[k], KX_LOG_WARN, "%s", msg);
}

static void on_warning(void *ctx, int code, const kad_err *w) { log_warning(ctx, code, w); }

void kad_engine_log_flush(kad_engine *e)
{
    kx_log_flush_limited(&e->errlim);
    for (size_t k = 0; k < 3; k++)
        kx_log_flush_limited(&e->warnlim[k]);
}

/* The decoder of the engine's rules: only the fields they read (full documents when one of
   them needs every field). */
static void set_needs(kad_engine *e, struct ev_decoder *d);

static struct ev_decoder *rules_decoder(kad_engine *e)
{
    struct ev_decoder *d = ev_decoder_new(&e->dopts);
    if (d)
        set_needs(e, d);
    return d;
}

static bool decoder_clock(const kad_engine *e)
{
    return e->dopts.ingested == EV_INGESTED_NOW || e->dopts.timestamp == EV_TS_RECEIVED;
}

/* One framed record through the decoder and the engine: the same path for files, stdin and
   webhook bodies. Returns nonzero when on_event stopped (a fatal engine error). */
static int process_record_at(kad_engine *e, const struct ev_record *rec, int64_t read_ms)
{
    e->c.records++;
    e->c.bytes += rec->len;
    e->rec = rec;
    /* one read time per record: the reference of future_ms and, for --ingested now /
       --timestamp received, the receive time (shared by the re-decode of the alerted document);
       a record fed from a queue or a follower keeps the time it was read */
    if (read_ms != KAD_TIME_NONE) {
        e->read_ms = read_ms;
    } else {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        e->read_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    }
    struct ev_sink sink = {on_event, on_error, e};
    if (decoder_clock(e)) {
        ev_decoder_set_now(e->dec, e->read_ms);
        ev_decoder_set_now(e->full_dec, e->read_ms);
    }
    int stop = ev_decode_record(e->dec, &e->arena, rec, &sink);
    e->rec = NULL;
    kx_arena_reset(&e->arena);
    crash_at(1, (long)e->c.records, 0);
    return stop;
}

static int process_record(kad_engine *e, const struct ev_record *rec)
{
    return process_record_at(e, rec, KAD_TIME_NONE);
}

/* A full batch (or too many pending alerts) is committed. The outbox's alerts are written
   into its open batch every OUTBOX_STAGE bytes (a small buffer: its pages stay warm). */
static int after_record(kad_engine *e, kad_err *err)
{
    if (++e->in_batch >= e->o.batch || e->pending.len >= PENDING_SOFT ||
        e->outbox_bytes >= PENDING_SOFT)
        return commit_or_fail(e, err);
    if (e->o.outputs && e->outbox.len >= OUTBOX_STAGE) {
        if (e->failed)
            return failed_rc(e, err);
        kad_err serr;
        kad_err_clear(&serr);
        int rc = api_outputs_stage(e->o.outputs, e, e->outbox.ptr, e->outbox.len, &serr);
        e->outbox_open = true;
        kx_buf_reset(&e->outbox);
        if (rc != KAD_OK) {
            fail(e, rc, &serr);
            return failed_rc(e, err);
        }
    }
    return KAD_OK;
}

int kad_engine_feed(kad_engine *e, const char *source, const kad_record *kr, kad_err *err)
{
    return kad_engine_feed_at(e, source, kr, KAD_TIME_NONE, err);
}

/* Records of `source` follow (NULL: none): when it is not the current one, the current one's
   position goes into the open transaction (a follower draining a rotated file while the new one
   fills: the batch commits both). */
static int switch_source(kad_engine *e, const char *source, kad_err *err)
{
    if (e->failed)
        return failed_rc(e, err);
    if (source && strlen(source) > 1024)
        return kx_err_setf(err, KAD_ELIMIT, "source key longer than 1024 bytes");
    if (e->in_key && (!source || strcmp(source, e->in_key) != 0)) {
        kad_err perr;
        kad_err_clear(&perr);
        int prc = st_pos_set(e->st, e->in_key, e->in_offset, e->in_line, &perr);
        if (prc != KAD_OK) {
            fail(e, prc, &perr);
            return failed_rc(e, err);
        }
        e->in_key = NULL;
    }
    return KAD_OK;
}

int kad_engine_feed_at(kad_engine *e, const char *source, const kad_record *kr, int64_t read_ms,
                       kad_err *err)
{
    api_engine_push_run(e);
    int src = switch_source(e, source, err);
    if (src != KAD_OK)
        return src;
    struct ev_record rec = {kr->data, kr->len, kr->origin, kr->line, kr->col, kr->offset};
    int stop = process_record_at(e, &rec, read_ms);
    if (source) {
        snprintf(e->in_keybuf, sizeof(e->in_keybuf), "%s", source);
        e->in_key = e->in_keybuf;
        e->in_offset = (int64_t)(kr->offset + kr->len);
        e->in_line = (int64_t)kr->line;
    } else {
        e->in_key = NULL;
    }
    if (stop)
        return failed_rc(e, err);
    return after_record(e, err);
}

/* The fields the rules read, or full documents (ev_decoder_need). */
static void set_needs(kad_engine *e, struct ev_decoder *d)
{
    if (det_needs_all(e->det) || FULL_DOCS()) {
        ev_decoder_need_all(d);
    } else {
        for (size_t i = 0; i < det_field_count(e->det); i++) {
            const char *f = det_field(e->det, i);
            ev_decoder_need(d, f, strlen(f));
        }
    }
}

int kad_engine_decode_add(kad_engine *e, const kad_decode_opts *d, kad_err *err)
{
    if (!d)
        return kx_err_setf(err, KAD_EINVAL, "no decode options");
    if (e->nalt >= 1024)
        return kx_err_setf(err, KAD_ELIMIT, "more than 1024 decode option sets");
    struct api_host host;
    struct ev_decoder_opts mine;
    api_decoder_opts(d, &mine, &host);
    struct ev_decoder_opts o = e->dopts; /* the engine's, but for the host and the cluster */
    o.host = mine.host;
    o.cluster_name = mine.cluster_name;
    struct alt_dec *a = kx_realloc(e->alt, (e->nalt + 1) * sizeof(*a));
    if (!a)
        return kx_err_setf(err, KAD_ENOMEM, "out of memory");
    e->alt = a;
    a = &e->alt[e->nalt];
    a->dec = ev_decoder_new(&o);
    a->full_dec = ev_decoder_new(&o);
    if (!a->dec || !a->full_dec) {
        ev_decoder_free(a->dec);
        ev_decoder_free(a->full_dec);
        return kx_err_setf(err, KAD_ENOMEM, "out of memory");
    }
    ev_decoder_set_warning(a->dec, on_warning, e);
    set_needs(e, a->dec);
    return (int)++e->nalt;
}

int kad_engine_feed_with(kad_engine *e, const char *source, const kad_record *kr, int64_t read_ms,
                         int decode, kad_err *err)
{
    if (decode == 0)
        return kad_engine_feed_at(e, source, kr, read_ms, err);
    if (decode < 0 || (size_t)decode > e->nalt)
        return kx_err_setf(err, KAD_EINVAL, "decode options %d: not added", decode);
    api_engine_push_run(e); /* pushed records run with the engine's own decoders */
    struct ev_decoder *dec = e->dec, *full = e->full_dec;
    e->dec = e->alt[decode - 1].dec;
    e->full_dec = e->alt[decode - 1].full_dec;
    int rc = kad_engine_feed_at(e, source, kr, read_ms, err);
    e->dec = dec;
    e->full_dec = full;
    return rc;
}

int kad_engine_position(kad_engine *e, const char *source, int64_t *offset, int64_t *line,
                        kad_err *err)
{
    api_engine_push_run(e);
    if (e->in_key && strcmp(source, e->in_key) == 0) {
        *offset = e->in_offset; /* fed in the open batch */
        *line = e->in_line;
        return KAD_OK;
    }
    struct st_pos pos;
    int rc = st_pos_get(e->st, source, &pos, err);
    if (rc != KAD_OK)
        return rc;
    *offset = pos.offset;
    *line = pos.line;
    return KAD_OK;
}

/* ============================================================================================ */
/* Parallel decoding (opts.threads > 1): kad_pipe.c's callbacks                                 */
/* ============================================================================================ */

/* A decoding thread's context: its decoders (the rules' fields, whole documents) and its
   matcher of the rules (det_match). */
struct pipe_worker {
    struct ev_decoder *dec, *full;
    struct det_matcher *m;
    int format;                   /* the engine's kad_engine_opts.format */
    int64_t read_ms;              /* of the record being decoded */
    const struct ev_record *full_rec; /* the record whose whole document was decoded last */
};

/* What the calling thread gets with an event (pipe_event_aux). */
struct pipe_aux {
    const struct det_verdict *v;
    const struct ev_node *full; /* the whole document, or NULL (full_get decodes it) */
};

/* Records up to this size get their whole document decoded on the worker when a query rule
   matched (at most once per record, so an EventList costs one decode there, and far below the
   arena's limit per record, so the decode of the record's events never runs short). */
#define PIPE_FULL_MAX ((size_t)64 << 10)

static void *pipe_worker_new(void *ud)
{
    kad_engine *e = ud;
    struct pipe_worker *w = kx_calloc(1, sizeof(*w));
    w->dec = rules_decoder(e);
    w->full = ev_decoder_new(&e->dopts);
    w->m = det_matcher_new(e->det);
    w->format = e->o.format;
    return w;
}

static void pipe_worker_free(void *ctx)
{
    struct pipe_worker *w = ctx;
    if (!w)
        return;
    ev_decoder_free(w->dec);
    ev_decoder_free(w->full);
    det_matcher_free(w->m);
    kx_free(w);
}

/* The whole document of event ev, decoded again into a (as full_get does), or NULL. */
static const struct ev_node *worker_full(struct pipe_worker *w, kx_arena *a,
                                         const struct ev_event *ev)
{
    if (!w->full || ev->rec->len > PIPE_FULL_MAX || w->full_rec == ev->rec)
        return NULL;
    w->full_rec = ev->rec;
    struct full_ctx c = {NULL, ev->item, false, NULL};
    struct ev_sink sink = {full_on_event, full_on_error, &c};
    ev_decoder_set_now(w->full, w->read_ms);
    ev_decode_record(w->full, a, ev->rec, &sink);
    return c.doc;
}

static const struct ev_node *given_full(void *ctx) { return ctx; }

static const struct det_verdict *aux_verdict(const struct pipe_aux *x) { return x ? x->v : NULL; }

static const struct ev_node *aux_full(const struct pipe_aux *x) { return x ? x->full : NULL; }

/* On a worker thread, after an event's decode: the stateless part of detection (det_match),
   and the whole document when an alert is likely, so that the calling thread applies only
   what depends on the order of events. */
static const void *pipe_event_aux(void *ctx, kx_arena *a, const struct ev_event *ev)
{
    struct pipe_worker *w = ctx;
    if (wrong_format(w->format, ev))
        return NULL; /* not detected (on_event counts it) */
    struct pipe_aux *x = kx_arena_zalloc(a, sizeof(*x));
    if (!x || !(x->v = det_match(w->m, ev->doc, a)))
        return NULL;
    if (ev->partial && det_verdict_query(x->v))
        x->full = worker_full(w, a, ev);
    return x;
}

/* On a worker thread: its own decoder; nothing of the engine is written. */
static int pipe_decode(void *ctx, kx_arena *a, const struct ev_record *rec, int64_t read_ms,
                       const struct ev_sink *sink, void (*warn)(void *, int, const kad_err *),
                       void *warn_ctx)
{
    struct pipe_worker *w = ctx;
    struct ev_decoder *d = w->dec;
    w->read_ms = read_ms;
    w->full_rec = NULL;
    ev_decoder_set_warning(d, warn, warn_ctx);
    ev_decoder_set_now(d, read_ms); /* read only with --ingested now / --timestamp received */
    return ev_decode_record(d, a, rec, sink);
}

/* The scan position after a record (rec: its line already made absolute). */
static void scan_advance(kad_engine *e, const struct ev_record *rec)
{
    int64_t end = e->in_base + (int64_t)rec->offset + (int64_t)rec->len;
    e->in_offset = end;
    e->in_line = (int64_t)rec->line;
    e->c.input_offset = end;
}

/*
 * On the calling thread, in input order: what process_record and the scan loop do for one
 * record, with the decoder's outcomes replayed in the order it produced them.
 */
static int pipe_record(void *ud, const struct ev_record *rec, int64_t read_ms,
                       const struct api_pipe_out *outs, size_t n)
{
    kad_engine *e = ud;
    if (!rec) { /* a record over the maximum, framed out by the reader */
        count_skip(e, outs[0].err);
        return 0;
    }
    e->c.records++;
    e->c.bytes += rec->len;
    e->rec = rec;
    e->read_ms = read_ms;
    if (decoder_clock(e))
        ev_decoder_set_now(e->full_dec, read_ms);
    int stop = 0;
    for (size_t i = 0; i < n && !stop; i++) {
        if (outs[i].kind == API_PIPE_EVENT)
            stop = detect_event(e, &outs[i].ev, outs[i].aux);
        else if (outs[i].kind == API_PIPE_ERROR)
            count_skip(e, outs[i].err);
        else
            log_warning(e, outs[i].code, outs[i].err);
    }
    e->rec = NULL;
    crash_at(1, (long)e->c.records, 0);
    scan_advance(e, rec);
    if (stop || after_record(e, NULL) != KAD_OK)
        return 1;
    if (e->o.on_record)
        e->o.on_record(e->o.ud);
    return 0;
}

static const struct api_pipe_ops pipe_ops = {
    .worker_new = pipe_worker_new,
    .worker_free = pipe_worker_free,
    .decode = pipe_decode,
    .record = pipe_record,
    .event_aux = pipe_event_aux,
};

/* ---- kad_engine_push (kad_feedpipe.c) ------------------------------------------------------ */

struct api_pipe *api_engine_push_open(kad_engine *e, const char *source, kad_err *err)
{
    if (!e->pipe)
        return NULL;
    if (e->in_key && source && strcmp(source, e->in_key) == 0 && e->pushing)
        return e->pipe;
    /* another source: what was pushed runs first, then the key switches; pipe_record's
       scan_advance then sets the position as kad_engine_feed_at does (in_base 0) */
    api_engine_push_run(e);
    if (switch_source(e, source, err) != KAD_OK)
        return NULL;
    if (source && e->in_key != e->in_keybuf) {
        snprintf(e->in_keybuf, sizeof(e->in_keybuf), "%s", source);
        e->in_key = e->in_keybuf;
        e->in_offset = e->in_line = 0;
    }
    e->in_base = 0;
    e->pushing = true;
    return e->pipe;
}

void api_engine_push_run(kad_engine *e)
{
    if (!e->pushing)
        return;
    e->pushing = false;
    if (!e->failed)
        api_pipe_drain(e->pipe);
    api_pipe_discard(e->pipe); /* a no-op after a drain */
}

int api_engine_status(const kad_engine *e, kad_err *err)
{
    return e->failed ? failed_rc(e, err) : KAD_OK;
}

/* ============================================================================================ */
/* Inputs                                                                                       */
/* ============================================================================================ */

/*
 * The input is quiet (a pipe or terminal with nothing to read yet): commit the batch so far
 * and write its alerts, so the alerts of a stream come out as its events arrive instead of
 * `batch` records later. Regular files never get here (the reader does not call it for them).
 */
static void on_idle(void *ctx)
{
    kad_engine *e = ctx;
    if (e->pipe && !e->failed && api_pipe_drain(e->pipe))
        return; /* stopped: the engine failed */
    if (e->failed || (e->in_batch == 0 && e->pending.len == 0))
        return;
    commit_or_fail(e, NULL);
}

static bool is_gzip(int fd)
{
    unsigned char m[2];
    return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* The resume key of a regular file: device, inode and real path (a rotated file that gets
   a new inode is a new input). */
static void input_key(kad_engine *e, const char *path, bool is_stdin, const struct stat *sb)
{
    char real[PATH_MAX];
    const char *rp = is_stdin ? "<stdin>" : (realpath(path, real) ? real : path);
    snprintf(e->in_keybuf, sizeof(e->in_keybuf), "in:%llu:%llu:%s", (unsigned long long)sb->st_dev,
             (unsigned long long)sb->st_ino, rp);
    e->in_key = e->in_keybuf;
}

int kad_engine_scan(kad_engine *e, const char *path, kad_err *err)
{
    api_engine_push_run(e);
    if (e->failed)
        return failed_rc(e, err);
    bool is_stdin = strcmp(path, "-") == 0;
    const char *origin = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kad_err_clear(err);
        return kx_err_setf(err, KAD_ENOTFOUND, "%s: %s", path, strerror(errno));
    }
    struct stat sb;
    bool seekable = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    e->in_key = NULL;
    e->in_offset = e->in_base = e->in_line = 0;
    e->c.input_offset = e->c.input_base = 0;
    if (seekable) {
        input_key(e, path, is_stdin, &sb);
        struct st_pos pos;
        kad_err perr;
        if (!e->o.from_start && st_pos_get(e->st, e->in_key, &pos, &perr) == KAD_OK) {
            e->in_offset = pos.offset;
            e->in_line = pos.line;
        }
    }
    bool gz = seekable && is_gzip(fd);
    int64_t skip_to = 0;
    if (e->in_offset > 0) {
        if (gz) {
            skip_to = e->in_offset; /* compressed: decompress and skip */
        } else if (lseek(fd, e->in_offset, SEEK_SET) >= 0) {
            e->in_base = e->in_offset;
        } else {
            skip_to = e->in_offset;
        }
    }
    e->c.input_offset = e->c.input_base = e->in_base;
    struct ev_reader *rd = NULL;
    int rc = ev_reader_open_fd(&rd, fd, origin, e->o.decode.max_record, err);
    if (rc != KAD_OK) {
        if (!is_stdin)
            close(fd);
        e->in_key = NULL;
        return rc;
    }
    ev_reader_set_idle(rd, on_idle, e);
    int64_t start_line = e->in_line;
    struct ev_record rec;
    kad_err rerr;
    kad_err_clear(&rerr);
    int read_rc = KAD_OK;
    for (;;) {
        int n = ev_reader_next(rd, &rec, &rerr);
        if (e->failed)
            break; /* a commit while the input was quiet failed */
        if (n == 0)
            break;
        if (n == KAD_ELIMIT) {
            if (e->pipe) {
                if (api_pipe_add_error(e->pipe, &rerr))
                    break;
            } else {
                count_skip(e, &rerr);
            }
            kad_err_clear(&rerr);
            continue;
        }
        if (n < 0) {
            read_rc = n;
            break;
        }
        int64_t end = e->in_base + (int64_t)rec.offset + (int64_t)rec.len;
        if (skip_to && end <= skip_to)
            continue;
        rec.line += (uint64_t)start_line * (e->in_base > 0);
        if (e->pipe) { /* decoded on the workers, then pipe_record */
            struct timespec rt;
            clock_gettime(CLOCK_REALTIME, &rt);
            if (api_pipe_add(e->pipe, &rec, (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000))
                break;
            continue;
        }
        int stop = process_record(e, &rec);
        scan_advance(e, &rec);
        if (stop)
            break;
        if (after_record(e, NULL) != KAD_OK)
            break;
        if (e->o.on_record)
            e->o.on_record(e->o.ud);
    }
    if (e->pipe) {
        /* the records added before the end, an error or a stop: replayed unless stopped */
        if (!e->failed)
            api_pipe_drain(e->pipe);
        api_pipe_discard(e->pipe); /* a no-op after a drain */
    }
    kad_err w;
    kad_err_clear(&w);
    int wc = ev_reader_warning(rd, &w);
    if (wc != EV_WARN_NONE)
        log_warning(e, wc, &w);
    ev_reader_close(rd);
    if (!is_stdin)
        close(fd);
    if (!e->failed)
        commit_or_fail(e, NULL); /* also after a read error: keep what was read */
    e->in_key = NULL;
    if (!e->failed) {
        kad_err perr;
        kad_err_clear(&perr);
        int prc = prune(e, &perr); /* committed by the next batch (or the final commit) */
        if (prc != KAD_OK)
            fail(e, prc, &perr);
    }
    if (e->failed)
        return failed_rc(e, err);
    if (read_rc != KAD_OK) {
        if (err) {
            *err = rerr;
            err->origin = origin; /* the reader's copy of it is freed */
        }
        return read_rc;
    }
    return KAD_OK;
}

/* ============================================================================================ */
/* In-memory bodies (the audit webhook)                                                         */
/* ============================================================================================ */

static int body_record(void *ctx, const struct ev_record *rec)
{
    kad_engine *e = ctx;
    e->req_records++;
    return process_record(e, rec);
}

/*
 * One POSTed body: frame it, run every record as a scan does, and commit (state, then alerts;
 * or alerts, fsync, state for an output file) before returning. A crash before the answer
 * makes kube-apiserver send the batch again, and the alert ids committed with the state keep
 * the replay from alerting twice.
 */
int kad_engine_body(kad_engine *e, const char *body, size_t len, uint64_t request_id,
                    const char *peer, kad_body_result *res, kad_err *err)
{
    api_engine_push_run(e);
    memset(res, 0, sizeof(*res));
    if (e->failed)
        return failed_rc(e, err);
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len || (body[i] != '{' && body[i] != '[')) {
        /* not JSON at all: refused (a framed batch with bad records is run instead, or
           kube-apiserver would send it again forever) */
        kad_err perr;
        kx_err_at(&perr, KAD_ESYNTAX, WEBHOOK_ORIGIN, body, len, (int64_t)i, "%s",
                  i == len ? "empty body: expected JSON audit events"
                           : "not JSON: expected an EventList, a JSON array or events");
        char msg[KAD_ERR_MSG_MAX + 512];
        kad_err_format(&perr, msg, sizeof(msg));
        kx_log_limited(&e->errlim, KX_LOG_WARN, "request %llu from %s: %s (refused)",
                       (unsigned long long)request_id, peer, msg);
        e->c.refused++;
        if (err)
            *err = perr;
        return KAD_ESYNTAX;
    }
    uint64_t skipped0 = e->c.skipped, events0 = e->c.events, alerts0 = e->c.alerts;
    e->req_n = request_id;
    e->req_peer = peer;
    e->req_records = 0;
    ev_frame_buffer(body, len, WEBHOOK_ORIGIN, 0, body_record, on_error, e);
    e->req_peer = NULL;
    int rc = commit_or_fail(e, err);
    res->records = e->req_records;
    res->events = e->c.events - events0;
    res->skipped = e->c.skipped - skipped0;
    res->alerts = e->c.alerts - alerts0;
    return rc;
}

/* ============================================================================================ */
/* Setup                                                                                        */
/* ============================================================================================ */

/* Open the output file: truncate it to its committed length (resume), or create it empty. */
static int open_output(kad_engine *e, kad_err *err)
{
    const char *path = e->o.output_path;
    if (!path) {
        e->out_fd = e->o.output_fd;
        return KAD_OK;
    }
    /* O_APPEND: when logrotate's copytruncate empties the file under us, the next alerts go to
       its new end instead of the old offset (which would leave a hole of NUL bytes) */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND, 0644);
    if (fd < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", path, strerror(errno));
    e->out_fd = fd;
    e->out_own = true;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return KAD_OK; /* a fifo or device: written like stdout */
    e->out_file = true;
    char real[PATH_MAX];
    const char *rp = realpath(path, real) ? real : path;
    size_t n = strlen(rp) + 8;
    e->out_key = kx_malloc(n);
    snprintf(e->out_key, n, "out:%s", rp);
    struct st_pos pos;
    kad_err perr;
    int64_t len = 0;
    /* from_start re-reads the inputs but keeps the alerts already written: their ids are in the
       state, so they are not written again, and truncating would delete them */
    if (st_mode_get(e->st) != ST_OPEN_MEM && st_pos_get(e->st, e->out_key, &pos, &perr) == KAD_OK) {
        len = pos.offset;
        if (pos.offset > sb.st_size) {
            /* shorter than committed: rotated (copytruncate) or cut by someone else. What is
               there now was written after the rotation: keep it all, never truncate it away */
            kx_log(KX_LOG_WARN,
                   "%s: shorter (%lld bytes) than its committed length (%lld): it was rotated or "
                   "truncated; appending after its current end",
                   path, (long long)sb.st_size, (long long)pos.offset);
            len = sb.st_size;
        }
    }
    if (ftruncate(fd, len) != 0 || lseek(fd, len, SEEK_SET) < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", path, strerror(errno));
    e->out_len = len;
    return KAD_OK;
}

int kad_engine_new(kad_engine **out, const kad_engine_opts *o, kad_err *err)
{
    *out = NULL;
    if (!o || !o->rules || !o->state)
        return kx_err_setf(err, KAD_EINVAL, "kad_engine_new: rules and state are required");
    kad_engine *e = kx_calloc(1, sizeof(*e));
    e->o = *o;
    if (e->o.batch <= 0)
        e->o.batch = BATCH_DEFAULT;
    e->rules = kad_rules_ref(o->rules);
    e->st = o->state->st;
    e->out_fd = -1;
    e->errlim = (kx_log_limit){"records", 10, 0};
    e->warnlim[0] = (kx_log_limit){"not-audit records", 10, 0};
    e->warnlim[1] = (kx_log_limit){"bad-time events", 10, 0};
    e->warnlim[2] = (kx_log_limit){"gzip trailing data", 10, 0};
    crash_init();
    kx_buf_init(&e->pending, (size_t)1 << 30);
    kx_buf_init(&e->outbox, (size_t)1 << 30);
    kx_arena_init(&e->arena, 64 * 1024, (size_t)256 << 20);
    kx_arena_init(&e->full_arena, 64 * 1024, (size_t)256 << 20);
    struct det_opts dopt = {
        .rules = e->rules->rs,
        .state = e->st,
        .learn = o->learn,
        .no_baseline = o->no_baseline,
        .no_prefilter = NO_PREFILTER(), /* tests/cli/test_scan_prefilter.sh */
        .now_ms = o->now_ms == KAD_TIME_NONE ? DET_TIME_NONE : o->now_ms,
        .future_ms = o->future_ms == 0  ? KAD_FUTURE_DEFAULT_MS
                     : o->future_ms < 0 ? 0
                                        : o->future_ms,
        .on_alert = on_alert,
        .ud = e,
    };
    int rc;
    if ((rc = st_begin(e->st, err)) != KAD_OK)
        goto bad;
    if (!(e->det = det_new(&dopt, err))) {
        rc = err && err->code ? err->code : KAD_ESTATE;
        goto bad;
    }
    if ((rc = open_output(e, err)) != KAD_OK)
        goto bad;
    struct api_host host;
    api_decoder_opts(&o->decode, &e->dopts, &host);
    e->dopts.keep_empty = false;
    e->dopts.ns = NULL;
    e->dopts.lim.max_size = o->decode.max_record; /* 0: the decoder's default */
    e->dec = rules_decoder(e);
    e->full_dec = ev_decoder_new(&e->dopts);
    ev_decoder_set_warning(e->dec, on_warning, e);    /* not full_dec: it decodes a record again */
    e->pipe = api_pipe_new(&pipe_ops, e, o->threads); /* each worker makes its rules_decoder */
    e->dopts.host = NULL;                             /* copied by the decoders; `host` dies here */
    e->dopts.cluster_name = NULL;                     /* copied too */
    *out = e;
    return KAD_OK;
bad:
    kad_engine_free(e);
    return rc;
}

void kad_engine_free(kad_engine *e)
{
    if (!e)
        return;
    if (e->st && st_in_batch(e->st))
        st_rollback(e->st);
    api_pipe_free(e->pipe); /* first: its workers' decoders copied e->dopts */
    if (e->o.outputs && e->outbox_open)
        api_outputs_rollback(e->o.outputs, e);
    det_free(e->det);
    ev_decoder_free(e->dec);
    ev_decoder_free(e->full_dec);
    for (size_t i = 0; i < e->nalt; i++) {
        ev_decoder_free(e->alt[i].dec);
        ev_decoder_free(e->alt[i].full_dec);
    }
    kx_free(e->alt);
    kx_arena_fini(&e->arena);
    kx_arena_fini(&e->full_arena);
    kx_buf_fini(&e->pending);
    kx_buf_fini(&e->outbox);
    if (e->out_own && e->out_fd >= 0)
        close(e->out_fd);
    kx_free(e->out_key);
    kad_rules_unref(e->rules);
    kx_free(e);
}

/* ============================================================================================ */
/* Statistics                                                                                   */
/* ============================================================================================ */

void kad_engine_stats_get(const kad_engine *e, kad_engine_stats *out)
{
    *out = e->c;
    out->matched = out->excepted = out->suppressed = 0;
    for (size_t i = 0; i < det_rule_count(e->det); i++) {
        struct det_rule_stats st;
        det_rule_stats(e->det, i, &st);
        out->matched += st.matched;
        out->excepted += st.excepted;
        out->suppressed += st.suppressed;
    }
}

size_t kad_engine_rule_count(const kad_engine *e) { return det_rule_count(e->det); }

void kad_engine_rule_stats(const kad_engine *e, size_t i, kad_rule_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->runs = det_rule_runs(e->det, i);
    out->baseline = det_rule_baseline(e->det, i);
    struct det_rule_stats st;
    det_rule_stats(e->det, i, &st);
    out->candidates = st.candidates;
    out->matched = st.matched;
    out->excepted = st.excepted;
    out->no_time = st.no_time;
    out->no_terms = st.no_terms;
    out->alerts = st.alerts;
    out->would_alert = st.would_alert;
    out->max_signals_cut = st.max_signals_cut;
    out->duplicates = st.duplicates;
    out->combos_limited = st.combos_limited;
    out->too_late = st.too_late;
    out->future = st.future;
    out->suppressed = st.suppressed;
}

const char *kad_engine_rule_reads(const kad_engine *e, size_t i, const char *prefix)
{
    const struct rule *r = det_rule(e->det, i);
    if (!det_rule_runs(e->det, i) || !r->kql)
        return NULL;
    size_t n = strlen(prefix);
    for (size_t k = 0; k < kql_field_count(r->kql); k++)
        if (strncmp(kql_field(r->kql, k), prefix, n) == 0)
            return kql_field(r->kql, k);
    return NULL;
}

size_t kad_engine_prefilter_indexed(const kad_engine *e) { return det_prefilter_indexed(e->det); }

char *kad_engine_warnings(const kad_engine *e)
{
    kx_buf w;
    kx_buf_init(&w, 1 << 20);
    det_warnings(e->det, &w);
    char *s = kx_strndup(w.ptr ? w.ptr : "", w.len);
    kx_buf_fini(&w);
    return s;
}

/*
 * cmd_scan.c - `kadet scan`: run the loaded rules over audit logs (files, .gz, stdin), write
 * alerts as NDJSON (or a table), keep the new-terms state across runs, and resume exactly after
 * a crash.
 *
 * Flow per input: reader (records with byte offsets) -> decoder (raw audit event -> ECS, only
 * the fields the rules need) -> det_process -> alerts into a pending buffer. Every batch
 * (--batch records, or when the pending alerts grow large, or at the end of an input) is
 * committed with the durability protocol of docs/internals/engine.md:
 *
 *   --output FILE:  write pending alerts, fdatasync, then commit {state, input position, output
 *                   length, alert ids} in one transaction. On start the output is truncated to
 *                   its committed length, so after kill -9 a rerun gives exactly the alerts of
 *                   one uninterrupted run (none lost, none twice).
 *   stdout:         commit first, then write: an alert id is never written twice; a crash in
 *                   the instant between the commit and the write loses that batch's alerts.
 *
 * Deviation from DESIGN 4.3 (cli includes only kad.h): this file includes the detect, rule,
 * state and event module headers directly; see docs/internals/cli-includes.txt and
 * docs/internals/engine.md.
 */
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "cmd.h"
#include "decodeopt.h"
#include "detect/detect.h"
#include "event/event.h"
#include "hostopt.h"
#include "kad.h"
#include "kql/kql.h"
#include "listen.h"
#include "rule/rule.h"
#include "rulesdir.h"
#include "state/state.h"
#include "statepath.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const struct cmd cmd_scan;

#define MAX_PATHS 64
#define PENDING_SOFT ((size_t)8 << 20)
#define PRUNE_EVERY 20

struct scan {
    /* options */
    const char *rules[MAX_PATHS];
    size_t nrules;
    const char *exceptions[MAX_PATHS];
    size_t nexceptions;
    const char *state_path;
    bool no_state;
    bool state_init; /* --state-init: an existing empty state file starts a new state */
    bool learn;
    bool table;
    bool from_start;
    bool no_baseline;
    struct cli_host host; /* default on (issue 3: host.* of this machine, as Elastic Agent) */
    struct ev_decoder_opts clock; /* --ingested, --timestamp (only those two members used) */
    int progress;                 /* -1 auto, 0 off, 1 on */
    int format;                   /* 0 auto, 1 audit, 2 ecs */
    const char *output;
    int64_t now_ms;
    long batch;
    const char *listen; /* --listen HOST:PORT: the audit webhook receiver instead of FILEs */
    const char *listen_path;
    size_t max_body;
    /* run */
    struct rule_set *rs;
    struct st_store *st;
    struct det_engine *det;
    struct ev_decoder *dec, *full_dec;
    kx_arena arena, full_arena;
    int out_fd;
    bool out_file; /* --output: exact resume by truncation */
    char *out_key;
    int64_t out_len;
    kx_buf pending;
    /* the input being read */
    const char *in_key; /* NULL or in_keybuf: the input's position key */
    char in_keybuf[PATH_MAX + 96];
    int64_t in_offset, in_base, in_line;
    const struct ev_record *rec; /* = &cur while a record is decoded, else NULL */
    struct ev_record cur;
    long in_batch;
    uint64_t batches, pruned;
    /* counters */
    uint64_t records, events, skipped, bytes, alerts, not_format;
    uint64_t skip_syntax, skip_limit, skip_other;
    kx_log_limit errlim;
    /* --listen: the request being processed (req_peer NULL otherwise) */
    uint64_t req_n, req_records, refused;
    const char *req_peer;
    double last_flush;
    int rc;
    bool fatal;  /* state, output or engine failure: stop everything (rc is EXIT_RUNTIME) */
    int lock_fd; /* flock on STATE.lock, -1 when none */
    /* progress */
    bool show_progress;
    int64_t total_bytes, done_bytes;
    double t0, last_draw;
};

/* ============================================================================================ */
/* Small helpers                                                                                */
/* ============================================================================================ */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

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

static void print_err(const kad_err *err)
{
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err_format(err, msg, sizeof(msg));
    fprintf(stderr, "kadet: %s\n", msg);
}

/* ============================================================================================ */
/* Progress                                                                                     */
/* ============================================================================================ */

static void progress(struct scan *s, bool final)
{
    if (!s->show_progress)
        return;
    double t = now_s();
    if (!final && t - s->last_draw < 0.2)
        return;
    s->last_draw = t;
    double el = t - s->t0;
    double mb = (double)s->bytes / 1e6;
    if (s->total_bytes > 0) {
        double frac =
            (double)(s->done_bytes + (s->in_offset - s->in_base)) / (double)s->total_bytes;
        if (frac > 1)
            frac = 1;
        int w = 30, fill = (int)(frac * w);
        char bar[40];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %8.1f MB %7.1f MB/s %llu alerts ", bar, (int)(frac * 100), mb,
                el > 0 ? mb / el : 0.0, (unsigned long long)s->alerts);
    } else {
        fprintf(stderr, "\r%llu records %8.1f MB %7.1f MB/s %llu alerts ",
                (unsigned long long)s->records, mb, el > 0 ? mb / el : 0.0,
                (unsigned long long)s->alerts);
    }
    if (final)
        fputs("\r\033[K", stderr);
}

/* ============================================================================================ */
/* Crash injection for tests/cli/test_scan_crash.sh                                             */
/* ============================================================================================ */

/*
 * KADET_TEST_CRASH="record:N" kills the process with SIGKILL after the Nth record;
 * "commit:N:written" after the Nth batch's alerts were written to --output but before the
 * commit; "commit:N:committed" right after the Nth commit (before stdout is written). This is
 * how the crash test reaches every point of the protocol deterministically.
 */
static struct {
    int kind; /* 0 none, 1 record, 2 commit */
    long n;
    int phase; /* 1 written, 2 committed */
    long commits;
} crash;

static void crash_init(void)
{
    const char *c = getenv("KADET_TEST_CRASH");
    char phase[16] = "";
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

/* ============================================================================================ */
/* Batches and the durability protocol                                                          */
/* ============================================================================================ */

/* Forget new-terms combinations last seen more than 2W before their rule's watermark. Twice the
   window, because the engine still judges events back to watermark - W (its horizon), and a
   combination they could meet must still be there: so results never depend on when pruning ran
   (docs/internals/engine.md). Query rules keep their alert ids (replays stay de-duplicated). */
static int prune(struct scan *s, kad_err *err)
{
    for (size_t i = 0; i < det_rule_count(s->det); i++) {
        int64_t w = det_rule_window(s->det, i);
        if (!det_rule_runs(s->det, i) || w <= 0)
            continue;
        struct st_prune_opts po = {det_rule(s->det, i)->rule_id, 2 * w, false};
        struct st_prune_result pr;
        memset(&pr, 0, sizeof(pr));
        int rc = st_prune(s->st, &po, &pr, err);
        if (rc != KAD_OK && rc != KAD_ENOTFOUND)
            return rc;
        s->pruned += pr.terms;
    }
    return KAD_OK;
}

static int commit(struct scan *s, kad_err *err)
{
    int rc;
    if (s->out_file && s->pending.len) {
        if (write_all(s->out_fd, s->pending.ptr, s->pending.len) != 0)
            return kx_err_setf(err, KAD_EIO, "%s: %s", s->output, strerror(errno));
        s->out_len += (int64_t)s->pending.len;
        kx_buf_reset(&s->pending);
        if (fdatasync(s->out_fd) != 0 && errno != EINVAL)
            return kx_err_setf(err, KAD_EIO, "%s: %s", s->output, strerror(errno));
    }
    crash.commits++;
    crash_at(2, crash.commits, 1);
    if (s->out_file && s->out_key && (rc = st_pos_set(s->st, s->out_key, s->out_len, 0, err)))
        return rc;
    if (s->in_key && (rc = st_pos_set(s->st, s->in_key, s->in_offset, s->in_line, err)))
        return rc;
    if ((rc = st_commit(s->st, err)) != KAD_OK)
        return rc;
    crash_at(2, crash.commits, 2);
    if (!s->out_file && s->pending.len) {
        if (write_all(s->out_fd, s->pending.ptr, s->pending.len) != 0)
            return kx_err_setf(err, KAD_EIO, "<stdout>: %s", strerror(errno));
        kx_buf_reset(&s->pending);
    }
    s->in_batch = 0;
    if ((rc = st_begin(s->st, err)) != KAD_OK)
        return rc;
    /* Forget combinations older than their window before the watermark (time-and-state.md):
       every PRUNE_EVERY batches and at the end of each input; it commits with the next batch. */
    if (++s->batches % PRUNE_EVERY == 0)
        return prune(s, err);
    return KAD_OK;
}

/* ============================================================================================ */
/* Alerts                                                                                       */
/* ============================================================================================ */

static void table_cell(kx_buf *b, kx_str v, int width)
{
    size_t n = v.len;
    if (width > 0 && n > (size_t)width)
        n = (size_t)width;
    for (size_t i = 0; i < n; i++) {
        char c = v.ptr[i];
        kx_buf_addc(b, (c == '\n' || c == '\t' || c == '\r') ? ' ' : c);
    }
    for (int i = (int)n; i < width; i++)
        kx_buf_addc(b, ' ');
}

static int on_alert(const struct det_alert *a, void *ud)
{
    struct scan *s = ud;
    s->alerts++;
    if (!s->table) {
        if (kx_buf_add(&s->pending, a->json, a->len) != KAD_OK ||
            kx_buf_addc(&s->pending, '\n') != KAD_OK)
            return 1;
        return 0;
    }
    char t[32];
    kx_buf *b = &s->pending;
    det_fmt_time(a->event_ms == DET_TIME_NONE ? 0 : a->event_ms, t);
    t[19] = '\0';
    table_cell(b, kx_str_c(t), 20);
    kx_buf_addc(b, ' ');
    table_cell(b, kx_str_c(a->rule->severity ? a->rule->severity : "-"), 7);
    kx_buf_addc(b, ' ');
    table_cell(b, a->user.len ? a->user : KX_STR_LIT("-"), 44);
    kx_buf_addc(b, ' ');
    if (a->nterms) {
        for (size_t i = 0; i < a->nterms; i++) {
            if (a->rule->new_terms_fields.n > i && strstr(a->rule->new_terms_fields.v[i], "user") &&
                !strstr(a->rule->new_terms_fields.v[i], "user_agent"))
                continue; /* already in the user column */
            if (i)
                kx_buf_adds(b, " | ");
            table_cell(b, a->terms[i], 0);
        }
    } else {
        kx_buf_adds(b, a->rule->name ? a->rule->name : "");
    }
    kx_buf_addc(b, '\n');
    return 0;
}

/* ============================================================================================ */
/* Decoding                                                                                     */
/* ============================================================================================ */

struct full_ctx {
    struct scan *s;
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
        kx_arena_reset(&c->s->full_arena);
        struct ev_sink sink = {full_on_event, full_on_error, c};
        ev_decode_record(c->s->full_dec, &c->s->full_arena, c->s->rec, &sink);
    }
    return c->doc;
}

static int on_event(void *ctx, const struct ev_event *ev)
{
    struct scan *s = ctx;
    if ((s->format == 1 && ev->format == EV_FMT_ECS) ||
        (s->format == 2 && ev->format != EV_FMT_ECS)) {
        s->not_format++;
        return 0;
    }
    s->events++;
    struct full_ctx fc = {s, ev->item, false, NULL};
    struct det_event de = {
        .doc = ev->doc,
        .raw = s->rec->ptr,
        .raw_len = s->rec->len,
        .full = ev->partial ? full_get : NULL,
        .full_ctx = &fc,
        .times_known = true,
        .timestamp_ms = ev->ts_ms,
        .ingested_ms = ev->ingested_ms,
    };
    kad_err err;
    kad_err_clear(&err);
    int rc = det_process(s->det, &de, &err);
    if (rc != KAD_OK) {
        print_err(&err);
        s->rc = EXIT_RUNTIME;
        s->fatal = true;
        return 1;
    }
    return 0;
}

/*
 * The input is quiet (a pipe or terminal with nothing to read yet): commit the batch so far
 * and write its alerts, so the alerts of a stream come out as its events arrive instead of
 * --batch records later. Regular files never get here (the reader does not call it for them).
 */
static void on_idle(void *ctx)
{
    struct scan *s = ctx;
    if (s->fatal || (s->in_batch == 0 && s->pending.len == 0))
        return;
    kad_err err;
    kad_err_clear(&err);
    if (commit(s, &err) != KAD_OK) {
        print_err(&err);
        s->rc = EXIT_RUNTIME;
        s->fatal = true;
    }
}

static void count_skip(struct scan *s, const kad_err *err)
{
    s->skipped++;
    if (err->code == KAD_ESYNTAX)
        s->skip_syntax++;
    else if (err->code == KAD_ELIMIT)
        s->skip_limit++;
    else
        s->skip_other++;
    char msg[KAD_ERR_MSG_MAX + 512];
    kad_err_format(err, msg, sizeof(msg));
    if (s->req_peer)
        kx_log_limited(&s->errlim, KX_LOG_WARN, "request %llu from %s: %s (record skipped)",
                       (unsigned long long)s->req_n, s->req_peer, msg);
    else
        kx_log_limited(&s->errlim, KX_LOG_WARN, "skipped record: %s", msg);
}

static void on_error(void *ctx, const kad_err *err) { count_skip(ctx, err); }

/* ============================================================================================ */
/* Inputs                                                                                       */
/* ============================================================================================ */

/* One framed record through the decoder and the engine: the same path for files, stdin and
   webhook bodies. Returns nonzero when on_event stopped (a fatal engine error). */
static int process_record(struct scan *s, const struct ev_record *rec)
{
    s->records++;
    s->bytes += rec->len;
    s->rec = rec;
    struct ev_sink sink = {on_event, on_error, s};
    if (s->clock.ingested == EV_INGESTED_NOW || s->clock.timestamp == EV_TS_RECEIVED) {
        /* one receive time per record, shared by the re-decode of the alerted document */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        ev_decoder_set_now(s->dec, ms);
        ev_decoder_set_now(s->full_dec, ms);
    }
    int stop = ev_decode_record(s->dec, &s->arena, rec, &sink);
    s->rec = NULL;
    kx_arena_reset(&s->arena);
    crash_at(1, (long)s->records, 0);
    return stop;
}

static bool is_gzip(int fd)
{
    unsigned char m[2];
    return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int scan_input(struct scan *s, const char *path, kad_err *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *origin = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "kadet: %s: %s\n", path, strerror(errno));
        s->rc = EXIT_RUNTIME;
        return KAD_OK; /* other inputs go on */
    }
    struct stat sb;
    char *key = s->in_keybuf; /* in *s: commit() reads it through s->in_key */
    bool seekable = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    s->in_key = NULL;
    s->in_offset = s->in_base = s->in_line = 0;
    if (seekable) {
        char real[PATH_MAX];
        const char *rp = is_stdin ? "<stdin>" : (realpath(path, real) ? real : path);
        snprintf(key, sizeof(s->in_keybuf), "in:%llu:%llu:%s", (unsigned long long)sb.st_dev,
                 (unsigned long long)sb.st_ino, rp);
        s->in_key = key;
        struct st_pos pos;
        kad_err perr;
        if (!s->from_start && st_pos_get(s->st, key, &pos, &perr) == KAD_OK) {
            s->in_offset = pos.offset;
            s->in_line = pos.line;
        }
    }
    bool gz = seekable && is_gzip(fd);
    int64_t skip_to = 0;
    if (s->in_offset > 0) {
        if (gz) {
            skip_to = s->in_offset; /* compressed: decompress and skip */
        } else if (lseek(fd, s->in_offset, SEEK_SET) >= 0) {
            s->in_base = s->in_offset;
        } else {
            skip_to = s->in_offset;
        }
    }
    struct ev_reader *rd = NULL;
    int rc = ev_reader_open_fd(&rd, fd, origin, 0, err);
    if (rc != KAD_OK) {
        if (!is_stdin)
            close(fd);
        print_err(err);
        s->rc = EXIT_RUNTIME;
        return KAD_OK;
    }
    ev_reader_set_idle(rd, on_idle, s);
    int64_t start_line = s->in_line;
    struct ev_record *rec = &s->cur; /* in *s: on_event reads it through s->rec */
    for (;;) {
        kad_err rerr;
        kad_err_clear(&rerr);
        int n = ev_reader_next(rd, rec, &rerr);
        if (s->fatal)
            break; /* a commit while the input was quiet failed (reported) */
        if (n == 0)
            break;
        if (n == KAD_ELIMIT) {
            count_skip(s, &rerr);
            continue;
        }
        if (n < 0) {
            print_err(&rerr);
            s->rc = EXIT_RUNTIME;
            break;
        }
        int64_t end = s->in_base + (int64_t)rec->offset + (int64_t)rec->len;
        if (skip_to && end <= skip_to)
            continue;
        rec->line += (uint64_t)start_line * (s->in_base > 0);
        int stop = process_record(s, rec);
        s->in_offset = end;
        s->in_line = (int64_t)rec->line;
        if (stop)
            break;
        if (++s->in_batch >= s->batch || s->pending.len >= PENDING_SOFT) {
            if ((rc = commit(s, err)) != KAD_OK)
                break;
        }
        progress(s, false);
    }
    if (seekable && !gz)
        s->done_bytes += sb.st_size - s->in_base;
    else if (seekable)
        s->done_bytes += sb.st_size;
    ev_reader_close(rd);
    if (!is_stdin)
        close(fd);
    if (rc == KAD_OK && !s->fatal)
        rc = commit(s, err); /* also after a read error: keep what was read */
    s->in_key = NULL;
    if (rc == KAD_OK && !s->fatal)
        rc = prune(s, err); /* committed by the next batch (or the final commit) */
    return rc;
}

/* ============================================================================================ */
/* The audit webhook receiver (--listen; HTTP in cli/listen.c)                                  */
/* ============================================================================================ */

#define LISTEN_ORIGIN "webhook"

static int listen_record(void *ctx, const struct ev_record *rec)
{
    struct scan *s = ctx;
    s->req_records++;
    return process_record(s, rec);
}

/*
 * One POSTed body (on the HTTP thread; the only thread touching *s until the server stops):
 * frame it, run every record as scan does, and commit (state, then alerts; or alerts, fsync,
 * state for --output) before the answer. A crash before the 200 makes kube-apiserver send the
 * batch again, and the alert ids committed with the state keep the replay from alerting twice.
 */
static int on_body(void *ctx, const struct cli_listen_req *rq, kx_buf *reply, bool *stop)
{
    struct scan *s = ctx;
    if (s->fatal) {
        *stop = true;
        kx_buf_adds(reply, "kadet: stopping after an error (see its stderr)\n");
        return 500;
    }
    size_t i = 0;
    while (i < rq->len && (rq->body[i] == ' ' || rq->body[i] == '\t' || rq->body[i] == '\r' ||
                           rq->body[i] == '\n'))
        i++;
    if (i == rq->len || (rq->body[i] != '{' && rq->body[i] != '[')) {
        /* not JSON at all: 400 (a framed batch with bad records is answered 200 instead, or
           kube-apiserver would send it again forever) */
        kad_err err;
        kx_err_at(&err, KAD_ESYNTAX, LISTEN_ORIGIN, rq->body, rq->len, (int64_t)i, "%s",
                  i == rq->len ? "empty body: expected JSON audit events"
                               : "not JSON: expected an EventList, a JSON array or events");
        char msg[KAD_ERR_MSG_MAX + 512];
        kad_err_format(&err, msg, sizeof(msg));
        kx_buf_addf(reply, "request %llu from %s: %s\n", (unsigned long long)rq->n, rq->peer, msg);
        kx_log_limited(&s->errlim, KX_LOG_WARN, "request %llu from %s: %s (refused)",
                       (unsigned long long)rq->n, rq->peer, msg);
        s->refused++;
        return 400;
    }
    uint64_t skipped0 = s->skipped, events0 = s->events, alerts0 = s->alerts;
    s->req_n = rq->n;
    s->req_peer = rq->peer;
    s->req_records = 0;
    ev_frame_buffer(rq->body, rq->len, LISTEN_ORIGIN, 0, listen_record, on_error, s);
    s->req_peer = NULL;
    kad_err err;
    kad_err_clear(&err);
    if (!s->fatal && commit(s, &err) != KAD_OK) {
        print_err(&err);
        s->rc = EXIT_RUNTIME;
        s->fatal = true;
    }
    if (s->fatal) {
        *stop = true;
        kx_buf_adds(reply, "kadet: stopping after an error (see its stderr)\n");
        return 500;
    }
    double t = now_s();
    if (t - s->last_flush >= 60) { /* "N more suppressed" once a minute at most */
        kx_log_flush_limited(&s->errlim);
        s->last_flush = t;
    }
    kx_buf_addf(reply, "{\"records\":%llu,\"events\":%llu,\"skipped\":%llu,\"alerts\":%llu}\n",
                (unsigned long long)s->req_records, (unsigned long long)(s->events - events0),
                (unsigned long long)(s->skipped - skipped0),
                (unsigned long long)(s->alerts - alerts0));
    return 200;
}

/* ============================================================================================ */
/* Setup and summary                                                                            */
/* ============================================================================================ */

static int load_rules(struct scan *s)
{
    s->rs = rule_set_new();
    if (s->nrules == 0) {
        /* the same search as `kadet rules` (cli/rulesdir.c, docs/rules.md) */
        const char *d = cli_rules_dir();
        s->rules[s->nrules++] = d;
    }
    int bad = 0;
    for (size_t i = 0; i < s->nrules; i++)
        bad |= rule_set_load(s->rs, s->rules[i]) != KAD_OK;
    for (size_t i = 0; i < s->nexceptions; i++)
        bad |= rule_set_load_exceptions(s->rs, s->exceptions[i]) != KAD_OK;
    for (size_t i = 0; i < rule_set_diag_count(s->rs); i++) {
        const struct rule_diag *d = rule_set_diag(s->rs, i);
        char msg[KAD_ERR_MSG_MAX + 512];
        kad_err_format(&d->err, msg, sizeof(msg));
        if (!d->is_error && strstr(msg, "unsupported rule type"))
            continue; /* counted in the summary ("loaded and skipped") */
        if (!d->is_error) {
            /* kad_err_format writes "error:"; say warning for warnings */
            char *p = strstr(msg, "error: ");
            if (p) {
                fprintf(stderr, "%.*swarning: %s\n", (int)(p - msg), msg, p + 7);
                continue;
            }
        }
        fprintf(stderr, "%s\n", msg);
    }
    if (bad) {
        fprintf(stderr, "kadet: scan: rules have errors (see above); nothing scanned\n");
        return EXIT_USAGE;
    }
    if (rule_set_count(s->rs) == 0) {
        fprintf(stderr, "kadet: scan: no rules found in the given paths\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void report_baselines(struct scan *s)
{
    for (size_t i = 0; i < det_rule_count(s->det); i++) {
        const struct rule *r = det_rule(s->det, i);
        int b = det_rule_baseline(s->det, i);
        if (b == ST_BASELINE_CHANGED)
            fprintf(stderr,
                    "kadet: rule '%s' (%s): its logic (query, fields, window or exceptions) "
                    "changed: starting a new baseline (the old one is kept until `kadet state "
                    "prune --stale`)\n",
                    r->name, r->rule_id);
        else if (b == ST_BASELINE_REVERTED)
            fprintf(stderr,
                    "kadet: rule '%s' (%s): its logic changed back to an earlier version: "
                    "resuming that baseline\n",
                    r->name, r->rule_id);
    }
}

/* Rules that test host.* fields never match raw audit events under --no-host-metadata (the
   2025 founding rule tests host.os.type): say so once, before scanning. */
static void host_hint(struct scan *s)
{
    if (!s->host.off || s->format == 2)
        return;
    for (size_t i = 0; i < det_rule_count(s->det); i++) {
        const struct rule *r = det_rule(s->det, i);
        if (!det_rule_runs(s->det, i))
            continue;
        for (size_t k = 0; k < kql_field_count(r->kql); k++) {
            if (strncmp(kql_field(r->kql, k), "host.", 5) == 0) {
                fprintf(stderr,
                        "kadet: note: rule '%s' reads %s; with --no-host-metadata raw audit "
                        "events carry no host.* fields (by default kadet adds this machine's, "
                        "as Elastic Agent does without the `forwarded` tag)\n",
                        r->name, kql_field(r->kql, k));
                return;
            }
        }
    }
}

static void summary(struct scan *s, double secs)
{
    double mb = (double)s->bytes / 1e6;
    fprintf(stderr, "kadet scan: %llu records, %llu events, %llu skipped",
            (unsigned long long)s->records, (unsigned long long)s->events,
            (unsigned long long)s->skipped);
    if (s->skipped)
        fprintf(stderr, " (invalid JSON or not an event: %llu, too large: %llu, other: %llu)",
                (unsigned long long)s->skip_syntax, (unsigned long long)s->skip_limit,
                (unsigned long long)s->skip_other);
    if (s->not_format)
        fprintf(stderr, ", %llu not in --format", (unsigned long long)s->not_format);
    if (s->pruned)
        fprintf(stderr, ", %llu combinations forgotten (older than twice their window)",
                (unsigned long long)s->pruned);
    fprintf(stderr, "; %.1f MB in %.2f s (%.0f MB/s)\n", mb, secs, secs > 0 ? mb / secs : 0.0);
    fprintf(stderr, "%-56s %10s %10s %8s %s\n", "rule", "matched", "excepted",
            s->learn ? "would" : "alerts", "notes");
    size_t not_run = 0;
    for (size_t i = 0; i < det_rule_count(s->det); i++) {
        if (!det_rule_runs(s->det, i)) {
            not_run++;
            continue;
        }
        const struct rule *r = det_rule(s->det, i);
        struct det_rule_stats st;
        det_rule_stats(s->det, i, &st);
        char name[57];
        snprintf(name, sizeof(name), "%s", r->name ? r->name : r->rule_id);
        fprintf(stderr, "%-56s %10llu %10llu %8llu", name, (unsigned long long)st.matched,
                (unsigned long long)st.excepted,
                (unsigned long long)(s->learn ? st.would_alert : st.alerts));
        const struct {
            const char *what;
            uint64_t n;
        } notes[] = {
            {"max_signals cut", st.max_signals_cut},
            {"already emitted", st.duplicates},
            {"suppressed", st.suppressed},
            {"no value", st.no_terms},
            {"no time", st.no_time},
            {"too late", st.too_late},
        };
        for (size_t k = 0; k < sizeof(notes) / sizeof(notes[0]); k++)
            if (notes[k].n)
                fprintf(stderr, " %s %llu;", notes[k].what, (unsigned long long)notes[k].n);
        fputc('\n', stderr);
    }
    size_t runs = det_rule_count(s->det) - not_run;
    if (runs > 1)
        fprintf(stderr, "(prefilter: %zu of %zu rules indexed by an exact term)\n",
                det_prefilter_indexed(s->det), runs);
    if (not_run)
        fprintf(stderr,
                "(%zu rules of types kadet does not run (eql, esql, threshold, ...) "
                "were loaded and skipped)\n",
                not_run);
    if (s->learn)
        fprintf(stderr, "learn: baseline recorded, no alerts written; 'would' is how many "
                        "alerts a scan of the same input would have raised\n");
    kx_buf w;
    kx_buf_init(&w, 1 << 20);
    det_warnings(s->det, &w);
    if (w.len)
        fputs(w.ptr, stderr);
    kx_buf_fini(&w);
}

static void log_sink(enum kx_log_level lvl, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "kadet: %s%s\n",
            lvl == KX_LOG_ERROR  ? "error: "
            : lvl == KX_LOG_WARN ? "warning: "
                                 : "",
            msg);
}

/*
 * One scan per state file: two scans resuming the same inputs into one state (and output) would
 * interleave their batches. An advisory lock on STATE.lock (flock, released when the process
 * dies, also by kill -9) makes the second one stop with exit 2 instead.
 */
static int lock_state(struct scan *s, const char *path)
{
    char lk[PATH_MAX + 8];
    snprintf(lk, sizeof(lk), "%s.lock", path);
    int fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "kadet: %s: %s\n", lk, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "kadet: state %s is in use by another kadet process\n", path);
        close(fd);
        return -1;
    }
    s->lock_fd = fd;
    return 0;
}

/* Open --output: truncate it to its committed length (resume), or create it empty. */
static int open_output(struct scan *s, kad_err *err)
{
    if (!s->output) {
        s->out_fd = 1;
        return KAD_OK;
    }
    int fd = open(s->output, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->output, strerror(errno));
    s->out_fd = fd;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->output, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return KAD_OK; /* a fifo or device: written like stdout */
    s->out_file = true;
    char real[PATH_MAX];
    const char *rp = realpath(s->output, real) ? real : s->output;
    size_t n = strlen(rp) + 8;
    s->out_key = kx_malloc(n);
    snprintf(s->out_key, n, "out:%s", rp);
    struct st_pos pos;
    kad_err perr;
    int64_t len = 0;
    if (!s->from_start && st_mode_get(s->st) != ST_OPEN_MEM &&
        st_pos_get(s->st, s->out_key, &pos, &perr) == KAD_OK && pos.offset <= sb.st_size)
        len = pos.offset;
    if (ftruncate(fd, len) != 0 || lseek(fd, len, SEEK_SET) < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", s->output, strerror(errno));
    s->out_len = len;
    return KAD_OK;
}

/* ============================================================================================ */
/* Command                                                                                      */
/* ============================================================================================ */

enum {
    OPT_RULES = 256,
    OPT_EXC,
    OPT_STATE,
    OPT_NOSTATE,
    OPT_STATE_INIT,
    OPT_LEARN,
    OPT_FORMAT,
    OPT_OUTPUT,
    OPT_TABLE,
    OPT_NOW,
    OPT_BATCH,
    OPT_FROMSTART,
    OPT_PROGRESS,
    OPT_NOPROGRESS,
    OPT_NOBASELINE,
    OPT_LISTEN,
    OPT_LISTEN_PATH,
    OPT_MAX_BODY,
};

static const struct option longopts[] = {
    {"rules", required_argument, NULL, OPT_RULES},
    {"exceptions", required_argument, NULL, OPT_EXC},
    {"state", required_argument, NULL, OPT_STATE},
    {"no-state", no_argument, NULL, OPT_NOSTATE},
    {"state-init", no_argument, NULL, OPT_STATE_INIT},
    {"learn", no_argument, NULL, OPT_LEARN},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"table", no_argument, NULL, OPT_TABLE},
    {"now", required_argument, NULL, OPT_NOW},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"from-start", no_argument, NULL, OPT_FROMSTART},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NOPROGRESS},
    {"no-baseline", no_argument, NULL, OPT_NOBASELINE},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"listen-path", required_argument, NULL, OPT_LISTEN_PATH},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"host-metadata", no_argument, NULL, CLI_HOST_ON},
    {"no-host-metadata", no_argument, NULL, CLI_HOST_OFF},
    {"host-name", required_argument, NULL, CLI_HOST_NAME},
    {"host-os-type", required_argument, NULL, CLI_HOST_OS_TYPE},
    {"ingested", required_argument, NULL, CLI_DEC_INGESTED},
    {"timestamp", required_argument, NULL, CLI_DEC_TIMESTAMP},
    {NULL, 0, NULL, 0},
};

static int parse_args(struct scan *s, int argc, char **argv)
{
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+r:s:o:", longopts, NULL)) != -1) {
        if (cli_host_opt(&s->host, c, optarg))
            continue;
        int dc = cli_decode_opt(&s->clock, c, optarg);
        if (dc < 0)
            return cmd_usage_error(&cmd_scan, "%s, not '%s'", cli_decode_usage(c), optarg);
        if (dc > 0)
            continue;
        switch (c) {
        case 'r':
        case OPT_RULES:
            if (s->nrules == MAX_PATHS)
                return cmd_usage_error(&cmd_scan, "too many --rules");
            s->rules[s->nrules++] = optarg;
            break;
        case OPT_EXC:
            if (s->nexceptions == MAX_PATHS)
                return cmd_usage_error(&cmd_scan, "too many --exceptions");
            s->exceptions[s->nexceptions++] = optarg;
            break;
        case 's':
        case OPT_STATE:
            s->state_path = optarg; /* the last of --state/--no-state wins */
            s->no_state = false;
            break;
        case OPT_STATE_INIT: s->state_init = true; break;
        case OPT_NOSTATE:
            s->no_state = true;
            s->state_path = NULL;
            break;
        case OPT_LEARN: s->learn = true; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                s->format = 0;
            else if (strcmp(optarg, "audit") == 0)
                s->format = 1;
            else if (strcmp(optarg, "ecs") == 0)
                s->format = 2;
            else
                return cmd_usage_error(&cmd_scan, "--format: expected auto, audit or ecs, got '%s'",
                                       optarg);
            break;
        case 'o':
        case OPT_OUTPUT: s->output = optarg; break;
        case OPT_TABLE: s->table = true; break;
        case OPT_NOW:
            if (!det_parse_time(optarg, strlen(optarg), &s->now_ms))
                return cmd_usage_error(&cmd_scan, "--now: not a date-time: '%s'", optarg);
            break;
        case OPT_BATCH: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1)
                return cmd_usage_error(&cmd_scan, "--batch: expected a positive number");
            s->batch = v;
            break;
        }
        case OPT_FROMSTART: s->from_start = true; break;
        case OPT_PROGRESS: s->progress = 1; break;
        case OPT_NOPROGRESS: s->progress = 0; break;
        case OPT_NOBASELINE: s->no_baseline = true; break;
        case OPT_LISTEN: {
            char msg[512];
            if (!cli_listen_addr_ok(optarg, msg, sizeof(msg)))
                return cmd_usage_error(&cmd_scan, "%s", msg);
            s->listen = optarg;
            break;
        }
        case OPT_LISTEN_PATH:
            if (optarg[0] != '/')
                return cmd_usage_error(&cmd_scan,
                                       "--listen-path: expected a path starting "
                                       "with '/', got '%s'",
                                       optarg);
            s->listen_path = optarg;
            break;
        case OPT_MAX_BODY: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            unsigned shift = 0;
            if (*end == 'K' || *end == 'k')
                shift = 10;
            else if (*end == 'M' || *end == 'm')
                shift = 20;
            else if (*end == 'G' || *end == 'g')
                shift = 30;
            if (shift)
                end++;
            if (*end || end == optarg || optarg[0] == '-' || errno || v < 1 ||
                v > ((unsigned long long)SIZE_MAX >> 1 >> shift))
                return cmd_usage_error(&cmd_scan,
                                       "--max-body: expected a positive number of bytes "
                                       "(suffix K, M or G allowed), got '%s'",
                                       optarg);
            s->max_body = (size_t)(v << shift);
            break;
        }
        case ':': return cmd_usage_error(&cmd_scan, "option '%s' needs a value", argv[optind - 1]);
        default: return cmd_usage_error(&cmd_scan, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (s->state_init && s->no_state)
        return cmd_usage_error(&cmd_scan, "--state-init starts a state file; not with --no-state");
    if (s->table && s->output)
        return cmd_usage_error(&cmd_scan, "--table writes to stdout; it excludes --output");
    if (s->listen && optind < argc)
        return cmd_usage_error(&cmd_scan, "--listen receives events over HTTP; it takes no "
                                          "FILE arguments");
    if (!s->listen && (s->listen_path || s->max_body))
        return cmd_usage_error(&cmd_scan, "--listen-path and --max-body need --listen");
    return -1;
}

static int run(int argc, char **argv)
{
    struct scan s;
    memset(&s, 0, sizeof(s));
    s.progress = -1;
    s.now_ms = DET_TIME_NONE;
    s.batch = 50000;
    s.lock_fd = -1;
    s.rc = EXIT_OK;
    s.errlim = (kx_log_limit){"records", 10, 0};
    int prc = parse_args(&s, argc, argv);
    if (prc >= 0)
        return prc;
    kx_log_set_sink(log_sink, NULL, KX_LOG_WARN);
    crash_init();

    int code = load_rules(&s);
    if (code != EXIT_OK) {
        rule_set_free(s.rs);
        return code;
    }
    kad_err err;
    kad_err_clear(&err);
    char sbuf[PATH_MAX];
    const char *spath = s.state_path;
    if (!s.no_state && !spath) {
        /* the same file as `kadet state` (cli/statepath.c: XDG, else HOME, else ./) */
        spath = cli_default_state_path(sbuf, sizeof(sbuf));
        if (!spath) {
            fprintf(stderr, "kadet: scan: the default state path is too long: give --state "
                            "FILE or --no-state\n");
            rule_set_free(s.rs);
            return EXIT_USAGE;
        }
    }
    int rc = st_open_flags(&s.st, spath, s.no_state ? ST_OPEN_MEM : ST_OPEN_RW,
                           s.state_init ? ST_OPEN_INIT : 0, &err);
    if (rc == KAD_OK && !s.no_state && lock_state(&s, spath) != 0) {
        st_close(s.st);
        rule_set_free(s.rs);
        return EXIT_RUNTIME;
    }
    if (rc != KAD_OK) {
        print_err(&err);
        rule_set_free(s.rs);
        return EXIT_RUNTIME;
    }
    struct det_opts o = {
        .rules = s.rs,
        .state = s.st,
        .learn = s.learn,
        .no_baseline = s.no_baseline,
        .no_prefilter = getenv("KADET_NO_PREFILTER") != NULL, /* tests/cli/test_scan_prefilter.sh */
        .now_ms = s.now_ms,
        .on_alert = on_alert,
        .ud = &s,
    };
    kx_buf_init(&s.pending, (size_t)1 << 30);
    kx_arena_init(&s.arena, 64 * 1024, (size_t)256 << 20);
    kx_arena_init(&s.full_arena, 64 * 1024, (size_t)256 << 20);
    s.out_fd = 1;
    if (st_begin(s.st, &err) != KAD_OK || !(s.det = det_new(&o, &err)) ||
        open_output(&s, &err) != KAD_OK) {
        print_err(&err);
        s.rc = EXIT_RUNTIME;
        goto out;
    }
    report_baselines(&s);
    host_hint(&s);
    struct ev_decoder_opts dopts;
    memset(&dopts, 0, sizeof(dopts));
    dopts.ingested = s.clock.ingested; /* archives: none (default), --ingested now */
    dopts.timestamp = s.clock.timestamp;
    dopts.host = cli_host_get(&s.host);
    s.dec = ev_decoder_new(&dopts);
    s.full_dec = ev_decoder_new(&dopts);
    if (det_needs_all(s.det)) {
        ev_decoder_need_all(s.dec);
    } else {
        for (size_t i = 0; i < det_field_count(s.det); i++) {
            const char *f = det_field(s.det, i);
            ev_decoder_need(s.dec, f, strlen(f));
        }
    }
    if (s.table && !s.learn)
        printf("%-20s %-7s %-44s %s\n", "event time (UTC)", "sev", "user", "new terms / rule");
    fflush(stdout);

    const char *stdin_only[] = {"-"};
    char **inputs = argv + optind;
    int ninputs = argc - optind;
    if (ninputs == 0) {
        inputs = (char **)stdin_only;
        ninputs = 1;
    }
    for (int i = 0; i < ninputs; i++) {
        struct stat sb;
        if (strcmp(inputs[i], "-") != 0 && stat(inputs[i], &sb) == 0 && S_ISREG(sb.st_mode))
            s.total_bytes += sb.st_size;
    }
    s.show_progress =
        s.progress == 1 || (s.progress == -1 && isatty(2) && s.total_bytes > (32 << 20));
    s.t0 = now_s();
    if (s.listen) {
        s.show_progress = false;
        s.last_flush = s.t0;
        struct cli_listen_opts lo = {
            .addr = s.listen,
            .path = s.listen_path,
            .max_body = s.max_body,
            .banner = "kadet scan",
            .on_body = on_body,
            .ctx = &s,
        };
        if (cli_listen_run(&lo) != EXIT_OK && !s.fatal) {
            s.rc = EXIT_RUNTIME; /* could not bind (reason printed): nothing was received */
            goto out;
        }
        ninputs = 0;
    }
    for (int i = 0; i < ninputs && !s.fatal; i++) {
        if (scan_input(&s, inputs[i], &err) != KAD_OK) {
            print_err(&err);
            s.rc = EXIT_RUNTIME;
            s.fatal = true;
        }
    }
    progress(&s, true);
    if (!s.fatal && commit(&s, &err) != KAD_OK) {
        print_err(&err);
        s.rc = EXIT_RUNTIME;
    }
    kx_log_flush_limited(&s.errlim);
    summary(&s, now_s() - s.t0);
    if (s.listen && s.refused)
        fprintf(stderr, "kadet scan: %llu requests refused (not JSON)\n",
                (unsigned long long)s.refused);
    /* --listen: skipped records were answered and reported per request; only a state or
       output failure makes the exit status 2 */
    if (s.skipped && s.rc == EXIT_OK && !s.listen)
        s.rc = EXIT_RUNTIME;
out:
    if (s.st && st_in_batch(s.st))
        st_rollback(s.st);
    det_free(s.det);
    ev_decoder_free(s.dec);
    ev_decoder_free(s.full_dec);
    st_close(s.st);
    rule_set_free(s.rs);
    kx_arena_fini(&s.arena);
    kx_arena_fini(&s.full_arena);
    kx_buf_fini(&s.pending);
    if (s.out_fd > 2)
        close(s.out_fd);
    if (s.lock_fd >= 0)
        close(s.lock_fd);
    kx_free(s.out_key);
    return s.rc;
}

const struct cmd cmd_scan = {
    .name = "scan",
    .summary = "run the rules over audit logs: alerts to stdout, state kept across runs",
    .usage =
        "usage: kadet scan [--rules PATH]... [--exceptions FILE]...\n"
        "                  [--state FILE [--state-init] | --no-state]\n"
        "                  [--learn] [--format auto|audit|ecs] [--output FILE | --table]\n"
        "                  [--now TIME] [--batch N] [--from-start] [--no-baseline]\n"
        "                  [--no-host-metadata] [--host-name NAME] [--host-os-type TYPE]\n"
        "                  [--ingested now|none] [--timestamp stage|request|received]\n"
        "                  [--progress | --no-progress] [FILE...|-]\n"
        "       kadet scan --listen HOST:PORT [--listen-path PATH] [--max-body BYTES] [...]\n"
        "\n"
        "Evaluate every loaded query and new_terms rule on Kubernetes audit logs (raw\n"
        "audit.k8s.io events, EventLists, or ECS documents; plain or .gz; '-' or no FILE reads\n"
        "stdin) and write one alert per line as NDJSON, in the format Elastic writes\n"
        "(docs/alerts.md). A summary per rule goes to stderr.\n"
        "\n"
        "  -r, --rules PATH       rule file or directory (repeatable; default: bundled rules/)\n"
        "      --exceptions FILE  exception list (detection-rules TOML, Kibana NDJSON export,\n"
        "                         or kadet's shorthand; repeatable)\n"
        "  -s, --state FILE       state database (default $XDG_STATE_HOME/kadet/state.db,\n"
        "                         ~/.local/state/kadet/state.db)\n"
        "      --state-init       accept an existing empty state file (0 bytes) as a new state;\n"
        "                         without it that is an error (every alert would come again)\n"
        "      --no-state         keep the state in memory only\n"
        "      --learn            build the baseline without alerting; print per rule how many\n"
        "                         alerts the same input would have raised\n"
        "      --format F         input: auto (default), audit (raw audit events only) or ecs\n"
        "  -o, --output FILE      write alerts to FILE; after a crash a rerun resumes it exactly\n"
        "      --table            print alerts as a readable table instead of NDJSON\n"
        "      --now TIME         use TIME as the alert @timestamp (reproducible output)\n"
        "      --batch N          commit the state every N records (default 50000)\n"
        "      --from-start       ignore remembered input positions (already emitted alerts\n"
        "                         are still not repeated)\n"
        "      --no-baseline      leave kadet.baseline out of alerts\n"
        "      --no-host-metadata leave host.* out of raw audit events (default: add this\n"
        "                         machine's, as Elastic Agent does without the `forwarded` tag;\n"
        "                         rules that test host.os.type need it); --host-metadata is\n"
        "                         the default and still accepted\n"
        "      --host-name NAME   host.name and host.hostname (default: this machine's)\n"
        "      --host-os-type T   host.os.type (default: from uname, e.g. linux)\n"
        "      --ingested now|none  event.ingested of raw events: the time kadet reads them\n"
        "                         (whole seconds, as for live input) or none (default: none,\n"
        "                         so event time falls back to @timestamp)\n"
        "      --timestamp SRC    @timestamp of raw events: stage (stageTimestamp, default),\n"
        "                         request (requestReceivedTimestamp) or received (now)\n"
        "      --progress, --no-progress  progress bar on stderr (default: on a terminal)\n"
        "      --listen HOST:PORT receive kube-apiserver's audit webhook (POSTed EventLists)\n"
        "                         instead of reading FILEs; each request is committed before\n"
        "                         its 200; runs until SIGINT/SIGTERM (docs/deployment.md).\n"
        "                         Port 0 picks a free port. No TLS: bind to 127.0.0.1 or put\n"
        "                         a TLS proxy in front\n"
        "      --listen-path PATH the path POSTs are accepted on (default /); GET /healthz\n"
        "                         answers ok\n"
        "      --max-body BYTES   larger request bodies get 413 (default 64M; K, M, G)\n"
        "\n"
        "Inputs already read (same file, up to the remembered offset) are skipped, so running\n"
        "the same command again only processes what was appended.\n"
        "Exit status: 0 ok, 1 usage or rule errors, 2 runtime error (unreadable input,\n"
        "skipped records, state failure; with --listen: bind or state failure only).\n",
    .run = run,
};

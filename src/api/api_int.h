/*
 * api_int.h - the handles behind include/kad.h, shared by the files of the api module (the
 * library's outermost layer: it may include every other module's header, none includes it).
 */
#ifndef KAD_API_INT_H
#define KAD_API_INT_H

#include "base/arena.h"
#include "base/buf.h"
#include "detect/detect.h"
#include "event/event.h"
#include "kad.h"
#include "kql/kql.h"
#include "output/output.h"
#include "rule/rule.h"
#include "state/state.h"

struct kad_rules {
    struct rule_set *rs;
    int refs; /* atomic */
};

struct kad_state {
    struct st_store *st;
    int lock_fd; /* -1 when no lock */
    int mode;
};

struct kad_event {
    const struct ev_event *ev;
    kad_record rec; /* the public view of ev->rec */
    kx_buf *json;   /* kad_event_json's buffer (the decoder's) */
    bool json_done;
};

struct kad_decoder {
    struct ev_decoder *dec;
    kx_arena arena;
    kx_buf json;
    const kad_decode_sink *sink; /* during kad_decode */
    bool plain;
};

/* Outputs (kad_outputs.c): the engine's side of the commit protocol. `recs` holds records
   `ID TAB JSON NEWLINE`. api_outputs_stage writes them into the open outbox batch of `owner`
   (the engine; opened at its first call: another engine's stage or commit waits until this
   batch is committed or rolled back); api_outputs_commit stages the rest and commits the batch
   (before the state's commit), *batch = its number (0: none), for api_outputs_notify after the
   state's commit. api_outputs_rollback: the engine gives its open batch up. */
int api_outputs_stage(kad_outputs *o, const void *owner, const char *recs, size_t len,
                      kad_err *err);
int api_outputs_commit(kad_outputs *o, const void *owner, const char *recs, size_t len,
                       int64_t *batch, kad_err *err);
void api_outputs_rollback(kad_outputs *o, const void *owner);
void api_outputs_notify(kad_outputs *o, int64_t batch);

/* Storage for this machine's host.* fields (ev_host_detect) with the options' overrides. */
struct api_host {
    struct ev_host host;
    char store[4096];
};
/* The host metadata, clocks and limits of o as the event module's decoder options; out->host
   points into *h (the decoder copies it, so *h need live only until ev_decoder_new). */
void api_decoder_opts(const kad_decode_opts *o, struct ev_decoder_opts *out, struct api_host *h);
/* The public record view of an event module record. */
void api_record(const struct ev_record *r, kad_record *out);

/*
 * The parallel decode of kad_engine_scan (kad_pipe.c, docs/internals/pipeline.md): records are
 * added in input order by the calling thread, decoded in batches on worker threads (and on the
 * calling thread when it would wait), and handed back to ops->record in input order on the
 * calling thread, with the outcomes of their decode in the order the decoder produced them.
 */
enum { API_PIPE_EVENT = 1, API_PIPE_ERROR, API_PIPE_WARNING };
struct api_pipe_out {
    int kind;           /* API_PIPE_* */
    int code;           /* a warning's EV_WARN_* */
    struct ev_event ev; /* an event: its document lives in the batch until the replay returns */
    const kad_err *err; /* an error (a skipped record or item) or a warning */
    const void *aux;    /* an event: ops->event_aux's result (NULL without one) */
};
struct api_pipe_ops {
    /* one decode context per thread, made and freed on the calling thread */
    void *(*worker_new)(void *ud);
    void (*worker_free)(void *w);
    /* decode one record into arena a (any thread, with that thread's context): events to
       sink->on_event, bad records to sink->on_error, warnings to warn(warn_ctx, ...) */
    int (*decode)(void *w, kx_arena *a, const struct ev_record *rec, int64_t read_ms,
                  const struct ev_sink *sink, void (*warn)(void *, int, const kad_err *),
                  void *warn_ctx);
    /* one record on the calling thread, in input order: rec NULL for a framing error of the
       reader (outs[0].err); nonzero stops the pipe (api_pipe_discard before reuse) */
    int (*record)(void *ud, const struct ev_record *rec, int64_t read_ms,
                  const struct api_pipe_out *outs, size_t n);
    /* optional (last, so that ops written before it still compile): per decoded event, on
       the decoding thread with its context, after the event was decoded into arena a: work on
       the event that needs no order (the engine's: the rules' queries, det_match); the result,
       in a, is handed back as the outcome's aux */
    const void *(*event_aux)(void *w, kx_arena *a, const struct ev_event *ev);
};
struct api_pipe;
/* NULL when threads < 2 (decode on the calling thread: no pipe). At most api_pipe_threads_max(). */
struct api_pipe *api_pipe_new(const struct api_pipe_ops *ops, void *ud, int threads);
int api_pipe_threads_max(void);
void api_pipe_free(struct api_pipe *p);
/* Add a record (its bytes are copied) or a framing error; nonzero when the replay stopped. */
int api_pipe_add(struct api_pipe *p, const struct ev_record *rec, int64_t read_ms);
int api_pipe_add_error(struct api_pipe *p, const kad_err *err);
/* Decode and replay everything added so far; nonzero when the replay stopped. */
int api_pipe_drain(struct api_pipe *p);
/* After a stop: wait for the workers' batches and forget every record not replayed. */
void api_pipe_discard(struct api_pipe *p);

/*
 * kad_engine_push (kad_feedpipe.c) on the engine's pipe (kad_engine.c). api_engine_push_open:
 * the pipe to add records of `source` to (NULL: no pipe, or the engine failed: err), after
 * running what was pushed for another source and switching the resume key; the pipe's replay
 * (pipe_record) then sets the position as kad_engine_feed_at does. api_engine_push_run: run
 * every pushed record now (every other entry point of the engine calls it first).
 * api_engine_status: KAD_OK, or the engine's failure.
 */
struct api_pipe *api_engine_push_open(kad_engine *e, const char *source, kad_err *err);
void api_engine_push_run(kad_engine *e);
int api_engine_status(const kad_engine *e, kad_err *err);

#endif

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

#endif

/*
 * kad_feedpipe.c - kad_engine_push: the parallel decode of kad_engine_scan (kad_pipe.c) for
 * callers that bring their own records (kadet serve's detection thread, fed from its spool).
 *
 * kad_engine_feed decodes each record on the calling thread before running it. A pushed record
 * is copied into the engine's pipe instead (api_pipe_add) and decoded on a worker thread or on
 * the calling thread; detection, state, alerts and positions run on the calling thread in push
 * order (the pipe's replay, pipe_record in kad_engine.c), during later pushes and at
 * kad_engine_push_wait. Every other entry point of the engine (commit, feed, position, scan,
 * body, flush) runs what was pushed first, so a caller sees the results of one thread.
 *
 * The pipe replays a record's position as kad_engine_scan's `in_base + offset + len`; a push
 * opens its source with in_base 0, which is kad_engine_feed_at's `offset + len`. Records of one
 * source are pushed without a stop; a push of another source (or of a decode set other than
 * the engine's own: the workers decode with kad_engine_opts.decode) runs what was pushed first
 * and continues one record at a time (kad_engine_feed_with).
 */
#include "api_int.h"

#include <time.h>

int kad_engine_push(kad_engine *e, const char *source, const kad_record *kr, int64_t read_ms,
                    int decode, kad_err *err)
{
    if (decode != 0)
        return kad_engine_feed_with(e, source, kr, read_ms, decode, err);
    int rc = api_engine_status(e, err);
    if (rc != KAD_OK)
        return rc;
    kad_err oerr;
    kad_err_clear(&oerr);
    struct api_pipe *p = api_engine_push_open(e, source, &oerr);
    if (!p) {
        if ((rc = api_engine_status(e, err)) != KAD_OK)
            return rc;
        if (oerr.code) {
            if (err)
                *err = oerr;
            return oerr.code;
        }
        return kad_engine_feed_at(e, source, kr, read_ms, err); /* no pipe: threads <= 1 */
    }
    if (read_ms == KAD_TIME_NONE) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        read_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    }
    struct ev_record rec = {kr->data, kr->len, kr->origin, kr->line, kr->col, kr->offset};
    if (api_pipe_add(p, &rec, read_ms))
        return api_engine_status(e, err) != KAD_OK ? api_engine_status(e, err) : KAD_EIO;
    return KAD_OK;
}

int kad_engine_push_wait(kad_engine *e, kad_err *err)
{
    api_engine_push_run(e);
    return api_engine_status(e, err);
}

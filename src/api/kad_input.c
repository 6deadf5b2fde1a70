/*
 * kad_input.c - records, decoding and queries of include/kad.h (kad_reader, kad_decoder,
 * kad_event, kad_query): the input pipeline that scan, hunt, ecs and preview share.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"

#include <string.h>

void api_record(const struct ev_record *r, kad_record *out)
{
    out->data = r->ptr;
    out->len = r->len;
    out->origin = r->origin;
    out->line = r->line;
    out->col = r->col;
    out->offset = r->offset;
}

void api_decoder_opts(const kad_decode_opts *o, struct ev_decoder_opts *out, struct api_host *h)
{
    memset(out, 0, sizeof(*out));
    if (!o)
        return;
    out->ingested = o->ingested == KAD_INGESTED_NOW ? EV_INGESTED_NOW : EV_INGESTED_NONE;
    out->timestamp = o->timestamp == KAD_TS_REQUEST    ? EV_TS_REQUEST
                     : o->timestamp == KAD_TS_RECEIVED ? EV_TS_RECEIVED
                                                       : EV_TS_STAGE;
    out->keep_empty = o->keep_empty;
    out->ns = o->ns;
    out->lim.max_size = o->max_record;
    out->cluster_name = o->cluster_name;
    if (!o->no_host) {
        ev_host_detect(&h->host, h->store, sizeof(h->store));
        if (o->host_name)
            h->host.name = h->host.hostname = o->host_name;
        if (o->host_os_type)
            h->host.os_type = o->host_os_type;
        out->host = &h->host;
    }
}

/* ---- reader ------------------------------------------------------------------------------- */

struct kad_reader {
    struct ev_reader *rd;
};

int kad_reader_open(kad_reader **out, const char *path, const kad_reader_opts *o, kad_err *err)
{
    *out = NULL;
    struct ev_reader *rd;
    int rc = ev_reader_open(&rd, path, o ? o->max_record : 0, err);
    if (rc != KAD_OK)
        return rc;
    if (o && o->on_idle)
        ev_reader_set_idle(rd, o->on_idle, o->ud);
    kad_reader *r = kx_calloc(1, sizeof(*r));
    r->rd = rd;
    *out = r;
    return KAD_OK;
}

int kad_reader_next(kad_reader *r, kad_record *rec, kad_err *err)
{
    struct ev_record er;
    int rc = ev_reader_next(r->rd, &er, err);
    if (rc == 1)
        api_record(&er, rec);
    return rc;
}

void kad_reader_close(kad_reader *r)
{
    if (!r)
        return;
    ev_reader_close(r->rd);
    kx_free(r);
}

/* ---- decoder ------------------------------------------------------------------------------ */

int kad_decoder_new(kad_decoder **out, const kad_decode_opts *o, kad_err *err)
{
    (void)err;
    kad_decoder *d = kx_calloc(1, sizeof(*d));
    struct ev_decoder_opts eo;
    struct api_host h;
    api_decoder_opts(o, &eo, &h);
    d->dec = ev_decoder_new(&eo);
    kx_arena_init(&d->arena, 1 << 16, 0);
    kx_buf_init(&d->json, 0);
    *out = d;
    return KAD_OK;
}

void kad_decoder_free(kad_decoder *d)
{
    if (!d)
        return;
    ev_decoder_free(d->dec);
    kx_arena_fini(&d->arena);
    kx_buf_fini(&d->json);
    kx_free(d);
}

int kad_decoder_need(kad_decoder *d, const char *field, size_t len)
{
    return ev_decoder_need(d->dec, field, len);
}

void kad_decoder_need_all(kad_decoder *d) { ev_decoder_need_all(d->dec); }

struct dec_ctx {
    kad_decoder *d;
    const kad_decode_sink *sink;
};

static int dec_on_event(void *ud, const struct ev_event *ev)
{
    struct dec_ctx *c = ud;
    struct kad_event ke = {.ev = ev, .json = &c->d->json};
    api_record(ev->rec, &ke.rec);
    return c->sink->on_event ? c->sink->on_event(c->sink->ud, &ke) : 0;
}

static void dec_on_error(void *ud, const kad_err *err)
{
    struct dec_ctx *c = ud;
    if (c->sink->on_error)
        c->sink->on_error(c->sink->ud, err);
}

int kad_decode(kad_decoder *d, const kad_record *kr, const kad_decode_sink *sink)
{
    struct ev_record rec = {kr->data, kr->len, kr->origin, kr->line, kr->col, kr->offset};
    struct dec_ctx c = {d, sink};
    struct ev_sink es = {dec_on_event, dec_on_error, &c};
    int rc = ev_decode_record(d->dec, &d->arena, &rec, &es);
    kx_arena_reset(&d->arena);
    return rc;
}

int kad_decode_plain(kad_decoder *d, const kad_record *kr, const kad_decode_sink *sink)
{
    struct ev_record rec = {kr->data, kr->len, kr->origin, kr->line, kr->col, kr->offset};
    kad_err err;
    kad_err_clear(&err);
    struct ev_node *doc = ev_json_parse(&d->arena, rec.ptr, rec.len, rec.origin, &err);
    int rc = KAD_OK;
    if (!doc) {
        /* positions are relative to the record; make them relative to the file */
        if (rec.line && err.line) {
            if (err.line == 1)
                err.col += rec.col - 1;
            err.line += (uint32_t)rec.line - 1;
        }
        if (sink->on_error)
            sink->on_error(sink->ud, &err);
    } else {
        struct ev_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.doc = doc;
        ev.format = EV_FMT_ECS;
        ev.rec = &rec;
        ev.ts_ms = ev.ingested_ms = EV_TIME_NONE;
        struct kad_event ke = {.ev = &ev, .json = &d->json};
        api_record(&rec, &ke.rec);
        rc = sink->on_event ? sink->on_event(sink->ud, &ke) : 0;
    }
    kx_arena_reset(&d->arena);
    return rc;
}

int kad_event_format(const kad_event *ev)
{
    switch (ev->ev->format) {
    case EV_FMT_K8S: return KAD_FMT_K8S;
    case EV_FMT_GKE: return KAD_FMT_GKE;
    case EV_FMT_AKS: return KAD_FMT_AKS;
    case EV_FMT_ECS: return KAD_FMT_ECS;
    default: return KAD_FMT_UNKNOWN;
    }
}

const kad_record *kad_event_record(const kad_event *ev) { return &ev->rec; }

const char *kad_event_json(const kad_event *cev, size_t *len)
{
    kad_event *ev = (kad_event *)cev; /* the memo of the JSON text is not part of its value */
    if (!ev->json_done) {
        kx_buf_reset(ev->json);
        if (ev_json_dump(ev->ev->doc, ev->json) != KAD_OK || kx_buf_addc(ev->json, '\0')) {
            kx_buf_reset(ev->json);
            return NULL;
        }
        ev->json->len--;
        ev->json_done = true;
    }
    *len = ev->json->len;
    return ev->json->ptr;
}

/* ---- queries ------------------------------------------------------------------------------ */

struct kad_query {
    kx_arena arena;
    const struct kql_query *q;
};

kad_query *kad_query_compile(const char *text, size_t len, kad_err *err, char **ctx)
{
    kad_query *q = kx_calloc(1, sizeof(*q));
    kx_arena_init(&q->arena, 1 << 14, 0);
    kad_err e;
    kad_err_clear(&e);
    q->q = kql_compile(&q->arena, text, len, "<query>", &e);
    if (q->q)
        return q;
    if (err)
        *err = e;
    if (ctx) {
        *ctx = NULL;
        kx_buf b;
        kx_buf_init(&b, 1 << 20);
        if (kql_err_context(text, len, &e, &b) == KAD_OK && b.len)
            *ctx = kx_strndup(b.ptr, b.len);
        kx_buf_fini(&b);
    }
    kad_query_free(q);
    return NULL;
}

void kad_query_free(kad_query *q)
{
    if (!q)
        return;
    kx_arena_fini(&q->arena);
    kx_free(q);
}

size_t kad_query_field_count(const kad_query *q) { return kql_field_count(q->q); }
const char *kad_query_field(const kad_query *q, size_t i) { return kql_field(q->q, i); }
int kad_query_needs_all(const kad_query *q) { return kql_needs_all(q->q); }

void kad_query_need(const kad_query *q, kad_decoder *d)
{
    if (kql_needs_all(q->q)) {
        ev_decoder_need_all(d->dec);
        return;
    }
    for (size_t i = 0; i < kql_field_count(q->q); i++)
        ev_decoder_need(d->dec, kql_field(q->q, i), strlen(kql_field(q->q, i)));
}

int kad_query_match(const kad_query *q, const kad_event *ev)
{
    return kql_match(q->q, ev->ev->doc);
}

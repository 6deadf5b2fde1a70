/*
 * fuzz_event_decode.c - one record through the decoders: full documents, and the extractor
 * path with the seed rule's fields declared.
 *
 * Checks beyond "no crash, no leak": field lookups on any decoded event are safe and every
 * document dumps as JSON; for a raw event both decoders agree on success and on the values of
 * the declared fields and the event metadata.
 */
#include "fuzz.h"

#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"

#include <stdlib.h>
#include <string.h>

static const char *const fields[] = {
    "kubernetes.audit.annotations.authorization_k8s_io/decision",
    "kubernetes.audit.user.username",
    "user_agent.original",
    "data_stream.dataset",
    "kubernetes.audit.stage",
    "kubernetes.audit.verb",
    "kubernetes.audit.objectRef.resource",
    "source.ip",
    "related.user",
    "event.outcome",
    "@timestamp",
};

static bool dump_visit(const struct ev_node *v, bool partial, void *ctx)
{
    kx_buf *b = ctx;
    kx_buf_addc(b, partial ? '~' : ' ');
    ev_json_dump(v, b);
    return false;
}

static void values_of(const struct ev_node *doc, kx_buf *b)
{
    kx_buf_reset(b);
    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
        kx_buf_addc(b, '|');
        ev_values(doc, fields[i], strlen(fields[i]), dump_visit, b);
    }
}

struct fctx {
    kx_buf out;
};

static int on_event(void *ctx, const struct ev_event *ev)
{
    struct fctx *c = ctx;
    values_of(ev->doc, &c->out);
    if (ev_json_dump(ev->doc, &c->out))
        abort();
    return 0;
}

FUZZ_TARGET(event_decode)
{
    struct ev_record rec = {(const char *)data, size, "<fuzz>", 1, 1, 0};
    struct ev_decoder_opts o = {.ingested = EV_INGESTED_NOW, .now_ms = 1700000000000};
    struct ev_host h = {.os_type = "linux", .name = "fuzz"};
    o.host = &h;
    struct ev_decoder *full = ev_decoder_new(&o);
    struct ev_decoder *fast = ev_decoder_new(&o);
    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++)
        ev_decoder_need(fast, fields[i], strlen(fields[i]));
    kx_arena a;
    kx_arena_init(&a, 4096, 64u << 20);
    struct fctx c;
    kx_buf_init(&c.out, 0);
    struct ev_sink sink = {on_event, NULL, &c};
    ev_decode_record(full, &a, &rec, &sink);
    kx_arena_reset(&a);

    struct ev_event e1, e2;
    kad_err r1, r2;
    int rc1 = ev_decode(full, &a, &rec, &e1, &r1);
    int rc2 = ev_decode(fast, &a, &rec, &e2, &r2);
    if ((rc1 == KAD_OK) != (rc2 == KAD_OK))
        abort();
    if (rc1 == KAD_OK) {
        kx_buf v1, v2;
        kx_buf_init(&v1, 0);
        kx_buf_init(&v2, 0);
        values_of(e1.doc, &v1);
        values_of(e2.doc, &v2);
        if (v1.len != v2.len || memcmp(v1.ptr, v2.ptr, v1.len) != 0 || e1.ts_ms != e2.ts_ms ||
            e1.ingested_ms != e2.ingested_ms || e1.format != e2.format ||
            e1.stage.len != e2.stage.len || e1.audit_id.len != e2.audit_id.len)
            abort();
        kx_buf_fini(&v1);
        kx_buf_fini(&v2);
    } else if (r1.line == 0 || r2.line == 0) {
        abort();
    }
    kx_buf_fini(&c.out);
    kx_arena_fini(&a);
    ev_decoder_free(full);
    ev_decoder_free(fast);
    return 0;
}

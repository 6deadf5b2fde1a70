/*
 * kad_input.c - records, decoding and queries of include/kad.h (kad_reader, kad_decoder,
 * kad_event, kad_query): the input pipeline that scan, hunt, ecs and preview share.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

#include <string.h>

/* the fields det_doc_id reads (ES|QL METADATA _id) */
static const char *const id_fields[] = {"_id", "_index", "kubernetes.audit.auditID",
                                        "kubernetes.audit.stage"};

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
    int lang;                  /* KAD_LANG_* */
    const struct kql_query *q; /* kuery */
    const struct eql_query *e; /* eql (event queries) */
    const struct esql_prog *p; /* esql */
    struct esql_run *run;      /* esql: the one run every event is fed to */
    kx_buf docid;
};

kad_query *kad_query_compile(const char *text, size_t len, kad_err *err, char **ctx)
{
    return kad_query_compile_lang(KAD_LANG_KUERY, text, len, err, ctx);
}

kad_query *kad_query_compile_lang(int lang, const char *text, size_t len, kad_err *err, char **ctx)
{
    kad_query *q = kx_calloc(1, sizeof(*q));
    kx_arena_init(&q->arena, 1 << 14, 0);
    kx_buf_init(&q->docid, 64 * 1024);
    q->lang = lang;
    kad_err e;
    kad_err_clear(&e);
    bool ok = false;
    if (lang == KAD_LANG_EQL) {
        q->e = eql_compile(&q->arena, text, len, "<query>", &e);
        if (q->e && eql_is_sequence(q->e)) {
            kx_err_setf(&e, KAD_EUNSUPPORTED,
                        "hunt runs EQL event queries; a sequence needs a rule (kadet scan)");
            e.origin = "<query>";
            e.line = e.col = 1;
            q->e = NULL;
        }
        ok = q->e != NULL;
    } else if (lang == KAD_LANG_ESQL) {
        q->p = esql_compile(&q->arena, text, len, "<query>", &e);
        ok = q->p != NULL;
    } else if (lang == KAD_LANG_KUERY) {
        q->q = kql_compile(&q->arena, text, len, "<query>", &e);
        ok = q->q != NULL;
    } else {
        kx_err_setf(&e, KAD_EINVAL, "unknown query language %d", lang);
    }
    if (ok)
        return q;
    if (err)
        *err = e;
    if (ctx) {
        *ctx = NULL;
        kx_buf b;
        kx_buf_init(&b, 1 << 20);
        /* the caret line is the same for every language: the query line and a column */
        if (e.line > 0 && kql_err_context(text, len, &e, &b) == KAD_OK && b.len)
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
    esql_run_free(q->run);
    kx_buf_fini(&q->docid);
    kx_arena_fini(&q->arena);
    kx_free(q);
}

int kad_query_language(const kad_query *q) { return q->lang; }

size_t kad_query_field_count(const kad_query *q)
{
    return q->q ? kql_field_count(q->q) : q->e ? eql_field_count(q->e) : esql_field_count(q->p);
}

const char *kad_query_field(const kad_query *q, size_t i)
{
    return q->q ? kql_field(q->q, i) : q->e ? eql_field(q->e, i) : esql_field(q->p, i);
}

int kad_query_needs_all(const kad_query *q)
{
    return q->q ? kql_needs_all(q->q) : q->e ? 0 : esql_needs_all(q->p);
}

void kad_query_need(const kad_query *q, kad_decoder *d)
{
    if (kad_query_needs_all(q)) {
        ev_decoder_need_all(d->dec);
        return;
    }
    for (size_t i = 0; i < kad_query_field_count(q); i++)
        ev_decoder_need(d->dec, kad_query_field(q, i), strlen(kad_query_field(q, i)));
    if (q->p) /* METADATA _id: the document id */
        for (size_t i = 0; i < sizeof(id_fields) / sizeof(id_fields[0]); i++)
            ev_decoder_need(d->dec, id_fields[i], strlen(id_fields[i]));
}

int kad_query_match(const kad_query *q, const kad_event *ev)
{
    if (q->e)
        return eql_match(q->e, ev->ev->doc);
    if (q->q)
        return kql_match(q->q, ev->ev->doc);
    return 0; /* ES|QL: kad_query_feed */
}

int kad_query_feed(kad_query *q, const kad_event *ev, int64_t now_ms, kad_err *err)
{
    if (!q->p)
        return kx_err_setf(err, KAD_EINVAL, "kad_query_feed needs an ES|QL query");
    if (!q->run)
        q->run = esql_run_new(q->p, now_ms);
    kx_buf_reset(&q->docid);
    det_doc_id(ev->ev->doc, &q->docid);
    struct esql_doc d = {
        .doc = ev->ev->doc,
        .id = {q->docid.ptr ? q->docid.ptr : "", q->docid.len},
        .index = ev_first_str(ev->ev->doc, "_index"),
        .version = 1,
    };
    return esql_run_feed(q->run, &d, err);
}

/* The result as a text table: a header line, then one line per row, columns padded to their
   widest cell (multi-values as [a, b], null as an empty cell). */
static int table(const struct esql_result *res, kx_buf *out)
{
    size_t *w = kx_calloc(res->ncols + 1, sizeof(size_t));
    kx_buf cell;
    kx_buf_init(&cell, 1 << 20);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t r = 0; r <= res->nrows; r++) {
            for (uint32_t c = 0; c < res->ncols; c++) {
                kx_buf_reset(&cell);
                if (r == 0) {
                    kx_buf_adds(&cell, res->cols[c].name);
                } else {
                    const struct esql_cell *x = &res->rows[r - 1][c];
                    if (x->n > 1)
                        kx_buf_addc(&cell, '[');
                    for (uint32_t k = 0; k < x->n; k++) {
                        if (k)
                            kx_buf_adds(&cell, ", ");
                        esql_sv_fmt(x->type, &x->v[k], &cell);
                    }
                    if (x->n > 1)
                        kx_buf_addc(&cell, ']');
                }
                if (pass == 0) {
                    if (cell.len > w[c])
                        w[c] = cell.len;
                    continue;
                }
                if (c)
                    kx_buf_adds(out, " | ");
                kx_buf_add(out, cell.ptr ? cell.ptr : "", cell.len);
                for (size_t k = cell.len; k < w[c] && c + 1 < res->ncols; k++)
                    kx_buf_addc(out, ' ');
            }
            if (pass == 1) {
                kx_buf_addc(out, '\n');
                if (r == 0) {
                    for (uint32_t c = 0; c < res->ncols; c++) {
                        if (c)
                            kx_buf_adds(out, "-+-");
                        for (size_t k = 0; k < w[c]; k++)
                            kx_buf_addc(out, '-');
                    }
                    kx_buf_addc(out, '\n');
                }
            }
        }
    }
    kx_buf_fini(&cell);
    kx_free(w);
    return kx_buf_error(out);
}

char *kad_query_rows(kad_query *q, int as_table, size_t *nrows, kad_err *err)
{
    if (!q->p) {
        kx_err_setf(err, KAD_EINVAL, "kad_query_rows needs an ES|QL query");
        return NULL;
    }
    if (!q->run)
        q->run = esql_run_new(q->p, 0);
    struct esql_result res;
    if (esql_run_finish(q->run, &res, err) != KAD_OK)
        return NULL;
    kx_buf b;
    kx_buf_init(&b, 0);
    int rc = as_table ? table(&res, &b) : esql_result_ndjson(&res, &b);
    if (rc != KAD_OK || kx_buf_error(&b) != KAD_OK) {
        kx_buf_fini(&b);
        kx_err_setf(err, KAD_ELIMIT, "ES|QL result too large");
        return NULL;
    }
    if (nrows)
        *nrows = res.nrows;
    if (res.warnings && res.first_warning)
        kx_log(KX_LOG_WARN, "ES|QL: %llu warning%s, the first: %s",
               (unsigned long long)res.warnings, res.warnings == 1 ? "" : "s", res.first_warning);
    char *text = kx_strndup(b.ptr ? b.ptr : "", b.len);
    kx_buf_fini(&b);
    return text;
}

/*
 * kad_input.c - records, decoding and queries of include/kad.h (kad_reader, kad_decoder,
 * kad_event, kad_query): the input pipeline that scan, hunt, ecs and preview share.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/vec.h"

#include <stdio.h>
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

struct hunt_ev {
    uint64_t h;
    char *src;    /* the input record's JSON, or the ECS document (kad_query_keep_ecs) */
    char **cells; /* @timestamp, _id and the query's fields as text (--table) */
};

struct kad_query {
    kx_arena arena;
    int lang;                  /* KAD_LANG_* */
    const struct kql_query *q; /* kuery */
    const struct eql_query *e; /* eql (event queries) */
    const struct esql_prog *p; /* esql */
    struct esql_run *run;      /* esql: the one run every event is fed to */
    kx_buf docid;
    /* eql sequence (hunt): the matcher, the events partial sequences hold (by handle) and the
       sequences found, rendered when found (NDJSON lines; table rows as cells) */
    struct eql_seq *seq;
    uint64_t next_h;
    bool keep_ecs;
    KX_VEC(struct hunt_ev) evs; /* ascending handles */
    uint32_t since_gc;
    kx_buf seq_out;
    KX_VEC(char *) cells; /* table cells, row after row (3 + fields per row) */
    size_t nseq;
    int seq_rc;
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
            /* no window: a hunt sees every event at once (maxspan still applies) */
            struct eql_seq_opts so = {.max_keys = 0, .lateness_ms = 0, .window_ms = 0};
            q->seq = eql_seq_new(q->e, &so);
            kx_buf_init(&q->seq_out, 0);
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

static void hunt_ev_free(const kad_query *q, struct hunt_ev *v)
{
    kx_free(v->src);
    for (size_t i = 0; v->cells && i < 2 + eql_field_count(q->e); i++)
        kx_free(v->cells[i]);
    kx_free(v->cells);
}

void kad_query_free(kad_query *q)
{
    if (!q)
        return;
    esql_run_free(q->run);
    eql_seq_free(q->seq);
    for (size_t i = 0; i < q->evs.len; i++)
        hunt_ev_free(q, &q->evs.ptr[i]);
    KX_VEC_FREE(&q->evs);
    for (size_t i = 0; i < q->cells.len; i++)
        kx_free(q->cells.ptr[i]);
    KX_VEC_FREE(&q->cells);
    if (q->seq)
        kx_buf_fini(&q->seq_out);
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
    return q->q ? kql_needs_all(q->q) : q->e ? q->seq && q->keep_ecs : esql_needs_all(q->p);
}

int kad_query_is_sequence(const kad_query *q) { return q->seq != NULL; }

void kad_query_keep_ecs(kad_query *q, int ecs) { q->keep_ecs = ecs != 0; }

void kad_query_need(const kad_query *q, kad_decoder *d)
{
    if (kad_query_needs_all(q)) {
        ev_decoder_need_all(d->dec);
        return;
    }
    for (size_t i = 0; i < kad_query_field_count(q); i++)
        ev_decoder_need(d->dec, kad_query_field(q, i), strlen(kad_query_field(q, i)));
    if (q->seq)
        ev_decoder_need(d->dec, "@timestamp", 10);
    if (q->p || q->seq) /* METADATA _id, a sequence event's _id: the document id */
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

/* ---- EQL sequences in hunt ---- */

static int table(const struct esql_result *res, kx_buf *out);

static struct hunt_ev *hunt_ev_find(kad_query *q, uint64_t h)
{
    size_t lo = 0, hi = q->evs.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->evs.ptr[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < q->evs.len && q->evs.ptr[lo].h == h ? &q->evs.ptr[lo] : NULL;
}

/* The values of path in doc as text: one value as is, several as [a, b], none as "". */
static bool cell_visit(const struct ev_node *v, bool partial, void *ctx)
{
    kx_buf *b = ctx;
    if (v->type == EV_OBJECT || v->type == EV_ARRAY)
        return true;
    if (b->len)
        kx_buf_adds(b, ", ");
    if (v->type == EV_STRING || v->type == EV_NUMBER)
        kx_buf_add(b, v->str, v->len);
    else
        kx_buf_adds(b, v->type == EV_TRUE ? "true" : v->type == EV_FALSE ? "false" : "null");
    return true;
}

static char *cell_text(const struct ev_node *doc, const char *path)
{
    kx_buf b;
    kx_buf_init(&b, 1 << 20);
    ev_values(doc, path, strlen(path), cell_visit, &b);
    char *s = kx_strndup(b.ptr ? b.ptr : "", b.len);
    kx_buf_fini(&b);
    return s;
}

static bool is_ts(const char *field) { return strcmp(field, "@timestamp") == 0; }

static void on_seq(void *ctx, const struct eql_seq_match *m)
{
    kad_query *q = ctx;
    kx_jsonw w;
    kx_jsonw_init(&w, &q->seq_out);
    kx_jsonw_obj_begin(&w);
    kx_jsonw_keyc(&w, "sequence");
    kx_jsonw_int(&w, (int64_t)++q->nseq);
    kx_jsonw_keyc(&w, "join_keys");
    kx_buf kt;
    kx_buf_init(&kt, 0);
    eql_seq_key_text(m->key, m->klen, &kt);
    kx_jsonw_raw(&w, kt.ptr ? kt.ptr : "[]", kt.ptr ? kt.len : 2);
    kx_buf_fini(&kt);
    kx_jsonw_keyc(&w, "events");
    kx_jsonw_arr_begin(&w);
    size_t nf = eql_field_count(q->e), stage = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->h[i] == EQL_SEQ_MISSING)
            continue; /* a missing-event stage has no event */
        struct hunt_ev *v = hunt_ev_find(q, m->h[i]);
        if (!v) {
            q->seq_rc = KAD_ESTATE;
            continue;
        }
        kx_jsonw_obj_begin(&w);
        kx_jsonw_keyc(&w, "_id");
        kx_jsonw_strc(&w, v->cells[1]);
        kx_jsonw_keyc(&w, "_source");
        kx_jsonw_raw(&w, v->src, strlen(v->src));
        kx_jsonw_obj_end(&w);
        char num[32];
        snprintf(num, sizeof num, "%zu", q->nseq);
        KX_VEC_PUSH(&q->cells, kx_strdup(num));
        snprintf(num, sizeof num, "%zu", ++stage);
        KX_VEC_PUSH(&q->cells, kx_strdup(num));
        for (size_t f = 0; f < 2 + nf; f++)
            if (f < 2 || !is_ts(eql_field(q->e, f - 2)))
                KX_VEC_PUSH(&q->cells, kx_strdup(v->cells[f]));
    }
    kx_jsonw_arr_end(&w);
    kx_jsonw_obj_end(&w);
    kx_buf_addc(&q->seq_out, '\n');
}

static void hunt_live(void *ctx, uint64_t h)
{
    struct hunt_ev *v = hunt_ev_find(ctx, h);
    if (v)
        v->h |= (uint64_t)1 << 63;
}

/* Drop the events no partial sequence holds. */
static void hunt_gc(kad_query *q)
{
    eql_seq_handles(q->seq, hunt_live, q);
    size_t j = 0;
    for (size_t i = 0; i < q->evs.len; i++) {
        struct hunt_ev v = q->evs.ptr[i];
        if (v.h >> 63) {
            v.h &= ~((uint64_t)1 << 63);
            q->evs.ptr[j++] = v;
        } else {
            hunt_ev_free(q, &v);
        }
    }
    q->evs.len = j;
    q->since_gc = 0;
}

static int seq_feed(kad_query *q, const kad_event *ev, kad_err *err)
{
    const struct ev_node *doc = ev->ev->doc;
    int64_t ts = EV_TIME_NONE;
    const struct ev_node *t = ev_first(doc, "@timestamp", EV_STRING);
    if (!t || !ev_time_parse(t->str, t->len, &ts))
        return KAD_OK; /* Elasticsearch cannot order an event without @timestamp */
    /* keep the event (for a sequence it may complete now), dropped below when unplaced */
    struct hunt_ev v = {q->next_h++, NULL, NULL};
    size_t nf = eql_field_count(q->e);
    const char *src;
    size_t n;
    if (q->keep_ecs) {
        src = kad_event_json(ev, &n);
        if (!src)
            return kx_err_setf(err, KAD_ELIMIT, "event too large");
    } else {
        src = ev->rec.data;
        n = ev->rec.len;
    }
    v.src = kx_strndup(src, n);
    v.cells = kx_calloc(2 + nf, sizeof *v.cells);
    v.cells[0] = kx_strndup(t->str, t->len);
    kx_buf_reset(&q->docid);
    det_doc_id(doc, &q->docid);
    v.cells[1] = kx_strndup(q->docid.ptr ? q->docid.ptr : "", q->docid.len);
    for (size_t f = 0; f < nf; f++)
        v.cells[2 + f] = cell_text(doc, eql_field(q->e, f));
    KX_VEC_PUSH(&q->evs, v);
    struct eql_seq_stats before, after;
    eql_seq_get_stats(q->seq, &before);
    int rc = eql_seq_feed(q->seq, doc, ts, v.h, on_seq, q);
    eql_seq_get_stats(q->seq, &after);
    if (after.placed == before.placed) {
        q->evs.len--;
        hunt_ev_free(q, &q->evs.ptr[q->evs.len]);
    }
    if (++q->since_gc >= 4096)
        hunt_gc(q);
    if (q->seq_rc)
        return kx_err_setf(err, KAD_ESTATE, "a sequence event was not kept");
    if (rc == KAD_ELIMIT)
        kx_log(KX_LOG_WARN, "EQL sequence: a limit dropped partial sequences");
    return KAD_OK;
}

static char *seq_rows(kad_query *q, int as_table, size_t *nrows, kad_err *err)
{
    eql_seq_tick(q->seq, INT64_MAX, on_seq, q); /* the input is over: close trailing windows */
    if (q->seq_rc) {
        kx_err_setf(err, KAD_ESTATE, "a sequence event was not kept");
        return NULL;
    }
    if (nrows)
        *nrows = q->nseq;
    if (!as_table)
        return kx_strndup(q->seq_out.ptr ? q->seq_out.ptr : "", q->seq_out.len);
    /* the table: sequence, stage, @timestamp, _id and the query's fields */
    size_t nf = eql_field_count(q->e), nc = 4;
    struct esql_colinfo *cols = kx_calloc(4 + nf, sizeof *cols);
    static const char *const first[] = {"sequence", "stage", "@timestamp", "_id"};
    for (size_t c = 0; c < 4; c++)
        cols[c] = (struct esql_colinfo){first[c], ESQL_KEYWORD};
    for (size_t f = 0; f < nf; f++)
        if (!is_ts(eql_field(q->e, f)))
            cols[nc++] = (struct esql_colinfo){eql_field(q->e, f), ESQL_KEYWORD};
    size_t nr = q->cells.len / nc;
    struct esql_sv *sv = kx_calloc(q->cells.len + 1, sizeof *sv);
    struct esql_cell *cells = kx_calloc(q->cells.len + 1, sizeof *cells);
    const struct esql_cell **rows = kx_calloc(nr + 1, sizeof *rows);
    for (size_t i = 0; i < q->cells.len; i++) {
        sv[i].u.s.p = q->cells.ptr[i];
        sv[i].u.s.n = strlen(q->cells.ptr[i]);
        cells[i] = (struct esql_cell){ESQL_KEYWORD, sv[i].u.s.n ? 1 : 0, &sv[i]};
    }
    for (size_t r = 0; r < nr; r++)
        rows[r] = &cells[r * nc];
    struct esql_result res = {.ncols = (uint32_t)nc, .cols = cols, .nrows = nr, .rows = rows};
    kx_buf b;
    kx_buf_init(&b, 0);
    char *text = NULL;
    if (table(&res, &b) != KAD_OK || kx_buf_error(&b) != KAD_OK)
        kx_err_setf(err, KAD_ELIMIT, "sequence table too large");
    else
        text = kx_strndup(b.ptr ? b.ptr : "", b.len);
    kx_buf_fini(&b);
    kx_free(cols);
    kx_free(sv);
    kx_free(cells);
    kx_free(rows);
    return text;
}

int kad_query_feed(kad_query *q, const kad_event *ev, int64_t now_ms, kad_err *err)
{
    if (q->seq)
        return seq_feed(q, ev, err);
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
    if (q->seq)
        return seq_rows(q, as_table, nrows, err);
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

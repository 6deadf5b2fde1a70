/*
 * kad_preview.c - kad_preview_run (include/kad.h): Elastic's scheduled executions of query and
 * new_terms rules replayed over documents (docs/preview.md), as Elastic's rule preview shows
 * them, on the detect module's pv_run.
 *
 * Files (not stdin) are first replayed streaming (docs/preview.md, "Memory"): one pass over the
 * input feeds each rule's pv_stream, which runs an execution as soon as the input is past its
 * range (plus a reorder window) and keeps only the documents later executions need, reduced to
 * the fields the rules read. A second pass reads the full documents of the alerted ones.
 *
 * When the input is not in event-time order beyond the reorder window (or a rule fails, or the
 * input is stdin), preview runs in memory, as before streaming: documents that match some
 * rule's query are kept (an execution looks back over the whole history window), the others
 * are dropped as they are read; the second pass is the same. Both give the same alerts.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/map.h"
#include "base/vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct input {
    struct ev_decoder *dec, *dec2;   /* documents may point into them: freed last */
    kx_arena scratch;                /* one record's events */
    kx_arena docs_arena;             /* every kept document and id, for the whole run */
    const struct rule *const *rules; /* the rules that run: a document none of whose queries
                                        match is neither candidate nor history, so not kept */
    size_t nrules;
    bool partial;     /* documents hold only the fields the rules read (files re-read later) */
    uint32_t file;    /* index of the file being read */
    uint64_t ordinal; /* events read so far from it */
    uint64_t seen;
    KX_VEC(const struct ev_node *) docs;
    KX_VEC(const char *) ids;
    KX_VEC(uint64_t) where; /* file << 40 | ordinal of each kept document */
    /* second pass: full documents of the alerted ones */
    kx_map wanted; /* where -> 1 + index in docs */
    KX_VEC(const struct ev_node *) full;
    bool second;
    uint64_t bad;
    const kad_preview_opts *o;
    uint64_t reported; /* on_error calls made (the streaming pass) */
    uint64_t mute;     /* on_error calls still to skip (made already by the streaming pass) */
    /* streaming: one stream per rule; ids of the alerted documents (wanted -> 1 + index) */
    struct pv_stream **st;
    const struct rule_set *rs;
    bool abort; /* the streaming pass cannot go on: stop reading */
    uint64_t kept;
    KX_VEC(char *) sids;
    /* streamed, second pass: the alerts of one source document are written as the document
       passes, into a spill file, so no alerted document is held (only those of EQL sequences,
       whose alerts need several): alerts of wanted index i are sal[sstart[i]..sstart[i+1]) */
    FILE *spill;
    struct pv_result *res;
    KX_VEC(struct salert) sal;
    uint32_t *sstart;
    bool *seqdoc;
    struct spilled **sp; /* per rule, per alert */
    kx_buf sbuf;
};

struct salert {
    uint32_t idx, ri, ai; /* wanted index, rule, alert */
};

struct spilled {
    uint64_t off;
    uint32_t len;
    uint8_t state; /* 0: not written, 1: in the spill file, 2: writing it failed */
};

static void spill_event(struct input *in, uint32_t idx, const struct ev_node *doc);

static void report(struct input *in, const kad_err *err)
{
    in->reported++;
    if (in->mute) {
        in->mute--;
        return;
    }
    if (in->o->on_error)
        in->o->on_error(err, in->o->ud);
}

static bool kept_doc(const struct input *in, const struct ev_node *doc)
{
    bool keep = false;
    for (size_t i = 0; i < in->nrules && !keep; i++)
        keep = det_rule_match(in->rules[i], doc) || pv_needs_every_doc(in->rules[i]);
    return keep;
}

/* The streaming pass: each rule's stream gets the document when it is eligible for it. */
static void stream_event(struct input *in, const struct ev_node *doc, uint64_t where)
{
    in->seen++;
    if (!kept_doc(in, doc))
        return;
    in->kept++;
    kx_buf id;
    kx_buf_init(&id, 0);
    det_doc_id(doc, &id);
    struct pv_clone *c = NULL;
    for (size_t i = 0; i < in->nrules && !in->abort; i++) {
        struct pv_doc d;
        pv_doc_prepare(in->rs, in->rules[i], doc, id.ptr ? id.ptr : "", &d);
        if (!d.eligible || d.ts == EV_TIME_NONE)
            continue;
        if (!c)
            c = pv_clone_new(doc, id.ptr ? id.ptr : "");
        kad_err err;
        kad_err_clear(&err);
        if (pv_stream_add(in->st[i], &d, where, c, &err) != KAD_OK)
            in->abort = true; /* out of order or an error: preview runs in memory */
    }
    pv_clone_unref(c);
    kx_buf_fini(&id);
}

/* An alert names document `where`: read it again in full (second pass), with this id. */
static void stream_ref(void *ctx, uint64_t where, const char *id)
{
    struct input *in = ctx;
    if (kx_map_get(&in->wanted, &where, sizeof(where), NULL))
        return;
    KX_VEC_PUSH(&in->sids, kx_strndup(id, strlen(id)));
    KX_VEC_PUSH(&in->full, NULL);
    kx_map_put(&in->wanted, &where, sizeof(where), (void *)(uintptr_t)in->sids.len);
}

static int on_event(void *ctx, const struct ev_event *ev)
{
    struct input *in = ctx;
    uint64_t where = (uint64_t)in->file << 40 | in->ordinal++;
    if (in->second) {
        void *v = kx_map_get(&in->wanted, &where, sizeof(where), NULL);
        if (v && in->spill)
            spill_event(in, (uint32_t)((uintptr_t)v - 1), ev->doc);
        else if (v)
            in->full.ptr[(uintptr_t)v - 1] = pv_doc_copy(&in->docs_arena, ev->doc);
        return 0;
    }
    if (in->st) {
        stream_event(in, ev->doc, where);
        return 0;
    }
    in->seen++;
    if (!kept_doc(in, ev->doc))
        return 0;
    struct ev_node *doc = pv_doc_copy(&in->docs_arena, ev->doc);
    kx_buf id;
    kx_buf_init(&id, 0);
    det_doc_id(doc, &id);
    KX_VEC_PUSH(&in->docs, doc);
    KX_VEC_PUSH(&in->ids, kx_arena_strndup(&in->docs_arena, id.ptr ? id.ptr : "", id.len));
    KX_VEC_PUSH(&in->where, where);
    kx_buf_fini(&id);
    return 0;
}

static void on_error(void *ctx, const kad_err *err)
{
    struct input *in = ctx;
    if (in->second)
        return; /* reported by the first pass */
    in->bad++;
    report(in, err);
}

static void need(const char *path, void *ud) { ev_decoder_need(ud, path, strlen(path)); }

/* Declare the fields preview reads (each rule's, det_rule_fields, and those of the document's
   id); false when some rule needs whole documents. */
static bool declare_fields(struct input *in, struct ev_decoder *d)
{
    for (size_t i = 0; i < in->nrules; i++)
        if (!det_rule_fields(in->rules[i], NULL, NULL))
            return false;
    static const char *const always[] = {"@timestamp", "_id", "kubernetes.audit.auditID",
                                         "kubernetes.audit.stage"};
    for (size_t i = 0; i < sizeof(always) / sizeof(*always); i++)
        need(always[i], d);
    for (size_t i = 0; i < in->nrules; i++)
        det_rule_fields(in->rules[i], need, d);
    return true;
}

/*
 * Read every file (or stdin). First pass: keep the documents some query matches (only the
 * fields the rules read when in->partial). Second pass (in->second): the full documents of
 * in->wanted. Returns KAD_OK or KAD_EIO (input unreadable, reported to on_error).
 */
static int read_inputs(struct input *in, const char *const *files, const struct ev_host *host,
                       int ts_source)
{
    struct ev_decoder_opts o;
    memset(&o, 0, sizeof(o)); /* archives: no event.ingested */
    o.host = host;            /* NULL: --no-host-metadata */
    o.timestamp = ts_source;  /* --timestamp stage|request */
    struct ev_decoder *d = ev_decoder_new(&o);
    if (!in->second && in->partial)
        in->partial = declare_fields(in, d);
    if (!in->second && !in->partial)
        ev_decoder_need_all(d);
    struct ev_sink sink = {on_event, on_error, in};
    int status = KAD_OK;
    for (in->file = 0; files[in->file]; in->file++) {
        struct ev_reader *rd;
        kad_err err;
        kad_err_clear(&err);
        in->ordinal = 0;
        if (ev_reader_open(&rd, files[in->file], 0, &err)) {
            if (!in->second)
                report(in, &err);
            status = KAD_EIO;
            continue;
        }
        struct ev_record rec;
        int rc;
        while (!in->abort && (rc = ev_reader_next(rd, &rec, &err)) != 0) {
            if (rc < 0) {
                if (!in->second)
                    report(in, &err);
                if (rc == KAD_ELIMIT) {
                    in->bad += !in->second;
                    continue;
                }
                status = KAD_EIO;
                break;
            }
            ev_decode_record(d, &in->scratch, &rec, &sink);
            kx_arena_reset(&in->scratch);
        }
        ev_reader_close(rd);
        if (in->abort)
            break;
    }
    /* documents may point into the decoder (e.g. host.* strings): keep it to the end */
    if (in->second)
        in->dec2 = d;
    else
        in->dec = d;
    return status;
}

/* A message for o->on_message. */
static void say(const kad_preview_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const kad_preview_opts *o, const char *fmt, ...)
{
    if (!o->on_message)
        return;
    char msg[KAD_ERR_MSG_MAX + 1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o->on_message(msg, o->ud);
}

static const char *rule_name(const struct rule *r) { return r->rule_id ? r->rule_id : r->name; }

static void print_msgs(const kad_preview_opts *o, const struct rule *r, const struct pv_result *res,
                       uint64_t *errors)
{
    for (size_t i = 0; i < res->msgs.len; i++) {
        const struct pv_msg *m = &res->msgs.ptr[i];
        char t[32];
        ev_time_fmt_ms(m->exec_ms, t);
        say(o, "rule '%s' execution at %s: %s: %s", rule_name(r), t,
            m->is_error ? "error" : "warning", m->text);
        if (m->is_error)
            (*errors)++;
    }
}

/*
 * --end auto: the executions Elastic's scheduler would have run over the documents' event
 * times: ticks at multiples of the interval (epoch-aligned), from the first tick at or after the
 * earliest eligible document to the first at or after the latest. False when no eligible
 * document has a time (nothing to run).
 */
static bool auto_ticks(const struct rule *r, const struct pv_doc *d, size_t n, struct pv_opts *o)
{
    int64_t iv = o->interval_ms ? o->interval_ms : r->interval_ms ? r->interval_ms : 300000;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (!d[i].eligible || d[i].ts == EV_TIME_NONE)
            continue;
        lo = d[i].ts < lo ? d[i].ts : lo;
        hi = d[i].ts > hi ? d[i].ts : hi;
    }
    if (lo > hi)
        return false;
    int64_t first = lo - ((lo % iv) + iv) % iv;
    first += first < lo ? iv : 0;
    int64_t last = hi - ((hi % iv) + iv) % iv;
    last += last < hi ? iv : 0;
    int64_t count = (last - first) / iv + 1;
    o->end_ms = last;
    o->interval_ms = iv;
    o->invocations = count > 1000000 ? 1000000 : (uint32_t)count;
    return true;
}

#define PREVIEW_REORDER_MS (60 * 60 * 1000) /* default reorder window of the streaming pass */

/*
 * The streaming pass (docs/preview.md, "Memory"): every rule's stream fed in one pass over the
 * files. True when it went through; false when preview must run in memory instead (input out
 * of event-time order beyond the reorder window, a rule that fails, or too many --end auto
 * ticks): then *in is back as it was before the pass, with in->mute set so that the input
 * errors this pass reported are not reported again.
 */
static bool preview_stream(struct input *in, const char *const *files, const struct ev_host *host,
                           int ts_source, const struct pv_stream_opts *so, struct pv_result *res,
                           bool *no_docs, uint64_t *executions, int *status, uint64_t *held)
{
    in->st = kx_calloc(in->nrules ? in->nrules : 1, sizeof(*in->st));
    bool ok = true;
    for (size_t ri = 0; ri < in->nrules; ri++) {
        pv_result_init(&res[ri]);
        kad_err err;
        kad_err_clear(&err);
        if (pv_stream_new(in->rules[ri], so, &res[ri], &in->st[ri], &err) != KAD_OK)
            ok = false; /* the in-memory run reports it, where it always has */
    }
    if (ok) {
        *status = read_inputs(in, files, host, ts_source);
        ok = !in->abort;
    }
    for (size_t ri = 0; ri < in->nrules && ok; ri++) {
        kad_err err;
        kad_err_clear(&err);
        uint64_t n = 0;
        ok = pv_stream_finish(in->st[ri], &n, &no_docs[ri], &err) == KAD_OK;
        *executions += n;
        *held += pv_stream_held(in->st[ri]);
    }
    for (size_t ri = 0; ri < in->nrules; ri++)
        pv_stream_free(in->st[ri]);
    kx_free(in->st);
    in->st = NULL;
    if (ok)
        return true;
    for (size_t ri = 0; ri < in->nrules; ri++)
        pv_result_fini(&res[ri]);
    for (size_t i = 0; i < in->sids.len; i++)
        kx_free(in->sids.ptr[i]);
    in->sids.len = in->full.len = 0;
    kx_map_fini(&in->wanted);
    kx_map_init(&in->wanted);
    ev_decoder_free(in->dec);
    in->dec = NULL;
    in->seen = in->kept = in->bad = 0;
    in->abort = false;
    in->partial = true;
    in->mute = in->reported;
    *executions = 0;
    return false;
}

/* The full document and id of an alert's reference (streamed: a place in the input). */
static bool alert_doc(const struct input *in, bool streamed, size_t ref, struct pv_doc *d,
                      const struct rule *r)
{
    const struct ev_node *doc;
    const char *id;
    if (streamed) {
        uint64_t where = ref;
        uintptr_t v = (uintptr_t)kx_map_get(&in->wanted, &where, sizeof(where), NULL);
        if (!v || !in->full.ptr[v - 1])
            return false; /* not found again (the file changed during the run) */
        doc = in->full.ptr[v - 1];
        id = in->sids.ptr[v - 1];
    } else {
        doc = in->full.ptr[ref] ? in->full.ptr[ref] : in->docs.ptr[ref];
        id = in->ids.ptr[ref];
    }
    pv_doc_prepare(in->rs, r, doc, id, d);
    return true;
}

/* One alert as its JSON document into buf; false when a document could not be read again. */
static bool write_alert(const struct input *in, bool streamed, const struct rule *r,
                        const struct pv_alert *a, kx_buf *buf, int *wrc)
{
    struct pv_doc d;
    if (a->row_json && a->doc == SIZE_MAX) {
        *wrc = pv_esql_alert_write(buf, r, NULL, a);
    } else if (a->seq) {
        /* a sequence alert: every event of the sequence, in full */
        struct pv_doc *dv = kx_calloc(a->seq_n, sizeof(*dv));
        bool found = true;
        for (uint32_t k = 0; k < a->seq_n && found; k++)
            found = alert_doc(in, streamed, a->seq[k], &dv[k], r);
        if (found)
            *wrc = pv_seq_alert_write(buf, r, dv, a);
        kx_free(dv);
        return found;
    } else if (!alert_doc(in, streamed, a->doc, &d, r)) {
        return false;
    } else if (a->row_json) {
        *wrc = pv_esql_alert_write(buf, r, &d, a);
    } else {
        *wrc = pv_alert_write(buf, r, &d, a);
    }
    return true;
}

/* Written as its document passes (second pass, streamed): the alerts of wanted index idx. */
static void spill_event(struct input *in, uint32_t idx, const struct ev_node *doc)
{
    if (in->seqdoc[idx])
        in->full.ptr[idx] = pv_doc_copy(&in->docs_arena, doc); /* a sequence alert needs it */
    const struct ev_node *held = in->full.ptr[idx];
    in->full.ptr[idx] = doc;
    for (uint32_t k = in->sstart[idx]; k < in->sstart[idx + 1]; k++) {
        const struct salert *s = &in->sal.ptr[k];
        struct spilled *sp = &in->sp[s->ri][s->ai];
        if (sp->state)
            continue; /* the same place read twice (a file named twice): written already */
        kx_buf_reset(&in->sbuf);
        int wrc = KAD_EIO;
        write_alert(in, true, in->rules[s->ri], &in->res[s->ri].alerts.ptr[s->ai], &in->sbuf, &wrc);
        sp->state = 2;
        if (wrc != KAD_OK)
            continue;
        off_t at = ftello(in->spill);
        if (at < 0 || fwrite(in->sbuf.ptr, 1, in->sbuf.len, in->spill) != in->sbuf.len)
            continue;
        sp->off = (uint64_t)at;
        sp->len = (uint32_t)in->sbuf.len;
        sp->state = 1;
    }
    in->full.ptr[idx] = held;
}

static int cmp_salert(const void *a, const void *b)
{
    const struct salert *x = a, *y = b;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->ri != y->ri ? (x->ri < y->ri ? -1 : 1) : (x->ai > y->ai) - (x->ai < y->ai);
}

static uint32_t wanted_idx(const struct input *in, uint64_t where)
{
    return (uint32_t)((uintptr_t)kx_map_get(&in->wanted, &where, sizeof(where), NULL) - 1);
}

/* Streamed: which alerts the second pass writes as their documents pass (and which documents
   sequence alerts need held). False when no spill file could be made (documents then held). */
static bool spill_plan(struct input *in, struct pv_result *res)
{
    in->spill = tmpfile();
    if (!in->spill)
        return false;
    size_t nw = in->sids.len;
    in->res = res;
    in->seqdoc = kx_calloc(nw ? nw : 1, sizeof(*in->seqdoc));
    in->sp = kx_calloc(in->nrules ? in->nrules : 1, sizeof(*in->sp));
    for (size_t ri = 0; ri < in->nrules; ri++) {
        in->sp[ri] = kx_calloc(res[ri].alerts.len ? res[ri].alerts.len : 1, sizeof(**in->sp));
        for (size_t ai = 0; ai < res[ri].alerts.len; ai++) {
            const struct pv_alert *a = &res[ri].alerts.ptr[ai];
            if (a->seq) {
                for (uint32_t k = 0; k < a->seq_n; k++)
                    in->seqdoc[wanted_idx(in, a->seq[k])] = true;
            } else if (a->doc != SIZE_MAX) {
                struct salert s = {wanted_idx(in, a->doc), (uint32_t)ri, (uint32_t)ai};
                KX_VEC_PUSH(&in->sal, s);
            }
        }
    }
    if (in->sal.len)
        qsort(in->sal.ptr, in->sal.len, sizeof(*in->sal.ptr), cmp_salert);
    in->sstart = kx_calloc(nw + 1, sizeof(*in->sstart));
    for (size_t k = 0; k < in->sal.len; k++)
        in->sstart[in->sal.ptr[k].idx + 1]++;
    for (size_t i = 0; i < nw; i++)
        in->sstart[i + 1] += in->sstart[i];
    kx_buf_init(&in->sbuf, 0);
    return true;
}

/* An alert written by the second pass: on_alert from the spill file. True when it was one. */
static bool spill_out(struct input *in, size_t ri, size_t ai, kx_buf *buf, int *wrc)
{
    if (!in->spill || !in->sp[ri][ai].state)
        return false;
    const struct spilled *sp = &in->sp[ri][ai];
    *wrc = KAD_EIO;
    if (sp->state != 1)
        return true;
    kx_buf_reset(buf);
    kx_buf_reserve(buf, sp->len);
    if (fseeko(in->spill, (off_t)sp->off, SEEK_SET) == 0 &&
        fread(buf->ptr, 1, sp->len, in->spill) == sp->len) {
        buf->len = sp->len;
        *wrc = KAD_OK;
    }
    return true;
}

static void spill_fini(struct input *in)
{
    if (!in->spill)
        return;
    fclose(in->spill);
    for (size_t ri = 0; ri < in->nrules; ri++)
        kx_free(in->sp[ri]);
    kx_free(in->sp);
    kx_free(in->seqdoc);
    kx_free(in->sstart);
    KX_VEC_FREE(&in->sal);
    kx_buf_fini(&in->sbuf);
}

int kad_preview_run(const kad_preview_opts *o, const char *const *files, kad_preview_result *out,
                    kad_err *err)
{
    memset(out, 0, sizeof(*out));
    const struct rule_set *rs = o->rules->rs;
    const struct rule *only_rule = NULL;
    if (o->rule && !(only_rule = rule_set_lookup(rs, o->rule)))
        return kx_err_setf(err, KAD_ENOTFOUND, "no rule '%s'", o->rule);
    bool auto_end = o->end_ms == KAD_TIME_NONE;
    struct pv_opts po = {auto_end ? 0 : o->end_ms, o->invocations ? o->invocations : 1,
                         o->interval_ms};

    /* the rules that run */
    KX_VEC(const struct rule *) run_rules = {0};
    for (size_t ri = 0; ri < rule_set_count(rs); ri++) {
        const struct rule *r = rule_set_get(rs, ri);
        if (only_rule && r != only_rule)
            continue;
        if (!pv_runs(r)) {
            say(o, "rule '%s': type %s is not run%s", rule_name(r), r->type_name,
                r->type == RULE_EQL || r->type == RULE_ESQL ? " (no compiled query)" : "");
            continue;
        }
        KX_VEC_PUSH(&run_rules, r);
    }

    /* documents */
    struct input in;
    memset(&in, 0, sizeof(in));
    kx_arena_init(&in.scratch, 1 << 16, 0);
    kx_arena_init(&in.docs_arena, 1 << 20, 0);
    kx_map_init(&in.wanted);
    in.rules = run_rules.ptr;
    in.nrules = run_rules.len;
    in.rs = rs;
    in.o = o;
    static const char *const stdin_only[] = {"-", NULL};
    if (!files || !files[0])
        files = stdin_only;
    in.partial = true;
    for (const char *const *f = files; *f; f++)
        if (strcmp(*f, "-") == 0)
            in.partial = false; /* standard input cannot be read twice */
    struct api_host hbuf;
    struct ev_decoder_opts eo;
    api_decoder_opts(&o->decode, &eo, &hbuf);
    int ts_source = o->decode.timestamp == KAD_TS_REQUEST ? EV_TS_REQUEST : EV_TS_STAGE;
    struct pv_result *res = kx_calloc(run_rules.len ? run_rules.len : 1, sizeof(*res));
    uint64_t executions = 0;
    int status = KAD_OK;

    /* streaming first (files only) */
    bool *no_docs = kx_calloc(run_rules.len ? run_rules.len : 1, sizeof(*no_docs));
    struct pv_stream_opts so;
    memset(&so, 0, sizeof(so));
    so.o = po;
    so.auto_end = auto_end;
    so.lag_ms = o->reorder_ms > 0 ? o->reorder_ms : PREVIEW_REORDER_MS;
    so.on_ref = stream_ref;
    so.ctx = &in;
    bool streamed = in.partial && !o->in_memory &&
                    preview_stream(&in, files, eo.host, ts_source, &so, res, no_docs,
                                   &executions, &status, &out->held);
    for (size_t ri = 0; streamed && ri < run_rules.len; ri++)
        if (no_docs[ri])
            say(o, "rule '%s': no document in any execution", rule_name(run_rules.ptr[ri]));
    kx_free(no_docs);

    /* in memory: executions, rule by rule, over every kept document */
    struct pv_doc *pd = NULL;
    if (!streamed) {
        status = read_inputs(&in, files, eo.host, ts_source);
        pd = kx_malloc((in.docs.len ? in.docs.len : 1) * sizeof(*pd));
    }
    for (size_t ri = 0; !streamed && ri < run_rules.len; ri++) {
        const struct rule *r = run_rules.ptr[ri];
        for (size_t i = 0; i < in.docs.len; i++)
            pv_doc_prepare(rs, r, in.docs.ptr[i], in.ids.ptr[i], &pd[i]);
        pv_result_init(&res[ri]);
        kad_err perr;
        kad_err_clear(&perr);
        struct pv_opts ro = po;
        if (auto_end && !auto_ticks(r, pd, in.docs.len, &ro)) {
            say(o, "rule '%s': no document in any execution", rule_name(r));
            continue;
        }
        executions += ro.invocations;
        if (pv_run(r, pd, in.docs.len, &ro, &res[ri], &perr) != KAD_OK) {
            say(o, "rule '%s': %s", rule_name(r), perr.msg);
            out->rule_errors++;
        }
        for (size_t i = 0; i < res[ri].alerts.len; i++) {
            size_t di = res[ri].alerts.ptr[i].doc;
            if (di == SIZE_MAX)
                continue; /* an ES|QL aggregate: no source document */
            kx_map_put(&in.wanted, &in.where.ptr[di], sizeof(uint64_t),
                       (void *)(uintptr_t)(di + 1));
        }
    }

    /* the alerted documents in full: a second pass over the files */
    if (!streamed) {
        KX_VEC_GROW(&in.full, in.docs.len);
        for (size_t i = 0; i < in.docs.len; i++)
            in.full.ptr[i] = in.partial ? NULL : in.docs.ptr[i];
        in.full.len = in.docs.len;
    }
    if (streamed && in.wanted.len)
        spill_plan(&in, res);
    if ((streamed || in.partial) && in.wanted.len) {
        in.second = true; /* streamed: the window forgot even whole documents */
        read_inputs(&in, files, eo.host, ts_source);
    }

    /* alerts and messages, rule by rule */
    kx_buf buf;
    kx_buf_init(&buf, 0);
    size_t total = 0;
    bool lost = false;
    for (size_t ri = 0; ri < run_rules.len; ri++) {
        const struct rule *r = run_rules.ptr[ri];
        for (size_t i = 0; i < res[ri].alerts.len; i++) {
            kx_buf_reset(&buf);
            int wrc = KAD_EIO;
            if (!spill_out(&in, ri, i, &buf, &wrc) &&
                !write_alert(&in, streamed, r, &res[ri].alerts.ptr[i], &buf, &wrc))
                lost = true;
            if (wrc == KAD_OK && o->on_alert)
                o->on_alert(buf.ptr, buf.len, o->ud);
        }
        total += res[ri].alerts.len;
        print_msgs(o, r, &res[ri], &out->exec_errors);
        pv_result_fini(&res[ri]);
    }
    if (lost) {
        say(o, "some alerted documents were not found when the input was read again (did it "
               "change during the run?): their alerts are not written");
        status = KAD_EIO;
    }
    spill_fini(&in);
    kx_free(res);
    out->events = in.seen;
    out->kept = streamed ? in.kept : in.docs.len;
    out->streamed = streamed;
    if (!streamed)
        out->held = in.docs.len;
    out->executions = executions;
    out->alerts = total;
    out->skipped = in.bad;
    out->input_errors = status != KAD_OK;
    kx_buf_fini(&buf);
    kx_free(pd);
    for (size_t i = 0; i < in.sids.len; i++)
        kx_free(in.sids.ptr[i]);
    KX_VEC_FREE(&in.sids);
    KX_VEC_FREE(&in.docs);
    KX_VEC_FREE(&in.ids);
    KX_VEC_FREE(&in.where);
    KX_VEC_FREE(&in.full);
    kx_map_fini(&in.wanted);
    kx_arena_fini(&in.docs_arena);
    kx_arena_fini(&in.scratch);
    KX_VEC_FREE(&run_rules);
    ev_decoder_free(in.dec);
    ev_decoder_free(in.dec2);
    return KAD_OK;
}

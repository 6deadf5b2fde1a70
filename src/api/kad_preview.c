/*
 * kad_preview.c - kad_preview_run (include/kad.h): Elastic's scheduled executions of query and
 * new_terms rules replayed over documents (docs/preview.md), as Elastic's rule preview shows
 * them, on the detect module's pv_run.
 *
 * Documents that match some rule's query are kept in memory (an execution looks back over the
 * whole history window); the others are dropped as they are read. When every input can be read
 * twice (not stdin), the first pass keeps only the fields the rules read and a second pass
 * reads the full documents of the alerted ones.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/map.h"
#include "base/vec.h"

#include <stdarg.h>
#include <stdio.h>
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
};

static int on_event(void *ctx, const struct ev_event *ev)
{
    struct input *in = ctx;
    uint64_t where = (uint64_t)in->file << 40 | in->ordinal++;
    if (in->second) {
        void *v = kx_map_get(&in->wanted, &where, sizeof(where), NULL);
        if (v)
            in->full.ptr[(uintptr_t)v - 1] = pv_doc_copy(&in->docs_arena, ev->doc);
        return 0;
    }
    in->seen++;
    bool keep = false;
    for (size_t i = 0; i < in->nrules && !keep; i++)
        keep = det_rule_match(in->rules[i], ev->doc) || pv_needs_every_doc(in->rules[i]);
    if (!keep)
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
    if (in->o->on_error)
        in->o->on_error(err, in->o->ud);
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
            if (!in->second && in->o->on_error)
                in->o->on_error(&err, in->o->ud);
            status = KAD_EIO;
            continue;
        }
        struct ev_record rec;
        int rc;
        while ((rc = ev_reader_next(rd, &rec, &err)) != 0) {
            if (rc < 0) {
                if (!in->second && in->o->on_error)
                    in->o->on_error(&err, in->o->ud);
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
    int status = read_inputs(&in, files, eo.host, ts_source);

    /* executions, rule by rule */
    struct pv_doc *pd = kx_malloc((in.docs.len ? in.docs.len : 1) * sizeof(*pd));
    struct pv_result *res = kx_calloc(run_rules.len ? run_rules.len : 1, sizeof(*res));
    uint64_t executions = 0;
    for (size_t ri = 0; ri < run_rules.len; ri++) {
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
    KX_VEC_GROW(&in.full, in.docs.len);
    for (size_t i = 0; i < in.docs.len; i++)
        in.full.ptr[i] = in.partial ? NULL : in.docs.ptr[i];
    in.full.len = in.docs.len;
    if (in.partial && in.wanted.len) {
        in.second = true;
        read_inputs(&in, files, eo.host, ts_source);
    }

    /* alerts and messages, rule by rule */
    kx_buf buf;
    kx_buf_init(&buf, 0);
    size_t total = 0;
    for (size_t ri = 0; ri < run_rules.len; ri++) {
        const struct rule *r = run_rules.ptr[ri];
        for (size_t i = 0; i < res[ri].alerts.len; i++) {
            const struct pv_alert *a = &res[ri].alerts.ptr[i];
            kx_buf_reset(&buf);
            int wrc;
            if (a->row_json && a->doc == SIZE_MAX) {
                wrc = pv_esql_alert_write(&buf, r, NULL, a);
            } else if (a->row_json) {
                struct pv_doc d;
                pv_doc_prepare(rs, r,
                               in.full.ptr[a->doc] ? in.full.ptr[a->doc] : in.docs.ptr[a->doc],
                               in.ids.ptr[a->doc], &d);
                wrc = pv_esql_alert_write(&buf, r, &d, a);
            } else if (a->seq) {
                /* a sequence alert: every event of the sequence, in full */
                struct pv_doc *dv = kx_calloc(a->seq_n, sizeof(*dv));
                for (uint32_t k = 0; k < a->seq_n; k++) {
                    size_t di = a->seq[k];
                    pv_doc_prepare(rs, r, in.full.ptr[di] ? in.full.ptr[di] : in.docs.ptr[di],
                                   in.ids.ptr[di], &dv[k]);
                }
                wrc = pv_seq_alert_write(&buf, r, dv, a);
                kx_free(dv);
            } else {
                struct pv_doc d;
                pv_doc_prepare(rs, r,
                               in.full.ptr[a->doc] ? in.full.ptr[a->doc] : in.docs.ptr[a->doc],
                               in.ids.ptr[a->doc], &d);
                wrc = pv_alert_write(&buf, r, &d, a);
            }
            if (wrc == KAD_OK && o->on_alert)
                o->on_alert(buf.ptr, buf.len, o->ud);
        }
        total += res[ri].alerts.len;
        print_msgs(o, r, &res[ri], &out->exec_errors);
        pv_result_fini(&res[ri]);
    }
    kx_free(res);
    out->events = in.seen;
    out->kept = in.docs.len;
    out->executions = executions;
    out->alerts = total;
    out->skipped = in.bad;
    out->input_errors = status != KAD_OK;
    kx_buf_fini(&buf);
    kx_free(pd);
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

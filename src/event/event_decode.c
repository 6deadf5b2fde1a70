/*
 * event_decode.c - records -> ECS events: format detection, the fast path through the
 * extractor, the full path, EventList/array items, positioned per-record errors and counters.
 *
 * Fast path: when the caller declared the ECS fields it reads (ev_decoder_need), each needed
 * ECS field is translated into the raw audit paths it is computed from (the table below), plus
 * the control paths every decode needs (kind, apiVersion, auditID, stage, timestamps, and the
 * GKE rename sources). The extractor builds only those members; the same mapping as the full
 * path then runs on that partial tree. Keys that mean "not a raw Event" (protoPayload,
 * kubernetes, items, category) abort the extractor and the record takes the full path, so the
 * rarer formats cost a full parse and never a wrong answer.
 *
 * This file does no I/O (records come from event_reader.c or the caller).
 */
#include "event/event.h"

#include "base/alloc.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

struct ev_decoder {
    struct ev_decoder_opts o;
    struct ev_host host;
    struct ev_host_tree host_tree; /* host.* built once (strings in host_store) */
    bool has_host;
    char host_store[1024];
    char cluster[256]; /* o.cluster_name's copy */
    char ns[128];
    struct ev_paths *paths; /* NULL = full documents */
    uint32_t emit;          /* with paths: EV_EMIT_* bits the declared paths reach */
    bool need_all;          /* a need_all() happened: full documents for good */
    struct ev_decode_stats st;
    void (*warn)(void *ctx, int code, const kad_err *w);
    void *warn_ctx;
};

void ev_decoder_set_warning(struct ev_decoder *d, void (*fn)(void *ctx, int code, const kad_err *w),
                            void *ctx)
{
    d->warn = fn;
    d->warn_ctx = ctx;
}

const char *ev_warn_name(int code)
{
    switch (code) {
    case EV_WARN_GZIP_TRAILING: return "gzip-trailing-garbage";
    case EV_WARN_NOT_AUDIT: return "not-audit";
    case EV_WARN_BAD_TIME: return "bad-time";
    default: return "none";
    }
}

/* Internal: map_one's answer for a record that is skipped on purpose (err holds why). */
#define EV_SKIP 1

static void warn_at(struct ev_decoder *d, int code, const kad_err *w)
{
    if (code == EV_WARN_NOT_AUDIT)
        d->st.skipped++;
    else if (code == EV_WARN_BAD_TIME)
        d->st.bad_time++;
    if (d->warn)
        d->warn(d->warn_ctx, code, w);
}

/* The bad-time warning of a decoded event, positioned at its record. */
static void warn_time(struct ev_decoder *d, const struct ev_record *rec, const struct ev_event *ev)
{
    if (ev->warn != EV_WARN_BAD_TIME)
        return;
    kad_err w;
    kx_err_atlc(&w, KAD_EINVAL, rec->origin, (uint32_t)rec->line, rec->col, (int64_t)rec->offset,
                "%sevent %.*s: %s is not a date: no @timestamp (Elastic refuses such a "
                "document at indexing; --timestamp received gives it the read time)",
                ev->item ? "list item: " : "", (int)(ev->audit_id.len > 64 ? 64 : ev->audit_id.len),
                ev->audit_id.ptr ? ev->audit_id.ptr : "", ev->warn_field);
    warn_at(d, EV_WARN_BAD_TIME, &w);
}

/* Control paths: always extracted (format detection, metadata, the GKE renames). */
static const char *const control_paths[] = {
    "kind",     "apiVersion",       "auditID",
    "stage",    "stageTimestamp",   "timestamp",
    "insertId", "receiveTimestamp", "requestReceivedTimestamp",
};
static const char *const abort_paths[] = {"protoPayload", "kubernetes", "items", "category",
                                          "properties"};

/* ECS field -> raw audit paths it is computed from (see ev_ecs_map). */
static const struct {
    const char *ecs;
    const char *raw[3];
} ecs_sources[] = {
    {"event.action", {"verb"}},
    {"event.outcome", {"annotations", "labels"}},
    {"user.name", {"user.username"}},
    {"user.id", {"user.uid"}},
    {"user_agent.original", {"userAgent"}},
    {"source.ip", {"sourceIPs"}},
    {"client.ip", {"sourceIPs"}},
    {"related.ip", {"sourceIPs"}},
    {"related.user", {"user.uid", "user.username"}},
    {"orchestrator.api_version", {"apiVersion"}},
    {"orchestrator.namespace", {"objectRef.namespace"}},
    {"orchestrator.resource.name", {"objectRef.name"}},
    {"orchestrator.resource.type", {"objectRef.resource", "resource.type"}},
    {"orchestrator.cluster.name", {"resource.labels.cluster_name"}},
    {"orchestrator.cluster.id", {"resource.labels.project_id"}},
};

struct ev_decoder *ev_decoder_new(const struct ev_decoder_opts *o)
{
    struct ev_decoder *d = kx_calloc(1, sizeof(*d));
    if (o)
        d->o = *o;
    snprintf(d->ns, sizeof(d->ns), "%s", o && o->ns ? o->ns : "default");
    d->o.ns = d->ns;
    if (o && o->host) {
        /* copy the strings so the caller's storage may go */
        char *s = d->host_store;
        size_t left = sizeof(d->host_store);
        const char *const *src = (const char *const *)o->host;
        const char **dst = (const char **)&d->host;
        for (size_t i = 0; i < sizeof(d->host) / sizeof(char *); i++) {
            dst[i] = NULL;
            if (!src[i])
                continue;
            size_t n = strlen(src[i]);
            if (n + 1 > left)
                continue;
            memcpy(s, src[i], n + 1);
            dst[i] = s;
            s += n + 1;
            left -= n + 1;
        }
        d->has_host = true;
        ev_ecs_host_tree(&d->host_tree, &d->host, d->o.keep_empty);
    }
    d->o.host = d->has_host ? &d->host : NULL;
    if (o && o->cluster_name) {
        snprintf(d->cluster, sizeof(d->cluster), "%s", o->cluster_name);
        d->o.cluster_name = d->cluster;
    }
    return d;
}

void ev_decoder_free(struct ev_decoder *d)
{
    if (!d)
        return;
    ev_paths_free(d->paths);
    kx_free(d);
}

const struct ev_decode_stats *ev_decoder_stats(const struct ev_decoder *d) { return &d->st; }

void ev_decoder_need_all(struct ev_decoder *d)
{
    ev_paths_free(d->paths);
    d->paths = NULL;
    d->need_all = true;
}

/* a is b, or a dot-prefix of b */
static bool dot_prefix(const char *a, size_t al, const char *b, size_t bl)
{
    return al <= bl && memcmp(a, b, al) == 0 && (al == bl || b[al] == '.');
}

static bool overlap(const char *a, size_t al, const char *b, size_t bl)
{
    return dot_prefix(a, al, b, bl) || dot_prefix(b, bl, a, al);
}

/* ECS fields of the mapping -> EV_EMIT_* (a group: one bit builds all its members). */
static const struct {
    const char *field;
    uint32_t bit;
} emit_fields[] = {
    {"@timestamp", EV_EMIT_TIMESTAMP},
    {"event.kind", EV_EMIT_EV_KIND},
    {"event.action", EV_EMIT_EV_ACTION},
    {"event.outcome", EV_EMIT_EV_OUTCOME},
    {"event.dataset", EV_EMIT_EV_DATASET},
    {"event.ingested", EV_EMIT_EV_INGESTED},
    {"data_stream", EV_EMIT_DATA_STREAM},
    {"user", EV_EMIT_USER},
    {"user_agent", EV_EMIT_USER_AGENT},
    {"source", EV_EMIT_SOURCE},
    {"client", EV_EMIT_CLIENT},
    {"related", EV_EMIT_RELATED},
    {"orchestrator", EV_EMIT_ORCH},
    {"host", EV_EMIT_HOST},
};

uint32_t ev_emit_bits(const char *path, size_t len)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < sizeof(emit_fields) / sizeof(*emit_fields); i++)
        if (overlap(path, len, emit_fields[i].field, strlen(emit_fields[i].field)))
            bits |= emit_fields[i].bit;
    return bits;
}

static void add_raw(struct ev_decoder *d, const char *p, size_t n)
{
    ev_paths_add(d->paths, p, n, EV_PATH_CAPTURE);
}

int ev_decoder_need(struct ev_decoder *d, const char *path, size_t len)
{
    if (!len)
        return KAD_EINVAL;
    if (d->need_all)
        return KAD_OK;
    if (!d->paths) {
        d->paths = ev_paths_new();
        for (size_t i = 0; i < sizeof(control_paths) / sizeof(*control_paths); i++)
            add_raw(d, control_paths[i], strlen(control_paths[i]));
        for (size_t i = 0; i < sizeof(abort_paths) / sizeof(*abort_paths); i++)
            ev_paths_add(d->paths, abort_paths[i], strlen(abort_paths[i]), EV_PATH_ABORT);
    }
    d->emit |= ev_emit_bits(path, len);
    static const char ka[] = "kubernetes.audit";
    const size_t kal = sizeof(ka) - 1;
    if (dot_prefix(path, len, ka, kal)) { /* "kubernetes" or "kubernetes.audit": everything */
        ev_decoder_need_all(d);
        return KAD_OK;
    }
    if (dot_prefix(ka, kal, path, len)) {
        const char *rest = path + kal + 1;
        size_t rl = len - kal - 1;
        if (overlap(rest, rl, "annotations", 11)) {
            add_raw(d, "annotations", 11);
            add_raw(d, "labels", 6);
        } else {
            add_raw(d, rest, rl);
        }
        return KAD_OK;
    }
    for (size_t i = 0; i < sizeof(ecs_sources) / sizeof(*ecs_sources); i++) {
        const char *e = ecs_sources[i].ecs;
        if (!overlap(path, len, e, strlen(e)))
            continue;
        for (int k = 0; k < 3 && ecs_sources[i].raw[k]; k++)
            add_raw(d, ecs_sources[i].raw[k], strlen(ecs_sources[i].raw[k]));
    }
    return KAD_OK;
}

/* ---- decoding ------------------------------------------------------------------------------ */

static int64_t clock_ms(const struct ev_decoder *d)
{
    if (d->o.now_ms)
        return d->o.now_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An error positioned inside the record's bytes -> positioned in the origin. */
static void shift_err(kad_err *e, const struct ev_record *rec)
{
    if (!e)
        return;
    e->origin = rec->origin;
    if (!rec->line)
        return;
    if (e->line == 0) {
        e->line = (uint32_t)rec->line;
        e->col = rec->col;
        e->offset = (int64_t)rec->offset;
        return;
    }
    if (e->line == 1)
        e->col += rec->col - 1;
    e->line += (uint32_t)rec->line - 1;
    if (e->offset >= 0)
        e->offset += (int64_t)rec->offset;
}

void ev_decoder_set_now(struct ev_decoder *d, int64_t ms) { d->o.now_ms = ms; }

/* fast: the extractor's partial tree, whose document needs only the declared fields */
static int map_one(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec,
                   struct ev_node *raw, int fmt, kx_str list_av, bool fast, struct ev_event *out,
                   kad_err *err)
{
    struct ev_map_opts mo = {.skip = fast && d->paths ? EV_EMIT_ALL & ~d->emit : 0,
                             .o = &d->o,
                             .host = d->o.host,
                             .host_tree = d->has_host ? &d->host_tree : NULL,
                             .ns = d->o.ns,
                             .list_api_version = list_av};
    if (d->o.ingested == EV_INGESTED_NOW || d->o.timestamp == EV_TS_RECEIVED)
        mo.now_ms = clock_ms(d);
    if (fmt == EV_FMT_GKE) {
        char why[KAD_ERR_MSG_MAX];
        if (!ev_gke_is_audit(raw, why, sizeof(why))) {
            kx_err_atlc(err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                        (int64_t)rec->offset, "%s", why);
            return EV_SKIP;
        }
    }
    return ev_ecs_map(a, raw, fmt, &mo, out, rec, err);
}

/*
 * The shapes ev_detect leaves unknown (ecs-mapping.md, "Formats and detection"):
 *   - an Azure Event Hub batch {"records": [...]}: a list (decode_list);
 *   - a cloud input's envelope whose `message` holds the event as JSON text (EKS CloudWatch,
 *     Pub/Sub, Event Hub): Elastic's pipeline parses `message` (steps 1-2) and maps the event;
 *     the envelope is dropped and *root becomes the parsed event;
 *   - an ECS document without kubernetes.* members (a `@timestamp`, or a dotted key such as
 *     "user.name"): taken as it is, like any ECS document;
 *   - an Elasticsearch hit or es_archiver record (es_source): its source.
 * Returns the format, EV_FMT_UNKNOWN when none applies.
 */
/* Prepend member key = a shallow copy of val (a string) to object obj, unless obj has key. */
static void add_meta(kx_arena *a, struct ev_node *obj, const char *key, const struct ev_node *val)
{
    if (!val || val->type != EV_STRING || ev_member(obj, key, strlen(key)))
        return;
    struct ev_node *n = kx_arena_alloc(a, sizeof(*n));
    if (!n)
        return;
    *n = *val;
    n->key = key;
    n->klen = (uint32_t)strlen(key);
    n->next = obj->child;
    obj->child = n;
    obj->len++;
}

/*
 * An Elasticsearch document with its metadata: a search hit {"_index","_id","_source":{...}}
 * or an es_archiver record {"type":"doc","value":{"index","id","source":{...}}} (the format of
 * Elastic's own test data). The source becomes the ECS document, with `_id` and `_index` added
 * (alerts name them in kibana.alert.ancestors and do not copy them) when it is taken as an ECS
 * document. NULL when r is neither.
 */
static struct ev_node *es_source(struct ev_node *r, const struct ev_node **id,
                                 const struct ev_node **index)
{
    struct ev_node *src = (struct ev_node *)ev_member(r, "_source", 7);
    *id = ev_member(r, "_id", 3);
    *index = ev_member(r, "_index", 6);
    if (!src || src->type != EV_OBJECT) {
        const struct ev_node *type = ev_member(r, "type", 4);
        struct ev_node *value = (struct ev_node *)ev_member(r, "value", 5);
        if (!type || type->type != EV_STRING || type->len != 3 || memcmp(type->str, "doc", 3) ||
            !value || value->type != EV_OBJECT)
            return NULL;
        src = (struct ev_node *)ev_member(value, "source", 6);
        if (!src || src->type != EV_OBJECT)
            return NULL;
        *id = ev_member(value, "id", 2);
        *index = ev_member(value, "index", 5);
    }
    return src;
}

/*
 * CloudWatch Logs batches (EKS audit logs go to CloudWatch): the JSON of `aws logs
 * filter-log-events` / `get-log-events` ({"events":[{"timestamp","message",...}]}) and the
 * subscription payload that Firehose and Lambda receive, once decompressed
 * ({"messageType":"DATA_MESSAGE","logGroup",...,"logEvents":[{"id","timestamp","message"}]}).
 * Each element's `message` is one audit event as JSON text. NULL when r is neither.
 */
static struct ev_node *cw_events(const struct ev_node *r)
{
    struct ev_node *ev = (struct ev_node *)ev_member(r, "logEvents", 9);
    if (!ev)
        ev = (struct ev_node *)ev_member(r, "events", 6);
    if (!ev || ev->type != EV_ARRAY)
        return NULL;
    const struct ev_node *first = ev->child;
    if (first && (first->type != EV_OBJECT || !ev_member(first, "message", 7)))
        return NULL;
    return ev;
}

static int detect_more(struct ev_decoder *d, kx_arena *a, struct ev_node **root)
{
    struct ev_node *r = *root;
    if (!r || r->type != EV_OBJECT)
        return EV_FMT_UNKNOWN;
    const struct ev_node *id, *index;
    struct ev_node *src = es_source(r, &id, &index);
    if (src) {
        /* the source is an ECS document, or a raw event some test indexed as it is */
        int f = ev_detect(src);
        *root = src;
        if (f != EV_FMT_UNKNOWN && f != EV_FMT_LIST && f != EV_FMT_ECS)
            return f;
        add_meta(a, src, "_index", index);
        add_meta(a, src, "_id", id);
        return EV_FMT_ECS;
    }
    const struct ev_node *recs = ev_member(r, "records", 7);
    if (recs && recs->type == EV_ARRAY)
        return EV_FMT_LIST;
    if (cw_events(r))
        return EV_FMT_LIST;
    const struct ev_node *msg = ev_member(r, "message", 7);
    if (msg && msg->type == EV_STRING && msg->len > 1 && msg->str[0] == '{') {
        kad_err perr;
        kad_err_clear(&perr);
        struct ev_node *in = ev_json_parse_lim(a, msg->str, msg->len, &d->o.lim, "message", &perr);
        int f = in ? ev_detect(in) : EV_FMT_UNKNOWN;
        if (f == EV_FMT_UNKNOWN && in && in->type == EV_OBJECT && ev_member(in, "records", 7))
            f = EV_FMT_LIST;
        if (f != EV_FMT_UNKNOWN && f != EV_FMT_ECS) {
            *root = in;
            return f;
        }
    }
    for (const struct ev_node *m = r->child; m; m = m->next)
        if ((m->klen == 10 && memcmp(m->key, "@timestamp", 10) == 0) ||
            memchr(m->key, '.', m->klen))
            return EV_FMT_ECS;
    return EV_FMT_UNKNOWN;
}

/*
 * Decode one record that must hold a single event. Returns KAD_OK, an error (err filled and
 * positioned), or KAD_EUNSUPPORTED with *list set to the parsed list root.
 */
/* kube-apiserver's `--audit-log-format=legacy` line: `<RFC3339 time> AUDIT: id="…" …`
   (semantics.md, "Audit formats"): recognised so it is reported as such, not as bad JSON. */
static bool is_legacy_line(const struct ev_record *rec)
{
    if (rec->len < 30 || rec->ptr[0] < '0' || rec->ptr[0] > '9' || rec->ptr[4] != '-')
        return false;
    size_t lim = rec->len < 64 ? rec->len : 64;
    for (size_t i = 19; i + 8 <= lim; i++)
        if (memcmp(rec->ptr + i, " AUDIT: ", 8) == 0)
            return true;
    return false;
}

/*
 * A line of a CloudWatch Logs export to S3: `<ISO timestamp> <event JSON>` or
 * `<ISO timestamp> <log stream> <event JSON>`. *sub gets the JSON part (positions kept exact).
 */
static bool export_line(const struct ev_record *rec, struct ev_record *sub)
{
    const char *p = rec->ptr, *e = rec->ptr + rec->len;
    if (rec->len < 12 || *p < '0' || *p > '9')
        return false;
    const char *sp = memchr(p, ' ', (size_t)(e - p));
    int64_t ms;
    if (!sp || !ev_time_parse(p, (size_t)(sp - p), &ms))
        return false;
    const char *j = sp + 1;
    if (j < e && *j != '{') { /* the log stream's name */
        const char *sp2 = memchr(j, ' ', (size_t)(e - j));
        if (!sp2 || memchr(j, '{', (size_t)(sp2 - j)))
            return false;
        j = sp2 + 1;
    }
    if (j >= e || *j != '{')
        return false;
    *sub = *rec;
    sub->ptr = j;
    sub->len = (size_t)(e - j);
    sub->col = rec->col + (uint32_t)(j - p);
    sub->offset = rec->offset + (uint64_t)(j - p);
    return true;
}

/* An AKS diagnostic record (category kube-audit*, or properties.log) that lacks one of the four
   members Elastic's pipeline needs to unwrap it: their names into buf; false when not AKS. */
static bool aks_missing(const struct ev_node *r, char *buf, size_t size)
{
    if (!r || r->type != EV_OBJECT)
        return false;
    const struct ev_node *cat = ev_member(r, "category", 8);
    const struct ev_node *props = ev_member(r, "properties", 10);
    bool aks = (cat && cat->type == EV_STRING && cat->len >= 10 &&
                memcmp(cat->str, "kube-audit", 10) == 0) ||
               (props && props->type == EV_OBJECT && ev_member(props, "log", 3));
    if (!aks)
        return false;
    static const char *const need[] = {"category", "operationName", "resourceId", "time"};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 4; i++)
        if (!ev_member(r, need[i], strlen(need[i])) && used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", need[i]);
    if (!(props && props->type == EV_OBJECT && ev_member(props, "log", 3)) && used < size)
        snprintf(buf + used, size - used, "%s%s", used ? ", " : "", "properties.log");
    return buf[0] != '\0';
}

/*
 * What an AWS Lambda subscribed to CloudWatch Logs receives: {"awslogs":{"data":"<base64>"}},
 * the data being the gzip-compressed subscription payload (cw_events). Decoded, inflated (at most
 * the document limit: a bomb stops there) and parsed into a; NULL with err positioned at the
 * record otherwise.
 */
static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static struct ev_node *awslogs_unwrap(struct ev_decoder *d, kx_arena *a,
                                      const struct ev_record *rec, const struct ev_node *data,
                                      kad_err *err)
{
#define AWSLOGS_ERR(...)                                                                           \
    do {                                                                                           \
        kx_err_atlc(err, KAD_ESYNTAX, rec->origin, (uint32_t)rec->line, rec->col,                  \
                    (int64_t)rec->offset, __VA_ARGS__);                                            \
        goto out;                                                                                  \
    } while (0)
    struct ev_node *root = NULL;
    unsigned char *bin = kx_malloc(data->len / 4 * 3 + 3);
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    kx_buf txt;
    kx_buf_init(&txt, d->o.lim.max_size ? d->o.lim.max_size : EV_JSON_MAX_SIZE);
    z_stream z;
    memset(&z, 0, sizeof(z));
    bool zinit = false;
    for (size_t i = 0; i < data->len; i++) {
        unsigned char c = (unsigned char)data->str[i];
        if (c == '=')
            break;
        int v = b64val(c);
        if (v < 0)
            AWSLOGS_ERR("awslogs.data is not base64 (byte %zu)", i);
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bin[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* gzip or zlib header */
        AWSLOGS_ERR("awslogs.data: cannot start zlib");
    zinit = true;
    z.next_in = bin;
    z.avail_in = (uInt)n;
    unsigned char chunk[16384];
    int zr;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END)
            AWSLOGS_ERR("awslogs.data is not gzip data (%s)", z.msg ? z.msg : "bad stream");
        if (kx_buf_add(&txt, chunk, sizeof(chunk) - z.avail_out) != KAD_OK)
            AWSLOGS_ERR("awslogs.data inflates to more than %zu bytes", txt.max);
        if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0)
            AWSLOGS_ERR("awslogs.data: the gzip stream is truncated");
    } while (zr != Z_STREAM_END);
    char *copy = kx_arena_memdup(a, txt.ptr ? txt.ptr : "", txt.len);
    root = ev_json_parse_lim(a, copy, txt.len, &d->o.lim, rec->origin, err);
    if (!root) {
        char m[KAD_ERR_MSG_MAX];
        snprintf(m, sizeof(m), "awslogs.data (inflated): %.200s", err ? err->msg : "");
        AWSLOGS_ERR("%s", m);
    }
out:
    if (zinit)
        inflateEnd(&z);
    kx_buf_fini(&txt);
    kx_free(bin);
    return root;
#undef AWSLOGS_ERR
}

static int decode_single(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec,
                         struct ev_event *out, struct ev_node **list, kad_err *err)
{
    *list = NULL;
    struct ev_record sub;
    const struct ev_record *orig = rec;
    if (export_line(rec, &sub))
        rec = &sub; /* errors are positioned in the JSON part; events point to orig */
    if (is_legacy_line(rec))
        return kx_err_atlc(err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                           (int64_t)rec->offset, "%s",
                           "legacy audit log line (kube-apiserver --audit-log-format=legacy, "
                           "which has no annotations): not supported, use "
                           "--audit-log-format=json");
    if (d->paths) {
        bool aborted = false;
        struct ev_node *part =
            ev_json_extract(a, rec->ptr, rec->len, d->paths, &d->o.lim, rec->origin, &aborted, err);
        if (part && ev_detect(part) == EV_FMT_K8S) {
            int rc = map_one(d, a, rec, part, EV_FMT_K8S, (kx_str){NULL, 0}, true, out, err);
            if (rc == KAD_OK) {
                out->partial = true;
                d->st.fast++;
            }
            out->rec = orig;
            return rc;
        }
        if (!part && !aborted) {
            shift_err(err, rec);
            return err ? err->code : KAD_ESYNTAX;
        }
    }
    struct ev_node *root = ev_json_parse_lim(a, rec->ptr, rec->len, &d->o.lim, rec->origin, err);
    if (!root) {
        shift_err(err, rec);
        return err ? err->code : KAD_ESYNTAX;
    }
    const struct ev_node *aw = root->type == EV_OBJECT ? ev_member(root, "awslogs", 7) : NULL;
    const struct ev_node *awd = aw && aw->type == EV_OBJECT ? ev_member(aw, "data", 4) : NULL;
    if (awd && awd->type == EV_STRING && !(root = awslogs_unwrap(d, a, rec, awd, err)))
        return err ? err->code : KAD_ESYNTAX;
    int fmt = ev_detect(root);
    char miss[128];
    if (fmt == EV_FMT_UNKNOWN && aks_missing(root, miss, sizeof(miss)))
        return kx_err_atlc(err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                           (int64_t)rec->offset,
                           "AKS diagnostic record without %s: not decoded (Elastic's pipeline "
                           "unwraps a record only with category, operationName, resourceId, "
                           "time and properties.log)",
                           miss);
    if (fmt == EV_FMT_UNKNOWN)
        fmt = detect_more(d, a, &root);
    if (fmt == EV_FMT_LIST) {
        *list = root;
        return KAD_EUNSUPPORTED;
    }
    int rc = map_one(d, a, rec, root, fmt, (kx_str){NULL, 0}, false, out, err);
    if (rc == KAD_OK)
        d->st.full++;
    out->rec = orig;
    return rc;
}

int ev_decode(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec, struct ev_event *out,
              kad_err *err)
{
    kad_err local;
    if (!err)
        err = &local;
    kad_err_clear(err);
    d->st.records++;
    struct ev_node *list;
    int rc = decode_single(d, a, rec, out, &list, err);
    if (rc == EV_SKIP) {
        d->st.skipped++;
        return KAD_EUNSUPPORTED; /* err says why */
    }
    if (list)
        rc = kx_err_atlc(err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                         (int64_t)rec->offset, "%s",
                         "an EventList or array holds several events (use ev_decode_record)");
    if (rc)
        d->st.errors++;
    else
        d->st.events++;
    return rc;
}

static void report(struct ev_decoder *d, const struct ev_sink *sink, const kad_err *err)
{
    d->st.errors++;
    if (sink && sink->on_error)
        sink->on_error(sink->ctx, err);
}

static int decode_list(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec,
                       struct ev_node *root, const struct ev_sink *sink)
{
    struct ev_node *items = root;
    kx_str av = {NULL, 0};
    kad_err err;
    if (root->type == EV_OBJECT) {
        items = (struct ev_node *)ev_member(root, "items", 5);
        if (!items)
            items = (struct ev_node *)ev_member(root, "records", 7); /* Azure Event Hub batch */
        if (!items)
            items = cw_events(root); /* CloudWatch Logs */
        const struct ev_node *mt = ev_member(root, "messageType", 11);
        if (mt && mt->type == EV_STRING && mt->len == 15 &&
            memcmp(mt->str, "CONTROL_MESSAGE", 15) == 0) {
            kx_err_atlc(&err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                        (int64_t)rec->offset, "%s",
                        "CloudWatch Logs control message (no log events), skipped");
            warn_at(d, EV_WARN_NOT_AUDIT, &err);
            return KAD_OK;
        }
        const struct ev_node *v = ev_member(root, "apiVersion", 10);
        if (v && v->type == EV_STRING)
            av = (kx_str){v->str, v->len};
        if (!items || items->type != EV_ARRAY) {
            kx_err_atlc(&err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                        (int64_t)rec->offset, "%s", "EventList without an items array");
            report(d, sink, &err);
            return KAD_OK;
        }
    }
    uint32_t idx = 0;
    struct ev_node *next;
    for (struct ev_node *it = items->child; it; it = next, idx++) {
        next = it->next; /* the mapping relinks the item into its document */
        kad_err_clear(&err);
        int fmt = ev_detect(it);
        if (fmt == EV_FMT_UNKNOWN && av.ptr && it->type == EV_OBJECT)
            fmt = EV_FMT_K8S; /* webhook items carry neither kind nor apiVersion */
        if (fmt == EV_FMT_UNKNOWN)
            fmt = detect_more(d, a, &it);
        struct ev_event ev;
        int rc;
        if (fmt == EV_FMT_LIST)
            rc = kx_err_atlc(&err, KAD_EUNSUPPORTED, rec->origin, (uint32_t)rec->line, rec->col,
                             (int64_t)rec->offset, "%s", "nested lists are not supported");
        else
            rc = map_one(d, a, rec, it, fmt, av, false, &ev, &err);
        if (rc) {
            char msg[KAD_ERR_MSG_MAX];
            snprintf(msg, sizeof(msg), "item %u: %.200s", idx, err.msg);
            snprintf(err.msg, sizeof(err.msg), "%s", msg);
            if (rc == EV_SKIP)
                warn_at(d, EV_WARN_NOT_AUDIT, &err);
            else
                report(d, sink, &err);
            continue;
        }
        ev.item = idx;
        warn_time(d, rec, &ev);
        d->st.full++;
        d->st.events++;
        if (sink && sink->on_event && (rc = sink->on_event(sink->ctx, &ev)))
            return rc;
    }
    return KAD_OK;
}

int ev_decode_record(struct ev_decoder *d, kx_arena *a, const struct ev_record *rec,
                     const struct ev_sink *sink)
{
    kad_err err;
    kad_err_clear(&err);
    d->st.records++;
    struct ev_event ev;
    struct ev_node *list;
    int rc = decode_single(d, a, rec, &ev, &list, &err);
    if (list)
        return decode_list(d, a, rec, list, sink);
    if (rc == EV_SKIP) {
        warn_at(d, EV_WARN_NOT_AUDIT, &err);
        return KAD_OK;
    }
    if (rc) {
        report(d, sink, &err);
        return KAD_OK;
    }
    warn_time(d, rec, &ev);
    d->st.events++;
    if (sink && sink->on_event)
        return sink->on_event(sink->ctx, &ev);
    return KAD_OK;
}

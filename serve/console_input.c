/*
 * console_input.c - the console's recent-input store: the last events serve's detection thread
 * ran, kept in memory so an alert's page can show what else its user did around it (route.h
 * on_record; docs/internals/console.md "Recent input").
 *
 * on_record runs on the detection thread and only copies the record into a bounded queue (it
 * wakes the store's thread only when the queue was empty). The store's own thread decodes the
 * queued records for the user and the time alone (a kad_decoder told which fields it needs: no
 * whole ECS document per event, which cost serve about a third of its CPU per event) and keeps,
 * in a ring bounded by a count and a byte size, each event's user, time and raw record: the
 * oldest events go first. A record that held several events (an EventList) keeps each event's
 * whole document instead, since its raw form is not that event's. A lookup (user, event-time
 * window) scans the ring comparing a hash of the user name first, and decodes the whole
 * document of only the events it returns, from their raw records, with a second decoder.
 */
#include "console_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct con_ev {
    int64_t t_ms;    /* the event's @timestamp */
    int64_t read_ms; /* when serve read it */
    uint64_t user_hash;
    uint64_t seq;
    char *user; /* these three point into one allocation (this struct's block) */
    char *doc;
    size_t doc_len;
    char *raw; /* the record; NULL when it held several events */
    size_t raw_len;
    size_t bytes; /* what the event costs the store */
};

struct con_input {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* records from on_record: [int64 read_ms][uint64 len][data] ... */
    char *q;
    size_t q_len, q_cap;
    bool stop;
    pthread_t th;
    bool started;
    /* the store */
    struct con_ev **ring;
    size_t cap, head, n; /* head: the oldest */
    size_t bytes, max_bytes;
    uint64_t seq, evicted, dropped, bad;
    kad_decoder *dec;  /* the store's thread: user and time only */
    kad_decoder *full; /* whole documents: lookups (under mu) and records of several events */
};

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- a small JSON reader for the decoder's ECS documents ----------------------------------- */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the JSON value at p; NULL when malformed. */
static const char *skip_value(const char *p, const char *end)
{
    p = ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
        p++;
    return p;
}

/* The value of the dotted field `path` in the object at p: nested objects or keys holding dots
   (both forms ECS allows); NULL when absent. */
static const char *lookup(const char *p, const char *end, const char *path, size_t plen)
{
    p = ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p = ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *k = p + 1, *ke = skip_string(p, end);
        if (!ke)
            return NULL;
        size_t kl = (size_t)(ke - 1 - k);
        p = ws(ke, end);
        if (p >= end || *p != ':')
            return NULL;
        const char *v = ws(p + 1, end);
        if (kl == plen && memcmp(k, path, kl) == 0)
            return v;
        if (kl < plen && path[kl] == '.' && memcmp(k, path, kl) == 0 && v < end && *v == '{') {
            const char *r = lookup(v, end, path + kl + 1, plen - kl - 1);
            if (r)
                return r;
        }
        p = skip_value(v, end);
        if (!p)
            return NULL;
        p = ws(p, end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    return NULL;
}

static void put_utf8(char *o, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (char)(0xc0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*n)++] = (char)(0xe0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* The field's value as text into out (a string unescaped, a number or boolean as written, the
   first element of an array); false when absent, null, an object or too long. */
static bool field_text(const char *doc, size_t len, const char *path, char *out, size_t size)
{
    const char *end = doc + len;
    const char *v = lookup(doc, end, path, strlen(path));
    if (!v)
        return false;
    if (*v == '[')
        v = ws(v + 1, end);
    if (v >= end || *v == '{' || *v == ']' || *v == 'n')
        return false;
    size_t n = 0;
    if (*v != '"') {
        const char *e = skip_value(v, end);
        if (!e || (size_t)(e - v) >= size)
            return false;
        memcpy(out, v, (size_t)(e - v));
        out[e - v] = '\0';
        return true;
    }
    for (const char *p = v + 1; p < end && *p != '"'; p++) {
        if (n + 4 >= size)
            return false;
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        if (++p >= end)
            return false;
        switch (*p) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 1; i <= 4; i++) {
                char c = p + i < end ? p[i] : 0;
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0)
                    return false;
                cp = cp * 16 + (unsigned)d;
            }
            p += 4;
            put_utf8(out, &n, cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp);
            break;
        }
        default: out[n++] = *p;
        }
    }
    out[n] = '\0';
    return true;
}

/* ---- the ring ------------------------------------------------------------------------------ */

static void evict_oldest(struct con_input *in)
{
    struct con_ev *e = in->ring[in->head];
    in->ring[in->head] = NULL;
    in->head = (in->head + 1) % in->cap;
    in->n--;
    in->bytes -= e->bytes;
    in->evicted++;
    free(e);
}

/* Store one event (mu held). */
static void store(struct con_input *in, struct con_ev *e)
{
    while (in->n && (in->n == in->cap || in->bytes + e->bytes > in->max_bytes))
        evict_oldest(in);
    e->seq = ++in->seq;
    in->ring[(in->head + in->n) % in->cap] = e;
    in->n++;
    in->bytes += e->bytes;
}

/* The events of the record being decoded (the raw record is kept only when it held one). */
struct dec_ctx {
    struct con_input *in;
    bool keep_doc; /* store the event's document (else only its user and time) */
    int64_t read_ms;
    struct con_ev *evs[64];
    size_t n;
    size_t more; /* events past the 64 kept per record */
};

static int on_event(void *ud, const kad_event *ev)
{
    struct dec_ctx *x = ud;
    size_t len = 0;
    const char *doc = kad_event_json(ev, &len);
    if (!doc)
        return 0;
    if (x->n == sizeof(x->evs) / sizeof(x->evs[0])) {
        x->more++;
        return 0;
    }
    char user[256] = "", ts[64] = "";
    if (!field_text(doc, len, "user.name", user, sizeof(user)))
        field_text(doc, len, "kubernetes.audit.user.username", user, sizeof(user));
    int64_t t = KAD_TIME_NONE;
    if (!field_text(doc, len, "@timestamp", ts, sizeof(ts)) || !kad_time_parse(ts, strlen(ts), &t))
        t = x->read_ms;
    size_t ul = strlen(user);
    if (!x->keep_doc)
        len = 0;
    size_t bytes = sizeof(struct con_ev) + ul + 1 + len + 1;
    struct con_ev *e = malloc(bytes);
    if (!e)
        return 0;
    memset(e, 0, sizeof(*e));
    e->t_ms = t;
    e->read_ms = x->read_ms;
    e->user = (char *)(e + 1);
    memcpy(e->user, user, ul + 1);
    e->user_hash = hash_str(user, ul);
    e->doc = e->user + ul + 1;
    memcpy(e->doc, doc, len);
    e->doc[len] = '\0';
    e->doc_len = len;
    e->bytes = bytes;
    x->evs[x->n++] = e;
    return 0;
}

static void on_bad(void *ud, const kad_err *err)
{
    (void)err;
    struct dec_ctx *x = ud;
    x->in->bad++; /* the engine reports bad records itself */
}

static void decode_record(struct con_input *in, const char *data, size_t len, int64_t read_ms)
{
    struct dec_ctx x = {.in = in, .read_ms = read_ms};
    kad_record rec = {.data = data, .len = len, .origin = "input"};
    kad_decode_sink sink = {.on_event = on_event, .on_error = on_bad, .ud = &x};
    kad_decode(in->dec, &rec, &sink);
    if (x.n > 1 || x.more) { /* several events: their documents now, the record is not theirs */
        for (size_t i = 0; i < x.n; i++)
            free(x.evs[i]);
        size_t bad = in->bad;
        x.n = x.more = 0;
        x.keep_doc = true;
        kad_decode(in->full, &rec, &sink);
        in->bad = bad; /* counted by the first decode */
    }
    if (x.n == 1 && !x.more && !x.keep_doc) { /* the record is this event's raw form */
        struct con_ev *e = x.evs[0];
        struct con_ev *r = realloc(e, e->bytes + len + 1);
        if (r) {
            r->user = (char *)(r + 1);
            r->doc = r->user + strlen(r->user) + 1;
            r->raw = r->doc + r->doc_len + 1;
            memcpy(r->raw, data, len);
            r->raw[len] = '\0';
            r->raw_len = len;
            r->bytes += len + 1;
            x.evs[0] = r;
        }
    }
    pthread_mutex_lock(&in->mu);
    for (size_t i = 0; i < x.n; i++) {
        if (x.evs[i]->bytes > in->max_bytes) {
            free(x.evs[i]);
            in->dropped++;
            continue;
        }
        store(in, x.evs[i]);
    }
    in->dropped += x.more;
    pthread_mutex_unlock(&in->mu);
}

static void *input_main(void *arg)
{
    struct con_input *in = arg;
    for (;;) {
        pthread_mutex_lock(&in->mu);
        while (!in->stop && in->q_len == 0)
            pthread_cond_wait(&in->cv, &in->mu);
        if (in->stop) {
            pthread_mutex_unlock(&in->mu);
            return NULL;
        }
        char *q = in->q;
        size_t len = in->q_len;
        in->q = NULL;
        in->q_len = in->q_cap = 0;
        pthread_mutex_unlock(&in->mu);
        for (size_t off = 0; off + 16 <= len;) {
            int64_t read_ms;
            uint64_t n;
            memcpy(&read_ms, q + off, 8);
            memcpy(&n, q + off + 8, 8);
            decode_record(in, q + off + 16, (size_t)n, read_ms);
            off += 16 + (size_t)n;
        }
        free(q);
    }
}

void con_input_record(struct con_input *in, const char *data, size_t len, int64_t read_ms)
{
    if (!in)
        return;
    if (read_ms == KAD_TIME_NONE)
        read_ms = con_now_ms();
    pthread_mutex_lock(&in->mu);
    size_t need = in->q_len + 16 + len;
    /* the queue holds at most a quarter of the store's size: when decoding falls that far
       behind, records are dropped (counted) rather than slowing detection down */
    if (len > in->max_bytes / 4 || need > in->max_bytes / 4) {
        in->dropped++;
        pthread_mutex_unlock(&in->mu);
        return;
    }
    if (need > in->q_cap) {
        size_t cap = need * 2 < 65536 ? 65536 : need * 2;
        char *q = realloc(in->q, cap);
        if (!q) {
            in->dropped++;
            pthread_mutex_unlock(&in->mu);
            return;
        }
        in->q = q;
        in->q_cap = cap;
    }
    uint64_t n = len;
    memcpy(in->q + in->q_len, &read_ms, 8);
    memcpy(in->q + in->q_len + 8, &n, 8);
    memcpy(in->q + in->q_len + 16, data, len);
    bool was_empty = in->q_len == 0;
    in->q_len = need;
    if (was_empty) /* the store's thread waits only for an empty queue */
        pthread_cond_signal(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

struct con_input *con_input_new(size_t max_events, size_t max_bytes, kad_err *err)
{
    struct con_input *in = calloc(1, sizeof(*in));
    if (!in || !(in->ring = calloc(max_events ? max_events : 1, sizeof(*in->ring)))) {
        free(in);
        if (err) {
            err->code = KAD_ENOMEM;
            snprintf(err->msg, sizeof(err->msg), "console: out of memory (recent input)");
        }
        return NULL;
    }
    in->cap = max_events ? max_events : 1;
    in->max_bytes = max_bytes;
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    kad_decode_opts o;
    memset(&o, 0, sizeof(o));
    o.no_host = 1;
    static const char *const need[] = {"user.name", "kubernetes.audit.user.username",
                                        "@timestamp"};
    int rc = kad_decoder_new(&in->dec, &o, err);
    for (size_t i = 0; rc == KAD_OK && i < sizeof(need) / sizeof(need[0]); i++)
        rc = kad_decoder_need(in->dec, need[i], strlen(need[i]));
    if (rc != KAD_OK || kad_decoder_new(&in->full, &o, err) != KAD_OK ||
        pthread_create(&in->th, NULL, input_main, in) != 0) {
        if (err && !err->msg[0])
            snprintf(err->msg, sizeof(err->msg), "console: cannot start its input thread");
        con_input_free(in);
        return NULL;
    }
    in->started = true;
    return in;
}

void con_input_free(struct con_input *in)
{
    if (!in)
        return;
    if (in->started) {
        pthread_mutex_lock(&in->mu);
        in->stop = true;
        pthread_cond_broadcast(&in->cv);
        pthread_mutex_unlock(&in->mu);
        pthread_join(in->th, NULL);
    }
    while (in->n)
        evict_oldest(in);
    free(in->ring);
    free(in->q);
    kad_decoder_free(in->dec);
    kad_decoder_free(in->full);
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->cv);
    free(in);
}

/* ---- lookups ------------------------------------------------------------------------------- */

static int64_t dist(int64_t a, int64_t b) { return a > b ? a - b : b - a; }

static int64_t sort_center;
static int by_distance(const void *a, const void *b)
{
    const struct con_ev *x = *(struct con_ev *const *)a, *y = *(struct con_ev *const *)b;
    int64_t dx = dist(x->t_ms, sort_center), dy = dist(y->t_ms, sort_center);
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}
static int by_time(const void *a, const void *b)
{
    const struct con_ev *x = *(struct con_ev *const *)a, *y = *(struct con_ev *const *)b;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The whole document of an event kept as its raw record (a lookup; mu held). */
struct doc_ctx {
    char *doc;
    size_t len;
};
static int on_full_doc(void *ud, const kad_event *ev)
{
    struct doc_ctx *d = ud;
    size_t len = 0;
    const char *doc = kad_event_json(ev, &len);
    if (doc && !d->doc && (d->doc = malloc(len + 1))) {
        memcpy(d->doc, doc, len);
        d->doc[len] = '\0';
        d->len = len;
    }
    return 0;
}
static void on_full_bad(void *ud, const kad_err *err)
{
    (void)ud;
    (void)err;
}

/* One event as JSON (the document and the raw record spliced in as they are). */
static void ev_json(struct con_input *in, struct sbuf *b, const struct con_ev *e)
{
    struct doc_ctx d = {.doc = e->doc, .len = e->doc_len};
    if (!e->doc_len && e->raw) {
        d.doc = NULL;
        kad_record rec = {.data = e->raw, .len = e->raw_len, .origin = "input"};
        kad_decode_sink sink = {.on_event = on_full_doc, .on_error = on_full_bad, .ud = &d};
        kad_decode(in->full, &rec, &sink);
        if (!d.doc) { /* it decoded when it was stored: only memory can fail here */
            d.doc = NULL;
            d.len = 0;
        }
    }
    static const struct {
        const char *key, *field, *alt;
    } cols[] = {
        {"verb", "kubernetes.audit.verb", NULL},
        {"resource", "kubernetes.audit.objectRef.resource", "orchestrator.resource.type"},
        {"subresource", "kubernetes.audit.objectRef.subresource", NULL},
        {"namespace", "kubernetes.audit.objectRef.namespace", NULL},
        {"name", "kubernetes.audit.objectRef.name", NULL},
        {"decision", "kubernetes.audit.annotations.authorization_k8s_io/decision", NULL},
        {"user_agent", "user_agent.original", "kubernetes.audit.userAgent"},
        {"source_ip", "source.ip", "kubernetes.audit.sourceIPs"},
        {"request_uri", "kubernetes.audit.requestURI", NULL},
        {"code", "kubernetes.audit.responseStatus.code", NULL},
        {"stage", "kubernetes.audit.stage", NULL},
        {"audit_id", "kubernetes.audit.auditID", NULL},
    };
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    char t[40];
    kad_time_format(e->t_ms, t);
    kad_json_keyc(w, "time");
    kad_json_strc(w, t);
    kad_time_format(e->read_ms, t);
    kad_json_keyc(w, "read");
    kad_json_strc(w, t);
    kad_json_keyc(w, "user");
    kad_json_strc(w, e->user);
    char v[1024];
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        kad_json_keyc(w, cols[i].key);
        if ((d.doc && field_text(d.doc, d.len, cols[i].field, v, sizeof(v))) ||
            (d.doc && cols[i].alt && field_text(d.doc, d.len, cols[i].alt, v, sizeof(v))))
            kad_json_strc(w, v);
        else
            kad_json_null(w);
    }
    kad_json_obj_end(w);
    size_t n = 0;
    const char *txt = kad_json_text(w, &n);
    con_sb_add(b, txt, n - 1); /* without its closing brace */
    con_sb_adds(b, ",\"document\":");
    if (d.doc)
        con_sb_add(b, d.doc, d.len);
    else
        con_sb_adds(b, "null");
    if (d.doc != e->doc)
        free(d.doc);
    /* the record as text: a JSON string, whatever the decoder tolerated in it */
    kad_json_reset(w);
    if (e->raw)
        kad_json_str(w, e->raw, e->raw_len);
    else
        kad_json_null(w);
    txt = kad_json_text(w, &n);
    con_sb_adds(b, ",\"raw\":");
    con_sb_add(b, txt, n);
    con_sb_adds(b, "}");
    kad_json_free(w);
}

/* The user's events with a time in [from, to], the `limit` nearest to center, in time order,
   as {"events":[...],"matched":N,"truncated":B,"store":{...}} into b. */
void con_input_find(struct con_input *in, const char *user, int64_t from, int64_t to,
                    int64_t center, size_t limit, struct sbuf *b)
{
    size_t cap = 0, n = 0;
    struct con_ev **hits = NULL;
    uint64_t h = hash_str(user, strlen(user));
    bool oom = false;
    pthread_mutex_lock(&in->mu);
    for (size_t i = 0; i < in->n; i++) {
        struct con_ev *e = in->ring[(in->head + i) % in->cap];
        if (e->user_hash != h || e->t_ms < from || e->t_ms > to || strcmp(e->user, user) != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct con_ev **r = realloc(hits, nc * sizeof(*r));
            if (!r) {
                oom = true;
                break;
            }
            hits = r;
            cap = nc;
        }
        hits[n++] = e;
    }
    size_t matched = n;
    if (n > limit) {
        sort_center = center; /* under mu: one sort at a time */
        qsort(hits, n, sizeof(*hits), by_distance);
        n = limit;
    }
    if (n > 1)
        qsort(hits, n, sizeof(*hits), by_time);
    con_sb_adds(b, "{\"events\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            con_sb_adds(b, ",");
        ev_json(in, b, hits[i]);
    }
    kad_json *w = kad_json_new();
    kad_json_obj_begin(w);
    kad_json_keyc(w, "matched");
    kad_json_int(w, (int64_t)matched);
    kad_json_keyc(w, "truncated");
    kad_json_bool(w, matched > n || oom);
    kad_json_keyc(w, "store");
    kad_json_obj_begin(w);
    kad_json_keyc(w, "events");
    kad_json_int(w, (int64_t)in->n);
    kad_json_keyc(w, "bytes");
    kad_json_int(w, (int64_t)in->bytes);
    kad_json_keyc(w, "max_events");
    kad_json_int(w, (int64_t)in->cap);
    kad_json_keyc(w, "max_bytes");
    kad_json_int(w, (int64_t)in->max_bytes);
    kad_json_keyc(w, "evicted");
    kad_json_int(w, (int64_t)in->evicted);
    kad_json_keyc(w, "dropped");
    kad_json_int(w, (int64_t)in->dropped);
    kad_json_keyc(w, "oldest_read");
    if (in->n) {
        char t[40];
        kad_time_format(in->ring[in->head]->read_ms, t);
        kad_json_strc(w, t);
    } else {
        kad_json_null(w);
    }
    kad_json_obj_end(w);
    kad_json_obj_end(w);
    pthread_mutex_unlock(&in->mu);
    size_t tn = 0;
    const char *txt = kad_json_text(w, &tn);
    con_sb_adds(b, "],");
    con_sb_add(b, txt + 1, tn - 1); /* its members after ours */
    kad_json_free(w);
    free(hits);
}

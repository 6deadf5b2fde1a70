/*
 * srv_body.c - a webhook body into spool records: gzip (Content-Encoding) inflated up to a
 * limit, then the body's top-level JSON values walked with a small structural scanner (strings,
 * brackets; full validation is the decoder's job later): an EventList gives one record per item
 * (an item without its own apiVersion is wrapped in a one-item EventList that keeps the list's),
 * a JSON array one per element, any other value itself. Each record carries the hash of its
 * auditID and stage, the key of the spool's dedup. A record over max_record refuses the body
 * (413 naming its auditID and position) rather than losing it silently.
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 512

static bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && ws(*p))
        p++;
    return p;
}

/* The first '"' in [p, end), or NULL: 16 bytes at a time (audit strings are short, so this
   beats a call to memchr per string). */
static const char *find_quote(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"');
    for (; end - p >= 16; p += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), q));
        if (m)
            return p + __builtin_ctz(m);
    }
#endif
    for (; p < end; p++)
        if (*p == '"')
            return p;
    return NULL;
}

/* End of the string starting at p ('"'), past the closing quote; NULL when unterminated. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        const char *q = find_quote(p, end);
        if (!q)
            return NULL;
        /* count the backslashes before the quote */
        size_t bs = 0;
        while (q - bs > p && q[-(ptrdiff_t)bs - 1] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
        p = q;
    }
    return NULL;
}

/* End of the JSON value at p (structure only), NULL when malformed or nested deeper than
   max_depth (at most MAX_DEPTH). */
static const char *skip_value_d(const char *p, const char *end, int max_depth)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        const char *s = p;
        /* a scalar (number, true, false, null) is a run of non-structural bytes: a quote or a
           bracket ends it (JSON has none inside a scalar) */
        while (p < end && !ws(*p) && !strchr(",]}:\"{[", *p))
            p++;
        return p > s && *s != ':' ? p : NULL;
    }
    int depth = 0;
    char stack[MAX_DEPTH];
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == max_depth)
                return NULL;
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != c)
                return NULL;
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
    return skip_value_d(p, end, MAX_DEPTH);
}

/* FNV-1a over the bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct members {
    const char *kind, *api, *items, *audit_id, *stage;
    size_t kind_len, api_len, items_len, audit_len, stage_len;
};

struct split {
    struct srv_batch *b;
    const char *base; /* the body, for positions */
    size_t max_record;
    char *msg;
    size_t size;
    /* the top-level object being read: its items were split while it was walked (fused), with
       this status; redo: a member read after them (kind, apiVersion, items again) changes what
       they mean, so the object is read again the two-walk way */
    bool fused, redo;
    int status;
};

/* Off in the fuzz target's second split, which checks that both ways give the same records. */
static bool fuse_items = true;

static int add_array(struct split *s, const char *p, const char *end, const char *api,
                     size_t api_len, int elem_depth, const char **endp);

static bool key_is(const char *k, size_t klen, const char *name)
{
    return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

/* The object at p (within end): the top-level members we need, in one pass; its end (past the
   '}'), or NULL when it is malformed or its members nest deeper than max_depth - 1. With sp (a
   top-level object), an EventList's items are split into sp's batch as they are walked when its
   kind and apiVersion came first (kube-apiserver's order): the body is walked once, not twice.
   The limits and answers are the two-walk way's: items nest at most max_depth - 2 deep, and a
   refused item (413, a malformed array) counts only once the object is whole. */
static const char *scan_object(const char *p, const char *end, struct members *m, int max_depth,
                               struct split *sp)
{
    memset(m, 0, sizeof(*m));
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    while (p < end) {
        if (*p != '"')
            return NULL;
        const char *ks = p + 1, *ke = skip_string(p, end);
        if (!ke)
            return NULL;
        size_t klen = (size_t)(ke - 1 - ks);
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        const char *vs = p, *ve;
        if (sp && !sp->fused && vs < end && *vs == '[' && m->kind && m->api &&
            key_is(ks, klen, "items") && key_is(m->kind, m->kind_len, "\"EventList\"")) {
            sp->fused = true;
            ve = NULL;
            sp->status = add_array(sp, vs, end, m->api, m->api_len, max_depth - 2, &ve);
            if (sp->status != 200) /* its end as the first walk would find it */
                ve = skip_value_d(vs, end, max_depth - 1);
        } else {
            if (sp && sp->fused &&
                (key_is(ks, klen, "items") || key_is(ks, klen, "kind") ||
                 key_is(ks, klen, "apiVersion")))
                sp->redo = true;
            ve = skip_value_d(p, end, max_depth - 1);
        }
        if (!ve)
            return NULL;
        size_t vlen = (size_t)(ve - vs);
        if (key_is(ks, klen, "kind")) {
            m->kind = vs;
            m->kind_len = vlen;
        } else if (key_is(ks, klen, "apiVersion")) {
            m->api = vs;
            m->api_len = vlen;
        } else if (key_is(ks, klen, "items")) {
            m->items = vs;
            m->items_len = vlen;
        } else if (key_is(ks, klen, "auditID")) {
            m->audit_id = vs;
            m->audit_len = vlen;
        } else if (key_is(ks, klen, "stage")) {
            m->stage = vs;
            m->stage_len = vlen;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' ? p + 1 : NULL;
    }
    return NULL;
}

static bool push(struct srv_batch *b, const char *data, size_t len, uint64_t key)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct srv_rec *r = realloc(b->recs, cap * sizeof(*r));
        if (!r)
            return false;
        b->recs = r;
        b->cap = cap;
    }
    b->recs[b->n++] = (struct srv_rec){.data = data, .len = len, .key = key, .wrap_off = 0};
    return true;
}

static int too_big(struct split *s, const char *v, size_t len, const struct members *m)
{
    snprintf(s->msg, s->size,
             "record at byte %zu (auditID %.*s) is %zu bytes, over the %zu-byte limit "
             "(--max-record)",
             (size_t)(v - s->base),
             m && m->audit_id ? (int)(m->audit_len < 64 ? m->audit_len : 64) : 1,
             m && m->audit_id ? m->audit_id : "-", len, s->max_record);
    return 413;
}

static uint64_t key_of(const struct members *m)
{
    if (!m->audit_id)
        return 0;
    uint64_t h = fnv(1469598103934665603ULL, m->audit_id, m->audit_len);
    h = fnv(h, "|", 1);
    h = fnv(h, m->stage ? m->stage : "", m->stage_len);
    return h ? h : 1;
}

/* One item of an EventList (its members m, all NULL when it is not an object we could read):
   itself, or wrapped with the list's apiVersion. */
static int add_item(struct split *s, const char *v, size_t len, const struct members *mp,
                    const char *api, size_t api_len)
{
    struct members m = *mp;
    if (len > s->max_record)
        return too_big(s, v, len, &m);
    uint64_t key = key_of(&m);
    if (*v != '{' || m.api || !api)
        return push(s->b, v, len, key) ? 200 : 500;
    /* {"kind":"EventList","apiVersion":API,"items":[ITEM]} */
    static const char a[] = "{\"kind\":\"EventList\",\"apiVersion\":", b[] = ",\"items\":[",
                      c[] = "]}";
    size_t need = sizeof(a) - 1 + api_len + sizeof(b) - 1 + len + sizeof(c) - 1;
    struct srv_batch *bt = s->b;
    if (bt->wrap_len + need > bt->wrap_cap) {
        size_t cap = bt->wrap_cap ? bt->wrap_cap : 4096;
        while (cap < bt->wrap_len + need)
            cap *= 2;
        char *w = realloc(bt->wrap, cap);
        if (!w)
            return 500;
        bt->wrap = w;
        bt->wrap_cap = cap;
    }
    char *o = bt->wrap + bt->wrap_len;
    size_t at = bt->wrap_len;
    memcpy(o, a, sizeof(a) - 1);
    o += sizeof(a) - 1;
    memcpy(o, api, api_len);
    o += api_len;
    memcpy(o, b, sizeof(b) - 1);
    o += sizeof(b) - 1;
    memcpy(o, v, len);
    o += len;
    memcpy(o, c, sizeof(c) - 1);
    bt->wrap_len += need;
    /* data stays NULL until the split ends (wrap may still move): wrap_off says where */
    if (!push(bt, NULL, need, key))
        return 500;
    bt->recs[bt->n - 1].wrap_off = at;
    return 200;
}

/* Each element of the array at p (ending within end), as items (api: the EventList's, or
   NULL); an object element is read in one pass (scan_object gives its end and members).
   Elements nest at most elem_depth deep (MAX_DEPTH - 1 for a whole array: the array and its
   elements stay within MAX_DEPTH). *endp (when given): past the array's ']'. */
static int add_array(struct split *s, const char *p, const char *end, const char *api,
                     size_t api_len, int elem_depth, const char **endp)
{
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') {
        if (endp)
            *endp = p + 1;
        return 200;
    }
    while (p < end) {
        struct members m;
        memset(&m, 0, sizeof(m));
        const char *ve = *p == '{' ? scan_object(p, end, &m, elem_depth, NULL) : NULL;
        if (!ve) {
            memset(&m, 0, sizeof(m)); /* not an object, or one whose members we cannot read */
            ve = skip_value_d(p, end, elem_depth);
        }
        if (!ve)
            break;
        int st = add_item(s, p, (size_t)(ve - p), &m, api, api_len);
        if (st != 200)
            return st;
        p = skip_ws(ve, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == ']') {
            if (endp)
                *endp = p + 1;
            return 200;
        }
        break;
    }
    snprintf(s->msg, s->size, "malformed JSON array at byte %zu", (size_t)(p - s->base));
    return 400;
}

int srv_body_inflate(struct srv_batch *b, const char *body, size_t len, size_t max, char *msg,
                     size_t size)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        snprintf(msg, size, "gzip: cannot start inflating");
        return 500;
    }
    size_t cap = len * 4 + 4096, n = 0;
    if (cap > max + 1)
        cap = max + 1;
    char *out = malloc(cap);
    int rc = Z_OK, status = 200;
    z.next_in = (unsigned char *)body;
    z.avail_in = (uInt)len;
    while (out) {
        if (n == cap) {
            if (cap > max) {
                snprintf(msg, size, "gzip body inflates past %zu bytes (--max-body)", max);
                status = 413;
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *o = realloc(out, ncap);
            if (!o) {
                status = 500;
                break;
            }
            out = o;
            cap = ncap;
        }
        z.next_out = (unsigned char *)out + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        if (rc == Z_STREAM_END) {
            if (z.avail_in) {
                snprintf(msg, size, "gzip: %u bytes of trailing data after the stream", z.avail_in);
                status = 400;
            }
            break;
        }
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_out == 0)) {
            snprintf(msg, size, "gzip: %s", z.msg ? z.msg : "truncated or corrupt stream");
            status = 400;
            break;
        }
        if (z.avail_in == 0 && z.avail_out != 0) {
            snprintf(msg, size, "gzip: truncated stream");
            status = 400;
            break;
        }
    }
    inflateEnd(&z);
    if (!out)
        status = 500;
    if (status != 200) {
        free(out);
        return status;
    }
    b->plain = out;
    b->plain_len = n;
    return 200;
}

int srv_body_split(struct srv_batch *b, const char *body, size_t len, const char *encoding,
                   size_t max_plain, size_t max_record, char *msg, size_t size)
{
    memset(b, 0, sizeof(*b));
    if (encoding && *encoding && strcmp(encoding, "identity") != 0) {
        if (strcmp(encoding, "gzip") != 0 && strcmp(encoding, "x-gzip") != 0) {
            snprintf(msg, size, "Content-Encoding %s is not supported (gzip is)", encoding);
            return 415;
        }
        int st = srv_body_inflate(b, body, len, max_plain, msg, size);
        if (st != 200)
            return st;
        body = b->plain;
        len = b->plain_len;
    }
    struct split s = {.b = b, .base = body, .max_record = max_record, .msg = msg, .size = size};
    const char *p = skip_ws(body, body + len), *end = body + len;
    int st = 200;
    size_t values = 0;
    while (p < end && st == 200) {
        /* an object (the EventList) is checked and read in one pass; an array is checked whole
           first, so a malformed one is "not JSON" before any element is looked at */
        struct members m;
        memset(&m, 0, sizeof(m));
        size_t n0 = b->n, w0 = b->wrap_len;
        s.fused = s.redo = false;
        const char *ve =
            *p == '{' ? scan_object(p, end, &m, MAX_DEPTH, fuse_items ? &s : NULL) : NULL;
        if (s.redo) { /* members after the items change them: the two-walk way */
            b->n = n0;
            b->wrap_len = w0;
            s.fused = false;
            memset(&m, 0, sizeof(m));
            ve = scan_object(p, end, &m, MAX_DEPTH, NULL);
        }
        if (!ve) {
            ve = skip_value(p, end);
            if (!ve || (*p != '{' && *p != '[')) {
                snprintf(msg, size, "not JSON at byte %zu (expected an EventList)",
                         (size_t)(p - body));
                return 400;
            }
            if (*p == '{') {
                snprintf(msg, size, "malformed JSON object at byte %zu", (size_t)(p - body));
                return 400;
            }
        }
        values++;
        if (*p == '[')
            st = add_array(&s, p, ve, NULL, 0, MAX_DEPTH - 1, NULL);
        else if (s.fused)
            st = s.status;
        else if (m.kind && m.items && m.items[0] == '[' &&
                 key_is(m.kind, m.kind_len, "\"EventList\""))
            st = add_array(&s, m.items, m.items + m.items_len, m.api, m.api_len, MAX_DEPTH - 1,
                           NULL);
        else
            st = add_item(&s, p, (size_t)(ve - p), &m, NULL, 0);
        p = skip_ws(ve, end);
    }
    if (st == 200 && values == 0) {
        snprintf(msg, size, "empty body (expected an EventList)");
        return 400;
    }
    /* wrapped items: offsets into wrap become pointers now that it no longer moves */
    for (size_t i = 0; i < b->n; i++)
        if (!b->recs[i].data)
            b->recs[i].data = b->wrap + b->recs[i].wrap_off;
    return st;
}

void srv_batch_free(struct srv_batch *b)
{
    free(b->recs);
    free(b->wrap);
    free(b->plain);
    memset(b, 0, sizeof(*b));
}

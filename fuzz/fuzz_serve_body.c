/*
 * fuzz_serve_body.c - the webhook's request framing in kadet serve and `kadet scan --listen`
 * (serve/srv_body.c: gzip inflating, the structural scan that splits a body into records,
 * EventList items wrapped with the list's apiVersion, the per-record limit, dedup keys) on
 * arbitrary bytes.
 *
 * srv_body.c is compiled into this target directly (it is part of the kadet program, not of
 * libkad, and needs nothing of serve/ beyond its own functions). The first input byte picks the
 * record limit and whether the rest is sent as Content-Encoding gzip.
 *
 * Checks beyond "no crash, no leak": the status is one the webhook answers (200, 400, 413, 415,
 * 500) and any refusal has a message; on 200 every record is non-empty, lies inside the body
 * (or the inflated body, or the wrapped items), starts and ends like a JSON value, and an item
 * that was not wrapped is within the record limit; a refusal for size names the limit; and a
 * second split of the same bytes gives the same records and keys, and so does the two-walk split
 * of an EventList (fuse_items off) as the one-walk split.
 */
#include "fuzz.h"

#include "../serve/srv_body.c"

static bool inside(const char *p, size_t n, const char *base, size_t len)
{
    return base && p >= base && n <= len && (size_t)(p - base) <= len - n;
}

FUZZ_TARGET(serve_body)
{
    if (size < 1)
        return 0;
    size_t max_record = (size_t)(data[0] & 0x3f) * 16 + 8; /* 8 .. 1016 bytes */
    const char *enc = (data[0] & 0x40) ? "gzip" : NULL;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    size_t max_plain = 1 << 16;
    struct srv_batch b, b2;
    char msg[512], msg2[512];
    msg[0] = '\0';
    int st = srv_body_split(&b, body, len, enc, max_plain, max_record, msg, sizeof(msg));
    if (st != 200 && st != 400 && st != 413 && st != 415 && st != 500)
        abort();
    if (st != 200 && !msg[0])
        abort(); /* a refusal without its reason */
    if (st == 413 && !strstr(msg, "--max-record") && !strstr(msg, "--max-body"))
        abort();
    if (st == 200) {
        const char *src = b.plain ? b.plain : body;
        size_t src_len = b.plain ? b.plain_len : len;
        for (size_t i = 0; i < b.n; i++) {
            const struct srv_rec *r = &b.recs[i];
            if (!r->data || r->len == 0)
                abort();
            bool in_body = inside(r->data, r->len, src, src_len);
            bool in_wrap = inside(r->data, r->len, b.wrap, b.wrap_len);
            if (!in_body && !in_wrap)
                abort(); /* a record outside every buffer */
            if (in_body && r->len > max_record)
                abort(); /* over the limit and not refused */
            char first = r->data[0], last = r->data[r->len - 1];
            if ((first == '{' && last != '}') || (first == '[' && last != ']') ||
                (first == '"' && (last != '"' || r->len < 2)))
                abort(); /* not a whole value */
            if (in_wrap && strncmp(r->data, "{\"kind\":\"EventList\",\"apiVersion\":", 33) != 0)
                abort();
        }
    }
    int st2 = srv_body_split(&b2, body, len, enc, max_plain, max_record, msg2, sizeof(msg2));
    if (st2 != st || (st == 200 && b2.n != b.n))
        abort(); /* not deterministic */
    for (size_t i = 0; st == 200 && i < b.n; i++)
        if (b.recs[i].len != b2.recs[i].len || b.recs[i].key != b2.recs[i].key ||
            memcmp(b.recs[i].data, b2.recs[i].data, b.recs[i].len) != 0)
            abort();
    srv_batch_free(&b2);
    /* the one-walk split of an EventList (fuse_items) against the two-walk one: the same answer
       and the same records */
    fuse_items = false;
    char msg3[512];
    struct srv_batch b3;
    int st3 = srv_body_split(&b3, body, len, enc, max_plain, max_record, msg3, sizeof(msg3));
    fuse_items = true;
    if (st3 != st || (st == 200 && b3.n != b.n) || (st != 200 && strcmp(msg3, msg) != 0))
        abort();
    for (size_t i = 0; st == 200 && i < b.n; i++)
        if (b.recs[i].len != b3.recs[i].len || b.recs[i].key != b3.recs[i].key ||
            memcmp(b.recs[i].data, b3.recs[i].data, b.recs[i].len) != 0)
            abort();
    srv_batch_free(&b);
    srv_batch_free(&b3);
    return 0;
}

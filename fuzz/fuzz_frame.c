/*
 * fuzz_frame.c - the body framer of the audit webhook (ev_frame_buffer, which kad_engine_body
 * uses) on arbitrary bytes, against the streaming reader on the same bytes.
 *
 * Checks beyond "no crash, no leak": every record lies inside the body at its offset, records
 * come in order without overlapping, lines never go back; a record over the limit is reported
 * with a position inside the body; and, for input that is not gzip, the framer and the reader
 * (which reads a file through the same frame() in chunks) give the same records, so a webhook
 * body and the same bytes in a file are read alike.
 */
#include "fuzz.h"

#include "base/buf.h"
#include "event/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RECS 4096

struct recs {
    const char *body;
    size_t len, n;
    uint64_t off[MAX_RECS], rlen[MAX_RECS], line[MAX_RECS];
    uint64_t end, last_line;
    size_t errors;
};

static int on_rec(void *ctx, const struct ev_record *rec)
{
    struct recs *r = ctx;
    if (rec->ptr < r->body || rec->len == 0 || rec->offset != (uint64_t)(rec->ptr - r->body) ||
        rec->offset + rec->len > r->len)
        abort(); /* outside the body, or its offset does not name its bytes */
    if (rec->offset < r->end || rec->line < r->last_line || rec->line == 0)
        abort(); /* overlapping, out of order, or no line */
    r->end = rec->offset + rec->len;
    r->last_line = rec->line;
    if (r->n < MAX_RECS) {
        r->off[r->n] = rec->offset;
        r->rlen[r->n] = rec->len;
        r->line[r->n] = rec->line;
    }
    r->n++;
    return 0;
}

static void on_err(void *ctx, const kad_err *err)
{
    struct recs *r = ctx;
    if (err->code != KAD_ELIMIT || err->offset < 0 || (uint64_t)err->offset > r->len)
        abort();
    r->errors++;
}

FUZZ_TARGET(frame)
{
    const char *body = (const char *)data;
    struct recs *a = calloc(1, sizeof(*a));
    a->body = body;
    a->len = size;
    if (ev_frame_buffer(body, size, "webhook", 0, on_rec, on_err, a) != KAD_OK || a->errors)
        abort(); /* nothing here is over the default limit, and on_rec never stops */

    /* a small limit: long records are reported, the rest still framed in order */
    struct recs *s = calloc(1, sizeof(*s));
    s->body = body;
    s->len = size;
    if (ev_frame_buffer(body, size, "webhook", 64, on_rec, on_err, s) != KAD_OK ||
        s->n + s->errors != a->n)
        abort();
    free(s);

    /* the streaming reader on the same bytes (a file; gzip is the reader's alone) */
    if (size < 2 || !(data[0] == 0x1f && data[1] == 0x8b)) {
        FILE *f = tmpfile();
        if (f && fwrite(data, 1, size, f) == size && fflush(f) == 0) {
            int fd = dup(fileno(f));
            lseek(fd, 0, SEEK_SET);
            struct ev_reader *rd = NULL;
            kad_err err;
            if (ev_reader_open_fd(&rd, fd, "file", 0, &err) == KAD_OK) {
                size_t i = 0;
                struct ev_record rec;
                int rc;
                while ((rc = ev_reader_next(rd, &rec, &err)) == 1) {
                    if (i >= a->n ||
                        (i < MAX_RECS && (rec.offset != a->off[i] || rec.len != a->rlen[i] ||
                                          rec.line != a->line[i] ||
                                          memcmp(rec.ptr, body + rec.offset, rec.len) != 0)))
                        abort(); /* the file is framed otherwise than the body */
                    i++;
                }
                if (rc != 0 || i != a->n)
                    abort();
                ev_reader_close(rd);
            }
            close(fd);
        }
        if (f)
            fclose(f);
    }
    free(a);
    return 0;
}

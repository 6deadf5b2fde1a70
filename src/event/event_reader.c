/*
 * event_reader.c - framing bytes into records: NDJSON lines, or JSON texts that span lines,
 * from files, stdin, gzip files and memory buffers. A seekable input that does not start with
 * the gzip magic bytes is read with read(2) straight into the record buffer; gzip input and
 * pipes go through zlib's gzread (which passes plain bytes through unchanged).
 *
 * The mode is chosen once per stream, on its first non-blank line: a line that holds a
 * complete JSON value (brackets balanced outside strings) means NDJSON, and every later line is
 * a record of its own, so one truncated line costs one record and not the rest of the file.
 * A first line that leaves brackets open means a pretty-printed document or array: records are
 * then framed by bracket matching across lines. Records keep their line, column and byte
 * offset for error messages. Every record is bounded by a maximum length (KAD_ELIMIT, then the
 * rest of that line is skipped).
 *
 * This file does not parse JSON (event_json.c) nor know about audit events (event_decode.c).
 */
#include "event/event.h"

#include "base/alloc.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { MODE_UNDECIDED = 0, MODE_NDJSON, MODE_TEXT };
enum { FR_NEED = 0, FR_REC, FR_SKIP, FR_END };

struct framer {
    int mode;
    uint64_t line;   /* line number of the window start */
    uint64_t offset; /* byte offset of the window start */
};

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/*
 * Scan w[0..n) from an opening bracket; returns the index after the matching close, or 0 when
 * the value does not end inside the window. *depth_out gets the depth at the end of the window.
 */
static size_t match_brackets(const char *w, size_t n, int *depth_out)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth <= 0) {
                *depth_out = 0;
                return i + 1;
            }
        }
    }
    *depth_out = depth;
    return 0;
}

static uint64_t count_nl(const char *w, size_t n, size_t *last_nl)
{
    uint64_t k = 0;
    const char *p = w, *end = w + n;
    while ((p = memchr(p, '\n', (size_t)(end - p)))) {
        k++;
        if (last_nl)
            *last_nl = (size_t)(p - w);
        p++;
    }
    return k;
}

/*
 * Frame the next record from window w[0..n) (which starts at a record boundary). FR_REC: the
 * record is w[*rs .. *rs + *rl), *used bytes are consumed. FR_SKIP: *used blank bytes are
 * consumed. FR_NEED: more input is needed. FR_END: nothing left (eof).
 */
static int frame(struct framer *f, const char *w, size_t n, bool eof, size_t *rs, size_t *rl,
                 size_t *used, struct ev_record *rec)
{
    if (n == 0)
        return eof ? FR_END : FR_NEED;
    if (f->mode != MODE_TEXT) {
        const char *nl = memchr(w, '\n', n);
        if (!nl && !eof)
            return FR_NEED;
        size_t len = nl ? (size_t)(nl - w) : n;
        size_t s = 0;
        while (s < len && is_ws(w[s]))
            s++;
        if (s == len) {
            *used = nl ? len + 1 : len;
            f->line++;
            f->offset += *used;
            return FR_SKIP;
        }
        if (f->mode == MODE_UNDECIDED) {
            int depth = 0;
            if (w[s] == '{' || w[s] == '[')
                match_brackets(w + s, len - s, &depth);
            f->mode = depth > 0 ? MODE_TEXT : MODE_NDJSON;
        }
        if (f->mode == MODE_NDJSON) {
            *rs = 0;
            *rl = len;
            *used = nl ? len + 1 : len;
            rec->line = f->line;
            rec->col = 1;
            rec->offset = f->offset;
            f->line++;
            f->offset += *used;
            return FR_REC;
        }
    }
    /* JSON text mode */
    size_t s = 0;
    while (s < n && is_ws(w[s]))
        s++;
    if (s == n) {
        if (!eof)
            return FR_NEED;
        f->line += count_nl(w, n, NULL);
        f->offset += n;
        *used = n;
        return FR_SKIP;
    }
    size_t e;
    if (w[s] == '{' || w[s] == '[') {
        int depth;
        e = match_brackets(w + s, n - s, &depth);
        if (e)
            e += s;
        else if (eof)
            e = n; /* unterminated: the parser reports where */
        else
            return FR_NEED;
    } else {
        const char *nl = memchr(w + s, '\n', n - s);
        if (!nl && !eof)
            return FR_NEED;
        e = nl ? (size_t)(nl - w) : n;
    }
    size_t last_nl = (size_t)-1;
    uint64_t before = count_nl(w, s, &last_nl);
    rec->line = f->line + before;
    rec->col = (uint32_t)(last_nl == (size_t)-1 ? s + 1 : s - last_nl);
    rec->offset = f->offset + s;
    f->line += before + count_nl(w + s, e - s, NULL);
    f->offset += e;
    *rs = s;
    *rl = e - s;
    *used = e;
    return FR_REC;
}

/* ---- file reader --------------------------------------------------------------------------- */

struct ev_reader {
    gzFile gz; /* NULL: plain input read from fd */
    int fd;    /* our duplicate of the caller's descriptor (owned by gz when gz is set) */
    char *origin;
    size_t max;
    char *buf;
    size_t cap, start, end;
    bool eof;
    bool skipping;
    struct framer f;
};

/*
 * True when fd is positioned in seekable plain input: its next two bytes (read with pread, the
 * position does not move) are not gzip's magic 1f 8b. zlib decides the same way on the first
 * bytes it reads, so plain input gives the same bytes either way. Pipes and terminals (no
 * pread) and read errors answer false: gzread then reads them (and reports the error).
 */
static bool plain_seekable(int fd)
{
    off_t pos = lseek(fd, 0, SEEK_CUR);
    if (pos < 0)
        return false;
    unsigned char m[2];
    ssize_t k;
    do
        k = pread(fd, m, 2, pos);
    while (k < 0 && errno == EINTR);
    return k >= 0 && !(k == 2 && m[0] == 0x1f && m[1] == 0x8b);
}

int ev_reader_open_fd(struct ev_reader **out, int fd, const char *origin, size_t max_record,
                      kad_err *err)
{
    *out = NULL;
    int dfd = dup(fd);
    if (dfd < 0)
        return kad_err_setf(err, KAD_EIO, "%s: %s", origin, strerror(errno));
    gzFile gz = NULL;
    if (!plain_seekable(dfd)) {
        gz = gzdopen(dfd, "rb");
        if (!gz) {
            close(dfd);
            return kad_err_setf(err, KAD_EIO, "%s: cannot start reading", origin);
        }
        gzbuffer(gz, 1 << 18);
    }
    struct ev_reader *r = kad_calloc(1, sizeof(*r));
    r->gz = gz;
    r->fd = dfd;
    r->origin = kad_strdup(origin);
    r->max = max_record ? max_record : EV_MAX_RECORD;
    r->cap = 1 << 20;
    r->buf = kad_malloc(r->cap);
    r->f.line = 1;
    *out = r;
    return KAD_OK;
}

int ev_reader_open(struct ev_reader **out, const char *path, size_t max_record, kad_err *err)
{
    *out = NULL;
    if (strcmp(path, "-") == 0)
        return ev_reader_open_fd(out, 0, "<stdin>", max_record, err);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return kad_err_atlc(err, KAD_EIO, path, 0, 0, -1, "cannot open: %s", strerror(errno));
    int rc = ev_reader_open_fd(out, fd, path, max_record, err);
    close(fd);
    return rc;
}

void ev_reader_close(struct ev_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz); /* closes r->fd */
    else
        close(r->fd);
    kad_free(r->origin);
    kad_free(r->buf);
    kad_free(r);
}

static int fill(struct ev_reader *r, kad_err *err)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t nc = r->cap * 2;
        r->buf = kad_realloc(r->buf, nc);
        r->cap = nc;
    }
    size_t want = r->cap - r->end;
    if (want > (1u << 30))
        want = 1u << 30;
    ssize_t n;
    if (!r->gz) {
        do
            n = read(r->fd, r->buf + r->end, want);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return kad_err_atlc(err, KAD_EIO, r->origin, 0, 0, (int64_t)r->f.offset,
                                "read error: %s", strerror(errno));
    } else if ((n = gzread(r->gz, r->buf + r->end, (unsigned)want)) < 0) {
        int zerr;
        const char *m = gzerror(r->gz, &zerr);
        return kad_err_atlc(err, KAD_EIO, r->origin, 0, 0, (int64_t)r->f.offset, "read error: %s",
                            zerr == Z_ERRNO ? strerror(errno) : m);
    }
    if (n == 0)
        r->eof = true;
    r->end += (size_t)n;
    return KAD_OK;
}

int ev_reader_next(struct ev_reader *r, struct ev_record *rec, kad_err *err)
{
    for (;;) {
        const char *w = r->buf + r->start;
        size_t n = r->end - r->start;
        if (r->skipping) {
            const char *nl = memchr(w, '\n', n);
            size_t drop = nl ? (size_t)(nl - w) + 1 : n;
            r->start += drop;
            r->f.offset += drop;
            if (nl) {
                r->f.line++;
                r->skipping = false;
                continue;
            }
            if (r->eof)
                return 0;
            int rc = fill(r, err);
            if (rc)
                return rc;
            continue;
        }
        size_t rs = 0, rl = 0, used = 0;
        int fr = frame(&r->f, w, n, r->eof, &rs, &rl, &used, rec);
        if (fr == FR_REC) {
            rec->ptr = w + rs;
            rec->len = rl;
            rec->origin = r->origin;
            r->start += used;
            if (rl > r->max)
                return kad_err_atlc(err, KAD_ELIMIT, r->origin, (uint32_t)rec->line, rec->col,
                                    (int64_t)rec->offset, "record longer than %zu bytes, skipped",
                                    r->max);
            return 1;
        }
        if (fr == FR_SKIP) {
            r->start += used;
            continue;
        }
        if (fr == FR_END)
            return 0;
        if (n > r->max) {
            int rc =
                kad_err_atlc(err, KAD_ELIMIT, r->origin, (uint32_t)r->f.line, 1,
                             (int64_t)r->f.offset, "record longer than %zu bytes, skipped", r->max);
            r->skipping = true;
            r->f.mode = MODE_NDJSON;
            return rc;
        }
        int rc = fill(r, err);
        if (rc)
            return rc;
    }
}

int ev_frame_buffer(const char *buf, size_t len, const char *origin, size_t max_record,
                    int (*fn)(void *ctx, const struct ev_record *rec),
                    void (*on_error)(void *ctx, const kad_err *err), void *ctx)
{
    struct framer f = {.line = 1};
    size_t max = max_record ? max_record : EV_MAX_RECORD;
    size_t pos = 0;
    for (;;) {
        struct ev_record rec = {0};
        size_t rs = 0, rl = 0, used = 0;
        int fr = frame(&f, buf + pos, len - pos, true, &rs, &rl, &used, &rec);
        if (fr == FR_END || fr == FR_NEED)
            return KAD_OK;
        if (fr == FR_SKIP) {
            pos += used;
            continue;
        }
        rec.ptr = buf + pos + rs;
        rec.len = rl;
        rec.origin = origin;
        pos += used;
        if (rl > max) {
            kad_err err;
            kad_err_atlc(&err, KAD_ELIMIT, origin, (uint32_t)rec.line, rec.col, (int64_t)rec.offset,
                         "record longer than %zu bytes, skipped", max);
            if (on_error)
                on_error(ctx, &err);
            continue;
        }
        int rc = fn(ctx, &rec);
        if (rc)
            return rc;
    }
}

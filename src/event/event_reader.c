/*
 * event_reader.c - framing bytes into records: NDJSON lines, or JSON texts that span lines,
 * from files, stdin, gzip files and memory buffers. Everything is read with read(2) straight
 * into the record buffer (gzip input through zlib's inflate), so records from a pipe are
 * delivered as soon as their line is complete, and an idle callback runs before a read that
 * would wait (see "file reader" below).
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
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
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
    if (f->offset == 0 && (unsigned char)w[0] == 0xEF) {
        /* a UTF-8 byte-order mark at the start of a file or body (editors and PowerShell
           write one) is not part of the first record */
        static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
        if (n < 3 && !eof && memcmp(w, bom, n) == 0)
            return FR_NEED;
        if (n >= 3 && memcmp(w, bom, 3) == 0) {
            *used = 3;
            f->offset += 3;
            return FR_SKIP;
        }
    }
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

/*
 * All input is read with read(2), so a read returns what is there (a pipe or a terminal gives
 * what was written so far) instead of waiting for a full buffer as zlib's gzread does. gzip
 * input (the magic bytes 1f 8b at the start of the stream) is inflated here with zlib's
 * inflate(), member after member, as gzip and gzread do; bytes after the last member that do
 * not start another member are ignored, as gzread ignores them, and reported as a warning
 * (EV_WARN_GZIP_TRAILING, like gzip's "trailing garbage ignored"). A stream that ends inside
 * a member is an error that says the gzip stream is truncated. Before a read(2) that would
 * wait (poll says nothing is ready; never for regular files) the idle callback runs, so a
 * caller can commit and flush what it has while its input is quiet.
 */
#define ZIN_SIZE ((size_t)1 << 18)

struct ev_reader {
    int fd;       /* our duplicate of the caller's descriptor */
    bool regular; /* a regular file: reads never wait, no idle calls */
    bool started; /* the first bytes were looked at (gzip or not) */
    bool gz;      /* gzip input: inflated from zin */
    bool z_init, z_member_done, zin_eof, z_new_member;
    z_stream z;
    uint64_t zin_total;  /* compressed bytes read so far */
    uint64_t zin_member; /* compressed offset where the current member starts */
    int warn;            /* EV_WARN_*, 0 = none */
    kad_err warn_err;
    unsigned char *zin; /* compressed bytes read, not inflated yet: z.next_in, z.avail_in */
    void (*idle)(void *ctx);
    void *idle_ctx;
    char *origin;
    size_t max;
    char *buf;
    size_t cap, start, end;
    bool eof;
    bool skipping;
    bool follow;  /* ev_reader_follow: the end of a regular file means "no more yet" */
    bool changed; /* the check said the file's content was replaced: nothing more is read */
    bool (*check)(void *ctx);
    void *check_ctx;
    struct framer f;
};

int ev_reader_open_fd(struct ev_reader **out, int fd, const char *origin, size_t max_record,
                      kad_err *err)
{
    *out = NULL;
    int dfd = dup(fd);
    if (dfd < 0)
        return kx_err_setf(err, KAD_EIO, "%s: %s", origin, strerror(errno));
    struct stat st;
    struct ev_reader *r = kx_calloc(1, sizeof(*r));
    r->fd = dfd;
    r->regular = fstat(dfd, &st) == 0 && S_ISREG(st.st_mode);
    r->origin = kx_strdup(origin);
    r->max = max_record ? max_record : EV_MAX_RECORD;
    r->cap = 1 << 20;
    r->buf = kx_malloc(r->cap);
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
        return kx_err_atlc(err, KAD_EIO, path, 0, 0, -1, "cannot open: %s", strerror(errno));
    int rc = ev_reader_open_fd(out, fd, path, max_record, err);
    close(fd);
    return rc;
}

void ev_reader_set_idle(struct ev_reader *r, void (*fn)(void *ctx), void *ctx)
{
    r->idle = fn;
    r->idle_ctx = ctx;
}

void ev_reader_follow(struct ev_reader *r, uint64_t offset, uint64_t line)
{
    r->follow = true;
    r->started = true; /* a live log is plain text: no gzip detection */
    r->f.offset = offset;
    r->f.line = line ? line : 1;
}

void ev_reader_follow_end(struct ev_reader *r) { r->follow = false; }

void ev_reader_set_check(struct ev_reader *r, bool (*fn)(void *ctx), void *ctx)
{
    r->check = fn;
    r->check_ctx = ctx;
}

uint64_t ev_reader_offset(const struct ev_reader *r) { return r->f.offset; }

void ev_reader_close(struct ev_reader *r)
{
    if (!r)
        return;
    if (r->z_init)
        inflateEnd(&r->z);
    close(r->fd);
    kx_free(r->zin);
    kx_free(r->origin);
    kx_free(r->buf);
    kx_free(r);
}

/* read(2), after the idle call when it would wait. -1 with errno on error. */
static ssize_t raw_read(struct ev_reader *r, void *dst, size_t want)
{
    if (r->idle && !r->regular) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int k;
        do
            k = poll(&p, 1, 0);
        while (k < 0 && errno == EINTR);
        if (k == 0)
            r->idle(r->idle_ctx);
    }
    ssize_t n;
    do
        n = read(r->fd, dst, want);
    while (n < 0 && errno == EINTR);
    return n;
}

static int read_fail(struct ev_reader *r, const char *what, kad_err *err)
{
    return kx_err_atlc(err, KAD_EIO, r->origin, 0, 0, (int64_t)r->f.offset, "read error: %s", what);
}

/*
 * The first bytes of the stream, into buf: gzip or not. Reads until two bytes are there (a
 * pipe may give one) or the input ends.
 */
static int start(struct ev_reader *r, kad_err *err)
{
    r->started = true;
    while (r->end < 2) {
        ssize_t n = raw_read(r, r->buf + r->end, r->cap - r->end);
        if (n < 0)
            return read_fail(r, strerror(errno), err);
        if (n == 0) {
            r->eof = true;
            return KAD_OK;
        }
        r->end += (size_t)n;
        if ((unsigned char)r->buf[0] != 0x1f)
            return KAD_OK;
    }
    if ((unsigned char)r->buf[0] != 0x1f || (unsigned char)r->buf[1] != 0x8b)
        return KAD_OK;
    /* gzip: what was read is compressed input */
    r->gz = true;
    r->zin = kx_malloc(ZIN_SIZE > r->end ? ZIN_SIZE : r->end);
    memcpy(r->zin, r->buf, r->end);
    memset(&r->z, 0, sizeof(r->z));
    if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK)
        return read_fail(r, "cannot start decompressing", err);
    r->z_init = true;
    r->z.next_in = r->zin;
    r->z.avail_in = (uInt)r->end;
    r->zin_total = r->end;
    r->end = 0;
    return KAD_OK;
}

/* Offset in the compressed input of the next byte inflate would read. */
static uint64_t zin_offset(const struct ev_reader *r) { return r->zin_total - r->z.avail_in; }

/* Bytes after the last gzip member that do not start another one: ignored, with a warning. */
static void gz_trailing(struct ev_reader *r, uint64_t at)
{
    r->warn = EV_WARN_GZIP_TRAILING;
    kx_err_atlc(&r->warn_err, KAD_EIO, r->origin, 0, 0, (int64_t)at,
                "trailing garbage after the gzip data at byte %llu (compressed) ignored",
                (unsigned long long)at);
    r->z.avail_in = 0;
    r->zin_eof = true;
}

int ev_reader_warning(const struct ev_reader *r, kad_err *w)
{
    if (r->warn && w)
        *w = r->warn_err;
    return r->warn;
}

/* Inflate into dst: bytes produced (0 = the end of the input), or -1 with err set. */
static ssize_t gz_read(struct ev_reader *r, char *dst, size_t want, kad_err *err)
{
    if (want > (1u << 30))
        want = 1u << 30;
    for (;;) {
        if (r->z.avail_in == 0 && !r->zin_eof) {
            ssize_t n = raw_read(r, r->zin, ZIN_SIZE);
            if (n < 0) {
                read_fail(r, strerror(errno), err);
                return -1;
            }
            if (n == 0)
                r->zin_eof = true;
            r->z.next_in = r->zin;
            r->z.avail_in = (uInt)n;
            r->zin_total += (uint64_t)n;
        }
        if (r->z_member_done) {
            if (r->z.avail_in == 0) {
                if (r->zin_eof)
                    return 0;
                continue;
            }
            if (r->z.next_in[0] != 0x1f) {
                gz_trailing(r, zin_offset(r)); /* not another member: ignored, as gzread */
                return 0;
            }
            inflateReset(&r->z);
            r->z_member_done = false;
            r->z_new_member = true;
            r->zin_member = zin_offset(r);
        }
        r->z.next_out = (unsigned char *)dst;
        r->z.avail_out = (uInt)want;
        int zr = inflate(&r->z, Z_NO_FLUSH);
        size_t got = want - r->z.avail_out;
        if (zr == Z_STREAM_END) {
            r->z_member_done = true;
            r->z_new_member = false;
        } else if (zr == Z_DATA_ERROR && r->z_new_member && r->z.total_out == 0 && !got) {
            gz_trailing(r, r->zin_member); /* 1f, then no gzip header: garbage too */
            return 0;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            kx_err_atlc(err, KAD_EIO, r->origin, 0, 0, (int64_t)zin_offset(r),
                        "invalid gzip data at byte %llu (compressed): %s",
                        (unsigned long long)zin_offset(r), r->z.msg ? r->z.msg : "corrupt");
            return -1;
        }
        if (got) {
            r->z_new_member = false;
            return (ssize_t)got;
        }
        if (!r->z_member_done && r->z.avail_in == 0 && r->zin_eof) {
            kx_err_atlc(err, KAD_EIO, r->origin, 0, 0, (int64_t)zin_offset(r),
                        "truncated gzip stream: the compressed data ends at byte %llu inside a "
                        "gzip member (the file was cut short)",
                        (unsigned long long)zin_offset(r));
            return -1;
        }
    }
}

static int fill(struct ev_reader *r, kad_err *err)
{
    if (!r->started) {
        int rc = start(r, err);
        if (rc || r->end || r->eof)
            return rc;
    }
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t nc = r->cap * 2;
        r->buf = kx_realloc(r->buf, nc);
        r->cap = nc;
    }
    size_t want = r->cap - r->end;
    ssize_t n;
    if (r->changed)
        return EV_AGAIN;
    if (r->gz) {
        if ((n = gz_read(r, r->buf + r->end, want, err)) < 0)
            return KAD_EIO;
    } else if ((n = raw_read(r, r->buf + r->end, want)) < 0) {
        return read_fail(r, strerror(errno), err);
    }
    if (n > 0 && r->follow && r->check && !r->check(r->check_ctx)) {
        /* the file was replaced in place (copytruncate) before or while these bytes were
           read: they may belong to the new content; drop them, the caller starts over */
        r->changed = true;
        return EV_AGAIN;
    }
    if (n == 0) {
        if (r->follow)
            return EV_AGAIN; /* the writer may append more: keep what is buffered */
        r->eof = true;
    }
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
                return kx_err_atlc(err, KAD_ELIMIT, r->origin, (uint32_t)rec->line, rec->col,
                                   (int64_t)rec->offset,
                                   "record longer than %zu bytes (at byte %llu), skipped", r->max,
                                   (unsigned long long)rec->offset);
            return 1;
        }
        if (fr == FR_SKIP) {
            r->start += used;
            continue;
        }
        if (fr == FR_END)
            return 0;
        if (n > r->max) {
            int rc = kx_err_atlc(err, KAD_ELIMIT, r->origin, (uint32_t)r->f.line, 1,
                                 (int64_t)r->f.offset,
                                 "record longer than %zu bytes (at byte %llu), skipped", r->max,
                                 (unsigned long long)r->f.offset);
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
            kx_err_atlc(&err, KAD_ELIMIT, origin, (uint32_t)rec.line, rec.col, (int64_t)rec.offset,
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

/*
 * kad_follow.c - kad_follow (include/kad.h): following live audit logs across rotation, with
 * resume keys that name a file's content. The design and its guarantees are in
 * docs/internals/follow.md; in short:
 *
 *   - A file is identified by its fingerprint: a hash of its first line (bytes up to the first
 *     newline at or after byte FP_MIN, at most FP_MAX bytes; decompressed for .gz). Appending
 *     never changes it, renaming or copying keeps it, so the key "fp:..." names the content
 *     wherever it lives. A file shorter than that has no fingerprint yet and is not read.
 *   - Per followed path: the live file (read in the reader's follow mode: a last line without
 *     its newline is waited for), files that left the path (renamed or deleted: still read for
 *     late writes during the grace time, then to their end), and a queue of rotated files to
 *     read (a copytruncate copy to finish, rotated files whose content was never seen).
 *   - Rotation is noticed when the live file has nothing more to give: the path names another
 *     file or none (rename, delete), or the file's fingerprint changed (copytruncate).
 *   - Positions: each record's key is committed with the record by the caller (kad_engine);
 *     the follower asks kad_follow_opts.position for content it meets for the first time.
 *
 * Waiting: inotify on each path's directory (any change there wakes the follower), polling
 * every poll_ms when inotify is not available, and a pipe for kad_follow_interrupt.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define FP_MIN 64   /* a fingerprint covers at least this many bytes (whole lines) */
#define FP_MAX 4096 /* and at most this many */
#define KEY_MAX 64
#define GRACE_DEFAULT_MS 2000
#define POLL_DEFAULT_MS 250
#define INOTIFY_SAFETY_MS 1000 /* re-check paths this often even when inotify is quiet */
#define DRAIN_MAX 4            /* files that left their path, still read for late writes */

/* Content seen in this process: its key and how far it was handed out (-1: content that
   predates the start and is left alone). */
struct fl_seen {
    char key[KEY_MAX];
    int64_t offset;
};

struct fl_file {
    int fd; /* -1: closed */
    struct ev_reader *rd;
    char *name; /* the name it was opened by: the records' origin */
    char key[KEY_MAX];
    dev_t dev;
    ino_t ino;
    int64_t skip_to; /* records ending at or before this offset are skipped (gzip resume) */
    int64_t pos;     /* the end of the last record handed out */
    int64_t line;
    size_t seen;     /* index of its entry in kad_follow.seen */
    int64_t left_ms; /* when it left its path (draining), else 0 */
};

struct fl_queued {
    char *name;
    char key[KEY_MAX];
    bool gz;
    int64_t start, line;
};

struct fl_stream {
    char *path, *dir, *base;
    struct fl_file live;
    struct fl_file drain[DRAIN_MAX];
    struct fl_file rot; /* the rotated file being read (from the queue) */
    struct fl_queued *q;
    size_t nq, capq;
    bool started;     /* the start-up search ran */
    bool need_scan;   /* the live file left or was replaced: search for rotated content */
    int64_t trunc_ms; /* a truncation seen, its copy not found yet: since when */
    bool watched;     /* inotify watches its directory */
};

struct kad_follow {
    kad_follow_opts o;
    struct fl_stream *s;
    size_t ns, rr;
    struct fl_seen *seen;
    size_t nseen, capseen;
    int ino_fd;  /* inotify, -1 when not available */
    int wake[2]; /* kad_follow_interrupt */
    atomic_int woken;
    kad_follow_stats st;
};

/* A candidate rotated file of a path (or the live file at start-up). */
struct fl_cand {
    char *name; /* full path */
    char key[KEY_MAX];
    bool gz, live;
    int kind;   /* 0 other, 1 ordered by name (timestamps, dateext), 2 numbered (.1, .2) */
    long num;   /* kind 2 */
    char *stem; /* the file name without .gz (kind 1 order) */
    int64_t mtime_ns;
    int64_t size; /* plain: its size; gzip: the size its trailer gives (mod 2^32) */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ============================================================================================ */
/* Fingerprints                                                                                 */
/* ============================================================================================ */

/* The key of the first bytes b[0..n) of a file: 1, or 0 when they are not enough yet. */
static int fp_key(const unsigned char *b, size_t n, char key[KEY_MAX])
{
    size_t len = 0;
    if (n >= FP_MIN) {
        const unsigned char *nl = memchr(b + FP_MIN - 1, '\n', n - (FP_MIN - 1));
        if (nl)
            len = (size_t)(nl - b) + 1;
    }
    if (!len && n >= FP_MAX)
        len = FP_MAX;
    if (!len)
        return 0;
    snprintf(key, KEY_MAX, "fp:%016llx%016llx-%zu", (unsigned long long)kx_hash64(b, len, 0),
             (unsigned long long)kx_hash64(b, len, 0x9e3779b97f4a7c15ULL), len);
    return 1;
}

static bool fd_is_gzip(int fd)
{
    unsigned char m[2];
    return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* The first FP_MAX decompressed bytes of a gzip file into out; their count, -1 on error. */
static ssize_t gz_head(int fd, unsigned char *out)
{
    unsigned char in[16384];
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    z.next_out = out;
    z.avail_out = FP_MAX;
    off_t at = 0;
    ssize_t rc = -1;
    while (z.avail_out > 0) {
        ssize_t n = pread(fd, in, sizeof(in), at);
        if (n < 0)
            break;
        if (n == 0) {
            rc = FP_MAX - z.avail_out; /* cut short (still being written): what there is */
            break;
        }
        at += n;
        z.next_in = in;
        z.avail_in = (uInt)n;
        int zr = inflate(&z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END || z.avail_out == 0) {
            rc = FP_MAX - z.avail_out;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            break;
    }
    inflateEnd(&z);
    return rc;
}

/* The fingerprint of an open file: 1, 0 when it is too short to have one (yet). */
static int fp_of_fd(int fd, bool gz, char key[KEY_MAX])
{
    unsigned char b[FP_MAX];
    ssize_t n;
    if (gz) {
        n = gz_head(fd, b);
    } else {
        do
            n = pread(fd, b, FP_MAX, 0);
        while (n < 0 && errno == EINTR);
    }
    if (n <= 0)
        return 0;
    return fp_key(b, (size_t)n, key);
}

/* ============================================================================================ */
/* Content seen in this process                                                                 */
/* ============================================================================================ */

static size_t seen_find(const kad_follow *f, const char *key)
{
    for (size_t i = f->nseen; i-- > 0;)
        if (strcmp(f->seen[i].key, key) == 0)
            return i;
    return (size_t)-1;
}

static size_t seen_add(kad_follow *f, const char *key, int64_t offset)
{
    size_t i = seen_find(f, key);
    if (i != (size_t)-1) {
        if (offset > f->seen[i].offset)
            f->seen[i].offset = offset;
        return i;
    }
    if (f->nseen == f->capseen) {
        f->capseen = f->capseen ? f->capseen * 2 : 16;
        f->seen = kx_realloc(f->seen, f->capseen * sizeof(*f->seen));
    }
    snprintf(f->seen[f->nseen].key, KEY_MAX, "%s", key);
    f->seen[f->nseen].offset = offset;
    return f->nseen++;
}

/* Where reading content `key` starts: what this process handed out, else the committed
   position (the caller's), else 0. */
static void start_of(kad_follow *f, const char *key, int64_t *offset, int64_t *line)
{
    *offset = 0;
    *line = 1;
    size_t i = seen_find(f, key);
    if (i != (size_t)-1 && f->seen[i].offset > 0) {
        *offset = f->seen[i].offset;
        *line = 0; /* unknown: records are counted from the resume point */
    }
    int64_t po, pl;
    if (f->o.position && f->o.position(f->o.ud, key, &po, &pl) == KAD_OK && po > *offset) {
        *offset = po;
        *line = pl;
    }
}

/* ============================================================================================ */
/* Files                                                                                        */
/* ============================================================================================ */

static void file_init(struct fl_file *fl)
{
    memset(fl, 0, sizeof(*fl));
    fl->fd = -1;
}

static void file_close(struct fl_file *fl)
{
    if (fl->fd < 0)
        return;
    ev_reader_close(fl->rd);
    close(fl->fd);
    kx_free(fl->name);
    file_init(fl);
}

/* Still the same content at the same place (the reader's check in follow mode). */
static bool live_same(void *ctx)
{
    struct fl_file *fl = ctx;
    char key[KEY_MAX];
    return fp_of_fd(fl->fd, false, key) == 1 && strcmp(key, fl->key) == 0;
}

/*
 * Open `name` for reading from `start` (the byte after a record, at `line`; 0 = unknown).
 * follow: the live file (plain; the reader waits at its end). Otherwise a complete rotated file,
 * plain (seek) or gzip (decompress and skip). 1 opened, 0 not there, KAD_EIO.
 */
static int file_open(kad_follow *f, struct fl_file *fl, const char *name, int fd, const char *key,
                     int64_t start, int64_t line, bool follow, kad_err *err)
{
    file_init(fl);
    bool gz = !follow && fd_is_gzip(fd);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return kx_err_setf(err, KAD_EIO, "%s: %s", name, strerror(errno));
    }
    if (!gz && start > 0 && lseek(fd, start, SEEK_SET) < 0) {
        close(fd);
        return kx_err_setf(err, KAD_EIO, "%s: %s", name, strerror(errno));
    }
    int rc = ev_reader_open_fd(&fl->rd, fd, name, f->o.max_record, err);
    if (rc != KAD_OK) {
        close(fd);
        return rc;
    }
    fl->fd = fd;
    fl->name = kx_strdup(name);
    snprintf(fl->key, KEY_MAX, "%s", key);
    fl->dev = sb.st_dev;
    fl->ino = sb.st_ino;
    fl->pos = start;
    fl->line = line;
    if (gz) {
        fl->skip_to = start;
    } else {
        ev_reader_follow(fl->rd, (uint64_t)start, (uint64_t)(line > 0 ? line : 1));
        if (!follow)
            ev_reader_follow_end(fl->rd);
        else
            ev_reader_set_check(fl->rd, live_same, fl);
    }
    fl->seen = seen_add(f, key, start);
    f->st.files++;
    return 1;
}

/*
 * The next record of one file: 1 (into out), 0 its end (not in follow mode), EV_AGAIN (follow
 * mode: nothing complete yet), KAD_ELIMIT (skipped; go on), KAD_EIO.
 */
static int file_next(kad_follow *f, struct fl_file *fl, kad_follow_rec *out, kad_err *err)
{
    for (;;) {
        struct ev_record er;
        kad_err e2;
        kad_err_clear(&e2);
        int n = ev_reader_next(fl->rd, &er, &e2);
        if (n == 1) {
            int64_t end = (int64_t)er.offset + (int64_t)er.len;
            if (end <= fl->skip_to)
                continue;
            fl->pos = end;
            fl->line = (int64_t)er.line;
            if (end > f->seen[fl->seen].offset)
                f->seen[fl->seen].offset = end;
            out->rec = (kad_record){
                .data = er.ptr,
                .len = er.len,
                .origin = er.origin,
                .line = er.line,
                .col = er.col,
                .offset = er.offset,
            };
            out->source = fl->key;
            out->read_ms = now_ms();
            f->st.records++;
            f->st.bytes += er.len;
            return 1;
        }
        if (n < 0 && err)
            *err = e2;
        return n;
    }
}

/* ============================================================================================ */
/* Rotated files of a path                                                                      */
/* ============================================================================================ */

/* Is `name` (in the path's directory) a rotated file of the path? Sets its kind and order. */
static bool rotated_name(const struct fl_stream *s, const char *name, struct fl_cand *c)
{
    size_t bl = strlen(s->base), nl = strlen(name);
    if (name[0] == '.' || strcmp(name, s->base) == 0)
        return false;
    size_t sl = nl;
    c->gz = nl > 3 && strcmp(name + nl - 3, ".gz") == 0;
    if (c->gz)
        sl -= 3;
    c->kind = 0;
    c->num = 0;
    /* logrotate: audit.log.1, audit.log.2.gz, audit.log-20261207 (dateext) */
    if (sl > bl + 1 && strncmp(name, s->base, bl) == 0 && (name[bl] == '.' || name[bl] == '-')) {
        if (name[bl] == '.') {
            size_t i = bl + 1;
            long v = 0;
            while (i < sl && name[i] >= '0' && name[i] <= '9' && v < 100000000)
                v = v * 10 + (name[i++] - '0');
            if (i == sl) {
                c->kind = 2;
                c->num = v;
            }
        } else {
            c->kind = 1;
        }
        return true;
    }
    /* kube-apiserver (lumberjack): audit.log -> audit-2026-12-07T16-27-44.123.log */
    const char *dot = strrchr(s->base, '.');
    if (dot && dot > s->base) {
        size_t stl = (size_t)(dot - s->base), el = bl - stl;
        if (sl > stl + 1 + el && strncmp(name, s->base, stl) == 0 && name[stl] == '-' &&
            strncmp(name + sl - el, dot, el) == 0) {
            c->kind = 1;
            return true;
        }
    }
    return false;
}

/* Oldest first: by modification time (renames and gzip keep it, a copy gets the time of the
   copy), then by the name's order for equal times (.2 before .1, timestamps ascending). */
static int cand_cmp(const void *pa, const void *pb)
{
    const struct fl_cand *a = pa, *b = pb;
    if (a->live != b->live)
        return a->live ? 1 : -1; /* the live file is the newest */
    if (a->mtime_ns != b->mtime_ns)
        return a->mtime_ns < b->mtime_ns ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind - b->kind;
    if (a->kind == 2 && a->num != b->num)
        return a->num > b->num ? -1 : 1; /* .2 is older than .1 */
    if (a->kind == 1) {
        int c = strcmp(a->stem, b->stem); /* timestamps in the name */
        if (c)
            return c;
    }
    return strcmp(a->name, b->name);
}

static void cands_free(struct fl_cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kx_free(c[i].name);
        kx_free(c[i].stem);
    }
    kx_free(c);
}

/*
 * The path's rotated files that have a fingerprint, oldest first, one per content (a plain
 * file preferred to its .gz twin, which may still be being written), and with_live: the live
 * file last. Files whose content is the live file's are left out.
 */
static struct fl_cand *list_cands(const struct fl_stream *s, bool with_live, size_t *n)
{
    *n = 0;
    size_t cap = 8;
    struct fl_cand *c = kx_calloc(cap, sizeof(*c));
    DIR *d = opendir(s->dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        struct fl_cand cand;
        memset(&cand, 0, sizeof(cand));
        bool live = with_live && strcmp(de->d_name, s->base) == 0;
        if (!live && !rotated_name(s, de->d_name, &cand))
            continue;
        cand.live = live;
        size_t pl = strlen(s->dir) + strlen(de->d_name) + 2;
        char *full = kx_malloc(pl);
        snprintf(full, pl, "%s/%s", s->dir, de->d_name);
        int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            if (fd >= 0)
                close(fd);
            kx_free(full);
            continue;
        }
        cand.gz = !live && fd_is_gzip(fd);
        int ok = fp_of_fd(fd, cand.gz, cand.key);
        cand.size = sb.st_size;
        unsigned char t[4];
        if (cand.gz)
            cand.size = sb.st_size >= 18 && pread(fd, t, 4, sb.st_size - 4) == 4
                            ? (int64_t)((uint32_t)t[0] | (uint32_t)t[1] << 8 |
                                        (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24)
                            : -1;
        close(fd);
        if (ok != 1) {
            kx_free(full);
            continue;
        }
        cand.name = full;
        cand.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        size_t nl = strlen(de->d_name);
        cand.stem =
            kx_strndup(de->d_name, nl > 3 && strcmp(de->d_name + nl - 3, ".gz") == 0 ? nl - 3 : nl);
        /* one per content */
        size_t j;
        for (j = 0; j < *n; j++)
            if (strcmp(c[j].key, cand.key) == 0)
                break;
        if (j < *n) {
            bool replace = cand.live || (!c[j].live && c[j].gz && !cand.gz);
            if (replace) {
                kx_free(c[j].name);
                kx_free(c[j].stem);
                c[j] = cand;
            } else {
                kx_free(cand.name);
                kx_free(cand.stem);
            }
            continue;
        }
        if (*n == cap) {
            cap *= 2;
            c = kx_realloc(c, cap * sizeof(*c));
        }
        c[(*n)++] = cand;
    }
    if (d)
        closedir(d);
    qsort(c, *n, sizeof(*c), cand_cmp);
    return c;
}

static void enqueue(struct fl_stream *s, const struct fl_cand *c, int64_t start, int64_t line)
{
    if (s->nq == s->capq) {
        s->capq = s->capq ? s->capq * 2 : 8;
        s->q = kx_realloc(s->q, s->capq * sizeof(*s->q));
    }
    struct fl_queued *q = &s->q[s->nq++];
    q->name = kx_strdup(c->name);
    snprintf(q->key, KEY_MAX, "%s", c->key);
    q->gz = c->gz;
    q->start = start;
    q->line = line;
}

/* Was content read to `offset` read to the end of candidate c? (gzip: by the size in its
   trailer, which is the size modulo 2^32 of a one-member file; unsure means "no") */
static bool cand_done(const struct fl_cand *c, int64_t offset)
{
    if (c->gz)
        return c->size >= 0 && (uint32_t)c->size == (uint32_t)offset;
    return offset >= c->size;
}

/*
 * Start-up. A rotated file whose content has a known position is finished from there when it
 * has more (a restart after the live file was rotated). Rotated files with no known position
 * last modified no earlier than the newest known file were rotated while nothing read them:
 * read in full, oldest first. Older ones, or all of them when no position is known, predate what
 * this state has read and are left alone. The live file is opened by live_open (its position asked
 * there).
 */
static void stream_start(kad_follow *f, struct fl_stream *s)
{
    size_t n;
    struct fl_cand *c = list_cands(s, true, &n);
    bool any = false;
    int64_t newest = INT64_MIN; /* modification time of the newest file with a known position */
    int64_t *off = kx_calloc(n ? n : 1, sizeof(*off)), *ln = kx_calloc(n ? n : 1, sizeof(*ln));
    bool *known = kx_calloc(n ? n : 1, sizeof(*known));
    for (size_t i = 0; i < n; i++) {
        if (f->o.position && f->o.position(f->o.ud, c[i].key, &off[i], &ln[i]) == KAD_OK) {
            known[i] = any = true;
            if (c[i].mtime_ns > newest)
                newest = c[i].mtime_ns;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (c[i].live)
            continue;
        if (known[i]) {
            if (cand_done(&c[i], off[i]))
                seen_add(f, c[i].key, off[i]);
            else
                enqueue(s, &c[i], off[i], ln[i]), seen_add(f, c[i].key, off[i]);
        } else if (any && c[i].mtime_ns >= newest) {
            /* written to no earlier than the newest known file (the same clock tick counts:
               reading content never read is safe, leaving it is a loss) */
            enqueue(s, &c[i], 0, 1);
            seen_add(f, c[i].key, 0);
            f->st.missed++;
        } else {
            seen_add(f, c[i].key, -1); /* predates what was read: left alone */
        }
    }
    kx_free(off);
    kx_free(ln);
    kx_free(known);
    cands_free(c, n);
}

/*
 * After the live file left its path or was replaced: rotated files whose content was never
 * seen (rotated more than once while the follower was busy, or while a path was missing) are
 * queued in full, oldest first.
 */
static void scan_missed(kad_follow *f, struct fl_stream *s)
{
    size_t n;
    struct fl_cand *c = list_cands(s, false, &n);
    for (size_t i = 0; i < n; i++) {
        if (seen_find(f, c[i].key) != (size_t)-1)
            continue;
        int64_t o, l;
        start_of(f, c[i].key, &o, &l);
        enqueue(s, &c[i], o, l);
        seen_add(f, c[i].key, o);
        f->st.missed++;
    }
    cands_free(c, n);
}

/* A rotated copy of `key` (the content that was truncated away): found and queued from the
   position reached. */
static bool queue_copy(kad_follow *f, struct fl_stream *s, const struct fl_file *old)
{
    size_t n;
    struct fl_cand *c = list_cands(s, false, &n);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(c[i].key, old->key) != 0)
            continue;
        enqueue(s, &c[i], old->pos, old->line);
        found = true;
    }
    cands_free(c, n);
    return found;
}

/* ============================================================================================ */
/* One followed path                                                                            */
/* ============================================================================================ */

/* Open the file at the path when it has a fingerprint: 1, 0 (not there or too short yet). */
static int live_open(kad_follow *f, struct fl_stream *s, kad_err *err)
{
    int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat sb;
    char key[KEY_MAX];
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || fp_of_fd(fd, false, key) != 1) {
        close(fd);
        return 0;
    }
    int64_t o, l;
    start_of(f, key, &o, &l);
    if (o > sb.st_size) {
        kx_log(KX_LOG_WARN,
               "%s: shorter (%lld bytes) than the position committed for its content (%lld): "
               "reading it from its start",
               s->path, (long long)sb.st_size, (long long)o);
        o = 0;
        l = 1;
    }
    return file_open(f, &s->live, s->path, fd, key, o, l, true, err);
}

/* The live file left its path (renamed or deleted): it is drained for late writes. */
static void live_left(kad_follow *f, struct fl_stream *s)
{
    size_t i;
    for (i = 0; i < DRAIN_MAX && s->drain[i].fd >= 0; i++)
        ;
    if (i == DRAIN_MAX) {
        /* too many at once: the oldest stops waiting for late writes */
        ev_reader_follow_end(s->drain[0].rd);
        s->drain[0].left_ms = 1;
        for (i = 0; i < DRAIN_MAX && s->drain[i].fd >= 0; i++)
            ;
        if (i == DRAIN_MAX)
            i = DRAIN_MAX - 1, file_close(&s->drain[i]);
    }
    s->drain[i] = s->live;
    s->drain[i].left_ms = mono_ms();
    /* its name now points elsewhere (or nowhere): no more content checks against the path */
    ev_reader_set_check(s->drain[i].rd, NULL, NULL);
    file_init(&s->live);
    f->st.rotations++;
    s->need_scan = true;
}

/*
 * The live file has nothing more to give: has it been rotated? 1: the stream changed (call
 * again), 0: wait.
 */
static int live_check(kad_follow *f, struct fl_stream *s)
{
    struct stat sb;
    if (stat(s->path, &sb) != 0 || sb.st_dev != s->live.dev || sb.st_ino != s->live.ino) {
        live_left(f, s);
        return 1;
    }
    if (live_same(&s->live))
        return 0;
    /* replaced in place: copytruncate (or `> file`). The rest of its content is in the copy */
    if (queue_copy(f, s, &s->live)) {
        f->st.truncations++;
        f->st.copies++;
    } else {
        int64_t t = mono_ms();
        if (!s->trunc_ms) {
            s->trunc_ms = t; /* the copy may still be on its way: wait the grace time */
            return 0;
        }
        if (t - s->trunc_ms < (f->o.rotate_grace_ms ? f->o.rotate_grace_ms : GRACE_DEFAULT_MS))
            return 0;
        f->st.truncations++;
        f->st.lost++;
        kx_log(KX_LOG_WARN,
               "%s: truncated at byte %lld and no rotated copy of its content was found: lines "
               "written after that before the truncation are lost",
               s->path, (long long)s->live.pos);
    }
    s->trunc_ms = 0;
    file_close(&s->live);
    s->need_scan = true;
    return 1;
}

/* One path's next record: 1, 0 (none now), or a negative code. */
static int stream_next(kad_follow *f, struct fl_stream *s, kad_follow_rec *out, kad_err *err)
{
    if (!s->started) {
        s->started = true;
        stream_start(f, s);
    }
    int grace = f->o.rotate_grace_ms ? f->o.rotate_grace_ms : GRACE_DEFAULT_MS;
    /* files that left the path: late writes, then their last line, then closed */
    for (size_t i = 0; i < DRAIN_MAX; i++) {
        struct fl_file *d = &s->drain[i];
        if (d->fd < 0)
            continue;
        int rc = file_next(f, d, out, err);
        if (rc == EV_AGAIN && mono_ms() - d->left_ms >= grace) {
            ev_reader_follow_end(d->rd);
            rc = file_next(f, d, out, err);
        }
        if (rc == 1 || rc == KAD_ELIMIT)
            return rc;
        if (rc == 0 || rc == KAD_EIO) {
            file_close(d);
            if (rc == KAD_EIO)
                return rc;
        }
    }
    for (int guard = 0; guard < 64; guard++) {
        /* rotated files in order */
        while (s->rot.fd >= 0 || s->nq) {
            if (s->rot.fd < 0) {
                struct fl_queued q = s->q[0];
                memmove(s->q, s->q + 1, (s->nq - 1) * sizeof(*s->q));
                s->nq--;
                int fd = open(q.name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                int rc =
                    fd < 0 ? kx_err_setf(err, KAD_EIO, "%s: %s", q.name, strerror(errno))
                           : file_open(f, &s->rot, q.name, fd, q.key, q.start, q.line, false, err);
                kx_free(q.name);
                if (rc < 0)
                    return rc;
            }
            int rc = file_next(f, &s->rot, out, err);
            if (rc == 1 || rc == KAD_ELIMIT)
                return rc;
            file_close(&s->rot);
            if (rc < 0)
                return rc;
        }
        if (s->need_scan) {
            s->need_scan = false;
            scan_missed(f, s);
            if (s->nq)
                continue;
        }
        if (s->live.fd < 0) {
            int rc = live_open(f, s, err);
            if (rc <= 0)
                return rc;
        }
        int rc = file_next(f, &s->live, out, err);
        if (rc == 1 || rc == KAD_ELIMIT)
            return rc;
        if (rc == KAD_EIO) {
            file_close(&s->live);
            return rc;
        }
        if (live_check(f, s) == 0)
            return 0;
    }
    return 0;
}

/* ============================================================================================ */
/* The follower                                                                                 */
/* ============================================================================================ */

int kad_follow_open(kad_follow **out, const char *const *paths, const kad_follow_opts *o,
                    kad_err *err)
{
    *out = NULL;
    size_t n = 0;
    while (paths && paths[n])
        n++;
    if (n == 0)
        return kx_err_setf(err, KAD_EINVAL, "kad_follow_open: no path to follow");
    for (size_t i = 0; i < n; i++) {
        const char *sl = strrchr(paths[i], '/');
        const char *b = sl ? sl + 1 : paths[i];
        if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
            return kx_err_setf(err, KAD_EINVAL, "%s: not a file name to follow", paths[i]);
    }
    kad_follow *f = kx_calloc(1, sizeof(*f));
    if (o)
        f->o = *o;
    if (f->o.rotate_grace_ms < 0)
        f->o.rotate_grace_ms = 0;
    f->ns = n;
    f->s = kx_calloc(n, sizeof(*f->s));
    f->wake[0] = f->wake[1] = -1;
    atomic_init(&f->woken, 0);
    bool piped = pipe(f->wake) == 0;
    for (int i = 0; piped && i < 2; i++)
        piped = fcntl(f->wake[i], F_SETFD, FD_CLOEXEC) == 0 &&
                fcntl(f->wake[i], F_SETFL, O_NONBLOCK) == 0;
    if (!piped) {
        f->wake[0] = f->wake[1] = -1;
        kad_follow_close(f);
        return kx_err_setf(err, KAD_EIO, "kad_follow_open: pipe: %s", strerror(errno));
    }
    f->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    for (size_t i = 0; i < n; i++) {
        struct fl_stream *s = &f->s[i];
        s->path = kx_strdup(paths[i]);
        const char *sl = strrchr(paths[i], '/');
        s->base = kx_strdup(sl ? sl + 1 : paths[i]);
        s->dir =
            sl ? (sl == paths[i] ? kx_strdup("/") : kx_strndup(paths[i], (size_t)(sl - paths[i])))
               : kx_strdup(".");
        file_init(&s->live);
        file_init(&s->rot);
        for (size_t k = 0; k < DRAIN_MAX; k++)
            file_init(&s->drain[k]);
        if (f->ino_fd >= 0)
            s->watched = inotify_add_watch(f->ino_fd, s->dir,
                                           IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                               IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB) >= 0;
    }
    *out = f;
    return KAD_OK;
}

void kad_follow_interrupt(kad_follow *f)
{
    atomic_store(&f->woken, 1);
    if (f->wake[1] >= 0) {
        ssize_t w = write(f->wake[1], "x", 1);
        (void)w; /* a full pipe is already a wake-up */
    }
}

/* Wait for a change in a watched directory, a wake-up or ms; false when a signal came. */
static bool wait_change(kad_follow *f, int ms)
{
    struct pollfd p[2] = {{.fd = f->wake[0], .events = POLLIN},
                          {.fd = f->ino_fd, .events = POLLIN}};
    int np = f->ino_fd >= 0 ? 2 : 1;
    int k = poll(p, (nfds_t)np, ms);
    if (k < 0)
        return errno != EINTR;
    char buf[4096];
    if (k > 0 && np == 2 && (p[1].revents & POLLIN))
        while (read(f->ino_fd, buf, sizeof(buf)) > 0)
            ;
    return true;
}

int kad_follow_next(kad_follow *f, kad_follow_rec *out, int timeout_ms, kad_err *err)
{
    int64_t t0 = mono_ms();
    int pollms = f->o.poll_ms > 0 ? f->o.poll_ms : POLL_DEFAULT_MS;
    for (;;) {
        bool pending = false; /* a grace time is running: look again soon */
        for (size_t k = 0; k < f->ns; k++) {
            struct fl_stream *s = &f->s[(f->rr + k) % f->ns];
            int rc = stream_next(f, s, out, err);
            if (rc != 0) {
                f->rr = (f->rr + k + 1) % f->ns;
                return rc;
            }
            for (size_t i = 0; i < DRAIN_MAX; i++)
                pending |= s->drain[i].fd >= 0;
            pending |= s->trunc_ms != 0;
        }
        char buf[64];
        if (atomic_exchange(&f->woken, 0)) {
            while (read(f->wake[0], buf, sizeof(buf)) > 0)
                ;
            return 0;
        }
        int64_t left = timeout_ms < 0 ? INT32_MAX : timeout_ms - (mono_ms() - t0);
        if (left <= 0)
            return 0;
        bool all_watched = f->ino_fd >= 0;
        for (size_t k = 0; k < f->ns; k++)
            all_watched &= f->s[k].watched;
        int64_t ms = all_watched ? INOTIFY_SAFETY_MS : pollms;
        if (pending && ms > 50)
            ms = 50;
        if (ms > left)
            ms = left;
        if (!wait_change(f, (int)ms))
            return 0; /* a signal: let the caller look at it */
    }
}

void kad_follow_stats_get(const kad_follow *f, kad_follow_stats *out) { *out = f->st; }

void kad_follow_close(kad_follow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ns; i++) {
        struct fl_stream *s = &f->s[i];
        file_close(&s->live);
        file_close(&s->rot);
        for (size_t k = 0; k < DRAIN_MAX; k++)
            file_close(&s->drain[k]);
        for (size_t k = 0; k < s->nq; k++)
            kx_free(s->q[k].name);
        kx_free(s->q);
        kx_free(s->path);
        kx_free(s->dir);
        kx_free(s->base);
    }
    kx_free(f->s);
    kx_free(f->seen);
    if (f->ino_fd >= 0)
        close(f->ino_fd);
    if (f->wake[0] >= 0)
        close(f->wake[0]);
    if (f->wake[1] >= 0)
        close(f->wake[1]);
    kx_free(f);
}

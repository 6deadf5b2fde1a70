/*
 * srv_spool.c - the durable spool between the webhook and the detection thread
 * (docs/internals/serve.md "Spool").
 *
 * Segments are files SPOOL_DIR/<16 hex digits>.ksp, named by an increasing id, appended to by
 * one writer segment at a time and read in id order. Each record is a frame:
 *
 *     "#KSP2 LLLLLLLL KKKKKKKKKKKKKKKK RRRRRRRRRRRRRRRR CCCCCCCC\n" PAYLOAD "\n"
 *
 * (payload length, dedup key, receipt time in microseconds, CRC-32C of the payload; hex;
 * "#KSP1" frames of earlier versions carry zlib's CRC-32 instead and are still read). A
 * request appends its frames with one write() under the lock, then waits for an fdatasync that
 * covers them (group commit: the first waiter syncs for everyone written so far, the others
 * wait for it), then gets its 200. The reader only sees bytes that are fsynced. At start every
 * segment is checked frame by frame and cut at the first torn frame (written, never
 * acknowledged); the dedup set is rebuilt from the keys of the frames still there.
 *
 * The detection thread feeds each record with the resume key "spool:<segment name>", so the
 * position after each record is committed with the state; after a commit, sealed segments read
 * to their end are deleted.
 */
#include "serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

#define HDR_LEN 58 /* "#KSP1 " 8 " " 16 " " 16 " " 8 "\n" */
#define SEG_MAX ((uint64_t)64 << 20)
#define DEDUP_GEN ((size_t)1 << 18) /* keys per generation; two generations are kept */
#define READ_CHUNK ((size_t)4 << 20)

struct seg {
    uint64_t id;
    char name[24];
    char key[32];
    uint64_t size, durable;
    bool sealed;
    int64_t rpos; /* the reader's next frame (reader only) */
    struct seg *next;
};

struct dedup_gen {
    uint64_t *tab; /* 2 * DEDUP_GEN slots, 0 = empty */
    size_t n;
};

struct srv_spool {
    char *dir;
    uint64_t max, seg_max;
    pthread_mutex_t mu;
    pthread_cond_t synced_cv, data_cv;
    struct seg *head, *tail;
    int wfd; /* tail's, when tail is not sealed */
    uint64_t bytes, nsegs;
    uint64_t wseq, synced_seq;
    bool syncing, broken;
    uint64_t next_id;
    struct dedup_gen gen[2]; /* gen[0] current */
    /* reader */
    struct seg *rseg;
    int rfd;
    uint64_t rfd_id;
    char *rbuf;
    size_t rcap, rlen;
    int64_t roff; /* file offset of rbuf[0] */
};

/* ---- dedup ----------------------------------------------------------------------------------- */

static bool gen_has(const struct dedup_gen *g, uint64_t k)
{
    size_t mask = 2 * DEDUP_GEN - 1;
    for (size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL) & mask;; i = (i + 1) & mask) {
        if (g->tab[i] == k)
            return true;
        if (g->tab[i] == 0)
            return false;
    }
}

static void gen_add(struct dedup_gen *g, uint64_t k)
{
    size_t mask = 2 * DEDUP_GEN - 1;
    for (size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL) & mask;; i = (i + 1) & mask) {
        if (g->tab[i] == k)
            return;
        if (g->tab[i] == 0) {
            g->tab[i] = k;
            g->n++;
            return;
        }
    }
}

/* True when k was seen recently; remembers it otherwise. */
static bool dedup_seen(struct srv_spool *sp, uint64_t k)
{
    if (k == 0)
        return false;
    if (gen_has(&sp->gen[0], k) || gen_has(&sp->gen[1], k))
        return true;
    if (sp->gen[0].n >= DEDUP_GEN) { /* the older generation is forgotten */
        uint64_t *t = sp->gen[1].tab;
        memset(t, 0, 2 * DEDUP_GEN * sizeof(*t));
        sp->gen[1] = sp->gen[0];
        sp->gen[0].tab = t;
        sp->gen[0].n = 0;
    }
    gen_add(&sp->gen[0], k);
    return false;
}

/* ---- frames ---------------------------------------------------------------------------------- */

/* v as n lower-case hex digits (the low n*4 bits) */
static char *put_hex(char *o, uint64_t v, int n)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = n - 1; i >= 0; i--, v >>= 4)
        o[i] = digits[v & 15];
    return o + n;
}

/* CRC-32C (Castagnoli) of a payload: the SSE4.2 instruction (8 bytes at a time) when the build
   targets it, else a table. zlib's crc32 cost about 1.7 cycles a byte here, twice per record
   (bench/NOTES.md, "serve"). */
#ifdef __SSE4_2__
static uint32_t crc32c(const char *p, size_t n)
{
    uint64_t c = 0xffffffffu;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n; p++, n--)
        c32 = _mm_crc32_u8(c32, (unsigned char)*p);
    return ~c32;
}
#else
static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

static uint32_t crc32c(const char *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_init);
    uint32_t c = 0xffffffffu;
    for (; n; p++, n--)
        c = crc32c_table[(c ^ (unsigned char)*p) & 0xff] ^ (c >> 8);
    return ~c;
}
#endif

static size_t frame_put(char *o, const char *data, size_t len, uint64_t key, int64_t recv_us)
{
    uint32_t crc = crc32c(data, len);
    char *h = o;
    memcpy(h, "#KSP2 ", 6);
    h = put_hex(h + 6, len, 8);
    *h++ = ' ';
    h = put_hex(h, key, 16);
    *h++ = ' ';
    h = put_hex(h, (uint64_t)recv_us, 16);
    *h++ = ' ';
    h = put_hex(h, crc, 8);
    *h = '\n';
    memcpy(o + HDR_LEN, data, len);
    o[HDR_LEN + len] = '\n';
    return HDR_LEN + len + 1;
}

static bool hex(const char *p, int n, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

struct frame {
    uint64_t len, key, recv_us, crc;
    int version; /* 1: CRC-32 (zlib; spools of earlier versions), 2: CRC-32C */
};

static bool frame_hdr(const char *h, struct frame *f)
{
    if (memcmp(h, "#KSP", 4) != 0 || (h[4] != '1' && h[4] != '2') || h[5] != ' ')
        return false;
    f->version = h[4] - '0';
    return hex(h + 6, 8, &f->len) && h[14] == ' ' && hex(h + 15, 16, &f->key) && h[31] == ' ' &&
           hex(h + 32, 16, &f->recv_us) && h[48] == ' ' && hex(h + 49, 8, &f->crc) && h[57] == '\n';
}

static bool frame_ok(const struct frame *f, const char *payload)
{
    if (payload[f->len] != '\n')
        return false;
    uint32_t crc = f->version == 2
                       ? crc32c(payload, f->len)
                       : (uint32_t)crc32(0L, (const unsigned char *)payload, (uInt)f->len);
    return crc == (uint32_t)f->crc;
}

/* ---- segments -------------------------------------------------------------------------------- */

static struct seg *seg_new(uint64_t id)
{
    struct seg *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = id;
    snprintf(g->name, sizeof(g->name), "%016" PRIx64 ".ksp", id);
    snprintf(g->key, sizeof(g->key), "spool:%s", g->name);
    return g;
}

static int seg_path(const struct srv_spool *sp, const struct seg *g, char *buf, size_t size)
{
    return snprintf(buf, size, "%s/%s", sp->dir, g->name);
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Check a segment frame by frame, cut a torn tail, remember its keys. */
static int recover_seg(struct srv_spool *sp, struct seg *g, kad_err *err)
{
    char path[4096];
    seg_path(sp, g, path, sizeof(path));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        goto fail;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        goto fail_fd;
    uint64_t size = (uint64_t)sb.st_size, off = 0;
    char *buf = NULL;
    size_t cap = 0;
    while (off + HDR_LEN + 1 <= size) {
        char h[HDR_LEN];
        struct frame f;
        if (pread(fd, h, HDR_LEN, (off_t)off) != HDR_LEN || !frame_hdr(h, &f) ||
            off + HDR_LEN + f.len + 1 > size)
            break;
        if (f.len + 1 > cap) {
            char *nb = realloc(buf, f.len + 1);
            if (!nb)
                break;
            buf = nb;
            cap = f.len + 1;
        }
        if (pread(fd, buf, f.len + 1, (off_t)(off + HDR_LEN)) != (ssize_t)(f.len + 1) ||
            !frame_ok(&f, buf))
            break;
        dedup_seen(sp, f.key);
        off += HDR_LEN + f.len + 1;
    }
    free(buf);
    if (off < size) {
        srv_log(KAD_LOG_WARN,
                "spool: %s: cut at byte %" PRIu64 " of %" PRIu64
                " (a batch written but never acknowledged)",
                g->name, off, size);
        if (ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0)
            goto fail_fd;
    }
    close(fd);
    g->size = g->durable = off;
    g->sealed = true;
    return KAD_OK;
fail_fd:
    close(fd);
fail:
    err->code = KAD_EIO;
    snprintf(err->msg, sizeof(err->msg), "spool: %.160s: %s", path, strerror(errno));
    return KAD_EIO;
}

int srv_spool_open(struct srv_spool **out, const char *dir, size_t max, kad_err *err)
{
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        err->code = KAD_EIO;
        snprintf(err->msg, sizeof(err->msg), "spool: cannot create %s: %s", dir, strerror(errno));
        return KAD_EIO;
    }
    struct srv_spool *sp = calloc(1, sizeof(*sp));
    if (!sp || !(sp->dir = strdup(dir)) ||
        !(sp->gen[0].tab = calloc(2 * DEDUP_GEN, sizeof(uint64_t))) ||
        !(sp->gen[1].tab = calloc(2 * DEDUP_GEN, sizeof(uint64_t)))) {
        if (sp) {
            free(sp->gen[0].tab);
            free(sp->dir);
        }
        free(sp);
        err->code = KAD_ENOMEM;
        snprintf(err->msg, sizeof(err->msg), "spool: out of memory");
        return KAD_ENOMEM;
    }
    sp->max = max;
    sp->seg_max = max / 4 < SEG_MAX ? (max / 4 ? max / 4 : 1) : SEG_MAX;
    sp->wfd = sp->rfd = -1;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->synced_cv, NULL);
    pthread_cond_init(&sp->data_cv, NULL);
    DIR *d = opendir(dir);
    if (!d) {
        err->code = KAD_EIO;
        snprintf(err->msg, sizeof(err->msg), "spool: %s: %s", dir, strerror(errno));
        srv_spool_close(sp);
        return KAD_EIO;
    }
    uint64_t *ids = NULL;
    size_t nids = 0, cids = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t id;
        if (strlen(de->d_name) != 20 || strcmp(de->d_name + 16, ".ksp") != 0 ||
            !hex(de->d_name, 16, &id))
            continue;
        if (nids == cids) {
            cids = cids ? cids * 2 : 16;
            uint64_t *n = realloc(ids, cids * sizeof(*n));
            if (!n)
                break;
            ids = n;
        }
        ids[nids++] = id;
    }
    closedir(d);
    if (nids)
        qsort(ids, nids, sizeof(*ids), cmp_u64);
    int rc = KAD_OK;
    for (size_t i = 0; i < nids && rc == KAD_OK; i++) {
        struct seg *g = seg_new(ids[i]);
        if (!g) {
            rc = KAD_ENOMEM;
            break;
        }
        if (sp->tail)
            sp->tail->next = g;
        else
            sp->head = g;
        sp->tail = g;
        sp->nsegs++;
        rc = recover_seg(sp, g, err);
        sp->bytes += g->size;
        sp->next_id = ids[i] + 1;
    }
    free(ids);
    if (rc != KAD_OK) {
        srv_spool_close(sp);
        return rc;
    }
    /* ids also grow with the clock, so a deleted segment's name (and its committed position in
       the state) is never used again */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (sp->next_id < now_us)
        sp->next_id = now_us;
    if (nids)
        srv_log(KAD_LOG_INFO, "spool: %zu segments, %" PRIu64 " bytes to resume in %s", nids,
                sp->bytes, dir);
    *out = sp;
    return KAD_OK;
}

void srv_spool_close(struct srv_spool *sp)
{
    if (!sp)
        return;
    if (sp->wfd >= 0)
        close(sp->wfd);
    if (sp->rfd >= 0)
        close(sp->rfd);
    for (struct seg *g = sp->head, *n; g; g = n) {
        n = g->next;
        free(g);
    }
    free(sp->gen[0].tab);
    free(sp->gen[1].tab);
    free(sp->rbuf);
    free(sp->dir);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->synced_cv);
    pthread_cond_destroy(&sp->data_cv);
    free(sp);
}

/* The current segment is written in full: sync it (no group sync runs: caller waited), seal. */
static int seal_tail(struct srv_spool *sp)
{
    if (sp->wfd < 0)
        return 0;
    int rc = fdatasync(sp->wfd);
    close(sp->wfd);
    sp->wfd = -1;
    if (rc != 0)
        return -1;
    sp->tail->durable = sp->tail->size;
    sp->tail->sealed = true;
    sp->synced_seq = sp->wseq;
    pthread_cond_broadcast(&sp->data_cv);
    return 0;
}

static int open_tail(struct srv_spool *sp)
{
    struct seg *g = seg_new(sp->next_id++);
    if (!g)
        return -1;
    char path[4096];
    seg_path(sp, g, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(g);
        return -1;
    }
    sync_dir(sp->dir); /* the new name is durable before anything in it is acknowledged */
    if (sp->tail)
        sp->tail->next = g;
    else
        sp->head = g;
    sp->tail = g;
    sp->nsegs++;
    sp->wfd = fd;
    return 0;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int srv_spool_append(struct srv_spool *sp, const struct srv_batch *b, uint64_t *accepted,
                     uint64_t *dups, char *msg, size_t size)
{
    *accepted = *dups = 0;
    size_t total = 0;
    for (size_t i = 0; i < b->n; i++)
        total += HDR_LEN + b->recs[i].len + 1;
    char *buf = malloc(total ? total : 1);
    size_t *flen = malloc((b->n ? b->n : 1) * sizeof(*flen));
    if (!buf || !flen) {
        free(buf);
        free(flen);
        snprintf(msg, size, "out of memory");
        return 503;
    }
    int64_t t = now_us();
    size_t o = 0;
    for (size_t i = 0; i < b->n; i++) {
        flen[i] = frame_put(buf + o, b->recs[i].data, b->recs[i].len, b->recs[i].key, t);
        o += flen[i];
    }
    int status = 200;
    pthread_mutex_lock(&sp->mu);
    if (sp->broken) {
        snprintf(msg, size, "the spool cannot be written (see the log)");
        status = 500;
        goto out;
    }
    if (sp->bytes + total > sp->max) {
        snprintf(msg, size, "spool full (%" PRIu64 " of %" PRIu64 " bytes, --spool-max)", sp->bytes,
                 sp->max);
        status = 503;
        goto out;
    }
    /* drop what was seen recently (a resent batch), compacting the frames in place */
    size_t w = 0, r = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (dedup_seen(sp, b->recs[i].key)) {
            (*dups)++;
        } else {
            if (w != r)
                memmove(buf + w, buf + r, flen[i]);
            w += flen[i];
            (*accepted)++;
        }
        r += flen[i];
    }
    if (w == 0)
        goto out;
    if (sp->wfd >= 0 && sp->tail->size > 0 && sp->tail->size + w > sp->seg_max) {
        while (sp->syncing)
            pthread_cond_wait(&sp->synced_cv, &sp->mu);
        if (seal_tail(sp) != 0)
            goto broken;
    }
    if (sp->wfd < 0 && open_tail(sp) != 0)
        goto broken;
    for (size_t done = 0; done < w;) {
        ssize_t n = write(sp->wfd, buf + done, w - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto broken;
        done += (size_t)n;
    }
    sp->tail->size += w;
    sp->bytes += w;
    sp->wseq += w;
    uint64_t target = sp->wseq;
    while (sp->synced_seq < target && !sp->broken) {
        if (sp->syncing) {
            pthread_cond_wait(&sp->synced_cv, &sp->mu);
            continue;
        }
        /* the leader: one fdatasync for everything written so far */
        sp->syncing = true;
        uint64_t upto = sp->wseq, seg_size = sp->tail->size;
        struct seg *g = sp->tail;
        int fd = sp->wfd;
        pthread_mutex_unlock(&sp->mu);
        int rc = fdatasync(fd);
        pthread_mutex_lock(&sp->mu);
        sp->syncing = false;
        if (rc != 0) {
            srv_log(KAD_LOG_ERROR, "spool: fdatasync %s: %s", g->name, strerror(errno));
            sp->broken = true;
        } else {
            if (upto > sp->synced_seq)
                sp->synced_seq = upto;
            if (seg_size > g->durable)
                g->durable = seg_size;
        }
        pthread_cond_broadcast(&sp->synced_cv);
        pthread_cond_broadcast(&sp->data_cv);
    }
    if (sp->broken) {
        snprintf(msg, size, "the spool cannot be written (see the log)");
        status = 500;
    }
    goto out;
broken:
    srv_log(KAD_LOG_ERROR, "spool: cannot write in %s: %s", sp->dir, strerror(errno));
    sp->broken = true;
    pthread_cond_broadcast(&sp->synced_cv);
    snprintf(msg, size, "the spool cannot be written (see the log)");
    status = 500;
out:
    pthread_mutex_unlock(&sp->mu);
    free(buf);
    free(flen);
    return status;
}

uint64_t srv_spool_bytes(struct srv_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t b = sp->bytes;
    pthread_mutex_unlock(&sp->mu);
    return b;
}

uint64_t srv_spool_segments(struct srv_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint64_t n = sp->nsegs;
    pthread_mutex_unlock(&sp->mu);
    return n;
}

bool srv_spool_high(struct srv_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    bool h = sp->broken || sp->bytes >= sp->max / 10 * 9;
    pthread_mutex_unlock(&sp->mu);
    return h;
}

/* ---- reader ---------------------------------------------------------------------------------- */

void srv_spool_reader_start(struct srv_spool *sp,
                            int (*pos)(void *ud, const char *key, int64_t *offset), void *ud)
{
    pthread_mutex_lock(&sp->mu);
    for (struct seg *g = sp->head; g; g = g->next) {
        int64_t off = 0;
        if (pos(ud, g->key, &off) != 0 || off < 0)
            off = 0;
        if ((uint64_t)off > g->size)
            off = (int64_t)g->size;
        /* a committed position is a payload's end: its frame's '\n' follows */
        if (off > 0 && (uint64_t)off < g->size)
            off++;
        g->rpos = off;
    }
    sp->rseg = sp->head;
    pthread_mutex_unlock(&sp->mu);
}

/* Make rbuf hold [off, off+n) of segment g (n <= avail). */
/* Is [off, off + n) of segment g in rbuf? */
static bool in_window(const struct srv_spool *sp, const struct seg *g, int64_t off, size_t n)
{
    return sp->rfd >= 0 && sp->rfd_id == g->id && off >= sp->roff &&
           (uint64_t)(off - sp->roff) + n <= sp->rlen;
}

static int fill(struct srv_spool *sp, struct seg *g, int64_t off, size_t n, uint64_t durable)
{
    if (in_window(sp, g, off, n))
        return 0;
    if (sp->rfd < 0 || sp->rfd_id != g->id) {
        if (sp->rfd >= 0)
            close(sp->rfd);
        char path[4096];
        seg_path(sp, g, path, sizeof(path));
        sp->rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (sp->rfd < 0)
            return -1;
        sp->rfd_id = g->id;
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if ((uint64_t)off + want > durable)
        want = (size_t)(durable - (uint64_t)off);
    if (want > sp->rcap) {
        char *b = realloc(sp->rbuf, want);
        if (!b)
            return -1;
        sp->rbuf = b;
        sp->rcap = want;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(sp->rfd, sp->rbuf + got, want - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    sp->roff = off;
    sp->rlen = got;
    return got >= n ? 0 : -1;
}

int srv_spool_read(struct srv_spool *sp, struct srv_spool_rec *recs, size_t max, size_t *nrecs,
                   const char **key, int wait_ms, char *msg, size_t size)
{
    *nrecs = 0;
    pthread_mutex_lock(&sp->mu);
    bool waited = false;
    struct seg *g;
    uint64_t durable;
    for (;;) {
        g = sp->rseg ? sp->rseg : sp->head;
        sp->rseg = g;
        if (g && (uint64_t)g->rpos < g->durable) {
            durable = g->durable;
            break;
        }
        if (g && g->sealed && g->next) {
            sp->rseg = g->next;
            continue;
        }
        if (waited || wait_ms <= 0) {
            pthread_mutex_unlock(&sp->mu);
            return 0;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)wait_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&sp->data_cv, &sp->mu, &ts);
        waited = true;
    }
    pthread_mutex_unlock(&sp->mu);
    /* g stays in the list: only this thread deletes segments. Every frame up to `durable` is
       read without the lock (writers only append past it); the records returned all lie in
       the buffer as it is now (a frame outside it ends the batch, unless it is the first). */
    size_t n = 0;
    int64_t off = g->rpos;
    while (n < max && (uint64_t)off < durable) {
        struct frame f;
        errno = 0;
        if ((uint64_t)off + HDR_LEN > durable)
            goto bad;
        if (!in_window(sp, g, off, HDR_LEN)) {
            if (n)
                break;
            if (fill(sp, g, off, HDR_LEN, durable) != 0)
                goto bad;
        }
        if (!frame_hdr(sp->rbuf + (off - sp->roff), &f) ||
            (uint64_t)off + HDR_LEN + f.len + 1 > durable)
            goto bad;
        if (!in_window(sp, g, off, HDR_LEN + f.len + 1)) {
            if (n)
                break;
            if (fill(sp, g, off, HDR_LEN + f.len + 1, durable) != 0)
                goto bad;
        }
        if (!frame_ok(&f, sp->rbuf + (off - sp->roff) + HDR_LEN))
            goto bad;
        struct srv_spool_rec *r = &recs[n++];
        r->data = sp->rbuf + (off - sp->roff) + HDR_LEN;
        r->len = f.len;
        r->offset = off + HDR_LEN;
        r->recv_us = (int64_t)f.recv_us;
        off += HDR_LEN + (int64_t)f.len + 1;
    }
    g->rpos = off;
    *key = g->key;
    *nrecs = n;
    return 1;
bad:
    snprintf(msg, size, "spool: %s: bad frame at byte %" PRId64 " (%s)", g->name, off,
             errno ? strerror(errno) : "corrupt");
    return -1;
}

int srv_spool_next(struct srv_spool *sp, struct srv_spool_rec *r, const char **key, int wait_ms,
                   char *msg, size_t size)
{
    size_t n;
    return srv_spool_read(sp, r, 1, &n, key, wait_ms, msg, size);
}

void srv_spool_committed(struct srv_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    while (sp->head && sp->head->sealed && (uint64_t)sp->head->rpos >= sp->head->size) {
        struct seg *g = sp->head;
        char path[4096];
        seg_path(sp, g, path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT) {
            srv_log(KAD_LOG_WARN, "spool: cannot delete %s: %s", path, strerror(errno));
            break;
        }
        if (sp->rfd >= 0 && sp->rfd_id == g->id) {
            close(sp->rfd);
            sp->rfd = -1;
        }
        sp->head = g->next;
        if (sp->tail == g)
            sp->tail = NULL;
        if (sp->rseg == g)
            sp->rseg = g->next;
        sp->bytes -= g->size;
        sp->nsegs--;
        free(g);
    }
    pthread_mutex_unlock(&sp->mu);
}

void srv_spool_wake(struct srv_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    pthread_cond_broadcast(&sp->data_cv);
    pthread_mutex_unlock(&sp->mu);
}

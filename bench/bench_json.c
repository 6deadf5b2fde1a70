/*
 * bench_json.c - throughput of kadet's JSON reader on an NDJSON audit log (`make bench-json`).
 *
 * usage: bench_json FILE [REPEAT]
 *
 * Loads FILE into memory once and splits it into lines (untimed). Each pass copies the lines
 * of the next ~1 MiB into a work buffer (untimed: this is what the reader's read() does, and it
 * leaves the bytes in the cache as in the real pipeline) and times, over those lines (best of
 * REPEAT passes):
 *   frame    finding the line ends (memchr), the cost a line-based reader adds;
 *   extract  ev_json_extract with the raw paths of the seed rule's fields (validating skip);
 *   decode   ev_decode with the seed rule's ECS fields declared: extractor + ECS mapping, the
 *            hot path of scan/hunt;
 *   parse    ev_json_parse, the full tree;
 *   pipeline ev_reader (read(), framing) + ev_decode over the file, user+sys CPU time: the
 *            number to put next to `cat`.
 * Prints one line per mode: `name MB/s events/s` (MB = 10^6 bytes). $BENCH_JSON_MODE=name runs
 * one mode only (for profiling). Not linked into kadet.
 */
#include "event/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: shared machines */
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *const seed_fields[] = {
    "data_stream.dataset",
    "kubernetes.audit.stage",
    "user_agent.original",
    "kubernetes.audit.objectRef.resource",
    "kubernetes.audit.verb",
    "kubernetes.audit.annotations.authorization_k8s_io/decision",
    "kubernetes.audit.user.username",
    "event.ingested",
    "@timestamp",
};

static const char *const seed_raw[] = {
    "kind",        "apiVersion",     "auditID",
    "stage",       "stageTimestamp", "timestamp",
    "userAgent",   "verb",           "objectRef.resource",
    "annotations", "user.username",  "requestReceivedTimestamp",
};

enum { M_FRAME, M_EXTRACT, M_DECODE, M_PARSE, M_N };
static const char *const mode_name[] = {"frame", "extract", "decode", "parse"};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_json FILE [REPEAT]\n");
        return 1;
    }
    int repeat = argc > 2 ? atoi(argv[2]) : 3;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *data = malloc((size_t)size);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);

    struct ev_paths *paths = ev_paths_new();
    for (size_t i = 0; i < sizeof(seed_raw) / sizeof(*seed_raw); i++)
        ev_paths_add(paths, seed_raw[i], strlen(seed_raw[i]), EV_PATH_CAPTURE);
    static const char *const aborts[] = {"protoPayload", "kubernetes", "items", "category",
                                         "properties"};
    for (size_t i = 0; i < sizeof(aborts) / sizeof(*aborts); i++)
        ev_paths_add(paths, aborts[i], strlen(aborts[i]), EV_PATH_ABORT);
    struct ev_decoder *dec = ev_decoder_new(NULL);
    for (size_t i = 0; i < sizeof(seed_fields) / sizeof(*seed_fields); i++)
        ev_decoder_need(dec, seed_fields[i], strlen(seed_fields[i]));

    size_t nlines = 0, cap = 1 << 20;
    size_t *starts = malloc(cap * sizeof(*starts)), *lens = malloc(cap * sizeof(*lens));
    for (const char *p = data, *end = data + size; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nlines == cap) {
            cap *= 2;
            starts = realloc(starts, cap * sizeof(*starts));
            lens = realloc(lens, cap * sizeof(*lens));
        }
        starts[nlines] = (size_t)(p - data);
        lens[nlines++] = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p = nl ? nl + 1 : end;
    }
    enum { WORK = 1 << 20 };
    size_t work_cap = WORK + 65536;
    char *work = malloc(work_cap);
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    const char *only = getenv("BENCH_JSON_MODE");
    for (int m = 0; m < M_N; m++) {
        if (only && strcmp(only, mode_name[m]) != 0)
            continue;
        double best = 1e30;
        unsigned long events = 0, errors = 0, sink = 0;
        for (int r = 0; r < repeat; r++) {
            events = errors = 0;
            double t = 0;
            for (size_t c0 = 0; c0 < nlines;) {
                /* the lines of the next ~1 MiB, copied into the work buffer as the reader would */
                size_t c1 = c0, off0 = starts[c0];
                while (c1 < nlines && (starts[c1] + lens[c1] - off0 < WORK || c1 == c0))
                    c1++;
                size_t clen = starts[c1 - 1] + lens[c1 - 1] + 1 - off0;
                if (clen > (size_t)(data + size - (data + off0)))
                    clen = (size_t)size - off0;
                if (clen > work_cap) {
                    work_cap = clen;
                    work = realloc(work, work_cap);
                }
                memcpy(work, data + off0, clen);
                const char *end = work + clen;
                double t0 = now_s();
                for (size_t li = c0; li < c1; li++) {
                    const char *p = work + (starts[li] - off0);
                    size_t len = lens[li];
                    bool aborted;
                    kad_err err;
                    struct ev_event ev;
                    struct ev_record rec = {p, len, "bench", 0, 0, 0};
                    switch (m) {
                    case M_FRAME: {
                        const char *nl = memchr(p, '\n', (size_t)(end - p));
                        sink += nl ? (size_t)(nl - p) : len;
                        break;
                    }
                    case M_EXTRACT:
                        if (!ev_json_extract(&a, p, len, paths, NULL, "bench", &aborted, &err))
                            errors++;
                        break;
                    case M_DECODE:
                        if (ev_decode(dec, &a, &rec, &ev, &err))
                            errors++;
                        else
                            sink += ev.stage.len;
                        break;
                    case M_PARSE:
                        if (!ev_json_parse(&a, p, len, "bench", &err))
                            errors++;
                        break;
                    }
                    kx_arena_reset(&a);
                    events++;
                }
                t += now_s() - t0;
                c0 = c1;
            }
            if (t < best)
                best = t;
        }
        printf("%-8s %8.0f MB/s %10.0f events/s  (%lu events, %lu errors, best of %d)\n",
               mode_name[m], (double)size / best / 1e6, (double)events / best, events, errors,
               repeat);
        if (sink == 42)
            putchar(' ');
    }
    /* end to end: the reader (read(), framing) + decode, user+sys CPU like `cat` */
    if (!only || strcmp(only, "pipeline") == 0) {
        double best = 1e30;
        unsigned long events = 0;
        for (int r = 0; r < repeat; r++) {
            struct rusage u0, u1;
            getrusage(RUSAGE_SELF, &u0);
            struct ev_reader *rd;
            if (ev_reader_open(&rd, argv[1], 0, NULL))
                return 1;
            struct ev_record rec;
            struct ev_event ev;
            events = 0;
            while (ev_reader_next(rd, &rec, NULL) == 1) {
                if (ev_decode(dec, &a, &rec, &ev, NULL) == KAD_OK)
                    events++;
                kx_arena_reset(&a);
            }
            ev_reader_close(rd);
            getrusage(RUSAGE_SELF, &u1);
            double t = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec) +
                       (double)(u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
                       (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec) / 1e6 +
                       (double)(u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) / 1e6;
            if (t < best)
                best = t;
        }
        printf("%-8s %8.0f MB/s %10.0f events/s  (%lu events, user+sys, best of %d)\n", "pipeline",
               (double)size / best / 1e6, (double)events / best, events, repeat);
    }
    const struct ev_decode_stats *st = ev_decoder_stats(dec);
    printf("decode paths: %llu fast, %llu full\n", (unsigned long long)st->fast,
           (unsigned long long)st->full);
    ev_decoder_free(dec);
    ev_paths_free(paths);
    kx_arena_fini(&a);
    free(work);
    free(starts);
    free(lens);
    free(data);
    return 0;
}

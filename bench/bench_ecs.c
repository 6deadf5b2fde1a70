/*
 * bench_ecs.c - the ECS mapping of one event with a huge sourceIPs array (issue 22: one event
 * with 349k sourceIPs took 78 s when every append walked to the list's tail).
 *
 *   build/bench/bench_ecs [N]     N addresses (default 3,490,000: ten times the report), every
 *                                 third one a repeat, decoded once by the full decoder
 *
 * Prints the sizes and the time per phase; exits non-zero when the mapping is wrong (related.ip
 * must hold each address once). A benchmark, not a timed test: `make bench-ecs`.
 */
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "event/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool one(const struct ev_node *v, bool partial, void *ctx)
{
    (void)v;
    (void)partial;
    ++*(size_t *)ctx;
    return false;
}

/* Number of values at path (array elements count one each). */
static size_t count(const struct ev_node *doc, const char *path)
{
    size_t c = 0;
    ev_values(doc, path, strlen(path), one, &c);
    return c;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 3490000;
    kx_buf j;
    kx_buf_init(&j, 0);
    kx_buf_adds(&j, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"x\","
                    "\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"user\":{\"username\":"
                    "\"u\"},\"stageTimestamp\":\"2026-01-01T00:00:00Z\",\"sourceIPs\":[");
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t v = i % 3 == 2 ? i - 2 : i; /* every third address repeats one seen before */
        distinct += i % 3 != 2;
        kx_buf_addf(&j, "%s\"10.%zu.%zu.%zu\"", i ? "," : "", (v >> 16) & 255, (v >> 8) & 255,
                    v & 255);
    }
    kx_buf_adds(&j, "]}");
    if (n >= (1u << 24))
        distinct = 0; /* addresses wrap: no exact expectation */
    struct ev_decoder_opts o = {.now_ms = 1, .lim = {.max_size = (size_t)1 << 31}};
    struct ev_decoder *d = ev_decoder_new(&o);
    kx_arena a;
    kx_arena_init(&a, 1 << 20, 0);
    struct ev_record rec = {j.ptr, j.len, "<bench>", 1, 1, 0};
    struct ev_event ev;
    kad_err err;
    double t0 = now_s();
    int rc = ev_decode(d, &a, &rec, &ev, &err);
    double t1 = now_s();
    if (rc != KAD_OK) {
        fprintf(stderr, "bench_ecs: decode failed: %s\n", err.msg);
        return 1;
    }
    size_t src = count(ev.doc, "source.ip"), rel = count(ev.doc, "related.ip");
    printf("sourceIPs: %zu (%.1f MB of JSON)\n", n, (double)j.len / 1e6);
    printf("decode + ECS mapping: %.3f s\n", t1 - t0);
    printf("source.ip: %zu, related.ip: %zu\n", src, rel);
    int bad = src != n || (distinct && rel != distinct);
    if (bad)
        fprintf(stderr, "bench_ecs: wrong counts (related.ip expected %zu)\n", distinct);
    kx_arena_fini(&a);
    ev_decoder_free(d);
    kx_buf_fini(&j);
    return bad;
}

/*
 * kadet-statebench.c - measure (and fill) the new-terms state store through its module API
 * (src/state/state.h), outside the engine.
 *
 *   kadet-statebench bench [--terms N] [--dir DIR] [--json]
 *       insert N realistic combinations (decision, username, user agent) in batches of 10,000,
 *       close, reopen and load the index, then time lookups; prints bytes per combination,
 *       peak RSS, file size, insert/reopen/lookup costs, and lookups and observes of known
 *       combinations one by one and through st_lookup_batch / st_observe_batch.
 *   kadet-statebench redis --state redis://HOST:PORT [--terms N]
 *       the Redis store (docs/internals/state.md): observe new, known (last_seen moves),
 *       known (unchanged), known repeated within a batch: per second, CPU, round trips per
 *       1,000 events; resets its rule afterwards.
 *   kadet-statebench mem [--terms N] [--lookups L]
 *       the index alone (an ST_OPEN_MEM store, no SQLite): N combinations observed in one batch,
 *       then 5 rounds of L (2 M) lookups of random known ones on keys encoded beforehand, one by one
 *       then batched (st_lookup_batch); prints CPU ns per lookup of each round and the minimum
 *       (bench/NOTES.md, issue 19).
 *   kadet-statebench fill --state FILE [--terms N] [--rules K] [--seed S]
 *       write a state with K rules and N combinations spread over 12 days of event time (for
 *       tests and demos of `kadet state`).
 *
 * Built by `make build/kadet-statebench` (mk/gen.mk); used by `make bench`. Not part of libkad.
 */
#include "base/buf.h"
#include "state/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const fields[] = {
    "kubernetes.audit.annotations.authorization_k8s_io/decision",
    "kubernetes.audit.user.username",
    "user_agent.original",
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system) of this process: the machines are shared, wall time is noisy. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Where wall time goes besides this process's CPU: system CPU, waits that blocked it
   (voluntary context switches: I/O, fsync), times it was preempted (involuntary: other
   processes on a loaded machine) and blocks written, between two calls of usage(). */
struct usage {
    double sys;
    long vcsw, ivcsw, oublock;
};
static struct usage usage(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (struct usage){(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
                          ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_oublock};
}
static struct usage usage_since(struct usage a)
{
    struct usage b = usage();
    return (struct usage){b.sys - a.sys, b.vcsw - a.vcsw, b.ivcsw - a.ivcsw,
                          b.oublock - a.oublock};
}

static long proc_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, n) == 0)
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

/* Combination number i: realistic lengths (user ~28 bytes, agent ~45 bytes). */
static void make_combo(kx_buf *b, uint64_t i)
{
    static const char *const agents[] = {
        "kubectl/v1.%u.%u (linux/amd64) kubernetes/%06x",
        "python-requests/2.%u.%u-%06x",
        "Go-http-client/1.1 build-%u.%u/%06x",
        "argocd-application-controller/v2.%u.%u (linux/amd64) %06x",
    };
    char user[64], ua[128];
    snprintf(user, sizeof(user), "system:serviceaccount:ns-%u:sa-%u", (unsigned)(i % 7919),
             (unsigned)(i % 13));
    snprintf(ua, sizeof(ua), agents[i % 4], (unsigned)(i % 29), (unsigned)(i / 29 % 1000),
             (unsigned)(i & 0xffffff));
    kx_str v[3] = {kx_str_c(i % 11 ? "allow" : "forbid"), kx_str_c(user), kx_str_c(ua)};
    kx_buf_reset(b);
    if (st_combo_encode(b, v, 3, NULL))
        abort();
}

static void die(const char *what, const kad_err *e)
{
    char m[512];
    kad_err_format(e, m, sizeof(m));
    fprintf(stderr, "kadet-statebench: %s: %s\n", what, m);
    exit(2);
}

static uint32_t reg(struct st_store *st, const char *id, kad_err *e)
{
    struct st_rule_def d = {.rule_id = id,
                            .name = "Kubernetes Unusual Decision by User Agent",
                            .logic_hash = 0x8a1db198da6f4500ULL ^ (uint64_t)id[0],
                            .fields = fields,
                            .nfields = 3,
                            .window_ms = 10LL * 86400000,
                            .has_pivot = true, /* the user, as the engine registers this rule */
                            .pivot = 1};
    uint32_t rid;
    if (st_rule_register(st, &d, &rid, NULL, e))
        die("register", e);
    return rid;
}

/* The probes of keys (kend: end offsets) for rule rid; ts of probe i = ts0 + i. */
static struct st_probe *make_probes(uint32_t rid, const kx_buf *keys, const uint32_t *kend, int n,
                                    int64_t ts0)
{
    struct st_probe *p = calloc((size_t)n, sizeof(*p));
    if (!p)
        abort();
    for (int i = 0, at = 0; i < n; at = (int)kend[i++])
        p[i] = (struct st_probe){.rid = rid,
                                 .combo = keys->ptr + at,
                                 .len = kend[i] - (uint32_t)at,
                                 .ts = ts0 + i};
    return p;
}

enum { PROBES_PER_CALL = 256 }; /* what the engine's batches would hand over at once */

static uint64_t lookup_batched(struct st_store *st, struct st_probe *p, int n)
{
    uint64_t hits = 0;
    for (int i = 0; i < n; i += PROBES_PER_CALL)
        hits += st_lookup_batch(st, p + i, (size_t)(n - i < PROBES_PER_CALL ? n - i : PROBES_PER_CALL));
    return hits;
}

static void observe_batched(struct st_store *st, struct st_probe *p, int n, int want)
{
    kad_err e;
    for (int i = 0; i < n; i += PROBES_PER_CALL) {
        size_t k = (size_t)(n - i < PROBES_PER_CALL ? n - i : PROBES_PER_CALL);
        if (st_observe_batch(st, p + i, k, &e))
            die("observe batch", &e);
        for (size_t j = 0; j < k; j++)
            if (p[i + (int)j].result != want)
                die("observe batch: unexpected answer", &e);
    }
}

static int bench(uint64_t n, const char *dir, int json)
{
    kad_err e;
    kad_err_clear(&e);
    char path[4096];
    snprintf(path, sizeof(path), "%s/statebench-%ld.db", dir, (long)getpid());
    struct st_store *st;
    if (st_open(&st, path, ST_OPEN_RW, &e))
        die("open", &e);
    uint32_t rid = reg(st, "8a1db198-da6f-4500-b985-7fe2457300af", &e);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    long rss0 = proc_kb("VmRSS:");
    double t0 = now_s(), c0 = cpu_s();
    struct usage u0 = usage();
    int64_t ts = 1767225600000; /* 2026-01-01 */
    for (uint64_t i = 0; i < n; i++) {
        if (i % 10000 == 0 && (i ? st_commit(st, &e) : 0) + st_begin(st, &e))
            die("batch", &e);
        make_combo(&b, i);
        if (st_observe(st, rid, b.ptr, b.len, ts + (int64_t)i, NULL, &e) != ST_SEEN_NEW)
            die("observe", &e);
    }
    if (st_commit(st, &e))
        die("commit", &e);
    double t_insert = now_s() - t0, c_insert = cpu_s() - c0;
    struct usage u_insert = usage_since(u0);
    struct st_stats s;
    if (st_stats_get(st, &s, &e))
        die("stats", &e);
    long rss1 = proc_kb("VmRSS:");
    st_close(st);
    struct stat sb;
    stat(path, &sb);

    double t1 = now_s(), c1 = cpu_s();
    if (st_open(&st, path, ST_OPEN_RW, &e))
        die("reopen", &e);
    rid = reg(st, "8a1db198-da6f-4500-b985-7fe2457300af", &e);
    double t_reopen = now_s() - t1, c_reopen = cpu_s() - c1;
    /* cold lookups (lazy loading from SQLite), then a full preload of a second session */
    enum { COLD = 100000 };
    double t5 = now_s(), c5 = cpu_s();
    for (int i = 0; i < COLD; i++) {
        make_combo(&b, rnd() % n);
        if (st_lookup(st, rid, b.ptr, b.len, NULL) != 1)
            die("cold lookup", &e);
    }
    double t_cold = (now_s() - t5) / COLD * 1e6, c_cold = (cpu_s() - c5) / COLD * 1e6;
    st_close(st);
    double t6 = now_s(), c6 = cpu_s();
    if (st_open(&st, path, ST_OPEN_RW, &e))
        die("reopen", &e);
    rid = reg(st, "8a1db198-da6f-4500-b985-7fe2457300af", &e);
    if (st_rule_preload(st, rid, &e))
        die("preload", &e);
    double t_pre = now_s() - t6, c_pre = cpu_s() - c6;

    /* lookups of known combinations in random order, and observe() of known ones: the keys
       are encoded beforehand (read in sequence), so the timed loops hold only the state's work
       (earlier versions timed the encoding too and subtracted a second loop: noisy) */
    enum { LOOKUPS = 1000000 };
    kx_buf keys;
    kx_buf_init(&keys, (size_t)LOOKUPS * 160);
    uint32_t *kend = malloc(LOOKUPS * sizeof(uint32_t));
    if (!kend)
        abort();
    for (int i = 0; i < LOOKUPS; i++) {
        make_combo(&b, rnd() % n);
        kx_buf_add(&keys, b.ptr, b.len);
        kend[i] = (uint32_t)keys.len;
    }
    uint64_t hits = 0;
    double t2 = now_s(), c2 = cpu_s();
    for (int i = 0, at = 0; i < LOOKUPS; at = (int)kend[i++])
        hits += (uint64_t)st_lookup(st, rid, keys.ptr + at, kend[i] - (uint32_t)at, NULL);
    double t_lookup = now_s() - t2, c_lookup = cpu_s() - c2;
    double t_make = 0, c_make = 0;
    if (st_begin(st, &e))
        die("begin", &e);
    double t3 = now_s(), c3 = cpu_s();
    for (int i = 0, at = 0; i < LOOKUPS; at = (int)kend[i++]) {
        if (st_observe(st, rid, keys.ptr + at, kend[i] - (uint32_t)at, ts + (int64_t)n + i, NULL,
                       &e) != ST_SEEN_KNOWN)
            die("observe known", &e);
    }
    double t_obs = now_s() - t3, c_obs = cpu_s() - c3;
    double t4 = now_s(), c4 = cpu_s();
    struct usage u4 = usage();
    if (st_commit(st, &e))
        die("commit", &e);
    double t_commit = now_s() - t4, c_commit = cpu_s() - c4;
    struct usage u_commit = usage_since(u4);
    /* the same through st_lookup_batch / st_observe_batch (a second batch, later times, so
       every observation moves last_seen again) */
    struct st_probe *pr = make_probes(rid, &keys, kend, LOOKUPS, ts + 2 * (int64_t)n);
    double c7 = cpu_s();
    uint64_t bhits = lookup_batched(st, pr, LOOKUPS);
    double c_blookup = cpu_s() - c7;
    if (st_begin(st, &e))
        die("begin", &e);
    double c8 = cpu_s();
    observe_batched(st, pr, LOOKUPS, ST_SEEN_KNOWN);
    double c_bobs = cpu_s() - c8;
    if (st_commit(st, &e))
        die("commit", &e);
    free(pr);
    free(kend);
    kx_buf_fini(&keys);
    if (bhits != LOOKUPS)
        die("batched lookup missed", &e);
    st_close(st);
    char wal[4200];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    unlink(path);
    kx_buf_fini(&b);

    double per_lookup = (t_lookup - t_make) / LOOKUPS * 1e9;
    double per_obs = (t_obs - t_make) / LOOKUPS * 1e9;
    double cpu_lookup = (c_lookup - c_make) / LOOKUPS * 1e9;
    double cpu_obs = (c_obs - c_make) / LOOKUPS * 1e9;
    if (json) {
        printf("{\"terms\":%llu,\"key_bytes_avg\":%.1f,\"overhead_bytes\":%.1f,"
               "\"index_bytes\":%llu,\"rss_growth_kb\":%ld,\"peak_rss_kb\":%ld,"
               "\"file_bytes\":%lld,\"insert_s\":%.3f,\"reopen_s\":%.3f,\"reopen_cpu_s\":%.3f,"
               "\"cold_lookup_us\":%.2f,\"cold_lookup_cpu_us\":%.2f,\"preload_s\":%.3f,"
               "\"preload_cpu_s\":%.3f,\"lookup_ns\":%.1f,"
               "\"observe_known_ns\":%.1f,\"commit_1M_dirty_s\":%.3f,\"insert_cpu_s\":%.3f,"
               "\"lookup_cpu_ns\":%.1f,\"observe_known_cpu_ns\":%.1f,\"commit_cpu_s\":%.3f,"
               "\"lookup_batch_cpu_ns\":%.1f,\"observe_known_batch_cpu_ns\":%.1f,"
               "\"insert_sys_s\":%.3f,\"insert_vcsw\":%ld,\"insert_ivcsw\":%ld,"
               "\"insert_written_mb\":%.1f,\"commit_sys_s\":%.3f,\"commit_vcsw\":%ld,"
               "\"commit_ivcsw\":%ld,\"commit_written_mb\":%.1f,\"hits\":%llu}\n",
               (unsigned long long)s.mem_terms, (double)s.mem_keys / (double)s.mem_terms,
               s.mem_overhead, (unsigned long long)s.mem_bytes, rss1 - rss0, proc_kb("VmHWM:"),
               (long long)sb.st_size, t_insert, t_reopen, c_reopen, t_cold, c_cold, t_pre, c_pre,
               per_lookup, per_obs, t_commit, c_insert, cpu_lookup, cpu_obs, c_commit,
               c_blookup / LOOKUPS * 1e9, c_bobs / LOOKUPS * 1e9, u_insert.sys, u_insert.vcsw,
               u_insert.ivcsw, (double)u_insert.oublock * 512 / 1048576, u_commit.sys,
               u_commit.vcsw, u_commit.ivcsw, (double)u_commit.oublock * 512 / 1048576,
               (unsigned long long)hits);
    } else {
        printf("combinations          %llu\n", (unsigned long long)s.mem_terms);
        printf("key bytes (avg)       %.1f\n", (double)s.mem_keys / (double)s.mem_terms);
        printf("index bytes           %llu (%.1f bytes/combination beyond the key)\n",
               (unsigned long long)s.mem_bytes, s.mem_overhead);
        printf("RSS growth            %ld kB (peak RSS %ld kB)\n", rss1 - rss0, proc_kb("VmHWM:"));
        printf("state file            %lld bytes (%.1f bytes/combination)\n", (long long)sb.st_size,
               (double)sb.st_size / (double)s.mem_terms);
        printf("insert                %.3f s wall, %.3f s CPU (%.2f us CPU/combination, "
               "batches of 10000)\n",
               t_insert, c_insert, c_insert / (double)n * 1e6);
        printf("  of which            %.3f s system CPU, %ld waits (voluntary switches), "
               "%ld preemptions, %.1f MB written\n",
               u_insert.sys, u_insert.vcsw, u_insert.ivcsw,
               (double)u_insert.oublock * 512 / 1048576);
        printf("reopen, ready         %.3f s wall, %.3f s CPU (index loads lazily)\n", t_reopen,
               c_reopen);
        printf("cold lookup           %.2f us wall, %.2f us CPU (first touch: SQLite)\n", t_cold,
               c_cold);
        printf("reopen + preload all  %.3f s wall, %.3f s CPU\n", t_pre, c_pre);
        printf("lookup (known)        %.1f ns wall, %.1f ns CPU\n", per_lookup, cpu_lookup);
        printf("observe (known)       %.1f ns wall, %.1f ns CPU\n", per_obs, cpu_obs);
        printf("commit, %d touched    %.3f s wall, %.3f s CPU\n", LOOKUPS, t_commit, c_commit);
        printf("  of which            %.3f s system CPU, %ld waits, %ld preemptions, %.1f MB "
               "written\n",
               u_commit.sys, u_commit.vcsw, u_commit.ivcsw,
               (double)u_commit.oublock * 512 / 1048576);
        printf("lookup, batched       %.1f ns CPU (st_lookup_batch, %d per call)\n",
               c_blookup / LOOKUPS * 1e9, PROBES_PER_CALL);
        printf("observe, batched      %.1f ns CPU (st_observe_batch, %d per call)\n",
               c_bobs / LOOKUPS * 1e9, PROBES_PER_CALL);
    }
    return hits == LOOKUPS ? 0 : 2;
}

static int fill(const char *path, uint64_t n, int nrules)
{
    kad_err e;
    kad_err_clear(&e);
    struct st_store *st;
    if (st_open(&st, path, ST_OPEN_RW, &e))
        die("open", &e);
    static const char *const ids[] = {"8a1db198-da6f-4500-b985-7fe2457300af", "rule-two",
                                      "rule-three", "rule-four"};
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    int64_t t0 = 1767225600000, span = 12LL * 86400000;
    if (st_begin(st, &e))
        die("begin", &e);
    for (int r = 0; r < nrules && r < 4; r++) {
        uint32_t rid = reg(st, ids[r], &e);
        for (uint64_t i = 0; i < n / (uint64_t)nrules; i++) {
            make_combo(&b, i);
            int64_t ts = t0 + (int64_t)(rnd() % (uint64_t)span);
            int rc = st_observe(st, rid, b.ptr, b.len, ts, NULL, &e);
            if (rc < 0)
                die("observe", &e);
            if (i % 5 == 0) {
                char id[64];
                snprintf(id, sizeof(id), "alert-%d-%llu", r, (unsigned long long)i);
                if (st_alert_record(st, rid, b.ptr, b.len, id, ts, &e))
                    die("alert", &e);
            }
        }
    }
    if (st_pos_set(st, "2049:131:/var/log/kubernetes/audit.log", 123456789, 4242, &e) ||
        st_counter_add(st, "events.read", (int64_t)n * 10, &e) || st_commit(st, &e))
        die("commit", &e);
    st_close(st);
    kx_buf_fini(&b);
    return 0;
}

/* `mem`: 5 rounds of the n lookups of p, one by one (st_lookup) or batched; prints CPU ns per
   lookup of each round and the minimum. */
static void mem_rounds(struct st_store *st, struct st_probe *p, int n, bool batched)
{
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        uint64_t hits = 0;
        double c = cpu_s();
        if (batched)
            hits = lookup_batched(st, p, n);
        else
            for (int i = 0; i < n; i++)
                hits += (uint64_t)st_lookup(st, p[i].rid, p[i].combo, p[i].len, NULL);
        c = cpu_s() - c;
        if (hits != (uint64_t)n) {
            fprintf(stderr, "kadet-statebench: a lookup missed\n");
            exit(2);
        }
        if (c < best)
            best = c;
        printf(" %.1f", c / n * 1e9);
    }
    printf("; min %.1f\n", best / n * 1e9);
}

static int bench_mem(uint64_t n, int L)
{
    kad_err e;
    struct st_store *st;
    if (st_open(&st, NULL, ST_OPEN_MEM, &e))
        die("open", &e);
    uint32_t rid = reg(st, "8a1db198-da6f-4500-b985-7fe2457300af", &e);
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    if (st_begin(st, &e))
        die("begin", &e);
    for (uint64_t i = 0; i < n; i++) {
        make_combo(&b, i);
        if (st_observe(st, rid, b.ptr, b.len, 1767225600000 + (int64_t)i, NULL, &e) < 0)
            die("observe", &e);
    }
    if (st_commit(st, &e))
        die("commit", &e);
    kx_buf keys;
    kx_buf_init(&keys, (size_t)L * 160);
    uint32_t *kend = malloc(L * sizeof(uint32_t));
    if (!kend)
        abort();
    for (int i = 0; i < L; i++) {
        make_combo(&b, rnd() % n);
        kx_buf_add(&keys, b.ptr, b.len);
        kend[i] = (uint32_t)keys.len;
    }
    struct st_probe *pr = make_probes(rid, &keys, kend, L, 0);
    printf("%llu combinations, %d lookups per round, CPU ns per lookup:", (unsigned long long)n, L);
    mem_rounds(st, pr, L, false);
    printf("the same through st_lookup_batch (%d per call), CPU ns per lookup:", PROBES_PER_CALL);
    mem_rounds(st, pr, L, true);
    free(pr);
    free(kend);
    kx_buf_fini(&keys);
    kx_buf_fini(&b);
    st_close(st);
    return 0;
}

static uint64_t round_trips(struct st_store *st)
{
    struct st_stats s;
    kad_err e;
    if (st_stats_get(st, &s, &e))
        die("stats", &e);
    return s.round_trips;
}

/* One phase of `redis`: n observations of combinations (i % distinct) at ts(i), one batch. */
static void redis_phase(struct st_store *st, uint32_t rid, const char *what, uint64_t n,
                        uint64_t distinct, int64_t t0, int64_t step, int want)
{
    kad_err e;
    kx_buf b;
    kx_buf_init(&b, ST_KEY_MAX + 1);
    uint64_t rt0 = round_trips(st);
    double w0 = now_s(), c0 = cpu_s();
    if (st_begin(st, &e))
        die("begin", &e);
    for (uint64_t i = 0; i < n; i++) {
        make_combo(&b, i % distinct);
        int rc = st_observe(st, rid, b.ptr, b.len, t0 + (int64_t)i * step, NULL, &e);
        if (rc < 0)
            die("observe", &e);
        if (want >= 0 && rc != want) {
            fprintf(stderr, "kadet-statebench: %s: observation %llu gave %d, not %d\n", what,
                    (unsigned long long)i, rc, want);
            exit(2);
        }
    }
    if (st_commit(st, &e))
        die("commit", &e);
    double w = now_s() - w0, c = cpu_s() - c0;
    uint64_t rt = round_trips(st) - rt0;
    printf("%-34s %8.0f /s wall  %5.1f us CPU each  %6.1f round trips / 1,000 events\n", what,
           (double)n / w, c / (double)n * 1e6, (double)rt * 1000.0 / (double)n);
    kx_buf_fini(&b);
}

/* The Redis store on URL: observe new, known (a write: last_seen moves), known (read only),
   known again in the same batch (answered from the batch's cache); then resets the rule. */
static int bench_redis(const char *url, uint64_t n)
{
    kad_err e;
    struct st_store *st;
    if (st_open(&st, url, ST_OPEN_RW, &e))
        die("open", &e);
    const char *id = "kadet-statebench-redis";
    uint32_t rid = reg(st, id, &e);
    int64_t t0 = 1767225600000;
    printf("Redis store %s, %llu combinations, one batch per phase\n", url, (unsigned long long)n);
    redis_phase(st, rid, "observe new", n, n, t0, 0, ST_SEEN_NEW);
    redis_phase(st, rid, "observe known, last_seen moves", n, n, t0 + 1000, 0, ST_SEEN_KNOWN);
    redis_phase(st, rid, "observe known, unchanged", n, n, t0 + 500, 0, ST_SEEN_KNOWN);
    redis_phase(st, rid, "observe known, 50 combos repeated", n, 50, t0 + 500, 0, ST_SEEN_KNOWN);
    if (st_reset(st, id, NULL, &e))
        die("reset", &e);
    st_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    const char *dir = "/tmp", *state = NULL;
    int json = 0, rules = 1, lookups = 2000000;
    if (argc < 2 || (strcmp(argv[1], "bench") != 0 && strcmp(argv[1], "fill") != 0 &&
                     strcmp(argv[1], "redis") != 0 && strcmp(argv[1], "mem") != 0)) {
        fprintf(stderr, "usage: kadet-statebench bench [--terms N] [--dir DIR] [--json]\n"
                        "       kadet-statebench mem [--terms N] [--lookups L]\n"
                        "       kadet-statebench fill --state FILE [--terms N] [--rules K] "
                        "[--seed S]\n"
                        "       kadet-statebench redis --state redis://HOST:PORT [--terms N]\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "kadet-statebench: %s needs a value\n", a);
            return 1;
        }
        i++;
        if (strcmp(a, "--terms") == 0)
            n = strtoull(v, NULL, 10);
        else if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--state") == 0)
            state = v;
        else if (strcmp(a, "--lookups") == 0)
            lookups = atoi(v);
        else if (strcmp(a, "--rules") == 0)
            rules = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            rng_state = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "kadet-statebench: unknown option %s\n", a);
            return 1;
        }
    }
    if (n == 0 || rules < 1 || lookups < 1) {
        fprintf(stderr, "kadet-statebench: --terms, --rules and --lookups must be positive\n");
        return 1;
    }
    if (strcmp(argv[1], "bench") == 0)
        return bench(n, dir, json);
    if (strcmp(argv[1], "mem") == 0)
        return bench_mem(n, lookups);
    if (!state) {
        fprintf(stderr, "kadet-statebench: %s needs --state\n", argv[1]);
        return 1;
    }
    if (strcmp(argv[1], "redis") == 0)
        return bench_redis(state, n);
    return fill(state, n, rules);
}

/*
 * bench_serve.c - the load generator of `make bench-serve` (mk/bench-serve.mk, bench/serve.sh):
 * THREADS threads, each with one keep-alive HTTPS connection (libcurl, client certificate),
 * POST EventLists of EVENTS audit events (every auditID unique, users and agents drawn from
 * small sets so the new-terms rules see known and new combinations) to kadet serve for SECONDS
 * seconds. It reports events/s, requests/s, the receipt->200 latency (p50, p99 over every
 * request, measured here), and the server's RSS every second (from /proc/PID/status).
 *
 *   bench_serve URL CA CERT KEY THREADS EVENTS SECONDS SERVER_PID [RATE]
 *
 * Without RATE (or 0) each thread posts its next request as soon as the last one is answered
 * (saturation). With RATE (events/s in all) each thread posts on a fixed schedule, one request
 * every THREADS*EVENTS/RATE seconds; a request's latency counts from the time it was due, not
 * from when it could be sent, so a server that falls behind is not hidden by the wait.
 *
 * Output: key=value lines (bench/serve.sh turns them into the RESULTS.md table).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct job {
    const char *url, *ca, *cert, *key;
    int id, nthreads, events;
    double seconds, interval; /* interval: seconds between requests (0: saturation) */
    uint64_t ok, failed, sent_events;
    uint64_t connects; /* new connections curl made (1 at the start; more: reconnects) */
    double max_late;   /* paced: the longest a request waited for its thread past its due time */
    double *lat;       /* seconds per request */
    size_t nlat, clat;
};

static atomic_bool stop_all;
static pthread_barrier_t warm; /* every thread connected: the load starts */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static size_t build(char *buf, size_t cap, int tid, uint64_t seq, int events)
{
    static const char *const users[] = {"alice",
                                        "bob",
                                        "carol",
                                        "system:serviceaccount:kube-system:deployment-controller",
                                        "system:kube-scheduler",
                                        "system:node:worker-1"};
    static const char *const agents[] = {
        "kubectl/v1.29.1",        "kube-controller-manager/v1.29.1",
        "kube-scheduler/v1.29.1", "kubelet/v1.29.1",
        "Go-http-client/2.0",     "helm/3.14"};
    static const char *const verbs[] = {"get", "list", "watch", "update", "create", "delete"};
    size_t n = (size_t)snprintf(buf, cap,
                                "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\","
                                "\"metadata\":{},\"items\":[");
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[40];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
    for (int i = 0; i < events && n < cap; i++) {
        uint64_t r = seq * 2654435761u + (uint64_t)i * 40503u + (uint64_t)tid;
        n += (size_t)snprintf(
            buf + n, cap - n,
            "%s{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\","
            "\"auditID\":\"b%d-%llu-%d\",\"stage\":\"ResponseComplete\","
            "\"requestURI\":\"/api/v1/namespaces/default/pods\",\"verb\":\"%s\","
            "\"user\":{\"username\":\"%s\",\"groups\":[\"system:authenticated\"]},"
            "\"sourceIPs\":[\"10.0.%d.%d\"],\"userAgent\":\"%s\","
            "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\",\"apiVersion\":\"v1\"},"
            "\"responseStatus\":{\"metadata\":{},\"code\":200},"
            "\"requestReceivedTimestamp\":\"%s\",\"stageTimestamp\":\"%s\","
            "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","
            "\"authorization.k8s.io/reason\":\"\"}}",
            i ? "," : "", tid, (unsigned long long)seq, i, verbs[r % 6], users[(r >> 3) % 6],
            (int)(r % 4), (int)((r >> 5) % 250), agents[(r >> 7) % 6], ts, ts);
    }
    n += (size_t)snprintf(buf + n, cap > n ? cap - n : 0, "]}");
    return n;
}

static void *run(void *arg)
{
    struct job *j = arg;
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    size_t cap = (size_t)j->events * 1024 + 256;
    char *body = malloc(cap);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_CAINFO, j->ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, j->cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, j->key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    /* warm-up: the connection and its TLS handshake (0.2-0.3 s with the client certificate on a
       loaded machine, which made the paced requests behind it late: p99 near 1 s at 30k/s)
       before the clock starts, as kube-apiserver's connections are long-lived; not counted */
    static const char empty[] = "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\","
                                "\"metadata\":{},\"items\":[]}";
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, empty);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(empty));
    curl_easy_perform(c); /* a POST: serve keeps its connection open (GET /healthz closes it) */
    pthread_barrier_wait(&warm);
    double start = now_s(), end = start + j->seconds;
    /* threads start their schedules spread over one interval */
    double due = start + j->interval * (double)j->id / (double)j->nthreads;
    uint64_t seq = 0;
    while (body && now_s() < end && !atomic_load(&stop_all)) {
        size_t len = build(body, cap, j->id, seq++, j->events);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        double t0 = now_s();
        if (j->interval > 0) {
            if (due > t0) {
                struct timespec ts = {.tv_sec = (time_t)(due - t0),
                                      .tv_nsec =
                                          (long)((due - t0 - (double)(time_t)(due - t0)) * 1e9)};
                nanosleep(&ts, NULL);
            }
            t0 = due; /* late requests count their wait */
            due += j->interval;
        }
        double t_send = now_s();
        CURLcode rc = curl_easy_perform(c);
        double dt = now_s() - t0;
        long code = 0, nconn = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
        j->connects += (uint64_t)nconn;
        if (t_send - t0 > j->max_late)
            j->max_late = t_send - t0;
        if (rc == CURLE_OK && code == 200) {
            j->ok++;
            j->sent_events += (uint64_t)j->events;
            if (j->nlat == j->clat) {
                j->clat = j->clat ? j->clat * 2 : 4096;
                j->lat = realloc(j->lat, j->clat * sizeof(double));
            }
            if (j->lat)
                j->lat[j->nlat++] = dt;
        } else {
            j->failed++;
            usleep(100000);
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
    return NULL;
}

static long rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 9 && argc != 10) {
        fprintf(stderr,
                "usage: bench_serve URL CA CERT KEY THREADS EVENTS SECONDS SERVER_PID [RATE]\n");
        return 2;
    }
    int nt = atoi(argv[5]), events = atoi(argv[6]);
    double seconds = atof(argv[7]);
    double rate = argc == 10 ? atof(argv[9]) : 0;
    long pid = atol(argv[8]);
    curl_global_init(CURL_GLOBAL_ALL);
    struct job *jobs = calloc((size_t)nt, sizeof(*jobs));
    pthread_t *th = calloc((size_t)nt, sizeof(*th));
    pthread_barrier_init(&warm, NULL, (unsigned)nt);
    double t0 = now_s();
    for (int i = 0; i < nt; i++) {
        jobs[i] = (struct job){.url = argv[1],
                               .ca = argv[2],
                               .cert = argv[3],
                               .key = argv[4],
                               .id = i,
                               .nthreads = nt,
                               .events = events,
                               .seconds = seconds,
                               .interval = rate > 0 ? (double)nt * events / rate : 0};
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    long rss_min = -1, rss_max = -1, rss_first = -1, rss_last = -1;
    while (now_s() - t0 < seconds) {
        sleep(1);
        long r = rss_kb(pid);
        if (r < 0)
            continue;
        if (rss_first < 0)
            rss_first = r;
        rss_last = r;
        if (rss_min < 0 || r < rss_min)
            rss_min = r;
        if (r > rss_max)
            rss_max = r;
        printf("rss_sample_kb=%ld\n", r);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    uint64_t ok = 0, failed = 0, ev = 0, connects = 0;
    double max_late = 0;
    size_t nl = 0;
    for (int i = 0; i < nt; i++) {
        connects += jobs[i].connects;
        if (jobs[i].max_late > max_late)
            max_late = jobs[i].max_late;
        ok += jobs[i].ok;
        failed += jobs[i].failed;
        ev += jobs[i].sent_events;
        nl += jobs[i].nlat;
    }
    double *all = malloc((nl ? nl : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < nt; i++) {
        memcpy(all + k, jobs[i].lat, jobs[i].nlat * sizeof(double));
        k += jobs[i].nlat;
        free(jobs[i].lat);
    }
    qsort(all, nl, sizeof(double), cmp_d);
    printf("offered_events_per_s=%.0f\nthreads=%d\nevents_per_request=%d\nseconds=%.1f\nrequests_"
           "ok=%llu\nrequests_failed=%llu\n"
           "events=%llu\nevents_per_s=%.0f\nrequests_per_s=%.1f\n",
           rate, nt, events, el, (unsigned long long)ok, (unsigned long long)failed,
           (unsigned long long)ev, (double)ev / el, (double)ok / el);
    if (nl)
        printf("p50_200_ms=%.2f\np99_200_ms=%.2f\nmax_200_ms=%.2f\n", all[nl / 2] * 1000,
               all[(size_t)((double)nl * 0.99)] * 1000, all[nl - 1] * 1000);
    printf("connections=%llu\nmax_late_ms=%.2f\n", (unsigned long long)connects, max_late * 1000);
    /* the load generator's own CPU: it shares the machine's cores with the server */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("client_cpu_s=%.2f\n", cpu);
    if (ev)
        printf("client_cpu_us_per_event=%.2f\n", cpu * 1e6 / (double)ev);
    printf("rss_first_kb=%ld\nrss_last_kb=%ld\nrss_min_kb=%ld\nrss_max_kb=%ld\n", rss_first,
           rss_last, rss_min, rss_max);
    free(all);
    free(jobs);
    free(th);
    curl_global_cleanup();
    return failed ? 1 : 0;
}

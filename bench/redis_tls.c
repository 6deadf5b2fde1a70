/*
 * redis_tls.c - `make bench-redis-tls` (bench/redis-tls.sh): the cost of a round trip to a
 * redis-server over three transports, side by side in one process:
 *   plain   hiredis on TCP (redis://)
 *   inline  the Redis store's TLS (state_redis_tls.c: hiredis formats and parses, GnuTLS does
 *           the socket I/O in the caller's thread) - what rediss:// uses
 *   relay   the alternative: hiredis on one end of a socketpair (redisConnectFd), a thread that
 *           relays between the other end and a GnuTLS session
 * Each round is a pipeline of P commands (EVAL of a one-line script on a key, as the store's
 * observations are) and its P replies. Rounds of the three transports are interleaved (plain,
 * inline, relay, plain, ...) so that the machine's load falls on all of them alike; the figure
 * per transport is the median over REPS repetitions of ROUNDS rounds: wall microseconds and
 * process CPU microseconds (user + system, every thread) per round trip.
 *
 *   kadet-rtlsbench HOST PLAIN_PORT TLS_PORT CA_FILE [ROUNDS [P [REPS]]]
 */
#include "state/state_redis_tls.h"

#include "base/alloc.h"

#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *ca;
static int plain_port, tls_port;

static void die(const char *what)
{
    fprintf(stderr, "kadet-rtlsbench: %s\n", what);
    exit(1);
}

/* ---- the relay: a thread between a socketpair and a TLS session ------------------------- */

struct relay {
    gnutls_session_t s;
    gnutls_certificate_credentials_t cred;
    int tls_fd, local; /* the TCP socket; the relay's end of the pair */
    pthread_t th;
};

static void *relay_run(void *arg)
{
    struct relay *r = arg;
    char buf[16384];
    for (;;) {
        struct pollfd p[2] = {{r->local, POLLIN, 0}, {r->tls_fd, POLLIN, 0}};
        if (gnutls_record_check_pending(r->s) == 0 && poll(p, 2, -1) < 0)
            continue;
        if (gnutls_record_check_pending(r->s) > 0 || (p[1].revents & (POLLIN | POLLHUP))) {
            ssize_t n = gnutls_record_recv(r->s, buf, sizeof(buf));
            if (n <= 0 && n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
                break;
            for (ssize_t off = 0; n > 0 && off < n;) {
                ssize_t w = write(r->local, buf + off, (size_t)(n - off));
                if (w <= 0)
                    return NULL;
                off += w;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(r->local, buf, sizeof(buf));
            if (n <= 0)
                break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = gnutls_record_send(r->s, buf + off, (size_t)(n - off));
                if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                    continue;
                if (w <= 0)
                    return NULL;
                off += w;
            }
        }
    }
    return NULL;
}

static redisContext *relay_connect(struct relay *r)
{
    struct timeval tv = {5, 0};
    redisContext *tcp = redisConnectWithTimeout(host, tls_port, tv);
    if (!tcp || tcp->err)
        die("relay: cannot connect");
    r->tls_fd = dup(tcp->fd);
    redisFree(tcp);
    gnutls_certificate_allocate_credentials(&r->cred);
    if (gnutls_certificate_set_x509_trust_file(r->cred, ca, GNUTLS_X509_FMT_PEM) <= 0)
        die("relay: the CA file");
    gnutls_init(&r->s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
    gnutls_set_default_priority(r->s);
    gnutls_credentials_set(r->s, GNUTLS_CRD_CERTIFICATE, r->cred);
    gnutls_session_set_verify_cert(r->s, host, 0);
    gnutls_transport_set_int(r->s, r->tls_fd);
    int rc;
    do
        rc = gnutls_handshake(r->s);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0)
        die(gnutls_strerror(rc));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    r->local = sv[1];
    pthread_create(&r->th, NULL, relay_run, r);
    return redisConnectFd(sv[0]);
}

static void relay_close(struct relay *r, redisContext *c)
{
    redisFree(c); /* closes hiredis' end: the relay reads EOF and ends */
    pthread_join(r->th, NULL);
    close(r->local);
    gnutls_deinit(r->s);
    close(r->tls_fd);
    gnutls_certificate_free_credentials(r->cred);
}

/* ---- measuring ---------------------------------------------------------------------------- */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

/* ROUNDS pipelines of P commands on c (rd_io_*: plain, inline TLS or the relay's hiredis) */
static void rounds(redisContext *c, int n, int p, double *wall, double *cpu)
{
    const char *av[5] = {"EVAL", "return redis.call('INCR', KEYS[1])", "1", "bench:k", NULL};
    double w0 = now_us(), c0 = cpu_us();
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < p; k++)
            if (redisAppendCommandArgv(c, 4, av, NULL) != REDIS_OK)
                die("append");
        for (int k = 0; k < p; k++) {
            void *r = NULL;
            if (rd_io_get_reply(c, &r) != REDIS_OK || !r)
                die(c->errstr);
            freeReplyObject(r);
        }
    }
    *wall = (now_us() - w0) / n;
    *cpu = (cpu_us() - c0) / n;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        die("usage: kadet-rtlsbench HOST PLAIN_PORT TLS_PORT CA_FILE [ROUNDS [P [REPS]]]");
    host = argv[1];
    plain_port = atoi(argv[2]);
    tls_port = atoi(argv[3]);
    ca = argv[4];
    int n = argc > 5 ? atoi(argv[5]) : 2000, p = argc > 6 ? atoi(argv[6]) : 16,
        reps = argc > 7 ? atoi(argv[7]) : 7;
    if (n < 1 || p < 1 || reps < 1 || reps > 99)
        die("ROUNDS, P >= 1, 1 <= REPS <= 99");
    char why[512];
    struct rd_tls plain = {0}, tls = {.on = true};
    tls.ca = kx_strdup(ca);
    redisContext *cp, *ct;
    if (rd_io_connect(&plain, host, plain_port, &cp, why, sizeof(why)) != 0)
        die(why);
    if (rd_io_connect(&tls, host, tls_port, &ct, why, sizeof(why)) != 0)
        die(why);
    struct relay rl;
    redisContext *cr = relay_connect(&rl);
    struct timeval tv = {10, 0};
    redisSetTimeout(cp, tv);
    redisSetTimeout(ct, tv);
    const char *names[3] = {"plain", "inline", "relay"};
    redisContext *cs[3] = {cp, ct, cr};
    double wall[3][99], cpu[3][99];
    for (int k = 0; k < 3; k++) /* warm up */
        rounds(cs[k], n / 10 + 1, p, &wall[k][0], &cpu[k][0]);
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 3; k++)
            rounds(cs[k], n, p, &wall[k][r], &cpu[k][r]);
    printf("transport wall_us_per_round_trip cpu_us_per_round_trip (median of %d x %d round "
           "trips of %d commands)\n",
           reps, n, p);
    for (int k = 0; k < 3; k++) {
        qsort(wall[k], (size_t)reps, sizeof(double), dcmp);
        qsort(cpu[k], (size_t)reps, sizeof(double), dcmp);
        printf("%s %.1f %.1f\n", names[k], wall[k][reps / 2], cpu[k][reps / 2]);
    }
    rd_io_free(cp);
    rd_io_free(ct);
    relay_close(&rl, cr);
    rd_tls_fini(&plain);
    rd_tls_fini(&tls);
    return 0;
}

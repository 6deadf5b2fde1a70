/*
 * srv_stateguard.c - serve while the state server is unreachable (docs/internals/serve.md,
 * "State outages"). Only a shared state (redis://) can go away under a running serve.
 *
 * Two signs of an outage, both read here:
 *   - the store's connection status (kad_state_conn_get, any thread): down from the first failed
 *     exchange while the store itself retries with backoff (the URL's reconnect_ms=);
 *   - the detection thread's engine failed with KAD_EUNAVAIL (the store gave up): srv_detect.c
 *     drops the engine and calls srv_guard_wait, which retries here, never giving up while serve
 *     runs, and has the detection thread open a new engine once the server answers.
 * While either holds: webhook posts get 503 with Retry-After and nothing of them is spooled
 * (kube-apiserver sends them again), /readyz is 503 with the reason, /metrics says
 * kadet_state_up 0. The detection thread is paused (inside the store's retries, or here), and so
 * is the file source (its bounded queue fills, or it is stopped).
 */
#include "serve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GUARD_FIRST_MS 100L      /* the first wait after an outage began */
#define GUARD_MAX_MS 5000L       /* the longest wait between two attempts */
#define GUARD_LOG_EVERY_MS 30000 /* an attempt that failed is logged at most this often */
#define GUARD_IDLE_PING_MS 1000  /* an idle detection thread pings the server this often */

static struct {
    atomic_bool down; /* the engine was dropped: waiting for the server */
    _Atomic uint64_t outages, recoveries, attempts, refused;
    _Atomic int64_t since_ms; /* when the current outage began (monotonic ms), 0: none */
    pthread_mutex_t mu;
    char why[256];
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool srv_guard_outage(int code) { return code == KAD_EUNAVAIL; }

/* Down, and why (for the answers): 0 when the state is reachable. */
static bool state_down(struct srv *s, char *why, size_t size)
{
    if (atomic_load(&g.down)) {
        pthread_mutex_lock(&g.mu);
        snprintf(why, size, "%s", g.why);
        pthread_mutex_unlock(&g.mu);
        return true;
    }
    if (!s->st || !kad_state_shared(s->st))
        return false;
    kad_state_conn c;
    kad_state_conn_get(s->st, &c);
    if (c.up)
        return false;
    snprintf(why, size, "%s", c.why[0] ? c.why : "connection lost");
    return true;
}

bool srv_guard_ready(struct srv *s, char *why, size_t size)
{
    char r[256];
    if (!state_down(s, r, sizeof(r)))
        return true;
    snprintf(why, size, "state unreachable (detection paused until it answers): %s\n", r);
    return false;
}

bool srv_guard_refuse(struct srv *s, char *msg, size_t size)
{
    char r[256];
    if (!state_down(s, r, sizeof(r)))
        return false;
    atomic_fetch_add(&g.refused, 1);
    snprintf(msg, size, "the state server is unreachable; nothing was accepted, retry later (%s)",
             r);
    return true;
}

void srv_guard_down(struct srv *s, const char *why)
{
    (void)s;
    pthread_mutex_lock(&g.mu);
    snprintf(g.why, sizeof(g.why), "%s", why);
    pthread_mutex_unlock(&g.mu);
    atomic_store(&g.since_ms, mono_ms());
    atomic_store(&g.down, true);
    atomic_fetch_add(&g.outages, 1);
    srv_log(KAD_LOG_ERROR,
            "state unreachable: %s; webhook posts get 503, detection and file following "
            "paused; retrying with backoff",
            why);
}

/* Sleep ms in slices, false when serve is stopping (the detection thread is asked to). */
static bool nap(struct srv *s, long ms)
{
    int64_t end = mono_ms() + ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop_detect;
        kad_rules *nr = s->pending;
        s->pending = NULL;
        if (nr) { /* a reload waits for the detection thread: refuse it now */
            s->pending_follow = s->pending_outs = false;
            s->reload_rc = -1;
            snprintf(s->reload_msg, sizeof(s->reload_msg),
                     "the state server is unreachable: reload again once it answers");
            s->reload_done = true;
            pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->mu);
        if (nr)
            kad_rules_unref(nr);
        if (stop)
            return false;
        int64_t left = end - mono_ms();
        if (left <= 0)
            return true;
        struct timespec ts = {0, (left > 100 ? 100 : left) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int srv_guard_wait(struct srv *s, int (*reopen)(void *ud, kad_err *err), void *ud)
{
    uint64_t seed = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15ULL | 1;
    long delay = GUARD_FIRST_MS;
    int64_t logged = 0;
    for (;;) {
        /* exponential backoff with jitter: a random point of [delay/2, delay] */
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        long ms = delay / 2 + (long)(seed % (uint64_t)(delay / 2 + 1));
        if (!nap(s, ms))
            return 1;
        delay = delay * 2 > GUARD_MAX_MS ? GUARD_MAX_MS : delay * 2;
        atomic_fetch_add(&g.attempts, 1);
        kad_err err;
        kad_err_clear(&err);
        /* a cheap probe first (one attempt, no backoff), then the engine: its own retries
           cover a server that goes away again meanwhile */
        int rc = kad_state_ping(s->st, &err);
        if (rc == KAD_OK)
            rc = reopen(ud, &err);
        if (rc == KAD_OK) {
            int64_t since = atomic_load(&g.since_ms);
            atomic_store(&g.down, false);
            atomic_store(&g.since_ms, 0);
            atomic_fetch_add(&g.recoveries, 1);
            srv_log(KAD_LOG_INFO,
                    "state reachable again after %.1f s: detection resumes from the last commit, "
                    "webhook posts are accepted",
                    (double)(mono_ms() - since) / 1000.0);
            return 0;
        }
        char line[1024];
        kad_err_format(&err, line, sizeof(line));
        if (rc != KAD_EUNAVAIL && rc != KAD_ESTATE) {
            srv_log(KAD_LOG_ERROR, "state: %s; detection stopped", line);
            return -1;
        }
        int64_t now = mono_ms();
        if (now - logged >= GUARD_LOG_EVERY_MS) {
            srv_log(KAD_LOG_WARN, "state still unreachable (%" PRIu64 " attempts): %s",
                    atomic_load(&g.attempts), line);
            logged = now;
        }
        pthread_mutex_lock(&g.mu);
        snprintf(g.why, sizeof(g.why), "%.250s", line);
        pthread_mutex_unlock(&g.mu);
    }
}

void srv_guard_idle(struct srv *s)
{
    static int64_t last;
    if (!s->st || !kad_state_shared(s->st))
        return;
    int64_t now = mono_ms();
    if (now - last < GUARD_IDLE_PING_MS)
        return;
    last = now;
    kad_err err;
    kad_err_clear(&err);
    kad_state_ping(s->st, &err); /* a failure marks the connection down: 503s until it answers */
}

void srv_guard_metrics(struct srv *s, struct srv_guard_stats *out)
{
    memset(out, 0, sizeof(*out));
    char why[256];
    out->up = !state_down(s, why, sizeof(why));
    if (s->st && kad_state_shared(s->st)) {
        kad_state_conn c;
        kad_state_conn_get(s->st, &c);
        out->lost = c.lost;
        out->reconnects = c.reconnects;
    }
    out->outages = atomic_load(&g.outages);
    out->recoveries = atomic_load(&g.recoveries);
    out->attempts = atomic_load(&g.attempts);
    out->refused = atomic_load(&g.refused);
}

/*
 * console_int.h - private to serve/console*.c: the web console mounted on kadet serve's admin
 * listener (route.h): its context, sessions, the live-alert signal and the helpers its JSON API
 * shares. docs/api.md documents the API, docs/ui.md the pages, docs/internals/console.md the
 * design.
 */
#ifndef KAD_SERVE_CONSOLE_INT_H
#define KAD_SERVE_CONSOLE_INT_H

#include "kad.h"
#include "route.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CON_SESSIONS_MAX 256
#define CON_SESSION_TTL_MS ((int64_t)12 * 3600 * 1000) /* absolute: from the login */
#define CON_SESSION_IDLE_MS ((int64_t)3600 * 1000)     /* since the session's last request */
#define CON_PAGE_MAX 500

/* Login rate limits (console.c): per client address, failed logins; per user, sessions made. */
#define CON_RATE_WINDOW_MS ((int64_t)300 * 1000)
#define CON_RATE_IP_FAILS 10
#define CON_RATE_USER_LOGINS 30
#define CON_RATE_SLOTS 512

/* The recent-input store (console_input.c): events kept for alert pages. */
#define CON_INPUT_MAX_EVENTS 100000
#define CON_INPUT_MAX_BYTES ((size_t)128 << 20)

struct con_session {
    char id[65];   /* hex of 32 random bytes; "" = free slot */
    char csrf[33]; /* hex of 16 random bytes */
    char principal[128];
    srv_role role;
    int64_t expires_ms; /* absolute expiry */
    int64_t last_ms;    /* last request (idle expiry) */
};

/* One rate-limit counter: a client address ("ip:...") or a user ("user:...") in a window. */
struct con_rate {
    char key[80];
    int64_t window_ms; /* start of its window; 0 = free */
    unsigned n;
};

struct console {
    srv_services sv;
    srv_mount mount;
    const char *prefixes[3];
    char *config_path;

    pthread_mutex_t idx_mu; /* guards idx (one SQLite handle) */
    kad_alerts *idx;
    /* the state has no alert index of its own (kad_alerts_open: KAD_EUNSUPPORTED; no store
       answers so today: a redis:// state keeps the workflow status in Redis): idx is in memory,
       rebuilt from the alerts file at start, and triage is refused rather than lost */
    bool idx_in_memory;

    pthread_mutex_t ses_mu; /* sessions and rates */
    struct con_session sessions[CON_SESSIONS_MAX];
    struct con_rate rates[CON_RATE_SLOTS];

    struct con_input *input; /* recent input (NULL when it could not start) */
    int64_t ses_ttl_ms, ses_idle_ms; /* CON_SESSION_TTL_MS, CON_SESSION_IDLE_MS (tests: less) */

    /* alerts handed over by on_alerts, indexed by the ingest thread */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    char *q;
    size_t q_len, q_cap;
    bool stop;
    pthread_t ingest;
    bool ingest_started;
    /* live: generation counter bumped after each indexed batch (SSE streams poll it) */
    uint64_t gen;
    uint64_t last_added;
    uint64_t indexed_total;
};

/* What a handler knows about the caller after authentication. */
struct con_auth {
    srv_role role;
    char principal[128];
    bool bearer;                   /* credentials in the Authorization header */
    const struct con_session *ses; /* a copy's address inside the request, or NULL */
    struct con_session ses_copy;
};

/* ---- request helpers (console.c) ---- */
/* The value of parameter `name` in an application/x-www-form-urlencoded text (query or body),
   the nth occurrence; decoded into a malloc'd string, NULL when absent. */
char *con_param(const char *qs, size_t len, const char *name, size_t nth);
int64_t con_now_ms(void);
/* A JSON error answer: {"error": msg} with status. Returns 0 (answered). */
int con_error(srv_resp *rs, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Take the writer's text as the answer (status 0 = 200). */
int con_json(srv_resp *rs, int status, kad_json *w);

/* A growing text buffer (console.c); oom set when an append failed. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};
void con_sb_add(struct sbuf *b, const char *s, size_t n);
void con_sb_adds(struct sbuf *b, const char *s);

/* ---- recent input (console_input.c) ---- */
struct con_input;
struct con_input *con_input_new(size_t max_events, size_t max_bytes, kad_err *err);
void con_input_free(struct con_input *in);
/* Queue one record serve ran (route.h on_record): cheap, never blocks on decoding. */
void con_input_record(struct con_input *in, const char *data, size_t len, int64_t read_ms);
/* The user's events with a time in [from, to] (the `limit` nearest to center, in time order)
   as JSON {"events":[...],"matched":N,"truncated":B,"store":{...}} appended to b. */
void con_input_find(struct con_input *in, const char *user, int64_t from, int64_t to,
                    int64_t center, size_t limit, struct sbuf *b);

/* ---- the JSON API (console_api.c) ---- */
int con_api(struct console *c, const srv_req *rq, const struct con_auth *au, srv_resp *rs);

/* ---- embedded assets (generated from serve/ui/ by scripts/embed-assets.py) ---- */
struct con_asset {
    const char *path; /* "/ui/app.js" */
    const char *type;
    const unsigned char *data;
    size_t len;
};
extern const struct con_asset con_assets[];
extern const size_t con_assets_count;

#endif

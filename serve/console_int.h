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
#define CON_SESSION_TTL_MS ((int64_t)12 * 3600 * 1000)
#define CON_PAGE_MAX 500

struct con_session {
    char id[65];   /* hex of 32 random bytes; "" = free slot */
    char csrf[33]; /* hex of 16 random bytes */
    char principal[128];
    srv_role role;
    int64_t expires_ms;
};

struct console {
    srv_services sv;
    srv_mount mount;
    const char *prefixes[3];
    char *config_path;

    pthread_mutex_t idx_mu; /* guards idx (one SQLite handle) */
    kad_alerts *idx;

    pthread_mutex_t ses_mu;
    struct con_session sessions[CON_SESSIONS_MAX];

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

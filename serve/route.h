/*
 * route.h - the contract between kadet serve's HTTP layer and the handlers mounted on its admin
 * listener (the web console and its JSON API under /ui/ and /api/v1/).
 *
 * serve owns the sockets, TLS, client authentication, limits and threads. It authenticates a
 * request (client certificate or bearer token, mapped to a role by the config's [[user]]
 * tables), sets srv_req.role, and hands every request whose path starts with a mounted prefix to
 * that mount's handler, authenticated or not: the mount answers 401 itself, or upgrades the role
 * from a session cookie of its own (issued at login after srv_services.authenticate_token). Handlers run
 * on serve's connection threads, possibly several at once: a handler must be thread-safe and
 * must not touch the detection engine directly (it opens its own read handle on the state).
 *
 * serve/ includes only include/kad.h among the project's headers (scripts/check-src.sh).
 */
#ifndef KAD_SERVE_ROUTE_H
#define KAD_SERVE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

/* What the request's credentials allow, from serve's configuration. */
typedef enum srv_role {
    SRV_ROLE_NONE = 0,    /* not authenticated: handlers answer 401 (or serve the login page) */
    SRV_ROLE_READ = 1,    /* read-only: GET only */
    SRV_ROLE_ANALYST = 2, /* triage, exceptions */
    SRV_ROLE_ADMIN = 3,   /* reload, configuration */
} srv_role;

typedef struct srv_req srv_req;
struct srv_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path without the query, e.g. "/api/v1/alerts/abc" */
    const char *query;  /* the raw query string after '?', "" when none */
    const char *body;   /* the whole request body (not NUL-terminated), NULL when none */
    size_t body_len;
    const char *peer;    /* "IP:PORT" */
    uint64_t request_id; /* serve's request counter, also in its logs */
    srv_role role;
    const char *principal; /* who: token name, certificate subject CN or session user; "" */
    /* a request header by name (case-insensitive), NULL when absent */
    const char *(*header)(const srv_req *rq, const char *name);
    void *impl; /* serve's */
    int tls;    /* 1 when the request came over TLS (the console then sets Secure cookies) */
};

/*
 * A handler's answer. body is malloc'd and taken by serve (free()), or body_static (not freed)
 * is used instead when body is NULL. headers: extra "Name: value\r\n" lines (Set-Cookie,
 * Cache-Control, Location ...), malloc'd and taken, or NULL.
 *
 * Streaming (server-sent events): set `next`; serve then answers with the status and headers,
 * and calls next(stream, buf, size) from a thread of its own until it returns < 0 (end). next
 * returns the number of bytes it wrote into buf (0: nothing yet; serve calls again after a short
 * wait). stream_free(stream) is called once when the stream ends or the client goes away.
 */
typedef struct srv_resp {
    int status;               /* HTTP status; 0 means 200 */
    const char *content_type; /* NULL: "application/json" */
    char *body;
    size_t body_len;
    const char *body_static;
    char *headers;
    long (*next)(void *stream, char *buf, size_t size);
    void (*stream_free)(void *stream);
    void *stream;
} srv_resp;

/* Returns 0 when it answered (rs filled), 1 when the path is not its own (serve answers 404). */
typedef int (*srv_handler_fn)(void *ctx, const srv_req *rq, srv_resp *rs);

/*
 * What serve offers the mounted handlers. Every pointer may be NULL when serve does not have
 * it (tests mount a handler on a bare listener).
 */
typedef struct srv_services {
    void *sv;
    const char *state_location;        /* the state store (path or URL): open a read handle */
    const char *output_path;           /* the alerts file (NDJSON), NULL when not a file */
    const char *const *exception_paths; /* exception files given to serve */
    size_t n_exception_paths;
    /* the current rule set, referenced (kad_rules_unref when done); NULL before the first load */
    struct kad_rules *(*rules_get)(void *sv);
    /* reload rules, exceptions and config now (as SIGHUP does); 0 when the new set is running,
       else -1 and the reason in msg */
    int (*reload)(void *sv, char *msg, size_t size);
    /* metrics in Prometheus text, malloc'd (free()) */
    char *(*metrics_text)(void *sv);
    /* check a bearer token against serve's configured users ([[user]] tables with token_file,
       role, name) in constant time: the role (SRV_ROLE_NONE when unknown) and the user's name
       in principal. The console's login uses it before it issues its own session cookie. */
    srv_role (*authenticate_token)(void *sv, const char *token, char *principal, size_t size);
} srv_services;

/*
 * Alerts as serve commits them: every committed batch's alert lines (NDJSON, each line one
 * alert document) are passed to every mount that set on_alerts, after the commit that made them
 * durable, from the detection thread. Must return quickly (copy and signal).
 */
typedef void (*srv_alerts_fn)(void *ctx, const char *ndjson, size_t len);

/*
 * Input as serve's detection thread runs it: every record fed to the engine (one audit event, an
 * EventList or a JSON array of them, or an ECS document: kad_record's data) is passed to every
 * mount that set on_record, right after kad_engine_feed_at, with when it was read (epoch ms;
 * KAD_TIME_NONE when not known: the mount takes its own clock). data is valid during the call
 * only. Called for every record: must be cheap (copy into a bounded queue and signal; never
 * decode or block on I/O there).
 */
typedef void (*srv_record_fn)(void *ctx, const char *data, size_t len, int64_t read_ms);

/* A mount: serve calls handle for every request whose path starts with one of prefixes. */
typedef struct srv_mount {
    const char *const *prefixes; /* e.g. {"/ui", "/api/v1/", NULL} */
    srv_handler_fn handle;
    srv_alerts_fn on_alerts; /* may be NULL */
    void (*close)(void *ctx); /* at shutdown, after the last request; may be NULL */
    void *ctx;
    srv_record_fn on_record; /* may be NULL */
} srv_mount;

/* The console's constructor (serve/console.c): NULL with a message in err on failure. */
struct kad_err;
srv_mount *console_mount_new(const srv_services *sv, const char *config_path,
                             struct kad_err *err);

#endif

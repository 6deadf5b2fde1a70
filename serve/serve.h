/*
 * serve.h - kadet serve, the always-on detection service (docs/internals/serve.md).
 *
 * The files of serve/ share this header; cli/cmd_serve.c calls serve_main only. serve/ is
 * compiled into the kadet program (not libkad: libkad does not link libmicrohttpd) and includes
 * only include/kad.h among the project's headers (scripts/check-src.sh).
 *
 *   srv_config.c   settings: defaults, kadet.toml (kad_conf_parse), flags, validation
 *   srv_log.c      one line per event of note, text or JSON lines
 *   srv_body.c     a request body: gzip, EventList items split into records, auditID+stage keys
 *   srv_spool.c    the durable spool: segments, group commit, dedup, recovery, the reader side
 *   srv_detect.c   the detection thread: spool -> kad_engine_feed -> commit; reload
 *   srv_follow.c   the file source: a follow thread, a bounded queue to the detection thread
 *   srv_http.c     listeners on libmicrohttpd + GnuTLS: auth, limits, routes, mounts
 *   srv_net.c      listening addresses: check, loopback or not, bind
 *   srv_listen.c   `kadet scan --listen` (listen.h) on srv_http.c's listener, without the spool
 *   srv_metrics.c  counters, histograms and the Prometheus text
 *   srv_stateguard.c  a state server (redis://) unreachable: 503s, readiness, the wait to resume
 *   srv_main.c     serve_main: start, signals (SIGHUP reload, SIGTERM drain), stop
 */
#ifndef KAD_SERVE_H
#define KAD_SERVE_H

#include "kad.h"
#include "route.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_MAX_PATHS 64
#define SRV_MAX_USERS 64
#define SRV_MAX_MOUNTS 8

enum { SRV_EXIT_OK = 0, SRV_EXIT_USAGE = 1, SRV_EXIT_RUNTIME = 2 };

/* ============================================================================================ */
/* Configuration (srv_config.c)                                                                 */
/* ============================================================================================ */

struct srv_user {
    char *name;
    srv_role role;
    char *token_file;
    char *token; /* read from token_file */
    size_t token_len;
    char *cert_cn;
};

enum { SRV_LOG_TEXT = 0, SRV_LOG_JSON };

struct srv_config {
    char *config_path;
    char *listen, *listen_path;
    char *tls_cert, *tls_key, *client_ca, *token_file;
    char *admin_listen;
    char *follow[SRV_MAX_PATHS];
    size_t nfollow;
    char *cluster_name;
    char *rules[SRV_MAX_PATHS];
    size_t nrules;
    char *exceptions[SRV_MAX_PATHS];
    size_t nexceptions;
    char *state, *output, *spool_dir;
    size_t spool_max;
    char *source[SRV_MAX_PATHS]; /* --source specs: a source's own host.* and cluster */
    size_t nsource;
    char *sink[SRV_MAX_PATHS]; /* --sink specs (the file's [[sink]] tables: kad_outputs) */
    size_t nsink;
    char *outbox; /* default: STATE.outbox (a state URL: SPOOL_DIR/../outbox) */
    long sink_ms; /* --sink-timeout: delivery drain at SIGTERM */
    bool insecure;
    bool check_config; /* --check-config: validate everything, start nothing (srv_config_check) */
    int log_format; /* SRV_LOG_* */
    int log_level;  /* KAD_LOG_* */
    size_t max_body, max_record, max_inflight;
    unsigned max_connections, max_per_ip, timeout_s, drain_s;
    unsigned header_timeout_s, body_timeout_s; /* request headers, request body (0: none) */
    long commit_ms;
    unsigned threads; /* decoding threads of the engine (kad_engine_opts.threads); 0: the CPUs */
    char *host_name, *host_os_type;
    bool no_host;
    bool no_console; /* --no-console: the console (console_mount_new) is not mounted */
    int64_t now_ms; /* --now (tests): alert @timestamp; KAD_TIME_NONE: the clock */
    int ingested;   /* KAD_INGESTED_*: event.ingested at reading (default) or none */
    struct srv_user users[SRV_MAX_USERS];
    size_t nusers;
    /* loaded */
    char *token; /* the token_file's token */
    size_t token_len;
    /* the command line, kept for reloads (flags keep overriding the file) */
    int argc;
    char **argv;
    /* strings replaced by reloads, freed at exit (handlers may still read the old ones) */
    char **retired;
    size_t nretired;
};

/* Parse argv (argv[0] = "serve") and --config: 0 ok, 1 usage error (printed), -1 help shown. */
int srv_config_load(struct srv_config *c, int argc, char **argv);
/* Re-read the rules, exceptions, followed files and sinks (and the token files) of the config
   file for a reload; flags given on the command line keep overriding. The replaced strings stay
   allocated until srv_config_free. 0 or -1 with msg. */
int srv_config_reload(struct srv_config *c, char *msg, size_t size);
void srv_config_free(struct srv_config *c);
/* One --source spec, "NAME:key=value[,key=value...]": NAME is `webhook` or a --follow path;
   keys cluster_name, host_name, host_os_type, no_host (true/false). Its strings point into buf.
   0, or -1 with the reason (and the byte position) in msg. */
struct srv_source_meta {
    const char *name, *cluster_name, *host_name, *host_os_type;
    int no_host; /* -1: as the service's */
};
int srv_source_parse(const char *spec, struct srv_source_meta *m, char *buf, size_t bufsize,
                     char *msg, size_t size);
/* --check-config, after the rules were built (nrules of them): the TLS files load and match,
   the state, spool, output and outbox can be written. Prints the summary or the first problem;
   the exit status. */
int srv_config_check(const struct srv_config *c, size_t nrules);
extern const char srv_usage[];

/* ============================================================================================ */
/* Logs (srv_log.c)                                                                             */
/* ============================================================================================ */

void srv_log_init(int format, int level);
/* Text lines as "PREFIX: msg", "PREFIX: warning: msg" (kadet scan --listen), NULL: serve's. */
void srv_log_prefix(const char *prefix);
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's warnings (kad_log_set_sink) into the same lines. */
void srv_log_kad(int level, const char *msg, void *ud);

/* ============================================================================================ */
/* Bodies (srv_body.c)                                                                          */
/* ============================================================================================ */

/* One record of a body: data (a slice of the body, or of `wrap` when it had to be wrapped in a
   one-item EventList to keep the list's apiVersion) and its dedup key (0: none). */
struct srv_rec {
    const char *data;
    size_t len;
    uint64_t key;
    size_t wrap_off; /* while splitting: where a wrapped record starts in wrap (data NULL) */
};
struct srv_batch {
    struct srv_rec *recs;
    size_t n, cap;
    char *wrap; /* wrapped items, referenced by recs */
    size_t wrap_len, wrap_cap;
    char *plain; /* the decompressed body when it was gzip */
    size_t plain_len;
};
/* Split body into records: HTTP status (200, or 400/413/415 with the reason in msg). */
int srv_body_split(struct srv_batch *b, const char *body, size_t len, const char *encoding,
                   size_t max_plain, size_t max_record, char *msg, size_t size);
void srv_batch_free(struct srv_batch *b);
/* Inflate a gzip body (Content-Encoding) into b->plain: 200, or 400/413/500 with msg. */
int srv_body_inflate(struct srv_batch *b, const char *body, size_t len, size_t max, char *msg,
                     size_t size);

/* ============================================================================================ */
/* Addresses (srv_net.c)                                                                        */
/* ============================================================================================ */

struct sockaddr;
/* "HOST:PORT", "[V6]:PORT", ":PORT" (any interface) into host (empty: any) and port. */
bool srv_addr_split(const char *addr, char *host, size_t hsize, char *port, size_t psize);
/* Check an address; false with "FLAG: expected ..." in msg. */
bool srv_addr_ok(const char *addr, const char *flag, char *msg, size_t size);
bool srv_addr_loopback(const char *addr);
/* "IP:PORT" or "[IP6]:PORT". */
void srv_addr_format(const struct sockaddr *sa, char *out, size_t size);
/* A listening socket on addr (*family set, where: the bound "IP:PORT"), or -1 (logged). */
int srv_addr_bind(const char *addr, int *family, char *where, size_t wsize);

/* ============================================================================================ */
/* Spool (srv_spool.c)                                                                          */
/* ============================================================================================ */

struct srv_spool;
int srv_spool_open(struct srv_spool **out, const char *dir, size_t max, kad_err *err);
void srv_spool_close(struct srv_spool *sp);
/* Append the batch's records not seen recently (dedup by key), durably (group commit): 200 and
   the accepted and duplicate counts; 503 when full (or broken: 500). Blocks until fsynced. */
int srv_spool_append(struct srv_spool *sp, const struct srv_batch *b, uint64_t *accepted,
                     uint64_t *dups, char *msg, size_t size);
uint64_t srv_spool_bytes(struct srv_spool *sp);
uint64_t srv_spool_segments(struct srv_spool *sp);
bool srv_spool_high(struct srv_spool *sp); /* at or above the high-water mark (90%) */

/* The reader side (the detection thread only). */
struct srv_spool_rec {
    const char *data;
    size_t len;
    int64_t offset; /* of data in the segment */
    int64_t recv_us;
};
/* Start reading: positions of each segment come from pos(ud, name, &offset) (0: from start). */
void srv_spool_reader_start(struct srv_spool *sp,
                            int (*pos)(void *ud, const char *key, int64_t *offset), void *ud);
/* The next durable record (1), none now (0, after waiting up to wait_ms), or -1 on a read
   error (msg). *key: the resume key of its segment ("spool:NAME"), valid until the next call. */
int srv_spool_next(struct srv_spool *sp, struct srv_spool_rec *r, const char **key, int wait_ms,
                   char *msg, size_t size);
/* Up to max durable records of one segment at once (one lock round trip): 1 with *n records
   (at least one), 0 when none now (after waiting up to wait_ms), -1 on a read error (msg). The
   records and *key are valid until the next call. */
int srv_spool_read(struct srv_spool *sp, struct srv_spool_rec *recs, size_t max, size_t *n,
                   const char **key, int wait_ms, char *msg, size_t size);
/* After a commit: delete the segments read to their end that no writer appends to. */
void srv_spool_committed(struct srv_spool *sp);
/* Wake a reader waiting in srv_spool_next. */
void srv_spool_wake(struct srv_spool *sp);

/* ============================================================================================ */
/* Metrics (srv_metrics.c)                                                                      */
/* ============================================================================================ */

#define SRV_HIST_BUCKETS 14
struct srv_hist {
    _Atomic uint64_t bucket[SRV_HIST_BUCKETS + 1]; /* the last: +Inf */
    _Atomic uint64_t count, sum_us;
};
void srv_hist_observe(struct srv_hist *h, int64_t us);

struct srv_rule_snap {
    char *rule_id;
    uint64_t matched, alerts, excepted, suppressed, too_late, future;
};
struct srv_snap { /* what the detection thread publishes after each commit */
    kad_engine_stats es;
    struct srv_rule_snap *rules;
    size_t nrules;
    uint64_t combinations;
};

struct srv_metrics {
    _Atomic uint64_t req_ok, req_bad, req_unauth, req_forbidden, req_too_large, req_full, req_error,
        req_notfound;
    _Atomic uint64_t records_received, records_dup, bytes_received;
    _Atomic uint64_t reloads_ok, reloads_failed, output_errors;
    _Atomic int64_t inflight_bytes;
    _Atomic uint64_t connections, timeouts;
    struct srv_hist request, commit, receipt_alert;
};

/* ============================================================================================ */
/* The service                                                                                  */
/* ============================================================================================ */

struct srv_listener;
struct cli_listen_opts;

struct srv {
    struct srv_config cfg;
    const char *default_rules; /* the bundled rules (cli/rulesdir.c) when cfg has none */
    struct srv_spool *spool;
    kad_state *st;
    kad_outputs *outs;         /* the sinks: engines of reloads share it; a reload that changes the
                                  sinks replaces it (srv_detect.c) */
    struct srv_follow *follow; /* the file source (--follow), NULL: none */
    /* follow and outs are replaced by reloads on the detection thread, under src_mu (metrics
       read them under it) */
    pthread_mutex_t src_mu;
    uint64_t conf_hash; /* of the config file's bytes as last loaded: did its sinks change? */
    struct srv_metrics m;
    /* rules: the running set (ref'd), swapped by reload under rules_mu */
    pthread_mutex_t rules_mu;
    kad_rules *rules;
    /* reload hand-over to the detection thread */
    pthread_mutex_t reload_mu; /* one reload at a time */
    pthread_mutex_t mu;        /* guards the fields below */
    pthread_cond_t cond;
    kad_rules *pending;
    bool pending_follow, pending_outs; /* the reload also replaces the follower, the outputs */
    int reload_rc;
    bool reload_done;
    char reload_msg[512];
    struct srv_snap snap;
    bool stop_detect; /* drain and finish */
    bool detect_failed;
    bool detect_exited;
    pthread_t detect_thread;
    atomic_bool fatal; /* the detection thread failed: serve exits 2 */
    atomic_bool stopping;
    atomic_int inflight_requests;
    _Atomic uint64_t nreq;
    /* listeners and mounts */
    struct srv_listener *web, *admin;
    srv_services services;
    srv_mount *mounts[SRV_MAX_MOUNTS];
    size_t nmounts;
    /* `kadet scan --listen` (srv_listen.c): webhook bodies go to hook->on_body, one at a time
       (hook_mu), instead of the spool; no admin endpoints but /healthz, no console */
    const struct cli_listen_opts *hook;
    pthread_mutex_t hook_mu;
    atomic_bool hook_stop; /* on_body asked to stop */
};

/* srv_detect.c */
int srv_rules_build(struct srv *s, kad_rules **out, char *msg, size_t size);
int srv_detect_start(struct srv *s, kad_err *err);
/* Drain the spool (at most drain_s seconds), commit and join. */
void srv_detect_stop(struct srv *s);
/* Reload: new rules (and config) built here, swapped in by the detection thread. */
int srv_reload(struct srv *s, char *msg, size_t size);
kad_rules *srv_rules_get(struct srv *s);

/* srv_follow.c: the file source */
struct srv_follow;
struct srv_follow_rec { /* a record popped by the detection thread, valid until the next pop */
    kad_record rec;
    const char *source; /* its resume key: kad_engine_feed_at */
    int64_t read_ms;
    char *buf; /* owned: freed by the next pop (or by the caller) */
};
/* Open the follower on cfg.follow (nothing without paths) and start its thread. */
int srv_follow_start(struct srv *s, kad_err *err);
/* The next queued record (1) or none now (0); detection thread only. */
int srv_follow_pop(struct srv *s, struct srv_follow_rec *out);
/* The follow thread has stopped and its queue is empty (true without a follower). */
bool srv_follow_idle(struct srv *s);
/* Interrupt the follower and join its thread (queued records stay for the drain). */
void srv_follow_stop(struct srv *s);
void srv_follow_free(struct srv *s);
/* Reload (detection thread, after srv_follow_stop and feeding what was queued): a follower on
   paths (none: n 0) in place of the old one, which is freed; on error the old one stays in
   place, stopped (replace it by one on the old paths). */
int srv_follow_replace(struct srv *s, const char *const *paths, size_t n, kad_err *err);
/* Counters for /metrics (with a follower only). */
void srv_follow_metrics(struct srv *s, kad_follow_stats *st, uint64_t *queued, uint64_t *errors);

/* srv_http.c */
int srv_http_start(struct srv *s);
/* Stop accepting, wait for requests in flight (bounded), close. */
void srv_http_stop(struct srv *s);
/* The bound address of the webhook listener ("IP:PORT"), "" before srv_http_start. */
const char *srv_http_where(const struct srv *s);
/* Constant-time token check: role and principal. */
srv_role srv_auth_token(struct srv *s, const char *token, size_t len, char *principal, size_t size);

/* srv_metrics.c */
char *srv_metrics_text(struct srv *s);

/* srv_stateguard.c: serve while the state server is unreachable */
/* Whether an engine error code means the state server is unreachable (KAD_EUNAVAIL). */
bool srv_guard_outage(int code);
/* The detection thread lost the state (why): webhook 503s, not ready, until srv_guard_wait
   returns 0. */
void srv_guard_down(struct srv *s, const char *why);
/* Detection thread: wait with backoff and jitter for the server, then reopen(ud) (a new
   engine, positions rewound); repeated until it works (0), serve stops (1), or an error that
   waiting does not cure (-1, logged). Reloads asked meanwhile are refused. */
int srv_guard_wait(struct srv *s, int (*reopen)(void *ud, kad_err *err), void *ud);
/* Detection thread, idle (nothing pending): at most once a second, one ping without backoff,
   so that an outage is seen (503s, /readyz) even when no record needs the state; a ping that
   works ends it. */
void srv_guard_idle(struct srv *s);
/* Webhook: true (msg says why) when posts must get 503 because the state is unreachable. */
bool srv_guard_refuse(struct srv *s, char *msg, size_t size);
/* /readyz: false with the reason (a line) while the state is unreachable. */
bool srv_guard_ready(struct srv *s, char *why, size_t size);
struct srv_guard_stats {
    bool up;
    uint64_t lost, reconnects;    /* the store's connection (kad_state_conn) */
    uint64_t outages, recoveries; /* engines dropped and reopened */
    uint64_t attempts, refused;   /* srv_guard_wait's attempts, webhook posts refused */
};
void srv_guard_metrics(struct srv *s, struct srv_guard_stats *out);

/* srv_main.c */
/* The sinks of specs and of the config file's [[sink]] tables on cfg.outbox; *out NULL when
   there are none. */
int srv_outputs_open(struct srv *s, const char *const *specs, size_t nspecs, kad_outputs **out,
                     kad_err *err);
/* A hash of a file's bytes (0: none or unreadable). */
uint64_t srv_file_hash(const char *path);
/* `kadet serve`: argv[0] is "serve"; default_rules is used when no rules are configured.
   Returns the exit status. */
int serve_main(int argc, char **argv, const char *default_rules);

#endif

/*
 * listen.h - the HTTP receiver of `kadet scan --listen` (kube-apiserver's audit webhook). It is
 * kadet serve's webhook listener (serve/srv_http.c, in srv_listen.c's "hook" mode): the same
 * socket code, thread per connection, connection and per-IP limits, header, body and idle
 * timeouts, the in-flight memory budget, gzip, and the per-record limit (a record over
 * max_record: 413 naming its auditID and byte position). What a body means is the caller's
 * business (cli_listen_opts.on_body). cli/cmd_scan.c and cli/scan_report.c include it (the
 * exception in scripts/check-src.sh).
 *
 * Threading: on_body runs on the connections' threads, one call at a time (a mutex), never at
 * the same time as the code after cli_listen_run returns. Bodies of other clients are read
 * meanwhile, so a slow client never blocks the others. The calling thread waits for
 * SIGINT/SIGTERM.
 */
#ifndef KAD_SERVE_LISTEN_H
#define KAD_SERVE_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_LISTEN_REPLY_MAX 2048 /* the longest answer text */

struct cli_listen_req {
    uint64_t n;       /* request counter, 1-based (bodies handed to on_body and rejected ones) */
    const char *peer; /* client address "IP:PORT" */
    const char *body; /* the whole body (not NUL-terminated); valid during the call */
    size_t len;
};

struct cli_listen_opts {
    const char *addr;  /* "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces); port 0 = any */
    const char *path;  /* the path POSTs are accepted on (default "/") */
    size_t max_body;   /* larger bodies get 413 (0 = 64 MiB); also the size after gzip */
    size_t max_record; /* a larger record refuses its body with 413 (0 = 16 MiB) */
    struct cli_listen_limits {
        size_t max_inflight;                  /* bodies being received (0: 256 MiB), then 503 */
        unsigned max_connections, max_per_ip; /* 0: 512, 128 */
        unsigned timeout_s;                   /* idle connection (0: 30) */
        unsigned header_timeout_s, body_timeout_s; /* 0: 10, 120 */
        bool header_set, body_set;                 /* a given 0 means none */
    } limits;
    const char *banner; /* printed as "BANNER: listening on HOST:PORT" on stderr once bound */
    /*
     * Handle one POSTed body: write the response text into reply (size bytes, NUL-terminated)
     * and return the HTTP status.
     * Set *stop to end the server after this answer (a fatal error: cli_listen_run then
     * returns 2).
     */
    int (*on_body)(void *ctx, const struct cli_listen_req *rq, char *reply, size_t size,
                   bool *stop);
    /* SIGHUP (NULL: logged and ignored): called between on_body calls, on the main thread;
       scan reopens --output there (logrotate's `create` rotation). *stop as for on_body. */
    void (*on_hup)(void *ctx, bool *stop);
    void *ctx;
};

/* Check an address for cli_listen_run; false with a message in msg (size bytes) when bad. */
bool cli_listen_addr_ok(const char *addr, char *msg, size_t size);

/* The limit flags of scan --listen (their names, without "--"), NULL-terminated. */
extern const char *const cli_listen_limit_flags[];
/* Parse one of them: true, or false with "--NAME: expected ..." in msg. */
bool cli_listen_limit(struct cli_listen_limits *l, const char *name, const char *arg, char *msg,
                      size_t size);

/*
 * Bind, serve until SIGINT or SIGTERM (or *stop from on_body), stop the server and return:
 * 0 after a signal, 2 when binding failed (reason on stderr) or on_body asked to stop. When it
 * returns, no on_body call is running or will run.
 */
int cli_listen_run(const struct cli_listen_opts *o);

#endif

/*
 * listen.h - a small HTTP receiver for webhook bodies (kube-apiserver's audit webhook), on
 * libmicrohttpd. It owns the socket, the HTTP details (methods, paths, body limit, /healthz)
 * and the signals; what a body means is the caller's business (cli_listen_opts.on_body).
 *
 * Threading: every on_body call runs on one thread (libmicrohttpd's internal polling thread,
 * no thread per connection), one request after the other, never at the same time as the code
 * after cli_listen_run returns. The calling thread only waits for SIGINT/SIGTERM.
 */
#ifndef KAD_CLI_LISTEN_H
#define KAD_CLI_LISTEN_H

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
    const char *addr;   /* "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces); port 0 = any */
    const char *path;   /* the path POSTs are accepted on (default "/") */
    size_t max_body;    /* larger bodies get 413 (0 = 64 MiB) */
    const char *banner; /* printed as "BANNER: listening on HOST:PORT" on stderr once bound */
    /*
     * Handle one POSTed body: write the response text into reply (size bytes, NUL-terminated)
     * and return the HTTP status.
     * Set *stop to end the server after this answer (a fatal error: cli_listen_run then
     * returns 2).
     */
    int (*on_body)(void *ctx, const struct cli_listen_req *rq, char *reply, size_t size,
                   bool *stop);
    void *ctx;
};

/* Check an address for cli_listen_run; false with a message in msg (size bytes) when bad. */
bool cli_listen_addr_ok(const char *addr, char *msg, size_t size);

/*
 * Bind, serve until SIGINT or SIGTERM (or *stop from on_body), stop the server and return:
 * 0 after a signal, 2 when binding failed (reason on stderr) or on_body asked to stop. When it
 * returns, no on_body call is running or will run.
 */
int cli_listen_run(const struct cli_listen_opts *o);

#endif

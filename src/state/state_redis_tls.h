/*
 * state_redis_tls.h - private to the Redis store: its connections to a server, plain
 * (redis://, hiredis' own socket I/O) or TLS (rediss://, GnuTLS over the socket hiredis
 * connected: hiredis still formats the commands and parses the replies). state_redis_tls.c;
 * why TLS is done this way: docs/internals/state.md, "TLS".
 */
#ifndef KAD_STATE_REDIS_TLS_H
#define KAD_STATE_REDIS_TLS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

/* What the URL says about TLS: rediss:// and its parameters (ca=, cert=, key=, servername=). */
struct rd_tls {
    bool on;    /* rediss:// */
    char *ca;   /* PEM file of the authorities the server's certificate must chain to; NULL:
                   the system's trust store */
    char *cert; /* PEM certificate (and key) this client presents (mutual TLS) */
    char *key;
    char *name; /* the name the server's certificate must carry and SNI; NULL: the host */
    void *cred; /* gnutls_certificate_credentials_t, loaded at the first connection */
};

/* A query parameter [p, p+n) that is a TLS one with a value ("ca=FILE", "cert=FILE",
   "key=FILE", "servername=NAME"): where its value goes (*klen: the length of "NAME="); NULL
   when it is not one. */
char **rd_tls_slot(struct rd_tls *t, const char *p, size_t n, size_t *klen);
/* The parameters fit together (TLS parameters need rediss://; a key needs a certificate):
   NULL, else what is wrong. */
const char *rd_tls_check(const struct rd_tls *t);
void rd_tls_fini(struct rd_tls *t);

/*
 * Connect to host:port (TLS when t->on: handshake, the server's certificate verified against
 * the authorities and the name). 0 connected (*out); 1 not now (unreachable, a handshake
 * that failed or timed out: retrying may cure it); -1 retrying does not cure it (a certificate
 * that is not trusted or not the server's name, a file that cannot be loaded). why: the reason.
 */
int rd_io_connect(struct rd_tls *t, const char *host, int port, redisContext **out, char *why,
                  size_t whyn);
/* What hiredis' redisGetReply, redisCommandArgv and redisFree do, on either kind of connection
   (a context from rd_io_connect; on an error, c->err and c->errstr say why). */
int rd_io_get_reply(redisContext *c, void **reply);
redisReply *rd_io_command(redisContext *c, int argc, const char **argv);
/* Write what hiredis holds in c->obuf (commands appended with redisAppendCommandArgv) without
   reading: a pipeline sent to several nodes before their replies are read (the cluster). */
int rd_io_flush(redisContext *c);
void rd_io_free(redisContext *c);
/* redisSetTimeout, also for the TLS session's reads and writes. */
int rd_io_set_timeout(redisContext *c, struct timeval tv);
/* The connection is TLS. */
bool rd_io_is_tls(const redisContext *c);

#endif

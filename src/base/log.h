/*
 * log.h - leveled logging to a sink (stderr by default) with per-key rate limiting.
 *
 * The library never prints on its own: the log goes to the sink function, which the CLI points
 * at stderr. Rate limiting: kx_log_limited prints at most `burst` messages for a key and then
 * one "N more suppressed" summary at kx_log_flush_limited.
 */
#ifndef KX_BASE_LOG_H
#define KX_BASE_LOG_H

#include <stdarg.h>

enum kx_log_level { KX_LOG_ERROR = 0, KX_LOG_WARN, KX_LOG_INFO, KX_LOG_DEBUG };

typedef void (*kx_log_fn)(enum kx_log_level lvl, const char *msg, void *ud);

/* Process-wide sink; set once by the CLI before any work (not changed concurrently). */
void kx_log_set_sink(kx_log_fn fn, void *ud, enum kx_log_level max_level);
void kx_log(enum kx_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct kx_log_limit {
    const char *key;
    unsigned burst;
    unsigned long seen;
} kx_log_limit;

void kx_log_limited(kx_log_limit *lim, enum kx_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kx_log_flush_limited(kx_log_limit *lim);

#endif

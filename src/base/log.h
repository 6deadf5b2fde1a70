/*
 * log.h - leveled logging to a sink (stderr by default) with per-key rate limiting.
 *
 * The library never prints on its own: the log goes to the sink function, which the CLI points
 * at stderr. Rate limiting: kad_log_limited prints at most `burst` messages for a key and then
 * one "N more suppressed" summary at kad_log_flush_limited.
 */
#ifndef KAD_BASE_LOG_H
#define KAD_BASE_LOG_H

#include <stdarg.h>

enum kad_log_level { KAD_LOG_ERROR = 0, KAD_LOG_WARN, KAD_LOG_INFO, KAD_LOG_DEBUG };

typedef void (*kad_log_fn)(enum kad_log_level lvl, const char *msg, void *ud);

/* Process-wide sink; set once by the CLI before any work (not changed concurrently). */
void kad_log_set_sink(kad_log_fn fn, void *ud, enum kad_log_level max_level);
void kad_log(enum kad_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct kad_log_limit {
    const char *key;
    unsigned burst;
    unsigned long seen;
} kad_log_limit;

void kad_log_limited(kad_log_limit *lim, enum kad_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kad_log_flush_limited(kad_log_limit *lim);

#endif

/*
 * log.c - leveled logging through one sink. The sink and level are process-wide settings made
 * once by the program at start (the only process-wide state of the library besides the
 * allocation hook); they hold no per-engine data.
 */
#include "log.h"

#include <stdio.h>

static void stderr_sink(enum kx_log_level lvl, const char *msg, void *ud)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "kadet: %s: %s\n", names[lvl], msg);
}

static kx_log_fn sink = stderr_sink;
static void *sink_ud;
static enum kx_log_level max_lvl = KX_LOG_WARN;

void kx_log_set_sink(kx_log_fn fn, void *ud, enum kx_log_level max_level)
{
    sink = fn ? fn : stderr_sink;
    sink_ud = ud;
    max_lvl = max_level;
}

static void vlog(enum kx_log_level lvl, const char *fmt, va_list ap)
{
    if (lvl > max_lvl)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    sink(lvl, msg, sink_ud);
}

void kx_log(enum kx_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

void kx_log_limited(kx_log_limit *lim, enum kx_log_level lvl, const char *fmt, ...)
{
    lim->seen++;
    if (lim->seen > lim->burst)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

void kx_log_flush_limited(kx_log_limit *lim)
{
    if (lim->seen > lim->burst)
        kx_log(KX_LOG_WARN, "%s: %lu more message(s) suppressed", lim->key ? lim->key : "log",
               lim->seen - lim->burst);
    lim->seen = 0;
}

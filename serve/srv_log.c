/*
 * srv_log.c - kadet serve's log: one line per event of note on standard error, with a level;
 * `--log-format json` writes the same as JSON lines {"time","level","msg"}. Lines are written
 * whole under a mutex, from any thread.
 */
#include "serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static int log_format = SRV_LOG_TEXT;
static int log_level = KAD_LOG_INFO;
static const char *log_prefix; /* kadet scan --listen: "kadet scan" */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void srv_log_init(int format, int level)
{
    log_format = format;
    log_level = level;
}

void srv_log_prefix(const char *prefix) { log_prefix = prefix; }

static void emit(int level, const char *msg)
{
    if (level > log_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char ts[40];
    kad_time_format((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, ts);
    const char *lv = level_names[level < 0 ? 0 : level > 3 ? 3 : level];
    pthread_mutex_lock(&log_mu);
    if (log_format == SRV_LOG_JSON) {
        kad_json *w = kad_json_new();
        if (w) {
            kad_json_obj_begin(w);
            kad_json_keyc(w, "time");
            kad_json_strc(w, ts);
            kad_json_keyc(w, "level");
            kad_json_strc(w, lv);
            kad_json_keyc(w, "msg");
            kad_json_strc(w, msg);
            kad_json_obj_end(w);
            size_t len;
            const char *t = kad_json_text(w, &len);
            fprintf(stderr, "%s\n", t);
            kad_json_free(w);
        }
    } else if (log_prefix) {
        if (level <= KAD_LOG_WARN)
            fprintf(stderr, "%s: %s: %s\n", log_prefix, level == KAD_LOG_WARN ? "warning" : "error",
                    msg);
        else
            fprintf(stderr, "%s: %s\n", log_prefix, msg);
    } else {
        fprintf(stderr, "%s %s: %s\n", ts, lv, msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

void srv_log(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, msg);
}

void srv_log_kad(int level, const char *msg, void *ud)
{
    size_t n = strlen(msg);
    char line[2048];
    snprintf(line, sizeof(line), "%.*s", (int)(n && msg[n - 1] == '\n' ? n - 1 : n), msg);
    emit(level, line);
}

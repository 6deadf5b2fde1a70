/*
 * kad_misc.c - the small parts of include/kad.h: memory handed to callers, time, durations,
 * the log sink.
 */
#include "api_int.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

void kad_free(void *p) { kx_free(p); }

int kad_time_parse(const char *s, size_t len, int64_t *ms) { return det_parse_time(s, len, ms); }

size_t kad_time_format(int64_t ms, char *out) { return det_fmt_time(ms, out); }

int kad_duration_parse(const char *s, int64_t *ms, kad_err *err)
{
    return rule_parse_span(s, ms, err);
}

int kad_bytes_parse(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end || end == s || s[0] == '-' || errno || v < 1 ||
        v > ((unsigned long long)SIZE_MAX >> 1 >> shift))
        return 0;
    *out = (size_t)(v << shift);
    return 1;
}

int kad_interval_parse(const char *s, int64_t *ms, kad_err *err)
{
    return rule_parse_duration(s, ms, err);
}

struct log_sink {
    kad_log_fn fn;
    void *ud;
};
static struct log_sink sink;

static void log_bridge(enum kx_log_level lvl, const char *msg, void *ud)
{
    struct log_sink *s = ud;
    s->fn((int)lvl, msg, s->ud);
}

void kad_log_set_sink(kad_log_fn fn, void *ud, int max_level)
{
    sink.fn = fn;
    sink.ud = ud;
    if (fn)
        kx_log_set_sink(log_bridge, &sink, (enum kx_log_level)max_level);
    else
        kx_log_set_sink(NULL, NULL, (enum kx_log_level)max_level);
}

int kad_conf_parse(const char *text, size_t len, const char *origin,
                   int (*fn)(const kad_conf_item *it, void *ud, kad_err *err), void *ud,
                   kad_err *err)
{
    if (!text || !fn)
        return kx_err_setf(err, KAD_EINVAL, "kad_conf_parse: no text or callback");
    return rule_conf_walk(text, len, origin ? origin : "<config>", fn, ud, err);
}

/*
 * rule_duration.c - kadet's one duration grammar: one or more <number><unit> terms, units ms,
 * s, m, h, d, w ("10d", "36h", "1d12h", "90m", "30s", "500ms", "2w"). Two forms of it:
 *
 *   option    every duration option of the command line and of serve's configuration
 *             (state prune --older-than, scan --future-tolerance, --sink-timeout,
 *             --rotate-grace, serve's sink_timeout and commit_interval, the console's bucket):
 *             the whole grammar, zero allowed (rule_parse_span, kad_duration_parse);
 *   schedule  a rule's interval and preview --interval, as Elastic's schedules write them: one
 *             positive term, units s, m, h, d, at most ten digits (rule_parse_duration,
 *             kad_interval_parse).
 *
 * Date math (`now-10d/d`, rule_datemath.c) is Elastic's own grammar (months, years, rounding),
 * not a duration. tests/unit/test_duration.c lists every form each caller accepts.
 */
#include "rule/rule_int.h"

#include "base/err.h"

#include <stdbool.h>
#include <string.h>

/* Returns false when s is not a duration of the form; *ms is set otherwise. */
static bool parse(const char *s, bool schedule, int64_t *ms)
{
    const char *p = s;
    int64_t total = 0;
    if (!*p)
        return false;
    while (*p) {
        if (*p < '0' || *p > '9')
            return false;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (schedule ? v > 100000000 : v > INT64_MAX / 10 - 10)
                return false;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (!schedule && strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else {
            switch (*p) {
            case 's': unit = 1000; break;
            case 'm': unit = 60000; break;
            case 'h': unit = 3600000; break;
            case 'd': unit = 86400000; break;
            case 'w':
                if (schedule)
                    return false;
                unit = 7 * 86400000LL;
                break;
            default: return false;
            }
            p++;
        }
        if (v > (INT64_MAX - total) / unit)
            return false;
        total += v * unit;
        if (schedule && (*p || v <= 0))
            return false; /* one positive term */
    }
    *ms = total;
    return true;
}

int rule_parse_span(const char *s, int64_t *ms, kad_err *err)
{
    if (parse(s, false, ms))
        return KAD_OK;
    return kx_err_setf(err, KAD_EINVAL,
                       "invalid duration '%s': expected numbers with units (ms, s, m, h, d, w), "
                       "e.g. 10d or 1d12h",
                       s);
}

int rule_parse_duration(const char *s, int64_t *ms, kad_err *err)
{
    if (parse(s, true, ms))
        return KAD_OK;
    return kx_err_setf(err, KAD_EINVAL,
                       "invalid duration '%s': expected a positive number and a unit "
                       "(s, m, h, d), e.g. 5m",
                       s);
}

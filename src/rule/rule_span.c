/*
 * rule_span.c - durations as kadet's options write them: one or more <number><unit> terms
 * ("10d", "36h", "1d12h", "90m", "30s", "500ms", "2w"). A rule's schedule (interval, from)
 * is the one-term subset in s, m, h, d (rule_parse_duration); this is the grammar of every
 * duration option of the command line (state prune --older-than, preview --interval).
 */
#include "rule/rule_int.h"

#include "base/err.h"

#include <string.h>

int rule_parse_span(const char *s, int64_t *ms, kad_err *err)
{
    const char *p = s;
    int64_t total = 0;
    if (!*p)
        goto bad;
    while (*p) {
        if (*p < '0' || *p > '9')
            goto bad;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > INT64_MAX / 10 - 10)
                goto bad;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else {
            switch (*p) {
            case 's': unit = 1000; break;
            case 'm': unit = 60000; break;
            case 'h': unit = 3600000; break;
            case 'd': unit = 86400000; break;
            case 'w': unit = 7 * 86400000LL; break;
            default: goto bad;
            }
            p++;
        }
        if (v > (INT64_MAX - total) / unit)
            goto bad;
        total += v * unit;
    }
    *ms = total;
    return KAD_OK;
bad:
    return kx_err_setf(err, KAD_EINVAL,
                       "invalid duration '%s': expected numbers with units (ms, s, m, h, d, w), "
                       "e.g. 10d or 1d12h",
                       s);
}

/*
 * rule_datemath.c - Elastic date math as rules use it (`from`, `to`, `history_window_start`)
 * and schedule durations (`interval`).
 *
 * Relative forms: "now", "now-6m", "now-10d", "now+1h", chains such as "now-1d-12h". Units:
 * s, m, h (and H), d, w, M (30 days) and y (365 days): a rule's look-back is a fixed length
 * here, where Elasticsearch would count calendar months and years. Rounding ("now/d") is
 * refused: no shipped rule uses it and a fixed offset cannot express it.
 * Absolute forms: an ISO-8601 date or date-time ("2026-01-01", "2026-01-01T00:00:00Z",
 * offsets allowed, no offset = UTC), read with the TOML reader's date-time grammar.
 */
#include "rule/rule_int.h"

#include "base/err.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int64_t unit_ms(char u)
{
    switch (u) {
    case 's': return 1000;
    case 'm': return 60 * 1000;
    case 'h':
    case 'H': return 3600 * 1000;
    case 'd': return 86400 * 1000;
    case 'w': return 7 * 86400 * (int64_t)1000;
    case 'M': return 30 * 86400 * (int64_t)1000;
    case 'y': return 365 * 86400 * (int64_t)1000;
    default: return 0;
    }
}

/* N followed by a unit at *p; advances *p. */
static bool read_amount(const char **p, int64_t *ms, const char *units)
{
    const char *s = *p;
    int64_t n = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        if (n > 100000000)
            return false;
        n = n * 10 + (*s++ - '0');
    }
    if (!*s || !strchr(units, *s))
        return false;
    *ms = n * unit_ms(*s);
    *p = s + 1;
    return true;
}

static int parse_absolute(const char *s, int64_t *ms, kad_err *err)
{
    size_t n = strlen(s);
    if (n == 0 || n > 40 || strspn(s, "0123456789-:.TtZz+ ") != n)
        return kx_err_setf(err, KAD_EINVAL,
                           "invalid date '%s': expected now-N<unit> or an "
                           "ISO-8601 time",
                           s);
    char doc[64];
    snprintf(doc, sizeof doc, "x = %s", s);
    kx_arena a;
    kx_arena_init(&a, 512, 0);
    const struct toml_value *root = toml_parse(&a, doc, strlen(doc), "", NULL);
    const struct toml_value *v = toml_get(root, "x");
    int rc = KAD_OK;
    if (!v ||
        (v->type != TOML_DATETIME && v->type != TOML_DATETIME_LOCAL && v->type != TOML_DATE_LOCAL))
        rc = kx_err_setf(err, KAD_EINVAL,
                         "invalid date '%s': expected now-N<unit> or an "
                         "ISO-8601 time",
                         s);
    else
        *ms = toml_datetime_epoch_ms(v);
    kx_arena_fini(&a);
    return rc;
}

int rule_parse_datemath(const char *s, int64_t *ms, bool *absolute, kad_err *err)
{
    if (strncmp(s, "now", 3) != 0) {
        *absolute = true;
        return parse_absolute(s, ms, err);
    }
    *absolute = false;
    const char *p = s + 3;
    int64_t total = 0;
    while (*p) {
        if (*p == '/')
            return kx_err_setf(err, KAD_EINVAL,
                               "invalid date math '%s': rounding ('/') is not supported", s);
        if (*p != '+' && *p != '-')
            return kx_err_setf(err, KAD_EINVAL,
                               "invalid date math '%s': expected '+' or '-' after 'now'", s);
        int sign = *p++ == '-' ? -1 : 1;
        int64_t amount;
        if (!read_amount(&p, &amount, "smhHdwMy"))
            return kx_err_setf(err, KAD_EINVAL,
                               "invalid date math '%s': expected a number and a unit "
                               "(s, m, h, d, w, M, y)",
                               s);
        total += sign * amount;
    }
    *ms = total;
    return KAD_OK;
}

int rule_parse_duration(const char *s, int64_t *ms, kad_err *err)
{
    const char *p = s;
    int64_t v;
    if (!read_amount(&p, &v, "smhd") || *p || v <= 0)
        return kx_err_setf(err, KAD_EINVAL,
                           "invalid duration '%s': expected a positive number and a unit "
                           "(s, m, h, d), e.g. 5m",
                           s);
    *ms = v;
    return KAD_OK;
}

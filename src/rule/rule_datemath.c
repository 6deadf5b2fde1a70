/*
 * rule_datemath.c - Elastic date math as rules use it (`from`, `to`, `history_window_start`)
 * and schedule durations (`interval`).
 *
 * The grammar is Kibana's @kbn/datemath (the parser that evaluates a rule's times at each
 * execution), which is also what Elasticsearch's range queries accept:
 *
 *   expr   := "now" math | anchor [ "||" math ]
 *   anchor := an ISO-8601 date or date-time (strict_date_optional_time: fraction and zone
 *             optional, no zone = UTC) | epoch milliseconds (digits only)
 *   math   := { ("+" | "-") [N] unit | "/" unit }      N defaults to 1
 *   unit   := y M w d h H m s
 *
 * Evaluation (rule_datemath_eval) is exact and in UTC: months and years are calendar
 * arithmetic with the day clamped to the month's end (moment's add), "/unit" rounds down to
 * the start of the unit (weeks start on Sunday, moment's default "en" locale).
 *
 * rule_parse_datemath gives the fixed form the streaming engine needs (a look-back length):
 * there a month is 30 days, a year 365 days and rounding adds nothing; the exact range of one
 * execution comes from rule_exec_window.
 */
#include "rule/rule_int.h"

#include "base/err.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS ((int64_t)86400000)

static int64_t unit_ms(char u)
{
    switch (u) {
    case 's': return 1000;
    case 'm': return 60 * 1000;
    case 'h':
    case 'H': return 3600 * 1000;
    case 'd': return DAY_MS;
    case 'w': return 7 * DAY_MS;
    case 'M': return 30 * DAY_MS;
    case 'y': return 365 * DAY_MS;
    default: return 0;
    }
}

/* One step of the math part. */
struct dm_op {
    char op; /* '+', '-' or '/' */
    char unit;
    int64_t n;
};

#define DM_MAX_OPS 16

struct dm {
    bool is_now;
    int64_t anchor_ms; /* when !is_now */
    struct dm_op ops[DM_MAX_OPS];
    size_t nops;
};

static const char EXPECT[] = "expected now-N<unit>, an ISO-8601 time or epoch milliseconds";

static bool parse_anchor(const char *s, size_t n, int64_t *ms)
{
    if (ev_time_parse(s, n, ms))
        return true;
    if (n == 0 || n > 15)
        return false; /* epoch ms: up to year ~33658 */
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ms = v;
    return true;
}

static int parse_math(const char *s, const char *p, struct dm *d, kad_err *err)
{
    while (*p) {
        if (*p != '+' && *p != '-' && *p != '/')
            return kx_err_setf(err, KAD_EINVAL,
                               "invalid date math '%s': expected '+', '-' or '/' at '%s'", s, p);
        if (d->nops == DM_MAX_OPS)
            return kx_err_setf(err, KAD_EINVAL, "invalid date math '%s': more than %d steps", s,
                               DM_MAX_OPS);
        struct dm_op *o = &d->ops[d->nops++];
        o->op = *p++;
        o->n = 1;
        if (o->op != '/' && *p >= '0' && *p <= '9') {
            int64_t v = 0;
            while (*p >= '0' && *p <= '9') {
                if (v > 100000000)
                    return kx_err_setf(err, KAD_EINVAL, "invalid date math '%s': number too large",
                                       s);
                v = v * 10 + (*p++ - '0');
            }
            o->n = v;
        }
        if (!*p || !unit_ms(*p))
            return kx_err_setf(err, KAD_EINVAL,
                               "invalid date math '%s': expected a unit (y, M, w, d, h, m, s) "
                               "after '%c'",
                               s, o->op);
        o->unit = *p++;
    }
    return KAD_OK;
}

static int dm_parse(const char *s, struct dm *d, kad_err *err)
{
    memset(d, 0, sizeof(*d));
    if (strncmp(s, "now", 3) == 0) {
        d->is_now = true;
        return parse_math(s, s + 3, d, err);
    }
    const char *bar = strstr(s, "||");
    size_t n = bar ? (size_t)(bar - s) : strlen(s);
    if (!parse_anchor(s, n, &d->anchor_ms))
        return kx_err_setf(err, KAD_EINVAL, "invalid date '%s': %s", s, EXPECT);
    return bar ? parse_math(s, bar + 2, d, err) : KAD_OK;
}

/* ---- exact evaluation ------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int64_t add_months(int64_t t, int64_t months)
{
    int64_t days = floor_div(t, DAY_MS), rem = t - days * DAY_MS;
    int64_t y;
    unsigned m, d;
    ev_civil_from_days(days, &y, &m, &d);
    int64_t mi = y * 12 + (m - 1) + months;
    y = floor_div(mi, 12);
    m = (unsigned)(mi - y * 12) + 1;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned last = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        last = 29;
    if (d > last)
        d = last;
    return ev_days_from_civil(y, m, d) * DAY_MS + rem;
}

static int64_t round_down(int64_t t, char unit)
{
    int64_t days = floor_div(t, DAY_MS);
    int64_t y;
    unsigned m, d;
    switch (unit) {
    case 'w': /* 1970-01-01 was a Thursday: Sunday-based weekday = (days + 4) mod 7 */
        return (days - (((days + 4) % 7 + 7) % 7)) * DAY_MS;
    case 'M':
    case 'y':
        ev_civil_from_days(days, &y, &m, &d);
        return ev_days_from_civil(y, unit == 'y' ? 1 : m, 1) * DAY_MS;
    default: return floor_div(t, unit_ms(unit)) * unit_ms(unit);
    }
}

int rule_datemath_eval(const char *s, int64_t now_ms, int64_t *out, kad_err *err)
{
    struct dm d;
    int rc = dm_parse(s, &d, err);
    if (rc != KAD_OK)
        return rc;
    int64_t t = d.is_now ? now_ms : d.anchor_ms;
    for (size_t i = 0; i < d.nops; i++) {
        const struct dm_op *o = &d.ops[i];
        int64_t sign = o->op == '-' ? -1 : 1;
        if (o->op == '/')
            t = round_down(t, o->unit);
        else if (o->unit == 'M' || o->unit == 'y')
            t = add_months(t, sign * o->n * (o->unit == 'y' ? 12 : 1));
        else
            t += sign * o->n * unit_ms(o->unit);
    }
    *out = t;
    return KAD_OK;
}

/* ---- fixed form ------------------------------------------------------------------------------ */

int rule_datemath_info(const char *s, int64_t *ms, bool *absolute, bool *exact, kad_err *err)
{
    struct dm d;
    int rc = dm_parse(s, &d, err);
    if (rc != KAD_OK)
        return rc;
    *absolute = !d.is_now;
    *exact = true;
    int64_t total = 0;
    for (size_t i = 0; i < d.nops; i++) {
        const struct dm_op *o = &d.ops[i];
        if (o->op == '/' || o->unit == 'M' || o->unit == 'y')
            *exact = false;
        if (o->op != '/')
            total += (o->op == '-' ? -1 : 1) * o->n * unit_ms(o->unit);
    }
    *ms = d.is_now ? total : d.anchor_ms + total;
    return KAD_OK;
}

int rule_parse_datemath(const char *s, int64_t *ms, bool *absolute, kad_err *err)
{
    bool exact;
    return rule_datemath_info(s, ms, absolute, &exact, err);
}

/* ---- one execution --------------------------------------------------------------------------- */

int rule_exec_window(const struct rule *r, int64_t now_ms, struct rule_window *w, kad_err *err)
{
    w->from_ms = w->to_ms = now_ms;
    w->history_ms = INT64_MIN;
    w->history_late = false;
    kad_err e;
    kad_err_clear(&e);
    const char *id = r->name ? r->name : r->rule_id ? r->rule_id : "?";
    /* a rule built in code (tests, tools) may carry only the numeric forms */
    if (!r->from)
        w->from_ms = r->from_abs_ms != INT64_MIN && r->from_abs_ms != 0 ? r->from_abs_ms
                                                                        : now_ms - r->from_ms;
    else if (rule_datemath_eval(r->from, now_ms, &w->from_ms, &e) != KAD_OK)
        return kx_err_atlc(err, KAD_ERULE, r->path, r->from_line, r->from_col, -1,
                           "rule '%s': from: %s", id, e.msg);
    if (r->to && rule_datemath_eval(r->to, now_ms, &w->to_ms, &e) != KAD_OK)
        return kx_err_atlc(err, KAD_ERULE, r->path, r->to_line, r->to_col, -1, "rule '%s': to: %s",
                           id, e.msg);
    if (r->type != RULE_NEW_TERMS)
        return KAD_OK;
    int64_t h_now;
    if (!r->history_window_start) {
        if (r->history_window_abs_ms != INT64_MIN) {
            w->history_ms = h_now = r->history_window_abs_ms;
        } else {
            w->history_ms = w->to_ms - r->history_window_ms;
            h_now = now_ms - r->history_window_ms;
        }
    } else {
        /* Kibana parses the history start relative to the end of the range being evaluated */
        if (rule_datemath_eval(r->history_window_start, w->to_ms, &w->history_ms, &e) != KAD_OK)
            return kx_err_atlc(err, KAD_ERULE, r->path, r->hws_line, r->hws_col, -1,
                               "rule '%s': new_terms.history_window_start: Failed to parse "
                               "'historyWindowStart': %s",
                               id, e.msg);
        h_now = w->history_ms;
        if (rule_datemath_eval(r->history_window_start, now_ms, &h_now, NULL) != KAD_OK)
            h_now = w->history_ms;
    }
    /* Kibana's validateHistoryWindowStart, run at every execution: both times against now */
    if (h_now >= w->from_ms) {
        w->history_late = true;
        char hb[32], fb[32];
        ev_time_fmt_ms(h_now, hb);
        ev_time_fmt_ms(w->from_ms, fb);
        return kx_err_atlc(err, KAD_ERULE, r->path, r->hws_line, r->hws_col, -1,
                           "rule '%s': History window size is smaller than rule interval + "
                           "additional lookback, 'historyWindowStart' must be earlier than "
                           "'from' (%s is not earlier than %s)",
                           id, hb, fb);
    }
    return KAD_OK;
}

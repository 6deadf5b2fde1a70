/*
 * test_duration.c - kadet's one duration grammar (src/rule/rule_duration.c), with every form
 * each caller accepts and refuses, pinned before the two parsers became one:
 *
 *   option form (rule_parse_span, kad_duration_parse): one or more <number><unit> terms, units
 *     ms s m h d w, zero allowed. Callers: state prune --older-than, scan --future-tolerance,
 *     --sink-timeout, --rotate-grace (0..1 h), serve's sink_timeout and commit_interval, the
 *     console's bucket parameter.
 *   schedule form (rule_parse_duration, kad_interval_parse): one positive term, units s m h d,
 *     at most ten digits. Callers: a rule's interval, preview --interval.
 *
 * Ranges a caller adds (e.g. --rotate-grace at most 1 h) are the caller's and tested with it.
 */
#include "test.h"

#include "base/err.h"
#include "kad.h"
#include "rule/rule.h"

#include <stdio.h>
#include <string.h>

#define NO (-1) /* refused */

static const struct {
    const char *s;
    int64_t option;   /* ms, or NO */
    int64_t schedule; /* ms, or NO */
} cases[] = {
    {"10d", 864000000, 864000000},
    {"36h", 129600000, 129600000},
    {"90m", 5400000, 5400000},
    {"30s", 30000, 30000},
    {"5m", 300000, 300000},
    {"2d", 172800000, 172800000},
    {"05m", 300000, 300000},
    {"1000000000s", 1000000000000LL, 1000000000000LL}, /* ten digits */
    {"1000000009s", 1000000009000LL, 1000000009000LL},
    {"10000000000s", 10000000000000LL, NO}, /* eleven digits: not a schedule */
    {"500ms", 500, NO},
    {"2w", 1209600000, NO},
    {"1d12h", 129600000, NO},
    {"1m30s", 90000, NO},
    {"1h1h", 7200000, NO},
    {"1ms500ms", 501, NO},
    {"0s", 0, NO},
    {"0ms", 0, NO},
    {"0m", 0, NO},
    {"15250284452w", 15250284452LL * 604800000LL, NO}, /* the largest whole weeks in int64 */
    {"15250284453w", NO, NO},
    {"99999999999999999999s", NO, NO},
    {"9223372036854775807ms", NO, NO},
    {"", NO, NO},
    {"5", NO, NO},
    {"5mm", NO, NO},
    {"5M", NO, NO},
    {"5H", NO, NO},
    {"5S", NO, NO},
    {"5y", NO, NO},
    {"-5m", NO, NO},
    {"+5m", NO, NO},
    {" 5m", NO, NO},
    {"5m ", NO, NO},
    {"5 m", NO, NO},
    {"1.5h", NO, NO},
    {"m", NO, NO},
    {"1d 12h", NO, NO},
    {"1d12", NO, NO},
    {"now-5m", NO, NO},
};

/* One form of one case: the parser's answer against the expected ms (or NO). */
static void check(const char *form, const char *s, int rc, int64_t ms, const char *msg,
                  int64_t want, int api_rc, int64_t api_ms)
{
    if (want == NO && (rc != KAD_EINVAL || !strstr(msg, "invalid duration '")))
        t_fail(__FILE__, __LINE__, "%s '%s': accepted (%lld ms) or wrong error '%s'", form, s,
               (long long)ms, msg);
    if (want != NO && (rc != KAD_OK || ms != want))
        t_fail(__FILE__, __LINE__, "%s '%s': rc %d, %lld ms, expected %lld ms (%s)", form, s, rc,
               (long long)ms, (long long)want, msg);
    if (api_rc != rc || (rc == KAD_OK && api_ms != ms))
        t_fail(__FILE__, __LINE__, "%s '%s': the public API answers otherwise", form, s);
}

TEST(duration_grammar_forms)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].s;
        int64_t ms = -7, ms2 = -7;
        kad_err e;
        kad_err_clear(&e);
        int rc = rule_parse_span(s, &ms, &e);
        int rc2 = kad_duration_parse(s, &ms2, NULL);
        check("option form", s, rc, ms, e.msg, cases[i].option, rc2, ms2);

        ms = ms2 = -7;
        kad_err_clear(&e);
        rc = rule_parse_duration(s, &ms, &e);
        rc2 = kad_interval_parse(s, &ms2, NULL);
        check("schedule form", s, rc, ms, e.msg, cases[i].schedule, rc2, ms2);
    }
}

/* The error texts, which the CLI prints as they are. */
TEST(duration_grammar_messages)
{
    int64_t ms;
    kad_err e;
    kad_err_clear(&e);
    ASSERT_EQ(rule_parse_span("10x", &ms, &e), KAD_EINVAL);
    ASSERT_STR_EQ(e.msg, "invalid duration '10x': expected numbers with units (ms, s, m, h, d, w), "
                        "e.g. 10d or 1d12h");
    kad_err_clear(&e);
    ASSERT_EQ(rule_parse_duration("0m", &ms, &e), KAD_EINVAL);
    ASSERT_STR_EQ(e.msg, "invalid duration '0m': expected a positive number and a unit (s, m, h, "
                        "d), e.g. 5m");
}

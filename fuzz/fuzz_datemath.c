/*
 * fuzz_datemath.c - rule time fields (from, to, history_window_start) as Elastic's date math:
 * rule_parse_datemath and rule_datemath_eval on arbitrary text.
 *
 * Checks beyond "no crash, no leak": both accept the same texts; an error has a message; the
 * evaluation is deterministic and does not depend on `now` for an absolute date; a relative
 * expression without rounding moves with `now` exactly.
 */
#include "fuzz.h"

#include "rule/rule_int.h"

#include <stdlib.h>
#include <string.h>

FUZZ_TARGET(datemath)
{
    if (size > 256)
        return 0;
    char s[257];
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms = 0, a = 0, b = 0, c = 0;
    bool absolute = false, exact = false;
    kad_err e1, e2, e3;
    kad_err_clear(&e1);
    kad_err_clear(&e2);
    kad_err_clear(&e3);
    int p = rule_datemath_info(s, &ms, &absolute, &exact, &e1);
    const int64_t now = 1772359200000; /* 2026-03-01T10:00:00Z */
    int r1 = rule_datemath_eval(s, now, &a, &e2);
    int r2 = rule_datemath_eval(s, now + 86400000, &b, &e3);
    if ((p == KAD_OK) != (r1 == KAD_OK) || r1 != r2)
        abort(); /* the parser and the evaluator disagree, or `now` changed acceptance */
    if (p != KAD_OK && (!e1.msg[0] || !e2.msg[0]))
        abort();
    if (r1 == KAD_OK) {
        if (rule_datemath_eval(s, now, &c, NULL) != KAD_OK || c != a)
            abort(); /* not deterministic */
        if (absolute && exact && a != b)
            abort(); /* an absolute date moved with now */
        if (!absolute && exact && b - a != 86400000)
            abort(); /* a relative expression without rounding moved otherwise than now */
    }
    return 0;
}

/*
 * event_time.c - RFC 3339 date-times to epoch milliseconds and back, without the C library's
 * time zone machinery (timegm is not C11/POSIX and localtime state is global). Civil-date
 * arithmetic is Howard Hinnant's days_from_civil algorithm (public domain formulas).
 */
#include "event/event.h"

int64_t ev_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void ev_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, size_t n, size_t at, size_t cnt, int *out)
{
    if (at + cnt > n)
        return false;
    int v = 0;
    for (size_t i = at; i < at + cnt; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * Elasticsearch's `strict_date_optional_time`: yyyy[-MM[-dd[THH[:mm[:ss[.fraction]]]]]] with an
 * optional zone Z, +HH:mm, +HHmm or +HH (no zone = UTC). Fractions below 1 ms are truncated.
 * A space is accepted in place of the T (RFC 3339 allows it).
 */
bool ev_time_parse(const char *s, size_t n, int64_t *ms)
{
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
    if (!digits(s, n, 0, 4, &y))
        return false;
    size_t i = 4;
    if (i < n && s[i] == '-') {
        if (!digits(s, n, i + 1, 2, &mo))
            return false;
        i += 3;
        if (i < n && s[i] == '-') {
            if (!digits(s, n, i + 1, 2, &d))
                return false;
            i += 3;
            if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
                if (!digits(s, n, i + 1, 2, &h))
                    return false;
                i += 3;
                if (i < n && s[i] == ':') {
                    if (!digits(s, n, i + 1, 2, &mi))
                        return false;
                    i += 3;
                    if (i < n && s[i] == ':') {
                        if (!digits(s, n, i + 1, 2, &sec))
                            return false;
                        i += 3;
                    }
                }
            }
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    int frac = 0, scale = 1000;
    if (i < n && s[i] == '.' && i >= 19) {
        i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
            i++;
        }
        if (i == start)
            return false;
    }
    int64_t off = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-') && i > 10) {
        int oh, om = 0;
        if (!digits(s, n, i + 1, 2, &oh))
            return false;
        size_t j = i + 3;
        if (j < n && s[j] == ':') {
            if (!digits(s, n, j + 1, 2, &om))
                return false;
            j += 3;
        } else if (j < n) {
            if (!digits(s, n, j, 2, &om))
                return false;
            j += 2;
        }
        if (oh > 23 || om > 59)
            return false;
        off = (int64_t)(oh * 60 + om) * 60000;
        if (s[i] == '-')
            off = -off;
        i = j;
    }
    if (i != n)
        return false;
    int64_t days = ev_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac - off;
    return true;
}

static char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Hand-written rather than snprintf: this runs for every decoded event. */
static size_t fmt(int64_t ms, char buf[32], bool millis)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    unsigned m, d;
    ev_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return 0;
    char *p = buf;
    p = put2(p, (unsigned)(y / 100));
    p = put2(p, (unsigned)(y % 100));
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, (unsigned)(rem / 3600000));
    *p++ = ':';
    p = put2(p, (unsigned)(rem / 60000 % 60));
    *p++ = ':';
    p = put2(p, (unsigned)(rem / 1000 % 60));
    if (millis) {
        unsigned f = (unsigned)(rem % 1000);
        *p++ = '.';
        *p++ = (char)('0' + f / 100);
        p = put2(p, f % 100);
    }
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - buf);
}

size_t ev_time_fmt_ms(int64_t ms, char buf[32]) { return fmt(ms, buf, true); }
size_t ev_time_fmt_s(int64_t ms, char buf[32]) { return fmt(ms, buf, false); }

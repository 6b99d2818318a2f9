/* calendar.c - proleptic Gregorian dates: parsing ISO-8601 and YYYY-MM-DD, formatting them. */
#include "core/calendar.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t v_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* Reads exactly n digits at s[*i]. */
static int digits(struct str s, size_t *i, size_t n, int *out)
{
    int v = 0;
    if (*i + n > s.n)
        return -1;
    for (size_t k = 0; k < n; k++) {
        char c = s.p[*i + k];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return 0;
}

static int expect(struct str s, size_t *i, char c)
{
    if (*i >= s.n || s.p[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

int v_parse_date(struct str s, int64_t *days)
{
    size_t i = 0;
    int y, mo, d;
    if (digits(s, &i, 4, &y) || expect(s, &i, '-') || digits(s, &i, 2, &mo) || expect(s, &i, '-') ||
        digits(s, &i, 2, &d) || i != s.n)
        return -1;
    /* 1970 onwards: no analytics predates it, and a window's comparison days before it stay
     * within the dates Postgres can store (year 0000 is not one of them) */
    if (y < V_DATE_MIN_YEAR || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    *days = v_days_from_civil(y, (unsigned)mo, (unsigned)d);
    return 0;
}

void v_format_pg_timestamp(int64_t ms, char *out)
{
    v_format_iso(ms, out);
    out[23] = '\0'; /* no 'Z': timestamp(3) columns hold UTC wall time without a zone */
}

void v_format_date(int64_t days, char *out)
{
    char iso[V_ISO_LEN];
    v_format_iso(days * 86400000, iso);
    memcpy(out, iso, 10);
    out[10] = '\0';
}

int v_parse_iso8601(struct str s, int64_t *out_ms)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec = 0, ms = 0;
    if (digits(s, &i, 4, &y) || expect(s, &i, '-') || digits(s, &i, 2, &mo) || expect(s, &i, '-') ||
        digits(s, &i, 2, &d))
        return -1;
    if (i >= s.n || (s.p[i] != 'T' && s.p[i] != 't'))
        return -1;
    i++;
    if (digits(s, &i, 2, &h) || expect(s, &i, ':') || digits(s, &i, 2, &mi))
        return -1;
    if (i < s.n && s.p[i] == ':') {
        i++;
        if (digits(s, &i, 2, &sec))
            return -1;
        if (i < s.n && s.p[i] == '.') {
            i++;
            size_t fd = 0;
            while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
                if (fd < 3)
                    ms = ms * 10 + (s.p[i] - '0');
                fd++;
                i++;
            }
            if (fd == 0 || fd > 9)
                return -1;
            for (size_t k = fd; k < 3; k++)
                ms *= 10;
        }
    }
    int off_min = 0;
    if (i < s.n && (s.p[i] == 'Z' || s.p[i] == 'z')) {
        i++;
    } else if (i < s.n && (s.p[i] == '+' || s.p[i] == '-')) {
        int sign = s.p[i] == '-' ? -1 : 1, oh, om;
        i++;
        if (digits(s, &i, 2, &oh))
            return -1;
        if (i < s.n && s.p[i] == ':')
            i++;
        if (digits(s, &i, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1; /* an offset is required: a bare local time is ambiguous */
    }
    if (i != s.n)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    int64_t days = v_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}

void v_format_iso(int64_t ms, char out[V_ISO_LEN])
{
    /* floor division: a time before 1970 keeps a positive millisecond part */
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int milli = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    size_t n = 0;
    /* %04Y: years before 1000 keep four digits, as ISO 8601 writes them */
    if (gmtime_r(&t, &tm))
        n = strftime(out, V_ISO_LEN, "%04Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(out + n, V_ISO_LEN - n, ".%03dZ", milli);
}

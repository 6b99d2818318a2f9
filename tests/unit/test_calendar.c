/* test_calendar.c - v_format_iso (gmtime_r + strftime) writes exactly what the hand-written
 * calendar arithmetic it replaced wrote, over many instants: before 1970 and 2000, leap days,
 * ends of years, every millisecond part; and the dates and timestamps built on it. */
#include <stdio.h>
#include <string.h>

#include "core/calendar.h"
#include "t.h"

/* The former v_format_iso, kept here as the reference. */
static void old_format_iso(int64_t ms, char out[V_ISO_LEN])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int milli = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, V_ISO_LEN, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d, (int)(rem / 3600),
             (int)(rem % 3600 / 60), (int)(rem % 60), milli);
}

static int g_mismatches;

static void same(int64_t ms)
{
    char got[V_ISO_LEN], want[V_ISO_LEN];
    old_format_iso(ms, want);
    v_format_iso(ms, got);
    if (strcmp(got, want) != 0) {
        if (g_mismatches++ < 10)
            fprintf(stderr, "ms %lld: got %s, want %s\n", (long long)ms, got, want);
    }
}

static void test_iso_matches_old(void)
{
    static const int64_t edges[] = {
        0,
        -1,
        1,
        999,
        -999,
        -1000,
        -1001,
        86399999,
        -86400000,
        946684799999LL,    /* 1999-12-31T23:59:59.999Z */
        946684800000LL,    /* 2000-01-01 */
        951782400000LL,    /* 2000-02-29 (leap, divisible by 400) */
        4107542400000LL,   /* 2100-02-28 (no leap day) */
        1709164800123LL,   /* 2024-02-29T00:00:00.123Z */
        -2208988800000LL,  /* 1900-01-01 */
        -62135596800000LL, /* 0001-01-01 */
        253402300799999LL, /* 9999-12-31T23:59:59.999Z */
        -30610224000001LL, /* 999-12-31T23:59:59.999Z: a three-digit year */
    };
    for (size_t i = 0; i < ARRAY_LEN(edges); i++)
        same(edges[i]);
    /* every day 1890..2110 at a moving time of day, and the last millisecond before each midnight */
    int64_t start = v_days_from_civil(1890, 1, 1), end = v_days_from_civil(2110, 12, 31);
    for (int64_t d = start; d <= end; d++) {
        same(d * 86400000 + (d * 7919 % 86400000 + 86400000) % 86400000);
        same(d * 86400000 - 1);
    }
    /* years 1..9999, every 13 days and an odd millisecond */
    for (int64_t d = v_days_from_civil(1, 1, 1); d <= v_days_from_civil(9999, 12, 31); d += 13)
        same(d * 86400000 + 86399000 + (d & 1023) % 1000);
    /* ends of years and leap days across four centuries */
    for (int y = 1896; y <= 2304; y++) {
        same(v_days_from_civil(y, 12, 31) * 86400000 + 86399999);
        same(v_days_from_civil(y, 2, 29) * 86400000 + 43200500);
        same(v_days_from_civil(y, 3, 1) * 86400000);
    }
    CHECK_INT(g_mismatches, 0);
}

static void test_dates(void)
{
    char out[V_ISO_LEN];
    v_format_iso(1709164800123LL, out);
    CHECK_STR(out, "2024-02-29T00:00:00.123Z");
    v_format_iso(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
    v_format_pg_timestamp(1709164800123LL, out);
    CHECK_STR(out, "2024-02-29T00:00:00.123");
    char day[V_DATE_LEN];
    v_format_date(v_days_from_civil(2000, 2, 29), day);
    CHECK_STR(day, "2000-02-29");
    v_format_date(v_days_from_civil(1999, 12, 31), day);
    CHECK_STR(day, "1999-12-31");
    int64_t ms = 0;
    CHECK_INT(v_parse_iso8601(STRLIT("2024-02-29T00:00:00.123Z"), &ms), 0);
    CHECK(ms == 1709164800123LL);
}

int main(void)
{
    test_iso_matches_old();
    test_dates();
    return t_done("test_calendar");
}

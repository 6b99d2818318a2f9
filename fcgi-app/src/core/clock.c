/* clock.c - wall and monotonic time. */
#include "core/clock.h"

#include <stdlib.h>
#include <sys/time.h>

#include "core/calendar.h"

#define MS_PER_DAY 86400000LL

int64_t clock_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t clock_today(void)
{
    return clock_wall_ms() / MS_PER_DAY;
}

void clock_set_site_zone(const char *zone)
{
    (void)setenv("TZ", zone, 1);
    tzset();
}

int64_t clock_site_today(void)
{
    time_t t = (time_t)(clock_wall_ms() / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return clock_today();
    return v_days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

struct timespec clock_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts = clock_mono_now();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double clock_since_ms(const struct timespec *start)
{
    struct timespec now = clock_mono_now();
    return (double)(now.tv_sec - start->tv_sec) * 1000.0 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

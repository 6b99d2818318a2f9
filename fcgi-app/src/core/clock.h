/* clock.h - the current time and elapsed time, read one way everywhere. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall time: milliseconds since 1970-01-01 UTC (for stored timestamps, UUIDv7, log lines). */
int64_t clock_wall_ms(void);
/* Wall time: days since 1970-01-01 UTC (today's day number). */
int64_t clock_today(void);
/* Makes zone (an IANA name, checked by config_load) this process's local time zone: TZ, which
 * its children (lighttpd) inherit too. Called once at start, before any other thread exists. */
void clock_set_site_zone(const char *zone);
/* Today's date in the local zone, the site's once clock_set_site_zone ran, as days
 * since 1970-01-01: the day rollups, windows and lags count from. */
int64_t clock_site_today(void);
/* Monotonic time in milliseconds (deadlines, intervals; unaffected by clock changes). */
int64_t clock_mono_ms(void);
/* A monotonic start point for clock_since_ms. */
struct timespec clock_mono_now(void);
/* Milliseconds (with fractions) from start to now, monotonic. */
double clock_since_ms(const struct timespec *start);

#endif

/* clock.h - the current time and elapsed time, read one way everywhere. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall time: milliseconds since 1970-01-01 UTC (for stored timestamps, UUIDv7, log lines). */
int64_t clock_wall_ms(void);
/* Wall time: days since 1970-01-01 UTC (today's day number). */
int64_t clock_today(void);
/* Monotonic time in milliseconds (deadlines, intervals; unaffected by clock changes). */
int64_t clock_mono_ms(void);
/* A monotonic start point for clock_since_ms. */
struct timespec clock_mono_now(void);
/* Milliseconds (with fractions) from start to now, monotonic. */
double clock_since_ms(const struct timespec *start);

#endif

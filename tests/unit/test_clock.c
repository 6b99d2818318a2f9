/* test_clock.c - wall time agrees with time(2), today is its day number, monotonic time moves on. */
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "t.h"

static void test_wall(void)
{
    time_t before = time(NULL);
    int64_t ms = clock_wall_ms();
    time_t after = time(NULL);
    CHECK(ms / 1000 >= (int64_t)before && ms / 1000 <= (int64_t)after);
    int64_t today = clock_today();
    CHECK(today == (int64_t)before / 86400 || today == (int64_t)after / 86400);
}

static void test_mono(void)
{
    struct timespec start = clock_mono_now();
    int64_t m0 = clock_mono_ms();
    struct timespec nap = {0, 30 * 1000 * 1000};
    nanosleep(&nap, NULL);
    double since = clock_since_ms(&start);
    int64_t m1 = clock_mono_ms();
    CHECK(since >= 30.0 && since < 5000.0);
    CHECK(m1 - m0 >= 30 && m1 - m0 < 5000);
    CHECK(m0 >= (int64_t)start.tv_sec * 1000);
}

/* The site's today is the day of the zone's wall clock: +14 h in Kiritimati, -11 h in Pago Pago
 * (neither has daylight saving), the UTC day in UTC. */
static void test_site_today(void)
{
    static const struct {
        const char *zone;
        int64_t offset_s;
    } zones[] = {{"Pacific/Kiritimati", 14 * 3600}, {"Pacific/Pago_Pago", -11 * 3600}, {"UTC", 0}};
    for (size_t i = 0; i < ARRAY_LEN(zones); i++) {
        clock_set_site_zone(zones[i].zone);
        time_t before = time(NULL);
        int64_t today = clock_site_today();
        time_t after = time(NULL);
        int64_t lo = ((int64_t)before + zones[i].offset_s) / 86400;
        int64_t hi = ((int64_t)after + zones[i].offset_s) / 86400;
        CHECK(today == lo || today == hi);
    }
}

int main(void)
{
    test_wall();
    test_site_today();
    test_mono();
    return t_done("test_clock");
}

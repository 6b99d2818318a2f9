/* test_ratelimit.c - fixed windows per (class, IP) in a table shared by every process that maps it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"
#include "hash.h"
#include "ratelimit.h"
#include "t.h"

/* The start of a window: every test time is T0 + an offset. */
#define T0 ((time_t)RATELIMIT_WINDOW_SECONDS * 28333334)

static char table_path[] = "/tmp/test-ratelimit-XXXXXX";

static struct rl_decision hit(enum rl_class cls, const char *ip, long limit, time_t now)
{
    struct rl_decision d;
    memset(&d, 0xa5, sizeof(d));
    ratelimit_hit(cls, str_from_cstr(ip), limit, now, &d);
    return d;
}

static void test_counts_to_limit(void)
{
    const long limit = 5;
    for (long i = 1; i <= limit; i++) {
        struct rl_decision d = hit(RL_DEFAULT, "198.51.100.1", limit, T0 + 1);
        CHECK(d.allowed);
        CHECK_INT(d.limit, limit);
        CHECK_INT(d.remaining, limit - i);
    }
    /* request number limit+1 is the first refused, and every later one */
    for (int i = 0; i < 3; i++) {
        struct rl_decision d = hit(RL_DEFAULT, "198.51.100.1", limit, T0 + 2);
        CHECK(!d.allowed);
        CHECK_INT(d.remaining, 0);
        CHECK_INT(d.limit, limit);
    }
    /* the next window starts over */
    struct rl_decision d = hit(RL_DEFAULT, "198.51.100.1", limit, T0 + RATELIMIT_WINDOW_SECONDS);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, limit - 1);
    /* and the window after a gap too */
    d = hit(RL_DEFAULT, "198.51.100.1", limit, T0 + 10 * RATELIMIT_WINDOW_SECONDS + 30);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, limit - 1);

    /* limit 1: the second is refused */
    d = hit(RL_DELETE, "198.51.100.2", 1, T0);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 0);
    d = hit(RL_DELETE, "198.51.100.2", 1, T0);
    CHECK(!d.allowed);
}

static void test_reset_seconds(void)
{
    CHECK_INT(hit(RL_SUMMARY, "198.51.100.3", 100, T0).reset_s, RATELIMIT_WINDOW_SECONDS);
    CHECK_INT(hit(RL_SUMMARY, "198.51.100.3", 100, T0 + 1).reset_s, RATELIMIT_WINDOW_SECONDS - 1);
    CHECK_INT(hit(RL_SUMMARY, "198.51.100.3", 100, T0 + 10).reset_s, RATELIMIT_WINDOW_SECONDS - 10);
    CHECK_INT(hit(RL_SUMMARY, "198.51.100.3", 100, T0 + RATELIMIT_WINDOW_SECONDS - 1).reset_s, 1);
    /* refused answers carry it too (the 429's Retry-After) */
    CHECK_INT(hit(RL_SUMMARY, "198.51.100.4", 1, T0 + 15).reset_s, RATELIMIT_WINDOW_SECONDS - 15);
    struct rl_decision d = hit(RL_SUMMARY, "198.51.100.4", 1, T0 + 15);
    CHECK(!d.allowed);
    CHECK_INT(d.reset_s, RATELIMIT_WINDOW_SECONDS - 15);
    /* the last second of a window and the first of the next are different windows */
    d = hit(RL_SUMMARY, "198.51.100.5", 1, T0 + RATELIMIT_WINDOW_SECONDS - 1);
    CHECK(d.allowed);
    d = hit(RL_SUMMARY, "198.51.100.5", 1, T0 + RATELIMIT_WINDOW_SECONDS);
    CHECK(d.allowed);
    CHECK_INT(d.reset_s, RATELIMIT_WINDOW_SECONDS);
}

static void test_isolation(void)
{
    /* fill one (class, ip) */
    CHECK(hit(RL_EVENTS, "203.0.113.9", 2, T0).allowed);
    CHECK(hit(RL_EVENTS, "203.0.113.9", 2, T0).allowed);
    CHECK(!hit(RL_EVENTS, "203.0.113.9", 2, T0).allowed);
    /* another class, same IP */
    struct rl_decision d = hit(RL_CAPTURE, "203.0.113.9", 2, T0);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 1);
    /* same class, another IP (also a prefix and an extension of it) */
    d = hit(RL_EVENTS, "203.0.113.90", 2, T0);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 1);
    d = hit(RL_EVENTS, "203.0.113.", 2, T0);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 1);
    /* every class is its own count */
    for (int cls = 0; cls < RL_CLASS_COUNT; cls++) {
        d = hit((enum rl_class)cls, "2001:db8::1", 1, T0);
        CHECK(d.allowed);
    }
    for (int cls = 0; cls < RL_CLASS_COUNT; cls++)
        CHECK(!hit((enum rl_class)cls, "2001:db8::1", 1, T0).allowed);
}

static void test_unlimited(void)
{
    for (int i = 0; i < 1000; i++) {
        struct rl_decision d = hit(RL_EVENTS, "192.0.2.10", 0, T0);
        if (!d.allowed) {
            CHECK(d.allowed);
            break;
        }
    }
    struct rl_decision d = hit(RL_EVENTS, "192.0.2.10", 0, T0 + 5);
    CHECK(d.allowed);
    CHECK_INT(d.limit, 0);
    CHECK_INT(d.reset_s, RATELIMIT_WINDOW_SECONDS - 5);
    /* nothing was counted while the limit was off */
    d = hit(RL_EVENTS, "192.0.2.10", 3, T0 + 5);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 2);
}

/* The largest configurable limit counts like any other. */
static void test_max_limit(void)
{
    struct rl_decision d = hit(RL_DEFAULT, "192.0.2.11", RATELIMIT_PER_MINUTE_MAX, T0);
    CHECK(d.allowed);
    CHECK_INT(d.limit, RATELIMIT_PER_MINUTE_MAX);
    CHECK_INT(d.remaining, RATELIMIT_PER_MINUTE_MAX - 1);
}

/* Counts live in the file: closing and mapping it again keeps them. */
static void test_reopen_keeps_counts(void)
{
    CHECK(hit(RL_CAPTURE, "192.0.2.20", 3, T0).allowed);
    CHECK(hit(RL_CAPTURE, "192.0.2.20", 3, T0).allowed);
    ratelimit_close();
    CHECK_INT(ratelimit_open(table_path), 0);
    struct rl_decision d = hit(RL_CAPTURE, "192.0.2.20", 3, T0);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 0);
    CHECK(!hit(RL_CAPTURE, "192.0.2.20", 3, T0).allowed);
}

/* Without a table (not opened, or closed) nothing is counted and everything is allowed. */
static void test_no_table(void)
{
    ratelimit_close();
    ratelimit_close(); /* twice is harmless */
    for (int i = 0; i < 5; i++) {
        struct rl_decision d = hit(RL_EVENTS, "192.0.2.30", 1, T0);
        CHECK(d.allowed);
        CHECK_INT(d.remaining, 1);
    }
    errno = 0;
    CHECK_INT(ratelimit_open("/nonexistent-dir-for-test/ratelimit.shm"), -1);
    CHECK(errno != 0);
    CHECK(hit(RL_EVENTS, "192.0.2.30", 1, T0).allowed);
    CHECK_INT(ratelimit_open(table_path), 0);
}

/* A file too small to be a table (garbage, truncated) is initialised afresh. */
static void test_garbage_file(void)
{
    char path[] = "/tmp/test-ratelimit-garbage-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK_INT(write(fd, "garbage!garbage!", 16), 16);
    close(fd);
    ratelimit_close();
    CHECK_INT(ratelimit_open(path), 0);
    struct rl_decision d = hit(RL_EVENTS, "192.0.2.40", 2, T0);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 1);
    ratelimit_close();
    unlink(path);
    CHECK_INT(ratelimit_open(table_path), 0);
}

/* Runs `children` processes that each map the table and hit (RL_EVENTS, ip) `hits` times at once
 * (they start together when the parent closes the start pipe); returns the allowed total, or -1. */
static long hit_from_children(int children, int hits, long limit, const char *ip)
{
    int start[2], results[2];
    if (pipe(start) != 0 || pipe(results) != 0)
        return -1;
    int forked = 0;
    for (; forked < children; forked++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            close(start[1]);
            close(results[0]);
            char c;
            (void)!read(start[0], &c, 1); /* EOF: go */
            /* a responder maps the table itself */
            ratelimit_close();
            long allowed = ratelimit_open(table_path) == 0 ? 0 : -1000000;
            for (int k = 0; k < hits; k++) {
                struct rl_decision d;
                ratelimit_hit(RL_EVENTS, str_from_cstr(ip), limit, T0 + 7, &d);
                allowed += d.allowed;
            }
            ratelimit_close();
            _exit(write(results[1], &allowed, sizeof(allowed)) == (ssize_t)sizeof(allowed) ? 0 : 1);
        }
    }
    close(start[0]);
    close(start[1]);
    close(results[1]);
    long total = 0;
    int reported = 0;
    long one;
    while (read(results[0], &one, sizeof(one)) == (ssize_t)sizeof(one)) {
        total += one;
        reported++;
    }
    close(results[0]);
    bool clean = true;
    for (int i = 0; i < forked; i++) {
        int st = 0;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            clean = false;
    }
    return (forked == children && reported == children && clean) ? total : -1;
}

/* Several processes, one count: 4 x 50 hits against a limit of 150 allow exactly 150. */
static void test_shared_across_processes(void)
{
    CHECK_INT(hit_from_children(4, 50, 150, "192.0.2.77"), 150);
    /* the parent sees the same count */
    struct rl_decision d = hit(RL_EVENTS, "192.0.2.77", 150, T0 + 8);
    CHECK(!d.allowed);
    CHECK_INT(d.remaining, 0);

    /* contention: no hit is lost or double-counted under the shared lock */
    CHECK_INT(hit_from_children(8, 5000, 30000, "192.0.2.78"), 30000);
    d = hit(RL_EVENTS, "192.0.2.78", 40001, T0 + 9);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 0); /* 8 x 5000 counted, refused ones included, + this one */
}

static void ip_of(int i, char *out, size_t cap)
{
    snprintf(out, cap, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* Many more clients than slots in one window: nobody is refused wrongly (a crowded table fails
 * open), nothing crashes, and the next window reclaims the slots. */
static void test_crowded_table(void)
{
    const int clients = RATELIMIT_SLOTS * 2;
    const time_t now = T0 + 100 * RATELIMIT_WINDOW_SECONDS;
    char ip[32];
    int refused = 0;
    log_set_level(LOG_ERROR); /* the fail-open warning is expected here */
    for (int i = 0; i < clients; i++) {
        ip_of(i, ip, sizeof(ip));
        struct rl_decision d;
        ratelimit_hit(RL_DEFAULT, str_from_cstr(ip), 1, now, &d);
        if (!d.allowed || d.remaining != 0)
            refused++;
    }
    CHECK_INT(refused, 0);
    /* a new client in the crowded window is still allowed (uncounted) */
    struct rl_decision d = hit(RL_DEFAULT, "172.16.99.99", 5, now);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 4);
    log_set_level(LOG_INFO);

    /* next window: stale slots are reused and counting is exact again */
    const time_t next = now + RATELIMIT_WINDOW_SECONDS;
    for (int i = 0; i < 64; i++) {
        ip_of(i * 997, ip, sizeof(ip));
        ratelimit_hit(RL_DEFAULT, str_from_cstr(ip), 2, next, &d);
        CHECK(d.allowed && d.remaining == 1);
        ratelimit_hit(RL_DEFAULT, str_from_cstr(ip), 2, next, &d);
        CHECK(d.allowed && d.remaining == 0);
        ratelimit_hit(RL_DEFAULT, str_from_cstr(ip), 2, next, &d);
        CHECK(!d.allowed);
    }
}

int main(void)
{
    CHECK_INT(hash_init(), 0);
    int fd = mkstemp(table_path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    CHECK_INT(ratelimit_open(table_path), 0);

    test_counts_to_limit();
    test_reset_seconds();
    test_isolation();
    test_unlimited();
    test_max_limit();
    test_reopen_keeps_counts();
    test_no_table();
    test_garbage_file();
    test_shared_across_processes();
    test_crowded_table();

    ratelimit_close();
    unlink(table_path);
    return t_done("test_ratelimit");
}

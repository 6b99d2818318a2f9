/* test_ratelimit.c - fixed windows per (class, IP) in a table shared by every process that maps it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/log.h"
#include "core/hash.h"
#include "http/ratelimit.h"
#include "http/ratelimit_table.h"
#include "core/rundir.h"
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

/* Many more clients than slots in one window: nobody is refused wrongly (a crowded table evicts
 * its least-counted clients), nothing crashes, and the next window reclaims the slots. */
static void test_crowded_table(void)
{
    const int clients = RATELIMIT_SLOTS * 2;
    const time_t now = T0 + 100 * RATELIMIT_WINDOW_SECONDS;
    char ip[32];
    int refused = 0;
    log_set_level(LOG_ERROR); /* the crowding warning is expected here */
    for (int i = 0; i < clients; i++) {
        ip_of(i, ip, sizeof(ip));
        struct rl_decision d;
        ratelimit_hit(RL_DEFAULT, str_from_cstr(ip), 1, now, &d);
        if (!d.allowed || d.remaining != 0)
            refused++;
    }
    CHECK_INT(refused, 0);
    /* a new client in the crowded window is counted (it evicts someone) */
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

/* Counts the lines of the log (stderr) written while fn runs that contain needle (and not
 * without, when given). */
static int log_lines_during(void (*fn)(void), const char *needle, const char *without)
{
    char path[] = "/tmp/test-ratelimit-log-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    (void)dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    (void)dup2(saved, STDERR_FILENO);
    close(saved);
    int lines = 0;
    FILE *f = fdopen(fd, "r");
    if (f) {
        rewind(f);
        char line[LOG_LINE_MAX + 2];
        while (fgets(line, sizeof(line), f))
            lines += strstr(line, needle) != NULL && !(without && strstr(line, without));
        fclose(f);
    } else {
        close(fd);
    }
    unlink(path);
    return lines;
}

/* The home slot the table used before its hash had a key (crypto_generichash, no key, 16 bytes,
 * slot key[0] % RATELIMIT_SLOTS): anyone could compute it offline. */
static uint32_t unkeyed_home(enum rl_class cls, const char *ip)
{
    crypto_generichash_state st;
    unsigned char c = (unsigned char)cls;
    uint64_t key[2];
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, &c, 1);
    crypto_generichash_update(&st, (const unsigned char *)ip, strlen(ip));
    crypto_generichash_final(&st, (unsigned char *)key, 16);
    return (uint32_t)(key[0] % RATELIMIT_SLOTS);
}

/* The measured attack: addresses precomputed to share one home slot fill its probe window, and
 * then one more of them floods. With a key made at start the precomputed addresses no longer
 * collide, and even if they did a full window evicts instead of failing open. */
#define COLLIDERS (RATELIMIT_MAX_PROBES + 8)
static void test_collision_attack(void)
{
    static uint16_t load[RATELIMIT_SLOTS];
    static char ips[COLLIDERS][32];
    memset(load, 0, sizeof(load));
    uint32_t target = UINT32_MAX;
    char ip[32];
    for (int i = 0; i < (1 << 24) && target == UINT32_MAX; i++) {
        ip_of(i, ip, sizeof(ip));
        uint32_t h = unkeyed_home(RL_DEFAULT, ip);
        if (++load[h] == COLLIDERS)
            target = h;
    }
    CHECK(target != UINT32_MAX);
    int found = 0;
    for (int i = 0; i < (1 << 24) && found < COLLIDERS; i++) {
        ip_of(i, ip, sizeof(ip));
        if (unkeyed_home(RL_DEFAULT, ip) == target)
            snprintf(ips[found++], sizeof(ips[0]), "%s", ip);
    }
    CHECK_INT(found, COLLIDERS);

    const time_t now = T0 + 200 * RATELIMIT_WINDOW_SECONDS;
    const long limit = 10;
    log_set_level(LOG_ERROR);
    for (int i = 0; i < RATELIMIT_MAX_PROBES; i++)
        (void)hit(RL_DEFAULT, ips[i], limit, now);
    /* the others flood: 30 requests each, limit 10 */
    long allowed = 0;
    for (int i = RATELIMIT_MAX_PROBES; i < COLLIDERS; i++)
        for (int k = 0; k < 3 * limit; k++)
            allowed += hit(RL_DEFAULT, ips[i], limit, now).allowed;
    log_set_level(LOG_INFO);
    CHECK_INT(allowed, (COLLIDERS - RATELIMIT_MAX_PROBES) * limit);
    /* and the window's first 32 are still counted too */
    struct rl_decision d = hit(RL_DEFAULT, ips[0], limit, now);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, limit - 2);
}

/* A full table: 100k distinct clients in one window (six times the slots), and one client that
 * starts flooding after the table is full: exactly its limit passes, not everything. */
static void test_distinct_flood(void)
{
    const time_t now = T0 + 300 * RATELIMIT_WINDOW_SECONDS;
    const long limit = 50;
    const int clients = 100000;
    char ip[32];
    long flood_allowed = 0, flood_sent = 0;
    long others_refused = 0;
    log_set_level(LOG_ERROR);
    for (int i = 0; i < clients; i++) {
        ip_of(i, ip, sizeof(ip));
        struct rl_decision d;
        ratelimit_hit(RL_DEFAULT, str_from_cstr(ip), limit, now, &d);
        others_refused += !d.allowed;
        if (i >= clients / 2 && i % 10 == 0) {
            flood_allowed += hit(RL_DEFAULT, "192.0.2.250", limit, now).allowed;
            flood_sent++;
        }
    }
    log_set_level(LOG_INFO);
    CHECK(flood_sent > 10 * limit);
    CHECK_INT(flood_allowed, limit);
    CHECK_INT(others_refused, 0); /* one request each: nobody is refused wrongly */
    CHECK(!hit(RL_DEFAULT, "192.0.2.250", limit, now).allowed);
}

/* Eviction: a client already over its limit stays limited while the table fills up around it. */
static void test_full_window_keeps_limits(void)
{
    const time_t now = T0 + 400 * RATELIMIT_WINDOW_SECONDS;
    for (int i = 0; i < 4; i++)
        (void)hit(RL_CAPTURE, "192.0.2.251", 3, now);
    CHECK(!hit(RL_CAPTURE, "192.0.2.251", 3, now).allowed);
    char ip[32];
    log_set_level(LOG_ERROR);
    for (int i = 0; i < RATELIMIT_SLOTS * 3; i++) {
        ip_of(i, ip, sizeof(ip));
        struct rl_decision d;
        ratelimit_hit(RL_CAPTURE, str_from_cstr(ip), 3, now, &d);
    }
    log_set_level(LOG_INFO);
    struct rl_decision d = hit(RL_CAPTURE, "192.0.2.251", 3, now);
    CHECK(!d.allowed);
    CHECK_INT(d.remaining, 0);
}

static time_t g_crowd_now = T0 + 500 * RATELIMIT_WINDOW_SECONDS;

static void crowd_one_window(void)
{
    const time_t now = g_crowd_now;
    char ip[32];
    for (int i = 0; i < RATELIMIT_SLOTS * 2; i++) {
        ip_of(i, ip, sizeof(ip));
        struct rl_decision d;
        ratelimit_hit(RL_SUMMARY, str_from_cstr(ip), 5, now, &d);
    }
}

/* A crowded window logs one warning per window, not one per request. */
static void test_crowded_warning_rate_limited(void)
{
    log_set_level(LOG_WARN);
    int lines = log_lines_during(crowd_one_window, "rate limit table crowded", NULL);
    CHECK_INT(lines, 1);
    /* the next window's one warning counts the evictions the last one did not log */
    g_crowd_now += RATELIMIT_WINDOW_SECONDS;
    CHECK_INT(
        log_lines_during(crowd_one_window, "evictions not logged since the last warning", "(0 evictions"), 1);
    log_set_level(LOG_INFO);
}

/* IPv6 clients are counted per /64 (RATE_LIMIT_IPV6_PREFIX's default): 200 addresses of one
 * /64 share one count; another /64 has its own; IPv4-mapped IPv6 is the IPv4 address. */
static void test_ipv6_prefix(void)
{
    const time_t now = T0 + 600 * RATELIMIT_WINDOW_SECONDS;
    const long limit = 20;
    char ip[64];
    long allowed = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(ip, sizeof(ip), "2001:db8:1:2:%x:%x:%x:%x", i * 7, i, 0xffff - i, i * 31);
        allowed += hit(RL_EVENTS, ip, limit, now).allowed;
    }
    CHECK_INT(allowed, limit);
    /* the same /64 written differently */
    CHECK(!hit(RL_EVENTS, "2001:0DB8:0001:0002::1", limit, now).allowed);
    /* the neighbouring /64 is someone else */
    struct rl_decision d = hit(RL_EVENTS, "2001:db8:1:3::1", limit, now);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, limit - 1);
    /* IPv4-mapped IPv6 is the IPv4 client */
    CHECK(hit(RL_EVENTS, "198.51.100.200", 2, now).allowed);
    CHECK(hit(RL_EVENTS, "::ffff:198.51.100.200", 2, now).allowed);
    CHECK(!hit(RL_EVENTS, "198.51.100.200", 2, now).allowed);
    /* IPv4 is per address */
    CHECK(hit(RL_EVENTS, "198.51.100.201", 2, now).allowed);
    /* something that is not an address is still counted, by its text */
    CHECK(hit(RL_EVENTS, "unix:/x", 1, now).allowed);
    CHECK(!hit(RL_EVENTS, "unix:/x", 1, now).allowed);
    CHECK(hit(RL_EVENTS, "unix:/y", 1, now).allowed);

    /* RATE_LIMIT_IPV6_PREFIX=128 counts single addresses, 48 whole /48s */
    ratelimit_set_ipv6_prefix(128);
    CHECK(hit(RL_CAPTURE, "2001:db8:5::1", 1, now).allowed);
    CHECK(hit(RL_CAPTURE, "2001:db8:5::2", 1, now).allowed);
    CHECK(!hit(RL_CAPTURE, "2001:db8:5::1", 1, now).allowed);
    ratelimit_set_ipv6_prefix(48);
    CHECK(hit(RL_CAPTURE, "2001:db8:6:1::1", 1, now).allowed);
    CHECK(!hit(RL_CAPTURE, "2001:db8:6:ffff::2", 1, now).allowed);
    CHECK(hit(RL_CAPTURE, "2001:db8:7::1", 1, now).allowed);
    /* out of range: ignored */
    ratelimit_set_ipv6_prefix(RATELIMIT_IPV6_PREFIX_MIN - 1);
    CHECK(!hit(RL_CAPTURE, "2001:db8:6:abcd::3", 1, now).allowed);
    ratelimit_set_ipv6_prefix(RATELIMIT_IPV6_PREFIX_DEFAULT);
    CHECK(hit(RL_CAPTURE, "2001:db8:6:abcd::3", 1, now).allowed);
}

/* A symbolic link planted where the table goes is refused, and its target is left alone. */
static void test_symlink_refused(void)
{
    char dir[] = "/tmp/test-ratelimit-dir-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char target[128], link[128];
    snprintf(target, sizeof(target), "%s/precious", dir);
    snprintf(link, sizeof(link), "%s/ratelimit.shm", dir);
    FILE *f = fopen(target, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("do not overwrite", f);
    fclose(f);
    CHECK_INT(symlink(target, link), 0);
    ratelimit_close();
    errno = 0;
    CHECK_INT(ratelimit_open(link), -1);
    CHECK_INT(errno, ELOOP);
    struct stat st;
    CHECK_INT(stat(target, &st), 0);
    CHECK_INT(st.st_size, 16);
    /* nothing was mapped: everything is allowed, nothing counted */
    CHECK(hit(RL_EVENTS, "192.0.2.252", 1, T0).allowed);
    CHECK(hit(RL_EVENTS, "192.0.2.252", 1, T0).allowed);
    unlink(link);
    unlink(target);
    rmdir(dir);
    CHECK_INT(ratelimit_open(table_path), 0);
}

/* Maps the table file as a responder would, outside ratelimit.c. NULL on failure. */
static struct rl_table *map_table(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *m = mmap(NULL, sizeof(struct rl_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return m == MAP_FAILED ? NULL : m;
}

/* A process that maps the table, takes its lock and is SIGKILLed while holding it: the next
 * hit recovers the lock (robust mutex) and counts exactly as before. */
static void test_killed_while_locked(void)
{
    const time_t now = T0 + 700 * RATELIMIT_WINDOW_SECONDS;
    const long limit = 5;
    CHECK(hit(RL_DELETE, "192.0.2.253", limit, now).allowed);
    CHECK(hit(RL_DELETE, "192.0.2.253", limit, now).allowed);
    for (int round = 0; round < 2; round++) {
        int ready[2];
        CHECK_INT(pipe(ready), 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid < 0)
            return;
        if (pid == 0) {
            close(ready[0]);
            struct rl_table *t = map_table(table_path);
            if (!t || pthread_mutex_lock(&t->mu) != 0)
                _exit(1);
            (void)!write(ready[1], "L", 1);
            for (;;)
                pause();
        }
        close(ready[1]);
        char c = 0;
        CHECK_INT(read(ready[0], &c, 1), 1);
        close(ready[0]);
        CHECK_INT(c, 'L');
        CHECK_INT(kill(pid, SIGKILL), 0);
        int st = 0;
        CHECK_INT(waitpid(pid, &st, 0), pid);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        /* the lock comes back and the count goes on where it was */
        struct rl_decision d = hit(RL_DELETE, "192.0.2.253", limit, now);
        CHECK(d.allowed);
        CHECK_INT(d.remaining, limit - 3 - round);
    }
    CHECK(hit(RL_DELETE, "192.0.2.253", limit, now).allowed);
    CHECK(!hit(RL_DELETE, "192.0.2.253", limit, now).allowed);
    /* and other processes share the recovered lock without losing a count */
    CHECK_INT(hit_from_children(4, 50, 150, "192.0.2.254"), 150);
}

/* Each table gets its own random key, stored in the mapping for every responder. */
static void test_key_per_table(void)
{
    char a[] = "/tmp/test-ratelimit-key-XXXXXX";
    int fd = mkstemp(a);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    ratelimit_close();
    unsigned char k1[crypto_shorthash_KEYBYTES], k2[crypto_shorthash_KEYBYTES],
        zero[crypto_shorthash_KEYBYTES];
    memset(zero, 0, sizeof(zero));
    CHECK_INT(ratelimit_open(a), 0);
    struct rl_table *t = map_table(a);
    CHECK(t != NULL);
    if (!t)
        return;
    memcpy(k1, t->key, sizeof(k1));
    munmap(t, sizeof(*t));
    /* a second opener keeps the key */
    ratelimit_close();
    CHECK_INT(ratelimit_open(a), 0);
    t = map_table(a);
    CHECK(t != NULL && memcmp(t->key, k1, sizeof(k1)) == 0);
    if (t)
        munmap(t, sizeof(*t));
    ratelimit_close();
    /* a re-created table gets a new one */
    unlink(a);
    CHECK_INT(ratelimit_open(a), 0);
    t = map_table(a);
    CHECK(t != NULL);
    if (t) {
        memcpy(k2, t->key, sizeof(k2));
        munmap(t, sizeof(*t));
    }
    CHECK(memcmp(k1, zero, sizeof(k1)) != 0);
    CHECK(memcmp(k1, k2, sizeof(k1)) != 0);
    ratelimit_close();
    unlink(a);
    CHECK_INT(ratelimit_open(table_path), 0);
}

/* RUN_DIR must be this user's own directory with no group or other access; errors name it. */
static void test_rundir_check(void)
{
    char dir[] = "/tmp/test-rundir-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[256], sub[128], link[128], file[128];
    CHECK_INT(chmod(dir, 0700), 0);
    CHECK_INT(rundir_check(dir, false, err, sizeof(err)), 0);
    CHECK_INT(chmod(dir, 0755), 0);
    CHECK_INT(rundir_check(dir, false, err, sizeof(err)), -1);
    CHECK(strstr(err, dir) != NULL && strstr(err, "0755") != NULL);
    CHECK(strncmp(err, "RUN_DIR ", 8) == 0);
    CHECK_INT(chmod(dir, 0710), 0);
    CHECK_INT(rundir_check(dir, true, err, sizeof(err)), -1);
    CHECK_INT(chmod(dir, 0701), 0);
    CHECK_INT(rundir_check(dir, true, err, sizeof(err)), -1);
    CHECK_INT(chmod(dir, 0700), 0);

    /* missing: fine only when it is created later */
    snprintf(sub, sizeof(sub), "%s/missing", dir);
    CHECK_INT(rundir_check(sub, true, err, sizeof(err)), 0);
    CHECK_INT(rundir_check(sub, false, err, sizeof(err)), -1);
    CHECK(strstr(err, sub) != NULL);
    /* a symbolic link to a good directory is refused */
    snprintf(link, sizeof(link), "%s/link", dir);
    CHECK_INT(symlink(dir, link), 0);
    CHECK_INT(rundir_check(link, true, err, sizeof(err)), -1);
    CHECK(strstr(err, link) != NULL && strstr(err, "symbolic link") != NULL);
    /* a file */
    snprintf(file, sizeof(file), "%s/file", dir);
    FILE *f = fopen(file, "w");
    if (f)
        fclose(f);
    CHECK_INT(rundir_check(file, true, err, sizeof(err)), -1);
    CHECK(strstr(err, "not a directory") != NULL);
    /* another user's directory (only root can make one here) */
    if (geteuid() == 0) {
        CHECK_INT(mkdir(sub, 0700), 0);
        CHECK_INT(chown(sub, 12345, 12345), 0);
        CHECK_INT(rundir_check(sub, false, err, sizeof(err)), -1);
        CHECK(strstr(err, sub) != NULL && strstr(err, "uid 12345") != NULL);
        rmdir(sub);
    }
    /* a table that is not ours (or not a file) is refused too */
    if (geteuid() == 0) {
        char shm[160];
        snprintf(shm, sizeof(shm), "%s/ratelimit.shm", dir);
        int fd = open(shm, O_CREAT | O_WRONLY, 0600);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
        CHECK_INT(chown(shm, 12345, 12345), 0);
        ratelimit_close();
        errno = 0;
        CHECK_INT(ratelimit_open(shm), -1);
        CHECK_INT(errno, EPERM);
        unlink(shm);
        CHECK_INT(ratelimit_open(table_path), 0);
    }
    unlink(file);
    unlink(link);
    rmdir(dir);
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
    test_collision_attack();
    test_distinct_flood();
    test_full_window_keeps_limits();
    test_crowded_warning_rate_limited();
    test_ipv6_prefix();
    test_symlink_refused();
    test_killed_while_locked();
    test_key_per_table();
    test_rundir_check();

    ratelimit_close();
    unlink(table_path);
    return t_done("test_ratelimit");
}

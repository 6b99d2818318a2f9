/* ratelimit.h - fixed one-minute windows per (route class, client IP), one count shared by
 * every responder of the machine through a memory-mapped table. */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <time.h>

#include "core/common.h"
#include "core/config.h"

struct rl_decision {
    bool allowed;
    long limit;
    long remaining;
    long reset_s; /* seconds until the window ends */
};

/* Maps (creating when missing) the table at path. A symbolic link at path is refused (ELOOP),
 * and so is a file that is not a regular file owned by this process's user (EPERM). A created
 * table gets a new random hash key. Returns 0, or -1 with errno set. */
int ratelimit_open(const char *path) ATTR_WUR;
void ratelimit_close(void);

/* IPv6 clients are counted per this many leading bits (RATE_LIMIT_IPV6_PREFIX; the default is
 * RATELIMIT_IPV6_PREFIX_DEFAULT). Values outside the bounds are ignored. */
void ratelimit_set_ipv6_prefix(int bits);

/* Counts one request of class cls from ip (an IPv4 or IPv6 address as text; anything else counts
 * by its text) at time now. limit 0 means the class is unlimited
 * (allowed, nothing counted). Request number limit+1 in a window is the first refused. */
void ratelimit_hit(enum rl_class cls, struct str ip, long limit, time_t now, struct rl_decision *out);

#endif

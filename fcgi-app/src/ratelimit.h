/* ratelimit.h - fixed one-minute windows per (route class, client IP), one count shared by
 * every responder of the machine through a memory-mapped table. */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <time.h>

#include "common.h"
#include "config.h"

struct rl_decision {
    bool allowed;
    long limit;
    long remaining;
    long reset_s; /* seconds until the window ends */
};

/* Maps (creating when missing) the table at path. Returns 0, or -1 with errno set. */
int ratelimit_open(const char *path) ATTR_WUR;
void ratelimit_close(void);

/* Counts one request of class cls from ip at time now. limit 0 means the class is unlimited
 * (allowed, nothing counted). Request number limit+1 in a window is the first refused. */
void ratelimit_hit(enum rl_class cls, struct str ip, long limit, time_t now, struct rl_decision *out);

#endif

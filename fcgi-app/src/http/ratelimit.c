/* ratelimit.c - open-addressed table in a shared mapping, guarded by a robust process-shared
 * mutex (a responder killed while holding it does not wedge the others). Slots are found by a
 * keyed hash (the key is made when the table is created), so colliding addresses cannot be
 * computed offline; a full probe window evicts its least-counted entry instead of failing open. */
#include "http/ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rundir.h"
#include "http/ratelimit_table.h"

static struct rl_table *g_table;
/* this process's copy of the table's key, so hashing needs no lock */
static unsigned char g_key[crypto_shorthash_KEYBYTES];
static int g_ipv6_prefix = RATELIMIT_IPV6_PREFIX_DEFAULT;
/* one crowding warning per window per process; the rest are counted into the next one */
static uint32_t g_warned_window;
static unsigned long g_unlogged_evictions;

static int init_table(struct rl_table *t)
{
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0)
        return -1;
    int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(&t->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0)
        return -1;
    t->nslots = RATELIMIT_SLOTS;
    randombytes_buf(t->key, sizeof(t->key));
    __atomic_store_n(&t->magic, RL_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

/* a table of another layout (or none yet) is made anew: a new mutex and a new random key */
static int prepare_table(void *table, bool fresh, void *ctx)
{
    (void)ctx;
    struct rl_table *t = table;
    if (!fresh && t->magic == RL_MAGIC && t->nslots == RATELIMIT_SLOTS)
        return 0;
    memset(t, 0, sizeof(*t));
    if (init_table(t) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int ratelimit_open(const char *path)
{
    if (sodium_init() < 0) {
        errno = EINVAL;
        return -1;
    }
    struct rl_table *t = rundir_map_table(path, sizeof(struct rl_table), prepare_table, NULL);
    if (!t)
        return -1;
    memcpy(g_key, t->key, sizeof(g_key));
    g_table = t;
    return 0;
}

void ratelimit_close(void)
{
    if (g_table)
        munmap(g_table, sizeof(struct rl_table));
    g_table = NULL;
    sodium_memzero(g_key, sizeof(g_key));
}

void ratelimit_set_ipv6_prefix(int bits)
{
    if (bits >= RATELIMIT_IPV6_PREFIX_MIN && bits <= RATELIMIT_IPV6_PREFIX_MAX)
        g_ipv6_prefix = bits;
}

/* What identifies a client, written into out (1 + 16 bytes at most): 4 and the IPv4 address (an
 * IPv4-mapped IPv6 address is its IPv4 address), 6 and the IPv6 address cut to the prefix, or 0
 * and an unkeyed digest of text that is no address (counted as itself). Returns the length. */
#define RL_CLIENT_MAX 17
static size_t client_bytes(struct str ip, unsigned char out[RL_CLIENT_MAX])
{
    char text[INET6_ADDRSTRLEN];
    if (ip.n > 0 && ip.n < sizeof(text)) {
        memcpy(text, ip.p, ip.n);
        text[ip.n] = '\0';
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, text, &a4) == 1) {
            out[0] = 4;
            memcpy(out + 1, &a4, 4);
            return 5;
        }
        if (inet_pton(AF_INET6, text, &a6) == 1) {
            if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                out[0] = 4;
                memcpy(out + 1, a6.s6_addr + 12, 4);
                return 5;
            }
            out[0] = 6;
            for (int i = 0; i < 16; i++) {
                int keep = g_ipv6_prefix - i * 8; /* bits of this byte inside the prefix */
                unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
                out[1 + i] = a6.s6_addr[i] & mask;
            }
            return 17;
        }
    }
    out[0] = 0;
    crypto_generichash(out + 1, 16, (const unsigned char *)ip.p, ip.n, NULL, 0);
    return 17;
}

static uint64_t client_id(enum rl_class cls, struct str ip)
{
    unsigned char in[1 + RL_CLIENT_MAX];
    in[0] = (unsigned char)cls;
    size_t n = 1 + client_bytes(ip, in + 1);
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, in, n, g_key);
    uint64_t id;
    memcpy(&id, h, sizeof(id));
    return id;
}

static bool lock(struct rl_table *t)
{
    int rc = pthread_mutex_lock(&t->mu);
    if (rc == EOWNERDEAD) {
        /* the holder died mid-update: at worst one slot is half-written, which only costs that
         * client its count */
        pthread_mutex_consistent(&t->mu);
        return true;
    }
    return rc == 0;
}

static void warn_crowded(uint32_t window)
{
    if (g_warned_window == window) {
        g_unlogged_evictions++;
        return;
    }
    log_warn("rate limit table crowded: evicting least-counted clients (%lu evictions not logged "
             "since the last warning)",
             g_unlogged_evictions);
    g_warned_window = window;
    g_unlogged_evictions = 0;
}

void ratelimit_hit(enum rl_class cls, struct str ip, long limit, time_t now, struct rl_decision *out)
{
    uint32_t window = (uint32_t)(now / RATELIMIT_WINDOW_SECONDS);
    out->limit = limit;
    out->reset_s = RATELIMIT_WINDOW_SECONDS - (long)(now % RATELIMIT_WINDOW_SECONDS);
    out->allowed = true;
    out->remaining = limit;
    if (limit <= 0 || !g_table)
        return;

    uint64_t id = client_id(cls, ip);
    struct rl_table *t = g_table;
    if (!lock(t)) {
        log_error("rate limit table lock unusable; request allowed uncounted");
        out->remaining = limit - 1;
        return;
    }
    /* the client's own slot in this window, else a free one (never used, or an older window),
     * else the least-counted one: its client loses the least, and a client over its limit is
     * the last to be evicted */
    struct rl_slot *mine = NULL, *spare = NULL, *least = NULL;
    for (uint32_t i = 0; i < RATELIMIT_MAX_PROBES; i++) {
        struct rl_slot *s = &t->slots[(id + i) % RATELIMIT_SLOTS];
        if (s->window != window) {
            if (!spare)
                spare = s;
        } else if (s->id == id) {
            mine = s;
            break;
        } else if (!least || s->count < least->count) {
            least = s;
        }
    }
    bool evicted = false;
    if (!mine) {
        mine = spare ? spare : least;
        evicted = !spare;
        mine->id = id;
        mine->window = window;
        mine->count = 0;
    }
    if (mine->count < UINT32_MAX)
        mine->count++;
    long count = mine->count;
    pthread_mutex_unlock(&t->mu);

    if (evicted)
        warn_crowded(window);
    out->allowed = count <= limit;
    out->remaining = count >= limit ? 0 : limit - count;
}

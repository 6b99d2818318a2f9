/* ratelimit.c - open-addressed table in a shared mapping, guarded by a robust process-shared
 * mutex (a responder killed while holding it does not wedge the others). */
#include "ratelimit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define RL_MAGIC 0x524c3031u /* "RL01" */

struct rl_slot {
    uint64_t key[2];
    uint32_t window; /* minute number; 0 = never used */
    uint32_t count;
};

struct rl_table {
    uint32_t magic;
    uint32_t nslots;
    pthread_mutex_t mu;
    struct rl_slot slots[RATELIMIT_SLOTS];
};

static struct rl_table *g_table;

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
    __atomic_store_n(&t->magic, RL_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int ratelimit_open(const char *path)
{
    int rc = -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    /* the first opener sizes and initialises the table while holding the file lock */
    if (flock(fd, LOCK_EX) != 0)
        goto out;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out_unlock;
    bool fresh = (size_t)st.st_size < sizeof(struct rl_table);
    if (fresh && ftruncate(fd, (off_t)sizeof(struct rl_table)) != 0)
        goto out_unlock;
    void *m = mmap(NULL, sizeof(struct rl_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        goto out_unlock;
    struct rl_table *t = m;
    if (fresh || t->magic != RL_MAGIC || t->nslots != RATELIMIT_SLOTS) {
        memset(t, 0, sizeof(*t));
        if (init_table(t) != 0) {
            munmap(m, sizeof(struct rl_table));
            errno = EINVAL;
            goto out_unlock;
        }
    }
    g_table = t;
    rc = 0;
out_unlock:
    (void)flock(fd, LOCK_UN);
out:
    close(fd);
    return rc;
}

void ratelimit_close(void)
{
    if (g_table)
        munmap(g_table, sizeof(struct rl_table));
    g_table = NULL;
}

static void key_of(enum rl_class cls, struct str ip, uint64_t key[2])
{
    crypto_generichash_state st;
    unsigned char c = (unsigned char)cls;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, &c, 1);
    crypto_generichash_update(&st, (const unsigned char *)ip.p, ip.n);
    crypto_generichash_final(&st, (unsigned char *)key, 16);
}

static void lock(struct rl_table *t)
{
    if (pthread_mutex_lock(&t->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&t->mu);
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

    uint64_t key[2];
    key_of(cls, ip, key);
    struct rl_table *t = g_table;
    long count = -1;
    lock(t);
    for (uint32_t i = 0; i < RATELIMIT_MAX_PROBES; i++) {
        struct rl_slot *s = &t->slots[(key[0] + i) % RATELIMIT_SLOTS];
        bool mine = s->key[0] == key[0] && s->key[1] == key[1];
        if (mine || s->window != window) {
            if (!mine || s->window != window) {
                s->key[0] = key[0];
                s->key[1] = key[1];
                s->window = window;
                s->count = 0;
            }
            if (s->count < UINT32_MAX)
                s->count++;
            count = s->count;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);

    if (count < 0) {
        /* every probed slot holds another client in this window: fail open, loudly */
        log_warn("rate limit table crowded; request allowed uncounted");
        out->remaining = limit - 1;
        return;
    }
    out->allowed = count <= limit;
    out->remaining = count >= limit ? 0 : limit - count;
}

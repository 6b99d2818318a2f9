/* rtt_relay - a loopback TCP relay that adds a round trip, for `make bench ARGS="--rtt MS"`.
 *
 *     rtt_relay TARGET_PORT DELAY_US [LISTEN_PORT]
 *
 * Listens on 127.0.0.1:LISTEN_PORT (0 or absent: a free port), prints "listening PORT" on stdout
 * once it accepts, and relays every connection to 127.0.0.1:TARGET_PORT, holding each chunk it
 * reads DELAY_US microseconds before writing it on, in both directions: a request and its answer
 * cross it twice, so the added round trip is 2 x DELAY_US. The bench uses it when the kernel has no
 * sch_netem (tc netem is the better tool: it delays packets, not reads).
 *
 * One thread, epoll; a timerfd wakes it when the oldest held chunk is due (epoll_wait's millisecond
 * timeout is too coarse for a 1 ms delay). Bounded: at most MAX_PAIRS connections and MAX_HELD
 * bytes held per direction (reading stops until the queue drains), so a fast sender cannot grow it.
 * Loopback only: both addresses are 127.0.0.1, never configurable. Exits on SIGTERM/SIGINT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_PAIRS = 256,         /* connections relayed at once; more are refused (closed) */
    CHUNK_MAX = 16384,       /* bytes read at once into one held chunk */
    MAX_CHUNKS = 64,         /* chunks held per direction (ring) */
    MAX_HELD = 256 * 1024,   /* bytes held per direction before reading pauses */
    MAX_DELAY_US = 10000000, /* 10 s: anything larger is a typo */
};

struct chunk {
    uint64_t due_us; /* monotonic time it may be written */
    size_t len, off; /* bytes in data, bytes already written */
    char *data;      /* malloc'd, freed once written */
};

/* Data read from fd[d], waiting to be written to fd[1 - d]. */
struct dirq {
    struct chunk ring[MAX_CHUNKS];
    unsigned head, count;
    size_t held;
    int eof;     /* fd[d] said end of file: shut fd[1 - d] for writing once drained */
    int blocked; /* fd[1 - d] answered EAGAIN: wait for EPOLLOUT */
};

struct pair {
    int used;
    int fd[2]; /* 0: the client, 1: the target */
    struct dirq q[2];
    uint32_t events[2]; /* what each fd is registered for */
};

/* epoll user data: the pair's index * 2 + side; the listener and the timer get their own tags. */
#define TAG_LISTEN UINT64_MAX
#define TAG_TIMER (UINT64_MAX - 1)

static struct pair pairs[MAX_PAIRS];
static int epfd, tfd;
static uint64_t delay_us;
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void pair_close(struct pair *p)
{
    for (int s = 0; s < 2; s++) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd[s], NULL);
        close(p->fd[s]);
        struct dirq *q = &p->q[s];
        for (unsigned i = 0; i < q->count; i++)
            free(q->ring[(q->head + i) % MAX_CHUNKS].data);
    }
    memset(p, 0, sizeof *p);
}

/* Registers fd[s] for what it can do now: read while its queue has room, write while blocked. */
static void pair_arm(struct pair *p, int s)
{
    const struct dirq *in = &p->q[s], *out = &p->q[1 - s];
    uint32_t ev = 0;
    if (!in->eof && in->held < MAX_HELD && in->count < MAX_CHUNKS)
        ev |= EPOLLIN;
    if (out->blocked)
        ev |= EPOLLOUT;
    if (ev == p->events[s])
        return;
    struct epoll_event e = {.events = ev, .data.u64 = (uint64_t)(p - pairs) * 2 + (uint64_t)s};
    epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd[s], &e);
    p->events[s] = ev;
}

/* Reads what fd[s] has into held chunks. Returns -1 when the pair must close. */
static int pair_read(struct pair *p, int s)
{
    struct dirq *q = &p->q[s];
    while (!q->eof && q->held < MAX_HELD && q->count < MAX_CHUNKS) {
        char *buf = malloc(CHUNK_MAX);
        if (!buf)
            return -1;
        ssize_t n = read(p->fd[s], buf, CHUNK_MAX);
        if (n <= 0) {
            free(buf);
            if (n == 0) {
                q->eof = 1;
                break;
            }
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        struct chunk *c = &q->ring[(q->head + q->count) % MAX_CHUNKS];
        c->data = buf;
        c->len = (size_t)n;
        c->off = 0;
        c->due_us = now_us() + delay_us;
        q->count++;
        q->held += (size_t)n;
    }
    return 0;
}

/* Writes the due chunks of direction s to fd[1 - s]. Returns -1 when the pair must close. */
static int pair_flush(struct pair *p, int s, uint64_t now)
{
    struct dirq *q = &p->q[s];
    int to = p->fd[1 - s];
    q->blocked = 0;
    while (q->count > 0) {
        struct chunk *c = &q->ring[q->head];
        if (c->due_us > now)
            break;
        ssize_t n = write(to, c->data + c->off, c->len - c->off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                q->blocked = 1;
                break;
            }
            return -1;
        }
        c->off += (size_t)n;
        if (c->off < c->len)
            continue;
        q->held -= c->len;
        free(c->data);
        c->data = NULL;
        q->head = (q->head + 1) % MAX_CHUNKS;
        q->count--;
    }
    if (q->count == 0 && q->eof == 1) {
        shutdown(to, SHUT_WR);
        q->eof = 2; /* shut once */
    }
    return 0;
}

/* Both directions ended and drained: nothing more can pass. */
static int pair_done(const struct pair *p)
{
    return p->q[0].eof == 2 && p->q[1].eof == 2;
}

static unsigned target_port;

/* Accepts every waiting client and connects it to the target; a client past MAX_PAIRS, or one the
 * target refuses, is closed (the caller sees a reset, as with a refused connection). */
static void accept_all(int lfd)
{
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
            return;
        struct pair *p = NULL;
        for (int i = 0; i < MAX_PAIRS && !p; i++)
            if (!pairs[i].used)
                p = &pairs[i];
        int t = p ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
        struct sockaddr_in a = loopback(target_port);
        /* a blocking connect: on loopback it completes at once or is refused */
        if (t < 0 || connect(t, (struct sockaddr *)&a, sizeof a) != 0 ||
            fcntl(t, F_SETFL, fcntl(t, F_GETFL) | O_NONBLOCK) != 0) {
            if (t >= 0)
                close(t);
            close(c);
            continue;
        }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        memset(p, 0, sizeof *p);
        p->used = 1;
        p->fd[0] = c;
        p->fd[1] = t;
        for (int s = 0; s < 2; s++) {
            struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)(p - pairs) * 2 + (uint64_t)s};
            epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd[s], &e);
            p->events[s] = EPOLLIN;
        }
    }
}

/* Sets the timer to the earliest due chunk (or disarms it when nothing is held). */
static void timer_rearm(void)
{
    uint64_t next = 0;
    for (int i = 0; i < MAX_PAIRS; i++) {
        if (!pairs[i].used)
            continue;
        for (int s = 0; s < 2; s++) {
            const struct dirq *q = &pairs[i].q[s];
            if (q->count > 0 && !q->blocked && (next == 0 || q->ring[q->head].due_us < next))
                next = q->ring[q->head].due_us;
        }
    }
    struct itimerspec it;
    memset(&it, 0, sizeof it);
    if (next) {
        it.it_value.tv_sec = (time_t)(next / 1000000u);
        it.it_value.tv_nsec = (long)(next % 1000000u) * 1000;
    }
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long tp, d, lp = 0;
    if (argc < 3 || argc > 4 || parse_uint(argv[1], 65535, &tp) || tp == 0 ||
        parse_uint(argv[2], MAX_DELAY_US, &d) || (argc == 4 && parse_uint(argv[3], 65535, &lp))) {
        fprintf(stderr,
                "usage: rtt_relay TARGET_PORT DELAY_US [LISTEN_PORT]  (127.0.0.1 only; DELAY_US <= %d)\n",
                MAX_DELAY_US);
        return 2;
    }
    target_port = (unsigned)tp;
    delay_us = d;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = loopback((unsigned)lp);
    socklen_t alen = sizeof a;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 512) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("rtt_relay: listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || tfd < 0) {
        perror("rtt_relay: epoll/timerfd");
        return 1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
    e.data.u64 = TAG_TIMER;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &e);
    printf("listening %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    struct epoll_event evs[64];
    while (!stopping) {
        int n = epoll_wait(epfd, evs, 64, -1);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_LISTEN) {
                accept_all(lfd);
            } else if (tag == TAG_TIMER) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0) { /* EAGAIN: nothing */
                }
            } else {
                struct pair *p = &pairs[tag / 2];
                int s = (int)(tag % 2);
                if (!p->used)
                    continue;
                if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && pair_read(p, s) != 0) {
                    pair_close(p);
                    continue;
                }
                if (evs[i].events & EPOLLOUT)
                    p->q[1 - s].blocked = 0;
            }
        }
        /* whatever is due goes out; a pair with both ways ended, or an error, closes */
        uint64_t now = now_us();
        for (int i = 0; i < MAX_PAIRS; i++) {
            struct pair *p = &pairs[i];
            if (!p->used)
                continue;
            if ((!p->q[0].blocked && pair_flush(p, 0, now) != 0) ||
                (!p->q[1].blocked && pair_flush(p, 1, now) != 0) || pair_done(p)) {
                pair_close(p);
                continue;
            }
            pair_arm(p, 0);
            pair_arm(p, 1);
        }
        timer_rearm();
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        if (pairs[i].used)
            pair_close(&pairs[i]);
    return 0;
}

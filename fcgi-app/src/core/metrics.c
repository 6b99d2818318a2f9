/* metrics.c - the shared counter table and its Prometheus text exposition (format 0.0.4). Every
 * counter is a lock-free C11 atomic in a MAP_SHARED file mapping: a responder killed mid-update
 * loses at most its own increment and wedges nobody (unlike a lock). */
#include "core/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rundir.h"

/* Atomics shared between processes must not fall back to a hidden lock (it would be per process). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "int atomics must be lock-free");

#define METRICS_MAGIC 0x4d455431u /* "MET1" */
#define STATUS_SLOTS (METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1)

struct metrics_responder {
    atomic_int pid;           /* 0: free */
    atomic_ullong start_tick; /* /proc/<pid>/stat starttime: a reused pid is not our responder */
};

struct metrics_table {
    uint32_t magic; /* written last, when the table is ready */
    uint32_t size;
    uint64_t fingerprint;
    atomic_ullong requests[METRICS_ROUTE_SLOTS][MM_COUNT][STATUS_SLOTS];
    atomic_ullong latency[METRICS_ROUTE_SLOTS][METRICS_LATENCY_BUCKETS + 1]; /* last: +Inf */
    atomic_ullong latency_sum_us[METRICS_ROUTE_SLOTS];
    atomic_ullong rejections[METRICS_ROUTE_SLOTS][MR_COUNT];
    atomic_ullong rate_limited[RL_CLASS_COUNT];
    atomic_ullong db_connects_ok, db_connects_failed, db_reconnects;
    atomic_ullong db_errors[MDB_COUNT];
    atomic_ullong jobs[MJ_COUNT][MO_COUNT];
    struct metrics_responder responders[METRICS_RESPONDER_SLOTS];
};

/* Upper bounds of the latency buckets: µs for counting, the same in seconds for the le label. */
static const uint64_t LATENCY_US[METRICS_LATENCY_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const LATENCY_LE[METRICS_LATENCY_BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};
static const char *const METHOD_NAMES[MM_COUNT] = {"GET", "HEAD", "POST", "OPTIONS", "other"};
static const char *const REJECT_NAMES[MR_COUNT] = {"invalid_request", "invalid_json", "other"};
static const char *const RL_NAMES[RL_CLASS_COUNT] = {
    [RL_EVENTS] = "events", [RL_CAPTURE] = "capture", [RL_UNSUBSCRIBE] = "unsubscribe",
    [RL_DELETE] = "delete", [RL_SUMMARY] = "summary", [RL_DEFAULT] = "default",
};
static const char *const JOB_NAMES[MJ_COUNT] = {"rollups", "retention", "salts",
                                                "refresh", "webhook",   "partitions"};
static const char *const OUTCOME_NAMES[MO_COUNT] = {"ok", "failed", "error", "skipped"};

static struct metrics_table *g_t;
static bool g_db_connected_before; /* this process has had a connection: the next one is a reconnect */
static int g_my_slot = -1;

static void add(atomic_ullong *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_ullong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

uint64_t metrics_fingerprint(const char *const *labels, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = labels[i];; p++) { /* the NUL too, so "ab","c" differs from "a","bc" */
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
            if (!*p)
                break;
        }
    }
    return h;
}

/* another layout or other route labels (a new binary in an old RUN_DIR): counts under the old
 * meaning would be misattributed, so start again (Prometheus reads a counter reset) */
static int prepare_table(void *table, bool fresh, void *ctx)
{
    struct metrics_table *t = table;
    uint64_t fingerprint = *(const uint64_t *)ctx;
    if (fresh || t->magic != METRICS_MAGIC || t->size != sizeof(*t) || t->fingerprint != fingerprint) {
        memset(t, 0, sizeof(*t));
        t->size = sizeof(*t);
        t->fingerprint = fingerprint;
        __atomic_store_n(&t->magic, METRICS_MAGIC, __ATOMIC_RELEASE);
    }
    return 0;
}

int metrics_open(const char *path, uint64_t fingerprint)
{
    struct metrics_table *t =
        rundir_map_table(path, sizeof(struct metrics_table), prepare_table, &fingerprint);
    if (!t)
        return -1;
    g_t = t;
    return 0;
}

void metrics_close(void)
{
    if (g_t)
        munmap(g_t, sizeof(struct metrics_table));
    g_t = NULL;
    g_my_slot = -1;
}

/* Field 22 of /proc/<pid>/stat (clock ticks after boot the process started); 0 when unreadable or
 * when the process is a zombie (dead, not yet reaped by lighttpd). */
static uint64_t start_tick(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    /* the command name (field 2) may hold spaces and parentheses: count from the last ')' */
    const char *p = strrchr(text, ')');
    if (!p)
        return 0;
    if (p[1] == ' ' && p[2] == 'Z')
        return 0;
    p++; /* the space before field 3 (the state); each step moves to the space before the next */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    unsigned long long v = 0;
    if (!p || sscanf(p, " %llu", &v) != 1)
        return 0;
    return v;
}

static bool slot_alive(struct metrics_responder *r)
{
    int pid = atomic_load(&r->pid);
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    uint64_t want = atomic_load(&r->start_tick);
    uint64_t now = start_tick(pid);
    return now != 0 && (want == 0 || now == want);
}

void metrics_responder_join(void)
{
    if (!g_t || g_my_slot >= 0)
        return;
    int me = (int)getpid();
    uint64_t tick = start_tick(me);
    for (int i = 0; i < METRICS_RESPONDER_SLOTS; i++) {
        struct metrics_responder *r = &g_t->responders[i];
        int old = atomic_load(&r->pid);
        /* a free slot, or one left by a responder that died without leaving (kill -9) */
        if (old != 0 && slot_alive(r))
            continue;
        if (atomic_compare_exchange_strong(&r->pid, &old, me)) {
            atomic_store(&r->start_tick, tick);
            g_my_slot = i;
            return;
        }
    }
}

void metrics_responder_leave(void)
{
    if (!g_t || g_my_slot < 0)
        return;
    int me = (int)getpid();
    (void)atomic_compare_exchange_strong(&g_t->responders[g_my_slot].pid, &me, 0);
    g_my_slot = -1;
}

int metrics_live_responders(void)
{
    int n = 0;
    for (int i = 0; g_t && i < METRICS_RESPONDER_SLOTS; i++)
        n += slot_alive(&g_t->responders[i]);
    return n;
}

void metrics_request(int route, enum metrics_method m, int status, uint64_t us)
{
    if (!g_t || route < 0 || route >= METRICS_ROUTE_SLOTS || (unsigned)m >= MM_COUNT)
        return;
    if (status < METRICS_STATUS_MIN || status > METRICS_STATUS_MAX)
        status = 500; /* never produced; counted where an operator looks for trouble */
    add(&g_t->requests[route][m][status - METRICS_STATUS_MIN], 1);
    int b = 0;
    while (b < METRICS_LATENCY_BUCKETS && us > LATENCY_US[b])
        b++;
    add(&g_t->latency[route][b], 1);
    add(&g_t->latency_sum_us[route], us);
}

enum metrics_reject metrics_reject_of(const char *reason)
{
    if (!reason || strcmp(reason, "invalid_request") == 0)
        return MR_INVALID_REQUEST; /* rejection_record's own default */
    if (strcmp(reason, "invalid_json") == 0)
        return MR_INVALID_JSON;
    return MR_OTHER;
}

void metrics_rejection(int route, enum metrics_reject reason)
{
    if (g_t && route >= 0 && route < METRICS_ROUTE_SLOTS && (unsigned)reason < MR_COUNT)
        add(&g_t->rejections[route][reason], 1);
}

void metrics_rate_limited(enum rl_class cls)
{
    if (g_t && (unsigned)cls < RL_CLASS_COUNT)
        add(&g_t->rate_limited[cls], 1);
}

void metrics_db_connect(bool ok)
{
    if (!g_t)
        return;
    if (!ok) {
        add(&g_t->db_connects_failed, 1);
        return;
    }
    add(&g_t->db_connects_ok, 1);
    if (g_db_connected_before)
        add(&g_t->db_reconnects, 1);
    g_db_connected_before = true;
}

void metrics_db_error(enum metrics_db_error kind)
{
    if (g_t && (unsigned)kind < MDB_COUNT)
        add(&g_t->db_errors[kind], 1);
}

void metrics_job(enum metrics_job job, enum metrics_outcome outcome)
{
    if (g_t && (unsigned)job < MJ_COUNT && (unsigned)outcome < MO_COUNT)
        add(&g_t->jobs[job][outcome], 1);
}

/* ---- exposition ------------------------------------------------------------------------------ */

void metrics_label_value(struct buf *out, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            buf_put(out, "\\\\", 2);
        else if (*p == '"')
            buf_put(out, "\\\"", 2);
        else if (*p == '\n')
            buf_put(out, "\\n", 2);
        else
            buf_put(out, p, 1);
    }
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (n > 0 && (size_t)n < sizeof(line))
        buf_put(out, line, (size_t)n);
}

static void put_u64(struct buf *out, uint64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), " %" PRIu64 "\n", v);
    buf_put(out, num, (size_t)n);
}

/* name{k1="v1",k2="v2",...} value; labels as (key, value) pairs, nl of them */
static void sample(struct buf *out, const char *name, const char *const *labels, size_t nl, uint64_t v)
{
    buf_puts(out, name);
    for (size_t i = 0; i < nl; i++) {
        buf_puts(out, i ? "," : "{");
        buf_puts(out, labels[2 * i]);
        buf_puts(out, "=\"");
        metrics_label_value(out, labels[2 * i + 1]);
        buf_puts(out, "\"");
    }
    if (nl)
        buf_puts(out, "}");
    put_u64(out, v);
}

void metrics_render(struct buf *out, const char *const *route_labels, size_t n,
                    const struct metrics_gauges *g)
{
    struct metrics_table *t = g_t;
    if (n > METRICS_ROUTE_SLOTS)
        n = METRICS_ROUTE_SLOTS;
    if (!t)
        return; /* nothing mapped: an empty exposition is valid */

    header(out, "backend_http_requests_total", "counter",
           "Requests answered by the responders, by route (the route table's path, or other), method "
           "and status.");
    for (size_t r = 0; r < n; r++) {
        for (int m = 0; m < MM_COUNT; m++) {
            for (int s = 0; s < STATUS_SLOTS; s++) {
                uint64_t v = get(&t->requests[r][m][s]);
                if (!v)
                    continue;
                char status[16];
                snprintf(status, sizeof(status), "%d", s + METRICS_STATUS_MIN);
                const char *l[] = {"route", route_labels[r], "method", METHOD_NAMES[m], "status", status};
                sample(out, "backend_http_requests_total", l, 3, v);
            }
        }
    }

    header(out, "backend_http_request_duration_seconds", "histogram",
           "Time from a request reaching a responder until its answer was written, by route.");
    for (size_t r = 0; r < n; r++) {
        uint64_t counts[METRICS_LATENCY_BUCKETS + 1], total = 0;
        for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++) {
            counts[b] = get(&t->latency[r][b]);
            total += counts[b];
        }
        if (!total)
            continue;
        /* cumulative, and _count equals the +Inf bucket by construction (read once above) */
        uint64_t cum = 0;
        for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++) {
            cum += counts[b];
            const char *l[] = {"route", route_labels[r], "le",
                               b < METRICS_LATENCY_BUCKETS ? LATENCY_LE[b] : "+Inf"};
            sample(out, "backend_http_request_duration_seconds_bucket", l, 2, cum);
        }
        uint64_t sum_us = get(&t->latency_sum_us[r]);
        char line[64];
        buf_puts(out, "backend_http_request_duration_seconds_sum{route=\"");
        metrics_label_value(out, route_labels[r]);
        int k = snprintf(line, sizeof(line), "\"} %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000,
                         sum_us % 1000000);
        buf_put(out, line, (size_t)k);
        const char *l[] = {"route", route_labels[r]};
        sample(out, "backend_http_request_duration_seconds_count", l, 1, total);
    }

    header(out, "backend_ingest_rejections_total", "counter",
           "Event and capture bodies refused with a 400 (an ingest_rejections row), by route and reason.");
    for (size_t r = 0; r < n; r++) {
        for (int k = 0; k < MR_COUNT; k++) {
            uint64_t v = get(&t->rejections[r][k]);
            if (!v)
                continue;
            const char *l[] = {"route", route_labels[r], "reason", REJECT_NAMES[k]};
            sample(out, "backend_ingest_rejections_total", l, 2, v);
        }
    }

    header(out, "backend_rate_limited_total", "counter", "Requests refused with 429, by rate-limit class.");
    for (int c = 0; c < RL_CLASS_COUNT; c++) {
        const char *l[] = {"class", RL_NAMES[c]};
        sample(out, "backend_rate_limited_total", l, 1, get(&t->rate_limited[c]));
    }

    header(out, "backend_db_connects_total", "counter",
           "Responder connection attempts to Postgres, by result.");
    const char *ok[] = {"result", "ok"}, *failed[] = {"result", "failed"};
    sample(out, "backend_db_connects_total", ok, 1, get(&t->db_connects_ok));
    sample(out, "backend_db_connects_total", failed, 1, get(&t->db_connects_failed));
    header(out, "backend_db_reconnects_total", "counter",
           "Responder connections made after the responder's previous one was dropped or recycled.");
    sample(out, "backend_db_reconnects_total", NULL, 0, get(&t->db_reconnects));
    header(
        out, "backend_db_errors_total", "counter",
        "Responder statements that failed: unavailable (answered 503) or statement (refused by the server).");
    const char *unav[] = {"kind", "unavailable"}, *stmt[] = {"kind", "statement"};
    sample(out, "backend_db_errors_total", unav, 1, get(&t->db_errors[MDB_UNAVAILABLE]));
    sample(out, "backend_db_errors_total", stmt, 1, get(&t->db_errors[MDB_STATEMENT]));

    header(out, "backend_responders", "gauge", "FastCGI responders running now.");
    sample(out, "backend_responders", NULL, 0, (uint64_t)metrics_live_responders());

    if (g && g->rollup_lag_known) {
        header(out, "backend_rollup_lag_days", "gauge",
               "Days between today (UTC) and the newest rolled-up day of ROLLUP_DEFAULT_PROPERTY_ID.");
        char line[64];
        int k = snprintf(line, sizeof(line), "backend_rollup_lag_days %ld\n", g->rollup_lag_days);
        buf_put(out, line, (size_t)k);
    }

    if (g && g->webhook_known) {
        header(out, "backend_webhook_outbox_rows", "gauge",
               "Webhook outbox rows by state (pending: not yet delivered, retried; failed: gave up).");
        char line[160];
        const char *names[] = {"pending", "delivered", "failed"};
        long v[] = {g->webhook_pending, g->webhook_delivered, g->webhook_failed};
        for (size_t i = 0; i < ARRAY_LEN(names); i++) {
            int k = snprintf(line, sizeof(line), "backend_webhook_outbox_rows{state=\"%s\"} %ld\n", names[i],
                             v[i]);
            buf_put(out, line, (size_t)k);
        }
        header(out, "backend_webhook_oldest_pending_seconds", "gauge",
               "Age of the oldest pending webhook outbox row (0: none pending).");
        int k = snprintf(line, sizeof(line), "backend_webhook_oldest_pending_seconds %ld\n",
                         g->webhook_oldest_pending_s);
        buf_put(out, line, (size_t)k);
    }

    header(out, "backend_scheduler_jobs_total", "counter",
           "Scheduler job runs by job and outcome (ok, failed, error: database, skipped: locked elsewhere).");
    for (int j = 0; j < MJ_COUNT; j++) {
        for (int o = 0; o < MO_COUNT; o++) {
            const char *l[] = {"job", JOB_NAMES[j], "outcome", OUTCOME_NAMES[o]};
            sample(out, "backend_scheduler_jobs_total", l, 2, get(&t->jobs[j][o]));
        }
    }
}

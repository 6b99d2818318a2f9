/* serve.c - one single-threaded responder: accept, handle, answer, reset the arena. */
#include "cmd/serve.h"

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/app.h"
#include "core/arena.h"
#include "store/db.h"
#include "api/handlers.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/ratelimit.h"
#include "http/router.h"
#include "core/rundir.h"

static void on_stop(int sig)
{
    (void)sig;
    FCGX_ShutdownPending(); /* finish the current request, then leave the accept loop */
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop; /* no SA_RESTART: a blocked accept() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int read_fcgx(void *ctx, char *buf, int n)
{
    FCGX_Request *r = ctx;
    return FCGX_GetStr(buf, n, r->in);
}

/* The response goes straight to libfcgi's stream; a flush sends a streamed body's chunk now. */
static int fcgx_write(void *ctx, const char *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        int k = n - done > INT_MAX ? INT_MAX : (int)(n - done);
        if (FCGX_PutStr(p + done, k, ctx) != k)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

static int fcgx_flush(void *ctx)
{
    return FCGX_FFlush(ctx) == 0 ? 0 : -1;
}

int serve_metrics_open(const struct config *cfg)
{
    char err[256], path[128];
    const char *labels[METRICS_ROUTE_SLOTS];
    int n = router_slot_labels(labels, ARRAY_LEN(labels));
    if (n < 0) {
        log_error("the route tables have more routes than METRICS_ROUTE_SLOTS (bounds.h)");
        return -1;
    }
    if (rundir_check(cfg->run_dir, false, err, sizeof(err)) != 0) {
        log_error("%s; no metrics", err);
        return -1;
    }
    int k = snprintf(path, sizeof(path), "%s/metrics.shm", cfg->run_dir);
    if (k < 0 || (size_t)k >= sizeof(path) ||
        metrics_open(path, metrics_fingerprint(labels, (size_t)n)) != 0) {
        log_error("cannot map the metrics table %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static enum metrics_method method_of(enum http_method m)
{
    switch (m) {
    case M_GET:
        return MM_GET;
    case M_HEAD:
        return MM_HEAD;
    case M_POST:
        return MM_POST;
    case M_OPTIONS:
        return MM_OPTIONS;
    default:
        return MM_OTHER;
    }
}

int serve_main(const struct config *cfg)
{
    int rc = 1;
    char rl_path[128];
    struct arena arena;
    arena_init(&arena, ARENA_MAX_BYTES);

    if (FCGX_Init() != 0 || FCGX_IsCGI()) {
        log_error("serve must be spawned by lighttpd with a FastCGI socket on fd 0");
        return 2;
    }
    install_signals();
    char err[256];
    if (rundir_check(cfg->run_dir, false, err, sizeof(err)) != 0) {
        log_error("%s; not starting", err);
        return 1;
    }
    int n = snprintf(rl_path, sizeof(rl_path), "%s/ratelimit.shm", cfg->run_dir);
    if (n < 0 || (size_t)n >= sizeof(rl_path) || ratelimit_open(rl_path) != 0) {
        log_error("cannot map the rate-limit table %s: %s; not starting", rl_path, strerror(errno));
        return 1;
    }
    ratelimit_set_ipv6_prefix(cfg->rate_limit_ipv6_prefix);
    if (serve_metrics_open(cfg) != 0)
        return 1; /* the same RUN_DIR as the rate-limit table: only a bug or a full disk gets here */
    metrics_responder_join();
    if (ready_init(cfg) != 0)
        goto out;
    db_init(cfg);
    (void)db_ensure(); /* connect and prepare now; a database that is down only means 503s */

    FCGX_Request r;
    if (FCGX_InitRequest(&r, 0, 0) != 0)
        goto out;
    if (!cfg->erasure_keys.from_secret)
        log_warn("ERASURE_LOG_SECRET is unset: erasure proofs are keyed with a key derived from "
                 "IP_HASH_PEPPER (changing the pepper makes earlier proofs unanswerable)");
    log_info("responder ready");
    while (FCGX_Accept_r(&r) >= 0) {
        struct timespec t0 = clock_mono_now();
        struct request req;
        memset(&req, 0, sizeof(req));
        req.arena = &arena;
        req.params = r.envp;
        req.read_body = read_fcgx;
        req.read_ctx = &r;
        http_parse_request(&req);
        /* lighttpd's id for this request (lighttpd/request-id.lua): on every line logged while it
         * is handled, as on its access log line */
        struct str rid = http_param(&req, "REQUEST_ID");
        log_set_request_id(rid.p, rid.n);
        db_begin_request(REQUEST_DB_BUDGET_MS);

        struct response resp;
        memset(&resp, 0, sizeof(resp));
        app_handle(cfg, &req, &resp, time(NULL));
        /* a 503 repeats on every request of an outage: rate-limited with the database's own lines */
        if (resp.status == 503)
            log_repeat_msg(log_outage(), LOG_WARN, "%.*s %.*s -> 503", (int)req.method_name.n,
                           req.method_name.p ? req.method_name.p : "",
                           (int)(req.path.n > 200 ? 200 : req.path.n), req.path.p);
        else
            /* every answer at LOG_LEVEL=debug, a 5xx always; the path has no query string */
            log_msg(resp.status >= 500 ? LOG_WARN : LOG_DEBUG, "%.*s %.*s -> %d", (int)req.method_name.n,
                    req.method_name.p ? req.method_name.p : "", (int)(req.path.n > 200 ? 200 : req.path.n),
                    req.path.p, resp.status);

        struct http_sink sink = {fcgx_write, fcgx_flush, r.out};
        (void)http_write_response(&req, &resp, &sink);
        metrics_request(req.route_slot, method_of(req.method), resp.status,
                        (uint64_t)(clock_since_ms(&t0) * 1000.0));
        http_response_free(&resp);
        /* Read what is left of the input (at least lighttpd's end-of-stdin record), so that nothing
         * unread remains and the connection can be closed at once: libfcgi's default is a
         * "lingering" close that waits for lighttpd to close its end first, which keeps the
         * responder from its next request while lighttpd is busy. */
        char drain[1024];
        while (FCGX_GetStr(drain, (int)sizeof(drain), r.in) > 0)
            ;
        r.detached = 1;
        FCGX_Finish_r(&r);
        r.detached = 0;
        arena_reset(&arena);
        log_set_request_id(NULL, 0);
    }
    FCGX_Free(&r, 1);
    log_info("responder stopping");
    rc = 0;
out:
    db_close();
    ready_free();
    metrics_responder_leave();
    metrics_close();
    ratelimit_close();
    arena_free(&arena);
    return rc;
}

/* test_app.c - the request pipeline (app_handle) without a database: routing answers, preflights,
 * CORS decoration and rate limiting. The database URL points at a closed port, so /v1/readyz
 * answers 503 database_unavailable at once. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/app.h"
#include "store/db.h"
#include "core/hash.h"
#include "core/bounds.h"
#include "core/log.h"
#include "http/ratelimit.h"
#include "t.h"
#include "treq.h"

static const char *num(long v)
{
    static char bufs[4][32];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%ld", v);
    return b;
}

/* The start of a rate-limit window; requests are sent at T0 + offsets. */
#define T0 ((time_t)RATELIMIT_WINDOW_SECONDS * 28333334)

static struct config cfg;
static char origin_a[] = "https://a.example";

/* Sends one request through app_handle at time now. */
static void app_send(struct treq *t, time_t now, const char *const *params)
{
    treq_init(t, params);
    db_begin_request(1800);
    app_handle(&cfg, &t->req, &t->resp, now);
}

#define SEND(t, now, ...) app_send((t), (now), (const char *const[]){__VA_ARGS__, NULL})

static void test_not_found(void)
{
    static const char *const uris[] = {
        "REQUEST_URI=/v1/nope",     "REQUEST_URI=/v1/readyz/", "REQUEST_URI=/v1/READYZ",
        "REQUEST_URI=/v1/readyz/x", "REQUEST_URI=/v1/",        "REQUEST_URI=/",
        "REQUEST_URI=/v1/healthz",
    };
    for (size_t i = 0; i < ARRAY_LEN(uris); i++) {
        struct treq t;
        SEND(&t, T0, "REQUEST_METHOD=GET", uris[i], "REMOTE_ADDR=192.0.2.1");
        if (t.resp.status != 404 || strcmp(body_json(&t), "{\"ok\":false,\"error\":\"not_found\"}") != 0) {
            t_failed++;
            fprintf(stderr, "FAIL GET %s: %d %s\n", uris[i], t.resp.status, body_json(&t));
        } else {
            t_passed++;
        }
        CHECK(header(&t, "X-RateLimit-Limit") == NULL);
        CHECK(header(&t, "Allow") == NULL);
        treq_free(&t);
    }

    /* unknown methods on unknown paths are 404 too */
    struct treq t;
    SEND(&t, T0, "REQUEST_METHOD=DELETE", "REQUEST_URI=/v1/nope");
    CHECK_INT(t.resp.status, 404);
    treq_free(&t);
}

static void test_method_not_allowed(void)
{
    static const char *const methods[] = {"REQUEST_METHOD=POST", "REQUEST_METHOD=PUT",
                                          "REQUEST_METHOD=DELETE", "REQUEST_METHOD=get"};
    for (size_t i = 0; i < ARRAY_LEN(methods); i++) {
        struct treq t;
        SEND(&t, T0, methods[i], "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=192.0.2.2");
        CHECK_INT(t.resp.status, 405);
        CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"method_not_allowed\"}");
        CHECK_STR(header(&t, "Allow"), "GET, HEAD");
        CHECK(header(&t, "X-RateLimit-Limit") == NULL);
        treq_free(&t);
    }
}

static void test_preflight(void)
{
    struct treq t;
    SEND(&t, T0, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/anything", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=content-type");
    CHECK_INT(t.resp.status, 204);
    CHECK(t.resp.body == NULL);
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    CHECK_STR(header(&t, "Access-Control-Allow-Methods"), "GET, HEAD, POST");
    CHECK_STR(header(&t, "Access-Control-Allow-Headers"), "content-type");
    CHECK_STR(header(&t, "Access-Control-Max-Age"), "600");
    CHECK_STR(header(&t, "Vary"), "Origin");
    CHECK(header(&t, "X-RateLimit-Limit") == NULL);
    size_t len = 0;
    char *out = http_serialize(&t.req, &t.resp, &len);
    CHECK(strncmp(out, "Status: 204 No Content\r\n", 24) == 0);
    CHECK(strstr(out, "Content-Type") == NULL);
    free(out);
    treq_free(&t);

    SEND(&t, T0, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/readyz", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET");
    CHECK_INT(t.resp.status, 204);
    treq_free(&t);

    SEND(&t, T0, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/events", "HTTP_ORIGIN=https://evil.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST");
    CHECK_INT(t.resp.status, 403);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"origin_not_allowed\"}");
    CHECK_INT(t.resp.header_count, 0);
    treq_free(&t);

    SEND(&t, T0, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/events", "HTTP_ORIGIN=https://a.example");
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(json_string_value(json_object_get(t.resp.body, "error")), "invalid_request");
    treq_free(&t);

    /* OPTIONS outside /v1/ is not a preflight */
    SEND(&t, T0, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/other", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET");
    CHECK_INT(t.resp.status, 404);
    treq_free(&t);
}

static void test_cors_decoration(void)
{
    struct treq t;
    SEND(&t, T0, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/nope", "HTTP_ORIGIN=https://a.example");
    CHECK_INT(t.resp.status, 404);
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    CHECK_STR(header(&t, "Vary"), "Origin");
    treq_free(&t);

    SEND(&t, T0, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/readyz", "HTTP_ORIGIN=https://evil.example");
    CHECK_INT(t.resp.status, 405);
    CHECK(header(&t, "Access-Control-Allow-Origin") == NULL);
    CHECK(header(&t, "Vary") == NULL);
    treq_free(&t);
}

/* ENFORCE_ORIGIN in the pipeline: after routing, before the rate limiter, auth and the body. */
static void test_origin_check(void)
{
    const time_t now = T0 + 5;
    cfg.rate_limits[RL_UNSUBSCRIBE] = 2;
    struct treq t;

    /* foreign writes: 403, no rate-limit headers, no CORS headers, not counted */
    static const char *const foreign[] = {"HTTP_ORIGIN=https://evil.example", "HTTP_ORIGIN=null",
                                          "HTTP_ORIGIN=https://api.example"};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ARRAY_LEN(foreign); i++) {
            SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/leads/unsubscribe",
                 "REMOTE_ADDR=203.0.113.9", "HTTP_HOST=api.example", foreign[i], "CONTENT_TYPE=text/html",
                 "CONTENT_LENGTH=5");
            CHECK_INT(t.resp.status, 403);
            CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"origin_not_allowed\"}");
            CHECK_INT(t.resp.header_count, 0);
            treq_free(&t);
        }
    }
    /* the events and capture routes too, whatever the body (no rejection row: nothing is read) */
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/events", "REMOTE_ADDR=203.0.113.9",
         "HTTP_ORIGIN=https://evil.example", "CONTENT_TYPE=text/plain", "CONTENT_LENGTH=1");
    CHECK_INT(t.resp.status, 403);
    treq_free(&t);
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/leads/capture", "REMOTE_ADDR=203.0.113.9",
         "HTTP_ORIGIN=https://evil.example", "CONTENT_TYPE=application/x-www-form-urlencoded",
         "CONTENT_LENGTH=0");
    CHECK_INT(t.resp.status, 403);
    treq_free(&t);
    /* routing answers first */
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/nope", "HTTP_ORIGIN=https://evil.example");
    CHECK_INT(t.resp.status, 404);
    treq_free(&t);
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/readyz", "HTTP_ORIGIN=https://evil.example");
    CHECK_INT(t.resp.status, 405);
    treq_free(&t);
    /* a read is processed (the browser keeps the answer from the page) */
    SEND(&t, now, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=203.0.113.10",
         "HTTP_ORIGIN=https://evil.example");
    CHECK_INT(t.resp.status, 503);
    CHECK(header(&t, "Access-Control-Allow-Origin") == NULL);
    treq_free(&t);

    /* allowed, self, no Origin: processed (an empty body is a 400), and the first counted request */
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/leads/unsubscribe", "REMOTE_ADDR=203.0.113.9",
         "HTTP_ORIGIN=https://a.example");
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "1");
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    treq_free(&t);
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/leads/unsubscribe", "REMOTE_ADDR=203.0.113.11",
         "HTTP_ORIGIN=http://api.example", "HTTP_HOST=api.example");
    CHECK_INT(t.resp.status, 400);
    CHECK(header(&t, "Access-Control-Allow-Origin") == NULL); /* same-origin needs none */
    treq_free(&t);
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/leads/unsubscribe", "REMOTE_ADDR=203.0.113.12");
    CHECK_INT(t.resp.status, 400);
    treq_free(&t);

    /* ENFORCE_ORIGIN=false: the foreign write is processed as before */
    cfg.enforce_origin = false;
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/leads/unsubscribe", "REMOTE_ADDR=203.0.113.13",
         "HTTP_ORIGIN=https://evil.example");
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "1");
    treq_free(&t);
    cfg.enforce_origin = true;
    cfg.rate_limits[RL_UNSUBSCRIBE] = 0;
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RATE_LIMIT_MAX = 2: two answers (503s here), then 429 with Retry-After and X-RateLimit-*. */
static void test_rate_limit(void)
{
    const time_t now = T0 + 15;
    const long reset = RATELIMIT_WINDOW_SECONDS - 15;
    struct treq t;

    int64_t started = ms_now();
    SEND(&t, now, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7",
         "HTTP_ORIGIN=https://a.example");
    CHECK(ms_now() - started < 2000); /* a dead database is a fast 503 */
    CHECK_INT(t.resp.status, 503);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"database_unavailable\"}");
    CHECK_STR(header(&t, "Retry-After"), num(DB_RETRY_AFTER_S));
    CHECK_STR(header(&t, "X-RateLimit-Limit"), "2");
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "1");
    CHECK_STR(header(&t, "X-RateLimit-Reset"), num(reset));
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    treq_free(&t);

    /* 404s, 405s and preflights in between do not count */
    for (int i = 0; i < 3; i++) {
        SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7");
        CHECK_INT(t.resp.status, 405);
        treq_free(&t);
        SEND(&t, now, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/nope", "REMOTE_ADDR=198.51.100.7");
        CHECK_INT(t.resp.status, 404);
        treq_free(&t);
        SEND(&t, now, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7",
             "HTTP_ORIGIN=https://a.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET");
        CHECK_INT(t.resp.status, 204);
        treq_free(&t);
    }

    /* HEAD shares GET's count */
    SEND(&t, now, "REQUEST_METHOD=HEAD", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7");
    CHECK_INT(t.resp.status, 503);
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "0");
    size_t len = 0;
    char *out = http_serialize(&t.req, &t.resp, &len);
    CHECK(len >= 4 && strcmp(out + len - 4, "\r\n\r\n") == 0); /* HEAD: no body */
    CHECK(strstr(out, "\r\nX-RateLimit-Remaining: 0\r\n") != NULL);
    free(out);
    treq_free(&t);

    /* request number limit+1 */
    SEND(&t, now, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7",
         "HTTP_ORIGIN=https://a.example");
    CHECK_INT(t.resp.status, 429);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"rate_limited\"}");
    CHECK_STR(header(&t, "Retry-After"), num(reset));
    CHECK_STR(header(&t, "X-RateLimit-Limit"), "2");
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "0");
    CHECK_STR(header(&t, "X-RateLimit-Reset"), num(reset));
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    /* a page can read the 429's back-off headers */
    CHECK_STR(header(&t, "Access-Control-Expose-Headers"),
              "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset");
    CHECK_STR(header(&t, "Access-Control-Allow-Credentials"), "true");
    out = http_serialize(&t.req, &t.resp, &len);
    CHECK(strncmp(out, "Status: 429 Too Many Requests\r\n", 31) == 0);
    free(out);
    treq_free(&t);

    /* another client is not affected */
    SEND(&t, now, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.8");
    CHECK_INT(t.resp.status, 503);
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "1");
    treq_free(&t);

    /* a 405 from the limited client is still a 405 */
    SEND(&t, now, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7");
    CHECK_INT(t.resp.status, 405);
    treq_free(&t);

    /* the next window starts over */
    SEND(&t, T0 + RATELIMIT_WINDOW_SECONDS, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz",
         "REMOTE_ADDR=198.51.100.7");
    CHECK_INT(t.resp.status, 503);
    CHECK_STR(header(&t, "X-RateLimit-Remaining"), "1");
    CHECK_STR(header(&t, "X-RateLimit-Reset"), num(RATELIMIT_WINDOW_SECONDS));
    treq_free(&t);

    /* limit 0: never limited, and no rate-limit headers */
    cfg.rate_limits[RL_DEFAULT] = 0;
    for (int i = 0; i < 5; i++) {
        SEND(&t, now, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz", "REMOTE_ADDR=198.51.100.7");
        CHECK_INT(t.resp.status, 503);
        CHECK(header(&t, "X-RateLimit-Limit") == NULL);
        treq_free(&t);
    }
    cfg.rate_limits[RL_DEFAULT] = 2;
}

int main(void)
{
    CHECK_INT(hash_init(), 0);
    log_set_level(LOG_ERROR); /* the failed connects are expected */

    memset(&cfg, 0, sizeof(cfg));
    cfg.database_url = "postgresql://x@127.0.0.1:1/x";
    cfg.database_schema = "public";
    cfg.max_body_bytes = BODY_BYTES_DEFAULT;
    cfg.cors_origins[0] = origin_a;
    cfg.cors_origin_count = 1;
    cfg.rate_limits[RL_DEFAULT] = 2;
    cfg.enforce_origin = true;

    char table[] = "/tmp/test-app-ratelimit-XXXXXX";
    int fd = mkstemp(table);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    CHECK_INT(ratelimit_open(table), 0);
    db_init(&cfg);

    test_not_found();
    test_method_not_allowed();
    test_preflight();
    test_cors_decoration();
    test_origin_check();
    test_rate_limit();

    db_close();
    ratelimit_close();
    unlink(table);
    return t_done("test_app");
}

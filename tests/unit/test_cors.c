/* test_cors.c - the Origin allowlist, preflights and response decoration (API.md §2, CORS). */
#include <stdlib.h>
#include <string.h>

#include "http/cors.h"
#include "core/bounds.h"
#include "t.h"
#include "treq.h"

/* The path of the only issue of a 400 body, NULL when there is not exactly one. */
static const char *only_issue_path(const struct treq *t)
{
    json_t *issues = json_object_get(t->resp.body, "issues");
    if (json_array_size(issues) != 1)
        return NULL;
    return json_string_value(json_object_get(json_array_get(issues, 0), "path"));
}

static char origin_a[] = "https://a.example";
static char origin_b[] = "http://localhost:8080";

static struct config cfg;

static void setup_config(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.cors_origins[0] = origin_a;
    cfg.cors_origins[1] = origin_b;
    cfg.cors_origin_count = 2;
    cfg.enforce_origin = true;
}

static void test_allowed(void)
{
    CHECK(cors_origin_allowed(&cfg, STRLIT("https://a.example")));
    CHECK(cors_origin_allowed(&cfg, STRLIT("http://localhost:8080")));
    /* exact comparison: no trailing slash, no case folding, no prefix or suffix match, no port change */
    CHECK(!cors_origin_allowed(&cfg, STRLIT("https://a.example/")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("HTTPS://A.EXAMPLE")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("https://A.example")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("https://a.exampl")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("https://a.example.evil.com")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("http://a.example")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("https://a.example:443")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT(" https://a.example")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("null")));
    CHECK(!cors_origin_allowed(&cfg, STRLIT("")));
    CHECK(!cors_origin_allowed(&cfg, ((struct str){NULL, 0})));

    struct config empty;
    memset(&empty, 0, sizeof(empty));
    CHECK(!cors_origin_allowed(&empty, STRLIT("https://a.example")));
}

static void test_preflight_allowed(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/events", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST",
         "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=content-type, x-admin-key");
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 204);
    CHECK(t.resp.body == NULL);
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    CHECK_STR(header(&t, "Access-Control-Allow-Methods"), "GET, HEAD, POST");
    CHECK_STR(header(&t, "Access-Control-Allow-Headers"), "content-type, x-admin-key");
    CHECK_STR(header(&t, "Access-Control-Max-Age"), "600");
    CHECK_STR(header(&t, "Vary"), "Origin");
    /* sendBeacon sends credentials: without this its application/json preflight fails */
    CHECK_STR(header(&t, "Access-Control-Allow-Credentials"), "true");
    treq_free(&t);

    /* no Access-Control-Request-Headers: no Allow-Headers */
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/readyz", "HTTP_ORIGIN=http://localhost:8080",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET");
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 204);
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "http://localhost:8080");
    CHECK(header(&t, "Access-Control-Allow-Headers") == NULL);
    CHECK_STR(header(&t, "Access-Control-Max-Age"), "600");
    treq_free(&t);

    /* an empty header list is not echoed */
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=");
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 204);
    CHECK(header(&t, "Access-Control-Allow-Headers") == NULL);
    treq_free(&t);

    /* a body left by an earlier step is dropped */
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST");
    http_reply_json(&t.resp, 400, json_pack("{s:b}", "ok", 0));
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 204);
    CHECK(t.resp.body == NULL);
    treq_free(&t);
}

static void test_preflight_refused(void)
{
    static const char *const origins[] = {
        "HTTP_ORIGIN=https://evil.example",
        "HTTP_ORIGIN=https://a.example/",
        "HTTP_ORIGIN=HTTPS://A.EXAMPLE",
        "HTTP_ORIGIN=null",
        "HTTP_ORIGIN=",
        "NO_ORIGIN=1",
    };
    for (size_t i = 0; i < ARRAY_LEN(origins); i++) {
        struct treq t;
        TREQ(&t, "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/v1/events", origins[i],
             "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=content-type");
        cors_preflight(&cfg, &t.req, &t.resp);
        CHECK_INT(t.resp.status, 403);
        CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"origin_not_allowed\"}");
        CHECK_INT(t.resp.header_count, 0); /* no CORS headers at all */
        treq_free(&t);
    }
}

static void test_preflight_invalid(void)
{
    /* Access-Control-Request-Method missing or blank */
    static const char *const methods[] = {
        "NO_METHOD=1", "HTTP_ACCESS_CONTROL_REQUEST_METHOD=", "HTTP_ACCESS_CONTROL_REQUEST_METHOD=  "};
    for (size_t i = 0; i < ARRAY_LEN(methods); i++) {
        struct treq t;
        TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example", methods[i]);
        cors_preflight(&cfg, &t.req, &t.resp);
        CHECK_INT(t.resp.status, 400);
        CHECK_STR(json_string_value(json_object_get(t.resp.body, "error")), "invalid_request");
        CHECK(json_is_false(json_object_get(t.resp.body, "ok")));
        CHECK_STR(only_issue_path(&t), "");
        CHECK(header(&t, "Access-Control-Allow-Methods") == NULL);
        treq_free(&t);
    }

    /* a header list that is not header names */
    static const char *const lists[] = {
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=content-type; x=1",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=x-a:b",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=x-a\"",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=x-a(b)",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=x-\x01",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=x-\xc3\xa9",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=a/b",
    };
    for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
        struct treq t;
        TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example",
             "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", lists[i]);
        cors_preflight(&cfg, &t.req, &t.resp);
        if (t.resp.status != 400 || !only_issue_path(&t)) {
            t_failed++;
            fprintf(stderr, "FAIL preflight with %s: status %d\n", lists[i], t.resp.status);
        } else {
            t_passed++;
        }
        CHECK(header(&t, "Access-Control-Allow-Headers") == NULL);
        treq_free(&t);
    }

    /* every token character and separators are fine */
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST",
         "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=A-Z_a.z0~9!#$%&'*+^`|,\tx");
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 204);
    CHECK_STR(header(&t, "Access-Control-Allow-Headers"), "A-Z_a.z0~9!#$%&'*+^`|,\tx");
    treq_free(&t);
}

/* CORS_MAX_REQUEST_HEADERS_LEN: echoed at the limit, refused one past it. */
static void test_request_headers_len(void)
{
    static const char prefix[] = "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=";
    char param[sizeof(prefix) + CORS_MAX_REQUEST_HEADERS_LEN + 1];
    memcpy(param, prefix, sizeof(prefix) - 1);
    char *list = param + sizeof(prefix) - 1;
    for (size_t i = 0; i < CORS_MAX_REQUEST_HEADERS_LEN + 1; i++)
        list[i] = (i % 8 == 7) ? ',' : 'x';
    list[CORS_MAX_REQUEST_HEADERS_LEN] = '\0';

    struct treq t;
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", param);
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 204);
    const char *echoed = header(&t, "Access-Control-Allow-Headers");
    CHECK(echoed != NULL && strlen(echoed) == CORS_MAX_REQUEST_HEADERS_LEN);
    treq_free(&t);

    list[CORS_MAX_REQUEST_HEADERS_LEN] = 'x';
    list[CORS_MAX_REQUEST_HEADERS_LEN + 1] = '\0';
    TREQ(&t, "REQUEST_METHOD=OPTIONS", "HTTP_ORIGIN=https://a.example",
         "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", param);
    cors_preflight(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(only_issue_path(&t), "");
    CHECK(header(&t, "Access-Control-Allow-Headers") == NULL);
    treq_free(&t);
}

static void test_decorate(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/events", "HTTP_ORIGIN=https://a.example");
    http_error(&t.resp, 400, "invalid_json");
    cors_decorate(&cfg, &t.req, &t.resp);
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(header(&t, "Access-Control-Allow-Origin"), "https://a.example");
    CHECK_STR(header(&t, "Vary"), "Origin");
    CHECK_STR(header(&t, "Access-Control-Allow-Credentials"), "true");
    CHECK_STR(header(&t, "Access-Control-Expose-Headers"),
              "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset");
    CHECK_INT(t.resp.header_count, 4);
    treq_free(&t);

    static const char *const others[] = {"HTTP_ORIGIN=https://evil.example", "HTTP_ORIGIN=https://a.example/",
                                         "HTTP_ORIGIN=https://A.example", "NO_ORIGIN=1"};
    for (size_t i = 0; i < ARRAY_LEN(others); i++) {
        TREQ(&t, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz", others[i]);
        t.resp.status = 200;
        cors_decorate(&cfg, &t.req, &t.resp);
        CHECK_INT(t.resp.status, 200);
        CHECK_INT(t.resp.header_count, 0);
        treq_free(&t);
    }
}

static void test_self_origin(void)
{
    static const struct {
        const char *origin, *host, *https;
        bool self;
    } cases[] = {
        {"HTTP_ORIGIN=http://api.example", "HTTP_HOST=api.example", "NO_HTTPS=1", true},
        {"HTTP_ORIGIN=http://API.example:8080", "HTTP_HOST=api.EXAMPLE:8080", "NO_HTTPS=1", true},
        {"HTTP_ORIGIN=https://api.example", "HTTP_HOST=api.example", "HTTPS=on", true},
        {"HTTP_ORIGIN=https://api.example", "HTTP_HOST=api.example", "HTTPS=ON", true},
        /* the scheme must match: https only when lighttpd says the request came over TLS */
        {"HTTP_ORIGIN=https://api.example", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=https://api.example", "HTTP_HOST=api.example", "HTTP_X_FORWARDED_PROTO=https", false},
        {"HTTP_ORIGIN=https://api.example", "HTTP_HOST=api.example", "HTTPS=off", false},
        {"HTTP_ORIGIN=http://api.example", "HTTP_HOST=api.example", "HTTPS=on", false},
        /* another port, host, a prefix, a suffix, a path */
        {"HTTP_ORIGIN=http://api.example:8080", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://api.example", "HTTP_HOST=api.example:8080", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://evil.example", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://api.example.evil", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://api.exampl", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://api.example/", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=api.example", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        /* nothing to compare */
        {"HTTP_ORIGIN=null", "HTTP_HOST=null", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://", "HTTP_HOST=", "NO_HTTPS=1", false},
        {"NO_ORIGIN=1", "HTTP_HOST=api.example", "NO_HTTPS=1", false},
        {"HTTP_ORIGIN=http://api.example", "NO_HOST=1", "NO_HTTPS=1", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct treq t;
        TREQ(&t, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/events", cases[i].origin, cases[i].host,
             cases[i].https);
        if (cors_origin_is_self(&t.req) != cases[i].self) {
            t_failed++;
            fprintf(stderr, "FAIL self origin %s %s %s: want %d\n", cases[i].origin, cases[i].host,
                    cases[i].https, cases[i].self);
        } else {
            t_passed++;
        }
        treq_free(&t);
    }
}

/* ENFORCE_ORIGIN: writes from foreign pages are refused; reads, server-side calls, allowed
 * origins and the service's own pages are not. */
static void test_write_check(void)
{
    static const struct {
        const char *method, *origin;
        bool allowed;
    } cases[] = {
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=https://a.example", true},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=http://localhost:8080", true},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=http://api.example", true}, /* self */
        {"REQUEST_METHOD=POST", "NO_ORIGIN=1", true},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=", true},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=https://evil.example", false},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=null", false},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=https://a.example/", false},
        {"REQUEST_METHOD=POST", "HTTP_ORIGIN=https://api.example", false}, /* self, but not over TLS */
        {"REQUEST_METHOD=PUT", "HTTP_ORIGIN=https://evil.example", false},
        {"REQUEST_METHOD=GET", "HTTP_ORIGIN=https://evil.example", true},
        {"REQUEST_METHOD=HEAD", "HTTP_ORIGIN=null", true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct treq t;
        TREQ(&t, cases[i].method, "REQUEST_URI=/v1/events", cases[i].origin, "HTTP_HOST=api.example");
        t.resp.status = 500;
        bool ok = cors_write_allowed_or_reply(&cfg, &t.req, &t.resp);
        bool replied = t.resp.status == 403 &&
                       strcmp(body_json(&t), "{\"ok\":false,\"error\":\"origin_not_allowed\"}") == 0;
        if (ok != cases[i].allowed || replied == ok || t.resp.header_count != 0) {
            t_failed++;
            fprintf(stderr, "FAIL write check %s %s: allowed %d, status %d\n", cases[i].method,
                    cases[i].origin, ok, t.resp.status);
        } else {
            t_passed++;
        }
        treq_free(&t);

        /* ENFORCE_ORIGIN=false lets everything through */
        cfg.enforce_origin = false;
        TREQ(&t, cases[i].method, "REQUEST_URI=/v1/events", cases[i].origin, "HTTP_HOST=api.example");
        t.resp.status = 500;
        CHECK(cors_write_allowed_or_reply(&cfg, &t.req, &t.resp));
        CHECK_INT(t.resp.status, 500);
        CHECK(t.resp.body == NULL);
        treq_free(&t);
        cfg.enforce_origin = true;
    }
}

int main(void)
{
    setup_config();
    test_allowed();
    test_preflight_allowed();
    test_preflight_refused();
    test_preflight_invalid();
    test_request_headers_len();
    test_decorate();
    test_self_origin();
    test_write_check();
    return t_done("test_cors");
}

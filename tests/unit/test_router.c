/* test_router.c - the route table: exact paths, methods, HEAD with GET, the Allow list. */
#include <string.h>

#include "api/handlers.h"
#include "http/router.h"
#include "t.h"

static void test_find(void)
{
    unsigned allowed = 12345;
    const struct route *r = router_find(STRLIT("/v1/readyz"), M_GET, &allowed);
    CHECK(r != NULL);
    if (r) {
        CHECK_STR(r->path, "/v1/readyz");
        CHECK(r->handler == h_readyz);
        CHECK_INT(r->rl, RL_DEFAULT);
        CHECK_INT(r->flags & ROUTE_ADMIN, 0);
    }
    CHECK_INT(allowed, M_GET | M_HEAD);

    /* HEAD works wherever GET does, and is the same route */
    CHECK(router_find(STRLIT("/v1/readyz"), M_HEAD, &allowed) == r);

    /* known path, other method: NULL and the methods it has */
    static const enum http_method others[] = {M_POST, M_OPTIONS, M_OTHER};
    for (size_t i = 0; i < ARRAY_LEN(others); i++) {
        allowed = 0;
        CHECK(router_find(STRLIT("/v1/readyz"), others[i], &allowed) == NULL);
        CHECK_INT(allowed, M_GET | M_HEAD);
    }

    /* POST-only routes */
    allowed = 0;
    r = router_find(STRLIT("/v1/events"), M_POST, &allowed);
    CHECK(r != NULL);
    if (r) {
        CHECK(r->handler == h_events);
        CHECK_INT(r->rl, RL_EVENTS);
        CHECK(r->flags & ROUTE_BODY_JSON);
        CHECK_INT(r->flags & (ROUTE_ADMIN | ROUTE_BODY_FORM), 0);
        CHECK(r->on_reject != NULL);
    }
    CHECK_INT(allowed, M_POST);
    CHECK(router_find(STRLIT("/v1/events"), M_GET, &allowed) == NULL);
    CHECK_INT(allowed, M_POST);
    CHECK(router_find(STRLIT("/v1/events"), M_HEAD, &allowed) == NULL);
    CHECK_INT(allowed, M_POST);

    /* paths are exact */
    static const char *const unknown[] = {"/v1/readyz/", "/v1/READYZ", "/v1/readyzz", "/v1/ready",
                                          "/v1//readyz", "v1/readyz",  "/readyz",     "/v1/",
                                          "/",           "",           "/v1/readyz?", "/v1/healthz",
                                          "/v1/events/", "/v1/Events"};
    for (size_t i = 0; i < ARRAY_LEN(unknown); i++) {
        allowed = 99;
        if (router_find(str_from_cstr(unknown[i]), M_GET, &allowed) != NULL || allowed != 0) {
            t_failed++;
            fprintf(stderr, "FAIL path '%s' routed (allowed %u)\n", unknown[i], allowed);
        } else {
            t_passed++;
        }
    }

    /* a path that is a prefix of a route, with the route's bytes after the length */
    const char buf[] = "/v1/readyz";
    CHECK(router_find((struct str){buf, 9}, M_GET, &allowed) == NULL);
    CHECK_INT(allowed, 0);
}

static void test_allow_header(void)
{
    char out[64];
    router_allow_header(M_GET | M_HEAD, out, sizeof(out));
    CHECK_STR(out, "GET, HEAD");
    router_allow_header(M_GET | M_HEAD | M_POST, out, sizeof(out));
    CHECK_STR(out, "GET, HEAD, POST");
    router_allow_header(M_POST, out, sizeof(out));
    CHECK_STR(out, "POST");
    router_allow_header(M_POST | M_OPTIONS | M_OTHER, out, sizeof(out));
    CHECK_STR(out, "POST");
    router_allow_header(0, out, sizeof(out));
    CHECK_STR(out, "");

    /* a small buffer is never overrun and stays terminated */
    char small[8];
    memset(small, 'Z', sizeof(small));
    router_allow_header(M_GET | M_HEAD | M_POST, small, 6);
    CHECK(memchr(small, '\0', 6) != NULL);
    CHECK(small[6] == 'Z' && small[7] == 'Z');
}

int main(void)
{
    test_find();
    test_allow_header();
    return t_done("test_router");
}

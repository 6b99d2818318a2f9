/* router.c - the route table. Handlers live in h_*.c, one file per route family. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "handlers.h"

static const struct route ROUTES[] = {
    {"/v1/readyz", M_GET, h_readyz, RL_DEFAULT, 0, NULL},
    {"/v1/events", M_POST, h_events, RL_EVENTS, ROUTE_BODY_JSON, rejection_record},
    {"/v1/leads/capture", M_POST, h_capture, RL_CAPTURE, ROUTE_BODY_JSON | ROUTE_BODY_FORM, rejection_record},
    {"/v1/leads/unsubscribe", M_POST, h_unsubscribe, RL_UNSUBSCRIBE, ROUTE_BODY_JSON, NULL},
    {"/v1/leads/delete", M_POST, h_delete, RL_DELETE, ROUTE_ADMIN | ROUTE_BODY_JSON, NULL},
    {"/v1/metrics/summary", M_GET, h_summary, RL_SUMMARY, ROUTE_ADMIN, NULL},
};

const struct route *router_find(struct str path, enum http_method m, unsigned *allowed)
{
    *allowed = 0;
    for (size_t i = 0; i < ARRAY_LEN(ROUTES); i++) {
        const struct route *r = &ROUTES[i];
        if (!str_eq(path, str_from_cstr(r->path)))
            continue;
        unsigned methods = r->methods;
        if (methods & M_GET)
            methods |= M_HEAD;
        *allowed |= methods;
        if (methods & (unsigned)m)
            return r;
    }
    return NULL;
}

void router_allow_header(unsigned methods, char *out, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{M_GET, "GET"}, {M_HEAD, "HEAD"}, {M_POST, "POST"}};
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (!(methods & names[i].bit))
            continue;
        int n = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", names[i].name);
        if (n < 0 || (size_t)n >= cap - o)
            return;
        o += (size_t)n;
    }
}

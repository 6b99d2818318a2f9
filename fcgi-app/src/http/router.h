/* router.h - the route table's shape (method, path, handler, rate-limit class, flags) and its lookups. */
#ifndef ROUTER_H
#define ROUTER_H

#include <jansson.h>

#include "core/config.h"
#include "http/http.h"

enum route_flags {
    ROUTE_ADMIN = 1 << 0,     /* x-admin-key / Bearer checked before anything else */
    ROUTE_BODY_JSON = 1 << 1, /* application/json or text/plain carrying JSON */
    ROUTE_BODY_FORM = 1 << 2, /* also application/x-www-form-urlencoded */
};

/* What a handler sees: everything the table promised is already checked. */
struct ctx {
    const struct config *cfg;
    struct request *req;
    struct response *resp;
    json_t *body;   /* the parsed JSON object for body routes (borrowed), else NULL */
    bool form_post; /* the body came form-urlencoded */
};

typedef void (*route_handler)(struct ctx *c);
/* Called when the pipeline refuses a body with a 400 (reason = the error code). */
typedef void (*route_reject_hook)(struct ctx *c, const char *reason);

struct route {
    const char *path;
    unsigned methods; /* enum http_method bits; GET implies HEAD */
    route_handler handler;
    enum rl_class rl;
    unsigned flags;
    route_reject_hook on_reject; /* NULL: nothing to record */
};

/* The table, defined in api/routes.c (it names the handlers, which sit above this layer). */
extern const struct route ROUTES[];
extern const size_t ROUTES_LEN;

/* The routes of the metrics listener only (GET /metrics), also in api/routes.c: never served on
 * the public port, not rate limited, not in the public API's OpenAPI document. */
extern const struct route INTERNAL_ROUTES[];
extern const size_t INTERNAL_ROUTES_LEN;

/* Returns the route for (path, method), or NULL: then *allowed holds the methods the path
 * accepts (0 = unknown path → 404; else 405 with Allow). */
const struct route *router_find(struct str path, enum http_method m, unsigned *allowed);
/* The same in INTERNAL_ROUTES. */
const struct route *router_find_internal(struct str path, enum http_method m, unsigned *allowed);

/* Metrics route slots: ROUTES in order, then "other" (a path of neither table), then
 * INTERNAL_ROUTES. The slot of path on the public or the metrics listener: */
int router_slot(struct str path, bool internal);
/* The label of every slot, in order, into labels (borrowed static strings). Returns the count, or
 * -1 when more than cap (a route table outgrew METRICS_ROUTE_SLOTS). */
int router_slot_labels(const char **labels, size_t cap);
/* "GET, HEAD, POST"-style list for an Allow header into out. */
void router_allow_header(unsigned methods, char *out, size_t cap);

#endif

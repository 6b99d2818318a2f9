/* router.c - lookups in the route table. The table itself (api/routes.c) names the handlers, so it
 * lives in the layer above; this file only knows its shape. */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

static const struct route *find_in(const struct route *table, size_t len, struct str path, enum http_method m,
                                   unsigned *allowed)
{
    *allowed = 0;
    for (size_t i = 0; i < len; i++) {
        const struct route *r = &table[i];
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

const struct route *router_find(struct str path, enum http_method m, unsigned *allowed)
{
    return find_in(ROUTES, ROUTES_LEN, path, m, allowed);
}

const struct route *router_find_internal(struct str path, enum http_method m, unsigned *allowed)
{
    return find_in(INTERNAL_ROUTES, INTERNAL_ROUTES_LEN, path, m, allowed);
}

int router_slot(struct str path, bool internal)
{
    const struct route *table = internal ? INTERNAL_ROUTES : ROUTES;
    size_t len = internal ? INTERNAL_ROUTES_LEN : ROUTES_LEN;
    int first = internal ? (int)ROUTES_LEN + 1 : 0;
    for (size_t i = 0; i < len; i++) {
        if (str_eq(path, str_from_cstr(table[i].path)))
            return first + (int)i;
    }
    return (int)ROUTES_LEN; /* "other": raw paths never become labels (unbounded, personal) */
}

int router_slot_labels(const char **labels, size_t cap)
{
    if (ROUTES_LEN + 1 + INTERNAL_ROUTES_LEN > cap)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < ROUTES_LEN; i++)
        labels[n++] = ROUTES[i].path;
    labels[n++] = "other";
    for (size_t i = 0; i < INTERNAL_ROUTES_LEN; i++)
        labels[n++] = INTERNAL_ROUTES[i].path;
    return (int)n;
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

/* router.c - lookups in the route table. The table itself (api/routes.c) names the handlers, so it
 * lives in the layer above; this file only knows its shape. */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

const struct route *router_find(struct str path, enum http_method m, unsigned *allowed)
{
    *allowed = 0;
    for (size_t i = 0; i < ROUTES_LEN; i++) {
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

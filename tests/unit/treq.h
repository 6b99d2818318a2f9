/* treq.h - a request for unit tests, built from a params list ("NAME=value") copied into its own
 * arena, with accessors for the response. */
#ifndef TREQ_H
#define TREQ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bounds.h"
#include "http/http.h"

struct treq {
    struct arena arena;
    char *params[32];
    struct request req;
    struct response resp;
};

static inline void treq_init(struct treq *t, const char *const *params)
{
    memset(t, 0, sizeof(*t));
    arena_init(&t->arena, ARENA_MAX_BYTES);
    size_t i = 0;
    for (; params[i] && i + 1 < ARRAY_LEN(t->params); i++)
        t->params[i] = arena_strndup(&t->arena, params[i], strlen(params[i]));
    t->params[i] = NULL;
    t->req.arena = &t->arena;
    t->req.params = t->params;
    http_parse_request(&t->req);
}

static inline void treq_free(struct treq *t)
{
    http_response_free(&t->resp);
    arena_free(&t->arena);
}

#define TREQ(t, ...) treq_init((t), (const char *const[]){__VA_ARGS__, NULL})

/* A response header's value, NULL when absent ("(twice)" when it appears twice). */
static inline const char *header(const struct treq *t, const char *name)
{
    const char *found = NULL;
    for (int i = 0; i < t->resp.header_count; i++) {
        if (strcmp(t->resp.headers[i].name, name) == 0) {
            if (found) {
                fprintf(stderr, "header %s appears twice\n", name);
                return "(twice)";
            }
            found = t->resp.headers[i].value;
        }
    }
    return found;
}

/* The response body as compact JSON text (arena-owned), "(none)" without one. */
static inline const char *body_json(struct treq *t)
{
    if (!t->resp.body)
        return "(none)";
    char *s = json_dumps(t->resp.body, JSON_COMPACT);
    const char *r = s ? arena_strndup(&t->arena, s, strlen(s)) : "(dump failed)";
    free(s);
    return r;
}

#endif

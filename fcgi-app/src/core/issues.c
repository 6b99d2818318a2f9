/* issues.c - the validation issue list (see issues.h). */
#include "core/issues.h"

#include <stdlib.h>
#include <string.h>

#include "core/bounds.h"
#include "core/xalloc.h"

void issues_init(struct issues *is)
{
    is->items = NULL;
    is->n = 0;
    is->cap = 0;
}

void issues_add(struct issues *is, const char *path, const char *message)
{
    if (is->n >= ISSUES_MAX)
        return;
    if (is->n == is->cap) {
        is->cap = is->cap ? is->cap * 2 : ISSUES_INITIAL;
        if (is->cap > ISSUES_MAX)
            is->cap = ISSUES_MAX;
        is->items = xrealloc(is->items, is->cap * sizeof(*is->items));
    }
    is->items[is->n].path = xstrndup(path, strlen(path));
    is->items[is->n].message = xstrndup(message, strlen(message));
    is->n++;
}

bool issues_any(const struct issues *is)
{
    return is->n > 0;
}

void issues_free(struct issues *is)
{
    for (size_t i = 0; i < is->n; i++) {
        free(is->items[i].path);
        free(is->items[i].message);
    }
    free(is->items);
    issues_init(is);
}

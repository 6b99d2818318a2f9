/* arena.c - a list of blocks; big requests get a block of their own. */
#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/bounds.h"
#include "core/xalloc.h"

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t cap)
{
    a->head = NULL;
    a->total = 0;
    a->cap = cap;
}

static struct arena_block *block_new(struct arena *a, size_t size)
{
    if (size > a->cap || a->total > a->cap - size)
        return NULL;
    struct arena_block *b = xmalloc(sizeof(*b) + size);
    b->size = size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
    a->total += size;
    return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n)
        return NULL;
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        b = block_new(a, need > ARENA_BLOCK_BYTES ? need : ARENA_BLOCK_BYTES);
        if (!b)
            return NULL;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

struct str arena_trim_lower(struct arena *a, struct str s)
{
    struct str t = str_trim(s);
    char *p = arena_strndup(a, t.p, t.n);
    if (!p)
        return (struct str){NULL, 0};
    ascii_lower_inplace(p, t.n);
    return (struct str){p, t.n};
}

char *arena_strndup(struct arena *a, const char *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *s = arena_alloc(a, n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

void arena_reset(struct arena *a)
{
    struct arena_block *keep = NULL;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        /* keep one standard-size block: the common request never calls malloc */
        if (!keep && b->size == ARENA_BLOCK_BYTES) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    a->head = keep;
    a->total = 0;
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        a->total = keep->size;
    }
}

void arena_free(struct arena *a)
{
    arena_reset(a);
    free(a->head);
    a->head = NULL;
    a->total = 0;
}

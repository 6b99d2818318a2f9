/* arena.h - per-request bump allocator, reset after every request so nothing grows with uptime. */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

#include "core/common.h"

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t total; /* bytes held in blocks */
    size_t cap;   /* refuse to hold more than this */
};

void arena_init(struct arena *a, size_t cap);
/* Returns arena-owned memory (8-byte aligned), valid until arena_reset/arena_free;
 * NULL when the arena's cap would be exceeded (the caller answers 413/500, never aborts). */
void *arena_alloc(struct arena *a, size_t n) ATTR_WUR;
/* Copies (p, n) into the arena with a trailing NUL; NULL past the cap. Arena-owned. */
char *arena_strndup(struct arena *a, const char *p, size_t n) ATTR_WUR;
/* s with ASCII white space trimmed, copied into the arena and ASCII-lowercased (host names, media
 * types, email addresses). Arena-owned; .p NULL when the arena is full. */
struct str arena_trim_lower(struct arena *a, struct str s);
/* Keeps the first block for reuse, frees the rest. */
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

#endif

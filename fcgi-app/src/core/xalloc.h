/* xalloc.h - allocation that aborts on failure: a responder that cannot allocate is
 * respawned by lighttpd rather than limping on. Client-sized data is bounded before
 * it is allocated, so a client cannot trigger this. */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

#include "core/common.h"

/* All return memory the caller frees with free(). Never NULL. */
void *xmalloc(size_t n) __attribute__((malloc));
void *xcalloc(size_t count, size_t size) __attribute__((malloc));
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n) __attribute__((malloc));

#endif

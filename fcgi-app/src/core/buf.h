/* buf.h - a growable, always NUL-terminated byte buffer for building output. */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

struct buf {
    char *p; /* malloc'd; the caller frees it (or takes it) when done */
    size_t n, cap;
};

#define BUF_INIT                                                                                             \
    {                                                                                                        \
        NULL, 0, 0                                                                                           \
    }

/* Appends (s, n); grows by doubling, aborts on out-of-memory (xalloc). */
void buf_put(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);

#endif

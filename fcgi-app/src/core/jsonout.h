/* jsonout.h - compact JSON text for storage and for the dedupe rendering. Unlike json_dumps, a
 * real number is written in the shortest form that reads back to the same double (0.1, not
 * 0.10000000000000001, and 1771045200.123456 kept whole), so stored values are what was sent and
 * two different numbers never render alike. */
#ifndef JSONOUT_H
#define JSONOUT_H

#include <jansson.h>

#include "core/arena.h"

/* Renders v (object keys sorted when sort_keys) into the arena. NULL for a NULL v or when the
 * arena is full. Arena-owned. */
const char *jsonout_dump(struct arena *a, const json_t *v, bool sort_keys);

/* The same into a malloc'd string the caller frees; NULL for a NULL v. */
char *jsonout_dumps(const json_t *v, bool sort_keys);

/* How jsonout_escape_byte spells what it escapes. */
enum {
    JSONESC_SHORT = 1 << 0, /* \n \r \t as such (else \u000a etc.) */
    JSONESC_DEL = 1 << 1,   /* 0x7f escaped too */
};
/* The JSON escape of byte c into out (not NUL-terminated) and its length, 0 when c stands as it
 * is: '"' and '\\' with a backslash, control bytes as \u00XX (see flags). */
size_t jsonout_escape_byte(unsigned char c, unsigned flags, char out[6]);

/* d as an integer when it is one (below 1e15), else the shortest "%.Ng" (N = 15..17) that strtod
 * reads back exactly, into out. */
void jsonout_real(double d, char out[32]);

#endif

/* fuzz_common.h - pieces the libFuzzer harnesses share: a failed-property abort, a fake body
 * reader, and a UTF-8 validator written independently of jansson's. Header-only: every harness
 * is one translation unit linked against the service's objects. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

/* A property the code under test promises; a failure aborts so libFuzzer keeps the input. */
#define FZ_CHECK(cond)                                                                                       \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);                \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* The request body as the FastCGI stream would deliver it: at most chunk bytes per read (0 = no
 * limit), then 0 at the end. */
struct fz_reader {
    const uint8_t *p;
    size_t n, pos;
    int chunk;
};

static inline int fz_read(void *ctx, char *buf, int n)
{
    struct fz_reader *r = ctx;
    size_t k = r->n - r->pos;
    if (n <= 0 || k == 0)
        return 0;
    if (k > (size_t)n)
        k = (size_t)n;
    if (r->chunk > 0 && k > (size_t)r->chunk)
        k = (size_t)r->chunk;
    memcpy(buf, r->p + r->pos, k);
    r->pos += k;
    return (int)k;
}

/* Decodes one code point of strict UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF) at p[i]; returns its length, 0 when malformed. */
static inline size_t fz_utf8_next(const unsigned char *p, size_t n, size_t i, uint32_t *cp)
{
    unsigned char c = p[i];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n - i < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[i + k] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i + k] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static inline bool fz_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = fz_utf8_next(p, n, i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Number of code points of valid UTF-8, counted by decoding. */
static inline size_t fz_utf8_count(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        uint32_t cp;
        size_t k = fz_utf8_next(p, n, i, &cp);
        i += k ? k : 1;
    }
    return count;
}

static inline bool fz_has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

#define FUZZ_PEPPER "fuzz-pepper-0123456789abcdef0123456789"

/* The configuration both request harnesses start from: a database on a closed port (connects are
 * refused at once), two allowed origins, default body limit, rate limits off. */
static inline void fuzz_config(struct config *c, char *origin_a, char *origin_b)
{
    memset(c, 0, sizeof(*c));
    c->database_url = "postgresql://fuzz@127.0.0.1:1/fuzz";
    c->database_schema = "public";
    c->ip_hash_pepper = FUZZ_PEPPER;
    c->ip_hash_pepper_len = sizeof(FUZZ_PEPPER) - 1;
    c->cors_origins[0] = origin_a;
    c->cors_origins[1] = origin_b;
    c->cors_origin_count = 2;
    c->max_body_bytes = BODY_BYTES_DEFAULT;
    c->session_inactivity_minutes = 30;
    c->heuristic_link_window_minutes = 30;
    c->rollup_default_property_id = "default";
}

#endif

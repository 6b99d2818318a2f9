/* common.h - macros and the (ptr, len) string type shared by every module. */
#ifndef COMMON_H
#define COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed, not necessarily NUL-terminated byte string. */
struct str {
    const char *p;
    size_t n;
};

/* A string literal and its length, without strlen (lighttpd's CONST_STR_LEN). */
#define STRLIT(s) ((struct str){(s), sizeof(s) - 1})
/* A numeric macro's value as a string literal, for messages that quote a bound. */
#define STR_OF_(x) #x
#define STR_OF(x) STR_OF_(x)
#define CONST_STR_LEN(s) (s), (sizeof(s) - 1)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ATTR_WUR __attribute__((warn_unused_result))
#define ATTR_COLD __attribute__((cold))

static inline struct str str_from_cstr(const char *s)
{
    struct str r = {s, 0};
    if (s) {
        while (s[r.n])
            r.n++;
    }
    return r;
}

static inline bool str_eq(struct str a, struct str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++) {
        if (a.p[i] != b.p[i])
            return false;
    }
    return true;
}

static inline char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Lower-cases ASCII letters of (p, n) in place; other bytes (UTF-8 included) are left alone. */
static inline void ascii_lower_inplace(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = ascii_lower(p[i]);
}

/* ASCII-only case-insensitive comparison (header names, tokens). */
static inline bool str_eq_nocase(struct str a, struct str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++) {
        if (ascii_lower(a.p[i]) != ascii_lower(b.p[i]))
            return false;
    }
    return true;
}

static inline bool is_space_ascii(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline struct str str_trim(struct str s)
{
    while (s.n && is_space_ascii(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && is_space_ascii(s.p[s.n - 1]))
        s.n--;
    return s;
}

#endif

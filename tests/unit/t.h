/* t.h - a tiny test harness: CHECK records a result, the runner prints "N passed, N failed". */
#ifndef T_H
#define T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (cond) {                                                                                          \
            t_passed++;                                                                                      \
        } else {                                                                                             \
            t_failed++;                                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                  \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(got, want)                                                                                 \
    do {                                                                                                     \
        const char *g_ = (got), *w_ = (want);                                                                \
        if (g_ && w_ && strcmp(g_, w_) == 0) {                                                               \
            t_passed++;                                                                                      \
        } else {                                                                                             \
            t_failed++;                                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: got '%s', want '%s'\n", __FILE__, __LINE__, #got,               \
                    g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                                 \
        }                                                                                                    \
    } while (0)

#define CHECK_INT(got, want)                                                                                 \
    do {                                                                                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);                                             \
        if (g_ == w_) {                                                                                      \
            t_passed++;                                                                                      \
        } else {                                                                                             \
            t_failed++;                                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: got %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_);      \
        }                                                                                                    \
    } while (0)

/* A string for limit tests: pre, then unit n times, then post. The caller frees it. */
static inline char *rep(const char *pre, const char *unit, size_t n, const char *post)
{
    size_t pn = strlen(pre), un = strlen(unit), qn = strlen(post);
    char *s = malloc(pn + un * n + qn + 1);
    if (!s)
        abort();
    memcpy(s, pre, pn);
    for (size_t i = 0; i < n; i++)
        memcpy(s + pn + i * un, unit, un);
    memcpy(s + pn + un * n, post, qn + 1);
    return s;
}

/* Ends main(): prints the closing line CI reads and returns the exit code. */
static inline int t_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, t_passed, t_failed);
    return t_failed ? 1 : 0;
}

#endif

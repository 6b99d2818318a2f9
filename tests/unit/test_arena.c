/* test_arena.c - the per-request bump allocator: alignment, growth, the cap, reset. */
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/bounds.h"
#include "t.h"

static bool aligned8(const void *p)
{
    return ((uintptr_t)p & 7u) == 0;
}

static void test_alignment_and_separation(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    unsigned char *ptrs[64];
    size_t sizes[64];
    bool all_aligned = true;
    for (size_t i = 0; i < ARRAY_LEN(ptrs); i++) {
        sizes[i] = i * 7 % 33 + 1; /* odd sizes: 1..33 */
        ptrs[i] = arena_alloc(&a, sizes[i]);
        CHECK(ptrs[i] != NULL);
        if (!ptrs[i])
            return;
        all_aligned &= aligned8(ptrs[i]);
        memset(ptrs[i], (int)i, sizes[i]);
    }
    CHECK(all_aligned);
    /* no allocation overwrote another */
    bool intact = true;
    for (size_t i = 0; i < ARRAY_LEN(ptrs); i++) {
        for (size_t k = 0; k < sizes[i]; k++)
            intact &= ptrs[i][k] == (unsigned char)i;
    }
    CHECK(intact);

    /* a double and a pointer can live at every returned address */
    double *d = arena_alloc(&a, sizeof(double));
    CHECK(d != NULL && aligned8(d));
    if (d)
        *d = 1.5;
    void **pp = arena_alloc(&a, sizeof(void *));
    CHECK(pp != NULL && aligned8(pp));
    arena_free(&a);
}

static void test_strndup(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    char *s = arena_strndup(&a, "hello world", 5);
    CHECK_STR(s, "hello");
    char *e = arena_strndup(&a, "", 0);
    CHECK_STR(e, "");
    char *n = arena_strndup(&a, "a\0b", 3);
    CHECK(n != NULL && memcmp(n, "a\0b", 4) == 0);
    CHECK(arena_strndup(&a, "x", SIZE_MAX) == NULL);
    arena_free(&a);
}

static void test_trim_lower(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    const char src[] = " \t Application/JSON \r\n";
    struct str t = arena_trim_lower(&a, STRLIT(src));
    CHECK(t.p != NULL && t.n == 16 && memcmp(t.p, "application/json", 17) == 0);
    CHECK(t.p != src + 3); /* a copy: the source stays as it was */
    CHECK(memcmp(src + 3, "Application", 11) == 0);
    t = arena_trim_lower(&a, STRLIT("  "));
    CHECK(t.p != NULL && t.n == 0);
    arena_free(&a);
}

static void test_growth(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    /* several blocks' worth of small allocations */
    size_t got = 0;
    while (got < 3 * ARENA_BLOCK_BYTES) {
        char *p = arena_alloc(&a, 1000);
        CHECK(p != NULL);
        if (!p)
            break;
        memset(p, 'x', 1000);
        got += 1000;
    }
    CHECK(a.total > ARENA_BLOCK_BYTES);
    CHECK(a.total <= ARENA_MAX_BYTES);

    /* one allocation bigger than a block gets a block of its own, usable to its end */
    char *big = arena_alloc(&a, ARENA_BLOCK_BYTES + 1);
    CHECK(big != NULL);
    if (big)
        memset(big, 'y', ARENA_BLOCK_BYTES + 1);
    char *after = arena_alloc(&a, 16);
    CHECK(after != NULL);
    if (after)
        memset(after, 'z', 16);
    CHECK(big == NULL || big[ARENA_BLOCK_BYTES] == 'y');
    arena_free(&a);
}

static void test_cap(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    /* past the cap: NULL, no abort */
    CHECK(arena_alloc(&a, ARENA_MAX_BYTES + 1) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 8) == NULL); /* rounding up would wrap */
    CHECK_INT(a.total, 0);
    /* exactly the cap, in one piece */
    char *all = arena_alloc(&a, ARENA_MAX_BYTES);
    CHECK(all != NULL);
    if (all)
        memset(all, 1, ARENA_MAX_BYTES);
    CHECK(arena_alloc(&a, 1) == NULL);
    arena_free(&a);

    /* block by block: ARENA_MAX_BYTES / ARENA_BLOCK_BYTES fit, then NULL */
    arena_init(&a, ARENA_MAX_BYTES);
    size_t blocks = 0;
    while (arena_alloc(&a, ARENA_BLOCK_BYTES) != NULL && blocks <= ARENA_MAX_BYTES / ARENA_BLOCK_BYTES)
        blocks++;
    CHECK_INT(blocks, ARENA_MAX_BYTES / ARENA_BLOCK_BYTES);
    CHECK_INT(a.total, ARENA_MAX_BYTES);
    CHECK(arena_alloc(&a, 1) == NULL);
    CHECK(arena_strndup(&a, "x", 1) == NULL);

    /* reset: the arena works again, with the whole cap available */
    arena_reset(&a);
    CHECK(a.total <= ARENA_BLOCK_BYTES);
    blocks = 0;
    while (arena_alloc(&a, ARENA_BLOCK_BYTES) != NULL && blocks <= ARENA_MAX_BYTES / ARENA_BLOCK_BYTES)
        blocks++;
    CHECK_INT(blocks, ARENA_MAX_BYTES / ARENA_BLOCK_BYTES);
    arena_free(&a);
}

/* The request loop: allocate, reset, many times; memory does not grow. */
static void test_reset_loop(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    bool ok = true;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 50; i++) {
            char *p = arena_alloc(&a, (size_t)(i * 37 % 500 + 1));
            ok &= p != NULL;
            if (p)
                p[0] = 'a';
        }
        if (round % 10 == 0) {
            char *big = arena_alloc(&a, 2 * ARENA_BLOCK_BYTES); /* a big request now and then */
            ok &= big != NULL;
        }
        arena_reset(&a);
        ok &= a.total <= ARENA_BLOCK_BYTES;
    }
    CHECK(ok);
    /* after a reset, the kept block serves the next request */
    char *p = arena_alloc(&a, 10);
    CHECK(p != NULL);
    CHECK_INT(a.total, ARENA_BLOCK_BYTES);
    arena_free(&a);
    CHECK_INT(a.total, 0);
    CHECK(a.head == NULL);
    /* free twice, reset after free: harmless */
    arena_free(&a);
    arena_reset(&a);
    CHECK(arena_alloc(&a, 10) != NULL);
    arena_free(&a);
}

/* An arena whose cap is below one block refuses everything but stays usable. */
static void test_small_cap(void)
{
    struct arena a;
    arena_init(&a, ARENA_BLOCK_BYTES);
    CHECK(arena_alloc(&a, ARENA_BLOCK_BYTES) != NULL);
    CHECK(arena_alloc(&a, 1) == NULL);
    arena_free(&a);
}

int main(void)
{
    test_alignment_and_separation();
    test_strndup();
    test_trim_lower();
    test_growth();
    test_cap();
    test_reset_loop();
    test_small_cap();
    return t_done("test_arena");
}

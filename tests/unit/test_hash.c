/* test_hash.c - HMAC-SHA256 and SHA-256 against published vectors, UUID formats, secret comparison. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/bounds.h"
#include "core/config.h"
#include "core/hash.h"
#include "t.h"

static void test_hmac(void)
{
    char out[HASH_HEX_LEN + 1];

    /* RFC 4231 test case 2 */
    hash_hmac_hex(STRLIT("Jefe"), STRLIT("what do ya want for nothing?"), out);
    CHECK_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* RFC 4231 test case 1: key 20 x 0x0b */
    char key1[20];
    memset(key1, 0x0b, sizeof(key1));
    hash_hmac_hex((struct str){key1, sizeof(key1)}, STRLIT("Hi There"), out);
    CHECK_STR(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    /* RFC 4231 test case 6: a key longer than the block (131 x 0xaa) is hashed first */
    char key6[131];
    memset(key6, 0xaa, sizeof(key6));
    hash_hmac_hex((struct str){key6, sizeof(key6)},
                  STRLIT("Test Using Larger Than Block-Size Key - Hash Key First"), out);
    CHECK_STR(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    /* lowercase hex, exactly HASH_HEX_LEN characters */
    hash_hmac_hex(STRLIT("0123456789abcdef0123456789abcdef"), STRLIT("203.0.113.7"), out);
    CHECK_INT(strlen(out), HASH_HEX_LEN);
    CHECK_INT(strspn(out, "0123456789abcdef"), HASH_HEX_LEN);

    /* the key matters, the message matters */
    char other[HASH_HEX_LEN + 1];
    hash_hmac_hex(STRLIT("0123456789abcdef0123456789abcdeF"), STRLIT("203.0.113.7"), other);
    CHECK(strcmp(out, other) != 0);
    hash_hmac_hex(STRLIT("0123456789abcdef0123456789abcdef"), STRLIT("203.0.113.8"), other);
    CHECK(strcmp(out, other) != 0);
    /* and it is deterministic */
    hash_hmac_hex(STRLIT("0123456789abcdef0123456789abcdef"), STRLIT("203.0.113.7"), other);
    CHECK_STR(other, out);
}

static void test_sha256(void)
{
    char out[HASH_HEX_LEN + 1];
    hash_sha256_hex(STRLIT("abc"), out);
    CHECK_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sha256_hex(STRLIT(""), out);
    CHECK_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_sha256_hex(STRLIT("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), out);
    CHECK_STR(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* bytes after a NUL count */
    char a[HASH_HEX_LEN + 1];
    hash_sha256_hex(((struct str){"a\0b", 3}), a);
    hash_sha256_hex(((struct str){"a\0c", 3}), out);
    CHECK(strcmp(a, out) != 0);
}

/* 8-4-4-4-12 lowercase hex with the given version; variant 10xx. */
static bool uuid_ok(const char *u, char version)
{
    if (strlen(u) != UUID_STR_LEN)
        return false;
    for (int i = 0; i < UUID_STR_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (u[i] != '-')
                return false;
        } else if (!strchr("0123456789abcdef", u[i]) || u[i] == '\0') {
            return false;
        }
    }
    return u[14] == version && strchr("89ab", u[19]) != NULL;
}

static void test_uuid_v4(void)
{
    char u[UUID_STR_LEN + 1], prev[UUID_STR_LEN + 1] = "";
    bool formats = true, distinct = true;
    for (int i = 0; i < 1000; i++) {
        uuid_v4(u);
        formats &= uuid_ok(u, '4');
        distinct &= strcmp(u, prev) != 0;
        memcpy(prev, u, sizeof(u));
    }
    CHECK(formats);
    CHECK(distinct);
    if (!formats)
        fprintf(stderr, "  last v4: %s\n", u);
}

/* Ids draw from a pool of ID_RANDOM_POOL_BYTES: one refill from the kernel per 16 ids, and no
 * two ids alike across refills. */
static void test_uuid_pool(void)
{
    enum { IDS = 3 * ID_RANDOM_POOL_BYTES / 16 };
    static char ids[IDS][UUID_STR_LEN + 1];
    unsigned long before = hash_id_pool_refills();
    for (int i = 0; i < IDS; i++) {
        if (i % 2)
            uuid_v4(ids[i]);
        else
            uuid_v7(ids[i]);
    }
    unsigned long refills = hash_id_pool_refills() - before;
    CHECK(refills >= 3 && refills <= 4); /* 3 pools' worth, plus one when the pool was part used */
    bool distinct = true;
    for (int i = 0; i < IDS; i++)
        for (int j = i + 1; j < IDS; j++)
            distinct &= strcmp(ids[i] + 14, ids[j] + 14) != 0; /* the random part (after v7's time) */
    CHECK(distinct);
}

static uint64_t ms_of_v7(const char *u)
{
    uint64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (u[i] == '-')
            continue;
        char c = u[i];
        ms = ms * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return ms;
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_uuid_v7(void)
{
    char u[UUID_STR_LEN + 1], prev[UUID_STR_LEN + 1];
    uint64_t before = wall_ms();
    uuid_v7(u);
    uint64_t after = wall_ms();
    CHECK(uuid_ok(u, '7'));
    /* the first 48 bits are the Unix time in ms */
    uint64_t ms = ms_of_v7(u);
    CHECK(ms >= before && ms <= after);

    /* successive ids from different milliseconds sort in creation order */
    bool ordered = true, formats = true;
    for (int i = 0; i < 10; i++) {
        memcpy(prev, u, sizeof(u));
        sleep_ms(2);
        uuid_v7(u);
        formats &= uuid_ok(u, '7');
        ordered &= strcmp(prev, u) < 0 && ms_of_v7(prev) < ms_of_v7(u);
    }
    CHECK(formats);
    CHECK(ordered);

    /* ids of one millisecond still differ */
    char a[UUID_STR_LEN + 1], b[UUID_STR_LEN + 1];
    uuid_v7(a);
    uuid_v7(b);
    CHECK(strcmp(a, b) != 0);
}

static void test_secret_eq(void)
{
    CHECK(hash_secret_eq(STRLIT("k3y-0123456789abcdefghij"), STRLIT("k3y-0123456789abcdefghij")));
    CHECK(!hash_secret_eq(STRLIT("k3y-0123456789abcdefghiJ"), STRLIT("k3y-0123456789abcdefghij")));
    CHECK(!hash_secret_eq(STRLIT("x3y-0123456789abcdefghij"), STRLIT("k3y-0123456789abcdefghij")));
    CHECK(!hash_secret_eq(STRLIT("k3y-0123456789abcdefghi"), STRLIT("k3y-0123456789abcdefghij")));
    CHECK(!hash_secret_eq(STRLIT("k3y-0123456789abcdefghijk"), STRLIT("k3y-0123456789abcdefghij")));
    CHECK(!hash_secret_eq(STRLIT(""), STRLIT("k3y-0123456789abcdefghij")));
    CHECK(hash_secret_eq(STRLIT(""), STRLIT("")));
    /* embedded NULs are compared, not a C-string prefix */
    CHECK(!hash_secret_eq(((struct str){"ab\0c", 4}), ((struct str){"ab\0d", 4})));
    CHECK(!hash_secret_eq(((struct str){"ab\0c", 4}), STRLIT("ab")));
}

/* The peppered hash is HMAC-SHA256 keyed with IP_HASH_PEPPER (RFC 4231 case 2: key "Jefe"). */
static void test_peppered(void)
{
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char pepper[] = "Jefe";
    cfg.ip_hash_pepper = pepper;
    cfg.ip_hash_pepper_len = 4;
    char out[HASH_HEX_LEN + 1];
    hash_peppered_hex(&cfg, STRLIT("what do ya want for nothing?"), out);
    CHECK_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

int main(void)
{
    CHECK_INT(hash_init(), 0);
    CHECK_INT(hash_init(), 0); /* twice is fine */
    test_hmac();
    test_sha256();
    test_uuid_v4();
    test_uuid_pool();
    test_uuid_v7();
    test_secret_eq();
    test_peppered();
    return t_done("test_hash");
}

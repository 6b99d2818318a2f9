/* hash.c - thin wrappers over libsodium. */
#include "core/hash.h"

#include "core/clock.h"
#include "core/config.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core/bounds.h"

int hash_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* Lowercase hex of in[0..n) into out[2n + 1] (sodium_bin2hex writes lowercase and the NUL). */
static void to_hex(const unsigned char *in, size_t n, char *out)
{
    (void)sodium_bin2hex(out, 2 * n + 1, in, n);
}

void hash_hmac_hex(struct str key, struct str msg, char out[HASH_HEX_LEN + 1])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key.p, key.n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg.p, msg.n);
    crypto_auth_hmacsha256_final(&st, mac);
    to_hex(mac, sizeof(mac), out);
    sodium_memzero(&st, sizeof(st));
}

void hash_peppered_hex(const struct config *cfg, struct str msg, char out[HASH_HEX_LEN + 1])
{
    hash_hmac_hex((struct str){cfg->ip_hash_pepper, cfg->ip_hash_pepper_len}, msg, out);
}

void hash_sha256_hex(struct str msg, char out[HASH_HEX_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)msg.p, msg.n);
    to_hex(h, sizeof(h), out);
}

static void format_uuid(const unsigned char b[16], char out[UUID_STR_LEN + 1])
{
    char hex[33];
    to_hex(b, 16, hex);
    size_t o = 0;
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = hex[i];
    }
    out[o] = '\0';
}

/* The id pool (ID_RANDOM_POOL_BYTES): bytes are handed out once each, from the end down, and
 * wiped as they leave. A child of fork() starts with an empty pool, so two processes never hand
 * out the same bytes (no process forks today; the handler keeps it so). */
static unsigned char g_pool[ID_RANDOM_POOL_BYTES];
static size_t g_pool_left;
static unsigned long g_pool_refills;
static bool g_pool_atfork;

static void pool_forget(void)
{
    sodium_memzero(g_pool, sizeof(g_pool));
    g_pool_left = 0;
}

static void id_random(unsigned char *out, size_t n)
{
    if (!g_pool_atfork) {
        (void)pthread_atfork(NULL, NULL, pool_forget);
        g_pool_atfork = true;
    }
    if (n > sizeof(g_pool)) {
        randombytes_buf(out, n);
        return;
    }
    if (g_pool_left < n) {
        randombytes_buf(g_pool, sizeof(g_pool));
        g_pool_left = sizeof(g_pool);
        g_pool_refills++;
    }
    g_pool_left -= n;
    memcpy(out, g_pool + g_pool_left, n);
    sodium_memzero(g_pool + g_pool_left, n);
}

unsigned long hash_id_pool_refills(void)
{
    return g_pool_refills;
}

void uuid_v4(char out[UUID_STR_LEN + 1])
{
    unsigned char b[16];
    id_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

void uuid_v7(char out[UUID_STR_LEN + 1])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)clock_wall_ms();
    id_random(b, sizeof(b));
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (8 * (5 - i)));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

bool hash_secret_eq(struct str given, struct str expected)
{
    /* compare MACs of both: equal-length inputs to sodium_memcmp whatever was sent */
    static unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    static bool have_key;
    if (!have_key) {
        randombytes_buf(key, sizeof(key));
        have_key = true;
    }
    unsigned char a[crypto_auth_hmacsha256_BYTES], b[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(a, (const unsigned char *)given.p, given.n, key);
    crypto_auth_hmacsha256(b, (const unsigned char *)expected.p, expected.n, key);
    return sodium_memcmp(a, b, sizeof(a)) == 0;
}

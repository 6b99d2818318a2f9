/* test_erasure.c - the erasure log's keyed hash (core/erasure.h): known answers computed outside
 * libsodium (Python's hmac), the pepper-derived key when ERASURE_LOG_SECRET is unset, the lookup's
 * two keys once it is set, and the secret's decoding. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/erasure.h"
#include "t.h"

#define PEPPER "pepper-for-unit-tests-0123456789abcdef"
#define EMAIL "ada@example.com"
/* python3: k = hmac.new(PEPPER, b"backend erasure log v1", sha256).digest();
 * hmac.new(k, EMAIL, sha256).hexdigest() */
#define KNOWN_DERIVED "515163377f3fb47882c76db226ddfedb21795f8600684501b3d4ed992191e8e8"
/* hmac.new(bytes(range(32)), EMAIL, sha256).hexdigest(): the secret's bytes are the key */
#define KNOWN_SECRET32 "5c820b4a5aac8f31eb6741825bfecb8e97f00488d5edaed1ae2908c29d0b7e38"
/* hmac.new(bytes(range(40)), EMAIL, sha256).hexdigest() (base64 secret) */
#define KNOWN_SECRET40 "218165cb919a0f50c1c450989dd5e6916b033d28198179f7905d34119a623135"

static const struct str pepper = {PEPPER, sizeof(PEPPER) - 1};
static const struct str email = {EMAIL, sizeof(EMAIL) - 1};

static void test_without_secret(void)
{
    struct erasure_keys k;
    const char *why = NULL;
    char out[HASH_HEX_LEN + 1], look[ERASURE_LOOKUP_KEYS][HASH_HEX_LEN + 1];
    CHECK_INT(erasure_keys_init(&k, pepper, NULL, &why), 0);
    CHECK(!k.from_secret);
    erasure_proof_hex(&k, email, out);
    CHECK_STR(out, KNOWN_DERIVED);
    CHECK_INT((long)erasure_lookup_hex(&k, email, look), 1);
    CHECK_STR(look[0], KNOWN_DERIVED);
    /* the pepper itself is not the key (the ip hash's key must not give the proof) */
    char bare[HASH_HEX_LEN + 1];
    hash_hmac_hex(pepper, email, bare);
    CHECK(strcmp(bare, out) != 0);
    /* one address, one proof; another address, another */
    erasure_proof_hex(&k, STRLIT("bob@example.com"), bare);
    CHECK(strcmp(bare, out) != 0);
}

static void test_with_secret(void)
{
    struct erasure_keys k;
    const char *why = NULL;
    char out[HASH_HEX_LEN + 1], look[ERASURE_LOOKUP_KEYS][HASH_HEX_LEN + 1];
    CHECK_INT(erasure_keys_init(&k, pepper,
                                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", &why),
              0);
    CHECK(k.from_secret);
    erasure_proof_hex(&k, email, out);
    CHECK_STR(out, KNOWN_SECRET32);
    /* the lookup also matches proofs recorded before the secret was set */
    CHECK_INT((long)erasure_lookup_hex(&k, email, look), 2);
    CHECK_STR(look[0], KNOWN_SECRET32);
    CHECK_STR(look[1], KNOWN_DERIVED);
    CHECK_INT(erasure_keys_init(&k, pepper, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw==", &why),
              0);
    erasure_proof_hex(&k, email, out);
    CHECK_STR(out, KNOWN_SECRET40);
}

static void test_bad_secrets(void)
{
    struct erasure_keys k;
    static const char *const bad[] = {
        "", "abc", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e", /* 31 bytes */
        "correct horse battery staple correct horse battery"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        const char *why = NULL;
        CHECK_INT(erasure_keys_init(&k, pepper, bad[i], &why), -1);
        CHECK(why != NULL && strstr(why, "horse") == NULL);
        CHECK(!k.from_secret && k.key_len == 0);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_without_secret();
    test_with_secret();
    test_bad_secrets();
    return t_done("test_erasure");
}

/* erasure.c - the erasure log's keyed hash: see erasure.h. */
#include "core/erasure.h"

#include <string.h>

#include <sodium.h>

#include "core/unsub_token.h"

int erasure_keys_init(struct erasure_keys *keys, struct str pepper, const char *secret, const char **why)
{
    memset(keys, 0, sizeof(*keys));
    /* the pepper keys the context: another use of the pepper never gives this key */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)pepper.p, pepper.n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ERASURE_PEPPER_CONTEXT,
                                  sizeof(ERASURE_PEPPER_CONTEXT) - 1);
    crypto_auth_hmacsha256_final(&st, keys->derived);
    sodium_memzero(&st, sizeof(st));
    if (!secret) {
        memcpy(keys->key, keys->derived, sizeof(keys->derived));
        keys->key_len = sizeof(keys->derived);
        return 0;
    }
    unsigned char raw[UNSUB_SECRET_MAX_BYTES + 1];
    size_t n = 0;
    if (secret_decode(secret, raw, &n, why) != 0) {
        sodium_memzero(keys, sizeof(*keys));
        return -1;
    }
    memcpy(keys->key, raw, n);
    keys->key_len = n;
    keys->from_secret = true;
    sodium_memzero(raw, sizeof(raw));
    return 0;
}

void erasure_proof_hex(const struct erasure_keys *keys, struct str email_normalized,
                       char out[HASH_HEX_LEN + 1])
{
    hash_hmac_hex((struct str){(const char *)keys->key, keys->key_len}, email_normalized, out);
}

size_t erasure_lookup_hex(const struct erasure_keys *keys, struct str email_normalized,
                          char out[ERASURE_LOOKUP_KEYS][HASH_HEX_LEN + 1])
{
    erasure_proof_hex(keys, email_normalized, out[0]);
    if (!keys->from_secret)
        return 1;
    hash_hmac_hex((struct str){(const char *)keys->derived, sizeof(keys->derived)}, email_normalized, out[1]);
    return 2;
}

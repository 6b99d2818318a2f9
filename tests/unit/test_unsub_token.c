/* test_unsub_token.c - signed unsubscribe tokens: a known answer computed outside libsodium
 * (Python's hmac/blake2b), round trips, every byte tampered, expiry, rotation, wrong lengths and
 * the secret settings' decoding. */
#include <stdio.h>
#include <string.h>

#include "core/unsub_token.h"
#include "t.h"

#define SECRET_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define LEAD "0b7e3c1a-1111-4222-8333-444455556666"
#define IAT 1700000000LL
#define YEAR (365LL * 86400)
/* python3: blake2b(b"backend unsubscribe token v1", digest_size=32, key=bytes(range(32))) as the
 * key; HMAC-SHA-512 truncated to 32 bytes over 01 | 24 | LEAD | be64(IAT); base64url, no padding */
#define KNOWN                                                                                                \
    "ASQwYjdlM2MxYS0xMTExLTQyMjItODMzMy00NDQ0NTU1NTY2NjYAAAAAZVPxAFulTHqiO7zdGuOel4Xz3SbB-"                  \
    "u4dYtbgQmedrmaS6ixY"

static struct unsub_keys keys_of(const char *cur, const char *prev)
{
    struct unsub_keys k;
    const char *why = NULL;
    memset(&k, 0, sizeof(k));
    if (cur)
        k.has_current = unsub_key_from_secret(cur, k.current, &why) == 0;
    if (prev)
        k.has_previous = unsub_key_from_secret(prev, k.previous, &why) == 0;
    return k;
}

static enum unsub_verdict verify(const struct unsub_keys *k, const char *tok, int64_t now, char *id)
{
    int64_t iat = -1;
    return unsub_token_verify(k, str_from_cstr(tok), now, 400 * 86400LL, id, &iat);
}

static void test_known_answer(void)
{
    struct unsub_keys k = keys_of(SECRET_HEX, NULL);
    char tok[UNSUB_TOKEN_TEXT_MAX + 1], id[UNSUB_LEAD_ID_MAX + 1];
    CHECK(k.has_current);
    CHECK_INT(unsub_token_make(k.current, STRLIT(LEAD), IAT, tok, sizeof(tok)), strlen(KNOWN));
    CHECK_STR(tok, KNOWN);
    int64_t iat = 0;
    CHECK_INT(unsub_token_verify(&k, STRLIT(KNOWN), IAT + 10, YEAR, id, &iat), UNSUB_OK);
    CHECK_STR(id, LEAD);
    CHECK_INT(iat, IAT);
    /* the same secret as base64, padded or not, is the same key */
    struct unsub_keys b = keys_of("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", NULL);
    struct unsub_keys b2 = keys_of("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", NULL);
    CHECK(b.has_current && memcmp(b.current, k.current, UNSUB_KEY_BYTES) == 0);
    CHECK(b2.has_current && memcmp(b2.current, k.current, UNSUB_KEY_BYTES) == 0);
}

/* Every character of the token replaced by every other base64url character: never accepted. */
static void test_tamper_every_byte(void)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct unsub_keys k = keys_of(SECRET_HEX, NULL);
    char tok[sizeof(KNOWN)], id[UNSUB_LEAD_ID_MAX + 1];
    size_t accepted = 0, tried = 0;
    for (size_t i = 0; i < sizeof(KNOWN) - 1; i++) {
        for (size_t a = 0; a < sizeof(alphabet) - 1; a++) {
            if (alphabet[a] == KNOWN[i])
                continue;
            memcpy(tok, KNOWN, sizeof(KNOWN));
            tok[i] = alphabet[a];
            tried++;
            if (verify(&k, tok, IAT, id) != UNSUB_INVALID)
                accepted++;
        }
    }
    CHECK(tried > 6000);
    CHECK_INT(accepted, 0);
    /* and every byte of the decoded token flipped, re-encoded (valid base64url each time) */
    unsigned char bin[UNSUB_TOKEN_BIN_MAX];
    size_t n = 0;
    CHECK(sodium_base642bin(bin, sizeof(bin), KNOWN, strlen(KNOWN), NULL, &n, NULL,
                            sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
    accepted = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            char t2[UNSUB_TOKEN_TEXT_MAX + 1];
            bin[i] ^= (unsigned char)(1u << bit);
            sodium_bin2base64(t2, sizeof(t2), bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            bin[i] ^= (unsigned char)(1u << bit);
            if (verify(&k, t2, IAT, id) != UNSUB_INVALID)
                accepted++;
        }
    }
    CHECK_INT(accepted, 0);
    CHECK_STR(id, ""); /* nothing is handed out from a refused token */
}

static void test_expiry_and_clock(void)
{
    struct unsub_keys k = keys_of(SECRET_HEX, NULL);
    char id[UNSUB_LEAD_ID_MAX + 1];
    int64_t iat = 0, max = 400 * 86400LL;
    CHECK_INT(unsub_token_verify(&k, STRLIT(KNOWN), IAT + max, max, id, &iat), UNSUB_OK);
    CHECK_INT(unsub_token_verify(&k, STRLIT(KNOWN), IAT + max + 1, max, id, &iat), UNSUB_EXPIRED);
    CHECK_STR(id, "");
    /* issued in the future beyond the skew: refused as invalid */
    CHECK_INT(unsub_token_verify(&k, STRLIT(KNOWN), IAT - UNSUB_FUTURE_SKEW_S, max, id, &iat), UNSUB_OK);
    CHECK_INT(unsub_token_verify(&k, STRLIT(KNOWN), IAT - UNSUB_FUTURE_SKEW_S - 1, max, id, &iat),
              UNSUB_INVALID);
    /* an old forged token is invalid, not expired: the expiry is told only for a genuine one */
    struct unsub_keys other =
        keys_of("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL);
    CHECK_INT(unsub_token_verify(&other, STRLIT(KNOWN), IAT + 10 * max, max, id, &iat), UNSUB_INVALID);
}

static void test_rotation(void)
{
    const char *old = SECRET_HEX, *fresh = "2122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40";
    struct unsub_keys before = keys_of(old, NULL), during = keys_of(fresh, old), after = keys_of(fresh, NULL);
    char tok_old[UNSUB_TOKEN_TEXT_MAX + 1], tok_new[UNSUB_TOKEN_TEXT_MAX + 1], id[UNSUB_LEAD_ID_MAX + 1];
    CHECK(unsub_token_make(before.current, STRLIT(LEAD), IAT, tok_old, sizeof(tok_old)) > 0);
    CHECK(unsub_token_make(during.current, STRLIT(LEAD), IAT, tok_new, sizeof(tok_new)) > 0);
    CHECK(strcmp(tok_old, tok_new) != 0);
    CHECK_INT(verify(&during, tok_old, IAT, id), UNSUB_OK);
    CHECK_STR(id, LEAD);
    CHECK_INT(verify(&during, tok_new, IAT, id), UNSUB_OK);
    CHECK_INT(verify(&after, tok_old, IAT, id), UNSUB_INVALID);
    CHECK_INT(verify(&before, tok_new, IAT, id), UNSUB_INVALID);
    struct unsub_keys none = keys_of(NULL, NULL);
    CHECK_INT(verify(&none, tok_new, IAT, id), UNSUB_INVALID);
}

static void test_lengths(void)
{
    struct unsub_keys k = keys_of(SECRET_HEX, NULL);
    char tok[UNSUB_TOKEN_TEXT_MAX + 1], id[UNSUB_LEAD_ID_MAX + 1];
    /* ids of every length 1..max round-trip; 0 and max+1 are refused */
    char lid[UNSUB_LEAD_ID_MAX + 2];
    memset(lid, 'a', sizeof(lid));
    size_t ok = 0;
    for (size_t n = 1; n <= UNSUB_LEAD_ID_MAX; n++) {
        long tn = unsub_token_make(k.current, (struct str){lid, n}, IAT, tok, sizeof(tok));
        if (tn > 0 && (size_t)tn <= UNSUB_TOKEN_TEXT_MAX && verify(&k, tok, IAT, id) == UNSUB_OK &&
            strlen(id) == n)
            ok++;
    }
    CHECK_INT(ok, UNSUB_LEAD_ID_MAX);
    CHECK_INT(unsub_token_make(k.current, (struct str){lid, 0}, IAT, tok, sizeof(tok)), -1);
    CHECK_INT(unsub_token_make(k.current, (struct str){lid, UNSUB_LEAD_ID_MAX + 1}, IAT, tok, sizeof(tok)),
              -1);
    CHECK_INT(unsub_token_make(k.current, STRLIT(LEAD), IAT, tok, 20), -1);
    /* truncated, extended, empty, padded, non-alphabet, over-long */
    char buf[512];
    size_t kn = strlen(KNOWN);
    size_t bad = 0;
    for (size_t n = 0; n < kn; n++) {
        memcpy(buf, KNOWN, n);
        buf[n] = '\0';
        bad += verify(&k, buf, IAT, id) == UNSUB_INVALID;
    }
    CHECK_INT(bad, kn);
    snprintf(buf, sizeof(buf), "%sA", KNOWN);
    CHECK_INT(verify(&k, buf, IAT, id), UNSUB_INVALID);
    snprintf(buf, sizeof(buf), "%sAAAA", KNOWN);
    CHECK_INT(verify(&k, buf, IAT, id), UNSUB_INVALID);
    snprintf(buf, sizeof(buf), "%s=", KNOWN);
    CHECK_INT(verify(&k, buf, IAT, id), UNSUB_INVALID);
    snprintf(buf, sizeof(buf), " %s", KNOWN);
    CHECK_INT(verify(&k, buf, IAT, id), UNSUB_INVALID);
    memset(buf, 'A', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    CHECK_INT(verify(&k, buf, IAT, id), UNSUB_INVALID);
    CHECK_INT(unsub_token_verify(&k, (struct str){KNOWN, 0}, IAT, YEAR, id, &(int64_t){0}), UNSUB_INVALID);
}

static void test_secrets(void)
{
    unsigned char key[UNSUB_KEY_BYTES];
    const char *why = NULL;
    /* 31 bytes (hex and base64) too short; 65 too long; not hex or base64; empty */
    CHECK_INT(
        unsub_key_from_secret("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e", key, &why),
        -1);
    CHECK(why && strstr(why, "32") != NULL);
    CHECK_INT(unsub_key_from_secret("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", key, &why), -1);
    char *h65 = rep("", "ab", 65, "");
    CHECK_INT(unsub_key_from_secret(h65, key, &why), -1);
    free(h65);
    char *h64 = rep("", "ab", 64, "");
    CHECK_INT(unsub_key_from_secret(h64, key, &why), 0);
    free(h64);
    CHECK_INT(unsub_key_from_secret("this is not a secret at all, it has spaces and !!!", key, &why), -1);
    CHECK_INT(unsub_key_from_secret("", key, &why), -1);
    char *long_text = rep("", "A", UNSUB_SECRET_TEXT_MAX + 1, "");
    CHECK_INT(unsub_key_from_secret(long_text, key, &why), -1);
    free(long_text);
    /* url-safe base64 of 33 bytes */
    CHECK_INT(unsub_key_from_secret("_-8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e", key, &why), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_known_answer();
    test_tamper_every_byte();
    test_expiry_and_clock();
    test_rotation();
    test_lengths();
    test_secrets();
    return t_done("test_unsub_token");
}

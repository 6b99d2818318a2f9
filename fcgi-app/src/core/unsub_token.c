/* unsub_token.c - signed unsubscribe tokens: see unsub_token.h for the layout. */
#include "core/unsub_token.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"

/* The BLAKE2b message the key is derived with: a fixed context, so the same secret used for
 * something else one day does not give the same key. */
static const char KEY_CONTEXT[] = "backend unsubscribe token v1";

int secret_decode(const char *secret, unsigned char raw[UNSUB_SECRET_MAX_BYTES + 1], size_t *len,
                  const char **why)
{
    size_t n = strlen(secret), got = 0;
    const char *end = NULL;
    int rc = -1;
    if (n > UNSUB_SECRET_TEXT_MAX) {
        *why = "is too long (hex or base64 of 32 to 64 bytes)";
        return -1;
    }
    bool hex = n % 2 == 0 && n > 0;
    for (size_t i = 0; hex && i < n; i++)
        hex = (secret[i] >= '0' && secret[i] <= '9') || (secret[i] >= 'a' && secret[i] <= 'f') ||
              (secret[i] >= 'A' && secret[i] <= 'F');
    int decoded;
    if (hex) {
        decoded = sodium_hex2bin(raw, UNSUB_SECRET_MAX_BYTES + 1, secret, n, NULL, &got, &end);
    } else {
        /* standard or url-safe alphabet, padding optional: what `openssl rand -base64 32` and
         * the url-safe tools print */
        bool urlsafe = strchr(secret, '-') || strchr(secret, '_');
        bool padded = n > 0 && secret[n - 1] == '=';
        int variant =
            urlsafe ? (padded ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_URLSAFE_NO_PADDING)
                    : (padded ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
        decoded = sodium_base642bin(raw, UNSUB_SECRET_MAX_BYTES + 1, secret, n, NULL, &got, &end, variant);
    }
    if (decoded != 0 || end != secret + n) {
        *why = "must be hex or base64 of 32 to 64 random bytes (openssl rand -hex 32)";
    } else if (got < UNSUB_SECRET_MIN_BYTES || got > UNSUB_SECRET_MAX_BYTES) {
        *why = "must decode to 32 to 64 bytes (openssl rand -hex 32)";
    } else {
        *len = got;
        rc = 0;
    }
    if (rc != 0)
        sodium_memzero(raw, UNSUB_SECRET_MAX_BYTES + 1);
    return rc;
}

int unsub_key_from_secret(const char *secret, unsigned char key[UNSUB_KEY_BYTES], const char **why)
{
    unsigned char raw[UNSUB_SECRET_MAX_BYTES + 1];
    size_t got = 0;
    int rc = secret_decode(secret, raw, &got, why);
    if (rc == 0)
        crypto_generichash(key, UNSUB_KEY_BYTES, (const unsigned char *)KEY_CONTEXT, sizeof(KEY_CONTEXT) - 1,
                           raw, got);
    sodium_memzero(raw, sizeof(raw));
    return rc;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

long unsub_token_make(const unsigned char key[UNSUB_KEY_BYTES], struct str lead_id, int64_t iat, char *out,
                      size_t cap)
{
    unsigned char bin[UNSUB_TOKEN_BIN_MAX];
    if (lead_id.n == 0 || lead_id.n > UNSUB_LEAD_ID_MAX || iat < 0)
        return -1;
    size_t n = 0;
    bin[n++] = UNSUB_TOKEN_VERSION;
    bin[n++] = (unsigned char)lead_id.n;
    memcpy(bin + n, lead_id.p, lead_id.n);
    n += lead_id.n;
    put_be64(bin + n, (uint64_t)iat);
    n += 8;
    crypto_auth(bin + n, bin, n, key);
    n += crypto_auth_BYTES;
    if (cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return -1;
    sodium_bin2base64(out, cap, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return (long)strlen(out);
}

enum unsub_verdict unsub_token_verify(const struct unsub_keys *keys, struct str token, int64_t now,
                                      int64_t max_age_s, char lead_id[UNSUB_LEAD_ID_MAX + 1], int64_t *iat)
{
    unsigned char bin[UNSUB_TOKEN_BIN_MAX];
    size_t n = 0;
    const char *end = NULL;
    lead_id[0] = '\0';
    if (token.n == 0 || token.n > UNSUB_TOKEN_TEXT_MAX ||
        sodium_base642bin(bin, sizeof(bin), token.p, token.n, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != token.p + token.n)
        return UNSUB_INVALID;
    /* the layout first: the id length must account for every byte */
    if (n < UNSUB_TOKEN_BIN_MIN || bin[0] != UNSUB_TOKEN_VERSION || bin[1] == 0 ||
        bin[1] > UNSUB_LEAD_ID_MAX || n != (size_t)2 + bin[1] + 8 + crypto_auth_BYTES)
        return UNSUB_INVALID;
    size_t signed_n = n - crypto_auth_BYTES;
    bool ok = keys->has_current && crypto_auth_verify(bin + signed_n, bin, signed_n, keys->current) == 0;
    if (!ok)
        ok = keys->has_previous && crypto_auth_verify(bin + signed_n, bin, signed_n, keys->previous) == 0;
    if (!ok)
        return UNSUB_INVALID;
    uint64_t t = get_be64(bin + 2 + bin[1]);
    if (t > (uint64_t)INT64_MAX || (int64_t)t > now + UNSUB_FUTURE_SKEW_S)
        return UNSUB_INVALID;
    if (now - (int64_t)t > max_age_s)
        return UNSUB_EXPIRED;
    memcpy(lead_id, bin + 2, bin[1]);
    lead_id[bin[1]] = '\0';
    *iat = (int64_t)t;
    return UNSUB_OK;
}

long unsub_link_make(const struct config *cfg, struct str lead_id, int64_t now, char *out, size_t cap)
{
    char tok[UNSUB_TOKEN_TEXT_MAX + 1];
    if (!cfg->unsub_keys.has_current ||
        unsub_token_make(cfg->unsub_keys.current, lead_id, now, tok, sizeof(tok)) < 0)
        return -1;
    int n = snprintf(out, cap, "%.*s%s?token=%s", cfg->public_base_url ? (int)cfg->public_base_url_len : 0,
                     cfg->public_base_url ? cfg->public_base_url : "", UNSUB_PATH, tok);
    return n < 0 || (size_t)n >= cap ? -1 : (long)n;
}

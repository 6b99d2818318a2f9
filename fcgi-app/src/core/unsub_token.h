/* unsub_token.h - signed unsubscribe tokens (issue 16, RFC 8058 one-click links).
 *
 * A token is base64url (no padding) of: version 1 | id length (1 byte) | the lead id as text |
 * issued-at (seconds since the epoch, 8 bytes big-endian) | crypto_auth tag (HMAC-SHA-512-256)
 * over everything before it. The lead id is kept as text because leads.id is a text column (ours
 * are UUIDs, the Node service's may not be); a UUID token is 104 characters. */
#ifndef UNSUB_TOKEN_H
#define UNSUB_TOKEN_H

#include <sodium.h>
#include <stdint.h>

#include "core/bounds.h"
#include "core/common.h"

#define UNSUB_TOKEN_VERSION 1
#define UNSUB_KEY_BYTES crypto_auth_KEYBYTES

/* The signing keys: the current and, during a rotation, the previous one. */
struct unsub_keys {
    unsigned char current[UNSUB_KEY_BYTES];
    unsigned char previous[UNSUB_KEY_BYTES];
    bool has_current, has_previous;
};

enum unsub_verdict {
    UNSUB_OK = 0,
    UNSUB_INVALID, /* malformed, forged, altered, signed with an unknown key, issued in the future */
    UNSUB_EXPIRED, /* genuine but older than the maximum age */
};

/* Decodes a secret setting: hex (an even number of hex digits) or base64 (standard or url-safe,
 * padding optional) of UNSUB_SECRET_MIN_BYTES..UNSUB_SECRET_MAX_BYTES bytes, into raw (*len bytes;
 * the caller wipes it). Returns 0, or -1 with a reason (a static string that never quotes the
 * secret) in *why. Shared by every secret setting of this form (ERASURE_LOG_SECRET too). */
int secret_decode(const char *secret, unsigned char raw[UNSUB_SECRET_MAX_BYTES + 1], size_t *len,
                  const char **why) ATTR_WUR;

/* Decodes a secret setting: hex (an even number of hex digits) or base64 (standard or url-safe,
 * padding optional) of UNSUB_SECRET_MIN_BYTES..UNSUB_SECRET_MAX_BYTES bytes, and derives the
 * signing key from it (keyed BLAKE2b of a fixed context, so the key is always crypto_auth's size).
 * Returns 0, or -1 with a reason (a static string that never quotes the secret) in *why. */
int unsub_key_from_secret(const char *secret, unsigned char key[UNSUB_KEY_BYTES], const char **why) ATTR_WUR;

/* Makes the token for lead_id issued at iat into out (cap at least UNSUB_TOKEN_TEXT_MAX + 1,
 * NUL-terminated). Returns its length, or -1 when the id is empty or longer than
 * UNSUB_LEAD_ID_MAX or out is too small. */
long unsub_token_make(const unsigned char key[UNSUB_KEY_BYTES], struct str lead_id, int64_t iat, char *out,
                      size_t cap) ATTR_WUR;

/* Verifies token against the current key, then the previous one (both in constant time), and its
 * age against max_age_s at now. On UNSUB_OK the lead id is copied into lead_id
 * (UNSUB_LEAD_ID_MAX + 1 bytes, NUL-terminated) and *iat set. An expired verdict is given only for
 * a token whose tag is genuine: a forged old token is UNSUB_INVALID. */
enum unsub_verdict unsub_token_verify(const struct unsub_keys *keys, struct str token, int64_t now,
                                      int64_t max_age_s, char lead_id[UNSUB_LEAD_ID_MAX + 1], int64_t *iat);

/* The route the links point at (api/routes.c serves it). */
#define UNSUB_PATH "/v1/leads/unsubscribe"

struct config;
/* The link for lead_id issued at now: PUBLIC_BASE_URL, UNSUB_PATH, "?token=", the token (the path
 * alone when PUBLIC_BASE_URL is unset), NUL-terminated in out (cap at least UNSUB_URL_MAX + 1).
 * Returns its length, or -1 when UNSUBSCRIBE_SECRET is unset, the id cannot be signed or out is
 * too small. What the admin lead export and `backend unsubscribe-url` hand out. */
long unsub_link_make(const struct config *cfg, struct str lead_id, int64_t now, char *out,
                     size_t cap) ATTR_WUR;

#endif

/* erasure.h - the erasure log's keyed hash (issue 16 item 5).
 *
 * An erased lead leaves one lead_erasures row: HMAC-SHA256 of the normalised email (lowercase hex)
 * and the time. The key never reaches the database, so the log holds no address and cannot be
 * reversed by hashing a list of addresses without it; the admin asks "was x erased?" by giving x,
 * and the service hashes it again.
 *
 * The key: ERASURE_LOG_SECRET's decoded bytes as they are (so an auditor can recompute a row with
 * `printf %s EMAIL | openssl dgst -sha256 -mac HMAC -macopt hexkey:SECRET`). Unset, it is derived
 * from IP_HASH_PEPPER, which every deployment has: HMAC-SHA256(pepper, ERASURE_PEPPER_CONTEXT), so
 * an existing site records proofs without a new setting, and the hash differs from the pepper's
 * other uses. A lookup tries both keys when the secret is set, so the proofs recorded before it was
 * set still answer. */
#ifndef ERASURE_H
#define ERASURE_H

#include "core/bounds.h"
#include "core/common.h"
#include "core/hash.h"

#define ERASURE_PEPPER_CONTEXT "backend erasure log v1"

struct erasure_keys {
    unsigned char key[ERASURE_KEY_MAX_BYTES]; /* what new proofs are keyed with */
    size_t key_len;
    unsigned char derived[ERASURE_DERIVED_KEY_BYTES]; /* from IP_HASH_PEPPER, always set */
    /* key is ERASURE_LOG_SECRET's; else key is derived */
    bool from_secret;
};

/* Sets keys from the pepper and, when secret is not NULL, from ERASURE_LOG_SECRET (hex or base64,
 * as UNSUBSCRIBE_SECRET). Returns 0, or -1 with a reason (static, never quoting the secret) in
 * *why; the keys are then unusable. */
int erasure_keys_init(struct erasure_keys *keys, struct str pepper, const char *secret,
                      const char **why) ATTR_WUR;

/* The proof to record for a normalised email: lowercase hex HMAC-SHA256 under keys->key. */
void erasure_proof_hex(const struct erasure_keys *keys, struct str email_normalized,
                       char out[HASH_HEX_LEN + 1]);

/* The hashes a lookup of a normalised email matches: under keys->key and, when that is the secret's,
 * under the derived key. Returns how many were written (1 or 2). */
size_t erasure_lookup_hex(const struct erasure_keys *keys, struct str email_normalized,
                          char out[ERASURE_LOOKUP_KEYS][HASH_HEX_LEN + 1]);

#endif

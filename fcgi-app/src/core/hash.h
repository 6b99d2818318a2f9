/* hash.h - HMAC-SHA256 for IP/UA hashing, SHA-256, UUIDs, constant-time comparison. */
#ifndef HASH_H
#define HASH_H

#include "core/common.h"

#define HASH_HEX_LEN 64
#define UUID_STR_LEN 36

/* Call once before anything else here. Returns -1 when libsodium cannot start. */
int hash_init(void) ATTR_WUR;

/* Lowercase hex HMAC-SHA256(key, msg) into out[HASH_HEX_LEN + 1]. */
void hash_hmac_hex(struct str key, struct str msg, char out[HASH_HEX_LEN + 1]);
struct config;
/* Lowercase hex HMAC-SHA256 keyed with the config's IP_HASH_PEPPER: how a client address (and
 * anything else kept only as a keyed hash) is stored. */
void hash_peppered_hex(const struct config *cfg, struct str msg, char out[HASH_HEX_LEN + 1]);
/* Lowercase hex SHA-256(msg) into out[HASH_HEX_LEN + 1]. */
void hash_sha256_hex(struct str msg, char out[HASH_HEX_LEN + 1]);

/* Random UUIDv4 into out[UUID_STR_LEN + 1]. */
void uuid_v4(char out[UUID_STR_LEN + 1]);
/* Time-ordered UUIDv7 (ms timestamp + random) into out[UUID_STR_LEN + 1]: new rows land on the
 * right edge of the primary-key B-tree. */
void uuid_v7(char out[UUID_STR_LEN + 1]);
/* How many times the ids' random pool (ID_RANDOM_POOL_BYTES) was filled from the kernel: for the
 * tests. */
unsigned long hash_id_pool_refills(void);

/* Constant-time equality of two secrets; lengths may differ (the difference is not leaked
 * beyond the length of the expected value). */
bool hash_secret_eq(struct str given, struct str expected);

#endif

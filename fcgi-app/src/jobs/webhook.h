/* webhook.h - the scheduler's webhook job (issue 16 item 6): the outbox rows migrations/0014 writes
 * for new leads, POSTed to WEBHOOK_URL signed per the Standard Webhooks convention, retried with
 * exponential backoff for WEBHOOK_RETRY_HOURS, at least once under each row's stable id. */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include "core/config.h"

/* One pass on an open job connection (the scheduler runs it only with a WEBHOOK_URL): delivered and
 * failed rows older than WEBHOOK_PURGE_DAYS deleted, then due rows claimed and sent until none is due,
 * WEBHOOK_BATCH_MAX were sent or WEBHOOK_PASS_BUDGET_MS has passed. A refused or failing receiver is not a
 * failure of the job (the rows are retried); the database is. Returns 0, or -1 after logging why. */
int webhook_run(const struct config *cfg, PGconn *c);

/* "v1," + base64 of HMAC-SHA256(key, id "." timestamp "." body) into out (NUL-terminated), the
 * webhook-signature header's value. Returns 0, or -1 when cap is too small. */
#define WEBHOOK_SIGNATURE_LEN (3 + 44) /* "v1," and the base64 of 32 bytes */
int webhook_sign(const unsigned char *key, size_t keylen, const char *id, const char *timestamp,
                 const char *body, size_t body_len, char *out, size_t cap);

/* Why the address may not be a webhook target (a static string such as "loopback"), or NULL for a
 * public one: unspecified, loopback, private (RFC 1918), CGNAT (100.64/10), link-local, unique-local
 * (fc00::/7), site-local, multicast, broadcast and reserved ranges, documentation and benchmark
 * ranges; an IPv4-mapped, NAT64 or 6to4 IPv6 address is judged by the IPv4 address inside it. */
const char *webhook_address_refusal(const struct sockaddr *sa);

/* The delay before the next attempt after the attempts-th failed one: base_s doubled with each
 * attempt, at most WEBHOOK_RETRY_MAX_DELAY_S, minus up to half of it by jitter (0..1, a uniform
 * random number). Seconds, at least 1. */
double webhook_backoff_s(int attempts, int base_s, double jitter);

/* The URL as logs may show it: scheme, host and port only (a path or query may hold the receiver's
 * own token; userinfo its password). "(unparsable URL)" when libcurl cannot read it. */
void webhook_url_for_log(const char *url, char *out, size_t cap);

#endif

/* lead_query.h - the pieces of the admin lead routes (issue 16 items 1 and 3) that are rules rather
 * than SQL: the consent methods and wording versions a capture may name, the email filter's LIKE
 * pattern and the list's opaque cursor. Pure functions, unit-tested (tests/unit/test_lead_query.c). */
#ifndef LEAD_QUERY_H
#define LEAD_QUERY_H

#include "core/arena.h"
#include "core/common.h"

/* How consent was obtained, a closed list (migrations/0012 checks it too): checkbox (an unticked
 * box the person ticked: express), double_opt_in (confirmed from a mail: express), inquiry (the
 * person asked something through the form: implied, CONSENT_IMPLIED_INQUIRY_DAYS), existing_customer
 * (a purchase or contract: implied, CONSENT_IMPLIED_CUSTOMER_DAYS), other. */
#define CONSENT_METHODS_LEN 5
extern const char *const CONSENT_METHODS[CONSENT_METHODS_LEN];

/* A wording version: 1..CONSENT_VERSION_MAX bytes of [A-Za-z0-9._:-] (safe in a URL, a CSV cell and
 * a log line as it is). */
bool consent_version_valid(struct str v);

/* The LIKE pattern "%<needle>%" for a substring match of a normalised email: the needle
 * lower-cased (ASCII, as emails are stored) with '\\', '%' and '_' escaped by '\\' (the statement
 * says ESCAPE '\\'). Arena-owned, NUL-terminated; NULL when the arena is full. */
const char *lead_like_contains(struct arena *a, struct str needle);

/* The list's cursor: base64url (no padding) of "<ms>:<id>", the last lead's first_captured_at in
 * epoch milliseconds (decimal) and its id. Arena-owned; NULL when ms is not 1..LEAD_CURSOR_MS_DIGITS_MAX
 * digits, id is empty or longer than LEAD_CURSOR_ID_MAX, or the arena is full. */
const char *lead_cursor_make(struct arena *a, struct str ms, struct str id);
/* Reads a cursor back into *ms and *id (arena-owned, NUL-terminated). Returns 0, or -1 for anything
 * lead_cursor_make could not have made (bad base64url, no ':', not digits, empty or too long). */
int lead_cursor_parse(struct arena *a, struct str cursor, const char **ms, const char **id) ATTR_WUR;

#endif

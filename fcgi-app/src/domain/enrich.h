/* enrich.h - what the server adds to an event (API.md §3, POST /v1/events, step 4). */
#ifndef ENRICH_H
#define ENRICH_H

#include "core/arena.h"
#include "core/common.h"

/* Host normalisation: trim, drop http(s)://, cut at '/' and ':', lower-case, drop one leading
 * "www.". Arena-owned result; .p NULL when nothing is left (or the arena is full). */
struct str enrich_normalize_host(struct arena *a, struct str raw);

/* Host of an absolute http(s) URL, normalised; .p NULL when raw is not one. Arena-owned. */
struct str enrich_referrer_host(struct arena *a, struct str raw);

/* Matches a normalised host (or a bare name such as "google" for UTM sources) against the lists. */
bool enrich_is_search_engine(struct str host);
bool enrich_is_social(struct str host);

struct traffic_input {
    struct str utm_source; /* trimmed; .p NULL when absent */
    struct str utm_medium;
    struct str referrer;  /* as sent, trimmed; .p NULL when absent */
    struct str site_host; /* normalised; .p NULL when unknown */
};

/* One of the TrafficSource enum labels. Static string. */
const char *enrich_traffic_source(struct arena *a, const struct traffic_input *in);

/* The path as stored (no personal data in a query string): without its fragment, and with only the
 * query parameters whose key (as sent, not decoded) is one of keys[0..n), in their order; no '?'
 * when none is left, and "/" when nothing is left at all. *changed tells whether anything went.
 * Borrows from path when nothing changed, else arena-owned; .p NULL when the arena is full. */
struct str enrich_strip_path(struct arena *a, struct str path, char *const *keys, size_t n, bool *changed);

/* The referrer as stored: scheme, host (and port) and path of a URL, without userinfo, query or
 * fragment; a referrer that is not a URL loses its query and fragment. *out .p NULL when nothing
 * is left; it borrows from ref, or is arena-owned when userinfo was cut out. Returns -1 when the
 * arena is full, else 0. */
int enrich_strip_referrer(struct arena *a, struct str ref, struct str *out, bool *changed) ATTR_WUR;

/* desktop | mobile | tablet | bot from a user agent (absent = "unknown" text). Static string. */
const char *enrich_device_type(struct str user_agent);

/* Why a user agent is not a visitor's browser, or NULL when it may be one: "empty_ua" (absent or
 * blank), "headless" (a headless or scripted browser: HeadlessChrome, PhantomJS, ...), "bot_ua"
 * (a bot, crawler, spider or link previewer). HTTP libraries (curl, python-requests, ...) are not
 * refused: server-side senders are legitimate callers of this API. Static strings. */
const char *enrich_bot_reason(struct str user_agent);
/* Every reason enrich_bot_reason gives, in the order the summary and the discrepancy list them
 * (ingest_bot_drops.reason allows exactly these, migrations/0007). */
#define N_BOT_REASONS 3
extern const char *const BOT_REASONS[N_BOT_REASONS];

#endif

/* event.h - the event path: a validated event, and the parameters of ingest_event() (migration
 * 0002). Shared by POST /v1/events and the form_submit event of a lead capture. */
#ifndef EVENT_H
#define EVENT_H

#include <jansson.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/issues.h"
#include "core/sqlfn.h"
#include "domain/validate.h"

#define UTM_FIELDS 5

/* Field limits of API.md §3 (code points after trimming). */
#define EVENT_ANON_ID_MIN 8
#define EVENT_ANON_ID_MAX 128
#define EVENT_TYPE_MAX 64
#define EVENT_PATH_MAX 2048
/* events.path is indexed (events_path_timestamp_idx) and a B-tree entry holds at most 2704 bytes:
 * 2048 code points of CJK text are 6 KB, so the path is also bounded in bytes (leaving room for the
 * timestamp and the entry's header). */
#define EVENT_PATH_MAX_BYTES 2600
#define EVENT_REFERRER_MAX 2048
#define EVENT_UTM_MAX 255
#define EVENT_PROPERTY_ID_MAX PROPERTY_ID_MAX
#define EVENT_MAX_FUTURE_MS (24LL * 3600 * 1000)
#define EVENT_DEDUPE_BUCKET_MS 30000LL

extern const char *const UTM_KEYS[UTM_FIELDS]; /* source medium campaign term content */

enum tri { TRI_ABSENT = -1, TRI_FALSE = 0, TRI_TRUE = 1 };

struct event_in {
    struct str anon_id, event_type, path, referrer; /* referrer .p NULL when absent */
    bool has_timestamp;
    int64_t timestamp_ms;
    struct str utm[UTM_FIELDS]; /* trimmed; .p NULL when absent or empty */
    bool has_utm_object;
    struct str property_id;  /* traffic.propertyId, .p NULL when absent */
    const char *device_type; /* NULL when absent */
    char country_code[3];    /* "" when absent */
    enum tri is_entrance, is_exit, is_conversion;
    json_t *traffic_canon; /* the validated traffic object (owned), NULL when absent */
    json_t *metrics;       /* traffic metrics copied into props (owned), NULL when none */
    json_t *props;         /* the body's props (borrowed), NULL when absent */
    struct str honeypot;   /* trimmed; .p NULL when absent */
    /* The client's eventId (a UUID, lower-cased), the event's idempotency key within its anonId;
     * "" when absent. */
    char client_id[UUID_STR_LEN + 1];
    /* Set by lead capture: what tells one capture's form_submit event from another's (an HMAC of the
     * lead's email, consent and payload), rendered last into the dedupe key; .p NULL otherwise. */
    struct str dedupe_extra;
};

/* The optional `eventId`: a UUID (8-4-4-4-12 hex digits, any case, trimmed), copied lower-cased
 * into out (UUID_STR_LEN + 1 bytes); out is "" when absent or invalid. */
enum v_result event_parse_client_id(json_t *body, struct issues *is, char out[UUID_STR_LEN + 1]);

/* Validates an /v1/events body into *ev, recording every problem in *is. Call event_free(). */
void event_parse(json_t *body, int64_t now_ms, struct issues *is, struct event_in *ev);
void event_free(struct event_in *ev);

/* The `path` field of an event or a capture: trimmed, 1..EVENT_PATH_MAX code points and at most
 * EVENT_PATH_MAX_BYTES bytes. */
enum v_result event_parse_path(json_t *body, struct issues *is, bool required, struct str *out);

/* The optional `utm` object (shared with lead capture): each field trimmed, 1..EVENT_UTM_MAX.
 * Returns true when the body has a utm object. */
bool event_parse_utm(json_t *body, struct issues *is, struct str utm[UTM_FIELDS]);

/* The property a rejected body names: propertyId or traffic.propertyId when valid (trimmed, copied
 * into the arena), else NULL (also when the arena is full). */
const char *event_body_property(struct arena *a, json_t *body);

/* What the request tells about its sender, as far as the event path needs it. The handler copies
 * it out of the HTTP request (the domain knows no HTTP types); all borrowed. */
struct event_client {
    struct str remote_addr; /* hashed with the pepper, never stored */
    struct str user_agent;  /* .p NULL when absent */
    struct str origin;      /* the Origin header, .p NULL when absent */
    struct str host;        /* the Host header, .p NULL when absent */
};

/* Fills *out, the row of ingest_event() (strings arena-owned or static, NULL for SQL NULL).
 * now_ms is the server time used when the event has no timestamp. Returns -1 when the arena is
 * full (*out untouched). */
int event_params(struct arena *a, const struct config *cfg, const struct event_client *cl,
                 const struct event_in *ev, int64_t now_ms, union ingest_event_args *out) ATTR_WUR;

/* The anonId of API.md §3: a string of 8..EVENT_ANON_ID_MAX code points, trimmed; absent (or
 * JSON null) is allowed since issue 14 (the visitor is then cookieless, *out .p NULL). */
enum v_result event_parse_anon_id(json_t *body, struct issues *is, struct str *out);

/* The cookieless visitor id: "ck:" + hex of a keyed BLAKE2b (libsodium crypto_generichash, key =
 * the day's salt) over the site host (as for property_id), the client address and the user agent
 * ("" when absent), each length-prefixed. Same day, host, address and browser: same id; another
 * day's salt: an unrelated id. *out is arena-owned, COOKIELESS_ID_LEN bytes. Returns -1 when the
 * arena is full. */
int event_cookieless_id(struct arena *a, const unsigned char salt[SALT_BYTES], const struct event_client *cl,
                        struct str *out) ATTR_WUR;

/* The property an event is stored under (traffic.propertyId, else the site host, else "unknown"):
 * arena-owned or static, NULL when the arena is full. */
const char *event_property(struct arena *a, const struct event_client *cl, const struct event_in *ev);

#endif

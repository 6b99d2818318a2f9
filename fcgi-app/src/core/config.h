/* config.h - the service configuration, read once from the environment at start-up. */
#ifndef CONFIG_H
#define CONFIG_H

#include "core/common.h"
#include "core/bounds.h"
#include "core/erasure.h"
#include "core/unsub_token.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

enum rl_class {
    RL_EVENTS = 0,
    RL_CAPTURE,
    RL_UNSUBSCRIBE,
    RL_DELETE,
    RL_SUMMARY,
    RL_DEFAULT, /* RATE_LIMIT_MAX: every other routed request */
    RL_CLASS_COUNT
};

/* One TRUSTED_PROXIES entry: an address with its prefix length (32 or 128 for a single address). */
struct trusted_net {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network byte order; the first 4 bytes for AF_INET; host bits zero */
    int prefix;             /* 0-32 (AF_INET) or 0-128 (AF_INET6) */
};

/* How a responder sends its statements (DATABASE_STATEMENTS). */
enum db_statements {
    DB_STATEMENTS_UNNAMED = 0, /* parsed with each call: works through any pooler */
    DB_STATEMENTS_PREPARED,    /* named, prepared at connect: a direct connection, a session pooler,
                                  or a pooler that tracks protocol-level prepared statements */
};

struct config {
    /* Secrets: never printed. */
    const char *database_url;        /* the responders' (on Fly MPG: the pooled URL) */
    const char *direct_database_url; /* jobs, advisory locks: DIRECT_DATABASE_URL, else database_url */
    const char *ip_hash_pepper;
    size_t ip_hash_pepper_len;
    const char *admin_api_key; /* NULL when unset */
    size_t admin_api_key_len;
    /* Signed unsubscribe links (issue 16): the keys derived from UNSUBSCRIBE_SECRET and
     * UNSUBSCRIBE_SECRET_PREVIOUS (has_current false: token routes answer 503). */
    struct unsub_keys unsub_keys;
    int unsub_max_age_days;      /* UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS */
    bool unsub_require_token;    /* UNSUBSCRIBE_REQUIRE_TOKEN: the bare-email POST is refused */
    const char *public_base_url; /* PUBLIC_BASE_URL without a trailing '/'s; NULL when unset */
    size_t public_base_url_len;
    /* The erasure log's key (issue 16 item 5, core/erasure.h): ERASURE_LOG_SECRET, else derived
     * from IP_HASH_PEPPER (from_secret false; each responder warns at start). */
    struct erasure_keys erasure_keys;

    char *cors_origins[CORS_MAX_ORIGINS]; /* owned by config (config_free) */
    size_t cors_origin_count;
    bool enforce_origin; /* POST with a foreign Origin: 403 origin_not_allowed (ENFORCE_ORIGIN) */

    /* Query keys a stored path keeps (PATH_QUERY_ALLOWLIST; empty: paths are stored without their
     * query). Owned by config (config_free). */
    char *path_query_keys[PATH_QUERY_ALLOWLIST_MAX];
    size_t path_query_key_count;

    int port;
    int fcgi_workers;
    long max_body_bytes;
    long rate_limits[RL_CLASS_COUNT]; /* per minute; 0 = off */
    int rate_limit_ipv6_prefix;       /* IPv6 clients are counted per this many leading bits */

    int session_inactivity_minutes;
    int heuristic_link_window_minutes;
    bool enable_heuristic_linking;
    /* Sec-GPC: 1 or DNT: 1 makes an event or capture cookieless (HONOR_GLOBAL_PRIVACY_CONTROL) */
    bool honor_gpc;
    /* Bots, headless browsers and empty user agents: dropped and counted (true), or stored labelled
     * device_type bot as before (BOT_POLICY=label) */
    bool drop_bots;
    int rollup_batch_days;
    const char *rollup_default_property_id;
    int rollup_interval_minutes;
    /* the refresh job: today's and (until final) yesterday's rollups every this many minutes */
    int rollup_refresh_minutes;
    /* The site's time zone (SITE_TIME_ZONE, an IANA name found in the system's tzdata; default UTC):
     * rollup days, "today" and every read window are days in this zone. */
    const char *site_time_zone;
    int retention_days;
    const char *privacy_contact_email; /* NULL when unset */
    enum log_level log_level;
    const char *database_schema;
    enum db_statements db_statements;
    int db_max_lifetime_s; /* a responder replaces a connection this old before its next request */
    int db_max_idle_s;     /* ... and one unused for this long */

    /* Deployment (ours, not the Node service's). */
    const char *run_dir;         /* FastCGI socket and rate-limit table live here */
    const char *trusted_proxies; /* as given, for config_print; NULL when unset */
    struct trusted_net trusted[CONFIG_TRUSTED_PROXIES_MAX]; /* parsed TRUSTED_PROXIES */
    size_t trusted_count;
    const char *client_ip_header; /* the one header a trusted peer sets the client address with;
                                     NULL: always the peer address (CLIENT_IP_HEADER empty) */
    const char *app_home;         /* holds lighttpd/ and migrations/ */
    const char *bind_address;     /* lighttpd's server.bind: an IPv4 or IPv6 address (BIND_ADDRESS) */

    /* The metrics listener (METRICS_PORT, 0: none; METRICS_BIND_ADDRESS, IPv4 or IPv6). */
    int metrics_port;
    const char *metrics_bind_address;

    /* Implied consent's life in days (issue 16 item 3): after an inquiry (CONSENT_IMPLIED_INQUIRY_DAYS)
     * and after a purchase (CONSENT_IMPLIED_CUSTOMER_DAYS, consent method existing_customer). */
    int consent_implied_inquiry_days;
    int consent_implied_customer_days;
    /* The webhook on a new lead (issue 16 item 6, jobs/webhook.c). webhook_url NULL: off (no outbox
     * row is written, the job delivers nothing). The key is WEBHOOK_SECRET's base64 part decoded
     * (a secret: never printed). */
    const char *webhook_url;
    unsigned char webhook_key[WEBHOOK_SECRET_MAX_BYTES];
    size_t webhook_key_len;
    bool webhook_include_email;   /* WEBHOOK_INCLUDE_EMAIL (default true) */
    bool webhook_include_payload; /* WEBHOOK_INCLUDE_PAYLOAD (default false) */
    bool webhook_allow_private;   /* WEBHOOK_ALLOW_PRIVATE_TARGETS (default false) */
    int webhook_timeout_ms;       /* WEBHOOK_TIMEOUT_MS: one delivery attempt, connect included */
    int webhook_retry_hours;      /* WEBHOOK_RETRY_HOURS: retried until created_at + this */
    int webhook_retry_base_s;     /* WEBHOOK_RETRY_BASE_SECONDS: the first backoff, doubled after */
    int webhook_poll_s;           /* WEBHOOK_POLL_SECONDS: the scheduler looks for due rows this often */
    int webhook_purge_days;       /* WEBHOOK_PURGE_DAYS: delivered and failed rows kept this long */
    /* what the capture transaction sends as actx.webhook: "" (off), else "on" and ",email" and/or
     * ",payload" (migrations/0014) */
    const char *webhook_tx_setting;
};

/* An accessor for the environment: tests pass their own. Returns a borrowed string or NULL. */
typedef const char *(*config_getenv_fn)(const char *name, void *ctx);

/* Fills *out from the environment. On a bad value writes "NAME: reason" into err and returns -1.
 * Strings in *out borrow from the environment (or from storage owned by config for lists);
 * call config_free() to release that storage. */
int config_load(struct config *out, config_getenv_fn get, void *ctx, char *err, size_t errlen) ATTR_WUR;
void config_free(struct config *cfg);

/* Parses 1 true yes on / 0 false no off, any case. Returns -1 when the text is neither. */
int config_parse_bool(const char *s, bool *out) ATTR_WUR;

/* Parses one TRUSTED_PROXIES entry (trimmed by the caller): an IPv4 or IPv6 address as inet_pton
 * reads it, optionally followed by /prefix (0-32 or 0-128, no leading zeros, no host bits set).
 * Returns 0, or -1 with the reason (a static string) in *why. */
int config_parse_trusted_net(struct str s, struct trusted_net *out, const char **why) ATTR_WUR;

/* Writes the entry as lighttpd's extforward.forwarder reads it ("10.0.0.0/8", "fd00::/8", a bare
 * address for /32 or /128) into buf. Returns 0, or -1 when buf is too small. */
int config_format_trusted_net(const struct trusted_net *n, char *buf, size_t cap) ATTR_WUR;

/* 0 when name is an IANA zone name (letters, digits, _ + - and / between non-empty parts, no
 * "..") whose file in tzdir is a TZif file; else -1 with the reason (a static string) in *why.
 * Exposed for tests. */
int config_check_time_zone(const char *name, const char *tzdir, const char **why) ATTR_WUR;

/* WEBHOOK_URL's check: http or https, at most WEBHOOK_URL_MAX, no white space or control
 * characters, a host as libcurl parses it (copied into host, hostcap bytes at most). 0, or -1 with
 * the reason (a static string) in *why. */
int config_webhook_url_check(const char *url, char *host, size_t hostcap, const char **why) ATTR_WUR;
/* WEBHOOK_SECRET: "whsec_" + base64 (padded or not) of WEBHOOK_SECRET_MIN_BYTES..MAX_BYTES bytes,
 * decoded into key (WEBHOOK_SECRET_MAX_BYTES bytes) with its length in *keylen. 0, or -1 with the
 * reason (a static string) in *why. */
int config_webhook_secret(const char *v, unsigned char *key, size_t *keylen, const char **why) ATTR_WUR;

/* Prints the effective configuration with secrets redacted. */
void config_print(const struct config *cfg, int fd);

#endif

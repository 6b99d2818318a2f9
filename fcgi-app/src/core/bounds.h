/* bounds.h - every defensive bound of the service, named once; each has a test. */
#ifndef BOUNDS_H
#define BOUNDS_H

/* Request bodies: default and the range MAX_BODY_BYTES may take. */
#define BODY_BYTES_DEFAULT 65536
#define BODY_BYTES_MIN 1024
#define BODY_BYTES_MAX (1024 * 1024)

/* Nesting the scan for a U+0000 object key follows (jansson's own parser stops at 2048). */
#define BODY_SCAN_MAX_DEPTH 2048

/* lighttpd refuses larger bodies itself (server.max-request-size, in KiB) so a huge
 * Content-Length never reaches a responder; the app's own 413 covers what is between. */
#define LIGHTTPD_BODY_SLACK_KB 64

/* CORS allowlist. */
#define CORS_MAX_ORIGINS 32
#define CORS_MAX_ORIGIN_LEN 255
/* Echoed Access-Control-Request-Headers longer than this are refused (400). */
#define CORS_MAX_REQUEST_HEADERS_LEN 1024

/* Per-request arena: request-scoped allocations; bigger requests fail cleanly. */
#define ARENA_BLOCK_BYTES (64 * 1024)
#define ARENA_MAX_BYTES (4 * 1024 * 1024)

/* Response headers a handler may add, and the length of one value. */
#define RESPONSE_MAX_HEADERS 16
#define RESPONSE_HEADER_MAX_LEN 1200

/* Rate limiter shared-memory table. */
#define RATELIMIT_SLOTS 16384
#define RATELIMIT_MAX_PROBES 32
#define RATELIMIT_WINDOW_SECONDS 60
#define RATELIMIT_PER_MINUTE_MAX 1000000
/* IPv6 clients are counted per prefix (RATE_LIMIT_IPV6_PREFIX): one subscriber usually holds a
 * whole /64, so counting single addresses would multiply its limit by 2^64. */
#define RATELIMIT_IPV6_PREFIX_DEFAULT 64
#define RATELIMIT_IPV6_PREFIX_MIN 32
#define RATELIMIT_IPV6_PREFIX_MAX 128

/* Metrics table (core/metrics.c): counters in RUN_DIR/metrics.shm, shared by every responder and
 * the scheduler of a machine, served on the metrics listener (METRICS_PORT). Routes of both route
 * tables plus "other" (checked when a responder starts); statuses are counted exactly from 100 to
 * 599 (about 15 KB per slot; only the pages of the statuses seen are touched); responders counted
 * live. 24: issue 16 adds routes (the lead list, export, consent wordings, access, erasures,
 * webhook deliveries) to the 12 + 1 + 1 before it. */
#define METRICS_ROUTE_SLOTS 24
#define METRICS_STATUS_MIN 100
#define METRICS_STATUS_MAX 599
#define METRICS_RESPONDER_SLOTS 128 /* FCGI_WORKERS at most 64, and respawns reuse dead slots */
/* METRICS_PORT: the second listener, never the public port; 0 turns it off. */
#define METRICS_PORT_DEFAULT 9091

/* Postgres: a request is answered within 2 s even when the database is gone. */
#define DB_CONNECT_TIMEOUT_MS 1500
#define DB_STATEMENT_TIMEOUT_MS 1500
#define DB_TCP_USER_TIMEOUT_MS 1500
#define DB_IDLE_IN_TX_TIMEOUT_MS 5000
/* After a slow failed connect, or a statement with no answer before its deadline (a hung server),
 * refuse at once for this long instead of trying again. */
#define DB_BREAKER_MS 1000
/* ...but only when the failed connect took at least this long (refusals are instant). */
#define DB_BREAKER_SLOW_CONNECT_MS 200
/* A responder replaces its connection, between requests, once it is this old
 * (DATABASE_MAX_LIFETIME_SECONDS; Fly's proxy cuts connections older than ~10 min when it
 * restarts) or has been unused this long (DATABASE_MAX_IDLE_SECONDS). */
#define DB_MAX_LIFETIME_S_DEFAULT 600
#define DB_MAX_IDLE_S_DEFAULT 300
#define DB_MAX_LIFETIME_S_MAX 86400
#define DB_RETRY_AFTER_S 1
/* Reads an idle connection's liveness check makes (each drains what the socket holds) before it
 * takes the connection as alive: a closing server sends one message, then the end of stream. */
#define DB_IDLE_CHECK_READS 4

/* Jobs (migrate, rollups) may run long statements. */
#define JOB_STATEMENT_TIMEOUT_MS 300000
#define JOB_CONNECT_TIMEOUT_S 10

/* A property id (events.property_id VARCHAR(128)), wherever one comes from. */
#define PROPERTY_ID_MAX 128

/* Traffic metrics of an event (API.md §3): traffic.engagedTimeMs, traffic.scrollDepthPercent and
 * traffic.webVitals.{fcpMs,lcpMs,inpMs,ttfbMs,clsScore}, and the same keys in props, which are
 * stored as those metrics when traffic does not carry them. Beyond a bound is a 400, never stored:
 * engaged time at most a day, scroll depth a percentage, a web-vital timing at most two minutes
 * (a page that takes longer measured nothing useful), CLS at most 10 (real pages stay below 1). */
#define EVENT_ENGAGED_MS_MAX 86400000LL
#define EVENT_SCROLL_PCT_MAX 100LL
#define EVENT_VITAL_MS_MAX 120000LL
#define EVENT_CLS_MAX 10.0

/* PATH_QUERY_ALLOWLIST: query keys a stored path keeps (every other query parameter is dropped). */
#define PATH_QUERY_ALLOWLIST_MAX 32
#define PATH_QUERY_KEY_MAX_LEN 64

/* Summary and rollup windows, in days. */
#define SUMMARY_MAX_DAYS 366
/* Values kept per (property, day, dimension) in daily_breakdown_rollups, the rest summed as
 * '(other)': mirrored by rollup_breakdown_cap() in migrations/0009 (test_breakdowns compares them) */
#define BREAKDOWN_VALUES_PER_DAY_MAX 1000
#define ROLLUPS_MAX_DAYS 3660

/* Read APIs (issue 15 item 2). GET /v1/metrics/site lists at most this many properties (a site has
 * a handful; the bound keeps one answer small whatever the table holds). */
#define PROPERTIES_LIST_MAX 100
/* GET /v1/metrics/breakdown: a page of values (limit default and most) and how far it may skip
 * (a day keeps BREAKDOWN_VALUES_PER_DAY_MAX values, so a year of distinct ones stays below this). */
#define BREAKDOWN_LIMIT_DEFAULT 10
#define BREAKDOWN_LIMIT_MAX 100
#define BREAKDOWN_OFFSET_MAX 1000000
/* GET /v1/metrics/realtime: the two windows of raw events, in minutes (the longer one is what the
 * index range scan reads). */
#define REALTIME_SHORT_MINUTES 5
#define REALTIME_LONG_MINUTES 30
/* GET /v1/metrics/export.csv: CSV rows are gathered into chunks of about this size before they go
 * to lighttpd (one FastCGI record each), so memory stays this small whatever the row count. */
#define EXPORT_CHUNK_BYTES 16384

/* A responder's database work for one request ends within this (2 s, less lighttpd's own hop). */
#define REQUEST_DB_BUDGET_MS 1800

/* Scheduler: how often it looks for due jobs, waits after a failed connect, and retries a failed
 * job; the purge runs daily. */
#define SCHEDULER_TICK_S 30
#define SCHEDULER_RECONNECT_S 10
#define SCHEDULER_RETRY_S 300
#define RETENTION_INTERVAL_S 86400

/* Config values. */
#define CONFIG_PEPPER_MIN_LEN 32
#define CONFIG_ADMIN_KEY_MIN_LEN 24
#define CONFIG_MAX_VALUE_LEN 4096
#define CONFIG_FCGI_WORKERS_MAX 64
/* Responders by default. Each handles one request at a time and holds one Postgres connection, so
 * a machine sustains about FCGI_WORKERS / (round trip + database time + app time) requests/s: 8
 * keep 2,000 events/s with a 2 ms round trip to the database (about 2.6 ms a request) with room to
 * spare, for about 1.6 MB of PSS each; idle ones cost no CPU. README "Sizing". */
#define CONFIG_FCGI_WORKERS_DEFAULT 8
/* TRUSTED_PROXIES entries (addresses or CIDR ranges), and the length of CLIENT_IP_HEADER. */
#define CONFIG_TRUSTED_PROXIES_MAX 32
#define CONFIG_CLIENT_IP_HEADER_MAX_LEN 64
#define CONFIG_PORT_MAX 65535
/* A refused list entry is quoted in the error up to this many bytes. */
#define CONFIG_ECHO_MAX_LEN 64
/* Session inactivity and the heuristic link window: at most a day, in minutes. */
#define CONFIG_WINDOW_MINUTES_MAX 1440
#define CONFIG_ROLLUP_BATCH_DAYS_MAX 365
#define CONFIG_ROLLUP_INTERVAL_MINUTES_MAX 10080 /* a week */
/* ROLLUP_REFRESH_MINUTES: today's numbers at most a day old even at the slowest setting */
#define CONFIG_ROLLUP_REFRESH_MINUTES_MAX 1440
#define CONFIG_ROLLUP_REFRESH_MINUTES_DEFAULT 5
/* SITE_TIME_ZONE: an IANA name (the longest in tzdata is about 30 characters) */
#define CONFIG_TIME_ZONE_MAX 64
/* where the system's tzdata lives when TZDIR is unset (glibc's and Debian Postgres' default) */
#define CONFIG_TZDIR_DEFAULT "/usr/share/zoneinfo"
/* TZDIR "/" SITE_TIME_ZONE and its NUL */
#define CONFIG_TZ_PATH_MAX (CONFIG_MAX_VALUE_LEN + 1 + CONFIG_TIME_ZONE_MAX + 1)
#define CONFIG_RETENTION_DAYS_MAX 36500
/* DATABASE_SCHEMA: Postgres truncates identifiers beyond NAMEDATALEN - 1 bytes. */
#define CONFIG_DB_SCHEMA_MAX_LEN 63
/* RUN_DIR: its socket paths must fit a sockaddr_un (108 bytes) with their file names. */
#define CONFIG_RUN_DIR_MAX_LEN 80

/* Log lines are cut at this size. */
#define LOG_LINE_MAX 2048
/* A log message is cut to half a line (the rest is the line's JSON around it). */
#define LOG_MSG_MAX (LOG_LINE_MAX / 2)
/* What a line needs besides its message (ts, level, component, pid, request_id, src, the JSON
 * around them); the message gets the rest of LOG_LINE_MAX. */
#define LOG_LINE_MIN 320
/* A request id from lighttpd (lighttpd/request-id.lua makes 16 hex digits). */
#define LOG_REQUEST_ID_MAX 32
/* The "src" of a wrapped line (lighttpd's "(server.c.1513)"), cut at this length once escaped. */
#define LOG_SRC_MAX 64
/* backend log-filter: a longer input line is cut into pieces of this size, each its own line. */
#define LOG_FILTER_LINE_MAX 8192
/* backend log-filter: the component name given on its command line. */
#define LOG_COMPONENT_MAX 24
/* Lines an outage repeats on every request are written at most once per this many seconds per
 * process, with the count of those left out. */
#define LOG_REPEAT_INTERVAL_S 10

#define MIGRATION_MAX_BYTES (4 * 1024 * 1024) /* one migrations/NNNN_*.sql file */

/* A job's error text (a Postgres message with its context); a migration's quotes its statement. */
#define JOB_ERR_LEN 600
#define MIGRATE_ERR_LEN 2048

/* Validation issues of one request (core/issues.h). API.md reports every issue of a body; each
 * issue needs at least one byte of the body, so a body can never reach this cap: it only bounds
 * memory should a caller loop. The list starts small and doubles. */
#define ISSUES_MAX BODY_BYTES_MAX
#define ISSUES_INITIAL 8

/* The call text of one SQL function (store/sql.c renders it from core/sqlfn.h once): capture_lead's
 * 37 parameters take about 700 bytes. */
#define SQL_CALL_TEXT_MAX 2048

/* Cookieless visitors (issue 14): the daily salt (random bytes, migrations/0007), the keyed hash
 * of (site host, client IP, user agent) under it, and the stored anon_id: "ck:" + hex of the hash
 * (35 characters, inside anonId's 8..128, and a prefix no client id of ours uses). */
#define SALT_BYTES 32
/* The random bytes of ids (uuid_v4, uuid_v7) come from a per-process pool of this many bytes,
 * refilled from the kernel when empty: one getrandom() per 16 ids instead of one per id (an event
 * takes three; a system call is a large share of a request on a virtual machine). */
#define ID_RANDOM_POOL_BYTES 256
#define COOKIELESS_HASH_BYTES 16
#define COOKIELESS_ID_PREFIX "ck:"
#define COOKIELESS_ID_LEN (sizeof(COOKIELESS_ID_PREFIX) - 1 + 2 * COOKIELESS_HASH_BYTES)
/* How often the scheduler makes sure today's salt exists and deletes old ones (seconds). */
#define SALT_JOB_INTERVAL_S 600
/* The no-JavaScript pixel's query string (GET /v1/p.gif): it carries what a page-view body would,
 * so it is held to the same bound as a body. */
#define PIXEL_QUERY_MAX BODY_BYTES_MAX
/* A form post's validation error (h_leads.c): the actx_error list of failing field names (encoded,
 * comma-joined; longer lists stop at a whole name) and the issues the HTML error page lists. */
#define LEAD_ERROR_FIELDS_MAX_LEN 256
#define LEAD_ERROR_PAGE_ISSUES_MAX 20

/* Signed unsubscribe links (issue 16, core/unsub_token.h). The secret settings decode (hex or
 * base64) to at least a crypto_auth key's worth of bytes and at most a BLAKE2b key's (the key is
 * derived from them with crypto_generichash). A token carries a text lead id of at most
 * UNSUB_LEAD_ID_MAX bytes: ours are 36-character UUIDs, a longer id cannot be signed. */
#define UNSUB_SECRET_MIN_BYTES 32
#define UNSUB_SECRET_MAX_BYTES 64
#define UNSUB_SECRET_TEXT_MAX 200 /* the setting's text: 64 bytes as hex is 128 characters */
#define UNSUB_LEAD_ID_MAX 64
/* version, id length, id, issued-at (8 bytes big-endian), crypto_auth tag (32) */
#define UNSUB_TOKEN_BIN_MAX (1 + 1 + UNSUB_LEAD_ID_MAX + 8 + 32)
#define UNSUB_TOKEN_BIN_MIN (1 + 1 + 1 + 8 + 32)
/* base64url without padding of UNSUB_TOKEN_BIN_MAX bytes, and its NUL */
#define UNSUB_TOKEN_TEXT_MAX (((UNSUB_TOKEN_BIN_MAX + 2) / 3) * 4)
/* UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS: RFC 8058 links must keep working for a long time after the mail
 * was sent; the issue asks for at least a year */
#define UNSUB_MAX_AGE_DAYS_DEFAULT 400
#define UNSUB_MAX_AGE_DAYS_MIN 365
#define UNSUB_MAX_AGE_DAYS_MAX 3650
/* a token issued this far in the future (clock skew between hosts) is still accepted */
#define UNSUB_FUTURE_SKEW_S 300
/* the unsubscribe pages (static text and at most one token) */
#define UNSUB_PAGE_MAX 2048
/* PUBLIC_BASE_URL: the scheme and host the minted links start with */
#define PUBLIC_BASE_URL_MAX 200
/* the minted link: base, the route, "?token=", the token */
#define UNSUB_URL_MAX (PUBLIC_BASE_URL_MAX + 64 + UNSUB_TOKEN_TEXT_MAX)
/* multipart/form-data bodies (http/multipart.c): RFC 2046 caps a boundary at 70 characters; a
 * text field's part needs only Content-Disposition (and maybe Content-Type), so its header block
 * is small; a field name is held to a form-urlencoded key's bound. */
#define MULTIPART_BOUNDARY_MAX 70
#define MULTIPART_PART_HEADERS_MAX 1024
#define MULTIPART_NAME_MAX 255
/* The access request (GET /v1/leads/access): at most this many of the linked visitors' sessions
 * and, separately, events in the document (oldest first; eventsTruncated/sessionsTruncated say
 * when more are retained). 10,000 events is a few MB of JSON, built once in Postgres. */
#define LEAD_ACCESS_EVENTS_MAX 10000
/* GET /v1/leads/erasures: at most this many erasures of one address listed (the count is whole) */
#define LEAD_ERASURES_LIST_MAX 1000
/* ERASURE_LOG_SECRET (core/erasure.h): decoded like UNSUBSCRIBE_SECRET (hex or base64 of
 * UNSUB_SECRET_MIN_BYTES..UNSUB_SECRET_MAX_BYTES) and used as the HMAC key as it is */
#define ERASURE_KEY_MAX_BYTES UNSUB_SECRET_MAX_BYTES
/* the key derived from IP_HASH_PEPPER when ERASURE_LOG_SECRET is unset: one HMAC-SHA256 output */
#define ERASURE_DERIVED_KEY_BYTES 32
/* the keys an erasure lookup tries: the configured one and, when it is a secret, the derived one */
#define ERASURE_LOOKUP_KEYS 2
/* Consent wordings (issue 16 item 3, api/h_consent.c). A version is an operator's label
 * ("2026-01-signup", "v3") of [A-Za-z0-9._:-]; the text is the exact statement a person saw, in code
 * points (a consent sentence or paragraph, not the whole privacy policy). The list answers at most
 * CONSENT_WORDINGS_LIST_MAX wordings, newest first. */
#define CONSENT_VERSION_MAX 64 /* consent_wordings.version VARCHAR(64) */
#define CONSENT_TEXT_MAX 16384
#define CONSENT_WORDINGS_LIST_MAX 200
/* Implied consent lasts this many days (CONSENT_IMPLIED_INQUIRY_DAYS, CONSENT_IMPLIED_CUSTOMER_DAYS):
 * CASL s. 10(10): 6 months after an inquiry (a web form is one), 2 years after a purchase. 183 days
 * is 6 months rounded up to the longest half-year; 730 days is 2 years. */
#define CONSENT_IMPLIED_INQUIRY_DAYS_DEFAULT 183
#define CONSENT_IMPLIED_CUSTOMER_DAYS_DEFAULT 730
#define CONSENT_IMPLIED_DAYS_MIN 1
#define CONSENT_IMPLIED_DAYS_MAX 3650

/* The lead list (issue 16 item 1, api/h_lead_list.c): a page holds LEAD_LIST_LIMIT_DEFAULT leads
 * unless limit says otherwise, at most LEAD_LIST_LIMIT_MAX; the email filter is a substring of at
 * most LEAD_LIST_EMAIL_QUERY_MAX characters (an address's length). The cursor is base64url of
 * "<epoch ms>:<lead id>": ms at most 15 digits, an id at most LEAD_CURSOR_ID_MAX bytes. */
#define LEAD_LIST_LIMIT_DEFAULT 50
#define LEAD_LIST_LIMIT_MAX 500
#define LEAD_LIST_EMAIL_QUERY_MAX 320
#define LEAD_CURSOR_MS_DIGITS_MAX 15
#define LEAD_CURSOR_ID_MAX 128
#define LEAD_CURSOR_RAW_MAX (LEAD_CURSOR_MS_DIGITS_MAX + 1 + LEAD_CURSOR_ID_MAX)
#define LEAD_CURSOR_TEXT_MAX (((LEAD_CURSOR_RAW_MAX + 2) / 3) * 4)
/* since/until may name an instant up to this far ahead (a typo'd year is still a valid filter) */
#define LEAD_LIST_TIME_FUTURE_DAYS 36500
/* The lead export reads lead_rows() in pages of this many leads, one statement each, each well
 * inside DB_STATEMENT_TIMEOUT_MS (about 0.1 s on the bench machine): so an export of any size is
 * never cut by the statement timeout, and the cursor carries it across pages. */
#define LEAD_EXPORT_PAGE_ROWS 2000

/* The webhook on a new lead (issue 16 item 6, jobs/webhook.c). WEBHOOK_URL: http or https, at most
 * this long. WEBHOOK_SECRET is Standard Webhooks' "whsec_" + base64 of the key: the key at least
 * 24 bytes (the convention's minimum), at most a block of SHA-256 (a longer HMAC key is hashed). */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MIN_BYTES 24
#define WEBHOOK_SECRET_MAX_BYTES 64
/* One attempt (connect, send, answer) ends within WEBHOOK_TIMEOUT_MS, default and range. */
#define WEBHOOK_TIMEOUT_MS_DEFAULT 5000
#define WEBHOOK_TIMEOUT_MS_MIN 100
#define WEBHOOK_TIMEOUT_MS_MAX 30000
/* WEBHOOK_RETRY_HOURS: failed attempts are retried with exponential backoff until the row is this
 * old (the issue: up to a day), then it is marked failed. */
#define WEBHOOK_RETRY_HOURS_DEFAULT 24
#define WEBHOOK_RETRY_HOURS_MAX 168
/* WEBHOOK_RETRY_BASE_SECONDS: the first retry's delay, doubled with each attempt up to
 * WEBHOOK_RETRY_MAX_DELAY_S, then a random part of it taken off (jitter, up to half). */
#define WEBHOOK_RETRY_BASE_S_DEFAULT 30
#define WEBHOOK_RETRY_BASE_S_MAX 3600
#define WEBHOOK_RETRY_MAX_DELAY_S 3600
/* WEBHOOK_POLL_SECONDS: how often the scheduler looks for due rows when a webhook is configured
 * (its other jobs keep their own intervals). */
#define WEBHOOK_POLL_S_DEFAULT 5
#define WEBHOOK_POLL_S_MAX SCHEDULER_TICK_S
/* Rows one pass claims, and the most time a pass spends sending before it leaves the rest to the
 * next one, so the rollups behind it in the scheduler's loop never wait long. A claimed row is
 * leased: should the scheduler die mid-send it is due again after WEBHOOK_LEASE_S. */
#define WEBHOOK_BATCH_MAX 20
#define WEBHOOK_PASS_BUDGET_MS 20000
#define WEBHOOK_LEASE_S 300
/* The receiver's answer is read up to this many bytes (the rest is discarded: only the status
 * counts); a body is never longer than what one lead makes. */
#define WEBHOOK_RESPONSE_MAX 4096
/* WEBHOOK_PURGE_DAYS: delivered and failed rows are deleted once this old (the outbox holds the
 * email), at most WEBHOOK_PURGE_BATCH per pass. */
#define WEBHOOK_PURGE_DAYS_DEFAULT 7
#define WEBHOOK_PURGE_DAYS_MAX 365
#define WEBHOOK_PURGE_BATCH 1000
/* last_error (webhook_outbox.last_error VARCHAR(255)) */
#define WEBHOOK_ERROR_MAX 255
/* GET /v1/webhooks/deliveries: page size default and most, and the cursor's length */
#define WEBHOOK_LIST_LIMIT_DEFAULT 50
#define WEBHOOK_LIST_LIMIT_MAX 200
#define WEBHOOK_CURSOR_MAX 128
/* Partitions by month (migrations/0017, jobs/partitions.c): the partitions job makes the current
 * month (UTC) and this many next ones; it runs every PARTITION_JOB_INTERVAL_S (creating a month
 * ahead needs it at most once a month, an hour keeps a missed run cheap); creating a partition waits
 * at most PARTITION_LOCK_TIMEOUT_MS for the table (inserts queue behind the wait; a timeout is
 * retried after SCHEDULER_RETRY_S). */
#define PARTITION_MONTHS_AHEAD 2
#define PARTITION_JOB_INTERVAL_S 3600
#define PARTITION_LOCK_TIMEOUT_MS 2000
/* The proof of a legacy partition's bound scans the whole pre-partitioning table once (about a
 * second per million events here): it gets this statement timeout instead of the job's. */
#define PARTITION_VALIDATE_TIMEOUT_MS 3600000
#endif

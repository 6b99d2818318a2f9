/* sqlfn.h - the parameters of every SQL function the C code calls (migrations/NNNN_*.sql), each listed
 * ONCE as an X-macro of X(name, "sql type", nullable). From a list come the C argument type (a
 * union: named members for the code that fills them, .v[] the paramValues array libpq takes), the
 * count, the nullable flags, and (store/sql.c) the call text "fn($1::type, ...)". Adding a
 * parameter = one line here + the migration; tests/integration/test_sqlfn.py compares every list
 * with the function's signature in pg_proc (names as p_<name>, order, types, count).
 *
 * Plain data in core because two sibling layers use it: the domain fills rows (event_params) and
 * the store renders the calls; neither includes the other. All values are text (NULL for SQL
 * NULL); the SQL type is the cast in the call text. */
#ifndef SQLFN_H
#define SQLFN_H

#include "core/common.h"

/* ingest_event() - migrations/0006_hardening.sql */
#define SQLFN_INGEST_EVENT(X)                                                                                \
    X(anon_id, "text", false)                                                                                \
    X(occurred_at, "timestamp(3)", false)                                                                    \
    X(ip_hash, "text", false)                                                                                \
    X(ua_hash, "text", false)                                                                                \
    X(event_type, "text", false)                                                                             \
    X(path, "text", false)                                                                                   \
    X(referrer, "text", true)                                                                                \
    X(utm_source, "text", true)                                                                              \
    X(utm_medium, "text", true)                                                                              \
    X(utm_campaign, "text", true)                                                                            \
    X(utm_term, "text", true)                                                                                \
    X(utm_content, "text", true)                                                                             \
    X(inactivity_minutes, "integer", false)                                                                  \
    X(visitor_id, "text", false)                                                                             \
    X(session_id, "text", false)                                                                             \
    X(event_id, "text", false)                                                                               \
    X(canon_prefix, "text", false)                                                                           \
    X(canon_suffix, "text", true) /* NULL: the event carries the client's eventId */                         \
    X(props, "jsonb", true)                                                                                  \
    X(property_id, "text", false)                                                                            \
    X(traffic_source, "\"TrafficSource\"", false)                                                            \
    X(device_type, "\"DeviceType\"", false)                                                                  \
    X(country_code, "text", true)                                                                            \
    X(is_entrance, "boolean", false)                                                                         \
    X(is_exit, "boolean", false)                                                                             \
    X(is_conversion, "boolean", false)

/* capture_lead() - migrations/0003_leads.sql, 0012_consent_evidence.sql: its own parameters, then
 * ingest_event()'s (the form_submit event, in the same order and with the same names). */
#define SQLFN_CAPTURE_LEAD_OWN(X)                                                                            \
    X(email_normalized, "text", false)                                                                       \
    X(email_domain, "text", true)                                                                            \
    X(source_channel, "text", true)                                                                          \
    X(consent, "\"ConsentStatus\"", true)                                                                    \
    X(form_name, "text", false)                                                                              \
    X(payload, "jsonb", true)                                                                                \
    X(lead_id, "text", false)                                                                                \
    X(submission_id, "text", false)                                                                          \
    X(heuristic, "boolean", false)                                                                           \
    X(heuristic_window_minutes, "integer", false)                                                            \
    X(heuristic_max, "integer", false)                                                                       \
    X(wording_version, "text", true) /* 0012_consent_evidence.sql: a registered wording, or NULL */          \
    X(consent_method, "text", true)
#define SQLFN_CAPTURE_LEAD(X) SQLFN_CAPTURE_LEAD_OWN(X) SQLFN_INGEST_EVENT(X)

/* unsubscribe_lead() - migrations/0003_leads.sql (its heuristic links dropped since 0013) */
#define SQLFN_UNSUBSCRIBE_LEAD(X)                                                                            \
    X(email_normalized, "text", false)                                                                       \
    X(ip_hash, "text", false)
/* delete_lead() - migrations/0013_lead_access_erasure.sql: the erasure and its proof (email_hmac,
 * core/erasure.h's keyed hash of the normalised email, lowercase hex) */
#define SQLFN_DELETE_LEAD(X)                                                                                 \
    X(email_normalized, "text", false)                                                                       \
    X(email_hmac, "text", false)
/* unsubscribe_lead_by_id() - migrations/0010_unsubscribe_by_id.sql (the signed links, issue 16) */
#define SQLFN_UNSUBSCRIBE_LEAD_BY_ID(X)                                                                      \
    X(lead_id, "text", false)                                                                                \
    X(ip_hash, "text", false)

/* rollup_day(), retention_purge() - migrations/0004_rollups.sql (the jobs); rollup_day's tz, the
 * IANA zone whose calendar day p_day is, from 0009_site_zone_breakdowns.sql */
#define SQLFN_ROLLUP_DAY(X)                                                                                  \
    X(property, "text", false)                                                                               \
    X(day, "date", false)                                                                                    \
    X(all, "boolean", false)                                                                                 \
    X(tz, "text", false)
#define SQLFN_RETENTION_PURGE(X) X(cutoff, "timestamp(3)", false)

/* daily_salt(), purge_daily_salts() - migrations/0007_cookieless.sql: a day's cookieless salt
 * (the candidate, 32 random bytes, as bytea hex input "\\x..."), and the purge of old salts */
#define SQLFN_DAILY_SALT(X)                                                                                  \
    X(day, "date", false)                                                                                    \
    X(candidate, "bytea", false)
#define SQLFN_PURGE_DAILY_SALTS(X) X(today, "date", false)

/* lead_access() - migrations/0013_lead_access_erasure.sql: the access request's document (issue 16
 * item 4), events_max sessions and events at most */
#define SQLFN_LEAD_ACCESS(X)                                                                                 \
    X(email_normalized, "text", false)                                                                       \
    X(events_max, "integer", false)
/* register_consent_wording() - migrations/0012_consent_evidence.sql (issue 16 item 3) */
#define SQLFN_REGISTER_CONSENT_WORDING(X)                                                                    \
    X(version, "text", false)                                                                                \
    X(text, "text", false)                                                                                   \
    X(text_sha256, "text", false)
/* lead_rows() - migrations/0012_consent_evidence.sql: the lead list's and export's filters
 * (api/h_lead_list.c); NULL: not filtered */
#define SQLFN_LEAD_ROWS(X)                                                                                   \
    X(inquiry_days, "integer", false)                                                                        \
    X(customer_days, "integer", false)                                                                       \
    X(view, "text", false)                                                                                   \
    X(since_ms, "bigint", true)                                                                              \
    X(until_ms, "bigint", true)                                                                              \
    X(form_name, "text", true)                                                                               \
    X(email_like, "text", true)                                                                              \
    X(cursor_ms, "bigint", true)                                                                             \
    X(cursor_id, "text", true)                                                                               \
    X(limit, "integer", true)

/* partition_validate_legacy(), partitions_ensure() - migrations/0017_partition_events_by_month.sql
 * (jobs/partitions.c): the proof of a legacy partition's bound under a statement timeout of its own
 * (a full scan of a large table), and the months' partitions, waiting at most lock_timeout_ms for a
 * table */
#define SQLFN_PARTITION_VALIDATE_LEGACY(X) X(statement_timeout_ms, "integer", false)
#define SQLFN_PARTITIONS_ENSURE(X)                                                                           \
    X(ahead, "integer", false)                                                                               \
    X(lock_timeout_ms, "integer", false)

/* Every function: F(id, sql name, list, result columns the call selects). */
#define SQLFN_ALL(F)                                                                                         \
    F(INGEST_EVENT, "ingest_event", SQLFN_INGEST_EVENT, "event_id, visitor_id, session_id, deduplicated")    \
    F(CAPTURE_LEAD, "capture_lead", SQLFN_CAPTURE_LEAD,                                                      \
      "lead_id, visitor_id, session_id, heuristic_links_created, wording_found")                             \
    F(UNSUBSCRIBE_LEAD, "unsubscribe_lead", SQLFN_UNSUBSCRIBE_LEAD, "lead_found")                            \
    F(DELETE_LEAD, "delete_lead", SQLFN_DELETE_LEAD, "lead_found")                                           \
    F(UNSUBSCRIBE_LEAD_BY_ID, "unsubscribe_lead_by_id", SQLFN_UNSUBSCRIBE_LEAD_BY_ID, "lead_found")          \
    F(ROLLUP_DAY, "rollup_day", SQLFN_ROLLUP_DAY, "*")                                                       \
    F(RETENTION_PURGE, "retention_purge", SQLFN_RETENTION_PURGE,                                             \
      "events_deleted, sessions_deleted, visitors_deleted")                                                  \
    F(DAILY_SALT, "daily_salt", SQLFN_DAILY_SALT, "encode(daily_salt, 'hex')")                               \
    F(PURGE_DAILY_SALTS, "purge_daily_salts", SQLFN_PURGE_DAILY_SALTS, "purge_daily_salts")                  \
    F(LEAD_ACCESS, "lead_access", SQLFN_LEAD_ACCESS, "document")                                             \
    F(REGISTER_CONSENT_WORDING, "register_consent_wording", SQLFN_REGISTER_CONSENT_WORDING,                  \
      "created, same_text, text_sha256, created_at")                                                         \
    F(LEAD_ROWS, "lead_rows", SQLFN_LEAD_ROWS, "*")                                                          \
    F(PARTITION_VALIDATE_LEGACY, "partition_validate_legacy", SQLFN_PARTITION_VALIDATE_LEGACY,               \
      "partition_validate_legacy")                                                                           \
    F(PARTITIONS_ENSURE, "partitions_ensure", SQLFN_PARTITIONS_ENSURE, "partitions_ensure")

/* ---- derived ---- */
#define SQLFN_X_MEMBER(name, type, nullable) const char *name;
#define SQLFN_X_ONE(name, type, nullable) +1
#define SQLFN_X_INDEX(prefix, name) prefix##name

/* Counts: INGEST_EVENT_NPARAMS, ... */
enum {
#define SQLFN_F_COUNT(id, sqlname, list, cols) id##_NPARAMS = 0 list(SQLFN_X_ONE),
    SQLFN_ALL(SQLFN_F_COUNT)
#undef SQLFN_F_COUNT
};

/* Positions, for tests and messages: INGEST_EVENT_anon_id, ... (capture_lead's event part is at
 * CAPTURE_LEAD_OWN_NPARAMS + INGEST_EVENT_x). */
enum ingest_event_param {
#define SQLFN_X_ENUM(name, type, nullable) INGEST_EVENT_##name,
    SQLFN_INGEST_EVENT(SQLFN_X_ENUM)
#undef SQLFN_X_ENUM
};
enum { CAPTURE_LEAD_OWN_NPARAMS = 0 SQLFN_CAPTURE_LEAD_OWN(SQLFN_X_ONE) };

/* The argument rows: fill the named members; pass .v to libpq. Strings are borrowed. */
union ingest_event_args {
    struct {
        SQLFN_INGEST_EVENT(SQLFN_X_MEMBER)
    };
    const char *v[INGEST_EVENT_NPARAMS];
};
union capture_lead_args {
    struct {
        SQLFN_CAPTURE_LEAD_OWN(SQLFN_X_MEMBER)
        union ingest_event_args event;
    };
    const char *v[CAPTURE_LEAD_NPARAMS];
};
union unsubscribe_lead_args {
    struct {
        SQLFN_UNSUBSCRIBE_LEAD(SQLFN_X_MEMBER)
    };
    const char *v[UNSUBSCRIBE_LEAD_NPARAMS];
};
union delete_lead_args {
    struct {
        SQLFN_DELETE_LEAD(SQLFN_X_MEMBER)
    };
    const char *v[DELETE_LEAD_NPARAMS];
};
union unsubscribe_lead_by_id_args {
    struct {
        SQLFN_UNSUBSCRIBE_LEAD_BY_ID(SQLFN_X_MEMBER)
    };
    const char *v[UNSUBSCRIBE_LEAD_BY_ID_NPARAMS];
};
union lead_access_args {
    struct {
        SQLFN_LEAD_ACCESS(SQLFN_X_MEMBER)
    };
    const char *v[LEAD_ACCESS_NPARAMS];
};
union rollup_day_args {
    struct {
        SQLFN_ROLLUP_DAY(SQLFN_X_MEMBER)
    };
    const char *v[ROLLUP_DAY_NPARAMS];
};
union retention_purge_args {
    struct {
        SQLFN_RETENTION_PURGE(SQLFN_X_MEMBER)
    };
    const char *v[RETENTION_PURGE_NPARAMS];
};

union daily_salt_args {
    struct {
        SQLFN_DAILY_SALT(SQLFN_X_MEMBER)
    };
    const char *v[DAILY_SALT_NPARAMS];
};
union purge_daily_salts_args {
    struct {
        SQLFN_PURGE_DAILY_SALTS(SQLFN_X_MEMBER)
    };
    const char *v[PURGE_DAILY_SALTS_NPARAMS];
};

union register_consent_wording_args {
    struct {
        SQLFN_REGISTER_CONSENT_WORDING(SQLFN_X_MEMBER)
    };
    const char *v[REGISTER_CONSENT_WORDING_NPARAMS];
};
union lead_rows_args {
    struct {
        SQLFN_LEAD_ROWS(SQLFN_X_MEMBER)
    };
    const char *v[LEAD_ROWS_NPARAMS];
};

union partition_validate_legacy_args {
    struct {
        SQLFN_PARTITION_VALIDATE_LEGACY(SQLFN_X_MEMBER)
    };
    const char *v[PARTITION_VALIDATE_LEGACY_NPARAMS];
};
union partitions_ensure_args {
    struct {
        SQLFN_PARTITIONS_ENSURE(SQLFN_X_MEMBER)
    };
    const char *v[PARTITIONS_ENSURE_NPARAMS];
};

/* The named members and .v[] must be the same slots: same count, no padding. */
#define SQLFN_SAME_SLOTS(u, n)                                                                               \
    _Static_assert(sizeof(union u) == (n) * sizeof(const char *), #u ": members and values differ")
SQLFN_SAME_SLOTS(ingest_event_args, INGEST_EVENT_NPARAMS);
SQLFN_SAME_SLOTS(capture_lead_args, CAPTURE_LEAD_NPARAMS);
SQLFN_SAME_SLOTS(unsubscribe_lead_args, UNSUBSCRIBE_LEAD_NPARAMS);
SQLFN_SAME_SLOTS(delete_lead_args, DELETE_LEAD_NPARAMS);
SQLFN_SAME_SLOTS(unsubscribe_lead_by_id_args, UNSUBSCRIBE_LEAD_BY_ID_NPARAMS);
SQLFN_SAME_SLOTS(rollup_day_args, ROLLUP_DAY_NPARAMS);
SQLFN_SAME_SLOTS(retention_purge_args, RETENTION_PURGE_NPARAMS);
SQLFN_SAME_SLOTS(daily_salt_args, DAILY_SALT_NPARAMS);
SQLFN_SAME_SLOTS(purge_daily_salts_args, PURGE_DAILY_SALTS_NPARAMS);
SQLFN_SAME_SLOTS(lead_access_args, LEAD_ACCESS_NPARAMS);
SQLFN_SAME_SLOTS(register_consent_wording_args, REGISTER_CONSENT_WORDING_NPARAMS);
SQLFN_SAME_SLOTS(lead_rows_args, LEAD_ROWS_NPARAMS);
SQLFN_SAME_SLOTS(partition_validate_legacy_args, PARTITION_VALIDATE_LEGACY_NPARAMS);
SQLFN_SAME_SLOTS(partitions_ensure_args, PARTITIONS_ENSURE_NPARAMS);
_Static_assert(CAPTURE_LEAD_NPARAMS == CAPTURE_LEAD_OWN_NPARAMS + INGEST_EVENT_NPARAMS,
               "capture_lead = its own parameters + ingest_event's");

/* Descriptors (core/sqlfn.c), for the call text and the pg_proc test. */
enum sqlfn_id {
#define SQLFN_F_ID(id, sqlname, list, cols) SQLFN_##id,
    SQLFN_ALL(SQLFN_F_ID)
#undef SQLFN_F_ID
        SQLFN_COUNT
};

struct sqlfn_param {
    const char *name; /* the SQL parameter is p_<name> */
    const char *type; /* as cast in the call */
    bool nullable;
};

struct sqlfn {
    const char *name;
    const char *columns; /* what the call selects from the result */
    const struct sqlfn_param *params;
    int nparams;
};

extern const struct sqlfn SQLFNS[SQLFN_COUNT];

/* Index of the first NULL value in v[0..n) whose parameter is not nullable, -1 when none: a row
 * with one is incomplete (an arena ran out while it was filled). */
int sqlfn_first_missing(enum sqlfn_id id, const char *const *v);

#endif

/* sql.c - SQL text in one place. */
#include "sql.h"

const struct stmt_def SQL_STMTS[STMT_COUNT] = {
    /* $1: text[] of migration versions on disk. Newest applied, and how many of ours are applied. */
    [STMT_READY] = {"ready",
                    "SELECT max(version), count(*) FILTER (WHERE version = ANY($1::text[])) "
                    "FROM schema_migrations",
                    1, true},
    /* One round trip per event (migrations/0002_ingest_event.sql). Safe to retry: the same
     * parameters give the same dedupe key, so a retry after a lost commit finds the first row. */
    [STMT_INGEST_EVENT] = {"ingest_event",
                           "SELECT event_id, visitor_id, session_id, deduplicated FROM ingest_event("
                           "$1, $2::timestamp(3), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::integer, "
                           "$14, $15, $16, $17, $18, $19::jsonb, $20, $21::\"TrafficSource\", "
                           "$22::\"DeviceType\", $23, $24::boolean, $25::boolean, $26::boolean)",
                           26, true},
    /* $1 id, $2 property, $3 endpoint, $4 reason */
    [STMT_REJECTION] = {"rejection",
                        "INSERT INTO ingest_rejections (id, property_id, endpoint, reason, status_code) "
                        "VALUES ($1, $2, $3, $4, 400)",
                        4, false},
};

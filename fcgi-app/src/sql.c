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
    /* migrations/0003_leads.sql. Not retried after a lost connection: a commit may have happened. */
    [STMT_CAPTURE] = {"capture_lead",
                      "SELECT lead_id, visitor_id, session_id, heuristic_links_created FROM capture_lead("
                      "$1, $2, $3, $4::\"ConsentStatus\", $5, $6::jsonb, $7, $8, $9::boolean, $10::integer, "
                      "$11, $12::timestamp(3), $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23::integer, "
                      "$24, $25, $26, $27, $28, $29::jsonb, $30, $31::\"TrafficSource\", $32::\"DeviceType\", "
                      "$33, $34::boolean, $35::boolean, $36::boolean)",
                      36, false},
    /* $1 normalised email, $2 ip hash */
    [STMT_UNSUBSCRIBE] = {"unsubscribe_lead", "SELECT lead_found FROM unsubscribe_lead($1, $2)", 2, false},
    /* $1 normalised email */
    [STMT_DELETE] = {"delete_lead", "SELECT lead_found FROM delete_lead($1)", 1, false},
};

/* sql.c - SQL text in one place. */
#include "store/sql.h"

const struct stmt_def SQL_STMTS[STMT_COUNT] = {
    /* $1: text[] of migration versions on disk. Newest applied, and how many of ours are applied. */
    [STMT_READY] = {"ready",
                    "SELECT max(version), count(*) FILTER (WHERE version = ANY($1::text[])) "
                    "FROM schema_migrations",
                    1, true},
    /* One round trip per event (migrations/0002_ingest_event.sql, with the client's eventId since
     * 0006_hardening.sql: a NULL $18 makes $17 the whole key). Safe to retry: the same parameters
     * give the same dedupe key, so a retry after a lost commit finds the first row. */
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
    [STMT_CAPTURE] =
        {"capture_lead",
         "SELECT lead_id, visitor_id, session_id, heuristic_links_created FROM capture_lead("
         "$1, $2, $3, $4::\"ConsentStatus\", $5, $6::jsonb, $7, $8, $9::boolean, $10::integer, "
         "$11::integer, $12, $13::timestamp(3), $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, "
         "$24::integer, $25, $26, $27, $28, $29, $30::jsonb, $31, $32::\"TrafficSource\", "
         "$33::\"DeviceType\", $34, $35::boolean, $36::boolean, $37::boolean)",
         37, false},
    /* $1 normalised email, $2 ip hash */
    [STMT_UNSUBSCRIBE] = {"unsubscribe_lead", "SELECT lead_found FROM unsubscribe_lead($1, $2)", 2, false},
    /* $1 normalised email */
    [STMT_DELETE] = {"delete_lead", "SELECT lead_found FROM delete_lead($1)", 1, false},
    /* $1 property, $2 first day, $3 last day: one row per day (zeros where no rollup), plus the
     * property's latest rollup day and generated_at (the same on every row) */
    [STMT_SUMMARY] =
        {"summary",
         "SELECT d::date::text, COALESCE(m.unique_visitors, 0), COALESCE(m.returning_visitors, 0), "
         "COALESCE(m.total_page_views, 0), COALESCE(m.total_entrances, 0), "
         "COALESCE(m.total_conversions, 0), COALESCE(m.form_starts, 0), COALESCE(m.form_submits, 0), "
         "COALESCE(m.new_leads, 0), COALESCE(m.time_to_first_capture_sum_ms, 0), "
         "COALESCE(m.time_to_first_capture_count, 0), m.traffic_source_breakdown::text, "
         "COALESCE(i.events_accepted, 0), COALESCE(i.events_rejected, 0), i.p95_ttfb_ms, "
         "f.day::text, to_char(f.generated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
         "FROM (SELECT generate_series($2::date, $3::date, interval '1 day')::date AS d) days "
         "LEFT JOIN daily_metric_rollups m ON m.property_id = $1 AND m.day = d::date "
         "LEFT JOIN daily_ingest_rollups i ON i.property_id = $1 AND i.day = d::date "
         "LEFT JOIN (SELECT day, generated_at FROM daily_metric_rollups WHERE property_id = $1 "
         "ORDER BY day DESC LIMIT 1) f ON true ORDER BY d",
         3, true},
};

/* quote_ident keeps a mixed-case or unusual schema name intact in search_path, the way Prisma's
 * ?schema= treats it; TimeZone UTC because timestamp(3) columns hold UTC wall time */
const char SQL_SESSION_SETUP[] = "SELECT set_config('TimeZone', 'UTC', false), "
                                 "set_config('search_path', quote_ident($1), false), "
                                 "set_config('statement_timeout', $2, false), "
                                 "set_config('idle_in_transaction_session_timeout', $3, false)";

/* $1 property, $2 day, $3 aggregate every property (the default property) */
const char SQL_ROLLUP_DAY[] = "SELECT rollup_day($1, $2::date, $3::boolean)";

/* $1 property: row counts of both tables, latest day and its generated_at, today (UTC) */
const char SQL_ROLLUP_STATUS[] =
    "SELECT (SELECT count(*) FROM daily_metric_rollups WHERE property_id = $1), "
    "(SELECT count(*) FROM daily_ingest_rollups WHERE property_id = $1), m.day, "
    "to_char(m.generated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "((now() AT TIME ZONE 'UTC')::date - m.day) "
    "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT day, generated_at FROM daily_metric_rollups "
    "WHERE property_id = $1 ORDER BY day DESC LIMIT 1) m ON true";

/* $1 property, $2 aggregate every property, $3 from, $4 to: per day raw vs rollup counts of
 * events accepted, events rejected and page views, under the rollup's own property rule */
const char SQL_DISCREPANCY[] =
    "SELECT d::date, "
    "(SELECT count(*) FROM events e WHERE e.\"timestamp\" >= d AND e.\"timestamp\" < d + interval '1 day' "
    "  AND ($2 OR e.property_id = $1)), "
    "COALESCE(i.events_accepted, 0), "
    "(SELECT count(*) FROM ingest_rejections r WHERE r.occurred_at >= d AND r.occurred_at < d + interval '1 "
    "day' "
    "  AND r.endpoint = '/v1/events' AND ($2 OR r.property_id = $1)), "
    "COALESCE(i.events_rejected, 0), "
    "(SELECT count(*) FROM events e WHERE e.\"timestamp\" >= d AND e.\"timestamp\" < d + interval '1 day' "
    "  AND e.event_type = 'page_view' AND ($2 OR e.property_id = $1)), "
    "COALESCE(m.total_page_views, 0) "
    "FROM (SELECT generate_series($3::date, $4::date, interval '1 day')::date AS d) days "
    "LEFT JOIN daily_ingest_rollups i ON i.property_id = $1 AND i.day = d::date "
    "LEFT JOIN daily_metric_rollups m ON m.property_id = $1 AND m.day = d::date ORDER BY 1";

/* $1 cutoff (UTC timestamp) */
const char SQL_RETENTION_PURGE[] =
    "SELECT events_deleted, sessions_deleted, visitors_deleted FROM retention_purge($1::timestamp(3))";

/* $1 lock key: a session-level advisory lock, so two machines never run one job at once */
const char SQL_JOB_TRY_LOCK[] = "SELECT pg_try_advisory_lock($1::bigint)";
const char SQL_JOB_UNLOCK[] = "SELECT pg_advisory_unlock($1::bigint)";
/* $1 job, $2 interval in seconds, $3 retry backoff in seconds: true when the job has not started
 * within the interval, or its last run failed more than the backoff ago */
const char SQL_JOB_DUE[] =
    "SELECT NOT EXISTS (SELECT 1 FROM job_runs WHERE job = $1 "
    "AND last_started_at > (now() AT TIME ZONE 'UTC') - make_interval(secs => $2::double precision) "
    "AND NOT (last_status = 'failed' AND last_finished_at < (now() AT TIME ZONE 'UTC') - "
    "make_interval(secs => $3::double precision)))";
/* $1 job */
const char SQL_JOB_START[] =
    "INSERT INTO job_runs (job, last_started_at) VALUES ($1, now() AT TIME ZONE 'UTC') "
    "ON CONFLICT (job) DO UPDATE SET last_started_at = EXCLUDED.last_started_at";
/* $1 job, $2 status */
const char SQL_JOB_FINISH[] =
    "UPDATE job_runs SET last_finished_at = now() AT TIME ZONE 'UTC', last_status = $2 WHERE job = $1";

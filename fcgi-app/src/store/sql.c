/* sql.c - SQL text in one place. */
#include "store/sql.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/bounds.h"

const struct stmt_def SQL_STMTS[STMT_COUNT] = {
    /* $1: text[] of migration versions on disk. Newest applied, and how many of ours are applied. */
    [STMT_READY] = {"ready",
                    "SELECT max(version), count(*) FILTER (WHERE version = ANY($1::text[])) "
                    "FROM schema_migrations",
                    NULL, 1, true},
    /* One round trip per event (migrations/0002_ingest_event.sql, with the client's eventId since
     * 0006_hardening.sql: a NULL canon_suffix makes canon_prefix the whole key). Safe to retry: the
     * same parameters give the same dedupe key, so a retry after a lost commit finds the first row. */
    [STMT_INGEST_EVENT] = {"ingest_event", NULL, &SQLFNS[SQLFN_INGEST_EVENT], INGEST_EVENT_NPARAMS, true},
    /* $1 id, $2 property, $3 endpoint, $4 reason */
    [STMT_REJECTION] = {"rejection",
                        "INSERT INTO ingest_rejections (id, property_id, endpoint, reason, status_code) "
                        "VALUES ($1, $2, $3, $4, 400)",
                        NULL, 4, false},
    /* migrations/0003_leads.sql. Not retried after a lost connection: a commit may have happened. */
    [STMT_CAPTURE] = {"capture_lead", NULL, &SQLFNS[SQLFN_CAPTURE_LEAD], CAPTURE_LEAD_NPARAMS, false},
    [STMT_UNSUBSCRIBE] = {"unsubscribe_lead", NULL, &SQLFNS[SQLFN_UNSUBSCRIBE_LEAD], UNSUBSCRIBE_LEAD_NPARAMS,
                          false},
    [STMT_DELETE] = {"delete_lead", NULL, &SQLFNS[SQLFN_DELETE_LEAD], DELETE_LEAD_NPARAMS, false},
    /* A signed unsubscribe link (issue 16, migrations/0010): lead_found false for an erased lead.
     * Not retried after a lost connection: a commit may have happened. */
    [STMT_UNSUBSCRIBE_ID] = {"unsubscribe_lead_by_id", NULL, &SQLFNS[SQLFN_UNSUBSCRIBE_LEAD_BY_ID],
                             UNSUBSCRIBE_LEAD_BY_ID_NPARAMS, false},
    /* $1 property, $2 first day (of the comparison window when there is one), $3 the window's
     * first day, $4 last day, $5 true when $1 is the property of all (its bot drops are every
     * property's, as its rollups are). Two rows, the window's (cur true) then the comparison
     * window's, each with the sums of its days' rollups (a day without one adds nothing; the
     * session shares of a row rolled up before migrations/0008 read as the bound
     * min(numerator, denominator) of its event counts) and the traffic sources summed from the
     * days' objects (a number under a known key counts, anything else is skipped, as the per-day
     * reading did; -> of an array or a scalar is NULL); then, the same on both rows, the property's
     * latest rollup day and its generated_at, the window's days without a metric rollup
     * (comma-separated, NULL when none) and the window's trend as JSON text, one object per day
     * (zeros where no rollup), rendered here once instead of one JSON object per day in the
     * responder (issue 17). */
    [STMT_SUMMARY] =
        {"summary",
         "WITH m AS (SELECT day >= $3::date AS cur, sum(unique_visitors) AS uv, "
         "sum(returning_visitors) AS ret, sum(total_page_views) AS pv, "
         "sum(COALESCE(entrance_sessions, total_entrances, 0)) AS ent, "
         "sum(COALESCE(converted_entrance_sessions, LEAST(total_conversions, total_entrances), 0)) AS conv, "
         "sum(COALESCE(form_start_sessions, form_starts, 0)) AS fs, "
         "sum(COALESCE(form_completed_sessions, LEAST(form_submits, form_starts), 0)) AS fc, "
         "sum(new_leads) AS nl, sum(time_to_first_capture_sum_ms) AS tsum, "
         "sum(time_to_first_capture_count) AS tcnt, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'direct') = 'number' "
         "THEN traffic_source_breakdown->'direct' END)::numeric) AS direct, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'organic_search') = 'number' "
         "THEN traffic_source_breakdown->'organic_search' END)::numeric) AS organic_search, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'paid_search') = 'number' "
         "THEN traffic_source_breakdown->'paid_search' END)::numeric) AS paid_search, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'social') = 'number' "
         "THEN traffic_source_breakdown->'social' END)::numeric) AS social, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'email') = 'number' "
         "THEN traffic_source_breakdown->'email' END)::numeric) AS email, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'referral') = 'number' "
         "THEN traffic_source_breakdown->'referral' END)::numeric) AS referral, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'campaign') = 'number' "
         "THEN traffic_source_breakdown->'campaign' END)::numeric) AS campaign, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'internal') = 'number' "
         "THEN traffic_source_breakdown->'internal' END)::numeric) AS internal, "
         "sum((CASE WHEN jsonb_typeof(traffic_source_breakdown->'unknown') = 'number' "
         "THEN traffic_source_breakdown->'unknown' END)::numeric) AS unknown "
         "FROM daily_metric_rollups WHERE property_id = $1 AND day BETWEEN $2::date AND $4::date "
         "GROUP BY 1), "
         "i AS (SELECT day >= $3::date AS cur, sum(events_accepted) AS acc, sum(events_rejected) AS rej, "
         /* p95 weighted by the day's accepted events; a day without them carries no weight */
         "sum(p95_ttfb_ms::bigint * events_accepted) "
         "FILTER (WHERE p95_ttfb_ms IS NOT NULL AND events_accepted > 0) AS p95w, "
         "sum(events_accepted) FILTER (WHERE p95_ttfb_ms IS NOT NULL AND events_accepted > 0) AS p95n "
         "FROM daily_ingest_rollups WHERE property_id = $1 AND day BETWEEN $2::date AND $4::date "
         "GROUP BY 1), "
         /* bot drops (migrations/0007) */
         "b AS (SELECT day >= $3::date AS cur, sum(dropped) FILTER (WHERE reason = 'empty_ua') AS empty_ua, "
         "sum(dropped) FILTER (WHERE reason = 'bot_ua') AS bot_ua, "
         "sum(dropped) FILTER (WHERE reason = 'headless') AS headless FROM ingest_bot_drops "
         "WHERE day BETWEEN $2::date AND $4::date AND ($5::boolean OR property_id = $1) GROUP BY 1), "
         "d AS (SELECT string_agg(CASE WHEN x.id IS NULL THEN d::date::text END, ',' ORDER BY d) AS missing, "
         "string_agg('{\"day\":\"' || d::date || "
         "'\",\"uniqueVisitors\":' || COALESCE(x.unique_visitors, 0) || "
         "',\"pageViews\":' || COALESCE(x.total_page_views, 0) || "
         "',\"newLeads\":' || COALESCE(x.new_leads, 0) || '}', ',' ORDER BY d) AS trend "
         "FROM generate_series($3::date, $4::date, interval '1 day') d "
         "LEFT JOIN daily_metric_rollups x ON x.property_id = $1 AND x.day = d::date) "
         "SELECT w.cur, COALESCE(m.uv, 0), COALESCE(m.ret, 0), COALESCE(m.pv, 0), COALESCE(m.ent, 0), "
         "COALESCE(m.conv, 0), COALESCE(m.fs, 0), COALESCE(m.fc, 0), COALESCE(m.nl, 0), "
         "COALESCE(m.tsum, 0), COALESCE(m.tcnt, 0), COALESCE(i.acc, 0), COALESCE(i.rej, 0), "
         "COALESCE(i.p95w, 0), COALESCE(i.p95n, 0), "
         "COALESCE(b.empty_ua, 0), COALESCE(b.bot_ua, 0), COALESCE(b.headless, 0), "
         /* the sources in the order of h_metrics.c's SOURCES */
         "COALESCE(m.direct, 0), COALESCE(m.organic_search, 0), COALESCE(m.paid_search, 0), "
         "COALESCE(m.social, 0), COALESCE(m.email, 0), COALESCE(m.referral, 0), COALESCE(m.campaign, 0), "
         "COALESCE(m.internal, 0), COALESCE(m.unknown, 0), "
         "f.day::text, to_char(f.generated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), d.missing, d.trend "
         "FROM (VALUES (true), (false)) w(cur) LEFT JOIN m ON m.cur = w.cur LEFT JOIN i ON i.cur = w.cur "
         "LEFT JOIN b ON b.cur = w.cur CROSS JOIN d "
         "LEFT JOIN (SELECT day, generated_at FROM daily_metric_rollups WHERE property_id = $1 "
         "ORDER BY day DESC LIMIT 1) f ON true "
         "ORDER BY w.cur DESC",
         NULL, 5, true},
    /* the day's cookieless salt (migrations/0007): read, or made from the candidate when missing;
     * safe to repeat (the first salt of a day wins) */
    [STMT_DAILY_SALT] = {"daily_salt", NULL, &SQLFNS[SQLFN_DAILY_SALT], DAILY_SALT_NPARAMS, true},
    /* $1 property, $2 reason, $3 SITE_TIME_ZONE: one more bot drop today (the site's day, the one
     * the summary shows it under) */
    [STMT_BOT_DROP] =
        {"bot_drop",
         "INSERT INTO ingest_bot_drops (day, property_id, reason, dropped) "
         "VALUES ((now() AT TIME ZONE $3)::date, $1, $2, 1) "
         "ON CONFLICT (day, property_id, reason) DO UPDATE SET dropped = ingest_bot_drops.dropped + 1",
         NULL, 3, false},
    /* The read APIs (issue 15 item 2): rollup tables only, aggregated here, except realtime. */
    /* $1 most rows: every property of the metric rollups with its first and last rolled-up day,
     * ordered by id in byte order (as a client sorts) */
    [STMT_SITE] = {"site",
                   "SELECT property_id, min(day)::text, max(day)::text FROM daily_metric_rollups "
                   "GROUP BY property_id ORDER BY property_id COLLATE \"C\" LIMIT $1::integer",
                   NULL, 1, true},
    /* $1 property, $2 first day, $3 last day, $4 'day', 'week' (ISO, Monday first) or 'month': one
     * row per bucket of the window, clipped to it, zeros where no rollup: start, end, visitors,
     * page views, new leads, conversions, complete (a rollup row on every day), then the
     * property's latest rollup day and generated_at (the summary's freshness, on every row), and the
     * bucket's days without a rollup, comma-separated (NULL when complete) */
    [STMT_TIMESERIES] =
        {"timeseries",
         "SELECT b.s::text, b.e::text, COALESCE(sum(m.unique_visitors), 0), "
         "COALESCE(sum(m.total_page_views), 0), COALESCE(sum(m.new_leads), 0), "
         "COALESCE(sum(m.total_conversions), 0), count(m.day) = b.e - b.s + 1, f.day::text, "
         "to_char(f.generated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
         "CASE WHEN count(m.day) < b.e - b.s + 1 THEN (SELECT string_agg(x::date::text, ',' ORDER BY x) "
         "FROM generate_series(b.s, b.e, interval '1 day') x WHERE NOT EXISTS (SELECT 1 FROM "
         "daily_metric_rollups r WHERE r.property_id = $1 AND r.day = x::date)) END "
         "FROM (SELECT DISTINCT greatest(date_trunc($4::text, d)::date, $2::date) AS s, "
         "least((date_trunc($4::text, d) + ('1 ' || $4::text)::interval)::date - 1, $3::date) AS e "
         "FROM generate_series($2::date, $3::date, interval '1 day') d) b "
         "LEFT JOIN daily_metric_rollups m ON m.property_id = $1 AND m.day BETWEEN b.s AND b.e "
         "LEFT JOIN (SELECT day, generated_at FROM daily_metric_rollups WHERE property_id = $1 "
         "ORDER BY day DESC LIMIT 1) f ON true "
         "GROUP BY b.s, b.e, f.day, f.generated_at ORDER BY b.s",
         NULL, 4, true},
    /* $1 property, $2 dimension, $3 first day, $4 last day, $5 limit, $6 offset: the totals of every
     * value over the window and the number of values (every row), then one page of values summed
     * over the days (NULL when the page is empty: one row with the totals still comes), ordered by
     * visitors, page views, value (byte order) */
    [STMT_BREAKDOWN] =
        {"breakdown",
         "WITH v AS (SELECT value, sum(visitors) AS vis, sum(page_views) AS pv, sum(entrances) AS ent, "
         "sum(conversions) AS conv FROM daily_breakdown_rollups WHERE property_id = $1 AND dimension = $2 "
         "AND day BETWEEN $3::date AND $4::date GROUP BY value) "
         "SELECT t.vis, t.pv, t.ent, t.conv, t.n, p.value, p.vis, p.pv, p.ent, p.conv "
         "FROM (SELECT COALESCE(sum(vis), 0) AS vis, COALESCE(sum(pv), 0) AS pv, COALESCE(sum(ent), 0) AS "
         "ent, "
         "COALESCE(sum(conv), 0) AS conv, count(*) AS n FROM v) t "
         "LEFT JOIN LATERAL (SELECT value, vis, pv, ent, conv FROM v "
         "ORDER BY vis DESC, pv DESC, value COLLATE \"C\" LIMIT $5::integer OFFSET $6::integer) p ON true "
         "ORDER BY p.vis DESC, p.pv DESC, p.value COLLATE \"C\"",
         NULL, 6, true},
    /* $1 property, $2 every property (the default one, as its rollups), $3 and $4 the short and the
     * long window in minutes (REALTIME_SHORT_MINUTES, REALTIME_LONG_MINUTES): now, and the distinct
     * visitors and page views of the raw events of each window. One range of a timestamp index
     * (events_timestamp_idx or events_property_id_timestamp_idx), never a scan of the table
     * (test_read_api checks the plan). */
    [STMT_REALTIME] =
        {"realtime",
         /* now() is the transaction's start: one instant for every expression; distinct ids compared
          * as bytes (equal either way), a cheaper sort than a locale's collation */
         "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
         "count(DISTINCT visitor_id COLLATE \"C\") FILTER (WHERE \"timestamp\" >= "
         "(now() AT TIME ZONE 'UTC') - make_interval(mins => $3::integer)), "
         "count(*) FILTER (WHERE event_type = 'page_view' AND \"timestamp\" >= "
         "(now() AT TIME ZONE 'UTC') - make_interval(mins => $3::integer)), "
         "count(DISTINCT visitor_id COLLATE \"C\"), count(*) FILTER (WHERE event_type = 'page_view') "
         "FROM events "
         "WHERE \"timestamp\" >= (now() AT TIME ZONE 'UTC') - make_interval(mins => $4::integer) "
         "AND \"timestamp\" <= now() AT TIME ZONE 'UTC' AND ($2::boolean OR property_id = $1)",
         NULL, 4, true},
    /* $1 property, $2 first day, $3 last day: the CSV export's daily rows (streamed, one per day,
     * zeros where no rollup): day, visitors, page views, entrances, conversions, new leads, events
     * accepted, events rejected, rolled up (a metric rollup row exists) */
    [STMT_EXPORT_DAILY] =
        {"export_daily",
         "SELECT d::date::text, COALESCE(m.unique_visitors, 0), COALESCE(m.total_page_views, 0), "
         "COALESCE(m.total_entrances, 0), COALESCE(m.total_conversions, 0), COALESCE(m.new_leads, 0), "
         "COALESCE(i.events_accepted, 0), COALESCE(i.events_rejected, 0), m.day IS NOT NULL "
         "FROM generate_series($2::date, $3::date, interval '1 day') d "
         "LEFT JOIN daily_metric_rollups m ON m.property_id = $1 AND m.day = d::date "
         "LEFT JOIN daily_ingest_rollups i ON i.property_id = $1 AND i.day = d::date ORDER BY d",
         NULL, 3, true},
    /* $1 property, $2 dimension, $3 first day, $4 last day: every value of the window (streamed),
     * as STMT_BREAKDOWN orders them, with its share of the visitors (0 when there are none) */
    [STMT_EXPORT_DIMENSION] =
        {"export_dimension",
         "SELECT value, vis, pv, ent, conv, COALESCE(vis::float8 / NULLIF(sum(vis) OVER (), 0), 0) "
         "FROM (SELECT value, sum(visitors) AS vis, sum(page_views) AS pv, sum(entrances) AS ent, "
         "sum(conversions) AS conv FROM daily_breakdown_rollups WHERE property_id = $1 AND dimension = $2 "
         "AND day BETWEEN $3::date AND $4::date GROUP BY value) v "
         "ORDER BY vis DESC, pv DESC, value COLLATE \"C\"",
         NULL, 4, true},
    /* $1 property, $2 SITE_TIME_ZONE: days from its newest rolled-up day to today (the site's);
     * NULL before the first rollup.
     * Read at scrape time (GET /metrics), so a scheduler that stopped shows as a growing lag. */
    [STMT_ROLLUP_LAG] = {"rollup_lag",
                         "SELECT (now() AT TIME ZONE $2)::date - max(day) FROM daily_metric_rollups "
                         "WHERE property_id = $1",
                         NULL, 2, true},
    /* The access request (issue 16 item 4, migrations/0013): the person's whole document, NULL
     * when the email is unknown. Read-only. */
    [STMT_LEAD_ACCESS] = {"lead_access", NULL, &SQLFNS[SQLFN_LEAD_ACCESS], LEAD_ACCESS_NPARAMS, true},
    /* $1 text[] of keyed hashes of one normalised email (core/erasure.h: under every key that may
     * have recorded it), $2 most rows: each erasure of that address, oldest first, with how many
     * there are in all (on every row) */
    [STMT_LEAD_ERASURES] =
        {"lead_erasures",
         "SELECT to_char(erased_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), count(*) OVER () "
         "FROM lead_erasures WHERE email_hmac = ANY($1::text[]) "
         "ORDER BY erased_at, id LIMIT $2::integer",
         NULL, 2, true},
    /* Consent wordings (issue 16 item 3, migrations/0012): a repeat after a lost connection finds
     * the row it wrote and answers it as the same text */
    [STMT_WORDING_REGISTER] = {"register_consent_wording", NULL, &SQLFNS[SQLFN_REGISTER_CONSENT_WORDING],
                               REGISTER_CONSENT_WORDING_NPARAMS, true},
    /* $1 most rows: version, sha256, created_at, text, first use by a consent event (NULL: unused) */
    [STMT_WORDING_LIST] =
        {"wording_list",
         "SELECT w.version, w.text_sha256, to_char(w.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
         "w.text, "
         "to_char((SELECT min(ce.\"timestamp\") FROM consent_events ce "
         "WHERE ce.wording_version = w.version), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
         "FROM consent_wordings w ORDER BY w.created_at DESC, w.version DESC LIMIT $1::integer",
         NULL, 1, true},
    /* The lead list and export (issue 16 item 1, migrations/0012 lead_rows()): read-only */
    [STMT_LEAD_LIST] = {"lead_rows", NULL, &SQLFNS[SQLFN_LEAD_ROWS], LEAD_ROWS_NPARAMS, true},
    /* The webhook outbox (issue 16 item 6, migrations/0011 and 0014). GET /v1/webhooks/deliveries:
     * $1 state or NULL for every state, $2 and $3 the cursor (created_at text and id of the last
     * row of the previous page) or NULL, $4 rows: newest first, never the body (personal data) */
    [STMT_WEBHOOK_DELIVERIES] =
        {"webhook_deliveries",
         "SELECT id, event_type, state, attempts, "
         "to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
         "to_char(next_attempt_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
         "to_char(last_attempt_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), last_status, last_error, "
         "to_char(delivered_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
         "FROM webhook_outbox WHERE ($1::text IS NULL OR state = $1::text) "
         "AND ($2::timestamp IS NULL OR (created_at, id) < ($2::timestamp, $3::text)) "
         "ORDER BY created_at DESC, id DESC LIMIT $4::integer",
         NULL, 4, true},
    /* The metrics' gauge, read at scrape time: rows per state, and the age in seconds of the oldest
     * pending row (0 when none) */
    [STMT_WEBHOOK_STATES] = {"webhook_states",
                             "SELECT count(*) FILTER (WHERE state = 'pending'), "
                             "count(*) FILTER (WHERE state = 'delivered'), "
                             "count(*) FILTER (WHERE state = 'failed'), "
                             "COALESCE(extract(epoch FROM (now() AT TIME ZONE 'UTC') - min(created_at) "
                             "FILTER (WHERE state = 'pending'))::bigint, 0) FROM webhook_outbox",
                             NULL, 0, true},
};

/* quote_ident keeps a mixed-case or unusual schema name intact in search_path, the way Prisma's
 * ?schema= treats it; TimeZone UTC because timestamp(3) columns hold UTC wall time.
 * The settings every statement relies on; IS_LOCAL "false": for the session, "true": for the
 * current transaction only. $1 schema, $2 statement_timeout ms, $3 idle-in-transaction ms, $4 what
 * a new lead's webhook carries (actx.webhook, read by migrations/0014's trigger: "" none). */
#define SQL_SETTINGS(IS_LOCAL)                                                                               \
    "SELECT set_config('TimeZone', 'UTC', " IS_LOCAL "), "                                                   \
    "set_config('search_path', quote_ident($1), " IS_LOCAL "), "                                             \
    "set_config('statement_timeout', $2, " IS_LOCAL "), "                                                    \
    "set_config('idle_in_transaction_session_timeout', $3, " IS_LOCAL "), "                                  \
    "set_config('actx.webhook', $4, " IS_LOCAL ")"

const char SQL_SESSION_SETUP[] = SQL_SETTINGS("false");

/* Every responder statement's settings, sent in the same pipeline just before it and local to
 * the implicit transaction that ends at the pipeline's sync: a transaction pooler hands the next
 * transaction to another server connection, so nothing may be set for the session. */
const char SQL_TX_SETTINGS[] = SQL_SETTINGS("true");

/* $1 property, $2 SITE_TIME_ZONE: row counts of both tables, latest day and its generated_at, and
 * the days from it to today (the site's) */
const char SQL_ROLLUP_STATUS[] =
    "SELECT (SELECT count(*) FROM daily_metric_rollups WHERE property_id = $1), "
    "(SELECT count(*) FROM daily_ingest_rollups WHERE property_id = $1), m.day, "
    "to_char(m.generated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "((now() AT TIME ZONE $2)::date - m.day) "
    "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT day, generated_at FROM daily_metric_rollups "
    "WHERE property_id = $1 ORDER BY day DESC LIMIT 1) m ON true";

/* $1 property, $2 aggregate every property, $3 from, $4 to, $5 SITE_TIME_ZONE: per day raw vs
 * rollup counts of events accepted, events rejected and page views, under the rollup's own property
 * rule and day (s..e: the site's day d as UTC wall times, as timestamp(3) columns hold) */
const char SQL_DISCREPANCY[] =
    "SELECT d, "
    "(SELECT count(*) FROM events e WHERE e.\"timestamp\" >= s AND e.\"timestamp\" < e_ "
    "  AND ($2 OR e.property_id = $1)), "
    "COALESCE(i.events_accepted, 0), "
    "(SELECT count(*) FROM ingest_rejections r WHERE r.occurred_at >= s AND r.occurred_at < e_ "
    "  AND r.endpoint = '/v1/events' AND ($2 OR r.property_id = $1)), "
    "COALESCE(i.events_rejected, 0), "
    "(SELECT count(*) FROM events e WHERE e.\"timestamp\" >= s AND e.\"timestamp\" < e_ "
    "  AND e.event_type = 'page_view' AND ($2 OR e.property_id = $1)), "
    "COALESCE(m.total_page_views, 0), "
    /* bot drops (migrations/0007): counted, never stored, so no raw rows to compare */
    "(SELECT COALESCE(sum(dropped), 0) FROM ingest_bot_drops b WHERE b.day = d AND b.reason = 'empty_ua' "
    "  AND ($2 OR b.property_id = $1)), "
    "(SELECT COALESCE(sum(dropped), 0) FROM ingest_bot_drops b WHERE b.day = d AND b.reason = 'bot_ua' "
    "  AND ($2 OR b.property_id = $1)), "
    "(SELECT COALESCE(sum(dropped), 0) FROM ingest_bot_drops b WHERE b.day = d AND b.reason = 'headless' "
    "  AND ($2 OR b.property_id = $1)) "
    "FROM (SELECT d, (d::timestamp AT TIME ZONE $5) AT TIME ZONE 'UTC' AS s, "
    "((d + 1)::timestamp AT TIME ZONE $5) AT TIME ZONE 'UTC' AS e_ "
    "FROM (SELECT generate_series($3::date, $4::date, interval '1 day')::date AS d) g) days "
    "LEFT JOIN daily_ingest_rollups i ON i.property_id = $1 AND i.day = d "
    "LEFT JOIN daily_metric_rollups m ON m.property_id = $1 AND m.day = d ORDER BY 1";

/* $1 lock key: a session-level advisory lock, so two machines never run one job at once */
const char SQL_JOB_TRY_LOCK[] = "SELECT pg_try_advisory_lock($1::bigint)";
const char SQL_JOB_UNLOCK[] = "SELECT pg_advisory_unlock($1::bigint)";
/* $1 lock key: waits for the lock (bounded by the statement timeout) */
const char SQL_JOB_LOCK[] = "SELECT pg_advisory_lock($1::bigint)";
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

const char SQL_BEGIN[] = "BEGIN";
const char SQL_COMMIT[] = "COMMIT";
const char SQL_ROLLBACK[] = "ROLLBACK";

/* Does the database hold our schema_migrations, and the Node service's _prisma_migrations? */
const char SQL_MIGRATE_HAS_TABLES[] =
    "SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('_prisma_migrations') IS NOT NULL";
const char SQL_MIGRATE_CREATE_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                        "version text PRIMARY KEY, "
                                        "checksum text NOT NULL, "
                                        "applied_at timestamp(3) NOT NULL DEFAULT current_timestamp, "
                                        "execution_ms integer NOT NULL)";
/* applied_at holds UTC wall time (the session TimeZone is UTC), so it is formatted as such. */
const char SQL_MIGRATE_APPLIED[] =
    "SELECT version, checksum, to_char(applied_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
    "FROM schema_migrations ORDER BY version";
/* $1 version, $2 checksum, $3 execution ms */
const char SQL_MIGRATE_RECORD[] =
    "INSERT INTO schema_migrations (version, checksum, execution_ms) VALUES ($1, $2, $3)";
/* a migration waits at most this long for a table lock held by live traffic */
const char SQL_MIGRATE_LOCK_TIMEOUT[] = "SET LOCAL lock_timeout = '10s'";
/* $1 schema name */
const char SQL_MIGRATE_HAS_SCHEMA[] = "SELECT 1 FROM pg_namespace WHERE nspname = $1";
/* $1 SITE_TIME_ZONE: a row when the database's own tzdata knows the zone (check-config) */
const char SQL_LEAD_ID_BY_EMAIL[] = "SELECT id FROM leads WHERE email_normalized = $1";
const char SQL_HAS_TIME_ZONE[] = "SELECT 1 FROM pg_timezone_names WHERE name = $1";
/* the Node service's migrations: name, applied, rolled back */
const char SQL_MIGRATE_PRISMA[] =
    "SELECT migration_name, finished_at IS NOT NULL AND rolled_back_at IS NULL, rolled_back_at IS NOT NULL "
    "FROM _prisma_migrations ORDER BY started_at, migration_name";

/* $1 rows at most, $2 lease in seconds: the due pending rows (oldest first; rows another scheduler
 * holds are skipped), each with one more attempt and leased (next_attempt_at moved past the
 * lease, so a scheduler that dies mid-send leaves them due again later): id, body as sent (jsonb's
 * text form, the same bytes on every attempt), attempts */
const char SQL_WEBHOOK_CLAIM[] =
    "UPDATE webhook_outbox o SET attempts = o.attempts + 1, last_attempt_at = now() AT TIME ZONE 'UTC', "
    "next_attempt_at = (now() AT TIME ZONE 'UTC') + make_interval(secs => $2::double precision) "
    "FROM (SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= now() AT TIME ZONE "
    "'UTC' ORDER BY next_attempt_at, id LIMIT $1::integer FOR UPDATE SKIP LOCKED) d "
    "WHERE o.id = d.id RETURNING o.id, o.body::text, o.attempts";
/* $1 id, $2 HTTP status or NULL, $3 error or NULL, $4 delivered, $5 seconds to the next attempt,
 * $6 the retry window in seconds: delivered, or pending again after the backoff (never later than
 * the window's end, so the last attempt comes at its end), or failed once the window has passed.
 * The state it ends in. */
const char SQL_WEBHOOK_RESULT[] =
    "UPDATE webhook_outbox SET last_status = $2::integer, last_error = left($3::text, 255), "
    "delivered_at = CASE WHEN $4::boolean THEN now() AT TIME ZONE 'UTC' END, "
    "state = CASE WHEN $4::boolean THEN 'delivered' WHEN now() AT TIME ZONE 'UTC' >= created_at + "
    "make_interval(secs => $6::double precision) THEN 'failed' ELSE 'pending' END, "
    "next_attempt_at = CASE WHEN $4::boolean THEN next_attempt_at ELSE LEAST((now() AT TIME ZONE 'UTC') + "
    "make_interval(secs => $5::double precision), created_at + make_interval(secs => $6::double "
    "precision)) END "
    "WHERE id = $1 AND state = 'pending' RETURNING state";
/* $1 days, $2 rows at most: delivered and failed rows older than the days deleted (the outbox holds
 * the email); how many */
const char SQL_WEBHOOK_PURGE[] =
    "WITH d AS (DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox "
    "WHERE state <> 'pending' AND created_at < (now() AT TIME ZONE 'UTC') - make_interval(days => "
    "$1::integer) ORDER BY created_at LIMIT $2::integer) RETURNING 1) SELECT count(*) FROM d";

/* Renders "SELECT <columns> FROM name($1::type, ...)" into buf. A text that does not fit is a
 * defect of the lists (test_sql renders every one), not of a request: abort. */
static void render_call(const struct sqlfn *f, char *buf, size_t cap)
{
    size_t o = 0;
    int n = snprintf(buf, cap, "SELECT %s FROM %s(", f->columns, f->name);
    for (int i = 0; n >= 0 && (size_t)n < cap - o && i < f->nparams; i++) {
        o += (size_t)n;
        n = snprintf(buf + o, cap - o, "%s$%d::%s", i ? ", " : "", i + 1, f->params[i].type);
    }
    if (n >= 0 && (size_t)n < cap - o) {
        o += (size_t)n;
        n = snprintf(buf + o, cap - o, ")");
    }
    if (n < 0 || (size_t)n >= cap - o) {
        fprintf(stderr, "sql: the call text of %s exceeds SQL_CALL_TEXT_MAX\n", f->name);
        abort();
    }
}

const char *sql_call_text(enum sqlfn_id id)
{
    static char text[SQLFN_COUNT][SQL_CALL_TEXT_MAX];
    if (!text[id][0])
        render_call(&SQLFNS[id], text[id], sizeof(text[id]));
    return text[id];
}

const char *sql_text(enum stmt_id id)
{
    const struct stmt_def *s = &SQL_STMTS[id];
    return s->sql ? s->sql : sql_call_text((enum sqlfn_id)(s->fn - SQLFNS));
}

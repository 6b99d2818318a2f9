-- 0004_rollups: the daily rollups of rollups-reference.md, computed from raw rows and upserted
-- (idempotent), the retention purge, and the bookkeeping that lets several schedulers share jobs.

-- The default property's rollup reads a day of events across every property: a range scan needs
-- an index on the timestamp alone (the Node schema only has (column, timestamp) pairs). New rows
-- arrive at its right edge, so it costs ingest little.
CREATE INDEX IF NOT EXISTS events_timestamp_idx ON events ("timestamp");

-- One (property, day): every metric, both tables. p_all = true aggregates every property (the
-- default property); otherwise every query filters to p_property.
CREATE OR REPLACE FUNCTION rollup_day(p_property text, p_day date, p_all boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    v_from timestamp(3) := p_day::timestamp;
    v_to timestamp(3) := (p_day + 1)::timestamp;
    m record;
    v_sources jsonb;
    v_paths jsonb;
    v_new_leads integer;
    v_ttfc_sum bigint;
    v_ttfc_count integer;
    v_events_rejected integer;
    v_leads_accepted integer;
    v_leads_rejected integer;
    v_p95 integer;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS rollup_e (visitor_id text, event_type text, path text, props jsonb,
        traffic_source text, is_entrance boolean, is_exit boolean, is_conversion boolean) ON COMMIT DROP;
    TRUNCATE rollup_e;
    INSERT INTO rollup_e
    SELECT e.visitor_id, e.event_type, e.path, e.props, e.traffic_source::text, e.is_entrance, e.is_exit,
           e.is_conversion
      FROM events e
     WHERE e."timestamp" >= v_from AND e."timestamp" < v_to
       AND (p_all OR e.property_id = p_property);

    SELECT count(DISTINCT e.visitor_id) AS unique_visitors,
           count(DISTINCT e.visitor_id) FILTER (WHERE v.first_seen_at < v_from) AS returning_visitors,
           count(*) FILTER (WHERE e.event_type = 'page_view') AS page_views,
           count(*) FILTER (WHERE e.is_entrance) AS entrances,
           count(*) FILTER (WHERE e.is_exit) AS exits,
           count(*) FILTER (WHERE e.is_conversion) AS conversions,
           count(*) FILTER (WHERE e.event_type = 'form_start') AS form_starts,
           count(*) FILTER (WHERE e.event_type = 'form_submit') AS form_submits,
           count(*) AS accepted
      INTO m
      FROM rollup_e e JOIN visitors v ON v.id = e.visitor_id;

    SELECT COALESCE(jsonb_object_agg(traffic_source, n), '{}'::jsonb) INTO v_sources
      FROM (SELECT traffic_source, count(*) AS n FROM rollup_e GROUP BY traffic_source) s;

    SELECT jsonb_agg(jsonb_build_object('path', path, 'entrances', entrances, 'conversions', conversions,
                                        'conversionRate', conversions::float8 / entrances)
                     ORDER BY entrances DESC, conversions DESC, path ASC)
      INTO v_paths
      FROM (SELECT path, count(*) AS entrances, count(*) FILTER (WHERE is_conversion) AS conversions
              FROM rollup_e WHERE is_entrance
             GROUP BY path
             ORDER BY entrances DESC, conversions DESC, path ASC
             LIMIT 10) p;

    -- new leads of the day; for a property, only those whose linked visitor had an event of it at
    -- or before the capture
    WITH nl AS (
        SELECT l.id, l.first_captured_at
          FROM leads l
         WHERE l.first_captured_at >= v_from AND l.first_captured_at < v_to
           AND (p_all OR EXISTS (
                 SELECT 1 FROM lead_identities li JOIN events e ON e.visitor_id = li.visitor_id
                  WHERE li.lead_id = l.id AND e.property_id = p_property
                    AND e."timestamp" <= l.first_captured_at))
    ), firsts AS (
        SELECT nl.id, nl.first_captured_at, min(v.first_seen_at) AS first_seen
          FROM nl JOIN lead_identities li ON li.lead_id = nl.id JOIN visitors v ON v.id = li.visitor_id
         GROUP BY nl.id, nl.first_captured_at
    )
    SELECT (SELECT count(*) FROM nl),
           COALESCE(sum(GREATEST(0, floor(extract(epoch FROM (first_captured_at - first_seen)) * 1000)))::bigint, 0),
           count(*)
      INTO v_new_leads, v_ttfc_sum, v_ttfc_count
      FROM firsts;

    SELECT count(*) FILTER (WHERE endpoint = '/v1/events'),
           count(*) FILTER (WHERE endpoint = '/v1/leads/capture')
      INTO v_events_rejected, v_leads_rejected
      FROM ingest_rejections r
     WHERE r.occurred_at >= v_from AND r.occurred_at < v_to
       AND (p_all OR r.property_id = p_property);

    SELECT count(*) INTO v_leads_accepted
      FROM form_submissions f
     WHERE f.submitted_at >= v_from AND f.submitted_at < v_to AND f.validation_status = 'accepted'
       AND (p_all OR EXISTS (SELECT 1 FROM events e WHERE e.visitor_id = f.visitor_id
                                AND e.property_id = p_property AND e."timestamp" <= f.submitted_at));

    -- p95 over integer ttfbMs values only (props may carry any value): anything else, and integers
    -- beyond the p95_ttfb_ms column's range, is skipped, never an error
    SELECT round((percentile_cont(0.95) WITHIN GROUP (ORDER BY t.ms))::numeric)::integer
      INTO v_p95
      FROM (SELECT (props->>'ttfbMs')::numeric AS ms
              FROM rollup_e
             WHERE jsonb_typeof(props->'ttfbMs') = 'number' AND (props->>'ttfbMs') ~ '^-?[0-9]{1,10}$') t
     WHERE t.ms BETWEEN -2147483648 AND 2147483647;

    INSERT INTO daily_metric_rollups AS r (id, property_id, day, unique_visitors, returning_visitors,
        total_page_views, total_entrances, total_exits, total_conversions, form_starts, form_submits, new_leads,
        time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths,
        generated_at, created_at, updated_at)
    VALUES (gen_random_uuid()::text, p_property, p_day, m.unique_visitors, m.returning_visitors, m.page_views,
            m.entrances, m.exits, m.conversions, m.form_starts, m.form_submits, v_new_leads, v_ttfc_sum,
            v_ttfc_count, v_sources, COALESCE(v_paths, '[]'::jsonb), v_now, v_now, v_now)
    ON CONFLICT (property_id, day) DO UPDATE SET
        unique_visitors = EXCLUDED.unique_visitors, returning_visitors = EXCLUDED.returning_visitors,
        total_page_views = EXCLUDED.total_page_views, total_entrances = EXCLUDED.total_entrances,
        total_exits = EXCLUDED.total_exits, total_conversions = EXCLUDED.total_conversions,
        form_starts = EXCLUDED.form_starts, form_submits = EXCLUDED.form_submits, new_leads = EXCLUDED.new_leads,
        time_to_first_capture_sum_ms = EXCLUDED.time_to_first_capture_sum_ms,
        time_to_first_capture_count = EXCLUDED.time_to_first_capture_count,
        traffic_source_breakdown = EXCLUDED.traffic_source_breakdown,
        top_landing_paths = EXCLUDED.top_landing_paths, generated_at = EXCLUDED.generated_at,
        updated_at = EXCLUDED.updated_at;

    INSERT INTO daily_ingest_rollups AS r (id, property_id, day, events_accepted, events_rejected,
        leads_accepted, leads_rejected, p95_ttfb_ms, error_breakdown, generated_at, created_at, updated_at)
    VALUES (gen_random_uuid()::text, p_property, p_day, m.accepted, v_events_rejected, v_leads_accepted,
            v_leads_rejected, v_p95,
            jsonb_build_object('eventsRejected', v_events_rejected, 'leadsRejected', v_leads_rejected),
            v_now, v_now, v_now)
    ON CONFLICT (property_id, day) DO UPDATE SET
        events_accepted = EXCLUDED.events_accepted, events_rejected = EXCLUDED.events_rejected,
        leads_accepted = EXCLUDED.leads_accepted, leads_rejected = EXCLUDED.leads_rejected,
        p95_ttfb_ms = EXCLUDED.p95_ttfb_ms, error_breakdown = EXCLUDED.error_breakdown,
        generated_at = EXCLUDED.generated_at, updated_at = EXCLUDED.updated_at;
END
$$;

-- Retention: events older than the cutoff, then sessions and visitors nothing refers to any more.
-- Leads, consent events and form submissions are kept. The cutoff conditions on sessions and
-- visitors matter beyond speed: a visitor returning while the purge runs is locked by its event's
-- transaction, and after the wait Postgres re-checks only the row's own columns (its new
-- last_seen_at), not the NOT EXISTS subqueries, so without them the new event would be deleted
-- by cascade after it was accepted.
CREATE OR REPLACE FUNCTION retention_purge(p_cutoff timestamp(3), OUT events_deleted bigint,
                                           OUT sessions_deleted bigint, OUT visitors_deleted bigint)
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM events WHERE "timestamp" < p_cutoff;
    GET DIAGNOSTICS events_deleted = ROW_COUNT;
    DELETE FROM sessions s
     WHERE s.last_event_at < p_cutoff
       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id)
       AND NOT EXISTS (SELECT 1 FROM form_submissions f WHERE f.session_id = s.id);
    GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
    DELETE FROM visitors v
     WHERE v.last_seen_at < p_cutoff
       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.visitor_id = v.id)
       AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.visitor_id = v.id)
       AND NOT EXISTS (SELECT 1 FROM lead_identities li WHERE li.visitor_id = v.id)
       AND NOT EXISTS (SELECT 1 FROM form_submissions f WHERE f.visitor_id = v.id);
    GET DIAGNOSTICS visitors_deleted = ROW_COUNT;
END
$$;

-- When each scheduled job last started, so that schedulers on several machines run a job once per
-- interval (checked and stamped under the job's advisory lock).
CREATE TABLE IF NOT EXISTS job_runs (
    job TEXT NOT NULL PRIMARY KEY,
    last_started_at TIMESTAMP(3) NOT NULL,
    last_finished_at TIMESTAMP(3),
    last_status TEXT
);

-- 0009_site_zone_breakdowns: issue 15 items 3 and 1.
--
-- Item 3. Rollup days are calendar days of the site's time zone (SITE_TIME_ZONE, an IANA name; UTC by
-- default, which computes exactly what 0008 did): rollup_day() takes the zone and turns its day into
-- the UTC wall-time range the timestamp(3) columns are compared with. The body is 0008's with only
-- v_from/v_to changed, a NULL zone refused and one PERFORM added (the breakdowns below). The
-- signature changes, so the three-argument function is dropped (this release calls the new one only).
--
-- Item 1. daily_breakdown_rollups: per (property, site day, dimension, value) the visitors, page
-- views, entrances and conversions, written by rollup_day() itself, so in the same transaction as
-- the day's totals whoever calls it. At most rollup_breakdown_cap() values per day and dimension are
-- kept (the most visitors first); the rest are one row '(other)'.
--
-- The cookieless daily salts (0007) stay per UTC day: they are a privacy boundary, not a reporting
-- one, and a salt's 48-hour life is counted from a UTC midnight.

DROP FUNCTION IF EXISTS rollup_day(text, date, boolean);

-- ------------------------------------------------------------------------------------- breakdowns

CREATE TABLE IF NOT EXISTS daily_breakdown_rollups (
    property_id VARCHAR(128) NOT NULL,
    day DATE NOT NULL,
    dimension TEXT NOT NULL CHECK (dimension IN ('page', 'landing_page', 'source', 'referrer_host',
        'utm_source', 'utm_medium', 'utm_campaign', 'device', 'country')),
    value TEXT NOT NULL,
    visitors INTEGER NOT NULL,
    page_views INTEGER NOT NULL,
    entrances INTEGER NOT NULL,
    conversions INTEGER NOT NULL,
    generated_at TIMESTAMP(3) NOT NULL
);
-- a path may be 2600 bytes, beyond what a btree entry holds: uniqueness is kept on its hash
CREATE UNIQUE INDEX IF NOT EXISTS daily_breakdown_rollups_key
    ON daily_breakdown_rollups (property_id, day, dimension, md5(value));
-- the read side: one property, one dimension, a range of days
CREATE INDEX IF NOT EXISTS daily_breakdown_rollups_read
    ON daily_breakdown_rollups (property_id, dimension, day);

-- Values kept per (property, day, dimension); mirrors BREAKDOWN_VALUES_PER_DAY_MAX in
-- fcgi-app/src/core/bounds.h (the integration test breakdowns.cap_mirrors_bounds_h compares them).
CREATE OR REPLACE FUNCTION rollup_breakdown_cap()
RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT 1000 $$;

-- One (property, site day): every dimension, replacing the day's rows. Values are the event's path
-- (page), the entrance event's path (landing_page: entrance events only), traffic_source, the host
-- of the session's referrer, the session's utm_source/medium/campaign, device_type and
-- country_code; a missing or empty one is '(none)'. Per value: distinct visitors, page_view events,
-- entrance events, conversion events. Past p_cap values (ranked by visitors, page views, entrances,
-- then value), the rest are summed into '(other)', its visitors counted distinct over those rows
-- (an event's value that is literally '(other)' is counted there too, so the key stays unique).
CREATE OR REPLACE FUNCTION rollup_breakdowns_day(p_property text, p_day date, p_all boolean, p_tz text,
                                                 p_cap integer)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    v_from timestamp(3) := (p_day::timestamp AT TIME ZONE p_tz) AT TIME ZONE 'UTC';
    v_to timestamp(3) := ((p_day + 1)::timestamp AT TIME ZONE p_tz) AT TIME ZONE 'UTC';
BEGIN
    DELETE FROM daily_breakdown_rollups WHERE property_id = p_property AND day = p_day;
    WITH kv AS (
        SELECT d.dimension, COALESCE(NULLIF(d.value, ''), '(none)') AS value, e.visitor_id,
               e.event_type = 'page_view' AS pv, e.is_entrance, e.is_conversion
          FROM events e
          LEFT JOIN sessions s ON s.id = e.session_id
         CROSS JOIN LATERAL (VALUES
               ('page', e.path),
               ('landing_page', CASE WHEN e.is_entrance THEN COALESCE(e.path, '') END),
               ('source', e.traffic_source::text),
               ('referrer_host', lower(substring(s.referrer FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)'))),
               ('utm_source', s.utm_source::text),
               ('utm_medium', s.utm_medium::text),
               ('utm_campaign', s.utm_campaign::text),
               ('device', e.device_type::text),
               ('country', e.country_code::text)) AS d(dimension, value)
         WHERE e."timestamp" >= v_from AND e."timestamp" < v_to
           AND (p_all OR e.property_id = p_property)
           AND (d.dimension <> 'landing_page' OR e.is_entrance)
    ), pvv AS (
        -- one row per (dimension, value, visitor): visitors then count rows, a hash aggregate
        -- rather than a sort per value for count(DISTINCT)
        SELECT dimension, value, visitor_id, count(*) FILTER (WHERE pv) AS page_views,
               count(*) FILTER (WHERE is_entrance) AS entrances, count(*) FILTER (WHERE is_conversion) AS conversions
          FROM kv
         GROUP BY dimension, value, visitor_id
    ), per AS (
        SELECT dimension, value, count(*) AS visitors, sum(page_views) AS page_views, sum(entrances) AS entrances,
               sum(conversions) AS conversions,
               row_number() OVER (PARTITION BY dimension
                                  ORDER BY count(*) DESC, sum(page_views) DESC, sum(entrances) DESC, value) AS rank
          FROM pvv
         WHERE value <> '(other)'
         GROUP BY dimension, value
    )
    INSERT INTO daily_breakdown_rollups (property_id, day, dimension, value, visitors, page_views, entrances,
                                         conversions, generated_at)
    SELECT p_property, p_day, dimension, value, visitors, page_views, entrances, conversions, v_now
      FROM per WHERE rank <= p_cap
    UNION ALL
    SELECT p_property, p_day, x.dimension, '(other)', count(DISTINCT x.visitor_id), sum(x.page_views),
           sum(x.entrances), sum(x.conversions), v_now
      FROM pvv x LEFT JOIN per p ON p.dimension = x.dimension AND p.value = x.value
     WHERE p.rank IS NULL OR p.rank > p_cap
     GROUP BY x.dimension;
END
$$;

-- ------------------------------------------------------------------------------------ rollup_day

CREATE FUNCTION rollup_day(p_property text, p_day date, p_all boolean, p_tz text)
RETURNS void
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    -- the site's day p_day as UTC wall times (what timestamp(3) columns hold): 23 or 25 hours long
    -- across a daylight-saving change
    v_from timestamp(3) := (p_day::timestamp AT TIME ZONE p_tz) AT TIME ZONE 'UTC';
    v_to timestamp(3) := ((p_day + 1)::timestamp AT TIME ZONE p_tz) AT TIME ZONE 'UTC';
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
    v_rates record;
BEGIN
    -- a NULL zone would make every range NULL and roll the day up as zeros, silently
    IF p_tz IS NULL THEN
        RAISE EXCEPTION 'rollup_day: p_tz (SITE_TIME_ZONE) is required';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS rollup_e (visitor_id text, event_type text, path text, props jsonb,
        traffic_source text, is_entrance boolean, is_exit boolean, is_conversion boolean, session_key text)
        ON COMMIT DROP;
    TRUNCATE rollup_e;
    INSERT INTO rollup_e
    SELECT e.visitor_id, e.event_type, e.path, e.props, e.traffic_source::text, e.is_entrance, e.is_exit,
           e.is_conversion, COALESCE('s:' || e.session_id, 'v:' || e.visitor_id)
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

    -- the rates' numerators are subsets of their denominators by construction (0008)
    SELECT count(*) FILTER (WHERE s.started) AS form_start_sessions,
           count(*) FILTER (WHERE s.started AND s.submitted) AS form_completed_sessions,
           count(*) FILTER (WHERE s.entered) AS entrance_sessions,
           count(*) FILTER (WHERE s.entered AND s.converted) AS converted_entrance_sessions
      INTO v_rates
      FROM (SELECT bool_or(event_type = 'form_start') AS started, bool_or(event_type = 'form_submit') AS submitted,
                   bool_or(is_entrance) AS entered, bool_or(is_conversion) AS converted
              FROM rollup_e GROUP BY session_key) s;

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
        form_start_sessions, form_completed_sessions,
        entrance_sessions, converted_entrance_sessions, generated_at, created_at, updated_at)
    VALUES (gen_random_uuid()::text, p_property, p_day, m.unique_visitors, m.returning_visitors, m.page_views,
            m.entrances, m.exits, m.conversions, m.form_starts, m.form_submits, v_new_leads, v_ttfc_sum,
            v_ttfc_count, v_sources, COALESCE(v_paths, '[]'::jsonb), v_rates.form_start_sessions,
            v_rates.form_completed_sessions, v_rates.entrance_sessions, v_rates.converted_entrance_sessions, v_now,
            v_now, v_now)
    ON CONFLICT (property_id, day) DO UPDATE SET
        unique_visitors = EXCLUDED.unique_visitors, returning_visitors = EXCLUDED.returning_visitors,
        total_page_views = EXCLUDED.total_page_views, total_entrances = EXCLUDED.total_entrances,
        total_exits = EXCLUDED.total_exits, total_conversions = EXCLUDED.total_conversions,
        form_starts = EXCLUDED.form_starts, form_submits = EXCLUDED.form_submits, new_leads = EXCLUDED.new_leads,
        time_to_first_capture_sum_ms = EXCLUDED.time_to_first_capture_sum_ms,
        time_to_first_capture_count = EXCLUDED.time_to_first_capture_count,
        traffic_source_breakdown = EXCLUDED.traffic_source_breakdown,
        top_landing_paths = EXCLUDED.top_landing_paths, form_start_sessions = EXCLUDED.form_start_sessions,
        form_completed_sessions = EXCLUDED.form_completed_sessions,
        entrance_sessions = EXCLUDED.entrance_sessions,
        converted_entrance_sessions = EXCLUDED.converted_entrance_sessions, generated_at = EXCLUDED.generated_at,
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

    -- the day's breakdowns, in this same transaction (0009)
    PERFORM rollup_breakdowns_day(p_property, p_day, p_all, p_tz, rollup_breakdown_cap());
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION rollup_day(text, date, boolean, text) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION rollup_breakdowns_day(text, date, boolean, text, integer) '
                   'SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION rollup_breakdown_cap() SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    -- a day of events is nine (dimension, value, visitor) rows each: sorted in memory, not on disk
    -- (a 100 000-event day spills ~27 MB at the default 4 MB); for the call only
    ALTER FUNCTION rollup_breakdowns_day(text, date, boolean, text, integer) SET work_mem = '64MB';
END
$$;

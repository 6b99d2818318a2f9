-- 0008_rates: issue 15 item 6, rates that are shares (0-1) by construction.
--
-- formCompletionRate was form_submits / form_starts over events: every lead capture adds a
-- form_submit event while form_start comes only from the site, so it came back as 2.
-- landingPageConversionRate was conversions / entrances over events: conversions not tied to an
-- entrance (several per visit, or in a visit that did not enter that day) could exceed them.
-- Both become shares of sessions (an event without a session counts its visitor as the session),
-- as Plausible's conversion rate is a share of unique visitors that converted:
--   form_start_sessions         sessions of the day with a form_start
--   form_completed_sessions     of those, the sessions that also had a form_submit that day
--   entrance_sessions           sessions of the day with an entrance
--   converted_entrance_sessions of those, the sessions that also had a conversion that day
-- The summary sums them over the window (each day's numerator <= its denominator, so the sum too).
--
-- Rows rolled up before this migration have NULL in the new columns until recomputed: the
-- scheduler's rollups job recomputes the last ROLLUP_BATCH_DAYS days on its next run (and the
-- refresh job today and yesterday), `rollups backfill` any window whose raw events are retained.
-- Until then the summary reads such a row as min(submits, starts) and min(conversions, entrances),
-- bounds that keep the rates shares. The old columns keep their meaning (raw event counts).

ALTER TABLE daily_metric_rollups
    ADD COLUMN IF NOT EXISTS form_start_sessions INTEGER,
    ADD COLUMN IF NOT EXISTS form_completed_sessions INTEGER,
    ADD COLUMN IF NOT EXISTS entrance_sessions INTEGER,
    ADD COLUMN IF NOT EXISTS converted_entrance_sessions INTEGER;

-- rollup_day() of 0004, plus the four columns above (same signature: core/sqlfn.h unchanged)
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
    v_rates record;
BEGIN
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
END
$$;

-- pinned as 0006 requires (a CREATE OR REPLACE without SET drops the pin)
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION rollup_day(text, date, boolean) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

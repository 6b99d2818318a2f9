-- 0006_hardening: issue 11.
--
-- Every function of the schema runs with a pinned search_path (the schema being migrated, then
-- pg_catalog, then pg_temp), so what a function's unqualified names resolve to no longer depends on
-- the caller's session: a caller with another search_path, or a same-named table or function in a
-- schema searched earlier (pg_temp is searched first for tables when it is not named), cannot
-- redirect them. No schema is named in the file (the runner sets search_path to DATABASE_SCHEMA):
-- current_schema() is that schema, and the pin is written with it.
--
-- Functions are pinned last, after every CREATE OR REPLACE above (a CREATE OR REPLACE without SET
-- drops the pin), and every later migration that replaces a function must pin it again: the
-- integration test hardening.sql_functions_pin_search_path fails on an unpinned function.

-- ---------------------------------------------------------------------------------------------- events
-- ingest_event() as in 0002, plus the client's eventId (POST /v1/events `eventId`, a UUID): the
-- responder then sends the whole rendering ["v1-eventId", anonId, eventId] as p_canon_prefix and a
-- NULL p_canon_suffix, and the key is its SHA-256: one event per (anonId, eventId), whatever the
-- time, session or body of a retry. A key found up front answers at once, before the visitor and
-- session steps, so a retry writes nothing. Events without an eventId keep 0002's key.

CREATE OR REPLACE FUNCTION ingest_event(
    p_anon_id text,
    p_occurred_at timestamp(3),
    p_ip_hash text,
    p_ua_hash text,
    p_event_type text,
    p_path text,
    p_referrer text,
    p_utm_source text,
    p_utm_medium text,
    p_utm_campaign text,
    p_utm_term text,
    p_utm_content text,
    p_inactivity_minutes integer,
    p_visitor_id text,      -- id for a new visitor
    p_session_id text,      -- id for a new session
    p_event_id text,        -- id for the new event
    p_canon_prefix text,    -- canonical rendering before the session id (all of it with an eventId)
    p_canon_suffix text,    -- and after it; NULL: the event carries the client's eventId
    p_props jsonb,
    p_property_id text,
    p_traffic_source "TrafficSource",
    p_device_type "DeviceType",
    p_country_code text,
    p_is_entrance boolean,
    p_is_exit boolean,
    p_is_conversion boolean,
    OUT event_id text,
    OUT visitor_id text,
    OUT session_id text,
    OUT deduplicated boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    s record;
    v_key text;
BEGIN
    -- the client's eventId is the key (the rendering is whole, no session id to splice in): a retry
    -- finds the first event whenever it comes, and then writes nothing at all
    IF p_canon_suffix IS NULL THEN
        v_key := encode(sha256(convert_to(p_canon_prefix, 'UTF8')), 'hex');
        SELECT e.id, e.visitor_id, e.session_id INTO event_id, visitor_id, session_id
          FROM events e WHERE e.dedupe_key = v_key;
        IF FOUND THEN
            deduplicated := true;
            RETURN;
        END IF;
    END IF;

    INSERT INTO visitors AS v (id, anon_id, first_seen_at, last_seen_at, first_ip_hash, last_ip_hash,
                               first_ua_hash, last_ua_hash, created_at, updated_at)
    VALUES (p_visitor_id, p_anon_id, p_occurred_at, p_occurred_at, p_ip_hash, p_ip_hash,
            p_ua_hash, p_ua_hash, v_now, v_now)
    ON CONFLICT (anon_id) DO UPDATE
        -- a late event (client timestamp before the last one) changes none of the "last" values
        SET last_seen_at = GREATEST(v.last_seen_at, EXCLUDED.last_seen_at),
            last_ip_hash = CASE WHEN EXCLUDED.last_seen_at >= v.last_seen_at THEN EXCLUDED.last_ip_hash
                                ELSE v.last_ip_hash END,
            last_ua_hash = CASE WHEN EXCLUDED.last_seen_at >= v.last_seen_at THEN EXCLUDED.last_ua_hash
                                ELSE v.last_ua_hash END,
            updated_at = v_now
    RETURNING v.id INTO visitor_id;

    SELECT x.id, x.last_event_at, x.ended_at, x.utm_source, x.utm_medium, x.utm_campaign, x.utm_term,
           x.utm_content
      INTO s
      FROM sessions x
     WHERE x.visitor_id = ingest_event.visitor_id
     ORDER BY x.started_at DESC, x.id DESC
     LIMIT 1;

    IF NOT FOUND
       OR p_occurred_at > s.last_event_at + make_interval(mins => p_inactivity_minutes)
       OR (s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content)
          IS DISTINCT FROM (p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content)
    THEN
        IF FOUND AND s.ended_at IS NULL THEN
            UPDATE sessions SET ended_at = last_event_at, updated_at = v_now WHERE id = s.id;
        END IF;
        INSERT INTO sessions (id, visitor_id, started_at, ended_at, last_event_at, landing_path, referrer,
                              utm_source, utm_medium, utm_campaign, utm_term, utm_content, created_at,
                              updated_at)
        VALUES (p_session_id, visitor_id, p_occurred_at, NULL, p_occurred_at, p_path, p_referrer,
                p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content, v_now, v_now);
        session_id := p_session_id;
    ELSE
        -- a late event (client timestamp before the last one) never moves the session backwards
        UPDATE sessions
           SET last_event_at = GREATEST(last_event_at, p_occurred_at),
               ended_at = GREATEST(last_event_at, p_occurred_at),
               updated_at = v_now
         WHERE id = s.id;
        session_id := s.id;
    END IF;

    IF p_canon_suffix IS NOT NULL THEN
        v_key := encode(sha256(convert_to(p_canon_prefix || '"' || session_id || '"' || p_canon_suffix, 'UTF8')),
                        'hex');
    END IF;

    INSERT INTO events (id, visitor_id, session_id, dedupe_key, event_type, path, "timestamp", ip_hash,
                        ua_hash, props, property_id, traffic_source, device_type, country_code, is_entrance,
                        is_exit, is_conversion, created_at)
    VALUES (p_event_id, visitor_id, session_id, v_key, p_event_type, p_path, p_occurred_at, p_ip_hash,
            p_ua_hash, p_props, p_property_id, p_traffic_source, p_device_type, p_country_code,
            p_is_entrance, p_is_exit, p_is_conversion, v_now)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id INTO event_id;

    deduplicated := event_id IS NULL;
    IF deduplicated THEN
        SELECT e.id, e.visitor_id, e.session_id INTO event_id, visitor_id, session_id
          FROM events e WHERE e.dedupe_key = v_key;
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------- pins

DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS sig
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = current_schema()
           AND p.prokind IN ('f', 'p')
           -- functions an extension installed belong to the extension, which sets them up itself
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s SET search_path = %I, pg_catalog, pg_temp', f.sig, current_schema());
    END LOOP;
END
$$;

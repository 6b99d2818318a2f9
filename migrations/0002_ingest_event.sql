-- 0002_ingest_event: one round trip per accepted event.
--
-- The responder validates, enriches and hashes; this function does the database half of
-- POST /v1/events in the caller's single transaction: visitor upsert, session continuation or
-- rotation, and the deduplicated insert. The dedupe key includes the session id, which is only
-- known here, so the caller sends the canonical rendering in two halves and the key is
-- sha256(prefix || "<session id>" || suffix).
--
-- Concurrency: two first events of one anon_id meet at the unique index on anon_id: the second
-- waits for the first to commit, then takes the conflict path, which locks the visitor's row until
-- its own commit. Either way the session steps of one visitor run one after the other and share
-- one session.

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
    p_canon_prefix text,    -- canonical rendering before the session id
    p_canon_suffix text,    -- and after it
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

    v_key := encode(sha256(convert_to(p_canon_prefix || '"' || session_id || '"' || p_canon_suffix, 'UTF8')),
                    'hex');

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

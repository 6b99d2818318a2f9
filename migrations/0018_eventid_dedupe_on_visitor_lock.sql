-- 0018_eventid_dedupe_on_visitor_lock: issue 17, the eventId path of ingest_event() without a
-- claim row per event.
--
-- 0017 made an eventId's dedupe exact across months with event_dedupe_claims: every event with an
-- eventId (every tracker event) inserted a claim row (a heap tuple, an index entry, their WAL), and
-- the partitions job deleted them an hour later. The key already names the one row that every
-- delivery of it must write: an eventId's key is ["v1-eventId", anonId, eventId], and each anonId
-- has one visitor row (unique anon_id). So deliveries of one eventId now meet on that row's lock:
-- the lookup that answers a retry also reads the row's version (xmin), and the visitor write only
-- takes the row in that version (or inserts it when there was none, ON CONFLICT DO NOTHING). A
-- delivery that finds the row changed or inserted meanwhile waits for its lock (FOR NO KEY UPDATE),
-- looks the key up again with a new snapshot, then answers the first delivery's event or goes on as
-- before. A first delivery whose visitor nobody else wrote meanwhile (nearly all) does no more work
-- than an event without an eventId; a retry still writes nothing. Everything else is 0017's.
--
-- The claims table is dropped (the partitions job no longer purges it). A delivery in flight while
-- this runs either committed its claim (dropping the table waits for it) or runs the new function.

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
    v_id_key text;  -- the key of an event with the client's eventId (NULL: spliced with the session id)
    v_key text;     -- the event's key, once its session is known
    v_visitor text;
    v_seen xid;     -- with an eventId: the version of the visitor's row the lookup saw (NULL: none)
BEGIN
    IF p_canon_suffix IS NULL THEN
        v_id_key := encode(sha256(convert_to(p_canon_prefix, 'UTF8')), 'hex');
        -- a retry answers here, before any write; a first delivery notes the visitor row it saw
        SELECT e.id, e.visitor_id, e.session_id, v.xmin INTO event_id, visitor_id, session_id, v_seen
          FROM (SELECT) one
          LEFT JOIN events e ON e.dedupe_key = v_id_key
          LEFT JOIN visitors v ON v.anon_id = p_anon_id;
        IF event_id IS NOT NULL THEN
            deduplicated := true;
            RETURN;
        END IF;
    END IF;

    -- a returning visitor (most events): a plain UPDATE, cheaper than the speculative insert of
    -- INSERT ... ON CONFLICT; a late event (client timestamp before the last one) changes none of
    -- the "last" values.
    -- With an eventId (key ["v1-eventId", anonId, eventId]) every delivery of the key writes the
    -- one visitor row of its anonId, so they meet on its lock: this UPDATE only takes the row in
    -- the version the lookup saw (no row seen: the INSERT below, without its update). A delivery
    -- that finds the row changed or inserted by another transaction meanwhile (an event of the
    -- same visitor, maybe this one's twin, whose partition's unique index would never meet this
    -- one's) waits for the row's lock and looks again, then answers the twin's event or goes on.
    UPDATE visitors v
       SET last_seen_at = GREATEST(v.last_seen_at, p_occurred_at),
           last_ip_hash = CASE WHEN p_occurred_at >= v.last_seen_at THEN p_ip_hash ELSE v.last_ip_hash END,
           last_ua_hash = CASE WHEN p_occurred_at >= v.last_seen_at THEN p_ua_hash ELSE v.last_ua_hash END,
           updated_at = v_now
     WHERE v.anon_id = p_anon_id AND (v_id_key IS NULL OR v.xmin = v_seen)
    RETURNING v.id INTO v_visitor;
    IF v_visitor IS NULL AND v_id_key IS NOT NULL THEN
        IF v_seen IS NULL THEN
            INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, first_ip_hash, last_ip_hash,
                                  first_ua_hash, last_ua_hash, created_at, updated_at)
            VALUES (p_visitor_id, p_anon_id, p_occurred_at, p_occurred_at, p_ip_hash, p_ip_hash,
                    p_ua_hash, p_ua_hash, v_now, v_now)
            ON CONFLICT (anon_id) DO NOTHING
            RETURNING id INTO v_visitor;
        END IF;
        IF v_visitor IS NULL THEN
            PERFORM FROM visitors v WHERE v.anon_id = p_anon_id FOR NO KEY UPDATE;
            SELECT e.id, e.visitor_id, e.session_id INTO event_id, visitor_id, session_id
              FROM events e WHERE e.dedupe_key = v_id_key;
            IF FOUND THEN
                deduplicated := true;
                RETURN;
            END IF;  -- not a twin: the upsert below updates the row, now locked, or inserts it
        END IF;
    END IF;
    IF v_visitor IS NULL THEN
        -- a new visitor, or one whose first event another transaction is writing: the unique index
        -- on anon_id makes the second wait for the first, then take the update path
        INSERT INTO visitors AS v (id, anon_id, first_seen_at, last_seen_at, first_ip_hash, last_ip_hash,
                                   first_ua_hash, last_ua_hash, created_at, updated_at)
        VALUES (p_visitor_id, p_anon_id, p_occurred_at, p_occurred_at, p_ip_hash, p_ip_hash,
                p_ua_hash, p_ua_hash, v_now, v_now)
        ON CONFLICT (anon_id) DO UPDATE
            SET last_seen_at = GREATEST(v.last_seen_at, EXCLUDED.last_seen_at),
                last_ip_hash = CASE WHEN EXCLUDED.last_seen_at >= v.last_seen_at THEN EXCLUDED.last_ip_hash
                                    ELSE v.last_ip_hash END,
                last_ua_hash = CASE WHEN EXCLUDED.last_seen_at >= v.last_seen_at THEN EXCLUDED.last_ua_hash
                                    ELSE v.last_ua_hash END,
                updated_at = v_now
        RETURNING v.id INTO v_visitor;
    END IF;
    visitor_id := v_visitor;

    -- continue the latest session; a late event never moves it backwards
    WITH s AS (
        UPDATE sessions x
           SET last_event_at = GREATEST(x.last_event_at, p_occurred_at),
               ended_at = GREATEST(x.last_event_at, p_occurred_at),
               updated_at = v_now
         -- "=" on a scalar subquery: the primary key's index whatever the statistics said when
         -- the plan was cached (a join here was planned on an empty table as a scan of sessions)
         WHERE x.id = (SELECT y.id FROM sessions y WHERE y.visitor_id = v_visitor
                        ORDER BY y.started_at DESC, y.id DESC LIMIT 1)
           AND (p_occurred_at > x.last_event_at + make_interval(mins => p_inactivity_minutes)) IS NOT TRUE
           AND (x.utm_source, x.utm_medium, x.utm_campaign, x.utm_term, x.utm_content)
               IS NOT DISTINCT FROM (p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content)
        RETURNING x.id,
                  COALESCE(v_id_key, encode(sha256(convert_to(p_canon_prefix || '"' || x.id || '"' || p_canon_suffix,
                                                           'UTF8')), 'hex')) AS key
    ), e AS (
        INSERT INTO events (id, visitor_id, session_id, dedupe_key, event_type, path, "timestamp", ip_hash,
                            ua_hash, props, property_id, traffic_source, device_type, country_code, is_entrance,
                            is_exit, is_conversion, created_at)
        SELECT p_event_id, v_visitor, s.id, s.key, p_event_type, p_path, p_occurred_at, p_ip_hash, p_ua_hash,
               p_props, p_property_id, p_traffic_source, p_device_type, p_country_code, p_is_entrance, p_is_exit,
               p_is_conversion, v_now
          FROM s
        ON CONFLICT DO NOTHING  -- the partition's unique indexes
        RETURNING id
    )
    SELECT s.id, s.key, e.id INTO session_id, v_key, event_id FROM s LEFT JOIN e ON true;

    IF NOT FOUND THEN
        -- a new session: the latest one (if still open) ends at its last event
        -- (the latest session as a scalar subquery, not a join: a responder's cached plan of the
        -- join, made while sessions was nearly empty, scanned the whole table for every new session)
        WITH closed AS (
            UPDATE sessions x SET ended_at = x.last_event_at, updated_at = v_now
             WHERE x.id = (SELECT y.id FROM sessions y WHERE y.visitor_id = v_visitor
                            ORDER BY y.started_at DESC, y.id DESC LIMIT 1)
               AND x.ended_at IS NULL
        ), s AS (
            INSERT INTO sessions (id, visitor_id, started_at, ended_at, last_event_at, landing_path, referrer,
                                  utm_source, utm_medium, utm_campaign, utm_term, utm_content, created_at,
                                  updated_at)
            VALUES (p_session_id, v_visitor, p_occurred_at, NULL, p_occurred_at, p_path, p_referrer,
                    p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content, v_now, v_now)
            RETURNING id,
                      COALESCE(v_id_key, encode(sha256(convert_to(p_canon_prefix || '"' || id || '"' || p_canon_suffix,
                                                               'UTF8')), 'hex')) AS key
        ), e AS (
            INSERT INTO events (id, visitor_id, session_id, dedupe_key, event_type, path, "timestamp", ip_hash,
                                ua_hash, props, property_id, traffic_source, device_type, country_code,
                                is_entrance, is_exit, is_conversion, created_at)
            SELECT p_event_id, v_visitor, s.id, s.key, p_event_type, p_path, p_occurred_at, p_ip_hash, p_ua_hash,
                   p_props, p_property_id, p_traffic_source, p_device_type, p_country_code, p_is_entrance,
                   p_is_exit, p_is_conversion, v_now
              FROM s
            ON CONFLICT DO NOTHING  -- the partition's unique indexes
            RETURNING id
        )
        SELECT s.id, s.key, e.id INTO session_id, v_key, event_id FROM s LEFT JOIN e ON true;
    END IF;

    deduplicated := event_id IS NULL;
    IF deduplicated THEN
        SELECT e.id, e.visitor_id, e.session_id INTO event_id, visitor_id, session_id
          FROM events e WHERE e.dedupe_key = v_key;
    END IF;
END
$$;

DROP TABLE IF EXISTS event_dedupe_claims;

-- the pin of 0006, which CREATE OR REPLACE resets
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION ingest_event(text, timestamp(3), text, text, text, text, text, text, text, '
                   'text, text, text, integer, text, text, text, text, text, jsonb, text, "TrafficSource", '
                   '"DeviceType", text, boolean, boolean, boolean) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

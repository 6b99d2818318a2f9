-- 0016_less_work_per_event: issue 17 item 2, less database work per event (docs/database-work.md).
--
-- 1. Indexes. Each index of events, visitors and sessions that stays is named with the query that
--    needs it in docs/database-work.md (test_dbwork checks the set and the plans). Dropped: five of
--    the Node schema's (column, timestamp) pairs on events that no query of this service reads,
--    visitors_last_seen_at_idx and sessions_visitor_id_last_event_at_idx (only the daily retention
--    purge read them, and their columns change on every event, so every visitor and session update
--    rewrote all of its tables' index entries instead of being HOT). The heuristic link's lookup
--    (0005) becomes (last_ip_hash, last_ua_hash) of non-cookieless visitors: last_seen_at is
--    filtered on the heap, so the index no longer changes when a returning visitor is seen again.
-- 2. Fillfactor 85 on visitors and sessions: a page keeps room for the next version of its rows, so
--    even the first update of a row on a freshly filled page can be HOT.
-- 3. The foreign keys from events (events_visitor_id_fkey, events_session_id_fkey) are dropped:
--    each event paid two RI checks (an SPI query each, and a FOR KEY SHARE lock on the visitor and
--    the session row) for parents that ingest_event() has just written in the same transaction.
--    Their ON DELETE actions are kept by statement-level triggers on visitors and sessions, which
--    cost ingest nothing: a deleted visitor's events are deleted (was CASCADE), a deleted session's
--    events get session_id NULL (was SET NULL), and an id change is carried to the events (was ON
--    UPDATE CASCADE). The other foreign keys stay (sessions -> visitors is paid once per session).
-- 4. ingest_event() (same signature and outputs): a returning visitor's event in a continuing
--    session costs two statements (an UPDATE of the visitor, then one statement that continues the
--    session and inserts the event) instead of four plus two RI checks; see the function.
-- 5. retention_purge(): sessions' "no event left" check walks the visitor's events (the session id
--    index is gone); visitors are found by a scan of the table once a purge (the last_seen_at index
--    is gone; the purge runs once a day).
--
-- Locks: one table at a time and briefly. DROP INDEX and DROP CONSTRAINT take an ACCESS EXCLUSIVE
-- lock for a catalog change only; ALTER TABLE ... SET (fillfactor) a SHARE UPDATE EXCLUSIVE lock
-- (rows are not rewritten: new pages get the room, existing ones as their rows are updated and
-- pruned). The one index built here (visitors_last_ip_ua_idx) holds a SHARE lock on visitors, which
-- pauses event writes for its build: 10-17 s per million visitors on the 2-core development machine
-- under load. The runner's transaction cannot build it CONCURRENTLY; with millions of visitors,
-- build it beforehand with CREATE INDEX CONCURRENTLY (the same definition, docs/database-work.md)
-- and this file skips it. Idempotent: IF EXISTS / IF NOT EXISTS throughout, and every object it
-- drops may be missing on a Node-era database.

-- ---------------------------------------------------------------------------------------------- indexes

-- capture_lead()'s heuristic link: same last IP and UA hashes, never a cookieless visitor (0007)
CREATE INDEX IF NOT EXISTS visitors_last_ip_ua_idx ON visitors (last_ip_hash, last_ua_hash)
    WHERE anon_id NOT LIKE 'ck:%';
DROP INDEX IF EXISTS visitors_last_ip_ua_seen_idx;
DROP INDEX IF EXISTS visitors_last_seen_at_idx;
DROP INDEX IF EXISTS sessions_visitor_id_last_event_at_idx;
DROP INDEX IF EXISTS events_event_type_timestamp_idx;
DROP INDEX IF EXISTS events_path_timestamp_idx;
DROP INDEX IF EXISTS events_session_id_timestamp_idx;
DROP INDEX IF EXISTS events_property_id_timestamp_idx;
DROP INDEX IF EXISTS events_traffic_source_timestamp_idx;

ALTER TABLE visitors SET (fillfactor = 85);
ALTER TABLE sessions SET (fillfactor = 85);

-- ---------------------------------------------------------------------------------------------- foreign keys

ALTER TABLE events DROP CONSTRAINT IF EXISTS events_visitor_id_fkey;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_session_id_fkey;

-- What the dropped keys did when a parent goes or changes its id. A delete is handled once per
-- statement (the deleted rows' transition table joined to events through
-- events_visitor_id_timestamp_idx: retention deletes thousands of sessions in one statement); an id
-- change (nothing in this service changes one) once per row, only when the id really changes. A
-- session's events are found through its visitor: ingest_event() writes an event's visitor_id and
-- session_id from the same visitor, as the Node service did. Event writes fire none of these.
CREATE OR REPLACE FUNCTION visitors_delete_events()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM events e USING gone g WHERE e.visitor_id = g.id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION sessions_unlink_events()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE events e SET session_id = NULL FROM gone g WHERE e.visitor_id = g.visitor_id AND e.session_id = g.id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION visitors_id_to_events()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE events SET visitor_id = NEW.id WHERE visitor_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION sessions_id_to_events()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE events SET session_id = NEW.id WHERE visitor_id = OLD.visitor_id AND session_id = OLD.id;
    RETURN NULL;
END
$$;

-- OR REPLACE (Postgres 14 and later): a second run of this file leaves them as they are
CREATE OR REPLACE TRIGGER visitors_delete_events AFTER DELETE ON visitors
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION visitors_delete_events();
CREATE OR REPLACE TRIGGER sessions_unlink_events AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION sessions_unlink_events();
CREATE OR REPLACE TRIGGER visitors_id_to_events AFTER UPDATE OF id ON visitors
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION visitors_id_to_events();
CREATE OR REPLACE TRIGGER sessions_id_to_events AFTER UPDATE OF id ON sessions
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION sessions_id_to_events();

-- ---------------------------------------------------------------------------------------------- ingest_event

-- ingest_event() of 0006, the same in every outcome, in fewer statements. Per event, 0006 ran: the
-- eventId lookup (with an eventId), the visitor upsert, a SELECT of the visitor's latest session, an
-- UPDATE of it (or an UPDATE closing it and an INSERT of a new one), the event INSERT, and the RI
-- checks of the event's two foreign keys. Here:
--   - the eventId lookup, as before: a retry answers before any write;
--   - the visitor: an UPDATE, or 0006's upsert when there is no row yet; either locks the visitor's
--     row, so the session steps of one visitor still run one after the other (the next statement
--     takes its snapshot after the lock);
--   - continuing: one statement updates the latest session when the event falls within its
--     inactivity window and carries its UTM values, and inserts the event with that session's id;
--   - else (no session, inactive, other UTM, or the session deleted by retention meanwhile): one
--     statement closes the latest session when it is still open, inserts the new one and the event.
-- The dedupe key (with the session id spliced in when there is no eventId) is computed inside the
-- statement that knows the session. A late event (a client timestamp before the last one) still
-- moves no "last" value backwards; a dedupe conflict still reads the first event's ids.
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
BEGIN
    IF p_canon_suffix IS NULL THEN
        v_id_key := encode(sha256(convert_to(p_canon_prefix, 'UTF8')), 'hex');
        SELECT e.id, e.visitor_id, e.session_id INTO event_id, visitor_id, session_id
          FROM events e WHERE e.dedupe_key = v_id_key;
        IF FOUND THEN
            deduplicated := true;
            RETURN;
        END IF;
    END IF;

    -- a returning visitor (most events): a plain UPDATE, cheaper than the speculative insert of
    -- INSERT ... ON CONFLICT; a late event (client timestamp before the last one) changes none of
    -- the "last" values
    UPDATE visitors v
       SET last_seen_at = GREATEST(v.last_seen_at, p_occurred_at),
           last_ip_hash = CASE WHEN p_occurred_at >= v.last_seen_at THEN p_ip_hash ELSE v.last_ip_hash END,
           last_ua_hash = CASE WHEN p_occurred_at >= v.last_seen_at THEN p_ua_hash ELSE v.last_ua_hash END,
           updated_at = v_now
     WHERE v.anon_id = p_anon_id
    RETURNING v.id INTO v_visitor;
    IF NOT FOUND THEN
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
        ON CONFLICT (dedupe_key) DO NOTHING
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
            ON CONFLICT (dedupe_key) DO NOTHING
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

-- ---------------------------------------------------------------------------------------------- retention

-- retention_purge() of 0004, the same rows deleted, without the indexes this migration drops: a
-- session's "no event left" check reads its visitor's events (events_visitor_id_timestamp_idx, with
-- the session id filtered), and old visitors come from one scan of the table. The cutoff conditions
-- and their reason (a visitor or session written while the purge runs is re-checked on its own
-- columns after the wait) are 0004's.
CREATE OR REPLACE FUNCTION retention_purge(p_cutoff timestamp(3), OUT events_deleted bigint,
                                           OUT sessions_deleted bigint, OUT visitors_deleted bigint)
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM events WHERE "timestamp" < p_cutoff;
    GET DIAGNOSTICS events_deleted = ROW_COUNT;
    DELETE FROM sessions s
     WHERE s.last_event_at < p_cutoff
       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.visitor_id = s.visitor_id AND e.session_id = s.id)
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

-- ---------------------------------------------------------------------------------------------- pins
-- every function above, as 0006 requires (a CREATE OR REPLACE without SET drops the pin)

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['visitors_delete_events()', 'sessions_unlink_events()', 'visitors_id_to_events()',
                             'sessions_id_to_events()', 'retention_purge(timestamp(3))',
                             'ingest_event(text, timestamp(3), text, text, text, text, text, text, text, text, '
                             'text, text, integer, text, text, text, text, text, jsonb, text, "TrafficSource", '
                             '"DeviceType", text, boolean, boolean, boolean)']
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_catalog, pg_temp', f, current_schema());
    END LOOP;
END
$$;

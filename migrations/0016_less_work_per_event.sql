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
-- 4. ingest_event() in two statements for a continuing session, and retention_purge() without the
--    dropped indexes, are defined once, in 0017, which also makes them partition-aware (both
--    migrations always run together; an intermediate definition here would be replaced at once).
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

-- ---------------------------------------------------------------------------------------------- pins
-- every function above, as 0006 requires (a CREATE OR REPLACE without SET drops the pin)

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['visitors_delete_events()', 'sessions_unlink_events()', 'visitors_id_to_events()',
                             'sessions_id_to_events()']
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_catalog, pg_temp', f, current_schema());
    END LOOP;
END
$$;

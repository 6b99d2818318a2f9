-- 0017_partition_events_by_month: issue 17 item 5 (docs/partitioning.md).
--
-- `events` and `ingest_rejections` (the append-only tables that grow with traffic) become
-- range-partitioned by month of their time column ("timestamp", occurred_at: UTC wall time, so
-- months are UTC months): <table>_pYYYYMM holds [first of the month, first of the next), created
-- ahead by the scheduler's `partitions` job (jobs/partitions.c); <table>_default catches a row no
-- month holds (a late event older than the oldest month, or months the job has not made yet); the
-- table as it was becomes <table>_legacy, [MINVALUE, bound). Retention then drops whole months.
--
-- Adoption of a filled table without a long write lock. The runner applies this file in ONE
-- transaction, so every lock it takes is held to its end; what it does under the ACCESS EXCLUSIVE
-- lock must therefore be catalog work only:
--   1. the old table's non-unique indexes and foreign keys are read from the catalog (0016 may have
--      dropped some: what exists is copied, nothing is hard-coded);
--   2. ACCESS EXCLUSIVE: a CHECK (<col> < bound) NOT VALID (no scan), the rename to <table>_legacy,
--      the partitioned parent under the old name with those indexes and foreign keys (empty: no
--      build, no validation), and the legacy table attached as the parent's DEFAULT partition: with
--      no sibling a default partition has no constraint to prove, so nothing is scanned; the
--      parent's indexes and foreign keys match the legacy table's own, which are attached, not
--      rebuilt;
--   3. the proof of the bound (VALIDATE CONSTRAINT, a full scan) needs only SHARE UPDATE EXCLUSIVE,
--      which inserts do not wait for, and is left to the partitions job (its own transaction) for a
--      table over backend.partition_inline_max_bytes (default 32 MB); a smaller one (a fresh
--      database, the Node fixtures) is validated here, where the scan is milliseconds;
--   4. once the bound is proven, partition_finish_legacy() swaps the legacy table from DEFAULT to
--      [MINVALUE, bound) (DETACH and ATTACH: the valid CHECK proves the range, no scan), creates an
--      empty <table>_default and the months from the bound on: catalog work again.
-- Until step 4, every new row lands in the legacy table (the default), which is correct, only not
-- yet split. The bound leaves a month or more beyond anything ingest accepts (timestamps up to 24
-- hours ahead), so the NOT VALID check never refuses an insert meanwhile.
--
-- Unique keys. A unique index on a partitioned table must include the partition key, so neither
-- events_pkey (id) nor events_dedupe_key_key (dedupe_key) can stay global. Each partition carries
-- its own PRIMARY KEY (id) (ids are the app's UUIDs) and, for events, its own UNIQUE (dedupe_key);
-- the parent carries none. A dedupe key does not determine the time (an eventId key is
-- ["v1-eventId", anonId, eventId], whatever the retry's timestamp), so exactness across months is:
--   - a retry is looked up by dedupe_key in every partition (ingest_event's lookups, unchanged: one
--     probe of each partition's unique index);
--   - the race of two first deliveries in flight at once, which could land in two months, is
--     settled by event_dedupe_claims, a small unpartitioned table keyed by dedupe_key: the insert
--     claims the key first (ON CONFLICT waits for the other transaction), and claims older than the
--     partitions job's TTL (an hour) are deleted, since by then the event is found by the lookup;
--   - a key without an eventId holds the event's time (or the server's time bucket), so a retry
--     lands in the same partition, where the local unique index catches it (ON CONFLICT DO NOTHING
--     without a target takes every unique index of the partition as arbiter).

-- ---------------------------------------------------------------------------------------------- bookkeeping

-- The partitioned tables, their time column, and the upper bound of their legacy partition.
CREATE TABLE IF NOT EXISTS partitioned_tables (
    parent TEXT NOT NULL PRIMARY KEY,
    time_column TEXT NOT NULL,
    legacy_bound TIMESTAMP(3)
);

-- A key being inserted right now (see above); rows live an hour.
CREATE TABLE IF NOT EXISTS event_dedupe_claims (
    dedupe_key VARCHAR(64) NOT NULL PRIMARY KEY,
    claimed_at TIMESTAMP(3) NOT NULL
);

-- ---------------------------------------------------------------------------------------------- helpers

-- What each partition carries of its own (the unique keys the parent cannot have).
CREATE OR REPLACE FUNCTION partition_local_keys(p_parent text, p_part text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (id)', p_part, p_part || '_pkey');
    IF p_parent = 'events' THEN
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (dedupe_key)', p_part || '_dedupe_key_key', p_part);
    END IF;
END
$$;

-- The upper bound of a range partition (NULL for the default), read from its bound expression.
CREATE OR REPLACE FUNCTION partition_upper(p_rel oid)
RETURNS timestamp(3)
LANGUAGE sql STABLE
AS $$
    SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']*)''\)')::timestamp(3)
      FROM pg_class c WHERE c.oid = p_rel
$$;

-- Once the legacy partition's bound is proven (a valid CHECK), the legacy table becomes the range
-- [MINVALUE, bound) and an empty default takes its place: catalog work only. True when done now.
CREATE OR REPLACE FUNCTION partition_finish_legacy(p_parent text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    t record;
    v_legacy text := p_parent || '_legacy';
BEGIN
    SELECT * INTO t FROM partitioned_tables WHERE parent = p_parent;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM pg_partitioned_table pt
                                 WHERE pt.partrelid = to_regclass(quote_ident(p_parent))
                                   AND pt.partdefid = to_regclass(quote_ident(v_legacy))) THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = to_regclass(quote_ident(v_legacy)) AND conname = v_legacy || '_bound'
                      AND convalidated) THEN
        RETURN false;
    END IF;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', p_parent, v_legacy);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', p_parent, v_legacy,
                   t.legacy_bound);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', p_parent || '_default', p_parent);
    PERFORM partition_local_keys(p_parent, p_parent || '_default');
    RETURN true;
END
$$;

-- Proves the legacy bounds still NOT VALID (the partitions job, in a transaction of its own: SHARE
-- UPDATE EXCLUSIVE, inserts go on), under a statement timeout of p_statement_timeout_ms (a full scan
-- of a large table; 0: the session's). How many it validated.
CREATE OR REPLACE FUNCTION partition_validate_legacy(p_statement_timeout_ms integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    c record;
    n integer := 0;
BEGIN
    IF p_statement_timeout_ms > 0 THEN
        PERFORM set_config('statement_timeout', p_statement_timeout_ms || 'ms', true);
    END IF;
    FOR c IN
        SELECT t.parent || '_legacy' AS legacy
          FROM partitioned_tables t
          JOIN pg_constraint k ON k.conrelid = to_regclass(quote_ident(t.parent || '_legacy'))
                              AND k.conname = t.parent || '_legacy_bound'
         WHERE NOT k.convalidated
    LOOP
        EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', c.legacy, c.legacy || '_bound');
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- The current month (UTC) and the p_ahead next ones, for every partitioned table; the legacy swap
-- first when its bound is proven. A month some of whose rows already sit in the default partition
-- (the job did not run for a while) gets them moved. Returns how many partitions it created.
-- Creating a partition takes the parent's ACCESS EXCLUSIVE lock for a moment, and inserts queue
-- behind a request waiting for it: it waits at most p_lock_timeout_ms (0: the session's setting),
-- then fails and the job tries again later.
CREATE OR REPLACE FUNCTION partitions_ensure(p_ahead integer, p_lock_timeout_ms integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    t record;
    v_month timestamp(3);
    v_part text;
    v_def text;
    v_moved boolean;
    n integer := 0;
BEGIN
    IF p_lock_timeout_ms > 0 THEN
        PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
    END IF;
    FOR t IN SELECT * FROM partitioned_tables ORDER BY parent LOOP
        IF to_regclass(quote_ident(t.parent)) IS NULL THEN
            CONTINUE;
        END IF;
        PERFORM partition_finish_legacy(t.parent);
        -- while the legacy table is the default, a new month would have to scan all of it
        IF EXISTS (SELECT 1 FROM pg_partitioned_table pt
                    WHERE pt.partrelid = to_regclass(quote_ident(t.parent))
                      AND pt.partdefid = to_regclass(quote_ident(t.parent || '_legacy'))) THEN
            CONTINUE;
        END IF;
        v_def := t.parent || '_default';
        FOR i IN 0 .. p_ahead LOOP
            v_month := date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i);
            v_part := t.parent || '_p' || to_char(v_month, 'YYYYMM');
            -- months below the legacy bound belong to the legacy partition
            IF to_regclass(quote_ident(v_part)) IS NOT NULL
               OR (t.legacy_bound IS NOT NULL AND v_month < t.legacy_bound
                   AND to_regclass(quote_ident(t.parent || '_legacy')) IS NOT NULL) THEN
                CONTINUE;
            END IF;
            v_moved := false;
            IF to_regclass(quote_ident(v_def)) IS NOT NULL THEN
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)', v_def,
                               t.time_column, t.time_column)
                   INTO v_moved USING v_month, v_month + interval '1 month';
            END IF;
            IF v_moved THEN
                EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t.parent, v_def);
            END IF;
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', v_part, t.parent,
                           v_month, v_month + interval '1 month');
            PERFORM partition_local_keys(t.parent, v_part);
            IF v_moved THEN
                EXECUTE format('WITH m AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                               'INSERT INTO %I SELECT * FROM m', v_def, t.time_column, t.time_column, v_part)
                   USING v_month, v_month + interval '1 month';
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', t.parent, v_def);
            END IF;
            n := n + 1;
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;

-- Retention of one partitioned table: partitions entirely before the cutoff are dropped whole (after
-- counting their rows), the rest is deleted row by row (the month holding the cutoff, the default,
-- a legacy partition still holding newer rows). A partition whose parent lock is not had within
-- the caller's lock_timeout is left to the row-wise delete instead (inserts queue behind a drop
-- that waits). Returns how many rows went.
CREATE OR REPLACE FUNCTION partitions_purge(p_parent text, p_cutoff timestamp(3))
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    p record;
    v_col text;
    n bigint;
    total bigint := 0;
BEGIN
    SELECT time_column INTO v_col FROM partitioned_tables WHERE parent = p_parent;
    IF v_col IS NULL THEN
        RETURN 0;
    END IF;
    FOR p IN
        SELECT c.relname, partition_upper(c.oid) AS upper
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass(quote_ident(p_parent))
         ORDER BY 2
    LOOP
        CONTINUE WHEN p.upper IS NULL OR p.upper > p_cutoff;
        BEGIN
            EXECUTE format('SELECT count(*) FROM %I', p.relname) INTO n;
            EXECUTE format('DROP TABLE %I', p.relname);
            total := total + n;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'retention: % is busy; its rows are deleted one by one instead', p.relname;
        END;
    END LOOP;
    EXECUTE format('DELETE FROM %I WHERE %I < $1', p_parent, v_col) USING p_cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;

-- ---------------------------------------------------------------------------------------------- adoption

-- Turns p_table into a partitioned table by month of p_col (see the head of the file). Does
-- nothing when it already is one.
CREATE OR REPLACE FUNCTION partition_adopt(p_table text, p_col text, p_inline_max_bytes bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_rel regclass := to_regclass(quote_ident(p_table));
    v_legacy text := p_table || '_legacy';
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    v_max timestamp(3);
    v_bound timestamp(3);
    v_inline boolean;
    v_idx text[];
    v_fks text[];
    v_acl text[];
    v_old text;
    v_new text;
    s text;
BEGIN
    IF v_rel IS NULL OR EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = v_rel) THEN
        RETURN;
    END IF;
    v_inline := pg_relation_size(v_rel) <= p_inline_max_bytes;

    -- 1. read before the exclusive lock (ACCESS SHARE): the newest time (an index on it, or a scan
    --    that inserts do not wait for), the non-unique indexes, the foreign keys, the grants
    EXECUTE format('SELECT max(%I) FROM %I', p_col, p_table) INTO v_max;
    SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY c.relname) INTO v_idx
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = v_rel AND NOT i.indisunique AND i.indisvalid AND NOT i.indisexclusion;
    SELECT array_agg(format('ALTER TABLE %I ADD CONSTRAINT %I %s', p_table, k.conname,
                            pg_get_constraintdef(k.oid)) ORDER BY k.conname) INTO v_fks
      FROM pg_constraint k WHERE k.conrelid = v_rel AND k.contype = 'f';
    SELECT array_agg(format('GRANT %s ON %I TO %s', a.privilege_type, p_table,
                            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END))
      INTO v_acl
      FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
     WHERE c.oid = v_rel AND a.grantee <> c.relowner;

    -- 2. ACCESS EXCLUSIVE from here to the commit: catalog work only (and, for a small table, the
    --    validation)
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', p_table);
    IF v_inline THEN
        -- the exact newest row (no writer can add one now): the legacy range ends after its month
        EXECUTE format('SELECT max(%I) FROM %I', p_col, p_table) INTO v_max;
        v_bound := date_trunc('month', coalesce(v_max, v_now)) + interval '1 month';
    ELSE
        -- rows keep arriving until the swap, at most 24 hours ahead (EVENT_MAX_FUTURE_MS): a month
        -- or more of margin beyond that, so the NOT VALID check refuses none of them
        v_bound := date_trunc('month', greatest(v_now + interval '1 day', v_max)) + interval '2 months';
    END IF;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I < %L) NOT VALID', p_table, v_legacy || '_bound',
                   p_col, v_bound);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, v_legacy);
    -- the legacy table's indexes give their names to the parent's (its pkey, <table>_pkey, too)
    FOR v_old IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE i.indrelid = v_rel ORDER BY 1 LOOP
        v_new := left(v_legacy || CASE WHEN v_old LIKE p_table || '\_%' THEN substr(v_old, length(p_table) + 1)
                                       ELSE '_' || v_old END, 63);
        EXECUTE format('ALTER INDEX %I RENAME TO %I', v_old, v_new);
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION) '
                   'PARTITION BY RANGE (%I)', p_table, v_legacy, p_col);
    -- the same definitions on the empty parent: matched to the legacy table's own on ATTACH
    FOREACH s IN ARRAY coalesce(v_idx, '{}') LOOP
        EXECUTE s;
    END LOOP;
    FOREACH s IN ARRAY coalesce(v_fks, '{}') LOOP
        EXECUTE s;
    END LOOP;
    FOREACH s IN ARRAY coalesce(v_acl, '{}') LOOP
        EXECUTE s;
    END LOOP;
    IF v_inline AND v_max IS NULL THEN
        -- empty (a fresh database): nothing to keep, the parent starts with a default of its own
        EXECUTE format('DROP TABLE %I', v_legacy);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', p_table || '_default', p_table);
        PERFORM partition_local_keys(p_table, p_table || '_default');
        INSERT INTO partitioned_tables (parent, time_column) VALUES (p_table, p_col)
        ON CONFLICT (parent) DO UPDATE SET time_column = EXCLUDED.time_column, legacy_bound = NULL;
        RETURN;
    END IF;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', p_table, v_legacy);
    INSERT INTO partitioned_tables (parent, time_column, legacy_bound) VALUES (p_table, p_col, v_bound)
    ON CONFLICT (parent) DO UPDATE SET time_column = EXCLUDED.time_column, legacy_bound = EXCLUDED.legacy_bound;

    -- 3./4. a small table is proven and swapped at once; a large one by the partitions job
    IF v_inline THEN
        EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', v_legacy, v_legacy || '_bound');
        PERFORM partition_finish_legacy(p_table);
    END IF;
END
$$;

-- backend.partition_inline_max_bytes (a session setting, e.g. PGOPTIONS) overrides the 32 MB below
-- which a table is validated inside this migration; the tests set 0 to take the job's way.
SELECT partition_adopt('events', 'timestamp',
                       coalesce(nullif(current_setting('backend.partition_inline_max_bytes', true), '')::bigint,
                                32 * 1024 * 1024));
SELECT partition_adopt('ingest_rejections', 'occurred_at',
                       coalesce(nullif(current_setting('backend.partition_inline_max_bytes', true), '')::bigint,
                                32 * 1024 * 1024));
-- so that a fresh database has this month and the next ones before the scheduler first runs
-- (PARTITION_MONTHS_AHEAD, core/bounds.h; the runner's lock_timeout)
SELECT partitions_ensure(2, 0);

-- ---------------------------------------------------------------------------------------------- ingest_event

-- ingest_event() of 0006, the same in every outcome, in fewer statements (issue 17: 0016's index and
-- foreign-key changes, docs/database-work.md). Per event, 0006 ran: the
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
-- Under partitioning (this migration): an eventId's key is claimed in event_dedupe_claims
-- before any write, and the event inserts' ON CONFLICT has no target (the partition's own unique
-- indexes: dedupe_key, id; a partitioned table cannot have a unique index without its partition
-- key). A key without an eventId holds the event's client time or its server time bucket (30 s,
-- which divides a day: a bucket never straddles a month), so every delivery of it lands in one
-- partition, whose unique index settles it without a claim.

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
        -- the key of an eventId does not hold the event's time, so two first deliveries may
        -- be bound for two months' partitions, whose unique indexes never meet: the claim makes the
        -- second wait for the first here, before any write, and then answer with its event
        INSERT INTO event_dedupe_claims (dedupe_key, claimed_at) VALUES (v_id_key, v_now)
        ON CONFLICT (dedupe_key) DO NOTHING;
        IF NOT FOUND THEN
            SELECT e.id, e.visitor_id, e.session_id INTO event_id, visitor_id, session_id
              FROM events e WHERE e.dedupe_key = v_id_key;
            IF FOUND THEN
                deduplicated := true;
                RETURN;
            END IF;  -- the claim's event is gone (its visitor erased): store this one
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

-- ---------------------------------------------------------------------------------------------- retention

-- retention_purge() of 0004, the same rows deleted, without the indexes 0016 drops: a
-- session's "no event left" check reads its visitor's events (events_visitor_id_timestamp_idx, with
-- the session id filtered), and old visitors come from one scan of the table. The cutoff conditions
-- and their reason (a visitor or session written while the purge runs is re-checked on its own
-- columns after the wait) are 0004's.
-- Under partitioning the event DELETE becomes partitions_purge() (whole months dropped, the rest
-- row-wise), ingest_rejections gets the same cutoff (its rows only feed the daily ingest rollups,
-- which the purged days no longer change), and a drop waits at most 2 s for its lock.
CREATE OR REPLACE FUNCTION retention_purge(p_cutoff timestamp(3), OUT events_deleted bigint,
                                           OUT sessions_deleted bigint, OUT visitors_deleted bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_lock_timeout text := current_setting('lock_timeout');
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    events_deleted := partitions_purge('events', p_cutoff);
    PERFORM partitions_purge('ingest_rejections', p_cutoff);
    PERFORM set_config('lock_timeout', v_lock_timeout, true);
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

DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS sig
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = current_schema()
           AND p.proname IN ('partition_local_keys', 'partition_upper', 'partition_finish_legacy',
                             'partition_validate_legacy', 'partitions_ensure', 'partitions_purge',
                             'partition_adopt', 'ingest_event', 'retention_purge')
    LOOP
        EXECUTE format('ALTER ROUTINE %s SET search_path = %I, pg_catalog, pg_temp', f.sig, current_schema());
    END LOOP;
END
$$;

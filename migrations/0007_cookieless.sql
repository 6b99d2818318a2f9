-- 0007_cookieless: issue 14, the server side of the tracker's privacy modes.
--
-- daily_salts: one random salt per UTC day, shared by every responder and machine. An event or a
-- capture without an anonId (or with Sec-GPC / DNT) gets a visitor id that is a keyed hash of
-- (site host, client IP, user agent) under the salt of its day, computed in the responder. A salt
-- is deleted once its day is two days old (48 hours after the day began, by the scheduler's
-- `salts` job and whenever a new day's salt is made), so once it is gone nobody, the operator
-- included, can recompute that day's ids or link them to another day's.
--
-- ingest_bot_drops: events from bots, crawlers, headless browsers and empty user agents are answered
-- 202 and not stored (BOT_POLICY=drop); each drop is counted here per UTC day, property and reason.
--
-- Only additions: no table or column of schema-reference.md changes. Functions are pinned as 0006
-- says (search_path = this schema, pg_catalog, pg_temp), at the end of this file.

CREATE TABLE IF NOT EXISTS daily_salts (
    day DATE NOT NULL PRIMARY KEY,
    salt BYTEA NOT NULL CHECK (octet_length(salt) = 32),
    created_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- The salt of p_day: the stored one, or p_candidate (32 random bytes from the caller's libsodium)
-- stored now when the day has none. Race-safe: of two callers (responders, schedulers) making the
-- first salt of a day at once, one insert wins and both return its salt (plpgsql takes a new
-- snapshot per statement, so the SELECT sees the row the other caller committed). Making a new
-- day's salt also deletes salts older than yesterday's.
CREATE OR REPLACE FUNCTION daily_salt(p_day date, p_candidate bytea)
RETURNS bytea
LANGUAGE plpgsql
AS $$
DECLARE
    v_salt bytea;
BEGIN
    SELECT salt INTO v_salt FROM daily_salts WHERE day = p_day;
    IF FOUND THEN
        RETURN v_salt;
    END IF;
    INSERT INTO daily_salts (day, salt) VALUES (p_day, p_candidate) ON CONFLICT (day) DO NOTHING;
    DELETE FROM daily_salts WHERE day < p_day - 1;
    SELECT salt INTO v_salt FROM daily_salts WHERE day = p_day;
    RETURN v_salt;
END
$$;

-- Deletes the salts of days before yesterday (p_today - 1): a salt lives until 48 hours after its
-- day began. Returns how many were deleted.
CREATE OR REPLACE FUNCTION purge_daily_salts(p_today date)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM daily_salts WHERE day < p_today - 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE TABLE IF NOT EXISTS ingest_bot_drops (
    day DATE NOT NULL,
    property_id TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('empty_ua', 'bot_ua', 'headless')),
    dropped BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, property_id, reason)
);

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION daily_salt(date, bytea) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION purge_daily_salts(date) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

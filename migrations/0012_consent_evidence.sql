-- 0012_consent_evidence: issue 16 items 3 and 1. Consent wordings are registered once and cannot
-- change once a consent event names them; a capture may name the wording and the method, and its
-- consent event then records wording version and hash, method, page path and form name; the lead
-- list pages over (first_captured_at, id).

-- The stored hash is the text's: the service computes it (libsodium), the database checks it, so a
-- row written by hand cannot carry a hash of some other text.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'consent_wordings_text_sha256_check') THEN
        ALTER TABLE consent_wordings ADD CONSTRAINT consent_wordings_text_sha256_check
            CHECK (text_sha256 = encode(sha256(convert_to(text, 'UTF8')), 'hex'));
    END IF;
    -- the closed list of methods (fcgi-app/src/api/h_leads.c CONSENT_METHODS); NULL on old rows and
    -- on steps without one (unsubscribe)
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'consent_events_method_check') THEN
        ALTER TABLE consent_events ADD CONSTRAINT consent_events_method_check
            CHECK (method IS NULL OR method IN ('checkbox', 'double_opt_in', 'inquiry', 'existing_customer',
                                                'other'));
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS consent_events_wording_version_idx ON consent_events (wording_version)
    WHERE wording_version IS NOT NULL;
CREATE INDEX IF NOT EXISTS leads_first_captured_at_id_idx ON leads (first_captured_at, id);

-- A wording named by a consent event is evidence: its text and hash cannot change and it cannot be
-- deleted (the foreign key of 0011 refuses the delete too; this says why). capture_lead() reads the
-- wording FOR SHARE, so an UPDATE racing a capture waits for it and then sees the event.
CREATE OR REPLACE FUNCTION consent_wordings_guard()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM consent_events WHERE wording_version = OLD.version) THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'consent wording % is used by a consent event and cannot be deleted', OLD.version
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF NEW.version IS DISTINCT FROM OLD.version OR NEW.text IS DISTINCT FROM OLD.text
           OR NEW.text_sha256 IS DISTINCT FROM OLD.text_sha256 THEN
            RAISE EXCEPTION 'consent wording % is used by a consent event and cannot be changed', OLD.version
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS consent_wordings_immutable ON consent_wordings;
CREATE TRIGGER consent_wordings_immutable BEFORE UPDATE OR DELETE ON consent_wordings
    FOR EACH ROW EXECUTE FUNCTION consent_wordings_guard();

-- Registers a wording: created true for a new row; else the stored row, same_text telling whether
-- the text sent is the one stored (the caller answers 200 or 409). Each statement of plpgsql sees
-- what committed before it, so a version registered concurrently is read here, never missed.
CREATE OR REPLACE FUNCTION register_consent_wording(p_version text, p_text text, p_text_sha256 text,
                                                    OUT created boolean, OUT same_text boolean,
                                                    OUT text_sha256 text, OUT created_at text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    w record;
BEGIN
    INSERT INTO consent_wordings (version, text, text_sha256)
    VALUES (p_version, p_text, p_text_sha256)
    ON CONFLICT (version) DO NOTHING;
    created := FOUND;
    SELECT cw.text, cw.text_sha256, cw.created_at INTO w FROM consent_wordings cw WHERE cw.version = p_version;
    same_text := w.text = p_text;
    text_sha256 := w.text_sha256;
    created_at := to_char(w.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
END
$$;

-- apply_consent() gains the evidence (0003's rule otherwise unchanged). The new parameters default
-- to NULL so the unsubscribe functions' five-argument calls keep working as they are.
DROP FUNCTION IF EXISTS apply_consent(text, "ConsentStatus", text, text, timestamp(3));
CREATE OR REPLACE FUNCTION apply_consent(p_lead_id text, p_next "ConsentStatus", p_source text, p_ip_hash text,
                                         p_now timestamp(3), p_wording_version text DEFAULT NULL,
                                         p_wording_sha256 text DEFAULT NULL, p_method text DEFAULT NULL,
                                         p_page_path text DEFAULT NULL, p_form_name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_current "ConsentStatus";
    v_next "ConsentStatus";
BEGIN
    SELECT consent_status INTO v_current FROM leads WHERE id = p_lead_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- erased meanwhile
    END IF;
    v_next := COALESCE(p_next, v_current);
    IF v_current = 'withdrawn' AND v_next = 'pending' THEN
        RETURN;
    END IF;
    IF v_next IS DISTINCT FROM v_current THEN
        UPDATE leads SET consent_status = v_next, updated_at = p_now WHERE id = p_lead_id;
    END IF;
    INSERT INTO consent_events (id, lead_id, status, source, ip_hash, "timestamp", created_at, wording_version,
                                wording_sha256, method, page_path, form_name)
    VALUES (gen_random_uuid()::text, p_lead_id, v_next, p_source, p_ip_hash, p_now, p_now, p_wording_version,
            p_wording_sha256, p_method, left(p_page_path, 2048), left(p_form_name, 255));
END
$$;

-- The capture of 0003 with the consent evidence: p_wording_version (NULL: none named) must name a
-- registered wording, else nothing at all is written and wording_found is false (the service
-- answers 400); p_consent_method goes into the consent event with the wording's version and hash,
-- the page (p_path, what the form_submit event records) and the form name.
DROP FUNCTION IF EXISTS capture_lead(text, text, text, "ConsentStatus", text, jsonb, text, text, boolean, integer,
                                     integer, text, timestamp(3), text, text, text, text, text, text, text, text,
                                     text, text, integer, text, text, text, text, text, jsonb, text,
                                     "TrafficSource", "DeviceType", text, boolean, boolean, boolean);
CREATE OR REPLACE FUNCTION capture_lead(
    p_email_normalized text,
    p_email_domain text,
    p_source_channel text,
    p_consent "ConsentStatus",       -- NULL: keep the lead's current status (pending when new)
    p_form_name text,
    p_payload jsonb,
    p_lead_id text,                  -- id for a new lead
    p_submission_id text,
    p_heuristic boolean,
    p_heuristic_window_minutes integer,
    p_heuristic_max integer,         -- links made at most per capture
    p_wording_version text,          -- NULL: no wording named
    p_consent_method text,           -- NULL: not said
    -- the form_submit event, exactly as ingest_event() takes it
    p_anon_id text, p_occurred_at timestamp(3), p_ip_hash text, p_ua_hash text, p_event_type text,
    p_path text, p_referrer text, p_utm_source text, p_utm_medium text, p_utm_campaign text,
    p_utm_term text, p_utm_content text, p_inactivity_minutes integer, p_visitor_id text,
    p_session_id text, p_event_id text, p_canon_prefix text, p_canon_suffix text, p_props jsonb,
    p_property_id text, p_traffic_source "TrafficSource", p_device_type "DeviceType", p_country_code text,
    p_is_entrance boolean, p_is_exit boolean, p_is_conversion boolean,
    OUT lead_id text,
    OUT visitor_id text,
    OUT session_id text,
    OUT heuristic_links_created integer,
    OUT wording_found boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    v_sha text;
    ev record;
BEGIN
    heuristic_links_created := 0;
    wording_found := true;
    IF p_wording_version IS NOT NULL THEN
        -- FOR SHARE: the wording cannot change (consent_wordings_guard) while this event is written
        SELECT cw.text_sha256 INTO v_sha FROM consent_wordings cw WHERE cw.version = p_wording_version FOR SHARE;
        IF NOT FOUND THEN
            wording_found := false;
            RETURN; -- before anything is written
        END IF;
    END IF;

    SELECT * INTO ev FROM ingest_event(p_anon_id, p_occurred_at, p_ip_hash, p_ua_hash, p_event_type, p_path,
        p_referrer, p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content, p_inactivity_minutes,
        p_visitor_id, p_session_id, p_event_id, p_canon_prefix, p_canon_suffix, p_props, p_property_id,
        p_traffic_source, p_device_type, p_country_code, p_is_entrance, p_is_exit, p_is_conversion);
    visitor_id := ev.visitor_id;
    session_id := ev.session_id;

    INSERT INTO leads AS l (id, email_normalized, email_domain, consent_status, first_captured_at,
                            last_captured_at, source_channel, created_at, updated_at)
    VALUES (p_lead_id, p_email_normalized, p_email_domain, COALESCE(p_consent, 'pending'), v_now, v_now,
            p_source_channel, v_now, v_now)
    ON CONFLICT (email_normalized) DO UPDATE
        SET source_channel = EXCLUDED.source_channel,
            last_captured_at = EXCLUDED.last_captured_at,
            updated_at = EXCLUDED.updated_at
    RETURNING l.id INTO lead_id;

    INSERT INTO lead_identities AS li (id, lead_id, visitor_id, link_source, confidence, linked_at, created_at)
    VALUES (gen_random_uuid()::text, lead_id, visitor_id, 'form_submit', 1.0, v_now, v_now)
    ON CONFLICT (lead_id, visitor_id, link_source) DO UPDATE
        SET confidence = GREATEST(li.confidence, EXCLUDED.confidence);

    IF p_heuristic THEN
        INSERT INTO lead_identities (id, lead_id, visitor_id, link_source, confidence, linked_at, created_at)
        SELECT gen_random_uuid()::text, lead_id, c.id, 'same_ip_ua_window', 0.35, v_now, v_now
          FROM (SELECT v.id FROM visitors v
                 WHERE v.id <> capture_lead.visitor_id
                   -- never a cookieless, GPC or DNT visitor (its id is the IP + UA hash, 0007):
                   -- behind a NAT that is anyone's browsing, and its owner asked not to be tied
                   AND v.anon_id NOT LIKE 'ck:%'
                   AND v.last_ip_hash = p_ip_hash
                   AND v.last_ua_hash = p_ua_hash
                   AND v.last_seen_at >= v_now - make_interval(mins => p_heuristic_window_minutes)
                 ORDER BY v.last_seen_at DESC, v.id
                 LIMIT p_heuristic_max) c
        ON CONFLICT (lead_id, visitor_id, link_source) DO NOTHING;
        GET DIAGNOSTICS heuristic_links_created = ROW_COUNT;
    END IF;

    INSERT INTO form_submissions (id, lead_id, visitor_id, session_id, form_name, payload, submitted_at,
                                  validation_status, created_at)
    VALUES (p_submission_id, lead_id, visitor_id, session_id, p_form_name, p_payload, v_now, 'accepted', v_now);

    PERFORM apply_consent(lead_id, p_consent, 'form_submit', p_ip_hash, v_now, p_wording_version, v_sha,
                          p_consent_method, p_path, p_form_name);
END
$$;

-- The lead list and export (issue 16 item 1; api/h_lead_list.c), one function for both so they
-- cannot disagree. p_view: all, mailable (express, or implied and not expired), expired, or one
-- status; p_since_ms / p_until_ms: first captured since (inclusive) / until (exclusive), epoch ms;
-- p_form_name: a form the lead submitted; p_email_like: a LIKE pattern (ESCAPE '\') over the
-- normalised email; p_cursor_ms / p_cursor_id: after this (first_captured_at, id); p_limit: most
-- rows (NULL: all, the export), in (first_captured_at, id) order.
-- A lead's current consent "run" starts after its latest event of another status. "When and how"
-- is the run's first event (the consent as given, not a later re-capture). Implied consent expires
-- at the latest of the run's implied events' time + days (p_customer_days for method
-- existing_customer, else p_inquiry_days: a web form is an inquiry, and a new one renews it), or
-- first capture + p_inquiry_days when no event says (rows adopted from before events). First
-- touch: the earliest retained session of a visitor linked by a form submission (never a heuristic
-- link: that may be someone else).
-- SET jit = off: the planner's estimate for a whole export is far above jit_above_cost, and
-- compiling took longer than running (2.5 s of 3.5 s for 40 000 leads) against a 1.5 s statement
-- timeout. (A SET makes the function opaque to the planner: the rows are produced in Postgres,
-- never held by the service, which reads them one at a time.)
CREATE OR REPLACE FUNCTION lead_rows(p_inquiry_days integer, p_customer_days integer, p_view text,
                                     p_since_ms bigint, p_until_ms bigint, p_form_name text, p_email_like text,
                                     p_cursor_ms bigint, p_cursor_id text, p_limit integer)
RETURNS TABLE (r_id text, r_email text, r_status text, r_expired boolean, r_expires_at text, r_consent_at text,
               r_method text, r_source text, r_wording_version text, r_first_captured_at text,
               r_last_captured_at text, r_source_channel text, r_touch_started_at text, r_landing_path text,
               r_referrer text, r_utm_source text, r_utm_medium text, r_utm_campaign text, r_utm_term text,
               r_utm_content text, r_cursor_ms bigint)
LANGUAGE sql
STABLE
SET jit = off
AS $$
WITH b AS (
    SELECT l.id, l.email_normalized, l.consent_status, l.first_captured_at, l.last_captured_at, l.source_channel,
           r.run_start,
           CASE WHEN l.consent_status = 'implied' THEN
               COALESCE((SELECT max(ce."timestamp" + make_interval(days => CASE WHEN ce.method = 'existing_customer'
                                                                               THEN p_customer_days
                                                                               ELSE p_inquiry_days END))
                           FROM consent_events ce
                          WHERE ce.lead_id = l.id AND ce.status = 'implied' AND ce."timestamp" > r.run_start),
                        l.first_captured_at + make_interval(days => p_inquiry_days))
           END AS expires_at
      FROM leads l
     CROSS JOIN LATERAL (SELECT COALESCE(max(o."timestamp"), '-infinity'::timestamp) AS run_start
                           FROM consent_events o
                          WHERE o.lead_id = l.id AND o.status <> l.consent_status) r
     WHERE (p_since_ms IS NULL OR l.first_captured_at >= 'epoch'::timestamp + p_since_ms * interval '1 millisecond')
       AND (p_until_ms IS NULL OR l.first_captured_at < 'epoch'::timestamp + p_until_ms * interval '1 millisecond')
       AND (p_form_name IS NULL OR EXISTS (SELECT 1 FROM form_submissions fs
                                            WHERE fs.lead_id = l.id AND fs.form_name = p_form_name))
       AND (p_email_like IS NULL OR l.email_normalized LIKE p_email_like ESCAPE '\')
       AND (p_cursor_ms IS NULL OR (l.first_captured_at, l.id) >
            ('epoch'::timestamp + p_cursor_ms * interval '1 millisecond', p_cursor_id))
)
SELECT b.id, b.email_normalized::text, b.consent_status::text,
       COALESCE(b.expires_at < (now() AT TIME ZONE 'UTC'), false),
       to_char(b.expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       to_char(ev."timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), ev.method::text, ev.source::text,
       ev.wording_version::text,
       to_char(b.first_captured_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       to_char(b.last_captured_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), b.source_channel::text,
       to_char(ft.started_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), ft.landing_path, ft.referrer,
       ft.utm_source::text, ft.utm_medium::text, ft.utm_campaign::text, ft.utm_term::text, ft.utm_content::text,
       (extract(epoch FROM b.first_captured_at) * 1000)::bigint
  FROM b
  LEFT JOIN LATERAL (SELECT ce."timestamp", ce.method, ce.source, ce.wording_version
                       FROM consent_events ce
                      WHERE ce.lead_id = b.id AND ce.status = b.consent_status AND ce."timestamp" > b.run_start
                      ORDER BY ce."timestamp", ce.id
                      LIMIT 1) ev ON true
  LEFT JOIN LATERAL (SELECT s.started_at, s.landing_path, s.referrer, s.utm_source, s.utm_medium, s.utm_campaign,
                            s.utm_term, s.utm_content
                       FROM lead_identities li
                       JOIN sessions s ON s.visitor_id = li.visitor_id
                      WHERE li.lead_id = b.id AND li.link_source = 'form_submit'
                      ORDER BY s.started_at, s.id
                      LIMIT 1) ft ON true
 WHERE CASE p_view
           WHEN 'all' THEN true
           WHEN 'mailable' THEN b.consent_status = 'express'
                                OR (b.consent_status = 'implied' AND b.expires_at >= (now() AT TIME ZONE 'UTC'))
           WHEN 'expired' THEN b.consent_status = 'implied' AND b.expires_at < (now() AT TIME ZONE 'UTC')
           ELSE b.consent_status::text = p_view
       END
 ORDER BY b.first_captured_at, b.id
 LIMIT p_limit
$$;

-- pinned like every function of the schema (0006_hardening.sql)
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION consent_wordings_guard() SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION register_consent_wording(text, text, text) '
                   'SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION apply_consent(text, "ConsentStatus", text, text, timestamp(3), text, text, '
                   'text, text, text) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION capture_lead(text, text, text, "ConsentStatus", text, jsonb, text, text, '
                   'boolean, integer, integer, text, text, text, timestamp(3), text, text, text, text, text, '
                   'text, text, text, text, text, integer, text, text, text, text, text, jsonb, text, '
                   '"TrafficSource", "DeviceType", text, boolean, boolean, boolean) '
                   'SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION lead_rows(integer, integer, text, bigint, bigint, text, text, bigint, text, '
                   'integer) SET search_path = %I, pg_catalog, pg_temp', current_schema());
END
$$;

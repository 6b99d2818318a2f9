-- 0013_lead_access_erasure: issue 16 items 4, 5 and 7 (the part of the lead's life after capture).
--
-- - lead_access(): everything stored about one person as one JSON document (the admin's answer to
--   an access request), built here in one statement.
-- - delete_lead(): the erasure leaves proof, not data: a keyed hash of the normalised email (the
--   service computes it; the key never reaches the database) goes to lead_erasures in the same
--   transaction, and every copy of the person's data goes.
-- - unsubscribe_lead(), unsubscribe_lead_by_id(): withdrawing consent also drops the lead's
--   heuristic links (a guess that may point at someone else); the form_submit link stays.

-- Everything stored about the lead of p_email_normalized, NULL when there is none: the lead, its
-- consent events (with the wording's text and SHA-256 when the event names one), its form
-- submissions with their payloads, its identity links (source and confidence), the linked
-- visitors, and their sessions and events still retained (retention_purge deletes older ones),
-- oldest first and at most p_events_max of each, with the total and a truncated flag.
CREATE OR REPLACE FUNCTION lead_access(p_email_normalized text, p_events_max integer, OUT document json)
LANGUAGE sql
STABLE
AS $$
WITH l AS (
    SELECT * FROM leads WHERE email_normalized = p_email_normalized
), v AS (
    SELECT DISTINCT li.visitor_id AS id FROM lead_identities li JOIN l ON li.lead_id = l.id
), ev AS (
    -- the window's count is taken before the LIMIT: total is every retained event
    SELECT e.*, count(*) OVER () AS total
      FROM events e
     WHERE e.visitor_id IN (SELECT id FROM v)
     ORDER BY e."timestamp", e.id
     LIMIT p_events_max
), se AS (
    SELECT s.*, count(*) OVER () AS total
      FROM sessions s
     WHERE s.visitor_id IN (SELECT id FROM v)
     ORDER BY s.started_at, s.id
     LIMIT p_events_max
)
SELECT json_build_object(
    'lead', json_build_object(
        'id', l.id,
        'email', l.email_normalized,
        'emailDomain', l.email_domain,
        'consentStatus', l.consent_status,
        'sourceChannel', l.source_channel,
        'firstCapturedAt', to_char(l.first_captured_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'lastCapturedAt', to_char(l.last_captured_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'createdAt', to_char(l.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'updatedAt', to_char(l.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    'consentEvents', COALESCE((
        SELECT json_agg(json_build_object(
                   'id', ce.id,
                   'status', ce.status,
                   'source', ce.source,
                   'timestamp', to_char(ce."timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'ipHash', ce.ip_hash,
                   'method', ce.method,
                   'pagePath', ce.page_path,
                   'formName', ce.form_name,
                   'wordingVersion', ce.wording_version,
                   'wordingSha256', ce.wording_sha256,
                   'wordingText', w.text,
                   'wordingTextSha256', w.text_sha256)
                   ORDER BY ce."timestamp", ce.id)
          FROM consent_events ce
          LEFT JOIN consent_wordings w ON w.version = ce.wording_version
         WHERE ce.lead_id = l.id), '[]'::json),
    'formSubmissions', COALESCE((
        SELECT json_agg(json_build_object(
                   'id', f.id,
                   'formName', f.form_name,
                   'payload', f.payload,
                   'submittedAt', to_char(f.submitted_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'validationStatus', f.validation_status,
                   'visitorId', f.visitor_id,
                   'sessionId', f.session_id)
                   ORDER BY f.submitted_at, f.id)
          FROM form_submissions f
         WHERE f.lead_id = l.id), '[]'::json),
    'identityLinks', COALESCE((
        SELECT json_agg(json_build_object(
                   'visitorId', li.visitor_id,
                   'linkSource', li.link_source,
                   'confidence', li.confidence,
                   'linkedAt', to_char(li.linked_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                   ORDER BY li.linked_at, li.id)
          FROM lead_identities li
         WHERE li.lead_id = l.id), '[]'::json),
    'visitors', COALESCE((
        SELECT json_agg(json_build_object(
                   'id', vi.id,
                   'anonId', vi.anon_id,
                   'firstSeenAt', to_char(vi.first_seen_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'lastSeenAt', to_char(vi.last_seen_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'firstIpHash', vi.first_ip_hash,
                   'lastIpHash', vi.last_ip_hash,
                   'firstUaHash', vi.first_ua_hash,
                   'lastUaHash', vi.last_ua_hash)
                   ORDER BY vi.first_seen_at, vi.id)
          FROM visitors vi
         WHERE vi.id IN (SELECT id FROM v)), '[]'::json),
    'sessions', COALESCE((
        SELECT json_agg(json_build_object(
                   'id', s.id,
                   'visitorId', s.visitor_id,
                   'startedAt', to_char(s.started_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'lastEventAt', to_char(s.last_event_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'landingPath', s.landing_path,
                   'referrer', s.referrer,
                   'utmSource', s.utm_source,
                   'utmMedium', s.utm_medium,
                   'utmCampaign', s.utm_campaign,
                   'utmTerm', s.utm_term,
                   'utmContent', s.utm_content)
                   ORDER BY s.started_at, s.id)
          FROM se s), '[]'::json),
    'sessionsTotal', COALESCE((SELECT max(total) FROM se), 0),
    'sessionsTruncated', COALESCE((SELECT max(total) FROM se), 0) > p_events_max,
    'events', COALESCE((
        SELECT json_agg(json_build_object(
                   'id', e.id,
                   'visitorId', e.visitor_id,
                   'sessionId', e.session_id,
                   'eventType', e.event_type,
                   'path', e.path,
                   'timestamp', to_char(e."timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'propertyId', e.property_id,
                   'trafficSource', e.traffic_source,
                   'deviceType', e.device_type,
                   'countryCode', e.country_code,
                   'isEntrance', e.is_entrance,
                   'isExit', e.is_exit,
                   'isConversion', e.is_conversion,
                   'ipHash', e.ip_hash,
                   'uaHash', e.ua_hash,
                   'props', e.props)
                   ORDER BY e."timestamp", e.id)
          FROM ev e), '[]'::json),
    'eventsTotal', COALESCE((SELECT max(total) FROM ev), 0),
    'eventsTruncated', COALESCE((SELECT max(total) FROM ev), 0) > p_events_max)
  FROM l
$$;

-- Erasure (API.md POST /v1/leads/delete): lead_found false for an unknown email (nothing erased,
-- nothing recorded). For a known one, in this one transaction: the proof (p_email_hmac, the
-- service's keyed hash of the normalised email, and the time) goes to lead_erasures; the form
-- submissions' payloads are scrubbed (the rows stay, anonymous, because the rollups count accepted
-- submissions per day: a day rolled up again gives the same figure); the webhook outbox rows of
-- the lead go (their body may hold the email); the lead goes, and with it (by cascade) its consent
-- events and every identity link, form_submit and heuristic alike. Visitors, sessions and events
-- stay: anonymous analytics, purged by retention like any other.
DROP FUNCTION IF EXISTS delete_lead(text);
CREATE OR REPLACE FUNCTION delete_lead(p_email_normalized text, p_email_hmac text, OUT lead_found boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text;
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
BEGIN
    SELECT id INTO v_id FROM leads WHERE email_normalized = p_email_normalized FOR UPDATE;
    lead_found := v_id IS NOT NULL;
    IF lead_found THEN
        UPDATE form_submissions SET payload = NULL, lead_id = NULL WHERE lead_id = v_id;
        DELETE FROM webhook_outbox WHERE lead_id = v_id;
        DELETE FROM lead_identities WHERE lead_id = v_id;
        DELETE FROM leads WHERE id = v_id;
        INSERT INTO lead_erasures (id, email_hmac, erased_at) VALUES (gen_random_uuid()::text, p_email_hmac, v_now);
    END IF;
END
$$;

-- Unsubscribe (bare email): as 0003, and the lead's heuristic links go (the form_submit link, the
-- person's own browser, stays).
CREATE OR REPLACE FUNCTION unsubscribe_lead(p_email_normalized text, p_ip_hash text, OUT lead_found boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text;
BEGIN
    SELECT id INTO v_id FROM leads WHERE email_normalized = p_email_normalized FOR UPDATE;
    lead_found := v_id IS NOT NULL;
    IF lead_found THEN
        PERFORM apply_consent(v_id, 'withdrawn', 'unsubscribe', p_ip_hash, (now() AT TIME ZONE 'UTC')::timestamp(3));
        DELETE FROM lead_identities WHERE lead_id = v_id AND link_source <> 'form_submit';
    END IF;
END
$$;

-- Unsubscribe (signed link, 0010): the same.
CREATE OR REPLACE FUNCTION unsubscribe_lead_by_id(p_lead_id text, p_ip_hash text, OUT lead_found boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text;
BEGIN
    SELECT id INTO v_id FROM leads WHERE id = p_lead_id FOR UPDATE;
    lead_found := v_id IS NOT NULL;
    IF lead_found THEN
        PERFORM apply_consent(v_id, 'withdrawn', 'unsubscribe', p_ip_hash, (now() AT TIME ZONE 'UTC')::timestamp(3));
        DELETE FROM lead_identities WHERE lead_id = v_id AND link_source <> 'form_submit';
    END IF;
END
$$;

-- pinned like every function of the schema (0006_hardening.sql); CREATE OR REPLACE resets the pin
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION lead_access(text, integer) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION delete_lead(text, text) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION unsubscribe_lead(text, text) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION unsubscribe_lead_by_id(text, text) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

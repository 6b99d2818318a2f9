-- 0003_leads: lead capture, unsubscribe and erasure, each one round trip and one transaction.
--
-- apply_consent() is the consent rule of API.md §3: withdrawal is sticky against `pending`, the
-- status changes only when it differs, and every capture or unsubscribe leaves one consent_events
-- row (except the sticky case, which writes nothing).

CREATE OR REPLACE FUNCTION apply_consent(p_lead_id text, p_next "ConsentStatus", p_source text, p_ip_hash text,
                                         p_now timestamp(3))
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
    INSERT INTO consent_events (id, lead_id, status, source, ip_hash, "timestamp", created_at)
    VALUES (gen_random_uuid()::text, p_lead_id, v_next, p_source, p_ip_hash, p_now, p_now);
END
$$;

-- The capture: the form_submit event through ingest_event() (visitor, session, deduplicated event),
-- the lead upsert by normalised email, the strong identity link, heuristic links, the submission
-- row and the consent step.
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
    OUT heuristic_links_created integer)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamp(3) := now() AT TIME ZONE 'UTC';
    ev record;
BEGIN
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

    heuristic_links_created := 0;
    IF p_heuristic THEN
        INSERT INTO lead_identities (id, lead_id, visitor_id, link_source, confidence, linked_at, created_at)
        SELECT gen_random_uuid()::text, lead_id, c.id, 'same_ip_ua_window', 0.35, v_now, v_now
          FROM (SELECT v.id FROM visitors v
                 WHERE v.id <> capture_lead.visitor_id
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

    PERFORM apply_consent(lead_id, p_consent, 'form_submit', p_ip_hash, v_now);
END
$$;

-- Unsubscribe: lead_found = false for an unknown email (the caller answers 404). (Not `found`:
-- that name is plpgsql's FOUND, which every statement overwrites.)
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
    END IF;
END
$$;

-- Erasure: payloads scrubbed, the lead deleted (identities and consent events go by cascade,
-- submissions stay with lead_id NULL); anonymous analytics stay.
CREATE OR REPLACE FUNCTION delete_lead(p_email_normalized text, OUT lead_found boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text;
BEGIN
    SELECT id INTO v_id FROM leads WHERE email_normalized = p_email_normalized FOR UPDATE;
    lead_found := v_id IS NOT NULL;
    IF lead_found THEN
        UPDATE form_submissions SET payload = NULL WHERE lead_id = v_id;
        DELETE FROM leads WHERE id = v_id;
    END IF;
END
$$;

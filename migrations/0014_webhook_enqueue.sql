-- 0014_webhook_enqueue: issue 16 item 6, a webhook on each new lead (the outbox table is 0011's).
--
-- A new lead writes one webhook_outbox row in the capture's own transaction, without capture_lead()
-- knowing: a constraint trigger AFTER INSERT ON leads, deferred to the commit. It fires only for a
-- row that was really inserted (capture_lead's ON CONFLICT ... DO UPDATE of a known address fires
-- no INSERT trigger), and at the commit, when the capture's form_submissions row and its consent
-- step exist, so the body carries the form and the consent status the lead ends the capture with.
--
-- Whether to enqueue, and what the body may carry, is the operator's (WEBHOOK_URL, WEBHOOK_SECRET,
-- WEBHOOK_INCLUDE_EMAIL, WEBHOOK_INCLUDE_PAYLOAD): the responder sends it with every statement as
-- the setting actx.webhook (store/sql.c SQL_TX_SETTINGS), '' when no webhook is configured, else
-- 'on' followed by ',email' and/or ',payload'. Unset (psql, another client, the jobs): nothing is
-- enqueued.
--
-- The body is fixed here, once: every delivery of the row sends the same bytes (jsonb's text form
-- is canonical) under the same id, the Standard Webhooks webhook-id.
CREATE OR REPLACE FUNCTION webhook_lead_created()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_opts text[] := string_to_array(COALESCE(current_setting('actx.webhook', true), ''), ',');
    v_lead record;
    v_sub record;
    v_data jsonb;
BEGIN
    IF NOT ('on' = ANY (v_opts)) THEN
        RETURN NULL;
    END IF;
    -- the row as the transaction leaves it (its consent step came after the insert); gone when the
    -- same transaction erased it
    SELECT id, email_normalized, consent_status, source_channel, first_captured_at
      INTO v_lead FROM leads WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT form_name, payload INTO v_sub FROM form_submissions
     WHERE lead_id = NEW.id ORDER BY created_at, id LIMIT 1;
    v_data := jsonb_build_object(
        'leadId', v_lead.id,
        'formName', v_sub.form_name,
        'sourceChannel', v_lead.source_channel,
        'consentStatus', v_lead.consent_status::text,
        'capturedAt', to_char(v_lead.first_captured_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    IF 'email' = ANY (v_opts) THEN
        v_data := v_data || jsonb_build_object('email', v_lead.email_normalized);
    END IF;
    IF 'payload' = ANY (v_opts) THEN
        v_data := v_data || jsonb_build_object('payload', v_sub.payload);
    END IF;
    INSERT INTO webhook_outbox (id, event_type, lead_id, body)
    VALUES ('msg_' || replace(gen_random_uuid()::text, '-', ''), 'lead.created', v_lead.id,
            jsonb_build_object('type', 'lead.created',
                               'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                               'data', v_data));
    RETURN NULL;
END
$$;

-- pinned like every function of the schema (0006_hardening.sql)
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION webhook_lead_created() SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

-- CREATE CONSTRAINT TRIGGER has no IF NOT EXISTS / OR REPLACE: dropped and made again (one
-- transaction, so no capture commits between the two).
DROP TRIGGER IF EXISTS leads_webhook_created ON leads;
CREATE CONSTRAINT TRIGGER leads_webhook_created
    AFTER INSERT ON leads
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_lead_created();

-- the lead's rows, for the erasure that removes them with the lead (they may hold its email)
CREATE INDEX IF NOT EXISTS webhook_outbox_lead_id_idx ON webhook_outbox (lead_id);

-- 0010_unsubscribe_by_id: issue 16 item 2, the signed one-click unsubscribe link.
--
-- The link's token names the lead by id (no email in a URL). The consent step is 0003's
-- apply_consent() (withdrawn, source 'unsubscribe', the client's ip hash), exactly as the bare-email
-- unsubscribe_lead() does it; lead_found is false for a lead erased since the link was made (the
-- service answers that as a success: see fcgi-app/src/api/h_unsubscribe.c).
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
    END IF;
END
$$;

-- pinned like every function of the schema (0006_hardening.sql)
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION unsubscribe_lead_by_id(text, text) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

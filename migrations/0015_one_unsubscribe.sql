-- 0015_one_unsubscribe: the bare-email unsubscribe is the signed link's, found by email. 0013 had
-- written the withdrawal (apply_consent, then the heuristic links removed) twice, once per way in;
-- one definition keeps the two from drifting apart.
CREATE OR REPLACE FUNCTION unsubscribe_lead(p_email_normalized text, p_ip_hash text, OUT lead_found boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text;
BEGIN
    SELECT id INTO v_id FROM leads WHERE email_normalized = p_email_normalized;
    lead_found := v_id IS NOT NULL AND (SELECT u.lead_found FROM unsubscribe_lead_by_id(v_id, p_ip_hash) u);
END
$$;

-- pinned like every function of the schema (0006_hardening.sql); CREATE OR REPLACE resets the pin
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION unsubscribe_lead(text, text) SET search_path = %I, pg_catalog, pg_temp',
                   current_schema());
END
$$;

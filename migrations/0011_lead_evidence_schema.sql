-- 0011_lead_evidence_schema: issue 16, the tables and columns the lead side shares (consent
-- evidence, erasure proof, webhook outbox). Functions that fill and read them come in later
-- migrations, one per concern. Additive only: an existing database (the Node service's) is adopted
-- as it is, old rows get NULLs in the new columns.

-- Consent wordings (item 3): the exact text a person agreed to, by version, with its SHA-256 (hex),
-- registered by the operator. A wording named by a consent event cannot be deleted (the foreign
-- key below); its text cannot be changed once used (0012's trigger).
CREATE TABLE IF NOT EXISTS consent_wordings (
    version VARCHAR(64) NOT NULL,
    text TEXT NOT NULL,
    text_sha256 CHAR(64) NOT NULL,
    created_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    CONSTRAINT consent_wordings_pkey PRIMARY KEY (version)
);

-- The evidence each consent event carries (NULL for rows written before issue 16 and for steps
-- such as unsubscribe that have no wording).
ALTER TABLE consent_events ADD COLUMN IF NOT EXISTS wording_version VARCHAR(64);
ALTER TABLE consent_events ADD COLUMN IF NOT EXISTS wording_sha256 CHAR(64);
ALTER TABLE consent_events ADD COLUMN IF NOT EXISTS method VARCHAR(32);
ALTER TABLE consent_events ADD COLUMN IF NOT EXISTS page_path VARCHAR(2048);
ALTER TABLE consent_events ADD COLUMN IF NOT EXISTS form_name VARCHAR(255);
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'consent_events_wording_version_fkey') THEN
        ALTER TABLE consent_events ADD CONSTRAINT consent_events_wording_version_fkey
            FOREIGN KEY (wording_version) REFERENCES consent_wordings (version) ON DELETE RESTRICT;
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS consent_events_lead_id_timestamp_idx ON consent_events (lead_id, "timestamp");

-- Erasure proof (item 5): a keyed hash of the normalised email (hex) and when; never the address.
CREATE TABLE IF NOT EXISTS lead_erasures (
    id TEXT NOT NULL,
    email_hmac CHAR(64) NOT NULL,
    erased_at TIMESTAMP(3) NOT NULL,
    CONSTRAINT lead_erasures_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS lead_erasures_email_hmac_idx ON lead_erasures (email_hmac, erased_at);

-- Webhook outbox (item 6): one row per new lead, written in the capture's transaction, delivered
-- by the scheduler at least once under its stable id. body is the JSON sent (only what the
-- operator opted into); state pending -> delivered, or failed after the retry window.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id TEXT NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    lead_id TEXT,
    body JSONB NOT NULL,
    state VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    next_attempt_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    last_attempt_at TIMESTAMP(3),
    last_status INTEGER,
    last_error VARCHAR(255),
    delivered_at TIMESTAMP(3),
    CONSTRAINT webhook_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_outbox_state_check CHECK (state IN ('pending', 'delivered', 'failed'))
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due_idx ON webhook_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_outbox_created_idx ON webhook_outbox (created_at, id);

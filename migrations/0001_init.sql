-- 0001_init: the schema of the Node/Prisma service (docs: schema-reference.md), table for table.
--
-- Idempotent on purpose: on a fresh database it creates everything; on a database created by the
-- Node service (any revision, [d1] or [8d]) it only fills the gaps and never rewrites data. Hence
-- IF NOT EXISTS everywhere, enums and foreign keys in DO blocks, and the columns that [d1] lacked
-- added with ADD COLUMN IF NOT EXISTS. Names follow Prisma's conventions so that an adopted database
-- and a fresh one are indistinguishable. No schema is named: the runner sets search_path.
-- [d1]'s web_traffic_logs table is deliberately left alone.

-- ---------------------------------------------------------------------------------------------- enums

DO $$ BEGIN
    CREATE TYPE "ConsentStatus" AS ENUM ('pending', 'express', 'implied', 'withdrawn');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE "LinkSource" AS ENUM ('form_submit', 'same_ip_ua_window', 'manual_merge');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE "ValidationStatus" AS ENUM ('accepted', 'rejected', 'invalid');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE "TrafficSource" AS ENUM ('direct', 'organic_search', 'paid_search', 'social', 'email',
                                         'referral', 'campaign', 'internal', 'unknown');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE "DeviceType" AS ENUM ('desktop', 'mobile', 'tablet', 'bot', 'unknown');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- ---------------------------------------------------------------------------------------------- tables

CREATE TABLE IF NOT EXISTS "visitors" (
    "id" TEXT NOT NULL,
    "anon_id" TEXT NOT NULL,
    "first_seen_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "first_ip_hash" VARCHAR(128),
    "last_ip_hash" VARCHAR(128),
    "first_ua_hash" VARCHAR(128),
    "last_ua_hash" VARCHAR(128),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "visitors_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "sessions" (
    "id" TEXT NOT NULL,
    "visitor_id" TEXT NOT NULL,
    "started_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ended_at" TIMESTAMP(3),
    "last_event_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "landing_path" TEXT,
    "referrer" TEXT,
    "utm_source" VARCHAR(255),
    "utm_medium" VARCHAR(255),
    "utm_campaign" VARCHAR(255),
    "utm_term" VARCHAR(255),
    "utm_content" VARCHAR(255),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sessions_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "events" (
    "id" TEXT NOT NULL,
    "visitor_id" TEXT NOT NULL,
    "session_id" TEXT,
    "dedupe_key" VARCHAR(64),
    "event_type" VARCHAR(64) NOT NULL,
    "path" TEXT,
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ip_hash" VARCHAR(128),
    "ua_hash" VARCHAR(128),
    "props" JSONB,
    "property_id" VARCHAR(128) NOT NULL DEFAULT 'default',
    "traffic_source" "TrafficSource" NOT NULL DEFAULT 'unknown',
    "device_type" "DeviceType" NOT NULL DEFAULT 'unknown',
    "country_code" VARCHAR(2),
    "is_entrance" BOOLEAN NOT NULL DEFAULT false,
    "is_exit" BOOLEAN NOT NULL DEFAULT false,
    "is_conversion" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "events_pkey" PRIMARY KEY ("id")
);

-- [d1] databases have events without these; existing rows get the defaults (what [8d] would have written).
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "property_id" VARCHAR(128) NOT NULL DEFAULT 'default';
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "traffic_source" "TrafficSource" NOT NULL DEFAULT 'unknown';
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "device_type" "DeviceType" NOT NULL DEFAULT 'unknown';
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "country_code" VARCHAR(2);
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "is_entrance" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "is_exit" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "events" ADD COLUMN IF NOT EXISTS "is_conversion" BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS "leads" (
    "id" TEXT NOT NULL,
    "email_normalized" VARCHAR(320) NOT NULL,
    "email_domain" VARCHAR(255),
    "consent_status" "ConsentStatus" NOT NULL DEFAULT 'pending',
    "first_captured_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_captured_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "source_channel" VARCHAR(255),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "leads_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "lead_identities" (
    "id" TEXT NOT NULL,
    "lead_id" TEXT NOT NULL,
    "visitor_id" TEXT NOT NULL,
    "link_source" "LinkSource" NOT NULL DEFAULT 'form_submit',
    "confidence" DOUBLE PRECISION NOT NULL DEFAULT 1,
    "linked_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "lead_identities_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "form_submissions" (
    "id" TEXT NOT NULL,
    "lead_id" TEXT,
    "visitor_id" TEXT,
    "session_id" TEXT,
    "form_name" VARCHAR(255) NOT NULL,
    "payload" JSONB,
    "submitted_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "validation_status" "ValidationStatus" NOT NULL DEFAULT 'accepted',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "form_submissions_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "consent_events" (
    "id" TEXT NOT NULL,
    "lead_id" TEXT NOT NULL,
    "status" "ConsentStatus" NOT NULL,
    "source" VARCHAR(128) NOT NULL,
    "ip_hash" VARCHAR(128),
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "consent_events_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "ingest_rejections" (
    "id" TEXT NOT NULL,
    "property_id" VARCHAR(128) NOT NULL,
    "endpoint" VARCHAR(64) NOT NULL,
    "reason" VARCHAR(64) NOT NULL,
    "status_code" INTEGER NOT NULL,
    "occurred_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ingest_rejections_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "daily_metric_rollups" (
    "id" TEXT NOT NULL,
    "property_id" VARCHAR(128) NOT NULL,
    "day" DATE NOT NULL,
    "unique_visitors" INTEGER NOT NULL DEFAULT 0,
    "returning_visitors" INTEGER NOT NULL DEFAULT 0,
    "total_page_views" INTEGER NOT NULL DEFAULT 0,
    "total_entrances" INTEGER NOT NULL DEFAULT 0,
    "total_exits" INTEGER NOT NULL DEFAULT 0,
    "total_conversions" INTEGER NOT NULL DEFAULT 0,
    "form_starts" INTEGER NOT NULL DEFAULT 0,
    "form_submits" INTEGER NOT NULL DEFAULT 0,
    "new_leads" INTEGER NOT NULL DEFAULT 0,
    "time_to_first_capture_sum_ms" BIGINT NOT NULL DEFAULT 0,
    "time_to_first_capture_count" INTEGER NOT NULL DEFAULT 0,
    "traffic_source_breakdown" JSONB,
    "top_landing_paths" JSONB,
    "generated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "daily_metric_rollups_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "daily_ingest_rollups" (
    "id" TEXT NOT NULL,
    "property_id" VARCHAR(128) NOT NULL,
    "day" DATE NOT NULL,
    "events_accepted" INTEGER NOT NULL DEFAULT 0,
    "events_rejected" INTEGER NOT NULL DEFAULT 0,
    "leads_accepted" INTEGER NOT NULL DEFAULT 0,
    "leads_rejected" INTEGER NOT NULL DEFAULT 0,
    "p95_ttfb_ms" INTEGER,
    "error_breakdown" JSONB,
    "generated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "daily_ingest_rollups_pkey" PRIMARY KEY ("id")
);

-- ---------------------------------------------------------------------------------------------- indexes
-- Prisma makes @unique a unique index (not a constraint); so do we, under the same names.

CREATE UNIQUE INDEX IF NOT EXISTS "visitors_anon_id_key" ON "visitors"("anon_id");
CREATE INDEX IF NOT EXISTS "visitors_last_seen_at_idx" ON "visitors"("last_seen_at");

CREATE INDEX IF NOT EXISTS "sessions_visitor_id_started_at_idx" ON "sessions"("visitor_id", "started_at");
CREATE INDEX IF NOT EXISTS "sessions_visitor_id_last_event_at_idx" ON "sessions"("visitor_id", "last_event_at");

CREATE UNIQUE INDEX IF NOT EXISTS "events_dedupe_key_key" ON "events"("dedupe_key");
CREATE INDEX IF NOT EXISTS "events_visitor_id_timestamp_idx" ON "events"("visitor_id", "timestamp");
CREATE INDEX IF NOT EXISTS "events_event_type_timestamp_idx" ON "events"("event_type", "timestamp");
CREATE INDEX IF NOT EXISTS "events_path_timestamp_idx" ON "events"("path", "timestamp");
CREATE INDEX IF NOT EXISTS "events_session_id_timestamp_idx" ON "events"("session_id", "timestamp");
CREATE INDEX IF NOT EXISTS "events_property_id_timestamp_idx" ON "events"("property_id", "timestamp");
CREATE INDEX IF NOT EXISTS "events_traffic_source_timestamp_idx" ON "events"("traffic_source", "timestamp");

CREATE UNIQUE INDEX IF NOT EXISTS "leads_email_normalized_key" ON "leads"("email_normalized");
CREATE INDEX IF NOT EXISTS "leads_last_captured_at_idx" ON "leads"("last_captured_at");

CREATE UNIQUE INDEX IF NOT EXISTS "lead_identities_lead_visitor_source_key"
    ON "lead_identities"("lead_id", "visitor_id", "link_source");
CREATE INDEX IF NOT EXISTS "lead_identities_lead_id_linked_at_idx" ON "lead_identities"("lead_id", "linked_at");
CREATE INDEX IF NOT EXISTS "lead_identities_visitor_id_linked_at_idx"
    ON "lead_identities"("visitor_id", "linked_at");

CREATE INDEX IF NOT EXISTS "form_submissions_lead_id_submitted_at_idx"
    ON "form_submissions"("lead_id", "submitted_at");
CREATE INDEX IF NOT EXISTS "form_submissions_visitor_id_submitted_at_idx"
    ON "form_submissions"("visitor_id", "submitted_at");
CREATE INDEX IF NOT EXISTS "form_submissions_session_id_submitted_at_idx"
    ON "form_submissions"("session_id", "submitted_at");

CREATE INDEX IF NOT EXISTS "consent_events_lead_id_timestamp_idx" ON "consent_events"("lead_id", "timestamp");

CREATE INDEX IF NOT EXISTS "ingest_rejections_property_id_occurred_at_idx"
    ON "ingest_rejections"("property_id", "occurred_at");
CREATE INDEX IF NOT EXISTS "ingest_rejections_endpoint_occurred_at_idx"
    ON "ingest_rejections"("endpoint", "occurred_at");

CREATE UNIQUE INDEX IF NOT EXISTS "daily_metric_rollups_property_day_key"
    ON "daily_metric_rollups"("property_id", "day");
CREATE INDEX IF NOT EXISTS "daily_metric_rollups_day_idx" ON "daily_metric_rollups"("day");

CREATE UNIQUE INDEX IF NOT EXISTS "daily_ingest_rollups_property_day_key"
    ON "daily_ingest_rollups"("property_id", "day");
CREATE INDEX IF NOT EXISTS "daily_ingest_rollups_day_idx" ON "daily_ingest_rollups"("day");

-- ---------------------------------------------------------------------------------------------- foreign keys
-- Postgres has no ADD CONSTRAINT IF NOT EXISTS: look the name up on the table first. to_regclass
-- resolves through search_path, i.e. in the schema being migrated.

DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT * FROM (VALUES
            ('sessions', 'sessions_visitor_id_fkey', 'visitor_id', 'visitors', 'CASCADE'),
            ('events', 'events_visitor_id_fkey', 'visitor_id', 'visitors', 'CASCADE'),
            ('events', 'events_session_id_fkey', 'session_id', 'sessions', 'SET NULL'),
            ('lead_identities', 'lead_identities_lead_id_fkey', 'lead_id', 'leads', 'CASCADE'),
            ('lead_identities', 'lead_identities_visitor_id_fkey', 'visitor_id', 'visitors', 'CASCADE'),
            ('form_submissions', 'form_submissions_lead_id_fkey', 'lead_id', 'leads', 'SET NULL'),
            ('form_submissions', 'form_submissions_visitor_id_fkey', 'visitor_id', 'visitors', 'SET NULL'),
            ('form_submissions', 'form_submissions_session_id_fkey', 'session_id', 'sessions', 'SET NULL'),
            ('consent_events', 'consent_events_lead_id_fkey', 'lead_id', 'leads', 'CASCADE')
        ) AS t(tbl, name, col, ref, on_delete)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint
                       WHERE conname = fk.name AND conrelid = to_regclass(quote_ident(fk.tbl))) THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES %I("id") '
                           'ON DELETE %s ON UPDATE CASCADE',
                           fk.tbl, fk.name, fk.col, fk.ref, fk.on_delete);
        END IF;
    END LOOP;
END $$;

-- Ledgers made by the first builds of transit (before 001_core.sql gained
-- these columns) get them here; for the others this is a no-op.
ALTER TABLE transit.run_entities ADD COLUMN IF NOT EXISTS start_max jsonb;
ALTER TABLE transit.chunks ADD COLUMN IF NOT EXISTS open boolean NOT NULL DEFAULT false;

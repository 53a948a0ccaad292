-- The last description of each source table a plan's entities read
-- (columns, key, indexes, foreign keys, as record.Table in JSON), written
-- by every transit run and whenever transit serve opens its stores. When an old store cannot be
-- reached at start, serve resolves its entities from here instead of
-- refusing to start: an entity in phase new never reads the old store,
-- and one in migrating degrades as when the store goes down while serving.
CREATE TABLE transit.source_schemas (
    plan         text NOT NULL,
    store        text NOT NULL,
    "table"      text NOT NULL,
    description  jsonb NOT NULL,
    described_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan, store, "table")
);

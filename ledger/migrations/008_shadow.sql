-- Shadow reads (dual-read phase `shadow`): per entity, how many sampled
-- reads were compared with the new store and how many differed, and a
-- bounded sample of the differing records (package dualread keeps at most
-- N rows per entity). transition's gate "shadow mismatch rate" reads
-- transit.shadow_stats.
CREATE TABLE transit.shadow_stats (
    plan       text        NOT NULL,
    entity     text        NOT NULL,
    reads      bigint      NOT NULL DEFAULT 0,
    mismatches bigint      NOT NULL DEFAULT 0,
    since      timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan, entity)
);

CREATE TABLE transit.shadow_mismatches (
    plan    text        NOT NULL,
    entity  text        NOT NULL,
    id      text        NOT NULL,
    fields  jsonb       NOT NULL,
    old     jsonb,
    new     jsonb,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shadow_mismatches_by_entity ON transit.shadow_mismatches (plan, entity, seen_at);

-- transit run --deletes: one row per entity per pass that deletes from the
-- new store the keys the old store no longer holds. Owned by package port
-- (port.StartDeletes). A row left 'running' whose updated_at is old belongs
-- to a pass that was killed: the next pass finishes its work (deleting is
-- idempotent) and says so.
CREATE TABLE IF NOT EXISTS transit.deletes (
    id               bigserial   PRIMARY KEY,
    plan             text        NOT NULL,
    entity           text        NOT NULL,
    run_id           bigint,                      -- the transit run it followed, if any
    status           text        NOT NULL DEFAULT 'running'
                                 CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    rows_old         bigint      NOT NULL DEFAULT 0,
    rows_new         bigint      NOT NULL DEFAULT 0,
    chunks           integer     NOT NULL DEFAULT 0,
    chunks_differing integer     NOT NULL DEFAULT 0,
    found            bigint      NOT NULL DEFAULT 0, -- keys only in new when their piece was read
    kept             bigint      NOT NULL DEFAULT 0, -- of those, in old after all on a second look
    deleted          bigint      NOT NULL DEFAULT 0, -- rows removed from new (updated after every batch)
    error            text
);

CREATE INDEX IF NOT EXISTS deletes_plan_entity_idx ON transit.deletes (plan, entity, id DESC);

-- transit verify: one row per `transit verify` run, one row per difference.
-- Owned by package verify (verify.Save, verify.LastClean).

CREATE TABLE IF NOT EXISTS transit.verify_runs (
    id          bigserial PRIMARY KEY,
    plan        text        NOT NULL,             -- plan name (or file)
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text        NOT NULL CHECK (status IN ('consistent', 'differences', 'error')),
    incomplete  boolean     NOT NULL DEFAULT false,
    -- {"entities": {"<entity>": {status, mode, rows_old, rows_new, chunks,
    --   chunks_hashed, chunks_fetched, missing, extra, changed, repaired,
    --   max_version, incomplete, error, ...}}}
    summary     jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS verify_runs_plan_idx ON transit.verify_runs (plan, id DESC);

CREATE TABLE IF NOT EXISTS transit.verify_diffs (
    run_id   bigint  NOT NULL REFERENCES transit.verify_runs (id) ON DELETE CASCADE,
    entity   text    NOT NULL,
    key      jsonb   NOT NULL,                     -- record.EncodeKey of the ID
    kind     text    NOT NULL CHECK (kind IN ('missing', 'extra', 'changed')),
    fields   jsonb,                                -- [{"column","old","new"}], changed only
    repaired boolean NOT NULL DEFAULT false
);

CREATE INDEX IF NOT EXISTS verify_diffs_run_idx ON transit.verify_diffs (run_id, entity);

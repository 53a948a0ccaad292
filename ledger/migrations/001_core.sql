-- transit's own state: runs, their entities, chunk leases and checkpoints,
-- catch-up watermarks and rejects.

CREATE TABLE transit.runs (
    id          bigserial PRIMARY KEY,
    plan        text        NOT NULL,
    plan_hash   text        NOT NULL,
    status      text        NOT NULL DEFAULT 'running', -- running | done | failed
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    until_ts    timestamptz,
    error       text
);
-- Only one active run per plan: a second process joins it instead.
CREATE UNIQUE INDEX runs_one_active ON transit.runs (plan) WHERE status = 'running';

CREATE TABLE transit.run_entities (
    run_id       bigint  NOT NULL REFERENCES transit.runs ON DELETE CASCADE,
    entity       text    NOT NULL,
    mode         text    NOT NULL,           -- backfill | catchup
    fresh        boolean NOT NULL DEFAULT false,
    version_from jsonb,                      -- catch-up lower bound (inclusive)
    start_max    jsonb,                      -- backfill: highest version when the run was planned
    rows_planned bigint  NOT NULL DEFAULT 0,
    indexes_done boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, entity)
);

CREATE TABLE transit.chunks (
    run_id        bigint  NOT NULL,
    entity        text    NOT NULL,
    chunk_no      integer NOT NULL,
    lo            jsonb,                     -- exclusive lower bound; null = start
    hi            jsonb,                     -- inclusive upper bound; null = end
    open          boolean NOT NULL DEFAULT false, -- hi not cut yet: the leaseholder cuts it
    position      jsonb,                     -- last key written; null = nothing yet
    status        text    NOT NULL DEFAULT 'pending', -- pending | done
    lease_owner   text,
    lease_pid     integer,                   -- backend pid of the owner's session
    lease_until   timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    batches       integer NOT NULL DEFAULT 0,
    rows_read     bigint  NOT NULL DEFAULT 0,
    rows_written  bigint  NOT NULL DEFAULT 0,
    rows_rejected bigint  NOT NULL DEFAULT 0,
    max_version   jsonb,
    done_by       text,
    done_at       timestamptz,
    PRIMARY KEY (run_id, entity, chunk_no),
    FOREIGN KEY (run_id, entity) REFERENCES transit.run_entities ON DELETE CASCADE
);
CREATE INDEX chunks_pending ON transit.chunks (run_id, chunk_no) WHERE status = 'pending';

CREATE TABLE transit.checkpoints (
    plan       text        NOT NULL,
    entity     text        NOT NULL,
    watermark  jsonb       NOT NULL,         -- highest version moved (record.EncodeKey of one value)
    run_id     bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan, entity)
);

CREATE TABLE transit.rejects (
    id         bigserial PRIMARY KEY,
    run_id     bigint      NOT NULL,
    entity     text        NOT NULL,
    key        jsonb       NOT NULL,
    reason     text        NOT NULL,
    payload    jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX rejects_once ON transit.rejects (run_id, entity, key);

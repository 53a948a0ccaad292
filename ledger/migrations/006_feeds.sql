-- Feeds: one row per (plan, feed). The confirmed LSN is the feed's
-- checkpoint: written here after every sink of the feed has durably
-- accepted everything before it, and only then confirmed to PostgreSQL.
-- A rebuild records its progress here too (the generation it builds, the
-- slot and snapshot LSN it builds from, its phase), so a killed rebuild
-- resumes where it was and readers stay on current_gen until the switch.
CREATE TABLE transit.feeds (
    plan            text NOT NULL,
    feed            text NOT NULL,
    slot            text NOT NULL DEFAULT '',   -- replication slot the feed streams from
    publication     text NOT NULL DEFAULT '',
    confirmed_lsn   pg_lsn,                     -- checkpoint of the slot above
    current_gen     text NOT NULL DEFAULT '',   -- generation readers use
    -- rebuild in progress ('' = none)
    rebuild_gen     text NOT NULL DEFAULT '',
    rebuild_slot    text NOT NULL DEFAULT '',
    rebuild_pub     text NOT NULL DEFAULT '',
    rebuild_lsn     pg_lsn,                     -- slot's consistent point: version of backfilled docs
    rebuild_phase   text NOT NULL DEFAULT '' CHECK (rebuild_phase IN ('', 'backfill', 'catchup', 'verify', 'switch')),
    rebuild_started timestamptz,
    last_rebuild_at     timestamptz,
    last_rebuild_result text NOT NULL DEFAULT '',
    last_verify_at      timestamptz,
    last_verify_result  text NOT NULL DEFAULT '',
    events          bigint NOT NULL DEFAULT 0,  -- documents written or deleted by feed run
    last_commit_at  timestamptz,                -- commit time of the last applied transaction
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan, feed)
);

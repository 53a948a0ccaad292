-- The transition: each entity's phase (old → shadow → migrating → new),
-- who moved it, when and why, and every change ever made. Owned by package
-- transition (transition.Set, transition.Watch).
--
-- Every change to transit.phases is announced on the channel transit_phases
-- with the payload '<plan>/<entity>', by a trigger, so it is sent in the
-- transaction that makes the change (and only if that commits), whoever
-- makes it: `transit cutover`, `transit rollback`, or an UPDATE by hand.

CREATE TABLE IF NOT EXISTS transit.phases (
    plan       text        NOT NULL,
    entity     text        NOT NULL,
    phase      text        NOT NULL CHECK (phase IN ('old', 'shadow', 'migrating', 'new')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text        NOT NULL,                -- user@host or $TRANSIT_ACTOR
    reason     text        NOT NULL DEFAULT '',
    PRIMARY KEY (plan, entity)
);

CREATE TABLE IF NOT EXISTS transit.phase_history (
    id         bigserial   PRIMARY KEY,
    plan       text        NOT NULL,
    entity     text        NOT NULL,
    from_phase text        NOT NULL,
    to_phase   text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text        NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    forced     boolean     NOT NULL DEFAULT false,  -- gates failed and --force overrode them
    gates      jsonb                                -- the gates checked and their values
);

CREATE INDEX IF NOT EXISTS phase_history_entity_idx ON transit.phase_history (plan, entity, id DESC);

CREATE OR REPLACE FUNCTION transit.notify_phase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('transit_phases', OLD.plan || '/' || OLD.entity);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('transit_phases', NEW.plan || '/' || NEW.entity);
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS phases_notify ON transit.phases;
CREATE TRIGGER phases_notify AFTER INSERT OR UPDATE OR DELETE ON transit.phases
    FOR EACH ROW EXECUTE FUNCTION transit.notify_phase();

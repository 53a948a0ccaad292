-- transit audit history: one row per `transit audit` run, the whole report
-- as JSON (audit.WriteJSON field names). `--compare-to last` reads the
-- newest row of the same plan.
CREATE TABLE IF NOT EXISTS transit.audits (
    id         bigserial   PRIMARY KEY,
    plan       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    failed     boolean     NOT NULL DEFAULT false,
    report     jsonb       NOT NULL
);

CREATE INDEX IF NOT EXISTS audits_plan_created_idx ON transit.audits (plan, created_at DESC, id DESC);

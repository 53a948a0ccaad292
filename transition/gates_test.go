package transition

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/plan"
)

const gatesPlan = `version: 1
name: shop
stores:
  old: { kind: mysql, url: "mysql://u@h/db" }
  pg:  { kind: postgres, url: "postgres://h/db" }
cutover: { max_lag: 1h, max_verify_age: 2h, max_mismatch_rate: 0.01, min_shadow_reads: 100 }
entities:
  customer:
    from: old.customer
    to: pg
    checks: [ { not_null: [Email] }, { unique: [Email], severity: warn } ]
`

func gatesFixture(t *testing.T) (*pgxpool.Pool, *plan.Plan) {
	t.Helper()
	url := testenv.Postgres(t)
	pool := ledgerPool(t, url)
	p, err := plan.Parse("p.yaml", []byte(gatesPlan), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pool, p
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// finishedRun records a finished run of plan shop that moved entity,
// started ago.
func finishedRun(t *testing.T, pool *pgxpool.Pool, entity string, ago time.Duration) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO transit.runs (plan, plan_hash, status, started_at, finished_at)
		VALUES ('shop', 'h', 'done', now() - $1 * interval '1 second', now()) RETURNING id`, ago.Seconds()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `INSERT INTO transit.run_entities (run_id, entity, mode) VALUES ($1, $2, 'catchup')`, id, entity)
	return id
}

func verifyRun(t *testing.T, pool *pgxpool.Pool, entity, status string, ago time.Duration) {
	t.Helper()
	exec(t, pool, `INSERT INTO transit.verify_runs (plan, started_at, finished_at, status, summary)
		VALUES ('shop', now() - $1 * interval '1 second' - interval '1 second', now() - $1 * interval '1 second', $2,
		        jsonb_build_object('entities', jsonb_build_object($3::text, jsonb_build_object('status', $2::text, 'incomplete', false))))`,
		ago.Seconds(), status, entity)
}

func names(rs []GateResult, passed bool) string {
	var out []string
	for _, r := range rs {
		if r.Passed == passed {
			out = append(out, r.Name)
		}
	}
	return strings.Join(out, ",")
}

func TestGatesRefuseThenPass(t *testing.T) {
	t.Parallel()
	pool, p := gatesFixture(t)
	ctx := context.Background()

	// One step at a time.
	if _, err := Forward(ctx, pool, p, "customer", Migrating, StepOptions{}); !errors.Is(err, ErrStep) {
		t.Fatalf("old → migrating: %v, want ErrStep", err)
	}
	// Never ported: shadow is refused on lag.
	res, err := Forward(ctx, pool, p, "customer", Shadow, StepOptions{})
	if err != nil || res.Applied || names(res.Gates, false) != "lag" || res.Gates[0].Value != "never ported" {
		t.Fatalf("shadow before any run: %+v %v", res, err)
	}
	// A run 2h ago is too far behind (max_lag 1h).
	finishedRun(t, pool, "customer", 2*time.Hour)
	if res, err = Forward(ctx, pool, p, "customer", Shadow, StepOptions{}); err != nil || res.Applied || names(res.Gates, false) != "lag" {
		t.Fatalf("shadow with a 2h lag: %+v %v", res, err)
	}
	finishedRun(t, pool, "customer", time.Minute)
	res, err = Forward(ctx, pool, p, "customer", Shadow, StepOptions{Reason: "start comparing"})
	if err != nil || !res.Applied || !res.Passed || res.From != Old {
		t.Fatalf("shadow after a run: %+v %v", res, err)
	}

	// migrating needs every gate: all but lag fail now.
	exec(t, pool, `INSERT INTO transit.rejects (run_id, entity, key, reason, created_at) VALUES (1, 'customer', '[7]', 'bad utf-8', now() - interval '1 hour')`)
	exec(t, pool, `INSERT INTO transit.shadow_stats (plan, entity, reads, mismatches, since, updated_at) VALUES ('shop', 'customer', 50, 0, now(), now())`)
	verifyRun(t, pool, "customer", "differences", time.Minute)
	res, err = Forward(ctx, pool, p, "customer", Migrating, StepOptions{})
	if err != nil || res.Applied || names(res.Gates, false) != "verify,shadow,audit,rejects" || names(res.Gates, true) != "lag" {
		t.Fatalf("migrating with evidence missing: %+v %v", res, err)
	}
	for _, g := range res.Gates[1:] {
		if g.Detail == "" || g.Value == "" {
			t.Errorf("gate %s says nothing: %+v", g.Name, g)
		}
	}

	// The evidence arrives: a clean verify (after the reject: it covers
	// it), enough shadow reads under the rate, an audit whose error checks
	// passed (a failed warn check does not count).
	verifyRun(t, pool, "customer", "consistent", time.Minute)
	exec(t, pool, `UPDATE transit.shadow_stats SET reads = 1000, mismatches = 3`)
	exec(t, pool, `INSERT INTO transit.audits (plan, report) VALUES ('shop',
		'{"entities":[{"name":"customer","rules":[{"name":"not_null_Email","severity":"error","passed":true},{"name":"unique_Email","severity":"warn","passed":false}]}]}')`)
	res, err = Forward(ctx, pool, p, "customer", Migrating, StepOptions{DryRun: true})
	if err != nil || res.Applied || !res.Passed {
		t.Fatalf("dry run with the evidence: %+v %v", res, err)
	}
	if st, _ := Get(ctx, pool, "shop", "customer"); st.Phase != Shadow {
		t.Fatalf("a dry run moved the phase to %s", st.Phase)
	}
	// A reject after the clean verify is unresolved again, also one an
	// on-demand port recorded (dualread: run 0, no run of any plan).
	exec(t, pool, `INSERT INTO transit.rejects (run_id, entity, key, reason) VALUES (0, 'customer', '[8]', 'too long')`)
	if res, err = Forward(ctx, pool, p, "customer", Migrating, StepOptions{}); err != nil || res.Applied || names(res.Gates, false) != "rejects" {
		t.Fatalf("a new reject: %+v %v", res, err)
	}
	// --force needs a reason; with one it steps and the history says so.
	if _, err := Forward(ctx, pool, p, "customer", Migrating, StepOptions{Force: true}); !errors.Is(err, ErrStep) {
		t.Fatalf("force without reason: %v", err)
	}
	res, err = Forward(ctx, pool, p, "customer", Migrating, StepOptions{Force: true, Reason: "reject 8 is a test row", Actor: "ann"})
	if err != nil || !res.Applied || !res.Forced {
		t.Fatalf("forced: %+v %v", res, err)
	}
	h, err := History(ctx, pool, "shop", "customer", 1)
	if err != nil || len(h) != 1 || !h[0].Forced || h[0].ChangedBy != "ann" || h[0].Reason != "reject 8 is a test row" ||
		len(h[0].Gates) != 5 || names(h[0].Gates, false) != "rejects" {
		t.Fatalf("history of the forced step: %+v %v", h, err)
	}

	// Rollback: one phase back, no gates.
	res, err = Rollback(ctx, pool, p, "customer", StepOptions{Reason: "errors in the app"})
	if err != nil || !res.Applied || res.From != Migrating || res.To != Shadow {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	if _, err := Rollback(ctx, pool, p, "customer", StepOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(ctx, pool, p, "customer", StepOptions{}); !errors.Is(err, ErrStep) {
		t.Fatalf("rollback from old: %v, want ErrStep", err)
	}
}

func TestEvaluateThresholds(t *testing.T) {
	t.Parallel()
	g := plan.CutoverGates{MaxLag: time.Hour, MaxVerifyAge: time.Hour, MaxMismatchRate: 0.01, MinShadowReads: 100}
	good := Facts{
		LastRun:    &RunFact{ID: 1},
		Lag:        time.Minute,
		LastVerify: &VerifyFact{ID: 1, FinishedAt: time.Now().Add(-time.Minute), Status: "consistent"},
		Shadow:     &ShadowFact{Reads: 1000, Mismatches: 10},
		Audit:      &AuditFact{ID: 1, Covered: true},
	}
	if got := names(Evaluate(good, g, 1, New), false); got != "" {
		t.Fatalf("good facts failed %s", got)
	}
	cases := []struct {
		name   string
		change func(f *Facts)
		failed string
	}{
		{"lag over", func(f *Facts) { f.Lag = 61 * time.Minute }, "lag"},
		{"verify old", func(f *Facts) {
			f.LastVerify = &VerifyFact{FinishedAt: time.Now().Add(-2 * time.Hour), Status: "consistent"}
		}, "verify"},
		{"verify incomplete", func(f *Facts) {
			f.LastVerify = &VerifyFact{FinishedAt: time.Now(), Status: "consistent", Incomplete: true}
		}, "verify"},
		{"rate over", func(f *Facts) { f.Shadow = &ShadowFact{Reads: 1000, Mismatches: 11} }, "shadow"},
		{"too few reads", func(f *Facts) { f.Shadow = &ShadowFact{Reads: 99} }, "shadow"},
		{"audit failed", func(f *Facts) { f.Audit = &AuditFact{Covered: true, Failed: []string{"not_null_Email"}} }, "audit"},
		{"audit missing entity", func(f *Facts) { f.Audit = &AuditFact{} }, "audit"},
		{"rejects", func(f *Facts) { f.Rejects = 1 }, "rejects"},
	}
	for _, c := range cases {
		f := good
		c.change(&f)
		if got := names(Evaluate(f, g, 1, Migrating), false); got != c.failed {
			t.Errorf("%s: failed %q, want %q", c.name, got, c.failed)
		}
	}
	// Without error checks in the plan the audit gate has nothing to ask.
	f := good
	f.Audit = nil
	if got := names(Evaluate(f, g, 0, Migrating), false); got != "" {
		t.Errorf("no error checks: failed %q", got)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	pool, p := gatesFixture(t)
	ctx := context.Background()
	sts, err := Status(ctx, pool, p)
	if err != nil || len(sts) != 1 || sts[0].Entity != "customer" || sts[0].Phase != "old" || sts[0].LagSeconds != -1 ||
		sts[0].LastRun != nil || sts[0].LastVerify != nil {
		t.Fatalf("fresh status: %+v %v", sts, err)
	}
	finishedRun(t, pool, "customer", 90*time.Second)
	finishedRun(t, pool, "invoice", time.Second) // not in the plan: the ledger knows it
	verifyRun(t, pool, "customer", "consistent", time.Minute)
	exec(t, pool, `INSERT INTO transit.shadow_stats (plan, entity, reads, mismatches, since, updated_at) VALUES ('shop', 'customer', 400, 2, now(), now())`)
	exec(t, pool, `INSERT INTO transit.rejects (run_id, entity, key, reason) VALUES (1, 'customer', '[9]', 'x')`)
	if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "customer", To: Shadow}); err != nil {
		t.Fatal(err)
	}
	sts, err = Status(ctx, pool, p)
	if err != nil || len(sts) != 2 {
		t.Fatalf("status: %+v %v", sts, err)
	}
	c := sts[0]
	if c.Entity != "customer" || c.Phase != "shadow" || c.ChangedAt.IsZero() || c.LagSeconds < 89 || c.LagSeconds > 150 ||
		c.LastRun == nil || c.LastVerify == nil || !c.LastVerifyClean || c.ShadowReads != 400 || c.ShadowMismatches != 2 ||
		c.MismatchRate != 0.005 || c.Rejects != 1 {
		t.Fatalf("customer: %+v", c)
	}
	if sts[1].Entity != "invoice" || sts[1].Phase != "old" || sts[1].LagSeconds < 0 {
		t.Fatalf("invoice: %+v", sts[1])
	}
}

func TestLedgerURL(t *testing.T) {
	t.Parallel()
	p, err := plan.Parse("p.yaml", []byte(gatesPlan), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := LedgerURL(p); err != nil || u != "postgres://h/db" {
		t.Fatalf("LedgerURL: %q %v", u, err)
	}
	p, err = plan.Parse("p.yaml", []byte("version: 1\nname: r\nstores:\n  a: { kind: sqlite, path: a.db }\nentities:\n  e: { from: a.t }\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LedgerURL(p); err == nil {
		t.Fatal("a plan without a postgres store has a ledger URL")
	}
}

package server

import (
	"context"
	"testing"
	"time"

	"github.com/transitdb/transit/dualread"
	"github.com/transitdb/transit/internal/testenv"
)

// TestLedgerPhasesAndStatus: PollPhases follows transit.phases (old while
// the table is absent), and LedgerStatus reads the ledger's facts.
func TestLedgerPhasesAndStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4)
	_, g := f.serve(t, dualread.StaticPhases{}, Config{})
	ctx := context.Background()
	pool := g.Ledger()
	pp, err := NewPollPhases(ctx, pool, g.Plan.Name, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Close()
	if ph := pp.Phase("orders"); ph != "old" {
		t.Fatalf("without transit.phases: %q", ph)
	}
	// The table as transition's migration 007 makes it, when it is not
	// merged yet.
	testenv.Exec(t, f.purl, `CREATE TABLE IF NOT EXISTS transit.phases (plan text, entity text, phase text,
		changed_at timestamptz NOT NULL DEFAULT now(), changed_by text, reason text, PRIMARY KEY (plan, entity))`)
	if _, err := pool.Exec(ctx, `INSERT INTO transit.phases (plan, entity, phase) VALUES ($1, 'orders', 'shadow')`, g.Plan.Name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pp.Phase("orders") != "shadow" {
		if time.Now().After(deadline) {
			t.Fatal("the phase change did not reach the poller")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO transit.shadow_stats (plan, entity, reads, mismatches) VALUES ($1, 'orders', 200, 3)`, g.Plan.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO transit.rejects (run_id, entity, key, reason) VALUES (0, 'orders', '[5]', 'bad')`); err != nil {
		t.Fatal(err)
	}
	st, err := LedgerStatus(pool, g.Plan.Name, []string{"orders", "order_lines"}, pp)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := st[0]
	if o.Entity != "orders" || o.Phase != "shadow" || o.ChangedAt.IsZero() || o.ShadowReads != 200 || o.ShadowMismatches != 3 ||
		o.MismatchRate != 0.015 || o.Rejects != 1 || o.LagSeconds != -1 || o.LastRun != nil || o.LastVerify != nil {
		t.Errorf("orders: %+v", o)
	}
	if l := st[1]; l.Entity != "order_lines" || l.Phase != "old" || l.ShadowReads != 0 {
		t.Errorf("order_lines: %+v", l)
	}
}

package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/internal/testenv"
)

// pooledLedger opens a ledger on url the way stores.Pool does.
func pooledLedger(t *testing.T, url string) *Ledger {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgconf.PoolConfig(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l, err := Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// TestLedgerThroughPgbouncer: two processes' ledgers through a
// transaction pooler. A live lease (it has no backend pid there) is not
// taken over before it expires, and is after; the finish lock is held by
// one of them at a time, and freed by unlock.
func TestLedgerThroughPgbouncer(t *testing.T) {
	t.Parallel()
	url := testenv.Pgbouncer(t, testenv.Postgres(t))
	ctx := context.Background()
	a, b := pooledLedger(t, url), pooledLedger(t, url)
	if !a.pooled || a.pid != 0 {
		t.Fatalf("pooled %v, pid %d: want a pooled ledger without a pid", a.pooled, a.pid)
	}
	run, err := a.StartOrJoin(ctx, "p", "h", nil, func(context.Context) ([]EntityPlan, error) {
		return []EntityPlan{{Entity: "e", Mode: "backfill", Chunks: []Bounds{{}}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Lease(ctx, run.ID, 2*time.Second, nil)
	if err != nil || c == nil {
		t.Fatalf("lease: %v %v", c, err)
	}
	if c2, err := b.Lease(ctx, run.ID, time.Minute, nil); err != nil || c2 != nil {
		t.Fatalf("a live lease was taken over: %v %v", c2, err)
	}
	if s, err := b.RunStatus(ctx, run.ID, nil); err != nil || s.Leased != 1 {
		t.Fatalf("status: %+v %v, want one leased chunk", s, err)
	}
	time.Sleep(2500 * time.Millisecond)
	if c2, err := b.Lease(ctx, run.ID, time.Minute, nil); err != nil || c2 == nil {
		t.Fatalf("an expired lease was not taken over: %v", err)
	}

	ok, unlock, err := a.TryFinishLock(ctx, "p")
	if err != nil || !ok {
		t.Fatalf("finish lock: %v %v", ok, err)
	}
	// Other work on a's pool meanwhile runs on other server connections.
	for range 10 {
		if _, err := a.RunStatus(ctx, run.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _, err := b.TryFinishLock(ctx, "p"); err != nil || ok {
		t.Fatalf("finish lock taken twice: %v %v", ok, err)
	}
	unlock()
	ok, unlock, err = b.TryFinishLock(ctx, "p")
	if err != nil || !ok {
		t.Fatalf("finish lock not free after unlock: %v %v", ok, err)
	}
	unlock()
}

package feeds

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/plan"
)

func TestVisibleIn(t *testing.T) {
	for _, tc := range []struct {
		snap string
		xids []uint32
		want bool
	}{
		{"100:105:", []uint32{99}, true},                            // below xmin
		{"100:105:", []uint32{104}, true},                           // completed, below xmax
		{"100:105:102", []uint32{102}, false},                       // in progress
		{"100:105:102", []uint32{101, 103}, true},                   // around one in progress
		{"100:105:102", []uint32{101, 102}, false},                  // one of them in progress
		{"100:105:", []uint32{105}, false},                          // not completed yet
		{"100:105:", []uint32{200}, false},                          // far ahead
		{"100:100:", []uint32{}, true},                              // nothing asked
		{"12884901890:12884901895:12884901891", []uint32{1}, true},  // epoch 3: xid 1 is 3<<32+1
		{"12884901890:12884901895:12884901891", []uint32{3}, false}, // 3<<32+3 in progress
		// Just past a wraparound: xmax in epoch 3, a transaction from the
		// end of epoch 2 (0xFFFFFFF0) is far below and visible.
		{"12884901890:12884901895:", []uint32{0xFFFFFFF0}, true},
	} {
		got, err := visibleIn(tc.snap, tc.xids)
		if err != nil || got != tc.want {
			t.Errorf("visibleIn(%q, %v) = %v, %v; want %v", tc.snap, tc.xids, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1:2", "x:2:", "1:2:y"} {
		if _, err := visibleIn(bad, []uint32{1}); err == nil {
			t.Errorf("visibleIn(%q): no error", bad)
		}
	}
}

// TestWaitVisible: against a real server, waitVisible holds while the
// transaction is in progress and returns once it commits.
func TestWaitVisible(t *testing.T) {
	url := testenv.Postgres(t)
	testenv.Exec(t, url, `CREATE TABLE v (id int PRIMARY KEY, n int)`, `INSERT INTO v VALUES (1, 0)`)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	f := &Feed{Spec: &plan.Feed{Name: "v"}, pool: pool, log: slog.New(slog.DiscardHandler)}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xid int64
	if err := tx.QueryRow(ctx, `UPDATE v SET n = 1 WHERE id = 1 RETURNING pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = f.waitVisible(wctx, []uint32{uint32(xid)})
	cancel()
	if err == nil {
		t.Fatal("waitVisible returned while the transaction was in progress")
	}
	done := make(chan error, 1)
	go func() { done <- f.waitVisible(ctx, []uint32{uint32(xid)}) }()
	time.Sleep(50 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitVisible did not return after the commit")
	}
}

func TestInProgress(t *testing.T) {
	if got := inProgress("12884901890:12884901895:12884901891,12884901893"); len(got) != 2 || got[0] != 3 || got[1] != 5 {
		t.Fatalf("got %v", got)
	}
	if got := inProgress("100:105:"); got != nil {
		t.Fatalf("got %v", got)
	}
}

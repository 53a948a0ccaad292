package feeds_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/ledger"
)

// TestRunRejectsRecorded: a document the store refuses during feed run (a
// Redis key built from a field that became NULL) is recorded in
// transit.rejects with its ID and reason, feed status counts it, and a run
// to Until ends with ErrRejects (exit 1) while the other changes land.
func TestRunRejectsRecorded(t *testing.T) {
	e := newEnv(t, 5, `    from: main.customer
    to: cache
    key: "PREFIXm:{email}"
`)
	ctx := context.Background()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Exec(t, e.url,
		`UPDATE shop.customer SET email = NULL WHERE id = 3`,
		`UPDATE shop.customer SET name = 'renamed' WHERE id = 4`)
	until := time.Now()
	err := e.feed.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second})
	if !errors.Is(err, feeds.ErrRejects) || !strings.Contains(err.Error(), "1 documents") {
		t.Fatalf("run with a refused document: %v", err)
	}
	rows, n, err := e.l.Rejects(ctx, ledger.NoRun, e.feed.RejectEntity(), 10)
	if err != nil || n != 1 || len(rows) != 1 {
		t.Fatalf("rejects: %d %+v %v", n, rows, err)
	}
	if rows[0].Key[0] != "3" || !strings.Contains(rows[0].Reason, `key field "email" is NULL`) {
		t.Errorf("reject: key %v reason %q", rows[0].Key, rows[0].Reason)
	}
	if got, _ := e.rdb.HGet(ctx, e.prefix+"m:c4@x.org", "name").Result(); got != "renamed" {
		t.Errorf("the other change did not land: name %q", got)
	}
	if st := e.feed.Status(ctx, 0); st.Rejects != 1 {
		t.Errorf("status counts %d rejects, want 1", st.Rejects)
	}
	// A later run with nothing refused is clean again.
	testenv.Exec(t, e.url, `UPDATE shop.customer SET name = 'again' WHERE id = 4`)
	until = time.Now()
	if err := e.feed.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second}); err != nil {
		t.Fatalf("clean run: %v", err)
	}
}

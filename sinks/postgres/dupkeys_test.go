package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// TestAddKeyOverDuplicates: when rows with the same key are in a table
// whose key was deferred, AddKey says which key and what to do, instead of
// a bare SQLSTATE 23505; once they are gone it adds the key.
func TestAddKeyOverDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestSink(t)
	tb := simpleTable("dups")
	if created, err := s.PrepareDeferred(ctx, tb); err != nil || !created {
		t.Fatalf("PrepareDeferred: %v, %v", created, err)
	}
	b := &record.Batch{Columns: tb.Columns, Rows: [][]any{{int64(1), int64(1), "a"}, {int64(1), int64(2), "b"}}}
	if _, err := s.Write(ctx, tb, b, sinks.WriteOptions{Fresh: true}); err != nil {
		t.Fatal(err)
	}
	err := s.AddKey(ctx, tb)
	if err == nil {
		t.Fatal("AddKey over duplicates: no error")
	}
	for _, want := range []string{"same key", "(id)=(1)", "transit audit", "unique"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM "+s.ident("dups")+" WHERE n = 2"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, tb); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
}

// TestUpsertKeysEqualInTarget: keys that differ as source values but not
// in the target's type (numeric 1.0 and 1.00) in one upsert batch. Before:
// SQLSTATE 21000 split the batch to single rows and the later row silently
// overwrote the earlier. After: the later one is a duplicate-key reject.
func TestUpsertKeysEqualInTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestSink(t)
	for _, tx := range []bool{false, true} {
		tb := &record.Table{Name: fmt.Sprintf("deckey_%v", tx), Key: []string{"id"}, Columns: []record.Column{
			{Name: "id", Type: record.Decimal, Precision: 10, Scale: 2},
			{Name: "label", Type: record.Text, Nullable: true},
		}}
		if _, err := s.Prepare(ctx, tb, true); err != nil {
			t.Fatal(err)
		}
		b := &record.Batch{Columns: tb.Columns, Rows: [][]any{{"1.0", "first"}, {"2", "x"}, {"1.00", "second"}, {"3", "y"}}}
		var res sinks.WriteResult
		var err error
		if tx {
			err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
				res, err = s.WriteTx(ctx, tx, tb, b, sinks.WriteOptions{})
				return err
			})
		} else {
			res, err = s.Write(ctx, tb, b, sinks.WriteOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rejects) != 1 || res.Rejects[0].Row != 2 || !strings.HasPrefix(res.Rejects[0].Reason, "duplicate key in source") {
			t.Fatalf("tx %v: rejects %+v, want row 2 as a duplicate key", tx, res.Rejects)
		}
		t.Logf("reason: %s", res.Rejects[0].Reason)
		var label string
		if err := s.Pool().QueryRow(ctx, "SELECT label FROM "+s.ident(tb.Name)+" WHERE id = 1").Scan(&label); err != nil || label != "first" {
			t.Fatalf("tx %v: row 1 holds %q (%v), want the first", tx, label, err)
		}
		if n := count(t, s, tb.Name, "true"); n != 3 {
			t.Fatalf("tx %v: %d rows, want 3", tx, n)
		}
	}
}

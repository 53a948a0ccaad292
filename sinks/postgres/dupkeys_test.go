package postgres

import (
	"context"
	"strings"
	"testing"

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

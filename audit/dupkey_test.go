package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sources/csv"
)

// TestCSVDuplicateIDUnique checks that a unique check on the id column
// reports a duplicated key before a run (issue 8): id,name / 1,first /
// 1,second / 2,x.
func TestCSVDuplicateIDUnique(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dup.csv"), []byte("id,name\n1,first\n1,second\n2,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, err := csv.Open(ctx, dir, csv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	tb, err := src.Describe(ctx, "dup")
	if err != nil {
		t.Fatal(err)
	}
	ent := &plan.Entity{Name: "dup", FromStore: "files", FromTable: "dup", Checks: []*plan.Check{
		{Kind: "unique", Columns: []string{"id"}},
	}}
	rep, err := Run(ctx, []Target{{Entity: ent, Source: src, Table: tb, TargetColumns: tb.Columns}}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	r := findRule(t, &rep.Entities[0], "unique(id)")
	if r.Count != 2 {
		t.Errorf("unique(id): %d rows %v, want 2 rows", r.Count, r.SampleIDs)
	}
}

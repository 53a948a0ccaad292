package verify

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func goldenReports() []*EntityReport {
	long := strings.Repeat("lorem ipsum ", 20)
	return []*EntityReport{
		{Entity: "items", Old: "legacy.items", New: "app.items", Mode: "full", OldPushdown: true, NewPushdown: true,
			RowsOld: 3000, RowsNew: 3000, RowsCompared: 3000, Chunks: 4, ChunksHashed: 21, ChunksFetched: 8, RowsFetched: 860,
			Missing: 1, Extra: 1, Changed: 3, Repaired: 1,
			MaxVersion: time.Date(2020, 1, 3, 2, 0, 0, 0, time.UTC), Elapsed: 1500 * time.Millisecond,
			Diffs: []Diff{
				{Key: record.Key{int64(100)}, Kind: Missing, Repaired: true},
				{Key: record.Key{int64(5000)}, Kind: Extra},
				{Key: record.Key{int64(301)}, Kind: Changed, Fields: []FieldDiff{{Column: "note", OldNull: true, New: ""}}},
				{Key: record.Key{int64(400)}, Kind: Changed, Fields: []FieldDiff{
					{Column: "at", Old: "2009-01-01T00:06:40.002800Z", New: "2009-01-01T00:06:40.002801Z"},
					{Column: "body", Old: long, New: long + "!"}}},
				{Key: record.Key{"A-1", int64(3)}, Kind: Changed, Fields: []FieldDiff{{Column: "name", NewName: "title", Old: "x", New: "x "}}},
			}},
		{Entity: "orders", Old: "legacy.orders", New: "app.orders", Mode: "since-last", RowsOld: 10, RowsNew: 10,
			RowsCompared: 10, Chunks: 1, ChunksSkipped: 5, ChunksHashed: 1,
			Columns: []ColumnIssue{{Column: "note", Side: "new", Name: "note", Problem: "missing in new"}}},
		{Entity: "users", Old: "legacy.users", New: "app.users", Mode: "full", Chunks: 2, ChunksHashed: 2,
			RowsOld: 400, RowsNew: 400, RowsCompared: 400, Notes: []string{"no version column: verified in full"},
			Incomplete: true, Err: errors.New("old side (legacy): hash chunk of legacy.users: sql: database is closed")},
		{Entity: "tags", Old: "legacy.tags", New: "app.tags", Mode: "full", Chunks: 1, ChunksHashed: 1,
			RowsOld: 7, RowsNew: 7, RowsCompared: 7, OldPushdown: true},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, got)
	}
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, goldenReports(), 100); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
}

func TestWriteJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, goldenReports()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.jsonl", b.Bytes())
	if n := bytes.Count(b.Bytes(), []byte("\n")); n != 4 {
		t.Fatalf("%d lines, want one per entity", n)
	}
	if ExitCode(goldenReports()) != 2 || ExitCode(goldenReports()[3:]) != 0 || ExitCode(goldenReports()[:2]) != 1 {
		t.Fatal("exit codes")
	}
}

// Package sinktest is the conformance suite every sink adapter runs: one
// Exercise call drives a sink through create, write, read back, replay,
// versioned overwrites, per-row rejects, after-data steps and cancellation.
//
//	func TestConformance(t *testing.T) {
//		sinktest.Exercise(t, sinktest.Harness{Name: "postgres", Open: …, Read: …})
//	}
package sinktest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// Harness adapts one sink kind to the suite.
type Harness struct {
	Name string
	// Open returns a sink on a store of its own (a fresh database, schema,
	// index prefix …), cleaned up with t.Cleanup. Exercise calls it once.
	Open func(t *testing.T) sinks.Sink
	// Read returns every row of table in the store the last Open returned,
	// columns in the table's order, in any row order (Exercise sorts them
	// by key). Values may be the record Go types or the store's text form;
	// see Canon.
	Read func(t *testing.T, table string) [][]any
}

// Exercise runs the suite against h. Subtests run in parallel, each on its
// own table.
func Exercise(t *testing.T, h Harness) {
	t.Helper()
	sink := h.Open(t)
	e := &exercise{h: h, sink: sink}
	t.Run("Prepare", e.testPrepare)
	t.Run("RoundTrip", e.testRoundTrip)
	t.Run("FreshRoundTrip", e.testFresh)
	t.Run("ReplayIsNoOp", e.testReplay)
	t.Run("Versions", e.testVersions)
	t.Run("Rejects", e.testRejects)
	t.Run("FinishTwice", e.testFinish)
	t.Run("Cancelled", e.testCancelled)
}

type exercise struct {
	h    Harness
	sink sinks.Sink
}

// Kitchen is the suite's table: a composite key, a version column and one
// column of every logical type.
func Kitchen(name string) *record.Table {
	return &record.Table{
		Name: name,
		Key:  []string{"id", "part"},
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Bits: 64},
			{Name: "part", Type: record.Text, Length: 10},
			{Name: "ver", Type: record.Int, Bits: 64},
			{Name: "flag", Type: record.Bool, Nullable: true},
			{Name: "small", Type: record.Int, Bits: 16, Nullable: true},
			{Name: "big", Type: record.Int, Bits: 64, Nullable: true},
			{Name: "u32", Type: record.Uint, Bits: 32, Nullable: true},
			{Name: "f64", Type: record.Float, Bits: 64, Nullable: true},
			{Name: "f32", Type: record.Float, Bits: 32, Nullable: true},
			{Name: "dec", Type: record.Decimal, Precision: 20, Scale: 6, Nullable: true},
			{Name: "name", Type: record.Text, Length: 20},
			{Name: "note", Type: record.Text, Nullable: true},
			{Name: "data", Type: record.Bytes, Nullable: true},
			{Name: "day", Type: record.Date, Nullable: true},
			{Name: "tod", Type: record.Time, Precision: 6, Nullable: true},
			{Name: "ts", Type: record.Timestamp, Precision: 6, Nullable: true},
			{Name: "tstz", Type: record.TimestampTZ, Precision: 6, Nullable: true},
			{Name: "doc", Type: record.JSON, Nullable: true},
			{Name: "uid", Type: record.UUID, Nullable: true},
			{Name: "color", Type: record.Enum, Values: []string{"red", "green", "blue"}, Nullable: true},
			{Name: "tags", Type: record.Set, Values: []string{"a", "b", "c"}, Nullable: true},
			{Name: "flags", Type: record.Bit, Bits: 8, Nullable: true},
			{Name: "yr", Type: record.Year, Nullable: true},
		},
	}
}

// KitchenRows are three rows of Kitchen: all types filled, a second part
// of the same id with unicode and edge values, and one with every nullable
// column NULL.
func KitchenRows() [][]any {
	return [][]any{
		{int64(1), "a", int64(1), true, int64(-32768), int64(math.MinInt64), uint64(math.MaxUint32),
			1.5, float64(float32(0.1)), "-12345678901234.123456", "héllo wörld ✓", "note",
			[]byte{0, 1, 2, 255}, date(1969, 7, 20), "23:59:59.999999",
			time.Date(1960, 1, 1, 0, 0, 0, 1000, time.UTC),
			time.Date(2024, 2, 29, 12, 0, 0, 123456000, time.FixedZone("X", 5*3600+1800)),
			`{"k": "ünï", "n": [1, 2.5, null]}`, "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
			"green", "a,c", uint64(0xA5), int64(2024)},
		{int64(1), "b€", int64(1), false, int64(32767), int64(math.MaxInt64), uint64(0),
			math.Copysign(0, -1), float64(float32(3.25)), "0.000001", strings.Repeat("é", 20), "",
			[]byte{}, date(1, 1, 1), "00:00:00",
			time.Date(2038, 1, 19, 3, 14, 8, 999999000, time.UTC),
			time.Date(1901, 12, 13, 20, 45, 52, 0, time.UTC),
			`[]`, "00000000-0000-0000-0000-000000000000",
			"red", "", uint64(0), int64(1901)},
		{int64(2), "a", int64(1), nil, nil, nil, nil,
			nil, nil, nil, "", nil,
			nil, nil, nil,
			nil, nil,
			nil, nil,
			nil, nil, nil, nil},
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func batchOf(t *record.Table, rows [][]any) *record.Batch {
	return &record.Batch{Columns: t.Columns, Rows: rows}
}

func (e *exercise) prepare(t *testing.T, tbl *record.Table) {
	t.Helper()
	empty, err := e.sink.Prepare(context.Background(), tbl, true)
	if err != nil {
		t.Fatalf("Prepare(%s): %v", tbl.Name, err)
	}
	if !empty {
		t.Fatalf("Prepare(%s) of a new table reports non-empty", tbl.Name)
	}
}

func (e *exercise) write(t *testing.T, tbl *record.Table, rows [][]any, opts sinks.WriteOptions) sinks.WriteResult {
	t.Helper()
	res, err := e.sink.Write(context.Background(), tbl, batchOf(tbl, rows), opts)
	if err != nil {
		t.Fatalf("Write(%s): %v", tbl.Name, err)
	}
	return res
}

// sorted canonicalises rows and sorts them by the table's key.
func sorted(tbl *record.Table, rows [][]any) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			if j < len(tbl.Columns) {
				out[i][j] = Canon(tbl.Columns[j], v)
			}
		}
	}
	keyIdx := make([]int, len(tbl.Key))
	for i, k := range tbl.Key {
		keyIdx[i] = tbl.ColumnIndex(k)
	}
	slices.SortFunc(out, func(a, b []string) int {
		for _, k := range keyIdx {
			if c := strings.Compare(a[k], b[k]); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// expectRows reads tbl back and compares it with want.
func (e *exercise) expectRows(t *testing.T, tbl *record.Table, want [][]any) {
	t.Helper()
	got := sorted(tbl, e.h.Read(t, tbl.Name))
	exp := sorted(tbl, want)
	if len(got) != len(exp) {
		t.Fatalf("%s holds %d rows, want %d:\n got %q\nwant %q", tbl.Name, len(got), len(exp), got, exp)
	}
	for i := range exp {
		if len(got[i]) != len(exp[i]) {
			t.Fatalf("%s row %d has %d columns, want %d", tbl.Name, i, len(got[i]), len(exp[i]))
		}
		for j := range exp[i] {
			if got[i][j] != exp[i][j] {
				t.Errorf("%s row %d (key %v) column %s = %q, want %q",
					tbl.Name, i, exp[i][:len(tbl.Key)], tbl.Columns[j].Name, got[i][j], exp[i][j])
			}
		}
	}
}

func (e *exercise) testPrepare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl := Kitchen("prep")
	if _, err := e.sink.Prepare(ctx, tbl, false); err == nil {
		t.Fatal("Prepare without create of a missing table succeeded")
	}
	e.prepare(t, tbl)
	empty, err := e.sink.Prepare(ctx, tbl, true)
	if err != nil || !empty {
		t.Fatalf("second Prepare = %v, %v; want empty, no error", empty, err)
	}
	e.write(t, tbl, KitchenRows()[:1], sinks.WriteOptions{})
	empty, err = e.sink.Prepare(ctx, tbl, true)
	if err != nil || empty {
		t.Fatalf("Prepare after a write = %v, %v; want non-empty, no error", empty, err)
	}
	empty, err = e.sink.Prepare(ctx, tbl, false)
	if err != nil || empty {
		t.Fatalf("Prepare(create=false) after a write = %v, %v; want non-empty, no error", empty, err)
	}
}

func (e *exercise) testRoundTrip(t *testing.T) {
	t.Parallel()
	tbl := Kitchen("roundtrip")
	e.prepare(t, tbl)
	rows := KitchenRows()
	res := e.write(t, tbl, rows, sinks.WriteOptions{Version: "ver"})
	if res.Written != len(rows) || len(res.Rejects) != 0 {
		t.Fatalf("Write = %+v, want %d written and no rejects", res, len(rows))
	}
	e.expectRows(t, tbl, rows)
}

func (e *exercise) testFresh(t *testing.T) {
	t.Parallel()
	tbl := Kitchen("fresh")
	e.prepare(t, tbl)
	rows := KitchenRows()
	res := e.write(t, tbl, rows, sinks.WriteOptions{Fresh: true})
	if res.Written != len(rows) || len(res.Rejects) != 0 {
		t.Fatalf("fresh Write = %+v, want %d written and no rejects", res, len(rows))
	}
	e.expectRows(t, tbl, rows)
	// A fresh write that was not fresh after all (a replay) must still be
	// idempotent.
	res, err := e.sink.Write(context.Background(), tbl, batchOf(tbl, rows), sinks.WriteOptions{Fresh: true})
	if err == nil && len(res.Rejects) == 0 {
		e.expectRows(t, tbl, rows)
	}
}

func (e *exercise) testReplay(t *testing.T) {
	t.Parallel()
	tbl := Kitchen("replay")
	e.prepare(t, tbl)
	rows := KitchenRows()
	for _, opts := range []sinks.WriteOptions{{}, {Version: "ver"}} {
		e.write(t, tbl, rows, opts)
		res := e.write(t, tbl, rows, opts)
		if res.Written != 0 || len(res.Rejects) != 0 {
			t.Errorf("replay with %+v = %+v, want nothing written", opts, res)
		}
		e.expectRows(t, tbl, rows)
	}
}

func (e *exercise) testVersions(t *testing.T) {
	t.Parallel()
	tbl := Kitchen("versions")
	e.prepare(t, tbl)
	opts := sinks.WriteOptions{Version: "ver"}
	base := KitchenRows()[:1]
	base[0][2] = int64(5)
	e.write(t, tbl, base, opts)

	older := KitchenRows()[:1]
	older[0][2], older[0][10] = int64(4), "older"
	if res := e.write(t, tbl, older, opts); res.Written != 0 {
		t.Errorf("older version: Written = %d, want 0", res.Written)
	}
	e.expectRows(t, tbl, base)

	same := KitchenRows()[:1]
	same[0][2], same[0][10] = int64(5), "same version"
	if res := e.write(t, tbl, same, opts); res.Written != 1 {
		t.Errorf("same version with new values: Written = %d, want 1", res.Written)
	}
	e.expectRows(t, tbl, same)

	newer := KitchenRows()[:1]
	newer[0][2], newer[0][10], newer[0][11] = int64(6), "newer", nil
	if res := e.write(t, tbl, newer, opts); res.Written != 1 {
		t.Errorf("newer version: Written = %d, want 1", res.Written)
	}
	e.expectRows(t, tbl, newer)
}

func (e *exercise) testRejects(t *testing.T) {
	t.Parallel()
	tbl := Kitchen("rejects")
	e.prepare(t, tbl)
	mk := func(id int64, name any, note any) []any {
		r := KitchenRows()[2]
		r[0], r[10], r[11] = id, name, note
		return r
	}
	rows := [][]any{
		mk(1, "fine", nil),
		mk(2, "bad \xff utf-8", nil),
		mk(3, strings.Repeat("é", 21), nil), // 21 characters into varchar(20)
		mk(4, strings.Repeat("é", 20), nil), // 20 characters, 40 bytes: fits
		mk(5, nil, nil),                     // NULL into NOT NULL
		mk(6, "x", record.Invalid{Raw: "0000-00-00", Reason: "zero date"}),
		mk(7, "also fine", "ok"),
	}
	res := e.write(t, tbl, rows, sinks.WriteOptions{})
	var got []int
	for _, r := range res.Rejects {
		got = append(got, r.Row)
		if r.Reason == "" {
			t.Errorf("reject of row %d has no reason", r.Row)
		}
		t.Logf("reject row %d: %s", r.Row, r.Reason)
	}
	if want := []int{1, 2, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("rejected rows %v, want %v", got, want)
	}
	if res.Written != 3 {
		t.Errorf("Written = %d, want 3", res.Written)
	}
	e.expectRows(t, tbl, [][]any{rows[0], rows[3], rows[6]})
}

func (e *exercise) testFinish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parent := &record.Table{
		Name: "finish_parent",
		Key:  []string{"id"},
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Bits: 32, AutoIncrement: true},
			{Name: "label", Type: record.Text, Length: 40},
		},
		Indexes: []record.Index{{Name: "ix_label", Columns: []string{"label"}}},
	}
	child := Kitchen("finish_child")
	child.Indexes = []record.Index{
		{Name: "ix_label", Columns: []string{"name"}}, // same name as on parent
		{Columns: []string{"day", "tod"}},
		{Name: "ux_uid", Columns: []string{"uid"}, Unique: true},
	}
	child.ForeignKeys = []record.ForeignKey{{
		Name: "fk_child_parent", Columns: []string{"id"}, RefTable: "finish_parent", RefColumns: []string{"id"},
		OnDelete: "CASCADE",
	}}
	e.prepare(t, parent)
	e.prepare(t, child)
	e.write(t, parent, [][]any{{int64(1), "one"}, {int64(2), "two"}}, sinks.WriteOptions{})
	e.write(t, child, KitchenRows(), sinks.WriteOptions{})
	for i := range 2 {
		if err := e.sink.Finish(ctx, parent, true); err != nil {
			t.Fatalf("Finish(parent) #%d: %v", i+1, err)
		}
		if err := e.sink.Finish(ctx, child, true); err != nil {
			t.Fatalf("Finish(child) #%d: %v", i+1, err)
		}
	}
	// Writes still work after Finish, and replays stay no-ops.
	if res := e.write(t, child, KitchenRows(), sinks.WriteOptions{}); res.Written != 0 {
		t.Errorf("replay after Finish: Written = %d, want 0", res.Written)
	}
	e.expectRows(t, child, KitchenRows())
}

func (e *exercise) testCancelled(t *testing.T) {
	t.Parallel()
	tbl := Kitchen("cancelled")
	e.prepare(t, tbl)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.sink.Write(ctx, tbl, batchOf(tbl, KitchenRows()), sinks.WriteOptions{}); err == nil {
		t.Fatal("Write with a cancelled context succeeded")
	}
	e.expectRows(t, tbl, nil)

	// Cancelled while a large batch is on its way: all or nothing.
	rows := make([][]any, 20000)
	for i := range rows {
		r := KitchenRows()[0]
		r[0] = int64(i)
		rows[i] = r
	}
	for _, after := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), after)
		_, err := e.sink.Write(ctx, tbl, batchOf(tbl, rows), sinks.WriteOptions{Fresh: true})
		cancel()
		n := len(e.h.Read(t, tbl.Name))
		switch {
		case err != nil && n != 0:
			t.Fatalf("Write cancelled after %v failed (%v) but left %d rows", after, err, n)
		case err == nil && n != len(rows):
			t.Fatalf("Write under a %v deadline succeeded but the table holds %d rows, want %d", after, n, len(rows))
		case err == nil:
			return // the machine was too fast for this deadline; all rows in is fine
		}
	}
}

// String names the harness in failure messages.
func (h Harness) String() string { return fmt.Sprintf("sinktest.Harness(%s)", h.Name) }

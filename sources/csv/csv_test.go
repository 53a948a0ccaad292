package csv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// open writes files (name → content) into a temp dir and opens it.
func open(t *testing.T, files map[string]string, opts Options) *Source {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scan(t *testing.T, s sources.Source, q sources.Query) [][]any {
	t.Helper()
	var out [][]any
	err := s.Scan(t.Context(), q, func(b *record.Batch) error {
		for _, r := range b.Rows {
			out = append(out, append([]any(nil), r...))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %+v: %v", q, err)
	}
	return out
}

func describe(t *testing.T, s sources.Source, table string) *record.Table {
	t.Helper()
	d, err := s.Describe(t.Context(), table)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestReaderQuotingAndNulls(t *testing.T) {
	t.Parallel()
	body := "\ufeffid,name,note\r\n" +
		"1,\"a,b\",\"say \"\"hi\"\"\"\r\n" +
		"2,,\"\"\r\n" +
		"3,\"multi\r\nline\nfield\",x\r\n" +
		"\r\n" + // blank line: skipped
		"4,plain \"inner\" quote,\n" +
		"5,last,no newline"
	s := open(t, map[string]string{"t.csv": body}, Options{})
	d := describe(t, s, "t")
	if got := d.Names(); !reflect.DeepEqual(got, []string{"id", "name", "note"}) {
		t.Fatalf("columns %q (BOM not stripped?)", got)
	}
	if d.Columns[0].Type != record.Int || d.Columns[1].Type != record.Text || !reflect.DeepEqual(d.Key, []string{"id"}) {
		t.Fatalf("describe: %+v", d)
	}
	got := scan(t, s, sources.Query{Table: "t"})
	want := [][]any{
		{int64(1), "a,b", `say "hi"`},
		{int64(2), nil, ""},
		{int64(3), "multi\r\nline\nfield", "x"},
		{int64(4), `plain "inner" quote`, nil},
		{int64(5), "last", "no newline"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func TestBadRowsAreInvalidWithLine(t *testing.T) {
	t.Parallel()
	body := "id,a,b\n" +
		"1,x,y\n" +
		"2,x\n" + // line 3: ragged
		"3,x,y,z\n" + // line 4: ragged
		"4,\"bad\"q,y\n" + // line 5: text after quote
		"5,\xff\xfe,y\n" + // line 6: invalid UTF-8 in one field
		"6,x,\"open\nquote"
	s := open(t, map[string]string{"t.csv": body}, Options{Columns: map[string]map[string]string{"t": {"id": "int"}}})
	rows := scan(t, s, sources.Query{Table: "t", OrderBy: []string{"id"}})
	if len(rows) != 6 {
		t.Fatalf("got %d rows, want 6 (no row may be dropped): %v", len(rows), rows)
	}
	reasons := map[string]bool{}
	for _, r := range rows {
		for _, v := range r {
			if iv, ok := v.(record.Invalid); ok {
				reasons[iv.Reason] = true
			}
		}
	}
	for _, want := range []string{
		"row at line 3 has 2 fields, header has 3",
		"row at line 4 has 4 fields, header has 3",
		"text after the closing quote of field 2 at line 5",
		"invalid UTF-8 at line 6",
		"unterminated quoted field starting at line 7",
	} {
		if !reasons[want] {
			t.Errorf("no Invalid with reason %q; have %v", want, reasons)
		}
	}
	// Whole-row problems make every column Invalid, so a scan of any
	// column subset still carries them; they sort first (Invalid key).
	for _, r := range rows[:4] {
		for j, v := range r {
			if _, ok := v.(record.Invalid); !ok {
				t.Errorf("row %v column %d: %#v, want Invalid", r, j, v)
			}
		}
	}
	if rows[4][0] != int64(1) || rows[5][0] != int64(5) {
		t.Errorf("valid rows out of order: %v", rows[4:])
	}
	if _, ok := rows[5][1].(record.Invalid); !ok || rows[5][2] != "y" {
		t.Errorf("invalid UTF-8 must only spoil its field: %#v", rows[5])
	}
	// Rows with an unreadable key come with the first chunk only.
	after := scan(t, s, sources.Query{Table: "t", OrderBy: []string{"id"}, After: record.Key{int64(0)}})
	if len(after) != 2 {
		t.Errorf("after 0: %d rows, want 2", len(after))
	}
}

func TestInference(t *testing.T) {
	t.Parallel()
	body := "i,d,f,b,dt,ts,tz,txt,empty,mixed\n" +
		"1,1.50,1e3,true,2024-01-02,2024-01-02 03:04:05.123456,2024-01-02T03:04:05Z,a,,1\n" +
		"-20,2,-0.5,FALSE,1999-12-31,2024-01-02T03:04:05,2024-01-02T05:04:05+02:00,b,,x\n" +
		",,,,,,,,,\n"
	s := open(t, map[string]string{"t.csv": body}, Options{})
	d := describe(t, s, "t")
	want := []record.Type{record.Int, record.Decimal, record.Float, record.Bool, record.Date, record.Timestamp, record.TimestampTZ, record.Text, record.Text, record.Text}
	for i, c := range d.Columns {
		if c.Type != want[i] {
			t.Errorf("column %s: %s, want %s", c.Name, c.Type, want[i])
		}
		if !c.Nullable {
			t.Errorf("column %s: not nullable", c.Name)
		}
	}
	if d.Key != nil {
		t.Errorf("key %v, want none", d.Key)
	}
	rows := scan(t, s, sources.Query{Table: "t"}) // no key: file order
	r := rows[1]
	if r[0] != int64(-20) || r[1] != "2" || r[2] != -0.5 || r[3] != false ||
		!r[4].(time.Time).Equal(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)) ||
		r[5].(time.Time) != time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) ||
		!r[6].(time.Time).Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("row 2: %#v", r)
	}
	for j, v := range rows[2] {
		if v != nil {
			t.Errorf("empty unquoted field in column %d: %#v, want NULL", j, v)
		}
	}
}

func TestDeclaredTypes(t *testing.T) {
	t.Parallel()
	body := "id;amount;day;u;flag;doc;raw;at\n" +
		"1;12.5;2024-02-29;{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11};t;{\"a\":1};\\x00ff;2024-01-02 03:04:05\n" +
		"2;abc;2024-02-30;nope;maybe;{bad;plain;2024-01-02T03:04:05+01:00\n"
	no := false
	_ = no
	s := open(t, map[string]string{"t.csv": body}, Options{
		Delimiter: ';',
		Columns: map[string]map[string]string{"t": {
			"amount": "decimal(10,2)", "day": "date", "u": "uuid", "flag": "bool", "doc": "json", "raw": "bytes", "at": "timestamptz",
		}},
	})
	d := describe(t, s, "t")
	if c := d.Column("amount"); c.Type != record.Decimal || c.Precision != 10 || c.Scale != 2 || c.Native != "decimal(10,2)" {
		t.Errorf("amount: %+v", c)
	}
	rows := scan(t, s, sources.Query{Table: "t"})
	r := rows[0]
	want := []any{int64(1), "12.5", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", true, `{"a":1}`, []byte{0, 255}}
	for i, w := range want {
		if !reflect.DeepEqual(r[i], w) {
			t.Errorf("column %d: %#v, want %#v", i, r[i], w)
		}
	}
	for i := 1; i <= 5; i++ {
		iv, ok := rows[1][i].(record.Invalid)
		if !ok || !strings.Contains(iv.Reason, "line 3") {
			t.Errorf("row 2 column %d: %#v, want Invalid naming line 3", i, rows[1][i])
		}
	}
	if !rows[1][7].(time.Time).Equal(time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC)) {
		t.Errorf("timestamptz with offset: %v", rows[1][7])
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte("id,x\n1,2\n"), 0o644)
	for _, o := range []Options{
		{Delimiter: '"'},
		{Delimiter: 'é'},
		{Columns: map[string]map[string]string{"a": {"x": "blob(3"}}},
		{Columns: map[string]map[string]string{"a": {"x": "geometry"}}},
		{Columns: map[string]map[string]string{"nosuch": {"x": "int"}}},
		{Key: map[string][]string{"nosuch": {"x"}}},
	} {
		if _, err := Open(t.Context(), dir, o); err == nil {
			t.Errorf("Open with %+v: no error", o)
		}
	}
	s, err := Open(t.Context(), dir, Options{Columns: map[string]map[string]string{"a": {"nope": "int"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Describe(t.Context(), "a"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("declared missing column: %v", err)
	}
	if _, err := Open(t.Context(), filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("missing path: no error")
	}
}

func TestNoHeaderSingleFileAndMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "people.csv")
	os.WriteFile(p, []byte("3\tc\n1\ta\n2\tb\n"), 0o644)
	no := false
	s, err := Open(t.Context(), p, Options{Delimiter: '\t', Header: &no, Key: map[string][]string{"people": {"c1"}}})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := s.Tables(t.Context())
	if !reflect.DeepEqual(names, []string{"people"}) {
		t.Fatalf("tables %v", names)
	}
	rows := scan(t, s, sources.Query{Table: "people"})
	if len(rows) != 3 || rows[0][0] != int64(1) || rows[2][1] != "c" {
		t.Errorf("rows %v", rows)
	}
	if _, err := s.Describe(t.Context(), "nope"); !sources.IsNotFound(err) {
		t.Errorf("missing table: %v", err)
	}
	err = s.Scan(t.Context(), sources.Query{Table: "people", Columns: []string{"zz"}}, func(*record.Batch) error { return nil })
	if !sources.IsNotFound(err) {
		t.Errorf("missing column: %v", err)
	}
}

// TestKeysetBothPaths checks windows, duplicates and Get on a sorted file
// (streamed through the sparse index) and the same rows unsorted (read by
// offset), larger than the sparse step.
func TestKeysetBothPaths(t *testing.T) {
	t.Parallel()
	const n = 1000
	var sorted, shuffled strings.Builder
	sorted.WriteString("id,v\n")
	shuffled.WriteString("id,v\n")
	for i := range n {
		fmt.Fprintf(&sorted, "%d,v%d\n", i*2, i*2)
		j := (i * 337) % n
		fmt.Fprintf(&shuffled, "%d,v%d\n", j*2, j*2)
	}
	s := open(t, map[string]string{"sorted.csv": sorted.String(), "shuffled.csv": shuffled.String()}, Options{})
	for _, tbl := range []string{"sorted", "shuffled"} {
		all := scan(t, s, sources.Query{Table: tbl, BatchSize: 77})
		if len(all) != n {
			t.Fatalf("%s: %d rows", tbl, len(all))
		}
		for i, r := range all {
			if r[0] != int64(i*2) {
				t.Fatalf("%s: row %d has id %v", tbl, i, r[0])
			}
		}
		for _, w := range [][2]int64{{-1, 3}, {1, 1}, {2, 2}, {511, 1200}, {1997, 5000}, {3000, 4000}} {
			got := scan(t, s, sources.Query{Table: tbl, After: record.Key{w[0]}, Upto: record.Key{w[1]}, BatchSize: 10})
			var want []int64
			for i := int64(0); i < 2*n; i += 2 {
				if i > w[0] && i <= w[1] {
					want = append(want, i)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%s: window %v: %d rows, want %d", tbl, w, len(got), len(want))
				continue
			}
			for i := range want {
				if got[i][0] != want[i] {
					t.Errorf("%s: window %v row %d: %v", tbl, w, i, got[i][0])
				}
			}
		}
		lim := scan(t, s, sources.Query{Table: tbl, After: record.Key{int(100)}, Limit: 5, BatchSize: 2})
		if len(lim) != 5 || lim[0][0] != int64(102) {
			t.Errorf("%s: limit: %v", tbl, lim)
		}
		b, err := s.Get(t.Context(), tbl, []string{"v"}, []string{"id"}, []record.Key{{int64(0)}, {int64(1998)}, {int64(3)}, {int64(1000)}, {int64(1000)}})
		if err != nil {
			t.Fatal(err)
		}
		if b.Len() != 3 || len(b.Columns) != 1 {
			t.Errorf("%s: Get: %v", tbl, b.Rows)
		}
	}
}

func TestVersionAndDuplicates(t *testing.T) {
	t.Parallel()
	body := "id,updated\n3,2024-01-03\n1,2024-01-01\n2,2024-01-03\n4,\n5,2024-01-02\n"
	s := open(t, map[string]string{"t.csv": body}, Options{})
	q := sources.Query{Table: "t", OrderBy: []string{"updated", "id"}, Version: "updated",
		VersionFrom: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	got := scan(t, s, q)
	var ids []any
	for _, r := range got {
		ids = append(ids, r[0])
	}
	if !reflect.DeepEqual(ids, []any{int64(5), int64(2), int64(3)}) {
		t.Errorf("version scan ids %v, want [5 2 3]", ids)
	}
	q.After = record.Key{"2024-01-03", int64(2)} // a string bound is parsed as the column's type
	got = scan(t, s, q)
	if len(got) != 1 || got[0][0] != int64(3) {
		t.Errorf("version scan after: %v", got)
	}
	q.After = record.Key{int64(1)}
	if err := s.Scan(t.Context(), q, func(*record.Batch) error { return nil }); err == nil {
		t.Error("After of the wrong length: no error")
	}
}

func TestFileChangeIsSeen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "t.csv")
	os.WriteFile(p, []byte("id\n2\n1\n"), 0o644)
	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(scan(t, s, sources.Query{Table: "t"})); n != 2 {
		t.Fatalf("%d rows", n)
	}
	os.WriteFile(p, []byte("id,name\n2,b\n1,a\n3,c\n"), 0o644)
	os.Chtimes(p, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	rows := scan(t, s, sources.Query{Table: "t"})
	if len(rows) != 3 || len(rows[0]) != 2 || rows[2][1] != "c" {
		t.Errorf("after rewrite: %v", rows)
	}
}

func TestEmitErrorAndCancel(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id\n")
	for i := 5000; i > 0; i-- {
		fmt.Fprintf(&b, "%d\n", i)
	}
	s := open(t, map[string]string{"t.csv": b.String()}, Options{})
	boom := errors.New("boom")
	calls := 0
	err := s.Scan(t.Context(), sources.Query{Table: "t", BatchSize: 10}, func(*record.Batch) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("emit error: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = s.Scan(ctx, sources.Query{Table: "t"}, func(*record.Batch) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

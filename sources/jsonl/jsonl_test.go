package jsonl

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

func open(t *testing.T, name, body string, opts Options) *Source {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scan(t *testing.T, s *Source, q sources.Query) [][]any {
	t.Helper()
	var out [][]any
	err := s.Scan(t.Context(), q, func(b *record.Batch) error {
		for _, r := range b.Rows {
			out = append(out, append([]any(nil), r...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInferenceAndUnion(t *testing.T) {
	t.Parallel()
	body := "\ufeff{\"id\":2,\"n\":1.50,\"ok\":true,\"s\":\"x\",\"obj\":{\"a\":[1,2]},\"mix\":1}\r\n" +
		"\n" +
		"{\"id\":1,\"n\":3,\"extra\":\"late\",\"mix\":\"two\",\"at\":\"2024-01-02T03:04:05Z\",\"big\":123456789012345678901234567890}\n" +
		"{\"id\":3,\"n\":1e2,\"ok\":null,\"obj\":[],\"mix\":{\"k\":1},\"big\":1}\n"
	s := open(t, "ev.ndjson", body, Options{})
	d, err := s.Describe(t.Context(), "ev")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"id", "n", "ok", "s", "obj", "mix", "extra", "at", "big"}
	types := []record.Type{record.Int, record.Decimal, record.Bool, record.Text, record.JSON, record.Text, record.Text, record.Text, record.Decimal}
	if !reflect.DeepEqual(d.Names(), names) {
		t.Fatalf("columns %v, want %v", d.Names(), names)
	}
	for i, c := range d.Columns {
		if c.Type != types[i] {
			t.Errorf("%s: %s, want %s", c.Name, c.Type, types[i])
		}
	}
	if d.Columns[0].Nullable || !d.Columns[2].Nullable || !d.Columns[6].Nullable {
		t.Errorf("nullability: %+v", d.Columns)
	}
	rows := scan(t, s, sources.Query{Table: "ev"})
	want := [][]any{
		{int64(1), "3", nil, nil, nil, "two", "late", "2024-01-02T03:04:05Z", "123456789012345678901234567890"},
		{int64(2), "1.50", true, "x", `{"a":[1,2]}`, "1", nil, nil, nil},
		{int64(3), "100", nil, nil, "[]", `{"k":1}`, nil, nil, "1"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n got %#v\nwant %#v", rows, want)
	}
}

func TestBadLinesAndDeclared(t *testing.T) {
	t.Parallel()
	body := `{"id":1,"at":"2024-01-02T03:04:05+02:00","amt":"12.5","b":"AAH/","u":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}` + "\n" +
		`{"id":2,"at":"yesterday","amt":true,"b":"!!","u":5}` + "\n" +
		`{"id":3, broken` + "\n" +
		`[1,2,3]` + "\n" +
		`{"id":4} trailing` + "\n" +
		"{\"id\":5,\"at\":null,\"amt\":1,\"b\":null,\"u\":\"\xff\"}\n" +
		"{\"\xff\":1,\"id\":6}\n" +
		`{"id":7.0,"amt":1.25e1}` + "\n"
	s := open(t, "t.jsonl", body, Options{Columns: map[string]map[string]string{"t": {
		"id": "bigint", "at": "timestamptz", "amt": "numeric(10,2)", "b": "bytes", "u": "uuid",
	}}})
	rows := scan(t, s, sources.Query{Table: "t", OrderBy: []string{"id"}})
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8: %v", len(rows), rows)
	}
	reasons := map[string]bool{}
	for _, r := range rows[:4] {
		for _, v := range r {
			iv, ok := v.(record.Invalid)
			if !ok {
				t.Fatalf("bad line row %v: %#v is not Invalid", r, v)
			}
			reasons[iv.Reason] = true
		}
	}
	for _, w := range []string{"line 3: not valid JSON", "line 4: not a JSON object", "line 5: not valid JSON", "invalid UTF-8 at line 7"} {
		if !reasons[w] {
			t.Errorf("missing reason %q in %v", w, reasons)
		}
	}
	ok := rows[4]
	if ok[0] != int64(1) || !ok[1].(time.Time).Equal(time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC)) || ok[2] != "12.5" ||
		!reflect.DeepEqual(ok[3], []byte{0, 1, 255}) || ok[4] != "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" {
		t.Errorf("row 1: %#v", ok)
	}
	for j := 1; j <= 4; j++ {
		iv, isInv := rows[5][j].(record.Invalid)
		if !isInv || !strings.Contains(iv.Reason, "line 2") {
			t.Errorf("row 2 column %d: %#v, want Invalid naming line 2", j, rows[5][j])
		}
	}
	if iv, isInv := rows[6][4].(record.Invalid); !isInv || iv.Reason != "invalid UTF-8 at line 6" || rows[6][2] != "1" {
		t.Errorf("row 5: %#v", rows[6])
	}
	if rows[7][0] != int64(7) || rows[7][2] != "12.5" {
		t.Errorf("row 7: %#v", rows[7])
	}
	b, err := s.Get(t.Context(), "t", []string{"id"}, nil, []record.Key{{int64(7)}, {int64(8)}})
	if err != nil || b.Len() != 1 {
		t.Errorf("Get: %v %v", b, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte(`{"x":1}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ignored.json"), []byte(`{}`), 0o644)
	if _, err := Open(t.Context(), dir, Options{Columns: map[string]map[string]string{"a": {"x": "wat"}}}); err == nil {
		t.Error("unknown type: no error")
	}
	if _, err := Open(t.Context(), dir, Options{Key: map[string][]string{"b": {"x"}}}); err == nil {
		t.Error("unknown table: no error")
	}
	s, err := Open(t.Context(), dir, Options{Key: map[string][]string{"a": {"nope"}}})
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := s.Tables(t.Context()); !reflect.DeepEqual(names, []string{"a"}) {
		t.Errorf("tables %v", names)
	}
	if _, err := s.Describe(t.Context(), "a"); err == nil {
		t.Error("key column missing: no error")
	}
	if _, err := s.Describe(t.Context(), "zz"); !sources.IsNotFound(err) {
		t.Errorf("missing table: %v", err)
	}
}

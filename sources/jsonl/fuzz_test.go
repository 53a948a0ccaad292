package jsonl

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// FuzzJSONLReader checks that no input panics and that every non-blank
// line comes back as exactly one row (valid, or carrying record.Invalid).
func FuzzJSONLReader(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"a":"x"}` + "\n" + `{"id":2,"b":[1,{"c":null}]}` + "\n",
		"\ufeff{\"id\":1}\r\n\r\n{\"id\":2}",
		`{"id":1` + "\n" + `[]` + "\n" + `"str"` + "\n" + `{"id":3} x` + "\n",
		"{\"id\":1,\"t\":\"\xff\xfe\"}\n{\"\xff\":2}\n",
		`{"id":1e400,"n":-0.0000001}` + "\n" + `{"id":"7","n":"x"}` + "\n",
		`{"id":1,"q":"say \"hi\"\n"}` + "\n",
		"",
		"   \n\t\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := 0
		body := bytes.TrimPrefix(data, []byte("\ufeff"))
		for _, l := range bytes.Split(body, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				want++
			}
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "t.jsonl"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Describe(t.Context(), "t")
		if err != nil {
			t.Fatal(err)
		}
		orders := [][]string{nil}
		if len(d.Columns) > 0 {
			orders = append(orders, d.Names()[:1])
		}
		for _, order := range orders {
			rows, flagged := 0, 0
			err := s.Scan(t.Context(), sources.Query{Table: "t", OrderBy: order, BatchSize: 2}, func(b *record.Batch) error {
				for _, r := range b.Rows {
					rows++
					for _, v := range r {
						if _, ok := v.(record.Invalid); ok {
							flagged++
							break
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if rows != want {
				t.Fatalf("order %v: %d rows (%d flagged), want %d non-blank lines", order, rows, flagged, want)
			}
		}
	})
}

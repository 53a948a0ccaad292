package jsonl

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/sourcetest"
)

func declare(c record.Column) string {
	switch c.Type {
	case record.Decimal:
		return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
	case record.Text:
		if c.Length > 0 {
			return fmt.Sprintf("varchar(%d)", c.Length)
		}
	}
	return c.Type.String()
}

// jsonValue spells a fixture value of column c in JSON.
func jsonValue(c record.Column, v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if c.Type == record.Decimal {
			return x // a JSON number, kept exact
		}
		b, _ := json.Marshal(x)
		return string(b)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return `"` + base64.StdEncoding.EncodeToString(x) + `"`
	case time.Time:
		return `"` + x.Format("2006-01-02 15:04:05.999999999") + `"`
	}
	panic(fmt.Sprintf("jsonValue: %T", v))
}

func writeFixtures(t testing.TB, dir string, tables []sourcetest.Fixture) Options {
	opts := Options{Columns: map[string]map[string]string{}, Key: map[string][]string{}}
	for _, f := range tables {
		var b strings.Builder
		n := len(f.Rows)
		for i := range n {
			r := f.Rows[i]
			if f.Table.Name != sourcetest.BigTable {
				r = f.Rows[(i*7+3)%n]
			}
			b.WriteByte('{')
			for j, c := range f.Table.Columns {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%q:%s", c.Name, jsonValue(c, r[j]))
			}
			b.WriteString("}\n")
		}
		ext := ".jsonl"
		if f.Table.Name == sourcetest.CodesTable {
			ext = ".ndjson"
		}
		if err := os.WriteFile(filepath.Join(dir, f.Table.Name+ext), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		decl := map[string]string{}
		for _, c := range f.Table.Columns {
			decl[c.Name] = declare(c)
		}
		opts.Columns[f.Table.Name] = decl
		opts.Key[f.Table.Name] = f.Table.Key
	}
	return opts
}

func TestConformance(t *testing.T) {
	sourcetest.Exercise(t, sourcetest.Harness{
		Name: "jsonl",
		Caps: sourcetest.Caps{TypedColumns: true, Keys: true, Getter: true},
		Load: func(t *testing.T, tables []sourcetest.Fixture) sources.Source {
			for _, f := range tables {
				if n := len(f.Rows); n%7 == 0 && f.Table.Name != sourcetest.BigTable {
					t.Fatalf("fixture %s has %d rows; the shuffle needs gcd(7, n) = 1", f.Table.Name, n)
				}
			}
			dir := t.TempDir()
			src, err := Open(t.Context(), dir, writeFixtures(t, dir, tables))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			return src
		},
	})
}

package csv

import (
	"encoding/hex"
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

// declare spells a fixture column as a declared CSV type.
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

// field spells a fixture value as a CSV field: NULL is an empty unquoted
// field, everything else is quoted.
func field(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	case []byte:
		s = `\x` + hex.EncodeToString(x)
	case time.Time:
		s = x.Format("2006-01-02 15:04:05.999999999")
	default:
		panic(fmt.Sprintf("field: %T", v))
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// writeFixtures writes each fixture as dir/<table>.csv, rows shuffled so
// the source must sort (except the big table, kept in key order to take
// the streaming path), and returns the options declaring types and keys.
func writeFixtures(t testing.TB, dir string, tables []sourcetest.Fixture) Options {
	opts := Options{Columns: map[string]map[string]string{}, Key: map[string][]string{}}
	for _, f := range tables {
		var b strings.Builder
		b.WriteString("\ufeff") // a BOM, as spreadsheets write it
		b.WriteString(strings.Join(f.Table.Names(), ","))
		b.WriteString("\r\n")
		n := len(f.Rows)
		for i := range n {
			r := f.Rows[i]
			if f.Table.Name != sourcetest.BigTable {
				r = f.Rows[(i*7+3)%n] // a permutation when gcd(7, n) = 1
			}
			for j, v := range r {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(field(v))
			}
			b.WriteString("\r\n")
		}
		if err := os.WriteFile(filepath.Join(dir, f.Table.Name+".csv"), []byte(b.String()), 0o644); err != nil {
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
		Name: "csv",
		Caps: sourcetest.Caps{TypedColumns: true, Keys: true, Getter: true},
		Load: func(t *testing.T, tables []sourcetest.Fixture) sources.Source {
			for _, f := range tables {
				if n := len(f.Rows); n%7 == 0 && f.Table.Name != sourcetest.BigTable {
					t.Fatalf("fixture %s has %d rows; the shuffle needs gcd(7, n) = 1", f.Table.Name, n)
				}
			}
			dir := t.TempDir()
			opts := writeFixtures(t, dir, tables)
			src, err := Open(t.Context(), dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			return src
		},
	})
}

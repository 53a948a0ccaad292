package csv

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// FuzzCSVReader checks that no input panics and that every line is
// accounted for: the records and skipped blank lines tile the input byte
// for byte, and a scan returns exactly one row per data record (valid or
// carrying record.Invalid values).
func FuzzCSVReader(f *testing.F) {
	for _, seed := range []string{
		"id,name\n1,a\n2,b\n",
		"\ufeffid,name\r\n1,\"x\r\ny\"\r\n2,\"\"\r\n",
		"id,a,b\n1,2\n3,4,5,6\n",
		"id,t\n1,\xff\xfe\n2,ok\n",
		"id,t\n1,\"unterminated\n2,x\n",
		"id,t\n1,\"a\"\"b\"\n2,\"bad\"x\n",
		"a\n\n\n1\n\r\n",
		"id,d\n1,2024-01-02\n2,2024-13-45\n3,\n",
		"\"\"\"\n",
		"",
		"id\n9223372036854775808\n-1\n",
	} {
		f.Add([]byte(seed), true)
	}
	f.Add([]byte("1,2\n3,4\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, header bool) {
		// The reader alone: records and blank lines tile the input.
		rd := newReader(bytes.NewReader(data), ',', 0, 1)
		rd.skipBOM()
		pos, n := rd.off, 0
		for {
			c, err := rd.read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			// Blank lines skipped before this record are exactly line breaks.
			gap := data[pos:c.off]
			for len(gap) > 0 {
				switch {
				case gap[0] == '\n':
					gap = gap[1:]
				case len(gap) > 1 && gap[0] == '\r' && gap[1] == '\n':
					gap = gap[2:]
				default:
					t.Fatalf("record %d at %d: bytes %q between records", n, c.off, data[pos:c.off])
				}
			}
			if want := bytes.Count(data[:c.off], []byte("\n")) + 1; c.line != want {
				t.Fatalf("record %d: line %d, want %d", n, c.line, want)
			}
			if c.end <= c.off {
				t.Fatalf("record %d: empty byte range", n)
			}
			pos = c.end
			n++
		}
		if rest := bytes.Trim(data[pos:], "\r\n"); len(rest) != 0 && !bytes.Equal(data[pos:], []byte("\r")) {
			t.Fatalf("unaccounted tail %q", data[pos:])
		}

		// Through the Source: one row per data record.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "t.csv"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), dir, Options{Header: &header})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Describe(t.Context(), "t")
		if err != nil {
			return // a bad header is an error, not a panic
		}
		want := n
		if header && n > 0 {
			want--
		}
		orders := [][]string{nil}
		if len(d.Columns) > 0 {
			orders = append(orders, d.Names()[:1])
		}
		for _, order := range orders {
			rows := 0
			q := sources.Query{Table: "t", BatchSize: 3, OrderBy: order}
			err = s.Scan(t.Context(), q, func(b *record.Batch) error {
				rows += b.Len()
				for _, r := range b.Rows {
					if len(r) != len(d.Columns) {
						t.Fatalf("row has %d values, %d columns", len(r), len(d.Columns))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if rows != want {
				t.Fatalf("scan by %v: %d rows, want %d data records", order, rows, want)
			}
		}
	})
}

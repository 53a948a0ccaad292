package csv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// BenchmarkScan scans a 100k-row file (id, name, amount, created, flag)
// in key order, once sorted on disk (streamed) and once shuffled (read by
// offset through the index). The index is built by the first scan and
// cached, as it is for the chunks of a real run.
func BenchmarkScan(b *testing.B) {
	const n = 100_000
	for _, shuffled := range []bool{false, true} {
		name := "sorted"
		if shuffled {
			name = "shuffled"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			var sb strings.Builder
			sb.WriteString("id,name,amount,created,flag\n")
			for i := range n {
				id := i
				if shuffled {
					id = (i * 7919) % n
				}
				fmt.Fprintf(&sb, "%d,\"name %d, the \"\"%d\"\"\",%d.%02d,2024-01-%02d 10:11:12.123456,%t\n", id, id, id, id, id%100, id%28+1, id%2 == 0)
			}
			if err := os.WriteFile(filepath.Join(dir, "t.csv"), []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			s, err := Open(b.Context(), dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			q := sources.Query{Table: "t", OrderBy: []string{"id"}, BatchSize: 1000}
			count := func(*record.Batch) error { return nil }
			if err := s.Scan(b.Context(), q, count); err != nil { // describe and index
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rows := 0
				err := s.Scan(b.Context(), q, func(bt *record.Batch) error { rows += bt.Len(); return nil })
				if err != nil || rows != n {
					b.Fatalf("%d rows, %v", rows, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

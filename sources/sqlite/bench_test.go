package sqlite

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// BenchmarkScan scans a 200k-row table (integer key, text, NUMERIC(10,2)
// stored as REAL, DATETIME text, integer, boolean) and reports rows/s.
//
//	go test -run '^$' -bench BenchmarkScan -benchmem ./sources/sqlite/
func BenchmarkScan(b *testing.B) {
	const rows = 200_000
	path, db := newFile(b,
		`CREATE TABLE bench (id INTEGER PRIMARY KEY, name NVARCHAR(50) NOT NULL, price NUMERIC(10,2) NOT NULL,
			created DATETIME NOT NULL, qty INTEGER NOT NULL, flag BOOLEAN NOT NULL)`,
		`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < `+strconv.Itoa(rows)+`)
		 INSERT INTO bench SELECT n, 'name ' || n, (n % 100000) / 100.0,
			datetime('2024-01-01', '+' || n || ' seconds'), n % 1000, n % 2 FROM s`,
	)
	db.Close()
	src := openSource(b, path)
	ctx := context.Background()
	var total int
	start := time.Now()
	for b.Loop() {
		n := 0
		err := src.Scan(ctx, sources.Query{Table: "bench", BatchSize: 1000}, func(bt *record.Batch) error {
			n += bt.Len()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("%d rows", n)
		}
		total += n
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "rows/s")
}

package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

const benchRows = 200_000

// BenchmarkScan scans a 200k-row table of common types (bigint key,
// varchar, decimal, datetime(6), int, tinyint(1), nullable text) and
// reports rows/s.
//
//	go test -run '^$' -bench BenchmarkScan -benchmem ./sources/mysql/
func BenchmarkScan(b *testing.B) {
	db, dsn := testDB(b)
	ctx := context.Background()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench (
		id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2) NOT NULL,
		created DATETIME(6) NOT NULL, qty INT NOT NULL, flag TINYINT(1) NOT NULL, note TEXT NULL)`); err != nil {
		b.Fatal(err)
	}
	fill := `INSERT INTO bench SELECT seq, CONCAT('name ', seq), seq % 100000 / 100,
		TIMESTAMP('2024-01-01') + INTERVAL seq SECOND + INTERVAL seq % 1000000 MICROSECOND,
		seq % 1000, seq % 2, IF(seq % 3 = 0, NULL, 'some note text') FROM seq_1_to_200000`
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		// MySQL 8: a recursive CTE instead of the sequence engine.
		if _, err := db.ExecContext(ctx, "SET SESSION cte_max_recursion_depth = 1000000"); err != nil {
			b.Fatal(err)
		}
		fill = strings.Replace(fill, "FROM seq_1_to_200000", "FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq+1 FROM s WHERE seq < 200000) SELECT seq FROM s) AS x", 1)
	}
	if _, err := db.ExecContext(ctx, fill); err != nil {
		b.Fatal(err)
	}
	src := openSource(b, dsn)
	for _, c := range []struct{ size, page int }{{1000, 1000}, {1000, 50000}, {10000, 50000}} {
		size := c.size
		b.Run("batch"+itoa(size)+"/page"+itoa(c.page), func(b *testing.B) {
			defer func(old int) { pageRows = old }(pageRows)
			pageRows = c.page
			scanLoop(b, src, sources.Query{Table: "bench", BatchSize: size})
		})
	}
}

// BenchmarkScanDates scans a 200k-row table shaped like the employees
// sample's salaries (int key, int, two DATEs: the shape of most of the
// rows of make bench) and reports rows/s.
//
//	go test -run '^$' -bench BenchmarkScanDates -benchmem ./sources/mysql/
func BenchmarkScanDates(b *testing.B) {
	db, dsn := testDB(b)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE salaries (emp_no INT NOT NULL, salary INT NOT NULL,
		from_date DATE NOT NULL, to_date DATE NOT NULL, PRIMARY KEY (emp_no, from_date))`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO salaries SELECT 10000 + seq DIV 10, 40000 + seq % 90000,
		DATE('1985-01-01') + INTERVAL seq % 10 YEAR + INTERVAL seq % 300 DAY,
		DATE('1986-01-01') + INTERVAL seq % 10 YEAR + INTERVAL seq % 300 DAY FROM seq_1_to_200000`); err != nil {
		testenv.Unavailable(b, "MariaDB's sequence engine", err)
	}
	scanLoop(b, openSource(b, dsn), sources.Query{Table: "salaries", BatchSize: 5000})
}

// scanLoop scans q's table (of benchRows rows) once per iteration and
// reports rows/s.
func scanLoop(b *testing.B, src *Source, q sources.Query) {
	ctx := context.Background()
	var rows int
	start := time.Now()
	for b.Loop() {
		n := 0
		err := src.Scan(ctx, q, func(bt *record.Batch) error {
			n += bt.Len()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != benchRows {
			b.Fatalf("%d rows", n)
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

package audit

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/mysql"
)

// BenchmarkProfileVsScan compares a full audit profile (every column
// profiled, every value tried against its target type) with a bare Scan of
// the same MariaDB table through the same source, on two tables shaped like
// the employees sample database: salaries (ints and dates) and employees
// (text-heavy). It reports ns/row of each and, on the audit, the ratio to
// the scan measured just before it (target: ≤ 2) and the process's peak RSS
// during the audit (target: ≤ 150 MiB).
//
//	go test -run '^$' -bench BenchmarkProfileVsScan -benchtime 3x ./audit/
//
// TRANSIT_BENCH_ROWS sets the row count of each table (default 300000).
func BenchmarkProfileVsScan(b *testing.B) {
	rows := 300000
	if s := os.Getenv("TRANSIT_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("TRANSIT_BENCH_ROWS=%q", s)
		}
		rows = n
	}
	url, db := testenv.MySQL(b)
	ctx := context.Background()
	seq := fmt.Sprintf("seq_0_to_%d", rows-1)
	for _, q := range []string{
		`CREATE TABLE salaries (emp_no INT NOT NULL, salary INT NOT NULL, from_date DATE NOT NULL,
			to_date DATE NOT NULL, PRIMARY KEY (emp_no, from_date))`,
		`INSERT INTO salaries SELECT 10001 + seq DIV 10, 38000 + (seq * 7919) % 120000,
			DATE('1985-01-01') + INTERVAL (seq DIV 10) % 3000 DAY + INTERVAL seq % 10 YEAR,
			IF(seq % 10 = 9, DATE('9999-01-01'), DATE('1986-01-01') + INTERVAL (seq DIV 10) % 3000 DAY + INTERVAL seq % 10 YEAR)
			FROM ` + seq,
		`CREATE TABLE employees (emp_no INT NOT NULL PRIMARY KEY, birth_date DATE NOT NULL,
			first_name VARCHAR(14) NOT NULL, last_name VARCHAR(16) NOT NULL,
			gender ENUM('M','F') NOT NULL, hire_date DATE NOT NULL)`,
		`INSERT INTO employees SELECT 10001 + seq, DATE('1952-02-01') + INTERVAL (seq * 37) % 4700 DAY,
			CONCAT(ELT(1 + seq % 8, 'Georgi', 'Bezalel', 'Parto', 'Chirstian', 'Kyoichi', 'Anneke', 'Tzvetan', 'Saniya'), seq % 160),
			CONCAT(ELT(1 + (seq DIV 8) % 6, 'Facello', 'Simmel', 'Bamford', 'Koblick', 'Maliniak', 'Preusig'), (seq * 13) % 270),
			ELT(1 + seq % 2, 'M', 'F'), DATE('1985-01-01') + INTERVAL (seq * 11) % 5100 DAY
			FROM ` + seq,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("%s: %v", strings.Fields(q)[0], err)
		}
	}
	src, err := mysql.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, table := range []string{"salaries", "employees"} {
		tb, err := src.Describe(ctx, table)
		if err != nil {
			b.Fatal(err)
		}
		var scanNs float64
		b.Run(table+"/scan", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				n := 0
				err := src.Scan(ctx, sources.Query{Table: table, Columns: tb.Names(), OrderBy: tb.Key, BatchSize: 5000},
					func(bt *record.Batch) error { n += bt.Len(); return nil })
				if err != nil {
					b.Fatal(err)
				}
				if n != rows {
					b.Fatalf("%d rows", n)
				}
			}
			scanNs = float64(time.Since(start).Nanoseconds()) / float64(b.N*rows)
			b.ReportMetric(scanNs, "ns/row")
		})
		b.Run(table+"/audit", func(b *testing.B) {
			tg := Target{Entity: &plan.Entity{Name: table, FromTable: table}, Source: src, Table: tb,
				TargetColumns: append([]record.Column(nil), tb.Columns...)}
			resetPeakRSS()
			start := time.Now()
			for b.Loop() {
				rep, err := Run(ctx, []Target{tg}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if rep.Entities[0].Rows != int64(rows) {
					b.Fatalf("%d rows", rep.Entities[0].Rows)
				}
			}
			ns := float64(time.Since(start).Nanoseconds()) / float64(b.N*rows)
			b.ReportMetric(ns, "ns/row")
			if scanNs > 0 {
				b.ReportMetric(ns/scanNs, "x-scan")
			}
			if rss := peakRSS(); rss > 0 {
				b.ReportMetric(float64(rss)/(1<<20), "peak-MiB")
			}
		})
	}
}

// resetPeakRSS resets the kernel's peak-RSS mark of this process (Linux;
// a no-op elsewhere) after a GC, so peakRSS measures what follows.
func resetPeakRSS() {
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is the process's peak resident set size in bytes (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

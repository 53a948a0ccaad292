package audit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// genSource emits n synthetic rows of a typical table, reusing its batch.
type genSource struct{ n int }

var genCols = []record.Column{
	{Name: "id", Type: record.Int, Bits: 64},
	{Name: "customer_id", Type: record.Int, Bits: 32},
	{Name: "email", Type: record.Text, Length: 60, Nullable: true},
	{Name: "status", Type: record.Text, Length: 10},
	{Name: "total", Type: record.Decimal, Precision: 10, Scale: 2},
	{Name: "created_at", Type: record.Timestamp},
}

func (g *genSource) Tables(context.Context) ([]string, error) { return nil, nil }
func (g *genSource) Close() error                             { return nil }
func (g *genSource) Describe(context.Context, string) (*record.Table, error) {
	return &record.Table{Name: "orders", Columns: genCols, Key: []string{"id"}}, nil
}
func (g *genSource) Scan(ctx context.Context, q sources.Query, emit func(*record.Batch) error) error {
	b := &record.Batch{Columns: genCols, Rows: make([][]any, 0, 5000)}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	for i := 0; i < g.n; i++ {
		var email any = "user" + strconv.Itoa(i) + "@example.com"
		if i%7 == 0 {
			email = nil
		}
		b.Rows = append(b.Rows, []any{int64(i), int64(i % 50000), email, statuses[i%4],
			strconv.Itoa(i%10000) + ".99", base.Add(time.Duration(i) * time.Second)})
		if len(b.Rows) == cap(b.Rows) {
			if err := emit(b); err != nil {
				return err
			}
			b.Rows = b.Rows[:0]
		}
	}
	if len(b.Rows) > 0 {
		return emit(b)
	}
	return nil
}

// BenchmarkProfile measures the Go-side cost of a full profile per row
// (no store involved).
func BenchmarkProfile(b *testing.B) {
	const rows = 200000
	tc := append([]record.Column(nil), genCols...)
	ent := &plan.Entity{Name: "orders", FromTable: "orders", Checks: []*plan.Check{
		{Kind: "not_null", Columns: []string{"email"}},
		{Kind: "pattern", Columns: []string{"email"}, Pattern: `^[^@]+@[^@]+\.[a-z]+$`},
		{Kind: "range", Columns: []string{"total"}, Min: f64(0), Max: f64(100000)},
	}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, err := Run(context.Background(), []Target{{Entity: ent, Source: &genSource{n: rows}, TargetColumns: tc}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

package elasticsearch_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/transitdb/transit/internal/estest"
	"github.com/transitdb/transit/sinks/doc"
)

// BenchmarkWrite measures documents per second written into the test
// double, client side (encoding, HTTP, decoding the answers), in batches
// of 1000 documents: go test -run '^$' -bench BenchmarkWrite ./sinks/elasticsearch/
func BenchmarkWrite(b *testing.B) {
	u, _ := estest.Start(b)
	tg := newTarget(b, u)
	gen := genOf(tg, 1)
	ctx := context.Background()
	must(b, tg.Create(ctx, gen))
	const batch = 1000
	ds := make([]doc.Doc, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ds {
			k := i*batch + j
			ds[j] = doc.Doc{ID: fmt.Sprintf("id-%09d", k), Version: uint64(i + 1), Fields: map[string]any{
				"name": fmt.Sprintf("customer %d", k), "n": int64(k), "price": "1234.56",
				"email": "someone@example.com", "active": true}}
		}
		res, err := tg.Write(ctx, gen, ds)
		if err != nil || res.Written != batch {
			b.Fatalf("write: %+v %v", res, err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "docs/s")
}

package feedverify

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/transitdb/transit/sinks/doc"
)

// genDocs hands n generated documents to fn in pages of 1000, the way
// PostgreSQL rows (record values) or Redis hash text would come.
func genDocs(n int, text bool, fn func([]doc.Doc) error) error {
	page := make([]doc.Doc, 0, 1000)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		f := map[string]any{
			"id": int64(i), "name": "customer " + strconv.Itoa(i), "city": "Berlin",
			"price": "12.50", "created": t0.Add(time.Duration(i) * time.Second),
		}
		if text {
			f["id"] = strconv.Itoa(i)
			f["created"] = f["created"].(time.Time).Format(time.RFC3339Nano)
		}
		page = append(page, doc.Doc{ID: strconv.Itoa(i), Fields: f})
		if len(page) == cap(page) || i == n-1 {
			if err := fn(page); err != nil {
				return err
			}
			page = page[:0]
		}
	}
	return nil
}

type genSource struct{ n int }

func (s genSource) Docs(ctx context.Context, fn func([]doc.Doc) error) error {
	return genDocs(s.n, false, fn)
}

// genTarget yields the same documents as text; at the start of its Scan it
// samples the heap, which then holds Compare's hash per ID.
type genTarget struct {
	*redisTarget
	n    int
	heap *uint64
}

func (g genTarget) Scan(ctx context.Context, gen string, fn func([]doc.Doc) error) error {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	*g.heap = m.HeapAlloc
	return genDocs(g.n, true, fn)
}

// BenchmarkCompare compares 200,000 documents (PostgreSQL-typed values
// against Redis-hash text) and reports docs/s and the heap Compare holds
// per document while the store is scanned (the hash per ID).
func BenchmarkCompare(b *testing.B) {
	const n = 200_000
	var heap uint64
	for it := 0; it < b.N; it++ {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		base := m.HeapAlloc
		rep, err := Compare(context.Background(), genSource{n}, genTarget{n: n, heap: &heap}, "g", Options{})
		if err != nil || !rep.Consistent() || rep.Docs != n {
			b.Fatalf("%v %+v", err, rep)
		}
		if it == 0 {
			b.ReportMetric(float64(heap-base)/n, "heapB/doc")
		}
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// TestUntypedSource: a Source that does not describe its columns gives
// each field the type of its values on PostgreSQL's side, so the store's
// text of a time.Time (RFC 3339) or an int64 compares equal, in the hash
// and in the field diffs alike.
func TestUntypedSource(t *testing.T) {
	var heap uint64
	rep, err := Compare(context.Background(), genSource{50}, genTarget{n: 50, heap: &heap}, "g", Options{})
	if err != nil || !rep.Consistent() || rep.Docs != 50 || rep.Stored != 50 {
		t.Fatalf("%v %+v", err, rep)
	}
}

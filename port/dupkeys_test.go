package port

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

func dupEntity() *entityState {
	return &entityState{Entity: &Entity{
		KeyIdx: []int{0},
		Target: &record.Table{Columns: []record.Column{{Name: "id"}, {Name: "name"}}},
	}}
}

func TestGroupTail(t *testing.T) {
	rows := [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(2), "c"}}
	if i := groupTail(rows, []int{0}); i != 1 {
		t.Errorf("groupTail = %d, want 1", i)
	}
	if i := groupTail(rows[1:], []int{0}); i != 0 {
		t.Errorf("one group: groupTail = %d, want 0", i)
	}
	// NULL and unreadable keys never group.
	odd := [][]any{{nil, "a"}, {nil, "b"}, {record.Invalid{Raw: "x"}, "c"}, {record.Invalid{Raw: "x"}, "d"}}
	if i := groupTail(odd, []int{0}); i != 3 {
		t.Errorf("NULL/invalid keys: groupTail = %d, want 3", i)
	}
}

// TestDedupBatch: in key order (neighbours) and in any order (a map), the
// first row of a key is kept and each later one is a reject naming it.
func TestDedupBatch(t *testing.T) {
	r := &runner{}
	es := dupEntity()
	ts := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, c := range []struct {
		name     string
		rows     [][]any
		anyOrder bool
		kept     string
		rejected []string
	}{
		{"sorted", [][]any{{int64(1), "first"}, {int64(1), "second"}, {int64(1), "third"}, {int64(2), "x"}}, false,
			"[[1 first] [2 x]]", []string{"second", "third"}},
		{"any order", [][]any{{int64(1), "first"}, {int64(2), "x"}, {int64(1), "second"}}, true,
			"[[1 first] [2 x]]", []string{"second"}},
		{"no duplicates", [][]any{{int64(1), "a"}, {int64(2), "b"}}, true, "[[1 a] [2 b]]", nil},
		{"NULL keys are not duplicates", [][]any{{nil, "a"}, {nil, "b"}}, true, "[[<nil> a] [<nil> b]]", nil},
		{"times", [][]any{{ts, "first"}, {ts.Add(time.Hour), "x"}, {ts, "second"}}, true, fmt.Sprint([][]any{{ts, "first"}, {ts.Add(time.Hour), "x"}}), []string{"second"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			kept, rej := r.dedupBatch(es, c.rows)
			if fmt.Sprint(kept) != c.kept {
				t.Errorf("kept %v, want %s", kept, c.kept)
			}
			if len(rej) != len(c.rejected) {
				t.Fatalf("rejects %v, want %v", rej, c.rejected)
			}
			for i, x := range rej {
				if x.Payload["name"] != c.rejected[i] {
					t.Errorf("reject %d: payload %v, want name %s", i, x.Payload, c.rejected[i])
				}
				if !strings.HasPrefix(x.Reason, DuplicateReason+": ") || !strings.Contains(x.Reason, `"name":"first"`) {
					t.Errorf("reject %d: reason %q", i, x.Reason)
				}
				if want := dupMarker(i + 2); x.Key[len(x.Key)-1] != want {
					t.Errorf("reject %d: key %v, want it to end in %q", i, x.Key, want)
				}
			}
		})
	}
}

// BenchmarkDedupBatch: what looking for repeated keys costs a batch of
// 10,000 rows without any, in key order (neighbours) and out of it (a
// map). Compare with sinks/postgres
// BenchmarkWriteFresh for the same batch size.
func BenchmarkDedupBatch(b *testing.B) {
	r := &runner{}
	es := dupEntity()
	rows := make([][]any, 10_000)
	for i := range rows {
		rows[i] = []any{int64(i), "name"}
	}
	shuffled := slices.Clone(rows)
	shuffled[0], shuffled[len(rows)-1] = shuffled[len(rows)-1], shuffled[0]
	for _, c := range []struct {
		name string
		rows [][]any
	}{{"sorted", rows}, {"unsorted", shuffled}} {
		b.Run(c.name, func(b *testing.B) {
			rows := c.rows
			b.ReportAllocs()
			for b.Loop() {
				kept, _ := r.dedupBatch(es, rows)
				if len(kept) != len(rows) {
					b.Fatal("rows lost")
				}
				groupTail(rows, es.KeyIdx)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
		})
	}
}

package feedverify

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/transitdb/transit/sinks/doc"
)

// memSource yields docs in pages of 7; est, when not 0, is its estimate.
type memSource struct {
	docs []doc.Doc
	est  int64
}

func (s memSource) Docs(ctx context.Context, fn func([]doc.Doc) error) error {
	for i := 0; i < len(s.docs); i += 7 {
		if err := fn(s.docs[i:min(i+7, len(s.docs))]); err != nil {
			return err
		}
	}
	return nil
}

// estSource is memSource with an estimate (an Estimator).
type estSource struct{ memSource }

func (s estSource) EstimateDocs(context.Context) (int64, error) { return s.est, nil }

// repeatTarget yields its docs (text values) each twice, in two passes,
// as Redis SCAN may while the keyspace is resized.
type repeatTarget struct {
	*redisTarget
	docs []doc.Doc
}

func (r repeatTarget) Scan(ctx context.Context, gen string, fn func([]doc.Doc) error) error {
	for range 2 {
		if err := (memSource{docs: r.docs}).Docs(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

func docsN(n int, text bool) []doc.Doc {
	var out []doc.Doc
	for i := 1; i <= n; i++ {
		f := map[string]any{"id": int64(i), "name": "n" + strconv.Itoa(i)}
		if text {
			f["id"] = strconv.Itoa(i)
		}
		out = append(out, doc.Doc{ID: strconv.Itoa(i), Fields: f})
	}
	return out
}

// TestComparePartitions: with the store yielding every document twice,
// one changed, one extra and two missing, every partition count (given,
// or chosen from the Source's estimate) reports each difference once,
// with the missing IDs (which the index keeps only as hashes) named.
func TestComparePartitions(t *testing.T) {
	const n = 500
	pg := docsN(n, false)
	store := docsN(n, true)
	store = slices.DeleteFunc(store, func(d doc.Doc) bool { return d.ID == "17" || d.ID == "400" })
	store[10].Fields = map[string]any{"id": store[10].ID, "name": "changed"}
	store = append(store, doc.Doc{ID: "9999", Fields: map[string]any{"id": "9999", "name": "stray"}})
	cases := []struct {
		name string
		src  Source
		opts Options
	}{
		{"one", memSource{docs: pg}, Options{}},
		{"given 4", memSource{docs: pg}, Options{Partitions: 4}},
		{"estimated", estSource{memSource{docs: pg, est: n}}, Options{PartitionDocs: 150}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Compare(context.Background(), tc.src, repeatTarget{docs: store}, "g", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Docs != n || rep.Stored != n-1 || rep.Missing != 2 || rep.Extra != 1 || rep.Changed != 1 {
				t.Fatalf("docs %d stored %d missing %d extra %d changed %d", rep.Docs, rep.Stored, rep.Missing, rep.Extra, rep.Changed)
			}
			if got, want := rep.RepairIDs(), []string{"11", "17", "400", "9999"}; !slices.Equal(got, want) {
				t.Fatalf("repair IDs %v, want %v", got, want)
			}
			if len(rep.Diffs) != 4 {
				t.Fatalf("diffs %+v", rep.Diffs)
			}
			for _, d := range rep.Diffs {
				if d.Key[0] == "11" && (len(d.Fields) != 1 || d.Fields[0].Column != "name" || d.Fields[0].New != "changed") {
					t.Fatalf("changed diff %+v", d)
				}
			}
		})
	}
}

// TestCompareDuplicateIDs: two PostgreSQL documents with one ID: the last
// one read counts, and a note says so.
func TestCompareDuplicateIDs(t *testing.T) {
	pg := docsN(3, false)
	pg = append(pg, doc.Doc{ID: "2", Fields: map[string]any{"id": int64(2), "name": "last"}})
	store := docsN(3, true)
	store[1].Fields["name"] = "last"
	rep, err := Compare(context.Background(), memSource{docs: pg}, repeatTarget{docs: store}, "g", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Consistent() || rep.Docs != 3 || len(rep.Notes) != 1 {
		t.Fatalf("%+v", rep)
	}
}

package feeds_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sinks/doc"
	"github.com/transitdb/transit/stores"
)

// genTarget is an in-memory doc.Target with real generations and an
// atomically switched current one: it stands in for the Elasticsearch
// target (built on another branch) to test the engine's generation
// handling — naming, the switch, keep, a killed rebuild. Stores are never
// faked: PostgreSQL is real.
type genTarget struct {
	mu      sync.Mutex
	current string
	gens    map[string]map[string]doc.Doc
	ready   map[string]bool
	onWrite func(gen string) // called before each Write
}

func (g *genTarget) Current(context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.current, nil
}
func (g *genTarget) Generations(context.Context) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for k := range g.gens {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
func (g *genTarget) Create(_ context.Context, gen string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gens[gen] == nil {
		g.gens[gen] = map[string]doc.Doc{}
	}
	return nil
}
func (g *genTarget) Ready(_ context.Context, gen string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ready[gen] = true
	return nil
}
func (g *genTarget) Switch(_ context.Context, gen string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ready[gen] {
		return fmt.Errorf("switch to %s before Ready", gen)
	}
	g.current = gen
	return nil
}
func (g *genTarget) Drop(_ context.Context, gen string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen == g.current {
		return errors.New("drop of the current generation")
	}
	delete(g.gens, gen)
	return nil
}
func (g *genTarget) Write(_ context.Context, gen string, docs []doc.Doc) (doc.Result, error) {
	if g.onWrite != nil {
		g.onWrite(gen)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.gens[gen]
	if m == nil {
		return doc.Result{}, fmt.Errorf("no generation %s", gen)
	}
	var res doc.Result
	for _, d := range docs {
		if old, ok := m[d.ID]; ok && old.Version > d.Version {
			res.Skipped++
			continue
		}
		m[d.ID] = d
		res.Written++
	}
	return res, nil
}
func (g *genTarget) Scan(_ context.Context, gen string, fn func([]doc.Doc) error) error {
	g.mu.Lock()
	var out []doc.Doc
	for _, d := range g.gens[gen] {
		if !d.Delete {
			out = append(out, d)
		}
	}
	g.mu.Unlock()
	return fn(out)
}
func (g *genTarget) Close() error { return nil }

// count is the number of live documents readers of the current
// generation see.
func (g *genTarget) count() (string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, d := range g.gens[g.current] {
		if !d.Delete {
			n++
		}
	}
	return g.current, n
}

// TestGenerationsSwitchAndKeep: rebuilds write alias_v1, alias_v2, ...;
// readers move only at the switch, to a complete generation; a rebuild
// stopped mid-backfill leaves readers on the old generation and the next
// rebuild resumes the same generation; keep: 1 drops the old ones.
func TestGenerationsSwitchAndKeep(t *testing.T) {
	url := testenv.LogicalPostgres(t)
	testenv.Exec(t, url, `CREATE SCHEMA shop`,
		`CREATE TABLE shop.customer (id int PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO shop.customer SELECT g, 'n'||g FROM generate_series(1, 2000) g`)
	src := fmt.Sprintf(`version: 1
name: %s
stores:
  main: { kind: postgres, url: %q, schema: shop }
  search: { kind: elasticsearch, url: "http://127.0.0.1:1" }
feeds:
  cust: { from: main.customer, to: search.customers, keep: 1 }
`, testenv.Unique("gens"), url)
	p, err := plan.Parse("gens.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	set := stores.New(p)
	defer set.Close()
	ctx := context.Background()
	pool, err := set.Pool(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := &genTarget{gens: map[string]map[string]doc.Doc{}, ready: map[string]bool{}}
	f, err := feeds.Open(ctx, p, p.Feed("cust"), l, set, g, feeds.Options{ChunkRows: 200, Workers: 1, CatchupIdle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = f.Drop(context.Background()) }()

	if _, err := f.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, n := g.count(); cur != "customers_v1" || n != 2000 {
		t.Fatalf("after the first rebuild: %s with %d docs", cur, n)
	}
	testenv.Exec(t, url, `DELETE FROM shop.customer WHERE id > 1500`)

	// Stop the second rebuild after a few batches of its backfill.
	sctx, stop := context.WithCancel(ctx)
	writes := 0
	g.onWrite = func(gen string) {
		if gen == "customers_v2" {
			if writes++; writes == 3 {
				stop()
			}
		}
	}
	_, err = f.Rebuild(sctx)
	if !errors.Is(err, feeds.ErrInterrupted) {
		t.Fatalf("stopped rebuild: %v, want ErrInterrupted", err)
	}
	if cur, n := g.count(); cur != "customers_v1" || n != 2000 {
		t.Fatalf("after a stopped rebuild readers see %s with %d docs, want customers_v1 with 2000", cur, n)
	}
	st, err := l.Feed(ctx, p.Name, "cust")
	if err != nil || st.RebuildGen != "customers_v2" || st.CurrentGen != "customers_v1" {
		t.Fatalf("ledger after the stop: %+v %v", st, err)
	}

	g.onWrite = nil
	res, err := f.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Generation != "customers_v2" || strings.Join(res.Dropped, ",") != "customers_v1" {
		t.Fatalf("resumed rebuild: %+v", res)
	}
	if cur, n := g.count(); cur != "customers_v2" || n != 1500 {
		t.Fatalf("after the resumed rebuild: %s with %d docs, want customers_v2 with 1500", cur, n)
	}
	if gens, _ := g.Generations(ctx); strings.Join(gens, ",") != "customers_v2" {
		t.Fatalf("generations %v, want only customers_v2 (keep 1)", gens)
	}
}

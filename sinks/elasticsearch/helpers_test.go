package elasticsearch_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/estest"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/sinks/doc"
	es "github.com/transitdb/transit/sinks/elasticsearch"
)

// backend is a server the Target tests run against.
type backend struct {
	name string
	url  string
	srv  *estest.Server // nil for a real cluster
}

// backends is the test double, plus a real cluster when
// TRANSIT_TEST_ES_URL is set. The real-cluster suite is opt-in: without
// the variable it is skipped, also under CI (no Elasticsearch can be
// installed on the CI machines; estest stands in for it).
func backends(t *testing.T) []backend {
	u, srv := estest.StartWith(t, estest.Options{NRT: true})
	bs := []backend{{name: "estest", url: u, srv: srv}}
	if real := os.Getenv("TRANSIT_TEST_ES_URL"); real != "" {
		bs = append(bs, backend{name: "real", url: real})
	}
	return bs
}

// eachBackend runs f as a subtest per backend.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// fast is a retry policy for tests.
var fast = es.Retry{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, MaxElapsed: 20 * time.Second}

// newTarget builds a Target on a unique alias and drops its indexes when
// the test ends.
func newTarget(t testing.TB, url string, mod ...func(*es.Config)) *es.Target {
	t.Helper()
	cfg := es.Config{
		Addresses:      []string{url},
		Alias:          strings.ToLower(testenv.Unique("tgt")),
		Retry:          fast,
		RequestTimeout: 5 * time.Second,
		Log:            slog.New(slog.DiscardHandler),
		Mapping: map[string]any{"properties": map[string]any{
			"name":  map[string]any{"type": "keyword"},
			"n":     map[string]any{"type": "long"},
			"price": map[string]any{"type": "scaled_float", "scaling_factor": 100},
		}},
	}
	if u := os.Getenv("TRANSIT_TEST_ES_URL"); u != "" && u == url {
		cfg.Username, cfg.Password, cfg.APIKey = os.Getenv("TRANSIT_TEST_ES_USER"), os.Getenv("TRANSIT_TEST_ES_PASSWORD"), os.Getenv("TRANSIT_TEST_ES_API_KEY")
	}
	for _, m := range mod {
		m(&cfg)
	}
	tg, err := es.New(cfg)
	if err != nil {
		t.Fatalf("new target: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gens, _ := tg.Generations(ctx)
		for _, g := range gens {
			_, _ = tg.Client().Indices.Delete([]string{g}, tg.Client().Indices.Delete.WithContext(ctx))
		}
		_ = tg.Close()
	})
	return tg
}

// docs makes n documents id-0000… with version v.
func docs(n int, v uint64) []doc.Doc {
	out := make([]doc.Doc, n)
	for i := range out {
		out[i] = doc.Doc{ID: fmt.Sprintf("id-%05d", i), Version: v,
			Fields: map[string]any{"name": fmt.Sprintf("name %d", i), "n": int64(i), "price": "12.50"}}
	}
	return out
}

// scanAll returns gen's documents by ID.
func scanAll(t testing.TB, tg *es.Target, gen string) map[string]doc.Doc {
	t.Helper()
	out := map[string]doc.Doc{}
	var last string
	err := tg.Scan(context.Background(), gen, func(page []doc.Doc) error {
		for _, d := range page {
			if d.ID <= last {
				return fmt.Errorf("scan out of order: %q after %q", d.ID, last)
			}
			last = d.ID
			if _, dup := out[d.ID]; dup {
				return fmt.Errorf("scan returned %q twice", d.ID)
			}
			out[d.ID] = d
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", gen, err)
	}
	return out
}

// checkScan compares gen's content with want (ID → n field, and version).
func checkScan(t testing.TB, tg *es.Target, gen string, want []doc.Doc) {
	t.Helper()
	got := scanAll(t, tg, gen)
	var errs []string
	for _, w := range want {
		g, ok := got[w.ID]
		if w.Delete {
			if ok {
				errs = append(errs, fmt.Sprintf("%s: deleted, but scan has it", w.ID))
			}
			continue
		}
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: missing", w.ID))
			continue
		}
		if g.Version != w.Version {
			errs = append(errs, fmt.Sprintf("%s: version %d, want %d", w.ID, g.Version, w.Version))
		}
		if fmt.Sprint(g.Fields["n"]) != fmt.Sprint(w.Fields["n"]) || g.Fields["name"] != w.Fields["name"] {
			errs = append(errs, fmt.Sprintf("%s: fields %v, want %v", w.ID, g.Fields, w.Fields))
		}
		delete(got, w.ID)
	}
	for id := range got {
		errs = append(errs, fmt.Sprintf("%s: extra", id))
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Sprintf("… %d more", len(errs)-10))
		}
		t.Fatalf("scan of %s differs:\n%s", gen, strings.Join(errs, "\n"))
	}
}

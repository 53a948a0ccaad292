package elasticsearch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transitdb/transit/sinks/doc"
	es "github.com/transitdb/transit/sinks/elasticsearch"
)

// settingsOf reads index gen's number_of_replicas and refresh_interval.
func settingsOf(t *testing.T, tg *es.Target, gen string) (replicas, refresh string) {
	t.Helper()
	c := tg.Client()
	res, err := c.Indices.GetSettings(c.Indices.GetSettings.WithIndex(gen))
	if err != nil {
		t.Fatalf("get settings: %v", err)
	}
	defer res.Body.Close()
	var m map[string]struct {
		Settings struct {
			Index map[string]any `json:"index"`
		} `json:"settings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("decode settings: %v", err)
	}
	ix := m[gen].Settings.Index
	return fmt.Sprint(ix["number_of_replicas"]), fmt.Sprint(ix["refresh_interval"])
}

func TestGenerations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		tg := newTarget(t, b.url)
		if cur, err := tg.Current(ctx); err != nil || cur != "" {
			t.Fatalf("Current before any switch = %q, %v; want \"\"", cur, err)
		}
		if gens, err := tg.Generations(ctx); err != nil || len(gens) != 0 {
			t.Fatalf("Generations before any create = %v, %v", gens, err)
		}
		v1, v2, v10 := genOf(tg, 1), genOf(tg, 2), genOf(tg, 10)
		for _, g := range []string{v1, v1, v2, v10} { // Create is idempotent
			if err := tg.Create(ctx, g); err != nil {
				t.Fatalf("create %s: %v", g, err)
			}
		}
		if rep, ref := settingsOf(t, tg, v1); rep != "0" || ref != "-1" {
			t.Errorf("a new generation has replicas %s, refresh %s; want 0 and -1", rep, ref)
		}
		if gens, err := tg.Generations(ctx); err != nil || !slices.Equal(gens, []string{v1, v2, v10}) {
			t.Fatalf("Generations = %v, %v; want %v (numeric order)", gens, err, []string{v1, v2, v10})
		}
		if _, err := tg.Write(ctx, v1, docs(50, 1)); err != nil {
			t.Fatal(err)
		}
		if err := tg.Ready(ctx, v1); err != nil {
			t.Fatal(err)
		}
		if rep, ref := settingsOf(t, tg, v1); rep != "1" || ref != "1s" {
			t.Errorf("after Ready replicas %s, refresh %s; want 1 and 1s", rep, ref)
		}
		for range 2 { // the first switch (no old index), then again: idempotent
			if err := tg.Switch(ctx, v1); err != nil {
				t.Fatalf("switch to %s: %v", v1, err)
			}
		}
		if cur, err := tg.Current(ctx); err != nil || cur != v1 {
			t.Fatalf("Current = %q, %v; want %s", cur, err, v1)
		}
		if err := tg.Drop(ctx, v1); err == nil || !strings.Contains(err.Error(), "current generation") {
			t.Fatalf("Drop of the current generation: %v; want a refusal", err)
		}
		if err := tg.Switch(ctx, v2); err != nil {
			t.Fatal(err)
		}
		if cur, _ := tg.Current(ctx); cur != v2 {
			t.Fatalf("Current after switch = %q; want %s", cur, v2)
		}
		for range 2 { // a missing generation is not an error
			if err := tg.Drop(ctx, v1); err != nil {
				t.Fatalf("drop %s: %v", v1, err)
			}
		}
		if gens, _ := tg.Generations(ctx); !slices.Equal(gens, []string{v2, v10}) {
			t.Fatalf("Generations after drop = %v", gens)
		}
		for _, bad := range []string{"other", genOf(tg, 1) + "x", "x_v1"} {
			if err := tg.Create(ctx, bad); err == nil {
				t.Errorf("Create(%q) accepted a name that is not a generation of the alias", bad)
			}
		}
	})
}

func genOf(tg *es.Target, n int) string { return es.Generation(tg.Alias(), n) }

// TestSwitchUnderReaders: a reader polling the alias while a new
// generation is created, filled, made ready and switched to never sees a
// missing index, nor a half-filled one: every count is the old full count
// or the new full count.
func TestSwitchUnderReaders(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		tg := newTarget(t, b.url)
		v1, v2 := genOf(tg, 1), genOf(tg, 2)
		must(t, tg.Create(ctx, v1))
		old, neu := docs(300, 1), docs(700, 2)
		mustWrite(t, tg, v1, old)
		must(t, tg.Ready(ctx, v1))
		must(t, tg.Switch(ctx, v1))

		var (
			stop   atomic.Bool
			wg     sync.WaitGroup
			mu     sync.Mutex
			bad    []string
			reads  int
			sawNew bool
			c      = tg.Client()
			reader = func() {
				defer wg.Done()
				for !stop.Load() {
					res, err := c.Count(c.Count.WithIndex(tg.Alias()))
					var out struct {
						Count int `json:"count"`
					}
					var msg string
					switch {
					case err != nil:
						msg = err.Error()
					case res.StatusCode != 200:
						msg = res.String()
					default:
						if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
							msg = err.Error()
						} else if out.Count != len(old) && out.Count != len(neu) {
							msg = fmt.Sprintf("count %d: neither the old index (%d) nor the new one (%d)", out.Count, len(old), len(neu))
						}
					}
					if res != nil {
						res.Body.Close()
					}
					mu.Lock()
					reads++
					if msg != "" {
						bad = append(bad, msg)
					}
					if out.Count == len(neu) {
						sawNew = true
					}
					mu.Unlock()
				}
			}
		)
		wg.Add(2)
		go reader()
		go reader()
		must(t, tg.Create(ctx, v2))
		for i := 0; i < len(neu); i += 100 {
			mustWrite(t, tg, v2, neu[i:i+100])
		}
		must(t, tg.Ready(ctx, v2))
		must(t, tg.Switch(ctx, v2))
		must(t, tg.Drop(ctx, v1))
		time.Sleep(50 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("%d of %d reads saw a missing or half-filled index, first: %s", len(bad), reads, bad[0])
		}
		if !sawNew || reads < 10 {
			t.Fatalf("%d reads, saw the new index: %v; the readers did not overlap the switch", reads, sawNew)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, tg *es.Target, gen string, ds []doc.Doc) doc.Result {
	t.Helper()
	res, err := tg.Write(context.Background(), gen, ds)
	if err != nil {
		t.Fatalf("write %d docs into %s: %v", len(ds), gen, err)
	}
	if len(res.Rejects) > 0 {
		t.Fatalf("write into %s: %d rejects, first: %+v", gen, len(res.Rejects), res.Rejects[0])
	}
	return res
}

// TestVersioning: an older write is skipped, a replay changes nothing, a
// stale write after a delete does not bring the document back.
func TestVersioning(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		tg := newTarget(t, b.url)
		gen := genOf(tg, 1)
		must(t, tg.Create(ctx, gen))
		d := func(id string, v uint64, n int64, del bool) doc.Doc {
			return doc.Doc{ID: id, Version: v, Delete: del, Fields: map[string]any{"name": id, "n": n}}
		}
		first := []doc.Doc{d("a", 10, 1, false), d("b", 10, 1, false), d("c", 10, 1, false)}
		if res := mustWrite(t, tg, gen, first); res.Written != 3 {
			t.Fatalf("first write: %+v", res)
		}
		// replay of the same batch: equal versions apply again, same content
		if res := mustWrite(t, tg, gen, first); res.Written != 3 || res.Skipped != 0 {
			t.Fatalf("replay: %+v; want 3 written (external_gte: equal versions apply)", res)
		}
		// older writes are skipped, newer ones applied, in one batch
		res := mustWrite(t, tg, gen, []doc.Doc{d("a", 5, 2, false), d("b", 11, 2, false), d("c", 20, 0, true), d("missing", 7, 0, true)})
		if res.Written != 3 || res.Skipped != 1 {
			t.Fatalf("mixed write: %+v; want 3 written (b, delete c, delete of a missing doc), 1 skipped (a)", res)
		}
		// a stale index after the delete stays deleted (tombstone)
		res = mustWrite(t, tg, gen, []doc.Doc{d("c", 15, 3, false), d("missing", 6, 3, false)})
		if res.Skipped != 2 {
			t.Fatalf("stale writes after deletes: %+v; want both skipped", res)
		}
		checkScan(t, tg, gen, []doc.Doc{d("a", 10, 1, false), d("b", 11, 2, false), d("c", 20, 0, true), d("missing", 7, 0, true)})
	})
}

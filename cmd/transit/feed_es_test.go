package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/estest"
	"github.com/transitdb/transit/internal/testenv"
)

// aliasIndexes returns the indexes alias points to in the test double.
func aliasIndexes(t *testing.T, esURL, alias string) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(esDo(t, "GET", esURL+"/_alias/"+alias, "")), &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFeedRebuildKilledES: an Elasticsearch rebuild SIGKILLed mid-way
// leaves the alias on the old index and resumes; the finished one swaps
// the alias atomically and drops the old index; a reader polling the
// alias (_count) throughout never finds it missing or with fewer
// documents than before (acceptance 3, Elasticsearch test double).
func TestFeedRebuildKilledES(t *testing.T) {
	const n = 4000
	bin := transitBinary(t)
	url := testenv.LogicalPostgres(t)
	testenv.Exec(t, url, `CREATE SCHEMA shop`,
		`CREATE TABLE shop.customer (id int PRIMARY KEY, name text NOT NULL, email text, score numeric(8,2))`,
		fmt.Sprintf(`INSERT INTO shop.customer SELECT g, 'name '||g, 'c'||g||'@x.org', g/4.0 FROM generate_series(1, %d) g`, n))
	esURL, _ := estest.Start(t)
	planPath := esFeedPlan(t, url, esURL)
	if out, err := transitOutput(bin, "feed", "rebuild", planPath, "--feed", "cs"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if got := aliasIndexes(t, esURL, "customers"); strings.Join(got, ",") != "customers_v1" {
		t.Fatalf("alias after the first rebuild: %v", got)
	}
	// Changes no stream applies: only the next generation has them.
	testenv.Exec(t, url, `UPDATE shop.customer SET name = 'v2 '||id`)

	// The reader: the alias must always answer with every document.
	stop := make(chan struct{})
	var polls atomic.Int64
	var bad []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Get(esURL + "/customers/_count")
			if err != nil {
				mu.Lock()
				bad = append(bad, err.Error())
				mu.Unlock()
				return
			}
			var c struct {
				Count int `json:"count"`
			}
			derr := json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
			if resp.StatusCode != 200 || derr != nil || c.Count < n {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("status %d count %d %v", resp.StatusCode, c.Count, derr))
				mu.Unlock()
			}
			polls.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	kills := 0
	for attempt := 0; kills < 4 && attempt < 20; attempt++ {
		cmd, out := startTransit(t, bin, "feed", "rebuild", planPath, "--feed", "cs")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill once the rebuild has started (the ledger names its
		// phase), at a random moment of it.
		started := make(chan struct{})
		go func() {
			defer close(started)
			for i := 0; i < 500; i++ {
				if pgScalar(t, url, `SELECT coalesce(max(rebuild_phase), '') FROM transit.feeds`) != "" {
					time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("rebuild failed: %v\n%s", err, out.String())
			}
			t.Logf("rebuild finished before its kill (attempt %d)", attempt)
			attempt = 99 // done: the alias moved
		case <-started:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			phase := pgScalar(t, url, `SELECT rebuild_phase FROM transit.feeds`)
			t.Logf("killed in phase %q", phase)
			if phase != "" && phase != "switch" {
				// Killed in the switch phase, the alias is on the old or
				// the new index (the switch is one atomic step); the
				// resumed rebuild finishes it.
				if got := aliasIndexes(t, esURL, "customers"); strings.Join(got, ",") != "customers_v1" {
					t.Fatalf("a killed rebuild (phase %s) moved the alias: %v", phase, got)
				}
			} else if got := aliasIndexes(t, esURL, "customers"); strings.Join(got, ",") != "customers_v1" {
				// Killed after its switch (the rebuild had finished):
				// another attempt would build a third generation.
				t.Logf("the rebuild switched before its kill (attempt %d): %v", attempt, got)
				attempt = 99
			}
		}
	}
	// The rebuild the kills interrupted is finished now, unless one of
	// the attempts got to finish it (it ran to its end before its kill
	// came, or was killed just after the switch): then the alias has
	// moved, and another rebuild would build a third generation.
	if got := aliasIndexes(t, esURL, "customers"); strings.Join(got, ",") == "customers_v1" ||
		pgScalar(t, url, `SELECT coalesce(max(rebuild_phase), '') FROM transit.feeds`) != "" {
		if out, err := transitOutput(bin, "feed", "rebuild", planPath, "--feed", "cs"); err != nil {
			t.Fatalf("final rebuild: %v\n%s", err, out)
		} else {
			t.Logf("final rebuild: %s", out)
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("the reader saw a missing or half-filled alias %d times of %d, first: %s", len(bad), polls.Load(), strings.Join(bad[:min(5, len(bad))], "; "))
	}
	if polls.Load() < 50 {
		t.Fatalf("the reader polled only %d times", polls.Load())
	}
	t.Logf("%d kills, %d polls of the alias, none bad", kills, polls.Load())
	if got := aliasIndexes(t, esURL, "customers"); strings.Join(got, ",") != "customers_v2" {
		t.Fatalf("alias after the finished rebuild: %v (want customers_v2: a resumed rebuild keeps its generation)", got)
	}
	if cat := esDo(t, "GET", esURL+"/_cat/indices/customers_*?h=index", ""); strings.Contains(cat, "customers_v1") {
		t.Fatalf("old generation not dropped (keep 1): %s", cat)
	}
	body := esDo(t, "GET", esURL+"/customers/_doc/17", "")
	mustContain(t, body, `"name":"v2 17"`)
	if code, out, errOut := transitRun(t, "verify", planPath, "--feed", "cs"); code != 0 {
		t.Fatalf("verify after the rebuild: %d\n%s\n%s", code, out, errOut)
	}
}

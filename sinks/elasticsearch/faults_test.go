package elasticsearch_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/internal/estest"
	"github.com/transitdb/transit/sinks/doc"
	es "github.com/transitdb/transit/sinks/elasticsearch"
)

// faulty is a Target on the test double with its generation 1 created.
func faulty(t *testing.T, mod ...func(*es.Config)) (*es.Target, *estest.Server, string) {
	t.Helper()
	u, srv := estest.Start(t)
	tg := newTarget(t, u, mod...)
	gen := genOf(tg, 1)
	must(t, tg.Create(context.Background(), gen))
	return tg, srv, gen
}

// TestStorm429 (acceptance 4): every request is refused with 429 for 5 s
// while batches are written; the writes wait it out and nothing is lost.
func TestStorm429(t *testing.T) {
	t.Parallel()
	tg, srv, gen := faulty(t, func(c *es.Config) { c.Retry.MaxElapsed = time.Minute })
	all := docs(3000, 100)
	srv.Faults.Reject429For(5 * time.Second)
	start := time.Now()
	written := 0
	for i := 0; i < len(all); i += 500 {
		res := mustWrite(t, tg, gen, all[i:i+500])
		written += res.Written
	}
	if time.Since(start) < 4*time.Second {
		t.Fatalf("the writes ended after %s, inside the storm", time.Since(start))
	}
	if srv.InjectedFaults("429") < 5 {
		t.Fatalf("only %d requests were refused; the storm did not happen", srv.InjectedFaults("429"))
	}
	if written != len(all) {
		t.Fatalf("written %d, want %d", written, len(all))
	}
	checkScan(t, tg, gen, all)
}

// TestItem429Retried: items refused with 429 inside a 200 bulk answer are
// sent again, and only they.
func TestItem429Retried(t *testing.T) {
	t.Parallel()
	tg, srv, gen := faulty(t)
	all := docs(2000, 3)
	srv.Faults.FailItemRate(0.05, 42)
	res := mustWrite(t, tg, gen, all)
	srv.Faults.Reset()
	if res.Written != len(all) {
		t.Fatalf("%+v; want all %d written", res, len(all))
	}
	refused, ok := srv.BulkItems("index 429"), srv.BulkItems("index 201")+srv.BulkItems("index 200")
	if refused == 0 {
		t.Fatal("no item was refused; the fault did not fire")
	}
	if ok != len(all) || srv.BulkItems("index") != len(all)+refused {
		t.Fatalf("server saw %d items (%d refused, %d stored); want %d: only refused items sent again",
			srv.BulkItems("index"), refused, ok, len(all)+refused)
	}
	checkScan(t, tg, gen, all)
}

// TestItemFailuresRejected (acceptance 4): 1% of the documents fail one by
// one (document_parsing_exception); the write ends with a reject naming
// each of them, and stores the rest.
func TestItemFailuresRejected(t *testing.T) {
	t.Parallel()
	tg, srv, gen := faulty(t)
	all := docs(2000, 1)
	var bad []string
	want := map[int]string{}
	for i := 0; i < len(all); i += 100 {
		i := i + (i/100)%7 // spread over the batch
		bad = append(bad, all[i].ID)
		want[i] = all[i].ID
	}
	srv.Faults.FailItems(400, bad...)
	res, err := tg.Write(context.Background(), gen, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejects) != len(bad) || res.Written != len(all)-len(bad) {
		t.Fatalf("written %d, %d rejects; want %d and %d", res.Written, len(res.Rejects), len(all)-len(bad), len(bad))
	}
	for _, r := range res.Rejects {
		id, ok := want[r.Row]
		if !ok {
			t.Fatalf("reject of row %d, which was not failed: %s", r.Row, r.Reason)
		}
		if !strings.Contains(r.Reason, id) || !strings.Contains(r.Reason, "document_parsing_exception") {
			t.Errorf("reject of %s: reason %q does not name the document and the failure", id, r.Reason)
		}
		delete(want, r.Row)
	}
	if srv.BulkItems("index 400") != len(bad) {
		t.Fatalf("failed items were sent %d times; a reject must not be retried", srv.BulkItems("index 400"))
	}
	var stored []doc.Doc
	for i, d := range all {
		if _, failed := want[i]; !failed && !slicesContains(bad, d.ID) {
			stored = append(stored, d)
		}
	}
	checkScan(t, tg, gen, stored)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestMappingErrorRejected: a value that does not fit the mapping is a
// reject with Elasticsearch's reason, on the double and on a real cluster;
// values JSON cannot hold are rejected before sending.
func TestMappingErrorRejected(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		tg := newTarget(t, b.url)
		gen := genOf(tg, 1)
		must(t, tg.Create(context.Background(), gen))
		ds := docs(4, 1)
		ds[1].Fields["n"] = "not a number"
		ds[2].Fields["price"] = nan()
		res, err := tg.Write(context.Background(), gen, ds)
		if err != nil {
			t.Fatal(err)
		}
		if res.Written != 2 || len(res.Rejects) != 2 {
			t.Fatalf("%+v; want 2 written, 2 rejects", res)
		}
		if r := res.Rejects[0]; r.Row != 1 || !strings.Contains(r.Reason, "document_parsing_exception") || !strings.Contains(r.Reason, ds[1].ID) {
			t.Errorf("reject %+v; want row 1, document_parsing_exception naming %s", r, ds[1].ID)
		}
		if r := res.Rejects[1]; r.Row != 2 || !strings.Contains(r.Reason, "finite") {
			t.Errorf("reject %+v; want row 2, not a finite number", r)
		}
	})
}

// TestTimeoutsAndDrops: an attempt that gets no answer in time, and
// connections dropped before or after the server applied the bulk, are
// retried; the result is as if nothing had happened.
func TestTimeoutsAndDrops(t *testing.T) {
	t.Parallel()
	tg, srv, gen := faulty(t, func(c *es.Config) { c.RequestTimeout = 300 * time.Millisecond })
	all := docs(600, 5)
	srv.Faults.DropConnections(2, false)
	mustWrite(t, tg, gen, all[:200])
	srv.Faults.DropConnections(2, true)
	mustWrite(t, tg, gen, all[200:400])
	if n := srv.InjectedFaults("drop"); n != 4 {
		t.Fatalf("%d connections dropped, want 4", n)
	}
	srv.Faults.Latency(time.Second)
	time.AfterFunc(1500*time.Millisecond, func() { srv.Faults.Latency(0) })
	start := time.Now()
	mustWrite(t, tg, gen, all[400:])
	if time.Since(start) < time.Second {
		t.Fatalf("the slow write returned after %s; the latency fault did not fire", time.Since(start))
	}
	checkScan(t, tg, gen, all)
}

// TestMissingProductHeader: a server that is not Elasticsearch is a clear
// error at once, not retried.
func TestMissingProductHeader(t *testing.T) {
	t.Parallel()
	u, srv := estest.Start(t)
	tg := newTarget(t, u)
	srv.Faults.OmitProductHeader(true)
	err := tg.Create(context.Background(), genOf(tg, 1))
	if err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Fatalf("err = %v; want the client's product check error", err)
	}
	if n := srv.Requests("PUT /" + genOf(tg, 1)); n != 1 {
		t.Fatalf("%d requests; a product check failure must not be retried", n)
	}
}

// TestBreaker: after BreakerFailures consecutive transient failures the
// breaker opens; the write waits the cool-down and goes on when the store
// answers again, or fails when its context ends while the breaker is open.
func TestBreaker(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var states []string
	b := border.New("search", border.Config{BreakerFailures: 3, BreakerCoolDown: 500 * time.Millisecond},
		border.IsTransient, nil, nil, border.Hooks{Breaker: func(_ string, to border.State) {
			mu.Lock()
			states = append(states, to.String())
			mu.Unlock()
		}})
	tg, srv, gen := faulty(t, func(c *es.Config) { c.Border = b; c.Retry.Initial, c.Retry.Max = time.Millisecond, 5*time.Millisecond })
	srv.Faults.Reject429(3)
	start := time.Now()
	mustWrite(t, tg, gen, docs(10, 1))
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("the write returned after %s; it should have waited the breaker's cool-down", el)
	}
	mu.Lock()
	got := strings.Join(states, ",")
	mu.Unlock()
	if got != "open,half-open,closed" {
		t.Fatalf("breaker went %s; want open,half-open,closed", got)
	}
	if n := srv.InjectedFaults("429"); n != 3 {
		t.Fatalf("%d refused requests; the breaker should have held the 4th back", n)
	}

	srv.Faults.Reject429For(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := tg.Write(ctx, gen, docs(10, 2))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write during an outage: %v; want the context's deadline", err)
	}
	if b.BreakerState() == border.Closed {
		t.Fatal("breaker closed during the outage")
	}
	if n := srv.InjectedFaults("429"); n > 3+4 {
		t.Fatalf("%d refused requests: the open breaker did not hold calls back", n)
	}
	srv.Faults.Reset()
}

func nan() float64 { return math.NaN() }

// TestBulkLimits: a Write is split into bulk requests of at most BulkDocs
// documents and BulkBytes bytes; a document larger than BulkBytes goes
// alone.
func TestBulkLimits(t *testing.T) {
	t.Parallel()
	tg, srv, gen := faulty(t, func(c *es.Config) { c.BulkDocs, c.BulkBytes = 100, 32<<10 })
	path := "POST /" + gen + "/_bulk"
	mustWrite(t, tg, gen, docs(350, 1)) // ~150 bytes each: the count limits
	if n := srv.Requests(path); n != 4 {
		t.Fatalf("350 docs by 100: %d bulk requests, want 4", n)
	}
	big := docs(3, 2)
	big[1].Fields["name"] = strings.Repeat("x", 40<<10)
	mustWrite(t, tg, gen, big) // the big one alone, between the others
	if n := srv.Requests(path) - 4; n != 3 {
		t.Fatalf("a doc over BulkBytes: %d bulk requests, want 3", n)
	}
	checkScan(t, tg, gen, append(big, docs(350, 1)[3:]...))
}

// TestBadRequestNotRetried: a 400 is the request's fault; it is returned
// at once with Elasticsearch's reason, never retried.
func TestBadRequestNotRetried(t *testing.T) {
	t.Parallel()
	u, srv := estest.Start(t)
	tg := newTarget(t, u, func(c *es.Config) {
		c.Mapping = map[string]any{"properties": map[string]any{"x": map[string]any{"type": "strng"}}}
	})
	gen := genOf(tg, 1)
	err := tg.Create(context.Background(), gen)
	var e *es.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Type != "mapper_parsing_exception" {
		t.Fatalf("err = %v; want a 400 mapper_parsing_exception", err)
	}
	if n := srv.Requests("PUT /" + gen); n != 1 {
		t.Fatalf("%d requests; a 400 must not be retried", n)
	}
}

package estest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/transitdb/transit/internal/estest"
)

func TestProductHeaderRemovedFailsClient(t *testing.T) {
	url, srv := estest.Start(t)
	srv.Faults.OmitProductHeader(true)
	es := newClient(t, url)
	_, err := try(es, esapi.InfoRequest{})
	if err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Fatalf("want product-check error, got %v", err)
	}
	srv.Faults.OmitProductHeader(false)
	want(t, do(t, es, esapi.InfoRequest{}), 200)
}

func TestReject429SeenByClient(t *testing.T) {
	url, srv := estest.Start(t)
	es := newClient(t, url)
	srv.Faults.Reject429(2)
	for i := 0; i < 2; i++ {
		r := do(t, es, esapi.BulkRequest{Index: "x", Body: ndjson(map[string]any{"index": map[string]any{"_id": "1"}}, map[string]any{"a": 1})})
		want(t, r, 429)
		if r.errType() != "es_rejected_execution_exception" || r.rootCauseType() != "es_rejected_execution_exception" {
			t.Fatalf("429 body: %s", r.Raw)
		}
	}
	want(t, do(t, es, esapi.BulkRequest{Index: "x", Body: ndjson(map[string]any{"index": map[string]any{"_id": "1"}}, map[string]any{"a": 1})}), 200)
	if srv.InjectedFaults("429") != 2 {
		t.Fatalf("faults: %d", srv.InjectedFaults("429"))
	}

	// With 429 in RetryOnStatus the transport retries through a short rejection.
	srv.Faults.Reject429(2)
	es2 := newClient(t, url, func(c *elasticsearch.Config) { c.RetryOnStatus = []int{429, 502, 503, 504} })
	want(t, do(t, es2, esapi.IndicesRefreshRequest{Index: []string{"x"}}), 200)

	srv.Faults.Reject429For(time.Hour)
	want(t, do(t, es, esapi.IndicesRefreshRequest{Index: []string{"x"}}), 429)
	srv.Faults.Reset()
	want(t, do(t, es, esapi.IndicesRefreshRequest{Index: []string{"x"}}), 200)
}

func TestUnavailable503RetriedByTransport(t *testing.T) {
	url, srv := estest.Start(t)
	es := newClient(t, url)
	srv.Faults.Unavailable503(2)
	want(t, do(t, es, esapi.IndicesCreateRequest{Index: "x"}), 200)
	if got := srv.Requests("PUT /x"); got != 3 {
		t.Fatalf("PUT /x requests: %d, want 3", got)
	}
}

func TestDropConnectionAfterApplyDuplicates(t *testing.T) {
	url, srv := estest.Start(t)
	es := newClient(t, url)
	want(t, do(t, es, esapi.IndicesCreateRequest{Index: "x"}), 200)
	srv.Faults.DropConnections(1, true)
	r := do(t, es, esapi.BulkRequest{Index: "x", Body: ndjson(ext("index", "1", 7, "external"), map[string]any{"a": 1})})
	it := bulkItems(t, r)
	// The first attempt was applied, then the transport retried the same bytes.
	if num(it[0]["status"]) != 409 || srv.BulkItems("index 201") != 1 || srv.InjectedFaults("drop") != 1 {
		t.Fatalf("retry after drop: %v", it)
	}
	srv.Faults.DropConnections(1, false)
	r = do(t, es, esapi.BulkRequest{Index: "x", Body: ndjson(ext("index", "2", 7, "external"), map[string]any{"a": 1})})
	if it := bulkItems(t, r); num(it[0]["status"]) != 201 {
		t.Fatalf("retry after drop-before: %v", it)
	}
	es3 := newClient(t, url, func(c *elasticsearch.Config) { c.DisableRetry = true })
	srv.Faults.DropConnections(1, false)
	if _, err := try(es3, esapi.IndicesRefreshRequest{}); err == nil {
		t.Fatal("dropped connection without retry: want transport error")
	}
}

func TestLatency(t *testing.T) {
	url, srv := estest.Start(t)
	es := newClient(t, url)
	srv.Faults.Latency(150 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := (esapi.IndicesRefreshRequest{}).Do(ctx, es); err == nil {
		t.Fatal("want deadline error under latency")
	}
	start := time.Now()
	want(t, do(t, es, esapi.IndicesRefreshRequest{}), 200)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("latency not applied: %v", d)
	}
}

func TestItemFailures(t *testing.T) {
	url, srv := estest.Start(t)
	es := newClient(t, url)
	srv.Faults.FailItems(429, "b")
	srv.Faults.FailItems(400, "c")
	r := do(t, es, esapi.BulkRequest{Index: "x", Body: ndjson(
		map[string]any{"index": map[string]any{"_id": "a"}}, map[string]any{"n": 1},
		map[string]any{"index": map[string]any{"_id": "b"}}, map[string]any{"n": 1},
		map[string]any{"index": map[string]any{"_id": "c"}}, map[string]any{"n": 1})})
	if r.Body["errors"] != true {
		t.Fatalf("errors flag: %s", r.Raw)
	}
	it := bulkItems(t, r)
	if num(it[0]["status"]) != 201 || num(it[1]["status"]) != 429 || num(it[2]["status"]) != 400 ||
		it[1]["error"].(map[string]any)["type"] != "es_rejected_execution_exception" ||
		it[2]["error"].(map[string]any)["type"] != "document_parsing_exception" {
		t.Fatalf("items: %v", it)
	}

	srv.Faults.Reset()
	srv.Faults.FailItemRate(0.01, 42)
	var lines []any
	for i := 0; i < 5000; i++ {
		lines = append(lines, map[string]any{"index": map[string]any{"_id": fmt.Sprint("r", i)}}, map[string]any{"n": i})
	}
	failed := 0
	for _, it := range bulkItems(t, do(t, es, esapi.BulkRequest{Index: "y", Body: ndjson(lines...)})) {
		if num(it["status"]) == 429 {
			failed++
		}
	}
	if failed < 20 || failed > 90 {
		t.Fatalf("1%% of 5000 items failed %d times", failed)
	}
}

func TestBulkIndexer(t *testing.T) {
	url, srv := estest.Start(t)
	es := newClient(t, url)
	want(t, do(t, es, esapi.IndicesCreateRequest{Index: "bi", Body: jsonBody(feedMapping)}), 200)
	srv.Faults.FailItems(409, "k7")
	var ok, failed atomic.Int64
	var mu sync.Mutex
	failTypes := map[string]int{}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: "bi", NumWorkers: 2, FlushBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	add := func(action, id string, v int64, body string) {
		item := esutil.BulkIndexerItem{Action: action, DocumentID: id, Version: &v, VersionType: "external_gte",
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) },
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				mu.Lock()
				failTypes[res.Error.Type]++
				mu.Unlock()
			}}
		if body != "" {
			item.Body = strings.NewReader(body)
		}
		if err := bi.Add(context.Background(), item); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 300; i++ {
		add("index", fmt.Sprint("k", i), 5, fmt.Sprintf(`{"doc_id":"k%d","price":%d}`, i, i))
	}
	add("index", "bad", 5, `{"doc_id":"bad","price":"cheap"}`)
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 299 || failed.Load() != 2 || failTypes["version_conflict_engine_exception"] != 1 || failTypes["document_parsing_exception"] != 1 {
		t.Fatalf("ok=%d failed=%d types=%v", ok.Load(), failed.Load(), failTypes)
	}
	if st := bi.Stats(); st.NumFlushed != 299 || st.NumFailed != 2 {
		t.Fatalf("stats %+v", st)
	}
	want(t, do(t, es, esapi.IndicesRefreshRequest{Index: []string{"bi"}}), 200)
	if r := do(t, es, esapi.CountRequest{Index: []string{"bi"}}); num(r.Body["count"]) != 299 {
		t.Fatalf("count: %s", r.Raw)
	}

	// Whole-request 429 and a missing product header reach OnError.
	for _, fault := range []func(){func() { srv.Faults.Reject429(100) }, func() { srv.Faults.OmitProductHeader(true) }} {
		srv.Faults.Reset()
		fault()
		var flushErrs atomic.Int64
		es := newClient(t, url) // fresh client: product check not yet passed
		bi, _ := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: "bi", NumWorkers: 1,
			OnError: func(context.Context, error) { flushErrs.Add(1) }})
		_ = bi.Add(context.Background(), esutil.BulkIndexerItem{Action: "index", DocumentID: "z", Body: bytes.NewReader([]byte(`{}`))})
		_ = bi.Close(context.Background())
		if flushErrs.Load() != 1 || bi.Stats().NumFailed != 1 {
			t.Fatalf("flush error not reported: %d %+v", flushErrs.Load(), bi.Stats())
		}
	}
	if srv.Requests("POST /bi/_bulk") == 0 || srv.BulkItems("index") < 301 {
		t.Fatalf("counters: %d %d", srv.Requests("POST /bi/_bulk"), srv.BulkItems("index"))
	}
}

func TestGzipCompatAndEscapedIDs(t *testing.T) {
	url, _ := estest.Start(t)
	es := newClient(t, url, func(c *elasticsearch.Config) { c.CompressRequestBody = true; c.EnableCompatibilityMode = true })
	it := bulkItems(t, do(t, es, esapi.BulkRequest{Index: "g", Body: ndjson(
		map[string]any{"index": map[string]any{"_id": "a/b c"}}, map[string]any{"n": 1})}))
	if num(it[0]["status"]) != 201 {
		t.Fatalf("gzip bulk: %v", it)
	}
	r := do(t, es, esapi.GetRequest{Index: "g", DocumentID: "a%2Fb%20c"})
	want(t, r, 200)
	if r.Body["_id"] != "a/b c" {
		t.Fatalf("escaped id: %s", r.Raw)
	}
	r = do(t, es, esapi.GetRequest{Index: "g", DocumentID: "nope"})
	if r.Status != 404 || r.Body["found"] != false {
		t.Fatalf("missing doc: %s", r.Raw)
	}
	r = do(t, es, esapi.PingRequest{})
	want(t, r, 200)
	if rr, _ := http.Get(url + "/g/_nope"); rr == nil || rr.StatusCode != 400 || rr.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("unknown route: %v", rr)
	}
}

func TestNRTNeedsRefresh(t *testing.T) {
	url, _ := estest.StartWith(t, estest.Options{NRT: true})
	es := newClient(t, url)
	want(t, do(t, es, esapi.BulkRequest{Index: "n", Body: ndjson(map[string]any{"index": map[string]any{"_id": "1"}}, map[string]any{"n": 1})}), 200)
	if r := do(t, es, esapi.CountRequest{Index: []string{"n"}}); num(r.Body["count"]) != 0 {
		t.Fatalf("count before refresh: %s", r.Raw)
	}
	want(t, do(t, es, esapi.GetRequest{Index: "n", DocumentID: "1"}), 200) // GET is real-time
	want(t, do(t, es, esapi.IndicesRefreshRequest{Index: []string{"n"}}), 200)
	if r := do(t, es, esapi.CountRequest{Index: []string{"n"}}); num(r.Body["count"]) != 1 {
		t.Fatalf("count after refresh: %s", r.Raw)
	}
}

func TestTombstoneGC(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	url, _ := estest.StartWith(t, estest.Options{Now: clock})
	es := newClient(t, url)
	it := bulk(t, es, "t", ext("delete", "x", 9, "external"), ext("index", "x", 8, "external"), map[string]any{"n": 1})
	if num(it[0]["status"]) != 404 || num(it[1]["status"]) != 409 {
		t.Fatalf("tombstone of missing doc: %v", it)
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	it = bulk(t, es, "t", ext("index", "x", 8, "external"), map[string]any{"n": 1})
	if num(it[0]["status"]) != 201 {
		t.Fatalf("after gc_deletes: %v", it)
	}
}

func TestConcurrentBulk(t *testing.T) {
	url, _ := estest.Start(t)
	es := newClient(t, url)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := int64(1); v <= 20; v++ {
				r, err := try(es, esapi.BulkRequest{Index: "c", Body: ndjson(ext("index", "same", v, "external_gte"), map[string]any{"v": v})})
				if err != nil || r.Status != 200 {
					t.Errorf("bulk: %v %d", err, r.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := do(t, es, esapi.GetRequest{Index: "c", DocumentID: "same"})
	if num(r.Body["_version"]) != 20 {
		t.Fatalf("final version: %s", r.Raw)
	}
}

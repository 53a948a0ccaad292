package estest_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

type esClient = *elasticsearch.Client

func search(t *testing.T, es esClient, index string, body any) resp {
	t.Helper()
	req := esapi.SearchRequest{Body: jsonBody(body)}
	if index != "" {
		req.Index = []string{index}
	}
	return do(t, es, req)
}

func hitsOf(r resp) []map[string]any {
	var out []map[string]any
	for _, h := range r.Body["hits"].(map[string]any)["hits"].([]any) {
		out = append(out, h.(map[string]any))
	}
	return out
}

func testSearchAndSort(t *testing.T, es esClient) {
	name := uniq("srch")
	createIndex(t, es, name, feedMapping)
	var lines []any
	for i := 0; i < 25; i++ {
		lines = append(lines, map[string]any{"index": map[string]any{"_id": fmt.Sprintf("d%02d", i)}},
			map[string]any{"doc_id": fmt.Sprintf("d%02d", i), "price": 100 - i, "title": "mug"})
	}
	bulk(t, es, name, lines...)
	r := do(t, es, esapi.CountRequest{Index: []string{name}})
	if num(r.Body["count"]) != 25 {
		t.Fatalf("count: %s", r.Raw)
	}
	r = search(t, es, name, map[string]any{"size": 5, "sort": []any{map[string]any{"price": "asc"}}})
	want(t, r, 200)
	h := hitsOf(r)
	if len(h) != 5 || h[0]["_id"] != "d24" || num(h[0]["sort"].([]any)[0]) != 76 {
		t.Fatalf("sorted page: %s", r.Raw)
	}
	// search_after continues strictly after the last sort tuple.
	r = search(t, es, name, map[string]any{"size": 5, "sort": []any{map[string]any{"price": "asc"}},
		"search_after": h[4]["sort"]})
	h2 := hitsOf(r)
	if len(h2) != 5 || h2[0]["_id"] != "d19" {
		t.Fatalf("search_after: %s", r.Raw)
	}
	r = search(t, es, name, map[string]any{"query": map[string]any{"ids": map[string]any{"values": []any{"d01", "d02"}}}})
	if n := len(hitsOf(r)); n != 2 {
		t.Fatalf("ids: %d %s", n, r.Raw)
	}
	r = search(t, es, name, map[string]any{"query": map[string]any{"term": map[string]any{"doc_id": "d07"}},
		"sort": []any{map[string]any{"doc_id": map[string]any{"order": "desc"}}}})
	if h := hitsOf(r); len(h) != 1 || h[0]["_id"] != "d07" || h[0]["sort"].([]any)[0] != "d07" {
		t.Fatalf("term: %s", r.Raw)
	}
	r = search(t, es, name, map[string]any{"query": map[string]any{"nope": map[string]any{}}})
	want(t, r, 400)
	r = search(t, es, name, map[string]any{"sort": []any{"title"}})
	want(t, r, 400)
	r = search(t, es, name, map[string]any{"sort": []any{"no_such_field"}})
	if r.Status != 400 || r.rootCauseType() != "query_shard_exception" {
		t.Fatalf("unmapped sort: %s", r.Raw)
	}
}

func testIDSortRejected(t *testing.T, es esClient) {
	name := uniq("idsort")
	createIndex(t, es, name, feedMapping)
	bulk(t, es, name, map[string]any{"index": map[string]any{"_id": "1"}}, map[string]any{"doc_id": "1"})
	r := search(t, es, name, map[string]any{"sort": []any{map[string]any{"_id": "asc"}}})
	want(t, r, 400)
	if r.errType() != "search_phase_execution_exception" || r.rootCauseType() != "illegal_argument_exception" {
		t.Fatalf("_id sort: %s", r.Raw)
	}
}

func testPITWalk(t *testing.T, es esClient, n int) {
	name := uniq("pit")
	createIndex(t, es, name, feedMapping)
	const batch = 2000
	for start := 0; start < n; start += batch {
		var lines []any
		for i := start; i < start+batch && i < n; i++ {
			id := fmt.Sprintf("k%06d", i)
			lines = append(lines, map[string]any{"index": map[string]any{"_id": id}},
				map[string]any{"doc_id": id, "price": i % 7})
		}
		for _, it := range bulk(t, es, name, lines...) {
			if s := num(it["status"]); s != 201 {
				t.Fatalf("load: %v", it)
			}
		}
	}
	r := do(t, es, esapi.OpenPointInTimeRequest{Index: []string{name}, KeepAlive: "1m"})
	want(t, r, 200)
	pitID := r.Body["id"].(string)
	// Writes after the PIT opened are invisible to it.
	bulk(t, es, name, map[string]any{"index": map[string]any{"_id": "late"}}, map[string]any{"doc_id": "late"})

	// PIT with an index in the path is rejected.
	r = search(t, es, name, map[string]any{"pit": map[string]any{"id": pitID}})
	want(t, r, 400)

	// Walk twice: on a unique key, and on a key with ties where only the
	// implicit _shard_doc tiebreak keeps pages from overlapping.
	for _, srt := range [][]any{
		{map[string]any{"price": "asc"}, map[string]any{"doc_id": "asc"}},
		{map[string]any{"price": "desc"}},
	} {
		pitID = walkPIT(t, es, pitID, srt, n)
	}
	r = do(t, es, esapi.ClosePointInTimeRequest{Body: jsonBody(map[string]any{"id": pitID})})
	want(t, r, 200)
	r = do(t, es, esapi.ClosePointInTimeRequest{Body: jsonBody(map[string]any{"id": pitID})})
	want(t, r, 404)
	r = search(t, es, "", map[string]any{"pit": map[string]any{"id": pitID}})
	want(t, r, 404)
	var rc string
	if e, ok := r.Body["error"].(map[string]any); ok {
		b, _ := json.Marshal(e["root_cause"])
		rc = string(b)
	}
	if r.rootCauseType() != "search_context_missing_exception" {
		t.Fatalf("closed pit: %s", rc)
	}
}

func walkPIT(t *testing.T, es esClient, pitID string, srt []any, n int) string {
	t.Helper()
	var r resp
	seen := map[string]int{}
	var after []any
	for pages := 0; ; pages++ {
		body := map[string]any{"size": 1000, "pit": map[string]any{"id": pitID, "keep_alive": "1m"},
			"sort": srt, "track_total_hits": false}
		if after != nil {
			body["search_after"] = after
		}
		r = search(t, es, "", body)
		want(t, r, 200)
		if id, ok := r.Body["pit_id"].(string); ok {
			pitID = id
		}
		h := hitsOf(r)
		if len(h) == 0 {
			break
		}
		for _, x := range h {
			seen[x["_id"].(string)]++
		}
		after = h[len(h)-1]["sort"].([]any)
		if len(after) != len(srt)+1 {
			t.Fatalf("sort values should carry the implicit _shard_doc tiebreak: %v", after)
		}
		if pages > n {
			t.Fatal("walk does not end")
		}
	}
	if len(seen) != n || seen["late"] != 0 {
		t.Fatalf("walk saw %d distinct docs (late=%d), want %d", len(seen), seen["late"], n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s seen %d times", id, c)
		}
	}
	return pitID
}

package estest_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/transitdb/transit/internal/estest"
)

// These client-level assertions run against the test double and, when
// TRANSIT_TEST_ES_URL is set, against a real cluster, so the double is checked
// against the behaviour it claims.

func TestConformanceDouble(t *testing.T) {
	url, _ := estest.Start(t)
	runConformance(t, url)
}

func TestRealClusterConformance(t *testing.T) {
	url := os.Getenv("TRANSIT_TEST_ES_URL")
	if url == "" {
		t.Skip("TRANSIT_TEST_ES_URL not set: no Elasticsearch cluster can exist on these machines; " +
			"this opt-in suite checks the estest double against a real ES 8 cluster (allowed skip, also under CI)")
	}
	runConformance(t, url)
}

func uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func runConformance(t *testing.T, url string) {
	es := newClient(t, url)
	t.Run("Info", func(t *testing.T) {
		r := do(t, es, esapi.InfoRequest{})
		want(t, r, 200)
		if v := r.Body["version"].(map[string]any)["number"].(string); !strings.HasPrefix(v, "8.") {
			t.Fatalf("version %q", v)
		}
	})
	t.Run("IndexLifecycle", func(t *testing.T) { testIndexLifecycle(t, es) })
	t.Run("ExternalVersioning", func(t *testing.T) { testExternalVersioning(t, es) })
	t.Run("BulkActions", func(t *testing.T) { testBulkActions(t, es) })
	t.Run("MappingConflict", func(t *testing.T) { testMappingConflict(t, es) })
	t.Run("AliasSwap", func(t *testing.T) { testAliasSwap(t, es) })
	t.Run("SearchAndSort", func(t *testing.T) { testSearchAndSort(t, es) })
	t.Run("IDSortRejected", func(t *testing.T) { testIDSortRejected(t, es) })
	t.Run("PITWalk10k", func(t *testing.T) { testPITWalk(t, es, 10000) })
}

func createIndex(t *testing.T, es esClient, name string, body any) {
	t.Helper()
	want(t, do(t, es, esapi.IndicesCreateRequest{Index: name, Body: jsonBody(body)}), 200)
	t.Cleanup(func() { _, _ = try(es, esapi.IndicesDeleteRequest{Index: []string{name}}) })
}

var feedMapping = map[string]any{
	"settings": map[string]any{"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
	"mappings": map[string]any{"properties": map[string]any{
		"doc_id": map[string]any{"type": "keyword"},
		"title":  map[string]any{"type": "text", "fields": map[string]any{"raw": map[string]any{"type": "keyword"}}},
		"price":  map[string]any{"type": "long"},
	}},
}

func testIndexLifecycle(t *testing.T, es esClient) {
	name := uniq("lc")
	createIndex(t, es, name, feedMapping)
	r := do(t, es, esapi.IndicesCreateRequest{Index: name})
	want(t, r, 400)
	if r.errType() != "resource_already_exists_exception" || r.rootCauseType() != "resource_already_exists_exception" {
		t.Fatalf("create twice: %s", r.Raw)
	}
	want(t, do(t, es, esapi.IndicesCreateRequest{Index: "Upper" + name}), 400)
	want(t, do(t, es, esapi.IndicesExistsRequest{Index: []string{name}}), 200)
	want(t, do(t, es, esapi.IndicesExistsRequest{Index: []string{name + "-nope"}}), 404)

	want(t, do(t, es, esapi.IndicesPutSettingsRequest{Index: []string{name},
		Body: jsonBody(map[string]any{"index": map[string]any{"refresh_interval": "-1", "number_of_replicas": 2}})}), 200)
	r = do(t, es, esapi.IndicesGetSettingsRequest{Index: []string{name}})
	want(t, r, 200)
	st := r.Body[name].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)
	if st["refresh_interval"] != "-1" || st["number_of_replicas"] != "2" {
		t.Fatalf("settings: %s", r.Raw)
	}
	want(t, do(t, es, esapi.IndicesPutMappingRequest{Index: []string{name},
		Body: jsonBody(map[string]any{"properties": map[string]any{"stock": map[string]any{"type": "long"}}})}), 200)
	r = do(t, es, esapi.IndicesGetMappingRequest{Index: []string{name}})
	props := r.Body[name].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	if props["stock"] == nil || props["price"] == nil {
		t.Fatalf("mapping: %s", r.Raw)
	}
	r = do(t, es, esapi.IndicesGetRequest{Index: []string{name}})
	want(t, r, 200)
	if r.Body[name] == nil {
		t.Fatalf("get index: %s", r.Raw)
	}
	want(t, do(t, es, esapi.IndicesDeleteRequest{Index: []string{name}}), 200)
	r = do(t, es, esapi.IndicesDeleteRequest{Index: []string{name}})
	want(t, r, 404)
	if r.errType() != "index_not_found_exception" || r.Body["status"] == nil {
		t.Fatalf("delete missing: %s", r.Raw)
	}
}

func bulk(t *testing.T, es esClient, index string, lines ...any) []map[string]any {
	t.Helper()
	return bulkItems(t, do(t, es, esapi.BulkRequest{Index: index, Body: ndjson(lines...), Refresh: "true"}))
}

func ext(action, id string, v int64, vt string) map[string]any {
	return map[string]any{action: map[string]any{"_id": id, "version": v, "version_type": vt}}
}

func testExternalVersioning(t *testing.T, es esClient) {
	name := uniq("ver")
	createIndex(t, es, name, feedMapping)
	doc := map[string]any{"doc_id": "a", "price": 1}
	it := bulk(t, es, name, ext("index", "a", 10, "external_gte"), doc)
	if num(it[0]["status"]) != 201 || num(it[0]["_version"]) != 10 || it[0]["result"] != "created" {
		t.Fatalf("first write: %v", it[0])
	}
	// Replay of the same version with external_gte: accepted, no newer version appears.
	it = bulk(t, es, name, ext("index", "a", 10, "external_gte"), doc)
	if num(it[0]["status"]) != 200 || num(it[0]["_version"]) != 10 {
		t.Fatalf("equal external_gte: %v", it[0])
	}
	// Equal version with plain external is a conflict.
	it = bulk(t, es, name, ext("index", "a", 10, "external"), doc)
	if num(it[0]["status"]) != 409 || it[0]["error"].(map[string]any)["type"] != "version_conflict_engine_exception" {
		t.Fatalf("equal external: %v", it[0])
	}
	// Older version: conflict, document unchanged.
	it = bulk(t, es, name, ext("index", "a", 5, "external_gte"), map[string]any{"doc_id": "a", "price": 99})
	if num(it[0]["status"]) != 409 || it[0]["error"].(map[string]any)["type"] != "version_conflict_engine_exception" {
		t.Fatalf("older: %v", it[0])
	}
	r := do(t, es, esapi.GetRequest{Index: name, DocumentID: "a"})
	want(t, r, 200)
	if num(r.Body["_version"]) != 10 || num(r.Body["_source"].(map[string]any)["price"]) != 1 {
		t.Fatalf("after conflict: %s", r.Raw)
	}
	// Newer version wins; delete with an external version leaves a tombstone.
	it = bulk(t, es, name, ext("index", "a", 11, "external_gte"), map[string]any{"doc_id": "a", "price": 2},
		ext("delete", "a", 12, "external_gte"), ext("index", "a", 12, "external"), doc)
	if num(it[0]["status"]) != 200 || num(it[1]["status"]) != 200 || it[1]["result"] != "deleted" || num(it[2]["status"]) != 409 {
		t.Fatalf("newer/delete/tombstone: %v", it)
	}
	want(t, do(t, es, esapi.GetRequest{Index: name, DocumentID: "a"}), 404)
	// Negative version: whole request rejected.
	r = do(t, es, esapi.BulkRequest{Index: name, Body: ndjson(ext("index", "b", -5, "external"), doc)})
	want(t, r, 400)
	if r.errType() != "action_request_validation_exception" {
		t.Fatalf("negative version: %s", r.Raw)
	}
	// Missing _id on delete is rejected.
	r = do(t, es, esapi.BulkRequest{Index: name, Body: ndjson(map[string]any{"delete": map[string]any{}})})
	want(t, r, 400)
}

func testBulkActions(t *testing.T, es esClient) {
	name := uniq("bulk")
	createIndex(t, es, name, feedMapping)
	it := bulk(t, es, name,
		map[string]any{"create": map[string]any{"_id": "c"}}, map[string]any{"doc_id": "c", "price": 1},
		map[string]any{"create": map[string]any{"_id": "c"}}, map[string]any{"doc_id": "c", "price": 1},
		map[string]any{"update": map[string]any{"_id": "c"}}, map[string]any{"doc": map[string]any{"price": 2}},
		map[string]any{"update": map[string]any{"_id": "zz"}}, map[string]any{"doc": map[string]any{"price": 2}},
		map[string]any{"delete": map[string]any{"_id": "c"}},
		map[string]any{"delete": map[string]any{"_id": "c"}},
	)
	got := []int64{}
	for _, i := range it {
		got = append(got, num(i["status"]))
	}
	if fmt.Sprint(got) != "[201 409 200 404 200 404]" {
		t.Fatalf("statuses %v: %v", got, it)
	}
	if it[5]["result"] != "not_found" || it[5]["error"] != nil {
		t.Fatalf("delete missing: %v", it[5])
	}
	r := do(t, es, esapi.BulkRequest{Index: name, Body: strings.NewReader(`{"index":{"_id":"x"}}` + "\n" + `{"a":1}`)})
	want(t, r, 400)
}

func testMappingConflict(t *testing.T, es esClient) {
	name := uniq("map")
	createIndex(t, es, name, feedMapping)
	it := bulk(t, es, name,
		map[string]any{"index": map[string]any{"_id": "ok"}}, map[string]any{"doc_id": "ok", "price": 3},
		map[string]any{"index": map[string]any{"_id": "bad"}}, map[string]any{"doc_id": "bad", "price": "cheap"})
	if num(it[0]["status"]) != 201 || num(it[1]["status"]) != 400 {
		t.Fatalf("items: %v", it)
	}
	if typ := it[1]["error"].(map[string]any)["type"]; typ != "document_parsing_exception" && typ != "mapper_parsing_exception" {
		t.Fatalf("type %v", typ)
	}
}

func testAliasSwap(t *testing.T, es esClient) {
	alias := uniq("al")
	v1, v2 := alias+"-v1", alias+"-v2"
	createIndex(t, es, v1, feedMapping)
	createIndex(t, es, v2, feedMapping)
	bulk(t, es, v1, map[string]any{"index": map[string]any{"_id": "1"}}, map[string]any{"doc_id": "old"})
	bulk(t, es, v2, map[string]any{"index": map[string]any{"_id": "1"}}, map[string]any{"doc_id": "new"})
	actions := func(a ...any) esapi.IndicesUpdateAliasesRequest {
		return esapi.IndicesUpdateAliasesRequest{Body: jsonBody(map[string]any{"actions": a})}
	}
	want(t, do(t, es, actions(map[string]any{"add": map[string]any{"index": v1, "alias": alias}})), 200)
	readDoc := func() string {
		r := do(t, es, esapi.GetRequest{Index: alias, DocumentID: "1"})
		want(t, r, 200)
		return r.Body["_source"].(map[string]any)["doc_id"].(string)
	}
	if got := readDoc(); got != "old" {
		t.Fatalf("through alias: %s", got)
	}
	// A failing action list changes nothing.
	r := do(t, es, actions(
		map[string]any{"remove": map[string]any{"index": v1, "alias": alias}},
		map[string]any{"add": map[string]any{"index": alias + "-missing", "alias": alias}}))
	want(t, r, 404)
	if got := readDoc(); got != "old" {
		t.Fatalf("after failed swap: %s", got)
	}
	want(t, do(t, es, actions(
		map[string]any{"remove": map[string]any{"index": v1, "alias": alias}},
		map[string]any{"add": map[string]any{"index": v2, "alias": alias, "is_write_index": true}},
		map[string]any{"remove_index": map[string]any{"index": v1}})), 200)
	if got := readDoc(); got != "new" {
		t.Fatalf("after swap: %s", got)
	}
	want(t, do(t, es, esapi.IndicesExistsRequest{Index: []string{v1}}), 404)
	r = do(t, es, esapi.IndicesGetAliasRequest{Name: []string{alias}})
	want(t, r, 200)
	if len(r.Body) != 1 || r.Body[v2] == nil {
		t.Fatalf("get alias: %s", r.Raw)
	}
	r = do(t, es, esapi.IndicesGetAliasRequest{Name: []string{alias + "-none"}})
	want(t, r, 404)
	if _, isStr := r.Body["error"].(string); !isStr {
		t.Fatalf("alias 404 body: %s", r.Raw)
	}
	r = do(t, es, esapi.CatAliasesRequest{Name: []string{alias}, Format: "json"})
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.Raw), &rows); err != nil || len(rows) != 1 || rows[0]["index"] != v2 {
		t.Fatalf("cat aliases: %s", r.Raw)
	}
	r = do(t, es, esapi.CatIndicesRequest{Index: []string{alias + "-v*"}, Format: "json"})
	if err := json.Unmarshal([]byte(r.Raw), &rows); err != nil || len(rows) != 1 || rows[0]["index"] != v2 {
		t.Fatalf("cat indices: %s", r.Raw)
	}
	r = do(t, es, esapi.CatIndicesRequest{Index: []string{alias + "-v*"}, Format: "json", H: []string{"index"}})
	var hrows []map[string]any
	if err := json.Unmarshal([]byte(r.Raw), &hrows); err != nil || len(hrows) != 1 || len(hrows[0]) != 1 || hrows[0]["index"] != v2 {
		t.Fatalf("cat indices with h=index: %s", r.Raw)
	}
	r = do(t, es, esapi.IndicesDeleteRequest{Index: []string{alias}})
	want(t, r, 400)
	// Writes through the alias go to the write index.
	it := bulk(t, es, alias, map[string]any{"index": map[string]any{"_id": "2"}}, map[string]any{"doc_id": "w"})
	if it[0]["_index"] != v2 {
		t.Fatalf("write through alias: %v", it[0])
	}
}

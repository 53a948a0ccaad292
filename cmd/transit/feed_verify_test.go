package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/transitdb/transit/internal/estest"
	"github.com/transitdb/transit/internal/testenv"
)

// esFeedPlan writes a plan with one Elasticsearch feed "cs" of
// shop.customer into alias customers of the test double at esURL.
func esFeedPlan(t *testing.T, url, esURL string) string {
	t.Helper()
	p := writePlan(t, fmt.Sprintf(`version: 1
name: %s
stores:
  main: { kind: postgres, url: %q, schema: shop }
  search: { kind: elasticsearch, url: %q }
feeds:
  cs:
    from: main.customer
    to: search.customers
    id: [id]
`, testenv.Unique("fe"), url, esURL))
	t.Cleanup(func() { _, _, _ = transitRun(t, "feed", "drop", p, "--feed", "cs") })
	return p
}

// esDo sends one request to the test double and fails the test on a
// status above 299.
func esDo(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return string(b)
}

// checkFeedVerify: verify --feed finds nothing after a rebuild; after
// inject (a missing, an extra and a changed document) it exits 1 naming
// each; --repair exits 0, and so does a verify after it; feed status shows
// the last verify.
func checkFeedVerify(t *testing.T, planPath, feed string, inject func()) {
	t.Helper()
	if code, out, errOut := transitRun(t, "feed", "rebuild", planPath, "--feed", feed); code != 0 {
		t.Fatalf("rebuild: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := transitRun(t, "verify", planPath, "--feed", feed); code != 0 {
		t.Fatalf("verify after the rebuild: %d\n%s\n%s", code, out, errOut)
	}
	inject()
	code, out, errOut := transitRun(t, "verify", planPath, "--feed", feed)
	if code != 1 {
		t.Fatalf("verify of a damaged feed: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	t.Logf("verify found:\n%s", out)
	mustContain(t, out, "missing", "extra", "changed", "damaged")
	code, jout, errOut := transitRun(t, "verify", planPath, "--feed", feed, "--output", "json")
	if code != 1 {
		t.Fatalf("verify --output json: exit %d\n%s\n%s", code, jout, errOut)
	}
	mustContain(t, jout, `"missing":1,"extra":1,"changed":1`, `{"key":["3"],"kind":"missing"`, `{"key":["999"],"kind":"extra"`,
		`{"key":["5"],"kind":"changed","fields":[{"column":"name","old":"name 5","new":"damaged"}]`)
	if code, out, errOut = transitRun(t, "verify", planPath, "--feed", feed, "--repair", "--output", "json"); code != 0 {
		t.Fatalf("verify --repair: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, `"status":"consistent"`, `"repaired":3`)
	if code, out, errOut = transitRun(t, "verify", planPath, "--feed", feed); code != 0 {
		t.Fatalf("verify after the repair: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = transitRun(t, "feed", "status", planPath, "--feed", feed)
	if code != 0 {
		t.Fatalf("status: %d %s %s", code, out, errOut)
	}
	mustContain(t, out, "equal: 50 documents")
	// --no-verify switches without the compare: the last verify stays.
	if code, out, errOut = transitRun(t, "feed", "rebuild", planPath, "--feed", feed, "--no-verify"); code != 0 {
		t.Fatalf("rebuild --no-verify: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = transitRun(t, "feed", "status", planPath, "--feed", feed); code != 0 || regexp.MustCompile(`rebuild \S+: equal`).MatchString(out) {
		t.Fatalf("status after rebuild --no-verify: %d %s %s", code, out, errOut)
	}
	mustContain(t, out, "equal: 50 documents")
}

// TestFeedVerifyRedis: transit verify --feed against a Redis keyspace.
func TestFeedVerifyRedis(t *testing.T) {
	_, prefix, planPath, rdb := feedSetup(t, 50)
	ctx := context.Background()
	checkFeedVerify(t, planPath, "cust", func() {
		rdb.Del(ctx, prefix+"c:3")
		rdb.HSet(ctx, prefix+"c:999", "id", "999", "name", "ghost", "_v", "00000000000000000001")
		rdb.HSet(ctx, prefix+"c:5", "name", "damaged")
	})
}

// TestFeedVerifyES: transit verify --feed against an index of the
// Elasticsearch test double.
func TestFeedVerifyES(t *testing.T) {
	url := testenv.LogicalPostgres(t)
	testenv.Exec(t, url, `CREATE SCHEMA shop`,
		`CREATE TABLE shop.customer (id int PRIMARY KEY, name text NOT NULL, email text, score numeric(8,2))`,
		`INSERT INTO shop.customer SELECT g, 'name '||g, 'c'||g||'@x.org', g/4.0 FROM generate_series(1, 50) g`)
	esURL, _ := estest.Start(t)
	planPath := esFeedPlan(t, url, esURL)
	checkFeedVerify(t, planPath, "cs", func() {
		esDo(t, "DELETE", esURL+"/customers_v1/_doc/3", "")
		esDo(t, "PUT", esURL+"/customers_v1/_doc/999?version=1&version_type=external", `{"_transit_id":"999","id":999,"name":"ghost"}`)
		// Changed under the version it has (a store damaged behind the
		// feed's back): a repair at a newer version mends it.
		var got struct {
			Version int64 `json:"_version"`
		}
		if err := json.Unmarshal([]byte(esDo(t, "GET", esURL+"/customers_v1/_doc/5", "")), &got); err != nil || got.Version == 0 {
			t.Fatalf("get doc 5: %v %+v", err, got)
		}
		esDo(t, "PUT", fmt.Sprintf("%s/customers_v1/_doc/5?version=%d&version_type=external_gte", esURL, got.Version),
			`{"_transit_id":"5","id":5,"name":"damaged","email":"c5@x.org","score":1.25}`)
	})
}

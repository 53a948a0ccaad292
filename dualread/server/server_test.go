package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transitdb/transit/dualread"
	"github.com/transitdb/transit/internal/testenv"
)

// fixture: MariaDB table orders (ids 1..n) behind a testenv.Proxy, copied
// into PostgreSQL (schema shop) by hand, and a plan between them.
type fixture struct {
	plan  string
	purl  string
	proxy *testenv.Proxy
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	for _, s := range []string{
		`CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(40) NOT NULL, updated_at DATETIME(6) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO orders SELECT seq, CONCAT('customer ', seq), TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM seq_1_to_%d`, n),
		`CREATE TABLE order_lines (order_id BIGINT NOT NULL, line_no INT NOT NULL, sku VARCHAR(20) NOT NULL, PRIMARY KEY (order_id, line_no))`,
		`INSERT INTO order_lines VALUES (1, 1, 'a'), (1, 2, 'b')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Exec(t, purl, `CREATE SCHEMA shop`,
		`CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer varchar(40) NOT NULL, updated_at timestamp(6) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO shop.orders SELECT g, 'customer ' || g, timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, %d) g`, n/2),
		`CREATE TABLE shop.order_lines (order_id bigint, line_no int, sku varchar(20) NOT NULL, PRIMARY KEY (order_id, line_no))`)
	u, _ := url.Parse(murl)
	f := &fixture{purl: purl, proxy: testenv.NewProxy(t, u.Host)}
	u.Host = f.proxy.Addr()
	f.plan = filepath.Join(t.TempDir(), "plan.yaml")
	text := fmt.Sprintf(`version: 1
name: %s
stores:
  legacy: { kind: mysql, url: "%s" }
  main:   { kind: postgres, url: "%s", schema: shop }
entities:
  orders: { from: legacy.orders, to: main.orders, version: updated_at }
  order_lines: { from: legacy.order_lines, to: main.order_lines }
`, testenv.Unique("srv"), u.String(), purl)
	if err := os.WriteFile(f.plan, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// serve opens the readers and an httptest server in front of them.
func (f *fixture) serve(t *testing.T, ph dualread.PhaseSource, cfg Config, opts ...dualread.Option) (*httptest.Server, *dualread.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := dualread.OpenGroup(ctx, f.plan, nil, append([]dualread.Option{dualread.WithPhases(ph)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	cfg.Readers = map[string]*dualread.Reader{}
	for _, r := range g.Readers() {
		cfg.Readers[r.Entity()] = r
	}
	hs := httptest.NewServer(New(cfg))
	t.Cleanup(hs.Close)
	return hs, g
}

func get(t *testing.T, url, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestTokenRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10)
	var logs bytes.Buffer
	const token = "s3cret-token-value"
	hs, _ := f.serve(t, dualread.StaticPhases{}, Config{Token: token, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, path := range []string{"/v1/orders/1", "/status", "/metrics", "/v1/order_lines?order_id=1&line_no=2"} {
		if resp, _ := get(t, hs.URL+path, ""); resp.StatusCode != 401 {
			t.Errorf("%s without a token: %d, want 401", path, resp.StatusCode)
		}
		if resp, _ := get(t, hs.URL+path, "wrong"); resp.StatusCode != 401 {
			t.Errorf("%s with a wrong token: %d, want 401", path, resp.StatusCode)
		}
		if resp, _ := get(t, hs.URL+path, token); resp.StatusCode != 200 {
			t.Errorf("%s with the token: %d, want 200", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, _ := get(t, hs.URL+path, ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d, want 200 without a token", path, resp.StatusCode)
		}
	}
	_, body := get(t, hs.URL+"/v1/order_lines?order_id=1&line_no=2", token)
	if rec, _ := body["record"].(map[string]any); rec["sku"] != "b" || body["source"] != "old" {
		t.Errorf("composite read: %v", body)
	}
	if resp, _ := get(t, hs.URL+"/v1/order_lines?order_id=1", token); resp.StatusCode != 400 {
		t.Errorf("composite read missing a key column: %d, want 400", resp.StatusCode)
	}
	if resp, _ := get(t, hs.URL+"/v1/orders/999", token); resp.StatusCode != 404 {
		t.Errorf("missing record: %d, want 404", resp.StatusCode)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token appears in the logs")
	}
}

// TestDegradedNotStorm (acceptance 4): in migrating, with the old store
// stalled mid-test, records in the new store are still served and misses
// are 404 with X-Transit-Degraded — never a 5xx.
func TestDegradedNotStorm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 40) // ids 1..20 in new, 21..40 only in old
	ph := dualread.StaticPhases{"orders": dualread.PhaseMigrating}
	// A store-call deadline long enough for a cold connection on a loaded
	// machine; once the old store's breaker opens, misses are answered at
	// once.
	hs, _ := f.serve(t, ph, Config{RequestTimeout: 5 * time.Second},
		dualread.WithTimeout(2*time.Second), dualread.WithBreaker(3, time.Minute))
	resp, body := get(t, hs.URL+"/v1/orders/21", "")
	if resp.StatusCode != 200 || body["source"] != "old" || body["ported"] != true {
		t.Fatalf("before the outage: %d %v", resp.StatusCode, body)
	}
	// Open the new store's connections before the outage (a cold pool on
	// a loaded machine could miss the short deadline).
	var warm sync.WaitGroup
	for w := 0; w < 8; w++ {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if resp, _ := get(t, fmt.Sprintf("%s/v1/orders/%d", hs.URL, 1+w), ""); resp.StatusCode != 200 {
				t.Errorf("warm-up read: %d", resp.StatusCode)
			}
		}()
	}
	warm.Wait()
	f.proxy.Stall()
	var mu sync.Mutex
	codes := map[int]int{}
	degraded := 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := 1 + (w*20+i)%40
				resp, _ := get(t, fmt.Sprintf("%s/v1/orders/%d", hs.URL, id), "")
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.Header.Get("X-Transit-Degraded") == "old-unavailable" {
					degraded++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("160 requests with the old store stalled in %v: %v, %d degraded", took, codes, degraded)
	for code := range codes {
		if code >= 500 {
			t.Errorf("got %d answers with status %d", codes[code], code)
		}
	}
	if codes[200] == 0 || degraded == 0 || codes[200]+degraded != 160 {
		t.Errorf("codes %v, degraded %d: want 200s from the new store and degraded 404s for the rest", codes, degraded)
	}
	if took > 15*time.Second {
		t.Errorf("took %v: degraded answers should be quick once the breaker is open", took)
	}
}

// blockingPhases blocks Phase calls while gate is held, to hold reads in
// flight.
type blockingPhases struct {
	gate    chan struct{}
	entered *atomic.Int32
}

func (b blockingPhases) Phase(string) string {
	b.entered.Add(1)
	<-b.gate
	return dualread.PhaseNew
}

func TestLoadShedding(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4)
	bp := blockingPhases{gate: make(chan struct{}), entered: new(atomic.Int32)}
	hs, _ := f.serve(t, bp, Config{MaxInFlight: 2})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, _ := get(t, hs.URL+"/v1/orders/1", ""); resp.StatusCode != 200 {
				t.Errorf("held read: %d", resp.StatusCode)
			}
		}()
	}
	// Wait until both hold their slot.
	deadline := time.Now().Add(10 * time.Second)
	for bp.entered.Load() < 2 {
		if time.Now().After(deadline) {
			close(bp.gate)
			t.Fatal("the two reads did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, _ := get(t, hs.URL+"/v1/orders/2", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("with max_in_flight reads running: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(bp.gate)
	wg.Wait()
}

// TestStatusPageInChromium (acceptance 4): /status, rendered by headless
// Chromium, shows each entity's phase and lag; the screenshot is kept in
// the test's temp dir.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4)
	changed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	status := func(context.Context) ([]EntityStatus, error) {
		return []EntityStatus{
			{Entity: "orders", Phase: "migrating", ChangedAt: changed, LagSeconds: 2.5, ShadowReads: 1000, ShadowMismatches: 3, MismatchRate: 0.003, LastRun: &changed, LastVerify: &changed, LastVerifyClean: true},
			{Entity: "order_lines", Phase: "shadow", ChangedAt: changed, LagSeconds: 61, Rejects: 2},
		}, nil
	}
	hs, _ := f.serve(t, dualread.StaticPhases{}, Config{Status: status, PlanName: "shop"})
	resp, err := http.Get(hs.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "src="} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("/status is not self-contained: holds %q", bad)
		}
	}
	if !bytes.Contains(page, []byte(`http-equiv="refresh"`)) {
		t.Error("/status does not refresh itself")
	}
	br := testenv.Chromium(t, "/status", hs.URL+"/status")
	shot, nonWhite := br.Screenshot(1280, 600)
	if nonWhite < 1000 {
		t.Errorf("screenshot looks blank: %d non-white pixels sampled", nonWhite)
	}
	t.Logf("screenshot: %s", shot)
	dom := br.DOM()
	for _, want := range []string{
		`<tr data-entity="orders">`, `data-phase="migrating">migrating</span>`, `data-lag="2.5">2.5s</td>`,
		`<tr data-entity="order_lines">`, `data-phase="shadow">shadow</span>`, `data-lag="61">1m1s</td>`,
		"0.30%", "✓ clean",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}

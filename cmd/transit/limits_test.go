package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/internal/testenv"
)

// limitsPlan writes the orders plan with limits on the legacy store.
func limitsPlan(t *testing.T, murl, purl, limits string, batch int) string {
	return writePlan(t, fmt.Sprintf(`version: 1
name: limits
stores:
  legacy:
    kind: mysql
    url: "%s"
    limits:
%s
  main: { kind: postgres, url: "%s", schema: shop }
entities:
  orders:
    from: legacy.orders
    to: main.orders
    batch_size: %d
`, murl, limits, purl, batch))
}

// summaryOf returns the JSON summary line of a run's output, and the
// progress lines.
func runSummary(t *testing.T, out string) (summary map[string]any, progress []map[string]any) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		switch m["event"] {
		case "summary":
			summary = m
		case "progress":
			progress = append(progress, m)
		}
	}
	if summary == nil {
		t.Fatalf("no summary in output:\n%s", out)
	}
	return summary, progress
}

func checkAllRows(t *testing.T, purl string, n int) {
	t.Helper()
	got := pgScalar(t, purl, `SELECT count(*)::text || '/' || count(DISTINCT id)::text FROM shop.orders`)
	if want := fmt.Sprintf("%d/%d", n, n); got != want {
		t.Errorf("target rows (count/distinct ids) %s, want %s", got, want)
	}
}

// waitTargetRows waits until shop.orders of purl holds at least n rows
// (the table may not exist yet), failing the test after timeout.
func waitTargetRows(t *testing.T, purl string, n int, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, purl)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var got int
		if conn.QueryRow(ctx, `SELECT count(*) FROM shop.orders`).Scan(&got) == nil && got >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("shop.orders did not reach %d rows in %s", n, timeout)
}

// TestRowsPerSecond: 20,000 rows at 5,000 rows/s take 4 s (−10%, +20%) more
// than the same move without a limit (run's own elapsed, both runs in
// this test, so the machine's noise and the run's fixed costs cancel).
// Not parallel: the package's other tests would load the CPU during the
// limited run only, and the difference would measure them.
func TestRowsPerSecond(t *testing.T) {
	const n = 20_000
	_, murl, purl, db := ordersSetup(t, n)
	elapsed := func(plan string) float64 {
		code, out, errOut := transitRun(t, "run", plan, "--output", "json", "--workers", "2")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		s, _ := runSummary(t, out)
		return s["elapsed_s"].(float64)
	}
	free := elapsed(ordersPlan(t, murl, testenv.Postgres(t), 500))
	limited := elapsed(limitsPlan(t, murl, purl, "      rows_per_second: 5000", 500))
	// The bucket starts full (burst 500 rows, a tenth of a second), so the
	// ideal extra time is 3.9 s. Faster than 3.6 s would be the limit not
	// holding; slower is bounded loosely (+20%), since the other packages'
	// tests share the two cores during the limited run (CI saw 4.44 s).
	if d := limited - free; d < 3.6 || d > 4.8 {
		t.Errorf("limited run took %.2fs, unlimited %.2fs: %.2fs more, want 3.6–4.8 s", limited, free, d)
	}
	checkAllRows(t, purl, n)
	sameOrders(t, db, purl)
}

// TestThrottleQueryPauses: a throttle query above its threshold for 3 s
// holds the run back about that long; then every row arrives.
func TestThrottleQueryPauses(t *testing.T) {
	t.Parallel()
	const n = 20_000
	_, murl, purl, db := ordersSetup(t, n)
	until := float64(time.Now().Add(3*time.Second).UnixMicro()) / 1e6
	limits := fmt.Sprintf(`      throttle:
        query: "SELECT CASE WHEN UNIX_TIMESTAMP(NOW(6)) < %.6f THEN 100 ELSE 0 END"
        above: 50
        every: 100ms`, until)
	plan := limitsPlan(t, murl, purl, limits, 500)
	code, out, errOut := transitRun(t, "run", plan, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s, progress := runSummary(t, out)
	// The run started a little after until was set: allow for that.
	if el := s["elapsed_s"].(float64); el < 2.5 {
		t.Errorf("run took %.2fs; the throttle should have held it about 3s", el)
	}
	throttled := 0
	for _, p := range progress {
		if p["throttled"] == true {
			throttled++
		}
	}
	if throttled == 0 {
		t.Errorf("no progress line says throttled:\n%s", out)
	}
	mustContain(t, errOut, "throttled: the store is busy", "throttle lifted")
	checkAllRows(t, purl, n)
	sameOrders(t, db, purl)
}

// proxy forwards TCP connections to a backend; down closes every
// connection and refuses (accepts and closes at once) new ones.
type proxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	down    bool
	conns   map[net.Conn]bool
}

func newProxy(t *testing.T, backend string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(b, c); b.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, b); b.Close(); c.Close() }()
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// TestBreakerOpensAndRunResumes: MariaDB goes away mid-run (a proxy in
// front of the shared server drops and refuses connections for 4 s); the
// breaker opens, the workers wait, and the run finishes when the server is
// back, with every row exactly once.
func TestBreakerOpensAndRunResumes(t *testing.T) {
	t.Parallel()
	const n = 20_000
	_, murl, purl, db := ordersSetup(t, n)
	i := strings.Index(murl, "@") + 1
	j := i + strings.Index(murl[i:], "/")
	px := newProxy(t, murl[i:j])
	purlProxy := murl[:i] + px.ln.Addr().String() + murl[j:]
	limits := `      rows_per_second: 4000
      breaker: { failures: 2, cool_down: 1s }`
	plan := limitsPlan(t, purlProxy, purl, limits, 500)
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		// Small chunks: each is a new query, so the outage meets some.
		code, out, errs := transitRun(t, "run", plan, "--output", "json", "--workers", "1", "--chunk-rows", "1000")
		done <- result{code, out, errs}
	}()
	// Mid-run: once rows arrive (20,000 rows at 4,000/s take 5 s). A
	// fixed sleep could fall in the planning scan on a loaded machine,
	// which is retried without the breaker.
	waitTargetRows(t, purl, 1000, time.Minute)
	px.setDown(true)
	time.Sleep(4 * time.Second)
	px.setDown(false)
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not finish after MariaDB came back")
	}
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.errs)
	}
	mustContain(t, r.errs, "circuit breaker open", "circuit breaker closed")
	if testing.Verbose() {
		t.Log(r.errs)
	}
	checkAllRows(t, purl, n)
	sameOrders(t, db, purl)
}

// TestThrottleMidRun: a store that becomes busy while a chunk is being
// moved makes the worker hand the chunk back between batches and wait;
// the chunk resumes from its checkpoint and every row arrives once.
func TestThrottleMidRun(t *testing.T) {
	t.Parallel()
	const n = 20_000
	_, murl, purl, db := ordersSetup(t, n)
	now := time.Now()
	from := float64(now.Add(1500*time.Millisecond).UnixMicro()) / 1e6
	until := float64(now.Add(3500*time.Millisecond).UnixMicro()) / 1e6
	limits := fmt.Sprintf(`      rows_per_second: 5000
      throttle:
        query: "SELECT CASE WHEN UNIX_TIMESTAMP(NOW(6)) BETWEEN %.6f AND %.6f THEN 100 ELSE 0 END"
        above: 50
        every: 100ms`, from, until)
	plan := limitsPlan(t, murl, purl, limits, 250)
	code, out, errOut := transitRun(t, "run", plan, "--output", "json", "--workers", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, errOut, "throttled: the store is busy", "chunk handed back", "throttle lifted")
	checkAllRows(t, purl, n)
	sameOrders(t, db, purl)
}

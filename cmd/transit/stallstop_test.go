package main

import (
	"net/url"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
)

// TestStopWithStalledLedger: the ledger's server stops answering mid-run
// (a proxy in front of it holds every byte, connections stay open), then
// SIGTERM: transit exits within 15 s with 143 (the signal's code wins over
// the ledger errors the stop runs into), and a later run with the ledger
// healthy resumes and completes the target.
func TestStopWithStalledLedger(t *testing.T) {
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 200_000)
	ledgerURL := testenv.Postgres(t)
	u, err := url.Parse(ledgerURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	plan := writePlan(t, `version: 1
name: stall
ledger: led
stores:
  legacy: { kind: mysql, url: "`+murl+`" }
  main:   { kind: postgres, url: "`+purl+`", schema: shop }
  led:    { kind: postgres, url: "`+u.String()+`" }
entities:
  orders:
    from: legacy.orders
    to: main.orders
    version: updated_at
    lag: 1s
    batch_size: 1000
`)
	cmd, out := startTransit(t, bin, "run", plan, "--workers", "2", "--chunk-rows", "20000")
	waitForBatches(t, ledgerURL)
	proxy.Stall()
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	took := time.Since(sent)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 143 {
		t.Errorf("want exit 143 after SIGTERM, got %v\n%s", err, out.String())
	}
	if took > 15*time.Second {
		t.Errorf("took %s to stop with the ledger stalled, want under 15 s\n%s", took, out.String())
	}
	t.Logf("stopped in %s\n%s", took, out.String())
	proxy.Resume()
	if o, err := transitOutput(bin, "run", plan); err != nil {
		t.Fatalf("resume: %v\n%s", err, o)
	}
	sameOrders(t, db, purl)
}

package port

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
)

// TestBordersExportMetrics: a throttled store adds to
// transit_throttled_seconds_total{store}; a store with a breaker has
// transit_breaker_state{store} (0, closed).
func TestBordersExportMetrics(t *testing.T) {
	t.Parallel()
	p, err := plan.Parse("m.yaml", []byte(`version: 1
name: m
stores:
  legacy:
    kind: mysql
    url: "mysql://u@h/db"
    limits: { throttle: { query: "SELECT 100", above: 1, every: 10ms }, breaker: {} }
  pg: { kind: postgres, url: "postgres://h/db" }
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	r := &runner{p: p, log: slog.New(slog.DiscardHandler), opts: Options{Metrics: reg,
		Probe: func(string) (func(context.Context) (float64, error), func(), error) {
			return func(context.Context) (float64, error) { return 100, nil }, func() {}, nil
		}}}
	closeBorders, err := r.openBorders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.borders) != 1 || r.borders["legacy"] == nil || !r.borders["legacy"].Throttled() {
		t.Fatalf("borders %v: want legacy, throttled from the first poll", r.borders)
	}
	time.Sleep(300 * time.Millisecond)
	closeBorders()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if v := got["transit_throttled_seconds_total{store=legacy}"]; v < 0.2 {
		t.Errorf("transit_throttled_seconds_total{store=legacy} = %v, want >= 0.2 (%v)", v, got)
	}
	if v, ok := got["transit_breaker_state{store=legacy}"]; !ok || v != 0 {
		t.Errorf("transit_breaker_state{store=legacy} = %v (present %v), want 0", v, ok)
	}
}

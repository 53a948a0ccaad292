// Package metrics measures transit itself: batch latency percentiles from an
// HdrHistogram, and Prometheus counters and histograms for rows and batches.
package metrics

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// Latency records durations into an HdrHistogram (1 µs to 1 h, 3
// significant digits). It is safe for concurrent use.
type Latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewLatency returns an empty recorder.
func NewLatency() *Latency {
	return &Latency{h: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)}
}

// Record adds one observation.
func (l *Latency) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	l.mu.Lock()
	_ = l.h.RecordValue(us) // values above the range are clamped by the caller's units; ignore
	l.mu.Unlock()
}

// Summary is a latency digest.
type Summary struct {
	Count         int64
	P50, P99, Max time.Duration
}

// Summary returns the count, p50, p99 and max so far.
func (l *Latency) Summary() Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Summary{
		Count: l.h.TotalCount(),
		P50:   time.Duration(l.h.ValueAtQuantile(50)) * time.Microsecond,
		P99:   time.Duration(l.h.ValueAtQuantile(99)) * time.Microsecond,
		Max:   time.Duration(l.h.Max()) * time.Microsecond,
	}
}

// Registry is the Prometheus registry of one transit process, with the
// collectors the engine updates.
type Registry struct {
	*prometheus.Registry
	Rows         *prometheus.CounterVec   // transit_rows_total{entity,stage=read|written|rejected}
	BatchSeconds *prometheus.HistogramVec // transit_batch_seconds{entity}
	Retries      *prometheus.CounterVec   // transit_retries_total{entity}
	Throttled    *prometheus.CounterVec   // transit_throttled_seconds_total{store}
	Breaker      *prometheus.GaugeVec     // transit_breaker_state{store}: 0 closed, 1 half-open, 2 open
	FeedLagBytes *prometheus.GaugeVec     // transit_feed_lag_bytes{feed}
	FeedLagSecs  *prometheus.GaugeVec     // transit_feed_lag_seconds{feed}
	FeedEvents   *prometheus.CounterVec   // transit_feed_events_total{feed}
}

// NewRegistry builds a registry with the standard collectors.
func NewRegistry() *Registry {
	r := &Registry{
		Registry: prometheus.NewRegistry(),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transit_rows_total", Help: "Rows read, written and rejected, per entity.",
		}, []string{"entity", "stage"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transit_batch_seconds", Help: "Time to write one batch and its checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"entity"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transit_retries_total", Help: "Chunk attempts retried after a transient error.",
		}, []string{"entity"}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transit_throttled_seconds_total", Help: "Time spent paused because the store was busy (throttle query or replica lag).",
		}, []string{"store"}),
		Breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transit_breaker_state", Help: "Circuit breaker state per store: 0 closed, 1 half-open, 2 open.",
		}, []string{"store"}),
	}
	r.FeedLagBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "transit_feed_lag_bytes", Help: "WAL written since the feed's confirmed position (what its slot holds back).",
	}, []string{"feed"})
	r.FeedLagSecs = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "transit_feed_lag_seconds", Help: "Time from the commit of the last applied transaction to its apply (0 when caught up).",
	}, []string{"feed"})
	r.FeedEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "transit_feed_events_total", Help: "Documents written or deleted by the feed from the change stream.",
	}, []string{"feed"})
	r.MustRegister(r.Rows, r.BatchSeconds, r.Retries, r.Throttled, r.Breaker, r.FeedLagBytes, r.FeedLagSecs, r.FeedEvents)
	return r
}

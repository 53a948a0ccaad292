package metrics

import (
	"testing"
	"time"
)

func TestLatencySummary(t *testing.T) {
	l := NewLatency()
	for i := 1; i <= 100; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	s := l.Summary()
	if s.Count != 100 {
		t.Fatalf("count %d", s.Count)
	}
	if s.P50 < 49*time.Millisecond || s.P50 > 51*time.Millisecond {
		t.Errorf("p50 %v", s.P50)
	}
	if s.P99 < 98*time.Millisecond || s.P99 > 100*time.Millisecond {
		t.Errorf("p99 %v", s.P99)
	}
	if s.Max < 99*time.Millisecond || s.Max > 101*time.Millisecond {
		t.Errorf("max %v", s.Max)
	}
	r := NewRegistry()
	r.Rows.WithLabelValues("a", "read").Add(3)
	if mfs, err := r.Gather(); err != nil || len(mfs) == 0 {
		t.Fatalf("gather: %v %d", err, len(mfs))
	}
}

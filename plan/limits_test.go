package plan

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsDecode(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "../testdata/plans/shop.yaml")
	l := p.Store("legacy").Limits
	if l == nil || l.MaxConnections != 4 || l.RowsPerSecond != 50000 {
		t.Fatalf("legacy limits = %+v", l)
	}
	if l.Throttle == nil || l.Throttle.Above != 40 || l.Throttle.Every != time.Second || !strings.Contains(l.Throttle.Query, "Threads_running") {
		t.Errorf("throttle = %+v", l.Throttle)
	}
	if l.Breaker == nil || l.Breaker.Failures != 5 || l.Breaker.CoolDown != 10*time.Second {
		t.Errorf("breaker = %+v", l.Breaker)
	}
	if m := p.Store("main").Limits; m == nil || m.MaxReplicaLag != 5*time.Second {
		t.Errorf("main limits = %+v", m)
	}
	if p.Store("files").Limits != nil {
		t.Error("files: limits should be nil (unlimited)")
	}
	// Defaults of partial throttle and breaker mappings.
	q, err := Parse("d.yaml", []byte(`version: 1
name: d
stores:
  pg:
    kind: postgres
    url: postgres://x/y
    limits:
      throttle: { query: "SELECT 1", above: 0 }
      breaker: {}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ql := q.Store("pg").Limits
	if ql.Throttle.Every != DefaultThrottleEvery || ql.Breaker.Failures != DefaultBreakerFailures || ql.Breaker.CoolDown != DefaultBreakerCoolDown {
		t.Errorf("defaults not applied: %+v %+v", ql.Throttle, ql.Breaker)
	}
}

func TestLimitsErrors(t *testing.T) {
	t.Parallel()
	base := "version: 1\nname: e\nstores:\n  pg: { kind: postgres, url: \"postgres://x/y\" }\n  my:\n    kind: mysql\n    url: mysql://x/y\n    limits:\n"
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":        {"      max_conns: 4\n", `e.yaml:9:7: unknown key "max_conns"`},
		"zero connections":   {"      max_connections: 0\n", "e.yaml:9:24: max_connections must be > 0"},
		"negative rate":      {"      rows_per_second: -5\n", "e.yaml:9:24: rows_per_second must be > 0"},
		"zero rate":          {"      rows_per_second: 0\n", "e.yaml:9:24: rows_per_second must be > 0"},
		"bad duration":       {"      breaker: { cool_down: soon }\n", "invalid duration"},
		"zero every":         {"      throttle: { query: q, above: 1, every: 0s }\n", "every must be > 0"},
		"throttle no above":  {"      throttle: { query: q }\n", `missing key "above"`},
		"throttle no query":  {"      throttle: { above: 3 }\n", `missing key "query"`},
		"zero failures":      {"      breaker: { failures: 0 }\n", "failures must be > 0"},
		"lag on mysql":       {"      max_replica_lag: 5s\n", `e.yaml:9:24: store "my": max_replica_lag applies only to postgres stores`},
		"unknown in breaker": {"      breaker: { failure: 3 }\n", `unknown key "failure"`},
	} {
		_, err := Parse("e.yaml", []byte(base+tc.body), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
}

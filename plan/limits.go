package plan

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the limits keys that have one.
const (
	DefaultThrottleEvery   = time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerCoolDown = 10 * time.Second
)

// Limits regulate the load transit puts on one store. The zero value is
// unlimited, exactly as without a limits key.
type Limits struct {
	MaxConnections int           // 0: unlimited (the driver's default pool)
	RowsPerSecond  float64       // 0: unlimited
	Throttle       *Throttle     // nil: never pause on the store's load
	MaxReplicaLag  time.Duration // postgres only; 0: no lag throttle
	Breaker        *Breaker      // nil: no circuit breaker
	Pos            Pos
}

// Throttle pauses work while a query on the store returns a value above a
// threshold (gh-ost's --throttle-query, Vitess's throttler).
type Throttle struct {
	Query string
	Above float64
	Every time.Duration // default 1s
	Pos   Pos
}

// Breaker opens after Failures consecutive transient failures and lets one
// probe through after CoolDown.
type Breaker struct {
	Failures int           // default 5
	CoolDown time.Duration // default 10s
	Pos      Pos
}

// IsZero reports whether l sets no limit at all.
func (l *Limits) IsZero() bool {
	return l == nil || (l.MaxConnections == 0 && l.RowsPerSecond == 0 && l.Throttle == nil &&
		l.MaxReplicaLag == 0 && l.Breaker == nil)
}

var throttleSpec = &object{
	Name: "throttle",
	Doc:  "Pause taking new batches while the store is busy.",
	Fields: []field{
		{Key: "query", Kind: vString, Required: true, Doc: "A query returning one number, run on its own connection."},
		{Key: "above", Kind: vNumber, Required: true, Doc: "Pause while the query's value is above this."},
		{Key: "every", Kind: vDuration, Doc: "How often the query runs. Default 1s."},
	},
}

var breakerSpec = &object{
	Name: "breaker",
	Doc:  "A circuit breaker: after consecutive transient failures, stop calling the store for a while.",
	Fields: []field{
		{Key: "failures", Kind: vInt, Min: num(1), Doc: "Consecutive transient failures that open the breaker. Default 5."},
		{Key: "cool_down", Kind: vDuration, Doc: "How long the breaker stays open before one probe call. Default 10s."},
	},
}

var limitsSpec = &object{
	Name: "limits",
	Doc:  "Load regulation for this store. Default: unlimited.",
	Fields: []field{
		{Key: "max_connections", Kind: vInt, Min: num(1), Doc: "Hard cap on this process's connections to the store, shared by every command. Default unlimited."},
		{Key: "rows_per_second", Kind: vNumber, Doc: "Token bucket on rows read from and written to the store. Default unlimited."},
		{Key: "throttle", Kind: vObject, Elem: throttleSpec, Doc: "Pause while a query says the store is busy. Default none."},
		{Key: "max_replica_lag", Kind: vDuration, Doc: "postgres only: pause while pg_stat_replication's replay lag is above this. Default none."},
		{Key: "breaker", Kind: vObject, Elem: breakerSpec, Doc: "Circuit breaker on transient failures. Default none."},
	},
}

func (d *decoder) limits(v *yaml.Node, what string) *Limits {
	l := &Limits{Pos: d.at(v)}
	m := d.mapping(v, limitsSpec, what+" limits", nil, l)
	if m == nil {
		return l
	}
	m.int("max_connections", &l.MaxConnections)
	if n := m.get("rows_per_second"); n != nil && m.number("rows_per_second", &l.RowsPerSecond) && l.RowsPerSecond <= 0 {
		d.errorf(n, "rows_per_second must be > 0, got %g", l.RowsPerSecond)
	}
	if n := m.get("max_replica_lag"); n != nil && m.duration("max_replica_lag", &l.MaxReplicaLag) && l.MaxReplicaLag <= 0 {
		d.errorf(n, "max_replica_lag must be > 0, got %s", l.MaxReplicaLag)
	}
	if n := m.get("throttle"); n != nil {
		t := &Throttle{Pos: d.at(n), Every: DefaultThrottleEvery}
		if tm := d.mapping(n, throttleSpec, what+" throttle", nil, t); tm != nil {
			tm.str("query", &t.Query)
			tm.number("above", &t.Above)
			if en := tm.get("every"); en != nil && tm.duration("every", &t.Every) && t.Every <= 0 {
				d.errorf(en, "every must be > 0, got %s", t.Every)
			}
			if tm.has("query") && t.Query == "" {
				d.errorf(tm.get("query"), "query must not be empty")
			}
		}
		l.Throttle = t
	}
	if n := m.get("breaker"); n != nil {
		b := &Breaker{Pos: d.at(n), Failures: DefaultBreakerFailures, CoolDown: DefaultBreakerCoolDown}
		if bm := d.mapping(n, breakerSpec, what+" breaker", nil, b); bm != nil {
			bm.int("failures", &b.Failures)
			if cn := bm.get("cool_down"); cn != nil && bm.duration("cool_down", &b.CoolDown) && b.CoolDown <= 0 {
				d.errorf(cn, "cool_down must be > 0, got %s", b.CoolDown)
			}
		}
		l.Breaker = b
	}
	return l
}

// validateLimits checks what needs the store's kind.
func (d *decoder) validateLimits(s *Store) {
	l := s.Limits
	if l == nil {
		return
	}
	if l.MaxReplicaLag > 0 && s.Kind != "postgres" {
		d.errs.add(d.valuePos(l, "max_replica_lag", l.Pos), "store %q: max_replica_lag applies only to postgres stores", s.Name)
	}
	if l.Throttle != nil && !contains(serverKinds, s.Kind) {
		d.errs.add(d.valuePos(l, "throttle", l.Pos), "store %q: throttle needs a server store (a query to run), not %s", s.Name, s.Kind)
	}
	if l.MaxConnections > 0 && contains(fileKinds, s.Kind) && s.Kind != "sqlite" {
		d.errs.add(d.valuePos(l, "max_connections", l.Pos), "store %q: max_connections does not apply to %s stores", s.Name, s.Kind)
	}
}

func (l *Limits) node() *yaml.Node {
	m := mapNode(false)
	if l.MaxConnections > 0 {
		add(m, "max_connections", intNode(l.MaxConnections))
	}
	if l.RowsPerSecond > 0 {
		add(m, "rows_per_second", floatNode(l.RowsPerSecond))
	}
	if t := l.Throttle; t != nil {
		tm := mapNode(false)
		add(tm, "query", quotedNode(t.Query))
		add(tm, "above", floatNode(t.Above))
		add(tm, "every", strNode(formatDuration(t.Every)))
		add(m, "throttle", tm)
	}
	if l.MaxReplicaLag > 0 {
		add(m, "max_replica_lag", strNode(formatDuration(l.MaxReplicaLag)))
	}
	if b := l.Breaker; b != nil {
		bm := mapNode(true)
		add(bm, "failures", intNode(b.Failures))
		add(bm, "cool_down", strNode(formatDuration(b.CoolDown)))
		add(m, "breaker", bm)
	}
	return m
}

func (l *Limits) clone() *Limits {
	if l == nil {
		return nil
	}
	c := *l
	if l.Throttle != nil {
		t := *l.Throttle
		c.Throttle = &t
	}
	if l.Breaker != nil {
		b := *l.Breaker
		c.Breaker = &b
	}
	return &c
}

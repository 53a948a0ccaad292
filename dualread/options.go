package dualread

import (
	"log/slog"
	"time"
)

// Option tunes a Reader.
type Option func(*options)

type options struct {
	timeout         time.Duration
	log             *slog.Logger
	phases          PhaseSource
	negativeTTL     time.Duration
	shadowSample    float64
	shadowKeep      int
	shadowQueue     int
	flushEvery      time.Duration
	metrics         *Metrics
	breakerFailures int
	breakerCoolDown time.Duration
}

func defaultOptions() options {
	return options{
		timeout:         time.Second,
		log:             slog.New(slog.DiscardHandler),
		negativeTTL:     5 * time.Second,
		shadowSample:    1,
		shadowKeep:      1000,
		shadowQueue:     1024,
		flushEvery:      time.Second,
		breakerFailures: 5,
		breakerCoolDown: 5 * time.Second,
	}
}

// WithTimeout bounds every store call (default 1s). A fallback-and-port
// (one old read, one new write) gets 2.5 times as long.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithPhases sets where the entity's phase comes from: a
// *transition.Watcher, or StaticPhases. Default: a transition.Watcher on
// the plan's ledger, started by Open and stopped by Close.
func WithPhases(p PhaseSource) Option { return func(o *options) { o.phases = p } }

// WithNegativeTTL sets how long a record missing in both stores is
// answered as missing without asking again (default 5s; 0 or less turns
// the negative cache off).
func WithNegativeTTL(d time.Duration) Option { return func(o *options) { o.negativeTTL = d } }

// WithShadow sets the share of reads compared in phase shadow (0 to 1,
// default 1: all) and how many differing records are kept per entity in
// transit.shadow_mismatches (default 1000).
func WithShadow(sample float64, keep int) Option {
	return func(o *options) {
		o.shadowSample = min(max(sample, 0), 1)
		if keep > 0 {
			o.shadowKeep = keep
		}
	}
}

// WithShadowFlush sets how often shadow counts are written to the ledger
// (default 1s).
func WithShadowFlush(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.flushEvery = d
		}
	}
}

// WithMetrics makes the Reader count into m (shared by the Readers of one
// process); by default it counts into a private, unregistered set.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithBreaker sets the circuit breaker used for a store whose plan limits
// set none: open after failures consecutive transient failures, probe
// again after coolDown (default 5 failures, 5s).
func WithBreaker(failures int, coolDown time.Duration) Option {
	return func(o *options) {
		if failures > 0 {
			o.breakerFailures, o.breakerCoolDown = failures, coolDown
		}
	}
}

package border

import (
	"context"
	"log/slog"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Config is the load regulation of one store. The zero value is unlimited.
type Config struct {
	MaxConnections int     // 0: unlimited
	RowsPerSecond  float64 // 0: unlimited
	// Burst is the bucket's size in rows; 0: a tenth of a second's worth
	// (at least 1), small enough that the rate holds over short runs.
	Burst int
	// Throttle: Probe polled every ThrottleEvery; paused while above.
	Probe         Probe
	ThrottleAbove float64
	ThrottleEvery time.Duration
	// Breaker: 0 failures means no breaker.
	BreakerFailures int
	BreakerCoolDown time.Duration
}

// Hooks observe a Border's state changes (metrics, progress output).
type Hooks struct {
	Breaker  func(store string, to State)
	Throttle func(store string, throttled bool)
}

// Border is where transit touches one store. A nil *Border is unlimited:
// every method is a no-op that costs a nil check.
type Border struct {
	Store    string
	MaxConns int
	limiter  *rate.Limiter
	breaker  *Breaker
	throttle *Throttler
	log      *slog.Logger
}

// New builds the border of store from cfg. transient classifies failures
// for the breaker. clock may be nil (the wall clock). It returns nil when
// cfg sets no limit at all, so the unlimited path stays free.
func New(store string, cfg Config, transient func(error) bool, clock Clock, log *slog.Logger, hooks Hooks) *Border {
	if cfg.MaxConnections <= 0 && cfg.RowsPerSecond <= 0 && cfg.Probe == nil && cfg.BreakerFailures <= 0 {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("store", store)
	b := &Border{Store: store, MaxConns: cfg.MaxConnections, log: log}
	if cfg.RowsPerSecond > 0 {
		burst := cfg.Burst
		if burst <= 0 {
			burst = int(math.Max(1, cfg.RowsPerSecond/10))
		}
		b.limiter = rate.NewLimiter(rate.Limit(cfg.RowsPerSecond), burst)
	}
	if cfg.BreakerFailures > 0 {
		b.breaker = NewBreaker(cfg.BreakerFailures, cfg.BreakerCoolDown, transient, clock, func(from, to State) {
			log.Warn("circuit breaker "+to.String(), "from", from.String())
			if hooks.Breaker != nil {
				hooks.Breaker(store, to)
			}
		})
	}
	if cfg.Probe != nil {
		every := cfg.ThrottleEvery
		if every <= 0 {
			every = time.Second
		}
		b.throttle = NewThrottler(cfg.Probe, cfg.ThrottleAbove, every, clock, log)
		b.throttle.OnChange = func(on bool) {
			if on {
				log.Info("throttled: the store is busy")
			} else {
				log.Info("throttle lifted")
			}
			if hooks.Throttle != nil {
				hooks.Throttle(store, on)
			}
		}
	}
	return b
}

// Start polls the throttle once, so that a store busy from the start
// holds the first batch back, then keeps polling in the background until
// ctx is done.
func (b *Border) Start(ctx context.Context) {
	if b == nil || b.throttle == nil {
		return
	}
	b.throttle.Poll(ctx)
	go b.throttle.Run(ctx)
}

// Rows takes n rows from the token bucket, waiting as long as needed
// (context-aware). Batches larger than the bucket are taken in parts.
func (b *Border) Rows(ctx context.Context, n int) error {
	if b == nil || b.limiter == nil || n <= 0 {
		return nil
	}
	burst := b.limiter.Burst()
	for n > 0 {
		k := min(n, burst)
		if err := b.limiter.WaitN(ctx, k); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		n -= k
	}
	return nil
}

// Do runs fn through the circuit breaker: while the breaker is open, it
// waits instead of calling the store.
func (b *Border) Do(ctx context.Context, fn func(context.Context) error) error {
	if b == nil || b.breaker == nil {
		return fn(ctx)
	}
	return b.breaker.Do(ctx, fn)
}

// WaitThrottle returns when the store is not throttled (or ctx is done).
// Call it before taking new work, never while holding a transaction.
func (b *Border) WaitThrottle(ctx context.Context) error {
	if b == nil {
		return nil
	}
	return b.throttle.Wait(ctx)
}

// Throttled reports whether the store is throttled now.
func (b *Border) Throttled() bool { return b != nil && b.throttle.Throttled() }

// ThrottledSeconds is the total time the store has been throttled.
func (b *Border) ThrottledSeconds() float64 {
	if b == nil {
		return 0
	}
	return b.throttle.Seconds()
}

// BreakerState is the breaker's state (Closed without a breaker).
func (b *Border) BreakerState() State {
	if b == nil || b.breaker == nil {
		return Closed
	}
	return b.breaker.State()
}

// HasBreaker reports whether calls go through a breaker.
func (b *Border) HasBreaker() bool { return b != nil && b.breaker != nil }

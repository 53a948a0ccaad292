package border

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Probe returns the store's current load figure (the throttle query's
// value, or the replica lag in seconds). It runs on its own connection.
type Probe func(ctx context.Context) (float64, error)

// Throttler polls a Probe every interval and is throttled while the value
// is above a threshold. Workers call Wait before taking new work; it never
// holds anything open while it waits.
type Throttler struct {
	probe Probe
	above float64
	every time.Duration
	clock Clock
	log   *slog.Logger
	// OnChange, if set before Run, is called on each change of state.
	OnChange func(throttled bool)

	mu      sync.Mutex
	on      bool
	since   time.Time
	total   time.Duration // closed throttled periods
	release chan struct{} // closed when the throttle lifts
}

// NewThrottler returns a throttler that is not throttled until its first
// poll says so.
func NewThrottler(probe Probe, above float64, every time.Duration, clock Clock, log *slog.Logger) *Throttler {
	if clock == nil {
		clock = RealClock
	}
	if log == nil {
		log = slog.Default()
	}
	return &Throttler{probe: probe, above: above, every: every, clock: clock, log: log}
}

// Run polls until ctx is done. A failing probe leaves the state as it was
// (and is logged): the throttle is advice, not a dependency of the run.
func (t *Throttler) Run(ctx context.Context) {
	defer t.set(false) // never leave waiters blocked
	for {
		t.Poll(ctx)
		if t.clock.Sleep(ctx, t.every) != nil {
			return
		}
	}
}

// Poll runs the probe once and updates the state.
func (t *Throttler) Poll(ctx context.Context) {
	v, err := t.probe(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("throttle probe failed", "err", err)
		}
		return
	}
	t.set(v > t.above)
}

func (t *Throttler) set(on bool) {
	t.mu.Lock()
	if on == t.on {
		t.mu.Unlock()
		return
	}
	now := t.clock.Now()
	t.on = on
	if on {
		t.since = now
		t.release = make(chan struct{})
	} else {
		t.total += now.Sub(t.since)
		close(t.release)
	}
	t.mu.Unlock()
	if t.OnChange != nil {
		t.OnChange(on)
	}
}

// Throttled reports whether the store is throttled now.
func (t *Throttler) Throttled() bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.on
}

// Seconds returns the total time spent throttled, including the current
// period.
func (t *Throttler) Seconds() float64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.total
	if t.on {
		d += t.clock.Now().Sub(t.since)
	}
	return d.Seconds()
}

// Wait returns at once when not throttled; otherwise it waits until the
// throttle lifts or ctx is done.
func (t *Throttler) Wait(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	if !t.on {
		t.mu.Unlock()
		return nil
	}
	ch := t.release
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

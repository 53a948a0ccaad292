package border

import (
	"context"
	"sync"
	"time"
)

// State is a circuit breaker's state; its number is the value of the
// transit_breaker_state gauge.
type State int

const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "unknown"
}

// Breaker is a small circuit breaker. After Failures consecutive transient
// failures it opens: callers then wait (context-aware) instead of calling
// the store, until CoolDown has passed; then one probe call goes through
// (half-open) while the others keep waiting. A successful probe closes the
// breaker, a failed one opens it again.
//
// It is not github.com/sony/gobreaker: gobreaker fails calls at once with
// ErrOpenState while open, does not say when it will half-open and reads
// time.Now directly. transit wants callers to wait for the store rather
// than fail the run, and tests to run on a fake clock.
type Breaker struct {
	failures  int
	coolDown  time.Duration
	transient func(error) bool
	clock     Clock
	onChange  func(from, to State)

	mu       sync.Mutex
	state    State
	fails    int
	openedAt time.Time
	probing  bool
	changed  chan struct{} // closed and replaced on every state change or probe end
}

// NewBreaker returns a closed breaker. transient says which failures count;
// others (a bad row, a syntax error) reset nothing and open nothing.
// onChange, if not nil, is called (outside the lock) on each state change.
func NewBreaker(failures int, coolDown time.Duration, transient func(error) bool, clock Clock, onChange func(from, to State)) *Breaker {
	if clock == nil {
		clock = RealClock
	}
	if failures < 1 {
		failures = 1
	}
	return &Breaker{failures: failures, coolDown: coolDown, transient: transient, clock: clock,
		onChange: onChange, changed: make(chan struct{})}
}

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// setLocked changes state and returns a func to run after unlocking.
func (b *Breaker) setLocked(to State) func() {
	from := b.state
	b.state = to
	close(b.changed)
	b.changed = make(chan struct{})
	if from == to || b.onChange == nil {
		return func() {}
	}
	return func() { b.onChange(from, to) }
}

// admit waits until the caller may call the store. probe is true when the
// caller is the half-open probe.
func (b *Breaker) admit(ctx context.Context) (probe bool, err error) {
	for {
		b.mu.Lock()
		switch b.state {
		case Closed:
			b.mu.Unlock()
			return false, nil
		case Open:
			wait := b.coolDown - b.clock.Now().Sub(b.openedAt)
			if wait <= 0 {
				after := b.setLocked(HalfOpen)
				b.probing = true
				b.mu.Unlock()
				after()
				return true, nil
			}
			ch := b.changed
			b.mu.Unlock()
			if err := b.sleep(ctx, wait, ch); err != nil {
				return false, err
			}
		case HalfOpen:
			if !b.probing {
				b.probing = true
				b.mu.Unlock()
				return true, nil
			}
			ch := b.changed
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
	}
}

// sleep waits d, until ch is closed, or until ctx is done.
func (b *Breaker) sleep(ctx context.Context, d time.Duration, ch chan struct{}) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ch:
			cancel()
		case <-sctx.Done():
		}
	}()
	err := b.clock.Sleep(sctx, d)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = err // woken by a state change: look again
	return nil
}

// Do waits until the breaker admits a call, runs fn and records its
// outcome. It returns fn's error as is (or ctx's, if ctx ends while
// waiting), so the caller's retry policy still applies.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	probe, err := b.admit(ctx)
	if err != nil {
		return err
	}
	err = fn(ctx)
	b.record(probe, err)
	return err
}

func (b *Breaker) record(probe bool, err error) {
	b.mu.Lock()
	after := func() {}
	failed := err != nil && b.transient != nil && b.transient(err)
	if probe {
		b.probing = false
	}
	switch {
	case failed && (probe || b.state == HalfOpen):
		b.openedAt = b.clock.Now()
		after = b.setLocked(Open)
	case failed:
		b.fails++
		if b.fails >= b.failures && b.state == Closed {
			b.openedAt = b.clock.Now()
			after = b.setLocked(Open)
		}
	case probe && err == nil:
		b.fails = 0
		after = b.setLocked(Closed)
	case probe:
		// a permanent error on the probe says nothing about the store:
		// let the next caller probe again.
		close(b.changed)
		b.changed = make(chan struct{})
	case err == nil:
		b.fails = 0
	}
	if b.state != Closed {
		b.fails = 0
	}
	b.mu.Unlock()
	after()
}

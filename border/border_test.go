package border

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock's Sleep advances its time at once, so cool-downs and polls
// take no real time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

var (
	errDown = errors.New("connection refused")
	errBad  = errors.New("syntax error")
)

func isDown(err error) bool { return errors.Is(err, errDown) }

func TestBreakerOpensWaitsAndCloses(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var changes []State
	b := NewBreaker(3, 10*time.Second, isDown, clock, func(_, to State) { changes = append(changes, to) })
	ctx := context.Background()
	fail := func(context.Context) error { return errDown }
	for i := 0; i < 2; i++ {
		_ = b.Do(ctx, fail)
	}
	if b.State() != Closed {
		t.Fatalf("open after 2 failures of 3")
	}
	if err := b.Do(ctx, fail); !errors.Is(err, errDown) {
		t.Fatalf("Do returned %v, want the call's error", err)
	}
	if b.State() != Open {
		t.Fatalf("state %v after 3 transient failures, want open", b.State())
	}
	start := clock.Now()
	calls := 0
	if err := b.Do(ctx, func(context.Context) error { calls++; return nil }); err != nil {
		t.Fatal(err)
	}
	if waited := clock.Now().Sub(start); waited < 10*time.Second {
		t.Errorf("called the store after %v of a 10s cool-down", waited)
	}
	if calls != 1 || b.State() != Closed {
		t.Errorf("calls %d, state %v; want 1 probe and closed", calls, b.State())
	}
	want := []State{Open, HalfOpen, Closed}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v, want %v", changes, want)
		}
	}
}

func TestBreakerIgnoresPermanentErrorsAndSuccessResets(t *testing.T) {
	t.Parallel()
	b := NewBreaker(2, time.Second, isDown, newFakeClock(), nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_ = b.Do(ctx, func(context.Context) error { return errBad })
	}
	_ = b.Do(ctx, func(context.Context) error { return errDown })
	_ = b.Do(ctx, func(context.Context) error { return nil })
	_ = b.Do(ctx, func(context.Context) error { return errDown })
	if b.State() != Closed {
		t.Errorf("state %v: permanent errors or non-consecutive failures opened the breaker", b.State())
	}
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := NewBreaker(1, 5*time.Second, isDown, clock, nil)
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return errDown })
	start := clock.Now()
	_ = b.Do(ctx, func(context.Context) error { return errDown }) // the probe
	if b.State() != Open {
		t.Fatalf("state %v after a failed probe, want open", b.State())
	}
	_ = b.Do(ctx, func(context.Context) error { return nil })
	if got := clock.Now().Sub(start); got < 10*time.Second {
		t.Errorf("two cool-downs took %v, want >= 10s", got)
	}
	if b.State() != Closed {
		t.Errorf("state %v, want closed", b.State())
	}
}

func TestBreakerWaitStopsWithContext(t *testing.T) {
	t.Parallel()
	b := NewBreaker(1, time.Hour, isDown, RealClock, nil)
	_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	called := false
	err := b.Do(ctx, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || called {
		t.Errorf("err %v, called %v; want the context's error and no call", err, called)
	}
}

func TestBreakerHalfOpenLetsOneProbe(t *testing.T) {
	t.Parallel()
	b := NewBreaker(1, 20*time.Millisecond, isDown, RealClock, nil)
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return errDown })
	var calls atomic.Int32
	var overlapped atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.Do(ctx, func(context.Context) error {
				if calls.Add(1) == 1 { // the probe: slow; nobody else may call meanwhile
					time.Sleep(30 * time.Millisecond)
					if calls.Load() != 1 {
						overlapped.Store(true)
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	if calls.Load() != 8 || b.State() != Closed {
		t.Errorf("calls %d state %v", calls.Load(), b.State())
	}
	if overlapped.Load() {
		t.Error("other calls ran while the half-open probe was in flight")
	}
}

func TestThrottlerWaitAndSeconds(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var value atomic.Int64
	th := NewThrottler(func(context.Context) (float64, error) { return float64(value.Load()), nil }, 40, time.Second, clock, nil)
	ctx := context.Background()
	th.Poll(ctx)
	if th.Throttled() {
		t.Fatal("throttled at 0")
	}
	if err := th.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	value.Store(41)
	th.Poll(ctx)
	if !th.Throttled() {
		t.Fatal("not throttled at 41 > 40")
	}
	done := make(chan error, 1)
	go func() { done <- th.Wait(ctx) }()
	select {
	case <-done:
		t.Fatal("Wait returned while throttled")
	case <-time.After(20 * time.Millisecond):
	}
	clock.Advance(3 * time.Second)
	value.Store(40)
	th.Poll(ctx)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := th.Seconds(); s != 3 {
		t.Errorf("throttled seconds %v, want 3", s)
	}
	// A failing probe keeps the state.
	value.Store(100)
	th.Poll(ctx)
	failing := NewThrottler(func(context.Context) (float64, error) { return 0, errDown }, 0, time.Second, clock, nil)
	failing.Poll(ctx)
	if failing.Throttled() {
		t.Error("a failing probe throttled")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := th.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait while throttled returned %v, want the context's error", err)
	}
}

func TestThrottlerRunPollsAndReleasesOnStop(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	th := NewThrottler(func(context.Context) (float64, error) { polls.Add(1); return 1, nil }, 0, time.Millisecond, RealClock, nil)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { th.Run(ctx); close(stopped) }()
	for polls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if !th.Throttled() {
		t.Error("not throttled")
	}
	cancel()
	<-stopped
	if th.Throttled() {
		t.Error("still throttled after Run stopped: waiters would hang")
	}
}

func TestBorderRowsRate(t *testing.T) {
	t.Parallel()
	b := New("s", Config{RowsPerSecond: 10000, Burst: 100}, nil, nil, nil, Hooks{})
	start := time.Now()
	for i := 0; i < 4; i++ {
		if err := b.Rows(context.Background(), 500); err != nil { // larger than the burst
			t.Fatal(err)
		}
	}
	// 2000 rows at 10000/s with a burst of 100: at least 0.19s.
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("2000 rows took %v at 10000 rows/s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Rows(ctx, 1000); !errors.Is(err, context.Canceled) {
		t.Errorf("Rows on a cancelled context: %v", err)
	}
}

func TestBorderUnlimitedIsNil(t *testing.T) {
	t.Parallel()
	b := New("s", Config{}, nil, nil, nil, Hooks{})
	if b != nil {
		t.Fatal("a zero config built a border")
	}
	ctx := context.Background()
	if b.Rows(ctx, 1<<20) != nil || b.WaitThrottle(ctx) != nil || b.Throttled() || b.ThrottledSeconds() != 0 || b.BreakerState() != Closed {
		t.Error("nil border is not a no-op")
	}
	if err := b.Do(ctx, func(context.Context) error { return errBad }); !errors.Is(err, errBad) {
		t.Error("nil border's Do does not run the call")
	}
}

func TestBorderHooks(t *testing.T) {
	t.Parallel()
	var states []State
	var throttled []bool
	v := 100.0
	b := New("legacy", Config{BreakerFailures: 1, BreakerCoolDown: time.Second, Probe: func(context.Context) (float64, error) { return v, nil }, ThrottleAbove: 1},
		isDown, newFakeClock(), nil, Hooks{
			Breaker:  func(store string, to State) { states = append(states, to) },
			Throttle: func(store string, on bool) { throttled = append(throttled, on) },
		})
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return errDown })
	if b.BreakerState() != Open || len(states) != 1 {
		t.Errorf("state %v hooks %v", b.BreakerState(), states)
	}
	b.throttle.Poll(ctx)
	if !b.Throttled() || len(throttled) != 1 || !throttled[0] {
		t.Errorf("throttled %v hooks %v", b.Throttled(), throttled)
	}
}

// BenchmarkBorderPerBatch is the border's cost per batch of 500 rows when
// nothing binds: the bucket, the breaker and the throttle check.
func BenchmarkBorderPerBatch(b *testing.B) {
	ctx := context.Background()
	bd := New("s", Config{RowsPerSecond: 1e12, BreakerFailures: 5, BreakerCoolDown: time.Second,
		Probe: func(context.Context) (float64, error) { return 0, nil }, ThrottleAbove: 1}, isDown, nil, nil, Hooks{})
	bd.throttle.Poll(ctx)
	call := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if bd.Throttled() {
			b.Fatal("throttled")
		}
		if err := bd.Rows(ctx, 500); err != nil {
			b.Fatal(err)
		}
		if err := bd.Do(ctx, call); err != nil {
			b.Fatal(err)
		}
	}
}

// Package border regulates transit's load where it touches a store: a
// token bucket on rows, a throttle on the store's own load, a circuit
// breaker on transient failures and a connection cap. Every command and
// every adapter shares one Border per store; none re-implements it.
package border

import (
	"context"
	"time"
)

// Clock is the time source of the breaker and the throttler; tests inject
// a fake one so that cool-downs and polls take no real time.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

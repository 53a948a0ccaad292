package port

import (
	"context"
	"errors"
	"time"

	"github.com/transitdb/transit/border"
)

// errThrottled ends a chunk attempt early because its source or target
// became busy: the chunk is handed back and resumes from its checkpoint
// once the throttle lifts, so no read, transaction or lease is held
// meanwhile.
var errThrottled = errors.New("store throttled")

// ProbeFunc opens the throttle probe of a store (see stores.Set.Probe): nil
// when the store has no throttle.
type ProbeFunc func(store string) (probe func(context.Context) (float64, error), closeFn func(), err error)

// openBorders builds one border per store of the plan that sets limits,
// starts their throttle pollers on ctx and exports their state to the
// metrics. The returned func stops the exporter and closes the probes.
func (r *runner) openBorders(ctx context.Context) (func(), error) {
	r.borders = map[string]*border.Border{}
	var closers []func()
	m := r.opts.Metrics
	hooks := border.Hooks{
		Breaker: func(store string, to border.State) { m.Breaker.WithLabelValues(store).Set(float64(to)) },
	}
	for _, st := range r.p.Stores {
		if st.Limits.IsZero() {
			continue
		}
		var probe border.Probe
		if (st.Limits.Throttle != nil || st.Limits.MaxReplicaLag > 0) && r.opts.Probe != nil {
			p, closeFn, err := r.opts.Probe(st.Name)
			if err != nil {
				for _, c := range closers {
					c()
				}
				return nil, err
			}
			if closeFn != nil {
				closers = append(closers, closeFn)
			}
			probe = p
		}
		b := border.New(st.Name, border.ConfigFrom(st.Limits, probe), border.IsTransient, r.opts.Clock, r.log, hooks)
		if b == nil {
			continue
		}
		if b.HasBreaker() {
			m.Breaker.WithLabelValues(st.Name).Set(0)
		}
		r.borders[st.Name] = b
	}
	pollCtx, cancel := context.WithCancel(ctx)
	for _, b := range r.borders {
		b.Start(pollCtx)
	}
	done := make(chan struct{})
	exported := map[string]float64{}
	export := func() {
		for name, b := range r.borders {
			s := b.ThrottledSeconds()
			if d := s - exported[name]; d > 0 {
				m.Throttled.WithLabelValues(name).Add(d)
				exported[name] = s
			}
		}
	}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				export()
			}
		}
	}()
	return func() {
		close(done)
		cancel()
		export()
		for _, c := range closers {
			c()
		}
	}, nil
}

// sourceBorder and targetBorder are nil (unlimited) for stores without
// limits.
func (r *runner) sourceBorder(es *entityState) *border.Border { return r.borders[es.Spec.FromStore] }
func (r *runner) targetBorder(es *entityState) *border.Border { return r.borders[es.Spec.ToStore] }

// throttled reports whether es's source or target is throttled now.
func (r *runner) throttled(es *entityState) bool {
	return r.sourceBorder(es).Throttled() || r.targetBorder(es).Throttled()
}

// waitThrottle waits until neither of es's stores is throttled.
func (r *runner) waitThrottle(ctx context.Context, es *entityState) error {
	if err := r.sourceBorder(es).WaitThrottle(ctx); err != nil {
		return err
	}
	return r.targetBorder(es).WaitThrottle(ctx)
}

// waitAnyThrottle waits, before a new chunk is leased, until no store of
// this process's entities is throttled.
func (r *runner) waitAnyThrottle(ctx context.Context) error {
	for _, es := range r.order {
		if err := r.waitThrottle(ctx, es); err != nil {
			return err
		}
	}
	return nil
}

// breakerTripped reports whether a breaker of es's stores is not closed:
// the failure is then paced by the breaker's cool-down rather than by the
// retry backoff, so a store that is down for a while does not fail the run.
func (r *runner) breakerTripped(es *entityState) bool {
	return r.sourceBorder(es).BreakerState() != border.Closed || r.targetBorder(es).BreakerState() != border.Closed
}

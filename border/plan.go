package border

import "github.com/transitdb/transit/plan"

// ConfigFrom turns a store's plan limits into a Config. probe runs the
// throttle query (or reads the replica lag) on its own connection; it is
// used only when the plan asks for a throttle or max_replica_lag.
func ConfigFrom(l *plan.Limits, probe Probe) Config {
	if l == nil {
		return Config{}
	}
	c := Config{MaxConnections: l.MaxConnections, RowsPerSecond: l.RowsPerSecond}
	switch {
	case l.Throttle != nil:
		c.Probe, c.ThrottleAbove, c.ThrottleEvery = probe, l.Throttle.Above, l.Throttle.Every
	case l.MaxReplicaLag > 0:
		c.Probe, c.ThrottleAbove, c.ThrottleEvery = probe, l.MaxReplicaLag.Seconds(), plan.DefaultThrottleEvery
	}
	if l.Breaker != nil {
		c.BreakerFailures, c.BreakerCoolDown = l.Breaker.Failures, l.Breaker.CoolDown
	}
	return c
}

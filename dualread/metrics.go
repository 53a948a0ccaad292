package dualread

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus collectors of the Readers of one process.
type Metrics struct {
	requests   *prometheus.CounterVec   // transit_dualread_records_total{entity,phase,source}
	latency    *prometheus.HistogramVec // transit_dualread_seconds{entity,phase}
	errors     *prometheus.CounterVec   // transit_dualread_errors_total{entity,phase}
	fallbacks  *prometheus.CounterVec   // transit_dualread_fallbacks_total{entity}
	ports      *prometheus.CounterVec   // transit_dualread_ports_total{entity}
	portErrors *prometheus.CounterVec   // transit_dualread_port_errors_total{entity}
	rejects    *prometheus.CounterVec   // transit_dualread_rejects_total{entity}
	negative   *prometheus.CounterVec   // transit_dualread_negative_hits_total{entity}
	degraded   *prometheus.CounterVec   // transit_dualread_degraded_total{entity}
	shadow     *prometheus.CounterVec   // transit_dualread_shadow_reads_total{entity,result=match|mismatch|dropped|error}
	breaker    *prometheus.GaugeVec     // transit_dualread_breaker_state{store}
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_records_total",
			Help: "Records asked for, by entity, phase and the store that answered (none: not found)."}, []string{"entity", "phase", "source"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "transit_dualread_seconds",
			Help: "Time to answer one Get/GetMany.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"entity", "phase"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_errors_total",
			Help: "Reads that failed (degraded answers included)."}, []string{"entity", "phase"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_fallbacks_total",
			Help: "Misses in the new store that fell back to the old store (phase migrating)."}, []string{"entity"}),
		ports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_ports_total",
			Help: "Records ported on demand into the new store."}, []string{"entity"}),
		portErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_port_errors_total",
			Help: "On-demand ports that failed (the record was still answered from the old store)."}, []string{"entity"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_rejects_total",
			Help: "On-demand ports the new store refused (recorded in transit.rejects)."}, []string{"entity"}),
		negative: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_negative_hits_total",
			Help: "Misses answered from the negative cache."}, []string{"entity"}),
		degraded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_degraded_total",
			Help: "Reads answered degraded: not in the new store, old store unavailable."}, []string{"entity"}),
		shadow: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_dualread_shadow_reads_total",
			Help: "Shadow comparisons by result: match, mismatch, dropped (queue full), error."}, []string{"entity", "result"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "transit_dualread_breaker_state",
			Help: "Circuit breaker state per store seen by the readers: 0 closed, 1 half-open, 2 open."}, []string{"store"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.errors, m.fallbacks, m.ports, m.portErrors, m.rejects,
			m.negative, m.degraded, m.shadow, m.breaker)
	}
	return m
}

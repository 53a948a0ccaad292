// Package server is the HTTP read-through server behind `transit serve`:
// GET /v1/{entity}/{id} (composite IDs as /v1/{entity}?Col=v&Col2=w)
// answers through a dualread.Reader; /metrics, /healthz, /readyz and a
// self-refreshing /status page come with it.
//
// Every request but /healthz and /readyz needs the bearer token (unless
// the server runs without one, which the command allows only on
// loopback). At most MaxInFlight reads run at once; more are shed with 503
// and Retry-After.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/transitdb/transit/dualread"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/transition"
)

// EntityStatus is what /status shows of one entity: the facts
// `transit status` prints.
type EntityStatus = transition.EntityStatus

// StatusSource gives the facts of every entity for /status.
type StatusSource func(ctx context.Context) ([]EntityStatus, error)

// Config configures a Server.
type Config struct {
	// Readers answer the reads, by entity name.
	Readers map[string]*dualread.Reader
	// Token is the bearer token every request must carry; "" disables
	// authentication (the command allows that only on loopback).
	Token string
	// MaxInFlight bounds the reads served at once (default 256); more are
	// answered 503 with Retry-After.
	MaxInFlight int
	// RequestTimeout bounds one request (default 5s).
	RequestTimeout time.Duration
	// Status feeds /status; nil shows the readers' phases only.
	Status StatusSource
	// Ready reports whether the server can serve (e.g. the ledger
	// answers); nil: always ready.
	Ready func(ctx context.Context) error
	// Registry gets the server's collectors and is served on /metrics;
	// the Readers' dualread.Metrics should be registered on it too.
	Registry *prometheus.Registry
	Log      *slog.Logger
	// PlanName titles the /status page.
	PlanName string
	// Refresh is the /status page's refresh period (default 5s).
	Refresh time.Duration
}

// Server serves reads over HTTP.
type Server struct {
	cfg      Config
	sem      chan struct{}
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	shed     prometheus.Counter
	latency  *prometheus.HistogramVec
	entities map[string]*entityServe
}

// New builds a Server.
func New(cfg Config) *Server {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	s := &Server{
		cfg: cfg,
		sem: make(chan struct{}, cfg.MaxInFlight),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transit_serve_requests_total",
			Help: "HTTP read requests by entity, phase, source (old, new, none) and status code."}, []string{"entity", "phase", "source", "code"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "transit_serve_shed_total",
			Help: "Requests refused with 503 because max_in_flight reads were running."}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "transit_serve_request_seconds",
			Help: "Time to answer one read request, by entity and phase.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"entity", "phase"}),
	}
	cfg.Registry.MustRegister(s.requests, s.shed, s.latency)
	s.entities = make(map[string]*entityServe, len(cfg.Readers))
	for name, rd := range cfg.Readers {
		if rd != nil {
			s.entities[name] = newEntityServe(rd)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})))
	mux.Handle("GET /status", s.auth(http.HandlerFunc(s.status)))
	mux.Handle("GET /v1/{entity}/{id}", s.auth(s.limit(http.HandlerFunc(s.get))))
	mux.Handle("GET /v1/{entity}", s.auth(s.limit(http.HandlerFunc(s.get))))
	s.mux = mux
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// auth requires the bearer token. The token is compared in constant time
// and never logged.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="transit"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limit sheds load beyond MaxInFlight reads at once.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
			next.ServeHTTP(w, r)
		default:
			s.shed.Inc()
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "too many reads in flight; retry"})
		}
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// response is the JSON of one read.
type response struct {
	Entity string         `json:"entity"`
	ID     []any          `json:"id"`
	Phase  string         `json:"phase"`
	Source string         `json:"source"`
	Ported bool           `json:"ported,omitempty"`
	Record map[string]any `json:"record"`
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	entity := r.PathValue("entity")
	rd, es := s.cfg.Readers[entity], s.entities[entity]
	if rd == nil || es == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no entity " + strconv.Quote(entity) + " is served"})
		return
	}
	id, err := idOf(r, rd)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	phase := rd.Phase()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	rec, err := rd.Get(ctx, id...)
	code, source := http.StatusOK, "none"
	var idErr *dualread.IDError
	switch {
	case err == nil:
		source = string(rec.Source)
		writeRecord(w, es, &response{Entity: entity, ID: id, Phase: phase, Source: source, Ported: rec.Ported}, rec.Fields)
	case errors.Is(err, dualread.ErrNotFound):
		code = http.StatusNotFound
		writeJSON(w, code, map[string]any{"error": "not found", "entity": entity, "id": id, "phase": phase})
	case errors.Is(err, dualread.ErrDegraded):
		// The new store does not hold it and the old one cannot say:
		// answer as a miss, marked, rather than fail.
		code = http.StatusNotFound
		w.Header().Set("X-Transit-Degraded", "old-unavailable")
		writeJSON(w, code, map[string]any{"error": "not in the new store; the old store is unavailable", "entity": entity, "id": id, "phase": phase})
	case errors.As(err, &idErr):
		code = http.StatusBadRequest
		writeJSON(w, code, map[string]any{"error": err.Error()})
	case r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
		code = 499
		source = "gone"
	default:
		code = http.StatusServiceUnavailable
		s.cfg.Log.Warn("read failed", "entity", entity, "phase", phase, "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, code, map[string]any{"error": "store unavailable", "entity": entity, "phase": phase})
	}
	s.count(es, entity, phase, source, code, time.Since(t0))
}

// idOf reads the ID from the path (one-column keys) or from the query,
// one parameter per key column (by its name in the old or the new store).
func idOf(r *http.Request, rd *dualread.Reader) ([]any, error) {
	if v := r.PathValue("id"); v != "" {
		return []any{v}, nil
	}
	q := r.URL.Query()
	src, dst := rd.Key(), rd.KeyTargets()
	id := make([]any, len(src))
	for i := range src {
		v, ok := q[src[i]]
		if !ok {
			v, ok = q[dst[i]]
		}
		if !ok || len(v) != 1 {
			return nil, errors.New("give the ID as one query parameter per key column: " + strings.Join(src, ", "))
		}
		id[i] = v[0]
	}
	return id, nil
}

// jsonRecord makes a record's values JSON-friendly: times in RFC 3339,
// invalid source values as their raw text.
func jsonRecord(f map[string]any) map[string]any {
	out := make(map[string]any, len(f))
	for k, v := range f {
		out[k] = recordValue(v)
	}
	return out
}

func recordValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case record.Invalid:
		return map[string]string{"invalid": x.Reason, "raw": x.Raw}
	}
	return v
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

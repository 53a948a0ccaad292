package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/transitdb/transit/dualread"
	"github.com/transitdb/transit/dualread/server"
	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/transition"
)

func init() { extraCommands = append(extraCommands, newServeCmd) }

type serveOptions struct {
	addr           string
	insecureDev    bool
	entities       []string
	maxInFlight    int
	timeout        time.Duration
	requestTimeout time.Duration
	negativeTTL    time.Duration
	shadowSample   float64
	shadowKeep     int
	pinPhases      []string
	output         string
	verbose        bool
}

// serveTokenEnv names the environment variable holding the bearer token.
const serveTokenEnv = "TRANSIT_SERVE_TOKEN"

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve plan.yaml",
		Short: "Serve reads through the entities' phases over HTTP (dual-read)",
		Long: `Serve answers GET /v1/{entity}/{id} (composite IDs: /v1/{entity}?Col1=a&Col2=b)
with the record as JSON and the store it came from, following each entity's phase in
the ledger: old and shadow read the old store (shadow also compares with the new one),
migrating reads the new store and ports misses from the old one, new reads the new store.

Also: /metrics (Prometheus), /healthz, /readyz, and /status (an HTML page of each
entity's phase, catch-up lag, last run and verify, shadow mismatch rate, rejects).

Every request but /healthz and /readyz needs "Authorization: Bearer $` + serveTokenEnv + `".
--insecure-dev serves without a token, and only on a loopback address.

Exit codes: 0 stopped by SIGINT/SIGTERM after draining; 2 usage, plan or connection error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runServe(cmd, args[0], o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.BoolVar(&o.insecureDev, "insecure-dev", false, "serve without a bearer token (loopback addresses only)")
	f.StringSliceVar(&o.entities, "entity", nil, "serve only these entities (default: every entity with a target)")
	f.IntVar(&o.maxInFlight, "max-in-flight", 256, "reads served at once; more get 503 with Retry-After")
	f.DurationVar(&o.timeout, "timeout", time.Second, "deadline of every store call")
	f.DurationVar(&o.requestTimeout, "request-timeout", 5*time.Second, "deadline of one request")
	f.DurationVar(&o.negativeTTL, "negative-ttl", 5*time.Second, "how long a record missing in both stores is answered missing without asking again (0: off)")
	f.Float64Var(&o.shadowSample, "shadow-sample", 1, "share of reads compared with the new store in phase shadow (0 to 1)")
	f.IntVar(&o.shadowKeep, "shadow-keep", 1000, "differing records kept per entity in transit.shadow_mismatches")
	f.StringSliceVar(&o.pinPhases, "pin-phase", nil, "entity=phase: fix an entity's phase instead of following the ledger (tests and benchmarks)")
	f.StringVar(&o.output, "output", "", "log format: json (default text)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pinned is a PhaseSource that fixes some entities' phases and asks next
// for the others.
type pinned struct {
	pins map[string]string
	next dualread.PhaseSource
}

func (p pinned) Phase(entity string) string {
	if ph, ok := p.pins[entity]; ok {
		return ph
	}
	return p.next.Phase(entity)
}

// phaseSwitch lets the Readers be opened before the ledger's phases are
// known (the ledger pool comes with them).
type phaseSwitch struct{ src dualread.PhaseSource }

func (p *phaseSwitch) Phase(entity string) string {
	if p.src == nil {
		return dualread.PhaseOld
	}
	return p.src.Phase(entity)
}

func runServe(cmd *cobra.Command, path string, o serveOptions) error {
	stderr := cmd.ErrOrStderr()
	if o.output != "" && o.output != "json" {
		return fail(exitUsage, fmt.Errorf("--output %q: want json", o.output))
	}
	log := newLogger(stderr, o.output == "json", o.verbose)
	token := os.Getenv(serveTokenEnv)
	switch {
	case o.insecureDev && !isLoopback(o.addr):
		return fail(exitUsage, fmt.Errorf("--insecure-dev serves without a token, so only on a loopback address (127.0.0.1, ::1, localhost), not %s", o.addr))
	case token == "" && !o.insecureDev:
		return fail(exitUsage, fmt.Errorf("set %s to the bearer token clients must send (or --insecure-dev on a loopback address)", serveTokenEnv))
	}
	pins := map[string]string{}
	for _, pp := range o.pinPhases {
		e, ph, ok := strings.Cut(pp, "=")
		switch ph {
		case dualread.PhaseOld, dualread.PhaseShadow, dualread.PhaseMigrating, dualread.PhaseNew:
		default:
			ok = false
		}
		if !ok || e == "" {
			return fail(exitUsage, fmt.Errorf("--pin-phase %q: want entity=old|shadow|migrating|new", pp))
		}
		pins[e] = ph
	}
	tuneServeMemory()
	stop, _, release := signals(cmd.Context(), stderr, "answering the requests in flight", "requests in flight were cut off")
	defer release()
	reg := metrics.NewRegistry()
	dm := dualread.NewMetrics(reg)
	sw := &phaseSwitch{}
	g, err := dualread.OpenGroup(stop, path, o.entities,
		dualread.WithPhases(sw), dualread.WithLogger(log), dualread.WithMetrics(dm),
		dualread.WithTimeout(o.timeout), dualread.WithNegativeTTL(o.negativeTTL),
		dualread.WithShadow(o.shadowSample, o.shadowKeep))
	if err != nil {
		return fail(exitUsage, err)
	}
	defer g.Close()
	ledgerURL, err := transition.LedgerURL(g.Plan)
	if err != nil {
		return fail(exitUsage, err)
	}
	watch, err := transition.Watch(stop, ledgerURL, g.Plan.Name, transition.WatchOptions{Logger: log})
	if err != nil {
		return fail(exitUsage, fmt.Errorf("follow the phases in the ledger: %w", err))
	}
	defer watch.Close()
	var phases dualread.PhaseSource = watch
	if len(pins) > 0 {
		phases = pinned{pins: pins, next: watch}
	}
	sw.src = phases
	readers := map[string]*dualread.Reader{}
	var names []string
	for _, r := range g.Readers() {
		readers[r.Entity()] = r
		names = append(names, r.Entity())
	}
	pool := g.Ledger()
	srv := server.New(server.Config{
		Readers: readers, Token: token, MaxInFlight: o.maxInFlight, RequestTimeout: o.requestTimeout,
		Status: func(ctx context.Context) ([]server.EntityStatus, error) {
			return statusWithPins(ctx, pool, g.Plan, pins)
		},
		Ready:    func(ctx context.Context) error { return pool.Ping(ctx) },
		Registry: reg.Registry, Log: log, PlanName: g.Plan.Name,
	})
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fail(exitUsage, fmt.Errorf("--addr: %w", err))
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "entities", names, "auth", token != "")
	select {
	case err := <-errc:
		return fail(exitUsage, err)
	case <-stop.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// statusWithPins is transition.Status with the phases --pin-phase forces
// shown instead of the ledger's, as the readers use them.
func statusWithPins(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, pins map[string]string) ([]server.EntityStatus, error) {
	st, err := transition.Status(ctx, pool, p)
	for i := range st {
		if ph, ok := pins[st[i].Entity]; ok {
			st[i].Phase = ph + " (pinned)"
		}
	}
	return st, err
}

// tuneServeMemory sets the garbage collector for serve, unless GOGC or
// GOMEMLIMIT say otherwise. Each read leaves a few KiB of short-lived
// garbage and the live heap is small (connections, caches: tens of MiB),
// so collecting a quarter as often (GOGC 400) takes the collector's CPU
// off the hit path; the soft limit keeps a burst from growing the heap
// past 256 MiB.
func tuneServeMemory() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(256 << 20)
}

package transition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/plan"
)

// WatchOptions tune a Watcher. The zero value is ready to use.
type WatchOptions struct {
	// PollInterval is how often the phases are read when the ledger sits
	// behind a transaction-mode pooler (LISTEN cannot work there).
	// Default 250ms, so a change reaches the Watcher well within 1 s.
	PollInterval time.Duration
	// KeepAlive is how long the listening connection may stay silent
	// before the Watcher checks it is still alive. Default 15s.
	KeepAlive time.Duration
	// MaxReconnectDelay caps the wait between attempts to reconnect the
	// listening connection (doubling from 100ms). Default 5s.
	MaxReconnectDelay time.Duration
	// Logger receives connection losses and reconnections; nil: discarded.
	Logger *slog.Logger
	// OnChange, when set, is called (from the Watcher's goroutine) after
	// an entity's phase changes; from is "old" for an entity never moved.
	// The phases found when Watch starts are not changes.
	OnChange func(entity string, from, to Phase)
}

// Watcher follows the phases of one plan. Phase is safe for concurrent use
// and never blocks on the network: it answers from memory.
type Watcher struct {
	plan   string
	opts   WatchOptions
	pool   *pgxpool.Pool
	cfg    *pgx.ConnConfig
	pooled bool
	log    *slog.Logger

	mu      sync.RWMutex
	phases  map[string]Phase
	mode    string // "listen" or "poll"
	started bool   // the first read is done: later differences are changes

	cancel context.CancelFunc
	done   chan struct{}
}

// Watch follows the phases of plan planName in the ledger at ledgerURL (a
// PostgreSQL URL, the plan's ledger store). It reads them once before it
// returns (an error then is returned), and from then on a change reaches
// Phase within 1 s: by LISTEN transit_phases on a dedicated connection,
// which is reconnected (and the phases read again) whenever it is lost; or,
// when the URL goes through a transaction-mode pooler (see
// internal/pgconf), by polling every PollInterval.
func Watch(ctx context.Context, ledgerURL, planName string, opts WatchOptions) (*Watcher, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.MaxReconnectDelay <= 0 {
		opts.MaxReconnectDelay = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgconf.PoolConfig(ctx, ledgerURL)
	if err != nil {
		return nil, fmt.Errorf("watch phases: %w", err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("watch phases: %w", err)
	}
	w := &Watcher{
		plan: planName, opts: opts, pool: pool, cfg: pcfg.ConnConfig.Copy(),
		pooled: pgconf.Pooled(pcfg.ConnConfig), log: log.With("plan", planName),
		phases: map[string]Phase{}, done: make(chan struct{}),
	}
	w.mode = "listen"
	if w.pooled {
		w.mode = "poll"
	}
	if err := w.reload(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("watch phases: %w", err)
	}
	w.mu.Lock()
	w.started = true // the phases found at the start are not changes
	w.mu.Unlock()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	go func() {
		defer close(w.done)
		if w.pooled {
			w.poll(runCtx)
		} else {
			w.listen(runCtx)
		}
	}()
	return w, nil
}

// Phase returns the phase of entity: "old" when it was never set.
func (w *Watcher) Phase(entity string) string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if p, ok := w.phases[entity]; ok {
		return string(p)
	}
	return string(Old)
}

// Phases returns a copy of the phases of every entity ever moved.
func (w *Watcher) Phases() map[string]Phase {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make(map[string]Phase, len(w.phases))
	for e, p := range w.phases {
		out[e] = p
	}
	return out
}

// Mode says how the Watcher follows changes: "listen" or "poll" (behind a
// transaction-mode pooler).
func (w *Watcher) Mode() string { return w.mode }

// Close stops the Watcher and closes its connections.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
	w.pool.Close()
}

// reload reads every phase of the plan and applies what changed.
func (w *Watcher) reload(ctx context.Context) error {
	states, err := list(ctx, w.pool, w.plan, "")
	if err != nil {
		return err
	}
	next := make(map[string]Phase, len(states))
	for e, s := range states {
		next[e] = s.Phase
	}
	w.apply(next, true)
	return nil
}

// reloadOne reads one entity's phase.
func (w *Watcher) reloadOne(ctx context.Context, entity string) error {
	states, err := list(ctx, w.pool, w.plan, entity)
	if err != nil {
		return err
	}
	next := map[string]Phase{}
	if s, ok := states[entity]; ok {
		next[entity] = s.Phase
	} else {
		next[entity] = Old // deleted by hand: back to the default
	}
	w.apply(next, false)
	return nil
}

// apply stores next (the whole plan when all, else only its entities) and
// calls OnChange for what changed.
func (w *Watcher) apply(next map[string]Phase, all bool) {
	type change struct {
		entity   string
		from, to Phase
	}
	var changes []change
	w.mu.Lock()
	for e, p := range next {
		from, ok := w.phases[e]
		if !ok {
			from = Old
		}
		if from != p {
			changes = append(changes, change{e, from, p})
		}
		if p == Old {
			delete(w.phases, e)
		} else {
			w.phases[e] = p
		}
	}
	if all {
		for e, from := range w.phases {
			if _, ok := next[e]; !ok {
				changes = append(changes, change{e, from, Old})
				delete(w.phases, e)
			}
		}
	}
	started := w.started
	w.mu.Unlock()
	if !started {
		return
	}
	for _, c := range changes {
		w.log.Info("phase changed", "entity", c.entity, "from", c.from, "to", c.to)
		if w.opts.OnChange != nil {
			w.opts.OnChange(c.entity, c.from, c.to)
		}
	}
}

// poll reads the phases every PollInterval until ctx ends. A failed read
// is logged and retried at the next tick; the last phases known stay.
func (w *Watcher) poll(ctx context.Context) {
	t := time.NewTicker(w.opts.PollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, max(w.opts.PollInterval, time.Second))
		err := w.reload(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			w.log.Warn("cannot read phases; keeping the last known", "err", err)
			failing = true
		case err == nil && failing:
			w.log.Info("reading phases again")
			failing = false
		}
	}
}

// listen keeps a connection LISTENing on Channel until ctx ends, and
// reconnects it, with a growing delay, whenever it is lost. After each
// (re)connection it reads every phase, so no change made while it was away
// is missed.
func (w *Watcher) listen(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		connected, err := w.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			delay = 100 * time.Millisecond
		}
		w.log.Warn("phase notifications lost; reconnecting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, w.opts.MaxReconnectDelay)
	}
}

// listenOnce connects, LISTENs, reads every phase, then applies
// notifications until the connection fails. connected reports whether it
// got as far as listening.
func (w *Watcher) listenOnce(ctx context.Context) (connected bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, w.cfg.Copy())
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return false, err
	}
	if err := w.reload(ctx); err != nil {
		return true, err
	}
	prefix := w.plan + "/"
	for {
		wctx, cancel := context.WithTimeout(ctx, w.opts.KeepAlive)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Silence: make sure the connection is still there.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
			continue
		case err != nil:
			return true, err
		}
		entity, ok := strings.CutPrefix(n.Payload, prefix)
		if !ok {
			continue // another plan
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = w.reloadOne(rctx, entity)
		cancel()
		if err != nil {
			return true, err
		}
	}
}

// LedgerURL is the URL of the plan's ledger store (its ledger: key, else
// its first postgres store): the ledgerURL to give Watch.
func LedgerURL(p *plan.Plan) (string, error) {
	s := p.LedgerStore()
	if s == nil {
		return "", fmt.Errorf("plan %s has no postgres store to keep the ledger in", p.Name)
	}
	return s.URL, nil
}

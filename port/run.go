package port

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
)

// wrapUp bounds the steps after the grace period of a stop (results,
// releasing leases): Grace plus wrapUp stays under the 15 s in which a
// stopped process must exit.
const wrapUp = 4 * time.Second

// Options tune a run.
type Options struct {
	Workers   int           // chunks moved at once by this process (default 2; the CLI passes 3)
	Until     *time.Time    // move only rows whose version is at or before Until
	ChunkRows int           // rows per chunk (default 10 batches, at least 50,000)
	LeaseTTL  time.Duration // how long a silent worker keeps a chunk (default 30s)
	// Grace bounds the time between a stop request and the return of Run
	// (default 9s): in-flight batches that are not committed by then are
	// rolled back, which is safe.
	Grace time.Duration
	// SameDB reports whether a sink store shares the ledger's database, so
	// a batch and its checkpoint can commit in one transaction.
	SameDB   func(store string) bool
	Log      *slog.Logger
	Metrics  *metrics.Registry
	Progress func([]EntityProgress) // called about every 200 ms
	// Retry is the backoff for transient errors (default exponential,
	// 100 ms to 5 s, giving up after 2 minutes).
	Retry func() backoff.BackOff
	// Probe opens the throttle probe of a store with a throttle or
	// max_replica_lag in its limits (stores.Set.Probe); nil: no throttle.
	Probe ProbeFunc
	// Clock drives the breakers' cool-downs and the throttle polls
	// (default the wall clock).
	Clock border.Clock
}

// EntityProgress is a live view of one entity.
type EntityProgress struct {
	Entity                  string
	Mode                    string
	Planned                 int64
	Read, Written, Rejected int64
	Done                    bool
	// Throttled: the entity's source or target is busy; no new batch is
	// taken until it is not.
	Throttled bool
}

// EntityResult is what a run did to one entity (counts over the whole run,
// all processes together).
type EntityResult struct {
	Name       string
	Target     string // store.table
	Mode       string
	Planned    int64
	Read       int64
	Written    int64
	Rejected   int64
	MaxRejects int
	Rejects    []ledger.RejectRow // the first few
}

// Result is the outcome of Run.
type Result struct {
	RunID       int64
	Joined      bool
	Entities    []EntityResult
	Elapsed     time.Duration
	LocalRead   int64 // rows this process read
	LocalWrite  int64 // rows this process wrote
	Latency     metrics.Summary
	Interrupted bool // stopped by a signal before the end; resumable
	OverRejects bool // some entity has more rejects than it allows
	Done        bool // the run is complete
	// OwnDone says this process's entities are all moved, though the run
	// may still hold others (planned by a process with another --entity
	// selection) for other processes to finish.
	OwnDone bool
}

// ErrRejectLimit is returned (wrapped) when an entity passes max_rejects.
var ErrRejectLimit = errors.New("rejects over the limit")

type entityState struct {
	*Entity
	run                     *ledger.RunEntity
	read, written, rejected atomic.Int64
	priorRejects            int64
	orderBy                 []string
	orderIdx                []int
}

type runner struct {
	p       *plan.Plan
	l       *ledger.Ledger
	opts    Options
	run     *ledger.Run
	ents    map[string]*entityState
	order   []*entityState
	names   []string // the entities this process moves (a run may hold more)
	latency *metrics.Latency
	log     *slog.Logger
	// work is cancelled on a fatal error, or Grace after a stop.
	work       context.Context
	cancelWork context.CancelCauseFunc
	// final is for the steps after the work (results, releasing leases,
	// failing the run): it outlives the grace period, but only by
	// wrapUp, so a stalled ledger cannot hold a stop for long.
	final context.Context
	stop  context.Context
	// keyed: the entities whose primary key this process has built after
	// their last chunk (see earlyForeignKeys).
	keyedMu   sync.Mutex
	keyed     map[string]bool
	byTarget  map[string]*entityState   // by targetKey (see indexTargets)
	referrers map[string][]*entityState // by the referenced entity's name
	// borders regulate the load on each store with limits, by store name.
	borders map[string]*border.Border
}

// Run moves ents according to the plan: it joins the plan's active run or
// starts one (planning chunks), then leases chunks until none is left,
// finishes the targets (indexes, foreign keys, sequences) and records the
// catch-up watermarks. Cancelling stop makes it stop taking chunks, finish
// or abandon the batches in flight, release its leases and return with
// Result.Interrupted set.
func Run(stop context.Context, p *plan.Plan, ents []*Entity, l *ledger.Ledger, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 30 * time.Second
	}
	if opts.Grace <= 0 {
		opts.Grace = 9 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewRegistry()
	}
	if opts.Retry == nil {
		opts.Retry = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval = 100 * time.Millisecond
			b.MaxInterval = 5 * time.Second
			b.MaxElapsedTime = 2 * time.Minute
			return b
		}
	}
	if opts.SameDB == nil {
		opts.SameDB = func(string) bool { return false }
	}
	r := &runner{p: p, l: l, opts: opts, ents: map[string]*entityState{}, keyed: map[string]bool{}, latency: metrics.NewLatency(), log: opts.Log, stop: stop}
	for _, e := range ents {
		if e.Target == nil {
			continue // read-only entity (audit/verify only)
		}
		es := &entityState{Entity: e}
		r.ents[e.Name] = es
		r.order = append(r.order, es)
		r.names = append(r.names, e.Name)
	}
	if len(r.order) == 0 {
		return nil, errors.New("the plan routes no entity to a target")
	}
	r.indexTargets()
	var cancel context.CancelCauseFunc
	r.work, cancel = context.WithCancelCause(context.WithoutCancel(stop))
	r.cancelWork = cancel
	defer cancel(nil)
	var cancelFinal context.CancelCauseFunc
	r.final, cancelFinal = context.WithCancelCause(context.WithoutCancel(stop))
	defer cancelFinal(nil)
	go func() {
		select {
		case <-stop.Done():
			t := time.NewTimer(opts.Grace)
			defer t.Stop()
			select {
			case <-t.C:
				cancel(errors.New("grace period over"))
			case <-r.work.Done():
			}
			t.Reset(wrapUp)
			select {
			case <-t.C:
				cancelFinal(errors.New("stop deadline over"))
			case <-r.final.Done():
			}
		case <-r.final.Done():
		}
	}()

	run, err := l.StartOrJoin(stop, p.Name, p.Hash, opts.Until, r.planRun)
	if err != nil {
		return nil, err
	}
	r.run = run
	for _, es := range r.order {
		es.run = run.Entities[es.Name]
		if es.run == nil {
			return nil, fmt.Errorf("run %d does not include entity %s (the run was planned with other entities; finish it with the same --entity selection or abandon it)", run.ID, es.Name)
		}
		es.orderBy = es.Key
		if es.run.Mode == "catchup" {
			es.orderBy = append([]string{es.Version}, es.Key...)
		}
		for _, c := range es.orderBy {
			es.orderIdx = append(es.orderIdx, indexOf(es.Read, c))
		}
		if _, prior, err := l.Rejects(stop, run.ID, es.Name, 0); err == nil {
			es.priorRejects = prior
		}
	}
	r.log.Info("run", "id", run.ID, "joined", run.Joined, "entities", len(r.order))
	closeBorders, err := r.openBorders(r.work)
	if err != nil {
		return nil, err
	}
	defer closeBorders()

	progressDone := make(chan struct{})
	if opts.Progress != nil {
		go r.reportProgress(progressDone)
	}
	err = r.workers()
	close(progressDone)
	res := &Result{RunID: run.ID, Joined: run.Joined, Latency: r.latency.Summary()}
	for _, es := range r.order {
		res.LocalRead += es.read.Load()
		res.LocalWrite += es.written.Load()
	}
	interrupted := stop.Err() != nil
	if err == nil && !interrupted {
		err = r.retry(r.work, r.finish)
	}
	if ferr := r.retry(r.final, func() error { return r.fillResult(res) }); ferr != nil && err == nil {
		err = ferr
	}
	if opts.Progress != nil {
		opts.Progress(r.snapshot())
	}
	res.Elapsed = time.Since(start)
	res.Interrupted = interrupted && !res.Done
	if errors.Is(err, ErrRejectLimit) {
		res.OverRejects = true
		fctx, cancel := context.WithTimeout(r.final, wrapUp)
		_ = l.FailRun(fctx, run.ID, err.Error())
		cancel()
		return res, nil
	}
	return res, err
}

package port

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sources"
)

// Options tune a run.
type Options struct {
	Workers   int           // chunks moved at once by this process (default 2)
	Until     *time.Time    // move only rows whose version is at or before Until
	ChunkRows int           // rows per chunk (default 20 batches)
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
}

// EntityProgress is a live view of one entity.
type EntityProgress struct {
	Entity                  string
	Mode                    string
	Planned                 int64
	Read, Written, Rejected int64
	Done                    bool
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
	latency *metrics.Latency
	log     *slog.Logger
	// work is cancelled on a fatal error, or Grace after a stop.
	work       context.Context
	cancelWork context.CancelCauseFunc
	stop       context.Context
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
	r := &runner{p: p, l: l, opts: opts, ents: map[string]*entityState{}, latency: metrics.NewLatency(), log: opts.Log, stop: stop}
	for _, e := range ents {
		if e.Target == nil {
			continue // read-only entity (audit/verify only)
		}
		es := &entityState{Entity: e}
		r.ents[e.Name] = es
		r.order = append(r.order, es)
	}
	if len(r.order) == 0 {
		return nil, errors.New("the plan routes no entity to a target")
	}
	var cancel context.CancelCauseFunc
	r.work, cancel = context.WithCancelCause(context.WithoutCancel(stop))
	r.cancelWork = cancel
	defer cancel(nil)
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
		case <-r.work.Done():
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
	if ferr := r.retry(context.WithoutCancel(r.work), func() error { return r.fillResult(res) }); ferr != nil && err == nil {
		err = ferr
	}
	if opts.Progress != nil {
		opts.Progress(r.snapshot())
	}
	res.Elapsed = time.Since(start)
	res.Interrupted = interrupted && !res.Done
	if errors.Is(err, ErrRejectLimit) {
		res.OverRejects = true
		_ = l.FailRun(context.WithoutCancel(stop), run.ID, err.Error())
		return res, nil
	}
	return res, err
}

// planRun decides what the new run does for each entity and cuts chunks.
// Entities are cut side by side: each cut is a key-only scan of its table.
func (r *runner) planRun(ctx context.Context) ([]ledger.EntityPlan, error) {
	t0 := time.Now()
	out := make([]ledger.EntityPlan, len(r.order))
	var backfills []int
	for i, es := range r.order {
		out[i] = ledger.EntityPlan{Entity: es.Name, Mode: "backfill"}
		var wm any
		if es.Version != "" {
			var err error
			if wm, err = r.l.Watermark(ctx, r.p.Name, es.Name); err != nil {
				return nil, err
			}
		}
		// A table this run creates, and fills with exactly-once batches
		// (data and checkpoint in one transaction), gets its primary key
		// once its data is in: loading without an index to maintain is
		// much faster. Any other table gets its key now, if it lacks one
		// (say, left so by an abandoned run): upserts need it.
		kd, canDefer := es.Sink.(sinks.KeyDeferrer)
		deferred := false
		if canDefer && wm == nil && es.Spec.Create && r.opts.SameDB(es.Spec.ToStore) {
			var err error
			if deferred, err = kd.PrepareDeferred(ctx, es.Target); err != nil {
				return nil, fmt.Errorf("prepare target of %s: %w", es.Name, err)
			}
		}
		empty, err := es.Sink.Prepare(ctx, es.Target, es.Spec.Create)
		if err != nil {
			return nil, fmt.Errorf("prepare target of %s: %w", es.Name, err)
		}
		if canDefer && !deferred {
			if err := kd.AddKey(ctx, es.Target); err != nil {
				return nil, fmt.Errorf("prepare target of %s: %w", es.Name, err)
			}
		}
		if wm != nil {
			out[i].Mode = "catchup"
			out[i].VersionFrom = lagged(wm, es.Spec.Lag)
			out[i].Chunks = []ledger.Bounds{{}}
			continue
		}
		out[i].Fresh = empty && r.opts.SameDB(es.Spec.ToStore)
		// A large table without a version column is cut while it is
		// copied: one open chunk that the worker leasing it cuts (see
		// cutNext). Tables with a version column are cut up front, since
		// the cutting scan also finds the catch-up watermark; so are small
		// ones and those whose size is unknown, for an exact count.
		if es.Version == "" {
			if est, ok := es.Source.(sources.Estimator); ok {
				if n, err := est.EstimateRows(ctx, es.Spec.FromTable); err == nil && n > 2*int64(r.chunkRows(es)) {
					out[i].Rows = n
					out[i].Chunks = []ledger.Bounds{{Open: true}}
					continue
				}
			}
		}
		backfills = append(backfills, i)
	}
	// Largest first would need sizes we do not have; declaration order it is.
	sem := make(chan struct{}, planParallel)
	errs := make([]error, len(r.order))
	var wg sync.WaitGroup
	for _, i := range backfills {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			es := r.order[i]
			chunks, rows, smax, err := r.cutChunks(ctx, es)
			if err != nil {
				errs[i] = fmt.Errorf("plan chunks of %s: %w", es.Name, err)
				return
			}
			out[i].Chunks, out[i].Rows, out[i].StartMax = chunks, rows, smax
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.log.Info("planned", "entities", len(out), "took", time.Since(t0).Round(time.Millisecond))
	return out, nil
}

// planParallel is how many tables are cut into chunks at once.
const planParallel = 3

// lagged moves a time watermark back by lag, so rows committed late with a
// version just before it are read again (the upsert makes that a no-op).
func lagged(wm any, lag time.Duration) any {
	if t, ok := wm.(time.Time); ok {
		return t.Add(-lag)
	}
	return wm
}

// cutChunks scans the key columns once (with the version column, if any)
// and cuts the key space every ChunkRows rows. It also returns the highest
// version seen: the catch-up watermark this backfill will leave, since any
// row changed after this scan gets a newer version.
func (r *runner) cutChunks(ctx context.Context, es *entityState) ([]ledger.Bounds, int64, any, error) {
	per := r.chunkRows(es)
	var bounds []ledger.Bounds
	var lo record.Key
	var n int64
	var smax any
	cols := es.Key
	if es.Version != "" {
		cols = append(append([]string(nil), es.Key...), es.Version)
	}
	nk := len(es.Key)
	q := sources.Query{Table: es.Spec.FromTable, Columns: cols, OrderBy: es.Key, BatchSize: 10_000}
	err := es.Source.Scan(ctx, q, func(b *record.Batch) error {
		for _, row := range b.Rows {
			n++
			if es.Version != "" {
				if v := row[nk]; v != nil && (smax == nil || record.Compare(v, smax) > 0) {
					if _, bad := v.(record.Invalid); !bad {
						smax = v
					}
				}
			}
			if n%int64(per) == 0 {
				hi := append(record.Key(nil), row[:nk]...)
				bounds = append(bounds, ledger.Bounds{Lo: lo, Hi: hi})
				lo = hi
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, nil, err
	}
	bounds = append(bounds, ledger.Bounds{Lo: lo})
	return bounds, n, smax, nil
}

// retry runs f again, with backoff, while it fails with a transient error
// (a lost connection, a server restarting). f must be idempotent: every
// ledger step is.
func (r *runner) retry(ctx context.Context, f func() error) error {
	bo := backoff.WithContext(r.opts.Retry(), ctx)
	for {
		err := f()
		if err == nil || !IsTransient(err) {
			return err
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			return err
		}
		r.log.Warn("transient error; retrying", "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// chunkRows is the number of rows in one chunk of es.
func (r *runner) chunkRows(es *entityState) int {
	if r.opts.ChunkRows > 0 {
		return r.opts.ChunkRows
	}
	return max(20*es.Spec.BatchSize, 50_000)
}

// cutNext cuts an open chunk: it reads the next chunkRows keys after the
// chunk's start and closes the chunk at the last one, leaving the rest of
// the table as a new open chunk for another worker.
func (r *runner) cutNext(es *entityState, c *ledger.Chunk) error {
	per := r.chunkRows(es)
	if st, ok := es.Source.(sources.Stepper); ok {
		// One index skip instead of reading the chunk's keys. When the
		// cut falls on the last row, the open rest is empty: the worker
		// that takes it finds no key and runs it (to no rows).
		hi, err := st.KeyAfter(r.stop, es.Spec.FromTable, es.Key, c.Lo, per)
		if err != nil {
			return fmt.Errorf("cut a chunk of %s: %w", es.Name, err)
		}
		return r.l.Cut(r.work, c, hi)
	}
	var last record.Key
	n := 0
	q := sources.Query{Table: es.Spec.FromTable, Columns: es.Key, OrderBy: es.Key, After: c.Lo, BatchSize: 10_000, Limit: per + 1}
	err := es.Source.Scan(r.stop, q, func(b *record.Batch) error {
		for _, row := range b.Rows {
			n++
			if n == per {
				last = append(record.Key(nil), row...)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cut a chunk of %s: %w", es.Name, err)
	}
	if n <= per {
		last = nil // the rest fits in this chunk: it runs to the end
	}
	return r.l.Cut(r.work, c, last)
}

func (r *runner) workers() error {
	var wg sync.WaitGroup
	errs := make(chan error, r.opts.Workers)
	for i := 0; i < r.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.worker(); err != nil {
				errs <- err
				r.cancelWork(err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var first error
	for err := range errs {
		if first == nil || errors.Is(err, ErrRejectLimit) {
			first = err
		}
	}
	return first
}

func (r *runner) worker() error {
	idle := 0
	for {
		if r.stop.Err() != nil || r.work.Err() != nil {
			return nil
		}
		var c *ledger.Chunk
		err := r.retry(r.work, func() (err error) {
			c, err = r.l.Lease(r.work, r.run.ID, r.opts.LeaseTTL)
			return err
		})
		if err != nil {
			return err
		}
		if c == nil {
			var st ledger.Status
			err := r.retry(r.work, func() (err error) {
				st, err = r.l.RunStatus(r.work, r.run.ID)
				return err
			})
			if err != nil {
				return err
			}
			if st.Pending == 0 {
				return nil
			}
			// Chunks still held by live workers elsewhere: wait for them
			// (or for their leases to lapse).
			idle++
			select {
			case <-r.stop.Done():
			case <-r.work.Done():
			case <-time.After(time.Duration(min(idle, 10)) * 100 * time.Millisecond):
			}
			continue
		}
		idle = 0
		if err := r.chunk(c); err != nil {
			if errors.Is(err, ledger.ErrLeaseLost) {
				r.log.Warn("chunk taken over by another worker", "entity", c.Entity, "chunk", c.No)
				continue
			}
			_ = r.l.Release(context.WithoutCancel(r.work), c)
			if r.stop.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// chunk moves one leased chunk, retrying transient failures from the last
// committed position.
func (r *runner) chunk(c *ledger.Chunk) error {
	es := r.ents[c.Entity]
	if es == nil {
		return fmt.Errorf("run %d has entity %s that this plan does not route", c.RunID, c.Entity)
	}
	bo := backoff.WithContext(r.opts.Retry(), r.stop)
	for {
		var err error
		if c.Open {
			err = r.cutNext(es, c)
		}
		if err == nil {
			err = r.chunkOnce(es, c)
		}
		if err == nil {
			if err := r.retry(r.work, func() error { return r.l.Complete(r.work, c) }); err != nil {
				return err
			}
			r.afterChunk(es)
			return nil
		}
		if r.stop.Err() != nil {
			_ = r.l.Release(context.WithoutCancel(r.work), c)
			return nil
		}
		if !IsTransient(err) {
			return fmt.Errorf("entity %s, chunk %d: %w", es.Name, c.No, err)
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			return fmt.Errorf("entity %s, chunk %d: giving up after retries: %w", es.Name, c.No, err)
		}
		r.opts.Metrics.Retries.WithLabelValues(es.Name).Inc()
		r.log.Warn("transient error; retrying chunk from its checkpoint", "entity", es.Name, "chunk", c.No, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-r.stop.Done():
			_ = r.l.Release(context.WithoutCancel(r.work), c)
			return nil
		}
	}
}

// chunkOnce reads the chunk from its position and writes it batch by batch;
// the next batch is read while the current one is written.
func (r *runner) chunkOnce(es *entityState, c *ledger.Chunk) error {
	q := sources.Query{
		Table: es.Spec.FromTable, Columns: es.Read, OrderBy: es.orderBy,
		After: c.Lo, Upto: c.Hi, BatchSize: es.Spec.BatchSize,
	}
	if c.Position != nil {
		q.After = c.Position
	}
	if es.run.Mode == "catchup" {
		q.Version, q.VersionFrom = es.Version, es.run.VersionFrom
	}
	if r.opts.Until != nil && es.Version != "" {
		q.Version, q.VersionUntil = es.Version, untilValue(es, *r.opts.Until)
	}
	readCtx, cancelRead := context.WithCancel(r.stop)
	defer cancelRead()
	batches := make(chan [][]any, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- es.Source.Scan(readCtx, q, func(b *record.Batch) error {
			// The source reuses its rows: copy them, into one backing
			// array per batch rather than one allocation per row.
			rows := make([][]any, len(b.Rows))
			width := len(es.Read)
			flat := make([]any, len(b.Rows)*width)
			for i, row := range b.Rows {
				rows[i] = flat[i*width : (i+1)*width : (i+1)*width]
				copy(rows[i], row)
			}
			select {
			case batches <- rows:
				return nil
			case <-readCtx.Done():
				return readCtx.Err()
			}
		})
	}()
	for rows := range batches {
		if r.stop.Err() != nil {
			return r.stop.Err()
		}
		if err := r.writeBatch(es, c, rows); err != nil {
			cancelRead()
			for range batches {
			}
			return err
		}
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read %s: %w", es.Spec.FromTable, err)
	}
	return nil
}

func untilValue(es *entityState, until time.Time) any {
	if c := es.From.Column(es.Version); c != nil && c.Type == record.Timestamp {
		// wall-clock columns hold UTC wall time in transit's convention
		return time.Date(until.Year(), until.Month(), until.Day(), until.Hour(), until.Minute(), until.Second(), until.Nanosecond(), time.UTC)
	}
	return until
}

// writeBatch writes rows and advances the chunk's checkpoint, in one
// transaction when the sink shares the ledger's database.
func (r *runner) writeBatch(es *entityState, c *ledger.Chunk, rows [][]any) error {
	t0 := time.Now()
	batch := &record.Batch{Columns: es.Target.Columns, Rows: rows}
	last := rows[len(rows)-1]
	pos := make(record.Key, len(es.orderIdx))
	for i, ix := range es.orderIdx {
		pos[i] = last[ix]
	}
	maxV := c.MaxVersion
	if es.VersionIdx >= 0 {
		for _, row := range rows {
			if v := row[es.VersionIdx]; v != nil && (maxV == nil || record.Compare(v, maxV) > 0) {
				if _, bad := v.(record.Invalid); !bad {
					maxV = v
				}
			}
		}
	}
	opts := sinks.WriteOptions{Fresh: es.run.Fresh && es.run.Mode == "backfill"}
	if es.Version != "" {
		opts.Version = es.TargetName(es.Version)
	}
	prog := ledger.Progress{Position: pos, Read: len(rows), MaxVersion: maxV}
	var res sinks.WriteResult
	tw, isTx := es.Sink.(sinks.TxWriter)
	if isTx && r.opts.SameDB(es.Spec.ToStore) {
		err := pgx.BeginFunc(r.work, tw.Pool(), func(tx pgx.Tx) error {
			var err error
			res, err = tw.WriteTx(r.work, tx, es.Target, batch, opts)
			if err != nil {
				return err
			}
			prog.Written = res.Written
			prog.Rejects = r.rejectRows(es, rows, res.Rejects)
			return r.l.Advance(r.work, tx, c, prog, r.opts.LeaseTTL)
		})
		if err != nil {
			return err
		}
	} else {
		opts.Fresh = false
		var err error
		if res, err = es.Sink.Write(r.work, es.Target, batch, opts); err != nil {
			return err
		}
		prog.Written = res.Written
		prog.Rejects = r.rejectRows(es, rows, res.Rejects)
		if err := r.l.Advance(r.work, nil, c, prog, r.opts.LeaseTTL); err != nil {
			return err
		}
	}
	c.Advanced(prog)
	d := time.Since(t0)
	r.latency.Record(d)
	m := r.opts.Metrics
	m.BatchSeconds.WithLabelValues(es.Name).Observe(d.Seconds())
	m.Rows.WithLabelValues(es.Name, "read").Add(float64(len(rows)))
	m.Rows.WithLabelValues(es.Name, "written").Add(float64(res.Written))
	es.read.Add(int64(len(rows)))
	es.written.Add(int64(res.Written))
	if n := len(res.Rejects); n > 0 {
		m.Rows.WithLabelValues(es.Name, "rejected").Add(float64(n))
		total := es.rejected.Add(int64(n)) + es.priorRejects
		if total > int64(es.Spec.MaxRejects) {
			return fmt.Errorf("entity %s: %d rejects, max_rejects is %d: %w", es.Name, total, es.Spec.MaxRejects, ErrRejectLimit)
		}
	}
	return nil
}

func (r *runner) rejectRows(es *entityState, rows [][]any, rej []sinks.Reject) []ledger.RejectRow {
	if len(rej) == 0 {
		return nil
	}
	out := make([]ledger.RejectRow, len(rej))
	for i, x := range rej {
		row := rows[x.Row]
		key := make(record.Key, len(es.KeyIdx))
		for j, ix := range es.KeyIdx {
			key[j] = keyValue(row[ix])
		}
		payload := make(map[string]any, len(row))
		for j, v := range row {
			payload[es.Target.Columns[j].Name] = payloadValue(v)
		}
		out[i] = ledger.RejectRow{Key: key, Reason: x.Reason, Payload: payload}
	}
	return out
}

func keyValue(v any) any {
	switch v.(type) {
	case nil, int64, uint64, float64, string, bool, []byte, time.Time:
		return v
	}
	return fmt.Sprint(v)
}

func payloadValue(v any) any {
	switch x := v.(type) {
	case record.Invalid:
		return map[string]string{"invalid": x.Reason, "raw": x.Raw}
	case []byte:
		return x // base64 in JSON
	case string:
		return x
	}
	return v
}

// afterChunk builds an entity's primary key (when deferred) and indexes as
// soon as its last chunk is in, while other tables are still copying.
func (r *runner) afterChunk(es *entityState) {
	ok, err := r.l.ClaimIndexes(r.work, r.run.ID, es.Name)
	if err != nil || !ok {
		return
	}
	// The final step does all this again (idempotently); not fatal here.
	if err := r.addKey(r.work, es); err != nil {
		r.log.Warn("early primary key failed; will retry at the end", "entity", es.Name, "err", err)
		return
	}
	if !es.Spec.Indexes || len(es.Target.Indexes) == 0 {
		return
	}
	if err := es.Sink.Finish(r.work, indexOnly(es), false); err != nil {
		r.log.Warn("early index build failed; will retry at the end", "entity", es.Name, "err", err)
	}
}

func (r *runner) addKey(ctx context.Context, es *entityState) error {
	if kd, ok := es.Sink.(sinks.KeyDeferrer); ok {
		return kd.AddKey(ctx, es.Target)
	}
	return nil
}

func indexOnly(es *entityState) *record.Table {
	t := *es.Target
	if !es.Spec.Indexes {
		t.Indexes = nil
	}
	return &t
}

// finish runs the after-data steps once all chunks are done. One process
// does them (advisory lock); the others wait for the run to be marked done.
func (r *runner) finish() error {
	ctx := r.work
	for {
		got, unlock, err := r.l.TryFinishLock(ctx, r.p.Name)
		if err != nil {
			return err
		}
		if got {
			defer unlock()
			break
		}
		st, err := r.l.RunStatus(ctx, r.run.ID)
		if err != nil {
			return err
		}
		if st.RunStatus != "running" {
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.stop.Done():
			return nil
		}
	}
	st, err := r.l.RunStatus(ctx, r.run.ID)
	if err != nil {
		return err
	}
	if st.RunStatus != "running" || st.Pending > 0 {
		return nil
	}
	for _, es := range r.order {
		if err := r.addKey(ctx, es); err != nil {
			return fmt.Errorf("finish %s: %w", es.Name, err)
		}
		if err := es.Sink.Finish(ctx, indexOnly(es), false); err != nil {
			return fmt.Errorf("finish %s: %w", es.Name, err)
		}
	}
	for _, es := range r.order {
		if !es.Spec.ForeignKeys || len(es.Target.ForeignKeys) == 0 {
			continue
		}
		if err := es.Sink.Finish(ctx, indexOnly(es), true); err != nil {
			return fmt.Errorf("foreign keys of %s: %w", es.Name, err)
		}
	}
	totals, err := r.l.Totals(ctx, r.run.ID)
	if err != nil {
		return err
	}
	wms := map[string]any{}
	for _, es := range r.order {
		if es.Version == "" {
			continue
		}
		// A backfill leaves the highest version of its planning scan: a
		// row changed behind its cursor has a newer one, so the next
		// catch-up moves it. A catch-up reads in version order and leaves
		// the highest version it moved.
		var wm any
		if es.run.Mode == "backfill" {
			wm = es.run.StartMax
			if r.opts.Until != nil && wm != nil {
				if u := untilValue(es, *r.opts.Until); record.Compare(wm, u) > 0 {
					wm = u
				}
			}
		} else if t := totals[es.Name]; t != nil {
			wm = t.MaxVersion
		}
		prev, err := r.l.Watermark(ctx, r.p.Name, es.Name)
		if err != nil {
			return err
		}
		if wm == nil || (prev != nil && record.Compare(prev, wm) > 0) {
			wm = prev
		}
		if wm != nil {
			wms[es.Name] = wm
		}
	}
	return r.l.FinishRun(ctx, r.run.ID, r.p.Name, wms)
}

func (r *runner) fillResult(res *Result) error {
	ctx := context.WithoutCancel(r.work)
	totals, err := r.l.Totals(ctx, r.run.ID)
	if err != nil {
		return err
	}
	st, err := r.l.RunStatus(ctx, r.run.ID)
	if err != nil {
		return err
	}
	res.Done = st.RunStatus == "done"
	for _, es := range r.order {
		er := EntityResult{Name: es.Name, Target: es.Spec.ToStore + "." + es.Target.Name, Mode: es.run.Mode, Planned: es.run.Rows, MaxRejects: es.Spec.MaxRejects}
		if t := totals[es.Name]; t != nil {
			er.Read, er.Written, er.Rejected = t.Read, t.Written, t.Rejected
		}
		if er.Rejected > 0 {
			er.Rejects, _, _ = r.l.Rejects(ctx, r.run.ID, es.Name, 5)
		}
		if er.Rejected > int64(er.MaxRejects) {
			res.OverRejects = true
		}
		res.Entities = append(res.Entities, er)
	}
	sort.SliceStable(res.Entities, func(i, j int) bool { return res.Entities[i].Name < res.Entities[j].Name })
	return nil
}

func (r *runner) snapshot() []EntityProgress {
	out := make([]EntityProgress, 0, len(r.order))
	for _, es := range r.order {
		out = append(out, EntityProgress{
			Entity: es.Name, Mode: es.run.Mode, Planned: es.run.Rows,
			Read: es.read.Load(), Written: es.written.Load(), Rejected: es.rejected.Load(),
		})
	}
	return out
}

func (r *runner) reportProgress(done <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			r.opts.Progress(r.snapshot())
		}
	}
}

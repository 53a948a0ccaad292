package port

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sources"
)

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
			// A store lost for a moment while the keys are scanned (a
			// dropped connection, a restart) is retried like the
			// workers' reads: the scan only reads.
			var chunks []ledger.Bounds
			var rows int64
			var smax any
			err := r.retry(ctx, func() error {
				var err error
				chunks, rows, smax, err = r.cutChunks(ctx, es)
				return err
			})
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
	leasePriorities(r.order, out)
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

// chunkRows is the number of rows in one chunk of es.
func (r *runner) chunkRows(es *entityState) int {
	if r.opts.ChunkRows > 0 {
		return r.opts.ChunkRows
	}
	return max(10*es.Spec.BatchSize, 50_000)
}

// cutNext cuts an open chunk: it reads the next chunkRows keys after the
// chunk's start and closes the chunk at the last one, leaving the rest of
// the table as a new open chunk for another worker (or for cutAhead).
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

package port

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sources"
)

// retry runs f again, with backoff, while it fails with a transient error
// (a lost connection, a server restarting). f must be idempotent: every
// ledger step is.
func (r *runner) retry(ctx context.Context, f func() error) error {
	bo := backoff.WithContext(r.opts.Retry(), ctx)
	for {
		err := f()
		if err == nil || !border.IsTransient(err) {
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

func (r *runner) workers() error {
	var wg sync.WaitGroup
	errs := make(chan error, r.opts.Workers)
	done := make(chan struct{})
	cutting := make(chan struct{})
	go func() {
		defer close(cutting)
		r.cutAhead(done)
	}()
	defer func() {
		close(done)
		<-cutting
	}()
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
		// A busy store pauses taking new chunks; nothing is held meanwhile.
		if r.waitAnyThrottle(r.stop) != nil {
			return nil
		}
		var c *ledger.Chunk
		err := r.retry(r.work, func() (err error) {
			c, err = r.l.Lease(r.work, r.run.ID, r.opts.LeaseTTL, r.names)
			return err
		})
		if err != nil {
			return err
		}
		if c == nil {
			var st ledger.Status
			err := r.retry(r.work, func() (err error) {
				st, err = r.l.RunStatus(r.work, r.run.ID, r.names)
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
			r.release(c)
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
		if r.waitThrottle(r.stop, es) != nil {
			_ = r.l.Release(context.WithoutCancel(r.work), c)
			return nil
		}
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
			r.release(c)
			return nil
		}
		if errors.Is(err, errThrottled) {
			// Give the chunk back (a long pause must not hold its lease);
			// the worker waits for the throttle before leasing again, and
			// the chunk resumes from its checkpoint.
			r.log.Info("store throttled; chunk handed back", "entity", es.Name, "chunk", c.No)
			return r.retry(r.work, func() error { return r.l.Release(r.work, c) })
		}
		if !border.IsTransient(err) {
			return fmt.Errorf("entity %s, chunk %d: %w", es.Name, c.No, err)
		}
		if r.breakerTripped(es) {
			// The breaker paces the attempts (it waits out its cool-down
			// before letting one probe through): retry without spending the
			// backoff, so a store that is down for a while does not fail
			// the run, and start the backoff afresh once it is back.
			r.opts.Metrics.Retries.WithLabelValues(es.Name).Inc()
			r.log.Warn("transient error; circuit breaker not closed, waiting for the store", "entity", es.Name, "chunk", c.No, "err", err)
			bo.Reset()
			continue
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
			r.release(c)
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
	batches := make(chan *rowBuf, 1)
	// Buffers of written batches go back to the reader: a batch is dead
	// once writeBatch returns (the sink and the ledger keep only values,
	// which never change), and reusing its arrays spares zeroing and
	// collecting a few hundred KiB per batch.
	spare := make(chan *rowBuf, 2)
	readErr := make(chan error, 1)
	src := r.sourceBorder(es)
	go func() {
		defer close(batches)
		readErr <- src.Do(readCtx, func(readCtx context.Context) error {
			return es.Source.Scan(readCtx, q, func(b *record.Batch) error {
				if err := src.Rows(readCtx, len(b.Rows)); err != nil {
					return err
				}
				var buf *rowBuf
				select {
				case buf = <-spare:
				default:
					buf = &rowBuf{}
				}
				// The source reuses its rows: copy them.
				buf.fill(b.Rows, len(es.Read))
				select {
				case batches <- buf:
					return nil
				case <-readCtx.Done():
					return readCtx.Err()
				}
			})
		})
	}()
	// A batch is written once the next one is read (or the scan ends):
	// when the next batch goes on with the last key of this one, the rows
	// sharing that key wait and are written with it, so that a group of
	// equal keys is never split (see dupkeys.go). The batches written
	// still number as many as read.
	var pend [][]any    // rows read and not written yet, in order
	var pendBuf *rowBuf // the buffer the last rows of pend live in
	for buf := range batches {
		if r.stop.Err() != nil {
			return r.stop.Err()
		}
		if r.throttled(es) {
			cancelRead()
			for range batches {
			}
			return errThrottled
		}
		if len(pend) == 0 {
			pend, pendBuf = buf.rows, buf
			continue
		}
		cut := len(pend)
		if len(buf.rows) > 0 && sameKey(buf.rows[0], pend[cut-1], es.orderIdx) {
			cut = groupTail(pend, es.orderIdx)
		}
		if cut > 0 {
			if err := r.writeBatch(es, c, pend[:cut]); err != nil {
				cancelRead()
				for range batches {
				}
				return err
			}
		}
		if cut == len(pend) {
			pend = buf.rows
		} else {
			pend = append(holdRows(pend[cut:]), buf.rows...)
		}
		select {
		case spare <- pendBuf:
		default:
		}
		pendBuf = buf
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read %s: %w", es.Spec.FromTable, err)
	}
	if len(pend) > 0 {
		return r.writeBatch(es, c, pend)
	}
	return nil
}

// holdRows copies rows out of a batch buffer that is about to be reused.
func holdRows(rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, row := range rows {
		out[i] = slices.Clone(row)
	}
	return out
}

// rowBuf holds a copy of one batch's rows, in one backing array.
type rowBuf struct {
	rows [][]any
	flat []any
}

func (b *rowBuf) fill(rows [][]any, width int) {
	n := len(rows)
	b.rows = slices.Grow(b.rows[:0], n)[:n]
	b.flat = slices.Grow(b.flat[:0], n*width)[:n*width]
	for i, row := range rows {
		b.rows[i] = b.flat[i*width : (i+1)*width : (i+1)*width]
		copy(b.rows[i], row)
	}
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
	// Rows repeating a key of the batch become rejects (see dupkeys.go).
	read := len(rows)
	rows, dups := r.dedupBatch(es, rows)
	batch.Rows = rows
	dst := r.targetBorder(es)
	if err := dst.Rows(r.work, len(rows)); err != nil {
		return err
	}
	var res sinks.WriteResult
	if err := dst.Do(r.work, func(context.Context) error { return r.write(es, c, batch, rows, dups, opts, &prog, &res) }); err != nil {
		return err
	}
	c.Advanced(prog)
	d := time.Since(t0)
	r.latency.Record(d)
	m := r.opts.Metrics
	m.BatchSeconds.WithLabelValues(es.Name).Observe(d.Seconds())
	m.Rows.WithLabelValues(es.Name, "read").Add(float64(read))
	m.Rows.WithLabelValues(es.Name, "written").Add(float64(res.Written))
	es.read.Add(int64(read))
	es.written.Add(int64(res.Written))
	if n := len(res.Rejects) + len(dups); n > 0 {
		m.Rows.WithLabelValues(es.Name, "rejected").Add(float64(n))
		total := es.rejected.Add(int64(n)) + es.priorRejects
		if total > int64(es.Spec.MaxRejects) {
			return fmt.Errorf("entity %s: %d rejects, max_rejects is %d: %w", es.Name, total, es.Spec.MaxRejects, ErrRejectLimit)
		}
	}
	return nil
}

// write writes one batch and advances the chunk's checkpoint, in one
// transaction when the sink shares the ledger's database.
func (r *runner) write(es *entityState, c *ledger.Chunk, batch *record.Batch, rows [][]any, dups []ledger.RejectRow, opts sinks.WriteOptions, prog *ledger.Progress, res *sinks.WriteResult) error {
	tw, isTx := es.Sink.(sinks.TxWriter)
	if isTx && r.opts.SameDB(es.Spec.ToStore) {
		err := pgx.BeginFunc(r.work, tw.Pool(), func(tx pgx.Tx) error {
			// The batch and its checkpoint commit together, so a commit the
			// server loses in a crash loses both: no need to wait for the
			// WAL flush. The worker's in-memory position may then be ahead
			// of the ledger's, but its next Advance is a compare-and-set on
			// the position it last saw: it fails, the chunk is leased again
			// from the durable position, and the lost batches move again.
			// (Any synchronous commit after it, such as Complete, flushes
			// it too.) Employees bench: 7.25 s against 7.74 s.
			if _, err := tx.Exec(r.work, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			var err error
			*res, err = tw.WriteTx(r.work, tx, es.Target, batch, opts)
			if err != nil {
				return err
			}
			prog.Written = res.Written
			prog.Rejects = append(slices.Clip(dups), r.rejectRows(es, rows, res.Rejects)...)
			return r.l.Advance(r.work, tx, c, *prog, r.opts.LeaseTTL)
		})
		if err != nil {
			return err
		}
	} else {
		opts.Fresh = false
		var err error
		if *res, err = es.Sink.Write(r.work, es.Target, batch, opts); err != nil {
			return err
		}
		prog.Written = res.Written
		prog.Rejects = append(slices.Clip(dups), r.rejectRows(es, rows, res.Rejects)...)
		if err := r.l.Advance(r.work, nil, c, *prog, r.opts.LeaseTTL); err != nil {
			return err
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
		out[i] = ledger.RejectRow{Key: key, Reason: x.Reason, Payload: r.payload(es, row)}
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

// release gives c's lease back on a stop, within the stop's deadline (a
// stalled ledger must not hold the process): an unreleased lease expires
// after LeaseTTL anyway.
func (r *runner) release(c *ledger.Chunk) {
	ctx, cancel := context.WithTimeout(r.final, wrapUp)
	defer cancel()
	_ = r.l.Release(ctx, c)
}

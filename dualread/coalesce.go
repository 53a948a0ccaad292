package dualread

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/transitdb/transit/record"
)

// Reads of the new store are coalesced. At most newReaders queries of the
// new store run at once per Reader (newSlots). A read that finds a slot
// free and no read waiting asks at once in its own goroutine (no timer, no
// hand-over: an idle Reader adds no latency). Otherwise it queues, and one
// of newReaders long-lived workers takes it with every read queued behind
// it (up to maxCoalesce keys) into one query as soon as a slot frees: under
// load one round trip and one query plan serve many reads, which is what
// the hit path's throughput is made of. Each read keeps its own deadline
// and its own context, and gets its own rows.
//
// One worker per CPU, at least 2: on 2 cores, 16 closed-loop clients
// (make bench, section serve, under a load average of 10) got 3,500-3,850
// req/s with 4 workers (server 170 µs CPU per read, PostgreSQL 66 µs),
// 4,900-5,050 with 2 (145 µs, 40 µs) and 4,450-4,500 with 1 (130 µs,
// 29 µs: cheaper, but one query at a time).
const maxCoalesce = 64

var newReaders = max(2, runtime.GOMAXPROCS(0))

// readReq is one read waiting for a worker.
type readReq struct {
	ctx  context.Context
	keys []record.Key
	done chan readRes // buffered: a worker never waits for the reader
}

type readRes struct {
	rows [][]any
	cols []record.Column
	err  error
}

// startNewReaders starts the goroutines that read the new store; they end
// when the Reader is closed.
func (r *Reader) startNewReaders() {
	r.newQueue = make(chan *readReq, 1024)
	r.newSlots = make(chan struct{}, newReaders)
	for range newReaders {
		go r.newWorker()
	}
}

// getNew reads keys from the new store, itself or through a worker,
// waiting at most the per-call deadline (or ctx).
func (r *Reader) getNew(ctx context.Context, keys []record.Key) ([][]any, []record.Column, error) {
	select {
	case r.newSlots <- struct{}{}:
		if len(r.newQueue) == 0 {
			// A query slot is free and no read waits: ask in this
			// goroutine, with no hand-over to a worker and back.
			b, err := r.queryNew(ctx, keys)
			<-r.newSlots
			if err != nil {
				return nil, nil, err
			}
			// The store made these rows for this call alone.
			return b.Rows, b.Columns, nil
		}
		<-r.newSlots
	default:
	}
	req := &readReq{ctx: ctx, keys: keys, done: make(chan readRes, 1)}
	t := time.NewTimer(r.opts.timeout)
	defer t.Stop()
	expired := func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w after %v", context.DeadlineExceeded, r.opts.timeout)
	}
	select {
	case r.newQueue <- req:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-t.C:
		return nil, nil, expired()
	case <-r.closed:
		return nil, nil, ErrClosed
	}
	select {
	case res := <-req.done:
		return res.rows, res.cols, res.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-t.C:
		return nil, nil, expired()
	case <-r.closed:
		return nil, nil, ErrClosed
	}
}

// newWorker is one worker: it waits for a read, takes the reads queued
// behind it, and answers them all with one query.
func (r *Reader) newWorker() {
	var batch []*readReq
	for {
		batch = batch[:0]
		select {
		case req := <-r.newQueue:
			batch = append(batch, req)
		case <-r.closed:
			return
		}
		// At most newReaders queries at once, the workers' and those of
		// readers that found a slot free (getNew).
		select {
		case r.newSlots <- struct{}{}:
		case <-r.closed:
			batch[0].done <- readRes{err: ErrClosed}
			return
		}
		n := len(batch[0].keys)
	more:
		for n < maxCoalesce {
			select {
			case req := <-r.newQueue:
				batch = append(batch, req)
				n += len(req.keys)
			default:
				break more
			}
		}
		r.answer(batch)
		<-r.newSlots
		clear(batch)
	}
}

// answer runs one query for the reads of batch and gives each its rows.
func (r *Reader) answer(batch []*readReq) {
	// Reads whose caller has gone are not asked for.
	live := batch[:0]
	n := 0
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- readRes{err: err}
			continue
		}
		live = append(live, req)
		n += len(req.keys)
	}
	if len(live) == 0 {
		return
	}
	keys := live[0].keys
	if len(live) > 1 {
		keys = make([]record.Key, 0, n)
		for _, req := range live {
			keys = append(keys, req.keys...)
		}
	}
	// The query serves several callers: it runs on no caller's context.
	b, err := r.queryNew(context.Background(), keys)
	if err != nil {
		for _, req := range live {
			req.done <- readRes{err: err}
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- readRes{rows: b.Rows, cols: b.Columns}
		return
	}
	r.coalesced.Add(1)
	// Match rows to reads by the canonical text of their key values, as
	// fetch does.
	kc := make([]record.Column, len(r.ent.KeyIdx))
	for i, ix := range r.ent.KeyIdx {
		kc[i] = b.Columns[ix]
	}
	byKey := make(map[string][]any, len(b.Rows))
	for _, row := range b.Rows {
		byKey[canonicalKey(kc, r.rowKey(row))] = row
	}
	for _, req := range live {
		var rows [][]any
		for _, k := range req.keys {
			if row, ok := byKey[canonicalKey(r.keyCols, k)]; ok {
				rows = append(rows, append([]any(nil), row...))
			}
		}
		req.done <- readRes{rows: rows, cols: b.Columns}
	}
}

func copyRows(in [][]any) [][]any {
	rows := make([][]any, len(in))
	for i, row := range in {
		rows[i] = append([]any(nil), row...)
	}
	return rows
}

// queryNew asks the new store for keys, through its border, within the
// per-call deadline. pgx honours the context, so no goroutine guards the
// call (see call).
func (r *Reader) queryNew(ctx context.Context, keys []record.Key) (*record.Batch, error) {
	cctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()
	var b *record.Batch
	err := r.through(cctx, r.newB, func(ctx context.Context) error {
		var err error
		b, err = r.newGet.Get(ctx, r.ent.Target.Name, r.newCols, r.ent.Target.Key, keys)
		return err
	})
	if err != nil && cctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w after %v: %w", context.DeadlineExceeded, r.opts.timeout, err)
	}
	return b, err
}

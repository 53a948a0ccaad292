package feeds

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pglogrepl"

	"github.com/transitdb/transit/feeds/pgrepl"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
)

// Sweeper is a Target that can delete, in one pass, every document of a
// generation older than a version (the Redis target: in-place rebuilds
// end with it, and a truncate is one).
type Sweeper interface {
	Sweep(ctx context.Context, gen string, version uint64) (int, error)
}

// idsOf returns the IDs of the feed's documents that tx touches: rows of
// the feed's table by their id columns (old and new, when an update
// changed the id), and parents named by changes to depends_on tables. It
// reports which tables were truncated. With touched not nil, each ID's
// document ID (DocID) is also added to touched.
func (f *Feed) idsOf(tx pgrepl.Tx, touched map[string]struct{}) (ids []record.Key, truncated, depTruncated []string) {
	seen := map[string]bool{}
	addKey := func(k record.Key) {
		if s := DocID(k); !seen[s] {
			seen[s] = true
			ids = append(ids, k)
			if touched != nil {
				touched[s] = struct{}{}
			}
		}
	}
	own := f.schema + "." + f.Spec.FromTable
	var deps map[string]string
	if f.Spec.Documents != nil {
		deps = f.Spec.Documents.DependsOn
	}
	for _, c := range tx.Changes {
		if c.Table == own {
			if c.Op == pgrepl.Truncate {
				truncated = append(truncated, c.Table)
				continue
			}
		rows:
			for _, m := range []map[string]any{c.Key, c.New} {
				if m == nil {
					continue
				}
				k := make(record.Key, len(f.id))
				for i, col := range f.id {
					v, ok := m[col]
					if !ok || v == nil {
						continue rows
					}
					k[i] = v
				}
				addKey(k)
			}
			continue
		}
		for t, col := range deps {
			if c.Table != f.schema+"."+t {
				continue
			}
			if c.Op == pgrepl.Truncate {
				depTruncated = append(depTruncated, c.Table)
				continue
			}
			for _, m := range []map[string]any{c.Key, c.New} {
				if v, ok := m[col]; ok && v != nil {
					addKey(record.Key{v})
				}
			}
		}
	}
	return ids, truncated, depTruncated
}

// apply brings generation gen up to date with tx: a truncate deletes every
// older document, then the documents of the IDs tx touched are rendered as
// PostgreSQL holds them now and written with tx's commit LSN as version.
// It returns how many documents it wrote or deleted. touched, when not nil,
// collects the document IDs of the documents it applied (see idsOf).
func (f *Feed) apply(ctx context.Context, gen string, tx pgrepl.Tx, touched map[string]struct{}) (int, error) {
	ids, truncated, depTruncated := f.idsOf(tx, touched)
	version := uint64(tx.CommitLSN)
	n := 0
	if len(truncated) > 0 {
		c, err := f.truncate(ctx, gen, version)
		if err != nil {
			return n, err
		}
		n += c
	}
	for _, t := range depTruncated {
		f.log.Warn("a depends_on table was truncated: documents still hold its old rows until they change; run transit feed rebuild", "table", t)
	}
	if len(ids) == 0 {
		return n, nil
	}
	xids := tx.Xids
	if xids == nil {
		xids = []uint32{tx.Xid}
	}
	var docs []doc.Doc
	err := f.retry(ctx, func() error {
		if err := f.waitVisible(ctx, xids); err != nil {
			return err
		}
		var err error
		docs, err = f.render(ctx, ids, version)
		return err
	})
	if err != nil {
		return n, err
	}
	c, err := f.write(ctx, gen, docs)
	return n + c, err
}

// merge folds consecutive transactions into one: the IDs of all of them
// are rendered once, with the last commit LSN as version. That is sound
// because documents are rendered from PostgreSQL as it is when applied
// (at least as new as the last commit), and every later transaction
// commits after it. A truncate in the batch sweeps below that version,
// and the IDs touched before it in the batch are rendered again (found
// missing, they become deletes).
func merge(txs []pgrepl.Tx) pgrepl.Tx {
	if len(txs) == 1 {
		return txs[0]
	}
	last := txs[len(txs)-1]
	n := 0
	for _, tx := range txs {
		n += len(tx.Changes)
	}
	all := make([]pgrepl.Change, 0, n)
	xids := make([]uint32, 0, len(txs))
	for _, tx := range txs {
		all = append(all, tx.Changes...)
		xids = append(xids, tx.Xid)
	}
	last.Changes, last.Xids = all, xids
	return last
}

// truncate deletes every document of gen written before version.
func (f *Feed) truncate(ctx context.Context, gen string, version uint64) (int, error) {
	if sw, ok := f.Target.(Sweeper); ok {
		var n int
		err := f.retry(ctx, func() error {
			var err error
			n, err = sw.Sweep(ctx, gen, version)
			return err
		})
		return n, err
	}
	// Deletes one below version: newer than any write before the
	// truncate, older than the documents this transaction renders.
	var n int
	err := f.Target.Scan(ctx, gen, func(ds []doc.Doc) error {
		del := make([]doc.Doc, len(ds))
		for i, d := range ds {
			del[i] = doc.Doc{ID: d.ID, Fields: d.Fields, Version: version - 1, Delete: true}
		}
		c, err := f.write(ctx, gen, del)
		n += c
		return err
	})
	return n, err
}

// write writes docs into gen, retrying the whole call on errors (writes
// are versioned, so a repeat changes nothing). Rejected documents are
// logged one by one with their ID and reason and recorded in
// transit.rejects (run ledger.NoRun, entity RejectEntity).
func (f *Feed) write(ctx context.Context, gen string, docs []doc.Doc) (int, error) {
	if len(docs) == 0 {
		return 0, nil
	}
	var res doc.Result
	err := f.retry(ctx, func() error {
		var err error
		res, err = f.Target.Write(ctx, gen, docs)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("feed %s: write %s: %w", f.Name(), gen, err)
	}
	for _, rj := range res.Rejects {
		id := docIDOf(docs, rj.Row)
		f.log.Error("document rejected", "generation", gen, "id", id, "reason", rj.Reason)
		var payload map[string]any
		if rj.Row >= 0 && rj.Row < len(docs) {
			payload = docs[rj.Row].Fields
		}
		// Recorded before the caller's checkpoint moves past it, so a
		// refused document is never only in a log line.
		if err := f.Ledger.RecordReject(ctx, ledger.NoRun, f.RejectEntity(), record.Key{id}, rj.Reason, payload); err != nil {
			return 0, fmt.Errorf("feed %s: %w", f.Name(), err)
		}
	}
	f.rejected.Add(int64(len(res.Rejects)))
	return res.Written, nil
}

// retry runs fn with exponential backoff (100 ms to 5 s, for up to 2
// minutes) until it succeeds or ctx ends.
func (f *Feed) retry(ctx context.Context, fn func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 2 * time.Minute
	return backoff.RetryNotify(fn, backoff.WithContext(b, ctx), func(err error, d time.Duration) {
		f.log.Warn("retrying", "in", d, "err", err)
	})
}

// Refeed renders the documents of ids as PostgreSQL holds them now and
// writes them into gen (an ID with no row becomes a delete): verify
// --repair re-feeds exactly the differing documents with it. The version
// is the server's WAL position taken before the read: the state read is at
// least that new, and every later change commits above it. It returns how
// many documents were written or deleted.
//
// A transaction whose commit record lies below that position may not be
// visible yet (see waitVisible); the render would miss it and the stream's
// apply of it, at a lower version, would then be skipped. So the
// transactions in progress just after the position was read are waited for
// (at most refeedWait: one still running after that is taken to commit
// later, above the position, which the stream applies as usual).
func (f *Feed) Refeed(ctx context.Context, gen string, ids []record.Key) (int, error) {
	var lsn, snap string
	if err := f.pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return 0, fmt.Errorf("feed %s: current wal position: %w", f.Name(), err)
	}
	v, err := pglogrepl.ParseLSN(lsn)
	if err != nil {
		return 0, err
	}
	if err := f.pool.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&snap); err != nil {
		return 0, fmt.Errorf("feed %s: snapshot: %w", f.Name(), err)
	}
	if running := inProgress(snap); len(running) > 0 {
		wctx, cancel := context.WithTimeout(ctx, refeedWait)
		err := f.waitVisible(wctx, running)
		cancel()
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err != nil {
			f.log.Debug("transactions still in progress after the wait; taken to commit after the position", "position", lsn, "snapshot", snap)
		}
	}
	docs, err := f.render(ctx, ids, uint64(v))
	if err != nil {
		return 0, err
	}
	return f.write(ctx, gen, docs)
}

// refeedWait bounds Refeed's wait for the transactions in progress.
const refeedWait = 2 * time.Second

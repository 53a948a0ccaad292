package feeds

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/transitdb/transit/feeds/pgrepl"
	"github.com/transitdb/transit/ledger"
)

// errSlotChanged: a rebuild switched the feed to another slot.
var errSlotChanged = errors.New("the feed switched to another slot")

// errPassedUntil: the stream reached a transaction committed after Until.
var errPassedUntil = errors.New("passed until")

// RunOptions tune Run.
type RunOptions struct {
	// Until stops the feed once the stream has passed this time: at the
	// first transaction committed after it, or, when nothing newer comes,
	// once the wall clock is past it and the slot is quiet. Nil: run until
	// ctx ends.
	Until *time.Time
	// Idle is the fallback of Until: how long nothing may be applied past
	// it (default 10s; the server's keepalive usually ends the run first).
	Idle time.Duration
	// WarnWAL logs a loud warning when the slot holds more WAL than this
	// many bytes (default 1 GiB; negative: never).
	WarnWAL int64
	// Poll is how often the slot's lag and the ledger are checked
	// (default 2s).
	Poll time.Duration
}

// DefaultWarnWAL is the slot size above which feed run and feed status
// warn.
const DefaultWarnWAL = 1 << 30

// Run keeps the feed's current generation up to date from its slot until
// ctx ends (returning ctx's error) or, with Until, until the stream has
// passed Until (returning nil). Every transaction is written with its
// commit LSN as version; its end LSN is then stored in the ledger and only
// after that confirmed to PostgreSQL, so a restart resumes exactly (a
// replay is a no-op). A feed never built is rebuilt first; when a rebuild
// switches the feed to a new slot, Run follows it and drops the old one.
// Documents the store refuses are logged and recorded in transit.rejects;
// a run that reaches Until after refusals returns an error wrapping
// ErrRejects.
func (f *Feed) Run(ctx context.Context, o RunOptions) error {
	if o.Idle <= 0 {
		o.Idle = 10 * time.Second
	}
	if o.WarnWAL == 0 {
		o.WarnWAL = DefaultWarnWAL
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	rejected0 := f.rejected.Load()
	for {
		// Slots a switch retired (before reading which slot is current,
		// so the one about to be streamed is never among them).
		f.dropRetired(ctx, 0)
		st, err := f.Ledger.Feed(ctx, f.Plan.Name, f.Name())
		if err != nil {
			return err
		}
		if st.CurrentGen == "" {
			f.log.Info("the feed has no generation yet: building it")
			if _, err := f.Rebuild(ctx); err != nil {
				return err
			}
			continue
		}
		err = f.stream(ctx, st.Slot, st.Publication, st.CurrentGen, o)
		if errors.Is(err, errSlotChanged) {
			f.log.Info("a rebuild switched the feed; following it", "old_slot", st.Slot)
			f.dropRetired(ctx, 5*time.Second)
			continue
		}
		if n := f.rejected.Load() - rejected0; err == nil && n > 0 {
			// Up to date, but not everything made it: the scheduler of
			// a nightly run must hear of it.
			return fmt.Errorf("feed %s: %d documents %w by the store during the run (transit.rejects, run_id %d, entity %q)",
				f.Name(), n, ErrRejects, ledger.NoRun, f.RejectEntity())
		}
		return err
	}
}

func (f *Feed) stream(ctx context.Context, slot, pub, gen string, o RunOptions) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr := &progress{}
	pr.lastDone.Store(time.Now().UnixNano())
	go f.watch(sctx, cancel, slot, o, pr)
	names := pgrepl.Names{Slot: slot, Publication: pub}
	m := f.opts.Metrics
	err := pgrepl.StreamBatches(sctx, f.url, names, func(ctx context.Context, txs []pgrepl.Tx) error {
		pr.busy.Store(true)
		defer func() {
			pr.lastDone.Store(time.Now().UnixNano())
			pr.busy.Store(false)
		}()
		passed := false
		if o.Until != nil {
			// Apply what committed up to Until, then stop.
			for i, tx := range txs {
				if tx.CommitTime.After(*o.Until) {
					txs, passed = txs[:i], true
					break
				}
			}
			if len(txs) == 0 {
				return errPassedUntil
			}
		}
		t0 := time.Now()
		tx := merge(txs)
		n, err := f.apply(ctx, gen, tx, nil)
		if err != nil {
			return err
		}
		t1 := time.Now()
		ok, err := f.Ledger.Confirm(ctx, f.Plan.Name, f.Name(), slot, uint64(tx.EndLSN), int64(n), tx.CommitTime)
		if err != nil {
			return err
		}
		if t2 := time.Now(); t2.Sub(txs[0].CommitTime) > slowBatch {
			// Where a slow batch's time went: before it reached transit
			// (PostgreSQL's decoding and sending), the write into the
			// store, the checkpoint in the ledger.
			f.log.Debug("slow batch", "transactions", len(txs), "changes", n,
				"commit_to_received", t0.Sub(txs[0].CommitTime).Round(time.Millisecond),
				"write", t1.Sub(t0).Round(time.Millisecond), "checkpoint", t2.Sub(t1).Round(time.Millisecond))
		}
		if !ok {
			return errSlotChanged
		}
		pr.applied.Store(uint64(tx.EndLSN))
		if m != nil {
			m.FeedEvents.WithLabelValues(f.Name()).Add(float64(n))
			m.FeedLagSecs.WithLabelValues(f.Name()).Set(max(0, time.Since(tx.CommitTime).Seconds()))
		}
		if passed {
			// The applied part is confirmed in the ledger; the stream
			// confirms it to PostgreSQL next time (a replay is a no-op).
			return errPassedUntil
		}
		return nil
	}, pgrepl.StreamOptions{StatusInterval: f.opts.StatusInterval, OnKeepalive: func(end pgrepl.LSN) {
		pr.serverEnd.Store(uint64(end))
	}})
	switch {
	case errors.Is(err, errPassedUntil) || errors.Is(context.Cause(sctx), errPassedUntil):
		return nil
	case errors.Is(err, errSlotChanged) || errors.Is(context.Cause(sctx), errSlotChanged):
		return errSlotChanged
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("feed %s: %w", f.Name(), err)
	}
	return nil
}

// slowBatch: a batch applied later than this after its first commit is
// logged (debug) with where its time went.
const slowBatch = 250 * time.Millisecond

// progress is what the stream tells its watcher.
type progress struct {
	busy     atomic.Bool   // a batch is being applied
	lastDone atomic.Int64  // when the last batch was applied (unix ns)
	applied  atomic.Uint64 // end LSN of the last applied batch
	// serverEnd is the server's sent position of the last keepalive,
	// reported once everything before it was applied.
	serverEnd atomic.Uint64
}

// watch polls the slot (lag metrics, the loud WAL warning), the ledger (a
// rebuild that switched the slot) and the clock: once past Until it notes
// the server's WAL position, and stops the stream when everything up to
// it is applied — a transaction ending there, or a keepalive past it (the
// slot sends only the feed's tables' transactions, so the first may never
// come; the server sends the second once it has nothing more to send) —
// or, as a fallback, when nothing has been applied for Idle.
func (f *Feed) watch(ctx context.Context, cancel context.CancelCauseFunc, slot string, o RunOptions, pr *progress) {
	t := time.NewTicker(min(o.Poll, o.Idle/4+time.Millisecond))
	defer t.Stop()
	nextPoll := time.Now()
	warned := time.Time{}
	var untilWAL uint64
	var untilAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if o.Until != nil && time.Now().After(*o.Until) {
			if untilAt.IsZero() {
				var lsn string
				// The insert position: every transaction committed by
				// now lies below it, also with synchronous_commit off
				// (the write position can lag it by wal_writer_delay).
				if err := f.pool.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err == nil {
					if v, err := pglogrepl.ParseLSN(lsn); err == nil {
						untilWAL, untilAt = uint64(v), time.Now()
					}
				}
			}
			if !untilAt.IsZero() && !pr.busy.Load() {
				quiet := time.Since(time.Unix(0, pr.lastDone.Load())) > o.Idle && time.Since(untilAt) > o.Idle
				if pr.applied.Load() >= untilWAL || pr.serverEnd.Load() >= untilWAL || quiet {
					cancel(errPassedUntil)
					return
				}
			}
		}
		if time.Now().Before(nextPoll) {
			continue
		}
		nextPoll = time.Now().Add(o.Poll)
		if st, err := f.Ledger.Feed(ctx, f.Plan.Name, f.Name()); err == nil && st.Slot != slot {
			cancel(errSlotChanged)
			return
		}
		s, err := pgrepl.SlotStatus(ctx, f.url, slot)
		if err != nil {
			continue
		}
		if m := f.opts.Metrics; m != nil {
			m.FeedLagBytes.WithLabelValues(f.Name()).Set(float64(s.LagBytes))
			if !pr.busy.Load() && time.Since(time.Unix(0, pr.lastDone.Load())) > o.Poll && s.LagBytes == 0 {
				m.FeedLagSecs.WithLabelValues(f.Name()).Set(0)
			}
		}
		if o.WarnWAL > 0 && s.LagBytes > o.WarnWAL && time.Since(warned) > time.Minute {
			warned = time.Now()
			f.log.Error("WARNING: the feed's replication slot holds back a lot of WAL; PostgreSQL's disk fills up if it keeps growing",
				"slot", slot, "wal_bytes", s.LagBytes, "limit", o.WarnWAL)
		}
	}
}

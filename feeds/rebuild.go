package feeds

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/transitdb/transit/feeds/pgrepl"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/sinks/doc"
)

// ErrInterrupted says a rebuild stopped on request before it switched
// readers; running it again resumes it.
var ErrInterrupted = errors.New("rebuild interrupted (resumable: run it again)")

// ErrRejects says a rebuild's backfill had documents refused; readers
// stay on the old generation.
var ErrRejects = errors.New("documents rejected")

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Generation string
	Resumed    bool   // a killed rebuild was picked up
	LSN        uint64 // the slot's consistent point (version of backfilled documents)
	Backfilled int64  // documents written by the backfill (this process)
	CaughtUp   int    // documents written during the catch-up
	Swept      int    // stale keys removed (in-place targets)
	Plain      bool   // the backfill wrote without the compare-and-set (see plainSafe)
	NoSweep    bool   // the sweep was skipped: the keyspace was empty before (see Emptier)
	Dropped    []string
	Rejects    int64
}

// lockKey names the advisory lock one feed's rebuild holds.
func (f *Feed) lockKey() string { return "transit feed " + f.Plan.Name + "/" + f.Spec.Name }

// Rebuild builds a fresh generation of the feed and switches readers to
// it: a new slot (so no change is missed), port's chunked backfill with the
// slot's consistent point as version, a catch-up from the slot, Ready, the
// verify hook, then one atomic switch, and old generations beyond keep
// dropped. Each step is recorded in the ledger; killed at any point, the
// readers stay on the old generation and the next Rebuild resumes.
func (f *Feed) Rebuild(ctx context.Context) (*RebuildResult, error) {
	conn, err := f.Ledger.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", f.Name(), err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext($1))", f.lockKey()).Scan(&got); err != nil {
		return nil, fmt.Errorf("feed %s: lock: %w", f.Name(), err)
	}
	if !got {
		return nil, fmt.Errorf("feed %s: another process is rebuilding it", f.Name())
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", f.lockKey())
	}()

	l := f.Ledger
	// Slots an earlier switch retired and a killed process left behind.
	f.dropRetired(ctx, 0)
	st, err := l.Feed(ctx, f.Plan.Name, f.Name())
	if err != nil {
		return nil, err
	}
	res := &RebuildResult{Resumed: st.RebuildGen != ""}
	// initial: the feed has never been switched live, read under the lock
	// above (see plainSafe).
	initial := st.CurrentGen == ""
	if st.RebuildGen == "" {
		gen, err := f.nextGeneration(ctx)
		if err != nil {
			return nil, err
		}
		names := f.names(time.Now().UnixNano())
		// Names first, slot second: a rebuild killed between the two
		// finds its slot again instead of leaking one that holds WAL.
		if err := l.StartRebuild(ctx, f.Plan.Name, f.Name(), gen, names.Slot, names.Publication, 0); err != nil {
			return nil, err
		}
		if st, err = l.Feed(ctx, f.Plan.Name, f.Name()); err != nil {
			return nil, err
		}
	}
	gen := st.RebuildGen
	// noStale: the initial build found the keyspace empty before this
	// process wrote anything, so no key older than the build can exist
	// (nothing else writes it, see plainSafe) and the sweep is skipped. A
	// resumed build looks again: it finds its own keys unless it wrote
	// none.
	noStale := false
	if initial {
		if e, ok := f.Target.(Emptier); ok {
			empty, err := e.Empty(ctx, gen)
			if err != nil {
				return nil, fmt.Errorf("feed %s: %w", f.Name(), err)
			}
			noStale = empty
			res.NoSweep = empty
		}
	}
	names := pgrepl.Names{Slot: st.RebuildSlot, Publication: st.RebuildPub}
	res.Generation = gen
	log := f.log.With("generation", gen, "slot", names.Slot)
	if st.RebuildLSN == 0 {
		slot, err := pgrepl.Setup(ctx, f.url, names, f.Tables())
		if err != nil {
			return nil, fmt.Errorf("feed %s: %w", f.Name(), err)
		}
		_ = slot.Close(ctx)
		if err := l.StartRebuild(ctx, f.Plan.Name, f.Name(), gen, names.Slot, names.Publication, uint64(slot.Start)); err != nil {
			return nil, err
		}
		st.RebuildLSN, st.RebuildPhase = uint64(slot.Start), ledger.PhaseBackfill
	}
	res.LSN = st.RebuildLSN
	log.Info("rebuild", "phase", st.RebuildPhase, "lsn", pglogrepl.LSN(st.RebuildLSN), "resumed", res.Resumed)
	phase := st.RebuildPhase
	if phase == ledger.PhaseBackfill {
		if err := f.backfill(ctx, gen, names.Slot, st.RebuildLSN, initial, res); err != nil {
			return res, err
		}
		if err := l.SetRebuildPhase(ctx, f.Plan.Name, f.Name(), gen, ledger.PhaseCatchup); err != nil {
			return res, err
		}
		phase = ledger.PhaseCatchup
	}
	if phase == ledger.PhaseCatchup {
		t0 := time.Now()
		n, _, err := f.catchup(ctx, gen, names, nil)
		res.CaughtUp = n
		log.Debug("caught up", "documents", n, "took", time.Since(t0).Round(time.Millisecond))
		if err != nil {
			return res, err
		}
		if sw, ok := f.Target.(Sweeper); ok && noStale {
			log.Info("no sweep: the keyspace was empty when the initial build began")
		} else if ok {
			if res.Swept, err = sw.Sweep(ctx, gen, st.RebuildLSN); err != nil {
				return res, fmt.Errorf("feed %s: sweep: %w", f.Name(), err)
			}
		}
		if err := l.SetRebuildPhase(ctx, f.Plan.Name, f.Name(), gen, ledger.PhaseVerify); err != nil {
			return res, err
		}
		phase = ledger.PhaseVerify
	}
	if err := ctx.Err(); err != nil {
		return res, ErrInterrupted
	}
	if phase == ledger.PhaseVerify {
		if err := f.Target.Ready(ctx, gen); err != nil {
			return res, fmt.Errorf("feed %s: ready %s: %w", f.Name(), gen, err)
		}
		if f.opts.Verify != nil {
			err := f.opts.Verify(ctx, f, gen)
			settled := 0
			// Changes committed while the catch-up ended or the compare
			// ran are in flight, not wrong: catch up again. When the
			// catch-up touched every differing document (it renders each
			// from PostgreSQL as it is now), the differences were those
			// changes and the generation is equal; otherwise compare
			// again before calling it a difference. Under a steady writer
			// a full compare never comes out clean, so without this a
			// busy table's rebuild could not switch.
			for retry := 0; err != nil && errors.Is(err, ErrDiffers) && retry < 2 && ctx.Err() == nil; retry++ {
				log.Info("verify before the switch found differences; catching up and comparing again", "err", err)
				touched := map[string]struct{}{}
				rejected0 := f.rejected.Load()
				var de *DiffersError
				settles := errors.As(err, &de) && len(de.IDs) > 0
				// A catch-up that ended because the slot stayed quiet (the
				// server had not yet flushed the WAL it was to send) may
				// not have reached the changes: up to three before
				// comparing again.
				for range 3 {
					t0 := time.Now()
					n, reached, cerr := f.catchup(ctx, gen, names, touched)
					if cerr != nil {
						return res, cerr
					}
					log.Debug("caught up again", "documents", n, "touched", len(touched), "reached", reached, "took", time.Since(t0).Round(time.Millisecond))
					if reached || !settles || allIn(de.IDs, touched) {
						break
					}
				}
				if settles && f.rejected.Load() == rejected0 && allIn(de.IDs, touched) {
					settled = len(de.IDs)
					log.Info("every differing document changed during the compare; the catch-up applied the changes", "documents", settled)
					err = nil
					break
				}
				err = f.opts.Verify(ctx, f, gen)
			}
			if err != nil {
				_ = l.RecordVerify(context.WithoutCancel(ctx), f.Plan.Name, f.Name(), "rebuild "+gen+": "+err.Error())
				return res, fmt.Errorf("feed %s: verify %s before the switch: %w (readers stay on the old generation)", f.Name(), gen, err)
			}
			msg := "rebuild " + gen + ": equal"
			if settled > 0 {
				msg += fmt.Sprintf(" (%d documents that changed during the compare were applied by the catch-up after it)", settled)
			}
			if err := l.RecordVerify(ctx, f.Plan.Name, f.Name(), msg); err != nil {
				return res, err
			}
		}
		if err := l.SetRebuildPhase(ctx, f.Plan.Name, f.Name(), gen, ledger.PhaseSwitch); err != nil {
			return res, err
		}
	}
	if err := f.Target.Switch(ctx, gen); err != nil {
		return res, fmt.Errorf("feed %s: switch to %s: %w", f.Name(), gen, err)
	}
	confirmed := st.RebuildLSN
	if s, err := pgrepl.SlotStatus(ctx, f.url, names.Slot); err == nil && uint64(s.Confirmed) > confirmed {
		confirmed = uint64(s.Confirmed)
	}
	msg := fmt.Sprintf("ok: %s from %s", gen, pglogrepl.LSN(st.RebuildLSN))
	// The switch records the old slot as retired in the same statement:
	// killed before the drop below, the next rebuild or feed run drops it.
	if _, _, err := l.FinishRebuild(ctx, f.Plan.Name, f.Name(), gen, confirmed, msg); err != nil {
		return res, err
	}
	log.Info("switched", "generation", gen)
	f.dropRetired(ctx, 10*time.Second)
	res.Dropped, err = f.dropOld(ctx, gen)
	return res, err
}

// nextGeneration names the generation a new rebuild writes: alias_vN+1
// for an alias, the live keyspace for an in-place target.
func (f *Feed) nextGeneration(ctx context.Context) (string, error) {
	if f.Spec.ToAlias == "" {
		return f.Target.Current(ctx)
	}
	gens, err := f.Target.Generations(ctx)
	if err != nil {
		return "", fmt.Errorf("feed %s: generations: %w", f.Name(), err)
	}
	n := 0
	for _, g := range gens {
		if v, ok := genNumber(f.Spec.ToAlias, g); ok && v > n {
			n = v
		}
	}
	return fmt.Sprintf("%s_v%d", f.Spec.ToAlias, n+1), nil
}

func genNumber(alias, gen string) (int, bool) {
	s, ok := strings.CutPrefix(gen, alias+"_v")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	return v, err == nil && v > 0
}

// Emptier is a Target that can tell whether generation gen holds no
// document at all (the Redis target: no key under its prefix). An initial
// build that finds it empty skips the sweep: nothing older than the build
// can be there, and nothing else writes the keyspace meanwhile (see
// plainSafe).
type Emptier interface {
	Empty(ctx context.Context, gen string) (bool, error)
}

// PlainWriter is a Target that can write documents without its version
// compare-and-set (the Redis target: two commands a key instead of three
// or four). Rebuild uses it only where plainSafe says so. Deletes are
// refused (rejects).
type PlainWriter interface {
	WritePlain(ctx context.Context, gen string, docs []doc.Doc) (doc.Result, error)
}

// plainSafe says whether the backfill of a rebuild may write without the
// compare-and-set (PlainWriter): only the initial build of a feed, one
// that has never been switched live (no current generation in the ledger,
// read while holding the rebuild's advisory lock), and only for an
// in-place target. Why that is safe:
//
//   - Nothing else writes the keyspace meanwhile. feed run streams only
//     a feed with a current generation (a never-built one it rebuilds
//     first, which waits for this rebuild's lock); verify --repair refuses
//     a feed without one; a second rebuild waits for the lock; feed drop
//     cannot drop a slot a feed run still streams from, so no run from
//     before a drop is left writing either.
//   - Every change the backfill's plain writes could be missing or
//     overwriting is newer than the slot's consistent point, so it is in
//     the rebuild's slot, and the catch-up (and feed run after it) apply
//     it afterwards with the compare-and-set. A plain write never comes
//     after a versioned one of the same rebuild: the backfill ends before
//     the catch-up starts (the ledger's phase), also after kill -9 and
//     resume, where a redone chunk writes the same version again.
//   - What the keyspace held before (a build dropped with feed drop, which
//     leaves the keys, or a key someone else put under the prefix) is
//     older than the rebuild (or has no version): the compare-and-set
//     would replace it all the same, a plain write replaces it whole (DEL
//     first), and the sweep removes what the backfill has no row for.
//     Tombstones are left alone; a key written here beats them, as an
//     upsert newer than them would.
//   - The exception, a key under the prefix with a version newer than the
//     rebuild's written by something other than this feed (two feeds
//     sharing a keyspace, or a feed from another PostgreSQL), would be
//     kept by the compare-and-set and is overwritten here; sharing a
//     keyspace that way is a misconfiguration verify reports either way.
func plainSafe(initial bool, t doc.Target, alias string) (PlainWriter, bool) {
	pw, ok := t.(PlainWriter)
	return pw, ok && initial && alias == ""
}

// backfill runs port's engine over the feed's table into gen, every
// document with version lsn. A port run of its own (named after the
// rebuild's slot) holds the chunks, so a killed backfill resumes. initial
// says the feed has never been live (see plainSafe).
func (f *Feed) backfill(ctx context.Context, gen, slot string, lsn uint64, initial bool, res *RebuildResult) error {
	ent := &plan.Entity{
		Name: f.Name(), FromStore: f.Spec.FromStore, FromTable: f.Spec.FromTable,
		ToStore: f.Spec.ToStore, ToTable: gen, ID: f.id, MaxRejects: math.MaxInt32,
		Create: true, Lag: plan.DefaultLag, Pos: f.Spec.Pos, Columns: map[string]*plan.ColumnRule{},
	}
	keep := f.cols
	if f.Spec.Documents != nil {
		keep = f.id
	}
	for _, c := range f.table.Names() {
		if !contains(keep, c) {
			ent.Columns[c] = &plan.ColumnRule{Drop: true}
		}
	}
	p := &plan.Plan{Version: 1, Name: f.Plan.Name + "/feed/" + f.Name() + "/" + slot, Naming: plan.NamingKeep,
		Stores: f.Plan.Stores, Ledger: f.Plan.Ledger, Entities: []*plan.Entity{ent}, Hash: f.Plan.Hash, Source: f.Plan.Source}
	ents, err := port.Resolve(ctx, p, p.Entities, f.stores)
	if err != nil {
		return err
	}
	sink := &docSink{f: f, gen: gen, version: lsn}
	if pw, ok := plainSafe(initial, f.Target, f.Spec.ToAlias); ok {
		sink.plain = pw
		res.Plain = true
		f.log.Info("initial build: the backfill writes without the version compare-and-set (nothing else writes the keyspace; later changes come from the slot)")
	}
	ents[0].Sink = sink
	r, err := port.Run(ctx, p, ents, f.Ledger, port.Options{Workers: f.opts.Workers, ChunkRows: f.opts.ChunkRows,
		Log: f.log, Metrics: f.opts.Metrics})
	if r != nil {
		res.Backfilled = r.LocalWrite
		for _, e := range r.Entities {
			res.Rejects += e.Rejected
		}
	}
	if err != nil {
		return fmt.Errorf("feed %s: backfill: %w", f.Name(), err)
	}
	if r.Interrupted || !r.Done {
		return ErrInterrupted
	}
	if res.Rejects > 0 {
		var ids []string
		for _, e := range r.Entities {
			for _, rj := range e.Rejects {
				ids = append(ids, rj.Reason)
			}
		}
		_ = f.Ledger.SetRebuildPhase(context.WithoutCancel(ctx), f.Plan.Name, f.Name(), gen, ledger.PhaseBackfill)
		return fmt.Errorf("feed %s: backfill of %s: %d %w (readers stay on the old generation; see transit.rejects of run %d): %s",
			f.Name(), gen, res.Rejects, ErrRejects, r.RunID, strings.Join(ids, "; "))
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// catchup streams the rebuild's slot into gen until it has applied
// everything committed before it started, or the slot has been quiet for
// CatchupIdle. Whatever comes later, feed run applies from the same slot.
//
// "Everything before it started" shows in one of two ways: a transaction
// ending at or past the WAL position read at the start, or the server's
// keepalive at or past it (the slot sends only the feed's tables'
// transactions, so the first may never come — other writes, the ledger's
// among them, move the WAL on; the server sends a keepalive with its
// position once it has nothing more to send, and the stream hands it over
// after applying everything before it). Without the second, every
// catch-up of a quiet table waited out CatchupIdle (a second of each
// rebuild).
//
// With touched not nil, the ID (DocID) of every document a change applied
// touched is added to it. reached says whether it ended at its goal rather
// than on a quiet slot.
func (f *Feed) catchup(ctx context.Context, gen string, names pgrepl.Names, touched map[string]struct{}) (n int, reached bool, err error) {
	var target string
	// The insert position, not pg_current_wal_lsn (the write position):
	// with synchronous_commit off, a transaction committed before the
	// catch-up began may lie above the write position for up to
	// wal_writer_delay, and a catch-up that ended there missed it.
	if err := f.pool.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&target); err != nil {
		return 0, false, fmt.Errorf("feed %s: current wal position: %w", f.Name(), err)
	}
	goal, err := pglogrepl.ParseLSN(target)
	if err != nil {
		return 0, false, err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var applied atomic.Uint64
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := errors.New("caught up")
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
				if applied.Load() >= uint64(goal) || time.Since(time.Unix(0, last.Load())) > f.opts.CatchupIdle {
					cancel(done)
					return
				}
			}
		}
	}()
	err = pgrepl.StreamBatches(cctx, f.url, names, func(ctx context.Context, txs []pgrepl.Tx) error {
		tx := merge(txs)
		c, err := f.apply(ctx, gen, tx, touched)
		n += c
		if err != nil {
			return err
		}
		applied.Store(uint64(tx.EndLSN))
		last.Store(time.Now().UnixNano())
		return nil
	}, pgrepl.StreamOptions{StatusInterval: f.opts.StatusInterval, OnKeepalive: func(end pgrepl.LSN) {
		if uint64(end) >= uint64(goal) && uint64(end) > applied.Load() {
			applied.Store(uint64(end))
		}
	}})
	if ctx.Err() != nil {
		return n, false, ErrInterrupted
	}
	if errors.Is(context.Cause(cctx), done) {
		return n, applied.Load() >= uint64(goal), nil
	}
	return n, false, fmt.Errorf("feed %s: catch-up: %w", f.Name(), err)
}

// dropSlot drops a slot and publication the feed no longer uses, retrying
// while a feed run still streams from it (it notices the switch and lets
// go); it only warns when that takes longer than wait.
func (f *Feed) dropSlot(ctx context.Context, names pgrepl.Names, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		held, err := pgrepl.Drop(ctx, f.url, names)
		if err == nil {
			f.log.Info("dropped the old slot", "slot", names.Slot, "freed_wal_bytes", held)
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.log.Warn("could not drop the old slot yet; the next feed run or rebuild drops it, or transit feed drop", "slot", names.Slot, "err", err)
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// dropRetired drops the slots rebuilds of the feed switched away from
// (recorded in the ledger by the switch itself, so a process killed before
// it dropped them leaves them there) and forgets each one dropped. One
// still in use after wait (a feed run that has not followed the switch
// yet) stays recorded for the next call.
func (f *Feed) dropRetired(ctx context.Context, wait time.Duration) {
	slots, pubs, err := f.Ledger.Retired(ctx, f.Plan.Name, f.Name())
	if err != nil {
		f.log.Warn("could not read the retired slots", "err", err)
		return
	}
	for i, slot := range slots {
		if !f.dropSlot(ctx, pgrepl.Names{Slot: slot, Publication: pubs[i]}, wait) {
			continue
		}
		if err := f.Ledger.Unretire(ctx, f.Plan.Name, f.Name(), slot); err != nil {
			f.log.Warn("dropped a retired slot but could not note it", "slot", slot, "err", err)
		}
	}
}

// dropOld drops the oldest generations until keep remain (the current one
// included, never dropped).
func (f *Feed) dropOld(ctx context.Context, current string) ([]string, error) {
	if f.Spec.ToAlias == "" {
		return nil, nil
	}
	gens, err := f.Target.Generations(ctx)
	if err != nil {
		return nil, fmt.Errorf("feed %s: generations: %w", f.Name(), err)
	}
	var others []string
	for _, g := range gens {
		if _, ok := genNumber(f.Spec.ToAlias, g); ok && g != current {
			others = append(others, g)
		}
	}
	sort.Slice(others, func(i, j int) bool {
		a, _ := genNumber(f.Spec.ToAlias, others[i])
		b, _ := genNumber(f.Spec.ToAlias, others[j])
		return a < b
	})
	keep := max(f.Spec.Keep, 1) - 1
	var dropped []string
	for len(others) > keep {
		g := others[0]
		others = others[1:]
		if err := f.Target.Drop(ctx, g); err != nil {
			return dropped, fmt.Errorf("feed %s: drop %s: %w", f.Name(), g, err)
		}
		dropped = append(dropped, g)
	}
	return dropped, nil
}

// allIn says whether every one of ids is in set.
func allIn(ids []string, set map[string]struct{}) bool {
	for _, id := range ids {
		if _, ok := set[id]; !ok {
			return false
		}
	}
	return true
}

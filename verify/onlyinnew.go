package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// OnlyInNewOptions tune OnlyInNew. Zero values take the documented defaults.
type OnlyInNewOptions struct {
	// Entity names the entity in the report and in Progress.
	Entity string
	// ChunkRows is the size of a top-level chunk, in old-side rows.
	// Default 100,000.
	ChunkRows int
	// LeafRows: a differing piece of at most this many rows on both sides
	// has its keys fetched and compared. Default 16,384: reading a few
	// thousand keys costs about one round trip, as much as hashing a piece,
	// so narrowing further would only add queries.
	LeafRows int
	// Fanout is how many pieces a differing chunk is split into. Default 16.
	Fanout int
	// Parallel is how many chunks are hashed at once (each on both sides at
	// once). Default 2.
	Parallel int
	// BatchSize is the most keys handed to Delete at once. Default 1,000.
	BatchSize int
	// Delete is called with keys that exist only in new, a batch at a
	// time, as they are found (never the whole list at once), and returns
	// how many rows it removed. nil: find and count only (a dry run).
	Delete func(ctx context.Context, keys []record.Key) (int, error)
	// Progress, when set, is called after each top-level chunk.
	Progress func(p OnlyInNewProgress)
	// AllowEmptyOld lets a pass delete every row of new when old holds
	// none. Off, such a pass fails with ErrOldEmpty before deleting
	// anything: an empty old side is far more often a wrong connection or
	// a table being reloaded than a store whose every record was deleted.
	AllowEmptyOld bool
}

// ErrOldEmpty is returned (wrapped) by OnlyInNew when the old side holds no
// row and the new side does, unless AllowEmptyOld is set.
var ErrOldEmpty = errors.New("the old side holds no row: refusing to delete every row of the new side")

// OnlyInNewProgress is a live view of an OnlyInNew pass.
type OnlyInNewProgress struct {
	Entity           string
	Chunks, Done     int   // top-level chunks, and how many are finished
	Found, Deleted   int64 // so far
	RowsOld, RowsNew int64
}

// OnlyInNewReport is what OnlyInNew found and did.
type OnlyInNewReport struct {
	Entity string
	// RowsOld and RowsNew are the rows each side holds (as hashed).
	RowsOld, RowsNew int64
	// Chunks is the number of top-level chunks; ChunksDiffering of them
	// had different key hashes. ChunksHashed counts every (sub-)chunk
	// hashed on both sides; LeavesFetched the pieces whose keys were read.
	Chunks, ChunksDiffering, ChunksHashed, LeavesFetched int
	// Found keys were only in new when their leaf was read. Kept of them
	// were in old after all when looked up by ID right before the delete
	// (rows written meanwhile, or stores that order keys differently), and
	// were left alone. Deleted is what Delete reported removing.
	Found, Kept, Deleted int64
	// Confirmed says the old store could be asked by ID (sources.Getter)
	// before each delete.
	Confirmed                bool
	OldPushdown, NewPushdown bool
	Elapsed                  time.Duration
}

// OnlyInNew finds the keys that exist only in the new side and hands them to
// opts.Delete, chunk by chunk: both sides hash the keys of each chunk
// (count and sum of key hashes, computed by the server where verify pushes
// down), only chunks that differ are split and narrowed, and only small
// pieces have their keys read. Memory does not grow with the table: at
// most one piece's keys and one batch of found keys are held at a time.
//
// A key found only in new is looked up by ID in the old store (when its
// Source is a sources.Getter) right before Delete, and kept if old holds
// it. Old and new are read a moment apart, so that second look keeps a
// row the old store gained meanwhile; a row deleted from old after its
// chunk was hashed waits for the next pass.
//
// Only the key columns of old and new are used (Side.Key and the Columns
// they name); other columns, Version and Names of other columns are
// ignored. OnlyInNew is idempotent: run again, it finds nothing more, or what
// an interrupted pass left.
func OnlyInNew(ctx context.Context, old, new Side, opts OnlyInNewOptions) (*OnlyInNewReport, error) {
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = 100_000
	}
	if opts.LeafRows <= 0 {
		opts.LeafRows = 16_384
	}
	if opts.Fanout < 2 {
		opts.Fanout = 16
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	start := time.Now()
	x := &extra{opts: opts, rep: &OnlyInNewReport{Entity: opts.Entity}}
	err := x.run(ctx, old, new)
	x.rep.Elapsed = time.Since(start)
	if err != nil {
		return x.rep, fmt.Errorf("find keys only in new of %s: %w", opts.Entity, err)
	}
	return x.rep, nil
}

type extra struct {
	opts    OnlyInNewOptions
	rep     *OnlyInNewReport
	sides   [2]Side
	rd      [2]reader
	oldKeys []record.Column // old side's key columns, in key order
	getter  sources.Getter  // old side by ID; nil: no second look
	mu      sync.Mutex
	pending []fetched // found, not yet handed to Delete
}

// keySide reduces s to its key columns, in key order.
func keySide(s Side) (Side, error) {
	if len(s.Key) == 0 {
		return s, fmt.Errorf("%s.%s: no key", s.Store, s.Table)
	}
	kc, err := keyColumns(&s)
	if err != nil {
		return s, err
	}
	s.Columns = kc
	s.Names = append([]string(nil), s.Key...)
	s.Version = ""
	return s, nil
}

func (x *extra) run(ctx context.Context, old, new Side) error {
	if len(old.Key) != len(new.Key) {
		return fmt.Errorf("old key %v and new key %v must be of one length", old.Key, new.Key)
	}
	for i, s := range [2]Side{old, new} {
		ks, err := keySide(s)
		if err != nil {
			return err
		}
		x.sides[i] = ks
	}
	harmoniseFloats(&x.sides[0], &x.sides[1])
	x.oldKeys = x.sides[0].Columns
	if g, ok := x.sides[0].Source.(sources.Getter); ok {
		x.getter = g
		x.rep.Confirmed = true
	}
	for i := range x.sides {
		rd, err := newReader(&x.sides[i])
		if err != nil {
			return err
		}
		if err := rd.prepare(ctx); err != nil {
			return err
		}
		x.rd[i] = rd
	}
	x.rep.OldPushdown, x.rep.NewPushdown = x.rd[0].pushdown(), x.rd[1].pushdown()

	b, err := bounds(ctx, x.rd[0], keyRange{}, x.opts.ChunkRows)
	if err != nil {
		return err
	}
	chunks := split(keyRange{}, b)
	x.rep.Chunks = len(chunks)
	for start := 0; start < len(chunks); start += x.opts.Parallel {
		end := min(start+x.opts.Parallel, len(chunks))
		hs, err := x.hashMany(ctx, chunks[start:end])
		if err != nil {
			return err
		}
		if len(chunks) == 1 && hs[0][0].count == 0 && hs[0][1].count > 0 && !x.opts.AllowEmptyOld {
			x.rep.RowsNew = hs[0][1].count
			return fmt.Errorf("%s.%s is empty, %s.%s holds %d rows: %w", x.sides[0].Store, x.sides[0].Table,
				x.sides[1].Store, x.sides[1].Table, hs[0][1].count, ErrOldEmpty)
		}
		for i, h := range hs {
			x.rep.RowsOld += h[0].count
			x.rep.RowsNew += h[1].count
			if !equalHash(h) {
				x.rep.ChunksDiffering++
				if err := x.narrow(ctx, chunks[start+i], h, 0); err != nil {
					return err
				}
			}
		}
		// Found keys go out at least once per round of chunks, so a
		// stopped pass has deleted what it reported.
		if err := x.flush(ctx); err != nil {
			return err
		}
		if x.opts.Progress != nil {
			x.opts.Progress(OnlyInNewProgress{Entity: x.opts.Entity, Chunks: len(chunks), Done: end,
				Found: x.rep.Found, Deleted: x.rep.Deleted, RowsOld: x.rep.RowsOld, RowsNew: x.rep.RowsNew})
		}
	}
	return nil
}

func equalHash(h [2]chunkHash) bool { return h[0].count == h[1].count && h[0].sum == h[1].sum }

// both runs f for the old (0) and the new (1) side at the same time.
func (x *extra) both(ctx context.Context, f func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for i := range 2 {
		g.Go(func() error {
			if err := f(ctx, i); err != nil {
				return fmt.Errorf("%s side (%s): %w", [2]string{"old", "new"}[i], x.sides[i].Store, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// hashMany hashes the chunks, up to Parallel at a time, both sides at once.
func (x *extra) hashMany(ctx context.Context, chunks []keyRange) ([][2]chunkHash, error) {
	out := make([][2]chunkHash, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(x.opts.Parallel)
	for i, c := range chunks {
		g.Go(func() error {
			return x.both(gctx, func(ctx context.Context, s int) error {
				var err error
				out[i][s], err = x.rd[s].hash(ctx, c)
				return err
			})
		})
	}
	err := g.Wait()
	x.mu.Lock()
	x.rep.ChunksHashed += len(chunks)
	x.mu.Unlock()
	return out, err
}

// narrow splits a differing chunk until its pieces are small, then reads
// their keys. A piece new holds no row of needs nothing deleted; a piece
// old holds no row of is deleted whole, streamed from new.
func (x *extra) narrow(ctx context.Context, kr keyRange, h [2]chunkHash, depth int) error {
	switch {
	case h[1].count == 0:
		return nil
	case h[0].count == 0:
		return x.allNew(ctx, kr)
	}
	n := max(h[0].count, h[1].count)
	if n <= int64(x.opts.LeafRows) || depth > 32 {
		return x.leaf(ctx, kr)
	}
	big := 0
	if h[1].count > h[0].count {
		big = 1
	}
	step := max(x.opts.LeafRows, int((n+int64(x.opts.Fanout)-1)/int64(x.opts.Fanout)))
	b, err := bounds(ctx, x.rd[big], kr, step)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return x.leaf(ctx, kr)
	}
	subs := split(kr, b)
	if diff := h[1].count - h[0].count; (diff >= int64(len(subs)) || -diff >= int64(len(subs))) && step <= x.opts.LeafRows {
		// At least as many keys differ as there are pieces: most pieces
		// differ, and hashing them would cost as much as reading their
		// keys, which must be read anyway. Read them all.
		for _, sub := range subs {
			if err := x.leaf(ctx, sub); err != nil {
				return err
			}
		}
		return nil
	}
	hs, err := x.hashMany(ctx, subs)
	if err != nil {
		return err
	}
	for i, sh := range hs {
		if equalHash(sh) {
			continue
		}
		if max(sh[0].count, sh[1].count) >= n {
			// No progress: the stores order keys differently. Compare the
			// piece's keys as a whole.
			err = x.leaf(ctx, subs[i])
		} else {
			err = x.narrow(ctx, subs[i], sh, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// leaf reads the keys of kr on both sides at once and keeps those only
// new has.
func (x *extra) leaf(ctx context.Context, kr keyRange) error {
	x.rep.LeavesFetched++
	have := map[string]bool{}
	var newKeys []fetched
	err := x.both(ctx, func(ctx context.Context, i int) error {
		return x.rd[i].rows(ctx, kr, func(f fetched) error {
			if i == 0 {
				have[f.id] = true
			} else {
				newKeys = append(newKeys, fetched{id: f.id, key: f.key})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, f := range newKeys {
		if !have[f.id] {
			if err := x.found(ctx, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// allNew keeps every key new holds in kr: old holds none there.
func (x *extra) allNew(ctx context.Context, kr keyRange) error {
	x.rep.LeavesFetched++
	if err := x.rd[1].rows(ctx, kr, func(f fetched) error { return x.found(ctx, f) }); err != nil {
		return fmt.Errorf("new side (%s): %w", x.sides[1].Store, err)
	}
	return nil
}

func (x *extra) found(ctx context.Context, f fetched) error {
	x.rep.Found++
	x.pending = append(x.pending, fetched{id: f.id, key: f.key})
	if len(x.pending) >= x.opts.BatchSize {
		return x.flush(ctx)
	}
	return nil
}

// flush looks the pending keys up in old once more and hands those still
// absent to Delete.
func (x *extra) flush(ctx context.Context) error {
	if len(x.pending) == 0 {
		return nil
	}
	batch := x.pending
	x.pending = x.pending[:0]
	keys := make([]record.Key, 0, len(batch))
	inOld, err := x.inOld(ctx, batch)
	if err != nil {
		return err
	}
	for _, f := range batch {
		if inOld[f.id] {
			x.rep.Kept++
			continue
		}
		keys = append(keys, f.key)
	}
	if len(keys) == 0 || x.opts.Delete == nil {
		return nil
	}
	n, err := x.opts.Delete(ctx, keys)
	x.rep.Deleted += int64(n)
	if err != nil {
		return fmt.Errorf("delete %d keys: %w", len(keys), err)
	}
	return nil
}

// inOld returns the ids of batch the old store holds, by a lookup by ID.
func (x *extra) inOld(ctx context.Context, batch []fetched) (map[string]bool, error) {
	out := map[string]bool{}
	if x.getter == nil {
		return out, nil
	}
	keys := make([]record.Key, len(batch))
	for i, f := range batch {
		keys[i] = f.key
	}
	s := &x.sides[0]
	b, err := x.getter.Get(ctx, s.Table, s.Key, s.Key, keys)
	if err != nil {
		return nil, fmt.Errorf("old side (%s): look up %d keys: %w", s.Store, len(keys), err)
	}
	if b == nil {
		return out, nil
	}
	var buf []byte
	var id strings.Builder
	for _, row := range b.Rows {
		if len(row) < len(x.oldKeys) {
			return nil, errors.New("old side: lookup returned fewer columns than the key")
		}
		id.Reset()
		for j, c := range x.oldKeys {
			buf = AppendField(buf[:0], c, row[j])
			id.Write(buf)
		}
		out[id.String()] = true
	}
	return out, nil
}

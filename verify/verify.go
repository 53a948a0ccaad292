// Package verify proves that an entity's old and new stores hold the same
// data, names every difference, and repairs it.
//
// Every value is reduced to a canonical text per logical type (Canonical,
// and its SQL twin SQLCanonicalExpr), a row to the concatenation of its
// length-prefixed fields, and a chunk (a key range) to its row count and the
// sum modulo 2^64 of its rows' hashes. Chunks whose (count, hash) differ are
// split by key until they are small, then fetched and compared field by
// field. docs/verify.md has the rules.
package verify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/transitdb/transit/record"
)

// Options tune Entity. Zero values take the documented defaults.
type Options struct {
	// Entity names the entity in the report.
	Entity string
	// ChunkRows is the size of a top-level chunk, in old-side rows.
	// Default 50,000.
	ChunkRows int
	// LeafRows: a differing chunk of at most this many rows (on both sides)
	// is fetched and compared row by row. Default 256.
	LeafRows int
	// Fanout is how many sub-chunks a differing chunk is split into.
	// Default 16.
	Fanout int
	// Parallel is how many chunks are hashed at the same time (each on both
	// sides at once). Default 2.
	Parallel int
	// Lag: a differing row whose version (on either side) is younger than
	// Lag is in flight; it is checked once more after LagWait before being
	// reported. 0 disables this. Needs a time-valued version column.
	Lag time.Duration
	// LagWait is how long to wait before the second look. Default Lag.
	LagWait time.Duration
	// Since, when set, verifies only the chunks holding a row whose version
	// is at least Since on either side (--since-last; see LastClean).
	// Without a version column on both sides the entity is verified in full
	// and the report says so.
	Since time.Time
	// Repair, when set, is called with the keys of the rows missing or
	// changed in new, to port them again. Delete, when set, is called with
	// the keys of the rows extra in new (--repair-deletes). The repaired
	// rows are then verified again.
	Repair func(ctx context.Context, entity string, ids []record.Key) error
	Delete func(ctx context.Context, entity string, ids []record.Key) error
	// Progress, when set, is called after each top-level chunk.
	Progress func(entity string, done, total int)

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func (o *Options) defaults() {
	if o.ChunkRows <= 0 {
		o.ChunkRows = 50_000
	}
	if o.LeafRows <= 0 {
		o.LeafRows = 256
	}
	if o.Fanout < 2 {
		o.Fanout = 16
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.LagWait <= 0 {
		o.LagWait = o.Lag
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.sleep == nil {
		o.sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
}

type run struct {
	opts  Options
	rep   *EntityReport
	sides [2]Side
	rd    [2]reader
	mu    sync.Mutex
	// leafOf remembers the leaf range each diff was found in, by key, to
	// look again (in-flight rows, repair).
	leafOf  map[string][]keyRange
	pending map[string]bool // in-flight keys
}

// Entity verifies one entity: old against new. The report is returned even
// with an error, marked Incomplete, holding what was found so far.
func Entity(ctx context.Context, old, new Side, opts Options) (*EntityReport, error) {
	opts.defaults()
	rep := &EntityReport{Entity: opts.Entity, Old: old.Store + "." + old.Table,
		New: new.Store + "." + new.Table, Mode: "full", Started: opts.now()}
	r := &run{opts: opts, rep: rep, sides: [2]Side{cloneSide(old), cloneSide(new)},
		leafOf: map[string][]keyRange{}, pending: map[string]bool{}}
	err := r.run(ctx)
	rep.Elapsed = opts.now().Sub(rep.Started)
	if err != nil {
		rep.Incomplete = true
		rep.Err = err
		return rep, fmt.Errorf("verify %s: %w", opts.Entity, err)
	}
	return rep, nil
}

func cloneSide(s Side) Side {
	s.Columns = append([]record.Column(nil), s.Columns...)
	if s.Names == nil {
		for _, c := range s.Columns {
			s.Names = append(s.Names, c.Name)
		}
	} else {
		s.Names = append([]string(nil), s.Names...)
	}
	return s
}

func newReader(s *Side) (reader, error) {
	if s.SQL != nil {
		return newSQLReader(s)
	}
	return newStreamReader(s)
}

func (r *run) run(ctx context.Context) error {
	o, n := &r.sides[0], &r.sides[1]
	if len(o.Columns) != len(n.Columns) || len(o.Names) != len(o.Columns) || len(n.Names) != len(n.Columns) {
		return fmt.Errorf("old has %d columns (%d names), new %d (%d names): they must pair up",
			len(o.Columns), len(o.Names), len(n.Columns), len(n.Names))
	}
	if len(o.Key) == 0 || len(o.Key) != len(n.Key) {
		return fmt.Errorf("old key %v and new key %v must be non-empty and of one length", o.Key, n.Key)
	}
	harmoniseFloats(o, n)
	if err := r.dropMissing(ctx); err != nil {
		return err
	}
	for i := range r.sides {
		rd, err := newReader(&r.sides[i])
		if err != nil {
			return err
		}
		if err := rd.prepare(ctx); err != nil {
			return err
		}
		r.rd[i] = rd
	}
	r.rep.OldPushdown, r.rep.NewPushdown = r.rd[0].pushdown(), r.rd[1].pushdown()

	since := !r.opts.Since.IsZero()
	if since && (o.Version == "" || n.Version == "") {
		since = false
		r.rep.Notes = append(r.rep.Notes, "no version column: verified in full")
	}
	if since {
		r.rep.Mode = "since-last"
	}

	var hs []hashed
	var chunks []keyRange
	var err error
	if since {
		var b []record.Key
		berr := eachTopBound(ctx, r.rd[0], r.opts.ChunkRows, func(k record.Key) error {
			b = append(b, k)
			return nil
		})
		if berr != nil {
			return berr
		}
		for _, c := range split(keyRange{}, b) {
			var ch [2]bool
			err := r.both(ctx, func(ctx context.Context, i int) error {
				var err error
				ch[i], err = r.rd[i].changed(ctx, c, r.opts.Since)
				return err
			})
			if err != nil {
				return err
			}
			if ch[0] || ch[1] {
				chunks = append(chunks, c)
			} else {
				r.rep.ChunksSkipped++
			}
		}
		chunks, hs, err = r.hashAll(ctx, chunks)
	} else {
		chunks, hs, err = r.hashAll(ctx, nil)
	}
	if err != nil {
		return err
	}
	for i, h := range hs {
		if !h.equal() {
			if err := r.narrow(ctx, chunks[i], h.h); err != nil {
				return err
			}
		}
	}
	if err := r.reconcile(ctx); err != nil {
		return err
	}
	if err := r.recheckInFlight(ctx); err != nil {
		return err
	}
	r.count()
	return r.repair(ctx)
}

// harmoniseFloats compares a float4 with a float8 at float4 precision.
func harmoniseFloats(o, n *Side) {
	for i := range o.Columns {
		a, b := &o.Columns[i], &n.Columns[i]
		if a.Type == record.Float && b.Type == record.Float && (a.Bits == 32) != (b.Bits == 32) {
			a.Bits, b.Bits = 32, 32
		}
	}
}

// dropMissing reports the compared columns missing on either side and
// leaves them out of the comparison.
func (r *run) dropMissing(ctx context.Context) error {
	drop := map[int]bool{}
	for i := range r.sides {
		s := &r.sides[i]
		if s.SQL == nil && s.Source == nil {
			continue
		}
		rd, err := newReader(s)
		if err != nil {
			return err
		}
		miss, err := rd.missing(ctx)
		if err != nil {
			return err
		}
		for _, m := range miss {
			for j, name := range s.Names {
				if name != m {
					continue
				}
				for _, k := range s.Key {
					if k == m {
						return fmt.Errorf("key column %q missing in %s.%s", m, s.Store, s.Table)
					}
				}
				drop[j] = true
				side := [2]string{"old", "new"}[i]
				r.rep.Columns = append(r.rep.Columns, ColumnIssue{Column: r.sides[0].Names[j],
					Side: side, Name: m, Problem: "missing in " + side})
			}
		}
	}
	if len(drop) == 0 {
		return nil
	}
	for i := range r.sides {
		s := &r.sides[i]
		var cols []record.Column
		var names []string
		for j := range s.Columns {
			if !drop[j] {
				cols = append(cols, s.Columns[j])
				names = append(names, s.Names[j])
			}
		}
		s.Columns, s.Names = cols, names
	}
	return nil
}

// split cuts kr at the boundary keys b (in key order).
func split(kr keyRange, b []record.Key) []keyRange {
	out := make([]keyRange, 0, len(b)+1)
	lo := kr.lo
	for _, k := range b {
		out = append(out, keyRange{lo, k})
		lo = k
	}
	return append(out, keyRange{lo, kr.hi})
}

// both runs f for the old (0) and the new (1) side at the same time.
func (r *run) both(ctx context.Context, f func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for i := range 2 {
		g.Go(func() error {
			if err := f(ctx, i); err != nil {
				return fmt.Errorf("%s side (%s): %w", [2]string{"old", "new"}[i], r.sides[i].Store, err)
			}
			return nil
		})
	}
	return g.Wait()
}

type hashed struct {
	h    [2]chunkHash
	done bool
}

func (h hashed) equal() bool {
	return h.h[0].count == h.h[1].count && h.h[0].sum == h.h[1].sum
}

// hashAll hashes the top-level chunks on both sides: the given chunks, or,
// when chunks is nil, those cut every ChunkRows old-side rows, hashed while
// the cutting goes on. Each side hashes up to Parallel chunks at a time,
// with no pause between chunks: a side starts chunk i as soon as chunk
// i-Parallel is done on both sides (so neither runs far ahead of the other,
// and a failing store stops the run after the chunks in flight). It returns
// the chunks and their hashes, in key order; the report counts each chunk
// when both of its sides are done.
func (r *run) hashAll(ctx context.Context, given []keyRange) ([]keyRange, []hashed, error) {
	p := &pipeline{chunks: given, cut: given != nil}
	p.cond = sync.NewCond(&p.mu)
	g, gctx := errgroup.WithContext(ctx)
	if !p.cut {
		g.Go(func() error {
			var lo record.Key
			err := eachTopBound(gctx, r.rd[0], r.opts.ChunkRows, func(k record.Key) error {
				p.add(keyRange{lo, k}, false)
				lo = k
				return nil
			})
			if err != nil {
				p.fail()
				return err
			}
			p.add(keyRange{lo, nil}, true)
			return nil
		})
	}
	for s := range 2 {
		for range r.opts.Parallel {
			g.Go(func() error { return r.hashSide(gctx, p, s) })
		}
	}
	err := g.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chunks, p.hs, err
}

// eachTopBound cuts the whole key space of rd every step rows, or about
// (see sqlReader.eachCoarseBound), handing each boundary to fn.
func eachTopBound(ctx context.Context, rd reader, step int, fn func(record.Key) error) error {
	if c, ok := rd.(interface {
		eachCoarseBound(ctx context.Context, kr keyRange, step int, fn func(record.Key) error) error
	}); ok {
		return c.eachCoarseBound(ctx, keyRange{}, step, fn)
	}
	return rd.eachBound(ctx, keyRange{}, step, fn)
}

// pipeline is the shared state of hashAll.
type pipeline struct {
	mu        sync.Mutex
	cond      *sync.Cond
	chunks    []keyRange
	cut       bool     // every chunk is known
	failed    bool     // a side or the cutting failed: stop
	hs        []hashed // per chunk
	sides     []uint8  // per chunk: bit s set when side s is done
	next      [2]int   // per side: the next chunk to start
	frontier  int      // the first chunk not done on both sides
	completed int      // chunks done on both sides
}

func (p *pipeline) add(c keyRange, last bool) {
	p.mu.Lock()
	p.chunks = append(p.chunks, c)
	p.cut = last
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pipeline) fail() {
	p.mu.Lock()
	p.failed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// hashSide is one of side s's workers in hashAll.
func (r *run) hashSide(ctx context.Context, p *pipeline, s int) error {
	for {
		p.mu.Lock()
		for !p.failed {
			i := p.next[s]
			if i < len(p.chunks) && i < p.frontier+r.opts.Parallel {
				break
			}
			if p.cut && i >= len(p.chunks) {
				p.mu.Unlock()
				return nil
			}
			p.cond.Wait()
		}
		if p.failed {
			p.mu.Unlock()
			return nil
		}
		i := p.next[s]
		p.next[s]++
		c := p.chunks[i]
		p.mu.Unlock()

		h, err := r.rd[s].hash(ctx, c)
		if err != nil {
			p.fail()
			return fmt.Errorf("%s side (%s): %w", [2]string{"old", "new"}[s], r.sides[s].Store, err)
		}
		p.mu.Lock()
		for len(p.hs) <= i {
			p.hs = append(p.hs, hashed{})
			p.sides = append(p.sides, 0)
		}
		p.hs[i].h[s] = h
		p.sides[i] |= 1 << s
		if p.sides[i] == 3 {
			p.hs[i].done = true
			p.completed++
			r.mu.Lock()
			r.rep.ChunksHashed++
			r.rep.Chunks++
			r.rep.RowsOld += p.hs[i].h[0].count
			r.rep.RowsNew += p.hs[i].h[1].count
			r.rep.RowsCompared = max(r.rep.RowsOld, r.rep.RowsNew)
			r.rep.MaxVersion = maxVersion(r.rep.MaxVersion, p.hs[i].h[0].maxV)
			r.mu.Unlock()
			for p.frontier < len(p.sides) && p.sides[p.frontier] == 3 {
				p.frontier++
			}
			// Under the lock: no chunk past the window starts before
			// Progress has returned.
			if r.opts.Progress != nil {
				total := len(p.chunks)
				if !p.cut {
					total++
				}
				r.opts.Progress(r.opts.Entity, p.completed, total)
			}
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// hashMany hashes the chunks, up to Parallel at a time, both sides at once.
func (r *run) hashMany(ctx context.Context, chunks []keyRange) ([]hashed, error) {
	out := make([]hashed, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for i, c := range chunks {
		g.Go(func() error {
			err := r.both(gctx, func(ctx context.Context, s int) error {
				var err error
				out[i].h[s], err = r.rd[s].hash(ctx, c)
				return err
			})
			if err == nil {
				out[i].done = true
				r.mu.Lock()
				r.rep.ChunksHashed++
				r.mu.Unlock()
			}
			return err
		})
	}
	return out, g.Wait()
}

// narrow splits a differing chunk until its pieces are small, then compares
// their rows.
func (r *run) narrow(ctx context.Context, kr keyRange, h [2]chunkHash) error {
	return r.narrowDepth(ctx, kr, h, 0)
}

func (r *run) narrowDepth(ctx context.Context, kr keyRange, h [2]chunkHash, depth int) error {
	n := max(h[0].count, h[1].count)
	if n <= int64(r.opts.LeafRows) || depth > 32 {
		return r.leaf(ctx, kr)
	}
	big := 0
	if h[1].count > h[0].count {
		big = 1
	}
	step := max(r.opts.LeafRows, int((n+int64(r.opts.Fanout)-1)/int64(r.opts.Fanout)))
	b, err := bounds(ctx, r.rd[big], kr, step)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return r.leaf(ctx, kr)
	}
	subs := split(kr, b)
	hs, err := r.hashMany(ctx, subs)
	if err != nil {
		return err
	}
	for i, sh := range hs {
		if sh.equal() {
			continue
		}
		var err error
		if max(sh.h[0].count, sh.h[1].count) >= n {
			// No progress: the stores order keys differently and the
			// split did not shrink this piece. Compare it row by row.
			err = r.leaf(ctx, subs[i])
		} else {
			err = r.narrowDepth(ctx, subs[i], sh.h, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fetchBoth reads the rows of kr from both sides.
func (r *run) fetchBoth(ctx context.Context, kr keyRange) ([2][]fetched, error) {
	var rows [2][]fetched
	err := r.both(ctx, func(ctx context.Context, i int) error {
		return r.rd[i].rows(ctx, kr, func(f fetched) error {
			rows[i] = append(rows[i], f)
			return nil
		})
	})
	r.rep.ChunksFetched++
	r.rep.RowsFetched += int64(len(rows[0]) + len(rows[1]))
	return rows, err
}

func keyString(k record.Key) string {
	b, err := record.EncodeKey(k)
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}

// leaf compares the rows of a small chunk field by field.
func (r *run) leaf(ctx context.Context, kr keyRange) error {
	rows, err := r.fetchBoth(ctx, kr)
	if err != nil {
		return err
	}
	diffs, young := r.compare(rows, nil)
	for i, d := range diffs {
		ks := d.id
		r.leafOf[ks] = append(r.leafOf[ks], kr)
		if young[i] {
			r.pending[ks] = true
			continue
		}
		r.rep.Diffs = append(r.rep.Diffs, d)
	}
	return nil
}

// compare matches rows by key and returns the differences, with whether
// each involves a row younger than the lag. only, when set, limits the
// comparison to those keys.
func (r *run) compare(rows [2][]fetched, only map[string]bool) ([]Diff, []bool) {
	newBy := make(map[string]*fetched, len(rows[1]))
	for i := range rows[1] {
		newBy[rows[1][i].id] = &rows[1][i]
	}
	var diffs []Diff
	var young []bool
	seen := map[string]bool{}
	for i := range rows[0] {
		o := &rows[0][i]
		ks := o.id
		seen[ks] = true
		if only != nil && !only[ks] {
			continue
		}
		n := newBy[ks]
		if n == nil {
			diffs = append(diffs, Diff{Key: o.key, Kind: Missing, id: ks})
			young = append(young, r.young(o.version))
			continue
		}
		if f := r.fieldDiffs(o, n); f != nil {
			diffs = append(diffs, Diff{Key: o.key, Kind: Changed, Fields: f, id: ks})
			young = append(young, r.young(o.version) || r.young(n.version))
		}
	}
	for i := range rows[1] {
		n := &rows[1][i]
		ks := n.id
		if seen[ks] || only != nil && !only[ks] {
			continue
		}
		diffs = append(diffs, Diff{Key: n.key, Kind: Extra, id: ks})
		young = append(young, r.young(n.version))
	}
	return diffs, young
}

func (r *run) fieldDiffs(o, n *fetched) []FieldDiff {
	var out []FieldDiff
	for j := range o.fields {
		if o.fields[j] == n.fields[j] {
			continue
		}
		fd := FieldDiff{Column: r.sides[0].Names[j]}
		if n := r.sides[1].Names[j]; n != fd.Column {
			fd.NewName = n
		}
		fd.Old, fd.OldNull = decodeField(o.fields[j])
		fd.New, fd.NewNull = decodeField(n.fields[j])
		out = append(out, fd)
	}
	return out
}

func (r *run) young(v any) bool {
	if r.opts.Lag <= 0 {
		return false
	}
	t, ok := v.(time.Time)
	return ok && r.opts.now().Sub(t) < r.opts.Lag
}

// reconcile compares again, across both leaves, a key reported missing in
// one leaf and extra in another: a row that fell into different chunks on
// each side, as when the two stores collate text keys differently.
func (r *run) reconcile(ctx context.Context) error {
	// A row a store placed in several chunks (see below) is reported once.
	seen := map[string]bool{}
	uniq := r.rep.Diffs[:0]
	for _, d := range r.rep.Diffs {
		id := string(d.Kind) + d.id
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, d)
		}
	}
	r.rep.Diffs = uniq
	kinds := map[string]int{}
	for _, d := range r.rep.Diffs {
		if d.Kind == Missing || d.Kind == Extra {
			kinds[d.id]++
		}
	}
	keys := map[string]bool{}
	for k, n := range kinds {
		if n == 2 {
			keys[k] = true
		}
	}
	if len(keys) == 0 {
		return nil
	}
	again, err := r.lookAgain(ctx, keys)
	if err != nil {
		return err
	}
	var out []Diff
	for _, d := range r.rep.Diffs {
		if !keys[d.id] {
			out = append(out, d)
		}
	}
	r.rep.Diffs = append(out, again...)
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%d rows fell in different chunks on each side (the stores order keys differently)", len(keys)))
	return nil
}

// recheckInFlight looks once more, after LagWait, at the differing rows
// that were younger than the lag, and reports those that still differ.
func (r *run) recheckInFlight(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	r.rep.InFlight = len(r.pending)
	if err := r.opts.sleep(ctx, r.opts.LagWait); err != nil {
		return err
	}
	diffs, err := r.lookAgain(ctx, r.pending)
	if err != nil {
		return err
	}
	r.rep.Diffs = append(r.rep.Diffs, diffs...)
	return nil
}

// lookAgain fetches the leaves holding keys from both sides and compares
// those keys only, a row of one leaf with its twin from any other.
func (r *run) lookAgain(ctx context.Context, keys map[string]bool) ([]Diff, error) {
	seen := map[string]bool{}
	var rows [2][]fetched
	got := [2]map[string]bool{{}, {}}
	for k := range keys {
		for _, kr := range r.leafOf[k] {
			id := keyString(kr.lo) + "|" + keyString(kr.hi)
			if seen[id] {
				continue
			}
			seen[id] = true
			rs, err := r.fetchBoth(ctx, kr)
			if err != nil {
				return nil, err
			}
			for i := range rs {
				for _, f := range rs[i] {
					ks := f.id
					if keys[ks] && !got[i][ks] {
						got[i][ks] = true
						rows[i] = append(rows[i], f)
					}
				}
			}
		}
	}
	d, _ := r.compare(rows, keys)
	return d, nil
}

func (r *run) count() {
	r.rep.Missing, r.rep.Extra, r.rep.Changed = 0, 0, 0
	for _, d := range r.rep.Diffs {
		switch d.Kind {
		case Missing:
			r.rep.Missing++
		case Extra:
			r.rep.Extra++
		case Changed:
			r.rep.Changed++
		}
	}
}

// repair hands the differing IDs to the Repair and Delete callbacks, then
// verifies those rows again.
func (r *run) repair(ctx context.Context) error {
	if r.opts.Repair == nil && r.opts.Delete == nil || len(r.rep.Diffs) == 0 {
		return nil
	}
	var port, del []record.Key
	keys := map[string]bool{}
	for _, d := range r.rep.Diffs {
		switch {
		case d.Kind == Extra && r.opts.Delete != nil:
			del = append(del, d.Key)
		case d.Kind != Extra && r.opts.Repair != nil:
			port = append(port, d.Key)
		default:
			continue
		}
		keys[d.id] = true
	}
	if len(port) > 0 {
		if err := r.opts.Repair(ctx, r.opts.Entity, port); err != nil {
			return fmt.Errorf("repair %d rows: %w", len(port), err)
		}
	}
	if len(del) > 0 {
		if err := r.opts.Delete(ctx, r.opts.Entity, del); err != nil {
			return fmt.Errorf("delete %d extra rows: %w", len(del), err)
		}
	}
	left, err := r.lookAgain(ctx, keys)
	if err != nil {
		return err
	}
	still := map[string]bool{}
	for _, d := range left {
		still[d.id] = true
	}
	for i := range r.rep.Diffs {
		ks := r.rep.Diffs[i].id
		if keys[ks] && !still[ks] {
			r.rep.Diffs[i].Repaired = true
			r.rep.Repaired++
		}
	}
	return nil
}

// Package dualread is the read-through library an application embeds while
// an entity moves from its old store to PostgreSQL. A Reader answers by ID
// according to the entity's phase, which it asks of a PhaseSource (the
// transition package's Watcher follows the ledger):
//
//	old        the old store answers
//	shadow     the old store answers; a sample of reads is also read from the
//	           new store and compared field by field (verify's canonical
//	           encoding), asynchronously; counts go to transit.shadow_stats,
//	           differing records to transit.shadow_mismatches (bounded)
//	migrating  the new store answers; a miss falls back to the old store,
//	           the record is ported (version-guarded upsert, the write path
//	           of `transit run`) and returned
//	new        the new store answers
//
// Concurrent misses of one ID collapse into one fallback (singleflight); a
// record missing in both stores is remembered as missing for a short time.
// Concurrent reads of the new store share queries (see coalesce.go).
// Every store call has a deadline and goes through the store's border
// (circuit breaker, rate limit). A Reader holds no global state and is safe
// for concurrent use.
package dualread

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/stores"
	"github.com/transitdb/transit/transition"
	"github.com/transitdb/transit/verify"
)

// Phases, as the ledger spells them.
const (
	PhaseOld       = "old"
	PhaseShadow    = "shadow"
	PhaseMigrating = "migrating"
	PhaseNew       = "new"
)

// PhaseSource says in which phase an entity is. *transition.Watcher fits.
type PhaseSource interface {
	Phase(entity string) string
}

// StaticPhases is a PhaseSource with fixed phases (tests, tools); an entity
// it does not name is in phase old.
type StaticPhases map[string]string

// Phase returns the entity's phase, "old" when unset.
func (s StaticPhases) Phase(entity string) string {
	if p := s[entity]; p != "" {
		return p
	}
	return PhaseOld
}

// Source says which store answered.
type Source string

const (
	FromOld Source = "old"
	FromNew Source = "new"
)

// Record is one record: its fields by their names in the new store.
type Record struct {
	ID     record.Key
	Fields map[string]any
	Source Source
	// Ported says the record was missing in the new store and was copied
	// into it by this read (phase migrating).
	Ported bool
}

var (
	// ErrNotFound: no record with that ID (in the stores the phase reads).
	ErrNotFound = errors.New("record not found")
	// ErrDegraded: in phase migrating, the record is not in the new store
	// and the old store cannot be read now, so whether it exists is
	// unknown.
	ErrDegraded = errors.New("not in the new store and the old store is unavailable")
	// ErrClosed: the Reader was closed.
	ErrClosed = errors.New("dualread: reader closed")
)

// Reader reads one entity through its phases. Create it with Open.
type Reader struct {
	entity string
	plan   *plan.Plan
	ent    *port.Entity
	group  *Group // set when made by Open: Close closes it
	oldGet sources.Getter
	newGet sources.Getter
	// newCols are the target column names, in the order of ent.Read.
	newCols   []string
	keyCols   []record.Column // the old store's key columns
	oldB      *border.Border
	newB      *border.Border
	ledger    *pgxpool.Pool
	opts      options
	sf        singleflight.Group
	neg       *negCache
	shadow    *shadowRecorder
	metrics   *Metrics
	log       *slog.Logger
	abandoned atomic.Int64  // store calls still running past their deadline
	newQueue  chan *readReq // reads of the new store waiting for a worker (coalesce.go)
	newSlots  chan struct{} // one per query of the new store running
	coalesced atomic.Int64  // queries of the new store that answered more than one read
	byPhase   sync.Map      // phase → *phaseMetrics
	closeOnce sync.Once
	closed    chan struct{}
}

// Open reads the plan at planPath, resolves entity against its stores
// (as `transit run` does) and returns a Reader for it. The ledger's schema
// is brought up to date (transit.shadow_stats and shadow_mismatches).
func Open(ctx context.Context, planPath, entity string, opts ...Option) (*Reader, error) {
	g, err := OpenGroup(ctx, planPath, []string{entity}, opts...)
	if err != nil {
		return nil, err
	}
	r := g.readers[0]
	r.group = g
	return r, nil
}

// Group is the Readers of several entities of one plan, sharing the
// plan's store connections.
type Group struct {
	Plan    *plan.Plan
	set     *stores.Set
	readers []*Reader
	byName  map[string]*Reader
	ledger  *pgxpool.Pool
	watch   *transition.Watcher // the phase source Open started, if any
}

// OpenGroup opens Readers for the named entities of the plan at planPath
// (every entity with a target when entities is empty), sharing one set of
// store connections. Options apply to every Reader.
func OpenGroup(ctx context.Context, planPath string, entities []string, opts ...Option) (*Group, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.metrics == nil {
		o.metrics = NewMetrics(nil)
	}
	p, err := plan.Load(planPath)
	if err != nil {
		return nil, err
	}
	g := &Group{Plan: p, set: stores.New(p), byName: map[string]*Reader{}}
	if o.phases == nil {
		// Without WithPhases the Readers follow the ledger's phases, as
		// transit cutover and rollback set them.
		u, err := transition.LedgerURL(p)
		if err != nil {
			return nil, fmt.Errorf("dualread: %w", err)
		}
		w, err := transition.Watch(ctx, u, p.Name, transition.WatchOptions{Logger: o.log})
		if err != nil {
			return nil, fmt.Errorf("dualread: follow the phases: %w", err)
		}
		g.watch, o.phases = w, w
	}
	if err := g.open(ctx, entities, o); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *Group) open(ctx context.Context, entities []string, o options) error {
	p := g.Plan
	// The ledger first: an old store that does not answer is described
	// from it (offline.go).
	ls := p.LedgerStore()
	if ls == nil {
		return errors.New("dualread: the plan has no postgres store to keep the ledger in")
	}
	pool, err := g.set.Pool(ctx, ls.Name)
	if err != nil {
		return err
	}
	if err := ledger.Migrate(ctx, pool); err != nil {
		return err
	}
	g.ledger = pool
	set := &fallbackStores{set: g.set, ledger: pool, plan: p.Name, log: o.log}
	specs, err := port.Expand(ctx, p, set, o.log)
	if err != nil {
		return err
	}
	byName := map[string]*plan.Entity{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	var want []*plan.Entity
	if len(entities) == 0 {
		for _, s := range specs {
			if s.ToStore != "" {
				want = append(want, s)
			}
		}
	}
	for _, name := range entities {
		s := byName[name]
		if s == nil {
			return fmt.Errorf("dualread: the plan has no entity %q", name)
		}
		want = append(want, s)
	}
	if len(want) == 0 {
		return errors.New("dualread: the plan routes no entity to a target")
	}
	ents, err := port.Resolve(ctx, p, want, set)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Target == nil {
			return fmt.Errorf("dualread: entity %s has no target store (to:)", e.Name)
		}
	}
	if err := port.OpenSinks(ctx, ents, set); err != nil {
		return err
	}
	if !set.anyOffline() {
		// Every old store answered: what it said is what an open without
		// it will go by.
		if err := ledger.SaveSourceSchemas(ctx, pool, p.Name, port.SourceSchemas(ents)); err != nil {
			return err
		}
	}
	for _, e := range ents {
		r, err := newReader(ctx, p, g.set, e, pool, o)
		if err != nil {
			return err
		}
		g.readers = append(g.readers, r)
		g.byName[e.Name] = r
	}
	return nil
}

// Reader returns the Reader of entity, or nil.
func (g *Group) Reader(entity string) *Reader { return g.byName[entity] }

// Readers returns the Readers, in plan order.
func (g *Group) Readers() []*Reader { return append([]*Reader(nil), g.readers...) }

// Ledger is the pool on the plan's ledger database.
func (g *Group) Ledger() *pgxpool.Pool { return g.ledger }

// Close closes every Reader (flushing their shadow counts), then the
// stores.
func (g *Group) Close() error {
	for _, r := range g.readers {
		r.stop()
	}
	if g.watch != nil {
		g.watch.Close()
	}
	return g.set.Close()
}

func newReader(ctx context.Context, p *plan.Plan, set *stores.Set, e *port.Entity, pool *pgxpool.Pool, o options) (*Reader, error) {
	spec := e.Spec
	oldGet, ok := e.Source.(sources.Getter)
	if !ok {
		return nil, fmt.Errorf("dualread: entity %s: store %s cannot fetch records by ID", e.Name, spec.FromStore)
	}
	newSrc, err := set.Source(ctx, spec.ToStore)
	if err != nil {
		return nil, err
	}
	newGet, ok := newSrc.(sources.Getter)
	if !ok {
		return nil, fmt.Errorf("dualread: entity %s: store %s cannot fetch records by ID", e.Name, spec.ToStore)
	}
	r := &Reader{
		entity: e.Name, plan: p, ent: e, oldGet: oldGet, newGet: newGet,
		ledger: pool, opts: o, metrics: o.metrics, log: o.log.With("entity", e.Name),
		neg: newNegCache(o.negativeTTL), closed: make(chan struct{}),
	}
	for _, c := range e.Target.Columns {
		r.newCols = append(r.newCols, c.Name)
	}
	for _, k := range e.Key {
		r.keyCols = append(r.keyCols, *e.From.Column(k))
	}
	r.oldB = r.border(spec.FromStore)
	r.newB = r.border(spec.ToStore)
	r.shadow = newShadowRecorder(r)
	r.startNewReaders()
	return r, nil
}

// border builds the border of a store from the plan's limits; a store
// without a breaker gets the Reader's default one, so a store that is down
// is not asked again on every read.
func (r *Reader) border(store string) *border.Border {
	var cfg border.Config
	if st := r.plan.Store(store); st != nil {
		cfg = border.ConfigFrom(st.Limits, nil)
	}
	cfg.Probe = nil // no throttle on reads: they are the application's
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures, cfg.BreakerCoolDown = r.opts.breakerFailures, r.opts.breakerCoolDown
	}
	m := r.metrics
	return border.New(store, cfg, transient, nil, r.log, border.Hooks{
		Breaker: func(store string, to border.State) { m.breaker.WithLabelValues(store).Set(float64(to)) },
	})
}

// transient counts timeouts as failures of the store, as border does, and
// also a deadline the Reader set itself.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || border.IsTransient(err)
}

// Entity is the entity this Reader reads.
func (r *Reader) Entity() string { return r.entity }

// Key names the ID key columns (their names in the old store, which the
// ID values of Get follow).
func (r *Reader) Key() []string { return append([]string(nil), r.ent.Key...) }

// KeyTargets names the ID key columns in the new store.
func (r *Reader) KeyTargets() []string {
	out := make([]string, len(r.ent.Key))
	for i, k := range r.ent.Key {
		out[i] = r.ent.TargetName(k)
	}
	return out
}

// Columns names the fields of the records this Reader returns (the new
// store's column names), in the new store's order.
func (r *Reader) Columns() []string { return append([]string(nil), r.newCols...) }

// Phase is the entity's phase now.
func (r *Reader) Phase() string { return r.opts.phases.Phase(r.entity) }

// Close stops the shadow recorder (flushing what it holds) and, for a
// Reader made by Open, closes the stores. Reads after Close fail with
// ErrClosed. The Readers of a Group are closed by the Group.
func (r *Reader) Close() error {
	r.stop()
	if r.group != nil {
		return r.group.Close()
	}
	return nil
}

func (r *Reader) stop() {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.shadow.close()
	})
}

// Get reads the record whose ID key has the values id (one per key column,
// in key order; strings are converted to the column's type). A missing
// record is ErrNotFound; in phase migrating, a record missing in the new
// store while the old store is unavailable is ErrDegraded.
func (r *Reader) Get(ctx context.Context, id ...any) (*Record, error) {
	recs, err := r.GetMany(ctx, []record.Key{id})
	if err != nil {
		return nil, err
	}
	if recs[0] == nil {
		return nil, ErrNotFound
	}
	return recs[0], nil
}

// GetMany reads many records at once: the result is parallel to ids, nil
// for a record that does not exist. In phase migrating, when some records
// are not in the new store and the old store is unavailable, it returns
// what it found together with an error wrapping ErrDegraded.
func (r *Reader) GetMany(ctx context.Context, ids []record.Key) ([]*Record, error) {
	select {
	case <-r.closed:
		return nil, ErrClosed
	default:
	}
	keys := make([]record.Key, len(ids))
	for i, id := range ids {
		k, err := r.coerce(id)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	phase := r.Phase()
	t0 := time.Now()
	out, err := r.read(ctx, phase, keys)
	pm := r.phaseMetrics(phase)
	pm.latency.Observe(time.Since(t0).Seconds())
	for _, rec := range out {
		switch {
		case rec == nil && err == nil:
			pm.none.Inc()
		case rec == nil:
		case rec.Source == FromNew:
			pm.fromNew.Inc()
		case rec.Source == FromOld:
			pm.fromOld.Inc()
		default:
			r.metrics.requests.WithLabelValues(r.entity, phase, string(rec.Source)).Inc()
		}
	}
	if err != nil {
		if errors.Is(err, ErrDegraded) {
			r.metrics.degraded.WithLabelValues(r.entity).Inc()
		}
		r.metrics.errors.WithLabelValues(r.entity, phase).Inc()
	}
	return out, err
}

func (r *Reader) read(ctx context.Context, phase string, keys []record.Key) ([]*Record, error) {
	switch phase {
	case PhaseShadow:
		out, err := r.fetch(ctx, FromOld, keys)
		if err == nil {
			r.shadow.offer(keys, out)
		}
		return out, err
	case PhaseMigrating:
		return r.migrating(ctx, keys)
	case PhaseNew:
		return r.fetch(ctx, FromNew, keys)
	case PhaseOld, "":
		return r.fetch(ctx, FromOld, keys)
	}
	return nil, fmt.Errorf("dualread: entity %s is in unknown phase %q", r.entity, phase)
}

// migrating reads the new store, then falls back to the old store for the
// misses and ports what it finds there.
func (r *Reader) migrating(ctx context.Context, keys []record.Key) ([]*Record, error) {
	out, err := r.fetch(ctx, FromNew, keys)
	if err != nil {
		return nil, err
	}
	if len(keys) == 1 {
		// One ID (Get, every HTTP read): fall back in this goroutine.
		if out[0] != nil {
			return out, nil
		}
		k := keyString(keys[0])
		if r.neg.has(k) {
			r.metrics.negative.WithLabelValues(r.entity).Inc()
			return out, nil
		}
		rec, err := r.fallback(ctx, keys[0], k)
		if err != nil {
			return out, err
		}
		out[0] = rec
		return out, nil
	}
	var degraded error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, rec := range out {
		if rec != nil {
			continue
		}
		k := keyString(keys[i])
		if r.neg.has(k) {
			r.metrics.negative.WithLabelValues(r.entity).Inc()
			continue
		}
		wg.Add(1)
		go func(i int, k string) {
			defer wg.Done()
			rec, err := r.fallback(ctx, keys[i], k)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if degraded == nil {
					degraded = err
				}
				return
			}
			out[i] = rec
		}(i, k)
	}
	wg.Wait()
	return out, degraded
}

// fallback reads one record missing in the new store from the old store
// and ports it; concurrent misses of one ID share one fallback.
func (r *Reader) fallback(ctx context.Context, key record.Key, k string) (*Record, error) {
	r.metrics.fallbacks.WithLabelValues(r.entity).Inc()
	// The shared call must not die with the first caller's context: it
	// runs with its own deadline, and each caller waits for it or for its
	// own context.
	ch := r.sf.DoChan(k, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*r.opts.timeout+r.opts.timeout/2)
		defer cancel()
		return r.portOne(fctx, key)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		rec, _ := res.Val.(*Record)
		if rec == nil {
			r.neg.add(k)
			return nil, nil
		}
		// Each caller gets its own copy of the map.
		cp := *rec
		cp.Fields = make(map[string]any, len(rec.Fields))
		for f, v := range rec.Fields {
			cp.Fields[f] = v
		}
		return &cp, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The old store did not answer within the caller's time.
			return nil, fmt.Errorf("%w: %w", ErrDegraded, ctx.Err())
		}
		return nil, ctx.Err()
	}
}

// portOne reads key from the old store and, when it is there, writes it to
// the new one. nil, nil: the record exists in neither.
func (r *Reader) portOne(ctx context.Context, key record.Key) (*Record, error) {
	rows, _, err := r.getRows(ctx, FromOld, []record.Key{key})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDegraded, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	row := rows[0]
	if err := r.port(ctx, row); err != nil {
		// The answer is still right: the old store holds it. The port is
		// retried by the next read (or the next catch-up run).
		r.log.Warn("port failed", "id", fmt.Sprint(key), "err", err)
		r.metrics.portErrors.WithLabelValues(r.entity).Inc()
		rec := r.record(key, row, FromOld)
		return rec, nil
	}
	rec := r.record(key, row, FromOld)
	rec.Ported = true
	return rec, nil
}

// fetch reads keys from one store; the result is parallel to keys.
func (r *Reader) fetch(ctx context.Context, from Source, keys []record.Key) ([]*Record, error) {
	rows, cols, err := r.getRows(ctx, from, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, len(keys))
	if len(keys) == 1 {
		// The store returns only rows with the asked key.
		if len(rows) == 1 {
			out[0] = r.record(keys[0], rows[0], from)
		}
		return out, nil
	}
	// Match rows to keys by the canonical text of their key values, which
	// the old and new stores agree on whatever their column types.
	kc := make([]record.Column, len(r.ent.KeyIdx))
	for i, ix := range r.ent.KeyIdx {
		kc[i] = cols[ix]
	}
	byKey := make(map[string][]any, len(rows))
	for _, row := range rows {
		byKey[canonicalKey(kc, r.rowKey(row))] = row
	}
	for i, k := range keys {
		if row, ok := byKey[canonicalKey(r.keyCols, k)]; ok {
			out[i] = r.record(k, row, from)
		}
	}
	return out, nil
}

// getRows reads the rows of keys from one store, in ent.Read order (the
// old store's columns; the new store's are their targets), through the
// store's border and with the per-call deadline.
func (r *Reader) getRows(ctx context.Context, from Source, keys []record.Key) ([][]any, []record.Column, error) {
	if from == FromNew {
		// pgx honours contexts: no goroutine guard (see call), and
		// concurrent reads share queries (coalesce.go).
		rows, cols, err := r.getNew(ctx, keys)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s from store %s: %w", r.entity, r.ent.Spec.ToStore, err)
		}
		return rows, cols, nil
	}
	g, b, table, cols, key := r.oldGet, r.oldB, r.ent.Spec.FromTable, r.ent.Read, r.ent.Key
	var batch *record.Batch
	err := r.through(ctx, b, func(ctx context.Context) error {
		var err error
		batch, err = r.call(ctx, func(ctx context.Context) (*record.Batch, error) {
			return g.Get(ctx, table, cols, key, keys)
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read %s from store %s: %w", r.entity, r.ent.Spec.FromStore, err)
	}
	return copyRows(batch.Rows), batch.Columns, nil
}

// ErrBreakerOpen: the store's circuit breaker is open, so it is not asked.
var ErrBreakerOpen = errors.New("circuit breaker open")

// through runs fn through the store's border. A read must not wait for a
// breaker to close, as a batch of a run does: while it is open the call
// fails at once; once its cool-down has passed, this call is the probe.
func (r *Reader) through(ctx context.Context, b *border.Border, fn func(context.Context) error) error {
	if b.BreakerState() == border.Closed {
		return b.Do(ctx, fn)
	}
	// Admission with a deadline of its own: it passes at once when the
	// breaker lets a probe through, and gives up at once otherwise.
	actx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	called := false
	err := b.Do(actx, func(context.Context) error {
		called = true
		return fn(ctx)
	})
	if !called {
		return fmt.Errorf("%w for store %s", ErrBreakerOpen, b.Store)
	}
	return err
}

// maxAbandoned bounds the store calls left running past their deadline
// (see call); past it, calls fail at once, as the store is not answering.
const maxAbandoned = 64

// call runs one store call with the per-call deadline. A driver that does
// not honour the context everywhere (a MySQL handshake on a hung server
// blocks past it) cannot hold the caller: at the deadline call returns,
// leaving the call to end on its own; at most maxAbandoned such calls run
// at once.
func (r *Reader) call(ctx context.Context, fn func(context.Context) (*record.Batch, error)) (*record.Batch, error) {
	if r.abandoned.Load() >= maxAbandoned {
		return nil, fmt.Errorf("%w: %d calls to the store are still hanging", context.DeadlineExceeded, maxAbandoned)
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	type result struct {
		b   *record.Batch
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer cancel()
		b, err := fn(cctx)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		if res.err != nil && cctx.Err() != nil && ctx.Err() == nil {
			res.err = fmt.Errorf("%w after %v: %w", context.DeadlineExceeded, r.opts.timeout, res.err)
		}
		return res.b, res.err
	case <-cctx.Done():
		r.abandoned.Add(1)
		go func() {
			<-done
			r.abandoned.Add(-1)
		}()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w after %v", context.DeadlineExceeded, r.opts.timeout)
	}
}

func (r *Reader) rowKey(row []any) record.Key {
	k := make(record.Key, len(r.ent.KeyIdx))
	for i, ix := range r.ent.KeyIdx {
		k[i] = row[ix]
	}
	return k
}

func (r *Reader) record(key record.Key, row []any, from Source) *Record {
	f := make(map[string]any, len(row))
	for i, v := range row {
		f[r.newCols[i]] = v
	}
	return &Record{ID: key, Fields: f, Source: from}
}

// sample reports whether this read is compared in shadow.
func (r *Reader) sample() bool {
	return r.opts.shadowSample >= 1 || rand.Float64() < r.opts.shadowSample
}

// canonicalKey is the canonical text of key values of columns cols.
func canonicalKey(cols []record.Column, k record.Key) string {
	var b []byte
	for i, v := range k {
		b = verify.AppendField(b, cols[i], v)
	}
	return string(b)
}

func keyString(k record.Key) string {
	b, err := record.EncodeKey(k)
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}

// phaseMetrics are the collectors a read in one phase counts into, looked
// up once instead of by label values on every read.
type phaseMetrics struct {
	latency                prometheus.Observer
	fromOld, fromNew, none prometheus.Counter
}

func (r *Reader) phaseMetrics(phase string) *phaseMetrics {
	if pm, ok := r.byPhase.Load(phase); ok {
		return pm.(*phaseMetrics)
	}
	m := r.metrics
	pm := &phaseMetrics{
		latency: m.latency.WithLabelValues(r.entity, phase),
		fromOld: m.requests.WithLabelValues(r.entity, phase, string(FromOld)),
		fromNew: m.requests.WithLabelValues(r.entity, phase, string(FromNew)),
		none:    m.requests.WithLabelValues(r.entity, phase, "none"),
	}
	v, _ := r.byPhase.LoadOrStore(phase, pm)
	return v.(*phaseMetrics)
}

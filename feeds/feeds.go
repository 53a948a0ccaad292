// Package feeds keeps PostgreSQL data current in derived stores (an
// Elasticsearch alias, a Redis keyspace) through a doc.Target.
//
// One engine: a rebuild is port's chunked backfill (chunks, leases,
// rejects, progress, kill -9 safety) with a sink that writes documents into
// a new generation of the Target; continuous feeding (Run) renders the same
// documents for the IDs a change stream names. Every document carries a
// version (the commit LSN of the change, or the rebuild slot's consistent
// point for backfilled ones), so replays and reordering are no-ops and the
// union of backfill and stream converges.
//
// Documents are rendered from PostgreSQL at apply time, never from the
// change's tuple: by the IDs a transaction touched, the engine reads the
// rows (or runs the feed's documents query) as they are now. The state
// read is at least as new as the commit whose LSN becomes the version, so
// a later change always brings a newer version; TOASTed columns pgoutput
// leaves out cause no holes; and the table form and the documents form
// share one path.
package feeds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/feeds/pgrepl"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
	"github.com/transitdb/transit/sources"
)

// Options tune a Feed.
type Options struct {
	Log     *slog.Logger
	Metrics *metrics.Registry
	// Verify, when set, compares generation gen of the Target with
	// PostgreSQL before a rebuild switches readers to it; an error keeps
	// readers on the old generation (wire feeds/feedverify here).
	Verify func(ctx context.Context, f *Feed, gen string) error
	// Workers and ChunkRows tune the rebuild's backfill (port.Options).
	Workers   int
	ChunkRows int
	// CatchupIdle ends a rebuild's catch-up once the slot has sent nothing
	// for this long (default 1s); what comes later, feed run applies.
	CatchupIdle time.Duration
	// StatusInterval is how often a stream confirms to PostgreSQL
	// (default 10s).
	StatusInterval time.Duration
}

// Feed is one plan feed resolved against its stores.
type Feed struct {
	Plan   *plan.Plan
	Spec   *plan.Feed
	Target doc.Target
	Ledger *ledger.Ledger

	url    string // the postgres store's URL
	schema string
	table  *record.Table
	source sources.Source
	getter sources.Getter
	pool   *pgxpool.Pool // the source's pool, for the documents query
	stores port.Stores
	id     []string // document ID columns
	cols   []string // columns of a table-form document
	opts   Options
	log    *slog.Logger

	// rejected counts the documents the Target refused outside the
	// backfill (stream, catch-up, repair) since Open.
	rejected atomic.Int64
}

// RejectEntity is the entity under which transit.rejects holds the
// documents the feed's stream refused (run_id ledger.NoRun); a rebuild's
// backfill records its own under its port run, entity the feed's name.
func (f *Feed) RejectEntity() string { return f.Plan.Name + "/feed/" + f.Name() }

// ErrNotBuilt says a feed has no generation yet (run feed rebuild).
var ErrNotBuilt = errors.New("the feed has not been built yet")

// Open resolves feed spec of p: it describes the source table and checks
// the id and columns against it. target is the feed's store, opened by the
// caller (it closes it too); stores opens the postgres source.
func Open(ctx context.Context, p *plan.Plan, spec *plan.Feed, l *ledger.Ledger, stores port.Stores, target doc.Target, opts Options) (*Feed, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CatchupIdle <= 0 {
		opts.CatchupIdle = time.Second
	}
	st := p.Store(spec.FromStore)
	if st == nil || st.Kind != "postgres" {
		return nil, fmt.Errorf("feed %s: from must be a postgres store", spec.Name)
	}
	src, err := stores.Source(ctx, spec.FromStore)
	if err != nil {
		return nil, err
	}
	f := &Feed{Plan: p, Spec: spec, Target: target, Ledger: l, url: st.URL, schema: st.Schema,
		source: src, stores: stores, opts: opts, log: opts.Log.With("feed", spec.Name)}
	if f.schema == "" {
		f.schema = plan.DefaultSchema
	}
	g, ok := src.(sources.Getter)
	if !ok {
		return nil, fmt.Errorf("feed %s: source cannot get rows by id", spec.Name)
	}
	f.getter = g
	if pp, ok := src.(interface{ Pool() *pgxpool.Pool }); ok {
		f.pool = pp.Pool()
	}
	t, err := src.Describe(ctx, spec.FromTable)
	if err != nil {
		return nil, &port.PosError{Pos: spec.Pos, Msg: fmt.Sprintf("feed %s: %v", spec.Name, err)}
	}
	f.table = t
	f.id = spec.ID
	if len(f.id) == 0 {
		f.id = t.Key
	}
	if len(f.id) == 0 {
		return nil, &port.PosError{Pos: spec.Pos, Msg: fmt.Sprintf("feed %s: table %s has no primary key; name the document id with id: [...]", spec.Name, spec.FromTable)}
	}
	if spec.Documents == nil {
		for _, c := range append(slices.Clone(f.id), spec.Columns...) {
			if t.Column(c) == nil {
				return nil, &port.PosError{Pos: spec.Pos, Msg: fmt.Sprintf("feed %s: column %q does not exist in %s (it has: %s)",
					spec.Name, c, spec.FromTable, strings.Join(t.Names(), ", "))}
			}
		}
		if len(spec.Columns) == 0 {
			f.cols = t.Names()
		} else {
			f.cols = slices.Clone(spec.Columns)
			for _, k := range f.id {
				if !slices.Contains(f.cols, k) {
					f.cols = append(f.cols, k)
				}
			}
		}
	} else {
		if len(f.id) != 1 {
			return nil, &port.PosError{Pos: spec.Pos, Msg: fmt.Sprintf("feed %s: documents need a single id column", spec.Name)}
		}
		if f.pool == nil {
			return nil, fmt.Errorf("feed %s: source has no pool for the documents query", spec.Name)
		}
	}
	return f, nil
}

// Name is the feed's name.
func (f *Feed) Name() string { return f.Spec.Name }

// IDColumns are the columns whose values make a document's ID.
func (f *Feed) IDColumns() []string { return slices.Clone(f.id) }

// Tables lists the tables the feed's publication holds, "schema.table":
// the feed's table and its depends_on tables.
func (f *Feed) Tables() []string {
	out := []string{f.schema + "." + f.Spec.FromTable}
	if f.Spec.Documents != nil {
		for _, t := range sortedKeys(f.Spec.Documents.DependsOn) {
			out = append(out, f.schema+"."+t)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// DocID renders a document ID from the values of the id columns
// (doc.ID: one rule for the engine and feed verify).
func DocID(values []any) string { return doc.ID(values) }

// docID renders the ID of fields.
func (f *Feed) docID(fields map[string]any) string {
	vals := make([]any, len(f.id))
	for i, c := range f.id {
		vals[i] = fields[c]
	}
	return DocID(vals)
}

// ScanID renders a document's ID from fields a Target read back (Redis
// gives strings; Text of a string is the string).
func (f *Feed) ScanID(fields map[string]any) string { return f.docID(fields) }

// render builds the documents of ids as PostgreSQL holds them now, with
// version. An id with no row (or no rendered document) becomes a delete.
func (f *Feed) render(ctx context.Context, ids []record.Key, version uint64) ([]doc.Doc, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var docs []doc.Doc
	found := map[string]bool{}
	add := func(fields map[string]any) {
		id := f.docID(fields)
		if found[id] {
			return
		}
		found[id] = true
		docs = append(docs, doc.Doc{ID: id, Fields: fields, Version: version})
	}
	if f.Spec.Documents == nil {
		b, err := f.getter.Get(ctx, f.Spec.FromTable, f.cols, f.id, ids)
		if err != nil {
			return nil, fmt.Errorf("feed %s: read rows: %w", f.Name(), err)
		}
		for _, row := range b.Rows {
			fields := make(map[string]any, len(b.Columns))
			for i, c := range b.Columns {
				fields[c.Name] = row[i]
			}
			add(fields)
		}
	} else if err := f.query(ctx, ids, add); err != nil {
		return nil, err
	}
	for _, id := range ids {
		fields := make(map[string]any, len(f.id))
		for i, c := range f.id {
			fields[c] = id[i]
		}
		if s := f.docID(fields); !found[s] {
			found[s] = true
			docs = append(docs, doc.Doc{ID: s, Fields: fields, Version: version, Delete: true})
		}
	}
	return docs, nil
}

// query runs the documents query for ids (1000 at a time), in the store's
// schema.
func (f *Feed) query(ctx context.Context, ids []record.Key, add func(map[string]any)) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		arg := make([]any, n)
		for i, id := range ids[:n] {
			arg[i] = id[0]
		}
		ids = ids[n:]
		err := pgx.BeginTxFunc(ctx, f.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{f.schema}.Sanitize()+", public"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, f.Spec.Documents.Query, arg)
			if err != nil {
				return err
			}
			defer rows.Close()
			fds := rows.FieldDescriptions()
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					return err
				}
				fields := make(map[string]any, len(vals))
				for i, fd := range fds {
					fields[fd.Name] = normalise(vals[i])
				}
				if _, ok := fields[f.id[0]]; !ok {
					return fmt.Errorf("the query returns no column %q (the id)", f.id[0])
				}
				add(fields)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("feed %s: documents query: %w", f.Name(), err)
		}
	}
	return nil
}

// normalise turns pgx's values of a documents query into record.Batch's
// Go types where they differ (smaller integers, numerics as text).
func normalise(v any) any {
	switch x := v.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case interface{ Value() (any, error) }:
		if s, err := x.Value(); err == nil {
			return s
		}
	}
	return v
}

// names are the slot and publication of one rebuild: unique per rebuild
// (a stamp), so a rebuild never disturbs the slot feed run streams from.
func (f *Feed) names(stamp int64) pgrepl.Names {
	return pgrepl.NamesFor(f.Plan.Name, fmt.Sprintf("%s_%d", f.Spec.Name, stamp))
}

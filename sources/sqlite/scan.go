package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/sqlkeyset"
)

const defaultBatchSize = 1000

// plan is the shape of one query: the selected columns (requested ones,
// then order columns not requested), their decoders, where the order
// columns are.
type plan struct {
	selected []string
	types    map[string]record.Type // selected column types (for Wrap)
	nOut     int
	out      []record.Column
	dec      []decoder
	orderPos []int
}

func (s *Source) newPlan(ti *tableInfo, columns, order []string) (*plan, error) {
	tb := ti.t
	if columns == nil {
		columns = tb.Names()
	}
	p := &plan{nOut: len(columns), types: map[string]record.Type{}}
	for _, name := range columns {
		c := tb.Column(name)
		if c == nil {
			return nil, s.notFound("column", name)
		}
		p.selected = append(p.selected, name)
		p.dec = append(p.dec, newDecoder(c))
		p.out = append(p.out, *c)
		p.types[name] = c.Type
	}
	for _, name := range order {
		i := -1
		for j, n := range p.selected {
			if n == name {
				i = j
				break
			}
		}
		if i < 0 {
			c := tb.Column(name)
			d := decoder{raw: true}
			if c != nil {
				d = newDecoder(c)
				p.types[name] = c.Type
			} else if name != "rowid" {
				return nil, s.notFound("column", name)
			}
			p.selected = append(p.selected, name)
			p.dec = append(p.dec, d)
			i = len(p.selected) - 1
		}
		p.orderPos = append(p.orderPos, i)
	}
	return p, nil
}

// wrap selects date/time columns as +"col": the unary plus keeps the
// stored value but drops the declared type, so the driver hands over the
// text as stored (no guessing at formats), which decoding parses and
// keyset paging compares exactly.
func (p *plan) wrap(col, quoted string) string {
	switch p.types[col] {
	case record.Date, record.Timestamp, record.TimestampTZ, record.Time:
		return "+" + quoted
	}
	return quoted
}

// toArg converts a record value (key part or version bound) into a
// parameter comparable with what SQLite stores.
func toArg(v any, typ record.Type) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, errors.New("NULL in an order column: keyset pagination cannot continue")
	case int:
		return int64(x), nil
	case int64, float64, string, []byte:
		return v, nil
	case uint64:
		if x > math.MaxInt64 {
			return fmt.Sprint(x), nil
		}
		return int64(x), nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case time.Time:
		if typ == record.Date {
			return x.UTC().Format("2006-01-02"), nil
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999999"), nil
	case record.Invalid:
		return x.Raw, nil
	}
	return nil, fmt.Errorf("unsupported key value %T", v)
}

func (s *Source) keyArgs(ti *tableInfo, cols []string, k record.Key) ([]any, error) {
	if k == nil {
		return nil, nil
	}
	if len(k) != len(cols) {
		return nil, fmt.Errorf("%d values for %d columns", len(k), len(cols))
	}
	out := make([]any, len(k))
	for i, v := range k {
		var typ record.Type
		if c := ti.t.Column(cols[i]); c != nil {
			typ = c.Type
		}
		a, err := toArg(v, typ)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", cols[i], err)
		}
		out[i] = a
	}
	return out, nil
}

// Scan streams the rows q selects in q.OrderBy order (the primary key when
// OrderBy is empty, the rowid for a table without one), one keyset query
// per batch.
func (s *Source) Scan(ctx context.Context, q sources.Query, emit func(*record.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ti, err := s.info(ctx, q.Table)
	if err != nil {
		return err
	}
	order := q.OrderBy
	if len(order) == 0 {
		order = ti.t.Key
		if len(order) == 0 && ti.rowid {
			order = []string{"rowid"}
		}
	}
	p, err := s.newPlan(ti, q.Columns, order)
	if err != nil {
		return err
	}
	wrap := func(err error) error {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("scan sqlite table %s: %w (%v)", q.Table, cerr, err)
		}
		return fmt.Errorf("scan sqlite table %s: %w", q.Table, err)
	}
	sel := sqlkeyset.Select{Table: q.Table, Columns: p.selected, OrderBy: order, Version: q.Version, Wrap: p.wrap}
	if q.Version != "" && ti.t.Column(q.Version) == nil {
		return s.notFound("column", q.Version)
	}
	var vt record.Type
	if c := ti.t.Column(q.Version); c != nil {
		vt = c.Type
	}
	keyArgs := func(k []any) ([]any, error) { return s.keyArgs(ti, order, k) }
	verArg := func(v any) (any, error) { return toArg(v, vt) }
	if err := sel.Bind(q.After, q.Upto, q.VersionFrom, q.VersionUntil, keyArgs, verArg); err != nil {
		return wrap(err)
	}
	size := q.BatchSize
	if size <= 0 {
		size = defaultBatchSize
	}
	f := &fetcher{p: p, batch: &record.Batch{Columns: p.out}}
	remaining := q.Limit
	// An order that is not unique (a plan's id: override) can share its
	// last key with rows past the page: see sqlkeyset.Tail.
	var tail *sqlkeyset.Tail
	if len(order) > 0 && !sqlkeyset.Unique(ti.t, order) {
		tail = sqlkeyset.NewTail(p.orderPos)
	}
	for {
		if err := ctx.Err(); err != nil {
			return wrap(err)
		}
		limit := size
		if q.Limit > 0 && remaining < limit {
			limit = remaining
		}
		sel.Limit = limit
		if len(order) == 0 { // a view without key: one query
			sel.Limit = q.Limit
		}
		query, args, err := sqlkeyset.SQLite.Select(sel)
		if err != nil {
			return wrap(err)
		}
		n, err := f.fetch(ctx, s, query, args)
		if err != nil {
			return wrap(err)
		}
		if n == 0 {
			return nil
		}
		more := len(order) > 0 && n == limit && (q.Limit == 0 || remaining > n)
		if more {
			// Continue after the last row's values as stored.
			for _, v := range f.lastRaw {
				if v == nil {
					return wrap(errors.New("NULL in an order column: keyset pagination cannot continue"))
				}
			}
			sel.After = append([]any(nil), f.lastRaw...)
		}
		if tail != nil {
			tail.Add(f.store[:n])
		}
		if err := emit(f.emitBatch(n)); err != nil {
			return err
		}
		if !more {
			return nil
		}
		remaining -= n
		if tail != nil {
			query, args, err := sqlkeyset.SQLite.GetByKeys(sqlkeyset.Get{Table: q.Table, Columns: p.selected, Key: order, IDs: [][]any{sel.After}, Wrap: p.wrap})
			if err != nil {
				return wrap(err)
			}
			g := &fetcher{p: p, fresh: true}
			if _, err := g.fetch(ctx, s, query, args); err != nil {
				return wrap(err)
			}
			rest := tail.Rest(g.store)
			for len(rest) > 0 {
				part := rest[:min(len(rest), size)]
				rest = rest[len(part):]
				b := &record.Batch{Columns: p.out, Rows: make([][]any, len(part))}
				for i, r := range part {
					b.Rows[i] = r[:p.nOut:p.nOut]
				}
				if err := emit(b); err != nil {
					return err
				}
				remaining -= len(part)
			}
		}
	}
}

// fetcher runs queries and decodes rows into reusable row slices.
type fetcher struct {
	p       *plan
	store   [][]any
	scratch []any
	ptrs    []any
	lastRaw []any // stored values of the order columns of the last row
	batch   *record.Batch
	fresh   bool
}

func (f *fetcher) emitBatch(n int) *record.Batch {
	b := f.batch
	b.Rows = b.Rows[:0]
	for _, r := range f.store[:n] {
		b.Rows = append(b.Rows, r[:f.p.nOut:f.p.nOut])
	}
	return b
}

func (f *fetcher) fetch(ctx context.Context, s *Source, query string, args []any) (int, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	width := len(f.p.selected)
	if len(f.scratch) != width {
		f.scratch = make([]any, width)
		f.ptrs = make([]any, width)
		for i := range f.scratch {
			f.ptrs[i] = &f.scratch[i]
		}
		f.lastRaw = make([]any, len(f.p.orderPos))
	}
	n := 0
	if !f.fresh {
		f.store = f.store[:cap(f.store)]
	}
	for rows.Next() {
		if err := rows.Scan(f.ptrs...); err != nil {
			return 0, err
		}
		var row []any
		if !f.fresh && n < len(f.store) {
			row = f.store[n]
		} else {
			row = make([]any, width)
			if f.fresh {
				f.store = append(f.store, row)
			} else {
				f.store = append(f.store[:n], row)
			}
		}
		for i, v := range f.scratch {
			row[i] = f.p.dec[i].decode(v)
		}
		for i, pos := range f.p.orderPos {
			f.lastRaw[i] = f.scratch[pos]
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return n, nil
}

// maxGetIDs is the most IDs one Get query asks for (SQLite allows 32766
// parameters).
const maxGetIDs = 500

// Get returns the rows of table whose key columns (key, or the primary key
// when key is nil) equal one of ids. Missing IDs are absent.
func (s *Source) Get(ctx context.Context, table string, columns, key []string, ids []record.Key) (*record.Batch, error) {
	ti, err := s.info(ctx, table)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		key = ti.t.Key
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("get from sqlite table %s: no key", table)
	}
	for _, k := range key {
		if ti.t.Column(k) == nil {
			return nil, s.notFound("column", k)
		}
	}
	p, err := s.newPlan(ti, columns, nil)
	if err != nil {
		return nil, err
	}
	f := &fetcher{p: p, fresh: true}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxGetIDs)]
		ids = ids[len(chunk):]
		args := make([][]any, len(chunk))
		for i, id := range chunk {
			if args[i], err = s.keyArgs(ti, key, id); err != nil {
				return nil, fmt.Errorf("get from sqlite table %s: id %v: %w", table, id, err)
			}
		}
		query, qargs, err := sqlkeyset.SQLite.GetByKeys(sqlkeyset.Get{Table: table, Columns: p.selected, Key: key, IDs: args, Wrap: p.wrap})
		if err != nil {
			return nil, err
		}
		if _, err := f.fetch(ctx, s, query, qargs); err != nil {
			return nil, fmt.Errorf("get from sqlite table %s: %w", table, err)
		}
	}
	rows := append([][]any{}, f.store...)
	return &record.Batch{Columns: p.out, Rows: rows}, nil
}

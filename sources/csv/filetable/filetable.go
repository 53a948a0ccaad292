// Package filetable is the engine shared by the file sources (csv, jsonl):
// one table per file, schema from a format-specific pass over the file,
// and keyset scans over files that are not sorted.
//
// Ordering. Scan needs rows in OrderBy order. The first scan (or Get) with
// a given order key reads the file once and builds an index of
// (key, byte offset, line). When the file is already sorted by that key the
// index is thinned to every 256th row (O(rows/256) memory) and scans stream
// the file from the nearest indexed offset. Otherwise the full index is
// kept, sorted, and rows are read by offset: memory is O(rows × key size),
// never the rows themselves. Indexes are cached per table and order key and
// dropped when the file's size or modification time changes.
//
// Rows whose key cannot be read (a record.Invalid key value, for example a
// ragged row) sort before NULL, and NULL before every value; such rows are
// returned by scans without After and never by Get.
//
// Text orders byte-wise (like the "C" collation), Decimal numerically.
package filetable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// Row is one data row as a Format reads it.
type Row interface {
	// Line is the line number (1-based) where the row starts.
	Line() int
	// Offset and End are the byte offsets of the row's start and end.
	Offset() int64
	End() int64
	// Value decodes column i (table column order) into its record Go type,
	// nil (NULL) or a record.Invalid.
	Value(i int) any
}

// Format reads one file in one format. Describe is always called (on the
// whole file) before Rows.
type Format interface {
	// Describe reads the whole file and returns the table it holds, with
	// columns, types and key.
	Describe(ctx context.Context, r io.Reader) (*record.Table, error)
	// Rows reads data rows from r, which begins at byte offset off of the
	// file (0 = the very start, before any header) on line number line,
	// and calls fn for each. The Row is valid only during fn. fn's error
	// stops Rows and is returned as is.
	Rows(r io.Reader, off int64, line int, fn func(Row) error) error
}

// File is one table: a name, a path and a way to make its Format.
type File struct {
	Name   string
	Path   string
	Format func() Format
}

// Source implements sources.Source and sources.Getter over files.
type Source struct {
	kind   string
	tables []*table
	byName map[string]*table
}

// New returns a Source over files, in the given (stable) order. kind names
// the store in errors ("csv", "jsonl").
func New(kind string, files []File) (*Source, error) {
	s := &Source{kind: kind, byName: map[string]*table{}}
	for _, f := range files {
		if _, dup := s.byName[f.Name]; dup {
			return nil, fmt.Errorf("%s: two files make table %q", kind, f.Name)
		}
		t := &table{File: f}
		s.tables = append(s.tables, t)
		s.byName[f.Name] = t
	}
	return s, nil
}

type table struct {
	File
	mu    sync.Mutex
	state *state
}

// state is what we know of one version of the file.
type state struct {
	size    int64
	mtime   time.Time
	format  Format
	desc    *record.Table
	mu      sync.Mutex // guards indexes
	indexes map[string]*index
}

var _ sources.Source = (*Source)(nil)
var _ sources.Getter = (*Source)(nil)

// Tables lists the tables in file order.
func (s *Source) Tables(ctx context.Context) ([]string, error) {
	out := make([]string, len(s.tables))
	for i, t := range s.tables {
		out[i] = t.Name
	}
	return out, nil
}

// Close releases nothing: files are opened per call.
func (s *Source) Close() error { return nil }

func (s *Source) table(name string) (*table, error) {
	t, ok := s.byName[name]
	if !ok {
		return nil, &sources.NotFoundError{Store: s.kind, What: "table", Name: name}
	}
	return t, nil
}

// Describe returns the table held by the file, reading it whole the first
// time (and again after the file changes).
func (s *Source) Describe(ctx context.Context, name string) (*record.Table, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	st, err := t.load(ctx)
	if err != nil {
		return nil, err
	}
	return copyTable(st.desc), nil
}

func copyTable(t *record.Table) *record.Table {
	c := *t
	c.Columns = append([]record.Column(nil), t.Columns...)
	c.Key = append([]string(nil), t.Key...)
	return &c
}

// load returns the current state, describing the file if it is new or
// changed.
func (t *table) load(ctx context.Context) (*state, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.Path)
	if err != nil {
		return nil, fmt.Errorf("table %q: %w", t.Name, err)
	}
	if st := t.state; st != nil && st.size == fi.Size() && st.mtime.Equal(fi.ModTime()) {
		return st, nil
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, fmt.Errorf("table %q: %w", t.Name, err)
	}
	defer f.Close()
	format := t.Format()
	desc, err := format.Describe(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("describe %q (%s): %w", t.Name, t.Path, err)
	}
	desc.Name = t.Name
	t.state = &state{size: fi.Size(), mtime: fi.ModTime(), format: format, desc: desc, indexes: map[string]*index{}}
	return t.state, nil
}

// plan is a resolved Query.
type plan struct {
	q           sources.Query
	cols        []int // selected columns
	order       []int
	types       []record.Type
	after, upto []any
	version     int // -1 = no version filter
	vtype       record.Type
	vfrom, vto  any
}

func (s *Source) resolve(st *state, q sources.Query) (*plan, error) {
	d := st.desc
	p := &plan{q: q, version: -1}
	col := func(name string) (int, error) {
		i := d.ColumnIndex(name)
		if i < 0 {
			return 0, &sources.NotFoundError{Store: s.kind, What: "column", Name: d.Name + "." + name}
		}
		return i, nil
	}
	if q.Columns == nil {
		for i := range d.Columns {
			p.cols = append(p.cols, i)
		}
	}
	for _, c := range q.Columns {
		i, err := col(c)
		if err != nil {
			return nil, err
		}
		p.cols = append(p.cols, i)
	}
	orderBy := q.OrderBy
	if len(orderBy) == 0 {
		orderBy = d.Key
	}
	for _, c := range orderBy {
		i, err := col(c)
		if err != nil {
			return nil, err
		}
		p.order = append(p.order, i)
		p.types = append(p.types, d.Columns[i].Type)
	}
	bound := func(k record.Key, what string) ([]any, error) {
		if k == nil {
			return nil, nil
		}
		if len(k) != len(p.order) {
			return nil, fmt.Errorf("scan %s: %s has %d values, order key %v has %d", d.Name, what, len(k), orderBy, len(p.order))
		}
		out := make([]any, len(k))
		for i, v := range k {
			x, err := Coerce(&d.Columns[p.order[i]], v)
			if err != nil {
				return nil, fmt.Errorf("scan %s: %s: %w", d.Name, what, err)
			}
			out[i] = x
		}
		return out, nil
	}
	var err error
	if p.after, err = bound(q.After, "After"); err != nil {
		return nil, err
	}
	if p.upto, err = bound(q.Upto, "Upto"); err != nil {
		return nil, err
	}
	if q.Version != "" && (q.VersionFrom != nil || q.VersionUntil != nil) {
		if p.version, err = col(q.Version); err != nil {
			return nil, err
		}
		vc := &d.Columns[p.version]
		p.vtype = vc.Type
		if p.vfrom, err = Coerce(vc, q.VersionFrom); err != nil {
			return nil, fmt.Errorf("scan %s: VersionFrom: %w", d.Name, err)
		}
		if p.vto, err = Coerce(vc, q.VersionUntil); err != nil {
			return nil, fmt.Errorf("scan %s: VersionUntil: %w", d.Name, err)
		}
	}
	return p, nil
}

// keep applies the version filter. A NULL version is outside any bound (as
// in SQL); an Invalid version is kept so the engine sees and rejects it.
func (p *plan) keep(r Row) bool {
	if p.version < 0 {
		return true
	}
	v := r.Value(p.version)
	switch v.(type) {
	case nil:
		return false
	case record.Invalid:
		return true
	}
	if p.vfrom != nil && Compare(p.vtype, v, p.vfrom) < 0 {
		return false
	}
	if p.vto != nil && Compare(p.vtype, v, p.vto) > 0 {
		return false
	}
	return true
}

var (
	errStop = errors.New("stop")    // the scan is complete
	errOne  = errors.New("one row") // readOne has its row
)

// collector gathers selected values into batches.
type collector struct {
	ctx   context.Context
	emit  func(*record.Batch) error
	cols  []int
	size  int
	limit int
	n     int // rows taken so far
	batch record.Batch
	flat  []any
}

func newCollector(ctx context.Context, d *record.Table, cols []int, size, limit int, emit func(*record.Batch) error) *collector {
	if size <= 0 {
		size = 1000
	}
	if limit > 0 && limit < size {
		size = limit
	}
	c := &collector{ctx: ctx, emit: emit, cols: cols, size: size, limit: limit}
	for _, i := range cols {
		c.batch.Columns = append(c.batch.Columns, d.Columns[i])
	}
	c.flat = make([]any, size*len(cols))
	c.batch.Rows = make([][]any, 0, size)
	return c
}

// add takes one row; errStop means the limit is reached.
func (c *collector) add(r Row) error {
	k := len(c.batch.Rows)
	vals := c.flat[k*len(c.cols) : (k+1)*len(c.cols) : (k+1)*len(c.cols)]
	for j, i := range c.cols {
		vals[j] = r.Value(i)
	}
	c.batch.Rows = append(c.batch.Rows, vals)
	c.n++
	if len(c.batch.Rows) == c.size {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if c.limit > 0 && c.n >= c.limit {
		return errStop
	}
	return nil
}

func (c *collector) flush() error {
	if len(c.batch.Rows) == 0 {
		return nil
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if err := c.emit(&c.batch); err != nil {
		return err
	}
	c.batch.Rows = c.batch.Rows[:0]
	clear(c.flat)
	return nil
}

// Scan streams the rows selected by q in OrderBy order (default: the
// table's key; a table without key and no OrderBy is read in file order,
// and then After and Upto are not allowed).
func (s *Source) Scan(ctx context.Context, q sources.Query, emit func(*record.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := s.table(q.Table)
	if err != nil {
		return err
	}
	st, err := t.load(ctx)
	if err != nil {
		return err
	}
	p, err := s.resolve(st, q)
	if err != nil {
		return err
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return fmt.Errorf("scan %s: %w", t.Name, err)
	}
	defer f.Close()
	c := newCollector(ctx, st.desc, p.cols, q.BatchSize, q.Limit, emit)
	if len(p.order) == 0 {
		if p.after != nil || p.upto != nil {
			return fmt.Errorf("scan %s: After/Upto need an order key and the table has none", t.Name)
		}
		err = readRows(ctx, st.format, f, 0, 1, func(r Row) error {
			if !p.keep(r) {
				return nil
			}
			return c.add(r)
		})
	} else {
		var ix *index
		if ix, err = st.index(ctx, f, p.order, p.types); err == nil {
			err = ix.scan(ctx, st.format, f, p, c)
		}
	}
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("scan %s: %w", t.Name, err)
	}
	if err := c.flush(); err != nil {
		return fmt.Errorf("scan %s: %w", t.Name, err)
	}
	return nil
}

// Get returns the rows whose key columns equal one of ids.
func (s *Source) Get(ctx context.Context, name string, columns, key []string, ids []record.Key) (*record.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	st, err := t.load(ctx)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		key = st.desc.Key
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("get %s: no key given and the table has none", name)
	}
	p, err := s.resolve(st, sources.Query{Table: name, Columns: columns, OrderBy: key})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	defer f.Close()
	ix, err := st.index(ctx, f, p.order, p.types)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	out := &record.Batch{}
	for _, i := range p.cols {
		out.Columns = append(out.Columns, st.desc.Columns[i])
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if len(id) != len(p.order) {
			return nil, fmt.Errorf("get %s: id %v has %d values, key %v has %d", name, id, len(id), key, len(p.order))
		}
		want := make([]any, len(id))
		for i, v := range id {
			if want[i], err = Coerce(&st.desc.Columns[p.order[i]], v); err != nil {
				return nil, fmt.Errorf("get %s: %w", name, err)
			}
		}
		if enc, err := record.EncodeKey(want); err == nil {
			if seen[string(enc)] {
				continue
			}
			seen[string(enc)] = true
		}
		err := ix.lookup(ctx, st.format, f, p.types, want, func(r Row) error {
			vals := make([]any, len(p.cols))
			for j, i := range p.cols {
				vals[j] = r.Value(i)
			}
			out.Rows = append(out.Rows, vals)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", name, err)
		}
	}
	return out, nil
}

// readRows reads rows from byte offset off (on line line) to the end.
func readRows(ctx context.Context, format Format, f *os.File, off int64, line int, fn func(Row) error) error {
	n := 0
	return format.Rows(io.NewSectionReader(f, off, 1<<62), off, line, func(r Row) error {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return fn(r)
	})
}

// readOne reads the single row stored at [off, end).
func readOne(format Format, f *os.File, buf *[]byte, off, end int64, line int, fn func(Row) error) error {
	n := int(end - off)
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := f.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF)) {
		return err
	}
	done := false
	err := format.Rows(bytes.NewReader(b), off, line, func(r Row) error {
		if done {
			return errOne
		}
		done = true
		return fn(r)
	})
	if errors.Is(err, errOne) {
		return nil
	}
	return err
}

// entry is one indexed row.
type entry struct {
	key  []any
	off  int64
	end  int64
	line int
}

type index struct {
	order   []int
	types   []record.Type
	sorted  bool    // the file is in key order; entries is sparse
	entries []entry // sorted by key (stable in file order)
	dataOff int64   // offset and line of the first data row
	dataLn  int
	empty   bool
}

const sparseEvery = 256

// index returns the index of the file for the order key, building it once.
func (st *state) index(ctx context.Context, f *os.File, order []int, types []record.Type) (*index, error) {
	name := fmt.Sprint(order)
	st.mu.Lock()
	defer st.mu.Unlock()
	if ix, ok := st.indexes[name]; ok {
		return ix, nil
	}
	ix := &index{order: order, types: types, sorted: true, empty: true}
	err := readRows(ctx, st.format, f, 0, 1, func(r Row) error {
		k := make([]any, len(order))
		for i, c := range order {
			k[i] = r.Value(c)
		}
		e := entry{key: k, off: r.Offset(), end: r.End(), line: r.Line()}
		if n := len(ix.entries); n > 0 && ix.sorted && CompareTuple(types, ix.entries[n-1].key, k) > 0 {
			ix.sorted = false
		}
		if ix.empty {
			ix.dataOff, ix.dataLn, ix.empty = e.off, e.line, false
		}
		ix.entries = append(ix.entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ix.sorted {
		sparse := make([]entry, 0, len(ix.entries)/sparseEvery+1)
		for i := 0; i < len(ix.entries); i += sparseEvery {
			sparse = append(sparse, ix.entries[i])
		}
		ix.entries = sparse
	} else {
		sort.SliceStable(ix.entries, func(i, j int) bool {
			return CompareTuple(types, ix.entries[i].key, ix.entries[j].key) < 0
		})
	}
	st.indexes[name] = ix
	return ix, nil
}

// scan feeds the rows in (After, Upto] to c.
func (ix *index) scan(ctx context.Context, format Format, f *os.File, p *plan, c *collector) error {
	if ix.empty {
		return nil
	}
	if ix.sorted {
		off, line := ix.dataOff, ix.dataLn
		if p.after != nil {
			// The last sampled row with key <= After: every row before it
			// is <= After too.
			i := sort.Search(len(ix.entries), func(i int) bool {
				return CompareTuple(ix.types, ix.entries[i].key, p.after) > 0
			})
			if i > 0 {
				off, line = ix.entries[i-1].off, ix.entries[i-1].line
			}
		}
		key := make([]any, len(p.order))
		return readRows(ctx, format, f, off, line, func(r Row) error {
			for i, col := range p.order {
				key[i] = r.Value(col)
			}
			if p.after != nil && CompareTuple(ix.types, key, p.after) <= 0 {
				return nil
			}
			if p.upto != nil && CompareTuple(ix.types, key, p.upto) > 0 {
				return errStop
			}
			if !p.keep(r) {
				return nil
			}
			return c.add(r)
		})
	}
	i := 0
	if p.after != nil {
		i = sort.Search(len(ix.entries), func(i int) bool {
			return CompareTuple(ix.types, ix.entries[i].key, p.after) > 0
		})
	}
	var buf []byte
	for n := 0; i < len(ix.entries); i, n = i+1, n+1 {
		e := &ix.entries[i]
		if p.upto != nil && CompareTuple(ix.types, e.key, p.upto) > 0 {
			return nil
		}
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err := readOne(format, f, &buf, e.off, e.end, e.line, func(r Row) error {
			if !p.keep(r) {
				return nil
			}
			return c.add(r)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lookup calls fn for every row whose key equals want.
func (ix *index) lookup(ctx context.Context, format Format, f *os.File, types []record.Type, want []any, fn func(Row) error) error {
	if ix.empty {
		return nil
	}
	if ix.sorted {
		// The last sampled row with key < want.
		i := sort.Search(len(ix.entries), func(i int) bool {
			return CompareTuple(types, ix.entries[i].key, want) >= 0
		})
		off, line := ix.dataOff, ix.dataLn
		if i > 0 {
			off, line = ix.entries[i-1].off, ix.entries[i-1].line
		}
		// Reading stops at the first key past want: at most about
		// sparseEvery rows plus the matches.
		key := make([]any, len(types))
		err := readRows(ctx, format, f, off, line, func(r Row) error {
			for i, col := range ix.order {
				key[i] = r.Value(col)
			}
			switch c := CompareTuple(types, key, want); {
			case c > 0:
				return errStop
			case c == 0:
				return fn(r)
			}
			return nil
		})
		if errors.Is(err, errStop) {
			return nil
		}
		return err
	}
	i := sort.Search(len(ix.entries), func(i int) bool {
		return CompareTuple(types, ix.entries[i].key, want) >= 0
	})
	var buf []byte
	for ; i < len(ix.entries) && CompareTuple(types, ix.entries[i].key, want) == 0; i++ {
		e := &ix.entries[i]
		if err := readOne(format, f, &buf, e.off, e.end, e.line, fn); err != nil {
			return err
		}
	}
	return nil
}

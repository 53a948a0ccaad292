// Package feedverify proves a feed's derived store (an Elasticsearch
// index, a Redis keyspace) equal to PostgreSQL, or names every document
// that differs: missing (PostgreSQL has it, the store does not), extra
// (the store has it, PostgreSQL does not) and changed (fields differ, each
// named with both values). Both sides go through package verify's
// canonical encoding, so a value compares equal exactly when it denotes
// the same value whatever each store made of it (numeric 1.50 in
// PostgreSQL, 1.5 in an Elasticsearch document, "1.50" in a Redis hash).
//
// Memory: Compare holds 16 bytes per PostgreSQL document of the partition
// being compared (a 64-bit hash of its ID and one of its fields, no
// pointer for the garbage collector to scan; BenchmarkCompare's
// heapB/doc), the IDs of the differences found, and at most
// Options.MaxDiffs documents' fields for the report. The documents are
// split by a hash of their ID into partitions of about 2M documents
// (32 MB) by PostgreSQL's estimate, each side read once per partition, so
// memory stays flat whatever the size. Two IDs are told apart by their
// 64-bit hashes only: two distinct IDs of one partition sharing a hash
// (odds about n²/2⁶⁵, 1e-7 at 2M) would be taken for one.
package feedverify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
	"github.com/transitdb/transit/verify"
)

// Source yields the documents PostgreSQL says the store should hold: ID
// and fields (Version and Delete are not used), in pages. fn does not keep
// the slice or the documents after it returns.
type Source interface {
	Docs(ctx context.Context, fn func([]doc.Doc) error) error
}

// Typed is a Source that knows the types of its fields (PostgreSQL's
// columns), so stored text can be read back as the right type. Compare
// calls Columns once, before Docs. A field of no known type compares by
// the Go type of its value (int64 as an integer, time.Time as a
// timestamp, string as text).
type Typed interface {
	Columns(ctx context.Context) ([]record.Column, error)
}

// Estimator is a Source that can estimate how many documents it yields
// (PostgreSQL's statistics), so Compare can choose its partitions before
// reading (0 or less = no estimate).
type Estimator interface {
	EstimateDocs(ctx context.Context) (int64, error)
}

// Options tune Compare.
type Options struct {
	// MaxDiffs bounds the differences kept with their fields for the
	// report (default 100). Counts and RepairIDs are always complete.
	MaxDiffs int
	// Partitions splits the comparison by a hash of the document ID into
	// this many passes over both sides: memory is 16 bytes per document
	// of a partition. 0 = as many as keep a partition at about
	// PartitionDocs documents, by the Source's estimate when it gives one
	// (Estimator), else 1.
	Partitions int
	// PartitionDocs is the documents per partition Partitions 0 aims at
	// (default 2,000,000: 32 MB).
	PartitionDocs int64
	// Ignore lists fields left out of the comparison on both sides.
	Ignore []string
	// Columns overrides or adds field types (by Name) to those the Source
	// reports.
	Columns []record.Column
	// Name labels the report (the feed's name).
	Name string
}

// Report is the outcome of one Compare.
type Report struct {
	Name       string
	Generation string
	Docs       int64 // documents PostgreSQL yields
	Stored     int64 // documents the generation holds
	Missing    int   // in PostgreSQL, not in the store
	Extra      int   // in the store, not in PostgreSQL
	Changed    int   // in both, some field differs
	// Diffs are the first MaxDiffs differences (missing and extra without
	// fields, changed with each differing field), in ID order per partition.
	Diffs []verify.Diff
	// Notes say what the comparison could not do exactly (duplicate IDs).
	Notes   []string
	Started time.Time
	Elapsed time.Duration

	repair []string
}

// Consistent reports whether no difference was found.
func (r *Report) Consistent() bool { return r.Missing+r.Extra+r.Changed == 0 }

// RepairIDs are the IDs of every differing document, sorted: re-feeding
// each from PostgreSQL (rendering it again, or deleting it where
// PostgreSQL has none) repairs the store.
func (r *Report) RepairIDs() []string {
	ids := slices.Clone(r.repair)
	sort.Strings(ids)
	return ids
}

// Entity presents r as a verify.EntityReport, so verify.WriteTable and
// verify.WriteJSON render it like any verify result (the document ID is
// the key; PostgreSQL is "old", the store "new").
func (r *Report) Entity() *verify.EntityReport {
	rows := max(r.Docs, r.Stored)
	return &verify.EntityReport{
		Entity:       r.Name,
		Old:          "postgres",
		New:          r.Generation,
		Mode:         "full",
		Notes:        r.Notes,
		RowsOld:      r.Docs,
		RowsNew:      r.Stored,
		RowsCompared: rows,
		Missing:      r.Missing,
		Extra:        r.Extra,
		Changed:      r.Changed,
		Diffs:        r.Diffs,
		Started:      r.Started,
		Elapsed:      r.Elapsed,
	}
}

// Compare reads every document of src and of generation gen of dst and
// reports how they differ. An error means the comparison could not be
// finished (a store failed); the report is then nil.
func Compare(ctx context.Context, src Source, dst doc.Target, gen string, opts Options) (*Report, error) {
	if opts.MaxDiffs <= 0 {
		opts.MaxDiffs = 100
	}
	if src == nil || dst == nil {
		return nil, errors.New("feedverify: source and target are required")
	}
	if opts.PartitionDocs <= 0 {
		opts.PartitionDocs = 2_000_000
	}
	expect := 0
	if e, ok := src.(Estimator); ok && opts.Partitions <= 0 {
		n, err := e.EstimateDocs(ctx)
		if err != nil {
			return nil, fmt.Errorf("feedverify: estimate postgres: %w", err)
		}
		if n > 0 {
			opts.Partitions = int((n + opts.PartitionDocs - 1) / opts.PartitionDocs)
			// A little over the estimate, so the index rarely grows
			// (growing copies it: twice the memory for a moment).
			expect = int(n/int64(opts.Partitions)) + int(n/int64(opts.Partitions))/16 + 1024
		}
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 1
	}
	c := &comparer{
		seed: maphash.MakeSeed(), expect: expect,
		src: src, dst: dst, gen: gen, opts: opts,
		ignore: map[string]bool{},
		cols:   map[string]record.Column{},
		rep:    &Report{Name: opts.Name, Generation: gen, Started: time.Now()},
	}
	for _, f := range opts.Ignore {
		c.ignore[f] = true
	}
	if t, ok := src.(Typed); ok {
		cols, err := t.Columns(ctx)
		if err != nil {
			return nil, fmt.Errorf("feedverify: describe postgres: %w", err)
		}
		for _, col := range cols {
			c.cols[col.Name] = col
		}
	}
	for _, col := range opts.Columns {
		c.cols[col.Name] = col
	}
	for p := 0; p < opts.Partitions; p++ {
		if err := c.pass(ctx, p); err != nil {
			return nil, err
		}
	}
	c.rep.Elapsed = time.Since(c.rep.Started)
	return c.rep, nil
}

type comparer struct {
	seed   maphash.Seed
	expect int // documents per partition expected (the index's capacity), 0 = unknown
	names  []string
	buf    []byte
	src    Source
	dst    doc.Target
	gen    string
	opts   Options
	ignore map[string]bool
	cols   map[string]record.Column
	rep    *Report
}

// entry is one PostgreSQL document of a partition: a 64-bit hash of its
// ID and its document hash. Entries hold no pointer, so the garbage
// collector never scans them (a map of ID strings to hashes made every
// collection walk a million strings per million documents, and a rebuild's
// verify spent most of its time there).
type entry struct{ id, doc uint64 }

// index is PostgreSQL's side of one partition, sorted by ID hash, with a
// bit per entry set when the store yielded the document.
type index struct {
	e     []entry
	found []uint64
}

// find returns the position of ID hash h, or -1.
func (x *index) find(h uint64) int {
	i, ok := slices.BinarySearchFunc(x.e, h, func(e entry, h uint64) int { return cmp.Compare(e.id, h) })
	if !ok {
		return -1
	}
	return i
}

func (x *index) seen(i int) bool { return x.found[i/64]&(1<<(i%64)) != 0 }
func (x *index) mark(i int)      { x.found[i/64] |= 1 << (i % 64) }

// idHash is the 64-bit hash documents are matched by (seeded per Compare).
func (c *comparer) idHash(id string) uint64 { return maphash.String(c.seed, id) }

// part is the partition of an ID hash.
func (c *comparer) part(h uint64) int { return int(h % uint64(c.opts.Partitions)) }

// pass compares the documents of partition p.
func (c *comparer) pass(ctx context.Context, p int) error {
	// 1. PostgreSQL: per document its ID hash and document hash, sorted.
	// Two documents with one ID: the last one read counts (a stable sort
	// keeps read order among equal IDs).
	var x index
	if c.expect > 0 {
		x.e = make([]entry, 0, c.expect)
	}
	err := c.src.Docs(ctx, func(docs []doc.Doc) error {
		for _, d := range docs {
			h := c.idHash(d.ID)
			if c.part(h) != p {
				continue
			}
			c.learn(d.Fields)
			x.e = append(x.e, entry{id: h, doc: c.hash(d.Fields)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feedverify: read postgres: %w", err)
	}
	slices.SortStableFunc(x.e, func(a, b entry) int { return cmp.Compare(a.id, b.id) })
	dups := 0
	for i := 1; i < len(x.e); i++ {
		if x.e[i].id == x.e[i-1].id {
			dups++
		}
	}
	if dups > 0 {
		x.e = dedupLast(x.e)
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%d documents of PostgreSQL share an ID with another one (the last one counts)", dups))
	}
	x.found = make([]uint64, (len(x.e)+63)/64)
	c.rep.Docs += int64(len(x.e))

	// 2. The store: each document against its hash. A store may yield a
	// document twice (Redis SCAN does while the keyspace is resized):
	// a found one is skipped, an extra one counted once.
	changed := map[string]map[string]any{} // kept changed docs: their stored fields
	extraSeen := map[string]bool{}
	var extra []doc.Doc
	err = c.dst.Scan(ctx, c.gen, func(docs []doc.Doc) error {
		for _, d := range docs {
			h := c.idHash(d.ID)
			if c.part(h) != p {
				continue
			}
			i := x.find(h)
			switch {
			case i < 0:
				if extraSeen[d.ID] {
					continue
				}
				extraSeen[d.ID] = true
				c.rep.Stored++
				c.rep.Extra++
				c.rep.repair = append(c.rep.repair, d.ID)
				if len(extra)+len(changed)+len(c.rep.Diffs) < c.opts.MaxDiffs {
					extra = append(extra, doc.Doc{ID: d.ID})
				}
				continue
			case x.seen(i):
				continue
			}
			x.mark(i)
			c.rep.Stored++
			if x.e[i].doc != c.hash(d.Fields) {
				c.rep.Changed++
				c.rep.repair = append(c.rep.repair, d.ID)
				if len(extra)+len(changed)+len(c.rep.Diffs) < c.opts.MaxDiffs {
					changed[d.ID] = maps.Clone(d.Fields) // a Target may reuse its maps
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feedverify: scan %s: %w", c.gen, err)
	}
	unfound := 0
	for i := range x.e {
		if !x.seen(i) {
			unfound++
		}
	}

	// 3. PostgreSQL again, only when something differs: the IDs of the
	// missing documents (the index holds their hashes only) and the
	// fields of the changed documents kept for the report. A document
	// deleted from PostgreSQL between the two reads is no longer missing.
	var diffs []verify.Diff
	var missing []string
	if unfound > 0 || len(changed) > 0 {
		err := c.src.Docs(ctx, func(docs []doc.Doc) error {
			for _, d := range docs {
				if unfound > 0 {
					if i := x.find(c.idHash(d.ID)); i >= 0 && !x.seen(i) {
						x.mark(i) // an ID read twice is missing once
						missing = append(missing, d.ID)
						continue
					}
				}
				stored, ok := changed[d.ID]
				if !ok {
					continue
				}
				delete(changed, d.ID)
				diffs = append(diffs, verify.Diff{
					Key: record.Key{d.ID}, Kind: verify.Changed, Fields: c.fieldDiffs(d.Fields, stored),
				})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("feedverify: read postgres again: %w", err)
		}
		// A document deleted from PostgreSQL between the two reads.
		for id := range changed {
			diffs = append(diffs, verify.Diff{Key: record.Key{id}, Kind: verify.Changed})
		}
	}
	sort.Strings(missing)
	c.rep.Missing += len(missing)
	c.rep.repair = append(c.rep.repair, missing...)
	for _, d := range extra {
		diffs = append(diffs, verify.Diff{Key: record.Key{d.ID}, Kind: verify.Extra})
	}
	for _, id := range missing {
		if len(diffs)+len(c.rep.Diffs) >= c.opts.MaxDiffs {
			break
		}
		diffs = append(diffs, verify.Diff{Key: record.Key{id}, Kind: verify.Missing})
	}
	sort.SliceStable(diffs, func(i, j int) bool { return diffs[i].Key[0].(string) < diffs[j].Key[0].(string) })
	if room := c.opts.MaxDiffs - len(c.rep.Diffs); len(diffs) > room {
		diffs = diffs[:room]
	}
	c.rep.Diffs = append(c.rep.Diffs, diffs...)
	return nil
}

// dedupLast keeps, of each run of entries with one ID hash, the last.
func dedupLast(e []entry) []entry {
	out := e[:0]
	for i := range e {
		if i+1 < len(e) && e[i+1].id == e[i].id {
			continue
		}
		out = append(out, e[i])
	}
	return out
}

// learn gives each field PostgreSQL did not describe the type of its
// first non-NULL value on PostgreSQL's side, so the store's text is read
// as that type (an RFC 3339 string as a timestamp when PostgreSQL gave a
// time.Time), in the hash and in the field diffs alike.
func (c *comparer) learn(fields map[string]any) {
	for k, v := range fields {
		if v == nil {
			continue
		}
		if _, ok := c.cols[k]; !ok {
			c.cols[k] = columnOf(k, v)
		}
	}
}

// column is the type a field compares as.
func (c *comparer) column(name string, v any) record.Column {
	if col, ok := c.cols[name]; ok {
		return col
	}
	return columnOf(name, v)
}

// hash is the document hash: the canonical encodings of the non-NULL,
// not ignored fields in name order (an absent field is NULL: a Redis hash
// stores no NULL field).
func (c *comparer) hash(fields map[string]any) uint64 {
	names := c.names[:0]
	for k, v := range fields {
		if v != nil && !c.ignore[k] {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	buf := c.buf[:0]
	text := record.Column{Type: record.Text}
	for _, k := range names {
		s, _ := Canonical(c.column(k, fields[k]), fields[k])
		buf = verify.AppendField(buf, text, k)
		buf = verify.AppendField(buf, text, s)
	}
	c.names, c.buf = names, buf
	return verify.RowHash(buf)
}

// fieldDiffs names each field whose canonical text differs.
func (c *comparer) fieldDiffs(want, got map[string]any) []verify.FieldDiff {
	names := map[string]bool{}
	for k := range want {
		names[k] = true
	}
	for k := range got {
		names[k] = true
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		if !c.ignore[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []verify.FieldDiff
	for _, k := range keys {
		col := c.column(k, want[k])
		o, on := Canonical(col, want[k])
		n, nn := Canonical(col, got[k])
		if o != n || on != nn {
			out = append(out, verify.FieldDiff{Column: k, Old: o, New: n, OldNull: on, NewNull: nn})
		}
	}
	return out
}

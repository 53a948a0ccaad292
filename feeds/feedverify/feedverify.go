// Package feedverify proves a feed's derived store (an Elasticsearch
// index, a Redis keyspace) equal to PostgreSQL, or names every document
// that differs: missing (PostgreSQL has it, the store does not), extra
// (the store has it, PostgreSQL does not) and changed (fields differ, each
// named with both values). Both sides go through package verify's
// canonical encoding, so a value compares equal exactly when it denotes
// the same value whatever each store made of it (numeric 1.50 in
// PostgreSQL, 1.5 in an Elasticsearch document, "1.50" in a Redis hash).
//
// Memory: Compare holds one 8-byte hash per document ID of the partition
// being compared (the ID text, its hash and Go's map overhead: 51 bytes
// per document for 6-digit IDs, measured by BenchmarkCompare's heapB/doc),
// the IDs of the differences found, and
// at most Options.MaxDiffs documents' fields for the report. With
// Options.Partitions = P the documents are split by a hash of their ID
// and each side is read P times, so the bound is 1/P of that.
package feedverify

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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

// Options tune Compare.
type Options struct {
	// MaxDiffs bounds the differences kept with their fields for the
	// report (default 100). Counts and RepairIDs are always complete.
	MaxDiffs int
	// Partitions splits the comparison by a hash of the document ID into
	// this many passes over both sides (default 1): memory is one hash per
	// document of a partition.
	Partitions int
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
	if opts.Partitions <= 0 {
		opts.Partitions = 1
	}
	if src == nil || dst == nil {
		return nil, errors.New("feedverify: source and target are required")
	}
	c := &comparer{
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
	src    Source
	dst    doc.Target
	gen    string
	opts   Options
	ignore map[string]bool
	cols   map[string]record.Column
	rep    *Report
}

// part is the partition of a document ID.
func (c *comparer) part(id string) int {
	if c.opts.Partitions == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(c.opts.Partitions))
}

// pass compares the documents of partition p.
func (c *comparer) pass(ctx context.Context, p int) error {
	// 1. PostgreSQL: one hash per ID.
	want := map[string]uint64{}
	dups := 0
	err := c.src.Docs(ctx, func(docs []doc.Doc) error {
		for _, d := range docs {
			if c.part(d.ID) != p {
				continue
			}
			if _, dup := want[d.ID]; dup {
				dups++
			}
			c.learn(d.Fields)
			want[d.ID] = c.hash(d.Fields)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feedverify: read postgres: %w", err)
	}
	if dups > 0 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%d documents of PostgreSQL share an ID with another one (the last one counts)", dups))
	}
	c.rep.Docs += int64(len(want))

	// 2. The store: each document against its hash.
	changed := map[string]map[string]any{} // kept changed docs: their stored fields
	var extra []doc.Doc
	err = c.dst.Scan(ctx, c.gen, func(docs []doc.Doc) error {
		for _, d := range docs {
			if c.part(d.ID) != p {
				continue
			}
			c.rep.Stored++
			h, ok := want[d.ID]
			switch {
			case !ok:
				c.rep.Extra++
				c.rep.repair = append(c.rep.repair, d.ID)
				if len(extra)+len(changed)+len(c.rep.Diffs) < c.opts.MaxDiffs {
					extra = append(extra, doc.Doc{ID: d.ID})
				}
				continue
			case h != c.hash(d.Fields):
				c.rep.Changed++
				c.rep.repair = append(c.rep.repair, d.ID)
				if len(extra)+len(changed)+len(c.rep.Diffs) < c.opts.MaxDiffs {
					changed[d.ID] = maps.Clone(d.Fields) // a Target may reuse its maps
				}
			}
			delete(want, d.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feedverify: scan %s: %w", c.gen, err)
	}
	missing := make([]string, 0, len(want))
	for id := range want {
		missing = append(missing, id)
	}
	sort.Strings(missing)
	c.rep.Missing += len(missing)
	c.rep.repair = append(c.rep.repair, missing...)

	// 3. Fields of the changed documents kept for the report: read
	// PostgreSQL again for them (only when something changed).
	var diffs []verify.Diff
	if len(changed) > 0 {
		err := c.src.Docs(ctx, func(docs []doc.Doc) error {
			for _, d := range docs {
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
	names := make([]string, 0, len(fields))
	for k, v := range fields {
		if v != nil && !c.ignore[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var buf []byte
	text := record.Column{Type: record.Text}
	for _, k := range names {
		s, _ := Canonical(c.column(k, fields[k]), fields[k])
		buf = verify.AppendField(buf, text, k)
		buf = verify.AppendField(buf, text, s)
	}
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

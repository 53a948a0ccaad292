package verify

import (
	"context"
	"errors"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// streamReader reads a side through Source.Scan and hashes in Go.
type streamReader struct {
	s       *Side
	keyCols []record.Column
	keyIdx  []int // position of each key column in the scanned columns
	cols    []string
	verIdx  int // -1 = no version column
}

func newStreamReader(s *Side) (*streamReader, error) {
	if s.Source == nil {
		return nil, errors.New("side " + s.Store + ": neither Source nor SQL set")
	}
	kc, err := keyColumns(s)
	if err != nil {
		return nil, err
	}
	r := &streamReader{s: s, keyCols: kc, verIdx: -1}
	for i := range s.Columns {
		r.cols = append(r.cols, s.name(i))
	}
	for _, k := range s.Key {
		for j, n := range r.cols {
			if n == k {
				r.keyIdx = append(r.keyIdx, j)
				break
			}
		}
	}
	if s.Version != "" {
		r.verIdx = len(r.cols)
		r.cols = append(r.cols, s.Version)
	}
	return r, nil
}

func (r *streamReader) pushdown() bool { return false }

// prepare: a source orders keys as its store does; see docs/verify.md.
func (r *streamReader) prepare(context.Context) error { return nil }

func (r *streamReader) query(kr keyRange) sources.Query {
	return sources.Query{Table: r.s.Table, Columns: r.cols, OrderBy: r.s.Key,
		After: kr.lo, Upto: kr.hi, BatchSize: 2000}
}

func (r *streamReader) hash(ctx context.Context, kr keyRange) (chunkHash, error) {
	var h chunkHash
	var buf []byte
	n := len(r.s.Columns)
	err := r.s.Source.Scan(ctx, r.query(kr), func(b *record.Batch) error {
		for _, row := range b.Rows {
			buf = AppendRow(buf[:0], r.s.Columns, row[:n])
			h.sum += RowHash(buf)
			h.count++
			if r.verIdx >= 0 {
				h.maxV = maxVersion(h.maxV, row[r.verIdx])
			}
		}
		return nil
	})
	return h, err
}

func (r *streamReader) eachBound(ctx context.Context, kr keyRange, step int, fn func(record.Key) error) error {
	q := r.query(kr)
	q.Columns = r.s.Key
	q.BatchSize = 10000
	i := 0
	return r.s.Source.Scan(ctx, q, func(b *record.Batch) error {
		for _, row := range b.Rows {
			i++
			if i%step == 0 {
				k := make(record.Key, len(row))
				for j := range row {
					k[j] = normKey(r.keyCols[j], row[j])
				}
				if err := fn(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (r *streamReader) rows(ctx context.Context, kr keyRange, fn func(fetched) error) error {
	n := len(r.s.Columns)
	kidx := keyIndexes(r.s)
	return r.s.Source.Scan(ctx, r.query(kr), func(b *record.Batch) error {
		for _, row := range b.Rows {
			f := fetched{key: make(record.Key, len(r.keyIdx)), fields: make([]string, n)}
			for j, ki := range r.keyIdx {
				f.key[j] = normKey(r.keyCols[j], row[ki])
			}
			var buf []byte
			for j := 0; j < n; j++ {
				buf = AppendField(buf[:0], r.s.Columns[j], row[j])
				f.fields[j] = string(buf)
			}
			if r.verIdx >= 0 {
				f.version = row[r.verIdx]
			}
			f.id = rowID(f.fields, kidx)
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *streamReader) changed(ctx context.Context, kr keyRange, since any) (bool, error) {
	q := r.query(kr)
	q.Columns = r.s.Key
	q.Version = r.s.Version
	q.VersionFrom = since
	q.Limit = 1
	found := false
	err := r.s.Source.Scan(ctx, q, func(b *record.Batch) error {
		if b.Len() > 0 {
			found = true
		}
		return nil
	})
	return found, err
}

func (r *streamReader) missing(ctx context.Context) ([]string, error) {
	t, err := r.s.Source.Describe(ctx, r.s.Table)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := range r.s.Columns {
		if t.Column(r.s.name(i)) == nil {
			out = append(out, r.s.name(i))
		}
	}
	return out, nil
}

// maxVersion keeps the greater of two version values (times or integers).
func maxVersion(cur, v any) any {
	if v == nil {
		return cur
	}
	if cur == nil {
		return v
	}
	switch x := v.(type) {
	case time.Time:
		if c, ok := cur.(time.Time); ok && x.After(c) {
			return x
		}
	case int64:
		if c, ok := cur.(int64); ok && x > c {
			return x
		}
	}
	return cur
}

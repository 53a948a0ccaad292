package sqlkeyset

import (
	"bytes"
	"slices"

	"github.com/transitdb/transit/record"
)

// Keys that are not unique.
//
// A keyset page ends after LIMIT rows and the next one starts strictly
// after the last key: when that key is shared by rows the page did not
// reach (a plan's `id:` naming columns that are not a unique key of the
// table), those rows would be skipped silently. A scan whose order is not
// known to be unique (Unique) keeps the rows of the page's last key in a
// Tail, and after a full page fetches that key's rows (GetByKeys) and
// emits those the page had not (Tail.Rest) before going on: every row is
// read once, and the duplicates reach the engine, which rejects them.

// Unique reports whether cols tell t's rows apart: they include its primary
// key or every column of one of its unique indexes.
func Unique(t *record.Table, cols []string) bool {
	covers := func(set []string) bool {
		if len(set) == 0 {
			return false
		}
		for _, c := range set {
			if !slices.Contains(cols, c) {
				return false
			}
		}
		return true
	}
	if covers(t.Key) {
		return true
	}
	for _, ix := range t.Indexes {
		if !ix.Unique || !covers(ix.Columns) {
			continue
		}
		// A unique index lets NULLs repeat: only NOT NULL columns count.
		nullable := false
		for _, c := range ix.Columns {
			if col := t.Column(c); col == nil || col.Nullable {
				nullable = true
			}
		}
		if !nullable {
			return true
		}
	}
	return false
}

// Tail holds copies of the rows sharing the last key seen by a scan.
type Tail struct {
	pos  []int   // positions of the order columns in a row
	rows [][]any // the rows with the last key, in scan order
}

// NewTail tracks the key at positions pos of each row.
func NewTail(pos []int) *Tail { return &Tail{pos: pos} }

// Add records rows, the next ones of the scan in key order. It copies the
// rows it keeps: the caller may reuse them.
func (t *Tail) Add(rows [][]any) {
	n := len(rows)
	if n == 0 {
		return
	}
	last := rows[n-1]
	i := n - 1
	for i > 0 && t.sameKey(rows[i-1], last) {
		i--
	}
	if i > 0 || len(t.rows) == 0 || !t.sameKey(t.rows[0], last) {
		t.rows = t.rows[:0]
	}
	for _, row := range rows[i:] {
		t.rows = append(t.rows, slices.Clone(row))
	}
}

// Key returns the last key seen (nil before any row).
func (t *Tail) Key() []any {
	if len(t.rows) == 0 {
		return nil
	}
	k := make([]any, len(t.pos))
	for i, p := range t.pos {
		k[i] = t.rows[0][p]
	}
	return k
}

// Rest returns the rows of group (every row with the tail's key) that the
// scan has not seen: group less the tail's rows, compared by value (rows
// with equal values are interchangeable).
func (t *Tail) Rest(group [][]any) [][]any {
	seen := slices.Clone(t.rows)
	var rest [][]any
next:
	for _, row := range group {
		for i, s := range seen {
			if sameRow(s, row) {
				seen = slices.Delete(seen, i, i+1)
				continue next
			}
		}
		rest = append(rest, row)
	}
	return rest
}

func (t *Tail) sameKey(a, b []any) bool {
	for _, p := range t.pos {
		if !sameValue(a[p], b[p]) {
			return false
		}
	}
	return true
}

func sameRow(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameValue(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if x, ok := a.(record.Invalid); ok {
		y, ok := b.(record.Invalid)
		return ok && x.Raw == y.Raw
	}
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	if _, ok := b.(record.Invalid); ok {
		return false
	}
	return record.Compare(a, b) == 0
}

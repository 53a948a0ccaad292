package port

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/record"
)

// Duplicate keys in the source.
//
// A source can hold several rows with the same ID key: a CSV or JSONL file
// (nothing makes its id column unique), or a SQL table whose plan names
// `id:` columns that are not a unique key there. The first row read with a
// key is moved; every later one becomes a reject whose reason starts with
// DuplicateReason, never a silent overwrite and never a primary key that
// cannot be built.
//
// Sources return rows in key order (the file sources sort an index of the
// file first), so the rows sharing a key arrive one after the other, but a
// batch boundary can fall between them. groupTail holds the rows that share
// the last key of a batch back until the next batch (or the end of the
// chunk), so that every group of equal keys is written in one batch:
// dedupBatch then sees all of it, and the chunk's checkpoint never lands
// inside a group (a resume reads strictly after the checkpoint, and would
// otherwise skip the rest of the group silently). This is also what makes
// it safe under kill -9 and with several processes: the rejects commit in
// the same ledger transaction as the batch's checkpoint, a replayed batch
// rejects the same rows under the same reject keys, and key ranges of
// chunks never split a group.

// DuplicateReason starts the reason of every reject for a duplicate key.
const DuplicateReason = "duplicate key in source"

// dupMarker is appended to a duplicate's key in transit.rejects: the n-th
// row read with a key is stored under key + "duplicate n", so that each of
// them has a reject of its own (rejects are unique per run, entity and key).
func dupMarker(n int) string { return fmt.Sprintf("duplicate %d", n) }

// maxKeptPayload bounds the kept row's JSON quoted in a reject's reason.
const maxKeptPayload = 2000

// groupTail returns the index in rows where the trailing group of rows
// sharing the last row's order tuple starts (0 when all rows share it).
func groupTail(rows [][]any, idx []int) int {
	n := len(rows)
	if n == 0 || len(idx) == 0 {
		return n
	}
	last := rows[n-1]
	i := n - 1
	for i > 0 && sameKey(rows[i-1], last, idx) {
		i--
	}
	return i
}

// sameKey reports whether rows a and b hold the same values at idx. A NULL
// or an unreadable (record.Invalid) value is never equal to anything.
func sameKey(a, b []any, idx []int) bool {
	c, ok := compareKeys(a, b, idx)
	return ok && c == 0
}

// dedupBatch removes from rows every row whose key an earlier row of the
// batch has, and returns the rows to write and a reject for each removed
// one. On a backfill the batch is in key order, so comparing neighbours
// finds every duplicate; a batch whose neighbours are not in Go's key
// order (a catch-up reads in version order; a source collation that sorts
// text otherwise) is searched with a map of its keys instead.
func (r *runner) dedupBatch(es *entityState, rows [][]any) ([][]any, []ledger.RejectRow) {
	if len(es.KeyIdx) == 0 || len(rows) < 2 {
		return rows, nil
	}
	var first []int // per row: the index of the first row with its key, or -1
	var dups int
	head := 0
	for i := 1; i < len(rows); i++ {
		switch c, ok := compareKeys(rows[head], rows[i], es.KeyIdx); {
		case ok && c == 0:
			if first == nil {
				first = newFirst(len(rows))
			}
			first[i] = head
			dups++
			continue
		case !ok || c < 0:
			head = i
			continue
		}
		first, dups = byMap(rows, es.KeyIdx)
		break
	}
	if dups == 0 {
		return rows, nil
	}
	out := make([][]any, 0, len(rows)-dups)
	rej := make([]ledger.RejectRow, 0, dups)
	occurrence := map[int]int{} // first row -> rows read with its key so far
	for i, row := range rows {
		j := first[i]
		if j < 0 {
			out = append(out, row)
			continue
		}
		occurrence[j]++
		rej = append(rej, r.duplicateReject(es, row, rows[j], occurrence[j]+1))
	}
	return out, rej
}

// compareKeys compares the keys of rows a and b; ok is false when either
// holds a NULL or an unreadable value (never a duplicate: the sink rejects
// such a row on its own).
func compareKeys(a, b []any, idx []int) (int, bool) {
	for _, ix := range idx {
		x, y := a[ix], b[ix]
		// The common cases without record.Compare's generality.
		switch xv := x.(type) {
		case int64:
			if yv, ok := y.(int64); ok {
				if xv != yv {
					return cmp.Compare(xv, yv), true
				}
				continue
			}
		case string:
			if yv, ok := y.(string); ok {
				if xv != yv {
					return strings.Compare(xv, yv), true
				}
				continue
			}
		case nil, record.Invalid:
			return 0, false
		}
		switch y.(type) {
		case nil, record.Invalid:
			return 0, false
		}
		if c := record.Compare(x, y); c != 0 {
			return c, true
		}
	}
	return 0, true
}

// byMap finds the rows whose key an earlier row has, wherever they are.
func byMap(rows [][]any, idx []int) ([]int, int) {
	first := newFirst(len(rows))
	dups := 0
	seen := make(map[any]int, len(rows))
	for i, row := range rows {
		k, ok := mapKey(row, idx)
		if !ok {
			continue
		}
		if j, ok := seen[k]; ok {
			first[i] = j
			dups++
			continue
		}
		seen[k] = i
	}
	return first, dups
}

func newFirst(n int) []int {
	f := make([]int, n)
	for i := range f {
		f[i] = -1
	}
	return f
}

// mapKey renders row's key for dedupBatch's map; ok is false when the key
// holds a NULL or an unreadable value.
func mapKey(row []any, idx []int) (any, bool) {
	if len(idx) == 1 {
		switch v := row[idx[0]].(type) {
		case int64, uint64, string, bool:
			return v, true
		case float64:
			if v == 0 {
				return float64(0), true // -0 == 0
			}
			return v, v == v // NaN is never a duplicate
		case time.Time:
			return [2]int64{v.Unix(), int64(v.Nanosecond())}, true
		}
	}
	k := make(record.Key, len(idx))
	for i, ix := range idx {
		v := row[ix]
		if v == nil {
			return nil, false
		}
		if _, bad := v.(record.Invalid); bad {
			return nil, false
		}
		k[i] = keyValue(v)
	}
	b, err := record.EncodeKey(k)
	if err != nil {
		return nil, false
	}
	return string(b), true
}

// duplicateReject is the reject of row, the n-th row read with the key of
// kept (the row that is moved): its payload is row, its reason names the
// key and quotes kept, so both rows can be found in transit.rejects.
func (r *runner) duplicateReject(es *entityState, row, kept []any, n int) ledger.RejectRow {
	key := make(record.Key, len(es.KeyIdx), len(es.KeyIdx)+1)
	names := make([]string, len(es.KeyIdx))
	for j, ix := range es.KeyIdx {
		key[j] = keyValue(row[ix])
		names[j] = fmt.Sprintf("%s=%v", es.Target.Columns[ix].Name, row[ix])
	}
	key = append(key, dupMarker(n))
	keptJSON, err := json.Marshal(r.payload(es, kept))
	if err != nil {
		keptJSON = []byte(`{"error":"payload not encodable"}`)
	}
	s := string(keptJSON)
	if len(s) > maxKeptPayload {
		s = strings.ToValidUTF8(s[:maxKeptPayload], "") + "…"
	}
	return ledger.RejectRow{
		Key:     key,
		Reason:  fmt.Sprintf("%s: %s is row %d with this key; the first one is kept: %s", DuplicateReason, strings.Join(names, ", "), n, s),
		Payload: r.payload(es, row),
	}
}

// payload renders a row for transit.rejects, by target column name.
func (r *runner) payload(es *entityState, row []any) map[string]any {
	payload := make(map[string]any, len(row))
	for j, v := range row {
		payload[es.Target.Columns[j].Name] = payloadValue(v)
	}
	return payload
}

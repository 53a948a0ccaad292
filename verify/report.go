package verify

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
)

// Kind says how a row differs.
type Kind string

// The kinds of difference.
const (
	Missing Kind = "missing" // in old, not in new
	Extra   Kind = "extra"   // in new, not in old
	Changed Kind = "changed" // in both, some fields differ
)

// FieldDiff is one differing field, as canonical text on each side.
type FieldDiff struct {
	Column  string // the old side's column name
	NewName string // the new side's name, when the plan renames the column
	Old     string // canonical text; "" when OldNull
	New     string
	OldNull bool
	NewNull bool
}

// MarshalJSON writes {"column":…,"old":…,"new":…} with null for SQL NULL.
func (f FieldDiff) MarshalJSON() ([]byte, error) {
	v := struct {
		Column  string  `json:"column"`
		NewName string  `json:"new_column,omitempty"`
		Old     *string `json:"old"`
		New     *string `json:"new"`
	}{Column: f.Column, NewName: f.NewName}
	if !f.OldNull {
		v.Old = &f.Old
	}
	if !f.NewNull {
		v.New = &f.New
	}
	return json.Marshal(v)
}

// Diff is one row that differs.
type Diff struct {
	Key      record.Key
	Kind     Kind
	Fields   []FieldDiff // Changed only
	Repaired bool        // fixed by Options.Repair/Delete and verified again

	id string // canonical text of the key fields: matches rows across stores
}

// ColumnIssue is a compared column verify could not compare, such as a
// column missing on one side.
type ColumnIssue struct {
	Column  string // the old side's name
	Side    string // "old" or "new"
	Name    string // the column's name on Side
	Problem string // e.g. "missing in new"
}

// EntityReport is the outcome of verifying one entity.
type EntityReport struct {
	Entity string
	Old    string // store.table
	New    string
	// OldPushdown and NewPushdown say whether chunk hashes were computed in
	// the database (true) or by streaming rows into Go (false).
	OldPushdown bool
	NewPushdown bool
	Mode        string // "full" or "since-last"
	Notes       []string

	RowsOld       int64 // rows in the verified chunks, old side
	RowsNew       int64
	RowsCompared  int64 // max(RowsOld, RowsNew)
	Chunks        int   // top-level chunks verified
	ChunksSkipped int   // top-level chunks skipped by --since-last
	ChunksHashed  int   // chunk hashes compared, narrowing included
	ChunksFetched int   // chunks fetched row by row
	RowsFetched   int64 // rows fetched row by row, both sides
	InFlight      int   // differing rows younger than the lag, checked again

	Missing, Extra, Changed int // differences found
	Repaired                int // differences repaired and verified again

	Diffs   []Diff
	Columns []ColumnIssue

	// MaxVersion is the greatest version seen on the old side (a time.Time
	// or an int64), nil without a version column.
	MaxVersion any
	Started    time.Time
	Elapsed    time.Duration
	// Incomplete is set when verification stopped early (Err says why):
	// the counters and diffs cover only what was done, and the entity is
	// never reported consistent.
	Incomplete bool
	Err        error
}

// Consistent reports whether old and new were proven to agree: the whole
// entity was verified, every column compared, and no difference is left
// unrepaired.
func (r *EntityReport) Consistent() bool {
	if r.Incomplete || r.Err != nil || len(r.Columns) > 0 {
		return false
	}
	for _, d := range r.Diffs {
		if !d.Repaired {
			return false
		}
	}
	return true
}

// Status is "consistent", "differences" or "error".
func (r *EntityReport) Status() string {
	switch {
	case r.Err != nil || r.Incomplete:
		return "error"
	case r.Consistent():
		return "consistent"
	}
	return "differences"
}

// ExitCode is the exit code transit verify returns for reps: 0 when all are
// consistent, 2 when any failed with an error, 1 otherwise.
func ExitCode(reps []*EntityReport) int {
	code := 0
	for _, r := range reps {
		switch r.Status() {
		case "error":
			return 2
		case "differences":
			code = 1
		}
	}
	return code
}

// decodeField turns a field encoding back into display text.
func decodeField(enc string) (text string, null bool) {
	if enc == nullField {
		return "", true
	}
	if strings.HasPrefix(enc, invalidField) {
		_, raw, _ := strings.Cut(enc[len(invalidField):], ":")
		return "invalid(" + raw + ")", false
	}
	_, text, _ = strings.Cut(enc, ":")
	return text, false
}

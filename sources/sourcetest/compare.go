package sourcetest

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/transitdb/transit/record"
)

// CompareKeys orders two key tuples of record Go types: integers
// numerically, strings and bytes bytewise, times chronologically, false
// before true, nil first. It panics on mixed or unsupported types, which
// in a test is a bug in the fixture.
func CompareKeys(a, b record.Key) int {
	for i := range min(len(a), len(b)) {
		if c := compareValue(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func compareValue(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		default:
			return 1
		}
	}
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case uint64:
		return cmp.Compare(x, b.(uint64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return cmp.Compare(x, b.(string))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case time.Time:
		return x.Compare(b.(time.Time))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		default:
			return 1
		}
	}
	panic(fmt.Sprintf("sourcetest: cannot compare %T", a))
}

// project returns the values of cols (positions in the fixture row).
func project(row []any, pos []int) []any {
	out := make([]any, len(pos))
	for i, p := range pos {
		out[i] = row[p]
	}
	return out
}

// sortedBy returns the fixture rows sorted by the columns at pos.
func sortedBy(rows [][]any, pos []int) [][]any {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b []any) int {
		return CompareKeys(project(a, pos), project(b, pos))
	})
	return out
}

// equalValue reports whether got is an acceptable reading of the fixture
// value want of column col. With typed columns the Go types must match
// exactly (time.Time by instant, and in UTC for Timestamp and Date);
// otherwise a string holding a usual text form of want is also accepted.
func equalValue(col record.Column, want, got any, typed bool) (bool, string) {
	if want == nil || got == nil {
		if want == nil && got == nil {
			return true, ""
		}
		if !typed && got == "" && want != nil {
			if s, ok := want.(string); ok && s == "" {
				return true, ""
			}
		}
		return false, "NULL vs non-NULL"
	}
	if s, ok := got.(string); ok && !typed {
		if _, same := want.(string); !same {
			for _, form := range textForms(want) {
				if s == form {
					return true, ""
				}
			}
			return false, "text form differs"
		}
	}
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		if !ok {
			return false, fmt.Sprintf("got %T", got)
		}
		if !w.Equal(g) {
			return false, "different instant"
		}
		if typed && (col.Type == record.Timestamp || col.Type == record.Date) && g.Location() != time.UTC {
			return false, "location is not UTC"
		}
		return true, ""
	case []byte:
		g, ok := got.([]byte)
		if !ok {
			return false, fmt.Sprintf("got %T", got)
		}
		return bytes.Equal(w, g), ""
	case float64:
		g, ok := got.(float64)
		if !ok {
			return false, fmt.Sprintf("got %T", got)
		}
		return w == g || (math.IsNaN(w) && math.IsNaN(g)), ""
	}
	if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
		return false, fmt.Sprintf("got %T", got)
	}
	return want == got, ""
}

// textForms lists the text spellings an untyped source may give v.
func textForms(v any) []string {
	switch x := v.(type) {
	case int64:
		return []string{strconv.FormatInt(x, 10)}
	case uint64:
		return []string{strconv.FormatUint(x, 10)}
	case float64:
		return []string{strconv.FormatFloat(x, 'g', -1, 64), strconv.FormatFloat(x, 'f', -1, 64)}
	case bool:
		return []string{strconv.FormatBool(x), map[bool]string{true: "1", false: "0"}[x], map[bool]string{true: "t", false: "f"}[x]}
	case []byte:
		return []string{string(x)}
	case time.Time:
		u := x.UTC()
		return []string{
			u.Format(time.RFC3339Nano),
			u.Format("2006-01-02 15:04:05.999999"),
			u.Format("2006-01-02T15:04:05.999999"),
			u.Format("2006-01-02 15:04:05.000000"),
			u.Format("2006-01-02"),
		}
	}
	return []string{fmt.Sprint(v)}
}

// sameType is the default column type check.
func sameType(typed bool) func(want, got record.Column) bool {
	return func(want, got record.Column) bool {
		if want.Type == got.Type {
			return true
		}
		return !typed && got.Type == record.Text
	}
}

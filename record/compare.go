package record

import (
	"bytes"
	"time"
)

// Compare orders two values of the same logical type: -1, 0 or +1. nil
// sorts before everything. Strings compare bytewise (a binary collation).
// Mixed integer kinds compare numerically. Values of unrelated types
// compare equal.
func Compare(a, b any) int {
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
		switch y := b.(type) {
		case int64:
			return cmpOrdered(x, y)
		case uint64:
			if x < 0 {
				return -1
			}
			return cmpOrdered(uint64(x), y)
		case float64:
			return cmpOrdered(float64(x), y)
		}
	case uint64:
		switch y := b.(type) {
		case uint64:
			return cmpOrdered(x, y)
		case int64:
			return -Compare(y, x)
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmpOrdered(x, y)
		case int64:
			return cmpOrdered(x, float64(y))
		}
	case string:
		if y, ok := b.(string); ok {
			return compareStrings(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			default:
				return 1
			}
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y)
		}
	}
	return 0
}

// CompareKeys compares two key tuples element by element.
func CompareKeys(a, b Key) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmpOrdered(len(a), len(b))
}

func compareStrings(x, y string) int { return cmpOrdered(x, y) }

func cmpOrdered[T int | int64 | uint64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

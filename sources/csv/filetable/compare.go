package filetable

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
)

// Compare orders two values of logical type t the way an SQL source orders
// them, with two additions for values a file can hold: a record.Invalid
// sorts before NULL, and NULL sorts before every other value. Text compares
// byte-wise (like the "C" collation); Decimal compares numerically.
func Compare(t record.Type, a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb || ra < 2 {
		return cmp.Compare(ra, rb)
	}
	if x, ok := a.(string); ok && t == record.Decimal {
		if y, ok := b.(string); ok {
			return CompareDecimal(x, y)
		}
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		// Mismatched Go types cannot happen for coerced values; order by
		// type name to stay total.
		return strings.Compare(fmt.Sprintf("%T", a), fmt.Sprintf("%T", b))
	}
	return record.Compare(a, b)
}

func rank(v any) int {
	switch v.(type) {
	case record.Invalid:
		return 0
	case nil:
		return 1
	}
	return 2
}

// CompareTuple compares two key tuples column by column.
func CompareTuple(types []record.Type, a, b []any) int {
	for i := range types {
		if c := Compare(types[i], a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// CompareDecimal compares two plain decimal texts numerically. Text that is
// not a plain decimal compares byte-wise after all numbers.
func CompareDecimal(a, b string) int {
	na, ia, fa, oka := splitDecimal(a)
	nb, ib, fb, okb := splitDecimal(b)
	if !oka || !okb {
		if oka != okb {
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	}
	zeroA, zeroB := ia == "" && fa == "", ib == "" && fb == ""
	if zeroA {
		na = false
	}
	if zeroB {
		nb = false
	}
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	c := cmp.Compare(len(ia), len(ib))
	if c == 0 {
		c = strings.Compare(ia, ib)
	}
	if c == 0 {
		c = strings.Compare(fa, fb) // trailing zeros stripped: lexical works
	}
	if na {
		return -c
	}
	return c
}

// splitDecimal returns the sign, the integer digits without leading zeros
// and the fraction digits without trailing zeros.
func splitDecimal(s string) (neg bool, ip, fp string, ok bool) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	ip, fp = s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		ip, fp = s[:i], s[i+1:]
	}
	if (ip == "" && fp == "") || !allDigits(ip) || !allDigits(fp) {
		return false, "", "", false
	}
	return neg, strings.TrimLeft(ip, "0"), strings.TrimRight(fp, "0"), true
}

// Coerce converts v, a key or version bound given by a caller, to the Go
// type column c's values have, so Compare can order it against them.
func Coerce(c *record.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() (any, error) {
		return nil, fmt.Errorf("value %v (%T) does not fit column %q of type %s", v, v, c.Name, c.Type)
	}
	switch c.Type {
	case record.Int, record.Year:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int8:
			return int64(x), nil
		case uint64:
			if x > math.MaxInt64 {
				return bad()
			}
			return int64(x), nil
		case uint32:
			return int64(x), nil
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<62 {
				return bad()
			}
			return int64(x), nil
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return bad()
			}
			return n, nil
		}
	case record.Float:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case string:
			if f, ok := parseFloat(x); ok {
				return f, nil
			}
		}
	case record.Decimal:
		switch x := v.(type) {
		case string:
			if d, ok := PlainDecimal(x); ok {
				return d, nil
			}
		case int64:
			return strconv.FormatInt(x, 10), nil
		case int:
			return strconv.Itoa(x), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	case record.Bool:
		if x, ok := v.(bool); ok {
			return x, nil
		}
	case record.Date, record.Timestamp, record.TimestampTZ:
		switch x := v.(type) {
		case time.Time:
			if c.Type == record.TimestampTZ {
				return x, nil
			}
			// Wall-clock types are held in UTC.
			return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC), nil
		case string:
			if r := ParseText(c.Type, x, 0); rank(r) == 2 {
				return r, nil
			}
		}
	case record.Bytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	default: // Text, JSON, UUID, Time, Enum, Set
		switch x := v.(type) {
		case string:
			if c.Type == record.UUID {
				if u, ok := canonicalUUID(x); ok {
					return u, nil
				}
				return bad()
			}
			return x, nil
		case []byte:
			return string(x), nil
		}
	}
	return bad()
}

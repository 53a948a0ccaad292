package audit

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transitdb/transit/record"
)

// valueText is the canonical text of a value as reports show it and as
// distinct counting, sample IDs and referenced-key lookups compare it.
func valueText(v any, t record.Type) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return timeText(x, t)
	case record.Invalid:
		return x.Raw
	}
	return fmt.Sprint(v)
}

func timeText(x time.Time, t record.Type) string {
	switch t {
	case record.Date:
		return x.Format("2006-01-02")
	case record.TimestampTZ:
		return x.UTC().Format(time.RFC3339Nano)
	}
	if x.Nanosecond() != 0 {
		return x.Format("2006-01-02 15:04:05.999999999")
	}
	return x.Format("2006-01-02 15:04:05")
}

// number returns v as a float64 for histograms and range checks.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case time.Time:
		return float64(x.Unix()), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// compare orders two non-nil values of one column (-1, 0, +1); ok is false
// when they cannot be ordered.
func compare(a, b any, t record.Type) (int, bool) {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp3(x < y, x > y), true
		}
	case uint64:
		if y, ok := b.(uint64); ok {
			return cmp3(x < y, x > y), true
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmp3(x < y, x > y), true
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmp3(!x && y, x && !y), true
		}
	case string:
		if y, ok := b.(string); ok {
			if t == record.Decimal {
				return compareDecimal(x, y), true
			}
			return strings.Compare(x, y), true
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return strings.Compare(string(x), string(y)), true
		}
	}
	return 0, false
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

// compareDecimal orders two plain decimal texts ("-12.50") without parsing
// them into floats.
func compareDecimal(a, b string) int {
	na, nb := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	a, b = strings.TrimLeft(a, "+-"), strings.TrimLeft(b, "+-")
	if isZeroDecimal(a) {
		na = false
	}
	if isZeroDecimal(b) {
		nb = false
	}
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	c := compareAbsDecimal(a, b)
	if na {
		return -c
	}
	return c
}

func isZeroDecimal(s string) bool {
	return strings.Trim(s, "0.") == ""
}

func compareAbsDecimal(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	ai, bi = strings.TrimLeft(ai, "0"), strings.TrimLeft(bi, "0")
	if len(ai) != len(bi) {
		return cmp3(len(ai) < len(bi), len(ai) > len(bi))
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	// Fractions: compare digit by digit, a missing digit being 0.
	for i := 0; i < len(af) || i < len(bf); i++ {
		x, y := byte('0'), byte('0')
		if i < len(af) {
			x = af[i]
		}
		if i < len(bf) {
			y = bf[i]
		}
		if x != y {
			return cmp3(x < y, x > y)
		}
	}
	return 0
}

// hash64 is FNV-1a followed by a splitmix64 finaliser: deterministic across
// runs, so HyperLogLog estimates are reproducible.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

var (
	reasonLine   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line \d+: | at line \d+|(^row) at line \d+`) })
	reasonQuoted = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^"(?:[^"\\]|\\.)*" is `) })
)

// invalidClass is the kind of a record.Invalid: its Reason without what
// belongs to one value, so that equal problems count together. The file
// sources put the line in the reason ("invalid UTF-8 at line 7", `line 7:
// "x" is not a valid int`, "row at line 7 has 3 fields, header has 4");
// those become "invalid UTF-8", "not a valid int" and "row has 3 fields,
// header has 4". Other reasons ("zero date") are kept as they are.
func invalidClass(reason string) string {
	if !strings.Contains(reason, "line ") {
		return reason
	}
	s := reasonLine().ReplaceAllString(reason, "$1")
	return reasonQuoted().ReplaceAllString(s, "")
}

package sqlite

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
)

// decoder turns one stored SQLite value (nil, int64, float64, string,
// []byte, or time.Time when the driver parsed one) into the record Go type
// of its column.
type decoder struct {
	typ   record.Type
	scale int // Decimal: digits after the point, -1 = as stored
	raw   bool
}

func newDecoder(c *record.Column) decoder {
	d := decoder{typ: c.Type, scale: -1}
	if c.Type == record.Decimal && (c.Precision > 0 || c.Scale > 0) {
		d.scale = c.Scale
	}
	return d
}

func invalid(v any, reason string) record.Invalid {
	var raw string
	switch x := v.(type) {
	case string:
		raw = x
	case []byte:
		raw = string(x)
	case int64:
		raw = strconv.FormatInt(x, 10)
	case float64:
		raw = strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		raw = x.Format(time.RFC3339Nano)
	}
	return record.Invalid{Raw: raw, Reason: reason}
}

func (d decoder) decode(v any) any {
	if v == nil || d.raw {
		return v
	}
	switch d.typ {
	case record.Int:
		switch x := v.(type) {
		case int64:
			return x
		case float64:
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				return int64(x)
			}
			return invalid(v, "real value in an integer column")
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n
			}
			return invalid(v, "text that is not an integer in an integer column")
		}
		return invalid(v, "blob in an integer column")
	case record.Float:
		switch x := v.(type) {
		case float64:
			return x
		case int64:
			return float64(x)
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f
			}
			return invalid(v, "text that is not a number in a real column")
		}
		return invalid(v, "blob in a real column")
	case record.Decimal:
		return d.decimal(v)
	case record.Bool:
		switch x := v.(type) {
		case int64:
			switch x {
			case 0:
				return false
			case 1:
				return true
			}
		case float64:
			switch x {
			case 0:
				return false
			case 1:
				return true
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "0", "f", "false", "n", "no":
				return false
			case "1", "t", "true", "y", "yes":
				return true
			}
		}
		return invalid(v, "not a boolean")
	case record.Bytes:
		switch x := v.(type) {
		case []byte:
			return x
		case string:
			return []byte(x)
		}
		return invalid(v, "number in a blob column")
	case record.Date:
		t, ok := d.timeOf(v)
		if !ok {
			return t.(record.Invalid)
		}
		tt := t.(time.Time)
		if tt.Hour() != 0 || tt.Minute() != 0 || tt.Second() != 0 || tt.Nanosecond() != 0 {
			return invalid(v, "date with a time of day")
		}
		return tt
	case record.Timestamp, record.TimestampTZ:
		t, _ := d.timeOf(v)
		return t
	case record.Time:
		if s, ok := v.(string); ok {
			if t, ok := timeOfDay(s); ok {
				return t
			}
		}
		return invalid(v, "not a time of day")
	case record.JSON:
		s, ok := textOf(v)
		if !ok {
			return invalid(v, "invalid UTF-8")
		}
		if !json.Valid([]byte(s)) {
			return invalid(v, "invalid JSON")
		}
		return s
	case record.UUID:
		if b, ok := v.([]byte); ok && len(b) == 16 {
			h := hex.EncodeToString(b)
			return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		}
		if s, ok := v.(string); ok && isUUID(s) {
			return strings.ToLower(s)
		}
		return invalid(v, "not a UUID")
	}
	// Text and anything else.
	s, ok := textOf(v)
	if !ok {
		return invalid(v, "invalid UTF-8")
	}
	return s
}

// textOf renders a stored value as text; ok is false for bytes that are
// not UTF-8.
func textOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, utf8.ValidString(x)
	case []byte:
		return string(x), utf8.Valid(x)
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case time.Time:
		return x.Format("2006-01-02 15:04:05.999999999"), true
	}
	return "", false
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// decimal renders a stored numeric value as plain decimal text at the
// column's scale.
func (d decoder) decimal(v any) any {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return invalid(v, "not a finite number")
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		s = strings.TrimSpace(x)
		if !isDecimal(s) {
			// Exponent forms ("1.5e3") that SQLite kept as text.
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return invalid(v, "text that is not a number in a numeric column")
			}
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
	default:
		return invalid(v, "blob in a numeric column")
	}
	return scaleDecimal(s, d.scale)
}

// isDecimal reports whether s is [+-]digits[.digits] (digits on at least
// one side of the point).
func isDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// scaleDecimal normalises plain decimal text s (see isDecimal) to scale
// digits after the point, rounding half away from zero; scale < 0 keeps
// the digits as they are.
func scaleDecimal(s string, scale int) string {
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if scale >= 0 {
		if len(frac) > scale {
			up := frac[scale] >= '5'
			digits := []byte(intPart + frac[:scale])
			if up {
				i := len(digits) - 1
				for ; i >= 0; i-- {
					if digits[i] == '9' {
						digits[i] = '0'
						continue
					}
					digits[i]++
					break
				}
				if i < 0 {
					digits = append([]byte{'1'}, digits...)
				}
			}
			intPart, frac = string(digits[:len(digits)-scale]), string(digits[len(digits)-scale:])
		} else {
			frac += strings.Repeat("0", scale-len(frac))
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out
}

// timeOf parses a stored date/time value; on failure it returns a
// record.Invalid and false.
func (d decoder) timeOf(v any) (any, bool) {
	switch x := v.(type) {
	case time.Time:
		return wallUTC(x), true
	case string:
		if t, ok := parseTime(x); ok {
			return t, true
		}
		return invalid(v, "unparsable date/time text"), false
	case int64, float64:
		return invalid(v, "number in a date/time column (unix or julian time?)"), false
	}
	return invalid(v, "blob in a date/time column"), false
}

func wallUTC(t time.Time) time.Time {
	if t.Location() == time.UTC {
		return t
	}
	return t.UTC()
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTime parses the usual SQLite date/time text forms.
func parseTime(s string) (time.Time, bool) {
	// Fast path: "YYYY-MM-DD HH:MM:SS[.fffffffff]".
	if t, ok := fastTime(s); ok {
		return t, true
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return wallUTC(t), true
		}
	}
	return time.Time{}, false
}

func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, s != ""
}

func fastTime(s string) (time.Time, bool) {
	if len(s) != 10 && len(s) < 19 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return time.Time{}, false
	}
	if len(s) == 10 {
		return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
	}
	if s[10] != ' ' && s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	h, ok4 := num(s[11:13])
	mi, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !ok4 || !ok5 || !ok6 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	ns := 0
	if len(s) > 19 {
		if s[19] != '.' || len(s) > 29 {
			return time.Time{}, false
		}
		f, ok := num(s[20:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(s) - 20; i < 9; i++ {
			f *= 10
		}
		ns = f
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// timeOfDay checks "HH:MM[:SS[.f]]" and returns "HH:MM:SS[.f]".
func timeOfDay(s string) (string, bool) {
	if len(s) == 5 {
		s += ":00"
	}
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return "", false
	}
	h, ok1 := num(s[0:2])
	m, ok2 := num(s[3:5])
	sec, ok3 := num(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return "", false
	}
	if len(s) > 8 {
		if _, ok := num(s[9:]); s[8] != '.' || !ok || len(s) > 15 {
			return "", false
		}
	}
	return s, true
}

package filetable

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
)

// ParseDeclared turns a declared column type into a column; see
// record.ParseDeclared, which the plan checks declared types with too.
func ParseDeclared(decl string) (record.Column, error) { return record.ParseDeclared(decl) }

// ParseText converts the text s to a value of type t (see record.Type). A
// text that does not parse gives a record.Invalid whose Reason names the
// line. Text values must be valid UTF-8; Bytes take "\x"-prefixed hex or
// the raw bytes.
func ParseText(t record.Type, s string, line int) any {
	bad := func(what string) any {
		return record.Invalid{Raw: s, Reason: fmt.Sprintf("line %d: %q is not a valid %s", line, clip(s), what)}
	}
	if t != record.Bytes && !utf8.ValidString(s) {
		return record.Invalid{Raw: s, Reason: fmt.Sprintf("invalid UTF-8 at line %d", line)}
	}
	switch t {
	case record.Text:
		return s
	case record.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return bad("int")
		}
		return n
	case record.Decimal:
		d, ok := PlainDecimal(strings.TrimSpace(s))
		if !ok {
			return bad("decimal")
		}
		return d
	case record.Float:
		f, ok := parseFloat(strings.TrimSpace(s))
		if !ok {
			return bad("float")
		}
		return f
	case record.Bool:
		b, ok := parseBool(strings.TrimSpace(s))
		if !ok {
			return bad("bool")
		}
		return b
	case record.Date:
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
		if err != nil {
			return bad("date (YYYY-MM-DD)")
		}
		return d
	case record.Timestamp:
		ts, zoned, ok := parseTimestamp(strings.TrimSpace(s))
		if !ok {
			return bad("timestamp")
		}
		if zoned {
			ts = ts.UTC()
		}
		return ts
	case record.TimestampTZ:
		ts, _, ok := parseTimestamp(strings.TrimSpace(s))
		if !ok {
			return bad("timestamptz")
		}
		return ts
	case record.Time:
		x := strings.TrimSpace(s)
		if _, err := time.Parse("15:04:05.999999999", x); err != nil {
			return bad("time (HH:MM:SS)")
		}
		return x
	case record.JSON:
		if !json.Valid([]byte(s)) {
			return bad("JSON text")
		}
		return s
	case record.UUID:
		u, ok := canonicalUUID(strings.TrimSpace(s))
		if !ok {
			return bad("uuid")
		}
		return u
	case record.Bytes:
		if strings.HasPrefix(s, `\x`) {
			b, err := hex.DecodeString(s[2:])
			if err != nil {
				return bad(`hex bytes (\x...)`)
			}
			return b
		}
		return []byte(s)
	}
	return record.Invalid{Raw: s, Reason: fmt.Sprintf("line %d: unsupported type %s", line, t)}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "t":
		return true, true
	case "false", "f":
		return false, true
	}
	return false, false
}

func parseFloat(s string) (float64, bool) {
	if s == "" || !strings.ContainsAny(s, "0123456789") {
		return 0, false // reject "inf", "nan" and friends
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// parseTimestamp accepts "YYYY-MM-DD HH:MM:SS[.f]" or the same with "T",
// with an optional zone ("Z" or ±hh:mm). Without a zone the result is UTC.
func parseTimestamp(s string) (t time.Time, zoned bool, ok bool) {
	if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') {
		return time.Time{}, false, false
	}
	b := []byte(s)
	b[10] = 'T'
	x := string(b)
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", x); err == nil {
		return t, false, true
	}
	if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
		return t, true, true
	}
	return time.Time{}, false, false
}

func canonicalUUID(s string) (string, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	var h string
	switch len(s) {
	case 32:
		h = s
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		h = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	default:
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	h = strings.ToLower(h)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

// PlainDecimal checks that s is a decimal number (optionally signed, with an
// optional fraction and exponent) and returns it as plain decimal text
// without exponent or leading '+', e.g. "1.5e2" → "150", "+.5" → "0.5".
func PlainDecimal(s string) (string, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return "", false
		}
		exp = e
	}
	intp, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intp, frac = mant[:i], mant[i+1:]
	}
	if intp == "" && frac == "" || !allDigits(intp) || !allDigits(frac) {
		return "", false
	}
	if exp == 0 && intp != "" && (len(intp) == 1 || intp[0] != '0') && !strings.HasSuffix(mant, ".") {
		if neg {
			return "-" + mant, true
		}
		return mant, true // fast path: already plain
	}
	digits := intp + frac
	point := len(intp) + exp // position of the decimal point in digits
	if point < 0 {
		digits = strings.Repeat("0", -point) + digits
		point = 0
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	ip, fp := strings.TrimLeft(digits[:point], "0"), digits[point:]
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Inference tracks which types every non-empty text value of a column
// fits. The first type that fits all values wins, in the order int,
// decimal, float, bool, date, timestamp, timestamptz, else text.
type Inference struct {
	mask    uint16
	seen    bool
	sawNull bool
}

const (
	fitInt = 1 << iota
	fitDecimal
	fitFloat
	fitBool
	fitDate
	fitTimestamp
	fitTimestampTZ
	fitAll = 1<<iota - 1
)

// Add records one value; empty means NULL.
func (in *Inference) Add(s string, empty bool) {
	if empty {
		in.sawNull = true
		return
	}
	if !in.seen {
		in.mask, in.seen = fitAll, true
	}
	if in.mask == 0 {
		return
	}
	m := uint16(0)
	if in.mask&fitInt != 0 {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			m |= fitInt
		}
	}
	if in.mask&fitDecimal != 0 && !strings.ContainsAny(s, "eE") {
		if _, ok := PlainDecimal(s); ok {
			m |= fitDecimal
		}
	}
	if in.mask&fitFloat != 0 {
		if _, ok := parseFloat(s); ok {
			m |= fitFloat
		}
	}
	if in.mask&fitBool != 0 {
		if l := strings.ToLower(s); l == "true" || l == "false" {
			m |= fitBool
		}
	}
	if in.mask&fitDate != 0 && len(s) == 10 {
		if _, err := time.Parse(time.DateOnly, s); err == nil {
			m |= fitDate
		}
	}
	if in.mask&(fitTimestamp|fitTimestampTZ) != 0 {
		if _, zoned, ok := parseTimestamp(s); ok {
			if zoned {
				m |= fitTimestampTZ
			} else {
				m |= fitTimestamp
			}
		}
	}
	in.mask &= m
}

// NoteNull records a NULL.
func (in *Inference) NoteNull() { in.sawNull = true }

// Nullable reports whether a NULL was seen.
func (in *Inference) Nullable() bool { return in.sawNull }

// Column returns the inferred column type. A column with no non-empty value
// is text.
func (in *Inference) Column(name string) record.Column {
	c := record.Column{Name: name, Nullable: in.sawNull}
	switch m := in.mask; {
	case !in.seen || m == 0:
		c.Type = record.Text
	case m&fitInt != 0:
		c.Type, c.Bits = record.Int, 64
	case m&fitDecimal != 0:
		c.Type = record.Decimal
	case m&fitFloat != 0:
		c.Type, c.Bits = record.Float, 64
	case m&fitBool != 0:
		c.Type = record.Bool
	case m&fitDate != 0:
		c.Type = record.Date
	case m&fitTimestamp != 0:
		c.Type = record.Timestamp
	default:
		c.Type = record.TimestampTZ
	}
	c.Native = "inferred " + c.Type.String()
	return c
}

// DefaultKey returns the declared key if any, else ["id"] when the table
// has a column named id, else nil. Declared key columns must exist.
func DefaultKey(t *record.Table, declared []string) ([]string, error) {
	if len(declared) > 0 {
		for _, k := range declared {
			if t.Column(k) == nil {
				return nil, fmt.Errorf("declared key column %q not in table %q", k, t.Name)
			}
		}
		return append([]string(nil), declared...), nil
	}
	if t.Column("id") != nil {
		return []string{"id"}, nil
	}
	return nil, nil
}

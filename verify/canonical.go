package verify

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
)

// The canonical encoding. docs/verify.md states the rules; SQLCanonicalExpr
// holds their server-side twins, and the property tests check both agree.

// TimestampLayout is the canonical form of Timestamp and TimestampTZ values:
// UTC, to the microsecond.
const TimestampLayout = "2006-01-02T15:04:05.000000Z"

// nullField is the field encoding of SQL NULL. A non-NULL field always starts
// with a digit (its byte length), so no value can produce it.
const nullField = "-1:"

// invalidField starts the field encoding of a record.Invalid value, which no
// server-side expression produces: an Invalid never equals anything.
const invalidField = "-2:"

// Canonical returns the canonical text of v, a value of column c in the Go
// type record.Type fixes for c.Type. NULL is reported as "" here; use
// AppendField for the encoding that keeps NULL distinct from "".
func Canonical(c record.Column, v any) string {
	return string(appendCanonical(nil, c, v))
}

// AppendField appends the field encoding of v to dst: "-1:" for NULL,
// otherwise the byte length of the canonical text, ':' and the text.
func AppendField(dst []byte, c record.Column, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, nullField...)
	case record.Invalid:
		dst = append(dst, invalidField...)
		dst = strconv.AppendInt(dst, int64(len(x.Raw)), 10)
		dst = append(dst, ':')
		return append(dst, x.Raw...)
	}
	start := len(dst)
	// Reserve room for the length prefix after the text is known.
	dst = appendCanonical(dst, c, v)
	n := len(dst) - start
	var pre [24]byte
	p := strconv.AppendInt(pre[:0], int64(n), 10)
	p = append(p, ':')
	dst = append(dst, p...)
	copy(dst[start+len(p):], dst[start:start+n])
	copy(dst[start:], p)
	return dst
}

// appendTextField appends the field encoding of an already canonical text
// (as a server returned it); null marks SQL NULL.
func appendTextField(dst []byte, text string, null bool) []byte {
	if null {
		return append(dst, nullField...)
	}
	dst = strconv.AppendInt(dst, int64(len(text)), 10)
	dst = append(dst, ':')
	return append(dst, text...)
}

// RowHash is the row hash of a canonical row text: the first 8 bytes of its
// MD5 digest, big-endian. A chunk hash is the sum of its rows' hashes modulo
// 2^64 (uint64 overflow), which does not depend on row order.
func RowHash(row []byte) uint64 {
	sum := md5.Sum(row)
	return binary.BigEndian.Uint64(sum[:8])
}

// AppendRow appends the canonical row text of vals (the field encodings of
// each column, concatenated) to dst.
func AppendRow(dst []byte, cols []record.Column, vals []any) []byte {
	for i := range cols {
		dst = AppendField(dst, cols[i], vals[i])
	}
	return dst
}

func appendCanonical(dst []byte, c record.Column, v any) []byte {
	if v == nil {
		return dst
	}
	if inv, ok := v.(record.Invalid); ok {
		return append(dst, inv.String()...)
	}
	switch c.Type {
	case record.Bool:
		if b, ok := asBool(v); ok {
			if b {
				return append(dst, 't')
			}
			return append(dst, 'f')
		}
	case record.Int, record.Year:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(dst, x, 10)
		case int:
			return strconv.AppendInt(dst, int64(x), 10)
		case int32:
			return strconv.AppendInt(dst, int64(x), 10)
		case int16:
			return strconv.AppendInt(dst, int64(x), 10)
		case int8:
			return strconv.AppendInt(dst, int64(x), 10)
		case uint64:
			return strconv.AppendUint(dst, x, 10)
		}
	case record.Uint, record.Bit:
		switch x := v.(type) {
		case uint64:
			return strconv.AppendUint(dst, x, 10)
		case int64:
			return strconv.AppendInt(dst, x, 10)
		case []byte: // BIT(n) as raw big-endian bytes
			var u uint64
			for _, b := range x {
				u = u<<8 | uint64(b)
			}
			return strconv.AppendUint(dst, u, 10)
		}
	case record.Float:
		switch x := v.(type) {
		case float64:
			return appendFloat(dst, x, c.Bits)
		case float32:
			return appendFloat(dst, float64(x), 32)
		}
	case record.Decimal:
		switch x := v.(type) {
		case string:
			return append(dst, NormalizeDecimal(x)...)
		case []byte:
			return append(dst, NormalizeDecimal(string(x))...)
		case int64:
			return strconv.AppendInt(dst, x, 10)
		}
	case record.Bytes:
		switch x := v.(type) {
		case []byte:
			return hex.AppendEncode(dst, x)
		case string:
			return hex.AppendEncode(dst, []byte(x))
		}
	case record.Date:
		if t, ok := v.(time.Time); ok {
			return t.AppendFormat(dst, "2006-01-02")
		}
	case record.Time:
		if s, ok := v.(string); ok {
			return append(dst, normalizeTime(s)...)
		}
	case record.Timestamp, record.TimestampTZ:
		if t, ok := v.(time.Time); ok {
			return t.UTC().AppendFormat(dst, TimestampLayout)
		}
	case record.JSON:
		switch x := v.(type) {
		case string:
			return append(dst, CanonicalJSON(x)...)
		case []byte:
			return append(dst, CanonicalJSON(string(x))...)
		}
	case record.UUID:
		if s, ok := v.(string); ok {
			return append(dst, strings.ToLower(s)...)
		}
	case record.Text:
		if s, ok := v.(string); ok && c.Fixed {
			// CHAR(n): trailing pad spaces are not data (MySQL and
			// PostgreSQL both drop them when the value is read as text).
			return append(dst, strings.TrimRight(s, " ")...)
		}
	}
	// Text, Enum, Set, Unknown, and any value of an unexpected Go type.
	switch x := v.(type) {
	case string:
		return append(dst, x...)
	case []byte:
		return append(dst, x...)
	case time.Time:
		return x.UTC().AppendFormat(dst, TimestampLayout)
	default:
		return fmt.Append(dst, x)
	}
}

func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int64:
		return x != 0, true
	case uint64:
		return x != 0, true
	case int:
		return x != 0, true
	}
	return false, false
}

// appendFloat writes a float rounded to 15 significant digits (round half
// to even, like C's "%.15g") as plain decimal text in NormalizeDecimal form:
// "0.1", "1000000", "1.5e-7" → "0.00000015". Fifteen digits is what
// PostgreSQL's float8 → numeric cast keeps, so the server can produce the
// same text; two floats that differ only beyond the 15th digit compare
// equal. A 32-bit column's value is first rounded to float32 and widened
// back, so float4 and float8 columns compare at float4 precision. NaN and
// infinities are "NaN", "Infinity", "-Infinity".
func appendFloat(dst []byte, f float64, bits int) []byte {
	if bits == 32 {
		f = float64(float32(f))
	}
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	var buf [32]byte
	return append(dst, NormalizeDecimal(string(strconv.AppendFloat(buf[:0], f, 'e', 14, 64)))...)
}

// NormalizeDecimal reduces plain decimal text to its canonical form: no
// sign on zero, no leading zeros before the units digit, no trailing zeros
// after the point and no trailing point ("1.50"→"1.5", "2.00"→"2",
// "-0.0"→"0", ".5"→"0.5"). Exponent notation is expanded ("1.5E3"→"1500").
// Text that is not a decimal number is returned unchanged ("NaN").
func NormalizeDecimal(s string) string {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return orig
		}
		mant, exp = s[:i], e
	}
	ip, fp, _ := strings.Cut(mant, ".")
	if ip == "" && fp == "" || !allDigits(ip) || !allDigits(fp) {
		return orig
	}
	if exp != 0 {
		if exp > 100000 || exp < -100000 {
			return orig
		}
		digits := ip + fp
		point := len(ip) + exp
		switch {
		case point <= 0:
			ip, fp = "0", strings.Repeat("0", -point)+digits
		case point >= len(digits):
			ip, fp = digits+strings.Repeat("0", point-len(digits)), ""
		default:
			ip, fp = digits[:point], digits[point:]
		}
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normalizeTime gives a time of day six fractional digits: "15:04:05" →
// "15:04:05.000000", "15:04:05.5" → "15:04:05.500000".
func normalizeTime(s string) string {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 6 {
		frac = frac[:6]
	}
	return whole + "." + frac + strings.Repeat("0", 6-len(frac))
}

// CanonicalJSON returns JSON text in canonical form: compact, object keys
// sorted by their UTF-8 bytes, numbers as NormalizeDecimal gives them, no
// HTML escaping. Text that is not JSON is returned unchanged, so it still
// compares (and differs) as text.
func CanonicalJSON(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	if dec.More() {
		return s
	}
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			writeJSON(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(NormalizeDecimal(string(x)))
	case string:
		writeJSONString(b, x)
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

func nan() float64         { return math.NaN() }
func inf(sign int) float64 { return math.Inf(sign) }

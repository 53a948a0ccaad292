package sinktest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
)

// Canon renders a value of column c as comparable text, so what a test
// wrote (the Go types listed on record.Type) and what a store gives back
// (the same Go types, or the store's text form: "\x00ff" for bytes,
// "t"/"true", padded decimals, re-spaced JSON, …) compare equal when they
// mean the same. NULL is "NULL", distinct from the empty string "".
func Canon(c record.Column, v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case record.Invalid:
		return x.String()
	case *record.Invalid:
		return x.String()
	}
	switch c.Type {
	case record.Bool:
		switch x := v.(type) {
		case bool:
			return strconv.FormatBool(x)
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return strconv.FormatBool(b)
			}
		}
	case record.Int, record.Uint, record.Year:
		switch x := v.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			return fmt.Sprint(x)
		case string:
			return canonDecimal(x)
		}
	case record.Float:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case string:
			var err error
			if f, err = strconv.ParseFloat(x, 64); err != nil {
				return "?" + x
			}
		default:
			return fmt.Sprintf("%T:%v", v, v)
		}
		if c.Bits == 32 {
			return strconv.FormatFloat(float64(float32(f)), 'g', -1, 32)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case record.Decimal:
		switch x := v.(type) {
		case string:
			return canonDecimal(x)
		case fmt.Stringer:
			return canonDecimal(x.String())
		}
	case record.Bytes:
		switch x := v.(type) {
		case []byte:
			return `\x` + hex.EncodeToString(x)
		case string:
			if strings.HasPrefix(x, `\x`) {
				return strings.ToLower(x)
			}
			return `\x` + hex.EncodeToString([]byte(x))
		}
	case record.Date:
		switch x := v.(type) {
		case time.Time:
			return x.Format("2006-01-02")
		case string:
			return x
		}
	case record.Time:
		if s, ok := v.(string); ok {
			if strings.Contains(s, ".") {
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			}
			return s
		}
	case record.Timestamp:
		switch x := v.(type) {
		case time.Time:
			return x.Format("2006-01-02 15:04:05.999999")
		case string:
			if t, err := time.Parse("2006-01-02 15:04:05.999999999", x); err == nil {
				return t.Format("2006-01-02 15:04:05.999999")
			}
			return x
		}
	case record.TimestampTZ:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format("2006-01-02 15:04:05.999999Z")
		case string:
			for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano} {
				if t, err := time.Parse(layout, x); err == nil {
					return t.UTC().Format("2006-01-02 15:04:05.999999Z")
				}
			}
			return x
		}
	case record.JSON:
		var raw []byte
		switch x := v.(type) {
		case string:
			raw = []byte(x)
		case []byte:
			raw = x
		default:
			raw, _ = json.Marshal(x)
		}
		var doc any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return "?" + string(raw)
		}
		out, _ := json.Marshal(doc)
		return string(out)
	case record.UUID:
		switch x := v.(type) {
		case string:
			return strings.ToLower(x)
		case [16]byte:
			h := hex.EncodeToString(x[:])
			return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		}
	case record.Bit:
		switch x := v.(type) {
		case uint64:
			s := strconv.FormatUint(x, 2)
			if len(s) < c.Bits {
				s = strings.Repeat("0", c.Bits-len(s)) + s
			}
			return s
		case string:
			return x
		}
	default: // Text, Enum, Set
		switch x := v.(type) {
		case string:
			return x
		case []byte:
			return string(x)
		}
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// canonDecimal normalises decimal text: no sign on zero, no leading zeros,
// no trailing fractional zeros ("-0.00" → "0", "012.50" → "12.5").
func canonDecimal(s string) string {
	s = strings.TrimSpace(s)
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "?" + s
	}
	if r.IsInt() {
		return r.Num().String()
	}
	// Exact: decimal input has no more fractional digits than it shows.
	prec := 40
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > prec {
		prec = len(s) - i - 1
	}
	out := r.FloatString(prec)
	out = strings.TrimRight(out, "0")
	return strings.TrimSuffix(out, ".")
}

package feedverify

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/verify"
)

// Canonical returns the canonical text of v as a value of column c, the
// way package verify encodes it, whatever representation v arrives in:
// the record Go type PostgreSQL gives (record.Type's list), the text a
// Redis hash holds ("42", "1.5", "2024-01-02T03:04:05Z", "true"), or what
// JSON decoding gives for an Elasticsearch document or a Redis json value
// (float64 or json.Number, string, bool, map[string]any, []any). null is
// true for SQL NULL (nil); an absent field counts as NULL too.
//
// Two values compare equal exactly when they denote the same value of c:
// numeric 1.50 and JSON 1.5, a timestamptz and its RFC 3339 text in any
// zone, an integer and its decimal text. A representation that cannot be
// read as c's type (text "abc" in an int column) keeps its own text, so it
// differs from every proper value.
func Canonical(c record.Column, v any) (text string, null bool) {
	if v == nil {
		return "", true
	}
	return verify.Canonical(c, normalize(c, v)), false
}

// normalize turns v into the record Go type of c.Type when it can.
func normalize(c record.Column, v any) any {
	switch c.Type {
	case record.Bool:
		switch x := v.(type) {
		case string:
			switch strings.ToLower(x) {
			case "t", "true", "1", "y", "yes", "on":
				return true
			case "f", "false", "0", "n", "no", "off":
				return false
			}
		case float64:
			return x != 0
		case json.Number:
			return x.String() != "0"
		}
	case record.Int, record.Year:
		switch x := v.(type) {
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n
			}
			if f, err := strconv.ParseFloat(x, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f)
			}
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n
			}
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x)
			}
		case int32:
			return int64(x)
		case int16:
			return int64(x)
		}
	case record.Uint, record.Bit:
		switch x := v.(type) {
		case string:
			if n, err := strconv.ParseUint(strings.TrimSpace(x), 10, 64); err == nil {
				return n
			}
		case json.Number:
			if n, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
				return n
			}
		case float64:
			if x >= 0 && x == math.Trunc(x) {
				return uint64(x)
			}
		}
	case record.Float:
		switch x := v.(type) {
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f
			}
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return f
			}
		case int64:
			return float64(x)
		}
	case record.Decimal:
		switch x := v.(type) {
		case json.Number:
			return x.String()
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case int64:
			return strconv.FormatInt(x, 10)
		case int:
			return strconv.Itoa(x)
		}
	case record.Bytes:
		if s, ok := v.(string); ok {
			// Redis and the JSON encodings store bytes as their text.
			return []byte(s)
		}
	case record.Date:
		if s, ok := v.(string); ok {
			if t, ok := parseTime(s); ok {
				return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			}
		}
		if t, ok := v.(time.Time); ok {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		}
	case record.Timestamp, record.TimestampTZ:
		if s, ok := v.(string); ok {
			if t, ok := parseTime(s); ok {
				return t
			}
		}
	case record.JSON:
		switch x := v.(type) {
		case string:
			return x
		case []byte:
			return string(x)
		default:
			// A decoded JSON value (an ES object field, a Redis json
			// member, pgx's decoding of json/jsonb).
			if b, err := json.Marshal(x); err == nil {
				return string(b)
			}
		}
	case record.UUID:
		switch x := v.(type) {
		case [16]byte:
			return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
		case string:
			return strings.ToLower(x)
		}
	case record.Time:
		if s, ok := v.(string); ok {
			return s
		}
	}
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case float64:
		if c.Type == record.Text || c.Type == record.Unknown {
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
	case []byte:
		if c.Type != record.Bytes {
			return string(x)
		}
	case map[string]any, []any:
		if b, err := json.Marshal(x); err == nil {
			return verify.CanonicalJSON(string(b))
		}
	}
	return v
}

// parseTime reads the timestamp texts the stores produce: RFC 3339 with
// or without fraction and zone ("…Z", "…+02:00", none = UTC) and
// PostgreSQL's "2006-01-02 15:04:05.999999[-07]", or a bare date.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// columnOf guesses a column for a field PostgreSQL did not describe,
// from the Go type of its value.
func columnOf(name string, v any) record.Column {
	c := record.Column{Name: name, Type: record.Text}
	switch v.(type) {
	case bool:
		c.Type = record.Bool
	case int64, int32, int16, int:
		c.Type = record.Int
	case float64, float32:
		c.Type, c.Bits = record.Float, 64
	case time.Time:
		c.Type = record.TimestampTZ
	case []byte:
		c.Type = record.Bytes
	case map[string]any, []any:
		c.Type = record.JSON
	}
	return c
}

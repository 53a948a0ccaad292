package elasticsearch

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
)

// maxIDBytes is Elasticsearch's limit on an _id.
const maxIDBytes = 512

// appendItem appends the bulk lines of d (action and metadata, then the
// source for an index) to dst. A document that cannot be written is
// reported as an error naming why; dst is then returned unchanged.
func (t *Target) appendItem(dst []byte, d *doc.Doc, keys []string) ([]byte, error) {
	if d.ID == "" {
		return dst, fmt.Errorf("empty document ID")
	}
	if len(d.ID) > maxIDBytes {
		return dst, fmt.Errorf("document ID is %d bytes long, Elasticsearch allows %d", len(d.ID), maxIDBytes)
	}
	if !utf8.ValidString(d.ID) {
		return dst, fmt.Errorf("document ID is not valid UTF-8")
	}
	if d.Version > math.MaxInt64 {
		return dst, fmt.Errorf("version %d is beyond Elasticsearch's largest version (2^63-1)", d.Version)
	}
	start := len(dst)
	if d.Delete {
		dst = append(dst, `{"delete":{"_id":`...)
	} else {
		dst = append(dst, `{"index":{"_id":`...)
	}
	dst = appendString(dst, d.ID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendUint(dst, d.Version, 10)
	dst = append(dst, `,"version_type":"external_gte"}}`+"\n"...)
	if d.Delete {
		return dst, nil
	}
	dst = append(dst, `{"`+IDField+`":`...)
	dst = appendString(dst, d.ID)
	keys = keys[:0]
	for k := range d.Fields {
		if k != IDField {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var err error
	for _, k := range keys {
		if !utf8.ValidString(k) {
			return dst[:start], fmt.Errorf("field name %q is not valid UTF-8", k)
		}
		dst = append(dst, ',')
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if dst, err = t.appendValue(dst, t.types[k], d.Fields[k]); err != nil {
			return dst[:start], fmt.Errorf("field %s: %w", k, err)
		}
	}
	dst = append(dst, "}\n"...)
	return dst, nil
}

// appendValue appends v as JSON, by the column's logical type when known
// (record.Unknown otherwise: by v's Go type).
func (t *Target) appendValue(dst []byte, typ record.Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case record.Invalid:
		return dst, fmt.Errorf("the source value has no faithful representation: %s", x.Reason)
	case string:
		switch typ {
		case record.JSON:
			if !json.Valid([]byte(x)) {
				return dst, fmt.Errorf("not valid JSON")
			}
			return append(dst, x...), nil
		case record.Decimal:
			if isJSONNumber(x) {
				return append(dst, x...), nil
			}
		}
		if !utf8.ValidString(x) {
			return dst, fmt.Errorf("text is not valid UTF-8")
		}
		return appendString(dst, x), nil
	case json.RawMessage:
		if !json.Valid(x) {
			return dst, fmt.Errorf("not valid JSON")
		}
		return append(dst, x...), nil
	case []byte:
		if typ == record.JSON {
			if !json.Valid(x) {
				return dst, fmt.Errorf("not valid JSON")
			}
			return append(dst, x...), nil
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"'), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case float64:
		return appendFloat(dst, x, 64)
	case float32:
		return appendFloat(dst, float64(x), 32)
	case time.Time:
		dst = append(dst, '"')
		if typ == record.Date {
			dst = x.AppendFormat(dst, time.DateOnly)
		} else {
			dst = x.UTC().AppendFormat(dst, time.RFC3339Nano)
		}
		return append(dst, '"'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%v is not a finite number (JSON and Elasticsearch have no NaN or infinity)", f)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits), nil
}

// isJSONNumber reports whether s is a number in JSON syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (s must be valid UTF-8).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

package dualread

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
)

// coerce converts the ID values an application passes (often strings, from
// a URL) to the Go types of the old store's key columns (see record.Type).
func (r *Reader) coerce(id record.Key) (record.Key, error) {
	if len(id) != len(r.keyCols) {
		return nil, &IDError{Entity: r.entity, Msg: fmt.Sprintf("want %d ID values (%s), got %d", len(r.keyCols), strings.Join(r.ent.Key, ", "), len(id))}
	}
	out := make(record.Key, len(id))
	for i, v := range id {
		c := r.keyCols[i]
		x, err := coerceValue(c, v)
		if err != nil {
			return nil, &IDError{Entity: r.entity, Msg: fmt.Sprintf("%s: %v", c.Name, err)}
		}
		out[i] = x
	}
	return out, nil
}

// IDError says an ID value does not fit its key column.
type IDError struct {
	Entity string
	Msg    string
}

func (e *IDError) Error() string { return fmt.Sprintf("entity %s: bad ID: %s", e.Entity, e.Msg) }

func coerceValue(c record.Column, v any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("an ID value cannot be null")
	}
	switch x := v.(type) {
	case int:
		v = int64(x)
	case int32:
		v = int64(x)
	case uint32:
		v = uint64(x)
	}
	s, isString := v.(string)
	switch c.Type {
	case record.Int, record.Year:
		switch x := v.(type) {
		case int64:
			return x, nil
		case uint64:
			return int64(x), nil
		}
		if isString {
			return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		}
	case record.Uint, record.Bit:
		switch x := v.(type) {
		case uint64:
			return x, nil
		case int64:
			if x >= 0 {
				return uint64(x), nil
			}
		}
		if isString {
			return strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		}
	case record.Float:
		if f, ok := v.(float64); ok {
			return f, nil
		}
		if isString {
			return strconv.ParseFloat(s, 64)
		}
	case record.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		if isString {
			return strconv.ParseBool(s)
		}
	case record.Date, record.Timestamp, record.TimestampTZ:
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
		if isString {
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999", "2006-01-02"} {
				if t, err := time.Parse(layout, s); err == nil {
					if c.Type != record.TimestampTZ {
						t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
					}
					return t, nil
				}
			}
			return nil, fmt.Errorf("%q is not a date or time", s)
		}
	case record.Bytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	default: // text-like: Text, Decimal, Enum, Set, UUID, JSON, Time
		switch x := v.(type) {
		case string:
			return x, nil
		case int64, uint64, float64:
			return fmt.Sprint(x), nil
		}
	}
	return nil, fmt.Errorf("%v (%T) does not fit a %s column", v, v, c.Type)
}

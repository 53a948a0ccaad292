package record

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// A Key is the tuple of key-column values of one row (or a position in the
// key space). EncodeKey and DecodeKey turn it into JSON text that keeps the
// Go types, so a checkpoint read back from the ledger compares exactly like
// the value the source produced.
type Key = []any

// EncodeKey encodes k as a JSON array of tagged strings.
func EncodeKey(k Key) ([]byte, error) {
	if k == nil {
		return []byte("null"), nil
	}
	parts := make([]string, len(k))
	for i, v := range k {
		switch x := v.(type) {
		case nil:
			parts[i] = "n:"
		case int64:
			parts[i] = "i:" + strconv.FormatInt(x, 10)
		case int:
			parts[i] = "i:" + strconv.Itoa(x)
		case int32:
			parts[i] = "i:" + strconv.FormatInt(int64(x), 10)
		case uint64:
			parts[i] = "u:" + strconv.FormatUint(x, 10)
		case float64:
			parts[i] = "f:" + strconv.FormatFloat(x, 'g', -1, 64)
		case string:
			parts[i] = "s:" + x
		case bool:
			parts[i] = "b:" + strconv.FormatBool(x)
		case []byte:
			parts[i] = "x:" + base64.StdEncoding.EncodeToString(x)
		case time.Time:
			parts[i] = "t:" + x.Format(time.RFC3339Nano)
		default:
			return nil, fmt.Errorf("encode key: unsupported value %T", v)
		}
	}
	return json.Marshal(parts)
}

// DecodeKey is the inverse of EncodeKey. A JSON null decodes to a nil Key.
func DecodeKey(b []byte) (Key, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil {
		return nil, fmt.Errorf("decode key: %w", err)
	}
	k := make(Key, len(parts))
	for i, p := range parts {
		if len(p) < 2 || p[1] != ':' {
			return nil, fmt.Errorf("decode key: bad part %q", p)
		}
		s := p[2:]
		var err error
		switch p[0] {
		case 'n':
			k[i] = nil
		case 'i':
			k[i], err = strconv.ParseInt(s, 10, 64)
		case 'u':
			k[i], err = strconv.ParseUint(s, 10, 64)
		case 'f':
			k[i], err = strconv.ParseFloat(s, 64)
		case 's':
			k[i] = s
		case 'b':
			k[i], err = strconv.ParseBool(s)
		case 'x':
			k[i], err = base64.StdEncoding.DecodeString(s)
		case 't':
			k[i], err = time.Parse(time.RFC3339Nano, s)
		default:
			return nil, fmt.Errorf("decode key: unknown tag in %q", p)
		}
		if err != nil {
			return nil, fmt.Errorf("decode key part %d: %w", i, err)
		}
	}
	return k, nil
}

package doc

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ID renders a document ID from the values of a feed's id columns: each
// value as text (integers in decimal, times in RFC 3339 UTC, bytes as
// they are, NULL as empty), joined with ':', with ':' and '\' inside a
// value escaped by '\'. The feed engine writes IDs and feed verify
// recomputes them with this one rule.
func ID(values []any) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte(':')
		}
		s := IDPart(v)
		if strings.ContainsAny(s, `:\`) {
			s = idEscaper.Replace(s)
		}
		b.WriteString(s)
	}
	return b.String()
}

var idEscaper = strings.NewReplacer(`\`, `\\`, `:`, `\:`)

// IDPart is the text of one id value inside an ID, before escaping; the
// Redis target writes hash fields and key parts with the same rule.
func IDPart(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

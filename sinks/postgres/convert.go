package postgres

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/transitdb/transit/record"
)

// A converter checks one non-nil value of a batch column against the
// target column and returns what pgx encodes in binary COPY, or a reason
// to reject the row. It must not keep v.
type converter func(v any) (out any, reason string)

var emptyBytes = []byte{}

// colConv is the compiled conversion of one batch column.
type colConv struct {
	name    string
	notNull bool
	conv    converter
	// same is true when conv returns its argument unchanged whenever it
	// accepts it, so a row made only of such columns needs no copy.
	same bool
}

func intRange(typname string) (lo, hi int64, ok bool) {
	switch typname {
	case "int2":
		return math.MinInt16, math.MaxInt16, true
	case "int4":
		return math.MinInt32, math.MaxInt32, true
	case "int8":
		return math.MinInt64, math.MaxInt64, true
	}
	return 0, 0, false
}

func isTextType(typname string) bool {
	switch typname {
	case "text", "varchar", "bpchar", "name", "citext":
		return true
	}
	return false
}

func typeErr(src record.Column, v any) string {
	return fmt.Sprintf("value of Go type %T does not fit logical type %s", v, src.Type)
}

// checkText validates a string for a text-like target.
func checkText(s string, maxChars int) string {
	if !utf8.ValidString(s) {
		return "text is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "text holds a NUL byte, which PostgreSQL cannot store"
	}
	if maxChars > 0 && len(s) > maxChars {
		if n := utf8.RuneCountInString(s); n > maxChars {
			return fmt.Sprintf("text of %d characters is longer than the column's %d", n, maxChars)
		}
	}
	return ""
}

// newConverter compiles the conversion of values of src into tgt: one
// function per family of target types.
func newConverter(src record.Column, tgt targetCol) colConv {
	cc := colConv{name: src.Name, notNull: tgt.notNull, same: true}
	typ := tgt.typname
	switch {
	case isTextType(typ):
		textConv(&cc, src, tgt)
	case typ == "int2" || typ == "int4" || typ == "int8":
		intConv(&cc, src, tgt)
	case typ == "numeric":
		numericConv(&cc, src, tgt)
	case typ == "float4" || typ == "float8":
		floatConv(&cc, src, tgt)
	case typ == "bool":
		boolConv(&cc, src, tgt)
	case typ == "bytea":
		byteaConv(&cc, src, tgt)
	case typ == "date" || typ == "timestamp" || typ == "timestamptz":
		timeConv(&cc, src, tgt)
	case typ == "time":
		timeOfDayConv(&cc, src, tgt)
	case typ == "json" || typ == "jsonb":
		jsonConv(&cc, src, tgt)
	case typ == "uuid":
		uuidConv(&cc, src, tgt)
	case typ == "bit" || typ == "varbit":
		bitConv(&cc, src, tgt)
	default:
		otherConv(&cc, src, tgt)
	}
	return cc
}

// enumMembers is the set of src.Values, for checkMembers.
func enumMembers(src record.Column) map[string]bool {
	members := map[string]bool{}
	for _, v := range src.Values {
		members[v] = true
	}
	return members
}

// checkMembers says why s, a value of an enum or set column of type t, is
// not made of members ("" when it is, or when members is empty).
func checkMembers(t record.Type, members map[string]bool, s string) string {
	switch {
	case t == record.Enum && len(members) > 0:
		if !members[s] {
			return fmt.Sprintf("%q is not a member of the enum", s)
		}
	case t == record.Set && len(members) > 0 && s != "":
		for _, m := range strings.Split(s, ",") {
			if !members[m] {
				return fmt.Sprintf("%q is not a member of the set", m)
			}
		}
	}
	return ""
}

// textConv compiles the conversion into text, varchar, bpchar, name, citext.
func textConv(cc *colConv, src record.Column, tgt targetCol) {
	maxChars := tgt.maxChars()
	members := enumMembers(src)
	switch src.Type {
	case record.Text, record.Enum, record.Set, record.JSON, record.UUID, record.Decimal, record.Time:
		cc.conv = func(v any) (any, string) {
			s, ok := v.(string)
			if !ok {
				return nil, typeErr(src, v)
			}
			if r := checkText(s, maxChars); r != "" {
				return nil, r
			}
			return v, checkMembers(src.Type, members, s)
		}
	default:
		cc.same = false
		cc.conv = func(v any) (any, string) {
			s, r := toText(src, v)
			if r != "" {
				return nil, r
			}
			if r := checkText(s, maxChars); r != "" {
				return nil, r
			}
			return s, ""
		}
	}
}

// intConv compiles the conversion into int2, int4, int8.
func intConv(cc *colConv, src record.Column, tgt targetCol) {
	typ := tgt.typname
	lo, hi, _ := intRange(typ)
	cc.conv = func(v any) (any, string) {
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
			if n < lo || n > hi {
				return nil, fmt.Sprintf("%d is out of range for %s", n, typ)
			}
			return v, ""
		case uint64:
			if x > uint64(hi) {
				return nil, fmt.Sprintf("%d is out of range for %s", x, typ)
			}
			return int64(x), ""
		case bool:
			if x {
				return int64(1), ""
			}
			return int64(0), ""
		case string: // Decimal or Text holding an integer
			_, f, ok := decimalDigits(x)
			whole, _, _ := strings.Cut(x, ".")
			var err error
			n, err = strconv.ParseInt(whole, 10, 64)
			if !ok || f > 0 || err != nil {
				return nil, fmt.Sprintf("%q is not an integer in the range of %s", x, typ)
			}
		default:
			return nil, typeErr(src, v)
		}
		if n < lo || n > hi {
			return nil, fmt.Sprintf("%d is out of range for %s", n, typ)
		}
		return n, ""
	}
	cc.same = src.Type == record.Int || src.Type == record.Year
}

// numericConv compiles the conversion into numeric.
func numericConv(cc *colConv, src record.Column, tgt targetCol) {
	p, s, constrained := tgt.numericPS()
	fits := func(intDigits, fracDigits int) string {
		if !constrained {
			return ""
		}
		if intDigits > p-s {
			return fmt.Sprintf("%d digits before the point do not fit numeric(%d,%d)", intDigits, p, s)
		}
		if fracDigits > s {
			return fmt.Sprintf("%d digits after the point do not fit numeric(%d,%d) without rounding", fracDigits, p, s)
		}
		return ""
	}
	cc.same = src.Type == record.Int
	cc.conv = func(v any) (any, string) {
		switch x := v.(type) {
		case string:
			i, f, ok := decimalDigits(x)
			if !ok {
				return nil, fmt.Sprintf("%q is not a plain decimal number", x)
			}
			if r := fits(i, f); r != "" {
				return nil, r
			}
			return decimalText(x), ""
		case int64:
			if r := fits(digits10(absU(x)), 0); r != "" {
				return nil, r
			}
			return v, ""
		case uint64:
			if r := fits(digits10(x), 0); r != "" {
				return nil, r
			}
			if x <= math.MaxInt64 {
				return int64(x), ""
			}
			return decimalText(strconv.FormatUint(x, 10)), ""
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return v, ""
			}
			d := strconv.FormatFloat(x, 'f', -1, 64)
			i, f, _ := decimalDigits(d)
			if r := fits(i, f); r != "" {
				return nil, r
			}
			return decimalText(d), ""
		}
		return nil, typeErr(src, v)
	}
}

// floatConv compiles the conversion into float4, float8.
func floatConv(cc *colConv, src record.Column, tgt targetCol) {
	cc.same = src.Type == record.Float
	cc.conv = func(v any) (any, string) {
		switch x := v.(type) {
		case float64:
			return v, ""
		case int64:
			return float64(x), ""
		case uint64:
			return float64(x), ""
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, fmt.Sprintf("%q is not a number", x)
			}
			return f, ""
		}
		return nil, typeErr(src, v)
	}
}

// boolConv compiles the conversion into bool.
func boolConv(cc *colConv, src record.Column, tgt targetCol) {
	cc.same = src.Type == record.Bool
	cc.conv = func(v any) (any, string) {
		switch x := v.(type) {
		case bool:
			return v, ""
		case int64:
			return x != 0, ""
		case uint64:
			return x != 0, ""
		}
		return nil, typeErr(src, v)
	}
}

// byteaConv compiles the conversion into bytea.
func byteaConv(cc *colConv, src record.Column, tgt targetCol) {
	cc.conv = func(v any) (any, string) {
		switch x := v.(type) {
		case []byte:
			if x == nil {
				return emptyBytes, "" // a typed nil slice is empty bytes; NULL is an untyped nil
			}
			return v, ""
		case string:
			return []byte(x), ""
		}
		return nil, typeErr(src, v)
	}
	cc.same = false // typed nil slices are replaced
}

// timeConv compiles the conversion into date, timestamp, timestamptz.
func timeConv(cc *colConv, src record.Column, tgt targetCol) {
	typ := tgt.typname
	cc.same = true
	cc.conv = func(v any) (any, string) {
		t, ok := v.(time.Time)
		if !ok {
			return nil, typeErr(src, v)
		}
		if t.Location() == time.UTC {
			// The year's range as seconds: no calendar arithmetic.
			if s := t.Unix(); s >= minTimeUnix && s < maxTimeUnix {
				return v, ""
			}
		} else if y := t.Year(); y >= -4712 && y <= 294275 {
			return v, ""
		}
		return nil, fmt.Sprintf("%s is out of range for %s", t.Format(time.RFC3339Nano), typ)
	}
}

// timeOfDayConv compiles the conversion into time.
func timeOfDayConv(cc *colConv, src record.Column, tgt targetCol) {
	cc.same = false
	cc.conv = func(v any) (any, string) {
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(src, v)
		}
		us, r := parseTimeOfDay(s)
		if r != "" {
			return nil, r
		}
		return pgtype.Time{Microseconds: us, Valid: true}, ""
	}
}

// jsonConv compiles the conversion into json, jsonb.
func jsonConv(cc *colConv, src record.Column, tgt targetCol) {
	typ := tgt.typname
	cc.conv = func(v any) (any, string) {
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(src, v)
		}
		if !utf8.ValidString(s) {
			return nil, "JSON is not valid UTF-8"
		}
		if !json.Valid([]byte(s)) {
			return nil, "not valid JSON text"
		}
		if typ == "jsonb" && strings.Contains(s, `\u0000`) {
			return nil, `JSON holds \u0000, which jsonb cannot store`
		}
		return v, ""
	}
}

// uuidConv compiles the conversion into uuid.
func uuidConv(cc *colConv, src record.Column, tgt targetCol) {
	cc.same = false
	cc.conv = func(v any) (any, string) {
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(src, v)
		}
		u, ok := parseUUID(s)
		if !ok {
			return nil, fmt.Sprintf("%q is not a UUID", s)
		}
		return pgtype.UUID{Bytes: u, Valid: true}, ""
	}
}

// bitConv compiles the conversion into bit, varbit.
func bitConv(cc *colConv, src record.Column, tgt targetCol) {
	n := tgt.bitLen()
	if n == 0 || n > 64 {
		n = src.Bits
	}
	if n <= 0 || n > 64 {
		n = 64
	}
	cc.same = false
	cc.conv = func(v any) (any, string) {
		x, ok := v.(uint64)
		if !ok {
			if i, isInt := v.(int64); isInt && i >= 0 {
				x, ok = uint64(i), true
			}
		}
		if !ok {
			return nil, typeErr(src, v)
		}
		if n < 64 && x>>uint(n) != 0 {
			return nil, fmt.Sprintf("%d does not fit in %d bits", x, n)
		}
		b := make([]byte, 8)
		for i := range 8 {
			b[i] = byte((x << uint(64-n)) >> uint(56-8*i))
		}
		return pgtype.Bits{Bytes: b[:(n+7)/8], Len: int32(n), Valid: true}, ""
	}
}

// otherConv compiles the conversion into a type transit does not know (a
// TargetType such as inet or a domain): it hands the value to pgx, strings
// parsed as the type's text.
func otherConv(cc *colConv, _ record.Column, _ targetCol) {
	cc.conv = func(v any) (any, string) {
		if s, ok := v.(string); ok {
			if r := checkText(s, 0); r != "" {
				return nil, r
			}
		}
		return v, ""
	}
}

func absU(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}

func digits10(x uint64) int {
	if x == 0 {
		return 0
	}
	n := 0
	for ; x > 0; x /= 10 {
		n++
	}
	return n
}

// toText renders a non-string logical value for a text target.
func toText(src record.Column, v any) (string, string) {
	switch x := v.(type) {
	case string:
		return x, ""
	case bool:
		return strconv.FormatBool(x), ""
	case int64:
		return strconv.FormatInt(x, 10), ""
	case uint64:
		if src.Type == record.Bit && src.Bits > 0 && src.Bits <= 64 {
			s := strconv.FormatUint(x, 2)
			return strings.Repeat("0", max(0, src.Bits-len(s))) + s, ""
		}
		return strconv.FormatUint(x, 10), ""
	case float64:
		bits := 64
		if src.Bits == 32 {
			bits = 32
		}
		return strconv.FormatFloat(x, 'g', -1, bits), ""
	case []byte:
		if !utf8.Valid(x) {
			return "", "bytes are not valid UTF-8 text"
		}
		return string(x), ""
	case time.Time:
		switch src.Type {
		case record.Date:
			return x.Format("2006-01-02"), ""
		case record.TimestampTZ:
			return x.UTC().Format("2006-01-02 15:04:05.999999Z07:00"), ""
		}
		return x.Format("2006-01-02 15:04:05.999999"), ""
	}
	return "", typeErr(src, v)
}

// parseTimeOfDay reads "15:04:05" or "15:04:05.999999" into microseconds
// since midnight; 24:00:00 is allowed, as in PostgreSQL.
func parseTimeOfDay(s string) (int64, string) {
	bad := fmt.Sprintf("%q is not a time of day (HH:MM:SS[.ffffff]) PostgreSQL can store", s)
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, bad
	}
	num := func(t string) (int64, bool) {
		var n int64
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return 0, false
			}
			n = n*10 + int64(t[i]-'0')
		}
		return n, len(t) > 0
	}
	h, ok1 := num(s[0:2])
	m, ok2 := num(s[3:5])
	sec, ok3 := num(s[6:8])
	if !ok1 || !ok2 || !ok3 || m > 59 || sec > 59 {
		return 0, bad
	}
	var us int64
	if len(s) > 8 {
		if s[8] != '.' || len(s) > 15 {
			return 0, bad
		}
		f, ok := num(s[9:])
		if !ok {
			return 0, bad
		}
		for i := len(s) - 9; i < 6; i++ {
			f *= 10
		}
		us = f
	}
	total := ((h*60+m)*60+sec)*1_000_000 + us
	if total > 24*3600*1_000_000 {
		return 0, bad
	}
	return total, ""
}

func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		s = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(s)); err != nil {
		return u, false
	}
	return u, true
}

// The range of years PostgreSQL's date and timestamp types hold
// (-4712 to 294275), as Unix seconds in UTC.
var (
	minTimeUnix = time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxTimeUnix = time.Date(294276, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

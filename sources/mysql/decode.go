package mysql

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/transitdb/transit/record"
)

// kind says how to decode one column's wire value.
type kind uint8

const (
	kText kind = iota
	kInt
	kUint
	kBool
	kYear
	kFloat
	kDecimal
	kBytes
	kDate
	kDateTime
	kTime
	kEnum
	kBit
)

func kindOf(c *record.Column) kind {
	switch c.Type {
	case record.Int:
		return kInt
	case record.Uint:
		return kUint
	case record.Bool:
		return kBool
	case record.Year:
		return kYear
	case record.Float:
		return kFloat
	case record.Decimal:
		return kDecimal
	case record.Bytes:
		return kBytes
	case record.Date:
		return kDate
	case record.Timestamp, record.TimestampTZ:
		return kDateTime
	case record.Time:
		return kTime
	case record.Enum:
		return kEnum
	case record.Bit:
		return kBit
	}
	return kText // Text, JSON, Set, UUID and the rest
}

// column is what decoding needs to know about one selected column.
type column struct {
	kind      kind
	emptyEnum bool // '' is a declared enum member
	float32   bool // FLOAT: selected as DOUBLE (see wrap), rounded back to float32
}

func newColumn(c *record.Column) column {
	col := column{kind: kindOf(c), float32: c.Type == record.Float && c.Bits == 32}
	for _, v := range c.Values {
		if v == "" {
			col.emptyEnum = true
		}
	}
	return col
}

// decode turns one value from the driver's text-protocol row (nil, int64,
// uint64, float32, float64 or []byte pointing into the read buffer) into
// the record Go type of the column. []byte inputs are copied.
func (c column) decode(v any, a *arena) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		switch c.kind {
		case kInt, kYear:
			return v // already boxed: no allocation
		case kUint:
			return uint64(x)
		case kBool:
			switch x {
			case 0:
				return false
			case 1:
				return true
			}
			return record.Invalid{Raw: strconv.FormatInt(x, 10), Reason: "not a boolean (tinyint(1) holds " + strconv.FormatInt(x, 10) + ")"}
		case kFloat:
			return float64(x)
		case kDecimal, kText:
			return strconv.FormatInt(x, 10)
		case kDate:
			return dateNum(x) // selected as DATE + 0 (see wrap)
		}
		return v
	case uint64:
		if c.kind == kInt {
			return int64(x)
		}
		return v
	case float64:
		return v
	case float32:
		// FLOAT: keep the shortest decimal the server would print, as a
		// float64 (1.1, not 1.100000023841858).
		var buf [32]byte
		f, _ := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], float64(x), 'g', -1, 32)), 64)
		return f
	case []byte:
		return c.decodeBytes(x, a)
	}
	return v
}

// arena hands out strings carved from shared chunks, so the short text
// values of a batch cost one allocation per chunk rather than one each.
// A chunk is only ever appended to: the bytes behind a string handed out
// are never written again, which is what makes unsafe.String sound here.
// A string kept by a consumer keeps its whole chunk alive (arenaChunk).
type arena struct{ buf []byte }

const (
	arenaChunk = 64 << 10
	arenaMax   = 512 // longer values get their own allocation
)

func (a *arena) str(b []byte) string {
	if a == nil || len(b) > arenaMax {
		return string(b)
	}
	if len(b) == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

func (c column) decodeBytes(b []byte, a *arena) any {
	switch c.kind {
	case kBytes:
		return append(make([]byte, 0, len(b)), b...)
	case kDecimal:
		return a.str(b)
	case kDate:
		return decodeDate(b)
	case kDateTime:
		return decodeDateTime(b)
	case kTime:
		return decodeTime(b)
	case kBit:
		var u uint64
		for _, x := range b {
			u = u<<8 | uint64(x)
		}
		return u
	case kInt:
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return n
		}
	case kUint:
		if n, err := strconv.ParseUint(string(b), 10, 64); err == nil {
			return n
		}
	case kYear:
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return n
		}
	case kFloat:
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			if c.float32 {
				return float64(float32(f))
			}
			return f
		}
	case kBool:
		switch string(b) {
		case "0":
			return false
		case "1":
			return true
		}
		return record.Invalid{Raw: string(b), Reason: "not a boolean"}
	case kEnum:
		if len(b) == 0 && !c.emptyEnum {
			return record.Invalid{Raw: "", Reason: "empty enum error value"}
		}
	}
	if !utf8.Valid(b) {
		return record.Invalid{Raw: string(b), Reason: "invalid UTF-8"}
	}
	return a.str(b)
}

// num parses the decimal digits of b; ok is false on a non-digit.
func num(b []byte) (n int, ok bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

func zeroDate(b []byte) any { return record.Invalid{Raw: string(b), Reason: "zero date"} }

func badDate(b []byte) any { return record.Invalid{Raw: string(b), Reason: "unparsable date"} }

func notADay(b []byte) any { return record.Invalid{Raw: string(b), Reason: "not a calendar date"} }

// decodeDate parses "YYYY-MM-DD".
func decodeDate(b []byte) any {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return badDate(b)
	}
	y, ok1 := num(b[0:4])
	m, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	if !ok1 || !ok2 || !ok3 {
		return badDate(b)
	}
	if m == 0 || d == 0 {
		return zeroDate(b)
	}
	if m > 12 || d > 31 {
		return badDate(b)
	}
	if !validDate(y, m, d) {
		return notADay(b)
	}
	return civilDate(y, m, d)
}

// dateNum decodes a DATE selected as DATE + 0: the integer YYYYMMDD, 0 for
// the zero date.
func dateNum(n int64) any {
	if n < 0 || n > 99991231 {
		return record.Invalid{Raw: strconv.FormatInt(n, 10), Reason: "unparsable date"}
	}
	y, m, d := int(n/10000), int(n/100%100), int(n%100)
	if m == 0 || d == 0 || !validDate(y, m, d) {
		var buf [10]byte
		raw := fmt.Appendf(buf[:0], "%04d-%02d-%02d", y, m, d)
		if m == 0 || d == 0 {
			return zeroDate(raw)
		}
		if m > 12 || d > 31 {
			return badDate(raw)
		}
		return notADay(raw)
	}
	return civilDate(y, m, d)
}

// validDate reports whether y-m-d is a day of the calendar (MySQL with
// ALLOW_INVALID_DATES stores 2020-02-31, which time.Date would silently
// move to March 2).
func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// civilDate is time.Date(y, m, d, 0, 0, 0, 0, time.UTC) for a valid date,
// without time.Date's normalising (days from the civil calendar, after
// Howard Hinnant's days_from_civil).
func civilDate(y, m, d int) time.Time {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := int64(era)*146097 + int64(doe) - 719468
	return time.Unix(days*86400, 0).UTC()
}

// decodeDateTime parses "YYYY-MM-DD HH:MM:SS[.ffffff]" as a UTC wall clock
// (the session time zone is UTC, so TIMESTAMP values are instants too).
func decodeDateTime(b []byte) any {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		if len(b) == 10 {
			return decodeDate(b)
		}
		return badDate(b)
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return badDate(b)
	}
	if mo == 0 || d == 0 {
		return zeroDate(b)
	}
	if mo > 12 || d > 31 || h > 23 || mi > 59 || s > 59 {
		return badDate(b)
	}
	if !validDate(y, mo, d) {
		return notADay(b)
	}
	ns := 0
	if len(b) > 19 {
		if b[19] != '.' || len(b) > 29 {
			return badDate(b)
		}
		f, ok := num(b[20:])
		if !ok {
			return badDate(b)
		}
		for i := len(b) - 20; i < 9; i++ {
			f *= 10
		}
		ns = f
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
}

// decodeTime checks a TIME value is a time of day ("15:04:05[.ffffff]");
// MySQL TIME is really a duration (-838:59:59 to 838:59:59).
func decodeTime(b []byte) any {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return record.Invalid{Raw: string(b), Reason: "time out of day range"}
	}
	h, ok1 := num(b[0:2])
	m, ok2 := num(b[3:5])
	s, ok3 := num(b[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 59 {
		return record.Invalid{Raw: string(b), Reason: "time out of day range"}
	}
	if len(b) > 8 {
		if _, ok := num(b[9:]); b[8] != '.' || !ok {
			return record.Invalid{Raw: string(b), Reason: "time out of day range"}
		}
	}
	return string(b)
}

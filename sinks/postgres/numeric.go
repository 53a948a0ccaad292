package postgres

import (
	"encoding/binary"

	"github.com/jackc/pgx/v5/pgtype"
)

// decimalText is a plain decimal string ("-12.50", already checked by
// validDecimal) that the numeric codec registered on every connection
// writes in PostgreSQL's binary numeric format without allocating.
type decimalText string

// numericCodec is pgx's numeric codec plus a binary encoder for
// decimalText.
type numericCodec struct{ pgtype.NumericCodec }

func (c numericCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(decimalText); ok {
		if format == pgtype.BinaryFormatCode {
			return encodePlanDecimalText{}
		}
		return encodePlanDecimalTextText{}
	}
	return c.NumericCodec.PlanEncode(m, oid, format, value)
}

type encodePlanDecimalText struct{}

func (encodePlanDecimalText) Encode(value any, buf []byte) ([]byte, error) {
	return appendNumericBinary(buf, string(value.(decimalText))), nil
}

type encodePlanDecimalTextText struct{}

func (encodePlanDecimalTextText) Encode(value any, buf []byte) ([]byte, error) {
	return append(buf, string(value.(decimalText))...), nil
}

// registerCodecs installs transit's codecs on a connection's type map.
func registerCodecs(m *pgtype.Map) {
	if t, ok := m.TypeForOID(pgtype.NumericOID); ok {
		if _, done := t.Codec.(numericCodec); done {
			return
		}
	}
	m.RegisterType(&pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: numericCodec{}})
}

// appendNumericBinary appends the binary numeric form of the decimal s
// (optional sign, digits, optional point and digits; validated earlier):
// int16 ndigits, int16 weight, uint16 sign, uint16 dscale, then ndigits
// base-10000 digits, most significant first.
func appendNumericBinary(buf []byte, s string) []byte {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			break
		}
	}
	dscale := len(frac)
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	// Digit i of the virtual string intPart+frac, where intPart is padded on
	// the left to a multiple of 4 digits and frac on the right.
	lead := (4 - len(intPart)%4) % 4
	total := lead + len(intPart) + len(frac)
	total += (4 - total%4) % 4
	digitAt := func(i int) int {
		i -= lead
		switch {
		case i < 0:
			return 0
		case i < len(intPart):
			return int(intPart[i] - '0')
		case i-len(intPart) < len(frac):
			return int(frac[i-len(intPart)] - '0')
		}
		return 0
	}
	group := func(g int) uint16 {
		return uint16(digitAt(4*g)*1000 + digitAt(4*g+1)*100 + digitAt(4*g+2)*10 + digitAt(4*g+3))
	}
	ngroups := total / 4
	weight := (lead+len(intPart))/4 - 1
	first, last := 0, ngroups-1
	for first <= last && group(first) == 0 {
		first++
	}
	for last >= first && group(last) == 0 {
		last--
	}
	ndigits := 0
	if first <= last {
		ndigits = last - first + 1
		weight -= first
	} else {
		weight, neg = 0, false
	}
	sign := uint16(0)
	if neg {
		sign = 0x4000
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(ndigits))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for g := first; g <= last; g++ {
		buf = binary.BigEndian.AppendUint16(buf, group(g))
	}
	return buf
}

// decimalDigits checks that s is a plain decimal and returns the number of
// significant digits before the point and after it (trailing zeros of the
// fraction are not significant: they are not lost in numeric(p,s)).
func decimalDigits(s string) (intDigits, fracDigits int, ok bool) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" || s == "." {
		return 0, 0, false
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
		case s[i] == '.' && dot < 0:
			dot = i
		default:
			return 0, 0, false
		}
	}
	intPart, frac := s, ""
	if dot >= 0 {
		intPart, frac = s[:dot], s[dot+1:]
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	// PostgreSQL limits: 131072 digits before the point, 16383 after.
	if len(intPart) > 131072 || (dot >= 0 && len(s)-dot-1 > 16383) {
		return 0, 0, false
	}
	return len(intPart), len(frac), true
}

package sinktest

import (
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

func TestCanon(t *testing.T) {
	t.Parallel()
	same := []struct {
		col  record.Column
		a, b any
	}{
		{record.Column{Type: record.Decimal}, "-0.00", "0"},
		{record.Column{Type: record.Decimal}, "012.50", "12.5"},
		{record.Column{Type: record.Decimal}, "123456789012345678901234567890.123", "123456789012345678901234567890.1230"},
		{record.Column{Type: record.Int}, int64(-5), "-5"},
		{record.Column{Type: record.Uint}, uint64(18446744073709551615), "18446744073709551615"},
		{record.Column{Type: record.Bool}, true, "true"},
		{record.Column{Type: record.Float, Bits: 32}, float64(float32(0.1)), "0.1"},
		{record.Column{Type: record.Bytes}, []byte{0, 255}, `\x00ff`},
		{record.Column{Type: record.Date}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01"},
		{record.Column{Type: record.Time}, "12:00:00.500000", "12:00:00.5"},
		{record.Column{Type: record.Timestamp}, time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), "1969-12-31 23:59:59.999999"},
		{record.Column{Type: record.TimestampTZ}, time.Date(2024, 1, 1, 5, 30, 0, 0, time.FixedZone("", 5*3600+1800)), "2024-01-01 00:00:00+00"},
		{record.Column{Type: record.JSON}, `{"b": 1, "a": [1.50]}`, `{"a":[1.50],"b":1}`},
		{record.Column{Type: record.UUID}, "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}},
		{record.Column{Type: record.Bit, Bits: 8}, uint64(5), "00000101"},
	}
	for _, c := range same {
		if a, b := Canon(c.col, c.a), Canon(c.col, c.b); a != b {
			t.Errorf("%s: Canon(%#v) = %q, Canon(%#v) = %q", c.col.Type, c.a, a, c.b, b)
		}
	}
	differ := []struct {
		col  record.Column
		a, b any
	}{
		{record.Column{Type: record.Text}, nil, ""},
		{record.Column{Type: record.Decimal}, "1.5", "1.05"},
		{record.Column{Type: record.Timestamp}, time.Date(2000, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{record.Column{Type: record.JSON}, `{"a":1}`, `{"a":"1"}`},
	}
	for _, c := range differ {
		if a, b := Canon(c.col, c.a), Canon(c.col, c.b); a == b {
			t.Errorf("%s: Canon(%#v) and Canon(%#v) are both %q", c.col.Type, c.a, c.b, a)
		}
	}
}

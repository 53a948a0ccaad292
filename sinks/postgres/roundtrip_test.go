package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

type roundTrip struct {
	name string
	col  record.Column
	in   any
	expr string // how to select the column; "" = the column itself
	dst  any    // pointer the value is scanned into
	want any    // what *dst must equal
}

func ts(y int, m time.Month, d, h, mi, s, us int) time.Time {
	return time.Date(y, m, d, h, mi, s, us*1000, time.UTC)
}

func roundTrips() []roundTrip {
	str := func() any { return new(string) }
	return []roundTrip{
		{"bool true", record.Column{Type: record.Bool}, true, "", new(bool), true},
		{"bool false", record.Column{Type: record.Bool}, false, "", new(bool), false},
		{"int8 min", record.Column{Type: record.Int, Bits: 8}, int64(-128), "", new(int16), int16(-128)},
		{"int16 max", record.Column{Type: record.Int, Bits: 16}, int64(math.MaxInt16), "", new(int16), int16(math.MaxInt16)},
		{"int24 min", record.Column{Type: record.Int, Bits: 24}, int64(-8388608), "", new(int32), int32(-8388608)},
		{"int32 min", record.Column{Type: record.Int, Bits: 32}, int64(math.MinInt32), "", new(int32), int32(math.MinInt32)},
		{"int64 min", record.Column{Type: record.Int, Bits: 64}, int64(math.MinInt64), "", new(int64), int64(math.MinInt64)},
		{"int64 max", record.Column{Type: record.Int, Bits: 64}, int64(math.MaxInt64), "", new(int64), int64(math.MaxInt64)},
		{"int no bits", record.Column{Type: record.Int}, int64(-1), "", new(int64), int64(-1)},
		{"uint8 max", record.Column{Type: record.Uint, Bits: 8}, uint64(math.MaxUint8), "", new(int16), int16(255)},
		{"uint16 max", record.Column{Type: record.Uint, Bits: 16}, uint64(math.MaxUint16), "", new(int32), int32(65535)},
		{"uint24 max", record.Column{Type: record.Uint, Bits: 24}, uint64(1<<24 - 1), "", new(int32), int32(1<<24 - 1)},
		{"uint32 max", record.Column{Type: record.Uint, Bits: 32}, uint64(math.MaxUint32), "", new(int64), int64(math.MaxUint32)},
		{"uint64 max", record.Column{Type: record.Uint, Bits: 64}, uint64(math.MaxUint64), "%s::text", str(), "18446744073709551615"},
		{"uint64 small", record.Column{Type: record.Uint, Bits: 64}, uint64(7), "%s::text", str(), "7"},
		{"float32", record.Column{Type: record.Float, Bits: 32}, float64(float32(1.1)), "", new(float32), float32(1.1)},
		{"float64 max", record.Column{Type: record.Float, Bits: 64}, math.MaxFloat64, "", new(float64), math.MaxFloat64},
		{"float64 tiny", record.Column{Type: record.Float, Bits: 64}, math.SmallestNonzeroFloat64, "", new(float64), math.SmallestNonzeroFloat64},
		{"float64 -inf", record.Column{Type: record.Float, Bits: 64}, math.Inf(-1), "", new(float64), math.Inf(-1)},
		{"decimal 30 digits", record.Column{Type: record.Decimal, Precision: 33, Scale: 3},
			"123456789012345678901234567890.123", "%s::text", str(), "123456789012345678901234567890.123"},
		{"decimal negative zero", record.Column{Type: record.Decimal, Precision: 5, Scale: 2}, "-0.00", "%s::text", str(), "0.00"},
		{"decimal scale padded", record.Column{Type: record.Decimal, Precision: 10, Scale: 4}, "-1.5", "%s::text", str(), "-1.5000"},
		{"decimal trailing zeros beyond scale", record.Column{Type: record.Decimal, Precision: 10, Scale: 2}, "7.25000", "%s::text", str(), "7.25"},
		{"decimal free keeps dscale", record.Column{Type: record.Decimal}, "-0.000100", "%s::text", str(), "-0.000100"},
		{"decimal free big", record.Column{Type: record.Decimal}, "+00010000000000000000.00000000000000000001", "%s::text", str(),
			"10000000000000000.00000000000000000001"},
		{"decimal integer", record.Column{Type: record.Decimal, Precision: 65}, "99999999999999999999999999999999999999999999999999999999999999999", "%s::text", str(),
			"99999999999999999999999999999999999999999999999999999999999999999"},
		{"decimal fraction only", record.Column{Type: record.Decimal}, ".5", "%s::text", str(), "0.5"},
		{"text unicode", record.Column{Type: record.Text}, "Ünïcødé ✓ 😀 日本", "", str(), "Ünïcødé ✓ 😀 日本"},
		{"text empty", record.Column{Type: record.Text, Length: 3}, "", "", str(), ""},
		{"char fixed", record.Column{Type: record.Text, Length: 3, Fixed: true}, "ab", "", str(), "ab"},
		{"bytes", record.Column{Type: record.Bytes}, []byte{0, 0xff, '\\', 'x'}, "", new([]byte), []byte{0, 0xff, '\\', 'x'}},
		{"bytes empty", record.Column{Type: record.Bytes}, []byte{}, "", new([]byte), []byte{}},
		{"bytes typed nil is empty", record.Column{Type: record.Bytes}, []byte(nil), "", new([]byte), []byte{}},
		{"date 0001-01-01", record.Column{Type: record.Date}, ts(1, 1, 1, 0, 0, 0, 0), "", new(time.Time), ts(1, 1, 1, 0, 0, 0, 0)},
		{"date 9999-12-31", record.Column{Type: record.Date}, ts(9999, 12, 31, 0, 0, 0, 0), "", new(time.Time), ts(9999, 12, 31, 0, 0, 0, 0)},
		{"date 1969", record.Column{Type: record.Date}, ts(1969, 12, 31, 0, 0, 0, 0), "", new(time.Time), ts(1969, 12, 31, 0, 0, 0, 0)},
		{"time midnight", record.Column{Type: record.Time}, "00:00:00", "", new(pgtype.Time), pgtype.Time{Microseconds: 0, Valid: true}},
		{"time max µs", record.Column{Type: record.Time, Precision: 6}, "23:59:59.999999", "", new(pgtype.Time),
			pgtype.Time{Microseconds: 86399999999, Valid: true}},
		{"time half second", record.Column{Type: record.Time, Precision: 3}, "12:34:56.5", "%s::text", str(), "12:34:56.5"},
		{"timestamp before 1970 µs", record.Column{Type: record.Timestamp, Precision: 6}, ts(1969, 12, 31, 23, 59, 59, 999999), "",
			new(time.Time), ts(1969, 12, 31, 23, 59, 59, 999999)},
		{"timestamp year 1", record.Column{Type: record.Timestamp}, ts(1, 1, 1, 0, 0, 0, 1), "", new(time.Time), ts(1, 1, 1, 0, 0, 0, 1)},
		{"timestamp 9999", record.Column{Type: record.Timestamp}, ts(9999, 12, 31, 23, 59, 59, 999999), "", new(time.Time),
			ts(9999, 12, 31, 23, 59, 59, 999999)},
		{"timestamptz instant", record.Column{Type: record.TimestampTZ, Precision: 6},
			time.Date(1950, 6, 1, 1, 2, 3, 4000, time.FixedZone("", -7*3600)), "", new(time.Time), ts(1950, 6, 1, 8, 2, 3, 4)},
		{"json unicode", record.Column{Type: record.JSON}, `{"name": "Zoë ✓", "list": [1, 2.50, true, null], "esc": "\u00e9\n"}`, "", str(),
			`{"esc": "é\n", "list": [1, 2.50, true, null], "name": "Zoë ✓"}`},
		{"json scalar", record.Column{Type: record.JSON}, `"x"`, "", str(), `"x"`},
		{"json as json", record.Column{Type: record.JSON, TargetType: "json"}, `{"b":1,  "a":2}`, "", str(), `{"b":1,  "a":2}`},
		{"uuid", record.Column{Type: record.UUID}, "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "", str(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
		{"enum", record.Column{Type: record.Enum, Values: []string{"x", "y's"}}, "y's", "", str(), "y's"},
		{"set", record.Column{Type: record.Set, Values: []string{"a", "b", "c"}}, "a,c", "", str(), "a,c"},
		{"set empty", record.Column{Type: record.Set, Values: []string{"a"}}, "", "", str(), ""},
		{"bit 1", record.Column{Type: record.Bit, Bits: 1}, uint64(1), "%s::text", str(), "1"},
		{"bit 10", record.Column{Type: record.Bit, Bits: 10}, uint64(0b1000000011), "%s::text", str(), "1000000011"},
		{"bit 64 max", record.Column{Type: record.Bit, Bits: 64}, uint64(math.MaxUint64), "%s::text", str(), strings.Repeat("1", 64)},
		{"year", record.Column{Type: record.Year}, int64(2155), "", new(int16), int16(2155)},
		// TargetType overrides.
		{"int into text", record.Column{Type: record.Int, TargetType: "text"}, int64(-42), "", str(), "-42"},
		{"uint into numeric(30,5)", record.Column{Type: record.Uint, TargetType: "numeric(30,5)"}, uint64(math.MaxUint64), "", str(),
			"18446744073709551615.00000"},
		{"decimal into bigint", record.Column{Type: record.Decimal, TargetType: "bigint"}, "-9000.000", "", new(int64), int64(-9000)},
		{"int into numeric", record.Column{Type: record.Int, TargetType: "numeric(25,2)"}, int64(math.MinInt64), "%s::text", str(),
			"-9223372036854775808.00"},
		{"tinyint1 into boolean", record.Column{Type: record.Int, Bits: 8, TargetType: "boolean"}, int64(1), "", new(bool), true},
		{"timestamp into text", record.Column{Type: record.Timestamp, TargetType: "text"}, ts(2001, 2, 3, 4, 5, 6, 7), "", str(),
			"2001-02-03 04:05:06.000007"},
		{"text into inet", record.Column{Type: record.Text, TargetType: "inet"}, "10.1.2.3", "%s::text", str(), "10.1.2.3/32"},
	}
}

func TestTypeRoundTrip(t *testing.T) {
	t.Parallel()
	t.Run("sink encoding", func(t *testing.T) { t.Parallel(); testTypeRoundTrip(t, false) })
	t.Run("pgx encoding", func(t *testing.T) { t.Parallel(); testTypeRoundTrip(t, true) })
}

func testTypeRoundTrip(t *testing.T, pgxEncoding bool) {
	s := openTestSink(t)
	s.pgxEncoding = pgxEncoding
	ctx := context.Background()
	for i, rt := range roundTrips() {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			col := rt.col
			col.Name = "v"
			col.Nullable = true
			tbl := &record.Table{
				Name:    fmt.Sprintf("rt_%d", i),
				Key:     []string{"id"},
				Columns: []record.Column{{Name: "id", Type: record.Int, Bits: 32}, col},
			}
			if _, err := s.Prepare(ctx, tbl, true); err != nil {
				t.Fatal(err)
			}
			b := &record.Batch{Columns: tbl.Columns, Rows: [][]any{{int64(1), rt.in}, {int64(2), nil}}}
			for _, opts := range []sinks.WriteOptions{{Fresh: true}, {}} {
				res, err := s.Write(ctx, tbl, b, opts)
				if err != nil {
					t.Fatalf("Write(%+v): %v", opts, err)
				}
				if len(res.Rejects) > 0 {
					t.Fatalf("Write(%+v) rejected: %+v", opts, res.Rejects)
				}
			}
			// A one-row upsert goes as one statement with parameters
			// (writeRow): the value must come back the same that way too.
			if _, err := s.Pool().Exec(ctx, "DELETE FROM "+s.ident(tbl.Name)+" WHERE id = 1"); err != nil {
				t.Fatal(err)
			}
			res, err := s.Write(ctx, tbl, &record.Batch{Columns: tbl.Columns, Rows: b.Rows[:1]}, sinks.WriteOptions{})
			if err != nil || len(res.Rejects) > 0 || res.Written != 1 {
				t.Fatalf("one-row Write: %+v, %v", res, err)
			}
			expr := `"v"`
			if rt.expr != "" {
				expr = fmt.Sprintf(rt.expr, expr)
			}
			var isNull bool
			if err := s.Pool().QueryRow(ctx, "SELECT v IS NULL FROM "+s.ident(tbl.Name)+" WHERE id = 2").Scan(&isNull); err != nil || !isNull {
				t.Errorf("NULL row: null=%v err=%v", isNull, err)
			}
			if err := s.Pool().QueryRow(ctx, "SELECT "+expr+" FROM "+s.ident(tbl.Name)+" WHERE id = 1").Scan(rt.dst); err != nil {
				t.Fatalf("read back: %v", err)
			}
			got := reflect.ValueOf(rt.dst).Elem().Interface()
			if !sameValue(col, got, rt.want) {
				t.Errorf("%s (%s): got %#v, want %#v", rt.name, PGType(col), got, rt.want)
			}
		})
	}
}

func sameValue(c record.Column, got, want any) bool {
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w) && g != nil
	case string:
		g, ok := got.(string)
		if ok && c.Type == record.JSON && c.TargetType == "" {
			var a, b any
			return json.Unmarshal([]byte(g), &a) == nil && json.Unmarshal([]byte(w), &b) == nil && reflect.DeepEqual(a, b)
		}
		return ok && g == w
	}
	return reflect.DeepEqual(got, want)
}

// Values the sink must refuse itself, without asking the server.
func TestPreValidationRejects(t *testing.T) {
	t.Parallel()
	s := openTestSink(t)
	ctx := context.Background()
	cases := []struct {
		col record.Column
		in  any
	}{
		{record.Column{Type: record.Int, Bits: 16}, int64(40000)},
		{record.Column{Type: record.Int, Bits: 32}, int64(math.MaxInt32 + 1)},
		{record.Column{Type: record.Uint, Bits: 8}, uint64(70000)},
		{record.Column{Type: record.Decimal, Precision: 5, Scale: 2}, "1234.5"},
		{record.Column{Type: record.Decimal, Precision: 5, Scale: 2}, "1.234"},
		{record.Column{Type: record.Decimal}, "1e5"},
		{record.Column{Type: record.Decimal}, "NaN"},
		{record.Column{Type: record.Text}, "nul\x00byte"},
		{record.Column{Type: record.Text}, "bad\xc3("},
		{record.Column{Type: record.Text, Length: 2}, "abc"},
		{record.Column{Type: record.Time}, "25:00:00"},
		{record.Column{Type: record.Time}, "-01:00:00"},
		{record.Column{Type: record.JSON}, `{"a":`},
		{record.Column{Type: record.JSON}, `"\u0000"`},
		{record.Column{Type: record.UUID}, "not-a-uuid"},
		{record.Column{Type: record.Enum, Values: []string{"a"}}, "b"},
		{record.Column{Type: record.Set, Values: []string{"a"}}, "a,b"},
		{record.Column{Type: record.Bit, Bits: 4}, uint64(16)},
		{record.Column{Type: record.Int}, "wrong Go type"},
		{record.Column{Type: record.Date}, record.Invalid{Raw: "0000-00-00", Reason: "zero date"}},
	}
	for i, c := range cases {
		col := c.col
		col.Name, col.Nullable = "v", true
		tbl := &record.Table{Name: fmt.Sprintf("pv_%d", i), Key: []string{"id"},
			Columns: []record.Column{{Name: "id", Type: record.Int}, col}}
		if _, err := s.Prepare(ctx, tbl, true); err != nil {
			t.Fatal(err)
		}
		b := &record.Batch{Columns: tbl.Columns, Rows: [][]any{{int64(1), c.in}, {int64(2), nil}}}
		res, err := s.Write(ctx, tbl, b, sinks.WriteOptions{})
		if err != nil {
			t.Errorf("%s %q: Write error %v", PGType(col), c.in, err)
			continue
		}
		if len(res.Rejects) != 1 || res.Rejects[0].Row != 0 || res.Written != 1 {
			t.Errorf("%s %q: got %+v, want row 0 rejected and 1 written", PGType(col), c.in, res)
			continue
		}
		if !strings.Contains(res.Rejects[0].Reason, `column "v"`) || strings.Contains(res.Rejects[0].Reason, "SQLSTATE") {
			t.Errorf("%s %q: reason %q should name the column and come from the sink", PGType(col), c.in, res.Rejects[0].Reason)
		}
	}
}

package feedverify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

// TestCanonicalAcrossStores: for each PostgreSQL type of the Chinook and
// employees data, the value as PostgreSQL gives it and as each store hands
// it back (Redis hash text, Redis json decoded with UseNumber, an
// Elasticsearch document decoded into float64) compare equal, and a
// different value of the same type does not.
func TestCanonicalAcrossStores(t *testing.T) {
	ts := time.Date(2009, 1, 1, 8, 0, 0, 123456000, time.UTC)
	cases := []struct {
		name   string
		col    record.Column
		pg     any
		same   []any // how stores give the same value back
		differ []any // other values
	}{
		{"int4", record.Column{Type: record.Int, Bits: 32}, int64(343719),
			[]any{"343719", json.Number("343719"), float64(343719)},
			[]any{"343718", json.Number("343719.5"), float64(343720), "abc"}},
		{"int8", record.Column{Type: record.Int, Bits: 64}, int64(1) << 60,
			[]any{"1152921504606846976", json.Number("1152921504606846976")},
			[]any{"1152921504606846977"}},
		{"int2", record.Column{Type: record.Int, Bits: 16}, int64(-7),
			[]any{"-7", json.Number("-7"), float64(-7)}, []any{"7"}},
		{"numeric(10,2)", record.Column{Type: record.Decimal, Precision: 10, Scale: 2}, "1.50",
			[]any{"1.50", "1.5", json.Number("1.5"), float64(1.5), json.Number("1.50")},
			[]any{"1.51", float64(1.05), "15"}},
		{"numeric zero", record.Column{Type: record.Decimal}, "0.00",
			[]any{"0", float64(0), json.Number("0.0")}, []any{"0.01"}},
		{"float8", record.Column{Type: record.Float, Bits: 64}, 11.0 / 3,
			[]any{"3.6666666666666665", json.Number("3.6666666666666665"), 11.0 / 3},
			[]any{"3.67", float64(3.6666)}},
		{"float4", record.Column{Type: record.Float, Bits: 32}, float64(float32(1.0 / 7)),
			[]any{"0.14285715", json.Number("0.14285715")}, []any{"0.1428"}},
		{"bool", record.Column{Type: record.Bool}, true,
			[]any{"true", true, "t"}, []any{"false", false, "f"}},
		{"varchar", record.Column{Type: record.Text, Length: 200}, "For Those About To Rock",
			[]any{"For Those About To Rock"}, []any{"For Those About To Rock ", "for those about to rock"}},
		{"char(1)", record.Column{Type: record.Text, Fixed: true, Length: 1}, "M",
			[]any{"M"}, []any{"F"}},
		{"char(3) padded", record.Column{Type: record.Text, Fixed: true, Length: 3}, "c1 ",
			[]any{"c1", "c1 "}, []any{"c2"}},
		{"text unicode", record.Column{Type: record.Text}, "Antônio Carlos Jobim",
			[]any{"Antônio Carlos Jobim"}, []any{"Antonio Carlos Jobim"}},
		{"timestamptz", record.Column{Type: record.TimestampTZ}, ts,
			[]any{"2009-01-01T08:00:00.123456Z", "2009-01-01T10:00:00.123456+02:00", ts.In(time.FixedZone("x", -5*3600))},
			[]any{"2009-01-01T08:00:00.123457Z", "2009-01-01T08:00:00.123456+01:00", "yesterday"}},
		{"timestamp", record.Column{Type: record.Timestamp}, time.Date(2010, 5, 6, 7, 8, 9, 0, time.UTC),
			[]any{"2010-05-06T07:08:09Z", "2010-05-06T07:08:09", "2010-05-06 07:08:09"},
			[]any{"2010-05-06T07:08:10Z"}},
		{"date", record.Column{Type: record.Date}, time.Date(1986, 6, 26, 0, 0, 0, 0, time.UTC),
			[]any{"1986-06-26T00:00:00Z", "1986-06-26"}, []any{"1986-06-27", "1986-06-27T00:00:00Z"}},
		{"time", record.Column{Type: record.Time, Precision: 6}, "12:34:56.5",
			[]any{"12:34:56.500000", "12:34:56.5"}, []any{"12:34:56"}},
		{"uuid", record.Column{Type: record.UUID}, "c4ca4238-a0b9-2382-0dcc-509a6f75849b",
			[]any{"C4CA4238-A0B9-2382-0DCC-509A6F75849B", [16]byte{0xc4, 0xca, 0x42, 0x38, 0xa0, 0xb9, 0x23, 0x82, 0x0d, 0xcc, 0x50, 0x9a, 0x6f, 0x75, 0x84, 0x9b}},
			[]any{"c4ca4238-a0b9-2382-0dcc-509a6f75849c"}},
		{"jsonb", record.Column{Type: record.JSON}, `{"n": 1, "tags": ["a", 1.50]}`,
			[]any{`{"tags":["a",1.5],"n":1}`, map[string]any{"n": float64(1), "tags": []any{"a", 1.5}},
				map[string]any{"n": json.Number("1"), "tags": []any{"a", json.Number("1.50")}}},
			[]any{`{"n": 2, "tags": ["a", 1.5]}`, map[string]any{"n": float64(1)}}},
		{"bytea", record.Column{Type: record.Bytes}, []byte{0x00, 0x2a},
			[]any{"\x00*", []byte{0, 42}}, []any{"\x00+", "002a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, null := Canonical(c.col, c.pg)
			if null {
				t.Fatal("value reported NULL")
			}
			for _, v := range c.same {
				if got, _ := Canonical(c.col, v); got != want {
					t.Errorf("%T %v: %q, want %q", v, v, got, want)
				}
			}
			for _, v := range c.differ {
				if got, _ := Canonical(c.col, v); got == want {
					t.Errorf("%T %v compares equal to %v (%q)", v, v, c.pg, got)
				}
			}
			if _, null := Canonical(c.col, nil); !null {
				t.Error("nil is not NULL")
			}
		})
	}
}

// TestDocID: the engine's ID rule, escapes included.
func TestDocID(t *testing.T) {
	for _, c := range []struct {
		vals []any
		want string
	}{
		{[]any{int64(42)}, "42"},
		{[]any{int64(1), "d005"}, "1:d005"},
		{[]any{"a:b", `c\d`}, `a\:b:c\\d`},
		{[]any{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}, `2024-01-02T03\:04\:05Z`},
	} {
		if got := DocID(c.vals); got != c.want {
			t.Errorf("DocID(%v) = %q, want %q", c.vals, got, c.want)
		}
	}
}

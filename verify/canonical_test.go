package verify

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/transitdb/transit/record"
)

func col(t record.Type) record.Column { return record.Column{Name: "c", Type: t} }

func TestCanonicalTable(t *testing.T) {
	ts := time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	cases := []struct {
		c    record.Column
		v    any
		want string
	}{
		{col(record.Bool), true, "t"},
		{col(record.Bool), false, "f"},
		{col(record.Bool), int64(1), "t"},
		{col(record.Int), int64(-42), "-42"},
		{col(record.Uint), uint64(math.MaxUint64), "18446744073709551615"},
		{col(record.Decimal), "1.50", "1.5"},
		{col(record.Decimal), "2.00", "2"},
		{col(record.Decimal), "-0.0", "0"},
		{col(record.Decimal), ".5", "0.5"},
		{col(record.Decimal), "-007.250", "-7.25"},
		{col(record.Decimal), "1.5E3", "1500"},
		{col(record.Decimal), "12E-4", "0.0012"},
		{col(record.Float), 0.1, "0.1"},
		{col(record.Float), 1e6, "1000000"},
		{col(record.Float), 1e15, "1000000000000000"},
		{col(record.Float), 1.5e-7, "0.00000015"},
		{col(record.Float), 0.30000000000000004, "0.3"},
		{col(record.Float), 2.5e-300 * 0, "0"},
		{col(record.Float), 0.0001, "0.0001"},
		{col(record.Float), math.Inf(-1), "-Infinity"},
		{record.Column{Type: record.Float, Bits: 32}, 0.1, "0.100000001490116"},
		{record.Column{Type: record.Float, Bits: 32}, float64(float32(16777216)), "16777216"},
		{col(record.Text), "héllo ", "héllo "},
		{record.Column{Type: record.Text, Fixed: true}, "ab  ", "ab"},
		{col(record.Bytes), []byte{0, 0xab, 0xff}, "00abff"},
		{col(record.Date), ts, "2009-01-01"},
		{col(record.Time), "15:04:05", "15:04:05.000000"},
		{col(record.Time), "15:04:05.5", "15:04:05.500000"},
		{col(record.Timestamp), ts.Add(time.Microsecond), "2009-01-01T00:00:00.000001Z"},
		{col(record.TimestampTZ), ts.In(paris), "2009-01-01T00:00:00.000000Z"},
		{col(record.JSON), `{"b": [1.50, {"z":1,"a":null}], "a": "x<y"}`, `{"a":"x<y","b":[1.5,{"a":null,"z":1}]}`},
		{col(record.UUID), "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{col(record.Bit), uint64(5), "5"},
		{col(record.Year), int64(2024), "2024"},
	}
	for _, c := range cases {
		if got := Canonical(c.c, c.v); got != c.want {
			t.Errorf("Canonical(%v, %#v) = %q, want %q", c.c.Type, c.v, got, c.want)
		}
	}
}

func TestFieldEncodingKeepsNullApart(t *testing.T) {
	c := col(record.Text)
	null := string(AppendField(nil, c, nil))
	empty := string(AppendField(nil, c, ""))
	lookalike := string(AppendField(nil, c, "-1:"))
	if null == empty || null == lookalike || empty == lookalike {
		t.Fatalf("null %q, empty %q, lookalike %q must all differ", null, empty, lookalike)
	}
	inv := string(AppendField(nil, c, record.Invalid{Raw: "x", Reason: "bad"}))
	if inv == string(AppendField(nil, c, "x")) {
		t.Fatal("invalid equals its raw text")
	}
}

// Property: the row encoding is injective for text rows: two rows encode
// alike only when every field is equal (NULL included).
func TestRowEncodingInjective(t *testing.T) {
	cols := []record.Column{col(record.Text), col(record.Text), col(record.Text)}
	gen := func(r *rand.Rand) []any {
		row := make([]any, 3)
		alphabet := []string{"", "a", ":", "1", "-1:", "0:", "é"}
		for i := range row {
			if r.IntN(5) == 0 {
				continue // NULL
			}
			var b strings.Builder
			for range r.IntN(3) {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			row[i] = b.String()
		}
		return row
	}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string][]any{}
	for range 20000 {
		row := gen(r)
		enc := string(AppendRow(nil, cols, row))
		if prev, ok := seen[enc]; ok {
			for i := range row {
				if prev[i] != row[i] {
					t.Fatalf("rows %q and %q both encode as %q", prev, row, enc)
				}
			}
		}
		seen[enc] = row
	}
}

// Property: NormalizeDecimal keeps the value, is idempotent, and gives one
// text per value whatever the trailing zeros, leading zeros and sign of zero.
func TestNormalizeDecimalProperty(t *testing.T) {
	f := func(intPart uint32, frac uint16, extraZeros, leadZeros uint8, neg bool) bool {
		fs := strconv.Itoa(int(frac))
		s := strings.Repeat("0", int(leadZeros%4)) + strconv.Itoa(int(intPart)) + "." + fs + strings.Repeat("0", int(extraZeros%6))
		if neg {
			s = "-" + s
		}
		got := NormalizeDecimal(s)
		if NormalizeDecimal(got) != got {
			return false
		}
		a, _ := new(big.Rat).SetString(s)
		b, ok := new(big.Rat).SetString(got)
		if !ok || a.Cmp(b) != 0 {
			return false
		}
		// the same value written with another number of trailing zeros
		return NormalizeDecimal(s+"00") == got && !strings.HasSuffix(got, ".") &&
			(got == "0" || !strings.HasSuffix(got, "0") || !strings.Contains(got, "."))
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

// Property: a float's canonical text is within half a unit of the 15th
// significant digit of the value.
func TestFloatFifteenDigits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
			continue
		}
		s := Canonical(col(record.Float), f)
		g, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Abs(g-f) > math.Abs(f)*1e-14 {
			t.Fatalf("%v → %q → %v (%v)", f, s, g, err)
		}
		if strings.ContainsAny(s, "eE") {
			t.Fatalf("%v → %q has an exponent", f, s)
		}
	}
}

// Property: JSON documents equal up to key order, whitespace and number
// spelling canonicalise alike.
func TestCanonicalJSONKeyOrder(t *testing.T) {
	a := `{"id": 1, "tags": ["x", "y"], "price": 1.50, "meta": {"b": true, "a": null}}`
	b := `{"meta":{"a":null,"b":true},"price":1.5,"tags":["x","y"],"id":1.0}`
	if CanonicalJSON(a) != CanonicalJSON(b) {
		t.Fatalf("%s != %s", CanonicalJSON(a), CanonicalJSON(b))
	}
	if CanonicalJSON(`{"a":[1,2]}`) == CanonicalJSON(`{"a":[2,1]}`) {
		t.Fatal("array order must matter")
	}
}

func BenchmarkCanonicalRow(b *testing.B) {
	cols := []record.Column{
		{Type: record.Int}, {Type: record.Text}, {Type: record.Decimal},
		{Type: record.TimestampTZ}, {Type: record.Bool}, {Type: record.Bytes},
		{Type: record.Float}, {Type: record.Text, Nullable: true},
	}
	row := []any{int64(123456789), "Some customer name, Ltd.", "1234.50",
		time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC), true,
		[]byte("0123456789abcdef"), 3.14159, nil}
	var buf []byte
	var sum uint64
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRow(buf[:0], cols, row)
		sum += RowHash(buf)
	}
	_ = sum
}

package sourcetest

import (
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

func TestCompareKeys(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		a, b record.Key
		want int
	}{
		{record.Key{int64(-5)}, record.Key{int64(3)}, -1},
		{record.Key{int64(1), "b"}, record.Key{int64(1), "ab"}, 1},
		{record.Key{"10"}, record.Key{"9"}, -1},
		{record.Key{t0, int64(2)}, record.Key{t0, int64(2)}, 0},
		{record.Key{nil}, record.Key{int64(0)}, -1},
		{record.Key{false}, record.Key{true}, -1},
		{record.Key{[]byte{1}}, record.Key{[]byte{1, 0}}, -1},
	} {
		if got := CompareKeys(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareKeys(%v, %v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestEqualValue(t *testing.T) {
	ts := record.Column{Type: record.Timestamp}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, tc := range []struct {
		col        record.Column
		want, got  any
		typed, exp bool
	}{
		{ts, t0, t0, true, true},
		{ts, t0, t0.In(time.FixedZone("x", 3600)), true, false}, // Timestamp must be UTC
		{ts, t0, "2024-01-02 03:04:05.000006", false, true},
		{record.Column{Type: record.Text}, "", nil, true, false},
		{record.Column{Type: record.Text}, nil, "", true, false},
		{record.Column{Type: record.Bytes}, []byte{}, []byte{}, true, true},
		{record.Column{Type: record.Int}, int64(1), int32(1), true, false},
		{record.Column{Type: record.Int}, int64(-1), "-1", false, true},
		{record.Column{Type: record.Bool}, true, "true", false, true},
		{record.Column{Type: record.Decimal}, "1.50", "1.5", true, false},
	} {
		if ok, why := equalValue(tc.col, tc.want, tc.got, tc.typed); ok != tc.exp {
			t.Errorf("equalValue(%v, %#v, %#v, typed=%v) = %v (%s), want %v", tc.col.Type, tc.want, tc.got, tc.typed, ok, why, tc.exp)
		}
	}
}

func TestFixturesWellFormed(t *testing.T) {
	for _, f := range append(StandardFixtures(), BigFixture(10)) {
		seen := map[string]bool{}
		kp := make([]int, len(f.Table.Key))
		for i, k := range f.Table.Key {
			kp[i] = f.Table.ColumnIndex(k)
		}
		for _, r := range f.Rows {
			if len(r) != len(f.Table.Columns) {
				t.Fatalf("%s: row %v has %d values", f.Table.Name, r, len(r))
			}
			enc, err := record.EncodeKey(project(r, kp))
			if err != nil {
				t.Fatal(err)
			}
			if seen[string(enc)] {
				t.Errorf("%s: duplicate key %s", f.Table.Name, enc)
			}
			seen[string(enc)] = true
			for i, c := range f.Table.Columns {
				if r[i] == nil && !c.Nullable {
					t.Errorf("%s: NULL in NOT NULL column %s", f.Table.Name, c.Name)
				}
			}
		}
	}
}

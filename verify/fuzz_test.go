package verify

import (
	"testing"

	"github.com/transitdb/transit/record"
)

// The canonical forms are fixed points: canonicalising twice changes
// nothing, and no input panics.
func FuzzCanonicalIdempotent(f *testing.F) {
	for _, s := range []string{"1.50", "-0.0", ".5", "1e3", "12E-4", "abc", "", "-", "1.2.3",
		`{"b":1,"a":[1.50,{"d":null,"c":"x<y"}]}`, `[1, 2`, `"\u2028"`, "00012.34000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := NormalizeDecimal(s)
		if NormalizeDecimal(d) != d {
			t.Fatalf("decimal %q → %q → %q", s, d, NormalizeDecimal(d))
		}
		j := CanonicalJSON(s)
		if CanonicalJSON(j) != j {
			t.Fatalf("json %q → %q → %q", s, j, CanonicalJSON(j))
		}
		_ = AppendField(nil, record.Column{Type: record.Time}, s)
		_ = AppendField(nil, record.Column{Type: record.Decimal}, s)
	})
}

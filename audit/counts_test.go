package audit

import (
	"math/rand/v2"
	"testing"
)

// TestHeavyHittersBound checks Misra–Gries' guarantee, with values added
// one by one and in runs (weights): every value more frequent than
// n/(k+1) is kept, and no count is off by more than that, or over.
func TestHeavyHittersBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const k = 16
	for _, runs := range []bool{false, true} {
		h := newHeavyHitters(k)
		truth := map[int64]int64{}
		var n int64
		for range 20000 {
			// a few frequent values among many rare ones
			v := int64(rng.IntN(5000))
			if rng.IntN(3) == 0 {
				v = int64(rng.IntN(4))
			}
			w := int64(1)
			if runs {
				w = int64(1 + rng.IntN(6))
			}
			h.add(key{n: v, t: ktInt}, w)
			truth[v] += w
			n += w
		}
		if h.counts.len() > k {
			t.Fatalf("runs=%v: %d counters, want at most %d", runs, h.counts.len(), k)
		}
		bound := n / (k + 1)
		for v, want := range truth {
			got, _ := h.counts.get(key{n: v, t: ktInt})
			if got > want || want-got > bound {
				t.Errorf("runs=%v: value %d counted %d, true %d (bound %d)", runs, v, got, want, bound)
			}
		}
		for v := range int64(4) {
			if _, ok := h.counts.get(key{n: v, t: ktInt}); !ok {
				t.Errorf("runs=%v: frequent value %d (%d of %d) dropped", runs, v, truth[v], n)
			}
		}
	}
}

// TestKeyCounts: strings and numbers of all kinds count apart.
func TestKeyCounts(t *testing.T) {
	c := newKeyCounts(0)
	keys := []key{{s: "1"}, {n: 1, t: ktInt}, {n: 1, t: ktUint}, {n: 1, t: ktTime}, {n: 1, m: 5, t: ktTime}, {s: ""}}
	for i, k := range keys {
		c.add(k, int64(i+1))
		c.add(k, 1)
	}
	if c.len() != len(keys) {
		t.Fatalf("%d keys, want %d", c.len(), len(keys))
	}
	seen := 0
	c.each(func(k key, n int64) {
		for i, want := range keys {
			if k == want && n != int64(i+2) {
				t.Errorf("%+v: %d, want %d", k, n, i+2)
			}
		}
		seen++
	})
	c.del(keys[1])
	if _, ok := c.get(keys[1]); ok || seen != len(keys) || c.len() != len(keys)-1 {
		t.Errorf("after del: len %d, seen %d", c.len(), seen)
	}
}

package audit

import (
	"math"
	"math/bits"
)

// hll is a HyperLogLog distinct-count estimator with 2^14 registers
// (16 KiB, standard error about 0.8%).
type hll struct {
	reg [1 << hllP]uint8
}

const hllP = 14

func (h *hll) add(x uint64) {
	idx := x >> (64 - hllP)
	w := x<<hllP | 1<<(hllP-1) // guard bit keeps the rank bounded
	rank := uint8(bits.LeadingZeros64(w)) + 1
	if rank > h.reg[idx] {
		h.reg[idx] = rank
	}
}

func (h *hll) estimate() int64 {
	const m = float64(1 << hllP)
	alpha := 0.7213 / (1 + 1.079/m)
	sum := 0.0
	zeros := 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting for small cardinalities
	}
	return int64(math.Round(e))
}

// heavyHitters keeps approximate counts of the most frequent values in at
// most k counters (Misra–Gries, weighted): a value not counted yet takes a
// free counter; when none is free, its weight and every counter are
// decreased by the smallest of them, which frees at least one counter (or
// uses the weight up). A count is an underestimate by at most n/(k+1); any
// value more frequent than that is kept. Amortised O(1) per value.
type heavyHitters struct {
	k      int
	counts *keyCounts
}

func newHeavyHitters(k int) *heavyHitters {
	return &heavyHitters{k: k, counts: newKeyCounts(k)}
}

func (h *heavyHitters) add(v key, n int64) {
	if c, ok := h.counts.get(v); ok {
		h.counts.set(v, c+n)
		return
	}
	if h.counts.len() < h.k {
		h.counts.set(v, n)
		return
	}
	d := n
	h.counts.each(func(_ key, c int64) { d = min(d, c) })
	h.counts.each(func(k key, c int64) {
		if c <= d {
			h.counts.del(k)
		} else {
			h.counts.set(k, c-d)
		}
	})
	if n > d {
		h.counts.set(v, n-d)
	}
}

package audit

import (
	"math"
	"strconv"
	"testing"

	"github.com/transitdb/transit/record"
)

func TestHLL(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 1000, 100000, 1000000} {
		var h hll
		for i := 0; i < n; i++ {
			h.add(hash64("v" + strconv.Itoa(i)))
		}
		if e := h.estimate(); math.Abs(float64(e)-float64(n))/float64(n) > 0.03 {
			t.Errorf("estimate of %d distinct: %d", n, e)
		}
	}
}

func TestProfileEstimates(t *testing.T) {
	t.Parallel()
	col := record.Column{Name: "v", Type: record.Text}
	opts := Options{ExactDistinct: 100}
	opts.defaults()
	p := newColProf(&col, &opts)
	for i := 0; i < 50000; i++ {
		v := "x" + strconv.Itoa(i%5000)
		if i%2 == 0 {
			v = "hot"
		}
		p.observe(v)
	}
	c := p.profile(50000)
	if !c.DistinctEstimated || math.Abs(float64(c.Distinct)-2501) > 100 {
		t.Errorf("distinct %d estimated %v", c.Distinct, c.DistinctEstimated)
	}
	if !c.TopApproximate || c.Top[0].Value != "hot" || c.Top[0].Count < 24900 {
		t.Errorf("top %+v", c.Top[:1])
	}
	if c.CaseVariants != -1 {
		t.Errorf("case variants %d", c.CaseVariants)
	}
}

func TestCompareDecimal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		want int
	}{
		{"1.5", "1.50", 0}, {"-1", "0.5", -1}, {"10", "9.99", 1}, {"-10", "-9", -1}, {"0.00", "-0", 0}, {"123456789.99", "25.86", 1},
	}
	for _, c := range cases {
		if got := compareDecimal(c.a, c.b); got != c.want {
			t.Errorf("compareDecimal(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestNumericFit(t *testing.T) {
	t.Parallel()
	spec := parseTargetType("numeric(5,2)")
	for v, want := range map[string]bool{"999.99": true, "999.995": false, "1000": false, "-123.456": true, "0.001": true} {
		if got := spec.numericProblem(v) == ""; got != want {
			t.Errorf("numeric(5,2) fits %s: %v, want %v", v, got, want)
		}
	}
	if p := parseTargetType("character varying(12)"); p.kind != tkText || p.length != 12 {
		t.Errorf("varchar parse %+v", p)
	}
	if p := parseTargetType("timestamp with time zone"); p.kind != tkTimestamp {
		t.Errorf("timestamptz parse %+v", p)
	}
}

// The reservoir (Algorithm L) keeps a uniform sample: the scaled histogram
// of 0..99999 has bins of about equal size that add up to the count.
func TestHistogramReservoir(t *testing.T) {
	t.Parallel()
	col := record.Column{Name: "n", Type: record.Int}
	opts := Options{}
	opts.defaults()
	p := newColProf(&col, &opts)
	const n = 100000
	for i := 0; i < n; i++ {
		p.observe(int64(i))
	}
	c := p.profile(n)
	if !c.DistinctEstimated || c.Histogram == nil || !c.Histogram.Approximate || len(c.Histogram.Bins) != histBins {
		t.Fatalf("profile %+v", c)
	}
	var sum int64
	for _, b := range c.Histogram.Bins {
		sum += b.Count
		if math.Abs(float64(b.Count)-n/histBins) > 0.15*n/histBins {
			t.Errorf("bin %s..%s holds %d, want about %d", b.Lo, b.Hi, b.Count, n/histBins)
		}
	}
	if sum < n-histBins || sum > n+histBins {
		t.Errorf("bins hold %d, want %d", sum, n)
	}
	if *c.Min != "0" || *c.Max != "99999" {
		t.Errorf("min %s max %s", *c.Min, *c.Max)
	}
}

package audit

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
)

// ColumnProfile describes the values of one column.
type ColumnProfile struct {
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	Native       string  `json:"native,omitempty"`
	Nulls        int64   `json:"nulls"`
	NullFraction float64 `json:"null_fraction"`
	Empty        int64   `json:"empty"`
	Distinct     int64   `json:"distinct"`
	// DistinctEstimated says Distinct is a HyperLogLog estimate.
	DistinctEstimated bool       `json:"distinct_estimated"`
	Min               *string    `json:"min"`
	Max               *string    `json:"max"`
	Top               []TopValue `json:"top"`
	// TopApproximate says the top values and counts are Misra–Gries
	// estimates (lower bounds) over a column with many distinct values.
	TopApproximate bool       `json:"top_approximate"`
	Lengths        *Lengths   `json:"lengths,omitempty"`
	Histogram      *Histogram `json:"histogram,omitempty"`
	Semantic       *Semantic  `json:"semantic,omitempty"`
	// Invalid counts values the source could not represent, by reason.
	Invalid     map[string]int64 `json:"invalid,omitempty"`
	InvalidUTF8 int64            `json:"invalid_utf8"`
	Whitespace  int64            `json:"whitespace"`
	// CaseVariants counts distinct values that another distinct value equals
	// but for letter case; -1 = unknown (too many distinct values).
	CaseVariants int64      `json:"case_variants"`
	CaseExamples [][]string `json:"case_examples,omitempty"`
}

// TopValue is one of the most common values.
type TopValue struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Lengths is the distribution of text lengths in characters.
type Lengths struct {
	Min     int64   `json:"min"`
	Max     int64   `json:"max"`
	Avg     float64 `json:"avg"`
	Buckets []Bin   `json:"buckets"`
}

// Histogram is the distribution of a numeric or date column.
type Histogram struct {
	// Approximate says the counts come from a uniform reservoir sample of
	// the values, scaled to the column's count.
	Approximate bool  `json:"approximate"`
	Bins        []Bin `json:"bins"`
}

// Bin is one bar of a histogram: values in [Lo, Hi] (Hi exclusive but for the last).
type Bin struct {
	Lo    string `json:"lo"`
	Hi    string `json:"hi"`
	Count int64  `json:"count"`
}

// Semantic is what a text column really holds.
type Semantic struct {
	Type     string  `json:"type"`             // integer, decimal, date, datetime, email, uuid, json, boolean, text
	Format   string  `json:"format,omitempty"` // Go time layout for date and datetime
	Fraction float64 `json:"fraction"`         // of the non-empty values that match
}

const (
	reservoirSize = 10000
	histBins      = 20
	ssCapacity    = 1024
	caseExamples  = 5
	// The semantic type is detected on the first semFull text values and
	// every semEvery-th value after them.
	semFull  = 10000
	semEvery = 16
)

// colProf profiles one column. Per value it does no formatting and, for
// the usual types, no allocation: distinct values are counted by their
// native key (see key), text is measured in one pass, the semantic type is
// sampled and the histogram reservoir skips values geometrically.
type colProf struct {
	col  *record.Column
	opts *Options
	text bool // text-like: lengths, semantic type, whitespace, case
	hist bool // numeric or date: histogram

	nulls, empty, nonNull int64
	min, max              any
	exact                 *keyCounts // nil once past ExactDistinct
	run                   key        // the value repeated by the last runN values
	runN                  int64
	hll                   *hll
	ss                    *heavyHitters
	invalid               map[string]int64
	invalidUTF8           int64
	whitespace            int64
	lenMin, lenMax        int64
	lenSum                int64
	lenBuckets            [14]int64 // 0, 1, 2-3, 4-7, ... , 4096+
	res                   []float64
	resSeen               int64   // numeric values offered to the reservoir
	resNext               int64   // Algorithm L: resSeen of the next value taken
	resW                  float64 // Algorithm L: the running weight
	rng                   *rand.Rand
	sem                   *semDetector
	semSeen               int64
}

func newColProf(c *record.Column, opts *Options) *colProf {
	p := &colProf{col: c, opts: opts, exact: newKeyCounts(0), lenMin: -1}
	switch c.Type {
	case record.Text, record.Enum, record.Set, record.UUID, record.JSON:
		p.text = true
		if c.Type == record.Text {
			p.sem = newSemDetector()
		}
	case record.Int, record.Uint, record.Float, record.Decimal, record.Date, record.Timestamp, record.TimestampTZ, record.Year:
		p.hist = true
		p.rng = rand.New(rand.NewPCG(1, 2))
	}
	return p
}

// observeColumn profiles column i of rows.
func (p *colProf) observeColumn(rows [][]any, i int) {
	for _, row := range rows {
		p.observe(row[i])
	}
}

func (p *colProf) observe(v any) {
	if v == nil {
		p.nulls++
		return
	}
	if inv, ok := v.(record.Invalid); ok {
		if p.invalid == nil {
			p.invalid = map[string]int64{}
		}
		class := invalidClass(inv.Reason)
		p.invalid[class]++
		if strings.Contains(strings.ToLower(class), "utf-8") {
			p.invalidUTF8++
		}
		return
	}
	p.nonNull++
	p.minMax(v)
	// Equal values in a row (a composite key's leading column, a sorted
	// or grouped column) are counted as one run, once.
	k := keyOf(v, p.col.Type)
	if p.runN > 0 && k == p.run {
		p.runN++
	} else {
		p.flushRun()
		p.run, p.runN = k, 1
	}
	if k.t == ktString {
		if str, ok := v.(string); ok {
			p.observeText(str)
		}
	}
	if p.hist {
		p.sample(v)
	}
}

func (p *colProf) minMax(v any) {
	if p.min == nil {
		p.min, p.max = v, v
		return
	}
	switch x := v.(type) {
	case int64:
		lo, ok1 := p.min.(int64)
		hi, ok2 := p.max.(int64)
		if ok1 && ok2 {
			if x < lo {
				p.min = v
			} else if x > hi {
				p.max = v
			}
			return
		}
	case time.Time:
		lo, ok1 := p.min.(time.Time)
		hi, ok2 := p.max.(time.Time)
		if ok1 && ok2 {
			if x.Before(lo) {
				p.min = v
			} else if x.After(hi) {
				p.max = v
			}
			return
		}
	}
	if c, ok := compare(v, p.min, p.col.Type); ok && c < 0 {
		p.min = v
	}
	if c, ok := compare(v, p.max, p.col.Type); ok && c > 0 {
		p.max = v
	}
}

func (p *colProf) observeText(str string) {
	if str == "" {
		p.empty++
	}
	n, valid := textLen(str)
	if !valid {
		p.invalidUTF8++
	}
	if !p.text {
		return
	}
	if p.lenMin < 0 || n < p.lenMin {
		p.lenMin = n
	}
	if n > p.lenMax {
		p.lenMax = n
	}
	p.lenSum += n
	p.lenBuckets[lenBucket(n)]++
	if str != "" && (spaceAtStart(str) || spaceAtEnd(str)) {
		p.whitespace++
	}
	if p.sem != nil {
		p.semSeen++
		if p.semSeen <= semFull || p.semSeen%semEvery == 0 {
			p.sem.observe(str)
		}
	}
}

// textLen is the length of s in characters and whether s is valid UTF-8,
// in one pass for ASCII text.
func textLen(s string) (int64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return int64(utf8.RuneCountInString(s)), utf8.ValidString(s)
		}
	}
	return int64(len(s)), true
}

func asciiSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

func spaceAtStart(s string) bool {
	if s[0] < utf8.RuneSelf {
		return asciiSpace(s[0])
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

func spaceAtEnd(s string) bool {
	if c := s[len(s)-1]; c < utf8.RuneSelf {
		return asciiSpace(c)
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsSpace(r)
}

// sample keeps a uniform reservoir of the column's numeric values
// (Algorithm L: after the reservoir fills, the number of values to skip
// before the next one taken is drawn at once, so most values cost one
// comparison).
func (p *colProf) sample(v any) {
	p.resSeen++
	if len(p.res) < reservoirSize {
		f, ok := number(v)
		if !ok {
			p.resSeen--
			return
		}
		p.res = append(p.res, f)
		if len(p.res) == reservoirSize {
			p.resW = math.Exp(math.Log(p.uniform()) / reservoirSize)
			p.skip()
		}
		return
	}
	if p.resSeen < p.resNext {
		return
	}
	f, ok := number(v)
	if !ok {
		p.resSeen--
		return
	}
	p.res[p.rng.IntN(reservoirSize)] = f
	p.resW *= math.Exp(math.Log(p.uniform()) / reservoirSize)
	p.skip()
}

// uniform is a random number in (0, 1].
func (p *colProf) uniform() float64 { return 1 - p.rng.Float64() }

func (p *colProf) skip() {
	p.resNext = p.resSeen + 1
	if p.resW < 1 {
		p.resNext += int64(math.Floor(math.Log(p.uniform()) / math.Log(1-p.resW)))
	}
}

func lenBucket(n int64) int {
	return min(bits.Len64(uint64(n)), 13)
}

func lenBucketRange(b int) (lo, hi int64) {
	if b == 0 {
		return 0, 0
	}
	lo = 1 << (b - 1)
	if b == 13 {
		return lo, -1
	}
	return lo, lo*2 - 1
}

// flushRun counts the current run of equal values.
func (p *colProf) flushRun() {
	if p.runN == 0 {
		return
	}
	k, n := p.run, p.runN
	p.runN = 0
	if p.exact != nil {
		p.exact.add(k, n)
		if p.exact.len() > p.opts.ExactDistinct {
			p.toEstimates()
		}
		return
	}
	p.hll.add(k.hash())
	p.ss.add(k, n)
}

// toEstimates switches from exact counting to HyperLogLog and Misra–Gries.
func (p *colProf) toEstimates() {
	p.hll = &hll{}
	p.ss = newHeavyHitters(ssCapacity)
	p.exact.each(func(k key, _ int64) { p.hll.add(k.hash()) })
	for _, c := range sortedCounts(p.exact, p.col.Type, ssCapacity) {
		p.ss.add(c.k, c.n)
	}
	p.exact = nil
}

type counted struct {
	k    key
	text string
	n    int64
}

// sortedCounts returns the n most frequent keys of m, most frequent first,
// ties in text order.
func sortedCounts(m *keyCounts, t record.Type, n int) []counted {
	out := make([]counted, 0, m.len())
	m.each(func(k key, c int64) { out = append(out, counted{k, k.text(t), c}) })
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].text < out[j].text
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func topOf(m *keyCounts, t record.Type, n int) []TopValue {
	cs := sortedCounts(m, t, n)
	out := make([]TopValue, len(cs))
	for i, c := range cs {
		out[i] = TopValue{c.text, c.n}
	}
	return out
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

func (p *colProf) profile(rows int64) ColumnProfile {
	p.flushRun()
	c := ColumnProfile{
		Name: p.col.Name, Type: p.col.Type.String(), Native: p.col.Native,
		Nulls: p.nulls, Empty: p.empty, Invalid: p.invalid, InvalidUTF8: p.invalidUTF8,
		Whitespace: p.whitespace, Top: []TopValue{},
	}
	if rows > 0 {
		c.NullFraction = round4(float64(p.nulls) / float64(rows))
	}
	if p.min != nil {
		lo, hi := valueText(p.min, p.col.Type), valueText(p.max, p.col.Type)
		c.Min, c.Max = &lo, &hi
	}
	if p.exact != nil {
		c.Distinct = int64(p.exact.len())
		c.Top = topOf(p.exact, p.col.Type, p.opts.TopN)
		if p.text {
			c.CaseVariants, c.CaseExamples = caseVariants(p.exact)
		}
	} else {
		c.Distinct = p.hll.estimate()
		c.DistinctEstimated = true
		top := topOf(p.ss.counts, p.col.Type, p.opts.TopN)
		c.Top, c.TopApproximate = top, true
		if p.text {
			c.CaseVariants = -1
		}
	}
	if p.text && p.nonNull > 0 {
		l := &Lengths{Min: p.lenMin, Max: p.lenMax, Avg: round4(float64(p.lenSum) / float64(p.nonNull)), Buckets: []Bin{}}
		for b, n := range p.lenBuckets {
			if n == 0 {
				continue
			}
			lo, hi := lenBucketRange(b)
			bin := Bin{Lo: itoa(lo), Count: n}
			if hi >= 0 {
				bin.Hi = itoa(hi)
			}
			l.Buckets = append(l.Buckets, bin)
		}
		c.Lengths = l
	}
	if p.hist && len(p.res) > 0 {
		c.Histogram = p.histogram()
	}
	if p.sem != nil {
		c.Semantic = p.sem.result()
	}
	return c
}

// caseVariants counts distinct values that differ from another only by case.
func caseVariants(m *keyCounts) (int64, [][]string) {
	groups := map[string][]string{}
	for v := range m.str {
		l := strings.ToLower(v)
		groups[l] = append(groups[l], v)
	}
	var n int64
	var ex [][]string
	for _, g := range groups {
		if len(g) > 1 {
			n += int64(len(g))
			sort.Strings(g)
			ex = append(ex, g)
		}
	}
	sort.Slice(ex, func(i, j int) bool { return ex[i][0] < ex[j][0] })
	if len(ex) > caseExamples {
		ex = ex[:caseExamples]
	}
	return n, ex
}

func (p *colProf) histogram() *Histogram {
	lo, _ := number(p.min)
	hi, _ := number(p.max)
	h := &Histogram{Approximate: p.resSeen > int64(len(p.res))}
	if hi < lo {
		lo, hi = hi, lo
	}
	n := histBins
	width := (hi - lo) / float64(n)
	integral := p.col.Type == record.Int || p.col.Type == record.Uint || p.col.Type == record.Year
	if integral && hi-lo+1 < float64(n) {
		n = int(hi-lo) + 1
		width = 1
	}
	if width == 0 {
		n, width = 1, 1
	}
	counts := make([]float64, n)
	for _, f := range p.res {
		i := int((f - lo) / width)
		if i >= n {
			i = n - 1
		}
		if i < 0 {
			i = 0
		}
		counts[i]++
	}
	scale := float64(p.resSeen) / float64(len(p.res))
	for i := 0; i < n; i++ {
		a, b := lo+float64(i)*width, lo+float64(i+1)*width
		if integral && width == 1 {
			b = a
		}
		if i == n-1 && !(integral && width == 1) {
			b = hi
		}
		h.Bins = append(h.Bins, Bin{Lo: p.binText(a), Hi: p.binText(b), Count: int64(math.Round(counts[i] * scale))})
	}
	return h
}

func (p *colProf) binText(f float64) string {
	switch p.col.Type {
	case record.Date:
		return time.Unix(int64(f), 0).UTC().Format("2006-01-02")
	case record.Timestamp, record.TimestampTZ:
		return time.Unix(int64(f), 0).UTC().Format("2006-01-02 15:04:05")
	case record.Int, record.Uint, record.Year:
		return itoa(int64(math.Round(f)))
	}
	return formatFloat(f)
}

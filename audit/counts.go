package audit

// keyCounts counts keys. A map keyed by key hashes and compares its string
// field even for numbers and times, where it is always empty; those keys
// go to a map of their fixed-size fields instead, which the runtime hashes
// and compares as one block of memory. Audit's profile of the employees
// bench's salaries (two ints, two dates) spent a third of its time in map
// hashing and probing before.
type keyCounts struct {
	str map[string]int64
	num map[numKey]int64
}

// numKey is a key that is not ktString.
type numKey struct {
	n int64
	m int32
	t keyType
}

func newKeyCounts(size int) *keyCounts {
	return &keyCounts{str: make(map[string]int64, size), num: make(map[numKey]int64, size)}
}

func (c *keyCounts) len() int { return len(c.str) + len(c.num) }

func (c *keyCounts) add(k key, d int64) {
	if k.t == ktString {
		c.str[k.s] += d
	} else {
		c.num[numKey{k.n, k.m, k.t}] += d
	}
}

// get returns k's count and whether k is counted.
func (c *keyCounts) get(k key) (int64, bool) {
	if k.t == ktString {
		n, ok := c.str[k.s]
		return n, ok
	}
	n, ok := c.num[numKey{k.n, k.m, k.t}]
	return n, ok
}

// each calls f for every key; f may change or delete the key it is given
// (set, del).
func (c *keyCounts) each(f func(k key, n int64)) {
	for s, n := range c.str {
		f(key{s: s}, n)
	}
	for nk, n := range c.num {
		f(key{n: nk.n, m: nk.m, t: nk.t}, n)
	}
}

func (c *keyCounts) set(k key, n int64) {
	if k.t == ktString {
		c.str[k.s] = n
	} else {
		c.num[numKey{k.n, k.m, k.t}] = n
	}
}

func (c *keyCounts) del(k key) {
	if k.t == ktString {
		delete(c.str, k.s)
	} else {
		delete(c.num, numKey{k.n, k.m, k.t})
	}
}

package audit

import (
	"math"
	"strconv"
	"time"

	"github.com/transitdb/transit/record"
)

// keyType says which field of a key holds the value.
type keyType uint8

const (
	ktString keyType = iota // s: text, decimal text, bytes, and any other type's text
	ktInt                   // n: int64
	ktUint                  // n: the bits of a uint64
	ktFloat                 // n: the bits of a float64
	ktBool                  // n: 0 or 1
	ktTime                  // n: Unix seconds, m: nanoseconds
)

// key is a value in its native form, for exact distinct counting and the
// heavy hitters: integers, floats and times are never formatted as text
// while the rows stream; keyText formats a key once, for the report.
type key struct {
	s string
	n int64
	m int32
	t keyType
}

// keyOf returns v's key. v is not nil and not a record.Invalid.
func keyOf(v any, t record.Type) key {
	switch x := v.(type) {
	case string:
		return key{s: x}
	case int64:
		return key{n: x, t: ktInt}
	case time.Time:
		return key{n: x.Unix(), m: int32(x.Nanosecond()), t: ktTime}
	case float64:
		return key{n: int64(math.Float64bits(x)), t: ktFloat}
	case uint64:
		return key{n: int64(x), t: ktUint}
	case bool:
		if x {
			return key{n: 1, t: ktBool}
		}
		return key{t: ktBool}
	case []byte:
		return key{s: string(x)}
	}
	return key{s: valueText(v, t)}
}

// value is the Go value a key stands for (times in UTC).
func (k key) value() any {
	switch k.t {
	case ktInt:
		return k.n
	case ktUint:
		return uint64(k.n)
	case ktFloat:
		return math.Float64frombits(uint64(k.n))
	case ktBool:
		return k.n == 1
	case ktTime:
		return time.Unix(k.n, int64(k.m)).UTC()
	}
	return k.s
}

// text is the key's value as valueText shows it.
func (k key) text(t record.Type) string {
	switch k.t {
	case ktString:
		return k.s
	case ktInt:
		return strconv.FormatInt(k.n, 10)
	}
	return valueText(k.value(), t)
}

// hash is a deterministic 64-bit hash of the key (HyperLogLog input).
func (k key) hash() uint64 {
	if k.t == ktString {
		return hash64(k.s)
	}
	return mix64(uint64(k.n)*0x9e3779b97f4a7c15 ^ uint64(uint32(k.m))<<8 ^ uint64(k.t))
}

// mix64 is the splitmix64 finaliser.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

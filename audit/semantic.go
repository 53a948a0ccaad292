package audit

import (
	"encoding/json"
	"strings"
	"time"
)

// A semantic class is what a text column may really hold.
type semClass struct {
	typ, format string
	match       func(s string) bool
}

func layout(l string) func(string) bool {
	return func(s string) bool {
		if len(s) != len(l) && !strings.Contains(l, "Z07") && !strings.Contains(l, ".999") {
			return false
		}
		_, err := time.Parse(l, s)
		return err == nil
	}
}

// semClasses in order of preference: the first class that at least
// semThreshold of the non-empty values match is the column's semantic type.
var semClasses = []semClass{
	{"boolean", "", isBoolLike},
	{"integer", "", isInteger},
	{"decimal", "", isDecimal},
	{"uuid", "", isUUID},
	{"date", "2006-01-02", layout("2006-01-02")},
	{"date", "2006/01/02", layout("2006/01/02")},
	{"date", "02/01/2006", layout("02/01/2006")},
	{"date", "01/02/2006", layout("01/02/2006")},
	{"date", "02.01.2006", layout("02.01.2006")},
	{"datetime", "2006-01-02 15:04:05", layout("2006-01-02 15:04:05")},
	{"datetime", "2006-01-02 15:04:05.999999", layout("2006-01-02 15:04:05.999999")},
	{"datetime", "2006-01-02T15:04:05", layout("2006-01-02T15:04:05")},
	{"datetime", time.RFC3339, layout(time.RFC3339)},
	{"email", "", isEmail},
	{"json", "", isJSON},
}

const semThreshold = 0.95

func isBoolLike(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "y", "n", "t", "f", "on", "off":
		return true
	}
	return false
}

func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isDecimal(s string) bool {
	i, f, found := strings.Cut(s, ".")
	if !found {
		return isInteger(s)
	}
	if i == "" || i == "-" || i == "+" {
		i += "0"
	}
	return isInteger(i) && (f == "" || isInteger(f) && f[0] != '+' && f[0] != '-')
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || strings.ContainsAny(s, " \t\r\n,;<>") {
		return false
	}
	dom := s[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-1
}

func isJSON(s string) bool {
	if s == "" || (s[0] != '{' && s[0] != '[') {
		return false
	}
	return json.Valid([]byte(s))
}

// semDetector counts, for each class still in the running, how many values
// it matched.
type semDetector struct {
	seen    int64
	matches []int64
	live    []bool
	nLive   int
}

func newSemDetector() *semDetector {
	d := &semDetector{matches: make([]int64, len(semClasses)), live: make([]bool, len(semClasses)), nLive: len(semClasses)}
	for i := range d.live {
		d.live[i] = true
	}
	return d
}

func (d *semDetector) observe(s string) {
	s = strings.TrimSpace(s)
	if s == "" || d.nLive == 0 {
		return
	}
	d.seen++
	for i, c := range semClasses {
		if d.live[i] && c.match(s) {
			d.matches[i]++
		}
	}
	// A class that missed more than half of the first thousands of values
	// cannot be the answer: stop testing it.
	if d.seen%1024 == 0 {
		for i := range d.live {
			if d.live[i] && d.matches[i]*2 < d.seen {
				d.live[i] = false
				d.nLive--
			}
		}
	}
}

func (d *semDetector) result() *Semantic {
	if d.seen == 0 {
		return nil
	}
	for i, c := range semClasses {
		if !d.live[i] {
			continue
		}
		f := float64(d.matches[i]) / float64(d.seen)
		if f >= semThreshold {
			return &Semantic{Type: c.typ, Format: c.format, Fraction: round4(f)}
		}
	}
	return &Semantic{Type: "text", Fraction: 1}
}

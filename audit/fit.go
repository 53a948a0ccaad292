package audit

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/transitdb/transit/record"
	pgsink "github.com/transitdb/transit/sinks/postgres"
)

// targetKind is what a PostgreSQL column type accepts, as far as fit to
// target cares.
type targetKind int

const (
	tkOther targetKind = iota
	tkText
	tkInt
	tkNumeric
	tkFloat
	tkDate
	tkTimestamp
	tkUUID
	tkJSON
	tkBool
	tkBytes
)

type targetSpec struct {
	text      string // the type as shown, e.g. "varchar(40)"
	kind      targetKind
	length    int // text: max characters; 0 = unbounded
	precision int // numeric
	scale     int
	bits      int // int: 16, 32, 64
	notNull   bool
}

var typeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([a-z][a-z0-9 ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(with(?:out)? time zone)?$`)
})

// parseTargetType reads a PostgreSQL type text such as "numeric(12,2)".
func parseTargetType(s string) targetSpec {
	t := targetSpec{text: s}
	m := typeRE().FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return t
	}
	n1, _ := strconv.Atoi(m[2])
	n2, _ := strconv.Atoi(m[3])
	switch m[1] {
	case "varchar", "character varying", "char", "character", "bpchar":
		t.kind, t.length = tkText, n1
		if m[2] == "" && (m[1] == "char" || m[1] == "character") {
			t.length = 1
		}
	case "text", "citext", "name":
		t.kind = tkText
	case "smallint", "int2", "smallserial":
		t.kind, t.bits = tkInt, 16
	case "integer", "int", "int4", "serial":
		t.kind, t.bits = tkInt, 32
	case "bigint", "int8", "bigserial":
		t.kind, t.bits = tkInt, 64
	case "numeric", "decimal":
		t.kind, t.precision, t.scale = tkNumeric, n1, n2
	case "real", "float4", "double precision", "float8", "float":
		t.kind = tkFloat
	case "date":
		t.kind = tkDate
	case "timestamp", "timestamptz":
		t.kind = tkTimestamp
	case "uuid":
		t.kind = tkUUID
	case "json", "jsonb":
		t.kind = tkJSON
	case "boolean", "bool":
		t.kind = tkBool
	case "bytea":
		t.kind = tkBytes
	}
	return t
}

// deriveTargetType is the PostgreSQL type transit creates for a column
// without an explicit TargetType: the PostgreSQL sink's own mapping, so the
// audit predicts exactly what a run would create.
func deriveTargetType(c record.Column) string { return pgsink.PGType(c) }

type fitKey struct {
	col     int
	problem string
}

type fitChecker struct {
	specs []*targetSpec // nil = column not routed
	names []string
	max   int
	hits  map[fitKey]*FitResult
}

func newFitChecker(src, dst []record.Column, maxIDs int) *fitChecker {
	f := &fitChecker{specs: make([]*targetSpec, len(src)), names: make([]string, len(src)), max: maxIDs, hits: map[fitKey]*FitResult{}}
	for i, tc := range dst {
		if tc.Name == "" {
			continue
		}
		typ := tc.TargetType
		if typ == "" {
			typ = deriveTargetType(tc)
		}
		spec := parseTargetType(typ)
		spec.notNull = !tc.Nullable
		f.specs[i] = &spec
		f.names[i] = src[i].Name
	}
	return f
}

func (f *fitChecker) add(er *entityRun, col int, problem string) {
	k := fitKey{col, problem}
	h := f.hits[k]
	if h == nil {
		h = &FitResult{Column: f.names[col], TargetType: f.specs[col].text, Problem: problem, SampleIDs: []string{}}
		f.hits[k] = h
	}
	h.Count++
	if len(h.SampleIDs) < f.max {
		h.SampleIDs = append(h.SampleIDs, er.rowID())
	}
}

// observeBatch tries every routed value of rows (which follow base rows)
// against its target column, column by column.
func (f *fitChecker) observeBatch(er *entityRun, rows [][]any, base int64) {
	for i, spec := range f.specs {
		if spec == nil {
			continue
		}
		for j, row := range rows {
			if p := spec.problem(row[i]); p != "" {
				er.at(base, j, row)
				f.add(er, i, p)
			}
		}
	}
}

// PostgreSQL's date range, as Unix seconds: 4713 BC to 294276 AD.
var (
	pgMinTime = time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	pgMaxTime = time.Date(294276, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// problem says why the target column would refuse v, or "".
func (t *targetSpec) problem(v any) string {
	switch x := v.(type) {
	case nil:
		if t.notNull {
			return "NULL in a NOT NULL column"
		}
		return ""
	case record.Invalid:
		return invalidClass(x.Reason)
	case string:
		switch t.kind {
		case tkText, tkJSON, tkUUID, tkOther:
			if !utf8.ValidString(x) {
				return "invalid UTF-8"
			}
			if strings.IndexByte(x, 0) >= 0 {
				return "NUL character (PostgreSQL text cannot hold it)"
			}
		}
		switch t.kind {
		case tkText:
			if t.length > 0 && len(x) > t.length && utf8.RuneCountInString(x) > t.length {
				return fmt.Sprintf("longer than %d characters", t.length)
			}
		case tkNumeric:
			return t.numericProblem(x)
		case tkInt:
			if !isInteger(strings.TrimSpace(x)) {
				return "not an integer"
			}
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return fmt.Sprintf("out of range for a %d-bit integer", t.bits)
			}
			return t.intProblem(n)
		case tkUUID:
			if !isUUID(x) {
				return "not a UUID"
			}
		case tkJSON:
			if !json.Valid([]byte(x)) {
				return "not valid JSON"
			}
		case tkDate, tkTimestamp:
			if _, ok := parseTime(x); !ok {
				return "not a valid date"
			}
		}
	case int64:
		switch t.kind {
		case tkInt:
			return t.intProblem(x)
		case tkNumeric:
			return t.numericProblem(strconv.FormatInt(x, 10))
		}
	case uint64:
		switch t.kind {
		case tkInt:
			if x > math.MaxInt64 {
				return fmt.Sprintf("out of range for a %d-bit integer", t.bits)
			}
			return t.intProblem(int64(x))
		case tkNumeric:
			return t.numericProblem(strconv.FormatUint(x, 10))
		}
	case float64:
		switch t.kind {
		case tkInt:
			if x != math.Trunc(x) {
				return "not an integer"
			}
			if x < -9.223372036854775808e18 || x >= 9.223372036854775808e18 {
				return fmt.Sprintf("out of range for a %d-bit integer", t.bits)
			}
			return t.intProblem(int64(x))
		case tkNumeric:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return "not a finite number"
			}
			return t.numericProblem(strconv.FormatFloat(x, 'f', -1, 64))
		}
	case time.Time:
		if u := x.Unix(); (t.kind == tkDate || t.kind == tkTimestamp) && (u < pgMinTime || u >= pgMaxTime) {
			return "date out of PostgreSQL's range"
		}
	}
	return ""
}

func (t *targetSpec) intProblem(n int64) string {
	lim := int64(1) << (t.bits - 1)
	if t.bits >= 64 {
		return ""
	}
	if n < -lim || n >= lim {
		return fmt.Sprintf("out of range for a %d-bit integer", t.bits)
	}
	return ""
}

// numericProblem checks a plain decimal text against numeric(p,s): more
// integer digits than p-s overflow (PostgreSQL refuses the row); extra
// fraction digits are rounded, which is not a reject.
func (t *targetSpec) numericProblem(s string) string {
	s = strings.TrimLeft(strings.TrimSpace(s), "+-")
	if !isDecimal(s) {
		return "not a number"
	}
	if t.precision == 0 {
		return ""
	}
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	digits := len(ip)
	// Rounding to the scale may carry into a new integer digit (9.999 → 10.00).
	if len(fp) > t.scale && fp[t.scale] >= '5' && strings.Trim(fp[:t.scale], "9") == "" && strings.Trim(ip, "9") == "" {
		digits++
	}
	if digits > t.precision-t.scale {
		return fmt.Sprintf("numeric overflow: more than %d digits before the point", t.precision-t.scale)
	}
	return ""
}

func (f *fitChecker) results() []FitResult {
	out := make([]FitResult, 0, len(f.hits))
	for i := range f.specs {
		var probs []string
		for k := range f.hits {
			if k.col == i {
				probs = append(probs, k.problem)
			}
		}
		sort.Strings(probs)
		for _, p := range probs {
			out = append(out, *f.hits[fitKey{i, p}])
		}
	}
	return out
}

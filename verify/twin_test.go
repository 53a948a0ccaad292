package verify

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

// A typeSpec is one logical type with a native column type per dialect and a
// generator of values in the Go type record.Type fixes.
type typeSpec struct {
	name   string
	col    record.Column
	pg, my string
	gen    func(r *rand.Rand) any
}

func randText(r *rand.Rand, max int) string {
	pieces := []string{"a", "Z", " ", "'", `"`, `\`, ":", "-1:", "é", "ß", "中", "😀", "\n", "\t", "0", "."}
	var b strings.Builder
	n := r.IntN(max + 1)
	for b.Len() < n {
		if r.IntN(3) == 0 {
			b.WriteString(pieces[r.IntN(len(pieces))])
		} else {
			b.WriteRune(rune(0x20 + r.IntN(0x5f)))
		}
	}
	s := b.String()
	for len([]rune(s)) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

func randFloat(r *rand.Rand, bits int) float64 {
	nice := []float64{0, 0.1, 0.5, 1, -1, 1e6, 123456, 1e15, 1e16, 1.5e-7, 0.0001, 0.00001, 1e20, math.MaxFloat32, 3.14159}
	if r.IntN(3) == 0 {
		f := nice[r.IntN(len(nice))]
		if bits == 32 {
			return float64(float32(f))
		}
		return f
	}
	for {
		var f float64
		if bits == 32 {
			f = float64(math.Float32frombits(r.Uint32()))
		} else {
			f = math.Float64frombits(r.Uint64())
		}
		if !math.IsNaN(f) && !math.IsInf(f, 0) && (f == 0 || math.Abs(f) > 1e-300) {
			if bits == 32 && f != 0 && math.Abs(f) < 1e-37 { // keep off subnormals
				continue
			}
			return f
		}
	}
}

var twinSpecs = []typeSpec{
	{"bool", record.Column{Type: record.Bool, Native: "bool"}, "boolean", "tinyint(1)",
		func(r *rand.Rand) any { return r.IntN(2) == 0 }},
	{"int", record.Column{Type: record.Int, Bits: 64}, "bigint", "bigint",
		func(r *rand.Rand) any {
			switch r.IntN(4) {
			case 0:
				return int64(math.MinInt64)
			case 1:
				return int64(r.IntN(100) - 50)
			}
			return int64(r.Uint64())
		}},
	{"int32", record.Column{Type: record.Int, Bits: 32}, "integer", "int",
		func(r *rand.Rand) any { return int64(int32(r.Uint32())) }},
	{"uint", record.Column{Type: record.Uint, Bits: 64}, "numeric(20,0)", "bigint unsigned",
		func(r *rand.Rand) any { return r.Uint64() }},
	{"float8", record.Column{Type: record.Float, Bits: 64}, "double precision", "double",
		func(r *rand.Rand) any { return randFloat(r, 64) }},
	{"float4", record.Column{Type: record.Float, Bits: 32}, "real", "float",
		func(r *rand.Rand) any { return randFloat(r, 32) }},
	{"decimal", record.Column{Type: record.Decimal, Precision: 12, Scale: 4}, "numeric(12,4)", "decimal(12,4)",
		func(r *rand.Rand) any {
			s := strconv.FormatInt(r.Int64N(1e12)-5e11, 10)
			for len(s) < 6 {
				s = "0" + s
			}
			neg := strings.HasPrefix(s, "-")
			s = strings.TrimPrefix(s, "-")
			for len(s) < 5 {
				s = "0" + s
			}
			s = s[:len(s)-4] + "." + s[len(s)-4:]
			if neg {
				s = "-" + s
			}
			return s
		}},
	{"text", record.Column{Type: record.Text}, "text", "text",
		func(r *rand.Rand) any { return randText(r, 40) }},
	{"varchar", record.Column{Type: record.Text, Length: 20}, "varchar(20)", "varchar(20)",
		func(r *rand.Rand) any { return randText(r, 20) }},
	{"char", record.Column{Type: record.Text, Length: 5, Fixed: true}, "char(5)", "char(5)",
		func(r *rand.Rand) any { return randText(r, 5) }},
	{"bytes", record.Column{Type: record.Bytes}, "bytea", "blob",
		func(r *rand.Rand) any {
			b := make([]byte, r.IntN(20))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}},
	{"date", record.Column{Type: record.Date}, "date", "date",
		func(r *rand.Rand) any {
			return time.Date(1000+r.IntN(8999), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		}},
	{"time", record.Column{Type: record.Time, Precision: 6}, "time(6)", "time(6)",
		func(r *rand.Rand) any {
			s := fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60))
			if r.IntN(2) == 0 {
				s += fmt.Sprintf(".%06d", r.IntN(1e6))
			}
			return s
		}},
	{"timestamp", record.Column{Type: record.Timestamp, Precision: 6}, "timestamp(6)", "datetime(6)",
		func(r *rand.Rand) any {
			return time.UnixMicro(r.Int64N(253402300799000000-(-30610224000000000)) - 30610224000000000).UTC()
		}},
	{"timestamptz", record.Column{Type: record.TimestampTZ, Precision: 6}, "timestamptz(6)", "timestamp(6)",
		func(r *rand.Rand) any {
			return time.UnixMicro(1e6 + r.Int64N(2147483647e6-2e6)).In(time.FixedZone("X", 3600*(r.IntN(25)-12)))
		}},
	{"uuid", record.Column{Type: record.UUID}, "uuid", "char(36)",
		func(r *rand.Rand) any {
			s := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()&(1<<48-1))
			return s
		}},
	{"json", record.Column{Type: record.JSON}, "jsonb", "json",
		func(r *rand.Rand) any {
			return fmt.Sprintf(`{"n": %d.%d0, "s": %q, "a": [true, null, {"z": 1, "b": "x"}]}`, r.IntN(100), r.IntN(10), randText(r, 8))
		}},
}

// pgArg and myArg turn a record value into a driver argument.
func pgArg(s typeSpec, v any) any {
	switch x := v.(type) {
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	return v
}

func myArg(s typeSpec, v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC()
	}
	return v
}

const twinRows = 300

// twinTable creates table tw(id, one column per spec) and fills it with
// random values (10% NULL), returning the inserted rows.
func twinTable(t *testing.T, dialect string, exec func(q string, args ...any)) [][]any {
	q := QuoteIdent
	var defs []string
	defs = append(defs, q(dialect, "id")+" bigint primary key")
	for _, s := range twinSpecs {
		native := s.pg
		if dialect == MySQL {
			native = s.my
		}
		defs = append(defs, q(dialect, "c_"+s.name)+" "+native+" null")
	}
	exec("CREATE TABLE tw (" + strings.Join(defs, ", ") + ")")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var rows [][]any
	for i := range twinRows {
		row := []any{int64(i)}
		args := []any{int64(i)}
		ph := []string{placeholder(dialect, 1)}
		for j, s := range twinSpecs {
			var v any
			if r.IntN(10) != 0 {
				v = s.gen(r)
			}
			row = append(row, v)
			if dialect == MySQL {
				args = append(args, myArg(s, v))
			} else {
				args = append(args, pgArg(s, v))
			}
			ph = append(ph, placeholder(dialect, j+2))
		}
		exec("INSERT INTO tw VALUES ("+strings.Join(ph, ", ")+")", args...)
		rows = append(rows, row)
	}
	return rows
}

func placeholder(dialect string, n int) string {
	if dialect == MySQL {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

func twinSide(dialect string, p *SQLPushdown, skip func(typeSpec) bool) (Side, []int) {
	s := Side{Store: dialect, Table: "tw", Key: []string{"id"}, SQL: p,
		Columns: []record.Column{{Name: "id", Type: record.Int}}}
	idx := []int{0}
	for i, sp := range twinSpecs {
		if skip != nil && skip(sp) {
			continue
		}
		c := sp.col
		c.Name = "c_" + sp.name
		if dialect == Postgres {
			c.Native = sp.pg
		} else {
			c.Native = sp.my
		}
		s.Columns = append(s.Columns, c)
		idx = append(idx, i+1)
	}
	return s, idx
}

// checkTwins compares, row by row and field by field, what the server
// computes with SQLCanonicalExpr (or reads raw and canonicalises) with what
// Canonical gives for the inserted value; then the chunk hash the server
// computes with the one computed in Go.
func checkTwins(t *testing.T, dialect string, p *SQLPushdown, rows [][]any) {
	ctx := context.Background()
	side, idx := twinSide(dialect, p, nil)
	rd, err := newSQLReader(&side)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = rd.rows(ctx, keyRange{}, func(f fetched) error {
		want := rows[i]
		for j, ci := range idx {
			exp := string(AppendField(nil, side.Columns[j], want[ci]))
			if f.fields[j] != exp {
				t.Errorf("%s row %d column %s (%v): server %q, Go %q", dialect, i, side.Columns[j].Name, want[ci], f.fields[j], exp)
			}
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(rows) {
		t.Fatalf("read %d rows, want %d", i, len(rows))
	}

	// Push-down: only the columns the dialect canonicalises.
	side, idx = twinSide(dialect, p, func(s typeSpec) bool {
		c := s.col
		c.Name = "x"
		return SQLCanonicalExpr(dialect, c, "x") == ""
	})
	rd, err = newSQLReader(&side)
	if err != nil {
		t.Fatal(err)
	}
	if !rd.pushdown() {
		t.Fatal("expected push-down")
	}
	kr := keyRange{lo: record.Key{int64(10)}, hi: record.Key{int64(250)}}
	h, err := rd.hash(ctx, kr)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	var n int64
	vals := make([]any, len(idx))
	for _, row := range rows[11:251] {
		for j, ci := range idx {
			vals[j] = row[ci]
		}
		sum += RowHash(AppendRow(nil, side.Columns, vals))
		n++
	}
	if h.count != n || h.sum != sum {
		t.Fatalf("%s push-down hash (%d, %x), Go (%d, %x)", dialect, h.count, h.sum, n, sum)
	}
	t.Logf("%s: %d columns pushed down, %d rows agree", dialect, len(side.Columns), n)
}

func TestTwinsPostgres(t *testing.T) {
	t.Parallel()
	pool := pgDB(t)
	rows := twinTable(t, Postgres, func(q string, args ...any) { mustExecPG(t, pool, q, args...) })
	checkTwins(t, Postgres, &SQLPushdown{Dialect: Postgres, Pool: pool}, rows)
}

func TestTwinsMariaDB(t *testing.T) {
	t.Parallel()
	db := myDB(t)
	rows := twinTable(t, MySQL, func(q string, args ...any) { mustExecMy(t, db, q, args...) })
	checkTwins(t, MySQL, &SQLPushdown{Dialect: MySQL, DB: db}, rows)
}

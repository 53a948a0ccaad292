package verify

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// Side describes one side of a comparison: the old store or the new one.
type Side struct {
	// Store names the store, for reports and error messages.
	Store string
	// Source reads the side's rows when SQL is nil, and describes its table
	// (to report missing columns). Optional when SQL is set.
	Source sources.Source
	// Table is the side's own table (or file) name.
	Table string
	// Columns are the compared columns in comparison order, already mapped
	// by the plan: Columns[i] of the old side is compared with Columns[i] of
	// the new side. Dropped columns are left out of both. Each Column's Type
	// (and Native, Bits, Fixed) is this side's own.
	Columns []record.Column
	// Names are the side's own column names, parallel to Columns;
	// nil means Columns[i].Name.
	Names []string
	// Key names the side's ID key columns, in key order. They must be
	// among Names.
	Key []string
	// Version optionally names the side's version column (updated_at):
	// used for in-flight rows (Options.Lag) and --since-last.
	Version string
	// SQL, when set, computes chunk hashes inside the database. nil streams
	// the rows through Source.Scan and hashes them in Go.
	SQL *SQLPushdown
}

// SQLPushdown lets verify run its own SQL on a side's server.
type SQLPushdown struct {
	Dialect string        // Postgres ("postgres") or MySQL ("mysql", also MariaDB)
	DB      *sql.DB       // MySQL connection pool
	Pool    *pgxpool.Pool // PostgreSQL connection pool
	Schema  string        // PostgreSQL schema, or MySQL database; "" = the connection's default
}

func (s *Side) name(i int) string {
	if s.Names != nil {
		return s.Names[i]
	}
	return s.Columns[i].Name
}

// keyRange is the chunk (lo, hi]: rows whose key is greater than lo and at
// most hi. A nil bound is open.
type keyRange struct{ lo, hi record.Key }

// chunkHash is what one side says about one chunk.
type chunkHash struct {
	count int64
	sum   uint64
	maxV  any // greatest version seen, when the side has a version column
}

// fetched is one row read for a field-by-field comparison.
type fetched struct {
	id      string // the key columns' field encodings, concatenated
	key     record.Key
	fields  []string // field encodings, as AppendField gives them
	version any
}

// reader is what the narrowing algorithm asks of one side.
type reader interface {
	hash(ctx context.Context, r keyRange) (chunkHash, error)
	// eachBound calls fn with every step-th key of r, in key order, as
	// it finds them.
	eachBound(ctx context.Context, r keyRange, step int, fn func(record.Key) error) error
	rows(ctx context.Context, r keyRange, fn func(fetched) error) error
	// changed reports whether r holds a row whose version is >= since.
	changed(ctx context.Context, r keyRange, since any) (bool, error)
	// missing lists the compared columns the side does not have.
	missing(ctx context.Context) ([]string, error)
	pushdown() bool
	// prepare readies the reader once before use.
	prepare(ctx context.Context) error
}

// keyColumns returns the Column of each key column.
func keyColumns(s *Side) ([]record.Column, error) {
	out := make([]record.Column, len(s.Key))
	for i, k := range s.Key {
		found := false
		for j := range s.Columns {
			if s.name(j) == k {
				out[i] = s.Columns[j]
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("key column %q of %s.%s is not among the compared columns", k, s.Store, s.Table)
		}
	}
	return out, nil
}

// keyIndexes returns the position in Columns of each key column.
func keyIndexes(s *Side) []int {
	out := make([]int, len(s.Key))
	for i, k := range s.Key {
		for j := range s.Columns {
			if s.name(j) == k {
				out[i] = j
				break
			}
		}
	}
	return out
}

// rowID is the canonical identity of a fetched row: its key fields'
// encodings, which compare across stores whatever Go types drivers gave.
func rowID(fields []string, keyIdx []int) string {
	var b strings.Builder
	for _, i := range keyIdx {
		b.WriteString(fields[i])
	}
	return b.String()
}

// normKey gives a key value the Go type of its logical type, whichever
// driver read it, so keys compare and encode alike on both sides.
func normKey(c record.Column, v any) any {
	if dv, ok := v.(driver.Valuer); ok { // pgtype.Numeric and friends
		if x, err := dv.Value(); err == nil {
			v = x
		}
	}
	switch x := v.(type) {
	case nil:
		return nil
	case [16]byte: // pgx's uuid
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case []byte:
		if c.Type == record.Bytes {
			return append([]byte(nil), x...)
		}
		v = string(x)
	case time.Time:
		return x.UTC()
	case int32:
		v = int64(x)
	case int16:
		v = int64(x)
	case int8:
		v = int64(x)
	case int:
		v = int64(x)
	case uint32:
		v = uint64(x)
	}
	s, isStr := v.(string)
	switch c.Type {
	case record.Int, record.Year:
		if isStr {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
	case record.Uint, record.Bit:
		if isStr {
			if n, err := strconv.ParseUint(s, 10, 64); err == nil {
				return n
			}
		}
		if n, ok := v.(int64); ok && n >= 0 {
			return uint64(n)
		}
	case record.Date, record.Timestamp, record.TimestampTZ:
		if isStr {
			for _, l := range []string{"2006-01-02 15:04:05.999999", "2006-01-02"} {
				if t, err := time.Parse(l, s); err == nil {
					return t
				}
			}
		}
	}
	return v
}

// fromText reads back a value SQLRawExpr selected, in the Go type of its
// logical type, for Canonical.
func fromText(c record.Column, s string) any {
	switch c.Type {
	case record.Float:
		bits := 64
		if c.Bits == 32 {
			bits = 32
		}
		if f, err := strconv.ParseFloat(s, bits); err == nil {
			return f
		}
		switch strings.ToLower(s) {
		case "nan":
			return nan()
		case "inf", "infinity":
			return inf(1)
		case "-inf", "-infinity":
			return inf(-1)
		}
	}
	return s
}

// mod64 reduces a decimal integer text (a server-side SUM) modulo 2^64.
func mod64(s string) (uint64, error) {
	var n big.Int
	if _, ok := n.SetString(strings.TrimSpace(s), 10); !ok {
		return 0, fmt.Errorf("chunk hash: bad sum %q", s)
	}
	m := new(big.Int).Lsh(big.NewInt(1), 64)
	n.Mod(&n, m) // Euclidean: always in [0, 2^64)
	return n.Uint64(), nil
}

// bounds returns every step-th key of kr in rd, in key order.
func bounds(ctx context.Context, rd reader, kr keyRange, step int) ([]record.Key, error) {
	var out []record.Key
	err := rd.eachBound(ctx, kr, step, func(k record.Key) error {
		out = append(out, k)
		return nil
	})
	return out, err
}

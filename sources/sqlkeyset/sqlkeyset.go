// Package sqlkeyset builds the SELECT statements SQL sources use for keyset
// pagination and for fetching rows by key.
//
// A Dialect says how one SQL engine quotes identifiers and spells parameter
// markers. Select renders one page of a keyset scan:
//
//	SELECT cols FROM t
//	WHERE <after> AND <upto> AND <version bounds>
//	ORDER BY k1, k2, ...
//	LIMIT n
//
// The "after" bound is strict and the "upto" bound inclusive. By default
// they are written in the expanded form MySQL/MariaDB optimise reliably,
//
//	(a >= ? AND (a > ? OR (a = ? AND b > ?)))
//
// with a redundant leading-column range that lets the optimiser pick an
// index range; a Dialect with RowValues set uses (a, b) > (?, ?) instead,
// which PostgreSQL handles well.
//
// Values are never concatenated into the SQL text: every bound is a
// parameter, returned in args in marker order. Identifiers are always quoted.
package sqlkeyset

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect is how one SQL engine spells identifiers and parameters.
type Dialect struct {
	// QuoteIdent quotes one identifier (a table or column name).
	QuoteIdent func(name string) string
	// Placeholder returns the marker of the n-th parameter (1-based).
	Placeholder func(n int) string
	// RowValues selects (a, b) > (?, ?) row comparisons for composite
	// bounds instead of the expanded OR form.
	RowValues bool
}

// QuoteBacktick quotes an identifier MySQL style: `name`, doubling any
// backtick inside.
func QuoteBacktick(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// QuoteDouble quotes an identifier SQL-standard style: "name", doubling
// any double quote inside.
func QuoteDouble(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func question(int) string { return "?" }

func dollar(n int) string { return "$" + strconv.Itoa(n) }

// The dialects of the SQL stores transit reads.
var (
	MySQL    = Dialect{QuoteIdent: QuoteBacktick, Placeholder: question}
	SQLite   = Dialect{QuoteIdent: QuoteDouble, Placeholder: question}
	Postgres = Dialect{QuoteIdent: QuoteDouble, Placeholder: dollar, RowValues: true}
)

// Select describes one page of a keyset scan. All names are unquoted.
type Select struct {
	Schema  string   // optional schema/database qualifier of Table
	Table   string   // table name
	Columns []string // selected columns, in order; must not be empty
	OrderBy []string // sort key; may be empty (no ORDER BY, no bounds)
	After   []any    // when non-nil: OrderBy tuple > After (len(After) == len(OrderBy))
	Upto    []any    // when non-nil: OrderBy tuple <= Upto (len(Upto) == len(OrderBy))
	// Version names the column VersionFrom (>=) and VersionUntil (<=)
	// bound; each bound applies only when non-nil.
	Version      string
	VersionFrom  any
	VersionUntil any
	Limit        int // LIMIT n when > 0
	Offset       int // OFFSET n when > 0 (with Limit): only to step along an index, never to page
	// Wrap, when set, rewrites the select-list entry of a column: it gets
	// the column name and its quoted form and returns the SQL to select
	// (e.g. a cast). Bounds and ORDER BY always use the bare column.
	Wrap func(column, quoted string) string
}

// Bind sets s's bounds from a scan's: the key bounds after and upto
// (record.Key values, nil for none) through key, and the version bounds from
// and until (nil for none) through arg, which turn them into driver
// arguments. An error names the bound.
func (s *Select) Bind(after, upto []any, from, until any, key func([]any) ([]any, error), arg func(any) (any, error)) error {
	var err error
	if s.After, err = key(after); err != nil {
		return fmt.Errorf("after: %w", err)
	}
	if s.Upto, err = key(upto); err != nil {
		return fmt.Errorf("upto: %w", err)
	}
	if from != nil {
		if s.VersionFrom, err = arg(from); err != nil {
			return fmt.Errorf("version from: %w", err)
		}
	}
	if until != nil {
		if s.VersionUntil, err = arg(until); err != nil {
			return fmt.Errorf("version until: %w", err)
		}
	}
	return nil
}

// builder accumulates SQL text and arguments.
type builder struct {
	d    Dialect
	sb   strings.Builder
	args []any
}

func (b *builder) arg(v any) {
	b.args = append(b.args, v)
	b.sb.WriteString(b.d.Placeholder(len(b.args)))
}

func (b *builder) ident(name string) { b.sb.WriteString(b.d.QuoteIdent(name)) }

func (b *builder) table(schema, table string) {
	if schema != "" {
		b.ident(schema)
		b.sb.WriteByte('.')
	}
	b.ident(table)
}

func (b *builder) list(names []string) {
	for i, n := range names {
		if i > 0 {
			b.sb.WriteString(", ")
		}
		b.ident(n)
	}
}

func (b *builder) selectList(names []string, wrap func(column, quoted string) string) {
	if wrap == nil {
		b.list(names)
		return
	}
	for i, n := range names {
		if i > 0 {
			b.sb.WriteString(", ")
		}
		b.sb.WriteString(wrap(n, b.d.QuoteIdent(n)))
	}
}

// Table returns the quoted, optionally schema-qualified table name.
func (d Dialect) Table(schema, table string) string {
	b := builder{d: d}
	b.table(schema, table)
	return b.sb.String()
}

// Select renders s as one SELECT statement and its arguments.
func (d Dialect) Select(s Select) (query string, args []any, err error) {
	if len(s.Columns) == 0 {
		return "", nil, fmt.Errorf("sqlkeyset: select from %s: no columns", s.Table)
	}
	if s.After != nil && len(s.After) != len(s.OrderBy) {
		return "", nil, fmt.Errorf("sqlkeyset: select from %s: After has %d values for %d order columns", s.Table, len(s.After), len(s.OrderBy))
	}
	if s.Upto != nil && len(s.Upto) != len(s.OrderBy) {
		return "", nil, fmt.Errorf("sqlkeyset: select from %s: Upto has %d values for %d order columns", s.Table, len(s.Upto), len(s.OrderBy))
	}
	if (s.VersionFrom != nil || s.VersionUntil != nil) && s.Version == "" {
		return "", nil, fmt.Errorf("sqlkeyset: select from %s: version bounds without a version column", s.Table)
	}
	b := builder{d: d}
	b.sb.WriteString("SELECT ")
	b.selectList(s.Columns, s.Wrap)
	b.sb.WriteString(" FROM ")
	b.table(s.Schema, s.Table)
	var conds int
	and := func() {
		if conds == 0 {
			b.sb.WriteString(" WHERE ")
		} else {
			b.sb.WriteString(" AND ")
		}
		conds++
	}
	if len(s.OrderBy) > 0 && s.After != nil {
		and()
		b.bound(s.OrderBy, s.After, ">", ">")
	}
	if len(s.OrderBy) > 0 && s.Upto != nil {
		and()
		b.bound(s.OrderBy, s.Upto, "<", "<=")
	}
	if s.VersionFrom != nil {
		and()
		b.ident(s.Version)
		b.sb.WriteString(" >= ")
		b.arg(s.VersionFrom)
	}
	if s.VersionUntil != nil {
		and()
		b.ident(s.Version)
		b.sb.WriteString(" <= ")
		b.arg(s.VersionUntil)
	}
	if len(s.OrderBy) > 0 {
		b.sb.WriteString(" ORDER BY ")
		b.list(s.OrderBy)
	}
	if s.Limit > 0 {
		b.sb.WriteString(" LIMIT ")
		b.sb.WriteString(strconv.Itoa(s.Limit))
		if s.Offset > 0 {
			b.sb.WriteString(" OFFSET ")
			b.sb.WriteString(strconv.Itoa(s.Offset))
		}
	}
	return b.sb.String(), b.args, nil
}

// bound writes cols op vals: op is the strict comparison for all but the
// last column ("<" or ">") and last the one for the last column (which
// makes the bound strict or inclusive).
func (b *builder) bound(cols []string, vals []any, op, last string) {
	n := len(cols)
	if n == 1 {
		b.ident(cols[0])
		b.sb.WriteString(" " + last + " ")
		b.arg(vals[0])
		return
	}
	if b.d.RowValues {
		b.sb.WriteByte('(')
		b.list(cols)
		b.sb.WriteString(") " + last + " (")
		for i := range vals {
			if i > 0 {
				b.sb.WriteString(", ")
			}
			b.arg(vals[i])
		}
		b.sb.WriteByte(')')
		return
	}
	// (a >= ? AND (a > ? OR (a = ? AND b > ?) OR ...))
	b.sb.WriteByte('(')
	b.ident(cols[0])
	b.sb.WriteString(" " + op + "= ")
	b.arg(vals[0])
	b.sb.WriteString(" AND (")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.sb.WriteString(" OR ")
		}
		if i > 0 {
			b.sb.WriteByte('(')
		}
		for j := 0; j < i; j++ {
			b.ident(cols[j])
			b.sb.WriteString(" = ")
			b.arg(vals[j])
			b.sb.WriteString(" AND ")
		}
		b.ident(cols[i])
		if i == n-1 {
			b.sb.WriteString(" " + last + " ")
		} else {
			b.sb.WriteString(" " + op + " ")
		}
		b.arg(vals[i])
		if i > 0 {
			b.sb.WriteByte(')')
		}
	}
	b.sb.WriteString("))")
}

// Get describes a fetch of rows by key. All names are unquoted.
type Get struct {
	Schema  string                             // optional schema/database qualifier of Table
	Table   string                             // table name
	Columns []string                           // selected columns, in order; must not be empty
	Key     []string                           // key columns; each of IDs has len(Key) values
	IDs     [][]any                            // must not be empty; callers split long lists
	Wrap    func(column, quoted string) string // as Select.Wrap
}

// GetByKeys renders a SELECT of g.Columns for the rows whose key columns
// equal one of g.IDs. A single-column key uses k IN (...); a composite key
// uses (k1 = ? AND k2 = ?) OR ... (row-value IN when the Dialect has
// RowValues).
func (d Dialect) GetByKeys(g Get) (query string, args []any, err error) {
	table, columns, key, ids := g.Table, g.Columns, g.Key, g.IDs
	if len(columns) == 0 || len(key) == 0 || len(ids) == 0 {
		return "", nil, fmt.Errorf("sqlkeyset: get from %s: need columns, key and ids", table)
	}
	b := builder{d: d}
	b.sb.WriteString("SELECT ")
	b.selectList(columns, g.Wrap)
	b.sb.WriteString(" FROM ")
	b.table(g.Schema, table)
	b.sb.WriteString(" WHERE ")
	for i, id := range ids {
		if len(id) != len(key) {
			return "", nil, fmt.Errorf("sqlkeyset: get from %s: id %d has %d values for %d key columns", table, i, len(id), len(key))
		}
	}
	switch {
	case len(key) == 1:
		b.ident(key[0])
		b.sb.WriteString(" IN (")
		for i, id := range ids {
			if i > 0 {
				b.sb.WriteString(", ")
			}
			b.arg(id[0])
		}
		b.sb.WriteByte(')')
	case d.RowValues:
		b.sb.WriteByte('(')
		b.list(key)
		b.sb.WriteString(") IN (")
		for i, id := range ids {
			if i > 0 {
				b.sb.WriteString(", ")
			}
			b.sb.WriteByte('(')
			for j, v := range id {
				if j > 0 {
					b.sb.WriteString(", ")
				}
				b.arg(v)
			}
			b.sb.WriteByte(')')
		}
		b.sb.WriteByte(')')
	default:
		for i, id := range ids {
			if i > 0 {
				b.sb.WriteString(" OR ")
			}
			b.sb.WriteByte('(')
			for j, v := range id {
				if j > 0 {
					b.sb.WriteString(" AND ")
				}
				b.ident(key[j])
				b.sb.WriteString(" = ")
				b.arg(v)
			}
			b.sb.WriteByte(')')
		}
	}
	return b.sb.String(), b.args, nil
}

package postgres

import (
	"strconv"
	"strings"

	"github.com/transitdb/transit/record"
)

// PGType is the PostgreSQL column type transit creates for c. A TargetType
// set on the column is used verbatim. The table in docs/types.md explains
// every row of this mapping.
func PGType(c record.Column) string {
	if c.TargetType != "" {
		return c.TargetType
	}
	switch c.Type {
	case record.Bool:
		return "boolean"
	case record.Int:
		switch {
		case c.Bits > 0 && c.Bits <= 16:
			return "smallint"
		case c.Bits > 16 && c.Bits <= 32:
			return "integer"
		}
		return "bigint"
	case record.Uint:
		// The smallest signed type that holds the whole unsigned range.
		switch {
		case c.Bits > 0 && c.Bits <= 8:
			return "smallint"
		case c.Bits > 8 && c.Bits <= 24:
			return "integer"
		case c.Bits > 24 && c.Bits <= 32:
			return "bigint"
		}
		return "numeric(20,0)"
	case record.Float:
		if c.Bits > 0 && c.Bits <= 32 {
			return "real"
		}
		return "double precision"
	case record.Decimal:
		if c.Precision > 0 {
			return "numeric(" + strconv.Itoa(c.Precision) + "," + strconv.Itoa(c.Scale) + ")"
		}
		return "numeric"
	case record.Text:
		// CHAR(n) too becomes varchar(n): MySQL hands CHAR values over
		// without their trailing pad, and PostgreSQL's char(n) would pad
		// them again on every read.
		if c.Length > 0 {
			return "varchar(" + strconv.Itoa(c.Length) + ")"
		}
		return "text"
	case record.Bytes:
		return "bytea"
	case record.Date:
		return "date"
	case record.Time:
		return withPrecision("time", c.Precision)
	case record.Timestamp:
		return withPrecision("timestamp", c.Precision)
	case record.TimestampTZ:
		return withPrecision("timestamptz", c.Precision)
	case record.JSON:
		return "jsonb"
	case record.UUID:
		return "uuid"
	case record.Enum, record.Set:
		return "text" // members are enforced by a CHECK constraint, see checkClause
	case record.Bit:
		if c.Bits > 0 && c.Bits <= 64 {
			return "bit(" + strconv.Itoa(c.Bits) + ")"
		}
		return "bit varying(64)"
	case record.Year:
		return "smallint"
	}
	return "text"
}

// withPrecision qualifies a time type with its fractional digits. Zero
// means "not given" and keeps PostgreSQL's default of microseconds, so a
// source that does not report precision loses nothing.
func withPrecision(name string, p int) string {
	if p > 0 && p <= 6 {
		return name + "(" + strconv.Itoa(p) + ")"
	}
	return name
}

// checkClause is the CHECK constraint that keeps an Enum or Set column to
// its members, or "" when there is none.
func checkClause(c record.Column) string {
	if c.TargetType != "" || len(c.Values) == 0 {
		return ""
	}
	lits := make([]string, len(c.Values))
	for i, v := range c.Values {
		lits[i] = quoteLiteral(v)
	}
	col := quoteIdent(c.Name)
	switch c.Type {
	case record.Enum:
		return "CHECK (" + col + " IN (" + strings.Join(lits, ", ") + "))"
	case record.Set:
		return "CHECK (" + col + " = '' OR string_to_array(" + col + ", ',') <@ ARRAY[" + strings.Join(lits, ", ") + "]::text[])"
	}
	return ""
}

// quoteLiteral quotes s as an SQL string literal, for the few places where
// DDL cannot take parameters (CHECK constraints). It works whatever
// standard_conforming_strings says.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return `E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return "'" + s + "'"
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// targetCol is what the catalog says about one column of the target table.
type targetCol struct {
	name     string
	typname  string // pg_type.typname of the base type: int4, varchar, numeric, …
	typmod   int32
	notNull  bool
	identity bool
}

// maxChars is the declared length of a varchar(n)/char(n) column, 0 if none.
func (c targetCol) maxChars() int {
	switch c.typname {
	case "varchar", "bpchar":
		if c.typmod >= 4 {
			return int(c.typmod - 4)
		}
	}
	return 0
}

// numericPS is the precision and scale of a numeric(p,s) column; ok is
// false for an unconstrained numeric.
func (c targetCol) numericPS() (p, s int, ok bool) {
	if c.typname != "numeric" || c.typmod < 4 {
		return 0, 0, false
	}
	tm := c.typmod - 4
	p = int((tm >> 16) & 0xffff)
	s = int(((tm & 0x7ff) ^ 1024) - 1024)
	return p, s, true
}

// bitLen is n of bit(n)/bit varying(n), 0 if unconstrained.
func (c targetCol) bitLen() int {
	if (c.typname == "bit" || c.typname == "varbit") && c.typmod > 0 {
		return int(c.typmod)
	}
	return 0
}

// needsTextCompare says the type has no equality operator, so IS DISTINCT
// FROM must compare its text form.
func (c targetCol) needsTextCompare() bool {
	switch c.typname {
	case "json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle":
		return true
	}
	return false
}

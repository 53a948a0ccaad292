package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/transitdb/transit/record"
)

// The SQL dialects that can compute chunk hashes on the server.
const (
	Postgres = "postgres"
	MySQL    = "mysql" // MySQL and MariaDB
)

// QuoteIdent quotes an identifier for dialect.
func QuoteIdent(dialect, name string) string {
	if dialect == MySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// pgTimestampFormat is to_char's pattern for TimestampLayout.
const pgTimestampFormat = `YYYY-MM-DD"T"HH24:MI:SS.US"Z"`

// pgUTC is col as a timestamp in UTC: converted when it is a timestamptz.
func pgUTC(c record.Column, col string) string {
	native := strings.ToLower(c.Native)
	if strings.Contains(native, "with time zone") || strings.HasPrefix(native, "timestamptz") ||
		(native == "" && c.Type == record.TimestampTZ) {
		return "(" + col + " AT TIME ZONE 'UTC')"
	}
	return col
}

// pgWithBC formats col (a date or timestamp, of type typ) with to_char's
// pattern format, whose first four letters are YYYY, and years before 1 as
// Go writes them: astronomical, year 0 for 1 BC, -0001 for 2 BC. to_char
// writes the BC year (1 BC as 0001), so a BC date had the text of the AD
// date of the same digits, and a verify between the two found them equal.
func pgWithBC(col, typ, format string) string {
	// extract(year) is -1 for 1 BC: the astronomical year is one more.
	y := "(extract(year from " + col + ")::int + 1)"
	return fmt.Sprintf("CASE WHEN %s < %s '0001-01-01' AND isfinite(%s) THEN CASE WHEN %s < 0 THEN '-' ELSE '' END || lpad(abs(%s)::text, 4, '0') || to_char(%s, '%s') ELSE to_char(%s, '%s') END",
		col, typ, col, y, y, col, format[4:], col, format)
}

// SQLCanonicalExpr returns the SQL expression that gives, on a server of
// dialect, exactly the text Canonical gives in Go for a value of column c,
// quotedColumn being the column's quoted name. It is NULL when the column
// is NULL. It returns "" when the dialect cannot produce the canonical text
// (JSON on both dialects, floats on MySQL): such columns are canonicalised
// in Go from the text SQLRawExpr returns.
//
// On MySQL the expressions assume the session time zone is UTC (verify sets
// it on every connection it uses); on PostgreSQL floats assume
// extra_float_digits >= 1, the default since PostgreSQL 12.
func SQLCanonicalExpr(dialect string, c record.Column, quotedColumn string) string {
	col := quotedColumn
	native := strings.ToLower(c.Native)
	switch dialect {
	case Postgres:
		switch c.Type {
		case record.Bool:
			if strings.HasPrefix(native, "bool") || native == "" {
				return fmt.Sprintf("CASE %s WHEN true THEN 't' WHEN false THEN 'f' END", col)
			}
			return fmt.Sprintf("CASE WHEN %s <> 0 THEN 't' WHEN %s = 0 THEN 'f' END", col, col)
		case record.Int, record.Uint, record.Year:
			return col + "::text"
		case record.Bit:
			if strings.HasPrefix(native, "bit") {
				return col + "::bigint::text"
			}
			return col + "::text"
		case record.Float:
			if c.Bits == 32 {
				return "trim_scale(" + col + "::float4::float8::numeric)::text"
			}
			return "trim_scale(" + col + "::float8::numeric)::text"
		case record.Decimal:
			return "trim_scale(" + col + "::numeric)::text"
		case record.Bytes:
			return "encode(" + col + ", 'hex')"
		case record.Date:
			return pgWithBC(col, "date", "YYYY-MM-DD")
		case record.Time:
			return "to_char(date '2000-01-01' + " + col + "::time, 'HH24:MI:SS.US')"
		case record.Timestamp, record.TimestampTZ:
			return pgWithBC(pgUTC(c, col), "timestamp", pgTimestampFormat)
		case record.JSON:
			return ""
		case record.UUID:
			return "lower(" + col + "::text)"
		default: // Text, Enum, Set, Unknown
			if c.Type == record.Text && c.Fixed && !strings.HasPrefix(native, "char") && !strings.HasPrefix(native, "bpchar") {
				return "rtrim(" + col + "::text, ' ')"
			}
			return col + "::text"
		}
	case MySQL:
		switch c.Type {
		case record.Bool:
			return fmt.Sprintf("CASE WHEN %s <> 0 THEN 't' WHEN %s = 0 THEN 'f' END", col, col)
		case record.Int, record.Uint, record.Year:
			return "CAST(" + col + " AS CHAR)"
		case record.Bit:
			return "CAST(" + col + "+0 AS CHAR)"
		case record.Float, record.JSON:
			return ""
		case record.Decimal:
			s := "CAST(" + col + " AS CHAR)"
			t := "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM " + s + "))"
			return fmt.Sprintf("IF(INSTR(%s, '.') > 0, IF(%s = '-0', '0', %s), %s)", s, t, t, s)
		case record.Bytes:
			return "LOWER(HEX(" + col + "))"
		case record.Date:
			return "DATE_FORMAT(" + col + ", '%Y-%m-%d')"
		case record.Time:
			return "TIME_FORMAT(" + col + ", '%H:%i:%s.%f')"
		case record.Timestamp, record.TimestampTZ:
			return "DATE_FORMAT(" + col + ", '%Y-%m-%dT%H:%i:%s.%fZ')"
		case record.UUID:
			return "LOWER(CONVERT(" + col + " USING utf8mb4))"
		default:
			if c.Type == record.Text && c.Fixed {
				return "TRIM(TRAILING ' ' FROM CONVERT(" + col + " USING utf8mb4))"
			}
			return "CONVERT(" + col + " USING utf8mb4)"
		}
	}
	return ""
}

// SQLRawExpr returns the expression verify selects for a column that
// SQLCanonicalExpr cannot canonicalise: its value as text, read back by
// fromText and canonicalised in Go.
func SQLRawExpr(dialect string, c record.Column, quotedColumn string) string {
	if dialect == MySQL {
		if c.Type == record.Float {
			// CAST(float AS CHAR) keeps only 6 digits; a double prints
			// in full and a float widens to double exactly.
			return "CAST(" + quotedColumn + " AS DOUBLE)"
		}
		return "CAST(" + quotedColumn + " AS CHAR)"
	}
	return quotedColumn + "::text"
}

// sqlFieldExpr wraps a canonical expression into its field encoding:
// "<byte length>:<text>", or "-1:" for NULL. e is the canonical expression
// of column c (quoted name col). f holds what verify learnt of the server
// (serverFacts) that allows a shortcut.
//
// The expressions are written for speed, since the chunk hashes evaluate
// them for every row (issue 8 §4): types whose canonical text has a fixed
// length get a constant prefix, so the expression is not evaluated twice;
// where a server's own cast to text already is the canonical text
// (integers, and on MySQL dates and text already stored as UTF-8; on
// PostgreSQL dates of years 1 to 9999 under DateStyle ISO) the column is
// used as it is, without a formatting function or a conversion. Each shortcut gives byte for byte the text of the canonical
// expression; the equivalence tests (twin_test.go, equiv_test.go) hash
// both ways.
func sqlFieldExpr(dialect string, c record.Column, col, e string, f serverFacts) string {
	if dialect == MySQL {
		// prefix is the constant "<length>:" of a fixed-length text, or
		// "": then length is the expression of the text's byte length.
		b := "CAST(" + e + " AS BINARY)"
		prefix, length, val := "", "LENGTH("+b+")", b
		switch c.Type {
		case record.Int, record.Uint, record.Year:
			// CONCAT and LENGTH convert a number to the same
			// text as CAST(… AS CHAR).
			length, val = "LENGTH("+col+")", col
		case record.Timestamp, record.TimestampTZ: // DATETIME years are 0000-9999
			prefix = "27:"
		case record.Date:
			// A DATE converts to 'YYYY-MM-DD' (years 0000-9999),
			// as DATE_FORMAT(…, '%Y-%m-%d') writes it.
			prefix, val = "10:", col
		case record.Bytes:
			length = "2 * LENGTH(" + col + ")"
		case record.Text, record.Enum, record.Set:
			// Stored as UTF-8 already: CONVERT(… USING utf8mb4) would
			// give the same bytes, at the cost of a copy, twice.
			if f.utf8[c.Name] {
				val = col
				if c.Type == record.Text && c.Fixed {
					val = "TRIM(TRAILING ' ' FROM " + col + ")"
				}
				length = "LENGTH(" + val + ")"
			}
		}
		if f.notNull[c.Name] {
			// Declared NOT NULL: no NULL to encode, and the parts go
			// straight into the row's CONCAT (one call, not three).
			if prefix != "" {
				return "'" + prefix + "', " + val
			}
			return length + ", ':', " + val
		}
		if prefix != "" {
			return fmt.Sprintf("IF(%s IS NULL, '%s', CONCAT('%s', %s))", col, nullField, prefix, val)
		}
		return fmt.Sprintf("COALESCE(CONCAT(%s, ':', %s), '%s')", length, val, nullField)
	}
	general := fmt.Sprintf("COALESCE(octet_length(%s)::text || ':' || %s, '%s')", e, e, nullField)
	native := strings.ToLower(c.Native)
	switch c.Type {
	case record.Date:
		if f.isoDates && native == "date" {
			return fmt.Sprintf("CASE WHEN %s IS NULL THEN '%s' WHEN %s BETWEEN '0001-01-01' AND '9999-12-31' THEN '10:' || %s::text ELSE %s END",
				col, nullField, col, col, general)
		}
	case record.Timestamp, record.TimestampTZ:
		if !strings.HasPrefix(native, "timestamp") {
			break
		}
		// to_char(…, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') is 27 bytes for
		// the years 1 to 9999.
		// The bounds are instants in UTC, the time zone of the text.
		// In those years the text is to_char's alone (pgWithBC's other
		// branch is for years before 1).
		return fmt.Sprintf("CASE WHEN %s IS NULL THEN '%s' WHEN %s >= '0001-01-01 00:00:00+00' AND %s < '10000-01-01 00:00:00+00' THEN '27:' || to_char(%s, '%s') ELSE %s END",
			col, nullField, col, col, pgUTC(c, col), pgTimestampFormat, general)
	case record.Bytes:
		if e == "encode("+col+", 'hex')" {
			return fmt.Sprintf("COALESCE((2 * octet_length(%s))::text || ':' || %s, '%s')", col, e, nullField)
		}
	}
	return general
}

// sqlRowHashExpr is the server-side row hash of the canonical row text made
// of the field expressions fields: the first 8 bytes of its MD5 digest as a
// 64-bit integer (signed on PostgreSQL, unsigned on MySQL; equal modulo
// 2^64, which is how chunk sums are compared).
func sqlRowHashExpr(dialect string, fields []string) string {
	if dialect == MySQL {
		return "CAST(CONV(SUBSTR(MD5(CONCAT(" + strings.Join(fields, ", ") + ")), 1, 16), 16, 10) AS UNSIGNED)"
	}
	return "('x' || substr(md5(" + strings.Join(fields, " || ") + "), 1, 16))::bit(64)::bigint"
}

// serverFacts is what prepare learns of a server and a table that lets the
// chunk hash take a shortcut (sqlFieldExpr).
type serverFacts struct {
	// isoDates: the PostgreSQL session's DateStyle is ISO, so date::text
	// is a date's canonical text.
	isoDates bool
	// utf8: on MySQL, the textual columns (by name) whose character set
	// stores them as UTF-8 bytes (utf8mb4, utf8mb3, ascii).
	utf8 map[string]bool
	// notNull: on MySQL, the columns (by name) declared NOT NULL. A MySQL
	// field is then a list of CONCAT arguments rather than one
	// expression (sqlRowHashExpr puts them in the row's CONCAT).
	notNull map[string]bool
}

// TableHashSQL is verify's chunk-hash query for the whole of table (WHERE
// TRUE) on the server p, exactly as verify would run it there: the row
// count and the sum modulo 2^64 of the row hashes of columns cols (key: the
// table's key columns). bench/ceiling runs these queries as verify's
// ceiling. It fails when a column has no canonical SQL expression (verify
// hashes such a table in Go).
func TableHashSQL(ctx context.Context, p *SQLPushdown, table string, cols []record.Column, key []string) (string, error) {
	s := cloneSide(Side{Store: p.Dialect, Table: table, Columns: cols, Key: key, SQL: p})
	r, err := newSQLReader(&s)
	if err != nil {
		return "", err
	}
	if !r.push {
		return "", fmt.Errorf("%s: a column has no canonical SQL (verify hashes it in Go)", table)
	}
	if err := r.prepare(ctx); err != nil {
		return "", err
	}
	return chunkHashSQL(r.d, s.Columns, s.Names, r.exprs, r.table, "TRUE", "", r.facts), nil
}

// chunkHashSQL builds the chunk-hash query from the canonical expressions
// exprs; version, when set, is the quoted version column whose maximum is
// selected third.
func chunkHashSQL(dialect string, cols []record.Column, names, exprs []string, table, where, version string, f serverFacts) string {
	fields := make([]string, len(exprs))
	for i, e := range exprs {
		c := cols[i]
		c.Name = names[i] // the name in this store
		fields[i] = sqlFieldExpr(dialect, c, QuoteIdent(dialect, names[i]), e, f)
	}
	if dialect == MySQL {
		ver := ""
		if version != "" {
			ver = ", MAX(" + version + ")"
		}
		return "SELECT COUNT(*), CAST(COALESCE(SUM(" + sqlRowHashExpr(dialect, fields) + "), 0) AS CHAR)" + ver +
			" FROM " + table + " WHERE " + where
	}
	// No subquery to evaluate each expression once: a subquery scan
	// costs more per row than evaluating the cheap expressions twice
	// (salaries, 2.8M rows: about 3x the time of the flat query).
	ver := ""
	if version != "" {
		ver = ", max(" + version + ")"
	}
	return "SELECT count(*), COALESCE(sum(" + sqlRowHashExpr(dialect, fields) + "), 0)::text" + ver +
		" FROM " + table + " WHERE " + where
}

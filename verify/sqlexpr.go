package verify

import (
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
			return "to_char(" + col + ", 'YYYY-MM-DD')"
		case record.Time:
			return "to_char(date '2000-01-01' + " + col + "::time, 'HH24:MI:SS.US')"
		case record.Timestamp, record.TimestampTZ:
			if strings.Contains(native, "with time zone") || strings.HasPrefix(native, "timestamptz") ||
				(native == "" && c.Type == record.TimestampTZ) {
				col = "(" + col + " AT TIME ZONE 'UTC')"
			}
			return "to_char(" + col + `, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
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
// of column c (quoted name col). On MySQL, where the expression would
// otherwise be evaluated twice, types whose canonical text has a fixed
// length get a constant prefix and bytes a prefix computed from the raw
// value; PostgreSQL evaluates the expressions once in a subquery.
func sqlFieldExpr(dialect string, c record.Column, col, e string) string {
	if dialect == MySQL {
		b := "CAST(" + e + " AS BINARY)"
		switch c.Type {
		case record.Timestamp, record.TimestampTZ: // DATETIME years are 0000-9999
			return fmt.Sprintf("IF(%s IS NULL, '%s', CONCAT('27:', %s))", col, nullField, b)
		case record.Date:
			return fmt.Sprintf("IF(%s IS NULL, '%s', CONCAT('10:', %s))", col, nullField, b)
		case record.Bytes:
			return fmt.Sprintf("COALESCE(CONCAT(2 * LENGTH(%s), ':', %s), '%s')", col, b, nullField)
		}
		return fmt.Sprintf("COALESCE(CONCAT(LENGTH(%s), ':', %s), '%s')", b, b, nullField)
	}
	return fmt.Sprintf("COALESCE(octet_length(%s)::text || ':' || %s, '%s')", e, e, nullField)
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

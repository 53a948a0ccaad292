package main

// Type round-trip tests: for every source type in the mapping tables
// (sources/mysql and sources/sqlite package docs, sources/postgres, the
// declared types of the csv and jsonl sources), edge values travel
// source → `transit run` → a fresh PostgreSQL database, are read back and
// compared with the value the source holds; the PostgreSQL column types
// transit created are compared with docs/types.md.
//
// Layout. Each source kind gets one table "rt": an integer key id and one
// column per source type. Row 1 is NULL in every column; every other row
// holds exactly one value in one column (NULL elsewhere), so a value the
// sink rejects costs only its own row and its subtest names exactly the
// (source kind, type, value) that broke: TestTypeRoundTrip/mysql/decimal_65_30/max.
//
// Canonical forms. Each value is read back from PostgreSQL as col::text in a
// session with TimeZone UTC, DateStyle ISO, bytea_output hex and
// extra_float_digits 1, then both that text and the expected value written
// in the tables below are put in the column's canonical form:
//
//	cText   the text byte for byte: integers, decimals (with the scale the
//	        source shows, e.g. "0.00"), text (trailing spaces and all),
//	        booleans (true/false), dates (YYYY-MM-DD), uuids (lower case),
//	        enum and set members, bit strings (n digits 0/1)
//	cF32    the shortest text that reads back as the same float32
//	cF64    the shortest text that reads back as the same float64
//	cHex    bytes as lower-case hex (no \x)
//	cJSON   JSON compared semantically: decoded, numbers replaced by their
//	        exact value (-1e3 = -1000, 2.50 = 2.5), re-encoded with sorted
//	        keys, so key order, spacing and number spelling (jsonb
//	        normalises them) do not matter, but every value does
//	cTime   HH:MM:SS.ffffff (fraction padded to µs)
//	cTS     YYYY-MM-DD HH:MM:SS.ffffff, UTC wall clock (timestamptz values
//	        are the instant in UTC)
//
// The expected value ("want") is the value as the source itself shows it
// (MySQL strips CHAR's trailing spaces and pads BINARY(n) with zero
// bytes; SQLite's NUMERIC affinity stores 1.50 as the REAL 1.5;
// PostgreSQL's char(n) pads), so the test checks that transit moves what
// the source holds, not what the literal said.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/internal/testenv"
)

type rtCanon int

const (
	cText rtCanon = iota
	cF32
	cF64
	cHex
	cJSON
	cTime
	cTS
)

// rtVal is one edge value: src is how it is written into the source (an
// SQL literal for mysql, sqlite and postgres, the raw field for csv, a JSON
// value for jsonl); want is its canonical form (see the file comment).
type rtVal struct {
	label string
	src   string
	want  string
}

// rtCol is one column of the source table.
type rtCol struct {
	name  string
	decl  string   // source type declaration (csv/jsonl: the declared type)
	pg    string   // PostgreSQL type per docs/types.md, as format_type() prints it
	canon rtCanon  //
	check []string // Enum/Set: members the CHECK constraint must name
	vals  []rtVal
}

func v(label, src, want string) rtVal { return rtVal{label, src, want} }

// sq quotes s as an SQL string literal (standard strings: only ' doubles).
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// js quotes s as a JSON string.
func js(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// Text edge values, shared by every text type. quote makes the source form.
func rtTexts(quote func(string) string) []rtVal {
	raw := []struct{ label, s string }{
		{"empty", ""},
		{"unicode", "héllo wörld ✓ 日本"},
		{"emoji 4-byte", "😀🎉 𝄞"},
		{"trailing spaces", "pad   "},
		{"leading space", " lead"},
		{"quotes backslash", `it's "q" \n \\ %_`},
		{"newline tab", "a\nb\tc\r\nd"},
	}
	out := make([]rtVal, len(raw))
	for i, r := range raw {
		out[i] = v(r.label, quote(r.s), r.s)
	}
	return out
}

func bitString(x uint64, n int) string {
	s := strconv.FormatUint(x, 2)
	return strings.Repeat("0", n-len(s)) + s
}

const jsonNested = `{"a": [1, 2.50, {"b": "é😀", "c": null}], "t": true, "n": -1e3, "s": "q\"uote\\"}`

// ---------------------------------------------------------------- MySQL

func mysqlCols() []rtCol {
	d65 := strings.Repeat("9", 35) + "." + strings.Repeat("9", 30)
	texts := rtTexts(sq)
	return []rtCol{
		{name: "tinyint_1", decl: "tinyint(1)", pg: "boolean", vals: []rtVal{v("0", "0", "false"), v("1", "1", "true")}},
		{name: "tinyint", decl: "tinyint", pg: "smallint", vals: []rtVal{v("min", "-128", "-128"), v("max", "127", "127"), v("zero", "0", "0")}},
		{name: "smallint", decl: "smallint", pg: "smallint", vals: []rtVal{v("min", "-32768", "-32768"), v("max", "32767", "32767")}},
		{name: "mediumint", decl: "mediumint", pg: "integer", vals: []rtVal{v("min", "-8388608", "-8388608"), v("max", "8388607", "8388607")}},
		{name: "int", decl: "int", pg: "integer", vals: []rtVal{v("min", "-2147483648", "-2147483648"), v("max", "2147483647", "2147483647"), v("zero", "0", "0")}},
		{name: "bigint", decl: "bigint", pg: "bigint", vals: []rtVal{v("min", "-9223372036854775808", "-9223372036854775808"), v("max", "9223372036854775807", "9223372036854775807"), v("zero", "0", "0")}},
		{name: "tinyint_u", decl: "tinyint unsigned", pg: "smallint", vals: []rtVal{v("zero", "0", "0"), v("max", "255", "255")}},
		{name: "smallint_u", decl: "smallint unsigned", pg: "integer", vals: []rtVal{v("max", "65535", "65535")}},
		{name: "mediumint_u", decl: "mediumint unsigned", pg: "integer", vals: []rtVal{v("max", "16777215", "16777215")}},
		{name: "int_u", decl: "int unsigned", pg: "bigint", vals: []rtVal{v("max", "4294967295", "4294967295")}},
		{name: "bigint_u", decl: "bigint unsigned", pg: "numeric(20,0)", vals: []rtVal{v("max", "18446744073709551615", "18446744073709551615"),
			v("2^63", "9223372036854775808", "9223372036854775808"), v("zero", "0", "0")}},
		{name: "decimal_10_2", decl: "decimal(10,2)", pg: "numeric(10,2)", vals: []rtVal{v("negative", "-12345678.90", "-12345678.90"),
			v("zero scale kept", "0.00", "0.00"), v("minus one cent", "-0.01", "-0.01"), v("max", "99999999.99", "99999999.99"), v("padded", "7.5", "7.50")}},
		{name: "decimal_65_30", decl: "decimal(65,30)", pg: "numeric(65,30)", vals: []rtVal{v("max", d65, d65), v("min", "-"+d65, "-"+d65),
			v("tiny", "0.000000000000000000000000000001", "0.000000000000000000000000000001"), v("zero", "0", "0."+strings.Repeat("0", 30))}},
		{name: "decimal_10_0", decl: "decimal(10,0)", pg: "numeric(10,0)", vals: []rtVal{v("max", "9999999999", "9999999999"), v("min", "-9999999999", "-9999999999"), v("zero", "0", "0")}},
		// MariaDB's text protocol prints FLOAT with 6 significant digits
		// (16777216 as 16777200); a source reading it as printed loses the
		// value. 2^24, 7 digits, max and min normal catch that.
		{name: "float", decl: "float", pg: "real", canon: cF32, vals: []rtVal{v("1.5", "1.5", "1.5"), v("0.1", "0.1", "0.1"), v("negative", "-2.25", "-2.25"),
			v("2^24", "16777216", "16777216"), v("7 digits", "1234567", "1234567"), v("max", "3.4028234e38", "3.4028235e38"), v("min normal", "1.17549435e-38", "1.17549435e-38")}},
		{name: "double", decl: "double", pg: "double precision", canon: cF64, vals: []rtVal{v("0.1", "0.1", "0.1"), v("17 digits", "123456789.123456789", "123456789.12345679"),
			v("max", "-1.7976931348623157e308", "-1.7976931348623157e308"), v("denormal min", "5e-324", "5e-324"), v("zero", "0", "0")}},
		{name: "char_10", decl: "char(10)", pg: "character varying(10)", vals: []rtVal{v("plain", sq("abc"), "abc"), v("trailing spaces stripped by MySQL", sq("ab   "), "ab"),
			v("empty", sq(""), ""), v("10 emoji", sq(strings.Repeat("😀", 10)), strings.Repeat("😀", 10))}},
		{name: "varchar_8", decl: "varchar(8)", pg: "character varying(8)", vals: []rtVal{v("empty", sq(""), ""), v("trailing spaces", sq("ab  "), "ab  "),
			v("8 emoji", sq(strings.Repeat("😀", 8)), strings.Repeat("😀", 8)), v("unicode", sq("ñü日本"), "ñü日本")}},
		{name: "tinytext", decl: "tinytext", pg: "text", vals: texts},
		{name: "text", decl: "text", pg: "text", vals: texts},
		{name: "mediumtext", decl: "mediumtext", pg: "text", vals: texts},
		{name: "longtext", decl: "longtext", pg: "text", vals: texts},
		{name: "binary_4", decl: "binary(4)", pg: "bytea", canon: cHex, vals: []rtVal{v("padded", "X'00FF'", "00ff0000"), v("full", "X'FF000001'", "ff000001")}},
		{name: "varbinary_8", decl: "varbinary(8)", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", "X'00FF00'", "00ff00"), v("empty", "X''", ""), v("trailing zero", "X'4100'", "4100")}},
		{name: "tinyblob", decl: "tinyblob", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", "X'00FF'", "00ff"), v("empty", "X''", "")}},
		{name: "blob", decl: "blob", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", "X'00FF'", "00ff"), v("empty", "X''", ""), v("not utf8", "X'C328FFFE'", "c328fffe")}},
		{name: "mediumblob", decl: "mediumblob", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", "X'00FF'", "00ff"), v("empty", "X''", "")}},
		{name: "longblob", decl: "longblob", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", "X'00FF'", "00ff"), v("empty", "X''", "")}},
		{name: "date", decl: "date", pg: "date", vals: []rtVal{v("min", sq("1000-01-01"), "1000-01-01"), v("max", sq("9999-12-31"), "9999-12-31"), v("leap day", sq("2024-02-29"), "2024-02-29")}},
		{name: "datetime", decl: "datetime", pg: "timestamp without time zone", canon: cTS, vals: []rtVal{v("min", sq("1000-01-01 00:00:00"), "1000-01-01 00:00:00"),
			v("max", sq("9999-12-31 23:59:59"), "9999-12-31 23:59:59")}},
		{name: "datetime_6", decl: "datetime(6)", pg: "timestamp(6) without time zone", canon: cTS, vals: []rtVal{v("micros", sq("2024-02-29 12:34:56.123456"), "2024-02-29 12:34:56.123456"),
			v("max", sq("9999-12-31 23:59:59.999999"), "9999-12-31 23:59:59.999999"), v("one micro", sq("1000-01-01 00:00:00.000001"), "1000-01-01 00:00:00.000001")}},
		// NULL: MariaDB's first TIMESTAMP column is otherwise NOT NULL DEFAULT CURRENT_TIMESTAMP.
		{name: "timestamp_6", decl: "timestamp(6) NULL", pg: "timestamp(6) with time zone", canon: cTS, vals: []rtVal{v("min", sq("1970-01-01 00:00:01.000000"), "1970-01-01 00:00:01"),
			v("max", sq("2038-01-19 03:14:07.999999"), "2038-01-19 03:14:07.999999"), v("micros", sq("2024-06-01 12:00:00.000001"), "2024-06-01 12:00:00.000001")}},
		{name: "time", decl: "time", pg: "time without time zone", canon: cTime, vals: []rtVal{v("midnight", sq("00:00:00"), "00:00:00"), v("max of day", sq("23:59:59"), "23:59:59")}},
		{name: "time_6", decl: "time(6)", pg: "time(6) without time zone", canon: cTime, vals: []rtVal{v("micros", sq("23:59:59.999999"), "23:59:59.999999"),
			v("one micro", sq("00:00:00.000001"), "00:00:00.000001"), v("half", sq("12:34:56.5"), "12:34:56.5")}},
		{name: "year", decl: "year", pg: "smallint", vals: []rtVal{v("min", "1901", "1901"), v("max", "2155", "2155"), v("zero", "0", "0")}},
		{name: "json", decl: "json", pg: "jsonb", canon: cJSON, vals: []rtVal{v("nested unicode", sq(jsonNested), jsonNested), v("empty array", sq("[]"), "[]"),
			v("scalar string", sq(`"😀"`), `"😀"`), v("number", sq("12.50"), "12.50"), v("escaped unicode", sq(`{"k":"\u00e9\ud83d\ude00"}`), `{"k":"é😀"}`)}},
		{name: "enum", decl: "enum('small','medium','large','é ü')", pg: "text", check: []string{"small", "medium", "large", "é ü"},
			vals: []rtVal{v("first", sq("small"), "small"), v("unicode", sq("é ü"), "é ü")}},
		{name: "set", decl: "set('a','b','c')", pg: "text", check: []string{"'a'", "'b'", "'c'"},
			vals: []rtVal{v("two reordered", sq("c,a"), "a,c"), v("all", sq("a,b,c"), "a,b,c"), v("empty set", sq(""), "")}},
		{name: "uuid", decl: "uuid", pg: "uuid", vals: []rtVal{v("upper case in", sq("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
			v("nil", sq("00000000-0000-0000-0000-000000000000"), "00000000-0000-0000-0000-000000000000")}},
		{name: "bit_1", decl: "bit(1)", pg: "bit(1)", vals: []rtVal{v("0", "b'0'", "0"), v("1", "b'1'", "1")}},
		{name: "bit_64", decl: "bit(64)", pg: "bit(64)", vals: []rtVal{v("all ones", "b'"+strings.Repeat("1", 64)+"'", strings.Repeat("1", 64)),
			v("zero", "b'0'", bitString(0, 64)), v("one", "b'1'", bitString(1, 64)), v("high bit", "b'1"+strings.Repeat("0", 63)+"'", bitString(1<<63, 64))}},
	}
}

// ---------------------------------------------------------------- SQLite

func sqliteCols() []rtCol {
	return []rtCol{
		{name: "c_integer", decl: "INTEGER", pg: "bigint", vals: []rtVal{v("min", "-9223372036854775808", "-9223372036854775808"),
			v("max", "9223372036854775807", "9223372036854775807"), v("zero", "0", "0")}},
		// NUMERIC affinity stores '12.50' as the REAL 12.5; the source pads to the declared scale.
		{name: "c_numeric_10_2", decl: "NUMERIC(10,2)", pg: "numeric(10,2)", vals: []rtVal{v("negative", "'-12345678.90'", "-12345678.90"),
			v("zero scale kept", "'0.00'", "0.00"), v("minus one cent", "-0.01", "-0.01"), v("real 0.99", "0.99", "0.99"), v("max", "'99999999.99'", "99999999.99")}},
		// DECIMAL has NUMERIC affinity too: SQLite keeps these as REALs (typeof
		// says real), so the source value is the REAL's shortest decimal.
		{name: "c_decimal", decl: "DECIMAL", pg: "numeric", vals: []rtVal{v("many digits become REAL", "'123456789012345678901234567890.123456789'", "123456789012345680000000000000"),
			v("1.50 becomes REAL 1.5", "'1.50'", "1.5"), v("negative", "-42.125", "-42.125"), v("integer", "7", "7")}},
		{name: "c_real", decl: "REAL", pg: "double precision", canon: cF64, vals: []rtVal{v("0.1", "0.1", "0.1"), v("max", "1.7976931348623157e308", "1.7976931348623157e308"),
			v("negative tiny", "-5e-324", "-5e-324"), v("zero", "0.0", "0")}},
		{name: "c_text", decl: "TEXT", pg: "text", vals: rtTexts(sq)},
		{name: "c_varchar_8", decl: "VARCHAR(8)", pg: "character varying(8)", vals: []rtVal{v("8 emoji", sq(strings.Repeat("😀", 8)), strings.Repeat("😀", 8)),
			v("trailing spaces", sq("ab  "), "ab  "), v("empty", "''", "")}},
		{name: "c_nvarchar_10", decl: "NVARCHAR(10)", pg: "character varying(10)", vals: []rtVal{v("unicode", sq("Ünïcødé✓"), "Ünïcødé✓"), v("empty", "''", "")}},
		{name: "c_blob", decl: "BLOB", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", "X'00FF'", "00ff"), v("empty", "X''", ""), v("not utf8", "X'C328FFFE00'", "c328fffe00")}},
		{name: "c_date", decl: "DATE", pg: "date", vals: []rtVal{v("min", "'1000-01-01'", "1000-01-01"), v("max", "'9999-12-31'", "9999-12-31"), v("leap day", "'2024-02-29'", "2024-02-29")}},
		{name: "c_datetime", decl: "DATETIME", pg: "timestamp without time zone", canon: cTS, vals: []rtVal{v("micros", "'2024-02-29 12:34:56.123456'", "2024-02-29 12:34:56.123456"),
			v("T separator", "'2024-02-29T01:02:03'", "2024-02-29 01:02:03"), v("offset to UTC", "'2024-06-01 12:00:00.5+02:00'", "2024-06-01 10:00:00.5"),
			v("max", "'9999-12-31 23:59:59.999999'", "9999-12-31 23:59:59.999999"), v("min", "'1000-01-01 00:00:00'", "1000-01-01 00:00:00")}},
		{name: "c_boolean", decl: "BOOLEAN", pg: "boolean", vals: []rtVal{v("0", "0", "false"), v("1", "1", "true"), v("text true", "'true'", "true"), v("text f", "'f'", "false")}},
		{name: "c_json", decl: "JSON", pg: "jsonb", canon: cJSON, vals: []rtVal{v("nested unicode", sq(jsonNested), jsonNested), v("empty object", "'{}'", "{}"), v("array", "'[1,\"x\",null]'", `[1,"x",null]`)}},
	}
}

// ---------------------------------------------------------------- PostgreSQL

func postgresCols() []rtCol {
	return []rtCol{
		{name: "c_smallint", decl: "smallint", pg: "smallint", vals: []rtVal{v("min", "-32768", "-32768"), v("max", "32767", "32767")}},
		{name: "c_integer", decl: "integer", pg: "integer", vals: []rtVal{v("min", "-2147483648", "-2147483648"), v("max", "2147483647", "2147483647"), v("zero", "0", "0")}},
		{name: "c_bigint", decl: "bigint", pg: "bigint", vals: []rtVal{v("min", "-9223372036854775808", "-9223372036854775808"), v("max", "9223372036854775807", "9223372036854775807")}},
		{name: "c_numeric_10_2", decl: "numeric(10,2)", pg: "numeric(10,2)", vals: []rtVal{v("negative", "-12345678.90", "-12345678.90"), v("zero scale kept", "0.00", "0.00"), v("minus one cent", "-0.01", "-0.01")}},
		{name: "c_numeric", decl: "numeric", pg: "numeric", vals: []rtVal{v("many digits", "123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
			v("zero scale kept", "0.00", "0.00"), v("small negative scale kept", "-0.000100", "-0.000100"), v("huge", "1e40", "1"+strings.Repeat("0", 40))}},
		{name: "c_real", decl: "real", pg: "real", canon: cF32, vals: []rtVal{v("0.1", "0.1", "0.1"), v("max", "3.4028235e38", "3.4028235e38"), v("2^24", "16777216", "16777216"),
			v("min normal", "1.17549435e-38", "1.17549435e-38"), v("negative", "-2.25", "-2.25")}},
		{name: "c_double", decl: "double precision", pg: "double precision", canon: cF64, vals: []rtVal{v("0.1", "0.1", "0.1"), v("max", "1.7976931348623157e308", "1.7976931348623157e308"),
			v("denormal min", "5e-324", "5e-324"), v("infinity", "'Infinity'", "+Inf"), v("-infinity", "'-Infinity'", "-Inf"), v("NaN", "'NaN'", "NaN")}},
		{name: "c_text", decl: "text", pg: "text", vals: rtTexts(sq)},
		{name: "c_varchar_8", decl: "varchar(8)", pg: "character varying(8)", vals: []rtVal{v("8 emoji", sq(strings.Repeat("😀", 8)), strings.Repeat("😀", 8)),
			v("trailing spaces", sq("ab  "), "ab  "), v("empty", "''", "")}},
		// char(n) arrives as Text Length n Fixed → varchar(n) (docs/types.md: the
		// logical type is coarser; a TargetType keeps char(n)). PostgreSQL shows
		// char(5) values padded, and that padded value is what must arrive.
		{name: "c_char_5", decl: "char(5)", pg: "character varying(5)", vals: []rtVal{v("padded", "'ab'", "ab   "), v("full", sq("ü😀xyz"), "ü😀xyz")}},
		{name: "c_bytea", decl: "bytea", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", `'\x00ff'`, "00ff"), v("empty", `'\x'`, ""), v("not utf8", `'\xc328fffe00'`, "c328fffe00")}},
		{name: "c_boolean", decl: "boolean", pg: "boolean", vals: []rtVal{v("true", "true", "true"), v("false", "false", "false")}},
		{name: "c_date", decl: "date", pg: "date", vals: []rtVal{v("0001", "'0001-01-01'", "0001-01-01"), v("min mysql", "'1000-01-01'", "1000-01-01"), v("max", "'9999-12-31'", "9999-12-31")}},
		// The postgres source reports precision 6 for a plain timestamp, which docs/types.md maps to timestamp(6).
		{name: "c_timestamp", decl: "timestamp", pg: "timestamp(6) without time zone", canon: cTS, vals: []rtVal{v("micros", "'2024-02-29 12:34:56.123456'", "2024-02-29 12:34:56.123456"),
			v("max", "'9999-12-31 23:59:59.999999'", "9999-12-31 23:59:59.999999"), v("0001", "'0001-01-01 00:00:00'", "0001-01-01 00:00:00")}},
		{name: "c_timestamptz", decl: "timestamptz", pg: "timestamp(6) with time zone", canon: cTS, vals: []rtVal{v("offset", "'2024-06-01 12:00:00.123456+02'", "2024-06-01 10:00:00.123456"),
			v("utc", "'1970-01-01 00:00:00+00'", "1970-01-01 00:00:00")}},
		{name: "c_time", decl: "time", pg: "time(6) without time zone", canon: cTime, vals: []rtVal{v("micros", "'23:59:59.999999'", "23:59:59.999999"),
			v("midnight", "'00:00:00'", "00:00:00"), v("24:00", "'24:00:00'", "24:00:00")}},
		{name: "c_json", decl: "json", pg: "jsonb", canon: cJSON, vals: []rtVal{v("nested unicode", sq(jsonNested), jsonNested), v("scalar", "'42'", "42")}},
		{name: "c_jsonb", decl: "jsonb", pg: "jsonb", canon: cJSON, vals: []rtVal{v("nested unicode", sq(jsonNested), jsonNested), v("empty array", "'[]'", "[]")}},
		{name: "c_uuid", decl: "uuid", pg: "uuid", vals: []rtVal{v("upper case in", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
			v("nil", "'00000000-0000-0000-0000-000000000000'", "00000000-0000-0000-0000-000000000000")}},
	}
}

// ---------------------------------------------------------------- CSV and JSONL

// fileCols are the declared-type columns of the csv and jsonl sources.
// Each value's src is a csv field, or for jsonl a JSON value. With
// sqlSpellings the columns are declared with the SQL spellings and
// arguments the csv package documents ("decimal(p,s)", "smallint",
// "varchar(n)"…) instead of the logical type names.
func fileCols(jsonl, sqlSpellings bool) []rtCol {
	str := func(s string) string { // a string value
		if jsonl {
			return js(s)
		}
		return s
	}
	num := func(s string) string { return s } // a bare number in both
	jv := func(s string) string { return s }  // JSON text: a csv field, or a jsonl value
	bytesSrc := func(hexs, b64 string) string {
		if jsonl {
			return js(b64)
		}
		return `\x` + hexs
	}
	if sqlSpellings {
		return []rtCol{
			{name: "c_smallint", decl: "smallint", pg: "smallint", vals: []rtVal{v("min", num("-32768"), "-32768"), v("max", num("32767"), "32767")}},
			{name: "c_integer", decl: "integer", pg: "bigint", vals: []rtVal{v("min", num("-9223372036854775808"), "-9223372036854775808")}},
			{name: "c_bigint", decl: "bigint", pg: "bigint", vals: []rtVal{v("max", num("9223372036854775807"), "9223372036854775807")}},
			{name: "c_decimal_10_2", decl: "decimal(10,2)", pg: "numeric(10,2)", vals: []rtVal{v("negative", num("-12345678.90"), "-12345678.90"),
				v("zero scale kept", num("0.00"), "0.00"), v("padded", num("7.5"), "7.50")}},
			{name: "c_numeric", decl: "numeric", pg: "numeric", vals: []rtVal{v("zero scale kept", num("0.00"), "0.00")}},
			{name: "c_double", decl: "double", pg: "double precision", canon: cF64, vals: []rtVal{v("0.1", num("0.1"), "0.1")}},
			{name: "c_boolean", decl: "boolean", pg: "boolean", vals: []rtVal{v("true", "true", "true"), v("false", "false", "false")}},
			{name: "c_varchar_4", decl: "varchar(4)", pg: "character varying(4)", vals: []rtVal{v("4 emoji", str("😀😀😀😀"), "😀😀😀😀"), v("empty", str(""), "")}},
			{name: "c_char_4", decl: "char(4)", pg: "character varying(4)", vals: []rtVal{v("short", str("ab"), "ab"), v("trailing spaces", str("ab  "), "ab  ")}},
			{name: "c_time_6", decl: "time(6)", pg: "time(6) without time zone", canon: cTime, vals: []rtVal{v("micros", str("23:59:59.999999"), "23:59:59.999999")}},
			{name: "c_bytea", decl: "bytea", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", bytesSrc("00ff", "AP8="), "00ff")}},
			{name: "c_jsonb", decl: "jsonb", pg: "jsonb", canon: cJSON, vals: []rtVal{v("nested unicode", jv(jsonNested), jsonNested)}},
		}
	}
	return []rtCol{
		{name: "c_int", decl: "int", pg: "bigint", vals: []rtVal{v("min", num("-9223372036854775808"), "-9223372036854775808"),
			v("max", num("9223372036854775807"), "9223372036854775807"), v("zero", num("0"), "0")}},
		{name: "c_decimal", decl: "decimal", pg: "numeric", vals: []rtVal{v("many digits", num("123456789012345678901234567890.123456789"), "123456789012345678901234567890.123456789"),
			v("zero scale kept", num("0.00"), "0.00"), v("small negative", num("-0.000100"), "-0.000100"), v("exponent", num("1.5e3"), "1500"),
			v("negative", num("-12345678.90"), "-12345678.90")}},
		{name: "c_float", decl: "float", pg: "double precision", canon: cF64, vals: []rtVal{v("0.1", num("0.1"), "0.1"), v("max", num("1.7976931348623157e308"), "1.7976931348623157e308"),
			v("denormal min", num("5e-324"), "5e-324"), v("negative", num("-2.5"), "-2.5")}},
		{name: "c_bool", decl: "bool", pg: "boolean", vals: []rtVal{v("true", "true", "true"), v("false", "false", "false")}},
		{name: "c_text", decl: "text", pg: "text", vals: append(rtTexts(str), v("comma quote", str(`a,"b"`), `a,"b"`))},
		{name: "c_date", decl: "date", pg: "date", vals: []rtVal{v("min", str("1000-01-01"), "1000-01-01"), v("max", str("9999-12-31"), "9999-12-31")}},
		{name: "c_time", decl: "time", pg: "time without time zone", canon: cTime, vals: []rtVal{v("micros", str("23:59:59.999999"), "23:59:59.999999"), v("midnight", str("00:00:00"), "00:00:00")}},
		{name: "c_timestamp", decl: "timestamp", pg: "timestamp without time zone", canon: cTS, vals: []rtVal{v("micros", str("2024-02-29 12:34:56.123456"), "2024-02-29 12:34:56.123456"),
			v("T", str("2024-02-29T01:02:03"), "2024-02-29 01:02:03"), v("max", str("9999-12-31 23:59:59.999999"), "9999-12-31 23:59:59.999999")}},
		{name: "c_timestamptz", decl: "timestamptz", pg: "timestamp with time zone", canon: cTS, vals: []rtVal{v("offset", str("2024-06-01T12:00:00.123456+02:00"), "2024-06-01 10:00:00.123456"),
			v("Z", str("2024-06-01T12:00:00Z"), "2024-06-01 12:00:00"), v("no zone is UTC", str("2024-06-01 12:00:00"), "2024-06-01 12:00:00")}},
		{name: "c_json", decl: "json", pg: "jsonb", canon: cJSON, vals: []rtVal{v("nested unicode", jv(jsonNested), jsonNested), v("array", jv(`[1,"é",null]`), `[1,"é",null]`)}},
		{name: "c_uuid", decl: "uuid", pg: "uuid", vals: []rtVal{v("upper case", str("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
			v("no hyphens", str("a0eebc999c0b4ef8bb6d6bb9bd380a11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")}},
		{name: "c_bytes", decl: "bytes", pg: "bytea", canon: cHex, vals: []rtVal{v("00 ff", bytesSrc("00ff", "AP8="), "00ff"), v("not utf8", bytesSrc("c328fffe00", "wyj//gA="), "c328fffe00"),
			v("empty", str(""), "")}},
	}
}

// ---------------------------------------------------------------- the test

// rtRow is one row of the source table: id, and the column that holds a
// value (nil: row 1, NULL everywhere).
type rtRow struct {
	id  int
	col *rtCol
	val *rtVal
}

func rtRows(cols []rtCol) []rtRow {
	rows := []rtRow{{id: 1}}
	for i := range cols {
		for j := range cols[i].vals {
			rows = append(rows, rtRow{id: len(rows) + 1, col: &cols[i], val: &cols[i].vals[j]})
		}
	}
	return rows
}

// sqlInserts returns the CREATE TABLE and INSERT statements for an SQL
// source; quoteIdent quotes a column name.
func sqlInserts(cols []rtCol, quoteIdent func(string) string, suffix string) []string {
	defs := []string{quoteIdent("id") + " INTEGER NOT NULL PRIMARY KEY"}
	for _, c := range cols {
		defs = append(defs, quoteIdent(c.name)+" "+c.decl)
	}
	stmts := []string{"CREATE TABLE rt (" + strings.Join(defs, ", ") + ")" + suffix}
	for _, r := range rtRows(cols) {
		if r.col == nil {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO rt (%s) VALUES (%d)", quoteIdent("id"), r.id))
			continue
		}
		stmts = append(stmts, fmt.Sprintf("INSERT INTO rt (%s, %s) VALUES (%d, %s)", quoteIdent("id"), quoteIdent(r.col.name), r.id, r.val.src))
	}
	return stmts
}

func TestTypeRoundTrip(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name  string
		cols  func() []rtCol
		setup func(t *testing.T, cols []rtCol) string // returns the plan's src store line
	}{
		{"mysql", mysqlCols, setupMySQL},
		{"sqlite", sqliteCols, setupSQLite},
		{"postgres", postgresCols, setupPostgresSource},
		{"csv", func() []rtCol { return fileCols(false, false) }, setupCSV},
		{"jsonl", func() []rtCol { return fileCols(true, false) }, setupJSONL},
		// The same files with the SQL spellings the csv and jsonl packages
		// document for declared types (filetable.ParseDeclared takes them;
		// the plan's column type check must too).
		{"csv_sql_spellings", func() []rtCol { return fileCols(false, true) }, setupCSV},
		{"jsonl_sql_spellings", func() []rtCol { return fileCols(true, true) }, setupJSONL},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			cols := k.cols()
			store := k.setup(t, cols)
			target := testenv.Postgres(t)
			p := writePlan(t, `version: 1
name: roundtrip-`+k.name+`
ledger: main
stores:
  src: `+store+`
  main: { kind: postgres, url: "`+target+`", schema: rt }
entities:
  rt:
    from: src.rt
    to: main.rt
    max_rejects: 1000
`)
			start := time.Now()
			code, out, errOut := transitRun(t, "run", p)
			if code != 0 {
				t.Fatalf("transit run: exit %d\n%s\n%s", code, out, errOut)
			}
			t.Logf("transit run: %v", time.Since(start).Round(time.Millisecond))
			checkRoundTrip(t, target, cols)
		})
	}
}

// checkRoundTrip reads rt.rt back and runs one subtest per column type and
// per value.
func checkRoundTrip(t *testing.T, target string, cols []rtCol) {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, YMD", "bytea_output": "hex", "extra_float_digits": "1"} {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// The created column types and CHECK constraints.
	types := map[string]string{}
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		WHERE a.attrelid = 'rt.rt'::regclass AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		t.Fatalf("target table rt.rt: %v", err)
	}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		types[n] = ty
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	var checks []string
	rows, err = conn.Query(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'rt.rt'::regclass AND contype = 'c'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, d)
	}
	rejects := map[int][]string{}
	rows, err = conn.Query(ctx, `SELECT key::text, reason FROM transit.rejects WHERE entity = 'rt'`)
	if err != nil {
		t.Fatal(err)
	}
	num := regexp.MustCompile(`\d+`)
	for rows.Next() {
		var key, reason string
		if err := rows.Scan(&key, &reason); err != nil {
			t.Fatal(err)
		}
		for _, m := range num.FindAllString(key, -1) {
			id, _ := strconv.Atoi(m)
			rejects[id] = append(rejects[id], key+": "+reason)
		}
	}

	// Every value, as text.
	exprs := []string{"id"}
	for _, c := range cols {
		exprs = append(exprs, pgx.Identifier{c.name}.Sanitize()+"::text")
	}
	got := map[int][]*string{}
	rows, err = conn.Query(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM rt.rt")
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	for rows.Next() {
		var id int
		vals := make([]*string, len(cols))
		dst := []any{&id}
		for i := range vals {
			dst = append(dst, &vals[i])
		}
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		got[id] = vals
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	for _, c := range cols {
		t.Run(c.name+"/type", func(t *testing.T) {
			if types[c.name] != c.pg {
				t.Errorf("source %s: PostgreSQL type %q, docs/types.md says %q", c.decl, types[c.name], c.pg)
			}
			if len(c.check) > 0 {
				found := false
				for _, d := range checks {
					ok := strings.Contains(d, c.name)
					for _, m := range c.check {
						ok = ok && strings.Contains(d, m)
					}
					found = found || ok
				}
				if !found {
					t.Errorf("no CHECK constraint on %s naming %q; constraints: %q", c.name, c.check, checks)
				}
			}
		})
	}
	colIndex := map[*rtCol]int{}
	for i := range cols {
		colIndex[&cols[i]] = i
	}
	for _, r := range rtRows(cols) {
		if r.col == nil {
			vals, ok := got[r.id]
			for i, c := range cols {
				t.Run(c.name+"/NULL", func(t *testing.T) {
					if !ok {
						t.Fatalf("all-NULL row id %d missing from the target; rejects: %q", r.id, rejects[r.id])
					}
					if vals[i] != nil {
						t.Errorf("NULL arrived as %q", *vals[i])
					}
				})
			}
			continue
		}
		c, val, i := r.col, r.val, colIndex[r.col]
		t.Run(c.name+"/"+val.label, func(t *testing.T) {
			vals, ok := got[r.id]
			if !ok {
				t.Fatalf("source %s value %s: row id %d missing from the target; rejects: %q", c.decl, val.src, r.id, rejects[r.id])
			}
			if vals[i] == nil {
				t.Fatalf("source %s value %s arrived as NULL, want %q", c.decl, val.src, val.want)
			}
			g, err := rtCanonical(c.canon, *vals[i])
			if err != nil {
				t.Fatalf("target text %q: %v", *vals[i], err)
			}
			w, err := rtCanonical(c.canon, val.want)
			if err != nil {
				t.Fatalf("want %q: %v", val.want, err)
			}
			if g != w {
				t.Errorf("source %s value %s:\n got  %q (PostgreSQL text %q)\n want %q", c.decl, val.src, g, *vals[i], w)
			}
			// Every other column of the row stays NULL.
			for j, o := range vals {
				if j != i && o != nil {
					t.Errorf("column %s of the row is %q, want NULL", cols[j].name, *o)
				}
			}
		})
	}
}

// rtCanonical puts s in the canonical form of kind k (see the file comment).
func rtCanonical(k rtCanon, s string) (string, error) {
	switch k {
	case cF32, cF64:
		bits := 64
		if k == cF32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return "", err
		}
		return strconv.FormatFloat(f, 'g', -1, bits), nil
	case cHex:
		return strings.ToLower(strings.TrimPrefix(s, `\x`)), nil
	case cJSON:
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return "", err
		}
		x, err := rtJSONNumbers(x)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	case cTime:
		hms, frac, _ := strings.Cut(s, ".")
		if len(hms) != 8 || len(frac) > 6 {
			return "", fmt.Errorf("not HH:MM:SS[.ffffff]")
		}
		return hms + "." + frac + strings.Repeat("0", 6-len(frac)), nil
	case cTS:
		x := strings.TrimSuffix(s, "+00")
		ts, err := time.Parse("2006-01-02 15:04:05.999999999", x)
		if err != nil {
			return "", err
		}
		return ts.Format("2006-01-02 15:04:05.000000"), nil
	}
	return s, nil
}

// rtJSONNumbers replaces every JSON number by its exact value as a reduced
// fraction, so -1e3 equals jsonb's -1000 (and 2.50 equals 2.5).
func rtJSONNumbers(x any) (any, error) {
	switch y := x.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(y))
		if !ok {
			return nil, fmt.Errorf("JSON number %q", y)
		}
		return "number:" + r.RatString(), nil
	case []any:
		for i := range y {
			var err error
			if y[i], err = rtJSONNumbers(y[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range y {
			var err error
			if y[k], err = rtJSONNumbers(y[k]); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

// ---------------------------------------------------------------- sources

func setupMySQL(t *testing.T, cols []rtCol) string {
	murl, db := testenv.MySQL(t)
	stmts := append([]string{
		"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION'",
		"SET SESSION time_zone = '+00:00'",
	}, sqlInserts(cols, func(s string) string { return "`" + s + "`" }, " CHARACTER SET utf8mb4")...)
	// One Exec: the session settings hold for the statements after them.
	if _, err := db.Exec(strings.Join(stmts, ";\n")); err != nil {
		t.Fatalf("load mysql: %v", err)
	}
	return `{ kind: mysql, url: "` + murl + `" }`
}

func setupSQLite(t *testing.T, cols []rtCol) string {
	path := filepath.Join(t.TempDir(), "rt.sqlite")
	// The "sqlite" driver (modernc.org/sqlite) is registered by sources/sqlite.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range sqlInserts(cols, func(s string) string { return `"` + s + `"` }, "") {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("sqlite %s: %v", s, err)
		}
	}
	return `{ kind: sqlite, path: "` + path + `" }`
}

func setupPostgresSource(t *testing.T, cols []rtCol) string {
	src := testenv.Postgres(t)
	testenv.Exec(t, src, sqlInserts(cols, func(s string) string { return pgx.Identifier{s}.Sanitize() }, "")...)
	return `{ kind: postgres, url: "` + src + `" }`
}

// declaredColumns is the store's columns: mapping, in flow style.
func declaredColumns(cols []rtCol) string {
	parts := []string{`id: "int"`}
	for _, c := range cols {
		parts = append(parts, c.name+`: "`+c.decl+`"`)
	}
	return "{ rt: { " + strings.Join(parts, ", ") + " } }"
}

func setupCSV(t *testing.T, cols []rtCol) string {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id")
	for _, c := range cols {
		b.WriteString("," + c.name)
	}
	b.WriteString("\n")
	for _, r := range rtRows(cols) {
		b.WriteString(strconv.Itoa(r.id))
		for i := range cols {
			b.WriteString(",")
			if r.col == &cols[i] {
				// Quoted: "" is the empty string, an empty field is NULL.
				b.WriteString(`"` + strings.ReplaceAll(r.val.src, `"`, `""`) + `"`)
			}
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "rt.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return `{ kind: csv, path: "` + dir + `", columns: ` + declaredColumns(cols) + ` }`
}

func setupJSONL(t *testing.T, cols []rtCol) string {
	dir := t.TempDir()
	var b strings.Builder
	for _, r := range rtRows(cols) {
		b.WriteString(`{"id":` + strconv.Itoa(r.id))
		for i := range cols {
			switch {
			case r.col == nil:
				b.WriteString(`,` + js(cols[i].name) + `:null`)
			case r.col == &cols[i]:
				b.WriteString(`,` + js(cols[i].name) + `:` + r.val.src)
			}
		}
		b.WriteString("}\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "rt.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return `{ kind: jsonl, path: "` + dir + `", columns: ` + declaredColumns(cols) + ` }`
}

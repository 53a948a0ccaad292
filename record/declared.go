package record

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseDeclared turns a declared column type such as "int",
// "decimal(10,2)", "varchar(20)" or "timestamptz" into a column (Name is
// left empty). Accepted names are the record type names plus a few SQL
// spellings: integer, bigint, smallint, numeric, boolean, double, real,
// string, varchar, char, bytea, jsonb.
func ParseDeclared(decl string) (Column, error) {
	s := strings.ToLower(strings.TrimSpace(decl))
	base, args := s, ""
	if i := strings.IndexByte(s, '('); i >= 0 {
		if !strings.HasSuffix(s, ")") {
			return Column{}, fmt.Errorf("declared type %q: missing ')'", decl)
		}
		base, args = strings.TrimSpace(s[:i]), s[i+1:len(s)-1]
	}
	var nums []int
	if args != "" {
		for _, a := range strings.Split(args, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil || n < 0 {
				return Column{}, fmt.Errorf("declared type %q: bad argument %q", decl, a)
			}
			nums = append(nums, n)
		}
	}
	c := Column{Native: decl, Nullable: true}
	switch base {
	case "integer", "bigint", "int8":
		base = "int"
	case "smallint", "int2":
		base, c.Bits = "int", 16
	case "int4":
		base, c.Bits = "int", 32
	case "numeric":
		base = "decimal"
	case "boolean":
		base = "bool"
	case "double", "double precision", "real", "float8":
		base = "float"
	case "string", "varchar", "char":
		if base == "char" {
			c.Fixed = true
		}
		base = "text"
	case "bytea":
		base = "bytes"
	case "jsonb":
		base = "json"
	}
	t, ok := ParseType(base)
	if !ok || t == Unknown {
		return Column{}, fmt.Errorf("declared type %q: unknown type %q", decl, base)
	}
	switch t {
	case Int, Float:
		if c.Bits == 0 {
			c.Bits = 64
		}
	case Decimal:
		if len(nums) > 0 {
			c.Precision = nums[0]
		}
		if len(nums) > 1 {
			c.Scale = nums[1]
		}
	case Text, Bytes:
		if len(nums) > 0 {
			c.Length = nums[0]
		}
	case Timestamp, TimestampTZ, Time:
		if len(nums) > 0 {
			c.Precision = nums[0]
		}
	case Bool, Date, JSON, UUID:
	default:
		return Column{}, fmt.Errorf("declared type %q: type %s cannot be declared", decl, t)
	}
	if len(nums) > 2 {
		return Column{}, fmt.Errorf("declared type %q: too many arguments", decl)
	}
	c.Type = t
	return c, nil
}

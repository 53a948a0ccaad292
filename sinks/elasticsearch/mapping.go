package elasticsearch

import (
	"math"

	"github.com/transitdb/transit/record"
)

// MappingFor derives the "mappings" body of a generation from the
// PostgreSQL columns of t. overrides (field → ES type, from the plan's
// mapping:) win over the derived type. IDField is always a keyword.
//
// The type table, and why:
//
//	bool                        boolean
//	int, year (8–64 bits)       long; uint and bit up to 63 bits long, 64 bits unsigned_long
//	float 32 / 64               float / double
//	numeric(p,s), p ≤ 15        scaled_float, scaling_factor 10^s: exact to the
//	                            cent (or whatever s is) in range queries and sorts
//	other numeric               double: searchable by range; the exact text stays
//	                            in _source (the value is sent as a JSON number as
//	                            PostgreSQL printed it), which is what Scan returns
//	text, varchar, char         text with a "keyword" sub-field (ignore_above 256):
//	                            full-text search and exact match/sort, as ES's own
//	                            dynamic mapping does for strings
//	uuid, enum, set, time       keyword: identifiers, matched exactly, never analysed
//	bytea                       binary (base64 in _source, not searchable)
//	date                        date ("2006-01-02")
//	timestamp, timestamptz      date: millisecond resolution in the index; the
//	                            microseconds stay in _source (RFC 3339, UTC)
//	json, jsonb                 flattened: one field for any JSON shape, leaves
//	                            searchable as keywords; no mapping explosion and no
//	                            type conflicts between rows (an "object" mapping
//	                            would reject a row whose JSON has a string where an
//	                            earlier row had a number). Override with object or
//	                            nested when the shape is fixed.
//	anything else               keyword
//
// An override "scaled_float" without a factor gets 10^scale (at least 100);
// an override "text" gets no keyword sub-field.
func MappingFor(t *record.Table, overrides map[string]string) map[string]any {
	props := map[string]any{}
	if t != nil {
		for i := range t.Columns {
			c := &t.Columns[i]
			props[c.Name] = fieldMapping(c)
		}
	}
	for f, typ := range overrides {
		m := map[string]any{"type": typ}
		if typ == "scaled_float" {
			m["scaling_factor"] = scalingFactor(0)
			if t != nil {
				if c := t.Column(f); c != nil {
					m["scaling_factor"] = scalingFactor(c.Scale)
				}
			}
		}
		props[f] = m
	}
	props[IDField] = map[string]any{"type": "keyword"}
	return map[string]any{"properties": props}
}

func scalingFactor(scale int) float64 {
	return math.Pow10(max(scale, 2))
}

func fieldMapping(c *record.Column) map[string]any {
	typ := func(s string) map[string]any { return map[string]any{"type": s} }
	switch c.Type {
	case record.Bool:
		return typ("boolean")
	case record.Int, record.Year:
		return typ("long")
	case record.Uint, record.Bit:
		if c.Bits >= 64 {
			return typ("unsigned_long")
		}
		return typ("long")
	case record.Float:
		if c.Bits == 32 {
			return typ("float")
		}
		return typ("double")
	case record.Decimal:
		if c.Precision > 0 && c.Precision <= 15 {
			return map[string]any{"type": "scaled_float", "scaling_factor": math.Pow10(c.Scale)}
		}
		return typ("double")
	case record.Text:
		return map[string]any{"type": "text",
			"fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
	case record.Bytes:
		return typ("binary")
	case record.Date, record.Timestamp, record.TimestampTZ:
		return typ("date")
	case record.JSON:
		return typ("flattened")
	}
	return typ("keyword") // UUID, Enum, Set, Time, Unknown
}

// Package record holds the shapes every part of transit agrees on: the
// logical column types, a table's description, and the batch of rows that
// travels from a source to a sink.
//
// Records travel in batches: one column schema per batch, rows as slices of
// values. A value is always one of the Go types listed on Type, so sinks can
// encode it without guessing and verify can canonicalise it.
package record

import (
	"fmt"
	"strings"
)

// Type is the logical type of a column, independent of any store.
//
// The Go type a value of each logical type has inside a Batch:
//
//	Bool         bool
//	Int          int64   (Column.Bits gives the source width: 8, 16, 24, 32, 64)
//	Uint         uint64  (unsigned source integers; Bits as for Int)
//	Float        float64 (Bits 32 or 64)
//	Decimal      string  plain decimal text, e.g. "-12.50" (no exponent)
//	Text         string  valid UTF-8 expected; see Invalid
//	Bytes        []byte
//	Date         time.Time at 00:00 UTC
//	Time         string  "15:04:05" or "15:04:05.999999" (time of day)
//	Timestamp    time.Time, wall clock, Location UTC (no time zone)
//	TimestampTZ  time.Time, an instant
//	JSON         string  JSON text
//	UUID         string  canonical lower-case form
//	Enum         string  one of Column.Values
//	Set          string  comma-separated members of Column.Values
//	Bit          uint64  (Column.Bits wide)
//	Year         int64
//
// Any value may also be nil (SQL NULL) or an Invalid: a value the source
// holds that has no faithful representation (a MySQL zero date, bytes that
// are not UTF-8 in a text column). Sinks reject rows holding an Invalid.
type Type uint8

// The logical types.
const (
	Unknown Type = iota
	Bool
	Int
	Uint
	Float
	Decimal
	Text
	Bytes
	Date
	Time
	Timestamp
	TimestampTZ
	JSON
	UUID
	Enum
	Set
	Bit
	Year
)

var typeNames = [...]string{
	Unknown: "unknown", Bool: "bool", Int: "int", Uint: "uint", Float: "float",
	Decimal: "decimal", Text: "text", Bytes: "bytes", Date: "date", Time: "time",
	Timestamp: "timestamp", TimestampTZ: "timestamptz", JSON: "json", UUID: "uuid",
	Enum: "enum", Set: "set", Bit: "bit", Year: "year",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// MarshalText writes a type by its name, so that what is kept (the
// ledger's source table descriptions) does not depend on the order of the
// constants.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a type's name (an unknown name is an error).
func (t *Type) UnmarshalText(b []byte) error {
	v, ok := ParseType(string(b))
	if !ok {
		return fmt.Errorf("record: unknown type %q", b)
	}
	*t = v
	return nil
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n == strings.ToLower(s) {
			return Type(i), true
		}
	}
	return Unknown, false
}

// Column describes one column as a store sees it.
type Column struct {
	Name          string
	Type          Type
	Nullable      bool
	Length        int      // maximum length in characters (Text) or bytes (Bytes); 0 = unbounded
	Fixed         bool     // CHAR(n) / BINARY(n) rather than VARCHAR(n) / VARBINARY(n)
	Precision     int      // Decimal precision; Timestamp/Time fractional digits
	Scale         int      // Decimal scale
	Bits          int      // Int/Uint/Float/Bit width
	Values        []string // Enum and Set members, in declaration order
	Native        string   // the store's own type text, e.g. "tinyint(1) unsigned"
	AutoIncrement bool
	// TargetType, when set, is the exact target type the plan asked for
	// (e.g. "numeric(12,2)"); sinks use it instead of their own mapping.
	TargetType string
}

// Index is a secondary index of a table.
type Index struct {
	Name    string
	Columns []string
	Unique  bool
}

// ForeignKey is a reference from Columns to RefTable(RefColumns).
type ForeignKey struct {
	Name       string
	Columns    []string
	RefTable   string
	RefColumns []string
	OnDelete   string // "", "CASCADE", "SET NULL", "RESTRICT", "NO ACTION"
	OnUpdate   string
}

// Table describes a table (an entity's shape in one store).
type Table struct {
	Name        string
	Columns     []Column
	Key         []string // primary key, in key order; empty = none
	Indexes     []Index
	ForeignKeys []ForeignKey
}

// Column returns the column called name (exact match), or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// ColumnIndex returns the position of the column called name, or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// Names returns the column names in order.
func (t *Table) Names() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Batch is a run of rows sharing one column schema.
type Batch struct {
	Columns []Column
	Rows    [][]any
}

// Len is the number of rows.
func (b *Batch) Len() int { return len(b.Rows) }

// Invalid stands in for a source value that has no faithful representation
// in the logical type (a MySQL zero date, text that is not UTF-8). Sinks
// reject the row and record Reason; verify and audit report it.
type Invalid struct {
	Raw    string // the value as the source gave it, for the reject payload
	Reason string
}

func (v Invalid) String() string { return fmt.Sprintf("invalid(%s: %q)", v.Reason, v.Raw) }

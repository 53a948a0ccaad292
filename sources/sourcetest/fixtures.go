package sourcetest

import (
	"fmt"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
)

// Fixture is one table to create in the store under test, with its rows.
// Values use record's Go types (see record.Type); nil is NULL. Table.Key,
// Table.Indexes and Table.ForeignKeys say what to declare where the store
// can; Table.Columns[i].Native is empty, the harness picks the native type.
type Fixture struct {
	Table record.Table
	Rows  [][]any
}

// Names of the tables StandardFixtures and Exercise create.
const (
	ItemsTable = "items" // id int key; every common type; updated is the version
	PairsTable = "pairs" // composite key (a int, b text)
	CodesTable = "codes" // text key
	NotesTable = "notes" // foreign key to items, secondary index
	BigTable   = "big"   // BigRows rows with a BigPayload-byte payload (bounded memory)
)

// BigRows and BigPayload size the table the bounded-memory check scans:
// about 60 MB of data, so a source that buffers the whole table is caught.
const (
	BigRows    = 20000
	BigPayload = 3000
)

// Versions are the distinct values of items.updated (several rows share
// each, so [updated, id] ordering exercises its tie-breaker).
var Versions = []time.Time{
	time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2023, 6, 15, 12, 30, 0, 500000000, time.UTC),
	time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
	time.Date(2024, 3, 1, 0, 0, 0, 1000, time.UTC),
	time.Date(2025, 12, 31, 8, 0, 0, 0, time.UTC),
}

// StandardFixtures returns the tables every adapter loads: items, pairs,
// codes and notes (in dependency order). Each call returns fresh values.
//
// Text key values use only lower-case ASCII letters and digits, so the
// byte order the suite expects agrees with the default collation of every
// store (MySQL's utf8mb4_general_ci included).
func StandardFixtures() []Fixture {
	return []Fixture{itemsFixture(), pairsFixture(), codesFixture(), notesFixture()}
}

func itemsFixture() Fixture {
	tb := record.Table{
		Name: ItemsTable,
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Bits: 64},
			{Name: "name", Type: record.Text, Nullable: true},
			{Name: "price", Type: record.Decimal, Precision: 10, Scale: 2, Nullable: true},
			{Name: "created", Type: record.Timestamp, Precision: 6, Nullable: true},
			{Name: "flag", Type: record.Bool, Nullable: true},
			{Name: "data", Type: record.Bytes, Nullable: true},
			{Name: "score", Type: record.Float, Bits: 64, Nullable: true},
			{Name: "updated", Type: record.Timestamp, Precision: 6},
		},
		Key: []string{"id"},
	}
	ids := []int64{-1 << 40, -5, -1, 0}
	for i := int64(1); i <= 30; i++ {
		ids = append(ids, i)
	}
	ids = append(ids, 1000, 1<<40)
	names := map[int64]any{
		2: nil,
		3: "",
		4: "Zürich — 東京 🚀 ñ",
		5: `O'Brien "q" \ back; --`,
		6: strings.Repeat("long ", 300),
		7: " leading and trailing ",
		8: "tab\tnew\nline",
	}
	prices := []any{"-12.50", "0.00", "99999999.99", "0.99", "19.99", nil, "-0.01", "1234.50", "7.00", "100.10"}
	created := []any{
		time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC),
		nil,
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2001, 9, 9, 1, 46, 40, 1000, time.UTC),
		time.Date(1901, 2, 3, 4, 5, 6, 0, time.UTC),
	}
	flags := []any{true, false, nil}
	data := []any{nil, []byte{}, []byte{0, 1, 2, 255}, []byte{0xff, 0xfe, 0xfd}, []byte("hello"), []byte("Zürich")}
	scores := []any{0.1, -2.5, 1e10, nil, 0.0, 3.141592653589793, -1e-7}
	rows := make([][]any, 0, len(ids))
	for i, id := range ids {
		name, ok := names[id]
		if !ok {
			name = fmt.Sprintf("item %d", id)
		}
		rows = append(rows, []any{
			id, name,
			prices[i%len(prices)],
			created[i%len(created)],
			flags[i%len(flags)],
			cloneValue(data[i%len(data)]),
			scores[i%len(scores)],
			Versions[(i*3)%len(Versions)],
		})
	}
	return Fixture{Table: tb, Rows: rows}
}

func pairsFixture() Fixture {
	tb := record.Table{
		Name: PairsTable,
		Columns: []record.Column{
			{Name: "a", Type: record.Int, Bits: 64},
			{Name: "b", Type: record.Text, Length: 20},
			{Name: "v", Type: record.Int, Bits: 64, Nullable: true},
		},
		Key: []string{"a", "b"},
	}
	var rows [][]any
	n := 0
	for _, a := range []int64{3, -2, 1, 0} {
		for _, b := range []string{"z", "", "ab", "a", "b"} {
			var v any = a*100 + int64(n)
			if n%7 == 0 {
				v = nil
			}
			rows = append(rows, []any{a, b, v})
			n++
		}
	}
	return Fixture{Table: tb, Rows: rows}
}

func codesFixture() Fixture {
	tb := record.Table{
		Name: CodesTable,
		Columns: []record.Column{
			{Name: "code", Type: record.Text, Length: 32},
			{Name: "label", Type: record.Text, Nullable: true},
		},
		Key: []string{"code"},
	}
	var rows [][]any
	for i, c := range []string{"zz", "a", "10", "ab", "9", "b", "0", "aa", "ba", "z9", "a0"} {
		var label any = "label " + c
		if i%4 == 3 {
			label = nil
		}
		rows = append(rows, []any{c, label})
	}
	return Fixture{Table: tb, Rows: rows}
}

func notesFixture() Fixture {
	tb := record.Table{
		Name: NotesTable,
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Bits: 64},
			{Name: "item_id", Type: record.Int, Bits: 64, Nullable: true},
			{Name: "body", Type: record.Text, Nullable: true},
		},
		Key:     []string{"id"},
		Indexes: []record.Index{{Name: "notes_item_id_idx", Columns: []string{"item_id"}}},
		ForeignKeys: []record.ForeignKey{{
			Name: "notes_item_id_fkey", Columns: []string{"item_id"},
			RefTable: ItemsTable, RefColumns: []string{"id"},
		}},
	}
	return Fixture{Table: tb, Rows: [][]any{
		{int64(1), int64(1), "first"},
		{int64(2), nil, "orphan"},
		{int64(3), int64(-5), nil},
	}}
}

// BigFixture returns the bounded-memory table: n rows (id 1..n) with a
// payload of BigPayload bytes each.
func BigFixture(n int) Fixture {
	tb := record.Table{
		Name: BigTable,
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Bits: 64},
			{Name: "payload", Type: record.Bytes},
		},
		Key: []string{"id"},
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1), BigPayloadOf(int64(i + 1))}
	}
	return Fixture{Table: tb, Rows: rows}
}

// BigPayloadOf is the payload of row id of BigFixture.
func BigPayloadOf(id int64) []byte {
	b := make([]byte, BigPayload)
	for i := range b {
		b[i] = byte('a' + (int64(i)+id)%26)
	}
	return b
}

func cloneValue(v any) any {
	if b, ok := v.([]byte); ok {
		return append([]byte{}, b...)
	}
	return v
}

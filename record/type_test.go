package record

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestTableJSONRoundTrip: a table description survives JSON (as the
// ledger keeps it), its column types written by name.
func TestTableJSONRoundTrip(t *testing.T) {
	in := &Table{Name: "orders", Key: []string{"id"},
		Columns: []Column{
			{Name: "id", Type: Int, Bits: 64, Native: "bigint"},
			{Name: "status", Type: Enum, Values: []string{"new", "paid"}, Nullable: true},
			{Name: "at", Type: TimestampTZ, Precision: 6},
		},
		Indexes:     []Index{{Name: "by_status", Columns: []string{"status"}}},
		ForeignKeys: []ForeignKey{{Name: "fk", Columns: []string{"id"}, RefTable: "t", RefColumns: []string{"id"}}},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Type":"timestamptz"`) {
		t.Errorf("types not written by name: %s", b)
	}
	var out Table
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, *in)
	}
	if err := json.Unmarshal([]byte(`{"Columns":[{"Type":"money"}]}`), &out); err == nil {
		t.Error("an unknown type name was accepted")
	}
}

package port

import (
	"slices"
	"strings"
	"testing"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
)

// TestLeasePriorities: referenced tables first, larger first among equals;
// a cycle of references does not loop; a reference to a table of another
// store does not count.
func TestLeasePriorities(t *testing.T) {
	type ent struct {
		name, store string
		rows        int64
		refs        []string
	}
	ents := []ent{
		{"salaries", "main", 2_800_000, []string{"employees"}},
		{"titles", "main", 440_000, []string{"employees"}},
		{"dept_emp", "main", 330_000, []string{"employees", "departments"}},
		{"employees", "main", 300_000, nil},
		{"departments", "main", 9, nil},
		{"bonus", "main", 5_000_000, []string{"salaries"}}, // two levels down
		{"a", "main", 10, []string{"b"}},                   // a cycle
		{"b", "main", 20, []string{"a"}},
		{"elsewhere", "other", 1, []string{"employees"}}, // another store's employees
	}
	var order []*entityState
	plans := make([]ledger.EntityPlan, len(ents))
	for i, e := range ents {
		tb := &record.Table{Name: e.name}
		for _, r := range e.refs {
			tb.ForeignKeys = append(tb.ForeignKeys, record.ForeignKey{Columns: []string{"x"}, RefTable: r, RefColumns: []string{"id"}})
		}
		order = append(order, &entityState{Entity: &Entity{Name: e.name, Spec: &plan.Entity{ToStore: e.store}, Target: tb}})
		plans[i] = ledger.EntityPlan{Entity: e.name, Rows: e.rows}
	}
	leasePriorities(order, plans)
	got := make([]string, len(plans))
	for _, p := range plans {
		got[p.Priority] = p.Entity
	}
	// a and b reference each other: both end up below the tables with no
	// reference, in size order among their level.
	want := "employees departments elsewhere salaries titles dept_emp bonus b a"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("lease order\n got %s\nwant %s", g, want)
	}
}

func TestAutoBatchSize(t *testing.T) {
	num := record.Column{Type: record.Int}
	date := record.Column{Type: record.Date}
	name := record.Column{Type: record.Text, Length: 16}
	text := record.Column{Type: record.Text}
	for _, c := range []struct {
		cols []record.Column
		want int
	}{
		{[]record.Column{num, num, date, date}, plan.DefaultBatchSize}, // narrow: the most
		{[]record.Column{num, date, name, name, num, date}, plan.DefaultBatchSize},
		{[]record.Column{num, text, num}, 8 << 20 / (3*16 + 1024 + 2*16)}, // one TEXT
		{[]record.Column{num, text, text, date}, 8 << 20 / (4*16 + 2*1024 + 2*16)},
		{slices.Repeat([]record.Column{text}, 40), 500}, // never under 500
	} {
		if got := AutoBatchSize(c.cols); got != c.want {
			t.Errorf("AutoBatchSize(%d columns) = %d, want %d", len(c.cols), got, c.want)
		}
	}
}

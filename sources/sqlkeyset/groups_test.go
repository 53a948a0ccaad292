package sqlkeyset

import (
	"fmt"
	"testing"

	"github.com/transitdb/transit/record"
)

func TestUnique(t *testing.T) {
	tb := &record.Table{
		Columns: []record.Column{{Name: "id"}, {Name: "code"}, {Name: "email", Nullable: true}, {Name: "n"}},
		Key:     []string{"id"},
		Indexes: []record.Index{{Columns: []string{"code"}, Unique: true}, {Columns: []string{"email"}, Unique: true}, {Columns: []string{"n"}}},
	}
	for _, c := range []struct {
		cols []string
		want bool
	}{
		{[]string{"id"}, true},
		{[]string{"n", "id"}, true}, // a catch-up order: version, then the key
		{[]string{"code"}, true},
		{[]string{"email"}, false}, // NULLs repeat in a unique index
		{[]string{"n"}, false},
		{nil, false},
	} {
		if got := Unique(tb, c.cols); got != c.want {
			t.Errorf("Unique(%v) = %v, want %v", c.cols, got, c.want)
		}
	}
	if Unique(&record.Table{Columns: []record.Column{{Name: "id"}}}, []string{"id"}) {
		t.Error("a table without key or unique index: Unique(id) = true")
	}
}

// TestTailRest: a page ends inside a group; the rows of the group the page
// did not return are the rest, whatever order the group query returns.
func TestTailRest(t *testing.T) {
	row := func(id int64, v string) []any { return []any{v, id} }
	tail := NewTail([]int{1})
	tail.Add([][]any{row(1, "a"), row(2, "b"), row(2, "c")})
	tail.Add([][]any{row(2, "d"), row(2, "c")}) // the batch goes on with key 2; "c" twice in the source
	if k := tail.Key(); fmt.Sprint(k) != "[2]" {
		t.Fatalf("key %v, want [2]", k)
	}
	group := [][]any{row(2, "e"), row(2, "c"), row(2, "b"), row(2, "c"), row(2, "c"), row(2, "d")}
	rest := tail.Rest(group)
	if fmt.Sprint(rest) != "[[e 2] [c 2]]" {
		t.Errorf("rest %v, want [[e 2] [c 2]]", rest)
	}
	// A new key replaces the tail; the rows passed in may be reused.
	rows := [][]any{row(3, "x"), row(4, "y")}
	tail.Add(rows)
	rows[1][0] = "changed"
	if rest := tail.Rest([][]any{row(4, "y"), row(4, "z")}); fmt.Sprint(rest) != "[[z 4]]" {
		t.Errorf("rest %v, want [[z 4]]", rest)
	}
}

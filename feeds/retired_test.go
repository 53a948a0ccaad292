package feeds_test

import (
	"context"
	"strings"
	"testing"

	"github.com/transitdb/transit/feeds/pgrepl"
	"github.com/transitdb/transit/internal/testenv"
)

// TestRetiredSlots: a rebuild's switch records the old slot as retired in
// the ledger and drops it; a slot a killed process left retired (switched
// away from, not yet dropped) is dropped by the next rebuild, so no slot
// is left holding WAL.
func TestRetiredSlots(t *testing.T) {
	e := newEnv(t, 50, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"`)
	ctx := context.Background()
	slots := func() []string {
		var out []string
		for _, r := range testenv.QueryStrings(t, e.url, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database() ORDER BY 1`) {
			out = append(out, r[0])
		}
		return out
	}
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	first := slots()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if got := slots(); len(got) != 1 || got[0] == first[0] {
		t.Fatalf("after two rebuilds: slots %v (first %v), want one new", got, first)
	}
	if s, _, err := e.l.Retired(ctx, e.p.Name, "cust"); err != nil || len(s) != 0 {
		t.Fatalf("retired after a clean switch: %v %v", s, err)
	}

	// As a process killed between the switch and the drop leaves it.
	orphan := pgrepl.NamesFor(e.p.Name, "cust_orphan")
	if _, err := pgrepl.Setup(ctx, e.url, orphan, e.feed.Tables()); err != nil {
		t.Fatal(err)
	}
	testenv.Exec(t, e.url, `UPDATE transit.feeds SET retired = array_append(retired, '`+orphan.Slot+` `+orphan.Publication+`')`)
	if got := slots(); len(got) != 2 {
		t.Fatalf("slots %v, want the orphan beside the live one", got)
	}
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	got := slots()
	if len(got) != 1 || strings.Contains(got[0], "orphan") {
		t.Fatalf("after the next rebuild: slots %v, want the new one alone", got)
	}
	if s, _, err := e.l.Retired(ctx, e.p.Name, "cust"); err != nil || len(s) != 0 {
		t.Fatalf("retired left: %v %v", s, err)
	}
	if n := testenv.QueryStrings(t, e.url, `SELECT count(*) FROM pg_publication WHERE pubname = $1`, orphan.Publication); n[0][0] != "0" {
		t.Fatalf("the orphan's publication is left")
	}
}

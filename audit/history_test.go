package audit

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPostgres(t).Pool()
	mig, err := os.ReadFile("../ledger/migrations/003_audit.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS transit"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(mig)); err != nil {
		t.Fatal(err)
	}
	if prev, err := Last(ctx, pool, "people"); err != nil || prev != nil {
		t.Fatalf("Last on empty ledger: %v %v", prev, err)
	}
	clean, err := Run(ctx, []Target{peopleTarget(t, "people_clean")}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Save(ctx, pool, "people", clean); err != nil {
		t.Fatal(err)
	}
	dirty, err := Run(ctx, []Target{peopleTarget(t, "people_dirty")}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	prev, err := Last(ctx, pool, "people")
	if err != nil || prev == nil {
		t.Fatalf("Last: %v %v", prev, err)
	}
	id, err := Save(ctx, pool, "people", dirty)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := LastBefore(ctx, pool, "people", id); err != nil || again == nil || again.Failed() {
		t.Fatalf("LastBefore: %v %v", again, err)
	}
	changes := Compare(prev, dirty)
	var b bytes.Buffer
	if err := WriteChanges(&b, changes); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"rows           people: 5 → 6",
		"null_fraction  people.score: 0.0000 → 0.1667",
		"rule_failed    people pattern(email): pass → 2 violations",
		"fit_new        people.name: 0 → 1 invalid UTF-8",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("changes lack %q:\n%s", want, out)
		}
	}
	if c := Compare(dirty, dirty); len(c) != 0 {
		t.Errorf("self-compare: %+v", c)
	}
}

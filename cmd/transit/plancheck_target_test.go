package main

import (
	"strings"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
)

// TestPlanCheckUnreachableTarget: plan check opens the targets, not only
// the sources, and a target it cannot reach exits 2.
func TestPlanCheckUnreachableTarget(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	purl := testenv.Postgres(t)
	p := writePlan(t, "version: 1\nname: x\nledger: ledger\nstores:\n  legacy: { kind: mysql, url: \""+murl+"\" }\n"+
		"  ledger: { kind: postgres, url: \""+purl+"\" }\n"+
		"  main: { kind: postgres, url: \"postgres://bob:hunter2secret@127.0.0.1:1/db\" }\ntables:\n  - from: legacy.*\n    to: main\n")
	code, out, errOut := transitRun(t, "plan", "check", p)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
	}
	mustContain(t, errOut, "store main", "127.0.0.1:1", "connection refused")
	if strings.Contains(out+errOut, "hunter2secret") {
		t.Errorf("password leaked:\n%s", errOut)
	}
}

// TestPlanCheckRejectsUnwritableKind: a target kind transit cannot write
// to yet fails plan check (even --offline) at the store reference.
func TestPlanCheckRejectsUnwritableKind(t *testing.T) {
	t.Parallel()
	p := writePlan(t, "version: 1\nname: x\nstores:\n  legacy: { kind: mysql, url: \"mysql://root@127.0.0.1:3306/x\" }\n"+
		"  pg: { kind: postgres, url: \"postgres://postgres@127.0.0.1:5432/x\" }\n"+
		"  es: { kind: elasticsearch, url: \"http://127.0.0.1:9200\" }\nentities:\n  e:\n    from: legacy.t\n    to: es.t\n")
	code, out, errOut := transitRun(t, "plan", "check", "--offline", p)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
	}
	mustContain(t, errOut, "plan.yaml:10:9", "cannot write to elasticsearch")
}

// TestPlanCheckLedgerNote: a PostgreSQL → PostgreSQL plan that leaves the
// ledger on the old store by default passes plan check with a note on
// stderr that says how to keep it with the target.
func TestPlanCheckLedgerNote(t *testing.T) {
	t.Parallel()
	p := writePlan(t, "version: 1\nname: x\nstores:\n  old: { kind: postgres, url: \"postgres://postgres@127.0.0.1:5432/a\" }\n"+
		"  new: { kind: postgres, url: \"postgres://postgres@127.0.0.1:5432/b\" }\nentities:\n  e: { from: old.t, to: new.t }\n")
	code, out, errOut := transitRun(t, "plan", "check", "--offline", p)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "plan.yaml: ok")
	mustContain(t, errOut, "plan.yaml: note: the ledger", "defaults to old", "add `ledger: new`")
}

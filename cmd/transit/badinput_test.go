package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
)

func TestBadPlans(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		plan string
		env  map[string]string
		want []string
	}{
		{"malformed yaml", "version: 1\nname: x\nstores: [\n", nil, []string{"plan.yaml:"}},
		{"unknown key", "version: 1\nname: x\nstorez: {}\n", nil, []string{"plan.yaml:3:1", "storez"}},
		{"missing env var", "version: 1\nname: x\nstores:\n  main: { kind: postgres, url: \"${TRANSIT_TEST_NOPE}\" }\n", nil,
			[]string{"plan.yaml:4:", "TRANSIT_TEST_NOPE"}},
		{"unreachable database", "version: 1\nname: x\nstores:\n  legacy: { kind: mysql, url: \"mysql://bob:hunter2secret@127.0.0.1:1/db\" }\n" +
			"  main: { kind: postgres, url: \"postgres://bob:hunter2secret@127.0.0.1:1/db\" }\ntables:\n  - from: legacy.*\n    to: main\n", nil,
			[]string{"127.0.0.1:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writePlan(t, c.plan)
			code, out, errOut := transitRun(t, "run", p)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
			}
			mustContain(t, errOut, c.want...)
			if strings.Contains(out+errOut, "hunter2secret") {
				t.Errorf("password leaked:\n%s", errOut)
			}
		})
	}
}

func TestTableWithoutKey(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	if _, err := db.Exec("CREATE TABLE nokey (a INT, b TEXT); INSERT INTO nokey VALUES (1, 'x')"); err != nil {
		t.Fatal(err)
	}
	p := writePlan(t, "version: 1\nname: nokey\nstores:\n  legacy: { kind: mysql, url: \""+murl+"\" }\n  main: { kind: postgres, url: \""+purl+"\" }\n"+
		"entities:\n  nokey:\n    from: legacy.nokey\n    to: main.nokey\n")
	code, _, errOut := transitRun(t, "run", p)
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, errOut)
	}
	mustContain(t, errOut, "plan.yaml:7:", "no primary key", "id:")
}

// TestRejects: rows the target refuses are isolated, recorded with their
// reason, and the rest moves; past max_rejects the run exits 1 naming them.
func TestRejects(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	for _, s := range []string{
		"SET SESSION sql_mode = ''",
		`CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, born DATE NULL, seen DATETIME NULL)`,
		`INSERT INTO people VALUES (1, 'Ann', '1980-01-02', '2020-01-01 10:00:00'), (2, 'Bartholomew the Long', '1990-03-04', NULL),
			(3, 'Cy', '0000-00-00', NULL), (4, 'Di', NULL, '0000-00-00 00:00:00'), (5, 'Ed', '1970-01-01', NULL)`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	plan := func(maxRejects string) string {
		return writePlan(t, "version: 1\nname: people"+maxRejects+"\nstores:\n  legacy: { kind: mysql, url: \""+murl+"\" }\n  main: { kind: postgres, url: \""+purl+"\", schema: s"+maxRejects+" }\n"+
			"entities:\n  people:\n    from: legacy.people\n    to: main.people\n    max_rejects: "+maxRejects+"\n    columns:\n      name: { type: \"varchar(10)\" }\n")
	}
	code, out, errOut := transitRun(t, "run", plan("0"))
	if code != 1 {
		t.Fatalf("max_rejects 0: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "rejected")
	code, out, errOut = transitRun(t, "run", plan("5"))
	if code != 0 {
		t.Fatalf("max_rejects 5: exit %d\n%s\n%s", code, out, errOut)
	}
	got := testenv.QueryStrings(t, purl, "SELECT id FROM s5.people ORDER BY id")
	if len(got) != 2 || got[0][0] != "1" || got[1][0] != "5" {
		t.Errorf("target rows %v, want ids 1 and 5", got)
	}
	rej := testenv.QueryStrings(t, purl, "SELECT key::text, reason FROM transit.rejects r JOIN transit.runs u ON u.id = r.run_id WHERE u.plan = 'people5' ORDER BY key::text")
	if len(rej) != 3 {
		t.Fatalf("rejects %v, want 3", rej)
	}
	for i, want := range []string{"longer than", "zero date", "zero date"} {
		if !strings.Contains(strings.ToLower(rej[i][1]), want) {
			t.Errorf("reject %s: reason %q, want it to say %q", rej[i][0], rej[i][1], want)
		}
	}
}

// TestCSVInput: a BOM, ragged rows and invalid UTF-8 in a CSV source.
func TestCSVInput(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	dir := t.TempDir()
	data := "\xEF\xBB\xBFid,name,score\n1,Ann,10\n2,\"Bo, the \"\"great\"\"\",20\n3,Cy\n4,D\xffi,40\n5,Ed,50,extra\n6,Fay,60\n"
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writePlan(t, "version: 1\nname: csvin\nstores:\n  files: { kind: csv, path: \""+dir+"\" }\n  main: { kind: postgres, url: \""+purl+"\" }\n"+
		"entities:\n  people:\n    from: files.people\n    to: main.people\n    id: [id]\n    max_rejects: 10\n")
	code, out, errOut := transitRun(t, "run", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	got := testenv.QueryStrings(t, purl, "SELECT id, name, score FROM people ORDER BY id")
	want := [][]string{{"1", "Ann", "10"}, {"2", `Bo, the "great"`, "20"}, {"6", "Fay", "60"}}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %v, want %v", i, got[i], want[i])
		}
	}
	rej := testenv.QueryStrings(t, purl, "SELECT reason FROM transit.rejects ORDER BY key::text")
	if len(rej) != 3 {
		t.Fatalf("rejects %v, want 3 (ragged short, invalid UTF-8, ragged long)", rej)
	}
}

package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
)

// dupCSV is issue 8's file, with one more row for key 1 at the end: a
// file is not sorted, so the repeats of a key can be anywhere in it.
const dupCSV = "id,name\n1,first\n1,second\n2,x\n3,y\n1,third\n"

// dupPlan writes a plan moving files.people (from dir) to main.people in
// purl's schema, with max_rejects and batch_size (0: default).
func dupPlan(t *testing.T, name, dir, purl, schema string, maxRejects, batch int) string {
	t.Helper()
	extra := ""
	if batch > 0 {
		extra = fmt.Sprintf("    batch_size: %d\n", batch)
	}
	return writePlan(t, "version: 1\nname: "+name+"\nstores:\n  files: { kind: csv, path: \""+dir+"\" }\n"+
		"  main: { kind: postgres, url: \""+purl+"\", schema: "+schema+" }\n"+
		"entities:\n  people:\n    from: files.people\n    to: main.people\n    id: [id]\n"+
		fmt.Sprintf("    max_rejects: %d\n", maxRejects)+extra)
}

func writeCSV(t *testing.T, data string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkDupOutcome checks the target and transit.rejects after a run of
// dupCSV: the first row of each key moved, the primary key built, and each
// later row a reject with its own payload and the kept row in the reason.
func checkDupOutcome(t *testing.T, purl, plan, schema string) {
	t.Helper()
	got := testenv.QueryStrings(t, purl, "SELECT id::text, name FROM "+schema+".people ORDER BY id")
	want := "1 first|2 x|3 y"
	var rows []string
	for _, r := range got {
		rows = append(rows, strings.Join(r, " "))
	}
	if strings.Join(rows, "|") != want {
		t.Errorf("target rows %v, want %s", rows, want)
	}
	pk := pgScalar(t, purl, "SELECT count(*) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", schema+".people")
	if pk != "1" {
		t.Errorf("primary keys on %s.people: %s, want 1", schema, pk)
	}
	rej := testenv.QueryStrings(t, purl, `SELECT r.key::text, r.reason, r.payload->>'name' FROM transit.rejects r JOIN transit.runs u ON u.id = r.run_id
		WHERE u.plan = $1 ORDER BY r.key::text`, plan)
	if len(rej) != 2 {
		t.Fatalf("rejects %v, want 2 (second and third for id 1)", rej)
	}
	for i, name := range []string{"second", "third"} {
		key, reason, payload := rej[i][0], rej[i][1], rej[i][2]
		if !strings.HasPrefix(reason, "duplicate key in source") {
			t.Errorf("reject %s: reason %q, want it to start with %q", key, reason, "duplicate key in source")
		}
		if !strings.Contains(reason, `"name":"first"`) || !strings.Contains(reason, "id=1") {
			t.Errorf("reject %s: reason %q does not quote the kept row", key, reason)
		}
		if payload != name {
			t.Errorf("reject %s: payload name %q, want %q", key, payload, name)
		}
		if !strings.HasPrefix(key, `["i:1", "s:duplicate `) {
			t.Errorf("reject key %s, want key 1 and its occurrence", key)
		}
	}
}

// TestDuplicateKeysFresh: a CSV with repeated keys into a new table (the
// fast COPY path with the key added afterwards). Before: exit 2 with a raw
// SQLSTATE 23505 and the duplicates left in the target.
func TestDuplicateKeysFresh(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	dir := writeCSV(t, dupCSV)
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			schema := fmt.Sprintf("fresh%d", batch)
			plan := "dupfresh" + schema
			code, out, errOut := transitRun(t, "run", dupPlan(t, plan, dir, purl, schema, 2, batch))
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			checkDupOutcome(t, purl, plan, schema)
		})
	}
}

// TestDuplicateKeysUpsert: the same file into a table that already holds
// rows (the upsert path). Before: the later rows silently overwrote the
// first one, with no reject.
func TestDuplicateKeysUpsert(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	dir := writeCSV(t, dupCSV)
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			schema := fmt.Sprintf("upsert%d", batch)
			plan := "dupupsert" + schema
			testenv.Exec(t, purl, "CREATE SCHEMA "+schema,
				"CREATE TABLE "+schema+".people (id bigint PRIMARY KEY, name text)",
				"INSERT INTO "+schema+".people VALUES (3, 'old')")
			code, out, errOut := transitRun(t, "run", dupPlan(t, plan, dir, purl, schema, 2, batch))
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			checkDupOutcome(t, purl, plan, schema)
		})
	}
}

// TestDuplicateKeysMaxRejects: duplicates count against max_rejects like
// any reject: past it the run stops with exit 1.
func TestDuplicateKeysMaxRejects(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	dir := writeCSV(t, dupCSV)
	code, out, errOut := transitRun(t, "run", dupPlan(t, "dupmax", dir, purl, "dupmax", 1, 0))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out+errOut, "rejects over the limit")
	if n := pgScalar(t, purl, `SELECT count(*) FROM transit.rejects r JOIN transit.runs u ON u.id = r.run_id
		WHERE u.plan = 'dupmax' AND r.reason LIKE 'duplicate key in source%'`); n != "2" {
		t.Errorf("%s duplicate rejects recorded, want 2", n)
	}
}

// TestDuplicateKeysMySQLOverride: a plan's id: names a column that is not
// unique in a MariaDB table, and a group of rows sharing a key straddles
// the source's keyset page (50,000 rows). Before: the rows of the group
// past the page were skipped silently (the next page starts after the
// key). After: every row is read once; all but the first of a key are
// rejects.
func TestDuplicateKeysMySQLOverride(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	for _, s := range []string{
		"CREATE TABLE events (id INT NOT NULL, seq INT NOT NULL, note VARCHAR(20), KEY (id))",
		"INSERT INTO events SELECT seq, seq, CONCAT('n', seq) FROM seq_1_to_60000",
		// 16 rows with id 50000 around row 50,000, and three with id 7
		"UPDATE events SET id = 50000 WHERE seq BETWEEN 49995 AND 50010",
		"UPDATE events SET id = 7 WHERE seq IN (8, 9, 30000)",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	p := writePlan(t, "version: 1\nname: dupmysql\nstores:\n  legacy: { kind: mysql, url: \""+murl+"\" }\n  main: { kind: postgres, url: \""+purl+"\" }\n"+
		"entities:\n  events:\n    from: legacy.events\n    to: main.events\n    id: [id]\n    batch_size: 1000\n    max_rejects: 100\n")
	code, out, errOut := transitRun(t, "run", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM events"); n != "59982" {
		t.Errorf("target holds %s rows, want 59982 (60000 less 15 + 3 repeats)", n)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.rejects WHERE reason LIKE 'duplicate key in source%'"); n != "18" {
		t.Errorf("%s duplicate rejects, want 18", n)
	}
	// Nothing lost: every source row is in the target or a reject.
	if n := pgScalar(t, purl, `SELECT count(DISTINCT seq) FROM (SELECT seq FROM events
		UNION ALL SELECT (payload->>'seq')::int FROM transit.rejects) x`); n != "60000" {
		t.Errorf("%s of 60000 source rows in the target or the rejects", n)
	}
	if n := pgScalar(t, purl, "SELECT sum(rows_read) FROM transit.chunks"); n != "60000" {
		t.Errorf("rows read %s, want 60000 (each once)", n)
	}
	pk := pgScalar(t, purl, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'p'")
	if pk != "1" {
		t.Errorf("primary keys on events: %s, want 1", pk)
	}
}

// seedDupEvents fills a MariaDB table events (no primary key) with n rows:
// seq is unique, id repeats the one before it on every 50th row, so that
// groups of equal ids fall across batches, chunks and the keyset page at
// row 50,000. It returns the number of distinct ids.
func seedDupEvents(t *testing.T, db *sql.DB, n int) int {
	t.Helper()
	for _, s := range []string{
		"CREATE TABLE events (id INT NOT NULL, seq INT NOT NULL, note VARCHAR(20), KEY (id))",
		fmt.Sprintf("INSERT INTO events SELECT IF(seq %% 50 = 1, seq - 1, seq), seq, CONCAT('n', seq) FROM seq_1_to_%d", n),
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	var distinct int
	if err := db.QueryRow("SELECT COUNT(DISTINCT id) FROM events").Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	return distinct
}

// checkDupEvents: every id once in the target with its key built, every
// other source row a duplicate reject, nothing lost, each row read once by
// the run that finished.
func checkDupEvents(t *testing.T, purl string, n, distinct int) {
	t.Helper()
	if got := pgScalar(t, purl, "SELECT count(*) FROM shop.events"); got != strconv.Itoa(distinct) {
		t.Errorf("target holds %s rows, want %d", got, distinct)
	}
	run := pgScalar(t, purl, "SELECT max(id) FROM transit.runs")
	if got := pgScalar(t, purl, "SELECT count(*) FROM transit.rejects WHERE run_id = $1 AND reason LIKE 'duplicate key in source%'", run); got != strconv.Itoa(n-distinct) {
		t.Errorf("%s duplicate rejects, want %d", got, n-distinct)
	}
	if got := pgScalar(t, purl, `SELECT count(DISTINCT seq) FROM (SELECT seq FROM shop.events
		UNION ALL SELECT (payload->>'seq')::int FROM transit.rejects WHERE run_id = $1) x`, run); got != strconv.Itoa(n) {
		t.Errorf("%s of %d source rows in the target or the rejects", got, n)
	}
	if got := pgScalar(t, purl, "SELECT sum(rows_rejected) FROM transit.chunks WHERE run_id = $1", run); got != strconv.Itoa(n-distinct) {
		t.Errorf("chunks count %s rejects, want %d", got, n-distinct)
	}
	runNo, _ := strconv.Atoi(run)
	readOnce(t, purl, runNo, n)
	if got := pgScalar(t, purl, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'shop.events'::regclass AND contype = 'p'"); got != "1" {
		t.Errorf("primary keys on shop.events: %s, want 1", got)
	}
}

func dupEventsPlan(t *testing.T, murl, purl string) string {
	return ordersPlanWith(t, murl, purl, "dupevents", `  events:
    from: legacy.events
    to: main.events
    id: [id]
    batch_size: 250
    max_rejects: 100000
`)
}

// TestDuplicateKeysKillAndResume kills transit with SIGKILL at random
// moments while it moves a table with repeated ids, then lets a run
// finish: the rejects and the rows moved are exactly as in one run.
func TestDuplicateKeysKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test in -short mode")
	}
	t.Parallel()
	bin := transitBinary(t)
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	const n = 60_000
	distinct := seedDupEvents(t, db, n)
	plan := dupEventsPlan(t, murl, purl)
	killRepeatedly(t, 6, 150, 400, []string{bin, "run", plan, "--workers", "2", "--chunk-rows", "5000", "--output", "json"},
		func() { testenv.Exec(t, purl, "DROP SCHEMA shop CASCADE", "DROP SCHEMA transit CASCADE") }, nil)
	if out, err := transitOutput(bin, "run", plan, "--workers", "2", "--chunk-rows", "5000"); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	checkDupEvents(t, purl, n, distinct)
}

// TestDuplicateKeysTwoProcesses: two processes share the run of a table
// with repeated ids.
func TestDuplicateKeysTwoProcesses(t *testing.T) {
	t.Parallel()
	bin := transitBinary(t)
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	const n = 60_000
	distinct := seedDupEvents(t, db, n)
	plan := dupEventsPlan(t, murl, purl)
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(bin, "run", plan, "--workers", "2", "--chunk-rows", "5000")
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	checkDupEvents(t, purl, n, distinct)
}

// TestDuplicateKeysSQLiteOverride: a non-unique id: on a SQLite table,
// whose keyset pages are one batch each. Before: the rows of a key past a
// page were skipped silently.
func TestDuplicateKeysSQLiteOverride(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	file := testenv.SQLiteFile(t)
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE events (id INTEGER NOT NULL, seq INTEGER NOT NULL);
		INSERT INTO events VALUES (1, 1), (1, 2), (1, 3), (2, 4), (3, 5), (3, 6), (3, 7), (3, 8), (4, 9)`); err != nil {
		t.Fatal(err)
	}
	p := writePlan(t, "version: 1\nname: dupsqlite\nstores:\n  legacy: { kind: sqlite, path: \""+file+"\" }\n  main: { kind: postgres, url: \""+purl+"\" }\n"+
		"entities:\n  events:\n    from: legacy.events\n    to: main.events\n    id: [id]\n    batch_size: 2\n    max_rejects: 10\n")
	code, out, errOut := transitRun(t, "run", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if got := pgScalar(t, purl, "SELECT string_agg(id::text, ',' ORDER BY id) FROM events"); got != "1,2,3,4" {
		t.Errorf("target ids %s, want 1,2,3,4", got)
	}
	if got := pgScalar(t, purl, `SELECT string_agg(seq::text, ',' ORDER BY seq) FROM (SELECT seq FROM events
		UNION ALL SELECT (payload->>'seq')::int FROM transit.rejects WHERE reason LIKE 'duplicate key in source%') x`); got != "1,2,3,4,5,6,7,8,9" {
		t.Errorf("source rows in the target or the rejects: %s, want all 9", got)
	}
}

// TestDuplicateKeysJSONL: the same repeats in a JSONL file, one of them
// far from the first row of its key.
func TestDuplicateKeysJSONL(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	dir := t.TempDir()
	data := `{"id": 1, "name": "first"}
{"id": 1, "name": "second"}
{"id": 2, "name": "x"}
{"id": 3, "name": "y"}
{"id": 1, "name": "third"}
`
	if err := os.WriteFile(filepath.Join(dir, "people.jsonl"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writePlan(t, "version: 1\nname: dupjsonl\nstores:\n  files: { kind: jsonl, path: \""+dir+"\" }\n"+
		"  main: { kind: postgres, url: \""+purl+"\", schema: dupjsonl }\n"+
		"entities:\n  people:\n    from: files.people\n    to: main.people\n    id: [id]\n    max_rejects: 2\n    batch_size: 1\n")
	code, out, errOut := transitRun(t, "run", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	checkDupOutcome(t, purl, "dupjsonl", "dupjsonl")
}

package main

import (
	"database/sql"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/transitdb/transit/internal/testenv"
)

// verifyLines parses verify --output json: one object per entity.
func verifyLines(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	m := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		m[o["entity"].(string)] = o
	}
	return m
}

// diffSummary renders an entity's diffs as "kind key [field old→new]…",
// sorted, for exact comparison.
func diffSummary(o map[string]any) []string {
	var out []string
	diffs, _ := o["diffs"].([]any)
	for _, d := range diffs {
		d := d.(map[string]any)
		key, _ := json.Marshal(d["key"])
		s := d["kind"].(string) + " " + string(key)
		fields, _ := d["fields"].([]any)
		for _, f := range fields {
			f := f.(map[string]any)
			old, _ := json.Marshal(f["old"])
			nw, _ := json.Marshal(f["new"])
			s += " " + f["column"].(string) + ":" + string(old) + "→" + string(nw)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestVerifyFindsAndRepairsEveryKindOfDifference migrates Chinook (plus a
// table with a BLOB) from SQLite, injects each kind of difference into the
// target, and checks the exact report, the exit codes and the repair.
func TestVerifyFindsAndRepairsEveryKindOfDifference(t *testing.T) {
	t.Parallel()
	target := testenv.Postgres(t)
	dbPath := chinookSQLite(t)
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE Cover (CoverId INTEGER PRIMARY KEY, AlbumId INTEGER NOT NULL, Image BLOB);
		INSERT INTO Cover VALUES (1, 1, x'89504e470d0a1a0a'), (2, 2, x'ffd8ffe000104a46'), (3, 3, NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	p := writePlan(t, `version: 1
name: chinook-verify
naming: snake_case
stores:
  legacy: { kind: sqlite, path: `+dbPath+` }
  main:   { kind: postgres, url: "`+target+`", schema: chinook }
tables:
  - from: legacy.*
    to: main
`)
	if code, out, errOut := transitRun(t, "run", p); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := transitRun(t, "verify", p, "--output", "json")
	if code != 0 {
		t.Fatalf("clean verify: exit %d\n%s\n%s", code, out, errOut)
	}
	for e, o := range verifyLines(t, out) {
		if o["status"] != "consistent" {
			t.Errorf("%s: %v", e, o["status"])
		}
	}

	testenv.Exec(t, target,
		"SET session_replication_role = replica",                                                                 // let the injections ignore foreign keys
		"DELETE FROM chinook.track WHERE track_id = 1",                                                           // missing row
		"INSERT INTO chinook.artist VALUES (9999, 'Nobody')",                                                     // extra row
		"UPDATE chinook.album SET title = 'Changed' WHERE album_id = 2",                                          // changed value
		"UPDATE chinook.customer SET company = '' WHERE customer_id = 3",                                         // NULL vs empty string
		"UPDATE chinook.invoice SET invoice_date = invoice_date + interval '1 microsecond' WHERE invoice_id = 4", // 1 µs
		"UPDATE chinook.artist SET name = name || ' ' WHERE artist_id = 5",                                       // trailing space
		"UPDATE chinook.invoice SET total = 0.98 WHERE invoice_id = 6",                                           // last digit of a decimal
		"UPDATE chinook.cover SET image = '\\x89504e470d0a1a0b' WHERE cover_id = 1",                              // one byte of a BLOB
		"DELETE FROM chinook.playlist_track WHERE playlist_id = 1 AND track_id = 3402",                           // composite key
	)
	code, out, errOut = transitRun(t, "verify", p, "--output", "json")
	if code != 1 {
		t.Fatalf("verify after injection: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	got := verifyLines(t, out)
	want := map[string][]string{
		"Album":         {`changed [2] Title:"Balls to the Wall"→"Changed"`},
		"Artist":        {`changed [5] Name:"Alice In Chains"→"Alice In Chains "`, `extra [9999]`},
		"Customer":      {`changed [3] Company:null→""`},
		"Invoice":       {`changed [4] InvoiceDate:"2021-01-06T00:00:00.000000Z"→"2021-01-06T00:00:00.000001Z"`, `changed [6] Total:"0.99"→"0.98"`},
		"Cover":         {`changed [1] Image:"89504e470d0a1a0a"→"89504e470d0a1a0b"`},
		"PlaylistTrack": {`missing [1,3402]`},
		"Track":         {`missing [1]`},
	}
	for e, o := range got {
		w := want[e]
		g := diffSummary(o)
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n got  %q\n want %q", e, g, w)
		}
	}
	// The terminal report names them too.
	code, out, _ = transitRun(t, "verify", p)
	if code != 1 {
		t.Fatalf("table verify: exit %d", code)
	}
	mustContain(t, out, "PlaylistTrack", "missing", "(1, 3402)", "extra", "(9999)")

	// Repair without deletes fixes all but the extra row.
	code, out, errOut = transitRun(t, "verify", p, "--repair")
	if code != 1 {
		t.Fatalf("repair without deletes: exit %d, want 1 (the extra row stays)\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = transitRun(t, "verify", p, "--repair", "--repair-deletes")
	if code != 0 {
		t.Fatalf("repair: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = transitRun(t, "verify", p, "--output", "json")
	if code != 0 {
		t.Fatalf("verify after repair: exit %d\n%s\n%s", code, out, errOut)
	}
	// The ledger keeps every verify.
	if n := pgScalar(t, target, "SELECT count(*) FROM transit.verify_runs"); n != "6" {
		t.Errorf("%s verify runs in the ledger, want 6", n)
	}
	if n := pgScalar(t, target, "SELECT count(*) FROM transit.verify_diffs"); n == "0" {
		t.Error("no diffs kept in the ledger")
	}
	// --since-last after a clean verify of an entity without a version
	// column falls back to a full verify, and says so.
	code, out, _ = transitRun(t, "verify", p, "--since-last", "--entity", "Album", "--output", "json")
	if code != 0 {
		t.Fatalf("since-last: exit %d\n%s", code, out)
	}
	mustContain(t, out, `"mode":"full"`)
}

package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/transitdb/transit/internal/testenv"
)

// deletesOf returns the "deletes" event of entity in a --output json run.
func deletesOf(t *testing.T, out, entity string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"event":"deletes"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["entity"] == entity {
			return m
		}
	}
	t.Fatalf("no deletes event for %s in output:\n%s", entity, out)
	return nil
}

func num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

// runDeletesJSON runs `transit run PLAN --deletes --output json` and
// returns the deletes event of entity.
func runDeletesJSON(t *testing.T, plan, entity string) map[string]any {
	t.Helper()
	code, out, errOut := transitRun(t, "run", plan, "--deletes", "--output", "json")
	if code != 0 {
		t.Fatalf("run --deletes: exit %d\n%s\n%s", code, out, errOut)
	}
	d := deletesOf(t, out, entity)
	t.Logf("deletes: %v", d)
	return d
}

func verifyClean(t *testing.T, plan string) {
	t.Helper()
	if code, out, errOut := transitRun(t, "verify", plan); code != 0 {
		t.Fatalf("verify after --deletes: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
}

// TestRunDeletesMariaDB: 137 keys deleted in the old MariaDB table and 3
// keys that were never there (below, inside and above the old key range)
// are exactly the ones removed from PostgreSQL; verify is clean after; a
// second pass finds nothing; a pass over identical stores deletes nothing.
func TestRunDeletesMariaDB(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	seedOrders(t, db, 50_000)
	plan := ordersPlan(t, murl, purl, 5000)

	// The backfill with --deletes: nothing differs, nothing deleted, and
	// no chunk needs narrowing.
	d := runDeletesJSON(t, plan, "orders")
	if num(d, "deleted") != 0 || num(d, "found") != 0 || num(d, "chunks_differing") != 0 {
		t.Fatalf("identical stores: %v", d)
	}
	if num(d, "rows_old") != 50_000 || num(d, "rows_new") != 50_000 {
		t.Errorf("rows compared: %v", d)
	}
	if d["old_pushdown"] != true || d["new_pushdown"] != true {
		t.Errorf("keys not hashed on the servers: %v", d)
	}

	if _, err := db.Exec("DELETE FROM orders WHERE id % 365 = 7"); err != nil { // 137 rows, spread over every chunk
		t.Fatal(err)
	}
	testenv.Exec(t, purl, `INSERT INTO shop.orders (id, customer, amount, status, note, updated_at) VALUES
		(-3, 'never in old', 1, 'new', NULL, '2024-01-01'), (60000, 'never in old', 1, 'new', NULL, '2024-01-01'),
		(900000, 'never in old', 1, 'new', NULL, '2024-01-01')`)
	testenv.Exec(t, purl, "UPDATE shop.orders SET id = 25000 + 1000000 WHERE id = 25000") // one key moved: old 25000 now missing, 1025000 extra
	if _, err := db.Exec("UPDATE orders SET updated_at = updated_at WHERE id = 25000"); err != nil {
		t.Fatal(err)
	}

	d = runDeletesJSON(t, plan, "orders")
	if got := num(d, "deleted"); got != 137+3+1 {
		t.Errorf("deleted %d rows, want 141 (137 deleted in old, 3 never there, 1 moved key)\n%v", got, d)
	}
	if num(d, "kept") != 0 {
		t.Errorf("kept %v", d)
	}
	// The missing key 25000 is not --deletes' business: put it back.
	if code, out, errOut := transitRun(t, "verify", plan, "--repair"); code != 0 {
		t.Fatalf("verify --repair: exit %d\n%s\n%s", code, out, errOut)
	}
	sameOrders(t, db, purl)
	verifyClean(t, plan)

	// Run again: nothing more to delete, nothing narrowed.
	d = runDeletesJSON(t, plan, "orders")
	if num(d, "deleted") != 0 || num(d, "chunks_differing") != 0 {
		t.Errorf("second pass: %v", d)
	}
	// The ledger keeps each pass and its count.
	rows := testenv.QueryStrings(t, purl, "SELECT status, deleted::text FROM transit.deletes WHERE entity = 'orders' ORDER BY id")
	var got []string
	for _, r := range rows {
		got = append(got, r[0]+":"+r[1])
	}
	if strings.Join(got, " ") != "done:0 done:141 done:0" {
		t.Errorf("ledger: %v", got)
	}
	// The terminal output names the count.
	if _, err := db.Exec("DELETE FROM orders WHERE id = 42"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := transitRun(t, "run", plan, "--deletes")
	if code != 0 {
		t.Fatalf("run --deletes: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "deletes: records only the target held", "orders", "main.orders")
	if n := pgScalar(t, purl, "SELECT count(*) FROM shop.orders WHERE id = 42"); n != "0" {
		t.Error("row 42 not deleted")
	}
}

// TestRunDeletesSQLiteCompositeKey: a SQLite table keyed by (integer, text),
// with text keys that sort differently in PostgreSQL's default collation
// and in binary order. Keys deleted in SQLite and keys only PostgreSQL
// ever had are removed, nothing else.
func TestRunDeletesSQLiteCompositeKey(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	path := testenv.SQLiteFile(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{
		`CREATE TABLE line (order_id INTEGER NOT NULL, code TEXT NOT NULL, qty INTEGER, PRIMARY KEY (order_id, code))`,
		`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 6000)
		 INSERT INTO line SELECT n, c.code, n % 7 FROM s, (SELECT 'a' AS code UNION ALL SELECT 'B' UNION ALL SELECT 'b-2' UNION ALL SELECT 'Z') c`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	plan := writePlan(t, `version: 1
name: lines
stores:
  legacy: { kind: sqlite, path: `+path+` }
  main:   { kind: postgres, url: "`+purl+`", schema: shop }
entities:
  line:
    from: legacy.line
    to: main.line
`)
	if d := runDeletesJSON(t, plan, "line"); num(d, "deleted") != 0 || num(d, "rows_new") != 24_000 {
		t.Fatalf("backfill: %v", d)
	}
	res, err := db.Exec("DELETE FROM line WHERE (order_id % 97 = 3 AND code = 'B') OR (order_id % 101 = 5 AND code = 'a')")
	if err != nil {
		t.Fatal(err)
	}
	deleted, _ := res.RowsAffected()
	testenv.Exec(t, purl, `INSERT INTO shop.line VALUES (1, 'A', 0), (3000, 'b', 0), (3000, 'b-1', 0), (9999, 'Z', 0)`)

	d := runDeletesJSON(t, plan, "line")
	if got := num(d, "deleted"); got != deleted+4 {
		t.Errorf("deleted %d, want %d (%d in old + 4 only in new)\n%v", got, deleted+4, deleted, d)
	}
	if d["old_pushdown"] != false || d["new_pushdown"] != true {
		t.Errorf("pushdown: %v", d)
	}
	// Exactly the source's keys are left.
	want := map[string]bool{}
	rows, err := db.Query("SELECT order_id, code FROM line")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var code string
		if err := rows.Scan(&id, &code); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("%d|%s", id, code)] = true
	}
	rows.Close()
	got := testenv.QueryStrings(t, purl, "SELECT order_id::text || '|' || code FROM shop.line")
	if len(got) != len(want) {
		t.Errorf("target holds %d keys, source %d", len(got), len(want))
	}
	for _, r := range got {
		if !want[r[0]] {
			t.Errorf("key %s left in the target", r[0])
		}
	}
	verifyClean(t, plan)
	if d := runDeletesJSON(t, plan, "line"); num(d, "deleted") != 0 || num(d, "chunks_differing") != 0 {
		t.Errorf("second pass: %v", d)
	}
}

// TestRunDeletesCSV: a CSV source (no server-side hashing: keys are
// streamed and hashed in transit). Lines removed from the file are
// removed from the target.
func TestRunDeletesCSV(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "people.csv")
	write := func(skip func(int) bool) int {
		var b strings.Builder
		b.WriteString("id,name\n")
		n := 0
		for i := 1; i <= 5000; i++ {
			if skip(i) {
				continue
			}
			fmt.Fprintf(&b, "%d,name %d\n", i, i)
			n++
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return n
	}
	write(func(int) bool { return false })
	plan := writePlan(t, `version: 1
name: people
stores:
  files: { kind: csv, path: `+dir+` }
  main:  { kind: postgres, url: "`+purl+`", schema: crm }
entities:
  people:
    from: files.people
    to: main.people
`)
	if d := runDeletesJSON(t, plan, "people"); num(d, "deleted") != 0 {
		t.Fatalf("backfill: %v", d)
	}
	left := write(func(i int) bool { return i%250 == 1 }) // 20 lines gone
	d := runDeletesJSON(t, plan, "people")
	if num(d, "deleted") != 20 || d["old_pushdown"] != false {
		t.Errorf("deleted %d, want 20\n%v", num(d, "deleted"), d)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM crm.people"); n != strconv.Itoa(left) {
		t.Errorf("target holds %s rows, file %d", n, left)
	}
	verifyClean(t, plan)

	// An empty file (a wrong path, a file being rewritten) deletes nothing.
	write(func(int) bool { return true })
	code, out, errOut := transitRun(t, "run", plan, "--deletes", "--output", "json")
	if code != 2 {
		t.Fatalf("--deletes with an empty source: exit %d, want 2\n%s\n%s", code, out, errOut)
	}
	mustContain(t, errOut, "refusing to delete every row")
	if n := pgScalar(t, purl, "SELECT count(*) FROM crm.people"); n != strconv.Itoa(left) {
		t.Errorf("target holds %s rows after the refusal, want %d", n, left)
	}
}

// TestRunDeletesKilled kills `transit run --deletes` with SIGKILL while it
// deletes, then runs it again: the second pass finishes the job, the
// ledger shows the first pass interrupted, verify is clean.
func TestRunDeletesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test in -short mode")
	}
	t.Parallel()
	deletesInterrupted(t, syscall.SIGKILL)
}

// TestRunDeletesTerminated: SIGTERM during the deletes pass stops it with
// exit 143, the pass recorded interrupted; the next run finishes the job.
func TestRunDeletesTerminated(t *testing.T) {
	if testing.Short() {
		t.Skip("signal test in -short mode")
	}
	t.Parallel()
	deletesInterrupted(t, syscall.SIGTERM)
}

// deletesInterrupted sends sig to `transit run --deletes` once its pass has
// deleted a first batch, then runs the command again and checks the target
// equals the source, verify is clean and the ledger tells the story.
func deletesInterrupted(t *testing.T, sig syscall.Signal) {
	bin, murl, purl, db := ordersSetup(t, 120_000)
	plan := ordersPlan(t, murl, purl, 5000)
	t0 := time.Now()
	if out, err := runBin(bin, "run", plan); err != nil {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
	t.Logf("backfill took %s", time.Since(t0))
	killed := false
	total := int64(0)
	for attempt := 0; attempt < 5 && !killed; attempt++ {
		// Delete every third remaining row of a slice of the table in old:
		// ~40 batches of 1,000 deletes, spread over every chunk.
		res, err := db.Exec(fmt.Sprintf("DELETE FROM orders WHERE id %% 3 = %d", attempt%3))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := res.RowsAffected()
		total += n
		cmd, out := startTransit(t, bin, "run", plan, "--deletes", "--output", "json")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		for !killed {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run --deletes: %v\n%s", err, out.String())
				}
				t.Logf("attempt %d: the pass finished before the kill; again", attempt)
			case <-time.After(5 * time.Millisecond):
				if pgScalar(t, purl, "SELECT count(*) FROM transit.deletes WHERE status = 'running' AND deleted > 0") == "1" {
					_ = cmd.Process.Signal(sig)
					err := <-done
					killed = true
					if sig == syscall.SIGTERM {
						ee, ok := err.(*osexec.ExitError)
						if !ok || ee.ExitCode() != 143 {
							t.Fatalf("after SIGTERM: %v, want exit 143\n%s", err, out.String())
						}
						if st := pgScalar(t, purl, "SELECT status FROM transit.deletes ORDER BY id DESC LIMIT 1"); st != "interrupted" {
							t.Errorf("the terminated pass is recorded %s, want interrupted", st)
						}
					}
				}
				continue
			}
			break
		}
	}
	if !killed {
		t.Fatal("no kill landed during a --deletes pass in 5 attempts")
	}
	t.Logf("killed after %s", time.Since(t0))
	var left string
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM shop.orders"); n == left {
		t.Fatal("the killed pass had already deleted everything")
	}
	d := runDeletesJSON(t, plan, "orders")
	if want := map[syscall.Signal]int64{syscall.SIGKILL: 1}[sig]; num(d, "unfinished_before") != want {
		t.Errorf("unfinished passes before: %v, want %d", d, want)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM shop.orders"); n != left {
		t.Errorf("target holds %s rows after the second pass, source %s", n, left)
	}
	t.Logf("second pass done after %s", time.Since(t0))
	sameOrders(t, db, purl)
	verifyClean(t, plan)
	t.Logf("verified after %s", time.Since(t0))
	// Every deleted row is counted once over all passes, give or take the
	// last batch the killed pass committed without updating its row.
	rows := testenv.QueryStrings(t, purl, "SELECT status, deleted FROM transit.deletes ORDER BY id")
	var statuses []string
	var sum int64
	for _, r := range rows {
		statuses = append(statuses, r[0])
		v, _ := strconv.ParseInt(r[1], 10, 64)
		sum += v
	}
	sort.Strings(statuses)
	if statuses[len(statuses)-1] == "running" || !strings.Contains(strings.Join(statuses, " "), "interrupted") {
		t.Errorf("ledger statuses after the second pass: %v", statuses)
	}
	if sum > total || sum < total-1000 {
		t.Errorf("the ledger counts %d deleted rows over all passes, %d were deleted in old", sum, total)
	}
}

func runBin(bin string, args ...string) (string, error) {
	out, err := transitOutput(bin, args...)
	return string(out), err
}

package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
)

// seedOrders creates table orders with n rows in a fresh MariaDB database.
func seedOrders(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	stmts := []string{
		`CREATE TABLE orders (
			id BIGINT NOT NULL PRIMARY KEY,
			customer VARCHAR(40) NOT NULL,
			amount DECIMAL(12,2) NULL,
			status ENUM('new','paid','shipped') NOT NULL,
			note TEXT NULL,
			updated_at DATETIME(6) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO orders SELECT seq, CONCAT('customer ', seq %% 977), (seq * 7 %% 100000) / 100,
			ELT(1 + seq %% 3, 'new', 'paid', 'shipped'), IF(seq %% 5 = 0, NULL, REPEAT('x', seq %% 20)),
			TIMESTAMP('2024-01-01 00:00:00') + INTERVAL (seq %% 86400) SECOND
			FROM seq_1_to_%d`, n),
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
}

func ordersPlan(t *testing.T, murl, purl string, batch int) string {
	return ordersPlanWith(t, murl, purl, "orders", fmt.Sprintf(`  orders:
    from: legacy.orders
    to: main.orders
    version: updated_at
    lag: 1s
    batch_size: %d
`, batch))
}

// ordersSetup makes what the orders tests share: the built binary, fresh
// MariaDB and PostgreSQL databases, and table orders with n rows.
func ordersSetup(t *testing.T, n int) (bin, murl, purl string, db *sql.DB) {
	t.Helper()
	bin = transitBinary(t)
	murl, db = testenv.MySQL(t)
	purl = testenv.Postgres(t)
	seedOrders(t, db, n)
	return bin, murl, purl, db
}

// ordersPlanWith writes a plan named name from MariaDB (legacy) to schema
// shop of PostgreSQL (main), with the given entities: block (its lines,
// indented two spaces).
func ordersPlanWith(t *testing.T, murl, purl, name, entities string) string {
	return writePlan(t, fmt.Sprintf(`version: 1
name: %s
stores:
  legacy: { kind: mysql, url: "%s" }
  main:   { kind: postgres, url: "%s", schema: shop }
entities:
%s`, name, murl, purl, entities))
}

// sameOrders compares the whole target table with the source.
func sameOrders(t *testing.T, db *sql.DB, purl string) {
	t.Helper()
	rows, err := db.Query(`SELECT id, customer, COALESCE(CAST(amount AS CHAR), 'NULL'), status, COALESCE(note, 'NULL'),
		DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') FROM orders ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []string
	for rows.Next() {
		var a, b, c, d, e, f string
		if err := rows.Scan(&a, &b, &c, &d, &e, &f); err != nil {
			t.Fatal(err)
		}
		want = append(want, strings.Join([]string{a, b, c, d, e, f}, "|"))
	}
	got := testenv.QueryStrings(t, purl, `SELECT id::text || '|' || customer || '|' || COALESCE(amount::text, 'NULL') || '|' || status || '|' ||
		COALESCE(note, 'NULL') || '|' || to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS.US') FROM shop.orders ORDER BY id`)
	if len(got) != len(want) {
		t.Fatalf("target has %d rows, source %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		if got[i][0] != want[i] {
			if bad < 5 {
				t.Errorf("row %d:\n got  %s\n want %s", i, got[i][0], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d rows differ", bad)
	}
}

// TestKillAndResume kills the binary with SIGKILL at random moments during
// a backfill, restarting it each time, then checks the target equals the
// source exactly: nothing lost, nothing duplicated, nothing stale.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test in -short mode")
	}
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 300_000)
	// Small batches: many commits, so kills land mid-backfill.
	plan := ordersPlan(t, murl, purl, 200)

	// Kill at random moments until 20 kills have landed mid-backfill. On
	// a fast machine a backfill may finish between two kills: then the
	// target is wiped and a new backfill is killed in turn.
	backfills := 1
	killRepeatedly(t, 20, 100, 250, []string{bin, "run", plan, "--workers", "2", "--chunk-rows", "20000", "--output", "json"},
		func() {
			sameOrdersUpTo(t, db, purl) // a finished backfill holds every row
			testenv.Exec(t, purl, "DROP SCHEMA shop CASCADE", "DROP SCHEMA transit CASCADE")
			backfills++
		},
		func(kills int) {
			// Meanwhile the source keeps changing, as a live one does: each
			// change gets a newer version than any before it.
			if _, err := db.Exec(`UPDATE orders SET amount = amount + 1, updated_at = TIMESTAMP('2024-02-01') + INTERVAL ? SECOND WHERE id = ?`,
				kills, 1+rand.IntN(300_000)); err != nil {
				t.Fatal(err)
			}
		})
	t.Logf("20 kills over %d backfill(s)", backfills)
	if out, err := transitOutput(bin, "run", plan, "--workers", "2"); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	// Rows changed behind the backfill's cursor arrive with the catch-up.
	if out, err := transitOutput(bin, "run", plan); err != nil {
		t.Fatalf("catch-up run: %v\n%s", err, out)
	}
	sameOrders(t, db, purl)
	// The ledger shows each chunk done once, all rows read once in total
	// by batches that committed.
	first, err := strconv.Atoi(pgScalar(t, purl, "SELECT min(id) FROM transit.runs"))
	if err != nil {
		t.Fatal(err)
	}
	readOnce(t, purl, first, 300_000)
}

// TestKillWhileCutting kills transit at random moments while it copies a
// table without a version column, which is cut into chunks while it is
// copied (by the workers and by the cutter ahead of them): a kill in the
// middle of a cut loses no key range and copies none twice.
func TestKillWhileCutting(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test in -short mode")
	}
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 100_000)
	if _, err := db.Exec("ANALYZE TABLE orders"); err != nil {
		t.Fatal(err)
	}
	plan := ordersPlanWith(t, murl, purl, "orders", `  orders:
    from: legacy.orders
    to: main.orders
    batch_size: 250
`)
	killRepeatedly(t, 8, 50, 200, []string{bin, "run", plan, "--workers", "3", "--chunk-rows", "2500", "--output", "json"},
		func() { testenv.Exec(t, purl, "DROP SCHEMA shop CASCADE", "DROP SCHEMA transit CASCADE") }, nil)
	if out, err := transitOutput(bin, "run", plan, "--workers", "3"); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	sameOrders(t, db, purl)
	first, err := strconv.Atoi(pgScalar(t, purl, "SELECT min(id) FROM transit.runs"))
	if err != nil {
		t.Fatal(err)
	}
	readOnce(t, purl, first, 100_000)
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE run_id = $1 AND open", first); n != "0" {
		t.Errorf("%s chunks left open", n)
	}
}

// killRepeatedly runs args (the binary first) and kills it with SIGKILL
// after a random minMs to minMs+spanMs milliseconds, until kills kills
// have landed. A run that exits 0 before its kill calls finished (which
// must reset the target for a new backfill) and is started again; one that
// fails fails the test. afterKill, when set, runs after each kill with the
// number of kills so far.
func killRepeatedly(t *testing.T, kills, minMs, spanMs int, args []string, finished func(), afterKill func(kills int)) {
	t.Helper()
	for n := 0; n < kills; {
		cmd, out := startTransit(t, args[0], args[1:]...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run exited early: %v\n%s", err, out.String())
			}
			finished()
			continue
		case <-time.After(time.Duration(minMs+rand.IntN(spanMs)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			n++
		}
		if afterKill != nil {
			afterKill(n)
		}
	}
}

// startTransit starts the binary with args, its output collected in out.
func startTransit(t *testing.T, bin string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// readOnce asserts that run's chunks are all done and that its committed
// batches read exactly want rows: no batch was written twice.
func readOnce(t *testing.T, purl string, run, want int) {
	t.Helper()
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE run_id = $1 AND status <> 'done'", run); n != "0" {
		t.Errorf("run %d: %s chunks not done", run, n)
	}
	if n := pgScalar(t, purl, "SELECT sum(rows_read) FROM transit.chunks WHERE run_id = $1", run); n != strconv.Itoa(want) {
		t.Errorf("run %d committed %s rows read, want exactly %d (no batch twice)", run, n, want)
	}
}

// waitForBatches waits (up to 30 s) until a run has committed a batch.
func waitForBatches(t *testing.T, purl string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		rows := testenv.QueryStrings(t, purl, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'transit' AND table_name = 'chunks'")
		if rows[0][0] == "1" && pgScalar(t, purl, "SELECT COALESCE(sum(batches), 0) FROM transit.chunks") != "0" {
			return
		}
	}
	t.Fatal("no batch committed within 30 s")
}

// sameOrdersUpTo checks a finished backfill: every source row is in the
// target, none twice (values may lag behind changes made meanwhile; the
// catch-up brings those).
func sameOrdersUpTo(t *testing.T, db *sql.DB, purl string) {
	t.Helper()
	var n string
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got := pgScalar(t, purl, "SELECT count(DISTINCT id) FROM shop.orders"); got != n {
		t.Fatalf("finished backfill holds %s rows, source %s", got, n)
	}
}

// TestTerminateAndResume sends SIGTERM during a backfill: transit stops
// within 10 s with exit 143, leaving a checkpoint; the next run finishes.
func TestTerminateAndResume(t *testing.T) {
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 200_000)
	plan := ordersPlan(t, murl, purl, 1000)

	cmd, out := startTransit(t, bin, "run", plan, "--workers", "2", "--chunk-rows", "20000")
	waitForBatches(t, purl)
	sent := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	took := time.Since(sent)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 143 {
		t.Fatalf("want exit 143 after SIGTERM, got %v\n%s", err, out.String())
	}
	if took > 10*time.Second {
		t.Errorf("took %s to stop", took)
	}
	mustContain(t, out.String(), "Resume with")
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE position IS NOT NULL OR status = 'done'"); n == "0" {
		t.Error("no checkpoint written")
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE lease_owner IS NOT NULL"); n != "0" {
		t.Errorf("%s leases still held after a clean stop", n)
	}
	if out, err := transitOutput(bin, "run", plan); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	sameOrders(t, db, purl)
	readOnce(t, purl, 1, 200_000)
}

// TestTwoProcessesShareARun starts two transit processes on one plan at
// once: they finish the run together, each chunk written once.
func TestTwoProcessesShareARun(t *testing.T) {
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 200_000)
	// orders has a version column, so its chunks are cut up front; the
	// same rows as orders_nv (no version) are cut progressively while the
	// two processes copy.
	plan := ordersPlanWith(t, murl, purl, "orders", `  orders:
    from: legacy.orders
    to: main.orders
    version: updated_at
    batch_size: 2000
  orders_nv:
    from: legacy.orders
    to: main.orders_nv
    batch_size: 2000
`)
	if _, err := db.Exec("ANALYZE TABLE orders"); err != nil {
		t.Fatal(err)
	}
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(bin, "run", plan, "--workers", "2", "--chunk-rows", "10000")
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
	sameOrders(t, db, purl)
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.runs"); n != "1" {
		t.Errorf("%s runs, want one shared run", n)
	}
	// every chunk done, by exactly one owner, each row read once
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE status <> 'done' OR done_by IS NULL"); n != "0" {
		t.Errorf("%s chunks not done", n)
	}
	for _, e := range []string{"orders", "orders_nv"} {
		if n := pgScalar(t, purl, "SELECT sum(rows_read) FROM transit.chunks WHERE entity = $1", e); n != "200000" {
			t.Errorf("%s: rows read %s, want 200000", e, n)
		}
	}
	// 20 chunks of 10000 rows (and, when the last cut falls on the last
	// row, an empty rest).
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE entity = 'orders_nv' AND rows_read = 10000"); n != "20" {
		t.Errorf("orders_nv cut into %s chunks of 10000 rows, want 20", n)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE entity = 'orders_nv' AND rows_read NOT IN (0, 10000)"); n != "0" {
		t.Errorf("orders_nv has %s chunks of another size", n)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM shop.orders_nv"); n != "200000" {
		t.Errorf("orders_nv holds %s rows", n)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE batches <> ceil(rows_read / 2000.0)"); n != "0" {
		t.Errorf("%s chunks wrote a batch twice", n)
	}
	owners := pgScalar(t, purl, "SELECT count(DISTINCT split_part(done_by, ':', 2)) FROM transit.chunks")
	t.Logf("chunks done by %s processes", owners)
	if owners != "2" {
		t.Errorf("chunks done by %s processes, want both", owners)
	}
}

// TestAbandonAfterInterrupt: a backfill into a table transit created loads
// it before adding its primary key. Interrupted, then abandoned, the next
// run finds a half-filled table without its key: it must add the key and
// upsert the rest, ending equal to the source.
func TestAbandonAfterInterrupt(t *testing.T) {
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 100_000)
	plan := ordersPlan(t, murl, purl, 500)
	cmd, _ := startTransit(t, bin, "run", plan, "--workers", "2", "--chunk-rows", "10000")
	waitForBatches(t, purl)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if pgScalar(t, purl, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'shop.orders'::regclass AND contype = 'p'") != "0" {
		t.Skip("the backfill finished before the kill; nothing to check")
	}
	// A changed plan may not join the unfinished run: exit 2, saying why.
	changed := ordersPlan(t, murl, purl, 700)
	outb, err := transitOutput(bin, "run", changed)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("changed plan over an unfinished run: %v, want exit 2\n%s", err, outb)
	}
	mustContain(t, string(outb), "still in progress with a different version of the plan", "--abandon")
	if out, err := transitOutput(bin, "run", changed, "--abandon"); err != nil {
		t.Fatalf("run --abandon: %v\n%s", err, out)
	}
	sameOrders(t, db, purl)
	if n := pgScalar(t, purl, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'shop.orders'::regclass AND contype = 'p'"); n != "1" {
		t.Errorf("primary keys on shop.orders: %s", n)
	}
	if n := pgScalar(t, purl, "SELECT status FROM transit.runs WHERE id = 1"); n != "failed" {
		t.Errorf("abandoned run status %s", n)
	}
}

// TestSurvivesLostConnections cuts every connection transit has to both
// servers, three times during a backfill (as a restart of either server
// would): the run retries from its checkpoints and finishes exactly.
func TestSurvivesLostConnections(t *testing.T) {
	t.Parallel()
	bin, murl, purl, db := ordersSetup(t, 200_000)
	plan := ordersPlan(t, murl, purl, 250)
	var mydb string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&mydb); err != nil {
		t.Fatal(err)
	}
	cmd, out := startTransit(t, bin, "run", plan, "--workers", "2", "--chunk-rows", "20000")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitForBatches(t, purl)
	cuts := 0
	for cuts < 3 {
		select {
		case err := <-done:
			t.Fatalf("run ended after %d cuts (%v); make it slower\n%s", cuts, err, out.String())
		case <-time.After(150 * time.Millisecond):
		}
		// MariaDB: kill the connections to the test's database but ours.
		rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", mydb)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			_, _ = db.Exec(fmt.Sprintf("KILL %d", id))
		}
		// PostgreSQL: terminate every backend on the target database.
		testenv.Exec(t, purl, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		cuts++
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run failed after lost connections: %v\n%s", err, out.String())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("run did not finish\n%s", out.String())
	}
	mustContain(t, out.String(), "retrying")
	sameOrders(t, db, purl)
	readOnce(t, purl, 1, 200_000)
}

// TestEntitySubsetJoinsARun: a process started with --entity joins the
// plan's unfinished run and moves only that entity; a later run without
// --entity finishes the rest.
func TestEntitySubsetJoinsARun(t *testing.T) {
	t.Parallel()
	bin, murl, purl, _ := ordersSetup(t, 100_000)
	plan := ordersPlanWith(t, murl, purl, "subset", `  orders:    { from: legacy.orders, to: main.orders, batch_size: 500 }
  orders_nv: { from: legacy.orders, to: main.orders_nv, batch_size: 500 }
`)
	cmd, out := startTransit(t, bin, "run", plan, "--workers", "1", "--chunk-rows", "10000")
	waitForBatches(t, purl)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err == nil {
		t.Skip("the run finished before the stop; nothing to check")
	}
	if !strings.Contains(out.String(), "Resume with") {
		t.Fatalf("no clean stop:\n%s", out.String())
	}
	o, err := transitOutput(bin, "run", plan, "--entity", "orders_nv")
	if err != nil {
		t.Fatalf("run --entity orders_nv: %v\n%s", err, o)
	}
	if pgScalar(t, purl, "SELECT status FROM transit.runs") != "running" {
		// orders may have been done before the stop; then the run is done
		if pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE entity = 'orders' AND status = 'pending'") != "0" {
			t.Fatal("run marked done with orders pending")
		}
	} else {
		mustContain(t, string(o), "still has others")
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM shop.orders_nv"); n != "100000" {
		t.Errorf("orders_nv holds %s rows", n)
	}
	if o, err := transitOutput(bin, "run", plan); err != nil {
		t.Fatalf("final run: %v\n%s", err, o)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM shop.orders"); n != "100000" {
		t.Errorf("orders holds %s rows", n)
	}
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.runs WHERE status = 'done'"); n != "1" {
		t.Errorf("%s runs done, want the one shared run", n)
	}
}

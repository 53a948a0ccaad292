package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
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
	return writePlan(t, fmt.Sprintf(`version: 1
name: orders
stores:
  legacy: { kind: mysql, url: "%s" }
  main:   { kind: postgres, url: "%s", schema: shop }
entities:
  orders:
    from: legacy.orders
    to: main.orders
    version: updated_at
    lag: 1s
    batch_size: %d
`, murl, purl, batch))
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
	bin := transitBinary(t)
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	seedOrders(t, db, 240_000)
	plan := ordersPlan(t, murl, purl, 2000)

	kills := 0
	for kills < 20 {
		cmd := exec.Command(bin, "run", plan, "--workers", "2", "--chunk-rows", "20000", "--output", "json")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			// finished before the kill: the backfill is over
			if err != nil {
				t.Fatalf("run exited early: %v\n%s", err, out.String())
			}
			t.Logf("backfill finished after %d kills", kills)
			goto finished
		case <-time.After(time.Duration(150+rand.IntN(350)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
		// Meanwhile the source keeps changing, as a live one does.
		if _, err := db.Exec(`UPDATE orders SET amount = amount + 1, updated_at = updated_at + INTERVAL 1 DAY WHERE id = ?`, 1+rand.IntN(240_000)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(bin, "run", plan, "--workers", "2").CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
finished:
	if kills < 20 {
		t.Errorf("only %d kills landed during the backfill; make it slower", kills)
	}
	// Rows changed behind the backfill's cursor arrive with the catch-up.
	if out, err := exec.Command(bin, "run", plan).CombinedOutput(); err != nil {
		t.Fatalf("catch-up run: %v\n%s", err, out)
	}
	sameOrders(t, db, purl)
	// The ledger shows each chunk done once, all rows read once in total
	// by batches that committed.
	if n := pgScalar(t, purl, "SELECT count(*) FROM transit.chunks WHERE run_id = 1 AND status <> 'done'"); n != "0" {
		t.Errorf("%s chunks not done", n)
	}
	if n := pgScalar(t, purl, "SELECT sum(rows_read) FROM transit.chunks WHERE run_id = 1"); n != "240000" {
		t.Errorf("run 1 committed %s rows read, want exactly 240000 (no batch twice)", n)
	}
}

// TestTerminateAndResume sends SIGTERM during a backfill: transit stops
// within 10 s with exit 143, leaving a checkpoint; the next run finishes.
func TestTerminateAndResume(t *testing.T) {
	t.Parallel()
	bin := transitBinary(t)
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	seedOrders(t, db, 200_000)
	plan := ordersPlan(t, murl, purl, 1000)

	cmd := exec.Command(bin, "run", plan, "--workers", "2", "--chunk-rows", "20000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// wait until some batches are in
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		rows := testenv.QueryStrings(t, purl, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'transit' AND table_name = 'chunks'")
		if rows[0][0] == "1" && pgScalar(t, purl, "SELECT COALESCE(sum(batches), 0) FROM transit.chunks") != "0" {
			break
		}
	}
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
	if out, err := exec.Command(bin, "run", plan).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	sameOrders(t, db, purl)
	if n := pgScalar(t, purl, "SELECT sum(rows_read) FROM transit.chunks WHERE run_id = 1"); n != "200000" {
		t.Errorf("rows read %s, want 200000", n)
	}
}

// TestTwoProcessesShareARun starts two transit processes on one plan at
// once: they finish the run together, each chunk written once.
func TestTwoProcessesShareARun(t *testing.T) {
	t.Parallel()
	bin := transitBinary(t)
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	seedOrders(t, db, 200_000)
	plan := ordersPlan(t, murl, purl, 2000)
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
	if n := pgScalar(t, purl, "SELECT sum(rows_read) FROM transit.chunks"); n != "200000" {
		t.Errorf("rows read %s, want 200000", n)
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

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
)

func summaryOf(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"event":"summary"`) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no summary in output:\n%s", out)
	return nil
}

func entityCount(t *testing.T, sum map[string]any, entity, field string) int64 {
	t.Helper()
	for _, e := range sum["entities"].([]any) {
		m := e.(map[string]any)
		if m["entity"] == entity {
			return int64(m[field].(float64))
		}
	}
	t.Fatalf("no entity %s in summary", entity)
	return 0
}

// TestCatchUp: after a backfill, rows are inserted and updated in the
// source, some with exactly the checkpoint's version; the next run moves
// exactly those rows, quickly.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	seedOrders(t, db, 50_000)
	plan := ordersPlan(t, murl, purl, 5000)
	code, out, errOut := transitRun(t, "run", plan, "--output", "json")
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := entityCount(t, summaryOf(t, out), "orders", "rows_written"); n != 50_000 {
		t.Fatalf("backfill wrote %d", n)
	}
	var maxV string
	if err := db.QueryRow("SELECT CAST(MAX(updated_at) AS CHAR) FROM orders").Scan(&maxV); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		// 3 new rows with exactly the checkpoint's version
		`INSERT INTO orders VALUES (900001, 'late a', 1.00, 'new', NULL, '` + maxV + `'),
			(900002, 'late b', 2.00, 'new', NULL, '` + maxV + `'), (5, 'late c', NULL, 'paid', 'x', '` + maxV + `')
			ON DUPLICATE KEY UPDATE customer = VALUES(customer), updated_at = VALUES(updated_at)`,
		// 4 updated rows with a newer version
		`UPDATE orders SET status = 'shipped', updated_at = '2024-06-01 10:00:00' WHERE id IN (10, 20, 30, 40)`,
		// 2 new rows, newer
		`INSERT INTO orders VALUES (900003, 'new a', 3.50, 'new', 'n', '2024-06-02 00:00:00'), (900004, 'new b', NULL, 'paid', NULL, '2024-06-02 00:00:01')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	code, out, errOut = transitRun(t, "run", plan, "--output", "json")
	if code != 0 {
		t.Fatalf("catch-up: exit %d\n%s\n%s", code, out, errOut)
	}
	took := time.Since(start)
	sum := summaryOf(t, out)
	if n := entityCount(t, sum, "orders", "rows_written"); n != 9 {
		t.Errorf("catch-up wrote %d rows, want exactly the 9 changed", n)
	}
	for _, e := range sum["entities"].([]any) {
		if m := e.(map[string]any); m["mode"] != "catchup" {
			t.Errorf("mode %v, want catchup", m["mode"])
		}
	}
	if took > 10*time.Second {
		t.Errorf("catch-up took %s", took)
	}
	sameOrders(t, db, purl)

	// --until: a later change past the bound waits for the next run.
	if _, err := db.Exec(`UPDATE orders SET status = 'new', updated_at = '2030-01-01 00:00:00' WHERE id = 77`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = transitRun(t, "run", plan, "--output", "json", "--until", "2029-12-31T00:00:00Z")
	if code != 0 {
		t.Fatalf("until: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := entityCount(t, summaryOf(t, out), "orders", "rows_written"); n != 0 {
		t.Errorf("--until run wrote %d rows, want 0", n)
	}
	code, out, errOut = transitRun(t, "run", plan, "--output", "json")
	if code != 0 {
		t.Fatalf("after until: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := entityCount(t, summaryOf(t, out), "orders", "rows_written"); n != 1 {
		t.Errorf("run after --until wrote %d rows, want 1", n)
	}
	sameOrders(t, db, purl)
}

// TestLedgerInAnotherDatabase keeps the ledger in one PostgreSQL database
// and writes the target in another: batches cannot commit with their
// checkpoints, so every write is an idempotent upsert, the checkpoint
// follows it, and a replay is a no-op.
func TestLedgerInAnotherDatabase(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	ledgerURL := testenv.Postgres(t)
	targetURL := testenv.Postgres(t)
	seedOrders(t, db, 30_000)
	p := writePlan(t, `version: 1
name: elsewhere
stores:
  legacy: { kind: mysql, url: "`+murl+`" }
  state:  { kind: postgres, url: "`+ledgerURL+`" }
  main:   { kind: postgres, url: "`+targetURL+`", schema: shop }
ledger: state
entities:
  orders:
    from: legacy.orders
    to: main.orders
    version: updated_at
    batch_size: 1000
`)
	code, out, errOut := transitRun(t, "run", p, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if n := entityCount(t, summaryOf(t, out), "orders", "rows_written"); n != 30_000 {
		t.Errorf("wrote %d", n)
	}
	sameOrders(t, db, targetURL)
	if n := pgScalar(t, ledgerURL, "SELECT sum(rows_read) FROM transit.chunks"); n != "30000" {
		t.Errorf("ledger counted %s rows", n)
	}
	if n := pgScalar(t, targetURL, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'transit'"); n != "0" {
		t.Error("the ledger leaked into the target database")
	}
	if _, err := db.Exec("UPDATE orders SET status = 'paid', updated_at = '2025-01-01' WHERE id IN (1, 2)"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = transitRun(t, "run", p, "--output", "json")
	if code != 0 {
		t.Fatalf("catch-up: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := entityCount(t, summaryOf(t, out), "orders", "rows_written"); n != 2 {
		t.Errorf("catch-up wrote %d, want 2", n)
	}
	sameOrders(t, db, targetURL)
}

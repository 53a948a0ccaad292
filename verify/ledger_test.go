package verify

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func migrate(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	sql, err := os.ReadFile("../ledger/migrations/002_verify.sql")
	if err != nil {
		t.Fatal(err)
	}
	mustExecPG(t, pool, "CREATE SCHEMA IF NOT EXISTS transit")
	mustExecPG(t, pool, string(sql))
	mustExecPG(t, pool, string(sql)) // idempotent
}

func TestSaveAndSinceLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	ledger := pgDB(t)
	migrate(t, ledger)
	seedItems(t, my, pg, 5000)
	old, nw := itemsSides(my, pg)
	opts := Options{Entity: "items", ChunkRows: 500}

	if _, ok, err := LastClean(ctx, ledger, "demo", "items"); err != nil || ok {
		t.Fatalf("LastClean before any run: %v %v", ok, err)
	}
	// A first, full and clean run.
	rep, err := Entity(ctx, old, nw, opts)
	if err != nil || !rep.Consistent() {
		t.Fatalf("%v %v", err, rep.Diffs)
	}
	if _, err := Save(ctx, ledger, "demo", []*EntityReport{rep}); err != nil {
		t.Fatal(err)
	}
	since, ok, err := LastClean(ctx, ledger, "demo", "items")
	wantMax := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(5000 * time.Minute)
	if err != nil || !ok || !since.Equal(wantMax) {
		t.Fatalf("LastClean = %v %v %v, want %v", since, ok, err, wantMax)
	}

	// Row 4321 changes in old and is ported wrongly; row 10 is broken in
	// new without a version bump, which --since-last cannot see.
	mustExecMy(t, my, `UPDATE items SET name = 'renamed', updated_at = '2030-01-01 00:00:00' WHERE id = 4321`)
	mustExecPG(t, pg, `UPDATE items SET name = 'renamed!', updated_at = '2030-01-01 00:00:00+00' WHERE id = 4321`)
	mustExecPG(t, pg, `UPDATE items SET name = 'silent' WHERE id = 10`)
	opts.Since = since
	rep, err = Entity(ctx, old, nw, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The chunk of row 4321, and the one holding the newest row of the
	// last run (version >= since, on purpose: same-microsecond writes).
	if rep.Mode != "since-last" || rep.Chunks != 2 || rep.ChunksSkipped != 9 {
		t.Fatalf("mode %s, chunks %d, skipped %d", rep.Mode, rep.Chunks, rep.ChunksSkipped)
	}
	if got := strings.Join(diffSummary(rep.Diffs), ";"); got != "changed [4321] name" {
		t.Fatalf("diffs %s", got)
	}
	id, err := Save(ctx, ledger, "demo", []*EntityReport{rep})
	if err != nil {
		t.Fatal(err)
	}
	var status, key, kind string
	var fields []byte
	err = ledger.QueryRow(ctx, `SELECT r.status, d.key::text, d.kind, d.fields::text FROM transit.verify_runs r
		JOIN transit.verify_diffs d ON d.run_id = r.id WHERE r.id = $1`, id).Scan(&status, &key, &kind, &fields)
	if err != nil {
		t.Fatal(err)
	}
	var fd []map[string]any
	if err := json.Unmarshal(fields, &fd); err != nil {
		t.Fatal(err)
	}
	if status != "differences" || key != `["i:4321"]` || kind != "changed" || fd[0]["new"] != "renamed!" {
		t.Fatalf("stored %s %s %s %s", status, key, kind, fields)
	}
	// The dirty run does not move the clean mark.
	if s, _, _ := LastClean(ctx, ledger, "demo", "items"); !s.Equal(wantMax) {
		t.Fatalf("LastClean moved to %v", s)
	}

	// Without a version column, --since-last verifies in full and says so.
	old.Version, nw.Version = "", ""
	rep, err = Entity(ctx, old, nw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "full" || len(rep.Notes) != 1 || rep.Changed != 2 {
		t.Fatalf("mode %s notes %v changed %d", rep.Mode, rep.Notes, rep.Changed)
	}
}

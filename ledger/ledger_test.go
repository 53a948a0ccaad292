package ledger

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/testenv"
)

func TestMigrateTwiceAndUpgrade(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i := 0; i < 2; i++ {
		if err := Migrate(ctx, pool); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM transit.schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Fatalf("%d migrations applied, %d known", n, len(ms))
	}
	// A ledger made by an early build lacks the chunk-cutting columns:
	// migration 004 brings them.
	testenv.Exec(t, url, "ALTER TABLE transit.chunks DROP COLUMN open", "ALTER TABLE transit.run_entities DROP COLUMN start_max",
		"DELETE FROM transit.schema_migrations WHERE version = 4")
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'transit'
		AND (table_name, column_name) IN (('chunks', 'open'), ('run_entities', 'start_max'))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("upgrade left %d of the 2 columns", n)
	}
}

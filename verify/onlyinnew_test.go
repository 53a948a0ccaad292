package verify

import (
	"context"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	mysqlsrc "github.com/transitdb/transit/sources/mysql"
)

// getterHook is the real MariaDB source with a hook run before each Get:
// the moment between a leaf's read and the second look, when an
// application may write.
type getterHook struct {
	*mysqlsrc.Source
	before func()
}

func (g getterHook) Get(ctx context.Context, table string, columns, key []string, ids []record.Key) (*record.Batch, error) {
	g.before()
	return g.Source.Get(ctx, table, columns, key, ids)
}

var _ sources.Getter = getterHook{}

// pgDelete deletes ids from PostgreSQL table items, recording each call's size.
func pgDelete(pg *pgxpool.Pool, sizes *[]int) func(ctx context.Context, keys []record.Key) (int, error) {
	return func(ctx context.Context, keys []record.Key) (int, error) {
		*sizes = append(*sizes, len(keys))
		ids := make([]int64, len(keys))
		for i, k := range keys {
			ids[i] = k[0].(int64)
		}
		tag, err := pg.Exec(ctx, "DELETE FROM items WHERE id = ANY($1)", ids)
		return int(tag.RowsAffected()), err
	}
}

func pgIDs(t *testing.T, pg *pgxpool.Pool, q string) []int64 {
	t.Helper()
	rows, err := pg.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// TestOnlyInNewBatchesAndSecondLook: 2,500 keys only in new (a block past
// old's last key, and keys scattered inside) go to Delete in batches of at
// most BatchSize; a key written to old between the leaf read and the
// delete is kept; a dry run finds without deleting; a second pass finds
// nothing.
func TestOnlyInNewBatchesAndSecondLook(t *testing.T) {
	t.Parallel()
	my, dsn := myDBURL(t)
	pg := pgDB(t)
	seedItems(t, my, pg, 20_000)
	ctx := context.Background()
	mustExecMy(t, my, "DELETE FROM items WHERE id % 40 = 0") // 500 scattered
	mustExecMy(t, my, "DELETE FROM items WHERE id > 18000")  // 2,000 at the end (minus the 50 above)
	src, err := mysqlsrc.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	old, nw := itemsSides(my, pg)
	wrote := false
	old.Source = getterHook{Source: src, before: func() {
		if !wrote { // id 120 comes back in old before the second look
			wrote = true
			mustExecMy(t, my, `INSERT INTO items SELECT 120, name, note, amount, at, payload, active, updated_at FROM items WHERE id = 121`)
		}
	}}

	dry, err := OnlyInNew(ctx, old, nw, OnlyInNewOptions{Entity: "items", ChunkRows: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Found != 2450 || dry.Deleted != 0 || dry.Kept != 1 {
		t.Fatalf("dry run: found %d kept %d deleted %d, want 2450, 1, 0", dry.Found, dry.Kept, dry.Deleted)
	}
	mustExecMy(t, my, "DELETE FROM items WHERE id = 120")
	wrote = false

	var sizes []int
	// Small leaves and fanout: chunks are narrowed, and the pieces past
	// old's last key (no row in old) are deleted whole.
	rep, err := OnlyInNew(ctx, old, nw, OnlyInNewOptions{Entity: "items", ChunkRows: 5000, LeafRows: 256, Fanout: 4,
		BatchSize: 1000, Delete: pgDelete(pg, &sizes)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found != 2450 || rep.Kept != 1 || rep.Deleted != 2449 || !rep.Confirmed {
		t.Errorf("found %d kept %d deleted %d confirmed %v, want 2450, 1, 2449, true", rep.Found, rep.Kept, rep.Deleted, rep.Confirmed)
	}
	if rep.Chunks < 4 || !rep.OldPushdown || !rep.NewPushdown {
		t.Errorf("chunks %d, pushdown %v/%v", rep.Chunks, rep.OldPushdown, rep.NewPushdown)
	}
	for _, n := range sizes {
		if n > 1000 {
			t.Errorf("Delete called with %d keys, BatchSize 1000", n)
		}
	}
	if got := pgIDs(t, pg, "SELECT id FROM items WHERE id % 40 = 0 OR id > 18000"); len(got) != 1 || got[0] != 120 {
		t.Errorf("left in new: %v, want [120]", got)
	}
	if n := pgIDs(t, pg, "SELECT count(*) FROM items"); n[0] != 20_000-2449 {
		t.Errorf("new holds %d rows", n[0])
	}

	wrote = true
	again, err := OnlyInNew(ctx, old, nw, OnlyInNewOptions{Entity: "items", ChunkRows: 5000, Delete: pgDelete(pg, &sizes)})
	if err != nil {
		t.Fatal(err)
	}
	if again.Found != 0 || again.ChunksDiffering != 0 {
		t.Errorf("second pass: found %d in %d differing chunks", again.Found, again.ChunksDiffering)
	}
}

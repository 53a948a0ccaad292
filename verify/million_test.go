package verify

import (
	"context"
	"strings"
	"testing"
	"time"
)

// One changed row among a million is found, and only the chunks on its
// path are fetched row by row.
func TestMillionRowsOneChange(t *testing.T) {
	if testing.Short() {
		t.Skip("1M rows: skipped with -short")
	}
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	start := time.Now()
	seedItems(t, my, pg, 1_000_000)
	mustExecPG(t, pg, `UPDATE items SET amount = amount + 0.01 WHERE id = 777777`)
	t.Logf("seeded 1M rows on both sides in %v", time.Since(start).Round(time.Millisecond))

	old, nw := itemsSides(my, pg)
	start = time.Now()
	rep, err := Entity(ctx, old, nw, Options{Entity: "items"})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if got := strings.Join(diffSummary(rep.Diffs), ";"); got != "changed [777777] amount" {
		t.Fatalf("diffs %s", got)
	}
	// 21 top-level chunks (20 of 50,000 and the open tail), then one path
	// of 16 sub-chunks per level down to a leaf of at most 256 rows.
	if rep.ChunksFetched != 1 || rep.RowsFetched > 2*256 || rep.ChunksHashed > 21+16+16 {
		t.Fatalf("hashed %d, fetched %d chunks (%d rows)", rep.ChunksHashed, rep.ChunksFetched, rep.RowsFetched)
	}
	if rep.RowsOld != 1_000_000 || rep.RowsNew != 1_000_000 {
		t.Fatalf("rows %d / %d", rep.RowsOld, rep.RowsNew)
	}
	t.Logf("verified 1M rows in %v (%.0f rows/s): %d chunks, %d hashed, %d fetched (%d rows)", el.Round(time.Millisecond),
		float64(rep.RowsOld)/el.Seconds(), rep.Chunks, rep.ChunksHashed, rep.ChunksFetched, rep.RowsFetched)
}

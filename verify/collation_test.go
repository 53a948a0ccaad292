package verify

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/transitdb/transit/record"
)

// Text keys that a case-insensitive MariaDB collation and PostgreSQL's "C"
// collation order differently still cut into the same chunks.
func TestTextKeysAcrossCollations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	mustExecMy(t, my, `CREATE TABLE words (w varchar(20) COLLATE utf8mb4_general_ci PRIMARY KEY, n int)`)
	mustExecPG(t, pg, `CREATE TABLE words (w text COLLATE "C" PRIMARY KEY, n int)`)
	var vals []string
	for i := range 400 {
		w := fmt.Sprintf("%c%03d", 'a'+i%26, i)
		if i%3 == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		if i%7 == 0 {
			w = "é" + w
		}
		vals = append(vals, fmt.Sprintf("('%s', %d)", w, i))
	}
	mustExecMy(t, my, "INSERT INTO words VALUES "+strings.Join(vals, ", "))
	mustExecPG(t, pg, "INSERT INTO words VALUES "+strings.Join(vals, ", "))
	mustExecPG(t, pg, `UPDATE words SET n = -1 WHERE w = 'D081'`)
	cols := []record.Column{{Name: "w", Type: record.Text}, {Name: "n", Type: record.Int}}
	old := Side{Store: "legacy", Table: "words", Key: []string{"w"}, Columns: cols, SQL: &SQLPushdown{Dialect: MySQL, DB: my}}
	nw := Side{Store: "app", Table: "words", Key: []string{"w"}, Columns: cols, SQL: &SQLPushdown{Dialect: Postgres, Pool: pg}}
	for _, o := range []Options{{ChunkRows: 50, LeafRows: 4, Fanout: 3}, {}} {
		o.Entity = "words"
		rep, err := Entity(ctx, old, nw, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(diffSummary(rep.Diffs), ";"); got != "changed [D081] n" || rep.RowsOld != 400 || rep.RowsNew != 400 {
			t.Fatalf("diffs %s, rows %d/%d, notes %v", got, rep.RowsOld, rep.RowsNew, rep.Notes)
		}
	}
}

// A composite key whose second column MariaDB collates case-insensitively:
// the top-level cut steps along the integer prefix and ends each chunk at
// the end of a group (eachCoarseBound), and the verify still finds exactly
// the changed row, whatever the chunk size.
func TestCoarseCutOnKeyPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	mustExecMy(t, my, `CREATE TABLE tags (g int, tag varchar(20) COLLATE utf8mb4_general_ci, n int, PRIMARY KEY (g, tag))`)
	mustExecPG(t, pg, `CREATE TABLE tags (g int, tag text, n int, PRIMARY KEY (g, tag))`)
	var vals []string
	last := map[int64]string{} // per group, its greatest tag in binary order
	for g := range 60 {
		for i := range 1 + g%45 { // groups of 1 to 45 rows
			tag := fmt.Sprintf("%c%02d", 'a'+i%26, i)
			if i%2 == 1 {
				tag = strings.ToUpper(tag)
			}
			vals = append(vals, fmt.Sprintf("(%d, '%s', %d)", g, tag, g*100+i))
			last[int64(g)] = max(last[int64(g)], tag)
		}
	}
	mustExecMy(t, my, "INSERT INTO tags VALUES "+strings.Join(vals, ", "))
	mustExecPG(t, pg, "INSERT INTO tags VALUES "+strings.Join(vals, ", "))
	mustExecPG(t, pg, `UPDATE tags SET n = -1 WHERE g = 44 AND tag = 'B01'`)
	cols := []record.Column{{Name: "g", Type: record.Int}, {Name: "tag", Type: record.Text}, {Name: "n", Type: record.Int}}
	old := Side{Store: "legacy", Table: "tags", Key: []string{"g", "tag"}, Columns: cols, SQL: &SQLPushdown{Dialect: MySQL, DB: my}}
	nw := Side{Store: "app", Table: "tags", Key: []string{"g", "tag"}, Columns: cols, SQL: &SQLPushdown{Dialect: Postgres, Pool: pg}}
	rd, err := newSQLReader(&old)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	// Boundaries: increasing, each the last row of its group.
	var prev record.Key
	n := 0
	err = rd.eachCoarseBound(ctx, keyRange{}, 100, func(k record.Key) error {
		n++
		if prev != nil && toInt64(k[0]) <= toInt64(prev[0]) {
			t.Errorf("boundary %v after %v", k, prev)
		}
		if g := toInt64(k[0]); k[1] != last[g] {
			t.Errorf("boundary %v is not the last row of group %d (%s)", k, g, last[g])
		}
		prev = k
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 || n > 15 {
		t.Errorf("%d boundaries for %d rows every 100 rows", n, len(vals))
	}
	for _, o := range []Options{{ChunkRows: 100, LeafRows: 4, Fanout: 3}, {ChunkRows: 7}, {}} {
		o.Entity = "tags"
		rep, err := Entity(ctx, old, nw, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(diffSummary(rep.Diffs), ";"); got != "changed [44 B01] n" ||
			rep.RowsOld != int64(len(vals)) || rep.RowsNew != int64(len(vals)) {
			t.Fatalf("chunk rows %d: diffs %s, rows %d/%d, notes %v", o.ChunkRows, got, rep.RowsOld, rep.RowsNew, rep.Notes)
		}
	}
}

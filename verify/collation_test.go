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

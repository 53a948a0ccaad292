package verify

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/record"
)

// The items table: MariaDB types on the old side, PostgreSQL types on the new.
const myItems = `CREATE TABLE items (id bigint PRIMARY KEY, name varchar(50) NOT NULL, note text NULL,
	amount decimal(10,2) NOT NULL, at datetime(6) NOT NULL, payload blob NULL, active tinyint(1) NOT NULL,
	updated_at datetime(6) NOT NULL)`

const pgItems = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, note text,
	amount numeric NOT NULL, at timestamptz NOT NULL, payload bytea, active boolean NOT NULL,
	updated_at timestamptz NOT NULL)`

func seedItems(t testing.TB, my *sql.DB, pg *pgxpool.Pool, n int) {
	t.Helper()
	mustExecMy(t, my, myItems)
	mustExecMy(t, my, fmt.Sprintf(`INSERT INTO items SELECT seq, CONCAT('name-', seq), IF(seq %% 7 = 0, NULL, CONCAT('note ', seq)),
		seq * 1.25, TIMESTAMP '2009-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL ((seq * 7) %% 1000000) MICROSECOND,
		UNHEX(MD5(seq)), seq %% 2, TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_%d`, n))
	mustExecPG(t, pg, pgItems)
	mustExecPG(t, pg, fmt.Sprintf(`INSERT INTO items SELECT g, 'name-' || g, CASE WHEN g %% 7 = 0 THEN NULL ELSE 'note ' || g END,
		g * 1.25, timestamptz '2009-01-01 00:00:00+00' + g * interval '1 second' + ((g * 7) %% 1000000) * interval '1 microsecond',
		decode(md5(g::text), 'hex'), g %% 2 = 1, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'
		FROM generate_series(1, %d) g`, n))
}

func itemsSides(my *sql.DB, pg *pgxpool.Pool) (Side, Side) {
	old := Side{Store: "legacy", Table: "items", Key: []string{"id"}, Version: "updated_at",
		SQL: &SQLPushdown{Dialect: MySQL, DB: my},
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Native: "bigint"},
			{Name: "name", Type: record.Text, Native: "varchar(50)"},
			{Name: "note", Type: record.Text, Native: "text", Nullable: true},
			{Name: "amount", Type: record.Decimal, Native: "decimal(10,2)", Precision: 10, Scale: 2},
			{Name: "at", Type: record.Timestamp, Native: "datetime(6)"},
			{Name: "payload", Type: record.Bytes, Native: "blob"},
			{Name: "active", Type: record.Bool, Native: "tinyint(1)"},
			{Name: "updated_at", Type: record.Timestamp, Native: "datetime(6)"},
		}}
	nw := Side{Store: "app", Table: "items", Key: []string{"id"}, Version: "updated_at",
		SQL: &SQLPushdown{Dialect: Postgres, Pool: pg},
		Columns: []record.Column{
			{Name: "id", Type: record.Int, Native: "bigint"},
			{Name: "name", Type: record.Text, Native: "text"},
			{Name: "note", Type: record.Text, Native: "text"},
			{Name: "amount", Type: record.Decimal, Native: "numeric"},
			{Name: "at", Type: record.TimestampTZ, Native: "timestamp with time zone"},
			{Name: "payload", Type: record.Bytes, Native: "bytea"},
			{Name: "active", Type: record.Bool, Native: "boolean"},
			{Name: "updated_at", Type: record.TimestampTZ, Native: "timestamp with time zone"},
		}}
	return old, nw
}

// portItems is the test's stand-in for the engine's repair path: it copies
// the rows with ids from MariaDB into PostgreSQL.
func portItems(my *sql.DB, pg *pgxpool.Pool) func(ctx context.Context, entity string, ids []record.Key) error {
	return func(ctx context.Context, entity string, ids []record.Key) error {
		for _, k := range ids {
			var id, active int64
			var name, amount, at, upd string
			var note sql.NullString
			var payload []byte
			err := my.QueryRowContext(ctx, `SELECT id, name, note, amount, at, payload, active, updated_at FROM items WHERE id = ?`, k[0]).
				Scan(&id, &name, &note, &amount, &at, &payload, &active, &upd)
			if err != nil {
				return err
			}
			var notev any
			if note.Valid {
				notev = note.String
			}
			_, err = pg.Exec(ctx, `INSERT INTO items VALUES ($1, $2, $3, $4::numeric, ($5 || '+00')::timestamptz, $6, $7, ($8 || '+00')::timestamptz)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, note = excluded.note, amount = excluded.amount,
				at = excluded.at, payload = excluded.payload, active = excluded.active, updated_at = excluded.updated_at`,
				id, name, notev, amount, at, payload, active != 0, upd)
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func deleteItems(pg *pgxpool.Pool) func(ctx context.Context, entity string, ids []record.Key) error {
	return func(ctx context.Context, entity string, ids []record.Key) error {
		var list []int64
		for _, k := range ids {
			list = append(list, k[0].(int64))
		}
		_, err := pg.Exec(ctx, `DELETE FROM items WHERE id = ANY($1)`, list)
		return err
	}
}

// diffSummary renders diffs as "kind key field,field" lines, sorted.
func diffSummary(ds []Diff) []string {
	var out []string
	for _, d := range ds {
		var f []string
		for _, x := range d.Fields {
			f = append(f, x.Column)
		}
		out = append(out, fmt.Sprintf("%s %v %s", d.Kind, d.Key, strings.Join(f, ",")))
	}
	sort.Strings(out)
	return out
}

func TestInjectedDifferencesAndRepair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	seedItems(t, my, pg, 3000)
	mustExecPG(t, pg, `DELETE FROM items WHERE id = 100`)
	mustExecPG(t, pg, `INSERT INTO items VALUES (5000, 'ghost', NULL, 1, now(), NULL, true, now() - interval '1 day')`)
	mustExecPG(t, pg, `UPDATE items SET name = 'changed' WHERE id = 200`)
	mustExecPG(t, pg, `UPDATE items SET note = '' WHERE id = 301`) // NULL in old
	mustExecPG(t, pg, `UPDATE items SET at = at + interval '1 microsecond' WHERE id = 400`)
	mustExecPG(t, pg, `UPDATE items SET name = name || ' ' WHERE id = 500`)
	mustExecPG(t, pg, `UPDATE items SET amount = amount + 0.01 WHERE id = 600`)
	mustExecPG(t, pg, `UPDATE items SET payload = set_byte(payload, 3, (get_byte(payload, 3) + 1) % 256) WHERE id = 700`)

	old, nw := itemsSides(my, pg)
	opts := Options{Entity: "items", ChunkRows: 1000, LeafRows: 64, Fanout: 4}
	rep, err := Entity(ctx, old, nw, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"changed [200] name", "changed [301] note", "changed [400] at", "changed [500] name",
		"changed [600] amount", "changed [700] payload", "extra [5000] ", "missing [100] ",
	}
	if got := diffSummary(rep.Diffs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diffs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !rep.OldPushdown || !rep.NewPushdown {
		t.Errorf("push-down old %v new %v, want both", rep.OldPushdown, rep.NewPushdown)
	}
	if rep.Missing != 1 || rep.Extra != 1 || rep.Changed != 6 || rep.RowsOld != 3000 || rep.RowsNew != 3000 {
		t.Errorf("counters: %+v", rep)
	}
	for _, d := range rep.Diffs {
		if d.Kind != Changed {
			continue
		}
		f := d.Fields[0]
		switch d.Key[0] {
		case int64(301):
			if !f.OldNull || f.NewNull || f.New != "" {
				t.Errorf("301: %+v, want NULL → empty", f)
			}
		case int64(400):
			if f.Old != "2009-01-01T00:06:40.002800Z" || f.New != "2009-01-01T00:06:40.002801Z" {
				t.Errorf("400: %+v", f)
			}
		case int64(500):
			if f.New != f.Old+" " {
				t.Errorf("500: %+v", f)
			}
		case int64(600):
			if f.Old != "750" || f.New != "750.01" {
				t.Errorf("600: %+v", f)
			}
		}
	}
	t.Logf("found: hashed %d chunks, fetched %d (%d rows)", rep.ChunksHashed, rep.ChunksFetched, rep.RowsFetched)

	// Repair, then everything verifies again.
	opts.Repair, opts.Delete = portItems(my, pg), deleteItems(pg)
	rep, err = Entity(ctx, old, nw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repaired != 8 || !rep.Consistent() {
		t.Fatalf("repaired %d of %d, consistent %v: %v", rep.Repaired, len(rep.Diffs), rep.Consistent(), diffSummary(rep.Diffs))
	}
	rep, err = Entity(ctx, old, nw, Options{Entity: "items"})
	if err != nil || !rep.Consistent() || rep.ChunksFetched != 0 {
		t.Fatalf("after repair: %v, %v", err, diffSummary(rep.Diffs))
	}
}

func TestCompositeKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	mustExecMy(t, my, `CREATE TABLE order_lines (order_id int, line int, qty int, sku varchar(10), PRIMARY KEY (order_id, line))`)
	mustExecMy(t, my, `INSERT INTO order_lines SELECT o.seq, l.seq, o.seq * l.seq, CONCAT('S', o.seq % 13) FROM seq_1_to_200 o, seq_1_to_5 l`)
	mustExecPG(t, pg, `CREATE TABLE order_lines (order_id int, line int, qty int, sku text, PRIMARY KEY (order_id, line))`)
	mustExecPG(t, pg, `INSERT INTO order_lines SELECT o, l, o * l, 'S' || (o % 13) FROM generate_series(1, 200) o, generate_series(1, 5) l`)
	mustExecPG(t, pg, `UPDATE order_lines SET qty = 0 WHERE (order_id, line) = (7, 3)`)
	mustExecPG(t, pg, `DELETE FROM order_lines WHERE (order_id, line) = (8, 1)`)
	mustExecPG(t, pg, `INSERT INTO order_lines VALUES (150, 9, 1, 'X')`)
	cols := []record.Column{{Name: "order_id", Type: record.Int}, {Name: "line", Type: record.Int},
		{Name: "qty", Type: record.Int}, {Name: "sku", Type: record.Text}}
	key := []string{"order_id", "line"}
	for _, streamOld := range []bool{false, true} {
		old := Side{Store: "legacy", Table: "order_lines", Key: key, Columns: cols, SQL: &SQLPushdown{Dialect: MySQL, DB: my}}
		nw := Side{Store: "app", Table: "order_lines", Key: key, Columns: cols, SQL: &SQLPushdown{Dialect: Postgres, Pool: pg}}
		if streamOld {
			old.Columns = append([]record.Column{}, cols...)
			old.Columns[3].Type = record.JSON // not pushable: hashed in Go
		}
		rep, err := Entity(ctx, old, nw, Options{Entity: "lines", ChunkRows: 300, LeafRows: 16, Fanout: 4})
		if err != nil {
			t.Fatal(err)
		}
		want := "changed [7 3] qty\nextra [150 9] \nmissing [8 1] "
		if got := strings.Join(diffSummary(rep.Diffs), "\n"); got != want {
			t.Fatalf("stream old %v: diffs\n%s\nwant\n%s", streamOld, got, want)
		}
		if rep.OldPushdown == streamOld {
			t.Errorf("old push-down %v", rep.OldPushdown)
		}
	}
}

func TestMissingColumnIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	seedItems(t, my, pg, 500)
	mustExecPG(t, pg, `ALTER TABLE items DROP COLUMN note`)
	mustExecPG(t, pg, `UPDATE items SET name = 'x' WHERE id = 42`)
	old, nw := itemsSides(my, pg)
	rep, err := Entity(ctx, old, nw, Options{Entity: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Columns) != 1 || rep.Columns[0].Column != "note" || rep.Columns[0].Problem != "missing in new" {
		t.Fatalf("column issues: %+v", rep.Columns)
	}
	if rep.Consistent() || rep.Status() != "differences" {
		t.Fatalf("status %s", rep.Status())
	}
	if got := strings.Join(diffSummary(rep.Diffs), ";"); got != "changed [42] name" {
		t.Fatalf("diffs %s", got)
	}
}

func TestSourceGoesAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	seedItems(t, my, pg, 2000)
	old, nw := itemsSides(my, pg)
	opts := Options{Entity: "items", ChunkRows: 200, Parallel: 1,
		Progress: func(_ string, done, total int) {
			if done == 3 {
				my.Close() // the old store goes away mid-verify
			}
		}}
	rep, err := Entity(ctx, old, nw, opts)
	if err == nil {
		t.Fatal("no error")
	}
	if !rep.Incomplete || rep.Consistent() || rep.Status() != "error" || ExitCode([]*EntityReport{rep}) != 2 {
		t.Fatalf("incomplete %v status %s", rep.Incomplete, rep.Status())
	}
	if rep.Chunks != 3 {
		t.Errorf("partial chunks %d, want 3", rep.Chunks)
	}
	t.Logf("error: %v", err)
}

func TestInFlightRowsAreCheckedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	seedItems(t, my, pg, 300)
	// Row 10 is being written right now: new has it already, old is late.
	mustExecPG(t, pg, `UPDATE items SET name = 'fresh', updated_at = now() WHERE id = 10`)
	// Row 20 differs and is old: a real difference.
	mustExecPG(t, pg, `UPDATE items SET name = 'stale' WHERE id = 20`)
	old, nw := itemsSides(my, pg)
	opts := Options{Entity: "items", Lag: time.Minute}
	opts.sleep = func(ctx context.Context, d time.Duration) error {
		// meanwhile the engine catches up on row 10
		_, err := pg.Exec(ctx, `UPDATE items SET name = 'name-10', updated_at = timestamptz '2020-01-01 00:10:00+00' WHERE id = 10`)
		return err
	}
	rep, err := Entity(ctx, old, nw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.InFlight != 1 || strings.Join(diffSummary(rep.Diffs), ";") != "changed [20] name" {
		t.Fatalf("in flight %d, diffs %v", rep.InFlight, diffSummary(rep.Diffs))
	}
}

// The plan renames name → title and drops note: verify compares through
// the mapping and names both sides' columns.
func TestRenamedAndDroppedColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, pg := myDB(t), pgDB(t)
	seedItems(t, my, pg, 400)
	mustExecPG(t, pg, `ALTER TABLE items RENAME COLUMN name TO title`)
	mustExecPG(t, pg, `ALTER TABLE items DROP COLUMN note`)
	mustExecPG(t, pg, `UPDATE items SET title = 'other' WHERE id = 33`)
	old, nw := itemsSides(my, pg)
	// drop "note" (index 2) from both sides; rename on the new side
	old.Columns = append(old.Columns[:2:2], old.Columns[3:]...)
	nw.Columns = append(nw.Columns[:2:2], nw.Columns[3:]...)
	for i := range nw.Columns {
		nw.Names = append(nw.Names, nw.Columns[i].Name)
	}
	nw.Names[1] = "title"
	rep, err := Entity(ctx, old, nw, Options{Entity: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Diffs) != 1 || len(rep.Columns) != 0 {
		t.Fatalf("diffs %v, columns %v", diffSummary(rep.Diffs), rep.Columns)
	}
	f := rep.Diffs[0].Fields[0]
	if f.Column != "name" || f.NewName != "title" || f.Old != "name-33" || f.New != "other" {
		t.Fatalf("field diff %+v", f)
	}
}

package verify

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/jsonl"
	mysqlsrc "github.com/transitdb/transit/sources/mysql"
	pgsrc "github.com/transitdb/transit/sources/postgres"
	sqlitesrc "github.com/transitdb/transit/sources/sqlite"
)

// describedSide builds a Side from a real source's Describe, with the
// columns in the order names gives.
func describedSide(t *testing.T, src sources.Source, store, table string, names []string, p *SQLPushdown) Side {
	t.Helper()
	tbl, err := src.Describe(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	s := Side{Store: store, Source: src, Table: table, Key: []string{"id"}, SQL: p}
	for _, n := range names {
		c := tbl.Column(n)
		if c == nil {
			t.Fatalf("%s.%s has no column %s", store, table, n)
		}
		s.Columns = append(s.Columns, *c)
	}
	return s
}

// The same logical rows written the way each store spells them: equal data
// must verify as equal, whatever the representation.
func TestEqualDataDifferentRepresentations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	my, dsn := myDBURL(t)
	pg := pgDB(t)
	mustExecMy(t, my, `CREATE TABLE t (id int PRIMARY KEY, created datetime(6), price decimal(10,2), active tinyint(1),
		name varchar(30), doc json, note varchar(10) NULL, ratio double)`)
	mustExecMy(t, my, `INSERT INTO t VALUES
		(1, '2024-03-01 10:00:00.500000', 1.50, 1, 'Zoë', '{"b": 1, "a": [1, 2], "c": {"y": null, "x": "s"}}', NULL, 0.1),
		(2, '1999-12-31 23:59:59.999999', 2.00, 0, 'plain', '[]', '', 1e-7),
		(3, '2009-01-01 00:00:00', -0.05, 1, 'x y', '{"price": 10.50}', 'n', 123456.789)`)
	mustExecPG(t, pg, `CREATE TABLE t (id bigint PRIMARY KEY, created timestamptz, price numeric, active boolean,
		name text, doc jsonb, note text, ratio double precision)`)
	mustExecPG(t, pg, `INSERT INTO t VALUES
		(1, '2024-03-01 11:00:00.5+01', 1.5, true, 'Zoë', '{"c": {"x": "s", "y": null}, "a": [1, 2], "b": 1}', NULL, 0.1),
		(2, '2000-01-01 00:59:59.999999+01', 2, false, 'plain', '[]', '', 0.0000001),
		(3, '2009-01-01 00:00:00+00', -0.050, true, 'x y', '{"price": 10.5}', 'n', 123456.789)`)
	dir := t.TempDir()
	err := os.WriteFile(filepath.Join(dir, "t.jsonl"), []byte(
		`{"id": 1, "created": "2024-03-01T10:00:00.5Z", "price": 1.5, "active": true, "name": "Zoë", "doc": {"a": [1, 2], "b": 1, "c": {"x": "s", "y": null}}, "note": null, "ratio": 0.1}
{"id": 2, "created": "1999-12-31T23:59:59.999999Z", "price": "2.0", "active": false, "name": "plain", "doc": [], "note": "", "ratio": 1e-7}
{"id": 3, "created": "2009-01-01T00:00:00Z", "price": -0.05, "active": true, "name": "x y", "doc": {"price": 10.50}, "note": "n", "ratio": 123456.789}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jsonl.Open(ctx, dir, jsonl.Options{
		Columns: map[string]map[string]string{"t": {"id": "int", "created": "timestamptz", "price": "decimal",
			"active": "bool", "name": "text", "doc": "json", "note": "text", "ratio": "float"}},
		Key: map[string][]string{"t": {"id"}}})
	if err != nil {
		t.Fatal(err)
	}
	lite := filepath.Join(dir, "legacy.db")
	ldb, err := sql.Open("sqlite", lite)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, created DATETIME, price DECIMAL(10,2), active BOOLEAN,
			name VARCHAR(30), doc JSON, note TEXT, ratio REAL)`,
		`INSERT INTO t VALUES
			(1, '2024-03-01 10:00:00.5', 1.50, 1, 'Zoë', '{"b":1,"a":[1,2],"c":{"y":null,"x":"s"}}', NULL, 0.1),
			(2, '1999-12-31T23:59:59.999999Z', '2.00', 0, 'plain', '[]', '', 1e-7),
			(3, '2009-01-01 01:00:00+01:00', -0.05, 1, 'x y', '{"price":10.50}', 'n', 123456.789)`,
	} {
		if _, err := ldb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	ldb.Close()
	ls, err := sqlitesrc.Open(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	ms, err := mysqlsrc.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	ps := pgsrc.New(pg, "public")

	names := []string{"id", "created", "price", "active", "name", "doc", "note", "ratio"}
	side := map[string]Side{
		"mariadb":        describedSide(t, ms, "mariadb", "t", names, &SQLPushdown{Dialect: MySQL, DB: my}),
		"mariadb-stream": describedSide(t, ms, "mariadb", "t", names, nil),
		"postgres":       describedSide(t, ps, "postgres", "t", names, &SQLPushdown{Dialect: Postgres, Pool: pg}),
		"pg-stream":      describedSide(t, ps, "postgres", "t", names, nil),
		"jsonl":          describedSide(t, js, "jsonl", "t", names, nil),
		"sqlite":         describedSide(t, ls, "sqlite", "t", names, nil),
	}
	pairs := [][2]string{
		{"mariadb", "postgres"}, {"mariadb-stream", "pg-stream"}, {"mariadb", "pg-stream"},
		{"jsonl", "postgres"}, {"jsonl", "mariadb"}, {"mariadb-stream", "jsonl"},
		{"sqlite", "postgres"}, {"sqlite", "mariadb"}, {"sqlite", "jsonl"},
	}
	for _, p := range pairs {
		t.Run(p[0]+"→"+p[1], func(t *testing.T) {
			rep, err := Entity(ctx, side[p[0]], side[p[1]], Options{Entity: "t", LeafRows: 1})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Consistent() || rep.RowsOld != 3 || rep.RowsNew != 3 {
				t.Fatalf("not consistent (%d/%d rows): %+v %v", rep.RowsOld, rep.RowsNew, rep.Diffs, rep.Columns)
			}
		})
	}
	// Without the JSON and float columns both servers hash in SQL.
	pushNames := []string{"id", "created", "price", "active", "name", "note"}
	oldP := describedSide(t, ms, "mariadb", "t", pushNames, &SQLPushdown{Dialect: MySQL, DB: my})
	newP := describedSide(t, ps, "postgres", "t", pushNames, &SQLPushdown{Dialect: Postgres, Pool: pg})
	for _, pair := range [][2]Side{{oldP, newP}, {describedSide(t, js, "jsonl", "t", pushNames, nil), newP}} {
		rep, err := Entity(ctx, pair[0], pair[1], Options{Entity: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Consistent() || !rep.NewPushdown || rep.ChunksFetched != 0 {
			t.Fatalf("push-down: consistent %v, push-down %v/%v, fetched %d: %+v", rep.Consistent(),
				rep.OldPushdown, rep.NewPushdown, rep.ChunksFetched, rep.Diffs)
		}
	}

	// And one real difference still shows through every representation.
	mustExecPG(t, pg, `UPDATE t SET price = 1.51 WHERE id = 1`)
	for _, from := range []string{"mariadb", "jsonl", "mariadb-stream", "sqlite"} {
		rep, err := Entity(ctx, side[from], side["postgres"], Options{Entity: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Diffs) != 1 || rep.Diffs[0].Fields[0].Column != "price" || rep.Diffs[0].Fields[0].Old != "1.5" {
			t.Fatalf("%s: diffs %+v", from, rep.Diffs)
		}
	}
}

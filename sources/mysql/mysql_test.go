package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/sourcetest"
)

// serverURL is the server the tests use (testenv: TRANSIT_TEST_MYSQL_URL,
// or root without password on 127.0.0.1:3306).
func serverURL() string { return testenv.MySQLAdminURL() }

// testDB creates a fresh database (dropped in t.Cleanup) and returns a
// pool on it and the DSN of a Source on it. It skips when the server is
// unreachable, unless CI is set.
func testDB(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	u, _ := testenv.MySQL(tb)
	cfg, err := ParseURL(u)
	if err != nil {
		tb.Fatalf("test database URL: %v", err)
	}
	cfg.MultiStatements = false
	db := sql.OpenDB(must(mysql.NewConnector(cfg)))
	tb.Cleanup(func() { db.Close() })
	return db, cfg.FormatDSN()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ddlType is the MySQL type the harness declares for a fixture column.
func ddlType(c record.Column) string {
	switch c.Type {
	case record.Int:
		return "BIGINT"
	case record.Uint:
		return "BIGINT UNSIGNED"
	case record.Bool:
		return "TINYINT(1)"
	case record.Float:
		if c.Bits == 32 {
			return "FLOAT"
		}
		return "DOUBLE"
	case record.Decimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale)
	case record.Text:
		if c.Length > 0 {
			return fmt.Sprintf("VARCHAR(%d)", c.Length)
		}
		return "TEXT"
	case record.Bytes:
		if c.Length > 0 {
			return fmt.Sprintf("VARBINARY(%d)", c.Length)
		}
		return "LONGBLOB"
	case record.Date:
		return "DATE"
	case record.Timestamp:
		return fmt.Sprintf("DATETIME(%d)", c.Precision)
	case record.TimestampTZ:
		return fmt.Sprintf("TIMESTAMP(%d)", c.Precision)
	case record.JSON:
		return "JSON"
	}
	panic("no DDL for " + c.Type.String())
}

func quote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// createFixture creates f's table and inserts its rows.
func createFixture(tb testing.TB, db *sql.DB, f sourcetest.Fixture) {
	tb.Helper()
	ctx := context.Background()
	var defs []string
	for _, c := range f.Table.Columns {
		null := " NOT NULL"
		if c.Nullable {
			null = " NULL"
		}
		defs = append(defs, quote(c.Name)+" "+ddlType(c)+null)
	}
	if len(f.Table.Key) > 0 {
		defs = append(defs, "PRIMARY KEY ("+quoteList(f.Table.Key)+")")
	}
	for _, ix := range f.Table.Indexes {
		u := ""
		if ix.Unique {
			u = "UNIQUE "
		}
		defs = append(defs, u+"INDEX "+quote(ix.Name)+" ("+quoteList(ix.Columns)+")")
	}
	for _, fk := range f.Table.ForeignKeys {
		defs = append(defs, "CONSTRAINT "+quote(fk.Name)+" FOREIGN KEY ("+quoteList(fk.Columns)+") REFERENCES "+
			quote(fk.RefTable)+" ("+quoteList(fk.RefColumns)+")")
	}
	ddl := "CREATE TABLE " + quote(f.Table.Name) + " (\n  " + strings.Join(defs, ",\n  ") + "\n) ENGINE=InnoDB"
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		tb.Fatalf("%s: %v", ddl, err)
	}
	const per = 200
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(f.Table.Columns)), ", ") + ")"
	for start := 0; start < len(f.Rows); start += per {
		rows := f.Rows[start:min(start+per, len(f.Rows))]
		var args []any
		for _, r := range rows {
			args = append(args, r...)
		}
		q := "INSERT INTO " + quote(f.Table.Name) + " (" + quoteList(f.Table.Names()) + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", len(rows)), ", ")
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("insert into %s: %v", f.Table.Name, err)
		}
	}
}

func openSource(tb testing.TB, dsn string) *Source {
	tb.Helper()
	src, err := Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { src.Close() })
	return src
}

func TestConformance(t *testing.T) {
	sourcetest.Exercise(t, sourcetest.Harness{
		Name: "mysql",
		Caps: sourcetest.Caps{TypedColumns: true, Keys: true, Getter: true, ForeignKeys: true},
		Load: func(t *testing.T, tables []sourcetest.Fixture) sources.Source {
			db, dsn := testDB(t)
			for _, f := range tables {
				createFixture(t, db, f)
			}
			return openSource(t, dsn)
		},
	})
}

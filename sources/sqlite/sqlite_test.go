package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/sourcetest"
)

// ddlType is the declared type the harness gives a fixture column.
func ddlType(c record.Column) string {
	switch c.Type {
	case record.Int, record.Uint:
		return "INTEGER"
	case record.Bool:
		return "BOOLEAN"
	case record.Float:
		return "REAL"
	case record.Decimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale)
	case record.Text:
		if c.Length > 0 {
			return fmt.Sprintf("VARCHAR(%d)", c.Length)
		}
		return "TEXT"
	case record.Bytes:
		return "BLOB"
	case record.Date:
		return "DATE"
	case record.Timestamp, record.TimestampTZ:
		return "DATETIME"
	case record.JSON:
		return "JSON"
	}
	panic("no DDL for " + c.Type.String())
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// storeValue is how the harness writes a fixture value: times as text in
// the common SQLite form.
func storeValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02 15:04:05.999999999")
	}
	return v
}

// newFile creates a SQLite file in a temporary directory by running
// statements, and returns its path.
func newFile(tb testing.TB, stmts ...string) (string, *sql.DB) {
	tb.Helper()
	path := testenv.SQLiteFile(tb)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	return path, db
}

func createFixture(tb testing.TB, db *sql.DB, f sourcetest.Fixture) {
	tb.Helper()
	var defs []string
	for _, c := range f.Table.Columns {
		null := " NOT NULL"
		if c.Nullable {
			null = ""
		}
		defs = append(defs, quote(c.Name)+" "+ddlType(c)+null)
	}
	if len(f.Table.Key) > 0 {
		defs = append(defs, "PRIMARY KEY ("+quoteList(f.Table.Key)+")")
	}
	for _, fk := range f.Table.ForeignKeys {
		defs = append(defs, "FOREIGN KEY ("+quoteList(fk.Columns)+") REFERENCES "+quote(fk.RefTable)+" ("+quoteList(fk.RefColumns)+")")
	}
	stmts := []string{"CREATE TABLE " + quote(f.Table.Name) + " (" + strings.Join(defs, ", ") + ")"}
	for _, ix := range f.Table.Indexes {
		u := ""
		if ix.Unique {
			u = "UNIQUE "
		}
		stmts = append(stmts, "CREATE "+u+"INDEX "+quote(ix.Name)+" ON "+quote(f.Table.Name)+" ("+quoteList(ix.Columns)+")")
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	ins, err := tx.Prepare("INSERT INTO " + quote(f.Table.Name) + " (" + quoteList(f.Table.Names()) + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(f.Table.Columns)), ", ") + ")")
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range f.Rows {
		args := make([]any, len(r))
		for i, v := range r {
			args[i] = storeValue(v)
		}
		if _, err := ins.Exec(args...); err != nil {
			tb.Fatalf("insert into %s %v: %v", f.Table.Name, r, err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func openSource(tb testing.TB, path string) *Source {
	tb.Helper()
	src, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { src.Close() })
	return src
}

func TestConformance(t *testing.T) {
	sourcetest.Exercise(t, sourcetest.Harness{
		Name: "sqlite",
		Caps: sourcetest.Caps{TypedColumns: true, Keys: true, Getter: true, ForeignKeys: true},
		Load: func(t *testing.T, tables []sourcetest.Fixture) sources.Source {
			path, db := newFile(t)
			for _, f := range tables {
				createFixture(t, db, f)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return openSource(t, path)
		},
	})
}

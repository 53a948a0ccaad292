package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/sourcetest"
)

func testURL() string { return testenv.PostgresAdminURL() }

// testSchema creates a fresh schema, dropped in t.Cleanup, and returns a
// pool and its name. It skips when the server is down (fails with CI=true).
func testSchema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testURL())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL at "+Redact(testURL()), redact(err, testURL()))
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "transit_src_" + hex.EncodeToString(b)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		pool.Close()
	})
	return pool, schema
}

func nativeType(c record.Column) string {
	switch c.Type {
	case record.Int:
		return map[int]string{16: "smallint", 32: "integer"}[c.Bits] + map[bool]string{true: "", false: "bigint"}[c.Bits == 16 || c.Bits == 32]
	case record.Text:
		if c.Length > 0 {
			return fmt.Sprintf("varchar(%d)", c.Length)
		}
		return "text"
	case record.Decimal:
		return fmt.Sprintf("numeric(%d,%d)", c.Precision, c.Scale)
	case record.Timestamp:
		return "timestamp(6)"
	case record.Bool:
		return "boolean"
	case record.Bytes:
		return "bytea"
	case record.Float:
		return "double precision"
	}
	panic("nativeType: " + c.Type.String())
}

// load creates the fixtures in schema with their keys, indexes and
// foreign keys, and inserts the rows.
func load(t testing.TB, pool *pgxpool.Pool, schema string, tables []sourcetest.Fixture) {
	t.Helper()
	ctx := context.Background()
	for _, f := range tables {
		var cols []string
		for _, c := range f.Table.Columns {
			def := pgx.Identifier{c.Name}.Sanitize() + " " + nativeType(c)
			if !c.Nullable {
				def += " NOT NULL"
			}
			cols = append(cols, def)
		}
		var key []string
		for _, k := range f.Table.Key {
			key = append(key, pgx.Identifier{k}.Sanitize())
		}
		cols = append(cols, "PRIMARY KEY ("+strings.Join(key, ", ")+")")
		name := pgx.Identifier{schema, f.Table.Name}
		if _, err := pool.Exec(ctx, "CREATE TABLE "+name.Sanitize()+" ("+strings.Join(cols, ", ")+")"); err != nil {
			t.Fatal(err)
		}
		// Numeric values are decimal text: send every column as text
		// where needed by letting COPY take the Go values.
		rows := make([][]any, len(f.Rows))
		for i, r := range f.Rows {
			rows[i] = make([]any, len(r))
			for j, v := range r {
				if s, ok := v.(string); ok && f.Table.Columns[j].Type == record.Decimal {
					var n pgtypeNumeric
					if err := n.Scan(s); err != nil {
						t.Fatal(err)
					}
					rows[i][j] = n.Numeric
					continue
				}
				rows[i][j] = v
			}
		}
		if _, err := pool.CopyFrom(ctx, name, f.Table.Names(), pgx.CopyFromRows(rows)); err != nil {
			t.Fatalf("copy %s: %v", f.Table.Name, err)
		}
		for _, ix := range f.Table.Indexes {
			var cs []string
			for _, c := range ix.Columns {
				cs = append(cs, pgx.Identifier{c}.Sanitize())
			}
			if _, err := pool.Exec(ctx, "CREATE INDEX "+pgx.Identifier{ix.Name}.Sanitize()+" ON "+name.Sanitize()+" ("+strings.Join(cs, ", ")+")"); err != nil {
				t.Fatal(err)
			}
		}
		for _, fk := range f.Table.ForeignKeys {
			var cs, rs []string
			for i := range fk.Columns {
				cs = append(cs, pgx.Identifier{fk.Columns[i]}.Sanitize())
				rs = append(rs, pgx.Identifier{fk.RefColumns[i]}.Sanitize())
			}
			sql := fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s) NOT VALID",
				name.Sanitize(), pgx.Identifier{fk.Name}.Sanitize(), strings.Join(cs, ", "),
				pgx.Identifier{schema, fk.RefTable}.Sanitize(), strings.Join(rs, ", "))
			if _, err := pool.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestConformance(t *testing.T) {
	sourcetest.Exercise(t, sourcetest.Harness{
		Name: "postgres",
		Caps: sourcetest.Caps{TypedColumns: true, Keys: true, Getter: true, ForeignKeys: true},
		Load: func(t *testing.T, tables []sourcetest.Fixture) sources.Source {
			pool, schema := testSchema(t)
			load(t, pool, schema, tables)
			src, err := Open(t.Context(), testURL(), schema)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			return src
		},
	})
}

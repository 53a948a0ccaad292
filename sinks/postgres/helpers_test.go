package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/testenv"
)

// testURL is the server tests use (testenv: $DATABASE_URL or the local
// one). When it cannot be reached the test is skipped, unless $CI is set.
func testURL(tb testing.TB) string {
	tb.Helper()
	url := testenv.PostgresAdminURL()
	testenv.PingPostgres(tb, url)
	return url
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// openTestSink opens a sink on a schema of its own, dropped at cleanup.
func openTestSink(tb testing.TB) *Sink {
	tb.Helper()
	url := testURL(tb)
	schema := randomName("transit_t_")
	s, err := Open(context.Background(), url, schema)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
	})
	return s
}

// readText returns every row of table as text (NULL as nil) with
// timestamptz rendered in UTC, columns in table order.
func readText(tb testing.TB, pool *pgxpool.Pool, schema, table string) [][]any {
	tb.Helper()
	ctx := context.Background()
	ident := pgx.Identifier{schema, table}.Sanitize()
	var cols []string
	rows, err := pool.Query(ctx, `SELECT attname FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, ident)
	if err != nil {
		tb.Fatalf("read %s: %v", ident, err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			tb.Fatal(err)
		}
		cols = append(cols, quoteIdent(c)+"::text")
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SET LOCAL TIME ZONE 'UTC'"); err != nil {
		tb.Fatal(err)
	}
	rows, err = tx.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+ident)
	if err != nil {
		tb.Fatalf("read %s: %v", ident, err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		row := make([]any, len(cols))
		for i, v := range vals {
			if v != nil {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

package audit

// Test fixtures: a fresh database per test on the real servers
// (internal/testenv), read through the real source adapters.

import (
	"context"
	"database/sql"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/sources/mysql"
	pgsrc "github.com/transitdb/transit/sources/postgres"
)

// newMySQL creates a fresh MariaDB database, runs the scripts in it and
// returns a handle on it (multi-statement scripts allowed) and a
// sources/mysql Source reading it.
func newMySQL(t *testing.T, scripts ...string) (*sql.DB, *mysql.Source) {
	t.Helper()
	url, db := testenv.MySQL(t)
	for _, s := range scripts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("load script: %v", err)
		}
	}
	src, err := mysql.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return db, src
}

// newPostgres creates a fresh PostgreSQL database and returns a
// sources/postgres Source on its public schema.
func newPostgres(t *testing.T) *pgsrc.Source {
	t.Helper()
	src, err := pgsrc.Open(context.Background(), testenv.Postgres(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

package verify

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/testenv"
)

// The test databases come from internal/testenv (one helper for the whole
// repository: unique names, dropped at the end, skipped or failed under CI
// by testenv.Unavailable); these wrappers only open the handles verify's
// tests use.

// pgDB creates a PostgreSQL database for the test and returns a pool on it.
func pgDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// myDB creates a MariaDB/MySQL database (utf8mb4, binary collation) for the
// test, with a handle whose session time zone is UTC.
func myDB(t testing.TB) *sql.DB {
	t.Helper()
	db, _ := myDBURL(t)
	return db
}

// myDBURL is myDB that also returns the database's mysql:// URL.
func myDBURL(t testing.TB) (*sql.DB, string) {
	t.Helper()
	u, h := testenv.MySQL(t)
	if _, err := h.Exec("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN(u))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MultiStatements = false
	cfg.Loc = time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, u
}

func mustExecPG(t testing.TB, pool *pgxpool.Pool, q string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func mustExecMy(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

package testenv

import (
	"context"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgbouncerAddr is the local pgbouncer (transaction pooling) that make
// services starts; TRANSIT_TEST_PGBOUNCER overrides it (host:port).
func PgbouncerAddr() string {
	if a := os.Getenv("TRANSIT_TEST_PGBOUNCER"); a != "" {
		return a
	}
	return "127.0.0.1:6432"
}

// Pgbouncer returns direct, a database URL on the local PostgreSQL (see
// Postgres), pointed at the same database through pgbouncer. It checks
// that the pooler answers for that database and is a pooler (the login's
// cancel-key pid is not the server's backend pid); when it is not there
// the test is skipped, or fails under CI.
func Pgbouncer(t testing.TB, direct string) string {
	t.Helper()
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatalf("parse %s: %v", direct, err)
	}
	u.Host = PgbouncerAddr()
	pooled := u.String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pooled)
	if err != nil {
		unavailable(t, "pgbouncer on "+PgbouncerAddr(), err)
	}
	defer conn.Close(ctx)
	var pid uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		t.Fatalf("pgbouncer: %v", err)
	}
	if pid == conn.PgConn().PID() {
		unavailable(t, "pgbouncer on "+PgbouncerAddr(), errors.New("the server there is not a pooler"))
	}
	return pooled
}

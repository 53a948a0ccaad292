package border

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/transitdb/transit/internal/testenv"
)

// The cases port.IsTransient had, kept.
func TestIsTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "22001"}, false},
		{fmt.Errorf("write batch: %w", &pgconn.PgError{Code: "53300"}), true},
		{&mysql.MySQLError{Number: 1213}, true},
		{&mysql.MySQLError{Number: 1146}, false},
		{fmt.Errorf("scan: %w", io.ErrUnexpectedEOF), true},
		{syscall.ECONNREFUSED, true},
		{errors.New("column does not exist"), false},
		{context.Canceled, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestClassifyTable(t *testing.T) {
	cases := []struct {
		err  error
		want Class
	}{
		{&pgconn.PgError{Code: "08001"}, Class{true, CauseLost}},
		{&pgconn.PgError{Code: "40001"}, Class{true, CauseConflict}},
		{&pgconn.PgError{Code: "40P01"}, Class{true, CauseConflict}},
		{&pgconn.PgError{Code: "53100"}, Class{true, CauseResource}},
		{&pgconn.PgError{Code: "53300"}, Class{true, CauseResource}},
		{&pgconn.PgError{Code: "57P03"}, Class{true, CauseShutdown}},
		{&pgconn.PgError{Code: "55P03"}, Class{true, CauseLock}},
		{&pgconn.PgError{Code: "28P01"}, Class{false, CauseAuth}},
		{&pgconn.PgError{Code: "28000"}, Class{false, CauseAuth}},
		{&pgconn.PgError{Code: "3D000"}, Class{false, CauseNoDatabase}},
		{&pgconn.PgError{Code: "23505"}, Class{false, CauseUnknown}},
		{&mysql.MySQLError{Number: 1040}, Class{true, CauseResource}},
		{&mysql.MySQLError{Number: 1205}, Class{true, CauseLock}},
		{&mysql.MySQLError{Number: 1213}, Class{true, CauseConflict}},
		{&mysql.MySQLError{Number: 1053}, Class{true, CauseShutdown}},
		{&mysql.MySQLError{Number: 2006}, Class{true, CauseLost}},
		{&mysql.MySQLError{Number: 2013}, Class{true, CauseLost}},
		{&mysql.MySQLError{Number: 1927}, Class{true, CauseLost}},
		{&mysql.MySQLError{Number: 1158}, Class{true, CauseLost}},
		{&mysql.MySQLError{Number: 1161}, Class{true, CauseLost}},
		{&mysql.MySQLError{Number: 1045}, Class{false, CauseAuth}},
		{&mysql.MySQLError{Number: 1049}, Class{false, CauseNoDatabase}},
		{&mysql.MySQLError{Number: 1146}, Class{false, CauseUnknown}},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, Class{false, CauseUnreachable}},
		{&net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, Class{true, CauseTimeout}},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, Class{true, CauseLost}},
		{&net.OpError{Op: "write", Err: syscall.EPIPE}, Class{true, CauseLost}},
		{fmt.Errorf("read: %w", io.EOF), Class{true, CauseLost}},
		{context.DeadlineExceeded, Class{true, CauseTimeout}},
		{&HTTPStatusError{Status: 429}, Class{true, CauseRateLimit}},
		{&HTTPStatusError{Status: 502}, Class{true, CauseServer}},
		{fmt.Errorf("bulk: %w", &HTTPStatusError{Status: 503}), Class{true, CauseServer}},
		{&HTTPStatusError{Status: 504}, Class{true, CauseServer}},
		{&HTTPStatusError{Status: 400}, Class{false, CauseRequest}},
		{&HTTPStatusError{Status: 404}, Class{false, CauseRequest}},
		{&HTTPStatusError{Status: 401}, Class{false, CauseAuth}},
		{&HTTPStatusError{Status: 500}, Class{false, CauseServer}},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %+v, want %+v", c.err, got, c.want)
		}
	}
}

func wantClass(t *testing.T, err error, want Class) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %+v", want)
	}
	if got := Classify(err); got != want {
		t.Errorf("Classify(%v) = %+v (%v), want %+v (%v)", err, got, got.Cause, want, want.Cause)
	}
}

func ctx2s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClassifyRealDNS(t *testing.T) {
	_, err := net.DialTimeout("tcp", "nosuchhost.invalid:5432", 2*time.Second)
	wantClass(t, err, Class{false, CauseUnreachable})
	_, err = pgx.Connect(ctx2s(t), "postgres://u@nosuchhost.invalid:5432/db?connect_timeout=2")
	wantClass(t, err, Class{false, CauseUnreachable})
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestClassifyRealRefused(t *testing.T) {
	addr := refusedAddr(t)
	_, err := net.DialTimeout("tcp", addr, 2*time.Second)
	wantClass(t, err, Class{true, CauseRefused})
	_, err = pgx.Connect(ctx2s(t), "postgres://u@"+addr+"/db")
	wantClass(t, err, Class{true, CauseRefused})
	db, _ := sql.Open("mysql", "root@tcp("+addr+")/db?timeout=2s")
	defer db.Close()
	wantClass(t, db.PingContext(ctx2s(t)), Class{true, CauseRefused})
}

func TestClassifyRealPostgres(t *testing.T) {
	admin := testenv.PostgresAdminURL()
	conn, err := pgx.Connect(ctx2s(t), admin)
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	defer conn.Close(context.Background())
	_, err = pgx.Connect(ctx2s(t), testenv.WithDatabase(admin, testenv.Unique("nodb")))
	wantClass(t, err, Class{false, CauseNoDatabase})
	tx, err := conn.Begin(ctx2s(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(ctx2s(t), "SELECT 1/0")
	wantClass(t, err, Class{false, CauseUnknown})
}

func TestClassifyRealMySQL(t *testing.T) {
	admin := testenv.MySQLAdminURL()
	db, _ := sql.Open("mysql", testenv.MySQLDSN(admin))
	defer db.Close()
	if err := db.PingContext(ctx2s(t)); err != nil {
		unavailable(t, "MariaDB", err)
	}
	nodb, _ := sql.Open("mysql", testenv.MySQLDSN(admin+testenv.Unique("nodb")))
	defer nodb.Close()
	wantClass(t, nodb.PingContext(ctx2s(t)), Class{false, CauseNoDatabase})
	cfg, _ := mysql.ParseDSN(testenv.MySQLDSN(admin))
	cfg.User, cfg.Passwd = testenv.Unique("nouser"), "wrong"
	bad, _ := sql.Open("mysql", cfg.FormatDSN())
	defer bad.Close()
	wantClass(t, bad.PingContext(ctx2s(t)), Class{false, CauseAuth})
}

func unavailable(t *testing.T, what string, err error) {
	t.Helper()
	testenv.Unavailable(t, what, err)
}

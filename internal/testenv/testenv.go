// Package testenv gives each test its own space on the real local servers:
// a fresh PostgreSQL database or MariaDB database with a unique name,
// dropped when the test ends, so tests run in parallel and twice in a row.
//
// Servers: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
// and TRANSIT_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/). When a
// server does not answer the test is skipped, unless CI is set: then it
// fails, so a broken CI machine cannot pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// Unique returns a lower-case name with prefix, unique per call.
func Unique(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Unavailable is the one rule for a missing test dependency (a server that
// does not answer, a tool or sample file that is not there): the test is
// skipped, unless CI is set, then it fails, so a broken CI machine cannot
// pass by skipping. err must not hold a password (redact it first).
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not available (CI is set, so this fails): %v", what, err)
		return
	}
	t.Skipf("%s is not available: %v (make services starts or installs it)", what, err)
}

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	Unavailable(t, what, err)
}

// SQLiteFile returns the path of a new, not yet created SQLite database
// file in the test's temporary directory (removed when the test ends).
func SQLiteFile(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), Unique("transit_t")+".sqlite")
}

// PingPostgres fails or skips the test (see Unavailable) when the
// PostgreSQL server at rawURL does not answer.
func PingPostgres(t testing.TB, rawURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, rawURL)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
}

// PostgresAdminURL is the server URL tests create databases through.
func PostgresAdminURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// WithDatabase returns rawURL with its database replaced by db.
func WithDatabase(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + db
	return u.String()
}

// Postgres creates a fresh database and returns its URL.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	defer conn.Close(ctx)
	name := Unique("transit_t")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return WithDatabase(admin, name)
}

// MySQLAdminURL is the MariaDB/MySQL server URL (mysql://user:pass@host:port/).
func MySQLAdminURL() string {
	if u := os.Getenv("TRANSIT_TEST_MYSQL_URL"); u != "" {
		return u
	}
	return "mysql://root@127.0.0.1:3306/"
}

// MySQLDSN converts a mysql:// URL into a go-sql-driver DSN.
func MySQLDSN(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.MultiStatements = true
	cfg.ParseTime = false
	return cfg.FormatDSN()
}

// MySQL creates a fresh database and returns its mysql:// URL and an open
// handle on it (multi-statements enabled, for loading scripts).
func MySQL(t testing.TB) (string, *sql.DB) {
	t.Helper()
	admin := MySQLAdminURL()
	db, err := sql.Open("mysql", MySQLDSN(admin))
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		unavailable(t, "MariaDB/MySQL", err)
	}
	name := Unique("transit_t")
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	db.Close()
	u := WithDatabase(admin, name)
	h, err := sql.Open("mysql", MySQLDSN(u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		a, err := sql.Open("mysql", MySQLDSN(admin))
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name)
	})
	return u, h
}

// Exec runs statements on a pgx connection to url, failing the test on error.
func Exec(t testing.TB, rawURL string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("exec %q: %v", trunc(s), err)
		}
	}
}

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// QueryStrings runs a query on url and returns every row as strings
// (NULL as "NULL"), for comparing whole tables.
func QueryStrings(t testing.TB, rawURL, query string, args ...any) [][]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		t.Fatalf("query %q: %v", trunc(query), err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if dv, ok := v.(driver.Valuer); ok {
				if x, err := dv.Value(); err == nil {
					v = x
				}
			}
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

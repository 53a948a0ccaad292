package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBin is where the PostgreSQL 15 server programs live.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// logical is the one private cluster per test binary with
// wal_level=logical (the shared server runs replica and must not be
// reconfigured).
var logical struct {
	once sync.Once
	dir  string // temp dir: data/, socket, log
	port int
	url  string // admin URL
	err  error
}

// LogicalPostgres returns the URL of a fresh database on a private cluster
// started with wal_level=logical, started once per test binary and reused.
// The database is dropped when t ends; call StopLogical from TestMain after
// m.Run to stop the cluster. A cluster that does not start skips the test,
// or fails it under CI.
func LogicalPostgres(t testing.TB) string {
	t.Helper()
	logical.once.Do(func() { logical.err = startLogical() })
	if logical.err != nil {
		unavailable(t, "private logical PostgreSQL", logical.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, logical.url)
	if err != nil {
		t.Fatalf("logical cluster: %v", err)
	}
	defer conn.Close(ctx)
	name := Unique("transit_l")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, logical.url)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		// Slots left in the database would block DROP DATABASE.
		_, _ = c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			WHERE database = $1 AND NOT active`, name)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return WithDatabase(logical.url, name)
}

// StopLogical stops the private cluster (if one was started) and removes
// its files. Call it from TestMain after m.Run.
func StopLogical() {
	if logical.dir == "" {
		return
	}
	_ = asPostgres(filepath.Join(PostgresBin, "pg_ctl"), "stop", "-m", "immediate", "-w",
		"-D", filepath.Join(logical.dir, "data")).Run()
	_ = os.RemoveAll(logical.dir)
	logical.dir = ""
}

// asPostgres runs a server program, as the postgres user when we are root
// (initdb and the server refuse to run as root).
func asPostgres(prog string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	}
	return exec.Command(prog, args...)
}

func startLogical() error {
	if _, err := os.Stat(filepath.Join(PostgresBin, "initdb")); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "transit-logical-")
	if err != nil {
		return err
	}
	logical.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		var uid, gid int
		_, _ = fmt.Sscan(u.Uid, &uid)
		_, _ = fmt.Sscan(u.Gid, &gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asPostgres(filepath.Join(PostgresBin, "initdb"), "-D", data, "-U", "postgres",
		"-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, trunc(string(out)))
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c wal_level=logical "+
		"-c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off "+
		"-c synchronous_commit=off -c full_page_writes=off", port, dir)
	if out, err := asPostgres(filepath.Join(PostgresBin, "pg_ctl"), "start", "-w", "-t", "30",
		"-D", data, "-l", filepath.Join(dir, "log"), "-o", opts).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fmt.Errorf("pg_ctl start: %w: %s %s", err, trunc(string(out)), trunc(string(log)))
	}
	logical.port = port
	logical.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Package postgres is transit's PostgreSQL sink: it creates target tables
// from a record.Table, writes batches with binary COPY (straight into the
// target on a fresh load, through a per-connection staging table and one
// INSERT … ON CONFLICT … DO UPDATE otherwise), refuses bad rows one by one
// as Rejects, and builds indexes, foreign keys and identity values after the
// data is in.
//
// The type mapping lives in PGType and is documented in docs/types.md.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/internal/redact"
	"github.com/transitdb/transit/sinks"
)

// Sink writes into the tables of one schema of one PostgreSQL database.
type Sink struct {
	pool   *pgxpool.Pool
	schema string

	mu     sync.Mutex
	tables map[string]*tableInfo // by table name

	pgxEncoding bool // tests: leave all COPY encoding to pgx
}

var (
	_ sinks.Sink     = (*Sink)(nil)
	_ sinks.TxWriter = (*Sink)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN) and makes sure schema exists. Errors never hold the URL's password.
func Open(ctx context.Context, url, schema string) (*Sink, error) {
	if schema == "" {
		schema = "public"
	}
	cfg, err := pgconf.PoolConfig(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: parse %s: %s", RedactURL(url), redactErr(err, url))
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerCodecs(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: connect to %s: %s", RedactURL(url), redactErr(err, url))
	}
	s := &Sink{pool: pool, schema: schema, tables: map[string]*tableInfo{}}
	if err := s.ensureSchema(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres sink: %s: %w", RedactURL(url), err)
	}
	return s, nil
}

func (s *Sink) ensureSchema(ctx context.Context) error {
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up schema %q: %w", s.schema, err)
	}
	if exists {
		return nil
	}
	_, err = s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06") {
		return nil // created at the same moment by another Open
	}
	if err != nil {
		return fmt.Errorf("create schema %q: %w", s.schema, err)
	}
	return nil
}

// Pool is the connection pool; callers of WriteTx begin their transaction
// on it.
func (s *Sink) Pool() *pgxpool.Pool { return s.pool }

// Schema is the schema the sink writes into.
func (s *Sink) Schema() string { return s.schema }

// Close releases the connections.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}

// RedactURL returns u with any password replaced by "xxxxx" (see
// internal/redact.URL).
func RedactURL(u string) string { return redact.URL(u) }

// redactErr renders err with the password of url removed, in case a
// library echoes it.
func redactErr(err error, u string) string { return redact.Error(err, u).Error() }

// IsDataError reports whether err is PostgreSQL refusing the data itself
// (SQLSTATE class 22 data exception, class 23 integrity constraint
// violation, 21000 cardinality violation, 42804 datatype mismatch, 54000
// program limit exceeded such as an index row too large): splitting the
// batch isolates the rows at fault.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "22"), strings.HasPrefix(pgErr.Code, "23"),
		pgErr.Code == "21000", pgErr.Code == "42804", pgErr.Code == "54000":
		return true
	}
	return false
}

// rejectReason renders a server error for a Reject.
func rejectReason(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		s := "SQLSTATE " + pgErr.Code + ": " + pgErr.Message
		if pgErr.Detail != "" {
			s += " (" + pgErr.Detail + ")"
		}
		return s
	}
	return err.Error()
}

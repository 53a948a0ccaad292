// Package postgres reads PostgreSQL tables as a transit source, through a
// pgx/v5 pool. It feeds downstream stores (Elasticsearch, Redis) from
// Postgres and lets `transit verify` read the target side.
//
// Types map as: smallint/integer/bigint → Int (Bits 16/32/64; serial and
// identity columns are AutoIncrement), numeric(p,s) → Decimal (the server's
// text, scale kept; NaN and ±Infinity are record.Invalid), real/double precision → Float
// (32/64), text/varchar(n)/char(n)/name → Text, bytea → Bytes, boolean →
// Bool, date → Date, timestamp → Timestamp (UTC wall clock), timestamptz →
// TimestampTZ (in UTC), time → Time, json/jsonb → JSON, uuid → UUID, enum
// types → Enum (with Values), arrays → JSON (to_json text); every other type
// (interval, inet, money, timetz, bit, …) → Text, read as its text form.
// Infinite dates and timestamps are record.Invalid.
//
// Scan pages with row-value keyset predicates, `(a, b) > ($1, $2) ORDER BY
// a, b LIMIT n`, one short query per batch, when the order key includes
// the whole primary key (so it is unique); otherwise it streams one query.
// Text keys order by the column's collation. Values only travel as query
// parameters; identifiers are quoted with pgx.Identifier.Sanitize.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/internal/pgconf"
	redactpkg "github.com/transitdb/transit/internal/redact"
	"github.com/transitdb/transit/sources"
)

// Source reads the tables of one schema. It implements sources.Source and
// sources.Getter.
type Source struct {
	pool   *pgxpool.Pool
	own    bool
	schema string
	mu     sync.Mutex
	cache  map[string]*meta
}

var _ sources.Source = (*Source)(nil)
var _ sources.Getter = (*Source)(nil)

// Open connects to url (a postgres:// URL or key=value DSN) and reads
// tables of schema (default "public"). Errors never contain the password.
func Open(ctx context.Context, url string, schema string) (*Source, error) {
	cfg, err := pgconf.PoolConfig(ctx, url)
	if err != nil {
		return nil, redact(fmt.Errorf("postgres: parse connection string: %w", err), url)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("postgres: connect: %w", err), url)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, redact(fmt.Errorf("postgres: connect to %s: %w", Redact(url), err), url)
	}
	s := New(pool, schema)
	s.own = true
	return s, nil
}

// New returns a Source over an existing pool, which Close leaves open.
func New(pool *pgxpool.Pool, schema string) *Source {
	if schema == "" {
		schema = "public"
	}
	return &Source{pool: pool, schema: schema, cache: map[string]*meta{}}
}

// Close closes the pool when Open made it.
func (s *Source) Close() error {
	if s.own {
		s.pool.Close()
	}
	return nil
}

// Redact returns a connection URL or key=value DSN with its password
// replaced by "xxxxx" (see internal/redact.URL).
func Redact(dsn string) string { return redactpkg.URL(dsn) }

// redact hides the password of dsn from an error's text; Unwrap still gives
// the cause for errors.As.
func redact(err error, dsn string) error { return redactpkg.Error(err, dsn) }

func (s *Source) ident(table string) string {
	return pgx.Identifier{s.schema, table}.Sanitize()
}

func quote(col string) string { return pgx.Identifier{col}.Sanitize() }

// Tables lists the tables, views and materialized views of the schema
// (partitions are read through their parent), by name.
func (s *Source) Tables(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition
		ORDER BY c.relname COLLATE "C"`, s.schema)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tables of %s: %w", s.schema, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list tables of %s: %w", s.schema, err)
	}
	return names, nil
}

func (s *Source) notFound(what, name string) error {
	return &sources.NotFoundError{Store: "postgres schema " + s.schema, What: what, Name: name}
}

var errNoKey = errors.New("no order key")

// Pool returns the connection pool, for work pushed down into SQL (verify
// checksums, audit aggregates).
func (s *Source) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema the source reads.
func (s *Source) Schema() string { return s.schema }

// EstimateRows returns the planner's estimate of a table's rows (-1 or 0
// before the table was ever analysed).
func (s *Source) EstimateRows(ctx context.Context, table string) (int64, error) {
	var n float64
	err := s.pool.QueryRow(ctx, `SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, s.schema, table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("estimate rows of %s: %w", s.ident(table), err)
	}
	return int64(n), nil
}

// Package stores opens the stores a plan names, by kind, and keeps them
// open for the length of one command. It is the only package that knows
// every adapter.
package stores

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/internal/redact"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sinks"
	pgsink "github.com/transitdb/transit/sinks/postgres"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/csv"
	"github.com/transitdb/transit/sources/jsonl"
	"github.com/transitdb/transit/sources/mysql"
	pgsrc "github.com/transitdb/transit/sources/postgres"
	"github.com/transitdb/transit/sources/sqlite"
)

// ConnectError says a store could not be reached. Its message names the
// store and the redacted address, never a password.
type ConnectError struct {
	Store string
	Kind  string
	Addr  string // redacted URL or path
	Err   error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("store %s (%s %s): %v%s", e.Store, e.Kind, e.Addr, redactErr(e.Err), e.hint())
}

// hint says what to check, following the cause border.Classify finds.
func (e *ConnectError) hint() string {
	server := map[string]string{"postgres": "PostgreSQL", "mysql": "MariaDB/MySQL"}[e.Kind]
	if server == "" {
		return ""
	}
	switch border.Classify(e.Err).Cause {
	case border.CauseAuth:
		return " (authentication failed: check the user and password in the store's url, or the environment variable it names)"
	case border.CauseUnreachable:
		return " (the host cannot be reached: check the host name in the store's url)"
	case border.CauseNoDatabase:
		return " (the database does not exist: check the database name in the store's url)"
	case border.CauseTimeout:
		return fmt.Sprintf(" (timed out: is %s reachable at that address?)", server)
	case border.CauseRefused:
		pkg := map[string]string{"postgres": "postgresql", "mysql": "mariadb-server"}[e.Kind]
		return fmt.Sprintf(" (connection refused: is %s running? `make services` starts it; `apt-get install %s` installs it)", server, pkg)
	}
	return ""
}

func (e *ConnectError) Unwrap() error { return e.Err }

func redactErr(err error) string {
	if err == nil {
		return ""
	}
	return redact.Text(err.Error())
}

// Set opens the stores of one plan on demand and closes them together.
type Set struct {
	p       *plan.Plan
	mu      sync.Mutex
	sources map[string]sources.Source
	sinks   map[string]sinks.Sink
	pools   map[string]*pgxpool.Pool
}

// New returns a Set for p's stores.
func New(p *plan.Plan) *Set {
	return &Set{p: p, sources: map[string]sources.Source{}, sinks: map[string]sinks.Sink{}, pools: map[string]*pgxpool.Pool{}}
}

func (s *Set) store(name string) (*plan.Store, error) {
	st := s.p.Store(name)
	if st == nil {
		return nil, fmt.Errorf("no store named %q in the plan", name)
	}
	return st, nil
}

func (s *Set) path(st *plan.Store) string {
	if filepath.IsAbs(st.Path) || s.p.Source == "" {
		return st.Path
	}
	return filepath.Join(filepath.Dir(s.p.Source), st.Path)
}

// Source opens (once) the store called name for reading.
func (s *Set) Source(ctx context.Context, name string) (sources.Source, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src, ok := s.sources[name]; ok {
		return src, nil
	}
	st, err := s.store(name)
	if err != nil {
		return nil, err
	}
	var src sources.Source
	addr := plan.RedactURL(st.URL)
	switch st.Kind {
	case "mysql":
		src, err = mysql.Open(ctx, st.URL)
	case "postgres":
		src, err = pgsrc.Open(ctx, capURL(st), st.Schema)
	case "sqlite":
		addr = s.path(st)
		src, err = sqlite.Open(ctx, addr)
	case "csv":
		addr = s.path(st)
		opts := csv.Options{Header: st.Header, Columns: st.Columns}
		if st.Delimiter != "" {
			opts.Delimiter = []rune(st.Delimiter)[0]
		}
		src, err = csv.Open(ctx, addr, opts)
	case "jsonl":
		addr = s.path(st)
		src, err = jsonl.Open(ctx, addr, jsonl.Options{Columns: st.Columns})
	default:
		return nil, fmt.Errorf("store %s: kind %s cannot be read from yet", name, st.Kind)
	}
	if err != nil {
		return nil, &ConnectError{Store: name, Kind: st.Kind, Addr: addr, Err: err}
	}
	capDB(st, src)
	s.sources[name] = src
	return src, nil
}

// Sink opens (once) the store called name for writing. A PostgreSQL
// database that does not exist yet is created.
func (s *Set) Sink(ctx context.Context, name string) (sinks.Sink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk, ok := s.sinks[name]; ok {
		return sk, nil
	}
	st, err := s.store(name)
	if err != nil {
		return nil, err
	}
	if st.Kind != "postgres" {
		return nil, fmt.Errorf("store %s: kind %s cannot be written to yet", name, st.Kind)
	}
	if err := ensureDatabase(ctx, st.URL); err != nil {
		return nil, &ConnectError{Store: name, Kind: st.Kind, Addr: plan.RedactURL(st.URL), Err: err}
	}
	sk, err := pgsink.Open(ctx, capURL(st), st.Schema)
	if err != nil {
		return nil, &ConnectError{Store: name, Kind: st.Kind, Addr: plan.RedactURL(st.URL), Err: err}
	}
	s.sinks[name] = sk
	return sk, nil
}

// Pool opens (once) a pgx pool on the postgres store called name; the
// ledger lives there. The database is created when missing.
func (s *Set) Pool(ctx context.Context, name string) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[name]; ok {
		return p, nil
	}
	st, err := s.store(name)
	if err != nil {
		return nil, err
	}
	if st.Kind != "postgres" {
		return nil, fmt.Errorf("store %s is %s; the ledger needs a postgres store", name, st.Kind)
	}
	wrap := func(err error) error {
		return &ConnectError{Store: name, Kind: st.Kind, Addr: plan.RedactURL(st.URL), Err: err}
	}
	if err := ensureDatabase(ctx, st.URL); err != nil {
		return nil, wrap(err)
	}
	cfg, err := pgconf.PoolConfig(ctx, st.URL)
	if err != nil {
		return nil, wrap(err)
	}
	cfg.MaxConns = 8
	if n := maxConns(st); n > 0 && int32(n) < cfg.MaxConns {
		cfg.MaxConns = int32(n)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, wrap(err)
	}
	s.pools[name] = pool
	return pool, nil
}

// SameDatabase reports whether stores a and b are the same PostgreSQL
// database (so one transaction can span both).
func (s *Set) SameDatabase(a, b string) bool {
	sa, sb := s.p.Store(a), s.p.Store(b)
	if sa == nil || sb == nil || sa.Kind != "postgres" || sb.Kind != "postgres" {
		return false
	}
	if a == b {
		return true
	}
	ca, err1 := pgconn.ParseConfig(sa.URL)
	cb, err2 := pgconn.ParseConfig(sb.URL)
	return err1 == nil && err2 == nil && ca.Host == cb.Host && ca.Port == cb.Port && ca.Database == cb.Database
}

// Close closes everything opened.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, src := range s.sources {
		errs = append(errs, src.Close())
	}
	for _, sk := range s.sinks {
		errs = append(errs, sk.Close())
	}
	for _, p := range s.pools {
		p.Close()
	}
	s.sources, s.sinks, s.pools = map[string]sources.Source{}, map[string]sinks.Sink{}, map[string]*pgxpool.Pool{}
	return errors.Join(errs...)
}

// ensureDatabase creates the database a postgres URL names when the server
// says it does not exist (SQLSTATE 3D000), connecting to the maintenance
// database "postgres" with the same credentials.
func ensureDatabase(ctx context.Context, rawURL string) error {
	cfg, err := pgconf.ConnConfig(ctx, rawURL)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		return err
	}
	db := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	if err != nil {
		var e *pgconn.PgError
		if errors.As(err, &e) && e.Code == "42P04" { // created meanwhile by another process
			return nil
		}
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// Pushdown is a SQL handle on a store, for work pushed down into its
// engine (verify checksums, audit aggregates).
type Pushdown struct {
	Dialect string // postgres | mysql | sqlite
	DB      *sql.DB
	Pool    *pgxpool.Pool
	Schema  string
}

// Pushdown returns a SQL handle on the store called name, or nil when its
// kind has no SQL engine (csv, jsonl). It opens the store's source.
func (s *Set) Pushdown(ctx context.Context, name string) (*Pushdown, error) {
	src, err := s.Source(ctx, name)
	if err != nil {
		return nil, err
	}
	st := s.p.Store(name)
	switch x := src.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		return &Pushdown{Dialect: "postgres", Pool: x.Pool(), Schema: st.Schema}, nil
	case interface{ DB() *sql.DB }:
		d := st.Kind
		if d != "mysql" && d != "sqlite" {
			return nil, nil
		}
		return &Pushdown{Dialect: d, DB: x.DB()}, nil
	}
	return nil, nil
}

// DatabaseName returns the database a postgres URL names ("" if none).
func DatabaseName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

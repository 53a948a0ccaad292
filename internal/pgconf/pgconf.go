// Package pgconf is the one place transit configures its PostgreSQL
// connections, so that they work through a transaction-pooling connection
// pooler (pgbouncer) as well as directly.
//
// Through a pooler in transaction mode each transaction (and each statement
// outside one) may run on a different server connection, so named prepared
// statements, session advisory locks, session SETs, LISTEN, session temp
// tables and pg_backend_pid() as an identity do not hold. pgconf finds out
// whether a URL goes through such a pooler and, when it does, makes pgx use
// unnamed statements only (QueryExecModeCacheDescribe: a statement's
// parameter and result types are asked once per connection, then each
// execution is one round trip that parses it again; pgx documents this mode
// as safe with pgbouncer, and unlike QueryExecModeExec it knows the types,
// so a []byte goes to a jsonb parameter as JSON). The direct path keeps
// pgx's default named statement cache.
//
// The URL may say it outright with the parameter pooler=transaction (or
// pooler=none); pgconf removes it before connecting. Without it pgconf
// probes once: a pooler answers the client with a cancel key of its own, so
// the pid the client got at login differs from the server's
// pg_backend_pid().
package pgconf

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Param is the connection-string parameter that says whether a pooler sits
// between transit and PostgreSQL: "transaction" or "none".
const Param = "pooler"

// PoolConfig parses url into a pool configuration made safe for a
// transaction pooler when url goes through one (see the package comment).
func PoolConfig(ctx context.Context, url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if err := configure(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ConnConfig parses url into a connection configuration, as PoolConfig.
func ConnConfig(ctx context.Context, url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if err := configure(ctx, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Pooled reports whether connections made with cfg go through a
// transaction pooler, so that session state and backend pids do not last
// beyond one transaction. It holds for configurations from PoolConfig and
// ConnConfig, and for any that avoids named prepared statements (a URL
// with default_query_exec_mode=cache_describe, exec or simple_protocol
// says the same thing).
func Pooled(cfg *pgx.ConnConfig) bool {
	switch cfg.DefaultQueryExecMode {
	case pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol:
		return true
	}
	return false
}

func configure(ctx context.Context, cfg *pgx.ConnConfig) error {
	mode, ok := cfg.RuntimeParams[Param]
	delete(cfg.RuntimeParams, Param)
	var pooled bool
	switch {
	case ok && mode == "transaction":
		pooled = true
	case ok && mode == "none":
		pooled = false
	case ok:
		return fmt.Errorf("%s=%q: want transaction or none", Param, mode)
	case Pooled(cfg):
		pooled = true
	default:
		var err error
		if pooled, err = probe(ctx, cfg); err != nil {
			return err
		}
	}
	if pooled {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		cfg.StatementCacheCapacity = 0
		if cfg.DescriptionCacheCapacity == 0 {
			cfg.DescriptionCacheCapacity = 512
		}
	}
	return nil
}

// probed remembers each server's answer (by host, port, user and
// database) for the life of the process: a run opens several pools on the
// same database, and a probe costs a connection.
var probed sync.Map

// probe connects once and compares the pid of the login's cancel key with
// the server's backend pid: they differ only when something in between
// answered the login.
func probe(ctx context.Context, cfg *pgx.ConnConfig) (bool, error) {
	key := fmt.Sprintf("%s\x00%d\x00%s\x00%s", cfg.Host, cfg.Port, cfg.User, cfg.Database)
	if v, ok := probed.Load(key); ok {
		return v.(bool), nil
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		// Let the caller's own connect report it (ensureDatabase creates
		// a missing database, and errors there carry the store's name).
		return false, nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var pid uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		return false, fmt.Errorf("probe for a connection pooler: %w", err)
	}
	pooled := pid != conn.PgConn().PID()
	probed.Store(key, pooled)
	return pooled, nil
}

package pgconf_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/internal/testenv"
)

func TestDirectIsNotPooled(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgconf.PoolConfig(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if pgconf.Pooled(cfg.ConnConfig) || cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		t.Fatalf("direct connection configured as pooled (mode %v)", cfg.ConnConfig.DefaultQueryExecMode)
	}
}

func TestPgbouncerIsDetected(t *testing.T) {
	t.Parallel()
	url := testenv.Pgbouncer(t, testenv.Postgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgconf.ConnConfig(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if !pgconf.Pooled(cfg) || cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheDescribe {
		t.Fatalf("pgbouncer not detected (mode %v)", cfg.DefaultQueryExecMode)
	}
	// The configured connection runs parameterised statements repeatedly
	// without named prepared statements.
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 20 {
		var n int
		if err := conn.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
}

func TestPoolerParam(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgconf.ConnConfig(ctx, "postgres://u@127.0.0.1:1/db?pooler=transaction")
	if err != nil {
		t.Fatal(err)
	}
	if !pgconf.Pooled(cfg) {
		t.Fatal("pooler=transaction not honoured")
	}
	if _, ok := cfg.RuntimeParams[pgconf.Param]; ok {
		t.Fatal("pooler parameter would be sent to the server")
	}
	cfg, err = pgconf.ConnConfig(ctx, "postgres://u@127.0.0.1:1/db?pooler=none")
	if err != nil || pgconf.Pooled(cfg) {
		t.Fatalf("pooler=none: %v", err)
	}
	if _, err := pgconf.ConnConfig(ctx, "postgres://u@127.0.0.1:1/db?pooler=session"); err == nil {
		t.Fatalf("pooler=session accepted: %v", err)
	}
}

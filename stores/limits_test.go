package stores

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/plan"
)

func limitsPlan(t *testing.T, pgURL, myURL string) *plan.Plan {
	t.Helper()
	src := `version: 1
name: caps
stores:
  pg:
    kind: postgres
    url: "` + pgURL + `"
    limits: { max_connections: 2, throttle: { query: "SELECT 7", above: 5 } }
  my:
    kind: mysql
    url: "` + myURL + `"
    limits: { max_connections: 3, throttle: { query: "SELECT '2.5'", above: 5 } }
`
	p, err := plan.Parse("caps.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMaxConnectionsCapsEveryPool(t *testing.T) {
	t.Parallel()
	pgURL := testenv.Postgres(t)
	myURL, _ := testenv.MySQL(t)
	set := New(limitsPlan(t, pgURL, myURL))
	t.Cleanup(func() { _ = set.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	src, err := set.Source(ctx, "pg")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := src.(interface{ Pool() *pgxpool.Pool }); !ok || p.Pool().Config().MaxConns != 2 {
		t.Errorf("postgres source pool not capped at 2")
	}
	sk, err := set.Sink(ctx, "pg")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := sk.(interface{ Pool() *pgxpool.Pool }); !ok || p.Pool().Config().MaxConns != 2 {
		t.Errorf("postgres sink pool not capped at 2")
	}
	pool, err := set.Pool(ctx, "pg")
	if err != nil {
		t.Fatal(err)
	}
	if pool.Config().MaxConns != 2 {
		t.Errorf("ledger pool MaxConns %d, want 2", pool.Config().MaxConns)
	}
	my, err := set.Source(ctx, "my")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := my.(interface{ DB() *sql.DB }); !ok || d.DB().Stats().MaxOpenConnections != 3 {
		t.Errorf("mysql source not capped at 3")
	}
}

func TestProbeRunsTheThrottleQuery(t *testing.T) {
	t.Parallel()
	pgURL := testenv.Postgres(t)
	myURL, _ := testenv.MySQL(t)
	set := New(limitsPlan(t, pgURL, myURL))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for store, want := range map[string]float64{"pg": 7, "my": 2.5} {
		probe, closeFn, err := set.Probe(store)
		if err != nil {
			t.Fatal(err)
		}
		v, err := probe(ctx)
		closeFn()
		if err != nil || v != want {
			t.Errorf("%s: probe = %v, %v; want %v", store, v, err, want)
		}
	}
}

func TestProbeReplicaLag(t *testing.T) {
	t.Parallel()
	pgURL := testenv.Postgres(t)
	p, err := plan.Parse("lag.yaml", []byte(`version: 1
name: lag
stores:
  pg: { kind: postgres, url: "`+pgURL+`", limits: { max_replica_lag: 5s } }
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, closeFn, err := New(p).Probe("pg")
	if err != nil || probe == nil {
		t.Fatalf("probe %v, err %v", probe != nil, err)
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The test server has no standbys: the lag reads 0.
	if v, err := probe(ctx); err != nil || v != 0 {
		t.Errorf("replica lag = %v, %v; want 0", v, err)
	}
}

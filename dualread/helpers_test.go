package dualread

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/stores"
)

// phases is a PhaseSource tests change while readers run.
type phases struct {
	mu sync.Mutex
	m  map[string]string
}

func (p *phases) Phase(entity string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.m[entity]; v != "" {
		return v
	}
	return PhaseOld
}

func (p *phases) set(entity, phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[entity] = phase
}

// fixture is an old MariaDB database with table orders (n rows), a new
// PostgreSQL database, and a plan between them.
type fixture struct {
	murl, purl string
	db         *sql.DB // old store
	plan       string  // plan file
	proxy      *testenv.Proxy
}

// newFixture seeds orders 1..n in MariaDB. With proxied set, the plan
// reaches MariaDB through a testenv.Proxy (f.proxy) for fault injection.
func newFixture(t testing.TB, n int, proxied bool) *fixture {
	t.Helper()
	murl, db := testenv.MySQL(t)
	purl := testenv.Postgres(t)
	stmts := []string{
		`CREATE TABLE orders (
			id BIGINT NOT NULL PRIMARY KEY,
			customer VARCHAR(40) NOT NULL,
			amount DECIMAL(12,2) NULL,
			note TEXT NULL,
			updated_at DATETIME(6) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO orders SELECT seq, CONCAT('customer ', seq), seq * 1.25, IF(seq %% 5 = 0, NULL, 'n'),
			TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq SECOND FROM seq_1_to_%d`, n),
		`CREATE TABLE order_lines (
			order_id BIGINT NOT NULL, line_no INT NOT NULL, sku VARCHAR(20) NOT NULL,
			PRIMARY KEY (order_id, line_no))`,
		`INSERT INTO order_lines VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c')`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	f := &fixture{murl: murl, purl: purl, db: db}
	planURL := murl
	if proxied {
		u, _ := url.Parse(murl)
		f.proxy = testenv.NewProxy(t, u.Host)
		u.Host = f.proxy.Addr()
		planURL = u.String()
	}
	f.plan = filepath.Join(t.TempDir(), "plan.yaml")
	text := fmt.Sprintf(`version: 1
name: %s
stores:
  legacy: { kind: mysql, url: "%s" }
  main:   { kind: postgres, url: "%s", schema: shop }
entities:
  orders:
    from: legacy.orders
    to: main.orders
    version: updated_at
    lag: 1s
  lines:
    from: legacy.order_lines
    to: main.order_lines
`, testenv.Unique("dr"), planURL, purl)
	if err := os.WriteFile(f.plan, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// run moves the plan with the real engine (what `transit run` does).
func (f *fixture) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := plan.Load(f.plan)
	if err != nil {
		t.Fatal(err)
	}
	set := stores.New(p)
	defer set.Close()
	specs, err := port.Expand(ctx, p, set, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := port.Resolve(ctx, p, specs, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := port.OpenSinks(ctx, ents, set); err != nil {
		t.Fatal(err)
	}
	ls := p.LedgerStore()
	pool, err := set.Pool(ctx, ls.Name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := port.Run(ctx, p, ents, l, port.Options{SameDB: func(s string) bool { return set.SameDatabase(ls.Name, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done {
		t.Fatalf("run not done: %+v", res)
	}
}

func (f *fixture) open(t testing.TB, entity string, ph PhaseSource, opts ...Option) *Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Open(ctx, f.plan, entity, append([]Option{WithPhases(ph)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pg runs statements on the new store.
func (f *fixture) pg(t testing.TB, sqls ...string) {
	t.Helper()
	testenv.Exec(t, f.purl, sqls...)
}

// pgCount returns the result of a count query on the new store.
func (f *fixture) pgInt(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.purl)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func queryStrings(t testing.TB, url, q string, args ...any) [][]string {
	t.Helper()
	return testenv.QueryStrings(t, url, q, args...)
}

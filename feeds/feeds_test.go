package feeds_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
	redissink "github.com/transitdb/transit/sinks/redis"
	"github.com/transitdb/transit/stores"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopLogical()
	os.Exit(code)
}

func redisClient(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	if err := c.Ping(context.Background()).Err(); err != nil {
		testenv.Unavailable(t, "Redis", err)
	}
	prefix := testenv.Unique("tf") + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

type env struct {
	url    string
	prefix string
	rdb    *goredis.Client
	p      *plan.Plan
	set    *stores.Set
	l      *ledger.Ledger
	feed   *feeds.Feed
}

// newEnv makes a logical database with shop.customer (n rows) and the
// plan of one redis feed of it.
func newEnv(t testing.TB, n int, feedYAML string, tune ...func(*feeds.Options)) *env {
	t.Helper()
	return newEnvWith(t, n, feedYAML, nil, tune...)
}

// newEnvWith is newEnv running the statements setup after making the
// tables and before opening the feed.
func newEnvWith(t testing.TB, n int, feedYAML string, setup []string, tune ...func(*feeds.Options)) *env {
	t.Helper()
	e := &env{url: testenv.LogicalPostgres(t)}
	e.rdb, e.prefix = redisClient(t)
	testenv.Exec(t, e.url, `CREATE SCHEMA shop`,
		`CREATE TABLE shop.customer (id int PRIMARY KEY, name text NOT NULL, email text, score numeric(8,2))`,
		`CREATE TABLE shop.invoice (id int PRIMARY KEY, customer_id int NOT NULL, total numeric(8,2) NOT NULL)`,
		`ALTER TABLE shop.invoice REPLICA IDENTITY FULL`,
		fmt.Sprintf(`INSERT INTO shop.customer SELECT g, 'name '||g, 'c'||g||'@x.org', g/4.0 FROM generate_series(1, %d) g`, n),
		fmt.Sprintf(`INSERT INTO shop.invoice SELECT g, 1 + g %% %d, g FROM generate_series(1, %d) g`, max(n, 1), 2*n))
	if len(setup) > 0 {
		testenv.Exec(t, e.url, setup...)
	}
	src := fmt.Sprintf(`version: 1
name: %s
stores:
  main: { kind: postgres, url: %q, schema: shop }
  cache: { kind: redis, url: "redis://127.0.0.1:6379/0" }
feeds:
  cust:
%s`, testenv.Unique("feedplan"), e.url, strings.ReplaceAll(feedYAML, "PREFIX", e.prefix))
	p, err := plan.Parse("feeds.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	e.set = stores.New(p)
	t.Cleanup(func() { e.set.Close() })
	ctx := context.Background()
	pool, err := e.set.Pool(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if e.l, err = ledger.Open(ctx, pool); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.l.Close() })
	spec := p.Feed("cust")
	var f *feeds.Feed
	target, err := redissink.NewTarget(e.rdb, redissink.Options{KeyTemplate: spec.Key, Format: redissink.Format(spec.Format), Columns: spec.Columns},
		func(m map[string]any) string { return f.ScanID(m) })
	if err != nil {
		t.Fatal(err)
	}
	opts := feeds.Options{Log: testLog(t), ChunkRows: 500, CatchupIdle: 300 * time.Millisecond, StatusInterval: 100 * time.Millisecond}
	for _, fn := range tune {
		fn(&opts)
	}
	f, err = feeds.Open(ctx, p, spec, e.l, e.set, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.feed = f
	t.Cleanup(func() { _, _ = f.Drop(context.Background()) })
	return e
}

// pgDocs renders what the feed should hold, as text by ID, with query
// (which returns id first, then the fields).
func (e *env) pgDocs(t testing.TB, query string) map[string]map[string]string {
	t.Helper()
	rows := testenv.QueryStrings(t, e.url, query)
	out := map[string]map[string]string{}
	cols := strings.Split(strings.SplitN(query, "|", 2)[0], ",")
	_ = cols
	for _, r := range rows {
		out[r[0]] = map[string]string{}
		for i := 1; i+1 < len(r); i += 2 {
			if r[i+1] != "\x00" {
				out[r[0]][r[i]] = r[i+1]
			}
		}
	}
	return out
}

func (e *env) targetDocs(t testing.TB) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	err := e.feed.Target.Scan(context.Background(), redissink.Generation, func(ds []doc.Doc) error {
		for _, d := range ds {
			m := map[string]string{}
			for k, v := range d.Fields {
				m[k] = fmt.Sprint(v)
			}
			out[d.ID] = m
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const custQuery = `SELECT id::text, 'id', id::text, 'name', name, 'email', coalesce(email, 'NULL!'), 'score', coalesce(score::text, 'NULL!') FROM shop.customer`

func equalDocs(t testing.TB, want, got map[string]map[string]string) {
	t.Helper()
	var diffs []string
	for id, w := range want {
		for k, v := range w {
			if v == "NULL!" {
				delete(w, k)
			}
		}
		g, ok := got[id]
		if !ok {
			diffs = append(diffs, "missing "+id)
			continue
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			diffs = append(diffs, fmt.Sprintf("%s: want %v, got %v", id, w, g))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, "extra "+id)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%d differences (want %d docs, got %d), first: %s", len(diffs), len(want), len(got), strings.Join(diffs[:min(5, len(diffs))], "; "))
	}
}

// TestRebuildThenRun: a rebuild loads every row; changes made during and
// after it (inserts, updates, deletes, a truncate) reach Redis through
// feed run, which stops with --until.
func TestRebuildThenRunRedis(t *testing.T) {
	e := newEnv(t, 300, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"`)
	ctx := context.Background()
	res, err := e.feed.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Backfilled != 300 || res.LSN == 0 {
		t.Fatalf("rebuild: %+v", res)
	}
	equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))

	testenv.Exec(t, e.url,
		`INSERT INTO shop.customer VALUES (1001, 'new', NULL, 1.5)`,
		`UPDATE shop.customer SET name = 'changed', email = NULL WHERE id <= 10`,
		`DELETE FROM shop.customer WHERE id BETWEEN 20 AND 29`,
		`BEGIN; UPDATE shop.customer SET score = 99 WHERE id = 1001; DELETE FROM shop.customer WHERE id = 2; COMMIT`)
	until := time.Now()
	t0 := time.Now()
	if err := e.feed.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %s", time.Since(t0))
	equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))

	// Refeed (verify --repair) restores a damaged key and removes one
	// whose row is gone.
	e.rdb.HSet(ctx, e.prefix+"c:5", "name", "damaged")
	e.rdb.HSet(ctx, e.prefix+"c:25", "id", "25", "_v", "00000000000000000001")
	if n, err := e.feed.Refeed(ctx, redissink.Generation, []record.Key{{int64(5)}, {int64(25)}}); err != nil || n != 2 {
		t.Fatalf("refeed: %d %v", n, err)
	}
	equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
	st := e.feed.Status(ctx, 0)
	// Events count the documents applied: 21 distinct IDs when the four
	// transactions arrive as one batch (id 2 is among 1..10), 23 when not.
	if st.Generation != redissink.Generation || st.Events < 21 || st.Position == "0/0" {
		t.Fatalf("status: %+v", st)
	}

	testenv.Exec(t, e.url, `BEGIN; TRUNCATE shop.customer CASCADE; INSERT INTO shop.customer VALUES (7, 'after', 'a@b', 0); COMMIT`)
	until = time.Now()
	if err := e.feed.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
}

// TestDocumentsDependsOn: documents rendered by a query, re-rendered when
// a depends_on table changes.
func TestDocumentsDependsOn(t *testing.T) {
	e := newEnv(t, 20, `    from: main.customer
    to: cache
    key: "PREFIXd:{id}"
    format: json
    documents:
      query: "SELECT c.id, c.name, (SELECT count(*) FROM invoice i WHERE i.customer_id = c.id) AS invoices FROM customer c WHERE c.id = ANY($1)"
      depends_on: { invoice: customer_id }
    id: id`)
	ctx := context.Background()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	q := `SELECT c.id::text, 'id', c.id::text, 'invoices', (SELECT count(*) FROM shop.invoice i WHERE i.customer_id = c.id)::text, 'name', c.name FROM shop.customer c`
	equalDocs(t, e.pgDocs(t, q), e.targetDocs(t))
	testenv.Exec(t, e.url,
		`INSERT INTO shop.invoice VALUES (1000, 3, 1), (1001, 3, 2)`,
		`DELETE FROM shop.invoice WHERE customer_id = 5`,
		`UPDATE shop.invoice SET customer_id = 8 WHERE customer_id = 9`,
		`DELETE FROM shop.customer WHERE id = 12`)
	until := time.Now()
	if err := e.feed.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	equalDocs(t, e.pgDocs(t, q), e.targetDocs(t))
}

func testLog(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestNoGapDuringRebuild: a writer changes the table while the rebuild's
// backfill reads it (many small chunks); whatever the backfill misses or
// reads early, the slot (created first) brings, so after feed run the
// keyspace equals PostgreSQL.
func TestNoGapDuringRebuild(t *testing.T) {
	e := newEnv(t, 3000, `    from: main.customer
    to: cache
    key: "PREFIXg:{id}"
    columns: [id, name, email, score]`)
	ctx := context.Background()
	stop := make(chan struct{})
	errc := make(chan error, 1)
	var changes int
	go func() {
		conn, err := pgx.Connect(ctx, e.url)
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close(ctx)
		for i := 0; ; i++ {
			select {
			case <-stop:
				errc <- nil
				return
			default:
			}
			id := 1 + (i*37)%3000
			q := fmt.Sprintf(`UPDATE shop.customer SET name = 'w%d' WHERE id = %d`, i, id)
			switch i % 4 {
			case 1:
				q = fmt.Sprintf(`DELETE FROM shop.customer WHERE id = %d`, id)
			case 2:
				q = fmt.Sprintf(`INSERT INTO shop.customer VALUES (%d, 'ins', NULL, NULL)`, 10000+i)
			}
			if _, err := conn.Exec(ctx, q); err != nil {
				errc <- err
				return
			}
			changes++
			time.Sleep(10 * time.Millisecond)
		}
	}()
	f := e.feed
	res, err := f.Rebuild(ctx)
	close(stop)
	if werr := <-errc; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild: %+v; %d changes during it", res, changes)
	if changes == 0 {
		t.Fatal("the writer made no change during the rebuild")
	}
	until := time.Now()
	if err := f.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
}

// BenchmarkRunBacklog: feed run applying a backlog of b.N one-row update
// transactions into Redis (documents/s = transactions/s here).
func BenchmarkRunBacklog(b *testing.B) {
	e := newEnv(b, 2000, `    from: main.customer
    to: cache
    key: "PREFIXb:{id}"`)
	ctx := context.Background()
	if _, err := e.feed.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := 0; i < b.N; i++ {
		if _, err := conn.Exec(ctx, `UPDATE shop.customer SET name = 'b'||$1::int WHERE id = $2`, i, 1+i%2000); err != nil {
			b.Fatal(err)
		}
	}
	until := time.Now()
	b.ResetTimer()
	if err := e.feed.Run(ctx, feeds.RunOptions{Until: &until, Idle: 20 * time.Second}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	equalDocs(b, e.pgDocs(b, custQuery), e.targetDocs(b))
}

// plainCut is the Redis target with a cancel after its first plain write:
// an initial build killed mid-backfill.
type plainCut struct {
	*redissink.Target
	cancel context.CancelFunc
}

func (p *plainCut) WritePlain(ctx context.Context, gen string, docs []doc.Doc) (doc.Result, error) {
	res, err := p.Target.WritePlain(ctx, gen, docs)
	p.cancel()
	return res, err
}

// TestInitialBuildPlain: the initial build writes plain and, on an empty
// keyspace, skips the sweep; over leftover keys (a dropped build's stale
// key, a foreign hash with an extra field, a string) it ends equal to
// PostgreSQL; interrupted and resumed it sweeps; a later rebuild uses the
// compare-and-set and sweeps.
func TestInitialBuildPlain(t *testing.T) {
	ctx := context.Background()
	t.Run("empty", func(t *testing.T) {
		e := newEnv(t, 1200, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"`)
		res, err := e.feed.Rebuild(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Plain || !res.NoSweep || res.Backfilled != 1200 {
			t.Fatalf("initial build: %+v", res)
		}
		equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
		// A second rebuild: the feed is live, so compare-and-set and a sweep.
		e.rdb.HSet(ctx, e.prefix+"c:5000", "id", "5000", "_v", "00000000000000000001")
		testenv.Exec(t, e.url, `UPDATE shop.customer SET name = 'again' WHERE id < 50`)
		res, err = e.feed.Rebuild(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Plain || res.NoSweep || res.Swept != 1 {
			t.Fatalf("second rebuild: %+v", res)
		}
		equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
	})
	t.Run("leftovers", func(t *testing.T) {
		e := newEnv(t, 1200, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"`)
		e.rdb.HSet(ctx, e.prefix+"c:9999", "id", "9999", "name", "gone", "_v", "00000000000000000001")
		e.rdb.HSet(ctx, e.prefix+"c:5", "id", "5", "junk", "x")
		e.rdb.Set(ctx, e.prefix+"c:6", "a string", 0)
		e.rdb.Set(ctx, e.prefix+"c:7:_tomb", "99999999999999999999", time.Hour)
		res, err := e.feed.Rebuild(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Plain || res.NoSweep || res.Swept != 1 {
			t.Fatalf("initial build over leftovers: %+v", res)
		}
		equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
	})
	t.Run("resumed", func(t *testing.T) {
		e := newEnv(t, 3000, `    from: main.customer
    to: cache
    key: "PREFIXc:{id}"`)
		inner := e.feed.Target.(*redissink.Target)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		e.feed.Target = &plainCut{Target: inner, cancel: cancel}
		if _, err := e.feed.Rebuild(cctx); err == nil {
			t.Fatal("the cut rebuild finished")
		}
		e.feed.Target = inner
		// Changes and a stale key while it is down.
		testenv.Exec(t, e.url, `DELETE FROM shop.customer WHERE id <= 100`, `UPDATE shop.customer SET email = NULL WHERE id > 2900`)
		e.rdb.HSet(ctx, e.prefix+"c:8888", "id", "8888", "_v", "00000000000000000001")
		res, err := e.feed.Rebuild(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resumed || !res.Plain || res.NoSweep || res.Swept < 1 {
			t.Fatalf("resumed initial build: %+v", res)
		}
		equalDocs(t, e.pgDocs(t, custQuery), e.targetDocs(t))
	})
}

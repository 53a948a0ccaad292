package transition

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
)

// ledgerPool opens a migrated ledger on url the way stores.Pool does.
func ledgerPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgconf.PoolConfig(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func watch(t *testing.T, url, plan string, opts WatchOptions) *Watcher {
	t.Helper()
	w, err := Watch(context.Background(), url, plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// reaches waits until w says entity is in want, and fails the test when
// that takes longer than limit after since.
func reaches(t *testing.T, w *Watcher, entity string, want Phase, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		if w.Phase(entity) == string(want) {
			return time.Since(since)
		}
		if time.Since(since) > limit {
			t.Fatalf("after %v the watcher says %s is %q, want %q", limit, entity, w.Phase(entity), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSetRecordsHistoryAndWatcherFollows(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	pool := ledgerPool(t, url)
	ctx := context.Background()
	changes := make(chan string, 10)
	w := watch(t, url, "shop", WatchOptions{OnChange: func(e string, from, to Phase) {
		changes <- e + ":" + string(from) + ">" + string(to)
	}})
	if w.Mode() != "listen" {
		t.Fatalf("direct ledger: mode %q, want listen", w.Mode())
	}
	if got := w.Phase("customer"); got != "old" {
		t.Fatalf("never moved: %q, want old", got)
	}
	start := time.Now()
	if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "customer", From: Old, To: Shadow, Reason: "compare first"}); err != nil {
		t.Fatal(err)
	}
	d := reaches(t, w, "customer", Shadow, start, time.Second)
	t.Logf("old → shadow reached the watcher in %v", d)
	if c := <-changes; c != "customer:old>shadow" {
		t.Fatalf("OnChange got %q", c)
	}
	// A watcher started now finds customer in shadow: that is not a change.
	w2 := watch(t, url, "shop", WatchOptions{OnChange: func(e string, from, to Phase) {
		t.Errorf("OnChange at the start: %s %s>%s", e, from, to)
	}})
	if w2.Phase("customer") != "shadow" {
		t.Fatalf("second watcher: %q", w2.Phase("customer"))
	}
	w2.Close()
	// Another plan's change is not this watcher's business.
	if _, err := Set(ctx, pool, Change{Plan: "other", Entity: "customer", To: New}); err != nil {
		t.Fatal(err)
	}
	// A stale From is refused: someone else moved the entity.
	_, err := Set(ctx, pool, Change{Plan: "shop", Entity: "customer", From: Old, To: Shadow})
	var moved *ErrPhaseMoved
	if !errors.As(err, &moved) || moved.Got != Shadow {
		t.Fatalf("stale step: %v, want ErrPhaseMoved (got shadow)", err)
	}
	start = time.Now()
	if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "customer", From: Shadow, To: Old, Actor: "ops-bot", Reason: "rollback: mismatches"}); err != nil {
		t.Fatal(err)
	}
	reaches(t, w, "customer", Old, start, time.Second)
	if w.Phase("customer") != "old" || w.Phases()["customer"] != "" {
		t.Fatalf("after rollback: %q %v", w.Phase("customer"), w.Phases())
	}
	h, err := History(ctx, pool, "shop", "customer", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].From != Shadow || h[0].To != Old || h[0].ChangedBy != "ops-bot" || h[0].Reason != "rollback: mismatches" ||
		h[1].From != Old || h[1].To != Shadow || h[1].ChangedBy != Actor() || h[1].Reason != "compare first" {
		t.Fatalf("history: %+v", h)
	}
	st, err := Get(ctx, pool, "shop", "customer")
	if err != nil || st.Phase != Old || st.ChangedBy != "ops-bot" {
		t.Fatalf("Get: %+v %v", st, err)
	}
	if st, err := Get(ctx, pool, "shop", "never"); err != nil || st.Phase != Old || !st.ChangedAt.IsZero() {
		t.Fatalf("Get of an entity never moved: %+v %v", st, err)
	}
}

// TestWatcherReconnects: the listening connection is killed; a change made
// right after reaches the watcher anyway (it reconnects and reads again).
func TestWatcherReconnects(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	pool := ledgerPool(t, url)
	ctx := context.Background()
	w := watch(t, url, "shop", WatchOptions{})
	// The watcher starts listening in the background: wait for it.
	var n int
	for deadline := time.Now().Add(5 * time.Second); n == 0; time.Sleep(20 * time.Millisecond) {
		if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN transit_phases'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 && time.Now().After(deadline) {
			t.Fatal("no connection LISTENs on transit_phases")
		}
	}
	start := time.Now()
	if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "track", To: Migrating}); err != nil {
		t.Fatal(err)
	}
	d := reaches(t, w, "track", Migrating, start, time.Second)
	t.Logf("change after a lost connection reached the watcher in %v", d)
	// And notifications flow again on the new connection.
	start = time.Now()
	if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "track", To: New}); err != nil {
		t.Fatal(err)
	}
	reaches(t, w, "track", New, start, time.Second)
}

// TestWatcherThroughPgbouncer: behind a transaction-mode pooler LISTEN
// cannot work, so the watcher polls, and a change still arrives within 1 s.
func TestWatcherThroughPgbouncer(t *testing.T) {
	t.Parallel()
	url := testenv.Pgbouncer(t, testenv.Postgres(t))
	pool := ledgerPool(t, url)
	ctx := context.Background()
	w := watch(t, url, "shop", WatchOptions{})
	if w.Mode() != "poll" {
		t.Fatalf("through pgbouncer: mode %q, want poll", w.Mode())
	}
	start := time.Now()
	if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "album", From: Old, To: Shadow}); err != nil {
		t.Fatal(err)
	}
	d := reaches(t, w, "album", Shadow, start, time.Second)
	t.Logf("through pgbouncer the change reached the watcher in %v", d)
	// The gates' and status's queries work through the pooler too.
	p, err := plan.Parse("p.yaml", []byte(gatesPlan), nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, pool, "customer", time.Minute)
	res, err := Forward(ctx, pool, p, "customer", Shadow, StepOptions{})
	if err != nil || !res.Applied {
		t.Fatalf("a step through pgbouncer: %+v %v", res, err)
	}
	reaches(t, w, "customer", Shadow, time.Now(), time.Second)
	res, err = Forward(ctx, pool, p, "customer", Migrating, StepOptions{DryRun: true})
	if err != nil || names(res.Gates, false) != "verify,shadow,audit" {
		t.Fatalf("gates through pgbouncer: %+v %v", res, err)
	}
	if sts, err := Status(ctx, pool, p); err != nil || len(sts) != 2 || sts[1].Entity != "customer" || sts[1].Phase != "shadow" || sts[1].LagSeconds < 59 {
		t.Fatalf("status through pgbouncer: %+v %v", sts, err)
	}
}

// TestWatchBeforeMigration: a reader may start before any cutover: with no
// phases table every entity is old, and the first change still arrives.
func TestWatchBeforeMigration(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	w := watch(t, url, "shop", WatchOptions{})
	if got := w.Phase("customer"); got != "old" {
		t.Fatalf("unmigrated ledger: %q, want old", got)
	}
	pool := ledgerPool(t, url)
	start := time.Now()
	if _, err := Set(context.Background(), pool, Change{Plan: "shop", Entity: "customer", To: Shadow}); err != nil {
		t.Fatal(err)
	}
	reaches(t, w, "customer", Shadow, start, time.Second)
}

func TestActor(t *testing.T) {
	t.Setenv("TRANSIT_ACTOR", "")
	if a := Actor(); !strings.Contains(a, "@") {
		t.Fatalf("Actor() = %q, want user@host", a)
	}
	t.Setenv("TRANSIT_ACTOR", "deploy-bot")
	if a := Actor(); a != "deploy-bot" {
		t.Fatalf("Actor() = %q, want $TRANSIT_ACTOR", a)
	}
}

// TestWatcherThroughAHang: the ledger hangs (a proxy holds every byte).
// Phase keeps answering at once with the last phases known, in both modes,
// and a change made meanwhile arrives once the ledger answers again.
func TestWatcherThroughAHang(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"listen", "poll"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			direct := testenv.Postgres(t)
			pool := ledgerPool(t, direct)
			ctx := context.Background()
			if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "customer", To: Shadow}); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(direct)
			if err != nil {
				t.Fatal(err)
			}
			proxy := testenv.NewProxy(t, u.Host)
			u.Host = proxy.Addr()
			q := u.Query()
			q.Set("pooler", map[string]string{"listen": "none", "poll": "transaction"}[mode])
			u.RawQuery = q.Encode()
			w := watch(t, u.String(), "shop", WatchOptions{KeepAlive: 200 * time.Millisecond})
			if w.Mode() != mode {
				t.Fatalf("mode %q, want %q", w.Mode(), mode)
			}
			time.Sleep(300 * time.Millisecond) // let the listener start
			proxy.Stall()
			if _, err := Set(ctx, pool, Change{Plan: "shop", Entity: "customer", To: Migrating}); err != nil {
				t.Fatal(err)
			}
			for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				start := time.Now()
				got := w.Phase("customer")
				if d := time.Since(start); d > 10*time.Millisecond {
					t.Fatalf("Phase took %v while the ledger hangs", d)
				}
				if got != "shadow" {
					t.Fatalf("while the ledger hangs: %q, want the last known (shadow)", got)
				}
			}
			proxy.Resume()
			d := reaches(t, w, "customer", Migrating, time.Now(), 10*time.Second)
			t.Logf("after the hang the change arrived in %v", d)
		})
	}
}

// TestWatchUnreachable: a ledger that does not answer is a clear error
// from Watch, not a Watcher that says "old" for everything.
func TestWatchUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := Watch(ctx, "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", "shop", WatchOptions{})
	if err == nil {
		w.Close()
		t.Fatal("Watch on a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "watch phases") {
		t.Fatalf("error without context: %v", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/transitdb/transit/internal/estest"
	"github.com/transitdb/transit/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopLogical()
	os.Exit(code)
}

// feedSetup makes a logical database with shop.customer (n rows), a Redis
// key prefix, and a plan with one Redis feed of the table.
func feedSetup(t *testing.T, n int) (url, prefix, planPath string, rdb *goredis.Client) {
	t.Helper()
	return feedSetupES(t, n, "")
}

// feedSetupES is feedSetup, and when esURL is set a second feed "cs" of
// the table into alias customers of the Elasticsearch (test double) at
// esURL.
func feedSetupES(t *testing.T, n int, esURL string) (url, prefix, planPath string, rdb *goredis.Client) {
	t.Helper()
	url = testenv.LogicalPostgres(t)
	rdb = goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testenv.Unavailable(t, "Redis", err)
	}
	prefix = testenv.Unique("tfc") + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	testenv.Exec(t, url, `CREATE SCHEMA shop`,
		`CREATE TABLE shop.customer (id int PRIMARY KEY, name text NOT NULL, email text, score numeric(8,2))`,
		fmt.Sprintf(`INSERT INTO shop.customer SELECT g, 'name '||g, 'c'||g||'@x.org', g/4.0 FROM generate_series(1, %d) g`, n))
	text := fmt.Sprintf(`version: 1
name: %s
stores:
  main: { kind: postgres, url: %q, schema: shop }
  cache: { kind: redis, url: "redis://127.0.0.1:6379/0" }
feeds:
  cust:
    from: main.customer
    to: cache
    key: "%sc:{id}"
`, testenv.Unique("fp"), url, prefix)
	if esURL != "" {
		text = strings.Replace(text, "feeds:\n", fmt.Sprintf("  search: { kind: elasticsearch, url: %q }\nfeeds:\n", esURL), 1) +
			"  cs:\n    from: main.customer\n    to: search.customers\n    id: [id]\n"
	}
	planPath = writePlan(t, text)
	t.Cleanup(func() { _, _, _ = transitRun(t, "feed", "drop", planPath, "--feed", "cust") })
	if esURL != "" {
		t.Cleanup(func() { _, _, _ = transitRun(t, "feed", "drop", planPath, "--feed", "cs") })
	}
	return url, prefix, planPath, rdb
}

// redisRows reads the feed's keys as "id|name|email|score" lines.
func redisRows(t *testing.T, rdb *goredis.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, prefix+"c:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, ":_tomb") {
			continue
		}
		m, err := rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if k != prefix+"c:"+m["id"] {
			t.Errorf("key %s holds id %q", k, m["id"])
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s", m["id"], m["name"], m["email"], m["score"]))
	}
	sort.Strings(out)
	return out
}

func pgRows(t *testing.T, url string) []string {
	t.Helper()
	var out []string
	for _, r := range testenv.QueryStrings(t, url, `SELECT id::text, name, coalesce(email, ''), coalesce(score::text, '') FROM shop.customer`) {
		out = append(out, strings.Join(r, "|"))
	}
	sort.Strings(out)
	return out
}

func sameRows(t *testing.T, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") == strings.Join(got, "\n") {
		return
	}
	w := map[string]bool{}
	for _, r := range want {
		w[r] = true
	}
	g := map[string]bool{}
	for _, r := range got {
		g[r] = true
	}
	var diffs []string
	for _, r := range want {
		if !g[r] {
			diffs = append(diffs, "missing/old in Redis: "+r)
		}
	}
	for _, r := range got {
		if !w[r] {
			diffs = append(diffs, "extra/stale in Redis: "+r)
		}
	}
	t.Fatalf("Redis differs from PostgreSQL (%d rows vs %d): %d differences, first: %s", len(got), len(want), len(diffs), strings.Join(diffs[:min(6, len(diffs))], "; "))
}

// writer changes shop.customer in small transactions (inserts, updates,
// deletes, some several in one transaction) until stop is closed.
func writer(t *testing.T, url string, stop <-chan struct{}, n int, done *atomic.Int64) <-chan error {
	errc := make(chan error, 1)
	go func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close(ctx)
		next := n + 1
		for {
			select {
			case <-stop:
				errc <- nil
				return
			default:
			}
			id := 1 + rand.IntN(next)
			var q string
			switch rand.IntN(5) {
			case 0:
				q = fmt.Sprintf(`INSERT INTO shop.customer VALUES (%d, 'new %d', NULL, 1.25)`, next, next)
				next++
			case 1:
				q = fmt.Sprintf(`DELETE FROM shop.customer WHERE id = %d`, id)
			case 2:
				q = fmt.Sprintf(`BEGIN; UPDATE shop.customer SET score = score + 1 WHERE id = %d; UPDATE shop.customer SET name = 'tx '||id WHERE id = %d; COMMIT`, id, id+1)
			default:
				q = fmt.Sprintf(`UPDATE shop.customer SET name = 'upd %d', email = CASE WHEN email IS NULL THEN 'e@x' END WHERE id = %d`, rand.IntN(1000), id)
			}
			if _, err := conn.Exec(ctx, q); err != nil {
				errc <- fmt.Errorf("%s: %w", q, err)
				return
			}
			done.Add(1)
			time.Sleep(time.Duration(2+rand.IntN(5)) * time.Millisecond)
		}
	}()
	return errc
}

// TestFeedRunSIGKILL: while a writer changes PostgreSQL throughout, feed
// run (two feeds: a Redis keyspace and an index of the Elasticsearch test
// double) is killed with SIGKILL at random moments 12 times and started
// again; at the end the Redis keyspace equals PostgreSQL and transit verify
// --feed exits 0 for both feeds (acceptance 2).
func TestFeedRunSIGKILL(t *testing.T) {
	bin := transitBinary(t)
	esURL, _ := estest.Start(t)
	url, prefix, planPath, rdb := feedSetupES(t, 500, esURL)
	if out, err := transitOutput(bin, "feed", "rebuild", planPath); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	sameRows(t, pgRows(t, url), redisRows(t, rdb, prefix))
	t.Logf("built at %s", time.Now().Format(time.TimeOnly))

	stop := make(chan struct{})
	var changes atomic.Int64
	errc := writer(t, url, stop, 500, &changes)
	var mu sync.Mutex
	kills := 0
	for kills < 12 {
		cmd, out := startTransit(t, bin, "feed", "run", planPath)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("feed run exited by itself: %v\n%s", err, out.String())
		case <-time.After(time.Duration(300+rand.IntN(1200)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			t.Logf("kill at %s: %s", time.Now().Format(time.TimeOnly), strings.ReplaceAll(out.String(), "\n", " | "))
			mu.Lock()
			kills++
			mu.Unlock()
		}
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	until := time.Now().UTC().Format(time.RFC3339Nano)
	t0 := time.Now()
	if out, err := transitOutput(bin, "feed", "run", planPath, "--until", until); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	} else {
		t.Logf("final run took %s:\n%s", time.Since(t0), out)
	}
	t.Logf("%d changes, %d kills", changes.Load(), kills)
	if changes.Load() < 100 {
		t.Fatalf("the writer made only %d changes", changes.Load())
	}
	sameRows(t, pgRows(t, url), redisRows(t, rdb, prefix))
	for _, feed := range []string{"cust", "cs"} {
		if code, out, errOut := transitRun(t, "verify", planPath, "--feed", feed); code != 0 {
			t.Fatalf("verify --feed %s after %d kills: exit %d\n%s\n%s", feed, kills, code, out, errOut)
		}
	}

	code, out, errOut := transitRun(t, "feed", "status", planPath, "--output", "json", "--feed", "cust")
	if code != 0 {
		t.Fatalf("status: %d %s %s", code, out, errOut)
	}
	var st struct {
		Feed, Position, Generation string
		Events                     int64
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Feed != "cust" || st.Position == "0/0" || st.Events == 0 {
		t.Fatalf("status json: %v %+v\n%s", err, st, out)
	}
	code, out, errOut = transitRun(t, "feed", "drop", planPath, "--feed", "cust")
	if code != 0 || !strings.Contains(out, "of WAL no longer held") {
		t.Fatalf("drop: %d %s %s", code, out, errOut)
	}
	if n := pgScalar(t, url, `SELECT count(*) FROM pg_replication_slots WHERE database = current_database()`); n != "1" {
		t.Fatalf("%s slots left after dropping one of two feeds, want 1", n)
	}
}

// TestFeedRebuildKilled: a rebuild killed with SIGKILL at random moments
// never leaves readers with a missing key (the Redis feed is rebuilt in
// place, every key keeps an old or a newer value), the next rebuild
// resumes, and the finished one leaves Redis equal to PostgreSQL and
// removes keys whose rows are gone (acceptance 3, Redis).
func TestFeedRebuildKilled(t *testing.T) {
	bin := transitBinary(t)
	url, prefix, planPath, rdb := feedSetup(t, 3000)
	if out, err := transitOutput(bin, "feed", "rebuild", planPath, "--feed", "cust"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	// Changes no stream applies (no feed run): only the rebuild brings
	// them, and its sweep removes the deleted rows' keys.
	testenv.Exec(t, url, `UPDATE shop.customer SET name = 'v2 '||id`, `DELETE FROM shop.customer WHERE id % 7 = 0`)
	ctx := context.Background()
	_, _ = rdb.Del(ctx, prefix+"c:1").Result() // a key lost: the rebuild restores it
	rdb.HSet(ctx, prefix+"c:99999", "id", "99999", "_v", "00000000000000000001")
	present := map[string]bool{}
	for _, r := range pgRows(t, url) {
		present[strings.SplitN(r, "|", 2)[0]] = true
	}
	kills := 0
	for attempt := 0; kills < 5 && attempt < 40; attempt++ {
		cmd, out := startTransit(t, bin, "feed", "rebuild", planPath, "--feed", "cust")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("rebuild failed: %v\n%s", err, out.String())
			}
			t.Logf("rebuild finished before its kill (attempt %d)", attempt)
		case <-time.After(time.Duration(150+rand.IntN(900)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			t.Logf("killed in phase %q", pgScalar(t, url, `SELECT rebuild_phase FROM transit.feeds`))
		}
		// Readers: every row of PostgreSQL has its key, with a whole value.
		got := map[string]bool{}
		for _, r := range redisRows(t, rdb, prefix) {
			parts := strings.Split(r, "|")
			if parts[1] == "" && parts[0] != "99999" {
				t.Fatalf("half-written key: %s", r)
			}
			got[parts[0]] = true
		}
		for id := range present {
			if !got[id] && id != "1" {
				t.Fatalf("after kill %d: key of row %s missing", kills, id)
			}
		}
	}
	if out, err := transitOutput(bin, "feed", "rebuild", planPath, "--feed", "cust"); err != nil {
		t.Fatalf("final rebuild: %v\n%s", err, out)
	}
	sameRows(t, pgRows(t, url), redisRows(t, rdb, prefix))
	if n := pgScalar(t, url, `SELECT count(*) FROM pg_replication_slots WHERE database = current_database()`); n != "1" {
		t.Fatalf("%s slots after the rebuilds, want 1 (old ones dropped)", n)
	}
}

// transitOutput runs the transit binary like exec.Command(...).CombinedOutput
// but with a deadline: a child still running after 4 minutes gets SIGQUIT,
// so the failure shows where its goroutines stood instead of the whole
// package timing out with nothing to read.
func transitOutput(bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("still running after 4 minutes (SIGQUIT sent; its stacks are in the output): %w", err)
	}
	return out, err
}

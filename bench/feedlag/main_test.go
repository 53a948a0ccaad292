package main

import (
	"context"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/transitdb/transit/internal/testenv"
)

func config(t *testing.T) Config {
	t.Helper()
	addr := os.Getenv("TRANSIT_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	prefix := testenv.Unique("transit_t") + ":"
	t.Cleanup(func() {
		rc := goredis.NewClient(&goredis.Options{Addr: addr})
		defer rc.Close()
		ctx := context.Background()
		keys, _ := rc.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	return Config{
		PG: testenv.Postgres(t), Redis: addr, Table: "feedlag",
		Key: prefix + "{id}", Keys: 300, Rate: 2000, Batch: 50,
		Duration: time.Second, Timeout: 5 * time.Second, Pollers: 4,
	}
}

// TestDirect: every change written to Redis right after its commit is
// seen, with a small lag, and counted once.
func TestDirect(t *testing.T) {
	c := config(t)
	c.Direct = true
	ctx := context.Background()
	if err := Setup(ctx, c); err != nil {
		t.Fatal(err)
	}
	r, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Changes < 1000 || r.Seen != r.Changes || r.Unseen != 0 {
		t.Fatalf("result %+v", r)
	}
	if r.P50ms <= 0 || r.P99ms < r.P50ms || r.Maxms < r.P99ms || r.P99ms > 2000 {
		t.Fatalf("lags %+v", r)
	}
}

// TestNothingFeeds: without a feed no change becomes visible, and the
// tool says so instead of reporting a lag.
func TestNothingFeeds(t *testing.T) {
	c := config(t)
	c.Duration, c.Timeout = 200*time.Millisecond, 300*time.Millisecond
	ctx := context.Background()
	if err := Setup(ctx, c); err != nil {
		t.Fatal(err)
	}
	r, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seen != 0 || r.Unseen != r.Changes || r.Changes == 0 {
		t.Fatalf("result %+v", r)
	}
}

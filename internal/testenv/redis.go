package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisAddr is the Redis server tests use: TRANSIT_TEST_REDIS_ADDR, else
// 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("TRANSIT_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Redis returns a client on the test Redis server and a key prefix unique
// to the test ("transit_t_…:"); every key under the prefix is deleted when
// the test ends. A server that does not answer is Unavailable.
func Redis(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		Unavailable(t, "Redis", err)
	}
	prefix := Unique("transit_t") + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				return
			}
			if len(keys) > 0 {
				c.Unlink(ctx, keys...)
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return c, prefix
}

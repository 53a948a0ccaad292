package feedverify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/sinks/doc"
	"github.com/transitdb/transit/sinks/redis"
)

// redisTarget is a small doc.Target over sinks/redis.Writer for these
// tests (the feed engine's own Redis target lives in sinks/redis/target.go):
// generation gen's keys are "<base><gen>:<id>", the document's ID the key
// part after that prefix.
type redisTarget struct {
	c      *goredis.Client
	base   string
	format redis.Format
	w      map[string]*redis.Writer
}

func newRedisTarget(c *goredis.Client, base string, f redis.Format) *redisTarget {
	return &redisTarget{c: c, base: base, format: f, w: map[string]*redis.Writer{}}
}

func (r *redisTarget) prefix(gen string) string { return r.base + gen + ":" }

func (r *redisTarget) writer(gen string) (*redis.Writer, error) {
	if w, ok := r.w[gen]; ok {
		return w, nil
	}
	w, err := redis.New(r.c, redis.Options{KeyTemplate: r.prefix(gen) + "{_id}", Format: r.format})
	if err != nil {
		return nil, err
	}
	r.w[gen] = w
	return w, nil
}

func (r *redisTarget) Current(context.Context) (string, error)       { return "", nil }
func (r *redisTarget) Generations(context.Context) ([]string, error) { return nil, nil }
func (r *redisTarget) Create(context.Context, string) error          { return nil }
func (r *redisTarget) Ready(context.Context, string) error           { return nil }
func (r *redisTarget) Switch(context.Context, string) error          { return nil }
func (r *redisTarget) Drop(context.Context, string) error            { return errors.New("not in these tests") }
func (r *redisTarget) Close() error                                  { return nil }

// Write stores docs; the ID travels as the field "_id" the key template
// uses (stored too, and left out again by Scan).
func (r *redisTarget) Write(ctx context.Context, gen string, docs []doc.Doc) (doc.Result, error) {
	w, err := r.writer(gen)
	if err != nil {
		return doc.Result{}, err
	}
	recs := make([]redis.Record, len(docs))
	for i, d := range docs {
		f := make(map[string]any, len(d.Fields)+1)
		for k, v := range d.Fields {
			f[k] = v
		}
		f["_id"] = d.ID
		recs[i] = redis.Record{Fields: f, Version: d.Version, Delete: d.Delete}
	}
	res, err := w.Write(ctx, recs)
	return doc.Result{Written: res.Written, Skipped: res.Skipped, Rejects: res.Rejects}, err
}

func (r *redisTarget) Scan(ctx context.Context, gen string, fn func([]doc.Doc) error) error {
	w, err := r.writer(gen)
	if err != nil {
		return err
	}
	p := r.prefix(gen)
	return w.Scan(ctx, p, 100, func(es []redis.Entry) error {
		docs := make([]doc.Doc, 0, len(es))
		for _, e := range es {
			d := doc.Doc{ID: strings.TrimPrefix(e.Key, p), Version: e.Version, Fields: map[string]any{}}
			if e.JSON != nil {
				dec := json.NewDecoder(strings.NewReader(string(e.JSON)))
				dec.UseNumber()
				if err := dec.Decode(&d.Fields); err != nil {
					return err
				}
			} else {
				for k, v := range e.Fields {
					d.Fields[k] = v
				}
			}
			delete(d.Fields, "_id")
			docs = append(docs, d)
		}
		return fn(docs)
	})
}

// redisClient connects to the test Redis and removes the test's keys
// afterwards; base is a unique key prefix.
func redisClient(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	addr := os.Getenv("TRANSIT_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		testenv.Unavailable(t, "Redis", err)
	}
	base := testenv.Unique("transit_t") + ":"
	t.Cleanup(func() {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, base+"*", 1000).Result()
			if err != nil {
				break
			}
			if len(keys) > 0 {
				c.Del(ctx, keys...)
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		c.Close()
	})
	return c, base
}

// Command feedlag measures a feed's end-to-end lag in `make bench`: the
// time from a PostgreSQL commit to the committed value being visible in
// Redis, at a sustained rate of changes.
//
//	feedlag -setup -pg URL [-schema S] [-table T] [-keys N]
//	feedlag -pg URL [-schema S] -redis URL|ADDR [-key 'feedlag:{id}'] [-rate 10000] [-duration 30s] [-direct] [-json]
//
// -setup creates table S.T (id int primary key, seq bigint, note text) with
// N rows and exits: a feed (transit feed run) on T into Redis, format
// hash, key template -key, is then started by the caller. The run updates
// -batch rows per transaction, -rate changes per second in all, each
// giving its row a new seq; it notes when each COMMIT returned. Pollers
// read the rows' keys from Redis (field "seq", one HGET of a batch's last
// key until it shows, then the rest) and record, per change, the time from
// its commit to the first read that shows its seq or a later one, into an
// HdrHistogram (microseconds). The reads are 2 ms apart, so lags are
// rounded up by up to 2 ms. A change not visible within -timeout counts as
// unseen.
//
// -direct writes each committed batch to Redis itself (sinks/redis, the
// feed's writer) instead of waiting for a feed: it tests this tool and
// gives the floor of what the measurement adds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/transitdb/transit/sinks/redis"
)

// Config is one run.
type Config struct {
	PG, Redis  string // Redis: redis:// URL or host:port
	Schema     string
	Table, Key string // table and Redis key template ("{id}" is the row's id)
	Keys       int    // rows in the table
	Rate       int    // changes per second
	Batch      int    // changes per transaction
	Duration   time.Duration
	Timeout    time.Duration // a change unseen this long is given up
	Direct     bool
	Pollers    int
	Slow       time.Duration // print each batch seen later than this (0: none)
}

// Result is what a run measured.
type Result struct {
	Changes   int64   `json:"changes"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"rate"` // changes per second achieved
	Seen      int64   `json:"seen"`
	Unseen    int64   `json:"unseen"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Maxms     float64 `json:"max_ms"`
	Meanms    float64 `json:"mean_ms"`
	CommitP99 float64 `json:"commit_p99_ms"` // the writer's own commit time
}

func main() {
	var c Config
	setup := flag.Bool("setup", false, "create and fill the table, then exit")
	asJSON := flag.Bool("json", false, "print the result as one JSON object")
	flag.StringVar(&c.PG, "pg", "postgres://postgres@127.0.0.1:5432/transit_bench?sslmode=disable", "PostgreSQL URL")
	flag.StringVar(&c.Redis, "redis", "127.0.0.1:6379", "Redis URL (redis://…) or address")
	flag.StringVar(&c.Schema, "schema", "public", "schema of the table")
	flag.StringVar(&c.Table, "table", "feedlag", "table the changes go to")
	flag.StringVar(&c.Key, "key", "feedlag:{id}", "Redis key template of the feed")
	flag.IntVar(&c.Keys, "keys", 10000, "rows in the table")
	flag.IntVar(&c.Rate, "rate", 10000, "changes per second")
	flag.IntVar(&c.Batch, "batch", 100, "changes per transaction")
	flag.DurationVar(&c.Duration, "duration", 30*time.Second, "how long to write")
	flag.DurationVar(&c.Timeout, "timeout", 30*time.Second, "give up on a change unseen this long")
	flag.BoolVar(&c.Direct, "direct", false, "write to Redis here (no feed): tests the tool")
	flag.IntVar(&c.Pollers, "pollers", 8, "concurrent pollers")
	flag.DurationVar(&c.Slow, "slow", 0, "print to stderr each batch whose last change showed later than this after its commit (0: none)")
	flag.Parse()
	ctx := context.Background()
	if *setup {
		if err := Setup(ctx, c); err != nil {
			fmt.Fprintln(os.Stderr, "feedlag:", err)
			os.Exit(1)
		}
		return
	}
	r, err := Run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "feedlag:", err)
		os.Exit(1)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
	} else {
		fmt.Printf("changes %d in %.1fs (%.0f/s); lag p50 %.1f ms, p99 %.1f ms, max %.1f ms, mean %.1f ms; unseen %d; commit p99 %.1f ms\n",
			r.Changes, r.Seconds, r.Rate, r.P50ms, r.P99ms, r.Maxms, r.Meanms, r.Unseen, r.CommitP99)
	}
	if r.Unseen > 0 {
		os.Exit(1)
	}
}

// Setup creates the table with c.Keys rows (seq 0), replacing it.
func Setup(ctx context.Context, c Config) error {
	conn, err := pgx.Connect(ctx, c.PG)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	t := c.ident()
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{c.schema()}.Sanitize(),
		"DROP TABLE IF EXISTS " + t,
		"CREATE TABLE " + t + " (id int PRIMARY KEY, seq bigint NOT NULL, note text)",
		"INSERT INTO " + t + " SELECT i, 0, 'row ' || i FROM generate_series(1, " + strconv.Itoa(c.Keys) + ") i",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

func (c Config) schema() string {
	if c.Schema == "" {
		return "public"
	}
	return c.Schema
}

func (c Config) ident() string { return pgx.Identifier{c.schema(), c.Table}.Sanitize() }

// redisOptions reads -redis: a URL or a bare address.
func (c Config) redisOptions() (*goredis.Options, error) {
	if strings.Contains(c.Redis, "://") {
		return goredis.ParseURL(c.Redis)
	}
	return &goredis.Options{Addr: c.Redis}, nil
}

// batch is one committed transaction.
type batch struct {
	ids    []int32
	seqs   []int64
	commit time.Time
	polled time.Time // when a poller took it up
}

// Run writes for c.Duration and measures until every change was seen or
// given up.
func Run(ctx context.Context, c Config) (*Result, error) {
	if c.Batch <= 0 || c.Rate < c.Batch || c.Keys < c.Batch {
		return nil, errors.New("need rate >= batch > 0 and keys >= batch")
	}
	if c.Pollers <= 0 {
		c.Pollers = 8
	}
	pool, err := pgxpool.New(ctx, c.PG)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	ro, err := c.redisOptions()
	if err != nil {
		return nil, err
	}
	ro.PoolSize = c.Pollers + 4
	rc := goredis.NewClient(ro)
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	var w *redis.Writer
	if c.Direct {
		if w, err = redis.New(rc, redis.Options{KeyTemplate: c.Key}); err != nil {
			return nil, err
		}
	}
	key := func(id int32) string { return strings.ReplaceAll(c.Key, "{id}", strconv.Itoa(int(id))) }
	// seq starts above anything a previous run left in the table.
	var seq int64
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM "+c.ident()).Scan(&seq); err != nil {
		return nil, err
	}

	lag := hdrhistogram.New(1, int64(c.Timeout/time.Microsecond)+1, 3)
	commits := hdrhistogram.New(1, 60_000_000, 3)
	var mu sync.Mutex
	var unseen int64
	todo := make(chan batch, 100000)
	var wg sync.WaitGroup
	for range c.Pollers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range todo {
				b.polled = time.Now()
				got, missed, err := poll(ctx, rc, key, b, c.Timeout)
				if c.Slow > 0 && len(got) > 0 && slices.Max(got) > c.Slow {
					fmt.Fprintf(os.Stderr, "feedlag: slow batch committed %s, last change seen after %s (queued for a poller %s)\n",
						b.commit.UTC().Format("15:04:05.000"), slices.Max(got).Round(time.Millisecond), b.polled.Sub(b.commit).Round(time.Millisecond))
				}
				mu.Lock()
				for _, d := range got {
					_ = lag.RecordValue(max(1, d.Microseconds()))
				}
				unseen += int64(missed)
				mu.Unlock()
				if err != nil {
					fmt.Fprintln(os.Stderr, "feedlag: poll:", err)
				}
			}
		}()
	}

	update := "UPDATE " + c.ident() + " t SET seq = v.seq FROM unnest($1::int[], $2::bigint[]) v(id, seq) WHERE t.id = v.id"
	every := time.Duration(float64(time.Second) * float64(c.Batch) / float64(c.Rate))
	start := time.Now()
	next := start
	var changes int64
	nextID := int32(1)
	var werr error
	for time.Since(start) < c.Duration {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(every)
		b := batch{ids: make([]int32, c.Batch), seqs: make([]int64, c.Batch)}
		for i := range b.ids {
			seq++
			b.ids[i], b.seqs[i] = nextID, seq
			if nextID++; int(nextID) > c.Keys {
				nextID = 1
			}
		}
		t0 := time.Now()
		if _, err := pool.Exec(ctx, update, b.ids, b.seqs); err != nil {
			werr = fmt.Errorf("update: %w", err)
			break
		}
		b.commit = time.Now()
		_ = commits.RecordValue(max(1, b.commit.Sub(t0).Microseconds()))
		changes += int64(c.Batch)
		if w != nil {
			recs := make([]redis.Record, len(b.ids))
			for i := range b.ids {
				recs[i] = redis.Record{Fields: map[string]any{"id": int64(b.ids[i]), "seq": b.seqs[i]}, Version: uint64(b.seqs[i])}
			}
			if _, err := w.Write(ctx, recs); err != nil {
				werr = fmt.Errorf("direct write: %w", err)
				break
			}
		}
		todo <- b
	}
	secs := time.Since(start).Seconds()
	close(todo)
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &Result{
		Changes: changes, Seconds: secs, Rate: float64(changes) / secs,
		Seen: lag.TotalCount(), Unseen: unseen,
		P50ms: ms(lag.ValueAtQuantile(50)), P99ms: ms(lag.ValueAtQuantile(99)),
		Maxms: ms(lag.Max()), Meanms: lag.Mean() / 1000,
		CommitP99: ms(commits.ValueAtQuantile(99)),
	}, nil
}

// poll reads b's keys until each shows its seq (or a later one), giving
// the lag of each change, or until timeout.
func poll(ctx context.Context, rc *goredis.Client, key func(int32) string, b batch, timeout time.Duration) (lags []time.Duration, missed int, err error) {
	pending := make([]int, len(b.ids))
	for i := range pending {
		pending[i] = i
	}
	deadline := b.commit.Add(timeout)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			i := pending[0]
			v, _ := rc.HGet(ctx, key(b.ids[i]), "seq").Result()
			fmt.Fprintf(os.Stderr, "feedlag: %d changes of the batch committed %s unseen; the first: %s seq %d, Redis has %q\n",
				len(pending), b.commit.UTC().Format("15:04:05.000"), key(b.ids[i]), b.seqs[i], v)
			return lags, len(pending), nil
		}
		// The last key first: until it shows, reading the others is waste.
		last := pending[len(pending)-1]
		t0 := time.Now()
		v, err := rc.HGet(ctx, key(b.ids[last]), "seq").Result()
		if d := time.Since(t0); d > 200*time.Millisecond {
			fmt.Fprintf(os.Stderr, "feedlag: one HGET took %s (at %s)\n", d.Round(time.Millisecond), t0.UTC().Format("15:04:05.000"))
		}
		if err != nil && err != goredis.Nil {
			return lags, len(pending), err
		}
		if n, _ := strconv.ParseInt(v, 10, 64); n < b.seqs[last] {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		pipe := rc.Pipeline()
		cmds := make([]*goredis.StringCmd, len(pending))
		for j, i := range pending {
			cmds[j] = pipe.HGet(ctx, key(b.ids[i]), "seq")
		}
		t0 = time.Now()
		_, err = pipe.Exec(ctx)
		if d := time.Since(t0); d > 200*time.Millisecond {
			fmt.Fprintf(os.Stderr, "feedlag: one pipeline of %d HGETs took %s (at %s)\n", len(pending), d.Round(time.Millisecond), t0.UTC().Format("15:04:05.000"))
		}
		if err != nil && err != goredis.Nil {
			return lags, len(pending), err
		}
		now := time.Now()
		rest := pending[:0]
		for j, i := range pending {
			if n, _ := strconv.ParseInt(cmds[j].Val(), 10, 64); n >= b.seqs[i] {
				lags = append(lags, now.Sub(b.commit))
			} else {
				rest = append(rest, i)
			}
		}
		pending = rest
		if len(pending) > 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return lags, 0, nil
}

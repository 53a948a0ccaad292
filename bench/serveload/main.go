// Command serveload is the load generator of `make bench` section serve:
// it runs in its own process, beside `transit serve`, and measures with
// HdrHistogram (microseconds).
//
//	serveload -mode hit  -url URL -pg PGURL -table shop.orders -ids 1:100000
//	    1. closed loop: -conns workers send GET URL/v1/{entity}/{id} as fast
//	       as answers come, for -duration: the req/s reached;
//	    2. paced at -rate req/s in total: the same reads direct with pgx
//	       (SELECT * … WHERE id = $1, one pool of -conns connections), then
//	       through the server, each for -duration in all, alternating in
//	       -slices slices, latency measured from the time each request
//	       was due (no coordinated omission).
//	serveload -mode port -url URL -pg PGURL -mysql DSN -table shop.orders -old-table orders -ids 1:2000
//	    sequential reads of IDs missing in the new store (fallback and
//	    port), then as baselines one old read by ID (database/sql on
//	    MariaDB) and one new single-row version-guarded upsert (pgx), each
//	    over the same number of IDs.
//
// It prints one JSON object per measurement on stdout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sys/unix"
)

type config struct {
	mode, client, pacer, url, entity, token, pg, table, mysql, oldTable string
	lo, hi                                                              int
	conns, rate, slices                                                 int
	duration                                                            time.Duration
	only                                                                string
}

func main() {
	var c config
	var ids string
	flag.StringVar(&c.mode, "mode", "hit", "hit | port")
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the server")
	flag.StringVar(&c.entity, "entity", "orders", "entity")
	flag.StringVar(&c.pg, "pg", "", "PostgreSQL URL of the new store (direct reads)")
	flag.StringVar(&c.table, "table", "shop.orders", "schema.table of the entity in the new store")
	flag.StringVar(&c.mysql, "mysql", "", "go-sql-driver DSN of the old store (mode port)")
	flag.StringVar(&c.oldTable, "old-table", "orders", "table of the entity in the old store (mode port)")
	flag.StringVar(&ids, "ids", "1:100000", "lo:hi, the IDs to read")
	flag.IntVar(&c.conns, "conns", 16, "concurrent workers (and connections)")
	flag.IntVar(&c.rate, "rate", 5000, "paced rate, requests per second in total")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measurement")
	flag.StringVar(&c.client, "client", "raw", "the HTTP client, raw (minimal, one goroutine, as wrk) or nethttp (net/http)")
	flag.StringVar(&c.pacer, "pacer", "precise", "mode hit, paced: how workers wait for a request's due time, precise (a timerfd in the netpoller) or sleep (time.Sleep, late by up to 1 ms)")
	flag.IntVar(&c.slices, "slices", 10, "mode hit: the paced direct and server measurements alternate in this many slices")
	flag.StringVar(&c.only, "only", "", "mode hit, for profiling: only the closed loop through the server (closed), or only the paced load through the server (paced-server) or direct (paced-direct)")
	flag.Parse()
	c.token = os.Getenv("TRANSIT_SERVE_TOKEN")
	lo, hi, ok := strings.Cut(ids, ":")
	c.lo, _ = strconv.Atoi(lo)
	c.hi, _ = strconv.Atoi(hi)
	if !ok || c.lo <= 0 || c.hi < c.lo {
		fail(fmt.Errorf("-ids %q: want lo:hi", ids))
	}
	switch c.only {
	case "", "closed", "paced-server", "paced-direct":
	default:
		fail(fmt.Errorf("-only %q: want closed, paced-server or paced-direct", c.only))
	}
	if c.pacer != "precise" && c.pacer != "sleep" {
		fail(fmt.Errorf("-pacer %q: want precise or sleep", c.pacer))
	}
	if c.client != "raw" && c.client != "nethttp" {
		fail(fmt.Errorf("-client %q: want raw or nethttp", c.client))
	}
	var err error
	switch c.mode {
	case "hit":
		err = hit(c)
	case "port":
		err = portPath(c)
	default:
		err = fmt.Errorf("-mode %q: want hit or port", c.mode)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "serveload:", err)
	os.Exit(1)
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

func report(name string, h *hdrhistogram.Histogram, took time.Duration, errs int64, extra map[string]any) {
	out := map[string]any{
		"measure": name, "requests": h.TotalCount(), "errors": errs,
		"seconds": took.Seconds(), "per_sec": float64(h.TotalCount()) / took.Seconds(),
		"p50_us": h.ValueAtQuantile(50), "p90_us": h.ValueAtQuantile(90), "p99_us": h.ValueAtQuantile(99), "max_us": h.Max(),
	}
	for k, v := range extra {
		out[k] = v
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

// reader is one way to read a record by ID.
type reader func(ctx context.Context, id int) error

func httpReader(c config) reader {
	tr := &http.Transport{MaxIdleConns: c.conns * 2, MaxIdleConnsPerHost: c.conns * 2, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := strings.TrimRight(c.url, "/") + "/v1/" + c.entity + "/"
	return func(ctx context.Context, id int) error {
		req, err := http.NewRequestWithContext(ctx, "GET", base+strconv.Itoa(id), nil)
		if err != nil {
			return err
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("id %d: HTTP %d", id, resp.StatusCode)
		}
		return nil
	}
}

// serverReader reads through the server with the client -client names.
func serverReader(c config) (reader, func()) {
	if c.client == "nethttp" {
		return httpReader(c), func() {}
	}
	return rawReader(c)
}

// rawReader reads through the server with a minimal HTTP/1.1 client, as
// wrk does: one keep-alive connection per worker, the request written as
// bytes, the answer read by its Content-Length, all in the caller's
// goroutine. net/http's client hands every request to a connection's write
// and read goroutines and back (about 75 µs of client CPU per request
// here), which a paced p99 on 2 shared cores counts against the server;
// pgx, the direct path's client, does none of that. -client nethttp keeps
// net/http.
func rawReader(c config) (reader, func()) {
	u, err := url.Parse(c.url)
	if err != nil {
		fail(err)
	}
	auth := ""
	if c.token != "" {
		auth = "Authorization: Bearer " + c.token + "\r\n"
	}
	prefix := "GET " + strings.TrimRight(u.Path, "/") + "/v1/" + c.entity + "/"
	suffix := " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + auth + "\r\n"
	type conn struct {
		nc  net.Conn
		br  *bufio.Reader
		buf []byte
	}
	pool := make(chan *conn, c.conns*2)
	var all []*conn
	var mu sync.Mutex
	get := func() (*conn, error) {
		select {
		case cn := <-pool:
			return cn, nil
		default:
		}
		nc, err := net.Dial("tcp", u.Host)
		if err != nil {
			return nil, err
		}
		cn := &conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
		mu.Lock()
		all = append(all, cn)
		mu.Unlock()
		return cn, nil
	}
	read := func(ctx context.Context, id int) error {
		cn, err := get()
		if err != nil {
			return err
		}
		cn.buf = append(strconv.AppendInt(append(cn.buf[:0], prefix...), int64(id), 10), suffix...)
		// The caller's context is not watched: a request running at the
		// closed loop's end finishes (about a millisecond late) rather
		// than failing as an error the loop would count.
		_ = cn.nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := cn.nc.Write(cn.buf); err != nil {
			cn.nc.Close()
			return err
		}
		code, err := readResponse(cn.br)
		if err != nil {
			cn.nc.Close()
			return err
		}
		pool <- cn
		if code != 200 {
			return fmt.Errorf("id %d: HTTP %d", id, code)
		}
		return nil
	}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, cn := range all {
			cn.nc.Close()
		}
	}
	return read, closeAll
}

// readResponse reads one HTTP/1.1 response with a Content-Length (what
// transit serve sends) and returns its status code.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if name, val, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(val))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", val)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length")
	}
	if _, err := br.Discard(length); err != nil {
		return 0, err
	}
	return code, nil
}

func pgReader(pool *pgxpool.Pool, table string) reader {
	q := "SELECT * FROM " + table + " WHERE id = $1"
	return func(ctx context.Context, id int) error {
		rows, err := pool.Query(ctx, q, id)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				rows.Close()
				return err
			}
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("id %d: %d rows", id, n)
		}
		return nil
	}
}

// closedLoop runs conns workers reading random IDs back to back.
func closedLoop(c config, read reader) (*hdrhistogram.Histogram, time.Duration, int64) {
	h := newHist()
	var mu sync.Mutex
	var errs atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c.conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := newHist()
			for ctx.Err() == nil {
				id := c.lo + rand.IntN(c.hi-c.lo+1)
				t0 := time.Now()
				if err := read(ctx, id); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_ = local.RecordValue(time.Since(t0).Microseconds())
			}
			mu.Lock()
			h.Merge(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return h, time.Since(start), errs.Load()
}

// paced sends rate requests per second in total from conns workers, each
// on its own schedule; latency counts from the time a request was due.
func paced(c config, read reader) (*hdrhistogram.Histogram, time.Duration, int64) {
	h := newHist()
	var mu sync.Mutex
	var errs atomic.Int64
	interval := time.Duration(float64(time.Second) * float64(c.conns) / float64(c.rate))
	start := time.Now()
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for w := 0; w < c.conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := newHist()
			wait, release := sleeper(c.pacer)
			defer release()
			due := start.Add(time.Duration(w) * interval / time.Duration(c.conns))
			for due.Before(end) {
				if d := time.Until(due); d > 0 {
					wait(d)
				}
				id := c.lo + rand.IntN(c.hi-c.lo+1)
				if err := read(context.Background(), id); err != nil {
					errs.Add(1)
				} else {
					_ = local.RecordValue(max(1, time.Since(due).Microseconds()))
				}
				due = due.Add(interval)
			}
			mu.Lock()
			h.Merge(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return h, time.Since(start), errs.Load()
}

// sleeper returns how a paced worker waits until its next request is due,
// and a function that releases what it holds.
//
// time.Sleep is late by up to a millisecond when the process is idle: the
// Go runtime then waits for its next timer in epoll_wait, whose timeout is
// in whole milliseconds. A no-op reader paced at 5,000/s from 16 workers
// measured 544 µs p50 and 1,091 µs p99 of that lateness alone, and the
// latency of both paths counts from the time a request was due, so a
// millisecond that is neither pgx's nor the server's filled most of
// either p99 (and more of it when the process happened to be idler).
// "precise" (the default) arms a timerfd(2), a high-resolution kernel
// timer whose descriptor sits in the runtime's netpoller like a socket:
// the goroutine parks as on any read and wakes when the timer fires,
// 33 µs p50 and 167 µs p99 late, with no thread of its own and no CPU
// spent spinning. (Workers locked to their own threads sleeping in
// nanosleep(2) were as precise alone, but with pgx and the HTTP client
// the hand-overs between locked threads and the runtime's two Ps put
// milliseconds into both p99s.) "sleep" keeps time.Sleep.
func sleeper(pacer string) (func(time.Duration), func()) {
	if pacer != "precise" {
		return time.Sleep, func() {}
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		fail(fmt.Errorf("timerfd_create: %w", err))
	}
	// os.NewFile of a non-blocking descriptor registers it with the
	// netpoller. (f.Fd() would set it blocking again, so fd is kept.)
	f := os.NewFile(uintptr(fd), "timerfd")
	buf := make([]byte, 8)
	return func(d time.Duration) {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
			fail(fmt.Errorf("timerfd_settime: %w", err))
		}
		if _, err := f.Read(buf); err != nil {
			fail(fmt.Errorf("timerfd read: %w", err))
		}
	}, func() { f.Close() }
}

func hit(c config) error {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(c.pg)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(c.conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	viaServer, closeAll := serverReader(c)
	defer closeAll()
	direct := pgReader(pool, c.table)
	// Warm both paths (connections, plans, caches).
	warm := c
	warm.duration = time.Second
	if c.only == "" || c.only == "paced-direct" {
		closedLoop(warm, direct)
	}
	if c.only != "paced-direct" {
		closedLoop(warm, viaServer)
	}
	switch c.only {
	case "paced-server":
		h, took, errs := paced(c, viaServer)
		report("serve_paced", h, took, errs, map[string]any{"rate": c.rate})
		return nil
	case "paced-direct":
		h, took, errs := paced(c, direct)
		report("direct_pgx_paced", h, took, errs, map[string]any{"rate": c.rate})
		return nil
	}
	h, took, errs := closedLoop(c, viaServer)
	report("serve_closed_loop", h, took, errs, map[string]any{"conns": c.conns})
	if c.only == "closed" {
		return nil
	}
	// The two paced measurements alternate in -slices slices of
	// duration/slices each (direct, server, direct, …): on a shared
	// machine a burst of outside load then falls on both rather than on
	// whichever happened to run at the time, which swung the p99 ratio
	// between 0.9 and 11 in back-to-back runs of 10 s each.
	hd, hs := newHist(), newHist()
	var tookD, tookS time.Duration
	var errsD, errsS int64
	slice := c
	slice.duration = c.duration / time.Duration(max(1, c.slices))
	var ratios []float64
	var maxD, maxS []int64
	for range max(1, c.slices) {
		h, took, errs := paced(slice, direct)
		hd.Merge(h)
		tookD += took
		errsD += errs
		h2, took, errs := paced(slice, viaServer)
		hs.Merge(h2)
		tookS += took
		errsS += errs
		ratios = append(ratios, float64(h2.ValueAtQuantile(99))/float64(max(1, h.ValueAtQuantile(99))))
		maxD, maxS = append(maxD, h.Max()), append(maxS, h2.Max())
	}
	report("direct_pgx_paced", hd, tookD, errsD, map[string]any{"rate": c.rate, "slices": c.slices, "slice_max_us": maxD})
	report("serve_paced", hs, tookS, errsS, map[string]any{"rate": c.rate, "slices": c.slices,
		"p99_ratio":       float64(hs.ValueAtQuantile(99)) / float64(max(1, hd.ValueAtQuantile(99))),
		"slice_p99_ratio": ratios, "slice_p99_ratio_median": median(ratios), "slice_max_us": maxS})
	return nil
}

// median returns the middle of xs (the mean of the two middles for an
// even count); xs is left as it is.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Sorted(slices.Values(xs))
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

func portPath(c config) error {
	ctx := context.Background()
	viaServer, closeAll := serverReader(c)
	defer closeAll()
	// The fallback-and-port path: every ID is missing in the new store.
	h := newHist()
	var errs int64
	start := time.Now()
	for id := c.lo; id <= c.hi; id++ {
		t0 := time.Now()
		if err := viaServer(ctx, id); err != nil {
			errs++
			continue
		}
		_ = h.RecordValue(time.Since(t0).Microseconds())
	}
	report("serve_fallback_port", h, time.Since(start), errs, nil)

	// Baselines over the same IDs: one old read by ID, one new upsert.
	db, err := sql.Open("mysql", c.mysql)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, c.pg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	ho, hw := newHist(), newHist()
	q := "SELECT * FROM " + c.oldTable + " WHERE id = ?"
	up := "INSERT INTO " + c.table + " AS t (id, customer, amount, status, note, updated_at) VALUES ($1, $2, $3, $4, $5, $6) " +
		"ON CONFLICT (id) DO UPDATE SET customer = EXCLUDED.customer, amount = EXCLUDED.amount, status = EXCLUDED.status, " +
		"note = EXCLUDED.note, updated_at = EXCLUDED.updated_at WHERE t.updated_at <= EXCLUDED.updated_at"
	start = time.Now()
	for id := c.lo; id <= c.hi; id++ {
		t0 := time.Now()
		rows, err := db.QueryContext(ctx, q, id)
		if err != nil {
			return err
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		_ = ho.RecordValue(time.Since(t0).Microseconds())
		t1 := time.Now()
		if _, err := conn.Exec(ctx, up, id, "baseline", "1.00", "new", nil, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			return err
		}
		_ = hw.RecordValue(time.Since(t1).Microseconds())
	}
	took := time.Since(start)
	report("old_read", ho, took, 0, nil)
	report("new_upsert", hw, took, 0, map[string]any{
		"budget_p50_us": ho.ValueAtQuantile(50) + hw.ValueAtQuantile(50) + 1000,
		"port_p50_us":   h.ValueAtQuantile(50),
	})
	return nil
}

// Command redisceiling measures Redis's own ceiling for the feeds section
// of `make bench` (scripts/bench.sh): the rows of a PostgreSQL table
// written into Redis as plain pipelined HSETs — one hash per row, the
// same fields the feed stores plus a constant "_v", no version check, no
// Lua, no DEL — so the rebuild's rows/s (`transit feed rebuild`, which
// reads the same table) reads against what this Redis can take at all.
//
//	redisceiling -pg URL -table schema.table -redis URL [-key 'feedceil:'] [-batch 1000] [-conns 2] [-json]
//
// The rows are read with one COPY … TO STDOUT (text format; NULL leaves
// the field out, as the feed does) and handed to -conns writers, each
// sending pipelines of -batch HSETs; the key is -key followed by the first
// column. The clock runs from the COPY to the last reply. The caller
// deletes the -key keys before (so every HSET makes a new key, as in an
// initial build) and after.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// Result is what one run measured.
type Result struct {
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"` // rows per second
}

func main() {
	pgURL := flag.String("pg", "", "PostgreSQL URL")
	table := flag.String("table", "", "schema.table to read")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	prefix := flag.String("key", "feedceil:", "key prefix (the first column follows)")
	asJSON := flag.Bool("json", false, "print the result as one JSON object")
	flag.Parse()
	if *pgURL == "" || *table == "" {
		fmt.Fprintln(os.Stderr, "redisceiling: -pg and -table are needed")
		os.Exit(2)
	}
	res, err := run(context.Background(), *pgURL, *table, *redisURL, *prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisceiling:", err)
		os.Exit(1)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%d rows in %.2f s: %.0f rows/s\n", res.Rows, res.Seconds, res.Rate)
}

func run(ctx context.Context, pgURL, table, redisURL, prefix string) (Result, error) {
	ro, err := goredis.ParseURL(redisURL)
	if err != nil {
		return Result{}, err
	}
	// One plain connection speaking RESP, as redis-cli --pipe does: the
	// cheapest client there is, so the figure is Redis's, not a client's.
	conn, err := net.Dial("tcp", ro.Addr)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, 1<<16)
	r := bufio.NewReaderSize(conn, 1<<16)
	var buf []byte
	cmd := func(args ...string) {
		buf = append(buf[:0], '*')
		buf = strconv.AppendInt(buf, int64(len(args)), 10)
		buf = append(buf, "\r\n"...)
		for _, a := range args {
			buf = append(buf, '$')
			buf = strconv.AppendInt(buf, int64(len(a)), 10)
			buf = append(buf, "\r\n"...)
			buf = append(buf, a...)
			buf = append(buf, "\r\n"...)
		}
		_, _ = w.Write(buf)
	}
	if ro.Password != "" {
		if ro.Username != "" {
			cmd("AUTH", ro.Username, ro.Password)
		} else {
			cmd("AUTH", ro.Password)
		}
	}
	cmd("SELECT", strconv.Itoa(ro.DB))

	pg, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return Result{}, err
	}
	defer pg.Close(ctx)
	from := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	rows, err := pg.Query(ctx, "SELECT * FROM "+from+" LIMIT 0")
	if err != nil {
		return Result{}, err
	}
	var cols []string
	for _, fd := range rows.FieldDescriptions() {
		cols = append(cols, fd.Name)
	}
	rows.Close()

	t0 := time.Now()
	// The replies, read while the commands go out, up to the ECHO sent
	// after the last HSET.
	var n atomic.Int64
	done := make(chan error, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				done <- err
				return
			}
			if strings.HasPrefix(line, "-") {
				done <- fmt.Errorf("redis: %s", strings.TrimSpace(line))
				return
			}
			if line == "redisceiling-end\r\n" {
				done <- nil
				return
			}
		}
	}()
	pr, pw := io.Pipe()
	go func() {
		_, err := pg.PgConn().CopyTo(ctx, pw, "COPY (SELECT * FROM "+from+") TO STDOUT")
		pw.CloseWithError(err)
	}()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	args := make([]string, 0, 4+2*len(cols))
	for sc.Scan() {
		vals := strings.Split(sc.Text(), "\t")
		args = append(args[:0], "HSET", prefix+vals[0], "_v", "00000000000000000001")
		for i, v := range vals {
			if v != `\N` && i < len(cols) {
				args = append(args, cols[i], unescape(v))
			}
		}
		cmd(args...)
		n.Add(1)
	}
	if err := sc.Err(); err != nil {
		return Result{}, err
	}
	cmd("ECHO", "redisceiling-end")
	if err := w.Flush(); err != nil {
		return Result{}, err
	}
	if err := <-done; err != nil {
		return Result{}, err
	}
	s := time.Since(t0).Seconds()
	return Result{Rows: n.Load(), Seconds: s, Rate: float64(n.Load()) / s}, nil
}

// unescape undoes COPY's text-format escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

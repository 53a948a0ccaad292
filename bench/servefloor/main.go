// Command servefloor is the least a read-through HTTP server can do, for
// `make bench` section serve: net/http, one pgx pool, a bearer token
// check, SELECT * … WHERE id = $1 per request, the row as JSON. No phases,
// no fallback, no coalescing, no metrics. Loaded by bench/serveload as
// transit serve is, it shows what the hop through any such server costs
// against a direct pgx read on the same machine: the floor under transit
// serve's hit path.
//
//	servefloor -addr 127.0.0.1:18090 -pg URL -table shop.orders -entity orders [-conns 16]
//
// The token is TRANSIT_SERVE_TOKEN, as for transit serve.
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	pg := flag.String("pg", "", "PostgreSQL URL")
	table := flag.String("table", "shop.orders", "schema.table, read by id")
	entity := flag.String("entity", "orders", "the entity in the path: /v1/{entity}/{id}")
	conns := flag.Int("conns", 16, "pool size")
	flag.Parse()
	cfg, err := pgxpool.ParseConfig(*pg)
	if err != nil {
		fail(err)
	}
	cfg.MaxConns = int32(*conns)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		fail(err)
	}
	defer pool.Close()
	want := []byte("Bearer " + os.Getenv("TRANSIT_SERVE_TOKEN"))
	prefix := "/v1/" + *entity + "/"
	q := "SELECT * FROM " + *table + " WHERE id = $1"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, prefix), 10, 64)
		if err != nil || !strings.HasPrefix(r.URL.Path, prefix) {
			http.NotFound(w, r)
			return
		}
		rows, err := pool.Query(r.Context(), q, id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			http.NotFound(w, r)
			return
		}
		vals, err := rows.Values()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rec := make(map[string]any, len(vals))
		for i, f := range rows.FieldDescriptions() {
			rec[f.Name] = vals[i]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec)
	})
	if err := http.ListenAndServe(*addr, h); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "servefloor:", err)
	os.Exit(2)
}

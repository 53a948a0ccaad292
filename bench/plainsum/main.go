// Command plainsum is verify's ceiling in `make bench`: the plain checksum
// people script by hand, per table, on both servers at once.
//
//	plainsum -mysql URL -pg URL [-schema S] [-parallel N] TABLE...
//
// Per table, MariaDB runs
//
//	SELECT COUNT(*), SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('#', cols…)),1,15),16,10) AS UNSIGNED))
//
// and PostgreSQL
//
//	SELECT count(*), sum(('x'||substr(md5(concat_ws('#', cols…)),1,15))::bit(60)::bigint)
//
// both at once; up to N tables (default 2, verify's Options.Parallel) are in
// flight on each server, as verify hashes chunks. It prints one line per
// table (rows and sum of each side, equal or not: the plain checksum skips
// NULLs and uses each server's own text, so unequal sums are a note, not a
// failure) and then the wall time of the whole in seconds.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/transitdb/transit/sources/mysql"
	"github.com/transitdb/transit/verify"
)

type result struct{ count, sum string }

func main() {
	myURL := flag.String("mysql", "", "source database URL (mysql://)")
	pgURL := flag.String("pg", "", "target database URL (postgres://)")
	schema := flag.String("schema", "employees", "target schema")
	parallel := flag.Int("parallel", 2, "tables in flight on each server")
	flag.Parse()
	if *myURL == "" || *pgURL == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: plainsum -mysql URL -pg URL [-schema S] [-parallel N] TABLE...")
		os.Exit(2)
	}
	if err := run(context.Background(), *myURL, *pgURL, *schema, *parallel, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "plainsum:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, myURL, pgURL, schema string, parallel int, tables []string) error {
	my, err := mysql.Open(ctx, myURL)
	if err != nil {
		return err
	}
	defer my.Close()
	pg, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return err
	}
	defer pg.Close()
	myQ, pgQ := make([]string, len(tables)), make([]string, len(tables))
	for i, t := range tables {
		d, err := my.Describe(ctx, t)
		if err != nil {
			return err
		}
		var mc, pc []string
		for _, c := range d.Columns {
			mc = append(mc, verify.QuoteIdent(verify.MySQL, c.Name))
			pc = append(pc, verify.QuoteIdent(verify.Postgres, c.Name))
		}
		myQ[i] = "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('#', " + strings.Join(mc, ", ") +
			")), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM " + verify.QuoteIdent(verify.MySQL, t)
		pgQ[i] = "SELECT count(*)::text, coalesce(sum(('x' || substr(md5(concat_ws('#', " + strings.Join(pc, ", ") +
			")), 1, 15))::bit(60)::bigint), 0)::text FROM " + verify.QuoteIdent(verify.Postgres, schema) + "." +
			verify.QuoteIdent(verify.Postgres, t)
	}
	res := [2][]result{make([]result, len(tables)), make([]result, len(tables))}
	start := time.Now()
	var g errgroup.Group
	for side := range 2 {
		g.Go(func() error {
			var tg errgroup.Group
			tg.SetLimit(max(parallel, 1))
			for i := range tables {
				tg.Go(func() error {
					r := &res[side][i]
					if side == 0 {
						if err := my.DB().QueryRowContext(ctx, myQ[i]).Scan(&r.count, &r.sum); err != nil {
							return fmt.Errorf("mysql %s: %w", tables[i], err)
						}
						return nil
					}
					if err := pg.QueryRow(ctx, pgQ[i]).Scan(&r.count, &r.sum); err != nil {
						return fmt.Errorf("postgres %s: %w", tables[i], err)
					}
					return nil
				})
			}
			return tg.Wait()
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	wall := time.Since(start)
	for i, t := range tables {
		a, b := res[0][i], res[1][i]
		mark := "equal"
		if a != b {
			mark = "differ"
		}
		fmt.Printf("%-14s %10s rows %20s / %10s rows %20s  %s\n", t, a.count, a.sum, b.count, b.sum, mark)
	}
	fmt.Printf("wall %.2f\n", wall.Seconds())
	return nil
}

// Command ceiling makes the ceilings of the verify and audit sections of
// `make bench` (scripts/bench.sh):
//
//	ceiling verify-sql -mysql URL -pg URL -schema S -out DIR TABLE...
//	    writes DIR/verify-ceiling-mysql.sql and DIR/verify-ceiling-pg.sql:
//	    per table, one order-free whole-table checksum query: verify's own
//	    chunk-hash query (verify.ChunkHashSQL on the columns sources/mysql
//	    and sources/postgres describe) with one chunk, WHERE TRUE. Each
//	    query returns one line: table, count, sum.
//	ceiling verify-check MYSQL_OUT PG_OUT
//	    compares the two outputs table by table (counts, sums modulo 2^64,
//	    as verify compares chunk hashes); exit 1 when they differ.
//	ceiling verify-json [-changed TABLE -key JSON -column C] FILE
//	    checks transit verify's --output json: every entity complete and
//	    consistent, or, with -changed, exactly one difference: the row of
//	    TABLE whose key is JSON (e.g. [10001,"1990-01-01"]), changed in
//	    column C; prints the counters of the entities.
//	ceiling scan -mysql URL -table T[,T...] [-batch N]
//	    one plain full scan of each T through sources/mysql, in key order, every
//	    column, N rows a batch (audit's default 5000), rows discarded:
//	    the driver path transit audit reads through, without the profile.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/mysql"
	"github.com/transitdb/transit/sources/postgres"
	"github.com/transitdb/transit/verify"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "verify-sql":
		err = verifySQL(os.Args[2:])
	case "verify-check":
		err = verifyCheck(os.Args[2:])
	case "verify-json":
		err = verifyJSON(os.Args[2:])
	case "scan":
		err = scan(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		var d *differ
		if errors.As(err, &d) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ceiling verify-sql -mysql URL -pg URL -schema S -out DIR TABLE...\n"+
		"       ceiling verify-check MYSQL_OUT PG_OUT\n"+
		"       ceiling verify-json [-changed TABLE -key JSON -column C] FILE\n"+
		"       ceiling scan -mysql URL -table T[,T...] [-batch N]")
	os.Exit(2)
}

// tableQuery is verify's chunk-hash query for one chunk covering the whole
// table (verify.TableHashSQL, WHERE TRUE), with the table name as the first
// column.
func tableQuery(ctx context.Context, p *verify.SQLPushdown, table string, cols []record.Column, key []string) (string, error) {
	q, err := verify.TableHashSQL(ctx, p, table, cols, key)
	if err != nil {
		return "", err
	}
	name := "'" + strings.ReplaceAll(table, "'", "''") + "'"
	return "SELECT " + name + ", " + strings.TrimPrefix(q, "SELECT ") + ";", nil
}

func verifySQL(args []string) error {
	fs := flag.NewFlagSet("verify-sql", flag.ExitOnError)
	myURL := fs.String("mysql", "", "source database URL (mysql://)")
	pgURL := fs.String("pg", "", "target database URL (postgres://)")
	schema := fs.String("schema", "employees", "target schema")
	out := fs.String("out", ".", "directory for the two SQL files")
	_ = fs.Parse(args)
	tables := fs.Args()
	if *myURL == "" || *pgURL == "" || len(tables) == 0 {
		usage()
	}
	ctx := context.Background()
	my, err := mysql.Open(ctx, *myURL)
	if err != nil {
		return err
	}
	defer my.Close()
	pg, err := postgres.Open(ctx, *pgURL, *schema)
	if err != nil {
		return err
	}
	defer pg.Close()
	// verify sets the session time zone to UTC on every MySQL connection.
	mySQL := []string{"SET time_zone = '+00:00';"}
	var pgSQL []string
	for _, t := range tables {
		old, err := my.Describe(ctx, t)
		if err != nil {
			return err
		}
		nt, err := pg.Describe(ctx, t)
		if err != nil {
			return err
		}
		// The plan keeps names: the new side's columns are the old
		// side's names, each with the target's own type.
		var nc []record.Column
		for _, c := range old.Columns {
			x := nt.Column(c.Name)
			if x == nil {
				return fmt.Errorf("postgres %s.%s: no column %s", *schema, t, c.Name)
			}
			nc = append(nc, *x)
		}
		q, err := tableQuery(ctx, &verify.SQLPushdown{Dialect: verify.MySQL, DB: my.DB()}, t, old.Columns, old.Key)
		if err != nil {
			return err
		}
		mySQL = append(mySQL, q)
		if q, err = tableQuery(ctx, &verify.SQLPushdown{Dialect: verify.Postgres, Pool: pg.Pool(), Schema: *schema}, t, nc, nt.Key); err != nil {
			return err
		}
		pgSQL = append(pgSQL, q)
	}
	if err := os.WriteFile(filepath.Join(*out, "verify-ceiling-mysql.sql"), []byte(strings.Join(mySQL, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "verify-ceiling-pg.sql"), []byte(strings.Join(pgSQL, "\n")+"\n"), 0o644)
}

type differ struct{ msg string }

func (d *differ) Error() string { return d.msg }

type sums struct {
	order []string
	count map[string]string
	sum   map[string]uint64
}

// readSums reads "table<TAB>count<TAB>sum" lines.
func readSums(path string) (*sums, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &sums{count: map[string]string{}, sum: map[string]uint64{}}
	m := new(big.Int).Lsh(big.NewInt(1), 64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		var n big.Int
		if _, ok := n.SetString(strings.TrimSpace(p[2]), 10); !ok {
			return nil, fmt.Errorf("%s: bad sum %q", path, p[2])
		}
		n.Mod(&n, m)
		s.order = append(s.order, p[0])
		s.count[p[0]] = p[1]
		s.sum[p[0]] = n.Uint64()
	}
	return s, sc.Err()
}

func verifyCheck(args []string) error {
	if len(args) != 2 {
		usage()
	}
	a, err := readSums(args[0])
	if err != nil {
		return err
	}
	b, err := readSums(args[1])
	if err != nil {
		return err
	}
	if len(a.order) == 0 || len(a.order) != len(b.order) {
		return &differ{fmt.Sprintf("%d tables in %s, %d in %s", len(a.order), args[0], len(b.order), args[1])}
	}
	bad := 0
	for _, t := range a.order {
		same := a.count[t] == b.count[t] && a.sum[t] == b.sum[t]
		mark := "equal"
		if !same {
			mark = "DIFFER"
			bad++
		}
		fmt.Printf("%-14s %10s rows  %016x / %10s rows  %016x  %s\n", t, a.count[t], a.sum[t], b.count[t], b.sum[t], mark)
	}
	if bad > 0 {
		return &differ{fmt.Sprintf("%d tables differ", bad)}
	}
	return nil
}

// entityJSON is the part of one line of transit verify --output json that
// the check reads.
type entityJSON struct {
	Entity       string          `json:"entity"`
	Status       string          `json:"status"`
	RowsOld      int64           `json:"rows_old"`
	RowsNew      int64           `json:"rows_new"`
	ChunksHashed int             `json:"chunks_hashed"`
	RowsFetched  int64           `json:"rows_fetched"`
	Missing      int             `json:"missing"`
	Extra        int             `json:"extra"`
	Changed      int             `json:"changed"`
	Incomplete   bool            `json:"incomplete"`
	Error        *string         `json:"error"`
	ElapsedMS    int64           `json:"elapsed_ms"`
	Diffs        []diffJSON      `json:"diffs"`
	Columns      json.RawMessage `json:"columns"`
}

type diffJSON struct {
	Key    json.RawMessage `json:"key"`
	Kind   string          `json:"kind"`
	Fields []struct {
		Column string  `json:"column"`
		Old    *string `json:"old"`
		New    *string `json:"new"`
	} `json:"fields"`
}

func verifyJSON(args []string) error {
	fs := flag.NewFlagSet("verify-json", flag.ExitOnError)
	table := fs.String("changed", "", "the table holding the one changed row")
	key := fs.String("key", "", "its key, as JSON")
	column := fs.String("column", "", "its changed column")
	_ = fs.Parse(args)
	if fs.NArg() != 1 || (*table != "") != (*key != "") {
		usage()
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var problems []string
	seen := 0
	dec := json.NewDecoder(strings.NewReader(string(data)))
	for {
		var e entityJSON
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		seen++
		fmt.Printf("%-14s %-12s rows %d/%d, %d chunk hashes, %d rows fetched, %d missing, %d extra, %d changed, %d ms\n",
			e.Entity, e.Status, e.RowsOld, e.RowsNew, e.ChunksHashed, e.RowsFetched, e.Missing, e.Extra, e.Changed, e.ElapsedMS)
		if e.Incomplete || e.Error != nil {
			msg := "incomplete"
			if e.Error != nil {
				msg = *e.Error
			}
			problems = append(problems, e.Entity+": "+msg)
			continue
		}
		if e.RowsOld != e.RowsNew {
			problems = append(problems, fmt.Sprintf("%s: %d rows old, %d new", e.Entity, e.RowsOld, e.RowsNew))
		}
		if e.Entity != *table {
			if e.Status != "consistent" || e.Missing+e.Extra+e.Changed != 0 {
				problems = append(problems, fmt.Sprintf("%s: %s, want consistent", e.Entity, e.Status))
			}
			continue
		}
		if e.Missing != 0 || e.Extra != 0 || e.Changed != 1 || len(e.Diffs) != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d missing, %d extra, %d changed (%d diffs), want exactly 1 changed",
				e.Entity, e.Missing, e.Extra, e.Changed, len(e.Diffs)))
			continue
		}
		d := e.Diffs[0]
		var got, want any
		_ = json.Unmarshal(d.Key, &got)
		if err := json.Unmarshal([]byte(*key), &want); err != nil {
			return fmt.Errorf("-key %s: %w", *key, err)
		}
		if d.Kind != "changed" || fmt.Sprint(dateKey(got)) != fmt.Sprint(want) || len(d.Fields) != 1 || d.Fields[0].Column != *column {
			var cols []string
			for _, f := range d.Fields {
				cols = append(cols, f.Column)
			}
			problems = append(problems, fmt.Sprintf("%s: reported %s %s, columns %v; want changed %s in %s",
				e.Entity, d.Kind, d.Key, cols, *key, *column))
			continue
		}
		f := d.Fields[0]
		if f.Old != nil && f.New != nil {
			fmt.Printf("%-14s changed row %s: %s %s -> %s\n", "", d.Key, f.Column, *f.Old, *f.New)
		}
	}
	if seen == 0 {
		problems = append(problems, "no entity in the output")
	}
	if len(problems) > 0 {
		return &differ{strings.Join(problems, "; ")}
	}
	return nil
}

// dateKey turns the key elements verify writes for DATE key columns (a
// time at midnight UTC: "1991-03-06T00:00:00Z") into dates ("1991-03-06").
func dateKey(k any) any {
	vals, ok := k.([]any)
	if !ok {
		return k
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			v = strings.TrimSuffix(s, "T00:00:00Z")
		}
		out[i] = v
	}
	return out
}

func scan(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	myURL := fs.String("mysql", "", "database URL (mysql://)")
	tables := fs.String("table", "", "tables to scan, comma-separated, one after the other")
	batch := fs.Int("batch", 5000, "rows per batch (transit audit's default: 5000)")
	_ = fs.Parse(args)
	if *myURL == "" || *tables == "" {
		usage()
	}
	ctx := context.Background()
	src, err := mysql.Open(ctx, *myURL)
	if err != nil {
		return err
	}
	defer src.Close()
	for _, name := range strings.Split(*tables, ",") {
		t, err := src.Describe(ctx, name)
		if err != nil {
			return err
		}
		q := sources.Query{Table: t.Name, Columns: t.Names(), OrderBy: t.Key, BatchSize: *batch}
		if len(q.OrderBy) == 0 {
			q.OrderBy = nil
		}
		start := time.Now()
		var rows int64
		err = src.Scan(ctx, q, func(b *record.Batch) error { rows += int64(b.Len()); return nil })
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d rows in %.2fs\n", t.Name, rows, time.Since(start).Seconds())
	}
	return nil
}

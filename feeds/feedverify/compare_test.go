package feedverify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/sinks/doc"
	"github.com/transitdb/transit/sinks/redis"
	"github.com/transitdb/transit/verify"
)

// trackDDL is a table with the column types of the Chinook and employees
// data (and a few more a feed meets).
const trackDDL = `CREATE TABLE track (
	track_id int PRIMARY KEY, name varchar(200) NOT NULL, composer text,
	milliseconds int4, bytes bigint, small int2, unit_price numeric(10,2),
	added timestamptz, rated timestamp, released date, explicit bool,
	rating float8, ratio float4, uid uuid, meta jsonb, code char(3),
	gender char(1), blob bytea, len time)`

const trackRows = `INSERT INTO track SELECT i, 'Track ' || i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'Composer ' || i END,
	i * 1000, i::bigint * 100000000, i % 100, (i % 7) + 0.5,
	timestamptz '2009-01-01 10:00:00.123456+02' + i * interval '1 hour',
	timestamp '2010-05-06 07:08:09' + i * interval '1 day', date '1986-06-26' + i,
	i % 2 = 0, i / 3.0, i / 7.0,
	md5(i::text)::uuid, jsonb_build_object('n', i, 'tags', jsonb_build_array('a', i * 1.5)),
	'c' || (i % 10), CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END, decode(lpad(to_hex(i), 4, '0'), 'hex'),
	time '12:34:56.5' + i * interval '1 second'
	FROM generate_series(1, 60) i`

func pgPool(t *testing.T, sqls ...string) *pgxpool.Pool {
	t.Helper()
	url := testenv.Postgres(t)
	testenv.Exec(t, url, sqls...)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// feed writes every document of src into gen of dst, as a rebuild does.
func feed(t *testing.T, src Source, dst doc.Target, gen string) {
	t.Helper()
	ctx := context.Background()
	err := src.Docs(ctx, func(docs []doc.Doc) error {
		for i := range docs {
			docs[i].Version = 1
		}
		res, err := dst.Write(ctx, gen, docs)
		if err == nil && len(res.Rejects) > 0 {
			err = fmt.Errorf("rejects: %v", res.Rejects)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func compare(t *testing.T, src Source, dst doc.Target, gen string, o Options) *Report {
	t.Helper()
	rep, err := Compare(context.Background(), src, dst, gen, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func diffOf(rep *Report, id string) *verify.Diff {
	for i, d := range rep.Diffs {
		if d.Key[0] == id {
			return &rep.Diffs[i]
		}
	}
	return nil
}

func fieldNames(d *verify.Diff) []string {
	var out []string
	for _, f := range d.Fields {
		out = append(out, f.Column)
	}
	return out
}

// TestCompareTableRedis feeds a table of every common type into Redis
// (hash and json), proves it equal, then injects each kind of difference
// and checks each is found and named, with fields and both values.
func TestCompareTableRedis(t *testing.T) {
	pool := pgPool(t, trackDDL, trackRows)
	for _, f := range []redis.Format{redis.FormatHash, redis.FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			ctx := context.Background()
			c, base := redisClient(t)
			dst := newRedisTarget(c, base+string(f)+":", f)
			src, err := NewTable(pool, "public", "track", []string{"track_id"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			feed(t, src, dst, "v1")
			for _, parts := range []int{1, 3} {
				rep := compare(t, src, dst, "v1", Options{Partitions: parts})
				if !rep.Consistent() || rep.Docs != 60 || rep.Stored != 60 {
					t.Fatalf("partitions %d: fresh copy not consistent: %+v", parts, rep)
				}
			}

			// Inject: a key gone (missing), a stray key (extra), a stored
			// value changed behind the feed's back, and a PostgreSQL change
			// the feed never saw (two fields, one to NULL).
			p := dst.prefix("v1")
			if err := c.Del(ctx, p+"7").Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := dst.Write(ctx, "v1", []doc.Doc{{ID: "999", Fields: map[string]any{"name": "ghost"}, Version: 1}}); err != nil {
				t.Fatal(err)
			}
			if f == redis.FormatHash {
				c.HSet(ctx, p+"3", "unit_price", "9.99")
			} else {
				s := c.Get(ctx, p+"3").Val()
				s = strings.Replace(s, `"unit_price":"3.50"`, `"unit_price":"9.99"`, 1)
				if !strings.Contains(s, "9.99") {
					t.Fatalf("json doc: %s", s)
				}
				c.Set(ctx, p+"3", s, 0)
			}
			testenv.Exec(t, pgURL(t, pool), `UPDATE track SET composer = NULL, rating = 42 WHERE track_id = 11`)
			t.Cleanup(func() {
				testenv.Exec(t, pgURL(t, pool), `UPDATE track SET composer = 'Composer 11', rating = 11 / 3.0 WHERE track_id = 11`)
			})

			for _, parts := range []int{1, 3} {
				rep := compare(t, src, dst, "v1", Options{Partitions: parts, Name: "track_cache"})
				if rep.Missing != 1 || rep.Extra != 1 || rep.Changed != 2 || rep.Consistent() {
					t.Fatalf("partitions %d: counts %d/%d/%d", parts, rep.Missing, rep.Extra, rep.Changed)
				}
				if got := rep.RepairIDs(); !slices.Equal(got, []string{"11", "3", "7", "999"}) {
					t.Fatalf("repair ids %v", got)
				}
				if d := diffOf(rep, "7"); d == nil || d.Kind != verify.Missing {
					t.Fatalf("7: %+v", d)
				}
				if d := diffOf(rep, "999"); d == nil || d.Kind != verify.Extra {
					t.Fatalf("999: %+v", d)
				}
				d := diffOf(rep, "3")
				if d == nil || d.Kind != verify.Changed || !slices.Equal(fieldNames(d), []string{"unit_price"}) ||
					d.Fields[0].Old != "3.5" || d.Fields[0].New != "9.99" {
					t.Fatalf("3: %+v", d)
				}
				d = diffOf(rep, "11")
				if d == nil || !slices.Equal(fieldNames(d), []string{"composer", "rating"}) ||
					!d.Fields[0].OldNull || d.Fields[0].New != "Composer 11" || d.Fields[1].Old != "42" {
					t.Fatalf("11: %+v", d)
				}
			}

			// Rendering goes through verify's report writers.
			rep := compare(t, src, dst, "v1", Options{Name: "track_cache"})
			var tb, js bytes.Buffer
			if err := verify.WriteTable(&tb, []*verify.EntityReport{rep.Entity()}, 100); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"track_cache", "differences", `missing  ("7")`, `extra    ("999")`, `unit_price: "3.5" → "9.99"`, "composer: NULL"} {
				if !strings.Contains(tb.String(), want) {
					t.Fatalf("table lacks %q:\n%s", want, tb.String())
				}
			}
			if err := verify.WriteJSON(&js, []*verify.EntityReport{rep.Entity()}); err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			if err := json.Unmarshal(js.Bytes(), &out); err != nil || out["changed"] != float64(2) {
				t.Fatalf("json %s (%v)", js.String(), err)
			}

			// Bounded sample: counts stay complete.
			rep = compare(t, src, dst, "v1", Options{MaxDiffs: 2})
			if len(rep.Diffs) != 2 || rep.Missing+rep.Extra+rep.Changed != 4 || len(rep.RepairIDs()) != 4 {
				t.Fatalf("bounded: %d diffs, %+v", len(rep.Diffs), rep)
			}

			// Re-feeding exactly the repair IDs makes it consistent again.
			repair(t, src, dst, "v1", rep.RepairIDs())
			if rep := compare(t, src, dst, "v1", Options{}); !rep.Consistent() {
				t.Fatalf("after repair: %+v", rep.Diffs)
			}
		})
	}
}

// repair re-feeds ids: their documents from src with a newer version, a
// delete for those src does not have.
func repair(t *testing.T, src Source, dst doc.Target, gen string, ids []string) {
	t.Helper()
	ctx := context.Background()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var docs []doc.Doc
	err := src.Docs(ctx, func(ds []doc.Doc) error {
		for _, d := range ds {
			if want[d.ID] {
				d.Version = 100
				docs = append(docs, d)
				delete(want, d.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range want {
		docs = append(docs, doc.Doc{ID: id, Version: 100, Delete: true, Fields: map[string]any{}})
	}
	if _, err := dst.Write(ctx, gen, docs); err != nil {
		t.Fatal(err)
	}
}

func pgURL(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return pool.Config().ConnConfig.ConnString()
}

// TestCompareDocumentsQuery: documents shaped by SQL (a customer with its
// invoices as JSON), the IDs from a key-only scan in batches.
func TestCompareDocumentsQuery(t *testing.T) {
	pool := pgPool(t,
		`CREATE TABLE customer (customer_id int PRIMARY KEY, first_name varchar(40), email varchar(60), support_rep_id int)`,
		`CREATE TABLE invoice (invoice_id int PRIMARY KEY, customer_id int REFERENCES customer, invoice_date timestamp, total numeric(10,2))`,
		`INSERT INTO customer SELECT i, 'First ' || i, 'c' || i || '@example.com', CASE WHEN i % 3 = 0 THEN NULL ELSE i % 5 END FROM generate_series(1, 2500) i`,
		`INSERT INTO invoice SELECT i, (i % 2500) + 1, timestamp '2021-01-01' + i * interval '37 minutes', (i % 20) + 0.99 FROM generate_series(1, 6000) i`,
	)
	src, err := NewQuery(pool, "public", "customer", "customer_id",
		`SELECT c.*, json_agg(i.* ORDER BY i.invoice_id) AS invoices FROM customer c LEFT JOIN invoice i USING (customer_id) WHERE c.customer_id = ANY($1) GROUP BY c.customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []redis.Format{redis.FormatHash, redis.FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			c, base := redisClient(t)
			dst := newRedisTarget(c, base, f)
			feed(t, src, dst, "v2")
			rep := compare(t, src, dst, "v2", Options{})
			if !rep.Consistent() || rep.Docs != 2500 || rep.Stored != 2500 {
				t.Fatalf("fresh: %+v", rep)
			}
		})
	}
	c, base := redisClient(t)
	dst := newRedisTarget(c, base, redis.FormatJSON)
	feed(t, src, dst, "v3")
	testenv.Exec(t, pgURL(t, pool), `UPDATE invoice SET total = 1.5 WHERE invoice_id = 2501`) // customer 2 (2501 % 2500 + 1)
	rep := compare(t, src, dst, "v3", Options{})
	d := diffOf(rep, "2")
	if rep.Changed != 1 || rep.Missing+rep.Extra != 0 || d == nil || !slices.Equal(fieldNames(d), []string{"invoices"}) {
		t.Fatalf("report %+v, diff %+v", rep, d)
	}
	if !strings.Contains(d.Fields[0].Old, `"total":1.5`) {
		t.Fatalf("old invoices %s", d.Fields[0].Old)
	}
}

// failingTarget fails its Scan.
type failingTarget struct{ *redisTarget }

var errScan = errors.New("connection reset")

func (f failingTarget) Scan(ctx context.Context, gen string, fn func([]doc.Doc) error) error {
	return errScan
}

// TestCompareErrors: a store or PostgreSQL failing ends Compare with an
// error naming the side, never with a report that looks consistent.
func TestCompareErrors(t *testing.T) {
	pool := pgPool(t, `CREATE TABLE t (id int PRIMARY KEY, v text)`, `INSERT INTO t VALUES (1, 'a')`)
	c, base := redisClient(t)
	src, err := NewTable(pool, "public", "t", []string{"id"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := failingTarget{newRedisTarget(c, base, redis.FormatHash)}
	rep, err := Compare(context.Background(), src, dst, "v1", Options{})
	if rep != nil || !errors.Is(err, errScan) || !strings.Contains(err.Error(), "scan v1") {
		t.Fatalf("report %v, err %v", rep, err)
	}
	missing, err := NewTable(pool, "public", "nosuch", []string{"id"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Compare(context.Background(), missing, dst.redisTarget, "v1", Options{}); rep != nil || err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("report %v, err %v", rep, err)
	}
}

package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

func TestTypeMapping(t *testing.T) {
	t.Parallel()
	pool, schema := testSchema(t)
	ctx := t.Context()
	s := pgx.Identifier{schema}.Sanitize()
	for _, sql := range []string{
		"CREATE TYPE " + s + ".mood AS ENUM ('sad', 'ok', 'happy')",
		"CREATE TABLE " + s + `.t (
			id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sm smallint, n numeric(8,3), nn numeric,
			r real, c char(3), u uuid, j jsonb, tm time(3), tz timestamptz, d date, m ` + s + `.mood,
			arr int[], iv interval, ser bigserial)`,
		"INSERT INTO " + s + ".t (sm, n, nn, r, c, u, j, tm, tz, d, m, arr, iv) VALUES " +
			"(-3, 1.5, 'NaN', 0.5, 'ab', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": 1, \"a\": [true]}', '13:14:15.5', '2024-01-02 03:04:05+02', '2024-02-29', 'ok', '{1,2}', '1 day'), " +
			"(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'infinity', NULL, NULL, NULL, NULL)",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	src := New(pool, schema)
	d, err := src.Describe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]record.Type{"id": record.Int, "sm": record.Int, "n": record.Decimal, "nn": record.Decimal, "r": record.Float,
		"c": record.Text, "u": record.UUID, "j": record.JSON, "tm": record.Time, "tz": record.TimestampTZ, "d": record.Date,
		"m": record.Enum, "arr": record.JSON, "iv": record.Text, "ser": record.Int}
	for _, c := range d.Columns {
		if c.Type != want[c.Name] {
			t.Errorf("%s (%s): %s, want %s", c.Name, c.Native, c.Type, want[c.Name])
		}
	}
	if c := d.Column("id"); !c.AutoIncrement || c.Bits != 32 || c.Nullable {
		t.Errorf("id: %+v", c)
	}
	if c := d.Column("ser"); !c.AutoIncrement || c.Bits != 64 {
		t.Errorf("ser: %+v", c)
	}
	if c := d.Column("n"); c.Precision != 8 || c.Scale != 3 {
		t.Errorf("n: %+v", c)
	}
	if c := d.Column("c"); !c.Fixed || c.Length != 3 {
		t.Errorf("c: %+v", c)
	}
	if c := d.Column("m"); !reflect.DeepEqual(c.Values, []string{"sad", "ok", "happy"}) {
		t.Errorf("m: %+v", c)
	}
	var rows [][]any
	err = src.Scan(ctx, sources.Query{Table: "t"}, func(b *record.Batch) error {
		for _, r := range b.Rows {
			rows = append(rows, append([]any(nil), r...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	exp := []any{int64(1), int64(-3), "1.500", nil, float64(float32(0.5)), "ab ", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		`{"a": [true], "b": 1}`, "13:14:15.5", time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"ok", "[1,2]", "1 day", int64(1)}
	for i, w := range exp {
		if i == 3 {
			if iv, ok := r[i].(record.Invalid); !ok || iv.Raw != "NaN" {
				t.Errorf("NaN numeric: %#v", r[i])
			}
			continue
		}
		if !reflect.DeepEqual(r[i], w) {
			t.Errorf("%s: %#v, want %#v", d.Columns[i].Name, r[i], w)
		}
	}
	if tz := r[9].(time.Time); tz.Location() != time.UTC {
		t.Errorf("timestamptz location %v", tz.Location())
	}
	if _, ok := rows[1][9].(record.Invalid); !ok {
		t.Errorf("infinite timestamptz: %#v", rows[1][9])
	}
	// A text key holding quotes and a value-shaped name travels as a parameter.
	if _, err := pool.Exec(ctx, "CREATE TABLE "+s+`."odd ""name""" ("k'ey" text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	pool.Exec(ctx, "INSERT INTO "+s+`."odd ""name""" VALUES ('a''); DROP TABLE x; --'), ('b')`)
	b, err := src.Get(ctx, `odd "name"`, nil, nil, []record.Key{{"a'); DROP TABLE x; --"}, {"zz"}})
	if err != nil || b.Len() != 1 {
		t.Errorf("Get with odd names: %v %v", b, err)
	}
	if _, err := src.Describe(ctx, "nope"); !sources.IsNotFound(err) {
		t.Errorf("missing table: %v", err)
	}
	names, err := src.Tables(ctx)
	if err != nil || !reflect.DeepEqual(names, []string{`odd "name"`, "t"}) {
		t.Errorf("tables %q %v", names, err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	testSchema(t) // skips when the server is down
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "s3cr3t-Pa55"
	for _, dsn := range []string{
		"postgres://nobody:" + secret + "@127.0.0.1:5432/nodb?sslmode=disable&connect_timeout=3",
		"postgres://nobody:" + secret + "@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=3",
		"host=127.0.0.1 port=1 user=nobody password=" + secret + " connect_timeout=3",
		"postgres://nobody:" + secret + "@[::1:bad/x",
	} {
		_, err := Open(ctx, dsn, "")
		if err == nil {
			t.Errorf("Open %s: no error", Redact(dsn))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if got := Redact("postgres://u:" + secret + "@h/db"); strings.Contains(got, secret) {
		t.Errorf("Redact: %s", got)
	}
}

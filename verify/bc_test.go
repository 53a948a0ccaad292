package verify

import (
	"context"
	"testing"
	"time"

	"github.com/transitdb/transit/record"
)

// TestBCDatesPostgres: PostgreSQL's canonical text of dates and timestamps
// before year 1 is Go's (astronomical years: 1 BC is 0000, 2 BC is -0001),
// so the chunk hash and the fields fetched agree with Canonical on the
// values pgx reads, and 1 BC no longer has the text of 1 AD (to_char
// writes both as 0001: a verify found them equal).
func TestBCDatesPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgDB(t)
	mustExecPG(t, pool, `CREATE TABLE bc (id bigint PRIMARY KEY, d date, ts timestamp(6), tz timestamptz(6))`)
	mustExecPG(t, pool, `INSERT INTO bc VALUES
		(1, '0001-12-31 BC', '0001-12-31 23:59:59.5 BC', '0001-12-31 23:59:59+00 BC'),
		(2, '0001-12-31', '0001-12-31 23:59:59.5', '0001-12-31 23:59:59+00'),
		(3, '0002-01-01 BC', '0002-01-01 00:00:00 BC', '0002-01-01 00:00:00+00 BC'),
		(4, '4713-01-01 BC', '4713-01-01 12:00:00 BC', NULL),
		(5, '2024-02-29', '2024-02-29 10:00:00', '2024-02-29 10:00:00+00'),
		(6, '-infinity', 'infinity', '-infinity')`)
	cols := []record.Column{
		{Name: "id", Type: record.Int, Native: "bigint"},
		{Name: "d", Type: record.Date, Native: "date"},
		{Name: "ts", Type: record.Timestamp, Native: "timestamp(6)"},
		{Name: "tz", Type: record.TimestampTZ, Native: "timestamptz(6)"},
	}
	side := Side{Store: Postgres, Table: "bc", Key: []string{"id"}, SQL: &SQLPushdown{Dialect: Postgres, Pool: pool}, Columns: cols}
	rd, err := newSQLReader(&side)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	fields := map[int64][]string{}
	for _, f := range hashedRows(t, rd) {
		fields[f.key[0].(int64)] = f.fields
	}
	if len(fields) != 6 {
		t.Fatalf("%d rows, want 6", len(fields))
	}
	// Go's canonical text of what pgx reads, for the finite rows.
	for id := int64(1); id <= 5; id++ {
		var d, ts, tz *time.Time
		if err := pool.QueryRow(ctx, `SELECT d, ts, tz FROM bc WHERE id = $1`, id).Scan(&d, &ts, &tz); err != nil {
			t.Fatal(err)
		}
		for i, v := range []*time.Time{d, ts, tz} {
			var val any
			if v != nil {
				val = *v
			}
			want := string(AppendField(nil, cols[i+1], val))
			if got := fields[id][i+1]; got != want {
				t.Errorf("row %d %s: SQL %q, Go %q", id, cols[i+1].Name, got, want)
			}
		}
	}
	for i, want := range []string{"10:0000-12-31", "27:0000-12-31T23:59:59.500000Z", "27:0000-12-31T23:59:59.000000Z"} {
		if got := fields[1][i+1]; got != want {
			t.Errorf("1 BC %s: %q, want %q", cols[i+1].Name, got, want)
		}
		if fields[1][i+1] == fields[2][i+1] {
			t.Errorf("%s: 1 BC and 1 AD have the same text %q", cols[i+1].Name, fields[1][i+1])
		}
	}
	if got := fields[3][1]; got != "11:-0001-01-01" {
		t.Errorf("2 BC: %q, want 11:-0001-01-01", got)
	}
}

package verify

import (
	"context"
	"testing"

	"github.com/transitdb/transit/record"
)

// The chunk hash's shortcuts (sqlFieldExpr: constant length prefixes, a
// date's own text instead of to_char/DATE_FORMAT) must give, for every
// value, the field the canonical expression gives. Edge values the random
// twins rarely reach: the first and last years a shortcut covers, the years
// just outside (where the general expression takes over), NULLs.
func checkShortcuts(t *testing.T, dialect string, p *SQLPushdown) {
	t.Helper()
	ctx := context.Background()
	side := Side{Store: dialect, Table: "edge", Key: []string{"id"}, SQL: p, Columns: []record.Column{
		{Name: "id", Type: record.Int, Native: "bigint"},
		{Name: "d", Type: record.Date, Native: "date"},
		{Name: "ts", Type: record.Timestamp, Native: map[string]string{Postgres: "timestamp(6)", MySQL: "datetime(6)"}[dialect]},
		{Name: "n", Type: record.Int, Native: "integer"},
	}}
	if dialect == MySQL {
		side.Columns = append(side.Columns, record.Column{Name: "v", Type: record.Text, Native: "varchar(20)"},
			record.Column{Name: "c", Type: record.Text, Fixed: true, Native: "char(5)"},
			record.Column{Name: "e", Type: record.Enum, Native: "enum('M','F','É')"},
			record.Column{Name: "s", Type: record.Set, Native: "set('a','b')"},
			record.Column{Name: "l", Type: record.Text, Native: "varchar(20)"},
			record.Column{Name: "nn", Type: record.Text, Native: "varchar(20)"},
			record.Column{Name: "dn", Type: record.Date, Native: "date"},
			record.Column{Name: "tn", Type: record.Timestamp, Native: "datetime(6)"},
			record.Column{Name: "cn", Type: record.Text, Fixed: true, Native: "char(3)"},
			record.Column{Name: "bn", Type: record.Bytes, Native: "varbinary(4)"})
	}
	if dialect == Postgres {
		side.Columns = append(side.Columns, record.Column{Name: "tz", Type: record.TimestampTZ, Native: "timestamptz(6)"},
			record.Column{Name: "b", Type: record.Bytes, Native: "bytea"})
	}
	rd, err := newSQLReader(&side)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if dialect == Postgres && !rd.facts.isoDates {
		t.Fatal("DateStyle ISO not detected")
	}
	if dialect == MySQL && (!rd.facts.notNull["dn"] || rd.facts.notNull["d"]) {
		t.Fatalf("NOT NULL columns %v, want dn and not d", rd.facts.notNull)
	}
	if dialect == MySQL && (!rd.facts.utf8["v"] || !rd.facts.utf8["c"] || !rd.facts.utf8["e"] || rd.facts.utf8["l"]) {
		t.Fatalf("UTF-8 columns %v, want v, c, e, s, nn and not l (latin1)", rd.facts.utf8)
	}
	all := hashedRows(t, rd)
	n := int64(len(all))
	if n < 6 {
		t.Fatalf("%s: %d rows", dialect, n)
	}
	var buf []byte
	// Each row alone, to name the one that differs.
	for i := int64(1); i <= n; i++ {
		kr := keyRange{lo: record.Key{i - 1}, hi: record.Key{i}}
		var want uint64
		err := rd.rows(ctx, kr, func(f fetched) error {
			buf = buf[:0]
			for _, e := range f.fields {
				buf = append(buf, e...)
			}
			want = RowHash(buf)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := rd.hash(ctx, kr)
		if err != nil {
			t.Fatal(err)
		}
		if got.sum != want {
			t.Errorf("%s row %d: chunk hash %x, canonical fields %x", dialect, i, got.sum, want)
		}
	}
}

func TestHashShortcutsPostgres(t *testing.T) {
	t.Parallel()
	pool := pgDB(t)
	mustExecPG(t, pool, `SET TIME ZONE 'America/New_York'`)
	mustExecPG(t, pool, `CREATE TABLE edge (id bigint PRIMARY KEY, d date, ts timestamp(6), n integer, tz timestamptz(6), b bytea)`)
	mustExecPG(t, pool, `INSERT INTO edge VALUES
		(1, '0001-01-01', '0001-01-01 00:00:00', -2147483648, '0001-01-01 00:00:00+00', '\x00ff'),
		(2, '9999-12-31', '9999-12-31 23:59:59.999999', 2147483647, '9999-12-31 23:59:59.999999+00', ''),
		(3, '0001-12-31 BC', '0001-12-31 23:59:59 BC', 0, '0001-12-31 23:59:59+00 BC', NULL),
		(4, '10000-01-01', '10000-01-01 00:00:00', NULL, '10000-01-01 00:00:00+00', '\x01'),
		(5, NULL, NULL, 7, NULL, NULL),
		(6, '0999-06-15', '0999-06-15 12:00:00.5', 42, '9999-12-31 23:00:00-05', '\xdeadbeef'),
		(7, '2024-02-29', '2024-02-29 10:00:00', 1, '0001-01-01 00:30:00+01', '\x00')`)
	checkShortcuts(t, Postgres, &SQLPushdown{Dialect: Postgres, Pool: pool})
}

func TestHashShortcutsMariaDB(t *testing.T) {
	t.Parallel()
	db := myDB(t)
	mustExecMy(t, db, `CREATE TABLE edge (id bigint PRIMARY KEY, d date NULL, ts datetime(6) NULL, n int NULL,
		v varchar(20) CHARACTER SET utf8mb4 NULL, c char(5) CHARACTER SET utf8mb4 NULL, e enum('M','F','É') NULL,
		s set('a','b') NULL, l varchar(20) CHARACTER SET latin1 NULL, nn varchar(20) CHARACTER SET utf8mb3 NOT NULL,
		dn date NOT NULL, tn datetime(6) NOT NULL, cn char(3) CHARACTER SET latin1 NOT NULL, bn varbinary(4) NOT NULL)`)
	mustExecMy(t, db, `INSERT INTO edge VALUES
		(1, '1000-01-01', '1000-01-01 00:00:00', -2147483648, 'Zoë 中😀', 'ab', 'É', 'a,b', 'Zoë', 'ß', '0001-01-01', '1000-01-01 00:00:00', 'é', x'00ff'),
		(2, '9999-12-31', '9999-12-31 23:59:59.999999', 2147483647, '', '', 'M', '', '', '', '9999-12-31', '9999-12-31 23:59:59.999999', '', x''),
		(3, '0001-01-01', '0001-01-01 00:00:00', 0, 'trailing  ', ' x   ', 'F', 'b', 'é ', 'x', '2024-02-29', '2024-02-29 10:00:00.25', 'a  ', x'01'),
		(4, '0999-06-15', '0999-06-15 12:00:00.5', NULL, NULL, NULL, NULL, NULL, NULL, '-1:', '0999-06-15', '0999-06-15 12:00:00', '-1:', x'2d313a'),
		(5, NULL, NULL, 7, '-1:', '-1:', 'M', 'a', '-1:', 'y', '1970-01-01', '1970-01-01 00:00:00', ' b', x'ffffffff'),
		(6, '2024-02-29', '2024-02-29 10:00:00', -1, '1:a', 'é', 'É', 'a', 'ÿ', 'z', '2000-02-29', '2000-02-29 23:59:59', 'ÿÿ', x'61')`)
	checkShortcuts(t, MySQL, &SQLPushdown{Dialect: MySQL, DB: db})
}

// hashedRows fetches every row's canonical fields through rd and checks
// that the chunk hash the server computes is the hash of those fields.
func hashedRows(t *testing.T, rd *sqlReader) []fetched {
	t.Helper()
	ctx := context.Background()
	var all []fetched
	var sum uint64
	var buf []byte
	err := rd.rows(ctx, keyRange{}, func(f fetched) error {
		buf = buf[:0]
		for _, e := range f.fields {
			buf = append(buf, e...)
		}
		sum += RowHash(buf)
		all = append(all, f)
		t.Logf("row %v: %q", f.key, f.fields)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := rd.hash(ctx, keyRange{})
	if err != nil {
		t.Fatal(err)
	}
	if h.count != int64(len(all)) || h.sum != sum {
		t.Fatalf("chunk hash (%d rows, %x), the canonical fields hashed in Go (%d rows, %x)", h.count, h.sum, len(all), sum)
	}
	return all
}

package audit

// Test fixtures: a database per test on the real servers, and small
// sources.Source implementations over a MariaDB database and a CSV file so
// the audit tests do not wait for the sources/* packages.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

func unreachable(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "" {
		t.Skipf("%s unreachable (set CI=true to fail instead): %v", what, err)
	}
	t.Fatalf("%s unreachable: %v", what, err)
}

func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// newMySQL creates a fresh MariaDB database, runs the scripts in it and
// returns a connection to it (multi-statement scripts allowed).
func newMySQL(t *testing.T, scripts ...string) (*sql.DB, string) {
	t.Helper()
	addr := os.Getenv("MYSQL_ADDR")
	if addr == "" {
		addr = "127.0.0.1:3306"
	}
	root, err := sql.Open("mysql", "root@tcp("+addr+")/")
	if err == nil {
		err = root.Ping()
	}
	if err != nil {
		unreachable(t, "MariaDB", err)
	}
	name := uniqueName("audit")
	if _, err := root.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", "root@tcp("+addr+")/"+name+"?multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() {
		db.Close()
		_, _ = root.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		root.Close()
	})
	for _, s := range scripts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("load script: %v", err)
		}
	}
	return db, name
}

// newPostgres creates a fresh PostgreSQL database and returns a pool on it.
func newPostgres(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test"
	}
	admin, err := pgxpool.New(ctx, url)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		unreachable(t, "PostgreSQL", err)
	}
	name := uniqueName("audit")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	return pool
}

// mysqlSource is a minimal sources.Source over one MariaDB database.
type mysqlSource struct {
	db     *sql.DB
	schema string
}

func (s *mysqlSource) Tables(ctx context.Context) ([]string, error) { return nil, nil }
func (s *mysqlSource) Close() error                                 { return nil }

func (s *mysqlSource) Describe(ctx context.Context, table string) (*record.Table, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0),
		COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), IS_NULLABLE, COLUMN_TYPE, COLUMN_KEY
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, s.schema, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tb := &record.Table{Name: table}
	for rows.Next() {
		var c record.Column
		var dt, nullable, key string
		var length, prec, scale int64
		if err := rows.Scan(&c.Name, &dt, &length, &prec, &scale, &nullable, &c.Native, &key); err != nil {
			return nil, err
		}
		c.Nullable = nullable == "YES"
		switch dt {
		case "tinyint":
			c.Type, c.Bits = record.Int, 8
		case "smallint":
			c.Type, c.Bits = record.Int, 16
		case "mediumint", "int":
			c.Type, c.Bits = record.Int, 32
		case "bigint":
			c.Type, c.Bits = record.Int, 64
		case "decimal":
			c.Type, c.Precision, c.Scale = record.Decimal, int(prec), int(scale)
		case "float", "double":
			c.Type, c.Bits = record.Float, 64
		case "date":
			c.Type = record.Date
		case "datetime", "timestamp":
			c.Type = record.Timestamp
		case "blob", "binary", "varbinary", "longblob":
			c.Type = record.Bytes
		default:
			c.Type, c.Length = record.Text, int(length)
		}
		if key == "PRI" {
			tb.Key = append(tb.Key, c.Name)
		}
		tb.Columns = append(tb.Columns, c)
	}
	if len(tb.Columns) == 0 {
		return nil, &sources.NotFoundError{Store: "mysql", What: "table", Name: table}
	}
	return tb, rows.Err()
}

func (s *mysqlSource) Scan(ctx context.Context, q sources.Query, emit func(*record.Batch) error) error {
	tb, err := s.Describe(ctx, q.Table)
	if err != nil {
		return err
	}
	cols := q.Columns
	if cols == nil {
		cols = tb.Names()
	}
	quote := func(ns []string) string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = "`" + n + "`"
		}
		return strings.Join(out, ", ")
	}
	query := "SELECT " + quote(cols) + " FROM `" + q.Table + "`"
	if len(q.OrderBy) > 0 {
		query += " ORDER BY " + quote(q.OrderBy)
	}
	if q.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	types := make([]record.Column, len(cols))
	for i, c := range cols {
		types[i] = *tb.Column(c)
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	b := &record.Batch{Columns: types}
	size := q.BatchSize
	if size <= 0 {
		size = 1000
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]any, len(cols))
		for i, r := range raw {
			row[i] = convert(r, types[i].Type)
		}
		b.Rows = append(b.Rows, row)
		if len(b.Rows) == size {
			if err := emit(b); err != nil {
				return err
			}
			b.Rows = b.Rows[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(b.Rows) > 0 {
		return emit(b)
	}
	return nil
}

// convert turns the text form of a value into its record Go type.
func convert(r []byte, t record.Type) any {
	if r == nil {
		return nil
	}
	s := string(r)
	switch t {
	case record.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return record.Invalid{Raw: s, Reason: "not an integer"}
		}
		return n
	case record.Float:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return record.Invalid{Raw: s, Reason: "not a number"}
		}
		return f
	case record.Date, record.Timestamp:
		if strings.HasPrefix(s, "0000-00-00") {
			return record.Invalid{Raw: s, Reason: "zero date"}
		}
		for _, l := range []string{"2006-01-02 15:04:05", "2006-01-02"} {
			if tm, err := time.Parse(l, s); err == nil {
				return tm
			}
		}
		return record.Invalid{Raw: s, Reason: "invalid date"}
	case record.Bytes:
		return append([]byte(nil), r...)
	case record.Decimal:
		return s
	}
	if !utf8.ValidString(s) {
		return record.Invalid{Raw: s, Reason: "invalid UTF-8"}
	}
	return s
}

// csvSource is a minimal sources.Source over CSV files in a folder; column
// types are given per file; empty fields of non-text columns are NULL.
type csvSource struct {
	dir   string
	types map[string][]record.Column // table -> columns
	key   map[string][]string
}

func (s *csvSource) Tables(ctx context.Context) ([]string, error) { return nil, nil }
func (s *csvSource) Close() error                                 { return nil }

func (s *csvSource) Describe(ctx context.Context, table string) (*record.Table, error) {
	cols, ok := s.types[table]
	if !ok {
		return nil, &sources.NotFoundError{Store: "csv", What: "table", Name: table}
	}
	return &record.Table{Name: table, Columns: cols, Key: s.key[table]}, nil
}

func (s *csvSource) Scan(ctx context.Context, q sources.Query, emit func(*record.Batch) error) error {
	tb, err := s.Describe(ctx, q.Table)
	if err != nil {
		return err
	}
	f, err := os.Open(s.dir + "/" + q.Table + ".csv")
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return err
	}
	b := &record.Batch{Columns: tb.Columns}
	for n, rec := range recs[1:] {
		if q.Limit > 0 && n >= q.Limit {
			break
		}
		row := make([]any, len(tb.Columns))
		for i, c := range tb.Columns {
			if rec[i] == "" && c.Type != record.Text {
				continue
			}
			row[i] = convert([]byte(rec[i]), c.Type)
		}
		b.Rows = append(b.Rows, row)
	}
	if len(b.Rows) == 0 {
		return nil
	}
	return emit(b)
}

var _ = fmt.Sprint

// Package sqlite reads SQLite database files for transit, through the pure
// Go driver modernc.org/sqlite. Files are opened read-only (mode=ro,
// query_only).
//
// # Type mapping
//
// SQLite is dynamically typed: a column has a declared type (kept verbatim
// in record.Column.Native) and an affinity, and each value has its own
// storage class. Describe maps the declared type, checking these rules in
// order (case-insensitive):
//
//	declared type                           record type   details
//	contains BOOL                           Bool          0/1, 't'/'f', 'true'/'false', 'yes'/'no'
//	DATE                                    Date
//	DATETIME, TIMESTAMP...                  Timestamp     UTC wall clock; text with an offset is converted to UTC
//	TIME                                    Time
//	contains JSON                           JSON
//	UUID, GUID                              UUID          text, or a 16-byte blob
//	contains INT (INTEGER affinity)         Int           Bits 64
//	contains CHAR, CLOB or TEXT             Text          Length n from (n); Fixed for CHAR(n)/NCHAR(n)
//	contains BLOB                           Bytes
//	contains REAL, FLOA or DOUB             Float         Bits 64
//	no declared type                        Text          numbers as text, blobs when valid UTF-8
//	anything else (NUMERIC affinity:        Decimal       Precision, Scale from (p,s)
//	NUMERIC(p,s), DECIMAL(p,s), MONEY...)
//
// Values whose storage class differs from the declared type are converted
// when that is exact and otherwise become record.Invalid with a reason:
// an integer column holding 'abc' or 2.5, a date column holding a number
// (unix seconds or a Julian day? transit does not guess), text that is not
// UTF-8. A decimal stored as REAL (0.99) comes out as its shortest decimal
// text ("0.99"), padded or rounded (half away from zero) to the declared
// scale. Dates and timestamps are parsed from text in the forms
// "2006-01-02", "2006-01-02 15:04:05[.999999999]" ('T' or ' '), optionally
// followed by "Z" or an offset.
//
// # Keys and scanning
//
// Describe reports the declared primary key (a rowid table without one has
// no key) and secondary indexes (PRAGMA index_list/index_info), and foreign
// keys (PRAGMA foreign_key_list; SQLite does not name them, so Name is
// empty, and an implicit reference to the parent's primary key is filled
// in). Scan pages with keyset queries (see sources/sqlkeyset); the next
// page starts after the last row's stored values, so text dates compare
// exactly as stored. Key values given by the caller (After, Upto, version
// bounds) are bound in the record Go type, with time.Time written as
// "2006-01-02 15:04:05.999999" (a Date as "2006-01-02") and bool as 0/1.
// A table without a key and without OrderBy is paged by its rowid.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// Source reads one SQLite file. It is safe for concurrent use.
type Source struct {
	db   *sql.DB
	path string

	mu     sync.Mutex
	tables map[string]*tableInfo // Describe cache
}

// tableInfo is a described table plus what scanning needs to know.
type tableInfo struct {
	t     *record.Table
	rowid bool // a rowid table (not WITHOUT ROWID)
}

var (
	_ sources.Source = (*Source)(nil)
	_ sources.Getter = (*Source)(nil)
)

var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// Open opens the SQLite database file at path read-only.
func Open(ctx context.Context, path string) (*Source, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	dsn := "file:" + uriEscaper.Replace(path) + "?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &Source{db: db, path: path, tables: map[string]*tableInfo{}}, nil
}

// Close closes the database.
func (s *Source) Close() error { return s.db.Close() }

// Tables lists the tables of the file (not SQLite's own), by name.
func (s *Source) Tables(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables of sqlite %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables of sqlite %s: %w", s.path, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of sqlite %s: %w", s.path, err)
	}
	return out, nil
}

func (s *Source) notFound(what, name string) error {
	return &sources.NotFoundError{Store: "sqlite " + s.path, What: what, Name: name}
}

// Describe returns the columns, primary key, indexes and foreign keys of
// table (cached for the life of the Source). A missing table is a
// *sources.NotFoundError.
func (s *Source) Describe(ctx context.Context, table string) (*record.Table, error) {
	ti, err := s.info(ctx, table)
	if err != nil {
		return nil, err
	}
	c := *ti.t
	c.Columns = slices.Clone(ti.t.Columns)
	c.Key = slices.Clone(ti.t.Key)
	c.Indexes = slices.Clone(ti.t.Indexes)
	c.ForeignKeys = slices.Clone(ti.t.ForeignKeys)
	return &c, nil
}

func (s *Source) info(ctx context.Context, table string) (*tableInfo, error) {
	s.mu.Lock()
	ti, ok := s.tables[table]
	s.mu.Unlock()
	if ok {
		return ti, nil
	}
	ti, err := s.describe(ctx, table)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tables[table] = ti
	s.mu.Unlock()
	return ti, nil
}

func (s *Source) describe(ctx context.Context, table string) (*tableInfo, error) {
	wrap := func(err error) error { return fmt.Errorf("describe sqlite table %s: %w", table, err) }
	var typ, ddl sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT type, sql FROM sqlite_schema WHERE name = ? AND type IN ('table', 'view')`, table).Scan(&typ, &ddl)
	if err == sql.ErrNoRows {
		return nil, s.notFound("table", table)
	}
	if err != nil {
		return nil, wrap(err)
	}
	ti := &tableInfo{t: &record.Table{Name: table}}
	ti.rowid = typ.String == "table" && !withoutRowid(ddl.String)
	cols, key, err := s.columns(ctx, table)
	if err != nil {
		return nil, wrap(err)
	}
	ti.t.Columns, ti.t.Key = cols, key
	// An INTEGER PRIMARY KEY is the rowid: assigned when not given.
	if ti.rowid && len(key) == 1 {
		if c := ti.t.Column(key[0]); c != nil && strings.EqualFold(strings.TrimSpace(c.Native), "INTEGER") {
			c.AutoIncrement = true
		}
	}
	if ti.t.Indexes, err = s.indexes(ctx, table); err != nil {
		return nil, wrap(err)
	}
	if ti.t.ForeignKeys, err = s.foreignKeys(ctx, table); err != nil {
		return nil, wrap(err)
	}
	return ti, nil
}

// withoutRowid reports whether a CREATE TABLE statement ends in WITHOUT
// ROWID.
func withoutRowid(ddl string) bool {
	d := strings.ToUpper(ddl)
	i := strings.LastIndexByte(d, ')')
	if i < 0 {
		return false
	}
	return strings.Contains(strings.Join(strings.Fields(d[i:]), " "), "WITHOUT ROWID")
}

func (s *Source) columns(ctx context.Context, table string) ([]record.Column, []string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		cols []record.Column
		pks  []struct {
			pos  int64
			name string
		}
	)
	for rows.Next() {
		var (
			name, decl  string
			notNull, pk int64
		)
		if err := rows.Scan(&name, &decl, &notNull, &pk); err != nil {
			return nil, nil, err
		}
		c := MapType(decl)
		c.Name = name
		c.Nullable = notNull == 0 && pk == 0
		cols = append(cols, c)
		if pk > 0 {
			pks = append(pks, struct {
				pos  int64
				name string
			}{pk, name})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(pks, func(a, b struct {
		pos  int64
		name string
	}) int {
		return int(a.pos - b.pos)
	})
	var key []string
	for _, p := range pks {
		key = append(key, p.name)
	}
	return cols, key, nil
}

func (s *Source) indexes(ctx context.Context, table string) ([]record.Index, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name`, table)
	if err != nil {
		return nil, err
	}
	var out []record.Index
	for rows.Next() {
		var (
			name, origin string
			unique       int64
		)
		if err := rows.Scan(&name, &unique, &origin); err != nil {
			rows.Close()
			return nil, err
		}
		if origin == "pk" {
			continue
		}
		out = append(out, record.Index{Name: name, Unique: unique != 0})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		cr, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, out[i].Name)
		if err != nil {
			return nil, err
		}
		for cr.Next() {
			var n sql.NullString // NULL for an expression
			if err := cr.Scan(&n); err != nil {
				cr.Close()
				return nil, err
			}
			out[i].Columns = append(out[i].Columns, n.String)
		}
		cr.Close()
		if err := cr.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Source) foreignKeys(ctx context.Context, table string) ([]record.ForeignKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, "table", "from", "to", on_update, on_delete
		FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table)
	if err != nil {
		return nil, err
	}
	var (
		out []record.ForeignKey
		ids []int64
	)
	for rows.Next() {
		var (
			id                 int64
			ref, from          string
			to                 sql.NullString
			onUpdate, onDelete string
		)
		if err := rows.Scan(&id, &ref, &from, &to, &onUpdate, &onDelete); err != nil {
			rows.Close()
			return nil, err
		}
		if len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
			out = append(out, record.ForeignKey{RefTable: ref, OnUpdate: onUpdate, OnDelete: onDelete})
		}
		fk := &out[len(out)-1]
		fk.Columns = append(fk.Columns, from)
		fk.RefColumns = append(fk.RefColumns, to.String)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// SQLite numbers foreign keys from the last declared: restore the
	// declaration order.
	slices.Reverse(out)
	for i := range out {
		fk := &out[i]
		if slices.Contains(fk.RefColumns, "") {
			// REFERENCES parent without columns: the parent's primary key.
			_, key, err := s.columns(ctx, fk.RefTable)
			if err != nil {
				return nil, err
			}
			if len(key) == len(fk.Columns) {
				fk.RefColumns = key
			}
		}
	}
	return out, nil
}

// MapType maps a declared SQLite column type to a record column (Type,
// Length, Fixed, Precision, Scale, Bits and Native set), by the rules in
// the package documentation.
func MapType(decl string) record.Column {
	c := record.Column{Native: decl}
	d := strings.ToUpper(strings.TrimSpace(decl))
	base, args := d, []int(nil)
	if i := strings.IndexByte(d, '('); i >= 0 {
		base = strings.TrimSpace(d[:i])
		inner := d[i+1:]
		if j := strings.IndexByte(inner, ')'); j >= 0 {
			inner = inner[:j]
		}
		for _, a := range strings.Split(inner, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil {
				break
			}
			args = append(args, n)
		}
	}
	arg := func(i int) int {
		if i < len(args) {
			return args[i]
		}
		return 0
	}
	switch {
	case d == "":
		c.Type = record.Text
	case strings.Contains(base, "BOOL"):
		c.Type = record.Bool
	case base == "DATE":
		c.Type = record.Date
	case base == "DATETIME" || strings.HasPrefix(base, "TIMESTAMP"):
		c.Type, c.Precision = record.Timestamp, arg(0)
	case base == "TIME":
		c.Type, c.Precision = record.Time, arg(0)
	case strings.Contains(base, "JSON"):
		c.Type = record.JSON
	case base == "UUID" || base == "GUID" || base == "UNIQUEIDENTIFIER":
		c.Type = record.UUID
	case strings.Contains(base, "INT"):
		c.Type, c.Bits = record.Int, 64
	case strings.Contains(base, "CHAR") || strings.Contains(base, "CLOB") || strings.Contains(base, "TEXT"):
		c.Type, c.Length = record.Text, arg(0)
		c.Fixed = c.Length > 0 && (base == "CHAR" || base == "NCHAR" || base == "CHARACTER" || base == "NATIVE CHARACTER")
	case strings.Contains(base, "BLOB"):
		c.Type = record.Bytes
	case strings.Contains(base, "REAL") || strings.Contains(base, "FLOA") || strings.Contains(base, "DOUB"):
		c.Type, c.Bits = record.Float, 64
	default:
		c.Type, c.Precision, c.Scale = record.Decimal, arg(0), arg(1)
	}
	return c
}

// DB returns the read-only database handle, for work pushed down into SQL
// (audit's unique and sql checks).
func (s *Source) DB() *sql.DB { return s.db }

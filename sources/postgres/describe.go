package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/transitdb/transit/record"
)

// meta is what Scan and Get need of a table: its description and the
// select expression of each column.
type meta struct {
	table *record.Table
	exprs []string // select-list expression per column
}

// Describe reads the columns, primary key, indexes and foreign keys of
// table from pg_catalog.
func (s *Source) Describe(ctx context.Context, table string) (*record.Table, error) {
	m, err := s.describe(ctx, table)
	if err != nil {
		return nil, err
	}
	t := *m.table
	t.Columns = append([]record.Column(nil), m.table.Columns...)
	t.Key = append([]string(nil), m.table.Key...)
	return &t, nil
}

// meta returns the cached description of table, describing it the first
// time.
func (s *Source) meta(ctx context.Context, table string) (*meta, error) {
	s.mu.Lock()
	m := s.cache[table]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	return s.describe(ctx, table)
}

func (s *Source) describe(ctx context.Context, table string) (*meta, error) {
	var oid uint32
	err := s.pool.QueryRow(ctx, `
		SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')`,
		s.schema, table).Scan(&oid)
	if err == pgx.ErrNoRows {
		return nil, s.notFound("table", table)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: describe %s: %w", table, err)
	}
	t := &record.Table{Name: table}
	m := &meta{table: t}
	rows, err := s.pool.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypmod, NOT a.attnotnull,
		       a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%',
		       bt.typname, bt.typtype, bt.typcategory,
		       coalesce((SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = bt.oid), '{}')
		FROM pg_attribute a
		JOIN pg_type t ON t.oid = a.atttypid
		JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, oid)
	if err != nil {
		return nil, fmt.Errorf("postgres: describe %s: %w", table, err)
	}
	for rows.Next() {
		var (
			c                    record.Column
			typmod               int32
			typname, typtype, ct string
			values               []string
		)
		if err := rows.Scan(&c.Name, &c.Native, &typmod, &c.Nullable, &c.AutoIncrement, &typname, &typtype, &ct, &values); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: describe %s: %w", table, err)
		}
		expr := mapType(&c, typname, typtype, ct, typmod, values)
		t.Columns = append(t.Columns, c)
		m.exprs = append(m.exprs, strings.ReplaceAll(expr, "$c", quote(c.Name)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: describe %s: %w", table, err)
	}
	if err := s.describeIndexes(ctx, oid, t); err != nil {
		return nil, fmt.Errorf("postgres: describe %s: %w", table, err)
	}
	if err := s.describeForeignKeys(ctx, oid, t); err != nil {
		return nil, fmt.Errorf("postgres: describe %s: %w", table, err)
	}
	s.mu.Lock()
	s.cache[table] = m
	s.mu.Unlock()
	return m, nil
}

// mapType fills c.Type and its details and returns the select expression
// ("$c" stands for the quoted column).
func mapType(c *record.Column, typname, typtype, category string, typmod int32, values []string) string {
	mod := int(typmod)
	switch {
	case category == "A":
		c.Type = record.JSON
		return "to_json($c)::text"
	case typtype == "e":
		c.Type, c.Values = record.Enum, values
		return "$c::text"
	}
	switch typname {
	case "int2":
		c.Type, c.Bits = record.Int, 16
	case "int4":
		c.Type, c.Bits = record.Int, 32
	case "int8":
		c.Type, c.Bits = record.Int, 64
	case "numeric":
		c.Type = record.Decimal
		if mod >= 4 {
			c.Precision, c.Scale = ((mod-4)>>16)&0xffff, (mod-4)&0xffff
		}
		// The server's text keeps the value's scale exactly ("0.00");
		// pgtype.Numeric drops it for zero.
		return "$c::text"
	case "float4":
		c.Type, c.Bits = record.Float, 32
	case "float8":
		c.Type, c.Bits = record.Float, 64
	case "text", "name", "citext":
		c.Type = record.Text
		if typname != "text" {
			return "$c::text"
		}
	case "varchar", "bpchar":
		c.Type, c.Fixed = record.Text, typname == "bpchar"
		if mod >= 4 {
			c.Length = mod - 4
		}
	case "bytea":
		c.Type = record.Bytes
	case "bool":
		c.Type = record.Bool
	case "date":
		c.Type = record.Date
	case "timestamp", "timestamptz":
		c.Type = record.Timestamp
		if typname == "timestamptz" {
			c.Type = record.TimestampTZ
		}
		c.Precision = 6
		if mod >= 0 {
			c.Precision = mod
		}
	case "time":
		c.Type, c.Precision = record.Time, 6
		if mod >= 0 {
			c.Precision = mod
		}
		return "$c::text"
	case "json", "jsonb":
		c.Type = record.JSON
		return "$c::text"
	case "uuid":
		c.Type = record.UUID
		return "$c::text"
	default:
		c.Type = record.Text
		return "$c::text"
	}
	return "$c"
}

func (s *Source) describeIndexes(ctx context.Context, oid uint32, t *record.Table) error {
	rows, err := s.pool.Query(ctx, `
		SELECT ic.relname, i.indisprimary, i.indisunique,
		       array(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
		             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
		       NOT (0 = ANY(i.indkey::int2[])) AND i.indexprs IS NULL AND i.indpred IS NULL
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		WHERE i.indrelid = $1
		ORDER BY i.indisprimary DESC, ic.relname COLLATE "C"`, oid)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name             string
			primary, unique  bool
			cols             []string
			plainColumnsOnly bool
		)
		if err := rows.Scan(&name, &primary, &unique, &cols, &plainColumnsOnly); err != nil {
			return err
		}
		switch {
		case primary:
			t.Key = cols
		case plainColumnsOnly:
			t.Indexes = append(t.Indexes, record.Index{Name: name, Columns: cols, Unique: unique})
		}
	}
	return rows.Err()
}

func (s *Source) describeForeignKeys(ctx context.Context, oid uint32, t *record.Table) error {
	rows, err := s.pool.Query(ctx, `
		SELECT con.conname,
		       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
		             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
		       CASE WHEN rn.nspname = $2 THEN rc.relname ELSE rn.nspname || '.' || rc.relname END,
		       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
		             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o),
		       con.confdeltype::text, con.confupdtype::text
		FROM pg_constraint con
		JOIN pg_class rc ON rc.oid = con.confrelid
		JOIN pg_namespace rn ON rn.oid = rc.relnamespace
		WHERE con.conrelid = $1 AND con.contype = 'f'
		ORDER BY con.conname COLLATE "C"`, oid, s.schema)
	if err != nil {
		return err
	}
	defer rows.Close()
	action := map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
	for rows.Next() {
		var fk record.ForeignKey
		var del, upd string
		if err := rows.Scan(&fk.Name, &fk.Columns, &fk.RefTable, &fk.RefColumns, &del, &upd); err != nil {
			return err
		}
		fk.OnDelete, fk.OnUpdate = action[del], action[upd]
		t.ForeignKeys = append(t.ForeignKeys, fk)
	}
	return rows.Err()
}

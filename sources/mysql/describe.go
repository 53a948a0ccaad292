package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/transitdb/transit/record"
)

// Describe returns the columns, primary key, secondary indexes and foreign
// keys of table. A missing table is a *sources.NotFoundError. Results are
// cached for the life of the Source.
func (s *Source) Describe(ctx context.Context, table string) (*record.Table, error) {
	s.mu.Lock()
	tb, ok := s.tables[table]
	s.mu.Unlock()
	if ok {
		return cloneTable(tb), nil
	}
	tb, err := s.describe(ctx, table)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tables[table] = tb
	s.mu.Unlock()
	return cloneTable(tb), nil
}

// cloneTable copies the slices callers might modify.
func cloneTable(t *record.Table) *record.Table {
	c := *t
	c.Columns = append([]record.Column(nil), t.Columns...)
	c.Key = append([]string(nil), t.Key...)
	c.Indexes = append([]record.Index(nil), t.Indexes...)
	c.ForeignKeys = append([]record.ForeignKey(nil), t.ForeignKeys...)
	return &c
}

// describeCached returns the cached description without copying (for
// internal use: callers must not modify it).
func (s *Source) describeCached(ctx context.Context, table string) (*record.Table, error) {
	s.mu.Lock()
	tb, ok := s.tables[table]
	s.mu.Unlock()
	if ok {
		return tb, nil
	}
	if _, err := s.Describe(ctx, table); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tables[table], nil
}

func (s *Source) describe(ctx context.Context, table string) (*record.Table, error) {
	wrap := func(err error) error {
		return fmt.Errorf("describe mysql table %s.%s: %w", s.dbName, table, err)
	}
	tb := &record.Table{Name: table}
	rows, err := s.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
		CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, EXTRA
		FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return nil, wrap(err)
	}
	for rows.Next() {
		var (
			name, dataType, colType, nullable, extra string
			length, prec, scale, dtPrec              sql.NullInt64
		)
		if err := rows.Scan(&name, &dataType, &colType, &nullable, &length, &prec, &scale, &dtPrec, &extra); err != nil {
			rows.Close()
			return nil, wrap(err)
		}
		c := mapColumn(dataType, colType, int(length.Int64), int(prec.Int64), int(scale.Int64), int(dtPrec.Int64))
		c.Name = name
		c.Nullable = nullable == "YES"
		c.AutoIncrement = strings.Contains(strings.ToLower(extra), "auto_increment")
		tb.Columns = append(tb.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	if len(tb.Columns) == 0 {
		return nil, s.notFound(table)
	}
	if err := s.describeIndexes(ctx, tb); err != nil {
		return nil, wrap(err)
	}
	if err := s.describeForeignKeys(ctx, tb); err != nil {
		return nil, wrap(err)
	}
	if s.mariadb {
		if err := s.describeJSONChecks(ctx, tb); err != nil {
			return nil, wrap(err)
		}
	}
	return tb, nil
}

func (s *Source) describeIndexes(ctx context.Context, tb *record.Table) error {
	rows, err := s.db.QueryContext(ctx, `SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME
		FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, tb.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name   string
			nonUni int64
			col    sql.NullString // NULL for functional key parts (MySQL 8)
		)
		if err := rows.Scan(&name, &nonUni, &col); err != nil {
			return err
		}
		if name == "PRIMARY" {
			tb.Key = append(tb.Key, col.String)
			continue
		}
		if n := len(tb.Indexes); n == 0 || tb.Indexes[n-1].Name != name {
			tb.Indexes = append(tb.Indexes, record.Index{Name: name, Unique: nonUni == 0})
		}
		ix := &tb.Indexes[len(tb.Indexes)-1]
		ix.Columns = append(ix.Columns, col.String)
	}
	return rows.Err()
}

func (s *Source) describeForeignKeys(ctx context.Context, tb *record.Table) error {
	rows, err := s.db.QueryContext(ctx, `SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME,
		k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
		FROM information_schema.KEY_COLUMN_USAGE k
		JOIN information_schema.REFERENTIAL_CONSTRAINTS r
		  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
		WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
		ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION`, tb.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, col, refTable, refCol, onUpdate, onDelete string
		if err := rows.Scan(&name, &col, &refTable, &refCol, &onUpdate, &onDelete); err != nil {
			return err
		}
		if n := len(tb.ForeignKeys); n == 0 || tb.ForeignKeys[n-1].Name != name {
			tb.ForeignKeys = append(tb.ForeignKeys, record.ForeignKey{
				Name: name, RefTable: refTable, OnUpdate: onUpdate, OnDelete: onDelete,
			})
		}
		fk := &tb.ForeignKeys[len(tb.ForeignKeys)-1]
		fk.Columns = append(fk.Columns, col)
		fk.RefColumns = append(fk.RefColumns, refCol)
	}
	return rows.Err()
}

var jsonCheck = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("(?i)^\\s*json_valid\\(`((?:[^`]|``)+)`\\)\\s*$") })

// describeJSONChecks finds MariaDB JSON columns: longtext with a
// json_valid(col) check constraint.
func (s *Source) describeJSONChecks(ctx context.Context, tb *record.Table) error {
	rows, err := s.db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?`, tb.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return err
		}
		m := jsonCheck().FindStringSubmatch(clause)
		if m == nil {
			continue
		}
		name := strings.ReplaceAll(m[1], "``", "`")
		if c := tb.Column(name); c != nil && c.Type == record.Text && c.Length == 0 {
			c.Type = record.JSON
		}
	}
	return rows.Err()
}

// mapColumn maps one information_schema column to its logical type.
func mapColumn(dataType, colType string, length, prec, scale, dtPrec int) record.Column {
	dt := strings.ToLower(dataType)
	ct := strings.ToLower(colType)
	c := record.Column{Native: colType}
	unsigned := strings.Contains(ct, "unsigned")
	intType := func(bits int) {
		c.Type, c.Bits = record.Int, bits
		if unsigned {
			c.Type = record.Uint
		}
	}
	switch dt {
	case "tinyint":
		if strings.HasPrefix(ct, "tinyint(1)") {
			c.Type = record.Bool
		} else {
			intType(8)
		}
	case "bool", "boolean":
		c.Type = record.Bool
	case "smallint":
		intType(16)
	case "mediumint":
		intType(24)
	case "int", "integer":
		intType(32)
	case "bigint":
		intType(64)
	case "decimal", "numeric", "dec", "fixed":
		c.Type, c.Precision, c.Scale = record.Decimal, prec, scale
	case "float":
		c.Type, c.Bits = record.Float, 32
	case "double", "real", "double precision":
		c.Type, c.Bits = record.Float, 64
	case "char":
		c.Type, c.Length, c.Fixed = record.Text, length, true
	case "varchar":
		c.Type, c.Length = record.Text, length
	case "tinytext", "text", "mediumtext", "longtext":
		c.Type = record.Text
	case "binary":
		c.Type, c.Length, c.Fixed = record.Bytes, length, true
	case "varbinary":
		c.Type, c.Length = record.Bytes, length
	case "tinyblob", "blob", "mediumblob", "longblob":
		c.Type = record.Bytes
	case "date":
		c.Type = record.Date
	case "datetime":
		c.Type, c.Precision = record.Timestamp, dtPrec
	case "timestamp":
		c.Type, c.Precision = record.TimestampTZ, dtPrec
	case "time":
		c.Type, c.Precision = record.Time, dtPrec
	case "year":
		c.Type, c.Bits = record.Year, 16
	case "json":
		c.Type = record.JSON
	case "enum":
		c.Type, c.Values = record.Enum, parseValues(colType)
	case "set":
		c.Type, c.Values = record.Set, parseValues(colType)
	case "bit":
		c.Type, c.Bits = record.Bit, prec
	case "uuid":
		c.Type = record.UUID
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		c.Type = record.Bytes
	default:
		c.Type = record.Text
	}
	return c
}

// parseValues extracts the members of "enum('a','b”c')" / "set(...)".
func parseValues(colType string) []string {
	open := strings.IndexByte(colType, '(')
	end := strings.LastIndexByte(colType, ')')
	if open < 0 || end <= open {
		return nil
	}
	s := colType[open+1 : end]
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		var b strings.Builder
		for i++; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		out = append(out, b.String())
	}
	return out
}

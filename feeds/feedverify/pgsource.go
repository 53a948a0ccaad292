package feedverify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/postgres"
)

// DocID renders a document ID from the values of the feed's id columns:
// doc.ID, the rule the feed engine writes IDs with.
func DocID(vals []any) string { return doc.ID(vals) }

// TableSource yields one document per row of a PostgreSQL table: the id
// columns make the ID, the fields are the listed columns (all columns
// when none are listed). It reads the table in id order with keyset
// pagination, as the feed's backfill does (package sources/postgres), so
// the values are the ones the feed wrote.
type TableSource struct {
	src     *postgres.Source
	table   string
	id      []string
	columns []string
	batch   int
}

// NewTable returns a TableSource over pool (left open) for schema.table.
func NewTable(pool *pgxpool.Pool, schema, table string, id, columns []string) (*TableSource, error) {
	if len(id) == 0 {
		return nil, errors.New("feedverify: table source needs id columns")
	}
	return &TableSource{src: postgres.New(pool, schema), table: table, id: id, columns: columns, batch: 1000}, nil
}

// Columns describes the table's columns.
func (s *TableSource) Columns(ctx context.Context) ([]record.Column, error) {
	t, err := s.src.Describe(ctx, s.table)
	if err != nil {
		return nil, err
	}
	return t.Columns, nil
}

// EstimateDocs is PostgreSQL's estimate of the table's rows.
func (s *TableSource) EstimateDocs(ctx context.Context) (int64, error) {
	return s.src.EstimateRows(ctx, s.table)
}

// Docs reads the table.
func (s *TableSource) Docs(ctx context.Context, fn func([]doc.Doc) error) error {
	var cols []string // nil = all
	if len(s.columns) > 0 {
		cols = slices.Clone(s.columns)
		for _, c := range s.id {
			if !slices.Contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	q := sources.Query{Table: s.table, Columns: cols, OrderBy: s.id, BatchSize: s.batch}
	var docs []doc.Doc
	return s.src.Scan(ctx, q, func(b *record.Batch) error {
		idx := make([]int, len(s.id))
		for i, c := range s.id {
			idx[i] = -1
			for j, col := range b.Columns {
				if col.Name == c {
					idx[i] = j
				}
			}
			if idx[i] < 0 {
				return fmt.Errorf("id column %q not in the rows read", c)
			}
		}
		docs = docs[:0]
		ids := make([]any, len(idx))
		for _, row := range b.Rows {
			for i, j := range idx {
				ids[i] = row[j]
			}
			f := make(map[string]any, len(b.Columns))
			for j, col := range b.Columns {
				if len(s.columns) > 0 && !slices.Contains(s.columns, col.Name) {
					continue
				}
				f[col.Name] = row[j]
			}
			docs = append(docs, doc.Doc{ID: DocID(ids), Fields: f})
		}
		return fn(docs)
	})
}

// QuerySource yields the documents a feed's `documents:` query renders:
// the IDs come from a key-only scan of the table (one id column), in
// batches passed to the query as $1 (an array, used as `= ANY($1)`); each
// result row is one document, its ID rendered from the id column of the
// result, its fields every result column. Values are read as PostgreSQL's
// text, so nothing is lost on the way (json stays JSON text, numeric its
// decimal text) and compared by the columns' types.
type QuerySource struct {
	pool  *pgxpool.Pool
	src   *postgres.Source
	table string
	id    string
	query string
	batch int
	cols  []record.Column
	path  string // search_path the query runs with: the schema, then public
}

// NewQuery returns a QuerySource: query takes $1, an array of the id
// column's values.
func NewQuery(pool *pgxpool.Pool, schema, table, id, query string) (*QuerySource, error) {
	if id == "" || query == "" {
		return nil, errors.New("feedverify: query source needs an id column and a query")
	}
	path := "public"
	if schema != "" && schema != "public" {
		path = pgx.Identifier{schema}.Sanitize() + ", public"
	}
	return &QuerySource{pool: pool, src: postgres.New(pool, schema), table: table, id: id, query: query, batch: 1000, path: path}, nil
}

// run runs the documents query in a read-only transaction whose
// search_path is the store's schema, as the feed engine runs it (the
// query names its tables unqualified), and hands fn the rows.
func (s *QuerySource) run(ctx context.Context, fn func(pgx.Rows) error, args ...any) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", s.path); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, s.query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := fn(rows); err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
}

// Columns runs the query for no ID and describes its result columns.
func (s *QuerySource) Columns(ctx context.Context) ([]record.Column, error) {
	if s.cols != nil {
		return s.cols, nil
	}
	t, err := s.src.Describe(ctx, s.table)
	if err != nil {
		return nil, err
	}
	idCol := t.Column(s.id)
	if idCol == nil {
		return nil, fmt.Errorf("table %s has no column %q", s.table, s.id)
	}
	var cols []record.Column
	err = s.run(ctx, func(rows pgx.Rows) error {
		fds := rows.FieldDescriptions()
		cols = make([]record.Column, len(fds))
		for i, fd := range fds {
			cols[i] = oidColumn(fd.Name, fd.DataTypeOID)
		}
		return nil
	}, emptyArray(idCol.Type))
	if err != nil {
		return nil, fmt.Errorf("documents query: %w", err)
	}
	s.cols = cols
	return cols, nil
}

func emptyArray(t record.Type) any {
	switch t {
	case record.Int:
		return []int64{}
	default:
		return []string{}
	}
}

// EstimateDocs is PostgreSQL's estimate of the table's rows (one
// document per id).
func (s *QuerySource) EstimateDocs(ctx context.Context) (int64, error) {
	return s.src.EstimateRows(ctx, s.table)
}

// Docs scans the ids and renders their documents.
func (s *QuerySource) Docs(ctx context.Context, fn func([]doc.Doc) error) error {
	cols, err := s.Columns(ctx)
	if err != nil {
		return err
	}
	idx := slices.IndexFunc(cols, func(c record.Column) bool { return c.Name == s.id })
	if idx < 0 {
		return fmt.Errorf("documents query returns no column %q (the id)", s.id)
	}
	q := sources.Query{Table: s.table, Columns: []string{s.id}, OrderBy: []string{s.id}, BatchSize: s.batch}
	return s.src.Scan(ctx, q, func(b *record.Batch) error {
		if len(b.Rows) == 0 {
			return nil
		}
		var arg any
		switch b.Rows[0][0].(type) {
		case int64:
			ids := make([]int64, len(b.Rows))
			for i, r := range b.Rows {
				ids[i] = r[0].(int64)
			}
			arg = ids
		default:
			ids := make([]string, len(b.Rows))
			for i, r := range b.Rows {
				ids[i] = doc.IDPart(r[0])
			}
			arg = ids
		}
		var docs []doc.Doc
		err := s.run(ctx, func(rows pgx.Rows) error {
			idOID := rows.FieldDescriptions()[idx].DataTypeOID
			for rows.Next() {
				raw := rows.RawValues()
				f := make(map[string]any, len(cols))
				for i, c := range cols {
					f[c.Name] = textValue(c, raw[i])
				}
				id, err := idValue(rows.Conn().TypeMap(), idOID, raw[idx], f[s.id])
				if err != nil {
					return fmt.Errorf("id %q: %w", raw[idx], err)
				}
				docs = append(docs, doc.Doc{ID: DocID([]any{id}), Fields: f})
			}
			return rows.Err()
		}, pgx.QueryResultFormats{pgx.TextFormatCode}, arg)
		if err != nil {
			return fmt.Errorf("documents query: %w", err)
		}
		return fn(docs)
	})
}

// idValue is the id column's value as the feed engine sees it when it
// renders the ID: the engine reads the documents query in binary, so a
// date or time id is a time.Time there (RFC 3339 in the ID), not
// PostgreSQL's text ("2024-03-01 10:02:01+00"). Other types' text is the
// same on both sides.
func idValue(m *pgtype.Map, oid uint32, raw []byte, text any) (any, error) {
	switch oid {
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
	default:
		return text, nil
	}
	if raw == nil {
		return nil, nil
	}
	t, ok := m.TypeForOID(oid)
	if !ok {
		return text, nil
	}
	v, err := t.Codec.DecodeValue(m, oid, pgx.TextFormatCode, raw)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// textValue is a value PostgreSQL sent as text: NULL is nil, bytea
// ("\x0a0b") its bytes, anything else the text, which Canonical reads as
// the column's type.
func textValue(c record.Column, raw []byte) any {
	if raw == nil {
		return nil
	}
	s := string(raw)
	if c.Type == record.Bytes && strings.HasPrefix(s, `\x`) {
		if b, err := hex.DecodeString(s[2:]); err == nil {
			return b
		}
	}
	return s
}

// oidColumn maps a result column's type to a record column.
func oidColumn(name string, oid uint32) record.Column {
	c := record.Column{Name: name, Type: record.Text}
	switch oid {
	case pgtype.Int2OID:
		c.Type, c.Bits = record.Int, 16
	case pgtype.Int4OID:
		c.Type, c.Bits = record.Int, 32
	case pgtype.Int8OID:
		c.Type, c.Bits = record.Int, 64
	case pgtype.NumericOID:
		c.Type = record.Decimal
	case pgtype.Float4OID:
		c.Type, c.Bits = record.Float, 32
	case pgtype.Float8OID:
		c.Type, c.Bits = record.Float, 64
	case pgtype.BoolOID:
		c.Type = record.Bool
	case pgtype.ByteaOID:
		c.Type = record.Bytes
	case pgtype.DateOID:
		c.Type = record.Date
	case pgtype.TimestampOID:
		c.Type = record.Timestamp
	case pgtype.TimestamptzOID:
		c.Type = record.TimestampTZ
	case pgtype.TimeOID:
		c.Type = record.Time
	case pgtype.JSONOID, pgtype.JSONBOID:
		c.Type = record.JSON
	case pgtype.UUIDOID:
		c.Type = record.UUID
	case pgtype.BPCharOID:
		c.Fixed = true
	}
	return c
}

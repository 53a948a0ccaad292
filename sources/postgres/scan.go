package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// query is a resolved sources.Query.
type query struct {
	m     *meta
	cols  []int // selected columns
	order []int // order columns
}

func (s *Source) resolve(m *meta, columns, orderBy []string) (*query, error) {
	t := m.table
	q := &query{m: m}
	col := func(name string) (int, error) {
		i := t.ColumnIndex(name)
		if i < 0 {
			return 0, s.notFound("column", t.Name+"."+name)
		}
		return i, nil
	}
	if columns == nil {
		for i := range t.Columns {
			q.cols = append(q.cols, i)
		}
	}
	for _, c := range columns {
		i, err := col(c)
		if err != nil {
			return nil, err
		}
		q.cols = append(q.cols, i)
	}
	for _, c := range orderBy {
		i, err := col(c)
		if err != nil {
			return nil, err
		}
		q.order = append(q.order, i)
	}
	return q, nil
}

// selectList is the selected columns followed by the raw order columns
// (to carry the position from page to page).
func (q *query) selectList() string {
	var b strings.Builder
	for j, i := range q.cols {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q.m.exprs[i])
	}
	for _, i := range q.order {
		b.WriteString(", ")
		b.WriteString(quote(q.m.table.Columns[i].Name))
	}
	return b.String()
}

// tuple is "(a, b)" of the order columns.
func (q *query) tuple() string {
	names := make([]string, len(q.order))
	for j, i := range q.order {
		names[j] = quote(q.m.table.Columns[i].Name)
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// params appends vals as parameters and returns "($n, $m)".
func params(args *[]any, vals []any) string {
	ph := make([]string, len(vals))
	for i, v := range vals {
		*args = append(*args, v)
		ph[i] = "$" + strconv.Itoa(len(*args))
	}
	return "(" + strings.Join(ph, ", ") + ")"
}

// Scan streams the rows selected by sq in OrderBy order (default: the
// primary key; without either, in no particular order and without
// After/Upto).
func (s *Source) Scan(ctx context.Context, sq sources.Query, emit func(*record.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := s.meta(ctx, sq.Table)
	if err != nil {
		return err
	}
	orderBy := sq.OrderBy
	if len(orderBy) == 0 {
		orderBy = m.table.Key
	}
	q, err := s.resolve(m, sq.Columns, orderBy)
	if err != nil {
		return err
	}
	for _, k := range []record.Key{sq.After, sq.Upto} {
		if k != nil && len(k) != len(q.order) {
			return fmt.Errorf("postgres: scan %s: bound %v has %d values, order key %v has %d", sq.Table, k, len(k), orderBy, len(q.order))
		}
	}
	if len(q.order) == 0 && (sq.After != nil || sq.Upto != nil) {
		return fmt.Errorf("postgres: scan %s: After/Upto: %w", sq.Table, errNoKey)
	}
	size := sq.BatchSize
	if size <= 0 {
		size = 1000
	}
	if sq.Limit > 0 && sq.Limit < size {
		size = sq.Limit
	}
	// Paging by the order key is exact only when it is unique: when it
	// holds the whole primary key.
	paged := len(m.table.Key) > 0 && len(q.order) > 0
	for _, k := range m.table.Key {
		if !slices.Contains(orderBy, k) {
			paged = false
		}
	}
	var filters []string
	var base []any
	if sq.Upto != nil {
		filters = append(filters, q.tuple()+" <= "+params(&base, sq.Upto))
	}
	if sq.Version != "" && (sq.VersionFrom != nil || sq.VersionUntil != nil) {
		if m.table.ColumnIndex(sq.Version) < 0 {
			return s.notFound("column", sq.Table+"."+sq.Version)
		}
		if sq.VersionFrom != nil {
			filters = append(filters, quote(sq.Version)+" >= "+params(&base, []any{sq.VersionFrom}))
		}
		if sq.VersionUntil != nil {
			filters = append(filters, quote(sq.Version)+" <= "+params(&base, []any{sq.VersionUntil}))
		}
	}
	orderSQL := ""
	if len(q.order) > 0 {
		orderSQL = " ORDER BY " + strings.Trim(q.tuple(), "()")
	}
	batch := &record.Batch{}
	for _, i := range q.cols {
		batch.Columns = append(batch.Columns, m.table.Columns[i])
	}
	flat := make([]any, size*len(q.cols))
	after := sq.After
	taken := 0
	for {
		args := slices.Clone(base)
		where := slices.Clone(filters)
		if after != nil {
			where = append(where, q.tuple()+" > "+params(&args, after))
		}
		sql := "SELECT " + q.selectList() + " FROM " + s.ident(sq.Table)
		if len(where) > 0 {
			sql += " WHERE " + strings.Join(where, " AND ")
		}
		sql += orderSQL
		if paged {
			limit := size
			if sq.Limit > 0 {
				limit = min(size, sq.Limit-taken)
			}
			sql += " LIMIT " + strconv.Itoa(limit)
		} else if sq.Limit > 0 {
			sql += " LIMIT " + strconv.Itoa(sq.Limit)
		}
		n, last, err := s.run(ctx, q, sql, args, batch, flat, size, emit)
		taken += n
		if err != nil {
			return fmt.Errorf("postgres: scan %s: %w", sq.Table, err)
		}
		if !paged || n < size || (sq.Limit > 0 && taken >= sq.Limit) {
			return nil
		}
		after = last
	}
}

// run executes one query, emitting full batches as they fill and the rest
// at the end. It returns the row count and the order values of the last
// row.
func (s *Source) run(ctx context.Context, q *query, sql string, args []any, batch *record.Batch, flat []any, size int, emit func(*record.Batch) error) (int, record.Key, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	n := 0
	var last record.Key
	nc := len(q.cols)
	batch.Rows = batch.Rows[:0]
	flush := func() error {
		if len(batch.Rows) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(batch); err != nil {
			return err
		}
		batch.Rows = batch.Rows[:0]
		return nil
	}
	for rows.Next() {
		raw, err := rows.Values()
		if err != nil {
			return n, nil, err
		}
		k := len(batch.Rows)
		vals := flat[k*nc : (k+1)*nc : (k+1)*nc]
		for j, i := range q.cols {
			vals[j] = convert(q.m.table.Columns[i].Type, raw[j])
		}
		last = raw[nc:]
		batch.Rows = append(batch.Rows, vals)
		n++
		if len(batch.Rows) == size {
			if err := flush(); err != nil {
				return n, nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, nil, err
	}
	return n, last, flush()
}

// convert turns a value pgx decoded into the record Go type of t.
func convert(t record.Type, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case string:
		if t == record.Decimal && (x == "NaN" || strings.HasSuffix(x, "Infinity")) {
			return record.Invalid{Raw: x, Reason: "numeric is not a finite number"}
		}
		return x
	case int64, bool:
		return x
	case float32:
		return float64(x)
	case float64:
		return x
	case []byte:
		return x
	case time.Time:
		if t == record.TimestampTZ {
			return x.UTC()
		}
		return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
	case pgtype.Numeric:
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			s, _ := x.Value()
			return record.Invalid{Raw: fmt.Sprint(s), Reason: "numeric is not a finite number"}
		}
		s, err := x.Value()
		if err != nil {
			return record.Invalid{Reason: err.Error()}
		}
		return s.(string)
	case pgtype.Date:
		return record.Invalid{Raw: fmt.Sprint(x.InfinityModifier), Reason: "infinite date"}
	case pgtype.Timestamp:
		return record.Invalid{Raw: fmt.Sprint(x.InfinityModifier), Reason: "infinite timestamp"}
	case pgtype.Timestamptz:
		return record.Invalid{Raw: fmt.Sprint(x.InfinityModifier), Reason: "infinite timestamp"}
	}
	return record.Invalid{Raw: fmt.Sprint(v), Reason: fmt.Sprintf("unexpected %T for a %s column", v, t)}
}

// Get returns the rows whose key columns equal one of ids, in key order,
// with at most 1000 ids per query.
func (s *Source) Get(ctx context.Context, table string, columns, key []string, ids []record.Key) (*record.Batch, error) {
	m, err := s.meta(ctx, table)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		key = m.table.Key
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("postgres: get %s: %w", table, errNoKey)
	}
	q, err := s.resolve(m, columns, key)
	if err != nil {
		return nil, err
	}
	out := &record.Batch{}
	for _, i := range q.cols {
		out.Columns = append(out.Columns, m.table.Columns[i])
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 1000)]
		ids = ids[len(chunk):]
		var args []any
		lists := make([]string, len(chunk))
		for i, id := range chunk {
			if len(id) != len(key) {
				return nil, fmt.Errorf("postgres: get %s: id %v has %d values, key %v has %d", table, id, len(id), key, len(key))
			}
			lists[i] = params(&args, id)
		}
		sql := "SELECT " + q.selectList() + " FROM " + s.ident(table) + " WHERE " + q.tuple() + " IN (" + strings.Join(lists, ", ") + ")"
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("postgres: get %s: %w", table, err)
		}
		for rows.Next() {
			raw, err := rows.Values()
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: get %s: %w", table, err)
			}
			vals := make([]any, len(q.cols))
			for j, i := range q.cols {
				vals[j] = convert(m.table.Columns[i].Type, raw[j])
			}
			out.Rows = append(out.Rows, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: get %s: %w", table, err)
		}
	}
	return out, nil
}

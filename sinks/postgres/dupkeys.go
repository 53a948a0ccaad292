package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/transitdb/transit/sinks"
)

// isCardinalityViolation reports SQLSTATE 21000: an INSERT … ON CONFLICT DO
// UPDATE met the same key twice in its rows.
func isCardinalityViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "21000"
}

// rejectEqualKeys finds the rows of idx whose key, converted to the
// target's types, equals the key of an earlier row of idx (numeric 1.0 and
// 1.00, a case-insensitive collation), rejects them as duplicate keys in the
// source, and returns the other rows. It copies the keys with their batch
// positions into a temporary table inside a savepoint that it rolls back.
func (w *run) rejectEqualKeys(ctx context.Context, tx pgx.Tx, idx []int) ([]int, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer sp.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	keys := make([]string, len(w.p.keyPos))
	quoted := make([]string, len(w.p.keyPos))
	for i, pos := range w.p.keyPos {
		keys[i] = w.p.names[pos]
		quoted[i] = quoteIdent(keys[i])
	}
	cols := strings.Join(quoted, ", ")
	if _, err := sp.Exec(ctx, "CREATE TEMP TABLE transit_keycheck ON COMMIT DROP AS SELECT 0::bigint AS transit_pos, "+cols+
		" FROM "+w.p.target.Sanitize()+" WITH NO DATA"); err != nil {
		return nil, fmt.Errorf("check keys: %w", err)
	}
	rows := w.cv.rows
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"transit_keycheck"}, append([]string{"transit_pos"}, keys...),
		pgx.CopyFromSlice(len(idx), func(i int) ([]any, error) {
			row := rows[idx[i]]
			vals := make([]any, 1, 1+len(w.p.keyPos))
			vals[0] = int64(i)
			for _, pos := range w.p.keyPos {
				vals = append(vals, row[pos])
			}
			return vals, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("check keys: %w", err)
	}
	q := "SELECT transit_pos, first FROM (SELECT transit_pos, first_value(transit_pos) OVER w AS first, row_number() OVER w AS n FROM transit_keycheck WINDOW w AS (PARTITION BY " +
		cols + " ORDER BY transit_pos)) x WHERE n > 1 ORDER BY transit_pos"
	res, err := sp.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("check keys: %w", err)
	}
	dup := map[int64]int64{}
	for res.Next() {
		var pos, first int64
		if err := res.Scan(&pos, &first); err != nil {
			res.Close()
			return nil, fmt.Errorf("check keys: %w", err)
		}
		dup[pos] = first
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("check keys: %w", err)
	}
	keep := make([]int, 0, len(idx)-len(dup))
	for i, row := range idx {
		first, ok := dup[int64(i)]
		if !ok {
			keep = append(keep, row)
			continue
		}
		w.rejects = append(w.rejects, sinks.Reject{Row: row, Reason: fmt.Sprintf(
			"duplicate key in source: in the target its key (%s) equals that of an earlier row, which is kept: %s",
			strings.Join(keys, ", "), w.keyText(idx[first]))})
	}
	return keep, nil
}

// keyText renders the key values of batch row i.
func (w *run) keyText(i int) string {
	parts := make([]string, len(w.p.keyPos))
	for j, pos := range w.p.keyPos {
		parts[j] = fmt.Sprintf("%s=%v", w.p.names[pos], w.cv.rows[i][pos])
	}
	return strings.Join(parts, ", ")
}

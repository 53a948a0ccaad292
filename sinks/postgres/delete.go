package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/record"
)

// Delete removes the rows of t whose key equals one of ids, in batches of
// at most 1000 IDs, in one transaction. It implements sinks.Deleter.
func (s *Sink) Delete(ctx context.Context, t *record.Table, ids []record.Key) (int, error) {
	if len(t.Key) == 0 {
		return 0, fmt.Errorf("delete from %s: the table has no key", t.Name)
	}
	keyCols := make([]string, len(t.Key))
	for i, k := range t.Key {
		keyCols[i] = quoteIdent(k)
	}
	total := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for start := 0; start < len(ids); start += 1000 {
			chunk := ids[start:min(start+1000, len(ids))]
			var b strings.Builder
			args := make([]any, 0, len(chunk)*len(t.Key))
			fmt.Fprintf(&b, "DELETE FROM %s WHERE (%s) IN (", s.ident(t.Name), strings.Join(keyCols, ", "))
			for i, id := range chunk {
				if len(id) != len(t.Key) {
					return fmt.Errorf("delete from %s: id %v has %d values, the key %d", t.Name, id, len(id), len(t.Key))
				}
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(")
				for j, v := range id {
					if j > 0 {
						b.WriteString(", ")
					}
					args = append(args, v)
					fmt.Fprintf(&b, "$%d", len(args))
				}
				b.WriteString(")")
			}
			b.WriteString(")")
			tag, err := tx.Exec(ctx, b.String(), args...)
			if err != nil {
				return err
			}
			total += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", t.Name, err)
	}
	return total, nil
}

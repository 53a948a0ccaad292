package port

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sources"
)

// Repair ports the records of e with the given IDs again, through the same
// write path as a run: fetched from the source by ID and upserted into the
// target (newest write wins: the source is the truth). IDs the source no
// longer holds are left alone; Delete removes extras. A row the target
// refuses makes Repair fail, naming it.
func Repair(ctx context.Context, e *Entity, ids []record.Key) error {
	if e.Sink == nil || e.Target == nil {
		return fmt.Errorf("entity %s has no target to repair", e.Name)
	}
	g, ok := e.Source.(sources.Getter)
	if !ok {
		return fmt.Errorf("entity %s: store %s cannot fetch records by ID, so it cannot repair", e.Name, e.Spec.FromStore)
	}
	for start := 0; start < len(ids); start += e.Spec.BatchSize {
		chunk := ids[start:min(start+e.Spec.BatchSize, len(ids))]
		b, err := g.Get(ctx, e.Spec.FromTable, e.Read, e.Key, chunk)
		if err != nil {
			return fmt.Errorf("repair %s: fetch: %w", e.Name, err)
		}
		if b.Len() == 0 {
			continue
		}
		rows := make([][]any, len(b.Rows))
		for i, r := range b.Rows {
			rows[i] = append([]any(nil), r...)
		}
		res, err := e.Sink.Write(ctx, e.Target, &record.Batch{Columns: e.Target.Columns, Rows: rows}, sinks.WriteOptions{})
		if err != nil {
			return fmt.Errorf("repair %s: write: %w", e.Name, err)
		}
		if len(res.Rejects) > 0 {
			var msgs []string
			for _, rj := range res.Rejects {
				key := make([]any, len(e.KeyIdx))
				for j, ix := range e.KeyIdx {
					key[j] = rows[rj.Row][ix]
				}
				msgs = append(msgs, fmt.Sprintf("id %v: %s", key, rj.Reason))
			}
			return fmt.Errorf("repair %s: the target refused %d rows: %s", e.Name, len(msgs), strings.Join(msgs, "; "))
		}
	}
	return nil
}

// Delete removes the records of e with the given IDs from the target.
func Delete(ctx context.Context, e *Entity, ids []record.Key) error {
	d, ok := e.Sink.(sinks.Deleter)
	if !ok {
		return errors.New("the target store cannot delete records")
	}
	_, err := d.Delete(ctx, e.Target, ids)
	return err
}

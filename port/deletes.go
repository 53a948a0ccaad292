package port

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks"
)

// ErrCannotDelete says an entity's target store cannot delete records.
var ErrCannotDelete = errors.New("the target store cannot delete records")

// CanDelete reports whether e's target can delete records by ID, naming
// the entity and store when it cannot.
func CanDelete(e *Entity) error {
	if e.Target == nil || e.Sink == nil {
		return fmt.Errorf("entity %s has no target", e.Name)
	}
	if _, ok := e.Sink.(sinks.Deleter); !ok {
		return fmt.Errorf("entity %s: store %s: %w", e.Name, e.Spec.ToStore, ErrCannotDelete)
	}
	return nil
}

// DeleteKeys removes the records of e with the given IDs from the target
// in one transaction and returns how many rows it removed; IDs already
// gone are not an error, so a replay is a no-op. Transient errors
// (a dropped connection, a deadlock) are retried with backoff.
func DeleteKeys(ctx context.Context, e *Entity, ids []record.Key) (int, error) {
	if err := CanDelete(e); err != nil {
		return 0, err
	}
	d := e.Sink.(sinks.Deleter)
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 2 * time.Minute
	bo := backoff.WithContext(b, ctx)
	for {
		n, err := d.Delete(ctx, e.Target, ids)
		if err == nil || !border.IsTransient(err) {
			if err != nil {
				return n, fmt.Errorf("delete from %s.%s: %w", e.Spec.ToStore, e.Target.Name, err)
			}
			return n, nil
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			return 0, fmt.Errorf("delete from %s.%s: %w", e.Spec.ToStore, e.Target.Name, err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return 0, fmt.Errorf("delete from %s.%s: %w", e.Spec.ToStore, e.Target.Name, err)
		}
	}
}

// DeleteCounts is where a --deletes pass of one entity stands.
type DeleteCounts struct {
	RowsOld, RowsNew        int64
	Chunks, ChunksDiffering int
	Found, Kept, Deleted    int64
}

// DeletesLog records one --deletes pass of one entity in the ledger
// (transit.deletes): a row marked running when it starts, its counts kept
// current while it works, and done or failed at the end. A pass killed
// with -9 leaves its row running, with the rows it had deleted up to its
// last update.
type DeletesLog struct {
	pool    *pgxpool.Pool
	ID      int64
	Started time.Time
	// Unfinished lists earlier passes of the same entity whose row is
	// still running: killed, or running right now in another process.
	Unfinished []UnfinishedDeletes
}

// UnfinishedDeletes is an earlier pass that never finished.
type UnfinishedDeletes struct {
	ID       int64
	Started  time.Time
	LastSeen time.Time
	Deleted  int64
}

// StartDeletes records the start of a --deletes pass of entity in plan's
// ledger (pool, migrated), after run runID (0: none).
func StartDeletes(ctx context.Context, pool *pgxpool.Pool, plan, entity string, runID int64) (*DeletesLog, error) {
	l := &DeletesLog{pool: pool}
	rows, err := pool.Query(ctx, `SELECT id, started_at, updated_at, deleted FROM transit.deletes
		WHERE plan = $1 AND entity = $2 AND status = 'running' ORDER BY id`, plan, entity)
	if err != nil {
		return nil, fmt.Errorf("ledger: deletes of %s: %w", entity, err)
	}
	for rows.Next() {
		var u UnfinishedDeletes
		if err := rows.Scan(&u.ID, &u.Started, &u.LastSeen, &u.Deleted); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: deletes of %s: %w", entity, err)
		}
		l.Unfinished = append(l.Unfinished, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: deletes of %s: %w", entity, err)
	}
	var run any
	if runID != 0 {
		run = runID
	}
	err = pool.QueryRow(ctx, `INSERT INTO transit.deletes (plan, entity, run_id) VALUES ($1, $2, $3)
		RETURNING id, started_at`, plan, entity, run).Scan(&l.ID, &l.Started)
	if err != nil {
		return nil, fmt.Errorf("ledger: start deletes of %s: %w", entity, err)
	}
	return l, nil
}

// Update keeps the pass's counts current, but for Deleted (see Deleted).
func (l *DeletesLog) Update(ctx context.Context, c DeleteCounts) error {
	_, err := l.pool.Exec(ctx, `UPDATE transit.deletes SET updated_at = now(), rows_old = $2, rows_new = $3,
		chunks = $4, chunks_differing = $5, found = $6, kept = $7 WHERE id = $1`,
		l.ID, c.RowsOld, c.RowsNew, c.Chunks, c.ChunksDiffering, c.Found, c.Kept)
	if err != nil {
		return fmt.Errorf("ledger: deletes %d: %w", l.ID, err)
	}
	return nil
}

// Deleted adds n rows to the pass's count, right after a batch of deletes
// commits: a pass killed later has counted them (all but, at most, the
// batch whose commit the kill fell after).
func (l *DeletesLog) Deleted(ctx context.Context, n int) error {
	_, err := l.pool.Exec(ctx, `UPDATE transit.deletes SET updated_at = now(), deleted = deleted + $2 WHERE id = $1`, l.ID, n)
	if err != nil {
		return fmt.Errorf("ledger: deletes %d: %w", l.ID, err)
	}
	return nil
}

// Finish records the end of the pass: done when passErr is nil,
// interrupted when it is a cancelled context (a signal), else failed with
// its message. A pass done marks the earlier unfinished ones that stopped
// before it began interrupted: it did their work.
func (l *DeletesLog) Finish(ctx context.Context, c DeleteCounts, passErr error) error {
	status, msg := "done", any(nil)
	switch {
	case errors.Is(passErr, context.Canceled):
		status, msg = "interrupted", passErr.Error()
	case passErr != nil:
		status, msg = "failed", passErr.Error()
	}
	return pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var plan, entity string
		err := tx.QueryRow(ctx, `UPDATE transit.deletes SET status = $2, error = $3, finished_at = now(), updated_at = now(),
			rows_old = $4, rows_new = $5, chunks = $6, chunks_differing = $7, found = $8, kept = $9, deleted = $10
			WHERE id = $1 RETURNING plan, entity`,
			l.ID, status, msg, c.RowsOld, c.RowsNew, c.Chunks, c.ChunksDiffering, c.Found, c.Kept, c.Deleted).Scan(&plan, &entity)
		if err != nil {
			return fmt.Errorf("ledger: finish deletes %d: %w", l.ID, err)
		}
		if status != "done" {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE transit.deletes SET status = 'interrupted', finished_at = now()
			WHERE plan = $1 AND entity = $2 AND status = 'running' AND id < $3 AND updated_at < $4`,
			plan, entity, l.ID, l.Started)
		if err != nil {
			return fmt.Errorf("ledger: finish deletes %d: %w", l.ID, err)
		}
		return nil
	})
}

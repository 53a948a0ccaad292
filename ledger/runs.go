package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/internal/pgconf"
	"github.com/transitdb/transit/record"
)

// Ledger is one process's handle on the ledger. It holds one session
// connection for its whole life: the backend pid of that session marks the
// leases this process owns, so when the process dies (kill -9 included)
// the server closes the session and other processes take the chunks over
// at once instead of waiting for the lease to expire. Through a
// transaction-pooling pooler (see internal/pgconf) leases carry no pid and
// a dead process's chunks are taken over when their lease expires.
type Ledger struct {
	Pool    *pgxpool.Pool
	Owner   string
	mu      sync.Mutex // guards session and pid
	session *pgxpool.Conn
	pid     int32
	pooled  bool // through a transaction pooler: no stable backend pid
}

// sessionPid is the backend pid that marks this process's leases, or 0
// when the ledger is reached through a transaction-pooling pooler: there
// the pid is that of whichever server connection answered, alive whether
// or not this process is, so leases are judged by their TTL alone.
func (l *Ledger) sessionPid(ctx context.Context, conn *pgxpool.Conn) (int32, error) {
	if l.pooled {
		return 0, nil
	}
	var pid int32
	err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	return pid, err
}

// leasePid is the pid to store with a lease: NULL when it has none.
func leasePid(pid int32) any {
	if pid == 0 {
		return nil
	}
	return pid
}

// Open migrates the ledger and takes the session connection.
func Open(ctx context.Context, pool *pgxpool.Pool) (*Ledger, error) {
	if err := Migrate(ctx, pool); err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := &Ledger{Pool: pool, pooled: pgconf.Pooled(pool.Config().ConnConfig)}
	pid, err := l.sessionPid(ctx, conn)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	host, _ := os.Hostname()
	l.session, l.pid, l.Owner = conn, pid, fmt.Sprintf("%s:%d:%d", host, os.Getpid(), pid)
	return l, nil
}

// Close releases the session connection.
func (l *Ledger) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session != nil {
		l.session.Release()
		l.session = nil
	}
}

// ErrIncompatibleRun says another run of the same plan, made from a
// different version of the plan file, is still in progress.
type ErrIncompatibleRun struct {
	RunID   int64
	Started time.Time
}

func (e *ErrIncompatibleRun) Error() string {
	return fmt.Sprintf("run %d of this plan (started %s) is still in progress with a different version of the plan; "+
		"finish it with the plan it started with, or abandon it with `transit run --abandon`", e.RunID, e.Started.Format(time.RFC3339))
}

// ErrLeaseLost says a chunk's lease moved to another worker (or its
// position moved) since this worker leased it; the worker must drop it.
var ErrLeaseLost = errors.New("chunk lease lost to another worker")

// EntityPlan is what a new run does for one entity.
type EntityPlan struct {
	Entity      string
	Mode        string // backfill | catchup
	Fresh       bool   // target was empty when the run was planned
	VersionFrom any    // catch-up lower bound (inclusive)
	StartMax    any    // backfill: the highest version when the run was planned
	Rows        int64  // rows planned (exact for backfill)
	Priority    int    // workers lease the entities of lower priority first
	Chunks      []Bounds
}

// Bounds is a chunk's key range (Lo, Hi]; nil = unbounded. An Open chunk
// has no Hi yet: the worker that leases it cuts it (see Cut), so a large
// table is divided while it is being copied instead of before.
type Bounds struct {
	Lo, Hi record.Key
	Open   bool
}

// Run is a run this process takes part in.
type Run struct {
	ID       int64
	Plan     string
	Joined   bool // true when the run already existed
	Started  time.Time
	Entities map[string]*RunEntity
}

// RunEntity is a run's state of one entity.
type RunEntity struct {
	Entity      string
	Mode        string
	Fresh       bool
	VersionFrom any
	StartMax    any
	Rows        int64
}

func planLock(plan string) int64 {
	h := fnv.New64a()
	h.Write([]byte("transit-plan:" + plan))
	return int64(h.Sum64())
}

// StartOrJoin joins the active run of plan when one exists with the same
// hash, or creates a new one from build's entity plans. It holds an
// advisory lock on the plan name while it looks and builds, so processes
// started together agree on one run.
func (l *Ledger) StartOrJoin(ctx context.Context, plan, hash string, until *time.Time, build func(ctx context.Context) ([]EntityPlan, error)) (*Run, error) {
	var run *Run
	err := pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", planLock(plan)); err != nil {
			return err
		}
		var id int64
		var h string
		var started time.Time
		err := tx.QueryRow(ctx, "SELECT id, plan_hash, started_at FROM transit.runs WHERE plan = $1 AND status = 'running'", plan).Scan(&id, &h, &started)
		switch {
		case err == nil:
			if h != hash {
				return &ErrIncompatibleRun{RunID: id, Started: started}
			}
			run = &Run{ID: id, Plan: plan, Joined: true, Started: started}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		eps, err := build(ctx)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "INSERT INTO transit.runs (plan, plan_hash, until_ts) VALUES ($1, $2, $3) RETURNING id, started_at",
			plan, hash, until).Scan(&id, &started); err != nil {
			return err
		}
		run = &Run{ID: id, Plan: plan, Started: started}
		for _, ep := range eps {
			from, err := encodeValue(ep.VersionFrom)
			if err != nil {
				return err
			}
			smax, err := encodeValue(ep.StartMax)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO transit.run_entities (run_id, entity, mode, fresh, version_from, start_max, rows_planned, priority)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, ep.Entity, ep.Mode, ep.Fresh, from, smax, ep.Rows, ep.Priority); err != nil {
				return err
			}
			rows := make([][]any, len(ep.Chunks))
			for i, c := range ep.Chunks {
				lo, err := encodeKey(c.Lo)
				if err != nil {
					return err
				}
				hi, err := encodeKey(c.Hi)
				if err != nil {
					return err
				}
				rows[i] = []any{id, ep.Entity, i, lo, hi, c.Open}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"transit", "chunks"}, []string{"run_id", "entity", "chunk_no", "lo", "hi", "open"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var inc *ErrIncompatibleRun
		if errors.As(err, &inc) {
			return nil, err
		}
		return nil, fmt.Errorf("ledger: start run: %w", err)
	}
	ents, err := l.runEntities(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	run.Entities = ents
	return run, nil
}

func (l *Ledger) runEntities(ctx context.Context, runID int64) (map[string]*RunEntity, error) {
	rows, err := l.Pool.Query(ctx, "SELECT entity, mode, fresh, version_from, start_max, rows_planned FROM transit.run_entities WHERE run_id = $1", runID)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	out := map[string]*RunEntity{}
	for rows.Next() {
		var e RunEntity
		var from, smax []byte
		if err := rows.Scan(&e.Entity, &e.Mode, &e.Fresh, &from, &smax, &e.Rows); err != nil {
			return nil, err
		}
		if e.VersionFrom, err = decodeValue(from); err != nil {
			return nil, err
		}
		if e.StartMax, err = decodeValue(smax); err != nil {
			return nil, err
		}
		out[e.Entity] = &e
	}
	return out, rows.Err()
}

// Abandon marks the active run of plan failed so the next run starts anew.
func (l *Ledger) Abandon(ctx context.Context, plan string) (int64, error) {
	var id int64
	err := l.Pool.QueryRow(ctx, `UPDATE transit.runs SET status = 'failed', finished_at = now(), error = 'abandoned'
		WHERE plan = $1 AND status = 'running' RETURNING id`, plan).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// Chunk is a leased chunk.
type Chunk struct {
	RunID      int64
	Entity     string
	No         int
	Lo, Hi     record.Key
	Position   record.Key // last key written; nil = none
	MaxVersion any
	Attempts   int
	Open       bool // Hi not cut yet
	posJSON    []byte
}

// ensureSession replaces the session connection when the server closed it
// (a restart, pg_terminate_backend): leases are then taken under the new
// session's pid. The old pid's leases look dead to every worker, which is
// right: the compare-and-set on positions keeps a batch from being written
// twice whoever picks the chunk up.
func (l *Ledger) ensureSession(ctx context.Context) error {
	if l.session != nil && !l.session.Conn().IsClosed() {
		if err := l.session.Ping(ctx); err == nil {
			return nil
		}
	}
	if l.session != nil {
		l.session.Release()
		l.session = nil
	}
	conn, err := l.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	pid, err := l.sessionPid(ctx, conn)
	if err != nil {
		conn.Release()
		return fmt.Errorf("ledger: %w", err)
	}
	l.session, l.pid = conn, pid
	return nil
}

// Lease takes one pending chunk of the run, of one of entities (all when
// nil), whose lease is free, expired, or held by a session that no longer
// exists: the one of the lowest entity priority, then the lowest chunk
// number. It returns nil when none is.
func (l *Ledger) Lease(ctx context.Context, runID int64, ttl time.Duration, entities []string) (*Chunk, error) {
	return l.lease(ctx, runID, ttl, entities, 0)
}

// LeaseOpen takes, as Lease does, an open chunk of an entity that has
// fewer than ahead chunks cut and free to lease, for the caller to cut
// more (see Cut) and Release. It returns nil when none is.
func (l *Ledger) LeaseOpen(ctx context.Context, runID int64, ttl time.Duration, entities []string, ahead int) (*Chunk, error) {
	return l.lease(ctx, runID, ttl, entities, max(1, ahead))
}

func (l *Ledger) lease(ctx context.Context, runID int64, ttl time.Duration, entities []string, ahead int) (*Chunk, error) {
	l.mu.Lock()
	err := l.ensureSession(ctx)
	pid := l.pid
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var c Chunk
	var lo, hi, pos, mv []byte
	err = l.Pool.QueryRow(ctx, `UPDATE transit.chunks c
		SET lease_owner = $2, lease_pid = $3, lease_until = now() + $4 * interval '1 millisecond', attempts = attempts + 1
		WHERE (c.run_id, c.entity, c.chunk_no) = (
			SELECT k.run_id, k.entity, k.chunk_no FROM transit.chunks k
			JOIN transit.run_entities e ON e.run_id = k.run_id AND e.entity = k.entity
			WHERE k.run_id = $1 AND k.status = 'pending' AND ($5::text[] IS NULL OR k.entity = ANY($5))
			  AND (k.lease_owner IS NULL OR k.lease_until < now()
			       OR (k.lease_pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = k.lease_pid)))
			  AND ($6 = 0 OR (k.open AND (SELECT count(*) FROM transit.chunks j
			       WHERE j.run_id = k.run_id AND j.entity = k.entity AND j.status = 'pending'
			         AND NOT j.open AND j.lease_owner IS NULL) < $6))
			ORDER BY e.priority, k.chunk_no, k.entity
			LIMIT 1 FOR UPDATE OF k SKIP LOCKED)
		RETURNING c.run_id, c.entity, c.chunk_no, c.lo, c.hi, c.position, c.max_version, c.attempts, c.open`,
		runID, l.Owner, leasePid(pid), ttl.Milliseconds(), entities, ahead).Scan(&c.RunID, &c.Entity, &c.No, &lo, &hi, &pos, &mv, &c.Attempts, &c.Open)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: lease: %w", err)
	}
	if c.Lo, err = record.DecodeKey(lo); err != nil {
		return nil, err
	}
	if c.Hi, err = record.DecodeKey(hi); err != nil {
		return nil, err
	}
	if c.Position, err = record.DecodeKey(pos); err != nil {
		return nil, err
	}
	if c.MaxVersion, err = decodeValue(mv); err != nil {
		return nil, err
	}
	c.posJSON = pos
	return &c, nil
}

// Cut closes an open chunk at hi and adds the rest of the key space, (hi,
// end], as a new open chunk any worker can lease and cut in turn. With hi
// nil the chunk simply runs to the end. Only the leaseholder can cut.
func (l *Ledger) Cut(ctx context.Context, c *Chunk, hi record.Key) error {
	h, err := encodeKey(hi)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE transit.chunks SET hi = $4, open = false
			WHERE run_id = $1 AND entity = $2 AND chunk_no = $3 AND open AND lease_owner = $5 AND status = 'pending'`,
			c.RunID, c.Entity, c.No, h, l.Owner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrLeaseLost
		}
		if hi == nil {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO transit.chunks (run_id, entity, chunk_no, lo, open)
			SELECT $1, $2, max(chunk_no) + 1, $3, true FROM transit.chunks WHERE run_id = $1 AND entity = $2`,
			c.RunID, c.Entity, h)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return err
		}
		return fmt.Errorf("ledger: cut chunk %d of %s: %w", c.No, c.Entity, err)
	}
	c.Hi, c.Open = hi, false
	return nil
}

// RejectRow is one refused row to record.
type RejectRow struct {
	Key     record.Key
	Reason  string
	Payload map[string]any
}

// Progress is what one batch did to a chunk.
type Progress struct {
	Position   record.Key
	Read       int
	Written    int
	Rejects    []RejectRow
	MaxVersion any // the chunk's max version so far (nil = none)
}

// Advance records a written batch: it moves the chunk's position from the
// one this worker last saw to p.Position, adds the counts and records the
// rejects, all in tx (the transaction that wrote the data, when the sink is
// this database) or in a transaction of its own when tx is nil. The update
// only happens while this worker still holds the lease and the position is
// where it left it; otherwise it returns ErrLeaseLost and tx must roll back.
func (l *Ledger) Advance(ctx context.Context, tx pgx.Tx, c *Chunk, p Progress, ttl time.Duration) error {
	if tx == nil {
		return pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error { return l.Advance(ctx, tx, c, p, ttl) })
	}
	pos, err := encodeKey(p.Position)
	if err != nil {
		return err
	}
	mv, err := encodeValue(p.MaxVersion)
	if err != nil {
		return err
	}
	prev := c.posJSON
	tag, err := tx.Exec(ctx, `UPDATE transit.chunks SET position = $5, rows_read = rows_read + $6, rows_written = rows_written + $7,
			rows_rejected = rows_rejected + $8, batches = batches + 1, max_version = $9,
			lease_until = now() + $10 * interval '1 millisecond'
		WHERE run_id = $1 AND entity = $2 AND chunk_no = $3 AND position IS NOT DISTINCT FROM $4::jsonb
		  AND lease_owner = $11 AND status = 'pending'`,
		c.RunID, c.Entity, c.No, nullJSON(prev), pos, p.Read, p.Written, len(p.Rejects), mv, ttl.Milliseconds(), l.Owner)
	if err != nil {
		return fmt.Errorf("ledger: advance chunk %d of %s: %w", c.No, c.Entity, err)
	}
	if tag.RowsAffected() != 1 {
		return ErrLeaseLost
	}
	for _, r := range p.Rejects {
		if err := InsertReject(ctx, tx, c.RunID, c.Entity, r.Key, r.Reason, r.Payload); err != nil {
			return err
		}
	}
	return nil
}

// Advanced tells c that the transaction holding an Advance committed.
func (c *Chunk) Advanced(p Progress) {
	c.Position = p.Position
	c.MaxVersion = p.MaxVersion
	c.posJSON, _ = encodeKey(p.Position)
	if string(c.posJSON) == "null" {
		c.posJSON = nil
	}
}

// Complete marks c done, provided its position in the ledger is still the
// one this worker last wrote: a batch whose commit the server lost (a crash
// after an asynchronous commit) makes it fail with ErrLeaseLost, so the
// chunk is leased again from its durable position instead of being marked
// done with rows missing.
func (l *Ledger) Complete(ctx context.Context, c *Chunk) error {
	tag, err := l.Pool.Exec(ctx, `UPDATE transit.chunks SET status = 'done', done_by = $4, done_at = now(), lease_owner = NULL, lease_pid = NULL, lease_until = NULL
		WHERE run_id = $1 AND entity = $2 AND chunk_no = $3 AND lease_owner = $4 AND status = 'pending'
		  AND position IS NOT DISTINCT FROM $5::jsonb`, c.RunID, c.Entity, c.No, l.Owner, nullJSON(c.posJSON))
	if err != nil {
		return fmt.Errorf("ledger: complete chunk: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return ErrLeaseLost
	}
	return nil
}

// Release gives c's lease back (on shutdown) so another worker can take it
// at once.
func (l *Ledger) Release(ctx context.Context, c *Chunk) error {
	_, err := l.Pool.Exec(ctx, `UPDATE transit.chunks SET lease_owner = NULL, lease_pid = NULL, lease_until = NULL
		WHERE run_id = $1 AND entity = $2 AND chunk_no = $3 AND lease_owner = $4`, c.RunID, c.Entity, c.No, l.Owner)
	return err
}

// OpenChunks counts the run's open chunks of entities (all when nil): the
// key space still to cut.
func (l *Ledger) OpenChunks(ctx context.Context, runID int64, entities []string) (int, error) {
	var n int
	err := l.Pool.QueryRow(ctx, `SELECT count(*) FROM transit.chunks
		WHERE run_id = $1 AND status = 'pending' AND open AND ($2::text[] IS NULL OR entity = ANY($2))`,
		runID, entities).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	return n, nil
}

// Status counts a run's chunks.
type Status struct {
	Pending, Leased, Done int
	RunStatus             string
}

// RunStatus reports how far a run is, counting the chunks of entities
// (all when nil).
func (l *Ledger) RunStatus(ctx context.Context, runID int64, entities []string) (Status, error) {
	var s Status
	err := l.Pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status = 'pending'),
			count(*) FILTER (WHERE status = 'pending' AND lease_owner IS NOT NULL AND lease_until >= now()
				AND (c.lease_pid IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.lease_pid))),
			count(*) FILTER (WHERE status = 'done'),
			(SELECT status FROM transit.runs WHERE id = $1)
		FROM transit.chunks c WHERE run_id = $1 AND ($2::text[] IS NULL OR entity = ANY($2))`, runID, entities).Scan(&s.Pending, &s.Leased, &s.Done, &s.RunStatus)
	if err != nil {
		return s, fmt.Errorf("ledger: run status: %w", err)
	}
	return s, nil
}

// EntityDone reports whether every chunk of entity in the run is done.
func (l *Ledger) EntityDone(ctx context.Context, runID int64, entity string) (bool, error) {
	var pending bool
	err := l.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM transit.chunks WHERE run_id = $1 AND entity = $2 AND status = 'pending')", runID, entity).Scan(&pending)
	return !pending, err
}

// ClaimIndexes marks entity's indexes as being built by this process and
// reports whether it won the claim (only when all its chunks are done).
func (l *Ledger) ClaimIndexes(ctx context.Context, runID int64, entity string) (bool, error) {
	tag, err := l.Pool.Exec(ctx, `UPDATE transit.run_entities SET indexes_done = true
		WHERE run_id = $1 AND entity = $2 AND NOT indexes_done
		  AND NOT EXISTS (SELECT 1 FROM transit.chunks WHERE run_id = $1 AND entity = $2 AND status = 'pending')`, runID, entity)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// TryFinishLock takes the advisory lock that lets one process run a run's
// final steps. The caller must call the returned unlock. The lock is
// transaction-scoped, held by an open transaction on a connection of its
// own until unlock, so that it holds through a transaction-pooling pooler
// too (which keeps that transaction on one server connection), and a
// process that dies lets go of it with its connection.
func (l *Ledger) TryFinishLock(ctx context.Context, plan string) (bool, func(), error) {
	conn, err := l.Pool.Acquire(ctx)
	if err != nil {
		return false, func() {}, fmt.Errorf("ledger: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return false, func() {}, fmt.Errorf("ledger: %w", err)
	}
	var ok bool
	key := planLock(plan) ^ 0x5a5a
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", key).Scan(&ok); err != nil || !ok {
		tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		conn.Release()
		return false, func() {}, err
	}
	var once sync.Once
	return true, func() {
		once.Do(func() {
			tx.Rollback(context.Background()) //nolint:errcheck
			conn.Release()
		})
	}, nil
}

// ChunkTotals sums a run's chunk counters per entity.
type ChunkTotals struct {
	Entity                  string
	Chunks, Done            int
	Read, Written, Rejected int64
	Batches                 int64
	MaxVersion              any
}

// Totals returns per-entity counters of a run.
func (l *Ledger) Totals(ctx context.Context, runID int64) (map[string]*ChunkTotals, error) {
	rows, err := l.Pool.Query(ctx, `SELECT entity, count(*), count(*) FILTER (WHERE status = 'done'),
			sum(rows_read), sum(rows_written), sum(rows_rejected), sum(batches)
		FROM transit.chunks WHERE run_id = $1 GROUP BY entity`, runID)
	if err != nil {
		return nil, err
	}
	out := map[string]*ChunkTotals{}
	for rows.Next() {
		var t ChunkTotals
		if err := rows.Scan(&t.Entity, &t.Chunks, &t.Done, &t.Read, &t.Written, &t.Rejected, &t.Batches); err != nil {
			rows.Close()
			return nil, err
		}
		out[t.Entity] = &t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// max_version per entity, compared in Go (values are typed JSON).
	vrows, err := l.Pool.Query(ctx, "SELECT entity, max_version FROM transit.chunks WHERE run_id = $1 AND max_version IS NOT NULL", runID)
	if err != nil {
		return nil, err
	}
	defer vrows.Close()
	for vrows.Next() {
		var e string
		var b []byte
		if err := vrows.Scan(&e, &b); err != nil {
			return nil, err
		}
		v, err := decodeValue(b)
		if err != nil {
			return nil, err
		}
		if t := out[e]; t != nil && (t.MaxVersion == nil || record.Compare(v, t.MaxVersion) > 0) {
			t.MaxVersion = v
		}
	}
	return out, vrows.Err()
}

// Rejects returns up to limit rejects of entity in run, oldest first.
func (l *Ledger) Rejects(ctx context.Context, runID int64, entity string, limit int) ([]RejectRow, int64, error) {
	var total int64
	if err := l.Pool.QueryRow(ctx, "SELECT count(*) FROM transit.rejects WHERE run_id = $1 AND entity = $2", runID, entity).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := l.Pool.Query(ctx, "SELECT key, reason FROM transit.rejects WHERE run_id = $1 AND entity = $2 ORDER BY id LIMIT $3", runID, entity, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []RejectRow
	for rows.Next() {
		var k []byte
		var r RejectRow
		if err := rows.Scan(&k, &r.Reason); err != nil {
			return nil, 0, err
		}
		r.Key, _ = record.DecodeKey(k)
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// Watermark returns the saved catch-up watermark of entity, or nil.
func (l *Ledger) Watermark(ctx context.Context, plan, entity string) (any, error) {
	var b []byte
	err := l.Pool.QueryRow(ctx, "SELECT watermark FROM transit.checkpoints WHERE plan = $1 AND entity = $2", plan, entity).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeValue(b)
}

// FinishRun saves the watermarks and marks the run done, in one transaction.
func (l *Ledger) FinishRun(ctx context.Context, runID int64, plan string, watermarks map[string]any) error {
	return pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error {
		for e, v := range watermarks {
			b, err := encodeValue(v)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO transit.checkpoints (plan, entity, watermark, run_id) VALUES ($1, $2, $3, $4)
				ON CONFLICT (plan, entity) DO UPDATE SET watermark = EXCLUDED.watermark, run_id = EXCLUDED.run_id, updated_at = now()`,
				plan, e, b, runID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE transit.runs SET status = 'done', finished_at = now() WHERE id = $1 AND status = 'running'", runID)
		return err
	})
}

// FailRun marks the run failed with a reason; the next run starts anew.
func (l *Ledger) FailRun(ctx context.Context, runID int64, reason string) error {
	_, err := l.Pool.Exec(ctx, "UPDATE transit.runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1 AND status = 'running'", runID, reason)
	return err
}

func encodeKey(k record.Key) ([]byte, error) {
	if k == nil {
		return nil, nil
	}
	return record.EncodeKey(k)
}

func encodeValue(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return record.EncodeKey(record.Key{v})
}

func decodeValue(b []byte) (any, error) {
	k, err := record.DecodeKey(b)
	if err != nil || len(k) == 0 {
		return nil, err
	}
	return k[0], nil
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// NoRun is the run_id of rejects that belong to no run: records refused
// by an on-demand port (dualread) or by a feed's stream (feed run, a
// rebuild's catch-up, verify --repair).
const NoRun = 0

// RecordReject records one refused record outside a run's batches: under
// run runID (NoRun for none) and entity; see InsertReject.
func (l *Ledger) RecordReject(ctx context.Context, runID int64, entity string, key record.Key, reason string, payload any) error {
	return InsertReject(ctx, l.Pool, runID, entity, key, reason, payload)
}

// Execer is what InsertReject writes through: a pool, a connection or a
// transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// InsertReject writes one reject into transit.rejects through db: keyed by
// (runID, entity, key), with the reason and the payload as JSON (a payload
// JSON cannot hold is replaced by a note saying so). A second reject of
// the same key replaces the first. Every writer of rejects goes through
// it: run batches (Advance), feeds and on-demand ports.
func InsertReject(ctx context.Context, db Execer, runID int64, entity string, key record.Key, reason string, payload any) error {
	k, err := encodeKey(key)
	if err != nil {
		return err
	}
	pj, err := json.Marshal(payload)
	if err != nil {
		pj = []byte(`{"error":"payload not encodable"}`)
	}
	if _, err := db.Exec(ctx, `INSERT INTO transit.rejects (run_id, entity, key, reason, payload) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (run_id, entity, key) DO UPDATE SET reason = EXCLUDED.reason, payload = EXCLUDED.payload, created_at = now()`,
		runID, entity, k, reason, pj); err != nil {
		return fmt.Errorf("ledger: record reject: %w", err)
	}
	return nil
}

package transition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel of phase changes; the
// payload is "<plan>/<entity>".
const Channel = "transit_phases"

// State is an entity's current phase and the last change that set it. An
// entity never moved is in Old, with a zero ChangedAt.
type State struct {
	Plan, Entity string
	Phase        Phase
	ChangedAt    time.Time
	ChangedBy    string
	Reason       string
}

// Change is one step to record.
type Change struct {
	Plan, Entity string
	// From is the phase the caller saw: Set refuses (ErrPhaseMoved) when
	// the entity is no longer there, so two operators stepping at once
	// cannot skip a phase. Empty: no check.
	From   Phase
	To     Phase
	Actor  string // who; empty: Actor()
	Reason string
	Forced bool         // gates failed and were overridden
	Gates  []GateResult // the gates checked, kept in the history
}

// ErrPhaseMoved says the entity's phase changed since the caller read it.
type ErrPhaseMoved struct {
	Entity    string
	Want, Got Phase
}

func (e *ErrPhaseMoved) Error() string {
	return fmt.Sprintf("the phase of %s is now %s, not %s (someone else moved it); look again with transit status", e.Entity, e.Got, e.Want)
}

// Actor names who makes a change: $TRANSIT_ACTOR, else user@host.
func Actor() string {
	if a := os.Getenv("TRANSIT_ACTOR"); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// missingTable reports whether err is PostgreSQL's "relation does not
// exist": the ledger has not been migrated to 007 yet, so every entity is
// still Old.
func missingTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// querier is what Get and List need: a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Get returns the state of one entity (Old when it was never moved).
func Get(ctx context.Context, pool *pgxpool.Pool, plan, entity string) (State, error) {
	m, err := list(ctx, pool, plan, entity)
	if err != nil {
		return State{}, err
	}
	if s, ok := m[entity]; ok {
		return s, nil
	}
	return State{Plan: plan, Entity: entity, Phase: Old}, nil
}

// List returns the states of every entity of plan that was ever moved.
func List(ctx context.Context, pool *pgxpool.Pool, plan string) (map[string]State, error) {
	return list(ctx, pool, plan, "")
}

func list(ctx context.Context, q querier, plan, entity string) (map[string]State, error) {
	rows, err := q.Query(ctx, `SELECT entity, phase, changed_at, changed_by, reason FROM transit.phases
		WHERE plan = $1 AND ($2 = '' OR entity = $2)`, plan, entity)
	if err != nil {
		if missingTable(err) {
			return map[string]State{}, nil
		}
		return nil, fmt.Errorf("read phases of %s: %w", plan, err)
	}
	defer rows.Close()
	out := map[string]State{}
	for rows.Next() {
		s := State{Plan: plan}
		var ph string
		if err := rows.Scan(&s.Entity, &ph, &s.ChangedAt, &s.ChangedBy, &s.Reason); err != nil {
			return nil, fmt.Errorf("read phases of %s: %w", plan, err)
		}
		s.Phase = Phase(ph)
		out[s.Entity] = s
	}
	if err := rows.Err(); err != nil {
		if missingTable(err) {
			return map[string]State{}, nil
		}
		return nil, fmt.Errorf("read phases of %s: %w", plan, err)
	}
	return out, nil
}

// Set records a change of phase: the new state, a row of history, and
// (by the trigger of 007_phases.sql) NOTIFY transit_phases, all in one
// transaction. The ledger must be migrated (ledger.Migrate).
func Set(ctx context.Context, pool *pgxpool.Pool, c Change) (State, error) {
	if c.To.index() < 0 {
		return State{}, fmt.Errorf("set phase of %s: unknown phase %q", c.Entity, c.To)
	}
	if c.Actor == "" {
		c.Actor = Actor()
	}
	var gates []byte
	if c.Gates != nil {
		var err error
		if gates, err = json.Marshal(c.Gates); err != nil {
			return State{}, err
		}
	}
	var st State
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Lock the row (or, for an entity never moved, the key) so two
		// changes of one entity run one after the other.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('transit-phase:' || $1 || '/' || $2, 0))", c.Plan, c.Entity); err != nil {
			return err
		}
		cur, err := list(ctx, tx, c.Plan, c.Entity)
		if err != nil {
			return err
		}
		from := Old
		if s, ok := cur[c.Entity]; ok {
			from = s.Phase
		}
		if c.From != "" && from != c.From {
			return &ErrPhaseMoved{Entity: c.Entity, Want: c.From, Got: from}
		}
		st = State{Plan: c.Plan, Entity: c.Entity, Phase: c.To, ChangedBy: c.Actor, Reason: c.Reason}
		if err := tx.QueryRow(ctx, `INSERT INTO transit.phases (plan, entity, phase, changed_by, reason) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (plan, entity) DO UPDATE SET phase = EXCLUDED.phase, changed_at = now(),
				changed_by = EXCLUDED.changed_by, reason = EXCLUDED.reason
			RETURNING changed_at`, c.Plan, c.Entity, string(c.To), c.Actor, c.Reason).Scan(&st.ChangedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO transit.phase_history (plan, entity, from_phase, to_phase, changed_at, changed_by, reason, forced, gates)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.Plan, c.Entity, string(from), string(c.To), st.ChangedAt, c.Actor, c.Reason, c.Forced, nullJSON(gates))
		return err
	})
	if err != nil {
		var moved *ErrPhaseMoved
		if errors.As(err, &moved) {
			return State{}, err
		}
		return State{}, fmt.Errorf("set phase of %s to %s: %w", c.Entity, c.To, err)
	}
	return st, nil
}

// HistoryEntry is one recorded change.
type HistoryEntry struct {
	ID        int64        `json:"id"`
	Entity    string       `json:"entity"`
	From      Phase        `json:"from"`
	To        Phase        `json:"to"`
	ChangedAt time.Time    `json:"changed_at"`
	ChangedBy string       `json:"changed_by"`
	Reason    string       `json:"reason"`
	Forced    bool         `json:"forced"`
	Gates     []GateResult `json:"gates,omitempty"`
}

// History returns the last limit changes of entity (all entities when
// entity is ""), newest first.
func History(ctx context.Context, pool *pgxpool.Pool, plan, entity string, limit int) ([]HistoryEntry, error) {
	rows, err := pool.Query(ctx, `SELECT id, entity, from_phase, to_phase, changed_at, changed_by, reason, forced, gates
		FROM transit.phase_history WHERE plan = $1 AND ($2 = '' OR entity = $2) ORDER BY id DESC LIMIT $3`, plan, entity, limit)
	if err != nil {
		if missingTable(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("phase history of %s: %w", plan, err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var from, to string
		var gates []byte
		if err := rows.Scan(&h.ID, &h.Entity, &from, &to, &h.ChangedAt, &h.ChangedBy, &h.Reason, &h.Forced, &gates); err != nil {
			return nil, fmt.Errorf("phase history of %s: %w", plan, err)
		}
		h.From, h.To = Phase(from), Phase(to)
		if gates != nil {
			if err := json.Unmarshal(gates, &h.Gates); err != nil {
				return nil, fmt.Errorf("phase history of %s: gates of change %d: %w", plan, h.ID, err)
			}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

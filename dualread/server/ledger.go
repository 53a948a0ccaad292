package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/dualread"
)

// PollPhases follows the phases of plan in transit.phases by polling it
// every period: a stand-in PhaseSource for `transit serve` until
// transition.Watch (LISTEN/NOTIFY with polling) is wired in its place. A
// ledger without transit.phases means every entity is in phase old; when
// a poll fails, the last phases seen stay.
type PollPhases struct {
	pool   *pgxpool.Pool
	plan   string
	mu     sync.RWMutex
	phases map[string]string
	cancel context.CancelFunc
	done   chan struct{}
}

// NewPollPhases reads the phases once, then polls every period until Close.
func NewPollPhases(ctx context.Context, pool *pgxpool.Pool, plan string, period time.Duration) (*PollPhases, error) {
	p := &PollPhases{pool: pool, plan: plan, phases: map[string]string{}, done: make(chan struct{})}
	if err := p.poll(ctx); err != nil {
		return nil, err
	}
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(p.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = p.poll(ctx)
			}
		}
	}()
	return p, nil
}

func (p *PollPhases) poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT entity, phase FROM transit.phases WHERE plan = $1`, p.plan)
	if undefinedTable(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var e, ph string
		if err := rows.Scan(&e, &ph); err != nil {
			return err
		}
		m[e] = ph
	}
	if err := rows.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	p.phases = m
	p.mu.Unlock()
	return nil
}

// Phase returns entity's phase, "old" when never set.
func (p *PollPhases) Phase(entity string) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if ph := p.phases[entity]; ph != "" {
		return ph
	}
	return dualread.PhaseOld
}

// Close stops polling.
func (p *PollPhases) Close() {
	p.cancel()
	<-p.done
}

func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// LedgerStatus is a StatusSource that reads the ledger directly: the
// phase from phases, and from the ledger the phase's change time, the
// last run, the last verify, the shadow counts and the rejects. The lag
// is the time since the entity's catch-up watermark was last saved (-1
// when never). It stands in for transition.Status until the lead wires
// that in.
func LedgerStatus(pool *pgxpool.Pool, plan string, entities []string, phases dualread.PhaseSource) StatusSource {
	return func(ctx context.Context) ([]EntityStatus, error) {
		var out []EntityStatus
		for _, e := range entities {
			st := EntityStatus{Entity: e, Phase: phases.Phase(e), LagSeconds: -1}
			var changed *time.Time
			err := pool.QueryRow(ctx, `SELECT changed_at FROM transit.phases WHERE plan = $1 AND entity = $2`, plan, e).Scan(&changed)
			if err != nil && !undefinedTable(err) && !noRows(err) {
				return nil, err
			}
			if changed != nil {
				st.ChangedAt = *changed
			}
			var lag *float64
			if err := pool.QueryRow(ctx, `SELECT extract(epoch FROM now() - max(updated_at))::float8 FROM transit.checkpoints WHERE plan = $1 AND entity = $2`, plan, e).Scan(&lag); err != nil {
				return nil, err
			}
			if lag != nil {
				st.LagSeconds = *lag
			}
			if err := pool.QueryRow(ctx, `SELECT max(r.finished_at) FROM transit.runs r JOIN transit.run_entities re ON re.run_id = r.id
				WHERE r.plan = $1 AND re.entity = $2 AND r.status = 'done'`, plan, e).Scan(&st.LastRun); err != nil {
				return nil, err
			}
			var vstatus *string
			err = pool.QueryRow(ctx, `SELECT finished_at, summary->'entities'->$2->>'status' FROM transit.verify_runs
				WHERE plan = $1 AND summary->'entities' ? $2 ORDER BY id DESC LIMIT 1`, plan, e).Scan(&st.LastVerify, &vstatus)
			if err != nil && !noRows(err) {
				return nil, err
			}
			st.LastVerifyClean = vstatus != nil && *vstatus == "consistent"
			err = pool.QueryRow(ctx, `SELECT reads, mismatches FROM transit.shadow_stats WHERE plan = $1 AND entity = $2`, plan, e).Scan(&st.ShadowReads, &st.ShadowMismatches)
			if err != nil && !noRows(err) {
				return nil, err
			}
			if st.ShadowReads > 0 {
				st.MismatchRate = float64(st.ShadowMismatches) / float64(st.ShadowReads)
			}
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM transit.rejects WHERE entity = $1
				AND (run_id = 0 OR run_id IN (SELECT id FROM transit.runs WHERE plan = $2))`, e, plan).Scan(&st.Rejects); err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		return out, nil
	}
}

func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

package transition

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/plan"
)

// EntityStatus is one entity's line of `transit status` (and of the
// /status page of transit serve).
type EntityStatus struct {
	Entity    string    `json:"entity"`
	Phase     string    `json:"phase"`
	ChangedAt time.Time `json:"changed_at"` // zero: never moved
	// LagSeconds is the catch-up lag in seconds: now − the high-water
	// mark of the last finished run that moved the entity (its start, or
	// its --until when earlier). -1 when no run has moved it.
	LagSeconds       float64    `json:"lag_seconds"`
	LastRun          *time.Time `json:"last_run"`    // when that run finished
	LastVerify       *time.Time `json:"last_verify"` // when the last verify covering it finished
	LastVerifyClean  bool       `json:"last_verify_clean"`
	ShadowReads      int64      `json:"shadow_reads"`
	ShadowMismatches int64      `json:"shadow_mismatches"`
	MismatchRate     float64    `json:"mismatch_rate"` // mismatches / reads (0 without reads)
	Rejects          int64      `json:"rejects"`       // unresolved (see UnresolvedRejects)
}

// Status gives the facts `transit status` prints, per entity: the plan's
// routed entities and every entity the ledger knows for the plan (moved by
// a run, or given a phase), sorted by name.
func Status(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan) ([]EntityStatus, error) {
	names := map[string]bool{}
	for _, e := range p.Entities {
		if e.ToStore != "" {
			names[e.Name] = true
		}
	}
	rows, err := pool.Query(ctx, `SELECT DISTINCT e.entity FROM transit.run_entities e JOIN transit.runs r ON r.id = e.run_id WHERE r.plan = $1`, p.Name)
	if err != nil && !missingTable(err) {
		return nil, fmt.Errorf("status of %s: %w", p.Name, err)
	}
	if err == nil {
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("status of %s: %w", p.Name, err)
			}
			names[n] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("status of %s: %w", p.Name, err)
		}
	}
	states, err := List(ctx, pool, p.Name)
	if err != nil {
		return nil, err
	}
	for n := range states {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	out := make([]EntityStatus, 0, len(sorted))
	for _, n := range sorted {
		f, err := Gather(ctx, pool, p.Name, n)
		if err != nil {
			return nil, err
		}
		out = append(out, f.Status())
	}
	return out, nil
}

// Status condenses the facts into a status line.
func (f Facts) Status() EntityStatus {
	s := EntityStatus{Entity: f.Entity, Phase: string(f.State.Phase), ChangedAt: f.State.ChangedAt, LagSeconds: -1, Rejects: f.Rejects}
	if f.LastRun != nil {
		s.LagSeconds = f.Lag.Seconds()
		t := f.LastRun.FinishedAt
		s.LastRun = &t
	}
	if f.LastVerify != nil {
		t := f.LastVerify.FinishedAt
		s.LastVerify, s.LastVerifyClean = &t, f.LastVerify.Clean()
	}
	if f.Shadow != nil {
		s.ShadowReads, s.ShadowMismatches, s.MismatchRate = f.Shadow.Reads, f.Shadow.Mismatches, f.Shadow.Rate()
	}
	return s
}

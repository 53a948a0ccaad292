package transition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Facts are what the ledger knows about one entity: the evidence gates
// and `transit status` are made of.
type Facts struct {
	Entity string
	State  State
	// LastRun is the latest finished run that moved the entity; nil when
	// none has.
	LastRun *RunFact
	// Lag is the catch-up lag: now − LastRun.HighWater (the server's
	// clock). Meaningless when LastRun is nil.
	Lag        time.Duration
	LastVerify *VerifyFact // nil: never verified
	// Shadow holds the shadow comparison counts (transit.shadow_stats,
	// written by dualread); nil when none are recorded.
	Shadow *ShadowFact
	// Audit is the latest audit of the plan; nil when none is recorded.
	Audit *AuditFact
	// Rejects counts the entity's rejected rows not covered by a later
	// clean verify (see UnresolvedRejects).
	Rejects int64
}

// RunFact is a finished run of the entity.
type RunFact struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt time.Time
	// HighWater is the time up to which the run moved every change: the
	// run's start, or its --until when that is earlier.
	HighWater time.Time
}

// VerifyFact is the entity's line of the latest verify that covered it.
type VerifyFact struct {
	ID         int64
	FinishedAt time.Time
	Status     string // consistent | differences | error
	Incomplete bool
}

// Clean reports whether the verify found the entity consistent, in full.
func (v *VerifyFact) Clean() bool { return v != nil && v.Status == "consistent" && !v.Incomplete }

// ShadowFact is the entity's shadow comparison so far.
type ShadowFact struct {
	Reads, Mismatches int64
	Since, UpdatedAt  time.Time
}

// Rate is mismatches per read (0 without reads).
func (s *ShadowFact) Rate() float64 {
	if s == nil || s.Reads == 0 {
		return 0
	}
	return float64(s.Mismatches) / float64(s.Reads)
}

// AuditFact is the latest audit of the plan, as far as the entity goes.
type AuditFact struct {
	ID        int64
	CreatedAt time.Time
	Covered   bool     // the audit covered the entity
	Failed    []string // names of the entity's error-severity rules that failed
}

// Gather reads the facts of entity of plan planName from the ledger. The
// tables of migrations the ledger lacks (transit.shadow_stats before the
// dualread migration) count as empty.
func Gather(ctx context.Context, pool *pgxpool.Pool, planName, entity string) (Facts, error) {
	f := Facts{Entity: entity}
	var err error
	if f.State, err = Get(ctx, pool, planName, entity); err != nil {
		return f, err
	}
	if f.LastRun, f.Lag, err = lastRun(ctx, pool, planName, entity); err != nil {
		return f, err
	}
	if f.LastVerify, err = lastVerify(ctx, pool, planName, entity); err != nil {
		return f, err
	}
	if f.Shadow, err = shadow(ctx, pool, planName, entity); err != nil {
		return f, err
	}
	if f.Audit, err = lastAudit(ctx, pool, planName, entity); err != nil {
		return f, err
	}
	if f.Rejects, err = UnresolvedRejects(ctx, pool, planName, entity); err != nil {
		return f, err
	}
	return f, nil
}

// lastRun finds the latest finished run of plan that moved entity, and the
// lag behind its high-water mark by the server's clock.
func lastRun(ctx context.Context, pool *pgxpool.Pool, planName, entity string) (*RunFact, time.Duration, error) {
	var r RunFact
	var lagSec float64
	err := pool.QueryRow(ctx, `SELECT r.id, r.started_at, r.finished_at, LEAST(r.started_at, COALESCE(r.until_ts, r.started_at)),
			EXTRACT(EPOCH FROM now() - LEAST(r.started_at, COALESCE(r.until_ts, r.started_at)))::float8
		FROM transit.runs r JOIN transit.run_entities e ON e.run_id = r.id
		WHERE r.plan = $1 AND e.entity = $2 AND r.status = 'done'
		ORDER BY r.finished_at DESC, r.id DESC LIMIT 1`, planName, entity).Scan(&r.ID, &r.StartedAt, &r.FinishedAt, &r.HighWater, &lagSec)
	if errors.Is(err, pgx.ErrNoRows) || missingTable(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("last run of %s: %w", entity, err)
	}
	return &r, time.Duration(lagSec * float64(time.Second)), nil
}

func lastVerify(ctx context.Context, pool *pgxpool.Pool, planName, entity string) (*VerifyFact, error) {
	var v VerifyFact
	var status *string
	var entIncomplete *bool
	err := pool.QueryRow(ctx, `SELECT id, COALESCE(finished_at, started_at), summary->'entities'->$2->>'status',
			incomplete, (summary->'entities'->$2->>'incomplete')::boolean
		FROM transit.verify_runs
		WHERE plan = $1 AND summary->'entities' ? $2
		ORDER BY id DESC LIMIT 1`, planName, entity).Scan(&v.ID, &v.FinishedAt, &status, &v.Incomplete, &entIncomplete)
	if errors.Is(err, pgx.ErrNoRows) || missingTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last verify of %s: %w", entity, err)
	}
	if status != nil {
		v.Status = *status
	}
	if entIncomplete != nil && *entIncomplete {
		v.Incomplete = true
	}
	return &v, nil
}

func shadow(ctx context.Context, pool *pgxpool.Pool, planName, entity string) (*ShadowFact, error) {
	var s ShadowFact
	var since, updated *time.Time
	err := pool.QueryRow(ctx, `SELECT reads, mismatches, since, updated_at FROM transit.shadow_stats WHERE plan = $1 AND entity = $2`,
		planName, entity).Scan(&s.Reads, &s.Mismatches, &since, &updated)
	if errors.Is(err, pgx.ErrNoRows) || missingTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shadow statistics of %s: %w", entity, err)
	}
	if since != nil {
		s.Since = *since
	}
	if updated != nil {
		s.UpdatedAt = *updated
	}
	return &s, nil
}

// auditDoc is the part of an audit report (audit.Report, as stored in
// transit.audits) the audit gate reads.
type auditDoc struct {
	Entities []struct {
		Name  string `json:"name"`
		Rules []struct {
			Name     string `json:"name"`
			Severity string `json:"severity"`
			Passed   bool   `json:"passed"`
		} `json:"rules"`
	} `json:"entities"`
}

func lastAudit(ctx context.Context, pool *pgxpool.Pool, planName, entity string) (*AuditFact, error) {
	var a AuditFact
	var doc []byte
	err := pool.QueryRow(ctx, `SELECT id, created_at, report FROM transit.audits WHERE plan = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`, planName).Scan(&a.ID, &a.CreatedAt, &doc)
	if errors.Is(err, pgx.ErrNoRows) || missingTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last audit of %s: %w", planName, err)
	}
	var rep auditDoc
	if err := json.Unmarshal(doc, &rep); err != nil {
		return nil, fmt.Errorf("last audit of %s (id %d): %w", planName, a.ID, err)
	}
	for _, e := range rep.Entities {
		if e.Name != entity {
			continue
		}
		a.Covered = true
		for _, r := range e.Rules {
			if !r.Passed && r.Severity != "warn" {
				a.Failed = append(a.Failed, r.Name)
			}
		}
	}
	return &a, nil
}

// UnresolvedRejects counts the rows of entity that runs of plan (or on-demand
// ports, run 0) rejected and that no later clean verify covers: a verify
// that finds the entity
// consistent proves every old row arrived in new, whatever was rejected
// before it started. Rejects recorded since then are unresolved.
func UnresolvedRejects(ctx context.Context, pool *pgxpool.Pool, planName, entity string) (int64, error) {
	var n int64
	// Rejects of the plan's runs, and those of on-demand ports (dualread
	// records them under run 0, which belongs to no plan).
	err := pool.QueryRow(ctx, `SELECT count(*) FROM transit.rejects j LEFT JOIN transit.runs r ON r.id = j.run_id
		WHERE (r.plan = $1 OR j.run_id = 0) AND j.entity = $2
		  AND j.created_at > COALESCE((SELECT max(started_at) FROM transit.verify_runs
		        WHERE plan = $1 AND NOT incomplete AND summary->'entities'->$2->>'status' = 'consistent'
		          AND NOT COALESCE((summary->'entities'->$2->>'incomplete')::boolean, false)), '-infinity')`,
		planName, entity).Scan(&n)
	if missingTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rejects of %s: %w", entity, err)
	}
	return n, nil
}

package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transitdb/transit/record"
)

// entitySummary is an entity's line in verify_runs.summary and in WriteJSON.
type entitySummary struct {
	Entity        string       `json:"entity"`
	Status        string       `json:"status"`
	Old           string       `json:"old"`
	New           string       `json:"new"`
	Mode          string       `json:"mode"`
	OldPushdown   bool         `json:"old_pushdown"`
	NewPushdown   bool         `json:"new_pushdown"`
	RowsOld       int64        `json:"rows_old"`
	RowsNew       int64        `json:"rows_new"`
	RowsCompared  int64        `json:"rows_compared"`
	Chunks        int          `json:"chunks"`
	ChunksSkipped int          `json:"chunks_skipped"`
	ChunksHashed  int          `json:"chunks_hashed"`
	ChunksFetched int          `json:"chunks_fetched"`
	RowsFetched   int64        `json:"rows_fetched"`
	InFlight      int          `json:"in_flight"`
	Missing       int          `json:"missing"`
	Extra         int          `json:"extra"`
	Changed       int          `json:"changed"`
	Repaired      int          `json:"repaired"`
	Columns       []columnJSON `json:"columns"`
	Notes         []string     `json:"notes"`
	MaxVersion    any          `json:"max_version"`
	ElapsedMS     int64        `json:"elapsed_ms"`
	Incomplete    bool         `json:"incomplete"`
	Error         *string      `json:"error"`
	Diffs         []diffJSON   `json:"diffs,omitempty"`
}

type columnJSON struct {
	Column  string `json:"column"`
	Side    string `json:"side"`
	Name    string `json:"name"`
	Problem string `json:"problem"`
}

type diffJSON struct {
	Key      []any       `json:"key"`
	Kind     Kind        `json:"kind"`
	Fields   []FieldDiff `json:"fields,omitempty"`
	Repaired bool        `json:"repaired"`
}

func summarize(r *EntityReport, withDiffs bool) entitySummary {
	s := entitySummary{Entity: r.Entity, Status: r.Status(), Old: r.Old, New: r.New, Mode: r.Mode,
		OldPushdown: r.OldPushdown, NewPushdown: r.NewPushdown,
		RowsOld: r.RowsOld, RowsNew: r.RowsNew, RowsCompared: r.RowsCompared,
		Chunks: r.Chunks, ChunksSkipped: r.ChunksSkipped, ChunksHashed: r.ChunksHashed,
		ChunksFetched: r.ChunksFetched, RowsFetched: r.RowsFetched, InFlight: r.InFlight,
		Missing: r.Missing, Extra: r.Extra, Changed: r.Changed, Repaired: r.Repaired,
		Columns: []columnJSON{}, Notes: r.Notes, ElapsedMS: r.Elapsed.Milliseconds(),
		Incomplete: r.Incomplete}
	if s.Notes == nil {
		s.Notes = []string{}
	}
	for _, c := range r.Columns {
		s.Columns = append(s.Columns, columnJSON(c))
	}
	switch v := r.MaxVersion.(type) {
	case time.Time:
		s.MaxVersion = v.UTC().Format(time.RFC3339Nano)
	default:
		s.MaxVersion = v
	}
	if r.Err != nil {
		e := r.Err.Error()
		s.Error = &e
	}
	if withDiffs {
		s.Diffs = []diffJSON{}
		for _, d := range r.Diffs {
			s.Diffs = append(s.Diffs, diffJSON{Key: jsonKey(d.Key), Kind: d.Kind, Fields: d.Fields, Repaired: d.Repaired})
		}
	}
	return s
}

// jsonKey renders key values for JSON: bytes as hex, times in UTC.
func jsonKey(k record.Key) []any {
	out := make([]any, len(k))
	for i, v := range k {
		switch x := v.(type) {
		case []byte:
			out[i] = fmt.Sprintf("\\x%x", x)
		case time.Time:
			out[i] = x.UTC().Format(time.RFC3339Nano)
		default:
			out[i] = v
		}
	}
	return out
}

func runStatus(reps []*EntityReport) (string, bool) {
	incomplete := false
	for _, r := range reps {
		incomplete = incomplete || r.Incomplete
	}
	return [...]string{"consistent", "differences", "error"}[ExitCode(reps)], incomplete
}

// Save stores a verify run of plan and its differences in the ledger
// (transit.verify_runs, transit.verify_diffs; migration 002_verify.sql)
// and returns the run's id.
func Save(ctx context.Context, pool *pgxpool.Pool, plan string, reps []*EntityReport) (int64, error) {
	started := time.Now()
	ents := map[string]entitySummary{}
	for _, r := range reps {
		if !r.Started.IsZero() && r.Started.Before(started) {
			started = r.Started
		}
		ents[r.Entity] = summarize(r, false)
	}
	summary, err := json.Marshal(map[string]any{"entities": ents})
	if err != nil {
		return 0, err
	}
	status, incomplete := runStatus(reps)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("save verify run: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO transit.verify_runs (plan, started_at, finished_at, status, incomplete, summary)
		VALUES ($1, $2, now(), $3, $4, $5) RETURNING id`, plan, started, status, incomplete, summary).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("save verify run: %w", err)
	}
	var rows [][]any
	for _, r := range reps {
		for _, d := range r.Diffs {
			key, err := record.EncodeKey(d.Key)
			if err != nil {
				return 0, fmt.Errorf("save verify diff of %s: %w", r.Entity, err)
			}
			var fields []byte
			if d.Kind == Changed {
				if fields, err = json.Marshal(d.Fields); err != nil {
					return 0, err
				}
			}
			rows = append(rows, []any{id, r.Entity, string(key), string(d.Kind), nullJSON(fields), d.Repaired})
		}
	}
	if len(rows) > 0 {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"transit", "verify_diffs"},
			[]string{"run_id", "entity", "key", "kind", "fields", "repaired"}, pgx.CopyFromRows(rows))
		if err != nil {
			return 0, fmt.Errorf("save verify diffs: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("save verify run: %w", err)
	}
	return id, nil
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// LastClean returns the greatest version verified by the latest complete
// run of plan in which entity was consistent (and had a time-valued version
// column): the Options.Since of a --since-last run. ok is false when there
// is no such run.
func LastClean(ctx context.Context, pool *pgxpool.Pool, plan, entity string) (time.Time, bool, error) {
	var s *string
	err := pool.QueryRow(ctx, `SELECT summary->'entities'->$2->>'max_version'
		FROM transit.verify_runs
		WHERE plan = $1 AND NOT incomplete
		  AND summary->'entities'->$2->>'status' = 'consistent'
		  AND jsonb_typeof(summary->'entities'->$2->'max_version') = 'string'
		ORDER BY id DESC LIMIT 1`, plan, entity).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last clean verify of %s: %w", entity, err)
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last clean verify of %s: %w", entity, err)
	}
	return t, true, nil
}

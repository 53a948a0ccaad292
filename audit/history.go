package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Save stores rep in the ledger table transit.audits (migration
// 003_audit.sql) under the plan's name and returns the new row's id.
func Save(ctx context.Context, pool *pgxpool.Pool, plan string, rep *Report) (int64, error) {
	doc, err := json.Marshal(rep)
	if err != nil {
		return 0, fmt.Errorf("save audit: %w", err)
	}
	var id int64
	err = pool.QueryRow(ctx,
		`INSERT INTO transit.audits (plan, created_at, failed, report) VALUES ($1, $2, $3, $4) RETURNING id`,
		plan, rep.Created, rep.Failed(), doc).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("save audit: %w", err)
	}
	return id, nil
}

// Last returns the newest stored audit of plan, or nil (and no error) when
// there is none.
func Last(ctx context.Context, pool *pgxpool.Pool, plan string) (*Report, error) {
	return LastBefore(ctx, pool, plan, 0)
}

// LastBefore returns the newest stored audit of plan whose id is below
// before (0 = no bound), or nil when there is none. After Save, use it with
// the new id to find the previous audit.
func LastBefore(ctx context.Context, pool *pgxpool.Pool, plan string, before int64) (*Report, error) {
	var doc []byte
	err := pool.QueryRow(ctx,
		`SELECT report FROM transit.audits WHERE plan = $1 AND ($2 = 0 OR id < $2) ORDER BY created_at DESC, id DESC LIMIT 1`,
		plan, before).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last audit of %s: %w", plan, err)
	}
	var rep Report
	if err := json.Unmarshal(doc, &rep); err != nil {
		return nil, fmt.Errorf("last audit of %s: %w", plan, err)
	}
	return &rep, nil
}

// Change is one difference between two audits.
type Change struct {
	Entity string `json:"entity"`
	Column string `json:"column,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// Kind: entity_added, entity_removed, rows, null_fraction,
	// rule_failed (newly failing), rule_fixed, rule_count, fit_new, fit_fixed, fit_count.
	Kind   string `json:"kind"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Compare lists what changed from prev to cur: row counts, null fractions,
// rules that started or stopped failing (or whose violation count moved)
// and fit-to-target problems. A nil prev compares with nothing.
func Compare(prev, cur *Report) []Change {
	var out []Change
	if prev == nil || cur == nil {
		return out
	}
	old := map[string]*EntityReport{}
	for i := range prev.Entities {
		old[prev.Entities[i].Name] = &prev.Entities[i]
	}
	seen := map[string]bool{}
	for i := range cur.Entities {
		e := &cur.Entities[i]
		seen[e.Name] = true
		p := old[e.Name]
		if p == nil {
			out = append(out, Change{Entity: e.Name, Kind: "entity_added", After: itoa(e.Rows) + " rows"})
			continue
		}
		if p.Rows != e.Rows {
			out = append(out, Change{Entity: e.Name, Kind: "rows", Before: itoa(p.Rows), After: itoa(e.Rows)})
		}
		pc := map[string]ColumnProfile{}
		for _, c := range p.Columns {
			pc[c.Name] = c
		}
		for _, c := range e.Columns {
			if o, ok := pc[c.Name]; ok && o.NullFraction != c.NullFraction {
				out = append(out, Change{Entity: e.Name, Column: c.Name, Kind: "null_fraction",
					Before: fmt.Sprintf("%.4f", o.NullFraction), After: fmt.Sprintf("%.4f", c.NullFraction)})
			}
		}
		pr := map[string]RuleResult{}
		for _, r := range p.Rules {
			pr[r.Name] = r
		}
		for _, r := range e.Rules {
			o, ok := pr[r.Name]
			switch {
			case !r.Passed && (!ok || o.Passed):
				out = append(out, Change{Entity: e.Name, Rule: r.Name, Kind: "rule_failed", Before: "pass", After: itoa(r.Count) + " violations"})
			case r.Passed && ok && !o.Passed:
				out = append(out, Change{Entity: e.Name, Rule: r.Name, Kind: "rule_fixed", Before: itoa(o.Count) + " violations", After: "pass"})
			case !r.Passed && ok && o.Count != r.Count:
				out = append(out, Change{Entity: e.Name, Rule: r.Name, Kind: "rule_count", Before: itoa(o.Count), After: itoa(r.Count)})
			}
		}
		type fk struct{ col, prob string }
		pf := map[fk]FitResult{}
		for _, f := range p.Fit {
			pf[fk{f.Column, f.Problem}] = f
		}
		for _, f := range e.Fit {
			k := fk{f.Column, f.Problem}
			if o, ok := pf[k]; !ok {
				out = append(out, Change{Entity: e.Name, Column: f.Column, Kind: "fit_new", Before: "0", After: itoa(f.Count) + " " + f.Problem})
			} else if o.Count != f.Count {
				out = append(out, Change{Entity: e.Name, Column: f.Column, Kind: "fit_count", Before: itoa(o.Count), After: itoa(f.Count) + " " + f.Problem})
			}
			delete(pf, k)
		}
		for _, f := range p.Fit {
			if _, ok := pf[fk{f.Column, f.Problem}]; ok {
				out = append(out, Change{Entity: e.Name, Column: f.Column, Kind: "fit_fixed", Before: itoa(f.Count) + " " + f.Problem, After: "0"})
			}
		}
	}
	for _, p := range prev.Entities {
		if !seen[p.Name] {
			out = append(out, Change{Entity: p.Name, Kind: "entity_removed", Before: itoa(p.Rows) + " rows"})
		}
	}
	return out
}

// WriteChanges writes the changes as text, one per line.
func WriteChanges(w io.Writer, changes []Change) error {
	ew := &errWriter{w: w}
	if len(changes) == 0 {
		ew.printf("no changes since the previous audit\n")
		return ew.err
	}
	for _, c := range changes {
		what := c.Entity
		if c.Column != "" {
			what += "." + c.Column
		}
		if c.Rule != "" {
			what += " " + c.Rule
		}
		ew.printf("%-14s %s: %s → %s\n", c.Kind, what, c.Before, c.After)
	}
	return ew.err
}

// Package audit profiles the data of one store and checks it against the
// data-quality rules of a plan (plan.Check) and against the target column
// types it is routed to ("fit to target"), producing a Report that can be
// written as text, JSON or a self-contained HTML page and kept in the ledger
// to compare one audit with the previous one.
//
// # How one entity is audited
//
// Each entity is read once, in key order, through its sources.Source
// (Scan). Everything row-level is computed in Go over that stream with
// bounded memory: the column profiles (exact distinct values up to
// ExactDistinct values per column, then a HyperLogLog estimate and
// Misra–Gries top values), the row rules (not_null, pattern, range,
// accepted_values, max_null_fraction, freshness, references) and the fit to
// target. Rules that need the whole table rather than one row are pushed down
// into SQL when the entity has a SQLPushdown: unique (GROUP BY … HAVING),
// sql checks, and — when Options.Sample limits the stream — the exact row
// count, NULL counts and min/max of the full table.
//
// Errors in the plan's checks (a column that does not exist, an invalid
// regular expression, a sql check the store refuses) are found before any
// data is read and returned as *RuleError values carrying the check's
// position in the plan.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// Target is one entity to audit.
type Target struct {
	// Entity is the plan's entity; its Checks are the rules, its ID (or the
	// table's primary key) names rows in sample IDs.
	Entity *plan.Entity
	// Source streams the entity's rows. Required.
	Source sources.Source
	// Table is the entity's shape from Source.Describe; when nil, Run calls
	// Describe(Entity.FromTable).
	Table *record.Table
	// SQL, when set, lets Run push work down into the store's SQL engine.
	// Nil = everything is computed in Go over the stream.
	SQL *SQLPushdown
	// TargetColumns are the routed target columns, in the same order as
	// Table.Columns; a zero Column (empty Name) marks a column that is not
	// routed. Nil when the entity has no target: no fit-to-target checks.
	TargetColumns []record.Column
	// Resolve finds the store of a references check whose Ref names another
	// store ("store.table"): it returns that store's source (may be nil when
	// a SQLPushdown is given), its SQLPushdown (may be nil) and the table.
	Resolve func(ref string) (sources.Source, *SQLPushdown, string, error)
}

// SQLPushdown is a SQL connection to the store an entity lives in.
type SQLPushdown struct {
	Dialect string        // "postgres" | "mysql" | "sqlite"
	DB      *sql.DB       // database/sql connection (mysql, sqlite; postgres through pgx/stdlib)
	Pool    *pgxpool.Pool // postgres alternative to DB
	Schema  string        // postgres schema of the table; "" = search_path
}

// Options tune a Run. Zero values take the defaults.
type Options struct {
	// Sample, when > 0, reads only the first Sample rows of each entity in
	// key order; the report says it was sampled. With a SQLPushdown the row
	// count, NULL counts and min/max still cover the whole table.
	Sample int
	// TopN is how many most common values each column lists (default 10).
	TopN int
	// SampleIDs is how many IDs a failure lists (default 20).
	SampleIDs int
	// ExactDistinct is how many distinct values per column are counted
	// exactly before switching to a HyperLogLog estimate (default 10000).
	ExactDistinct int
	// BatchSize is the Scan batch size (default 5000).
	BatchSize int
	// Now is the clock for freshness checks and the report time (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.TopN <= 0 {
		o.TopN = 10
	}
	if o.SampleIDs <= 0 {
		o.SampleIDs = 20
	}
	if o.ExactDistinct <= 0 {
		o.ExactDistinct = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Report is the result of one audit.
type Report struct {
	Plan     string         `json:"plan,omitempty"`
	Created  time.Time      `json:"created"`
	Entities []EntityReport `json:"entities"`
}

// EntityReport is the audit of one entity.
type EntityReport struct {
	Name       string          `json:"name"`
	Store      string          `json:"store,omitempty"`
	Table      string          `json:"table"`
	Rows       int64           `json:"rows"`
	Sampled    bool            `json:"sampled"`
	SampleRows int64           `json:"sample_rows,omitempty"`
	Columns    []ColumnProfile `json:"columns"`
	Rules      []RuleResult    `json:"rules"`
	Fit        []FitResult     `json:"fit"`
}

// RuleResult is the outcome of one plan check.
type RuleResult struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Severity  string   `json:"severity"`
	Passed    bool     `json:"passed"`
	Count     int64    `json:"count"`
	SampleIDs []string `json:"sample_ids"`
	Detail    string   `json:"detail,omitempty"`
	Err       string   `json:"error,omitempty"`
	Pos       plan.Pos `json:"pos"`
}

// FitResult is one kind of value of one column that the target column type
// would refuse: a predicted reject of a transit run.
type FitResult struct {
	Column     string   `json:"column"`
	TargetType string   `json:"target_type"`
	Problem    string   `json:"problem"`
	Count      int64    `json:"count"`
	SampleIDs  []string `json:"sample_ids"`
}

// Failed reports whether any error-severity rule failed or any value would
// be rejected by its target column.
func (r *Report) Failed() bool {
	for _, e := range r.Entities {
		if e.Failed() {
			return true
		}
	}
	return false
}

// Failed reports whether an error-severity rule of e failed or a fit check found rejects.
func (e *EntityReport) Failed() bool {
	for _, r := range e.Rules {
		if !r.Passed && r.Severity != "warn" {
			return true
		}
	}
	return len(e.Fit) > 0
}

// RuleError is a plan check that cannot be run: a missing column, an invalid
// regular expression, a sql check the store refuses.
type RuleError struct {
	Pos    plan.Pos
	Entity string
	Check  string // the check's name
	Msg    string
	Err    error // underlying cause, may be nil
}

func (e *RuleError) Error() string {
	p := e.Pos
	loc := ""
	if p.File != "" || p.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d: ", p.File, p.Line, p.Column)
	}
	return fmt.Sprintf("%sentity %s, check %s: %s", loc, e.Entity, e.Check, e.Msg)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Run audits the targets one after the other. A check that cannot be run
// (see RuleError) stops Run before any data is read; the error joins every
// such problem found. Other errors (a store that cannot be read) are wrapped
// with the entity's name.
func Run(ctx context.Context, targets []Target, opts Options) (*Report, error) {
	opts.defaults()
	rep := &Report{Created: opts.Now().UTC()}
	prepared := make([]*entityRun, 0, len(targets))
	var errs []error
	for i := range targets {
		er, err := prepare(ctx, &targets[i], &opts)
		if err != nil {
			var re *RuleError
			if errors.As(err, &re) {
				errs = append(errs, err)
				continue
			}
			return nil, err
		}
		prepared = append(prepared, er)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, er := range prepared {
		e, err := er.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", er.name, err)
		}
		rep.Entities = append(rep.Entities, *e)
	}
	return rep, nil
}

func entityName(t *Target) string {
	if t.Entity == nil {
		if t.Table != nil {
			return t.Table.Name
		}
		return "?"
	}
	if t.Entity.Name != "" {
		return t.Entity.Name
	}
	return t.Entity.FromTable
}

func checkName(c *plan.Check) string {
	if c.Name != "" {
		return c.Name
	}
	switch c.Kind {
	case "references":
		return fmt.Sprintf("references(%s → %s(%s))", strings.Join(c.Columns, ","), c.Ref, strings.Join(c.RefColumns, ","))
	case "row_count", "sql":
		return c.Kind
	}
	return fmt.Sprintf("%s(%s)", c.Kind, strings.Join(c.Columns, ","))
}

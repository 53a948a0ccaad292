package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/stores"
	"github.com/transitdb/transit/verify"
)

func init() { extraCommands = append(extraCommands, newVerifyCmd) }

type verifyOptions struct {
	entities      []string
	sinceLast     bool
	repair        bool
	repairDeletes bool
	output        string
	lag           time.Duration
	feeds         []string
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify PLAN",
		Short: "Prove that old and new hold the same data; name every difference; repair it",
		Long: `Compare every routed entity's rows in the old store with the new one, through
the plan's mapping (renames, casts, dropped columns), and name every
difference: rows missing in new, extra in new, and changed rows with the
fields that differ (old → new).

What is compared: every value reduced to one canonical form per logical type,
so equal data in different representations is equal — integers of any width,
decimals with their scale normalised (1.50 = 1.5), floats to 15 significant
digits, text as UTF-8 (a trailing space counts), bytes, booleans (tinyint(1)
= boolean), dates, timestamps in UTC to the microsecond (DATETIME =
timestamptz), JSON with sorted keys; NULL is distinct from the empty string.
The full rules are in docs/verify.md.

How: the key space is cut into chunks; each side computes (count, hash) of
each chunk — inside the database on PostgreSQL and MySQL/MariaDB, in transit
for SQLite and files — both sides at once. A chunk whose hashes differ is
split until it is small, then its rows are compared field by field. Rows
younger than --lag (by version) are looked at again before being reported.

--repair ports exactly the differing records again through the same path as
transit run, deletes extra records only with --repair-deletes, and verifies
them again. --since-last verifies only chunks whose rows changed since the
last clean verify (needs a version column; otherwise a full verify, said so).
Results are kept in the ledger (transit.verify_runs, transit.verify_diffs).

In a nightly job: transit run plan.yaml && transit verify --since-last plan.yaml

--feed F compares a feed's current Elasticsearch index or Redis keyspace
with PostgreSQL instead (missing, extra and changed documents with their
fields); with --repair it re-feeds exactly the differing documents from
PostgreSQL (deleting those PostgreSQL has no row for) and compares again.
The outcome is the feed's last verify in transit feed status.

Exit codes: 0 consistent; 1 differences found (and not all repaired); 2
usage, plan or connection error, or a verify that could not finish (its
partial results are marked incomplete, never consistent).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runVerify(cmd, args[0], o) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.entities, "entity", nil, "verify only this entity (repeatable)")
	f.BoolVar(&o.sinceLast, "since-last", false, "verify only what changed since the last clean verify (by version column)")
	f.BoolVar(&o.repair, "repair", false, "re-port the records that differ, then verify them again")
	f.BoolVar(&o.repairDeletes, "repair-deletes", false, "with --repair: also delete records that exist only in new")
	f.StringVar(&o.output, "output", "", `output format: "" (table) or "json" (one object per line)`)
	f.StringArrayVar(&o.feeds, "feed", nil, "verify this feed's current index / keyspace against PostgreSQL instead of entities (repeatable; see transit feed)")
	f.DurationVar(&o.lag, "lag", 0, "rows whose version is younger than this are in flight: looked at again before being reported (default: the entity's lag)")
	return cmd
}

func runVerify(cmd *cobra.Command, path string, o verifyOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.output != "" && o.output != "json" {
		return fail(exitUsage, fmt.Errorf("--output %q: want json", o.output))
	}
	if o.repairDeletes && !o.repair {
		return fail(exitUsage, errors.New("--repair-deletes goes with --repair"))
	}
	if len(o.feeds) > 0 {
		return runFeedVerify(cmd, path, o)
	}
	log := newLogger(stderr, o.output == "json", false)
	stop, sigCode, release := signals(cmd.Context(), stderr, stoppingRun, afterRun)
	defer release()
	ctx := stop
	p, set, ents, err := openPlan(ctx, path, o.entities, nil, log)
	if err != nil {
		return err
	}
	defer set.Close()
	var routed []*port.Entity
	for _, e := range ents {
		if e.Target != nil {
			routed = append(routed, e)
		}
	}
	if len(routed) == 0 {
		return fail(exitUsage, errors.New("the plan routes no entity to a target: nothing to verify"))
	}
	if o.repair {
		if err := port.OpenSinks(ctx, routed, set); err != nil {
			return fail(exitUsage, err)
		}
	}
	pool := verifyLedger(ctx, p, set, log)
	reps, err := verifyEntities(ctx, routed, set, o, pool, p.Name, log)
	if err != nil {
		return err
	}
	if pool != nil {
		if _, err := verify.Save(context.WithoutCancel(ctx), pool.Pool, p.Name, reps); err != nil {
			log.Warn("verify results not kept in the ledger", "err", err)
		}
	}
	return finishVerify(stop, stdout, reps, o.output, sigCode)
}

// verifyLedger opens the ledger verify keeps its results in, or returns nil
// (with a warning when the plan has one that cannot be used).
func verifyLedger(ctx context.Context, p *plan.Plan, set *stores.Set, log *slog.Logger) *ledgerPool {
	ls := p.LedgerStore()
	if ls == nil {
		return nil
	}
	pl, err := set.Pool(ctx, ls.Name)
	if err != nil {
		log.Warn("verify results not kept in the ledger", "err", err)
		return nil
	}
	if err := ledger.Migrate(ctx, pl); err != nil {
		log.Warn("verify results not kept in the ledger", "err", err)
		return nil
	}
	return &ledgerPool{Pool: pl}
}

// verifyEntities verifies each routed entity in turn, stopping at the first
// that could not finish (its partial report is kept).
func verifyEntities(ctx context.Context, routed []*port.Entity, set *stores.Set, o verifyOptions, pool *ledgerPool,
	planName string, log *slog.Logger) ([]*verify.EntityReport, error) {
	var reps []*verify.EntityReport
	for _, e := range routed {
		old, nw, err := verifySides(ctx, set, e)
		if err != nil {
			return nil, fail(exitUsage, err)
		}
		opts, err := verifyEntityOptions(ctx, e, o, pool, planName, log)
		if err != nil {
			return nil, err
		}
		rep, err := verify.Entity(ctx, old, nw, opts)
		if rep != nil {
			reps = append(reps, rep)
		}
		if err != nil {
			log.Error("verify stopped", "entity", e.Name, "err", err)
			break
		}
	}
	return reps, nil
}

// verifyEntityOptions are verify's options for entity e under the flags o.
func verifyEntityOptions(ctx context.Context, e *port.Entity, o verifyOptions, pool *ledgerPool, planName string,
	log *slog.Logger) (verify.Options, error) {
	// Chunks of 100k rows: fewer, longer checksum queries cost less
	// than many short ones, while narrowing a differing chunk re-hashes
	// only its 100k rows (employees bench, 3.9M rows: 50k chunks 13 s,
	// 200k chunks 12 s but +1 s to find one changed row).
	opts := verify.Options{Entity: e.Name, Lag: e.Spec.Lag, ChunkRows: 100_000}
	if o.lag > 0 {
		opts.Lag = o.lag
	}
	if e.Version == "" {
		opts.Lag = 0
	}
	if o.sinceLast {
		if pool == nil {
			return opts, fail(exitUsage, errors.New("--since-last needs the ledger: the plan has no postgres store"))
		}
		since, ok, err := verify.LastClean(ctx, pool.Pool, planName, e.Name)
		if err != nil {
			return opts, fail(exitUsage, err)
		}
		if ok {
			opts.Since = since
		} else {
			log.Info("no clean verify yet: verifying in full", "entity", e.Name)
		}
	}
	if o.repair {
		opts.Repair = func(ctx context.Context, _ string, ids []record.Key) error { return port.Repair(ctx, e, ids) }
		if o.repairDeletes {
			opts.Delete = func(ctx context.Context, _ string, ids []record.Key) error { return port.Delete(ctx, e, ids) }
		}
	}
	return opts, nil
}

// finishVerify writes the reports (a table, or JSON with output "json")
// and returns the command's result: interrupted when stop ended early,
// else verifyExit.
func finishVerify(stop context.Context, stdout io.Writer, reps []*verify.EntityReport, output string, sigCode func() int) error {
	var err error
	if output == "json" {
		err = verify.WriteJSON(stdout, reps)
	} else {
		err = verify.WriteTable(stdout, reps, termWidth(stdout))
	}
	if err != nil {
		return fail(exitUsage, err)
	}
	if stop.Err() != nil {
		return fail(sigCode(), errors.New("interrupted: the results are incomplete"))
	}
	return verifyExit(reps)
}

// verifyExit maps the reports to the command's exit code.
func verifyExit(reps []*verify.EntityReport) error {
	switch code := verify.ExitCode(reps); code {
	case 0:
		return nil
	case 1:
		return fail(exitProblem, nil)
	default:
		return fail(exitUsage, errors.New("verify could not finish: the results are marked incomplete"))
	}
}

type ledgerPool struct{ Pool *pgxpool.Pool }

// verifySides describes both sides of an entity for verify: the source
// table as it is, and the target table with its own column types.
func verifySides(ctx context.Context, set *stores.Set, e *port.Entity) (verify.Side, verify.Side, error) {
	old := verify.Side{Store: e.Spec.FromStore, Source: e.Source, Table: e.Spec.FromTable, Names: e.Read, Key: e.Key, Version: e.Version}
	for _, name := range e.Read {
		old.Columns = append(old.Columns, *e.From.Column(name))
	}
	if pd, err := set.Pushdown(ctx, e.Spec.FromStore); err != nil {
		return old, verify.Side{}, err
	} else if pd != nil && (pd.Dialect == verify.Postgres || pd.Dialect == verify.MySQL) {
		old.SQL = &verify.SQLPushdown{Dialect: pd.Dialect, DB: pd.DB, Pool: pd.Pool, Schema: pd.Schema}
	}
	newSrc, err := set.Source(ctx, e.Spec.ToStore)
	if err != nil {
		return old, verify.Side{}, err
	}
	nt, err := newSrc.Describe(ctx, e.Target.Name)
	if err != nil {
		if sources.IsNotFound(err) {
			return old, verify.Side{}, fmt.Errorf("entity %s: target table %s.%s does not exist (run transit run first)", e.Name, e.Spec.ToStore, e.Target.Name)
		}
		return old, verify.Side{}, err
	}
	nw := verify.Side{Store: e.Spec.ToStore, Source: newSrc, Table: e.Target.Name, Key: e.Target.Key}
	if e.Version != "" {
		nw.Version = e.TargetName(e.Version)
	}
	for _, c := range e.Target.Columns {
		if tc := nt.Column(c.Name); tc != nil {
			nw.Columns = append(nw.Columns, *tc)
		} else {
			nw.Columns = append(nw.Columns, c) // missing in new: verify reports it per column
		}
		nw.Names = append(nw.Names, c.Name)
	}
	if pd, err := set.Pushdown(ctx, e.Spec.ToStore); err != nil {
		return old, nw, err
	} else if pd != nil && pd.Dialect == verify.Postgres {
		nw.SQL = &verify.SQLPushdown{Dialect: pd.Dialect, Pool: pd.Pool, Schema: pd.Schema}
	}
	return old, nw, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/transitdb/transit/audit"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
	"github.com/transitdb/transit/record"
	pgsink "github.com/transitdb/transit/sinks/postgres"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/stores"
)

func init() { extraCommands = append(extraCommands, newAuditCmd) }

type auditOptions struct {
	entities  []string
	store     string
	sample    int
	html      string
	output    string
	compareTo string
}

func newAuditCmd() *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit PLAN",
		Short: "Profile the data to move and check it against the plan's rules and the target's types",
		Long: `Audit the data of the plan's entities before (or while) moving them: a profile
of every column (NULLs, empty strings, distinct values, min/max, most common
values, lengths, histograms, the type text really holds), the plan's checks:
rules (not_null, unique, references, pattern, range, accepted_values,
max_null_fraction, row_count, freshness, sql), and fit to target: which values
the target column types would refuse, with counts and sample IDs.

Each audit is kept in the ledger; --compare-to last shows what changed since
the previous one.

Exit codes: 0 no error-severity rule failed (warnings are reported); 1 a rule
failed or values would be rejected by the target; 2 usage, plan or
connection error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAudit(cmd, args[0], o) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.entities, "entity", nil, "audit only this entity (repeatable)")
	f.StringVar(&o.store, "store", "", "audit only the entities read from this store")
	f.IntVar(&o.sample, "sample", 0, "read only the first N rows of each entity (reported as sampled)")
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML report to this file")
	f.StringVar(&o.output, "output", "", `output format: "" (text) or "json"`)
	f.StringVar(&o.compareTo, "compare-to", "", `"last": show what changed since the previous audit of this plan`)
	return cmd
}

func runAudit(cmd *cobra.Command, path string, o auditOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.output != "" && o.output != "json" {
		return fail(exitUsage, fmt.Errorf("--output %q: want json", o.output))
	}
	if o.compareTo != "" && o.compareTo != "last" {
		return fail(exitUsage, fmt.Errorf("--compare-to %q: only \"last\" is supported", o.compareTo))
	}
	log := newLogger(stderr, o.output == "json", false)
	stop, _, release := signals(cmd.Context(), stderr, "stopping the audit", "no audit was recorded")
	defer release()
	ctx := stop
	var keep func(*plan.Entity) bool
	if o.store != "" {
		keep = func(e *plan.Entity) bool { return e.FromStore == o.store }
	}
	p, set, ents, err := openPlan(ctx, path, o.entities, keep, log)
	if err != nil {
		return err
	}
	defer set.Close()
	if len(ents) == 0 && o.store != "" {
		return fail(exitUsage, fmt.Errorf("--store %s: no entity reads from that store", o.store))
	}
	targets := make([]audit.Target, 0, len(ents))
	for _, e := range ents {
		t, err := auditTarget(ctx, set, e)
		if err != nil {
			return fail(exitUsage, err)
		}
		targets = append(targets, t)
	}
	rep, err := audit.Run(ctx, targets, audit.Options{Sample: o.sample})
	if err != nil {
		if stop.Err() != nil {
			return fail(exitInterrupted, errors.New("interrupted"))
		}
		return fail(exitUsage, err)
	}
	rep.Plan = p.Name

	// History: keep the audit in the ledger when the plan has one.
	var changes []audit.Change
	if ls := p.LedgerStore(); ls != nil {
		if pool, err := set.Pool(ctx, ls.Name); err != nil {
			log.Warn("audit not kept in the ledger", "err", err)
		} else if err := ledger.Migrate(ctx, pool); err != nil {
			log.Warn("audit not kept in the ledger", "err", err)
		} else {
			if o.compareTo == "last" {
				prev, err := audit.Last(ctx, pool, p.Name)
				if err != nil {
					return fail(exitUsage, err)
				}
				if prev == nil {
					fmt.Fprintln(stderr, "transit: no previous audit of this plan to compare with")
				} else {
					changes = audit.Compare(prev, rep)
				}
			}
			if _, err := audit.Save(ctx, pool, p.Name, rep); err != nil {
				log.Warn("audit not kept in the ledger", "err", err)
			}
		}
	} else if o.compareTo != "" {
		return fail(exitUsage, errors.New("--compare-to needs a ledger: the plan has no postgres store"))
	}

	if o.output == "json" {
		err = audit.WriteJSON(stdout, rep)
	} else {
		err = audit.WriteText(stdout, rep)
		if err == nil && o.compareTo != "" {
			fmt.Fprintln(stdout)
			err = audit.WriteChanges(stdout, changes)
		}
	}
	if err != nil {
		return fail(exitUsage, err)
	}
	if o.html != "" {
		f, err := os.Create(o.html)
		if err != nil {
			return fail(exitUsage, err)
		}
		if err := audit.WriteHTML(f, rep); err != nil {
			f.Close()
			return fail(exitUsage, err)
		}
		if err := f.Close(); err != nil {
			return fail(exitUsage, err)
		}
		fmt.Fprintf(stderr, "transit: HTML report written to %s\n", o.html)
	}
	if rep.Failed() {
		return fail(exitProblem, nil)
	}
	return nil
}

// auditTarget builds what audit needs for one entity: its source, a SQL
// handle for pushed-down work, and the target column types (as the
// PostgreSQL sink would create them) for the fit-to-target checks.
func auditTarget(ctx context.Context, set *stores.Set, e *port.Entity) (audit.Target, error) {
	t := audit.Target{Entity: e.Spec, Source: e.Source, Table: e.From}
	pd, err := set.Pushdown(ctx, e.Spec.FromStore)
	if err != nil {
		return t, err
	}
	if pd != nil {
		t.SQL = &audit.SQLPushdown{Dialect: pd.Dialect, DB: pd.DB, Pool: pd.Pool, Schema: pd.Schema}
	}
	if e.Target != nil {
		byName := map[string]record.Column{}
		for i, src := range e.Read {
			c := e.Target.Columns[i]
			if c.TargetType == "" {
				c.TargetType = pgsink.PGType(c)
			}
			byName[src] = c
		}
		t.TargetColumns = make([]record.Column, len(e.From.Columns))
		for i, c := range e.From.Columns {
			t.TargetColumns[i] = byName[c.Name] // zero Column when not routed
		}
	}
	t.Resolve = func(ref string) (sources.Source, *audit.SQLPushdown, string, error) {
		store, table, ok := strings.Cut(ref, ".")
		if !ok {
			store, table = e.Spec.FromStore, ref
		}
		src, err := set.Source(ctx, store)
		if err != nil {
			return nil, nil, "", err
		}
		pd, err := set.Pushdown(ctx, store)
		if err != nil {
			return nil, nil, "", err
		}
		var sp *audit.SQLPushdown
		if pd != nil {
			sp = &audit.SQLPushdown{Dialect: pd.Dialect, DB: pd.DB, Pool: pd.Pool, Schema: pd.Schema}
		}
		return src, sp, table, nil
	}
	return t, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/stores"
	"github.com/transitdb/transit/transition"
)

func init() {
	extraCommands = append(extraCommands, newCutoverCmd, newRollbackCmd, newStatusCmd)
}

type stepOptions struct {
	entity string
	to     string
	dryRun bool
	reason string
	force  bool
	output string
}

func newCutoverCmd() *cobra.Command {
	var o stepOptions
	cmd := &cobra.Command{
		Use:   "cutover PLAN --entity E --to shadow|migrating|new",
		Short: "Move an entity one phase forward (old → shadow → migrating → new), when its gates pass",
		Long: `Move an entity one phase forward. Readers (transit serve, the dualread
library) follow within a second.

  old        the old store answers
  shadow     old answers; new is read too and compared, mismatches recorded
  migrating  new answers; a miss falls back to old and is ported
  new        new answers; old is no longer read

A step forward first runs its gates, on what the ledger knows; thresholds
come from the plan's cutover: blocks (per entity, over a plan-level one):

  lag      catch-up lag ≤ max_lag: now − the start of the last finished
           run that moved the entity (or its --until, if earlier)
  verify   the last verify of the entity is clean (consistent, complete)
           and younger than max_verify_age
  shadow   shadow mismatches / shadow reads ≤ max_mismatch_rate, over at
           least min_shadow_reads reads (recorded by transit serve)
  audit    the entity's error-severity checks passed in the last audit
  rejects  no rejected rows since the last clean verify

→ shadow needs lag; → migrating and → new need all five.
One step at a time; transit rollback goes back.

Every change is kept in the ledger (transit.phase_history) with who
($TRANSIT_ACTOR, else user@host), when, why (--reason), the gates and
their values. --force steps although gates fail; it needs --reason.

Exit codes: 0 moved (with --dry-run: every gate passes); 1 a gate failed
(each is named) or someone else moved the entity meanwhile; 2 usage, plan
or connection error, or a step that is not the next one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCutover(cmd, args[0], o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.entity, "entity", "", "the entity to move (required)")
	f.StringVar(&o.to, "to", "", "the next phase: shadow, migrating or new (required)")
	f.BoolVar(&o.dryRun, "dry-run", false, "check and print the gates only")
	f.StringVar(&o.reason, "reason", "", "why; kept in the ledger's history")
	f.BoolVar(&o.force, "force", false, "step although gates fail (needs --reason)")
	f.StringVar(&o.output, "output", "", `output format: "" (table) or "json"`)
	return cmd
}

func newRollbackCmd() *cobra.Command {
	var o stepOptions
	cmd := &cobra.Command{
		Use:   "rollback PLAN --entity E",
		Short: "Move an entity one phase back, at once, without gates",
		Long: `Move an entity one phase back (new → migrating → shadow → old), at once:
no gates. Readers follow within a second. The change is kept in the ledger
with who, when and --reason.

Exit codes: 0 moved; 1 someone else moved the entity meanwhile; 2 usage,
plan or connection error, or an entity already in old.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runRollback(cmd, args[0], o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.entity, "entity", "", "the entity to move back (required)")
	f.StringVar(&o.reason, "reason", "", "why; kept in the ledger's history")
	f.StringVar(&o.output, "output", "", `output format: "" (text) or "json"`)
	return cmd
}

// openLedger loads the plan and opens (and migrates) its ledger: all the
// transition commands need; they never connect to the data stores.
func openLedger(ctx context.Context, path, output string) (*plan.Plan, *stores.Set, *pgxpool.Pool, error) {
	if output != "" && output != "json" {
		return nil, nil, nil, fail(exitUsage, fmt.Errorf("--output %q: want json", output))
	}
	p, err := plan.Load(path)
	if err != nil {
		return nil, nil, nil, fail(exitUsage, err)
	}
	ls := p.LedgerStore()
	if ls == nil {
		return nil, nil, nil, fail(exitUsage, errors.New("the plan has no postgres store to keep the ledger in"))
	}
	set := stores.New(p)
	pool, err := set.Pool(ctx, ls.Name)
	if err == nil {
		err = ledger.Migrate(ctx, pool)
	}
	if err != nil {
		set.Close()
		return nil, nil, nil, fail(exitUsage, err)
	}
	return p, set, pool, nil
}

// knownEntity checks that entity is one the plan names or the ledger has
// seen moved (a table of a tables: rule, once run), so a typo is caught.
func knownEntity(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, entity string) error {
	if entity == "" {
		return fail(exitUsage, errors.New("--entity is required"))
	}
	sts, err := transition.Status(ctx, pool, p)
	if err != nil {
		return fail(exitUsage, err)
	}
	var names []string
	for _, s := range sts {
		if s.Entity == entity {
			return nil
		}
		names = append(names, s.Entity)
	}
	sort.Strings(names)
	known := strings.Join(names, ", ")
	if known == "" {
		known = "none yet; a table of a tables: rule is known once transit run has moved it"
	}
	return fail(exitUsage, fmt.Errorf("unknown entity %q: the plan routes no such entity and no run has moved one (known: %s)",
		entity, known))
}

func runCutover(cmd *cobra.Command, path string, o stepOptions) error {
	ctx := cmd.Context()
	stdout := cmd.OutOrStdout()
	if o.to == "" {
		return fail(exitUsage, errors.New("--to is required (shadow, migrating or new)"))
	}
	to, err := transition.ParsePhase(o.to)
	if err != nil || to == transition.Old {
		return fail(exitUsage, fmt.Errorf("--to %q: want shadow, migrating or new (to go back use transit rollback)", o.to))
	}
	if o.force && strings.TrimSpace(o.reason) == "" {
		return fail(exitUsage, errors.New("--force needs --reason (it is recorded in the ledger)"))
	}
	p, set, pool, err := openLedger(ctx, path, o.output)
	if err != nil {
		return err
	}
	defer set.Close()
	if err := knownEntity(ctx, pool, p, o.entity); err != nil {
		return err
	}
	res, err := transition.Forward(ctx, pool, p, o.entity, to, transition.StepOptions{DryRun: o.dryRun, Force: o.force, Reason: o.reason})
	if err != nil {
		return stepError(err)
	}
	if o.output == "json" {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return fail(exitUsage, err)
		}
	} else {
		writeStep(stdout, res, o.dryRun)
	}
	failed := res.Failed()
	switch {
	case len(failed) == 0:
		return nil
	case res.Forced:
		fmt.Fprintf(cmd.ErrOrStderr(), "transit: forced past failed gates: %s (recorded with the reason)\n", strings.Join(failed, ", "))
		return nil
	case o.dryRun:
		return fail(exitProblem, fmt.Errorf("gates would refuse %s → %s: %s", res.From, res.To, strings.Join(failed, ", ")))
	}
	return fail(exitProblem, fmt.Errorf("refused %s → %s for %s: failed gates: %s (fix them, or --force --reason \"…\")",
		res.From, res.To, o.entity, strings.Join(failed, ", ")))
}

func runRollback(cmd *cobra.Command, path string, o stepOptions) error {
	ctx := cmd.Context()
	p, set, pool, err := openLedger(ctx, path, o.output)
	if err != nil {
		return err
	}
	defer set.Close()
	if err := knownEntity(ctx, pool, p, o.entity); err != nil {
		return err
	}
	res, err := transition.Rollback(ctx, pool, p, o.entity, transition.StepOptions{Reason: o.reason})
	if err != nil {
		return stepError(err)
	}
	if o.output == "json" {
		if err := json.NewEncoder(cmd.OutOrStdout()).Encode(res); err != nil {
			return fail(exitUsage, err)
		}
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s → %s (rolled back)\n", res.Entity, res.From, res.To)
	return nil
}

// stepError maps the errors of a step to exit codes.
func stepError(err error) error {
	var moved *transition.ErrPhaseMoved
	if errors.As(err, &moved) {
		return fail(exitProblem, err)
	}
	return fail(exitUsage, err)
}

func writeStep(w io.Writer, res transition.StepResult, dryRun bool) {
	verb := "moved"
	switch {
	case dryRun:
		verb = "dry run"
	case res.Forced:
		verb = "moved (forced)"
	case !res.Applied:
		verb = "refused"
	}
	fmt.Fprintf(w, "%s: %s → %s: %s\n", res.Entity, res.From, res.To, verb)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  GATE\tRESULT\tVALUE\tLIMIT\tWHAT TO DO")
	for _, g := range res.Gates {
		r := "ok"
		if !g.Passed {
			r = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", g.Name, r, g.Value, g.Limit, g.Detail)
	}
	tw.Flush()
}

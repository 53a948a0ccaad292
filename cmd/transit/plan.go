package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/transitdb/transit/plan"
)

func newPlanCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Check, show or describe plan files",
	}
	var offline bool
	check := &cobra.Command{
		Use:   "check PLAN",
		Short: "Check a plan: exit 0, or print file:line:col and what is wrong and exit 2",
		Long: `Check a plan file. Static problems (syntax, unknown keys, missing
environment variables, unknown stores) are all reported at once with their
file:line:col, as is a store used for what transit cannot do with its kind yet
(writing to elasticsearch, for one). Unless --offline is given, transit then
connects to the sources and the targets and checks that every table, key and
column the plan names exists; a store it cannot reach exits 2.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if offline {
				p, err := plan.Load(args[0])
				if err != nil {
					return fail(exitUsage, err)
				}
				advise(cmd.ErrOrStderr(), args[0], p)
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			p, set, ents, err := openPlan(ctx, args[0], nil, nil, slog.Default())
			if err != nil {
				return err
			}
			advise(cmd.ErrOrStderr(), args[0], p)
			defer set.Close()
			// Open every target too, as run would (a missing PostgreSQL
			// target database is created, as run does): an unreachable
			// target fails here, not after the sources were read.
			opened := map[string]bool{}
			for _, e := range ents {
				if to := e.Spec.ToStore; !opened[to] {
					opened[to] = true
					if _, err := set.Sink(ctx, to); err != nil {
						return fail(exitUsage, err)
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d entities)\n", args[0], len(ents))
			return nil
		},
	}
	check.Flags().BoolVar(&offline, "offline", false, "check the file only; do not connect to the stores")

	var showOffline bool
	show := &cobra.Command{
		Use:   "show PLAN",
		Short: "Print the resolved plan: wildcards expanded, defaults filled, secrets redacted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if showOffline {
				p, err := plan.Load(args[0])
				if err != nil {
					return fail(exitUsage, err)
				}
				return p.Redacted().WriteYAML(cmd.OutOrStdout())
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			p, set, ents, err := openPlan(ctx, args[0], nil, nil, slog.Default())
			if err != nil {
				return err
			}
			defer set.Close()
			// Every entity as it will run: its key (the primary key when
			// the plan names none) and its target filled in.
			p.Entities, p.Tables = nil, nil
			for _, e := range ents {
				spec := *e.Spec
				spec.ID = e.Key
				p.Entities = append(p.Entities, &spec)
			}
			return p.Redacted().WriteYAML(cmd.OutOrStdout())
		},
	}
	show.Flags().BoolVar(&showOffline, "offline", false, "do not connect to expand tables: wildcards")

	schema := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the plan format (for editors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(plan.JSONSchema())
			return err
		},
	}
	cmd.AddCommand(check, show, schema)
	return cmd
}

// advise prints the plan's advice (plan.Advice) as notes on w.
func advise(w io.Writer, path string, p *plan.Plan) {
	for _, a := range p.Advice() {
		fmt.Fprintf(w, "%s: note: %s\n", path, a)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/transitdb/transit/transition"
)

func newStatusCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status PLAN",
		Short: "Show each entity's phase and the evidence for its next step",
		Long: `Show, per entity (the plan's routed entities and every entity a run has
moved): its phase and since when, the catch-up lag (now − the start of the
last finished run that moved it), when that run finished, the last verify
(when, and whether it was clean), the shadow mismatch rate (mismatches /
reads, as transit serve records them) and the rejected rows not covered by
a later clean verify. All from the ledger: no data store is contacted.

--output json writes one JSON object per entity per line.

Exit codes: 0 shown; 2 usage, plan or connection error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, set, pool, err := openLedger(ctx, args[0], output)
			if err != nil {
				return err
			}
			defer set.Close()
			sts, err := transition.Status(ctx, pool, p)
			if err != nil {
				return fail(exitUsage, err)
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, s := range sts {
					if err := enc.Encode(s); err != nil {
						return fail(exitUsage, err)
					}
				}
				return nil
			}
			writeStatus(cmd.OutOrStdout(), sts, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&output, "output", "", `output format: "" (table) or "json" (one object per entity per line)`)
	return cmd
}

func writeStatus(w io.Writer, sts []transition.EntityStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tPHASE\tSINCE\tLAG\tLAST RUN\tLAST VERIFY\tSHADOW MISMATCHES\tREJECTS")
	ago := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return roundDur(now.Sub(*t)) + " ago"
	}
	for _, s := range sts {
		lag := "never ported"
		if s.LagSeconds >= 0 {
			lag = roundDur(time.Duration(s.LagSeconds * float64(time.Second)))
		}
		since := "-"
		if !s.ChangedAt.IsZero() {
			since = ago(&s.ChangedAt)
		}
		verify := ago(s.LastVerify)
		if s.LastVerify != nil {
			if s.LastVerifyClean {
				verify += " (clean)"
			} else {
				verify += " (NOT clean)"
			}
		}
		shadow := "-"
		if s.ShadowReads > 0 {
			shadow = fmt.Sprintf("%.4g%% (%d of %d)", s.MismatchRate*100, s.ShadowMismatches, s.ShadowReads)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.Entity, s.Phase, since, lag, ago(s.LastRun), verify, shadow, s.Rejects)
	}
	tw.Flush()
}

func roundDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	default:
		return strings.TrimSuffix(d.Round(time.Hour).String(), "0m0s")
	}
}

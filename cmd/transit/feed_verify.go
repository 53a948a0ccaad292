package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/verify"
)

// runFeedVerify is transit verify --feed: each named feed's current
// generation against PostgreSQL, printed like any verify result, with
// --repair re-feeding exactly the differing documents and comparing again.
func runFeedVerify(cmd *cobra.Command, path string, o verifyOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if len(o.entities) > 0 || o.sinceLast || o.repairDeletes {
		return fail(exitUsage, errors.New("--feed goes without --entity, --since-last and --repair-deletes (a feed's repair deletes what PostgreSQL has no row for)"))
	}
	log := newLogger(stderr, o.output == "json", false)
	stop, sigCode, release := signals(cmd.Context(), stderr, stoppingRun, afterRun)
	defer release()
	ctx := stop
	e, err := openFeeds(ctx, path, feedOptions{feeds: o.feeds, warnWAL: "1GiB"}, true, log, feeds.Options{})
	if err != nil {
		return err
	}
	defer e.Close()
	var reps []*verify.EntityReport
	for _, f := range e.feeds {
		rep := verifyFeed(ctx, e, f, o.repair)
		reps = append(reps, rep)
		msg := "verify " + rep.New + ": "
		switch rep.Status() {
		case "consistent":
			msg += fmt.Sprintf("equal: %d documents", rep.RowsOld)
			if rep.Repaired > 0 {
				msg += fmt.Sprintf(" (%d repaired)", rep.Repaired)
			}
		case "differences":
			msg += fmt.Sprintf("%d missing, %d extra, %d changed (%d repaired)", rep.Missing, rep.Extra, rep.Changed, rep.Repaired)
		default:
			msg += "error: " + fmt.Sprint(rep.Err)
		}
		if err := e.l.RecordVerify(context.WithoutCancel(ctx), e.p.Name, f.Name(), msg); err != nil {
			log.Warn("verify result not kept in the ledger", "feed", f.Name(), "err", err)
		}
	}
	return finishVerify(stop, stdout, reps, o.output, sigCode)
}

// verifyFeed compares f's current generation with PostgreSQL (and
// repairs it); a comparison that cannot finish is an error report.
func verifyFeed(ctx context.Context, e *feedEnv, f *feeds.Feed, repair bool) *verify.EntityReport {
	failed := func(gen string, err error) *verify.EntityReport {
		return &verify.EntityReport{Entity: f.Name(), Old: "postgres", New: gen, Mode: "full", Incomplete: true, Err: err}
	}
	st, err := e.l.Feed(ctx, e.p.Name, f.Name())
	if err != nil {
		return failed("", err)
	}
	gen := st.CurrentGen
	if gen == "" {
		return failed("", fmt.Errorf("feed %s: %w (run transit feed rebuild)", f.Name(), feeds.ErrNotBuilt))
	}
	rep, err := f.Compare(ctx, gen, 100)
	if err != nil {
		return failed(gen, err)
	}
	ent := rep.Entity()
	if !repair || rep.Consistent() {
		return ent
	}
	ids := rep.RepairIDs()
	keys := make([]record.Key, 0, len(ids))
	for _, id := range ids {
		k, err := f.ParseID(id)
		if err != nil {
			ent.Err = err
			return ent
		}
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if _, err := f.Refeed(ctx, gen, keys[:n]); err != nil {
			ent.Err = fmt.Errorf("feed %s: repair: %w", f.Name(), err)
			return ent
		}
		keys = keys[n:]
	}
	again, err := f.Compare(ctx, gen, 100)
	if err != nil {
		ent.Err = fmt.Errorf("feed %s: verify after the repair: %w", f.Name(), err)
		return ent
	}
	left := map[string]bool{}
	for _, id := range again.RepairIDs() {
		left[id] = true
	}
	for _, id := range ids {
		if !left[id] {
			ent.Repaired++
		}
	}
	listed := map[string]bool{}
	for i := range ent.Diffs {
		id := fmt.Sprint(ent.Diffs[i].Key[0])
		listed[id] = true
		ent.Diffs[i].Repaired = !left[id]
	}
	// What is still wrong and not listed yet (in flight, or beyond the
	// first 100) is listed unrepaired, so the report is never consistent
	// while anything differs.
	for _, d := range again.Diffs {
		if !listed[fmt.Sprint(d.Key[0])] {
			ent.Diffs = append(ent.Diffs, d)
		}
	}
	if !again.Consistent() && len(again.Diffs) == 0 {
		ent.Notes = append(ent.Notes, fmt.Sprintf("after the repair: %s", feeds.Summary(again, 0)))
		ent.Incomplete = true
	}
	return ent
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/port"
)

type runOptions struct {
	entities  []string
	until     string
	workers   int
	output    string
	abandon   bool
	chunkRows int
	verbose   bool
	metrics   string
	deletes   bool
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run PLAN",
		Short: "Move the plan's entities: a backfill the first time, a catch-up after that",
		Long: `Run the plan: every routed entity is moved from its source to its target in
checkpointed batches. The first run of an entity is a backfill; with a
version column, later runs move only the rows changed since the last one
(a catch-up, the same code path). Several processes, on several machines,
may run the same plan at once: they share the run's chunks through the
ledger.

Stop it at any moment (Ctrl-C, SIGTERM, even kill -9) and run the same
command again: it resumes from the last checkpoint.

Exit codes: 0 done; 1 rejects over an entity's max_rejects; 2 usage, plan
or connection error; 130/143 interrupted (resumable).
` + deletesHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runRun(cmd, args[0], o) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.entities, "entity", nil, "move only this entity (repeatable)")
	f.StringVar(&o.until, "until", "", "move only rows whose version is at or before this time (now, RFC 3339 or 2006-01-02 15:04:05 UTC)")
	f.IntVar(&o.workers, "workers", 3, "chunks moved at once by this process")
	f.StringVar(&o.output, "output", "", `output format: "" (table/progress bar) or "json" (one object per line)`)
	f.BoolVar(&o.abandon, "abandon", false, "mark the plan's unfinished run failed, then start a new one")
	f.IntVar(&o.chunkRows, "chunk-rows", 0, "rows per chunk (default: 10 batches, at least 50000)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging")
	f.StringVar(&o.metrics, "metrics-addr", "", "serve Prometheus metrics on this address during the run (e.g. 127.0.0.1:9464)")
	f.BoolVar(&o.deletes, "deletes", false, "after the run, delete from the targets the records the sources no longer hold")
	return cmd
}

func parseUntil(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if s == "now" {
		// The time the command started: what a nightly job means by
		// "bring every target up to now".
		t := time.Now()
		return &t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("--until %q: want now, RFC 3339 (2024-05-01T00:00:00Z) or 2006-01-02 15:04:05 (UTC)", s)
}

// What a run, a feed or a verify does when signalled.
const (
	stoppingRun = "finishing the batches in flight and saving checkpoints"
	afterRun    = "the next run resumes from the last checkpoint"
)

// signals returns a context cancelled by the first SIGINT/SIGTERM, and the
// exit code that signal calls for. A second signal exits at once: still
// safe, every step is idempotent.
// doing says what the command does between the first signal and its exit,
// after what a second signal leaves behind.
func signals(parent context.Context, stderr io.Writer, doing, after string) (context.Context, func() int, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	code := make(chan int, 1)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		c := 130
		if sig == syscall.SIGTERM {
			c = 143
		}
		code <- c
		fmt.Fprintf(stderr, "\ntransit: %s: %s (again to quit at once)\n", sig, doing)
		cancel()
		backstop := time.NewTimer(stopDeadline)
		defer backstop.Stop()
		select {
		case _, ok := <-ch:
			if ok {
				fmt.Fprintf(stderr, "transit: quitting now; %s\n", after)
				os.Exit(c)
			}
		case <-backstop.C:
			fmt.Fprintf(stderr, "transit: still not stopped %s after the signal; quitting now; %s\n", stopDeadline, after)
			os.Exit(c)
		}
	}()
	got := func() int {
		select {
		case c := <-code:
			code <- c
			return c
		default:
			return exitInterrupted
		}
	}
	return ctx, got, func() { signal.Stop(ch); close(ch); cancel() }
}

func runRun(cmd *cobra.Command, path string, o runOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	jsonOut := o.output == "json"
	if o.output != "" && !jsonOut {
		return fail(exitUsage, fmt.Errorf("--output %q: want json", o.output))
	}
	log := newLogger(stderr, jsonOut, o.verbose)
	until, err := parseUntil(o.until)
	if err != nil {
		return fail(exitUsage, err)
	}
	stop, sigCode, release := signals(cmd.Context(), stderr, stoppingRun, afterRun)
	defer release()
	ctx := stop
	p, set, ents, err := openPlan(ctx, path, o.entities, nil, log)
	if err != nil {
		return err
	}
	defer set.Close()
	if err := port.OpenSinks(ctx, ents, set); err != nil {
		return fail(exitUsage, err)
	}
	if o.deletes {
		if err := checkDeletes(ents); err != nil {
			return fail(exitUsage, err)
		}
	}
	tuneMemory(ents, o.workers)
	ls := p.LedgerStore()
	if ls == nil {
		return fail(exitUsage, errors.New("the plan has no postgres store to keep the ledger in"))
	}
	pool, err := set.Pool(ctx, ls.Name)
	if err != nil {
		return fail(exitUsage, err)
	}
	l, err := ledger.Open(ctx, pool)
	if err != nil {
		return fail(exitUsage, err)
	}
	defer l.Close()
	// What the old tables look like, for transit serve to open by when an
	// old store is down (dualread, offline.go).
	if err := ledger.SaveSourceSchemas(ctx, pool, p.Name, port.SourceSchemas(ents)); err != nil {
		log.Warn("source table descriptions not recorded", "err", err)
	}
	if o.abandon {
		if id, err := l.Abandon(ctx, p.Name); err != nil {
			return fail(exitUsage, err)
		} else if id != 0 {
			log.Info("abandoned unfinished run", "run", id)
		}
	}

	reg := metrics.NewRegistry()
	if o.metrics != "" {
		ln, err := net.Listen("tcp", o.metrics)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("--metrics-addr: %w", err))
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // ends with Close below
		defer srv.Close()
		log.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	}
	prog := newProgress(stderr, stdout, jsonOut)
	res, err := port.Run(stop, p, ents, l, port.Options{
		Metrics:   reg,
		Workers:   o.workers,
		Until:     until,
		ChunkRows: o.chunkRows,
		SameDB:    func(store string) bool { return set.SameDatabase(ls.Name, store) },
		Log:       log,
		Progress:  prog.update,
		Probe:     set.Probe,
	})
	prog.close()
	if res != nil {
		writeRunSummary(stdout, res, jsonOut)
	}
	if err != nil {
		var inc *ledger.ErrIncompatibleRun
		if errors.As(err, &inc) {
			return fail(exitUsage, err)
		}
		if stop.Err() != nil {
			return fail(sigCode(), fmt.Errorf("interrupted: %v; run the same command again to resume", err))
		}
		return fail(exitUsage, err)
	}
	switch {
	case res.OverRejects:
		return fail(exitProblem, errors.New("rejects over the limit (see above and transit.rejects); the run was stopped"))
	case res.Interrupted:
		return fail(sigCode(), fmt.Errorf("interrupted; checkpoints saved. Resume with: transit run %s", path))
	case !res.Done && res.OwnDone:
		fmt.Fprintf(stderr, "transit: the entities of this process are moved; run %d still has others, planned by another --entity selection: run the plan without --entity (or with theirs) to finish it\n", res.RunID)
	case !res.Done:
		return fail(exitUsage, errors.New("the run did not finish"))
	}
	if o.deletes {
		dres, err := runDeletes(ctx, set, ents, pool, p.Name, res.RunID, newDeletesProgress(stderr, stdout, jsonOut), log)
		writeDeletes(stdout, dres, jsonOut)
		if err != nil {
			if stop.Err() != nil {
				return fail(sigCode(), fmt.Errorf("interrupted: %v; run again with --deletes to finish", err))
			}
			return fail(exitUsage, err)
		}
	}
	return nil
}

// tuneMemory sets the garbage collector for a run, unless GOGC or
// GOMEMLIMIT say otherwise. Batches are short-lived garbage: collecting
// half as often (GOGC 200) cuts the collector's CPU by a third on the
// employees bench. A soft memory limit sized from what the run holds at
// once — a few batches per worker, at the widest entity's batch size —
// keeps the peak flat whatever the size of the data (57–62 MiB at 1× and
// 4× the bench), and leaves room for bigger batches: a fixed 48 MiB made
// the collector run without pause with 20,000-row batches (3× the CPU).
func tuneMemory(ents []*port.Entity, workers int) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	var widest int64
	for _, e := range ents {
		if e.Target == nil {
			continue
		}
		widest = max(widest, int64(e.Spec.BatchSize)*int64(len(e.Read)))
	}
	// values in flight per worker: the source's batch, one queued, one
	// being written; ~64 bytes each with their boxes and strings. (The
	// two spare buffers of port's rowBuf hold no live values of their own.)
	inFlight := widest * int64(max(workers, 1)) * 3 * 64
	debug.SetGCPercent(200)
	debug.SetMemoryLimit(32<<20 + inFlight)
}

func selectEntities(specs []*plan.Entity, want []string) ([]*plan.Entity, error) {
	if len(want) == 0 {
		return specs, nil
	}
	var out []*plan.Entity
	for _, w := range want {
		found := false
		for _, s := range specs {
			if s.Name == w || s.ToTable == w || strings.EqualFold(s.Name, w) {
				out = append(out, s)
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(specs))
			for i, s := range specs {
				names[i] = s.Name
			}
			return nil, fmt.Errorf("--entity %s: no such entity (have: %s)", w, strings.Join(names, ", "))
		}
	}
	return out, nil
}

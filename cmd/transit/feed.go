package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/ledger"
	"github.com/transitdb/transit/metrics"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/stores"
)

func init() { extraCommands = append(extraCommands, newFeedCmd) }

type feedOptions struct {
	feeds    []string
	until    string
	output   string
	warnWAL  string
	metrics  string
	verbose  bool
	noVerify bool
}

func newFeedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feed",
		Short: "Keep Elasticsearch indexes and Redis keyspaces current from PostgreSQL",
		Long: `Feeds are derived copies of PostgreSQL data (the plan's feeds: section),
built by the chunked engine and kept current from logical replication
(wal_level=logical; the plan's postgres user needs the REPLICATION
privilege).

Exit codes: 0 done; 1 the job found a problem (rejects, verify failed);
2 usage, plan or connection error; 130/143 interrupted (resumable: run the
same command again).`,
	}
	var o feedOptions
	add := func(c *cobra.Command, feedHelp string) *cobra.Command {
		f := c.Flags()
		f.StringArrayVar(&o.feeds, "feed", nil, feedHelp)
		f.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging")
		f.StringVar(&o.warnWAL, "warn-wal", "1GiB", "warn loudly when a feed's slot holds more WAL than this (bytes, or with KiB/MiB/GiB)")
		c.Args = cobra.ExactArgs(1)
		return c
	}
	rebuild := add(&cobra.Command{
		Use:   "rebuild PLAN --feed F",
		Short: "Build a fresh generation (index / keyspace) from PostgreSQL, catch it up, verify, then switch readers atomically",
		Long: `Build a fresh generation of each named feed: a new replication slot first
(so no change is missed), the chunked backfill, a catch-up from the slot,
a compare of the new generation with PostgreSQL (a difference keeps readers
where they are; --no-verify skips it), then one atomic switch of readers (an
Elasticsearch alias; a Redis feed is rebuilt in place, see README). Killed at any point, readers stay where
they were and the same command resumes the rebuild.`,
		RunE: func(cmd *cobra.Command, args []string) error { return feedRebuild(cmd, args[0], o) },
	}, "feed to rebuild (repeatable; default every feed)")
	rebuild.Flags().BoolVar(&o.noVerify, "no-verify", false, "switch without comparing the new generation with PostgreSQL first (faster for a big first build; run transit verify --feed later)")
	run := add(&cobra.Command{
		Use:   "run PLAN [--feed F]...",
		Short: "Keep feeds current from PostgreSQL's logical replication until stopped (or --until)",
		Long: `Stream each feed's changes into its current generation. Every transaction
is written with its commit LSN as the version, then stored in the ledger,
and only then confirmed to PostgreSQL: kill it at any moment (even -9) and
run it again, it resumes exactly. A feed never built is built first.

--until T stops once the stream has passed T (a nightly job): exit 0.`,
		RunE: func(cmd *cobra.Command, args []string) error { return feedRun(cmd, args[0], o) },
	}, "feed to run (repeatable; default every feed)")
	run.Flags().StringVar(&o.until, "until", "", "stop once the stream has passed this time (now, RFC 3339 or 2006-01-02 15:04:05 UTC)")
	run.Flags().StringVar(&o.metrics, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9464)")
	status := add(&cobra.Command{
		Use:   "status PLAN",
		Short: "Per feed: position (LSN), lag in bytes and seconds, last rebuild, last verify",
		RunE:  func(cmd *cobra.Command, args []string) error { return feedStatus(cmd, args[0], o) },
	}, "feed to show (repeatable; default every feed)")
	status.Flags().StringVar(&o.output, "output", "", `output format: "" (table) or "json" (one object per feed)`)
	drop := add(&cobra.Command{
		Use:   "drop PLAN --feed F",
		Short: "Remove the feed's replication slot and publication (says what WAL it frees); the index / keyspace stays",
		RunE:  func(cmd *cobra.Command, args []string) error { return feedDrop(cmd, args[0], o) },
	}, "feed to drop (repeatable, required)")
	cmd.AddCommand(rebuild, run, status, drop)
	return cmd
}

// parseBytes reads 1073741824, 512MiB, 1GiB, 100KiB (also KB/MB/GB as
// powers of 1024).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--warn-wal %q: want a size such as 1GiB", s)
	}
	return int64(n * float64(mult)), nil
}

// feedEnv is what every feed command opens.
type feedEnv struct {
	p      *plan.Plan
	set    *stores.Set
	l      *ledger.Ledger
	feeds  []*feeds.Feed
	close  []func()
	log    *slog.Logger
	warnAt int64
}

func (e *feedEnv) Close() {
	for i := len(e.close) - 1; i >= 0; i-- {
		e.close[i]()
	}
}

// openFeeds loads the plan and opens the named feeds (all when none).
func openFeeds(ctx context.Context, path string, o feedOptions, needOne bool, log *slog.Logger, opts feeds.Options) (*feedEnv, error) {
	warnAt, err := parseBytes(o.warnWAL)
	if err != nil {
		return nil, fail(exitUsage, err)
	}
	p, err := plan.Load(path)
	if err != nil {
		return nil, fail(exitUsage, err)
	}
	specs, err := selectFeeds(p, o.feeds, needOne)
	if err != nil {
		return nil, fail(exitUsage, err)
	}
	e := &feedEnv{p: p, set: stores.New(p), log: log, warnAt: warnAt}
	e.close = append(e.close, func() { e.set.Close() })
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	ls := p.LedgerStore()
	if ls == nil {
		return nil, fail(exitUsage, errors.New("the plan has no postgres store to keep the ledger in"))
	}
	pool, err := e.set.Pool(ctx, ls.Name)
	if err != nil {
		return nil, fail(exitUsage, err)
	}
	if e.l, err = ledger.Open(ctx, pool); err != nil {
		return nil, fail(exitUsage, err)
	}
	e.close = append(e.close, e.l.Close)
	opts.Log = log
	for _, spec := range specs {
		var f *feeds.Feed
		target, closeTarget, err := openTarget(ctx, p, e.set, spec, log, func(m map[string]any) string { return f.ScanID(m) })
		if err != nil {
			return nil, fail(exitUsage, fmt.Errorf("feed %s: %w", spec.Name, err))
		}
		e.close = append(e.close, closeTarget)
		if f, err = feeds.Open(ctx, p, spec, e.l, e.set, target, opts); err != nil {
			return nil, fail(exitUsage, err)
		}
		e.feeds = append(e.feeds, f)
	}
	ok = true
	return e, nil
}

func selectFeeds(p *plan.Plan, names []string, needOne bool) ([]*plan.Feed, error) {
	if len(p.Feeds) == 0 {
		return nil, errors.New("the plan has no feeds: section")
	}
	if len(names) == 0 {
		if needOne {
			return nil, errors.New("name the feed with --feed")
		}
		return p.Feeds, nil
	}
	var out []*plan.Feed
	for _, n := range names {
		f := p.Feed(n)
		if f == nil {
			have := make([]string, len(p.Feeds))
			for i, f := range p.Feeds {
				have[i] = f.Name
			}
			return nil, fmt.Errorf("--feed %s: no such feed (have: %s)", n, strings.Join(have, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func feedRebuild(cmd *cobra.Command, path string, o feedOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	log := newLogger(stderr, false, o.verbose)
	stop, sigCode, release := signals(cmd.Context(), stderr, stoppingRun, afterRun)
	defer release()
	hook := verifyHook
	if o.noVerify {
		hook = nil
	}
	e, err := openFeeds(stop, path, o, false, log, feeds.Options{Workers: 3, Verify: hook})
	if err != nil {
		return err
	}
	defer e.Close()
	tuneFeedMemory(1) // one rebuild at a time
	for _, f := range e.feeds {
		t0 := time.Now()
		res, err := f.Rebuild(stop)
		if err != nil {
			switch {
			case stop.Err() != nil || errors.Is(err, feeds.ErrInterrupted):
				return fail(sigCode(), fmt.Errorf("feed %s: %w; run the same command again to resume", f.Name(), feeds.ErrInterrupted))
			case errors.Is(err, feeds.ErrRejects):
				return fail(exitProblem, err)
			}
			return fail(exitUsage, err)
		}
		fmt.Fprintf(stdout, "feed %s: %s ready and current (backfilled %d, caught up %d, swept %d, resumed %v) in %s",
			f.Name(), res.Generation, res.Backfilled, res.CaughtUp, res.Swept, res.Resumed, time.Since(t0).Round(time.Millisecond))
		if len(res.Dropped) > 0 {
			fmt.Fprintf(stdout, "; dropped %s", strings.Join(res.Dropped, ", "))
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func feedRun(cmd *cobra.Command, path string, o feedOptions) error {
	stderr := cmd.ErrOrStderr()
	log := newLogger(stderr, false, o.verbose)
	until, err := parseUntil(o.until)
	if err != nil {
		return fail(exitUsage, err)
	}
	stop, sigCode, release := signals(cmd.Context(), stderr, stoppingRun, afterRun)
	defer release()
	reg := metrics.NewRegistry()
	e, err := openFeeds(stop, path, o, false, log, feeds.Options{Workers: 3, Metrics: reg, Verify: verifyHook})
	if err != nil {
		return err
	}
	defer e.Close()
	tuneFeedMemory(len(e.feeds)) // each feed may build itself at once
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
	errs := make([]error, len(e.feeds))
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(stop)
	defer cancel()
	for i, f := range e.feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.Run(ctx, feeds.RunOptions{Until: until, WarnWAL: e.warnAt})
			if errs[i] != nil && ctx.Err() == nil && !errors.Is(errs[i], feeds.ErrRejects) {
				cancel() // one feed failing stops the others: the exit code says so
			}
		}()
	}
	wg.Wait()
	if stop.Err() != nil {
		return fail(sigCode(), errors.New("interrupted; positions saved. Run the same command again to resume"))
	}
	var rejected error
	for i, err := range errs {
		switch {
		case err == nil || errors.Is(err, context.Canceled):
		case errors.Is(err, feeds.ErrRejects):
			rejected = errors.Join(rejected, err)
		default:
			return fail(exitUsage, fmt.Errorf("feed %s: %w", e.feeds[i].Name(), err))
		}
	}
	if rejected != nil {
		return fail(exitProblem, rejected)
	}
	return nil
}

func feedStatus(cmd *cobra.Command, path string, o feedOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.output != "" && o.output != "json" {
		return fail(exitUsage, fmt.Errorf("--output %q: want json", o.output))
	}
	log := newLogger(stderr, o.output == "json", o.verbose)
	ctx := cmd.Context()
	e, err := openFeeds(ctx, path, o, false, log, feeds.Options{})
	if err != nil {
		return err
	}
	defer e.Close()
	var sts []feeds.Status
	for _, f := range e.feeds {
		sts = append(sts, f.Status(ctx, e.warnAt))
	}
	writeFeedStatus(stdout, stderr, sts, o.output == "json")
	for _, s := range sts {
		if s.Error != "" {
			return fail(exitUsage, fmt.Errorf("feed %s: %s", s.Feed, s.Error))
		}
	}
	return nil
}

func writeFeedStatus(stdout, stderr io.Writer, sts []feeds.Status, jsonOut bool) {
	if jsonOut {
		enc := json.NewEncoder(stdout)
		for _, s := range sts {
			_ = enc.Encode(s)
		}
		return
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEED\tTARGET\tGENERATION\tPOSITION\tLAG BYTES\tLAG SECONDS\tRUNNING\tLAST REBUILD\tLAST VERIFY")
	when := func(t time.Time, msg string) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339) + " " + msg
	}
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f\t%v\t%s\t%s\n", s.Feed, s.Target, s.Generation, s.Position, s.LagBytes,
			s.LagSeconds, s.Active, when(s.LastRebuild, s.RebuildMsg), when(s.LastVerify, s.VerifyMsg))
	}
	tw.Flush()
	for _, s := range sts {
		if s.Rebuilding != "" {
			fmt.Fprintf(stdout, "feed %s: rebuild of %s in progress (phase %s)\n", s.Feed, s.Rebuilding, s.Phase)
		}
		if s.Warning != "" {
			fmt.Fprintf(stderr, "WARNING: feed %s: %s (slot %s holds %d bytes of WAL)\n", s.Feed, s.Warning, s.Slot, s.LagBytes)
		}
		if s.Rejects > 0 {
			fmt.Fprintf(stderr, "WARNING: feed %s: the store refused %d documents outside a rebuild's backfill; they are in transit.rejects (run_id %d); transit verify --feed %s --repair re-feeds them\n",
				s.Feed, s.Rejects, ledger.NoRun, s.Feed)
		}
	}
}

func feedDrop(cmd *cobra.Command, path string, o feedOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	log := newLogger(stderr, false, o.verbose)
	ctx := cmd.Context()
	e, err := openFeeds(ctx, path, o, true, log, feeds.Options{})
	if err != nil {
		return err
	}
	defer e.Close()
	for _, f := range e.feeds {
		held, err := f.Drop(ctx)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("feed %s: %w", f.Name(), err))
		}
		fmt.Fprintf(stdout, "feed %s: slot and publication dropped; %s of WAL no longer held for it (the index / keyspace is left as it is)\n", f.Name(), humanBytes(held))
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// tuneFeedMemory sets the garbage collector for a feed process that may
// run up to backfills rebuilds at once, unless GOGC or GOMEMLIMIT say
// otherwise. Backfill batches are short-lived garbage: collecting half as
// often (GOGC 200) saves CPU, and a soft limit of 64 MiB per concurrent
// backfill keeps the peak flat and under 100 MiB of RSS (the 1M-row
// initial build into Redis: 80 MiB with it, 92–96 MiB without; a 48 MiB
// limit made the collector run without pause). A process-wide setting,
// so it is made here, once, not by each rebuild.
func tuneFeedMemory(backfills int) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(200)
	debug.SetMemoryLimit(int64(max(backfills, 1)) * 64 << 20)
}

// Command transit moves a live system from an old data store to a new one:
// plan, run (backfill and catch-up), verify, audit, and the cutover of each
// entity from old to new (cutover, rollback, status).
//
// Exit codes: 0 done / consistent; 1 the job ran and found a problem
// (rejects over the limit, differences, failed checks); 2 usage, plan or
// connection error; 130/143 interrupted by SIGINT/SIGTERM (resumable).
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK          = 0
	exitProblem     = 1
	exitUsage       = 2
	exitInterrupted = 130 // SIGINT; SIGTERM gives 143
)

// stopDeadline is how long after the first SIGINT/SIGTERM the process
// exits whatever it is waiting for (a stalled store, a ledger that does
// not answer). A run's own steps are bounded tighter (port's Grace plus
// its wrap-up), so this is the backstop: within 15 s in every case.
const stopDeadline = 14 * time.Second

// exitError carries a process exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitError{code: code, err: err} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if stopProfile != nil {
		stopProfile()
		stopProfile = nil
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "transit:", ee.err)
		}
		return ee.code
	}
	// cobra's own usage errors (unknown flag, wrong arg count)
	fmt.Fprintln(stderr, "transit:", err)
	return exitUsage
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "transit",
		Short: "Move a live system from an old data store to a new one, without losing a record",
		Long: `transit moves the tables of a legacy database (MySQL/MariaDB, SQLite, CSV,
JSONL, PostgreSQL) into PostgreSQL in idempotent, checkpointed batches, as a
declarative plan says. It can be killed at any moment and run again: nothing
is lost and nothing is written twice.

Exit codes:
  0    done (or consistent)
  1    the job ran and found a problem (rejects over the limit, differences, failed checks)
  2    usage, plan or connection error
  130  interrupted by SIGINT, 143 by SIGTERM (resumable: run the same command again)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// --cpuprofile FILE (hidden): a CPU profile of any command, for
	// go tool pprof.
	var cpuprof string
	root.PersistentFlags().StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuprof == "" {
			return nil
		}
		f, err := os.Create(cpuprof)
		if err != nil {
			return fail(exitUsage, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fail(exitUsage, err)
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
		return nil
	}
	root.AddCommand(newPlanCmd(), newRunCmd(), newVersionCmd())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// stopProfile ends the --cpuprofile profile, when one runs.
var stopProfile func()

// extraCommands lets other files of this package register commands.
var extraCommands []func() *cobra.Command

func newLogger(w io.Writer, json bool, verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

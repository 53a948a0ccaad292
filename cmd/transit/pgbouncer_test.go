package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
)

// The tests here run transit with every PostgreSQL URL (target, source and
// so the ledger, which lives in the target) pointed at the local pgbouncer
// in transaction pooling mode: each transaction may run on another server
// connection, which breaks named prepared statements, session advisory
// locks and backend pids as identities.

// TestChinookThroughPgbouncer moves Chinook from a PostgreSQL source to a
// PostgreSQL target, both through pgbouncer, runs it again (nothing new),
// and verifies it.
func TestChinookThroughPgbouncer(t *testing.T) {
	t.Parallel()
	upstream := upstreamChinook(t)
	target := testenv.Postgres(t)
	p := writePlan(t, `version: 1
name: chinook-pgbouncer
stores:
  legacy: { kind: postgres, url: "`+testenv.Pgbouncer(t, upstream)+`" }
  main:   { kind: postgres, url: "`+testenv.Pgbouncer(t, target)+`", schema: chinook }
tables:
  - from: legacy.*
    to: main
`)
	code, out, errOut := transitRun(t, "run", p, "--workers", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "playlist_track", "run 1 done")
	sameTables(t, upstream, target, "chinook")
	// The run recorded each source table's description (for transit serve
	// to open by while the old store is down), through the pooler too, in
	// the ledger: the first postgres store, here the old one.
	if n := pgScalar(t, upstream, "SELECT count(*) FROM transit.source_schemas WHERE plan = 'chinook-pgbouncer' AND store = 'legacy' AND description->'Columns' IS NOT NULL"); n != fmt.Sprint(len(chinookTables)) {
		t.Errorf("%s source tables described in the ledger, want %d", n, len(chinookTables))
	}
	code, out, errOut = transitRun(t, "run", p, "--output", "json")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, `"rows_written":0`)
	sameTables(t, upstream, target, "chinook")
	code, out, errOut = transitRun(t, "verify", p, "--output", "json")
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := verifyLines(t, out)
	if len(lines) != len(chinookTables) {
		t.Errorf("verify reported %d entities, want %d", len(lines), len(chinookTables))
	}
	for e, o := range lines {
		if o["status"] != "consistent" {
			t.Errorf("verify %s: %v", e, o["status"])
		}
	}
}

// TestTwoProcessesShareARunThroughPgbouncer: two processes, four workers,
// one run, its ledger reached through pgbouncer; each chunk is done once
// and each row read once.
func TestTwoProcessesShareARunThroughPgbouncer(t *testing.T) {
	t.Parallel()
	bin, murl, direct, db := ordersSetup(t, 100_000)
	plan := ordersPlan(t, murl, testenv.Pgbouncer(t, direct), 2000)
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(bin, "run", plan, "--workers", "2", "--chunk-rows", "10000")
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	sameOrders(t, db, direct)
	if n := pgScalar(t, direct, "SELECT count(*) FROM transit.runs"); n != "1" {
		t.Errorf("%s runs, want one shared run", n)
	}
	readOnce(t, direct, 1, 100_000)
	// Leases carried no backend pid: through the pooler it is not the
	// process's own.
	if n := pgScalar(t, direct, "SELECT count(*) FROM transit.chunks WHERE done_by ~ ':0$'"); n != pgScalar(t, direct, "SELECT count(*) FROM transit.chunks") {
		t.Errorf("%s chunks done by an owner with pid 0, want all", n)
	}
}

// TestKillAndResumeThroughPgbouncer kills the binary mid-backfill a few
// times, its ledger reached through pgbouncer: the killed processes'
// leases expire (no pid to check there) and the final run ends with the
// target equal to the source, every row read once.
func TestKillAndResumeThroughPgbouncer(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test in -short mode")
	}
	t.Parallel()
	bin, murl, direct, db := ordersSetup(t, 100_000)
	plan := ordersPlan(t, murl, testenv.Pgbouncer(t, direct), 200)
	killed := false
	killRepeatedly(t, 3, 300, 300, []string{bin, "run", plan, "--workers", "2", "--chunk-rows", "20000"},
		func() {
			// A fast machine finished the backfill between kills: start it again.
			testenv.Exec(t, direct, "DROP SCHEMA shop CASCADE", "DROP SCHEMA transit CASCADE")
		},
		func(int) { killed = true })
	if !killed {
		t.Fatal("no kill landed")
	}
	if out, err := transitOutput(bin, "run", plan, "--workers", "2"); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	sameOrders(t, db, direct)
	first, err := strconv.Atoi(pgScalar(t, direct, "SELECT min(id) FROM transit.runs"))
	if err != nil {
		t.Fatal(err)
	}
	readOnce(t, direct, first, 100_000)
}

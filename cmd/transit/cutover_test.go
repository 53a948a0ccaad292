package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/transition"
)

// transitBin runs the built binary and returns its exit code and output.
func transitBin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(transitBinary(t), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestCutoverChinook walks Chinook's track through the phases with the
// real binary: the gates refuse and name what is missing, pass after
// transit run, a clean verify and enough shadow reads, and a rollback
// reaches a Watcher within 1 s.
func TestCutoverChinook(t *testing.T) {
	t.Parallel()
	target := testenv.Postgres(t)
	db := chinookSQLite(t)
	p := writePlan(t, `version: 1
name: chinook-cutover
naming: snake_case
stores:
  legacy: { kind: sqlite, path: `+db+` }
  main:   { kind: postgres, url: "`+target+`", schema: chinook }
tables:
  - from: legacy.*
    to: main
cutover: { max_lag: 1h, max_verify_age: 1h, max_mismatch_rate: 0.001, min_shadow_reads: 500 }
`)
	// Before any run: the entity is unknown to the ledger and the plan
	// names no entity (a tables: rule only), so the typo check refuses.
	code, _, errOut := transitBin(t, "cutover", p, "--entity", "Track", "--to", "shadow")
	if code != 2 || !strings.Contains(errOut, `unknown entity "Track"`) || !strings.Contains(errOut, "known once transit run has moved it") {
		t.Fatalf("before any run: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := transitRun(t, "run", p); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}

	// old → migrating is not one step.
	code, _, errOut = transitBin(t, "cutover", p, "--entity", "Track", "--to", "migrating")
	if code != 2 || !strings.Contains(errOut, "one step at a time, the next is shadow") {
		t.Fatalf("old → migrating: exit %d\n%s", code, errOut)
	}
	code, out, errOut := transitBin(t, "cutover", p, "--entity", "Track", "--to", "shadow", "--reason", "start comparing")
	if code != 0 {
		t.Fatalf("→ shadow: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "Track: old → shadow: moved", "lag")

	// A difference in new: → migrating is refused, naming each failed gate.
	testenv.Exec(t, target, `UPDATE chinook.track SET name = 'Changed' WHERE track_id = 7`)
	if code, out, errOut := transitRun(t, "verify", p, "--entity", "Track"); code != 1 {
		t.Fatalf("verify with a difference: exit %d\n%s\n%s", code, out, errOut)
	}
	testenv.Exec(t, target, `INSERT INTO transit.shadow_stats (plan, entity, reads, mismatches, since, updated_at) VALUES ('chinook-cutover', 'Track', 120, 1, now(), now())`)
	code, out, errOut = transitBin(t, "cutover", p, "--entity", "Track", "--to", "migrating")
	if code != 1 {
		t.Fatalf("→ migrating with evidence missing: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, errOut, "failed gates: verify, shadow")
	mustContain(t, out, "refused", "differences", "only 120 shadow reads")
	if strings.Contains(errOut, "lag") || strings.Contains(errOut, "rejects") {
		t.Errorf("gates that pass named as failed:\n%s", errOut)
	}

	// Repair and a clean verify; shadow reads pile up under the rate.
	if code, out, errOut := transitRun(t, "verify", p, "--entity", "Track", "--repair"); code != 0 {
		t.Fatalf("verify --repair: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := transitRun(t, "verify", p, "--entity", "Track"); code != 0 {
		t.Fatalf("clean verify: exit %d\n%s\n%s", code, out, errOut)
	}
	testenv.Exec(t, target, `UPDATE transit.shadow_stats SET reads = 3503, mismatches = 1, updated_at = now()`)
	code, out, errOut = transitBin(t, "cutover", p, "--entity", "Track", "--to", "migrating", "--dry-run", "--output", "json")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	var dry transition.StepResult
	if err := json.Unmarshal([]byte(out), &dry); err != nil || !dry.Passed || dry.Applied || len(dry.Gates) != 5 {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
	code, out, errOut = transitBin(t, "cutover", p, "--entity", "Track", "--to", "migrating", "--reason", "verify clean")
	if code != 0 {
		t.Fatalf("→ migrating: exit %d\n%s\n%s", code, out, errOut)
	}

	// A reader follows the rollback within 1 s of the command's commit.
	w, err := transition.Watch(context.Background(), target, "chinook-cutover", transition.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Phase("Track") != "migrating" {
		t.Fatalf("watcher starts at %q", w.Phase("Track"))
	}
	start := time.Now()
	code, out, errOut = transitBin(t, "rollback", p, "--entity", "Track", "--reason", "app errors")
	done := time.Now()
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "Track: migrating → shadow (rolled back)")
	for w.Phase("Track") != "shadow" {
		if time.Since(done) > time.Second {
			t.Fatalf("1 s after the rollback the watcher still says %q", w.Phase("Track"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("rollback: command %v, reader followed %v after it returned", done.Sub(start), time.Since(done))

	// status: JSON, one line per entity.
	code, out, errOut = transitBin(t, "status", p, "--output", "json")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 {
		t.Fatalf("status: %d lines, want one per Chinook table:\n%s", len(lines), out)
	}
	var track transition.EntityStatus
	for _, l := range lines {
		var s transition.EntityStatus
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatal(err)
		}
		if s.Entity == "Track" {
			track = s
		} else if s.Phase != "old" || s.LagSeconds < 0 || s.LastRun == nil {
			t.Errorf("status of %s: %+v", s.Entity, s)
		}
	}
	if track.Phase != "shadow" || track.LagSeconds < 0 || track.LastRun == nil || track.LastVerify == nil || !track.LastVerifyClean ||
		track.ShadowReads != 3503 || track.ShadowMismatches != 1 || track.Rejects != 0 {
		t.Fatalf("status of track: %+v", track)
	}
	code, out, _ = transitBin(t, "status", p)
	if code != 0 {
		t.Fatalf("status table: exit %d", code)
	}
	mustContain(t, out, "ENTITY", "Track", "shadow", "(clean)", "0.02855% (1 of 3503)")
	// The history keeps who, when and why.
	hist := testenv.QueryStrings(t, target, `SELECT from_phase, to_phase, reason, changed_by <> '' FROM transit.phase_history
		WHERE entity = 'Track' ORDER BY id`)
	want := "[[old shadow start comparing true] [shadow migrating verify clean true] [migrating shadow app errors true]]"
	if got := strings.ReplaceAll(strings.ReplaceAll(jsonish(hist), "\n", ""), "  ", " "); got != want {
		t.Errorf("history: %s, want %s", got, want)
	}

	// Too many mismatches: refused; --force --reason steps anyway, and the
	// history says it was forced and why.
	testenv.Exec(t, target, `UPDATE transit.shadow_stats SET mismatches = 40`)
	code, _, errOut = transitBin(t, "cutover", p, "--entity", "Track", "--to", "migrating")
	if code != 1 || !strings.Contains(errOut, "failed gates: shadow") {
		t.Fatalf("→ migrating with 40 mismatches: exit %d\n%s", code, errOut)
	}
	code, out, errOut = transitBin(t, "cutover", p, "--entity", "Track", "--to", "migrating", "--force", "--reason", "mismatches are a known clock skew")
	if code != 0 || !strings.Contains(out, "moved (forced)") || !strings.Contains(errOut, "forced past failed gates: shadow") {
		t.Fatalf("forced: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := pgScalar(t, target, `SELECT forced::text || ' ' || reason || ' ' || (gates->2->>'name') || ' ' || (gates->2->>'passed')
		FROM transit.phase_history ORDER BY id DESC LIMIT 1`); got != "true mismatches are a known clock skew shadow false" {
		t.Errorf("forced step in the history: %q", got)
	}
}

func jsonish(rows [][]string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("[" + strings.Join(r, " ") + "]")
	}
	b.WriteString("]")
	return b.String()
}

// TestCutoverUsage: the flags that make no sense are refused before any
// connection.
func TestCutoverUsage(t *testing.T) {
	t.Parallel()
	p := writePlan(t, `version: 1
name: u
stores:
  main: { kind: postgres, url: "postgres://127.0.0.1:1/none" }
`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cutover", p, "--entity", "e"}, "--to is required"},
		{[]string{"cutover", p, "--entity", "e", "--to", "old"}, "to go back use transit rollback"},
		{[]string{"cutover", p, "--entity", "e", "--to", "sideways"}, `--to "sideways"`},
		{[]string{"cutover", p, "--entity", "e", "--to", "shadow", "--force"}, "--force needs --reason"},
		{[]string{"status", p, "--output", "xml"}, `--output "xml"`},
	} {
		code, _, errOut := transitRun(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

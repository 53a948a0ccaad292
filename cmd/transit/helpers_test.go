package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
)

// transitRun runs the command in-process and returns its exit code and
// output.
func transitRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writePlan writes a plan file into a temp dir and returns its path.
func writePlan(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// transitBinary builds cmd/transit once per test process.
func transitBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "transit-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "transit")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("build transit: %v\n%s", binErr, binPath)
	}
	return binPath
}

// pgCount returns select count(*) of a query on url.
func pgScalar(t *testing.T, url, q string, args ...any) string {
	t.Helper()
	rows := testenv.QueryStrings(t, url, q, args...)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %v", q, rows)
	}
	return rows[0][0]
}

func mustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("output does not contain %q:\n%s", p, s)
		}
	}
}

var _ = context.Background

package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// recorder stands in for a test, to see what Unavailable asks of it.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.fatal = true }
func (r *recorder) Skipf(string, ...any)  { r.skip = true }

func TestUnavailableFailsUnderCI(t *testing.T) {
	for _, c := range []struct {
		ci          string
		fatal, skip bool
	}{{"true", true, false}, {"1", true, false}, {"", false, true}} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		Unavailable(r, "PostgreSQL", errors.New("refused"))
		if r.fatal != c.fatal || r.skip != c.skip {
			t.Errorf("CI=%q: fatal=%v skip=%v, want fatal=%v skip=%v", c.ci, r.fatal, r.skip, c.fatal, c.skip)
		}
	}
}

func TestSQLiteFile(t *testing.T) {
	a, b := SQLiteFile(t), SQLiteFile(t)
	if a == b {
		t.Errorf("same path twice: %s", a)
	}
	if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists already (%v)", a, err)
	}
	if _, err := os.Stat(filepath.Dir(a)); err != nil {
		t.Errorf("its directory: %v", err)
	}
}

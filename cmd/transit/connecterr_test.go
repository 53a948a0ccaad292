package main

import (
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
)

// TestConnectFailuresFast: a wrong host, a wrong password or a missing
// source database fails at once (no retries) with exit 2, a hint that fits
// the cause, and never the password.
func TestConnectFailuresFast(t *testing.T) {
	t.Parallel()
	purl := testenv.Postgres(t)
	myAdmin := strings.TrimSuffix(testenv.MySQLAdminURL(), "/")
	myHost := myAdmin[strings.Index(myAdmin, "@")+1:]
	cases := []struct {
		name   string
		source string
		want   []string
	}{
		{"wrong host", "mysql://bob:hunter2secret@nosuchhost.invalid:3306/db", []string{"nosuchhost.invalid", "check the host name"}},
		{"wrong password", "mysql://nosuchuser:hunter2secret@" + myHost + "/mysql", []string{"authentication failed", "password"}},
		{"missing database", "mysql://root@" + myHost + "/" + testenv.Unique("nodb"), []string{"database does not exist"}},
		{"missing postgres database", "postgres://postgres:hunter2secret@" + pgHostPort(purl) + "/" + testenv.Unique("nodb") + "?sslmode=disable",
			[]string{"database does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			kind := c.source[:strings.Index(c.source, ":")]
			p := writePlan(t, "version: 1\nname: x\nstores:\n  legacy: { kind: "+kind+", url: \""+c.source+"\" }\n"+
				"  main: { kind: postgres, url: \""+purl+"\" }\ntables:\n  - from: legacy.*\n    to: main\n")
			start := time.Now()
			code, out, errOut := transitRun(t, "run", p)
			took := time.Since(start)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
			}
			if took > 2*time.Second {
				t.Errorf("took %v, want under 2s", took)
			}
			mustContain(t, errOut, c.want...)
			if strings.Contains(out+errOut, "hunter2secret") {
				t.Errorf("password leaked:\n%s", errOut)
			}
			if strings.Contains(errOut, "running?") {
				t.Errorf("hint asks whether the server runs, but it answered:\n%s", errOut)
			}
		})
	}
}

func pgHostPort(u string) string {
	s := u[strings.Index(u, "@")+1:]
	return s[:strings.Index(s, "/")]
}

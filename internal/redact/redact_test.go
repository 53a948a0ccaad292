package redact

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want, secret string }{
		{"postgres://u:pw@h:5432/db", "postgres://u:xxxxx@h:5432/db", "pw"},
		{"postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:xxxxx@h/db?sslmode=require", "p%40ss"},
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable", "s3cret"},
		{"mysql://root:topsecret@tcp(h:3306)/db", "mysql://root:xxxxx@tcp(h:3306)/db", "topsecret"},
		{"mysql://u:hunter2@h:3306/db", "mysql://u:xxxxx@h:3306/db", "hunter2"},
		{"mariadb://u:hunter2@h/db?tls=true", "mariadb://u:xxxxx@h/db?tls=true", "hunter2"},
		{"postgres://u:pa@ss@h/db", "postgres://u:xxxxx@h/db", "pa@ss"},
		{"postgres://u:pa/ss@h/db", "postgres://u:xxxxx@h/db", "pa/ss"},
		{"postgres://u:pa?ss@h/db", "postgres://u:xxxxx@h/db", "pa?ss"},
		{"postgres://h/db?user=u&password=hush&sslmode=disable", "postgres://h/db?user=u&password=xxxxx&sslmode=disable", "hush"},
		{"postgres://h/db?password=s3cret&user=u", "postgres://h/db?password=xxxxx&user=u", "s3cret"},
		{"postgres://u@h/db", "postgres://u@h/db", ""},
		{"postgres://h/db", "postgres://h/db", ""},
		{"host=h user=u password=hush dbname=d", "host=h user=u password=xxxxx dbname=d", "hush"},
		{"host=h password='a b\\' c' dbname=d", "host=h password=xxxxx dbname=d", "a b"},
		{"host=h password='s3 cret' dbname=d", "host=h password=xxxxx dbname=d", "s3 cret"},
		{"host=h password = hush", "host=h password = xxxxx", "hush"},
		{"host=h sslpassword=hush", "host=h sslpassword=xxxxx", "hush"},
		{"root:topsecret@tcp(h:3306)/db", "root:xxxxx@tcp(h:3306)/db", "topsecret"},
		{"u@tcp(h:3306)/db", "u@tcp(h:3306)/db", ""},
		{"u:hunter2secret@tcp(127.0.0.1:3306/db", "u:xxxxx@tcp(127.0.0.1:3306/db", "hunter2secret"},
		{"mysql://u:hunter2secret@[::1/db", "mysql://u:xxxxx@[::1/db", "hunter2secret"},
		{"redis://:hush@h:6379/0", "redis://:xxxxx@h:6379/0", "hush"},
		{"./data", "./data", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		got := URL(c.in)
		if got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.secret != "" && strings.Contains(got, c.secret) {
			t.Errorf("URL(%q) leaks %q", c.in, c.secret)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{`connect to postgres://u:hush@h/db failed: timeout`, `connect to postgres://u:xxxxx@h/db failed: timeout`},
		{`copy from "mysql://a:hush@h/x" to postgres://b:hush2@h/y`, `copy from "mysql://a:xxxxx@h/x" to postgres://b:xxxxx@h/y`},
		{`open root:hush@tcp(h:3306)/db: refused`, `open root:xxxxx@tcp(h:3306)/db: refused`},
		{`cannot parse "host=h password=hush dbname=d": bad`, `cannot parse "host=h password=xxxxx dbname=d": bad`},
		{`dial tcp 127.0.0.1:5432: connect: connection refused`, `dial tcp 127.0.0.1:5432: connect: connection refused`},
		{`table t: rows=5 errors=0`, `table t: rows=5 errors=0`},
	}
	for _, c := range cases {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("server said: password authentication failed for hush%%21: %w", fs.ErrPermission)
	for _, dsn := range []string{
		"postgres://u:hush%21@h/db",
		"postgres://h/db?password=hush%21",
		"host=h password=hush!",
		"u:hush!@tcp(h)/db",
	} {
		err := Error(cause, dsn)
		if strings.Contains(err.Error(), "hush") {
			t.Errorf("%s: error shows the password: %v", URL(dsn), err)
		}
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: chain lost: %v", URL(dsn), err)
		}
	}
	if Error(nil, "x") != nil {
		t.Error("Error(nil) != nil")
	}
	// Connection strings quoted in the text are redacted even when dsn
	// is not the one quoted.
	err := Error(errors.New("dial postgres://a:other@h/db: refused"), "postgres://u@h/db")
	if strings.Contains(err.Error(), "other") {
		t.Errorf("quoted URL not redacted: %v", err)
	}
}

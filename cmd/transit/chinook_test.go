package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/internal/testenv"
)

const chinookDir = "../../examples/chinook"

var nLiteral = regexp.MustCompile(`([(,]\s*)N'`)

// upstreamChinook loads upstream's own Chinook_PostgreSql.sql into a fresh
// database: the oracle transit's results are compared with.
func upstreamChinook(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chinookDir, "Chinook_PostgreSql.sql"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, `\c chinook;`)
	if i < 0 {
		t.Fatal(`Chinook_PostgreSql.sql: no \c chinook; line`)
	}
	s = s[i+len(`\c chinook;`):]
	// Upstream's script writes text as SQL Server N'…' literals, which
	// PostgreSQL reads as char(n) and so trims trailing blanks ("Edinburgh "
	// becomes "Edinburgh"); the MySQL and SQLite versions keep them. Load
	// them as the plain literals they are meant to be.
	s = nLiteral.ReplaceAllString(s, "$1'")
	url := testenv.Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, s); err != nil {
		t.Fatalf("load upstream chinook: %v", err)
	}
	return url
}

var chinookTables = map[string]string{ // table → ORDER BY
	"album": "album_id", "artist": "artist_id", "customer": "customer_id", "employee": "employee_id",
	"genre": "genre_id", "invoice": "invoice_id", "invoice_line": "invoice_line_id", "media_type": "media_type_id",
	"playlist": "playlist_id", "playlist_track": "playlist_id, track_id", "track": "track_id",
}

// sameTables asserts that every Chinook table in schema of url holds
// exactly the rows and values of upstream's (compared as JSON, so key order
// and integer widths do not matter, but every value does).
func sameTables(t *testing.T, upstream, url, schema string) {
	t.Helper()
	for table, order := range chinookTables {
		q := "SELECT to_jsonb(t)::text FROM %s t ORDER BY " + order
		want := testenv.QueryStrings(t, upstream, strings.Replace(q, "%s", "public."+table, 1))
		got := testenv.QueryStrings(t, url, strings.Replace(q, "%s", schema+"."+table, 1))
		if len(got) != len(want) {
			t.Errorf("%s: %d rows, upstream has %d", table, len(got), len(want))
			continue
		}
		bad := 0
		for i := range want {
			if got[i][0] != want[i][0] {
				if bad < 3 {
					t.Errorf("%s row %d:\n got  %s\n want %s", table, i, got[i][0], want[i][0])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d rows differ", table, bad)
		}
	}
}

func chinookSQLite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "gunzip -c "+filepath.Join(chinookDir, "Chinook_Sqlite.sqlite.gz")+" > "+filepath.Join(dir, "Chinook_Sqlite.sqlite"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gunzip: %v %s", err, out)
	}
	return filepath.Join(dir, "Chinook_Sqlite.sqlite")
}

func TestChinookFromSQLiteEqualsUpstream(t *testing.T) {
	t.Parallel()
	upstream := upstreamChinook(t)
	target := testenv.Postgres(t)
	db := chinookSQLite(t)
	p := writePlan(t, `version: 1
name: chinook-sqlite
naming: snake_case
stores:
  legacy: { kind: sqlite, path: `+db+` }
  main:   { kind: postgres, url: "`+target+`", schema: chinook }
tables:
  - from: legacy.*
    to: main
`)
	code, out, errOut := transitRun(t, "run", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, "playlist_track", "run 1 done")
	sameTables(t, upstream, target, "chinook")
	// foreign keys and the primary keys are there
	if n := pgScalar(t, target, `SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE n.nspname = 'chinook' AND c.contype = 'f'`); n != "11" {
		t.Errorf("foreign keys: %s, want 11", n)
	}
	// a second run moves nothing new and writes nothing
	code, out, errOut = transitRun(t, "run", p, "--output", "json")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out, `"rows_written":0`)
	sameTables(t, upstream, target, "chinook")
}

func TestChinookFromMySQLEqualsUpstream(t *testing.T) {
	t.Parallel()
	upstream := upstreamChinook(t)
	target := testenv.Postgres(t)
	murl, db := testenv.MySQL(t)
	b, err := os.ReadFile(filepath.Join(chinookDir, "Chinook_MySql.sql"))
	if err != nil {
		t.Fatal(err)
	}
	// The script creates and uses database Chinook: load it into ours.
	s := string(b)
	i := strings.Index(s, "USE `Chinook`;")
	if i < 0 {
		t.Fatal("Chinook_MySql.sql: no USE `Chinook`; line")
	}
	// The script means its five backslashes literally (as the PostgreSQL
	// and SQLite versions hold them); MySQL would read them as escapes.
	if _, err := db.Exec("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(s[i+len("USE `Chinook`;"):]); err != nil {
		t.Fatalf("load Chinook_MySql.sql: %v", err)
	}
	p := writePlan(t, `version: 1
name: chinook-mysql
naming: snake_case
stores:
  legacy: { kind: mysql, url: "`+murl+`" }
  main:   { kind: postgres, url: "`+target+`", schema: chinook }
tables:
  - from: legacy.*
    to: main
`)
	code, out, errOut := transitRun(t, "run", p, "--workers", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	sameTables(t, upstream, target, "chinook")
}

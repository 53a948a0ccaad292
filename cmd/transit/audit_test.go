package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transitdb/transit/audit"
	"github.com/transitdb/transit/internal/testenv"
)

// The transit audit command end to end, on the real servers.

func readAudit(t *testing.T, out string) *audit.Report {
	t.Helper()
	rep, err := audit.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rep
}

func auditEntity(t *testing.T, rep *audit.Report, name string) *audit.EntityReport {
	t.Helper()
	for i := range rep.Entities {
		if rep.Entities[i].Name == name {
			return &rep.Entities[i]
		}
	}
	t.Fatalf("no entity %s in the report", name)
	return nil
}

func auditColumn(t *testing.T, e *audit.EntityReport, name string) *audit.ColumnProfile {
	t.Helper()
	for i := range e.Columns {
		if e.Columns[i].Name == name {
			return &e.Columns[i]
		}
	}
	t.Fatalf("no column %s.%s in the report", e.Name, name)
	return nil
}

func sqlInt64(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func sqlString(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// planPos is "plan.yaml:LINE:COL" of the first occurrence of marker in the
// plan text (1-based, columns in bytes as the YAML parser counts them).
func planPos(t *testing.T, text, marker string) string {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		if c := strings.Index(line, marker); c >= 0 {
			return fmt.Sprintf("plan.yaml:%d:%d", i+1, c+1)
		}
	}
	t.Fatalf("%q not in the plan", marker)
	return ""
}

// Acceptance (a), (d), (e): the bundled Chinook from SQLite. The audit
// passes, its figures match SQL run on the file, --html writes the page and
// --compare-to last shows what changed in the file between two audits.
func TestAuditChinookSQLite(t *testing.T) {
	t.Parallel()
	file := chinookSQLite(t)
	target := testenv.Postgres(t)
	p := writePlan(t, `version: 1
name: chinook
naming: snake_case
stores:
  legacy: { kind: sqlite, path: `+file+` }
  main:   { kind: postgres, url: "`+target+`", schema: chinook }
tables:
  - from: legacy.*
    to: main
`)
	code, out, errOut := transitRun(t, "audit", p, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	rep := readAudit(t, out)
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if len(rep.Entities) != 11 {
		t.Errorf("%d entities, want the 11 Chinook tables", len(rep.Entities))
	}
	for _, e := range rep.Entities {
		if want := sqlInt64(t, db, `SELECT COUNT(*) FROM "`+e.Table+`"`); e.Rows != want || e.Sampled {
			t.Errorf("%s: %d rows (sampled %v), want %d", e.Name, e.Rows, e.Sampled, want)
		}
		if len(e.Fit) > 0 || len(e.Rules) > 0 {
			t.Errorf("%s: fit %+v rules %+v", e.Name, e.Fit, e.Rules)
		}
	}
	for _, c := range []struct {
		ent, col, what, sql string
	}{
		{"Customer", "Company", "nulls", "SELECT COUNT(*) FROM Customer WHERE Company IS NULL"},
		{"Track", "Composer", "nulls", "SELECT COUNT(*) FROM Track WHERE Composer IS NULL"},
		{"Customer", "Company", "distinct", "SELECT COUNT(DISTINCT Company) FROM Customer"},
		{"Customer", "Country", "distinct", "SELECT COUNT(DISTINCT Country) FROM Customer"},
		{"Track", "Composer", "distinct", "SELECT COUNT(DISTINCT Composer) FROM Track"},
		{"Track", "Name", "distinct", "SELECT COUNT(DISTINCT Name) FROM Track"},
		{"Invoice", "BillingCountry", "distinct", "SELECT COUNT(DISTINCT BillingCountry) FROM Invoice"},
		{"InvoiceLine", "TrackId", "distinct", "SELECT COUNT(DISTINCT TrackId) FROM InvoiceLine"},
	} {
		col := auditColumn(t, auditEntity(t, rep, c.ent), c.col)
		got := col.Nulls
		if c.what == "distinct" {
			got = col.Distinct
			if col.DistinctEstimated {
				t.Errorf("%s.%s distinct is estimated", c.ent, c.col)
			}
		}
		if want := sqlInt64(t, db, c.sql); got != want {
			t.Errorf("%s.%s %s: %d, want %d (%s)", c.ent, c.col, c.what, got, want, c.sql)
		}
	}
	total := auditColumn(t, auditEntity(t, rep, "Invoice"), "Total")
	if got, want := deref(total.Min)+" "+deref(total.Max), sqlString(t, db, "SELECT printf('%.2f %.2f', MIN(Total), MAX(Total)) FROM Invoice"); got != want {
		t.Errorf("Invoice.Total min max %q, want %q", got, want)
	}

	// (d) --html writes a self-contained page.
	page := filepath.Join(t.TempDir(), "out.html")
	code, out, errOut = transitRun(t, "audit", p, "--html", page)
	if code != 0 {
		t.Fatalf("--html: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, errOut, "HTML report written to "+page)
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, string(html), "<html", "<svg", "InvoiceLine", "Composer")

	// (e) change the file, audit again: --compare-to last lists the changes.
	before := float64(sqlInt64(t, db, "SELECT COUNT(*) FROM Customer WHERE Company IS NULL")) / 59
	rw, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.Exec(`UPDATE Customer SET Company = NULL WHERE CustomerId <= 10;
		DELETE FROM InvoiceLine WHERE InvoiceLineId IN (1, 2, 3)`); err != nil {
		t.Fatal(err)
	}
	after := float64(sqlInt64(t, db, "SELECT COUNT(*) FROM Customer WHERE Company IS NULL")) / 59
	lines := sqlInt64(t, db, "SELECT COUNT(*) FROM InvoiceLine")
	code, out, errOut = transitRun(t, "audit", p, "--compare-to", "last")
	if code != 0 {
		t.Fatalf("--compare-to last: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, out,
		fmt.Sprintf("rows           InvoiceLine: %d → %d", lines+3, lines),
		fmt.Sprintf("null_fraction  Customer.Company: %.4f → %.4f", before, after))
	if strings.Contains(out, "no changes since") {
		t.Errorf("changes not shown:\n%s", out)
	}
}

// loadDirtyChinook loads examples/chinook/Chinook_MySql.sql into a fresh
// MariaDB database, applies testdata/audit/chinook_dirty_mysql.sql and
// returns the database's URL and a handle on it.
func loadDirtyChinook(t *testing.T) (string, *sql.DB) {
	t.Helper()
	murl, db := testenv.MySQL(t)
	b, err := os.ReadFile(filepath.Join(chinookDir, "Chinook_MySql.sql"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "USE `Chinook`;")
	if i < 0 {
		t.Fatal("Chinook_MySql.sql: no USE `Chinook`; line")
	}
	dirty, err := os.ReadFile("../../testdata/audit/chinook_dirty_mysql.sql")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one session: the sql_mode below holds for both scripts
	if _, err := db.Exec("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(s[i+len("USE `Chinook`;"):]); err != nil {
		t.Fatalf("load Chinook_MySql.sql: %v", err)
	}
	if _, err := db.Exec(string(dirty)); err != nil {
		t.Fatalf("dirty script: %v", err)
	}
	return murl, db
}

// Acceptance (b): a dirtied Chinook in MariaDB, with checks of every kind,
// a reference into a Postgres table and a CSV store with invalid UTF-8:
// exit 1, and the JSON names every failure with its count and sample IDs.
func TestAuditDirtyChinookMariaDB(t *testing.T) {
	t.Parallel()
	murl, db := loadDirtyChinook(t)
	purl := testenv.Postgres(t)
	testenv.Exec(t, purl, `CREATE TABLE customers (id int PRIMARY KEY, name text)`,
		`INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 59) g`)
	people, err := filepath.Abs("../../testdata/audit/people_dirty.csv")
	if err != nil {
		t.Fatal(err)
	}
	p := writePlan(t, `version: 1
name: chinook-dirty
stores:
  legacy: { kind: mysql, url: "`+murl+`" }
  main:   { kind: postgres, url: "`+purl+`" }
  files:  { kind: csv, path: "`+people+`" }
entities:
  Customer:
    from: legacy.Customer
    to: main.customer
    columns:
      Company: { type: varchar(80) }
    checks:
      - unique: Email
      - pattern: { column: Email, regex: '^[^@\s]+@[^@\s]+\.[A-Za-z]+$' }
      - max_null_fraction: { column: Company, max: 0.9 }
  Track:
    from: legacy.Track
    to: main.track
    columns:
      Bytes: { type: integer }
    checks:
      - references: { columns: AlbumId, to: Album, ref_columns: AlbumId }
      - accepted_values: { column: MediaTypeId, values: ["1", "2", "3", "4", "5"] }
  Invoice:
    from: legacy.Invoice
    to: main.invoice
    columns:
      Total: { type: "numeric(10,2)" }
    checks:
      - not_null: BillingCountry
      - range: { column: Total, min: 0, max: 100 }
      - sql: SELECT InvoiceId FROM Invoice WHERE Total < 0 ORDER BY InvoiceId
        name: no negative totals
      - references: { columns: CustomerId, to: main.customers, ref_columns: id }
      - freshness: { column: InvoiceDate, max_age: 720h }
  InvoiceLine:
    from: legacy.InvoiceLine
    checks:
      - unique: [InvoiceId, TrackId]
  Genre:
    from: legacy.Genre
    checks:
      - row_count: { min: 20, max: 30 }
  people:
    from: files.people_dirty
    to: main.people
    columns:
      name: { type: varchar(4) }
`)
	code, out, errOut := transitRun(t, "audit", p, "--output", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	rep := readAudit(t, out)
	ids := func(lo, hi int, skip ...int) []string {
		var out []string
	next:
		for i := lo; i <= hi; i++ {
			for _, s := range skip {
				if i == s {
					continue next
				}
			}
			out = append(out, strconv.Itoa(i))
		}
		return out
	}
	rule := func(ent, name, kind string, passed bool, count int64, want ...string) {
		t.Helper()
		e := auditEntity(t, rep, ent)
		for _, r := range e.Rules {
			if r.Name != name {
				continue
			}
			if r.Kind != kind || r.Passed != passed || r.Count != count || strings.Join(r.SampleIDs, " ") != strings.Join(want, " ") {
				t.Errorf("%s %s: kind %s passed %v, %d rows %v; want %s %v, %d rows %v", ent, name, r.Kind, r.Passed, r.Count, r.SampleIDs,
					kind, passed, count, want)
			}
			if !strings.HasSuffix(r.Pos.File, "plan.yaml") || r.Pos.Line == 0 {
				t.Errorf("%s %s: position %+v", ent, name, r.Pos)
			}
			return
		}
		t.Errorf("%s: no rule %s in %+v", ent, name, e.Rules)
	}
	rule("Customer", "unique_Email", "unique", false, 2, "1", "2")
	rule("Customer", "pattern_Email", "pattern", false, 2, "3", "4")
	rule("Customer", "max_null_fraction_Company", "max_null_fraction", false, 58, ids(1, 21, 5)...)
	rule("Track", "references_AlbumId", "references", false, 2, "5", "7")
	rule("Track", "accepted_values_MediaTypeId", "accepted_values", false, 1, "1")
	rule("Invoice", "not_null_BillingCountry", "not_null", false, 2, "1", "2")
	rule("Invoice", "range_Total", "range", false, 3, "3", "4", "7")
	rule("Invoice", "no negative totals", "sql", false, 1, "4")
	rule("Invoice", "references_CustomerId", "references", false, 1, "6")
	rule("Invoice", "freshness_InvoiceDate", "freshness", false, 1)
	rule("InvoiceLine", "unique_InvoiceId_TrackId", "unique", false, 2, "1", "2")
	rule("Genre", "row_count", "row_count", false, 0)

	fit := func(ent string, want ...string) {
		t.Helper()
		var got []string
		for _, f := range auditEntity(t, rep, ent).Fit {
			got = append(got, fmt.Sprintf("%s→%s: %s: %d %s", f.Column, f.TargetType, f.Problem, f.Count, strings.Join(f.SampleIDs, ",")))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s fit:\n%s\nwant:\n%s", ent, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	fit("Customer", "Company→varchar(80): longer than 80 characters: 1 5")
	fit("Track", "Bytes→integer: out of range for a 32-bit integer: 1 3")
	fit("Invoice", "InvoiceDate→timestamp: zero date: 1 10",
		"Total→numeric(10,2): numeric overflow: more than 8 digits before the point: 1 7")
	fit("InvoiceLine")
	fit("Genre")
	fit("people", "name→varchar(4): invalid UTF-8: 1 3", "name→varchar(4): longer than 4 characters: 1 4")

	// Figures against SQL on the dirtied database.
	cust := auditEntity(t, rep, "Customer")
	if got, want := auditColumn(t, cust, "Company").Nulls, sqlInt64(t, db, "SELECT COUNT(*) FROM Customer WHERE Company IS NULL"); got != want {
		t.Errorf("Customer.Company nulls %d, want %d", got, want)
	}
	inv := auditEntity(t, rep, "Invoice")
	if want := sqlInt64(t, db, "SELECT COUNT(*) FROM Invoice"); inv.Rows != want {
		t.Errorf("Invoice rows %d, want %d", inv.Rows, want)
	}
	if c := auditColumn(t, inv, "InvoiceDate"); c.Invalid["zero date"] != 1 {
		t.Errorf("Invoice.InvoiceDate invalid %+v", c.Invalid)
	}
	if got, want := deref(auditColumn(t, inv, "Total").Max), sqlString(t, db, "SELECT CAST(MAX(Total) AS CHAR) FROM Invoice"); got != want {
		t.Errorf("Invoice.Total max %s, want %s", got, want)
	}
	if c := auditColumn(t, auditEntity(t, rep, "people"), "name"); c.InvalidUTF8 != 1 || c.Invalid["invalid UTF-8"] != 1 {
		t.Errorf("people.name invalid UTF-8 %d, invalid %+v", c.InvalidUTF8, c.Invalid)
	}
	if strings.Contains(errOut, "panic") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// Acceptance (c): a check that cannot run is exit 2 with its place in the
// plan, never a panic.
func TestAuditBadChecks(t *testing.T) {
	t.Parallel()
	murl, db := testenv.MySQL(t)
	if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY, email VARCHAR(50)); INSERT INTO t VALUES (1, 'a@b.c'), (2, NULL)"); err != nil {
		t.Fatal(err)
	}
	head := "version: 1\nname: bad\nstores:\n  legacy: { kind: mysql, url: \"" + murl + "\" }\nentities:\n  t:\n    from: legacy.t\n    checks:\n"
	cases := []struct {
		name, check, marker string
		want                []string
	}{
		{"missing column", "      - not_null: nope\n", "not_null", []string{`column "nope" not found`}},
		{"invalid regex", "      - pattern: { column: email, regex: '([' }\n", "'(['", []string{"regex"}},
		{"failing sql", "      - sql: SELECT id FROM t WHERE nosuchcolumn > 1\n", "sql: SELECT", []string{"sql check failed", "nosuchcolumn"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := head + c.check
			code, out, errOut := transitRun(t, "audit", writePlan(t, text))
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
			}
			mustContain(t, errOut, append([]string{planPos(t, text, c.marker)}, c.want...)...)
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
				t.Errorf("stderr:\n%s", errOut)
			}
		})
	}
}

package audit

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
	"github.com/transitdb/transit/sources/mysql"
	pgsrc "github.com/transitdb/transit/sources/postgres"
)

// chinookScript is the bundled Chinook MySQL script without its own
// DROP/CREATE/USE DATABASE, so it loads into the test's database.
func chinookScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("TRANSIT_CHINOOK_MYSQL")
	if path == "" {
		path = "../examples/chinook/Chinook_MySql.sql"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		testenv.Unavailable(t, "Chinook script", err)
	}
	s := string(b)
	i := strings.Index(s, "USE `Chinook`;")
	if i < 0 {
		t.Fatal("Chinook_MySql.sql: no USE `Chinook`; line")
	}
	return s[i+len("USE `Chinook`;"):]
}

// loadChinook loads Chinook (dirtied when dirty) into a fresh MariaDB
// database and returns a handle, the sources/mysql Source on it and a
// clock one day after the newest clean invoice.
func loadChinook(t *testing.T, dirty bool) (*sql.DB, *mysql.Source, time.Time) {
	t.Helper()
	// The script means its backslashes literally (as the PostgreSQL and
	// SQLite versions hold them): one connection, NO_BACKSLASH_ESCAPES.
	db, src := newMySQL(t)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(chinookScript(t)); err != nil {
		t.Fatalf("load Chinook: %v", err)
	}
	var newest string
	if err := db.QueryRow("SELECT CAST(MAX(InvoiceDate) AS CHAR) FROM Invoice").Scan(&newest); err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse("2006-01-02 15:04:05", newest)
	if err != nil {
		t.Fatal(err)
	}
	if dirty {
		script, err := os.ReadFile("../testdata/audit/chinook_dirty_mysql.sql")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(script)); err != nil {
			t.Fatalf("dirty script: %v", err)
		}
	}
	return db, src, now.Add(24 * time.Hour)
}

// chinookTargets are the audited entities with the checks a plan would
// give them; pgCustomers, when set, is the Postgres store of the
// cross-store reference.
func chinookTargets(t *testing.T, src *mysql.Source, pg *pgsrc.Source) []Target {
	t.Helper()
	sp := &SQLPushdown{Dialect: "mysql", DB: src.DB()}
	p := func(line int) plan.Pos { return plan.Pos{File: "chinook.yaml", Line: line, Column: 7} }
	ents := []*plan.Entity{
		{Name: "Customer", FromStore: "legacy", FromTable: "Customer", Checks: []*plan.Check{
			{Kind: "unique", Columns: []string{"Email"}, Pos: p(10)},
			{Kind: "pattern", Columns: []string{"Email"}, Pattern: `^[^@\s]+@[^@\s]+\.[A-Za-z]+$`, Pos: p(11)},
			{Kind: "max_null_fraction", Columns: []string{"Company"}, Fraction: 0.9, Pos: p(12)},
		}},
		{Name: "Track", FromStore: "legacy", FromTable: "Track", Checks: []*plan.Check{
			{Kind: "references", Columns: []string{"AlbumId"}, Ref: "Album", RefColumns: []string{"AlbumId"}, Pos: p(20)},
			{Kind: "accepted_values", Columns: []string{"MediaTypeId"}, Values: []string{"1", "2", "3", "4", "5"}, Pos: p(21)},
		}},
		{Name: "Invoice", FromStore: "legacy", FromTable: "Invoice", Checks: []*plan.Check{
			{Kind: "not_null", Columns: []string{"BillingCountry"}, Pos: p(30)},
			{Kind: "range", Columns: []string{"Total"}, Min: f64(0), Max: f64(100), Pos: p(31)},
			{Kind: "sql", Name: "no negative totals", SQL: "SELECT InvoiceId FROM Invoice WHERE Total < 0 ORDER BY InvoiceId", Pos: p(32)},
			{Kind: "references", Columns: []string{"CustomerId"}, Ref: "pg.customers", RefColumns: []string{"id"}, Pos: p(33)},
			{Kind: "freshness", Columns: []string{"InvoiceDate"}, MaxAge: 30 * 24 * time.Hour, Pos: p(34)},
		}},
		{Name: "InvoiceLine", FromStore: "legacy", FromTable: "InvoiceLine", Checks: []*plan.Check{
			{Kind: "unique", Columns: []string{"InvoiceId", "TrackId"}, Pos: p(40)},
		}},
		{Name: "Genre", FromStore: "legacy", FromTable: "Genre", Checks: []*plan.Check{
			{Kind: "row_count", Min: f64(20), Max: f64(30), Pos: p(50)},
		}},
	}
	// Target types as the plan routes them: the clean source widths.
	override := map[string]map[string]func(c *record.Column){
		"Customer": {"Company": func(c *record.Column) { c.TargetType = "varchar(80)" }},
		"Track":    {"Bytes": func(c *record.Column) { c.TargetType = "integer" }},
		"Invoice": {
			"Total":          func(c *record.Column) { c.TargetType = "numeric(10,2)" },
			"BillingCountry": func(c *record.Column) { c.Nullable = false },
		},
	}
	var out []Target
	for _, e := range ents {
		if pg == nil {
			var keep []*plan.Check
			for _, c := range e.Checks {
				if !strings.HasPrefix(c.Ref, "pg.") {
					keep = append(keep, c)
				}
			}
			e.Checks = keep
		}
		tb, err := src.Describe(context.Background(), e.FromTable)
		if err != nil {
			t.Fatal(err)
		}
		tc := append([]record.Column(nil), tb.Columns...)
		for i := range tc {
			if f := override[e.Name][tc[i].Name]; f != nil {
				f(&tc[i])
			}
		}
		out = append(out, Target{Entity: e, Source: src, Table: tb, SQL: sp, TargetColumns: tc,
			Resolve: func(ref string) (sources.Source, *SQLPushdown, string, error) {
				return pg, &SQLPushdown{Dialect: "postgres", Pool: pg.Pool()}, strings.TrimPrefix(ref, "pg."), nil
			}})
	}
	return out
}

func pgCustomers(t *testing.T) *pgsrc.Source {
	pg := newPostgres(t)
	if _, err := pg.Pool().Exec(context.Background(), `CREATE TABLE customers (id int PRIMARY KEY, name text);
		INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 59) g`); err != nil {
		t.Fatal(err)
	}
	return pg
}

func entity(t *testing.T, rep *Report, name string) *EntityReport {
	t.Helper()
	for i := range rep.Entities {
		if rep.Entities[i].Name == name {
			return &rep.Entities[i]
		}
	}
	t.Fatalf("no entity %s", name)
	return nil
}

func column(t *testing.T, e *EntityReport, name string) *ColumnProfile {
	t.Helper()
	for i := range e.Columns {
		if e.Columns[i].Name == name {
			return &e.Columns[i]
		}
	}
	t.Fatalf("no column %s.%s", e.Name, name)
	return nil
}

func sqlInt(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func sqlText(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// Acceptance 1: figures of the clean Chinook checked against independent SQL;
// every rule passes and nothing would be rejected.
func TestChinookClean(t *testing.T) {
	t.Parallel()
	db, src, now := loadChinook(t, false)
	pg := pgCustomers(t)
	rep, err := Run(context.Background(), chinookTargets(t, src, pg), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var txt bytes.Buffer
	_ = WriteText(&txt, rep)
	if rep.Failed() {
		t.Fatalf("clean Chinook failed:\n%s", txt.String())
	}
	cust := entity(t, rep, "Customer")
	if want := sqlInt(t, db, "SELECT COUNT(*) FROM Customer"); cust.Rows != want {
		t.Errorf("Customer rows %d, want %d", cust.Rows, want)
	}
	if got, want := column(t, cust, "Company").Nulls, sqlInt(t, db, "SELECT COUNT(*) FROM Customer WHERE Company IS NULL"); got != want {
		t.Errorf("Customer.Company nulls %d, want %d", got, want)
	}
	if got, want := column(t, cust, "Country").Distinct, sqlInt(t, db, "SELECT COUNT(DISTINCT BINARY Country) FROM Customer"); got != want {
		t.Errorf("Customer.Country distinct %d, want %d", got, want)
	}
	if s := column(t, cust, "Email").Semantic; s == nil || s.Type != "email" {
		t.Errorf("Customer.Email semantic %+v", s)
	}
	track := entity(t, rep, "Track")
	if got, want := column(t, track, "Composer").Nulls, sqlInt(t, db, "SELECT COUNT(*) FROM Track WHERE Composer IS NULL"); got != want {
		t.Errorf("Track.Composer nulls %d, want %d", got, want)
	}
	if got, want := column(t, track, "Composer").Distinct, sqlInt(t, db, "SELECT COUNT(DISTINCT BINARY Composer) FROM Track"); got != want {
		t.Errorf("Track.Composer distinct %d, want %d", got, want)
	}
	if got, want := column(t, track, "Name").Distinct, sqlInt(t, db, "SELECT COUNT(DISTINCT BINARY Name) FROM Track"); got != want {
		t.Errorf("Track.Name distinct %d, want %d", got, want)
	}
	inv := entity(t, rep, "Invoice")
	total := column(t, inv, "Total")
	if got, want := opt(total.Min), sqlText(t, db, "SELECT CAST(MIN(Total) AS CHAR) FROM Invoice"); got != want {
		t.Errorf("Invoice.Total min %s, want %s", got, want)
	}
	if got, want := opt(total.Max), sqlText(t, db, "SELECT CAST(MAX(Total) AS CHAR) FROM Invoice"); got != want {
		t.Errorf("Invoice.Total max %s, want %s", got, want)
	}
	if total.Histogram == nil || len(total.Histogram.Bins) == 0 {
		t.Error("Invoice.Total has no histogram")
	}
	var sum int64
	for _, b := range total.Histogram.Bins {
		sum += b.Count
	}
	if sum != inv.Rows {
		t.Errorf("Invoice.Total histogram holds %d rows, want %d", sum, inv.Rows)
	}
	if top := column(t, inv, "BillingCountry").Top; len(top) != 10 || top[0].Value != "USA" ||
		top[0].Count != sqlInt(t, db, "SELECT COUNT(*) FROM Invoice WHERE BillingCountry = 'USA'") {
		t.Errorf("Invoice.BillingCountry top %+v", top)
	}
}

// Acceptance 2: the dirtied copy fails each rule and each fit check with the
// right count and sample IDs.
func TestChinookDirty(t *testing.T) {
	t.Parallel()
	db, src, now := loadChinook(t, true)
	pg := pgCustomers(t)
	rep, err := Run(context.Background(), chinookTargets(t, src, pg), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() {
		t.Fatal("dirty Chinook passed")
	}
	rule := func(ent, name string, count int64, ids ...string) {
		t.Helper()
		r := findRule(t, entity(t, rep, ent), name)
		if r.Passed {
			t.Errorf("%s %s passed", ent, name)
		}
		if count >= 0 {
			wantHits(t, ent+" "+name, r.Count, r.SampleIDs, count, ids...)
		}
	}
	rule("Customer", "unique(Email)", 2, "1", "2")
	rule("Customer", "pattern(Email)", 2, "3", "4")
	rule("Customer", "max_null_fraction(Company)", 58, sampleRange(1, 21, 5)...)
	rule("Track", "references(AlbumId → Album(AlbumId))", 2, "5", "7")
	rule("Track", "accepted_values(MediaTypeId)", 1, "1")
	rule("Invoice", "not_null(BillingCountry)", 2, "1", "2")
	rule("Invoice", "range(Total)", 3, "3", "4", "7")
	rule("Invoice", "no negative totals", 1, "4")
	rule("Invoice", "references(CustomerId → pg.customers(id))", 1, "6")
	rule("Invoice", "freshness(InvoiceDate)", 1)
	rule("InvoiceLine", "unique(InvoiceId,TrackId)", 2, "1", "2")
	rule("Genre", "row_count", -1)

	fit := func(ent, col, problem string, ids ...string) {
		t.Helper()
		f := findFit(t, entity(t, rep, ent), col, problem)
		wantHits(t, ent+"."+col+" "+problem, f.Count, f.SampleIDs, int64(len(ids)), ids...)
	}
	fit("Customer", "Company", "longer than 80 characters", "5")
	fit("Track", "Bytes", "out of range for a 32-bit integer", "3")
	fit("Invoice", "Total", "numeric overflow", "7")
	fit("Invoice", "InvoiceDate", "zero date", "10")
	fit("Invoice", "BillingCountry", "NULL in a NOT NULL column", "1", "2")
	if n := len(entity(t, rep, "Invoice").Fit); n != 3 {
		t.Errorf("Invoice has %d fit problems, want 3: %+v", n, entity(t, rep, "Invoice").Fit)
	}
	if c := column(t, entity(t, rep, "Invoice"), "InvoiceDate"); c.Invalid["zero date"] != 1 {
		t.Errorf("InvoiceDate invalid %+v", c.Invalid)
	}
	var txt bytes.Buffer
	if err := WriteText(&txt, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "✗ unique(Email) [error]: 2 rows  ids: 1 2") {
		t.Errorf("text report:\n%s", txt.String())
	}

	// With a sample, the totals still cover the whole table (pushdown).
	rep, err = Run(context.Background(), chinookTargets(t, src, pg)[2:3], Options{Sample: 50, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	inv := entity(t, rep, "Invoice")
	if want := sqlInt(t, db, "SELECT COUNT(*) FROM Invoice"); !inv.Sampled || inv.SampleRows != 50 || inv.Rows != want {
		t.Errorf("sampled Invoice: sampled %v sample %d rows %d want %d", inv.Sampled, inv.SampleRows, inv.Rows, want)
	}
	if got := opt(column(t, inv, "Total").Max); got != "123456789.99" {
		t.Errorf("sampled Invoice.Total max %s", got)
	}
}

// sampleRange lists the IDs lo..hi except skip.
func sampleRange(lo, hi, skip int) []string {
	var out []string
	for i := lo; i <= hi; i++ {
		if i != skip {
			out = append(out, itoa(int64(i)))
		}
	}
	return out
}

// Acceptance 4: a sql check the store refuses is a RuleError with the position.
func TestSQLCheckError(t *testing.T) {
	t.Parallel()
	db, src := newMySQL(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, 'a');")
	ent := &plan.Entity{Name: "t", FromTable: "t", Checks: []*plan.Check{
		{Kind: "sql", SQL: "SELECT id FROM t WHERE nosuchcolumn > 1", Pos: plan.Pos{File: "p.yaml", Line: 9, Column: 11}},
		{Kind: "references", Columns: []string{"v"}, Ref: "t", RefColumns: []string{"missing"}, Pos: plan.Pos{File: "p.yaml", Line: 12, Column: 11}},
	}}
	_, err := Run(context.Background(), []Target{{Entity: ent, Source: src, SQL: &SQLPushdown{Dialect: "mysql", DB: db}}}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "p.yaml:9:11: entity t, check sql: sql check failed:") || !strings.Contains(err.Error(), "nosuchcolumn") {
		t.Errorf("error %v", err)
	}
	ent.Checks = ent.Checks[1:]
	_, err = Run(context.Background(), []Target{{Entity: ent, Source: src, SQL: &SQLPushdown{Dialect: "mysql", DB: db}}}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "p.yaml:12:11:") || !strings.Contains(err.Error(), `referenced column "missing"`) {
		t.Errorf("error %v", err)
	}
}

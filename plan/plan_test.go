package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testEnv is the environment the example plans are parsed with.
var testEnv = map[string]string{
	"LEGACY_MYSQL_URL": "mysql://app:s3cr3t@legacy-db:3306/shop",
	"DATABASE_URL":     "postgres://transit:hunter2@pg:5432/shop?sslmode=disable",
}

func lookupEnv(k string) (string, bool) { v, ok := testEnv[k]; return v, ok }

func examplePlans(t testing.TB) []string {
	files, err := filepath.Glob("../testdata/plans/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example plans: %v", err)
	}
	return files
}

func parseFile(t *testing.T, path string) *Plan {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(filepath.Base(path), data, lookupEnv)
	if err != nil {
		t.Fatalf("parse %s:\n%v", path, err)
	}
	return p
}

func TestExamplePlansParse(t *testing.T) {
	t.Parallel()
	for _, f := range examplePlans(t) {
		p := parseFile(t, f)
		if p.Hash == "" || len(p.Hash) != 64 {
			t.Errorf("%s: hash %q", f, p.Hash)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("LEGACY_MYSQL_URL", "mysql://u:p@h/db")
	p, err := Load("../testdata/plans/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Store("old").URL; got != "mysql://u:p@h/db" {
		t.Errorf("old url = %q (env not used)", got)
	}
	if got := p.Store("new").URL; got != "postgres://localhost:5432/shop" {
		t.Errorf("new url = %q (default not used)", got)
	}
	if p.Source != "../testdata/plans/minimal.yaml" {
		t.Errorf("Source = %q", p.Source)
	}
	if _, err := Load("../testdata/plans/nope.yaml"); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestShopPlan(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "../testdata/plans/shop.yaml")
	if p.Version != 1 || p.Name != "shop" || p.Naming != NamingSnakeCase || p.Ledger != "main" {
		t.Errorf("plan header = %d %q %q %q", p.Version, p.Name, p.Naming, p.Ledger)
	}
	if s := p.LedgerStore(); s == nil || s.Kind != "postgres" || s.Schema != "shop" {
		t.Errorf("ledger store = %+v", s)
	}
	files := p.Store("files")
	if files == nil || files.Delimiter != "," || files.Header == nil || !*files.Header || files.Columns["people"]["born"] != "date" {
		t.Errorf("files store = %+v", files)
	}
	if p.Store("legacy").URL != testEnv["LEGACY_MYSQL_URL"] {
		t.Errorf("legacy url not interpolated: %q", p.Store("legacy").URL)
	}
	if p.Store("nope") != nil || p.Entity("nope") != nil {
		t.Error("lookup of a missing name returned something")
	}
	r := p.Tables[0]
	if !r.Wildcard() || r.Covers("Tmp") || !r.Covers("Album") || r.BatchSize != 5000 || !r.Create || !r.Indexes || !r.ForeignKeys {
		t.Errorf("rule = %+v", r)
	}
	e := p.Entity("order_line")
	if e == nil {
		t.Fatal("no entity order_line")
	}
	if e.FromStore != "legacy" || e.FromTable != "OrderLines" || e.ToStore != "main" || e.ToTable != "order_line" {
		t.Errorf("route = %s.%s -> %s.%s", e.FromStore, e.FromTable, e.ToStore, e.ToTable)
	}
	if !reflect.DeepEqual(e.ID, []string{"OrderId", "LineNo"}) || e.Version != "UpdatedAt" || e.Lag != 5*time.Second {
		t.Errorf("id/version/lag = %v %q %v", e.ID, e.Version, e.Lag)
	}
	if e.Overrides != r || e.FromRule != nil || p.EntityFor("legacy", "OrderLines") != e {
		t.Errorf("override of the wildcard not recorded")
	}
	if c := e.Columns["UnitPrice"]; c == nil || c.To != "unit_price" || c.Type != "numeric(12,2)" || c.Drop {
		t.Errorf("UnitPrice rule = %+v", c)
	}
	if c := e.Columns["LegacyFlags"]; c == nil || !c.Drop {
		t.Errorf("LegacyFlags rule = %+v", c)
	}
	if len(e.Checks) != 10 {
		t.Fatalf("%d checks, want 10", len(e.Checks))
	}
	f := func(v float64) *float64 { return &v }
	want := []Check{
		{Kind: CheckNotNull, Severity: "error", Columns: []string{"Email"}, Name: "not_null_Email"},
		{Kind: CheckUnique, Severity: "error", Columns: []string{"OrderId", "LineNo"}, Name: "unique_OrderId_LineNo"},
		{Kind: CheckReferences, Severity: "error", Columns: []string{"ProductId"}, Ref: "main.products", RefColumns: []string{"id"}, Name: "references_ProductId"},
		{Kind: CheckPattern, Severity: "warn", Columns: []string{"Email"}, Pattern: `^[^@\s]+@[^@\s]+$`, Name: "pattern_Email"},
		{Kind: CheckRange, Severity: "error", Columns: []string{"UnitPrice"}, Min: f(0), Max: f(10000), Name: "range_UnitPrice"},
		{Kind: CheckAcceptedValues, Severity: "error", Columns: []string{"Status"}, Values: []string{"new", "paid", "shipped"}, Name: "accepted_values_Status"},
		{Kind: CheckMaxNullFraction, Severity: "error", Columns: []string{"Company"}, Fraction: 0.5, Name: "max_null_fraction_Company"},
		{Kind: CheckRowCount, Severity: "error", Min: f(1), Max: f(1000000), Name: "row_count"},
		{Kind: CheckFreshness, Severity: "error", Columns: []string{"UpdatedAt"}, MaxAge: 24 * time.Hour, Name: "freshness_UpdatedAt"},
		{Kind: CheckSQL, Severity: "error", SQL: "SELECT id FROM orders WHERE total < 0", Name: "negative_totals"},
	}
	for i, c := range e.Checks {
		got := *c
		got.Pos = Pos{}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("check %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	if e.Checks[3].Pos.Line != 50 || e.Checks[3].Pos.Column != 9 {
		t.Errorf("pattern check at %v, want line 50 col 9", e.Checks[3].Pos)
	}
}

func TestDefaultsAndInheritance(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "../testdata/plans/chinook.yaml")
	if p.Naming != NamingSnakeCase || p.Ledger != "pg" || p.Store("pg").Schema != "public" {
		t.Errorf("defaults: naming %q ledger %q schema %q", p.Naming, p.Ledger, p.Store("pg").Schema)
	}
	if u := p.Store("pg").URL; u != "postgres://transit:secret@localhost:5432/chinook?sslmode=disable" {
		t.Errorf("${VAR:-default} gave %q", u)
	}
	il := p.Entity("invoice_line")
	// Covered by the lite.* rule: inherits its target and settings.
	if il.Overrides != p.Tables[0] || il.ToStore != "pg" || il.ToTable != "invoice_line" || il.BatchSize != 10000 || il.MaxRejects != 10 {
		t.Errorf("invoice_line = %+v", il)
	}
	te := p.Entity("track_export")
	if te.Overrides != nil || te.BatchSize != 0 || te.Lag != 90*time.Second || !te.Create {
		t.Errorf("track_export = %+v", te)
	}
	a := parseFile(t, "../testdata/plans/audit.yaml")
	if a.Ledger != "" || a.LedgerStore() != nil {
		t.Errorf("read-only plan got ledger %q", a.Ledger)
	}
	if e := a.Entity("people"); e.Writes() || e.Checks[3].Severity != SeverityWarn || e.Checks[2].MinText != "1900-01-01" || e.Checks[2].Min != nil {
		t.Errorf("people = %+v", e)
	}
	if s := a.Store("files"); s.Delimiter != ";" || !*s.Header {
		t.Errorf("files = %+v", s)
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "x", ""},
		{"a${A}b${A}", "axbx", ""},
		{"${B:-def}", "def", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${EMPTY}", "", ""},
		{"${A:-def}", "x", ""},
		{"${B:-}", "", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"^a+$", "^a+$", ""},
		{"cost $5", "cost $5", ""},
		{"${B}", "", "environment variable B is not set (write ${B:-default} to give a default)"},
		{"${A", "", `unterminated ${ in "${A"`},
		{"${}", "", `invalid variable name "" in ${}`},
	}
	for _, c := range cases {
		got, err := interpolate(c.in, lookup)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("interpolate(%q) error = %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		// escapeDollars is the inverse for plain values.
		if back, err := interpolate(escapeDollars(got), lookup); err != nil || back != got {
			t.Errorf("escape round trip of %q = %q, %v", got, back, err)
		}
	}
}

func TestSnakeCase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"InvoiceLine": "invoice_line", "CustomerId": "customer_id", "HTTPServer": "http_server",
		"BillingAddress": "billing_address", "MediaTypeId": "media_type_id", "already_snake": "already_snake",
		"Address2": "address2", "ID": "id", "CustomerID": "customer_id", "userID2Name": "user_id2_name",
		"Order Details": "order_details", "a-b": "a_b", "": "", "Ünïcode": "ünïcode", "_Leading": "_leading",
	} {
		if got := SnakeCase(in); got != want {
			t.Errorf("SnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
	p := &Plan{Naming: NamingLower}
	if got := p.TargetName("InvoiceLine"); got != "invoiceline" {
		t.Errorf("lower: %q", got)
	}
	p.Naming = NamingKeep
	if got := p.TargetName("InvoiceLine"); got != "InvoiceLine" {
		t.Errorf("keep: %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want, secret string }{
		{"postgres://u:pw@h:5432/db", "postgres://u:xxxxx@h:5432/db", "pw"},
		{"postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:xxxxx@h/db?sslmode=require", "p%40ss"},
		{"mysql://root:topsecret@tcp(h:3306)/db", "mysql://root:xxxxx@tcp(h:3306)/db", "topsecret"},
		{"postgres://u:pa@ss@h/db", "postgres://u:xxxxx@h/db", "pa@ss"},
		{"postgres://u:pa/ss@h/db", "postgres://u:xxxxx@h/db", "pa/ss"},
		{"postgres://u:pa?ss@h/db", "postgres://u:xxxxx@h/db", "pa?ss"},
		{"postgres://h/db?user=u&password=hush&sslmode=disable", "postgres://h/db?user=u&password=xxxxx&sslmode=disable", "hush"},
		{"postgres://u@h/db", "postgres://u@h/db", ""},
		{"postgres://h/db", "postgres://h/db", ""},
		{"host=h user=u password=hush dbname=d", "host=h user=u password=xxxxx dbname=d", "hush"},
		{"host=h password='a b\\' c' dbname=d", "host=h password=xxxxx dbname=d", "a b"},
		{"host=h password = hush", "host=h password = xxxxx", "hush"},
		{"root:topsecret@tcp(h:3306)/db", "root:xxxxx@tcp(h:3306)/db", "topsecret"},
		{"redis://:hush@h:6379/0", "redis://:xxxxx@h:6379/0", "hush"},
		{"./data", "./data", ""},
	}
	for _, c := range cases {
		got := RedactURL(c.in)
		if got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.secret != "" && strings.Contains(got, c.secret) {
			t.Errorf("RedactURL(%q) leaks %q", c.in, c.secret)
		}
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "../testdata/plans/shop.yaml")
	r := p.Redacted()
	if strings.Contains(r.Store("main").URL, "hunter2") || !strings.Contains(p.Store("main").URL, "hunter2") {
		t.Errorf("redacted %q, original %q", r.Store("main").URL, p.Store("main").URL)
	}
	// A deep copy: changing the copy leaves the original alone.
	r.Entity("order_line").Checks[0].Columns[0] = "changed"
	*r.Store("files").Header = false
	r.Tables[0].BatchSize = 1
	if p.Entity("order_line").Checks[0].Columns[0] != "Email" || !*p.Store("files").Header || p.Tables[0].BatchSize != 5000 {
		t.Error("Redacted shares memory with the original")
	}
	if r.Entity("order_line").Overrides != r.Tables[0] {
		t.Error("copy's entity does not point at the copy's rule")
	}
	var b bytes.Buffer
	if err := p.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "s3cr3t"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("WriteYAML leaks %q", secret)
		}
	}
}

// expanded is the plan as `transit plan show` has it: wildcard entities
// appended after the explicit ones.
func expanded(t *testing.T, path string) *Plan {
	p := parseFile(t, path)
	if len(p.Tables) > 0 {
		r := p.Tables[0]
		store, _ := r.Source()
		to, _ := r.Target()
		p.Entities = append(p.Entities, &Entity{
			Name: "album", FromStore: store, FromTable: "Album", ToStore: to, ToTable: p.TargetName("Album"),
			ID: []string{"AlbumId"}, BatchSize: r.BatchSize, MaxRejects: r.MaxRejects, Create: r.Create,
			Indexes: r.Indexes, ForeignKeys: r.ForeignKeys, Lag: DefaultLag, FromRule: r,
		})
	}
	return p
}

func TestWriteYAMLGolden(t *testing.T) {
	t.Parallel()
	for _, f := range examplePlans(t) {
		p := expanded(t, f)
		var b bytes.Buffer
		if err := p.WriteYAML(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse("shown.yaml", b.Bytes(), nil); err != nil {
			t.Errorf("%s: expanded output does not parse: %v", f, err)
		}
		golden := filepath.Join("testdata", strings.TrimSuffix(filepath.Base(f), ".yaml")+".golden.yaml")
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./plan -run Golden -update)", err)
		}
		if b.String() != string(want) {
			t.Errorf("%s differs from %s:\n%s", f, golden, b.String())
		}
	}
}

// normalise clears what differs between two parses of the same content.
func normalise(p *Plan) *Plan {
	c := p.clone()
	// Written out, a defaulted ledger is named: the same plan.
	c.Pos, c.Source, c.Hash, c.LedgerDefaulted = Pos{}, "", "", false
	for _, s := range c.Stores {
		s.Pos = Pos{}
		if l := s.Limits; l != nil {
			l.Pos = Pos{}
			if l.Throttle != nil {
				l.Throttle.Pos = Pos{}
			}
			if l.Breaker != nil {
				l.Breaker.Pos = Pos{}
			}
		}
	}
	for _, r := range c.Tables {
		r.Pos = Pos{}
	}
	if c.Cutover != nil {
		c.Cutover.Pos = Pos{}
	}
	for _, f := range c.Feeds {
		f.Pos = Pos{}
		if f.Documents != nil {
			f.Documents.Pos = Pos{}
		}
	}
	for _, e := range c.Entities {
		e.Pos = Pos{}
		if e.Cutover != nil {
			e.Cutover.Pos = Pos{}
		}
		for _, col := range e.Columns {
			col.Pos = Pos{}
		}
		for _, ch := range e.Checks {
			ch.Pos = Pos{}
		}
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range examplePlans(t) {
		p := parseFile(t, f).Redacted()
		var b bytes.Buffer
		if err := p.WriteYAML(&b); err != nil {
			t.Fatal(err)
		}
		q, err := Parse("again.yaml", b.Bytes(), nil)
		if err != nil {
			t.Fatalf("%s: output does not parse:\n%v\n%s", f, err, b.String())
		}
		if !reflect.DeepEqual(normalise(p), normalise(q)) {
			t.Errorf("%s: round trip differs:\n%s", f, b.String())
		}
		if h := parseFile(t, f).Hash; q.Hash != h {
			t.Errorf("%s: hash changed in round trip (passwords are not part of it): %s vs %s", f, h, q.Hash)
		}
		var b2 bytes.Buffer
		if err := q.WriteYAML(&b2); err != nil || b2.String() != b.String() {
			t.Errorf("%s: second write differs", f)
		}
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	src := head + "naming: lower\n"
	a, err := Parse("a.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse("b.yaml", []byte("# a comment\n"+src), nil)
	c, _ := Parse("c.yaml", []byte(strings.Replace(src, "lower", "snake_case", 1)), nil)
	if a.Hash != b.Hash {
		t.Error("a comment changed the hash")
	}
	if a.Hash == c.Hash {
		t.Error("a content change kept the hash")
	}
}

func TestCutoverFor(t *testing.T) {
	t.Parallel()
	src := `version: 1
name: t
stores:
  old: { kind: mysql, url: "mysql://u@h/db" }
  pg:  { kind: postgres, url: "postgres://h/db" }
cutover: { max_lag: 10m, min_shadow_reads: 50 }
entities:
  a: { from: old.a, to: pg, cutover: { min_shadow_reads: 7, max_mismatch_rate: 0 } }
  b: { from: old.b, to: pg }
`
	p, err := Parse("p.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.CutoverFor("a"); g != (CutoverGates{MaxLag: 10 * time.Minute, MaxVerifyAge: DefaultMaxVerifyAge, MaxMismatchRate: 0, MinShadowReads: 7}) {
		t.Errorf("entity over plan over defaults: %+v", g)
	}
	if g := p.CutoverFor("b"); g != (CutoverGates{MaxLag: 10 * time.Minute, MaxVerifyAge: DefaultMaxVerifyAge, MaxMismatchRate: DefaultMaxMismatchRate, MinShadowReads: 50}) {
		t.Errorf("plan over defaults: %+v", g)
	}
	p, err = Parse("p.yaml", []byte(strings.Replace(src, "cutover: { max_lag: 10m, min_shadow_reads: 50 }\n", "", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.CutoverFor("wildcard_table"); g != (CutoverGates{MaxLag: DefaultMaxLag, MaxVerifyAge: DefaultMaxVerifyAge, MaxMismatchRate: DefaultMaxMismatchRate, MinShadowReads: DefaultMinShadowReads}) {
		t.Errorf("defaults: %+v", g)
	}
}

// TestHashIgnoresCutover: gate thresholds do not change what a run does,
// so they must not make a run in progress incompatible.
func TestHashIgnoresCutover(t *testing.T) {
	t.Parallel()
	src := `version: 1
name: t
stores:
  old: { kind: mysql, url: "mysql://u@h/db" }
  pg:  { kind: postgres, url: "postgres://h/db" }
entities:
  a: { from: old.a, to: pg }
`
	a, err := Parse("p.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("p.yaml", []byte(strings.Replace(src, "to: pg }", "to: pg, cutover: { max_lag: 1m } }", 1)+"cutover: { min_shadow_reads: 5 }\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash || b.Cutover == nil || b.Entities[0].Cutover == nil {
		t.Errorf("cutover thresholds changed the hash (or were dropped): %s vs %s", a.Hash, b.Hash)
	}
	c, err := Parse("p.yaml", []byte(strings.Replace(src, "to: pg }", "to: pg, lag: 1m }", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash == a.Hash {
		t.Error("a change a run depends on (lag) left the hash alone")
	}
}

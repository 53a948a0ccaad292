package audit

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources/csv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var fixedNow = func() time.Time { return time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC) }

func f64(f float64) *float64 { return &f }

// peopleTarget audits testdata/audit/<file>.csv, read by sources/csv with
// inferred types, with checks written as the plan parser would fill them.
func peopleTarget(t *testing.T, file string) Target {
	t.Helper()
	src, err := csv.Open(context.Background(), "../testdata/audit", csv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	tb, err := src.Describe(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	pos := func(line int) plan.Pos { return plan.Pos{File: "people.yaml", Line: line, Column: 9} }
	ent := &plan.Entity{Name: "people", FromStore: "files", FromTable: file, Version: "signup", Checks: []*plan.Check{
		{Kind: "not_null", Columns: []string{"score"}, Severity: "warn", Pos: pos(10)},
		{Kind: "pattern", Columns: []string{"email"}, Pattern: `^[^@\s]+@[^@\s]+\.[a-z]+$`, Pos: pos(11)},
		{Kind: "range", Columns: []string{"score"}, Min: f64(0), Max: f64(55), Pos: pos(12)},
		{Kind: "range", Columns: []string{"signup"}, MinText: "2024-01-01", MaxText: "2024-04-30", Pos: pos(13)},
		{Kind: "unique", Columns: []string{"email"}, Pos: pos(14)},
		{Kind: "max_null_fraction", Columns: []string{"score"}, Fraction: 0.1, Pos: pos(15)},
		{Kind: "row_count", Min: f64(1), Max: f64(5), Pos: pos(16)},
		{Kind: "freshness", MaxAge: 15 * 24 * time.Hour, Pos: pos(17)},
		{Kind: "accepted_values", Columns: []string{"name"}, Values: []string{"Ada", "Bob", "Cafe", "Dora", "Eva"}, Severity: "warn", Pos: pos(18)},
	}}
	tc := append([]record.Column(nil), tb.Columns...)
	tc[1].TargetType = "varchar(4)"
	tc[4].TargetType, tc[4].Nullable = "integer", false
	return Target{Entity: ent, Source: src, Table: tb, TargetColumns: tc}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./audit -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./audit -update rewrites it); got:\n%s", name, got)
	}
}

func findRule(t *testing.T, e *EntityReport, name string) RuleResult {
	t.Helper()
	for _, r := range e.Rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %q in %s", name, e.Name)
	return RuleResult{}
}

func findFit(t *testing.T, e *EntityReport, col, problemPrefix string) FitResult {
	t.Helper()
	for _, f := range e.Fit {
		if f.Column == col && strings.HasPrefix(f.Problem, problemPrefix) {
			return f
		}
	}
	t.Fatalf("no fit problem %q on %s.%s; have %+v", problemPrefix, e.Name, col, e.Fit)
	return FitResult{}
}

func wantHits(t *testing.T, what string, count int64, ids []string, wantCount int64, wantIDs ...string) {
	t.Helper()
	if count != wantCount || strings.Join(ids, " ") != strings.Join(wantIDs, " ") {
		t.Errorf("%s: %d rows %v, want %d rows %v", what, count, ids, wantCount, wantIDs)
	}
}

func TestCSVDirty(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), []Target{peopleTarget(t, "people_dirty")}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	e := &rep.Entities[0]
	if e.Rows != 6 {
		t.Fatalf("rows %d", e.Rows)
	}
	r := findRule(t, e, "pattern(email)")
	wantHits(t, r.Name, r.Count, r.SampleIDs, 2, "4", "6")
	r = findRule(t, e, "range(score)")
	wantHits(t, r.Name, r.Count, r.SampleIDs, 1, "6")
	r = findRule(t, e, "range(signup)")
	wantHits(t, r.Name, r.Count, r.SampleIDs, 1, "6")
	r = findRule(t, e, "not_null(score)")
	wantHits(t, r.Name, r.Count, r.SampleIDs, 1, "4")
	if r := findRule(t, e, "max_null_fraction(score)"); r.Passed {
		t.Errorf("max_null_fraction passed: %+v", r)
	}
	if r := findRule(t, e, "row_count"); r.Passed {
		t.Errorf("row_count passed: %+v", r)
	}
	if r := findRule(t, e, "freshness(signup)"); !r.Passed {
		t.Errorf("freshness failed: %+v", r)
	}
	f := findFit(t, e, "name", "invalid UTF-8")
	wantHits(t, "fit name utf8", f.Count, f.SampleIDs, 1, "3")
	f = findFit(t, e, "name", "longer than 4")
	wantHits(t, "fit name length", f.Count, f.SampleIDs, 1, "4")
	f = findFit(t, e, "score", "NULL")
	wantHits(t, "fit score null", f.Count, f.SampleIDs, 1, "4")
	name := e.Columns[1]
	if name.InvalidUTF8 != 1 || name.Whitespace != 1 || name.CaseVariants != 2 {
		t.Errorf("name profile: utf8 %d whitespace %d case variants %d", name.InvalidUTF8, name.Whitespace, name.CaseVariants)
	}
	if s := e.Columns[2].Semantic; s == nil || s.Type != "text" {
		t.Errorf("email semantic %+v", s)
	}
	if !rep.Failed() {
		t.Error("dirty report did not fail")
	}
	var js, txt bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "people_dirty.json", js.Bytes())
	if err := WriteText(&txt, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "people_dirty.txt", txt.Bytes())
	back, err := ReadJSON(&js)
	if err != nil || !back.Failed() || len(back.Entities[0].Rules) != len(e.Rules) {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestCSVClean(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), []Target{peopleTarget(t, "people_clean")}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		var b bytes.Buffer
		_ = WriteText(&b, rep)
		t.Fatalf("clean data failed:\n%s", b.String())
	}
	e := rep.Entities[0]
	if s := e.Columns[2].Semantic; s == nil || s.Type != "email" {
		t.Errorf("email semantic %+v", s)
	}
	if s := e.Columns[0].Distinct; s != 5 {
		t.Errorf("id distinct %d", s)
	}
}

func TestRuleErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		check *plan.Check
		want  string
	}{
		{&plan.Check{Kind: "not_null", Columns: []string{"nope"}}, `column "nope" not found`},
		{&plan.Check{Kind: "pattern", Columns: []string{"email"}, Pattern: "(["}, "invalid pattern"},
		{&plan.Check{Kind: "sql", SQL: "SELECT 1"}, "sql checks need a SQL store"},
		{&plan.Check{Kind: "frobnicate"}, `unknown check kind "frobnicate"`},
		{&plan.Check{Kind: "references", Columns: []string{"id"}, Ref: "other.t"}, "cannot be reached"},
		{&plan.Check{Kind: "range", Columns: []string{"signup"}, MinText: "yesterday"}, "not a date"},
	}
	for i, c := range cases {
		c.check.Pos = plan.Pos{File: "plan.yaml", Line: 20 + i, Column: 7}
		tg := peopleTarget(t, "people_clean")
		tg.Entity.Checks = []*plan.Check{c.check}
		_, err := Run(context.Background(), []Target{tg}, Options{})
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v, want a *RuleError", c.check.Kind, err)
			continue
		}
		prefix := "plan.yaml:" + itoa(int64(20+i)) + ":7: "
		if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, want prefix %q and %q", c.check.Kind, err, prefix, c.want)
		}
	}
}

func TestSample(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), []Target{peopleTarget(t, "people_dirty")}, Options{Sample: 3, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if e := rep.Entities[0]; !e.Sampled || e.Rows != 3 || e.SampleRows != 3 {
		t.Errorf("sampled %v rows %d sample %d", e.Sampled, e.Rows, e.SampleRows)
	}
}

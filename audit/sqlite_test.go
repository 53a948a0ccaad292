package audit

import (
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sources/sqlite"
)

// chinookSQLite unpacks the bundled Chinook SQLite file into a temp dir.
func chinookSQLite(t *testing.T) string {
	t.Helper()
	in, err := os.Open("../examples/chinook/Chinook_Sqlite.sqlite.gz")
	if err != nil {
		testenv.Unavailable(t, "Chinook SQLite file", err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "Chinook_Sqlite.sqlite")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// The bundled Chinook read through sources/sqlite (no SQL pushdown, as the
// CLI reads SQLite): figures checked against independent SQL on the file.
func TestChinookSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := chinookSQLite(t)
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var targets []Target
	for _, e := range []*plan.Entity{
		{Name: "Customer", FromTable: "Customer", Checks: []*plan.Check{
			{Kind: "unique", Columns: []string{"Email"}},
			{Kind: "pattern", Columns: []string{"Email"}, Pattern: `^[^@\s]+@[^@\s]+\.[A-Za-z]+$`},
		}},
		{Name: "Track", FromTable: "Track", Checks: []*plan.Check{
			{Kind: "references", Columns: []string{"AlbumId"}, Ref: "Album", RefColumns: []string{"AlbumId"}},
		}},
		{Name: "Invoice", FromTable: "Invoice", Checks: []*plan.Check{
			{Kind: "range", Columns: []string{"Total"}, Min: f64(0), Max: f64(100)},
		}},
	} {
		tb, err := src.Describe(ctx, e.FromTable)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, Target{Entity: e, Source: src, Table: tb, TargetColumns: tb.Columns})
	}
	rep, err := Run(ctx, targets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Errorf("clean Chinook from SQLite failed: %+v", rep.Entities)
	}
	for _, c := range []struct {
		ent, col string
		got      func(*ColumnProfile) int64
		sql      string
	}{
		{"Customer", "Company", func(c *ColumnProfile) int64 { return c.Nulls }, "SELECT COUNT(*) FROM Customer WHERE Company IS NULL"},
		{"Customer", "Country", func(c *ColumnProfile) int64 { return c.Distinct }, "SELECT COUNT(DISTINCT Country) FROM Customer"},
		{"Track", "Composer", func(c *ColumnProfile) int64 { return c.Nulls }, "SELECT COUNT(*) FROM Track WHERE Composer IS NULL"},
		{"Track", "Composer", func(c *ColumnProfile) int64 { return c.Distinct }, "SELECT COUNT(DISTINCT Composer) FROM Track"},
		{"Track", "Name", func(c *ColumnProfile) int64 { return c.Distinct }, "SELECT COUNT(DISTINCT Name) FROM Track"},
		{"Invoice", "BillingCountry", func(c *ColumnProfile) int64 { return c.Distinct }, "SELECT COUNT(DISTINCT BillingCountry) FROM Invoice"},
	} {
		if got, want := c.got(column(t, entity(t, rep, c.ent), c.col)), sqlInt(t, db, c.sql); got != want {
			t.Errorf("%s.%s: %d, want %d (%s)", c.ent, c.col, got, want, c.sql)
		}
	}
	total := column(t, entity(t, rep, "Invoice"), "Total")
	if got, want := opt(total.Min)+" "+opt(total.Max), sqlText(t, db, "SELECT printf('%.2f %.2f', MIN(Total), MAX(Total)) FROM Invoice"); got != want {
		t.Errorf("Invoice.Total min max %q, want %q", got, want)
	}
}

func TestInvalidClass(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"zero date":                        "zero date",
		"invalid UTF-8":                    "invalid UTF-8",
		"invalid UTF-8 at line 17":         "invalid UTF-8",
		`line 9: "abc" is not a valid int`: "not a valid int",
		`line 9: "a\"b" is not a valid date (YYYY-MM-DD)`: "not a valid date (YYYY-MM-DD)",
		"row at line 4 has 5 fields, header has 4":        "row has 5 fields, header has 4",
	} {
		if got := invalidClass(in); got != want {
			t.Errorf("invalidClass(%q) = %q, want %q", in, got, want)
		}
	}
}

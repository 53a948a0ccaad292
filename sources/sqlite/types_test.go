package sqlite

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

func TestMapType(t *testing.T) {
	for decl, want := range map[string]record.Column{
		"INTEGER":          {Type: record.Int, Bits: 64},
		"int":              {Type: record.Int, Bits: 64},
		"UNSIGNED BIG INT": {Type: record.Int, Bits: 64},
		"NUMERIC(10,2)":    {Type: record.Decimal, Precision: 10, Scale: 2},
		"decimal(12, 4)":   {Type: record.Decimal, Precision: 12, Scale: 4},
		"NUMERIC":          {Type: record.Decimal},
		"REAL":             {Type: record.Float, Bits: 64},
		"DOUBLE PRECISION": {Type: record.Float, Bits: 64},
		"FLOAT":            {Type: record.Float, Bits: 64},
		"NVARCHAR(160)":    {Type: record.Text, Length: 160},
		"VARCHAR(20)":      {Type: record.Text, Length: 20},
		"CHAR(3)":          {Type: record.Text, Length: 3, Fixed: true},
		"TEXT":             {Type: record.Text},
		"CLOB":             {Type: record.Text},
		"BLOB":             {Type: record.Bytes},
		"":                 {Type: record.Text},
		"DATE":             {Type: record.Date},
		"DATETIME":         {Type: record.Timestamp},
		"TIMESTAMP":        {Type: record.Timestamp},
		"TIME":             {Type: record.Time},
		"BOOLEAN":          {Type: record.Bool},
		"JSON":             {Type: record.JSON},
		"UUID":             {Type: record.UUID},
		"MONEY":            {Type: record.Decimal},
	} {
		want.Native = decl
		if got := MapType(decl); !reflect.DeepEqual(got, want) {
			t.Errorf("MapType(%q) = %+v, want %+v", decl, got, want)
		}
	}
}

func TestScaleDecimal(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		want  string
	}{
		{"0.99", 2, "0.99"}, {"5", 2, "5.00"}, {"19.9", 2, "19.90"}, {"0.125", 2, "0.13"},
		{"-0.125", 2, "-0.13"}, {"9.995", 2, "10.00"}, {"-0.001", 2, "0.00"}, {"+007.5", 1, "7.5"},
		{".5", 0, "1"}, {"12.345", -1, "12.345"}, {"100", -1, "100"}, {"-0", -1, "0"},
	} {
		if got := scaleDecimal(tc.in, tc.scale); got != tc.want {
			t.Errorf("scaleDecimal(%q, %d) = %q, want %q", tc.in, tc.scale, got, tc.want)
		}
	}
}

func scanAll(t *testing.T, src *Source, q sources.Query) [][]any {
	t.Helper()
	var rows [][]any
	if err := src.Scan(context.Background(), q, func(b *record.Batch) error {
		for _, r := range b.Rows {
			rows = append(rows, slices.Clone(r))
		}
		return nil
	}); err != nil {
		t.Fatalf("Scan %+v: %v", q, err)
	}
	return rows
}

// TestStorageClasses checks values stored with another storage class than
// the declared type come out converted or Invalid.
func TestStorageClasses(t *testing.T) {
	path, _ := newFile(t,
		`CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, price NUMERIC(10,2), n NUMERIC, f REAL,
			d DATE, ts DATETIME, tm TIME, b BOOLEAN, j JSON, tx TEXT, bl BLOB, u UUID, any_)`,
		`INSERT INTO t VALUES (1, 42, 0.99, 12.5, 1, '2009-01-01', '2009-01-01 00:00:00', '10:30', 1, '{"a":1}', 'héllo', x'00ff', '6F9619FF-8B86-D011-B42D-00C04FC964FF', 7)`,
		`INSERT INTO t VALUES (2, 'abc', 5, 'x', 'nope', 1230768000, '2009-01-02T03:04:05.5+02:00', '25:00', 'maybe', '{bad', CAST(x'ff' AS TEXT), 'text', x'6f9619ff8b86d011b42d00c04fc964ff', x'ff')`,
		`INSERT INTO t VALUES (3, 2.5, 0.125, '1.5e3', '2.5', '2009-01-01 10:00:00', 'yesterday', NULL, 'false', 5, 7, 3, 'nope', 2.5)`,
		`INSERT INTO t VALUES (4, 3.0, 'abc', -7, NULL, '2009-02-30', '2009-01-01', '23:59:59.123', 0, NULL, 1.5, NULL, NULL, NULL)`,
	)
	src := openSource(t, path)
	rows := scanAll(t, src, sources.Query{Table: "t"})
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	tb, _ := src.Describe(context.Background(), "t")
	col := func(name string) int { return tb.ColumnIndex(name) }
	inv := func(reason string) record.Invalid { return record.Invalid{Reason: reason} }
	want := []map[string]any{{
		"i": int64(42), "price": "0.99", "n": "12.5", "f": 1.0, "d": time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC),
		"ts": time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC), "tm": "10:30:00", "b": true, "j": `{"a":1}`,
		"tx": "héllo", "bl": []byte{0, 0xff}, "u": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "any_": "7",
	}, {
		"i": inv("text that is not an integer in an integer column"), "price": "5.00", "n": inv("text that is not a number in a numeric column"),
		"f": inv("text that is not a number in a real column"), "d": inv("number in a date/time column (unix or julian time?)"),
		"ts": time.Date(2009, 1, 2, 1, 4, 5, 500000000, time.UTC), "tm": inv("not a time of day"), "b": inv("not a boolean"),
		"j": inv("invalid JSON"), "tx": inv("invalid UTF-8"), "bl": []byte("text"), "u": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
		"any_": inv("invalid UTF-8"),
	}, {
		"i": inv("real value in an integer column"), "price": "0.13", "n": "1500", "f": 2.5,
		"d": inv("date with a time of day"), "ts": inv("unparsable date/time text"), "tm": nil, "b": false, "j": "5",
		"tx": "7", "bl": inv("number in a blob column"), "u": inv("not a UUID"), "any_": "2.5",
	}, {
		"i": int64(3), "price": inv("text that is not a number in a numeric column"), "n": "-7", "f": nil,
		"d": inv("unparsable date/time text"), "ts": time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC), "tm": "23:59:59.123",
		"b": false, "j": nil, "tx": "1.5", "bl": nil, "u": nil, "any_": nil,
	}}
	for i, w := range want {
		for name, wv := range w {
			got := rows[i][col(name)]
			if wi, ok := wv.(record.Invalid); ok {
				if gi, ok := got.(record.Invalid); !ok || gi.Reason != wi.Reason {
					t.Errorf("row %d %s: got %#v, want Invalid %q", i+1, name, got, wi.Reason)
				}
				continue
			}
			if tt, ok := wv.(time.Time); ok {
				if gt, ok := got.(time.Time); !ok || !gt.Equal(tt) || gt.Location() != time.UTC {
					t.Errorf("row %d %s: got %#v, want %v", i+1, name, got, tt)
				}
				continue
			}
			if !reflect.DeepEqual(got, wv) {
				t.Errorf("row %d %s: got %#v, want %#v", i+1, name, got, wv)
			}
		}
	}
}

// TestRowidTable checks a table without a declared key reports none and
// scans (and resumes) by rowid.
func TestRowidTable(t *testing.T) {
	path, _ := newFile(t,
		`CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)`,
		`CREATE TABLE log (msg TEXT, parent_id INTEGER REFERENCES parent ON DELETE CASCADE)`,
		`INSERT INTO log (msg) VALUES ('c'), ('a'), ('b'), ('d'), ('e')`,
		`CREATE TABLE wr (a TEXT, b INTEGER, PRIMARY KEY (b, a)) WITHOUT ROWID`,
	)
	src := openSource(t, path)
	ctx := context.Background()
	tb, err := src.Describe(ctx, "log")
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Key) != 0 {
		t.Errorf("key %v, want none", tb.Key)
	}
	wantFK := []record.ForeignKey{{Columns: []string{"parent_id"}, RefTable: "parent", RefColumns: []string{"id"}, OnDelete: "CASCADE", OnUpdate: "NO ACTION"}}
	if !reflect.DeepEqual(tb.ForeignKeys, wantFK) {
		t.Errorf("foreign keys %+v, want %+v", tb.ForeignKeys, wantFK)
	}
	rows := scanAll(t, src, sources.Query{Table: "log", Columns: []string{"msg"}, BatchSize: 2})
	var got []string
	for _, r := range rows {
		got = append(got, r[0].(string))
	}
	if !slices.Equal(got, []string{"c", "a", "b", "d", "e"}) {
		t.Errorf("rows %v", got)
	}
	if tb, _ := src.Describe(ctx, "wr"); !slices.Equal(tb.Key, []string{"b", "a"}) {
		t.Errorf("WITHOUT ROWID key %v", tb.Key)
	}
	if tb, _ := src.Describe(ctx, "parent"); !tb.Columns[0].AutoIncrement {
		t.Errorf("INTEGER PRIMARY KEY not reported as auto-increment: %+v", tb.Columns[0])
	}
}

func TestReadOnly(t *testing.T) {
	path, _ := newFile(t, `CREATE TABLE t (id INTEGER PRIMARY KEY)`)
	src := openSource(t, path)
	if _, err := src.db.Exec(`INSERT INTO t VALUES (1)`); err == nil {
		t.Error("insert through the source succeeded")
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing.sqlite")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	junk := filepath.Join(t.TempDir(), "junk.sqlite")
	os.WriteFile(junk, []byte("this is not a database, not at all, no"), 0o600)
	if _, err := Open(context.Background(), junk); err == nil {
		t.Error("Open of a non-database succeeded")
	}
}

// chinookPath is the gzipped Chinook sample the lead keeps in
// examples/chinook (TRANSIT_CHINOOK_SQLITE_GZ overrides).
func chinookPath() string {
	if p := os.Getenv("TRANSIT_CHINOOK_SQLITE_GZ"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "examples", "chinook", "Chinook_Sqlite.sqlite.gz")
}

func TestChinook(t *testing.T) {
	gz, err := os.Open(chinookPath())
	if err != nil {
		testenv.Unavailable(t, "Chinook sample", err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chinook.sqlite")
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
	src := openSource(t, path)
	ctx := context.Background()
	tables, err := src.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTables := []string{"Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType", "Playlist", "PlaylistTrack", "Track"}
	if !slices.Equal(tables, wantTables) {
		t.Errorf("tables %v", tables)
	}
	inv, err := src.Describe(ctx, "Invoice")
	if err != nil {
		t.Fatal(err)
	}
	check := func(tb *record.Table, name string, typ record.Type, f func(record.Column) bool) {
		t.Helper()
		c := tb.Column(name)
		if c == nil || c.Type != typ || (f != nil && !f(*c)) {
			t.Errorf("%s.%s: %+v, want %v", tb.Name, name, c, typ)
		}
	}
	check(inv, "InvoiceId", record.Int, func(c record.Column) bool { return !c.Nullable && c.AutoIncrement })
	check(inv, "Total", record.Decimal, func(c record.Column) bool { return c.Precision == 10 && c.Scale == 2 })
	check(inv, "InvoiceDate", record.Timestamp, nil)
	check(inv, "BillingCity", record.Text, func(c record.Column) bool { return c.Length == 40 && c.Nullable })
	if !slices.Equal(inv.Key, []string{"InvoiceId"}) || len(inv.ForeignKeys) != 1 || inv.ForeignKeys[0].RefTable != "Customer" {
		t.Errorf("Invoice key %v, foreign keys %+v", inv.Key, inv.ForeignKeys)
	}
	pt, _ := src.Describe(ctx, "PlaylistTrack")
	if !slices.Equal(pt.Key, []string{"PlaylistId", "TrackId"}) || len(pt.ForeignKeys) != 2 {
		t.Errorf("PlaylistTrack key %v, foreign keys %+v", pt.Key, pt.ForeignKeys)
	}
	track, _ := src.Describe(ctx, "Track")
	check(track, "UnitPrice", record.Decimal, func(c record.Column) bool { return c.Scale == 2 })
	check(track, "Milliseconds", record.Int, nil)
	var fkCols []string
	for _, fk := range track.ForeignKeys {
		fkCols = append(fkCols, fk.Columns...)
	}
	if !slices.Equal(fkCols, []string{"AlbumId", "GenreId", "MediaTypeId"}) {
		t.Errorf("Track foreign keys not in declaration order: %+v", track.ForeignKeys)
	}
	line, err := src.Get(ctx, "InvoiceLine", []string{"InvoiceLineId", "UnitPrice"}, nil, []record.Key{{int64(1)}})
	if err != nil || line.Len() != 1 || line.Rows[0][1] != "0.99" {
		t.Errorf("InvoiceLine 1 UnitPrice: %v, %v", line, err)
	}
	if !slices.ContainsFunc(track.Indexes, func(ix record.Index) bool { return slices.Equal(ix.Columns, []string{"AlbumId"}) }) {
		t.Errorf("Track indexes %+v", track.Indexes)
	}

	rows := scanAll(t, src, sources.Query{Table: "Invoice", BatchSize: 100})
	if len(rows) != 412 {
		t.Errorf("Invoice: %d rows, want 412", len(rows))
	}
	first := rows[0]
	if d := first[inv.ColumnIndex("InvoiceDate")]; d != time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("first InvoiceDate %#v", d)
	}
	if v := first[inv.ColumnIndex("Total")]; v != "1.98" {
		t.Errorf("first Total %#v", v)
	}
	for _, r := range rows {
		for i, v := range r {
			if iv, ok := v.(record.Invalid); ok {
				t.Errorf("Invoice %v %s: %v", r[0], inv.Columns[i].Name, iv)
			}
		}
	}
	// Every table scans without Invalid values, composite keys included.
	for _, name := range tables {
		tb, _ := src.Describe(ctx, name)
		n := 0
		for _, r := range scanAll(t, src, sources.Query{Table: name, BatchSize: 500}) {
			n++
			for i, v := range r {
				if iv, ok := v.(record.Invalid); ok {
					t.Errorf("%s %v %s: %v", name, r[0], tb.Columns[i].Name, iv)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no rows", name)
		}
	}
	// Version-style scan over the text dates.
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	late := scanAll(t, src, sources.Query{Table: "Invoice", Columns: []string{"InvoiceId", "InvoiceDate"},
		OrderBy: []string{"InvoiceDate", "InvoiceId"}, Version: "InvoiceDate", VersionFrom: from, BatchSize: 7})
	if len(late) == 0 {
		t.Error("no invoices from 2025")
	}
	for i, r := range late {
		d := r[1].(time.Time)
		if d.Before(from) || i > 0 && d.Before(late[i-1][1].(time.Time)) {
			t.Errorf("invoice %v dated %v out of order or range", r[0], d)
		}
	}
	g, err := src.Get(ctx, "PlaylistTrack", nil, nil, []record.Key{{int64(1), int64(3402)}, {int64(1), int64(-1)}})
	if err != nil || g.Len() != 1 {
		t.Errorf("Get PlaylistTrack: %v rows, %v", g, err)
	}
}

package mysql

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transitdb/transit/internal/testenv"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, user, pass, addr, db string
	}{
		{"mysql://u:p%40ss@db.example:3307/shop?timeout=5s", "u", "p@ss", "db.example:3307", "shop"},
		{"mysql://u@localhost/shop", "u", "", "localhost:3306", "shop"},
		{"u:s3cret@tcp(10.0.0.1:3306)/shop?charset=utf8mb4", "u", "s3cret", "10.0.0.1:3306", "shop"},
	} {
		cfg, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if cfg.User != tc.user || cfg.Passwd != tc.pass || cfg.Addr != tc.addr || cfg.DBName != tc.db {
			t.Errorf("%s: got %s:%s@%s/%s", tc.in, cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName)
		}
		if !cfg.InterpolateParams || cfg.ParseTime || cfg.Loc != time.UTC || cfg.Params["time_zone"] != "'+00:00'" {
			t.Errorf("%s: session settings not forced: %+v", tc.in, cfg)
		}
	}
	if cfg, _ := ParseURL("mysql://u:p@h/db?timeout=5s"); cfg.Timeout != 5*time.Second {
		t.Errorf("timeout param not applied: %v", cfg.Timeout)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://u:hunter2@h:3306/db": "mysql://u:xxxxx@h:3306/db",
		"u:hunter2@tcp(h:3306)/db":    "u:xxxxx@tcp(h:3306)/db",
		"u@tcp(h:3306)/db":            "u@tcp(h:3306)/db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	testDB(t) // skips without a server
	ctx := context.Background()
	cfg, _ := ParseURL(serverURL())
	for _, u := range []string{
		"mysql://" + cfg.User + ":hunter2secret@" + cfg.Addr + "/mysql",
		cfg.User + ":hunter2secret@tcp(" + cfg.Addr + ")/mysql",
		"mysql://u:hunter2secret@[::1/db",                   // malformed URL
		"u:hunter2secret@tcp(127.0.0.1:3306/db",             // malformed DSN
		"mysql://u:hunter2secret@127.0.0.1:1/db?timeout=1s", // nothing listens
	} {
		src, err := Open(ctx, u)
		if err == nil {
			src.Close()
			t.Errorf("%s: Open succeeded", Redact(u))
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if _, err := Open(ctx, "mysql://root@127.0.0.1:3306/"); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("Open without database: %v", err)
	}
}

// TestTypes checks Describe and the decoding of every MySQL type family,
// zero dates included.
func TestTypes(t *testing.T) {
	db, dsn := testDB(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("SET SESSION sql_mode = ''") // allow zero dates
	exec("SET SESSION time_zone = '+00:00'")
	exec("CREATE TABLE parent (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)")
	exec(`CREATE TABLE t (
		id INT NOT NULL AUTO_INCREMENT,
		b TINYINT(1),
		i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, i24 MEDIUMINT, i32 INT, u32 INT UNSIGNED,
		i64 BIGINT, u64 BIGINT UNSIGNED,
		dec1 DECIMAL(12,3), f32 FLOAT, f64 DOUBLE,
		c CHAR(4), vc VARCHAR(30), tx TEXT, lt LONGTEXT,
		bin BINARY(3), vb VARBINARY(10), bl BLOB,
		d DATE, dt DATETIME(3), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(2), y YEAR,
		j JSON, e ENUM('a','b''c','d'), s SET('x','y','z'), bits BIT(10),
		parent_id INT UNSIGNED,
		PRIMARY KEY (id),
		UNIQUE KEY uq_vc (vc, c),
		CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE SET NULL
	)`)
	exec("INSERT INTO parent VALUES (1)")
	exec(`INSERT INTO t VALUES (1, 1, -128, 255, -32768, -8388608, -2147483648, 4294967295,
		-9223372036854775808, 18446744073709551615, -123456789.125, 1.1, 0.1,
		'ab', 'héllo', 'text', 'long', 'ab', x'00ff', x'deadbeef',
		'2024-02-29', '2024-02-29 13:14:15.678', '2024-02-29 13:14:15.123456', '23:59:59.5', 2024,
		'{"a": [1, 2]}', 'b''c', 'x,z', b'1000000001', 1)`)
	exec(`INSERT INTO t (id, b, d, dt, ts, tm, e) VALUES (2, 0, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-01:00:00', 'zzz')`)
	exec(`INSERT INTO t (id, b, d, dt, tm) VALUES (3, 5, '2024-00-15', '2024-05-00 10:00:00', '100:00:00')`)
	exec(`INSERT INTO t (id) VALUES (4)`)
	exec("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
	exec(`INSERT INTO t (id, d, dt) VALUES (5, '2023-02-29', '2024-04-31 10:00:00')`)

	src := openSource(t, dsn)
	tb, err := src.Describe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	type col struct {
		typ  record.Type
		bits int
		more func(c record.Column) bool
	}
	want := map[string]col{
		"id":        {record.Int, 32, func(c record.Column) bool { return c.AutoIncrement && !c.Nullable }},
		"b":         {record.Bool, 0, func(c record.Column) bool { return c.Nullable && c.Native == "tinyint(1)" }},
		"i8":        {record.Int, 8, nil},
		"u8":        {record.Uint, 8, nil},
		"i16":       {record.Int, 16, nil},
		"i24":       {record.Int, 24, nil},
		"i32":       {record.Int, 32, nil},
		"u32":       {record.Uint, 32, nil},
		"i64":       {record.Int, 64, nil},
		"u64":       {record.Uint, 64, nil},
		"dec1":      {record.Decimal, 0, func(c record.Column) bool { return c.Precision == 12 && c.Scale == 3 }},
		"f32":       {record.Float, 32, nil},
		"f64":       {record.Float, 64, nil},
		"c":         {record.Text, 0, func(c record.Column) bool { return c.Length == 4 && c.Fixed }},
		"vc":        {record.Text, 0, func(c record.Column) bool { return c.Length == 30 && !c.Fixed }},
		"tx":        {record.Text, 0, func(c record.Column) bool { return c.Length == 0 }},
		"lt":        {record.Text, 0, nil},
		"bin":       {record.Bytes, 0, func(c record.Column) bool { return c.Length == 3 && c.Fixed }},
		"vb":        {record.Bytes, 0, func(c record.Column) bool { return c.Length == 10 }},
		"bl":        {record.Bytes, 0, nil},
		"d":         {record.Date, 0, nil},
		"dt":        {record.Timestamp, 0, func(c record.Column) bool { return c.Precision == 3 }},
		"ts":        {record.TimestampTZ, 0, func(c record.Column) bool { return c.Precision == 6 }},
		"tm":        {record.Time, 0, func(c record.Column) bool { return c.Precision == 2 }},
		"y":         {record.Year, 16, nil},
		"j":         {record.JSON, 0, nil},
		"e":         {record.Enum, 0, func(c record.Column) bool { return slices.Equal(c.Values, []string{"a", "b'c", "d"}) }},
		"s":         {record.Set, 0, func(c record.Column) bool { return slices.Equal(c.Values, []string{"x", "y", "z"}) }},
		"bits":      {record.Bit, 10, nil},
		"parent_id": {record.Uint, 32, nil},
	}
	for _, c := range tb.Columns {
		w, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected column %s", c.Name)
			continue
		}
		if c.Type != w.typ || c.Bits != w.bits || (w.more != nil && !w.more(c)) {
			t.Errorf("column %s: %+v, want %v bits %d", c.Name, c, w.typ, w.bits)
		}
	}
	if !slices.Equal(tb.Key, []string{"id"}) {
		t.Errorf("key %v", tb.Key)
	}
	if !slices.ContainsFunc(tb.Indexes, func(ix record.Index) bool {
		return ix.Name == "uq_vc" && ix.Unique && slices.Equal(ix.Columns, []string{"vc", "c"})
	}) {
		t.Errorf("indexes %+v", tb.Indexes)
	}
	wantFK := []record.ForeignKey{{Name: "fk_parent", Columns: []string{"parent_id"}, RefTable: "parent",
		RefColumns: []string{"id"}, OnDelete: "SET NULL", OnUpdate: "RESTRICT"}}
	if !reflect.DeepEqual(tb.ForeignKeys, wantFK) {
		t.Errorf("foreign keys %+v, want %+v", tb.ForeignKeys, wantFK)
	}

	var rows [][]any
	err = src.Scan(ctx, sources.Query{Table: "t"}, func(b *record.Batch) error {
		for _, r := range b.Rows {
			rows = append(rows, slices.Clone(r))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows", len(rows))
	}
	get := func(row int, name string) any { return rows[row][tb.ColumnIndex(name)] }
	expect := map[string]any{
		"id": int64(1), "b": true, "i8": int64(-128), "u8": uint64(255), "i16": int64(-32768), "i24": int64(-8388608),
		"i32": int64(-2147483648), "u32": uint64(4294967295), "i64": int64(-9223372036854775808),
		"u64": uint64(18446744073709551615), "dec1": "-123456789.125", "f32": float64(float32(1.1)), "f64": 0.1,
		"c": "ab", "vc": "héllo", "tx": "text", "lt": "long", "bin": []byte("ab\x00"), "vb": []byte{0, 0xff},
		"bl": []byte{0xde, 0xad, 0xbe, 0xef},
		"d":  time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "dt": time.Date(2024, 2, 29, 13, 14, 15, 678000000, time.UTC),
		"ts": time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC), "tm": "23:59:59.50", "y": int64(2024),
		"j": `{"a": [1, 2]}`, "e": "b'c", "s": "x,z", "bits": uint64(0b1000000001), "parent_id": uint64(1),
	}
	for name, w := range expect {
		if g := get(0, name); !reflect.DeepEqual(g, w) {
			t.Errorf("row 1 %s: got %#v, want %#v", name, g, w)
		}
	}
	invalid := func(row int, name, reason string) {
		t.Helper()
		inv, ok := get(row, name).(record.Invalid)
		if !ok || inv.Reason != reason {
			t.Errorf("row %d %s: got %#v, want Invalid %q", row+1, name, get(row, name), reason)
		}
	}
	invalid(1, "d", "zero date")
	invalid(1, "dt", "zero date")
	invalid(1, "ts", "zero date")
	invalid(1, "tm", "time out of day range")
	invalid(1, "e", "empty enum error value")
	invalid(2, "d", "zero date")
	invalid(2, "dt", "zero date")
	invalid(2, "tm", "time out of day range")
	invalid(2, "b", "not a boolean (tinyint(1) holds 5)")
	if inv, _ := get(2, "d").(record.Invalid); inv.Raw != "2024-00-15" {
		t.Errorf("row 3 d: raw %q, want 2024-00-15", inv.Raw)
	}
	// Days that are not in the calendar are not moved to the next month.
	invalid(4, "d", "not a calendar date")
	invalid(4, "dt", "not a calendar date")
	for _, c := range tb.Columns {
		if c.Name != "id" && get(3, c.Name) != nil {
			t.Errorf("row 4 %s: %#v, want NULL", c.Name, get(3, c.Name))
		}
	}
	// Version bound and After on a timestamp column with a zero date.
	var n int
	err = src.Scan(ctx, sources.Query{Table: "t", Columns: []string{"id"}, OrderBy: []string{"dt", "id"},
		After: record.Key{record.Invalid{Raw: "0000-00-00 00:00:00"}, int64(2)}, BatchSize: 1}, func(b *record.Batch) error {
		n += b.Len()
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("scan after a zero date: %d rows, %v", n, err)
	}
	// Unknown column.
	err = src.Scan(ctx, sources.Query{Table: "t", Columns: []string{"nope"}}, func(*record.Batch) error { return nil })
	var nf *sources.NotFoundError
	if !errors.As(err, &nf) || nf.What != "column" {
		t.Errorf("scan of an unknown column: %v", err)
	}
}

// TestMariaDBJSON checks a MariaDB JSON column (longtext + json_valid
// check) is reported as JSON.
func TestMariaDBJSON(t *testing.T) {
	db, dsn := testDB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE j (id INT PRIMARY KEY, doc JSON, `we``ird` JSON, plain LONGTEXT)"); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, dsn)
	tb, err := src.Describe(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]record.Type{"doc": record.JSON, "we`ird": record.JSON, "plain": record.Text} {
		if c := tb.Column(name); c == nil || c.Type != typ {
			t.Errorf("column %s: %+v, want %v", name, c, typ)
		}
	}
}

func TestDecodeInvalidUTF8(t *testing.T) {
	c := column{kind: kText}
	if v, ok := c.decode([]byte{'a', 0xff}, nil).(record.Invalid); !ok || v.Reason != "invalid UTF-8" || v.Raw != "a\xff" {
		t.Errorf("got %#v", c.decode([]byte{'a', 0xff}, nil))
	}
	if v := c.decode([]byte("ok"), &arena{}); v != "ok" {
		t.Errorf("got %#v", v)
	}
	b := column{kind: kBytes}
	if v, ok := b.decode([]byte{}, nil).([]byte); !ok || v == nil || len(v) != 0 {
		t.Errorf("empty bytes: %#v", b.decode([]byte{}, nil))
	}
}

// TestNoKey checks a table without a primary key streams in batches, and
// that a scan stopped by emit mid-page leaves the Source usable.
func TestNoKey(t *testing.T) {
	db, dsn := testDB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE nk (v INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO nk SELECT seq FROM seq_1_to_2500"); err != nil {
		testenv.Unavailable(t, "MariaDB's sequence engine", err)
	}
	src := openSource(t, dsn)
	tb, _ := src.Describe(ctx, "nk")
	if len(tb.Key) != 0 {
		t.Errorf("key %v", tb.Key)
	}
	n, batches := 0, 0
	err := src.Scan(ctx, sources.Query{Table: "nk", BatchSize: 1000}, func(b *record.Batch) error {
		n += b.Len()
		batches++
		return nil
	})
	if err != nil || n != 2500 || batches != 3 {
		t.Errorf("scan: %d rows in %d batches, %v", n, batches, err)
	}
	stop := errors.New("stop")
	for i := 0; i < 3; i++ {
		err = src.Scan(ctx, sources.Query{Table: "nk", BatchSize: 10}, func(*record.Batch) error { return stop })
		if !errors.Is(err, stop) {
			t.Errorf("scan stopped by emit: %v", err)
		}
	}
	n = 0
	if err := src.Scan(ctx, sources.Query{Table: "nk", Limit: 15, BatchSize: 10}, func(b *record.Batch) error {
		n += b.Len()
		return nil
	}); err != nil || n != 15 {
		t.Errorf("scan with limit after stopped scans: %d rows, %v", n, err)
	}
}
